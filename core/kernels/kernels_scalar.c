/* Portable C11 distance kernels: the reference implementation and the fallback on every CPU.
 *
 * Float kernels: the canonical order of kernels.c, written out plainly: 32 partial sums, element i
 * to partial i % 32, then the halving tree. The 32 independent partials let the CPU overlap the
 * additions, and compilers turn them into vector registers without reassociating anything. The
 * float *_many kernels run the single kernel row by row: interleaving rows (to share the query
 * loads) measured slower here, because compilers then no longer vectorize the partials. So both
 * give bit-identical results. The hamming *_many kernel does handle 4 rows at a time.
 *
 * No intrinsics. Hamming uses 64-bit words: __builtin_popcountll where it is a single
 * instruction, a branch-free SWAR count otherwise (on x86 without -mpopcnt the builtin would be
 * a call into libgcc, slower than the inline SWAR). */
#include "base/internal.h"
#include "kernels/kernels.h"
#include "kernels/kernels_small.h"

#include <math.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define NK_RESTRICT __restrict__
#else
#define NK_RESTRICT
#endif

/* ---- float kernels ----------------------------------------------------------------------------- */

/* fmaf(a, b, c) exactly (a * b + c rounded once), with double arithmetic only, for targets without
 * a fused multiply-add instruction: fmaf is a library call there, as slow as a hundred additions,
 * where this is a dozen operations that compilers vectorize. The product of two floats is exact
 * in double (24 + 24 bits <= 53); the sum s = p + c is rounded once, and rounding s again to float
 * could round the wrong way where s lies on a midpoint between two floats (double rounding). So s
 * is first made "round to odd": when it is inexact (its error, exact by the 2Sum algorithm, is not
 * zero) and its last bit is even, it moves one double ulp towards the exact value. A midpoint or a
 * float has an even last bit in double, so the odd s is on the same side of every midpoint as the
 * exact sum, and the final rounding is correct (double has more than the 24 + 2 bits this needs).
 * Products of floats never overflow a double, so p and s are finite for finite inputs; with an
 * infinity or NaN, s is one too and nothing moves. Checked against the instruction on 2e8 random
 * triples (all bit patterns, cancellations, subnormals). */
static inline float nk_fmaf_soft(float a, float b, float c) {
    const double p = (double)a * (double)b, cd = (double)c;
    const double s = p + cd;
    const double bv = s - p;
    const double err = (p - (s - bv)) + (cd - bv);
    uint64_t bits, err_bits;
    memcpy(&bits, &s, sizeof bits);
    memcpy(&err_bits, &err, sizeof err_bits);
    /* 0 or 1 each, in integer arithmetic only (comparisons would stop GCC from vectorizing). */
    const uint64_t err_mag = err_bits << 1;
    const uint64_t inexact = (err_mag | (0 - err_mag)) >> 63;          /* err is not +-0 */
    const uint64_t nonfinite = (((bits >> 52) & 0x7ff) + 1) >> 11;    /* s is inf or NaN */
    const uint64_t nudge = inexact & ~nonfinite & ~bits & 1;
    const uint64_t toward_zero = (err_bits ^ bits) >> 63;              /* signs differ */
    bits += nudge - ((nudge & toward_zero) << 1);
    double r;
    memcpy(&r, &bits, sizeof r);
    return (float)r;
}

/* The canonical fused multiply-add: fmaf where the target has the instruction (it is inlined);
 * else, on x86-64, the FMA instructions where the CPU has them (nearkit_kernels_cpu_fma: a copy of
 * the kernels compiled for them, chosen at each call), and nk_fmaf_soft where it has not. */
#if defined(FP_FAST_FMAF)
#define NK_FMA(a, b, c) fmaf((a), (b), (c))
#define NK_FMA_DISPATCH 0
#else
#define NK_FMA(a, b, c) nk_fmaf_soft((a), (b), (c))
#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) || \
                            (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))
