/* The IVF-Flat index: an inverted file over float vectors, for l2, cosine and inner product.
 *
 * k-means (kmeans.c; spherical for cosine and ip) splits the space into nlist cells; every stored
 * vector sits, uncompressed, in the list of its nearest centroid. A query probes its nprobe nearest
 * centroids and scans their lists. The lists live in one arena, each list's rows contiguous (CSR
 * with some slack per list, so vectors added after training need not move the whole arena).
 *
 * Single queries and small batches scan lists with the SIMD kernels. Larger batches are grouped by
 * list: every probed list is scanned once per batch, against all the queries that probe it, through
 * one sgemm per block; the few best candidates per query are then re-scored with the exact kernels.
 * Reported distances are therefore the flat index's, and nprobe >= nlist gives exactly its results.
 *
 * Vectors added before training wait in insertion order and are indexed by the training that
 * nearkit_index_train or nearkit_index_build runs. */
#include "internal.h"
#include "kernels.h"
#include "kmeans.h"
#include "tile_scan.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CENT_TAG NEARKIT_TAG('C', 'E', 'N', 'T')
#define LOFF_TAG NEARKIT_TAG('L', 'O', 'F', 'F')
#define VECS_TAG NEARKIT_TAG('V', 'E', 'C', 'S')
#define IDS_TAG NEARKIT_TAG('I', 'D', 'S', ' ')

#define MAX_NLIST (1u << 22)
#define DEFAULT_NPROBE 10u

#define QUERY_BLOCK 16        /* queries per task on the kernel path */
#define COARSE_BLOCK 256      /* queries per sgemm against the centroids */
#define CENTROID_BLOCK 1024   /* centroids per sgemm */
#define LIST_BLOCK 1024       /* list rows per sgemm or kernel call */
#define SCAN_BYTES 8192       /* rows per kernel call on the single-query path, in bytes */
#define GEMM_QUERY_BLOCK 256  /* queries of one list group per sgemm */
#define GEMM_MIN_QUERIES 8    /* smaller batches take the kernel path */
#define GEMM_MIN_DIMENSION 24
#define GEMM_MIN_GROUP 4      /* a list probed by fewer queries of a batch is scanned by kernels */
#define ROUND_MAX 65536       /* queries grouped together at most */
#define HEAP_BYTES (64u << 20) /* candidate heaps of one batch round, over all workers */

typedef struct ivf_impl {
    /* settings */
    uint32_t nlist;          /* requested (0 = automatic) until trained, then the trained number */
    uint32_t nprobe;
    uint64_t train_sample;   /* 0 = 256 per list */
    uint32_t train_iterations;
    uint32_t train_init;     /* 0: random sample, 1: k-means++ */

    /* vectors added before training, in insertion order */
    float *pending;
    int64_t *pending_ids;
    uint64_t pending_count, pending_capacity;

    /* the trained index */
    bool trained;
    float *centroids;        /* nlist x d, 64-byte aligned */
    float *centroid_norms;   /* l2 only */
    uint64_t *list_start, *list_size, *list_cap; /* rows of the arena, per list */
    float *vectors;          /* arena: arena_rows x d, 64-byte aligned */
    float *norms;            /* l2 only: squared norm of each arena row */
    float max_sqnorm;        /* largest squared norm of an arena row, for the sgemm error bound */
    int64_t *ids;            /* id of each arena row */
    uint64_t arena_rows;
    uint64_t count;          /* vectors in the lists */
} ivf_impl;

enum {
    P_NLIST,
    P_NPROBE,
    P_TRAIN_SAMPLE,
    P_TRAIN_ITERATIONS,
    P_TRAIN_INIT,
    P_MAX_LIST_SIZE,
    P_EMPTY_LISTS,
};

static const nearkit_param_desc ivf_params[] = {
    [P_NLIST] = {"nlist", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER, 0, MAX_NLIST},
    [P_NPROBE] = {"nprobe", NEARKIT_PARAM_FLAG_INTEGER, 1, MAX_NLIST},
    [P_TRAIN_SAMPLE] = {"train_sample", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER, 0,
                        9007199254740992.0},
    [P_TRAIN_ITERATIONS] = {"train_iterations", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER,
                            1, 1000},
    [P_TRAIN_INIT] = {"train_init", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER, 0, 1},
    [P_MAX_LIST_SIZE] = {"max_list_size", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0,
                         0},
    [P_EMPTY_LISTS] = {"empty_lists", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 0},
};

static ivf_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

static bool is_l2(const nearkit_index *ix) { return ix->metric == NEARKIT_METRIC_L2; }

static nearkit_status ivf_create(nearkit_index *ix) {
    ivf_impl *v = calloc(1, sizeof *v);
    if (!v) return nearkit_oom();
    v->nprobe = DEFAULT_NPROBE;
    v->train_iterations = NEARKIT_KMEANS_DEFAULT_ITERATIONS;
    ix->impl = v;
    return NEARKIT_OK;
}

static void free_lists(ivf_impl *v) {
    nearkit_aligned_free(v->centroids);
    free(v->centroid_norms);
    free(v->list_start);
    free(v->list_size);
    free(v->list_cap);
    nearkit_aligned_free(v->vectors);
    free(v->norms);
    free(v->ids);
    v->centroids = v->centroid_norms = v->vectors = v->norms = NULL;
    v->list_start = v->list_size = v->list_cap = NULL;
    v->ids = NULL;
    v->arena_rows = v->count = 0;
    v->max_sqnorm = 0.0f;
    v->trained = false;
}

static void ivf_destroy(nearkit_index *ix) {
    ivf_impl *v = impl_of(ix);
    if (!v) return;
    free_lists(v);
    free(v->pending);
    free(v->pending_ids);
    free(v);
}

static bool ivf_is_ready(const nearkit_index *ix) { return impl_of(ix)->trained; }

static uint64_t ivf_count(const nearkit_index *ix) {
    const ivf_impl *v = impl_of(ix);
    return v->pending_count + v->count;
}

static uint64_t ivf_memory(const nearkit_index *ix) {
    const ivf_impl *v = impl_of(ix);
    uint64_t d = ix->dimension, bytes = sizeof *v;
    bytes += v->pending_capacity * (d * sizeof(float) + sizeof(int64_t));
    if (v->trained) {
        bytes += (uint64_t)v->nlist * (d * sizeof(float) + 3 * sizeof(uint64_t));
        bytes += v->arena_rows * (d * sizeof(float) + sizeof(int64_t));
        if (v->centroid_norms) bytes += (uint64_t)v->nlist * sizeof(float);
        if (v->norms) bytes += v->arena_rows * sizeof(float);
    }
    return bytes;
}

static uint64_t max_list_size(const ivf_impl *v) {
    uint64_t m = 0;
    for (uint32_t l = 0; v->trained && l < v->nlist; l++)
        if (v->list_size[l] > m) m = v->list_size[l];
    return m;
}

static uint64_t empty_lists(const ivf_impl *v) {
    uint64_t e = 0;
    for (uint32_t l = 0; v->trained && l < v->nlist; l++) e += v->list_size[l] == 0;
    return e;
}

/* ---- vectors waiting for training -------------------------------------------------------------- */

