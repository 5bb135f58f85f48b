/* The search driver: fan-out of a search call and the writing of result rows (driver.h). */
#include "search/driver.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#define MAX_DEFAULT_CHUNK 32
#define LOCAL_WORKERS 8 /* workers whose scratch slots a call keeps on the stack */
/* Calls of at most this many queries leave their scratch to the calling thread's next call: the
 * one-query request of a service. Batches amortise their allocations, and their scratch (a GEMM
 * tile) is too large to hold on to in every thread. */
#define KEEP_MAX_QUERIES 4

uint64_t nearkit_default_chunk(uint64_t n, uint32_t threads, uint64_t max_chunk) {
    if (threads <= 1) return max_chunk;
    uint64_t chunk = n / ((uint64_t)threads * 4);
    return chunk < 1 ? 1 : chunk > max_chunk ? max_chunk : chunk;
}

/* ---- the calling thread's scratch, kept from one call to the next ------------------------------ */

/* Worker 0 of every call is the calling thread (nearkit_parallel_for), so its scratch is made and
 * freed on that thread, and a thread's calls nest but never interleave: one kept scratch per
 * thread is enough. It lives in a block reached through a pthread key, whose destructor frees it
 * when the thread exits. */
typedef struct kept_scratch {
    const nearkit_searcher *searcher;
    void *scratch;
} kept_scratch;

static pthread_key_t kept_key;
static bool kept_key_ready;
static pthread_once_t kept_key_once = PTHREAD_ONCE_INIT;

static void kept_scratch_free(void *block) {
    kept_scratch *kept = block;
    if (kept->scratch) kept->searcher->scratch_free(kept->scratch);
    free(kept);
}

static void kept_key_create(void) { kept_key_ready = pthread_key_create(&kept_key, kept_scratch_free) == 0; }

/* This thread's block, made on first use; NULL when it cannot be (nothing is kept then). */
static kept_scratch *kept_block(void) {
    pthread_once(&kept_key_once, kept_key_create);
    if (!kept_key_ready) return NULL;
    kept_scratch *kept = pthread_getspecific(kept_key);
    if (kept) return kept;
    kept = calloc(1, sizeof *kept);
    if (kept && pthread_setspecific(kept_key, kept) != 0) {
        free(kept);
        kept = NULL;
    }
    return kept;
}

/* The scratch this thread kept from a call of the same kind, re-aimed at call c; NULL when there
 * is none or it does not serve c (it stays kept until this call replaces it). */
static void *take_kept_scratch(const nearkit_searcher *s, const nearkit_search_call *c) {
    if (!s->scratch_reuse || c->n > KEEP_MAX_QUERIES) return NULL;
    kept_scratch *kept = kept_block();
    if (!kept || kept->searcher != s || !kept->scratch || !s->scratch_reuse(kept->scratch, c)) return NULL;
    void *scratch = kept->scratch;
    kept->scratch = NULL;
    return scratch;
}

/* Keeps the calling thread's scratch for its next call where the kind reuses scratch and the call
 * was small, else frees it. */
static void keep_scratch(const nearkit_searcher *s, const nearkit_search_call *c, void *scratch) {
    kept_scratch *kept = s->scratch_reuse && c->n <= KEEP_MAX_QUERIES ? kept_block() : NULL;
    if (!kept) {
        s->scratch_free(scratch);
        return;
    }
    if (s->scratch_park) s->scratch_park(scratch);
    if (kept->scratch) kept->searcher->scratch_free(kept->scratch);
    kept->searcher = s;
    kept->scratch = scratch;
}

/* ---- fan-out ----------------------------------------------------------------------------------- */

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
    if (!d->scratch[worker] && worker == 0) d->scratch[0] = take_kept_scratch(d->searcher, d->call);
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
    if (d.scratch[0]) keep_scratch(s, c, d.scratch[0]);
    for (uint32_t w = 1; w < threads; w++)
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
