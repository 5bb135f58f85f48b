/* The rpforest kind: recall on clustered data above a floor and rising with search_k; the flat
 * index's answers bit for bit at a full search_k (every metric, both splits, shared projections);
 * the same forest for any thread count, and for rows beyond a subtree copy (split level by level
 * over all trees) for any kernel implementation too; save / load round trips; the coded walk answering as the
 * nodes of a float-plane file; damaged files refused; remove,
 * filters, get and rows added after a build (tree_check.h's living checks); k beyond the count. */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tree_check.h"
#define SYNTHETIC_SEED 0x5250464F52455354ull
#include "synthetic.h"

#define RPF NEARKIT_KIND_RPFOREST
#define FULL "search_k=1000000000" /* every leaf of every tree: exact */

static const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_L1, NEARKIT_METRIC_COSINE,
                                         NEARKIT_METRIC_IP, NEARKIT_METRIC_HAMMING};
#define N_METRICS (sizeof metrics / sizeof metrics[0])

/* recall@k of b's answers against a's (ids). */
static double recall_against(const nearkit_index *exact, const nearkit_index *ix, const float *queries,
                             uint64_t nq, uint64_t k, double search_k) {
    int64_t *ea = malloc(nq * k * sizeof *ea), *eb = malloc(nq * k * sizeof *eb);
    float *da = malloc(nq * k * sizeof *da), *db = malloc(nq * k * sizeof *db);
    nearkit_param_value setting = {"search_k", search_k};
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.params = &setting;
    so.n_params = 1;
    CHECK_STATUS(nearkit_index_search(ea, da, exact, NEARKIT_VECTOR_FLOAT32, queries, nq, k, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_search(eb, db, ix, NEARKIT_VECTOR_FLOAT32, queries, nq, k, &so), NEARKIT_OK);
    uint64_t hits = 0;
    for (uint64_t q = 0; q < nq; q++)
        for (uint64_t i = 0; i < k; i++)
            for (uint64_t j = 0; j < k; j++)
                if (eb[q * k + i] == ea[q * k + j]) {
                    hits++;
                    break;
                }
    free(ea), free(eb), free(da), free(db);
    return (double)hits / (double)(nq * k);
}

static void test_recall_rises_with_search_k(void) {
    enum { N = 10000, D = 32, NQ = 100 };
    float *data = clustered(N, D, 40, 3.0f), *queries = clustered(NQ, D, 40, 3.0f);
    const char *settings[] = {"n_trees=10", "n_trees=10,split=1", "n_trees=10,shared_projections=64"};
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, D, NULL, 2, data, N, NULL);
    double two_means_mid = 0;
    for (size_t s = 0; s < 3; s++) {
        nearkit_index *forest = tc_make(RPF, NEARKIT_METRIC_L2, D, settings[s], 2, data, N, NULL);
        double low = recall_against(flat, forest, queries, NQ, 10, 100);
        double mid = recall_against(flat, forest, queries, NQ, 10, 1000);
        double high = recall_against(flat, forest, queries, NQ, 10, 5000);
        double full = recall_against(flat, forest, queries, NQ, 10, 10.0 * N);
        printf("  %s: recall@10 %.3f at search_k 100, %.3f at 1000, %.3f at 5000, %.3f at n_trees * n\n",
               settings[s], low, mid, high, full);
        CHECK(low <= mid && mid <= high && high <= full); /* best first: a larger budget extends a smaller */
        /* two-means separates clusters best: over nine data draws its recall at 1000 was 0.75 to
         * 0.84, the others' 0.37 to 0.49 (0.83 to 0.90 at 5000); fixed floors at one draw's
         * figures failed five of the nine, so the floors sit lower and the ranking is checked */
        if (s == 0) two_means_mid = mid;
        CHECK(s == 0 ? mid >= 0.6 : high >= 0.7 && two_means_mid >= mid + 0.15);
        CHECK(full == 1.0);
        nearkit_index_free(forest);
    }
    nearkit_index_free(flat);
    /* ip: the rows lifted onto a sphere split as the angle ranks them (0.13 on uniform 2-d data
     * in the golden suite without the lift) */
    flat = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_IP, D, NULL, 2, data, N, NULL);
    nearkit_index *forest = tc_make(RPF, NEARKIT_METRIC_IP, D, "n_trees=10", 2, data, N, NULL);
    double ip_mid = recall_against(flat, forest, queries, NQ, 10, 1000);
    printf("  ip, n_trees=10: recall@10 %.3f at search_k 1000\n", ip_mid);
    CHECK(ip_mid >= 0.65); /* 0.79 to 0.86 over nine data draws */
    nearkit_index_free(forest), nearkit_index_free(flat);
    free(data), free(queries);
}

