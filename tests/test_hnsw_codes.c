/* The coded hnsw kinds (hnsw_sq8, hnsw_fp16, hnsw_bf16, hnsw_sq4), through the public ABI.
 *
 *  - recall against flat on clustered data for l2, cosine and ip at the default ef_search, for
 *    every codec; the codes trained by the first add or by train, deterministically;
 *  - refine: kept originals, exact distances reported (the flat index's, bit for bit, at
 *    ef_search >= count), per call; refine refused once the originals were dropped;
 *  - a living collection: remove, contains, get (the originals, or the codes decoded), filters,
 *    add after a search, compact;
 *  - save / load round trip (with and without the originals, with removals), corrupted sections
 *    (CORRUPT, never a crash);
 *  - hnsw_sq8's walk on the codes' integer grid: the values reported (k-NN, filtered, range) are
 *    the codes' own (a scan's, bit for bit), in order; queries far outside the ranges walk on
 *    the codes instead, losing no recall;
 *  - memory_bytes and describe; bad input (hamming, training twice, refine out of range). */
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
#define SYNTHETIC_SEED 1717
#include "synthetic.h"

#define F32 NEARKIT_VECTOR_FLOAT32
#define K 10
#define DIM 32
#define N 4000
#define NQ 200

typedef struct codec_case {
    nearkit_kind kind;
    const char *name;
    double floor; /* recall@10 at ef_search 64 against flat, l2 (measured, less a margin) */
} codec_case;

static const codec_case cases[] = {
    {NEARKIT_KIND_HNSW_SQ8, "hnsw_sq8", 0.90},
    {NEARKIT_KIND_HNSW_FP16, "hnsw_fp16", 0.95},
    {NEARKIT_KIND_HNSW_BF16, "hnsw_bf16", 0.90},
    {NEARKIT_KIND_HNSW_SQ4, "hnsw_sq4", 0.60},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static float *base, *queries;
#include "codes_test_util.h"

static nearkit_index *create(nearkit_kind kind, nearkit_metric metric, const char *params) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = 1;
    o.params = params;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind, metric, DIM, &o), NEARKIT_OK);
    return ix;
}

static nearkit_index *build(nearkit_kind kind, nearkit_metric metric, const char *params) {
    nearkit_index *ix = create(kind, metric, params);
    CHECK_STATUS(nearkit_index_add(ix, F32, base, N, NULL), NEARKIT_OK);
    return ix;
}

/* ---- recall ------------------------------------------------------------------------------------ */

static void test_recall(void) {
    static answers got, want;
    nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    for (size_t m = 0; m < 3; m++) {
        nearkit_index *f = build(NEARKIT_KIND_FLAT, metrics[m], NULL);
        search(&want, f, NULL);
        for (size_t c = 0; c < N_CASES; c++) {
            nearkit_index *h = build(cases[c].kind, metrics[m], "ef_construction=100");
            search(&got, h, NULL);
            double r = recall(&got, &want);
            /* what the codes allow: a scan of every code (ef_search >= count) */
            static answers scan;
            nearkit_param_value all = {"ef_search", N};
            nearkit_search_options o_all = with(&all, 1);
            search(&scan, h, &o_all);
            double ceiling = recall(&scan, &want);
            printf("%s %s: recall@%d %.4f, a scan of the codes %.4f\n", cases[c].name, nearkit_metric_name(metrics[m]),
                   K, r, ceiling);
            /* the walk loses little to the scan; l2 (spread-out ranges) has an absolute floor too:
             * normalised cosine vectors use a sliver of each range, so sq codes lose more there */
            CHECK(r >= ceiling - 0.05);
            CHECK(metrics[m] != NEARKIT_METRIC_L2 || r >= cases[c].floor);
            /* deterministic: the same build gives the same answers */
            nearkit_index *again = build(cases[c].kind, metrics[m], "ef_construction=100");
            static answers other;
            search(&other, again, NULL);
            CHECK(same(&got, &other));
            nearkit_index_free(again);
            nearkit_index_free(h);
        }
        nearkit_index_free(f);
    }
}

