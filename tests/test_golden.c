/*
 * test_golden.c - nearkit's C conformance test on the golden datasets (docs/golden.md).
 *
 * Usage: test_golden [--strict] GOLDEN_DIR [CASE_SUBSTRING]
 *
 * Runs every case of GOLDEN_DIR/manifest.json against every index kind the library reports with
 * NEARKIT_KIND_FLAG_EXACT that supports the case's metric: create, add the base vectors (default
 * ids), build, k-NN search and range search, compared with the expected results by the rule of
 * docs/golden.md; then the same searches on copies saved to and loaded from a buffer (searched
 * on one thread) and a file (searched one query at a time). All of it once for every distance-kernel
 * implementation the CPU supports (scalar, avx2, avx512; nearkit_kernels_force).
 * The approximate kinds the manifest names run the same way under its exact_params, and their
 * recall@k under its recall_params must reach the manifest's floor for the case's dataset.
 * The manifest's living cases then run on the same kinds: remove ids, add some back, build again,
 * search with an allow-list filter, and again on a copy loaded from a buffer. A kind whose remove,
 * add after build or filtered search answers UNSUPPORTED is reported on a "SKIP" line and counted
 * as skipped, not failed, unless --strict is given (kinds are still gaining those calls).
 * Prints one line per failure, then "golden: N passed, M failed, S skipped" (one unit = one case on
 * one kind with one kernel implementation). Exits 0 when nothing failed, 1 otherwise, 2 on bad
 * usage or an unreadable manifest.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <process.h>
#else
#include <unistd.h>
#endif

#define NEARKIT_EXPERIMENTAL /* nearkit_kernels_force */
#include "golden_util.h"
#include "json.h"
#include "nearkit.h"

/* At most this many failing queries are printed per (case, kind, stage, search). */
#define MAX_PRINTED 5

typedef struct run {
    const golden_manifest *m;
    const golden_case *c;
    const golden_dataset *d;
    const golden_expected *e;
    const char *kind_name;
    const char *kernels;
    const char *params; /* index parameters: NULL for an exact kind */
    int failures;
} run;

/* A kind the suite runs: every exact kind, and each approximate entry of the manifest (one kind
 * may come twice, under other build parameters). */
typedef struct kind_run {
    nearkit_kind_info info;
    const golden_approximate *approximate; /* NULL for an exact kind */
} kind_run;

/* The name a run reports: the manifest entry's label, or the exact kind's name. */
static const char *kind_label(const kind_run *k) {
    if (k->approximate) return k->approximate->label;
    return k->info.name ? k->info.name : "?";
}

static void fail(run *r, const char *stage, const char *what, const char *detail) {
    printf("FAIL case=%s kind=%s kernels=%s stage=%s: %s%s%s\n", r->c->name, r->kind_name,
           r->kernels, stage, what, detail ? ": " : "", detail ? detail : "");
    r->failures++;
}

static void fail_status(run *r, const char *stage, const char *what, nearkit_status st) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s returned %s (%s)", what, nearkit_status_name(st),
             nearkit_last_error_message());
    fail(r, stage, buf, NULL);
}

static void report_query(run *r, const char *stage, uint64_t query, const char *search,
                         const char *msg, int *bad) {
    if ((*bad)++ < MAX_PRINTED) {
        printf("FAIL case=%s kind=%s kernels=%s stage=%s query=%llu %s: %s\n", r->c->name,
               r->kind_name, r->kernels, stage, (unsigned long long)query, search, msg);
    }
}

static void report_more(run *r, const char *stage, const char *search, int bad) {
    if (bad > MAX_PRINTED) {
        printf("FAIL case=%s kind=%s kernels=%s stage=%s %s: %d more failing queries not shown\n",
               r->c->name, r->kind_name, r->kernels, stage, search, bad - MAX_PRINTED);
    }
    r->failures += bad;
}

/* Compares the range matches of query i (n of them) with the expectation. 0 when out of memory. */
static int check_range_row(run *r, const char *stage, uint64_t i, const int64_t *ids,
                           const float *dist, size_t n, double **scratch, int *bad) {
    char msg[512];
    double *row = realloc(*scratch, (n ? n : 1) * sizeof *row);
    if (row == NULL) {
        fail(r, stage, "out of memory in the test", NULL);
        return 0;
    }
    *scratch = row;
    for (size_t j = 0; j < n; j++) {
        row[j] = (double)dist[j];
    }
    const golden_expected *e = r->e;
    size_t eb = (size_t)e->range_offsets[i], en = (size_t)(e->range_offsets[i + 1] - eb);
    if (!golden_compare_range(msg, sizeof msg, r->c->radius, e->range_ids + eb,
                              e->range_distances + eb, en, ids, row, n, r->m->rtol, r->m->atol)) {
        report_query(r, stage, i, "range", msg, bad);
    }
    return 1;
}

