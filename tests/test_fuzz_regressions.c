/* Inputs the fuzz harnesses (tests/fuzz) found to crash or break a promise of the header, each
 * kept as a test so the defect stays fixed. Every case names the harness that found it. The
 * sanitizer build (c.test_fuzz_regressions_asan) is the one that sees the undefined behaviour. */
#include "nearkit.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz/fuzz_crc.h"

/* The body of the section `tag` in a saved image (docs/format.md), or NULL. */
static uint8_t *find_section(uint8_t *image, size_t size, const char tag[4]) {
    uint32_t header_bytes, sections;
    memcpy(&header_bytes, image + 12, 4);
    memcpy(&sections, image + 52, 4);
    size_t at = 16 + header_bytes;
    for (uint32_t i = 0; i < sections && at + 16 <= size; i++) {
        uint64_t length;
        uint32_t pad; /* format 2: zero bytes before the body */
        memcpy(&pad, image + at + 4, 4);
        memcpy(&length, image + at + 8, 8);
        if (memcmp(image + at, tag, 4) == 0) return image + at + 16 + pad;
        at += 16 + pad + (size_t)length;
    }
    return NULL;
}

/* Loads bytes, then saves and loads the result again. */
static void load_and_reload(const uint8_t *data, size_t size, nearkit_status expected) {
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&ix, data, size), expected);
    if (!ix) return;
    void *image = NULL;
    size_t image_size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&image, &image_size, ix), NEARKIT_OK);
    nearkit_index *again = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&again, image, image_size), NEARKIT_OK);
    CHECK(nearkit_index_count(again) == nearkit_index_count(ix));
    nearkit_index_free(again);
    nearkit_buffer_free(image);
    nearkit_index_free(ix);
}

/* fuzz_load_buffer, first seconds: an empty flat index (VECS of 0 bytes) loaded with pointer
 * arithmetic on its NULL vector array in flat_add (flat.c; UBSan: "applying zero offset to null
 * pointer"). The format 1 seed, kept as tests/fuzz/corpus/format1-flat-l2-d8-empty.nkx1, byte for byte. */
static void test_empty_flat_loads(void) {
    static const uint8_t file[] = {
        0x89, 'N',  'K',  'I',  'D',  'X',  '\r', '\n', 1,    0,    0,    0,    40,   0,    0,    0,
        1,    0,    0,    0,    1,    0,    0,    0,    1,    0,    0,    0,    8,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    42,   0,    0,    0,    0,    0,    0,    0,
        1,    0,    0,    0,    2,    0,    0,    0,    'P',  'R',  'M',  'S',  0,    0,    0,    0,
        4,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    'V',  'E',  'C',  'S',
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x52, 0xfe, 0x70, 0x96,
    };
    load_and_reload(file, sizeof file, NEARKIT_OK);
}

/* fuzz_load_buffer and fuzz_use, first seconds once the findings above were fixed: empty
 * ivf_flat and vptree files loaded with a NULL destination in memcpy or NULL pointer arithmetic
 * (ivf_flat add_pending, the trees' row loading; UBSan). Every kind saved empty loads and saves again. */
static void test_empty_indexes_load(void) {
    const struct {
        nearkit_kind kind;
        nearkit_metric metric;
    } cases[] = {{NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2},       {NEARKIT_KIND_VPTREE, NEARKIT_METRIC_L2},
                 {NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2},   {NEARKIT_KIND_BKTREE, NEARKIT_METRIC_HAMMING},
                 {NEARKIT_KIND_MIH, NEARKIT_METRIC_HAMMING},   {NEARKIT_KIND_IVF_BINARY, NEARKIT_METRIC_HAMMING}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nearkit_index *ix = NULL;
        if (nearkit_index_create(&ix, cases[i].kind, cases[i].metric, 64, NULL) != NEARKIT_OK) continue;
        void *image = NULL;
        size_t size = 0;
        CHECK_STATUS(nearkit_index_save_to_buffer(&image, &size, ix), NEARKIT_OK);
        if (image) load_and_reload(image, size, NEARKIT_OK);
        nearkit_buffer_free(image);
        nearkit_index_free(ix);
    }
}

/* fuzz_use, first seconds: a finite query of -3e38 in one coordinate came back from ivf_flat
 * (and flat) l2 with the distance +inf for a real neighbour: the squared distance overflows
 * (issue 13, defect 3). Such a query is beyond NEARKIT_MAX_ABS_VALUE and refused with
 * INVALID_ARGUMENT (the test also admits the finite distance, about 3e38, the other
 * remedy). */
