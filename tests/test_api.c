/* The C API as a contract: every misuse returns an error with a message, never a crash. */
#include "nearkit.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static nearkit_index *make_flat(nearkit_metric metric, uint32_t dim) {
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, metric, dim, NULL), NEARKIT_OK);
    return ix;
}

static void test_versions_and_names(void) {
    CHECK(strcmp(nearkit_version_string(), NEARKIT_VERSION_STRING) == 0);
    CHECK(nearkit_version_number() == NEARKIT_VERSION_NUMBER);
    CHECK(nearkit_abi_version() == NEARKIT_ABI_VERSION);
    CHECK(strcmp(nearkit_status_name(NEARKIT_ERR_CORRUPT), "CORRUPT") == 0);
    CHECK(strcmp(nearkit_status_name(12345), "UNKNOWN") == 0);
    CHECK(nearkit_last_error_message() != NULL);
    nearkit_metric m;
    CHECK_STATUS(nearkit_metric_from_name(&m, "Euclidean"), NEARKIT_OK);
    CHECK(m == NEARKIT_METRIC_L2);
    CHECK_STATUS(nearkit_metric_from_name(&m, "chebyshev"), NEARKIT_OK);
    CHECK(m == NEARKIT_METRIC_LINF);
    CHECK_STATUS(nearkit_metric_from_name(&m, "nope"), NEARKIT_ERR_NOT_FOUND);
    CHECK_STATUS(nearkit_metric_from_name(NULL, "l2"), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(nearkit_metric_name(99) == NULL);
    CHECK(strcmp(nearkit_metric_name(NEARKIT_METRIC_HAMMING), "hamming") == 0);
    nearkit_kind k;
    CHECK_STATUS(nearkit_kind_from_name(&k, "FLAT"), NEARKIT_OK);
    CHECK(k == NEARKIT_KIND_FLAT);
    CHECK_STATUS(nearkit_kind_from_name(&k, "nope"), NEARKIT_ERR_NOT_FOUND);
    CHECK(nearkit_kind_count() >= 1);
    nearkit_kind_info info = NEARKIT_KIND_INFO_INIT;
    CHECK_STATUS(nearkit_kind_get_info(&info, 0), NEARKIT_OK);
    CHECK(info.name && info.description && info.metric_mask != 0);
    CHECK_STATUS(nearkit_kind_get_info(&info, nearkit_kind_count()), NEARKIT_ERR_INVALID_ARGUMENT);
    info.struct_size = 2;
    CHECK_STATUS(nearkit_kind_get_info(&info, 0), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_kind_get_info(NULL, 0), NEARKIT_ERR_INVALID_ARGUMENT);
}

static void test_create_errors(void) {
    nearkit_index *ix = (nearkit_index *)1;
    CHECK_STATUS(nearkit_index_create(NULL, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_create(&ix, 999, NEARKIT_METRIC_L2, 4, NULL), NEARKIT_ERR_NOT_FOUND);
    CHECK(ix == NULL);
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, 77, 4, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 0, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_HAMMING, 12, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_index_options o;
    CHECK_STATUS(nearkit_index_options_init(&o), NEARKIT_OK);
    CHECK(o.struct_size == sizeof o && o.num_threads == 0 && o.seed == 42 && o.params == NULL);
    CHECK_STATUS(nearkit_index_options_init(NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    o.params = "nosuch=3";
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, &o), NEARKIT_ERR_NOT_FOUND);
    o.params = "num_threads";
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, &o),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    o.params = "num_threads=x";
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, &o),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    o.params = " num_threads=3, ";
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, &o), NEARKIT_OK);
    double v = 0;
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "num_threads"), NEARKIT_OK);
    CHECK(v == 3);
    nearkit_index_free(ix);
    o.params = NULL;
    o.struct_size = 0;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, &o),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_index_free(NULL);
    nearkit_range_result_free(NULL);
    nearkit_buffer_free(NULL);
    nearkit_string_free(NULL);
}

