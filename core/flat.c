/* The flat index: exact brute force for every metric.
 * Batches of float queries under l2 / ip / cosine go through OpenBLAS sgemm, tile by tile, with
 * the top-k selection fused into the scan of each tile; the shortlist is then re-scored with the
 * exact kernels, and kept only when the sgemm error bound proves that no row outside it could
 * rank or tie within the k best (else that query is rescanned with the kernels), so every path
 * and every machine's BLAS gives the same ids, distances and tie order. Everything else (single
 * queries, l1, linf, hamming, range search) runs the SIMD kernels over cache-sized blocks; hamming
 * batches pack each block into panels once (8 codes word by word) so that every load of it serves
 * several queries and no per-code reduction is needed. */
#include "internal.h"
#include "kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define VECS_TAG NEARKIT_TAG('V', 'E', 'C', 'S')
#define IDS_TAG NEARKIT_TAG('I', 'D', 'S', ' ')

#define QUERY_BLOCK 64        /* queries per task on the kernel path */
#define GEMM_QUERY_BLOCK 1024 /* queries per task on the GEMM path: a larger M packs each stored
                                 block fewer times and keeps sgemm efficient */
#define GEMM_BLOCK_ROWS 1024  /* stored rows per sgemm call */
#define BLOCK_BYTES (1u << 18) /* stored vectors scanned per block, so a block stays in L2 */
#define HEAP_BYTES (64u << 20) /* heap memory of one task, bounding the queries it takes */
#define GEMM_MIN_QUERIES 8
#define GEMM_MIN_DIMENSION 24
#define PANEL_MIN_QUERIES 8 /* hamming tasks with fewer queries scan rows directly: packing a block
                               into panels costs about what three queries' scans of it save */
#define PANEL_GROUP 8       /* queries per hamming_panels call */
#define PANEL_QUERY_BLOCK 256 /* hamming queries per task: each task packs every block once */
_Static_assert(QUERY_BLOCK <= GEMM_QUERY_BLOCK && PANEL_QUERY_BLOCK <= GEMM_QUERY_BLOCK,
               "knn_range's heaps hold GEMM_QUERY_BLOCK queries");

typedef struct flat_impl {
    uint8_t *vectors; /* count rows of vector_bytes, 64-byte aligned */
    float *norms;     /* l2 only: squared norm of each row, for the GEMM expansion */
    float max_sqnorm; /* l2 / ip / cosine: largest squared row norm, for the GEMM error bound */
    int64_t *ids;     /* NULL while every id equals its position */
    uint64_t count, capacity;
} flat_impl;

static flat_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

static nearkit_status flat_create(nearkit_index *ix) {
    ix->impl = calloc(1, sizeof(flat_impl));
    return ix->impl ? NEARKIT_OK : nearkit_oom();
}

static void flat_destroy(nearkit_index *ix) {
    flat_impl *f = impl_of(ix);
    if (!f) return;
    nearkit_aligned_free(f->vectors);
    free(f->norms);
    free(f->ids);
    free(f);
}

static bool flat_is_ready(const nearkit_index *ix) {
    (void)ix;
    return true;
}

static uint64_t flat_count(const nearkit_index *ix) { return impl_of(ix)->count; }

static uint64_t flat_memory(const nearkit_index *ix) {
    const flat_impl *f = impl_of(ix);
    uint64_t bytes = sizeof *f + f->capacity * ix->vector_bytes;
    if (f->norms) bytes += f->capacity * sizeof(float);
    if (f->ids) bytes += f->capacity * sizeof(int64_t);
    return bytes;
}

/* ---- storage ----------------------------------------------------------------------------------- */

static bool uses_norms(const nearkit_index *ix) { return ix->metric == NEARKIT_METRIC_L2; }

/* Metrics whose float batches can take the sgemm path. */
static bool gemm_metric(const nearkit_index *ix) {
    return ix->metric == NEARKIT_METRIC_L2 || ix->metric == NEARKIT_METRIC_IP ||
           ix->metric == NEARKIT_METRIC_COSINE;
}

