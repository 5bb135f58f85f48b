/* The scanner of packed binary codes under Hamming (ivf_scan.h): the SIMD popcount kernels a block
 * of codes at a time, the best kept in an integer heap over the rows' insertion positions. */
#include "codes/ivf_scan.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>

#define SCAN_ROWS 1024 /* codes per kernel call */
#define MAX_CHUNK 64

typedef struct binary_scratch {
    uint32_t *row_dist;    /* SCAN_ROWS */
    nearkit_int_topk best; /* k-NN only */
    int64_t radius;        /* range only: the largest distance that matches, -1: none does */
} binary_scratch;

static void scratch_free(void *scratch) {
    binary_scratch *s = scratch;
    if (!s) return;
    free(s->row_dist);
    nearkit_int_topk_free(&s->best);
    free(s);
}

/* Distances are integers: the radius rounds down, and no distance exceeds the dimension. */
static int64_t integer_radius(const nearkit_search_call *c) {
    uint32_t d = c->ix->dimension;
    return c->radius < 0 ? -1 : c->radius >= (float)d ? d : (int64_t)floorf(c->radius);
}

static void *scratch_new(const nearkit_search_call *c) {
    const nearkit_index *ix = c->ix;
    binary_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->row_dist = nearkit_alloc_array(SCAN_ROWS, sizeof(uint32_t));
    bool best = c->k == 0 || nearkit_int_topk_init(&s->best, c->k, nearkit_ivf_view_of(c)->position_ids,
                                                   ix->dimension);
    s->radius = integer_radius(c);
    if (s->row_dist && best) return s;
    scratch_free(s);
    return NULL;
}

/* The heap is sized by k and the dimension (its counters); the ids and radius are the call's. */
static bool scratch_reuse(void *scratch, const nearkit_search_call *c) {
    binary_scratch *s = scratch;
    if (c->k != s->best.k || (c->k && s->best.max_dist != c->ix->dimension)) return false;
    s->best.ids = nearkit_ivf_view_of(c)->position_ids;
    s->radius = integer_radius(c);
    return true;
}

static void knn_begin(void *scratch) { nearkit_int_topk_reset(&((binary_scratch *)scratch)->best); }

static void knn_scan(void *scratch, const nearkit_search_call *c, const void *query,
                     const nearkit_ivf_list *list, uint64_t rows) {
    binary_scratch *s = scratch;
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t nbytes = (size_t)c->ix->vector_bytes;
    for (uint64_t r0 = 0; r0 < rows; r0 += SCAN_ROWS) {
        size_t n = rows - r0 < SCAN_ROWS ? (size_t)(rows - r0) : SCAN_ROWS;
        kt->hamming_many(s->row_dist, query, list->codes + r0 * nbytes, n, nbytes);
        nearkit_int_topk_add(&s->best, s->row_dist, list->positions + r0, n);
    }
}

static void knn_finish(void *scratch, const nearkit_search_call *c, uint64_t q) {
    nearkit_write_int_heap(c, q, &((binary_scratch *)scratch)->best);
}

/* The id of the row at a position. */
static int64_t position_id(const nearkit_search_call *c, uint32_t pos) {
    const int64_t *ids = nearkit_ivf_view_of(c)->position_ids;
    return ids ? ids[pos] : (int64_t)pos;
}

/* Filtered: distances a block at a time (a popcount is as cheap as a filter test); a row that
 * would enter the heap is tested, or, where few are admitted, every row is, to count them. */
static uint64_t knn_scan_admitted(void *scratch, const nearkit_search_call *c, const void *query,
                                  const nearkit_ivf_list *list) {
    binary_scratch *s = scratch;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t nbytes = (size_t)c->ix->vector_bytes;
    uint64_t admitted = 0;
    for (uint64_t r0 = 0; r0 < list->size; r0 += SCAN_ROWS) {
        size_t n = list->size - r0 < SCAN_ROWS ? (size_t)(list->size - r0) : SCAN_ROWS;
        kt->hamming_many(s->row_dist, query, list->codes + r0 * nbytes, n, nbytes);
        const uint32_t *positions = list->positions + r0;
        for (size_t r = 0; r < n; r++) {
            bool near = s->row_dist[r] <= nearkit_int_topk_bar(&s->best);
            if (!near && !view->admit_first) continue;
            if (!nearkit_call_admits(c, position_id(c, positions[r]))) continue;
            admitted++;
            if (near) nearkit_int_topk_push(&s->best, s->row_dist[r], positions[r]);
        }
    }
    return view->admit_first ? admitted : (uint64_t)((double)list->size * view->selectivity + 0.5);
}

static uint64_t knn_held(const void *scratch) { return ((const binary_scratch *)scratch)->best.size; }

static bool range_scan(void *scratch, const nearkit_search_call *c, uint64_t q, const void *query,
                       const nearkit_ivf_list *list, uint64_t rows) {
    binary_scratch *s = scratch;
    if (s->radius < 0) return true;
    const nearkit_kernel_table *kt = nearkit_kernels();
    const int64_t *ids = nearkit_ivf_view_of(c)->position_ids;
    size_t nbytes = (size_t)c->ix->vector_bytes;
    for (uint64_t r0 = 0; r0 < rows; r0 += SCAN_ROWS) {
        size_t n = rows - r0 < SCAN_ROWS ? (size_t)(rows - r0) : SCAN_ROWS;
        kt->hamming_many(s->row_dist, query, list->codes + r0 * nbytes, n, nbytes);
        for (size_t r = 0; r < n; r++) {
            if (s->row_dist[r] > s->radius) continue;
            uint32_t pos = list->positions[r0 + r];
            int64_t id = ids ? ids[pos] : (int64_t)pos;
            if (c->admit && !nearkit_call_admits(c, id)) continue;
            if (!nearkit_add_match(c, q, id, (float)s->row_dist[r])) return false;
        }
    }
    return true;
}

const nearkit_ivf_scanner nearkit_ivf_scan_binary = {
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
};
