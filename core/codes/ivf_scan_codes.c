/* The scanner of compressed codes (ivf_scan.h): fp16, bf16, sq8, sq4, pq8, pq4 and RaBitQ codes
 * of a codec (codec.h, rabitq.h), rows labelled by their insertion positions. sq codes of residuals
 * to the list's centroid (codec.h) are scored against the query's residual (l2; cosine, whose unit
 * vectors rank by half the squared l2) or with the centroid's dot product added (ip), made once per
 * query and list. Batches of kernel-scored
 * codes scan each list once for all the queries probing it (below: "grouped by list").
 *
 * A list is scanned a block of codes at a time with the code kernels (the distance of the query
 * to each decoded vector, the same bits on every CPU), or for pq by summing the query's table,
 * made once per query and call the first time a list of it is scanned (with residual codes under
 * l2 and cosine: its residual's, once per list; prepare_pq_table) (pq4: rounded to 8 bits
 * and summed by the fast-scan kernel over the list's interleaved blocks), or for RaBitQ by the
 * popcount estimator of the query rotated once per query and quantised once per list; the best
 * kept in a heap
 * over positions
 * whose ties go by id. Without a re-rank that heap holds k and its values are reported. With one
 * (view->refine_k > 0, the index keeping the original vectors), it holds refine_k candidates, and
 * finishing a query scores each against its original vector with the flat kernels and reports
 * the k best of those exact values: the recall of the codes' candidate list at the precision of
 * the float vectors. Range search reports the rows whose code distance is within the radius, or,
 * with a re-rank, scores the original vectors of the probed lists instead (exact). */
#include "codes/codec.h"
#include "codes/ivf_scan.h"
#include "codes/rabitq.h"
#include "search/rows.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_ROWS 256  /* codes per kernel call (whole pq4 blocks) */
#define MAX_CHUNK 16

/* What sizes a scan's scratch: the codec's format and sizes, its tables, RaBitQ's rotation. */
typedef struct codes_shape {
    int format;
    size_t m, code_size, dimension, table_size;
    bool residual, rabitq;
    uint64_t rabitq_padded, rabitq_words;
} codes_shape;

static codes_shape shape_of(const nearkit_ivf_view *view) {
    const nearkit_codec *codec = view->codec;
    return (codes_shape){.format = codec->format,
                         .m = codec->m,
                         .code_size = codec->code_size,
                         .dimension = codec->dimension,
                         .table_size = nearkit_codec_uses_tables(codec) ? nearkit_codec_table_size(codec) : 0,
                         .residual = codec->residual,
                         .rabitq = view->rabitq != NULL,
                         .rabitq_padded = view->rabitq ? view->rabitq->padded : 0,
                         .rabitq_words = view->rabitq ? view->rabitq->words : 0};
}

static bool same_shape(const codes_shape *a, const codes_shape *b) {
    return a->format == b->format && a->m == b->m && a->code_size == b->code_size && a->dimension == b->dimension &&
           a->table_size == b->table_size && a->residual == b->residual && a->rabitq == b->rabitq &&
           a->rabitq_padded == b->rabitq_padded && a->rabitq_words == b->rabitq_words;
}

/* A call's candidates per query: k (at least 1: a range call's scratch), or refine_k with a
 * re-rank; *k the call's k. */
static size_t candidates_of(const nearkit_search_call *c, size_t *k) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    *k = c->k ? (size_t)c->k : 1;
    return (size_t)(view->refine_k > *k ? view->refine_k : *k);
}

typedef struct codes_scratch {
    float *dist;           /* SCAN_ROWS */
    nearkit_shortlist best; /* candidates by position: k, or refine_k with a re-rank */
    float *best_dist, *exact_dist;
    uint64_t *best_pos, *exact_pos;
    size_t cap;            /* the call's candidates (k, or refine_k with a re-rank) */
    size_t room, exact_room; /* what the heaps hold: at least cap, and k (scratch_reuse) */
    const int64_t *ids;    /* the id of each position (ties), NULL: the position */
    float *table;          /* pq: the current query's table */
    const float *table_of; /* the query it was made for (each query of a call has its own row) */
    nearkit_pq4_lut lut;   /* pq4: the table rounded for the fast scan */
    uint16_t *sums;        /* pq4: SCAN_ROWS */
    nearkit_pq4_kernel pq4;
    float *query_residual;  /* sq codes of residuals, l2: the current query minus the list's centroid */
    float centroid_term;    /* ... dot products: minus the query's dot product with the centroid */
    const nearkit_ivf_list *residual_list; /* the list they were made for */
    nearkit_rabitq_query rabitq;        /* RaBitQ: the current query rotated ... */
    const nearkit_ivf_list *rabitq_list; /* ... and prepared against this list */
    codes_shape shape;     /* the codec it was made for (scratch_reuse) */
} codes_scratch;

static void scratch_free(void *scratch) {
    codes_scratch *s = scratch;
    if (!s) return;
    free(s->dist);
    free(s->best_dist);
    free(s->best_pos);
    free(s->exact_dist);
    free(s->exact_pos);
    free(s->table);
    free(s->lut.lo);
    free(s->lut.hi);
    free(s->lut.lows);
    free(s->lut.padded);
    free(s->sums);
    free(s->query_residual);
    nearkit_rabitq_query_free(&s->rabitq);
    free(s);
}

