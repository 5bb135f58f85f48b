/* The shortlist (core/base/topk.c) keeps what a bounded heap keeps: random streams of candidates
 * offered the way the scanners offer them (only those not above the current bound), few or many
 * distinct distances, positions or explicit (repeating) ids as the tie-break, keep below and above
 * the candidate count; the pairs kept, sorted by (distance, id), are the heap's, and the finished
 * shortlist is a valid heap. */
#include "base/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

typedef struct kept {
    float dist;
    int64_t id;
} kept;

static int compare_kept(const void *a, const void *b) {
    const kept *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The heap's pairs as (distance, id), sorted. */
static void sorted_pairs(kept *out, const nearkit_topk *h) {
    for (size_t i = 0; i < h->size; i++)
        out[i] = (kept){h->dist[i], h->ids ? h->ids[h->pos[i]] : (int64_t)h->pos[i]};
    qsort(out, h->size, sizeof *out, compare_kept);
}

/* Whether h is a max-heap in (distance, id) order. */
static bool is_heap(const nearkit_topk *h) {
    for (size_t i = 1; i < h->size; i++) {
        size_t p = (i - 1) / 2;
        kept a = {h->dist[p], h->ids ? h->ids[h->pos[p]] : (int64_t)h->pos[p]};
        kept b = {h->dist[i], h->ids ? h->ids[h->pos[i]] : (int64_t)h->pos[i]};
        if (compare_kept(&a, &b) < 0) return false;
    }
    return true;
}

int main(void) {
    uint64_t rng = 777;
    for (int trial = 0; trial < 2000; trial++) {
        size_t n = next(&rng) % 3000, keep = 1 + next(&rng) % (trial % 4 == 0 ? 8 : 500);
        uint32_t levels = 1 + (uint32_t)(next(&rng) % (trial % 3 == 0 ? 4 : 100000));
        bool explicit_ids = trial & 1;
        float *dist = malloc((n + 1) * sizeof *dist);
        int64_t *ids = malloc((n + 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++) {
            dist[i] = (float)(next(&rng) % levels) * 0.25f;
            ids[i] = (int64_t)(next(&rng) % (trial % 5 == 0 ? 9 : 1000000));
        }
        float *heap_dist = malloc(keep * sizeof *heap_dist), *room_dist = malloc(2 * keep * sizeof *room_dist);
        uint64_t *heap_pos = malloc(keep * sizeof *heap_pos), *room_pos = malloc(2 * keep * sizeof *room_pos);
        nearkit_topk heap, finished;
        nearkit_shortlist list;
        nearkit_topk_init(&heap, heap_dist, heap_pos, keep, explicit_ids ? ids : NULL);
        nearkit_shortlist_init(&list, room_dist, room_pos, keep, explicit_ids ? ids : NULL);
        for (size_t i = 0; i < n; i++) {
            if (dist[i] <= nearkit_topk_bound(&heap)) nearkit_topk_push(&heap, dist[i], i);
            if (dist[i] <= list.bound) nearkit_shortlist_push(&list, dist[i], i);
            CHECK(list.bound >= nearkit_topk_bound(&heap)); /* never tighter than the heap's */
            CHECK(nearkit_shortlist_held(&list) == heap.size);
        }
        nearkit_shortlist_finish(&list, &finished);
        CHECK(finished.size == heap.size && finished.cap == keep);
        CHECK(is_heap(&finished));
        kept *a = malloc((keep + 1) * sizeof *a), *b = malloc((keep + 1) * sizeof *b);
        sorted_pairs(a, &heap);
        sorted_pairs(b, &finished);
        bool same = finished.size == heap.size;
        for (size_t i = 0; same && i < heap.size; i++) same = a[i].dist == b[i].dist && a[i].id == b[i].id;
        if (!same) fprintf(stderr, "trial %d (n %zu, keep %zu, %u levels): the shortlist kept other pairs\n", trial, n, keep, levels);
        CHECK(same);
        free(a);
        free(b);
        free(heap_dist);
        free(heap_pos);
        free(room_dist);
        free(room_pos);
        free(dist);
        free(ids);
    }
    return check_summary("test_shortlist");
}
