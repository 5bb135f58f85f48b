/* The IVF kinds' scan budget (max_codes), for every IVF kind and metric:
 *   - it is listed (integer, NEARKIT_PARAM_FLAG_RECALL_FINE, default 0) and the flat_* kinds,
 *     which probe nothing, do not have it;
 *   - 0 (the default) and a budget no query reaches answer as before, bit for bit;
 *   - a query scans exactly max_codes rows: a budget below k returns that many neighbours, and a
 *     budget of the nearest list's size (read off an nprobe 1 search that returns every row it
 *     scans) answers as nprobe 1 does, whatever nprobe is; the cut list's rows are its first;
 *   - the index's value, and a per-call override of it;
 *   - range search counts its rows the same way;
 *   - a batch (the grouped and sgemm paths where they apply) answers as its queries one by one,
 *     unfiltered and under an id list, a bitmap and a predicate;
 *   - under a filter the budget counts admitted rows and ends at a list's end: budget 1 returns
 *     the best admitted rows of the nearest list;
 *   - bad values (negative, NaN, huge, fractional) are refused with INVALID_ARGUMENT, on the
 *     index and per call. */
#include "nearkit.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#define SYNTHETIC_SEED 4242ull
#include "synthetic.h"

#define F32 NEARKIT_VECTOR_FLOAT32
#define BIN NEARKIT_VECTOR_BINARY
#define N 3000
#define NQ 40
#define D 32
#define BITS 128
#define NLIST 24
#define NPROBE 6

typedef struct setup {
    const char *label;
    nearkit_kind kind;
    nearkit_metric metric;
    const char *params;
} setup;

static const setup setups[] = {
    {"ivf_flat l2", NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, NULL},
    {"ivf_flat cosine", NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_COSINE, NULL},
    {"ivf_flat ip", NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_IP, NULL},
    {"ivf_binary", NEARKIT_KIND_IVF_BINARY, NEARKIT_METRIC_HAMMING, NULL},
    {"ivf_fp16", NEARKIT_KIND_IVF_FP16, NEARKIT_METRIC_L2, NULL},
    {"ivf_bf16 ip", NEARKIT_KIND_IVF_BF16, NEARKIT_METRIC_IP, NULL},
    {"ivf_sq8", NEARKIT_KIND_IVF_SQ8, NEARKIT_METRIC_L2, NULL},
    {"ivf_sq8 cosine refine", NEARKIT_KIND_IVF_SQ8, NEARKIT_METRIC_COSINE, "refine=2"},
    {"ivf_sq4", NEARKIT_KIND_IVF_SQ4, NEARKIT_METRIC_L2, NULL},
    {"ivf_pq", NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, "m=8"},
    {"ivf_pq nbits 4", NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, "m=16,nbits=4"},
    {"ivf_rabitq", NEARKIT_KIND_IVF_RABITQ, NEARKIT_METRIC_L2, NULL},
    {"ivf_rabitq ip refine", NEARKIT_KIND_IVF_RABITQ, NEARKIT_METRIC_IP, "refine=3"},
};

/* One IVF index of the setup over `data` (the first N rows), with nlist and nprobe fixed. */
static nearkit_index *make(const setup *s, const void *data, nearkit_vector_type type) {
    char params[128];
    snprintf(params, sizeof params, "nlist=%d,nprobe=%d%s%s", NLIST, NPROBE, s->params ? "," : "",
             s->params ? s->params : "");
    nearkit_index_options o;
    nearkit_index_options_init(&o);
    o.params = params;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, s->kind, s->metric, type == BIN ? BITS : D, &o), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, type, data, N, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    return ix;
}

/* A k-NN search (n queries) with up to two per-call parameters (name NULL: left out). */
typedef struct answer {
    int64_t *ids;
    float *dist;
} answer;

static answer search(const nearkit_index *ix, nearkit_vector_type type, const void *q, uint64_t n, uint64_t k,
                     const nearkit_filter *filter, const char *name1, double v1, const char *name2, double v2) {
    answer a = {malloc(n * k * sizeof(int64_t)), malloc(n * k * sizeof(float))};
    nearkit_param_value pv[2];
    size_t np = 0;
    if (name1) pv[np++] = (nearkit_param_value){name1, v1};
    if (name2) pv[np++] = (nearkit_param_value){name2, v2};
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.params = pv;
    so.n_params = np;
    so.filter = filter;
    CHECK_STATUS(nearkit_index_search(a.ids, a.dist, ix, type, q, n, k, &so), NEARKIT_OK);
    return a;
}

