/* Versions, names of metrics and kinds, the registry of kinds, option defaults. */
#include "base/internal.h"

#include <math.h>
#include <string.h>
#include <strings.h>

NEARKIT_API const char *nearkit_version_string(void) { return NEARKIT_VERSION_STRING; }
NEARKIT_API uint32_t nearkit_version_number(void) { return NEARKIT_VERSION_NUMBER; }
NEARKIT_API uint32_t nearkit_abi_version(void) { return NEARKIT_ABI_VERSION; }

/* ---- metrics ----------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    nearkit_metric metric;
} metric_names[] = {
    {"l2", NEARKIT_METRIC_L2},           {"l1", NEARKIT_METRIC_L1},
    {"linf", NEARKIT_METRIC_LINF},       {"cosine", NEARKIT_METRIC_COSINE},
    {"ip", NEARKIT_METRIC_IP},           {"hamming", NEARKIT_METRIC_HAMMING},
    /* aliases, after the canonical names so nearkit_metric_name finds those first */
    {"euclidean", NEARKIT_METRIC_L2},    {"manhattan", NEARKIT_METRIC_L1},
    {"cityblock", NEARKIT_METRIC_L1},    {"chebyshev", NEARKIT_METRIC_LINF},
    {"inner_product", NEARKIT_METRIC_IP}, {"dot", NEARKIT_METRIC_IP},
};
#define N_METRIC_NAMES (sizeof metric_names / sizeof metric_names[0])

NEARKIT_API const char *nearkit_metric_name(nearkit_metric metric) {
    for (size_t i = 0; i < N_METRIC_NAMES; i++)
        if (metric_names[i].metric == metric) return metric_names[i].name;
    return NULL;
}

NEARKIT_API nearkit_status nearkit_metric_from_name(nearkit_metric *out, const char *name) {
    nearkit_clear_error();
    if (!out || !name) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "metric name is NULL");
    for (size_t i = 0; i < N_METRIC_NAMES; i++) {
        if (strcasecmp(metric_names[i].name, name) == 0) {
            *out = metric_names[i].metric;
            return NEARKIT_OK;
        }
    }
    return nearkit_set_error(NEARKIT_ERR_NOT_FOUND,
                             "unknown metric '%.64s' (expected l2, l1, linf, cosine, ip or hamming)",
                             name);
}

/* ---- kinds ------------------------------------------------------------------------------------- */

/* The compressed IVF kinds (kinds/ivf.c). */
extern const nearkit_index_ops nearkit_ivf_fp16_ops, nearkit_ivf_bf16_ops, nearkit_ivf_sq8_ops,
    nearkit_ivf_sq4_ops, nearkit_ivf_pq_ops, nearkit_ivf_rabitq_ops;
/* The coded hnsw kinds (kinds/hnsw.c). */
extern const nearkit_index_ops nearkit_hnsw_sq8_ops, nearkit_hnsw_fp16_ops, nearkit_hnsw_bf16_ops,
    nearkit_hnsw_sq4_ops;
/* Brute force over codes: the IVF family with one list (kinds/ivf.c). */
extern const nearkit_index_ops nearkit_flat_fp16_ops, nearkit_flat_bf16_ops, nearkit_flat_sq8_ops,
    nearkit_flat_sq4_ops, nearkit_flat_pq_ops;

/* Every kind compiled in; a new kind is one line here. */
static const nearkit_index_ops *const kinds[] = {
    &nearkit_flat_ops,
    &nearkit_vptree_ops,
    &nearkit_bktree_ops,
    &nearkit_mih_ops,
    &nearkit_ivf_binary_ops,
    &nearkit_ivf_flat_ops,
    &nearkit_hnsw_ops,
    &nearkit_ivf_fp16_ops,
    &nearkit_ivf_bf16_ops,
    &nearkit_ivf_sq8_ops,
    &nearkit_ivf_sq4_ops,
    &nearkit_ivf_pq_ops,
    &nearkit_hnsw_sq8_ops,
    &nearkit_hnsw_fp16_ops,
    &nearkit_hnsw_bf16_ops,
    &nearkit_hnsw_sq4_ops,
    &nearkit_flat_fp16_ops,
    &nearkit_flat_bf16_ops,
    &nearkit_flat_sq8_ops,
    &nearkit_flat_sq4_ops,
    &nearkit_flat_pq_ops,
    &nearkit_ivf_rabitq_ops,
    &nearkit_rpforest_ops,
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

const nearkit_index_ops *nearkit_find_kind(nearkit_kind kind) {
    for (size_t i = 0; i < N_KINDS; i++)
        if (kinds[i]->kind == kind) return kinds[i];
    return NULL;
}

NEARKIT_API size_t nearkit_kind_count(void) { return N_KINDS; }

NEARKIT_API nearkit_status nearkit_kind_get_info(nearkit_kind_info *out, size_t i) {
    nearkit_clear_error();
    if (!out) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "kind info is NULL");
    if (out->struct_size < offsetof(nearkit_kind_info, name) + sizeof out->name)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "kind info struct_size %u is too small", out->struct_size);
    if (i >= N_KINDS)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "kind index %zu out of range (%zu kinds)",
                                 i, (size_t)N_KINDS);
    nearkit_kind_info info = {
        .struct_size = out->struct_size,
        .kind = kinds[i]->kind,
        .name = kinds[i]->name,
        .flags = kinds[i]->flags,
        .metric_mask = kinds[i]->metric_mask,
        .description = kinds[i]->description,
    };
    size_t n = out->struct_size < sizeof info ? out->struct_size : sizeof info;
    memcpy(out, &info, n);
    return NEARKIT_OK;
}

NEARKIT_API nearkit_status nearkit_kind_from_name(nearkit_kind *out, const char *name) {
    nearkit_clear_error();
    if (!out || !name) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "kind name is NULL");
    for (size_t i = 0; i < N_KINDS; i++) {
        if (strcasecmp(kinds[i]->name, name) == 0) {
            *out = kinds[i]->kind;
            return NEARKIT_OK;
        }
    }
    return nearkit_set_error(NEARKIT_ERR_NOT_FOUND, "unknown index kind '%.64s'", name);
}

NEARKIT_API const char *nearkit_kind_name(nearkit_kind kind) {
    const nearkit_index_ops *ops = nearkit_find_kind(kind);
    return ops ? ops->name : NULL;
}

/* ---- option defaults --------------------------------------------------------------------------- */

NEARKIT_API nearkit_status nearkit_index_options_init(nearkit_index_options *options) {
    nearkit_clear_error();
    if (!options) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "options is NULL");
    const nearkit_index_options defaults = NEARKIT_INDEX_OPTIONS_INIT;
    *options = defaults;
    return NEARKIT_OK;
}

NEARKIT_API nearkit_status nearkit_search_options_init(nearkit_search_options *options) {
    nearkit_clear_error();
    if (!options) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "options is NULL");
    const nearkit_search_options defaults = NEARKIT_SEARCH_OPTIONS_INIT;
    *options = defaults;
    return NEARKIT_OK;
}
