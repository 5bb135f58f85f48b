/* The target-recall tuner (nearkit_index_tune): the cheapest value of an approximate kind's runtime
 * parameter that reaches a recall@k on a sample of queries, measured against the exact neighbours
 * of the index's own vectors.
 *
 * Built only on the public functions, as a user could: the stored vectors are read back
 * (each_id + nearkit_index_get) into a temporary flat index whose search is the truth (no second
 * brute force), every value is tried per call through nearkit_search_options.params (the index's
 * own value changes once, at the end, through nearkit_index_set_param), so concurrent searches
 * never see a value under trial. Where the kind has a finer setting under the tuned one
 * (NEARKIT_PARAM_FLAG_RECALL_FINE: the IVF kinds' max_codes), it is bisected with the value
 * found kept, when that value jumps past the target (see tune_finer). */
#include "base/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the tunable parameters --------------------------------------------------------------------- */

/* The index's tunable parameter: the kind's one runtime setting flagged NEARKIT_PARAM_FLAG_RECALL
 * (nprobe, ef_search, search_k); *starts_at_k when values below k are pointless (FROM_K). */
static const nearkit_param_desc *find_tunable(bool *starts_at_k, const nearkit_index *ix) {
    for (size_t i = 0; i < ix->ops->n_params; i++) {
        const nearkit_param_desc *p = &ix->ops->params[i];
        if (!(p->flags & NEARKIT_PARAM_FLAG_RECALL)) continue;
        *starts_at_k = (p->flags & NEARKIT_PARAM_FLAG_FROM_K) != 0;
        return p;
    }
    return NULL;
}

/* The finer setting under the tunable one (NEARKIT_PARAM_FLAG_RECALL_FINE), where the kind has one;
 * its 0 means no limit. */
static const nearkit_param_desc *find_finer(const nearkit_index *ix) {
    for (size_t i = 0; i < ix->ops->n_params; i++)
        if (ix->ops->params[i].flags & NEARKIT_PARAM_FLAG_RECALL_FINE) return &ix->ops->params[i];
    return NULL;
}

/* ---- options and result ------------------------------------------------------------------------- */

NEARKIT_API nearkit_status nearkit_tune_options_init(nearkit_tune_options *options) {
    nearkit_clear_error();
    if (!options) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "tune options are NULL");
    *options = (nearkit_tune_options)NEARKIT_TUNE_OPTIONS_INIT;
    return NEARKIT_OK;
}

/* The caller's options as this library's struct (fields past its struct_size keep their
 * defaults), checked. */
static nearkit_status read_tune_options(nearkit_tune_options *out, const nearkit_tune_options *o) {
    *out = (nearkit_tune_options)NEARKIT_TUNE_OPTIONS_INIT;
    if (o) {
        if (o->struct_size < sizeof(uint32_t))
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "tune options struct_size is too small");
        memcpy(out, o, o->struct_size < sizeof *out ? o->struct_size : sizeof *out);
    }
    if (out->k == 0) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "tune: k must be at least 1");
    if (!(out->target_recall > 0 && out->target_recall <= 1))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "tune: target_recall must lie in (0, 1], got %g", out->target_recall);
    if (!(out->max_value >= 0) || !(out->max_seconds >= 0))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "tune: max_value and max_seconds must be >= 0 (0: no limit)");
    return NEARKIT_OK;
}

