/* nearkit: the command-line program of the nearkit library. */
#include <stdio.h>
#include <string.h>

#include "annfile.h"
#include "commands.h"
#include "common.h"

const char cli_formats_help[] =
    "\n"
    "Vector files, chosen by extension:\n"
    "  .fvecs  float32 rows (TEXMEX: an int32 count before each row)\n"
    "  .bvecs  uint8 rows: binary codes for hamming (dimension = 8 x bytes, least significant\n"
    "          bit first), or values 0..255 for the other metrics\n"
    "  .ivecs  int32 rows: ground-truth neighbour ids\n"
    "  .npy    a 2-d C-order little-endian array of float32, float64 (converted), uint8\n"
    "  .csv    numbers separated by commas, one vector a line; a non-numeric first line is a\n"
    "          header and skipped (for hamming: bytes 0..255)\n"
    "  .hdf5   an ann-benchmarks dataset file (also .h5): its 'train' vectors are the BASE of\n"
    "          build, its 'test' vectors the QUERIES of search, and bench takes it alone\n"
    "          (train, test, neighbors); its 'distance' attribute gives the metric (euclidean,\n"
    "          angular = cosine, hamming on 0/1 bits, dot = ip). Needs a build with HDF5.\n";

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"demo", cmd_demo, "compare every index kind on synthetic data"},
    {"build", cmd_build, "build an index from a vector file and save it"},
    {"search", cmd_search, "search a saved index with a file of queries"},
    {"remove", cmd_remove, "remove vectors by id from a saved index"},
    {"tune", cmd_tune, "set the cheapest search setting reaching a target recall"},
    {"info", cmd_info, "show what a saved index holds"},
    {"bench", cmd_bench, "measure build time, speed, memory and recall of one kind"},
    {"kinds", cmd_kinds, "list the index kinds of this library"},
};

static void print_version(void) {
    printf("nearkit %s (ABI %lu; built against header %s, ABI %d)\n", nearkit_version_string(),
           (unsigned long)nearkit_abi_version(), NEARKIT_VERSION_STRING, NEARKIT_ABI_VERSION);
    const char *hdf5 = cli_hdf5_version();
    if (hdf5) printf("hdf5: yes (HDF5 %s; reads ann-benchmarks .hdf5 files)\n", hdf5);
    else printf("hdf5: no (this build has no HDF5 support)\n");
}

static void print_help(void) {
    printf("usage: nearkit COMMAND [OPTIONS] [ARGS]\n"
           "       nearkit COMMAND --help\n"
           "       nearkit --version\n"
           "\n"
           "nearkit %s: nearest-neighbour search from the command line.\n"
           "\n"
           "Commands:\n",
           nearkit_version_string());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
        printf("  %-8s %s\n", commands[i].name, commands[i].summary);
    printf("\nIndex kinds in this library:\n");
    for (size_t i = 0, n = nearkit_kind_count(); i < n; ++i) {
        nearkit_kind_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = (uint32_t)sizeof info;
        if (nearkit_kind_get_info(&info, i) == NEARKIT_OK)
            printf("  %-12s %s\n", info.name, info.description ? info.description : "");
    }
    printf("\nMetrics: l2, l1, linf, cosine, ip (float vectors); hamming (binary codes).\n");
    fputs(cli_formats_help, stdout);
    printf("\nErrors are one line on stderr starting 'nearkit: error:'; the exit code is 1 for a\n"
           "failure and 2 for a bad command line. A progress bar is drawn on stderr when it is a\n"
           "terminal (NEARKIT_PROGRESS=0 or 1 overrides).\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        cli_error("no command given (try 'nearkit --help')");
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 && argc > 2) { /* "nearkit help build" = "nearkit build --help" */
        char *help_argv[] = {argv[2], "--help", NULL};
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
            if (strcmp(argv[2], commands[i].name) == 0) return commands[i].run(2, help_argv);
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help();
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0 ||
        strcmp(name, "version") == 0) {
        print_version();
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
        if (strcmp(name, commands[i].name) == 0) {
            int rc = commands[i].run(argc - 1, argv + 1);
            if (fflush(stdout) != 0 || ferror(stdout)) {
                cli_error("cannot write to standard output");
                return CLI_EXIT_FAILURE;
            }
            return rc;
        }
    cli_error("unknown command '%s' (commands: demo, build, search, remove, tune, info, bench, kinds; see --help)",
              name);
    return CLI_EXIT_USAGE;
}