static nearkit_status add_pending(nearkit_index *ix, const float *x, uint64_t n, const int64_t *ids) {
    ivf_impl *v = impl_of(ix);
    size_t d = ix->dimension;
    uint64_t needed = v->pending_count + n;
    if (needed > v->pending_capacity) {
        uint64_t cap = v->pending_capacity + v->pending_capacity / 2;
        if (cap < needed) cap = needed;
        size_t floats;
        if (!nearkit_mul_size(&floats, (size_t)cap, d)) return nearkit_oom();
        float *grown = realloc(v->pending, floats * sizeof(float));
        if (!grown) return nearkit_oom();
        v->pending = grown;
        int64_t *grown_ids = realloc(v->pending_ids, (size_t)cap * sizeof(int64_t));
        if (!grown_ids) return nearkit_oom();
        v->pending_ids = grown_ids;
        v->pending_capacity = cap;
    }
    memcpy(v->pending + v->pending_count * d, x, (size_t)n * d * sizeof(float));
    for (uint64_t i = 0; i < n; i++)
        v->pending_ids[v->pending_count + i] = ids ? ids[i] : (int64_t)(v->pending_count + i);
    v->pending_count += n;
    return NEARKIT_OK;
}

static void drop_pending(ivf_impl *v) {
    free(v->pending);
    free(v->pending_ids);
    v->pending = NULL;
    v->pending_ids = NULL;
    v->pending_count = v->pending_capacity = 0;
}

/* ---- the lists --------------------------------------------------------------------------------- */

/* Lays the arena out anew so that list l has room for list_size[l] + extra[l] rows (plus, with
 * slack, half as many again and one, so that further adds rarely move anything). */
static nearkit_status relayout(nearkit_index *ix, const uint64_t *extra, bool slack) {
    ivf_impl *v = impl_of(ix);
    size_t d = ix->dimension;
    uint64_t *cap = nearkit_alloc_array(v->nlist, sizeof *cap);
    if (!cap) return nearkit_oom();
    uint64_t rows = 0;
    for (uint32_t l = 0; l < v->nlist; l++) {
        uint64_t need = v->list_size[l] + extra[l];
        cap[l] = slack ? need + need / 2 + 1 : need;
        rows += cap[l];
    }
    float *vectors = nearkit_aligned_alloc_array((size_t)rows, d * sizeof(float));
    float *norms = is_l2(ix) ? nearkit_alloc_array((size_t)rows, sizeof(float)) : NULL;
    int64_t *ids = nearkit_alloc_array((size_t)rows, sizeof(int64_t));
    if (!vectors || !ids || (is_l2(ix) && !norms)) {
        nearkit_aligned_free(vectors);
        free(norms);
        free(ids);
        free(cap);
        return nearkit_oom();
    }
    uint64_t at = 0;
    for (uint32_t l = 0; l < v->nlist; l++) {
        uint64_t from = v->list_start[l], n = v->list_size[l];
        if (n) {
            memcpy(vectors + at * d, v->vectors + from * d, (size_t)n * d * sizeof(float));
            memcpy(ids + at, v->ids + from, (size_t)n * sizeof(int64_t));
            if (norms) memcpy(norms + at, v->norms + from, (size_t)n * sizeof(float));
        }
        v->list_start[l] = at;
        v->list_cap[l] = cap[l];
        at += cap[l];
    }
    free(cap);
    nearkit_aligned_free(v->vectors);
    free(v->norms);
    free(v->ids);
    v->vectors = vectors;
    v->norms = norms;
    v->ids = ids;
    v->arena_rows = rows;
    return NEARKIT_OK;
}

/* Appends n vectors to the lists of their nearest centroids. ids NULL: insertion order. */
static nearkit_status index_vectors(nearkit_index *ix, const float *x, uint64_t n, const int64_t *ids,
                                    bool slack) {
    ivf_impl *v = impl_of(ix);
    size_t d = ix->dimension;
    uint32_t *assign = nearkit_alloc_array((size_t)n, sizeof *assign);
    uint64_t *extra = nearkit_alloc_array(v->nlist, sizeof *extra);
    nearkit_status st = assign && extra ? NEARKIT_OK : nearkit_oom();
    if (!st)
        st = nearkit_kmeans_assign(assign, NULL, v->centroids, v->centroid_norms, v->nlist, x, n,
                                   ix->dimension, nearkit_resolve_threads(ix->num_threads));
    if (st) goto done;
    memset(extra, 0, v->nlist * sizeof *extra);
    bool fits = true;
    for (uint64_t i = 0; i < n; i++) extra[assign[i]]++;
    for (uint32_t l = 0; l < v->nlist; l++) fits &= v->list_size[l] + extra[l] <= v->list_cap[l];
    if (!fits && (st = relayout(ix, extra, slack))) goto done;
    const nearkit_kernel_table *kt = nearkit_kernels();
    uint64_t first_id = v->count;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t l = assign[i];
        uint64_t row = v->list_start[l] + v->list_size[l]++;
        const float *src = x + i * d;
        memcpy(v->vectors + row * d, src, d * sizeof(float));
        v->ids[row] = ids ? ids[i] : (int64_t)(first_id + i);
        float sq = kt->dot(src, src, d);
        if (v->norms) v->norms[row] = sq;
        if (sq > v->max_sqnorm) v->max_sqnorm = sq;
    }
    v->count += n;
done:
    free(assign);
    free(extra);
    return st;
}

static uint32_t automatic_nlist(uint64_t n) {
    double s = floor(sqrt((double)n) + 0.5);
    return s < 1 ? 1u : s > MAX_NLIST ? MAX_NLIST : (uint32_t)s;
}

/* Trains nlist centroids on n vectors: nlist as set (automatic: about sqrt(n)), clamped to n. */
static nearkit_status train_centroids(nearkit_index *ix, const float *x, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    size_t d = ix->dimension;
    uint32_t nlist = v->nlist ? v->nlist : automatic_nlist(n);
    if (nlist > n) nlist = (uint32_t)n;
    v->centroids = nearkit_aligned_alloc_array((size_t)nlist * d, sizeof(float));
    v->centroid_norms = is_l2(ix) ? nearkit_alloc_array(nlist, sizeof(float)) : NULL;
    v->list_start = calloc(nlist, sizeof(uint64_t));
    v->list_size = calloc(nlist, sizeof(uint64_t));
    v->list_cap = calloc(nlist, sizeof(uint64_t));
    if (!v->centroids || (is_l2(ix) && !v->centroid_norms) || !v->list_start || !v->list_size ||
        !v->list_cap)
        return nearkit_oom();
    nearkit_kmeans_config cfg = {
        .k = nlist,
        .iterations = v->train_iterations,
        .max_sample = v->train_sample,
        .seed = ix->seed,
        .spherical = !is_l2(ix),
        .plusplus = v->train_init == 1,
        .threads = nearkit_resolve_threads(ix->num_threads),
    };
    nearkit_status st = nearkit_kmeans_train(v->centroids, NULL, &cfg, x, n, ix->dimension);
    if (st) return st;
    if (v->centroid_norms) {
        const nearkit_kernel_table *kt = nearkit_kernels();
        for (uint32_t l = 0; l < nlist; l++) {
            const float *c = v->centroids + (size_t)l * d;
            v->centroid_norms[l] = kt->dot(c, c, d);
        }
    }
    v->nlist = nlist;
    v->trained = true;
    return NEARKIT_OK;
}

