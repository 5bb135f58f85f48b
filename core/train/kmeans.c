/* k-means: see kmeans.h. */
#include "train/kmeans.h"
#include "kernels/kernels.h"
#include "search/tile_scan.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define ASSIGN_BLOCK 1024u   /* points per assignment task (and per sgemm call) */
#define CENTROID_BLOCK 512u  /* centroids per sgemm call: a 2 MiB tile (measured: 256 and 1024 no better) */
#define UPDATE_CHUNK 16u     /* centroids per update task */
#define PLUSPLUS_BLOCK 4096u /* points per k-means++ distance task */
#define FALLBACK_ROWS 64u    /* points per sgemm when a pruned pass rescans points in full */

/* ---- random numbers (splitmix64) --------------------------------------------------------------- */

typedef struct rng {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, m), m >= 1 (multiply-shift; the bias is below 2^-64 * m). */
static uint64_t rng_below(rng *r, uint64_t m) {
    return (uint64_t)(((unsigned __int128)rng_next(r) * m) >> 64);
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* The first `take` entries of a seeded random permutation of [0, n) (partial Fisher-Yates).
 * Returns an array of n entries whose first `take` are the draw, or NULL when out of memory. */
static uint64_t *random_draw(rng *r, uint64_t n, uint64_t take) {
    uint64_t *idx = nearkit_alloc_array((size_t)n, sizeof *idx);
    if (!idx) return NULL;
    for (uint64_t i = 0; i < n; i++) idx[i] = i;
    for (uint64_t i = 0; i < take; i++) {
        uint64_t j = i + rng_below(r, n - i);
        uint64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    return idx;
}

/* ---- per-worker scratch ------------------------------------------------------------------------ */

/* One lazily allocated buffer per worker of a parallel loop; slot w is only touched by worker w. */
typedef struct worker_buffers {
    void **slot;
    uint32_t n;
    size_t bytes;
} worker_buffers;

static bool worker_buffers_init(worker_buffers *wb, uint32_t threads, size_t bytes) {
    wb->slot = calloc(threads, sizeof *wb->slot);
    wb->n = threads;
    wb->bytes = bytes;
    return wb->slot != NULL;
}

static void *worker_buffer(worker_buffers *wb, uint32_t worker) {
    if (!wb->slot[worker]) wb->slot[worker] = nearkit_aligned_alloc_array(wb->bytes, 1);
    return wb->slot[worker];
}

static void worker_buffers_free(worker_buffers *wb) {
    if (!wb->slot) return;
    for (uint32_t i = 0; i < wb->n; i++) nearkit_aligned_free(wb->slot[i]);
    free(wb->slot);
    wb->slot = NULL;
}

/* ---- assignment -------------------------------------------------------------------------------- */

#define NO_CENTROID UINT32_MAX

/* Why assignments are decided on kernel values. sgemm's value for a (point, centroid) pair
 * depends on the shape of the call and the pair's place in it (OpenBLAS takes other kernels for
 * edge tiles and small products: the same pair scored against all centroids and against the few
 * that moved differs in its last bits), and on the machine. Comparing such values, a pruned pass
 * could break a near tie otherwise than an exhaustive one. So every value compared, stored or
 * reported is the exact value of the per-pair kernel (exact_value: the same bits wherever and
 * however it is computed), and sgemm only filters: with its error bound s (point_slack) a
 * centroid whose sgemm value v exceeds the point's runner-up exact value so far plus s has an
 * exact value above that runner-up, so it can be neither best nor runner-up and is skipped;
 * every other one gets its exact value. Both passes thus choose, for every point, the centroid
 * of least exact value, ties to the smaller index: the same one. */

/* A point's two best centroids by exact value, ties to the smaller centroid index. */
typedef struct top2 {
    float best, second;
    uint32_t arg, second_arg;
} top2;

static const top2 top2_empty = {INFINITY, INFINITY, NO_CENTROID, NO_CENTROID};

/* NaN (only from values beyond the accepted range, e.g. from a caller of this module that did not
 * check them) counts as +infinity, so that every point gets a centroid in range. */
static inline float nan_as_infinity(float v) { return isnan(v) ? INFINITY : v; }

static inline void top2_offer(top2 *t, float v, uint32_t j) {
    v = nan_as_infinity(v);
    if (v < t->best || (v == t->best && j < t->arg)) {
        t->second = t->best;
        t->second_arg = t->arg;
        t->best = v;
        t->arg = j;
    } else if (v < t->second || (v == t->second && j < t->second_arg)) {
        t->second = v;
        t->second_arg = j;
    }
}

/* The smallest float >= v (v a double). */
static float float_at_least(double v) {
    float f = (float)v;
    return (double)f < v ? nextafterf(f, INFINITY) : f;
}

/* One point during a pass: its candidates with exact values, and the sgemm value above which a
 * centroid is skipped (the runner-up's exact value plus the slack, rounded up). */
typedef struct point_state {
    top2 c;
    double slack;
    float skip_above;
    uint32_t exact; /* exact values computed */
} point_state;

typedef struct assign_task {
    const float *x;
    uint64_t n;
    uint32_t d, k;
    const float *centroids;
    const float *norms; /* NULL: spherical */
    const float *point_norms; /* optional |x|^2, for the objective */
    double max_centroid_length; /* for the sgemm error bound; set by run_assign */
    uint32_t *assign;
    float *score;
    /* Training keeps, per point, a lower bound on the exact value of every centroid but its own
     * (second) and the centroid attaining it when known (second_of, else NO_CENTROID). NULL
     * otherwise. */
    float *second;
    uint32_t *second_of;
    /* A pruned pass (moved != NULL) scores each point against the centroids the last update moved
     * only; the values of the others are those of the previous pass. */
    const bool *moved;
    const float *moved_centroids, *moved_norms; /* compacted, moved_count rows */
    const uint32_t *moved_index;                /* centroid number of each compacted row */
    uint32_t moved_count;
    double *block_objective; /* optional, one per ASSIGN_BLOCK block */
    worker_buffers tiles, gathered;
    _Atomic uint64_t distances;
    _Atomic int failed;
} assign_task;

/* The value minimised for centroid j, from the kernel's dot product: |c|^2 - 2<x,c> (l2; |c|^2
 * also from the kernel) or -<x,c>, in the same float operations as a tile's (fold_row). */
static float exact_value(const assign_task *t, float dot, uint32_t j) {
    return t->norms ? 0.0f + t->norms[j] + -2.0f * dot : 0.0f + -dot;
}

/* How far a point's sgemm value may lie from the exact one, for any centroid. nearkit_gemm_slack
 * bounds the difference of the two dot products (sgemm's, even perturbed, and the kernel's) and
 * the roundings of adding |c|^2 (l2: its bound on |q|^2 + |x|^2 - 2<q,x> against sum (q_i -
 * x_i)^2 covers 2 * 3 gamma |x||c| + 2 u (|c|^2 + 2 |x||c|) with room; it is doubled, which also
 * covers the rounding of the sums made with it). It is relative: products that underflow add at
 * most 2^-150 each, in each of the two sums, times 2 for l2, which the last term covers four
 * times over. */
static double point_slack(const assign_task *t, const float *x) {
    double sq = 0;
    for (uint32_t i = 0; i < t->d; i++) sq += (double)x[i] * x[i];
    return nearkit_gemm_slack(t->norms ? NEARKIT_METRIC_L2 : NEARKIT_METRIC_IP, t->d, sqrt(sq),
                              t->max_centroid_length) +
           (t->d + 4.0) * 0x1p-146;
}

static void point_start(point_state *ps, const assign_task *t, const float *x, top2 candidates) {
    ps->c = candidates;
    ps->slack = point_slack(t, x);
    ps->skip_above = float_at_least(ps->c.second + ps->slack);
    ps->exact = 0;
}

/* Skipping above either of two valid limits is valid: the lower is kept. */
static void lower_skip_above(point_state *ps, float limit) {
    if (limit < ps->skip_above) ps->skip_above = limit;
}

/* Computes centroid j's exact value for the point at x and offers it. */
static void point_offer_exact(point_state *ps, const assign_task *t, const float *x, uint32_t j) {
    float dot = nearkit_kernels()->dot(x, t->centroids + (size_t)j * t->d, t->d);
    float runner_up = ps->c.second;
    top2_offer(&ps->c, exact_value(t, dot, j), j);
    if (ps->c.second != runner_up) lower_skip_above(ps, float_at_least(ps->c.second + ps->slack));
    ps->exact++;
}

/* A value with at least two of a tile row's sgemm values at or below it (+INFINITY for a row of
 * one): the second smallest of the 16 lane minima (entry j in lane j % 16), which vectorise as
 * the row's own second smallest would not. */
static float two_entries_at_most(const float *r, const float *norms, uint32_t n) {
    float lane[16];
    for (int u = 0; u < 16; u++) lane[u] = INFINITY;
    uint32_t j = 0;
    if (norms) {
        for (; j + 16 <= n; j += 16)
            for (int u = 0; u < 16; u++) {
                float v = 0.0f + norms[j + u] + r[j + u];
                lane[u] = v < lane[u] ? v : lane[u];
            }
    } else {
        for (; j + 16 <= n; j += 16)
            for (int u = 0; u < 16; u++) {
                float v = 0.0f + r[j + u];
                lane[u] = v < lane[u] ? v : lane[u];
            }
    }
    for (int u = 0; j < n; j++, u++) {
        float v = norms ? 0.0f + norms[j] + r[j] : 0.0f + r[j];
        lane[u] = v < lane[u] ? v : lane[u];
    }
    float m1 = INFINITY, m2 = INFINITY;
    for (int u = 0; u < 16; u++) {
        if (lane[u] < m1) {
            m2 = m1;
            m1 = lane[u];
        } else if (lane[u] < m2) {
            m2 = lane[u];
        }
    }
    return m2;
}

/* Offers one tile row of the point at x: the sgemm value of entry j is r[j] + norms[j] (norms
 * NULL: r[j]), its centroid index[j] (index NULL: first + j). An entry above skip_above has an
 * exact value above the runner-up's, which only decreases: it is skipped.
 * Before the scan, skip_above is lowered to m2 + 2s, with two entries of sgemm values at most
 * m2 (two_entries_at_most): their exact values are at most m2 + s, and they are either offered
 * (the runner-up ends at most the larger) or skipped as above the runner-up; an entry above
 * m2 + 2s has an exact value above m2 + s, so above the final runner-up either way. Without it,
 * the first entries of a row would all get exact values while the runner-up is still poor. */
static void fold_row(point_state *ps, const assign_task *t, const float *x, const float *r, const float *norms,
                     uint32_t n, const uint32_t *index, uint32_t first) {
    lower_skip_above(ps, float_at_least(two_entries_at_most(r, norms, n) + 2.0 * ps->slack));
    uint32_t j = 0;
    for (; j + 16 <= n; j += 16) {
        if (!nearkit_any16_below(r + j, norms ? norms + j : NULL, 0.0f, ps->skip_above, true)) continue;
        for (uint32_t u = j; u < j + 16; u++)
            if ((norms ? 0.0f + norms[u] + r[u] : 0.0f + r[u]) <= ps->skip_above)
                point_offer_exact(ps, t, x, index ? index[u] : first + u);
    }
    for (; j < n; j++)
        if ((norms ? 0.0f + norms[j] + r[j] : 0.0f + r[j]) <= ps->skip_above)
            point_offer_exact(ps, t, x, index ? index[j] : first + j);
}

/* Scores `rows` points (row-major x) against `count` centroids through sgemm and folds every
 * tile row into the point's state. The tile holds -2<x,c> (l2) or -<x,c> (spherical). */
static void score_points(assign_task *t, point_state *ps, const float *x, size_t rows,
                         const float *centroids, const float *norms, uint32_t count,
                         const uint32_t *index, float *tile) {
    for (uint32_t c0 = 0; c0 < count; c0 += CENTROID_BLOCK) {
        uint32_t cb = count - c0 < CENTROID_BLOCK ? count - c0 : CENTROID_BLOCK;
        nearkit_sgemm_nt(rows, cb, t->d, t->norms ? -2.0f : -1.0f, x, centroids + (size_t)c0 * t->d, tile);
        for (size_t i = 0; i < rows; i++)
            fold_row(&ps[i], t, x + i * t->d, tile + i * cb, norms ? norms + c0 : NULL, cb,
                     index ? index + c0 : NULL, c0);
    }
    uint64_t exact = 0;
    for (size_t i = 0; i < rows; i++) exact += ps[i].exact;
    atomic_fetch_add_explicit(&t->distances, (uint64_t)rows * count + exact, memory_order_relaxed);
}

/* The exact values of every centroid for one point, a tile's width at a time: for a point whose
 * sgemm values were all NaN (beyond the accepted range), so that it still gets a centroid. */
static top2 exact_scan(assign_task *t, const float *x, float *tile) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    top2 c = top2_empty;
    for (uint32_t c0 = 0; c0 < t->k; c0 += CENTROID_BLOCK) {
        uint32_t cb = t->k - c0 < CENTROID_BLOCK ? t->k - c0 : CENTROID_BLOCK;
        kt->dot_many(tile, x, t->centroids + (size_t)c0 * t->d, cb, t->d);
        for (uint32_t u = 0; u < cb; u++) top2_offer(&c, exact_value(t, tile[u], c0 + u), c0 + u);
    }
    atomic_fetch_add_explicit(&t->distances, t->k, memory_order_relaxed);
    return c;
}

/* Records a point's centroid and value, and (training) as its bound the least of the runner-up's
 * exact value and `others`, a lower bound on the value of every centroid c did not consider. */
static void record(assign_task *t, uint64_t p, const top2 *c, float others) {
    t->assign[p] = c->arg;
    if (t->score) t->score[p] = c->best;
    if (!t->second) return;
    if (c->second <= others) {
        t->second[p] = c->second;
        t->second_of[p] = c->second_arg;
    } else {
        t->second[p] = others;
        t->second_of[p] = NO_CENTROID;
    }
}

/* Assigns `rows` points against every centroid: the points at x (row-major), numbered first, first
 * + 1, ... or, when points is given, points[0], points[1], ... Every centroid is either given its
 * exact value or skipped as worse than the runner-up: the best is certain. */
static void assign_full(assign_task *t, const float *x, const uint64_t *points, uint64_t first, size_t rows,
                        float *tile, point_state *ps) {
    for (size_t i = 0; i < rows; i++) point_start(&ps[i], t, x + i * t->d, top2_empty);
    score_points(t, ps, x, rows, t->centroids, t->norms, t->k, NULL, tile);
    for (size_t i = 0; i < rows; i++) {
        top2 c = ps[i].c;
        if (c.arg == NO_CENTROID) c = exact_scan(t, x + i * t->d, tile);
        record(t, points ? points[i] : first + i, &c, INFINITY);
    }
}

/* The candidates a point keeps from the previous pass: its centroid and the one attaining its
 * bound, where the update left them in place (their exact values have not changed). */
static top2 unmoved_candidates(const assign_task *t, uint64_t p) {
    top2 c = top2_empty;
    uint32_t a = t->assign[p], s = t->second_of[p];
    if (!t->moved[a]) top2_offer(&c, t->score[p], a);
    if (s != NO_CENTROID && !t->moved[s]) top2_offer(&c, t->second[p], s);
    return c;
}

/* Whether a pruned pass found a point's nearest centroid for certain. Every moved centroid was
 * considered (given its exact value or skipped as worse than the runner-up); every centroid not
 * considered is an unmoved one other than the point's two candidates, whose value is at least
 * the bound. When the point's centroid did not move, it stays best against those (it beat them,
 * ties included, in the last pass, and the best candidate is at least as good as it); otherwise
 * the best must beat the bound outright. */
static bool pruned_certain(const assign_task *t, uint64_t p, const top2 *c) {
    return c->arg != NO_CENTROID && (!t->moved[t->assign[p]] || c->best < t->second[p]);
}

/* Scores the points the pruned pass could not settle against every centroid, a few rows at a time
 * gathered into a contiguous buffer. */
static void assign_fallback(assign_task *t, const uint64_t *points, size_t count, float *tile,
                            float *gathered, point_state *ps) {
    for (size_t f0 = 0; f0 < count; f0 += FALLBACK_ROWS) {
        size_t rows = count - f0 < FALLBACK_ROWS ? count - f0 : FALLBACK_ROWS;
        for (size_t i = 0; i < rows; i++)
            memcpy(gathered + i * t->d, t->x + points[f0 + i] * t->d, (size_t)t->d * sizeof(float));
        assign_full(t, gathered, points + f0, 0, rows, tile, ps);
    }
}

static void assign_pruned(assign_task *t, uint64_t begin, size_t rows, float *tile, float *gathered,
                          point_state *ps) {
    uint64_t unsettled[ASSIGN_BLOCK];
    size_t n_unsettled = 0;
    const float *x = t->x + begin * t->d;
    for (size_t i = 0; i < rows; i++) point_start(&ps[i], t, x + i * t->d, unmoved_candidates(t, begin + i));
    if (t->moved_count)
        score_points(t, ps, x, rows, t->moved_centroids, t->moved_norms, t->moved_count, t->moved_index,
                     tile);
    for (size_t i = 0; i < rows; i++) {
        /* the centroids not considered, unmoved ones, are at least the old bound */
        if (pruned_certain(t, begin + i, &ps[i].c)) record(t, begin + i, &ps[i].c, t->second[begin + i]);
        else unsettled[n_unsettled++] = begin + i;
    }
    assign_fallback(t, unsettled, n_unsettled, tile, gathered, ps);
}

static void assign_block(assign_task *t, uint64_t begin, uint64_t end, float *tile, float *gathered) {
    size_t rows = (size_t)(end - begin);
    point_state ps[ASSIGN_BLOCK];
    if (t->moved) assign_pruned(t, begin, rows, tile, gathered, ps);
    else assign_full(t, t->x + begin * t->d, NULL, begin, rows, tile, ps);
    if (!t->block_objective) return;
    double objective = 0;
    for (size_t i = 0; i < rows; i++)
        objective += (t->point_norms ? (double)t->point_norms[begin + i] : 1.0) + t->score[begin + i];
    t->block_objective[begin / ASSIGN_BLOCK] = objective;
}

static void assign_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    assign_task *t = ctx;
    float *tile = worker_buffer(&t->tiles, worker);
    float *gathered = t->moved ? worker_buffer(&t->gathered, worker) : NULL;
    if (!tile || (t->moved && !gathered)) {
        atomic_store(&t->failed, 1);
        return;
    }
    /* chunks are whole blocks: boundaries independent of the thread count */
    for (uint64_t b = begin; b < end; b += ASSIGN_BLOCK)
        assign_block(t, b, end - b < ASSIGN_BLOCK ? end : b + ASSIGN_BLOCK, tile, gathered);
}

