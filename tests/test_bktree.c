/* The bktree kind: every answer equals the flat index's bit for bit (ids, distances, the order of
 * ties) on random, tie-heavy and duplicate codes, for range search at many radii, k = 1 (fast
 * path), k > 1, k > count, custom ids, every leaf size and every kernel implementation; a
 * degenerate (very deep) tree; plus the build state, parameters, description, concurrent
 * searches, and save/load with damaged tree sections. */
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

#define BK NEARKIT_KIND_BKTREE
#define HAM NEARKIT_METRIC_HAMMING

static void compare_codes(const uint8_t *data, uint64_t n, const uint8_t *queries, uint64_t nq,
                          uint32_t bits, const char *params, const int64_t *ids, const char *what) {
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, HAM, bits, NULL, 1, data, n, ids);
    nearkit_index *tree = tc_make(BK, HAM, bits, params, 2, data, n, ids);
    if (!flat || !tree) return;
    const uint64_t ks[] = {1, 2, 5, 10, n, n + 3};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        bool same = tc_same_knn(flat, tree, queries, nq, ks[i], 1) &&
                    tc_same_knn(flat, tree, queries, nq, ks[i], 2);
        if (!same)
            fprintf(stderr, "  bktree k-NN != flat: %s bits %u n %llu params %s k %llu\n", what, bits,
                    (unsigned long long)n, params ? params : "-", (unsigned long long)ks[i]);
        CHECK(same);
    }
    const float radii[] = {-1.0f, 0.0f, 0.5f, 1.0f, 2.5f, 3.0f, (float)bits / 8, (float)bits / 3,
                           (float)bits / 2, (float)bits, INFINITY};
    for (size_t i = 0; i < sizeof radii / sizeof radii[0]; i++) {
        bool same = tc_same_range(flat, tree, queries, nq, radii[i], 2);
        if (!same)
            fprintf(stderr, "  bktree range != flat: %s bits %u n %llu params %s radius %g\n", what, bits,
                    (unsigned long long)n, params ? params : "-", (double)radii[i]);
        CHECK(same);
    }
    nearkit_index_free(flat);
    nearkit_index_free(tree);
}

static void compare_with_flat(uint32_t bits, uint64_t n, int style, const char *params, bool custom_ids) {
    uint8_t *data = tc_codes(n, bits, style);
    uint8_t *queries = tc_codes(30, bits, style);
    /* some queries equal stored codes: distance 0 and key-0 buckets */
    for (uint64_t q = 0; q < 10 && n > 0; q++)
        memcpy(queries + q * (bits / 8), data + (q * 7 % n) * (bits / 8), bits / 8);
    int64_t *ids = NULL;
    if (custom_ids) {
        ids = malloc(n * sizeof *ids);
        for (uint64_t i = 0; i < n; i++) ids[i] = (int64_t)(tc_next() % (n / 2 + 1)) - 7;
        for (uint64_t i = 0; i < n; i++)
            if (ids[i] == -1) ids[i] = -2;
    }
    char what[64];
    snprintf(what, sizeof what, "style %d ids %d", style, custom_ids);
    compare_codes(data, n, queries, 30, bits, params, ids, what);
    free(data), free(queries), free(ids);
}

static void test_exact_like_flat(void) {
    const uint32_t bits[] = {8, 64, 136, 256, 512};
    for (size_t b = 0; b < 5; b++) {
        for (int style = 0; style < 3; style++) compare_with_flat(bits[b], 2000, style, NULL, false);
        compare_with_flat(bits[b], 700, 1, "leaf_size=1", true);
        compare_with_flat(bits[b], 700, 0, "leaf_size=3", true);
    }
}

