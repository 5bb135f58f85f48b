/* Shared by the tests of the kinds over codes (test_hnsw_codes.c, test_flat_codes.c): a batch of
 * NQ answers of K, searched with the public ABI, compared by recall or bit for bit; loading a
 * saved image with one section replaced; removing, adding back and reading rows. Define N, K, NQ
 * and DIM, declare `static float *base, *queries` (N and NQ rows of DIM) and include check.h and
 * binary_test_util.h before including this. */
#ifndef NEARKIT_TEST_CODES_TEST_UTIL_H
#define NEARKIT_TEST_CODES_TEST_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <string.h>

typedef struct answers {
    int64_t ids[NQ * K];
    float dist[NQ * K];
} answers;

static void search(answers *a, const nearkit_index *ix, const nearkit_search_options *o) {
    CHECK_STATUS(nearkit_index_search(a->ids, a->dist, ix, NEARKIT_VECTOR_FLOAT32, queries, NQ, K, o), NEARKIT_OK);
}

/* Recall@K of a against b by ids (the data is continuous: no ties; a's distances may be code
 * distances, so they are not compared). */
static double recall(const answers *a, const answers *b) {
    uint64_t hits = 0;
    for (int q = 0; q < NQ; q++)
        for (int j = 0; j < K; j++)
            for (int i = 0; i < K; i++) hits += a->ids[q * K + j] != -1 && a->ids[q * K + j] == b->ids[q * K + i];
    return (double)hits / (double)(NQ * K);
}

/* Search options carrying n per-call parameters. */
static nearkit_search_options with(nearkit_param_value *pv, size_t n) {
    nearkit_search_options o = NEARKIT_SEARCH_OPTIONS_INIT;
    o.params = pv;
    o.n_params = n;
    return o;
}

static bool same(const answers *a, const answers *b) {
    return memcmp(a->ids, b->ids, sizeof a->ids) == 0 && memcmp(a->dist, b->dist, sizeof a->dist) == 0;
}

/* How the image loads with one section's body replaced. */
static nearkit_status load_edited(const uint8_t *img, size_t size, const char *tag, const void *body, uint64_t len) {
    size_t n;
    uint8_t *edited = bt_edit_section(&n, img, size, tag, body, len);
    nearkit_status st = edited ? bt_load_status(edited, n) : NEARKIT_ERR_INTERNAL;
    free(edited);
    return st;
}
#define expect_section(img, size, tag, body, len, what) \
    CHECK(load_edited(img, size, tag, body, len) == NEARKIT_ERR_CORRUPT && (what))


/* Removes ids 0, 7, ..., 2793 from an index of ids 0 .. N - 1 (the rows of `base`): the count
 * drops by 400 and searches return none of them; then adds rows base[1000 ..] again as ids
 * 100000 .. 100049 (a search between: adds after searches). */
static void remove_and_add_back(nearkit_index *h) {
    static answers a;
    search(&a, h, NULL);
    int64_t gone[400];
    for (int i = 0; i < 400; i++) gone[i] = i * 7;
    uint64_t removed = 0;
    CHECK_STATUS(nearkit_index_remove(&removed, h, gone, 400), NEARKIT_OK);
    CHECK(removed == 400 && nearkit_index_count(h) == N - 400);
    CHECK(nearkit_index_contains(h, 7) == 0 && nearkit_index_contains(h, 8) == 1);
    search(&a, h, NULL);
    bool none = true;
    for (int i = 0; i < NQ * K; i++) none = none && (a.ids[i] < 0 || a.ids[i] % 7 != 0 || a.ids[i] >= 2800);
    CHECK(none);
    int64_t back[50];
    for (int i = 0; i < 50; i++) back[i] = 100000 + i;
    CHECK_STATUS(nearkit_index_add(h, NEARKIT_VECTOR_FLOAT32, base + 1000 * DIM, 50, back), NEARKIT_OK);
}

/* After remove_and_add_back: get finds ids 1 and 100003, not the removed 7; returns the largest
 * difference of a coordinate from the vectors added (0 where the originals are kept). */
static float get_error(const nearkit_index *h) {
    int64_t want[3] = {1, 100003, 7};
    float out[3 * DIM];
    uint8_t found[3] = {0};
    CHECK_STATUS(nearkit_index_get(out, found, h, want, 3), NEARKIT_OK);
    CHECK(found[0] && found[1] && !found[2]);
    float worst = 0;
    for (int j = 0; j < DIM; j++) {
        worst = fmaxf(worst, fabsf(out[j] - base[DIM + j]));
        worst = fmaxf(worst, fabsf(out[DIM + j] - base[1003 * DIM + j]));
    }
    return worst;
}


/* An index trained with refine 0 has no originals: refine > 0 is refused, and asked per call it
 * changes nothing. */
static void check_originals_dropped(nearkit_index *dropped) {
    CHECK_STATUS(nearkit_index_set_param(dropped, "refine", 2), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_set_param(dropped, "refine", 0), NEARKIT_OK);
    static answers a, b;
    search(&a, dropped, NULL);
    nearkit_param_value two = {"refine", 2};
    nearkit_search_options o_two = with(&two, 1);
    search(&b, dropped, &o_two);
    CHECK(same(&a, &b));
}

/* Whether the index's description holds both strings. */
static bool describes(const nearkit_index *ix, const char *one, const char *other) {
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    bool both = text && strstr(text, one) && strstr(text, other);
    nearkit_string_free(text);
    return both;
}


/* A kind over float codes refuses hamming and l1. */
static void check_metrics_refused(nearkit_kind kind) {
    nearkit_index *ix = NULL;
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    CHECK_STATUS(nearkit_index_create(&ix, kind, NEARKIT_METRIC_HAMMING, 64, &o), NEARKIT_ERR_UNSUPPORTED);
    CHECK_STATUS(nearkit_index_create(&ix, kind, NEARKIT_METRIC_L1, 8, &o), NEARKIT_ERR_UNSUPPORTED);
}

/* An empty index: refuses a NaN, a negative refine and setting a statistic; searches pad; saves
 * and loads, and the copy takes 100 rows. */
static void check_empty(nearkit_index *ix) {
    float bad[DIM] = {0};
    bad[3] = NAN;
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, bad, 1, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "refine", -1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "bytes_per_vector", 3), NEARKIT_ERR_INVALID_ARGUMENT);
    static answers a;
    search(&a, ix, NULL);
    CHECK(a.ids[0] == -1);
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, ix), NEARKIT_OK);
    nearkit_index *copy = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&copy, buf, size), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(copy, NEARKIT_VECTOR_FLOAT32, base, 100, NULL), NEARKIT_OK);
    CHECK(nearkit_index_count(copy) == 100);
    nearkit_buffer_free(buf);
    nearkit_index_free(copy);
}

#endif
