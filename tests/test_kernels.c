/* Tests of the distance kernels (core/kernels*.c) for every implementation this machine runs:
 *   - every kernel against a double-precision reference, for every length 0..300 (float counts
 *     and byte counts), with misaligned pointers, and on data ending at an unreadable page (Linux)
 *     to catch reads past the end;
 *   - every *_many kernel bit-identical to its single kernel, for many row counts, and never
 *     writing past out[n - 1];
 *   - the implementations against each other: every result bit-identical (kernels.c's canonical
 *     order), for every d up to 300 and some large ones, on data of mixed magnitudes and signs,
 *     with zeros, subnormals, overflow, infinities and NaN (any NaN matches any NaN);
 *   - the fused panel scan (AVX-512) against the same float operations in scalar code;
 *   - the choice of implementation: NEARKIT_KERNELS in the environment, nearkit_kernels_force()
 *     for every value, nearkit_kernels_name().
 * Returns 0 on success; prints every failure (up to a limit) and returns 1 otherwise. */
#if defined(__linux__)
#define _GNU_SOURCE /* setenv, mmap flags */
#endif

#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include "kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#define HAVE_GUARD_PAGES 1
#else
#define HAVE_GUARD_PAGES 0
#endif

#define MAX_D 300
#define MAX_ROWS 17
#define MAX_MISALIGN 7 /* floats */

static int failures = 0;

