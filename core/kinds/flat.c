/* The flat index: exact brute force for every metric.
 * Batches of float queries under l2 / ip / cosine go through OpenBLAS sgemm, tile by tile, with
 * the top-k selection fused into the scan of each tile, or, where the kernels have a fused panel
 * scan (AVX-512), through that (see "the fused scan" below); the shortlist is then re-scored with
 * the exact kernels, and kept only when the sgemm error bound proves that no row outside it could
 * rank or tie within the k best (else that query is rescanned with the kernels), so every path
 * and every machine's BLAS gives the same ids, distances and tie order. Everything else (single
 * queries, l1, linf, hamming, range search) runs the SIMD kernels over cache-sized blocks; hamming
 * batches pack each block into panels once (8 codes word by word) so that every load of it serves
 * several queries and no per-code reduction is needed.
 *
 * Living collections. Removing marks rows (their id becomes NEARKIT_REMOVED_ID) and compacts the
 * store once a quarter of it is marked, on nearkit_index_compact, and before an add would grow
 * the store: compacting moves every row, so doing it on every remove would cost a pass over all
 * vectors per call (a loop removing one id at a time would be quadratic), while marks cost one id
 * test per row. A search call that filters, or meets marked rows, plans which rows take part
 * (tests_every_row): where few can (below 1/SUBSET_DIVISOR of the rows) it tests every row once,
 * gathers the admitted ones a block at a time and scores only those with the kernels that score
 * contiguous rows; otherwise every path scans as before and a row outside the call is skipped
 * where it would enter a heap or a range result (after the vector compare that rejects most rows,
 * so the test costs little), asking the filter there or, for a predicate (run at most once per
 * row and call), a bitmap of its answers made in the plan. The sgemm certainty check stays
 * sound: rows outside the call are no candidates, and every admitted row the scan turned away
 * scored no better than the heap's bound, the floor; its exact rescan skips the same rows. Every
 * path thus returns what a flat index of the admitted rows alone would, bit for bit. Flat needs no
 * build: vectors added at any time are searched at once. */
#include "search/driver.h"
#include "search/rows.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_BLOCK 64        /* queries per task on the kernel path */
#define GEMM_QUERY_BLOCK 1024 /* queries per task on the GEMM path: a larger M packs each stored
                                 block fewer times and keeps sgemm efficient */
#define GEMM_BLOCK_ROWS 1024  /* stored rows per sgemm call */
#define FUSED_BLOCK_ROWS (GEMM_BLOCK_ROWS / NEARKIT_PANEL_ROWS * NEARKIT_PANEL_ROWS) /* stored rows
                                 per block of the fused scan, whole micro-blocks: each group of
                                 queries meets them again in L3 */
#define FUSED_GROUP_BYTES (768u << 10) /* query panels scanned together against a block: they stay
                                 in L2 while its rows pass (at d 784: 384 KB 1.5% slower, 1.5 MB
                                 2-5% slower and unsteady) */
#define FUSED_MIN_QUERIES 16   /* tasks of fewer leave most of a panel's 64 lanes empty: at 8
                                 queries on 1,000,000 x 128 the fused scan computes 8 times the
                                 products and was 2% slower than sgemm (equal at d 784); from 16
                                 to 64 queries it was 7-45% faster */
#define FUSED_MAX_DIMENSION 2048 /* the fused scan has no blocking over dimensions: beyond this, one
                                 panel of queries outgrows L2 (measured at d 128, 768, 784 only) */
#define BLOCK_BYTES (1u << 18) /* stored vectors scanned per block, so a block stays in L2 */
#define HEAP_BYTES (64u << 20) /* heap memory of one task, bounding the queries it takes */
#define GEMM_MIN_QUERIES 8
#define GEMM_MIN_DIMENSION 24
#define PANEL_MIN_QUERIES 8 /* hamming tasks with fewer queries scan rows directly: packing a block
                               into panels costs about what three queries' scans of it save */
#define PANEL_GROUP 8       /* queries per hamming_panels call */
#define PANEL_QUERY_BLOCK 256 /* hamming queries per task: each task packs every block once */
#define NEAREST_MIN_QUERIES 16  /* the nearest path's smallest call (see nearest_applies) */
#define NEAREST_QUERY_BLOCK 4096 /* queries per task on the nearest path: each costs a few rows'
                                    arithmetic, so a task of fewer is mostly its own overhead */
#define SUBSET_DIVISOR 4      /* a filtered call scores only the admitted rows when fewer than
                                 1/SUBSET_DIVISOR of the rows pass (see the top comment); measured
                                 break-even: about 1/3 for single queries of 128 floats, 1/2 for
                                 batches (sgemm or panels) */
#define GATHER_MIN_BYTES 64   /* testing every row pays only when the call scores at least this
                                 many bytes per row (queries x vector bytes): a single query of
                                 small codes scans a row in about the time of a filter test */
_Static_assert(QUERY_BLOCK <= GEMM_QUERY_BLOCK && PANEL_QUERY_BLOCK <= GEMM_QUERY_BLOCK,
               "flat_knn's heaps hold GEMM_QUERY_BLOCK queries");
/* The fused scan's scratch tile is GEMM_BLOCK_ROWS floats, not just a micro-block's scores: the
 * same tile takes a block's kernel distances when settle_shortlist rescans a query. */
_Static_assert(NEARKIT_PANEL_ROWS * NEARKIT_PANEL_QUERIES <= GEMM_BLOCK_ROWS && FUSED_BLOCK_ROWS <= GEMM_BLOCK_ROWS,
               "the fused scan's tile (scratch tile, GEMM_BLOCK_ROWS floats) holds a micro-block's scores "
               "and a block's kernel distances");

typedef struct flat_impl {
    nearkit_rows rows;
    float *norms;     /* l2 only: squared norm of each row, for the GEMM expansion */
    uint64_t norms_capacity;
    float max_sqnorm; /* l2 / ip / cosine: largest squared row norm, for the GEMM error bound */
    /* Whether norms and max_sqnorm are up to date. Always, except in a view, whose first GEMM
     * search computes them (ensure_gemm_facts): at open they would read every row of the
     * mapping, and opening a view is O(sections). facts_lock serialises that first computation. */
    atomic_bool facts_ready;
    pthread_mutex_t facts_lock;
} flat_impl;

static flat_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

static nearkit_status flat_create(nearkit_index *ix) {
    flat_impl *f = calloc(1, sizeof(flat_impl));
    if (!f) return nearkit_oom();
    atomic_init(&f->facts_ready, true);
    pthread_mutex_init(&f->facts_lock, NULL);
    ix->impl = f;
    return NEARKIT_OK;
}

static void flat_destroy(nearkit_index *ix) {
    flat_impl *f = impl_of(ix);
    if (!f) return;
    nearkit_rows_free(&f->rows);
    free(f->norms);
    pthread_mutex_destroy(&f->facts_lock);
    free(f);
}