/* Copies r into the caller's result up to its struct_size. */
static void write_result(nearkit_tune_result *out, nearkit_tune_result r) {
    r.struct_size = out->struct_size;
    memcpy(out, &r, out->struct_size < sizeof r ? out->struct_size : sizeof r);
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- the truth ---------------------------------------------------------------------------------- */

typedef struct id_list {
    int64_t *ids;
    uint64_t n, cap;
    bool failed;
} id_list;

static bool append_id(void *ctx, int64_t id) {
    id_list *l = ctx;
    if (l->n == l->cap) {
        uint64_t cap = l->cap ? 2 * l->cap : 1024;
        int64_t *grown = cap <= SIZE_MAX / sizeof *grown ? realloc(l->ids, (size_t)cap * sizeof *grown) : NULL;
        if (!grown) {
            l->failed = true;
            return false;
        }
        l->ids = grown;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return true;
}

/* The ids of every stored vector, as one reader. */
static nearkit_status stored_ids(id_list *out, const nearkit_index *ix) {
    *out = (id_list){0};
    nearkit_index_lock_read(ix);
    ix->ops->each_id(ix, append_id, out);
    nearkit_index_unlock(ix);
    if (!out->failed) return NEARKIT_OK;
    free(out->ids);
    *out = (id_list){0};
    return nearkit_oom();
}

/* A flat index holding a copy of ix's stored vectors under their ids (those removed between
 * listing and reading them back are left out). */
static nearkit_status copy_as_flat(nearkit_index **out, const nearkit_index *ix, uint32_t threads) {
    *out = NULL;
    id_list l;
    nearkit_status st = stored_ids(&l, ix);
    if (st) return st;
    size_t bytes = (size_t)ix->vector_bytes;
    uint8_t *rows = l.n ? nearkit_alloc_array((size_t)l.n, bytes) : NULL;
    uint8_t *found = l.n ? nearkit_alloc_array((size_t)l.n, 1) : NULL;
    if (l.n && (!rows || !found)) st = nearkit_oom();
    if (!st && l.n) st = nearkit_index_get(rows, found, ix, l.ids, l.n);
    uint64_t kept = 0;
    for (uint64_t i = 0; !st && i < l.n; i++) { /* keep the rows still stored, in order */
        if (!found[i]) continue;
        if (kept != i) memcpy(rows + kept * bytes, rows + i * bytes, bytes);
        l.ids[kept++] = l.ids[i];
    }
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = threads;
    if (!st) st = nearkit_index_create(out, NEARKIT_KIND_FLAT, ix->metric, ix->dimension, &o);
    if (!st) st = nearkit_index_add(*out, ix->vector_type, rows, kept, l.ids);
    if (st) {
        nearkit_index_free(*out);
        *out = NULL;
    }
    free(rows);
    free(found);
    free(l.ids);
    return st;
}

/* The exact k nearest stored vectors of each query: rows of k ids and distances (k <= count). */
typedef struct truth {
    int64_t *ids;
    float *dist;
    int64_t *sorted_ids; /* each row's ids in increasing order, for lookups */
    uint64_t n, k;
} truth;

static void free_truth(truth *t) {
    free(t->ids);
    free(t->dist);
    free(t->sorted_ids);
}

static int compare_ids(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static nearkit_status exact_neighbours(truth *t, const nearkit_index *ix, nearkit_vector_type type,
                                       const void *queries, uint64_t n, uint64_t k, uint32_t threads) {
    *t = (truth){.n = n, .k = k};
    nearkit_index *flat;
    nearkit_status st = copy_as_flat(&flat, ix, threads);
    if (st) return st;
    t->ids = nearkit_alloc_array((size_t)(n * k), sizeof *t->ids);
    t->dist = nearkit_alloc_array((size_t)(n * k), sizeof *t->dist);
    t->sorted_ids = nearkit_alloc_array((size_t)(n * k), sizeof *t->sorted_ids);
    if (!t->ids || !t->dist || !t->sorted_ids) st = nearkit_oom();
    if (!st) st = nearkit_index_search(t->ids, t->dist, flat, type, queries, n, k, NULL);
    nearkit_index_free(flat);
    if (st) {
        free_truth(t);
        return st;
    }
    memcpy(t->sorted_ids, t->ids, (size_t)(n * k) * sizeof *t->ids);
    for (uint64_t q = 0; q < n; q++) qsort(t->sorted_ids + q * k, (size_t)k, sizeof *t->ids, compare_ids);
    return NEARKIT_OK;
}

/* recall@k of result rows (n rows of t->k) against the truth. A returned id that is not a true
 * neighbour still counts when its distance ties the k-th true one: which of several equally near
 * vectors fill the last places is arbitrary (the golden manifest's rule). The relative 1e-5
 * absorbs the rounding between kernels and kinds of one distance. */
static double recall_of(const truth *t, const int64_t *ids, const float *dist) {
    uint64_t k = t->k, hits = 0, wanted = 0;
    for (uint64_t q = 0; q < t->n; q++) {
        const int64_t *row = ids + q * k, *true_row = t->sorted_ids + q * k;
        float kth = t->dist[q * k + k - 1], tie = kth - 1e-5f * fabsf(kth);
        uint64_t row_hits = 0, row_wanted = 0;
        for (uint64_t j = 0; j < k; j++) row_wanted += t->ids[q * k + j] != -1;
        for (uint64_t j = 0; j < k; j++) {
            if (row[j] == -1) continue;
            bool known = bsearch(&row[j], true_row, (size_t)k, sizeof *true_row, compare_ids) != NULL;
            bool ties = dist[q * k + j] >= tie && dist[q * k + j] <= kth + 1e-5f * fabsf(kth);
            if (known || ties) row_hits++;
        }
        hits += row_hits < row_wanted ? row_hits : row_wanted;
        wanted += row_wanted;
    }
    return wanted ? (double)hits / (double)wanted : 1.0;
}

/* ---- measuring and searching values --------------------------------------------------------------- */

/* One tuning run: the index, its sample, the truth, the search's scratch and what was measured. */
typedef struct tuner {
    const nearkit_index *ix;
    nearkit_vector_type type;
    const void *queries;
    const nearkit_param_desc *param;
    const nearkit_param_desc *finer; /* NULL: the kind has no finer setting */
    nearkit_tune_options options;
    truth truth;
    int64_t *ids;
    float *dist;
    double started;
    uint32_t measurements;
    /* the cheapest value found reaching the target (reached), else the best recall seen; with
     * the finer setting's value (0: no limit) */
    bool reached;
    double value, fine, recall, qps;
    /* the largest value measured that missed the target, and its recall (value -1: none) */
    double missed_value, missed_recall;
} tuner;

static bool out_of_time(const tuner *t) {
    return t->options.max_seconds > 0 && now_seconds() - t->started > t->options.max_seconds;
}

/* Whether (value, fine) costs less than the choice: a smaller value, or the same with a tighter
 * finer setting (0 is no limit, the dearest). */
static bool cheaper(const tuner *t, double value, double fine) {
    if (value != t->value) return value < t->value;
    return fine > 0 && (t->fine == 0 || fine < t->fine);
}

/* Searches the sample with the parameter at `value` (and the finer setting at `fine`) for this
 * call; *hit: the target is reached. Keeps the choice up to date: the cheapest reaching
 * setting, else the highest recall. */
static nearkit_status measure(bool *hit, tuner *t, double value, double fine) {
    nearkit_param_value pv[2] = {{t->param->name, value}, {t->finer ? t->finer->name : NULL, fine}};
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.num_threads = t->options.num_threads;
    so.params = pv;
    so.n_params = t->finer ? 2 : 1;
    double start = now_seconds();
    nearkit_status st = nearkit_index_search(t->ids, t->dist, t->ix, t->type, t->queries, t->truth.n,
                                             t->truth.k, &so);
    if (st) return st;
    double seconds = now_seconds() - start, recall = recall_of(&t->truth, t->ids, t->dist);
    t->measurements++;
    *hit = recall >= t->options.target_recall;
    if (!*hit && fine == 0 && value > t->missed_value) {
        t->missed_value = value;
        t->missed_recall = recall;
    }
    bool better = *hit ? !t->reached || cheaper(t, value, fine)
                       : !t->reached && (t->measurements == 1 || recall > t->recall);
    if (better) {
        t->reached = *hit;
        t->value = value;
        t->fine = fine;
        t->recall = recall;
        t->qps = (double)t->truth.n / (seconds > 1e-9 ? seconds : 1e-9);
    }
    return NEARKIT_OK;
}

/* The values tried: from the smallest useful one, doubling until one reaches the target (or the
 * bound), then bisecting between the last that missed and the first that reached. */
static nearkit_status search_values(tuner *t, double first, double last) {
    double missed = 0, v = first;
    bool hit = false;
    for (;;) {
        nearkit_status st = measure(&hit, t, v, 0);
        if (st) return st;
        if (hit || v >= last || out_of_time(t)) break;
        missed = v;
        v = 2 * v < last ? 2 * v : last;
    }
    if (!hit) return NEARKIT_OK;
    double reached = v;
    bool integer = t->param->flags & NEARKIT_PARAM_FLAG_INTEGER;
    /* below `first` nothing is tried; a real parameter stops at 1% */
    while (missed >= first && reached - missed > (integer ? 1 : 0.01 * reached) && !out_of_time(t)) {
        double mid = integer ? floor((missed + reached) / 2) : (missed + reached) / 2;
        nearkit_status st = measure(&hit, t, mid, 0);
        if (st) return st;
        if (hit) reached = mid;
        else missed = mid;
    }
    return NEARKIT_OK;
}

/* Whether the value chosen jumps past the target: its recall is above it by more than a quarter
 * of the step from one value less, or that value was not measured. */
static bool overshoots(const tuner *t) {
    if (t->missed_value != t->value - 1) return true;
    return t->recall - t->options.target_recall > 0.25 * (t->recall - t->missed_recall);
}

/* The finer setting bisected with the value chosen kept: from 0 (taken to miss: no rows) up to
 * `most` (the count: a budget no query reaches, which is the value alone, measured to reach),
 * geometrically while the bounds lie far apart, then halving, to within 1% of the upper bound,
 * for the cheapest budget that still reaches the target. */
static nearkit_status tune_finer(tuner *t, double most) {
    if (!t->finer || !t->reached || !(t->param->flags & NEARKIT_PARAM_FLAG_INTEGER) || !overshoots(t))
        return NEARKIT_OK;
    double missed = 0, reached = most;
    bool hit;
    while (reached - missed > fmax(1.0, 0.01 * reached) && !out_of_time(t)) {
        double low = fmax(missed, 1.0);
        double mid = floor(reached / low > 4.0 ? sqrt(low * reached) : (missed + reached) / 2);
        if (mid <= missed || mid >= reached) break;
        nearkit_status st = measure(&hit, t, t->value, mid);
        if (st) return st;
        if (hit) reached = mid;
        else missed = mid;
    }
    return NEARKIT_OK;
}

/* Sets the choice on the index: the value, and the finer setting (0 unless chosen). */
static nearkit_status set_choice(nearkit_index *ix, const tuner *t) {
    nearkit_status st = nearkit_index_set_param(ix, t->param->name, t->value);
    if (!st && t->finer) st = nearkit_index_set_param(ix, t->finer->name, t->fine);
    return st;
}

/* ---- the public call ------------------------------------------------------------------------------ */

static nearkit_status check_tune_call(const nearkit_tune_result *result, const nearkit_index *ix,
                                      nearkit_vector_type type, const void *queries, uint64_t n) {
    if (!result || !ix || !queries) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to tune");
    if (result->struct_size < offsetof(nearkit_tune_result, reached) + sizeof result->reached)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "tune result struct_size %u is too small",
                                 result->struct_size);
    if (n == 0) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "tune needs at least one query");
    bool halves = type == NEARKIT_VECTOR_FLOAT16 && ix->vector_type == NEARKIT_VECTOR_FLOAT32; /* widened per search */
    if (type != ix->vector_type && !halves)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "tune: this index takes %s queries",
                                 ix->vector_type == NEARKIT_VECTOR_BINARY ? "binary (packed uint8)"
                                                                          : "float32 (or float16)");
    return NEARKIT_OK;
}

