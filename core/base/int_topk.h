/* Selection of the k nearest among many candidates with small integer distances (Hamming), ties
 * by id. Internal to nearkit (hidden symbols).
 *
 * A bounded max-heap like nearkit_topk, specialised to 32-bit distances and positions. Candidates
 * arrive in blocks: a block none of whose distances reaches the bar is skipped after one vectorised
 * minimum; in a long first block, counting its distances first gives its own k-th smallest, and
 * only candidates within that reach the heap (about k, where a random order would push
 * k ln(n / k)). */
#ifndef NEARKIT_INT_TOPK_H
#define NEARKIT_INT_TOPK_H

#include "base/internal.h"

typedef struct nearkit_int_topk {
    uint32_t *dist;
    uint32_t *pos; /* stored rows: the id of row p is ids[p], or p when ids is NULL */
    size_t size, k;
    const int64_t *ids;
    uint32_t *count;   /* max_dist + 2 counters for a block's distances; NULL when too many */
    uint32_t max_dist;
} nearkit_int_topk;

/* Storage for selecting k >= 1 among distances up to max_dist; false on allocation failure (free
 * it anyway). */
bool nearkit_int_topk_init(nearkit_int_topk *t, uint64_t k, const int64_t *ids, uint32_t max_dist);
void nearkit_int_topk_free(nearkit_int_topk *t);
/* Forgets the candidates, for the next query. */
void nearkit_int_topk_reset(nearkit_int_topk *t);
/* The largest distance that may still enter: UINT32_MAX until k are held, then the k-th's. */
static inline uint32_t nearkit_int_topk_bar(const nearkit_int_topk *t) {
    return t->size < t->k ? UINT32_MAX : t->dist[0];
}
/* Offers one candidate. */
void nearkit_int_topk_push(nearkit_int_topk *t, uint32_t dist, uint32_t pos);
/* Offers n candidates: dist[i] for row positions[i]. */
void nearkit_int_topk_add(nearkit_int_topk *t, const uint32_t *dist, const uint32_t *positions, size_t n);
/* Sorts the candidates nearest first, ties by increasing id (dist[i], pos[i] for i < size). The
 * heap is consumed: reset before reuse. */
void nearkit_int_topk_sort(nearkit_int_topk *t);
/* Writes the k nearest (ids and distances, nearest first, ties by increasing id; padded with id -1
 * and +INFINITY). The heap is consumed: reset before reuse. */
void nearkit_int_topk_emit(nearkit_int_topk *t, int64_t *out_ids, float *out_dist);

#endif
