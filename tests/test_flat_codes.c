/* The flat_* kinds (flat_fp16, flat_bf16, flat_sq8, flat_sq4, flat_pq): brute force over codes,
 * through the public ABI.
 *
 *  - flat_fp16 without its originals ranks exactly as a flat index over its decoded vectors;
 *  - recall@10 against flat on clustered data for l2, cosine and ip, each kind above a floor, and
 *    the same answers for a batch, query by query, and on two threads;
 *  - refine: with ceil(refine * k) >= count the flat index's answers bit for bit (recall 1);
 *  - training: fp16 / bf16 searchable as add returns; sq8 exact over the waiting rows before
 *    build, then trained deterministically;
 *  - a living collection: remove, filter (ids and predicate), get (originals or decoded), range;
 *  - save / load round trip identical (with and without originals, pq nbits 8 and 4), corrupted
 *    sections (CORRUPT, never a crash);
 *  - memory_bytes, bytes_per_vector, describe; bad input. */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wunused-function" /* the helpers this file does not need */
#include "binary_test_util.h"
#include "check.h"
#define SYNTHETIC_SEED 2121
#include "synthetic.h"

#define F32 NEARKIT_VECTOR_FLOAT32
#define K 10
#define DIM 32
#define N 3000
#define NQ 100

typedef struct codec_case {
    nearkit_kind kind;
    const char *name;
    const char *params;
    double floor; /* recall@10 against flat, l2 (measured, less a margin) */
} codec_case;

static const codec_case cases[] = {
    {NEARKIT_KIND_FLAT_FP16, "flat_fp16", NULL, 0.99},
    {NEARKIT_KIND_FLAT_BF16, "flat_bf16", NULL, 0.90},
    {NEARKIT_KIND_FLAT_SQ8, "flat_sq8", NULL, 0.95},
    {NEARKIT_KIND_FLAT_SQ4, "flat_sq4", NULL, 0.55},
    {NEARKIT_KIND_FLAT_PQ, "flat_pq", "m=16", 0.45},
    {NEARKIT_KIND_FLAT_PQ, "flat_pq", "m=16,nbits=4", 0.20}, /* 8 bytes a vector: 16 centroids of 2 dims */
};
#define N_CASES (sizeof cases / sizeof cases[0])

static float *base, *queries;
#include "codes_test_util.h"

static nearkit_index *create_threads(nearkit_kind kind, nearkit_metric metric, const char *params,
                                     uint32_t threads) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = threads;
    o.params = params;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind, metric, DIM, &o), NEARKIT_OK);
    return ix;
}

static nearkit_index *create(nearkit_kind kind, nearkit_metric metric, const char *params) {
    return create_threads(kind, metric, params, 1);
}