/* ---- what a walk on the grid reports ----------------------------------------------------------- */

/* For each id of `got` that `scan` holds for the same query, whether the two values are the same
 * bits; counts the ids compared. */
static long differing(const int64_t *ids, const float *dist, uint64_t n, const answers *scan, int q, long *compared) {
    long off = 0;
    for (uint64_t i = 0; i < n; i++)
        for (int j = 0; j < K; j++)
            if (ids[i] == scan->ids[q * K + j]) {
                (*compared)++;
                off += memcmp(&dist[i], &scan->dist[q * K + j], sizeof dist[i]) != 0;
            }
    return off;
}

/* hnsw_sq8 without originals ranks by the codes' integer grid while it walks; what it reports is
 * the codes' own value (a scan of every code reports those: the same bits for every id both
 * find), nearest first, for k-NN (plain and filtered) and range searches alike. */
static void test_grid_reports_code_values(void) {
    nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    static answers a, scan;
    nearkit_param_value all = {"ef_search", N};
    nearkit_search_options o_all = with(&all, 1);
    for (size_t m = 0; m < 3; m++) {
        nearkit_index *h = build(NEARKIT_KIND_HNSW_SQ8, metrics[m], "ef_construction=100");
        search(&scan, h, &o_all);
        int64_t allow[2000];
        for (int i = 0; i < 2000; i++) allow[i] = 2 * i;
        nearkit_filter filter = {.struct_size = sizeof filter, .type = NEARKIT_FILTER_IDS, .ids = allow, .n_ids = 2000};
        nearkit_search_options filtered = {.struct_size = sizeof filtered, .filter = &filter};
        for (int f = 0; f < 2; f++) {
            search(&a, h, f ? &filtered : NULL);
            long off = 0, unordered = 0, compared = 0;
            for (int q = 0; q < NQ; q++) {
                off += differing(a.ids + q * K, a.dist + q * K, K, &scan, q, &compared);
                for (int j = 1; j < K; j++) unordered += a.dist[q * K + j] < a.dist[q * K + j - 1];
            }
            printf("hnsw_sq8 %s%s: %ld of %ld values differ from a scan's, %ld out of order\n",
                   nearkit_metric_name(metrics[m]), f ? " filtered" : "", off, compared, unordered);
            /* a filter halves the ids a scan shares */
            CHECK(off == 0 && unordered == 0 && compared > NQ * K / (f ? 4 : 2));
        }
        /* range: the matches within the radius, by the values a scan reports */
        nearkit_range_result *res = NULL;
        CHECK_STATUS(nearkit_index_range_search(&res, h, F32, queries, 1, scan.dist[K - 2], NULL), NEARKIT_OK);
        const uint64_t *offsets;
        const int64_t *ids;
        const float *dist;
        CHECK_STATUS(nearkit_range_result_get(&offsets, &ids, &dist, res), NEARKIT_OK);
        long compared = 0, off = differing(ids, dist, offsets[1], &scan, 0, &compared);
        for (uint64_t i = 0; i < offsets[1]; i++) off += dist[i] > scan.dist[K - 2];
        CHECK(off == 0 && offsets[1] <= K && compared == (long)offsets[1]);
        nearkit_range_result_free(res);
        nearkit_index_free(h);
    }
}

/* Queries far outside the data's ranges (four dimensions twenty ranges out) lie past the grid's
 * reach, so their walks score the codes. Any graph walks poorly toward such a query (hnsw over
 * the floats finds 0.73 of its scan's answers here at the default ef_search), but clamped onto the
 * grid the walk ranked by values the codes do not have and found half as many (0.32, against
 * 0.63 scoring the codes). */
