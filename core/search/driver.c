/* The search driver: fan-out of a search call and the writing of result rows (driver.h). */
#include "search/driver.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#define MAX_DEFAULT_CHUNK 32
#define LOCAL_WORKERS 8 /* workers whose scratch slots a call keeps on the stack */

uint64_t nearkit_default_chunk(uint64_t n, uint32_t threads, uint64_t max_chunk) {
    if (threads <= 1) return max_chunk;
    uint64_t chunk = n / ((uint64_t)threads * 4);
    return chunk < 1 ? 1 : chunk > max_chunk ? max_chunk : chunk;
}

/* One call in flight: the kind, the call, and each worker's scratch (made on its first task). */
typedef struct drive {
    const nearkit_searcher *searcher;
    const nearkit_search_call *call;
    void **scratch; /* one slot per worker */
    bool knn;
    _Atomic int failed;
} drive;

/* The worker's scratch, made on first use; false when it cannot be made. */
static bool worker_scratch(drive *d, uint32_t worker, void **out) {
    *out = NULL;
    if (!d->searcher->scratch_new) return true;
    if (!d->scratch[worker]) d->scratch[worker] = d->searcher->scratch_new(d->call);
    *out = d->scratch[worker];
    return *out != NULL;
}

static void drive_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    drive *d = ctx;
    void *scratch;
    if (atomic_load_explicit(&d->failed, memory_order_relaxed)) return; /* the call has failed */
    bool ok = worker_scratch(d, worker, &scratch);
    if (ok && d->knn) {
        ok = d->searcher->knn(scratch, d->call, begin, end - begin);
    } else {
        for (uint64_t q = begin; ok && q < end; q++) ok = d->searcher->range(scratch, d->call, q);
    }
    if (!ok) atomic_store(&d->failed, 1);
}

static nearkit_status drive_call(const nearkit_searcher *s, const nearkit_search_call *c,
                                 uint32_t threads, uint64_t chunk, bool knn) {
    if (c->n == 0) return NEARKIT_OK;
    if (chunk == 0) chunk = nearkit_default_chunk(c->n, threads, MAX_DEFAULT_CHUNK);
    drive d = {.searcher = s, .call = c, .knn = knn};
    atomic_init(&d.failed, 0);
    void *local[LOCAL_WORKERS] = {NULL}; /* no allocation for a call of a few threads (one query) */
    d.scratch = threads <= LOCAL_WORKERS ? local : calloc(threads, sizeof *d.scratch);
    if (!d.scratch) return nearkit_oom();
    nearkit_parallel_for(threads, c->n, chunk, drive_range, &d);
    for (uint32_t w = 0; w < threads; w++)
        if (d.scratch[w]) s->scratch_free(d.scratch[w]);
    if (d.scratch != local) free(d.scratch);
    return atomic_load(&d.failed) ? nearkit_oom() : NEARKIT_OK;
}

nearkit_status nearkit_drive_knn(const nearkit_searcher *s, const nearkit_search_call *c,
                                 uint32_t threads, uint64_t chunk) {
    return drive_call(s, c, threads, chunk, true);
}

nearkit_status nearkit_drive_range(const nearkit_searcher *s, const nearkit_search_call *c,
                                   uint32_t threads, uint64_t chunk) {
    return drive_call(s, c, threads, chunk, false);
}

/* Room for every kind's plan without an allocation. */
#define PLAN_BYTES 256

nearkit_status nearkit_search(const nearkit_searcher *s, nearkit_search_call *c) {
    _Alignas(max_align_t) unsigned char plan[PLAN_BYTES] = {0};
    if (s->plan_size > sizeof plan) return nearkit_set_error(NEARKIT_ERR_INTERNAL, "search plan too large");
    bool knn = c->k > 0;
    if (s->plan) {
        c->state = plan;
        if (!s->plan(c, plan)) {
            if (s->plan_free) s->plan_free(plan);
            return nearkit_oom();
        }
    }
    nearkit_status st;
    if (!(knn && s->knn_whole && s->knn_whole(c, &st)))
        st = drive_call(s, c, c->threads, c->chunk, knn);
    if (s->plan_free) s->plan_free(plan);
    return st;
}

/* ---- result rows ------------------------------------------------------------------------------- */

/* Pads a row holding `found` neighbours out to k. */
static void pad_row(int64_t *ids, float *dist, uint64_t found, uint64_t k) {
    for (uint64_t i = found; i < k; i++) {
        ids[i] = -1;
        dist[i] = INFINITY;
    }
}

/* Turns a row of ranking values into reported ones. Rooting can merge distinct squares into one
 * float, so the id order of such new ties is restored. */
static void report_row(const nearkit_index *ix, int64_t *ids, float *dist, uint64_t found) {
    if (ix->metric != NEARKIT_METRIC_L2) return;
    for (uint64_t i = 0; i < found; i++) dist[i] = sqrtf(dist[i]);
    nearkit_sort_row(ids, dist, found);
}

void nearkit_write_sorted(const nearkit_search_call *c, uint64_t q, const nearkit_topk *sorted) {
    const int64_t *ids = sorted->ids;
    int64_t *out_ids = c->ids + q * c->stride;
    float *out_dist = c->dist + q * c->stride;
    uint64_t found = sorted->size < c->k ? sorted->size : c->k;
    for (uint64_t i = 0; i < found; i++) {
        out_ids[i] = ids ? ids[sorted->pos[i]] : (int64_t)sorted->pos[i];
        out_dist[i] = sorted->dist[i];
    }
    report_row(c->ix, out_ids, out_dist, found);
    pad_row(out_ids, out_dist, found, c->k);
}

void nearkit_write_heap(const nearkit_search_call *c, uint64_t q, nearkit_topk *h) {
    nearkit_topk_sort(h);
    nearkit_write_sorted(c, q, h);
}

void nearkit_write_nearest(const nearkit_search_call *c, uint64_t first, uint64_t n, const float *best,
                           const uint32_t *row, const int64_t *ids) {
    bool root = c->ix->metric == NEARKIT_METRIC_L2; /* one value: no order for rooting to change */
    for (uint64_t i = 0; i < n; i++) {
        int64_t *out_ids = c->ids + (first + i) * c->stride;
        float *out_dist = c->dist + (first + i) * c->stride;
        out_ids[0] = ids ? ids[row[i]] : (int64_t)row[i];
        out_dist[0] = root ? sqrtf(best[i]) : best[i];
        pad_row(out_ids, out_dist, 1, c->k);
    }
}

void nearkit_write_int_heap(const nearkit_search_call *c, uint64_t q, nearkit_int_topk *h) {
    int64_t *out_ids = c->ids + q * c->stride;
    float *out_dist = c->dist + q * c->stride;
    nearkit_int_topk_sort(h);
    uint64_t found = h->size < c->k ? h->size : c->k;
    for (uint64_t i = 0; i < found; i++) {
        out_ids[i] = h->ids ? h->ids[h->pos[i]] : (int64_t)h->pos[i];
        out_dist[i] = (float)h->dist[i];
    }
    pad_row(out_ids, out_dist, found, c->k);
}
