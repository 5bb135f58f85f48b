/* Test helper of tests/cli/test_cli.py: writes small ann-benchmarks-shaped HDF5 files (good and
 * deliberately bad ones) from raw little-endian data the test prepares.
 *
 *   nearkit_h5_writer OUT.hdf5 [distance=NAME | fixed-distance=NAME] DATASET...
 *
 * DATASET is NAME:TYPE:DIMS:RAWFILE, TYPE one of f32 f64 i32 i64 u8 bool (bool as h5py writes
 * it: an int8 enum FALSE=0 / TRUE=1), DIMS like 100x32 (any rank: 100, 2x3x4), RAWFILE the
 * values in C order. distance= writes the root attribute as a variable-length UTF-8 string (as
 * h5py does), fixed-distance= as a fixed-length one. Exits 1 with a message on any problem. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *detail) {
    fprintf(stderr, "nearkit_h5_writer: %s: %s\n", what, detail);
    return 1;
}

/* The bool type h5py writes: an enum over int8. */
static hid_t bool_type(void) {
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    signed char no = 0, yes = 1;
    H5Tenum_insert(t, "FALSE", &no);
    H5Tenum_insert(t, "TRUE", &yes);
    return t;
}

/* The file and memory type of a TYPE name (little-endian in the file); -1 when unknown. */
static hid_t type_of(const char *name, size_t *size) {
    static const struct { const char *name; size_t size; } sizes[] = {
        {"f32", 4}, {"f64", 8}, {"i32", 4}, {"i64", 8}, {"u8", 1}, {"bool", 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i)
        if (strcmp(name, sizes[i].name) == 0) *size = sizes[i].size;
    if (strcmp(name, "f32") == 0) return H5Tcopy(H5T_IEEE_F32LE);
    if (strcmp(name, "f64") == 0) return H5Tcopy(H5T_IEEE_F64LE);
    if (strcmp(name, "i32") == 0) return H5Tcopy(H5T_STD_I32LE);
    if (strcmp(name, "i64") == 0) return H5Tcopy(H5T_STD_I64LE);
    if (strcmp(name, "u8") == 0) return H5Tcopy(H5T_STD_U8LE);
    if (strcmp(name, "bool") == 0) return bool_type();
    return -1;
}

/* Parses "100x32" into dims; returns the rank or -1. */
static int parse_dims(hsize_t *dims, int max, const char *text) {
    int rank = 0;
    for (const char *p = text; *p;) {
        char *end = NULL;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || rank == max) return -1;
        dims[rank++] = (hsize_t)v;
        p = *end == 'x' ? end + 1 : end;
        if (*end && *end != 'x') return -1;
    }
    return rank;
}

static void *read_raw(const char *path, size_t bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *data = malloc(bytes ? bytes : 1);
    if (data && bytes && fread(data, 1, bytes, f) != bytes) {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

static int write_dataset(hid_t file, char *spec) {
    char *name = strtok(spec, ":"), *type_name = strtok(NULL, ":"), *dims_text = strtok(NULL, ":"),
         *raw = strtok(NULL, "");
    if (!name || !type_name || !dims_text || !raw) return fail(spec, "expected NAME:TYPE:DIMS:RAWFILE");
    size_t size = 0;
    hid_t type = type_of(type_name, &size);
    hsize_t dims[8];
    int rank = parse_dims(dims, 8, dims_text);
    if (type < 0 || rank < 1) return fail(name, "bad TYPE or DIMS");
    size_t cells = 1;
    for (int i = 0; i < rank; ++i) cells *= (size_t)dims[i];
    void *data = read_raw(raw, cells * size);
    if (!data) return fail(raw, "cannot read the values (too short?)");
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t set = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = set < 0 || H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0;
    free(data);
    if (set >= 0) H5Dclose(set);
    H5Sclose(space);
    H5Tclose(type);
    return rc ? fail(name, "cannot write the dataset") : 0;
}

static int write_distance(hid_t file, const char *value, int fixed) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_cset(type, H5T_CSET_UTF8);
    H5Tset_size(type, fixed ? strlen(value) : H5T_VARIABLE);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(file, "distance", type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = attr < 0 || H5Awrite(attr, type, fixed ? (const void *)value : (const void *)&value) < 0;
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return rc ? fail("distance", "cannot write the attribute") : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return fail("usage", "nearkit_h5_writer OUT.hdf5 [distance=NAME] NAME:TYPE:DIMS:RAW...");
    hid_t file = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return fail(argv[1], "cannot create");
    int rc = 0;
    for (int i = 2; i < argc && rc == 0; ++i) {
        if (strncmp(argv[i], "distance=", 9) == 0) rc = write_distance(file, argv[i] + 9, 0);
        else if (strncmp(argv[i], "fixed-distance=", 15) == 0) rc = write_distance(file, argv[i] + 15, 1);
        else rc = write_dataset(file, argv[i]);
    }
    H5Fclose(file);
    return rc;
}
