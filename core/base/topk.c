/* Bounded max-heap selection of the k nearest. */
#include "base/internal.h"

#include <math.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline int64_t id_of(const nearkit_topk *h, uint64_t pos) {
    return h->ids ? h->ids[pos] : (int64_t)pos;
}

/* Is pair a worse (farther, or equally far with a larger id) than pair b? */
static inline bool worse(const nearkit_topk *h, float da, uint64_t pa, float db, uint64_t pb) {
    if (da != db) return da > db;
    return id_of(h, pa) > id_of(h, pb);
}

void nearkit_topk_init(nearkit_topk *h, float *dist_storage, uint64_t *pos_storage, size_t cap,
                       const int64_t *ids) {
    h->dist = dist_storage;
    h->pos = pos_storage;
    h->size = 0;
    h->cap = cap;
    h->ids = ids;
}

static void sift_down(nearkit_topk *h, size_t i, size_t size) {
    float d = h->dist[i];
    uint64_t p = h->pos[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size && worse(h, h->dist[child + 1], h->pos[child + 1], h->dist[child], h->pos[child]))
            child++;
        if (!worse(h, h->dist[child], h->pos[child], d, p)) break;
        h->dist[i] = h->dist[child];
        h->pos[i] = h->pos[child];
        i = child;
    }
    h->dist[i] = d;
    h->pos[i] = p;
}

void nearkit_topk_push(nearkit_topk *h, float dist, uint64_t pos) {
    if (h->size < h->cap) {
        size_t i = h->size++;
        while (i > 0) {
            size_t parent = (i - 1) / 2;
            if (!worse(h, dist, pos, h->dist[parent], h->pos[parent])) break;
            h->dist[i] = h->dist[parent];
            h->pos[i] = h->pos[parent];
            i = parent;
        }
        h->dist[i] = dist;
        h->pos[i] = pos;
        return;
    }
    if (h->cap == 0 || !worse(h, h->dist[0], h->pos[0], dist, pos)) return;
    h->dist[0] = dist;
    h->pos[0] = pos;
    sift_down(h, 0, h->size);
}

/* For one kept pair (k = 1): the smallest of d[0 .. n) (NaN left out: min_ps and `<` keep the
 * running minimum then), and the push of each candidate equal to it. SSE2 is x86-64's baseline;
 * elsewhere the same in plain C. */
static float block_min(const float *d, size_t n) {
    float best = INFINITY;
    size_t i = 0;
#if defined(__SSE2__)
    __m128 m0 = _mm_set1_ps(INFINITY), m1 = m0;
    for (; i + 8 <= n; i += 8) {
        m0 = _mm_min_ps(_mm_loadu_ps(d + i), m0);
        m1 = _mm_min_ps(_mm_loadu_ps(d + i + 4), m1);
    }
    float lanes[4];
    _mm_storeu_ps(lanes, _mm_min_ps(m0, m1));
    for (size_t j = 0; j < 4; j++) best = lanes[j] < best ? lanes[j] : best;
#endif
    for (; i < n; i++) best = d[i] < best ? d[i] : best;
    return best;
}

static void push_equal(nearkit_topk *h, const float *d, uint64_t first, size_t n, float m) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128 mv = _mm_set1_ps(m);
    for (; i + 4 <= n; i += 4) {
        for (unsigned mask = (unsigned)_mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(d + i), mv)); mask;
             mask &= mask - 1) {
            const size_t j = i + (size_t)__builtin_ctz(mask);
            nearkit_topk_push(h, d[j], first + j);
        }
    }
#endif
    for (; i < n; i++)
        if (d[i] == m) nearkit_topk_push(h, d[i], first + i);
}

void nearkit_topk_push_block(nearkit_topk *h, const float *d, uint64_t first, size_t n) {
    float bound = nearkit_topk_bound(h);
    if (h->cap == 1) {
        /* One kept: only the block's nearest can win (its ties are decided by id in push). A
         * branch per candidate would mispredict at every new nearest: for 2-D points that cost
         * as much as the distances. */
        const float m = block_min(d, n);
        if (m <= bound) push_equal(h, d, first, n, m);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (d[i] <= bound) {
            nearkit_topk_push(h, d[i], first + i);
            bound = nearkit_topk_bound(h);
        }
    }
}

/* ---- shortlists --------------------------------------------------------------------------------- */

void nearkit_shortlist_init(nearkit_shortlist *s, float *dist_room, uint64_t *pos_room, size_t keep,
                            const int64_t *ids) {
    *s = (nearkit_shortlist){.dist = dist_room, .pos = pos_room, .keep = keep, .ids = ids,
                             .bound = keep ? INFINITY : -INFINITY};
}