/* At a full search_k every metric answers as the flat index, k-NN and range, for both splits and
 * a shared pool, on one and two threads; a small leaf size makes deep trees. */
static void test_exact_at_full_search_k(void) {
    const char *settings[] = {FULL ",leaf_size=8", FULL ",leaf_size=5,split=1",
                              FULL ",leaf_size=16,shared_projections=7", FULL};
    for (size_t m = 0; m < N_METRICS; m++)
        for (size_t s = 0; s < 4; s++) {
            bool binary = metrics[m] == NEARKIT_METRIC_HAMMING;
            uint32_t dim = binary ? 64 : 12;
            int style = (int)(s % 4);
            void *data = tc_data(metrics[m], 1500, dim, style), *queries = tc_data(metrics[m], 30, dim, style);
            nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, metrics[m], dim, NULL, 1, data, 1500, NULL);
            nearkit_index *forest = tc_make(RPF, metrics[m], dim, settings[s], 2, data, 1500, NULL);
            bool same = tc_same_knn(flat, forest, queries, 30, 10, 1) && tc_same_knn(flat, forest, queries, 30, 1, 2);
            if (!same) fprintf(stderr, "  metric %s settings %s\n", nearkit_metric_name(metrics[m]), settings[s]);
            CHECK(same);
            nearkit_index_set_param(forest, "search_k", 0); /* range: 0 scans every row */
            float r = tc_radius(flat, queries, 20);
            CHECK(tc_same_range(flat, forest, queries, 30, r, 2));
            nearkit_index_free(flat), nearkit_index_free(forest);
            free(data), free(queries);
        }
}

/* The same bytes of the forest whatever the thread count. */
static void test_deterministic_across_threads(void) {
    float *data = clustered(6000, 16, 10, 2.0f);
    const char *settings[] = {"n_trees=7", "n_trees=5,split=1", "n_trees=6,shared_projections=20"};
    for (size_t s = 0; s < 3; s++) {
        void *bufs[3] = {NULL, NULL, NULL};
        size_t sizes[3] = {0, 0, 0};
        const uint32_t threads[3] = {1, 2, 4};
        for (int i = 0; i < 3; i++) {
            nearkit_index *forest = tc_make(RPF, NEARKIT_METRIC_L2, 16, settings[s], threads[i], data, 6000, NULL);
            nearkit_index_set_param(forest, "num_threads", 1);
            CHECK_STATUS(nearkit_index_save_to_buffer(&bufs[i], &sizes[i], forest), NEARKIT_OK);
            nearkit_index_free(forest);
        }
        CHECK(sizes[0] == sizes[1] && sizes[1] == sizes[2]);
        CHECK(memcmp(bufs[0], bufs[1], sizes[0]) == 0 && memcmp(bufs[0], bufs[2], sizes[0]) == 0);
        for (int i = 0; i < 3; i++) nearkit_buffer_free(bufs[i]);
    }
    free(data);
}

/* The saved bytes of a forest built with `threads` threads (under the kernels in force). */
static void *forest_image(nearkit_metric metric, uint32_t dim, const char *params, const void *data, uint64_t n,
                          uint32_t threads, size_t *size) {
    void *image = NULL;
    nearkit_index *forest = tc_make(RPF, metric, dim, params, threads, data, n, NULL);
    nearkit_index_set_param(forest, "num_threads", 1);
    CHECK_STATUS(nearkit_index_save_to_buffer(&image, size, forest), NEARKIT_OK);
    nearkit_index_free(forest);
    return image;
}

/* Rows beyond a subtree copy (4 MB) split their upper levels together over all trees, in one pass
 * over the rows per level: the forest is still the same for one thread or two and under every
 * kernel implementation, byte for byte (each node draws from its own stream), answers exactly at
 * a full search_k, and finds the neighbours of clustered data (every metric, both splits, a
 * shared pool). */
