/* The inverted file (IVF) family: a coarse quantizer cuts the space into nlist cells, every stored
 * vector sits in the inverted list of its cell, and a query scans the lists of the nprobe cells
 * nearest it. Approximate unless every list is probed (nprobe >= nlist), which gives the flat
 * index's results exactly.
 *
 * One implementation, three parts: the quantizer (ivf_quantizer.c), the list store
 * (ivf_lists.c), and a scanner per code format (ivf_scan_*.c). Two configurations of it are kinds:
 *   - ivf_flat: float vectors kept as they are, for l2, cosine and ip; k-means centroids
 *     (spherical for cosine and ip); rows labelled by their ids; lists saved list by list;
 *   - ivf_binary: packed binary codes under Hamming; binary k-means centroids; rows labelled by
 *     their insertion position (the index maps positions to ids, implicitly until ids are given);
 *     codes saved in insertion order with the list of each.
 * Their parameters, defaults and file layouts are those of format v1 (docs/format.md).
 *
 * Vectors added before training wait in insertion order (a row store) and go to their lists at
 * the training that nearkit_index_train or nearkit_index_build runs. */
#include "search/ivf_lists.h"
#include "codes/ivf_quantizer.h"
#include "codes/ivf_scan.h"
#include "kernels/kernels.h"
#include "search/rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BIVF_TAG NEARKIT_TAG('B', 'I', 'V', 'F')
#define IDS_TAG NEARKIT_TAG('I', 'D', 'S', ' ')

/* ---- the two configurations -------------------------------------------------------------------- */

/* What a parameter sets or reports. */
typedef enum setting {
    S_NLIST,
    S_NPROBE,
    S_TRAIN_SAMPLE,
    S_ITERATIONS,
    S_TRAIN_INIT,
    S_MAX_LIST_SIZE, /* read-only statistics from here on */
    S_EMPTY_LISTS,
    S_LIST_COUNT,
} setting;

typedef struct ivf_config {
    const char *name;
    const nearkit_ivf_scanner *scanner;
    bool binary;               /* binary quantizer, rows labelled by position, saved by position */
    bool nlist_becomes_trained; /* the nlist parameter reports the trained number once trained */
    uint32_t max_nlist;
    uint64_t max_count;        /* rows an index holds at most */
    uint32_t default_nprobe, default_iterations;
    const nearkit_param_desc *params;
    const setting *settings;   /* what each parameter is */
} ivf_config;

#define FLAT_MAX_NLIST (1u << 22)
#define BINARY_MAX_NLIST (1u << 20)
#define BINARY_MAX_COUNT 0xFFFFFFFFull /* positions are 32-bit */
#define BINARY_SAMPLE_PER_LIST 128     /* automatic training sample: this many codes per list ... */
#define BINARY_MIN_AUTO_SAMPLE 16384   /* ... but at least this many */

#define BUILD_INT (NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER)
#define STAT_INT (NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER)
#define PARAM(n, f, lo, hi, def, text) \
    {.name = n, .flags = f, .min = lo, .max = hi, .default_value = def, .description = text}

static const nearkit_param_desc flat_params[] = {
    PARAM("nlist", BUILD_INT, 0, FLAT_MAX_NLIST, 0,
         "number of lists (k-means cells); 0 chooses about sqrt(n) at training, never more than n"),
    PARAM("nprobe", NEARKIT_PARAM_FLAG_INTEGER, 1, FLAT_MAX_NLIST, 10,
         "lists scanned per query; nprobe >= nlist scans every list and is exact"),
    PARAM("train_sample", BUILD_INT, 0, 9007199254740992.0, 0,
         "vectors k-means trains on (a seeded random sample); 0 takes 256 per list"),
    PARAM("train_iterations", BUILD_INT, 1, 1000, NEARKIT_KMEANS_DEFAULT_ITERATIONS,
         "k-means iterations at most (fewer once the assignments settle)"),
    PARAM("train_init", BUILD_INT, 0, 1, 0, "k-means initialisation: 0 random sample points, 1 k-means++"),
    PARAM("max_list_size", STAT_INT, 0, 0, 0, "vectors in the largest list (0 before training)"),
    PARAM("empty_lists", STAT_INT, 0, 0, 0, "lists holding no vector (0 before training)"),
};
static const setting flat_settings[] = {S_NLIST,      S_NPROBE,        S_TRAIN_SAMPLE, S_ITERATIONS,
                                        S_TRAIN_INIT, S_MAX_LIST_SIZE, S_EMPTY_LISTS};