/* Runs the assignment; block_objective may be NULL. */
static nearkit_status run_assign(assign_task *t, uint32_t threads) {
    nearkit_blas_prepare(); /* this module may run before any index exists */
    uint32_t cb = t->k < CENTROID_BLOCK ? t->k : CENTROID_BLOCK;
    atomic_init(&t->failed, 0);
    atomic_init(&t->distances, 0);
    double max_sq = 0;
    for (uint32_t j = 0; j < t->k; j++) {
        double sq = 0;
        for (uint32_t i = 0; i < t->d; i++)
            sq += (double)t->centroids[(size_t)j * t->d + i] * t->centroids[(size_t)j * t->d + i];
        if (!(sq <= max_sq)) max_sq = sq; /* NaN too: the bound then proves nothing */
    }
    t->max_centroid_length = sqrt(max_sq);
    nearkit_status st = NEARKIT_OK;
    if (!worker_buffers_init(&t->tiles, threads, (size_t)ASSIGN_BLOCK * cb * sizeof(float)) ||
        !worker_buffers_init(&t->gathered, threads, (size_t)FALLBACK_ROWS * t->d * sizeof(float))) {
        st = nearkit_oom();
        goto done;
    }
    nearkit_parallel_for(threads, t->n, ASSIGN_BLOCK, assign_range, t);
    if (atomic_load(&t->failed)) st = nearkit_oom();
done:
    worker_buffers_free(&t->tiles);
    worker_buffers_free(&t->gathered);
    return st;
}