static void test_upper_levels(void) {
    enum { NQ = 30 };
    static const struct {
        nearkit_metric metric;
        uint32_t dim, n;
        const char *params;
        bool every_kernel;
        /* recall@10 at search_k 1000 (2 trees, 30 queries), about two thirds of the least of nine
         * data draws (SYNTHETIC_SEED): one forest's recall moves a lot from draw to draw (l2 0.38
         * to 0.49, cosine 0.29 to 0.50, ip 0.34 to 0.56), and floors at one draw's figure less
         * 0.1 failed other draws; candidates drawn blind would score about 0.01 (1,000 of 140,000) */
        double floor;
    } cases[] = {
        {NEARKIT_METRIC_L2, 16, 140000, "n_trees=2", true, 0.25},
        {NEARKIT_METRIC_L2, 16, 140000, "n_trees=2,split=1", false, 0.10},
        {NEARKIT_METRIC_L2, 16, 140000, "n_trees=2,shared_projections=16", false, 0.07},
        {NEARKIT_METRIC_IP, 16, 140000, "n_trees=2", false, 0.22},
        {NEARKIT_METRIC_COSINE, 16, 140000, "n_trees=2", false, 0.20},
        {NEARKIT_METRIC_L1, 16, 140000, "n_trees=2,split=1", false, 0.07},
        {NEARKIT_METRIC_HAMMING, 1024, 70000, "n_trees=2", false, 0.0},
        /* past 256 dimensions: fewer two-means steps, and subtrees of up to 8 leaves' rows split
         * in place instead of from a copy (here some of each) */
        {NEARKIT_METRIC_L2, 300, 40000, "n_trees=2,leaf_size=256", true, 0.08},
    };
    const int32_t impls[] = {NEARKIT_KERNELS_SCALAR, NEARKIT_KERNELS_AVX2, NEARKIT_KERNELS_AVX512};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nearkit_metric metric = cases[c].metric;
        uint32_t dim = cases[c].dim, n = cases[c].n;
        bool binary = metric == NEARKIT_METRIC_HAMMING;
        void *data = binary ? tc_data(metric, n, dim, 3) : clustered(n, dim, 50, 2.0f);
        void *queries = binary ? tc_data(metric, NQ, dim, 3) : clustered(NQ, dim, 50, 2.0f);
        size_t size = 0, other_size = 0;
        void *image = forest_image(metric, dim, cases[c].params, data, n, 2, &size);
        void *other = forest_image(metric, dim, cases[c].params, data, n, 1, &other_size);
        bool same = size == other_size && memcmp(image, other, size) == 0;
        nearkit_buffer_free(other);
        for (size_t i = 0; i < 3 && cases[c].every_kernel; i++) {
            if (nearkit_kernels_force(impls[i]) != NEARKIT_OK) continue;
            other = forest_image(metric, dim, cases[c].params, data, n, 2, &other_size);
            same = same && size == other_size && memcmp(image, other, size) == 0;
            nearkit_buffer_free(other);
        }
        CHECK_STATUS(nearkit_kernels_force(NEARKIT_KERNELS_AUTO), NEARKIT_OK);
        if (!same) fprintf(stderr, "  %s %s: forests differ\n", nearkit_metric_name(metric), cases[c].params);
        CHECK(same);
        nearkit_index *forest = NULL, *flat = tc_make(NEARKIT_KIND_FLAT, metric, dim, NULL, 2, data, n, NULL);
        CHECK_STATUS(nearkit_index_load_from_buffer(&forest, image, size), NEARKIT_OK);
        double depth = 0;
        nearkit_index_get_param(&depth, forest, "depth");
        CHECK(depth >= 8);
        if (!binary) {
            double recall = recall_against(flat, forest, queries, NQ, 10, 1000);
            printf("  %s %s, %u rows: recall@10 %.3f at search_k 1000\n", nearkit_metric_name(metric),
                   cases[c].params, n, recall);
            CHECK(recall >= cases[c].floor);
        }
        CHECK_STATUS(nearkit_index_set_param(forest, "search_k", 1e9), NEARKIT_OK);
        CHECK(tc_same_knn(flat, forest, queries, NQ, 10, 2));
        nearkit_index_free(forest), nearkit_index_free(flat);
        nearkit_buffer_free(image);
        free(data), free(queries);
    }
}

