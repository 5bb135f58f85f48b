/* AVX2 + FMA distance kernels (x86 with GCC or Clang only; elsewhere this file is empty).
 *
 * Every function carries __attribute__((target(...))), so the file needs no special compiler
 * flags; kernels.c only hands this table out when the CPU and the OS support AVX2, FMA and
 * POPCNT (and F16C, which every such CPU has; checked too).
 *
 * Float kernels: the canonical order of kernels.c, the 32 partial sums P[0..31] held in four
 * 8-lane accumulators (c[j] lane k is P[8j + k]) over blocks of 32 floats; the last 1..31 floats
 * go to c[0], c[1], ... in turn, the final part vector read with a masked load (no access past the
 * end; the masked-off lanes add +0, which changes no partial). Each term is one fused
 * multiply-add where kernels.c says so, like the scalar fmaf. The *_many kernels process NK_ROWS
 * rows at a time, sharing each query load, with exactly the same operations per row, and reduce 4
 * rows at once with the same tree: their results are bit-identical to the single kernel's, and
 * both to the scalar kernels'.
 *
 * Hamming: blocks of 32 bytes with the nibble-lookup (Mula) method (VPSHUFB + VPSADBW), the
 * remaining 8-byte words with POPCNT, and a last 1..7 bytes as a partial word. Measured on an
 * AMD EPYC (Zen 4), single kernel, GB/s of codes compared: POPCNT on words 7.0 / 11.5 / 22 / 25
 * and Mula 8.8 / 12.1 / 33 / 41 at 32 / 64 / 256 / 1024 bytes; POPCNT wins below 32 bytes. The
 * *_many kernel handles 4 rows at a time, sharing the query loads, with a transposed reduction,
 * and has fully unrolled copies for codes of 8, 16, 32 and 64 bytes. */
#include "base/internal.h"
#include "kernels/kernels.h"

/* Keep this condition identical in kernels.c and kernels_avx512.c. */
#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) || \
                            (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))

#include <immintrin.h>
#include <string.h>

#define NK_TARGET __attribute__((target("avx2,fma,popcnt,f16c")))
#define NK_INLINE static inline __attribute__((always_inline)) NK_TARGET

#include "kernels/kernels_x86_common.h"

/* Rows per block in the *_many float kernels: 3 rows x 4 accumulators + query + temporary fit
 * the 16 ymm registers. Measured (Zen 4, -O3, rows in L2): 3 rows beat 2 and 4 for d >= 100 by
 * 10-40%; 4 rows (16 accumulators: more than the registers, so some spill) win only for
 * d <= 32. */
#define NK_ROWS 3

enum { NK_L2SQ, NK_L1, NK_LINF, NK_DOT };

static const int32_t nk_mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Lanes 0 .. rem-1 set, rem in 1..7. */
NK_INLINE __m256i nk_tail_mask(size_t rem) {
    return _mm256_loadu_si256((const __m256i *)(const void *)(nk_mask_src + 8 - rem));
}

/* The first min(n, 8) floats at p (n >= 1), zeros in the other lanes. */
NK_INLINE __m256 nk_load_part(const float *p, size_t n) {
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, nk_tail_mask(n));
}

NK_INLINE __m256 nk_step(int m, __m256 acc, __m256 a, __m256 b) {
    switch (m) {
    case NK_L2SQ: {
        const __m256 t = _mm256_sub_ps(a, b);
        return _mm256_fmadd_ps(t, t, acc);
    }
    case NK_L1:
        return _mm256_add_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(a, b)));
    case NK_LINF:
        return _mm256_max_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(a, b)));
    default:
        return _mm256_fmadd_ps(a, b, acc);
    }
}

/* The first two levels of the canonical tree: P[k] + P[k + 16], then lanes k and k + 8 of that,
 * leaving 8 lanes. */
NK_INLINE __m256 nk_fold(int m, __m256 c0, __m256 c1, __m256 c2, __m256 c3) {
    if (m == NK_LINF) return _mm256_max_ps(_mm256_max_ps(c0, c2), _mm256_max_ps(c1, c3));
    return _mm256_add_ps(_mm256_add_ps(c0, c2), _mm256_add_ps(c1, c3));
}

