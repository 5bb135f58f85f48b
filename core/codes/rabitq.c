/* RaBitQ (rabitq.h): the rotation, encoding, decoding and the popcount estimator. */
#include "codes/rabitq.h"
#include "base/random.h"
#include "kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#endif

#define QUERY_LEVELS ((1u << NEARKIT_RABITQ_QUERY_BITS) - 1u) /* the largest quantised value */

static size_t padded_dimension(size_t d) { return (d + 63) / 64 * 64; }

static uint64_t load_word(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w); /* little-endian hosts only, as the file format */
    return w;
}

/* ip keeps a third factor, <r, c>. */
static size_t factor_count(nearkit_metric metric) { return metric == NEARKIT_METRIC_IP ? 3 : 2; }

size_t nearkit_rabitq_code_size(size_t d, nearkit_metric metric) {
    return padded_dimension(d) / 8 + factor_count(metric) * sizeof(float);
}

/* popcount(code) and sum_j 2^j popcount(code & plane j): integers, the same on every CPU. Two
 * copies of one loop: with the POPCNT instruction where the CPU has it (x86), else the
 * compiler's portable popcount; and an AVX-512 and an AVX2 copy below (bit_sums_vpopcnt,
 * bit_sums_avx2, which ends with this loop over the words past its blocks). ADD_BIT_SUMS adds
 * words [first, words) to `ones` and `weighted`. */
#define ADD_BIT_SUMS(first)                                                                     \
    for (size_t w = (first); w < words; w++) {                                                  \
        uint64_t b = load_word(code + 8 * w);                                                   \
        ones += (uint64_t)__builtin_popcountll(b);                                              \
        for (unsigned j = 0; j < NEARKIT_RABITQ_QUERY_BITS; j++)                                \
            weighted += (uint64_t)__builtin_popcountll(b & planes[j * words + w]) << j;         \
    }

static void bit_sums_portable(const uint8_t *code, const uint64_t *planes, size_t words, uint64_t *ones_out,
                              uint64_t *weighted_out) {
    uint64_t ones = 0, weighted = 0;
    ADD_BIT_SUMS(0)
    *ones_out = ones;
    *weighted_out = weighted;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("popcnt"))) static void bit_sums_popcnt(const uint8_t *code, const uint64_t *planes,
                                                              size_t words, uint64_t *ones_out,
                                                              uint64_t *weighted_out) {
    uint64_t ones = 0, weighted = 0;
    ADD_BIT_SUMS(0)
    *ones_out = ones;
    *weighted_out = weighted;
}
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* The same sums eight words at a time with AVX-512's per-word popcount (VPOPCNTDQ), the last
 * words under a mask: a code of 784 dimensions is 13 words and 5 popcounts each, which the
 * scalar copy spends most of a list's scan on (a third of ivf_rabitq's search on Fashion-MNIST by
 * `perf`). Integer sums, so the same results. */
__attribute__((target("avx512f,avx512vpopcntdq"))) static void bit_sums_vpopcnt(const uint8_t *code,
                                                                                  const uint64_t *planes, size_t words,
                                                                                  uint64_t *ones_out,
                                                                                  uint64_t *weighted_out) {
    __m512i ones = _mm512_setzero_si512(), weighted = _mm512_setzero_si512();
    for (size_t w = 0; w < words; w += 8) {
        __mmask8 m = words - w >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (words - w)) - 1u);
        __m512i b = _mm512_maskz_loadu_epi64(m, code + 8 * w);
        ones = _mm512_add_epi64(ones, _mm512_popcnt_epi64(b));
        for (unsigned j = 0; j < NEARKIT_RABITQ_QUERY_BITS; j++) {
            __m512i p = _mm512_maskz_loadu_epi64(m, planes + j * words + w);
            weighted = _mm512_add_epi64(weighted, _mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_and_si512(b, p)), j));
        }
    }
    *ones_out = (uint64_t)_mm512_reduce_add_epi64(ones);
    *weighted_out = (uint64_t)_mm512_reduce_add_epi64(weighted);
}

