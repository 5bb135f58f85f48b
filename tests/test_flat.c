/* The flat kind as a living collection (issue 15): after removals, and under a filter, every answer
 * equals bit for bit (ids, distances, tie order) that of a fresh flat index holding only the rows
 * that take part, on every path: batches (sgemm for l2 / ip / cosine, packed panels for hamming),
 * single queries (the kernels) and range search; filters of each type (ids, bitmap, predicate) at
 * 50%, 20%, 10%, 1%, 0.1% and none, alone and over removed rows; remove (some, past the compaction
 * point, all, absent and repeated ids, remove then add the same id, implicit ids after removals);
 * get / contains; save and load with removals; add after search; memory under churn; and the
 * nearest path (k = 1 over rows of 1 to 4 floats) against the heap path; an index too large
 * for the cache, whose single queries scan it row by row, against its batches; and batches of
 * the shapes the fused scan cuts into pieces against their single queries. */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h" /* a kind's own memory (ops->memory) */
#include "check.h"

#define N_ROWS 1000
#define N_QUERIES 20 /* a batch: sgemm (dimension 32) or hamming panels */
#define FLOAT_DIM 32
#define CODE_BITS 128

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- a collection and its model ---------------------------------------------------------------- */

/* An index under test and what it should hold: every row ever added, its id, and whether it is
 * still stored. */
typedef struct collection {
    nearkit_metric metric;
    nearkit_vector_type type;
    uint32_t dim;
    size_t vb; /* bytes per vector */
    nearkit_index *ix;
    uint8_t *rows;
    int64_t *ids;
    bool *alive;
    uint64_t n, cap;
    uint8_t *queries; /* N_QUERIES */
} collection;

static uint32_t dim_of(nearkit_metric metric) { return metric == NEARKIT_METRIC_HAMMING ? CODE_BITS : FLOAT_DIM; }

/* n vectors: small integer coordinates (many exact ties) for floats, sparse codes for hamming; every
 * tenth a copy of an earlier one (duplicates), and a fifth copies of the first two (clumps of
 * equal distances larger than sgemm's shortlist, so its exact rescan runs). */
static void make_vectors(uint8_t *out, const collection *c, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *v = out + i * c->vb;
        if (i % 10 == 9 || ((i % 10 == 4 || i % 10 == 5) && i >= 2)) {
            uint64_t from = i % 10 == 9 ? rng_next() % i : i % 2;
            memcpy(v, out + from * c->vb, c->vb);
            continue;
        }
        if (c->type == NEARKIT_VECTOR_BINARY) {
            for (size_t j = 0; j < c->vb; j++) v[j] = (uint8_t)(rng_next() & rng_next());
        } else {
            float *f = (float *)v;
            for (uint32_t j = 0; j < c->dim; j++) f[j] = (float)(int)(rng_next() % 7) - 3.0f;
        }
    }
}

static void model_append(collection *c, const uint8_t *v, const int64_t *ids, uint64_t n) {
    if (c->n + n > c->cap) {
        c->cap = (c->n + n) * 2;
        c->rows = realloc(c->rows, c->cap * c->vb);
        c->ids = realloc(c->ids, c->cap * sizeof *c->ids);
        c->alive = realloc(c->alive, c->cap * sizeof *c->alive);
    }
    memcpy(c->rows + c->n * c->vb, v, n * c->vb);
    memcpy(c->ids + c->n, ids, n * sizeof *ids);
    for (uint64_t i = 0; i < n; i++) c->alive[c->n + i] = true;
    c->n += n;
}

/* Adds n new vectors with the given ids (to the index and the model). */
static void add_rows(collection *c, const int64_t *ids, uint64_t n) {
    uint8_t *v = malloc(n * c->vb + 1);
    make_vectors(v, c, n);
    CHECK_STATUS(nearkit_index_add(c->ix, c->type, v, n, ids), NEARKIT_OK);
    model_append(c, v, ids, n);
    free(v);
}