#define NK_FMA_DISPATCH 1
#define NK_FMA_HW(a, b, c) __builtin_fmaf((a), (b), (c))
#define NK_FMA_TARGET __attribute__((target("fma")))
#else
#define NK_FMA_DISPATCH 0
#endif
#endif

#define NK_PARTIALS 32 /* the canonical order's partial sums (kernels.c) */

/* The canonical reduction: partials k and k + w added for w = 16, 8, 4, 2, 1. */
static inline float nk_reduce(float s[NK_PARTIALS]) {
    for (size_t w = NK_PARTIALS / 2; w > 0; w /= 2)
        for (size_t k = 0; k < w; k++) s[k] = s[k] + s[k + w];
    return s[0];
}

static inline float nk_absf(float x) { return fabsf(x); } /* branch-free, unlike x < 0 ? -x : x */

/* One row in the canonical order; TERM(s, FMA) is the partial s updated with the pair (x, y),
 * with FMA as the fused multiply-add, ATTR the functions' attributes. The block function takes
 * elements 0 .. n-1 (n <= NK_PARTIALS) into partials 0 .. n-1: written as its own loop over
 * restrict pointers, it is what GCC vectorizes (the same loop nested in the row's loop it does
 * not). */
#define NK_DEFINE_SUM_ROW(NAME, TERM, FMA, ATTR)                                               \
    ATTR static inline void NAME##_block(float *NK_RESTRICT s, const float *NK_RESTRICT a,   \
                                         const float *NK_RESTRICT b, size_t n) {              \
        for (size_t j = 0; j < n; j++) {                                                      \
            const float x = a[j], y = b[j];                                                   \
            s[j] = TERM(s[j], FMA);                                                           \
        }                                                                                     \
    }                                                                                         \
    ATTR static float NAME(const float *a, const float *b, size_t d) {                        \
        float s[NK_PARTIALS] = {0};                                                           \
        size_t i = 0;                                                                         \
        for (; i + NK_PARTIALS <= d; i += NK_PARTIALS)                                        \
            NAME##_block(s, a + i, b + i, NK_PARTIALS);                                       \
        NAME##_block(s, a + i, b + i, d - i);                                                 \
        return nk_reduce(s);                                                                  \
    }

/* (x - y)^2 == (y - x)^2 and |x - y| == |y - x| exactly, and x * y == y * x, so the argument
 * order (query first or second) never changes a result. */
#define NK_TERM_L2SQ(s, FMA) FMA(x - y, x - y, s)
#define NK_TERM_L1(s, FMA) ((s) + nk_absf(x - y))
#define NK_TERM_DOT(s, FMA) FMA(x, y, s)

/* Whether kernels_small.h takes rows of d floats for the kernel SMALL (0 l2sq, 1 l1, -1 none). */
#define NK_SMALL_ROWS(SMALL, d) ((SMALL) >= 0 && (d) >= 1 && (d) <= NK_SMALL_D)

/* The single kernel NAME and NAME_many (the single kernel row by row, so bit-identical). */
#define NK_DEFINE_SUM_KERNEL(NAME, TERM, SMALL)                                                \
    NK_DEFINE_SUM_ROW(NAME, TERM, NK_FMA, )                                                   \
    static void NAME##_many(float *out, const float *q, const float *x, size_t n, size_t d) { \
        if (NK_SMALL_ROWS(SMALL, d)) { nk_small_many((SMALL) == 1, out, q, x, n, d); return; }  \
        for (size_t r = 0; r < n; r++) out[r] = NAME(q, x + r * d, d);                        \
    }

/* The same for a kernel with fused multiply-adds: where NK_FMA_DISPATCH, two copies, one for the
 * CPUs with FMA instructions and one without, chosen at each call. */
