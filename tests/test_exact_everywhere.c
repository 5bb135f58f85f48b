/* Exact means exact (issue 13): every exact kind (NEARKIT_KIND_FLAG_EXACT), under every metric it
 * supports, returns the ids, distances (bit for bit) and tie order of a brute-force reference
 * computed here, whatever the kernel level (NEARKIT_KERNELS, run by tests/matrix.cmake at each
 * level) and whatever the BLAS rounds (NEARKIT_TEST_PERTURB_GEMM, the matrix's perturbed cell).
 *
 * The reference is independent of the library's code: it computes each distance the way
 * include/nearkit.h and core/kernels/kernels.c define it (the canonical order: 32 partial sums, element i
 * to partial i % 32, fused multiply-adds, then the halving tree; l2 rooted with sqrtf; cosine on
 * vectors scaled to unit length in double, as core/api/index.c does on input), then ranks every row
 * by (ranking value, id), where the ranking value is the reported distance except for l2, which
 * ranks by the squared distance (nearkit.h: "for l2 nearest is decided on the squared distance");
 * a k-NN row is the first k of that order shown by (reported distance, id), so rows whose squares
 * differ but root to one float are chosen by their squares and shown in id order. Each reference
 * distance is also checked against the metric's value
 * in double precision (golden.md's definitions) within float rounding, and against the library's
 * own per-pair kernel, so a failure says whether the reference, the kernel or the search is off.
 *
 * The data are made to catch a shortcut deciding on rounding noise: exact duplicates, copies moved
 * by a few ulps in a few coordinates, integer grids where many distances are equal, a cluster at
 * large norm where the sgemm expansion |q|^2 + |x|^2 - 2<q,x> cancels worst, the zero vector
 * (cosine: orthogonal to everything), ids in scrambled order (so tie order is not insertion
 * order), k below, at and above the count, and range radii equal to a reference distance and one
 * float below it. Every search runs as one batch (flat's sgemm path for l2 / ip / cosine), in
 * odd-sized chunks (other tile edges) and one query per call (the kernel path); all must agree
 * with the reference, so with each other. */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include "kernels/kernels.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MAX_REPORTS 100 /* mismatch lines printed in all; later ones are only counted */
static int reports;

/* ---- pseudo-random data ------------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *state) { /* splitmix64 */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *state, uint64_t m) { return rng_next(state) % m; }

/* A double in [-1, 1). */
static double rng_signed(uint64_t *state) { return (double)(rng_next(state) >> 11) * 0x1p-52 - 1.0; }

typedef struct dataset {
    const char *name;
    uint64_t seed;
    nearkit_vector_type type;
    uint32_t dim;         /* floats, or bits */
    size_t vector_bytes;
    uint64_t count, nq;
    void *base, *queries; /* as given to the library */
    int64_t *ids;         /* NULL: insertion order */
} dataset;

static void dataset_alloc(dataset *ds, const char *name, uint64_t seed, nearkit_vector_type type,
                          uint32_t dim, uint64_t count, uint64_t nq, bool scrambled_ids) {
    ds->name = name;
    ds->seed = seed;
    ds->type = type;
    ds->dim = dim;
    ds->vector_bytes = type == NEARKIT_VECTOR_FLOAT32 ? (size_t)dim * sizeof(float) : dim / 8;
    ds->count = count;
    ds->nq = nq;
    ds->base = calloc((size_t)count, ds->vector_bytes);
    ds->queries = calloc((size_t)nq, ds->vector_bytes);
    ds->ids = NULL;
    if (scrambled_ids) {
        /* a bijection of the positions, far from their order; a large odd multiplier mod 2^40
         * keeps ids distinct and their order unrelated to the insertion order */
        ds->ids = malloc((size_t)count * sizeof *ds->ids);
        for (uint64_t i = 0; i < count; i++)
            ds->ids[i] = (int64_t)(((i + 1) * 0x9E3779B97Full) & ((1ull << 40) - 1));
    }
}

static void dataset_free(dataset *ds) {
    free(ds->base);
    free(ds->queries);
    free(ds->ids);
}

static float *frow(void *v, uint32_t d, uint64_t i) { return (float *)v + i * d; }

/* Moves `coords` random coordinates of v by 1 to 3 ulps, up or down: a near-tie below any
 * error bound a shortlist could honestly claim. */
