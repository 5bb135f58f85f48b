/* The ivf_binary kind (inverted file over binary codes, binary k-means): nprobe = nlist equals the
 * flat index exactly (k-NN and range, ties included) at 64 to 512 bits; recall grows with nprobe
 * on clustered codes; training is deterministic for a seed whatever the thread count; vectors
 * added before training are kept, and adding after training works; parameters; save/load and
 * damaged sections; concurrent searches; golden binary cases at nprobe = nlist.
 * Usage: test_ivf_binary [GOLDEN_DIR] */
#include "nearkit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binary_test_util.h"
#include "check.h"
#include "golden_util.h"
#include "ivf_living.h"

#define IVF NEARKIT_KIND_IVF_BINARY
#define FLAT NEARKIT_KIND_FLAT
#define BIN NEARKIT_VECTOR_BINARY

/* Codes around `centers` random centers, each with up to max_flips bits flipped. */
static void clustered_codes(uint8_t *out, size_t n, size_t nbytes, size_t centers, unsigned max_flips,
                            uint64_t *rng) {
    uint8_t *c = malloc(centers * nbytes);
    bt_random_codes(c, centers, nbytes, rng);
    for (size_t i = 0; i < n; i++) {
        memcpy(out + i * nbytes, c + (bt_next(rng) % centers) * nbytes, nbytes);
        bt_flip_bits(out + i * nbytes, nbytes, (unsigned)(bt_next(rng) % (max_flips + 1)), rng);
    }
    free(c);
}

static nearkit_index *ivf_all_probes(uint32_t bits, const char *params, const uint8_t *codes, size_t n,
                                     const int64_t *ids) {
    nearkit_index *ix = bt_build(IVF, bits, params, 0, codes, n, ids);
    double lists;
    if (ix && nearkit_index_get_param(&lists, ix, "list_count") == NEARKIT_OK)
        nearkit_index_set_param(ix, "nprobe", lists);
    return ix;
}

/* ---- exactness at nprobe = nlist --------------------------------------------------------------- */

static void check_exact(uint32_t bits, size_t n, const char *params, uint64_t seed) {
    size_t nbytes = bits / 8, nq = 80;
    uint64_t rng = seed;
    uint8_t *base = malloc(n * nbytes), *queries = malloc(nq * nbytes);
    bt_planted_codes(base, n, nbytes, n / 50, 5, bits / 16 + 2, &rng);
    bt_near_queries(queries, nq - 10, base, n, nbytes, bits / 8, &rng);
    bt_random_codes(queries + (nq - 10) * nbytes, 10, nbytes, &rng);
    nearkit_index *flat = bt_build(FLAT, bits, NULL, 0, base, n, NULL);
    nearkit_index *ivf = ivf_all_probes(bits, params, base, n, NULL);
    CHECK(flat && ivf);
    if (flat && ivf) {
        const size_t ks[] = {1, 10, 64};
        for (size_t i = 0; i < 3; i++) {
            long bad = bt_knn_mismatches(ivf, flat, queries, nq, ks[i]);
            if (bad) fprintf(stderr, "k-NN: %u bits, '%s', k %zu\n", bits, params ? params : "", ks[i]);
            CHECK(bad == 0);
        }
        const float radii[] = {0, 3, (float)bits / 8, (float)bits / 3, (float)bits};
        for (size_t i = 0; i < 5; i++) {
            long bad = bt_range_mismatches(ivf, flat, queries, nq, radii[i], NULL);
            if (bad) fprintf(stderr, "range: %u bits, '%s', radius %g\n", bits, params ? params : "", radii[i]);
            CHECK(bad == 0);
        }
    }
    nearkit_index_free(flat);
    nearkit_index_free(ivf);
    free(base);
    free(queries);
}