#if NK_FMA_DISPATCH
#define NK_DEFINE_FMA_KERNEL(NAME, TERM, SMALL)                                                \
    NK_DEFINE_SUM_ROW(NAME##_soft, TERM, NK_FMA, )                                            \
    NK_DEFINE_SUM_ROW(NAME##_hw, TERM, NK_FMA_HW, NK_FMA_TARGET)                              \
    static float NAME(const float *a, const float *b, size_t d) {                             \
        return nearkit_kernels_cpu_fma() ? NAME##_hw(a, b, d) : NAME##_soft(a, b, d);         \
    }                                                                                         \
    static void NAME##_many(float *out, const float *q, const float *x, size_t n, size_t d) { \
        if (NK_SMALL_ROWS(SMALL, d)) { nk_small_many((SMALL) == 1, out, q, x, n, d); return; }  \
        if (nearkit_kernels_cpu_fma())                                                        \
            for (size_t r = 0; r < n; r++) out[r] = NAME##_hw(q, x + r * d, d);               \
        else                                                                                  \
            for (size_t r = 0; r < n; r++) out[r] = NAME##_soft(q, x + r * d, d);             \
    }
#else
#define NK_DEFINE_FMA_KERNEL(NAME, TERM, SMALL) NK_DEFINE_SUM_KERNEL(NAME, TERM, SMALL)
#endif
NK_DEFINE_FMA_KERNEL(nk_l2sq, NK_TERM_L2SQ, 0)
NK_DEFINE_SUM_KERNEL(nk_l1, NK_TERM_L1, 1)
NK_DEFINE_FMA_KERNEL(nk_dot, NK_TERM_DOT, -1)

/* The pairs kernels (kernels.h): the single kernel pair by pair, so bit-identical. */
static void nk_l2sq_pairs(float *out, const float *const *a, const float *const *b, size_t n, size_t d) {
    for (size_t r = 0; r < n; r++) out[r] = nk_l2sq(a[r], b[r], d);
}

static void nk_dot_pairs(float *out, const float *const *a, const float *const *b, size_t n, size_t d) {
    for (size_t r = 0; r < n; r++) out[r] = nk_dot(a[r], b[r], d);
}

static inline float nk_max8(const float s[8]) {
    float m = s[0];
    for (int j = 1; j < 8; j++) m = s[j] > m ? s[j] : m;
    return m;
}

/* max is exact and order-independent, so linf needs no care about the order. */
static float nk_linf(const float *NK_RESTRICT a, const float *NK_RESTRICT b, size_t d) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
        for (size_t j = 0; j < 8; j++) {
            const float t = nk_absf(a[i + j] - b[i + j]);
            s[j] = t > s[j] ? t : s[j];
        }
    for (size_t j = 0; i < d; i++, j++) {
        const float t = nk_absf(a[i] - b[i]);
        s[j] = t > s[j] ? t : s[j];
    }
    return nk_max8(s);
}

static void nk_linf_many(float *out, const float *q, const float *x, size_t n, size_t d) {
    for (size_t r = 0; r < n; r++) out[r] = nk_linf(q, x + r * d, d);
}

/* ---- hamming ----------------------------------------------------------------------------------- */

static inline uint64_t nk_load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The last 1..7 bytes as a zero-extended word (byte order does not matter for a popcount). */
static inline uint64_t nk_load_tail(const uint8_t *p, size_t len) {
    uint64_t v = 0;
    memcpy(&v, p, len);
    return v;
}

#if (defined(__GNUC__) || defined(__clang__)) &&                                             \
    (defined(__POPCNT__) || !(defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || \
                              defined(_M_IX86)))
#define NK_POPCOUNT64(v) ((uint64_t)__builtin_popcountll(v))
#else
static inline uint64_t nk_popcount64(uint64_t v) {
    v = v - ((v >> 1) & 0x5555555555555555ull);
    v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (v * 0x0101010101010101ull) >> 56;
}
#define NK_POPCOUNT64(v) nk_popcount64(v)
#endif