nearkit_status nearkit_kmeans_assign(uint32_t *assign, float *score, const float *centroids,
                                     const float *centroid_norms, uint32_t k, const float *x,
                                     uint64_t n, uint32_t d, uint32_t threads) {
    if (n == 0) return NEARKIT_OK;
    assign_task t = {.x = x, .n = n, .d = d, .k = k, .centroids = centroids,
                     .norms = centroid_norms, .assign = assign, .score = score};
    return run_assign(&t, threads ? threads : 1);
}

/* ---- training state ---------------------------------------------------------------------------- */

typedef struct trainer {
    const nearkit_kmeans_config *cfg;
    const float *x; /* the sample, m x d */
    uint64_t m;
    uint32_t d, k;
    float *centroids;
    float *norms;       /* k, l2 only */
    float *point_norms; /* m, l2 only */
    uint32_t *assign, *previous;
    float *score;
    float *second;         /* m: see assign_task */
    uint32_t *second_of;   /* m */
    bool *moved;           /* k: whether the last update changed the centroid */
    float *moved_centroids, *moved_norms; /* the moved ones, compacted */
    uint32_t *moved_index;
    uint32_t moved_count;
    uint64_t *sizes;    /* k */
    uint64_t *offsets;  /* k + 1: members of centroid j at members[offsets[j] .. offsets[j+1]) */
    uint64_t *members;  /* m, point indices in increasing order within each centroid */
    double *block_objective;
    _Atomic int failed;
} trainer;