/* Checks a range result of `queries` queries whose first is query `first`. 0 to stop. */
static int check_range_result(run *r, const char *stage, const nearkit_range_result *rr,
                              uint64_t first, uint64_t queries, double **scratch, int *bad) {
    const uint64_t *offsets = NULL;
    const int64_t *ids = NULL;
    const float *dist = NULL;
    nearkit_status st = nearkit_range_result_get(&offsets, &ids, &dist, rr);
    if (st != NEARKIT_OK) {
        fail_status(r, stage, "nearkit_range_result_get", st);
        return 0;
    }
    if (nearkit_range_result_query_count(rr) != queries || offsets == NULL || offsets[0] != 0 ||
        (offsets[queries] > 0 && (ids == NULL || dist == NULL))) {
        fail(r, stage, "range result has the wrong query count or offsets", NULL);
        return 0;
    }
    for (uint64_t i = 0; i < queries; i++) {
        if (offsets[i + 1] < offsets[i]) {
            fail(r, stage, "range result offsets decrease", NULL);
            return 0;
        }
        size_t n = (size_t)(offsets[i + 1] - offsets[i]);
        if (!check_range_row(r, stage, first + i, n ? ids + offsets[i] : NULL,
                             n ? dist + offsets[i] : NULL, n, scratch, bad)) {
            return 0;
        }
    }
    return 1;
}

/* k-NN and range search on idx, compared with the expectations: all queries in one call, or
 * (single) one call per query. */
static void check_searches(run *r, const nearkit_index *idx, const char *stage,
                           const nearkit_search_options *options, int single) {
    const golden_dataset *d = r->d;
    const golden_expected *e = r->e;
    uint64_t q = d->query_count, k = r->c->k;
    size_t cells = (size_t)(q * k);
    int64_t *ids = malloc(cells * sizeof *ids);
    float *dist = malloc(cells * sizeof *dist);
    double *row = malloc((size_t)k * sizeof *row);
    double *scratch = NULL;
    nearkit_range_result *rr = NULL;
    char msg[512];
    int bad = 0;
    if (ids == NULL || dist == NULL || row == NULL) {
        fail(r, stage, "out of memory in the test", NULL);
        goto done;
    }

    nearkit_status st = NEARKIT_OK;
    if (single) {
        for (uint64_t i = 0; i < q && st == NEARKIT_OK; i++) {
            st = nearkit_index_search(ids + i * k, dist + i * k, idx, d->vector_type,
                                      d->queries + i * d->vector_bytes, 1, k, options);
        }
    } else {
        st = nearkit_index_search(ids, dist, idx, d->vector_type, d->queries, q, k, options);
    }
    if (st != NEARKIT_OK) {
        fail_status(r, stage, "nearkit_index_search", st);
    } else {
        for (uint64_t i = 0; i < q; i++) {
            for (uint64_t j = 0; j < k; j++) {
                row[j] = (double)dist[i * k + j];
            }
            if (!golden_compare_knn(msg, sizeof msg, e->knn_ids + i * k, e->knn_distances + i * k,
                                    ids + i * k, row, (size_t)k, r->m->rtol, r->m->atol)) {
                report_query(r, stage, i, "knn", msg, &bad);
            }
        }
        report_more(r, stage, "knn", bad);
    }

    bad = 0;
    float radius = (float)r->c->radius;
    for (uint64_t first = 0; first < q; first += single ? 1 : q) {
        uint64_t n = single ? 1 : q;
        st = nearkit_index_range_search(&rr, idx, d->vector_type,
                                        d->queries + first * d->vector_bytes, n, radius, options);
        if (st != NEARKIT_OK) {
            fail_status(r, stage, "nearkit_index_range_search", st);
            break;
        }
        int go_on = check_range_result(r, stage, rr, first, n, &scratch, &bad);
        nearkit_range_result_free(rr);
        rr = NULL;
        if (!go_on) {
            break;
        }
    }
    report_more(r, stage, "range", bad);
done:
    free(scratch);
    free(row);
    free(dist);
    free(ids);
}

/* Checks that a loaded index describes the same index as the original. */
static int check_loaded(run *r, const nearkit_index *orig, const nearkit_index *loaded,
                        const char *stage) {
    if (nearkit_index_kind(loaded) != nearkit_index_kind(orig) ||
        nearkit_index_metric(loaded) != nearkit_index_metric(orig) ||
        nearkit_index_vector_type(loaded) != nearkit_index_vector_type(orig) ||
        nearkit_index_dimension(loaded) != nearkit_index_dimension(orig) ||
        nearkit_index_count(loaded) != nearkit_index_count(orig)) {
        fail(r, stage, "the loaded index differs in kind, metric, vector type, dimension or count",
             NULL);
        return 0;
    }
    if (!nearkit_index_is_ready(loaded)) {
        fail(r, stage, "the loaded index is not ready to search", NULL);
        return 0;
    }
    return 1;
}

static int make_temp_path(char *path, size_t size) {
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0') {
        dir = "/tmp";
    }
