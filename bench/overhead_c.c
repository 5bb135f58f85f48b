/* The C baseline for the language packages' call-overhead benchmarks.
 *   bench_overhead_c DIR
 * writes DIR/base.fvecs (10,000 x 32 clustered floats) and DIR/queries.fvecs (10,000 x 32),
 * builds a flat l2 index with one thread and prints
 *   c_single_us=  median microseconds of one single-query k = 10 search
 *   c_batch_s=    seconds of one 10,000-query k = 10 batch search, best of 5 */
#define _POSIX_C_SOURCE 199309L
#include "nearkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { N = 10000, D = 32, K = 10, CLUSTERS = 50, WARMUP_RUNS = 300, SINGLE_RUNS = 2000, BATCH_RUNS = 5 };

static uint64_t rng_state = 0x5eed;
static double uniform(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static void clustered(float *out, const float *centres, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float *c = centres + (size_t)(uniform() * CLUSTERS) * D;
        for (size_t j = 0; j < D; j++) out[i * D + j] = c[j] + (float)(uniform() - 0.5);
    }
}

static int write_fvecs(const char *dir, const char *name, const float *v, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int32_t d = D;
    for (size_t i = 0; i < n; i++) {
        fwrite(&d, 4, 1, f);
        fwrite(v + i * D, 4, D, f);
    }
    return fclose(f);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *what) {
    fprintf(stderr, "bench_overhead_c: %s: %s\n", what, nearkit_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: bench_overhead_c DIR\n");
        return 2;
    }
    float *centres = malloc(sizeof(float) * CLUSTERS * D);
    float *base = malloc(sizeof(float) * N * D), *queries = malloc(sizeof(float) * N * D);
    int64_t *ids = malloc(sizeof(int64_t) * N * K);
    float *dist = malloc(sizeof(float) * N * K);
    static double single[SINGLE_RUNS];
    if (!centres || !base || !queries || !ids || !dist) return 1;
    for (size_t i = 0; i < CLUSTERS * D; i++) centres[i] = (float)(uniform() * 20.0);
    clustered(base, centres, N);
    clustered(queries, centres, N);
    if (write_fvecs(argv[1], "base.fvecs", base, N) || write_fvecs(argv[1], "queries.fvecs", queries, N)) {
        fprintf(stderr, "bench_overhead_c: cannot write into %s\n", argv[1]);
        return 1;
    }
    nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT;
    options.num_threads = 1;
    nearkit_index *index;
    if (nearkit_index_create(&index, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, D, &options)) return fail("create");
    if (nearkit_index_add(index, NEARKIT_VECTOR_FLOAT32, base, N, NULL)) return fail("add");

    for (int r = 0; r < WARMUP_RUNS; r++) /* caches, page faults and the pool settle first */
        if (nearkit_index_search(ids, dist, index, NEARKIT_VECTOR_FLOAT32, queries + (size_t)r * D, 1, K, NULL))
            return fail("search");
    for (int r = 0; r < SINGLE_RUNS; r++) {
        const float *q = queries + (size_t)(r % N) * D;
        double t0 = now();
        if (nearkit_index_search(ids, dist, index, NEARKIT_VECTOR_FLOAT32, q, 1, K, NULL)) return fail("search");
        single[r] = now() - t0;
    }
    qsort(single, SINGLE_RUNS, sizeof single[0], compare_doubles);
    double best = 1e30;
    for (int r = 0; r < BATCH_RUNS; r++) {
        double t0 = now();
        if (nearkit_index_search(ids, dist, index, NEARKIT_VECTOR_FLOAT32, queries, N, K, NULL))
            return fail("batch search");
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("c_single_us=%.3f\n", single[SINGLE_RUNS / 2] * 1e6);
    printf("c_batch_s=%.6f\n", best);
    nearkit_index_free(index);
    free(centres), free(base), free(queries), free(ids), free(dist);
    return 0;
}