static uint32_t nk_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes) {
    uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    size_t i = 0;
    for (; i + 32 <= nbytes; i += 32) {
        c0 += NK_POPCOUNT64(nk_load64(a + i) ^ nk_load64(b + i));
        c1 += NK_POPCOUNT64(nk_load64(a + i + 8) ^ nk_load64(b + i + 8));
        c2 += NK_POPCOUNT64(nk_load64(a + i + 16) ^ nk_load64(b + i + 16));
        c3 += NK_POPCOUNT64(nk_load64(a + i + 24) ^ nk_load64(b + i + 24));
    }
    for (; i + 8 <= nbytes; i += 8) c0 += NK_POPCOUNT64(nk_load64(a + i) ^ nk_load64(b + i));
    if (i < nbytes)
        c1 += NK_POPCOUNT64(nk_load_tail(a + i, nbytes - i) ^ nk_load_tail(b + i, nbytes - i));
    return (uint32_t)((c0 + c1) + (c2 + c3));
}

static void nk_hamming_many(uint32_t *out, const uint8_t *q, const uint8_t *x, size_t n,
                            size_t nbytes) {
    size_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const uint8_t *x0 = x + r * nbytes, *x1 = x0 + nbytes, *x2 = x1 + nbytes,
                      *x3 = x2 + nbytes;
        uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        size_t i = 0;
        for (; i + 8 <= nbytes; i += 8) {
            const uint64_t w = nk_load64(q + i);
            c0 += NK_POPCOUNT64(w ^ nk_load64(x0 + i));
            c1 += NK_POPCOUNT64(w ^ nk_load64(x1 + i));
            c2 += NK_POPCOUNT64(w ^ nk_load64(x2 + i));
            c3 += NK_POPCOUNT64(w ^ nk_load64(x3 + i));
        }
        if (i < nbytes) {
            const size_t t = nbytes - i;
            const uint64_t w = nk_load_tail(q + i, t);
            c0 += NK_POPCOUNT64(w ^ nk_load_tail(x0 + i, t));
            c1 += NK_POPCOUNT64(w ^ nk_load_tail(x1 + i, t));
            c2 += NK_POPCOUNT64(w ^ nk_load_tail(x2 + i, t));
            c3 += NK_POPCOUNT64(w ^ nk_load_tail(x3 + i, t));
        }
        out[r] = (uint32_t)c0;
        out[r + 1] = (uint32_t)c1;
        out[r + 2] = (uint32_t)c2;
        out[r + 3] = (uint32_t)c3;
    }
    for (; r < n; r++) out[r] = nk_hamming(q, x + r * nbytes, nbytes);
}

static void nk_hamming_panels(uint32_t *out, size_t out_stride, const uint64_t *queries, size_t nq,
                              const uint64_t *panels, size_t npanels, size_t words) {
    for (size_t i = 0; i < nq; i++) {
        const uint64_t *q = queries + i * words;
        for (size_t p = 0; p < npanels; p++) {
            const uint64_t *panel = panels + p * words * 8;
            uint64_t c[8] = {0};
            for (size_t j = 0; j < words; j++)
                for (size_t r = 0; r < 8; r++) c[r] += NK_POPCOUNT64(q[j] ^ panel[j * 8 + r]);
            for (size_t r = 0; r < 8; r++) out[i * out_stride + p * 8 + r] = (uint32_t)c[r];
        }
    }
}

/* ---- code kernels ------------------------------------------------------------------------------ */

/* Elements [i, i + n) of a code decoded (kernels.h), n <= NK_PARTIALS. The sq formats' fma is
 * NK_FMA, correctly rounded on every target like the SIMD instructions. */
static inline void nk_decode_part(float *NK_RESTRICT out, int format, const uint8_t *code, const float *step,
                                  const float *base, size_t i, size_t n) {
    for (size_t j = 0; j < n; j++) {
        size_t e = i + j;
        uint16_t h;
        switch (format) {
        case NEARKIT_CODE_FP16:
            memcpy(&h, code + 2 * e, 2);
            out[j] = nearkit_half_to_float(h);
            break;
        case NEARKIT_CODE_BF16:
            memcpy(&h, code + 2 * e, 2);
            out[j] = nearkit_bf16_to_float(h);
            break;
        case NEARKIT_CODE_SQ8: out[j] = NK_FMA(step[e], (float)code[e], base[e]); break;
        default: out[j] = NK_FMA(step[e], (float)((code[e / 2] >> (4 * (e & 1))) & 0xf), base[e]); break;
        }
    }
}

