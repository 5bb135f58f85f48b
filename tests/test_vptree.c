/* The vptree kind: every answer equals the flat index's bit for bit (ids, distances, the order of
 * ties) for every metric, on random and tie-heavy data, for k = 1 (fast path), k > 1, k > count,
 * range search, custom ids, every leaf size and every kernel implementation; plus the build state,
 * parameters, description, concurrent searches, and save/load with damaged tree sections. */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tree_check.h"

#define VP NEARKIT_KIND_VPTREE

static const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_L1, NEARKIT_METRIC_LINF,
                                         NEARKIT_METRIC_COSINE, NEARKIT_METRIC_HAMMING};
#define N_METRICS (sizeof metrics / sizeof metrics[0])

/* Builds a vptree and a flat index on the same data and compares k-NN for several k and range
 * search at a few radii, on one thread and on two. */
static void compare_with_flat(nearkit_metric metric, uint32_t dim, uint64_t n, int style,
                              const char *params, bool custom_ids) {
    void *data = tc_data(metric, n, dim, style);
    void *queries = tc_data(metric, 40, dim, style);
    int64_t *ids = NULL;
    if (custom_ids) {
        ids = malloc(n * sizeof *ids);
        /* duplicates and negative ids too */
        for (uint64_t i = 0; i < n; i++) ids[i] = (int64_t)(tc_next() % (n / 2 + 1)) - 7;
        for (uint64_t i = 0; i < n; i++)
            if (ids[i] == -1) ids[i] = -2;
    }
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, metric, dim, NULL, 1, data, n, ids);
    nearkit_index *tree = tc_make(VP, metric, dim, params, 2, data, n, ids);
    const uint64_t ks[] = {1, 2, 5, 10, n, n + 3};
    bool ok = flat && tree;
    for (size_t i = 0; ok && i < sizeof ks / sizeof ks[0]; i++) {
        bool same = tc_same_knn(flat, tree, queries, 40, ks[i], 1) &&
                    tc_same_knn(flat, tree, queries, 40, ks[i], 2);
        if (!same)
            fprintf(stderr,
                    "  vptree k-NN != flat: metric %s dim %u n %llu style %d params %s ids %d k %llu\n",
                    nearkit_metric_name(metric), dim, (unsigned long long)n, style, params ? params : "-",
                    custom_ids, (unsigned long long)ks[i]);
        CHECK(same);
        ok = same;
    }
    const uint64_t radius_ranks[] = {1, 8, n / 3 + 1};
    for (size_t i = 0; ok && i < sizeof radius_ranks / sizeof radius_ranks[0]; i++) {
        float r = tc_radius(flat, queries, radius_ranks[i]);
        bool same = tc_same_range(flat, tree, queries, 40, r, 2) &&
                    tc_same_range(flat, tree, queries, 40, r, 1);
        if (!same)
            fprintf(stderr, "  vptree range != flat: metric %s dim %u n %llu style %d radius %g\n",
                    nearkit_metric_name(metric), dim, (unsigned long long)n, style, (double)r);
        CHECK(same);
        ok = same;
    }
    if (ok) {
        CHECK(tc_same_range(flat, tree, queries, 40, 0.0f, 2));
        CHECK(tc_same_range(flat, tree, queries, 40, -1.0f, 2));
        CHECK(tc_same_range(flat, tree, queries, 40, INFINITY, 2));
    }
    nearkit_index_free(flat);
    nearkit_index_free(tree);
    free(data), free(queries), free(ids);
}

static void test_exact_like_flat(void) {
    const uint32_t float_dims[] = {1, 2, 3, 8, 17, 64};
    const uint32_t bit_dims[] = {8, 64, 136, 256};
    for (size_t m = 0; m < N_METRICS; m++) {
        bool binary = metrics[m] == NEARKIT_METRIC_HAMMING;
        for (size_t d = 0; d < (binary ? 4u : 6u); d++) {
            uint32_t dim = binary ? bit_dims[d] : float_dims[d];
            for (int style = 0; style < 4; style++)
                compare_with_flat(metrics[m], dim, 1500, style, NULL, false);
            compare_with_flat(metrics[m], dim, 700, 1, "leaf_size=1", true);
            compare_with_flat(metrics[m], dim, 700, 0, "leaf_size=5", true);
        }
    }
}

