/* The row store (rows.h). */
#include "search/rows.h"

#include <stdlib.h>
#include <string.h>

#define VECS_TAG NEARKIT_TAG('V', 'E', 'C', 'S')
#define IDS_TAG NEARKIT_TAG('I', 'D', 'S', ' ')

/* Frees what the store owns of its blocks (a view's are borrowed). */
static void release_blocks(nearkit_rows *rows) {
    if (!rows->vectors_borrowed) nearkit_aligned_free(rows->vectors);
    if (!rows->ids_borrowed) free(rows->ids);
    rows->vectors_borrowed = rows->ids_borrowed = false;
}

void nearkit_rows_free(nearkit_rows *rows) {
    release_blocks(rows);
    *rows = (nearkit_rows){0};
}

uint64_t nearkit_rows_memory(const nearkit_rows *rows, const nearkit_index *ix) {
    uint64_t vectors = rows->vectors_borrowed ? 0 : ix->vector_bytes;
    uint64_t ids = rows->ids && !rows->ids_borrowed ? sizeof(int64_t) : 0;
    return rows->capacity * (vectors + ids);
}

/* Moves the rows into new blocks of `cap` rows (cap >= count). */
static nearkit_status resize(nearkit_rows *rows, const nearkit_index *ix, uint64_t cap) {
    if (cap > SIZE_MAX / ix->vector_bytes) return nearkit_oom();
    uint8_t *vectors = nearkit_bulk_alloc_array((size_t)cap, (size_t)ix->vector_bytes);
    int64_t *ids = rows->ids ? nearkit_alloc_array((size_t)cap, sizeof(int64_t)) : NULL;
    if (!vectors || (rows->ids && !ids)) {
        nearkit_aligned_free(vectors);
        free(ids);
        return nearkit_oom();
    }
    if (rows->count) {
        memcpy(vectors, rows->vectors, (size_t)(rows->count * ix->vector_bytes));
        if (ids) memcpy(ids, rows->ids, (size_t)rows->count * sizeof(int64_t));
    }
    release_blocks(rows);
    rows->vectors = vectors;
    rows->ids = ids;
    rows->capacity = cap;
    return NEARKIT_OK;
}

/* Room for `needed` rows: capacity grows by half again (amortised O(1) appends). */
static nearkit_status reserve(nearkit_rows *rows, const nearkit_index *ix, uint64_t needed) {
    if (needed <= rows->capacity) return NEARKIT_OK;
    uint64_t cap = rows->capacity + rows->capacity / 2;
    return resize(rows, ix, cap < needed ? needed : cap);
}

nearkit_status nearkit_rows_reserve(nearkit_rows *rows, const nearkit_index *ix, uint64_t needed) {
    return reserve(rows, ix, needed);
}

nearkit_status nearkit_rows_own(nearkit_rows *rows, const nearkit_index *ix) {
    if (!rows->vectors_borrowed && !rows->ids_borrowed) return NEARKIT_OK;
    return resize(rows, ix, rows->count ? rows->count : 1);
}

nearkit_status nearkit_rows_explicit_ids(nearkit_rows *rows) {
    if (rows->ids) return NEARKIT_OK;
    int64_t *ids = nearkit_alloc_array((size_t)(rows->capacity ? rows->capacity : 1), sizeof(int64_t));
    if (!ids) return nearkit_oom();
    for (uint64_t i = 0; i < rows->count; i++) ids[i] = (int64_t)i;
    rows->ids = ids;
    return NEARKIT_OK;
}

nearkit_status nearkit_rows_take_ids(int64_t **ids, uint64_t *capacity, nearkit_rows *rows) {
    *ids = NULL;
    *capacity = 0;
    if (!rows->ids) return NEARKIT_OK;
    if (rows->ids_borrowed) { /* a view's: the caller gets a copy it can free */
        int64_t *copy = nearkit_alloc_array((size_t)(rows->count ? rows->count : 1), sizeof(int64_t));
        if (!copy) return nearkit_oom();
        memcpy(copy, rows->ids, (size_t)rows->count * sizeof(int64_t));
        rows->ids = copy;
        rows->ids_borrowed = false;
        rows->capacity = rows->count;
    }
    *ids = rows->ids;
    *capacity = rows->capacity;
    rows->ids = NULL;
    return NEARKIT_OK;
}