static const nearkit_param_desc binary_params[] = {
    PARAM("nlist", BUILD_INT, 0, BINARY_MAX_NLIST, 0,
         "number of lists; 0 chooses about sqrt(n) for n training codes, never more than n"),
    PARAM("nprobe", NEARKIT_PARAM_FLAG_INTEGER, 1, BINARY_MAX_NLIST, 8,
         "lists scanned per query; nprobe >= nlist scans every list and is exact"),
    PARAM("train_size", BUILD_INT, 0, 4294967295.0, 0,
         "codes binary k-means trains on, sampled; 0 takes 128 per list, at least 16384"),
    PARAM("iterations", BUILD_INT, 1, 1000, 15,
         "binary k-means rounds at most; stops once at most one code in 1000 changes list"),
    PARAM("list_count", STAT_INT, 0, BINARY_MAX_NLIST, 0, "lists of the trained index (0 before training)"),
};
static const setting binary_settings[] = {S_NLIST, S_NPROBE, S_TRAIN_SAMPLE, S_ITERATIONS, S_LIST_COUNT};

static const ivf_config flat_config = {
    .name = "ivf_flat",
    .scanner = &nearkit_ivf_scan_float,
    .nlist_becomes_trained = true,
    .max_nlist = FLAT_MAX_NLIST,
    .max_count = UINT64_MAX,
    .default_nprobe = 10,
    .default_iterations = NEARKIT_KMEANS_DEFAULT_ITERATIONS,
    .params = flat_params,
    .settings = flat_settings,
};

static const ivf_config binary_config = {
    .name = "ivf_binary",
    .scanner = &nearkit_ivf_scan_binary,
    .binary = true,
    .max_nlist = BINARY_MAX_NLIST,
    .max_count = BINARY_MAX_COUNT,
    .default_nprobe = 8,
    .default_iterations = 15,
    .params = binary_params,
    .settings = binary_settings,
};

/* ---- the index --------------------------------------------------------------------------------- */

typedef struct ivf_impl {
    const ivf_config *config;
    /* settings */
    uint32_t nlist;          /* requested (0 = automatic); see nlist_becomes_trained */
    uint32_t nprobe;
    uint64_t train_sample;   /* 0 = automatic */
    uint32_t iterations;
    uint32_t train_init;     /* 0: random sample, 1: k-means++ (float) */

    nearkit_rows pending;    /* rows added before training, in insertion order */

    /* the trained index (quantizer.nlist > 0) */
    nearkit_ivf_quantizer quantizer;
    nearkit_ivf_lists lists;
    float max_sqnorm;        /* float: the largest squared norm of a stored row (sgemm bound) */
    int64_t *position_ids;   /* binary: the id of each position; NULL while every id is its position */
    uint64_t position_ids_capacity;
} ivf_impl;

static ivf_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

static bool is_trained(const ivf_impl *v) { return v->quantizer.nlist > 0; }

static nearkit_status ivf_create(nearkit_index *ix, const ivf_config *config) {
    ivf_impl *v = calloc(1, sizeof *v);
    if (!v) return nearkit_oom();
    *v = (ivf_impl){.config = config, .nprobe = config->default_nprobe,
                    .iterations = config->default_iterations,
                    .quantizer = {.binary = config->binary}};
    ix->impl = v;
    /* ivf_flat always stored the ids of waiting vectors */
    return config->binary ? NEARKIT_OK : nearkit_rows_explicit_ids(&v->pending);
}

