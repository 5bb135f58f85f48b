/* nearkit search: load an index, search it with a file of queries, print or write results. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "engine.h"
#include "progress.h"
#include "readers.h"
#include "writers.h"

/* Most result entries held at once (bounds memory for large k). */
#define MAX_BATCH_ENTRIES (1u << 24)

static const char usage[] =
    "usage: nearkit search [--k K | --radius R] [--threads T] [--params P] [--out FILE]\n"
    "                      [--distances FILE] [--filter-ids FILE] [--load | --no-verify]\n"
    "                      INDEX.nkx QUERIES\n"
    "\n"
    "Searches the index for every query vector: the K nearest neighbours (default K = 10), or\n"
    "with --radius every vector at distance <= R. Prints one line per query, nearest first:\n"
    "  id:distance id:distance ...\n"
    "At most as many neighbours as the index holds are printed (and written to --out and\n"
    "--distances): with K above the count every row has the count's width. A kind whose search\n"
    "can be capped (mih's max_radius) shows neighbours the cap left out as -1:inf, and so does\n"
    "a search with --filter-ids where fewer than K of the vectors are allowed.\n"
    "\n"
    "  --k K             number of neighbours (at least 1; default 10)\n"
    "  --radius R        range search instead of k-NN\n"
    "  --threads T       threads for the search (default 0 = the index's setting)\n"
    "  --params P        search-time parameters to set first, e.g. \"nprobe=16\" (names:\n"
    "                    'nearkit info INDEX.nkx')\n"
    "  --out FILE        write the ids to FILE instead of printing: .ivecs (int32 rows),\n"
    "                    .npy (int64, k-NN only) or .txt (the printed form)\n"
    "  --distances FILE  also write the distances: .fvecs or .npy (float32, k-NN only)\n"
    "  --filter-ids FILE search only the vectors whose ids FILE lists: decimal ids separated\n"
    "                    by white space (one a line, or several); unknown ids are ignored\n"
    "  --load            read the whole index file into memory first; by default it is opened\n"
    "                    as a read-only view (mapped, shared with other processes viewing it,\n"
    "                    its checksum checked)\n"
    "  --no-verify       view without reading the whole file for its checksum: opening costs\n"
    "                    the same for any size, and a damaged vector goes unnoticed\n";

typedef struct search_job {
    const nearkit_index *index;
    const cli_vectors *queries;
    nearkit_search_options options;
    cli_sink ids, dists;
    int has_dists;
} search_job;

static int emit(search_job *job, const int64_t *ids, const float *d, uint64_t count) {
    if (cli_sink_write(&job->ids, ids, d, count) != 0) return -1;
    if (job->has_dists && cli_sink_write(&job->dists, ids, d, count) != 0) return -1;
    return 0;
}

/* The neighbours shown per query: min(k, count). Beyond the count a row holds only padding
 * (-1:inf), which tells a reader or a pipe nothing, and a huge k would print it by the million. */
static uint64_t shown_neighbours(const nearkit_index *index, uint64_t k) {
    uint64_t count = nearkit_index_count(index);
    return k < count ? k : count;
}

/* k-NN search showing `k` neighbours per query; k = 0 (an empty index) prints empty rows. */
static int run_knn(search_job *job, uint64_t shown) {
    const cli_vectors *q = job->queries;
    uint64_t k = shown > 0 ? shown : 1; /* the library needs k >= 1: rows of padding only */
    uint64_t batch = cli_batch_size(q->n);
    if (batch > MAX_BATCH_ENTRIES / k) batch = MAX_BATCH_ENTRIES / k ? MAX_BATCH_ENTRIES / k : 1;
    int64_t *ids = malloc((size_t)(batch * k) * sizeof *ids);
    float *d = malloc((size_t)(batch * k) * sizeof *d);
    int rc = -1;
    cli_progress bar;
    cli_progress_start(&bar, "searching", q->n);
    if (!ids || !d) {
        cli_error("out of memory for %llu results", (unsigned long long)(batch * k));
        goto done;
    }
    for (uint64_t off = 0; off < q->n; off += batch) {
        uint64_t m = q->n - off < batch ? q->n - off : batch;
        const unsigned char *rows = (const unsigned char *)q->data + off * q->row_bytes;
        nearkit_status st =
            nearkit_index_search(ids, d, job->index, q->type, rows, m, k, &job->options);
        if (st != NEARKIT_OK) {
            cli_lib_error(st, "search failed (queries %llu..%llu)", (unsigned long long)off,
                          (unsigned long long)(off + m - 1));
            goto done;
        }
        if (job->ids.f == stdout) cli_progress_clear(&bar);
        for (uint64_t i = 0; i < m; ++i)
            if (emit(job, ids + i * k, d + i * k, shown) != 0) goto done;
        if (job->ids.f == stdout) fflush(stdout);
        cli_progress_update(&bar, off + m);
    }
    rc = 0;
done:
    cli_progress_finish(&bar);
    free(ids);
    free(d);
    return rc;
}

