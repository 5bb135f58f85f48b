/* The generic index API: argument checks, vector preparation, parameters, the index's lock,
 * dispatch to kinds. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#endif
#include "base/idmap.h"
#include "base/internal.h"
#include "kernels/kernels.h"
#include "search/driver.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

#define MAX_FLOAT_DIMENSION (1u << 20)
#define MAX_BINARY_BITS (1u << 20)

/* ---- helpers ----------------------------------------------------------------------------------- */

static nearkit_status invalid(const char *what) {
    return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "%s", what);
}

static const char *type_name(nearkit_vector_type type) {
    return type == NEARKIT_VECTOR_BINARY ? "binary" : type == NEARKIT_VECTOR_FLOAT16 ? "float16" : "float32";
}

/* The index's own type, or float16 for a float32 index (converted on entry). */
static nearkit_status check_type(const nearkit_index *ix, nearkit_vector_type type) {
    if (type == ix->vector_type) return NEARKIT_OK;
    if (type == NEARKIT_VECTOR_FLOAT16 && ix->vector_type == NEARKIT_VECTOR_FLOAT32) return NEARKIT_OK;
    if (type != NEARKIT_VECTOR_FLOAT32 && type != NEARKIT_VECTOR_BINARY && type != NEARKIT_VECTOR_FLOAT16)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "unknown vector type %d", type);
    return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                             "this %s index takes %s vectors, not %s", nearkit_metric_name(ix->metric),
                             ix->vector_type == NEARKIT_VECTOR_BINARY ? "binary (packed uint8)"
                                                                      : "float32 (or float16)",
                             type_name(type));
}

/* float16 input as a float32 copy (exact: every half is a float), which *owned receives. */
static nearkit_status widen_halves(const void **vectors, void **owned, const nearkit_index *ix, uint64_t n) {
    *owned = NULL;
    if (n == 0) return NEARKIT_OK;
    uint64_t total = n * ix->dimension;
    float *copy = nearkit_alloc_array((size_t)total, sizeof(float));
    if (!copy) return nearkit_oom();
    const uint16_t *h = *vectors;
    for (uint64_t i = 0; i < total; i++) copy[i] = nearkit_half_to_float(h[i]);
    *vectors = copy;
    *owned = copy;
    return NEARKIT_OK;
}

/* Why NEARKIT_MAX_ABS_VALUE is 2^50: with every |x_i| <= M = 2^50 and the dimension at most
 * MAX_FLOAT_DIMENSION = 2^20, no value any kind computes can overflow float (FLT_MAX ~ 2^128):
 *   squared l2   sum (x_i - q_i)^2             <= d (2M)^2      = 2^20 * 2^102 = 2^122
 *   sgemm form   |q|^2 + |x|^2 + 2|q||x|        <= 4 d M^2       = 2^122
 *   dot, norms   |<x, q>|, |x|^2               <= d M^2         = 2^120
 *   l1           sum |x_i - q_i|               <= d 2M          = 2^71
 * and a float sum of d terms rounds them up by a factor below 1 + d 2^-24 / (1 - d 2^-24) < 1.07,
 * so every such value stays below 2^123: 2^5 under FLT_MAX, room for the sums and squares of
 * two distances that bounds and cluster means form. 2^53 would reach 2^128 at d = 2^20.
 * Cosine inputs are normalised, so for them the limit is only for one rule across metrics. */
_Static_assert(MAX_FLOAT_DIMENSION == 1u << 20, "the derivation of NEARKIT_MAX_ABS_VALUE assumes d <= 2^20");
_Static_assert((long long)NEARKIT_MAX_ABS_VALUE == 1LL << 50, "NEARKIT_MAX_ABS_VALUE is 2^50");

/* INVALID_ARGUMENT naming the first NaN, infinity or value beyond NEARKIT_MAX_ABS_VALUE among n
 * float vectors. */
static nearkit_status check_finite(const nearkit_index *ix, const void *vectors, uint64_t n,
                                   const char *what) {
    if (ix->vector_type != NEARKIT_VECTOR_FLOAT32) return NEARKIT_OK;
    const float *v = vectors;
    uint64_t total = n * ix->dimension, i = nearkit_first_unusable_value(v, total);
    if (i == total) return NEARKIT_OK;
    unsigned long long row = i / ix->dimension, position = i % ix->dimension;
    if (isnan(v[i]) || isinf(v[i]))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "%s %llu holds %s at position %llu", what,
                                 row, isnan(v[i]) ? "NaN" : "an infinity", position);
    return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                             "%s %llu holds %g at position %llu, beyond the accepted range of "
                             "+-2^50 (NEARKIT_MAX_ABS_VALUE, about 1.1e15)",
                             what, row, (double)v[i], position);
}

/* Floats of room a search keeps on its stack for its prepared queries (one cosine query of up to
 * 1,024 dimensions), so that a one-query search allocates nothing. */
#define QUERY_ROOM_FLOATS 1024

/* For cosine, a unit-length copy of the vectors (zero vectors stay zero), in `room` where it fits
 * in room_floats; else the input itself. *owned receives what the caller frees. */
static nearkit_status prepare_vectors(const void **prepared, void **owned, const nearkit_index *ix,
                                      const void *vectors, uint64_t n, float *room, size_t room_floats) {
    *owned = NULL;
    *prepared = vectors;
    if (ix->metric != NEARKIT_METRIC_COSINE || n == 0) return NEARKIT_OK;
    size_t d = ix->dimension;
    if (n > SIZE_MAX / d) return nearkit_oom();
    bool fits = (size_t)n * d <= room_floats;
    float *copy = fits ? room : nearkit_alloc_array((size_t)n * d, sizeof(float));
    if (!copy) return nearkit_oom();
    const float *in = vectors;
    for (uint64_t i = 0; i < n; i++) {
        double norm = 0;
        for (size_t j = 0; j < d; j++) norm += (double)in[i * d + j] * in[i * d + j];
        double scale = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
        for (size_t j = 0; j < d; j++) copy[i * d + j] = (float)(in[i * d + j] * scale);
    }
    *owned = fits ? NULL : copy;
    *prepared = copy;
    return NEARKIT_OK;
}