static nearkit_status flat_create(nearkit_index *ix) { return ivf_create(ix, &flat_config); }
static nearkit_status binary_create(nearkit_index *ix) { return ivf_create(ix, &binary_config); }

/* Back to untrained: no quantizer, no lists. */
static void drop_trained(ivf_impl *v) {
    nearkit_ivf_quantizer_free(&v->quantizer);
    nearkit_ivf_lists_free(&v->lists);
    free(v->position_ids);
    v->position_ids = NULL;
    v->position_ids_capacity = 0;
    v->max_sqnorm = 0.0f;
}

static void ivf_destroy(nearkit_index *ix) {
    ivf_impl *v = impl_of(ix);
    if (!v) return;
    drop_trained(v);
    nearkit_rows_free(&v->pending);
    free(v);
}

static bool ivf_is_ready(const nearkit_index *ix) { return is_trained(impl_of(ix)); }

static uint64_t ivf_count(const nearkit_index *ix) {
    const ivf_impl *v = impl_of(ix);
    return is_trained(v) ? v->lists.count : v->pending.count;
}

static uint64_t ivf_memory(const nearkit_index *ix) {
    const ivf_impl *v = impl_of(ix);
    return sizeof *v + nearkit_rows_memory(&v->pending, ix) + nearkit_ivf_quantizer_memory(&v->quantizer, ix) +
           nearkit_ivf_lists_memory(&v->lists) + v->position_ids_capacity * sizeof(int64_t);
}

/* ---- filing rows into lists -------------------------------------------------------------------- */

/* Keeps the ids of positions [count, count + n) (binary): explicit ones, or the positions once
 * any id was explicit. */
static nearkit_status store_position_ids(ivf_impl *v, const int64_t *ids, uint64_t n) {
    if (!ids && !v->position_ids) return NEARKIT_OK;
    uint64_t count = v->lists.count, needed = count + n;
    if (needed > v->position_ids_capacity) {
        uint64_t cap = v->position_ids_capacity + v->position_ids_capacity / 2;
        if (cap < needed) cap = needed;
        int64_t *grown = nearkit_alloc_array((size_t)cap, sizeof *grown);
        if (!grown) return nearkit_oom();
        for (uint64_t i = 0; i < count; i++) grown[i] = v->position_ids ? v->position_ids[i] : (int64_t)i;
        free(v->position_ids);
        v->position_ids = grown;
        v->position_ids_capacity = cap;
    }
    for (uint64_t i = 0; i < n; i++) v->position_ids[count + i] = ids ? ids[i] : (int64_t)(count + i);
    return NEARKIT_OK;
}

/* The squared norm of each of n float vectors into norms, the largest into *max. */
static void float_norms(float *norms, float *max, const nearkit_index *ix, const float *x, uint64_t n) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t d = ix->dimension;
    for (uint64_t i = 0; i < n; i++) {
        norms[i] = kt->dot(x + i * d, x + i * d, d);
        if (norms[i] > *max) *max = norms[i];
    }
}

/* Appends n rows to the lists of their nearest centroids, labelled by ids (ivf_flat; NULL: their
 * insertion positions) or by their positions (ivf_binary). */
static nearkit_status file_rows(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids,
                                bool exact) {
    ivf_impl *v = impl_of(ix);
    bool binary = v->config->binary;
    uint32_t *assign = nearkit_alloc_array((size_t)n, sizeof *assign);
    float *norms = binary ? NULL : nearkit_alloc_array((size_t)n, sizeof *norms);
    nearkit_status st = assign && (binary || norms) ? NEARKIT_OK : nearkit_oom();
    if (!st) st = nearkit_ivf_quantizer_assign(&v->quantizer, ix, assign, vectors, n);
    float max = v->max_sqnorm;
    if (!st && norms) float_norms(norms, &max, ix, vectors, n);
    if (!st)
        st = nearkit_ivf_lists_add(&v->lists, assign, vectors, n, binary ? NULL : ids, v->lists.count,
                                   norms, exact);
    if (!st) v->max_sqnorm = max;
    free(assign);
    free(norms);
    return st;
}

