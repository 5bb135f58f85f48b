/* The mih (multi-index hashing) kind: range search and uncapped k-NN equal the flat index's
 * exactly (ids, distances, tie order) on random and planted near-duplicate codes at 64 to 512 bits
 * and for many substring counts (direct and hashed tables); the max_radius cap; edge cases;
 * parameters; save/load and damaged sections; concurrent searches; a living collection (remove,
 * get, contains, compact, filters of each type down to 0.1% and none, add after build, search
 * before build, per-call max_radius) against a brute-force truth, bit for bit; golden binary
 * cases for several m. Usage: test_mih [GOLDEN_DIR] */
#include "nearkit.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binary_test_util.h"
#include "check.h"
#include "golden_util.h"

#define MIH NEARKIT_KIND_MIH
#define FLAT NEARKIT_KIND_FLAT
#define BIN NEARKIT_VECTOR_BINARY

/* ---- exactness --------------------------------------------------------------------------------- */

/* Range and k-NN on planted data of `bits` bits against flat, for the given mih parameters. */
static void check_exact(uint32_t bits, size_t n, const char *params, uint64_t seed) {
    size_t nbytes = bits / 8, nq = 120;
    uint64_t rng = seed;
    uint8_t *base = malloc(n * nbytes), *queries = malloc(nq * nbytes);
    bt_planted_codes(base, n, nbytes, n / 40, 8, bits / 16 + 2, &rng);
    bt_near_queries(queries, nq - 20, base, n, nbytes, bits / 16 + 4, &rng);
    bt_random_codes(queries + (nq - 20) * nbytes, 20, nbytes, &rng); /* far from everything */
    nearkit_index *flat = bt_build(FLAT, bits, NULL, 0, base, n, NULL);
    nearkit_index *mih = bt_build(MIH, bits, params, 0, base, n, NULL);
    CHECK(flat && mih);
    if (flat && mih) {
        const float radii[] = {0, 1, 2.5f, 4, 7, (float)bits / 16, (float)bits / 8, (float)bits / 4,
                               (float)bits / 2, (float)bits};
        for (size_t r = 0; r < sizeof radii / sizeof radii[0]; r++) {
            long bad = bt_range_mismatches(mih, flat, queries, nq, radii[r], NULL);
            if (bad) fprintf(stderr, "range: %u bits, params '%s', radius %g\n", bits, params, radii[r]);
            CHECK(bad == 0);
        }
        const size_t ks[] = {1, 3, 10, 50};
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            long bad = bt_knn_mismatches(mih, flat, queries, nq, ks[i]);
            if (bad) fprintf(stderr, "k-NN: %u bits, params '%s', k %zu\n", bits, params, ks[i]);
            CHECK(bad == 0);
        }
    }
    nearkit_index_free(flat);
    nearkit_index_free(mih);
    free(base);
    free(queries);
}

static void test_exactness(void) {
    check_exact(64, 20000, NULL, 1);
    check_exact(64, 5000, "m=1", 2);   /* one 64-bit hashed table */
    check_exact(64, 5000, "m=5", 3);   /* uneven substrings: 13, 13, 13, 13, 12 */
    check_exact(64, 5000, "m=64", 4);  /* one bit per substring */
    check_exact(128, 8000, NULL, 5);
    check_exact(256, 20000, NULL, 6);
    check_exact(256, 20000, "m=4", 7); /* 64-bit hashed tables */
    check_exact(256, 6000, "m=7", 8);
    check_exact(512, 20000, NULL, 9);
    check_exact(512, 6000, "m=8", 10);
    check_exact(512, 3000, "m=37", 11);
    check_exact(8, 300, NULL, 12);     /* a single byte: many duplicates */
}

/* Far queries (general k-NN, not near-duplicates): walks give up and the queries of a batch are
 * scanned together; single queries and batches on one or two threads agree with flat. */
static void test_far_queries(void) {
    enum { N = 6000, NQ = 150 };
    uint64_t rng = 31337;
    uint8_t *base = malloc(N * 16), *queries = malloc(NQ * 16);
    bt_random_codes(base, N, 16, &rng);
    bt_random_codes(queries, NQ, 16, &rng);
    memcpy(queries + 7 * 16, base + 99 * 16, 16); /* one easy query among them */
    nearkit_index *flat = bt_build(FLAT, 128, NULL, 0, base, N, NULL);
    for (uint32_t threads = 1; threads <= 2; threads++) {
        nearkit_index *mih = bt_build(MIH, 128, NULL, threads, base, N, NULL);
        CHECK(flat && mih);
        if (flat && mih) {
            CHECK(bt_knn_mismatches(mih, flat, queries, NQ, 10) == 0);
            CHECK(bt_knn_mismatches(mih, flat, queries, 1, 3) == 0);
            CHECK(bt_knn_mismatches(mih, flat, queries + 7 * 16, 1, 3) == 0);
        }
        nearkit_index_free(mih);
    }
    nearkit_index_free(flat);
    free(base);
    free(queries);
}

/* Ties: equal distances come in increasing id order, also with explicit (shuffled) ids. */
static void test_ties_and_ids(void) {
    enum { N = 3000, NQ = 50 };
    uint32_t bits = 32;
    size_t nbytes = bits / 8;
    uint64_t rng = 77;
    uint8_t *base = malloc(N * nbytes), *queries = malloc(NQ * nbytes);
    bt_random_codes(base, N, nbytes, &rng);
    for (size_t i = 0; i < N * nbytes; i++) base[i] &= 0x0F; /* 16 live bits: many equal codes */
    bt_near_queries(queries, NQ, base, N, nbytes, 3, &rng);
    int64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = (int64_t)((i * 7919) % N) * 2 - 1000; /* even, negative too, never -1 */
    nearkit_index *flat = bt_build(FLAT, bits, NULL, 0, base, N, ids);
    nearkit_index *mih = bt_build(MIH, bits, NULL, 0, base, N, ids);
    CHECK(flat && mih);
    if (flat && mih) {
        CHECK(bt_knn_mismatches(mih, flat, queries, NQ, 1) == 0);
        CHECK(bt_knn_mismatches(mih, flat, queries, NQ, 20) == 0);
        CHECK(bt_knn_mismatches(mih, flat, queries, NQ, 200) == 0);
        CHECK(bt_range_mismatches(mih, flat, queries, NQ, 0, NULL) == 0);
        CHECK(bt_range_mismatches(mih, flat, queries, NQ, 2, NULL) == 0);
    }
    nearkit_index_free(flat);
    nearkit_index_free(mih);
    /* duplicate ids are reported as given */
    for (size_t i = 0; i < N; i++) ids[i] = (int64_t)(i % 10);
    flat = bt_build(FLAT, bits, NULL, 0, base, N, ids);
    mih = bt_build(MIH, bits, NULL, 0, base, N, ids);
    CHECK(flat && mih);
    if (flat && mih) {
        CHECK(bt_knn_mismatches(mih, flat, queries, NQ, 15) == 0);
        CHECK(bt_range_mismatches(mih, flat, queries, NQ, 1, NULL) == 0);
    }
    nearkit_index_free(flat);
    nearkit_index_free(mih);
    free(ids);
    free(base);
    free(queries);
}

