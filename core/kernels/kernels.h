/* Distance kernels with run-time CPU dispatch. Internal to nearkit (hidden symbols). */
#ifndef NEARKIT_KERNELS_H
#define NEARKIT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "nearkit.h"

/* One implementation of every kernel. All pointers may be unaligned. `d` counts floats, `nbytes`
 * counts bytes of packed bits. The *_many variants compare one query with n vectors stored
 * contiguously (row i at x + i * d) and write n results. */
/* ---- code kernels: a float query against compressed codes (core/codes/codec.h) -------------------
 *
 * Four code formats, each a fixed number of bytes per vector of d dimensions:
 *   - NEARKIT_CODE_FP16: 2 d bytes, IEEE binary16 per dimension (little-endian);
 *   - NEARKIT_CODE_BF16: 2 d bytes, the upper 16 bits of the float per dimension;
 *   - NEARKIT_CODE_SQ8: d bytes, one level c in 0..255 per dimension;
 *   - NEARKIT_CODE_SQ4: (d + 1) / 2 bytes, dimension i in the low (i even) or high (i odd) nibble
 *     of byte i / 2, c in 0..15 (a last high nibble of odd d is 0).
 * A code's decoded vector (nearkit_code_decode) is exact for fp16 and bf16 (every such value is a
 * float), and for sq8 / sq4 the float fma(step[i], c, base[i]), rounded once.
 *
 * The contract of a code kernel: out[r] is, bit for bit, the float kernel's l2sq (or dot) of the
 * query and the decoded vector of code r (codes back to back, nearkit_code_size bytes each), in
 * every implementation. So code distances, like float ones, do not depend on the CPU, and the
 * scalar kernels are the reference the SIMD ones are tested against. step and base are the d
 * floats of the sq formats (NULL for fp16 / bf16). */
enum { NEARKIT_CODE_FP16, NEARKIT_CODE_BF16, NEARKIT_CODE_SQ8, NEARKIT_CODE_SQ4, NEARKIT_CODE_FORMATS };

typedef void (*nearkit_code_kernel)(float *out, const float *q, const uint8_t *codes, const float *step,
                                    const float *base, size_t n, size_t d);
/* n codes (back to back) decoded into n rows of d floats at out: nearkit_code_decode's bits, in
 * every implementation. A batch that scans a list's codes for several queries decodes them once
 * and scores them with the float kernels, which by the contract above gives the code kernels'
 * values. */
typedef void (*nearkit_code_decoder)(float *out, const uint8_t *codes, const float *step, const float *base,
                                     size_t n, size_t d);

/* ---- grid kernels: sq8 codes scored in integers, for walks that only rank ------------------------
 *
 * An hnsw walk over sq8 codes compares hundreds of codes per query and keeps only their order, so
 * it scores them on an integer grid (codes/codec.h, nearkit_grid_query): the query as one int16 t[i]
 * per dimension, and the codec's level widths w[i] (int16) in grid units times 256, so that code
 * level c of dimension i sits at nearkit_grid_level(c, w[i]) grid units from the range's base.
 *   - grid_l2: the sum over i of (t[i] - nearkit_grid_level(c[i], w[i]))^2;
 *   - grid_dot: the sum over i of t[i] * c[i].
 * Both are exact integers, so every implementation returns the same value, as long as
 * 0 <= w[i] <= NEARKIT_GRID_W_MAX and |t[i] - level| <= NEARKIT_GRID_T_MAX for every level
 * (grid_l2), |t[i]| <= NEARKIT_GRID_DOT_T_MAX (grid_dot): the vector kernels sum NEARKIT_GRID_BLOCK dimensions in
 * 32-bit lanes (madd of 16-bit values), then add the lanes into 64 bits. One level is
 * mulhrs's rounding, ((c << 7) * w + 2^14) >> 15. */
