/* The scanner of float32 codes, the vectors themselves (ivf_scan.h), for l2, cosine and ip.
 *
 * Single queries and small batches scan lists with the SIMD kernels, which give the flat index's
 * exact values. Larger batches are grouped by list: every probed list is scanned once per batch,
 * against all the queries that probe it, through one sgemm per block; the few best candidates per
 * query are then re-scored with the kernels and kept when the sgemm error bound proves them the
 * exact k best, else the query's lists are rescanned with the kernels. Reported distances are
 * therefore the flat index's, and probing every list gives exactly its results.
 *
 * A filtered batch does the same over the rows the filter admits: each block's admitted rows are
 * found once for all the queries probing the list and copied together for one sgemm, so only
 * they cost arithmetic. A query whose lists hold fewer than k admitted rows goes on alone, list
 * by list in centroid order, until it has k. */
#include "codes/ivf_scan.h"
#include "kernels/kernels.h"
#include "search/tile_scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_BLOCK 16        /* queries per task, one by one or when settling a batch */
#define LIST_BLOCK 1024       /* list rows per sgemm or kernel call */
#define GEMM_QUERY_BLOCK 256  /* queries of one list group per sgemm */
#define GEMM_MIN_QUERIES 8    /* smaller batches take the kernel path */
#define GEMM_MIN_DIMENSION 24
#define GEMM_MIN_GROUP 4      /* a list probed by fewer queries of a batch is scanned by kernels */
#define ROUND_MAX 65536       /* queries grouped together at most */
#define HEAP_BYTES (64u << 20) /* candidate heaps of one batch round, over all workers */
#define PACKED_BYTES (1u << 20) /* a filtered batch's admitted rows copied together, per worker */

/* A batch's candidates are named by where they are, (list << ROW_BITS) | row, until settled:
 * consecutive rows of a list have consecutive handles. Lists number below 2^22. */
#define ROW_BITS 42

static bool is_l2(const nearkit_index *ix) { return ix->metric == NEARKIT_METRIC_L2; }

static const float *list_row(const nearkit_index *ix, const nearkit_ivf_list *list, uint64_t row) {
    return (const float *)list->codes + row * ix->dimension;
}

/* ---- distances --------------------------------------------------------------------------------- */

/* Exact values of a query to rows [row, row + rows) of a list, as flat computes them (l2 squared). */
/* `streamed`: the rows come from memory (see nearkit_metric_distances_streamed). */
static void row_distances(float *out, const nearkit_index *ix, const float *q, const nearkit_ivf_list *list,
                          uint64_t row, size_t rows, bool streamed) {
    (streamed ? nearkit_metric_distances_streamed : nearkit_metric_distances)(
        out, NULL, nearkit_kernels(), ix->metric, q, list_row(ix, list, row), rows, ix->dimension,
        (size_t)ix->vector_bytes);
}

/* Whether the lists are too large in all for a query's probes to find theirs in cache. */
static bool lists_from_memory(const nearkit_index *ix, const nearkit_ivf_lists *lists) {
    return lists->count * ix->vector_bytes >= NEARKIT_STREAMED_MIN_BYTES;
}

static float row_distance(const nearkit_index *ix, const float *q, const float *x) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    if (is_l2(ix)) return kt->l2sq(q, x, ix->dimension);
    float dot = kt->dot(q, x, ix->dimension);
    return ix->metric == NEARKIT_METRIC_COSINE ? 1.0f - dot : -dot;
}

/* Offers rows to a heap named by their ids (handles < 0) or by their handles (first + i). */
static void push_rows(nearkit_topk *h, const float *d, const int64_t *ids, int64_t first, size_t rows) {
    if (first >= 0) {
        nearkit_topk_push_block(h, d, (uint64_t)first, rows);
        return;
    }
    float bound = nearkit_topk_bound(h);
    for (size_t i = 0; i < rows; i++) {
        if (d[i] <= bound) {
            nearkit_topk_push(h, d[i], (uint64_t)ids[i]);
            bound = nearkit_topk_bound(h);
        }
    }
}

