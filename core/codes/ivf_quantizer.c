/* The coarse quantizer of an IVF index (ivf_quantizer.h). */
#include "codes/ivf_quantizer.h"
#include "base/random.h"
#include "codes/codec.h"

#include "train/binary_kmeans.h"
#include "kernels/kernels.h"
#include "search/tile_scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CENT_TAG NEARKIT_TAG('C', 'E', 'N', 'T')
#define BCEN_TAG NEARKIT_TAG('B', 'C', 'E', 'N')

#define COARSE_BLOCK 256     /* queries per sgemm against the centroids */
#define CENTROID_BLOCK 1024  /* centroids per sgemm, or per Hamming kernel call */
#define COARSE_SCREEN_BYTES ((uint64_t)4 << 20) /* float centroids from which queries screen them (screened_probing) */
#define SCREEN_MAX_SHARE 8   /* ... when they ask for at most nlist / SCREEN_MAX_SHARE lists */

static bool is_l2(const nearkit_index *ix) { return ix->metric == NEARKIT_METRIC_L2; }

/* Drops the centroids' binary16 copy (screened_probing): probing then scores the floats. */
static void free_half_copy(nearkit_ivf_quantizer *q) {
    nearkit_aligned_free(q->half);
    free(q->half_error);
    free(q->half_norm);
    q->half = NULL;
    q->half_error = q->half_norm = NULL;
}

void nearkit_ivf_quantizer_free(nearkit_ivf_quantizer *q) {
    nearkit_aligned_free(q->centroids);
    free(q->norms);
    free_half_copy(q);
    free(q->codes);
    *q = (nearkit_ivf_quantizer){.binary = q->binary};
}

uint64_t nearkit_ivf_quantizer_memory(const nearkit_ivf_quantizer *q, const nearkit_index *ix) {
    uint64_t per_list = q->binary ? ix->vector_bytes
                                  : ix->dimension * sizeof(float) + (q->norms ? sizeof(float) : 0) +
                                        (q->half ? ix->dimension * sizeof(uint16_t) + 2 * sizeof(float) : 0);
    return (uint64_t)q->nlist * per_list;
}

uint32_t nearkit_ivf_automatic_nlist(uint64_t n, uint32_t max) {
    double s = floor(sqrt((double)n) + 0.5);
    return s < 1 ? 1u : s > max ? max : (uint32_t)s;
}

/* ---- training ---------------------------------------------------------------------------------- */

/* Whether a single query's coarse step screens the centroids through their binary16 copy: where
 * they are well past L2 (a query then reads them from L3 or memory, and they are most of its
 * bytes at small nprobe). Measured on an AVX-512 Xeon (2 MB of L2 a core; C driver, one thread,
 * alternated): 200,000 x 768 cosine, nlist 1,789 (5.5 MB): 18-31% more queries a second at
 * nprobe 1 to 4, 5-9% at 16; Fashion-MNIST, nlist 980 (3 MB): 3-7% fewer, the floats being
 * mostly in L2 already and the copy's conversions and bounds costing more than its bytes save. */
static bool screened_probing(const nearkit_ivf_quantizer *q, const nearkit_index *ix) {
    return (uint64_t)q->nlist * ix->dimension * sizeof(float) >= COARSE_SCREEN_BYTES;
}

/* The centroids' binary16 copy and its error bounds (screened_probing); none where a centroid
 * does not fit binary16's range (its copy would bound nothing). */
