/* AVX-512 distance kernels (F, BW, VL, VPOPCNTDQ, VNNI; x86 with GCC or Clang only; elsewhere this file
 * is empty).
 *
 * Every function carries __attribute__((target(...))), so the file needs no special compiler
 * flags; kernels.c only hands this table out when the CPU has all of AVX-512 F/BW/VL/VPOPCNTDQ/VNNI
 * (plus AVX2/FMA/POPCNT) and the OS saves the AVX-512 state.
 *
 * Float kernels: the canonical order of kernels.c, the 32 partial sums P[0..31] held in two
 * 16-lane accumulators (c[j] lane k is P[16j + k]) over blocks of 32 floats; the last 1..31 floats
 * go to c[0], then c[1], the final part vector read with a masked load (no access past the end, no
 * fault; the masked-off lanes add +0, which changes no partial). Each term is one fused
 * multiply-add where kernels.c says so, like the scalar fmaf. The *_many kernels process NK_ROWS
 * rows at a time, sharing each query load, with exactly the same operations per row, and reduce 4
 * rows at once with the same tree: their results are bit-identical to the single kernel's, and
 * both to the scalar and AVX2 kernels'.
 *
 * Hamming: VPOPCNTQ on the XOR of 64-byte blocks, 4 independent 64-bit lane counters, the tail
 * of 1..63 bytes read with a masked byte load (AVX-512BW). The *_many kernel handles 8 rows at a
 * time (one counter each, sharing the query loads) and adds the lanes with a tree of
 * permutes that leaves row r's total in lane r; codes of 8, 16 and 32 bytes pack 8, 4 or 2 rows
 * into each 64-byte load against a broadcast query instead. */
#include "base/internal.h"
#include "kernels/kernels.h"

/* Keep this condition identical in kernels.c and kernels_avx2.c. */
#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) || \
                            (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))

#include <immintrin.h>
#include <string.h>

#define NK_TARGET \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx512vnni,avx2,fma,popcnt,f16c")))
#define NK_INLINE static inline __attribute__((always_inline)) NK_TARGET

#include "kernels/kernels_x86_common.h"

/* Rows per block in the *_many kernels (a multiple of 4, for nk_hsum4). Measured (Sapphire
 * Rapids): 8 rows x 2 accumulators (which fit the 32 zmm registers too) are up to 5% faster than
 * 4 with the rows in L2 (l2sq and dot, d = 32 and 128), but 5-8% slower with the rows coming from
 * memory at d = 128: 4. */
#define NK_ROWS 4

enum { NK_L2SQ, NK_L1, NK_LINF, NK_DOT };

/* Lanes 0 .. rem-1, rem in 1..15. */
NK_INLINE __mmask16 nk_tail_mask(size_t rem) { return (__mmask16)((1u << rem) - 1u); }

/* The first min(n, 16) floats at p (n >= 1), zeros in the other lanes. */
NK_INLINE __m512 nk_load_part(const float *p, size_t n) {
    return n >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(nk_tail_mask(n), p);
}

NK_INLINE __m512 nk_step(int m, __m512 acc, __m512 a, __m512 b) {
    switch (m) {
    case NK_L2SQ: {
        const __m512 t = _mm512_sub_ps(a, b);
        return _mm512_fmadd_ps(t, t, acc);
    }
    case NK_L1:
        return _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(a, b)));
    case NK_LINF:
        return _mm512_max_ps(acc, _mm512_abs_ps(_mm512_sub_ps(a, b)));
    default:
        return _mm512_fmadd_ps(a, b, acc);
    }
}

/* The first two levels of the canonical tree: P[k] + P[k + 16], then lanes k and k + 8 of that,
 * leaving 8 lanes. */
NK_INLINE __m256 nk_fold(int m, __m512 c0, __m512 c1) {
    const __m512 v = m == NK_LINF ? _mm512_max_ps(c0, c1) : _mm512_add_ps(c0, c1);
    const __m256 lo = _mm512_castps512_ps256(v);
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return m == NK_LINF ? _mm256_max_ps(lo, hi) : _mm256_add_ps(lo, hi);
}