static void test_add_search_errors(void) {
    nearkit_index *ix = make_flat(NEARKIT_METRIC_L2, 3);
    float v[9] = {0, 0, 0, 1, 0, 0, 0, 2, 0};
    int64_t ids[3];
    float dist[3];
    CHECK_STATUS(nearkit_index_add(NULL, NEARKIT_VECTOR_FLOAT32, v, 3, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, NULL, 3, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, v, 3, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_add(ix, 42, v, 3, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, 0, NULL), NEARKIT_OK);
    float bad[3] = {0, NAN, 0};
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, bad, 1, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nearkit_last_error_message(), "NaN") != NULL);
    bad[1] = INFINITY;
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, bad, 1, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    int64_t minus_one = -1;
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, 1, &minus_one), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(nearkit_index_count(ix) == 0);

    /* empty index: every result is missing */
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, v, 1, 3, NULL), NEARKIT_OK);
    CHECK(ids[0] == -1 && ids[2] == -1 && isinf(dist[1]));

    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, 3, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, v, 1, 0, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_search(NULL, dist, ix, NEARKIT_VECTOR_FLOAT32, v, 1, 1, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_search(ids, dist, NULL, NEARKIT_VECTOR_FLOAT32, v, 1, 1, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, bad, 1, 1, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, v, UINT64_MAX / 2, 4, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_search_options so = {0};
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, v, 1, 1, &so),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_search_options_init(&so), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, v + 3, 1, 3, &so), NEARKIT_OK);
    CHECK(ids[0] == 1 && dist[0] == 0.0f);
    CHECK(ids[1] == 0 && dist[1] == 1.0f);
    CHECK(ids[2] == 2 && fabsf(dist[2] - sqrtf(5.0f)) < 1e-6f);

    /* k larger than the count pads with -1 / +inf */
    int64_t ids5[5];
    float dist5[5];
    CHECK_STATUS(nearkit_index_search(ids5, dist5, ix, NEARKIT_VECTOR_FLOAT32, v, 1, 5, NULL), NEARKIT_OK);
    CHECK(ids5[2] == 2 && ids5[3] == -1 && ids5[4] == -1 && isinf(dist5[4]));
    /* a huge k with a tiny index must not allocate k-sized memory: the caller's buffer bounds it */

    nearkit_range_result *r = NULL;
    CHECK_STATUS(nearkit_index_range_search(&r, ix, NEARKIT_VECTOR_FLOAT32, v, 1, NAN, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_range_search(NULL, ix, NEARKIT_VECTOR_FLOAT32, v, 1, 1, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_range_search(&r, ix, NEARKIT_VECTOR_FLOAT32, v, 3, 1.0f, NULL), NEARKIT_OK);
    const uint64_t *off;
    const int64_t *rid;
    const float *rd;
    CHECK(nearkit_range_result_query_count(r) == 3);
    CHECK_STATUS(nearkit_range_result_get(&off, &rid, &rd, r), NEARKIT_OK);
    CHECK(off[0] == 0 && off[1] == 2 && rid[0] == 0 && rid[1] == 1 && rd[1] == 1.0f);
    CHECK(off[3] - off[2] == 1 && rid[off[2]] == 2);
    nearkit_range_result_free(r);
    CHECK_STATUS(nearkit_range_result_get(&off, &rid, &rd, NULL), NEARKIT_ERR_INVALID_ARGUMENT);

    /* parameters */
    double value;
    CHECK(nearkit_index_param_count(ix) >= 1);
    const char *name;
    uint32_t flags;
    CHECK_STATUS(nearkit_index_param_info(&name, &flags, ix, 0), NEARKIT_OK);
    CHECK(strcmp(name, "num_threads") == 0);
    CHECK_STATUS(nearkit_index_param_info(&name, &flags, ix, 1000), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_get_param(&value, ix, "nosuch"), NEARKIT_ERR_NOT_FOUND);
    CHECK_STATUS(nearkit_index_set_param(ix, "num_threads", NAN), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "num_threads", 1.5), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "num_threads", -1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "num_threads", 2), NEARKIT_OK);

    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && strstr(text, "flat") != NULL);
    nearkit_string_free(text);
    CHECK(nearkit_index_memory_bytes(ix) >= 36);
    CHECK(nearkit_index_is_ready(ix) == 1 && nearkit_index_is_ready(NULL) == 0);
    CHECK(nearkit_index_count(NULL) == 0 && nearkit_index_dimension(ix) == 3);
    CHECK(nearkit_index_vector_bytes(ix) == 12);
    nearkit_index_free(ix);
}