/* The bytes' popcounts of v: two 16-entry table lookups (VPSHUFB), one per nibble. */
__attribute__((target("avx2"))) static inline __m256i byte_popcounts(__m256i v) {
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                           0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    return _mm256_add_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(v, nibble)),
                           _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble)));
}

_Static_assert(8u * ((1u << NEARKIT_RABITQ_QUERY_BITS) - 1u) < 256u, "bit_sums_avx2 folds the planes' counts into bytes");

/* The same sums four words at a time for AVX2 CPUs, which have no per-word popcount in vector
 * registers: each byte counted by byte_popcounts, the planes' counts of a byte folded as
 * c0 + 2 c1 + 4 c2 + 8 c3 (at most 8 * 15: no byte overflows) so that one VPSADBW sums them all;
 * the words past the last block of four by POPCNT. On an AVX2-only AMD EPYC a code of 784
 * dimensions (13 words) took 19 ns against the POPCNT copy's 38 (a throwaway micro-benchmark).
 * Integer sums, so the same results. */
__attribute__((target("avx2,popcnt"))) static void bit_sums_avx2(const uint8_t *code, const uint64_t *planes,
                                                                 size_t words, uint64_t *ones_out,
                                                                 uint64_t *weighted_out) {
    const __m256i zero = _mm256_setzero_si256();
    __m256i ones_by_lane = zero, weighted_by_lane = zero;
    size_t blocks = words / 4 * 4;
    for (size_t w = 0; w < blocks; w += 4) {
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(code + 8 * w)), folded = zero;
        for (unsigned j = NEARKIT_RABITQ_QUERY_BITS; j-- > 0;) {
            __m256i p = _mm256_loadu_si256((const __m256i *)(const void *)(planes + j * words + w));
            folded = _mm256_add_epi8(_mm256_add_epi8(folded, folded), byte_popcounts(_mm256_and_si256(b, p)));
        }
        ones_by_lane = _mm256_add_epi64(ones_by_lane, _mm256_sad_epu8(byte_popcounts(b), zero));
        weighted_by_lane = _mm256_add_epi64(weighted_by_lane, _mm256_sad_epu8(folded, zero));
    }
    uint64_t lanes[4], ones = 0, weighted = 0;
    _mm256_storeu_si256((__m256i *)(void *)lanes, ones_by_lane);
    for (int k = 0; k < 4; k++) ones += lanes[k];
    _mm256_storeu_si256((__m256i *)(void *)lanes, weighted_by_lane);
    for (int k = 0; k < 4; k++) weighted += lanes[k];
    ADD_BIT_SUMS(blocks)
    *ones_out = ones;
    *weighted_out = weighted;
}
#endif

typedef void (*bit_sums_fn)(const uint8_t *, const uint64_t *, size_t, uint64_t *, uint64_t *);

/* The kernel level in use (kernels.h: the CPU's best, or NEARKIT_KERNELS's): RaBitQ's copies
 * follow it, so that a run forced to AVX2 or scalar kernels scans as such a CPU would, and the
 * suite's runs at each level check these copies too. */
static int32_t kernel_level(void) { return nearkit_kernels()->id; }

