/* ann-benchmarks' HDF5 dataset files: see annfile.h. */
#include "annfile.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

int cli_is_hdf5_path(const char *path) {
    return cli_has_extension(path, "hdf5") || cli_has_extension(path, "h5");
}

/* The metric an ann-benchmarks `distance` name stands for. Returns 0, or -1 after an error. */
static int metric_from_distance(nearkit_metric *metric, const char *distance, const char *path) {
    static const struct { const char *name; nearkit_metric metric; } names[] = {
        {"euclidean", NEARKIT_METRIC_L2}, {"l2", NEARKIT_METRIC_L2},
        {"angular", NEARKIT_METRIC_COSINE}, {"cosine", NEARKIT_METRIC_COSINE},
        {"hamming", NEARKIT_METRIC_HAMMING}, {"dot", NEARKIT_METRIC_IP},
        {"ip", NEARKIT_METRIC_IP}, {"inner_product", NEARKIT_METRIC_IP},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i)
        if (strcmp(distance, names[i].name) == 0) {
            *metric = names[i].metric;
            return 0;
        }
    if (strcmp(distance, "jaccard") == 0)
        return cli_error("%s: distance 'jaccard' (sets) is not supported by nearkit (its metrics: "
                         "euclidean, angular, hamming, dot)",
                         path);
    return cli_error("%s: unknown distance '%.64s' in the file's 'distance' attribute (known: "
                     "euclidean, angular, hamming, dot)",
                     path, distance);
}

/* Checks the --metric option against the file's distance (either may be missing). */
static int resolve_metric(nearkit_metric *metric, const char *path, const char *distance,
                          const char *given) {
    if (!distance) {
        if (!given)
            return cli_error("%s has no 'distance' attribute: give --metric", path);
        return cli_metric_from_name(metric, given);
    }
    if (metric_from_distance(metric, distance, path) != 0) return -1;
    nearkit_metric asked;
    if (!given) return 0;
    if (cli_metric_from_name(&asked, given) != 0) return -1;
    if (asked != *metric)
        return cli_error("%s: --metric %s disagrees with the file's distance '%s' (metric %s); "
                         "its neighbors were computed with that",
                         path, given, distance, nearkit_metric_name(*metric));
    return 0;
}

#if defined(NEARKIT_CLI_HDF5)

#include <hdf5.h>

/* Bytes a dataset may claim per byte it stores (compression rarely does better than 1:1000);
 * beyond that a file is taken for crafted rather than compressed, before anything is allocated. */
#define MAX_EXPANSION 1024u
/* The longest `distance` attribute read. */
#define MAX_DISTANCE_NAME 64u

/* ---- The library ------------------------------------------------------------------------------- */

const char *cli_hdf5_version(void) {
    static char text[32];
    unsigned major = 0, minor = 0, release = 0;
    if (H5get_libversion(&major, &minor, &release) < 0) return "?";
    snprintf(text, sizeof text, "%u.%u.%u", major, minor, release);
    return text;
}

/* The innermost message of the HDF5 error stack, kept by walk_error. */
static herr_t walk_error(unsigned n, const H5E_error2_t *err, void *data) {
    if (n == 0 && err->desc && *err->desc) snprintf(data, 160, "%s", err->desc);
    return 0;
}

/* The HDF5 library's own explanation of its last failure ("" when none), clearing it. */
static const char *hdf5_detail(void) {
    static char text[200];
    char desc[160] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_error, desc);
    H5Eclear2(H5E_DEFAULT);
    snprintf(text, sizeof text, "%s%s%s", desc[0] ? " (HDF5: " : "", desc, desc[0] ? ")" : "");
    return text;
}

/* Opens the file read-only with the library's stack printing off (our errors are one line). */
static int open_file(hid_t *file, const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    FILE *probe = fopen(path, "rb");
    if (!probe) return cli_error("%s: cannot open", path);
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0) return cli_error("%s: not an HDF5 file%s", path, hdf5_detail());
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0) return cli_error("%s: cannot open as HDF5%s", path, hdf5_detail());
    return 0;
}