static void test_custom_ids_and_metrics(void) {
    nearkit_index *ix = make_flat(NEARKIT_METRIC_COSINE, 2);
    float v[6] = {1, 0, 0, 2, 0, 0};
    int64_t my_ids[3] = {100, 7, 55};
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, 3, my_ids), NEARKIT_OK);
    int64_t ids[3];
    float dist[3];
    float q[2] = {3, 0};
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, q, 1, 3, NULL), NEARKIT_OK);
    /* the zero vector is orthogonal to all (distance 1), tied with the orthogonal (0, 2) */
    CHECK(ids[0] == 100 && fabsf(dist[0]) < 1e-6f);
    CHECK(ids[1] == 7 && ids[2] == 55 && fabsf(dist[1] - 1) < 1e-6f && fabsf(dist[2] - 1) < 1e-6f);
    nearkit_index_free(ix);

    ix = make_flat(NEARKIT_METRIC_HAMMING, 16);
    uint8_t codes[6] = {0x00, 0x00, 0xFF, 0x00, 0x0F, 0x01};
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, codes, 3, NULL), NEARKIT_OK);
    uint8_t query[2] = {0x01, 0x00};
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_BINARY, query, 1, 3, NULL), NEARKIT_OK);
    CHECK(ids[0] == 0 && dist[0] == 1 && ids[1] == 2 && dist[1] == 4 && ids[2] == 1 && dist[2] == 7);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, query, 1, 3, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_index_free(ix);

    ix = make_flat(NEARKIT_METRIC_IP, 2);
    float w[4] = {1, 1, 3, 0};
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, w, 2, NULL), NEARKIT_OK);
    float qi[2] = {1, 0};
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, qi, 1, 2, NULL), NEARKIT_OK);
    CHECK(ids[0] == 1 && dist[0] == -3.0f && ids[1] == 0 && dist[1] == -1.0f);
    nearkit_index_free(ix);
}

/* Positions where searching each query alone differs from the batch's row (ids or distances). */
static int batch_mismatches(const nearkit_index *ix, nearkit_vector_type type, const void *queries,
                            size_t query_bytes, size_t nq, size_t k, const int64_t *batch_ids,
                            const float *batch_dist) {
    int64_t one_ids[16];
    float one_dist[16];
    int mismatches = 0;
    for (size_t q = 0; q < nq && k <= 16; q++) {
        CHECK_STATUS(nearkit_index_search(one_ids, one_dist, ix, type, (const uint8_t *)queries + q * query_bytes,
                                          1, k, NULL), NEARKIT_OK);
        for (size_t j = 0; j < k; j++)
            if (one_ids[j] != batch_ids[q * k + j] || one_dist[j] != batch_dist[q * k + j]) mismatches++;
    }
    return k <= 16 ? mismatches : -1;
}