static void test_leaf_sizes_and_small_counts(void) {
    const char *params[] = {"leaf_size=1", "leaf_size=2", "leaf_size=3", "leaf_size=64", "leaf_size=1000"};
    const uint64_t counts[] = {1, 2, 3, 4, 7, 33, 65};
    for (size_t m = 0; m < N_METRICS; m++)
        for (size_t p = 0; p < 5; p++)
            for (size_t c = 0; c < 7; c++) {
                uint32_t dim = metrics[m] == NEARKIT_METRIC_HAMMING ? 32 : 3;
                compare_with_flat(metrics[m], dim, counts[c], (int)(c % 4), params[p], c % 2 == 1);
            }
}

/* A larger index, built on two threads: the top of the tree splits in parallel. Its answers
 * and its tree are the same as a one-thread build's. */
static void test_parallel_build(void) {
    const uint64_t n = 70000;
    float *data = tc_floats(n, 2, 3);
    float *queries = tc_floats(200, 2, 0);
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 2, NULL, 1, data, n, NULL);
    nearkit_index *one = tc_make(VP, NEARKIT_METRIC_L2, 2, NULL, 1, data, n, NULL);
    nearkit_index *two = tc_make(VP, NEARKIT_METRIC_L2, 2, NULL, 2, data, n, NULL);
    CHECK(tc_same_knn(flat, two, queries, 200, 1, 2));
    CHECK(tc_same_knn(flat, two, queries, 200, 10, 2));
    CHECK(tc_same_range(flat, two, queries, 200, 0.05f, 2));
    CHECK_STATUS(nearkit_index_set_param(one, "num_threads", 2), NEARKIT_OK);
    void *a = NULL, *b = NULL;
    size_t sa = 0, sb = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&a, &sa, one), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save_to_buffer(&b, &sb, two), NEARKIT_OK);
    CHECK(sa == sb && a && b && memcmp(a, b, sa) == 0);
    double depth = 0, nodes = 0, leaves = 0;
    CHECK_STATUS(nearkit_index_get_param(&depth, two, "depth"), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&nodes, two, "node_count"), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&leaves, two, "leaf_count"), NEARKIT_OK);
    CHECK(depth >= 10 && depth <= 13); /* median splits: ceil(log2(70000 / 32)) = 12 */
    CHECK(nodes == 2 * leaves - 1);
    nearkit_buffer_free(a);
    nearkit_buffer_free(b);
    nearkit_index_free(flat), nearkit_index_free(one), nearkit_index_free(two);
    free(data), free(queries);
}

static void test_every_kernel(void) {
    const int32_t impls[] = {NEARKIT_KERNELS_SCALAR, NEARKIT_KERNELS_AVX2, NEARKIT_KERNELS_AVX512};
    for (size_t i = 0; i < 3; i++) {
        if (nearkit_kernels_force(impls[i]) != NEARKIT_OK) continue;
        for (size_t m = 0; m < N_METRICS; m++) {
            uint32_t dim = metrics[m] == NEARKIT_METRIC_HAMMING ? 96 : 13;
            compare_with_flat(metrics[m], dim, 900, 1, NULL, false);
            compare_with_flat(metrics[m], dim, 900, 3, "leaf_size=4", false);
        }
    }
    CHECK_STATUS(nearkit_kernels_force(NEARKIT_KERNELS_AUTO), NEARKIT_OK);
}