static void *scratch_new(const nearkit_search_call *c) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    codes_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t k, cap = candidates_of(c, &k);
    s->cap = s->room = cap;
    s->exact_room = k;
    s->ids = view->position_ids;
    s->dist = nearkit_alloc_array(SCAN_ROWS, sizeof(float));
    s->best_dist = nearkit_alloc_array(2 * cap, sizeof(float)); /* a shortlist's room */
    s->best_pos = nearkit_alloc_array(2 * cap, sizeof(uint64_t));
    s->exact_dist = nearkit_alloc_array(k, sizeof(float));
    s->exact_pos = nearkit_alloc_array(k, sizeof(uint64_t));
    bool tables = nearkit_codec_uses_tables(view->codec);
    if (tables) s->table = nearkit_alloc_array(nearkit_codec_table_size(view->codec), sizeof(float));
    s->shape = shape_of(view);
    bool pq4 = view->codec->format == NEARKIT_CODEC_PQ4;
    if (pq4) {
        s->lut.lo = nearkit_alloc_array(view->codec->code_size, NEARKIT_PQ4_BLOCK);
        s->lut.hi = nearkit_alloc_array(view->codec->code_size, NEARKIT_PQ4_BLOCK);
        s->lut.lows = nearkit_alloc_array(view->codec->m, sizeof(float));
        s->lut.padded = nearkit_alloc_array(view->codec->m, NEARKIT_CODEC_PQ4_CENTROIDS * sizeof(float));
        s->sums = nearkit_alloc_array(SCAN_ROWS, sizeof(uint16_t));
        s->pq4 = nearkit_pq4_kernel_of(nearkit_kernels());
    }
    bool residual = view->codec->residual;
    if (residual) s->query_residual = nearkit_alloc_array(view->codec->dimension, sizeof(float));
    bool rabitq_ok = !view->rabitq || nearkit_rabitq_query_init(&s->rabitq, view->rabitq);
    if (s->dist && s->best_dist && s->best_pos && s->exact_dist && s->exact_pos && (!tables || s->table) &&
        (!pq4 || (s->lut.lo && s->lut.hi && s->lut.lows && s->lut.padded && s->sums)) && rabitq_ok &&
        (!residual || s->query_residual))
        return s;
    scratch_free(s);
    return NULL;
}

/* Whether scratch made for another call of the codes scanner (another index, maybe freed since)
 * serves call c: a codec of the same shape (RaBitQ: a rotation of the same size, which sizes its
 * query state) and heaps large enough. Re-aimed at c: its ids, the heap size, and no table made
 * for a query (a new call's query may lie where the last one did). */
static bool scratch_reuse(void *scratch, const nearkit_search_call *c) {
    codes_scratch *s = scratch;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const nearkit_codec *codec = view->codec;
    size_t k, cap = candidates_of(c, &k);
    codes_shape shape = shape_of(view);
    if (!same_shape(&shape, &s->shape) || cap > s->room || k > s->exact_room) return false;
    s->cap = cap;
    s->ids = view->position_ids;
    s->table_of = NULL;
    s->residual_list = NULL;
    s->rabitq_list = NULL;
    s->pq4 = codec->format == NEARKIT_CODEC_PQ4 ? nearkit_pq4_kernel_of(nearkit_kernels()) : s->pq4;
    return true;
}

static const float *original(const nearkit_search_call *c, uint32_t pos) {
    return (const float *)(nearkit_ivf_view_of(c)->originals + (uint64_t)pos * c->ix->vector_bytes);
}

/* The flat index's ranking value of the query and a stored row's original vector (the same
 * value). The rows lie anywhere in memory: the single-row kernel, whose sequential reads the
 * hardware prefetchers follow (kernels.h), not the several-row one. */
static float exact_distance(const nearkit_search_call *c, const float *q, uint32_t pos) {
    float d;
    nearkit_metric_distances_streamed(&d, NULL, nearkit_kernels(), c->ix->metric, q, original(c, pos), 1,
                                      c->ix->dimension, (size_t)c->ix->vector_bytes);
    return d;
}

/* RaBitQ's estimates for rows [r0, r0 + n) of a list: the query rotated the first time a list of
 * it is scanned, and prepared against the list the first time a block of it is. */
static void rabitq_block_distances(codes_scratch *s, const nearkit_search_call *c, const float *q,
                                   const nearkit_ivf_list *list, const uint8_t *codes, size_t n) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    if (s->table_of != q) {
        nearkit_rabitq_set_query(&s->rabitq, view->rabitq, q);
        s->table_of = q;
        s->rabitq_list = NULL;
    }
    if (s->rabitq_list != list) {
        nearkit_rabitq_set_list(&s->rabitq, view->rabitq, (uint32_t)(list - view->lists->list));
        s->rabitq_list = list;
    }
    nearkit_rabitq_distances(s->dist, view->rabitq, &s->rabitq, c->ix->metric, codes, n);
}

/* Whether codes rank by squared l2: l2, and cosine, whose unit vectors rank by half of it
 * (nearkit_codec_distances says why); ip ranks by dot products. */
static bool ranks_by_l2(nearkit_metric metric) { return metric != NEARKIT_METRIC_IP; }

