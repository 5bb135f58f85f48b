/* nearkit bench: build an index on a base file, search it, measure speed and recall. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annfile.h"
#include "commands.h"
#include "common.h"
#include "engine.h"
#include "readers.h"
#include "sweep.h"

#define MAX_K (1u << 16)

static const char usage[] =
    "usage: nearkit bench --metric M [--kind K] [--params P] [--k K] [--threads T] [--seed S]\n"
    "                     [--machine] BASE QUERIES [GROUNDTRUTH]\n"
    "       nearkit bench [--kind K] [--params P] [--sweep V,V,...] [--k K] [--threads T]\n"
    "                     [--seed S] [--machine] DATASET.hdf5\n"
    "\n"
    "Builds an index of kind K on BASE, searches it with QUERIES and reports the build time,\n"
    "memory, queries per second and recall@K. Recall is measured against GROUNDTRUTH (.ivecs\n"
    "or an int32/int64 .npy: the true neighbour ids of each query, nearest first) or, when none\n"
    "is given, against an exact flat index computed on the fly (a result at the same distance\n"
    "as the K-th true neighbour then counts as found).\n"
    "\n"
    "Given an ann-benchmarks DATASET.hdf5 alone, builds on its 'train' vectors with the metric\n"
    "its 'distance' attribute names, then searches its 'test' queries at each value of the\n"
    "kind's runtime setting (nprobe for the ivf kinds, ef_search for hnsw, search_k for\n"
    "rpforest; by default doubling from the smallest useful value until recall reaches 0.999)\n"
    "and prints recall@K against its 'neighbors' and QPS per value: the curve ann-benchmarks\n"
    "plots. Use --threads 1 to measure as ann-benchmarks does.\n"
    "\n"
    "  --kind K      index kind (default flat)\n"
    "  --metric M    l2, l1, linf, cosine, ip, or hamming\n"
    "  --params P    build parameters, e.g. \"nlist=1024,nprobe=8\"\n"
    "  --k K         neighbours per query (default 10)\n"
    "  --threads T   threads (default 0 = every core)\n"
    "  --seed S      seed of randomised builds (default 42)\n"
    "  --sweep V,..  values of the runtime setting to measure (DATASET.hdf5 only)\n"
    "  --machine     print name=value lines instead of the table\n";

typedef struct bench_args {
    const char *kind, *metric, *params, *k, *threads, *seed, *sweep;
    int machine;
} bench_args;

typedef struct bench_result {
    cli_build_config config;
    uint64_t k;
    double build_seconds, search_seconds;
    uint64_t memory;
    double recall;
    const char *reference; /* "groundtruth", "flat" (or another exact kind's name), "none" */
} bench_result;

/* Finds the exact kind to compare with: flat, else any exact kind with the metric. */
static int reference_kind(nearkit_kind *out, nearkit_metric metric) {
    nearkit_kind_info info;
    if (cli_kind_info(&info, NEARKIT_KIND_FLAT) == 0 && (info.metric_mask & (1u << metric))) {
        *out = NEARKIT_KIND_FLAT;
        return 0;
    }
    for (size_t i = 0, n = nearkit_kind_count(); i < n; ++i) {
        info.struct_size = (uint32_t)sizeof info;
        if (nearkit_kind_get_info(&info, i) == NEARKIT_OK &&
            (info.flags & NEARKIT_KIND_FLAG_EXACT) && (info.metric_mask & (1u << metric))) {
            *out = info.kind;
            return 0;
        }
    }
    return -1;
}