/* Shared projections store the pool once: a smaller file, the same row store. */
static void test_shared_projections_save_space(void) {
    float *data = clustered(8000, 64, 20, 3.0f);
    nearkit_index *own = tc_make(RPF, NEARKIT_METRIC_L2, 64, "n_trees=10,split=1", 2, data, 8000, NULL);
    nearkit_index *shared = tc_make(RPF, NEARKIT_METRIC_L2, 64, "n_trees=10,shared_projections=32", 2, data, 8000, NULL);
    double planes_own = 0, planes_shared = 0;
    nearkit_index_get_param(&planes_own, own, "plane_count");
    nearkit_index_get_param(&planes_shared, shared, "plane_count");
    CHECK(planes_shared == 32 && planes_own > 1000);
    void *a = NULL, *b = NULL;
    size_t sa = 0, sb = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&a, &sa, own), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save_to_buffer(&b, &sb, shared), NEARKIT_OK);
    printf("  file of 8000 x 64, 10 trees: %zu bytes with a plane per split (%.0f planes), %zu with a shared "
           "pool of 32 (%.1f%% smaller)\n",
           sa, planes_own, sb, 100.0 * (1.0 - (double)sb / (double)sa));
    CHECK(sb < sa);
    CHECK(nearkit_index_memory_bytes(shared) < nearkit_index_memory_bytes(own));
    nearkit_buffer_free(a), nearkit_buffer_free(b);
    nearkit_index_free(own), nearkit_index_free(shared);
    free(data);
}

static void test_save_load(void) {
    for (size_t m = 0; m < N_METRICS; m++) {
        uint32_t dim = metrics[m] == NEARKIT_METRIC_HAMMING ? 128 : 10;
        void *data = tc_data(metrics[m], 2500, dim, 3), *queries = tc_data(metrics[m], 40, dim, 3);
        nearkit_index *forest = tc_make(RPF, metrics[m], dim, "n_trees=4,search_k=300", 2, data, 2500, NULL);
        void *buf = NULL, *again = NULL;
        size_t size = 0, again_size = 0;
        CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, forest), NEARKIT_OK);
        if (metrics[m] != NEARKIT_METRIC_HAMMING) {
            /* planes saved as a byte per value and an exponent: in the walk (a place of 16 bytes a
             * node, and the codes), or beside it for ip (its lifted coordinate) */
            double planes = 0, nodes = 0;
            uint64_t code_bytes = 0, exponent_bytes = 0, float_bytes = 0, walk_bytes = 0;
            nearkit_index_get_param(&planes, forest, "plane_count");
            nearkit_index_get_param(&nodes, forest, "node_count");
            if (metrics[m] == NEARKIT_METRIC_IP) {
                CHECK(tc_section(buf, size, "RFPC", &code_bytes) && tc_section(buf, size, "RFPE", &exponent_bytes));
                CHECK(code_bytes == planes * (dim + 1) && exponent_bytes == planes);
                CHECK(tc_section(buf, size, "RFWK", &walk_bytes) == NULL);
            } else {
                CHECK(tc_section(buf, size, "RFWK", &walk_bytes) && !tc_section(buf, size, "RFPC", &code_bytes));
                CHECK(walk_bytes == 16 * (nodes + planes * ((dim + 15) / 16)));
            }
            CHECK(tc_section(buf, size, "RFPL", &float_bytes) == NULL);
        }
        nearkit_index *back = NULL;
        CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, size), NEARKIT_OK);
        if (back) {
            CHECK(tc_same_knn(forest, back, queries, 40, 10, 2));
            double v = 0;
            nearkit_index_get_param(&v, back, "search_k");
            CHECK(v == 300);
            CHECK_STATUS(nearkit_index_save_to_buffer(&again, &again_size, back), NEARKIT_OK);
            CHECK(again_size == size && memcmp(again, buf, size) == 0);
            CHECK_STATUS(nearkit_index_build(back), NEARKIT_OK); /* nothing new: the same forest */
            nearkit_buffer_free(again);
            again = NULL;
            CHECK_STATUS(nearkit_index_save_to_buffer(&again, &again_size, back), NEARKIT_OK);
            CHECK(again_size == size && memcmp(again, buf, size) == 0);
            nearkit_buffer_free(again);
        }
        nearkit_index_free(back);
        nearkit_buffer_free(buf);
        nearkit_index_free(forest);
        free(data), free(queries);
    }
}