/* The ranking values of n dot products of an ip query with decoded codes, in place, as
 * nearkit_codec_distances makes them (-dot); for codes of residuals, -dot plus the centroid's term
 * (minus the query's dot product with the centroid). */
static void values_of_dots(float *v, size_t n, bool residual, float centroid_term) {
    for (size_t i = 0; i < n; i++) v[i] = residual ? -v[i] + centroid_term : -v[i];
}

/* Codes of residuals ranked by dot products: what the list's centroid adds to a code's value
 * (minus the query's dot product with it). */
static float list_centroid_term(const nearkit_ivf_view *view, const float *q, const nearkit_ivf_list *list) {
    size_t d = view->codec->dimension;
    return -nearkit_kernels()->dot(q, view->quantizer->centroids + (size_t)(list - view->lists->list) * d, d);
}

/* Codes of residuals to the list's centroid (sq, codec.h): l2 (and cosine) is the query's
 * residual against the code's, made once per query and list; a dot product is the code's plus the
 * centroid's. */
static void residual_block_distances(codes_scratch *s, const nearkit_search_call *c, const float *q,
                                     const nearkit_ivf_list *list, const uint8_t *codes, size_t n) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t d = view->codec->dimension;
    nearkit_metric metric = c->ix->metric;
    if (s->table_of != q || s->residual_list != list) {
        const float *centroid = view->quantizer->centroids + (size_t)(list - view->lists->list) * d;
        if (ranks_by_l2(metric))
            for (size_t i = 0; i < d; i++) s->query_residual[i] = q[i] - centroid[i];
        else
            s->centroid_term = list_centroid_term(view, q, list);
        s->table_of = q;
        s->residual_list = list;
    }
    if (ranks_by_l2(metric)) {
        nearkit_codec_distances(s->dist, kt, view->codec, metric, s->query_residual, codes, n);
        return;
    }
    const nearkit_codec *codec = view->codec;
    kt->code_dot[codec->format](s->dist, q, codes, codec->step, codec->base, n, d);
    values_of_dots(s->dist, n, true, s->centroid_term);
}

/* Whether a pq query's table depends on the list: codes of residuals ranked by l2, whose table
 * is the query's residual's (an ip table is the query's, the centroid's dot product added). */
static bool table_per_list(const nearkit_codec *codec, nearkit_metric metric) {
    return codec->residual && ranks_by_l2(metric);
}

/* A pq query's table (pq4: rounded) for a list: the query's own, made the first time a list of
 * it is scanned, or for codes of residuals under l2 its residual's, made per list; for residuals
 * under ip, the list's centroid term too. */
static void prepare_pq_table(codes_scratch *s, const nearkit_search_call *c, const float *q,
                             const nearkit_ivf_list *list) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const nearkit_codec *codec = view->codec;
    nearkit_metric metric = c->ix->metric;
    size_t d = codec->dimension;
    const float *centroid = view->quantizer->centroids + (size_t)(list - view->lists->list) * d;
    const float *from = q;
    if (table_per_list(codec, metric)) {
        for (size_t i = 0; i < d; i++) s->query_residual[i] = q[i] - centroid[i];
        from = s->query_residual;
    }
    if (s->table_of != q || table_per_list(codec, metric)) {
        nearkit_codec_table(s->table, codec, metric, from);
        if (codec->format == NEARKIT_CODEC_PQ4) nearkit_codec_pq4_lut(&s->lut, codec, s->table);
    }
    if (codec->residual && !ranks_by_l2(metric)) s->centroid_term = list_centroid_term(view, q, list);
    s->table_of = q;
    s->residual_list = list;
}

/* pq codes' values of rows [r0, r0 + n) of the list from the query's table for it
 * (prepare_pq_table). */
static void pq_block_distances(codes_scratch *s, const nearkit_search_call *c, const float *q,
                               const nearkit_ivf_list *list, uint64_t r0, size_t n) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const nearkit_codec *codec = view->codec;
    const uint8_t *codes = list->codes + r0 * codec->code_size;
    nearkit_metric metric = c->ix->metric;
    if (s->table_of != q || (codec->residual && s->residual_list != list)) prepare_pq_table(s, c, q, list);
    if (codec->format == NEARKIT_CODEC_PQ4)
        nearkit_codec_pq4_distances(s->dist, s->sums, codec, metric, &s->lut, codes, n,
                                    nearkit_ivf_list_block_rows(view->lists, list, r0 + n - 1), s->pq4);
    else
        nearkit_codec_table_distances(s->dist, codec, metric, s->table, codes, n);
    if (codec->residual && !ranks_by_l2(metric))
        for (size_t i = 0; i < n; i++) s->dist[i] += s->centroid_term;
}

/* Code distances of the query to rows [r0, r0 + n) of a list into s->dist. */
static void block_distances(codes_scratch *s, const nearkit_search_call *c, const float *q,
                            const nearkit_ivf_list *list, uint64_t r0, size_t n) {
    const nearkit_codec *codec = nearkit_ivf_view_of(c)->codec;
    const uint8_t *codes = list->codes + r0 * codec->code_size;
    if (nearkit_ivf_view_of(c)->rabitq) {
        rabitq_block_distances(s, c, q, list, codes, n);
        return;
    }
    if (nearkit_codec_uses_tables(codec)) {
        pq_block_distances(s, c, q, list, r0, n);
        return;
    }
    if (codec->residual) {
        residual_block_distances(s, c, q, list, codes, n);
        return;
    }
    nearkit_codec_distances(s->dist, nearkit_kernels(), codec, c->ix->metric, q, codes, n);
}