static void test_huge_query_is_refused_or_finite(void) {
    static const float stored[8] = {-1, -1, 0, 2, 0, 0, -3, 2};
    static const float query[8] = {-1, 2, 1, -3, -3.00000001e+38f, -3, 1e-30f, 1};
    const nearkit_kind kinds[] = {NEARKIT_KIND_IVF_FLAT, NEARKIT_KIND_FLAT};
    for (int i = 0; i < 2; i++) {
        nearkit_index *ix = NULL;
        nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
        o.num_threads = 1;
        CHECK_STATUS(nearkit_index_create(&ix, kinds[i], NEARKIT_METRIC_L2, 8, &o), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, stored, 1, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        int64_t id = -2;
        float d = 0;
        nearkit_status st = nearkit_index_search(&id, &d, ix, NEARKIT_VECTOR_FLOAT32, query, 1, 1, NULL);
        CHECK(st == NEARKIT_ERR_INVALID_ARGUMENT || (st == NEARKIT_OK && id == 0 && isfinite(d)));
        nearkit_index_free(ix);
    }
}

/* Edits the first four stored vectors (16 floats) of a saved image. */
typedef void vector_patch(float stored[16], const float *arg);

/* Saves an index of `kind` and `metric` (dimension 4, four vectors, nlist=2 where it applies,
 * built when asked), edits its stored vectors with `patch` under a valid checksum and loads it:
 * returns the load's status, *loaded the index when it loaded. */
static nearkit_status load_forged(nearkit_index **loaded, nearkit_kind kind, nearkit_metric metric, bool built,
                                  vector_patch *patch, const float *arg) {
    nearkit_index *ix = NULL;
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = 1;
    o.params = kind == NEARKIT_KIND_IVF_FLAT ? "nlist=2" : NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind, metric, 4, &o), NEARKIT_OK);
    const float benign[16] = {1, 2, 3, 4, -1, 0, 2, 1, 3, 3, -1, 0, 0, 1, 0, -2};
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, benign, 4, NULL), NEARKIT_OK);
    if (built) CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    void *image = NULL;
    size_t size = 0;
    nearkit_status st = NEARKIT_ERR_INTERNAL;
    CHECK_STATUS(nearkit_index_save_to_buffer(&image, &size, ix), NEARKIT_OK);
    uint8_t *vecs = image ? find_section(image, size, "VECS") : NULL;
    CHECK(vecs != NULL);
    if (vecs) {
        float stored[16];
        memcpy(stored, vecs, sizeof stored);
        patch(stored, arg);
        memcpy(vecs, stored, sizeof stored);
        fuzz_fix_checksum(image, size);
        st = nearkit_index_load_from_buffer(loaded, image, size);
    }
    nearkit_buffer_free(image);
    nearkit_index_free(ix);
    return st;
}

static void scale_first_vector(float stored[16], const float *factor) {
    for (int j = 0; j < 4; j++) stored[j] *= *factor;
}

static void replace_vectors(float stored[16], const float *values) { memcpy(stored, values, 16 * sizeof(float)); }

/* Issue 13, defect 3, the limit itself: values just beyond NEARKIT_MAX_ABS_VALUE are refused
 * (INVALID_ARGUMENT naming the limit) in add, train and every search; values at the limit, in
 * the largest dimension (2^20) and of opposite signs, the worst case of the derivation in
 * core/api/index.c, give finite distances in every float metric of flat and in ivf_flat. */