nearkit_status nearkit_rows_append(nearkit_rows *rows, const nearkit_index *ix, const void *vectors,
                                   uint64_t n, const int64_t *ids) {
    if (n == 0) return NEARKIT_OK; /* touches no memory: vectors may be NULL */
    nearkit_status st = ids ? nearkit_rows_explicit_ids(rows) : NEARKIT_OK;
    if (!st) st = reserve(rows, ix, rows->count + n);
    if (st) return st;
    memcpy(rows->vectors + rows->count * ix->vector_bytes, vectors, (size_t)(n * ix->vector_bytes));
    if (rows->ids)
        for (uint64_t i = 0; i < n; i++) rows->ids[rows->count + i] = ids ? ids[i] : (int64_t)(rows->count + i);
    rows->count += n;
    return NEARKIT_OK;
}

nearkit_status nearkit_rows_permute(nearkit_rows *rows, const nearkit_index *ix, const uint64_t *perm,
                                    uint64_t n) {
    nearkit_status st = nearkit_rows_explicit_ids(rows);
    if (st) return st;
    size_t vb = (size_t)ix->vector_bytes;
    uint64_t cap = rows->capacity ? rows->capacity : 1;
    uint8_t *vectors = nearkit_bulk_alloc_array((size_t)cap, vb);
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
    release_blocks(rows);
    rows->vectors = vectors;
    rows->ids = ids;
    return NEARKIT_OK;
}

/* ---- living collections ------------------------------------------------------------------------ */

nearkit_status nearkit_rows_remove(nearkit_rows *rows, const nearkit_idmap *ids, uint64_t *marked) {
    *marked = 0;
    nearkit_status st = nearkit_rows_explicit_ids(rows);
    if (st) return st;
    for (uint64_t r = 0; r < rows->count; r++) {
        if (rows->ids[r] == NEARKIT_REMOVED_ID || !nearkit_idmap_contains(ids, rows->ids[r])) continue;
        rows->ids[r] = NEARKIT_REMOVED_ID;
        (*marked)++;
    }
    rows->removed += *marked;
    return NEARKIT_OK;
}

/* After a compaction that left the store less than half full: capacity down to the rows plus a
 * quarter, so a collection that shrinks gives its memory back. Keeps the larger block when the
 * smaller cannot be had. */
static void shrink_to_fit(nearkit_rows *rows, const nearkit_index *ix) {
    if (rows->capacity < 64 || rows->count >= rows->capacity / 2) return;
    if (resize(rows, ix, rows->count + rows->count / 4 + 1)) nearkit_clear_error();
}

void nearkit_rows_compact(nearkit_rows *rows, const nearkit_index *ix, uint64_t *kept) {
    size_t vb = (size_t)ix->vector_bytes;
    uint64_t to = 0;
    for (uint64_t r = 0; r < rows->count; r++) {
        if (rows->ids && rows->ids[r] == NEARKIT_REMOVED_ID) continue;
        if (to != r) {
            memcpy(rows->vectors + to * vb, rows->vectors + r * vb, vb);
            if (rows->ids) rows->ids[to] = rows->ids[r];
        }
        if (kept) kept[to] = r;
        to++;
    }
    rows->count = to;
    rows->removed = 0;
    shrink_to_fit(rows, ix);
}

void nearkit_rows_get(const nearkit_rows *rows, const nearkit_index *ix, const nearkit_idmap *wanted,
                      void *out, uint8_t *found) {
    size_t vb = (size_t)ix->vector_bytes;
    for (uint64_t r = 0; r < rows->count; r++) {
        const uint64_t *slot = nearkit_idmap_find(wanted, nearkit_rows_id(rows, r));
        if (!slot || nearkit_rows_id(rows, r) == NEARKIT_REMOVED_ID) continue;
        memcpy((uint8_t *)out + *slot * vb, nearkit_rows_at(rows, ix, r), vb);
        found[*slot] = 1;
    }
}

bool nearkit_rows_each_id(const nearkit_rows *rows, bool (*fn)(void *ctx, int64_t id), void *ctx) {
    for (uint64_t r = 0; r < rows->count; r++) {
        int64_t id = nearkit_rows_id(rows, r);
        if (id != NEARKIT_REMOVED_ID && !fn(ctx, id)) return false;
    }
    return true;
}

/* ---- searching a subset of the rows ----------------------------------------------------------- */

nearkit_status nearkit_rows_admitted(uint64_t **positions, uint64_t *n, const nearkit_rows *rows,
                                     const nearkit_search_call *c, uint64_t begin, uint64_t end) {
    *n = 0;
    *positions = nearkit_alloc_array((size_t)(end - begin), sizeof(uint64_t));
    if (!*positions) return nearkit_oom();
    for (uint64_t r = begin; r < end; r++)
        if (nearkit_call_admits(c, nearkit_rows_id(rows, r))) (*positions)[(*n)++] = r;
    return NEARKIT_OK;
}