static void test_far_queries(void) {
    static answers got, scan;
    float *inside = queries, *far = malloc((size_t)NQ * DIM * sizeof *far);
    float lo = base[0], hi = base[0];
    for (size_t i = 0; i < (size_t)N * DIM; i++) {
        lo = base[i] < lo ? base[i] : lo;
        hi = base[i] > hi ? base[i] : hi;
    }
    for (size_t i = 0; i < (size_t)NQ * DIM; i++) far[i] = inside[i] + (i % DIM < 4 ? 20.0f * (hi - lo) : 0.0f);
    queries = far;
    nearkit_index *h = build(NEARKIT_KIND_HNSW_SQ8, NEARKIT_METRIC_L2, "ef_construction=100");
    nearkit_param_value all = {"ef_search", N};
    nearkit_search_options o_all = with(&all, 1);
    search(&scan, h, &o_all);
    search(&got, h, NULL);
    double r = recall(&got, &scan);
    printf("hnsw_sq8 l2, queries 20 ranges out: recall@%d %.4f of a scan of the codes\n", K, r);
    CHECK(r >= 0.5);
    nearkit_index_free(h);
    queries = inside;
    free(far);
}

/* ---- refine ------------------------------------------------------------------------------------ */

static void test_refine(void) {
    static answers exact, plain, refined, all;
    nearkit_index *f = build(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, NULL);
    search(&exact, f, NULL);
    nearkit_index *h = build(NEARKIT_KIND_HNSW_SQ4, NEARKIT_METRIC_L2, "ef_construction=100,refine=4");
    nearkit_param_value off = {"refine", 0};
    nearkit_search_options o_off = with(&off, 1);
    search(&plain, h, &o_off);
    search(&refined, h, NULL);
    double r0 = recall(&plain, &exact), r4 = recall(&refined, &exact);
    printf("hnsw_sq4 l2: recall %.4f without re-rank, %.4f with refine 4\n", r0, r4);
    CHECK(r4 >= r0 + 0.1 && r4 >= 0.9);
    /* re-ranked distances are exact: each id's distance is the flat index's for it */
    uint64_t matched = 0, equal = 0;
    for (int q = 0; q < NQ; q++)
        for (int j = 0; j < K; j++)
            for (int i = 0; i < K; i++)
                if (refined.ids[q * K + j] == exact.ids[q * K + i]) {
                    matched++;
                    equal += refined.dist[q * K + j] == exact.dist[q * K + i];
                }
    CHECK(matched > 0 && equal == matched);
    /* ef_search >= count: the flat index's answers bit for bit, through the originals */
    nearkit_param_value pv[2] = {{"ef_search", N}, {"refine", 1}};
    nearkit_search_options o_all = with(pv, 2);
    search(&all, h, &o_all);
    CHECK(same(&all, &exact));
    /* memory: the originals cost 4 bytes a dimension */
    nearkit_index *dropped = build(NEARKIT_KIND_HNSW_SQ4, NEARKIT_METRIC_L2, "ef_construction=100");
    nearkit_index *plain_hnsw = build(NEARKIT_KIND_HNSW, NEARKIT_METRIC_L2, "ef_construction=100");
    uint64_t kept_bytes = nearkit_index_memory_bytes(h), dropped_bytes = nearkit_index_memory_bytes(dropped),
             float_bytes = nearkit_index_memory_bytes(plain_hnsw);
    printf("memory: hnsw %llu, hnsw_sq4 %llu, with originals %llu\n", (unsigned long long)float_bytes,
           (unsigned long long)dropped_bytes, (unsigned long long)kept_bytes);
    CHECK(kept_bytes >= dropped_bytes + (uint64_t)N * DIM * 4);
    CHECK(dropped_bytes + (uint64_t)N * DIM * 3 <= float_bytes);
    double bpv = 0;
    CHECK_STATUS(nearkit_index_get_param(&bpv, dropped, "bytes_per_vector"), NEARKIT_OK);
    CHECK(bpv > DIM / 2 && bpv < (double)float_bytes / N);
    /* trained with refine 0, the originals are gone: refine is refused, per call ignored */
    check_originals_dropped(dropped);
    CHECK_STATUS(nearkit_index_set_param(h, "refine", 1000.5), NEARKIT_ERR_INVALID_ARGUMENT);
    /* describe says what is kept */
    CHECK(describes(h, "sq4", "re-ranked exactly"));
    nearkit_index_free(plain_hnsw);
    nearkit_index_free(dropped);
    nearkit_index_free(h);
    nearkit_index_free(f);
}