/* Trains on x (or, when x is NULL, on the waiting vectors) and indexes the waiting vectors. On
 * failure the index is left untrained as it was. */
static nearkit_status train_and_index(nearkit_index *ix, const float *x, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    uint32_t requested = v->nlist;
    nearkit_status st = train_centroids(ix, x ? x : v->pending, x ? n : v->pending_count);
    if (!st && v->pending_count)
        st = index_vectors(ix, v->pending, v->pending_count, v->pending_ids, false);
    if (st) {
        free_lists(v);
        v->nlist = requested;
        return st;
    }
    drop_pending(v);
    return NEARKIT_OK;
}

static nearkit_status ivf_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    ivf_impl *v = impl_of(ix);
    if (!v->trained) return add_pending(ix, vectors, n, ids);
    return index_vectors(ix, vectors, n, ids, true);
}

static nearkit_status ivf_train(nearkit_index *ix, const void *vectors, uint64_t n) {
    if (impl_of(ix)->trained)
        return nearkit_set_error(NEARKIT_ERR_STATE, "the ivf_flat index is already trained");
    return train_and_index(ix, vectors, n);
}

static nearkit_status ivf_build(nearkit_index *ix) {
    ivf_impl *v = impl_of(ix);
    if (v->trained) return NEARKIT_OK;
    if (v->pending_count == 0)
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "the ivf_flat index has nothing to train on: add vectors (or call "
                                 "train) before build");
    return train_and_index(ix, NULL, 0);
}

/* ---- distances --------------------------------------------------------------------------------- */

static const float *query_at(const nearkit_index *ix, const float *queries, uint64_t q) {
    return queries + q * ix->dimension;
}

/* Exact distances of a query to arena rows [row, row + rows), as flat computes them (l2 squared). */
static void row_distances(float *out, const nearkit_index *ix, const float *q, uint64_t row,
                          size_t rows) {
    nearkit_metric_distances(out, NULL, nearkit_kernels(), ix->metric, q,
                             impl_of(ix)->vectors + row * ix->dimension, rows, ix->dimension,
                             (size_t)ix->vector_bytes);
}

static float row_distance(const nearkit_index *ix, const float *q, uint64_t row) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    const float *x = impl_of(ix)->vectors + row * ix->dimension;
    if (is_l2(ix)) return kt->l2sq(q, x, ix->dimension);
    float dot = kt->dot(q, x, ix->dimension);
    return ix->metric == NEARKIT_METRIC_COSINE ? 1.0f - dot : -dot;
}

/* How near a centroid is to a query, for choosing lists: squared l2, or -<q, c> (spherical). */
static float centroid_score(const nearkit_index *ix, const float *q, uint32_t list) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    const float *c = impl_of(ix)->centroids + (size_t)list * ix->dimension;
    return is_l2(ix) ? kt->l2sq(q, c, ix->dimension) : -kt->dot(q, c, ix->dimension);
}

/* ---- choosing lists ---------------------------------------------------------------------------- */

/* Scratch for choosing lists: nlist scores and a heap of up to nlist lists. */
typedef struct probe_scratch {
    float *scores, *heap_dist;
    uint64_t *heap_pos;
} probe_scratch;

static bool probe_scratch_alloc(probe_scratch *s, uint32_t nlist) {
    s->scores = nearkit_alloc_array(nlist, sizeof(float));
    s->heap_dist = nearkit_alloc_array(nlist, sizeof(float));
    s->heap_pos = nearkit_alloc_array(nlist, sizeof(uint64_t));
    return s->scores && s->heap_dist && s->heap_pos;
}

static void probe_scratch_free(probe_scratch *s) {
    free(s->scores);
    free(s->heap_dist);
    free(s->heap_pos);
}

/* Writes the query's nprobe nearest lists (ties to the smaller list number), every list when
 * nprobe >= nlist. Returns how many. */
static uint32_t choose_lists(uint32_t *probes, const nearkit_index *ix, const float *q, uint32_t nprobe,
                             probe_scratch *s) {
    const ivf_impl *v = impl_of(ix);
    if (nprobe >= v->nlist) {
        for (uint32_t l = 0; l < v->nlist; l++) probes[l] = l;
        return v->nlist;
    }
    const nearkit_kernel_table *kt = nearkit_kernels();
    if (is_l2(ix)) {
        kt->l2sq_many(s->scores, q, v->centroids, v->nlist, ix->dimension);
    } else {
        kt->dot_many(s->scores, q, v->centroids, v->nlist, ix->dimension);
        for (uint32_t l = 0; l < v->nlist; l++) s->scores[l] = -s->scores[l];
    }
    nearkit_topk h;
    nearkit_topk_init(&h, s->heap_dist, s->heap_pos, nprobe, NULL);
    for (uint32_t l = 0; l < v->nlist; l++)
        if (s->scores[l] <= nearkit_topk_bound(&h)) nearkit_topk_push(&h, s->scores[l], l);
    nearkit_topk_sort(&h);
    for (size_t i = 0; i < h.size; i++) probes[i] = (uint32_t)h.pos[i];
    return (uint32_t)h.size;
}

/* ---- result rows (shared by both paths) -------------------------------------------------------- */

/* Replaces the candidates' scan values by exact distances, keeping all of them, as a heap. */
static void rescore(const nearkit_index *ix, nearkit_topk *h, const float *q) {
    size_t n = h->size;
    h->size = 0;
    h->cap = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t pos = h->pos[i];
        nearkit_topk_push(h, row_distance(ix, q, pos), pos);
    }
}

/* Writes a query's k results from its sorted heap (exact distances), l2 rooted, by (distance,
 * id). */
static void emit_row(const nearkit_index *ix, const nearkit_topk *h, uint64_t k, int64_t *ids,
                     float *dist) {
    nearkit_topk_emit(h, impl_of(ix)->ids, k, ids, dist);
    uint64_t n = h->size < k ? h->size : k;
    if (is_l2(ix)) {
        /* rooting can merge distinct squares into one float: restore the id order of such ties */
        for (uint64_t i = 0; i < n; i++) dist[i] = sqrtf(dist[i]);
        nearkit_sort_row(ids, dist, n);
    }
}

static void push_block(nearkit_topk *h, const float *d, uint64_t row, size_t rows) {
    float bound = nearkit_topk_bound(h);
    for (size_t i = 0; i < rows; i++) {
        if (d[i] <= bound) {
            nearkit_topk_push(h, d[i], row + i);
            bound = nearkit_topk_bound(h);
        }
    }
}

/* Fetches rows [row, row + rows) towards the cache ahead of their scan. */
static void prefetch_rows(const nearkit_index *ix, uint64_t row, size_t rows) {
    const char *p = (const char *)(impl_of(ix)->vectors + row * ix->dimension);
    size_t bytes = rows * ix->dimension * sizeof(float);
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
}

/* Scans a list for one query with the kernels (exact values), a few rows at a time with the next
 * rows prefetched (measured: a fifth less time when the lists are not in cache). */