/* Checks a batch of n input vectors and returns them prepared for the kind (a copy in `room` where
 * one is needed and fits: see prepare_vectors). */
static nearkit_status accept_vectors(const void **prepared, void **owned, const nearkit_index *ix,
                                     nearkit_vector_type type, const void *vectors, uint64_t n,
                                     const char *what, float *room, size_t room_floats) {
    *owned = NULL;
    *prepared = NULL;
    nearkit_status st = check_type(ix, type);
    if (st) return st;
    if (n > 0 && !vectors) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "%ss are NULL", what);
    if (n > UINT64_MAX / ix->vector_bytes || n * ix->vector_bytes > (uint64_t)PTRDIFF_MAX)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "%llu %ss is more than memory holds",
                                 (unsigned long long)n, what);
    void *widened = NULL;
    if (type == NEARKIT_VECTOR_FLOAT16 && (st = widen_halves(&vectors, &widened, ix, n))) return st;
    st = check_finite(ix, vectors, n, what);
    if (!st) st = prepare_vectors(prepared, owned, ix, vectors, n, room, room_floats);
    if (st || *owned) {
        free(widened); /* failed, or the prepared copy is a copy of it */
    } else if (widened) {
        *owned = widened;
    }
    return st;
}

/* The caller's search options as this library's struct: fields past its struct_size (a caller
 * compiled against an older header) keep their defaults. */
static nearkit_status read_search_options(nearkit_search_options *out,
                                          const nearkit_search_options *options) {
    *out = (nearkit_search_options)NEARKIT_SEARCH_OPTIONS_INIT;
    if (!options) return NEARKIT_OK;
    if (options->struct_size < sizeof(uint32_t)) return invalid("search options struct_size is too small");
    size_t n = options->struct_size < sizeof *out ? options->struct_size : sizeof *out;
    memcpy(out, options, n);
    if (out->n_params > 0 && !out->params) return invalid("search options: params is NULL");
    return NEARKIT_OK;
}

/* ---- the index's lock ------------------------------------------------------------------------- */

/* The index's reader-writer lock. Const entry points receive the index as const; the lock is the
 * one thing they change, through these functions only. */
struct nearkit_index_lock {
    pthread_rwlock_t rw;
    pthread_mutex_t adding; /* serialises the adds of kinds that link under the read side */
};

void nearkit_index_lock_read(const nearkit_index *ix) { pthread_rwlock_rdlock(&ix->lock->rw); }
static void lock_write(nearkit_index *ix) { pthread_rwlock_wrlock(&ix->lock->rw); }
void nearkit_index_unlock(const nearkit_index *ix) { pthread_rwlock_unlock(&ix->lock->rw); }

/* Writers first: a steady stream of searches must not keep an add waiting for ever (glibc's
 * default prefers readers). Nothing in the library takes the lock twice, so the non-recursive
 * kind is safe. */
static bool init_lock(nearkit_index *ix) {
    ix->lock = malloc(sizeof *ix->lock);
    pthread_rwlockattr_t attr;
    if (!ix->lock || pthread_rwlockattr_init(&attr)) {
        free(ix->lock);
        return false;
    }
#if defined(__GLIBC__)
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    bool ok = pthread_rwlock_init(&ix->lock->rw, &attr) == 0;
    pthread_rwlockattr_destroy(&attr);
    if (ok && pthread_mutex_init(&ix->lock->adding, NULL) != 0) {
        pthread_rwlock_destroy(&ix->lock->rw);
        ok = false;
    }
    if (!ok) free(ix->lock);
    return ok;
}

static void free_lock(nearkit_index *ix) {
    pthread_mutex_destroy(&ix->lock->adding);
    pthread_rwlock_destroy(&ix->lock->rw);
    free(ix->lock);
}

uint64_t nearkit_index_next_id(const nearkit_index *ix) {
    uint64_t count = ix->ops->count(ix);
    return ix->next_id > count ? ix->next_id : count;
}

nearkit_status nearkit_index_set_next_id(nearkit_index *ix, uint64_t next_id) {
    if (next_id < ix->ops->count(ix) || next_id > (uint64_t)INT64_MAX)
        return invalid("the next id lies below the number of vectors");
    ix->next_id = next_id;
    return NEARKIT_OK;
}

/* ---- parameters -------------------------------------------------------------------------------- */

/* Parameter 0 of every index is the generic num_threads; the kind's follow. */
#define GENERIC_PARAMS 1u

static const nearkit_param_desc num_threads_param = {
    "num_threads", NEARKIT_PARAM_FLAG_INTEGER, 0, 256, 0,
    "threads a call may use (0: every core; a search option overrides it per call)", NULL};

static const nearkit_param_desc *param_desc(const nearkit_index *ix, size_t i) {
    if (i < GENERIC_PARAMS) return &num_threads_param;
    return &ix->ops->params[i - GENERIC_PARAMS];
}