/* ---- training ---------------------------------------------------------------------------------- */

static void test_training(void) {
    /* trained on a sample first, then added in small batches: the codes are the sample's */
    nearkit_index *t = create(NEARKIT_KIND_HNSW_SQ8, NEARKIT_METRIC_L2, "ef_construction=100");
    CHECK_STATUS(nearkit_index_train(t, F32, base, N), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_train(t, F32, base, N), NEARKIT_ERR_STATE);
    for (uint64_t at = 0; at < N; at += 500) CHECK_STATUS(nearkit_index_add(t, F32, base + at * DIM, 500, NULL), NEARKIT_OK);
    nearkit_index *one = build(NEARKIT_KIND_HNSW_SQ8, NEARKIT_METRIC_L2, "ef_construction=100");
    static answers a, b;
    search(&a, t, NULL);
    search(&b, one, NULL);
    CHECK(recall(&a, &b) >= 0.9);
    /* a first add trains: train afterwards is refused */
    CHECK_STATUS(nearkit_index_train(one, F32, base, N), NEARKIT_ERR_STATE);
    /* fp16 trains nothing but seals likewise */
    nearkit_index *h16 = create(NEARKIT_KIND_HNSW_FP16, NEARKIT_METRIC_L2, NULL);
    CHECK_STATUS(nearkit_index_train(h16, F32, base, 10), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(h16, F32, base, 100, NULL), NEARKIT_OK);
    nearkit_index_free(h16);
    nearkit_index_free(one);
    nearkit_index_free(t);
}

/* ---- a living collection ----------------------------------------------------------------------- */

