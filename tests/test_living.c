/* Living collections (issue 15) through the public ABI only, on every kind with a float and a
 * binary metric where it has them: remove (some, duplicates, absent ids, everything, then add
 * the same id again), get / contains, implicit ids never reused (also across a save and load),
 * compaction, save and load with removals, filters of every type (and an older caller's options
 * struct), bad arguments, per-call parameters from two threads at once, and writer threads adding
 * and removing whole batches while reader threads search (c.test_living_tsan runs it under
 * ThreadSanitizer).
 *
 * The truth is a flat index built here from the vectors a model of the collection says are
 * live and allowed. Exact kinds must match it (and a fresh index of their own kind) bit for bit;
 * the IVF kinds are created probing every list, which makes them exact too, and are compared on
 * ids with distances within a rounding tolerance.
 *
 * A kind whose remove still answers UNSUPPORTED prints "skip" and leaves out every check but the
 * argument checks, which the generic layer makes for every kind. */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier_t */
#include "nearkit.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

enum { N = 240, NQ = 12, K = 10, NLIST = 8 };

/* ---- the kind under test ----------------------------------------------------------------------- */

typedef struct setup {
    nearkit_kind kind;
    const char *name;
    nearkit_metric metric;
    bool exact;  /* NEARKIT_KIND_FLAG_EXACT */
    bool ivf;    /* has nlist / nprobe: created probing every list */
    uint32_t dim; /* floats, or bits */
    size_t vb;    /* bytes per vector */
    nearkit_vector_type type;
} setup;

/* The compressed IVF kinds (ivf_fp16 .. ivf_pq, ivf_rabitq). */
static bool ivf_codes_kind(nearkit_kind kind) {
    return (kind >= NEARKIT_KIND_IVF_FP16 && kind <= NEARKIT_KIND_IVF_PQ) || kind == NEARKIT_KIND_IVF_RABITQ;
}

static nearkit_index *create_index(const setup *s, nearkit_kind kind) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = 2;
    o.params = kind != s->kind ? NULL
               : ivf_codes_kind(s->kind)
                   ? "nlist=8,nprobe=8,refine=1000" /* compressed: every candidate re-ranked, exact */
               : s->ivf ? "nlist=8,nprobe=8"
               : kind == NEARKIT_KIND_HNSW ? "ef_search=1000000" /* >= count: exact */
               : kind == NEARKIT_KIND_RPFOREST ? "search_k=1000000000" /* every leaf: exact */
               : kind >= NEARKIT_KIND_HNSW_SQ8 && kind <= NEARKIT_KIND_HNSW_SQ4
                   ? "ef_search=1000000,refine=1000" /* codes: a scan of the kept originals, exact */
               : kind >= NEARKIT_KIND_FLAT_FP16 && kind <= NEARKIT_KIND_FLAT_PQ
                   ? "refine=1000" /* brute force over codes, every candidate re-ranked: exact */
                                           : NULL;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind, s->metric, s->dim, &o), NEARKIT_OK);
    return ix;
}

static void build(nearkit_index *ix) { CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK); }

/* Whether the kind removes yet: removing an id nobody carries answers OK, or UNSUPPORTED. */
static bool removes(nearkit_index *ix) {
    int64_t absent = 987654321;
    uint64_t removed = 7;
    nearkit_status st = nearkit_index_remove(&removed, ix, &absent, 1);
    if (st == NEARKIT_ERR_UNSUPPORTED) return false;
    CHECK(st == NEARKIT_OK && removed == 0);
    return true;
}

/* ---- data -------------------------------------------------------------------------------------- */

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* The vector `seed` names: floats in [0, 1) or random bytes. */
static void make_vector(const setup *s, uint64_t seed, uint8_t *out) {
    if (s->type == NEARKIT_VECTOR_BINARY) {
        for (size_t j = 0; j < s->vb; j++) out[j] = (uint8_t)mix(seed * 1000003u + j);
        return;
    }
    float *f = (float *)out;
    for (uint32_t j = 0; j < s->dim; j++) f[j] = (float)(mix(seed * 1000003u + j) >> 40) / (float)(1 << 24);
}

static uint8_t *make_vectors(const setup *s, uint64_t first_seed, size_t n) {
    uint8_t *v = malloc(n * s->vb + 1);
    for (size_t i = 0; i < n; i++) make_vector(s, first_seed + i, v + i * s->vb);
    return v;
}

/* The true distance (double; the library rounds to float). */
static double true_distance(const setup *s, const uint8_t *x, const uint8_t *q) {
    if (s->type == NEARKIT_VECTOR_BINARY) {
        int bits = 0;
        for (size_t j = 0; j < s->vb; j++) bits += __builtin_popcount((unsigned)(x[j] ^ q[j]));
        return bits;
    }
    const float *a = (const float *)x, *b = (const float *)q;
    double sum = 0;
    for (uint32_t j = 0; j < s->dim; j++) sum += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return sqrt(sum);
}

/* A radius that lets roughly a tenth of the uniform data through. */
static float some_radius(const setup *s) { return s->type == NEARKIT_VECTOR_BINARY ? 27.0f : 0.75f; }

/* ---- a model of the collection: what a serial replay says is stored --------------------------- */

typedef struct model {
    const setup *s;
    int64_t *ids;
    uint8_t *vecs;
    size_t n, cap;
} model;

static void model_add(model *m, const int64_t *ids, const uint8_t *vecs, size_t n) {
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->ids = realloc(m->ids, m->cap * sizeof *m->ids);
        m->vecs = realloc(m->vecs, m->cap * m->s->vb);
    }
    memcpy(m->ids + m->n, ids, n * sizeof *ids);
    memcpy(m->vecs + m->n * m->s->vb, vecs, n * m->s->vb);
    m->n += n;
}