/* Every path of the flat index (GEMM batches, SIMD kernels, single queries, threads) agrees. */
static void test_paths_agree(void) {
    enum { N = 3000, D = 40, Q = 50, K = 7 };
    static float base[N * D], queries[Q * D];
    uint64_t s = 12345;
    for (size_t i = 0; i < N * D; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        base[i] = (float)((s >> 40) % 17); /* small integers: many exact ties */
    }
    memcpy(queries, base, sizeof queries);
    nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_IP, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_L1};
    for (size_t m = 0; m < 4; m++) {
        nearkit_index *ix = make_flat(metrics[m], D);
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, base, N, NULL), NEARKIT_OK);
        static int64_t batch_ids[Q * K];
        static float batch_dist[Q * K];
        nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
        so.num_threads = 2;
        CHECK_STATUS(nearkit_index_search(batch_ids, batch_dist, ix, NEARKIT_VECTOR_FLOAT32, queries, Q, K, &so),
                     NEARKIT_OK);
        int mismatches = batch_mismatches(ix, NEARKIT_VECTOR_FLOAT32, queries, D * sizeof(float), Q, K,
                                          batch_ids, batch_dist);
        CHECK(mismatches == 0);
        if (mismatches) fprintf(stderr, "metric %s: %d mismatches\n", nearkit_metric_name(metrics[m]), mismatches);
        nearkit_index_free(ix);
    }
}

/* Hamming batches (codes packed into panels, block by block) agree with single queries (rows
 * scanned directly): codes of 24 bytes, two blocks, a last panel of one code, many ties. */
static void test_hamming_paths_agree(void) {
    enum { N = 12003, B = 24, Q = 37, K = 9 };
    static uint8_t base[N * B], queries[Q * B];
    uint64_t s = 777;
    for (size_t i = 0; i < N * B; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        base[i] = (uint8_t)((s >> 33) & 0x13); /* few distinct bits: many exact ties */
    }
    memcpy(queries, base + 5 * B, sizeof queries);
    nearkit_index *ix = make_flat(NEARKIT_METRIC_HAMMING, B * 8);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, base, N, NULL), NEARKIT_OK);
    static int64_t batch_ids[Q * K];
    static float batch_dist[Q * K];
    for (uint32_t threads = 1; threads <= 2; threads++) {
        nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
        so.num_threads = threads;
        CHECK_STATUS(nearkit_index_search(batch_ids, batch_dist, ix, NEARKIT_VECTOR_BINARY, queries, Q, K, &so),
                     NEARKIT_OK);
        CHECK(batch_mismatches(ix, NEARKIT_VECTOR_BINARY, queries, B, Q, K, batch_ids, batch_dist) == 0);
        CHECK(batch_dist[0] == 0.0f); /* query 0 is stored code 5 */
    }
    nearkit_index_free(ix);
}

/* A caller compiled against an older, shorter nearkit_index_options (only struct_size and
 * num_threads) still works: the library reads no byte past struct_size. */
typedef struct options_v0 {
    uint32_t struct_size;
    uint32_t num_threads;
} options_v0;

typedef struct kind_info_v0 {
    uint32_t struct_size;
    int32_t kind;
    const char *name;
} kind_info_v0;

