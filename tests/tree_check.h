/* Helpers shared by the tests of the tree kinds (test_vptree.c, test_bktree.c): data generators,
 * a bit-for-bit comparison of every answer with the flat index's, and surgery on saved images
 * (find a section, change it, re-seal the checksum) to forge damaged files. Include after check.h. */
#ifndef NEARKIT_TEST_TREE_CHECK_H
#define NEARKIT_TEST_TREE_CHECK_H

#define NEARKIT_EXPERIMENTAL /* nearkit_kernels_force */
#include "nearkit.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- data ------------------------------------------------------------------------------------- */

static uint64_t tc_state = 0x9E3779B97F4A7C15ull;

static inline uint64_t tc_next(void) { /* xorshift64* */
    tc_state ^= tc_state >> 12;
    tc_state ^= tc_state << 25;
    tc_state ^= tc_state >> 27;
    return tc_state * 0x2545F4914F6CDD1Dull;
}

static inline float tc_uniform(void) { return (float)(tc_next() >> 40) / (float)(1u << 24); }

/* Float data: style 0 uniform in [-1, 1), 1 small integers (many exact ties), 2 only a few
 * distinct vectors (duplicates), 3 clustered. */
static inline float *tc_floats(uint64_t n, uint32_t dim, int style) {
    float *v = malloc((size_t)(n * dim + 1) * sizeof *v);
    float centre[8][64];
    for (int c = 0; c < 8; c++)
        for (int j = 0; j < 64; j++) centre[c][j] = tc_uniform() * 20.0f - 10.0f;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t proto = tc_next() % 5;
        int c = (int)(tc_next() % 8);
        for (uint32_t j = 0; j < dim; j++) {
            float x;
            switch (style) {
            case 0: x = tc_uniform() * 2.0f - 1.0f; break;
            case 1: x = (float)(int)(tc_next() % 4) - 1.0f; break;
            case 2: x = (float)((proto * 7 + j * 3) % 5) - 2.0f; break;
            default: x = centre[c][j % 64] + (tc_uniform() - 0.5f) * 0.5f; break;
            }
            v[i * dim + j] = x;
        }
    }
    return v;
}

/* Binary codes of dim bits: style 0 random bits, 1 sparse bits (many ties), 2 a few distinct codes. */
static inline uint8_t *tc_codes(uint64_t n, uint32_t bits, int style) {
    uint32_t bytes = bits / 8;
    uint8_t *v = malloc((size_t)(n * bytes + 1));
    for (uint64_t i = 0; i < n; i++) {
        uint64_t proto = tc_next() % 4;
        for (uint32_t j = 0; j < bytes; j++) {
            uint8_t x;
            switch (style) {
            case 0: x = (uint8_t)tc_next(); break;
            case 1: x = (uint8_t)(1u << (tc_next() % 8)) & (uint8_t)(tc_next() % 3 == 0 ? 0xFF : 0); break;
            default: x = (uint8_t)(proto * 37 + j * 11); break;
            }
            v[i * bytes + j] = x;
        }
    }
    return v;
}

static inline void *tc_data(nearkit_metric metric, uint64_t n, uint32_t dim, int style) {
    if (metric == NEARKIT_METRIC_HAMMING) return tc_codes(n, dim, style % 3);
    return tc_floats(n, dim, style);
}

static inline nearkit_vector_type tc_type(nearkit_metric metric) {
    return metric == NEARKIT_METRIC_HAMMING ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32;
}

/* ---- indexes ---------------------------------------------------------------------------------- */

static inline nearkit_index *tc_make(nearkit_kind kind, nearkit_metric metric, uint32_t dim,
                                     const char *params, uint32_t threads, const void *data, uint64_t n,
                                     const int64_t *ids) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = params;
    o.num_threads = threads;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind, metric, dim, &o), NEARKIT_OK);
    if (!ix) return NULL;
    CHECK_STATUS(nearkit_index_add(ix, tc_type(metric), data, n, ids), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    return ix;
}