/* A collection of N_ROWS rows with scrambled distinct ids in [5, 5 + 100003). */
static collection collection_new(nearkit_metric metric) {
    collection c = {.metric = metric, .dim = dim_of(metric)};
    c.type = metric == NEARKIT_METRIC_HAMMING ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32;
    c.vb = c.type == NEARKIT_VECTOR_BINARY ? c.dim / 8 : c.dim * sizeof(float);
    CHECK_STATUS(nearkit_index_create(&c.ix, NEARKIT_KIND_FLAT, metric, c.dim, NULL), NEARKIT_OK);
    int64_t *ids = malloc(N_ROWS * sizeof *ids);
    for (uint64_t i = 0; i < N_ROWS; i++) ids[i] = (int64_t)((i * 7919) % 100003) + 5;
    add_rows(&c, ids, N_ROWS);
    free(ids);
    c.queries = malloc(N_QUERIES * c.vb);
    make_vectors(c.queries, &c, N_QUERIES);
    memcpy(c.queries, c.rows, c.vb); /* queries in the clumps */
    memcpy(c.queries + 7 * c.vb, c.rows + c.vb, c.vb);
    return c;
}

static void collection_free(collection *c) {
    nearkit_index_free(c->ix);
    free(c->rows);
    free(c->ids);
    free(c->alive);
    free(c->queries);
}

/* Removes the rows carrying ids[0, n) from the index and the model; checks the count removed. */
static void remove_ids(collection *c, const int64_t *ids, uint64_t n) {
    uint64_t expected = 0;
    for (uint64_t r = 0; r < c->n; r++) {
        bool hit = false;
        for (uint64_t i = 0; i < n && !hit; i++) hit = c->alive[r] && c->ids[r] == ids[i];
        if (hit) {
            c->alive[r] = false;
            expected++;
        }
    }
    uint64_t removed = 12345;
    CHECK_STATUS(nearkit_index_remove(&removed, c->ix, ids, n), NEARKIT_OK);
    CHECK(removed == expected);
}

/* Removes every `every`-th live row (counting from `from`). */
static void remove_every(collection *c, uint64_t every, uint64_t from) {
    int64_t *ids = malloc(c->n * sizeof *ids);
    uint64_t n = 0;
    for (uint64_t r = from; r < c->n; r += every)
        if (c->alive[r]) ids[n++] = c->ids[r];
    remove_ids(c, ids, n);
    free(ids);
}

static uint64_t live_rows(const collection *c) {
    uint64_t n = 0;
    for (uint64_t r = 0; r < c->n; r++) n += c->alive[r];
    return n;
}

/* A fresh flat index of the live rows that `allowed` admits (NULL: all), in insertion order. */
static nearkit_index *fresh_of(const collection *c, const bool *allowed) {
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, c->metric, c->dim, NULL), NEARKIT_OK);
    uint8_t *v = malloc(c->n * c->vb + 1);
    int64_t *ids = malloc(c->n * sizeof *ids + 1);
    uint64_t n = 0;
    for (uint64_t r = 0; r < c->n; r++)
        if (c->alive[r] && (!allowed || allowed[r])) {
            memcpy(v + n * c->vb, c->rows + r * c->vb, c->vb);
            ids[n++] = c->ids[r];
        }
    CHECK_STATUS(nearkit_index_add(ix, c->type, v, n, ids), NEARKIT_OK);
    free(v);
    free(ids);
    return ix;
}

/* ---- comparing answers ------------------------------------------------------------------------- */

static bool same_rows(const int64_t *ia, const float *da, const int64_t *ib, const float *db, uint64_t n,
                      const char *what) {
    for (uint64_t i = 0; i < n; i++)
        if (ia[i] != ib[i] || memcmp(&da[i], &db[i], sizeof da[i]) != 0) {
            fprintf(stderr, "  %s: differs at %llu: id %lld dist %.9g, expected id %lld dist %.9g\n", what,
                    (unsigned long long)i, (long long)ia[i], (double)da[i], (long long)ib[i], (double)db[i]);
            return false;
        }
    return true;
}

/* The k-NN of the collection's queries from ix under `so` (the whole batch at once, then one query
 * per call) against `truth` searched without options. */