static nearkit_status reserve(nearkit_index *ix, uint64_t needed) {
    flat_impl *f = impl_of(ix);
    if (needed <= f->capacity) return NEARKIT_OK;
    uint64_t cap = f->capacity + f->capacity / 2;
    if (cap < needed) cap = needed;
    uint8_t *vectors = nearkit_aligned_alloc_array((size_t)cap, (size_t)ix->vector_bytes);
    float *norms = uses_norms(ix) ? nearkit_alloc_array((size_t)cap, sizeof(float)) : NULL;
    int64_t *ids = f->ids ? nearkit_alloc_array((size_t)cap, sizeof(int64_t)) : NULL;
    if (!vectors || (uses_norms(ix) && !norms) || (f->ids && !ids)) {
        nearkit_aligned_free(vectors);
        free(norms);
        free(ids);
        return nearkit_oom();
    }
    if (f->count) {
        memcpy(vectors, f->vectors, (size_t)(f->count * ix->vector_bytes));
        if (norms) memcpy(norms, f->norms, (size_t)f->count * sizeof(float));
        if (ids) memcpy(ids, f->ids, (size_t)f->count * sizeof(int64_t));
    }
    nearkit_aligned_free(f->vectors);
    free(f->norms);
    free(f->ids);
    f->vectors = vectors;
    f->norms = norms;
    f->ids = ids;
    f->capacity = cap;
    return NEARKIT_OK;
}

/* Switches from implicit ids (the position) to an explicit array. */
static nearkit_status materialise_ids(flat_impl *f) {
    if (f->ids) return NEARKIT_OK;
    int64_t *ids = nearkit_alloc_array((size_t)(f->capacity ? f->capacity : 1), sizeof(int64_t));
    if (!ids) return nearkit_oom();
    for (uint64_t i = 0; i < f->count; i++) ids[i] = (int64_t)i;
    f->ids = ids;
    return NEARKIT_OK;
}

static nearkit_status flat_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    flat_impl *f = impl_of(ix);
    if (n == 0) return NEARKIT_OK; /* an empty file's section: no memcpy from NULL */
    nearkit_status st = reserve(ix, f->count + n);
    if (!st && ids) st = materialise_ids(f);
    if (st) return st;
    memcpy(f->vectors + f->count * ix->vector_bytes, vectors, (size_t)(n * ix->vector_bytes));
    if (gemm_metric(ix)) {
        const nearkit_kernel_table *kt = nearkit_kernels();
        for (uint64_t i = 0; i < n; i++) {
            const float *v = (const float *)vectors + i * ix->dimension;
            float sq = kt->dot(v, v, ix->dimension);
            if (f->norms) f->norms[f->count + i] = sq;
            if (sq > f->max_sqnorm) f->max_sqnorm = sq;
        }
    }
    if (f->ids)
        for (uint64_t i = 0; i < n; i++) f->ids[f->count + i] = ids ? ids[i] : (int64_t)(f->count + i);
    f->count += n;
    return NEARKIT_OK;
}

/* ---- distance blocks --------------------------------------------------------------------------- */

/* Distances of one query to rows [row, row + rows) as the metric reports them, except l2, which
 * stays squared here (monotone, so selection is unaffected) and is rooted when results are emitted. */
static void block_distances(float *out, const nearkit_index *ix, const void *query, uint64_t row,
                            size_t rows, uint32_t *scratch) {
    nearkit_metric_distances(out, scratch, nearkit_kernels(), ix->metric, query,
                             impl_of(ix)->vectors + row * ix->vector_bytes, rows, ix->dimension,
                             (size_t)ix->vector_bytes);
}

/* The exact distance of one stored row, on the same kernels and scale as block_distances. */
static float row_distance(const nearkit_index *ix, const void *query, uint64_t row) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    const flat_impl *f = impl_of(ix);
    const uint8_t *v = f->vectors + row * ix->vector_bytes;
    size_t d = ix->dimension;
    switch (ix->metric) {
    case NEARKIT_METRIC_L2: return kt->l2sq(query, (const float *)v, d);
    case NEARKIT_METRIC_L1: return kt->l1(query, (const float *)v, d);
    case NEARKIT_METRIC_LINF: return kt->linf(query, (const float *)v, d);
    case NEARKIT_METRIC_COSINE: return 1.0f - kt->dot(query, (const float *)v, d);
    case NEARKIT_METRIC_IP: return -kt->dot(query, (const float *)v, d);
    default: return (float)kt->hamming(query, v, (size_t)ix->vector_bytes);
    }
}