static bool find_param(size_t *out, const nearkit_index *ix, const char *name) {
    for (size_t i = 0; i < GENERIC_PARAMS + ix->ops->n_params; i++) {
        if (strcmp(param_desc(ix, i)->name, name) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

NEARKIT_API size_t nearkit_index_param_count(const nearkit_index *index) {
    return index ? GENERIC_PARAMS + index->ops->n_params : 0;
}

NEARKIT_API nearkit_status nearkit_index_param_info(const char **name, uint32_t *flags,
                                                    const nearkit_index *index, size_t i) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    if (i >= GENERIC_PARAMS + index->ops->n_params)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "parameter index %zu out of range", i);
    if (name) *name = param_desc(index, i)->name;
    if (flags) *flags = param_desc(index, i)->flags;
    return NEARKIT_OK;
}

NEARKIT_API nearkit_status nearkit_index_param_describe(nearkit_param_info *out,
                                                        const nearkit_index *index, size_t i) {
    nearkit_clear_error();
    if (!out || !index) return invalid("NULL argument to param_describe");
    if (out->struct_size < offsetof(nearkit_param_info, name) + sizeof out->name)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "param info struct_size %u is too small",
                                 out->struct_size);
    if (i >= GENERIC_PARAMS + index->ops->n_params)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "parameter index %zu out of range", i);
    const nearkit_param_desc *p = param_desc(index, i);
    bool statistic = p->flags & NEARKIT_PARAM_FLAG_READ_ONLY;
    nearkit_param_info info = {
        .struct_size = out->struct_size,
        .name = p->name,
        .flags = p->flags,
        .minimum = p->min,
        .maximum = p->max,
        .default_value = statistic ? NAN : p->default_for ? p->default_for(index) : p->default_value,
        .description = p->description ? p->description : "",
    };
    size_t n = out->struct_size < sizeof info ? out->struct_size : sizeof info;
    memcpy(out, &info, n); /* fields past the caller's struct_size are not written */
    return NEARKIT_OK;
}

static nearkit_status no_such_param(const nearkit_index *ix, const char *name) {
    return nearkit_set_error(NEARKIT_ERR_NOT_FOUND, "the %s index has no parameter '%.64s'",
                             ix->ops->name, name);
}

/* Parameter i's current value (lock held). */
static nearkit_status param_value(double *value, const nearkit_index *ix, size_t i) {
    if (i < GENERIC_PARAMS) {
        *value = ix->num_threads;
        return NEARKIT_OK;
    }
    return ix->ops->get_param(ix, i - GENERIC_PARAMS, value);
}

NEARKIT_API nearkit_status nearkit_index_get_param(double *value, const nearkit_index *index,
                                                   const char *name) {
    nearkit_clear_error();
    if (!value || !index || !name) return invalid("NULL argument to get_param");
    size_t i;
    if (!find_param(&i, index, name)) return no_such_param(index, name);
    nearkit_index_lock_read(index);
    nearkit_status st = param_value(value, index, i);
    nearkit_index_unlock(index);
    return st;
}

/* Whether parameter p accepts `value` (range, integrality, not read-only). */
static nearkit_status check_param_value(const nearkit_param_desc *p, double value) {
    if (p->flags & NEARKIT_PARAM_FLAG_READ_ONLY)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "parameter '%s' is read-only", p->name);
    if (isnan(value) || value < p->min || value > p->max)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "parameter '%s' must lie in [%g, %g], got %g", p->name, p->min,
                                 p->max, value);
    if ((p->flags & NEARKIT_PARAM_FLAG_INTEGER) && value != floor(value))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "parameter '%s' must be an integer, got %g",
                                 p->name, value);
    return NEARKIT_OK;
}

nearkit_status nearkit_refuse_view_write(const nearkit_index *ix, const char *what) {
    if (!ix->is_view) return NEARKIT_OK;
    return nearkit_set_error(NEARKIT_ERR_STATE,
                             "cannot %s: the index is a read-only view of a saved file (copy "
                             "it, or load the file, to have one that can change)",
                             what);
}

static nearkit_status set_param_locked(nearkit_index *ix, size_t i, double value) {
    const nearkit_param_desc *p = param_desc(ix, i);
    if (p->flags & NEARKIT_PARAM_FLAG_BUILD) {
        nearkit_status st = nearkit_refuse_view_write(ix, "set a build parameter");
        if (st) return st;
    }
    if ((p->flags & NEARKIT_PARAM_FLAG_BUILD) && ix->ops->count(ix) > 0)
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "parameter '%s' can only be set before vectors are added", p->name);
    if (i < GENERIC_PARAMS) {
        ix->num_threads = (uint32_t)value;
        return NEARKIT_OK;
    }
    return ix->ops->set_param(ix, i - GENERIC_PARAMS, value);
}

NEARKIT_API nearkit_status nearkit_index_set_param(nearkit_index *index, const char *name,
                                                   double value) {
    nearkit_clear_error();
    if (!index || !name) return invalid("NULL argument to set_param");
    size_t i;
    if (!find_param(&i, index, name)) return no_such_param(index, name);
    nearkit_status st = check_param_value(param_desc(index, i), value);
    if (st) return st;
    lock_write(index);
    st = set_param_locked(index, i, value);
    nearkit_index_unlock(index);
    return st;
}

/* The settings of one search call: every parameter of the kind as the index holds it, then the
 * call's own values (runtime parameters only), and the call's thread count. */
#define LOCAL_SETTINGS 32 /* kinds with at most this many parameters need no allocation */

typedef struct call_settings {
    double *values; /* the kind's parameters (local or allocated); NULL when it has none */
    uint32_t threads;
    double local[LOCAL_SETTINGS];
} call_settings;

static nearkit_status resolve_settings(call_settings *out, const nearkit_index *ix,
                                       const nearkit_search_options *o) {
    size_t n = ix->ops->n_params;
    out->values = !n ? NULL : n <= LOCAL_SETTINGS ? out->local : nearkit_alloc_array(n, sizeof(double));
    if (n && !out->values) return nearkit_oom();
    /* Statistics are left out: no search reads them, and some cost a pass over the index (ivf's
     * max_list_size visits every list), which a single-query call would pay each time. */
    for (size_t i = 0; i < n; i++)
        if ((ix->ops->params[i].flags & NEARKIT_PARAM_FLAG_READ_ONLY) ||
            ix->ops->get_param(ix, i, &out->values[i]))
            out->values[i] = NAN;
    uint32_t threads = o->num_threads ? o->num_threads : ix->num_threads;
    for (uint64_t j = 0; j < o->n_params; j++) {
        const nearkit_param_value *v = &o->params[j];
        size_t i;
        if (!v->name) return invalid("search options: a parameter's name is NULL");
        if (!find_param(&i, ix, v->name)) return no_such_param(ix, v->name);
        const nearkit_param_desc *p = param_desc(ix, i);
        nearkit_status st = check_param_value(p, v->value);
        if (st) return st;
        if (p->flags & NEARKIT_PARAM_FLAG_BUILD)
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                     "parameter '%s' is fixed when the index is built: it cannot be "
                                     "set per call", p->name);
        if (i < GENERIC_PARAMS) threads = (uint32_t)v->value;
        else out->values[i - GENERIC_PARAMS] = v->value;
    }
    out->threads = nearkit_resolve_threads(threads);
    return NEARKIT_OK;
}