/* Rows of the block at r0 of a scan of `rows` rows. */
static size_t block_rows(uint64_t rows, uint64_t r0) {
    return rows - r0 < SCAN_ROWS ? (size_t)(rows - r0) : SCAN_ROWS;
}

/* The rows of a block whose values can enter a query's shortlist, pushed. */
static void push_block(nearkit_shortlist *h, const float *dist, const uint32_t *positions, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (dist[i] <= h->bound) nearkit_shortlist_push(h, dist[i], positions[i]);
}

static void knn_begin(void *scratch) {
    codes_scratch *s = scratch;
    nearkit_shortlist_init(&s->best, s->best_dist, s->best_pos, s->cap, s->ids);
}

static void knn_scan(void *scratch, const nearkit_search_call *c, const void *query,
                     const nearkit_ivf_list *list, uint64_t rows) {
    codes_scratch *s = scratch;
    for (uint64_t r0 = 0; r0 < rows; r0 += SCAN_ROWS) {
        size_t n = block_rows(rows, r0);
        block_distances(s, c, query, list, r0, n);
        push_block(&s->best, s->dist, list->positions + r0, n);
    }
}

/* Writes row q from its candidates `best`: as they are, or their k best by exact value (the
 * exact heap from s). */
static void finish_query(codes_scratch *s, const nearkit_search_call *c, uint64_t q, nearkit_topk *best) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    if (!view->refine_k && view->rabitq) {
        /* the k kept by their estimates, reported within the metric's range (rabitq.h); rows that
         * the clamp made equal are shown in increasing id order, as the header promises (as l2
         * rooting's new ties are) */
        nearkit_topk_sort(best);
        for (size_t i = 0; i < best->size; i++) best->dist[i] = nearkit_rabitq_in_range(c->ix->metric, best->dist[i]);
        nearkit_write_sorted(c, q, best);
        uint64_t found = best->size < c->k ? best->size : c->k;
        nearkit_sort_row(c->ids + q * c->stride, c->dist + q * c->stride, found);
        return;
    }
    if (!view->refine_k) {
        nearkit_write_heap(c, q, best);
        return;
    }
    const float *query = nearkit_query_at(c, q);
    nearkit_topk exact;
    nearkit_topk_init(&exact, s->exact_dist, s->exact_pos, (size_t)c->k, view->position_ids);
    size_t row_bytes = (size_t)c->ix->vector_bytes, ahead = nearkit_rerank_ahead(row_bytes);
    for (size_t i = 0; i < best->size; i++) {
        nearkit_rerank_prefetch(view->originals, row_bytes, best->pos, best->size, i, ahead);
        uint32_t pos = (uint32_t)best->pos[i];
        float d = exact_distance(c, query, pos);
        if (d <= nearkit_topk_bound(&exact)) nearkit_topk_push(&exact, d, pos);
    }
    nearkit_write_heap(c, q, &exact);
}

static void knn_finish(void *scratch, const nearkit_search_call *c, uint64_t q) {
    codes_scratch *s = scratch;
    nearkit_topk best;
    nearkit_shortlist_finish(&s->best, &best);
    finish_query(s, c, q, &best);
}

static int64_t position_id(const nearkit_search_call *c, uint32_t pos) {
    const int64_t *ids = nearkit_ivf_view_of(c)->position_ids;
    return ids ? ids[pos] : (int64_t)pos;
}

/* Filtered: distances a block at a time (a code distance costs little more than a filter test);
 * a row that would enter the heap is tested, or, where few are admitted, every row is, to count
 * them. */
static uint64_t knn_scan_admitted(void *scratch, const nearkit_search_call *c, const void *query,
                                  const nearkit_ivf_list *list) {
    codes_scratch *s = scratch;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    uint64_t admitted = 0;
    for (uint64_t r0 = 0; r0 < list->size; r0 += SCAN_ROWS) {
        size_t n = block_rows(list->size, r0);
        block_distances(s, c, query, list, r0, n);
        for (size_t i = 0; i < n; i++) {
            bool near = s->dist[i] <= s->best.bound;
            if (!near && !view->admit_first) continue;
            uint32_t pos = list->positions[r0 + i];
            if (!nearkit_call_admits(c, position_id(c, pos))) continue;
            admitted++;
            if (near) nearkit_shortlist_push(&s->best, s->dist[i], pos);
        }
    }
    return view->admit_first ? admitted : (uint64_t)((double)list->size * view->selectivity + 0.5);
}

static uint64_t knn_held(const void *scratch) { return nearkit_shortlist_held(&((const codes_scratch *)scratch)->best); }

/* Range: with a re-rank the original vectors are scored, every row of the list (a code's
 * distance has no cheap bound on its error, so filtering on it could lose matches); else the
 * codes. */