/* Same k-NN ids and bit-identical distances for every query, b searched with the filter (NULL:
 * none): a holds what b's filtered search must find. */
static inline bool tc_same_knn_filtered(const nearkit_index *a, const nearkit_index *b, const void *queries,
                                        uint64_t nq, uint64_t k, uint32_t threads,
                                        const nearkit_filter *filter) {
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT, filtered = NEARKIT_SEARCH_OPTIONS_INIT;
    so.num_threads = filtered.num_threads = threads;
    filtered.filter = filter;
    nearkit_vector_type type = nearkit_index_vector_type(b);
    int64_t *ia = malloc(nq * k * sizeof *ia), *ib = malloc(nq * k * sizeof *ib);
    float *da = malloc(nq * k * sizeof *da), *db = malloc(nq * k * sizeof *db);
    bool ok = nearkit_index_search(ia, da, a, type, queries, nq, k, &so) == NEARKIT_OK &&
              nearkit_index_search(ib, db, b, type, queries, nq, k, &filtered) == NEARKIT_OK;
    if (ok && (memcmp(ia, ib, nq * k * sizeof *ia) != 0 || memcmp(da, db, nq * k * sizeof *da) != 0)) {
        ok = false;
        for (uint64_t i = 0; i < nq * k; i++)
            if (ia[i] != ib[i] || memcmp(&da[i], &db[i], sizeof da[i]) != 0) {
                fprintf(stderr,
                        "  k-NN differs at query %llu rank %llu: id %lld dist %.9g vs id %lld dist %.9g\n",
                        (unsigned long long)(i / k), (unsigned long long)(i % k), (long long)ia[i],
                        (double)da[i], (long long)ib[i], (double)db[i]);
                break;
            }
    }
    free(ia), free(ib), free(da), free(db);
    return ok;
}

/* Same k-NN ids and bit-identical distances for every query. */
static inline bool tc_same_knn(const nearkit_index *a, const nearkit_index *b, const void *queries,
                               uint64_t nq, uint64_t k, uint32_t threads) {
    return tc_same_knn_filtered(a, b, queries, nq, k, threads, NULL);
}

/* Same range matches (ids, bit-identical distances, order) for every query, b searched with the
 * filter (NULL: none). */
static inline bool tc_same_range_filtered(const nearkit_index *a, const nearkit_index *b,
                                          const void *queries, uint64_t nq, float radius,
                                          uint32_t threads, const nearkit_filter *filter) {
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT, filtered = NEARKIT_SEARCH_OPTIONS_INIT;
    so.num_threads = filtered.num_threads = threads;
    filtered.filter = filter;
    nearkit_vector_type type = nearkit_index_vector_type(b);
    nearkit_range_result *ra = NULL, *rb = NULL;
    bool ok = nearkit_index_range_search(&ra, a, type, queries, nq, radius, &so) == NEARKIT_OK &&
              nearkit_index_range_search(&rb, b, type, queries, nq, radius, &filtered) == NEARKIT_OK;
    const uint64_t *oa, *ob;
    const int64_t *ia, *ib;
    const float *da, *db;
    if (ok) {
        nearkit_range_result_get(&oa, &ia, &da, ra);
        nearkit_range_result_get(&ob, &ib, &db, rb);
        ok = memcmp(oa, ob, (nq + 1) * sizeof *oa) == 0 && memcmp(ia, ib, oa[nq] * sizeof *ia) == 0 &&
             memcmp(da, db, oa[nq] * sizeof *da) == 0;
        if (!ok)
            fprintf(stderr, "  range results differ (radius %g): %llu vs %llu matches\n", (double)radius,
                    (unsigned long long)oa[nq], (unsigned long long)ob[nq]);
    }
    nearkit_range_result_free(ra);
    nearkit_range_result_free(rb);
    return ok;
}