NK_INLINE float nk_one(int m, const float *a, const float *b, size_t d) {
    const __m256 z = _mm256_setzero_ps();
    __m256 c[4] = {z, z, z, z};
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
#pragma GCC unroll 4
        for (size_t j = 0; j < 4; j++)
            c[j] = nk_step(m, c[j], _mm256_loadu_ps(a + i + 8 * j), _mm256_loadu_ps(b + i + 8 * j));
    }
    /* The last d - i < 32 floats: element i + 8j + k to c[j] lane k, as in the loop. */
#pragma GCC unroll 4
    for (size_t j = 0; j < 4; j++) {
        if (i + 8 * j >= d) break;
        const size_t n = d - i - 8 * j;
        c[j] = nk_step(m, c[j], nk_load_part(a + i + 8 * j, n), nk_load_part(b + i + 8 * j, n));
    }
    const __m256 v = nk_fold(m, c[0], c[1], c[2], c[3]);
    return m == NK_LINF ? nk_hmax1(v) : nk_hsum1(v);
}

/* `rows` (a constant, 2 .. NK_ROWS) pairs of rows: out[r] = the distance of a[r] and b[r] (nk_rows,
 * nk_pairs). */
NK_INLINE void nk_block(int m, size_t rows, float *out, const float *const *a, const float *const *b, size_t d) {
    const __m256 z = _mm256_setzero_ps();
    __m256 c[NK_ROWS][4];
#pragma GCC unroll 4
    for (size_t r = 0; r < rows; r++) c[r][0] = c[r][1] = c[r][2] = c[r][3] = z;
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
#pragma GCC unroll 4
        for (size_t r = 0; r < rows; r++) nk_prefetch(b[r] + i);
#pragma GCC unroll 4
        for (size_t j = 0; j < 4; j++) {
#pragma GCC unroll 4
            for (size_t r = 0; r < rows; r++)
                c[r][j] = nk_step(m, c[r][j], _mm256_loadu_ps(a[r] + i + 8 * j), _mm256_loadu_ps(b[r] + i + 8 * j));
        }
    }
#pragma GCC unroll 4
    for (size_t j = 0; j < 4; j++) {
        if (i + 8 * j >= d) break;
        const size_t n = d - i - 8 * j;
#pragma GCC unroll 4
        for (size_t r = 0; r < rows; r++)
            c[r][j] = nk_step(m, c[r][j], nk_load_part(a[r] + i + 8 * j, n), nk_load_part(b[r] + i + 8 * j, n));
    }
    __m256 v[4];
#pragma GCC unroll 4
    for (size_t r = 0; r < rows; r++) v[r] = nk_fold(m, c[r][0], c[r][1], c[r][2], c[r][3]);
    if (m == NK_LINF) {
#pragma GCC unroll 4
        for (size_t r = 0; r < rows; r++) out[r] = nk_hmax1(v[r]);
        return;
    }
#pragma GCC unroll 4
    for (size_t r = rows; r < 4; r++) v[r] = v[0];
    float s[4];
    _mm_storeu_ps(s, nk_hsum4(v[0], v[1], v[2], v[3]));
#pragma GCC unroll 4
    for (size_t r = 0; r < rows; r++) out[r] = s[r];
}

NK_DEFINE_FLOAT_KERNELS()

/* ---- code kernels (kernels.h) -------------------------------------------------------------------
 * nk_one and nk_rows with the row's vector decoded 8 elements at a time: fp16 by F16C (VCVTPH2PS,
 * exact), bf16 by widening and shifting, sq8 / sq4 by widening the levels to floats and one fma
 * with step and base, as the scalar decoding. The last part vector of n < 8 elements: the code's
 * bytes copied into a zeroed buffer and step, base read with the mask, so every lane past the end
 * decodes to +0 (fma(0, c, 0)), as the float kernels' masked loads give. */

