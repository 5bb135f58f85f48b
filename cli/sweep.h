/* A recall-QPS sweep over an index's runtime setting (nprobe for the ivf kinds, ef_search for
 * hnsw, search_k for rpforest: the parameters nearkit_index_tune tunes), each value passed per
 * search call, recall@k measured against ground-truth ids: the curve ann-benchmarks plots. */
#ifndef NEARKIT_CLI_SWEEP_H
#define NEARKIT_CLI_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "nearkit.h"
#include "readers.h"

/* Most points of one sweep. */
#define CLI_SWEEP_MAX_POINTS 64

typedef struct cli_sweep_point {
    double value;  /* the setting's value (0 for a kind without one) */
    double recall; /* recall@k against the ground truth */
    double seconds, qps;
} cli_sweep_point;

typedef struct cli_sweep {
    const char *param; /* the setting swept (static storage), NULL for a kind without one */
    cli_sweep_point points[CLI_SWEEP_MAX_POINTS];
    size_t count;
} cli_sweep;

/* Parses "1,2,4,8" (positive numbers, at most CLI_SWEEP_MAX_POINTS) for --sweep. Returns 0, or
 * -1 after printing an error. */
int cli_parse_sweep(double *values, size_t *count, const char *text);

/* Searches `queries` (k neighbours each, `threads` threads) at each value of the setting: the
 * `count` given ones, or when count is 0 a default sweep doubling from the setting's smallest
 * useful value (k for ef_search and search_k) up to its bound or the index's count, stopping
 * once recall reaches 0.999. `truth` holds int32 ids, one row per query, at least k columns.
 * Returns 0, or -1 after printing an error. */
int cli_run_sweep(cli_sweep *out, const nearkit_index *index, const cli_vectors *queries,
                  uint64_t k, uint32_t threads, const cli_matrix *truth, const double *values,
                  size_t count);

#endif
