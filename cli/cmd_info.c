/* nearkit info: what an index file holds. */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL /* nearkit_index_is_view */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "common.h"

static const char usage[] =
    "usage: nearkit info [--load | --no-verify] INDEX.nkx\n"
    "\n"
    "Opens an index file and prints its kind, metric, dimension, number of vectors, memory,\n"
    "named parameters (with their current values) and the library's description of it.\n"
    "\n"
    "  --load       read the whole file into memory instead of viewing it (the default: a\n"
    "               read-only mapping, its checksum checked; the memory line shows only the\n"
    "               heap the view owns)\n"
    "  --no-verify  view without reading the whole file for its checksum: opening costs the\n"
    "               same for any size, and a damaged vector goes unnoticed\n";

static void print_params(const nearkit_index *index) {
    size_t count = nearkit_index_param_count(index);
    printf("parameters:%s\n", count ? "" : " (none)");
    for (size_t i = 0; i < count; ++i) {
        const char *name = NULL;
        uint32_t flags = 0;
        if (nearkit_index_param_info(&name, &flags, index, i) != NEARKIT_OK || !name) continue;
        double value = 0.0;
        char text[48];
        if (nearkit_index_get_param(&value, index, name) != NEARKIT_OK)
            snprintf(text, sizeof text, "?");
        else if (flags & NEARKIT_PARAM_FLAG_INTEGER)
            snprintf(text, sizeof text, "%.0f", value);
        else
            snprintf(text, sizeof text, "%.9g", value);
        const char *what = (flags & NEARKIT_PARAM_FLAG_READ_ONLY) ? "  (statistic, read-only)"
                           : (flags & NEARKIT_PARAM_FLAG_BUILD) ? "  (build parameter)"
                                                                : "";
        printf("  %-20s %s%s\n", name, text, what);
    }
}

static void print_indented(const char *text) {
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        printf("  %.*s\n", (int)len, p);
        p += len + (nl ? 1 : 0);
    }
}

int cmd_info(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    const char *pos[1];
    size_t npos = 0;
    int load = 0, no_verify = 0;
    cli_open_mode mode;
    const cli_option options[] = {{"load", NULL, &load}, {"no-verify", NULL, &no_verify}};
    if (cli_parse_options(argc, argv, options, 2, pos, 1, &npos) ||
        cli_open_mode_of(&mode, load, no_verify))
        return CLI_EXIT_USAGE;
    if (npos != 1) {
        cli_error("info needs INDEX.nkx (see 'nearkit info --help')");
        return CLI_EXIT_USAGE;
    }
    nearkit_index *index = NULL;
    if (cli_open_index(&index, pos[0], mode) != 0) return CLI_EXIT_FAILURE;
    char *description = NULL;
    nearkit_status st = nearkit_index_describe(&description, index);
    if (st != NEARKIT_OK) {
        cli_lib_error(st, "cannot describe the index %s", pos[0]);
        nearkit_index_free(index);
        return CLI_EXIT_FAILURE;
    }
    struct stat sb;
    char mem[32], fsize[32];
    const char *kind = nearkit_kind_name(nearkit_index_kind(index));
    const char *metric = nearkit_metric_name(nearkit_index_metric(index));
    int binary = nearkit_index_vector_type(index) == NEARKIT_VECTOR_BINARY;
    printf("file        %s (%s)\n", pos[0],
           stat(pos[0], &sb) == 0 ? cli_format_bytes(fsize, sizeof fsize, (uint64_t)sb.st_size)
                                  : "?");
    printf("kind        %s\n", kind ? kind : "?");
    printf("metric      %s\n", metric ? metric : "?");
    printf("vectors     %s\n", binary ? "binary" : "float32");
    printf("dimension   %lu%s\n", (unsigned long)nearkit_index_dimension(index),
           binary ? " bits" : "");
    printf("count       %llu\n", (unsigned long long)nearkit_index_count(index));
    printf("memory      %s\n",
           cli_format_bytes(mem, sizeof mem, nearkit_index_memory_bytes(index)));
    printf("ready       %s\n", nearkit_index_is_ready(index) ? "yes" : "no");
    printf("opened as   %s\n", nearkit_index_is_view(index) ? "read-only view (mapped)" : "loaded");
    print_params(index);
    printf("description:\n");
    print_indented(description);
    nearkit_string_free(description);
    nearkit_index_free(index);
    return CLI_EXIT_OK;
}