/* Elements [e, e + min(n, 8)) of a code, decoded. */
NK_INLINE __m256 nk_code_load(int f, const uint8_t *code, const float *step, const float *base, size_t e,
                              size_t n) {
    uint8_t tmp[16] = {0};
    const size_t at = f == NEARKIT_CODE_SQ4 ? e / 2 : f == NEARKIT_CODE_SQ8 ? e : 2 * e;
    const uint8_t *p = code + at;
    if (n < 8) {
        memcpy(tmp, p, f == NEARKIT_CODE_SQ4 ? (n + 1) / 2 : f == NEARKIT_CODE_SQ8 ? n : 2 * n);
        p = tmp;
    }
    __m256i c;
    switch (f) {
    case NEARKIT_CODE_FP16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
    case NEARKIT_CODE_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)), 16));
    case NEARKIT_CODE_SQ8: {
        uint64_t w;
        memcpy(&w, p, sizeof w);
        c = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)w));
        break;
    }
    default: {
        uint32_t w;
        memcpy(&w, p, sizeof w);
        c = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)w), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                             _mm256_set1_epi32(0xf));
        break;
    }
    }
    return _mm256_fmadd_ps(nk_load_part(step + e, n), _mm256_cvtepi32_ps(c), nk_load_part(base + e, n));
}

NK_INLINE float nk_code_one(int f, int m, const float *q, const uint8_t *code, const float *step,
                            const float *base, size_t d) {
    const __m256 z = _mm256_setzero_ps();
    __m256 c[4] = {z, z, z, z};
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
#pragma GCC unroll 4
        for (size_t j = 0; j < 4; j++)
            c[j] = nk_step(m, c[j], _mm256_loadu_ps(q + i + 8 * j), nk_code_load(f, code, step, base, i + 8 * j, 8));
    }
#pragma GCC unroll 4
    for (size_t j = 0; j < 4; j++) {
        if (i + 8 * j >= d) break;
        const size_t n = d - i - 8 * j;
        c[j] = nk_step(m, c[j], nk_load_part(q + i + 8 * j, n), nk_code_load(f, code, step, base, i + 8 * j, n));
    }
    return nk_hsum1(nk_fold(m, c[0], c[1], c[2], c[3]));
}

/* NK_ROWS codes of cs bytes each from codes on, sharing the query loads. */
NK_INLINE void nk_code_rows(int f, int m, float *out, const float *q, const uint8_t *codes, size_t cs,
                            const float *step, const float *base, size_t d) {
    const __m256 z = _mm256_setzero_ps();
    __m256 c[NK_ROWS][4];
#pragma GCC unroll 4
    for (size_t r = 0; r < NK_ROWS; r++) c[r][0] = c[r][1] = c[r][2] = c[r][3] = z;
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
#pragma GCC unroll 4
        for (size_t j = 0; j < 4; j++) {
            const __m256 qv = _mm256_loadu_ps(q + i + 8 * j);
#pragma GCC unroll 4
            for (size_t r = 0; r < NK_ROWS; r++)
                c[r][j] = nk_step(m, c[r][j], qv, nk_code_load(f, codes + r * cs, step, base, i + 8 * j, 8));
        }
    }
#pragma GCC unroll 4
    for (size_t j = 0; j < 4; j++) {
        if (i + 8 * j >= d) break;
        const size_t n = d - i - 8 * j;
        const __m256 qv = nk_load_part(q + i + 8 * j, n);
#pragma GCC unroll 4
        for (size_t r = 0; r < NK_ROWS; r++)
            c[r][j] = nk_step(m, c[r][j], qv, nk_code_load(f, codes + r * cs, step, base, i + 8 * j, n));
    }
    __m256 v[4];
#pragma GCC unroll 4
    for (size_t r = 0; r < NK_ROWS; r++) v[r] = nk_fold(m, c[r][0], c[r][1], c[r][2], c[r][3]);
#pragma GCC unroll 4
    for (size_t r = NK_ROWS; r < 4; r++) v[r] = v[0];
    float s[4];
    _mm_storeu_ps(s, nk_hsum4(v[0], v[1], v[2], v[3]));