static size_t rows_per_block(const nearkit_index *ix) {
    uint64_t rows = BLOCK_BYTES / ix->vector_bytes;
    if (rows < 64) rows = 64;
    return (size_t)rows;
}

static const void *query_at(const nearkit_index *ix, const void *queries, uint64_t q) {
    return (const uint8_t *)queries + q * ix->vector_bytes;
}

/* ---- k-NN -------------------------------------------------------------------------------------- */

typedef struct knn_task {
    const nearkit_index *ix;
    const void *queries;
    uint64_t k, stride;
    int64_t *ids;
    float *dist;
    bool gemm;
    _Atomic int failed;
} knn_task;

/* Per-block scratch of one task: heaps for up to QUERY_BLOCK queries and distance buffers. */
typedef struct knn_scratch {
    float *heap_dist;
    uint64_t *heap_pos;
    float *tile;     /* QUERY_BLOCK x block rows (GEMM) or block rows (kernels) */
    uint32_t *ints;  /* block rows, for hamming */
    float *qnorms;   /* QUERY_BLOCK */
} knn_scratch;

static void scratch_free(knn_scratch *s) {
    free(s->heap_dist);
    free(s->heap_pos);
    nearkit_aligned_free(s->tile);
    free(s->ints);
    free(s->qnorms);
}

static bool scratch_alloc(knn_scratch *s, size_t queries, size_t heap_cap, size_t tile_floats,
                          size_t block_rows) {
    *s = (knn_scratch){
        .heap_dist = nearkit_alloc_array(queries * heap_cap, sizeof(float)),
        .heap_pos = nearkit_alloc_array(queries * heap_cap, sizeof(uint64_t)),
        .tile = nearkit_aligned_alloc_array(tile_floats, sizeof(float)),
        .ints = nearkit_alloc_array(block_rows, sizeof(uint32_t)),
        .qnorms = nearkit_alloc_array(queries, sizeof(float)),
    };
    if (s->heap_dist && s->heap_pos && s->tile && s->ints && s->qnorms) return true;
    scratch_free(s);
    return false;
}

/* Candidates kept from the GEMM scan before exact re-scoring: a margin over k absorbs the rounding
 * of the |q|^2 + |x|^2 - 2<q,x> expansion in all but pathological cases (many rows at one
 * distance), which settle_shortlist then catches. */
static uint64_t gemm_candidates(uint64_t k, uint64_t count) {
    uint64_t margin = k / 2 < 16 ? 16 : k / 2;
    uint64_t kk = k + margin;
    return kk < count ? kk : count;
}

/* Replaces the candidates' scan distances by exact ones and re-orders them as a heap would. The
 * pushes write only slots below the one being read, so this works in place. */
static void rescore(const nearkit_index *ix, nearkit_topk *h, const void *query) {
    size_t n = h->size;
    h->size = 0;
    h->cap = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t pos = h->pos[i];
        nearkit_topk_push(h, row_distance(ix, query, pos), pos);
    }
}

static void push_block(nearkit_topk *h, const float *d, uint64_t row, size_t rows);

/* The k best of one query by the exact kernels alone, sorted, in h's storage (capacity >= k);
 * buf holds GEMM_BLOCK_ROWS floats. */
static void scan_exact(const knn_task *t, nearkit_topk *h, float *buf, const void *query) {
    const nearkit_index *ix = t->ix;
    const flat_impl *f = impl_of(ix);
    nearkit_topk_init(h, h->dist, h->pos, (size_t)t->k, f->ids);
    for (uint64_t row = 0; row < f->count; row += GEMM_BLOCK_ROWS) {
        size_t rows = f->count - row < GEMM_BLOCK_ROWS ? (size_t)(f->count - row) : GEMM_BLOCK_ROWS;
        block_distances(buf, ix, query, row, rows, NULL);
        push_block(h, buf, row, rows);
    }
    nearkit_topk_sort(h);
}

/* Turns a query's GEMM shortlist into its exact k best, sorted: exact distances for the
 * candidates, kept when the sgemm error bound proves them complete, else an exact rescan. */