static bool range_scan(void *scratch, const nearkit_search_call *c, uint64_t q, const void *query,
                       const nearkit_ivf_list *list, uint64_t rows) {
    codes_scratch *s = scratch;
    bool refine = nearkit_ivf_view_of(c)->refine_k > 0;
    for (uint64_t r0 = 0; r0 < rows; r0 += SCAN_ROWS) {
        size_t n = block_rows(rows, r0);
        if (!refine) block_distances(s, c, query, list, r0, n);
        for (size_t i = 0; i < n; i++) {
            uint32_t pos = list->positions[r0 + i];
            float code_dist = nearkit_ivf_view_of(c)->rabitq ? nearkit_rabitq_in_range(c->ix->metric, s->dist[i]) : s->dist[i];
            float dist = nearkit_reported(c->ix, refine ? exact_distance(c, query, pos) : code_dist);
            if (!(dist <= c->radius)) continue;
            int64_t id = position_id(c, pos);
            if (c->admit && !nearkit_call_admits(c, id)) continue;
            if (!nearkit_add_match(c, q, id, dist)) return false;
        }
    }
    return true;
}

/* ---- batches ----------------------------------------------------------------------------------- */

/* A batch chooses the lists of all its queries at once through sgemm against the centroids
 * (nearkit_ivf_probe_batch: the same lists as one by one), then scans each query's lists as a
 * query alone does. Choosing lists query by query costs nlist x d per query, as much as scanning
 * several lists of codes: at small nprobe it was most of the time. Unfiltered calls only (a
 * filter widens the probing query by query). */
#define BATCH_MIN_QUERIES 8
#define BATCH_ROUND 4096 /* queries whose lists are chosen together */

typedef struct group_scratch group_scratch;

typedef struct codes_batch {
    const nearkit_search_call *c;
    uint64_t q0;         /* the round's first query */
    uint32_t nprobe;
    const uint32_t *probes; /* the round's: nprobe per query */
    void **scratch;      /* per worker */
    group_scratch *groups; /* per worker, where the batch is grouped by list (else NULL) */
    uint64_t share;      /* grouped: queries a worker takes at once, at most */
} codes_batch;

static void batch_queries(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    const codes_batch *b = ctx;
    const nearkit_search_call *c = b->c;
    const nearkit_ivf_lists *lists = nearkit_ivf_view_of(c)->lists;
    void *s = b->scratch[worker];
    for (uint64_t i = begin; i < end; i++) {
        uint64_t q = b->q0 + i;
        const void *query = nearkit_query_at(c, q);
        knn_begin(s);
        for (uint32_t p = 0; p < b->nprobe; p++) {
            const nearkit_ivf_list *list = &lists->list[b->probes[i * b->nprobe + p]];
            knn_scan(s, c, query, list, list->size);
        }
        knn_finish(s, c, q);
    }
}

/* ---- batches grouped by list -------------------------------------------------------------------
 * Codes scored by a kernel (fp16, bf16, sq8, sq4): a worker takes a share of the round's queries,
 * groups them by the lists they probe, and scans each list once for all of them. A block of the
 * list's codes is decoded once (kernels' code_decode) and scored against each of those queries
 * with the float kernels, which by the kernels' contract give the code kernels' values bit for
 * bit: the answers are those of one query at a time, while the decoding and the codes' trip from
 * memory are shared by the queries probing the list (a batch of 1,000 at nprobe 9 over 980 lists:
 * about 9). pq4's fast scan likewise: each query's rounded table made once, then each list's
 * blocks summed against every member's table while they are in L1 (the same integers as one
 * query alone, so the same values). */
#define GROUP_ROWS 8       /* codes decoded at a time: 8 rows of d floats stay in L1 up to d 1024 */
#define GROUP_QUERIES 32   /* queries of a list prepared together (their residuals to its centroid) */
#define GROUP_SHARE 1024   /* queries a worker groups at once, at most */
#define GROUP_MEMBERS (1u << 22) /* share x nprobe at most (16 MB of members per worker) */
#define GROUP_PQ4_TABLE_BYTES (8u << 20) /* pq4: the share's rounded tables, at most, per worker */

struct group_scratch {
    uint64_t first;        /* the share's first query (in the round) */
    nearkit_shortlist *heaps; /* per query of the share (room for 2 * cap each) */
    float *heap_dist;
    uint64_t *heap_pos;
    size_t cap;            /* each query's candidates */
    uint32_t *offsets;     /* nlist + 1: where each list's members start */
    uint32_t *members;     /* share x nprobe: the share's queries (from first) probing each list */
    float *decoded;        /* GROUP_ROWS x d */
    float *prepared;       /* GROUP_QUERIES x d: l2 queries minus the list's centroid (residual codes) */
    float terms[GROUP_QUERIES]; /* dot products, residual codes: minus the query's dot with the centroid */
    float dist[GROUP_ROWS];
    /* pq4: every query of the share's table, rounded (made once per query, as one query alone
     * makes it), and a chunk's sums and values */
    nearkit_pq4_lut *luts;  /* per query of the share: lo and hi point into planes */
    uint8_t *planes;        /* share x 2 x columns x 32 */
    uint16_t *sums;         /* SCAN_ROWS */
    float *chunk_dist;      /* SCAN_ROWS */
    float *list_terms;      /* pq4 codes of residuals under ip: per query of the share, its centroid term */
};

