/* Micro-benchmark of the distance kernels, every implementation the CPU runs. Not a test.
 *
 * Built with the library (bench/CMakeLists.txt) as build/bench_kernels.
 * Usage: bench_kernels [seconds per measurement, default 0.2] [scalar|avx2|avx512|crc32|memory (default: all)]
 *
 * Prints name=value lines:
 *   <impl>.<kernel>_many.d<D>.gflops    one query against a block of rows that stays in L2
 *                                       (l2sq, l1: 3 flops per float pair; dot: 2; linf: 3)
 *   <impl>.<kernel>_loop.d<D>.gflops    the same work through the single kernel in a loop
 *   <impl>.hamming_many.b<N>.gbytes     bytes of stored codes compared per second
 *   <impl>.hamming_loop.b<N>.gbytes
 *   <impl>.grid_l2.d<D>.gbytes,        bytes of 8-bit codes scored per second against a query on
 *   <impl>.grid_dot.d<D>.gbytes        the integer grid (hnsw_sq8's walk), one code per call
 *   crc32.tables.gbytes, crc32.clmul.gbytes  the index file's checksum over 64 MiB (larger than
 *                                       the caches), by tables and by carry-less folding, and
 *   crc32_clmul_vs_tables               their ratio
 *   memory.d<D>.block.gbytes, memory.d<D>.streamed.gbytes, memory.d<D>.stream_sum.gbytes
 *                                       one query against 512 MiB of rows (beyond the caches), by
 *                                       nearkit_metric_distances (the 8-row kernels) and by
 *                                       nearkit_metric_distances_streamed (row by row), beside a
 *                                       plain sum of the same bytes, with the active kernels, and
 *   memory.d<D>.streamed_vs_block       the ratio of the first two (option `memory`)
 */
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include "base/crc32.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK_BYTES (256u * 1024u)

static double now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static volatile float sink_f;
static volatile uint32_t sink_u;

typedef float (*one_fn)(const float *, const float *, size_t);
typedef void (*many_fn)(float *, const float *, const float *, size_t, size_t);

static double seconds_per_run = 0.2;

/* The best of many short trials (0.5 ms each, for seconds_per_run in all), so that other
 * processes on the machine disturb less. Returns rows processed per second. */
#define TRIAL_SECONDS 0.0005

static double time_many(many_fn f, float *out, const float *q, const float *x, size_t n, size_t d) {
    double best = 0;
    const double start = now();
    while (now() - start < seconds_per_run) {
        size_t reps = 0;
        const double t0 = now();
        double t;
        do {
            f(out, q, x, n, d);
            reps++;
            t = now() - t0;
        } while (t < TRIAL_SECONDS);
        sink_f = out[n / 2];
        const double rate = (double)reps * (double)n / t;
        if (rate > best) best = rate;
    }
    return best;
}

static double time_loop(one_fn f, float *out, const float *q, const float *x, size_t n, size_t d) {
    double best = 0;
    const double start = now();
    while (now() - start < seconds_per_run) {
        size_t reps = 0;
        const double t0 = now();
        double t;
        do {
            for (size_t r = 0; r < n; r++) out[r] = f(q, x + r * d, d);
            reps++;
            t = now() - t0;
        } while (t < TRIAL_SECONDS);
        sink_f = out[n / 2];
        const double rate = (double)reps * (double)n / t;
        if (rate > best) best = rate;
    }
    return best;
}

typedef void (*hmany_fn)(uint32_t *, const uint8_t *, const uint8_t *, size_t, size_t);
typedef uint32_t (*hone_fn)(const uint8_t *, const uint8_t *, size_t);

static double time_hamming(hmany_fn many, hone_fn one, uint32_t *out, const uint8_t *q,
                           const uint8_t *x, size_t n, size_t nb) {
    double best = 0;
    const double start = now();
    while (now() - start < seconds_per_run) {
        size_t reps = 0;
        const double t0 = now();
        double t;
        do {
            if (many)
                many(out, q, x, n, nb);
            else
                for (size_t r = 0; r < n; r++) out[r] = one(q, x + r * nb, nb);
            reps++;
            t = now() - t0;
        } while (t < TRIAL_SECONDS);
        sink_u = out[n / 2];
        const double rate = (double)reps * (double)n / t;
        if (rate > best) best = rate;
    }
    return best;
}