/* Cosine with zero vectors and exact duplicates of the query (distance 0 or a hair below). */
static void test_cosine_edges(void) {
    enum { N = 300, D = 5 };
    float *data = tc_floats(N, D, 1);
    for (int j = 0; j < D; j++) data[7 * D + j] = data[11 * D + j] = 0.0f;
    float queries[4 * D];
    memcpy(queries, data + 3 * D, sizeof(float) * D);
    memcpy(queries + D, data + 20 * D, sizeof(float) * D);
    for (int j = 0; j < D; j++) queries[2 * D + j] = 0.0f;
    for (int j = 0; j < D; j++) queries[3 * D + j] = 1e-30f * (float)(j + 1);
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_COSINE, D, NULL, 1, data, N, NULL);
    nearkit_index *tree = tc_make(VP, NEARKIT_METRIC_COSINE, D, "leaf_size=2", 1, data, N, NULL);
    for (uint64_t k = 1; k <= N; k += 37) CHECK(tc_same_knn(flat, tree, queries, 4, k, 1));
    CHECK(tc_same_range(flat, tree, queries, 4, 0.0f, 1));
    CHECK(tc_same_range(flat, tree, queries, 4, 1e-7f, 1));
    CHECK(tc_same_range(flat, tree, queries, 4, 1.0f, 1));
    CHECK(tc_same_range(flat, tree, queries, 4, -1e-7f, 1));
    nearkit_index_free(flat), nearkit_index_free(tree);
    free(data);
}

/* Coordinates up to the largest accepted value next to subnormal ones: huge and subnormal
 * distances stay exact. */
static void test_extreme_values(void) {
    enum { N = 200, D = 3 };
    float data[N * D], queries[6 * D];
    for (int i = 0; i < N * D; i++) {
        float scale = i % 3 == 0 ? NEARKIT_MAX_ABS_VALUE : i % 3 == 1 ? 1e-38f : 1.0f;
        data[i] = (tc_uniform() * 2.0f - 1.0f) * scale;
    }
    for (int i = 0; i < 6 * D; i++) queries[i] = data[(i * 7) % (N * D)];
    for (size_t m = 0; m < 3; m++) {
        nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, metrics[m], D, NULL, 1, data, N, NULL);
        nearkit_index *tree = tc_make(VP, metrics[m], D, "leaf_size=3", 1, data, N, NULL);
        CHECK(tc_same_knn(flat, tree, queries, 6, 1, 1));
        CHECK(tc_same_knn(flat, tree, queries, 6, 9, 1));
        CHECK(tc_same_range(flat, tree, queries, 6, 1e15f, 1));
        CHECK(tc_same_range(flat, tree, queries, 6, INFINITY, 1));
        nearkit_index_free(flat), nearkit_index_free(tree);
    }
}

static void test_build_state(void) {
    enum { D = 4 };
    float *data = tc_floats(100, D, 0);
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, VP, NEARKIT_METRIC_L2, D, NULL), NEARKIT_OK);
    int64_t ids[3];
    float dist[3];
    /* empty: ready, every neighbour missing */
    CHECK(nearkit_index_is_ready(ix) == 1);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, data, 1, 3, NULL), NEARKIT_OK);
    CHECK(ids[0] == -1 && ids[2] == -1 && isinf(dist[0]));
    nearkit_range_result *r = NULL;
    CHECK_STATUS(nearkit_index_range_search(&r, ix, NEARKIT_VECTOR_FLOAT32, data, 1, 10.0f, NULL),
                 NEARKIT_OK);
    CHECK(r && nearkit_range_result_query_count(r) == 1);
    nearkit_range_result_free(r);
    /* added after a build (of the empty index): the writer keeps a built index built */
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, data, 60, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 1);
    nearkit_index *flat60 = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, D, NULL, 1, data, 60, NULL);
    CHECK(tc_same_knn(flat60, ix, data, 100, 3, 1) && tc_same_range(flat60, ix, data, 100, 0.5f, 2));
    nearkit_index_free(flat60);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK); /* idempotent */
    CHECK(nearkit_index_is_ready(ix) == 1);
    /* a few more after the build wait beside the tree, scanned exactly */
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, data + 60 * D, 10, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 1 && nearkit_index_count(ix) == 70);
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && strstr(text, "10 rows added since the last build, scanned exactly"));
    nearkit_string_free(text);
    nearkit_index *flat70 = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, D, NULL, 1, data, 70, NULL);
    CHECK(tc_same_knn(flat70, ix, data, 100, 3, 1) && tc_same_knn(flat70, ix, data, 100, 1, 2));
    nearkit_index_free(flat70);
    /* a quarter of the rows waiting: the add rebuilds the tree over all of them */
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, data + 70 * D, 30, NULL), NEARKIT_OK);
    CHECK(nearkit_index_count(ix) == 100);
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && !strstr(text, "rows added since") && strstr(text, "100 rows in the tree"));
    nearkit_string_free(text);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, D, NULL, 1, data, 100, NULL);
    CHECK(tc_same_knn(flat, ix, data, 100, 7, 2));
    CHECK(tc_same_knn(flat, ix, data, 100, 1, 2));
    /* wrong type, k = 0, NaN query: errors */
    uint8_t codes[4] = {0};
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_BINARY, codes, 1, 3, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, data, 1, 0, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    float nan_query[D] = {0, NAN, 0, 0};
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, nan_query, 1, 3, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_index_free(flat);
    nearkit_index_free(ix);
    free(data);
}