static bool flat_is_ready(const nearkit_index *ix) {
    (void)ix;
    return true;
}

static uint64_t flat_count(const nearkit_index *ix) { return nearkit_rows_live(&impl_of(ix)->rows); }

static uint64_t flat_memory(const nearkit_index *ix) {
    flat_impl *f = impl_of(ix);
    pthread_mutex_lock(&f->facts_lock); /* a view's first GEMM search may be growing the norms */
    uint64_t norms = f->norms_capacity * sizeof(float);
    pthread_mutex_unlock(&f->facts_lock);
    return sizeof *f + nearkit_rows_memory(&f->rows, ix) + norms;
}

/* ---- storage ----------------------------------------------------------------------------------- */

static bool uses_norms(const nearkit_index *ix) { return ix->metric == NEARKIT_METRIC_L2; }

/* Metrics whose float batches can take the sgemm path. */
static bool gemm_metric(const nearkit_index *ix) {
    return ix->metric == NEARKIT_METRIC_L2 || ix->metric == NEARKIT_METRIC_IP ||
           ix->metric == NEARKIT_METRIC_COSINE;
}

/* Room for `needed` norms, the first `kept` of them kept, grown like the row store's capacity
 * (half again). */
static nearkit_status reserve_norms(flat_impl *f, const nearkit_index *ix, uint64_t kept,
                                    uint64_t needed) {
    if (!uses_norms(ix) || needed <= f->norms_capacity) return NEARKIT_OK;
    uint64_t cap = f->norms_capacity + f->norms_capacity / 2;
    if (cap < needed) cap = needed;
    float *norms = nearkit_alloc_array((size_t)cap, sizeof(float));
    if (!norms) return nearkit_oom();
    if (kept) memcpy(norms, f->norms, (size_t)kept * sizeof(float));
    free(f->norms);
    f->norms = norms;
    f->norms_capacity = cap;
    return NEARKIT_OK;
}

/* The GEMM path's facts about rows [first, count): their squared norms (l2) and the largest. */
static void note_norms(flat_impl *f, const nearkit_index *ix, uint64_t first) {
    if (!gemm_metric(ix)) return;
    const nearkit_kernel_table *kt = nearkit_kernels();
    for (uint64_t i = first; i < f->rows.count; i++) {
        const float *v = (const float *)nearkit_rows_at(&f->rows, ix, i);
        float sq = kt->dot(v, v, ix->dimension);
        if (f->norms) f->norms[i] = sq;
        if (sq > f->max_sqnorm) f->max_sqnorm = sq;
    }
}

/* The GEMM facts of every row, for a search about to take the GEMM path: a no-op but for a view's
 * first such search, which computes them once while concurrent searches wait. False: out of
 * memory (error set). */
static bool ensure_gemm_facts(flat_impl *f, const nearkit_index *ix) {
    if (atomic_load_explicit(&f->facts_ready, memory_order_acquire)) return true;
    pthread_mutex_lock(&f->facts_lock);
    bool ok = atomic_load_explicit(&f->facts_ready, memory_order_relaxed) ||
              reserve_norms(f, ix, 0, f->rows.count) == NEARKIT_OK;
    if (ok && !atomic_load_explicit(&f->facts_ready, memory_order_relaxed)) {
        note_norms(f, ix, 0);
        atomic_store_explicit(&f->facts_ready, true, memory_order_release);
    }
    pthread_mutex_unlock(&f->facts_lock);
    return ok;
}

/* Drops the rows marked removed; the GEMM facts are recomputed for the rows that stay (the same
 * kernel gives the same values, and compaction already moves every row, so this adds one pass of
 * the same order). */
static void compact_rows(flat_impl *f, const nearkit_index *ix) {
    if (f->rows.removed == 0) return;
    nearkit_rows_compact(&f->rows, ix, NULL);
    f->max_sqnorm = 0.0f;
    note_norms(f, ix, 0);
}

static nearkit_status flat_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    flat_impl *f = impl_of(ix);
    if (n == 0) return NEARKIT_OK; /* adding nothing touches no memory */
    /* reuse the marked rows' room before growing the store */
    if (f->rows.count + n > f->rows.capacity) compact_rows(f, ix);
    uint64_t first = f->rows.count;
    /* norms first: once the rows are in, nothing may fail */
    nearkit_status st = reserve_norms(f, ix, first, first + n);
    if (!st) st = nearkit_rows_append(&f->rows, ix, vectors, n, ids);
    if (st) return st;
    note_norms(f, ix, first);
    return NEARKIT_OK;
}

static nearkit_status flat_remove(nearkit_index *ix, const nearkit_idmap *ids, uint64_t *removed) {
    flat_impl *f = impl_of(ix);
    nearkit_status st = nearkit_rows_remove(&f->rows, ids, removed);
    if (!st && nearkit_rows_should_compact(&f->rows)) compact_rows(f, ix);
    return st;
}

static nearkit_status flat_compact(nearkit_index *ix) {
    compact_rows(impl_of(ix), ix);
    return NEARKIT_OK;
}

static nearkit_status flat_get(const nearkit_index *ix, const nearkit_idmap *wanted, void *vectors,
                               uint8_t *found) {
    nearkit_rows_get(&impl_of(ix)->rows, ix, wanted, vectors, found);
    return NEARKIT_OK;
}

static void flat_each_id(const nearkit_index *ix, bool (*fn)(void *ctx, int64_t id), void *ctx) {
    nearkit_rows_each_id(&impl_of(ix)->rows, fn, ctx);
}

/* ---- the rows a search call considers ---------------------------------------------------------- */

/* Which rows take part in a call whose filter or removals leave some out. */
typedef struct row_filter {
    const uint64_t *bits;       /* one bit per row, set when admitted; NULL: ask `admit` */
    const nearkit_admit *admit; /* the call's filter, tested row by row as candidates come (NULL:
                                   only the marked rows drop out) */
    const int64_t *ids;         /* the rows' ids; NULL: row r has id r */
} row_filter;

/* Whether row takes part; f NULL: every row does. */
static inline bool row_admitted(const row_filter *f, uint64_t row) {
    if (!f) return true;
    if (f->bits) return (f->bits[row >> 6] >> (row & 63)) & 1u;
    return nearkit_admits_stored(f->admit, f->ids ? f->ids[row] : (int64_t)row);
}

/* A call's admitted rows, planned once: the filter (see call_filter), and where few pass, their
 * positions for the subset path. */
typedef struct admitted_rows {
    bool filtered; /* some rows do not take part */
    row_filter filter;
    uint64_t *bits;      /* owned */
    uint64_t *positions; /* owned; non-NULL: the subset path over n of them */
    uint64_t n;
} admitted_rows;

/* The filter the scans test, NULL when every row takes part (the unfiltered code path). */
static const row_filter *call_filter(const admitted_rows *a) { return a->filtered ? &a->filter : NULL; }

static void admitted_rows_free(admitted_rows *a) {
    free(a->bits);
    free(a->positions);
    *a = (admitted_rows){0};
}