static void test_exactness(void) {
    check_exact(64, 6000, NULL, 1);
    check_exact(64, 3000, "nlist=1", 2);
    check_exact(128, 5000, "nlist=37", 3);
    check_exact(256, 8000, "nlist=200,train_size=3000", 4);
    check_exact(512, 4000, "nlist=16,iterations=3", 5);
    check_exact(8, 500, "nlist=50", 6); /* 256 possible codes: duplicates and empty clusters */
}

/* ---- recall below nprobe = nlist --------------------------------------------------------------- */

static double recall_at(const nearkit_index *ix, const float *truth_dist, const uint8_t *queries, size_t nq,
                        size_t k) {
    int64_t *ids = malloc(nq * k * sizeof *ids);
    float *dist = malloc(nq * k * sizeof *dist);
    size_t found = 0;
    if (nearkit_index_search(ids, dist, ix, BIN, queries, nq, k, NULL) == NEARKIT_OK) {
        for (size_t q = 0; q < nq; q++) /* a result as near as the k-th true neighbour counts */
            for (size_t j = 0; j < k; j++) found += dist[q * k + j] <= truth_dist[q * k + k - 1];
    }
    free(ids);
    free(dist);
    return (double)found / (double)(nq * k);
}

static void test_recall(void) {
    enum { N = 40000, NQ = 200, K = 10 };
    uint32_t bits = 128;
    size_t nbytes = bits / 8;
    uint64_t rng = 2024;
    uint8_t *base = malloc(N * nbytes), *queries = malloc(NQ * nbytes);
    clustered_codes(base, N, nbytes, 400, 30, &rng);
    bt_near_queries(queries, NQ, base, N, nbytes, 12, &rng);
    nearkit_index *flat = bt_build(FLAT, bits, NULL, 0, base, N, NULL);
    nearkit_index *ivf = bt_build(IVF, bits, "nlist=100", 0, base, N, NULL);
    CHECK(flat && ivf);
    if (flat && ivf) {
        int64_t *truth = malloc(NQ * K * sizeof *truth);
        float *truth_dist = malloc(NQ * K * sizeof *truth_dist);
        CHECK_STATUS(nearkit_index_search(truth, truth_dist, flat, BIN, queries, NQ, K, NULL), NEARKIT_OK);
        double previous = 0;
        const int probes[] = {1, 2, 4, 8, 16, 100};
        for (size_t p = 0; p < 6; p++) {
            CHECK_STATUS(nearkit_index_set_param(ivf, "nprobe", probes[p]), NEARKIT_OK);
            double r = recall_at(ivf, truth_dist, queries, NQ, K);
            printf("  ivf_binary recall@%d at nprobe %d of 100: %.3f\n", K, probes[p], r);
            CHECK(r >= previous);
            previous = r;
            if (probes[p] == 4) CHECK(r >= 0.8);
        }
        CHECK(previous == 1.0);
        free(truth);
        free(truth_dist);
    }
    nearkit_index_free(flat);
    nearkit_index_free(ivf);
    free(base);
    free(queries);
}

/* ---- training ---------------------------------------------------------------------------------- */

static uint8_t *saved(size_t *size, const nearkit_index *ix) {
    void *image = NULL;
    if (nearkit_index_save_to_buffer(&image, size, ix) != NEARKIT_OK) return NULL;
    return image;
}

/* Same sections (centroids, assignments) for two images. */
static int same_section(const uint8_t *a, const uint8_t *b, const char *tag) {
    uint64_t la, lb;
    const uint8_t *sa = bt_find_section(&la, a, tag), *sb = bt_find_section(&lb, b, tag);
    return sa && sb && la == lb && memcmp(sa, sb, la) == 0;
}