static bool is_pq4(const nearkit_ivf_view *view) { return view->codec->format == NEARKIT_CODEC_PQ4; }

/* Kernel-scored codes, and pq4's fast scan (its tables made per query, not per list); not pq8's
 * float tables, nor RaBitQ. */
static bool groups_apply(const nearkit_ivf_view *view) {
    return !view->rabitq && (!nearkit_codec_uses_tables(view->codec) || is_pq4(view));
}

static void group_scratch_free(group_scratch *g) {
    free(g->heaps);
    free(g->heap_dist);
    free(g->heap_pos);
    free(g->offsets);
    free(g->members);
    free(g->decoded);
    free(g->prepared);
    free(g->luts);
    free(g->planes);
    free(g->sums);
    free(g->chunk_dist);
    free(g->list_terms);
}

/* pq4: the share's tables and a chunk's sums (true when allocated or not needed). */
static bool group_pq4_alloc(group_scratch *g, const nearkit_ivf_view *view, size_t share) {
    if (!is_pq4(view)) return true;
    size_t plane = view->codec->code_size * NEARKIT_PQ4_BLOCK;
    g->luts = nearkit_alloc_array(share, sizeof *g->luts);
    g->planes = nearkit_alloc_array(share * 2, plane);
    g->sums = nearkit_alloc_array(SCAN_ROWS, sizeof(uint16_t));
    g->chunk_dist = nearkit_alloc_array(SCAN_ROWS, sizeof(float));
    g->list_terms = nearkit_alloc_array(share, sizeof(float));
    if (!g->luts || !g->planes || !g->sums || !g->chunk_dist || !g->list_terms) return false;
    for (size_t i = 0; i < share; i++)
        g->luts[i] = (nearkit_pq4_lut){.lo = g->planes + 2 * i * plane, .hi = g->planes + (2 * i + 1) * plane};
    return true;
}

static bool group_scratch_alloc(group_scratch *g, const codes_batch *b) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(b->c);
    size_t share = (size_t)b->share, d = view->codec->dimension, k, cap = candidates_of(b->c, &k);
    *g = (group_scratch){
        .heaps = nearkit_alloc_array(share, sizeof(nearkit_shortlist)),
        .heap_dist = nearkit_alloc_array(share * 2 * cap, sizeof(float)),
        .heap_pos = nearkit_alloc_array(share * 2 * cap, sizeof(uint64_t)),
        .offsets = nearkit_alloc_array((size_t)view->quantizer->nlist + 1, sizeof(uint32_t)),
        .members = nearkit_alloc_array(share * b->nprobe, sizeof(uint32_t)),
        .decoded = nearkit_alloc_array((size_t)GROUP_ROWS * d, sizeof(float)),
        .prepared = nearkit_alloc_array((size_t)GROUP_QUERIES * d, sizeof(float)),
    };
    g->cap = cap;
    return g->heaps && g->heap_dist && g->heap_pos && g->offsets && g->members && g->decoded && g->prepared &&
           group_pq4_alloc(g, view, share);
}

/* The members of each list: the queries [begin, end) of the round probing it, in query order
 * (counted, summed, filled, then the starts shifted back into place). */
static void group_by_list(group_scratch *g, const codes_batch *b, uint64_t begin, uint64_t end, uint32_t nlist) {
    memset(g->offsets, 0, ((size_t)nlist + 1) * sizeof *g->offsets);
    const uint32_t *probes = b->probes + begin * b->nprobe;
    size_t n = (size_t)((end - begin) * b->nprobe);
    for (size_t p = 0; p < n; p++) g->offsets[probes[p] + 1]++;
    for (uint32_t l = 0; l < nlist; l++) g->offsets[l + 1] += g->offsets[l];
    for (size_t p = 0; p < n; p++) g->members[g->offsets[probes[p]]++] = (uint32_t)(p / b->nprobe);
    for (uint32_t l = nlist; l > 0; l--) g->offsets[l] = g->offsets[l - 1];
    g->offsets[0] = 0;
}

/* Readies up to GROUP_QUERIES members of list l: the query itself, or for residual codes its
 * residual to the centroid (l2, as residual_block_distances makes it) or its centroid term. */
static void prepare_members(group_scratch *g, const codes_batch *b, uint32_t l, const uint32_t *members, size_t n,
                            const float **qs) {
    const nearkit_search_call *c = b->c;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    size_t d = view->codec->dimension;
    const float *centroid = view->quantizer->centroids + (size_t)l * d;
    for (size_t j = 0; j < n; j++) {
        const float *q = nearkit_query_at(c, b->q0 + g->first + members[j]);
        qs[j] = q;
        if (!view->codec->residual) continue;
        if (ranks_by_l2(c->ix->metric)) {
            float *r = g->prepared + j * d;
            for (size_t i = 0; i < d; i++) r[i] = q[i] - centroid[i];
            qs[j] = r;
        } else {
            g->terms[j] = list_centroid_term(view, q, &view->lists->list[l]);
        }
    }
}

/* Scans list l once for its members (count of them): each block of codes decoded, then scored
 * against each member with the float kernels. */
