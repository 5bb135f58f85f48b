/* Which stored vectors a search call considers: not removed, and allowed by the caller's filter
 * (nearkit_filter, compiled once per call by the generic layer). Internal to nearkit.
 *
 * Kinds test candidates with nearkit_call_admits before they enter a result. Where a filter lets
 * few vectors through, a kind may instead gather the admitted rows once per call (see rows.h)
 * and answer exactly over them: cheaper than walking a structure built for all of them, and the
 * way approximate kinds keep their recall when few vectors pass. */
#ifndef NEARKIT_ADMIT_H
#define NEARKIT_ADMIT_H

#include "base/idmap.h"
#include "base/internal.h"

/* The id a kind stores in place of a removed vector's until it compacts (never a user id). */
#define NEARKIT_REMOVED_ID ((int64_t)-1)

/* A filter, compiled. */
typedef struct nearkit_admit {
    uint32_t type; /* NEARKIT_FILTER_IDS, _BITMAP or _PREDICATE (NONE is compiled to no filter) */
    nearkit_idmap set; /* IDS: the allowed ids */
    const uint8_t *bitmap;
    uint8_t *owned_bitmap; /* an id list compiled to a bitmap (its span is small) */
    int64_t first;
    uint64_t bits;
    nearkit_id_predicate predicate;
    void *context;
    /* At most this many distinct ids pass (IDS: the set's size; BITMAP: its set bits; PREDICATE:
     * UINT64_MAX, unknown). Kinds compare it with their count to choose a strategy. */
    uint64_t most;
} nearkit_admit;

static inline bool nearkit_admits(const nearkit_admit *a, int64_t id) {
    switch (a->type) {
    case NEARKIT_FILTER_IDS:
        return nearkit_idmap_contains(&a->set, id);
    case NEARKIT_FILTER_BITMAP: {
        if (id < a->first) return false;
        uint64_t bit = (uint64_t)id - (uint64_t)a->first;
        return bit < a->bits && (a->bitmap[bit >> 3] >> (bit & 7) & 1u);
    }
    case NEARKIT_FILTER_PREDICATE:
        return a->predicate(a->context, id) != 0;
    default:
        return true;
    }
}

/* Whether a stored vector with this id takes part: not removed, and allowed (admit NULL: no
 * filter). */
static inline bool nearkit_admits_stored(const nearkit_admit *admit, int64_t id) {
    return id != NEARKIT_REMOVED_ID && (!admit || nearkit_admits(admit, id));
}

#endif