static void nudge_ulps(float *v, uint32_t d, unsigned coords, uint64_t *rng) {
    for (unsigned c = 0; c < coords; c++) {
        float *x = &v[rng_below(rng, d)];
        float to = rng_below(rng, 2) ? INFINITY : -INFINITY;
        for (uint64_t s = 1 + rng_below(rng, 3); s > 0; s--) *x = nextafterf(*x, to);
    }
}

/* Rows near prototypes: an exact copy, a copy nudged by ulps, or a fresh row, with `spread` the
 * size of the fresh rows' offsets from `centre` (centre 0, spread 1: uniform in [-1, 1)). */
static void fill_near_prototypes(dataset *ds, const float *protos, uint64_t nprotos, double centre,
                                 double spread, uint64_t *rng) {
    uint32_t d = ds->dim;
    for (uint64_t i = 0; i < ds->count; i++) {
        float *row = frow(ds->base, d, i);
        const float *p = protos + rng_below(rng, nprotos) * d;
        switch (rng_below(rng, 4)) {
        case 0: memcpy(row, p, d * sizeof *row); break;
        case 1:
        case 2:
            memcpy(row, p, d * sizeof *row);
            nudge_ulps(row, d, 1 + (unsigned)rng_below(rng, 3), rng);
            break;
        default:
            for (uint32_t j = 0; j < d; j++) row[j] = (float)(centre + spread * rng_signed(rng));
        }
    }
}

/* Queries: a stored row, a prototype, a prototype nudged by ulps, or a fresh row. */
static void fill_queries_near(dataset *ds, const float *protos, uint64_t nprotos, double centre,
                              double spread, uint64_t *rng) {
    uint32_t d = ds->dim;
    for (uint64_t i = 0; i < ds->nq; i++) {
        float *q = frow(ds->queries, d, i);
        switch (i % 4) {
        case 0: memcpy(q, frow(ds->base, d, rng_below(rng, ds->count)), d * sizeof *q); break;
        case 1: memcpy(q, protos + rng_below(rng, nprotos) * d, d * sizeof *q); break;
        case 2:
            memcpy(q, protos + rng_below(rng, nprotos) * d, d * sizeof *q);
            nudge_ulps(q, d, 1 + (unsigned)rng_below(rng, 2), rng);
            break;
        default:
            for (uint32_t j = 0; j < d; j++) q[j] = (float)(centre + spread * rng_signed(rng));
        }
    }
}

static float *random_prototypes(uint64_t n, uint32_t d, double centre, double spread, uint64_t *rng) {
    float *p = malloc((size_t)n * d * sizeof *p);
    for (uint64_t i = 0; i < n * d; i++) p[i] = (float)(centre + spread * rng_signed(rng));
    return p;
}

/* Uniform-ish prototypes in [-1, 1), their duplicates and ulp-neighbours; one stored row and one
 * query are the zero vector. */
static void make_nudged(dataset *ds) {
    uint64_t rng = ds->seed;
    float *protos = random_prototypes(ds->count / 6, ds->dim, 0.0, 1.0, &rng);
    fill_near_prototypes(ds, protos, ds->count / 6, 0.0, 1.0, &rng);
    fill_queries_near(ds, protos, ds->count / 6, 0.0, 1.0, &rng);
    memset(frow(ds->base, ds->dim, 17), 0, ds->dim * sizeof(float));
    memset(frow(ds->queries, ds->dim, 5), 0, ds->dim * sizeof(float));
    free(protos);
}

/* One tight cluster far from the origin (coordinates of magnitude 1000 to 4000, offsets of 0.01):
 * the sgemm expansion loses everything to cancellation there, cosine distances are all within a
 * few ulps of 0 and ip values within a few ulps of each other, so nearly every boundary is a
 * near-tie the exact kernels must settle. */
