/* The C side of bench/single_query.py: one query per call through the C library, no binding.
 *
 *   bench_single_query_c bandwidth MB
 *       prints read_gbs=, the best of 5 streaming passes over a buffer of MB megabytes (a sum of
 *       its 64-bit words in 4 independent chains, vectorised by the compiler): the read
 *       bandwidth of one thread.
 *   bench_single_query_c serve KIND METRIC D BASE QUERIES TRAIN K NLIST OUT
 *       KIND ivf_flat or flat, METRIC l2 / cosine / ip; BASE, QUERIES and TRAIN raw float32 files
 *       of D columns (TRAIN: the k-means sample, ignored by flat). Builds the index at 2 threads
 *       and prints "ready"; then for each line NPROBE read from stdin (flat: any number) searches
 *       every query alone (one call of one query, 1 thread), writes the ids to OUT.<NPROBE>.ids
 *       (int64, queries x K) and prints "<wall seconds> <thread CPU seconds>" of the pass. The
 *       script drives it pass by pass, alternating with the other libraries' passes, so that all
 *       of them meet the same load on a shared machine. */
#define _POSIX_C_SOURCE 199309L
#include "nearkit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what) {
    fprintf(stderr, "bench_single_query_c: %s: %s\n", what, nearkit_last_error_message());
    return 1;
}

/* The whole file as floats; *rows of d columns. */
static float *read_floats(const char *path, size_t d, size_t *rows) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *v = bytes > 0 ? malloc((size_t)bytes) : NULL;
    if (v && fread(v, 1, (size_t)bytes, f) != (size_t)bytes) {
        free(v);
        v = NULL;
    }
    fclose(f);
    *rows = (size_t)bytes / (d * sizeof(float));
    return v;
}

static int bandwidth(size_t megabytes) {
    size_t words = megabytes * ((size_t)1 << 20) / sizeof(uint64_t);
    uint64_t *buf = malloc(words * sizeof *buf);
    if (!buf) return 1;
    for (size_t i = 0; i < words; i++) buf[i] = i;
    double best = 1e30;
    uint64_t total = 0;
    for (int pass = 0; pass < 5; pass++) {
        double t0 = now();
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i + 4 <= words; i += 4) {
            s0 += buf[i];
            s1 += buf[i + 1];
            s2 += buf[i + 2];
            s3 += buf[i + 3];
        }
        double t = now() - t0;
        total += s0 + s1 + s2 + s3;
        if (t < best) best = t;
    }
    printf("read_gbs=%.3f\n", (double)(words * sizeof *buf) / best / 1e9);
    printf("checksum=%llu\n", (unsigned long long)total);
    free(buf);
    return 0;
}

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int serve(char **a) {
    const char *kind_name = a[0], *metric_name = a[1];
    size_t d = (size_t)strtoull(a[2], NULL, 10), n, nq, nt = 0;
    uint64_t k = strtoull(a[6], NULL, 10);
    unsigned nlist = (unsigned)strtoul(a[7], NULL, 10);
    nearkit_kind kind = strcmp(kind_name, "flat") == 0 ? NEARKIT_KIND_FLAT : NEARKIT_KIND_IVF_FLAT;
    nearkit_metric metric = strcmp(metric_name, "l2") == 0       ? NEARKIT_METRIC_L2
                            : strcmp(metric_name, "cosine") == 0 ? NEARKIT_METRIC_COSINE
                                                                 : NEARKIT_METRIC_IP;
    float *base = read_floats(a[3], d, &n), *queries = read_floats(a[4], d, &nq);
    float *train = kind == NEARKIT_KIND_FLAT ? NULL : read_floats(a[5], d, &nt);
    int64_t *ids = malloc(sizeof(int64_t) * nq * k);
    float *dist = malloc(sizeof(float) * k);
    if (!base || !queries || (kind != NEARKIT_KIND_FLAT && !train) || !ids || !dist) {
        fprintf(stderr, "bench_single_query_c: cannot read the inputs\n");
        return 1;
    }
    char params[128];
    snprintf(params, sizeof params, "nlist=%u,train_iterations=10", nlist);
    nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT;
    options.num_threads = 2;
    options.params = kind == NEARKIT_KIND_FLAT ? NULL : params;
    nearkit_index *index;
    if (nearkit_index_create(&index, kind, metric, (uint32_t)d, &options)) return fail("create");
    if (train && nearkit_index_train(index, NEARKIT_VECTOR_FLOAT32, train, nt)) return fail("train");
    if (nearkit_index_add(index, NEARKIT_VECTOR_FLOAT32, base, n, NULL)) return fail("add");
    if (nearkit_index_build(index)) return fail("build");
    nearkit_search_options one = NEARKIT_SEARCH_OPTIONS_INIT;
    one.num_threads = 1;
    printf("ready\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        unsigned nprobe = (unsigned)strtoul(line, NULL, 10);
        if (kind != NEARKIT_KIND_FLAT && nearkit_index_set_param(index, "nprobe", nprobe)) return fail("nprobe");
        double t0 = now(), c0 = thread_cpu();
        for (size_t q = 0; q < nq; q++)
            if (nearkit_index_search(ids + q * k, dist, index, NEARKIT_VECTOR_FLOAT32, queries + q * d, 1, k, &one))
                return fail("search");
        double wall = now() - t0, cpu = thread_cpu() - c0;
        char path[4096];
        snprintf(path, sizeof path, "%s.%u.ids", a[8], nprobe);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(ids, sizeof(int64_t), nq * k, f) != nq * k || fclose(f)) {
            fprintf(stderr, "bench_single_query_c: cannot write %s\n", path);
            return 1;
        }
        printf("%.6f %.6f\n", wall, cpu);
        fflush(stdout);
    }
    nearkit_index_free(index);
    free(base), free(queries), free(train), free(ids), free(dist);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "bandwidth") == 0) return bandwidth((size_t)strtoull(argv[2], NULL, 10));
    if (argc == 11 && strcmp(argv[1], "serve") == 0) return serve(argv + 2);
    fprintf(stderr, "usage: bench_single_query_c bandwidth MB\n"
                    "       bench_single_query_c serve KIND METRIC D BASE QUERIES TRAIN K NLIST OUT\n");
    return 2;
}
