/* Merging k-NN results computed apart (nearkit_merge_knn): several indexes over parts of one
 * collection (shards), or two indexes over the same rows whose answers are combined. The result
 * rows follow the header's contract for a search: nearest first, equal distances by smaller id,
 * padding with -1 and +infinity. */
#include "base/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One candidate of a query's row. */
typedef struct candidate {
    float dist;
    int64_t id;
} candidate;

static int by_distance_then_id(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int by_id_then_distance(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->dist > y->dist) - (x->dist < y->dist);
}

/* Row q's candidates of every part (padding left out) into c; returns how many, or SIZE_MAX when
 * a distance is NaN. */
static size_t gather_row(candidate *c, const nearkit_knn_part *parts, uint64_t n_parts, uint64_t q) {
    size_t m = 0;
    for (uint64_t p = 0; p < n_parts; p++) {
        const int64_t *ids = parts[p].ids + q * parts[p].k;
        const float *dist = parts[p].distances + q * parts[p].k;
        for (uint64_t j = 0; j < parts[p].k; j++) {
            if (isnan(dist[j])) return SIZE_MAX;
            if (ids[j] == -1) continue;
            c[m++] = (candidate){dist[j], ids[j]};
        }
    }
    return m;
}

/* Keeps each id's nearest candidate (c sorted by id, then distance); returns how many remain. */
static size_t keep_nearest_of_each_id(candidate *c, size_t m) {
    size_t kept = 0;
    for (size_t i = 0; i < m; i++)
        if (kept == 0 || c[kept - 1].id != c[i].id) c[kept++] = c[i];
    return kept;
}

static void write_row(int64_t *ids, float *dist, uint64_t k, const candidate *c, size_t m) {
    for (uint64_t j = 0; j < k; j++) {
        ids[j] = j < m ? c[j].id : -1;
        dist[j] = j < m ? c[j].dist : INFINITY;
    }
}

NEARKIT_API nearkit_status nearkit_merge_knn(int64_t *ids, float *distances, uint64_t n, uint64_t k,
                                             const nearkit_knn_part *parts, uint64_t n_parts,
                                             uint32_t flags) {
    nearkit_clear_error();
    if (k == 0) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "k must be at least 1");
    if (flags & ~(uint32_t)NEARKIT_MERGE_UNIQUE)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "unknown merge flags %#x", flags);
    if (n == 0) return NEARKIT_OK;
    if (!ids || !distances) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "result buffers are NULL");
    if (n_parts > 0 && !parts) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "parts are NULL");
    uint64_t width = 0;
    for (uint64_t p = 0; p < n_parts; p++) {
        if (parts[p].k > 0 && (!parts[p].ids || !parts[p].distances))
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "part %llu: ids or distances are NULL",
                                     (unsigned long long)p);
        if (parts[p].k > (uint64_t)PTRDIFF_MAX / sizeof(candidate) / n - width)
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "the parts hold too many results");
        width += parts[p].k;
    }
    candidate *c = nearkit_alloc_array((size_t)(width ? width : 1), sizeof *c);
    if (!c) return nearkit_oom();
    nearkit_status st = NEARKIT_OK;
    for (uint64_t q = 0; q < n && !st; q++) {
        size_t m = gather_row(c, parts, n_parts, q);
        if (m == SIZE_MAX) {
            st = nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "a distance of query %llu is NaN",
                                   (unsigned long long)q);
            break;
        }
        if (flags & NEARKIT_MERGE_UNIQUE) {
            qsort(c, m, sizeof *c, by_id_then_distance);
            m = keep_nearest_of_each_id(c, m);
        }
        qsort(c, m, sizeof *c, by_distance_then_id);
        write_row(ids + q * k, distances + q * k, k, c, m);
    }
    free(c);
    return st;
}