static void test_training(void) {
    enum { N = 20000 };
    uint32_t bits = 256;
    size_t nbytes = bits / 8;
    uint64_t rng = 31;
    uint8_t *base = malloc(N * nbytes);
    clustered_codes(base, N, nbytes, 64, 40, &rng);

    /* deterministic for a seed, whatever the thread count */
    nearkit_index *a = bt_build(IVF, bits, "nlist=64", 1, base, N, NULL);
    nearkit_index *b = bt_build(IVF, bits, "nlist=64", 2, base, N, NULL);
    CHECK(a && b);
    size_t sa = 0, sb = 0;
    uint8_t *ia = a ? saved(&sa, a) : NULL, *ib = b ? saved(&sb, b) : NULL;
    CHECK(ia && ib && same_section(ia, ib, "BCEN") && same_section(ia, ib, "LOFF") &&
          same_section(ia, ib, "LPOS"));
    nearkit_buffer_free(ib);
    nearkit_index_free(b);
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.seed = 7;
    o.params = "nlist=64";
    CHECK_STATUS(nearkit_index_create(&b, IVF, NEARKIT_METRIC_HAMMING, bits, &o), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(b, BIN, base, N, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(b), NEARKIT_OK);
    ib = saved(&sb, b);
    CHECK(ib && !same_section(ia, ib, "BCEN")); /* another seed, other centroids */
    nearkit_buffer_free(ia);
    nearkit_buffer_free(ib);
    nearkit_index_free(a);
    nearkit_index_free(b);

    /* states: untrained search, build with nothing, train twice, add after training */
    nearkit_index *ix = NULL;
    int64_t ids[4];
    float dist[4];
    CHECK_STATUS(nearkit_index_create(&ix, IVF, NEARKIT_METRIC_HAMMING, bits, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 0);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, base, 1, 1, NULL), NEARKIT_OK); /* empty */
    CHECK(ids[0] == -1);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_train(ix, BIN, base, 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_add(ix, BIN, base, 100, NULL), NEARKIT_OK); /* kept until training */
    CHECK_STATUS(nearkit_index_set_param(ix, "nlist", 10), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_train(ix, BIN, base + 100 * nbytes, 5000), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 1 && nearkit_index_count(ix) == 100);
    CHECK_STATUS(nearkit_index_train(ix, BIN, base, 5000), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK); /* already trained: nothing to do */
    CHECK_STATUS(nearkit_index_add(ix, BIN, base + 100 * nbytes, N - 100, NULL), NEARKIT_OK);
    double lists;
    CHECK_STATUS(nearkit_index_get_param(&lists, ix, "list_count"), NEARKIT_OK);
    CHECK(lists == 71); /* round(sqrt(5000)) */
    CHECK_STATUS(nearkit_index_set_param(ix, "nprobe", lists), NEARKIT_OK);
    nearkit_index *flat = bt_build(FLAT, bits, NULL, 0, base, N, NULL);
    CHECK(flat && bt_knn_mismatches(ix, flat, base + 17 * nbytes, 50, 10) == 0);
    CHECK(flat && bt_range_mismatches(ix, flat, base + 17 * nbytes, 50, 30, NULL) == 0);
    nearkit_index_free(ix);

    /* trained on nothing but its own vectors, without any added: empty, searchable */
    CHECK_STATUS(nearkit_index_create(&ix, IVF, NEARKIT_METRIC_HAMMING, bits, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_train(ix, BIN, base, 300), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, base, 1, 4, NULL), NEARKIT_OK);
    CHECK(ids[0] == -1 && isinf(dist[3]));
    nearkit_index_free(ix);

    /* more lists asked than vectors: one list per vector at most */
    ix = bt_build(IVF, bits, "nlist=500", 0, base, 40, NULL);
    CHECK(ix && nearkit_index_get_param(&lists, ix, "list_count") == NEARKIT_OK && lists == 40);
    CHECK(ix && nearkit_index_set_param(ix, "nprobe", 1000) == NEARKIT_OK);
    nearkit_index *flat40 = bt_build(FLAT, bits, NULL, 0, base, 40, NULL);
    CHECK(ix && flat40 && bt_knn_mismatches(ix, flat40, base, 5, 40) == 0);
    nearkit_index_free(flat40);
    nearkit_index_free(ix);
    /* one vector */
    ix = bt_build(IVF, bits, NULL, 0, base, 1, NULL);
    CHECK(ix != NULL);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, base, 1, 2, NULL), NEARKIT_OK);
    CHECK(ids[0] == 0 && dist[0] == 0 && ids[1] == -1);
    nearkit_index_free(ix);
    /* all duplicates: empty clusters are re-seeded, nothing breaks */
    uint8_t *same = calloc(500, nbytes);
    ix = ivf_all_probes(bits, "nlist=20", same, 500, NULL);
    CHECK(ix != NULL);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, base, 1, 4, NULL), NEARKIT_OK);
    CHECK(ids[0] == 0 && ids[3] == 3);
    nearkit_index_free(ix);
    free(same);
    nearkit_index_free(flat);
    free(base);
}