/* Whether pair i is nearer than pair j (ties by id, then by position, so the order is total). */
static inline bool shortlist_nearer(const nearkit_shortlist *s, size_t i, size_t j) {
    if (s->dist[i] != s->dist[j]) return s->dist[i] < s->dist[j];
    int64_t a = s->ids ? s->ids[s->pos[i]] : (int64_t)s->pos[i], b = s->ids ? s->ids[s->pos[j]] : (int64_t)s->pos[j];
    return a != b ? a < b : s->pos[i] < s->pos[j];
}

static inline void shortlist_swap(nearkit_shortlist *s, size_t i, size_t j) {
    float d = s->dist[i];
    uint64_t p = s->pos[i];
    s->dist[i] = s->dist[j];
    s->pos[i] = s->pos[j];
    s->dist[j] = d;
    s->pos[j] = p;
}

void nearkit_shortlist_select(nearkit_shortlist *s) {
    if (s->size <= s->keep || s->keep == 0) return;
    /* quickselect: pairs [0, keep) end up the keep nearest (pair keep - 1 the worst of them) */
    size_t lo = 0, hi = s->size, target = s->keep - 1;
    while (hi - lo > 1) {
        shortlist_swap(s, lo + (hi - lo) / 2, hi - 1); /* the middle pair as the pivot, kept last */
        size_t store = lo;
        for (size_t i = lo; i + 1 < hi; i++)
            if (shortlist_nearer(s, i, hi - 1)) shortlist_swap(s, i, store++);
        shortlist_swap(s, store, hi - 1);
        if (store == target) break;
        if (target < store) hi = store;
        else lo = store + 1;
    }
    s->size = s->keep;
    float worst = s->dist[0];
    for (size_t i = 1; i < s->keep; i++) worst = s->dist[i] > worst ? s->dist[i] : worst;
    s->bound = worst;
}

void nearkit_shortlist_finish(nearkit_shortlist *s, nearkit_topk *h) {
    nearkit_shortlist_select(s);
    nearkit_topk_init(h, s->dist, s->pos, s->keep, s->ids);
    h->size = s->size;
    for (size_t i = h->size / 2; i-- > 0;) sift_down(h, i, h->size);
}

void nearkit_topk_sort(nearkit_topk *h) {
    /* heapsort: repeatedly move the worst to the end */
    for (size_t end = h->size; end > 1; end--) {
        float d = h->dist[0];
        uint64_t p = h->pos[0];
        h->dist[0] = h->dist[end - 1];
        h->pos[0] = h->pos[end - 1];
        h->dist[end - 1] = d;
        h->pos[end - 1] = p;
        sift_down(h, 0, end - 1);
    }
}

void nearkit_topk_emit(const nearkit_topk *h, const int64_t *ids, uint64_t k, int64_t *out_ids,
                       float *out_dist) {
    uint64_t i = 0;
    for (; i < h->size && i < k; i++) {
        out_ids[i] = ids ? ids[h->pos[i]] : (int64_t)h->pos[i];
        out_dist[i] = h->dist[i];
    }
    for (; i < k; i++) {
        out_ids[i] = -1;
        out_dist[i] = INFINITY;
    }
}

void nearkit_sort_row(int64_t *ids, float *dist, uint64_t k) {
    for (uint64_t i = 1; i < k; i++) { /* insertion sort: rows are short and nearly sorted */
        float d = dist[i];
        int64_t id = ids[i];
        uint64_t j = i;
        while (j > 0 && (dist[j - 1] > d || (dist[j - 1] == d && ids[j - 1] > id))) {
            dist[j] = dist[j - 1];
            ids[j] = ids[j - 1];
            j--;
        }
        dist[j] = d;
        ids[j] = id;
    }
}

bool nearkit_rerank_certain(const nearkit_topk *sorted, uint64_t k, float floor, double slack,
                            bool rooted) {
    if (isinf(floor) && floor > 0) return true; /* every row is a candidate */
    if (sorted->size < k) return false;         /* cannot happen when the scan kept >= k rows */
    double kth = sorted->dist[k - 1];
    if (rooted) {
        /* squares that differ can root to one reported float: every square below the square of
         * the next float after the k-th's root may be reported equal to it */
        double next = nextafterf(sqrtf((float)kth), INFINITY);
        kth = next * next;
        return (double)floor - slack >= kth;
    }
    /* strict: an outside row at exactly the k-th distance might win the tie on its id */
    return (double)floor - slack > kth;
}