/* The positions of the rows set in bits, in increasing order. */
static bool gather_positions(admitted_rows *a, uint64_t count) {
    a->positions = nearkit_alloc_array((size_t)(a->n ? a->n : 1), sizeof(uint64_t));
    if (!a->positions) return false;
    uint64_t n = 0;
    for (uint64_t w = 0; w < (count + 63) / 64; w++)
        for (uint64_t bits = a->bits[w]; bits; bits &= bits - 1)
            a->positions[n++] = w * 64 + (uint64_t)__builtin_ctzll(bits);
    return true;
}

/* Whether the plan tests every row once (bits, and the subset path when few pass) rather than
 * asking the filter as candidates come. A predicate of a call of several queries must be (it runs
 * at most once per row and call; a candidate test asks again for each query meeting the row). A
 * dense id list or bitmap is asked per candidate: a few hundred tests per query against one per
 * row. Where few ids can pass, or a predicate's selectivity is unknown, the subset path saves
 * scoring the others, when scoring costs more than the test. */
static bool tests_every_row(const nearkit_search_call *c, uint64_t count) {
    bool predicate = c->admit->type == NEARKIT_FILTER_PREDICATE;
    if (predicate && c->n > 1) return true;
    if (!predicate && c->admit->most >= count / SUBSET_DIVISOR) return false;
    return c->n * c->ix->vector_bytes >= GATHER_MIN_BYTES;
}

/* Plans which rows the call considers. False: out of memory. */
static bool plan_admitted(admitted_rows *a, const nearkit_search_call *c) {
    const nearkit_rows *rows = &impl_of(c->ix)->rows;
    *a = (admitted_rows){0};
    if (!c->admit && rows->removed == 0) return true;
    a->filtered = true;
    a->filter = (row_filter){.admit = c->admit, .ids = rows->ids};
    uint64_t count = rows->count;
    if (!c->admit || !tests_every_row(c, count)) return true;
    a->bits = calloc((size_t)((count + 63) / 64 + 1), sizeof(uint64_t));
    if (!a->bits) return false;
    for (uint64_t r = 0; r < count; r++)
        if (nearkit_call_admits(c, nearkit_rows_id(rows, r))) {
            a->bits[r >> 6] |= 1ull << (r & 63);
            a->n++;
        }
    a->filter.bits = a->bits;
    return a->n >= count / SUBSET_DIVISOR || gather_positions(a, count);
}

/* ---- distance blocks --------------------------------------------------------------------------- */

/* Ranking values of one query to rows [row, row + rows): the metric's value, l2 squared (monotone,
 * so selection is unaffected; the driver roots it when the row is written). */
/* Whether a pass over every stored row reads them from memory rather than cache. */
static bool rows_from_memory(const nearkit_index *ix) {
    return impl_of(ix)->rows.count * ix->vector_bytes >= NEARKIT_STREAMED_MIN_BYTES;
}

/* `streamed`: the rows come from memory on this pass (see nearkit_metric_distances_streamed). */
static void block_distances(float *out, const nearkit_index *ix, const void *query, uint64_t row,
                            size_t rows, uint32_t *scratch, bool streamed) {
    const nearkit_rows *stored = &impl_of(ix)->rows;
    if (streamed)
        nearkit_metric_distances_streamed(out, scratch, nearkit_kernels(), ix->metric, query,
                                          nearkit_rows_at(stored, ix, row), rows, ix->dimension,
                                          (size_t)ix->vector_bytes);
    else
        nearkit_rows_distances(out, scratch, nearkit_kernels(), ix, stored, query, row, rows);
}

/* The exact distance of one stored row, on the same kernels and scale as block_distances. */
static float row_distance(const nearkit_index *ix, const void *query, uint64_t row) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    const uint8_t *v = nearkit_rows_at(&impl_of(ix)->rows, ix, row);
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

/* ---- k-NN plan and scratch --------------------------------------------------------------------- */

/* How one k-NN call runs, the same for every task of it (the call's state for the driver). */
typedef struct knn_plan {
    bool gemm;      /* float batch through sgemm or the fused scan */
    bool fused;     /* the fused scan (gemm too) */
    size_t block;   /* stored rows per block (the subset path: admitted rows per slice) */
    uint64_t cap;   /* heap capacity of one query */
    uint64_t chunk; /* queries per task at most */
    bool nearest;   /* the 1-NN of small float rows through the kernels' small_nearest */
    admitted_rows rows;
} knn_plan;

static bool gemm_applies(const nearkit_index *ix, uint64_t n) {
    return gemm_metric(ix) && n >= GEMM_MIN_QUERIES && ix->dimension >= GEMM_MIN_DIMENSION &&
           ix->dimension <= INT32_MAX / 2;
}

/* A GEMM-path call takes the fused scan where the kernels have one, unless the test hook perturbs
 * sgemm (whose tests are about sgemm's shortlists). */
static bool fused_applies(const nearkit_index *ix) {
    return nearkit_kernels()->panel_scan && ix->dimension <= FUSED_MAX_DIMENSION && !nearkit_gemm_perturbed();
}

/* Candidates kept from the GEMM scan before exact re-scoring: a margin over k absorbs the rounding
 * of the |q|^2 + |x|^2 - 2<q,x> expansion in all but pathological cases (many rows at one
 * distance), which settle_shortlist then catches. */
static uint64_t gemm_candidates(uint64_t k, uint64_t count) {
    uint64_t margin = k / 2 < 16 ? 16 : k / 2;
    uint64_t kk = k + margin;
    return kk < count ? kk : count;
}

/* Whether a call takes the nearest path: a batch (at least NEAREST_MIN_QUERIES queries) with k = 1
 * over every row of l2 or l1 points of at most NEARKIT_SMALL_D floats, with ids rising with the
 * rows, so that the kernel's tie rule (the earlier row) is the library's (the smaller id). The ids
 * are checked once per call, a pass over them that only a batch amortises: a single query would
 * read the ids as well as the vectors, and gains little from the path. */
static bool nearest_applies(const nearkit_search_call *c, const admitted_rows *a) {
    const nearkit_index *ix = c->ix;
    const nearkit_rows *rows = &impl_of(ix)->rows;
    bool metric = ix->metric == NEARKIT_METRIC_L2 || ix->metric == NEARKIT_METRIC_L1;
    if (c->k != 1 || c->n < NEAREST_MIN_QUERIES || a->filtered || !metric ||
        ix->dimension > NEARKIT_SMALL_D || rows->count == 0 || rows->count > UINT32_MAX)
        return false;
    if (rows->ids)
        for (uint64_t r = 1; r < rows->count; r++)
            if (rows->ids[r] <= rows->ids[r - 1]) return false;
    return true;
}

/* The plan's shape; `subset`: the call scores gathered rows one by one; `nearest`: the call takes
 * the nearest path. */