static bool same_knn(const collection *c, const nearkit_index *ix, const nearkit_search_options *so,
                     const nearkit_index *truth, uint64_t k, const char *what) {
    uint64_t nk = N_QUERIES * k;
    int64_t *ia = malloc(nk * sizeof *ia), *ib = malloc(nk * sizeof *ib);
    float *da = malloc(nk * sizeof *da), *db = malloc(nk * sizeof *db);
    bool ok = nearkit_index_search(ib, db, truth, c->type, c->queries, N_QUERIES, k, NULL) == NEARKIT_OK &&
              nearkit_index_search(ia, da, ix, c->type, c->queries, N_QUERIES, k, so) == NEARKIT_OK &&
              same_rows(ia, da, ib, db, nk, what);
    for (uint64_t q = 0; ok && q < N_QUERIES; q++)
        ok = nearkit_index_search(ia, da, ix, c->type, c->queries + q * c->vb, 1, k, so) == NEARKIT_OK &&
             same_rows(ia, da, ib + q * k, db + q * k, k, what);
    if (!ok) fprintf(stderr, "  %s: metric %s k %llu\n", what, nearkit_metric_name(c->metric), (unsigned long long)k);
    free(ia), free(ib), free(da), free(db);
    return ok;
}

/* Range matches under `so` against `truth`'s, bit for bit. */
static bool same_range(const collection *c, const nearkit_index *ix, const nearkit_search_options *so,
                       const nearkit_index *truth, float radius, const char *what) {
    nearkit_range_result *ra = NULL, *rb = NULL;
    bool ok = nearkit_index_range_search(&ra, ix, c->type, c->queries, N_QUERIES, radius, so) == NEARKIT_OK &&
              nearkit_index_range_search(&rb, truth, c->type, c->queries, N_QUERIES, radius, NULL) == NEARKIT_OK;
    if (ok) {
        const uint64_t *oa, *ob;
        const int64_t *ia, *ib;
        const float *da, *db;
        nearkit_range_result_get(&oa, &ia, &da, ra);
        nearkit_range_result_get(&ob, &ib, &db, rb);
        ok = memcmp(oa, ob, (N_QUERIES + 1) * sizeof *oa) == 0 && same_rows(ia, da, ib, db, oa[N_QUERIES], what);
        if (!ok)
            fprintf(stderr, "  %s: range %g: %llu matches, expected %llu\n", what, (double)radius,
                    (unsigned long long)oa[N_QUERIES], (unsigned long long)ob[N_QUERIES]);
    }
    nearkit_range_result_free(ra);
    nearkit_range_result_free(rb);
    return ok;
}

/* A radius catching a few rows of the first query in `truth` (its rank-th neighbour's distance). */
static float radius_of(const collection *c, const nearkit_index *truth, uint64_t rank) {
    int64_t ids[64];
    float d[64];
    if (nearkit_index_search(ids, d, truth, c->type, c->queries, 1, rank, NULL) != NEARKIT_OK) return 0.0f;
    return ids[rank - 1] == -1 ? 1e30f : d[rank - 1];
}

/* k-NN for a few k (below, at and beyond the rows that take part) and range at two radii. */
static bool same_answers(const collection *c, const nearkit_search_options *so, const nearkit_index *truth,
                         const char *what) {
    const uint64_t ks[] = {1, 10, 40};
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof ks / sizeof ks[0]; i++) ok = same_knn(c, c->ix, so, truth, ks[i], what);
    ok = ok && same_range(c, c->ix, so, truth, radius_of(c, truth, 3), what) &&
         same_range(c, c->ix, so, truth, radius_of(c, truth, 30), what);
    return ok;
}

/* The collection's answers equal those of a fresh index of its live rows. */
static void check_against_fresh(const collection *c, const char *what) {
    nearkit_index *truth = fresh_of(c, NULL);
    CHECK(nearkit_index_count(c->ix) == live_rows(c));
    CHECK(same_answers(c, NULL, truth, what));
    nearkit_index_free(truth);
}

static const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_IP, NEARKIT_METRIC_COSINE,
                                         NEARKIT_METRIC_L1, NEARKIT_METRIC_HAMMING};
#define N_METRICS (sizeof metrics / sizeof metrics[0])

/* ---- removal ----------------------------------------------------------------------------------- */

/* Removing some rows (marks), more (past the compaction point), absent and repeated ids, and
 * removing then adding an id again: each time the answers are a fresh index's. */