NK_INLINE float nk_one(int m, const float *a, const float *b, size_t d) {
    const __m512 z = _mm512_setzero_ps();
    __m512 c0 = z, c1 = z;
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        nk_prefetch(a + i);
        nk_prefetch(b + i);
        c0 = nk_step(m, c0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        c1 = nk_step(m, c1, _mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    }
    /* The last d - i < 32 floats: element i + 16j + k to c[j] lane k, as in the loop. */
    if (i < d) {
        c0 = nk_step(m, c0, nk_load_part(a + i, d - i), nk_load_part(b + i, d - i));
        if (i + 16 < d)
            c1 = nk_step(m, c1, nk_load_part(a + i + 16, d - i - 16),
                         nk_load_part(b + i + 16, d - i - 16));
    }
    const __m256 v = nk_fold(m, c0, c1);
    return m == NK_LINF ? nk_hmax1(v) : nk_hsum1(v);
}

/* `rows` (a constant, 2 .. NK_ROWS) pairs of rows: out[r] = the distance of a[r] and b[r] (nk_rows,
 * nk_pairs). */
NK_INLINE void nk_block(int m, size_t rows, float *out, const float *const *a, const float *const *b, size_t d) {
    const __m512 z = _mm512_setzero_ps();
    __m512 c[NK_ROWS][2];
#pragma GCC unroll 8
    for (size_t r = 0; r < rows; r++) c[r][0] = c[r][1] = z;
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
#pragma GCC unroll 8
        for (size_t r = 0; r < rows; r++) nk_prefetch(b[r] + i);
#pragma GCC unroll 2
        for (size_t j = 0; j < 2; j++) {
#pragma GCC unroll 8
            for (size_t r = 0; r < rows; r++)
                c[r][j] = nk_step(m, c[r][j], _mm512_loadu_ps(a[r] + i + 16 * j), _mm512_loadu_ps(b[r] + i + 16 * j));
        }
    }
#pragma GCC unroll 2
    for (size_t j = 0; j < 2; j++) {
        if (i + 16 * j >= d) break;
        const size_t n = d - i - 16 * j;
#pragma GCC unroll 8
        for (size_t r = 0; r < rows; r++)
            c[r][j] = nk_step(m, c[r][j], nk_load_part(a[r] + i + 16 * j, n), nk_load_part(b[r] + i + 16 * j, n));
    }
    __m256 v[NK_ROWS];
#pragma GCC unroll 8
    for (size_t r = 0; r < rows; r++) v[r] = nk_fold(m, c[r][0], c[r][1]);
#pragma GCC unroll 8
    for (size_t r = rows; r < NK_ROWS; r++) v[r] = v[0]; /* padding for nk_hsum4 */
    if (m == NK_LINF) {
#pragma GCC unroll 8
        for (size_t r = 0; r < rows; r++) out[r] = nk_hmax1(v[r]);
        return;
    }
    if (rows == NK_ROWS) {
        _mm_storeu_ps(out, nk_hsum4(v[0], v[1], v[2], v[3]));
        return;
    }
    float s[4];
    _mm_storeu_ps(s, nk_hsum4(v[0], v[1], v[2], v[3]));
#pragma GCC unroll 8
    for (size_t r = 0; r < rows; r++) out[r] = s[r];
}

NK_DEFINE_FLOAT_KERNELS()

/* ---- code kernels (kernels.h) -------------------------------------------------------------------
 * nk_one and nk_rows with the row's vector decoded 16 elements at a time: fp16 by VCVTPH2PS
 * (exact), bf16 by widening and shifting, sq8 / sq4 by widening the levels to floats and one fma
 * with step and base, as the scalar decoding. The last part vector of n < 16 elements: the code's
 * bytes copied into a zeroed buffer and step, base read with the mask, so every lane past the end
 * decodes to +0 (fma(0, c, 0)), as the float kernels' masked loads give. */

/* Elements [e, e + min(n, 16)) of a code, decoded. */
NK_INLINE __m512 nk_code_load(int f, const uint8_t *code, const float *step, const float *base, size_t e,
                              size_t n) {
    uint8_t tmp[32] = {0};
    const size_t at = f == NEARKIT_CODE_SQ4 ? e / 2 : f == NEARKIT_CODE_SQ8 ? e : 2 * e;
    const uint8_t *p = code + at;
    if (n < 16) {
        memcpy(tmp, p, f == NEARKIT_CODE_SQ4 ? (n + 1) / 2 : f == NEARKIT_CODE_SQ8 ? n : 2 * n);
        p = tmp;
    }
    __m512i c;
    switch (f) {
    case NEARKIT_CODE_FP16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
    case NEARKIT_CODE_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p)), 16));
    case NEARKIT_CODE_SQ8: c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)); break;
    default: {
        uint32_t lo, hi;
        memcpy(&lo, p, sizeof lo);
        memcpy(&hi, p + 4, sizeof hi);
        const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int)lo)),
                                             _mm256_set1_epi32((int)hi), 1);
        const __m512i shifts = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
        c = _mm512_and_si512(_mm512_srlv_epi32(w, shifts), _mm512_set1_epi32(0xf));
        break;
    }
    }
    return _mm512_fmadd_ps(nk_load_part(step + e, n), _mm512_cvtepi32_ps(c), nk_load_part(base + e, n));
}