#pragma GCC unroll 4
    for (size_t r = 0; r < NK_ROWS; r++) out[r] = s[r];
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
            for (; i + 8 <= d; i += 8) _mm256_storeu_ps(o + i, nk_code_load(F, code, step, base, i, 8)); \
            if (i < d) _mm256_maskstore_ps(o + i, nk_tail_mask(d - i), nk_code_load(F, code, step, base, i, d - i)); \
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

/* The last 1..7 bytes as a zero-extended word. */
NK_INLINE uint64_t nk_load_tail(const uint8_t *p, size_t len) {
    uint64_t v = 0;
    memcpy(&v, p, len);
    return v;
}

NK_INLINE uint64_t nk_pop(uint64_t v) { return (uint64_t)__builtin_popcountll(v); }

NK_INLINE __m256i nk_load256(const uint8_t *p) {
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* Bit counts of the 16 nibble values, in each 128-bit lane (for VPSHUFB). */
NK_INLINE __m256i nk_nibble_lut(void) {
    return _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2,
                            3, 2, 3, 3, 4);
}

/* Bit counts of the XOR of two 32-byte blocks, as four 64-bit lanes (Mula: two 4-bit table
 * lookups per byte with VPSHUFB, then VPSADBW to add the bytes of each 8-byte lane). */
NK_INLINE __m256i nk_popxor(__m256i a, __m256i b) {
    const __m256i lut = nk_nibble_lut();
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i v = _mm256_xor_si256(a, b);
    const __m256i lo = _mm256_and_si256(v, low);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    const __m256i bytes =
        _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
    return _mm256_sad_epu8(bytes, _mm256_setzero_si256());
}

NK_INLINE uint64_t nk_hsum_epi64(__m256i v) {
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

/* Words and tail bytes from offset i on (less than 32 bytes remain). */
NK_INLINE uint64_t nk_pop_rest(const uint8_t *a, const uint8_t *b, size_t i, size_t nbytes) {
    uint64_t c = 0;
    for (; i + 8 <= nbytes; i += 8) c += nk_pop(nk_load64(a + i) ^ nk_load64(b + i));
    if (i < nbytes) c += nk_pop(nk_load_tail(a + i, nbytes - i) ^ nk_load_tail(b + i, nbytes - i));
    return c;
}

NK_INLINE uint32_t nk_hamming_one(const uint8_t *a, const uint8_t *b, size_t nbytes) {
    __m256i c0 = _mm256_setzero_si256(), c1 = c0;
    size_t i = 0;
    for (; i + 64 <= nbytes; i += 64) {
        c0 = _mm256_add_epi64(c0, nk_popxor(nk_load256(a + i), nk_load256(b + i)));
        c1 = _mm256_add_epi64(c1, nk_popxor(nk_load256(a + i + 32), nk_load256(b + i + 32)));
    }
    if (i + 32 <= nbytes) {
        c0 = _mm256_add_epi64(c0, nk_popxor(nk_load256(a + i), nk_load256(b + i)));
        i += 32;
    }
    uint64_t c = i ? nk_hsum_epi64(_mm256_add_epi64(c0, c1)) : 0;
    return (uint32_t)(c + nk_pop_rest(a, b, i, nbytes));
}

NK_TARGET static uint32_t nk_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes) {
    return nk_hamming_one(a, b, nbytes);
}