static void test_one_point_and_duplicates(void) {
    float one[3] = {1, 2, 3}, q[6] = {1, 2, 3, -5, 0, 4};
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 3, NULL, 1, one, 1, NULL);
    nearkit_index *tree = tc_make(VP, NEARKIT_METRIC_L2, 3, NULL, 1, one, 1, NULL);
    CHECK(tc_same_knn(flat, tree, q, 2, 1, 1));
    CHECK(tc_same_knn(flat, tree, q, 2, 4, 1));
    int64_t ids[4];
    float dist[4];
    CHECK_STATUS(nearkit_index_search(ids, dist, tree, NEARKIT_VECTOR_FLOAT32, q, 1, 4, NULL), NEARKIT_OK);
    CHECK(ids[0] == 0 && dist[0] == 0.0f && ids[1] == -1 && isinf(dist[3]));
    double depth = -1, nodes = 0;
    CHECK_STATUS(nearkit_index_get_param(&depth, tree, "depth"), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&nodes, tree, "node_count"), NEARKIT_OK);
    CHECK(depth == 0 && nodes == 1);
    nearkit_index_free(flat), nearkit_index_free(tree);

    /* 500 copies of one vector: every split is a tie; ids decide */
    enum { N = 500 };
    float *same = malloc(N * 3 * sizeof *same);
    int64_t *custom = malloc(N * sizeof *custom);
    for (int i = 0; i < N; i++) {
        memcpy(same + 3 * i, one, sizeof one);
        custom[i] = (int64_t)((i * 7919) % N) * 3;
    }
    for (size_t m = 0; m < 4; m++) {
        flat = tc_make(NEARKIT_KIND_FLAT, metrics[m], 3, NULL, 1, same, N, custom);
        tree = tc_make(VP, metrics[m], 3, "leaf_size=4", 2, same, N, custom);
        CHECK(tc_same_knn(flat, tree, q, 2, 1, 1));
        CHECK(tc_same_knn(flat, tree, q, 2, 10, 1));
        CHECK(tc_same_knn(flat, tree, q, 2, N + 1, 1));
        CHECK(tc_same_range(flat, tree, q, 2, 0.0f, 1));
        CHECK(tc_same_range(flat, tree, q, 2, 100.0f, 1));
        nearkit_index_free(flat), nearkit_index_free(tree);
    }
    free(same), free(custom);
}

