/* The generic index API: argument checks, vector preparation, parameters, dispatch to kinds. */
#include "base/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FLOAT_DIMENSION (1u << 20)
#define MAX_BINARY_BITS (1u << 20)

/* ---- helpers ----------------------------------------------------------------------------------- */

static nearkit_status invalid(const char *what) {
    return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "%s", what);
}

static nearkit_status check_type(const nearkit_index *ix, nearkit_vector_type type) {
    if (type == ix->vector_type) return NEARKIT_OK;
    if (type != NEARKIT_VECTOR_FLOAT32 && type != NEARKIT_VECTOR_BINARY)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "unknown vector type %d", type);
    return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                             "this %s index takes %s vectors, not %s", nearkit_metric_name(ix->metric),
                             ix->vector_type == NEARKIT_VECTOR_BINARY ? "binary (packed uint8)" : "float32",
                             type == NEARKIT_VECTOR_BINARY ? "binary" : "float32");
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

uint64_t nearkit_first_unusable_value(const float *v, uint64_t total) {
    for (uint64_t i = 0; i < total; i++)
        if (!(fabsf(v[i]) <= NEARKIT_MAX_ABS_VALUE)) return i; /* NaN fails the test too */
    return total;
}

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

/* Cosine vectors as add stores them have length 1 (normalised in double, each value rounded once
 * to float: the squared length is off by at most about 2^-23) or 0 (a zero input). A loaded
 * file's may be off by this much in the squared length, which keeps distances within about 1e-4
 * of [0, 2], and files written by normalisers summing in float at any dimension pass. */
#define COSINE_SQUARED_LENGTH_TOLERANCE 1e-4

nearkit_status nearkit_check_loaded_floats(const nearkit_index *ix, const float *v, uint64_t n,
                                           const char *what) {
    size_t d = ix->dimension;
    uint64_t total = n * d, i = nearkit_first_unusable_value(v, total);
    if (i < total)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: %s %llu holds %g at position %llu, not a finite value "
                                 "within +-2^50 (NEARKIT_MAX_ABS_VALUE)",
                                 what, (unsigned long long)(i / d), (double)v[i],
                                 (unsigned long long)(i % d));
    if (ix->metric != NEARKIT_METRIC_COSINE) return NEARKIT_OK;
    for (uint64_t row = 0; row < n; row++) {
        double sq = 0;
        for (size_t j = 0; j < d; j++) sq += (double)v[row * d + j] * v[row * d + j];
        if (sq != 0 && !(fabs(sq - 1.0) <= COSINE_SQUARED_LENGTH_TOLERANCE))
            return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                     "corrupt index: %s %llu of a cosine index has length %g, not 1 "
                                     "(nor 0): cosine vectors are stored normalised",
                                     what, (unsigned long long)row, sqrt(sq));
    }
    return NEARKIT_OK;
}

/* For cosine, a unit-length copy of the vectors (zero vectors stay zero); else the input itself.
 * *owned receives what the caller frees. */
static nearkit_status prepare_vectors(const void **prepared, void **owned, const nearkit_index *ix,
                                      const void *vectors, uint64_t n) {
    *owned = NULL;
    *prepared = vectors;
    if (ix->metric != NEARKIT_METRIC_COSINE || n == 0) return NEARKIT_OK;
    size_t d = ix->dimension;
    if (n > SIZE_MAX / d) return nearkit_oom();
    float *copy = nearkit_alloc_array((size_t)n * d, sizeof(float));
    if (!copy) return nearkit_oom();
    const float *in = vectors;
    for (uint64_t i = 0; i < n; i++) {
        double norm = 0;
        for (size_t j = 0; j < d; j++) norm += (double)in[i * d + j] * in[i * d + j];
        double scale = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
        for (size_t j = 0; j < d; j++) copy[i * d + j] = (float)(in[i * d + j] * scale);
    }
    *owned = copy;
    *prepared = copy;
    return NEARKIT_OK;
}