#define NEARKIT_GRID_W_MAX 2056      /* 255 levels of it: at most 2048 grid units */
#define NEARKIT_GRID_T_MAX 6144      /* |t - level| < 2^12.6: 32 squares a lane stay below 2^31 */
#define NEARKIT_GRID_DOT_T_MAX 32767 /* |t * c| < 2^23: 32 products a lane stay below 2^28 */
#define NEARKIT_GRID_BLOCK 256
typedef int64_t (*nearkit_grid_l2_kernel)(const int16_t *t, const int16_t *w, const uint8_t *code, size_t d);
typedef int64_t (*nearkit_grid_dot_kernel)(const int16_t *t, const uint8_t *code, size_t d);

static inline int32_t nearkit_grid_level(uint8_t c, int16_t w) { return ((int32_t)c * 128 * w + 16384) >> 15; }

/* The two sums over dimensions [from, to), one at a time (the scalar kernels, and the vector
 * kernels' last dimensions). */
static inline int64_t nearkit_grid_l2_part(const int16_t *t, const int16_t *w, const uint8_t *code, size_t from,
                                           size_t to) {
    int64_t sum = 0;
    for (size_t i = from; i < to; i++) {
        const int64_t e = t[i] - nearkit_grid_level(code[i], w[i]);
        sum += e * e;
    }
    return sum;
}

static inline int64_t nearkit_grid_dot_part(const int16_t *t, const uint8_t *code, size_t from, size_t to) {
    int64_t sum = 0;
    for (size_t i = from; i < to; i++) sum += (int64_t)t[i] * code[i];
    return sum;
}

/* ---- the row-code kernel: 8-bit row codes against 8-bit plane codes, in integers -------------------
 *
 * The rpforest build decides most rows' sides of a plane from codes (kinds/rpforest_screen.h): a
 * row as one level 0..255 per dimension, a plane as its own int8 codes. u8s8_dot_pairs writes
 * out[r] = the sum over i < d of a[r][i] * b[r][i], an exact integer, so every implementation
 * returns the same value as long as d <= NEARKIT_U8S8_D_MAX (each 32-bit lane of the vector
 * kernels then sums at most d products of magnitude <= 255 * 128). */
#define NEARKIT_U8S8_D_MAX 65536
typedef void (*nearkit_u8s8_pairs_kernel)(int32_t *out, const uint8_t *const *a, const int8_t *const *b, size_t n,
                                          size_t d);

/* One pair's sum over dimensions [from, to) (the scalar kernel, and the vector kernels' tails). */
static inline int32_t nearkit_u8s8_dot_part(const uint8_t *a, const int8_t *b, size_t from, size_t to) {
    int32_t sum = 0;
    for (size_t i = from; i < to; i++) sum += (int32_t)a[i] * b[i];
    return sum;
}

static inline size_t nearkit_code_size(int format, size_t d) {
    switch (format) {
    case NEARKIT_CODE_FP16:
    case NEARKIT_CODE_BF16: return 2 * d;
    case NEARKIT_CODE_SQ8: return d;
    default: return (d + 1) / 2;
    }
}

/* binary16 bits to the float of the same value (exact: every half is a float; NaN payloads are
 * kept in the upper mantissa bits, as F16C does). */
static inline float nearkit_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0); /* quiet, as F16C */
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else {
        float f = (float)man * 0x1p-24f; /* a subnormal half (or zero): exact in float */
        __builtin_memcpy(&bits, &f, sizeof bits);
        bits |= sign;
    }
    float out;
    __builtin_memcpy(&out, &bits, sizeof out);
    return out;
}

static inline float nearkit_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float out;
    __builtin_memcpy(&out, &bits, sizeof out);
    return out;
}

/* The decoded vector of one code, d floats (the definition the code kernels follow). */
void nearkit_code_decode(float *out, int format, const uint8_t *code, const float *step, const float *base,
                         size_t d);

/* The largest row, in floats, that the small-row kernels (kernels_small.h) take. */
#define NEARKIT_SMALL_D 4