static nearkit_status make_half_copy(nearkit_ivf_quantizer *q, const nearkit_index *ix) {
    size_t d = ix->dimension;
    q->half = nearkit_aligned_alloc_array((size_t)q->nlist * d, sizeof(uint16_t));
    q->half_error = nearkit_alloc_array(q->nlist, sizeof(float));
    q->half_norm = nearkit_alloc_array(q->nlist, sizeof(float));
    if (!q->half || !q->half_error || !q->half_norm) return nearkit_oom();
    for (uint32_t l = 0; l < q->nlist; l++) {
        const float *c = q->centroids + (size_t)l * d;
        uint16_t *h = q->half + (size_t)l * d;
        double error = 0, norm = 0, half_norm = 0;
        for (size_t i = 0; i < d; i++) {
            h[i] = nearkit_float_to_half(c[i]);
            double v = nearkit_half_to_float(h[i]), e = (double)c[i] - v;
            error += e * e;
            norm += (double)c[i] * c[i];
            half_norm += v * v;
        }
        /* rounded up to a float: a bound must not shrink */
        q->half_error[l] = nextafterf((float)sqrt(error), INFINITY);
        q->half_norm[l] = nextafterf((float)(sqrt(norm) + sqrt(half_norm)), INFINITY);
        if (!isfinite(q->half_error[l]) || !isfinite(q->half_norm[l])) {
            free_half_copy(q);
            return NEARKIT_OK;
        }
    }
    return NEARKIT_OK;
}

/* What probing needs beside the centroids: l2's squared norms (the spherical assignment needs
 * none) and, where the centroids outgrow L2, their binary16 copy. */
static nearkit_status compute_norms(nearkit_ivf_quantizer *q, const nearkit_index *ix) {
    if (q->nlist > 1 && screened_probing(q, ix)) {
        nearkit_status st = make_half_copy(q, ix);
        if (st) return st;
    }
    if (!is_l2(ix)) return NEARKIT_OK;
    size_t d = ix->dimension;
    q->norms = nearkit_alloc_array(q->nlist, sizeof(float));
    if (!q->norms) return nearkit_oom();
    const nearkit_kernel_table *kt = nearkit_kernels();
    for (uint32_t l = 0; l < q->nlist; l++) {
        const float *c = q->centroids + (size_t)l * d;
        q->norms[l] = kt->dot(c, c, d);
    }
    return NEARKIT_OK;
}

nearkit_status nearkit_ivf_quantizer_train_float(nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                                 const nearkit_kmeans_config *cfg, const float *x,
                                                 uint64_t n) {
    q->centroids = nearkit_aligned_alloc_array((size_t)cfg->k * ix->dimension, sizeof(float));
    nearkit_status st = q->centroids ? NEARKIT_OK : nearkit_oom();
    if (!st) st = nearkit_kmeans_train(q->centroids, NULL, cfg, x, n, ix->dimension);
    q->nlist = cfg->k;
    if (!st) st = compute_norms(q, ix);
    if (st) nearkit_ivf_quantizer_free(q);
    return st;
}

nearkit_status nearkit_ivf_quantizer_single(nearkit_ivf_quantizer *q, const nearkit_index *ix) {
    q->centroids = nearkit_aligned_alloc_array(ix->dimension, sizeof(float));
    if (!q->centroids) return nearkit_oom();
    memset(q->centroids, 0, (size_t)ix->dimension * sizeof(float));
    q->centroids[0] = 1.0f;
    q->nlist = 1;
    nearkit_status st = compute_norms(q, ix);
    if (st) nearkit_ivf_quantizer_free(q);
    return st;
}

nearkit_status nearkit_ivf_quantizer_train_binary(nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                                  uint32_t nlist, const uint8_t *codes, uint64_t n,
                                                  uint64_t sample, uint32_t iterations) {
    q->codes = nearkit_alloc_array(nlist, (size_t)ix->vector_bytes);
    nearkit_status st = q->codes ? NEARKIT_OK : nearkit_oom();
    if (!st)
        st = nearkit_binary_kmeans(q->codes, codes, n, nlist, (size_t)ix->vector_bytes, sample,
                                   iterations, ix->seed, nearkit_resolve_threads(ix->num_threads));
    q->nlist = nlist;
    if (st) nearkit_ivf_quantizer_free(q);
    return st;
}

