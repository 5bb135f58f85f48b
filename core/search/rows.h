/* The row store: an index's stored vectors and their ids, the one copy every kind that keeps raw
 * vectors uses (flat, mih, the trees, IVF's not-yet-indexed rows). Internal to nearkit (hidden
 * symbols).
 *
 * Rows live contiguously (64-byte aligned, row r at r * vector_bytes) so that the *_many kernels
 * stream them. Ids cost nothing while every row's id is its position (vectors added without ids);
 * they become an explicit array on the first add with ids or the first reordering, and stay so.
 *
 * Removal marks a row: its id becomes NEARKIT_REMOVED_ID and `removed` counts it; searches skip
 * it (nearkit_call_admits), and nearkit_rows_compact drops marked rows when the kind chooses (the
 * kinds compact once a quarter of their rows are marked, and on nearkit_index_compact). A file
 * keeps the marks (IDS holds -1), so a loaded index is the saved one, row for row. */
#ifndef NEARKIT_ROWS_H
#define NEARKIT_ROWS_H

#include "base/idmap.h"
#include "base/internal.h"
#include "kernels/kernels.h"
#include "search/driver.h"

typedef struct nearkit_rows {
    uint8_t *vectors; /* capacity rows of the index's vector_bytes */
    int64_t *ids;     /* the id of each row; NULL: row r has id r */
    uint64_t count, capacity;
    uint64_t removed; /* rows marked removed, among count */
    /* A view's rows (nearkit_rows_load from a borrowing reader): vectors and ids point into the
     * view's image and are not freed; whatever moves the rows (resize, permute) owns them after.
     * Writers never reach a view's rows (the API refuses them). */
    bool vectors_borrowed, ids_borrowed;
} nearkit_rows;

/* Rows a search can find. */
static inline uint64_t nearkit_rows_live(const nearkit_rows *rows) { return rows->count - rows->removed; }

void nearkit_rows_free(nearkit_rows *rows);
/* The heap the store owns (a view's borrowed rows cost nothing here). */
uint64_t nearkit_rows_memory(const nearkit_rows *rows, const nearkit_index *ix);

static inline const uint8_t *nearkit_rows_at(const nearkit_rows *rows, const nearkit_index *ix,
                                             uint64_t row) {
    return rows->vectors + row * ix->vector_bytes;
}
static inline int64_t nearkit_rows_id(const nearkit_rows *rows, uint64_t row) {
    return rows->ids ? rows->ids[row] : (int64_t)row;
}

/* Appends n rows; ids NULL gives them the ids count, count + 1, ... (their positions). */
/* Hands the ids over to the caller, who frees them with free(): the store's own block (capacity
 * entries), or a copy of a view's borrowed one (count entries). The store is left with implicit
 * ids. NULL when it had none. */
nearkit_status nearkit_rows_take_ids(int64_t **ids, uint64_t *capacity, nearkit_rows *rows);
nearkit_status nearkit_rows_append(nearkit_rows *rows, const nearkit_index *ix, const void *vectors,
                                   uint64_t n, const int64_t *ids);
/* Room for `needed` rows, so that appending up to them moves nothing (kinds whose searches run
 * during an add reserve under the write side first). */
nearkit_status nearkit_rows_reserve(nearkit_rows *rows, const nearkit_index *ix, uint64_t needed);
/* Copies a view's borrowed vectors and ids into blocks the store owns (before anything moves
 * rows of a view being loaded). */
nearkit_status nearkit_rows_own(nearkit_rows *rows, const nearkit_index *ix);
/* Makes the ids an explicit array (kinds that reorder rows, or hand the array to a heap). */
nearkit_status nearkit_rows_explicit_ids(nearkit_rows *rows);
/* Reorders rows [0, n): new row i is old row perm[i] (perm a permutation of [0, n)); rows from n
 * on stay. Makes the ids explicit. */
nearkit_status nearkit_rows_permute(nearkit_rows *rows, const nearkit_index *ix, const uint64_t *perm,
                                    uint64_t n);
/* Drops every row (capacity kept). */
static inline void nearkit_rows_clear(nearkit_rows *rows) { rows->count = rows->removed = 0; }

