/* What the tree kinds (vptree.c, bktree.c) share: the stored rows with their ids, kept in tree
 * order after a build; leaf distances computed exactly as the flat index computes them; the
 * emission of k-NN rows in the flat index's order. Internal to nearkit (hidden symbols). */
#ifndef NEARKIT_TREE_ROWS_H
#define NEARKIT_TREE_ROWS_H

#include "internal.h"
#include "kernels.h"

#include <math.h>

/* The vectors and ids of an index. After a build rows [0, built) are in the tree's order; rows
 * added since then follow in insertion order until the next build. */
typedef struct nearkit_tree_rows {
    uint8_t *vectors; /* capacity rows of vector_bytes, 64-byte aligned */
    int64_t *ids;     /* the id of each row (always explicit: building permutes the rows) */
    uint64_t count, capacity;
} nearkit_tree_rows;

void nearkit_tree_rows_free(nearkit_tree_rows *rows);
uint64_t nearkit_tree_rows_memory(const nearkit_tree_rows *rows, const nearkit_index *ix);
/* Appends n rows; ids NULL continues the insertion order (the i-th row ever added gets id i). */
nearkit_status nearkit_tree_rows_append(nearkit_tree_rows *rows, const nearkit_index *ix,
                                        const void *vectors, uint64_t n, const int64_t *ids);
/* Reorders rows [0, n): new row i is old row perm[i] (perm a permutation of [0, n)). */
nearkit_status nearkit_tree_rows_permute(nearkit_tree_rows *rows, const nearkit_index *ix,
                                         const uint64_t *perm, uint64_t n);
static inline const uint8_t *nearkit_tree_rows_at(const nearkit_tree_rows *rows,
                                                  const nearkit_index *ix, uint64_t row) {
    return rows->vectors + row * ix->vector_bytes;
}

/* Sections VECS (every row, in storage order) and IDS (every id). */
nearkit_status nearkit_tree_rows_save(const nearkit_tree_rows *rows, const nearkit_index *ix,
                                      nearkit_writer *w);
/* Reads them back into an empty store, refusing non-finite vectors and the id -1 (CORRUPT). */
nearkit_status nearkit_tree_rows_load(nearkit_tree_rows *rows, const nearkit_index *ix,
                                      const nearkit_reader *r);

/* Distances of one query to rows [begin, begin + n), bit-identical to the flat index's: the
 * metric's value, except l2, which stays squared until nearkit_tree_emit_knn. `ints` holds n
 * values (hamming scratch). */
void nearkit_tree_rows_distances(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                                 const nearkit_index *ix, const nearkit_tree_rows *rows,
                                 const void *query, uint64_t begin, size_t n);
/* The value a distance of nearkit_tree_rows_distances is reported as (l2: its root). */
static inline float nearkit_tree_reported(const nearkit_index *ix, float d) {
    return ix->metric == NEARKIT_METRIC_L2 ? sqrtf(d) : d;
}
/* Pushes n distances of rows first.. into the heap (those that can enter). */
void nearkit_tree_push_block(nearkit_topk *h, const float *d, uint64_t first, size_t n);
/* Writes k results from a heap of positions into rows (ids: the rows' ids) exactly as the flat
 * index does: sorted by (distance, id), l2 rooted with the order of rooted ties restored. */
void nearkit_tree_emit_knn(nearkit_topk *h, const nearkit_index *ix, const int64_t *ids, uint64_t k,
                           int64_t *out_ids, float *out_dist);

/* ---- seeded randomness for builds -------------------------------------------------------------- */

static inline uint64_t nearkit_mix64(uint64_t x) { /* splitmix64's finaliser */
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static inline uint64_t nearkit_next_random(uint64_t *state) {
    *state += 0x9E3779B97F4A7C15ull;
    return nearkit_mix64(*state);
}

/* A generator for the node over rows [begin, end): seeded by the range, so a tree does not
 * depend on how its build was split across threads. */
static inline uint64_t nearkit_node_random(uint64_t seed, uint64_t begin, uint64_t end) {
    return nearkit_mix64(seed ^ nearkit_mix64(begin ^ nearkit_mix64(end)));
}

#endif