static void scan_list_kernels(nearkit_topk *h, float *buf, const nearkit_index *ix, const float *q,
                              uint32_t list) {
    const ivf_impl *v = impl_of(ix);
    uint64_t start = v->list_start[list], size = v->list_size[list];
    size_t step = SCAN_BYTES / (ix->dimension * sizeof(float));
    if (step < 4) step = 4;
    if (step > LIST_BLOCK) step = LIST_BLOCK;
    for (uint64_t r = 0; r < size; r += step) {
        size_t rows = size - r < step ? (size_t)(size - r) : step;
        uint64_t after = size - r - rows;
        if (after) prefetch_rows(ix, start + r + rows, after < step ? (size_t)after : step);
        row_distances(buf, ix, q, start + r, rows);
        push_block(h, buf, start + r, rows);
    }
}

/* ---- k-NN, kernel path: one query at a time ---------------------------------------------------- */

typedef struct knn_task {
    const nearkit_index *ix;
    const float *queries;
    uint64_t k, stride;
    int64_t *ids;
    float *dist;
    uint32_t nprobe;
    _Atomic int failed;
} knn_task;

static void kernel_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    knn_task *t = ctx;
    const nearkit_index *ix = t->ix;
    const ivf_impl *v = impl_of(ix);
    probe_scratch ps;
    bool ok = probe_scratch_alloc(&ps, v->nlist);
    uint32_t *probes = nearkit_alloc_array(v->nlist, sizeof *probes);
    float *buf = nearkit_alloc_array(LIST_BLOCK, sizeof *buf);
    float *heap_dist = nearkit_alloc_array((size_t)t->k, sizeof *heap_dist);
    uint64_t *heap_pos = nearkit_alloc_array((size_t)t->k, sizeof *heap_pos);
    if (!ok || !probes || !buf || !heap_dist || !heap_pos) {
        atomic_store(&t->failed, 1);
        goto done;
    }
    for (uint64_t qi = begin; qi < end; qi++) {
        const float *q = query_at(ix, t->queries, qi);
        uint32_t np = choose_lists(probes, ix, q, t->nprobe, &ps);
        nearkit_topk h;
        nearkit_topk_init(&h, heap_dist, heap_pos, (size_t)t->k, v->ids);
        for (uint32_t i = 0; i < np; i++) scan_list_kernels(&h, buf, ix, q, probes[i]);
        nearkit_topk_sort(&h);
        emit_row(ix, &h, t->k, t->ids + qi * t->stride, t->dist + qi * t->stride);
    }
done:
    probe_scratch_free(&ps);
    free(probes);
    free(buf);
    free(heap_dist);
    free(heap_pos);
}

/* ---- k-NN, batch path: queries grouped by list, lists scanned through sgemm -------------------- */

/* One worker's share of a round: a candidate heap for every query of the round, and buffers. */
typedef struct batch_worker {
    nearkit_topk *heaps;
    float *heap_dist;
    uint64_t *heap_pos;
    bool *approximate; /* per query of the round: a candidate came from a sgemm scan */
    float *gathered; /* GEMM_QUERY_BLOCK x d */
    float *tile;     /* GEMM_QUERY_BLOCK x LIST_BLOCK */
    float *buf;      /* LIST_BLOCK */
} batch_worker;

typedef struct batch_task {
    knn_task *knn;
    uint32_t threads;
    uint64_t cap;        /* candidates kept per query before re-scoring */
    uint64_t q0, nq;     /* the round: queries [q0, q0 + nq) */
    uint32_t nprobe;     /* lists per query (nprobe clamped to nlist) */
    uint32_t *probes;    /* nq x nprobe */
    float *qnorms;       /* nq, l2 only */
    uint64_t *group_offsets; /* nlist + 1 */
    uint32_t *group_members; /* nq x nprobe: queries of the round probing each list, in order */
    batch_worker *workers;
    _Atomic int failed;
} batch_task;

/* Candidates kept from a sgemm scan before exact re-scoring: a margin over k absorbs the rounding
 * of the |q|^2 + |x|^2 - 2<q,x> expansion. */
static uint64_t gemm_candidates(uint64_t k, uint64_t count) {
    uint64_t margin = k / 4 < 8 ? 8 : k / 4;
    uint64_t kk = k + margin;
    return kk < count ? kk : count;
}

/* Lists kept from the sgemm against the centroids before exact re-scoring: centroid scores are
 * far apart compared with the expansion's rounding, so a small margin suffices. */
static uint64_t coarse_candidates(uint32_t nprobe, uint32_t nlist) {
    uint64_t kk = (uint64_t)nprobe + 2 + nprobe / 8;
    return kk < nlist ? kk : nlist;
}

static void batch_worker_free(batch_worker *w) {
    free(w->heaps);
    free(w->heap_dist);
    free(w->heap_pos);
    free(w->approximate);
    nearkit_aligned_free(w->gathered);
    nearkit_aligned_free(w->tile);
    free(w->buf);
}

static bool batch_worker_alloc(batch_worker *w, uint64_t round, uint64_t cap, size_t d) {
    *w = (batch_worker){
        .heaps = nearkit_alloc_array((size_t)round, sizeof(nearkit_topk)),
        .heap_dist = nearkit_alloc_array((size_t)(round * cap), sizeof(float)),
        .heap_pos = nearkit_alloc_array((size_t)(round * cap), sizeof(uint64_t)),
        .approximate = nearkit_alloc_array((size_t)round, sizeof(bool)),
        .gathered = nearkit_aligned_alloc_array((size_t)GEMM_QUERY_BLOCK * d, sizeof(float)),
        .tile = nearkit_aligned_alloc_array((size_t)GEMM_QUERY_BLOCK * LIST_BLOCK, sizeof(float)),
        .buf = nearkit_alloc_array(LIST_BLOCK, sizeof(float)),
    };
    return w->heaps && w->heap_dist && w->heap_pos && w->approximate && w->gathered && w->tile && w->buf;
}

/* Pushes one sgemm tile row: the value is offset + extra[j] + r[j] (extra: stored norms for l2),
 * compared with the heap bound 16 at a time. */
static void push_gemm_row(nearkit_topk *h, const float *r, const float *extra, float offset,
                          uint64_t row, size_t rows) {
    float bound = nearkit_topk_bound(h);
    size_t j = 0;
    for (; j + 16 <= rows; j += 16) {
        if (!nearkit_any16_below(r + j, extra ? extra + j : NULL, offset, bound, true)) continue;
        for (size_t u = j; u < j + 16; u++) {
            float val = offset + (extra ? extra[u] : 0.0f) + r[u];
            if (val <= bound) {
                nearkit_topk_push(h, val, row + u);
                bound = nearkit_topk_bound(h);
            }
        }
    }
    for (; j < rows; j++) {
        float val = offset + (extra ? extra[j] : 0.0f) + r[j];
        if (val <= bound) {
            nearkit_topk_push(h, val, row + j);
            bound = nearkit_topk_bound(h);
        }
    }
}

/* Chooses the lists of queries [begin, end) of the round: sgemm against the centroids, the best
 * nprobe plus a margin kept, those re-scored exactly and the nprobe best taken, so a batch probes
 * the lists a single query would. */