static void test_parameters_and_describe(void) {
    nearkit_index *ix = NULL;
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = "leaf_size=8";
    CHECK_STATUS(nearkit_index_create(&ix, VP, NEARKIT_METRIC_L1, 4, &o), NEARKIT_OK);
    double v = 0;
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "leaf_size"), NEARKIT_OK);
    CHECK(v == 8);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_size", 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_size", 2.5), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_size", 1e9), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "depth", 3), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "node_count", 3), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "nprobe", 3), NEARKIT_ERR_NOT_FOUND);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_size", 16), NEARKIT_OK);
    bool seen[4] = {false};
    for (size_t i = 0; i < nearkit_index_param_count(ix); i++) {
        const char *name = NULL;
        uint32_t flags = 0;
        CHECK_STATUS(nearkit_index_param_info(&name, &flags, ix, i), NEARKIT_OK);
        if (strcmp(name, "leaf_size") == 0)
            seen[0] = flags == (NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER);
        if (strcmp(name, "depth") == 0) seen[1] = flags & NEARKIT_PARAM_FLAG_READ_ONLY;
        if (strcmp(name, "node_count") == 0) seen[2] = flags & NEARKIT_PARAM_FLAG_READ_ONLY;
        if (strcmp(name, "leaf_count") == 0) seen[3] = flags & NEARKIT_PARAM_FLAG_READ_ONLY;
    }
    CHECK(seen[0] && seen[1] && seen[2] && seen[3]);
    float *data = tc_floats(1000, 4, 0);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, data, 1000, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_size", 32), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "node_count"), NEARKIT_OK);
    CHECK(v == 0);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    double depth = 0, nodes = 0, leaves = 0;
    CHECK_STATUS(nearkit_index_get_param(&depth, ix, "depth"), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&nodes, ix, "node_count"), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&leaves, ix, "leaf_count"), NEARKIT_OK);
    CHECK(depth == 6 && leaves == 64 && nodes == 127); /* 1000 rows halved until <= 16 */
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && strstr(text, "vptree index") && strstr(text, "leaf_size=16") && strstr(text, "depth=6"));
    CHECK(text && strstr(text, "      leaf: rows ") == NULL); /* only the top 4 levels are shown */
    CHECK(text && strstr(text, "        ...") != NULL);
    CHECK(text && strstr(text, "rows 0..999 (1000), vantage id"));
    CHECK(text &&
          strstr(text, "vp-tree by l1 distance: 1000 rows in the tree, depth 6, 127 nodes, 64 leaves"));
    nearkit_string_free(text);
    CHECK(nearkit_index_memory_bytes(ix) >= 1000 * (16 + 8) + 127 * 48);
    nearkit_index_free(ix);
    free(data);
}

typedef struct shared_search {
    const nearkit_index *tree, *flat;
    const float *queries;
    int mismatches;
} shared_search;

static void *search_thread(void *arg) {
    shared_search *s = arg;
    for (int round = 0; round < 5; round++) {
        if (!tc_same_knn(s->flat, s->tree, s->queries, 100, 1 + (uint64_t)round * 3, 1)) s->mismatches++;
        if (!tc_same_range(s->flat, s->tree, s->queries, 100, 0.3f, 1)) s->mismatches++;
    }
    return NULL;
}

static void test_concurrent_searches(void) {
    float *data = tc_floats(5000, 6, 3), *queries = tc_floats(100, 6, 3);
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 6, NULL, 1, data, 5000, NULL);
    nearkit_index *tree = tc_make(VP, NEARKIT_METRIC_L2, 6, NULL, 2, data, 5000, NULL);
    enum { THREADS = 4 };
    shared_search s[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (shared_search){tree, flat, queries, 0};
        CHECK(pthread_create(&th[i], NULL, search_thread, &s[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(s[i].mismatches == 0);
    }
    nearkit_index_free(flat), nearkit_index_free(tree);
    free(data), free(queries);
}

/* ---- persistence ------------------------------------------------------------------------------ */

static void test_save_load(void) {
    for (size_t m = 0; m < N_METRICS; m++) {
        uint32_t dim = metrics[m] == NEARKIT_METRIC_HAMMING ? 64 : 5;
        void *data = tc_data(metrics[m], 3000, dim, 3), *queries = tc_data(metrics[m], 50, dim, 3);
        int64_t *ids = malloc(3000 * sizeof *ids);
        for (int i = 0; i < 3000; i++) ids[i] = 10 * (int64_t)i - 5000;
        nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, metrics[m], dim, NULL, 1, data, 3000, ids);
        nearkit_index *tree = tc_make(VP, metrics[m], dim, "leaf_size=12", 2, data, 3000, ids);
        void *buf = NULL;
        size_t size = 0;
        CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, tree), NEARKIT_OK);
        nearkit_index *back = NULL;
        CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, size), NEARKIT_OK);
        if (back) {
            CHECK(nearkit_index_is_ready(back) == 1);
            CHECK(tc_same_knn(flat, back, queries, 50, 1, 2));
            CHECK(tc_same_knn(flat, back, queries, 50, 10, 2));
            CHECK(tc_same_range(flat, back, queries, 50, tc_radius(flat, queries, 20), 2));
            double a = 0, b = 0;
            nearkit_index_get_param(&a, tree, "node_count");
            nearkit_index_get_param(&b, back, "node_count");
            CHECK(a == b && a > 0);
            nearkit_index_get_param(&a, back, "leaf_size");
            CHECK(a == 12);
            /* the loaded copy saves to the same bytes */
            void *again = NULL;
            size_t again_size = 0;
            CHECK_STATUS(nearkit_index_save_to_buffer(&again, &again_size, back), NEARKIT_OK);
            CHECK(again_size == size && again && memcmp(again, buf, size) == 0);
            nearkit_buffer_free(again);
        }
        nearkit_index_free(back);
        nearkit_buffer_free(buf);
        nearkit_index_free(flat), nearkit_index_free(tree);
        free(data), free(queries), free(ids);
    }
}