static void settle_shortlist(const knn_task *t, nearkit_topk *h, float *buf, const void *query,
                             float qsqnorm) {
    const nearkit_index *ix = t->ix;
    float floor = nearkit_topk_floor(h);
    rescore(ix, h, query);
    nearkit_topk_sort(h);
    double slack = nearkit_gemm_slack(ix->metric, ix->dimension, sqrt((double)qsqnorm),
                                      sqrt((double)impl_of(ix)->max_sqnorm));
    if (!nearkit_rerank_certain(h, t->k, floor, slack, ix->metric == NEARKIT_METRIC_L2))
        scan_exact(t, h, buf, query);
}

/* Writes a query's k results from its sorted heap: l2 rooted, by (distance, id). */
static void emit_row(const knn_task *t, const nearkit_topk *h, uint64_t q) {
    const nearkit_index *ix = t->ix;
    int64_t *ids = t->ids + q * t->stride;
    float *dist = t->dist + q * t->stride;
    nearkit_topk_emit(h, impl_of(ix)->ids, t->k, ids, dist);
    uint64_t n = h->size < t->k ? h->size : t->k;
    if (ix->metric == NEARKIT_METRIC_L2) {
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

/* push_block for hamming counts, compared as integers in blocks of 64 so the common case,
 * nothing enters, runs as vector code (a minimum over the block: compilers turn an "any below"
 * into a horizontal reduction per vector, which costs more) without converting counts to float. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void push_hamming_block(nearkit_topk *h, const uint32_t *d, uint64_t row, size_t rows) {
    float fbound = nearkit_topk_bound(h);
    uint32_t bound = fbound >= 4294967295.0f ? UINT32_MAX : (uint32_t)fbound;
    size_t j = 0;
    for (; j + 64 <= rows; j += 64) {
        uint32_t least = UINT32_MAX;
        for (int u = 0; u < 64; u++) least = d[j + u] < least ? d[j + u] : least;
        if (least > bound) continue;
        for (int u = 0; u < 64; u++)
            if (d[j + u] <= bound) {
                nearkit_topk_push(h, (float)d[j + u], row + j + u);
                fbound = nearkit_topk_bound(h);
                bound = fbound >= 4294967295.0f ? UINT32_MAX : (uint32_t)fbound;
            }
    }
    for (; j < rows; j++)
        if (d[j] <= bound) {
            nearkit_topk_push(h, (float)d[j], row + j);
            fbound = nearkit_topk_bound(h);
            bound = fbound >= 4294967295.0f ? UINT32_MAX : (uint32_t)fbound;
        }
}

/* Fills tile (nq x rows) with the metric's ranking value via one sgemm. */
static void gemm_block(float *tile, const knn_task *t, uint64_t q0, size_t nq, uint64_t row,
                       size_t rows) {
    const nearkit_index *ix = t->ix;
    const float *x = (const float *)impl_of(ix)->vectors + row * ix->dimension;
    const float *qs = (const float *)t->queries + q0 * ix->dimension;
    bool l2 = ix->metric == NEARKIT_METRIC_L2;
    nearkit_sgemm_nt(nq, rows, ix->dimension, l2 ? -2.0f : -1.0f, qs, x, tile);
}

/* Pushes a GEMM tile row: the ranking value is offset + extra[j] + r[j] (extra: stored norms for
 * l2, else none), compared against the heap bound in blocks of 16 so the common case, nothing
 * enters, runs as vector code. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void push_gemm_row(nearkit_topk *h, const float *r, const float *extra, float offset,
                          uint64_t row, size_t rows) {
    float bound = nearkit_topk_bound(h);
    size_t j = 0;
    for (; j + 16 <= rows; j += 16) {
        float v[16];
        int any = 0;
        if (extra)
            for (int u = 0; u < 16; u++) v[u] = offset + extra[j + u] + r[j + u];
        else
            for (int u = 0; u < 16; u++) v[u] = offset + r[j + u];
        for (int u = 0; u < 16; u++) any |= v[u] <= bound;
        if (!any) continue;
        for (int u = 0; u < 16; u++)
            if (v[u] <= bound) {
                nearkit_topk_push(h, v[u], row + j + u);
                bound = nearkit_topk_bound(h);
            }
    }
    for (; j < rows; j++) {
        float v = offset + (extra ? extra[j] : 0.0f) + r[j];
        if (v <= bound) {
            nearkit_topk_push(h, v, row + j);
            bound = nearkit_topk_bound(h);
        }
    }
}

/* ---- hamming through panels ------------------------------------------------------------------- */

/* A task's hamming scratch when its queries share each block: the block packed into panels (see
 * nearkit_hamming_panels), the queries packed, and the distances of one group of queries. */
typedef struct panel_scratch {
    uint64_t *panels, *queries;
    uint32_t *out;
    size_t words, stride;
} panel_scratch;

static void panel_scratch_free(panel_scratch *p) {
    nearkit_aligned_free(p->panels);
    free(p->queries);
    free(p->out);
}

static bool panel_scratch_alloc(panel_scratch *p, const knn_task *t, uint64_t begin, size_t nq,
                                size_t block_rows) {
    const nearkit_index *ix = t->ix;
    size_t words = nearkit_hamming_words((size_t)ix->vector_bytes);
    size_t stride = nearkit_hamming_panels(block_rows) * 8;
    *p = (panel_scratch){
        .panels = nearkit_aligned_alloc_array(stride * words, sizeof(uint64_t)),
        .queries = nearkit_alloc_array(nq * words, sizeof(uint64_t)),
        .out = nearkit_alloc_array(PANEL_GROUP * stride, sizeof(uint32_t)),
        .words = words,
        .stride = stride,
    };
    if (!p->panels || !p->queries || !p->out) {
        panel_scratch_free(p);
        return false;
    }
    for (size_t i = 0; i < nq; i++)
        nearkit_hamming_pack_query(p->queries + i * words, query_at(ix, t->queries, begin + i),
                                   (size_t)ix->vector_bytes);
    return true;
}

/* Scans rows [row, row + rows) for every query of the task: the block is packed once, then each
 * load of it serves a group of queries. */
static void scan_hamming_panels(nearkit_topk *heaps, panel_scratch *p, const nearkit_index *ix,
                                size_t nq, uint64_t row, size_t rows) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t np = nearkit_hamming_panels(rows);
    kt->hamming_pack(p->panels, impl_of(ix)->vectors + row * ix->vector_bytes, rows,
                     (size_t)ix->vector_bytes);
    for (size_t q0 = 0; q0 < nq; q0 += PANEL_GROUP) {
        size_t g = nq - q0 < PANEL_GROUP ? nq - q0 : PANEL_GROUP;
        kt->hamming_panels(p->out, p->stride, p->queries + q0 * p->words, g, p->panels, np, p->words);
        for (size_t i = 0; i < g; i++) push_hamming_block(&heaps[q0 + i], p->out + i * p->stride, row, rows);
    }
}

static void knn_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    knn_task *t = ctx;
    const nearkit_index *ix = t->ix;
    const flat_impl *f = impl_of(ix);
    size_t nq = (size_t)(end - begin);
    size_t block = t->gemm ? GEMM_BLOCK_ROWS : rows_per_block(ix);
    if (block > f->count) block = (size_t)f->count;
    uint64_t cap = t->gemm ? gemm_candidates(t->k, f->count) : t->k;
    knn_scratch s;
    panel_scratch ps = {0};
    bool panels = ix->metric == NEARKIT_METRIC_HAMMING && nq >= PANEL_MIN_QUERIES;
    if (!scratch_alloc(&s, nq, (size_t)cap, t->gemm ? nq * block : block, block)) {
        atomic_store(&t->failed, 1);
        return;
    }
    if (panels && !panel_scratch_alloc(&ps, t, begin, nq, block)) {
        scratch_free(&s);
        atomic_store(&t->failed, 1);
        return;
    }
    nearkit_topk heaps[GEMM_QUERY_BLOCK]; /* the largest task of any path */
    for (size_t i = 0; i < nq; i++) {
        nearkit_topk_init(&heaps[i], s.heap_dist + i * cap, s.heap_pos + i * cap, (size_t)cap, f->ids);
        if (t->gemm) {
            const float *q = query_at(ix, t->queries, begin + i);
            s.qnorms[i] = nearkit_kernels()->dot(q, q, ix->dimension);
        }
    }
    for (uint64_t row = 0; row < f->count; row += block) {
        size_t rows = f->count - row < block ? (size_t)(f->count - row) : block;
        if (t->gemm) {
            gemm_block(s.tile, t, begin, nq, row, rows);
            bool l2 = ix->metric == NEARKIT_METRIC_L2;
            float offset = ix->metric == NEARKIT_METRIC_COSINE ? 1.0f : 0.0f;
            for (size_t i = 0; i < nq; i++)
                push_gemm_row(&heaps[i], s.tile + i * rows, l2 ? f->norms + row : NULL,
                              l2 ? s.qnorms[i] : offset, row, rows);
        } else if (panels) {
            scan_hamming_panels(heaps, &ps, ix, nq, row, rows);
        } else if (ix->metric == NEARKIT_METRIC_HAMMING) {
            const nearkit_kernel_table *kt = nearkit_kernels();
            const uint8_t *codes = f->vectors + row * ix->vector_bytes;
            for (size_t i = 0; i < nq; i++) {
                kt->hamming_many(s.ints, query_at(ix, t->queries, begin + i), codes, rows,
                                 (size_t)ix->vector_bytes);
                push_hamming_block(&heaps[i], s.ints, row, rows);
            }
        } else {
            for (size_t i = 0; i < nq; i++) {
                block_distances(s.tile, ix, query_at(ix, t->queries, begin + i), row, rows, s.ints);
                push_block(&heaps[i], s.tile, row, rows);
            }
        }
    }
    for (size_t i = 0; i < nq; i++) {
        if (t->gemm)
            settle_shortlist(t, &heaps[i], s.tile, query_at(ix, t->queries, begin + i), s.qnorms[i]);
        else
            nearkit_topk_sort(&heaps[i]);
        emit_row(t, &heaps[i], begin + i);
    }
    scratch_free(&s);
    panel_scratch_free(&ps);
}