static void test_value_limit(void) {
    const float beyond = nextafterf(NEARKIT_MAX_ABS_VALUE, INFINITY);
    float bad[4] = {1, -beyond, 0, 0};
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, 4, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, bad, 1, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nearkit_last_error_message(), "NEARKIT_MAX_ABS_VALUE") != NULL);
    CHECK_STATUS(nearkit_index_train(ix, NEARKIT_VECTOR_FLOAT32, bad, 1), NEARKIT_ERR_INVALID_ARGUMENT);
    const float good[4] = {1, 2, 3, 4};
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, good, 1, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    int64_t id;
    float d;
    CHECK_STATUS(nearkit_index_search(&id, &d, ix, NEARKIT_VECTOR_FLOAT32, bad, 1, 1, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_range_result *range = NULL;
    CHECK_STATUS(nearkit_index_range_search(&range, ix, NEARKIT_VECTOR_FLOAT32, bad, 1, 1.0f, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_index_free(ix);

    const uint32_t dim = 1u << 20;
    float *x = malloc(2 * (size_t)dim * sizeof(float));
    CHECK(x != NULL);
    if (!x) return;
    for (size_t i = 0; i < dim; i++) {
        x[i] = NEARKIT_MAX_ABS_VALUE;
        x[dim + i] = -NEARKIT_MAX_ABS_VALUE;
    }
    const struct {
        nearkit_kind kind;
        nearkit_metric metric;
    } cases[] = {{NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2},     {NEARKIT_KIND_FLAT, NEARKIT_METRIC_L1},
                 {NEARKIT_KIND_FLAT, NEARKIT_METRIC_LINF},   {NEARKIT_KIND_FLAT, NEARKIT_METRIC_IP},
                 {NEARKIT_KIND_FLAT, NEARKIT_METRIC_COSINE}, {NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2},
                 {NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_IP}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
        o.num_threads = 1;
        CHECK_STATUS(nearkit_index_create(&ix, cases[c].kind, cases[c].metric, dim, &o), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, x, 2, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        int64_t ids[4];
        float dist[4];
        CHECK_STATUS(nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, x, 2, 2, NULL), NEARKIT_OK);
        for (int j = 0; j < 4; j++) CHECK(ids[j] >= 0 && isfinite(dist[j]));
        nearkit_index_free(ix);
    }
    free(x);
}

/* fuzz_use, within a minute: an ivf_flat cosine file whose stored (normalised) vectors were
 * scaled loaded, and searches reported cosine distances below 0 (issue 13, defect 6). A file
 * whose cosine vectors are not of unit length is CORRUPT; checked for every kind storing them. */
static void test_cosine_vectors_not_unit_are_corrupt(void) {
    const nearkit_kind kinds[] = {NEARKIT_KIND_FLAT, NEARKIT_KIND_VPTREE, NEARKIT_KIND_IVF_FLAT};
    const float factor = 3.0f; /* the first stored vector, now of length 3 */
    for (int i = 0; i < 3; i++) {
        nearkit_index *loaded = NULL;
        CHECK_STATUS(load_forged(&loaded, kinds[i], NEARKIT_METRIC_COSINE, true, scale_first_vector, &factor),
                     NEARKIT_ERR_CORRUPT);
        nearkit_index_free(loaded);
    }
}

/* An l2 index of `kind`, saved unbuilt, its vectors replaced by `values`, loaded. NULL when the
 * load refused it, which must then be with CORRUPT. */
static nearkit_index *load_forged_vectors(nearkit_kind kind, const float values[16]) {
    nearkit_index *loaded = NULL;
    nearkit_status st = load_forged(&loaded, kind, NEARKIT_METRIC_L2, false, replace_vectors, values);
    CHECK(st == NEARKIT_OK || st == NEARKIT_ERR_CORRUPT);
    return loaded;
}

/* fuzz_use, long run: an ivf_flat file whose vectors were mutated to finite but huge values
 * loaded, and build crashed in k-means (kmeans.c count_sizes, sizes[UINT32_MAX]; issue 13,
 * defect 1, here reached through a file). The vectors of the report. Such a file is
 * refused (CORRUPT) or builds without a crash. */
static void test_huge_loaded_vectors_build(void) {
    const float huge[16] = {0, 1e36f, 0, 0, 0, 3.7e27f, 0, -2e8f, 0, 6e25f, 0, 1e4f, 0, 5e7f, 3.9e33f, 0};
    nearkit_index *ix = load_forged_vectors(NEARKIT_KIND_IVF_FLAT, huge);
    if (ix) {
        nearkit_status st = nearkit_index_build(ix);
        CHECK(st == NEARKIT_OK || st == NEARKIT_ERR_INVALID_ARGUMENT || st == NEARKIT_ERR_STATE);
    }
    nearkit_index_free(ix);
}

/* Issue 13, defect 6: an l2 file whose header metric was changed to cosine (checksum fixed)
 * holds vectors not of unit length: CORRUPT. A cosine file whose stored vector was zeroed still
 * loads (add stores a zero input as the zero vector). */
static void test_metric_changed_to_cosine_is_corrupt(void) {
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, NULL), NEARKIT_OK);
    const float v[8] = {1, 2, 3, 4, 0, 0, 0, 0};
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, 2, NULL), NEARKIT_OK);
    void *image = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&image, &size, ix), NEARKIT_OK);
    nearkit_index_free(ix);
    if (!image) return;
    const uint32_t cosine = NEARKIT_METRIC_COSINE;
    memcpy((uint8_t *)image + 20, &cosine, 4); /* the header's metric, after kind (docs/format.md) */
    fuzz_fix_checksum(image, size);
    nearkit_index *loaded = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&loaded, image, size), NEARKIT_ERR_CORRUPT);
    CHECK(strstr(nearkit_last_error_message(), "cosine") != NULL);
    nearkit_index_free(loaded);
    nearkit_buffer_free(image);

    const float zero = 0.0f;
    const nearkit_kind kinds[] = {NEARKIT_KIND_FLAT, NEARKIT_KIND_VPTREE, NEARKIT_KIND_IVF_FLAT};
    for (int i = 0; i < 3; i++) {
        loaded = NULL;
        CHECK_STATUS(load_forged(&loaded, kinds[i], NEARKIT_METRIC_COSINE, false, scale_first_vector, &zero),
                     NEARKIT_OK);
        nearkit_index_free(loaded);
    }
}