/* Scans a list for one query with the kernels (exact values), LIST_BLOCK rows per kernel call.
 * Where the lists come from memory the streamed kernel asks for each next row while it scans one;
 * fetching whole blocks of rows ahead as well (this scan's earlier way) only doubled the prefetch
 * traffic: measured, one query per call with 16 lists probed, AVX-512 EPYC, thread CPU time, the
 * two ways alternating: Fashion-MNIST (784-d l2) 0.085-0.090 s against 0.061-0.073 s per 300
 * queries, 200,000 x 768 cosine 0.119-0.121 s against 0.095-0.097 s, 1M x 128 l2 0.067-0.073 s
 * against 0.057-0.061 s. Candidates are named by id, or, where handle >= 0, by handle + row. Scans
 * the list's first n rows. */
static void scan_kernels(nearkit_topk *h, float *buf, const nearkit_index *ix, const float *q,
                         const nearkit_ivf_list *list, uint64_t n, int64_t handle, bool streamed) {
    for (uint64_t r = 0; r < n; r += LIST_BLOCK) {
        size_t rows = n - r < LIST_BLOCK ? (size_t)(n - r) : LIST_BLOCK;
        row_distances(buf, ix, q, list, r, rows, streamed);
        push_rows(h, buf, list->ids + r, handle < 0 ? -1 : handle + (int64_t)r, rows);
    }
}

/* The rows of ids[0, n) the call admits, as offsets into out; returns how many. */
static size_t admitted_rows(uint32_t *out, const nearkit_search_call *c, const int64_t *ids, size_t n) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        out[m] = (uint32_t)i;
        m += nearkit_call_admits(c, ids[i]);
    }
    return m;
}

/* Offers the rows [row, row + n) of a list that the call admits (their offsets in `at`) to a
 * heap named by id (handle < 0) or by handle + row. */
static void push_admitted(nearkit_topk *h, const nearkit_search_call *c, const float *q,
                          const nearkit_ivf_list *list, uint64_t row, const uint32_t *at, size_t n,
                          int64_t handle) {
    float bound = nearkit_topk_bound(h);
    for (size_t j = 0; j < n; j++) {
        uint64_t r = row + at[j];
        float d = row_distance(c->ix, q, list_row(c->ix, list, r));
        if (d > bound) continue;
        nearkit_topk_push(h, d, handle < 0 ? (uint64_t)list->ids[r] : (uint64_t)handle + r);
        bound = nearkit_topk_bound(h);
    }
}

/* scan_kernels for a filtered call: ids tested first, distances of the admitted rows only. */
static void scan_kernels_admitted(nearkit_topk *h, uint32_t *at, const nearkit_search_call *c, const float *q,
                                  const nearkit_ivf_list *list, int64_t handle) {
    for (uint64_t r = 0; r < list->size; r += LIST_BLOCK) {
        size_t rows = list->size - r < LIST_BLOCK ? (size_t)(list->size - r) : LIST_BLOCK;
        push_admitted(h, c, q, list, r, at, admitted_rows(at, c, list->ids + r, rows), handle);
    }
}

/* ---- one query at a time ----------------------------------------------------------------------- */

typedef struct kernel_scratch {
    nearkit_topk best; /* candidates named by id */
    size_t k;
    float *heap_dist, *buf;
    uint64_t *heap_pos;
} kernel_scratch;

static void kernel_scratch_free(void *scratch) {
    kernel_scratch *s = scratch;
    if (!s) return;
    free(s->heap_dist);
    free(s->heap_pos);
    free(s->buf);
    free(s);
}

static void *kernel_scratch_new(const nearkit_search_call *c) {
    kernel_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->k = (size_t)c->k;
    s->heap_dist = nearkit_alloc_array((size_t)c->k, sizeof(float));
    s->heap_pos = nearkit_alloc_array((size_t)c->k, sizeof(uint64_t));
    s->buf = nearkit_alloc_array(LIST_BLOCK, sizeof(float));
    if (s->heap_dist && s->heap_pos && s->buf) return s;
    kernel_scratch_free(s);
    return NULL;
}

/* Everything but the heap's size is the same for every call. */
static bool kernel_scratch_reuse(void *scratch, const nearkit_search_call *c) {
    return ((kernel_scratch *)scratch)->k == c->k;
}

static void knn_begin(void *scratch) {
    kernel_scratch *s = scratch;
    nearkit_topk_init(&s->best, s->heap_dist, s->heap_pos, s->k, NULL);
}

