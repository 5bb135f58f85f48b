#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "progress.h"

uint64_t cli_batch_size(uint64_t n) {
    if (!cli_progress_wanted()) return n ? n : 1;
    uint64_t b = n / 100;
    return b < 256 ? 256 : b;
}

static const char *kind_label(nearkit_kind kind) {
    const char *name = nearkit_kind_name(kind);
    return name ? name : "index";
}

/* Adds the base in chunks; trains on the whole base first when the kind refuses vectors before
 * training. */
static int add_all(nearkit_index *index, const cli_build_config *config, const cli_vectors *base,
                   cli_progress *bar) {
    nearkit_kind_info info;
    int needs_training =
        cli_kind_info(&info, config->kind) == 0 && (info.flags & NEARKIT_KIND_FLAG_NEEDS_TRAINING);
    uint64_t chunk = cli_batch_size(base->n);
    for (uint64_t off = 0; off < base->n; off += chunk) {
        uint64_t m = base->n - off < chunk ? base->n - off : chunk;
        const unsigned char *rows = (const unsigned char *)base->data + off * base->row_bytes;
        nearkit_status st = nearkit_index_add(index, base->type, rows, m, NULL);
        if (st == NEARKIT_ERR_STATE && off == 0 && needs_training) {
            cli_progress_status(bar, "training");
            st = nearkit_index_train(index, base->type, base->data, base->n);
            if (st != NEARKIT_OK)
                return cli_lib_error(st, "training the %s index failed", kind_label(config->kind));
            st = nearkit_index_add(index, base->type, rows, m, NULL);
        }
        if (st != NEARKIT_OK)
            return cli_lib_error(st, "adding vectors %llu..%llu to the %s index failed",
                                 (unsigned long long)off, (unsigned long long)(off + m - 1),
                                 kind_label(config->kind));
        cli_progress_update(bar, off + m);
    }
    return 0;
}

int cli_build_index(nearkit_index **out, double *seconds, const cli_build_config *config,
                    const cli_vectors *base) {
    *out = NULL;
    nearkit_index_options options;
    nearkit_index_options_init(&options);
    options.num_threads = config->threads;
    options.seed = config->seed;
    options.params = config->params;
    const char *metric = nearkit_metric_name(config->metric);
    double t0 = cli_now();
    nearkit_index *index = NULL;
    nearkit_status st =
        nearkit_index_create(&index, config->kind, config->metric, base->dimension, &options);
    if (st != NEARKIT_OK)
        return cli_lib_error(st, "cannot create a %s index (metric %s, dimension %lu)",
                             kind_label(config->kind), metric ? metric : "?",
                             (unsigned long)base->dimension);
    char label[64];
    snprintf(label, sizeof label, "adding to %s", kind_label(config->kind));
    cli_progress bar;
    cli_progress_start(&bar, label, base->n);
    if (add_all(index, config, base, &bar) != 0) goto fail;
    snprintf(label, sizeof label, "building %s", kind_label(config->kind));
    cli_progress_status(&bar, label);
    st = nearkit_index_build(index);
    if (st != NEARKIT_OK) {
        cli_lib_error(st, "building the %s index failed", kind_label(config->kind));
        goto fail;
    }
    cli_progress_finish(&bar);
    *seconds = cli_now() - t0;
    *out = index;
    return 0;
fail:
    cli_progress_finish(&bar);
    nearkit_index_free(index);
    return -1;
}

int cli_check_vectors(const nearkit_index *index, const cli_vectors *v, const char *what) {
    nearkit_vector_type type = nearkit_index_vector_type(index);
    uint32_t dim = nearkit_index_dimension(index);
    if (type != v->type)
        return cli_error("%s: the index holds %s vectors, these are %s", what,
                         type == NEARKIT_VECTOR_BINARY ? "binary" : "float32",
                         v->type == NEARKIT_VECTOR_BINARY ? "binary" : "float32");
    if (dim != v->dimension) {
        if (type == NEARKIT_VECTOR_BINARY)
            return cli_error("%s: dimension mismatch: the index has %lu bits (%lu bytes), these "
                             "vectors have %lu bits (%lu bytes)",
                             what, (unsigned long)dim, (unsigned long)(dim / 8),
                             (unsigned long)v->dimension, (unsigned long)(v->dimension / 8));
        return cli_error("%s: dimension mismatch: the index has dimension %lu, these vectors %lu",
                         what, (unsigned long)dim, (unsigned long)v->dimension);
    }
    return 0;
}

