/* nearkit kinds: the index kinds compiled into this library. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const char usage[] =
    "usage: nearkit kinds\n"
    "\n"
    "Lists the index kinds of this library, one a line: name, exact or approx, what it needs\n"
    "before searching (train, build or -), the metrics it supports, and its description.\n";

int cmd_kinds(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    const char *pos[1];
    size_t npos = 0;
    if (cli_parse_options(argc, argv, NULL, 0, pos, 0, &npos)) return CLI_EXIT_USAGE;
    printf("%-12s %-6s %-12s %-30s %s\n", "name", "type", "needs", "metrics", "description");
    for (size_t i = 0, n = nearkit_kind_count(); i < n; ++i) {
        nearkit_kind_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = (uint32_t)sizeof info;
        if (nearkit_kind_get_info(&info, i) != NEARKIT_OK) continue;
        char metrics[96], needs[32];
        cli_metric_list(metrics, sizeof metrics, info.metric_mask, ",");
        snprintf(needs, sizeof needs, "%s%s%s",
                 (info.flags & NEARKIT_KIND_FLAG_NEEDS_TRAINING) ? "train" : "",
                 (info.flags & NEARKIT_KIND_FLAG_NEEDS_TRAINING) &&
                         (info.flags & NEARKIT_KIND_FLAG_NEEDS_BUILD)
                     ? ","
                     : "",
                 (info.flags & NEARKIT_KIND_FLAG_NEEDS_BUILD) ? "build" : "");
        printf("%-12s %-6s %-12s %-30s %s\n", info.name,
               (info.flags & NEARKIT_KIND_FLAG_EXACT) ? "exact" : "approx", needs[0] ? needs : "-",
               metrics, info.description ? info.description : "");
    }
    return CLI_EXIT_OK;
}