NK_INLINE float nk_code_one(int f, int m, const float *q, const uint8_t *code, const float *step,
                            const float *base, size_t d) {
    const __m512 z = _mm512_setzero_ps();
    __m512 c0 = z, c1 = z;
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        c0 = nk_step(m, c0, _mm512_loadu_ps(q + i), nk_code_load(f, code, step, base, i, 16));
        c1 = nk_step(m, c1, _mm512_loadu_ps(q + i + 16), nk_code_load(f, code, step, base, i + 16, 16));
    }
    if (i < d) {
        c0 = nk_step(m, c0, nk_load_part(q + i, d - i), nk_code_load(f, code, step, base, i, d - i));
        if (i + 16 < d)
            c1 = nk_step(m, c1, nk_load_part(q + i + 16, d - i - 16),
                         nk_code_load(f, code, step, base, i + 16, d - i - 16));
    }
    return nk_hsum1(nk_fold(m, c0, c1));
}

/* NK_ROWS codes of cs bytes each from codes on, sharing the query loads. */
NK_INLINE void nk_code_rows(int f, int m, float *out, const float *q, const uint8_t *codes, size_t cs,
                            const float *step, const float *base, size_t d) {
    const __m512 z = _mm512_setzero_ps();
    __m512 c[NK_ROWS][2];
#pragma GCC unroll 8
    for (size_t r = 0; r < NK_ROWS; r++) c[r][0] = c[r][1] = z;
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
#pragma GCC unroll 2
        for (size_t j = 0; j < 2; j++) {
            const __m512 qv = _mm512_loadu_ps(q + i + 16 * j);
#pragma GCC unroll 8
            for (size_t r = 0; r < NK_ROWS; r++)
                c[r][j] = nk_step(m, c[r][j], qv, nk_code_load(f, codes + r * cs, step, base, i + 16 * j, 16));
        }
    }
#pragma GCC unroll 2
    for (size_t j = 0; j < 2; j++) {
        if (i + 16 * j >= d) break;
        const size_t n = d - i - 16 * j;
        const __m512 qv = nk_load_part(q + i + 16 * j, n);
#pragma GCC unroll 8
        for (size_t r = 0; r < NK_ROWS; r++)
            c[r][j] = nk_step(m, c[r][j], qv, nk_code_load(f, codes + r * cs, step, base, i + 16 * j, n));
    }
    __m256 v[NK_ROWS];
#pragma GCC unroll 8
    for (size_t r = 0; r < NK_ROWS; r++) v[r] = nk_fold(m, c[r][0], c[r][1]);
#pragma GCC unroll 2
    for (size_t r = 0; r < NK_ROWS; r += 4)
        _mm_storeu_ps(out + r, nk_hsum4(v[r], v[r + 1], v[r + 2], v[r + 3]));
}

#define NK_DEFINE_CODE_KERNEL(NAME, F, M)                                                        \
    NK_TARGET static void NAME(float *out, const float *q, const uint8_t *codes, const float *step, \
                               const float *base, size_t n, size_t d) {                          \
        const size_t cs = nearkit_code_size(F, d);                                               \
        size_t r = 0;                                                                            \
        for (; r + NK_ROWS <= n; r += NK_ROWS)                                                   \
            nk_code_rows(F, M, out + r, q, codes + r * cs, cs, step, base, d);                   \
        for (; r < n; r++) out[r] = nk_code_one(F, M, q, codes + r * cs, step, base, d);         \
    }
NK_DEFINE_CODE_KERNEL(nk_fp16_l2sq, NEARKIT_CODE_FP16, NK_L2SQ)
NK_DEFINE_CODE_KERNEL(nk_bf16_l2sq, NEARKIT_CODE_BF16, NK_L2SQ)
NK_DEFINE_CODE_KERNEL(nk_sq8_l2sq, NEARKIT_CODE_SQ8, NK_L2SQ)
NK_DEFINE_CODE_KERNEL(nk_sq4_l2sq, NEARKIT_CODE_SQ4, NK_L2SQ)
NK_DEFINE_CODE_KERNEL(nk_fp16_dot, NEARKIT_CODE_FP16, NK_DOT)
NK_DEFINE_CODE_KERNEL(nk_bf16_dot, NEARKIT_CODE_BF16, NK_DOT)
NK_DEFINE_CODE_KERNEL(nk_sq8_dot, NEARKIT_CODE_SQ8, NK_DOT)
NK_DEFINE_CODE_KERNEL(nk_sq4_dot, NEARKIT_CODE_SQ4, NK_DOT)