/* ---- the max_radius cap ------------------------------------------------------------------------ */

/* With max_radius R, a row is flat's row cut to the entries within R and padded with -1. */
static void test_capped(void) {
    enum { N = 20000, NQ = 100, K = 10 };
    uint32_t bits = 256;
    size_t nbytes = bits / 8;
    uint64_t rng = 99;
    uint8_t *base = malloc(N * nbytes), *queries = malloc(NQ * nbytes);
    bt_planted_codes(base, N, nbytes, 500, 10, 12, &rng);
    bt_near_queries(queries, NQ, base, N, nbytes, 10, &rng);
    nearkit_index *flat = bt_build(FLAT, bits, NULL, 0, base, N, NULL);
    nearkit_index *mih = bt_build(MIH, bits, NULL, 0, base, N, NULL);
    CHECK(flat && mih);
    int64_t ef[NQ * K], got[NQ * K];
    float df[NQ * K], dg[NQ * K];
    if (flat && mih) {
        CHECK_STATUS(nearkit_index_search(ef, df, flat, BIN, queries, NQ, K, NULL), NEARKIT_OK);
        const int caps[] = {0, 1, 3, 6, 12, 40, 128, 256, 1000};
        for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
            CHECK_STATUS(nearkit_index_set_param(mih, "max_radius", caps[c]), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_search(got, dg, mih, BIN, queries, NQ, K, NULL), NEARKIT_OK);
            int bad = 0, full_rows = 0;
            for (size_t q = 0; q < NQ; q++) {
                int full = 1;
                for (size_t j = 0; j < K; j++) {
                    size_t i = q * K + j;
                    int within = df[i] <= (float)caps[c];
                    full &= within;
                    if (within ? (got[i] != ef[i] || dg[i] != df[i]) : (got[i] != -1 || !isinf(dg[i]))) bad++;
                }
                full_rows += full;
            }
            if (bad) fprintf(stderr, "capped k-NN, max_radius %d: %d entries differ\n", caps[c], bad);
            CHECK(bad == 0);
            if (caps[c] >= 256) CHECK(full_rows == NQ);
        }
        CHECK_STATUS(nearkit_index_set_param(mih, "max_radius", -1), NEARKIT_OK);
        CHECK(bt_knn_mismatches(mih, flat, queries, NQ, K) == 0);
    }
    nearkit_index_free(flat);
    nearkit_index_free(mih);
    free(base);
    free(queries);
}

/* ---- edge cases -------------------------------------------------------------------------------- */

static void test_edge_cases(void) {
    uint8_t codes[64 * 16] = {0}, query[16] = {0};
    int64_t ids[8];
    float dist[8];
    nearkit_index *ix = NULL;

    /* empty: ready without build, nothing found */
    CHECK_STATUS(nearkit_index_create(&ix, MIH, NEARKIT_METRIC_HAMMING, 128, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 1);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, query, 1, 3, NULL), NEARKIT_OK);
    CHECK(ids[0] == -1 && ids[2] == -1 && isinf(dist[0]));
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    nearkit_range_result *r = NULL;
    CHECK_STATUS(nearkit_index_range_search(&r, ix, BIN, query, 1, 1000, NULL), NEARKIT_OK);
    CHECK(r && nearkit_range_result_query_count(r) == 1);
    nearkit_range_result_free(r);

    /* added after the build (of nothing): the tables are rebuilt on the add, and stay ready */
    codes[0] = 1;
    CHECK_STATUS(nearkit_index_add(ix, BIN, codes, 1, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 1);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, query, 1, 1, NULL), NEARKIT_OK);
    CHECK(ids[0] == 0 && dist[0] == 1.0f);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK); /* idempotent */
    CHECK(nearkit_index_is_ready(ix) == 1);
    /* one point, k > count */
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, query, 1, 4, NULL), NEARKIT_OK);
    CHECK(ids[0] == 0 && dist[0] == 1.0f && ids[1] == -1 && isinf(dist[3]));
    CHECK_STATUS(nearkit_index_range_search(&r, ix, BIN, query, 1, 0.5f, NULL), NEARKIT_OK);
    const uint64_t *off;
    CHECK(r && nearkit_range_result_get(&off, NULL, NULL, r) == NEARKIT_OK && off[1] == 0);
    nearkit_range_result_free(r);
    CHECK_STATUS(nearkit_index_range_search(&r, ix, BIN, query, 1, -1.0f, NULL), NEARKIT_OK);
    CHECK(r && nearkit_range_result_get(&off, NULL, NULL, r) == NEARKIT_OK && off[1] == 0);
    nearkit_range_result_free(r);
    CHECK_STATUS(nearkit_index_add(ix, BIN, codes + 16, 63, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 1);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    /* all duplicates but one: the zeros at ids 1..63 tie; the smallest ids come first */
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, query, 1, 5, NULL), NEARKIT_OK);
    CHECK(ids[0] == 1 && ids[1] == 2 && ids[4] == 5 && dist[4] == 0.0f);
    CHECK_STATUS(nearkit_index_range_search(&r, ix, BIN, query, 1, 0, NULL), NEARKIT_OK);
    CHECK(r && nearkit_range_result_get(&off, NULL, NULL, r) == NEARKIT_OK && off[1] == 63);
    nearkit_range_result_free(r);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, BIN, codes, 1, 2, NULL), NEARKIT_OK);
    CHECK(ids[0] == 0 && dist[0] == 0.0f && ids[1] == 1 && dist[1] == 1.0f);
    /* wrong type, float index refused */
    float fq[4] = {0};
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, fq, 1, 1, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_index_free(ix);
    ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, MIH, NEARKIT_METRIC_L2, 16, NULL), NEARKIT_ERR_UNSUPPORTED);
    CHECK(ix == NULL);

    /* many identical codes: the one bucket holds everything */
    enum { DUP = 3000 };
    uint8_t *same = calloc(DUP, 8);
    for (size_t i = 0; i < DUP; i++) same[i * 8] = (uint8_t)(i % 3 == 0);
    nearkit_index *flat = bt_build(FLAT, 64, NULL, 0, same, DUP, NULL);
    nearkit_index *mih = bt_build(MIH, 64, NULL, 0, same, DUP, NULL);
    CHECK(flat && mih);
    if (flat && mih) {
        CHECK(bt_knn_mismatches(mih, flat, same, 4, 10) == 0);
        CHECK(bt_knn_mismatches(mih, flat, same, 4, DUP) == 0);
        CHECK(bt_range_mismatches(mih, flat, same, 4, 0, NULL) == 0);
        CHECK(bt_range_mismatches(mih, flat, same, 4, 1, NULL) == 0);
    }
    nearkit_index_free(flat);
    nearkit_index_free(mih);
    free(same);
}