static void test_remove(nearkit_metric metric) {
    collection c = collection_new(metric);
    remove_every(&c, 10, 3); /* 10%: marked, not yet compacted */
    check_against_fresh(&c, "after removing 10%");
    int64_t odd[] = {c.ids[3], c.ids[3], 4, 100500, c.ids[7], c.ids[7], c.ids[8]}; /* repeats, absent */
    remove_ids(&c, odd, sizeof odd / sizeof odd[0]);
    check_against_fresh(&c, "after absent and repeated ids");
    remove_every(&c, 5, 1); /* past a quarter: compacted */
    check_against_fresh(&c, "after removing 30%");
    int64_t again[] = {c.ids[7], c.ids[11]};
    add_rows(&c, again, 2); /* same ids, new vectors */
    CHECK(nearkit_index_contains(c.ix, c.ids[7]) == 1);
    check_against_fresh(&c, "after adding removed ids again");
    collection_free(&c);
}

/* Removing every row leaves an empty index that searches, and takes new rows. */
static void test_remove_all(void) {
    collection c = collection_new(NEARKIT_METRIC_L2);
    remove_ids(&c, c.ids, c.n);
    CHECK(nearkit_index_count(c.ix) == 0);
    int64_t ids[N_QUERIES * 3];
    float d[N_QUERIES * 3];
    CHECK_STATUS(nearkit_index_search(ids, d, c.ix, c.type, c.queries, N_QUERIES, 3, NULL), NEARKIT_OK);
    bool padded = true;
    for (int i = 0; i < N_QUERIES * 3; i++) padded = padded && ids[i] == -1;
    CHECK(padded);
    nearkit_range_result *r = NULL;
    CHECK_STATUS(nearkit_index_range_search(&r, c.ix, c.type, c.queries, N_QUERIES, 1e30f, NULL), NEARKIT_OK);
    const uint64_t *off = NULL;
    if (r) nearkit_range_result_get(&off, NULL, NULL, r);
    CHECK(off && off[N_QUERIES] == 0);
    nearkit_range_result_free(r);
    CHECK_STATUS(nearkit_index_compact(c.ix), NEARKIT_OK);
    int64_t fresh[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    add_rows(&c, fresh, 12);
    check_against_fresh(&c, "after removing all and adding again");
    collection_free(&c);
}

/* Vectors added without ids after removals keep counting from the number ever added. */
static void test_implicit_ids(void) {
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, NULL), NEARKIT_OK);
    float v[8 * 4];
    for (int i = 0; i < 32; i++) v[i] = (float)(i / 4);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, 8, NULL), NEARKIT_OK);
    int64_t gone[] = {2, 5, 6};
    CHECK_STATUS(nearkit_index_remove(NULL, ix, gone, 3), NEARKIT_OK); /* 3 of 8: compacted */
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v + 8, 2, NULL), NEARKIT_OK); /* ids 8, 9 */
    int64_t ids[10];
    float d[10];
    CHECK_STATUS(nearkit_index_search(ids, d, ix, NEARKIT_VECTOR_FLOAT32, v + 8, 1, 10, NULL), NEARKIT_OK);
    /* the query is row 2's vector, now held by ids 8 (and nothing else: 2 is gone) */
    CHECK(ids[0] == 8 && d[0] == 0.0f);
    CHECK(nearkit_index_count(ix) == 7 && ids[7] == -1);
    CHECK(nearkit_index_contains(ix, 2) == 0 && nearkit_index_contains(ix, 9) == 1);
    nearkit_index_free(ix);
}

/* get and contains: live rows come back as stored, removed and absent ones do not. */
static void test_get(void) {
    collection c = collection_new(NEARKIT_METRIC_L2);
    remove_every(&c, 10, 0);
    int64_t want[] = {c.ids[0], c.ids[1], 42, c.ids[1], c.ids[999], -1};
    uint8_t found[6];
    float *out = malloc(6 * c.vb);
    CHECK_STATUS(nearkit_index_get(out, found, c.ix, want, 6), NEARKIT_OK);
    CHECK(found[0] == 0 && found[1] == 1 && found[2] == 0 && found[3] == 1 && found[4] == 1 && found[5] == 0);
    CHECK(memcmp(out + 1 * c.dim, c.rows + 1 * c.vb, c.vb) == 0);
    CHECK(memcmp(out + 3 * c.dim, c.rows + 1 * c.vb, c.vb) == 0);
    CHECK(memcmp(out + 4 * c.dim, c.rows + 999 * c.vb, c.vb) == 0);
    CHECK(out[0] == 0.0f && out[2 * c.dim] == 0.0f);
    CHECK(nearkit_index_contains(c.ix, c.ids[0]) == 0 && nearkit_index_contains(c.ix, c.ids[1]) == 1);
    CHECK(nearkit_index_contains(c.ix, 42) == 0);
    free(out);
    collection_free(&c);
}