static void test_older_struct_layouts(void) {
    /* the old struct is followed by bytes that would be a wild `params` pointer if read */
    struct {
        options_v0 old;
        uint64_t poison[4];
    } caller = {{sizeof(options_v0), 3}, {0xDEADBEEFDEADBEEFull, 0xDEADBEEFDEADBEEFull, 0xDEADBEEFDEADBEEFull,
                                          0xDEADBEEFDEADBEEFull}};
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 2,
                                      (const nearkit_index_options *)&caller.old),
                 NEARKIT_OK);
    double v = 0;
    CHECK_STATUS(nearkit_index_get_param(&v, ix, "num_threads"), NEARKIT_OK);
    CHECK(v == 3);
    nearkit_index_free(ix);

    struct {
        kind_info_v0 old;
        uint64_t guard[4];
    } info = {{sizeof(kind_info_v0), 0, NULL}, {1, 2, 3, 4}};
    CHECK_STATUS(nearkit_kind_get_info((nearkit_kind_info *)&info.old, 0), NEARKIT_OK);
    CHECK(info.old.name != NULL && info.guard[0] == 1 && info.guard[3] == 4);

    /* a parameter description of an older, shorter layout: name and flags only */
    struct {
        struct {
            uint32_t struct_size;
            const char *name;
            uint32_t flags;
        } old;
        uint64_t guard[4];
    } param = {{sizeof param.old, NULL, 0}, {1, 2, 3, 4}};
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 2, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_param_describe((nearkit_param_info *)&param.old, ix, 0), NEARKIT_OK);
    CHECK(param.old.name && strcmp(param.old.name, "num_threads") == 0);
    CHECK(param.guard[0] == 1 && param.guard[3] == 4);
    nearkit_index_free(ix);

    /* search options of the current layout's minimum size */
    struct {
        uint32_t struct_size;
    } so = {sizeof(uint32_t)};
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 2, NULL), NEARKIT_OK);
    float x[2] = {1, 2};
    int64_t id;
    float d;
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, x, 1, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_search(&id, &d, ix, NEARKIT_VECTOR_FLOAT32, x, 1, 1,
                                      (const nearkit_search_options *)&so),
                 NEARKIT_OK);
    CHECK(id == 0 && d == 0);
    nearkit_index_free(ix);
}

/* Every parameter of every kind is described: a one-line description, a range, and (settable
 * ones) a default that is what a new index reports and lies in the range. */