/* The ranking values of the query against the rows at positions[0, n), one kernel call each. */
static void positions_distances(float *dist, uint32_t *ints, const nearkit_index *ix,
                                const nearkit_rows *rows, const void *query, const uint64_t *positions,
                                uint64_t n) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    for (uint64_t i = 0; i < n; i++)
        nearkit_rows_distances(dist + i, ints + i, kt, ix, rows, query, positions[i], 1);
}

void nearkit_rows_offer(nearkit_topk *h, float *dist, uint32_t *ints, const nearkit_index *ix,
                        const nearkit_rows *rows, const void *query, const uint64_t *positions,
                        uint64_t n) {
    positions_distances(dist, ints, ix, rows, query, positions, n);
    for (uint64_t i = 0; i < n; i++)
        if (dist[i] <= nearkit_topk_bound(h)) nearkit_topk_push(h, dist[i], positions[i]);
}

bool nearkit_rows_match(const nearkit_search_call *c, uint64_t q, float *dist, uint32_t *ints,
                        const nearkit_rows *rows, const uint64_t *positions, uint64_t n) {
    positions_distances(dist, ints, c->ix, rows, nearkit_query_at(c, q), positions, n);
    for (uint64_t i = 0; i < n; i++) {
        float reported = nearkit_reported(c->ix, dist[i]);
        if (reported <= c->radius &&
            !nearkit_add_match(c, q, nearkit_rows_id(rows, positions[i]), reported))
            return false;
    }
    return true;
}

/* ---- persistence ------------------------------------------------------------------------------- */

nearkit_status nearkit_rows_save(const nearkit_rows *rows, const nearkit_index *ix, nearkit_writer *w) {
    nearkit_status st = nearkit_writer_section(w, VECS_TAG, rows->vectors, rows->count * ix->vector_bytes);
    if (!st && rows->ids) st = nearkit_writer_section(w, IDS_TAG, rows->ids, rows->count * sizeof(int64_t));
    return st;
}

static nearkit_status corrupt(const char *fmt, unsigned long long a, unsigned long long b) {
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, fmt, a, b);
}

/* The IDS section of n rows, if present (required or not), copied out of the possibly unaligned
 * image; the id -1 counts a removed row. */
static nearkit_status load_ids(nearkit_rows *rows, const nearkit_reader *r, uint64_t n, bool required) {
    const void *ids;
    uint64_t size;
    nearkit_status st = nearkit_reader_section(&ids, &size, r, IDS_TAG);
    if (st) {
        if (required) return st;
        nearkit_clear_error(); /* absent: every id is its position */
        return NEARKIT_OK;
    }
    if (size != n * sizeof(int64_t))
        return corrupt("corrupt index: %llu ids for %llu vectors", (unsigned long long)(size / 8),
                       (unsigned long long)n);
    if (nearkit_reader_borrows(r)) {
        st = nearkit_reader_borrowable(r, ids, IDS_TAG);
        if (st) return st;
        if (!rows->ids_borrowed) free(rows->ids); /* a kind may have made an empty block at create */
        rows->ids = (int64_t *)ids; /* read-only: a view refuses every write */
        rows->ids_borrowed = true;
    } else {
        st = nearkit_rows_explicit_ids(rows);
        if (st) return st;
        memcpy(rows->ids, ids, (size_t)size);
    }
    for (uint64_t i = 0; i < n; i++) rows->removed += rows->ids[i] == NEARKIT_REMOVED_ID;
    return NEARKIT_OK;
}

/* A view's rows: the VECS body in place (the capacity is the count: nothing is ever added). */
static nearkit_status borrow_vectors(nearkit_rows *rows, const nearkit_reader *r, const void *vectors,
                                     uint64_t n, uint32_t tag) {
    if (n == 0) return NEARKIT_OK;
    nearkit_status st = nearkit_reader_borrowable(r, vectors, tag);
    if (st) return st;
    if (!rows->vectors_borrowed) nearkit_aligned_free(rows->vectors);
    rows->vectors = (uint8_t *)vectors; /* read-only: a view refuses every write */
    rows->vectors_borrowed = true;
    rows->capacity = n;
    return NEARKIT_OK;
}

/* n rows from a section's body: in place from a borrowing reader, else copied. */
static nearkit_status take_vectors(nearkit_rows *rows, const nearkit_index *ix, const nearkit_reader *r,
                                   const void *vectors, uint64_t n, uint32_t tag) {
    nearkit_status st = nearkit_reader_borrows(r) ? borrow_vectors(rows, r, vectors, n, tag) : reserve(rows, ix, n);
    if (st) return st;
    /* the image may be unaligned: copy before reading values */
    if (n && !rows->vectors_borrowed) memcpy(rows->vectors, vectors, (size_t)(n * ix->vector_bytes));
    rows->count = n;
    return NEARKIT_OK;
}

