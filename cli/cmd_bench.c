/* nearkit bench: build an index on a base file, search it, measure speed and recall. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "engine.h"
#include "readers.h"

#define MAX_K (1u << 16)

static const char usage[] =
    "usage: nearkit bench --metric M [--kind K] [--params P] [--k K] [--threads T] [--seed S]\n"
    "                     [--machine] BASE QUERIES [GROUNDTRUTH]\n"
    "\n"
    "Builds an index of kind K on BASE, searches it with QUERIES and reports the build time,\n"
    "memory, queries per second and recall@K. Recall is measured against GROUNDTRUTH (.ivecs\n"
    "or an int32/int64 .npy: the true neighbour ids of each query, nearest first) or, when none\n"
    "is given, against an exact flat index computed on the fly (a result at the same distance\n"
    "as the K-th true neighbour then counts as found).\n"
    "\n"
    "  --kind K      index kind (default flat)\n"
    "  --metric M    l2, l1, linf, cosine, ip, or hamming\n"
    "  --params P    build parameters, e.g. \"nlist=1024,nprobe=8\"\n"
    "  --k K         neighbours per query (default 10)\n"
    "  --threads T   threads (default 0 = every core)\n"
    "  --seed S      seed of randomised builds (default 42)\n"
    "  --machine     print name=value lines instead of the table\n";

typedef struct bench_args {
    const char *kind, *metric, *params, *k, *threads, *seed;
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

static void print_result(const bench_result *r, const cli_vectors *base,
                         const cli_vectors *queries, int machine) {
    double qps = r->search_seconds > 0 ? (double)queries->n / r->search_seconds : 0.0;
    const char *kind = nearkit_kind_name(r->config.kind);
    const char *metric = nearkit_metric_name(r->config.metric);
    const char *vt = base->type == NEARKIT_VECTOR_BINARY ? "binary" : "float32";
    if (machine) {
        printf("kind=%s\nmetric=%s\nparams=%s\nvector_type=%s\ncount=%llu\ndimension=%lu\n"
               "queries=%llu\nk=%llu\nthreads=%lu\nbuild_seconds=%.6f\nmemory_bytes=%llu\n"
               "search_seconds=%.6f\nqps=%.1f\n",
               kind, metric, r->config.params ? r->config.params : "", vt,
               (unsigned long long)base->n, (unsigned long)base->dimension,
               (unsigned long long)queries->n, (unsigned long long)r->k,
               (unsigned long)r->config.threads, r->build_seconds, (unsigned long long)r->memory,
               r->search_seconds, qps);
        if (r->recall >= 0) printf("recall=%.6f\n", r->recall);
        else printf("recall=\n");
        printf("recall_reference=%s\n", r->reference);
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
    printf("search time   %.3f s\n", r->search_seconds);
    printf("QPS           %.0f\n", qps);
    if (r->recall >= 0)
        printf("recall@%-6llu %.4f (against %s)\n", (unsigned long long)r->k, r->recall,
               strcmp(r->reference, "groundtruth") == 0 ? "the ground truth" : r->reference);
    else
        printf("recall@%-6llu n/a (no exact kind for this metric)\n", (unsigned long long)r->k);
}

static int parse_args(int argc, char **argv, bench_args *a, bench_result *r, const char **pos,
                      size_t *npos) {
    const cli_option options[] = {
        {"kind", &a->kind, NULL},   {"metric", &a->metric, NULL},   {"params", &a->params, NULL},
        {"k", &a->k, NULL},         {"threads", &a->threads, NULL}, {"seed", &a->seed, NULL},
        {"machine", NULL, &a->machine},
    };
    if (cli_parse_options(argc, argv, options, sizeof options / sizeof options[0], pos, 3, npos))
        return -1;
    if (*npos < 2) return cli_error("bench needs BASE and QUERIES (see 'nearkit bench --help')");
    if (!a->metric) return cli_error("bench needs --metric (l2, l1, linf, cosine, ip or hamming)");
    r->config.params = a->params;
    if (cli_kind_from_name(&r->config.kind, a->kind) ||
        cli_metric_from_name(&r->config.metric, a->metric) ||
        cli_parse_u64(&r->k, a->k, "--k", 1, MAX_K) ||
        cli_parse_u32(&r->config.threads, a->threads, "--threads", 0, 1u << 16) ||
        cli_parse_u64(&r->config.seed, a->seed, "--seed", 0, UINT64_MAX))
        return -1;
    return cli_check_kind_metric(r->config.kind, r->config.metric);
}

int cmd_bench(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        fputs(cli_formats_help, stdout);
        return CLI_EXIT_OK;
    }
    bench_args a = {"flat", NULL, NULL, "10", "0", "42", 0};
    bench_result r;
    memset(&r, 0, sizeof r);
    const char *pos[3];
    size_t npos = 0;
    if (parse_args(argc, argv, &a, &r, pos, &npos) != 0) return CLI_EXIT_USAGE;

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