/* Saved before the build, or with vectors added since: loads in the same state, and answers
 * before and after a build. */
static void test_save_unbuilt(void) {
    float *data = tc_floats(400, 3, 0);
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, VP, NEARKIT_METRIC_LINF, 3, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, data, 300, NULL), NEARKIT_OK);
    for (int round = 0; round < 2; round++) {
        void *buf = NULL;
        size_t size = 0;
        CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, ix), NEARKIT_OK);
        nearkit_index *back = NULL;
        CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, size), NEARKIT_OK);
        uint64_t count = 300 + 50 * (uint64_t)round;
        CHECK(back && nearkit_index_is_ready(back) == 1 && nearkit_index_count(back) == count);
        if (back) {
            char *text = NULL;
            CHECK_STATUS(nearkit_index_describe(&text, back), NEARKIT_OK);
            CHECK(text && strstr(text, round == 0 ? "300 rows added since" : "50 rows added since"));
            nearkit_string_free(text);
            nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_LINF, 3, NULL, 1, data, count, NULL);
            CHECK(tc_same_knn(flat, back, data, 50, 6, 1));
            CHECK_STATUS(nearkit_index_build(back), NEARKIT_OK);
            CHECK(tc_same_knn(flat, back, data, 50, 6, 1));
            nearkit_index_free(flat);
        }
        nearkit_index_free(back);
        nearkit_buffer_free(buf);
        CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, data + 300 * 3, 50, NULL), NEARKIT_OK);
    }
    nearkit_index_free(ix);
    free(data);
}

/* The node layout of docs/format.md, to forge damaged trees. */
typedef struct forged_node {
    uint64_t begin, end, vantage;
    uint32_t child[2];
    float lo[2], hi[2];
} forged_node;