/* Recall against an exact index built on the fly. */
static int recall_vs_exact_index(bench_result *r, const cli_vectors *base,
                                 const cli_vectors *queries, const int64_t *ids,
                                 const float *dists) {
    nearkit_kind ref;
    if (reference_kind(&ref, r->config.metric) != 0) {
        r->reference = "none";
        r->recall = -1.0;
        return 0;
    }
    r->reference = nearkit_kind_name(ref);
    if (ref == r->config.kind) { /* the index is itself the reference */
        r->recall = 1.0;
        return 0;
    }
    cli_build_config config = r->config;
    config.kind = ref;
    config.params = NULL;
    size_t cells = (size_t)(queries->n * r->k);
    int64_t *eids = malloc(cells * sizeof *eids);
    float *edists = malloc(cells * sizeof *edists);
    nearkit_index *exact = NULL;
    double seconds;
    int rc = -1;
    if (!eids || !edists) {
        cli_error("out of memory");
        goto done;
    }
    if (cli_build_index(&exact, &seconds, &config, base) != 0 ||
        cli_search_knn(eids, edists, &seconds, exact, queries, r->k, r->config.threads) != 0)
        goto done;
    r->recall = cli_recall_vs_exact(ids, dists, eids, edists, queries->n, r->k);
    rc = 0;
done:
    nearkit_index_free(exact);
    free(eids);
    free(edists);
    return rc;
}

static int read_truth(cli_matrix *truth, const char *path, uint64_t queries, uint64_t k) {
    if (cli_read_matrix(truth, path) != 0) return -1;
    if (truth->elem != CLI_ELEM_I32)
        return cli_error("%s: ground truth must hold int32 ids (.ivecs or an integer .npy), not "
                         "%s",
                         path, cli_elem_name(truth->elem));
    if (truth->rows != queries)
        return cli_error("%s: ground truth has %llu rows for %llu queries", path,
                         (unsigned long long)truth->rows, (unsigned long long)queries);
    if (truth->cols < k)
        return cli_error("%s: ground truth has %llu neighbours per query, fewer than k = %llu",
                         path, (unsigned long long)truth->cols, (unsigned long long)k);
    return 0;
}

/* The build's side of the report (what was built, on what, at what cost), as name=value lines
 * or the table's first lines. */
static void print_setup(const bench_result *r, const cli_vectors *base, const cli_vectors *queries,
                        int machine) {
    const char *kind = nearkit_kind_name(r->config.kind);
    const char *metric = nearkit_metric_name(r->config.metric);
    const char *vt = base->type == NEARKIT_VECTOR_BINARY ? "binary" : "float32";
    if (machine) {
        printf("kind=%s\nmetric=%s\nparams=%s\nvector_type=%s\ncount=%llu\ndimension=%lu\n"
               "queries=%llu\nk=%llu\nthreads=%lu\nbuild_seconds=%.6f\nmemory_bytes=%llu\n",
               kind, metric, r->config.params ? r->config.params : "", vt,
               (unsigned long long)base->n, (unsigned long)base->dimension,
               (unsigned long long)queries->n, (unsigned long long)r->k,
               (unsigned long)r->config.threads, r->build_seconds, (unsigned long long)r->memory);
        return;
    }
    char mem[32];
    printf("kind          %s\n", kind);
    printf("metric        %s\n", metric);
    if (r->config.params && *r->config.params) printf("params        %s\n", r->config.params);
    printf("base          %llu x %lu %s%s\n", (unsigned long long)base->n,
           (unsigned long)base->dimension, vt, base->type == NEARKIT_VECTOR_BINARY ? " bits" : "");
    printf("queries       %llu\n", (unsigned long long)queries->n);
    printf("threads       %lu%s\n", (unsigned long)r->config.threads,
           r->config.threads ? "" : " (every core)");
    printf("build time    %.3f s\n", r->build_seconds);
    printf("memory        %s\n", cli_format_bytes(mem, sizeof mem, r->memory));
}

static void print_result(const bench_result *r, const cli_vectors *base,
                         const cli_vectors *queries, int machine) {
    double qps = r->search_seconds > 0 ? (double)queries->n / r->search_seconds : 0.0;
    print_setup(r, base, queries, machine);
    if (machine) {
        printf("search_seconds=%.6f\nqps=%.1f\n", r->search_seconds, qps);
        if (r->recall >= 0) printf("recall=%.6f\n", r->recall);
        else printf("recall=\n");
        printf("recall_reference=%s\n", r->reference);
        return;
    }
    printf("search time   %.3f s\n", r->search_seconds);
    printf("QPS           %.0f\n", qps);
    if (r->recall >= 0)
        printf("recall@%-6llu %.4f (against %s)\n", (unsigned long long)r->k, r->recall,
               strcmp(r->reference, "groundtruth") == 0 ? "the ground truth" : r->reference);
    else
        printf("recall@%-6llu n/a (no exact kind for this metric)\n", (unsigned long long)r->k);
}