nearkit_status nearkit_ivf_quantizer_assign(const nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                            uint32_t *assign, const void *vectors, uint64_t n) {
    if (q->nlist == 1) { /* the one cell holds everything: no distance to compute */
        memset(assign, 0, (size_t)n * sizeof *assign);
        return NEARKIT_OK;
    }
    uint32_t threads = nearkit_resolve_threads(ix->num_threads);
    if (q->binary) {
        nearkit_binary_assign(assign, vectors, n, q->codes, q->nlist, (size_t)ix->vector_bytes, threads);
        return NEARKIT_OK;
    }
    return nearkit_kmeans_assign(assign, NULL, q->centroids, q->norms, q->nlist, vectors, n,
                                 ix->dimension, threads);
}

/* The rows of a uniform sample of `taken` of n (a reservoir: without replacement), seeded. */
static void sample_rows(uint64_t *rows, uint64_t taken, uint64_t n, uint64_t seed) {
    uint64_t state = seed ^ 0x7265736964u;
    for (uint64_t i = 0; i < taken; i++) rows[i] = i;
    for (uint64_t i = taken; i < n; i++) {
        uint64_t j = nearkit_next_random(&state) % (i + 1);
        if (j < taken) rows[j] = i;
    }
}

nearkit_status nearkit_ivf_quantizer_train_residual_codec(struct nearkit_codec *c, const nearkit_ivf_quantizer *q,
                                                          const nearkit_index *ix, const float *x, uint64_t n,
                                                          uint32_t threads) {
    size_t d = ix->dimension;
    uint64_t taken = n < NEARKIT_CODEC_SAMPLE ? n : NEARKIT_CODEC_SAMPLE;
    uint64_t *rows = nearkit_alloc_array((size_t)(taken ? taken : 1), sizeof *rows);
    uint32_t *assign = nearkit_alloc_array((size_t)(taken ? taken : 1), sizeof *assign);
    float *residuals = nearkit_alloc_array((size_t)(taken ? taken : 1) * d, sizeof *residuals);
    nearkit_status st = rows && assign && residuals ? NEARKIT_OK : nearkit_oom();
    if (!st) {
        sample_rows(rows, taken, n, ix->seed);
        for (uint64_t i = 0; i < taken; i++) memcpy(residuals + i * d, x + rows[i] * d, d * sizeof(float));
        st = nearkit_ivf_quantizer_assign(q, ix, assign, residuals, taken);
    }
    for (uint64_t i = 0; !st && i < taken; i++) {
        const float *centroid = q->centroids + (size_t)assign[i] * d;
        for (size_t j = 0; j < d; j++) residuals[i * d + j] -= centroid[j];
    }
    if (!st) st = nearkit_codec_train(c, residuals, taken, ix->seed, threads);
    c->residual = !st;
    free(rows);
    free(assign);
    free(residuals);
    return st;
}

/* ---- probing one query ------------------------------------------------------------------------- */

bool nearkit_ivf_probe_init(nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q, const nearkit_index *ix) {
    *p = (nearkit_ivf_probe){.probes = nearkit_alloc_array(q->nlist, sizeof(uint32_t)),
                             .nlist = q->nlist, .dimension = ix->dimension, .binary = q->binary};
    if (q->binary) {
        p->distances = nearkit_alloc_array(q->nlist, sizeof(uint32_t));
        p->histogram = nearkit_alloc_array((size_t)ix->dimension + 1, sizeof(uint32_t));
        return p->probes && p->distances && p->histogram;
    }
    p->scores = nearkit_alloc_array(q->nlist, sizeof(float));
    p->heap_dist = nearkit_alloc_array(q->nlist, sizeof(float));
    p->heap_pos = nearkit_alloc_array(q->nlist, sizeof(uint64_t));
    if (q->half) {
        p->exact_dist = nearkit_alloc_array(q->nlist, sizeof(float));
        p->exact_pos = nearkit_alloc_array(q->nlist, sizeof(uint64_t));
        p->bounds = nearkit_alloc_array(q->nlist, sizeof(float));
        if (!p->exact_dist || !p->exact_pos || !p->bounds) return false;
    }
    return p->probes && p->scores && p->heap_dist && p->heap_pos;
}