/* ---- training ---------------------------------------------------------------------------------- */

static uint64_t binary_sample(const ivf_impl *v, uint32_t nlist) {
    if (v->train_sample) return v->train_sample > nlist ? v->train_sample : nlist;
    uint64_t s = (uint64_t)nlist * BINARY_SAMPLE_PER_LIST;
    return s > BINARY_MIN_AUTO_SAMPLE ? s : BINARY_MIN_AUTO_SAMPLE;
}

/* Trains the quantizer on n vectors: nlist as set (automatic: about sqrt(n)), at most n. */
static nearkit_status train_quantizer(nearkit_index *ix, const void *x, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    uint32_t nlist = v->nlist ? v->nlist : nearkit_ivf_automatic_nlist(n, v->config->max_nlist);
    if (nlist > n) nlist = (uint32_t)n;
    if (nlist < 1) nlist = 1;
    if (v->config->binary)
        return nearkit_ivf_quantizer_train_binary(&v->quantizer, ix, nlist, x, n, binary_sample(v, nlist),
                                                  v->iterations);
    nearkit_kmeans_config cfg = {
        .k = nlist,
        .iterations = v->iterations,
        .max_sample = v->train_sample,
        .seed = ix->seed,
        .spherical = ix->metric != NEARKIT_METRIC_L2,
        .plusplus = v->train_init == 1,
        .threads = nearkit_resolve_threads(ix->num_threads),
    };
    return nearkit_ivf_quantizer_train_float(&v->quantizer, ix, &cfg, x, n);
}

static nearkit_status init_lists(nearkit_index *ix, uint32_t nlist) {
    ivf_impl *v = impl_of(ix);
    bool binary = v->config->binary;
    return nearkit_ivf_lists_init(&v->lists, nlist, (size_t)ix->vector_bytes,
                                  binary ? NEARKIT_IVF_POSITIONS : NEARKIT_IVF_IDS,
                                  !binary && ix->metric == NEARKIT_METRIC_L2);
}

/* Trains on x (or, when x is NULL, on the waiting rows) and files the waiting rows. On failure
 * the index is left untrained as it was. */
static nearkit_status train_and_index(nearkit_index *ix, const void *x, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    nearkit_rows *pending = &v->pending;
    nearkit_status st = train_quantizer(ix, x ? x : pending->vectors, x ? n : pending->count);
    if (!st) st = init_lists(ix, v->quantizer.nlist);
    if (!st) st = file_rows(ix, pending->vectors, pending->count, pending->ids, true);
    if (st) {
        drop_trained(v);
        return st;
    }
    if (v->config->binary) { /* the pending ids become the ids of the positions */
        v->position_ids = pending->ids;
        v->position_ids_capacity = pending->ids ? pending->capacity : 0;
        pending->ids = NULL;
    }
    nearkit_rows_free(pending);
    if (v->config->nlist_becomes_trained) v->nlist = v->quantizer.nlist;
    return NEARKIT_OK;
}

static nearkit_status ivf_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    ivf_impl *v = impl_of(ix);
    if (n > v->config->max_count - ivf_count(ix))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "the %s index holds at most %llu codes",
                                 v->config->name, (unsigned long long)v->config->max_count);
    if (!is_trained(v)) return nearkit_rows_append(&v->pending, ix, vectors, n, ids);
    if (v->config->binary) {
        nearkit_status st = store_position_ids(v, ids, n); /* ids past count are ignored should filing fail */
        return st ? st : file_rows(ix, vectors, n, NULL, false);
    }
    return file_rows(ix, vectors, n, ids, false);
}