/* Decoders: nk_code_load's vectors stored, the last part masked. */
#define NK_DEFINE_CODE_DECODER(NAME, F)                                                          \
    NK_TARGET static void NAME(float *out, const uint8_t *codes, const float *step, const float *base, \
                               size_t n, size_t d) {                                             \
        const size_t cs = nearkit_code_size(F, d);                                               \
        for (size_t r = 0; r < n; r++) {                                                         \
            const uint8_t *code = codes + r * cs;                                                \
            float *o = out + r * d;                                                              \
            size_t i = 0;                                                                        \
            for (; i + 16 <= d; i += 16) _mm512_storeu_ps(o + i, nk_code_load(F, code, step, base, i, 16)); \
            if (i < d) _mm512_mask_storeu_ps(o + i, nk_tail_mask(d - i), nk_code_load(F, code, step, base, i, d - i)); \
        }                                                                                        \
    }
NK_DEFINE_CODE_DECODER(nk_fp16_decode, NEARKIT_CODE_FP16)
NK_DEFINE_CODE_DECODER(nk_bf16_decode, NEARKIT_CODE_BF16)
NK_DEFINE_CODE_DECODER(nk_sq8_decode, NEARKIT_CODE_SQ8)
NK_DEFINE_CODE_DECODER(nk_sq4_decode, NEARKIT_CODE_SQ4)

/* ---- hamming ----------------------------------------------------------------------------------- */

NK_INLINE uint64_t nk_load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Codes shorter than this (bytes) go through nk_hamming_short in the single kernel: measured
 * 20-40% faster there for 8 and 16 bytes, no difference from 32 bytes on. */
#define NK_SHORT_CODE 32

/* Bytes 0 .. rem-1, rem in 1..63. */
NK_INLINE __mmask64 nk_tail_mask8(size_t rem) { return (__mmask64)((1ull << rem) - 1ull); }

NK_INLINE __m512i nk_popxor(__m512i a, __m512i b) {
    return _mm512_popcnt_epi64(_mm512_xor_si512(a, b));
}

/* The last 1..7 bytes as a zero-extended word. */
NK_INLINE uint64_t nk_load_tail(const uint8_t *p, size_t len) {
    uint64_t v = 0;
    memcpy(&v, p, len);
    return v;
}

/* Short codes: POPCNT on 64-bit words has less latency than a vector and its reduction. */
NK_INLINE uint32_t nk_hamming_short(const uint8_t *a, const uint8_t *b, size_t nbytes) {
    uint64_t c0 = 0, c1 = 0;
    size_t i = 0;
    for (; i + 16 <= nbytes; i += 16) {
        c0 += (uint64_t)__builtin_popcountll(nk_load64(a + i) ^ nk_load64(b + i));
        c1 += (uint64_t)__builtin_popcountll(nk_load64(a + i + 8) ^ nk_load64(b + i + 8));
    }
    if (i + 8 <= nbytes) {
        c0 += (uint64_t)__builtin_popcountll(nk_load64(a + i) ^ nk_load64(b + i));
        i += 8;
    }
    if (i < nbytes)
        c1 += (uint64_t)__builtin_popcountll(nk_load_tail(a + i, nbytes - i) ^
                                             nk_load_tail(b + i, nbytes - i));
    return (uint32_t)(c0 + c1);
}

NK_TARGET static uint32_t nk_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes) {
    if (nbytes < NK_SHORT_CODE) return nk_hamming_short(a, b, nbytes);
    const __m512i z = _mm512_setzero_si512();
    __m512i c0 = z, c1 = z, c2 = z, c3 = z;
    size_t i = 0;
    for (; i + 256 <= nbytes; i += 256) {
        c0 = _mm512_add_epi64(c0, nk_popxor(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i)));
        c1 = _mm512_add_epi64(
            c1, nk_popxor(_mm512_loadu_si512(a + i + 64), _mm512_loadu_si512(b + i + 64)));
        c2 = _mm512_add_epi64(
            c2, nk_popxor(_mm512_loadu_si512(a + i + 128), _mm512_loadu_si512(b + i + 128)));
        c3 = _mm512_add_epi64(
            c3, nk_popxor(_mm512_loadu_si512(a + i + 192), _mm512_loadu_si512(b + i + 192)));
    }
    for (; i + 64 <= nbytes; i += 64)
        c0 = _mm512_add_epi64(c0, nk_popxor(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i)));
    if (i < nbytes) {
        const __mmask64 k = nk_tail_mask8(nbytes - i);
        c1 = _mm512_add_epi64(c1, nk_popxor(_mm512_maskz_loadu_epi8(k, a + i),
                                            _mm512_maskz_loadu_epi8(k, b + i)));
    }
    const __m512i c = _mm512_add_epi64(_mm512_add_epi64(c0, c1), _mm512_add_epi64(c2, c3));
    return (uint32_t)_mm512_reduce_add_epi64(c);
}