static void test_param_descriptions(void) {
    for (size_t i = 0; i < nearkit_kind_count(); i++) {
        nearkit_kind_info kind = NEARKIT_KIND_INFO_INIT;
        CHECK_STATUS(nearkit_kind_get_info(&kind, i), NEARKIT_OK);
        nearkit_metric metric = NEARKIT_METRIC_HAMMING;
        for (nearkit_metric m = 0; m < 32; m++)
            if (kind.metric_mask & (1u << m)) {
                metric = m;
                break;
            }
        nearkit_index *ix = NULL;
        CHECK_STATUS(nearkit_index_create(&ix, kind.kind, metric, 64, NULL), NEARKIT_OK);
        if (!ix) continue;
        size_t recall_settings = 0;
        for (size_t p = 0; p < nearkit_index_param_count(ix); p++) {
            nearkit_param_info info = NEARKIT_PARAM_INFO_INIT;
            CHECK_STATUS(nearkit_index_param_describe(&info, ix, p), NEARKIT_OK);
            const char *name;
            uint32_t flags;
            CHECK_STATUS(nearkit_index_param_info(&name, &flags, ix, p), NEARKIT_OK);
            CHECK(info.name && strcmp(info.name, name) == 0 && info.flags == flags);
            CHECK(info.description && strlen(info.description) > 10);
            CHECK(info.minimum <= info.maximum);
            /* the recall setting is a runtime one: tuned and swept on a built index */
            if (flags & NEARKIT_PARAM_FLAG_RECALL) {
                recall_settings++;
                CHECK(!(flags & (NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_BUILD)));
            }
            CHECK(!(flags & NEARKIT_PARAM_FLAG_FROM_K) || (flags & NEARKIT_PARAM_FLAG_RECALL));
            if (flags & NEARKIT_PARAM_FLAG_READ_ONLY) {
                CHECK(isnan(info.default_value));
                continue;
            }
            double now = NAN;
            CHECK_STATUS(nearkit_index_get_param(&now, ix, name), NEARKIT_OK);
            if (now != info.default_value)
                fprintf(stderr, "  %s.%s: default %g, new index %g\n", kind.name, name,
                        info.default_value, now);
            CHECK(now == info.default_value);
            CHECK(info.minimum <= info.default_value && info.default_value <= info.maximum);
        }
        /* at most one; every kind searching a subset of its candidates (ivf_*, hnsw*, rpforest)
         * has it, so that nearkit_index_tune and `nearkit bench --sweep` work on each */
        const int partial = strncmp(kind.name, "ivf", 3) == 0 ||
                             strncmp(kind.name, "hnsw", 4) == 0 || strcmp(kind.name, "rpforest") == 0;
        if (recall_settings != (partial ? 1u : 0u))
            fprintf(stderr, "  %s: %zu recall settings\n", kind.name, recall_settings);
        CHECK(recall_settings == (partial ? 1u : 0u));
        nearkit_param_info info = NEARKIT_PARAM_INFO_INIT;
        CHECK_STATUS(nearkit_index_param_describe(&info, ix, nearkit_index_param_count(ix)),
                     NEARKIT_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(nearkit_index_param_describe(NULL, ix, 0), NEARKIT_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(nearkit_index_param_describe(&info, NULL, 0), NEARKIT_ERR_INVALID_ARGUMENT);
        info.struct_size = 4;
        CHECK_STATUS(nearkit_index_param_describe(&info, ix, 0), NEARKIT_ERR_INVALID_ARGUMENT);
        nearkit_index_free(ix);
    }
}

/* The IEEE binary16 pattern of f, for values a half holds exactly (zero and normal halves). */
static uint16_t exact_half(float f) {
    if (f == 0.0f) return 0;
    int e;
    float m = frexpf(fabsf(f), &e); /* |f| = m 2^e, m in [0.5, 1) */
    uint16_t mantissa = (uint16_t)((m * 2.0f - 1.0f) * 1024.0f);
    return (uint16_t)((f < 0 ? 0x8000u : 0u) | (uint16_t)(e - 1 + 15) << 10 | mantissa);
}

/* float16 input: converted once, so a float index given halves answers exactly as given the same
 * values as float32; refused where the index is binary, and NaN / infinity as for float32. */
static void test_float16_input(void) {
    enum { N = 200, D = 8, Q = 5, K = 4 };
    float x[N * D];
    uint16_t h[N * D];
    for (int i = 0; i < N * D; i++) {
        x[i] = (float)((i * 7919) % 33 - 16) * 0.125f;
        h[i] = exact_half(x[i]);
    }
    const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        nearkit_index *a = make_flat(metrics[m], D), *b = make_flat(metrics[m], D);
        CHECK_STATUS(nearkit_index_add(a, NEARKIT_VECTOR_FLOAT16, h, N, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(b, NEARKIT_VECTOR_FLOAT32, x, N, NULL), NEARKIT_OK);
        CHECK(nearkit_index_vector_type(a) == NEARKIT_VECTOR_FLOAT32);
        int64_t ia[Q * K], ib[Q * K];
        float da[Q * K], db[Q * K];
        CHECK_STATUS(nearkit_index_search(ia, da, a, NEARKIT_VECTOR_FLOAT16, h + 3 * D, Q, K, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_search(ib, db, b, NEARKIT_VECTOR_FLOAT32, x + 3 * D, Q, K, NULL), NEARKIT_OK);
        CHECK(memcmp(ia, ib, sizeof ia) == 0 && memcmp(da, db, sizeof da) == 0);
        float back[D];
        uint8_t found = 0;
        int64_t id = 7;
        CHECK_STATUS(nearkit_index_get(back, &found, a, &id, 1), NEARKIT_OK);
        if (metrics[m] == NEARKIT_METRIC_L2) CHECK(found && memcmp(back, x + 7 * D, sizeof back) == 0);
        nearkit_index_free(a);
        nearkit_index_free(b);
    }
    /* training takes halves too */
    nearkit_index *ivf = NULL;
    CHECK_STATUS(nearkit_index_create(&ivf, NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, D, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ivf, "nlist", 4), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_train(ivf, NEARKIT_VECTOR_FLOAT16, h, N), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ivf, NEARKIT_VECTOR_FLOAT16, h, N, NULL), NEARKIT_OK);
    CHECK(nearkit_index_count(ivf) == N);
    nearkit_index_free(ivf);

    nearkit_index *ix = make_flat(NEARKIT_METRIC_L2, D);
    uint16_t bad[D] = {0};
    bad[2] = 0x7e00; /* NaN */
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT16, bad, 1, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nearkit_last_error_message(), "NaN") != NULL);
    bad[2] = 0xfc00; /* -infinity */
    int64_t ids[1];
    float dist[1];
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT16, bad, 1, 1, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nearkit_last_error_message(), "infinity") != NULL);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT16, NULL, 1, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(nearkit_index_count(ix) == 0);
    nearkit_index_free(ix);

    nearkit_index *bin = make_flat(NEARKIT_METRIC_HAMMING, 64);
    CHECK_STATUS(nearkit_index_add(bin, NEARKIT_VECTOR_FLOAT16, h, 1, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nearkit_last_error_message(), "float16") != NULL);
    nearkit_index_free(bin);
}