static nearkit_status ivf_train(nearkit_index *ix, const void *vectors, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    if (is_trained(v))
        return nearkit_set_error(NEARKIT_ERR_STATE, "the %s index is already trained", v->config->name);
    return train_and_index(ix, vectors, n);
}

static nearkit_status ivf_build(nearkit_index *ix) {
    ivf_impl *v = impl_of(ix);
    if (is_trained(v)) return NEARKIT_OK;
    if (v->pending.count == 0)
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "the %s index has nothing to train on: add vectors (or call train) "
                                 "before build",
                                 v->config->name);
    return train_and_index(ix, NULL, 0);
}

/* ---- searching --------------------------------------------------------------------------------- */

/* A setting's value for this call (its parameter's slot in c->settings). */
static double call_setting(const nearkit_search_call *c, setting which) {
    const ivf_config *config = impl_of(c->ix)->config;
    for (size_t i = 0;; i++)
        if (config->settings[i] == which) return c->settings[i];
}

/* The call's plan: the view of the index its scanner reads, with this call's nprobe. */
static bool ivf_plan(nearkit_search_call *c, void *plan) {
    const ivf_impl *v = impl_of(c->ix);
    uint32_t nlist = v->quantizer.nlist, nprobe = (uint32_t)call_setting(c, S_NPROBE);
    *(nearkit_ivf_view *)plan = (nearkit_ivf_view){
        .quantizer = &v->quantizer, .lists = &v->lists, .nprobe = nprobe < nlist ? nprobe : nlist,
        .position_ids = v->position_ids, .max_sqnorm = v->max_sqnorm};
    c->chunk = nearkit_default_chunk(c->n, c->threads, v->config->scanner->max_chunk);
    return true;
}

/* Batches the scanner answers at once (the float scanner's GEMM path). */
static bool ivf_knn_whole(const nearkit_search_call *c, nearkit_status *status) {
    const nearkit_ivf_scanner *scanner = impl_of(c->ix)->config->scanner;
    if (!scanner->knn_batch || !scanner->batch_applies(c->ix, c->n)) return false;
    *status = scanner->knn_batch(c, c->threads);
    return true;
}

/* One worker's scratch: choosing lists, and the scanner's. */
typedef struct ivf_scratch {
    nearkit_ivf_probe probe;
    const nearkit_ivf_scanner *scanner;
    void *scan;
} ivf_scratch;

static void ivf_scratch_free(void *scratch) {
    ivf_scratch *s = scratch;
    if (!s) return;
    nearkit_ivf_probe_free(&s->probe);
    if (s->scan) s->scanner->scratch_free(s->scan);
    free(s);
}

static void *ivf_scratch_new(const nearkit_search_call *c) {
    const ivf_impl *v = impl_of(c->ix);
    ivf_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->scanner = v->config->scanner;
    bool ok = nearkit_ivf_probe_init(&s->probe, &v->quantizer, c->ix);
    s->scan = s->scanner->scratch_new(c);
    if (ok && s->scan) return s;
    ivf_scratch_free(s);
    return NULL;
}

static bool ivf_knn(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    ivf_scratch *s = scratch;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    for (uint64_t q = first; q < first + n; q++) {
        const void *query = nearkit_query_at(c, q);
        uint32_t probes = nearkit_ivf_probe_query(&s->probe, view->quantizer, c->ix, query, view->nprobe);
        s->scanner->knn_begin(s->scan);
        for (uint32_t p = 0; p < probes; p++)
            s->scanner->knn_scan(s->scan, c, query, &view->lists->list[s->probe.probes[p]]);
        s->scanner->knn_finish(s->scan, c, q);
    }
    return true;
}

static bool ivf_range(void *scratch, const nearkit_search_call *c, uint64_t q) {
    ivf_scratch *s = scratch;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const void *query = nearkit_query_at(c, q);
    uint32_t probes = nearkit_ivf_probe_query(&s->probe, view->quantizer, c->ix, query, view->nprobe);
    for (uint32_t p = 0; p < probes; p++)
        if (!s->scanner->range_scan(s->scan, c, q, query, &view->lists->list[s->probe.probes[p]]))
            return false;
    return true;
}