/* Removes every vector carrying one of the ids; returns how many. */
static uint64_t model_remove(model *m, const int64_t *ids, size_t n) {
    size_t kept = 0;
    for (size_t i = 0; i < m->n; i++) {
        bool gone = false;
        for (size_t j = 0; j < n && !gone; j++) gone = m->ids[i] == ids[j];
        if (gone) continue;
        m->ids[kept] = m->ids[i];
        memmove(m->vecs + kept * m->s->vb, m->vecs + i * m->s->vb, m->s->vb);
        kept++;
    }
    uint64_t removed = m->n - kept;
    m->n = kept;
    return removed;
}

static bool model_has(const model *m, int64_t id) {
    for (size_t i = 0; i < m->n; i++)
        if (m->ids[i] == id) return true;
    return false;
}

static void model_free(model *m) {
    free(m->ids);
    free(m->vecs);
}

/* What a filter allows, as the header defines it. */
static bool filter_allows(const nearkit_filter *f, int64_t id) {
    if (!f) return true;
    switch (f->type) {
    case NEARKIT_FILTER_IDS:
        for (uint64_t i = 0; i < f->n_ids; i++)
            if (f->ids[i] == id) return true;
        return false;
    case NEARKIT_FILTER_BITMAP: {
        if (id < f->bitmap_first) return false;
        uint64_t bit = (uint64_t)id - (uint64_t)f->bitmap_first;
        return bit < f->bitmap_bits && (f->bitmap[bit / 8] >> (bit % 8) & 1u);
    }
    case NEARKIT_FILTER_PREDICATE:
        return f->predicate(f->context, id) != 0;
    default:
        return true;
    }
}

/* A flat index of the model's vectors the filter allows. */
static nearkit_index *truth_of(const model *m, const nearkit_filter *f) {
    nearkit_index *t = NULL;
    CHECK_STATUS(nearkit_index_create(&t, NEARKIT_KIND_FLAT, m->s->metric, m->s->dim, NULL), NEARKIT_OK);
    for (size_t i = 0; i < m->n; i++)
        if (filter_allows(f, m->ids[i]))
            CHECK_STATUS(nearkit_index_add(t, m->s->type, m->vecs + i * m->s->vb, 1, &m->ids[i]), NEARKIT_OK);
    return t;
}

/* ---- comparing results ------------------------------------------------------------------------- */

static bool close_enough(float a, float b) {
    if (isinf(a) || isinf(b)) return a == b;
    return fabsf(a - b) <= 1e-5f * (1.0f + fabsf(b));
}

/* Whether two rows agree: bit for bit, or (approximate kinds) on ids with distances close. */
static bool rows_agree(const setup *s, bool bitwise, const int64_t *ids, const float *d,
                       const int64_t *want_ids, const float *want_d, size_t n) {
    if (memcmp(ids, want_ids, n * sizeof *ids) != 0) return false;
    if (bitwise) return memcmp(d, want_d, n * sizeof *d) == 0;
    for (size_t j = 0; j < n; j++)
        if (!close_enough(d[j], want_d[j])) return false;
    return true;
}

/* k-NN of ix (with options) equals k-NN of want (without). */
static bool same_knn(const setup *s, const char *what, const nearkit_index *ix,
                     const nearkit_search_options *o, const nearkit_index *want, const uint8_t *queries,
                     bool bitwise) {
    int64_t ids[NQ * K], want_ids[NQ * K];
    float d[NQ * K], want_d[NQ * K];
    nearkit_status st = nearkit_index_search(ids, d, ix, s->type, queries, NQ, K, o);
    nearkit_status wst = nearkit_index_search(want_ids, want_d, want, s->type, queries, NQ, K, NULL);
    if (st || wst) {
        fprintf(stderr, "  %s %s: %s: search failed: %s\n", s->name, nearkit_metric_name(s->metric), what,
                nearkit_last_error_message());
        return false;
    }
    for (size_t q = 0; q < NQ; q++) {
        if (rows_agree(s, bitwise, ids + q * K, d + q * K, want_ids + q * K, want_d + q * K, K)) continue;
        fprintf(stderr, "  %s %s: %s: query %zu differs:\n    got ", s->name, nearkit_metric_name(s->metric),
                what, q);
        for (size_t j = 0; j < K; j++) fprintf(stderr, " %lld:%.9g", (long long)ids[q * K + j], d[q * K + j]);
        fprintf(stderr, "\n    want");
        for (size_t j = 0; j < K; j++)
            fprintf(stderr, " %lld:%.9g", (long long)want_ids[q * K + j], want_d[q * K + j]);
        fprintf(stderr, "\n");
        return false;
    }
    return true;
}

/* Range search of ix (with options) equals that of want. */
static bool same_range(const setup *s, const char *what, const nearkit_index *ix,
                       const nearkit_search_options *o, const nearkit_index *want, const uint8_t *queries,
                       bool bitwise) {
    nearkit_range_result *a = NULL, *b = NULL;
    float radius = some_radius(s);
    bool same = nearkit_index_range_search(&a, ix, s->type, queries, NQ, radius, o) == NEARKIT_OK &&
                nearkit_index_range_search(&b, want, s->type, queries, NQ, radius, NULL) == NEARKIT_OK;
    const uint64_t *ao = NULL, *bo = NULL;
    const int64_t *ai = NULL, *bi = NULL;
    const float *ad = NULL, *bd = NULL;
    if (same) {
        nearkit_range_result_get(&ao, &ai, &ad, a);
        nearkit_range_result_get(&bo, &bi, &bd, b);
        same = memcmp(ao, bo, (NQ + 1) * sizeof *ao) == 0 &&
               rows_agree(s, bitwise, ai, ad, bi, bd, (size_t)ao[NQ]);
    }
    if (!same)
        fprintf(stderr, "  %s %s: %s: range results differ (%llu vs %llu matches)\n", s->name,
                nearkit_metric_name(s->metric), what, ao ? (unsigned long long)ao[NQ] : 0ull,
                bo ? (unsigned long long)bo[NQ] : 0ull);
    nearkit_range_result_free(a);
    nearkit_range_result_free(b);
    return same;
}

