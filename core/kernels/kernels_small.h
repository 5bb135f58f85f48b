/* The l2sq and l1 *_many kernels for rows of at most NK_SMALL_D floats: 2-D and 3-D points (maps,
 * plots, the Voronoi demo), where the general kernels spend a query's whole 32-partial machinery
 * (masked loads, the folding tree) on two or three numbers. Included by every kernel file, so
 * each compiles it for its own instruction set; plain C, which compilers vectorize across rows.
 *
 * Bit-identical to the canonical order (kernels.c): element i goes to partial i, the other
 * partials stay zero, and the halving tree adds partial k + w to partial k. Adding a zero partial
 * changes nothing here, because every term is >= +0 or NaN (a square or an absolute value), so
 * the tree leaves d = 1: t0; d = 2: t0 + t1; d = 3: (t0 + t2) + t1; d = 4: (t0 + t2) + (t1 + t3).
 * A term fma(t, t, 0) is t * t rounded once, the product below. Each product is its own
 * statement: a compiler contracting within an expression (clang's default) then has no
 * multiply-add to fuse. linf (max, with its NaN order) and dot (whose fma(x, y, +0) turns a -0
 * product into +0) keep the general kernels. */
#ifndef NEARKIT_KERNELS_SMALL_H
#define NEARKIT_KERNELS_SMALL_H

#include <math.h>
#include <stddef.h>

#define NK_SMALL_D 4

static inline float nk_small_term(int l1, float t) {
    if (l1) return fabsf(t);
    const float square = t * t;
    return square;
}

/* out[r] = the l2sq (l1 when `l1`) of q and row r, for 1 <= d <= NK_SMALL_D. */
static inline void nk_small_many(int l1, float *out, const float *q, const float *x, size_t n,
                                 size_t d) {
    switch (d) {
    case 1:
        for (size_t r = 0; r < n; r++) out[r] = nk_small_term(l1, q[0] - x[r]);
        break;
    case 2:
        for (size_t r = 0; r < n; r++) {
            const float t0 = nk_small_term(l1, q[0] - x[2 * r]);
            const float t1 = nk_small_term(l1, q[1] - x[2 * r + 1]);
            out[r] = t0 + t1;
        }
        break;
    case 3:
        for (size_t r = 0; r < n; r++) {
            const float t0 = nk_small_term(l1, q[0] - x[3 * r]);
            const float t1 = nk_small_term(l1, q[1] - x[3 * r + 1]);
            const float t2 = nk_small_term(l1, q[2] - x[3 * r + 2]);
            const float s0 = t0 + t2;
            out[r] = s0 + t1;
        }
        break;
    default:
        for (size_t r = 0; r < n; r++) {
            const float t0 = nk_small_term(l1, q[0] - x[4 * r]);
            const float t1 = nk_small_term(l1, q[1] - x[4 * r + 1]);
            const float t2 = nk_small_term(l1, q[2] - x[4 * r + 2]);
            const float t3 = nk_small_term(l1, q[3] - x[4 * r + 3]);
            const float s0 = t0 + t2, s1 = t1 + t3;
            out[r] = s0 + s1;
        }
        break;
    }
}

#endif
