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

#include "kernels/kernels.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define NK_SMALL_D NEARKIT_SMALL_D

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

/* ---- the nearest row of many queries ----------------------------------------------------------
 * The 1-NN of a batch of low-dimensional queries (every pixel of a Voronoi frame against its seeds)
 * spends more on the per-query machinery around nk_small_many (a distance tile, the heap, the
 * written row) than on the arithmetic. Here queries go NK_NEAREST_GROUP at a time, transposed, and
 * each row is compared with the whole group: the loop over the group is where compilers vectorize,
 * and each query keeps only its best value and row. The terms and their order are nk_small_many's,
 * so the values are bit-identical to it. */

#define NK_NEAREST_GROUP 64

/* The canonical sum of d terms (the order of the file's comment). */
static inline float nk_small_sum(size_t d, float t0, float t1, float t2, float t3) {
    if (d == 1) return t0;
    if (d == 2) return t0 + t1;
    const float s0 = t0 + t2;
    if (d == 3) return s0 + t1;
    const float s1 = t1 + t3;
    return s0 + s1;
}

/* Vectors of the GNU extension (GCC, Clang), as wide as the including file's registers
 * (NK_SMALL_VECTOR_BYTES: 16 for SSE2 and NEON, the x86 files set 32 for AVX), so each kernel file
 * compiles them for its own instruction set without intrinsics; wider than the registers, the
 * compiler would split them lane by lane. Lane arithmetic is IEEE single precision, as in
 * nk_small_many. */
#ifndef NK_SMALL_VECTOR_BYTES
#define NK_SMALL_VECTOR_BYTES 16
#endif
typedef float nk_vf __attribute__((vector_size(NK_SMALL_VECTOR_BYTES)));
typedef int32_t nk_vi __attribute__((vector_size(NK_SMALL_VECTOR_BYTES)));
#define NK_LANES (NK_SMALL_VECTOR_BYTES / 4)

/* One group of queries (transposed: q[j][i] is element j of query i) against rows x[0, n): the
 * best value and row of each updated in place. l1 and d are constants after inlining. The update
 * is a select by the lanes' mask, so no lane branches. */
static inline __attribute__((always_inline)) void
nk_small_nearest_group(int l1, size_t d, const nk_vf q[NK_SMALL_D][NK_NEAREST_GROUP / NK_LANES],
                       nk_vf best[NK_NEAREST_GROUP / NK_LANES], nk_vi row[NK_NEAREST_GROUP / NK_LANES],
                       const float *x, uint32_t first_row, size_t n) {
    const nk_vi abs_mask = (nk_vi){0} + 0x7fffffff;
    for (size_t r = 0; r < n; r++) {
        const float *v = x + r * d;
        const float x0 = v[0], x1 = d > 1 ? v[1] : 0.0f, x2 = d > 2 ? v[2] : 0.0f,
                    x3 = d > 3 ? v[3] : 0.0f;
        const nk_vi at = (nk_vi){0} + (int32_t)(first_row + (uint32_t)r);
        for (size_t i = 0; i < NK_NEAREST_GROUP / NK_LANES; i++) {
            nk_vf t[NK_SMALL_D];
            for (size_t j = 0; j < d; j++) {
                const nk_vf diff = q[j][i] - (j == 0 ? x0 : j == 1 ? x1 : j == 2 ? x2 : x3);
                if (l1) {
                    t[j] = (nk_vf)((nk_vi)diff & abs_mask);
                } else {
                    const nk_vf square = diff * diff;
                    t[j] = square;
                }
            }
            nk_vf value = t[0];
            if (d == 2) value = t[0] + t[1];
            if (d == 3) {
                const nk_vf s0 = t[0] + t[2];
                value = s0 + t[1];
            }
            if (d == 4) {
                const nk_vf s0 = t[0] + t[2], s1 = t[1] + t[3];
                value = s0 + s1;
            }
            /* strictly below: the earliest row keeps a tie */
            const nk_vi below = value < best[i];
            best[i] = (nk_vf)(((nk_vi)value & below) | ((nk_vi)best[i] & ~below));
            row[i] = (at & below) | (row[i] & ~below);
        }
    }
}

static inline __attribute__((always_inline)) void
nk_small_nearest_d(int l1, size_t d, float *best, uint32_t *best_row, const float *queries, size_t nq,
                   const float *x, uint32_t first_row, size_t n) {
    for (size_t g = 0; g < nq; g += NK_NEAREST_GROUP) {
        const size_t m = nq - g < NK_NEAREST_GROUP ? nq - g : NK_NEAREST_GROUP;
        nk_vf q[NK_SMALL_D][NK_NEAREST_GROUP / NK_LANES];
        nk_vf b[NK_NEAREST_GROUP / NK_LANES];
        nk_vi row[NK_NEAREST_GROUP / NK_LANES];
        memset(q, 0, sizeof q);
        memset(b, 0, sizeof b);
        memset(row, 0, sizeof row);
        for (size_t i = 0; i < m; i++) {
            for (size_t j = 0; j < d; j++) q[j][i / NK_LANES][i % NK_LANES] = queries[(g + i) * d + j];
            b[i / NK_LANES][i % NK_LANES] = best[g + i];
            row[i / NK_LANES][i % NK_LANES] = (int32_t)best_row[g + i];
        }
        nk_small_nearest_group(l1, d, (const nk_vf(*)[NK_NEAREST_GROUP / NK_LANES])q, b, row, x,
                               first_row, n);
        for (size_t i = 0; i < m; i++) {
            best[g + i] = b[i / NK_LANES][i % NK_LANES];
            best_row[g + i] = (uint32_t)row[i / NK_LANES][i % NK_LANES];
        }
    }
}

/* For each of nq queries (d floats each, one after another), the row of x[0, n) with the smallest
 * l2sq (l1 when `l1`) value if it is below best[i]: best[i] and best_row[i] (rows numbered from
 * first_row) are updated in place, so a scan in blocks calls this once per block. Ties keep the
 * earlier row. 1 <= d <= NK_SMALL_D. */
static inline __attribute__((always_inline)) void nk_small_nearest(int l1, float *best, uint32_t *best_row, const float *queries,
                                    size_t nq, const float *x, uint32_t first_row, size_t n, size_t d) {
#define NK_NEAREST_CASES(L1)                                                                       \
    switch (d) {                                                                                   \
    case 1: nk_small_nearest_d(L1, 1, best, best_row, queries, nq, x, first_row, n); break;        \
    case 2: nk_small_nearest_d(L1, 2, best, best_row, queries, nq, x, first_row, n); break;        \
    case 3: nk_small_nearest_d(L1, 3, best, best_row, queries, nq, x, first_row, n); break;        \
    default: nk_small_nearest_d(L1, 4, best, best_row, queries, nq, x, first_row, n); break;       \
    }
    /* the metric and d as constants, so each of the eight loops is compiled without branches */
    if (l1) NK_NEAREST_CASES(1)
    else NK_NEAREST_CASES(0)
#undef NK_NEAREST_CASES
}

#endif