static knn_plan plan_knn(const nearkit_index *ix, uint64_t n, uint64_t k, uint32_t threads, bool subset,
                         bool nearest) {
    uint64_t count = impl_of(ix)->rows.count;
    knn_plan p = {.gemm = !subset && !nearest && gemm_applies(ix, n), .nearest = nearest};
    p.cap = p.gemm ? gemm_candidates(k, count) : k;
    /* keep each task's heaps within HEAP_BYTES even when k is close to the count */
    uint64_t chunk = HEAP_BYTES / (p.cap * (sizeof(float) + sizeof(uint64_t)));
    uint64_t max_chunk = p.gemm      ? GEMM_QUERY_BLOCK
                         : nearest     ? NEAREST_QUERY_BLOCK
                         : ix->metric == NEARKIT_METRIC_HAMMING ? PANEL_QUERY_BLOCK : QUERY_BLOCK;
    /* with several threads, smaller tasks so every thread gets a share of a modest batch */
    if (threads > 1 && (n + threads - 1) / threads < max_chunk) max_chunk = (n + threads - 1) / threads;
    p.chunk = chunk < 1 ? 1 : chunk > max_chunk ? max_chunk : chunk;
    p.fused = p.gemm && (n < p.chunk ? n : p.chunk) >= FUSED_MIN_QUERIES && fused_applies(ix);
    p.block = p.fused ? FUSED_BLOCK_ROWS : p.gemm ? GEMM_BLOCK_ROWS : rows_per_block(ix);
    if (p.block > count) p.block = (size_t)count;
    return p;
}

/* A task's hamming scratch when its queries share each block: the block packed into panels (see
 * nearkit_hamming_panels), the queries packed, and the distances of one group of queries. */
typedef struct panel_scratch {
    uint64_t *panels, *queries;
    uint32_t *out;
    size_t words, stride;
} panel_scratch;

/* What a k-NN scratch's buffers are sized by: a scratch kept from an earlier call serves a call
 * of the same shape. */
typedef struct knn_shape {
    size_t queries, cap, block;
    uint64_t vector_bytes;
    bool gemm, fused, nearest, gathered, panels;
} knn_shape;

/* A task's fused-scan scratch: its queries packed into panels (fused_pack_queries), and per query
 * the offset of its scores and its heap's bound, both padded to whole panels. */
typedef struct fused_scratch {
    float *panels;   /* panel p: NEARKIT_PANEL_QUERIES floats per dimension, d of them */
    float *offsets;  /* l2: |q|^2; cosine: 1; ip: 0 */
    float *bounds;   /* nearkit_topk_bound of the query's heap; NaN for padding (never reached) */
    float *tail;     /* NEARKIT_PANEL_ROWS rows: the store's last rows, zero-padded */
} fused_scratch;

static void fused_scratch_free(fused_scratch *p) {
    nearkit_aligned_free(p->panels);
    free(p->offsets);
    free(p->bounds);
    free(p->tail);
}

static size_t whole_panels(size_t queries) {
    return (queries + NEARKIT_PANEL_QUERIES - 1) / NEARKIT_PANEL_QUERIES;
}

static bool fused_scratch_alloc(fused_scratch *p, const nearkit_index *ix, size_t queries) {
    size_t padded = whole_panels(queries) * NEARKIT_PANEL_QUERIES, d = ix->dimension;
    *p = (fused_scratch){
        .panels = nearkit_aligned_alloc_array(padded * d, sizeof(float)),
        .offsets = nearkit_alloc_array(padded, sizeof(float)),
        .bounds = nearkit_alloc_array(padded, sizeof(float)),
        .tail = nearkit_alloc_array(NEARKIT_PANEL_ROWS * d, sizeof(float)),
    };
    return p->panels && p->offsets && p->bounds && p->tail;
}

/* One worker's k-NN scratch, sized for the largest task of the plan. */
typedef struct knn_scratch {
    knn_shape shape;
    float *heap_dist;
    uint64_t *heap_pos;
    float *tile;     /* chunk x block rows (sgemm), GEMM_BLOCK_ROWS (fused: its scores, and a
                        block's distances when a query is rescanned) or block rows (kernels) */
    uint32_t *ints;  /* block rows, for hamming */
    float *qnorms;   /* chunk */
    panel_scratch panels; /* hamming plans whose tasks may take panels */
    uint8_t *gathered;    /* the subset path: block rows copied together */
    float *best;          /* the nearest path: each query's best value so far (chunk) */
    uint32_t *best_row;   /* and its row (chunk) */
    fused_scratch fused;  /* the fused scan */
} knn_scratch;

static void panel_scratch_free(panel_scratch *p) {
    nearkit_aligned_free(p->panels);
    free(p->queries);
    free(p->out);
}

static bool panel_scratch_alloc(panel_scratch *p, const nearkit_index *ix, size_t queries,
                                size_t block_rows) {
    size_t words = nearkit_hamming_words((size_t)ix->vector_bytes);
    size_t stride = nearkit_hamming_panels(block_rows) * 8;
    *p = (panel_scratch){
        .panels = nearkit_aligned_alloc_array(stride * words, sizeof(uint64_t)),
        .queries = nearkit_alloc_array(queries * words, sizeof(uint64_t)),
        .out = nearkit_alloc_array(PANEL_GROUP * stride, sizeof(uint32_t)),
        .words = words,
        .stride = stride,
    };
    return p->panels && p->queries && p->out;
}

static void knn_scratch_free(void *scratch) {
    knn_scratch *s = scratch;
    free(s->heap_dist);
    free(s->heap_pos);
    nearkit_aligned_free(s->tile);
    free(s->ints);
    free(s->qnorms);
    panel_scratch_free(&s->panels);
    nearkit_aligned_free(s->gathered);
    free(s->best);
    free(s->best_row);
    fused_scratch_free(&s->fused);
    free(s);
}

static knn_shape knn_shape_of(const nearkit_search_call *c) {
    const knn_plan *p = c->state;
    knn_shape shape = {.queries = (size_t)p->chunk, .cap = (size_t)p->cap, .block = p->block,
                       .vector_bytes = c->ix->vector_bytes, .gemm = p->gemm, .fused = p->fused,
                       .nearest = p->nearest};
    shape.gathered = !p->nearest && p->rows.positions;
    shape.panels = !p->nearest && !shape.gathered && c->ix->metric == NEARKIT_METRIC_HAMMING &&
                   shape.queries >= PANEL_MIN_QUERIES;
    return shape;
}