/* ---- living collections ------------------------------------------------------------------------ */

/* Marks every row whose id `ids` holds as removed; *marked gets how many. */
nearkit_status nearkit_rows_remove(nearkit_rows *rows, const nearkit_idmap *ids, uint64_t *marked);
/* Whether the marked rows are worth dropping now: a quarter of all rows or more. */
static inline bool nearkit_rows_should_compact(const nearkit_rows *rows) {
    return rows->removed > 0 && rows->removed >= rows->count / 4;
}
/* Drops the marked rows, keeping the others' order. kept (NULL, or room for count entries)
 * receives the old position of each new row, for kinds that carry data per row. */
void nearkit_rows_compact(nearkit_rows *rows, const nearkit_index *ix, uint64_t *kept);
/* For each row whose id `wanted` holds: copies it to row wanted[id] of out, sets found[that]. */
void nearkit_rows_get(const nearkit_rows *rows, const nearkit_index *ix, const nearkit_idmap *wanted,
                      void *out, uint8_t *found);
/* Calls fn for every row's id (not removed ones); false when fn stopped it. */
bool nearkit_rows_each_id(const nearkit_rows *rows, bool (*fn)(void *ctx, int64_t id), void *ctx);

/* ---- a structure built over the first rows (the trees, the forest) ---------------------------- */

/* The rows of a kind whose structure covers rows [0, built) while rows added since form a tail
 * that its searches scan exactly (vptree, bktree, rpforest). Such a kind's impl begins with this
 * struct; the functions below are then its add, remove, get, each_id and compact, and they call
 * back `rebuild`: drop the structure and the marked rows, build over every row, and on failure
 * leave every row in the tail (slower, still right). */
typedef struct nearkit_tree_rows {
    nearkit_rows rows;
    uint64_t built;  /* rows [0, built) are the structure's; the rest (the tail) were added since */
    bool maintained; /* built once: writers rebuild the structure when the deferred rows grow */
    nearkit_status (*rebuild)(nearkit_index *ix);
} nearkit_tree_rows;

/* Appends, then does the deferred work of a writer on its way out: a kind built once rebuilds
 * when marked and tail rows reach a quarter of the rows; one never built drops its marked rows
 * when they are a quarter. A rebuild that runs out of memory is not the writer's failure: its
 * rows wait in the tail. */
nearkit_status nearkit_tree_rows_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids);
/* Marks, then the same deferred work as an add. */
nearkit_status nearkit_tree_rows_remove(nearkit_index *ix, const nearkit_idmap *ids, uint64_t *removed);
nearkit_status nearkit_tree_rows_get(const nearkit_index *ix, const nearkit_idmap *wanted, void *vectors,
                                     uint8_t *found);
void nearkit_tree_rows_each_id(const nearkit_index *ix, bool (*fn)(void *ctx, int64_t id), void *ctx);
/* Drops the marked rows now, and brings a built structure over every row. */
nearkit_status nearkit_tree_rows_compact(nearkit_index *ix);

/* ---- searching a subset of the rows ----------------------------------------------------------- */

/* The positions in [begin, end) of the rows the call admits, in increasing order: *positions
 * (freed by the caller) and *n. */
nearkit_status nearkit_rows_admitted(uint64_t **positions, uint64_t *n, const nearkit_rows *rows,
                                     const nearkit_search_call *c, uint64_t begin, uint64_t end);
/* Offers the query's ranking value (flat's arithmetic) against each row at positions[0, n) to h,
 * whose positions are row positions. `dist` and `ints` hold n values each. */
void nearkit_rows_offer(nearkit_topk *h, float *dist, uint32_t *ints, const nearkit_index *ix,
                        const nearkit_rows *rows, const void *query, const uint64_t *positions,
                        uint64_t n);
/* Range matches of query q among the rows at positions[0, n); false on out of memory. */
bool nearkit_rows_match(const nearkit_search_call *c, uint64_t q, float *dist, uint32_t *ints,
                        const nearkit_rows *rows, const uint64_t *positions, uint64_t n);

/* ---- persistence ------------------------------------------------------------------------------- */