#ifdef _WIN32
    static unsigned counter = 0;
    snprintf(path, size, "%s/nearkit-golden-%u-%u.nkx", dir, (unsigned)_getpid(), counter++);
    return 1;
#else
    if ((size_t)snprintf(path, size, "%s/nearkit-golden-XXXXXX", dir) >= size) {
        return 0;
    }
    int fd = mkstemp(path);
    if (fd < 0) {
        return 0;
    }
    close(fd);
    return 1;
#endif
}

/* Creates the kind's index over the case's base vectors with the given parameters, built; NULL
 * after reporting a failure. */
static nearkit_index *built_index(run *r, const nearkit_kind_info *kind, const char *params) {
    const golden_dataset *d = r->d;
    nearkit_index *idx = NULL;
    nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT;
    options.params = params;
    nearkit_status st = nearkit_index_create(&idx, kind->kind, r->c->metric, d->dimension, &options);
    if (st != NEARKIT_OK) {
        fail_status(r, "create", "nearkit_index_create", st);
        return NULL;
    }
    st = nearkit_index_add(idx, d->vector_type, d->base, d->count, NULL);
    if (st != NEARKIT_OK) {
        fail_status(r, "add", "nearkit_index_add", st);
    } else if ((st = nearkit_index_build(idx)) != NEARKIT_OK) {
        fail_status(r, "build", "nearkit_index_build", st);
    } else if (nearkit_index_count(idx) != d->count || !nearkit_index_is_ready(idx)) {
        fail(r, "build", "after add and build the count is wrong or the index is not ready", NULL);
        st = NEARKIT_ERR_INTERNAL;
    }
    if (st != NEARKIT_OK) {
        nearkit_index_free(idx);
        return NULL;
    }
    return idx;
}

/* An approximate kind under its recall parameters: recall@k over the case's queries against the
 * manifest's floor for the dataset. Prints the recall either way. */
static void check_recall(run *r, const nearkit_kind_info *kind, double floor) {
    const golden_dataset *d = r->d;
    uint64_t q = d->query_count, k = r->c->k, found = 0, wanted = 0;
    int64_t *ids = malloc((size_t)(q * k) * sizeof *ids);
    float *dist = malloc((size_t)(q * k) * sizeof *dist);
    nearkit_index *idx = ids && dist ? built_index(r, kind, r->params) : NULL;
    if (idx != NULL) {
        nearkit_status st = nearkit_index_search(ids, dist, idx, d->vector_type, d->queries, q, k, NULL);
        if (st != NEARKIT_OK) {
            fail_status(r, "recall", "nearkit_index_search", st);
        } else {
            for (uint64_t i = 0; i < q; i++) {
                golden_recall_row(r->e->knn_ids + i * k, ids + i * k, (size_t)k, &found, &wanted);
            }
            double recall = wanted ? (double)found / (double)wanted : 1.0;
            char detail[160];
            snprintf(detail, sizeof detail, "recall@%llu %.3f, floor %.3f (%s)",
                     (unsigned long long)k, recall, floor, r->params);
            if (recall < floor) {
                fail(r, "recall", "below the manifest's floor", detail);
            } else {
                printf("recall case=%s kind=%s: %s\n", r->c->name, r->kind_name, detail);
            }
        }
    } else if (!ids || !dist) {
        fail(r, "recall", "out of memory in the test", NULL);
    }
    nearkit_index_free(idx);
    free(ids);
    free(dist);
}

static void run_case_on_kind(run *r, const nearkit_kind_info *kind) {
    nearkit_status st;
    nearkit_index *idx = built_index(r, kind, r->params);
    if (idx == NULL) {
        return;
    }
    check_searches(r, idx, "original", NULL, 0);

    /* Through a buffer; searched with a single thread. */
    void *buffer = NULL;
    size_t size = 0;
    st = nearkit_index_save_to_buffer(&buffer, &size, idx);
    if (st != NEARKIT_OK) {
        fail_status(r, "buffer", "nearkit_index_save_to_buffer", st);
    } else {
        nearkit_index *loaded = NULL;
        st = nearkit_index_load_from_buffer(&loaded, buffer, size);
        if (st != NEARKIT_OK) {
            fail_status(r, "buffer", "nearkit_index_load_from_buffer", st);
        } else if (check_loaded(r, idx, loaded, "buffer")) {
            nearkit_search_options one = NEARKIT_SEARCH_OPTIONS_INIT;
            one.num_threads = 1;
            check_searches(r, loaded, "buffer", &one, 0);
        }
        nearkit_index_free(loaded);
    }
    nearkit_buffer_free(buffer);

    /* Through a file. */
    char path[4096];
    if (!make_temp_path(path, sizeof path)) {
        fail(r, "file", "cannot create a temporary file", NULL);
        goto done;
    }
    st = nearkit_index_save(idx, path);
    if (st != NEARKIT_OK) {
        fail_status(r, "file", "nearkit_index_save", st);
    } else {
        nearkit_index *loaded = NULL;
        st = nearkit_index_load(&loaded, path);
        if (st != NEARKIT_OK) {
            fail_status(r, "file", "nearkit_index_load", st);
        } else if (check_loaded(r, idx, loaded, "file")) {
            check_searches(r, loaded, "file", NULL, 1);
        }
        nearkit_index_free(loaded);
    }
    remove(path);
done:
    nearkit_index_free(idx);
}

