/* Run-time choice of the distance-kernel implementation.
 *
 * What is relied on to decide that an implementation can run:
 *   - __builtin_cpu_supports() (GCC >= 8, Clang >= 8) for the CPUID feature bits: "fma" for the
 *     scalar table's fused multiply-adds; "avx2", "fma", "popcnt" for the avx2 table, and F16C (CPUID.1:ECX bit 29, read directly) for its fp16 code kernels;
 *     additionally "avx512f", "avx512bw", "avx512vl", "avx512vpopcntdq" and "avx512vnni" for the
 *     avx512 table (every CPU with the first four has had VNNI too: Ice Lake, Zen 4 and later).
 *     Recent libgcc and compiler-rt already clear the AVX and AVX-512 bits when the OS does not
 *     save the wider register state, but older runtimes did not, so we do not rely on it:
 *   - the OS support is checked here directly: CPUID.1:ECX.OSXSAVE must be set, and XCR0 (read
 *     with XGETBV) must have the SSE and AVX state bits (1, 2) for fma and avx2, and in addition
 *     the opmask, ZMM_Hi256 and Hi16_ZMM bits (5, 6, 7) for avx512.
 * On other architectures (32-bit x86 included) or compilers only the scalar table exists.
 *
 * The choice is made once, on first use, and published with a C11 atomic pointer: concurrent
 * first calls compute the same answer and one compare-exchange wins. The environment variable
 * NEARKIT_KERNELS=scalar|avx2|avx512 (read at that first use, case-insensitive) replaces the
 * automatic choice when the CPU can run the named implementation, and is ignored otherwise.
 * nearkit_kernels_force() replaces the choice at any time (AUTO: the best the CPU runs,
 * regardless of the environment variable).
 *
 * Properties every implementation keeps (the tests check them):
 *   - every float kernel gives the same bits in every implementation, for every d and every
 *     input (a NaN result is a NaN, its payload unspecified; linf is only specified for the
 *     finite inputs the library passes it): l2sq, l1 and dot by following the canonical order
 *     below, linf and hamming because they are exact. So an exact search returns the same ids,
 *     distances and tie order whatever the CPU and whichever table is in use;
 *   - within one implementation, a *_many kernel gives bit-identical results to the single
 *     kernel on the same row (argument order does not matter either), so distances computed
 *     one way or the other never disagree;
 *   - they agree with a double-precision reference within float rounding.
 *
 * The canonical order of l2sq, l1 and dot: the term of element i is fma(t, t, .) with
 * t = a[i] - b[i] for l2sq, + |a[i] - b[i]| for l1, fma(a[i], b[i], .) for dot, each rounded to
 * float once (fma: the exact a * b + s, rounded once). There are 32 partial sums P[0..31], all +0 at
 * the start, and element i goes to P[i % 32], in increasing i: P[i % 32] = term(P[i % 32]). So in
 * the last, partial block of d % 32 elements, element j of the block goes to P[j], and the other
 * partials get nothing. Then the partials are added in halves: P[k] = P[k] + P[k + w] for
 * k < w, for w = 16, 8, 4, 2, 1; the result is P[0].
 *   - 32 partials are 4 AVX2 registers or 2 AVX-512 registers: both hold P[i % 32] in lane
 *     i % 8 or i % 16 of register (i % 32) / 8 or / 16 and load whole vectors, and the halving
 *     tree is what both do naturally (add the upper half of the lanes to the lower). Enough
 *     independent sums to hide the add latency, few enough for the *_many kernels' rows to share
 *     each query load in registers.
 *   - The SIMD kernels read the last partial vector with a mask and add +0 in the masked-off
 *     lanes, where the scalar code adds nothing: the same, as P + (+0) == P for every P other
 *     than -0, and no partial is ever -0 (each starts at +0, and a sum or fma is -0 only when
 *     the value added to is -0).
 *   - The fused multiply-add: measured (Sapphire Rapids, AVX-512, rows in L2), multiplying
 *     then adding costs the *_many kernels 10-25% at d = 32 (l2sq and dot, AVX2 and AVX-512),
 *     up to 10% at d = 128 and under 5% at d = 768; nothing when the rows come from memory.
 *     The scalar code uses fmaf where the target has the instruction (ARM64, x86 built with
 *     -mfma), on other x86-64 builds the FMA instructions when the CPU has them (a second copy
 *     of the kernels, see nearkit_kernels_cpu_fma) and an exact fma from double arithmetic
 *     when it has not (CPUs before 2013: some 15x slower than multiplying then adding, the price
 *     of equal results there). Writing the fma explicitly also leaves the compiler nothing to
 *     contract (a * b + c may be fused or not depending on the compiler's mode and target,
 *     intrinsics included), so no build flag can change a result. */