/* ---- filters ----------------------------------------------------------------------------------- */

#define BITMAP_FIRST 3
#define BITMAP_BITS 100020

typedef struct predicate_ctx {
    const uint8_t *bitmap; /* as the bitmap filter's */
    uint64_t calls;        /* atomically counted */
} predicate_ctx;

static int32_t allow_by_bitmap(void *context, int64_t id) {
    predicate_ctx *p = context;
    __atomic_fetch_add(&p->calls, 1, __ATOMIC_RELAXED);
    uint64_t bit = (uint64_t)(id - BITMAP_FIRST);
    return bit < BITMAP_BITS && (p->bitmap[bit / 8] >> (bit % 8) & 1);
}

/* Checks the three filter types allowing the rows `allowed` marks, against a fresh index of the
 * live allowed rows. */
static void check_filters(const collection *c, const bool *allowed, const char *what) {
    uint8_t *bitmap = calloc(BITMAP_BITS / 8 + 1, 1);
    int64_t *ids = malloc((c->n + 2) * sizeof *ids);
    uint64_t n_ids = 0;
    for (uint64_t r = 0; r < c->n; r++)
        if (allowed[r]) {
            uint64_t bit = (uint64_t)(c->ids[r] - BITMAP_FIRST);
            bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
            ids[n_ids++] = c->ids[r];
        }
    ids[n_ids++] = 100200; /* an id not stored */
    if (n_ids > 1) ids[n_ids++] = ids[0]; /* a repeat */
    predicate_ctx pc = {.bitmap = bitmap};
    nearkit_filter f[3] = {NEARKIT_FILTER_INIT, NEARKIT_FILTER_INIT, NEARKIT_FILTER_INIT};
    f[0].type = NEARKIT_FILTER_IDS, f[0].ids = ids, f[0].n_ids = n_ids;
    f[1].type = NEARKIT_FILTER_BITMAP, f[1].bitmap = bitmap, f[1].bitmap_first = BITMAP_FIRST;
    f[1].bitmap_bits = BITMAP_BITS;
    f[2].type = NEARKIT_FILTER_PREDICATE, f[2].predicate = allow_by_bitmap, f[2].context = &pc;
    nearkit_index *truth = fresh_of(c, allowed);
    const char *names[3] = {"ids", "bitmap", "predicate"};
    for (int i = 0; i < 3; i++) {
        nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
        so.filter = &f[i];
        bool ok = same_answers(c, &so, truth, what);
        if (!ok) fprintf(stderr, "  filter %s, %s\n", names[i], what);
        CHECK(ok);
    }
    /* the predicate ran at most once per stored row and call */
    pc.calls = 0;
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.filter = &f[2];
    int64_t out_ids[N_QUERIES * 5];
    float out_d[N_QUERIES * 5];
    CHECK_STATUS(nearkit_index_search(out_ids, out_d, c->ix, c->type, c->queries, N_QUERIES, 5, &so), NEARKIT_OK);
    CHECK(pc.calls <= live_rows(c));
    nearkit_index_free(truth);
    free(bitmap);
    free(ids);
}

/* Filters at each selectivity, and one that allows nothing, on the collection as it is. */
static void check_selectivities(const collection *c, const char *state) {
    const double selectivity[] = {0.5, 0.2, 0.1, 0.01, 0.001, 0.0};
    bool *allowed = malloc(c->n * sizeof *allowed);
    for (size_t s = 0; s < sizeof selectivity / sizeof selectivity[0]; s++) {
        uint64_t threshold = (uint64_t)(selectivity[s] * 1e6);
        uint64_t n = 0;
        for (uint64_t r = 0; r < c->n; r++) {
            allowed[r] = rng_next() % 1000000 < threshold;
            n += allowed[r];
        }
        if (selectivity[s] > 0 && n == 0) allowed[rng_next() % c->n] = true; /* 0.1% of 1000: one row */
        char what[96];
        snprintf(what, sizeof what, "%s, filter at %g%%", state, selectivity[s] * 100);
        check_filters(c, allowed, what);
    }
    free(allowed);
}