/* ---- Living cases (docs/golden.md, "Living cases") ---------------------------------------------- */

/* Whether UNSUPPORTED from remove, add after build or a filtered search fails (--strict) or skips. */
static int strict_living = 0;

/* A list of ids of a living case file; present = 0 for JSON null (only "filter" may be null). */
typedef struct id_list {
    int64_t *ids; /* NULL when empty */
    size_t n;
    int present;
} id_list;

typedef struct living_case {
    golden_case c; /* name, dataset, metric, k, radius; expected_path is the living case file */
    id_list remove, add_back, filter;
} living_case;

static void living_free(living_case *ls, size_t n) {
    for (size_t i = 0; ls != NULL && i < n; i++) {
        free(ls[i].c.name);
        free(ls[i].c.expected_path);
        free(ls[i].remove.ids);
        free(ls[i].add_back.ids);
        free(ls[i].filter.ids);
    }
    free(ls);
}

static char *join_dir(const char *dir, const char *rel) {
    size_t a = strlen(dir), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (p != NULL) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, rel, b + 1);
    }
    return p;
}

/* Reads a JSON array of ids, each in [0, count); JSON null (present = 0) only when nullable. */
static int read_id_list(id_list *out, const json_value *v, uint64_t count, int nullable) {
    memset(out, 0, sizeof *out);
    if (nullable && json_is(v, JSON_NULL)) {
        return 1;
    }
    if (!json_is(v, JSON_ARRAY)) {
        return 0;
    }
    out->present = 1;
    out->n = json_array_length(v);
    if (out->n == 0) {
        return 1;
    }
    out->ids = malloc(out->n * sizeof *out->ids);
    if (out->ids == NULL) {
        return 0;
    }
    for (size_t i = 0; i < out->n; i++) {
        long long id;
        if (!json_integer(json_array_at(v, i), &id) || id < 0 || (uint64_t)id >= count) {
            return 0;
        }
        out->ids[i] = (int64_t)id;
    }
    return 1;
}

/* The regular case of the same dataset and metric: it names the metric and its dataset. */
static const golden_case *case_like(const golden_manifest *m, const char *dataset, const char *metric) {
    for (size_t i = 0; i < m->case_count; i++) {
        const golden_case *c = &m->cases[i];
        if (strcmp(m->datasets[c->dataset].name, dataset) == 0 && strcmp(c->metric_name, metric) == 0) {
            return c;
        }
    }
    return NULL;
}

/* One entry of the manifest's "living" list and its case file's remove / add_back / filter lists
 * (the expected rows are read later by golden_expected_load, whose layout they share). */
static int load_living_case(living_case *l, const golden_manifest *m, const json_value *v, size_t index,
                            char *err, size_t err_size) {
    const char *name = json_string(json_object_get(v, "name"));
    const char *dataset = json_string(json_object_get(v, "dataset"));
    const char *metric = json_string(json_object_get(v, "metric"));
    const char *file = json_string(json_object_get(v, "case"));
    long long k;
    const golden_case *like = dataset && metric ? case_like(m, dataset, metric) : NULL;
    if (name == NULL || file == NULL || like == NULL || !json_integer(json_object_get(v, "k"), &k) ||
        k < 1 || !json_number(json_object_get(v, "radius"), &l->c.radius)) {
        snprintf(err, err_size, "manifest: living case %zu: missing or bad field (or no case of its "
                 "dataset and metric)", index);
        return 0;
    }
    l->c.name = malloc(strlen(name) + 1);
    l->c.expected_path = join_dir(m->dir, file);
    if (l->c.name == NULL || l->c.expected_path == NULL) {
        snprintf(err, err_size, "out of memory");
        return 0;
    }
    strcpy(l->c.name, name);
    l->c.dataset = like->dataset;
    l->c.metric = like->metric;
    l->c.metric_name = like->metric_name;
    l->c.k = (uint64_t)k;
    json_value *root = json_parse_file(l->c.expected_path, err, err_size);
    if (root == NULL) {
        return 0;
    }
    uint64_t count = m->datasets[like->dataset].count;
    int ok = read_id_list(&l->remove, json_object_get(root, "remove"), count, 0) &&
             read_id_list(&l->add_back, json_object_get(root, "add_back"), count, 0) &&
             read_id_list(&l->filter, json_object_get(root, "filter"), count, 1);
    json_free(root);
    if (!ok) {
        snprintf(err, err_size, "%s: \"remove\", \"add_back\" and \"filter\" must be arrays of ids in "
                 "[0, %llu) (filter may be null)", l->c.expected_path, (unsigned long long)count);
    }
    return ok;
}

