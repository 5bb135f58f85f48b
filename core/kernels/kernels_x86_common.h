/* What the AVX2 and AVX-512 float kernels share: the last levels of the canonical reduction tree
 * (core/kernels/kernels.c) on 8 lanes, the row prefetch, the *_many driver with the four kernel
 * definitions, the tile_skip driver and the row-code kernel's driver. Both kernel files include it
 * after defining NK_INLINE and NK_TARGET (each with its own target attribute, so every function
 * here is compiled once per instruction set), and expand NK_DEFINE_FLOAT_KERNELS() after their
 * nk_one and nk_rows, NK_DEFINE_TILE_SKIP() after their nk_tile_mask, and NK_DEFINE_U8S8_PAIRS()
 * after their nk_u8s8_rows. Internal: no other file includes it. */
#ifndef NEARKIT_KERNELS_X86_COMMON_H
#define NEARKIT_KERNELS_X86_COMMON_H

#if !defined(NK_INLINE) || !defined(NK_TARGET)
#error "define NK_INLINE and NK_TARGET before including kernels_x86_common.h"
#endif

#define NK_SMALL_VECTOR_BYTES 32 /* kernels_small.h's vectors: one AVX register */
#include "kernels/kernels_small.h"

/* The rest of the tree on 8 lanes: lanes k + (k + 4), then k + (k + 2), then 0 + 1. */
NK_INLINE float nk_hsum1(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

/* nk_hsum1 of four vectors at once: lane r of the result is nk_hsum1(v_r), bit for bit. */
NK_INLINE __m128 nk_hsum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    /* [s(v0) | s(v1)] and [s(v2) | s(v3)], s(v) = the 4 lanes k + (k + 4). */
    const __m256 s01 = _mm256_add_ps(_mm256_permute2f128_ps(v0, v1, 0x20),
                                     _mm256_permute2f128_ps(v0, v1, 0x31));
    const __m256 s23 = _mm256_add_ps(_mm256_permute2f128_ps(v2, v3, 0x20),
                                     _mm256_permute2f128_ps(v2, v3, 0x31));
    /* Lanes 0, 1 + 2, 3 of each s: [t(v0) t(v2) | t(v1) t(v3)], two lanes each. */
    const __m256 t = _mm256_add_ps(
        _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(s01), _mm256_castps_pd(s23))),
        _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(s01), _mm256_castps_pd(s23))));
    const __m256 u = _mm256_hadd_ps(t, t); /* [r0 r2 r0 r2 | r1 r3 r1 r3] */
    return _mm_unpacklo_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