static bit_sums_fn bit_sums_of_cpu(void) {
    int32_t level = kernel_level();
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    if (level == NEARKIT_KERNELS_AVX512 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vpopcntdq"))
        return bit_sums_vpopcnt;
    if (level >= NEARKIT_KERNELS_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        return bit_sums_avx2;
#endif
#if defined(__x86_64__) || defined(__i386__)
    if (level != NEARKIT_KERNELS_SCALAR && __builtin_cpu_supports("popcnt")) return bit_sums_popcnt;
#endif
    (void)level;
    return bit_sums_portable;
}

/* Bit j of 8 levels (one per byte of x, each below 256) as 8 bits, byte k's at bit k: the bits
 * moved to byte k and gathered into the top byte by one multiplication (no carries: every
 * product term lands on its own bit). */
static uint64_t bit_of_bytes(uint64_t x, unsigned j) {
    return (((x >> j) & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56;
}

/* y's D = 64 words values quantised to levels (nearest of QUERY_LEVELS + 1 steps of 1 / per_level
 * from low: every value is at least low) and their bit planes, planes[j * words + w] = bit j of
 * levels 64 w .. 64 w + 63 (level 64 w + k's at bit k); returns the sum of the levels. */
static uint32_t quantise_portable(uint8_t *restrict levels, uint64_t *restrict planes, const float *restrict y,
                                  float low, float per_level, size_t words) {
    uint32_t total = 0;
    for (size_t i = 0; i < 64 * words; i++) {
        float level = (y[i] - low) * per_level + 0.5f; /* rounded by truncation: level >= 0.5 */
        /* the top level also for NaN, as quantise_avx512's minimum gives it (and never a NaN cast) */
        uint8_t u = level < (float)QUERY_LEVELS ? (uint8_t)(int32_t)level : (uint8_t)QUERY_LEVELS;
        levels[i] = u;
        total += u;
    }
    for (size_t w = 0; w < words; w++)
        for (unsigned j = 0; j < NEARKIT_RABITQ_QUERY_BITS; j++) {
            uint64_t plane = 0;
            for (unsigned b = 0; b < 8; b++) plane |= bit_of_bytes(load_word(levels + 64 * w + 8 * b), j) << (8 * b);
            planes[j * words + w] = plane;
        }
    return total;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* The same 64 values at a time: each level by the same rounded subtraction, product and sum (no
 * fma), the top level as a minimum (a level is never NaN), truncated, narrowed to bytes; bit j of
 * every byte shifted to its top bit (16-bit shifts: a level is below 16, so no bit crosses into
 * the next byte's top) and gathered by VPMOVB2M. Per list probed, the portable copy was most of
 * a list's setup, a fifth of ivf_rabitq's search. */
__attribute__((target("avx512f,avx512bw"))) static uint32_t quantise_avx512(uint8_t *restrict levels,
                                                                             uint64_t *restrict planes,
                                                                             const float *restrict y, float low,
                                                                             float per_level, size_t words) {
    const __m512 lo = _mm512_set1_ps(low), scale = _mm512_set1_ps(per_level), half = _mm512_set1_ps(0.5f),
                 top = _mm512_set1_ps((float)QUERY_LEVELS);
    __m512i total = _mm512_setzero_si512();
    for (size_t w = 0; w < words; w++) {
        for (size_t part = 0; part < 4; part++) {
            const float *v = y + 64 * w + 16 * part;
            __m512 level = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(v), lo), scale), half);
            __m512i u = _mm512_cvttps_epi32(_mm512_min_ps(level, top));
            total = _mm512_add_epi32(total, u);
            _mm_storeu_si128((__m128i *)(void *)(levels + 64 * w + 16 * part), _mm512_cvtepi32_epi8(u));
        }
        __m512i b = _mm512_loadu_si512((const void *)(levels + 64 * w));
        for (unsigned j = 0; j < NEARKIT_RABITQ_QUERY_BITS; j++)
            planes[j * words + w] = (uint64_t)_mm512_movepi8_mask(_mm512_slli_epi16(b, 7 - j));
    }
    return (uint32_t)_mm512_reduce_add_epi32(total);
}

/* quantise_avx512's steps 8 values at a time for AVX2 CPUs (and AVX-512 ones without BW): the
 * levels narrowed to bytes by two packs, whose 128-bit lanes interleave, put back in order by one
 * permutation; a bit plane's 64 bits from two VPMOVMSKB of 32 bytes each. */
__attribute__((target("avx2"))) static uint32_t quantise_avx2(uint8_t *restrict levels, uint64_t *restrict planes,
                                                              const float *restrict y, float low, float per_level,
                                                              size_t words) {
    const __m256 lo = _mm256_set1_ps(low), scale = _mm256_set1_ps(per_level), half = _mm256_set1_ps(0.5f),
                 top = _mm256_set1_ps((float)QUERY_LEVELS);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i total = _mm256_setzero_si256();
    for (size_t at = 0; at < 64 * words; at += 32) {
        __m256i u[4];
        for (size_t part = 0; part < 4; part++) {
            __m256 level = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(y + at + 8 * part), lo), scale), half);
            u[part] = _mm256_cvttps_epi32(_mm256_min_ps(level, top));
            total = _mm256_add_epi32(total, u[part]);
        }
        __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(u[0], u[1]), _mm256_packus_epi32(u[2], u[3]));
        _mm256_storeu_si256((__m256i *)(void *)(levels + at), _mm256_permutevar8x32_epi32(bytes, order));
    }
    for (size_t w = 0; w < words; w++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(levels + 64 * w)),
                b = _mm256_loadu_si256((const __m256i *)(const void *)(levels + 64 * w + 32));
        for (unsigned j = 0; j < NEARKIT_RABITQ_QUERY_BITS; j++) {
            uint32_t first = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(a, (int)(7 - j))),
                     second = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(b, (int)(7 - j)));
            planes[j * words + w] = (uint64_t)first | (uint64_t)second << 32;
        }
    }
    __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
    sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0x4e));
    sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0xb1));
    return (uint32_t)_mm_cvtsi128_si32(sum);
}
#endif