/* Reads the manifest's "living" list. */
static int load_living(living_case **out, size_t *n, const golden_manifest *m, char *err, size_t err_size) {
    *out = NULL;
    *n = 0;
    char *path = join_dir(m->dir, "manifest.json");
    json_value *root = path ? json_parse_file(path, err, err_size) : NULL;
    free(path);
    if (root == NULL) {
        return 0;
    }
    const json_value *list = json_object_get(root, "living");
    size_t count = json_array_length(list);
    living_case *ls = calloc(count ? count : 1, sizeof *ls);
    int ok = ls != NULL && json_is(list, JSON_ARRAY);
    if (!ok) {
        snprintf(err, err_size, "manifest: \"living\" must be an array (or out of memory)");
    }
    for (size_t i = 0; ok && i < count; i++) {
        ok = load_living_case(&ls[i], m, json_array_at(list, i), i, err, err_size);
    }
    json_free(root);
    if (!ok) {
        living_free(ls, count);
        return 0;
    }
    *out = ls;
    *n = count;
    return 1;
}

/* 1 when st is UNSUPPORTED and not --strict: prints the SKIP line, and the caller stops this unit. */
static int skipped_as_unsupported(run *r, const char *stage, const char *what, nearkit_status st) {
    if (st != NEARKIT_ERR_UNSUPPORTED || strict_living) {
        return 0;
    }
    printf("SKIP case=%s kind=%s kernels=%s stage=%s: %s returned UNSUPPORTED (%s)\n", r->c->name,
           r->kind_name, r->kernels, stage, what, nearkit_last_error_message());
    return 1;
}

/* The base vectors of the add_back ids, in their order. NULL when there are none (or no memory). */
static unsigned char *gather_base(const golden_dataset *d, const id_list *ids) {
    unsigned char *out = ids->n ? malloc(ids->n * d->vector_bytes) : NULL;
    for (size_t i = 0; out != NULL && i < ids->n; i++) {
        memcpy(out + i * d->vector_bytes, d->base + (size_t)ids->ids[i] * d->vector_bytes,
               d->vector_bytes);
    }
    return out;
}

/* Removes the case's ids (one call), adds the add_back ids again with their base vectors (one call)
 * and builds again. 1 on success; 0 after a failure or a skip (*skipped set). */
static int apply_living_changes(run *r, nearkit_index *idx, const living_case *l, int *skipped) {
    const golden_dataset *d = r->d;
    uint64_t removed = 0;
    nearkit_status st = nearkit_index_remove(&removed, idx, l->remove.ids, l->remove.n);
    if ((*skipped = skipped_as_unsupported(r, "remove", "nearkit_index_remove", st))) {
        return 0;
    }
    if (st != NEARKIT_OK) {
        fail_status(r, "remove", "nearkit_index_remove", st);
        return 0;
    }
    if (removed != l->remove.n) {
        char detail[96];
        snprintf(detail, sizeof detail, "%llu removed, %zu expected", (unsigned long long)removed,
                 l->remove.n);
        fail(r, "remove", "nearkit_index_remove reports a wrong count", detail);
        return 0;
    }
    unsigned char *vectors = gather_base(d, &l->add_back);
    if (l->add_back.n > 0 && vectors == NULL) {
        fail(r, "add_back", "out of memory in the test", NULL);
        return 0;
    }
    st = nearkit_index_add(idx, d->vector_type, vectors, l->add_back.n, l->add_back.ids);
    free(vectors);
    if ((*skipped = skipped_as_unsupported(r, "add_back", "nearkit_index_add", st))) {
        return 0;
    }
    if (st != NEARKIT_OK) {
        fail_status(r, "add_back", "nearkit_index_add", st);
        return 0;
    }
    st = nearkit_index_build(idx);
    if ((*skipped = skipped_as_unsupported(r, "rebuild", "nearkit_index_build", st))) {
        return 0;
    }
    if (st != NEARKIT_OK) {
        fail_status(r, "rebuild", "nearkit_index_build", st);
        return 0;
    }
    return 1;
}

/* The count a living index must report: base - removed + added back. */
static int check_living_count(run *r, const nearkit_index *idx, const living_case *l, const char *stage) {
    uint64_t want = r->d->count - l->remove.n + l->add_back.n, got = nearkit_index_count(idx);
    if (got != want) {
        char detail[96];
        snprintf(detail, sizeof detail, "count %llu, expected %llu", (unsigned long long)got,
                 (unsigned long long)want);
        fail(r, stage, "wrong count after remove and add back", detail);
        return 0;
    }
    return 1;
}