/* Applies "name=value" pairs separated by commas, semicolons or white space. */
static nearkit_status apply_param_string(nearkit_index *ix, const char *params) {
    const char *p = params;
    while (*p) {
        while (*p == ',' || *p == ';' || *p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        const char *name = p;
        while (*p && *p != '=' && *p != ',' && *p != ';' && *p != ' ') p++;
        size_t len = (size_t)(p - name);
        if (*p != '=' || len == 0 || len > 64)
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                     "bad parameter list '%.80s': expected name=value pairs", params);
        char key[65];
        memcpy(key, name, len);
        key[len] = '\0';
        char *end;
        double value = strtod(++p, &end);
        if (end == p || (*end && *end != ',' && *end != ';' && *end != ' ' && *end != '\t'))
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                     "bad value for parameter '%s' in '%.80s'", key, params);
        nearkit_status st = nearkit_index_set_param(ix, key, value);
        if (st) return st;
        p = end;
    }
    return NEARKIT_OK;
}

/* ---- lifetime ---------------------------------------------------------------------------------- */

static nearkit_status check_dimension(nearkit_metric metric, uint32_t dimension) {
    if (metric == NEARKIT_METRIC_HAMMING) {
        if (dimension == 0 || dimension % 8 != 0 || dimension > MAX_BINARY_BITS)
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                     "hamming dimension must be a positive multiple of 8 bits up to "
                                     "%u, got %u", MAX_BINARY_BITS, dimension);
    } else if (dimension == 0 || dimension > MAX_FLOAT_DIMENSION) {
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "dimension must lie in [1, %u], got %u", MAX_FLOAT_DIMENSION,
                                 dimension);
    }
    return NEARKIT_OK;
}

NEARKIT_API nearkit_status nearkit_index_create(nearkit_index **out, nearkit_kind kind,
                                                nearkit_metric metric, uint32_t dimension,
                                                const nearkit_index_options *options) {
    nearkit_clear_error();
    if (!out) return invalid("output pointer is NULL");
    *out = NULL;
    nearkit_index_options opts = NEARKIT_INDEX_OPTIONS_INIT;
    if (options) {
        if (options->struct_size < sizeof(uint32_t))
            return invalid("index options struct_size is too small (use nearkit_index_options_init)");
        /* a caller built against an older, shorter struct: take what it has, defaults for the rest */
        size_t n = options->struct_size < sizeof opts ? options->struct_size : sizeof opts;
        memcpy(&opts, options, n);
    }
    const nearkit_index_ops *ops = nearkit_find_kind(kind);
    if (!ops) return nearkit_set_error(NEARKIT_ERR_NOT_FOUND, "unknown index kind %d", kind);
    const char *metric_name = nearkit_metric_name(metric);
    if (!metric_name) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "unknown metric %d", metric);
    if (!(ops->metric_mask & (1u << metric)))
        return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED, "the %s index does not support the %s metric",
                                 ops->name, metric_name);
    nearkit_status st = check_dimension(metric, dimension);
    if (st) return st;
    if (opts.num_threads > num_threads_param.max)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "num_threads must be at most %g",
                                 num_threads_param.max);

    nearkit_blas_prepare(); /* kinds may call BLAS from any thread from here on */
    nearkit_index *ix = calloc(1, sizeof *ix);
    if (!ix) return nearkit_oom();
    ix->ops = ops;
    ix->metric = metric;
    ix->vector_type = metric == NEARKIT_METRIC_HAMMING ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32;
    ix->dimension = dimension;
    ix->vector_bytes = metric == NEARKIT_METRIC_HAMMING ? dimension / 8u : (uint64_t)dimension * 4u;
    ix->num_threads = opts.num_threads;
    ix->seed = opts.seed;
    if (!init_lock(ix)) {
        free(ix);
        return nearkit_oom();
    }
    st = ops->create(ix);
    if (st) {
        free_lock(ix);
        free(ix);
        return st;
    }
    if (opts.params) st = apply_param_string(ix, opts.params);
    if (st) {
        nearkit_index_free(ix);
        return st;
    }
    *out = ix;
    return NEARKIT_OK;
}

NEARKIT_API void nearkit_index_free(nearkit_index *index) {
    if (!index) return;
    index->ops->destroy(index);
    if (index->view_map) munmap(index->view_map, index->view_map_bytes);
    if (index->id_counts) nearkit_idmap_free(index->id_counts);
    free(index->id_counts);
    free_lock(index);
    free(index);
}

/* ---- adding, training, building ---------------------------------------------------------------- */

/* Counts n ids into the id counts, if the index keeps them. False: out of memory (nothing
 * counted). */
static bool count_ids(nearkit_index *ix, const int64_t *ids, uint64_t n) {
    nearkit_idmap *m = ix->id_counts;
    if (!m) return true;
    if (!nearkit_idmap_reserve(m, m->size + n)) return false;
    for (uint64_t i = 0; i < n; i++) nearkit_idmap_add(m, ids[i], 1); /* cannot fail: reserved */
    return true;
}

/* The ids of n vectors added without ids: next_id onwards. NULL in *out where the kind's own
 * default (its positions) gives the same, i.e. while nothing was ever removed. */