/* Sums of adjacent lane pairs of a (result lanes 0..3) and of b (lanes 4..7). When a and b hold
 * rows in consecutive groups of L lanes, the result holds the same rows in groups of L / 2. */
NK_INLINE __m512i nk_pairsum(__m512i a, __m512i b) {
    const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
    return _mm512_add_epi64(_mm512_permutex2var_epi64(a, even, b),
                            _mm512_permutex2var_epi64(a, odd, b));
}

NK_INLINE void nk_store8(uint32_t *out, __m512i counts) {
    _mm256_storeu_si256((__m256i *)(void *)out, _mm512_cvtepi64_epi32(counts));
}

/* Eight rows of any length: one accumulator per row, then a reduction tree. */
NK_INLINE void nk_hamming_rows8(uint32_t *out, const uint8_t *q, const uint8_t *x, size_t nbytes) {
    __m512i c[8];
#pragma GCC unroll 8
    for (size_t r = 0; r < 8; r++) c[r] = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= nbytes; i += 64) {
        const __m512i w = _mm512_loadu_si512(q + i);
#pragma GCC unroll 8
        for (size_t r = 0; r < 8; r++)
            c[r] = _mm512_add_epi64(c[r], nk_popxor(w, _mm512_loadu_si512(x + r * nbytes + i)));
    }
    if (i < nbytes) {
        const __mmask64 k = nk_tail_mask8(nbytes - i);
        const __m512i w = _mm512_maskz_loadu_epi8(k, q + i);
#pragma GCC unroll 8
        for (size_t r = 0; r < 8; r++)
            c[r] = _mm512_add_epi64(
                c[r], nk_popxor(w, _mm512_maskz_loadu_epi8(k, x + r * nbytes + i)));
    }
    nk_store8(out, nk_pairsum(nk_pairsum(nk_pairsum(c[0], c[1]), nk_pairsum(c[2], c[3])),
                              nk_pairsum(nk_pairsum(c[4], c[5]), nk_pairsum(c[6], c[7]))));
}

/* Codes of 8, 16 or 32 bytes: 8, 4 or 2 rows per 64-byte load against a broadcast query. */
NK_INLINE void nk_hamming_rows8_small(uint32_t *out, __m512i w, const uint8_t *x, size_t nbytes) {
    if (nbytes == 8) {
        nk_store8(out, nk_popxor(w, _mm512_loadu_si512(x)));
    } else if (nbytes == 16) {
        nk_store8(out, nk_pairsum(nk_popxor(w, _mm512_loadu_si512(x)),
                                  nk_popxor(w, _mm512_loadu_si512(x + 64))));
    } else {
        nk_store8(out, nk_pairsum(nk_pairsum(nk_popxor(w, _mm512_loadu_si512(x)),
                                             nk_popxor(w, _mm512_loadu_si512(x + 64))),
                                  nk_pairsum(nk_popxor(w, _mm512_loadu_si512(x + 128)),
                                             nk_popxor(w, _mm512_loadu_si512(x + 192)))));
    }
}

NK_TARGET static void nk_hamming_many(uint32_t *out, const uint8_t *q, const uint8_t *x, size_t n,
                                      size_t nbytes) {
    size_t r = 0;
    if (nbytes == 8 || nbytes == 16 || nbytes == 32) {
        __m512i w;
        if (nbytes == 8)
            w = _mm512_set1_epi64((long long)nk_load64(q));
        else if (nbytes == 16)
            w = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)q));
        else
            w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)q));
        if (nbytes == 8)
            for (; r + 8 <= n; r += 8) nk_hamming_rows8_small(out + r, w, x + r * 8, 8);
        else if (nbytes == 16)
            for (; r + 8 <= n; r += 8) nk_hamming_rows8_small(out + r, w, x + r * 16, 16);
        else
            for (; r + 8 <= n; r += 8) nk_hamming_rows8_small(out + r, w, x + r * 32, 32);
    } else if (nbytes == 64) {
        for (; r + 8 <= n; r += 8) nk_hamming_rows8(out + r, q, x + r * 64, 64);
    } else {
        for (; r + 8 <= n; r += 8) nk_hamming_rows8(out + r, q, x + r * nbytes, nbytes);
    }
    for (; r < n; r++) out[r] = nk_hamming(q, x + r * nbytes, nbytes);
}

/* Q queries (Q <= NK_PANEL_QUERIES) against every panel: each 64-byte load (one word of 8 codes)
 * is shared by the Q queries, XORed with the query word broadcast, and counted into one
 * accumulator per query whose lane r is code r's distance: no reduction across lanes. */