/* ---- parameters -------------------------------------------------------------------------------- */

static void test_params(void) {
    nearkit_index *ix = NULL;
    double v = -5;
    CHECK_STATUS(nearkit_index_create(&ix, MIH, NEARKIT_METRIC_HAMMING, 256, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "m"), NEARKIT_OK);
    CHECK(v == 0);
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "max_radius"), NEARKIT_OK);
    CHECK(v == -1);
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "substrings"), NEARKIT_OK);
    CHECK(v == 0);
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 3), NEARKIT_ERR_INVALID_ARGUMENT);   /* > 64 bits each */
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 257), NEARKIT_ERR_INVALID_ARGUMENT); /* < 1 bit each */
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 4.5), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "m", -1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "max_radius", -2), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "max_radius", NAN), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "substrings", 4), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "nprobe", 4), NEARKIT_ERR_NOT_FOUND);
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 4), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 256), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 0), NEARKIT_OK);
    uint64_t rng = 5;
    uint8_t codes[1000 * 32];
    bt_random_codes(codes, 1000, 32, &rng);
    CHECK_STATUS(nearkit_index_add(ix, BIN, codes, 1000, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 8), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_set_param(ix, "max_radius", 7), NEARKIT_OK); /* runtime */
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "substrings"), NEARKIT_OK);
    CHECK(v == 26); /* round(256 / log2(1000)) */
    size_t count = nearkit_index_param_count(ix);
    CHECK(count == 4);
    int read_only = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name;
        uint32_t flags;
        CHECK_STATUS(nearkit_index_param_info(&name, &flags, ix, i), NEARKIT_OK);
        if (strcmp(name, "substrings") == 0) read_only = (flags & NEARKIT_PARAM_FLAG_READ_ONLY) != 0;
    }
    CHECK(read_only);
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && strstr(text, "substrings") && strstr(text, "max_radius=7"));
    nearkit_string_free(text);
    nearkit_index_free(ix);

    /* through the options string, and the automatic m at scale */
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = "m=16, max_radius=3";
    CHECK_STATUS(nearkit_index_create(&ix, MIH, NEARKIT_METRIC_HAMMING, 512, &o), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "m"), NEARKIT_OK);
    CHECK(v == 16);
    CHECK_STATUS(nearkit_index_add(ix, BIN, codes, 500, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "substrings"), NEARKIT_OK);
    CHECK(v == 16);
    nearkit_index_free(ix);
    o.params = "m=2";
    CHECK_STATUS(nearkit_index_create(&ix, MIH, NEARKIT_METRIC_HAMMING, 512, &o), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(ix == NULL);

    enum { BIG = 70000 };
    uint8_t *many = malloc((size_t)BIG * 8);
    bt_random_codes(many, BIG, 8, &rng);
    ix = bt_build(MIH, 64, NULL, 1, many, BIG, NULL);
    CHECK(ix != NULL);
    CHECK(ix && nearkit_index_get_param(&v, ix, "substrings") == NEARKIT_OK && v == 4); /* 64 / 16.1 */
    nearkit_index_free(ix);
    free(many);
}

/* ---- persistence ------------------------------------------------------------------------------- */