static void test_corrupted_sections(void) {
    float *data = tc_floats(500, 4, 0);
    nearkit_index *tree = tc_make(VP, NEARKIT_METRIC_L2, 4, "leaf_size=8", 1, data, 500, NULL);
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, tree), NEARKIT_OK);
    uint8_t *image = buf;
    uint64_t len = 0;
    uint8_t *nodes_body = tc_section(image, size, "VPND", &len);
    CHECK(nodes_body && len % sizeof(forged_node) == 0 && len / sizeof(forged_node) >= 63);
    if (!nodes_body) return;
    forged_node root, second;
    memcpy(&root, nodes_body, sizeof root);
    memcpy(&second, nodes_body + sizeof root, sizeof second);
    CHECK(root.begin == 0 && root.end == 500 && root.child[0] == 1);
    /* an unchanged image loads */
    CHECK_STATUS(tc_load_patched(buf, size, "VPND", 0, &root, sizeof root), NEARKIT_OK);

    uint32_t far_child = 1000000, self = 0, big = 0xFFFFFFFEu;
    uint64_t huge = UINT64_MAX, past = 501, zero = 0, one = 1;
    float bad_hi = root.hi[0] * 0.5f, nan = NAN, wide = root.hi[1] * 4.0f;
    const size_t child0 = offsetof(forged_node, child), child1 = child0 + 4;
    struct {
        const char *tag;
        uint64_t offset;
        const void *bytes;
        size_t len;
    } cases[] = {
        {"VPND", child0, &far_child, 4},                       /* child out of range */
        {"VPND", child0, &self, 4},                            /* a cycle */
        {"VPND", child1, &big, 4},                             /* half a leaf */
        {"VPND", offsetof(forged_node, end), &past, 8},        /* root past the rows */
        {"VPND", offsetof(forged_node, end), &one, 8},         /* root short of the rows */
        {"VPND", offsetof(forged_node, vantage), &huge, 8},    /* vantage outside the node */
        {"VPND", sizeof root + offsetof(forged_node, begin), &one, 8}, /* children overlap */
        {"VPND", offsetof(forged_node, hi), &bad_hi, 4},       /* a bound too tight */
        {"VPND", offsetof(forged_node, lo) + 4, &nan, 4},      /* a NaN bound */
        {"VPND", offsetof(forged_node, hi) + 4, &wide, 4},     /* a bound too loose */
        {"VPHD", 0, &huge, 8},                                 /* more tree rows than rows */
        {"VPHD", 0, &zero, 8},                                 /* nodes without rows */
        {"VPHD", 8, &one, 8},                                  /* node count != section */
        {"VPHD", 8, &huge, 8},
        {"IDS ", 16, &huge, 8}, /* id -1 marks a removed row: 499 live, the header says 500 */
        {"VECS", 4, &nan, 4},                                  /* a NaN vector */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nearkit_status st =
            tc_load_patched(buf, size, cases[i].tag, cases[i].offset, cases[i].bytes, cases[i].len);
        if (st != NEARKIT_ERR_CORRUPT)
            fprintf(stderr, "  forged case %zu loaded with %s\n", i, nearkit_status_name(st));
        CHECK(st == NEARKIT_ERR_CORRUPT);
    }

    /* a node section of the wrong length, a missing section */
    uint8_t *copy = malloc(size);
    memcpy(copy, buf, size);
    uint8_t *head = tc_section(copy, size, "VPHD", &len);
    memcpy(head - 16, "XXXX", 4);
    tc_reseal(copy, size);
    nearkit_index *back = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, copy, size), NEARKIT_ERR_CORRUPT);
    CHECK(back == NULL);
    memcpy(copy, buf, size);
    nodes_body = tc_section(copy, size, "VPND", &len);
    uint64_t shorter = len - 4;
    memcpy(nodes_body - 8, &shorter, 8);
    tc_reseal(copy, size);
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, copy, size), NEARKIT_ERR_CORRUPT);
    /* truncation at every 97th byte never crashes */
    for (size_t cut = 0; cut < size; cut += 97) {
        nearkit_status st = nearkit_index_load_from_buffer(&back, buf, cut);
        CHECK(st == NEARKIT_ERR_CORRUPT);
        nearkit_index_free(back);
        back = NULL;
    }
    free(copy);
    nearkit_buffer_free(buf);
    nearkit_index_free(tree);
    free(data);
}

/* ---- a living collection ---------------------------------------------------------------------- */

/* Removal, read back, filters, saving with removed rows, adding after a build, compaction: the
 * answers equal a flat index's of the live rows (tree_check.h), under every metric. */
static void test_living_collection(void) {
    tc_check_living(VP, NEARKIT_METRIC_L2, 8, "leaf_size=16", 3);
    tc_check_living(VP, NEARKIT_METRIC_L1, 4, NULL, 1);
    tc_check_living(VP, NEARKIT_METRIC_COSINE, 16, "leaf_size=8", 0);
    tc_check_living(VP, NEARKIT_METRIC_LINF, 3, NULL, 2);
    tc_check_living(VP, NEARKIT_METRIC_HAMMING, 64, "leaf_size=32", 1);
}

/* Searched before any build: answered by scanning, exactly. */
static void test_unbuilt(void) {
    tc_check_unbuilt(VP, NEARKIT_METRIC_L2, 5, 0);
    tc_check_unbuilt(VP, NEARKIT_METRIC_HAMMING, 32, 1);
}

int main(void) {
    test_exact_like_flat();
    test_leaf_sizes_and_small_counts();
    test_parallel_build();
    test_every_kernel();
    test_cosine_edges();
    test_extreme_values();
    test_build_state();
    test_one_point_and_duplicates();
    test_parameters_and_describe();
    test_concurrent_searches();
    test_save_load();
    test_save_unbuilt();
    test_corrupted_sections();
    test_living_collection();
    test_unbuilt();
    return check_summary("test_vptree");
}