typedef struct {
    const nearkit_kernel_table *t;
    bool l2;
    const int16_t *q, *w;
} grid_case;

static double time_grid(const grid_case *g, const uint8_t *codes, size_t n, size_t d) {
    static volatile int64_t sink_i;
    double best = 0;
    const double start = now();
    while (now() - start < seconds_per_run) {
        size_t reps = 0;
        int64_t sum = 0;
        const double t0 = now();
        double t;
        do {
            for (size_t r = 0; r < n; r++)
                sum += g->l2 ? g->t->grid_l2(g->q, g->w, codes + r * d, d) : g->t->grid_dot(g->q, codes + r * d, d);
            reps++;
            t = now() - t0;
        } while (t < TRIAL_SECONDS);
        sink_i = sum;
        const double rate = (double)reps * (double)n * (double)d / t;
        if (rate > best) best = rate;
    }
    return best;
}

/* The grid kernels on query and step values inside kernels.h's bounds. */
static void bench_grid(const nearkit_kernel_table *t, const uint8_t *codes) {
    static const size_t dims[] = {128, 784, 960};
    int16_t q[1024], w[1024];
    for (size_t i = 0; i < 1024; i++) {
        w[i] = (int16_t)(next() % NEARKIT_GRID_W_MAX);
        q[i] = (int16_t)(next() % 4096);
    }
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const size_t d = dims[di], n = BLOCK_BYTES / d;
        const grid_case l2 = {t, true, q, w}, dot = {t, false, q, w};
        printf("%s.grid_l2.d%zu.gbytes=%.2f\n", t->name, d, time_grid(&l2, codes, n, d) * 1e-9);
        printf("%s.grid_dot.d%zu.gbytes=%.2f\n", t->name, d, time_grid(&dot, codes, n, d) * 1e-9);
        fflush(stdout);
    }
}

static void bench_table(const nearkit_kernel_table *t) {
    static const size_t dims[] = {16, 32, 100, 128, 384, 960};
    float *x = malloc(BLOCK_BYTES + 4096), *q = malloc(4096 * sizeof(float));
    float *out = malloc(BLOCK_BYTES);
    uint8_t *bx = malloc(BLOCK_BYTES + 4096), *bq = malloc(4096);
    uint32_t *iout = malloc(BLOCK_BYTES);
    if (!x || !q || !out || !bx || !bq || !iout) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < BLOCK_BYTES / sizeof(float); i++)
        x[i] = (float)(next() >> 40) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < 4096; i++) q[i] = (float)(next() >> 40) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < BLOCK_BYTES; i++) bx[i] = (uint8_t)(next() >> 56);
    for (size_t i = 0; i < 4096; i++) bq[i] = (uint8_t)(next() >> 56);

    struct {
        const char *name;
        one_fn one;
        many_fn many;
        double flops;
    } ks[] = {{"l2sq", t->l2sq, t->l2sq_many, 3},
              {"l1", t->l1, t->l1_many, 3},
              {"linf", t->linf, t->linf_many, 3},
              {"dot", t->dot, t->dot_many, 2}};
    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
            const size_t d = dims[di], n = BLOCK_BYTES / (d * sizeof(float));
            const double many = time_many(ks[k].many, out, q, x, n, d);
            const double loop = time_loop(ks[k].one, out, q, x, n, d);
            printf("%s.%s_many.d%zu.gflops=%.2f\n", t->name, ks[k].name, d,
                   many * (double)d * ks[k].flops * 1e-9);
            printf("%s.%s_loop.d%zu.gflops=%.2f\n", t->name, ks[k].name, d,
                   loop * (double)d * ks[k].flops * 1e-9);
            fflush(stdout);
        }
    }

    static const size_t sizes[] = {8, 16, 32, 64, 128, 256, 1024};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const size_t nb = sizes[si], n = BLOCK_BYTES / nb;
        const double many = time_hamming(t->hamming_many, NULL, iout, bq, bx, n, nb);
        const double loop = time_hamming(NULL, t->hamming, iout, bq, bx, n, nb);
        printf("%s.hamming_many.b%zu.gbytes=%.2f\n", t->name, nb, many * (double)nb * 1e-9);
        printf("%s.hamming_loop.b%zu.gbytes=%.2f\n", t->name, nb, loop * (double)nb * 1e-9);
        fflush(stdout);
    }
    bench_grid(t, bx);
    free(x);
    free(q);
    free(out);
    free(bx);
    free(bq);
    free(iout);
}

