/* Fuzz target: what a program does with an index it loaded. Loads the input (checksum fixed up
 * by the mutator, fuzz_support.h); when it loads, adds a few vectors, builds (which trains the
 * kinds that need it), runs k-NN and range searches, checks every answer against what the header
 * promises, then saves, loads back and checks the copy answers alike.
 *
 * The vectors, queries, k and radius come from a generator seeded with a hash of the input, so
 * a crash reproduces from its input alone. Values are small integers (many equal distances, so
 * the tie order is tested) with now and then an extreme but finite one (1e30, 3e38, a denormal):
 * the library must either refuse it with INVALID_ARGUMENT or answer correctly. */
#include "fuzz_support.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_ADD = 6,          /* vectors added per input */
    MAX_QUERIES = 4,
    MAX_VECTOR_BYTES = 4096, /* larger (loaded) dimensions are only inspected and saved */
    MAX_COUNT = 20000,       /* larger (loaded) counts likewise: keeps an execution short */
};

typedef struct rng {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r) { /* splitmix64 */
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint32_t rng_below(rng *r, uint32_t n) { return n ? (uint32_t)(rng_next(r) % n) : 0; }

static uint64_t hash_input(const uint8_t *p, size_t n) { /* FNV-1a */
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

static const float extreme_values[] = {1e30f, -1e30f, 3e38f, -3e38f, 1e20f, 1e-40f, -0.0f, 1e-30f};

/* NEARKIT_FUZZ_MODERATE set: no extreme values, to fuzz on past an overflow finding whose fix
 * is pending. */
static bool extremes_wanted(void) {
    static int wanted = -1;
    if (wanted < 0) wanted = getenv("NEARKIT_FUZZ_MODERATE") == NULL;
    return wanted;
}

/* Fills n vectors; returns whether any holds an extreme value. */
static bool make_vectors(void *out, const nearkit_index *ix, uint64_t n, rng *r) {
    uint64_t bytes = nearkit_index_vector_bytes(ix);
    bool extreme = false;
    if (nearkit_index_vector_type(ix) == NEARKIT_VECTOR_BINARY) {
        uint8_t *codes = out;
        for (uint64_t i = 0; i < n * bytes; i++) codes[i] = (uint8_t)rng_next(r);
        if (n && rng_below(r, 4) == 0) memset(codes, rng_below(r, 2) ? 0xFF : 0, (size_t)bytes);
        return false;
    }
    float *v = out;
    uint32_t dim = nearkit_index_dimension(ix);
    for (uint64_t i = 0; i < n; i++) {
        bool wild = rng_below(r, 8) == 0 && extremes_wanted();
        for (uint32_t j = 0; j < dim; j++) {
            float x = (float)((int)rng_below(r, 7) - 3);
            if (wild && rng_below(r, 4) == 0) {
                x = extreme_values[rng_below(r, sizeof extreme_values / sizeof extreme_values[0])];
                extreme = true;
            }
            v[i * dim + j] = x;
        }
    }
    return extreme;
}

static void trace_vectors(const char *label, const nearkit_index *ix, const void *v, uint64_t n) {
    uint64_t bytes = nearkit_index_vector_bytes(ix);
    for (uint64_t i = 0; i < n; i++) {
        char line[4096];
        int at = 0;
        for (uint64_t j = 0; j < bytes && at < (int)sizeof line - 32; j++) {
            if (nearkit_index_vector_type(ix) == NEARKIT_VECTOR_BINARY)
                at += snprintf(line + at, sizeof line - (size_t)at, "%02x", ((const uint8_t *)v)[i * bytes + j]);
            else if (j % 4 == 0)
                at += snprintf(line + at, sizeof line - (size_t)at, "%.9g ", ((const float *)v)[(i * bytes + j) / 4]);
        }
        fuzz_trace("%s %llu: %s", label, (unsigned long long)i, line);
    }
}

static void trace_row(const char *label, const int64_t *ids, const float *d, uint64_t n) {
    for (uint64_t j = 0; j < n; j++)
        fuzz_trace("  %s %llu: id %lld distance %.9g", label, (unsigned long long)j, (long long)ids[j], d[j]);
}

static bool kind_is_exact(const nearkit_index *ix) {
    nearkit_kind kind = nearkit_index_kind(ix);
    for (size_t i = 0; i < nearkit_kind_count(); i++) {
        nearkit_kind_info info = NEARKIT_KIND_INFO_INIT;
        if (nearkit_kind_get_info(&info, i) == NEARKIT_OK && info.kind == kind) {
            if (!(info.flags & NEARKIT_KIND_FLAG_EXACT)) return false;
            double radius = -1; /* mih: exact unless max_radius caps it */
            if (nearkit_index_get_param(&radius, ix, "max_radius") == NEARKIT_OK && radius >= 0) return false;
            return true;
        }
    }
    return false;
}

/* A distance the metric can report: never NaN, never infinite for a real neighbour, in range. */
static void check_distance(float d, const nearkit_index *ix) {
    if (!isfinite(d)) fuzz_fail("a real neighbour has a distance that is not finite", NEARKIT_OK);
    switch (nearkit_index_metric(ix)) {
    case NEARKIT_METRIC_IP: return;
    case NEARKIT_METRIC_COSINE:
        if (d < -1e-5f || d > 2.00001f) fuzz_fail("a cosine distance outside [0, 2]", NEARKIT_OK);
        return;
    case NEARKIT_METRIC_HAMMING:
        if (d != floorf(d) || d < 0 || d > (float)nearkit_index_dimension(ix))
            fuzz_fail("a hamming distance that is not a whole number of bits", NEARKIT_OK);
        return;
    default:
        if (d < 0) fuzz_fail("a negative distance", NEARKIT_OK);
    }
}

/* Nearest first; equal distances in increasing id order. */
static void check_order(const int64_t *ids, const float *d, uint64_t n) {
    for (uint64_t j = 1; j < n; j++)
        if (d[j] < d[j - 1] || (d[j] == d[j - 1] && ids[j] < ids[j - 1]))
            fuzz_fail("results not nearest first, ties in increasing id order", NEARKIT_OK);
}

/* A k-NN row: real neighbours then padding (id -1, +inf); exact kinds fill min(k, count). */
static uint64_t check_knn_row(const int64_t *ids, const float *d, uint64_t k, const nearkit_index *ix) {
    uint64_t real = 0;
    while (real < k && ids[real] != -1) check_distance(d[real], ix), real++;
    for (uint64_t j = real; j < k; j++)
        if (ids[j] != -1 || !(isinf(d[j]) && d[j] > 0))
            fuzz_fail("a k-NN row has a neighbour after its padding", NEARKIT_OK);
    check_order(ids, d, real);
    uint64_t count = nearkit_index_count(ix);
    uint64_t want = k < count ? k : count;
    if (real > want) fuzz_fail("a k-NN row holds more neighbours than the index", NEARKIT_OK);
    if (kind_is_exact(ix) && real != want)
        fuzz_fail("an exact kind's k-NN row holds fewer than min(k, count) neighbours", NEARKIT_OK);
    return real;
}

/* Metrics whose distance of a vector to itself is exactly 0 and that no shortcut rounds. */
static bool self_distance_is_zero(nearkit_metric metric) {
    return metric == NEARKIT_METRIC_L1 || metric == NEARKIT_METRIC_LINF || metric == NEARKIT_METRIC_HAMMING ||
           metric == NEARKIT_METRIC_L2;
}

typedef struct answers {
    int64_t *ids;
    float *distances;
} answers;

/* Returns whether the k-NN search ran (false only when memory ran out). */
/* Queries with extreme values may be refused (INVALID_ARGUMENT), never answered wrongly. */
static bool search_and_check(answers *out, const nearkit_index *ix, const void *queries, uint64_t nq,
                             uint64_t k, bool queries_are_stored, bool extreme, rng *r) {
    nearkit_status st = nearkit_index_search(out->ids, out->distances, ix, nearkit_index_vector_type(ix),
                                             queries, nq, k, NULL);
    if (st == NEARKIT_ERR_OUT_OF_MEMORY || (extreme && st == NEARKIT_ERR_INVALID_ARGUMENT)) return false;
    if (st) fuzz_fail("k-NN search of a ready index failed", st);
    bool exact = kind_is_exact(ix);
    fuzz_trace("k-NN: %llu queries, k %llu, queries stored: %d", (unsigned long long)nq, (unsigned long long)k,
               queries_are_stored);
    trace_vectors("query", ix, queries, nq);
    for (uint64_t q = 0; q < nq; q++) {
        const int64_t *ids = out->ids + q * k;
        const float *d = out->distances + q * k;
        trace_row("neighbour", ids, d, k);
        uint64_t real = check_knn_row(ids, d, k, ix);
        if (exact && queries_are_stored && self_distance_is_zero(nearkit_index_metric(ix)) && real && d[0] != 0)
            fuzz_fail("an exact kind misses a stored vector searched for itself", NEARKIT_OK);
    }

    /* range search at a radius the k-NN answer makes interesting: its last real distance */
    float radius = (float)rng_below(r, 4);
    for (uint64_t j = 0; j < k; j++)
        if (out->ids[j] != -1) radius = out->distances[j];
    if (rng_below(r, 8) == 0) radius = rng_below(r, 2) ? -1.0f : INFINITY;
    fuzz_trace("range search, radius %.9g", radius);
    nearkit_range_result *range = NULL;
    st = nearkit_index_range_search(&range, ix, nearkit_index_vector_type(ix), queries, nq, radius, NULL);
    if (st == NEARKIT_ERR_OUT_OF_MEMORY) return true;
    if (st) fuzz_fail("range search of a ready index failed", st); /* k-NN took these queries */
    const uint64_t *offsets = NULL;
    const int64_t *ids = NULL;
    const float *d = NULL;
    if (nearkit_range_result_get(&offsets, &ids, &d, range) || nearkit_range_result_query_count(range) != nq)
        fuzz_fail("a range result does not describe its queries", NEARKIT_OK);
    for (uint64_t q = 0; q < nq; q++) {
        uint64_t begin = offsets[q], end = offsets[q + 1];
        if (end < begin || end - begin > nearkit_index_count(ix))
            fuzz_fail("range result offsets out of order", NEARKIT_OK);
        trace_row("match", ids + begin, d + begin, end - begin);
        for (uint64_t j = begin; j < end; j++) {
            check_distance(d[j], ix);
            if (d[j] > radius) fuzz_fail("a range match beyond the radius", NEARKIT_OK);
        }
        check_order(ids + begin, d + begin, end - begin);
    }
    nearkit_range_result_free(range);
    return true;
}

/* Adds n vectors, half the time with ids (few and small: duplicates); the library must take
 * them or refuse extreme ones. Returns whether it took them. */
static bool add_vectors(nearkit_index *ix, const void *vectors, uint64_t n, bool extreme, rng *r) {
    int64_t ids[MAX_ADD];
    for (uint64_t i = 0; i < n; i++) {
        int64_t id = (int64_t)rng_below(r, 64) - 8;
        ids[i] = id == -1 ? 7 : id;
    }
    uint64_t before = nearkit_index_count(ix);
    bool with_ids = rng_below(r, 2);
    trace_vectors("add", ix, vectors, n);
    for (uint64_t i = 0; with_ids && i < n; i++) fuzz_trace("  with id %lld", (long long)ids[i]);
    nearkit_status st = nearkit_index_add(ix, nearkit_index_vector_type(ix), vectors, n, with_ids ? ids : NULL);
    fuzz_trace("add: %s", nearkit_status_name(st));
    if (st == NEARKIT_OK && nearkit_index_count(ix) != before + n)
        fuzz_fail("add did not add its vectors", st);
    if (st && nearkit_index_count(ix) != before) fuzz_fail("a refused add changed the index", st);
    if (st && st != NEARKIT_ERR_OUT_OF_MEMORY && !(extreme && st == NEARKIT_ERR_INVALID_ARGUMENT))
        fuzz_fail("add of valid vectors failed", st);
    return st == NEARKIT_OK;
}

static void exercise(nearkit_index *ix, rng *r) {
    uint64_t bytes = nearkit_index_vector_bytes(ix);
    uint8_t *fresh = malloc(MAX_ADD * bytes), *queries = malloc(MAX_QUERIES * bytes);
    uint32_t threads = 1 + rng_below(r, 2);
    nearkit_status st = nearkit_index_set_param(ix, "num_threads", threads);
    if (st) fuzz_fail("num_threads refused a valid value", st);
    fuzz_trace("num_threads %u", threads);

    uint64_t n_add = rng_below(r, MAX_ADD + 1);
    bool extreme = make_vectors(fresh, ix, n_add, r);
    bool added = n_add > 0 && add_vectors(ix, fresh, n_add, extreme, r);

    st = nearkit_index_build(ix);
    fuzz_trace("build: %s %s", nearkit_status_name(st), nearkit_last_error_message());
    if (st == NEARKIT_OK && !nearkit_index_is_ready(ix)) fuzz_fail("build returned OK, index not ready", st);
    if (st && st != NEARKIT_ERR_STATE && st != NEARKIT_ERR_OUT_OF_MEMORY &&
        !(extreme && st == NEARKIT_ERR_INVALID_ARGUMENT))
        fuzz_fail("build failed", st);

    if (nearkit_index_is_ready(ix)) {
        uint64_t nq = 1 + rng_below(r, MAX_QUERIES);
        /* the vectors just added searched for themselves, else fresh ones */
        bool stored = added && rng_below(r, 2) && nq <= n_add;
        bool wild = stored && extreme;
        if (stored) memcpy(queries, fresh, nq * bytes);
        else wild = make_vectors(queries, ix, nq, r);
        uint64_t k = 1 + rng_below(r, (uint32_t)nearkit_index_count(ix) + 3);
        answers a = {calloc(nq * k, sizeof(int64_t)), calloc(nq * k, sizeof(float))};
        answers b = {calloc(nq * k, sizeof(int64_t)), calloc(nq * k, sizeof(float))};
        bool searched = search_and_check(&a, ix, queries, nq, k, stored, wild, r);

        /* what was built saves and loads back to an index answering alike */
        void *image = NULL;
        size_t size = 0;
        nearkit_index *copy = NULL;
        if (nearkit_index_save_to_buffer(&image, &size, ix) == NEARKIT_OK) {
            st = nearkit_index_load_from_buffer(&copy, image, size);
            if (st && st != NEARKIT_ERR_OUT_OF_MEMORY) fuzz_fail("a built index saved does not load", st);
            nearkit_buffer_free(image);
        }
        if (copy && searched && nearkit_index_search(b.ids, b.distances, copy, nearkit_index_vector_type(ix), queries, nq, k,
                                         NULL) == NEARKIT_OK &&
            (memcmp(a.ids, b.ids, nq * k * sizeof(int64_t)) != 0 ||
             memcmp(a.distances, b.distances, nq * k * sizeof(float)) != 0))
            fuzz_fail("an index saved and loaded back answers differently", NEARKIT_OK);
        nearkit_index_free(copy);
        free(a.ids), free(a.distances), free(b.ids), free(b.distances);
    }
    free(fresh);
    free(queries);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_index_load_from_buffer(&index, data, size);
    fuzz_expect_load_outcome(st, index);
    if (!index) return 0;
    rng r = {hash_input(data, size)};
    fuzz_inspect(index);
    fuzz_trace("loaded %s %s, dimension %u, %llu vectors", nearkit_kind_name(nearkit_index_kind(index)),
               nearkit_metric_name(nearkit_index_metric(index)), nearkit_index_dimension(index),
               (unsigned long long)nearkit_index_count(index));
    if (nearkit_index_vector_bytes(index) <= MAX_VECTOR_BYTES && nearkit_index_count(index) <= MAX_COUNT)
        exercise(index, &r);
    fuzz_expect_round_trip(index);
    nearkit_index_free(index);
    return 0;
}