static void knn_scan(void *scratch, const nearkit_search_call *c, const void *query,
                     const nearkit_ivf_list *list, uint64_t rows) {
    kernel_scratch *s = scratch;
    scan_kernels(&s->best, s->buf, c->ix, query, list, rows, -1, lists_from_memory(c->ix, nearkit_ivf_view_of(c)->lists));
}

static void knn_finish(void *scratch, const nearkit_search_call *c, uint64_t q) {
    nearkit_write_heap(c, q, &((kernel_scratch *)scratch)->best);
}

/* Few rows admitted: each row's id is tested first, and only admitted rows get a distance. */
static uint64_t scan_admit_first(kernel_scratch *s, const nearkit_search_call *c, const float *q,
                                 const nearkit_ivf_list *list) {
    uint64_t admitted = 0;
    float bound = nearkit_topk_bound(&s->best);
    for (uint64_t r = 0; r < list->size; r++) {
        if (!nearkit_call_admits(c, list->ids[r])) continue;
        admitted++;
        float d = row_distance(c->ix, q, list_row(c->ix, list, r));
        if (d <= bound) {
            nearkit_topk_push(&s->best, d, (uint64_t)list->ids[r]);
            bound = nearkit_topk_bound(&s->best);
        }
    }
    return admitted;
}

/* Many rows admitted: distances a block at a time, and only rows that would enter the heap are
 * tested. The admitted rows are estimated from the call's selectivity. */
static uint64_t scan_admit_after(kernel_scratch *s, const nearkit_search_call *c, const float *q,
                                 const nearkit_ivf_list *list) {
    for (uint64_t r = 0; r < list->size; r += LIST_BLOCK) {
        size_t rows = list->size - r < LIST_BLOCK ? (size_t)(list->size - r) : LIST_BLOCK;
        row_distances(s->buf, c->ix, q, list, r, rows, lists_from_memory(c->ix, nearkit_ivf_view_of(c)->lists));
        float bound = nearkit_topk_bound(&s->best);
        for (size_t i = 0; i < rows; i++) {
            if (s->buf[i] > bound || !nearkit_call_admits(c, list->ids[r + i])) continue;
            nearkit_topk_push(&s->best, s->buf[i], (uint64_t)list->ids[r + i]);
            bound = nearkit_topk_bound(&s->best);
        }
    }
    return (uint64_t)((double)list->size * nearkit_ivf_view_of(c)->selectivity + 0.5);
}

static uint64_t knn_scan_admitted(void *scratch, const nearkit_search_call *c, const void *query,
                                  const nearkit_ivf_list *list) {
    return nearkit_ivf_view_of(c)->admit_first ? scan_admit_first(scratch, c, query, list)
                                               : scan_admit_after(scratch, c, query, list);
}

static uint64_t knn_held(const void *scratch) { return ((const kernel_scratch *)scratch)->best.size; }

static bool range_scan(void *scratch, const nearkit_search_call *c, uint64_t q, const void *query,
                       const nearkit_ivf_list *list, uint64_t n) {
    kernel_scratch *s = scratch;
    const nearkit_index *ix = c->ix;
    for (uint64_t r = 0; r < n; r += LIST_BLOCK) {
        size_t rows = n - r < LIST_BLOCK ? (size_t)(n - r) : LIST_BLOCK;
        row_distances(s->buf, ix, query, list, r, rows, lists_from_memory(ix, nearkit_ivf_view_of(c)->lists));
        for (size_t i = 0; i < rows; i++) {
            float dist = nearkit_reported(ix, s->buf[i]);
            if (dist > c->radius || (c->admit && !nearkit_call_admits(c, list->ids[r + i]))) continue;
            if (!nearkit_add_match(c, q, list->ids[r + i], dist)) return false;
        }
    }
    return true;
}

/* ---- a batch: queries grouped by list, lists scanned through sgemm ----------------------------- */