static void update_norms(trainer *t) {
    if (!t->norms) return;
    const nearkit_kernel_table *kt = nearkit_kernels();
    for (uint32_t j = 0; j < t->k; j++) {
        const float *c = t->centroids + (size_t)j * t->d;
        t->norms[j] = kt->dot(c, c, t->d);
    }
}

static void normalise(float *v, uint32_t d) {
    double s = 0;
    for (uint32_t i = 0; i < d; i++) s += (double)v[i] * v[i];
    if (s <= 0) return; /* a zero centroid stays zero */
    double inv = 1.0 / sqrt(s);
    for (uint32_t i = 0; i < d; i++) v[i] = (float)(v[i] * inv);
}

/* ---- initialisation ---------------------------------------------------------------------------- */

static nearkit_status init_random(trainer *t, rng *r) {
    uint64_t *idx = random_draw(r, t->m, t->k);
    if (!idx) return nearkit_oom();
    for (uint32_t j = 0; j < t->k; j++)
        memcpy(t->centroids + (size_t)j * t->d, t->x + idx[j] * t->d, (size_t)t->d * sizeof(float));
    free(idx);
    return NEARKIT_OK;
}

typedef struct plusplus_task {
    const trainer *t;
    const float *centre;
    float *nearest;     /* m: squared distance to the nearest chosen centre */
    double *block_sums; /* one per PLUSPLUS_BLOCK */
    worker_buffers buffers;
    _Atomic int failed;
} plusplus_task;