#define NK_PANEL_QUERIES 8

NK_INLINE void nk_panels_group(uint32_t *out, size_t out_stride, const uint64_t *queries, size_t Q,
                               const uint64_t *panels, size_t npanels, size_t words) {
    for (size_t p = 0; p < npanels; p++) {
        const uint64_t *panel = panels + p * words * 8;
        __m512i c[NK_PANEL_QUERIES];
#pragma GCC unroll 8
        for (size_t i = 0; i < Q; i++) c[i] = _mm512_setzero_si512();
        for (size_t j = 0; j < words; j++) {
            const __m512i v = _mm512_load_si512(panel + j * 8);
#pragma GCC unroll 8
            for (size_t i = 0; i < Q; i++)
                c[i] = _mm512_add_epi64(
                    c[i], nk_popxor(v, _mm512_set1_epi64((long long)queries[i * words + j])));
        }
#pragma GCC unroll 8
        for (size_t i = 0; i < Q; i++) nk_store8(out + i * out_stride + p * 8, c[i]);
    }
}

/* Transposes 8 rows of 8 64-bit words (rows[r] holds word j of row r in lane j) so that out[j]
 * holds word j of every row (lane r). */
NK_INLINE void nk_transpose8x8(__m512i out[8], const __m512i rows[8]) {
    const __m512i lo = _mm512_setr_epi64(0, 8, 2, 10, 4, 12, 6, 14);
    const __m512i hi = _mm512_setr_epi64(1, 9, 3, 11, 5, 13, 7, 15);
    const __m512i lo2 = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi2 = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    const __m512i lo4 = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
    const __m512i hi4 = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
    __m512i a[8], b[8];
    for (int i = 0; i < 4; i++) { /* pairs of rows: words (j, j+1) interleaved */
        a[2 * i] = _mm512_permutex2var_epi64(rows[2 * i], lo, rows[2 * i + 1]);
        a[2 * i + 1] = _mm512_permutex2var_epi64(rows[2 * i], hi, rows[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++)
        for (int h = 0; h < 2; h++) {
            b[4 * i + h] = _mm512_permutex2var_epi64(a[4 * i + h], lo2, a[4 * i + h + 2]);
            b[4 * i + h + 2] = _mm512_permutex2var_epi64(a[4 * i + h], hi2, a[4 * i + h + 2]);
        }
    for (int h = 0; h < 4; h++) {
        out[h] = _mm512_permutex2var_epi64(b[h], lo4, b[h + 4]);
        out[h + 4] = _mm512_permutex2var_epi64(b[h], hi4, b[h + 4]);
    }
}

/* hamming_pack, for the panels of 8 whole codes: 64 bytes of each of the 8 codes at a time
 * (masked at the end of a code), transposed in registers. */
NK_TARGET static void nk_hamming_pack(uint64_t *panels, const uint8_t *codes, size_t n, size_t nbytes) {
    size_t words = (nbytes + 7) / 8, full_panels = n / 8;
    for (size_t p = 0; p < full_panels; p++) {
        uint64_t *panel = panels + p * words * 8;
        const uint8_t *rows = codes + p * 8 * nbytes;
        for (size_t c = 0; c < nbytes; c += 64) {
            const __mmask64 k = nbytes - c >= 64 ? ~(__mmask64)0 : nk_tail_mask8(nbytes - c);
            __m512i in[8], out[8];
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) in[r] = _mm512_maskz_loadu_epi8(k, rows + r * nbytes + c);
            nk_transpose8x8(out, in);
            size_t chunk_words = words - c / 8 < 8 ? words - c / 8 : 8;
            for (size_t j = 0; j < chunk_words; j++) _mm512_store_si512(panel + (c / 8 + j) * 8, out[j]);
        }
    }
    if (full_panels * 8 < n)
        nearkit_hamming_pack_portable(panels + full_panels * words * 8, codes + full_panels * 8 * nbytes,
                                      n - full_panels * 8, nbytes);
}

NK_TARGET static void nk_hamming_panels(uint32_t *out, size_t out_stride, const uint64_t *queries,
                                        size_t nq, const uint64_t *panels, size_t npanels,
                                        size_t words) {
    size_t i = 0;
    for (; i + 8 <= nq; i += 8)
        nk_panels_group(out + i * out_stride, out_stride, queries + i * words, 8, panels, npanels, words);
    if (nq - i >= 4) {
        nk_panels_group(out + i * out_stride, out_stride, queries + i * words, 4, panels, npanels, words);
        i += 4;
    }
    for (; i < nq; i++)
        nk_panels_group(out + i * out_stride, out_stride, queries + i * words, 1, panels, npanels, words);
}

/* ---- tile scans (kernels.h) -------------------------------------------------------------------- */

/* Bit j: offset + extra[j] + r[j] <= bound (extra NULL: offset + r[j]), for j < 16. */
NK_INLINE unsigned nk_tile_mask(const float *r, const float *extra, float offset, float bound) {
    const __m512 o = _mm512_set1_ps(offset);
    const __m512 s = extra ? _mm512_add_ps(o, _mm512_loadu_ps(extra)) : o;
    return _mm512_cmp_ps_mask(_mm512_add_ps(s, _mm512_loadu_ps(r)), _mm512_set1_ps(bound), _CMP_LE_OQ);
}

NK_DEFINE_TILE_SKIP()

/* ---- the fused panel scan (kernels.h) ---------------------------------------------------------- */

/* Rows are broadcast straight from the store, one float at a time, against the panel's queries
 * loaded 16 at a time: no packing of the stored rows, each row's cache line serves 16 dimensions,
 * and a micro-block's rows (6 x 3 KB at d 784) stay in L1 while the panel streams from L2.
 * Measured through flat (60,000 x 784, 1,000 queries, one thread, cosine; the sgemm path 0.69 s a
 * batch): rows x queries 6 x 64 0.61 s, 9 x 48 0.625, 8 x 48 0.635, 5 x 64 0.645, 12 x 32 0.65,
 * 14 x 32 0.66. */
NK_TARGET static uint64_t nk_panel_scan(float *tile, const float *x, size_t nr, size_t ld, const float *panel,
                                        size_t d, const float *extra, float alpha, const float *offset,
                                        const float *bound) {
    enum { R = NEARKIT_PANEL_ROWS, Q = NEARKIT_PANEL_QUERIES, V = NEARKIT_PANEL_QUERIES / 16 };
    __m512 acc[R][V];
#pragma GCC unroll 16
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) acc[i][v] = _mm512_setzero_ps();
    for (size_t k = 0; k < d; k++) {
        __m512 q[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) q[v] = _mm512_load_ps(panel + k * Q + 16 * v);
#pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
            const __m512 b = _mm512_set1_ps(x[(size_t)i * ld + k]);
#pragma GCC unroll 4
            for (int v = 0; v < V; v++) acc[i][v] = _mm512_fmadd_ps(b, q[v], acc[i][v]);
        }
    }
    const __m512 a = _mm512_set1_ps(alpha);
    __m512 least[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; v++) least[v] = _mm512_set1_ps(__builtin_inff());
#pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
        if ((size_t)i >= nr) break;
        const __m512 e = _mm512_set1_ps(extra ? extra[i] : 0.0f);
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) {
            const __m512 value = _mm512_add_ps(_mm512_fmadd_ps(a, acc[i][v], e), _mm512_loadu_ps(offset + 16 * v));
            _mm512_storeu_ps(tile + i * Q + 16 * v, value);
            least[v] = _mm512_min_ps(value, least[v]);
        }
    }
    uint64_t reached = 0;
#pragma GCC unroll 4
    for (int v = 0; v < V; v++)
        reached |= (uint64_t)_mm512_cmp_ps_mask(least[v], _mm512_loadu_ps(bound + 16 * v), _CMP_LE_OQ) << (16 * v);
    return reached;
}

/* ---- grid kernels (kernels.h) ------------------------------------------------------------------
 * kernels_avx2.c's, 32 dimensions a step into 16 lanes, and 16 remaining dimensions in one 256-bit
 * step. A block's lanes are added in vector registers: storing them and adding them one by one
 * (a 64-byte store read back as 16 loads) halved the kernels' speed on an Intel Xeon. */

/* A block's 32-bit lanes widened and added into eight 64-bit lanes. */
NK_INLINE __m512i nk_lanes_widen_add(__m512i sum, __m512i acc) {
    sum = _mm512_add_epi64(sum, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc)));
    return _mm512_add_epi64(sum, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc, 1)));
}

NK_INLINE __m512i nk_grid_codes(const uint8_t *code) {
    return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)code));
}