static void test_leaf_sizes_and_small_counts(void) {
    const char *params[] = {"leaf_size=1", "leaf_size=2", "leaf_size=16", "leaf_size=64", "leaf_size=1000"};
    const uint64_t counts[] = {1, 2, 3, 5, 17, 40, 130};
    for (size_t p = 0; p < 5; p++)
        for (size_t c = 0; c < 7; c++)
            compare_with_flat(c % 2 ? 16 : 128, counts[c], (int)(c % 3), params[p], c % 2 == 0);
}

/* One-hot codes: every pair at distance 2, so every node has one big group and the tree is a
 * chain as long as the data (the build and the search keep their stacks on the heap). */
static void test_degenerate_chain(void) {
    enum { BITS = 1024, N = BITS };
    uint8_t *data = calloc(N, BITS / 8), *queries = calloc(4, BITS / 8);
    for (int i = 0; i < N; i++) data[(size_t)i * (BITS / 8) + (size_t)i / 8] = (uint8_t)(1u << (i % 8));
    queries[3] = 0x81;
    queries[BITS / 8 + 100] = 0xFF;
    memcpy(queries + 2 * (BITS / 8), data + 77 * (BITS / 8), BITS / 8);
    compare_codes(data, N, queries, 4, BITS, "leaf_size=1", NULL, "one-hot");
    nearkit_index *tree = tc_make(BK, HAM, BITS, "leaf_size=1", 1, data, N, NULL);
    double depth = 0;
    CHECK_STATUS(nearkit_index_get_param(&depth, tree, "depth"), NEARKIT_OK);
    CHECK(depth > 500);
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, tree), NEARKIT_OK);
    nearkit_index *back = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, size), NEARKIT_OK);
    CHECK(back && tc_same_knn(tree, back, queries, 4, 3, 1));
    nearkit_index_free(back);
    nearkit_buffer_free(buf);
    nearkit_index_free(tree);
    free(data), free(queries);
}

/* A larger index, built on two threads: the top of the tree is split in parallel. Its answers
 * and its tree are the same as a one-thread build's. */
static void test_parallel_build(void) {
    const uint64_t n = 60000;
    uint8_t *data = tc_codes(n, 64, 0), *queries = tc_codes(100, 64, 0);
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, HAM, 64, NULL, 1, data, n, NULL);
    nearkit_index *one = tc_make(BK, HAM, 64, NULL, 1, data, n, NULL);
    nearkit_index *two = tc_make(BK, HAM, 64, NULL, 2, data, n, NULL);
    CHECK(tc_same_knn(flat, two, queries, 100, 1, 2));
    CHECK(tc_same_knn(flat, two, queries, 100, 10, 2));
    CHECK(tc_same_range(flat, two, queries, 100, 20.0f, 2));
    CHECK_STATUS(nearkit_index_set_param(one, "num_threads", 2), NEARKIT_OK);
    void *a = NULL, *b = NULL;
    size_t sa = 0, sb = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&a, &sa, one), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save_to_buffer(&b, &sb, two), NEARKIT_OK);
    CHECK(sa == sb && a && b && memcmp(a, b, sa) == 0);
    nearkit_buffer_free(a);
    nearkit_buffer_free(b);
    nearkit_index_free(flat), nearkit_index_free(one), nearkit_index_free(two);
    free(data), free(queries);
}

static void test_every_kernel(void) {
    const int32_t impls[] = {NEARKIT_KERNELS_SCALAR, NEARKIT_KERNELS_AVX2, NEARKIT_KERNELS_AVX512};
    for (size_t i = 0; i < 3; i++) {
        if (nearkit_kernels_force(impls[i]) != NEARKIT_OK) continue;
        compare_with_flat(96, 900, 0, NULL, false);
        compare_with_flat(256, 900, 1, "leaf_size=4", true);
        compare_with_flat(520, 500, 2, NULL, false);
    }
    CHECK_STATUS(nearkit_kernels_force(NEARKIT_KERNELS_AUTO), NEARKIT_OK);
}