static void plusplus_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    plusplus_task *p = ctx;
    const trainer *t = p->t;
    float *dist = worker_buffer(&p->buffers, worker);
    if (!dist) {
        atomic_store(&p->failed, 1);
        return;
    }
    const nearkit_kernel_table *kt = nearkit_kernels();
    for (uint64_t b = begin; b < end; b += PLUSPLUS_BLOCK) {
        size_t rows = end - b < PLUSPLUS_BLOCK ? (size_t)(end - b) : PLUSPLUS_BLOCK;
        kt->l2sq_many(dist, p->centre, t->x + b * t->d, rows, t->d);
        double sum = 0;
        for (size_t i = 0; i < rows; i++) {
            if (dist[i] < p->nearest[b + i]) p->nearest[b + i] = dist[i];
            sum += p->nearest[b + i];
        }
        p->block_sums[b / PLUSPLUS_BLOCK] = sum;
    }
}

/* Picks a point with probability proportional to its weight; sums are combined in block order. */
static uint64_t pick_weighted(const float *weight, const double *block_sums, uint64_t m, rng *r) {
    uint64_t blocks = (m + PLUSPLUS_BLOCK - 1) / PLUSPLUS_BLOCK;
    double total = 0;
    for (uint64_t b = 0; b < blocks; b++) total += block_sums[b];
    if (!(total > 0)) return rng_below(r, m); /* every point sits on a centre */
    double target = rng_unit(r) * total;
    uint64_t b = 0;
    for (; b + 1 < blocks && target >= block_sums[b]; b++) target -= block_sums[b];
    uint64_t end = (b + 1) * PLUSPLUS_BLOCK < m ? (b + 1) * PLUSPLUS_BLOCK : m;
    uint64_t last = b * PLUSPLUS_BLOCK;
    for (uint64_t i = b * PLUSPLUS_BLOCK; i < end; i++) {
        if (weight[i] > 0) last = i;
        if (target < weight[i]) return i;
        target -= weight[i];
    }
    return last; /* rounding left a remainder: the block's last candidate */
}