/* ---- ann-benchmarks dataset files ---------------------------------------------------------------- */

typedef struct dataset_input {
    cli_vectors train, test;
    cli_matrix neighbors;
} dataset_input;

static void free_dataset(dataset_input *d) {
    cli_vectors_free(&d->train);
    cli_vectors_free(&d->test);
    cli_matrix_free(&d->neighbors);
}

/* Reads the file's train and test vectors for the metric and its neighbors (k at least). */
static int read_dataset(dataset_input *d, const char *path, nearkit_metric metric, uint64_t k) {
    nearkit_vector_type type = cli_metric_vector_type(metric);
    if (cli_hdf5_read_vectors(&d->train, path, "train", type) != 0 ||
        cli_hdf5_read_vectors(&d->test, path, "test", type) != 0)
        return -1;
    if (d->test.dimension != d->train.dimension)
        return cli_error("%s: 'test' has dimension %lu, 'train' %lu", path,
                         (unsigned long)d->test.dimension, (unsigned long)d->train.dimension);
    return cli_hdf5_read_neighbors(&d->neighbors, path, d->test.n, k, d->train.n);
}

static void print_sweep(const bench_result *r, const cli_sweep *s, const dataset_input *d,
                        const char *path, int machine) {
    const char *param = s->param ? s->param : "none";
    if (machine) printf("dataset=%s\n", path);
    else printf("dataset       %s\n", path);
    print_setup(r, &d->train, &d->test, machine);
    if (machine) {
        printf("param=%s\npoints=%zu\n", param, s->count);
        for (size_t i = 0; i < s->count; ++i)
            printf("point.%zu.value=%.17g\npoint.%zu.recall=%.6f\npoint.%zu.qps=%.1f\n", i,
                   s->points[i].value, i, s->points[i].recall, i, s->points[i].qps);
        return;
    }
    printf("\n%-12s recall@%-6llu %12s\n", param, (unsigned long long)r->k, "QPS");
    for (size_t i = 0; i < s->count; ++i) {
        if (s->param) printf("%-12.10g", s->points[i].value);
        else printf("%-12s", "(exact)");
        printf(" %13.4f %12.0f\n", s->points[i].recall, s->points[i].qps);
    }
}

/* nearkit bench DATASET.hdf5: build on train, sweep the runtime setting over test. */
static int bench_dataset(const bench_args *a, bench_result *r, const char *path) {
    double values[CLI_SWEEP_MAX_POINTS];
    size_t count = 0;
    if (a->sweep && cli_parse_sweep(values, &count, a->sweep) != 0) return CLI_EXIT_USAGE;
    if (cli_hdf5_metric(&r->config.metric, path, a->metric) != 0) return CLI_EXIT_FAILURE;
    if (cli_check_kind_metric(r->config.kind, r->config.metric) != 0) return CLI_EXIT_USAGE;
    dataset_input d;
    memset(&d, 0, sizeof d);
    nearkit_index *index = NULL;
    cli_sweep sweep;
    int rc = CLI_EXIT_FAILURE;
    if (read_dataset(&d, path, r->config.metric, r->k) != 0 ||
        cli_build_index(&index, &r->build_seconds, &r->config, &d.train) != 0)
        goto done;
    r->memory = nearkit_index_memory_bytes(index);
    if (cli_run_sweep(&sweep, index, &d.test, r->k, r->config.threads, &d.neighbors, values,
                      count) != 0)
        goto done;
    print_sweep(r, &sweep, &d, path, a->machine);
    rc = CLI_EXIT_OK;
done:
    nearkit_index_free(index);
    free_dataset(&d);
    return rc;
}