static void test_filters(nearkit_metric metric) {
    collection c = collection_new(metric);
    check_selectivities(&c, "no removals");
    remove_every(&c, 7, 2); /* marked rows under the filter too */
    check_selectivities(&c, "14% removed");
    collection_free(&c);
}

/* ---- persistence, add after search, memory ----------------------------------------------------- */

/* An index saved with removed rows still marked loads with the same count and answers. */
static void test_save_load(nearkit_metric metric) {
    collection c = collection_new(metric);
    remove_every(&c, 9, 4);
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, c.ix), NEARKIT_OK);
    nearkit_index *loaded = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&loaded, buf, size), NEARKIT_OK);
    nearkit_buffer_free(buf);
    if (!loaded) {
        collection_free(&c);
        return;
    }
    CHECK(nearkit_index_count(loaded) == live_rows(&c));
    nearkit_index *original = c.ix;
    c.ix = loaded;
    check_against_fresh(&c, "loaded with removals");
    bool *half = malloc(c.n * sizeof *half);
    for (uint64_t r = 0; r < c.n; r++) half[r] = r % 2 == 0;
    check_filters(&c, half, "loaded with removals");
    free(half);
    remove_every(&c, 4, 0); /* the loaded index goes on: compacts */
    check_against_fresh(&c, "loaded, then removed past compaction");
    CHECK_STATUS(nearkit_index_compact(c.ix), NEARKIT_OK);
    check_against_fresh(&c, "loaded, compacted");
    nearkit_index_free(original);
    collection_free(&c);
}

/* Search needs no build; vectors added after a search are found by the next. */
static void test_add_after_search(void) {
    collection c = collection_new(NEARKIT_METRIC_L2);
    check_against_fresh(&c, "searched without build");
    int64_t more[50];
    for (int i = 0; i < 50; i++) more[i] = 200000 + i;
    add_rows(&c, more, 50);
    check_against_fresh(&c, "after adding");
    collection_free(&c);
}

/* Removing and adding a tenth per round for ten rounds: the store reuses the removed rows' room,
 * so memory stays near a fresh index's. */
static void test_churn_memory(void) {
    collection c = collection_new(NEARKIT_METRIC_L2);
    int64_t next = 300000;
    for (int round = 0; round < 10; round++) {
        int64_t gone[100];
        bool *picked = calloc(c.n, sizeof *picked);
        for (int i = 0; i < 100; i++) { /* 100 distinct live rows: the live count stays 1000 */
            uint64_t r;
            do r = rng_next() % c.n;
            while (!c.alive[r] || picked[r]);
            picked[r] = true;
            gone[i] = c.ids[r];
        }
        free(picked);
        remove_ids(&c, gone, 100);
        int64_t ids[100];
        for (int i = 0; i < 100; i++) ids[i] = next++;
        add_rows(&c, ids, 100);
    }
    nearkit_index *fresh = fresh_of(&c, NULL);
    /* the kind's own memory: the generic layer's per-id counts are not flat's to bound */
    uint64_t churned = c.ix->ops->memory(c.ix), clean = fresh->ops->memory(fresh);
    if (churned > clean + clean / 5)
        fprintf(stderr, "  churned flat store holds %llu bytes, a fresh one %llu\n", (unsigned long long)churned,
                (unsigned long long)clean);
    CHECK(churned <= clean + clean / 5);
    nearkit_index_free(fresh);
    check_against_fresh(&c, "after churn");
    collection_free(&c);
}

/* ---- the nearest path: k = 1 over rows of 1 to 4 floats ---------------------------------------- */

static int32_t admit_all(void *context, int64_t id) {
    (void)context, (void)id;
    return 1;
}

/* One data set of the nearest path, against the heap path on the same index (a filter admitting
 * every row takes it there), batch and single queries: rows of small integers (exact ties, every
 * fifth row a copy of an earlier one) or of +-1e15 and 0 (near the accepted limit: large squares,
 * coarse roundings, ties everywhere);
 * ids implicit, rising, or falling (the heap path alone); then the same after removals. */