static int run_range(search_job *job, float radius) {
    const cli_vectors *q = job->queries;
    uint64_t batch = cli_batch_size(q->n);
    cli_progress bar;
    cli_progress_start(&bar, "searching", q->n);
    for (uint64_t off = 0; off < q->n; off += batch) {
        uint64_t m = q->n - off < batch ? q->n - off : batch;
        const unsigned char *rows = (const unsigned char *)q->data + off * q->row_bytes;
        nearkit_range_result *res = NULL;
        nearkit_status st =
            nearkit_index_range_search(&res, job->index, q->type, rows, m, radius, &job->options);
        const uint64_t *offsets = NULL;
        const int64_t *ids = NULL;
        const float *d = NULL;
        if (st == NEARKIT_OK) st = nearkit_range_result_get(&offsets, &ids, &d, res);
        uint64_t got = nearkit_range_result_query_count(res);
        if (st == NEARKIT_OK && got != m) {
            nearkit_range_result_free(res);
            cli_progress_finish(&bar);
            return cli_error("range search returned %llu rows for %llu queries",
                             (unsigned long long)got, (unsigned long long)m);
        }
        if (st != NEARKIT_OK) {
            nearkit_range_result_free(res);
            cli_progress_finish(&bar);
            return cli_lib_error(st, "range search failed (queries %llu..%llu)",
                                 (unsigned long long)off, (unsigned long long)(off + m - 1));
        }
        if (job->ids.f == stdout) cli_progress_clear(&bar);
        for (uint64_t i = 0; i < m; ++i) {
            if (emit(job, ids + offsets[i], d + offsets[i], offsets[i + 1] - offsets[i]) != 0) {
                nearkit_range_result_free(res);
                cli_progress_finish(&bar);
                return -1;
            }
        }
        nearkit_range_result_free(res);
        if (job->ids.f == stdout) fflush(stdout);
        cli_progress_update(&bar, off + m);
    }
    cli_progress_finish(&bar);
    return 0;
}

typedef struct search_args {
    const char *k, *radius, *threads, *out, *distances, *params, *filter_ids;
    int load, no_verify; /* how the index file is opened (cli_open_mode) */
} search_args;

/* Parses the command line into settings; returns 0 or -1 (error printed). */
static int parse_args(int argc, char **argv, search_args *a, const char **pos, uint64_t *k,
                      float *radius, uint32_t *threads) {
    const cli_option options[] = {
        {"k", &a->k, NULL},     {"radius", &a->radius, NULL},       {"threads", &a->threads, NULL},
        {"out", &a->out, NULL}, {"distances", &a->distances, NULL}, {"params", &a->params, NULL},
        {"filter-ids", &a->filter_ids, NULL}, {"load", NULL, &a->load},
        {"no-verify", NULL, &a->no_verify},
    };
    size_t npos = 0;
    if (cli_parse_options(argc, argv, options, sizeof options / sizeof options[0], pos, 2, &npos))
        return -1;
    if (npos != 2) return cli_error("search needs INDEX.nkx and QUERIES (see 'nearkit search --help')");
    if (a->k && a->radius) return cli_error("give either --k or --radius, not both");
    if (cli_parse_u32(threads, a->threads, "--threads", 0, 1u << 16) != 0) return -1;
    if (a->radius) return cli_parse_float(radius, a->radius, "--radius");
    return cli_parse_u64(k, a->k ? a->k : "10", "--k", 1, UINT64_MAX);
}

int cmd_search(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        fputs(cli_formats_help, stdout);
        return CLI_EXIT_OK;
    }
    search_args a = {NULL, NULL, "0", NULL, NULL, NULL, NULL, 0, 0};
    const char *pos[2];
    uint64_t k = 0;
    float radius = 0.0f;
    uint32_t threads = 0;
    if (parse_args(argc, argv, &a, pos, &k, &radius, &threads) != 0) return CLI_EXIT_USAGE;

    nearkit_index *index = NULL;
    cli_open_mode mode;
    if (cli_open_mode_of(&mode, a.load, a.no_verify) != 0) return CLI_EXIT_USAGE;
    if (cli_open_index(&index, pos[0], mode) != 0) return CLI_EXIT_FAILURE;
    int rc = CLI_EXIT_FAILURE;
    cli_vectors queries = {0};
    search_job job;
    memset(&job, 0, sizeof job);
    nearkit_filter filter = NEARKIT_FILTER_INIT;
    int64_t *allowed = NULL;
    if (a.filter_ids) {
        filter.type = NEARKIT_FILTER_IDS;
        if (cli_read_ids(&allowed, &filter.n_ids, a.filter_ids) != 0) goto done;
        filter.ids = allowed;
    }
    if ((a.params && cli_apply_params(index, a.params) != 0) ||
        cli_read_input_vectors(&queries, pos[1], nearkit_index_vector_type(index), "test") != 0 ||
        cli_check_vectors(index, &queries, pos[1]) != 0)
        goto done;
    job.index = index;
    job.queries = &queries;
    nearkit_search_options_init(&job.options);
    job.options.num_threads = threads;
    job.options.filter = a.filter_ids ? &filter : NULL;
    if (!a.radius) k = shown_neighbours(index, k);
    if (!a.radius && k == 0 && ((a.out && cli_has_extension(a.out, "npy")) ||
                                (a.distances && cli_has_extension(a.distances, "npy")))) {
        cli_error("%s holds no vectors: there are no neighbours to write as a .npy array",
                  pos[0]);
        goto done;
    }
    uint64_t cols = a.radius ? 0 : k;
    if (cli_sink_open(&job.ids, a.out, CLI_SINK_IDS, queries.n, cols) != 0) goto done;
    if (a.distances) {
        if (cli_sink_open(&job.dists, a.distances, CLI_SINK_DISTANCES, queries.n, cols) != 0)
            goto done;
        job.has_dists = 1;
    }
    if ((a.radius ? run_range(&job, radius) : run_knn(&job, k)) != 0) goto done;
    if (cli_sink_close(&job.ids) != 0 || cli_sink_close(&job.dists) != 0) goto done;
    rc = CLI_EXIT_OK;
done:
    if (rc != CLI_EXIT_OK) {
        cli_sink_abort(&job.ids);
        cli_sink_abort(&job.dists);
    }
    cli_vectors_free(&queries);
    free(allowed);
    nearkit_index_free(index);
    return rc;
}
