/* The search driver: the one place that fans a search call out over the library's threads and the
 * one place that writes a k-NN result row. Internal to nearkit (hidden symbols).
 *
 * A kind describes its search with a nearkit_searcher: how to set up one worker's scratch, how to
 * answer the k-NN of a run of queries (one at a time, or a block at once where it batches, like
 * flat's GEMM), and how to answer one range query. The driver splits the queries into tasks,
 * gives every worker its scratch once per call, stops handing out work after a failure and turns
 * it into OUT_OF_MEMORY. A kind finishes each k-NN query by handing its candidates to one of the
 * nearkit_write_* functions below, which own the header's result contract: distances reported as
 * the metric's value (l2: the root of the squared value the kinds rank by), nearest first, equal
 * reported distances in increasing id order, and id -1 / +INFINITY padding after the neighbours
 * found (fewer than k where the index is smaller, or where a capped search stopped early). */
#ifndef NEARKIT_DRIVER_H
#define NEARKIT_DRIVER_H

#include "base/int_topk.h"
#include "base/internal.h"
#include "search/admit.h"

#include <math.h>

/* One search call, as the driver hands it to a kind. */
typedef struct nearkit_search_call {
    const nearkit_index *ix;
    const void *queries; /* n vectors of ix->vector_bytes, already checked and normalised */
    uint64_t n;
    /* k-NN: k <= the index's count (the generic layer pads beyond it); rows of the outputs are
     * `stride` entries apart. */
    uint64_t k, stride;
    int64_t *ids;
    float *dist;
    /* range search */
    float radius;
    nearkit_range_builder *matches;
    /* threads this call may use, and queries per task (0: the driver's default; a kind's plan
     * may set it) */
    uint32_t threads;
    uint64_t chunk;
    /* The values of the kind's parameters for this call (settings[i] for the kind's params[i]):
     * the index's, with the call's nearkit_search_options.params applied. Kinds read runtime
     * settings (nprobe, max_radius, ...) here, never from the index, so concurrent calls with
     * different values do not interfere. */
    const double *settings;
    /* The call's filter, NULL for none. Removed rows a kind keeps are its own to skip. */
    const nearkit_admit *admit;
    /* The kind's plan for this call (searcher->plan), or NULL. */
    const void *state;
} nearkit_search_call;

/* Whether the call considers a stored vector with this id (not removed, allowed). */
static inline bool nearkit_call_admits(const nearkit_search_call *c, int64_t id) {
    return nearkit_admits_stored(c->admit, id);
}

static inline const void *nearkit_query_at(const nearkit_search_call *c, uint64_t q) {
    return (const uint8_t *)c->queries + q * c->ix->vector_bytes;
}

/* What a kind supplies for searching: k-NN searchers fill knn, range searchers range; every other
 * member may be NULL / 0. */
typedef struct nearkit_searcher {
    /* Plans the call before any worker starts, from the call (k == 0 for a range search) and
     * its settings: fills `plan` (plan_size bytes, zeroed; c->state points to it) and may set
     * c->chunk. False: out of memory. plan_free releases what the plan holds. */
    size_t plan_size;
    bool (*plan)(nearkit_search_call *c, void *plan);
    void (*plan_free)(void *plan);
    /* Where the kind answers a whole k-NN call at once in some cases (IVF's batched float scan):
     * true when it did, with *status its result; false leaves the call to knn. */
    bool (*knn_whole)(const nearkit_search_call *c, nearkit_status *status);
    /* One worker's scratch for this call, set up on the worker's first task and reused for every
     * later one; NULL means out of memory. NULL function: the kind needs none. */
    void *(*scratch_new)(const nearkit_search_call *c);
    void (*scratch_free)(void *scratch);
    /* Optional: whether a scratch scratch_new made for an earlier call (of any index of the kind)
     * serves call c once re-aimed at it (true), or must be made anew (false). Where a kind has
     * it, the driver keeps the calling thread's scratch from one call to the next, so that a
     * one-query search allocates nothing. Such a scratch holds nothing of an earlier call or
     * index that this function does not re-aim: that index may be freed while it waits. */
    bool (*scratch_reuse)(void *scratch, const nearkit_search_call *c);
    /* Optional, beside scratch_reuse: gives back what the scratch borrowed from the call's index
     * (hnsw's visited set, from the index's pool) before the driver keeps it past the call. */
    void (*scratch_park)(void *scratch);
    /* The k-NN of queries [first, first + n), each finished by a nearkit_write_* call. n is at
     * most the chunk passed to nearkit_drive_knn. False: out of memory. */
    bool (*knn)(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n);
    /* Every match of query q within c->radius into c->matches (nearkit_add_match). False: out of
     * memory. */
    bool (*range)(void *scratch, const nearkit_search_call *c, uint64_t q);
} nearkit_searcher;

/* Queries per task where the kind answers them one by one: small enough that every thread gets
 * a share of a modest batch, large enough that a task amortises its start. */
uint64_t nearkit_default_chunk(uint64_t n, uint32_t threads, uint64_t max_chunk);

/* Runs a search call: plans it, then answers it whole or fans it out over c->threads threads in
 * tasks of c->chunk queries (k-NN when c->k > 0, else range). OK or OUT_OF_MEMORY. The generic
 * layer's one way into a kind's search. */
nearkit_status nearkit_search(const nearkit_searcher *s, nearkit_search_call *c);

/* Runs s->knn over all c->n queries on up to `threads` threads, `chunk` queries at a time at
 * most (0: nearkit_default_chunk with at most 32). OK or OUT_OF_MEMORY. */
nearkit_status nearkit_drive_knn(const nearkit_searcher *s, const nearkit_search_call *c,
                                 uint32_t threads, uint64_t chunk);
/* Runs s->range for every query, likewise. */
nearkit_status nearkit_drive_range(const nearkit_searcher *s, const nearkit_search_call *c,
                                   uint32_t threads, uint64_t chunk);

/* ---- result rows ------------------------------------------------------------------------------- */

/* The value a ranking value is reported as: l2 ranks by squared distance and reports its root;
 * every other metric reports the value it ranks by. */
static inline float nearkit_reported(const nearkit_index *ix, float ranked) {
    return ix->metric == NEARKIT_METRIC_L2 ? sqrtf(ranked) : ranked;
}

/* Writes query q's row from a heap of candidates (ranking values; positions mapped to ids through
 * the heap's ids, NULL: the position is the id). The heap is consumed. */
void nearkit_write_heap(const nearkit_search_call *c, uint64_t q, nearkit_topk *h);
/* The same from candidates already sorted nearest first (ties by id), e.g. after a re-rank. */
void nearkit_write_sorted(const nearkit_search_call *c, uint64_t q, const nearkit_topk *sorted);
/* The same from an integer heap (Hamming distances, reported as they are). Consumed. */
void nearkit_write_int_heap(const nearkit_search_call *c, uint64_t q, nearkit_int_topk *h);
/* The rows of a call with k = 1 for queries [first, first + n): query first + i's nearest is
 * position row[i] (mapped through ids, NULL: the position is the id) at ranking value best[i]. One
 * loop for the batch, where a kernel finds the nearest of many queries without heaps. */
void nearkit_write_nearest(const nearkit_search_call *c, uint64_t first, uint64_t n, const float *best,
                           const uint32_t *row, const int64_t *ids);

/* Adds a range match of query q (its reported distance); false on out of memory. */
static inline bool nearkit_add_match(const nearkit_search_call *c, uint64_t q, int64_t id,
                                     float reported) {
    return nearkit_range_builder_add(c->matches, q, id, reported);
}

#endif