/* Bytes per second of one CRC-32 implementation over `n` bytes. */
static double time_crc(uint32_t (*crc)(uint32_t, const uint8_t *, size_t), const uint8_t *p, size_t n) {
    double start = now(), elapsed;
    uint64_t runs = 0;
    do {
        sink_u = crc(0, p, n);
        runs++;
    } while ((elapsed = now() - start) < seconds_per_run);
    return (double)runs * (double)n / elapsed;
}

static void bench_crc32(void) {
    const size_t n = (size_t)64 << 20;
    uint8_t *p = malloc(n);
    if (!p) return;
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)next();
    double tables = time_crc(nearkit_crc32_tables, p, n);
    printf("crc32.tables.gbytes=%.2f\n", tables * 1e-9);
    if (nearkit_crc32_has_clmul()) {
        double clmul = time_crc(nearkit_crc32_clmul, p, n);
        printf("crc32.clmul.gbytes=%.2f\ncrc32_clmul_vs_tables=%.2f\n", clmul * 1e-9, clmul / tables);
    }
    free(p);
}

/* Bytes of rows per second of one pass of a query over `n` rows of d floats, in blocks of 256 KB
 * as flat's scan takes them, by the block or the streamed form. */
static double time_memory_pass(bool streamed, const float *x, const float *q, float *out, size_t n, size_t d) {
    const nearkit_kernel_table *t = nearkit_kernels();
    size_t block = BLOCK_BYTES / (d * sizeof(float));
    double best = 0;
    for (int pass = 0; pass < 3; pass++) {
        double start = now();
        for (size_t r = 0; r < n; r += block) {
            size_t rows = n - r < block ? n - r : block;
            (streamed ? nearkit_metric_distances_streamed : nearkit_metric_distances)(
                out, NULL, t, NEARKIT_METRIC_L2, q, x + r * d, rows, d, d * sizeof(float));
            sink_f += out[0];
        }
        double rate = (double)n * (double)d * sizeof(float) / (now() - start);
        if (rate > best) best = rate;
    }
    return best;
}

static void bench_memory(void) {
    const size_t bytes = (size_t)512 << 20;
    float *x = malloc(bytes), q[1024], *out = malloc(BLOCK_BYTES);
    if (!x || !out) return;
    for (size_t i = 0; i < bytes / sizeof(float); i++) x[i] = (float)(next() >> 40) * 0x1p-24f;
    static const size_t dims[] = {128, 784};
    for (size_t di = 0; di < 2; di++) {
        size_t d = dims[di], n = bytes / (d * sizeof(float));
        for (size_t j = 0; j < d; j++) q[j] = 0.5f;
        double block = time_memory_pass(false, x, q, out, n, d), streamed = time_memory_pass(true, x, q, out, n, d);
        double start = now();
        const uint64_t *w = (const uint64_t *)x;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i + 4 <= bytes / 8; i += 4) s0 += w[i], s1 += w[i + 1], s2 += w[i + 2], s3 += w[i + 3];
        double sum = (double)bytes / (now() - start);
        sink_u = (uint32_t)(s0 + s1 + s2 + s3);
        printf("memory.d%zu.block.gbytes=%.2f\nmemory.d%zu.streamed.gbytes=%.2f\nmemory.d%zu.stream_sum.gbytes=%.2f\n"
               "memory.d%zu.streamed_vs_block=%.2f\n", d, block * 1e-9, d, streamed * 1e-9, d, sum * 1e-9, d,
               streamed / block);
        fflush(stdout);
    }
    free(x);
    free(out);
}

int main(int argc, char **argv) {
    if (argc > 1) seconds_per_run = atof(argv[1]);
    if (!(seconds_per_run > 0)) seconds_per_run = 0.2;
    printf("kernels.active=%s\n", nearkit_kernels_name());
    for (int32_t which = NEARKIT_KERNELS_SCALAR; which <= NEARKIT_KERNELS_AVX512; which++) {
        const nearkit_kernel_table *t = nearkit_kernels_table(which);
        if (t && (argc <= 2 || strcmp(argv[2], t->name) == 0)) bench_table(t);
    }
    if (argc <= 2 || strcmp(argv[2], "crc32") == 0) bench_crc32();
    if (argc <= 2 || strcmp(argv[2], "memory") == 0) bench_memory();
    return 0;
}