static nearkit_status implicit_ids(int64_t **out, const nearkit_index *ix, uint64_t n) {
    *out = NULL;
    uint64_t next = nearkit_index_next_id(ix);
    if (next == ix->ops->count(ix) && !ix->id_counts) return NEARKIT_OK;
    if (n > (uint64_t)INT64_MAX - next) return invalid("the ids would pass INT64_MAX");
    int64_t *ids = nearkit_alloc_array((size_t)n, sizeof(int64_t));
    if (!ids) return nearkit_oom();
    for (uint64_t i = 0; i < n; i++) ids[i] = (int64_t)(next + i);
    *out = ids;
    return NEARKIT_OK;
}

static nearkit_status check_ids(const int64_t *ids, uint64_t n) {
    for (uint64_t i = 0; ids && i < n; i++)
        if (ids[i] == -1)
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                     "id -1 (at position %llu) is reserved for 'no neighbour'",
                                     (unsigned long long)i);
    return NEARKIT_OK;
}

/* The ids an add of n vectors gives them (*made: what the caller frees; *given NULL: the kind's
 * positions), with room for them in the id counts. Lock held (write). */
static nearkit_status add_ids(int64_t **made, const int64_t **given, nearkit_index *ix, uint64_t n,
                              const int64_t *ids) {
    *made = NULL;
    nearkit_status st = ids ? NEARKIT_OK : implicit_ids(made, ix, n);
    *given = ids ? ids : *made;
    if (!st && *given && ix->id_counts && !nearkit_idmap_reserve(ix->id_counts, ix->id_counts->size + n))
        st = nearkit_oom();
    return st;
}

/* After the kind took the vectors: they count (write lock held). Ids left to the kind are its
 * positions next onwards; they are counted too where the counts were made meanwhile (a writer
 * between the steps of add_concurrently). */
static void add_done(nearkit_index *ix, const int64_t *given, uint64_t n, uint64_t next) {
    if (ix->ops->add_publish) ix->ops->add_publish(ix);
    if (given) {
        count_ids(ix, given, n); /* reserved by add_ids: cannot fail */
    } else if (ix->id_counts && nearkit_idmap_reserve(ix->id_counts, ix->id_counts->size + n)) {
        for (uint64_t i = 0; i < n; i++) nearkit_idmap_add(ix->id_counts, (int64_t)(next + i), 1);
    }
    ix->next_id = next + n;
}

static nearkit_status add_locked(nearkit_index *ix, const void *prepared, uint64_t n,
                                 const int64_t *ids) {
    uint64_t next = nearkit_index_next_id(ix);
    int64_t *made;
    const int64_t *given;
    nearkit_status st = add_ids(&made, &given, ix, n, ids);
    if (!st) st = ix->ops->add(ix, prepared, n, given);
    if (!st) add_done(ix, given, n, next);
    free(made);
    return st;
}

/* An add of a kind that links under the read side: prepared and given its ids under the write
 * side, linked under the read side while searches run, published under the write side (so a
 * search sees the batch whole or not at all). Adds of the index take turns. */
static nearkit_status add_concurrently(nearkit_index *ix, const void *prepared, uint64_t n,
                                       const int64_t *ids) {
    pthread_mutex_lock(&ix->lock->adding);
    lock_write(ix);
    bool shared = false;
    nearkit_status st = ix->ops->add_prepare(ix, n, ids != NULL, &shared);
    if (st || !shared) {
        if (!st) st = add_locked(ix, prepared, n, ids);
        nearkit_index_unlock(ix);
        pthread_mutex_unlock(&ix->lock->adding);
        return st;
    }
    uint64_t next = nearkit_index_next_id(ix);
    int64_t *made;
    const int64_t *given;
    st = add_ids(&made, &given, ix, n, ids);
    nearkit_index_unlock(ix);
    if (!st) {
        nearkit_index_lock_read(ix);
        st = ix->ops->add(ix, prepared, n, given);
        nearkit_index_unlock(ix);
    }
    if (!st) {
        lock_write(ix);
        add_done(ix, given, n, next);
        nearkit_index_unlock(ix);
    }
    pthread_mutex_unlock(&ix->lock->adding);
    free(made);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_add(nearkit_index *index, nearkit_vector_type type,
                                             const void *vectors, uint64_t n, const int64_t *ids) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    const void *prepared;
    void *owned;
    nearkit_status st = nearkit_refuse_view_write(index, "add vectors");
    if (st) return st;
    st = accept_vectors(&prepared, &owned, index, type, vectors, n, "vector", NULL, 0);
    if (st || n == 0) return st;
    st = check_ids(ids, n);
    if (!st && index->ops->add_prepare) {
        st = add_concurrently(index, prepared, n, ids);
    } else if (!st) {
        lock_write(index);
        st = add_locked(index, prepared, n, ids);
        nearkit_index_unlock(index);
    }
    free(owned);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_train(nearkit_index *index, nearkit_vector_type type,
                                               const void *vectors, uint64_t n) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    if (nearkit_refuse_view_write(index, "train")) return NEARKIT_ERR_STATE;
    if (!index->ops->train) return check_type(index, type);
    const void *prepared;
    void *owned;
    nearkit_status st = accept_vectors(&prepared, &owned, index, type, vectors, n, "training vector", NULL, 0);
    if (st) return st;
    if (n == 0) return invalid("training needs at least one vector");
    lock_write(index);
    st = index->ops->train(index, prepared, n);
    nearkit_index_unlock(index);
    free(owned);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_build(nearkit_index *index) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    if (nearkit_refuse_view_write(index, "build")) return NEARKIT_ERR_STATE;
    if (!index->ops->build) return NEARKIT_OK;
    lock_write(index);
    nearkit_status st = index->ops->build(index);
    nearkit_index_unlock(index);
    return st;
}

/* ---- removing and reading back ----------------------------------------------------------------- */