/* Same range matches for every query. */
static inline bool tc_same_range(const nearkit_index *a, const nearkit_index *b, const void *queries,
                                 uint64_t nq, float radius, uint32_t threads) {
    return tc_same_range_filtered(a, b, queries, nq, radius, threads, NULL);
}

/* The distance of the k-th neighbour of the first query: a radius that catches some, not all. */
static inline float tc_radius(const nearkit_index *flat, const void *query, uint64_t k) {
    uint64_t n = nearkit_index_count(flat);
    if (k > n) k = n;
    if (k == 0) return 1.0f;
    int64_t *ids = malloc(k * sizeof *ids);
    float *dist = malloc(k * sizeof *dist);
    float r = 1.0f;
    nearkit_vector_type type = nearkit_index_vector_type(flat);
    if (nearkit_index_search(ids, dist, flat, type, query, 1, k, NULL) == NEARKIT_OK)
        r = dist[k - 1];
    free(ids), free(dist);
    return r;
}

/* ---- living collections ----------------------------------------------------------------------- */

/* What a tree should hold: every vector ever added, with its id, and whether it is still there. */
typedef struct tc_rows {
    nearkit_metric metric;
    uint32_t dim;
    size_t bytes; /* of one vector */
    uint8_t *data;
    int64_t *ids;
    uint8_t *alive;
    uint64_t n, cap;
} tc_rows;

static inline tc_rows tc_rows_new(nearkit_metric metric, uint32_t dim, uint64_t cap) {
    size_t bytes = metric == NEARKIT_METRIC_HAMMING ? dim / 8 : dim * sizeof(float);
    return (tc_rows){.metric = metric, .dim = dim, .bytes = bytes, .data = malloc(cap * bytes + 1),
                     .ids = malloc(cap * sizeof(int64_t)), .alive = malloc(cap), .cap = cap};
}

static inline void tc_rows_free(tc_rows *r) { free(r->data), free(r->ids), free(r->alive); }

/* Adds n vectors with their ids to the tree and to r. */
static inline void tc_rows_add(tc_rows *r, nearkit_index *tree, const void *vectors, const int64_t *ids,
                               uint64_t n) {
    CHECK(r->n + n <= r->cap);
    if (r->n + n > r->cap) return;
    CHECK_STATUS(nearkit_index_add(tree, tc_type(r->metric), vectors, n, ids), NEARKIT_OK);
    memcpy(r->data + r->n * r->bytes, vectors, n * r->bytes);
    memcpy(r->ids + r->n, ids, n * sizeof *ids);
    memset(r->alive + r->n, 1, n);
    r->n += n;
}

/* Removes the ids (repeats and unknown ids welcome) from the tree and r; checks the count the tree
 * reports removed and the tree's count after. */
static inline void tc_rows_remove(tc_rows *r, nearkit_index *tree, const int64_t *ids, uint64_t n) {
    uint64_t expected = 0, live = 0;
    for (uint64_t i = 0; i < r->n; i++) {
        bool hit = false;
        for (uint64_t j = 0; j < n && !hit && r->alive[i]; j++) hit = r->ids[i] == ids[j];
        if (hit) expected++, r->alive[i] = 0;
        live += r->alive[i];
    }
    uint64_t removed = UINT64_MAX;
    CHECK_STATUS(nearkit_index_remove(&removed, tree, ids, n), NEARKIT_OK);
    CHECK(removed == expected);
    CHECK(nearkit_index_count(tree) == live);
}