/* ---- The `distance` attribute ------------------------------------------------------------------ */

/* Reads a string attribute of one element into buf (fixed-length or variable-length). */
static int read_string_attribute(char *buf, size_t size, hid_t attr, const char *path) {
    hid_t ftype = H5Aget_type(attr), space = H5Aget_space(attr), mtype = -1;
    int rc = -1;
    if (ftype < 0 || space < 0 || H5Tget_class(ftype) != H5T_STRING ||
        H5Sget_simple_extent_npoints(space) != 1) {
        cli_error("%s: the 'distance' attribute is not one string", path);
        goto done;
    }
    mtype = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    if (H5Tis_variable_str(ftype) > 0) {
        char *text = NULL;
        H5Tset_size(mtype, H5T_VARIABLE);
        if (H5Aread(attr, mtype, &text) < 0 || !text) {
            cli_error("%s: cannot read the 'distance' attribute%s", path, hdf5_detail());
            goto done;
        }
        snprintf(buf, size, "%s", text);
        H5free_memory(text);
    } else {
        size_t length = H5Tget_size(ftype);
        if (length == 0 || length >= size) {
            cli_error("%s: the 'distance' attribute is %zu bytes long", path, length);
            goto done;
        }
        H5Tset_size(mtype, length + 1);
        H5Tset_strpad(mtype, H5T_STR_NULLTERM);
        if (H5Aread(attr, mtype, buf) < 0) {
            cli_error("%s: cannot read the 'distance' attribute%s", path, hdf5_detail());
            goto done;
        }
    }
    rc = 0;
done:
    if (mtype >= 0) H5Tclose(mtype);
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    return rc;
}

/* The root's `distance` attribute into buf; *present = 0 when there is none. */
static int read_distance(char *buf, size_t size, int *present, hid_t file, const char *path) {
    htri_t exists = H5Aexists(file, "distance");
    *present = exists > 0;
    if (exists < 0) return cli_error("%s: cannot read the root attributes%s", path, hdf5_detail());
    if (!exists) return 0;
    hid_t attr = H5Aopen(file, "distance", H5P_DEFAULT);
    if (attr < 0) return cli_error("%s: cannot open the 'distance' attribute%s", path, hdf5_detail());
    int rc = read_string_attribute(buf, size, attr, path);
    H5Aclose(attr);
    return rc;
}

int cli_hdf5_metric(nearkit_metric *metric, const char *path, const char *given) {
    hid_t file;
    if (open_file(&file, path) != 0) return -1;
    char distance[MAX_DISTANCE_NAME];
    int present = 0;
    int rc = read_distance(distance, sizeof distance, &present, file, path);
    H5Fclose(file);
    if (rc != 0) return -1;
    return resolve_metric(metric, path, present ? distance : NULL, given);
}

/* ---- Datasets ---------------------------------------------------------------------------------- */

/* One open 2-d dataset, its shape and stored type. */
typedef struct h5_matrix {
    hid_t id, type;
    H5T_class_t type_class;
    size_t type_size;
    uint64_t rows, cols;
} h5_matrix;

static void close_matrix(h5_matrix *m) {
    if (m->type >= 0) H5Tclose(m->type);
    if (m->id >= 0) H5Dclose(m->id);
    m->id = m->type = -1;
}

