/* The C baseline for the language packages' call-overhead benchmarks.
 *   bench_overhead_c DIR
 * writes DIR/base.fvecs (10,000 x 32 clustered floats) and DIR/queries.fvecs (10,000 x 32),
 * builds a flat l2 index with one thread and prints
 *   c_single_us=  median microseconds of one single-query k = 10 search
 *   c_batch_s=    seconds of one 10,000-query k = 10 batch search, best of 5
 *
 *   bench_overhead_c --serve DIR
 * writes the same two files, then serves the C side of the paired overhead measurement: two
 * tiny indexes with one thread over the first TINY_N rows of base.fvecs, "flat" (flat l2) and
 * "hnsw" (hnsw l2, default build parameters), where one search costs well under a microsecond.
 * It prints "ready" and then answers each line read from stdin:
 *   flat B     B single-query k = 10 searches of the flat index, no options
 *   params B   B single-query k = 10 searches of the hnsw index, each with the per-call
 *              parameter ef_search = TINY_EF (nearkit_search_options.params)
 * with one line "us=<mean microseconds per call>": the block is timed as a whole, after
 * WARMUP_BLOCK untimed calls, query r of a block being row r % TINY_Q of queries.fvecs, on the
 * thread's CPU clock (CLOCK_THREAD_CPUTIME_ID): time the thread spends waiting for a core while
 * other jobs run does not count, which on a shared machine is most of the noise. "flat B wall" and
 * "params B wall" time the block on the monotonic clock instead, for a binding whose language
 * has no per-thread CPU clock. A binding's benchmark times the same block of its own calls on the
 * same clock right before or after, so each pair of blocks sees the same load on the machine;
 * "quit" or end of input ends the program. */
#define _POSIX_C_SOURCE 200112L
#include "nearkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { N = 10000, D = 32, K = 10, CLUSTERS = 50, WARMUP_RUNS = 300, SINGLE_RUNS = 2000, BATCH_RUNS = 5 };
/* The paired measurement's tiny indexes (the bindings' benchmarks use the same numbers). */
enum { TINY_N = 4, TINY_Q = 64, TINY_K = 1, TINY_EF = 4, WARMUP_BLOCK = 50 };

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

static double seconds_on(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void) { return seconds_on(CLOCK_MONOTONIC); }

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *what) {
    fprintf(stderr, "bench_overhead_c: %s: %s\n", what, nearkit_last_error_message());
    return 1;
}

static nearkit_index *single_thread_index(uint32_t kind, const float *base, size_t n) {
    nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT;
    options.num_threads = 1;
    nearkit_index *index;
    if (nearkit_index_create(&index, kind, NEARKIT_METRIC_L2, D, &options)) return NULL;
    if (nearkit_index_add(index, NEARKIT_VECTOR_FLOAT32, base, n, NULL) || nearkit_index_build(index)) {
        nearkit_index_free(index);
        return NULL;
    }
    return index;
}

/* Mean microseconds per call of `calls` single-query searches, after WARMUP_BLOCK untimed ones,
 * on `clock`. */
static double time_block(clockid_t clock, const nearkit_index *index, const float *queries,
                         long calls, const nearkit_search_options *options) {
    int64_t ids[TINY_K];
    float dist[TINY_K];
    double t0 = 0;
    for (long r = -WARMUP_BLOCK; r < calls; r++) {
        if (r == 0) t0 = seconds_on(clock);
        const float *q = queries + (size_t)((r + WARMUP_BLOCK) % TINY_Q) * D;
        if (nearkit_index_search(ids, dist, index, NEARKIT_VECTOR_FLOAT32, q, 1, TINY_K, options)) return -1;
    }
    return (seconds_on(clock) - t0) * 1e6 / (double)calls;
}

/* The C side of the paired measurement (see the top of the file): answers stdin's requests. */
static int serve(const float *base, const float *queries) {
    nearkit_index *flat = single_thread_index(NEARKIT_KIND_FLAT, base, TINY_N);
    nearkit_index *hnsw = single_thread_index(NEARKIT_KIND_HNSW, base, TINY_N);
    if (!flat || !hnsw) return fail("tiny index");
    const nearkit_param_value ef = {"ef_search", TINY_EF};
    nearkit_search_options with_ef = NEARKIT_SEARCH_OPTIONS_INIT;
    with_ef.params = &ef;
    with_ef.n_params = 1;
    printf("ready\n");
    fflush(stdout);
    char line[64], what[16], clock_name[16];
    long calls;
    int status = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        int fields = sscanf(line, "%15s %ld %15s", what, &calls, clock_name);
        if (fields >= 1 && strcmp(what, "quit") == 0) break;
        if (fields < 2 || calls < 1 || (fields == 3 && strcmp(clock_name, "wall") != 0)) {
            fprintf(stderr, "bench_overhead_c: cannot read the request %s", line);
            status = 2;
            break;
        }
        clockid_t clock = fields == 3 ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
        int plain = strcmp(what, "flat") == 0;
        if (!plain && strcmp(what, "params") != 0) {
            fprintf(stderr, "bench_overhead_c: unknown request %s", line);
            status = 2;
            break;
        }
        double us = plain ? time_block(clock, flat, queries, calls, NULL)
                          : time_block(clock, hnsw, queries, calls, &with_ef);
        if (us < 0) {
            status = fail(what);
            break;
        }
        printf("us=%.6f\n", us);
        fflush(stdout);
    }
    nearkit_index_free(flat);
    nearkit_index_free(hnsw);
    return status;
}

int main(int argc, char **argv) {
    int serving = argc == 3 && strcmp(argv[1], "--serve") == 0;
    if (argc != 2 && !serving) {
        fprintf(stderr, "usage: bench_overhead_c [--serve] DIR\n");
        return 2;
    }
    const char *dir = argv[argc - 1];
    float *centres = malloc(sizeof(float) * CLUSTERS * D);
    float *base = malloc(sizeof(float) * N * D), *queries = malloc(sizeof(float) * N * D);
    int64_t *ids = malloc(sizeof(int64_t) * N * K);
    float *dist = malloc(sizeof(float) * N * K);
    static double single[SINGLE_RUNS];
    if (!centres || !base || !queries || !ids || !dist) return 1;
    for (size_t i = 0; i < CLUSTERS * D; i++) centres[i] = (float)(uniform() * 20.0);
    clustered(base, centres, N);
    clustered(queries, centres, N);
    if (write_fvecs(dir, "base.fvecs", base, N) || write_fvecs(dir, "queries.fvecs", queries, N)) {
        fprintf(stderr, "bench_overhead_c: cannot write into %s\n", dir);
        return 1;
    }
    if (serving) return serve(base, queries);
    nearkit_index *index = single_thread_index(NEARKIT_KIND_FLAT, base, N);
    if (!index) return fail("index");

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
