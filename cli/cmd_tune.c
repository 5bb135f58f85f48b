/* nearkit tune: load an index, find the cheapest runtime setting reaching a target recall on a
 * file of sample queries (nearkit_index_tune), print what was measured, optionally save. */
#define NEARKIT_EXPERIMENTAL /* nearkit_index_tune */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "engine.h"
#include "readers.h"

static const char usage[] =
    "usage: nearkit tune --queries FILE [--k K] [--target R] [--threads T] [--max-value V]\n"
    "                    [--max-seconds S] [--save] INDEX.nkx\n"
    "\n"
    "Finds the cheapest value of the index's runtime parameter (nprobe for the IVF kinds,\n"
    "ef_search for hnsw) at which searching the sample queries finds at least the fraction R\n"
    "of their K true nearest neighbours (recall@K), measured against the exact neighbours of\n"
    "the index's own vectors; where one more step of it jumps past R, also the cheapest finer\n"
    "setting with it (the IVF kinds' max_codes: rows a query scans at most). Prints name=value\n"
    "lines: kind, param, value, recall, qps, reached (0 when no value tried reached R),\n"
    "measurements, fine_param (none when no finer setting was chosen), fine_value, saved.\n"
    "Exact kinds have nothing to tune (param=none, recall=1). Use queries like those the index\n"
    "will serve, not vectors it stores.\n"
    "\n"
    "  --queries FILE    the sample queries (any vector format below)\n"
    "  --k K             the K of recall@K (default 10)\n"
    "  --target R        the recall to reach, in (0, 1] (default 0.95)\n"
    "  --threads T       threads of the measuring searches (default 0 = the index's setting)\n"
    "  --max-value V     the largest value tried (default 0 = the parameter's bound)\n"
    "  --max-seconds S   stop measuring after S seconds (default 0 = no limit)\n"
    "  --save            write the index back to INDEX.nkx with the values set\n";

/* A double in [min, max] from text; returns 0 or -1 (error printed). */
static int parse_double(double *out, const char *text, const char *what, double min, double max) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !(v >= min && v <= max))
        return cli_error("%s must be a number in [%g, %g], got '%s'", what, min, max, text);
    *out = v;
    return 0;
}

typedef struct tune_args {
    const char *queries, *k, *target, *threads, *max_value, *max_seconds;
    int save;
} tune_args;

static int parse_args(int argc, char **argv, tune_args *a, const char **index_path,
                      nearkit_tune_options *o) {
    const cli_option options[] = {
        {"queries", &a->queries, NULL},         {"k", &a->k, NULL},
        {"target", &a->target, NULL},           {"threads", &a->threads, NULL},
        {"max-value", &a->max_value, NULL},     {"max-seconds", &a->max_seconds, NULL},
        {"save", NULL, &a->save},
    };
    size_t npos = 0;
    if (cli_parse_options(argc, argv, options, sizeof options / sizeof options[0], index_path, 1,
                          &npos))
        return -1;
    if (npos != 1) return cli_error("tune needs INDEX.nkx (see 'nearkit tune --help')");
    if (!a->queries) return cli_error("tune needs --queries FILE (see 'nearkit tune --help')");
    nearkit_tune_options_init(o);
    if (cli_parse_u64(&o->k, a->k, "--k", 1, UINT64_MAX) != 0 ||
        parse_double(&o->target_recall, a->target, "--target", 0, 1) != 0 ||
        cli_parse_u32(&o->num_threads, a->threads, "--threads", 0, 1u << 16) != 0 ||
        parse_double(&o->max_value, a->max_value, "--max-value", 0, 1e18) != 0 ||
        parse_double(&o->max_seconds, a->max_seconds, "--max-seconds", 0, 1e9) != 0)
        return -1;
    if (o->target_recall == 0) return cli_error("--target must be above 0");
    return 0;
}

static void print_result(const nearkit_index *index, const nearkit_tune_result *r, int saved) {
    printf("kind=%s\n", nearkit_kind_name(nearkit_index_kind(index)));
    printf("param=%s\n", r->param ? r->param : "none");
    printf("value=%.17g\n", r->value);
    printf("recall=%.4f\n", r->recall);
    printf("qps=%.0f\n", r->qps);
    printf("reached=%d\n", (int)r->reached);
    printf("measurements=%u\n", (unsigned)r->measurements);
    printf("fine_param=%s\n", r->fine_param ? r->fine_param : "none");
    printf("fine_value=%.17g\n", r->fine_value);
    printf("saved=%d\n", saved);
}

int cmd_tune(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        fputs(cli_formats_help, stdout);
        return CLI_EXIT_OK;
    }
    tune_args a = {NULL, "10", "0.95", "0", "0", "0", 0};
    const char *index_path = NULL;
    nearkit_tune_options options;
    if (parse_args(argc, argv, &a, &index_path, &options) != 0) return CLI_EXIT_USAGE;

    nearkit_index *index = NULL;
    nearkit_status st = nearkit_index_load(&index, index_path);
    if (st != NEARKIT_OK) {
        cli_lib_error(st, "cannot load the index %s", index_path);
        return CLI_EXIT_FAILURE;
    }
    int rc = CLI_EXIT_FAILURE;
    cli_vectors queries = {0};
    nearkit_tune_result result = NEARKIT_TUNE_RESULT_INIT;
    if (cli_read_input_vectors(&queries, a.queries, nearkit_index_vector_type(index), "test") != 0 ||
        cli_check_vectors(index, &queries, a.queries) != 0)
        goto done;
    st = nearkit_index_tune(&result, index, queries.type, queries.data, queries.n, &options);
    if (st != NEARKIT_OK) {
        cli_lib_error(st, "cannot tune %s", index_path);
        goto done;
    }
    if (a.save && result.param && (st = nearkit_index_save(index, index_path)) != NEARKIT_OK) {
        cli_lib_error(st, "cannot save the index to %s", index_path);
        goto done;
    }
    print_result(index, &result, a.save && result.param);
    rc = CLI_EXIT_OK;
done:
    cli_vectors_free(&queries);
    nearkit_index_free(index);
    return rc;
}