static void scan_list_grouped(group_scratch *g, const codes_batch *b, uint32_t l, const uint32_t *members,
                              size_t count) {
    const nearkit_search_call *c = b->c;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const nearkit_codec *codec = view->codec;
    const nearkit_kernel_table *kt = nearkit_kernels();
    const nearkit_ivf_list *list = &view->lists->list[l];
    size_t d = codec->dimension, cs = codec->code_size;
    nearkit_metric metric = c->ix->metric;
    const float *qs[GROUP_QUERIES];
    for (size_t m0 = 0; m0 < count; m0 += GROUP_QUERIES) {
        size_t mn = count - m0 < GROUP_QUERIES ? count - m0 : GROUP_QUERIES;
        prepare_members(g, b, l, members + m0, mn, qs);
        for (uint64_t r0 = 0; r0 < list->size; r0 += GROUP_ROWS) {
            size_t n = list->size - r0 < GROUP_ROWS ? (size_t)(list->size - r0) : GROUP_ROWS;
            kt->code_decode[codec->format](g->decoded, list->codes + r0 * cs, codec->step, codec->base, n, d);
            for (size_t j = 0; j < mn; j++) {
                if (ranks_by_l2(metric)) {
                    kt->l2sq_many(g->dist, qs[j], g->decoded, n, d);
                    nearkit_codec_values_of_l2(g->dist, n, metric);
                } else {
                    kt->dot_many(g->dist, qs[j], g->decoded, n, d);
                    values_of_dots(g->dist, n, codec->residual, g->terms[j]);
                }
                push_block(&g->heaps[members[m0 + j]], g->dist, list->positions + r0, n);
            }
        }
    }
}

/* pq4: the tables of the share's queries [begin, end), each made as one query alone makes it
 * (block_distances), through the worker's scratch room; none where they are made per list. */
static void prepare_pq4_tables(group_scratch *g, codes_scratch *s, const codes_batch *b, uint64_t begin,
                               uint64_t end) {
    const nearkit_search_call *c = b->c;
    const nearkit_codec *codec = nearkit_ivf_view_of(c)->codec;
    for (uint64_t i = 0; i < end - begin && !table_per_list(codec, c->ix->metric); i++) {
        nearkit_pq4_lut *lut = &g->luts[i];
        lut->lows = s->lut.lows;
        lut->padded = s->lut.padded;
        nearkit_codec_table(s->table, codec, c->ix->metric, nearkit_query_at(c, b->q0 + begin + i));
        nearkit_codec_pq4_lut(lut, codec, s->table);
    }
    s->table_of = NULL; /* its table no longer that of the query it names */
}

/* pq4 codes of residuals: each member's table for list l, made as one query alone makes it
 * (prepare_pq_table), into its room (l2: its residual's table; ip: its centroid term). */
static void prepare_pq4_list(group_scratch *g, codes_scratch *s, const codes_batch *b, uint32_t l,
                             const uint32_t *members, size_t count) {
    const nearkit_search_call *c = b->c;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const nearkit_ivf_list *list = &view->lists->list[l];
    for (size_t j = 0; j < count; j++) {
        const float *q = nearkit_query_at(c, b->q0 + g->first + members[j]);
        if (!table_per_list(view->codec, c->ix->metric)) {
            g->list_terms[members[j]] = list_centroid_term(view, q, list);
            continue;
        }
        nearkit_pq4_lut *own = &g->luts[members[j]], kept = s->lut;
        s->lut = (nearkit_pq4_lut){.lo = own->lo, .hi = own->hi, .lows = kept.lows, .padded = kept.padded};
        s->table_of = NULL; /* made afresh, whatever it last held */
        prepare_pq_table(s, c, q, list);
        *own = s->lut;
        s->lut = kept;
    }
    s->table_of = NULL; /* its table no longer that of the query it names */
}

/* pq4: list l scanned once for its members, a chunk of blocks at a time (at most SCAN_ROWS codes
 * and PQ4_CHUNK_BYTES, so that it stays in L1 while every member's table is summed over it). The
 * sums and values are those block_distances makes for each query alone. */
#define PQ4_CHUNK_BYTES 16384
static void scan_list_pq4(group_scratch *g, codes_scratch *s, const codes_batch *b, uint32_t l,
                          const uint32_t *members, size_t count) {
    const nearkit_search_call *c = b->c;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const nearkit_codec *codec = view->codec;
    const nearkit_ivf_list *list = &view->lists->list[l];
    bool ip_terms = codec->residual && !ranks_by_l2(c->ix->metric);
    if (codec->residual) prepare_pq4_list(g, s, b, l, members, count);
    nearkit_pq4_kernel kernel = nearkit_pq4_kernel_of(nearkit_kernels());
    size_t block_bytes = codec->code_size * NEARKIT_PQ4_BLOCK, blocks = PQ4_CHUNK_BYTES / block_bytes;
    size_t rows = blocks < 1 ? NEARKIT_PQ4_BLOCK : blocks * NEARKIT_PQ4_BLOCK;
    rows = rows < SCAN_ROWS ? rows : SCAN_ROWS;
    for (uint64_t r0 = 0; r0 < list->size; r0 += rows) {
        size_t n = list->size - r0 < rows ? (size_t)(list->size - r0) : rows;
        const uint8_t *codes = list->codes + r0 * codec->code_size;
        size_t last_rows = nearkit_ivf_list_block_rows(view->lists, list, r0 + n - 1);
        for (size_t j = 0; j < count; j++) {
            nearkit_codec_pq4_distances(g->chunk_dist, g->sums, codec, c->ix->metric, &g->luts[members[j]], codes, n,
                                        last_rows, kernel);
            for (size_t i = 0; ip_terms && i < n; i++) g->chunk_dist[i] += g->list_terms[members[j]];
            push_block(&g->heaps[members[j]], g->chunk_dist, list->positions + r0, n);
        }
    }
}