static const nearkit_searcher ivf_searcher = {
    .plan_size = sizeof(nearkit_ivf_view),
    .plan = ivf_plan,
    .knn_whole = ivf_knn_whole,
    .scratch_new = ivf_scratch_new,
    .scratch_free = ivf_scratch_free,
    .knn = ivf_knn,
    .range = ivf_range,
};


/* ---- parameters -------------------------------------------------------------------------------- */

static nearkit_status ivf_get_param(const nearkit_index *ix, size_t i, double *value) {
    const ivf_impl *v = impl_of(ix);
    switch (v->config->settings[i]) {
    case S_NLIST: *value = v->nlist; break;
    case S_NPROBE: *value = v->nprobe; break;
    case S_TRAIN_SAMPLE: *value = (double)v->train_sample; break;
    case S_ITERATIONS: *value = v->iterations; break;
    case S_TRAIN_INIT: *value = v->train_init; break;
    case S_MAX_LIST_SIZE: *value = (double)nearkit_ivf_lists_max_size(&v->lists); break;
    case S_EMPTY_LISTS: *value = nearkit_ivf_lists_empty(&v->lists); break;
    case S_LIST_COUNT: *value = v->quantizer.nlist; break;
    }
    return NEARKIT_OK;
}

static nearkit_status ivf_set_param(nearkit_index *ix, size_t i, double value) {
    ivf_impl *v = impl_of(ix);
    const nearkit_param_desc *p = &v->config->params[i];
    /* the generic layer refuses build parameters once vectors exist; training alone counts too */
    if ((p->flags & NEARKIT_PARAM_FLAG_BUILD) && is_trained(v))
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "parameter '%s' can only be set before the index is trained", p->name);
    switch (v->config->settings[i]) {
    case S_NLIST: v->nlist = (uint32_t)value; break;
    case S_NPROBE: v->nprobe = (uint32_t)value; break;
    case S_TRAIN_SAMPLE: v->train_sample = (uint64_t)value; break;
    case S_ITERATIONS: v->iterations = (uint32_t)value; break;
    case S_TRAIN_INIT: v->train_init = (uint32_t)value; break;
    default:
        return nearkit_set_error(NEARKIT_ERR_INTERNAL, "%s: parameter '%s' is read-only",
                                 v->config->name, p->name);
    }
    return NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

static nearkit_status corrupt(const char *what) {
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %s", what);
}

/* ivf_flat, untrained: the waiting rows (VECS, IDS). Trained: CENT, then LOFF, VECS, IDS. */
static nearkit_status save_flat(const nearkit_index *ix, nearkit_writer *w) {
    const ivf_impl *v = impl_of(ix);
    if (!is_trained(v)) return nearkit_rows_save(&v->pending, ix, w);
    nearkit_status st = nearkit_ivf_quantizer_save(&v->quantizer, ix, w);
    return st ? st : nearkit_ivf_lists_save_by_list(&v->lists, w);
}

/* The trained lists of ivf_flat from a file: CENT holds the nlist the parameters gave. */
static nearkit_status load_flat_lists(nearkit_index *ix, const nearkit_reader *r) {
    ivf_impl *v = impl_of(ix);
    nearkit_rows stored = {0};
    float *norms = NULL;
    nearkit_status st = nearkit_ivf_quantizer_load(&v->quantizer, ix, r, v->nlist);
    if (!st) st = nearkit_rows_load(&stored, ix, r, true);
    if (!st) st = init_lists(ix, v->quantizer.nlist);
    if (!st && !(norms = nearkit_alloc_array((size_t)stored.count, sizeof *norms))) st = nearkit_oom();
    if (!st) {
        float_norms(norms, &v->max_sqnorm, ix, (const float *)stored.vectors, stored.count);
        st = nearkit_ivf_lists_load_by_list(&v->lists, r, stored.vectors, stored.ids, norms, stored.count);
    }
    free(norms);
    nearkit_rows_free(&stored);
    return st; /* on failure the caller frees the index, and with it what was made */
}