typedef uint32_t (*quantise_fn)(uint8_t *, uint64_t *, const float *, float, float, size_t);

static quantise_fn quantise_of_cpu(void) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    int32_t level = kernel_level();
    if (level == NEARKIT_KERNELS_AVX512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        return quantise_avx512;
    if (level >= NEARKIT_KERNELS_AVX2 && __builtin_cpu_supports("avx2")) return quantise_avx2;
#endif
    return quantise_portable;
}

nearkit_status nearkit_rabitq_init(nearkit_rabitq *q, size_t d, nearkit_metric metric, uint64_t seed) {
    size_t padded = padded_dimension(d), block = 1;
    while (block * 2 <= padded) block *= 2;
    *q = (nearkit_rabitq){.dimension = d, .padded = padded, .block = block, .words = padded / 64,
                          .metric = metric, .code_size = nearkit_rabitq_code_size(d, metric), .bit_sums = bit_sums_of_cpu(),
                          .quantise = quantise_of_cpu()};
    q->signs = nearkit_alloc_array(NEARKIT_RABITQ_ROUNDS * padded, sizeof(float));
    if (!q->signs) return nearkit_oom();
    uint64_t state = seed ^ 0x52614269745121ull; /* its own stream: not k-means' */
    for (size_t i = 0; i < NEARKIT_RABITQ_ROUNDS * padded; i++)
        q->signs[i] = nearkit_next_random(&state) >> 63 ? -1.0f : 1.0f;
    return NEARKIT_OK;
}

void nearkit_rabitq_free(nearkit_rabitq *q) {
    free(q->signs);
    free(q->centroids);
    free(q->centroid_scales);
    *q = (nearkit_rabitq){0};
}

uint64_t nearkit_rabitq_memory(const nearkit_rabitq *q) {
    uint64_t signs = q->signs ? NEARKIT_RABITQ_ROUNDS * q->padded * sizeof(float) : 0;
    return signs + (uint64_t)q->nlist * (q->padded * sizeof(int16_t) + sizeof(float));
}

/* ---- the rotation ------------------------------------------------------------------------------ */

/* The Walsh-Hadamard transform of n (a power of two) floats in place, scaled by 1 / sqrt(n) so
 * that it is orthogonal (and its own inverse). */
static void hadamard(float *v, size_t n) {
    for (size_t h = 1; h < n; h *= 2)
        for (size_t i = 0; i < n; i += 2 * h)
            for (size_t j = i; j < i + h; j++) {
                float a = v[j], b = v[j + h];
                v[j] = a + b;
                v[j + h] = a - b;
            }
    float scale = (float)(1.0 / sqrt((double)n));
    for (size_t i = 0; i < n; i++) v[i] *= scale;
}

/* Round r's block: the first B coordinates in even rounds, the last B in odd ones. */
static size_t round_start(const nearkit_rabitq *q, int r) { return r % 2 ? q->padded - q->block : 0; }

/* P applied in place to D floats. */
static void rotate_padded(const nearkit_rabitq *q, float *v) {
    for (int r = 0; r < NEARKIT_RABITQ_ROUNDS; r++) {
        const float *signs = q->signs + (size_t)r * q->padded;
        for (size_t i = 0; i < q->padded; i++) v[i] *= signs[i];
        hadamard(v + round_start(q, r), q->block);
    }
}