static nearkit_status unsupported(const nearkit_index *ix, const char *what) {
    return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED, "the %s index cannot %s", ix->ops->name, what);
}

static bool count_one(void *ctx, int64_t id) { return nearkit_idmap_add(ctx, id, 1); }

/* Builds the id counts on first need (write lock held). */
static nearkit_status ensure_id_counts(nearkit_index *ix) {
    if (ix->id_counts) return NEARKIT_OK;
    if (!ix->ops->each_id) return unsupported(ix, "list its ids");
    nearkit_idmap *m = calloc(1, sizeof *m);
    if (!m || !nearkit_idmap_reserve(m, ix->ops->count(ix))) {
        free(m);
        return nearkit_oom();
    }
    ix->ops->each_id(ix, count_one, m); /* reserved: cannot fail */
    ix->id_counts = m;
    return NEARKIT_OK;
}

static nearkit_status remove_locked(uint64_t *removed, nearkit_index *ix, const int64_t *ids,
                                    uint64_t n) {
    if (!ix->ops->remove || !ix->ops->each_id) return unsupported(ix, "remove vectors");
    nearkit_status st = ensure_id_counts(ix);
    if (st) return st;
    nearkit_idmap present = {0};
    if (!nearkit_idmap_reserve(&present, n)) return nearkit_oom();
    for (uint64_t i = 0; i < n; i++)
        if (ids[i] != -1 && nearkit_idmap_contains(ix->id_counts, ids[i])) nearkit_idmap_add(&present, ids[i], 1);
    if (present.size > 0) st = ix->ops->remove(ix, &present, removed);
    if (!st)
        for (uint64_t i = 0; i < n; i++) nearkit_idmap_erase(ix->id_counts, ids[i]);
    nearkit_idmap_free(&present);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_remove(uint64_t *removed, nearkit_index *index,
                                                const int64_t *ids, uint64_t n) {
    nearkit_clear_error();
    uint64_t none = 0;
    if (!removed) removed = &none;
    *removed = 0;
    if (!index) return invalid("index is NULL");
    if (nearkit_refuse_view_write(index, "remove vectors")) return NEARKIT_ERR_STATE;
    if (n > 0 && !ids) return invalid("ids are NULL");
    if (n == 0) return NEARKIT_OK;
    lock_write(index);
    nearkit_status st = remove_locked(removed, index, ids, n);
    nearkit_index_unlock(index);
    if (st) *removed = 0;
    return st;
}

NEARKIT_API nearkit_status nearkit_index_get(void *vectors, uint8_t *found, const nearkit_index *index,
                                             const int64_t *ids, uint64_t n) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    if (n == 0) return NEARKIT_OK;
    if (!vectors || !ids) return invalid("NULL argument to get");
    if (n > (uint64_t)PTRDIFF_MAX / index->vector_bytes) return invalid("too many ids");
    uint8_t *hit = found ? found : calloc((size_t)n, 1);
    nearkit_idmap wanted = {0}; /* id -> its first row of the output */
    if (!hit || !nearkit_idmap_reserve(&wanted, n)) {
        if (!found) free(hit);
        nearkit_idmap_free(&wanted);
        return nearkit_oom();
    }
    memset(hit, 0, (size_t)n);
    memset(vectors, 0, (size_t)(n * index->vector_bytes));
    for (uint64_t i = 0; i < n; i++)
        if (ids[i] != -1 && !nearkit_idmap_contains(&wanted, ids[i])) {
            nearkit_idmap_add(&wanted, ids[i], 0);
            *nearkit_idmap_find(&wanted, ids[i]) = i;
        }
    nearkit_index_lock_read(index);
    nearkit_status st = index->ops->get ? index->ops->get(index, &wanted, vectors, hit)
                                        : unsupported(index, "read vectors back");
    nearkit_index_unlock(index);
    size_t vb = (size_t)index->vector_bytes;
    for (uint64_t i = 0; !st && i < n; i++) { /* repeated ids: copy the first one's row */
        const uint64_t *first = ids[i] != -1 ? nearkit_idmap_find(&wanted, ids[i]) : NULL;
        if (first && *first != i && hit[*first]) {
            memcpy((uint8_t *)vectors + i * vb, (uint8_t *)vectors + *first * vb, vb);
            hit[i] = 1;
        }
    }
    nearkit_idmap_free(&wanted);
    if (!found) free(hit);
    return st;
}

NEARKIT_API int32_t nearkit_index_contains(const nearkit_index *index, int64_t id) {
    if (!index || id == -1) return 0;
    nearkit_index_lock_read(index);
    int32_t known = -1;
    if (index->id_counts) known = nearkit_idmap_contains(index->id_counts, id);
    nearkit_index_unlock(index);
    if (known >= 0) return known;
    /* first use: build the counts, which needs the writer's side */
    nearkit_index *ix = (nearkit_index *)index;
    lock_write(ix);
    if (ensure_id_counts(ix) == NEARKIT_OK) known = nearkit_idmap_contains(ix->id_counts, id);
    nearkit_index_unlock(ix);
    if (known < 0) { /* out of memory for the counts: ask the vectors themselves */
        uint8_t hit = 0;
        uint8_t *row = calloc(1, (size_t)index->vector_bytes);
        if (row && nearkit_index_get(row, &hit, index, &id, 1) == NEARKIT_OK) known = hit;
        free(row);
    }
    nearkit_clear_error();
    return known > 0;
}

NEARKIT_API nearkit_status nearkit_index_compact(nearkit_index *index) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    if (nearkit_refuse_view_write(index, "compact")) return NEARKIT_ERR_STATE;
    if (!index->ops->compact) return NEARKIT_OK;
    lock_write(index);
    nearkit_status st = index->ops->compact(index);
    nearkit_index_unlock(index);
    return st;
}

/* ---- searching --------------------------------------------------------------------------------- */