static void test_save_load(void) {
    enum { N = 5000, NQ = 60 };
    uint32_t bits = 128;
    size_t nbytes = bits / 8;
    uint64_t rng = 123;
    uint8_t *base = malloc(N * nbytes), *queries = malloc(NQ * nbytes);
    bt_planted_codes(base, N, nbytes, 100, 6, 6, &rng);
    bt_near_queries(queries, NQ, base, N, nbytes, 8, &rng);
    int64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = 1000000 - (int64_t)i * 3;
    nearkit_index *mih = bt_build(MIH, bits, "m=6,max_radius=9", 0, base, N, ids);
    CHECK(mih != NULL);
    if (!mih) return;
    void *image = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&image, &size, mih), NEARKIT_OK);
    nearkit_index *back = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, image, size), NEARKIT_OK);
    if (back) {
        double v;
        CHECK(nearkit_index_is_ready(back) == 1);
        CHECK(nearkit_index_get_param(&v, back, "max_radius") == NEARKIT_OK && v == 9);
        CHECK(nearkit_index_get_param(&v, back, "substrings") == NEARKIT_OK && v == 6);
        CHECK(nearkit_index_count(back) == N);
        CHECK(bt_knn_mismatches(back, mih, queries, NQ, 10) == 0);
        CHECK(bt_range_mismatches(back, mih, queries, NQ, 12, NULL) == 0);
        nearkit_index_set_param(back, "max_radius", -1);
        nearkit_index_set_param(mih, "max_radius", -1);
        CHECK(bt_knn_mismatches(back, mih, queries, NQ, 10) == 0);
        nearkit_index_free(back);
    }
    /* a file, and an index saved before build loads unbuilt */
    const char *path = "test_mih_saved.nkx";
    nearkit_index *unbuilt = NULL;
    CHECK_STATUS(nearkit_index_create(&unbuilt, MIH, NEARKIT_METRIC_HAMMING, bits, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(unbuilt, BIN, base, N, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save(unbuilt, path), NEARKIT_OK);
    nearkit_index_free(unbuilt);
    CHECK_STATUS(nearkit_index_load(&back, path), NEARKIT_OK);
    if (back) {
        CHECK(nearkit_index_is_ready(back) == 0);
        CHECK_STATUS(nearkit_index_build(back), NEARKIT_OK);
        nearkit_index *flat = bt_build(FLAT, bits, NULL, 0, base, N, NULL);
        CHECK(flat && bt_knn_mismatches(back, flat, queries, NQ, 5) == 0);
        nearkit_index_free(flat);
        nearkit_index_free(back);
    }
    remove(path);

    /* damaged sections, each under a valid checksum */
    size_t edited_size;
    uint8_t *edited;
    uint32_t meta[2];
    const uint32_t bad_meta[][2] = {{1, 0}, {129, 0}, {5, 0}, {6, 1}, {0xFFFFFFFFu, 0}};
    for (size_t i = 0; i < sizeof bad_meta / sizeof bad_meta[0]; i++) {
        memcpy(meta, bad_meta[i], sizeof meta);
        edited = bt_edit_section(&edited_size, image, size, "MIHM", meta, sizeof meta);
        CHECK(edited && bt_load_status(edited, edited_size) == NEARKIT_ERR_CORRUPT);
        free(edited);
    }
    edited = bt_edit_section(&edited_size, image, size, "MIHM", meta, 4);
    CHECK(edited && bt_load_status(edited, edited_size) == NEARKIT_ERR_CORRUPT);
    free(edited);
    edited = bt_edit_section(&edited_size, image, size, "MIHM", NULL, 0);
    CHECK(edited && bt_load_status(edited, edited_size) == NEARKIT_ERR_CORRUPT);
    free(edited);
    uint64_t len;
    const uint8_t *vecs = bt_find_section(&len, image, "VECS");
    CHECK(vecs && len == (uint64_t)N * nbytes);
    edited = bt_edit_section(&edited_size, image, size, "VECS", vecs, len - 1);
    CHECK(edited && bt_load_status(edited, edited_size) == NEARKIT_ERR_CORRUPT);
    free(edited);
    edited = bt_edit_section(&edited_size, image, size, "VECS", vecs, len - nbytes); /* count differs */
    CHECK(edited && bt_load_status(edited, edited_size) == NEARKIT_ERR_CORRUPT);
    free(edited);
    const uint8_t *id_body = bt_find_section(&len, image, "IDS ");
    CHECK(id_body && len == N * sizeof(int64_t));
    edited = bt_edit_section(&edited_size, image, size, "IDS ", id_body, len - 8);
    CHECK(edited && bt_load_status(edited, edited_size) == NEARKIT_ERR_CORRUPT);
    free(edited);
    int64_t *bad_ids = malloc(len);
    memcpy(bad_ids, id_body, len);
    bad_ids[17] = -1;
    edited = bt_edit_section(&edited_size, image, size, "IDS ", bad_ids, len);
    CHECK(edited && bt_load_status(edited, edited_size) == NEARKIT_ERR_CORRUPT);
    free(edited);
    free(bad_ids);
    /* an unchanged re-encoding still loads (the editor itself is sound) */
    edited = bt_edit_section(&edited_size, image, size, "MIHM", bt_find_section(&len, image, "MIHM"), 8);
    CHECK(edited && bt_load_status(edited, edited_size) == NEARKIT_OK);
    free(edited);
    /* flipped bytes without a fixed checksum, and truncation */
    uint8_t *copy = malloc(size);
    for (size_t at = 12; at < size; at += size / 97 + 1) { /* past the format version */
        memcpy(copy, image, size);
        copy[at] ^= 0x40;
        nearkit_status st = bt_load_status(copy, size);
        if (st != NEARKIT_ERR_CORRUPT) fprintf(stderr, "flip at %zu of %zu: %s\n", at, size, nearkit_status_name(st));
        CHECK(st == NEARKIT_ERR_CORRUPT);
    }
    for (size_t cut = 0; cut < size; cut += size / 31 + 1) CHECK(bt_load_status(image, cut) == NEARKIT_ERR_CORRUPT);
    free(copy);
    nearkit_buffer_free(image);
    nearkit_index_free(mih);
    free(ids);
    free(base);
    free(queries);
}

/* ---- concurrency ------------------------------------------------------------------------------- */

enum { CN = 30000, CQ = 200, CK = 5, CTHREADS = 6 };
static const nearkit_index *shared_mih;
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
                *bad += nearkit_index_search(ids + q * CK, dist + q * CK, shared_mih, BIN, shared_queries + q * 32,
                                             1, CK, NULL) != NEARKIT_OK;
        } else {
            *bad += nearkit_index_search(ids, dist, shared_mih, BIN, shared_queries, CQ, CK, &so) != NEARKIT_OK;
        }
        *bad += memcmp(ids, expected_ids, sizeof ids) != 0;
        *bad += memcmp(dist, expected_dist, sizeof dist) != 0;
    }
    return NULL;
}

static void test_concurrency(void) {
    uint64_t rng = 4242;
    uint8_t *base = malloc((size_t)CN * 32), *queries = malloc((size_t)CQ * 32);
    bt_planted_codes(base, CN, 32, 1000, 5, 10, &rng);
    bt_near_queries(queries, CQ, base, CN, 32, 12, &rng);
    nearkit_index *flat = bt_build(FLAT, 256, NULL, 1, base, CN, NULL);
    nearkit_index *mih = bt_build(MIH, 256, NULL, 0, base, CN, NULL);
    CHECK(flat && mih);
    if (flat && mih) {
        CHECK_STATUS(nearkit_index_search(expected_ids, expected_dist, flat, BIN, queries, CQ, CK, NULL), NEARKIT_OK);
        shared_mih = mih;
        shared_queries = queries;
        pthread_t threads[CTHREADS];
        int bad[CTHREADS] = {0};
        for (int t = 0; t < CTHREADS; t++) CHECK(pthread_create(&threads[t], NULL, searcher, &bad[t]) == 0);
        for (int t = 0; t < CTHREADS; t++) {
            pthread_join(threads[t], NULL);
            CHECK(bad[t] == 0);
        }
    }
    nearkit_index_free(flat);
    nearkit_index_free(mih);
    free(base);
    free(queries);
}

/* ---- living collections: remove, read back, filters, add after build --------------------------- */

/* A model of a collection: every code ever added in order, its id, and whether it is still
 * stored. Truths are brute force over it: Hamming distance, ties by id. */
typedef struct model {
    uint8_t *codes;
    int64_t *ids;
    uint8_t *alive;
    size_t n, cap, nbytes;
} model;

static void model_add(model *m, const uint8_t *codes, const int64_t *ids, size_t n) {
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->codes = realloc(m->codes, m->cap * m->nbytes);
        m->ids = realloc(m->ids, m->cap * sizeof *m->ids);
        m->alive = realloc(m->alive, m->cap);
    }
    memcpy(m->codes + m->n * m->nbytes, codes, n * m->nbytes);
    memcpy(m->ids + m->n, ids, n * sizeof *ids);
    memset(m->alive + m->n, 1, n);
    m->n += n;
}

static void model_remove(model *m, const int64_t *ids, size_t n) {
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < n; j++)
            if (m->ids[i] == ids[j]) m->alive[i] = 0;
}

static size_t model_live(const model *m) {
    size_t live = 0;
    for (size_t i = 0; i < m->n; i++) live += m->alive[i];
    return live;
}

static void model_free(model *m) { free(m->codes), free(m->ids), free(m->alive); }

/* Which ids a test's filter allows: about per_mille of every thousand, by a hash of the id. */
static int allowed_id(int64_t id, unsigned per_mille) {
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (h >> 40) % 1000 < per_mille;
}

static int quiet_truth; /* a test expects differences: no message */

typedef struct hit {
    uint32_t dist;
    int64_t id;
} hit;