static void test_living(const char *params) {
    nearkit_index *h = build(NEARKIT_KIND_HNSW_SQ8, NEARKIT_METRIC_L2, params);
    bool kept = strstr(params, "refine") != NULL;
    static answers a;
    remove_and_add_back(h); /* adds after searches, with ids (refilling free slots) ... */
    CHECK_STATUS(nearkit_index_add(h, F32, base + 2000 * DIM, 30, NULL), NEARKIT_OK); /* ... and without */
    CHECK(nearkit_index_count(h) == N - 400 + 80);
    /* get: the original where kept, the decoded code (close) otherwise */
    float worst = get_error(h);
    printf("hnsw_sq8 (%s): get's largest error %g\n", params, worst);
    CHECK(kept ? worst == 0 : worst > 0 && worst < 0.2f);
    /* a filter: only its ids come back */
    int64_t allow[300];
    for (int i = 0; i < 300; i++) allow[i] = 3 * i + 1;
    nearkit_filter filter = {.struct_size = sizeof filter, .type = NEARKIT_FILTER_IDS, .ids = allow, .n_ids = 300};
    nearkit_search_options o = {.struct_size = sizeof o, .filter = &filter};
    search(&a, h, &o);
    bool inside = true;
    int full = 0;
    for (int q = 0; q < NQ; q++) {
        full += a.ids[q * K + K - 1] != -1;
        for (int j = 0; j < K; j++) {
            int64_t id = a.ids[q * K + j];
            inside = inside && (id == -1 || (id % 3 == 1 && id < 900 && id % 7 != 0));
        }
    }
    CHECK(inside && full == NQ);
    /* range: every match within the radius */
    nearkit_range_result *rr = NULL;
    CHECK_STATUS(nearkit_index_range_search(&rr, h, F32, queries, 5, 3.0f, NULL), NEARKIT_OK);
    nearkit_range_result_free(rr);
    /* save / load, then the same answers, and adds on both stay alike */
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, h), NEARKIT_OK);
    nearkit_index *copy = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&copy, buf, size), NEARKIT_OK);
    static answers b;
    search(&a, h, NULL);
    search(&b, copy, NULL);
    CHECK(same(&a, &b));
    CHECK_STATUS(nearkit_index_add(h, F32, base + 3000 * DIM, 40, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(copy, F32, base + 3000 * DIM, 40, NULL), NEARKIT_OK);
    search(&a, h, NULL);
    search(&b, copy, NULL);
    CHECK(same(&a, &b));
    /* corrupted coded sections */
    uint32_t head[4] = {NEARKIT_KIND_HNSW_SQ8, 1, 1, 0};
    expect_section(buf, size, "HCOD", head, sizeof head, "code format");
    uint32_t bad_flags[4] = {2, 7, 0, 0};
    expect_section(buf, size, "HCOD", bad_flags, sizeof bad_flags, "code header");
    float ranges[DIM];
    expect_section(buf, size, "HSQR", ranges, sizeof ranges, "short ranges");
    if (kept) {
        float *orig = calloc((size_t)(N + 80) * DIM, sizeof(float));
        orig[5] = NAN;
        expect_section(buf, size, "HORG", orig, (uint64_t)(N + 80) * DIM * sizeof(float), "a NaN original");
        expect_section(buf, size, "HORG", orig, 8, "short originals");
        free(orig);
    }
    uint8_t codes[DIM];
    expect_section(buf, size, "VECS", codes, sizeof codes, "fewer codes than nodes");
    nearkit_buffer_free(buf);
    /* compact drops the removed rows; the answers stay as good */
    CHECK_STATUS(nearkit_index_compact(h), NEARKIT_OK);
    CHECK(nearkit_index_count(h) == N - 400 + 120);
    search(&b, h, NULL);
    CHECK(recall(&b, &a) >= 0.9);
    CHECK(get_error(h) == worst);
    nearkit_index_free(copy);
    nearkit_index_free(h);
}

/* ---- bad input --------------------------------------------------------------------------------- */

static void test_bad_input(void) {
    check_metrics_refused(NEARKIT_KIND_HNSW_SQ8);
    check_metrics_refused(NEARKIT_KIND_HNSW_FP16);
    nearkit_kind kind = 0;
    CHECK_STATUS(nearkit_kind_from_name(&kind, "hnsw_sq8"), NEARKIT_OK);
    CHECK(kind == NEARKIT_KIND_HNSW_SQ8);
    CHECK_STATUS(nearkit_kind_from_name(&kind, "HNSW_SQ4"), NEARKIT_OK);
    CHECK(kind == NEARKIT_KIND_HNSW_SQ4);
    nearkit_index *ix = create(NEARKIT_KIND_HNSW_SQ8, NEARKIT_METRIC_L2, NULL);
    float bad[DIM] = {0};
    bad[3] = NAN;
    CHECK_STATUS(nearkit_index_train(ix, F32, bad, 1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, bad, 1, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    check_empty(ix);
    static answers a;
    /* a single vector trains degenerate ranges, still searchable */
    CHECK_STATUS(nearkit_index_add(ix, F32, base, 1, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, F32, base + DIM, 99, NULL), NEARKIT_OK);
    search(&a, ix, NULL);
    CHECK(a.ids[0] >= 0 && a.ids[0] < 100);
    nearkit_index_free(ix);
}

int main(void) {
    base = clustered(N + NQ, DIM, 30, 2.0f);
    queries = base + (size_t)N * DIM;
    test_recall();
    test_grid_reports_code_values();
    test_far_queries();
    test_refine();
    test_training();
    test_living("ef_construction=100");
    test_living("ef_construction=100,refine=2");
    test_bad_input();
    free(base);
    return check_summary("test_hnsw_codes");
}