/* Appends one section (format 2: its body padded to a multiple of 64 from the image's start). */
static size_t put_section(uint8_t *out, size_t at, const char tag[4], const void *body, uint64_t len) {
    uint32_t pad = (uint32_t)((64 - (at + 16) % 64) % 64);
    memcpy(out + at, tag, 4);
    memcpy(out + at + 4, &pad, 4);
    memcpy(out + at + 8, &len, 8);
    memset(out + at + 16, 0, pad);
    memcpy(out + at + 16 + pad, body, (size_t)len);
    return at + 16 + pad + (size_t)len;
}

/* The planes' codes (P x width, *len of them) and exponents (*exps, P) that a forest's walk (RFWK)
 * holds, plane by plane as the nodes (RFND: 32 bytes, the plane at byte 8) name them: a node's
 * place is 16 bytes, an internal node with a plane takes ceil(d / 16) more for its codes (u8, code
 * + 128) and keeps its power of two at byte 12 (docs/format.md). NULL without a walk. */
static int8_t *codes_of_walk(const uint8_t *image, size_t size, size_t width, uint64_t *len, int8_t **exps) {
    uint64_t walk_len = 0, node_len = 0;
    const uint8_t *walk = tc_section((uint8_t *)image, size, "RFWK", &walk_len);
    const uint8_t *nodes = tc_section((uint8_t *)image, size, "RFND", &node_len);
    if (!walk || !nodes) return NULL;
    uint64_t n_nodes = node_len / 32, planes = 0;
    for (uint64_t i = 0; i < n_nodes; i++) {
        uint32_t child0, plane;
        memcpy(&child0, nodes + 32 * i, 4);
        memcpy(&plane, nodes + 32 * i + 8, 4);
        if (child0 != 0xFFFFFFFFu && plane != 0xFFFFFFFFu && plane + 1 > planes) planes = plane + 1;
    }
    int8_t *codes = calloc(planes * width + 1, 1);
    *exps = calloc(planes + 1, 1);
    uint64_t at = 0;
    for (uint64_t i = 0; i < n_nodes; i++) {
        uint32_t child0, plane;
        memcpy(&child0, nodes + 32 * i, 4);
        memcpy(&plane, nodes + 32 * i + 8, 4);
        bool planed = child0 != 0xFFFFFFFFu && plane != 0xFFFFFFFFu;
        if (planed) {
            float scale;
            memcpy(&scale, walk + 16 * at + 12, 4);
            int e = 0;
            frexpf(scale, &e);
            (*exps)[plane] = (int8_t)(e - 1);
            for (size_t k = 0; k < width; k++) codes[plane * width + k] = (int8_t)(walk[16 * (at + 1) + k] - 128);
        }
        at += 1 + (planed ? (width + 15) / 16 : 0);
    }
    *len = planes * width;
    return codes;
}

/* The image of a forest saved with plane codes (RFPC, RFPE) rewritten as older versions wrote it,
 * planes as floats (RFPL) of the same values but one (below); *out_size its size. NULL when no
 * code is 0. */
