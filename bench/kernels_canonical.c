/* Speed of the summing float kernels (l2sq, l1, dot), single and *_many, with the rows in cache and
 * out of cache, against a baseline: the kernels of an earlier revision, compiled into the same
 * program under other names (bench/kernels_canonical.sh does that), so that both are timed in
 * turns in one process and load from elsewhere on the machine falls on both alike. Not a test.
 *
 * Usage: kernels_canonical [scalar|avx2|avx512|all (default)] [seconds per in-cache figure, 0.5]
 *
 * Prints one line a figure, GB/s of rows read (d * 4 bytes a row; the query stays in L1):
 *   <impl>.<kernel>_<many|single>.d<D>.<cache|memory> base=<GB/s> new=<GB/s> new/base=<ratio>
 * cache:  a 256 KiB block of rows (in L2), the best of many 1 ms trials;
 * memory: 200 MB of rows swept from first to last (so mostly from DRAM), in chunks that the two
 *         take in turns (rate_memory).
 * single: the single kernel called row after row; many: the *_many kernel over all the rows. */
#define _POSIX_C_SOURCE 200112L /* clock_gettime */
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_BYTES (256u * 1024u)
#define MEMORY_BYTES (200u * 1000u * 1000u)
#define TRIAL_SECONDS 0.001
#define SWEEPS 8
#define CHUNK_BYTES (4u << 20)

/* The baseline's tables (its kernel files compiled with the table names replaced). */
extern const nearkit_kernel_table nk_base_table_scalar;
#if defined(__x86_64__)
extern const nearkit_kernel_table nk_base_table_avx2;
extern const nearkit_kernel_table nk_base_table_avx512;
#endif

static const nearkit_kernel_table *base_table(int32_t which) {
    switch (which) {
#if defined(__x86_64__)
    case NEARKIT_KERNELS_AVX2: return &nk_base_table_avx2;
    case NEARKIT_KERNELS_AVX512: return &nk_base_table_avx512;
#endif
    default: return &nk_base_table_scalar;
    }
}

typedef float (*one_fn)(const float *, const float *, size_t);
typedef void (*many_fn)(float *, const float *, const float *, size_t, size_t);

/* This thread's CPU time: time spent waiting while other processes ran does not count (the
 * machines this runs on are often shared). */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float next_float(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng >> 40) / 16777216.0f - 0.5f;
}

static volatile float sink;

/* One pass over n rows, by the *_many kernel (many != NULL) or the single kernel in a loop. */
static void pass(one_fn one, many_fn many, float *out, const float *q, const float *x, size_t n,
                 size_t d) {
    if (many)
        many(out, q, x, n, d);
    else
        for (size_t r = 0; r < n; r++) out[r] = one(q, x + r * d, d);
    sink = out[n / 2];
}

/* The kernels timed: one kind, single or many, of the baseline [0] and of the library [1]. */
typedef struct {
    one_fn one[2];
    many_fn many[2];
} kernel_pair;

/* Rows per second of each, the best trial of repeated passes over rows that stay in cache; trials
 * of the two alternate. */
static void rate_cache(double rate[2], const kernel_pair *k, float *out, const float *q,
                       const float *x, size_t n, size_t d, double seconds) {
    rate[0] = rate[1] = 0;
    const double start = now();
    for (int which = 0; now() - start < seconds; which ^= 1) {
        size_t reps = 0;
        const double t0 = now();
        double t;
        do {
            pass(k->one[which], k->many[which], out, q, x, n, d);
            reps++;
            t = now() - t0;
        } while (t < TRIAL_SECONDS);
        const double r = (double)reps * (double)n / t;
        if (r > rate[which]) rate[which] = r;
    }
}

/* Rows per second of each over rows far larger than the caches: SWEEPS sweeps over them in chunks
 * of CHUNK_BYTES, the two kernels taking the chunks in turns (each chunk is fresh from memory for
 * the one that reads it, and the other's parity swaps every sweep), so that both meet the same
 * memory traffic from elsewhere; total rows over total time. */