/* Four rows; nbytes is a constant where this is instantiated for the common code sizes. */
NK_INLINE void nk_hamming_rows4(uint32_t *out, const uint8_t *q, const uint8_t *x, size_t nbytes) {
    const uint8_t *x0 = x, *x1 = x0 + nbytes, *x2 = x1 + nbytes, *x3 = x2 + nbytes;
    uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    size_t i = 0;
    if (nbytes >= 32) {
        __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
        for (; i + 32 <= nbytes; i += 32) {
            const __m256i w = nk_load256(q + i);
            c0 = _mm256_add_epi64(c0, nk_popxor(w, nk_load256(x0 + i)));
            c1 = _mm256_add_epi64(c1, nk_popxor(w, nk_load256(x1 + i)));
            c2 = _mm256_add_epi64(c2, nk_popxor(w, nk_load256(x2 + i)));
            c3 = _mm256_add_epi64(c3, nk_popxor(w, nk_load256(x3 + i)));
        }
        /* Transposed reduction: lane r of the result is row r's total. */
        const __m256i s01 = _mm256_add_epi64(_mm256_unpacklo_epi64(c0, c1),
                                             _mm256_unpackhi_epi64(c0, c1));
        const __m256i s23 = _mm256_add_epi64(_mm256_unpacklo_epi64(c2, c3),
                                             _mm256_unpackhi_epi64(c2, c3));
        const __m256i s = _mm256_add_epi64(_mm256_permute2x128_si256(s01, s23, 0x20),
                                           _mm256_permute2x128_si256(s01, s23, 0x31));
        uint64_t t[4];
        _mm256_storeu_si256((__m256i *)(void *)t, s);
        t0 = t[0];
        t1 = t[1];
        t2 = t[2];
        t3 = t[3];
    }
    for (; i + 8 <= nbytes; i += 8) {
        const uint64_t w = nk_load64(q + i);
        t0 += nk_pop(w ^ nk_load64(x0 + i));
        t1 += nk_pop(w ^ nk_load64(x1 + i));
        t2 += nk_pop(w ^ nk_load64(x2 + i));
        t3 += nk_pop(w ^ nk_load64(x3 + i));
    }
    if (i < nbytes) {
        const size_t len = nbytes - i;
        const uint64_t w = nk_load_tail(q + i, len);
        t0 += nk_pop(w ^ nk_load_tail(x0 + i, len));
        t1 += nk_pop(w ^ nk_load_tail(x1 + i, len));
        t2 += nk_pop(w ^ nk_load_tail(x2 + i, len));
        t3 += nk_pop(w ^ nk_load_tail(x3 + i, len));
    }
    out[0] = (uint32_t)t0;
    out[1] = (uint32_t)t1;
    out[2] = (uint32_t)t2;
    out[3] = (uint32_t)t3;
}

NK_INLINE void nk_hamming_many_n(uint32_t *out, const uint8_t *q, const uint8_t *x, size_t n,
                                 size_t nbytes) {
    size_t r = 0;
    for (; r + 4 <= n; r += 4) nk_hamming_rows4(out + r, q, x + r * nbytes, nbytes);
    for (; r < n; r++) out[r] = nk_hamming_one(q, x + r * nbytes, nbytes);
}

NK_TARGET static void nk_hamming_many(uint32_t *out, const uint8_t *q, const uint8_t *x, size_t n,
                                      size_t nbytes) {
    switch (nbytes) { /* common code sizes (64..512 bits) get fully unrolled copies */
    case 8: nk_hamming_many_n(out, q, x, n, 8); break;
    case 16: nk_hamming_many_n(out, q, x, n, 16); break;
    case 32: nk_hamming_many_n(out, q, x, n, 32); break;
    case 64: nk_hamming_many_n(out, q, x, n, 64); break;
    default: nk_hamming_many_n(out, q, x, n, nbytes); break;
    }
}

/* hamming_panels. Each word of a panel's 8 codes is two 32-byte halves (codes 0-3, 4-7), counted
 * against the query word broadcast, one 64-bit lane per code. The counts stay bytes (at most 8 a
 * word) until 31 words have been added, then VPSADBW sums them into the lanes. Groups of up to
 * eight queries share each half's load and its split into nibbles: the bit count of x ^ q is the
 * table's value at (x & 15) ^ (q & 15) plus at (x >> 4) ^ (q >> 4), and the queries' nibbles are
 * split once per call (at 512 bits on an AVX2-only EPYC, four queries: the kernel 26% faster than
 * one query at a time, flat's hamming batch 1.3x, bench/flat_vs_faiss.py; eight instead of four,
 * on an AVX-512 Xeon with the AVX2 kernels forced: flat's batch of 100 queries over 1M codes 5%
 * faster; eight accumulators, the table, the mask and the split halves fit the 16 registers). */