static void fail(const char *fmt, ...) {
    if (++failures > 50) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- random numbers (xorshift64*, deterministic) ----------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* A float in [-scale, scale); sometimes an exact small integer or zero, to get exact ties. */
static float rng_float(float scale) {
    const uint64_t r = rng_next();
    switch (r & 15) {
    case 0: return 0.0f;
    case 1: return (float)((int)((r >> 8) % 9) - 4);
    default: return scale * ((float)((r >> 40) & 0xffffff) / 8388608.0f - 1.0f);
    }
}

static void fill_floats(float *p, size_t n) {
    static const float scales[] = {1.0f, 1e-3f, 100.0f, 3.0e4f};
    const float scale = scales[rng_next() % 4];
    for (size_t i = 0; i < n; i++) p[i] = rng_float(scale);
}

static void fill_bytes(uint8_t *p, size_t n) {
    const uint64_t mode = rng_next() % 4;
    for (size_t i = 0; i < n; i++) {
        const uint8_t r = (uint8_t)(rng_next() >> 56);
        p[i] = mode == 0 ? 0xff : mode == 1 ? (uint8_t)(r & 0x11) : r;
    }
}

/* ---- references -------------------------------------------------------------------------------- */

enum { K_L2SQ, K_L1, K_LINF, K_DOT, K_FLOAT_KERNELS };
static const char *const kernel_names[] = {"l2sq", "l1", "linf", "dot"};

/* The exact-ish value (double) and the magnitude that scales its float rounding error. */
static void reference(int k, const float *a, const float *b, size_t d, double *value,
                      double *scale) {
    double v = 0.0, s = 0.0;
    for (size_t i = 0; i < d; i++) {
        const double x = a[i], y = b[i];
        switch (k) {
        case K_L2SQ: v += (x - y) * (x - y); break;
        case K_L1: v += fabs(x - y); break;
        case K_LINF: v = fmax(v, fabs(x - y)); break;
        default: v += x * y; s += fabs(x * y); break;
        }
    }
    *value = v;
    *scale = k == K_DOT ? s : v;
}

/* Float rounding bound: each term carries a few roundings (difference, product) and the sum of d
 * terms at most d - 1 more, each of at most eps/2 relative to the running magnitude. */
static double tolerance(size_t d, double scale) {
    return ((double)d + 4.0) * (double)FLT_EPSILON * scale + 1e-30;
}

static uint32_t ref_hamming(const uint8_t *a, const uint8_t *b, size_t n) {
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        for (uint8_t x = (uint8_t)(a[i] ^ b[i]); x; x = (uint8_t)(x & (x - 1))) c++;
    return c;
}

static float call_float(const nearkit_kernel_table *t, int k, const float *a, const float *b,
                        size_t d) {
    switch (k) {
    case K_L2SQ: return t->l2sq(a, b, d);
    case K_L1: return t->l1(a, b, d);
    case K_LINF: return t->linf(a, b, d);
    default: return t->dot(a, b, d);
    }
}

static void call_float_many(const nearkit_kernel_table *t, int k, float *out, const float *q,
                            const float *x, size_t n, size_t d) {
    switch (k) {
    case K_L2SQ: t->l2sq_many(out, q, x, n, d); break;
    case K_L1: t->l1_many(out, q, x, n, d); break;
    case K_LINF: t->linf_many(out, q, x, n, d); break;
    default: t->dot_many(out, q, x, n, d); break;
    }
}

static int same_bits(float x, float y) { return memcmp(&x, &y, sizeof x) == 0; }

/* ---- per-implementation checks ----------------------------------------------------------------- */

static float fbuf_a[MAX_D + 64], fbuf_b[MAX_D + 64];
static float fbuf_x[(MAX_D + 16) * MAX_ROWS + 64];
static uint8_t bbuf_a[MAX_D + 128], bbuf_b[MAX_D + 128];
static uint8_t bbuf_x[(MAX_D + 64) * MAX_ROWS + 128];

static void check_float_single(const nearkit_kernel_table *t) {
    for (size_t d = 0; d <= MAX_D; d++) {
        for (int rep = 0; rep < 4; rep++) {
            const size_t oa = (size_t)(rng_next() % (MAX_MISALIGN + 1));
            const size_t ob = (size_t)(rng_next() % (MAX_MISALIGN + 1));
            float *a = fbuf_a + oa, *b = fbuf_b + ob;
            fill_floats(a, d);
            fill_floats(b, d);
            for (int k = 0; k < K_FLOAT_KERNELS; k++) {
                double ref, scale;
                reference(k, a, b, d, &ref, &scale);
                const float got = call_float(t, k, a, b, d);
                const double tol = k == K_LINF ? (double)FLT_EPSILON * ref : tolerance(d, scale);
                if (!(fabs((double)got - ref) <= tol))
                    fail("%s %s d=%zu misalign=(%zu,%zu): got %.9g, reference %.9g (tol %.3g)",
                         t->name, kernel_names[k], d, oa, ob, (double)got, ref, tol);
                /* Swapping the arguments must not change a single bit. */
                const float swapped = call_float(t, k, b, a, d);
                if (!same_bits(got, swapped))
                    fail("%s %s d=%zu: f(a,b)=%.9g but f(b,a)=%.9g", t->name, kernel_names[k], d,
                         (double)got, (double)swapped);
                if (d == 0 && got != 0.0f)
                    fail("%s %s d=0 gave %.9g", t->name, kernel_names[k], (double)got);
            }
        }
    }
}

static const size_t row_counts[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, MAX_ROWS};

static void check_float_many(const nearkit_kernel_table *t) {
    float out[MAX_ROWS + 1];
    for (size_t d = 0; d <= MAX_D; d++) {
        for (size_t ni = 0; ni < sizeof row_counts / sizeof row_counts[0]; ni++) {
            const size_t n = row_counts[ni];
            const size_t oq = (size_t)(rng_next() % (MAX_MISALIGN + 1));
            const size_t ox = (size_t)(rng_next() % (MAX_MISALIGN + 1));
            float *q = fbuf_a + oq, *x = fbuf_x + ox;
            fill_floats(q, d);
            fill_floats(x, n * d);
            for (int k = 0; k < K_FLOAT_KERNELS; k++) {
                const float canary = -12345.0f;
                out[n] = canary;
                call_float_many(t, k, out, q, x, n, d);
                if (!same_bits(out[n], canary))
                    fail("%s %s_many n=%zu d=%zu wrote past the end", t->name, kernel_names[k], n,
                         d);
                for (size_t r = 0; r < n; r++) {
                    const float single = call_float(t, k, q, x + r * d, d);
                    if (!same_bits(out[r], single))
                        fail("%s %s_many n=%zu d=%zu row %zu: %.9g, single kernel %.9g", t->name,
                             kernel_names[k], n, d, r, (double)out[r], (double)single);
                    double ref, scale;
                    reference(k, q, x + r * d, d, &ref, &scale);
                    const double tol =
                        k == K_LINF ? (double)FLT_EPSILON * ref : tolerance(d, scale);
                    if (!(fabs((double)out[r] - ref) <= tol))
                        fail("%s %s_many n=%zu d=%zu row %zu: got %.9g, reference %.9g",
                             t->name, kernel_names[k], n, d, r, (double)out[r], ref);
                }
            }
        }
    }
}

/* The pairs kernels give each pair the single kernel's bits, whatever the pointers: rows in any
 * order against one plane (a shared first argument), and one row against several (a shared
 * second), for every count (blocks and the padded last block). */
static void check_float_pairs(const nearkit_kernel_table *t) {
    float out[MAX_ROWS + 1];
    const float *a[MAX_ROWS], *b[MAX_ROWS];
    for (size_t d = 0; d <= MAX_D; d++) {
        for (size_t ni = 0; ni < sizeof row_counts / sizeof row_counts[0]; ni++) {
            const size_t n = row_counts[ni];
            fill_floats(fbuf_a, d + 16);
            fill_floats(fbuf_x, (d + 16) * MAX_ROWS);
            for (size_t r = 0; r < n; r++) {
                const size_t row = (size_t)(rng_next() % MAX_ROWS), shift = (size_t)(rng_next() % 16);
                const float *x = fbuf_x + row * (d + 16) + shift;
                const int shared_second = (int)(rng_next() & 1);
                a[r] = shared_second ? x : fbuf_a + (ni % 16);
                b[r] = shared_second ? fbuf_a + (ni % 16) : x;
            }
            for (int k = 0; k < 2; k++) {
                const float canary = -12345.0f;
                out[n] = canary;
                if (k == 0) t->l2sq_pairs(out, a, b, n, d);
                else t->dot_pairs(out, a, b, n, d);
                if (!same_bits(out[n], canary)) fail("%s pairs n=%zu d=%zu wrote past the end", t->name, n, d);
                for (size_t r = 0; r < n; r++) {
                    const float single = k == 0 ? t->l2sq(a[r], b[r], d) : t->dot(a[r], b[r], d);
                    if (!same_bits(out[r], single))
                        fail("%s %s_pairs n=%zu d=%zu pair %zu: %.9g, single kernel %.9g", t->name,
                             k == 0 ? "l2sq" : "dot", n, d, r, (double)out[r], (double)single);
                }
            }
        }
    }
}

/* The row-code kernel gives each pair its exact integer sum: random codes, and the largest
 * products (255 against -128 and 127) at the largest dimension allowed, for every count and every
 * tail of the vector loops; a shared first or second argument, as the rpforest build passes. */
static void check_u8s8_pairs(const nearkit_kernel_table *t) {
    static uint8_t a_codes[MAX_ROWS][NEARKIT_U8S8_D_MAX];
    static int8_t b_codes[MAX_ROWS][NEARKIT_U8S8_D_MAX];
    int32_t out[MAX_ROWS + 1];
    const uint8_t *a[MAX_ROWS];
    const int8_t *b[MAX_ROWS];
    const size_t dims[] = {0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 300, 784, NEARKIT_U8S8_D_MAX};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const size_t d = dims[di];
        for (int mode = 0; mode < 3; mode++) { /* random; 255 x -128; 255 x 127 */
            for (size_t r = 0; r < MAX_ROWS; r++)
                for (size_t i = 0; i < d; i++) {
                    const uint64_t v = rng_next();
                    a_codes[r][i] = mode ? 255 : (uint8_t)v;
                    b_codes[r][i] = mode == 1 ? -128 : mode == 2 ? 127 : (int8_t)(v >> 8);
                }
            for (size_t ni = 0; ni < sizeof row_counts / sizeof row_counts[0]; ni++) {
                const size_t n = row_counts[ni];
                const int shared = (int)(rng_next() % 3); /* none, the first, the second */
                for (size_t r = 0; r < n; r++) {
                    a[r] = a_codes[shared == 1 ? 0 : rng_next() % MAX_ROWS];
                    b[r] = b_codes[shared == 2 ? 0 : rng_next() % MAX_ROWS];
                }
                out[n] = -12345;
                t->u8s8_dot_pairs(out, a, b, n, d);
                if (out[n] != -12345) fail("%s u8s8_dot_pairs n=%zu d=%zu wrote past the end", t->name, n, d);
                for (size_t r = 0; r < n; r++) {
                    int64_t want = 0;
                    for (size_t i = 0; i < d; i++) want += (int64_t)a[r][i] * b[r][i];
                    if (out[r] != want)
                        fail("%s u8s8_dot_pairs n=%zu d=%zu pair %zu: %ld, exact %lld", t->name, n, d, r,
                             (long)out[r], (long long)want);
                }
            }
        }
    }
}