/* A flat index of the live rows that `allowed` (by row, NULL: every row) lets through: the truth. */
static inline nearkit_index *tc_flat_of(const tc_rows *r, const uint8_t *allowed) {
    uint8_t *data = malloc(r->n * r->bytes + 1);
    int64_t *ids = malloc((r->n + 1) * sizeof *ids);
    uint64_t m = 0;
    for (uint64_t i = 0; i < r->n; i++)
        if (r->alive[i] && (!allowed || allowed[i])) {
            memcpy(data + m * r->bytes, r->data + i * r->bytes, r->bytes);
            ids[m++] = r->ids[i];
        }
    nearkit_index *flat = NULL;
    CHECK_STATUS(nearkit_index_create(&flat, NEARKIT_KIND_FLAT, r->metric, r->dim, NULL), NEARKIT_OK);
    if (flat && m > 0) CHECK_STATUS(nearkit_index_add(flat, tc_type(r->metric), data, m, ids), NEARKIT_OK);
    free(data), free(ids);
    return flat;
}

/* The tree answers as a flat index of its live rows: k-NN at several k (one beyond the count),
 * 1 and 2 threads, and range search. */
static inline bool tc_same_as_rest(const tc_rows *r, const nearkit_index *tree, const void *queries,
                                   uint64_t nq) {
    nearkit_index *flat = tc_flat_of(r, NULL);
    if (!flat) return false;
    uint64_t live = nearkit_index_count(flat);
    bool ok = tc_same_knn(flat, tree, queries, nq, 1, 1) && tc_same_knn(flat, tree, queries, nq, 7, 2) &&
              tc_same_knn(flat, tree, queries, nq, live + 2, 1) &&
              tc_same_range(flat, tree, queries, nq, tc_radius(flat, queries, 15), 2);
    nearkit_index_free(flat);
    return ok;
}

/* Whether a filter of selectivity `per_million` allows an id (a hash of it, so that every filter
 * type can say the same). */
static inline bool tc_allows(uint64_t per_million, int64_t id) {
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return (h >> 20) % 1000000 < per_million;
}

static inline int32_t tc_predicate(void *context, int64_t id) {
    return tc_allows(*(const uint64_t *)context, id);
}

/* Filtered k-NN (k = 1, 10) and range search equal, bit for bit, those of a flat index of just the
 * live rows each filter allows, for filters of every type at 50%, 10%, 1%, 0.1% and 0%. */
static inline void tc_check_filters(const tc_rows *r, const nearkit_index *tree, const void *queries,
                                    uint64_t nq) {
    const uint64_t selectivities[] = {500000, 100000, 10000, 1000, 0};
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (uint64_t i = 0; i < r->n; i++) {
        if (r->ids[i] < lo) lo = r->ids[i];
        if (r->ids[i] > hi) hi = r->ids[i];
    }
    uint64_t bits = r->n ? (uint64_t)(hi - lo) + 10 : 1;
    uint8_t *allowed = malloc(r->n + 1), *bitmap = calloc(bits / 8 + 1, 1);
    int64_t *list = malloc((r->n + 2) * sizeof *list);
    for (size_t s = 0; s < sizeof selectivities / sizeof selectivities[0]; s++) {
        uint64_t sel = selectivities[s], n_list = 0;
        memset(bitmap, 0, bits / 8 + 1);
        for (uint64_t i = 0; i < r->n; i++) {
            allowed[i] = tc_allows(sel, r->ids[i]);
            if (!allowed[i]) continue;
            list[n_list++] = r->ids[i]; /* removed rows' ids too: a filter may name anything */
            uint64_t bit = (uint64_t)(r->ids[i] - lo) + 3;
            bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
        }
        list[n_list++] = hi + 1000; /* an id the index does not hold */
        nearkit_filter filters[3] = {NEARKIT_FILTER_INIT, NEARKIT_FILTER_INIT, NEARKIT_FILTER_INIT};
        filters[0].type = NEARKIT_FILTER_IDS;
        filters[0].ids = list;
        filters[0].n_ids = n_list;
        filters[1].type = NEARKIT_FILTER_BITMAP;
        filters[1].bitmap = bitmap;
        filters[1].bitmap_first = lo - 3;
        filters[1].bitmap_bits = bits;
        filters[2].type = NEARKIT_FILTER_PREDICATE;
        filters[2].predicate = tc_predicate;
        filters[2].context = &sel;
        nearkit_index *truth = tc_flat_of(r, allowed);
        if (!truth) break;
        float radius = tc_radius(truth, queries, 5);
        for (int f = 0; f < 3; f++) {
            bool same = tc_same_knn_filtered(truth, tree, queries, nq, 1, 1, &filters[f]) &&
                        tc_same_knn_filtered(truth, tree, queries, nq, 10, 2, &filters[f]) &&
                        tc_same_range_filtered(truth, tree, queries, nq, radius, 2, &filters[f]);
            if (!same)
                fprintf(stderr, "  filtered search != truth: filter type %d, selectivity %g%%, %llu allowed\n",
                        f + 1, (double)sel / 1e4, (unsigned long long)nearkit_index_count(truth));
            CHECK(same);
        }
        nearkit_index_free(truth);
    }
    free(allowed), free(bitmap), free(list);
}