static void answer_free(answer a) {
    free(a.ids);
    free(a.dist);
}

static bool same(answer a, answer b, uint64_t n, uint64_t k) {
    return memcmp(a.ids, b.ids, n * k * sizeof(int64_t)) == 0 && memcmp(a.dist, b.dist, n * k * sizeof(float)) == 0;
}

static uint64_t found_in_row(answer a, uint64_t q, uint64_t k) {
    uint64_t found = 0;
    for (uint64_t j = 0; j < k; j++) found += a.ids[q * k + j] != -1;
    return found;
}

static bool row_contains(answer a, uint64_t q, uint64_t k, int64_t id) {
    for (uint64_t j = 0; j < k; j++)
        if (a.ids[q * k + j] == id) return true;
    return false;
}

static void test_described(const nearkit_index *ix, const char *label) {
    size_t count = nearkit_index_param_count(ix), found = 0;
    for (size_t i = 0; i < count; i++) {
        nearkit_param_info info = NEARKIT_PARAM_INFO_INIT;
        CHECK_STATUS(nearkit_index_param_describe(&info, ix, i), NEARKIT_OK);
        if (strcmp(info.name, "max_codes") != 0) continue;
        found++;
        CHECK(info.flags == (NEARKIT_PARAM_FLAG_INTEGER | NEARKIT_PARAM_FLAG_RECALL_FINE));
        CHECK(info.default_value == 0 && info.minimum == 0 && info.maximum >= 1e15);
        CHECK(info.description && strstr(info.description, "0: no limit"));
    }
    if (found != 1) fprintf(stderr, "%s: max_codes listed %zu times\n", label, found);
    CHECK(found == 1);
}

/* Budget 0 and a budget no query reaches leave every answer as it was. */
static void test_no_limit(const nearkit_index *ix, nearkit_vector_type type, const void *q) {
    answer plain = search(ix, type, q, NQ, 10, NULL, NULL, 0, NULL, 0);
    answer zero = search(ix, type, q, NQ, 10, NULL, "max_codes", 0, NULL, 0);
    answer huge = search(ix, type, q, NQ, 10, NULL, "max_codes", N, NULL, 0);
    CHECK(same(plain, zero, NQ, 10));
    CHECK(same(plain, huge, NQ, 10));
    answer_free(plain);
    answer_free(zero);
    answer_free(huge);
}

/* A query scans exactly the budget: below k it returns that many neighbours, and the nearest
 * list's size (what an nprobe 1 search returning every row shows) answers as nprobe 1. */
static void test_rows_scanned(const nearkit_index *ix, nearkit_vector_type type, const void *q, size_t qbytes,
                              const char *label) {
    answer five = search(ix, type, q, NQ, 10, NULL, "max_codes", 5, NULL, 0);
    bool all_five = true;
    for (uint64_t i = 0; i < NQ; i++) all_five &= found_in_row(five, i, 10) == 5;
    if (!all_five) fprintf(stderr, "%s: a budget of 5 did not return 5 neighbours\n", label);
    CHECK(all_five);
    answer_free(five);
    bool as_nprobe_1 = true, prefix = true;
    for (uint64_t i = 0; i < NQ; i++) {
        const uint8_t *qi = (const uint8_t *)q + i * qbytes;
        answer list = search(ix, type, qi, 1, N, NULL, "nprobe", 1, NULL, 0);
        uint64_t size = found_in_row(list, 0, N);
        answer one = search(ix, type, qi, 1, 10, NULL, "nprobe", 1, NULL, 0);
        answer cut = search(ix, type, qi, 1, 10, NULL, "max_codes", (double)size, NULL, 0);
        as_nprobe_1 &= same(one, cut, 1, 10);
        /* a budget one past the list: every row of it and exactly one more */
        answer more = search(ix, type, qi, 1, N, NULL, "max_codes", (double)size + 1, NULL, 0);
        prefix &= found_in_row(more, 0, N) == size + 1;
        for (uint64_t j = 0; j < size; j++) prefix &= row_contains(more, 0, N, list.ids[j]);
        answer_free(list);
        answer_free(one);
        answer_free(cut);
        answer_free(more);
    }
    if (!as_nprobe_1 || !prefix) fprintf(stderr, "%s: the nearest list's budget differs from nprobe 1\n", label);
    CHECK(as_nprobe_1);
    CHECK(prefix);
}