/* Sections VECS (every row, in storage order) and IDS (every id; written only when explicit). */
nearkit_status nearkit_rows_save(const nearkit_rows *rows, const nearkit_index *ix, nearkit_writer *w);
/* Reads them back into an empty store. IDS may be absent unless ids_required; the id -1 in it is
 * a removed row. Refuses, with CORRUPT, what add would have refused: non-finite or out-of-range
 * floats, cosine rows not of unit length (or zero), and an IDS section that does not match VECS.
 * From a borrowing reader (a view) the rows are used in place, not copied, and the values are
 * checked only when the view was opened with verify. */
nearkit_status nearkit_rows_load(nearkit_rows *rows, const nearkit_index *ix, const nearkit_reader *r,
                                 bool ids_required);

/* Reads the vectors of section `tag`, exactly n rows, into an empty store with implicit ids (a
 * view's in place; values checked as nearkit_rows_load does, `what` naming them). For vectors a
 * kind keeps beside VECS (hnsw's kept originals). */
nearkit_status nearkit_rows_load_vectors(nearkit_rows *rows, const nearkit_index *ix, const nearkit_reader *r,
                                         uint32_t tag, uint64_t n, const char *what);

/* ---- re-ranking by the originals ---------------------------------------------------------------- */

#define NEARKIT_RERANK_AHEAD_BYTES 8192 /* whole rows asked for ahead of the one scored */
#define NEARKIT_RERANK_HEADS 32         /* candidates whose first lines are asked for at once */

/* Whole rows of row_bytes a re-rank asks for ahead of the one it scores: NEARKIT_RERANK_AHEAD_BYTES
 * of them, at least one. */
static inline size_t nearkit_rerank_ahead(size_t row_bytes) {
    return row_bytes >= NEARKIT_RERANK_AHEAD_BYTES ? 1 : NEARKIT_RERANK_AHEAD_BYTES / row_bytes;
}

/* Before a re-rank scores candidate i of pos[0, n) (rows of row_bytes at rows + pos * row_bytes,
 * lying anywhere in memory; ahead = nearkit_rerank_ahead(row_bytes)): asks for the whole row
 * `ahead` places on, and at i = 0 for the whole rows up to it and the first 256 bytes of the first
 * NEARKIT_RERANK_HEADS, so that their latencies overlap. Measured (one thread, AVX-512 Xeon,
 * throwaway C driver): on 1M x 128 (ivf_pq nbits 4 m 128, 400 candidates a query) 7-15% more
 * queries a second than the first four lines of every candidate asked for at once (100 KB of
 * lines, more than L1 holds: most were evicted before they were read), 8 to 24 rows ahead alike,
 * first lines alone ahead no gain; on Fashion-MNIST (30 candidates of 3 KB, two rows ahead)
 * rolling rows alone lost 2%, which the heads (8 KB at most; the stream prefetcher follows each
 * row) win back. */
static NEARKIT_PREFETCHER void nearkit_rerank_prefetch(const uint8_t *rows, size_t row_bytes, const uint64_t *pos,
                                                       size_t n, size_t i, size_t ahead) {
    if (i == 0) {
        for (size_t j = 0; j < n && j < ahead; j++) nearkit_prefetch_bytes(rows + pos[j] * row_bytes, row_bytes);
        for (size_t j = ahead; j < n && j < NEARKIT_RERANK_HEADS; j++)
            nearkit_prefetch_bytes(rows + pos[j] * row_bytes, row_bytes < 256 ? row_bytes : 256);
    }
    if (i + ahead < n) nearkit_prefetch_bytes(rows + pos[i + ahead] * row_bytes, row_bytes);
}

/* ---- distances --------------------------------------------------------------------------------- */

/* Ranking values of one query against rows [begin, begin + n) with the flat index's arithmetic
 * (bit-identical to it): the metric's value, l2 squared (nearkit_reported roots it). `ints`
 * holds n values (Hamming scratch). */
void nearkit_rows_distances(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                            const nearkit_index *ix, const nearkit_rows *rows, const void *query,
                            uint64_t begin, size_t n);

#endif