/* One worker's share of a round: a candidate heap for every query of the round, and buffers. */
typedef struct batch_worker {
    nearkit_topk *heaps;  /* candidates named by handle */
    float *heap_dist;
    uint64_t *heap_pos;
    bool *approximate;    /* per query of the round: a candidate came from a sgemm scan */
    float *gathered;      /* GEMM_QUERY_BLOCK x d */
    float *tile;          /* GEMM_QUERY_BLOCK x LIST_BLOCK */
    float *buf;           /* LIST_BLOCK */
    /* filtered calls: the admitted rows of a block, copied together for one sgemm */
    uint32_t *at;         /* LIST_BLOCK: their offsets in the block */
    float *packed;        /* packed_rows x d */
    float *packed_norms;  /* packed_rows, l2 */
} batch_worker;

typedef struct batch_task {
    const nearkit_search_call *call;
    const nearkit_ivf_view *view;
    uint32_t threads;
    uint64_t cap;            /* candidates kept per query before re-scoring */
    uint64_t q0, nq;         /* the round: queries [q0, q0 + nq) */
    uint32_t nprobe;         /* lists per query (the view's batch_probes) */
    size_t packed_rows;      /* filtered calls: admitted rows per packed sgemm */
    uint32_t *probes;        /* nq x nprobe */
    float *qnorms;           /* nq, l2 only */
    uint64_t *group_offsets; /* nlist + 1 */
    uint32_t *group_members; /* nq x nprobe: queries of the round probing each list, in order */
    batch_worker *workers;
} batch_task;

static const float *round_query(const batch_task *b, uint64_t i) {
    return nearkit_query_at(b->call, b->q0 + i);
}

/* Candidates kept from a sgemm scan before exact re-scoring: a margin over k absorbs the rounding
 * of the |q|^2 + |x|^2 - 2<q,x> expansion. */
static uint64_t gemm_candidates(uint64_t k, uint64_t count) {
    uint64_t margin = k / 4 < 8 ? 8 : k / 4;
    uint64_t kk = k + margin;
    return kk < count ? kk : count;
}

static void batch_worker_free(batch_worker *w) {
    free(w->heaps);
    free(w->heap_dist);
    free(w->heap_pos);
    free(w->approximate);
    nearkit_aligned_free(w->gathered);
    nearkit_aligned_free(w->tile);
    free(w->buf);
    free(w->at);
    nearkit_aligned_free(w->packed);
    free(w->packed_norms);
}

static bool batch_worker_alloc(batch_worker *w, uint64_t round, uint64_t cap, size_t d, size_t packed_rows) {
    *w = (batch_worker){
        .heaps = nearkit_alloc_array((size_t)round, sizeof(nearkit_topk)),
        .heap_dist = nearkit_alloc_array((size_t)(round * cap), sizeof(float)),
        .heap_pos = nearkit_alloc_array((size_t)(round * cap), sizeof(uint64_t)),
        .approximate = nearkit_alloc_array((size_t)round, sizeof(bool)),
        .gathered = nearkit_aligned_alloc_array((size_t)GEMM_QUERY_BLOCK * d, sizeof(float)),
        .tile = nearkit_aligned_alloc_array((size_t)GEMM_QUERY_BLOCK * LIST_BLOCK, sizeof(float)),
        .buf = nearkit_alloc_array(LIST_BLOCK, sizeof(float)),
    };
    bool ok = w->heaps && w->heap_dist && w->heap_pos && w->approximate && w->gathered && w->tile && w->buf;
    if (!ok || packed_rows == 0) return ok;
    w->at = nearkit_alloc_array(LIST_BLOCK, sizeof(uint32_t));
    w->packed = nearkit_aligned_alloc_array(packed_rows * d, sizeof(float));
    w->packed_norms = nearkit_alloc_array(packed_rows, sizeof(float));
    return w->at && w->packed && w->packed_norms;
}

