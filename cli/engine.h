/* Building and searching indexes on whole files' worth of vectors, with progress bars, and
 * measuring recall. Everything goes through the public API. */
#ifndef NEARKIT_CLI_ENGINE_H
#define NEARKIT_CLI_ENGINE_H

#include <stdint.h>

#include "nearkit.h"
#include "readers.h"

typedef struct cli_build_config {
    nearkit_kind kind;
    nearkit_metric metric;
    const char *params; /* "name=value,..." or NULL */
    uint32_t threads;   /* 0 = every core */
    uint64_t seed;
} cli_build_config;

/* Creates an index and fills it with `base`, training (on the whole base) and building as the
 * kind needs. When progress bars are shown the vectors are added in chunks to drive the bar.
 * *seconds gets the wall time of everything. Returns 0, or -1 after printing an error. */
int cli_build_index(nearkit_index **out, double *seconds, const cli_build_config *config,
                    const cli_vectors *base);

/* Checks that the vectors fit the index (type and dimension); prints an error naming `what`. */
int cli_check_vectors(const nearkit_index *index, const cli_vectors *v, const char *what);

/* k-NN search of every query into ids / distances (queries->n * k each), in batches when
 * progress bars are shown. *seconds gets the wall time. Returns 0, or -1 after an error. */
int cli_search_knn(int64_t *ids, float *distances, double *seconds, const nearkit_index *index,
                   const cli_vectors *queries, uint64_t k, uint32_t threads);

/* As cli_search_knn with `param` (or none, NULL) set for these searches only. */
int cli_search_knn_with(int64_t *ids, float *distances, double *seconds,
                        const nearkit_index *index, const cli_vectors *queries, uint64_t k,
                        uint32_t threads, const nearkit_param_value *param);

/* Number of queries per search call: everything at once unless progress bars are shown. */
uint64_t cli_batch_size(uint64_t n);

/* Mean recall@k against exact results (ids and distances of an exact index, k per row). A
 * result counts as found when it is in the exact row or no farther than the exact row's k-th
 * distance (so that ties at the boundary are not held against an index). Queries whose exact
 * row is empty are skipped; returns 1 when every row is. */
double cli_recall_vs_exact(const int64_t *ids, const float *distances, const int64_t *exact_ids,
                           const float *exact_distances, uint64_t n, uint64_t k);

/* Mean recall@k against ground-truth ids (truth_cols >= k per row; the first k count; negative
 * ids are padding). Returns 0, or -1 when out of memory (error printed). */
int cli_recall_vs_truth(double *recall, const int64_t *ids, uint64_t n, uint64_t k,
                        const int32_t *truth, uint64_t truth_cols);

#endif
