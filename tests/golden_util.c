/*
 * golden_util.c - golden datasets for nearkit's C tests; see golden_util.h and docs/golden.md.
 */
#include "golden_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static void set_err(char *err, size_t err_size, const char *fmt, ...) {
    if (err == NULL || err_size == 0) {
        return;
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL) {
        memcpy(p, s, n);
    }
    return p;
}

static char *join_path(const char *dir, const char *rel) {
    size_t a = strlen(dir), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, dir, a);
    size_t n = a;
    if (n > 0 && dir[n - 1] != '/') {
        p[n++] = '/';
    }
    memcpy(p + n, rel, b + 1);
    return p;
}

/* Reads a whole file into memory. */
static int read_file(unsigned char **out, size_t *size, const char *path, char *err,
                     size_t err_size) {
    *out = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        set_err(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return 0;
    }
    unsigned char *data = NULL;
    size_t length = 0, cap = 0;
    for (;;) {
        if (cap - length < 65536) {
            size_t ncap = cap ? cap * 2 : 1u << 20;
            if (ncap < cap) {
                goto oom;
            }
            unsigned char *p = realloc(data, ncap);
            if (p == NULL) {
                goto oom;
            }
            data = p;
            cap = ncap;
        }
        size_t got = fread(data + length, 1, cap - length, f);
        length += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        set_err(err, err_size, "%s: read error", path);
        free(data);
        fclose(f);
        return 0;
    }
    fclose(f);
    *out = data;
    *size = length;
    return 1;
oom:
    set_err(err, err_size, "%s: out of memory", path);
    free(data);
    fclose(f);
    return 0;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

int golden_read_vectors(unsigned char **out, uint64_t *count, const char *path,
                        nearkit_vector_type vector_type, uint32_t dimension, char *err,
                        size_t err_size) {
    if (out == NULL || count == NULL || path == NULL) {
        set_err(err, err_size, "golden_read_vectors: NULL argument");
        return 0;
    }
    *out = NULL;
    *count = 0;
    int is_float = vector_type == NEARKIT_VECTOR_FLOAT32;
    if ((!is_float && vector_type != NEARKIT_VECTOR_BINARY) || dimension == 0 ||
        (!is_float && dimension % 8 != 0)) {
        set_err(err, err_size, "%s: bad vector type or dimension", path);
        return 0;
    }
    uint32_t header = is_float ? dimension : dimension / 8; /* the int32 before every record */
    size_t vector_bytes = is_float ? (size_t)dimension * 4 : dimension / 8;
    size_t record = 4 + vector_bytes;
    unsigned char *data;
    size_t size;
    if (!read_file(&data, &size, path, err, err_size)) {
        return 0;
    }
    if (size % record != 0) {
        set_err(err, err_size, "%s: %zu bytes is not a whole number of %zu-byte records", path,
                size, record);
        free(data);
        return 0;
    }
    size_t n = size / record;
    unsigned char *vectors = malloc(n * vector_bytes + 1);
    if (vectors == NULL) {
        set_err(err, err_size, "%s: out of memory", path);
        free(data);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *r = data + i * record;
        uint32_t h = le32(r);
        if (h != header) {
            set_err(err, err_size, "%s: record %zu has dimension %u, expected %u", path, i, h, header);
            free(vectors);
            free(data);
            return 0;
        }
        unsigned char *dst = vectors + i * vector_bytes;
        if (is_float) {
            for (uint32_t j = 0; j < dimension; j++) {
                uint32_t bits = le32(r + 4 + 4 * (size_t)j);
                float v;
                memcpy(&v, &bits, sizeof v);
                memcpy(dst + 4 * (size_t)j, &v, sizeof v);
            }
        } else {
            memcpy(dst, r + 4, vector_bytes);
        }
    }
    free(data);
    *out = vectors;
    *count = n;
    return 1;
}

/* ---- manifest ---- */

static const struct {
    const char *name;
    nearkit_metric metric;
} METRICS[] = {
    {"l2", NEARKIT_METRIC_L2},         {"l1", NEARKIT_METRIC_L1}, {"linf", NEARKIT_METRIC_LINF},
    {"cosine", NEARKIT_METRIC_COSINE}, {"ip", NEARKIT_METRIC_IP}, {"hamming", NEARKIT_METRIC_HAMMING},
};

static int get_uint(const json_value *obj, const char *key, uint64_t *out, uint64_t min) {
    long long v;
    if (!json_integer(json_object_get(obj, key), &v) || v < 0 || (uint64_t)v < min) {
        return 0;
    }
    *out = (uint64_t)v;
    return 1;
}

void golden_manifest_free(golden_manifest *m) {
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->dataset_count; i++) {
        golden_dataset *d = &m->datasets[i];
        free(d->name);
        free(d->description);
        free(d->base);
        free(d->queries);
    }
    free(m->datasets);
    for (size_t i = 0; i < m->case_count; i++) {
        free(m->cases[i].name);
        free(m->cases[i].expected_path);
    }
    free(m->cases);
    for (size_t i = 0; i < m->approximate_count; i++) {
        free(m->approximate[i].label);
        free(m->approximate[i].kind);
        free(m->approximate[i].exact_params);
        free(m->approximate[i].recall_params);
        free(m->approximate[i].min_recall);
    }
    free(m->approximate);
    free(m->dir);
    memset(m, 0, sizeof *m);
}

