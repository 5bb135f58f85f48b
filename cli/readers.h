/* Readers of vector files, chosen by extension:
 *   .fvecs  per row an int32 count then that many float32          -> CLI_ELEM_F32
 *   .bvecs  per row an int32 count then that many uint8            -> CLI_ELEM_U8
 *   .ivecs  per row an int32 count then that many int32            -> CLI_ELEM_I32
 *   .npy    2-d, C order, little-endian float32 / float64 (converted to float32) / uint8 /
 *           int32 / int64 (converted to int32, for ground truth)
 *   .hdf5   ann-benchmarks' dataset files, through cli_read_input_vectors (annfile.h)
 *   .csv    numbers separated by commas, one row a line; a first line that is not numeric is
 *           taken for a header and skipped                           -> CLI_ELEM_F32
 * Every length is checked against the file's size; every row must have the same width. On any
 * problem the reader prints one "nearkit: error: FILE: ..." line and returns -1. */
#ifndef NEARKIT_CLI_READERS_H
#define NEARKIT_CLI_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "nearkit.h"

typedef enum cli_elem { CLI_ELEM_F32 = 1, CLI_ELEM_U8 = 2, CLI_ELEM_I32 = 3 } cli_elem;

/* A dense rows x cols matrix read from a file; data owned (free with cli_matrix_free). */
typedef struct cli_matrix {
    cli_elem elem;
    uint64_t rows;
    uint64_t cols;
    void *data;
} cli_matrix;

/* Name of an element type ("float32", "uint8", "int32"). */
const char *cli_elem_name(cli_elem elem);
/* Size in bytes of one element. */
size_t cli_elem_size(cli_elem elem);

/* Reads `path` by its extension. Returns 0, or -1 after printing an error. */
int cli_read_matrix(cli_matrix *out, const char *path);
void cli_matrix_free(cli_matrix *m);

/* Vectors ready for the library: n rows of `row_bytes` bytes of the given type. */
typedef struct cli_vectors {
    nearkit_vector_type type;
    uint32_t dimension; /* floats, or bits for binary */
    uint64_t n;
    size_t row_bytes;
    void *data; /* owned */
} cli_vectors;

/* Turns a matrix into vectors of `type`, taking over its data where possible (the matrix is left
 * empty) and converting otherwise: uint8 -> float32; float32 values that are whole numbers in
 * 0..255 -> binary bytes (so a CSV of bytes works for hamming). `what` names the file in
 * errors. Returns 0, or -1 after printing an error. */
int cli_vectors_from_matrix(cli_vectors *out, cli_matrix *m, nearkit_vector_type type,
                            const char *what);
/* Reads a file and converts it as above. */
int cli_read_vectors(cli_vectors *out, const char *path, nearkit_vector_type type);
/* As cli_read_vectors, also taking an ann-benchmarks .hdf5 / .h5 file, of which the dataset
 * `hdf5_dataset` ("train" for base vectors, "test" for queries) is read (annfile.h). */
int cli_read_input_vectors(cli_vectors *out, const char *path, nearkit_vector_type type,
                           const char *hdf5_dataset);
void cli_vectors_free(cli_vectors *v);
/* Reads a text file of ids: decimal int64 values separated by white space (one a line, or
 * several), repeats allowed. An empty file gives no ids (*ids may then be NULL). *ids is owned
 * by the caller (free). Returns 0, or -1 after printing "nearkit: error: FILE: ...". */
int cli_read_ids(int64_t **ids, uint64_t *n, const char *path);
/* The vector type a metric works on. */
nearkit_vector_type cli_metric_vector_type(nearkit_metric metric);

#endif