static void *knn_scratch_new(const nearkit_search_call *c) {
    knn_shape shape = knn_shape_of(c);
    size_t queries = shape.queries, cap = shape.cap, block = shape.block;
    knn_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->shape = shape;
    s->heap_dist = nearkit_alloc_array(queries * cap, sizeof(float));
    s->heap_pos = nearkit_alloc_array(queries * cap, sizeof(uint64_t));
    size_t tile = shape.fused ? GEMM_BLOCK_ROWS : shape.gemm ? queries * block : block;
    s->tile = nearkit_aligned_alloc_array(tile, sizeof(float));
    s->ints = nearkit_alloc_array(block, sizeof(uint32_t));
    s->qnorms = nearkit_alloc_array(queries, sizeof(float));
    bool ok = s->heap_dist && s->heap_pos && s->tile && s->ints && s->qnorms;
    if (ok && shape.nearest)
        ok = (s->best = nearkit_alloc_array(queries, sizeof(float))) &&
             (s->best_row = nearkit_alloc_array(queries, sizeof(uint32_t)));
    else if (ok && shape.gathered)
        ok = (s->gathered = nearkit_aligned_alloc_array(block, (size_t)shape.vector_bytes)) != NULL;
    else if (ok && shape.panels)
        ok = panel_scratch_alloc(&s->panels, c->ix, queries, block);
    else if (ok && shape.fused)
        ok = fused_scratch_alloc(&s->fused, c->ix, queries);
    if (ok) return s;
    knn_scratch_free(s);
    return NULL;
}

/* Only the sizes matter: the buffers hold nothing between tasks. */
static bool knn_scratch_reuse(void *scratch, const nearkit_search_call *c) {
    const knn_shape *kept = &((knn_scratch *)scratch)->shape;
    knn_shape shape = knn_shape_of(c);
    return kept->queries == shape.queries && kept->cap == shape.cap && kept->block == shape.block &&
           kept->vector_bytes == shape.vector_bytes && kept->gemm == shape.gemm && kept->fused == shape.fused &&
           kept->nearest == shape.nearest && kept->gathered == shape.gathered && kept->panels == shape.panels;
}

/* ---- k-NN: exact re-scoring of GEMM shortlists ------------------------------------------------- */

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

/* nearkit_topk_push_block for the rows the filter admits (f NULL: all of them). */
static void push_block(nearkit_topk *h, const float *d, uint64_t row, size_t rows, const row_filter *f) {
    if (!f) {
        nearkit_topk_push_block(h, d, row, rows);
        return;
    }
    float bound = nearkit_topk_bound(h);
    for (size_t j = 0; j < rows; j++)
        if (d[j] <= bound && row_admitted(f, row + j)) {
            nearkit_topk_push(h, d[j], row + j);
            bound = nearkit_topk_bound(h);
        }
}

/* The k best admitted rows of one query by the exact kernels alone, sorted, in h's storage
 * (capacity >= k); buf holds GEMM_BLOCK_ROWS floats. */
static void scan_exact(const nearkit_search_call *c, nearkit_topk *h, float *buf, const void *query,
                       const row_filter *f) {
    const nearkit_index *ix = c->ix;
    const nearkit_rows *rows = &impl_of(ix)->rows;
    nearkit_topk_init(h, h->dist, h->pos, (size_t)c->k, rows->ids);
    for (uint64_t row = 0; row < rows->count; row += GEMM_BLOCK_ROWS) {
        size_t n = rows->count - row < GEMM_BLOCK_ROWS ? (size_t)(rows->count - row) : GEMM_BLOCK_ROWS;
        block_distances(buf, ix, query, row, n, NULL, rows_from_memory(ix));
        push_block(h, buf, row, n, f);
    }
    nearkit_topk_sort(h);
}

/* Turns a query's GEMM shortlist into its exact k best, sorted: exact distances for the
 * candidates, kept when the sgemm error bound proves them complete, else an exact rescan. Rows
 * the filter leaves out never entered the shortlist and are no rows "outside" it: the floor
 * bounds the admitted rows the scan turned away. */
static void settle_shortlist(const nearkit_search_call *c, nearkit_topk *h, float *buf,
                             const void *query, float qsqnorm, const row_filter *f) {
    const nearkit_index *ix = c->ix;
    float floor = nearkit_topk_floor(h);
    rescore(ix, h, query);
    nearkit_topk_sort(h);
    double slack = nearkit_gemm_slack(ix->metric, ix->dimension, sqrt((double)qsqnorm),
                                      sqrt((double)impl_of(ix)->max_sqnorm));
    if (!nearkit_rerank_certain(h, c->k, floor, slack, ix->metric == NEARKIT_METRIC_L2))
        scan_exact(c, h, buf, query, f);
}

/* ---- k-NN: block scans ------------------------------------------------------------------------- */

/* nearkit_topk_push_block for hamming counts of admitted rows (f NULL: all), compared as integers in blocks of 64 so the common
 * case, nothing enters, runs as vector code (a minimum over the block: compilers turn an "any
 * below" into a horizontal reduction per vector, which costs more) without converting counts to
 * float. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void push_hamming_block(nearkit_topk *h, const uint32_t *d, uint64_t row, size_t rows,
                               const row_filter *f) {
    float fbound = nearkit_topk_bound(h);
    uint32_t bound = fbound >= 4294967295.0f ? UINT32_MAX : (uint32_t)fbound;
    size_t j = 0;
    for (; j + 64 <= rows; j += 64) {
        uint32_t least = UINT32_MAX;
        for (int u = 0; u < 64; u++) least = d[j + u] < least ? d[j + u] : least;
        if (least > bound) continue;
        for (int u = 0; u < 64; u++)
            if (d[j + u] <= bound && row_admitted(f, row + j + u)) {
                nearkit_topk_push(h, (float)d[j + u], row + j + u);
                fbound = nearkit_topk_bound(h);
                bound = fbound >= 4294967295.0f ? UINT32_MAX : (uint32_t)fbound;
            }
    }
    for (; j < rows; j++)
        if (d[j] <= bound && row_admitted(f, row + j)) {
            nearkit_topk_push(h, (float)d[j], row + j);
            fbound = nearkit_topk_bound(h);
            bound = fbound >= 4294967295.0f ? UINT32_MAX : (uint32_t)fbound;
        }
}

/* Pushes a GEMM tile row: the ranking value is offset + extra[j] + r[j] (extra: stored norms for
 * l2, else none). The kernels' tile_skip passes over the blocks of 16 where nothing reaches the
 * heap bound (the common case), 64 values per test; only rows that could enter are tested
 * against the filter. */
static void push_gemm_row(nearkit_topk *h, const nearkit_kernel_table *kt, const float *r,
                          const float *extra, float offset, uint64_t row, size_t rows, const row_filter *f) {
    float bound = nearkit_topk_bound(h);
    size_t blocks = rows & ~(size_t)15, j = 0;
    for (;;) {
        j += kt->tile_skip(r + j, extra ? extra + j : NULL, offset, bound, blocks - j);
        if (j >= blocks) break;
        for (size_t u = j; u < j + 16; u++) {
            float v = extra ? offset + extra[u] + r[u] : offset + r[u];
            if (v <= bound && row_admitted(f, row + u)) {
                nearkit_topk_push(h, v, row + u);
                bound = nearkit_topk_bound(h);
            }
        }
        j += 16;
    }
    for (j = blocks; j < rows; j++) {
        float v = offset + (extra ? extra[j] : 0.0f) + r[j];
        if (v <= bound && row_admitted(f, row + j)) {
            nearkit_topk_push(h, v, row + j);
            bound = nearkit_topk_bound(h);
        }
    }
}