/* P^T in place: the rounds undone in reverse (each step is its own inverse). */
static void unrotate_padded(const nearkit_rabitq *q, float *v) {
    for (int r = NEARKIT_RABITQ_ROUNDS - 1; r >= 0; r--) {
        hadamard(v + round_start(q, r), q->block);
        const float *signs = q->signs + (size_t)r * q->padded;
        for (size_t i = 0; i < q->padded; i++) v[i] *= signs[i];
    }
}

void nearkit_rabitq_rotate(const nearkit_rabitq *q, float *out, const float *v) {
    memcpy(out, v, q->dimension * sizeof(float));
    memset(out + q->dimension, 0, (q->padded - q->dimension) * sizeof(float));
    rotate_padded(q, out);
}

/* The largest magnitude a centroid's fixed-point coordinates reach: 2^15 (clamped to 32767). */
#define CENTROID_BITS 15

/* A rotated centroid (D floats) as 16-bit fixed point: codes times a power of two chosen from its
 * largest coordinate, so each coordinate is off by at most 2^-15 of that one; returns the power. */
static float centroid_fixed_point(int16_t *codes, const float *v, size_t n) {
    float most = 0.0f;
    for (size_t i = 0; i < n; i++) most = fabsf(v[i]) > most ? fabsf(v[i]) : most;
    int e = 0;
    if (most > 0.0f) frexpf(most, &e); /* most = m 2^e, m in [0.5, 1) */
    for (size_t i = 0; i < n; i++) {
        float c = rintf(ldexpf(v[i], CENTROID_BITS - e));
        codes[i] = (int16_t)(c > 32767.0f ? 32767.0f : c < -32767.0f ? -32767.0f : c);
    }
    return ldexpf(1.0f, e - CENTROID_BITS);
}

nearkit_status nearkit_rabitq_set_centroids(nearkit_rabitq *q, const float *centroids, uint32_t nlist) {
    int16_t *codes = nearkit_alloc_array((size_t)nlist * q->padded, sizeof(int16_t));
    float *scales = nearkit_alloc_array(nlist ? nlist : 1, sizeof(float));
    float *rotated = nearkit_alloc_array(q->padded, sizeof(float));
    if (!codes || !scales || !rotated) {
        free(codes);
        free(scales);
        free(rotated);
        return nearkit_oom();
    }
    for (uint32_t l = 0; l < nlist; l++) {
        nearkit_rabitq_rotate(q, rotated, centroids + (size_t)l * q->dimension);
        scales[l] = centroid_fixed_point(codes + (size_t)l * q->padded, rotated, q->padded);
    }
    free(rotated);
    free(q->centroids);
    free(q->centroid_scales);
    q->centroids = codes;
    q->centroid_scales = scales;
    q->nlist = nlist;
    return NEARKIT_OK;
}

/* ---- codes ------------------------------------------------------------------------------------- */

/* A code's factors: |z|^2, scale and (ip) <r, c>. */
static void code_factors(const nearkit_rabitq *q, const uint8_t *code, float factors[3]) {
    factors[2] = 0.0f;
    memcpy(factors, code + q->padded / 8, factor_count(q->metric) * sizeof(float));
}

/* The code of a rotated residual z (D floats) whose dot with its centroid is rc. */
static void encode_rotated(const nearkit_rabitq *q, uint8_t *code, const float *z, double rc) {
    double sqnorm = 0.0, l1 = 0.0;
    memset(code, 0, q->padded / 8);
    for (size_t i = 0; i < q->padded; i++) {
        if (z[i] > 0.0f) code[i / 8] |= (uint8_t)(1u << (i % 8));
        sqnorm += (double)z[i] * z[i];
        l1 += fabs((double)z[i]);
    }
    float factors[3] = {(float)sqnorm, l1 > 0.0 ? (float)(sqnorm / l1) : 0.0f, (float)rc};
    memcpy(code + q->padded / 8, factors, factor_count(q->metric) * sizeof(float));
}