int cli_search_knn(int64_t *ids, float *distances, double *seconds, const nearkit_index *index,
                   const cli_vectors *queries, uint64_t k, uint32_t threads) {
    return cli_search_knn_with(ids, distances, seconds, index, queries, k, threads, NULL);
}

int cli_search_knn_with(int64_t *ids, float *distances, double *seconds,
                        const nearkit_index *index, const cli_vectors *queries, uint64_t k,
                        uint32_t threads, const nearkit_param_value *param) {
    nearkit_search_options options;
    nearkit_search_options_init(&options);
    options.num_threads = threads;
    options.params = param;
    options.n_params = param ? 1 : 0;
    char label[64];
    snprintf(label, sizeof label, "searching %s", kind_label(nearkit_index_kind(index)));
    cli_progress bar;
    cli_progress_start(&bar, label, queries->n);
    uint64_t batch = cli_batch_size(queries->n);
    double t0 = cli_now();
    for (uint64_t off = 0; off < queries->n; off += batch) {
        uint64_t m = queries->n - off < batch ? queries->n - off : batch;
        const unsigned char *rows = (const unsigned char *)queries->data + off * queries->row_bytes;
        nearkit_status st = nearkit_index_search(ids + off * k, distances + off * k, index,
                                                 queries->type, rows, m, k, &options);
        if (st != NEARKIT_OK) {
            cli_progress_finish(&bar);
            return cli_lib_error(st, "search failed (queries %llu..%llu)",
                                 (unsigned long long)off, (unsigned long long)(off + m - 1));
        }
        cli_progress_update(&bar, off + m);
    }
    *seconds = cli_now() - t0;
    cli_progress_finish(&bar);
    return 0;
}

double cli_recall_vs_exact(const int64_t *ids, const float *distances, const int64_t *exact_ids,
                           const float *exact_distances, uint64_t n, uint64_t k) {
    double sum = 0.0;
    uint64_t rows = 0;
    for (uint64_t q = 0; q < n; ++q) {
        const int64_t *eid = exact_ids + q * k, *aid = ids + q * k;
        const float *ed = exact_distances + q * k, *ad = distances + q * k;
        uint64_t valid = 0;
        while (valid < k && eid[valid] != -1) ++valid;
        if (valid == 0) continue;
        double dk = ed[valid - 1];
        double tol = 1e-5 + 1e-5 * fabs(dk);
        uint64_t hits = 0;
        for (uint64_t j = 0; j < k && hits < valid; ++j) {
            if (aid[j] == -1) continue;
            int found = (double)ad[j] <= dk + tol;
            for (uint64_t e = 0; e < valid && !found; ++e) found = eid[e] == aid[j];
            hits += (uint64_t)found;
        }
        sum += (double)hits / (double)valid;
        ++rows;
    }
    return rows ? sum / (double)rows : 1.0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int cli_recall_vs_truth(double *recall, const int64_t *ids, uint64_t n, uint64_t k,
                        const int32_t *truth, uint64_t truth_cols) {
    int64_t *row = malloc((size_t)k * sizeof *row);
    if (!row) return cli_error("out of memory");
    double sum = 0.0;
    uint64_t rows = 0;
    for (uint64_t q = 0; q < n; ++q) {
        uint64_t valid = 0;
        for (uint64_t j = 0; j < k; ++j)
            if (truth[q * truth_cols + j] >= 0) row[valid++] = truth[q * truth_cols + j];
        if (valid == 0) continue;
        qsort(row, (size_t)valid, sizeof *row, cmp_i64);
        uint64_t hits = 0;
        for (uint64_t j = 0; j < k; ++j) {
            int64_t id = ids[q * k + j];
            if (id < 0) continue;
            if (bsearch(&id, row, (size_t)valid, sizeof *row, cmp_i64)) ++hits;
        }
        sum += (double)(hits > valid ? valid : hits) / (double)valid;
        ++rows;
    }
    free(row);
    *recall = rows ? sum / (double)rows : 1.0;
    return 0;
}