/* k-means++: each next centre is a point drawn with probability proportional to its squared
 * distance to the nearest centre so far. k passes over the sample. */
static nearkit_status init_plusplus(trainer *t, rng *r, uint32_t threads) {
    uint64_t blocks = (t->m + PLUSPLUS_BLOCK - 1) / PLUSPLUS_BLOCK;
    plusplus_task p = {.t = t,
                       .nearest = nearkit_alloc_array((size_t)t->m, sizeof(float)),
                       .block_sums = nearkit_alloc_array((size_t)blocks, sizeof(double))};
    nearkit_status st = NEARKIT_OK;
    if (!p.nearest || !p.block_sums ||
        !worker_buffers_init(&p.buffers, threads, PLUSPLUS_BLOCK * sizeof(float))) {
        st = nearkit_oom();
        goto done;
    }
    for (uint64_t i = 0; i < t->m; i++) p.nearest[i] = INFINITY;
    atomic_init(&p.failed, 0);
    uint64_t chosen = rng_below(r, t->m);
    for (uint32_t j = 0; j < t->k; j++) {
        float *c = t->centroids + (size_t)j * t->d;
        memcpy(c, t->x + chosen * t->d, (size_t)t->d * sizeof(float));
        if (j + 1 == t->k) break;
        p.centre = c;
        nearkit_parallel_for(threads, t->m, PLUSPLUS_BLOCK, plusplus_range, &p);
        if (atomic_load(&p.failed)) {
            st = nearkit_oom();
            goto done;
        }
        chosen = pick_weighted(p.nearest, p.block_sums, t->m, r);
    }
done:
    worker_buffers_free(&p.buffers);
    free(p.nearest);
    free(p.block_sums);
    return st;
}

/* ---- Lloyd iterations -------------------------------------------------------------------------- */

typedef struct far_point {
    float dist;
    uint64_t index;
} far_point;

static int compare_far(const void *a, const void *b) {
    const far_point *x = a, *y = b;
    float dx = nan_as_infinity(x->dist), dy = nan_as_infinity(y->dist); /* a consistent order */
    if (dx != dy) return dx < dy ? 1 : -1; /* farthest first */
    return (x->index > y->index) - (x->index < y->index);
}

/* Gives every empty cluster the farthest point (from its own centroid) of a cluster that has more
 * than one: that point becomes the new centroid in the update that follows. */
static nearkit_status reseed_empty(trainer *t, uint64_t *reseeded) {
    uint64_t empty = 0;
    for (uint32_t j = 0; j < t->k; j++) empty += t->sizes[j] == 0;
    if (empty == 0) return NEARKIT_OK;
    far_point *order = nearkit_alloc_array((size_t)t->m, sizeof *order);
    if (!order) return nearkit_oom();
    for (uint64_t i = 0; i < t->m; i++)
        order[i] = (far_point){t->point_norms ? t->point_norms[i] + t->score[i] : t->score[i], i};
    qsort(order, (size_t)t->m, sizeof *order, compare_far);
    uint64_t next = 0;
    for (uint32_t j = 0; j < t->k; j++) {
        if (t->sizes[j] != 0) continue;
        while (next < t->m && t->sizes[t->assign[order[next].index]] <= 1) next++;
        if (next == t->m) break; /* only when k > m, which the caller excludes */
        uint64_t p = order[next++].index;
        t->sizes[t->assign[p]]--;
        t->assign[p] = j;
        t->sizes[j] = 1;
        t->moved[j] = true;
        /* its value and bound were for its old cluster: the next pruned pass rescans it in full */
        t->second[p] = -INFINITY;
        t->second_of[p] = NO_CENTROID;
        (*reseeded)++;
    }
    free(order);
    return NEARKIT_OK;
}

/* Groups the points by centroid (counting sort, point order kept within a group). */
static void group_members(trainer *t) {
    t->offsets[0] = 0;
    for (uint32_t j = 0; j < t->k; j++) t->offsets[j + 1] = t->offsets[j] + t->sizes[j];
    for (uint32_t j = 0; j < t->k; j++) t->sizes[j] = 0;
    for (uint64_t i = 0; i < t->m; i++) {
        uint32_t j = t->assign[i];
        t->members[t->offsets[j] + t->sizes[j]++] = i;
    }
}

