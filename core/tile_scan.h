/* A helper for scanning sgemm result tiles: whether any of 16 values beats a bound. Most blocks of
 * a tile hold nothing better than the current best (or heap bound), so this test decides the
 * common case. It counts rather than tests, because compilers vectorise a sum of comparisons but
 * leave an early-exit or min loop scalar. Internal to nearkit. */
#ifndef NEARKIT_TILE_SCAN_H
#define NEARKIT_TILE_SCAN_H

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

#endif