static nearkit_status load_flat(nearkit_index *ix, const nearkit_reader *r) {
    const void *data;
    uint64_t size;
    bool trained = nearkit_reader_section(&data, &size, r, NEARKIT_TAG('C', 'E', 'N', 'T')) == NEARKIT_OK;
    nearkit_clear_error();
    if (trained) return load_flat_lists(ix, r);
    return nearkit_rows_load(&impl_of(ix)->pending, ix, r, true);
}

/* ivf_binary: BIVF (u32 lists, 0 untrained; u32 reserved 0), BCEN, then untrained the waiting
 * codes (VECS, IDS if explicit), trained VECS and BASN in insertion order, IDS if explicit. */
static nearkit_status save_binary(const nearkit_index *ix, nearkit_writer *w) {
    const ivf_impl *v = impl_of(ix);
    uint32_t meta[2] = {v->quantizer.nlist, 0};
    nearkit_status st = nearkit_writer_section(w, BIVF_TAG, meta, sizeof meta);
    if (!st) st = nearkit_ivf_quantizer_save(&v->quantizer, ix, w);
    if (st || !is_trained(v)) return st ? st : nearkit_rows_save(&v->pending, ix, w);
    st = nearkit_ivf_lists_save_by_position(&v->lists, w);
    if (!st && v->position_ids)
        st = nearkit_writer_section(w, IDS_TAG, v->position_ids, v->lists.count * sizeof(int64_t));
    return st;
}

static nearkit_status load_binary(nearkit_index *ix, const nearkit_reader *r) {
    ivf_impl *v = impl_of(ix);
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, BIVF_TAG, 8);
    if (st) return st;
    uint32_t meta[2];
    memcpy(meta, data, sizeof meta);
    if (meta[1] != 0) return corrupt("ivf_binary header: reserved field is not 0");
    if (meta[0] > BINARY_MAX_NLIST) return corrupt("ivf_binary header: too many lists");
    st = nearkit_ivf_quantizer_load(&v->quantizer, ix, r, meta[0]);
    if (st) return st;
    nearkit_rows stored = {0};
    st = nearkit_rows_load(&stored, ix, r, false);
    if (!st && stored.count > BINARY_MAX_COUNT) st = corrupt("more codes than an ivf_binary index holds");
    if (!st && !is_trained(v)) { /* the codes wait for training */
        nearkit_rows_free(&v->pending);
        v->pending = stored;
        return NEARKIT_OK;
    }
    if (!st) st = init_lists(ix, v->quantizer.nlist);
    if (!st) st = nearkit_ivf_lists_load_by_position(&v->lists, r, stored.vectors, stored.count);
    if (!st && stored.ids) {
        v->position_ids = stored.ids;
        v->position_ids_capacity = stored.capacity;
        stored.ids = NULL;
    }
    nearkit_rows_free(&stored);
    return st;
}

static nearkit_status ivf_save(const nearkit_index *ix, nearkit_writer *w) {
    return impl_of(ix)->config->binary ? save_binary(ix, w) : save_flat(ix, w);
}

static nearkit_status ivf_load(nearkit_index *ix, const nearkit_reader *r) {
    return impl_of(ix)->config->binary ? load_binary(ix, r) : load_flat(ix, r);
}

/* ---- description ------------------------------------------------------------------------------- */

