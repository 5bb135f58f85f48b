/* A recall-QPS sweep over an index's runtime setting: see sweep.h. */
#include "sweep.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "engine.h"

/* Finds the index's runtime setting that trades speed for recall (NEARKIT_PARAM_FLAG_RECALL, the
 * one nearkit_index_tune varies); `from_k`: values below k are pointless. 0 when found. */
static int find_setting(nearkit_param_info *info, int *from_k, const nearkit_index *index) {
    for (size_t i = 0, n = nearkit_index_param_count(index); i < n; ++i) {
        *info = (nearkit_param_info)NEARKIT_PARAM_INFO_INIT;
        if (nearkit_index_param_describe(info, index, i) != NEARKIT_OK || !info->name) continue;
        if (!(info->flags & NEARKIT_PARAM_FLAG_RECALL)) continue;
        *from_k = (info->flags & NEARKIT_PARAM_FLAG_FROM_K) != 0;
        return 0;
    }
    return -1;
}

int cli_parse_sweep(double *values, size_t *count, const char *text) {
    *count = 0;
    const char *p = text;
    while (*p) {
        char *end = NULL;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno != 0 || !(v > 0) || !isfinite(v) || (*end && *end != ','))
            return cli_error("--sweep must be positive numbers separated by commas, got '%s'",
                             text);
        if (*count == CLI_SWEEP_MAX_POINTS)
            return cli_error("--sweep takes at most %d values", CLI_SWEEP_MAX_POINTS);
        values[(*count)++] = v;
        p = *end ? end + 1 : end;
    }
    if (*count == 0) return cli_error("--sweep needs at least one value");
    return 0;
}

/* The default sweep's bounds: [first, last] of the setting for this index and k. */
static void default_bounds(double *first, double *last, const nearkit_param_info *info, int from_k,
                           const nearkit_index *index, uint64_t k) {
    double count = (double)nearkit_index_count(index), nlist = 0;
    *first = info->minimum > 1 ? info->minimum : 1;
    if (from_k && (double)k > *first) *first = (double)k;
    *last = info->maximum < count ? info->maximum : count;
    if (strcmp(info->name, "nprobe") == 0 && nearkit_index_get_param(&nlist, index, "nlist") ==
                                                 NEARKIT_OK && nlist >= 1 && nlist < *last)
        *last = nlist; /* past every list nothing widens */
    if (*first > *last) *first = *last;
}

/* One point: the searches at `value` of the setting (none when param is NULL), timed, scored. */
static int measure_point(cli_sweep_point *point, const char *param, double value,
                         const nearkit_index *index, const cli_vectors *queries, uint64_t k,
                         uint32_t threads, const cli_matrix *truth, int64_t *ids, float *dists) {
    nearkit_param_value pv = {param, value};
    point->value = value;
    if (cli_search_knn_with(ids, dists, &point->seconds, index, queries, k, threads,
                            param ? &pv : NULL) != 0 ||
        cli_recall_vs_truth(&point->recall, ids, queries->n, k, truth->data, truth->cols) != 0)
        return -1;
    point->qps = point->seconds > 0 ? (double)queries->n / point->seconds : 0.0;
    return 0;
}

/* The default sweep stops at this recall: past it only ties and duplicates in the ground truth
 * are left (Fashion-MNIST's duplicate images keep recall below 1 up to the whole count). */
#define STOP_RECALL 0.999

/* Measures the default sweep: doubling from first to last, stopping at STOP_RECALL. */
static int run_default(cli_sweep *out, double first, double last, const nearkit_index *index,
                       const cli_vectors *queries, uint64_t k, uint32_t threads,
                       const cli_matrix *truth, int64_t *ids, float *dists) {
    for (double v = first; out->count < CLI_SWEEP_MAX_POINTS; v = 2 * v < last ? 2 * v : last) {
        cli_sweep_point *p = &out->points[out->count];
        if (measure_point(p, out->param, v, index, queries, k, threads, truth, ids, dists) != 0)
            return -1;
        out->count++;
        if (p->recall >= STOP_RECALL || v >= last) break;
    }
    return 0;
}

int cli_run_sweep(cli_sweep *out, const nearkit_index *index, const cli_vectors *queries,
                  uint64_t k, uint32_t threads, const cli_matrix *truth, const double *values,
                  size_t count) {
    memset(out, 0, sizeof *out);
    nearkit_param_info info;
    int from_k = 0;
    int tunable = find_setting(&info, &from_k, index) == 0;
    if (!tunable && count > 0)
        return cli_error("--sweep: the %s index has no runtime setting to sweep (nprobe, "
                         "ef_search or search_k)",
                         nearkit_kind_name(nearkit_index_kind(index)));
    out->param = tunable ? info.name : NULL;
    size_t cells;
    int64_t *ids = NULL;
    float *dists = NULL;
    int rc = -1;
    if (cli_mul_size(&cells, queries->n, k) != 0 || !(ids = malloc(cells * sizeof *ids)) ||
        !(dists = malloc(cells * sizeof *dists))) {
        cli_error("out of memory for %llu x %llu results", (unsigned long long)queries->n,
                  (unsigned long long)k);
        goto done;
    }
    if (!tunable) { /* an exact kind (or one without a setting): one point */
        rc = measure_point(&out->points[0], NULL, 0, index, queries, k, threads, truth, ids, dists);
        out->count = rc == 0;
    } else if (count > 0) {
        for (rc = 0; rc == 0 && out->count < count; out->count++)
            rc = measure_point(&out->points[out->count], out->param, values[out->count], index,
                               queries, k, threads, truth, ids, dists);
    } else {
        double first, last;
        default_bounds(&first, &last, &info, from_k, index, k);
        rc = run_default(out, first, last, index, queries, k, threads, truth, ids, dists);
    }
done:
    free(ids);
    free(dists);
    return rc;
}
