/* nearkit_merge_knn: shards' answers merged equal one search over the union, bit for bit (ties
 * by id included); NEARKIT_MERGE_UNIQUE counts an id once; padding, empty parts, bad input. */
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define F32 NEARKIT_VECTOR_FLOAT32
enum { D = 8, N = 3000, NQ = 50, K = 10, SHARDS = 3 };

static nearkit_index *flat_of(const float *x, const int64_t *ids, uint64_t n) {
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, D, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, F32, x, n, ids), NEARKIT_OK);
    return ix;
}

/* Vectors on a coarse grid, so that many distances tie and the id order matters. */
static void grid(float *x, uint64_t n) {
    for (uint64_t i = 0; i < n * D; i++) x[i] = (float)((i * 7919u + i / D) % 5);
}

static void test_shards_equal_union(void) {
    float *x = malloc(N * D * sizeof *x), *qs = malloc(NQ * D * sizeof *qs);
    int64_t *ids = malloc(N * sizeof *ids);
    grid(x, N);
    grid(qs, NQ);
    for (uint64_t i = 0; i < N; i++) ids[i] = (int64_t)((i * 2654435761u) % 1000003u); /* shuffled */
    nearkit_index *all = flat_of(x, ids, N);
    int64_t want[NQ * K], got[NQ * K], part_ids[SHARDS][NQ * K];
    float want_d[NQ * K], got_d[NQ * K], part_d[SHARDS][NQ * K];
    CHECK_STATUS(nearkit_index_search(want, want_d, all, F32, qs, NQ, K, NULL), NEARKIT_OK);
    nearkit_knn_part parts[SHARDS];
    for (int s = 0; s < SHARDS; s++) {
        uint64_t first = (uint64_t)s * N / SHARDS, last = (uint64_t)(s + 1) * N / SHARDS;
        nearkit_index *shard = flat_of(x + first * D, ids + first, last - first);
        CHECK_STATUS(nearkit_index_search(part_ids[s], part_d[s], shard, F32, qs, NQ, K, NULL), NEARKIT_OK);
        parts[s] = (nearkit_knn_part){part_ids[s], part_d[s], K};
        nearkit_index_free(shard);
    }
    CHECK_STATUS(nearkit_merge_knn(got, got_d, NQ, K, parts, SHARDS, 0), NEARKIT_OK);
    CHECK(memcmp(got, want, sizeof got) == 0 && memcmp(got_d, want_d, sizeof got_d) == 0);
    /* the same answer twice, counted once, equals it */
    nearkit_knn_part twice[2] = {{want, want_d, K}, {want, want_d, K}};
    CHECK_STATUS(nearkit_merge_knn(got, got_d, NQ, K, twice, 2, NEARKIT_MERGE_UNIQUE), NEARKIT_OK);
    CHECK(memcmp(got, want, sizeof got) == 0 && memcmp(got_d, want_d, sizeof got_d) == 0);
    nearkit_index_free(all);
    free(x), free(qs), free(ids);
}

static void test_padding_and_repeats(void) {
    int64_t a[4] = {5, 9, -1, -1}, b[2] = {9, 2};
    float ad[4] = {1.0f, 2.0f, INFINITY, INFINITY}, bd[2] = {0.5f, 2.0f};
    nearkit_knn_part parts[3] = {{a, ad, 4}, {b, bd, 2}, {NULL, NULL, 0}};
    int64_t ids[5];
    float d[5];
    CHECK_STATUS(nearkit_merge_knn(ids, d, 1, 5, parts, 3, 0), NEARKIT_OK);
    int64_t all[5] = {9, 5, 2, 9, -1}; /* 2 and 9 tie at 2.0: the smaller id first */
    CHECK(memcmp(ids, all, sizeof ids) == 0 && d[0] == 0.5f && d[2] == 2.0f && isinf(d[4]));
    CHECK_STATUS(nearkit_merge_knn(ids, d, 1, 5, parts, 3, NEARKIT_MERGE_UNIQUE), NEARKIT_OK);
    int64_t unique[5] = {9, 5, 2, -1, -1}; /* 9 once, at its least distance */
    CHECK(memcmp(ids, unique, sizeof ids) == 0 && d[0] == 0.5f && isinf(d[3]));
    CHECK_STATUS(nearkit_merge_knn(ids, d, 1, 2, NULL, 0, 0), NEARKIT_OK); /* nothing: padding */
    CHECK(ids[0] == -1 && ids[1] == -1 && isinf(d[0]));
}

static void test_bad_input(void) {
    int64_t a[2] = {1, 2}, ids[2];
    float ad[2] = {1.0f, NAN}, d[2];
    nearkit_knn_part nan_part = {a, ad, 2}, null_part = {NULL, ad, 2};
    CHECK_STATUS(nearkit_merge_knn(ids, d, 1, 2, &nan_part, 1, 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_merge_knn(ids, d, 1, 2, &null_part, 1, 0), NEARKIT_ERR_INVALID_ARGUMENT);
    ad[1] = 2.0f;
    CHECK_STATUS(nearkit_merge_knn(ids, d, 1, 0, &nan_part, 1, 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_merge_knn(NULL, d, 1, 2, &nan_part, 1, 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_merge_knn(ids, d, 1, 2, NULL, 1, 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_merge_knn(ids, d, 1, 2, &nan_part, 1, 8u), NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_knn_part huge = {a, ad, UINT64_MAX / 2};
    CHECK_STATUS(nearkit_merge_knn(ids, d, 1, 2, &huge, 1, 0), NEARKIT_ERR_INVALID_ARGUMENT);
}

int main(void) {
    test_shards_equal_union();
    test_padding_and_repeats();
    test_bad_input();
    return check_summary("test_merge");
}