/* The index answers as the model says, k-NN and range, with the filter `f`. */
static void check_against_model(const setup *s, const char *what, const nearkit_index *ix, const model *m,
                                const nearkit_filter *f, const uint8_t *queries) {
    nearkit_search_options o = NEARKIT_SEARCH_OPTIONS_INIT;
    o.filter = f;
    nearkit_index *t = truth_of(m, f);
    CHECK(same_knn(s, what, ix, &o, t, queries, s->exact));
    CHECK(same_range(s, what, ix, &o, t, queries, s->exact));
    nearkit_index_free(t);
}

/* get and contains agree with the model for these ids. */
static void check_read_back(const setup *s, const nearkit_index *ix, const model *m, const int64_t *ids,
                            size_t n) {
    uint8_t *rows = malloc(n * s->vb + 1), *found = malloc(n + 1);
    uint8_t *zero = calloc(1, s->vb);
    CHECK_STATUS(nearkit_index_get(rows, found, ix, ids, n), NEARKIT_OK);
    for (size_t i = 0; i < n; i++) {
        bool stored = model_has(m, ids[i]);
        CHECK(found[i] == (stored ? 1 : 0));
        CHECK(nearkit_index_contains(ix, ids[i]) == (stored ? 1 : 0));
        if (!stored) {
            CHECK(memcmp(rows + i * s->vb, zero, s->vb) == 0);
            continue;
        }
        bool matches_one = false; /* several vectors may carry one id: any of them */
        for (size_t r = 0; r < m->n && !matches_one; r++)
            matches_one = m->ids[r] == ids[i] && memcmp(m->vecs + r * s->vb, rows + i * s->vb, s->vb) == 0;
        CHECK(matches_one);
    }
    free(rows);
    free(found);
    free(zero);
}

static nearkit_index *round_trip(const nearkit_index *ix) {
    void *data = NULL;
    size_t size = 0;
    nearkit_index *loaded = NULL;
    CHECK_STATUS(nearkit_index_save_to_buffer(&data, &size, ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_load_from_buffer(&loaded, data, size), NEARKIT_OK);
    nearkit_buffer_free(data);
    return loaded;
}

/* Every row padding: nothing to find. */
static bool all_padding(const int64_t *ids, const float *d, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] != -1 || !isinf(d[i])) return false;
    return true;
}

/* ---- remove, get, contains, compact, save and load ---------------------------------------------- */

/* Explicit ids 1000 + 3 i, where every 40th vector shares the id of the one before. */
static int64_t base_id(size_t i) { return (int64_t)(1000 + 3 * (i % 40 == 39 ? i - 1 : i)); }

static void fill(const setup *s, nearkit_index *ix, model *m, size_t n) {
    int64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = base_id(i);
    uint8_t *v = make_vectors(s, 1, n);
    CHECK_STATUS(nearkit_index_add(ix, s->type, v, n, ids), NEARKIT_OK);
    model_add(m, ids, v, n);
    build(ix);
    free(ids);
    free(v);
}

static void test_remove(const setup *s, const uint8_t *queries) {
    nearkit_index *ix = create_index(s, s->kind);
    model m = {.s = s};
    fill(s, ix, &m, N);
    check_against_model(s, "before removing", ix, &m, NULL, queries);

    /* every third vector's id (one of them shared by two vectors), repeats, ids never stored */
    int64_t gone[N / 3 + 6];
    size_t ng = 0;
    for (size_t i = 0; i < N; i += 3) gone[ng++] = base_id(i);
    gone[ng++] = base_id(39); /* the id vectors 38 and 39 share */
    gone[ng++] = base_id(0);  /* a repeat */
    gone[ng++] = 5;           /* never stored */
    gone[ng++] = -1;
    gone[ng++] = INT64_MAX;
    uint64_t removed = 0;
    CHECK_STATUS(nearkit_index_remove(&removed, ix, gone, ng), NEARKIT_OK);
    CHECK(removed == model_remove(&m, gone, ng));
    CHECK(nearkit_index_count(ix) == m.n);
    CHECK(!nearkit_index_contains(ix, base_id(38)));
    int64_t asked[] = {base_id(0), base_id(1), base_id(38), base_id(39), base_id(40), 5, base_id(1), -1};
    check_read_back(s, ix, &m, asked, sizeof asked / sizeof asked[0]);
    check_against_model(s, "after removing", ix, &m, NULL, queries);
    CHECK_STATUS(nearkit_index_remove(&removed, ix, gone, ng), NEARKIT_OK); /* again: nothing left */
    CHECK(removed == 0);

    /* a fresh index of the same kind over what is left answers the same */
    nearkit_index *fresh = create_index(s, s->kind);
    CHECK_STATUS(nearkit_index_add(fresh, s->type, m.vecs, m.n, m.ids), NEARKIT_OK);
    build(fresh);
    nearkit_search_options none = NEARKIT_SEARCH_OPTIONS_INIT;
    CHECK(same_knn(s, "against a fresh index of the rest", ix, &none, fresh, queries, s->exact));
    CHECK(same_range(s, "against a fresh index of the rest", ix, &none, fresh, queries, s->exact));
    nearkit_index_free(fresh);

    /* remove, then add the same id with another vector */
    int64_t again = base_id(3);
    uint8_t *other = make_vectors(s, 777777, 1);
    CHECK_STATUS(nearkit_index_add(ix, s->type, other, 1, &again), NEARKIT_OK);
    model_add(&m, &again, other, 1);
    check_read_back(s, ix, &m, &again, 1);
    check_against_model(s, "after adding a removed id again", ix, &m, NULL, queries);
    free(other);

    /* compaction and a save / load round trip keep every answer */
    CHECK_STATUS(nearkit_index_compact(ix), NEARKIT_OK);
    CHECK(nearkit_index_count(ix) == m.n);
    check_against_model(s, "after compacting", ix, &m, NULL, queries);
    nearkit_index *loaded = round_trip(ix);
    CHECK(nearkit_index_count(loaded) == m.n);
    check_against_model(s, "loaded", loaded, &m, NULL, queries);
    check_read_back(s, loaded, &m, asked, sizeof asked / sizeof asked[0]);
    nearkit_index_free(loaded);

    /* saved before compaction (removal marks in the file) */
    int64_t more[] = {base_id(4), base_id(5), base_id(7)};
    CHECK_STATUS(nearkit_index_remove(&removed, ix, more, 3), NEARKIT_OK);
    CHECK(removed == model_remove(&m, more, 3));
    loaded = round_trip(ix);
    CHECK(nearkit_index_count(loaded) == m.n);
    check_against_model(s, "loaded with removals", loaded, &m, NULL, queries);
    nearkit_index_free(loaded);

    /* remove everything: searches find nothing, then the index fills again */
    CHECK_STATUS(nearkit_index_remove(&removed, ix, m.ids, m.n), NEARKIT_OK);
    CHECK(removed == m.n);
    m.n = 0;
    CHECK(nearkit_index_count(ix) == 0);
    int64_t ids[NQ * K];
    float d[NQ * K];
    CHECK_STATUS(nearkit_index_search(ids, d, ix, s->type, queries, NQ, K, NULL), NEARKIT_OK);
    CHECK(all_padding(ids, d, NQ * K));
    check_against_model(s, "emptied", ix, &m, NULL, queries);
    loaded = round_trip(ix);
    CHECK(nearkit_index_count(loaded) == 0);
    nearkit_index_free(loaded);
    int64_t back[] = {base_id(1), base_id(2), 42};
    uint8_t *v = make_vectors(s, 5000, 3);
    CHECK_STATUS(nearkit_index_add(ix, s->type, v, 3, back), NEARKIT_OK);
    model_add(&m, back, v, 3);
    check_against_model(s, "refilled", ix, &m, NULL, queries);
    free(v);
    model_free(&m);
    nearkit_index_free(ix);
}