/* ---- parameters -------------------------------------------------------------------------------- */

static void test_params(void) {
    nearkit_index *ix = NULL;
    double v;
    CHECK_STATUS(nearkit_index_create(&ix, IVF, NEARKIT_METRIC_HAMMING, 64, NULL), NEARKIT_OK);
    const char *names[] = {"nlist", "nprobe", "train_size", "iterations", "list_count"};
    const double defaults[] = {0, 8, 0, 15, 0};
    for (int i = 0; i < 5; i++) {
        CHECK_STATUS(nearkit_index_get_param(&v, ix, names[i]), NEARKIT_OK);
        CHECK(v == defaults[i]);
    }
    CHECK_STATUS(nearkit_index_set_param(ix, "nprobe", 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "nlist", -1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "nlist", 1.5), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "iterations", 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "list_count", 3), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 3), NEARKIT_ERR_NOT_FOUND);
    CHECK_STATUS(nearkit_index_set_param(ix, "nlist", 16), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "train_size", 500), NEARKIT_OK);
    uint64_t rng = 8;
    uint8_t codes[2000 * 8];
    bt_random_codes(codes, 2000, 8, &rng);
    CHECK_STATUS(nearkit_index_train(ix, BIN, codes, 2000), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "nlist", 8), NEARKIT_ERR_STATE);       /* trained */
    CHECK_STATUS(nearkit_index_set_param(ix, "train_size", 9), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_set_param(ix, "nprobe", 3), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "list_count"), NEARKIT_OK);
    CHECK(v == 16);
    CHECK_STATUS(nearkit_index_add(ix, BIN, codes, 2000, NULL), NEARKIT_OK);
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && strstr(text, "16 lists") && strstr(text, "nprobe=3"));
    nearkit_string_free(text);
    nearkit_index_free(ix);
}

/* ---- persistence ------------------------------------------------------------------------------- */