static uint8_t *with_float_planes(const uint8_t *image, size_t size, size_t width, size_t *out_size) {
    uint64_t code_len = 0, exp_len = 0;
    const int8_t *codes = (const int8_t *)tc_section((uint8_t *)image, size, "RFPC", &code_len);
    const int8_t *exps = (const int8_t *)tc_section((uint8_t *)image, size, "RFPE", &exp_len);
    int8_t *walk_codes = NULL, *walk_exps = NULL;
    if (!codes && (walk_codes = codes_of_walk(image, size, width, &code_len, &walk_exps))) {
        codes = walk_codes;
        exps = walk_exps;
        exp_len = code_len / width;
    }
    if (!codes || !exps || code_len != exp_len * width) {
        free(walk_codes), free(walk_exps);
        return NULL;
    }
    float *planes = malloc(code_len * sizeof *planes + 1);
    for (uint64_t i = 0; i < code_len; i++) planes[i] = ldexpf(codes[i], exps[i / width]);
    /* one value that is not a code: 2^-140 for a 0, which no margin of these rows notices (it
     * vanishes in any sum it joins), so the planes are no longer all codes and searches descend
     * the nodes */
    uint64_t zero = 0;
    while (zero < code_len && codes[zero] != 0) zero++;
    free(walk_codes), free(walk_exps);
    if (zero == code_len) {
        free(planes);
        return NULL;
    }
    planes[zero] = 0x1p-140f;
    uint8_t *out = calloc(size + code_len * sizeof(float) + 64, 1);
    uint32_t header, sections;
    memcpy(&header, image + 12, 4);
    memcpy(&sections, image + 52, 4);
    size_t at = 16 + header, put = at;
    memcpy(out, image, at);
    for (uint32_t i = 0; i < sections; i++) {
        uint32_t pad;
        uint64_t len;
        memcpy(&pad, image + at + 4, 4);
        memcpy(&len, image + at + 8, 8);
        const char *tag = (const char *)image + at;
        bool planes_here = memcmp(tag, "RFPC", 4) == 0 || memcmp(tag, "RFWK", 4) == 0;
        if (planes_here) put = put_section(out, put, "RFPL", planes, code_len * sizeof(float));
        else if (memcmp(tag, "RFPE", 4) != 0 && memcmp(tag, "RFWR", 4) != 0)
            put = put_section(out, put, tag, image + at + 16 + pad, len);
        at += 16 + pad + (size_t)len;
    }
    sections--;
    memcpy(out + 52, &sections, 4);
    *out_size = put + 4;
    tc_reseal(out, *out_size);
    free(planes);
    return out;
}

/* Searches descend an in-memory walk with the plane codes beside each node; a forest whose file
 * holds float planes that are not all codes (older versions) descends the nodes. Both give the same answers at a partial
 * search_k (the same margins, bit for bit), for every float metric, halved nodes (duplicates)
 * included. */
static void test_walk_answers_as_nodes(void) {
    const nearkit_metric float_metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_L1, NEARKIT_METRIC_COSINE,
                                            NEARKIT_METRIC_IP};
    int compared = 0;
    for (size_t m = 0; m < 4; m++)
        for (int style = 0; style < 4; style++) {
            uint32_t dim = 24;
            void *data = tc_data(float_metrics[m], 3000, dim, style), *queries = tc_data(float_metrics[m], 50, dim, style);
            nearkit_index *forest = tc_make(RPF, float_metrics[m], dim, "n_trees=6,leaf_size=12,search_k=150", 1, data,
                                            3000, NULL);
            void *buf = NULL;
            size_t size = 0, old_size = 0;
            CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, forest), NEARKIT_OK);
            size_t width = dim + (float_metrics[m] == NEARKIT_METRIC_IP);
            uint8_t *old = buf ? with_float_planes(buf, size, width, &old_size) : NULL;
            nearkit_index *back = NULL;
            if (old) { /* else no plane is stored, or no code is 0: nothing to compare */
                compared++;
                CHECK_STATUS(nearkit_index_load_from_buffer(&back, old, old_size), NEARKIT_OK);
                /* the walk is memory the nodes' search does without */
                CHECK(back && nearkit_index_memory_bytes(back) < nearkit_index_memory_bytes(forest));
                bool same = back && tc_same_knn(forest, back, queries, 50, 10, 1);
                if (!same)
                    fprintf(stderr, "  walk vs nodes: metric %s style %d\n", nearkit_metric_name(float_metrics[m]), style);
                CHECK(same);
            }
            nearkit_index_free(back), nearkit_index_free(forest);
            nearkit_buffer_free(buf);
            free(old), free(data), free(queries);
        }
    /* all but the few distinct vectors: l2 and l1 need no plane there, cosine's few planes (a
     * handful of splits) hold no 0 code in the forest this seed makes */
    CHECK(compared >= 13);
}

typedef struct forged_node {
    uint32_t child[2], plane;
    float offset;
    uint64_t begin, end;
} forged_node;

