/* nearkit build: read base vectors, build an index, save it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "annfile.h"
#include "commands.h"
#include "common.h"
#include "engine.h"
#include "readers.h"

static const char usage[] =
    "usage: nearkit build --metric M [--kind K] [--params P] [--threads T] [--seed S]\n"
    "                     BASE OUT.nkx\n"
    "\n"
    "Reads the base vectors, builds an index of kind K over them (ids are the row numbers,\n"
    "from 0) and saves it to OUT.nkx. BASE may be an ann-benchmarks .hdf5 file: its 'train'\n"
    "vectors are indexed, with the metric its 'distance' attribute names (--metric optional).\n"
    "\n"
    "  --kind K      index kind (default flat); 'nearkit --help' lists this library's kinds\n"
    "  --metric M    l2, l1, linf, cosine, ip, or hamming (binary vectors)\n"
    "  --params P    build parameters, e.g. \"nlist=1024,nprobe=8\"; 'nearkit info' lists an\n"
    "                index's parameter names\n"
    "  --threads T   threads to use (default 0 = every core); stored in the index\n"
    "  --seed S      seed of randomised builds (default 42)\n";

/* Options shared by build and bench. */
typedef struct build_args {
    const char *kind, *metric, *params, *threads, *seed;
} build_args;

/* Refuses an output that is the input file itself, under whatever name (a link, another path):
 * the save would replace the vectors with the index. Returns 0, or -1 after printing an error. */
static int check_output_is_not_input(const char *input, const char *output) {
    struct stat in, out;
    if (stat(input, &in) != 0 || stat(output, &out) != 0) return 0; /* the reader and the save report */
    if (in.st_dev != out.st_dev || in.st_ino != out.st_ino) return 0;
    return cli_error("the output %s is the input file %s: refusing to replace the vectors with the "
                     "index", output, input);
}

int cmd_build(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        fputs(cli_formats_help, stdout);
        return CLI_EXIT_OK;
    }
    build_args a = {"flat", NULL, NULL, "0", "42"};
    const cli_option options[] = {
        {"kind", &a.kind, NULL},       {"metric", &a.metric, NULL}, {"params", &a.params, NULL},
        {"threads", &a.threads, NULL}, {"seed", &a.seed, NULL},
    };
    const char *pos[2];
    size_t npos = 0;
    if (cli_parse_options(argc, argv, options, sizeof options / sizeof options[0], pos, 2, &npos))
        return CLI_EXIT_USAGE;
    if (npos != 2) {
        cli_error("build needs BASE and OUT.nkx (see 'nearkit build --help')");
        return CLI_EXIT_USAGE;
    }
    int hdf5 = cli_is_hdf5_path(pos[0]);
    if (!a.metric && !hdf5) {
        cli_error("build needs --metric (l2, l1, linf, cosine, ip or hamming)");
        return CLI_EXIT_USAGE;
    }
    cli_build_config config = {0};
    config.params = a.params;
    if (hdf5 && cli_hdf5_metric(&config.metric, pos[0], a.metric) != 0) return CLI_EXIT_FAILURE;
    if (cli_kind_from_name(&config.kind, a.kind) ||
        (!hdf5 && cli_metric_from_name(&config.metric, a.metric)) ||
        cli_parse_u32(&config.threads, a.threads, "--threads", 0, 1u << 16) ||
        cli_parse_u64(&config.seed, a.seed, "--seed", 0, UINT64_MAX) ||
        cli_check_kind_metric(config.kind, config.metric))
        return CLI_EXIT_USAGE;

    if (check_output_is_not_input(pos[0], pos[1])) return CLI_EXIT_FAILURE;
    cli_vectors base;
    if (cli_read_input_vectors(&base, pos[0], cli_metric_vector_type(config.metric), "train") != 0)
        return CLI_EXIT_FAILURE;
    int rc = CLI_EXIT_FAILURE;
    nearkit_index *index = NULL;
    double seconds = 0.0;
    if (cli_build_index(&index, &seconds, &config, &base) != 0) goto done;
    nearkit_status st = nearkit_index_save(index, pos[1]);
    if (st != NEARKIT_OK) {
        cli_lib_error(st, "cannot save the index to %s", pos[1]);
        goto done;
    }
    char mem[32];
    printf("built %s index: %llu vectors, dimension %lu, metric %s, %.3f s, %s in memory\n"
           "saved to %s\n",
           nearkit_kind_name(config.kind), (unsigned long long)nearkit_index_count(index),
           (unsigned long)nearkit_index_dimension(index), nearkit_metric_name(config.metric),
           seconds, cli_format_bytes(mem, sizeof mem, nearkit_index_memory_bytes(index)), pos[1]);
    rc = CLI_EXIT_OK;
done:
    nearkit_index_free(index);
    cli_vectors_free(&base);
    return rc;
}