/* Scans one list against the queries of the round that probe it (members, round numbers). */
static void scan_list_gemm(const batch_task *b, batch_worker *w, uint32_t l, const uint32_t *members,
                           size_t n_members) {
    const nearkit_index *ix = b->call->ix;
    const nearkit_ivf_list *list = &b->view->lists->list[l];
    size_t d = ix->dimension;
    bool l2 = is_l2(ix);
    float offset = ix->metric == NEARKIT_METRIC_COSINE ? 1.0f : 0.0f;
    uint64_t handle = (uint64_t)l << ROW_BITS;
    for (size_t m0 = 0; m0 < n_members; m0 += GEMM_QUERY_BLOCK) {
        size_t mq = n_members - m0 < GEMM_QUERY_BLOCK ? n_members - m0 : GEMM_QUERY_BLOCK;
        for (size_t i = 0; i < mq; i++)
            memcpy(w->gathered + i * d, round_query(b, members[m0 + i]), d * sizeof(float));
        for (uint64_t r = 0; r < list->size; r += LIST_BLOCK) {
            size_t rows = list->size - r < LIST_BLOCK ? (size_t)(list->size - r) : LIST_BLOCK;
            nearkit_sgemm_nt(mq, rows, d, l2 ? -2.0f : -1.0f, w->gathered, list_row(ix, list, r), w->tile);
            for (size_t i = 0; i < mq; i++) {
                uint32_t m = members[m0 + i];
                w->approximate[m] = true;
                nearkit_topk_push_tile_row(&w->heaps[m], w->tile + i * rows, l2 ? list->norms + r : NULL,
                                           l2 ? b->qnorms[m] : offset, handle + r, rows);
            }
        }
    }
}

/* Copies the rows [row + at[j]] of a list (j < n) together, with their squared norms (l2). */
static void pack_rows(batch_worker *w, const nearkit_index *ix, const nearkit_ivf_list *list, uint64_t row,
                      const uint32_t *at, size_t n) {
    size_t d = ix->dimension;
    for (size_t j = 0; j < n; j++) {
        memcpy(w->packed + j * d, list_row(ix, list, row + at[j]), d * sizeof(float));
        if (is_l2(ix)) w->packed_norms[j] = list->norms[row + at[j]];
    }
}

/* scan_list_gemm for a filtered call: a block's admitted rows are found once for all the queries
 * and packed together, so the sgemm (or, for a few queries, the kernels) computes distances to
 * those only: what a filter saves in arithmetic and memory traffic is saved here too. */
static void scan_list_filtered(const batch_task *b, batch_worker *w, uint32_t l, const uint32_t *members,
                               size_t n_members) {
    const nearkit_search_call *c = b->call;
    const nearkit_index *ix = c->ix;
    const nearkit_ivf_list *list = &b->view->lists->list[l];
    size_t d = ix->dimension;
    bool l2 = is_l2(ix), gemm = n_members >= GEMM_MIN_GROUP;
    float offset = ix->metric == NEARKIT_METRIC_COSINE ? 1.0f : 0.0f;
    uint64_t handle = (uint64_t)l << ROW_BITS;
    size_t step = gemm ? b->packed_rows : LIST_BLOCK;
    for (uint64_t r = 0; r < list->size; r += step) {
        size_t rows = list->size - r < step ? (size_t)(list->size - r) : step;
        size_t n = admitted_rows(w->at, c, list->ids + r, rows);
        if (n == 0) continue;
        if (!gemm) {
            for (size_t i = 0; i < n_members; i++)
                push_admitted(&w->heaps[members[i]], c, round_query(b, members[i]), list, r, w->at, n,
                              (int64_t)handle);
            continue;
        }
        pack_rows(w, ix, list, r, w->at, n);
        for (size_t m0 = 0; m0 < n_members; m0 += GEMM_QUERY_BLOCK) {
            size_t mq = n_members - m0 < GEMM_QUERY_BLOCK ? n_members - m0 : GEMM_QUERY_BLOCK;
            for (size_t i = 0; i < mq; i++)
                memcpy(w->gathered + i * d, round_query(b, members[m0 + i]), d * sizeof(float));
            nearkit_sgemm_nt(mq, n, d, l2 ? -2.0f : -1.0f, w->gathered, w->packed, w->tile);
            for (size_t i = 0; i < mq; i++) {
                uint32_t m = members[m0 + i];
                w->approximate[m] = true;
                nearkit_topk_push_tile_row_at(&w->heaps[m], w->tile + i * n, l2 ? w->packed_norms : NULL,
                                              l2 ? b->qnorms[m] : offset, handle + r, w->at, n);
            }
        }
    }
}

/* Scans lists [begin, end) for the queries that probe them: sgemm for a group of queries, the
 * kernels for a few. This fans out over lists, not queries (each list is read once per round),
 * hence its own parallel_for rather than the search driver's. */