void nearkit_code_decode(float *out, int format, const uint8_t *code, const float *step, const float *base,
                         size_t d) {
    for (size_t i = 0; i < d; i += NK_PARTIALS)
        nk_decode_part(out + i, format, code, step, base, i, d - i < NK_PARTIALS ? d - i : NK_PARTIALS);
}

/* A code row in the canonical order: each block of 32 elements decoded, then summed with the float
 * kernel's block function, so the result is that kernel's on the decoded vector. */
#define NK_DEFINE_CODE_ROW(NAME, BLOCK, ATTR)                                                   \
    ATTR static float NAME(int format, const float *q, const uint8_t *code, const float *step,   \
                           const float *base, size_t d) {                                        \
        float s[NK_PARTIALS] = {0}, x[NK_PARTIALS];                                              \
        for (size_t i = 0; i < d; i += NK_PARTIALS) {                                            \
            size_t n = d - i < NK_PARTIALS ? d - i : NK_PARTIALS;                                \
            nk_decode_part(x, format, code, step, base, i, n);                                   \
            BLOCK(s, q + i, x, n);                                                               \
        }                                                                                        \
        return nk_reduce(s);                                                                     \
    }

#if NK_FMA_DISPATCH
NK_DEFINE_CODE_ROW(nk_code_l2sq_soft, nk_l2sq_soft_block, )
NK_DEFINE_CODE_ROW(nk_code_l2sq_hw, nk_l2sq_hw_block, NK_FMA_TARGET)
NK_DEFINE_CODE_ROW(nk_code_dot_soft, nk_dot_soft_block, )
NK_DEFINE_CODE_ROW(nk_code_dot_hw, nk_dot_hw_block, NK_FMA_TARGET)
#define NK_CODE_ROW(NAME, hw) ((hw) ? NAME##_hw : NAME##_soft)
#else
NK_DEFINE_CODE_ROW(nk_code_l2sq_one, nk_l2sq_block, )
NK_DEFINE_CODE_ROW(nk_code_dot_one, nk_dot_block, )
#define NK_CODE_ROW(NAME, hw) ((void)(hw), NAME##_one)
#endif

#define NK_DEFINE_CODE_KERNEL(NAME, FORMAT)                                                     \
    static void NAME(float *out, const float *q, const uint8_t *codes, const float *step,       \
                     const float *base, size_t n, size_t d) {                                   \
        const int hw = nearkit_kernels_cpu_fma();                                               \
        const size_t cs = nearkit_code_size(FORMAT, d);                                         \
        for (size_t r = 0; r < n; r++)                                                          \
            out[r] = NK_KIND_ROW(hw)(FORMAT, q, codes + r * cs, step, base, d);                 \
    }
#define NK_KIND_ROW(hw) NK_CODE_ROW(nk_code_l2sq, hw)
NK_DEFINE_CODE_KERNEL(nk_fp16_l2sq, NEARKIT_CODE_FP16)
NK_DEFINE_CODE_KERNEL(nk_bf16_l2sq, NEARKIT_CODE_BF16)
NK_DEFINE_CODE_KERNEL(nk_sq8_l2sq, NEARKIT_CODE_SQ8)
NK_DEFINE_CODE_KERNEL(nk_sq4_l2sq, NEARKIT_CODE_SQ4)
#undef NK_KIND_ROW
#define NK_KIND_ROW(hw) NK_CODE_ROW(nk_code_dot, hw)
NK_DEFINE_CODE_KERNEL(nk_fp16_dot, NEARKIT_CODE_FP16)
NK_DEFINE_CODE_KERNEL(nk_bf16_dot, NEARKIT_CODE_BF16)
NK_DEFINE_CODE_KERNEL(nk_sq8_dot, NEARKIT_CODE_SQ8)
NK_DEFINE_CODE_KERNEL(nk_sq4_dot, NEARKIT_CODE_SQ4)
#undef NK_KIND_ROW