/* Checks a batch of n input vectors and returns them prepared for the kind. */
static nearkit_status accept_vectors(const void **prepared, void **owned, const nearkit_index *ix,
                                     nearkit_vector_type type, const void *vectors, uint64_t n,
                                     const char *what) {
    *owned = NULL;
    *prepared = NULL;
    nearkit_status st = check_type(ix, type);
    if (st) return st;
    if (n > 0 && !vectors) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "%ss are NULL", what);
    if (n > UINT64_MAX / ix->vector_bytes || n * ix->vector_bytes > (uint64_t)PTRDIFF_MAX)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "%llu %ss is more than memory holds",
                                 (unsigned long long)n, what);
    st = check_finite(ix, vectors, n, what);
    if (st) return st;
    return prepare_vectors(prepared, owned, ix, vectors, n);
}

static uint32_t search_threads(const nearkit_index *ix, const nearkit_search_options *options) {
    uint32_t requested = ix->num_threads;
    if (options && options->struct_size >= offsetof(nearkit_search_options, num_threads) + 4 &&
        options->num_threads != 0)
        requested = options->num_threads;
    return nearkit_resolve_threads(requested);
}

static nearkit_status check_search_options(const nearkit_search_options *options) {
    if (options && options->struct_size < sizeof(uint32_t))
        return invalid("search options struct_size is too small");
    return NEARKIT_OK;
}

static nearkit_status check_ready(const nearkit_index *ix) {
    if (ix->ops->is_ready(ix)) return NEARKIT_OK;
    return nearkit_set_error(NEARKIT_ERR_STATE, "the %s index is not ready: %s", ix->ops->name,
                             (ix->ops->flags & NEARKIT_KIND_FLAG_NEEDS_TRAINING)
                                 ? "train it (or add vectors and call build) first"
                                 : "call build after adding vectors");
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

NEARKIT_API nearkit_status nearkit_index_get_param(double *value, const nearkit_index *index,
                                                   const char *name) {
    nearkit_clear_error();
    if (!value || !index || !name) return invalid("NULL argument to get_param");
    size_t i;
    if (!find_param(&i, index, name))
        return nearkit_set_error(NEARKIT_ERR_NOT_FOUND, "the %s index has no parameter '%.64s'",
                                 index->ops->name, name);
    if (i < GENERIC_PARAMS) {
        *value = index->num_threads;
        return NEARKIT_OK;
    }
    return index->ops->get_param(index, i - GENERIC_PARAMS, value);
}

NEARKIT_API nearkit_status nearkit_index_set_param(nearkit_index *index, const char *name,
                                                   double value) {
    nearkit_clear_error();
    if (!index || !name) return invalid("NULL argument to set_param");
    size_t i;
    if (!find_param(&i, index, name))
        return nearkit_set_error(NEARKIT_ERR_NOT_FOUND, "the %s index has no parameter '%.64s'",
                                 index->ops->name, name);
    const nearkit_param_desc *p = param_desc(index, i);
    if (p->flags & NEARKIT_PARAM_FLAG_READ_ONLY)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "parameter '%s' is read-only", name);
    if (isnan(value) || value < p->min || value > p->max)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "parameter '%s' must lie in [%g, %g], got %g", name, p->min, p->max,
                                 value);
    if ((p->flags & NEARKIT_PARAM_FLAG_INTEGER) && value != floor(value))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "parameter '%s' must be an integer, got %g",
                                 name, value);
    if ((p->flags & NEARKIT_PARAM_FLAG_BUILD) && index->ops->count(index) > 0)
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "parameter '%s' can only be set before vectors are added", name);
    if (i < GENERIC_PARAMS) {
        index->num_threads = (uint32_t)value;
        return NEARKIT_OK;
    }
    return index->ops->set_param(index, i - GENERIC_PARAMS, value);
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
    st = ops->create(ix);
    if (st) {
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
    free(index);
}

/* ---- adding, training, building ---------------------------------------------------------------- */