/* Checks that the dataset is 2-d and not empty; fills rows and cols. */
static int check_shape(h5_matrix *m, const char *path, const char *name) {
    hid_t space = H5Dget_space(m->id);
    if (space < 0) return cli_error("%s: dataset '%s' has no dataspace%s", path, name, hdf5_detail());
    int rank = H5Sget_simple_extent_type(space) == H5S_SIMPLE ? H5Sget_simple_extent_ndims(space)
                                                              : -1;
    hsize_t dims[2] = {0, 0};
    if (rank == 2) H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    if (rank != 2)
        return cli_error("%s: dataset '%s' must be 2-d (rows x columns), it has rank %d", path,
                         name, rank);
    if (dims[0] == 0 || dims[1] == 0)
        return cli_error("%s: dataset '%s' is empty (%llu x %llu)", path, name,
                         (unsigned long long)dims[0], (unsigned long long)dims[1]);
    m->rows = dims[0];
    m->cols = dims[1];
    return 0;
}

/* Refuses storage read from elsewhere (external files, virtual datasets). */
static int check_layout(h5_matrix *m, const char *path, const char *name) {
    hid_t plist = H5Dget_create_plist(m->id);
    if (plist < 0) return cli_error("%s: dataset '%s': cannot read its layout%s", path, name, hdf5_detail());
    H5D_layout_t layout = H5Pget_layout(plist);
    int external = H5Pget_external_count(plist);
    H5Pclose(plist);
    if (external != 0 || (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT))
        return cli_error("%s: dataset '%s' keeps its data outside the file (external or virtual "
                         "storage), which is not read",
                         path, name);
    return 0;
}

/* Checks the declared size against the bytes the file stores for the dataset. */
static int check_storage(const h5_matrix *m, const char *path, const char *name) {
    size_t cells, bytes;
    if (cli_mul_size(&cells, m->rows, m->cols) != 0 || cli_mul_size(&bytes, cells, m->type_size) != 0)
        return cli_error("%s: dataset '%s' (%llu x %llu) does not fit in memory", path, name,
                         (unsigned long long)m->rows, (unsigned long long)m->cols);
    hsize_t stored = H5Dget_storage_size(m->id);
    if (stored == 0)
        return cli_error("%s: dataset '%s' stores no data", path, name);
    if (bytes / MAX_EXPANSION > stored)
        return cli_error("%s: dataset '%s' declares %llu x %llu values (%zu bytes) but the file "
                         "stores %llu bytes of it (corrupt or crafted)",
                         path, name, (unsigned long long)m->rows, (unsigned long long)m->cols,
                         bytes, (unsigned long long)stored);
    return 0;
}

/* Opens the 2-d dataset `name` and checks its shape, layout and size. */
static int open_matrix(h5_matrix *m, hid_t file, const char *path, const char *name) {
    memset(m, 0, sizeof *m);
    m->id = m->type = -1;
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return cli_error("%s: no dataset '%s' (an ann-benchmarks file holds 'train', 'test' and "
                         "'neighbors')",
                         path, name);
    }
    m->id = H5Dopen2(file, name, H5P_DEFAULT);
    if (m->id < 0) return cli_error("%s: '%s' is not a dataset%s", path, name, hdf5_detail());
    m->type = H5Dget_type(m->id);
    if (m->type < 0) return cli_error("%s: dataset '%s' has no type%s", path, name, hdf5_detail());
    m->type_class = H5Tget_class(m->type);
    m->type_size = H5Tget_size(m->type);
    if (m->type_size == 0) return cli_error("%s: dataset '%s' has an invalid type", path, name);
    if (check_shape(m, path, name) != 0 || check_layout(m, path, name) != 0) return -1;
    return check_storage(m, path, name);
}

/* Allocates rows x cols items of `size` bytes (checked) and reads the dataset into them as
 * `mem_type`. Returns the buffer, or NULL after an error. */