/* The per-row form for rows read from memory gives the block form's values, for every metric. */
static void check_metric_distances_streamed(const nearkit_kernel_table *t) {
    static const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_L1, NEARKIT_METRIC_LINF,
                                             NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    float block[MAX_ROWS], streamed[MAX_ROWS];
    for (size_t d = 1; d <= MAX_D; d += 7) {
        for (size_t ni = 0; ni < sizeof row_counts / sizeof row_counts[0]; ni++) {
            const size_t n = row_counts[ni];
            float *q = fbuf_a, *x = fbuf_x;
            fill_floats(q, d);
            fill_floats(x, n * d);
            for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
                nearkit_metric_distances(block, NULL, t, metrics[m], q, x, n, d, d * sizeof(float));
                nearkit_metric_distances_streamed(streamed, NULL, t, metrics[m], q, x, n, d, d * sizeof(float));
                for (size_t r = 0; r < n; r++)
                    if (!same_bits(block[r], streamed[r]))
                        fail("%s metric %d n=%zu d=%zu row %zu: streamed %.9g, block %.9g", t->name,
                             (int)metrics[m], n, d, r, (double)streamed[r], (double)block[r]);
            }
        }
    }
}

static void check_hamming(const nearkit_kernel_table *t) {
    for (size_t nb = 0; nb <= MAX_D; nb++) {
        for (int rep = 0; rep < 4; rep++) {
            const size_t oa = (size_t)(rng_next() % 64), ob = (size_t)(rng_next() % 64);
            uint8_t *a = bbuf_a + oa, *b = bbuf_b + ob;
            fill_bytes(a, nb);
            fill_bytes(b, nb);
            const uint32_t want = ref_hamming(a, b, nb);
            const uint32_t got = t->hamming(a, b, nb);
            if (got != want)
                fail("%s hamming nbytes=%zu misalign=(%zu,%zu): got %u, want %u", t->name, nb, oa,
                     ob, (unsigned)got, (unsigned)want);
        }
        uint32_t out[MAX_ROWS + 1];
        for (size_t ni = 0; ni < sizeof row_counts / sizeof row_counts[0]; ni++) {
            const size_t n = row_counts[ni];
            const size_t oq = (size_t)(rng_next() % 64), ox = (size_t)(rng_next() % 64);
            uint8_t *q = bbuf_a + oq, *x = bbuf_x + ox;
            fill_bytes(q, nb);
            fill_bytes(x, n * nb);
            out[n] = 0xdeadbeefu;
            t->hamming_many(out, q, x, n, nb);
            if (out[n] != 0xdeadbeefu)
                fail("%s hamming_many n=%zu nbytes=%zu wrote past the end", t->name, n, nb);
            for (size_t r = 0; r < n; r++) {
                const uint32_t want = ref_hamming(q, x + r * nb, nb);
                if (out[r] != want)
                    fail("%s hamming_many n=%zu nbytes=%zu row %zu: got %u, want %u", t->name, n,
                         nb, r, (unsigned)out[r], (unsigned)want);
            }
        }
    }
    /* Long vectors: no counter overflows; every bit different. */
    const size_t big = 70000 + 13;
    uint8_t *a = malloc(big), *b = malloc(big * 5);
    if (!a || !b) {
        fail("out of memory");
        free(a);
        free(b);
        return;
    }
    memset(a, 0xff, big);
    memset(b, 0x00, big * 5);
    uint32_t got = t->hamming(a, b, big), out[5];
    if (got != 8u * big) fail("%s hamming nbytes=%zu: got %u", t->name, big, (unsigned)got);
    t->hamming_many(out, a, b, 5, big);
    for (int r = 0; r < 5; r++)
        if (out[r] != 8u * big)
            fail("%s hamming_many nbytes=%zu row %d: got %u", t->name, big, r, (unsigned)out[r]);
    free(a);
    free(b);
}