static void test_corrupted_sections(void) {
    float *data = tc_floats(600, 6, 0);
    nearkit_index *forest = tc_make(RPF, NEARKIT_METRIC_L2, 6, "n_trees=3,leaf_size=8", 1, data, 600, NULL);
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, forest), NEARKIT_OK);
    uint64_t len = 0;
    uint8_t *nodes = tc_section(buf, size, "RFND", &len);
    CHECK(nodes && len % sizeof(forged_node) == 0);
    if (!nodes) return;
    forged_node root;
    memcpy(&root, nodes, sizeof root);
    CHECK(root.begin == 0 && root.end == 600 && root.child[0] == 1);
    uint32_t far = 1000000, self = 0, big_plane = 0xFFFFFF00u, row_past = 600;
    uint64_t huge = UINT64_MAX, past = 601, one = 1, two = 2;
    float nan = NAN;
    const size_t child0 = offsetof(forged_node, child), child1 = child0 + 4;
    struct {
        const char *tag;
        uint64_t offset;
        const void *bytes;
        size_t len;
    } cases[] = {
        {"RFND", child0, &far, 4},                                    /* child out of range */
        {"RFND", child1, &self, 4},                                   /* a cycle */
        {"RFND", offsetof(forged_node, plane), &big_plane, 4},        /* no such plane */
        {"RFND", offsetof(forged_node, offset), &nan, 4},             /* a NaN offset */
        {"RFND", offsetof(forged_node, end), &past, 8},               /* root past the rows */
        {"RFND", sizeof root + offsetof(forged_node, begin), &one, 8}, /* children overlap */
        {"RFLR", 8, &row_past, 4},                                    /* a leaf row past the rows */
        {"RFLR", 0, (const uint8_t *)tc_section(buf, size, "RFLR", &len) + 4, 4}, /* a row twice */
        {"RFTR", 8, &huge, 8},                                        /* a tree's start */
        {"RFTR", 24, &one, 8},                                        /* the node count */
        {"RFWK", 12, &nan, 4},                                        /* the root's power of two */
        {"RFWK", 0, &far, 4},                                         /* a child's place */
        {"RFWR", 4, &one, 4},                                         /* a tree's root place */
        {"RFHD", 0, &huge, 8},                                        /* more rows than stored */
        {"RFHD", 8, &huge, 8},                                        /* trees */
        {"RFHD", 8, &two, 8},
        {"RFHD", 16, &huge, 8},                                       /* nodes */
        {"RFHD", 24, &one, 8},                                        /* planes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nearkit_status st = tc_load_patched(buf, size, cases[i].tag, cases[i].offset, cases[i].bytes, cases[i].len);
        if (st != NEARKIT_ERR_CORRUPT) fprintf(stderr, "  forged case %zu loaded with %s\n", i, nearkit_status_name(st));
        CHECK(st == NEARKIT_ERR_CORRUPT);
    }
    nearkit_index *back = NULL;
    for (size_t cut = 0; cut < size; cut += 89) {
        CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, cut), NEARKIT_ERR_CORRUPT);
        nearkit_index_free(back);
        back = NULL;
    }
    nearkit_buffer_free(buf);
    nearkit_index_free(forest);
    free(data);
}

/* Random bytes of the forest's sections changed under a valid checksum: every image loads as
 * CORRUPT or, when the change left a valid forest (an offset, a plane value), searches without a
 * fault (ASan watches) and returns ids that are stored. */
static void test_random_damage(void) {
    for (int binary = 0; binary < 2; binary++) {
        nearkit_metric metric = binary ? NEARKIT_METRIC_HAMMING : NEARKIT_METRIC_L2;
        uint32_t dim = binary ? 64 : 6;
        void *data = tc_data(metric, 400, dim, 0);
        nearkit_index *forest = tc_make(RPF, metric, dim, "n_trees=3,leaf_size=6", 1, data, 400, NULL);
        void *buf = NULL;
        size_t size = 0;
        CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, forest), NEARKIT_OK);
        /* float rows: planes as codes (RFPC, RFPE); binary rows: an empty RFPL */
        const char *tags[] = {"RFHD", "RFTR", "RFND", "RFLR", binary ? "RFPL" : "RFPC", "RFPE"};
        int loaded = 0, refused = 0;
        for (int round = 0; round < 1500; round++) {
            uint8_t *copy = malloc(size);
            memcpy(copy, buf, size);
            uint64_t len = 0;
            uint8_t *body = tc_section(copy, size, tags[tc_next() % (binary ? 4 : 6)], &len);
            if (body && len > 0) {
                int flips = 1 + (int)(tc_next() % 3);
                for (int f = 0; f < flips; f++) body[tc_next() % len] ^= (uint8_t)(1u << (tc_next() % 8));
            }
            tc_reseal(copy, size);
            nearkit_index *back = NULL;
            nearkit_status st = nearkit_index_load_from_buffer(&back, copy, size);
            CHECK(st == NEARKIT_OK || st == NEARKIT_ERR_CORRUPT);
            if (st == NEARKIT_OK) {
                loaded++;
                int64_t ids[20];
                float dist[20];
                nearkit_param_value full = {"search_k", 1e6};
                nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
                so.params = &full;
                so.n_params = 1;
                CHECK_STATUS(nearkit_index_search(ids, dist, back, tc_type(metric), data, 2, 10, &so), NEARKIT_OK);
                for (int i = 0; i < 20; i++) CHECK(ids[i] >= -1 && ids[i] < 400);
            } else {
                refused++;
            }
            nearkit_index_free(back);
            free(copy);
        }
        printf("  %s: %d damaged images refused, %d loaded and searched\n", binary ? "hamming" : "l2", refused, loaded);
        nearkit_buffer_free(buf);
        nearkit_index_free(forest);
        free(data);
    }
}