/* Rows [row, row + rows) for queries [first, first + nq) through one sgemm into the tile, each
 * tile row then offered to its query's heap as the metric's ranking value. */
static void scan_gemm_block(nearkit_topk *heaps, knn_scratch *s, const nearkit_search_call *c,
                            uint64_t first, size_t nq, uint64_t row, size_t rows, const row_filter *f) {
    const nearkit_index *ix = c->ix;
    const flat_impl *flat = impl_of(ix);
    bool l2 = ix->metric == NEARKIT_METRIC_L2;
    const float *x = (const float *)nearkit_rows_at(&flat->rows, ix, row);
    nearkit_sgemm_nt(nq, rows, ix->dimension, l2 ? -2.0f : -1.0f, nearkit_query_at(c, first), x, s->tile);
    float offset = ix->metric == NEARKIT_METRIC_COSINE ? 1.0f : 0.0f;
    const nearkit_kernel_table *kt = nearkit_kernels();
    for (size_t i = 0; i < nq; i++)
        push_gemm_row(&heaps[i], kt, s->tile + i * rows, l2 ? flat->norms + row : NULL,
                      l2 ? s->qnorms[i] : offset, row, rows, f);
}

/* ---- k-NN: the fused scan ----------------------------------------------------------------------
 *
 * Where the kernels have panel_scan (AVX-512), a GEMM-path batch scores in registers instead of
 * through sgemm: the task's queries are packed once into panels of NEARKIT_PANEL_QUERIES, and
 * every NEARKIT_PANEL_ROWS stored rows, read in place, meet one panel at a time; only the queries
 * whose bound some row reaches look at the scores. The sgemm path writes a tile of 1,024 rows'
 * scores for the whole task (4 MB at 1,000 queries, beyond L2), after OpenBLAS has zeroed it, then
 * reads it back, and OpenBLAS packs the queries again for every block; here a micro-block's scores
 * leave the registers only for a 1.5 KB tile in L1, and the queries are packed once a call. The
 * scores are sgemm's kind of value (dot products summed in another order than the exact
 * kernels', within nearkit_gemm_slack), so settle_shortlist serves both paths and the answers are
 * the same bit for bit. Panels are taken in groups of
 * FUSED_GROUP_BYTES, which stay in L2 while a block's rows pass once per group. Measured (Xeon,
 * AVX-512, one thread, batches of 1,000, the sgemm path first): 60,000 x 784 l2 0.69 s and 0.61;
 * 1,000,000 x 128 l2 2.14 and 1.64; 200,000 x 768 cosine 2.17 and 1.91. */

/* The task's queries into panels (dimension-major within each, zero past the last query), with
 * each one's score offset and bound. */
static void fused_pack_queries(fused_scratch *p, const nearkit_search_call *c, uint64_t first, size_t nq,
                               const float *qnorms, const nearkit_topk *heaps) {
    enum { Q = NEARKIT_PANEL_QUERIES };
    const nearkit_index *ix = c->ix;
    size_t d = ix->dimension, padded = whole_panels(nq) * Q;
    memset(p->panels, 0, padded * d * sizeof(float));
    for (size_t i = 0; i < nq; i++) {
        const float *q = nearkit_query_at(c, first + i);
        float *panel = p->panels + (i / Q) * Q * d + i % Q;
        for (size_t k = 0; k < d; k++) panel[k * Q] = q[k];
    }
    float offset = ix->metric == NEARKIT_METRIC_COSINE ? 1.0f : 0.0f;
    for (size_t i = 0; i < padded; i++) {
        p->offsets[i] = i >= nq ? 0.0f : ix->metric == NEARKIT_METRIC_L2 ? qnorms[i] : offset;
        p->bounds[i] = i < nq ? nearkit_topk_bound(&heaps[i]) : __builtin_nanf("");
    }
}

/* Offers a query the rows of one micro-block whose scores (column j of the kernel's tile) reach
 * its bound. */
static void push_panel_column(nearkit_topk *h, const float *tile, size_t j, uint64_t row, size_t nr,
                              const row_filter *f) {
    float bound = nearkit_topk_bound(h);
    for (size_t i = 0; i < nr; i++) {
        float v = tile[i * NEARKIT_PANEL_QUERIES + j];
        if (v <= bound && row_admitted(f, row + i)) {
            nearkit_topk_push(h, v, row + i);
            bound = nearkit_topk_bound(h);
        }
    }
}

/* Rows [row, row + rows) for the task's nq packed queries: micro-block by micro-block, one group of
 * panels at a time. A last micro-block shorter than NEARKIT_PANEL_ROWS (the store's end) is scored
 * from a zero-padded copy, made once for every group, as the kernel reads whole micro-blocks. */
static void scan_fused_block(nearkit_topk *heaps, knn_scratch *s, const nearkit_search_call *c, size_t nq,
                             uint64_t row, size_t rows, const row_filter *f) {
    enum { R = NEARKIT_PANEL_ROWS, Q = NEARKIT_PANEL_QUERIES };
    const nearkit_index *ix = c->ix;
    const flat_impl *flat = impl_of(ix);
    fused_scratch *p = &s->fused;
    const nearkit_kernel_table *kt = nearkit_kernels();
    bool l2 = ix->metric == NEARKIT_METRIC_L2;
    size_t d = ix->dimension, panels = whole_panels(nq), group = FUSED_GROUP_BYTES / (Q * d * sizeof(float));
    if (group < 1) group = 1;
    size_t whole = rows - rows % R;
    if (whole < rows) {
        memset(p->tail, 0, R * d * sizeof(float));
        memcpy(p->tail, nearkit_rows_at(&flat->rows, ix, row + whole), (rows - whole) * d * sizeof(float));
    }
    for (size_t g = 0; g < panels; g += group) {
        size_t end = panels - g < group ? panels : g + group;
        for (size_t r = 0; r < rows; r += R) {
            size_t nr = rows - r < R ? rows - r : R;
            const float *x = r < whole ? (const float *)nearkit_rows_at(&flat->rows, ix, row + r) : p->tail;
            const float *extra = l2 ? flat->norms + row + r : NULL;
            for (size_t pi = g; pi < end; pi++) {
                uint64_t reached = kt->panel_scan(s->tile, x, nr, d, p->panels + pi * Q * d, d, extra,
                                                  l2 ? -2.0f : -1.0f, p->offsets + pi * Q, p->bounds + pi * Q);
                for (; reached; reached &= reached - 1) {
                    size_t j = (size_t)__builtin_ctzll(reached), q = pi * Q + j;
                    push_panel_column(&heaps[q], s->tile, j, row + r, nr, f);
                    p->bounds[q] = nearkit_topk_bound(&heaps[q]);
                }
            }
        }
    }
}