static void make_far_cluster(dataset *ds) {
    uint64_t rng = ds->seed;
    uint32_t d = ds->dim;
    float *centre = malloc(d * sizeof *centre);
    for (uint32_t j = 0; j < d; j++) {
        double m = 1000.0 + 3000.0 * (rng_signed(&rng) + 1.0) / 2.0;
        centre[j] = (float)(rng_below(&rng, 2) ? m : -m);
    }
    uint64_t nprotos = ds->count / 8;
    float *protos = malloc((size_t)nprotos * d * sizeof *protos);
    for (uint64_t i = 0; i < nprotos; i++)
        for (uint32_t j = 0; j < d; j++)
            protos[i * d + j] = (float)(centre[j] + 0.01 * rng_signed(&rng));
    /* fresh rows: the centre plus offsets, drawn around 0 and added */
    fill_near_prototypes(ds, protos, nprotos, 0.0, 0.01, &rng);
    for (uint64_t i = 0; i < ds->count; i++) {
        float *row = frow(ds->base, d, i);
        if (fabsf(row[0]) < 100.0f)
            for (uint32_t j = 0; j < d; j++) row[j] = centre[j] + row[j];
    }
    fill_queries_near(ds, protos, nprotos, 0.0, 0.01, &rng);
    for (uint64_t i = 0; i < ds->nq; i++) {
        float *q = frow(ds->queries, d, i);
        if (fabsf(q[0]) < 100.0f)
            for (uint32_t j = 0; j < d; j++) q[j] = centre[j] + q[j];
    }
    free(protos);
    free(centre);
}

/* Small integers (and half-integers in the queries): many distances exactly equal, the zero
 * vector among the rows and the queries. */
static void make_grid(dataset *ds, int span) {
    uint64_t rng = ds->seed;
    uint32_t d = ds->dim;
    for (uint64_t i = 0; i < ds->count * d; i++)
        ((float *)ds->base)[i] = (float)((int)rng_below(&rng, 2 * (uint64_t)span + 1) - span);
    for (uint64_t i = 0; i < ds->nq * d; i++)
        ((float *)ds->queries)[i] =
            (float)((int)rng_below(&rng, 4 * (uint64_t)span + 1) - 2 * span) / 2.0f;
    memset(frow(ds->base, d, 3), 0, d * sizeof(float));
    memset(frow(ds->queries, d, 0), 0, d * sizeof(float));
    for (uint64_t i = 1; i < ds->nq; i += 5) /* some queries are stored rows */
        memcpy(frow(ds->queries, d, i), frow(ds->base, d, rng_below(&rng, ds->count)), d * sizeof(float));
}

/* The l2 rule for squares that root to one float: row 0 is at squared distance 1 + 2^-23 from the
 * zero query, row 1 at exactly 1, and both report sqrtf of it, 1.0. l2 chooses by the square
 * (nearkit.h), so k = 1 answers row 1; k >= 2 and a range search of radius 1 hold both, shown in
 * id order, row 0 first. The other rows are farther; the queries are 8 zero vectors, so flat's batch
 * takes sgemm (exact here: no rounding in any product). */
static void make_rooted_tie(dataset *ds) {
    uint32_t d = ds->dim;
    float *base = ds->base;
    base[0] = 1.0f;
    base[1] = ldexpf(1.2f, -12); /* its square, about 1.44 * 2^-24, rounds 1 + it up to 1 + 2^-23 */
    base[d] = 1.0f;
    for (uint64_t i = 2; i < ds->count; i++) base[i * d + i % d] = 2.0f + (float)i / 4.0f;
}

static void flip_bits(uint8_t *code, size_t nbytes, uint64_t flips, uint64_t *rng) {
    for (uint64_t f = 0; f < flips; f++) {
        uint64_t b = rng_below(rng, nbytes * 8);
        code[b / 8] ^= (uint8_t)(1u << (b % 8));
    }
}

/* Binary codes: near-duplicates of prototypes (0 to max_flips bits flipped) and random codes;
 * sparse: each byte holds at most one set bit, so distances are small and ties everywhere. */
static void make_codes(dataset *ds, uint64_t max_flips, bool sparse) {
    uint64_t rng = ds->seed;
    size_t nb = ds->vector_bytes;
    uint64_t nprotos = ds->count / 7;
    uint8_t *protos = malloc((size_t)nprotos * nb);
    for (uint64_t i = 0; i < nprotos * nb; i++)
        protos[i] = sparse ? (uint8_t)(rng_below(&rng, 4) == 0 ? 1u << rng_below(&rng, 8) : 0)
                           : (uint8_t)rng_next(&rng);
    uint8_t *base = ds->base, *queries = ds->queries;
    for (uint64_t i = 0; i < ds->count; i++) {
        memcpy(base + i * nb, protos + rng_below(&rng, nprotos) * nb, nb);
        if (rng_below(&rng, 5) == 0 && !sparse)
            for (size_t j = 0; j < nb; j++) base[i * nb + j] = (uint8_t)rng_next(&rng);
        else
            flip_bits(base + i * nb, nb, rng_below(&rng, max_flips + 1), &rng);
    }
    for (uint64_t i = 0; i < ds->nq; i++) {
        if (i % 3 == 0)
            memcpy(queries + i * nb, base + rng_below(&rng, ds->count) * nb, nb);
        else
            memcpy(queries + i * nb, protos + rng_below(&rng, nprotos) * nb, nb);
        if (i % 3 == 2) flip_bits(queries + i * nb, nb, 1 + rng_below(&rng, max_flips + 1), &rng);
    }
    free(protos);
}