bool nearkit_ivf_probe_fits(const nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q, const nearkit_index *ix) {
    return p->probes && p->nlist == q->nlist && p->binary == q->binary && (!q->binary || p->dimension == ix->dimension) &&
           (!q->half || p->exact_dist);
}

void nearkit_ivf_probe_free(nearkit_ivf_probe *p) {
    free(p->probes);
    free(p->scores);
    free(p->heap_dist);
    free(p->heap_pos);
    free(p->exact_dist);
    free(p->exact_pos);
    free(p->bounds);
    free(p->distances);
    free(p->histogram);
    *p = (nearkit_ivf_probe){0};
}

/* How near a centroid is to a query, exactly: squared l2, or -<q, c> (spherical). */
static float centroid_score(const nearkit_ivf_quantizer *q, const nearkit_index *ix, const float *query,
                            uint32_t list) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    const float *c = q->centroids + (size_t)list * ix->dimension;
    return is_l2(ix) ? kt->l2sq(query, c, ix->dimension) : -kt->dot(query, c, ix->dimension);
}

/* The rounding error bound of the kernels' canonical order (kernels.c) at dimension d, as a
 * multiple of the sum of the terms' magnitudes: d / 32 fused steps per partial sum and 5 halving
 * levels, each off by half a float ulp at most; twice that, for the slack of every estimate here. */
static double kernel_rounding(size_t d) { return ((double)d / 32.0 + 8.0) * 0x1p-23; }

/* How far centroid l's screened score a (its binary16 copy's) can lie from its exact one, for
 * query norm qn: inner products (scores -<q, c>) |q| |e| + the two roundings; squared l2 (scores
 * |q - c|^2, whose terms are all positive) 2 |e| sqrt(A) + |e|^2 from the copy, A at most a(1 + g),
 * and the roundings of both sums. Doubles, then a relative margin, so the bound is never short. */
static float screen_bound(const nearkit_ivf_quantizer *q, const nearkit_index *ix, uint32_t l, double qn, float a) {
    double g = kernel_rounding(ix->dimension), e = q->half_error[l], bound;
    if (is_l2(ix)) {
        double top = (a > 0 ? (double)a : 0.0) * (1.0 + g) + 1e-30;
        double copy = 2.0 * e * sqrt(top) + e * e;
        bound = copy + g * (2.0 * top + copy);
    } else {
        bound = qn * (e + g * q->half_norm[l]);
    }
    return (float)(bound * (1.0 + 1e-6) + 1e-37);
}

/* A single query's nprobe best centroids when the centroids outgrow L2: every centroid scored
 * through its binary16 copy (half the bytes of a pass over the floats, which is most of a small
 * nprobe's query), each score with its bound (screen_bound). The nprobe-th smallest upper end U
 * is at least the exact nprobe-th score, so a centroid whose lower end is above U cannot be among
 * the best; the others are scored exactly and ranked as probe_float ranks them (ties to the lower
 * list). The same lists, in the same order, as the exact pass. */