static void coarse_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    batch_task *b = ctx;
    const nearkit_index *ix = b->knn->ix;
    const ivf_impl *v = impl_of(ix);
    size_t d = ix->dimension, nq = (size_t)(end - begin);
    uint32_t cb = v->nlist < CENTROID_BLOCK ? v->nlist : CENTROID_BLOCK;
    uint64_t cap = coarse_candidates(b->nprobe, v->nlist);
    float *tile = nearkit_aligned_alloc_array(nq * cb, sizeof(float));
    float *heap_dist = nearkit_alloc_array(nq * cap, sizeof(float));
    uint64_t *heap_pos = nearkit_alloc_array(nq * cap, sizeof(uint64_t));
    nearkit_topk *heaps = nearkit_alloc_array(nq, sizeof *heaps);
    if (!tile || !heap_dist || !heap_pos || !heaps) {
        atomic_store(&b->failed, 1);
        goto done;
    }
    const float *qs = query_at(ix, b->knn->queries, b->q0 + begin);
    for (size_t i = 0; i < nq; i++) nearkit_topk_init(&heaps[i], heap_dist + i * cap, heap_pos + i * cap, cap, NULL);
    for (uint32_t c0 = 0; c0 < v->nlist; c0 += cb) {
        uint32_t n = v->nlist - c0 < cb ? v->nlist - c0 : cb;
        nearkit_sgemm_nt(nq, n, d, is_l2(ix) ? -2.0f : -1.0f, qs, v->centroids + (size_t)c0 * d, tile);
        for (size_t i = 0; i < nq; i++)
            push_gemm_row(&heaps[i], tile + i * n, v->centroid_norms ? v->centroid_norms + c0 : NULL,
                          0.0f, c0, n);
    }
    for (size_t i = 0; i < nq; i++) {
        const float *q = qs + i * d;
        nearkit_topk *h = &heaps[i];
        size_t kept = h->size;
        h->size = 0;
        h->cap = b->nprobe;
        for (size_t j = 0; j < kept; j++) { /* pushes write only slots below the one read */
            uint64_t list = h->pos[j];
            nearkit_topk_push(h, centroid_score(ix, q, (uint32_t)list), list);
        }
        uint32_t *probes = b->probes + (begin + i) * b->nprobe;
        for (size_t j = 0; j < h->size; j++) probes[j] = (uint32_t)h->pos[j];
    }
done:
    nearkit_aligned_free(tile);
    free(heap_dist);
    free(heap_pos);
    free(heaps);
}

/* Scans one list against the queries of the round that probe it (members, local numbers). */
static void scan_list_gemm(const batch_task *b, batch_worker *w, uint32_t list, const uint32_t *members,
                           size_t n_members) {
    const nearkit_index *ix = b->knn->ix;
    const ivf_impl *v = impl_of(ix);
    size_t d = ix->dimension;
    uint64_t start = v->list_start[list], size = v->list_size[list];
    bool l2 = is_l2(ix);
    float offset = ix->metric == NEARKIT_METRIC_COSINE ? 1.0f : 0.0f;
    for (size_t m0 = 0; m0 < n_members; m0 += GEMM_QUERY_BLOCK) {
        size_t mq = n_members - m0 < GEMM_QUERY_BLOCK ? n_members - m0 : GEMM_QUERY_BLOCK;
        for (size_t i = 0; i < mq; i++)
            memcpy(w->gathered + i * d, query_at(ix, b->knn->queries, b->q0 + members[m0 + i]),
                   d * sizeof(float));
        for (uint64_t r = 0; r < size; r += LIST_BLOCK) {
            size_t rows = size - r < LIST_BLOCK ? (size_t)(size - r) : LIST_BLOCK;
            nearkit_sgemm_nt(mq, rows, d, l2 ? -2.0f : -1.0f, w->gathered, v->vectors + (start + r) * d,
                             w->tile);
            for (size_t i = 0; i < mq; i++) {
                uint32_t m = members[m0 + i];
                w->approximate[m] = true;
                push_gemm_row(&w->heaps[m], w->tile + i * rows, l2 ? v->norms + start + r : NULL,
                              l2 ? b->qnorms[m] : offset, start + r, rows);
            }
        }
    }
}

static void lists_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    batch_task *b = ctx;
    const nearkit_index *ix = b->knn->ix;
    const ivf_impl *v = impl_of(ix);
    batch_worker *w = &b->workers[worker];
    for (uint64_t l = begin; l < end; l++) {
        const uint32_t *members = b->group_members + b->group_offsets[l];
        size_t n = (size_t)(b->group_offsets[l + 1] - b->group_offsets[l]);
        if (n == 0 || v->list_size[l] == 0) continue;
        if (n >= GEMM_MIN_GROUP) {
            scan_list_gemm(b, w, (uint32_t)l, members, n);
        } else {
            for (size_t i = 0; i < n; i++)
                scan_list_kernels(&w->heaps[members[i]], w->buf, ix,
                                  query_at(ix, b->knn->queries, b->q0 + members[i]), (uint32_t)l);
        }
    }
}

/* Turns the shortlist of query i of the round (candidates that all rows left out scored no better
 * than floor on the sgemm scan) into its exact k best, sorted: exact distances for the
 * candidates, kept when the sgemm error bound proves them complete, else the query's lists are
 * rescanned with the kernels. */
static void settle_shortlist(const batch_task *b, nearkit_topk *h, float floor, float *buf, uint64_t i) {
    const knn_task *t = b->knn;
    const nearkit_index *ix = t->ix;
    const float *q = query_at(ix, t->queries, b->q0 + i);
    rescore(ix, h, q);
    nearkit_topk_sort(h);
    double qnorm = sqrt((double)nearkit_kernels()->dot(q, q, ix->dimension));
    double slack = nearkit_gemm_slack(ix->metric, ix->dimension, qnorm, sqrt((double)impl_of(ix)->max_sqnorm));
    if (nearkit_rerank_certain(h, t->k, floor, slack, is_l2(ix))) return;
    nearkit_topk_init(h, h->dist, h->pos, (size_t)t->k, impl_of(ix)->ids);
    for (uint32_t p = 0; p < b->nprobe; p++) scan_list_kernels(h, buf, ix, q, b->probes[i * b->nprobe + p]);
    nearkit_topk_sort(h);
}

/* Merges the workers' candidates of each query, settles them exactly and writes the row. */
static void merge_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    batch_task *b = ctx;
    const knn_task *t = b->knn;
    const nearkit_index *ix = t->ix;
    size_t total = (size_t)(b->cap * b->threads);
    float *dist = nearkit_alloc_array(total, sizeof(float));
    uint64_t *pos = nearkit_alloc_array(total, sizeof(uint64_t));
    float *buf = nearkit_alloc_array(LIST_BLOCK, sizeof(float));
    if (!dist || !pos || !buf) {
        atomic_store(&b->failed, 1);
        goto done;
    }
    for (uint64_t i = begin; i < end; i++) {
        nearkit_topk merged, *h = &b->workers[0].heaps[i];
        bool approximate = false;
        float floor = INFINITY; /* the least a row left out by any heap scored */
        for (uint32_t w = 0; w < b->threads; w++) {
            approximate |= b->workers[w].approximate[i];
            floor = fminf(floor, nearkit_topk_floor(&b->workers[w].heaps[i]));
        }
        if (b->threads > 1) {
            h = &merged;
            nearkit_topk_init(h, dist, pos, (size_t)b->cap, impl_of(ix)->ids);
            for (uint32_t w = 0; w < b->threads; w++) {
                const nearkit_topk *part = &b->workers[w].heaps[i];
                for (size_t j = 0; j < part->size; j++) nearkit_topk_push(h, part->dist[j], part->pos[j]);
            }
        }
        if (b->threads > 1) floor = fminf(floor, nearkit_topk_floor(h));
        if (approximate)
            settle_shortlist(b, h, floor, buf, i);
        else
            nearkit_topk_sort(h);
        uint64_t q = b->q0 + i;
        emit_row(ix, h, t->k, t->ids + q * t->stride, t->dist + q * t->stride);
    }
