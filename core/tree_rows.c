/* Stored rows of the tree kinds, their leaf distances and their k-NN output (tree_rows.h). */
#include "tree_rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VECS_TAG NEARKIT_TAG('V', 'E', 'C', 'S')
#define IDS_TAG NEARKIT_TAG('I', 'D', 'S', ' ')

void nearkit_tree_rows_free(nearkit_tree_rows *rows) {
    nearkit_aligned_free(rows->vectors);
    free(rows->ids);
    *rows = (nearkit_tree_rows){0};
}

uint64_t nearkit_tree_rows_memory(const nearkit_tree_rows *rows, const nearkit_index *ix) {
    return rows->capacity * (ix->vector_bytes + sizeof(int64_t));
}

static nearkit_status reserve(nearkit_tree_rows *rows, const nearkit_index *ix, uint64_t needed) {
    if (needed <= rows->capacity) return NEARKIT_OK;
    uint64_t cap = rows->capacity + rows->capacity / 2;
    if (cap < needed) cap = needed;
    if (cap > SIZE_MAX / ix->vector_bytes) return nearkit_oom();
    uint8_t *vectors = nearkit_aligned_alloc_array((size_t)cap, (size_t)ix->vector_bytes);
    int64_t *ids = nearkit_alloc_array((size_t)cap, sizeof(int64_t));
    if (!vectors || !ids) {
        nearkit_aligned_free(vectors);
        free(ids);
        return nearkit_oom();
    }
    if (rows->count) {
        memcpy(vectors, rows->vectors, (size_t)(rows->count * ix->vector_bytes));
        memcpy(ids, rows->ids, (size_t)rows->count * sizeof(int64_t));
    }
    nearkit_aligned_free(rows->vectors);
    free(rows->ids);
    rows->vectors = vectors;
    rows->ids = ids;
    rows->capacity = cap;
    return NEARKIT_OK;
}

nearkit_status nearkit_tree_rows_append(nearkit_tree_rows *rows, const nearkit_index *ix,
                                        const void *vectors, uint64_t n, const int64_t *ids) {
    nearkit_status st = reserve(rows, ix, rows->count + n);
    if (st) return st;
    memcpy(rows->vectors + rows->count * ix->vector_bytes, vectors, (size_t)(n * ix->vector_bytes));
    for (uint64_t i = 0; i < n; i++) rows->ids[rows->count + i] = ids ? ids[i] : (int64_t)(rows->count + i);
    rows->count += n;
    return NEARKIT_OK;
}

nearkit_status nearkit_tree_rows_permute(nearkit_tree_rows *rows, const nearkit_index *ix,
                                         const uint64_t *perm, uint64_t n) {
    size_t vb = (size_t)ix->vector_bytes;
    uint64_t cap = rows->capacity ? rows->capacity : 1;
    uint8_t *vectors = nearkit_aligned_alloc_array((size_t)cap, vb);
    int64_t *ids = nearkit_alloc_array((size_t)cap, sizeof(int64_t));
    if (!vectors || !ids) {
        nearkit_aligned_free(vectors);
        free(ids);
        return nearkit_oom();
    }
    for (uint64_t i = 0; i < n; i++) {
        memcpy(vectors + i * vb, rows->vectors + perm[i] * vb, vb);
        ids[i] = rows->ids[perm[i]];
    }
    if (rows->count > n) {
        memcpy(vectors + n * vb, rows->vectors + n * vb, (size_t)(rows->count - n) * vb);
        memcpy(ids + n, rows->ids + n, (size_t)(rows->count - n) * sizeof(int64_t));
    }
    nearkit_aligned_free(rows->vectors);
    free(rows->ids);
    rows->vectors = vectors;
    rows->ids = ids;
    return NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

nearkit_status nearkit_tree_rows_save(const nearkit_tree_rows *rows, const nearkit_index *ix,
                                      nearkit_writer *w) {
    nearkit_status st = nearkit_writer_section(w, VECS_TAG, rows->vectors, rows->count * ix->vector_bytes);
    if (!st) st = nearkit_writer_section(w, IDS_TAG, rows->ids, rows->count * sizeof(int64_t));
    return st;
}

nearkit_status nearkit_tree_rows_load(nearkit_tree_rows *rows, const nearkit_index *ix,
                                      const nearkit_reader *r) {
    const void *vectors, *ids;
    uint64_t size;
    nearkit_status st = nearkit_reader_section(&vectors, &size, r, VECS_TAG);
    if (st) return st;
    if (size % ix->vector_bytes != 0)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: vector section of %llu bytes is not a whole number "
                                 "of %llu-byte vectors",
                                 (unsigned long long)size, (unsigned long long)ix->vector_bytes);
    uint64_t n = size / ix->vector_bytes;
    st = nearkit_reader_section_sized(&ids, r, IDS_TAG, n * sizeof(int64_t));
    if (st) return st;
    st = reserve(rows, ix, n);
    if (st) return st;
    /* the image may be unaligned: copy before reading values */
    memcpy(rows->vectors, vectors, (size_t)size);
    memcpy(rows->ids, ids, (size_t)n * sizeof(int64_t));
    rows->count = n;
    if (ix->vector_type == NEARKIT_VECTOR_FLOAT32) {
        st = nearkit_check_loaded_floats(ix, (const float *)rows->vectors, n, "stored vector");
        if (st) return st;
    }
    for (uint64_t i = 0; i < n; i++)
        if (rows->ids[i] == -1) return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: stored id -1");
    return NEARKIT_OK;
}

/* ---- distances and results --------------------------------------------------------------------- */

void nearkit_tree_rows_distances(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                                 const nearkit_index *ix, const nearkit_tree_rows *rows,
                                 const void *query, uint64_t begin, size_t n) {
    nearkit_metric_distances(out, ints, kt, ix->metric, query, nearkit_tree_rows_at(rows, ix, begin), n,
                             ix->dimension, (size_t)ix->vector_bytes);
}

void nearkit_tree_push_block(nearkit_topk *h, const float *d, uint64_t first, size_t n) {
    float bound = nearkit_topk_bound(h);
    for (size_t i = 0; i < n; i++) {
        if (d[i] <= bound) {
            nearkit_topk_push(h, d[i], first + i);
            bound = nearkit_topk_bound(h);
        }
    }
}

/* Sorts a short result row by (distance, id). */
void nearkit_tree_emit_knn(nearkit_topk *h, const nearkit_index *ix, const int64_t *ids, uint64_t k,
                           int64_t *out_ids, float *out_dist) {
    nearkit_topk_sort(h);
    nearkit_topk_emit(h, ids, k, out_ids, out_dist);
    uint64_t n = h->size < k ? h->size : k;
    if (ix->metric == NEARKIT_METRIC_L2) {
        /* rooting can merge distinct squares into one float: restore the id order of such ties */
        for (uint64_t i = 0; i < n; i++) out_dist[i] = sqrtf(out_dist[i]);
        nearkit_sort_row(out_ids, out_dist, n);
    }
}