static void lists_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    batch_task *b = ctx;
    const nearkit_index *ix = b->call->ix;
    batch_worker *w = &b->workers[worker];
    for (uint64_t l = begin; l < end; l++) {
        const uint32_t *members = b->group_members + b->group_offsets[l];
        size_t n = (size_t)(b->group_offsets[l + 1] - b->group_offsets[l]);
        const nearkit_ivf_list *list = &b->view->lists->list[l];
        if (n == 0 || list->size == 0) continue;
        if (b->call->admit) {
            scan_list_filtered(b, w, (uint32_t)l, members, n);
        } else if (n >= GEMM_MIN_GROUP) {
            scan_list_gemm(b, w, (uint32_t)l, members, n);
        } else {
            /* the group's first query reads the list from memory, the others from cache */
            bool streamed = lists_from_memory(ix, b->view->lists);
            for (size_t i = 0; i < n; i++)
                scan_kernels(&w->heaps[members[i]], w->buf, ix, round_query(b, members[i]), list, list->size,
                             (int64_t)(l << ROW_BITS), streamed && i == 0);
        }
    }
}

/* Renames the candidates from handles to ids, with exact values where they came from a sgemm
 * scan, keeping all of them, as a heap. */
static void settle_names(const batch_task *b, nearkit_topk *h, const float *q, bool approximate) {
    const nearkit_index *ix = b->call->ix;
    const nearkit_ivf_list *lists = b->view->lists->list;
    size_t n = h->size;
    uint64_t row_mask = ((uint64_t)1 << ROW_BITS) - 1;
    h->size = 0;
    h->cap = n;
    h->ids = NULL;
    for (size_t i = 0; i < n; i++) { /* pushes write only slots below the one read */
        const nearkit_ivf_list *list = &lists[h->pos[i] >> ROW_BITS];
        uint64_t row = h->pos[i] & row_mask;
        float dist = approximate ? row_distance(ix, q, list_row(ix, list, row)) : h->dist[i];
        nearkit_topk_push(h, dist, (uint64_t)list->ids[row]);
    }
}

/* A filtered query that found fewer than k admitted rows in its lists goes on in centroid order
 * until it has k (or has seen every list), as a query searched alone does. */
static void settle_few(const batch_task *b, const nearkit_search_call *round, nearkit_topk *h, uint32_t *at,
                       nearkit_ivf_probe *probe, uint64_t i) {
    const float *q = round_query(b, i);
    const nearkit_ivf_lists *lists = b->view->lists;
    nearkit_topk_init(h, h->dist, h->pos, (size_t)round->k, NULL);
    uint32_t n = nearkit_ivf_probe_nearest(probe, b->view->quantizer, round->ix, q, lists->nlist);
    for (uint32_t p = 0; p < n; p++) {
        scan_kernels_admitted(h, at, round, q, &lists->list[probe->probes[p]], -1);
        if (p + 1 >= b->nprobe && h->size >= round->k) break;
    }
    nearkit_write_heap(round, i, h);
}

/* Writes row i of the round from its shortlist (rows left out all scored no better than floor on
 * their scan): exact values for the candidates, kept when the sgemm error bound (nothing where
 * every value is exact already) proves them the k best, ties by id included; else the query's
 * lists are rescanned with the kernels. */
static void settle_shortlist(const batch_task *b, const nearkit_search_call *round, nearkit_topk *h,
                             float floor, bool approximate, float *buf, uint32_t *at, nearkit_ivf_probe *probe,
                             uint64_t i) {
    const nearkit_index *ix = round->ix;
    const float *q = round_query(b, i);
    if (round->admit && h->size < round->k) {
        settle_few(b, round, h, at, probe, i);
        return;
    }
    settle_names(b, h, q, approximate);
    nearkit_topk_sort(h);
    double slack = 0.0;
    if (approximate) {
        double qnorm = sqrt((double)nearkit_kernels()->dot(q, q, ix->dimension));
        slack = nearkit_gemm_slack(ix->metric, ix->dimension, qnorm, sqrt((double)b->view->max_sqnorm));
    }
    if (nearkit_rerank_certain(h, round->k, floor, slack, is_l2(ix))) {
        nearkit_write_sorted(round, i, h);
        return;
    }
    nearkit_topk_init(h, h->dist, h->pos, (size_t)round->k, NULL);
    for (uint32_t p = 0; p < b->nprobe; p++) {
        const nearkit_ivf_list *list = &b->view->lists->list[b->probes[i * b->nprobe + p]];
        if (round->admit) scan_kernels_admitted(h, at, round, q, list, -1);
        else scan_kernels(h, buf, ix, q, list, list->size, -1, lists_from_memory(ix, b->view->lists));
    }
    nearkit_write_heap(round, i, h);
}