done:
    free(buf);
    free(dist);
    free(pos);
}

/* Groups the round's (query, list) pairs by list, queries in increasing order within a list. */
static void group_by_list(batch_task *b, uint32_t nlist) {
    uint64_t *off = b->group_offsets;
    memset(off, 0, (nlist + 1) * sizeof *off);
    uint64_t pairs = b->nq * b->nprobe;
    for (uint64_t p = 0; p < pairs; p++) off[b->probes[p] + 1]++;
    for (uint32_t l = 0; l < nlist; l++) off[l + 1] += off[l];
    for (uint64_t p = 0; p < pairs; p++) {
        uint32_t l = b->probes[p];
        b->group_members[off[l]++] = (uint32_t)(p / b->nprobe);
    }
    for (uint32_t l = nlist; l > 0; l--) off[l] = off[l - 1]; /* shift back to start offsets */
    off[0] = 0;
}

static nearkit_status run_round(batch_task *b) {
    const knn_task *t = b->knn;
    const nearkit_index *ix = t->ix;
    const ivf_impl *v = impl_of(ix);
    atomic_init(&b->failed, 0);
    if (b->nprobe >= v->nlist) {
        for (uint64_t i = 0; i < b->nq; i++)
            for (uint32_t l = 0; l < v->nlist; l++) b->probes[i * b->nprobe + l] = l;
    } else {
        nearkit_parallel_for(b->threads, b->nq, COARSE_BLOCK, coarse_range, b);
        if (atomic_load(&b->failed)) return nearkit_oom();
    }
    group_by_list(b, v->nlist);
    if (b->qnorms) {
        const nearkit_kernel_table *kt = nearkit_kernels();
        for (uint64_t i = 0; i < b->nq; i++) {
            const float *q = query_at(ix, t->queries, b->q0 + i);
            b->qnorms[i] = kt->dot(q, q, ix->dimension);
        }
    }
    for (uint32_t w = 0; w < b->threads; w++) {
        memset(b->workers[w].approximate, 0, (size_t)b->nq * sizeof(bool));
        for (uint64_t i = 0; i < b->nq; i++)
            nearkit_topk_init(&b->workers[w].heaps[i], b->workers[w].heap_dist + i * b->cap,
                              b->workers[w].heap_pos + i * b->cap, (size_t)b->cap, v->ids);
    }
    nearkit_parallel_for(b->threads, v->nlist, 1, lists_range, b);
    nearkit_parallel_for(b->threads, b->nq, QUERY_BLOCK, merge_range, b);
    return atomic_load(&b->failed) ? nearkit_oom() : NEARKIT_OK;
}

static nearkit_status batch_search(knn_task *t, uint64_t n, uint32_t threads) {
    const nearkit_index *ix = t->ix;
    const ivf_impl *v = impl_of(ix);
    batch_task b = {.knn = t, .threads = threads, .nprobe = t->nprobe < v->nlist ? t->nprobe : v->nlist,
                    .cap = gemm_candidates(t->k, v->count)};
    /* a round's heaps and probe lists stay within HEAP_BYTES */
    uint64_t per_query = threads * (b.cap * (sizeof(float) + sizeof(uint64_t)) + sizeof(nearkit_topk) + 1) +
                         (uint64_t)b.nprobe * 2 * sizeof(uint32_t);
    uint64_t round = HEAP_BYTES / per_query;
    if (round > ROUND_MAX) round = ROUND_MAX;
    if (round < GEMM_MIN_QUERIES) round = GEMM_MIN_QUERIES; /* only when nprobe is huge */
    if (round > n) round = n;
    b.probes = nearkit_alloc_array((size_t)(round * b.nprobe), sizeof(uint32_t));
    b.group_members = nearkit_alloc_array((size_t)(round * b.nprobe), sizeof(uint32_t));
    b.group_offsets = nearkit_alloc_array((size_t)v->nlist + 1, sizeof(uint64_t));
    b.qnorms = is_l2(ix) ? nearkit_alloc_array((size_t)round, sizeof(float)) : NULL;
    b.workers = calloc(threads, sizeof *b.workers);
    nearkit_status st = NEARKIT_OK;
    if (!b.probes || !b.group_members || !b.group_offsets || (is_l2(ix) && !b.qnorms) || !b.workers) {
        st = nearkit_oom();
        goto done;
    }
    for (uint32_t w = 0; w < threads; w++)
        if (!batch_worker_alloc(&b.workers[w], round, b.cap, ix->dimension)) {
            st = nearkit_oom();
            goto done;
        }
    for (uint64_t q0 = 0; q0 < n && !st; q0 += round) {
        b.q0 = q0;
        b.nq = n - q0 < round ? n - q0 : round;
        st = run_round(&b);
    }
done:
    for (uint32_t w = 0; b.workers && w < threads; w++) batch_worker_free(&b.workers[w]);
    free(b.workers);
    free(b.probes);
    free(b.group_members);
    free(b.group_offsets);
    free(b.qnorms);
    return st;
}

static bool gemm_applies(const nearkit_index *ix, uint64_t n) {
    return n >= GEMM_MIN_QUERIES && ix->dimension >= GEMM_MIN_DIMENSION &&
           ix->dimension <= INT32_MAX / 2;
}

static nearkit_status ivf_search(const nearkit_index *ix, const void *queries, uint64_t n, uint64_t k,
                                 int64_t *ids, float *dist, uint64_t stride, uint32_t threads) {
    knn_task t = {.ix = ix, .queries = queries, .k = k, .stride = stride, .ids = ids, .dist = dist,
                  .nprobe = impl_of(ix)->nprobe};
    atomic_init(&t.failed, 0);
    if (gemm_applies(ix, n)) return batch_search(&t, n, threads);
    uint64_t chunk = QUERY_BLOCK;
    if (threads > 1 && n / threads < chunk) chunk = n / threads + 1;
    nearkit_parallel_for(threads, n, chunk, kernel_range, &t);
    return atomic_load(&t.failed) ? nearkit_oom() : NEARKIT_OK;
}

/* ---- range search ------------------------------------------------------------------------------ */

typedef struct range_task {
    const nearkit_index *ix;
    const float *queries;
    float radius;
    nearkit_range_builder *out;
    _Atomic int failed;
} range_task;

