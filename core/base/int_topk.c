/* k nearest of many integer-distance candidates: a bounded max-heap on (distance, id). */
#include "base/int_topk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COUNTED 4096 /* distances up to this are counted per block; beyond, only the heap */

bool nearkit_int_topk_init(nearkit_int_topk *t, uint64_t k, const int64_t *ids, uint32_t max_dist) {
    *t = (nearkit_int_topk){.k = (size_t)k, .ids = ids, .max_dist = max_dist};
    t->dist = nearkit_alloc_array((size_t)k, sizeof *t->dist);
    t->pos = nearkit_alloc_array((size_t)k, sizeof *t->pos);
    bool counting = max_dist <= MAX_COUNTED;
    if (counting) t->count = nearkit_alloc_array((size_t)max_dist + 2, sizeof *t->count);
    return k >= 1 && k <= SIZE_MAX / 8 && t->dist && t->pos && (!counting || t->count);
}

void nearkit_int_topk_free(nearkit_int_topk *t) {
    free(t->dist);
    free(t->pos);
    free(t->count);
    t->dist = NULL;
    t->pos = NULL;
    t->count = NULL;
}

void nearkit_int_topk_reset(nearkit_int_topk *t) { t->size = 0; }

static int64_t id_of(const nearkit_int_topk *t, uint32_t pos) {
    return t->ids ? t->ids[pos] : (int64_t)pos;
}

/* Is (da, pa) after (db, pb) in the answer's order? */
static bool worse(const nearkit_int_topk *t, uint32_t da, uint32_t pa, uint32_t db, uint32_t pb) {
    return da != db ? da > db : id_of(t, pa) > id_of(t, pb);
}

static void sift_down(nearkit_int_topk *t, size_t i, size_t size) {
    uint32_t d = t->dist[i], p = t->pos[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size &&
            worse(t, t->dist[child + 1], t->pos[child + 1], t->dist[child], t->pos[child]))
            child++;
        if (!worse(t, t->dist[child], t->pos[child], d, p)) break;
        t->dist[i] = t->dist[child];
        t->pos[i] = t->pos[child];
        i = child;
    }
    t->dist[i] = d;
    t->pos[i] = p;
}

void nearkit_int_topk_push(nearkit_int_topk *t, uint32_t d, uint32_t p) {
    if (t->size < t->k) {
        size_t i = t->size++;
        while (i > 0) {
            size_t parent = (i - 1) / 2;
            if (!worse(t, d, p, t->dist[parent], t->pos[parent])) break;
            t->dist[i] = t->dist[parent];
            t->pos[i] = t->pos[parent];
            i = parent;
        }
        t->dist[i] = d;
        t->pos[i] = p;
    } else if (worse(t, t->dist[0], t->pos[0], d, p)) {
        t->dist[0] = d;
        t->pos[0] = p;
        sift_down(t, 0, t->size);
    }
}

/* The k-th smallest of the block's distances that are at most `limit`, or limit when fewer. */
static uint32_t block_kth(nearkit_int_topk *t, const uint32_t *dist, size_t n, uint32_t limit) {
    uint32_t *count = t->count;
    memset(count, 0, ((size_t)limit + 2) * sizeof *count);
    for (size_t i = 0; i < n; i++) count[dist[i] < limit + 1 ? dist[i] : limit + 1]++;
    size_t seen = 0;
    for (uint32_t d = 0; d <= limit; d++) {
        seen += count[d];
        if (seen >= t->k) return d;
    }
    return limit;
}

void nearkit_int_topk_add(nearkit_int_topk *t, const uint32_t *dist, const uint32_t *positions,
                          size_t n) {
    uint32_t b = nearkit_int_topk_bar(t);
    if (t->count && t->size < t->k && n >= 4 * t->k) { /* later blocks only bring improvements */
        uint32_t limit = b < t->max_dist ? b : t->max_dist;
        b = block_kth(t, dist, n, limit);
    }
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint32_t low = UINT32_MAX;
        for (int u = 0; u < 16; u++) low = dist[i + u] < low ? dist[i + u] : low;
        if (low > b) continue; /* the common case once the heap is full */
        for (size_t u = i; u < i + 16; u++)
            if (dist[u] <= b) {
                nearkit_int_topk_push(t, dist[u], positions[u]);
                uint32_t bar = nearkit_int_topk_bar(t);
                b = bar < b ? bar : b;
            }
    }
    for (; i < n; i++)
        if (dist[i] <= b) {
            nearkit_int_topk_push(t, dist[i], positions[i]);
            uint32_t bar = nearkit_int_topk_bar(t);
            b = bar < b ? bar : b;
        }
}

void nearkit_int_topk_sort(nearkit_int_topk *t) {
    /* heapsort: repeatedly move the worst to the end */
    for (size_t end = t->size; end > 1; end--) {
        uint32_t d = t->dist[0], p = t->pos[0];
        t->dist[0] = t->dist[end - 1];
        t->pos[0] = t->pos[end - 1];
        t->dist[end - 1] = d;
        t->pos[end - 1] = p;
        sift_down(t, 0, end - 1);
    }
}

void nearkit_int_topk_emit(nearkit_int_topk *t, int64_t *out_ids, float *out_dist) {
    nearkit_int_topk_sort(t);
    size_t j = 0;
    for (; j < t->size; j++) {
        out_ids[j] = id_of(t, t->pos[j]);
        out_dist[j] = (float)t->dist[j];
    }
    for (; j < t->k; j++) {
        out_ids[j] = -1;
        out_dist[j] = INFINITY;
    }
}