static void test_living_collection(void) {
    tc_check_living(RPF, NEARKIT_METRIC_L2, 8, FULL ",leaf_size=16", 3);
    tc_check_living(RPF, NEARKIT_METRIC_L1, 4, FULL ",split=1", 1);
    tc_check_living(RPF, NEARKIT_METRIC_COSINE, 16, FULL ",leaf_size=8", 0);
    tc_check_living(RPF, NEARKIT_METRIC_IP, 6, FULL ",shared_projections=5", 3);
    tc_check_living(RPF, NEARKIT_METRIC_HAMMING, 64, FULL ",leaf_size=32", 1);
}

/* k beyond the count pads; an index never built answers by scanning; describe and statistics. */
static void test_small_and_describe(void) {
    float *data = tc_floats(300, 4, 0);
    nearkit_index *forest = tc_make(RPF, NEARKIT_METRIC_L2, 4, "n_trees=3", 1, data, 5, NULL);
    int64_t ids[8];
    float dist[8];
    CHECK_STATUS(nearkit_index_search(ids, dist, forest, NEARKIT_VECTOR_FLOAT32, data, 1, 8, NULL), NEARKIT_OK);
    CHECK(ids[0] == 0 && dist[0] == 0 && ids[4] >= 0 && ids[5] == -1 && isinf(dist[7]));
    nearkit_index_free(forest);

    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, RPF, NEARKIT_METRIC_L2, 4, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, data, 300, NULL), NEARKIT_OK);
    CHECK(nearkit_index_is_ready(ix) == 1);
    nearkit_index *flat = tc_make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, NULL, 1, data, 300, NULL);
    CHECK(tc_same_knn(flat, ix, data, 20, 5, 1)); /* not built: every row scanned */
    CHECK_STATUS(nearkit_index_set_param(ix, "n_trees", 6), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "leaf_size", 10), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    double v = 0;
    nearkit_index_get_param(&v, ix, "leaf_count");
    CHECK(v >= 6 * 30);
    nearkit_index_get_param(&v, ix, "depth");
    CHECK(v >= 5);
    char *text = NULL;
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && strstr(text, "6 trees over 300 rows"));
    nearkit_string_free(text);
    CHECK_STATUS(nearkit_index_set_param(ix, "n_trees", 2), NEARKIT_OK); /* rebuilt by the next build */
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
    CHECK(text && strstr(text, "2 trees over 300 rows"));
    nearkit_string_free(text);
    CHECK_STATUS(nearkit_index_set_param(ix, "split", 2), NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_index_free(ix), nearkit_index_free(flat);
    /* metrics outside the mask */
    CHECK_STATUS(nearkit_index_create(&ix, RPF, NEARKIT_METRIC_LINF, 4, NULL), NEARKIT_ERR_UNSUPPORTED);
    free(data);
}

int main(void) {
    test_recall_rises_with_search_k();
    test_exact_at_full_search_k();
    test_deterministic_across_threads();
    test_shared_projections_save_space();
    test_save_load();
    test_walk_answers_as_nodes();
    test_corrupted_sections();
    test_random_damage();
    test_living_collection();
    test_small_and_describe();
    test_upper_levels(); /* last: its clustered() draws would change the data of the tests above */
    return check_summary("test_rpforest");
}