#include "base/internal.h"
#include "kernels/kernels.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Keep this condition identical in kernels_avx2.c and kernels_avx512.c. */
#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) || \
                            (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))
#define NK_KERNELS_X86 1
#else
#define NK_KERNELS_X86 0
#endif

extern const nearkit_kernel_table nearkit_kernel_table_scalar;
#if NK_KERNELS_X86
extern const nearkit_kernel_table nearkit_kernel_table_avx2;
extern const nearkit_kernel_table nearkit_kernel_table_avx512;
#endif

/* ---- CPU features ------------------------------------------------------------------------------ */

#define NK_CPU_AVX2 1
#define NK_CPU_AVX512 2
#define NK_CPU_FMA 4 /* FMA with the AVX state enabled: the scalar kernels' fast fused multiply-add */
#define NK_CPU_KNOWN 0x100 /* the detection has run */

#if NK_KERNELS_X86
#include <cpuid.h>

/* XCR0, or 0 when the OS has not enabled XSAVE (XGETBV would fault then). */
static uint64_t nk_xcr0(void) {
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    if (!(ecx & (1u << 27))) return 0; /* OSXSAVE */
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int nk_detect(void) {
    int f = 0;
    __builtin_cpu_init();
    const uint64_t xcr0 = nk_xcr0();
    const int os_avx = (xcr0 & 0x6) == 0x6;
    const int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    if (os_avx && __builtin_cpu_supports("fma")) f |= NK_CPU_FMA;
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    const int f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)); /* code kernels */
    if (os_avx && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("popcnt") && f16c) {
        f |= NK_CPU_AVX2;
        if (os_avx512 && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512vnni"))
            f |= NK_CPU_AVX512;
    }
    return f;
}

static atomic_int nk_cpu_flags; /* zero-initialised: not yet known */

static int nk_cpu(void) {
    int f = atomic_load_explicit(&nk_cpu_flags, memory_order_acquire);
    if (!(f & NK_CPU_KNOWN)) {
        f = nk_detect() | NK_CPU_KNOWN; /* idempotent: racing threads store the same value */
        atomic_store_explicit(&nk_cpu_flags, f, memory_order_release);
    }
    return f;
}
#endif

static atomic_int nk_no_fma; /* set by nearkit_kernels_test_no_fma */

int nearkit_kernels_cpu_fma(void) {
#if NK_KERNELS_X86
    return (nk_cpu() & NK_CPU_FMA) != 0 && !atomic_load_explicit(&nk_no_fma, memory_order_relaxed);
#else
    return 0;
#endif
}

void nearkit_kernels_test_no_fma(int no_fma) {
    atomic_store_explicit(&nk_no_fma, no_fma != 0, memory_order_relaxed);
}

/* ---- tables ------------------------------------------------------------------------------------ */

static const nearkit_kernel_table *nk_best(void) {
#if NK_KERNELS_X86
    const int f = nk_cpu();
    if (f & NK_CPU_AVX512) return &nearkit_kernel_table_avx512;
    if (f & NK_CPU_AVX2) return &nearkit_kernel_table_avx2;
#endif
    return &nearkit_kernel_table_scalar;
}