static int load_dataset(golden_dataset *d, const golden_manifest *m, const json_member *member,
                        char *err, size_t err_size) {
    const json_value *v = &member->value;
    const char *type = json_string(json_object_get(v, "vector_type"));
    const char *base = json_string(json_object_get(v, "base"));
    const char *queries = json_string(json_object_get(v, "queries"));
    const char *description = json_string(json_object_get(v, "description"));
    uint64_t dimension, count, query_count;
    d->name = dup_string(member->key);
    d->description = dup_string(description != NULL ? description : "");
    if (d->name == NULL || d->description == NULL) {
        set_err(err, err_size, "out of memory");
        return 0;
    }
    if (type == NULL || base == NULL || queries == NULL ||
        !get_uint(v, "dimension", &dimension, 1) || dimension > UINT32_MAX ||
        !get_uint(v, "count", &count, 1) || !get_uint(v, "query_count", &query_count, 1)) {
        set_err(err, err_size, "manifest: dataset %s: missing or bad field", member->key);
        return 0;
    }
    if (strcmp(type, "float32") == 0) {
        d->vector_type = NEARKIT_VECTOR_FLOAT32;
        d->vector_bytes = (size_t)dimension * 4;
    } else if (strcmp(type, "binary") == 0 && dimension % 8 == 0) {
        d->vector_type = NEARKIT_VECTOR_BINARY;
        d->vector_bytes = (size_t)dimension / 8;
    } else {
        set_err(err, err_size, "manifest: dataset %s: bad vector_type or dimension", member->key);
        return 0;
    }
    d->dimension = (uint32_t)dimension;
    d->count = count;
    d->query_count = query_count;
    const char *rel[2] = {base, queries};
    unsigned char **dst[2] = {&d->base, &d->queries};
    uint64_t want[2] = {count, query_count};
    for (int i = 0; i < 2; i++) {
        char *path = join_path(m->dir, rel[i]);
        uint64_t n;
        if (path == NULL) {
            set_err(err, err_size, "out of memory");
            return 0;
        }
        int ok = golden_read_vectors(dst[i], &n, path, d->vector_type, d->dimension, err, err_size);
        if (ok && n != want[i]) {
            set_err(err, err_size, "%s: %llu vectors, the manifest says %llu", path,
                    (unsigned long long)n, (unsigned long long)want[i]);
            ok = 0;
        }
        free(path);
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static int load_case(golden_case *c, const golden_manifest *m, const json_value *v, size_t index,
                     char *err, size_t err_size) {
    const char *name = json_string(json_object_get(v, "name"));
    const char *dataset = json_string(json_object_get(v, "dataset"));
    const char *metric = json_string(json_object_get(v, "metric"));
    const char *expected = json_string(json_object_get(v, "expected"));
    if (name == NULL || dataset == NULL || metric == NULL || expected == NULL ||
        !get_uint(v, "k", &c->k, 1) || !json_number(json_object_get(v, "radius"), &c->radius)) {
        set_err(err, err_size, "manifest: case %zu: missing or bad field", index);
        return 0;
    }
    c->name = dup_string(name);
    c->expected_path = join_path(m->dir, expected);
    if (c->name == NULL || c->expected_path == NULL) {
        set_err(err, err_size, "out of memory");
        return 0;
    }
    size_t di = 0;
    while (di < m->dataset_count && strcmp(m->datasets[di].name, dataset) != 0) {
        di++;
    }
    if (di == m->dataset_count) {
        set_err(err, err_size, "manifest: case %s: unknown dataset %s", name, dataset);
        return 0;
    }
    c->dataset = di;
    c->metric_name = NULL;
    for (size_t i = 0; i < sizeof METRICS / sizeof METRICS[0]; i++) {
        if (strcmp(METRICS[i].name, metric) == 0) {
            c->metric = METRICS[i].metric;
            c->metric_name = METRICS[i].name;
        }
    }
    if (c->metric_name == NULL) {
        set_err(err, err_size, "manifest: case %s: unknown metric %s", name, metric);
        return 0;
    }
    int binary = m->datasets[di].vector_type == NEARKIT_VECTOR_BINARY;
    if (binary != (c->metric == NEARKIT_METRIC_HAMMING)) {
        set_err(err, err_size, "manifest: case %s: metric %s does not fit the dataset's vectors",
                name, metric);
        return 0;
    }
    return 1;
}

static size_t dataset_named(const golden_manifest *m, const char *name) {
    for (size_t i = 0; i < m->dataset_count; i++) {
        if (strcmp(m->datasets[i].name, name) == 0) {
            return i;
        }
    }
    return m->dataset_count;
}

static int load_approximate(golden_approximate *a, const golden_manifest *m, const json_member *member,
                            char *err, size_t err_size) {
    const json_value *v = &member->value;
    const char *exact = json_string(json_object_get(v, "exact_params"));
    const char *recall = json_string(json_object_get(v, "recall_params"));
    const json_value *floors = json_object_get(v, "min_recall");
    const json_value *kind = json_object_get(v, "kind");
    if (kind != NULL && json_string(kind) == NULL) {
        set_err(err, err_size, "manifest: approximate entry %s: \"kind\" must be a string", member->key);
        return 0;
    }
    if (exact == NULL || recall == NULL || !json_is(floors, JSON_OBJECT)) {
        set_err(err, err_size, "manifest: approximate kind %s needs exact_params, recall_params and "
                "min_recall", member->key);
        return 0;
    }
    a->label = dup_string(member->key);
    a->kind = dup_string(kind != NULL ? json_string(kind) : member->key);
    a->exact_params = dup_string(exact);
    a->recall_params = dup_string(recall);
    a->min_recall = calloc(m->dataset_count ? m->dataset_count : 1, sizeof *a->min_recall);
    if (a->label == NULL || a->kind == NULL || a->exact_params == NULL || a->recall_params == NULL || a->min_recall == NULL) {
        set_err(err, err_size, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < m->dataset_count; i++) {
        a->min_recall[i] = -1;
    }
    for (size_t i = 0; i < floors->u.object.count; i++) {
        const json_member *f = &floors->u.object.members[i];
        size_t d = dataset_named(m, f->key);
        double floor;
        if (d == m->dataset_count || !json_number(&f->value, &floor) || !(floor >= 0 && floor <= 1)) {
            set_err(err, err_size, "manifest: approximate kind %s: min_recall[%s] must name a dataset "
                    "and be in [0, 1]", member->key, f->key);
            return 0;
        }
        a->min_recall[d] = floor;
    }
    return 1;
}

/* The optional "approximate" section: {"kinds": {"<label>": {...}}}, the label a kind's name
 * unless the entry names its kind in "kind". */
static int load_approximate_section(golden_manifest *m, const json_value *section, const char *path,
                                    char *err, size_t err_size) {
    if (section == NULL) {
        return 1;
    }
    const json_value *kinds = json_object_get(section, "kinds");
    if (!json_is(kinds, JSON_OBJECT)) {
        set_err(err, err_size, "%s: \"approximate\" needs a \"kinds\" object", path);
        return 0;
    }
    size_t n = kinds->u.object.count;
    m->approximate = calloc(n ? n : 1, sizeof *m->approximate);
    if (m->approximate == NULL) {
        set_err(err, err_size, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        m->approximate_count = i + 1;
        if (!load_approximate(&m->approximate[i], m, &kinds->u.object.members[i], err, err_size)) {
            return 0;
        }
    }
    return 1;
}

int golden_manifest_load(golden_manifest *out, const char *dir, char *err, size_t err_size) {
    if (out == NULL || dir == NULL) {
        set_err(err, err_size, "golden_manifest_load: NULL argument");
        return 0;
    }
    memset(out, 0, sizeof *out);
    golden_manifest m;
    memset(&m, 0, sizeof m);
    json_value *root = NULL;
    char *path = NULL;
    m.dir = dup_string(dir);
    path = join_path(dir, "manifest.json");
    if (m.dir == NULL || path == NULL) {
        set_err(err, err_size, "out of memory");
        goto fail;
    }
    root = json_parse_file(path, err, err_size);
    if (root == NULL) {
        goto fail;
    }
    long long format;
    const json_value *comparison = json_object_get(root, "comparison");
    const json_value *datasets = json_object_get(root, "datasets");
    const json_value *cases = json_object_get(root, "cases");
    if (!json_integer(json_object_get(root, "format"), &format) || format != 1) {
        set_err(err, err_size, "%s: missing or unsupported \"format\" (this code reads 1)", path);
        goto fail;
    }
    if (!json_number(json_object_get(comparison, "distance_rtol"), &m.rtol) ||
        !json_number(json_object_get(comparison, "distance_atol"), &m.atol) || !(m.rtol >= 0) ||
        !(m.atol >= 0)) {
        set_err(err, err_size, "%s: missing or bad \"comparison\" tolerances", path);
        goto fail;
    }
    if (!json_is(datasets, JSON_OBJECT) || !json_is(cases, JSON_ARRAY)) {
        set_err(err, err_size, "%s: \"datasets\" must be an object and \"cases\" an array", path);
        goto fail;
    }
    size_t nd = datasets->u.object.count, nc = cases->u.array.count;
    m.datasets = calloc(nd ? nd : 1, sizeof *m.datasets);
    m.cases = calloc(nc ? nc : 1, sizeof *m.cases);
    if (m.datasets == NULL || m.cases == NULL) {
        set_err(err, err_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nd; i++) {
        m.dataset_count = i + 1; /* so that a partial entry is freed */
        if (!load_dataset(&m.datasets[i], &m, &datasets->u.object.members[i], err, err_size)) {
            goto fail;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(m.datasets[j].name, m.datasets[i].name) == 0) {
                set_err(err, err_size, "%s: dataset %s appears twice", path, m.datasets[i].name);
                goto fail;
            }
        }
    }
    for (size_t i = 0; i < nc; i++) {
        m.case_count = i + 1;
        if (!load_case(&m.cases[i], &m, &cases->u.array.items[i], i, err, err_size)) {
            goto fail;
        }
    }
    if (!load_approximate_section(&m, json_object_get(root, "approximate"), path, err, err_size)) {
        goto fail;
    }
    json_free(root);
    free(path);
    *out = m;
    return 1;
fail:
    json_free(root);
    free(path);
    golden_manifest_free(&m);
    return 0;
}

/* ---- expected results ---- */

void golden_expected_free(golden_expected *e) {
    if (e == NULL) {
        return;
    }
    free(e->knn_ids);
    free(e->knn_distances);
    free(e->range_offsets);
    free(e->range_ids);
    free(e->range_distances);
    memset(e, 0, sizeof *e);
}

int golden_expected_load(golden_expected *out, const golden_manifest *m, const golden_case *c,
                         char *err, size_t err_size) {
    if (out == NULL || m == NULL || c == NULL || c->dataset >= m->dataset_count) {
        set_err(err, err_size, "golden_expected_load: bad argument");
        return 0;
    }
    memset(out, 0, sizeof *out);
    const golden_dataset *d = &m->datasets[c->dataset];
    const char *path = c->expected_path;
    golden_expected e;
    memset(&e, 0, sizeof e);
    e.query_count = d->query_count;
    e.k = c->k;
    json_value *root = json_parse_file(path, err, err_size);
    if (root == NULL) {
        return 0;
    }
    const json_value *ki = json_object_get(root, "knn_ids");
    const json_value *kd = json_object_get(root, "knn_distances");
    const json_value *ri = json_object_get(root, "range_ids");
    const json_value *rd = json_object_get(root, "range_distances");
    size_t q = (size_t)d->query_count, k = (size_t)c->k;
    if (json_array_length(ki) != q || json_array_length(kd) != q || json_array_length(ri) != q ||
        json_array_length(rd) != q) {
        set_err(err, err_size, "%s: knn_ids, knn_distances, range_ids and range_distances must "
                "each have %zu rows", path, q);
        goto fail;
    }
    if (k > SIZE_MAX / sizeof(double) / q) {
        set_err(err, err_size, "%s: k too large", path);
        goto fail;
    }
    size_t total = 0;
    for (size_t i = 0; i < q; i++) {
        size_t n = json_array_length(json_array_at(ri, i));
        if (!json_is(json_array_at(ri, i), JSON_ARRAY) ||
            json_array_length(json_array_at(rd, i)) != n) {
            set_err(err, err_size, "%s: range row %zu: ids and distances differ in length", path, i);
            goto fail;
        }
        total += n;
    }
    e.knn_ids = malloc(q * k * sizeof *e.knn_ids);
    e.knn_distances = malloc(q * k * sizeof *e.knn_distances);
    e.range_offsets = malloc((q + 1) * sizeof *e.range_offsets);
    e.range_ids = malloc((total ? total : 1) * sizeof *e.range_ids);
    e.range_distances = malloc((total ? total : 1) * sizeof *e.range_distances);
    if (e.knn_ids == NULL || e.knn_distances == NULL || e.range_offsets == NULL ||
        e.range_ids == NULL || e.range_distances == NULL) {
        set_err(err, err_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < q; i++) {
        const json_value *ids = json_array_at(ki, i), *ds = json_array_at(kd, i);
        if (json_array_length(ids) != k || json_array_length(ds) != k) {
            set_err(err, err_size, "%s: knn row %zu must have %zu entries", path, i, k);
            goto fail;
        }
        for (size_t j = 0; j < k; j++) {
            long long id;
            double dist;
            const json_value *dv = json_array_at(ds, j);
            if (!json_integer(json_array_at(ids, j), &id) || id < -1 ||
                (id >= 0 && (uint64_t)id >= d->count)) {
                set_err(err, err_size, "%s: knn row %zu, entry %zu: bad id", path, i, j);
                goto fail;
            }
            if (id == -1 && json_is(dv, JSON_NULL)) {
                dist = INFINITY;
            } else if (id == -1 || !json_number(dv, &dist)) {
                set_err(err, err_size, "%s: knn row %zu, entry %zu: the distance must be a number, "
                        "or null exactly where the id is -1", path, i, j);
                goto fail;
            }
            e.knn_ids[i * k + j] = id;
            e.knn_distances[i * k + j] = dist;
        }
    }
    size_t at = 0;
    for (size_t i = 0; i < q; i++) {
        const json_value *ids = json_array_at(ri, i), *ds = json_array_at(rd, i);
        e.range_offsets[i] = at;
        for (size_t j = 0; j < json_array_length(ids); j++) {
            long long id;
            double dist;
            if (!json_integer(json_array_at(ids, j), &id) || id < 0 || (uint64_t)id >= d->count ||
                !json_number(json_array_at(ds, j), &dist)) {
                set_err(err, err_size, "%s: range row %zu, entry %zu: bad id or distance", path, i, j);
                goto fail;
            }
            e.range_ids[at] = id;
            e.range_distances[at] = dist;
            at++;
        }
    }
    e.range_offsets[q] = at;
    json_free(root);
    *out = e;
    return 1;
fail:
    json_free(root);
    golden_expected_free(&e);
    return 0;
}

/* ---- the comparison rule ---- */

void golden_recall_row(const int64_t *expected_ids, const int64_t *actual_ids, size_t k,
                       uint64_t *found, uint64_t *wanted) {
    for (size_t j = 0; j < k; j++) {
        if (expected_ids[j] == -1) {
            continue;
        }
        (*wanted)++;
        for (size_t i = 0; i < k; i++) {
            if (actual_ids[i] == expected_ids[j]) {
                (*found)++;
                break;
            }
        }
    }
}

double golden_tolerance(double rtol, double atol, double distance) {
    return atol + rtol * fabs(distance);
}

typedef struct id_entry {
    int64_t id;
    double distance;
} id_entry;

static int cmp_entry(const void *a, const void *b) {
    int64_t x = ((const id_entry *)a)->id, y = ((const id_entry *)b)->id;
    return (x > y) - (x < y);
}

/* A table of (id, distance) sorted by id, ignoring ids of -1. NULL when out of memory. */
static id_entry *make_table(const int64_t *ids, const double *distances, size_t n, size_t *out_n) {
    id_entry *t = malloc((n ? n : 1) * sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] != -1) {
            t[m].id = ids[i];
            t[m].distance = distances[i];
            m++;
        }
    }
    qsort(t, m, sizeof *t, cmp_entry);
    *out_n = m;
    return t;
}

static const id_entry *find(const id_entry *t, size_t n, int64_t id) {
    id_entry key = {id, 0.0};
    return bsearch(&key, t, n, sizeof *t, cmp_entry);
}

static void set_msg(char *msg, size_t msg_size, const char *fmt, ...) {
    if (msg == NULL || msg_size == 0) {
        return;
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, msg_size, fmt, args);
    va_end(args);
}

int golden_compare_knn(char *msg, size_t msg_size, const int64_t *expected_ids,
                       const double *expected_distances, const int64_t *actual_ids,
                       const double *actual_distances, size_t k, double rtol, double atol) {
    set_msg(msg, msg_size, "%s", "");
    /* (1) and (2): position by position. */
    for (size_t j = 0; j < k; j++) {
        int e_missing = expected_ids[j] == -1, a_missing = actual_ids[j] == -1;
        if (e_missing != a_missing) {
            set_msg(msg, msg_size, "position %zu: expected id %lld, got %lld", j,
                    (long long)expected_ids[j], (long long)actual_ids[j]);
            return 0;
        }
        if (!e_missing) {
            double e = expected_distances[j], a = actual_distances[j];
            if (!(fabs(a - e) <= golden_tolerance(rtol, atol, e))) {
                set_msg(msg, msg_size, "position %zu: distance %.9g, expected %.17g (id %lld, got "
                        "id %lld)", j, a, e, (long long)expected_ids[j], (long long)actual_ids[j]);
                return 0;
            }
        }
    }
    /* (3): membership, up to ties at the row's largest distance. */
    int have_dk = 0;
    double dk = 0.0;
    for (size_t j = 0; j < k; j++) {
        if (expected_ids[j] != -1 && (!have_dk || expected_distances[j] > dk)) {
            dk = expected_distances[j];
            have_dk = 1;
        }
    }
    if (!have_dk) {
        return 1;
    }
    double edge = dk - golden_tolerance(rtol, atol, dk);
    size_t ne, na;
    id_entry *et = make_table(expected_ids, expected_distances, k, &ne);
    id_entry *at = make_table(actual_ids, actual_distances, k, &na);
    int ok = 1;
    if (et == NULL || at == NULL) {
        set_msg(msg, msg_size, "out of memory");
        ok = 0;
        goto done;
    }
    for (size_t i = 1; i < na; i++) {
        if (at[i].id == at[i - 1].id) {
            set_msg(msg, msg_size, "id %lld appears twice", (long long)at[i].id);
            ok = 0;
            goto done;
        }
    }
    for (size_t j = 0; j < k; j++) {
        if (expected_ids[j] != -1 && expected_distances[j] < edge &&
            find(at, na, expected_ids[j]) == NULL) {
            set_msg(msg, msg_size, "missing id %lld (expected distance %.17g, row's largest %.17g)",
                    (long long)expected_ids[j], expected_distances[j], dk);
            ok = 0;
            goto done;
        }
    }
    for (size_t j = 0; j < k; j++) {
        if (actual_ids[j] != -1 && find(et, ne, actual_ids[j]) == NULL &&
            !(actual_distances[j] >= edge)) {
            set_msg(msg, msg_size, "unexpected id %lld at position %zu (distance %.9g, below the "
                    "row's largest expected %.17g minus tolerance)", (long long)actual_ids[j], j,
                    actual_distances[j], dk);
            ok = 0;
            goto done;
        }
    }
done:
    free(et);
    free(at);
    return ok;
}

int golden_compare_range(char *msg, size_t msg_size, double radius, const int64_t *expected_ids,
                         const double *expected_distances, size_t expected_count,
                         const int64_t *actual_ids, const double *actual_distances,
                         size_t actual_count, double rtol, double atol) {
    set_msg(msg, msg_size, "%s", "");
    double t = golden_tolerance(rtol, atol, radius);
    size_t ne, na;
    id_entry *et = make_table(expected_ids, expected_distances, expected_count, &ne);
    id_entry *at = make_table(actual_ids, actual_distances, actual_count, &na);
    int ok = 1;
    if (et == NULL || at == NULL) {
        set_msg(msg, msg_size, "out of memory");
        ok = 0;
        goto done;
    }
    for (size_t j = 0; j < expected_count; j++) {
        if (expected_distances[j] < radius - t && find(at, na, expected_ids[j]) == NULL) {
            set_msg(msg, msg_size, "missing id %lld (expected distance %.17g, radius %.9g; %zu "
                    "expected, %zu returned)", (long long)expected_ids[j], expected_distances[j],
                    radius, expected_count, actual_count);
            ok = 0;
            goto done;
        }
    }
    for (size_t j = 0; j < actual_count; j++) {
        const id_entry *e = find(et, ne, actual_ids[j]);
        double a = actual_distances[j];
        if (e == NULL) {
            if (!(a >= radius - t && a <= radius + t)) {
                set_msg(msg, msg_size, "unexpected id %lld at position %zu (distance %.9g, radius "
                        "%.9g)", (long long)actual_ids[j], j, a, radius);
                ok = 0;
                goto done;
            }
        } else if (!(fabs(a - e->distance) <= golden_tolerance(rtol, atol, e->distance))) {
            set_msg(msg, msg_size, "id %lld: distance %.9g, expected %.17g", (long long)actual_ids[j],
                    a, e->distance);
            ok = 0;
            goto done;
        }
    }
    for (size_t j = 1; j < actual_count; j++) {
        if (!(actual_distances[j - 1] <= actual_distances[j])) {
            set_msg(msg, msg_size, "distances not non-decreasing at position %zu (%.9g then %.9g)",
                    j, actual_distances[j - 1], actual_distances[j]);
            ok = 0;
            goto done;
        }
    }
done:
    free(et);
    free(at);
    return ok;
}