static void *read_all(const h5_matrix *m, hid_t mem_type, size_t size, const char *path,
                      const char *name) {
    size_t cells, bytes;
    if (cli_mul_size(&cells, m->rows, m->cols) != 0 || cli_mul_size(&bytes, cells, size) != 0) {
        cli_error("%s: dataset '%s' does not fit in memory", path, name);
        return NULL;
    }
    void *data = malloc(bytes ? bytes : 1);
    if (!data) {
        cli_error("%s: out of memory for dataset '%s' (%zu bytes)", path, name, bytes);
        return NULL;
    }
    if (H5Dread(m->id, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        cli_error("%s: cannot read dataset '%s'%s", path, name, hdf5_detail());
        free(data);
        return NULL;
    }
    return data;
}

/* ---- Vectors ----------------------------------------------------------------------------------- */

static int read_float_vectors(cli_vectors *out, const h5_matrix *m, const char *path,
                              const char *name) {
    if (m->type_class != H5T_FLOAT && m->type_class != H5T_INTEGER)
        return cli_error("%s: dataset '%s' must hold numbers (float or integer) for this metric",
                         path, name);
    if (m->cols > UINT32_MAX)
        return cli_error("%s: dataset '%s' has dimension %llu, too large", path, name,
                         (unsigned long long)m->cols);
    float *data = read_all(m, H5T_NATIVE_FLOAT, sizeof(float), path, name);
    if (!data) return -1;
    out->type = NEARKIT_VECTOR_FLOAT32;
    out->dimension = (uint32_t)m->cols;
    out->n = m->rows;
    out->row_bytes = (size_t)m->cols * sizeof(float);
    out->data = data;
    return 0;
}

/* Packs rows of 0/1 bytes into rows of bits, least significant first. Returns the first bad
 * position + 1 when a value is not 0 or 1, else 0. */
static uint64_t pack_bits(uint8_t *dst, const uint8_t *bits, uint64_t rows, uint64_t cols,
                          size_t row_bytes) {
    memset(dst, 0, (size_t)rows * row_bytes);
    for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = 0; c < cols; ++c) {
            uint8_t v = bits[r * cols + c];
            if (v > 1) return r * cols + c + 1;
            dst[r * row_bytes + c / 8] |= (uint8_t)(v << (c % 8));
        }
    return 0;
}

static int read_bit_vectors(cli_vectors *out, const h5_matrix *m, const char *path,
                            const char *name) {
    if ((m->type_class != H5T_ENUM && m->type_class != H5T_INTEGER) || m->type_size != 1)
        return cli_error("%s: dataset '%s' must hold bool or uint8 bits (0/1) for hamming", path,
                         name);
    if (m->cols > UINT32_MAX - 7)
        return cli_error("%s: dataset '%s' has %llu bits per vector, too many", path, name,
                         (unsigned long long)m->cols);
    hid_t mem_type = H5Tget_native_type(m->type, H5T_DIR_ASCEND);
    if (mem_type < 0) return cli_error("%s: dataset '%s': unsupported bit type%s", path, name, hdf5_detail());
    uint8_t *bits = read_all(m, mem_type, 1, path, name);
    H5Tclose(mem_type);
    if (!bits) return -1;
    size_t row_bytes = (size_t)((m->cols + 7) / 8);
    uint8_t *packed = malloc((size_t)m->rows * row_bytes);
    if (!packed) {
        free(bits);
        return cli_error("%s: out of memory for dataset '%s'", path, name);
    }
    uint64_t bad = pack_bits(packed, bits, m->rows, m->cols, row_bytes);
    int value = bad ? bits[bad - 1] : 0;
    free(bits);
    if (bad) {
        free(packed);
        return cli_error("%s: dataset '%s' row %llu, column %llu holds %d; hamming vectors hold "
                         "one bit (0 or 1) per element",
                         path, name, (unsigned long long)((bad - 1) / m->cols),
                         (unsigned long long)((bad - 1) % m->cols), value);
    }
    out->type = NEARKIT_VECTOR_BINARY;
    out->dimension = (uint32_t)(row_bytes * 8);
    out->n = m->rows;
    out->row_bytes = row_bytes;
    out->data = packed;
    return 0;
}