const nearkit_kernel_table *nearkit_kernels_table(int32_t which) {
    switch (which) {
    case NEARKIT_KERNELS_AUTO:
        return nk_best();
    case NEARKIT_KERNELS_SCALAR:
        return &nearkit_kernel_table_scalar;
#if NK_KERNELS_X86
    case NEARKIT_KERNELS_AVX2:
        return (nk_cpu() & NK_CPU_AVX2) ? &nearkit_kernel_table_avx2 : NULL;
    case NEARKIT_KERNELS_AVX512:
        return (nk_cpu() & NK_CPU_AVX512) ? &nearkit_kernel_table_avx512 : NULL;
#endif
    default:
        return NULL;
    }
}

static int nk_ascii_ieq(const char *a, const char *b) {
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y - 'A' + 'a');
        if (x != y) return 0;
        if (x == 0) return 1;
    }
}

/* The first choice: NEARKIT_KERNELS when set to a runnable implementation, else the best. */
static const nearkit_kernel_table *nk_initial(void) {
    const char *env = getenv("NEARKIT_KERNELS");
    if (env != NULL) {
        const nearkit_kernel_table *t = NULL;
        if (nk_ascii_ieq(env, "scalar"))
            t = nearkit_kernels_table(NEARKIT_KERNELS_SCALAR);
        else if (nk_ascii_ieq(env, "avx2"))
            t = nearkit_kernels_table(NEARKIT_KERNELS_AVX2);
        else if (nk_ascii_ieq(env, "avx512"))
            t = nearkit_kernels_table(NEARKIT_KERNELS_AVX512);
        if (t != NULL) return t;
    }
    return nk_best();
}

static _Atomic(const nearkit_kernel_table *) nk_active; /* NULL until the first use */

const nearkit_kernel_table *nearkit_kernels(void) {
    const nearkit_kernel_table *t = atomic_load_explicit(&nk_active, memory_order_acquire);
    if (t != NULL) return t;
    const nearkit_kernel_table *want = nk_initial();
    const nearkit_kernel_table *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&nk_active, &expected, want, memory_order_acq_rel,
                                                memory_order_acquire))
        return want;
    return expected; /* another thread (or nearkit_kernels_force) got there first */
}

/* ---- experimental public API ------------------------------------------------------------------- */

static const char *nk_which_name(int32_t which) {
    switch (which) {
    case NEARKIT_KERNELS_AVX2:
        return "avx2";
    case NEARKIT_KERNELS_AVX512:
        return "avx512";
    default:
        return "scalar";
    }
}

NEARKIT_API nearkit_status nearkit_kernels_force(int32_t which) {
    nearkit_clear_error();
    if (which != NEARKIT_KERNELS_AUTO && which != NEARKIT_KERNELS_SCALAR &&
        which != NEARKIT_KERNELS_AVX2 && which != NEARKIT_KERNELS_AVX512)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "nearkit_kernels_force: unknown kernel implementation %d (expected "
                                 "0 = auto, 1 = scalar, 2 = avx2 or 3 = avx512)",
                                 (int)which);
    const nearkit_kernel_table *t = nearkit_kernels_table(which);
    if (t == NULL)
        return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                                 "nearkit_kernels_force: this CPU (or this build) cannot run the "
                                 "%s kernels",
                                 nk_which_name(which));
    atomic_store_explicit(&nk_active, t, memory_order_release);
    return NEARKIT_OK;
}

NEARKIT_API const char *nearkit_kernels_name(void) {
    nearkit_clear_error();
    return nearkit_kernels()->name;
}

/* ---- panels for hamming_panels ----------------------------------------------------------------- */

void nearkit_hamming_pack_query(uint64_t *query, const uint8_t *code, size_t nbytes) {
    size_t words = nearkit_hamming_words(nbytes);
    memset(query, 0, words * sizeof *query);
    memcpy(query, code, nbytes); /* a word's bytes keep their order: the popcount does not care */
}