enum { NK_PANEL_FLUSH = 31, NK_PANEL_QUERIES = 8, NK_PANEL_MAX_WORDS = 64 };

/* Adds the four 64-bit code totals of `bytes` to `total` and stores them at out[0..3]. */
NK_INLINE void nk_panel_store(uint32_t *out, __m256i total, __m256i bytes) {
    const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
    total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
    _mm_storeu_si128((__m128i *)(void *)out, _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(total, order)));
}

/* One query against every panel. */
NK_INLINE void nk_panels_one(uint32_t *out, const uint64_t *q, const uint64_t *panels, size_t npanels,
                             size_t words) {
    const __m256i lut = nk_nibble_lut(), low = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    for (size_t p = 0; p < npanels; p++) {
        const uint8_t *panel = (const uint8_t *)(panels + p * words * 8);
        for (size_t h = 0; h < 2; h++) {
            __m256i total = zero, bytes = zero;
            for (size_t j = 0; j < words; j++) {
                const __m256i v = _mm256_xor_si256(nk_load256(panel + j * 64 + h * 32),
                                                   _mm256_set1_epi64x((long long)q[j]));
                const __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                bytes = _mm256_add_epi8(bytes, _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                                                               _mm256_shuffle_epi8(lut, hi)));
                if ((j + 1) % NK_PANEL_FLUSH == 0) {
                    total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes, zero));
                    bytes = zero;
                }
            }
            nk_panel_store(out + p * 8 + h * 4, total, bytes);
        }
    }
}

/* g queries (a constant, at most NK_PANEL_QUERIES) against every panel; qn holds each query word's
 * nibbles, broadcast (nk_split_queries): for word j and query a, the low ones at
 * qn[(j * g + a) * 2], the high ones after them. */
NK_INLINE void nk_panels_shared(uint32_t *out, size_t out_stride, const __m256i *qn, size_t g,
                                const uint64_t *panels, size_t npanels, size_t words) {
    const __m256i lut = nk_nibble_lut(), low = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    for (size_t p = 0; p < npanels; p++) {
        const uint8_t *panel = (const uint8_t *)(panels + p * words * 8);
        for (size_t h = 0; h < 2; h++) {
            __m256i total[NK_PANEL_QUERIES], bytes[NK_PANEL_QUERIES];
            for (size_t a = 0; a < g; a++) total[a] = bytes[a] = zero;
            for (size_t j = 0; j < words; j++) {
                const __m256i x = nk_load256(panel + j * 64 + h * 32);
                const __m256i xl = _mm256_and_si256(x, low), xh = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
                const __m256i *w = qn + j * g * 2;
                for (size_t a = 0; a < g; a++)
                    bytes[a] = _mm256_add_epi8(
                        bytes[a], _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_xor_si256(xl, w[2 * a])),
                                                  _mm256_shuffle_epi8(lut, _mm256_xor_si256(xh, w[2 * a + 1]))));
                if ((j + 1) % NK_PANEL_FLUSH == 0)
                    for (size_t a = 0; a < g; a++) {
                        total[a] = _mm256_add_epi64(total[a], _mm256_sad_epu8(bytes[a], zero));
                        bytes[a] = zero;
                    }
            }
            for (size_t a = 0; a < g; a++) nk_panel_store(out + a * out_stride + p * 8 + h * 4, total[a], bytes[a]);
        }
    }
}

/* The nibbles of g queries' words, in nk_panels_shared's layout. */
NK_INLINE void nk_split_queries(__m256i *qn, const uint64_t *queries, size_t g, size_t words) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    for (size_t j = 0; j < words; j++)
        for (size_t a = 0; a < g; a++) {
            const __m256i w = _mm256_set1_epi64x((long long)queries[a * words + j]);
            qn[(j * g + a) * 2] = _mm256_and_si256(w, low);
            qn[(j * g + a) * 2 + 1] = _mm256_and_si256(_mm256_srli_epi16(w, 4), low);
        }
}