static void check_nearest_case(nearkit_metric metric, uint32_t d, int ids_kind, bool huge) {
    enum { ROWS = 301, QUERIES = 700 };
    float *rows = malloc(ROWS * d * sizeof *rows), *queries = malloc(QUERIES * d * sizeof *queries);
    int64_t ids[ROWS];
    for (uint64_t r = 0; r < ROWS; r++) {
        for (uint32_t j = 0; j < d; j++)
            rows[r * d + j] = huge ? (float)((int)(rng_next() % 3) - 1) * 1e15f : (float)(int)(rng_next() % 9);
        if (r % 5 == 4) memcpy(rows + r * d, rows + (r / 2) * d, d * sizeof *rows);
        ids[r] = ids_kind == 1 ? 10 * (int64_t)r + 3 : 5000 - (int64_t)r;
    }
    for (uint64_t i = 0; i < (uint64_t)QUERIES * d; i++)
        queries[i] = huge ? (float)((int)(rng_next() % 3) - 1) * 1e15f : (float)(int)(rng_next() % 19) * 0.5f - 1.0f;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, metric, d, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, rows, ROWS, ids_kind ? ids : NULL), NEARKIT_OK);
    nearkit_filter all = NEARKIT_FILTER_INIT;
    all.type = NEARKIT_FILTER_PREDICATE, all.predicate = admit_all;
    nearkit_search_options heap_path = NEARKIT_SEARCH_OPTIONS_INIT;
    heap_path.filter = &all;
    int64_t ia[QUERIES], ib[QUERIES];
    float da[QUERIES], db[QUERIES];
    for (int removed = 0; removed < 2; removed++) {
        char what[96];
        snprintf(what, sizeof what, "nearest %s d=%u ids=%d huge=%d removed=%d", nearkit_metric_name(metric), d,
                 ids_kind, (int)huge, removed);
        CHECK_STATUS(nearkit_index_search(ia, da, ix, NEARKIT_VECTOR_FLOAT32, queries, QUERIES, 1, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_search(ib, db, ix, NEARKIT_VECTOR_FLOAT32, queries, QUERIES, 1, &heap_path),
                     NEARKIT_OK);
        CHECK(same_rows(ia, da, ib, db, QUERIES, what));
        for (uint64_t q = 0; q < QUERIES; q += 97) {
            CHECK_STATUS(nearkit_index_search(ia, da, ix, NEARKIT_VECTOR_FLOAT32, queries + q * d, 1, 1, NULL),
                         NEARKIT_OK);
            CHECK(same_rows(ia, da, ib + q, db + q, 1, what));
        }
        int64_t gone[40];
        for (int i = 0; i < 40; i++) gone[i] = ids_kind ? ids[7 * i] : 7 * i;
        CHECK_STATUS(nearkit_index_remove(NULL, ix, gone, 40), NEARKIT_OK);
    }
    nearkit_index_free(ix);
    free(rows);
    free(queries);
}

/* The tie rule on the nearest path, spelled out: two copies of the nearest row, the smaller id wins
 * whichever row holds it... where ids rise with rows, and where they do not. */
static void check_nearest_ties(void) {
    const float rows[] = {5.0f, 5.0f, 1.0f, 1.0f, 1.0f, 1.0f, 9.0f, 9.0f};
    const float query[] = {1.0f, 1.5f};
    const int64_t rising[] = {2, 4, 6, 8}, falling[] = {8, 6, 4, 2};
    const int64_t *id_sets[] = {NULL, rising, falling};
    const int64_t want[] = {1, 4, 4};
    for (int s = 0; s < 3; s++) {
        nearkit_index *ix = NULL;
        CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 2, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, rows, 4, id_sets[s]), NEARKIT_OK);
        int64_t id = -7;
        float dist = -1.0f;
        CHECK_STATUS(nearkit_index_search(&id, &dist, ix, NEARKIT_VECTOR_FLOAT32, query, 1, 1, NULL), NEARKIT_OK);
        CHECK(id == want[s] && dist == 0.5f);
        nearkit_index_free(ix);
    }
}

static void test_nearest_path(void) {
    const nearkit_metric nearest_metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_L1};
    for (int m = 0; m < 2; m++)
        for (uint32_t d = 1; d <= 5; d++) /* 5: past the path, the same answers */
            for (int ids_kind = 0; ids_kind < 3; ids_kind++)
                for (int huge = 0; huge < 2; huge++) check_nearest_case(nearest_metrics[m], d, ids_kind, huge);
    check_nearest_ties();
}