/* The same tree with max for linf (max is exact, so only the shape matters for NaN handling). */
NK_INLINE float nk_hmax1(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

/* Asks for the row's data NK_PREFETCH bytes ahead (a hint: never faults, also past the end).
 * Measured (Sapphire Rapids, AVX-512, rows from memory): the *_many kernels 5-15% faster at d = 128
 * and 768 with it; the hardware prefetchers alone do not keep enough reads in flight while each
 * accumulator waits on its chain of d / 32 dependent additions. */
#define NK_PREFETCH 512
NK_INLINE void nk_prefetch(const float *p) {
    _mm_prefetch((const char *)p + NK_PREFETCH, _MM_HINT_T0);
}

/* Blocks of NK_ROWS rows through nk_block (the query paired with each row), the last n % NK_ROWS
 * rows one by one through nk_one: both give the same bits, so where a row falls does not matter.
 * The pairs kernels (kernels.h) go through nk_block too, the last 2 or 3 pairs in a smaller
 * block. Expands the float kernels (single, *_many, *_pairs) that kernels.c's table points at. */
#define NK_DEFINE_FLOAT_KERNELS()                                                               \
    NK_INLINE void nk_rows(int m, float *out, const float *q, const float *x, size_t d) {     \
        const float *a[NK_ROWS], *b[NK_ROWS];                                                   \
        for (size_t r = 0; r < NK_ROWS; r++) {                                                  \
            a[r] = q;                                                                           \
            b[r] = x + r * d;                                                                   \
        }                                                                                       \
        nk_block(m, NK_ROWS, out, a, b, d);                                                     \
    }                                                                                           \
    NK_INLINE void nk_many(int m, float *out, const float *q, const float *x, size_t n,        \
                           size_t d) {                                                          \
        if (d >= 1 && d <= NK_SMALL_D && (m == NK_L2SQ || m == NK_L1)) {                        \
            nk_small_many(m == NK_L1, out, q, x, n, d); /* kernels_small.h */                  \
            return;                                                                             \
        }                                                                                       \
        size_t r = 0;                                                                           \
        for (; r + NK_ROWS <= n; r += NK_ROWS) nk_rows(m, out + r, q, x + r * d, d);            \
        for (; r < n; r++) out[r] = nk_one(m, q, x + r * d, d);                                 \
    }                                                                                           \
    NK_INLINE void nk_pairs(int m, float *out, const float *const *a, const float *const *b,   \
                            size_t n, size_t d) {                                               \
        size_t r = 0;                                                                           \
        for (; r + NK_ROWS <= n; r += NK_ROWS) nk_block(m, NK_ROWS, out + r, a + r, b + r, d);  \
        if (NK_ROWS > 3 && n - r == 3) nk_block(m, 3, out + r, a + r, b + r, d);                \
        else if (n - r == 2) nk_block(m, 2, out + r, a + r, b + r, d);                          \
        else if (n - r == 1) out[r] = nk_one(m, a[r], b[r], d);                                 \
    }                                                                                           \
    NK_TARGET static void nk_l2sq_pairs(float *out, const float *const *a, const float *const *b, \
                                        size_t n, size_t d) {                                   \
        nk_pairs(NK_L2SQ, out, a, b, n, d);                                                     \
    }                                                                                           \
    NK_TARGET static void nk_dot_pairs(float *out, const float *const *a, const float *const *b, \
                                       size_t n, size_t d) {                                    \
        nk_pairs(NK_DOT, out, a, b, n, d);                                                      \
    }                                                                                           \
    NK_DEFINE_FLOAT_KERNEL(l2sq, NK_L2SQ)                                                       \
    NK_DEFINE_FLOAT_KERNEL(l1, NK_L1)                                                           \
    NK_DEFINE_FLOAT_KERNEL(linf, NK_LINF)                                                       \
    NK_DEFINE_FLOAT_KERNEL(dot, NK_DOT)                                                         \
    NK_TARGET static void nk_small_nearest_kernel(int l1, float *best, uint32_t *best_row,       \
                                                  const float *queries, size_t nq, const float *x, \
                                                  uint32_t first_row, size_t n, size_t d) {     \
        nk_small_nearest(l1, best, best_row, queries, nq, x, first_row, n, d);                  \
    }

#define NK_DEFINE_FLOAT_KERNEL(NAME, M)                                                         \
    NK_TARGET static float nk_##NAME(const float *a, const float *b, size_t d) {                \
        return nk_one(M, a, b, d);                                                              \
    }                                                                                           \
    NK_TARGET static void nk_##NAME##_many(float *out, const float *q, const float *x, size_t n, \
                                           size_t d) {                                          \
        nk_many(M, out, q, x, n, d);                                                            \
    }

/* The tile_skip kernel (kernels.h) from the file's nk_tile_mask(r, extra, offset, bound), nonzero
 * when a value of the block of 16 at r passes: four blocks per test, one branch on extra. */
#define NK_DEFINE_TILE_SKIP()                                                                   \
    NK_INLINE size_t nk_tile_skip_with(const float *r, const float *extra, float offset,       \
                                       float bound, size_t n) {                                 \
        size_t u = 0;                                                                           \
        for (; u + 64 <= n; u += 64) {                                                          \
            const unsigned m0 = nk_tile_mask(r + u, extra ? extra + u : NULL, offset, bound);   \
            const unsigned m1 = nk_tile_mask(r + u + 16, extra ? extra + u + 16 : NULL, offset, bound); \
            const unsigned m2 = nk_tile_mask(r + u + 32, extra ? extra + u + 32 : NULL, offset, bound); \
            const unsigned m3 = nk_tile_mask(r + u + 48, extra ? extra + u + 48 : NULL, offset, bound); \
            if (m0 | m1 | m2 | m3) return u + (m0 ? 0 : m1 ? 16 : m2 ? 32 : 48);                \
        }                                                                                       \
        for (; u < n; u += 16)                                                                  \
            if (nk_tile_mask(r + u, extra ? extra + u : NULL, offset, bound)) return u;         \
        return n;                                                                               \
    }                                                                                           \
    NK_TARGET static size_t nk_tile_skip(const float *r, const float *extra, float offset,     \
                                         float bound, size_t n) {                               \
        return extra ? nk_tile_skip_with(r, extra, offset, bound, n)                            \
                     : nk_tile_skip_with(r, NULL, offset, bound, n);                            \
    }

/* The row-code kernel (kernels.h) from the file's nk_u8s8_rows(rows, out, a, b, d) for 1 to 4
 * pairs: 4 pairs a block, the rest one by one. */
#define NK_DEFINE_U8S8_PAIRS()                                                                  \
    NK_TARGET static void nk_u8s8_dot_pairs(int32_t *out, const uint8_t *const *a, const int8_t *const *b, \
                                            size_t n, size_t d) {                               \
        size_t r = 0;                                                                           \
        for (; r + 4 <= n; r += 4) nk_u8s8_rows(4, out + r, a + r, b + r, d);                   \
        for (; r < n; r++) nk_u8s8_rows(1, out + r, a + r, b + r, d);                           \
    }

#endif /* NEARKIT_KERNELS_X86_COMMON_H */
