/*
 * golden_util.h - the golden datasets (tests/golden, docs/golden.md) for nearkit's C tests:
 * loading the manifest, the TEXMEX vector files and the expected results, and the comparison rule
 * every language's conformance suite applies.
 *
 * Needs only the C library and json.c; nearkit.h is included for its constants only, so these
 * helpers link without the library. Functions returning int give 1 on success and 0 on failure,
 * with a message in err[err_size] (err may be NULL); on failure every output is left empty and
 * nothing leaks.
 */
#ifndef NEARKIT_TESTS_GOLDEN_UTIL_H
#define NEARKIT_TESTS_GOLDEN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "nearkit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct golden_dataset {
    char *name;
    char *description;
    nearkit_vector_type vector_type; /* NEARKIT_VECTOR_FLOAT32 or NEARKIT_VECTOR_BINARY */
    uint32_t dimension;              /* floats, or bits for binary vectors */
    size_t vector_bytes;             /* dimension * 4, or dimension / 8 */
    uint64_t count;                  /* base vectors */
    uint64_t query_count;
    unsigned char *base;             /* count * vector_bytes bytes, row-major, as nearkit takes it */
    unsigned char *queries;          /* query_count * vector_bytes bytes */
} golden_dataset;

typedef struct golden_case {
    char *name;
    size_t dataset;        /* index into golden_manifest.datasets */
    nearkit_metric metric; /* NEARKIT_METRIC_* */
    const char *metric_name; /* "l2", ...; static storage */
    uint64_t k;
    double radius;         /* as written in the manifest; a float32 value */
    char *expected_path;   /* the manifest directory joined with the case's "expected" */
} golden_case;

/* An approximate kind of the manifest's "approximate" section. */
typedef struct golden_approximate {
    char *label;         /* the entry's name in the manifest */
    char *kind;          /* the kind's name, as nearkit_kind_get_info reports it: the entry's
                            "kind", or its label when it has none */
    char *exact_params;  /* index parameters under which it must pass every case of its metrics */
    char *recall_params; /* index parameters of the recall check */
    double *min_recall;  /* per dataset (indexed like golden_manifest.datasets); < 0: no check */
} golden_approximate;

typedef struct golden_manifest {
    char *dir;
    double rtol; /* comparison.distance_rtol */
    double atol; /* comparison.distance_atol */
    golden_dataset *datasets;
    size_t dataset_count;
    golden_case *cases;
    size_t case_count;
    golden_approximate *approximate;
    size_t approximate_count;
} golden_manifest;

/* The expected results of one case. Row i of the k-NN results is at [i * k, (i + 1) * k); a
 * missing neighbour has id -1 and distance +INFINITY (null in the file). Query i's range matches
 * are at [range_offsets[i], range_offsets[i + 1]). */
typedef struct golden_expected {
    uint64_t query_count;
    uint64_t k;
    int64_t *knn_ids;
    double *knn_distances;
    uint64_t *range_offsets; /* query_count + 1 entries */
    int64_t *range_ids;
    double *range_distances;
} golden_expected;

/* Reads dir/manifest.json and every dataset's base and query vectors, checking every count,
 * dimension and length against the manifest. */
int golden_manifest_load(golden_manifest *out, const char *dir, char *err, size_t err_size);
/* Frees everything the manifest holds and zeroes it. Accepts NULL and a zeroed manifest. */
void golden_manifest_free(golden_manifest *manifest);

/* Reads a TEXMEX file: .fvecs when vector_type is NEARKIT_VECTOR_FLOAT32 (every record int32
 * little-endian `dimension` followed by that many float32), .bvecs for NEARKIT_VECTOR_BINARY
 * (int32 byte count dimension / 8, then the bytes). On success *out holds the records without their
 * headers (*count * vector bytes; free() it) and *count their number. */
int golden_read_vectors(unsigned char **out, uint64_t *count, const char *path,
                        nearkit_vector_type vector_type, uint32_t dimension, char *err,
                        size_t err_size);

/* Reads a case's expected results, checking their shape against the manifest. */
int golden_expected_load(golden_expected *out, const golden_manifest *manifest,
                         const golden_case *c, char *err, size_t err_size);
void golden_expected_free(golden_expected *expected);

/* The recall of one k-NN row: adds to *wanted the non-null expected ids (id != -1) and to *found
 * those of them present among the k actual ids. */
void golden_recall_row(const int64_t *expected_ids, const int64_t *actual_ids, size_t k,
                       uint64_t *found, uint64_t *wanted);

/* tol(D) = atol + rtol * |D|. */
double golden_tolerance(double rtol, double atol, double distance);

/* The comparison rule for one k-NN row of k entries (expected distances +INFINITY where the id
 * is -1). Returns 1 when the actual row passes, 0 with the first violation described in msg. */
int golden_compare_knn(char *msg, size_t msg_size, const int64_t *expected_ids,
                       const double *expected_distances, const int64_t *actual_ids,
                       const double *actual_distances, size_t k, double rtol, double atol);

/* The comparison rule for one range row. Returns 1 when the actual row passes, 0 with the first
 * violation described in msg (also 0 with "out of memory" when scratch space is not available). */
int golden_compare_range(char *msg, size_t msg_size, double radius, const int64_t *expected_ids,
                         const double *expected_distances, size_t expected_count,
                         const int64_t *actual_ids, const double *actual_distances,
                         size_t actual_count, double rtol, double atol);

#ifdef __cplusplus
}
#endif

#endif /* NEARKIT_TESTS_GOLDEN_UTIL_H */
