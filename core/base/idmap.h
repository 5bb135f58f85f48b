/* A hash map from int64 ids to uint64 values: the library's one set and map of ids (a search
 * filter's allowed ids, the ids a remove names, how many stored vectors carry each id).
 * Internal to nearkit (hidden symbols).
 *
 * Open addressing with linear probing and backward-shift deletion, so no tombstones build up in
 * a long-lived map. The key -1 marks an empty slot: -1 is never a stored id (add refuses it). */
#ifndef NEARKIT_IDMAP_H
#define NEARKIT_IDMAP_H

#include "base/internal.h"

typedef struct nearkit_idmap {
    int64_t *keys;   /* capacity slots, -1 when empty */
    uint64_t *values;
    uint64_t size, capacity; /* capacity: 0 or a power of two */
} nearkit_idmap;

void nearkit_idmap_free(nearkit_idmap *m);
/* Room for `n` keys in all without growing (false: out of memory). */
bool nearkit_idmap_reserve(nearkit_idmap *m, uint64_t n);
/* The value slot of `id`, or NULL when absent. */
uint64_t *nearkit_idmap_find(const nearkit_idmap *m, int64_t id);
static inline bool nearkit_idmap_contains(const nearkit_idmap *m, int64_t id) {
    return m->size != 0 && nearkit_idmap_find(m, id) != NULL;
}
/* Adds delta to id's value, inserting id with value delta when absent. id must not be -1.
 * False: out of memory (the map is unchanged). */
bool nearkit_idmap_add(nearkit_idmap *m, int64_t id, uint64_t delta);
/* Removes id (no-op when absent). */
void nearkit_idmap_erase(nearkit_idmap *m, int64_t id);
/* A set of n ids (repeats fine, -1 ignored): value 1 each. False: out of memory. */
bool nearkit_idmap_from_ids(nearkit_idmap *m, const int64_t *ids, uint64_t n);
uint64_t nearkit_idmap_memory(const nearkit_idmap *m);

#endif
