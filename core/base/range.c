/* Range-search results: per-query match lists gathered in parallel, then packed as CSR. */
#include "base/internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct range_match {
    float dist;
    int64_t id;
} range_match;

typedef struct range_list {
    range_match *items;
    uint64_t size, cap;
} range_list;

struct nearkit_range_builder {
    range_list *lists;
    uint64_t n_queries;
};

struct nearkit_range_result {
    uint64_t n_queries;
    uint64_t *offsets;
    int64_t *ids;
    float *distances;
};

nearkit_range_builder *nearkit_range_builder_new(uint64_t n_queries) {
    nearkit_range_builder *b = malloc(sizeof *b);
    if (!b) return NULL;
    b->n_queries = n_queries;
    b->lists = calloc(n_queries ? n_queries : 1, sizeof *b->lists);
    if (!b->lists) {
        free(b);
        return NULL;
    }
    return b;
}

bool nearkit_range_builder_add(nearkit_range_builder *b, uint64_t query, int64_t id, float dist) {
    range_list *l = &b->lists[query];
    if (l->size == l->cap) {
        uint64_t cap = l->cap ? l->cap * 2 : 16;
        range_match *grown = nearkit_alloc_array(cap, sizeof *grown);
        if (!grown) return false;
        if (l->size) memcpy(grown, l->items, l->size * sizeof *grown);
        free(l->items);
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->size++] = (range_match){dist, id};
    return true;
}

void nearkit_range_builder_free(nearkit_range_builder *b) {
    if (!b) return;
    for (uint64_t q = 0; q < b->n_queries; q++) free(b->lists[q].items);
    free(b->lists);
    free(b);
}

static int compare_matches(const void *pa, const void *pb) {
    const range_match *a = pa, *b = pb;
    if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

nearkit_status nearkit_range_builder_finish(nearkit_range_result **out, nearkit_range_builder *b) {
    uint64_t total = 0;
    for (uint64_t q = 0; q < b->n_queries; q++) total += b->lists[q].size;
    nearkit_range_result *r = calloc(1, sizeof *r);
    if (r) {
        r->n_queries = b->n_queries;
        r->offsets = nearkit_alloc_array(b->n_queries + 1, sizeof *r->offsets);
        r->ids = nearkit_alloc_array(total, sizeof *r->ids);
        r->distances = nearkit_alloc_array(total, sizeof *r->distances);
    }
    if (!r || !r->offsets || !r->ids || !r->distances) {
        nearkit_range_result_free(r);
        nearkit_range_builder_free(b);
        return nearkit_oom();
    }
    uint64_t at = 0;
    for (uint64_t q = 0; q < b->n_queries; q++) {
        range_list *l = &b->lists[q];
        if (l->size > 1) qsort(l->items, l->size, sizeof *l->items, compare_matches);
        r->offsets[q] = at;
        for (uint64_t i = 0; i < l->size; i++, at++) {
            r->ids[at] = l->items[i].id;
            r->distances[at] = l->items[i].dist;
        }
    }
    r->offsets[b->n_queries] = at;
    nearkit_range_builder_free(b);
    *out = r;
    return NEARKIT_OK;
}

NEARKIT_API uint64_t nearkit_range_result_query_count(const nearkit_range_result *result) {
    return result ? result->n_queries : 0;
}

NEARKIT_API nearkit_status nearkit_range_result_get(const uint64_t **offsets, const int64_t **ids,
                                                    const float **distances,
                                                    const nearkit_range_result *result) {
    nearkit_clear_error();
    if (!result) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "range result is NULL");
    if (offsets) *offsets = result->offsets;
    if (ids) *ids = result->ids;
    if (distances) *distances = result->distances;
    return NEARKIT_OK;
}

NEARKIT_API void nearkit_range_result_free(nearkit_range_result *result) {
    if (!result) return;
    free(result->offsets);
    free(result->ids);
    free(result->distances);
    free(result);
}