static void test_duplicates(void) {
    enum { N = 600, BYTES = 8 };
    uint8_t *same = malloc(N * BYTES), queries[2 * BYTES];
    int64_t *ids = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++) {
        memset(same + i * BYTES, 0x5A, BYTES);
        ids[i] = (int64_t)((i * 7919) % N) * 3;
    }
    memset(queries, 0x5A, BYTES);
    memset(queries + BYTES, 0x0F, BYTES);
    compare_codes(same, N, queries, 2, 64, "leaf_size=4", ids, "all duplicates");
    nearkit_index *tree = tc_make(BK, HAM, 64, "leaf_size=4", 1, same, N, ids);
    double nodes = 0, leaves = 0;
    CHECK_STATUS(nearkit_index_get_param(&nodes, tree, "node_count"), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&leaves, tree, "leaf_count"), NEARKIT_OK);
    CHECK(nodes == 1 && leaves == 1); /* one key-0 bucket, never scanned */
    nearkit_index_free(tree);
    free(same), free(ids);
}

static void test_build_state(void) {
    uint8_t *data = tc_codes(100, 32, 0);
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, BK, HAM, 32, NULL), NEARKIT_OK);
    int64_t ids[3];
    float dist[3];
    CHECK(nearkit_index_is_ready(ix) == 1);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_BINARY, data, 1, 3, NULL), NEARKIT_OK);
    CHECK(ids[0] == -1 && isinf(dist[2]));
    /* added after a build (of the empty index): the writer keeps a built index built */
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, data, 60, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 1);
    nearkit_index *flat60 = tc_make(NEARKIT_KIND_FLAT, HAM, 32, NULL, 1, data, 60, NULL);
    CHECK(tc_same_knn(flat60, ix, data, 100, 3, 1) && tc_same_knn(flat60, ix, data, 100, 1, 1));
    CHECK(tc_same_range(flat60, ix, data, 100, 9.0f, 2));
    nearkit_index_free(flat60);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    /* a few more after the build wait beside the tree, scanned exactly */
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, data + 60 * 4, 10, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 1 && nearkit_index_count(ix) == 70);
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && strstr(text, "10 rows added since the last build, scanned exactly"));
    nearkit_string_free(text);
    nearkit_index *flat70 = tc_make(NEARKIT_KIND_FLAT, HAM, 32, NULL, 1, data, 70, NULL);
    CHECK(tc_same_knn(flat70, ix, data, 100, 3, 1) && tc_same_knn(flat70, ix, data, 100, 1, 2));
    CHECK(tc_same_range(flat70, ix, data, 100, 9.0f, 2));
    nearkit_index_free(flat70);
    /* a quarter of the rows waiting: the add rebuilds the tree over all of them */
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, data + 70 * 4, 30, NULL), NEARKIT_OK);
    CHECK(nearkit_index_count(ix) == 100);
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && !strstr(text, "rows added since") && strstr(text, "100 rows in the tree"));
    nearkit_string_free(text);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, HAM, 32, NULL, 1, data, 100, NULL);
    CHECK(tc_same_knn(flat, ix, data, 100, 7, 2));
    CHECK(tc_same_range(flat, ix, data, 100, 9.0f, 2));
    float fq[1] = {0};
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, fq, 1, 3, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_range_result *r = NULL;
    CHECK_STATUS(nearkit_index_range_search(&r, ix, NEARKIT_VECTOR_BINARY, data, 1, NAN, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_index *other = NULL;
    CHECK_STATUS(nearkit_index_create(&other, BK, NEARKIT_METRIC_L2, 8, NULL), NEARKIT_ERR_UNSUPPORTED);
    CHECK(other == NULL);
    nearkit_index_free(flat);
    nearkit_index_free(ix);
    free(data);
}

static void test_parameters_and_describe(void) {
    nearkit_index *ix = NULL;
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = "leaf_size=8";
    CHECK_STATUS(nearkit_index_create(&ix, BK, HAM, 256, &o), NEARKIT_OK);
    double v = 0;
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "leaf_size"), NEARKIT_OK);
    CHECK(v == 8);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_size", 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_size", 1.5), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "depth", 1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_count", 1), NEARKIT_ERR_INVALID_ARGUMENT);
    uint8_t *data = tc_codes(5000, 256, 0);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, data, 5000, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_size", 32), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    double depth = 0, nodes = 0, leaves = 0;
    CHECK_STATUS(nearkit_index_get_param(&depth, ix, "depth"), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&nodes, ix, "node_count"), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&leaves, ix, "leaf_count"), NEARKIT_OK);
    CHECK(depth >= 1 && depth <= 4 && nodes > 10 && leaves > nodes);
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && strstr(text, "bktree index") && strstr(text, "leaf_size=8"));
    CHECK(text && strstr(text, "bk-tree by hamming distance: 5000 rows in the tree"));
    CHECK(text && strstr(text, "  node: rows 0..4999 (5000), pivot id"));
    CHECK(text && strstr(text, "    key "));
    nearkit_string_free(text);
    CHECK(nearkit_index_memory_bytes(ix) >= 5000 * (32 + 8));
    nearkit_index_free(ix);
    free(data);
}