nearkit_status nearkit_rabitq_encode(const nearkit_rabitq *q, uint8_t *codes, const float *x, uint64_t n,
                                     const uint32_t *assign, const float *centroids) {
    size_t d = q->dimension;
    float *z = nearkit_alloc_array(q->padded, sizeof *z);
    if (!z) return nearkit_oom();
    for (uint64_t r = 0; r < n; r++) {
        const float *v = x + r * d, *c = centroids + (size_t)assign[r] * d;
        double rc = 0.0;
        for (size_t i = 0; i < d; i++) {
            z[i] = v[i] - c[i];
            rc += (double)z[i] * c[i];
        }
        memset(z + d, 0, (q->padded - d) * sizeof *z);
        rotate_padded(q, z);
        encode_rotated(q, codes + r * q->code_size, z, rc);
    }
    free(z);
    return NEARKIT_OK;
}

/* z's projection on its signs: <o_bar, z> o_bar = (sum |z_i| / D) s, with sum |z_i| = |z|^2 /
 * scale; then P^T and the centroid added. */
void nearkit_rabitq_decode(const nearkit_rabitq *q, float *out, const uint8_t *code, uint32_t list,
                           const float *centroids, float *z) {
    float f[3];
    code_factors(q, code, f);
    float magnitude = f[1] > 0.0f ? f[0] / f[1] / (float)q->padded : 0.0f;
    for (size_t i = 0; i < q->padded; i++) z[i] = code[i / 8] >> (i % 8) & 1u ? magnitude : -magnitude;
    unrotate_padded(q, z);
    const float *c = centroids + (size_t)list * q->dimension;
    for (size_t i = 0; i < q->dimension; i++) out[i] = c[i] + z[i];
}

bool nearkit_rabitq_codes_valid(const nearkit_rabitq *q, const uint8_t *codes, uint64_t n) {
    /* |z| of a residual of two vectors within the value bound: 2 * bound * sqrt(d) at most */
    double most = 2.0 * NEARKIT_MAX_ABS_VALUE * sqrt((double)q->dimension);
    double root_d = sqrt((double)q->padded), slack = 1e-3;
    double most_rc = most * NEARKIT_MAX_ABS_VALUE * sqrt((double)q->dimension); /* |r| |c| */
    for (uint64_t r = 0; r < n; r++) {
        float f[3];
        code_factors(q, codes + r * q->code_size, f);
        float sqnorm = f[0], scale = f[1];
        if (!(sqnorm >= 0.0f) || !(scale >= 0.0f) || !isfinite(sqnorm) || !isfinite(scale)) return false;
        if (!(fabs((double)f[2]) <= most_rc)) return false; /* NaN fails too */
        double norm = sqrt((double)sqnorm);
        if (norm > most || (norm == 0.0) != (scale == 0.0f)) return false;
        if (scale > norm * (1.0 + slack) || scale < norm / root_d * (1.0 - slack)) return false;
    }
    return true;
}

/* ---- the query --------------------------------------------------------------------------------- */

bool nearkit_rabitq_query_init(nearkit_rabitq_query *s, const nearkit_rabitq *q) {
    *s = (nearkit_rabitq_query){0};
    s->rotated = nearkit_alloc_array(q->padded, sizeof(float));
    s->y = nearkit_alloc_array(q->padded, sizeof(float));
    s->planes = nearkit_alloc_array(NEARKIT_RABITQ_QUERY_BITS * q->words, sizeof(uint64_t));
    s->levels = nearkit_alloc_array(q->padded, 1);
    if (s->rotated && s->y && s->planes && s->levels) return true;
    nearkit_rabitq_query_free(s);
    return false;
}

void nearkit_rabitq_query_free(nearkit_rabitq_query *s) {
    free(s->rotated);
    free(s->y);
    free(s->planes);
    free(s->levels);
    *s = (nearkit_rabitq_query){0};
}

void nearkit_rabitq_set_query(nearkit_rabitq_query *s, const nearkit_rabitq *q, const float *query) {
    nearkit_rabitq_rotate(q, s->rotated, query);
}