static uint32_t probe_screened(nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q, const nearkit_index *ix,
                               const float *query, uint32_t nprobe) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t d = ix->dimension;
    const uint8_t *half = (const uint8_t *)(const void *)q->half;
    double qn = 0;
    if (is_l2(ix)) {
        kt->code_l2sq[NEARKIT_CODE_FP16](p->scores, query, half, NULL, NULL, q->nlist, d);
    } else {
        kt->code_dot[NEARKIT_CODE_FP16](p->scores, query, half, NULL, NULL, q->nlist, d);
        for (uint32_t l = 0; l < q->nlist; l++) p->scores[l] = -p->scores[l];
        for (size_t i = 0; i < d; i++) qn += (double)query[i] * query[i];
        qn = sqrt(qn);
    }
    /* a float sum or difference rounds to nearest, so it never crosses a float the exact end
     * does not: U stays at least the exact nprobe-th score, a lower end above U stays above it */
    nearkit_topk upper;
    nearkit_topk_init(&upper, p->heap_dist, p->heap_pos, nprobe, NULL);
    for (uint32_t l = 0; l < q->nlist; l++) {
        p->bounds[l] = screen_bound(q, ix, l, qn, p->scores[l]);
        float top = p->scores[l] + p->bounds[l];
        if (top <= nearkit_topk_bound(&upper)) nearkit_topk_push(&upper, top, l);
    }
    float most = nearkit_topk_bound(&upper);
    nearkit_topk best;
    nearkit_topk_init(&best, p->exact_dist, p->exact_pos, nprobe, NULL);
    for (uint32_t l = 0; l < q->nlist; l++) {
        if (p->scores[l] - p->bounds[l] > most) continue;
        float exact = centroid_score(q, ix, query, l);
        if (exact <= nearkit_topk_bound(&best)) nearkit_topk_push(&best, exact, l);
    }
    nearkit_topk_sort(&best);
    for (size_t i = 0; i < best.size; i++) p->probes[i] = (uint32_t)best.pos[i];
    return (uint32_t)best.size;
}

/* Float: the nprobe best centroid scores (squared l2, or -<q, c>) kept in a heap. */
static uint32_t probe_float(nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q, const nearkit_index *ix,
                            const float *query, uint32_t nprobe, bool ordered) {
    if (nprobe > q->nlist) nprobe = q->nlist;
    if (nprobe == q->nlist && (!ordered || q->nlist == 1)) { /* every list: no centroid to rank */
        for (uint32_t l = 0; l < q->nlist; l++) p->probes[l] = l;
        return q->nlist;
    }
    if (q->half && nprobe >= 1 && nprobe <= q->nlist / SCREEN_MAX_SHARE) return probe_screened(p, q, ix, query, nprobe);
    const nearkit_kernel_table *kt = nearkit_kernels();
    if (is_l2(ix)) {
        kt->l2sq_many(p->scores, query, q->centroids, q->nlist, ix->dimension);
    } else {
        kt->dot_many(p->scores, query, q->centroids, q->nlist, ix->dimension);
        for (uint32_t l = 0; l < q->nlist; l++) p->scores[l] = -p->scores[l];
    }
    nearkit_topk h;
    nearkit_topk_init(&h, p->heap_dist, p->heap_pos, nprobe, NULL);
    nearkit_topk_push_block(&h, p->scores, 0, q->nlist);
    nearkit_topk_sort(&h);
    for (size_t i = 0; i < h.size; i++) p->probes[i] = (uint32_t)h.pos[i];
    return (uint32_t)h.size;
}

/* Binary: a counting sort of the centroid distances, which are small integers; scanning the
 * nearest list first makes the k-NN bar tight early. */
static uint32_t probe_binary(nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q, const nearkit_index *ix,
                             const uint8_t *query, uint32_t nprobe) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    uint32_t *count = p->histogram;
    size_t nbytes = (size_t)ix->vector_bytes;
    if (nprobe > q->nlist) nprobe = q->nlist;
    for (uint32_t l0 = 0; l0 < q->nlist; l0 += CENTROID_BLOCK) {
        uint32_t n = q->nlist - l0 < CENTROID_BLOCK ? q->nlist - l0 : CENTROID_BLOCK;
        kt->hamming_many(p->distances + l0, query, q->codes + (size_t)l0 * nbytes, n, nbytes);
    }
    memset(count, 0, ((size_t)ix->dimension + 1) * sizeof *count);
    for (uint32_t l = 0; l < q->nlist; l++) count[p->distances[l]]++;
    uint32_t cutoff = 0, below = 0; /* every list nearer than cutoff is taken, and some at it */
    while (below + count[cutoff] < nprobe) below += count[cutoff++];
    uint32_t at_cutoff = nprobe - below, start = 0;
    for (uint32_t d = 0; d <= cutoff; d++) { /* counts become first slots */
        uint32_t c = d < cutoff ? count[d] : at_cutoff;
        count[d] = start;
        start += c;
    }
    for (uint32_t l = 0, taken = 0; l < q->nlist && taken < nprobe; l++) {
        uint32_t d = p->distances[l];
        if (d > cutoff || (d == cutoff && at_cutoff == 0)) continue;
        if (d == cutoff) at_cutoff--;
        p->probes[count[d]++] = l;
        taken++;
    }
    return nprobe;
}