/* hamming_panels against the reference: every code length up to MAX_D bytes, row counts that
 * leave partial panels, 1 to 13 queries (every grouping of the kernels), a padded out_stride. */
static void check_hamming_panels(const nearkit_kernel_table *t) {
    enum { MAX_Q = 13 };
    static const uint8_t zero_code[MAX_D] = {0};
    static const size_t query_counts[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, MAX_Q};
    size_t max_words = nearkit_hamming_words(MAX_D), max_panels = nearkit_hamming_panels(MAX_ROWS);
    uint64_t *panels = aligned_alloc(64, max_panels * max_words * 8 * sizeof(uint64_t));
    uint64_t *queries = malloc(MAX_Q * max_words * sizeof(uint64_t));
    uint8_t *codes = malloc((size_t)MAX_Q * MAX_D + 1);
    const size_t stride = max_panels * 8 + 3;
    uint32_t *out = malloc(MAX_Q * stride * sizeof(uint32_t));
    if (!panels || !queries || !codes || !out) {
        fail("out of memory");
        goto done;
    }
    for (size_t nb = 1; nb <= MAX_D; nb += nb < 72 ? 1 : 13) {
        const size_t words = nearkit_hamming_words(nb);
        for (size_t ni = 0; ni < sizeof row_counts / sizeof row_counts[0]; ni++) {
            const size_t n = row_counts[ni], np = nearkit_hamming_panels(n);
            const size_t nq = query_counts[(nb + ni) % (sizeof query_counts / sizeof query_counts[0])];
            fill_bytes(bbuf_x, n * nb);
            fill_bytes(codes, nq * nb);
            t->hamming_pack(panels, bbuf_x, n, nb);
            for (size_t i = 0; i < nq; i++) nearkit_hamming_pack_query(queries + i * words, codes + i * nb, nb);
            for (size_t i = 0; i < nq * stride; i++) out[i] = 0xdeadbeefu;
            t->hamming_panels(out, stride, queries, nq, panels, np, words);
            for (size_t i = 0; i < nq; i++) {
                const uint8_t *q = codes + i * nb;
                const uint32_t to_padding = ref_hamming(q, zero_code, nb); /* padding codes are zero */
                for (size_t r = 0; r < np * 8; r++) {
                    const uint32_t want = r < n ? ref_hamming(q, bbuf_x + r * nb, nb) : to_padding;
                    if (out[i * stride + r] != want)
                        fail("%s hamming_panels nbytes=%zu n=%zu nq=%zu query %zu code %zu: got %u, "
                             "want %u", t->name, nb, n, nq, i, r, (unsigned)out[i * stride + r],
                             (unsigned)want);
                }
                for (size_t r = np * 8; r < stride; r++)
                    if (out[i * stride + r] != 0xdeadbeefu)
                        fail("%s hamming_panels nbytes=%zu n=%zu: wrote past its panels", t->name, nb, n);
            }
        }
    }
done:
    free(panels);
    free(queries);
    free(codes);
    free(out);
}

#if HAVE_GUARD_PAGES
/* Inputs that end exactly where an inaccessible page begins: any read past the end crashes. */
static void check_guard_pages(const nearkit_kernel_table *t) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t bytes = 2 * page * (((MAX_D + 16) * MAX_ROWS * sizeof(float)) / page + 2);
    uint8_t *map = mmap(NULL, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    if (map == MAP_FAILED) {
        fail("mmap failed");
        return;
    }
    if (mprotect(map + bytes, page, PROT_NONE) != 0) {
        fail("mprotect failed");
        munmap(map, bytes + page);
        return;
    }
    uint8_t *end = map + bytes;
    float out[4];
    uint32_t iout[4];
    for (size_t d = 0; d <= MAX_D; d++) {
        /* a and the rows both end at the guard page, in turn. */
        float *a = (float *)(void *)end - d;
        float *x = (float *)(void *)end - 4 * d;
        fill_floats(x, 4 * d);
        for (int k = 0; k < K_FLOAT_KERNELS; k++) {
            volatile float sink = call_float(t, k, a, fbuf_b, d) + call_float(t, k, fbuf_b, a, d);
            (void)sink;
            call_float_many(t, k, out, fbuf_b, x, 4, d);
            call_float_many(t, k, out, a, x, 4, d);
            call_float_many(t, k, out, a, x + 3 * d, 1, d);
        }
        uint8_t *ba = end - d, *bx = end - 5 * d;
        fill_bytes(bx, 5 * d);
        volatile uint32_t sink = t->hamming(ba, bbuf_b, d) + t->hamming(bbuf_b, ba, d);
        (void)sink;
        t->hamming_many(iout, ba, bx, 4, d);
        t->hamming_many(iout, ba, bx + d, 4, d);
        t->hamming_many(iout, bbuf_b, ba, 1, d);
        /* the row-code kernel: each side's codes ending at the guard page */
        const uint8_t *rows[2] = {ba, bbuf_b};
        const int8_t *planes[2] = {(const int8_t *)bbuf_b, (const int8_t *)ba};
        int32_t dots[2];
        t->u8s8_dot_pairs(dots, rows, planes, 2, d);
    }
    munmap(map, bytes + page);
}
#endif