int cli_hdf5_read_vectors(cli_vectors *out, const char *path, const char *name,
                          nearkit_vector_type type) {
    memset(out, 0, sizeof *out);
    hid_t file;
    if (open_file(&file, path) != 0) return -1;
    h5_matrix m;
    int rc = open_matrix(&m, file, path, name);
    if (rc == 0)
        rc = type == NEARKIT_VECTOR_BINARY ? read_bit_vectors(out, &m, path, name)
                                           : read_float_vectors(out, &m, path, name);
    close_matrix(&m);
    H5Fclose(file);
    return rc;
}

/* ---- Ground truth ------------------------------------------------------------------------------ */

/* Checks every id of the ground truth: -1 (padding) or a row of `train`. */
static int check_ids(const int32_t *ids, uint64_t rows, uint64_t cols, uint64_t train_count,
                     const char *path) {
    for (uint64_t i = 0; i < rows * cols; ++i)
        if (ids[i] < -1 || (ids[i] >= 0 && (uint64_t)ids[i] >= train_count))
            return cli_error("%s: neighbors row %llu, column %llu holds id %ld, outside the %llu "
                             "rows of 'train'",
                             path, (unsigned long long)(i / cols), (unsigned long long)(i % cols),
                             (long)ids[i], (unsigned long long)train_count);
    return 0;
}

static int check_neighbors_shape(const h5_matrix *m, const char *path, uint64_t queries,
                                 uint64_t k) {
    if (m->type_class != H5T_INTEGER)
        return cli_error("%s: dataset 'neighbors' must hold integer ids", path);
    if (m->rows != queries)
        return cli_error("%s: 'neighbors' has %llu rows for the %llu queries of 'test'", path,
                         (unsigned long long)m->rows, (unsigned long long)queries);
    if (m->cols < k)
        return cli_error("%s: 'neighbors' has %llu ids per query, fewer than k = %llu", path,
                         (unsigned long long)m->cols, (unsigned long long)k);
    return 0;
}

int cli_hdf5_read_neighbors(cli_matrix *out, const char *path, uint64_t queries, uint64_t k,
                            uint64_t train_count) {
    memset(out, 0, sizeof *out);
    hid_t file;
    if (open_file(&file, path) != 0) return -1;
    h5_matrix m;
    int32_t *ids = NULL;
    int rc = open_matrix(&m, file, path, "neighbors");
    if (rc == 0) rc = check_neighbors_shape(&m, path, queries, k);
    if (rc == 0 && !(ids = read_all(&m, H5T_NATIVE_INT32, sizeof(int32_t), path, "neighbors")))
        rc = -1;
    if (rc == 0) rc = check_ids(ids, m.rows, m.cols, train_count, path);
    if (rc == 0) {
        out->elem = CLI_ELEM_I32;
        out->rows = m.rows;
        out->cols = m.cols;
        out->data = ids;
        ids = NULL;
    }
    free(ids);
    close_matrix(&m);
    H5Fclose(file);
    return rc;
}

#else /* no HDF5 */

const char *cli_hdf5_version(void) { return NULL; }

static int no_hdf5(const char *path) {
    return cli_error("%s: this build has no HDF5 support (rebuild nearkit with the HDF5 C library "
                     "installed, e.g. Debian's libhdf5-dev)",
                     path);
}

int cli_hdf5_metric(nearkit_metric *metric, const char *path, const char *given) {
    (void)metric;
    (void)given;
    (void)resolve_metric;
    return no_hdf5(path);
}

int cli_hdf5_read_vectors(cli_vectors *out, const char *path, const char *name,
                          nearkit_vector_type type) {
    memset(out, 0, sizeof *out);
    (void)name;
    (void)type;
    return no_hdf5(path);
}

int cli_hdf5_read_neighbors(cli_matrix *out, const char *path, uint64_t queries, uint64_t k,
                            uint64_t train_count) {
    memset(out, 0, sizeof *out);
    (void)queries;
    (void)k;
    (void)train_count;
    return no_hdf5(path);
}

#endif