/* The index's value is used unless the call overrides it. */
static void test_index_value(nearkit_index *ix, nearkit_vector_type type, const void *q) {
    CHECK_STATUS(nearkit_index_set_param(ix, "max_codes", 3), NEARKIT_OK);
    double got = -1;
    CHECK_STATUS(nearkit_index_get_param(&got, ix, "max_codes"), NEARKIT_OK);
    CHECK(got == 3);
    answer held = search(ix, type, q, NQ, 10, NULL, NULL, 0, NULL, 0);
    answer lifted = search(ix, type, q, NQ, 10, NULL, "max_codes", 0, NULL, 0);
    bool three = true, ten = true;
    for (uint64_t i = 0; i < NQ; i++) {
        three &= found_in_row(held, i, 10) == 3;
        ten &= found_in_row(lifted, i, 10) == 10;
    }
    CHECK(three && ten);
    answer_free(held);
    answer_free(lifted);
    CHECK_STATUS(nearkit_index_set_param(ix, "max_codes", 0), NEARKIT_OK);
}

static void test_range(const nearkit_index *ix, nearkit_vector_type type, const void *q) {
    nearkit_param_value pv = {"max_codes", 7};
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.params = &pv;
    so.n_params = 1;
    nearkit_range_result *r = NULL;
    CHECK_STATUS(nearkit_index_range_search(&r, ix, type, q, NQ, 1e30f, &so), NEARKIT_OK);
    const uint64_t *offsets = NULL;
    CHECK_STATUS(nearkit_range_result_get(&offsets, NULL, NULL, r), NEARKIT_OK);
    bool seven = true;
    for (uint64_t i = 0; i < NQ; i++) seven &= offsets[i + 1] - offsets[i] == 7;
    CHECK(seven);
    nearkit_range_result_free(r);
}

static int32_t odd_ids(void *context, int64_t id) {
    (void)context;
    return (int32_t)(id & 1);
}

/* A batch answers as its queries one by one, for budgets that cut lists, with and without
 * filters of each type. The id list and the bitmap admit most rows: a filter admitting few is
 * answered exactly over the gathered rows where that pays, which a batch (the gathering shared
 * by its queries) reaches sooner than one query, budget or not. */
static void test_batch(const nearkit_index *ix, nearkit_vector_type type, const void *q, size_t qbytes,
                       const char *label) {
    static int64_t most[N];
    static uint8_t bits[N / 8 + 1];
    uint64_t listed = 0;
    for (int64_t i = 0; i < N; i++)
        if (i % 10) most[listed++] = i;
    for (int i = 0; i < N; i++)
        if (i % 7) bits[i / 8] |= (uint8_t)(1u << (i % 8));
    nearkit_filter filters[4] = {NEARKIT_FILTER_INIT, NEARKIT_FILTER_INIT, NEARKIT_FILTER_INIT, NEARKIT_FILTER_INIT};
    filters[1].type = NEARKIT_FILTER_IDS;
    filters[1].ids = most;
    filters[1].n_ids = listed;
    filters[2].type = NEARKIT_FILTER_BITMAP;
    filters[2].bitmap = bits;
    filters[2].bitmap_bits = N;
    filters[3].type = NEARKIT_FILTER_PREDICATE;
    filters[3].predicate = odd_ids;
    const double budgets[] = {1, 37, 150};
    for (size_t f = 0; f < 4; f++) {
        for (size_t b = 0; b < 3; b++) {
            const nearkit_filter *filter = f ? &filters[f] : NULL;
            answer batch = search(ix, type, q, NQ, 10, filter, "max_codes", budgets[b], NULL, 0);
            bool equal = true;
            for (uint64_t i = 0; i < NQ; i++) {
                answer alone = search(ix, type, (const uint8_t *)q + i * qbytes, 1, 10, filter, "max_codes",
                                      budgets[b], NULL, 0);
                equal &= memcmp(alone.ids, batch.ids + i * 10, 10 * sizeof(int64_t)) == 0;
                equal &= memcmp(alone.dist, batch.dist + i * 10, 10 * sizeof(float)) == 0;
                answer_free(alone);
            }
            if (!equal)
                fprintf(stderr, "%s: filter %zu, budget %g: batch differs from one by one\n", label, f, budgets[b]);
            CHECK(equal);
            answer_free(batch);
        }
    }
}

/* Under a filter the budget counts admitted rows and a list ends whole: budget 1 scans the
 * nearest list alone (it admits more than k), so the answer is its best admitted rows (without
 * a re-rank, which would choose among other candidates than an nprobe 1 search of every row). */