/* ---- implementations against each other -------------------------------------------------------- */

/* Equal bits, or both NaN (the NaN's payload is not part of the contract). */
static int same_result(float x, float y) { return same_bits(x, y) || (x != x && y != y); }

enum { MIX_ONE_SCALE, MIX_MAGNITUDES, MIX_EXTREMES, MIX_SPECIALS, MIX_KINDS };
static const char *const mix_names[] = {"one scale", "mixed magnitudes", "extremes", "inf/nan"};

/* Data for the cross checks: one scale a vector (as elsewhere), magnitudes from 2^-40 to 2^40
 * mixed in one vector, extremes (near the float limits, so that squares and sums overflow, and
 * subnormals), or a few infinities and NaN among ordinary values. Signs mixed, some zeros. */
static void fill_mixed(float *p, size_t n, int mix) {
    if (mix == MIX_ONE_SCALE) {
        fill_floats(p, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const uint64_t r = rng_next();
        const float sign = (r & 1) ? -1.0f : 1.0f;
        const float mant = 1.0f + (float)((r >> 8) & 0xffffff) / 16777216.0f;
        const int e = (int)((r >> 40) % 81) - 40;
        float v;
        switch (mix) {
        case MIX_MAGNITUDES:
            v = ((r >> 32) & 7) == 0 ? 0.0f : sign * ldexpf(mant, e);
            break;
        case MIX_EXTREMES:
            v = ((r >> 32) & 3) == 0   ? sign * mant * 1e19f   /* squares overflow */
                : ((r >> 32) & 3) == 1 ? sign * mant * 1e-40f  /* subnormal */
                : ((r >> 32) & 3) == 2 ? sign * FLT_MAX / mant /* differences overflow */
                                       : sign * 0.0f;
            break;
        default:
            v = ((r >> 32) & 63) == 0   ? sign * INFINITY
                : ((r >> 32) & 63) == 1 ? NAN
                                        : sign * ldexpf(mant, e / 4);
            break;
        }
        p[i] = v;
    }
}

/* The single and *_many kernels of t and ref on the same data, bit for bit: each against the other
 * and many against single. linf only on finite data: its NaN handling differs between
 * implementations (the library never passes it NaN: indexes refuse non-finite vectors). */
static void check_identical_d(const nearkit_kernel_table *t, const nearkit_kernel_table *ref,
                              float *a, float *b, float *x, float *out_t, float *out_r, size_t d,
                              int mix) {
    static const size_t counts[] = {1, 2, 3, 4, 5, 7, 8, 9, 13};
    fill_mixed(a, d, mix);
    fill_mixed(b, d, mix);
    const size_t n = counts[(d + (size_t)mix) % (sizeof counts / sizeof counts[0])];
    fill_mixed(x, n * d, mix);
    for (int k = 0; k < K_FLOAT_KERNELS; k++) {
        if (k == K_LINF && mix == MIX_SPECIALS) continue;
        const float got = call_float(t, k, a, b, d), want = call_float(ref, k, a, b, d);
        if (!same_result(got, want))
            fail("%s vs %s: %s d=%zu (%s): %.9g vs %.9g", t->name, ref->name, kernel_names[k], d,
                 mix_names[mix], (double)got, (double)want);
        call_float_many(t, k, out_t, a, x, n, d);
        call_float_many(ref, k, out_r, a, x, n, d);
        for (size_t r = 0; r < n; r++) {
            const float single = call_float(ref, k, a, x + r * d, d);
            if (!same_result(out_t[r], out_r[r]) || !same_result(out_t[r], single))
                fail("%s vs %s: %s_many n=%zu d=%zu (%s) row %zu: %.9g vs %.9g (single %.9g)",
                     t->name, ref->name, kernel_names[k], n, d, mix_names[mix], r,
                     (double)out_t[r], (double)out_r[r], (double)single);
        }
    }
}

static void check_identical(const nearkit_kernel_table *t, const nearkit_kernel_table *ref) {
    static const size_t large[] = {511, 512, 513, 1000, 1023, 4099, 70001};
    const size_t max_d = 70001, max_n = 13;
    float *a = malloc(max_d * sizeof(float)), *b = malloc(max_d * sizeof(float));
    float *x = malloc(max_n * max_d * sizeof(float));
    float out_t[13], out_r[13];
    if (!a || !b || !x) {
        fail("out of memory");
        goto done;
    }
    for (int mix = 0; mix < MIX_KINDS; mix++) {
        for (size_t d = 1; d <= MAX_D; d++)
            check_identical_d(t, ref, a + d % 3, b + d % 5, x + d % 7, out_t, out_r, d, mix);
        for (size_t i = 0; i < sizeof large / sizeof large[0]; i++)
            check_identical_d(t, ref, a, b, x, out_t, out_r, large[i] - 1 + (size_t)(mix == 0),
                              mix);
    }
done:
    free(a);
    free(b);
    free(x);
}

/* Hamming is exact, so equal across implementations. */
static void check_cross_hamming(const nearkit_kernel_table *t, const nearkit_kernel_table *ref) {
    for (size_t d = 0; d <= MAX_D; d += 1 + d / 16) {
        uint8_t *ba = bbuf_a + 5, *bb = bbuf_b + 9;
        fill_bytes(ba, d);
        fill_bytes(bb, d);
        if (t->hamming(ba, bb, d) != ref->hamming(ba, bb, d))
            fail("%s vs %s: hamming nbytes=%zu differs", t->name, ref->name, d);
    }
}

/* ---- the choice of implementation -------------------------------------------------------------- */

static const char *expected_name(int32_t which) {
    return which == NEARKIT_KERNELS_SCALAR ? "scalar"
           : which == NEARKIT_KERNELS_AVX2 ? "avx2"
                                           : "avx512";
}

static void check_dispatch(void) {
    const nearkit_kernel_table *best = nearkit_kernels_table(NEARKIT_KERNELS_AUTO);
    if (best == NULL) {
        fail("nearkit_kernels_table(AUTO) is NULL");
        return;
    }
    const nearkit_kernel_table *want_best = nearkit_kernels_table(NEARKIT_KERNELS_AVX512);
    if (!want_best) want_best = nearkit_kernels_table(NEARKIT_KERNELS_AVX2);
    if (!want_best) want_best = nearkit_kernels_table(NEARKIT_KERNELS_SCALAR);
    if (best != want_best) fail("AUTO is %s, but %s is available", best->name, want_best->name);
    if (nearkit_kernels_table(NEARKIT_KERNELS_SCALAR) == NULL) fail("no scalar table");

    for (int32_t which = NEARKIT_KERNELS_SCALAR; which <= NEARKIT_KERNELS_AVX512; which++) {
        const nearkit_kernel_table *t = nearkit_kernels_table(which);
        const nearkit_kernel_table *before = nearkit_kernels();
        const nearkit_status st = nearkit_kernels_force(which);
        if (t != NULL) {
            if (st != NEARKIT_OK)
                fail("force(%s) failed: %s", expected_name(which), nearkit_last_error_message());
            if (t->id != which || strcmp(t->name, expected_name(which)) != 0)
                fail("table %d is named %s with id %d", (int)which, t->name, (int)t->id);
            if (nearkit_kernels() != t) fail("force(%s) not in effect", expected_name(which));
            if (strcmp(nearkit_kernels_name(), expected_name(which)) != 0)
                fail("after force(%s) the name is %s", expected_name(which),
                     nearkit_kernels_name());
        } else {
            printf("kernels.%s=unsupported\n", expected_name(which));
            if (st != NEARKIT_ERR_UNSUPPORTED || nearkit_last_error_status() != st ||
                nearkit_last_error_message()[0] == '\0')
                fail("force(%s) on a CPU without it: status %d, message '%s'",
                     expected_name(which), (int)st, nearkit_last_error_message());
            if (nearkit_kernels() != before) fail("a failed force changed the kernels");
        }
    }
    const int32_t bad[] = {-1, 4, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const nearkit_kernel_table *before = nearkit_kernels();
        const nearkit_status st = nearkit_kernels_force(bad[i]);
        if (st != NEARKIT_ERR_INVALID_ARGUMENT || nearkit_last_error_status() != st ||
            nearkit_last_error_message()[0] == '\0')
            fail("force(%d): status %d, message '%s'", (int)bad[i], (int)st,
                 nearkit_last_error_message());
        if (nearkit_kernels() != before) fail("a failed force changed the kernels");
        if (nearkit_kernels_table(bad[i]) != NULL) fail("table(%d) is not NULL", (int)bad[i]);
    }
    if (nearkit_kernels_force(NEARKIT_KERNELS_AUTO) != NEARKIT_OK) fail("force(AUTO) failed");
    if (nearkit_kernels() != best) fail("force(AUTO) did not restore %s", best->name);
    if (strcmp(nearkit_kernels_name(), best->name) != 0) fail("name after AUTO");
    if (nearkit_last_error_status() != NEARKIT_OK) fail("a success left an error status");
}

/* ---- small_nearest: the row l2sq_many / l1_many rank first ------------------------------------- */

/* For d 1..4, both metrics, query counts around the kernel's group of 64 and row counts around its
 * lanes, on finite data of every mix (extremes overflow to +inf: ties among infinities) and on small
 * integers (exact ties): best value and row as a loop over the *_many values finds them, the value
 * bit for bit, a tie kept by the earlier row, a running best from an earlier block kept when no
 * row is below it, and rows numbered from first_row. */
static void check_small_nearest(const nearkit_kernel_table *t) {
    enum { MAX_Q = 131, MAX_N = 37 };
    static const size_t query_counts[] = {0, 1, 3, 8, 63, 64, 65, 131};
    static const size_t small_rows[] = {1, 2, 7, 9, 37};
    static float q[MAX_Q * NEARKIT_SMALL_D], x[MAX_N * NEARKIT_SMALL_D], values[MAX_N];
    static float best[MAX_Q], want_best[MAX_Q];
    static uint32_t row[MAX_Q], want_row[MAX_Q];
    for (size_t d = 1; d <= NEARKIT_SMALL_D; d++)
        for (int l1 = 0; l1 < 2; l1++)
            for (int mix = 0; mix <= MIX_KINDS; mix++) {
                if (mix == MIX_SPECIALS) continue; /* indexes hold finite vectors only */
                for (size_t qi = 0; qi < sizeof query_counts / sizeof *query_counts; qi++)
                    for (size_t ni = 0; ni < sizeof small_rows / sizeof *small_rows; ni++) {
                        size_t nq = query_counts[qi], n = small_rows[ni];
                        if (mix == MIX_KINDS) { /* small integers: many exact ties */
                            for (size_t i = 0; i < nq * d; i++) q[i] = (float)(int)(rng_next() % 5);
                            for (size_t i = 0; i < n * d; i++) x[i] = (float)(int)(rng_next() % 5);
                        } else {
                            fill_mixed(q, nq * d, mix);
                            fill_mixed(x, n * d, mix);
                        }
                        const uint32_t first_row = (uint32_t)(rng_next() % 3) * 1000u;
                        for (size_t i = 0; i < nq; i++) {
                            /* half the queries come with a running best from an earlier block */
                            best[i] = want_best[i] = (i & 1) ? (float)(int)(rng_next() % 8) : INFINITY;
                            row[i] = want_row[i] = (i & 1) ? 7u : 0u;
                            call_float_many(t, l1 ? K_L1 : K_L2SQ, values, q + i * d, x, n, d);
                            for (size_t j = 0; j < n; j++)
                                if (values[j] < want_best[i]) {
                                    want_best[i] = values[j];
                                    want_row[i] = first_row + (uint32_t)j;
                                }
                        }
                        t->small_nearest(l1, best, row, q, nq, x, first_row, n, d);
                        for (size_t i = 0; i < nq; i++)
                            if (!same_bits(best[i], want_best[i]) || row[i] != want_row[i])
                                fail("%s small_nearest d=%zu l1=%d mix=%d nq=%zu n=%zu query %zu: row %u "
                                     "value %a, want row %u value %a",
                                     t->name, d, l1, mix, nq, n, i, row[i], (double)best[i], want_row[i],
                                     (double)want_best[i]);
                    }
            }
}

/* ---- tile_skip: the block the direct test finds, with and without extra ------------------------- */

static void check_tile_skip(const nearkit_kernel_table *t) {
    enum { N = 256 };
    float r[N], extra[N];
    for (int trial = 0; trial < 400; trial++) {
        for (int i = 0; i < N; i++) {
            r[i] = (float)(int)(rng_next() % 2001) - 1000.0f;
            extra[i] = (float)(int)(rng_next() % 2001) * 0.25f;
        }
        /* bounds near the values, so that ties (value == bound) and lone passing values occur */
        float offset = trial % 3 == 0 ? 0.0f : trial % 3 == 1 ? 1.0f : 0.1f;
        float bound = (float)(int)(rng_next() % 400) - 1100.0f + (float)(trial % 7) * 50.0f;
        size_t n = (size_t)(trial % 17) * 16;
        for (int with = 0; with < 2; with++) {
            const float *e = with ? extra : NULL;
            size_t want = n;
            for (size_t j = 0; j < n && want == n; j++)
                if ((e ? offset + e[j] + r[j] : offset + r[j]) <= bound) want = j & ~(size_t)15;
            size_t got = t->tile_skip(r, e, offset, bound, n);
            if (got != want)
                fail("%s tile_skip n=%zu extra=%d: %zu, want %zu", t->name, n, with, got, want);
        }
    }
}

/* ---- panel_scan: its tile and mask against the same operations in scalar code ------------------ */

/* The values the contract promises: fmaf per dimension in order, then fmaf(alpha, dot, extra) and
 * the offset; compared bit for bit, so any reordering inside the kernel shows. */
static void check_panel_scan(const nearkit_kernel_table *t) {
    if (!t->panel_scan) return;
    enum { R = NEARKIT_PANEL_ROWS, Q = NEARKIT_PANEL_QUERIES, D = 131, LD = D + 3 };
    static const size_t dims[] = {1, 2, 15, 16, 17, 64, 100, D};
    float *panel = aligned_alloc(64, sizeof(float) * Q * D), x[R * LD], extra[R], offset[Q], bound[Q];
    float tile[R * Q], want[R * Q];
    for (int trial = 0; trial < 64; trial++) {
        size_t d = dims[trial % 8], nr = 1 + (size_t)trial % R;
        int with_extra = trial % 3 != 0;
        float alpha = trial % 2 ? -2.0f : -1.0f;
        for (size_t i = 0; i < (size_t)R * LD; i++) x[i] = (float)((int)(rng_next() % 2001) - 1000) / 64.0f;
        for (size_t i = 0; i < (size_t)Q * D; i++) panel[i] = (float)((int)(rng_next() % 2001) - 1000) / 128.0f;
        for (int i = 0; i < R; i++) extra[i] = (float)(rng_next() % 1000) * 0.5f;
        for (int j = 0; j < Q; j++) offset[j] = trial % 4 == 1 ? 1.0f : (float)(rng_next() % 100);
        memset(tile, 0xff, sizeof tile);
        for (size_t i = 0; i < nr; i++)
            for (int j = 0; j < Q; j++) {
                float dot = 0.0f;
                for (size_t k = 0; k < d; k++) dot = fmaf(x[i * LD + k], panel[k * Q + j], dot);
                want[i * Q + j] = fmaf(alpha, dot, with_extra ? extra[i] : 0.0f) + offset[j];
            }
        /* bounds at a value of the column (a tie), just below its least, +inf, and NaN */
        uint64_t want_mask = 0;
        for (int j = 0; j < Q; j++) {
            float least = INFINITY;
            for (size_t i = 0; i < nr; i++) least = fminf(least, want[i * Q + j]);
            int kind = (int)(rng_next() % 4);
            bound[j] = kind == 0   ? want[(rng_next() % nr) * Q + j]
                       : kind == 1 ? nextafterf(least, -INFINITY)
                       : kind == 2 ? INFINITY
                                   : NAN;
            if (least <= bound[j]) want_mask |= (uint64_t)1 << j;
        }
        uint64_t mask = t->panel_scan(tile, x, nr, LD, panel, d, with_extra ? extra : NULL, alpha, offset, bound);
        if (mask != want_mask)
            fail("%s panel_scan d=%zu nr=%zu: mask %llx, want %llx", t->name, d, nr,
                 (unsigned long long)mask, (unsigned long long)want_mask);
        if (memcmp(tile, want, nr * Q * sizeof(float)) != 0)
            fail("%s panel_scan d=%zu nr=%zu: tile differs from the scalar operations", t->name, d, nr);
        for (size_t i = nr * Q; i < (size_t)R * Q; i++) /* rows past nr untouched */
            if (tile[i] == tile[i]) fail("%s panel_scan d=%zu nr=%zu: wrote tile[%zu]", t->name, d, nr, i);
    }
    free(panel);
}

int main(void) {
    /* The environment variable is read at the first use, which is the one just below. */
#if defined(__linux__)
    if (setenv("NEARKIT_KERNELS", "Scalar", 1) == 0) {
        const nearkit_kernel_table *first = nearkit_kernels();
        if (first != nearkit_kernels_table(NEARKIT_KERNELS_SCALAR))
            fail("NEARKIT_KERNELS=Scalar gave %s", first->name);
    }
#endif
    printf("kernels.auto=%s\n", nearkit_kernels_table(NEARKIT_KERNELS_AUTO)->name);

    for (int32_t which = NEARKIT_KERNELS_SCALAR; which <= NEARKIT_KERNELS_AVX512; which++) {
        const nearkit_kernel_table *t = nearkit_kernels_table(which);
        if (t == NULL) continue;
        const int before = failures;
        check_float_single(t);
        check_float_many(t);
        check_float_pairs(t);
        check_u8s8_pairs(t);
        check_metric_distances_streamed(t);
        check_hamming(t);
        check_hamming_panels(t);
        check_tile_skip(t);
        check_panel_scan(t);
        check_small_nearest(t);
#if HAVE_GUARD_PAGES
        check_guard_pages(t);
#endif
        printf("kernels.%s=%s\n", t->name, failures == before ? "ok" : "FAILED");
    }
    /* Every pair of implementations this CPU runs, bit for bit. */
    for (int32_t i = NEARKIT_KERNELS_SCALAR; i <= NEARKIT_KERNELS_AVX512; i++)
        for (int32_t j = i + 1; j <= NEARKIT_KERNELS_AVX512; j++) {
            const nearkit_kernel_table *ti = nearkit_kernels_table(i), *tj = nearkit_kernels_table(j);
            if (ti == NULL || tj == NULL) continue;
            const int before = failures;
            check_identical(tj, ti);
            check_cross_hamming(tj, ti);
            printf("kernels.%s_vs_%s=%s\n", tj->name, ti->name,
                   failures == before ? "identical" : "FAILED");
        }
    /* The scalar kernels' code for CPUs without FMA instructions (an exact fma from double
     * arithmetic), against the best implementation here, where the CPU has FMA (else it ran
     * above already). */
    if (nearkit_kernels_cpu_fma()) {
        const nearkit_kernel_table *scalar = nearkit_kernels_table(NEARKIT_KERNELS_SCALAR);
        const nearkit_kernel_table *best = nearkit_kernels_table(NEARKIT_KERNELS_AUTO);
        nearkit_kernels_test_no_fma(1);
        if (nearkit_kernels_cpu_fma()) fail("nearkit_kernels_test_no_fma(1) had no effect");
        const int before = failures;
        check_float_single(scalar);
        check_float_many(scalar);
        check_float_pairs(scalar);
        if (best != scalar) check_identical(best, scalar);
        nearkit_kernels_test_no_fma(0);
        printf("kernels.scalar_without_fma_vs_%s=%s\n", best->name,
               failures == before ? "identical" : "FAILED");
    }
    check_dispatch();

    if (failures) {
        fprintf(stderr, "test_kernels: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_kernels: all passed\n");
    return 0;
}