static bool gemm_applies(const nearkit_index *ix, uint64_t n) {
    return gemm_metric(ix) && n >= GEMM_MIN_QUERIES && ix->dimension >= GEMM_MIN_DIMENSION &&
           ix->dimension <= INT32_MAX / 2;
}

static nearkit_status flat_search(const nearkit_index *ix, const void *queries, uint64_t n,
                                  uint64_t k, int64_t *ids, float *dist, uint64_t stride,
                                  uint32_t threads) {
    knn_task t = {.ix = ix, .queries = queries, .k = k, .stride = stride, .ids = ids, .dist = dist,
                  .gemm = gemm_applies(ix, n)};
    atomic_init(&t.failed, 0);
    /* keep each task's heaps within HEAP_BYTES even when k is close to the count */
    uint64_t cap = t.gemm ? gemm_candidates(k, impl_of(ix)->count) : k;
    uint64_t chunk = HEAP_BYTES / (cap * (sizeof(float) + sizeof(uint64_t)));
    uint64_t max_chunk = t.gemm ? GEMM_QUERY_BLOCK
                         : ix->metric == NEARKIT_METRIC_HAMMING ? PANEL_QUERY_BLOCK : QUERY_BLOCK;
    /* with several threads, smaller tasks so every thread gets a share of a modest batch */
    if (threads > 1 && (n + threads - 1) / threads < max_chunk) max_chunk = (n + threads - 1) / threads;
    chunk = chunk < 1 ? 1 : chunk > max_chunk ? max_chunk : chunk;
    nearkit_parallel_for(threads, n, chunk, knn_range, &t);
    return atomic_load(&t.failed) ? nearkit_oom() : NEARKIT_OK;
}