/* Vectors added without ids take next-id onwards, removals never lower it, and the file keeps it. */
static void test_implicit_ids(const setup *s) {
    nearkit_index *ix = create_index(s, s->kind);
    uint8_t *v = make_vectors(s, 100, 80);
    CHECK_STATUS(nearkit_index_add(ix, s->type, v, 60, NULL), NEARKIT_OK); /* ids 0..59 */
    build(ix);
    int64_t last[11] = {3};
    for (int i = 0; i < 10; i++) last[i + 1] = 50 + i;
    CHECK_STATUS(nearkit_index_remove(NULL, ix, last, 11), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, s->type, v + 60 * s->vb, 5, NULL), NEARKIT_OK); /* 60..64 */
    CHECK(nearkit_index_count(ix) == 54);
    for (int64_t id = 50; id < 60; id++) CHECK(!nearkit_index_contains(ix, id));
    for (int64_t id = 60; id < 65; id++) CHECK(nearkit_index_contains(ix, id));
    CHECK(!nearkit_index_contains(ix, 65));

    /* across a file: removed ids 60..64 in it; the next id after loading is 65 */
    int64_t recent[] = {60, 61, 62, 63, 64};
    CHECK_STATUS(nearkit_index_remove(NULL, ix, recent, 5), NEARKIT_OK);
    nearkit_index *loaded = round_trip(ix);
    CHECK_STATUS(nearkit_index_add(loaded, s->type, v + 65 * s->vb, 2, NULL), NEARKIT_OK); /* 65, 66 */
    CHECK(nearkit_index_count(loaded) == 51);
    for (int64_t id = 60; id < 65; id++) CHECK(!nearkit_index_contains(loaded, id));
    CHECK(nearkit_index_contains(loaded, 65) && nearkit_index_contains(loaded, 66));
    int64_t id = 0;
    float d = 0;
    CHECK_STATUS(nearkit_index_search(&id, &d, loaded, s->type, v + 66 * s->vb, 1, 1, NULL), NEARKIT_OK);
    CHECK(id == 66 && d == 0.0f);
    /* and once more through a file, compacted first */
    CHECK_STATUS(nearkit_index_compact(loaded), NEARKIT_OK);
    nearkit_index *again = round_trip(loaded);
    CHECK_STATUS(nearkit_index_add(again, s->type, v + 70 * s->vb, 1, NULL), NEARKIT_OK); /* 67 */
    CHECK(nearkit_index_contains(again, 67) && !nearkit_index_contains(again, 50));
    nearkit_index_free(again);
    nearkit_index_free(loaded);
    nearkit_index_free(ix);
    free(v);
}

/* ---- filters ----------------------------------------------------------------------------------- */

static int32_t every_seventh(void *context, int64_t id) {
    (void)context;
    return id % 7 == 0;
}
/* Counts its calls: the header allows at most one per stored vector and call. */
static int32_t every_seventh_counted(void *context, int64_t id) {
    atomic_fetch_add((atomic_ulong *)context, 1);
    return id % 7 == 0;
}
static int32_t nothing(void *context, int64_t id) {
    (void)context;
    (void)id;
    return 0;
}