static int hit_order(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static uint32_t hamming(const uint8_t *a, const uint8_t *b, size_t nbytes) {
    uint32_t d = 0;
    for (size_t i = 0; i < nbytes; i++) d += (uint32_t)__builtin_popcount(a[i] ^ b[i]);
    return d;
}

/* The truth of a batch of queries: per query, every stored code sorted by distance to it. */
typedef struct truth {
    hit *hits; /* nq rows of `live` */
    size_t live;
} truth;

static truth model_truth(const model *m, const uint8_t *queries, size_t nq) {
    truth t = {malloc((nq * m->n + 1) * sizeof *t.hits), 0};
    for (size_t q = 0; q < nq; q++) {
        hit *row = t.hits + q * m->n;
        size_t n = 0;
        for (size_t i = 0; i < m->n; i++)
            if (m->alive[i]) row[n++] = (hit){hamming(queries + q * m->nbytes, m->codes + i * m->nbytes, m->nbytes), m->ids[i]};
        qsort(row, n, sizeof *row, hit_order);
        t.live = n;
    }
    return t;
}

/* Query q's truth under the filter (per_mille 1000: all), nearest first. */
static size_t model_hits(hit *out, const model *m, const truth *t, size_t q, unsigned per_mille) {
    const hit *row = t->hits + q * m->n;
    size_t n = 0;
    for (size_t i = 0; i < t->live; i++)
        if (per_mille >= 1000 || allowed_id(row[i].id, per_mille)) out[n++] = row[i];
    return n;
}

/* Queries whose k-NN rows (ids and distances, bit for bit, padding included) differ from the
 * model's truth under the filter; -1 when the search fails. */
static long knn_vs_model(const nearkit_index *ix, const model *m, const truth *t, const uint8_t *queries,
                         size_t nq, size_t k, unsigned per_mille, const nearkit_search_options *so) {
    int64_t *ids = malloc(nq * k * sizeof *ids);
    float *dist = malloc(nq * k * sizeof *dist);
    hit *hits = malloc((m->n + 1) * sizeof *hits);
    long bad = -1;
    if (nearkit_index_search(ids, dist, ix, BIN, queries, nq, k, so) == NEARKIT_OK) {
        bad = 0;
        for (size_t q = 0; q < nq; q++) {
            size_t n = model_hits(hits, m, t, q, per_mille);
            int row_bad = 0;
            for (size_t j = 0; j < k; j++) {
                int64_t want_id = j < n ? hits[j].id : -1;
                float want_d = j < n ? (float)hits[j].dist : INFINITY;
                row_bad |= ids[q * k + j] != want_id || dist[q * k + j] != want_d;
            }
            if (row_bad && bad == 0 && !quiet_truth)
                fprintf(stderr, "  k-NN vs truth, query %zu (k %zu, %u per mille): id %lld d %g, want %lld d %g\n",
                        q, k, per_mille, (long long)ids[q * k], dist[q * k], n ? (long long)hits[0].id : -1LL,
                        n ? (double)hits[0].dist : INFINITY);
            bad += row_bad;
        }
    } else {
        fprintf(stderr, "  search failed: %s\n", nearkit_last_error_message());
    }
    free(ids), free(dist), free(hits);
    return bad;
}

/* The same for range search within radius. */
static long range_vs_model(const nearkit_index *ix, const model *m, const truth *t, const uint8_t *queries,
                           size_t nq, float radius, unsigned per_mille, const nearkit_search_options *so) {
    nearkit_range_result *r = NULL;
    hit *hits = malloc((m->n + 1) * sizeof *hits);
    long bad = -1;
    const uint64_t *off;
    const int64_t *rid;
    const float *rd;
    if (nearkit_index_range_search(&r, ix, BIN, queries, nq, radius, so) == NEARKIT_OK &&
        nearkit_range_result_get(&off, &rid, &rd, r) == NEARKIT_OK) {
        bad = 0;
        for (size_t q = 0; q < nq; q++) {
            size_t n = model_hits(hits, m, t, q, per_mille), within = 0;
            while (within < n && hits[within].dist <= radius) within++;
            int row_bad = off[q + 1] - off[q] != within;
            for (size_t j = 0; !row_bad && j < within; j++)
                row_bad = rid[off[q] + j] != hits[j].id || rd[off[q] + j] != (float)hits[j].dist;
            bad += row_bad;
        }
    } else {
        fprintf(stderr, "  range search failed: %s\n", nearkit_last_error_message());
    }
    nearkit_range_result_free(r);
    free(hits);
    return bad;
}

/* Query q of a batch alone: its truth row. */
static truth truth_row(const truth *t, const model *m, size_t q) {
    return (truth){t->hits + q * m->n, t->live};
}

/* k-NN (several k, one batch and single queries) and range against the model, under the filter
 * of `so` (allowing per_mille) or none. */
static long all_vs_model(const nearkit_index *ix, const model *m, const truth *t, const uint8_t *queries,
                         size_t nq, unsigned per_mille, const nearkit_search_options *so) {
    const size_t ks[] = {1, 10, 60};
    long bad = 0;
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        bad += knn_vs_model(ix, m, t, queries, nq, ks[i], per_mille, so);
    for (size_t q = 0; q < 3 && q < nq; q++) {
        truth one = truth_row(t, m, q);
        bad += knn_vs_model(ix, m, &one, queries + q * m->nbytes, 1, 5, per_mille, so);
    }
    bad += range_vs_model(ix, m, t, queries, nq, 6, per_mille, so);
    bad += range_vs_model(ix, m, t, queries, nq, (float)(m->nbytes * 8) / 3, per_mille, so);
    return bad;
}

static void check_model(const nearkit_index *ix, const model *m, const uint8_t *queries, size_t nq,
                        const char *when) {
    truth t = model_truth(m, queries, nq);
    long bad = all_vs_model(ix, m, &t, queries, nq, 1000, NULL);
    if (bad) fprintf(stderr, "living mih %s: %ld rows differ\n", when, bad);
    CHECK(bad == 0);
    CHECK(nearkit_index_count(ix) == model_live(m));
    free(t.hits);
}

/* A planted collection of n codes of `bits` bits with ids 3 i + 5 (explicit) or i (implicit). */
static nearkit_index *living_index(model *m, uint8_t **queries, size_t nq, uint32_t bits, size_t n,
                                   const char *params, int explicit_ids, uint64_t seed) {
    uint64_t rng = seed;
    size_t nbytes = bits / 8;
    uint8_t *base = malloc(n * nbytes);
    int64_t *ids = malloc(n * sizeof *ids);
    bt_planted_codes(base, n, nbytes, n / 50, 6, bits / 16 + 2, &rng);
    for (size_t i = 0; i < n; i++) ids[i] = explicit_ids ? (int64_t)(3 * i + 5) : (int64_t)i;
    *queries = malloc(nq * nbytes);
    bt_near_queries(*queries, nq - 5, base, n, nbytes, bits / 16 + 4, &rng);
    bt_random_codes(*queries + (nq - 5) * nbytes, 5, nbytes, &rng);
    *m = (model){.nbytes = nbytes};
    model_add(m, base, ids, n);
    nearkit_index *ix = bt_build(MIH, bits, params, 0, base, n, explicit_ids ? ids : NULL);
    free(base);
    free(ids);
    return ix;
}

/* Remove some (with absent and repeated ids), enough to compact, then all; remove then re-add the
 * same id; results equal the brute-force truth of what is left at every step. */
static void test_remove(void) {
    enum { N = 6000, NQ = 40 };
    for (int explicit_ids = 0; explicit_ids <= 1; explicit_ids++) {
        model m;
        uint8_t *queries;
        nearkit_index *ix = living_index(&m, &queries, NQ, 128, N, NULL, explicit_ids, 11 + explicit_ids);
        CHECK(ix != NULL);
        if (!ix) continue;
        /* a few (under a quarter: marked, not yet compacted), with repeats and unknown ids */
        int64_t gone[600];
        size_t n_gone = 0;
        for (size_t i = 0; i < 500; i++) gone[n_gone++] = m.ids[(i * 7) % N];
        gone[n_gone++] = m.ids[0];
        gone[n_gone++] = m.ids[0];
        gone[n_gone++] = -7;          /* never stored */
        gone[n_gone++] = 1000000007;  /* never stored */
        uint64_t removed = 99;
        CHECK_STATUS(nearkit_index_remove(&removed, ix, gone, n_gone), NEARKIT_OK);
        CHECK(removed == 500); /* ids[0] is among the 500 (i = 0) */
        model_remove(&m, gone, n_gone);
        check_model(ix, &m, queries, NQ, "after a few removals");
        CHECK_STATUS(nearkit_index_remove(&removed, ix, gone, n_gone), NEARKIT_OK);
        CHECK(removed == 0); /* already gone */
        CHECK(nearkit_index_contains(ix, m.ids[7]) == 0 && nearkit_index_contains(ix, m.ids[8]) == 1);
        /* past a quarter: compacted and rebuilt on the way */
        int64_t *more = malloc(N * sizeof *more);
        size_t n_more = 0;
        for (size_t i = 0; i < N; i += 3) more[n_more++] = m.ids[i];
        CHECK_STATUS(nearkit_index_remove(&removed, ix, more, n_more), NEARKIT_OK);
        model_remove(&m, more, n_more);
        CHECK(removed > 0 && nearkit_index_count(ix) == model_live(&m));
        check_model(ix, &m, queries, NQ, "after compaction");
        CHECK_STATUS(nearkit_index_compact(ix), NEARKIT_OK);
        check_model(ix, &m, queries, NQ, "after compact");
        /* remove then add the same id (now at the tail), with another code */
        int64_t again = m.ids[1];
        CHECK_STATUS(nearkit_index_remove(&removed, ix, &again, 1), NEARKIT_OK);
        CHECK(removed == 1 && nearkit_index_contains(ix, again) == 0);
        model_remove(&m, &again, 1);
        if (explicit_ids) {
            CHECK_STATUS(nearkit_index_add(ix, BIN, queries, 1, &again), NEARKIT_OK);
            model_add(&m, queries, &again, 1);
            CHECK(nearkit_index_contains(ix, again) == 1);
        }
        check_model(ix, &m, queries, NQ, "after remove and re-add");
        /* everything */
        for (size_t i = 0; i < m.n; i++) more[i % N] = m.ids[i];
        for (size_t at = 0; at < m.n; at += N) {
            size_t n = m.n - at < N ? m.n - at : N;
            CHECK_STATUS(nearkit_index_remove(NULL, ix, m.ids + at, n), NEARKIT_OK);
        }
        model_remove(&m, m.ids, m.n);
        CHECK(nearkit_index_count(ix) == 0);
        check_model(ix, &m, queries, NQ, "after removing everything");
        /* and a new start */
        int64_t fresh[2] = {42, 43};
        CHECK_STATUS(nearkit_index_add(ix, BIN, queries, 2, fresh), NEARKIT_OK);
        model_add(&m, queries, fresh, 2);
        check_model(ix, &m, queries, NQ, "after emptying and adding");
        free(more);
        free(queries);
        model_free(&m);
        nearkit_index_free(ix);
    }
}

/* get and contains, after removals. */
static void test_get(void) {
    enum { N = 3000, NQ = 10 };
    model m;
    uint8_t *queries;
    nearkit_index *ix = living_index(&m, &queries, NQ, 64, N, NULL, 1, 21);
    CHECK(ix != NULL);
    if (!ix) return;
    int64_t gone[2] = {m.ids[10], m.ids[11]};
    CHECK_STATUS(nearkit_index_remove(NULL, ix, gone, 2), NEARKIT_OK);
    int64_t want[6] = {m.ids[5], m.ids[10], 4 /* never stored */, m.ids[N - 1], m.ids[5], m.ids[12]};
    uint8_t out[6 * 8], found[6];
    memset(out, 0xAB, sizeof out);
    CHECK_STATUS(nearkit_index_get(out, found, ix, want, 6), NEARKIT_OK);
    const uint8_t zero[8] = {0};
    CHECK(found[0] && !memcmp(out, m.codes + 5 * 8, 8));
    CHECK(!found[1] && !memcmp(out + 8, zero, 8));
    CHECK(!found[2] && !memcmp(out + 16, zero, 8));
    CHECK(found[3] && !memcmp(out + 24, m.codes + (N - 1) * 8, 8));
    CHECK(found[4] && !memcmp(out + 32, m.codes + 5 * 8, 8));
    CHECK(found[5] && !memcmp(out + 40, m.codes + 12 * 8, 8));
    CHECK(nearkit_index_contains(ix, m.ids[5]) == 1);
    CHECK(nearkit_index_contains(ix, m.ids[10]) == 0);
    CHECK(nearkit_index_contains(ix, 4) == 0);
    CHECK(nearkit_index_contains(ix, -1) == 0);
    free(queries);
    model_free(&m);
    nearkit_index_free(ix);
}

/* A predicate filter's context: the selectivity, and how often each id was asked about. */
typedef struct predicate_ctx {
    unsigned per_mille;
    int64_t first;
    _Atomic unsigned *asked;
    _Atomic unsigned twice;
} predicate_ctx;

static int32_t allow_by_hash(void *context, int64_t id) {
    predicate_ctx *p = context;
    if (atomic_fetch_add(&p->asked[id - p->first], 1) > 0) atomic_fetch_add(&p->twice, 1);
    return allowed_id(id, p->per_mille);
}

/* Each filter type at 50%, 10%, 1% and 0.1% and one that allows nothing, k-NN (a batch, single
 * queries, k beyond what passes) and range, against the brute-force filtered truth, bit for bit;
 * then with removed rows and a tail. A predicate is asked at most once per stored vector and call. */
static void check_filters(const nearkit_index *ix, const model *m, const uint8_t *queries, size_t nq,
                          const char *when) {
    const unsigned selectivity[] = {500, 100, 10, 1, 0};
    truth t = model_truth(m, queries, nq);
    int64_t first = INT64_MAX, last = INT64_MIN; /* the bitmap spans every id */
    for (size_t i = 0; i < m->n; i++) {
        first = m->ids[i] < first ? m->ids[i] : first;
        last = m->ids[i] > last ? m->ids[i] : last;
    }
    size_t span = (size_t)(last - first) + 1;
    for (size_t s = 0; s < sizeof selectivity / sizeof selectivity[0]; s++) {
        unsigned pm = selectivity[s];
        /* the allowed ids, plus ids never stored */
        int64_t *allow = malloc((m->n + 10) * sizeof *allow);
        size_t n_allow = 0;
        for (size_t i = 0; i < m->n; i++)
            if (allowed_id(m->ids[i], pm)) allow[n_allow++] = m->ids[i];
        for (int64_t extra = 1; extra <= 10; extra++) allow[n_allow++] = last + extra; /* never stored */
        uint8_t *bits = calloc(span / 8 + 1, 1);
        for (size_t i = 0; i < span; i++)
            if (allowed_id(first + (int64_t)i, pm)) bits[i / 8] |= (uint8_t)(1u << (i % 8));
        _Atomic unsigned *asked = calloc(span, sizeof *asked);
        predicate_ctx pc = {.per_mille = pm, .first = first, .asked = asked};
        for (uint32_t type = NEARKIT_FILTER_IDS; type <= NEARKIT_FILTER_PREDICATE; type++) {
            nearkit_filter f = NEARKIT_FILTER_INIT;
            f.type = type;
            f.ids = allow, f.n_ids = n_allow;
            f.bitmap = bits, f.bitmap_first = first, f.bitmap_bits = span;
            f.predicate = allow_by_hash, f.context = &pc;
            nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
            so.filter = &f;
            memset(asked, 0, span * sizeof *asked);
            atomic_store(&pc.twice, 0);
            long bad = knn_vs_model(ix, m, &t, queries, nq, 10, pm, &so);
            CHECK(atomic_load(&pc.twice) == 0);
            bad += all_vs_model(ix, m, &t, queries, nq, pm, &so);
            if (bad) fprintf(stderr, "filtered mih %s: type %u, %u per mille: %ld rows differ\n", when, type, pm, bad);
            CHECK(bad == 0);
        }
        free(asked);
        free(bits);
        free(allow);
    }
    free(t.hits);
}

static void test_filters(void) {
    enum { N = 20000, NQ = 30 };
    model m;
    uint8_t *queries;
    nearkit_index *ix = living_index(&m, &queries, NQ, 128, N, NULL, 0, 31);
    CHECK(ix != NULL);
    if (!ix) return;
    check_filters(ix, &m, queries, NQ, "built");
    /* removed rows (marked) and a tail */
    int64_t gone[1000];
    for (size_t i = 0; i < 1000; i++) gone[i] = m.ids[i * 11];
    CHECK_STATUS(nearkit_index_remove(NULL, ix, gone, 1000), NEARKIT_OK);
    model_remove(&m, gone, 1000);
    CHECK_STATUS(nearkit_index_add(ix, BIN, queries, NQ, NULL), NEARKIT_OK); /* ids N .. N + NQ - 1 */
    int64_t tail_ids[NQ];
    for (size_t i = 0; i < NQ; i++) tail_ids[i] = (int64_t)(N + i);
    model_add(&m, queries, tail_ids, NQ);
    check_model(ix, &m, queries, NQ, "with marks and a tail");
    check_filters(ix, &m, queries, NQ, "with marks and a tail");
    free(queries);
    model_free(&m);
    nearkit_index_free(ix);
}

/* Saved with removals (marks kept), loaded: the same count and results; compacted on load's
 * next writer only. */
static void test_save_load_removed(void) {
    enum { N = 4000, NQ = 30 };
    model m;
    uint8_t *queries;
    nearkit_index *ix = living_index(&m, &queries, NQ, 128, N, "m=6", 1, 41);
    CHECK(ix != NULL);
    if (!ix) return;
    int64_t gone[300];
    for (size_t i = 0; i < 300; i++) gone[i] = m.ids[i * 13];
    CHECK_STATUS(nearkit_index_remove(NULL, ix, gone, 300), NEARKIT_OK);
    model_remove(&m, gone, 300);
    int64_t tail_id = 7;
    CHECK_STATUS(nearkit_index_add(ix, BIN, queries, 1, &tail_id), NEARKIT_OK);
    model_add(&m, queries, &tail_id, 1);
    void *image = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&image, &size, ix), NEARKIT_OK);
    nearkit_index *back = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, image, size), NEARKIT_OK);
    if (back) {
        CHECK(nearkit_index_count(back) == N - 300 + 1);
        CHECK(nearkit_index_is_ready(back) == 1);
        check_model(back, &m, queries, NQ, "loaded with removals");
        CHECK(bt_knn_mismatches(back, ix, queries, NQ, 10) == 0);
        CHECK(nearkit_index_contains(back, gone[0]) == 0 && nearkit_index_contains(back, 7) == 1);
        /* a forged id -1 (a removed row) makes the header's count wrong */
        uint64_t len;
        const uint8_t *id_body = bt_find_section(&len, image, "IDS ");
        int64_t *forged = malloc(len);
        memcpy(forged, id_body, len);
        forged[1] = -1;
        size_t edited_size;
        uint8_t *edited = bt_edit_section(&edited_size, image, size, "IDS ", forged, len);
        CHECK(edited && bt_load_status(edited, edited_size) == NEARKIT_ERR_CORRUPT);
        free(edited);
        free(forged);
        CHECK_STATUS(nearkit_index_compact(back), NEARKIT_OK);
        check_model(back, &m, queries, NQ, "loaded and compacted");
        nearkit_index_free(back);
    }
    nearkit_buffer_free(image);
    free(queries);
    model_free(&m);
    nearkit_index_free(ix);
}