typedef struct shared_search {
    const nearkit_index *tree, *flat;
    const uint8_t *queries;
    int mismatches;
} shared_search;

static void *search_thread(void *arg) {
    shared_search *s = arg;
    for (int round = 0; round < 5; round++) {
        if (!tc_same_knn(s->flat, s->tree, s->queries, 50, 1 + (uint64_t)round * 3, 1)) s->mismatches++;
        if (!tc_same_range(s->flat, s->tree, s->queries, 50, (float)(10 + round), 1)) s->mismatches++;
    }
    return NULL;
}

static void test_concurrent_searches(void) {
    uint8_t *data = tc_codes(8000, 64, 0), *queries = tc_codes(50, 64, 0);
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, HAM, 64, NULL, 1, data, 8000, NULL);
    nearkit_index *tree = tc_make(BK, HAM, 64, NULL, 2, data, 8000, NULL);
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
    uint8_t *data = tc_codes(4000, 128, 1), *queries = tc_codes(40, 128, 1);
    int64_t *ids = malloc(4000 * sizeof *ids);
    for (int i = 0; i < 4000; i++) ids[i] = 1000000 - 3 * (int64_t)i;
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, HAM, 128, NULL, 1, data, 4000, ids);
    nearkit_index *tree = tc_make(BK, HAM, 128, "leaf_size=6", 2, data, 4000, ids);
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, tree), NEARKIT_OK);
    nearkit_index *back = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, size), NEARKIT_OK);
    if (back) {
        CHECK(nearkit_index_is_ready(back) == 1);
        CHECK(tc_same_knn(flat, back, queries, 40, 1, 2));
        CHECK(tc_same_knn(flat, back, queries, 40, 12, 2));
        CHECK(tc_same_range(flat, back, queries, 40, 6.0f, 2));
        double a = 0, b = 0;
        nearkit_index_get_param(&a, tree, "node_count");
        nearkit_index_get_param(&b, back, "node_count");
        CHECK(a == b && a > 0);
        nearkit_index_get_param(&a, back, "leaf_size");
        CHECK(a == 6);
        void *again = NULL;
        size_t again_size = 0;
        CHECK_STATUS(nearkit_index_save_to_buffer(&again, &again_size, back), NEARKIT_OK);
        CHECK(again_size == size && again && memcmp(again, buf, size) == 0);
        nearkit_buffer_free(again);
    }
    nearkit_index_free(back);
    nearkit_buffer_free(buf);
    /* saved with vectors waiting for a build: loads in the same state */
    CHECK_STATUS(nearkit_index_add(tree, NEARKIT_VECTOR_BINARY, queries, 40, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, tree), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, size), NEARKIT_OK);
    CHECK(back && nearkit_index_is_ready(back) == 1 && nearkit_index_count(back) == 4040);
    if (back) {
        CHECK(tc_same_knn(tree, back, queries, 40, 5, 1));
        CHECK_STATUS(nearkit_index_build(back), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_build(tree), NEARKIT_OK);
        CHECK(tc_same_knn(tree, back, queries, 40, 5, 1));
    }
    nearkit_index_free(back);
    nearkit_buffer_free(buf);
    nearkit_index_free(flat), nearkit_index_free(tree);
    free(data), free(queries), free(ids);
}