/* ---- range search ------------------------------------------------------------------------------ */

typedef struct range_task {
    const nearkit_index *ix;
    const void *queries;
    float radius;
    nearkit_range_builder *out;
    _Atomic int failed;
} range_task;

static void range_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    range_task *t = ctx;
    const nearkit_index *ix = t->ix;
    const flat_impl *f = impl_of(ix);
    size_t block = rows_per_block(ix);
    float *d = nearkit_alloc_array(block, sizeof(float));
    uint32_t *ints = nearkit_alloc_array(block, sizeof(uint32_t));
    if (!d || !ints) {
        atomic_store(&t->failed, 1);
        goto done;
    }
    for (uint64_t q = begin; q < end; q++) {
        const void *query = query_at(ix, t->queries, q);
        for (uint64_t row = 0; row < f->count; row += block) {
            size_t rows = f->count - row < block ? (size_t)(f->count - row) : block;
            block_distances(d, ix, query, row, rows, ints);
            for (size_t i = 0; i < rows; i++) {
                float dist = ix->metric == NEARKIT_METRIC_L2 ? sqrtf(d[i]) : d[i];
                if (dist <= t->radius) {
                    int64_t id = f->ids ? f->ids[row + i] : (int64_t)(row + i);
                    if (!nearkit_range_builder_add(t->out, q, id, dist)) {
                        atomic_store(&t->failed, 1);
                        goto done;
                    }
                }
            }
        }
    }