uint32_t nearkit_ivf_probe_query(nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q,
                                 const nearkit_index *ix, const void *query, uint32_t nprobe) {
    return q->binary ? probe_binary(p, q, ix, query, nprobe) : probe_float(p, q, ix, query, nprobe, false);
}

uint32_t nearkit_ivf_probe_nearest(nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q,
                                   const nearkit_index *ix, const void *query, uint32_t count) {
    return q->binary ? probe_binary(p, q, ix, query, count) : probe_float(p, q, ix, query, count, true);
}

/* ---- probing a batch (float): sgemm against the centroids -------------------------------------- */

typedef struct batch_probe {
    const nearkit_ivf_quantizer *q;
    uint32_t nprobe, kept; /* lists asked for, and kept from the sgemm before re-scoring */
    uint32_t *probes;
} batch_probe;

/* One worker's buffers for COARSE_BLOCK queries. */
typedef struct coarse_scratch {
    float *tile, *heap_dist;
    uint64_t *heap_pos;
    nearkit_topk *heaps;
} coarse_scratch;

/* Lists kept from the sgemm against the centroids before exact re-scoring: centroid scores are
 * far apart compared with the expansion's rounding, so a small margin suffices. */
static uint32_t coarse_candidates(uint32_t nprobe, uint32_t nlist) {
    uint64_t kk = (uint64_t)nprobe + 2 + nprobe / 8;
    return kk < nlist ? (uint32_t)kk : nlist;
}

static void coarse_scratch_free(void *scratch) {
    coarse_scratch *s = scratch;
    if (!s) return;
    nearkit_aligned_free(s->tile);
    free(s->heap_dist);
    free(s->heap_pos);
    free(s->heaps);
    free(s);
}

static void *coarse_scratch_new(const nearkit_search_call *c) {
    const batch_probe *b = c->state;
    size_t cb = b->q->nlist < CENTROID_BLOCK ? b->q->nlist : CENTROID_BLOCK;
    coarse_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->tile = nearkit_aligned_alloc_array((size_t)COARSE_BLOCK * cb, sizeof(float));
    s->heap_dist = nearkit_alloc_array((size_t)COARSE_BLOCK * b->kept, sizeof(float));
    s->heap_pos = nearkit_alloc_array((size_t)COARSE_BLOCK * b->kept, sizeof(uint64_t));
    s->heaps = nearkit_alloc_array(COARSE_BLOCK, sizeof *s->heaps);
    if (s->tile && s->heap_dist && s->heap_pos && s->heaps) return s;
    coarse_scratch_free(s);
    return NULL;
}

/* Queries [first, first + n) (n <= COARSE_BLOCK): the best nprobe plus a margin by sgemm, those
 * re-scored exactly and the nprobe best taken (in heap order: a batch scans lists by list).
 */