static void test_filters(const setup *s, const uint8_t *queries) {
    nearkit_index *ix = create_index(s, s->kind);
    model m = {.s = s};
    fill(s, ix, &m, N);
    int64_t gone[N / 5];
    for (size_t i = 0; i < N / 5; i++) gone[i] = base_id(5 * i + 2);
    CHECK_STATUS(nearkit_index_remove(NULL, ix, gone, N / 5), NEARKIT_OK);
    model_remove(&m, gone, N / 5);

    /* ids: a tenth of the stored ones, half of them, one; removed and unknown ids and repeats too */
    int64_t tenth[N / 10 + 4], half[N / 2], one[] = {base_id(101)};
    size_t nt = 0;
    for (size_t i = 0; i < N; i += 10) tenth[nt++] = base_id(i);
    tenth[nt++] = base_id(2); /* removed */
    tenth[nt++] = 4;          /* unknown */
    tenth[nt++] = base_id(10);
    tenth[nt++] = INT64_MIN;
    for (size_t i = 0; i < N / 2; i++) half[i] = base_id(2 * i + 1);
    nearkit_filter f = NEARKIT_FILTER_INIT;
    f.type = NEARKIT_FILTER_IDS;
    f.ids = tenth;
    f.n_ids = nt;
    check_against_model(s, "ids filter, a tenth", ix, &m, &f, queries);
    f.ids = half;
    f.n_ids = N / 2;
    check_against_model(s, "ids filter, a half", ix, &m, &f, queries);
    f.ids = one;
    f.n_ids = 1;
    check_against_model(s, "ids filter, one id", ix, &m, &f, queries);

    /* bitmap: a window at an offset, every other id set; one from below zero past some ids */
    uint8_t bits[64];
    for (size_t i = 0; i < sizeof bits; i++) bits[i] = 0x55;
    nearkit_filter b = NEARKIT_FILTER_INIT;
    b.type = NEARKIT_FILTER_BITMAP;
    b.bitmap = bits;
    b.bitmap_first = 1150;
    b.bitmap_bits = 301; /* ids 1150..1450 */
    check_against_model(s, "bitmap filter at an offset", ix, &m, &b, queries);
    uint8_t ones[160];
    memset(ones, 0xff, sizeof ones);
    b.bitmap = ones;
    b.bitmap_first = -64;
    b.bitmap_bits = 64 + 1060; /* ids below 1060 */
    check_against_model(s, "bitmap filter from below zero", ix, &m, &b, queries);

    nearkit_filter p = NEARKIT_FILTER_INIT;
    p.type = NEARKIT_FILTER_PREDICATE;
    p.predicate = every_seventh;
    check_against_model(s, "predicate filter", ix, &m, &p, queries);
    atomic_ulong calls;
    atomic_init(&calls, 0);
    p.predicate = every_seventh_counted;
    p.context = &calls;
    nearkit_search_options po = NEARKIT_SEARCH_OPTIONS_INIT;
    po.filter = &p;
    int64_t pids[NQ * K];
    float pd[NQ * K];
    CHECK_STATUS(nearkit_index_search(pids, pd, ix, s->type, queries, NQ, K, &po), NEARKIT_OK);
    /* the header promises at most one call per stored vector and query */
    if (atomic_load(&calls) > (unsigned long)NQ * m.n)
        fprintf(stderr, "  %s %s: the predicate ran %lu times for %zu stored vectors and %d queries\n",
                s->name, nearkit_metric_name(s->metric), (unsigned long)atomic_load(&calls), m.n, NQ);
    CHECK(atomic_load(&calls) <= (unsigned long)NQ * m.n);

    nearkit_filter all = NEARKIT_FILTER_INIT; /* NONE */
    check_against_model(s, "filter NONE", ix, &m, &all, queries);
    nearkit_index *everything = truth_of(&m, NULL);

    /* filters that allow nothing: pure padding, empty ranges */
    nearkit_filter none_ids = NEARKIT_FILTER_INIT, none_bits = NEARKIT_FILTER_INIT, none_pred = NEARKIT_FILTER_INIT;
    none_ids.type = NEARKIT_FILTER_IDS;
    none_bits.type = NEARKIT_FILTER_BITMAP;
    none_pred.type = NEARKIT_FILTER_PREDICATE;
    none_pred.predicate = nothing;
    const nearkit_filter *empty[] = {&none_ids, &none_bits, &none_pred};
    for (size_t e = 0; e < 3; e++) {
        nearkit_search_options o = NEARKIT_SEARCH_OPTIONS_INIT;
        o.filter = empty[e];
        int64_t ids[NQ * K];
        float d[NQ * K];
        CHECK_STATUS(nearkit_index_search(ids, d, ix, s->type, queries, NQ, K, &o), NEARKIT_OK);
        CHECK(all_padding(ids, d, NQ * K));
        check_against_model(s, "a filter allowing nothing", ix, &m, empty[e], queries);
    }

    /* an older caller's options end before `filter`: no filter, whatever the memory after holds */
    nearkit_search_options old = NEARKIT_SEARCH_OPTIONS_INIT;
    old.struct_size = 8;
    old.filter = &none_ids;
    old.n_params = 3; /* params NULL: would be refused if it were read */
    CHECK(same_knn(s, "options of an older caller", ix, &old, everything, queries, s->exact));
    CHECK(same_range(s, "options of an older caller", ix, &old, everything, queries, s->exact));
    nearkit_index_free(everything);
    model_free(&m);
    nearkit_index_free(ix);
}

/* ---- bad arguments (the generic layer: every kind) --------------------------------------------- */

/* The first parameter of the index with all of `flags`, or NULL. */
static const char *param_with(const nearkit_index *ix, uint32_t flags) {
    for (size_t i = 0; i < nearkit_index_param_count(ix); i++) {
        const char *name = NULL;
        uint32_t f = 0;
        if (nearkit_index_param_info(&name, &f, ix, i) == NEARKIT_OK && (f & flags) == flags) return name;
    }
    return NULL;
}

static nearkit_status search_with(const setup *s, const nearkit_index *ix, const nearkit_search_options *o,
                                  const uint8_t *queries) {
    int64_t ids[K];
    float d[K];
    return nearkit_index_search(ids, d, ix, s->type, queries, 1, K, o);
}