static int parse_args(int argc, char **argv, bench_args *a, bench_result *r, const char **pos,
                      size_t *npos) {
    const cli_option options[] = {
        {"kind", &a->kind, NULL},   {"metric", &a->metric, NULL},   {"params", &a->params, NULL},
        {"k", &a->k, NULL},         {"threads", &a->threads, NULL}, {"seed", &a->seed, NULL},
        {"machine", NULL, &a->machine}, {"sweep", &a->sweep, NULL},
    };
    if (cli_parse_options(argc, argv, options, sizeof options / sizeof options[0], pos, 3, npos))
        return -1;
    int dataset = *npos == 1 && cli_is_hdf5_path(pos[0]);
    if (*npos < 2 && !dataset)
        return cli_error("bench needs BASE and QUERIES, or one .hdf5 dataset file (see 'nearkit "
                         "bench --help')");
    if (a->sweep && !dataset) return cli_error("--sweep needs a .hdf5 dataset file alone");
    if (!a->metric && !dataset)
        return cli_error("bench needs --metric (l2, l1, linf, cosine, ip or hamming)");
    r->config.params = a->params;
    if (cli_kind_from_name(&r->config.kind, a->kind) ||
        (!dataset && cli_metric_from_name(&r->config.metric, a->metric)) ||
        cli_parse_u64(&r->k, a->k, "--k", 1, MAX_K) ||
        cli_parse_u32(&r->config.threads, a->threads, "--threads", 0, 1u << 16) ||
        cli_parse_u64(&r->config.seed, a->seed, "--seed", 0, UINT64_MAX))
        return -1;
    return dataset ? 0 : cli_check_kind_metric(r->config.kind, r->config.metric);
}

int cmd_bench(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        fputs(cli_formats_help, stdout);
        return CLI_EXIT_OK;
    }
    bench_args a = {"flat", NULL, NULL, "10", "0", "42", NULL, 0};
    bench_result r;
    memset(&r, 0, sizeof r);
    const char *pos[3];
    size_t npos = 0;
    if (parse_args(argc, argv, &a, &r, pos, &npos) != 0) return CLI_EXIT_USAGE;
    if (npos == 1) return bench_dataset(&a, &r, pos[0]);

    int rc = CLI_EXIT_FAILURE;
    nearkit_vector_type type = cli_metric_vector_type(r.config.metric);
    cli_vectors base = {0}, queries = {0};
    cli_matrix truth = {0};
    nearkit_index *index = NULL;
    int64_t *ids = NULL;
    float *dists = NULL;
    if (cli_read_vectors(&base, pos[0], type) != 0 || cli_read_vectors(&queries, pos[1], type) != 0)
        goto done;
    if (queries.dimension != base.dimension) {
        cli_error("%s: dimension mismatch: base has %lu, queries %lu", pos[1],
                  (unsigned long)base.dimension, (unsigned long)queries.dimension);
        goto done;
    }
    if (npos == 3 && read_truth(&truth, pos[2], queries.n, r.k) != 0) goto done;
    size_t cells;
    if (cli_mul_size(&cells, queries.n, r.k) != 0 || !(ids = malloc(cells * sizeof *ids)) ||
        !(dists = malloc(cells * sizeof *dists))) {
        cli_error("out of memory for %llu x %llu results", (unsigned long long)queries.n,
                  (unsigned long long)r.k);
        goto done;
    }
    if (cli_build_index(&index, &r.build_seconds, &r.config, &base) != 0) goto done;
    r.memory = nearkit_index_memory_bytes(index);
    if (cli_search_knn(ids, dists, &r.search_seconds, index, &queries, r.k, r.config.threads))
        goto done;
    nearkit_index_free(index);
    index = NULL;
    if (npos == 3) {
        r.reference = "groundtruth";
        if (cli_recall_vs_truth(&r.recall, ids, queries.n, r.k, truth.data, truth.cols) != 0)
            goto done;
    } else if (recall_vs_exact_index(&r, &base, &queries, ids, dists) != 0) {
        goto done;
    }
    print_result(&r, &base, &queries, a.machine);
    rc = CLI_EXIT_OK;
done:
    nearkit_index_free(index);
    free(ids);
    free(dists);
    cli_matrix_free(&truth);
    cli_vectors_free(&base);
    cli_vectors_free(&queries);
    return rc;
}
