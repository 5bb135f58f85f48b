/* Scanners: how an IVF index searches its inverted lists, one per code format. Internal to
 * nearkit (hidden symbols).
 *
 * ivf.c chooses the lists a query probes (ivf_quantizer.h) and hands each to the scanner of its
 * configuration, which computes the distances of the query to the list's codes and keeps the
 * best: float32 codes (ivf_scan_float.c: the exact SIMD kernels, and for larger batches sgemm
 * over the queries grouped by list, settled exactly) and packed binary codes (ivf_scan_binary.c:
 * Hamming popcount kernels into an integer heap) and compressed codes of a codec (ivf_scan_codes.c:
 * fp16, bf16, sq8, sq4, pq, and RaBitQ's residual codes, with an exact re-rank). A new code format (scalar or product
 * quantised) is one more scanner file and one more configuration in ivf.c. */
#ifndef NEARKIT_IVF_SCAN_H
#define NEARKIT_IVF_SCAN_H

#include "search/driver.h"
#include "search/ivf_lists.h"
#include "codes/ivf_quantizer.h"

/* What a scanner reads of the index during one search call; the call's `state` points to it. */
typedef struct nearkit_ivf_view {
    const nearkit_ivf_quantizer *quantizer;
    const nearkit_ivf_lists *lists;
    uint32_t nprobe;             /* lists probed per query, at most nlist */
    /* Lists a batch (knn_batch) probes per query: nprobe, or under a filter as many as hold the
     * admitted rows nprobe lists hold at the estimated share; a query that finds fewer than k
     * admitted rows there goes on, list by list in centroid order, until it has k. */
    uint32_t batch_probes;
    /* Rows a query scans at most (the max_codes setting; 0: no limit), counted in the probe loop
     * of ivf.c, which cuts the list that crosses it short; a batch whose budget can bite is
     * answered query by query there, never by knn_batch. */
    uint64_t max_codes;
    const int64_t *position_ids; /* labels are positions: the id of each; NULL: the position */
    float max_sqnorm;            /* float32 codes: the largest squared norm of a stored row */
    /* A filtered call (c->admit) that probes lists: the share of rows the filter is expected to
     * admit, and whether a scan tests admission before computing a distance (few admitted: a
     * test is cheaper than a distance) or after (only rows that would enter the heap). */
    double selectivity;
    bool admit_first;
    /* A call answered exactly over the rows it admits, gathered once (few admitted, or an
     * untrained index): n_rows codes back to back and their ids. */
    bool exact;
    const uint8_t *rows;
    const int64_t *row_ids; /* NULL: the id is the row's number */
    uint64_t n_rows;
    uint8_t *owned_rows;    /* what the plan allocated, freed by its plan_free */
    int64_t *owned_ids;
    /* Compressed codes (ivf_scan_codes.c): the codec; the original float vectors by position,
     * where the index keeps them (NULL: dropped); and how many candidates a query re-ranks
     * exactly against them (0: none, the code distances are reported). */
    const struct nearkit_codec *codec;
    const struct nearkit_rabitq *rabitq; /* the codec is RaBitQ: its rotation and centroids */
    const uint8_t *originals;
    uint64_t refine_k;
} nearkit_ivf_view;

static inline const nearkit_ivf_view *nearkit_ivf_view_of(const nearkit_search_call *c) {
    return c->state;
}

typedef struct nearkit_ivf_scanner {
    /* Queries per task at most where queries are answered one by one. */
    uint64_t max_chunk;
    /* One worker's scratch for the call (k-NN: c->k > 0; range: c->k = 0); NULL: out of memory. */
    void *(*scratch_new)(const nearkit_search_call *c);
    void (*scratch_free)(void *scratch);
    /* Optional: whether a scratch made for an earlier call serves call c once re-aimed at it
     * (the driver's scratch_reuse, driver.h); NULL: never. */
    bool (*scratch_reuse)(void *scratch, const nearkit_search_call *c);
    /* k-NN of one query: begin, then scan every probed list, then finish, which writes row q.
     * A scan reads the list's first `rows` rows (its size, or fewer where the scan budget cuts
     * it); `list` is the view's own (scanners find its centroid by its place). */
    void (*knn_begin)(void *scratch);
    void (*knn_scan)(void *scratch, const nearkit_search_call *c, const void *query,
                     const nearkit_ivf_list *list, uint64_t rows);
    void (*knn_finish)(void *scratch, const nearkit_search_call *c, uint64_t q);
    /* Filtered k-NN (c->admit set): scans a list offering only the rows the call admits, and
     * returns how many of the list's rows it admits (counted, or estimated from the view's
     * selectivity where the scan tests only rows that would enter the heap). */
    uint64_t (*knn_scan_admitted)(void *scratch, const nearkit_search_call *c, const void *query,
                                  const nearkit_ivf_list *list);
    /* Candidates the k-NN heap holds. */
    uint64_t (*knn_held)(const void *scratch);
    /* Every row of the list's first `rows` within c->radius of query q (that the call admits);
     * false on out of memory. */
    bool (*range_scan)(void *scratch, const nearkit_search_call *c, uint64_t q, const void *query,
                       const nearkit_ivf_list *list, uint64_t rows);
    /* Optional: a whole k-NN call at once (e.g. grouped by list), where batch_applies says so. */
    bool (*batch_applies)(const nearkit_search_call *c);
    nearkit_status (*knn_batch)(const nearkit_search_call *c, uint32_t threads);
} nearkit_ivf_scanner;

extern const nearkit_ivf_scanner nearkit_ivf_scan_float;
extern const nearkit_ivf_scanner nearkit_ivf_scan_binary;
extern const nearkit_ivf_scanner nearkit_ivf_scan_codes;

#endif