NK_TARGET static void nk_hamming_panels(uint32_t *out, size_t out_stride, const uint64_t *queries,
                                        size_t nq, const uint64_t *panels, size_t npanels,
                                        size_t words) {
    __m256i qn[NK_PANEL_MAX_WORDS * NK_PANEL_QUERIES * 2];
    size_t i = 0;
    /* a single word shares too little to repay the split; codes above 4096 bits go one at a time */
    if (words >= 2 && words <= NK_PANEL_MAX_WORDS) {
        for (; i + NK_PANEL_QUERIES <= nq; i += NK_PANEL_QUERIES) {
            nk_split_queries(qn, queries + i * words, NK_PANEL_QUERIES, words);
            nk_panels_shared(out + i * out_stride, out_stride, qn, NK_PANEL_QUERIES, panels, npanels, words);
        }
        if (nq - i >= 4) {
            nk_split_queries(qn, queries + i * words, 4, words);
            nk_panels_shared(out + i * out_stride, out_stride, qn, 4, panels, npanels, words);
            i += 4;
        }
    }
    for (; i < nq; i++) nk_panels_one(out + i * out_stride, queries + i * words, panels, npanels, words);
}

/* ---- tile scans (kernels.h) -------------------------------------------------------------------- */

/* Nonzero when offset + extra[j] + r[j] <= bound (extra NULL: offset + r[j]) for some j < 16. */
NK_INLINE unsigned nk_tile_mask(const float *r, const float *extra, float offset, float bound) {
    const __m256 o = _mm256_set1_ps(offset), b = _mm256_set1_ps(bound);
    const __m256 s0 = extra ? _mm256_add_ps(o, _mm256_loadu_ps(extra)) : o;
    const __m256 s1 = extra ? _mm256_add_ps(o, _mm256_loadu_ps(extra + 8)) : o;
    const __m256 c0 = _mm256_cmp_ps(_mm256_add_ps(s0, _mm256_loadu_ps(r)), b, _CMP_LE_OQ);
    const __m256 c1 = _mm256_cmp_ps(_mm256_add_ps(s1, _mm256_loadu_ps(r + 8)), b, _CMP_LE_OQ);
    return (unsigned)_mm256_movemask_ps(_mm256_or_ps(c0, c1));
}

NK_DEFINE_TILE_SKIP()

/* ---- grid kernels (kernels.h) ------------------------------------------------------------------
 * 16 dimensions a step: the levels widened to 16 bits and placed by mulhrs, the differences
 * squared and paired by madd into 8 lanes of 32 bits, which take one block before they are added
 * into 64 bits. */

/* A block's 32-bit lanes widened and added into four 64-bit lanes. */
NK_INLINE __m256i nk_lanes_widen_add(__m256i sum, __m256i acc) {
    sum = _mm256_add_epi64(sum, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc)));
    return _mm256_add_epi64(sum, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc, 1)));
}

NK_INLINE int64_t nk_lanes_sum64(__m256i sum) {
    const __m128i half = _mm_add_epi64(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    return _mm_cvtsi128_si64(half) + _mm_extract_epi64(half, 1);
}

NK_INLINE __m256i nk_grid_codes(const uint8_t *code) {
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)code));
}

NK_TARGET static int64_t nk_grid_l2(const int16_t *t, const int16_t *w, const uint8_t *code, size_t d) {
    __m256i sum = _mm256_setzero_si256();
    size_t i = 0;
    while (i + 16 <= d) {
        const size_t end = d - i > NEARKIT_GRID_BLOCK ? i + NEARKIT_GRID_BLOCK : d;
        __m256i acc = _mm256_setzero_si256();
        for (; i + 16 <= end; i += 16) {
            const __m256i level = _mm256_mulhrs_epi16(_mm256_slli_epi16(nk_grid_codes(code + i), 7),
                                                      _mm256_loadu_si256((const __m256i *)(const void *)(w + i)));
            const __m256i e = _mm256_sub_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(t + i)), level);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(e, e));
        }
        sum = nk_lanes_widen_add(sum, acc);
    }
    return nk_lanes_sum64(sum) + nearkit_grid_l2_part(t, w, code, i, d);
}