static void describe_flat(const nearkit_index *ix, nearkit_strbuf *sb) {
    const ivf_impl *v = impl_of(ix);
    if (!is_trained(v)) {
        nearkit_strbuf_appendf(sb, "inverted file, not trained: %llu vectors wait for build or train\n",
                               (unsigned long long)v->pending.count);
        return;
    }
    uint32_t nlist = v->quantizer.nlist;
    nearkit_strbuf_appendf(sb,
                           "inverted file of %u lists (%s k-means), probing %u per query; list "
                           "sizes: mean %.1f, max %llu, %llu empty\n",
                           nlist, ix->metric == NEARKIT_METRIC_L2 ? "Euclidean" : "spherical",
                           v->nprobe < nlist ? v->nprobe : nlist, (double)v->lists.count / nlist,
                           (unsigned long long)nearkit_ivf_lists_max_size(&v->lists),
                           (unsigned long long)nearkit_ivf_lists_empty(&v->lists));
    nearkit_strbuf_appendf(sb, "distance kernels: %s%s\n", nearkit_kernels()->name,
                           v->config->scanner->batch_applies(ix, UINT64_MAX)
                               ? "; batches of 8+ queries grouped by list via sgemm"
                               : "");
}

static void describe_binary(const nearkit_index *ix, nearkit_strbuf *sb) {
    const ivf_impl *v = impl_of(ix);
    if (!is_trained(v)) {
        nearkit_strbuf_appendf(sb, "inverted file over binary codes; not trained (call build or "
                                   "train)\n");
        return;
    }
    uint32_t nlist = v->quantizer.nlist, probed = v->nprobe < nlist ? v->nprobe : nlist;
    uint64_t smallest = UINT64_MAX;
    for (uint32_t l = 0; l < nlist; l++)
        if (v->lists.list[l].size < smallest) smallest = v->lists.list[l].size;
    nearkit_strbuf_appendf(sb,
                           "inverted file over binary codes: %u lists (sizes %llu..%llu, mean %.1f, %u "
                           "empty), %u probed per query%s; distance kernels: %s\n",
                           nlist, (unsigned long long)smallest,
                           (unsigned long long)nearkit_ivf_lists_max_size(&v->lists),
                           (double)v->lists.count / nlist, nearkit_ivf_lists_empty(&v->lists), probed,
                           probed == nlist ? " (exact)" : "", nearkit_kernels()->name);
}

static void ivf_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    if (impl_of(ix)->config->binary)
        describe_binary(ix, sb);
    else
        describe_flat(ix, sb);
}

/* ---- the two kinds ----------------------------------------------------------------------------- */

#define IVF_OPS                           \
    .destroy = ivf_destroy,               \
    .add = ivf_add,                       \
    .train = ivf_train,                   \
    .build = ivf_build,                   \
    .is_ready = ivf_is_ready,             \
    .count = ivf_count,                   \
    .memory = ivf_memory,                 \
    .knn_searcher = &ivf_searcher,        \
    .range_searcher = &ivf_searcher,      \
    .get_param = ivf_get_param,           \
    .set_param = ivf_set_param,           \
    .save = ivf_save,                     \
    .load = ivf_load,                     \
    .describe = ivf_describe

const nearkit_index_ops nearkit_ivf_flat_ops = {
    .kind = NEARKIT_KIND_IVF_FLAT,
    .name = "ivf_flat",
    .description = "inverted file of k-means cells, vectors kept exact (approximate: nprobe of "
                   "nlist cells searched); l2, cosine, ip",
    .flags = NEARKIT_KIND_FLAG_NEEDS_TRAINING,
    .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_IP),
    .params = flat_params,
    .n_params = sizeof flat_params / sizeof flat_params[0],
    .create = flat_create,
    IVF_OPS,
};

const nearkit_index_ops nearkit_ivf_binary_ops = {
    .kind = NEARKIT_KIND_IVF_BINARY,
    .name = "ivf_binary",
    .description = "inverted file over binary codes (binary k-means lists): approximate Hamming "
                   "k-NN tuned by nprobe",
    .flags = NEARKIT_KIND_FLAG_NEEDS_TRAINING,
    .metric_mask = 1u << NEARKIT_METRIC_HAMMING,
    .params = binary_params,
    .n_params = sizeof binary_params / sizeof binary_params[0],
    .create = binary_create,
    IVF_OPS,
};