done:
    free(d);
    free(ints);
}

static nearkit_status flat_range_search(const nearkit_index *ix, const void *queries, uint64_t n,
                                        float radius, nearkit_range_builder *out, uint32_t threads) {
    range_task t = {.ix = ix, .queries = queries, .radius = radius, .out = out};
    atomic_init(&t.failed, 0);
    nearkit_parallel_for(threads, n, 4, range_range, &t);
    return atomic_load(&t.failed) ? nearkit_oom() : NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

static nearkit_status flat_save(const nearkit_index *ix, nearkit_writer *w) {
    const flat_impl *f = impl_of(ix);
    nearkit_status st = nearkit_writer_section(w, VECS_TAG, f->vectors, f->count * ix->vector_bytes);
    if (!st && f->ids) st = nearkit_writer_section(w, IDS_TAG, f->ids, f->count * sizeof(int64_t));
    return st;
}

static nearkit_status flat_load(nearkit_index *ix, const nearkit_reader *r) {
    const void *vectors, *ids = NULL;
    uint64_t size;
    nearkit_status st = nearkit_reader_section(&vectors, &size, r, VECS_TAG);
    if (st) return st;
    if (size % ix->vector_bytes != 0)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: vector section of %llu bytes is not a whole number "
                                 "of %llu-byte vectors",
                                 (unsigned long long)size, (unsigned long long)ix->vector_bytes);
    uint64_t n = size / ix->vector_bytes;
    uint64_t ids_size;
    if (nearkit_reader_section(&ids, &ids_size, r, IDS_TAG) == NEARKIT_OK) {
        if (ids_size != n * sizeof(int64_t))
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %llu ids for %llu vectors",
                                     (unsigned long long)(ids_size / 8), (unsigned long long)n);
    } else {
        ids = NULL;
    }
    nearkit_clear_error();
    /* ids are copied out of the (possibly unaligned) image before use */
    int64_t *id_copy = NULL;
    if (ids) {
        id_copy = nearkit_alloc_array((size_t)n, sizeof(int64_t));
        if (!id_copy) return nearkit_oom();
        memcpy(id_copy, ids, (size_t)n * sizeof(int64_t));
        for (uint64_t i = 0; i < n; i++)
            if (id_copy[i] == -1) {
                free(id_copy);
                return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: stored id -1");
            }
    }
    st = flat_add(ix, vectors, n, id_copy);
    free(id_copy);
    if (st || ix->vector_type != NEARKIT_VECTOR_FLOAT32) return st;
    /* checked in the aligned copy: the file image may hold the floats at any offset */
    return nearkit_check_loaded_floats(ix, (const float *)impl_of(ix)->vectors, n, "stored vector");
}

static void flat_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    nearkit_strbuf_appendf(sb, "exact brute force; distance kernels: %s%s\n", nearkit_kernels()->name,
                           gemm_applies(ix, GEMM_MIN_QUERIES) ? "; batches of 8+ queries via sgemm" : "");
}

const nearkit_index_ops nearkit_flat_ops = {
    .kind = NEARKIT_KIND_FLAT,
    .name = "flat",
    .description = "exact brute force for every metric; best for small collections, high "
                   "dimensions and batches (BLAS)",
    .flags = NEARKIT_KIND_FLAG_EXACT,
    .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_L1) | (1u << NEARKIT_METRIC_LINF) |
                   (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_IP) |
                   (1u << NEARKIT_METRIC_HAMMING),
    .params = NULL,
    .n_params = 0,
    .create = flat_create,
    .destroy = flat_destroy,
    .add = flat_add,
    .is_ready = flat_is_ready,
    .count = flat_count,
    .memory = flat_memory,
    .search = flat_search,
    .range_search = flat_range_search,
    .save = flat_save,
    .load = flat_load,
    .describe = flat_describe,
};