typedef struct nearkit_kernel_table {
    const char *name; /* "scalar", "avx2", "avx512" */
    int32_t id;       /* NEARKIT_KERNELS_SCALAR / _AVX2 / _AVX512 */
    float (*l2sq)(const float *a, const float *b, size_t d);  /* squared Euclidean */
    float (*l1)(const float *a, const float *b, size_t d);
    float (*linf)(const float *a, const float *b, size_t d);
    float (*dot)(const float *a, const float *b, size_t d);
    uint32_t (*hamming)(const uint8_t *a, const uint8_t *b, size_t nbytes);
    void (*l2sq_many)(float *out, const float *q, const float *x, size_t n, size_t d);
    void (*l1_many)(float *out, const float *q, const float *x, size_t n, size_t d);
    void (*linf_many)(float *out, const float *q, const float *x, size_t n, size_t d);
    void (*dot_many)(float *out, const float *q, const float *x, size_t n, size_t d);
    void (*hamming_many)(uint32_t *out, const uint8_t *q, const uint8_t *x, size_t n,
                         size_t nbytes);
    /* Hamming distances of nq queries to codes packed into panels (hamming_pack): query i
     * is words 64-bit words at queries + i * words; the distance to code 8p + r goes to
     * out[i * out_stride + 8p + r], for every panel p < npanels. */
    void (*hamming_panels)(uint32_t *out, size_t out_stride, const uint64_t *queries, size_t nq,
                           const uint64_t *panels, size_t npanels, size_t words);
    /* Packs n codes into panels (layout below); panels must be 64-byte aligned. */
    void (*hamming_pack)(uint64_t *panels, const uint8_t *codes, size_t n, size_t nbytes);
    /* Code kernels by format (the contract above). */
    nearkit_code_kernel code_l2sq[NEARKIT_CODE_FORMATS];
    nearkit_code_kernel code_dot[NEARKIT_CODE_FORMATS];
    /* For scans of sgemm result tiles (search/tile_scan.h), where most values cannot enter a
     * heap: the first multiple u of 16 below n (itself a multiple of 16) whose block [u, u + 16)
     * holds a j with offset + extra[j] + r[j] <= bound, those added in that order as floats
     * (extra NULL: offset + r[j]), or n when no block does. Exact in every implementation (the
     * same two roundings, then an ordered compare), so it skips only blocks the scalar test would
     * skip; the vector ones test 64 values per branch. */
    size_t (*tile_skip)(const float *r, const float *extra, float offset, float bound, size_t n);
    /* The 1-NN of nq queries among rows x[0, n) of 1 <= d <= NEARKIT_SMALL_D floats, by l2sq (l1 when `l1`):
     * best[i] / best_row[i] take row first_row + r's value and number where it is strictly below
     * best[i] (the earlier row keeps a tie). Values bit-identical to l2sq_many / l1_many. */
    void (*small_nearest)(int l1, float *best, uint32_t *best_row, const float *queries, size_t nq,
                          const float *x, uint32_t first_row, size_t n, size_t d);
    /* Code decoders by format (nearkit_code_decoder). */
    nearkit_code_decoder code_decode[NEARKIT_CODE_FORMATS];
    /* Distances of n pairs of rows of d floats: out[r] = l2sq(a[r], b[r], d) (dot_pairs: dot), bit
     * for bit, several pairs at a time: rows gathered by number against one plane, or one row
     * against several planes (the rpforest build), without a call and a reduction per pair. */
    void (*l2sq_pairs)(float *out, const float *const *a, const float *const *b, size_t n, size_t d);
    void (*dot_pairs)(float *out, const float *const *a, const float *const *b, size_t n, size_t d);
    /* The fused shortlist scan of float batches (flat's; NULL in tables without one, whose callers
     * take sgemm): the NEARKIT_PANEL_ROWS rows at x (row i at x + i * ld, all of them readable)
     * against the NEARKIT_PANEL_QUERIES queries of a panel of d dimensions (query j's dimension k
     * at panel[k * NEARKIT_PANEL_QUERIES + j], 64-byte aligned). For rows i < nr it writes
     * tile[i * NEARKIT_PANEL_QUERIES + j] = fma(alpha, dot_ij, extra[i]) + offset[j] (extra NULL:
     * 0), dot_ij summed by one fused multiply-add per dimension in order of k, and returns the
     * mask of the queries j with some such value <= bound[j] (a NaN bound: none). The scores
     * stay in registers until then, so a scan writes no tile of them; their rounding is sgemm's
     * kind (the dot in another order than the exact kernels'), covered by nearkit_gemm_slack. */
    uint64_t (*panel_scan)(float *tile, const float *x, size_t nr, size_t ld, const float *panel, size_t d,
                           const float *extra, float alpha, const float *offset, const float *bound);
    /* The grid kernels of sq8 codes (above). */
    nearkit_grid_l2_kernel grid_l2;
    nearkit_grid_dot_kernel grid_dot;
    /* The row-code kernel (above). */
    nearkit_u8s8_pairs_kernel u8s8_dot_pairs;
} nearkit_kernel_table;