/* Float rows checked as add would, where the reader checks values (a load, a verified view). */
static nearkit_status check_values(const nearkit_rows *rows, const nearkit_index *ix, const nearkit_reader *r,
                                   const char *what) {
    if (ix->vector_type != NEARKIT_VECTOR_FLOAT32 || !nearkit_reader_checks_values(r)) return NEARKIT_OK;
    return nearkit_check_loaded_floats(ix, (const float *)(const void *)rows->vectors, rows->count, what);
}

nearkit_status nearkit_rows_load(nearkit_rows *rows, const nearkit_index *ix, const nearkit_reader *r,
                                 bool ids_required) {
    const void *vectors;
    uint64_t size;
    nearkit_status st = nearkit_reader_section(&vectors, &size, r, VECS_TAG);
    if (st) return st;
    if (size % ix->vector_bytes != 0)
        return corrupt("corrupt index: vector section of %llu bytes is not a whole number of "
                       "%llu-byte vectors",
                       (unsigned long long)size, (unsigned long long)ix->vector_bytes);
    uint64_t n = size / ix->vector_bytes;
    st = take_vectors(rows, ix, r, vectors, n, VECS_TAG);
    if (!st) st = load_ids(rows, r, n, ids_required);
    return st ? st : check_values(rows, ix, r, "stored vector");
}

nearkit_status nearkit_rows_load_vectors(nearkit_rows *rows, const nearkit_index *ix, const nearkit_reader *r,
                                         uint32_t tag, uint64_t n, const char *what) {
    const void *vectors;
    nearkit_status st = nearkit_reader_section_sized(&vectors, r, tag, n * ix->vector_bytes);
    if (!st) st = take_vectors(rows, ix, r, vectors, n, tag);
    return st ? st : check_values(rows, ix, r, what);
}

/* ---- distances --------------------------------------------------------------------------------- */

void nearkit_rows_distances(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                            const nearkit_index *ix, const nearkit_rows *rows, const void *query,
                            uint64_t begin, size_t n) {
    nearkit_metric_distances(out, ints, kt, ix->metric, query, nearkit_rows_at(rows, ix, begin), n,
                             ix->dimension, (size_t)ix->vector_bytes);
}

/* ---- a structure built over the first rows ------------------------------------------------------ */

static nearkit_tree_rows *tree_rows_of(const nearkit_index *ix) { return ix->impl; }

static void tree_rows_maintain(nearkit_index *ix) {
    nearkit_tree_rows *t = tree_rows_of(ix);
    uint64_t deferred = t->rows.removed + (t->rows.count - t->built);
    if (t->maintained) {
        if (deferred > 0 && deferred >= t->rows.count / 4 && t->rebuild(ix) != NEARKIT_OK) nearkit_clear_error();
    } else if (nearkit_rows_should_compact(&t->rows)) {
        nearkit_rows_compact(&t->rows, ix, NULL); /* no structure: nothing refers to the positions */
    }
}

nearkit_status nearkit_tree_rows_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    nearkit_status st = nearkit_rows_append(&tree_rows_of(ix)->rows, ix, vectors, n, ids);
    if (!st) tree_rows_maintain(ix);
    return st;
}

nearkit_status nearkit_tree_rows_remove(nearkit_index *ix, const nearkit_idmap *ids, uint64_t *removed) {
    nearkit_status st = nearkit_rows_remove(&tree_rows_of(ix)->rows, ids, removed);
    if (!st) tree_rows_maintain(ix);
    return st;
}

nearkit_status nearkit_tree_rows_get(const nearkit_index *ix, const nearkit_idmap *wanted, void *vectors,
                                     uint8_t *found) {
    nearkit_rows_get(&tree_rows_of(ix)->rows, ix, wanted, vectors, found);
    return NEARKIT_OK;
}

void nearkit_tree_rows_each_id(const nearkit_index *ix, bool (*fn)(void *ctx, int64_t id), void *ctx) {
    nearkit_rows_each_id(&tree_rows_of(ix)->rows, fn, ctx);
}

nearkit_status nearkit_tree_rows_compact(nearkit_index *ix) {
    nearkit_tree_rows *t = tree_rows_of(ix);
    if (t->maintained)
        return t->rows.removed > 0 || t->built < t->rows.count ? t->rebuild(ix) : NEARKIT_OK;
    nearkit_rows_compact(&t->rows, ix, NULL);
    return NEARKIT_OK;
}