/* ---- the reference ----------------------------------------------------------------------------- */

enum { TERM_L2SQ, TERM_L1, TERM_DOT };
#define PARTIALS 32

/* The canonical order of core/kernels/kernels.c, written from its description. */
static float canonical_sum(const float *a, const float *b, size_t d, int term) {
    float p[PARTIALS] = {0};
    for (size_t i = 0; i < d; i++) {
        float *s = &p[i % PARTIALS];
        if (term == TERM_L2SQ) {
            float t = a[i] - b[i];
            *s = fmaf(t, t, *s);
        } else if (term == TERM_L1) {
            *s = *s + fabsf(a[i] - b[i]);
        } else {
            *s = fmaf(a[i], b[i], *s);
        }
    }
    for (size_t w = PARTIALS / 2; w > 0; w /= 2)
        for (size_t k = 0; k < w; k++) p[k] = p[k] + p[k + w];
    return p[0];
}

static float max_abs_difference(const float *a, const float *b, size_t d) {
    float m = 0.0f;
    for (size_t i = 0; i < d; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static uint32_t differing_bits(const uint8_t *a, const uint8_t *b, size_t nbytes) {
    uint32_t n = 0;
    for (size_t i = 0; i < nbytes; i++) n += (uint32_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
    return n;
}

/* The distance the library reports for a pair; cosine vectors already unit length. */
static float reference_distance(nearkit_metric metric, const void *q, const void *x, uint32_t dim) {
    switch (metric) {
    case NEARKIT_METRIC_L2: return sqrtf(canonical_sum(q, x, dim, TERM_L2SQ));
    case NEARKIT_METRIC_L1: return canonical_sum(q, x, dim, TERM_L1);
    case NEARKIT_METRIC_LINF: return max_abs_difference(q, x, dim);
    case NEARKIT_METRIC_COSINE: return 1.0f - canonical_sum(q, x, dim, TERM_DOT);
    case NEARKIT_METRIC_IP: return -canonical_sum(q, x, dim, TERM_DOT);
    default: return (float)differing_bits(q, x, dim / 8);
    }
}

/* The same pair through the library's kernel table in use (the ranking scale: l2 squared). */
static float kernel_distance(nearkit_metric metric, const void *q, const void *x, uint32_t dim) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    switch (metric) {
    case NEARKIT_METRIC_L2: return sqrtf(kt->l2sq(q, x, dim));
    case NEARKIT_METRIC_L1: return kt->l1(q, x, dim);
    case NEARKIT_METRIC_LINF: return kt->linf(q, x, dim);
    case NEARKIT_METRIC_COSINE: return 1.0f - kt->dot(q, x, dim);
    case NEARKIT_METRIC_IP: return -kt->dot(q, x, dim);
    default: return (float)kt->hamming(q, x, dim / 8);
    }
}

/* The metric in double from the vectors as given (docs/golden.md), and a bound on how far the
 * float value may honestly be from it: gamma of the terms summed, over the sum of magnitudes. */
static void double_distance(double *value, double *tolerance, nearkit_metric metric, const float *q,
                            const float *x, uint32_t d) {
    double acc = 0, mag = 0, nq = 0, nx = 0;
    for (uint32_t j = 0; j < d; j++) {
        double t = (double)x[j] - q[j], p = (double)x[j] * q[j];
        switch (metric) {
        case NEARKIT_METRIC_L2: acc += t * t; break;
        case NEARKIT_METRIC_L1: acc += fabs(t); break;
        case NEARKIT_METRIC_LINF: acc = fmax(acc, fabs(t)); break;
        default:
            acc += p;
            mag += fabs(p);
            nq += (double)q[j] * q[j];
            nx += (double)x[j] * x[j];
        }
    }
    double rel = (d + 8.0) * 0x1p-22; /* generous: the checks below want a gross error only */
    switch (metric) {
    case NEARKIT_METRIC_L2: *value = sqrt(acc); *tolerance = rel * *value; break;
    case NEARKIT_METRIC_L1:
    case NEARKIT_METRIC_LINF: *value = acc; *tolerance = rel * acc; break;
    case NEARKIT_METRIC_IP: *value = -acc; *tolerance = rel * mag; break;
    default: /* cosine */
        *value = nq > 0 && nx > 0 ? 1.0 - acc / (sqrt(nq) * sqrt(nx)) : 1.0;
        *tolerance = nq > 0 && nx > 0 ? rel * (1.0 + mag / (sqrt(nq) * sqrt(nx))) : 0.0;
    }
}

/* Cosine input as core/api/index.c prepares it: scaled by 1 / |v| computed in double, rounded once;
 * a zero vector stays zero. */
static float *unit_copy(const float *v, uint64_t n, uint32_t d) {
    float *out = malloc((size_t)n * d * sizeof *out);
    for (uint64_t i = 0; i < n; i++) {
        double norm = 0;
        for (uint32_t j = 0; j < d; j++) norm += (double)v[i * d + j] * v[i * d + j];
        double scale = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
        for (uint32_t j = 0; j < d; j++) out[i * d + j] = (float)(v[i * d + j] * scale);
    }
    return out;
}

typedef struct ranked {
    float dist; /* reported */
    int64_t id;
    float key;  /* ranking value: dist, or for l2 the square it is the root of */
} ranked;

static int compare_ranked(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int compare_key(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* The first n of a reference row, in the order a result shows them: (reported distance, id). */
static ranked *shown_order(const ranked *row, uint64_t n) {
    ranked *shown = malloc((size_t)(n ? n : 1) * sizeof *shown);
    memcpy(shown, row, (size_t)n * sizeof *shown);
    qsort(shown, (size_t)n, sizeof *shown, compare_ranked);
    return shown;
}

/* Every query's rows, nearest first by (ranking value, id): nq x count. */
typedef struct reference {
    nearkit_metric metric;
    ranked *rows;
} reference;

static int64_t id_at(const dataset *ds, uint64_t i) { return ds->ids ? ds->ids[i] : (int64_t)i; }

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
    if (++reports > MAX_REPORTS) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* Computes the reference, checking each distance against double precision and the kernel. */
static reference reference_compute(const dataset *ds, nearkit_metric metric) {
    reference ref = {metric, malloc((size_t)(ds->nq * ds->count) * sizeof(ranked))};
    const void *base = ds->base, *queries = ds->queries;
    float *ubase = NULL, *uqueries = NULL;
    if (metric == NEARKIT_METRIC_COSINE) {
        base = ubase = unit_copy(ds->base, ds->count, ds->dim);
        queries = uqueries = unit_copy(ds->queries, ds->nq, ds->dim);
    }
    bool binary = ds->type == NEARKIT_VECTOR_BINARY;
    int bad_double = 0, bad_kernel = 0;
    for (uint64_t q = 0; q < ds->nq; q++) {
        const uint8_t *qv = (const uint8_t *)queries + q * ds->vector_bytes;
        ranked *row = ref.rows + q * ds->count;
        for (uint64_t i = 0; i < ds->count; i++) {
            const uint8_t *xv = (const uint8_t *)base + i * ds->vector_bytes;
            float dist = reference_distance(metric, qv, xv, ds->dim);
            float key = metric == NEARKIT_METRIC_L2
                             ? canonical_sum((const float *)qv, (const float *)xv, ds->dim, TERM_L2SQ)
                             : dist;
            row[i] = (ranked){dist, id_at(ds, i), key};
            if (!same_bits(dist, kernel_distance(metric, qv, xv, ds->dim)) && bad_kernel++ == 0)
                report("  reference != %s kernel: %s %s query %llu row %llu: %a vs %a\n",
                       nearkit_kernels_name(), ds->name, nearkit_metric_name(metric),
                       (unsigned long long)q, (unsigned long long)i, (double)dist,
                       (double)kernel_distance(metric, qv, xv, ds->dim));
            if (!binary) {
                double exact, tol;
                double_distance(&exact, &tol, metric, frow(ds->queries, ds->dim, q),
                                frow(ds->base, ds->dim, i), ds->dim);
                if (!(fabs(dist - exact) <= tol) && bad_double++ == 0)
                    report("  reference far from double: %s %s query %llu row %llu: %a vs %.17g\n",
                           ds->name, nearkit_metric_name(metric), (unsigned long long)q,
                           (unsigned long long)i, (double)dist, exact);
            } else if (dist != (float)differing_bits(qv, xv, ds->vector_bytes) && bad_double++ == 0) {
                report("  reference is not the bit count: %s query %llu row %llu\n", ds->name,
                       (unsigned long long)q, (unsigned long long)i);
            }
        }
        qsort(row, (size_t)ds->count, sizeof *row, compare_key);
    }
    CHECK(bad_kernel == 0);
    CHECK(bad_double == 0);
    free(ubase);
    free(uqueries);
    return ref;
}

/* ---- comparing the library with the reference -------------------------------------------------- */

typedef struct config {
    const dataset *ds;
    const char *kind;
    nearkit_metric metric;
    const char *params;
} config;

static void describe(char *out, size_t size, const config *c) {
    snprintf(out, size, "kind %s metric %s data %s (seed %llu, dim %u, count %llu) params %s",
             c->kind, nearkit_metric_name(c->metric), c->ds->name, (unsigned long long)c->ds->seed,
             c->ds->dim, (unsigned long long)c->ds->count, c->params ? c->params : "-");
}

/* One k-NN row against the reference: the first min(k, count) rows, then padding. */
static bool knn_row_matches(const config *c, const reference *ref, const char *path, uint64_t q,
                            uint64_t k, const int64_t *ids, const float *dist) {
    ranked *want = shown_order(ref->rows + q * c->ds->count, k < c->ds->count ? k : c->ds->count);
    bool ok = true;
    for (uint64_t r = 0; r < k; r++) {
        int64_t wid = r < c->ds->count ? want[r].id : -1;
        float wd = r < c->ds->count ? want[r].dist : INFINITY;
        if (ids[r] == wid && same_bits(dist[r], wd)) continue;
        char what[256];
        describe(what, sizeof what, c);
        report("  k-NN differs: %s path %s k %llu query %llu rank %llu: id %lld dist %a, expected "
               "id %lld dist %a\n",
               what, path, (unsigned long long)k, (unsigned long long)q, (unsigned long long)r,
               (long long)ids[r], (double)dist[r], (long long)wid, (double)wd);
        ok = false;
        break;
    }
    free(want);
    return ok;
}

/* Searches queries [q0, q0 + n) in one call and checks each row. */
static bool search_and_check(const config *c, const reference *ref, const nearkit_index *ix,
                             const char *path, uint64_t q0, uint64_t n, uint64_t k, int64_t *ids,
                             float *dist) {
    const dataset *ds = c->ds;
    const void *queries = (const uint8_t *)ds->queries + q0 * ds->vector_bytes;
    nearkit_status st = nearkit_index_search(ids, dist, ix, ds->type, queries, n, k, NULL);
    CHECK_STATUS(st, NEARKIT_OK);
    if (st) return false;
    bool ok = true;
    for (uint64_t i = 0; i < n && ok; i++)
        ok = knn_row_matches(c, ref, path, q0 + i, k, ids + i * k, dist + i * k);
    return ok;
}

/* The batch, chunks of 13 queries (sgemm still applies, other tile edges) and one per call. */
static void check_knn(const config *c, const reference *ref, const nearkit_index *ix, uint64_t k) {
    const dataset *ds = c->ds;
    int64_t *ids = malloc((size_t)(ds->nq * k) * sizeof *ids);
    float *dist = malloc((size_t)(ds->nq * k) * sizeof *dist);
    CHECK(search_and_check(c, ref, ix, "batch", 0, ds->nq, k, ids, dist));
    bool chunks = true, singles = true;
    for (uint64_t q = 0; q < ds->nq && chunks; q += 13)
        chunks = search_and_check(c, ref, ix, "chunks of 13", q, ds->nq - q < 13 ? ds->nq - q : 13,
                                  k, ids, dist);
    for (uint64_t q = 0; q < ds->nq && singles; q++)
        singles = search_and_check(c, ref, ix, "one per call", q, 1, k, ids, dist);
    CHECK(chunks);
    CHECK(singles);
    free(ids);
    free(dist);
}

static bool range_row_matches(const config *c, const reference *ref, float radius, uint64_t q,
                              const int64_t *ids, const float *dist, uint64_t got) {
    const ranked *row = ref->rows + q * c->ds->count;
    uint64_t expected = 0; /* reported distances grow with the ranking value: a prefix matches */
    while (expected < c->ds->count && row[expected].dist <= radius) expected++;
    ranked *want = shown_order(row, expected);
    bool ok = true;
    for (uint64_t r = 0; r < expected || r < got; r++) {
        if (r < expected && r < got && ids[r] == want[r].id && same_bits(dist[r], want[r].dist))
            continue;
        char what[256];
        describe(what, sizeof what, c);
        report("  range differs: %s radius %a query %llu rank %llu (%llu matches, expected %llu): "
               "id %lld dist %a, expected id %lld dist %a\n",
               what, (double)radius, (unsigned long long)q, (unsigned long long)r,
               (unsigned long long)got, (unsigned long long)expected,
               (long long)(r < got ? ids[r] : -1), (double)(r < got ? dist[r] : NAN),
               (long long)(r < expected ? want[r].id : -1),
               (double)(r < expected ? want[r].dist : NAN));
        ok = false;
        break;
    }
    free(want);
    return ok;
}

static void check_range(const config *c, const reference *ref, const nearkit_index *ix, float radius) {
    const dataset *ds = c->ds;
    nearkit_range_result *res = NULL;
    nearkit_status st = nearkit_index_range_search(&res, ix, ds->type, ds->queries, ds->nq, radius, NULL);
    CHECK_STATUS(st, NEARKIT_OK);
    if (st) return;
    const uint64_t *offsets;
    const int64_t *ids;
    const float *dist;
    CHECK_STATUS(nearkit_range_result_get(&offsets, &ids, &dist, res), NEARKIT_OK);
    bool ok = nearkit_range_result_query_count(res) == ds->nq;
    for (uint64_t q = 0; q < ds->nq && ok; q++)
        ok = range_row_matches(c, ref, radius, q, ids + offsets[q], dist + offsets[q],
                               offsets[q + 1] - offsets[q]);
    CHECK(ok);
    nearkit_range_result_free(res);
}

/* Radii at reference distances (so rows lie exactly on the radius), one float below such a
 * distance, and 0 (exact duplicates) where distances are not signed. */
static void check_ranges(const config *c, const reference *ref, const nearkit_index *ix) {
    const dataset *ds = c->ds;
    float at_5 = ref->rows[(ds->count < 6 ? ds->count - 1 : 5)].dist;
    float wide = ref->rows[(ds->nq / 2) * ds->count + ds->count / 8].dist;
    float radii[4] = {at_5, nextafterf(at_5, -INFINITY), wide, 0.0f};
    size_t n = c->metric == NEARKIT_METRIC_IP ? 3 : 4;
    for (size_t i = 0; i < n; i++) check_range(c, ref, ix, radii[i]);
}

static nearkit_index *build_index(const config *c) {
    const dataset *ds = c->ds;
    nearkit_kind kind;
    nearkit_index *ix = NULL;
    nearkit_index_options opt = NEARKIT_INDEX_OPTIONS_INIT;
    opt.params = c->params;
    CHECK_STATUS(nearkit_kind_from_name(&kind, c->kind), NEARKIT_OK);
    nearkit_status st = nearkit_index_create(&ix, kind, c->metric, ds->dim, &opt);
    if (!st) st = nearkit_index_add(ix, ds->type, ds->base, ds->count, ds->ids);
    if (!st) st = nearkit_index_build(ix);
    CHECK_STATUS(st, NEARKIT_OK);
    if (st) {
        nearkit_index_free(ix);
        return NULL;
    }
    return ix;
}

static void check_config(const config *c, const reference *ref) {
    nearkit_index *ix = build_index(c);
    if (!ix) return;
    uint64_t n = c->ds->count;
    /* below the sgemm shortlist's margin, past it, and below, at and above the count */
    const uint64_t ks[] = {1, 10, 50, n - 1, n, n + 5};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) check_knn(c, ref, ix, ks[i]);
    check_ranges(c, ref, ix);
    nearkit_index_free(ix);
}

/* A kind with a leaf size runs again with tiny leaves: far more pruning decisions. */
static bool has_param(const char *kind_name, nearkit_metric metric, uint32_t dim, const char *param) {
    nearkit_kind kind;
    nearkit_index *ix = NULL;
    double value;
    bool has = nearkit_kind_from_name(&kind, kind_name) == NEARKIT_OK &&
               nearkit_index_create(&ix, kind, metric, dim, NULL) == NEARKIT_OK &&
               nearkit_index_get_param(&value, ix, param) == NEARKIT_OK;
    nearkit_index_free(ix);
    return has;
}

/* Every exact kind with every metric it supports on this dataset's vector type. */
static void check_dataset(const dataset *ds) {
    static const nearkit_metric float_metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_L1,
                                                   NEARKIT_METRIC_LINF, NEARKIT_METRIC_COSINE,
                                                   NEARKIT_METRIC_IP};
    static const nearkit_metric binary_metrics[] = {NEARKIT_METRIC_HAMMING};
    bool binary = ds->type == NEARKIT_VECTOR_BINARY;
    const nearkit_metric *metrics = binary ? binary_metrics : float_metrics;
    size_t n_metrics = binary ? 1 : sizeof float_metrics / sizeof float_metrics[0];
    for (size_t m = 0; m < n_metrics; m++) {
        reference ref = reference_compute(ds, metrics[m]);
        for (size_t i = 0; i < nearkit_kind_count(); i++) {
            nearkit_kind_info info = NEARKIT_KIND_INFO_INIT;
            CHECK_STATUS(nearkit_kind_get_info(&info, i), NEARKIT_OK);
            if (!(info.flags & NEARKIT_KIND_FLAG_EXACT) || !(info.metric_mask & (1u << metrics[m])))
                continue;
            config c = {ds, info.name, metrics[m], NULL};
            check_config(&c, &ref);
            if (has_param(info.name, metrics[m], ds->dim, "leaf_size")) {
                c.params = "leaf_size=2";
                check_config(&c, &ref);
            }
        }
        free(ref.rows);
    }
}

int main(void) {
    const char *perturb = getenv("NEARKIT_TEST_PERTURB_GEMM");
    printf("test_exact_everywhere: kernels %s, sgemm perturbation %s\n", nearkit_kernels_name(),
           perturb && *perturb ? perturb : "off");
    dataset ds;

    dataset_alloc(&ds, "rooted_tie_d24", 1307, NEARKIT_VECTOR_FLOAT32, 24, 16, 8, false);
    make_rooted_tie(&ds);
    check_dataset(&ds);
    dataset_free(&ds);

    /* float: sgemm applies from 24 dimensions and 8 queries; 1100 rows cross a 1024-row tile */
    dataset_alloc(&ds, "nudged_d40", 1301, NEARKIT_VECTOR_FLOAT32, 40, 1100, 48, true);
    make_nudged(&ds);
    check_dataset(&ds);
    dataset_free(&ds);

    dataset_alloc(&ds, "far_cluster_d24", 1302, NEARKIT_VECTOR_FLOAT32, 24, 700, 40, false);
    make_far_cluster(&ds);
    check_dataset(&ds);
    dataset_free(&ds);

    dataset_alloc(&ds, "far_cluster_d130", 1303, NEARKIT_VECTOR_FLOAT32, 130, 400, 24, true);
    make_far_cluster(&ds);
    check_dataset(&ds);
    dataset_free(&ds);

    dataset_alloc(&ds, "grid_d3", 1304, NEARKIT_VECTOR_FLOAT32, 3, 600, 40, true);
    make_grid(&ds, 3);
    check_dataset(&ds);
    dataset_free(&ds);

    dataset_alloc(&ds, "grid_d32", 1305, NEARKIT_VECTOR_FLOAT32, 32, 700, 40, false);
    make_grid(&ds, 1);
    check_dataset(&ds);
    dataset_free(&ds);

    dataset_alloc(&ds, "nudged_d5", 1306, NEARKIT_VECTOR_FLOAT32, 5, 500, 32, false);
    make_nudged(&ds);
    check_dataset(&ds);
    dataset_free(&ds);

    /* binary: 64 bits (one word), 200 bits (a partial last word), sparse 128 bits (ties) */
    dataset_alloc(&ds, "codes64", 1311, NEARKIT_VECTOR_BINARY, 64, 1200, 48, true);
    make_codes(&ds, 3, false);
    check_dataset(&ds);
    dataset_free(&ds);

    dataset_alloc(&ds, "codes200", 1312, NEARKIT_VECTOR_BINARY, 200, 900, 40, false);
    make_codes(&ds, 6, false);
    check_dataset(&ds);
    dataset_free(&ds);

    dataset_alloc(&ds, "sparse128", 1313, NEARKIT_VECTOR_BINARY, 128, 700, 40, true);
    make_codes(&ds, 2, true);
    check_dataset(&ds);
    dataset_free(&ds);

    if (reports > MAX_REPORTS) fprintf(stderr, "  (%d more mismatches not printed)\n", reports - MAX_REPORTS);
    return check_summary("exact_everywhere");
}
