/* The id map (idmap.h). */
#include "base/idmap.h"

#include <stdlib.h>

#define EMPTY (-1)

/* A 64-bit mix (the finaliser of MurmurHash3): ids are often consecutive, and linear probing
 * needs their hashes spread over the table. */
static uint64_t hash_id(int64_t id) {
    uint64_t h = (uint64_t)id;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

void nearkit_idmap_free(nearkit_idmap *m) {
    free(m->keys);
    free(m->values);
    *m = (nearkit_idmap){0};
}

uint64_t nearkit_idmap_memory(const nearkit_idmap *m) {
    return m->capacity * (sizeof(int64_t) + sizeof(uint64_t));
}

static uint64_t *slot_of(const nearkit_idmap *m, int64_t id, uint64_t *index) {
    uint64_t mask = m->capacity - 1;
    for (uint64_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == id) {
            *index = i;
            return &m->values[i];
        }
        if (m->keys[i] == EMPTY) {
            *index = i;
            return NULL;
        }
    }
}

uint64_t *nearkit_idmap_find(const nearkit_idmap *m, int64_t id) {
    if (m->size == 0) return NULL;
    uint64_t i;
    return slot_of(m, id, &i);
}

/* Rehashes into a table of `capacity` slots (a power of two above the size). */
static bool rehash(nearkit_idmap *m, uint64_t capacity) {
    int64_t *keys = nearkit_alloc_array((size_t)capacity, sizeof(int64_t));
    uint64_t *values = nearkit_alloc_array((size_t)capacity, sizeof(uint64_t));
    if (!keys || !values) {
        free(keys);
        free(values);
        return false;
    }
    for (uint64_t i = 0; i < capacity; i++) keys[i] = EMPTY;
    nearkit_idmap grown = {keys, values, 0, capacity};
    for (uint64_t i = 0; i < m->capacity; i++) {
        if (m->keys[i] == EMPTY) continue;
        uint64_t at;
        slot_of(&grown, m->keys[i], &at);
        grown.keys[at] = m->keys[i];
        grown.values[at] = m->values[i];
        grown.size++;
    }
    nearkit_idmap_free(m);
    *m = grown;
    return true;
}

bool nearkit_idmap_reserve(nearkit_idmap *m, uint64_t n) {
    /* load factor at most 1/2: short probe runs */
    if (n > UINT64_MAX / 4) return false;
    uint64_t capacity = m->capacity ? m->capacity : 16;
    while (capacity < 2 * n) capacity *= 2;
    return capacity == m->capacity || rehash(m, capacity);
}

bool nearkit_idmap_add(nearkit_idmap *m, int64_t id, uint64_t delta) {
    if (!nearkit_idmap_reserve(m, m->size + 1)) return false;
    uint64_t at;
    uint64_t *value = slot_of(m, id, &at);
    if (value) {
        *value += delta;
        return true;
    }
    m->keys[at] = id;
    m->values[at] = delta;
    m->size++;
    return true;
}

void nearkit_idmap_erase(nearkit_idmap *m, int64_t id) {
    uint64_t hole;
    if (m->size == 0 || !slot_of(m, id, &hole)) return;
    /* Backward-shift deletion: move later members of the probe run into the hole when their home
     * slot does not lie cyclically in (hole, their slot]. */
    uint64_t mask = m->capacity - 1;
    for (uint64_t i = (hole + 1) & mask; m->keys[i] != EMPTY; i = (i + 1) & mask) {
        uint64_t home = hash_id(m->keys[i]) & mask;
        bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (stays) continue;
        m->keys[hole] = m->keys[i];
        m->values[hole] = m->values[i];
        hole = i;
    }
    m->keys[hole] = EMPTY;
    m->size--;
    /* give memory back once the map is an eighth full: a collection that shrinks, or churns
     * through many ids, keeps a table in proportion to what it holds (a failed rehash keeps the
     * larger table, which is still correct) */
    if (m->capacity > 64 && m->size < m->capacity / 8) rehash(m, m->capacity / 4);
}

bool nearkit_idmap_from_ids(nearkit_idmap *m, const int64_t *ids, uint64_t n) {
    if (!nearkit_idmap_reserve(m, m->size + n)) return false;
    for (uint64_t i = 0; i < n; i++) {
        if (ids[i] == EMPTY || nearkit_idmap_find(m, ids[i])) continue;
        uint64_t at;
        slot_of(m, ids[i], &at);
        m->keys[at] = ids[i];
        m->values[at] = 1;
        m->size++;
    }
    return true;
}