#define NK_DEFINE_CODE_DECODER(NAME, FORMAT)                                                    \
    static void NAME(float *out, const uint8_t *codes, const float *step, const float *base, size_t n, \
                     size_t d) {                                                                \
        const size_t cs = nearkit_code_size(FORMAT, d);                                         \
        for (size_t r = 0; r < n; r++) nearkit_code_decode(out + r * d, FORMAT, codes + r * cs, step, base, d); \
    }
NK_DEFINE_CODE_DECODER(nk_fp16_decode, NEARKIT_CODE_FP16)
NK_DEFINE_CODE_DECODER(nk_bf16_decode, NEARKIT_CODE_BF16)
NK_DEFINE_CODE_DECODER(nk_sq8_decode, NEARKIT_CODE_SQ8)
NK_DEFINE_CODE_DECODER(nk_sq4_decode, NEARKIT_CODE_SQ4)

/* ---- tile scans (kernels.h) -------------------------------------------------------------------- */

/* A count of the values at or below the bound per block: compilers vectorise a sum of
 * comparisons, where they leave an early exit scalar. */
static size_t nk_tile_skip(const float *r, const float *extra, float offset, float bound, size_t n) {
    for (size_t u = 0; u < n; u += 16) {
        int hits = 0;
        if (extra)
            for (size_t j = u; j < u + 16; j++) hits += offset + extra[j] + r[j] <= bound;
        else
            for (size_t j = u; j < u + 16; j++) hits += offset + r[j] <= bound;
        if (hits) return u;
    }
    return n;
}

/* ---- grid kernels (kernels.h) ------------------------------------------------------------------ */

static int64_t nk_grid_l2(const int16_t *t, const int16_t *w, const uint8_t *code, size_t d) {
    return nearkit_grid_l2_part(t, w, code, 0, d);
}

static int64_t nk_grid_dot(const int16_t *t, const uint8_t *code, size_t d) {
    return nearkit_grid_dot_part(t, code, 0, d);
}

/* ---- table ------------------------------------------------------------------------------------- */

static void nk_small_nearest_kernel(int l1, float *best, uint32_t *best_row, const float *queries,
                                    size_t nq, const float *x, uint32_t first_row, size_t n, size_t d) {
    nk_small_nearest(l1, best, best_row, queries, nq, x, first_row, n, d);
}

static void nk_u8s8_dot_pairs(int32_t *out, const uint8_t *const *a, const int8_t *const *b, size_t n, size_t d) {
    for (size_t r = 0; r < n; r++) out[r] = nearkit_u8s8_dot_part(a[r], b[r], 0, d);
}

extern const nearkit_kernel_table nearkit_kernel_table_scalar;
const nearkit_kernel_table nearkit_kernel_table_scalar = {
    "scalar",    NEARKIT_KERNELS_SCALAR, nk_l2sq,      nk_l1,         nk_linf,      nk_dot,
    nk_hamming,  nk_l2sq_many,           nk_l1_many,   nk_linf_many,  nk_dot_many,  nk_hamming_many,
    nk_hamming_panels, nearkit_hamming_pack_portable,
    {nk_fp16_l2sq, nk_bf16_l2sq, nk_sq8_l2sq, nk_sq4_l2sq},
    {nk_fp16_dot, nk_bf16_dot, nk_sq8_dot, nk_sq4_dot},
    nk_tile_skip,
    nk_small_nearest_kernel,
    {nk_fp16_decode, nk_bf16_decode, nk_sq8_decode, nk_sq4_decode},
    nk_l2sq_pairs,
    nk_dot_pairs,
    NULL, /* panel_scan: none, flat takes sgemm */
    nk_grid_l2,
    nk_grid_dot,
    nk_u8s8_dot_pairs,
};