typedef struct merge_scratch {
    float *dist, *buf;
    uint64_t *pos;
    uint32_t *at;             /* filtered calls */
    nearkit_ivf_probe probe;  /* filtered calls: the centroid order of a query that goes on */
} merge_scratch;

static void merge_scratch_free(void *scratch) {
    merge_scratch *s = scratch;
    if (!s) return;
    free(s->dist);
    free(s->pos);
    free(s->buf);
    free(s->at);
    nearkit_ivf_probe_free(&s->probe);
    free(s);
}

static void *merge_scratch_new(const nearkit_search_call *round) {
    const batch_task *b = round->state;
    merge_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->dist = nearkit_alloc_array((size_t)(b->cap * b->threads), sizeof(float));
    s->pos = nearkit_alloc_array((size_t)(b->cap * b->threads), sizeof(uint64_t));
    s->buf = nearkit_alloc_array(LIST_BLOCK, sizeof(float));
    bool ok = s->dist && s->pos && s->buf;
    if (ok && round->admit) {
        s->at = nearkit_alloc_array(LIST_BLOCK, sizeof(uint32_t));
        ok = s->at && nearkit_ivf_probe_init(&s->probe, b->view->quantizer, round->ix);
    }
    if (ok) return s;
    merge_scratch_free(s);
    return NULL;
}

/* Merges the workers' candidates of queries [first, first + n) of the round, settles them and
 * writes their rows. */
static bool merge_queries(void *scratch, const nearkit_search_call *round, uint64_t first, uint64_t n) {
    merge_scratch *s = scratch;
    const batch_task *b = round->state;
    for (uint64_t i = first; i < first + n; i++) {
        nearkit_topk merged, *h = &b->workers[0].heaps[i];
        bool approximate = false;
        float floor = INFINITY; /* the least a row left out by any heap scored */
        for (uint32_t w = 0; w < b->threads; w++) {
            approximate |= b->workers[w].approximate[i];
            floor = fminf(floor, nearkit_topk_floor(&b->workers[w].heaps[i]));
        }
        if (b->threads > 1) {
            h = &merged;
            nearkit_topk_init(h, s->dist, s->pos, (size_t)b->cap, NULL);
            for (uint32_t w = 0; w < b->threads; w++) {
                const nearkit_topk *part = &b->workers[w].heaps[i];
                for (size_t j = 0; j < part->size; j++) nearkit_topk_push(h, part->dist[j], part->pos[j]);
            }
            floor = fminf(floor, nearkit_topk_floor(h));
        }
        settle_shortlist(b, round, h, floor, approximate, s->buf, s->at, &s->probe, i);
    }
    return true;
}

static const nearkit_searcher merge_searcher = {
    .scratch_new = merge_scratch_new,
    .scratch_free = merge_scratch_free,
    .knn = merge_queries,
};

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

/* The part of the call that is the round: queries and result rows from q0 on. */
static nearkit_search_call round_call(const batch_task *b) {
    nearkit_search_call r = *b->call;
    r.queries = nearkit_query_at(b->call, b->q0);
    r.n = b->nq;
    r.ids = b->call->ids + b->q0 * b->call->stride;
    r.dist = b->call->dist + b->q0 * b->call->stride;
    return r;
}