NK_TARGET static int64_t nk_grid_l2(const int16_t *t, const int16_t *w, const uint8_t *code, size_t d) {
    __m512i sum = _mm512_setzero_si512();
    size_t i = 0;
    while (i + 32 <= d) {
        const size_t end = d - i > NEARKIT_GRID_BLOCK ? i + NEARKIT_GRID_BLOCK : d;
        __m512i acc = _mm512_setzero_si512();
        for (; i + 32 <= end; i += 32) {
            const __m512i level = _mm512_mulhrs_epi16(_mm512_slli_epi16(nk_grid_codes(code + i), 7),
                                                      _mm512_loadu_si512((const void *)(w + i)));
            const __m512i e = _mm512_sub_epi16(_mm512_loadu_si512((const void *)(t + i)), level);
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(e, e));
        }
        sum = nk_lanes_widen_add(sum, acc);
    }
    if (i + 16 <= d) { /* 16 more dimensions in one half-width step */
        const __m256i c = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(code + i)));
        const __m256i level =
            _mm256_mulhrs_epi16(_mm256_slli_epi16(c, 7), _mm256_loadu_si256((const __m256i *)(const void *)(w + i)));
        const __m256i e = _mm256_sub_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(t + i)), level);
        sum = _mm512_add_epi64(sum, _mm512_cvtepi32_epi64(_mm256_madd_epi16(e, e)));
        i += 16;
    }
    return _mm512_reduce_add_epi64(sum) + nearkit_grid_l2_part(t, w, code, i, d);
}

NK_TARGET static int64_t nk_grid_dot(const int16_t *t, const uint8_t *code, size_t d) {
    __m512i sum = _mm512_setzero_si512();
    size_t i = 0;
    while (i + 32 <= d) {
        const size_t end = d - i > NEARKIT_GRID_BLOCK ? i + NEARKIT_GRID_BLOCK : d;
        __m512i acc = _mm512_setzero_si512();
        for (; i + 32 <= end; i += 32)
            acc = _mm512_add_epi32(acc,
                                   _mm512_madd_epi16(nk_grid_codes(code + i), _mm512_loadu_si512((const void *)(t + i))));
        sum = nk_lanes_widen_add(sum, acc);
    }
    if (i + 16 <= d) {
        const __m256i c = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(code + i)));
        const __m256i products = _mm256_madd_epi16(c, _mm256_loadu_si256((const __m256i *)(const void *)(t + i)));
        sum = _mm512_add_epi64(sum, _mm512_cvtepi32_epi64(products));
        i += 16;
    }
    return _mm512_reduce_add_epi64(sum) + nearkit_grid_dot_part(t, code, i, d);
}

/* ---- the row-code kernel ------------------------------------------------------------------------- */

/* `rows` (a constant, 1 .. 4) pairs: 64 dimensions a step, one VNNI multiply-add of unsigned
 * bytes by signed bytes into 32-bit lanes; the last d % 64 read with a masked load (zeros add
 * nothing). */
NK_INLINE void nk_u8s8_rows(size_t rows, int32_t *out, const uint8_t *const *a, const int8_t *const *b, size_t d) {
    __m512i acc[4];
    for (size_t r = 0; r < rows; r++) acc[r] = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
        for (size_t r = 0; r < rows; r++)
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_loadu_si512((const void *)(a[r] + i)),
                                         _mm512_loadu_si512((const void *)(b[r] + i)));
    if (i < d) {
        const __mmask64 tail = _cvtu64_mask64(~0ull >> (64 - (d - i)));
        for (size_t r = 0; r < rows; r++)
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_maskz_loadu_epi8(tail, a[r] + i),
                                         _mm512_maskz_loadu_epi8(tail, b[r] + i));
    }
    for (size_t r = 0; r < rows; r++) out[r] = _mm512_reduce_add_epi32(acc[r]);
}

NK_DEFINE_U8S8_PAIRS()

/* ---- table ------------------------------------------------------------------------------------- */

extern const nearkit_kernel_table nearkit_kernel_table_avx512;
const nearkit_kernel_table nearkit_kernel_table_avx512 = {
    "avx512",   NEARKIT_KERNELS_AVX512, nk_l2sq,     nk_l1,        nk_linf,     nk_dot,
    nk_hamming, nk_l2sq_many,           nk_l1_many,  nk_linf_many, nk_dot_many, nk_hamming_many,
    nk_hamming_panels, nk_hamming_pack,
    {nk_fp16_l2sq, nk_bf16_l2sq, nk_sq8_l2sq, nk_sq4_l2sq},
    {nk_fp16_dot, nk_bf16_dot, nk_sq8_dot, nk_sq4_dot},
    nk_tile_skip,
    nk_small_nearest_kernel,
    {nk_fp16_decode, nk_bf16_decode, nk_sq8_decode, nk_sq4_decode},
    nk_l2sq_pairs,
    nk_dot_pairs,
    nk_panel_scan,
    nk_grid_l2,
    nk_grid_dot,
    nk_u8s8_dot_pairs,
};

#else
/* Not x86 with GCC/Clang: no AVX-512 kernels (ISO C wants at least one declaration). */
typedef int nearkit_kernels_avx512_unavailable;
#endif