/* Scans rows [row, row + rows) for every query of the task: the block is packed once, then each
 * load of it serves a group of queries (packed by pack_panel_queries). */
static void scan_hamming_panels(nearkit_topk *heaps, panel_scratch *p, const nearkit_index *ix,
                                size_t nq, uint64_t row, size_t rows, const row_filter *f) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t np = nearkit_hamming_panels(rows);
    kt->hamming_pack(p->panels, nearkit_rows_at(&impl_of(ix)->rows, ix, row), rows,
                     (size_t)ix->vector_bytes);
    for (size_t q0 = 0; q0 < nq; q0 += PANEL_GROUP) {
        size_t g = nq - q0 < PANEL_GROUP ? nq - q0 : PANEL_GROUP;
        kt->hamming_panels(p->out, p->stride, p->queries + q0 * p->words, g, p->panels, np, p->words);
        for (size_t i = 0; i < g; i++) push_hamming_block(&heaps[q0 + i], p->out + i * p->stride, row, rows, f);
    }
}

static void pack_panel_queries(panel_scratch *p, const nearkit_search_call *c, uint64_t first,
                               size_t nq) {
    for (size_t i = 0; i < nq; i++)
        nearkit_hamming_pack_query(p->queries + i * p->words, nearkit_query_at(c, first + i),
                                   (size_t)c->ix->vector_bytes);
}

/* Rows [row, row + rows) query by query through the distance kernels. */
static void scan_kernel_block(nearkit_topk *heaps, knn_scratch *s, const nearkit_search_call *c,
                              uint64_t first, size_t nq, uint64_t row, size_t rows, const row_filter *f) {
    const nearkit_index *ix = c->ix;
    if (ix->metric == NEARKIT_METRIC_HAMMING) {
        const nearkit_kernel_table *kt = nearkit_kernels();
        const uint8_t *codes = nearkit_rows_at(&impl_of(ix)->rows, ix, row);
        for (size_t i = 0; i < nq; i++) {
            kt->hamming_many(s->ints, nearkit_query_at(c, first + i), codes, rows,
                             (size_t)ix->vector_bytes);
            push_hamming_block(&heaps[i], s->ints, row, rows, f);
        }
        return;
    }
    /* the task's first query reads the block from memory, the others from L2 */
    bool streamed = rows_from_memory(ix);
    for (size_t i = 0; i < nq; i++) {
        block_distances(s->tile, ix, nearkit_query_at(c, first + i), row, rows, s->ints, streamed && i == 0);
        push_block(&heaps[i], s->tile, row, rows, f);
    }
}

/* Offers rows positions[0, n) with ranking values d[0, n). */
static void push_positions(nearkit_topk *h, const float *d, const uint64_t *positions, size_t n) {
    float bound = nearkit_topk_bound(h);
    for (size_t j = 0; j < n; j++)
        if (d[j] <= bound) {
            nearkit_topk_push(h, d[j], positions[j]);
            bound = nearkit_topk_bound(h);
        }
}

#define GATHER_AHEAD 8 /* rows fetched ahead while gathering: scattered rows defeat the hardware's
                          prefetcher, and a single query would wait on every one */

/* Copies the rows at positions[0, n) to out, one after another. */
static void gather_rows(uint8_t *out, const nearkit_rows *rows, const nearkit_index *ix,
                        const uint64_t *positions, size_t n) {
    size_t vb = (size_t)ix->vector_bytes;
    for (size_t j = 0; j < n; j++) {
        if (j + GATHER_AHEAD < n) nearkit_prefetch_bytes(nearkit_rows_at(rows, ix, positions[j + GATHER_AHEAD]), vb);
        memcpy(out + j * vb, nearkit_rows_at(rows, ix, positions[j]), vb);
    }
}

/* The subset path: the admitted rows, a slice of p->block at a time, are copied together once per
 * task and scored for each of its queries by the kernels that score contiguous rows (the same
 * per-row arithmetic, so the same values), instead of one kernel call per scattered row. */
static void knn_subset(knn_scratch *s, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    const knn_plan *p = c->state;
    const nearkit_index *ix = c->ix;
    const nearkit_rows *stored = &impl_of(ix)->rows;
    const admitted_rows *a = &p->rows;
    size_t vb = (size_t)ix->vector_bytes;
    nearkit_topk heaps[GEMM_QUERY_BLOCK];
    for (uint64_t i = 0; i < n; i++)
        nearkit_topk_init(&heaps[i], s->heap_dist + i * p->cap, s->heap_pos + i * p->cap, (size_t)p->cap,
                          stored->ids);
    for (uint64_t at = 0; at < a->n; at += p->block) {
        size_t slice = a->n - at < p->block ? (size_t)(a->n - at) : p->block;
        gather_rows(s->gathered, stored, ix, a->positions + at, slice);
        for (uint64_t i = 0; i < n; i++) {
            nearkit_metric_distances(s->tile, s->ints, nearkit_kernels(), ix->metric,
                                     nearkit_query_at(c, first + i), s->gathered, slice, ix->dimension, vb);
            push_positions(&heaps[i], s->tile, a->positions + at, slice);
        }
    }
    for (uint64_t i = 0; i < n; i++) nearkit_write_heap(c, first + i, &heaps[i]);
}

/* The nearest path: each block of rows against all the task's queries in the kernel, then the
 * task's rows written at once. */
static void knn_nearest(knn_scratch *s, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    const knn_plan *p = c->state;
    const nearkit_index *ix = c->ix;
    const nearkit_rows *stored = &impl_of(ix)->rows;
    const float *queries = nearkit_query_at(c, first);
    size_t nq = (size_t)n;
    /* every value is finite (stored and query values are bounded by NEARKIT_MAX_ABS_VALUE), so the
     * first block's first row always replaces this start */
    for (size_t i = 0; i < nq; i++) {
        s->best[i] = INFINITY;
        s->best_row[i] = 0;
    }
    int l1 = ix->metric == NEARKIT_METRIC_L1;
    for (uint64_t row = 0; row < stored->count; row += p->block) {
        size_t rows = stored->count - row < p->block ? (size_t)(stored->count - row) : p->block;
        nearkit_kernels()->small_nearest(l1, s->best, s->best_row, queries, nq,
                                         (const float *)nearkit_rows_at(stored, ix, row), (uint32_t)row,
                                         rows, ix->dimension);
    }
    nearkit_write_nearest(c, first, n, s->best, s->best_row, stored->ids);
}

/* The k-NN of queries [first, first + n) (a task of at most the plan's chunk): every block of
 * stored rows is scanned for all of them before the next, then each row is written. */