static bool range_list(range_task *t, float *buf, const float *q, uint64_t qi, uint32_t list) {
    const nearkit_index *ix = t->ix;
    const ivf_impl *v = impl_of(ix);
    uint64_t start = v->list_start[list], size = v->list_size[list];
    for (uint64_t r = 0; r < size; r += LIST_BLOCK) {
        size_t rows = size - r < LIST_BLOCK ? (size_t)(size - r) : LIST_BLOCK;
        row_distances(buf, ix, q, start + r, rows);
        for (size_t i = 0; i < rows; i++) {
            float dist = is_l2(ix) ? sqrtf(buf[i]) : buf[i];
            if (dist <= t->radius && !nearkit_range_builder_add(t->out, qi, v->ids[start + r + i], dist))
                return false;
        }
    }
    return true;
}

static void range_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    range_task *t = ctx;
    const nearkit_index *ix = t->ix;
    const ivf_impl *v = impl_of(ix);
    probe_scratch ps;
    bool ok = probe_scratch_alloc(&ps, v->nlist);
    uint32_t *probes = nearkit_alloc_array(v->nlist, sizeof *probes);
    float *buf = nearkit_alloc_array(LIST_BLOCK, sizeof *buf);
    if (!ok || !probes || !buf) {
        atomic_store(&t->failed, 1);
        goto done;
    }
    for (uint64_t qi = begin; qi < end; qi++) {
        const float *q = query_at(ix, t->queries, qi);
        uint32_t np = choose_lists(probes, ix, q, v->nprobe, &ps);
        for (uint32_t i = 0; i < np; i++)
            if (!range_list(t, buf, q, qi, probes[i])) {
                atomic_store(&t->failed, 1);
                goto done;
            }
    }
done:
    probe_scratch_free(&ps);
    free(probes);
    free(buf);
}

static nearkit_status ivf_range_search(const nearkit_index *ix, const void *queries, uint64_t n,
                                       float radius, nearkit_range_builder *out, uint32_t threads) {
    range_task t = {.ix = ix, .queries = queries, .radius = radius, .out = out};
    atomic_init(&t.failed, 0);
    nearkit_parallel_for(threads, n, 4, range_range, &t);
    return atomic_load(&t.failed) ? nearkit_oom() : NEARKIT_OK;
}

/* ---- parameters -------------------------------------------------------------------------------- */

static nearkit_status ivf_get_param(const nearkit_index *ix, size_t i, double *value) {
    const ivf_impl *v = impl_of(ix);
    switch (i) {
    case P_NLIST: *value = v->nlist; break;
    case P_NPROBE: *value = v->nprobe; break;
    case P_TRAIN_SAMPLE: *value = (double)v->train_sample; break;
    case P_TRAIN_ITERATIONS: *value = v->train_iterations; break;
    case P_TRAIN_INIT: *value = v->train_init; break;
    case P_MAX_LIST_SIZE: *value = (double)max_list_size(v); break;
    case P_EMPTY_LISTS: *value = (double)empty_lists(v); break;
    default: return nearkit_set_error(NEARKIT_ERR_INTERNAL, "ivf_flat: no parameter %zu", i);
    }
    return NEARKIT_OK;
}

static nearkit_status ivf_set_param(nearkit_index *ix, size_t i, double value) {
    ivf_impl *v = impl_of(ix);
    /* the generic layer refuses build parameters once vectors exist; training alone counts too */
    if ((ivf_params[i].flags & NEARKIT_PARAM_FLAG_BUILD) && v->trained)
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "parameter '%s' can only be set before the index is trained",
                                 ivf_params[i].name);
    switch (i) {
    case P_NLIST: v->nlist = (uint32_t)value; break;
    case P_NPROBE: v->nprobe = (uint32_t)value; break;
    case P_TRAIN_SAMPLE: v->train_sample = (uint64_t)value; break;
    case P_TRAIN_ITERATIONS: v->train_iterations = (uint32_t)value; break;
    case P_TRAIN_INIT: v->train_init = (uint32_t)value; break;
    default: return nearkit_set_error(NEARKIT_ERR_INTERNAL, "ivf_flat: parameter %zu is read-only", i);
    }
    return NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

/* Writes the lists back to back (no slack) in list order: vectors, then ids. */
static nearkit_status save_lists(const nearkit_index *ix, nearkit_writer *w) {
    const ivf_impl *v = impl_of(ix);
    size_t d = ix->dimension;
    const void **parts = nearkit_alloc_array(v->nlist, sizeof *parts);
    uint64_t *sizes = nearkit_alloc_array(v->nlist, sizeof *sizes);
    uint64_t *offsets = nearkit_alloc_array((size_t)v->nlist + 1, sizeof *offsets);
    nearkit_status st = NEARKIT_OK;
    if (!parts || !sizes || !offsets) {
        st = nearkit_oom();
        goto done;
    }
    offsets[0] = 0;
    for (uint32_t l = 0; l < v->nlist; l++) offsets[l + 1] = offsets[l] + v->list_size[l];
    st = nearkit_writer_section(w, CENT_TAG, v->centroids, (uint64_t)v->nlist * d * sizeof(float));
    if (!st) st = nearkit_writer_section(w, LOFF_TAG, offsets, ((uint64_t)v->nlist + 1) * sizeof(uint64_t));
    for (uint32_t l = 0; l < v->nlist; l++) {
        parts[l] = v->list_size[l] ? v->vectors + v->list_start[l] * d : NULL;
        sizes[l] = v->list_size[l] * d * sizeof(float);
    }
    if (!st) st = nearkit_writer_section_parts(w, VECS_TAG, parts, sizes, v->nlist);
    for (uint32_t l = 0; l < v->nlist; l++) {
        parts[l] = v->list_size[l] ? v->ids + v->list_start[l] : NULL;
        sizes[l] = v->list_size[l] * sizeof(int64_t);
    }
    if (!st) st = nearkit_writer_section_parts(w, IDS_TAG, parts, sizes, v->nlist);
done:
    free(parts);
    free(sizes);
    free(offsets);
    return st;
}

static nearkit_status ivf_save(const nearkit_index *ix, nearkit_writer *w) {
    const ivf_impl *v = impl_of(ix);
    if (v->trained) return save_lists(ix, w);
    nearkit_status st = nearkit_writer_section(w, VECS_TAG, v->pending,
                                               v->pending_count * ix->dimension * sizeof(float));
    if (!st) st = nearkit_writer_section(w, IDS_TAG, v->pending_ids, v->pending_count * sizeof(int64_t));
    return st;
}

static nearkit_status corrupt(const char *what) {
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %s", what);
}