NEARKIT_API nearkit_status nearkit_index_add(nearkit_index *index, nearkit_vector_type type,
                                             const void *vectors, uint64_t n, const int64_t *ids) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    const void *prepared;
    void *owned;
    nearkit_status st = accept_vectors(&prepared, &owned, index, type, vectors, n, "vector");
    if (st || n == 0) return st;
    if (ids) {
        for (uint64_t i = 0; i < n; i++)
            if (ids[i] == -1) {
                free(owned);
                return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                         "id -1 (at position %llu) is reserved for 'no neighbour'",
                                         (unsigned long long)i);
            }
    }
    st = index->ops->add(index, prepared, n, ids);
    free(owned);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_train(nearkit_index *index, nearkit_vector_type type,
                                               const void *vectors, uint64_t n) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    if (!index->ops->train) return check_type(index, type);
    const void *prepared;
    void *owned;
    nearkit_status st = accept_vectors(&prepared, &owned, index, type, vectors, n, "training vector");
    if (st) return st;
    if (n == 0) return invalid("training needs at least one vector");
    st = index->ops->train(index, prepared, n);
    free(owned);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_build(nearkit_index *index) {
    nearkit_clear_error();
    if (!index) return invalid("index is NULL");
    return index->ops->build ? index->ops->build(index) : NEARKIT_OK;
}

/* ---- searching --------------------------------------------------------------------------------- */

static void pad_rows(int64_t *ids, float *dist, uint64_t n, uint64_t k, uint64_t from) {
    for (uint64_t q = 0; q < n; q++)
        for (uint64_t j = from; j < k; j++) {
            ids[q * k + j] = -1;
            dist[q * k + j] = INFINITY;
        }
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
    nearkit_status st = check_search_options(options);
    if (st) return st;
    const void *prepared;
    void *owned;
    st = accept_vectors(&prepared, &owned, index, type, queries, n, "query");
    if (st || n == 0) return st;
    st = check_ready(index);
    uint64_t count = index->ops->count(index);
    uint64_t k_found = k < count ? k : count;
    if (!st && k_found > 0)
        st = index->ops->search(index, prepared, n, k_found, ids, distances, k,
                                search_threads(index, options));
    if (!st) pad_rows(ids, distances, n, k, k_found);
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
    nearkit_status st = check_search_options(options);
    if (st) return st;
    const void *prepared;
    void *owned;
    st = accept_vectors(&prepared, &owned, index, type, queries, n, "query");
    if (st) return st;
    if (n > 0) st = check_ready(index);
    nearkit_range_builder *b = NULL;
    if (!st && !(b = nearkit_range_builder_new(n))) st = nearkit_oom();
    if (!st && n > 0 && index->ops->count(index) > 0)
        st = index->ops->range_search(index, prepared, n, radius, b, search_threads(index, options));
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
    return index ? index->ops->count(index) : 0;
}
NEARKIT_API uint64_t nearkit_index_memory_bytes(const nearkit_index *index) {
    return index ? sizeof *index + index->ops->memory(index) : 0;
}
NEARKIT_API int32_t nearkit_index_is_ready(const nearkit_index *index) {
    return index && index->ops->is_ready(index) ? 1 : 0;
}

NEARKIT_API nearkit_status nearkit_index_describe(char **out, const nearkit_index *index) {
    nearkit_clear_error();
    if (!out || !index) return invalid("NULL argument to describe");
    *out = NULL;
    nearkit_strbuf sb = {0};
    nearkit_strbuf_appendf(&sb, "%s index, metric %s, dimension %u%s, %llu vectors, %llu bytes\n",
                           index->ops->name, nearkit_metric_name(index->metric), index->dimension,
                           index->vector_type == NEARKIT_VECTOR_BINARY ? " bits" : "",
                           (unsigned long long)nearkit_index_count(index),
                           (unsigned long long)nearkit_index_memory_bytes(index));
    nearkit_strbuf_appendf(&sb, "parameters:");
    for (size_t i = 0; i < nearkit_index_param_count(index); i++) {
        double v = 0;
        const nearkit_param_desc *p = param_desc(index, i);
        if (i < GENERIC_PARAMS) v = index->num_threads;
        else if (index->ops->get_param(index, i - GENERIC_PARAMS, &v)) continue;
        nearkit_strbuf_appendf(&sb, " %s=%g", p->name, v);
    }
    nearkit_strbuf_appendf(&sb, "\n");
    if (index->ops->describe) index->ops->describe(index, &sb);
    if (sb.failed) {
        free(sb.data);
        return nearkit_oom();
    }
    *out = sb.data;
    return NEARKIT_OK;
}