static void rate_memory(double rate[2], const kernel_pair *k, float *out, const float *q,
                        const float *x, size_t n, size_t d) {
    const size_t chunk = CHUNK_BYTES / (d * sizeof(float));
    double time[2] = {0, 0}, done[2] = {0, 0};
    for (int s = 0; s < SWEEPS; s++)
        for (size_t c = 0, r = 0; r < n; c++, r += chunk) {
            const int which = (int)((c + (size_t)s) & 1);
            const size_t m = n - r < chunk ? n - r : chunk;
            const double t0 = now();
            pass(k->one[which], k->many[which], out, q, x + r * d, m, d);
            time[which] += now() - t0;
            done[which] += (double)m;
        }
    rate[0] = done[0] / time[0];
    rate[1] = done[1] / time[1];
}

static void print_rates(const char *impl, const char *kernel, const char *how, size_t d,
                        const char *where, const double rate[2], size_t row_bytes) {
    printf("%s.%s_%s.d%zu.%s base=%.2f new=%.2f new/base=%.3f\n", impl, kernel, how, d, where,
           rate[0] * (double)row_bytes * 1e-9, rate[1] * (double)row_bytes * 1e-9,
           rate[1] / rate[0]);
    fflush(stdout);
}

static void bench_tables(const nearkit_kernel_table *base, const nearkit_kernel_table *t,
                         const float *rows, float *out, const float *q, double seconds) {
    static const size_t dims[] = {32, 128, 768};
    static const char *const names[] = {"l2sq", "l1", "dot"};
    const nearkit_kernel_table *tables[2] = {base, t};
    for (size_t k = 0; k < 3; k++)
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
            for (int use_many = 1; use_many >= 0; use_many--) {
                kernel_pair kp;
                for (int w = 0; w < 2; w++) {
                    const nearkit_kernel_table *tw = tables[w];
                    kp.one[w] = k == 0 ? tw->l2sq : k == 1 ? tw->l1 : tw->dot;
                    kp.many[w] = !use_many ? NULL
                                 : k == 0  ? tw->l2sq_many
                                 : k == 1  ? tw->l1_many
                                           : tw->dot_many;
                }
                const size_t d = dims[di], row_bytes = d * sizeof(float);
                const char *how = use_many ? "many" : "single";
                double rate[2];
                rate_cache(rate, &kp, out, q, rows, CACHE_BYTES / row_bytes, d, seconds);
                print_rates(t->name, names[k], how, d, "cache", rate, row_bytes);
                rate_memory(rate, &kp, out, q, rows, MEMORY_BYTES / row_bytes, d);
                print_rates(t->name, names[k], how, d, "memory", rate, row_bytes);
            }
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : "all";
    double seconds = argc > 2 ? atof(argv[2]) : 0.5;
    if (!(seconds > 0)) seconds = 0.5;
    float *rows = malloc(MEMORY_BYTES), *out = malloc(MEMORY_BYTES / (32 * sizeof(float)) * sizeof(float));
    float q[768];
    if (!rows || !out) {
        fprintf(stderr, "kernels_canonical: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < MEMORY_BYTES / sizeof(float); i++) rows[i] = next_float();
    for (size_t i = 0; i < 768; i++) q[i] = next_float();
    int ran = 0;
    for (int32_t which = NEARKIT_KERNELS_SCALAR; which <= NEARKIT_KERNELS_AVX512; which++) {
        const nearkit_kernel_table *t = nearkit_kernels_table(which);
        if (t == NULL || (strcmp(only, "all") != 0 && strcmp(only, t->name) != 0)) continue;
        bench_tables(base_table(which), t, rows, out, q, seconds);
        ran = 1;
    }
    free(rows);
    free(out);
    if (!ran) {
        fprintf(stderr, "kernels_canonical: no implementation '%s' on this CPU\n", only);
        return 1;
    }
    return 0;
}