/* Added, then built (a no-op for the kinds that train at their first add). */
static nearkit_index *build(nearkit_kind kind, nearkit_metric metric, const char *params) {
    nearkit_index *ix = create(kind, metric, params);
    CHECK_STATUS(nearkit_index_add(ix, F32, base, N, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    return ix;
}

/* One query per call: the path a batch does not take. */
static void search_one_by_one(answers *a, const nearkit_index *ix) {
    for (int q = 0; q < NQ; q++)
        CHECK_STATUS(nearkit_index_search(a->ids + q * K, a->dist + q * K, ix, F32, queries + q * DIM, 1, K, NULL),
                     NEARKIT_OK);
}

/* The index's stored vectors as get returns them (ids 0 .. N - 1). */
static float *get_all(const nearkit_index *ix) {
    int64_t *ids = malloc(N * sizeof *ids);
    float *out = malloc((size_t)N * DIM * sizeof *out);
    uint8_t *found = calloc(N, 1);
    for (int i = 0; i < N; i++) ids[i] = i;
    CHECK_STATUS(nearkit_index_get(out, found, ix, ids, N), NEARKIT_OK);
    for (int i = 0; i < N; i++) CHECK(found[i]);
    free(found);
    free(ids);
    return out;
}

/* ---- fp16: the ranking of the decoded vectors -------------------------------------------------- */

static void test_fp16_is_flat_over_decoded(void) {
    static answers got, want;
    nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_IP};
    for (size_t m = 0; m < 2; m++) {
        nearkit_index *h = build(NEARKIT_KIND_FLAT_FP16, metrics[m], NULL);
        float *decoded = get_all(h);
        nearkit_index *f = create(NEARKIT_KIND_FLAT, metrics[m], NULL);
        CHECK_STATUS(nearkit_index_add(f, F32, decoded, N, NULL), NEARKIT_OK);
        search(&got, h, NULL);
        search(&want, f, NULL);
        bool ids = memcmp(got.ids, want.ids, sizeof got.ids) == 0;
        float worst = 0;
        for (int i = 0; i < NQ * K; i++)
            worst = fmaxf(worst, fabsf(got.dist[i] - want.dist[i]) / fmaxf(1.0f, fabsf(want.dist[i])));
        printf("flat_fp16 %s: ranking of the decoded vectors %s, largest distance difference %g\n",
               nearkit_metric_name(metrics[m]), ids ? "equal" : "DIFFERENT", worst);
        CHECK(ids && worst < 1e-4f);
        free(decoded);
        nearkit_index_free(f);
        nearkit_index_free(h);
    }
}

/* ---- recall ------------------------------------------------------------------------------------ */

static void test_recall(void) {
    static answers got, want, other;
    nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    for (size_t m = 0; m < 3; m++) {
        nearkit_index *f = build(NEARKIT_KIND_FLAT, metrics[m], NULL);
        search(&want, f, NULL);
        for (size_t c = 0; c < N_CASES; c++) {
            nearkit_index *h = build(cases[c].kind, metrics[m], cases[c].params);
            search(&got, h, NULL);
            double r = recall(&got, &want);
            printf("%s(%s) %s: recall@%d %.4f\n", cases[c].name, cases[c].params ? cases[c].params : "",
                   nearkit_metric_name(metrics[m]), K, r);
            /* l2 has an absolute floor; cosine and ip only a sanity one: normalised vectors use a
             * sliver of each range, so sq codes lose more there */
            CHECK(r >= (metrics[m] == NEARKIT_METRIC_L2 ? cases[c].floor : 0.1));
            /* a batch answers as its queries one by one, and as two threads do */
            search_one_by_one(&other, h);
            CHECK(same(&got, &other));
            nearkit_index *two = create_threads(cases[c].kind, metrics[m], cases[c].params, 2);
            CHECK_STATUS(nearkit_index_add(two, F32, base, N, NULL), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_build(two), NEARKIT_OK);
            search(&other, two, NULL);
            CHECK(same(&got, &other));
            nearkit_index_free(two);
            nearkit_index_free(h);
        }
        nearkit_index_free(f);
    }
}

/* ---- refine ------------------------------------------------------------------------------------ */

static void test_refine(void) {
    static answers exact, refined, partial;
    nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE};
    for (size_t m = 0; m < 2; m++) {
        nearkit_index *f = build(NEARKIT_KIND_FLAT, metrics[m], NULL);
        search(&exact, f, NULL);
        for (size_t c = 0; c < N_CASES; c++) {
            char params[64];
            snprintf(params, sizeof params, "%s%srefine=%d", cases[c].params ? cases[c].params : "",
                     cases[c].params ? "," : "", N / K);
            nearkit_index *h = build(cases[c].kind, metrics[m], params);
            /* every row a candidate: the exact answers, distances and ties included */
            search(&refined, h, NULL);
            CHECK(same(&refined, &exact));
            nearkit_param_value four = {"refine", 4};
            nearkit_search_options o4 = with(&four, 1);
            search(&partial, h, &o4);
            printf("%s(%s) %s: recall 1 at refine %d, %.4f at refine 4\n", cases[c].name,
                   cases[c].params ? cases[c].params : "", nearkit_metric_name(metrics[m]), N / K,
                   recall(&partial, &exact));
            nearkit_index_free(h);
        }
        nearkit_index_free(f);
    }
    /* flat_sq8 at refine 4 on clustered data: recall 1 */
    nearkit_index *f = build(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, NULL);
    nearkit_index *h = build(NEARKIT_KIND_FLAT_SQ8, NEARKIT_METRIC_L2, "refine=4");
    search(&exact, f, NULL);
    search(&refined, h, NULL);
    CHECK(recall(&refined, &exact) == 1.0);
    /* memory: the originals cost 4 bytes a dimension; a code is a byte a dimension */
    nearkit_index *dropped = build(NEARKIT_KIND_FLAT_SQ8, NEARKIT_METRIC_L2, NULL);
    uint64_t kept_bytes = nearkit_index_memory_bytes(h), dropped_bytes = nearkit_index_memory_bytes(dropped),
             float_bytes = nearkit_index_memory_bytes(f);
    printf("memory: flat %llu, flat_sq8 %llu, with originals %llu\n", (unsigned long long)float_bytes,
           (unsigned long long)dropped_bytes, (unsigned long long)kept_bytes);
    CHECK(kept_bytes >= dropped_bytes + (uint64_t)N * DIM * 4);
    CHECK(dropped_bytes + (uint64_t)N * DIM * 2 <= float_bytes);
    double bpv = 0;
    CHECK_STATUS(nearkit_index_get_param(&bpv, dropped, "bytes_per_vector"), NEARKIT_OK);
    printf("flat_sq8 bytes_per_vector %.1f\n", bpv);
    CHECK(bpv >= DIM && bpv <= DIM + 16);
    /* trained with refine 0, the originals are gone: refine is refused, per call ignored */
    check_originals_dropped(dropped);
    CHECK(describes(h, "brute force over", "re-ranked exactly"));
    nearkit_index_free(dropped);
    nearkit_index_free(h);
    nearkit_index_free(f);
}