/* A worker's share of the round, queries [begin, end): grouped, every probed list scanned once,
 * then each query finished as one query alone is. */
static void grouped_queries(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    const codes_batch *b = ctx;
    const nearkit_search_call *c = b->c;
    group_scratch *g = &b->groups[worker];
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    uint32_t nlist = view->quantizer->nlist;
    g->first = begin;
    for (uint64_t i = 0; i < end - begin; i++)
        nearkit_shortlist_init(&g->heaps[i], g->heap_dist + i * 2 * g->cap, g->heap_pos + i * 2 * g->cap, g->cap,
                               view->position_ids);
    group_by_list(g, b, begin, end, nlist);
    bool pq4 = is_pq4(view);
    if (pq4) prepare_pq4_tables(g, b->scratch[worker], b, begin, end);
    for (uint32_t l = 0; l < nlist; l++) {
        if (g->offsets[l + 1] == g->offsets[l]) continue;
        size_t count = g->offsets[l + 1] - g->offsets[l];
        if (pq4) scan_list_pq4(g, b->scratch[worker], b, l, g->members + g->offsets[l], count);
        else scan_list_grouped(g, b, l, g->members + g->offsets[l], count);
    }
    for (uint64_t i = 0; i < end - begin; i++) {
        nearkit_topk best;
        nearkit_shortlist_finish(&g->heaps[i], &best);
        finish_query(b->scratch[worker], c, b->q0 + begin + i, &best);
    }
}

static bool batch_applies(const nearkit_search_call *c) { return !c->admit && c->n >= BATCH_MIN_QUERIES; }

static nearkit_status knn_batch(const nearkit_search_call *c, uint32_t threads) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    uint64_t round = c->n < BATCH_ROUND ? c->n : BATCH_ROUND;
    codes_batch b = {.c = c, .nprobe = view->batch_probes};
    uint32_t *probes = nearkit_alloc_array((size_t)(round * b.nprobe), sizeof(uint32_t));
    b.scratch = calloc(threads, sizeof *b.scratch);
    bool grouped = groups_apply(view);
    /* grouped: each worker one share of the round (at most GROUP_SHARE queries) */
    b.share = (round + threads - 1) / threads;
    b.share = b.share < GROUP_SHARE ? b.share : GROUP_SHARE;
    uint64_t most = GROUP_MEMBERS / (b.nprobe ? b.nprobe : 1); /* the members' room, bounded */
    b.share = b.share < most ? b.share : most > 0 ? most : 1;
    if (is_pq4(view)) { /* the share's tables, bounded */
        uint64_t tables = GROUP_PQ4_TABLE_BYTES / (2 * view->codec->code_size * NEARKIT_PQ4_BLOCK);
        b.share = b.share < tables ? b.share : tables > 0 ? tables : 1;
    }
    if (grouped) b.groups = calloc(threads, sizeof *b.groups);
    nearkit_status st = probes && b.scratch && (!grouped || b.groups) ? NEARKIT_OK : nearkit_oom();
    for (uint32_t w = 0; !st && w < threads; w++)
        if (!(b.scratch[w] = scratch_new(c)) || (grouped && !group_scratch_alloc(&b.groups[w], &b))) st = nearkit_oom();
    b.probes = probes;
    for (b.q0 = 0; !st && b.q0 < c->n; b.q0 += round) {
        nearkit_search_call part = *c;
        part.queries = nearkit_query_at(c, b.q0);
        part.n = c->n - b.q0 < round ? c->n - b.q0 : round;
        st = nearkit_ivf_probe_batch(view->quantizer, &part, b.nprobe, probes, threads);
        if (!st && grouped) nearkit_parallel_for(threads, part.n, b.share, grouped_queries, &b);
        else if (!st) nearkit_parallel_for(threads, part.n, MAX_CHUNK, batch_queries, &b);
    }
    for (uint32_t w = 0; b.groups && w < threads; w++) group_scratch_free(&b.groups[w]);
    free(b.groups);
    for (uint32_t w = 0; b.scratch && w < threads; w++) scratch_free(b.scratch[w]);
    free(b.scratch);
    free(probes);
    return st;
}

const nearkit_ivf_scanner nearkit_ivf_scan_codes = {
    .max_chunk = MAX_CHUNK,
    .scratch_new = scratch_new,
    .scratch_free = scratch_free,
    .scratch_reuse = scratch_reuse,
    .knn_begin = knn_begin,
    .knn_scan = knn_scan,
    .knn_finish = knn_finish,
    .knn_scan_admitted = knn_scan_admitted,
    .knn_held = knn_held,
    .range_scan = range_scan,
    .batch_applies = batch_applies,
    .knn_batch = knn_batch,
};