/* Adds after build: a small tail is scanned exactly, a large one rebuilds the tables; an index
 * never built answers exactly too. */
static void test_add_after_build(void) {
    enum { N = 8000, NQ = 30 };
    model m;
    uint8_t *queries;
    nearkit_index *ix = living_index(&m, &queries, NQ, 256, N, NULL, 1, 51);
    CHECK(ix != NULL);
    if (!ix) return;
    uint64_t rng = 52;
    uint8_t *more = malloc((size_t)N * 32);
    int64_t *more_ids = malloc(N * sizeof *more_ids);
    bt_near_queries(more, N, m.codes, N, 32, 3, &rng); /* near-duplicates of stored codes */
    for (size_t i = 0; i < N; i++) more_ids[i] = -(int64_t)i - 2;
    double substrings = 0;
    CHECK_STATUS(nearkit_index_add(ix, BIN, more, 100, more_ids), NEARKIT_OK); /* a tail */
    model_add(&m, more, more_ids, 100);
    CHECK(nearkit_index_is_ready(ix) == 1);
    check_model(ix, &m, queries, NQ, "with a tail");
    CHECK_STATUS(nearkit_index_add(ix, BIN, more + 100 * 32, N - 100, more_ids + 100), NEARKIT_OK); /* rebuilt */
    model_add(&m, more + 100 * 32, more_ids + 100, N - 100);
    CHECK(nearkit_index_get_param(&substrings, ix, "substrings") == NEARKIT_OK && substrings > 0);
    check_model(ix, &m, queries, NQ, "after a rebuilding add");
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    nearkit_string_free(text);
    nearkit_index_free(ix);

    /* never built: searched by scanning (while index.c still refuses an unready index, STATE) */
    nearkit_index *unbuilt = NULL;
    CHECK_STATUS(nearkit_index_create(&unbuilt, MIH, NEARKIT_METRIC_HAMMING, 256, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(unbuilt, BIN, m.codes, m.n, m.ids), NEARKIT_OK);
    int64_t id;
    float d;
    nearkit_status st = nearkit_index_search(&id, &d, unbuilt, BIN, queries, 1, 1, NULL);
    CHECK(st == NEARKIT_OK || st == NEARKIT_ERR_STATE);
    if (st == NEARKIT_OK) {
        check_model(unbuilt, &m, queries, NQ, "never built");
        check_filters(unbuilt, &m, queries, 6, "never built");
    }
    nearkit_index_free(unbuilt);
    free(more), free(more_ids);
    free(queries);
    model_free(&m);
}

/* max_radius per call: two threads, each with its own cap, against the serial answers. */
typedef struct capped_job {
    const nearkit_index *ix;
    const uint8_t *queries;
    double cap;
    const int64_t *want_ids;
    const float *want_dist;
    int bad;
} capped_job;

enum { PQ = 40, PK = 8 };

static void *capped_searcher(void *arg) {
    capped_job *j = arg;
    nearkit_param_value pv = {"max_radius", j->cap};
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.params = &pv, so.n_params = 1;
    int64_t ids[PQ * PK];
    float dist[PQ * PK];
    for (int round = 0; round < 20; round++) {
        j->bad += nearkit_index_search(ids, dist, j->ix, BIN, j->queries, PQ, PK, &so) != NEARKIT_OK;
        j->bad += memcmp(ids, j->want_ids, sizeof ids) != 0 || memcmp(dist, j->want_dist, sizeof dist) != 0;
    }
    return NULL;
}

static void test_per_call_settings(void) {
    enum { N = 10000 };
    model m;
    uint8_t *queries;
    nearkit_index *ix = living_index(&m, &queries, PQ, 128, N, "max_radius=20", 0, 61);
    CHECK(ix != NULL);
    if (!ix) return;
    const double caps[2] = {2, -1};
    int64_t want_ids[2][PQ * PK];
    float want_dist[2][PQ * PK];
    for (int c = 0; c < 2; c++) {
        nearkit_param_value pv = {"max_radius", caps[c]};
        nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
        so.params = &pv, so.n_params = 1;
        CHECK_STATUS(nearkit_index_search(want_ids[c], want_dist[c], ix, BIN, queries, PQ, PK, &so), NEARKIT_OK);
    }
    /* the cap of 2 cuts rows the uncapped search fills; uncapped equals the truth */
    int cut = 0;
    for (size_t i = 0; i < PQ * PK; i++) {
        cut += want_ids[0][i] == -1;
        CHECK(want_ids[0][i] == -1 ? want_dist[1][i] > 2 : want_ids[0][i] == want_ids[1][i]);
    }
    CHECK(cut > 0);
    truth tr = model_truth(&m, queries, PQ);
    quiet_truth = 1;
    CHECK(knn_vs_model(ix, &m, &tr, queries, PQ, PK, 1000, NULL) > 0); /* the index's own cap, 20, applies */
    quiet_truth = 0;
    nearkit_param_value none = {"max_radius", -1};
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.params = &none, so.n_params = 1;
    CHECK(knn_vs_model(ix, &m, &tr, queries, PQ, PK, 1000, &so) == 0);
    free(tr.hits);
    capped_job jobs[4];
    pthread_t threads[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (capped_job){ix, queries, caps[t % 2], want_ids[t % 2], want_dist[t % 2], 0};
        CHECK(pthread_create(&threads[t], NULL, capped_searcher, &jobs[t]) == 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        CHECK(jobs[t].bad == 0);
    }
    double v;
    CHECK(nearkit_index_get_param(&v, ix, "max_radius") == NEARKIT_OK && v == 20); /* untouched */
    free(queries);
    model_free(&m);
    nearkit_index_free(ix);
}

/* ---- golden binary cases with several substring counts ----------------------------------------- */

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
        /* the fewest (longest) substrings, a middle count, and one bit each */
        uint32_t ms[3] = {(ds->dimension + 63) / 64, ds->dimension / 16, ds->dimension};
        for (int v = 0; v < 3; v++) {
            char params[32];
            snprintf(params, sizeof params, "m=%u", ms[v]);
            nearkit_index *ix = bt_build(MIH, ds->dimension, params, 0, ds->base, ds->count, NULL);
            CHECK(ix != NULL);
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
            if (bad) fprintf(stderr, "golden %s with %s: %d rows differ (%s)\n", gc->name, params, bad, err);
            CHECK(bad == 0);
            nearkit_range_result_free(r);
            free(ids), free(dist), free(dd);
            nearkit_index_free(ix);
        }
        golden_expected_free(&ex);
        cases++;
    }
    CHECK(cases > 0);
    golden_manifest_free(&m);
}

int main(int argc, char **argv) {
    test_exactness();
    test_far_queries();
    test_ties_and_ids();
    test_capped();
    test_edge_cases();
    test_params();
    test_save_load();
    test_concurrency();
    test_remove();
    test_get();
    test_filters();
    test_save_load_removed();
    test_add_after_build();
    test_per_call_settings();
    if (argc > 1) test_golden(argv[1]);
    return check_summary("test_mih");
}