/* Copies the vector and id sections out of the image after checking them: *n vectors. */
static nearkit_status read_vectors(float **vectors, int64_t **ids, uint64_t *n, const nearkit_index *ix,
                                   const nearkit_reader *r) {
    const void *vdata, *idata;
    uint64_t vsize, row_bytes = (uint64_t)ix->dimension * sizeof(float);
    nearkit_status st = nearkit_reader_section(&vdata, &vsize, r, VECS_TAG);
    if (st) return st;
    if (vsize % row_bytes != 0) return corrupt("vector section is not a whole number of vectors");
    *n = vsize / row_bytes;
    st = nearkit_reader_section_sized(&idata, r, IDS_TAG, *n * sizeof(int64_t));
    if (st) return st;
    *vectors = nearkit_aligned_alloc_array((size_t)vsize, 1);
    *ids = nearkit_alloc_array((size_t)*n, sizeof(int64_t));
    if (!*vectors || !*ids) {
        nearkit_aligned_free(*vectors);
        free(*ids);
        *vectors = NULL;
        *ids = NULL;
        return nearkit_oom();
    }
    memcpy(*vectors, vdata, (size_t)vsize); /* out of the possibly unaligned image */
    memcpy(*ids, idata, (size_t)*n * sizeof(int64_t));
    st = nearkit_check_loaded_floats(ix, *vectors, *n, "stored vector");
    for (uint64_t i = 0; !st && i < *n; i++)
        if ((*ids)[i] == -1) st = corrupt("stored id -1");
    return st;
}

/* Offsets must start at 0, never decrease, and end at the number of vectors. */
static nearkit_status read_offsets(uint64_t **offsets, const nearkit_reader *r, uint32_t nlist,
                                   uint64_t n) {
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, LOFF_TAG, ((uint64_t)nlist + 1) * sizeof(uint64_t));
    if (st) return st;
    uint64_t *off = nearkit_alloc_array((size_t)nlist + 1, sizeof *off);
    if (!off) return nearkit_oom();
    memcpy(off, data, ((size_t)nlist + 1) * sizeof *off);
    bool ok = off[0] == 0 && off[nlist] == n;
    for (uint32_t l = 0; ok && l < nlist; l++) ok = off[l] <= off[l + 1];
    if (!ok) {
        free(off);
        return corrupt("list offsets do not partition the stored vectors");
    }
    *offsets = off;
    return NEARKIT_OK;
}

/* Installs the loaded lists: the arena is the file's order, with every list exactly full. */
static nearkit_status load_lists(nearkit_index *ix, const nearkit_reader *r, const void *centroids,
                                 float *vectors, int64_t *ids, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    size_t d = ix->dimension;
    uint64_t *offsets = NULL;
    nearkit_status st = read_offsets(&offsets, r, v->nlist, n);
    if (st) return st;
    v->centroids = nearkit_aligned_alloc_array((size_t)v->nlist * d, sizeof(float));
    v->centroid_norms = is_l2(ix) ? nearkit_alloc_array(v->nlist, sizeof(float)) : NULL;
    v->list_start = nearkit_alloc_array(v->nlist, sizeof(uint64_t));
    v->list_size = nearkit_alloc_array(v->nlist, sizeof(uint64_t));
    v->list_cap = nearkit_alloc_array(v->nlist, sizeof(uint64_t));
    v->norms = is_l2(ix) ? nearkit_alloc_array((size_t)n, sizeof(float)) : NULL;
    if (!v->centroids || (is_l2(ix) && (!v->centroid_norms || !v->norms)) || !v->list_start ||
        !v->list_size || !v->list_cap) {
        free(offsets);
        return nearkit_oom();
    }
    memcpy(v->centroids, centroids, (size_t)v->nlist * d * sizeof(float));
    v->trained = true;
    st = nearkit_check_loaded_floats(ix, v->centroids, v->nlist, "centroid");
    for (uint32_t l = 0; l < v->nlist; l++) {
        v->list_start[l] = offsets[l];
        v->list_size[l] = v->list_cap[l] = offsets[l + 1] - offsets[l];
    }
    free(offsets);
    v->vectors = vectors;
    v->ids = ids;
    v->arena_rows = v->count = n;
    const nearkit_kernel_table *kt = nearkit_kernels();
    for (uint32_t l = 0; v->centroid_norms && l < v->nlist; l++)
        v->centroid_norms[l] = kt->dot(v->centroids + (size_t)l * d, v->centroids + (size_t)l * d, d);
    for (uint64_t i = 0; i < n; i++) {
        float sq = kt->dot(vectors + i * d, vectors + i * d, d);
        if (v->norms) v->norms[i] = sq;
        if (sq > v->max_sqnorm) v->max_sqnorm = sq;
    }
    return st;
}

static nearkit_status ivf_load(nearkit_index *ix, const nearkit_reader *r) {
    ivf_impl *v = impl_of(ix);
    const void *centroids = NULL;
    uint64_t csize = 0;
    bool trained = nearkit_reader_section(&centroids, &csize, r, CENT_TAG) == NEARKIT_OK;
    nearkit_clear_error();
    if (trained && (v->nlist == 0 || csize != (uint64_t)v->nlist * ix->dimension * sizeof(float)))
        return corrupt("the centroid section does not hold nlist centroids");
    float *vectors = NULL;
    int64_t *ids = NULL;
    uint64_t n = 0;
    nearkit_status st = read_vectors(&vectors, &ids, &n, ix, r);
    if (!st && trained) {
        st = load_lists(ix, r, centroids, vectors, ids, n);
        if (v->vectors == vectors) { /* now owned by the index */
            vectors = NULL;
            ids = NULL;
        }
    } else if (!st && n > 0) { /* an empty file has no waiting vectors to copy (nor a buffer) */
        st = add_pending(ix, vectors, n, ids);
    }
    nearkit_aligned_free(vectors);
    free(ids);
    return st;
}

static void ivf_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    const ivf_impl *v = impl_of(ix);
    if (!v->trained) {
        nearkit_strbuf_appendf(sb, "inverted file, not trained: %llu vectors wait for build or train\n",
                               (unsigned long long)v->pending_count);
        return;
    }
    nearkit_strbuf_appendf(sb,
                           "inverted file of %u lists (%s k-means), probing %u per query; list "
                           "sizes: mean %.1f, max %llu, %llu empty\n",
                           v->nlist, is_l2(ix) ? "Euclidean" : "spherical",
                           v->nprobe < v->nlist ? v->nprobe : v->nlist,
                           v->nlist ? (double)v->count / v->nlist : 0.0,
                           (unsigned long long)max_list_size(v), (unsigned long long)empty_lists(v));
    nearkit_strbuf_appendf(sb, "distance kernels: %s%s\n", nearkit_kernels()->name,
                           gemm_applies(ix, GEMM_MIN_QUERIES)
                               ? "; batches of 8+ queries grouped by list via sgemm"
                               : "");
}

const nearkit_index_ops nearkit_ivf_flat_ops = {
    .kind = NEARKIT_KIND_IVF_FLAT,
    .name = "ivf_flat",
    .description = "inverted file of k-means cells, vectors kept exact (approximate: nprobe of "
                   "nlist cells searched); l2, cosine, ip",
    .flags = NEARKIT_KIND_FLAG_NEEDS_TRAINING,
    .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_IP),
    .params = ivf_params,
    .n_params = sizeof ivf_params / sizeof ivf_params[0],
    .create = ivf_create,
    .destroy = ivf_destroy,
    .add = ivf_add,
    .train = ivf_train,
    .build = ivf_build,
    .is_ready = ivf_is_ready,
    .count = ivf_count,
    .memory = ivf_memory,
    .search = ivf_search,
    .range_search = ivf_range_search,
    .get_param = ivf_get_param,
    .set_param = ivf_set_param,
    .save = ivf_save,
    .load = ivf_load,
    .describe = ivf_describe,
};
