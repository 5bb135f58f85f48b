/* ann-benchmarks' dataset files (.hdf5 / .h5), read through the HDF5 C library when the program
 * is built with it (NEARKIT_CLI_HDF5), refused with "this build has no HDF5 support" otherwise.
 *
 * Such a file holds the 2-d datasets `train` (the base vectors), `test` (the queries),
 * `neighbors` (int, the true neighbour ids of each query, nearest first) and `distances`, and a
 * root attribute `distance` naming the metric: euclidean -> l2, angular -> cosine, hamming ->
 * hamming, dot / ip -> ip; jaccard (sets) is refused. Float vectors may be stored as any float
 * or integer type (converted to float32); hamming vectors as bool or uint8 holding one bit (0/1)
 * per element, packed here into bytes, least significant bit first, as the CLI's binary vectors
 * are (a dimension that is not a multiple of 8 is padded with zero bits).
 * Every dataset's rank, type and shape are checked against the others and against the bytes the
 * file stores before anything is allocated; a problem prints one "nearkit: error: FILE: ..."
 * line and the function returns -1. */
#ifndef NEARKIT_CLI_ANNFILE_H
#define NEARKIT_CLI_ANNFILE_H

#include <stdint.h>

#include "nearkit.h"
#include "readers.h"

/* 1 when the path names an HDF5 file by its extension (.hdf5, .h5). */
int cli_is_hdf5_path(const char *path);

/* The HDF5 library's version ("1.10.8") when the program is built with it, else NULL. */
const char *cli_hdf5_version(void);

/* The metric for a dataset file: the one its `distance` attribute names, checked against
 * `given` (the --metric option's text, or NULL). With no attribute, `given` is needed. */
int cli_hdf5_metric(nearkit_metric *metric, const char *path, const char *given);

/* Reads the 2-d dataset `name` ("train" or "test") as vectors of `type`. */
int cli_hdf5_read_vectors(cli_vectors *out, const char *path, const char *name,
                          nearkit_vector_type type);

/* Reads `neighbors` as int32 ids: `queries` rows, at least `k` columns, every id in
 * [0, train_count) (-1 is taken for padding). */
int cli_hdf5_read_neighbors(cli_matrix *out, const char *path, uint64_t queries, uint64_t k,
                            uint64_t train_count);

#endif