static void pad_rows(int64_t *ids, float *dist, uint64_t n, uint64_t k, uint64_t from) {
    for (uint64_t q = 0; q < n; q++)
        for (uint64_t j = from; j < k; j++) {
            ids[q * k + j] = -1;
            dist[q * k + j] = INFINITY;
        }
}

/* Set bits among the first `bits` of a bitmap. */
static uint64_t bits_set(const uint8_t *bitmap, uint64_t bits) {
    uint64_t set = 0;
    for (uint64_t i = 0; i < bits / 8; i++) set += (uint64_t)__builtin_popcount(bitmap[i]);
    for (uint64_t i = bits / 8 * 8; i < bits; i++) set += bitmap[i >> 3] >> (i & 7) & 1u;
    return set;
}

/* An id list compiles to a bitmap over its span where that is small (at most IDS_BITMAP_SPAN
 * bits per id: no larger than the hash set, and one bit test where the set probes a table, which
 * is what a scan asks per row): *compiled says whether it was (as type BITMAP, owning its
 * bits). Fails only for want of memory. */
#define IDS_BITMAP_SPAN 64
static nearkit_status compile_ids_as_bitmap(bool *compiled, nearkit_admit *a, const int64_t *ids, uint64_t n) {
    *compiled = false;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (uint64_t i = 0; i < n; i++) {
        if (ids[i] == -1) continue; /* never a stored id */
        lo = ids[i] < lo ? ids[i] : lo;
        hi = ids[i] > hi ? ids[i] : hi;
    }
    if (lo > hi) return NEARKIT_OK;
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    if (span == 0 || span / IDS_BITMAP_SPAN > n) return NEARKIT_OK;
    uint8_t *bitmap = calloc((size_t)(span / 8 + 1), 1);
    if (!bitmap) return nearkit_oom();
    for (uint64_t i = 0; i < n; i++) {
        if (ids[i] == -1) continue;
        uint64_t bit = (uint64_t)ids[i] - (uint64_t)lo;
        bitmap[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
    *a = (nearkit_admit){.type = NEARKIT_FILTER_BITMAP, .bitmap = bitmap, .owned_bitmap = bitmap,
                         .first = lo, .bits = span, .most = bits_set(bitmap, span)};
    *compiled = true;
    return NEARKIT_OK;
}

/* Compiles the caller's filter (NULL or NONE: *out NULL). */
static nearkit_status compile_filter(nearkit_admit **out, nearkit_admit *storage, const nearkit_filter *f) {
    *out = NULL;
    if (!f) return NEARKIT_OK;
    if (f->struct_size < offsetof(nearkit_filter, type) + sizeof f->type)
        return invalid("filter struct_size is too small (use NEARKIT_FILTER_INIT)");
    nearkit_filter g = NEARKIT_FILTER_INIT;
    memcpy(&g, f, f->struct_size < sizeof g ? f->struct_size : sizeof g);
    *storage = (nearkit_admit){.type = g.type, .most = UINT64_MAX};
    switch (g.type) {
    case NEARKIT_FILTER_NONE:
        return NEARKIT_OK;
    case NEARKIT_FILTER_IDS:
        if (g.n_ids > 0 && !g.ids) return invalid("filter: ids are NULL");
        bool compiled;
        if (compile_ids_as_bitmap(&compiled, storage, g.ids, g.n_ids)) return nearkit_oom();
        if (compiled) break;
        if (!nearkit_idmap_from_ids(&storage->set, g.ids, g.n_ids)) return nearkit_oom();
        storage->most = storage->set.size;
        break;
    case NEARKIT_FILTER_BITMAP: {
        if (g.bitmap_bits > 0 && !g.bitmap) return invalid("filter: bitmap is NULL");
        storage->bitmap = g.bitmap;
        storage->first = g.bitmap_first;
        /* ids past INT64_MAX cannot be stored: clip the bits to what ids can reach */
        uint64_t reach = (uint64_t)INT64_MAX - (uint64_t)g.bitmap_first + (g.bitmap_first < 0 ? 0 : 1);
        storage->bits = g.bitmap_bits < reach || g.bitmap_first < 0 ? g.bitmap_bits : reach;
        storage->most = bits_set(storage->bitmap, storage->bits);
        break;
    }
    case NEARKIT_FILTER_PREDICATE:
        if (!g.predicate) return invalid("filter: predicate is NULL");
        storage->predicate = g.predicate;
        storage->context = g.context;
        break;
    default:
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "unknown filter type %u", g.type);
    }
    *out = storage;
    return NEARKIT_OK;
}

/* The parts of a search call the generic layer prepares: checked options, settings, filter. */
typedef struct prepared_call {
    nearkit_search_options options;
    call_settings settings;
    nearkit_admit admit_storage;
    nearkit_admit *admit;
} prepared_call;

static void release_call(prepared_call *p) {
    if (p->settings.values != p->settings.local) free(p->settings.values);
    if (!p->admit) return;
    nearkit_idmap_free(&p->admit->set);
    free(p->admit->owned_bitmap);
}

/* Lock held (read). */
static nearkit_status prepare_call(prepared_call *p, nearkit_search_call *c, const nearkit_index *ix,
                                   const nearkit_search_options *options) {
    *p = (prepared_call){0};
    nearkit_status st = read_search_options(&p->options, options);
    if (!st) st = resolve_settings(&p->settings, ix, &p->options);
    if (!st) st = compile_filter(&p->admit, &p->admit_storage, p->options.filter);
    c->ix = ix;
    c->threads = p->settings.threads;
    c->settings = p->settings.values;
    c->admit = p->admit;
    return st;
}

NEARKIT_API nearkit_status nearkit_index_search(int64_t *ids, float *distances,
                                                const nearkit_index *index,
                                                nearkit_vector_type type, const void *queries,
                                                uint64_t n, uint64_t k,
                                                const nearkit_search_options *options) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    if (k == 0) return invalid("k must be at least 1");
    if (n > 0 && (!ids || !distances)) return invalid("result buffers are NULL");
    if (n > 0 && k > (uint64_t)PTRDIFF_MAX / 8 / n)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "n * k = %llu * %llu results is too many",
                                 (unsigned long long)n, (unsigned long long)k);
    nearkit_search_options checked;
    nearkit_status st = read_search_options(&checked, options);
    if (st) return st;
    const void *prepared;
    void *owned;
    _Alignas(64) float room[QUERY_ROOM_FLOATS];
    st = accept_vectors(&prepared, &owned, index, type, queries, n, "query", room, QUERY_ROOM_FLOATS);
    if (st || n == 0) return st;
    nearkit_index_lock_read(index);
    prepared_call p = {0};
    nearkit_search_call c = {.queries = prepared, .n = n, .ids = ids, .dist = distances, .stride = k};
    st = prepare_call(&p, &c, index, options);
    uint64_t count = index->ops->count(index);
    c.k = k < count ? k : count;
    if (!st && c.k > 0) st = nearkit_search(index->ops->knn_searcher, &c);
    if (!st) pad_rows(ids, distances, n, k, c.k);
    release_call(&p);
    nearkit_index_unlock(index);
    free(owned);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_range_search(nearkit_range_result **out,
                                                      const nearkit_index *index,
                                                      nearkit_vector_type type,
                                                      const void *queries, uint64_t n,
                                                      float radius,
                                                      const nearkit_search_options *options) {
    nearkit_clear_error();
    if (!out) return invalid("output pointer is NULL");
    *out = NULL;
    if (!index) return invalid("index is NULL");
    if (isnan(radius)) return invalid("radius is NaN");
    nearkit_search_options checked;
    nearkit_status st = read_search_options(&checked, options);
    if (st) return st;
    const void *prepared;
    void *owned;
    _Alignas(64) float room[QUERY_ROOM_FLOATS];
    st = accept_vectors(&prepared, &owned, index, type, queries, n, "query", room, QUERY_ROOM_FLOATS);
    if (st) return st;
    nearkit_range_builder *b = nearkit_range_builder_new(n);
    if (!b) st = nearkit_oom();
    nearkit_index_lock_read(index);
    prepared_call p = {0};
    nearkit_search_call c = {.queries = prepared, .n = n, .radius = radius, .matches = b};
    if (!st) st = prepare_call(&p, &c, index, options);
    if (!st && n > 0 && index->ops->count(index) > 0) st = nearkit_search(index->ops->range_searcher, &c);
    release_call(&p);
    nearkit_index_unlock(index);
    free(owned);
    if (st) {
        nearkit_range_builder_free(b);
        return st;
    }
    return nearkit_range_builder_finish(out, b);
}