NK_TARGET static int64_t nk_grid_dot(const int16_t *t, const uint8_t *code, size_t d) {
    __m256i sum = _mm256_setzero_si256();
    size_t i = 0;
    while (i + 16 <= d) {
        const size_t end = d - i > NEARKIT_GRID_BLOCK ? i + NEARKIT_GRID_BLOCK : d;
        __m256i acc = _mm256_setzero_si256();
        for (; i + 16 <= end; i += 16)
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(nk_grid_codes(code + i),
                                                          _mm256_loadu_si256((const __m256i *)(const void *)(t + i))));
        sum = nk_lanes_widen_add(sum, acc);
    }
    return nk_lanes_sum64(sum) + nearkit_grid_dot_part(t, code, i, d);
}

/* ---- the row-code kernel ------------------------------------------------------------------------- */

/* `rows` (a constant, 1 .. 4) pairs: 16 dimensions a step, both codes widened to 16 bits and
 * multiplied into 32-bit lanes (madd: exact, where maddubs would saturate a sum of two products);
 * the last d % 16 one at a time. */
NK_INLINE void nk_u8s8_rows(size_t rows, int32_t *out, const uint8_t *const *a, const int8_t *const *b, size_t d) {
    __m256i acc[4];
    for (size_t r = 0; r < rows; r++) acc[r] = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= d; i += 16)
        for (size_t r = 0; r < rows; r++) {
            const __m256i x = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(a[r] + i)));
            const __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b[r] + i)));
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(x, w));
        }
    for (size_t r = 0; r < rows; r++) {
        const __m128i half = _mm_add_epi32(_mm256_castsi256_si128(acc[r]), _mm256_extracti128_si256(acc[r], 1));
        const __m128i quarter = _mm_add_epi32(half, _mm_unpackhi_epi64(half, half));
        out[r] = _mm_cvtsi128_si32(_mm_add_epi32(quarter, _mm_srli_epi64(quarter, 32))) +
                 nearkit_u8s8_dot_part(a[r], b[r], i, d);
    }
}

NK_DEFINE_U8S8_PAIRS()

/* ---- table ------------------------------------------------------------------------------------- */

extern const nearkit_kernel_table nearkit_kernel_table_avx2;
const nearkit_kernel_table nearkit_kernel_table_avx2 = {
    "avx2",     NEARKIT_KERNELS_AVX2, nk_l2sq,     nk_l1,        nk_linf,     nk_dot,
    nk_hamming, nk_l2sq_many,         nk_l1_many,  nk_linf_many, nk_dot_many, nk_hamming_many,
    nk_hamming_panels, nearkit_hamming_pack_portable,
    {nk_fp16_l2sq, nk_bf16_l2sq, nk_sq8_l2sq, nk_sq4_l2sq},
    {nk_fp16_dot, nk_bf16_dot, nk_sq8_dot, nk_sq4_dot},
    nk_tile_skip,
    nk_small_nearest_kernel,
    {nk_fp16_decode, nk_bf16_decode, nk_sq8_decode, nk_sq4_decode},
    nk_l2sq_pairs,
    nk_dot_pairs,
    /* panel_scan: none, flat takes sgemm. An AVX2 form (6 rows x 16 queries a pass, 4 passes a
     * panel) was measured against OpenBLAS's Haswell sgemm on an AVX-512 Xeon with both forced:
     * 7% slower at d 784, 6% faster at d 128. */
    NULL,
    nk_grid_l2,
    nk_grid_dot,
    nk_u8s8_dot_pairs,
};

#else
/* Not x86 with GCC/Clang: no AVX2 kernels (ISO C wants at least one declaration). */
typedef int nearkit_kernels_avx2_unavailable;
#endif