static nearkit_status run_round(batch_task *b) {
    const nearkit_index *ix = b->call->ix;
    uint32_t nlist = b->view->lists->nlist;
    nearkit_search_call round = round_call(b);
    nearkit_status st = nearkit_ivf_probe_batch(b->view->quantizer, &round, b->nprobe, b->probes, b->threads);
    if (st) return st;
    group_by_list(b, nlist);
    if (b->qnorms) {
        const nearkit_kernel_table *kt = nearkit_kernels();
        for (uint64_t i = 0; i < b->nq; i++) {
            const float *q = round_query(b, i);
            b->qnorms[i] = kt->dot(q, q, ix->dimension);
        }
    }
    for (uint32_t w = 0; w < b->threads; w++) {
        memset(b->workers[w].approximate, 0, (size_t)b->nq * sizeof(bool));
        for (uint64_t i = 0; i < b->nq; i++)
            nearkit_topk_init(&b->workers[w].heaps[i], b->workers[w].heap_dist + i * b->cap,
                              b->workers[w].heap_pos + i * b->cap, (size_t)b->cap, NULL);
    }
    nearkit_parallel_for(b->threads, nlist, 1, lists_range, b);
    round.state = b;
    return nearkit_drive_knn(&merge_searcher, &round, b->threads, QUERY_BLOCK);
}

static bool batch_applies(const nearkit_search_call *c) {
    const nearkit_index *ix = c->ix;
    return c->n >= GEMM_MIN_QUERIES && ix->dimension >= GEMM_MIN_DIMENSION && ix->dimension <= INT32_MAX / 2;
}

/* Filtered calls: admitted rows packed per sgemm, at most PACKED_BYTES of them (0: unfiltered). */
static size_t packed_rows(const nearkit_search_call *c) {
    if (!c->admit) return 0;
    size_t rows = PACKED_BYTES / (c->ix->dimension * sizeof(float));
    return rows < 16 ? 16 : rows > LIST_BLOCK ? LIST_BLOCK : rows;
}

static nearkit_status knn_batch(const nearkit_search_call *c, uint32_t threads) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    uint32_t nlist = view->lists->nlist;
    batch_task b = {.call = c, .view = view, .threads = threads, .nprobe = view->batch_probes,
                    .cap = gemm_candidates(c->k, view->lists->count), .packed_rows = packed_rows(c)};
    /* a round's heaps and probe lists stay within HEAP_BYTES */
    uint64_t per_query = threads * (b.cap * (sizeof(float) + sizeof(uint64_t)) + sizeof(nearkit_topk) + 1) +
                         (uint64_t)b.nprobe * 2 * sizeof(uint32_t);
    uint64_t round = HEAP_BYTES / per_query;
    if (round > ROUND_MAX) round = ROUND_MAX;
    if (round < GEMM_MIN_QUERIES) round = GEMM_MIN_QUERIES; /* only when nprobe is huge */
    if (round > c->n) round = c->n;
    b.probes = nearkit_alloc_array((size_t)(round * b.nprobe), sizeof(uint32_t));
    b.group_members = nearkit_alloc_array((size_t)(round * b.nprobe), sizeof(uint32_t));
    b.group_offsets = nearkit_alloc_array((size_t)nlist + 1, sizeof(uint64_t));
    b.qnorms = is_l2(c->ix) ? nearkit_alloc_array((size_t)round, sizeof(float)) : NULL;
    b.workers = calloc(threads, sizeof *b.workers);
    nearkit_status st = NEARKIT_OK;
    if (!b.probes || !b.group_members || !b.group_offsets || (is_l2(c->ix) && !b.qnorms) || !b.workers) {
        st = nearkit_oom();
        goto done;
    }
    for (uint32_t w = 0; w < threads; w++)
        if (!batch_worker_alloc(&b.workers[w], round, b.cap, c->ix->dimension, b.packed_rows)) {
            st = nearkit_oom();
            goto done;
        }
    for (uint64_t q0 = 0; q0 < c->n && !st; q0 += round) {
        b.q0 = q0;
        b.nq = c->n - q0 < round ? c->n - q0 : round;
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

const nearkit_ivf_scanner nearkit_ivf_scan_float = {
    .max_chunk = QUERY_BLOCK,
    .scratch_new = kernel_scratch_new,
    .scratch_free = kernel_scratch_free,
    .scratch_reuse = kernel_scratch_reuse,
    .knn_begin = knn_begin,
    .knn_scan = knn_scan,
    .knn_finish = knn_finish,
    .knn_scan_admitted = knn_scan_admitted,
    .knn_held = knn_held,
    .range_scan = range_scan,
    .batch_applies = batch_applies,
    .knn_batch = knn_batch,
};