static nearkit_status range_with(const setup *s, const nearkit_index *ix, const nearkit_search_options *o,
                                 const uint8_t *queries) {
    nearkit_range_result *r = NULL;
    nearkit_status st = nearkit_index_range_search(&r, ix, s->type, queries, 1, some_radius(s), o);
    nearkit_range_result_free(r);
    return st;
}

static void test_bad_arguments(const setup *s, const uint8_t *queries) {
    nearkit_index *ix = create_index(s, s->kind);
    model m = {.s = s};
    fill(s, ix, &m, 60);
    nearkit_search_options o = NEARKIT_SEARCH_OPTIONS_INIT;
    nearkit_filter f = NEARKIT_FILTER_INIT;
    o.filter = &f;

    f.type = NEARKIT_FILTER_IDS; /* NULL ids with n_ids > 0 */
    f.n_ids = 5;
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(range_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    f = (nearkit_filter)NEARKIT_FILTER_INIT;
    f.type = 99;
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(range_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    f.type = NEARKIT_FILTER_BITMAP;
    f.bitmap_bits = 9;
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    f.type = NEARKIT_FILTER_PREDICATE;
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    f.struct_size = 0;
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    o.filter = NULL;

    nearkit_param_value pv = {"no_such_parameter", 1};
    o.params = &pv;
    o.n_params = 1;
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_NOT_FOUND);
    CHECK_STATUS(range_with(s, ix, &o, queries), NEARKIT_ERR_NOT_FOUND);
    pv.name = NULL;
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    pv = (nearkit_param_value){"num_threads", 1e9}; /* out of range */
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    pv.value = NAN;
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    pv.value = 1.5; /* not an integer */
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    pv.value = 1;
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_OK);
    const char *fixed = param_with(ix, NEARKIT_PARAM_FLAG_BUILD), *statistic = param_with(ix, NEARKIT_PARAM_FLAG_READ_ONLY);
    if (fixed) { /* a build parameter cannot change per call */
        pv = (nearkit_param_value){fixed, 4};
        CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    }
    if (statistic) {
        pv = (nearkit_param_value){statistic, 1};
        CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    }
    if (s->ivf) {
        pv = (nearkit_param_value){"nprobe", 0};
        CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);
    }
    o.params = NULL; /* with n_params > 0 */
    CHECK_STATUS(search_with(s, ix, &o, queries), NEARKIT_ERR_INVALID_ARGUMENT);

    uint64_t removed = 9;
    CHECK_STATUS(nearkit_index_remove(&removed, ix, NULL, 3), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(removed == 0);
    CHECK_STATUS(nearkit_index_remove(&removed, NULL, m.ids, 1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_remove(&removed, ix, NULL, 0), NEARKIT_OK);
    uint8_t row[64], found[2];
    CHECK_STATUS(nearkit_index_get(NULL, found, ix, m.ids, 1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_get(row, found, ix, NULL, 1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_get(row, found, NULL, m.ids, 1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(nearkit_index_contains(NULL, 1000) == 0);
    CHECK(nearkit_index_contains(ix, -1) == 0);
    CHECK_STATUS(nearkit_index_compact(NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    model_free(&m);
    nearkit_index_free(ix);
}

/* ---- per-call parameters: two threads, two nprobe values, one index ---------------------------- */

enum { PC_N = 3000, PC_D = 16, PC_NLIST = 32, PC_Q = 40, PC_ROUNDS = 6 };

typedef struct probe_job {
    const nearkit_index *ix;
    const float *queries;
    double nprobe;
    const int64_t *want;
    int mismatches;
} probe_job;

static nearkit_status search_probing(int64_t *ids, float *d, const nearkit_index *ix, const float *queries,
                                     double nprobe) {
    nearkit_param_value pv = {"nprobe", nprobe};
    nearkit_search_options o = NEARKIT_SEARCH_OPTIONS_INIT;
    o.params = &pv;
    o.n_params = 1;
    o.num_threads = 1;
    return nearkit_index_search(ids, d, ix, NEARKIT_VECTOR_FLOAT32, queries, PC_Q, K, &o);
}

static void *probe_repeatedly(void *arg) {
    probe_job *job = arg;
    int64_t ids[PC_Q * K];
    float d[PC_Q * K];
    for (int r = 0; r < PC_ROUNDS; r++)
        if (search_probing(ids, d, job->ix, job->queries, job->nprobe) != NEARKIT_OK ||
            memcmp(ids, job->want, sizeof ids) != 0)
            job->mismatches++;
    return NULL;
}

static void test_per_call_params(void) {
    setup s = {NEARKIT_KIND_IVF_FLAT, "ivf_flat", NEARKIT_METRIC_L2, false, true, PC_D, PC_D * 4,
               NEARKIT_VECTOR_FLOAT32};
    nearkit_index_options io = NEARKIT_INDEX_OPTIONS_INIT;
    io.params = "nlist=32";
    nearkit_index *ix = NULL;
    if (nearkit_index_create(&ix, s.kind, s.metric, s.dim, &io) != NEARKIT_OK) {
        printf("per-call parameters: skip (no ivf_flat in this library)\n");
        return;
    }
    uint8_t *base = make_vectors(&s, 1, PC_N), *q = make_vectors(&s, 50000, PC_Q);
    CHECK_STATUS(nearkit_index_add(ix, s.type, base, PC_N, NULL), NEARKIT_OK);
    build(ix);
    double before = 0;
    CHECK_STATUS(nearkit_index_get_param(&before, ix, "nprobe"), NEARKIT_OK);
    static int64_t want_one[PC_Q * K], want_all[PC_Q * K];
    float d[PC_Q * K];
    CHECK_STATUS(search_probing(want_one, d, ix, (const float *)q, 1), NEARKIT_OK);
    CHECK_STATUS(search_probing(want_all, d, ix, (const float *)q, PC_NLIST), NEARKIT_OK);
    if (memcmp(want_one, want_all, sizeof want_one) == 0) {
        /* one list and every list agreeing on 40 queries: the per-call value was not used */
        if (removes(ix)) CHECK(!"nprobe per call changes nothing");
        else printf("per-call parameters on ivf_flat: skip (not yet read per call)\n");
    } else {
        probe_job jobs[2] = {{ix, (const float *)q, 1, want_one, 0}, {ix, (const float *)q, PC_NLIST, want_all, 0}};
        pthread_t t[2];
        for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, probe_repeatedly, &jobs[i]) == 0);
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
            CHECK(jobs[i].mismatches == 0);
        }
    }
    double after = 0;
    CHECK_STATUS(nearkit_index_get_param(&after, ix, "nprobe"), NEARKIT_OK);
    CHECK(after == before); /* a call's value never sticks to the index */
    free(base);
    free(q);
    nearkit_index_free(ix);
}

/* ---- writers and readers at once --------------------------------------------------------------- */

/* Ids come in batches that writers add and remove whole, each id always with the vector its
 * number names. A search must see every batch whole or not at all, so in a k-NN row every id of
 * a batch it shows that lies nearer than the row's last neighbour is shown too; and every
 * distance is the true one of its id's vector. */
enum { BATCH = 16, BATCHES = 20, WRITERS = 2, READERS = 2, WRITES = 100, CQ = 4 };

typedef struct shared {
    const setup *s;
    nearkit_index *ix;
    uint8_t *vecs; /* BATCH * BATCHES vectors, id i's at row i */
    bool present[BATCHES]; /* the writers' own record (writer w owns batches b % WRITERS == w) */
    atomic_int writers_left;
    atomic_int failures;
    pthread_barrier_t start; /* every worker begins at once, so reads overlap the writes */
} shared;

typedef struct worker {
    shared *sh;
    int number;
    uint64_t rng;
    long searches;
} worker;

static uint64_t next_random(uint64_t *state) { return mix(++*state); }

static int32_t even_ids(void *context, int64_t id) {
    (void)context;
    return id % 2 == 0;
}

static void fail(shared *sh, const char *why, long long detail) {
    if (atomic_fetch_add(&sh->failures, 1) < 5) fprintf(stderr, "  concurrency: %s (%lld)\n", why, detail);
}

static void *write_batches(void *arg) {
    worker *w = arg;
    shared *sh = w->sh;
    int64_t ids[BATCH];
    pthread_barrier_wait(&sh->start);
    for (int op = 0; op < WRITES; op++) {
        int b = (int)(next_random(&w->rng) % (BATCHES / WRITERS)) * WRITERS + w->number;
        for (int i = 0; i < BATCH; i++) ids[i] = (int64_t)b * BATCH + i;
        if (sh->present[b]) {
            uint64_t removed = 0;
            if (nearkit_index_remove(&removed, sh->ix, ids, BATCH) != NEARKIT_OK || removed != BATCH)
                fail(sh, "removing a batch", (long long)removed);
        } else if (nearkit_index_add(sh->ix, sh->s->type, sh->vecs + (size_t)b * BATCH * sh->s->vb, BATCH, ids) !=
                   NEARKIT_OK) {
            fail(sh, "adding a batch", b);
        }
        sh->present[b] = !sh->present[b];
        if (op % 10 == 9 && nearkit_index_compact(sh->ix) != NEARKIT_OK) fail(sh, "compacting", op);
    }
    atomic_fetch_sub(&sh->writers_left, 1);
    return NULL;
}

/* One k-NN row against the rules above. */
static void check_row(shared *sh, const uint8_t *query, const int64_t *ids, const float *d, bool evens) {
    const setup *s = sh->s;
    size_t shown = 0;
    while (shown < K && ids[shown] != -1) shown++;
    for (size_t j = shown; j < K; j++)
        if (ids[j] != -1 || !isinf(d[j])) fail(sh, "padding before a neighbour", (long long)j);
    float last = shown ? d[shown - 1] : INFINITY;
    for (size_t j = 0; j < shown; j++) {
        int64_t id = ids[j];
        if (id < 0 || id >= BATCH * BATCHES || (evens && id % 2)) {
            fail(sh, "an id never stored or not allowed", (long long)id);
            return;
        }
        double truth = true_distance(s, sh->vecs + (size_t)id * s->vb, query);
        if (fabs(truth - d[j]) > 1e-4 * (1 + truth)) fail(sh, "a distance not the id's vector's", (long long)id);
        if (j > 0 && (d[j] < d[j - 1] || (d[j] == d[j - 1] && id <= ids[j - 1])))
            fail(sh, "a row out of order", (long long)id);
        /* the rest of its batch: shown where nearer than the last neighbour (all of it in a short row) */
        int64_t first = id / BATCH * BATCH;
        for (int64_t other = first; other < first + BATCH; other++) {
            if (evens && other % 2) continue;
            double od = true_distance(s, sh->vecs + (size_t)other * s->vb, query);
            bool must = shown < K || od < (double)last - 1e-3 * (1 + (double)last);
            bool there = false;
            for (size_t i = 0; i < shown && !there; i++) there = ids[i] == other;
            if (must && !there) fail(sh, "half a batch", (long long)other);
        }
    }
}

static void *read_while_writing(void *arg) {
    worker *w = arg;
    shared *sh = w->sh;
    const setup *s = sh->s;
    uint8_t *q = malloc(CQ * s->vb), *row = malloc(s->vb);
    int64_t ids[CQ * K];
    float d[CQ * K];
    nearkit_filter f = NEARKIT_FILTER_INIT;
    f.type = NEARKIT_FILTER_PREDICATE;
    f.predicate = even_ids;
    nearkit_param_value probe_all = {"nprobe", NLIST};
    pthread_barrier_wait(&sh->start);
    do {
        nearkit_search_options o = NEARKIT_SEARCH_OPTIONS_INIT;
        bool evens = w->searches % 3 == 2;
        o.filter = evens ? &f : NULL;
        o.params = s->ivf ? &probe_all : NULL;
        o.n_params = s->ivf ? 1 : 0;
        o.num_threads = w->searches % 2 ? 2 : 1;
        for (size_t i = 0; i < CQ; i++) make_vector(s, 900000 + next_random(&w->rng) % 100000, q + i * s->vb);
        if (nearkit_index_search(ids, d, sh->ix, s->type, q, CQ, K, &o) != NEARKIT_OK) {
            fail(sh, "a search failed", w->searches);
        } else {
            for (size_t i = 0; i < CQ; i++) check_row(sh, q + i * s->vb, ids + i * K, d + i * K, evens);
        }
        int64_t id = (int64_t)(next_random(&w->rng) % (BATCH * BATCHES));
        uint8_t found = 0;
        if (nearkit_index_get(row, &found, sh->ix, &id, 1) != NEARKIT_OK ||
            (found && memcmp(row, sh->vecs + (size_t)id * s->vb, s->vb) != 0))
            fail(sh, "get returned another vector", (long long)id);
        w->searches++;
    } while (atomic_load(&sh->writers_left) > 0 || w->searches < 20);
    free(q);
    free(row);
    return NULL;
}

static void test_concurrency(const setup *s, const uint8_t *queries) {
    shared sh = {.s = s, .ix = create_index(s, s->kind), .vecs = make_vectors(s, 300000, BATCH * BATCHES)};
    atomic_init(&sh.writers_left, WRITERS);
    atomic_init(&sh.failures, 0);
    pthread_barrier_init(&sh.start, NULL, WRITERS + READERS);
    int64_t ids[BATCH * BATCHES];
    for (int i = 0; i < BATCH * BATCHES; i++) ids[i] = i;
    CHECK_STATUS(nearkit_index_add(sh.ix, s->type, sh.vecs, BATCH * BATCHES / 2, ids), NEARKIT_OK);
    for (int b = 0; b < BATCHES / 2; b++) sh.present[b] = true;
    build(sh.ix);
    pthread_t t[WRITERS + READERS];
    worker w[WRITERS + READERS];
    for (int i = 0; i < WRITERS + READERS; i++) {
        w[i] = (worker){&sh, i < WRITERS ? i : i - WRITERS, (uint64_t)i * 7919u, 0};
        CHECK(pthread_create(&t[i], NULL, i < WRITERS ? write_batches : read_while_writing, &w[i]) == 0);
    }
    long searches = 0;
    for (int i = 0; i < WRITERS + READERS; i++) {
        pthread_join(t[i], NULL);
        if (i >= WRITERS) searches += w[i].searches;
    }
    CHECK(atomic_load(&sh.failures) == 0);

    /* the end state is the writers' record */
    model m = {.s = s};
    for (int b = 0; b < BATCHES; b++)
        if (sh.present[b]) model_add(&m, ids + b * BATCH, sh.vecs + (size_t)b * BATCH * s->vb, BATCH);
    CHECK(nearkit_index_count(sh.ix) == m.n);
    check_against_model(s, "after the writers", sh.ix, &m, NULL, queries);
    printf("  %s %s: %ld searches during %d writes\n", s->name, nearkit_metric_name(s->metric), searches,
           WRITERS * WRITES);
    model_free(&m);
    pthread_barrier_destroy(&sh.start);
    free(sh.vecs);
    nearkit_index_free(sh.ix);
}

/* ---- every kind -------------------------------------------------------------------------------- */

static void test_kind(const nearkit_kind_info *info, nearkit_metric metric) {
    bool binary = metric == NEARKIT_METRIC_HAMMING;
    setup s = {info->kind, info->name, metric, (info->flags & NEARKIT_KIND_FLAG_EXACT) != 0,
               info->kind == NEARKIT_KIND_IVF_FLAT || info->kind == NEARKIT_KIND_IVF_BINARY ||
                   ivf_codes_kind(info->kind),
               binary ? 64u : 8u, binary ? 8u : 32u, binary ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32};
    uint8_t *queries = make_vectors(&s, 70000, NQ);
    test_bad_arguments(&s, queries);
    nearkit_index *probe = create_index(&s, s.kind);
    int64_t id = 1;
    uint8_t *v = make_vectors(&s, 1, 1);
    CHECK_STATUS(nearkit_index_add(probe, s.type, v, 1, &id), NEARKIT_OK);
    bool supported = removes(probe);
    nearkit_index_free(probe);
    free(v);
    if (!supported) {
        printf("%s %s: skip (remove is UNSUPPORTED)\n", s.name, nearkit_metric_name(metric));
    } else {
        int failed = check_failed;
        test_remove(&s, queries);
        test_implicit_ids(&s);
        test_filters(&s, queries);
        test_concurrency(&s, queries);
        printf("%s %s: %s\n", s.name, nearkit_metric_name(metric), check_failed == failed ? "ok" : "FAILED");
    }
    free(queries);
}

int main(void) {
    for (size_t i = 0; i < nearkit_kind_count(); i++) {
        nearkit_kind_info info = NEARKIT_KIND_INFO_INIT;
        CHECK_STATUS(nearkit_kind_get_info(&info, i), NEARKIT_OK);
        if (info.metric_mask & (1u << NEARKIT_METRIC_L2)) test_kind(&info, NEARKIT_METRIC_L2);
        if (info.metric_mask & (1u << NEARKIT_METRIC_HAMMING)) test_kind(&info, NEARKIT_METRIC_HAMMING);
    }
    test_per_call_params();
    return check_summary("test_living");
}