static bool coarse_block(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    coarse_scratch *s = scratch;
    const batch_probe *b = c->state;
    const nearkit_ivf_quantizer *q = b->q;
    const nearkit_index *ix = c->ix;
    size_t d = ix->dimension, nq = (size_t)n;
    uint32_t cb = q->nlist < CENTROID_BLOCK ? q->nlist : CENTROID_BLOCK;
    const float *qs = nearkit_query_at(c, first);
    for (size_t i = 0; i < nq; i++)
        nearkit_topk_init(&s->heaps[i], s->heap_dist + i * b->kept, s->heap_pos + i * b->kept, b->kept, NULL);
    for (uint32_t c0 = 0; c0 < q->nlist; c0 += cb) {
        uint32_t m = q->nlist - c0 < cb ? q->nlist - c0 : cb;
        nearkit_sgemm_nt(nq, m, d, is_l2(ix) ? -2.0f : -1.0f, qs, q->centroids + (size_t)c0 * d, s->tile);
        for (size_t i = 0; i < nq; i++)
            nearkit_topk_push_tile_row(&s->heaps[i], s->tile + i * m, q->norms ? q->norms + c0 : NULL, 0.0f,
                                       c0, m);
    }
    for (size_t i = 0; i < nq; i++) {
        nearkit_topk *h = &s->heaps[i];
        size_t kept = h->size;
        h->size = 0;
        h->cap = b->nprobe;
        for (size_t j = 0; j < kept; j++) { /* pushes write only slots below the one read */
            uint64_t list = h->pos[j];
            nearkit_topk_push(h, centroid_score(q, ix, qs + i * d, (uint32_t)list), list);
        }
        uint32_t *probes = b->probes + (first + i) * b->nprobe;
        for (size_t j = 0; j < h->size; j++) probes[j] = (uint32_t)h->pos[j];
    }
    return true;
}

static const nearkit_searcher coarse_searcher = {
    .scratch_new = coarse_scratch_new,
    .scratch_free = coarse_scratch_free,
    .knn = coarse_block,
};

nearkit_status nearkit_ivf_probe_batch(const nearkit_ivf_quantizer *q, const nearkit_search_call *c,
                                       uint32_t nprobe, uint32_t *probes, uint32_t threads) {
    if (nprobe >= q->nlist) {
        for (uint64_t i = 0; i < c->n; i++)
            for (uint32_t l = 0; l < q->nlist; l++) probes[i * nprobe + l] = l;
        return NEARKIT_OK;
    }
    batch_probe b = {.q = q, .nprobe = nprobe, .kept = coarse_candidates(nprobe, q->nlist),
                     .probes = probes};
    nearkit_search_call call = *c;
    call.state = &b;
    return nearkit_drive_knn(&coarse_searcher, &call, threads, COARSE_BLOCK);
}

/* ---- persistence ------------------------------------------------------------------------------- */

nearkit_status nearkit_ivf_quantizer_save(const nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                          nearkit_writer *w) {
    if (q->binary) return nearkit_writer_section(w, BCEN_TAG, q->codes, (uint64_t)q->nlist * ix->vector_bytes);
    return nearkit_writer_section(w, CENT_TAG, q->centroids,
                                  (uint64_t)q->nlist * ix->dimension * sizeof(float));
}

nearkit_status nearkit_ivf_quantizer_load(nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                          const nearkit_reader *r, uint32_t nlist) {
    const void *data;
    uint64_t size;
    if (q->binary) {
        nearkit_status st = nearkit_reader_section_sized(&data, r, BCEN_TAG, (uint64_t)nlist * ix->vector_bytes);
        if (st || nlist == 0) return st; /* saved untrained: an empty section */
        q->codes = nearkit_alloc_array(nlist, (size_t)ix->vector_bytes);
        if (!q->codes) return nearkit_oom();
        memcpy(q->codes, data, (size_t)nlist * (size_t)ix->vector_bytes);
        q->nlist = nlist;
        return NEARKIT_OK;
    }
    nearkit_status st = nearkit_reader_section(&data, &size, r, CENT_TAG);
    if (st) return st;
    if (nlist == 0 || size != (uint64_t)nlist * ix->dimension * sizeof(float))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: the centroid section does not hold nlist centroids");
    q->centroids = nearkit_aligned_alloc_array((size_t)nlist * ix->dimension, sizeof(float));
    if (!q->centroids) return nearkit_oom();
    memcpy(q->centroids, data, (size_t)size); /* out of the possibly unaligned image */
    q->nlist = nlist;
    st = nearkit_check_loaded_floats(ix, q->centroids, nlist, "centroid");
    if (!st) st = compute_norms(q, ix);
    return st;
}