/* ---- introspection ----------------------------------------------------------------------------- */

NEARKIT_API nearkit_kind nearkit_index_kind(const nearkit_index *index) {
    return index ? index->ops->kind : 0;
}
NEARKIT_API nearkit_metric nearkit_index_metric(const nearkit_index *index) {
    return index ? index->metric : 0;
}
NEARKIT_API nearkit_vector_type nearkit_index_vector_type(const nearkit_index *index) {
    return index ? index->vector_type : 0;
}
NEARKIT_API uint32_t nearkit_index_dimension(const nearkit_index *index) {
    return index ? index->dimension : 0;
}
NEARKIT_API uint64_t nearkit_index_vector_bytes(const nearkit_index *index) {
    return index ? index->vector_bytes : 0;
}
NEARKIT_API uint64_t nearkit_index_count(const nearkit_index *index) {
    if (!index) return 0;
    nearkit_index_lock_read(index);
    uint64_t count = index->ops->count(index);
    nearkit_index_unlock(index);
    return count;
}

/* Lock held. */
static uint64_t memory_locked(const nearkit_index *ix) {
    uint64_t counts = ix->id_counts ? sizeof *ix->id_counts + nearkit_idmap_memory(ix->id_counts) : 0;
    return sizeof *ix + counts + ix->ops->memory(ix);
}

NEARKIT_API uint64_t nearkit_index_memory_bytes(const nearkit_index *index) {
    if (!index) return 0;
    nearkit_index_lock_read(index);
    uint64_t bytes = memory_locked(index);
    nearkit_index_unlock(index);
    return bytes;
}
NEARKIT_API int32_t nearkit_index_is_ready(const nearkit_index *index) {
    if (!index) return 0;
    nearkit_index_lock_read(index);
    int32_t ready = index->ops->is_ready(index) ? 1 : 0;
    nearkit_index_unlock(index);
    return ready;
}

NEARKIT_API nearkit_status nearkit_index_describe(char **out, const nearkit_index *index) {
    nearkit_clear_error();
    if (!out || !index) return invalid("NULL argument to describe");
    *out = NULL;
    nearkit_strbuf sb = {0};
    nearkit_index_lock_read(index);
    nearkit_strbuf_appendf(&sb, "%s%s index, metric %s, dimension %u%s, %llu vectors, %llu bytes\n",
                           index->is_view ? "read-only view of a " : "", index->ops->name, nearkit_metric_name(index->metric), index->dimension,
                           index->vector_type == NEARKIT_VECTOR_BINARY ? " bits" : "",
                           (unsigned long long)index->ops->count(index),
                           (unsigned long long)memory_locked(index));
    nearkit_strbuf_appendf(&sb, "parameters:");
    for (size_t i = 0; i < nearkit_index_param_count(index); i++) {
        double v = 0;
        if (param_value(&v, index, i)) continue;
        nearkit_strbuf_appendf(&sb, " %s=%g", param_desc(index, i)->name, v);
    }
    nearkit_strbuf_appendf(&sb, "\n");
    if (index->ops->describe) index->ops->describe(index, &sb);
    nearkit_index_unlock(index);
    if (sb.failed) {
        free(sb.data);
        return nearkit_oom();
    }
    *out = sb.data;
    return NEARKIT_OK;
}