static void update_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    trainer *t = ctx;
    double *sum = nearkit_alloc_array(t->d, sizeof(double));
    if (!sum) {
        atomic_store(&t->failed, 1);
        return;
    }
    for (uint64_t j = begin; j < end; j++) {
        uint64_t from = t->offsets[j], to = t->offsets[j + 1];
        if (from == to) continue; /* keeps its centroid */
        memset(sum, 0, t->d * sizeof(double));
        for (uint64_t i = from; i < to; i++) {
            const float *v = t->x + t->members[i] * t->d;
            for (uint32_t c = 0; c < t->d; c++) sum[c] += v[c];
        }
        float *centroid = t->centroids + j * t->d;
        double inv = 1.0 / (double)(to - from);
        for (uint32_t c = 0; c < t->d; c++) centroid[c] = (float)(sum[c] * inv);
        if (t->cfg->spherical) normalise(centroid, t->d);
    }
    free(sum);
}

static void count_sizes(trainer *t) {
    memset(t->sizes, 0, t->k * sizeof *t->sizes);
    for (uint64_t i = 0; i < t->m; i++) t->sizes[t->assign[i]]++;
}

static uint64_t count_changes(const trainer *t) {
    uint64_t changed = 0;
    for (uint64_t i = 0; i < t->m; i++) changed += t->assign[i] != t->previous[i];
    return changed;
}

static double total_objective(const trainer *t) {
    double sum = 0;
    for (uint64_t b = 0; b < (t->m + ASSIGN_BLOCK - 1) / ASSIGN_BLOCK; b++) sum += t->block_objective[b];
    return sum;
}

/* Adds to the re-seeded centroids those the update may have moved: those that gained or lost a
 * point since the previous update, every one after the first. A cluster whose members stayed the
 * same gets the same centroid back, bit for bit. Compacts them for the next pruned pass. */
static void mark_moved(trainer *t, bool first) {
    if (first) memset(t->moved, 1, t->k * sizeof *t->moved);
    for (uint64_t i = 0; !first && i < t->m; i++) {
        if (t->assign[i] == t->previous[i]) continue;
        t->moved[t->assign[i]] = true;
        t->moved[t->previous[i]] = true;
    }
    uint32_t count = 0;
    for (uint32_t j = 0; j < t->k; j++) {
        if (!t->moved[j]) continue;
        memcpy(t->moved_centroids + (size_t)count * t->d, t->centroids + (size_t)j * t->d,
               (size_t)t->d * sizeof(float));
        t->moved_index[count++] = j;
    }
    t->moved_count = count;
}

/* The assignment of one iteration. After the first, only the centroids the last update moved are
 * scored (a centroid's value for a point changes only when the centroid moves) unless all moved;
 * points whose result that leaves uncertain are scored in full. Late iterations, where few
 * centroids still move, cost a fraction of a full pass. */
static nearkit_status assign_iteration(trainer *t, uint32_t it, uint32_t threads, uint64_t *distances) {
    assign_task a = {.x = t->x, .n = t->m, .d = t->d, .k = t->k, .centroids = t->centroids,
                     .norms = t->norms, .point_norms = t->point_norms, .assign = t->assign,
                     .score = t->score, .second = t->second, .second_of = t->second_of,
                     .block_objective = t->block_objective};
    if (it > 0 && !t->cfg->exhaustive && t->moved_count < t->k) {
        for (uint32_t i = 0; t->norms && i < t->moved_count; i++)
            t->moved_norms[i] = t->norms[t->moved_index[i]];
        a.moved = t->moved;
        a.moved_centroids = t->moved_centroids;
        a.moved_norms = t->norms ? t->moved_norms : NULL;
        a.moved_index = t->moved_index;
        a.moved_count = t->moved_count;
    }
    nearkit_status st = run_assign(&a, threads);
    *distances += atomic_load(&a.distances);
    return st;
}

static nearkit_status lloyd(trainer *t, nearkit_kmeans_stats *stats) {
    uint32_t iterations = t->cfg->iterations ? t->cfg->iterations : NEARKIT_KMEANS_DEFAULT_ITERATIONS;
    uint32_t threads = t->cfg->threads ? t->cfg->threads : 1;
    for (uint32_t it = 0; it < iterations; it++) {
        update_norms(t);
        nearkit_status st = assign_iteration(t, it, threads, &stats->distances);
        if (st) return st;
        stats->objective = total_objective(t);
        if (it > 0 && count_changes(t) == 0) break; /* settled: the centroids would not move */
        stats->iterations = it + 1;
        count_sizes(t);
        memset(t->moved, 0, t->k * sizeof *t->moved);
        st = reseed_empty(t, &stats->reseeded);
        if (st) return st;
        group_members(t);
        atomic_init(&t->failed, 0);
        nearkit_parallel_for(threads, t->k, UPDATE_CHUNK, update_range, t);
        if (atomic_load(&t->failed)) return nearkit_oom();
        mark_moved(t, it == 0);
        memcpy(t->previous, t->assign, (size_t)t->m * sizeof *t->assign);
    }
    return NEARKIT_OK;
}

/* ---- entry point ------------------------------------------------------------------------------- */

