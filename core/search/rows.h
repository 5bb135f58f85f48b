/* The row store: an index's stored vectors and their ids, the one copy every kind that keeps raw
 * vectors uses (flat, mih, the trees, IVF's not-yet-indexed rows). Internal to nearkit (hidden
 * symbols).
 *
 * Rows live contiguously (64-byte aligned, row r at r * vector_bytes) so that the *_many kernels
 * stream them. Ids cost nothing while every row's id is its position (vectors added without ids);
 * they become an explicit array on the first add with ids or the first reordering, and stay so. */
#ifndef NEARKIT_ROWS_H
#define NEARKIT_ROWS_H

#include "base/internal.h"
#include "kernels/kernels.h"

typedef struct nearkit_rows {
    uint8_t *vectors; /* capacity rows of the index's vector_bytes */
    int64_t *ids;     /* the id of each row; NULL: row r has id r */
    uint64_t count, capacity;
} nearkit_rows;

void nearkit_rows_free(nearkit_rows *rows);
uint64_t nearkit_rows_memory(const nearkit_rows *rows, const nearkit_index *ix);

static inline const uint8_t *nearkit_rows_at(const nearkit_rows *rows, const nearkit_index *ix,
                                             uint64_t row) {
    return rows->vectors + row * ix->vector_bytes;
}
static inline int64_t nearkit_rows_id(const nearkit_rows *rows, uint64_t row) {
    return rows->ids ? rows->ids[row] : (int64_t)row;
}

/* Appends n rows; ids NULL gives them the ids count, count + 1, ... (their positions). */
nearkit_status nearkit_rows_append(nearkit_rows *rows, const nearkit_index *ix, const void *vectors,
                                   uint64_t n, const int64_t *ids);
/* Makes the ids an explicit array (kinds that reorder rows, or hand the array to a heap). */
nearkit_status nearkit_rows_explicit_ids(nearkit_rows *rows);
/* Reorders rows [0, n): new row i is old row perm[i] (perm a permutation of [0, n)); rows from n
 * on stay. Makes the ids explicit. */
nearkit_status nearkit_rows_permute(nearkit_rows *rows, const nearkit_index *ix, const uint64_t *perm,
                                    uint64_t n);
/* Drops every row (capacity kept). */
static inline void nearkit_rows_clear(nearkit_rows *rows) { rows->count = 0; }

/* ---- persistence ------------------------------------------------------------------------------- */

/* Sections VECS (every row, in storage order) and IDS (every id; written only when explicit). */
nearkit_status nearkit_rows_save(const nearkit_rows *rows, const nearkit_index *ix, nearkit_writer *w);
/* Reads them back into an empty store. IDS may be absent unless ids_required. Refuses, with
 * CORRUPT, what add would have refused: non-finite or out-of-range floats, cosine rows not of
 * unit length (or zero), the id -1, and an IDS section that does not match VECS. */
nearkit_status nearkit_rows_load(nearkit_rows *rows, const nearkit_index *ix, const nearkit_reader *r,
                                 bool ids_required);

/* ---- distances --------------------------------------------------------------------------------- */

/* Ranking values of one query against rows [begin, begin + n) with the flat index's arithmetic
 * (bit-identical to it): the metric's value, l2 squared (nearkit_reported roots it). `ints`
 * holds n values (Hamming scratch). */
void nearkit_rows_distances(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                            const nearkit_index *ix, const nearkit_rows *rows, const void *query,
                            uint64_t begin, size_t n);

#endif