/* Per-query work runs over LANES partial results (a minimum, a sum) combined in a fixed order at
 * the end: the compiler vectorises the lanes (a single running sum or minimum it may not reorder,
 * so it would not), and the result is the same on every CPU. D is a multiple of LANES. */
#define LANES 8

static float lanes_sum(const float *v) {
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += v[j];
    return s;
}

/* y quantised to QUERY_BITS bits per coordinate (nearest level of [min, max]), as bit planes. */
static void quantise_query(nearkit_rabitq_query *s, const nearkit_rabitq *q) {
    float lo[LANES], hi[LANES];
    for (int j = 0; j < LANES; j++) lo[j] = hi[j] = s->y[j];
    for (size_t i = 0; i < q->padded; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float y = s->y[i + j];
            lo[j] = y < lo[j] ? y : lo[j];
            hi[j] = y > hi[j] ? y : hi[j];
        }
    for (int j = 1; j < LANES; j++) {
        lo[0] = lo[j] < lo[0] ? lo[j] : lo[0];
        hi[0] = hi[j] > hi[0] ? hi[j] : hi[0];
    }
    float low = lo[0], delta = hi[0] > low ? (hi[0] - low) / (float)QUERY_LEVELS : 0.0f;
    /* a range so small (below 15 / FLT_MAX, about 4e-38) that 1 / delta is infinite: every value
     * at the lowest level, off by at most that range, rather than 0 * inf = NaN at the minimum */
    float per_level = delta > 0.0f && 1.0f / delta <= FLT_MAX ? 1.0f / delta : 0.0f;
    uint32_t total = q->quantise(s->levels, s->planes, s->y, low, per_level, q->words);
    s->lo = low;
    s->delta = delta;
    s->sum = low * (float)q->padded + delta * (float)total;
}

void nearkit_rabitq_set_list(nearkit_rabitq_query *s, const nearkit_rabitq *q, uint32_t list) {
    const int16_t *restrict code = q->centroids + (size_t)list * q->padded;
    const float *restrict rotated = s->rotated;
    const float scale = q->centroid_scales[list];
    float *restrict out = s->y;
    float ysq[LANES] = {0}, cq[LANES] = {0};
    for (size_t i = 0; i < q->padded; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float c = (float)code[i + j] * scale; /* exact (a power of two) above the subnormals */
            float y = rotated[i + j] - c;
            out[i + j] = y;
            ysq[j] += y * y;
            cq[j] += c * rotated[i + j];
        }
    s->ysq = lanes_sum(ysq);
    s->cq = lanes_sum(cq);
    quantise_query(s, q);
}

void nearkit_rabitq_distances(float *out, const nearkit_rabitq *q, const nearkit_rabitq_query *s,
                              nearkit_metric metric, const uint8_t *codes, size_t n) {
    for (size_t r = 0; r < n; r++) {
        const uint8_t *code = codes + r * q->code_size;
        uint64_t ones, weighted;
        q->bit_sums(code, s->planes, q->words, &ones, &weighted);
        float f[3];
        code_factors(q, code, f);
        /* <s, y> = 2 (sum of y over the set bits) - sum of y */
        float set = s->lo * (float)ones + s->delta * (float)weighted;
        float dot = f[1] * (2.0f * set - s->sum); /* the estimate of <r, y>, y = P (q - c) */
        float l2 = f[0] + s->ysq - 2.0f * dot;
        if (metric == NEARKIT_METRIC_L2)
            out[r] = l2;
        else if (metric == NEARKIT_METRIC_COSINE)
            out[r] = 0.5f * l2; /* unit vectors: 1 - <x, q> = |x - q|^2 / 2 */
        else
            out[r] = -(s->cq + f[2] + dot); /* <x, q> = <c, q> + <r, c> + <r, q - c> */
    }
}

float nearkit_rabitq_in_range(nearkit_metric metric, float ranked) {
    if (metric == NEARKIT_METRIC_L2) return ranked > 0.0f ? ranked : 0.0f;
    if (metric == NEARKIT_METRIC_COSINE) return ranked < 0.0f ? 0.0f : ranked > 2.0f ? 2.0f : ranked;
    return ranked;
}