/* The state checks: something to tune on, and a structure whose search the parameter steers. */
static nearkit_status check_tunable_state(const nearkit_index *ix, uint64_t count) {
    if (count == 0) return nearkit_set_error(NEARKIT_ERR_STATE, "tune: the index holds no vectors");
    if (!nearkit_index_is_ready(ix))
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "tune: build the index first (before its training every search scans "
                                 "all vectors, so there is nothing to tune)");
    return NEARKIT_OK;
}

NEARKIT_API nearkit_status nearkit_index_tune(nearkit_tune_result *result, nearkit_index *index,
                                              nearkit_vector_type type, const void *queries,
                                              uint64_t n, const nearkit_tune_options *options) {
    nearkit_clear_error();
    nearkit_status st = check_tune_call(result, index, type, queries, n);
    tuner t = {.ix = index, .type = type, .queries = queries, .missed_value = -1};
    if (!st) st = read_tune_options(&t.options, options);
    if (st) return st;
    if (index->ops->flags & NEARKIT_KIND_FLAG_EXACT) {
        write_result(result, (nearkit_tune_result){.reached = 1, .recall = 1.0});
        return NEARKIT_OK;
    }
    bool starts_at_k = false;
    t.param = find_tunable(&starts_at_k, index);
    t.finer = find_finer(index);
    if (!t.param)
        return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED, "tune: the %s index has no parameter to tune",
                                 index->ops->name);
    uint64_t count = nearkit_index_count(index);
    st = check_tunable_state(index, count);
    if (st) return st;
    uint64_t k = t.options.k < count ? t.options.k : count;
    if (n > (uint64_t)PTRDIFF_MAX / 8 / k) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "tune: n * k is too large");

    t.started = now_seconds();
    st = exact_neighbours(&t.truth, index, type, queries, n, k, t.options.num_threads);
    if (st) return st;
    t.ids = nearkit_alloc_array((size_t)(n * k), sizeof *t.ids);
    t.dist = nearkit_alloc_array((size_t)(n * k), sizeof *t.dist);
    if (!t.ids || !t.dist) st = nearkit_oom();

    /* past the count no search of either kind widens any more */
    double first = t.param->min > 1 ? t.param->min : 1;
    if (starts_at_k && (double)k > first) first = (double)k;
    double last = t.param->max < (double)count ? t.param->max : (double)count;
    if (t.options.max_value > 0 && t.options.max_value < last) last = floor(t.options.max_value);
    if (last < t.param->min) last = t.param->min;
    if (first > last) first = last;
    if (!st) st = search_values(&t, first, last);
    if (!st) st = tune_finer(&t, (double)count);
    if (!st) st = set_choice(index, &t);
    if (!st)
        write_result(result, (nearkit_tune_result){.reached = t.reached, .param = t.param->name,
                                                   .value = t.value, .recall = t.recall, .qps = t.qps,
                                                   .measurements = t.measurements,
                                                   .fine_param = t.fine > 0 ? t.finer->name : NULL,
                                                   .fine_value = t.fine});
    free(t.ids);
    free(t.dist);
    free_truth(&t.truth);
    return st;
}