static bool flat_knn(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    knn_scratch *s = scratch;
    const knn_plan *p = c->state;
    if (p->rows.positions) {
        knn_subset(s, c, first, n);
        return true;
    }
    if (p->nearest) {
        knn_nearest(s, c, first, n);
        return true;
    }
    const row_filter *f = call_filter(&p->rows);
    const nearkit_index *ix = c->ix;
    const nearkit_rows *stored = &impl_of(ix)->rows;
    size_t nq = (size_t)n;
    bool panels = ix->metric == NEARKIT_METRIC_HAMMING && nq >= PANEL_MIN_QUERIES;
    if (panels) pack_panel_queries(&s->panels, c, first, nq);
    nearkit_topk heaps[GEMM_QUERY_BLOCK]; /* the largest task of any path */
    for (size_t i = 0; i < nq; i++) {
        nearkit_topk_init(&heaps[i], s->heap_dist + i * p->cap, s->heap_pos + i * p->cap,
                          (size_t)p->cap, stored->ids);
        if (p->gemm) {
            const float *q = nearkit_query_at(c, first + i);
            s->qnorms[i] = nearkit_kernels()->dot(q, q, ix->dimension);
        }
    }
    if (p->fused) fused_pack_queries(&s->fused, c, first, nq, s->qnorms, heaps);
    for (uint64_t row = 0; row < stored->count; row += p->block) {
        size_t rows = stored->count - row < p->block ? (size_t)(stored->count - row) : p->block;
        if (p->fused) scan_fused_block(heaps, s, c, nq, row, rows, f);
        else if (p->gemm) scan_gemm_block(heaps, s, c, first, nq, row, rows, f);
        else if (panels) scan_hamming_panels(heaps, &s->panels, ix, nq, row, rows, f);
        else scan_kernel_block(heaps, s, c, first, nq, row, rows, f);
    }
    for (size_t i = 0; i < nq; i++) {
        if (p->gemm) {
            settle_shortlist(c, &heaps[i], s->tile, nearkit_query_at(c, first + i), s->qnorms[i], f);
            nearkit_write_sorted(c, first + i, &heaps[i]);
        } else {
            nearkit_write_heap(c, first + i, &heaps[i]);
        }
    }
    return true;
}

static bool flat_plan_knn(nearkit_search_call *c, void *plan) {
    knn_plan *p = plan;
    admitted_rows rows;
    if (!plan_admitted(&rows, c)) {
        admitted_rows_free(&rows);
        return false;
    }
    *p = plan_knn(c->ix, c->n, c->k, c->threads, rows.positions != NULL, nearest_applies(c, &rows));
    p->rows = rows;
    c->chunk = p->chunk;
    return !p->gemm || ensure_gemm_facts(impl_of(c->ix), c->ix);
}

static void flat_plan_knn_free(void *plan) { admitted_rows_free(&((knn_plan *)plan)->rows); }

static const nearkit_searcher knn_searcher = {
    .plan_size = sizeof(knn_plan),
    .plan = flat_plan_knn,
    .plan_free = flat_plan_knn_free,
    .scratch_new = knn_scratch_new,
    .scratch_free = knn_scratch_free,
    .scratch_reuse = knn_scratch_reuse,
    .knn = flat_knn,
};


/* ---- range search ------------------------------------------------------------------------------ */

#define RANGE_CHUNK 4 /* range queries per task */

/* One worker's range scratch: the distances of one block. */
typedef struct range_scratch {
    float *dist;
    uint32_t *ints;
} range_scratch;

static void range_scratch_free(void *scratch) {
    range_scratch *s = scratch;
    free(s->dist);
    free(s->ints);
    free(s);
}

static void *range_scratch_new(const nearkit_search_call *c) {
    size_t block = rows_per_block(c->ix);
    range_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->dist = nearkit_alloc_array(block, sizeof(float));
    s->ints = nearkit_alloc_array(block, sizeof(uint32_t));
    if (s->dist && s->ints) return s;
    range_scratch_free(s);
    return NULL;
}

/* The subset path: the gathered admitted rows, a block at a time. */
static bool range_subset(range_scratch *s, const nearkit_search_call *c, uint64_t q, const admitted_rows *a) {
    size_t block = rows_per_block(c->ix);
    const nearkit_rows *stored = &impl_of(c->ix)->rows;
    for (uint64_t i = 0; i < a->n; i += block) {
        uint64_t slice = a->n - i < block ? a->n - i : block;
        if (!nearkit_rows_match(c, q, s->dist, s->ints, stored, a->positions + i, slice)) return false;
    }
    return true;
}

static bool flat_range(void *scratch, const nearkit_search_call *c, uint64_t q) {
    range_scratch *s = scratch;
    const admitted_rows *a = c->state;
    if (a->positions) return range_subset(s, c, q, a);
    const nearkit_index *ix = c->ix;
    const nearkit_rows *stored = &impl_of(ix)->rows;
    const void *query = nearkit_query_at(c, q);
    size_t block = rows_per_block(ix);
    bool streamed = rows_from_memory(ix);
    for (uint64_t row = 0; row < stored->count; row += block) {
        size_t rows = stored->count - row < block ? (size_t)(stored->count - row) : block;
        block_distances(s->dist, ix, query, row, rows, s->ints, streamed);
        for (size_t i = 0; i < rows; i++) {
            float dist = nearkit_reported(ix, s->dist[i]);
            if (dist <= c->radius && row_admitted(call_filter(a), row + i) &&
                !nearkit_add_match(c, q, nearkit_rows_id(stored, row + i), dist))
                return false;
        }
    }
    return true;
}

static bool flat_plan_range(nearkit_search_call *c, void *plan) {
    admitted_rows *a = plan;
    if (!plan_admitted(a, c)) return false;
    c->chunk = RANGE_CHUNK;
    return true;
}

static void flat_plan_range_free(void *plan) { admitted_rows_free(plan); }

static const nearkit_searcher range_searcher = {
    .plan_size = sizeof(admitted_rows),
    .plan = flat_plan_range,
    .plan_free = flat_plan_range_free,
    .scratch_new = range_scratch_new,
    .scratch_free = range_scratch_free,
    .range = flat_range,
};


/* ---- persistence ------------------------------------------------------------------------------- */

/* Sections VECS and IDS (only when ids were given), through the row store. */
static nearkit_status flat_save(const nearkit_index *ix, nearkit_writer *w) {
    return nearkit_rows_save(&impl_of(ix)->rows, ix, w);
}

static nearkit_status flat_load(nearkit_index *ix, const nearkit_reader *r) {
    flat_impl *f = impl_of(ix);
    nearkit_status st = nearkit_rows_load(&f->rows, ix, r, false);
    if (st) return st;
    if (nearkit_reader_borrows(r)) {
        atomic_store(&f->facts_ready, false); /* a view: its first GEMM search computes them */
        return NEARKIT_OK;
    }
    st = reserve_norms(f, ix, 0, f->rows.count);
    if (!st) note_norms(f, ix, 0);
    return st;
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
    .knn_searcher = &knn_searcher,
    .range_searcher = &range_searcher,
    .remove = flat_remove,
    .get = flat_get,
    .each_id = flat_each_id,
    .compact = flat_compact,
    .save = flat_save,
    .load = flat_load,
    .describe = flat_describe,
};