/* fuzz_use, long run: flat, vptree and ivf_flat l2 files with one stored value mutated to about
 * 1e30 loaded, and a search reported +inf for that real neighbour (issue 13, defect 3, through
 * a file). Such a file is refused (CORRUPT) or every neighbour's distance is finite. */
static void test_huge_loaded_vectors_search(void) {
    const float values[16] = {0, 1, 0, 0, 0, 2, 0, 1, 0, 3, 1e30f, 2, 0, 4, 1, 0};
    const nearkit_kind kinds[] = {NEARKIT_KIND_FLAT, NEARKIT_KIND_VPTREE, NEARKIT_KIND_IVF_FLAT};
    for (int i = 0; i < 3; i++) {
        nearkit_index *ix = load_forged_vectors(kinds[i], values);
        if (!ix) continue;
        CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        int64_t ids[4];
        float d[4];
        CHECK_STATUS(nearkit_index_search(ids, d, ix, NEARKIT_VECTOR_FLOAT32, values, 1, 4, NULL), NEARKIT_OK);
        for (int j = 0; j < 4; j++) CHECK(ids[j] != -1 && isfinite(d[j]));
        nearkit_index_free(ix);
    }
}

/* fuzz_load_buffer, 30-minute run: an ivf_rabitq file whose vectors (finite, within the limits)
 * are all below about 1e-38, searched: a query's offsets from such a list's centroid span so
 * small a range that the step between its 4-bit levels inverted to infinity, the value at the
 * minimum became 0 * inf = NaN, and NaN was cast to an integer (undefined; the sanitizer build
 * stops there, and the AVX-512 and portable quantisers gave it different levels). Any caller's
 * vectors of that size reach it too. Now every neighbour comes back, nearest first. */
static void test_rabitq_tiny_vectors_search(void) {
    enum { RD = 64, RN = 16 };
    float *x = malloc(RN * RD * sizeof *x), query[RD] = {0};
    for (int i = 0; i < RN * RD; i++) x[i] = (float)((i * 7 % 13) - 6) * 1e-40f;
    const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_IP};
    for (int m = 0; m < 2; m++) {
        nearkit_index *ix = NULL;
        nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
        o.num_threads = 1;
        o.params = "nlist=2,nprobe=2";
        CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_IVF_RABITQ, metrics[m], RD, &o), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, x, RN, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        int64_t ids[RN];
        float d[RN];
        CHECK_STATUS(nearkit_index_search(ids, d, ix, NEARKIT_VECTOR_FLOAT32, query, 1, RN, NULL), NEARKIT_OK);
        for (int j = 0; j < RN; j++) CHECK(ids[j] >= 0 && ids[j] < RN && isfinite(d[j]) && (j == 0 || d[j] >= d[j - 1]));
        nearkit_index_free(ix);
    }
    free(x);
}

int main(void) {
    test_empty_flat_loads();
    test_empty_indexes_load();
    test_huge_query_is_refused_or_finite();
    test_value_limit();
    test_cosine_vectors_not_unit_are_corrupt();
    test_metric_changed_to_cosine_is_corrupt();
    test_huge_loaded_vectors_build();
    test_huge_loaded_vectors_search();
    test_rabitq_tiny_vectors_search();
    return check_summary("test_fuzz_regressions");
}