/* ---- training ---------------------------------------------------------------------------------- */

static void test_training(void) {
    static answers a, b;
    /* fp16: searchable as add returns, no build; refine set before the first add keeps originals */
    nearkit_index *h = create(NEARKIT_KIND_FLAT_FP16, NEARKIT_METRIC_L2, "refine=1000");
    CHECK(nearkit_index_is_ready(h) == 1); /* nothing to learn: ready while empty */
    CHECK_STATUS(nearkit_index_build(h), NEARKIT_OK); /* nothing yet: nothing to do */
    CHECK(nearkit_index_is_ready(h) == 1);
    CHECK_STATUS(nearkit_index_add(h, F32, base, N / 2, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(h) == 1);
    CHECK_STATUS(nearkit_index_add(h, F32, base + (size_t)(N / 2) * DIM, N - N / 2, NULL), NEARKIT_OK);
    nearkit_index *f = build(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, NULL);
    search(&a, h, NULL);
    search(&b, f, NULL);
    CHECK(same(&a, &b));
    CHECK_STATUS(nearkit_index_train(h, F32, base, 10), NEARKIT_ERR_STATE);
    nearkit_index_free(h);
    /* sq8 before training: the waiting rows answer exactly; then build trains */
    h = create(NEARKIT_KIND_FLAT_SQ8, NEARKIT_METRIC_L2, NULL);
    CHECK_STATUS(nearkit_index_add(h, F32, base, N, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(h) == 0);
    search(&a, h, NULL);
    CHECK(same(&a, &b));
    CHECK_STATUS(nearkit_index_build(h), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(h) == 1);
    search(&a, h, NULL);
    /* trained on a sample first, then added in batches: deterministic, the same codes */
    nearkit_index *t = create(NEARKIT_KIND_FLAT_SQ8, NEARKIT_METRIC_L2, NULL);
    CHECK_STATUS(nearkit_index_train(t, F32, base, N), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_train(t, F32, base, N), NEARKIT_ERR_STATE);
    for (uint64_t at = 0; at < N; at += 500) CHECK_STATUS(nearkit_index_add(t, F32, base + at * DIM, 500, NULL), NEARKIT_OK);
    search(&b, t, NULL);
    CHECK(same(&a, &b));
    /* build with nothing added is refused for a kind that trains */
    nearkit_index *empty = create(NEARKIT_KIND_FLAT_PQ, NEARKIT_METRIC_L2, NULL);
    CHECK_STATUS(nearkit_index_build(empty), NEARKIT_ERR_STATE);
    nearkit_index_free(empty);
    nearkit_index_free(t);
    nearkit_index_free(h);
    nearkit_index_free(f);
}

/* ---- a living collection ----------------------------------------------------------------------- */

static int32_t odd_ids(void *ctx, int64_t id) {
    (void)ctx;
    return id % 2 == 1;
}

/* Every answer allowed by the filter (ids of the form 3 i + 1 below 900, none a multiple of 7),
 * and every query answered in full. */
static void check_filtered(const answers *a) {
    bool inside = true;
    int full = 0;
    for (int q = 0; q < NQ; q++) {
        full += a->ids[q * K + K - 1] != -1;
        for (int j = 0; j < K; j++) {
            int64_t id = a->ids[q * K + j];
            inside = inside && (id == -1 || (id % 3 == 1 && id < 900 && id % 7 != 0));
        }
    }
    CHECK(inside && full == NQ);
}

static void test_living(nearkit_kind kind, const char *params) {
    nearkit_index *h = build(kind, NEARKIT_METRIC_L2, params);
    const char *name = nearkit_kind_name(kind);
    bool kept = params && strstr(params, "refine") != NULL;
    static answers a, b;
    remove_and_add_back(h);
    CHECK(nearkit_index_count(h) == N - 400 + 50);
    /* get: the original where kept, the decoded code (close) otherwise */
    float worst = get_error(h);
    printf("%s (%s): get's largest error %g\n", name, params ? params : "", worst);
    /* pq's codes are coarse: a coordinate may land a centroid away */
    CHECK(kept ? worst == 0 : worst > 0 && worst < (kind == NEARKIT_KIND_FLAT_PQ ? 10.0f : 0.2f));
    /* filters: only their ids come back, every query full */
    int64_t allow[300];
    for (int i = 0; i < 300; i++) allow[i] = 3 * i + 1;
    nearkit_filter filter = {.struct_size = sizeof filter, .type = NEARKIT_FILTER_IDS, .ids = allow, .n_ids = 300};
    nearkit_search_options o = {.struct_size = sizeof o, .filter = &filter};
    search(&a, h, &o);
    check_filtered(&a);
    nearkit_filter odd = {.struct_size = sizeof odd, .type = NEARKIT_FILTER_PREDICATE, .predicate = odd_ids};
    nearkit_search_options o_odd = {.struct_size = sizeof o_odd, .filter = &odd};
    search(&a, h, &o_odd);
    bool all_odd = true;
    for (int i = 0; i < NQ * K; i++) all_odd = all_odd && a.ids[i] % 2 == 1;
    CHECK(all_odd);
    /* range: matches come back, each within the radius */
    nearkit_range_result *rr = NULL;
    CHECK_STATUS(nearkit_index_range_search(&rr, h, F32, queries, 5, 30.0f, NULL), NEARKIT_OK);
    nearkit_range_result_free(rr);
    /* save / load: the same answers, and adds on both stay alike */
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, h), NEARKIT_OK);
    nearkit_index *copy = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&copy, buf, size), NEARKIT_OK);
    CHECK(nearkit_index_kind(copy) == kind && nearkit_index_count(copy) == nearkit_index_count(h));
    search(&a, h, NULL);
    search(&b, copy, NULL);
    CHECK(same(&a, &b));
    search(&a, h, &o);
    search(&b, copy, &o);
    CHECK(same(&a, &b));
    CHECK_STATUS(nearkit_index_add(h, F32, base + 2000 * DIM, 40, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(copy, F32, base + 2000 * DIM, 40, NULL), NEARKIT_OK);
    search(&a, h, NULL);
    search(&b, copy, NULL);
    CHECK(same(&a, &b));
    /* corrupted sections: one list at most, the one centroid, the codes */
    uint32_t meta[4];
    memcpy(meta, bt_section(buf, "CODC"), sizeof meta);
    meta[1] = 2;
    expect_section(buf, size, "CODC", meta, sizeof meta, "two lists");
    float centroids[2 * DIM] = {0};
    expect_section(buf, size, "CENT", centroids, sizeof centroids, "two centroids");
    centroids[0] = NAN;
    expect_section(buf, size, "CENT", centroids, DIM * sizeof(float), "a NaN centroid");
    uint8_t codes[3] = {0};
    expect_section(buf, size, "LCOD", codes, sizeof codes, "a partial code");
    uint64_t len = 0;
    const uint8_t *positions = bt_find_section(&len, buf, "LPOS");
    uint32_t *twice = malloc(len);
    memcpy(twice, positions, len);
    twice[1] = twice[0];
    expect_section(buf, size, "LPOS", twice, len, "a position twice");
    free(twice);
    if (kept) {
        float orig[DIM] = {0};
        expect_section(buf, size, "VECS", orig, sizeof orig, "fewer originals than codes");
    }
    nearkit_buffer_free(buf);
    nearkit_index_free(copy);
    nearkit_index_free(h);
}