static void test_filtered(const nearkit_index *ix, nearkit_vector_type type, const void *q, size_t qbytes,
                          const char *label) {
    nearkit_filter odd = NEARKIT_FILTER_INIT;
    odd.type = NEARKIT_FILTER_PREDICATE;
    odd.predicate = odd_ids;
    bool nearest_list = true;
    for (uint64_t i = 0; i < NQ; i++) {
        const uint8_t *qi = (const uint8_t *)q + i * qbytes;
        answer list = search(ix, type, qi, 1, N, NULL, "nprobe", 1, NULL, 0); /* nearest first */
        if (found_in_row(list, 0, N) < 40) { /* too few admitted for a clear expectation */
            answer_free(list);
            continue;
        }
        answer got = search(ix, type, qi, 1, 10, &odd, "max_codes", 1, NULL, 0);
        uint64_t j = 0; /* distances, not ids: equal ones may come in either order */
        for (uint64_t r = 0; r < N && list.ids[r] != -1 && j < 10; r++)
            if (list.ids[r] & 1) nearest_list &= got.dist[j++] == list.dist[r];
        answer_free(list);
        answer_free(got);
    }
    if (!nearest_list) fprintf(stderr, "%s: a filtered budget of 1 left the nearest list\n", label);
    CHECK(nearest_list);
}

static void test_bad_values(nearkit_index *ix, nearkit_vector_type type, const void *q) {
    const double bad[] = {-1, NAN, 1e300, INFINITY, 2.5};
    int64_t ids[10];
    float dist[10];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(nearkit_index_set_param(ix, "max_codes", bad[i]), NEARKIT_ERR_INVALID_ARGUMENT);
        nearkit_param_value pv = {"max_codes", bad[i]};
        nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
        so.params = &pv;
        so.n_params = 1;
        CHECK_STATUS(nearkit_index_search(ids, dist, ix, type, q, 1, 10, &so), NEARKIT_ERR_INVALID_ARGUMENT);
    }
    double got = -1;
    CHECK_STATUS(nearkit_index_get_param(&got, ix, "max_codes"), NEARKIT_OK);
    CHECK(got == 0);
}

static void test_flat_codes_have_none(void) {
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT_FP16, NEARKIT_METRIC_L2, D, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "max_codes", 10), NEARKIT_ERR_NOT_FOUND);
    nearkit_index_free(ix);
}

/* n packed codes of BITS bits around a few centres, so that the lists differ in size. */
static uint8_t *clustered_codes(uint64_t n) {
    const size_t bytes = BITS / 8;
    uint8_t centres[12][BITS / 8], *x = malloc((size_t)n * bytes);
    for (size_t c = 0; c < 12; c++)
        for (size_t j = 0; j < bytes; j++) centres[c][j] = (uint8_t)(urand() * 256);
    for (uint64_t i = 0; i < n; i++) {
        size_t c = (size_t)(urand() * 12);
        for (size_t j = 0; j < bytes; j++) {
            uint8_t b = centres[c][j];
            for (int bit = 0; bit < 8; bit++)
                if (urand() < 0.2) b ^= (uint8_t)(1u << bit);
            x[i * bytes + j] = b;
        }
    }
    return x;
}

int main(void) {
    float *x = clustered(N + NQ, D, 12, 4.0f);
    uint8_t *codes = clustered_codes(N + NQ);
    for (size_t i = 0; i < sizeof setups / sizeof setups[0]; i++) {
        const setup *s = &setups[i];
        bool binary = s->kind == NEARKIT_KIND_IVF_BINARY;
        nearkit_vector_type type = binary ? BIN : F32;
        const void *data = binary ? (const void *)codes : (const void *)x;
        size_t qbytes = binary ? BITS / 8 : D * sizeof(float);
        const void *q = (const uint8_t *)data + (size_t)N * qbytes;
        nearkit_index *ix = make(s, data, type);
        test_described(ix, s->label);
        test_no_limit(ix, type, q);
        test_rows_scanned(ix, type, q, qbytes, s->label);
        test_index_value(ix, type, q);
        test_range(ix, type, q);
        test_batch(ix, type, q, qbytes, s->label);
        if (!s->params || !strstr(s->params, "refine")) test_filtered(ix, type, q, qbytes, s->label);
        test_bad_values(ix, type, q);
        nearkit_index_free(ix);
    }
    test_flat_codes_have_none();
    free(x);
    free(codes);
    return check_summary("test_ivf_max_codes");
}