/* The training points: all of x, or a seeded random subset of max_sample (in x's order) copied to
 * *owned. */
static nearkit_status take_sample(const float **sample, float **owned, uint64_t *m, const float *x,
                                  uint64_t n, uint32_t d, uint64_t max_sample, rng *r) {
    *owned = NULL;
    *sample = x;
    *m = n;
    if (n <= max_sample) return NEARKIT_OK;
    float *copy = nearkit_aligned_alloc_array((size_t)max_sample * d, sizeof(float));
    if (!copy) return nearkit_oom();
    /* selection sampling: one pass, each point taken with probability wanted / remaining */
    uint64_t taken = 0;
    for (uint64_t i = 0; i < n && taken < max_sample; i++)
        if (rng_below(r, n - i) < max_sample - taken)
            memcpy(copy + taken++ * d, x + i * d, (size_t)d * sizeof(float));
    *owned = copy;
    *sample = copy;
    *m = max_sample;
    return NEARKIT_OK;
}

static void trainer_free(trainer *t) {
    free(t->norms);
    free(t->point_norms);
    free(t->assign);
    free(t->previous);
    free(t->score);
    free(t->sizes);
    free(t->offsets);
    free(t->members);
    free(t->block_objective);
    free(t->second);
    free(t->second_of);
    free(t->moved);
    nearkit_aligned_free(t->moved_centroids);
    free(t->moved_norms);
    free(t->moved_index);
}

static bool trainer_alloc(trainer *t) {
    size_t m = (size_t)t->m, k = t->k;
    bool l2 = !t->cfg->spherical;
    t->norms = l2 ? nearkit_alloc_array(k, sizeof(float)) : NULL;
    t->point_norms = l2 ? nearkit_alloc_array(m, sizeof(float)) : NULL;
    t->assign = nearkit_alloc_array(m, sizeof(uint32_t));
    t->previous = nearkit_alloc_array(m, sizeof(uint32_t));
    t->score = nearkit_alloc_array(m, sizeof(float));
    t->sizes = nearkit_alloc_array(k, sizeof(uint64_t));
    t->offsets = nearkit_alloc_array(k + 1, sizeof(uint64_t));
    t->members = nearkit_alloc_array(m, sizeof(uint64_t));
    t->block_objective = nearkit_alloc_array((m + ASSIGN_BLOCK - 1) / ASSIGN_BLOCK, sizeof(double));
    t->second = nearkit_alloc_array(m, sizeof(float));
    t->second_of = nearkit_alloc_array(m, sizeof(uint32_t));
    t->moved = nearkit_alloc_array(k, sizeof(bool));
    t->moved_centroids = nearkit_aligned_alloc_array(k * t->d, sizeof(float));
    t->moved_norms = nearkit_alloc_array(k, sizeof(float));
    t->moved_index = nearkit_alloc_array(k, sizeof(uint32_t));
    return (!l2 || (t->norms && t->point_norms)) && t->assign && t->previous && t->score &&
           t->sizes && t->offsets && t->members && t->block_objective && t->second && t->second_of && t->moved && t->moved_centroids && t->moved_norms && t->moved_index;
}

nearkit_status nearkit_kmeans_train(float *centroids, nearkit_kmeans_stats *stats,
                                    const nearkit_kmeans_config *cfg, const float *x, uint64_t n,
                                    uint32_t d) {
    if (cfg->k == 0 || cfg->k > n || d == 0)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "k-means needs 1 <= k <= points, got k = %u for %llu points",
                                 cfg->k, (unsigned long long)n);
    nearkit_kmeans_stats local = {0};
    if (!stats) stats = &local;
    *stats = (nearkit_kmeans_stats){0};
    rng r = {cfg->seed};
    uint64_t max_sample = cfg->max_sample ? cfg->max_sample
                                          : (uint64_t)cfg->k * NEARKIT_KMEANS_POINTS_PER_CENTROID;
    if (max_sample < cfg->k) max_sample = cfg->k;
    uint32_t threads = cfg->threads ? cfg->threads : 1;

    trainer t = {.cfg = cfg, .d = d, .k = cfg->k, .centroids = centroids};
    float *owned = NULL;
    nearkit_status st = take_sample(&t.x, &owned, &t.m, x, n, d, max_sample, &r);
    if (st) return st;
    stats->sample = t.m;
    if (!trainer_alloc(&t)) {
        st = nearkit_oom();
        goto done;
    }
    if (t.point_norms) {
        const nearkit_kernel_table *kt = nearkit_kernels();
        for (uint64_t i = 0; i < t.m; i++) t.point_norms[i] = kt->dot(t.x + i * d, t.x + i * d, d);
    }
    st = cfg->plusplus ? init_plusplus(&t, &r, threads) : init_random(&t, &r);
    if (st) goto done;
    if (cfg->spherical)
        for (uint32_t j = 0; j < t.k; j++) normalise(centroids + (size_t)j * d, d);
    st = lloyd(&t, stats);
done:
    trainer_free(&t);
    nearkit_aligned_free(owned);
    return st;
}
