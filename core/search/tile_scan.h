/* A helper for scanning sgemm result tiles: whether any of 16 values beats a bound. Most blocks of
 * a tile hold nothing better than the current best (or heap bound), so this test decides the
 * common case. It counts rather than tests, because compilers vectorise a sum of comparisons but
 * leave an early-exit or min loop scalar. Internal to nearkit. */
#ifndef NEARKIT_TILE_SCAN_H
#define NEARKIT_TILE_SCAN_H

#include "base/internal.h"

#include <stdbool.h>

/* Whether offset + extra[u] + r[u] (u < 16; extra may be NULL) is <= bound (or_equal) or < bound
 * for some u. Callers recompute the values, in the same order, for the rare block that passes.
 * The loops must not be unrolled first: unrolled, they are no longer vectorised. */
static inline bool nearkit_any16_below(const float *r, const float *extra, float offset, float bound,
                                       bool or_equal) {
    int hits = 0;
    if (extra && or_equal)
        _Pragma("GCC unroll 1") for (int u = 0; u < 16; u++) hits += offset + extra[u] + r[u] <= bound;
    else if (extra)
        _Pragma("GCC unroll 1") for (int u = 0; u < 16; u++) hits += offset + extra[u] + r[u] < bound;
    else if (or_equal)
        _Pragma("GCC unroll 1") for (int u = 0; u < 16; u++) hits += offset + r[u] <= bound;
    else
        _Pragma("GCC unroll 1") for (int u = 0; u < 16; u++) hits += offset + r[u] < bound;
    return hits != 0;
}

/* Offers one sgemm tile row to a heap: candidate j, at position first + j (or first + at[j]
 * where `at` is given: a tile of rows picked out of a block), has the value offset + extra[j] +
 * r[j] (extra may be NULL), and enters when not worse than the bound; blocks of 16 with nothing
 * at or below the bound are skipped after one vectorised test. */
static inline void nearkit_topk_push_tile_row_at(nearkit_topk *h, const float *r, const float *extra,
                                                 float offset, uint64_t first, const uint32_t *at,
                                                 size_t n) {
    float bound = nearkit_topk_bound(h);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        if (!nearkit_any16_below(r + j, extra ? extra + j : NULL, offset, bound, true)) continue;
        for (size_t u = j; u < j + 16; u++) {
            float val = offset + (extra ? extra[u] : 0.0f) + r[u];
            if (val <= bound) {
                nearkit_topk_push(h, val, first + (at ? at[u] : u));
                bound = nearkit_topk_bound(h);
            }
        }
    }
    for (; j < n; j++) {
        float val = offset + (extra ? extra[j] : 0.0f) + r[j];
        if (val <= bound) {
            nearkit_topk_push(h, val, first + (at ? at[j] : j));
            bound = nearkit_topk_bound(h);
        }
    }
}

static inline void nearkit_topk_push_tile_row(nearkit_topk *h, const float *r, const float *extra,
                                              float offset, uint64_t first, size_t n) {
    nearkit_topk_push_tile_row_at(h, r, extra, offset, first, NULL, n);
}

#endif