/* The node and edge layouts of docs/format.md, to forge damaged trees. */
typedef struct forged_node {
    uint64_t begin, end, pivot, first_edge;
    uint32_t n_edges, reserved;
} forged_node;

typedef struct forged_edge {
    uint64_t begin, end;
    uint32_t key, child;
} forged_edge;

static void test_corrupted_sections(void) {
    uint8_t *data = tc_codes(3000, 64, 0);
    nearkit_index *tree = tc_make(BK, HAM, 64, "leaf_size=4", 1, data, 3000, NULL);
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, tree), NEARKIT_OK);
    uint64_t len = 0;
    uint8_t *nodes_body = tc_section(buf, size, "BKND", &len);
    uint8_t *edges_body = tc_section(buf, size, "BKED", &len);
    CHECK(nodes_body && edges_body);
    if (!nodes_body || !edges_body) return;
    forged_node root;
    memcpy(&root, nodes_body, sizeof root);
    CHECK(root.begin == 0 && root.end == 3000 && root.first_edge == 0 && root.n_edges > 3);
    /* find a child edge of the root and a leaf edge with key > 0 */
    uint64_t child_edge = UINT64_MAX, leaf_edge = UINT64_MAX;
    forged_edge e;
    for (uint64_t j = 0; j < root.n_edges; j++) {
        memcpy(&e, edges_body + j * sizeof e, sizeof e);
        if (e.child != UINT32_MAX && child_edge == UINT64_MAX) child_edge = j;
        if (e.child == UINT32_MAX && e.key > 0 && leaf_edge == UINT64_MAX) leaf_edge = j;
    }
    CHECK(child_edge != UINT64_MAX && leaf_edge != UINT64_MAX);
    if (child_edge == UINT64_MAX || leaf_edge == UINT64_MAX) return;
    CHECK_STATUS(tc_load_patched(buf, size, "BKND", 0, &root, sizeof root), NEARKIT_OK);

    forged_edge leaf;
    memcpy(&leaf, edges_body + leaf_edge * sizeof leaf, sizeof leaf);
    uint32_t zero32 = 0, self = 0, far = 999999, big = 65, one32 = 1, key_shift = leaf.key + 1;
    uint64_t huge = UINT64_MAX, past = 3001, zero = 0, one = 1, gap = leaf.begin + 1;
    uint64_t leaf_off = leaf_edge * sizeof(forged_edge), child_off = child_edge * sizeof(forged_edge);
    struct {
        const char *tag;
        uint64_t offset;
        const void *bytes;
        size_t len;
    } cases[] = {
        {"BKND", offsetof(forged_node, end), &past, 8},                 /* root past the rows */
        {"BKND", offsetof(forged_node, end), &one, 8},                  /* root short of the rows */
        {"BKND", offsetof(forged_node, pivot), &huge, 8},               /* pivot outside */
        {"BKND", offsetof(forged_node, first_edge), &one, 8},           /* edges not in order */
        {"BKND", offsetof(forged_node, n_edges), &zero32, 4},           /* no edges */
        {"BKND", offsetof(forged_node, n_edges), &far, 4},              /* more edges than exist */
        {"BKND", offsetof(forged_node, pivot), &leaf.begin, 8},         /* another pivot: keys disagree */
        {"BKED", child_off + offsetof(forged_edge, child), &self, 4},   /* a cycle */
        {"BKED", child_off + offsetof(forged_edge, child), &far, 4},    /* child out of range */
        {"BKED", leaf_off + offsetof(forged_edge, key), &big, 4},       /* key beyond the dimension */
        {"BKED", leaf_off + offsetof(forged_edge, begin), &gap, 8},     /* a gap between groups */
        {"BKED", leaf_off + offsetof(forged_edge, end), &huge, 8},      /* group past the node */
        {"BKED", leaf_off + offsetof(forged_edge, child), &one32, 4},   /* child of another range */
        {"BKHD", 0, &huge, 8},
        {"BKHD", 0, &zero, 8},
        {"BKHD", 8, &one, 8},
        {"BKHD", 16, &one, 8},
        {"IDS ", 8, &huge, 8}, /* id -1 marks a removed row: 2999 live, the header says 3000 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nearkit_status st =
            tc_load_patched(buf, size, cases[i].tag, cases[i].offset, cases[i].bytes, cases[i].len);
        if (st != NEARKIT_ERR_CORRUPT)
            fprintf(stderr, "  forged case %zu loaded with %s\n", i, nearkit_status_name(st));
        CHECK(st == NEARKIT_ERR_CORRUPT);
    }
    /* a key one off, where it keeps the keys increasing: caught by the key check */
    forged_edge next;
    memcpy(&next, edges_body + (leaf_edge + 1) * sizeof next, sizeof next);
    if (leaf_edge + 1 < root.n_edges && next.key > key_shift)
        CHECK(tc_load_patched(buf, size, "BKED", leaf_off + offsetof(forged_edge, key), &key_shift, 4) ==
              NEARKIT_ERR_CORRUPT);
    /* two rows of different groups swapped in the vector section */
    uint8_t row_a[8], row_b[8];
    uint64_t vlen = 0;
    uint8_t *vecs = tc_section(buf, size, "VECS", &vlen);
    memcpy(row_a, vecs + leaf.begin * 8, 8);
    memcpy(row_b, vecs + (leaf.end % 3000) * 8, 8);
    if (memcmp(row_a, row_b, 8) != 0)
        CHECK(tc_load_patched(buf, size, "VECS", leaf.begin * 8, row_b, 8) == NEARKIT_ERR_CORRUPT);
    for (size_t cut = 0; cut < size; cut += 89) {
        nearkit_index *back = NULL;
        CHECK(nearkit_index_load_from_buffer(&back, buf, cut) == NEARKIT_ERR_CORRUPT);
        nearkit_index_free(back);
    }
    nearkit_buffer_free(buf);
    nearkit_index_free(tree);
    free(data);
}

/* ---- a living collection ---------------------------------------------------------------------- */

/* Removal, read back, filters, saving with removed rows, adding after a build, compaction: the
 * answers equal a flat index's of the live rows (tree_check.h), on random, tie-heavy and
 * duplicate codes. */
static void test_living_collection(void) {
    tc_check_living(BK, HAM, 64, "leaf_size=16", 0);
    tc_check_living(BK, HAM, 32, "leaf_size=4", 1);
    tc_check_living(BK, HAM, 128, NULL, 2);
}

/* Searched before any build: answered by scanning, exactly. */
static void test_unbuilt(void) {
    tc_check_unbuilt(BK, HAM, 64, 0);
    tc_check_unbuilt(BK, HAM, 16, 1);
}

int main(void) {
    test_exact_like_flat();
    test_leaf_sizes_and_small_counts();
    test_degenerate_chain();
    test_parallel_build();
    test_every_kernel();
    test_duplicates();
    test_build_state();
    test_parameters_and_describe();
    test_concurrent_searches();
    test_save_load();
    test_corrupted_sections();
    test_living_collection();
    test_unbuilt();
    return check_summary("test_bktree");
}