/* NEARKIT_KIND_FLAG_COMPRESSED means what it says: every float kind that sets it holds a vector in
 * fewer bytes than the vector (originals dropped, refine 0), and every one that does not holds at
 * least the vector. */
static void test_compressed_flag_means_smaller(void) {
    enum { N = 2048, DIM = 256 }; /* codes and a graph's links together stay below 4 * DIM */
    float *x = malloc((size_t)N * DIM * sizeof *x);
    CHECK(x != NULL);
    if (!x) return;
    uint64_t state = 12345;
    for (size_t i = 0; i < (size_t)N * DIM; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(state >> 40) / (float)(1u << 24) + (float)(i / DIM % 16);
    }
    const uint64_t raw = (uint64_t)N * DIM * sizeof(float);
    for (size_t i = 0; i < nearkit_kind_count(); i++) {
        nearkit_kind_info kind = NEARKIT_KIND_INFO_INIT;
        CHECK_STATUS(nearkit_kind_get_info(&kind, i), NEARKIT_OK);
        if (!(kind.metric_mask & (1u << NEARKIT_METRIC_L2))) continue;
        nearkit_index *ix = NULL;
        CHECK_STATUS(nearkit_index_create(&ix, kind.kind, NEARKIT_METRIC_L2, DIM, NULL), NEARKIT_OK);
        if (!ix) continue;
        (void)nearkit_index_set_param(ix, "refine", 0.0); /* kinds without it refuse; fine */
        (void)nearkit_index_set_param(ix, "nlist", 16.0);
        if (kind.flags & NEARKIT_KIND_FLAG_NEEDS_TRAINING)
            CHECK_STATUS(nearkit_index_train(ix, NEARKIT_VECTOR_FLOAT32, x, N), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, x, N, NULL), NEARKIT_OK);
        if (kind.flags & NEARKIT_KIND_FLAG_NEEDS_BUILD) CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        uint64_t bytes = nearkit_index_memory_bytes(ix);
        if (kind.flags & NEARKIT_KIND_FLAG_COMPRESSED) {
            if (bytes >= raw) fprintf(stderr, "  %s: compressed, yet %llu bytes\n", kind.name, (unsigned long long)bytes);
            CHECK(bytes < raw);
        } else {
            if (bytes < raw) fprintf(stderr, "  %s: not compressed, yet %llu bytes\n", kind.name, (unsigned long long)bytes);
            CHECK(bytes >= raw);
        }
        nearkit_index_free(ix);
    }
    free(x);
}

int main(void) {
    test_versions_and_names();
    test_compressed_flag_means_smaller();
    test_param_descriptions();
    test_create_errors();
    test_add_search_errors();
    test_custom_ids_and_metrics();
    test_paths_agree();
    test_hamming_paths_agree();
    test_older_struct_layouts();
    test_float16_input();
    return check_summary("test_api");
}