void nearkit_hamming_pack_portable(uint64_t *panels, const uint8_t *codes, size_t n, size_t nbytes) {
    size_t words = nearkit_hamming_words(nbytes), full = nbytes / 8, tail = nbytes % 8;
    size_t npanels = nearkit_hamming_panels(n);
    for (size_t p = 0; p < npanels; p++) {
        uint64_t *panel = panels + p * words * 8;
        size_t rows = n - p * 8 < 8 ? n - p * 8 : 8;
        for (size_t r = 0; r < rows; r++) {
            const uint8_t *code = codes + (p * 8 + r) * nbytes;
            for (size_t j = 0; j < full; j++) memcpy(&panel[j * 8 + r], code + j * 8, 8);
            if (tail) {
                uint64_t w = 0;
                memcpy(&w, code + full * 8, tail);
                panel[full * 8 + r] = w;
            }
        }
        for (size_t r = rows; r < 8; r++)
            for (size_t j = 0; j < words; j++) panel[j * 8 + r] = 0;
    }
}

/* ---- distances by metric ----------------------------------------------------------------------- */

void nearkit_metric_distances(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                              nearkit_metric metric, const void *query, const void *rows, size_t n,
                              size_t d, size_t vector_bytes) {
    const float *q = query, *x = rows;
    switch (metric) {
    case NEARKIT_METRIC_L2: kt->l2sq_many(out, q, x, n, d); break;
    case NEARKIT_METRIC_L1: kt->l1_many(out, q, x, n, d); break;
    case NEARKIT_METRIC_LINF: kt->linf_many(out, q, x, n, d); break;
    case NEARKIT_METRIC_COSINE:
        kt->dot_many(out, q, x, n, d);
        for (size_t i = 0; i < n; i++) out[i] = 1.0f - out[i];
        break;
    case NEARKIT_METRIC_IP:
        kt->dot_many(out, q, x, n, d);
        for (size_t i = 0; i < n; i++) out[i] = -out[i];
        break;
    case NEARKIT_METRIC_HAMMING:
        kt->hamming_many(ints, query, rows, n, vector_bytes);
        for (size_t i = 0; i < n; i++) out[i] = (float)ints[i];
        break;
    }
}

/* Asks for row i + 1 while row i is scanned, where a row is longer than the kernels' own prefetch
 * distance (512 bytes ahead within the row): at d = 784 that distance is a sixth of a row, and
 * each row's start would wait on memory. Measured (AVX-512 EPYC, lists of 60 rows x 784 floats
 * from memory): 15-25% less time per list. */
static NEARKIT_PREFETCHER void prefetch_next_row(const float *x, size_t i, size_t n, size_t d) {
    if (i + 1 >= n || d * sizeof(float) <= 512) return;
    nearkit_prefetch_bytes(x + (i + 1) * d, d * sizeof(float));
}

void nearkit_metric_distances_streamed(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                                       nearkit_metric metric, const void *query, const void *rows, size_t n,
                                       size_t d, size_t vector_bytes) {
    const float *q = query, *x = rows;
    float (*one)(const float *, const float *, size_t) = NULL;
    switch (metric) {
    case NEARKIT_METRIC_L2: one = kt->l2sq; break;
    case NEARKIT_METRIC_L1: one = kt->l1; break;
    case NEARKIT_METRIC_LINF: one = kt->linf; break;
    case NEARKIT_METRIC_COSINE:
    case NEARKIT_METRIC_IP: one = kt->dot; break;
    case NEARKIT_METRIC_HAMMING: /* codes are short rows: the popcount kernel streams them already */
        nearkit_metric_distances(out, ints, kt, metric, query, rows, n, d, vector_bytes);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        prefetch_next_row(x, i, n, d);
        out[i] = one(q, x + i * d, d);
    }
    if (metric == NEARKIT_METRIC_COSINE)
        for (size_t i = 0; i < n; i++) out[i] = 1.0f - out[i];
    else if (metric == NEARKIT_METRIC_IP)
        for (size_t i = 0; i < n; i++) out[i] = -out[i];
}