/* One search of the first query with the filter: UNSUPPORTED means the kind cannot filter yet. */
static int filter_unsupported(run *r, const nearkit_index *idx, const nearkit_search_options *options) {
    int64_t id[1];
    float dist[1];
    nearkit_status st = nearkit_index_search(id, dist, idx, r->d->vector_type, r->d->queries, 1, 1, options);
    return skipped_as_unsupported(r, "original", "a filtered nearkit_index_search", st);
}

/* A living case on one kind: base added and built, the changes applied, filtered searches checked
 * on the index (all queries at once, and one per call) and on a copy loaded from a buffer. Returns
 * 0 when the unit was skipped. */
static int run_living_on_kind(run *r, const nearkit_kind_info *kind, const living_case *l) {
    int skipped = 0;
    nearkit_index *idx = built_index(r, kind, r->params);
    if (idx == NULL || !apply_living_changes(r, idx, l, &skipped) ||
        !check_living_count(r, idx, l, "original")) {
        nearkit_index_free(idx);
        return !skipped;
    }
    nearkit_filter filter = NEARKIT_FILTER_INIT;
    filter.type = NEARKIT_FILTER_IDS;
    filter.ids = l->filter.ids;
    filter.n_ids = l->filter.n;
    nearkit_search_options options = NEARKIT_SEARCH_OPTIONS_INIT;
    options.filter = l->filter.present ? &filter : NULL;
    if (l->filter.present && filter_unsupported(r, idx, &options)) {
        nearkit_index_free(idx);
        return 0;
    }
    check_searches(r, idx, "original", &options, 0);
    check_searches(r, idx, "single", &options, 1);

    void *buffer = NULL;
    size_t size = 0;
    nearkit_status st = nearkit_index_save_to_buffer(&buffer, &size, idx);
    if (st != NEARKIT_OK) {
        fail_status(r, "buffer", "nearkit_index_save_to_buffer", st);
    } else {
        nearkit_index *loaded = NULL;
        st = nearkit_index_load_from_buffer(&loaded, buffer, size);
        if (st != NEARKIT_OK) {
            fail_status(r, "buffer", "nearkit_index_load_from_buffer", st);
        } else if (check_loaded(r, idx, loaded, "buffer") && check_living_count(r, loaded, l, "buffer")) {
            options.num_threads = 1;
            check_searches(r, loaded, "buffer", &options, 0);
        }
        nearkit_index_free(loaded);
    }
    nearkit_buffer_free(buffer);
    nearkit_index_free(idx);
    return 1;
}

/* Units of one kind, for the living cases' per-kind summary. */
typedef struct tally {
    int passed, failed, skipped;
} tally;

/* What the suite runs on: the kinds, the kernel implementations, the case-name filter. */
typedef struct suite {
    const golden_manifest *m;
    const kind_run *kinds;
    size_t nrun;
    const int32_t *kernels;
    const char *const *kernel_names;
    size_t nkernels;
    const char *filter;
    size_t sample, offset; /* every sample-th living case, from the offset-th */
    int passed, failed, skipped;
    tally *living_by_kind; /* nrun entries */
} suite;

/* Every living case whose name matches, on every kind of its metric, with every kernel
 * implementation (approximate kinds under their exact_params). Returns the number of cases run. */
static size_t run_living_cases(suite *s, const living_case *ls, size_t nl) {
    size_t cases_run = 0;
    char err[1024];
    for (size_t li = 0; li < nl; li++) {
        if (li % s->sample != s->offset) {
            continue;
        }
        const living_case *l = &ls[li];
        if (s->filter != NULL && strstr(l->c.name, s->filter) == NULL) {
            continue;
        }
        cases_run++;
        golden_expected e;
        if (!golden_expected_load(&e, s->m, &l->c, err, sizeof err)) {
            printf("FAIL case=%s: cannot load the expected results: %s\n", l->c.name, err);
            s->failed++;
            continue;
        }
        int exact_runs = 0;
        for (size_t kk = 0; kk < s->nkernels; kk++) {
            if (nearkit_kernels_force(s->kernels[kk]) != NEARKIT_OK) {
                printf("FAIL case=%s: nearkit_kernels_force(%s) failed\n", l->c.name, s->kernel_names[kk]);
                s->failed++;
                continue;
            }
            for (size_t ki = 0; ki < s->nrun; ki++) {
                const nearkit_kind_info *info = &s->kinds[ki].info;
                if (!(info->metric_mask & (1u << (unsigned)l->c.metric))) {
                    continue;
                }
                const golden_approximate *ap = s->kinds[ki].approximate;
                run r = {s->m, &l->c, &s->m->datasets[l->c.dataset], &e, kind_label(&s->kinds[ki]),
                         s->kernel_names[kk], ap ? ap->exact_params : NULL, 0};
                int ran = run_living_on_kind(&r, info, l);
                exact_runs += ap == NULL;
                tally *t = &s->living_by_kind[ki];
                if (r.failures > 0) {
                    s->failed++;
                    t->failed++;
                } else if (ran) {
                    s->passed++;
                    t->passed++;
                } else {
                    s->skipped++;
                    t->skipped++;
                }
            }
        }
        nearkit_kernels_force(NEARKIT_KERNELS_AUTO);
        if (exact_runs == 0) {
            printf("FAIL case=%s: no exact kind supports metric %s\n", l->c.name, l->c.metric_name);
            s->failed++;
        }
        golden_expected_free(&e);
    }
    return cases_run;
}

