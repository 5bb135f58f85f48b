/* Helpers for scanning sgemm result tiles. Most blocks of a tile hold nothing better than the
 * current best (or heap bound), so a test of a block decides the common case: nearkit_any16_below
 * counts rather than tests, because compilers vectorise a sum of comparisons but leave an
 * early-exit or min loop scalar; the heap scan below uses the kernels' tile_skip, which tests 64
 * values per branch with explicit vector code. Internal to nearkit. */
#ifndef NEARKIT_TILE_SCAN_H
#define NEARKIT_TILE_SCAN_H

#include "base/internal.h"
#include "kernels/kernels.h"

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
 * r[j] (extra may be NULL), and enters when not worse than the bound. The kernels' tile_skip
 * passes over the blocks of 16 with nothing at or below the bound, 64 values per test. */
static inline void nearkit_topk_push_tile_row_at(nearkit_topk *h, const float *r, const float *extra,
                                                 float offset, uint64_t first, const uint32_t *at,
                                                 size_t n) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    float bound = nearkit_topk_bound(h);
    size_t blocks = n & ~(size_t)15, j = 0;
    for (;;) {
        j += kt->tile_skip(r + j, extra ? extra + j : NULL, offset, bound, blocks - j);
        if (j >= blocks) break;
        for (size_t u = j; u < j + 16; u++) {
            float val = offset + (extra ? extra[u] : 0.0f) + r[u];
            if (val <= bound) {
                nearkit_topk_push(h, val, first + (at ? at[u] : u));
                bound = nearkit_topk_bound(h);
            }
        }
        j += 16;
    }
    for (j = blocks; j < n; j++) {
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