/* A tree as a living collection (kind, metric, dimension, build parameters): removals (some,
 * with repeats and unknown ids, then enough for a rebuild, then all), read back, filters, saving
 * with removed rows kept, adding after a build, removing and adding an id again, compaction; each
 * step's answers equal a flat index's of the live rows, bit for bit. */
static inline void tc_check_living(nearkit_kind kind, nearkit_metric metric, uint32_t dim, const char *params,
                                   int style) {
    enum { N = 2000, LATER = 300, MORE = 120, NQ = 24 };
    uint64_t total = N + LATER + MORE;
    uint8_t *data = tc_data(metric, total, dim, style), *queries = tc_data(metric, NQ, dim, style);
    tc_rows r = tc_rows_new(metric, dim, total + 64);
    for (uint64_t q = 0; q < NQ / 3; q++) memcpy(queries + q * r.bytes, data + q * 37 * r.bytes, r.bytes);
    int64_t *ids = malloc(total * sizeof *ids);
    for (uint64_t i = 0; i < total; i++) ids[i] = 5 + 3 * (int64_t)i - (i % 97 == 1 ? 3 : 0); /* a few repeats */
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = params;
    o.num_threads = 2;
    nearkit_index *tree = NULL;
    CHECK_STATUS(nearkit_index_create(&tree, kind, metric, dim, &o), NEARKIT_OK);
    if (!tree) return;
    tc_rows_add(&r, tree, data, ids, N);
    CHECK_STATUS(nearkit_index_build(tree), NEARKIT_OK);

    /* some removed (a tenth, below the rebuild threshold: marked rows), with repeats, unknown ids
     * and -1 */
    int64_t gone[N / 5];
    uint64_t n_gone = 0;
    for (uint64_t i = 0; i < N; i += 11) gone[n_gone++] = ids[i];
    gone[n_gone++] = ids[0];
    gone[n_gone++] = ids[11];
    gone[n_gone++] = -1;
    gone[n_gone++] = 4;           /* never stored */
    gone[n_gone++] = INT64_MAX;
    tc_rows_remove(&r, tree, gone, n_gone);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, tree), NEARKIT_OK);
    CHECK(text && strstr(text, " rows removed, their space kept"));
    nearkit_string_free(text);
    uint64_t again = 7;
    CHECK_STATUS(nearkit_index_remove(&again, tree, gone, n_gone), NEARKIT_OK); /* all gone already */
    CHECK(again == 0);

    /* read back and contains */
    int64_t asked[4] = {ids[2], ids[11], ids[5], 4};
    uint8_t *got = malloc(4 * r.bytes), found[4] = {9, 9, 9, 9};
    CHECK_STATUS(nearkit_index_get(got, found, tree, asked, 4), NEARKIT_OK);
    CHECK(found[0] == 1 && found[1] == 0 && found[2] == 1 && found[3] == 0);
    if (metric != NEARKIT_METRIC_COSINE) /* cosine stores normalised vectors */
        CHECK(memcmp(got, data + 2 * r.bytes, r.bytes) == 0 &&
              memcmp(got + 2 * r.bytes, data + 5 * r.bytes, r.bytes) == 0);
    CHECK(nearkit_index_contains(tree, ids[2]) == 1 && nearkit_index_contains(tree, ids[11]) == 0 &&
          nearkit_index_contains(tree, 4) == 0 && nearkit_index_contains(tree, -1) == 0);
    free(got);

    /* saved with removed rows kept: loads the same, row for row */
    void *buf = NULL, *buf2 = NULL;
    size_t size = 0, size2 = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, tree), NEARKIT_OK);
    nearkit_index *back = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, size), NEARKIT_OK);
    if (back) {
        CHECK(nearkit_index_count(back) == nearkit_index_count(tree));
        CHECK(tc_same_knn(tree, back, queries, NQ, 10, 1) && tc_same_as_rest(&r, back, queries, NQ));
        CHECK_STATUS(nearkit_index_save_to_buffer(&buf2, &size2, back), NEARKIT_OK);
        CHECK(size2 == size && buf2 && memcmp(buf, buf2, size) == 0);
        nearkit_buffer_free(buf2);
        tc_check_filters(&r, back, queries, NQ);
    }
    nearkit_index_free(back);
    nearkit_buffer_free(buf);

    /* added after the build: a tail searched exactly, also with removed rows and filters */
    tc_rows_add(&r, tree, data + N * r.bytes, ids + N, LATER);
    CHECK(nearkit_index_is_ready(tree) == 1);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));
    tc_check_filters(&r, tree, queries, NQ);

    /* enough removed for a rebuild: removed rows dropped, the tail taken in */
    n_gone = 0;
    for (uint64_t i = 3; i < N; i += 9) gone[n_gone++] = ids[i];
    tc_rows_remove(&r, tree, gone, n_gone);
    CHECK_STATUS(nearkit_index_describe(&text, tree), NEARKIT_OK);
    CHECK(text && !strstr(text, "rows removed") && !strstr(text, "rows added since"));
    nearkit_string_free(text);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));

    /* an id removed and added again, with another vector */
    int64_t id = ids[4];
    tc_rows_remove(&r, tree, &id, 1);
    CHECK(nearkit_index_contains(tree, id) == 0);
    tc_rows_add(&r, tree, data + (N + LATER) * r.bytes, &id, 1);
    CHECK(nearkit_index_contains(tree, id) == 1);
    uint8_t *one = malloc(r.bytes);
    uint8_t hit = 0;
    CHECK_STATUS(nearkit_index_get(one, &hit, tree, &id, 1), NEARKIT_OK);
    CHECK(hit == 1);
    if (metric != NEARKIT_METRIC_COSINE) CHECK(memcmp(one, data + (N + LATER) * r.bytes, r.bytes) == 0);
    free(one);
    tc_rows_add(&r, tree, data + (N + LATER + 1) * r.bytes, ids + N + LATER + 1, MORE - 1);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));

    /* compaction: nothing deferred is left, answers unchanged */
    uint64_t before = nearkit_index_count(tree);
    CHECK_STATUS(nearkit_index_compact(tree), NEARKIT_OK);
    CHECK(nearkit_index_count(tree) == before);
    CHECK_STATUS(nearkit_index_describe(&text, tree), NEARKIT_OK);
    CHECK(text && !strstr(text, "rows removed") && !strstr(text, "rows added since"));
    nearkit_string_free(text);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));
    tc_check_filters(&r, tree, queries, NQ);

    /* everything removed: an empty index; then it grows again */
    tc_rows_remove(&r, tree, r.ids, r.n);
    CHECK(nearkit_index_count(tree) == 0);
    int64_t nn[3];
    float nd[3];
    CHECK_STATUS(nearkit_index_search(nn, nd, tree, tc_type(metric), queries, 1, 3, NULL), NEARKIT_OK);
    CHECK(nn[0] == -1 && nn[2] == -1 && isinf(nd[0]));
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));
    tc_rows_add(&r, tree, data, ids, 50);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));

    nearkit_index_free(tree);
    tc_rows_free(&r);
    free(data), free(queries), free(ids);
}