/* panel_scan's shape: rows scored per call, queries per panel (24 accumulators of 16 lanes, four
 * query vectors and a broadcast: 29 of AVX-512's 32 registers). See kernels_avx512.c for the
 * shapes measured. */
#define NEARKIT_PANEL_ROWS 6
#define NEARKIT_PANEL_QUERIES 64
_Static_assert(NEARKIT_PANEL_QUERIES % 16 == 0 && NEARKIT_PANEL_QUERIES <= 64,
               "panel_scan's mask has a bit per query of a panel; its vectors hold 16");

/* Codes packed for hamming_panels: 8 codes per panel, stored word by word (word j of code r of
 * panel p at panels[(p * words + j) * 8 + r]), so one 64-byte load holds a word of 8 codes and no
 * per-code reduction is needed. Codes are nbytes long, words = ceil(nbytes / 8); bytes past the
 * end of a code and codes past n (up to the panel's 8) are zero. */
static inline size_t nearkit_hamming_words(size_t nbytes) { return (nbytes + 7) / 8; }
static inline size_t nearkit_hamming_panels(size_t n) { return (n + 7) / 8; }
/* The portable hamming_pack: n codes into nearkit_hamming_panels(n) * words * 8 words at panels. */
void nearkit_hamming_pack_portable(uint64_t *panels, const uint8_t *codes, size_t n, size_t nbytes);
/* Packs one code as a query for hamming_panels: words 64-bit words, zero past nbytes. */
void nearkit_hamming_pack_query(uint64_t *query, const uint8_t *code, size_t nbytes);

/* Distances of one query to n rows stored contiguously at rows (dimension floats or vector_bytes
 * bytes each), as the metric reports them except l2, which stays squared (monotone: selection is
 * unaffected; callers root it when they report). ints: n counts of scratch, for hamming. */
void nearkit_metric_distances(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                              nearkit_metric metric, const void *query, const void *rows, size_t n,
                              size_t dimension, size_t vector_bytes);
/* nearkit_metric_distances for rows the scan reads from memory, not from cache: the same values,
 * one row at a time through the single-row kernels. Their sequential reads keep the hardware's
 * prefetchers streaming; the several-row kernels interleave 8 rows, which wins from L1 and
 * L2 (1.2 to 1.8x) but read from memory at under half the rate (measured on an AVX-512 EPYC, d =
 * 128: 11 GB/s against 26, the machine's streaming read 31). */
void nearkit_metric_distances_streamed(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                                       nearkit_metric metric, const void *query, const void *rows, size_t n,
                                       size_t d, size_t vector_bytes);
/* Rows of at least this many bytes in all are taken to come from memory on their first pass (the
 * two kinds of kernel run alike from L3). */
#define NEARKIT_STREAMED_MIN_BYTES ((uint64_t)4 << 20)

/* The table in use: chosen once (thread-safely) from the CPU's features, or as forced. */
const nearkit_kernel_table *nearkit_kernels(void);
/* Whether the CPU (and the OS) can run the x86 FMA instructions: the scalar kernels use them for
 * their fused multiply-adds then (kernels_scalar.c). 0 on other architectures. */
int nearkit_kernels_cpu_fma(void);
/* For tests: nonzero makes nearkit_kernels_cpu_fma() answer 0, so that the scalar kernels' code
 * for CPUs without FMA runs on any CPU; 0 restores the answer. */
void nearkit_kernels_test_no_fma(int no_fma);
/* The table of one implementation (NEARKIT_KERNELS_*), or NULL when the CPU cannot run it. */
const nearkit_kernel_table *nearkit_kernels_table(int32_t which);

#endif