/* How many of nq queries a flat index of the n rows x answers differently (ids, distances or
 * order) in one batch than one by one (the kernels' path). */
static int batch_differs(nearkit_metric metric, const float *x, size_t n, uint32_t d, const float *q, size_t nq,
                         uint64_t k, uint32_t threads) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = threads;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, metric, d, &o), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, x, n, NULL), NEARKIT_OK);
    int64_t *batch_ids = malloc(sizeof(int64_t) * nq * k), *ids = malloc(sizeof(int64_t) * k);
    float *batch_dist = malloc(sizeof(float) * nq * k), *dist = malloc(sizeof(float) * k);
    CHECK_STATUS(nearkit_index_search(batch_ids, batch_dist, ix, NEARKIT_VECTOR_FLOAT32, q, nq, k, NULL), NEARKIT_OK);
    int differ = 0;
    for (size_t i = 0; i < nq; i++) {
        CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, q + i * d, 1, k, NULL), NEARKIT_OK);
        differ += memcmp(ids, batch_ids + i * k, sizeof(int64_t) * k) != 0 ||
                  memcmp(dist, batch_dist + i * k, sizeof(float) * k) != 0;
    }
    if (differ)
        fprintf(stderr, "flat, metric %d, d=%u, %zu rows: %d of %zu single queries differ from the batch\n",
                (int)metric, d, n, differ, nq);
    nearkit_index_free(ix);
    free(batch_ids);
    free(ids);
    free(batch_dist);
    free(dist);
    return differ;
}

/* n x d small integer coordinates: many exact ties. */
static float *tied_floats(size_t n, uint32_t d) {
    float *v = malloc(sizeof(float) * n * d);
    for (size_t i = 0; i < n * d; i++) v[i] = (float)(rng_next() % 9) - 4.0f;
    return v;
}

/* Rows too many for the cache (over NEARKIT_STREAMED_MIN_BYTES): single queries scan them with the
 * per-row kernels, a batch's first query too and its others with the block kernels (l1, linf) or
 * sgemm (l2, ip, cosine); all give the same answers bit for bit. */
static void test_rows_from_memory(void) {
    enum { N = 20000, D = 64, Q = 12, K = 7 };
    static const nearkit_metric ms[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_L1, NEARKIT_METRIC_LINF,
                                        NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    float *x = tied_floats(N, D), *q = tied_floats(Q, D);
    for (size_t m = 0; m < sizeof ms / sizeof ms[0]; m++) CHECK(batch_differs(ms[m], x, N, D, q, Q, K, 1) == 0);
    free(x);
    free(q);
}

/* Batches of the shapes the fused scan (AVX-512) cuts into pieces: queries past whole panels and
 * two groups of panels (225 queries a task at d 784), rows past whole micro-blocks and blocks,
 * dimensions below and above the kernel's 16 lanes, two threads, and tasks too small for it (9
 * queries: sgemm); each batch against its queries one by one (the kernels), bit for bit. On other
 * CPUs every batch takes sgemm. */
static void test_batch_shapes(void) {
    static const nearkit_metric ms[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    static const struct { uint32_t d; size_t n, q; } shapes[] = {{24, 1021, 9}, {24, 1021, 40}, {131, 2047, 150}, {784, 1500, 450}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        uint32_t d = shapes[sh].d;
        float *x = tied_floats(shapes[sh].n, d), *q = tied_floats(shapes[sh].q, d);
        memcpy(x + 5 * d, x + 2 * d, sizeof(float) * d); /* a duplicate row */
        for (size_t m = 0; m < sizeof ms / sizeof ms[0]; m++)
            CHECK(batch_differs(ms[m], x, shapes[sh].n, d, q, shapes[sh].q, 10, 2) == 0);
        free(x);
        free(q);
    }
}

int main(void) {
    test_rows_from_memory();
    test_batch_shapes();
    for (size_t m = 0; m < N_METRICS; m++) {
        test_remove(metrics[m]);
        test_filters(metrics[m]);
        test_save_load(metrics[m]);
    }
    test_remove_all();
    test_implicit_ids();
    test_get();
    test_add_after_search();
    test_churn_memory();
    test_nearest_path();
    return check_summary("test_flat");
}