/* Adding without a build: every search answers (exactly, by scanning), removals included; a build
 * later changes nothing in the answers. */
static inline void tc_check_unbuilt(nearkit_kind kind, nearkit_metric metric, uint32_t dim, int style) {
    enum { N = 700, NQ = 12 };
    uint8_t *data = tc_data(metric, N, dim, style), *queries = tc_data(metric, NQ, dim, style);
    tc_rows r = tc_rows_new(metric, dim, N);
    int64_t *ids = malloc(N * sizeof *ids);
    for (uint64_t i = 0; i < N; i++) ids[i] = 1000 - (int64_t)i;
    nearkit_index *tree = NULL;
    CHECK_STATUS(nearkit_index_create(&tree, kind, metric, dim, NULL), NEARKIT_OK);
    if (!tree) return;
    CHECK(nearkit_index_is_ready(tree) == 1);
    tc_rows_add(&r, tree, data, ids, 400);
    CHECK(nearkit_index_is_ready(tree) == 1);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));
    tc_check_filters(&r, tree, queries, NQ);
    tc_rows_remove(&r, tree, ids + 100, 50);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));
    tc_rows_add(&r, tree, data + 400 * r.bytes, ids + 400, 300);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));
    CHECK_STATUS(nearkit_index_build(tree), NEARKIT_OK);
    CHECK(tc_same_as_rest(&r, tree, queries, NQ));
    tc_check_filters(&r, tree, queries, NQ);
    nearkit_index_free(tree);
    tc_rows_free(&r);
    free(data), free(queries), free(ids);
}