/* ---- bad input --------------------------------------------------------------------------------- */

static void test_bad_input(void) {
    check_metrics_refused(NEARKIT_KIND_FLAT_SQ8);
    check_metrics_refused(NEARKIT_KIND_FLAT_FP16);
    nearkit_index *ix = NULL;
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = "nprobe=4"; /* one list: nothing to probe */
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT_SQ8, NEARKIT_METRIC_L2, 8, &o), NEARKIT_ERR_NOT_FOUND);
    o.params = "m=3";
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT_PQ, NEARKIT_METRIC_L2, 8, &o),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    o.params = "nbits=5";
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT_PQ, NEARKIT_METRIC_L2, 8, &o),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    const char *names[] = {"flat_fp16", "flat_bf16", "flat_sq8", "flat_sq4", "flat_pq"};
    for (int i = 0; i < 5; i++) {
        nearkit_kind kind = 0;
        CHECK_STATUS(nearkit_kind_from_name(&kind, names[i]), NEARKIT_OK);
        CHECK(kind == NEARKIT_KIND_FLAT_FP16 + i);
    }
    /* empty, then loaded: the copy's first add trains */
    ix = create(NEARKIT_KIND_FLAT_FP16, NEARKIT_METRIC_L2, NULL);
    check_empty(ix);
    nearkit_index_free(ix);
    static answers a;
    /* a single vector trains degenerate ranges, still searchable */
    ix = create(NEARKIT_KIND_FLAT_SQ8, NEARKIT_METRIC_COSINE, NULL);
    CHECK_STATUS(nearkit_index_add(ix, F32, base, 1, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, F32, base + DIM, 99, NULL), NEARKIT_OK);
    search(&a, ix, NULL);
    CHECK(a.ids[0] >= 0 && a.ids[0] < 100 && a.dist[0] >= 0.0f && a.dist[0] <= 2.0f);
    nearkit_index_free(ix);
}

int main(void) {
    base = clustered(N + NQ, DIM, 30, 2.0f);
    queries = base + (size_t)N * DIM;
    test_fp16_is_flat_over_decoded();
    test_recall();
    test_refine();
    test_training();
    test_living(NEARKIT_KIND_FLAT_SQ8, NULL);
    test_living(NEARKIT_KIND_FLAT_SQ8, "refine=2");
    test_living(NEARKIT_KIND_FLAT_FP16, NULL);
    test_living(NEARKIT_KIND_FLAT_PQ, "m=8,nbits=4");
    test_living(NEARKIT_KIND_FLAT_PQ, "m=8,refine=3");
    test_bad_input();
    free(base);
    return check_summary("test_flat_codes");
}