static void print_living_by_kind(const suite *s) {
    printf("golden: living cases by kind:");
    for (size_t ki = 0; ki < s->nrun; ki++) {
        const tally *t = &s->living_by_kind[ki];
        printf(" %s %d passed, %d failed, %d skipped;", kind_label(&s->kinds[ki]), t->passed, t->failed,
               t->skipped);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--strict") == 0) {
        strict_living = 1;
        argv++;
        argc--;
    }
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: test_golden [--strict] GOLDEN_DIR [CASE_SUBSTRING]\n");
        return 2;
    }
    const char *filter = argc == 3 ? argv[2] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    char err[1024];
    golden_manifest m;
    if (!golden_manifest_load(&m, argv[1], err, sizeof err)) {
        fprintf(stderr, "golden: cannot load the golden datasets: %s\n", err);
        return 2;
    }
    living_case *living = NULL;
    size_t nliving = 0;
    if (!load_living(&living, &nliving, &m, err, sizeof err)) {
        fprintf(stderr, "golden: cannot load the living cases: %s\n", err);
        golden_manifest_free(&m);
        return 2;
    }

    size_t nkinds = nearkit_kind_count();
    kind_run *kinds = calloc(nkinds + m.approximate_count + 1, sizeof *kinds);
    size_t nrun = 0, nexact = 0;
    if (kinds == NULL) {
        fprintf(stderr, "golden: out of memory\n");
        living_free(living, nliving);
        golden_manifest_free(&m);
        return 2;
    }
    printf("golden: nearkit %s; exact kinds:", nearkit_version_string());
    for (size_t i = 0; i < nkinds; i++) {
        nearkit_kind_info info = NEARKIT_KIND_INFO_INIT;
        nearkit_status st = nearkit_kind_get_info(&info, i);
        if (st != NEARKIT_OK) {
            printf("\nFAIL nearkit_kind_get_info(%zu) returned %s (%s)\n", i,
                   nearkit_status_name(st), nearkit_last_error_message());
            free(kinds);
            living_free(living, nliving);
            golden_manifest_free(&m);
            return 1;
        }
        if (info.flags & NEARKIT_KIND_FLAG_EXACT) {
            kinds[nrun++] = (kind_run){info, NULL};
            printf(" %s", info.name ? info.name : "(unnamed)");
        }
    }
    nexact = nrun;
    printf("\ngolden: approximate kinds:");
    int missing = 0;
    for (size_t a = 0; a < m.approximate_count; a++) {
        const golden_approximate *ap = &m.approximate[a];
        size_t i = 0;
        nearkit_kind_info info = NEARKIT_KIND_INFO_INIT;
        for (; i < nkinds; i++) {
            if (nearkit_kind_get_info(&info, i) == NEARKIT_OK && info.name && strcmp(info.name, ap->kind) == 0) {
                break;
            }
        }
        if (i == nkinds) {
            printf("\nFAIL the manifest's approximate entry %s names %s, not a kind of the library", ap->label,
                   ap->kind);
            missing++;
            continue;
        }
        kinds[nrun++] = (kind_run){info, ap};
        printf(" %s (%s; exact under %s, recall under %s)", ap->label, ap->kind, ap->exact_params,
               ap->recall_params);
    }
    printf("\n");

    /* The kernel implementations this CPU can run. The default one only when
     * NEARKIT_GOLDEN_KERNELS=default (ctest's runs: the matrix runs one program per level, and the
     * sanitizers look for faults that do not depend on the level) or when NEARKIT_KERNELS names a
     * level (the matrix cell itself). */
    static const int32_t all_kernels[] = {NEARKIT_KERNELS_SCALAR, NEARKIT_KERNELS_AVX2,
                                          NEARKIT_KERNELS_AVX512};
    const char *only = getenv("NEARKIT_GOLDEN_KERNELS");
    const char *forced = getenv("NEARKIT_KERNELS");
    bool default_only = (only != NULL && strcmp(only, "default") == 0) || (forced != NULL && *forced);
    int32_t kernels[3];
    const char *kernel_names[3];
    size_t nkernels = 0;
    printf("golden: kernels (default %s):", nearkit_kernels_name());
    for (size_t i = 0; i < 3 && !default_only; i++) {
        if (nearkit_kernels_force(all_kernels[i]) == NEARKIT_OK) {
            kernels[nkernels] = all_kernels[i];
            kernel_names[nkernels] = nearkit_kernels_name();
            printf(" %s", kernel_names[nkernels]);
            nkernels++;
        }
    }
    nearkit_kernels_force(NEARKIT_KERNELS_AUTO);
    if (nkernels == 0) {
        kernels[0] = NEARKIT_KERNELS_AUTO;
        kernel_names[0] = nearkit_kernels_name();
        printf(" %s", kernel_names[0]);
        nkernels = 1;
    }
    printf("\n");

    int passed = 0, failed = 0;
    size_t cases_run = 0;
    /* NEARKIT_GOLDEN_SAMPLE=N runs every N-th case and living case, from the R-th where
     * NEARKIT_GOLDEN_SAMPLE_OFFSET=R (the sanitizer and perturbed-sgemm runs in ctest, which would
     * take most of CI's budget over all of them; ctest gives them different offsets, and
     * tests/long_checks.sh runs them all). */
    const char *sample_env = getenv("NEARKIT_GOLDEN_SAMPLE");
    const char *offset_env = getenv("NEARKIT_GOLDEN_SAMPLE_OFFSET");
    size_t sample = sample_env != NULL && atoi(sample_env) > 1 ? (size_t)atoi(sample_env) : 1;
    size_t offset = offset_env != NULL && atoi(offset_env) > 0 ? (size_t)atoi(offset_env) % sample : 0;
    if (sample > 1) {
        printf("golden: every %zu-th case only, from case %zu (NEARKIT_GOLDEN_SAMPLE)\n", sample, offset);
    }
    for (size_t ci = 0; ci < m.case_count; ci++) {
        const golden_case *c = &m.cases[ci];
        if (ci % sample != offset || (filter != NULL && strstr(c->name, filter) == NULL)) {
            continue;
        }
        cases_run++;
        golden_expected e;
        if (!golden_expected_load(&e, &m, c, err, sizeof err)) {
            printf("FAIL case=%s: cannot load the expected results: %s\n", c->name, err);
            failed++;
            continue;
        }
        int runs = 0;
        for (size_t kk = 0; kk < nkernels; kk++) {
            nearkit_status st = nearkit_kernels_force(kernels[kk]);
            if (st != NEARKIT_OK) {
                printf("FAIL case=%s: nearkit_kernels_force(%s) returned %s (%s)\n", c->name,
                       kernel_names[kk], nearkit_status_name(st), nearkit_last_error_message());
                failed++;
                continue;
            }
            for (size_t ki = 0; ki < nrun; ki++) {
                const nearkit_kind_info *info = &kinds[ki].info;
                if (!(info->metric_mask & (1u << (unsigned)c->metric))) {
                    continue;
                }
                const golden_approximate *ap = kinds[ki].approximate;
                run r = {&m, c, &m.datasets[c->dataset], &e, kind_label(&kinds[ki]), kernel_names[kk],
                         ap ? ap->exact_params : NULL, 0};
                run_case_on_kind(&r, info);
                runs += ap == NULL;
                if (r.failures == 0) {
                    passed++;
                } else {
                    failed++;
                }
            }
        }
        nearkit_kernels_force(NEARKIT_KERNELS_AUTO);
        for (size_t ki = nexact; ki < nrun; ki++) {
            const golden_approximate *ap = kinds[ki].approximate;
            double floor = ap->min_recall[c->dataset];
            if (floor < 0 || !(kinds[ki].info.metric_mask & (1u << (unsigned)c->metric))) {
                continue;
            }
            run r = {&m, c, &m.datasets[c->dataset], &e, ap->label, nearkit_kernels_name(),
                     ap->recall_params, 0};
            check_recall(&r, &kinds[ki].info, floor);
            if (r.failures == 0) {
                passed++;
            } else {
                failed++;
            }
        }
        if (runs == 0) {
            printf("FAIL case=%s: no exact kind supports metric %s\n", c->name, c->metric_name);
            failed++;
        }
        golden_expected_free(&e);
    }
    tally *by_kind = calloc(nrun ? nrun : 1, sizeof *by_kind);
    suite s = {&m, kinds, nrun, kernels, kernel_names, nkernels, filter, sample, offset, passed, failed, 0,
               by_kind};
    size_t living_run = 0;
    if (by_kind == NULL) {
        printf("FAIL out of memory\n");
        s.failed++;
    } else {
        living_run = run_living_cases(&s, living, nliving);
        print_living_by_kind(&s);
    }
    free(by_kind);
    passed = s.passed;
    failed = s.failed;
    if (cases_run + living_run == 0) {
        printf("FAIL no case matched\n");
        failed++;
    }
    failed += missing;
    printf("golden: %d passed, %d failed, %d skipped (%zu cases and %zu living cases, %zu exact and "
           "%zu approximate kinds, %zu kernel implementations)\n", passed, failed, s.skipped,
           cases_run, living_run, nexact, nrun - nexact, nkernels);
    free(kinds);
    living_free(living, nliving);
    golden_manifest_free(&m);
    return failed == 0 ? 0 : 1;
}