static void test_save_load(void) {
    enum { N = 6000, NQ = 50 };
    uint32_t bits = 128;
    size_t nbytes = bits / 8;
    uint64_t rng = 555;
    uint8_t *base = malloc(N * nbytes);
    clustered_codes(base, N, nbytes, 30, 20, &rng);
    int64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = (int64_t)(N - i) * 5;
    nearkit_index *ivf = bt_build(IVF, bits, "nlist=30,nprobe=4", 0, base, N, ids);
    CHECK(ivf != NULL);
    if (!ivf) return;
    size_t size;
    uint8_t *image = saved(&size, ivf);
    CHECK(image != NULL);
    nearkit_index *back = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, image, size), NEARKIT_OK);
    if (back) {
        double v;
        CHECK(nearkit_index_get_param(&v, back, "nprobe") == NEARKIT_OK && v == 4);
        CHECK(nearkit_index_get_param(&v, back, "list_count") == NEARKIT_OK && v == 30);
        CHECK(bt_knn_mismatches(back, ivf, base, NQ, 10) == 0);
        CHECK(bt_range_mismatches(back, ivf, base, NQ, 20, NULL) == 0);
        size_t size2;
        uint8_t *again = saved(&size2, back);
        CHECK(again && size2 == size && memcmp(again, image, size) == 0);
        nearkit_buffer_free(again);
        nearkit_index_free(back);
    }
    /* untrained, through a file: keeps its vectors, trains on build */
    const char *path = "test_ivf_binary_saved.nkx";
    nearkit_index *pending = NULL;
    CHECK_STATUS(nearkit_index_create(&pending, IVF, NEARKIT_METRIC_HAMMING, bits, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(pending, BIN, base, N, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save(pending, path), NEARKIT_OK);
    nearkit_index_free(pending);
    CHECK_STATUS(nearkit_index_load(&back, path), NEARKIT_OK);
    if (back) {
        CHECK(nearkit_index_is_ready(back) == 0 && nearkit_index_count(back) == N);
        CHECK_STATUS(nearkit_index_build(back), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_set_param(back, "nprobe", 100000), NEARKIT_OK);
        nearkit_index *flat = bt_build(FLAT, bits, NULL, 0, base, N, NULL);
        CHECK(flat && bt_knn_mismatches(back, flat, base + 5 * nbytes, NQ, 7) == 0);
        nearkit_index_free(flat);
        nearkit_index_free(back);
    }
    remove(path);

    /* untrained and empty: loads empty, then takes codes and trains */
    CHECK_STATUS(nearkit_index_create(&pending, IVF, NEARKIT_METRIC_HAMMING, bits, NULL), NEARKIT_OK);
    size_t empty_size;
    uint8_t *empty = pending ? saved(&empty_size, pending) : NULL;
    CHECK(empty != NULL);
    nearkit_index_free(pending);
    back = NULL;
    if (empty) CHECK_STATUS(nearkit_index_load_from_buffer(&back, empty, empty_size), NEARKIT_OK);
    if (back) {
        CHECK(nearkit_index_is_ready(back) == 0 && nearkit_index_count(back) == 0);
        CHECK_STATUS(nearkit_index_add(back, BIN, base, 500, ids), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_build(back), NEARKIT_OK);
        CHECK(nearkit_index_count(back) == 500);
        nearkit_index_free(back);
    }
    nearkit_buffer_free(empty);

    /* damaged sections under valid checksums */
    size_t es;
    uint8_t *e;
    uint64_t len;
    const uint32_t bad_meta[][2] = {{31, 0}, {0, 0}, {30, 1}, {(1u << 20) + 1, 0}};
    for (size_t i = 0; i < 4; i++) {
        e = bt_edit_section(&es, image, size, "BIVF", bad_meta[i], 8);
        CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
        free(e);
    }
    const char *tags[] = {"BIVF", "BCEN", "LOFF", "LCOD", "LPOS"};
    for (size_t i = 0; i < 5; i++) { /* missing, and one byte short */
        e = bt_edit_section(&es, image, size, tags[i], NULL, 0);
        CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
        free(e);
        const uint8_t *body = bt_find_section(&len, image, tags[i]);
        e = bt_edit_section(&es, image, size, tags[i], body, len - 1);
        CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
        free(e);
    }
    const uint8_t *offsets = bt_find_section(&len, image, "LOFF");
    uint64_t *bad_offsets = malloc(len);
    memcpy(bad_offsets, offsets, len);
    bad_offsets[len / sizeof *bad_offsets / 2] = N + 1; /* past the rows, then decreasing */
    e = bt_edit_section(&es, image, size, "LOFF", bad_offsets, len);
    CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
    free(e);
    free(bad_offsets);
    const uint8_t *positions = bt_find_section(&len, image, "LPOS");
    uint32_t *bad_positions = malloc(len);
    memcpy(bad_positions, positions, len);
    bad_positions[N - 1] = N; /* no such row */
    e = bt_edit_section(&es, image, size, "LPOS", bad_positions, len);
    CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
    free(e);
    free(bad_positions);
    const uint8_t *id_body = bt_find_section(&len, image, "IDS ");
    int64_t *bad_ids = malloc(len);
    memcpy(bad_ids, id_body, len);
    bad_ids[3] = -1;
    e = bt_edit_section(&es, image, size, "IDS ", bad_ids, len);
    CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
    free(e);
    e = bt_edit_section(&es, image, size, "IDS ", bad_ids, len - 8);
    CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
    free(e);
    free(bad_ids);
    e = bt_edit_section(&es, image, size, "LPOS", positions, N * 4); /* unchanged: the editor is sound */
    CHECK(e && bt_load_status(e, es) == NEARKIT_OK);
    free(e);
    for (size_t cut = 0; cut < size; cut += size / 29 + 1) CHECK(bt_load_status(image, cut) == NEARKIT_ERR_CORRUPT);
    nearkit_buffer_free(image);
    nearkit_index_free(ivf);
    free(ids);
    free(base);
}

/* ---- concurrency ------------------------------------------------------------------------------- */

enum { CN = 20000, CQ = 150, CK = 8, CTHREADS = 6 };
static const nearkit_index *shared_ivf;
static const uint8_t *shared_queries;
static int64_t expected_ids[CQ * CK];
static float expected_dist[CQ * CK];

static void *searcher(void *arg) {
    int *bad = arg;
    int64_t ids[CQ * CK];
    float dist[CQ * CK];
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.num_threads = 2;
    for (int round = 0; round < 3; round++) {
        if (round == 1) {
            for (int q = 0; q < CQ; q++)
                *bad += nearkit_index_search(ids + q * CK, dist + q * CK, shared_ivf, BIN, shared_queries + q * 16,
                                             1, CK, NULL) != NEARKIT_OK;
        } else {
            *bad += nearkit_index_search(ids, dist, shared_ivf, BIN, shared_queries, CQ, CK, &so) != NEARKIT_OK;
        }
        *bad += memcmp(ids, expected_ids, sizeof ids) != 0;
        *bad += memcmp(dist, expected_dist, sizeof dist) != 0;
    }
    return NULL;
}

static void test_concurrency(void) {
    uint64_t rng = 99;
    uint8_t *base = malloc((size_t)CN * 16), *queries = malloc((size_t)CQ * 16);
    clustered_codes(base, CN, 16, 50, 20, &rng);
    bt_near_queries(queries, CQ, base, CN, 16, 10, &rng);
    nearkit_index *ivf = bt_build(IVF, 128, "nlist=64,nprobe=6", 0, base, CN, NULL);
    CHECK(ivf != NULL);
    if (ivf) {
        CHECK_STATUS(nearkit_index_search(expected_ids, expected_dist, ivf, BIN, queries, CQ, CK, NULL), NEARKIT_OK);
        shared_ivf = ivf;
        shared_queries = queries;
        pthread_t threads[CTHREADS];
        int bad[CTHREADS] = {0};
        for (int t = 0; t < CTHREADS; t++) CHECK(pthread_create(&threads[t], NULL, searcher, &bad[t]) == 0);
        for (int t = 0; t < CTHREADS; t++) {
            pthread_join(threads[t], NULL);
            CHECK(bad[t] == 0);
        }
    }
    nearkit_index_free(ivf);
    free(base);
    free(queries);
}

/* ---- golden binary cases at nprobe = nlist ----------------------------------------------------- */

static void test_golden(const char *dir) {
    golden_manifest m;
    char err[512];
    if (!golden_manifest_load(&m, dir, err, sizeof err)) {
        fprintf(stderr, "golden: %s\n", err);
        CHECK(0);
        return;
    }
    int cases = 0;
    for (size_t c = 0; c < m.case_count; c++) {
        const golden_case *gc = &m.cases[c];
        const golden_dataset *ds = &m.datasets[gc->dataset];
        if (gc->metric != NEARKIT_METRIC_HAMMING) continue;
        golden_expected ex;
        CHECK(golden_expected_load(&ex, &m, gc, err, sizeof err));
        nearkit_index *built = ivf_all_probes(ds->dimension, NULL, ds->base, ds->count, NULL);
        CHECK(built != NULL);
        nearkit_index *loaded = NULL;
        size_t size;
        uint8_t *image = built ? saved(&size, built) : NULL;
        CHECK(image && nearkit_index_load_from_buffer(&loaded, image, size) == NEARKIT_OK);
        nearkit_buffer_free(image);
        nearkit_index *both[2] = {built, loaded};
        for (int v = 0; v < 2; v++) {
            nearkit_index *ix = both[v];
            if (!ix) continue;
            uint64_t nq = ds->query_count, k = gc->k;
            int64_t *ids = malloc(nq * k * sizeof *ids);
            float *dist = malloc(nq * k * sizeof *dist);
            double *dd = malloc(nq * k * sizeof *dd);
            CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, ds->queries, nq, k, NULL), NEARKIT_OK);
            for (uint64_t i = 0; i < nq * k; i++) dd[i] = dist[i];
            int bad = 0;
            for (uint64_t q = 0; q < nq; q++)
                bad += !golden_compare_knn(err, sizeof err, ex.knn_ids + q * k, ex.knn_distances + q * k,
                                           ids + q * k, dd + q * k, k, m.rtol, m.atol);
            nearkit_range_result *r = NULL;
            CHECK_STATUS(nearkit_index_range_search(&r, ix, BIN, ds->queries, nq, (float)gc->radius, NULL), NEARKIT_OK);
            const uint64_t *off;
            const int64_t *rid;
            const float *rd;
            if (r && nearkit_range_result_get(&off, &rid, &rd, r) == NEARKIT_OK) {
                for (uint64_t q = 0; q < nq; q++) {
                    uint64_t e0 = ex.range_offsets[q], e1 = ex.range_offsets[q + 1], n = off[q + 1] - off[q];
                    double *rdd = malloc((n + 1) * sizeof *rdd);
                    for (uint64_t i = 0; i < n; i++) rdd[i] = rd[off[q] + i];
                    bad += !golden_compare_range(err, sizeof err, gc->radius, ex.range_ids + e0,
                                                 ex.range_distances + e0, e1 - e0, rid + off[q], rdd, n, m.rtol,
                                                 m.atol);
                    free(rdd);
                }
            }
            if (bad) fprintf(stderr, "golden %s (%s): %d rows differ (%s)\n", gc->name, v ? "loaded" : "built", bad, err);
            CHECK(bad == 0);
            nearkit_range_result_free(r);
            free(ids), free(dist), free(dd);
        }
        nearkit_index_free(built);
        nearkit_index_free(loaded);
        golden_expected_free(&ex);
        cases++;
    }
    CHECK(cases > 0);
    golden_manifest_free(&m);
}

/* ---- a living collection (issue 15) ----------------------------------------------------------- */

static void test_living(void) {
    const uint32_t bits = 128;
    const uint64_t n = 20000, nq = 40;
    uint64_t rng = 77;
    uint8_t *codes = malloc((n + nq) * (bits / 8));
    clustered_codes(codes, n + nq, bits / 8, 400, 40, &rng); /* unfiltered recall < 1 */
    living_kind s = {IVF, NEARKIT_METRIC_HAMMING, BIN, bits, bits / 8, "ivf_binary"};
    const uint8_t *qs = codes + n * (bits / 8);
    living_filtered(&s, codes, n, qs, nq, "nlist=100,nprobe=6", 0.95);
    living_remove(&s, codes, 3000, qs, nq, "nlist=30,nprobe=4");
    living_untrained(&s, codes, 2000, qs, nq, "nlist=20");
    living_per_call_nprobe(&s, codes, 3000, qs, nq, "nlist=30,nprobe=3");
    free(codes);
}

int main(int argc, char **argv) {
    test_exactness();
    test_recall();
    test_training();
    test_params();
    test_save_load();
    test_concurrency();
    test_living();
    if (argc > 1) test_golden(argv[1]);
    return check_summary("test_ivf_binary");
}