/* ---- forged files ----------------------------------------------------------------------------- */

static inline uint32_t tc_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int b = 0; b < 8; b++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

/* Recomputes the checksum of an image (docs/format.md) after it was changed. */
static inline void tc_reseal(uint8_t *image, size_t size) {
    uint32_t crc = tc_crc32(image + 8, size - 12);
    memcpy(image + size - 4, &crc, 4);
}

/* The body of the section with this four-character tag, and its length; NULL when absent. */
static inline uint8_t *tc_section(uint8_t *image, size_t size, const char tag[4], uint64_t *len) {
    uint32_t header;
    memcpy(&header, image + 12, 4);
    size_t at = 16 + header;
    while (at + 16 <= size - 4) {
        uint64_t l;
        uint32_t pad; /* format 2: zero bytes before the body */
        memcpy(&pad, image + at + 4, 4);
        memcpy(&l, image + at + 8, 8);
        if (memcmp(image + at, tag, 4) == 0) {
            *len = l;
            return image + at + 16 + pad;
        }
        at += 16 + pad + (size_t)l;
    }
    return NULL;
}

/* Loads a copy of the image with `len` bytes at `offset` of section `tag` replaced by `bytes`
 * (checksum re-sealed) and returns the status. */
static inline nearkit_status tc_load_patched(const void *image, size_t size, const char tag[4],
                                             uint64_t offset, const void *bytes, size_t len) {
    uint8_t *copy = malloc(size);
    memcpy(copy, image, size);
    uint64_t section_len = 0;
    uint8_t *body = tc_section(copy, size, tag, &section_len);
    nearkit_status st = NEARKIT_ERR_INTERNAL;
    if (body && offset + len <= section_len) {
        memcpy(body + offset, bytes, len);
        tc_reseal(copy, size);
        nearkit_index *ix = NULL;
        st = nearkit_index_load_from_buffer(&ix, copy, size);
        nearkit_index_free(ix);
    } else {
        fprintf(stderr, "  tc_load_patched: section %.4s too short or missing\n", tag);
    }
    free(copy);
    return st;
}

#endif
