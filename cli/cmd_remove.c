/* nearkit remove: load an index, remove the vectors carrying the listed ids, save it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "readers.h"

static const char usage[] =
    "usage: nearkit remove --ids FILE [--out OUT.nkx] INDEX.nkx\n"
    "\n"
    "Removes from the index every vector carrying one of the ids FILE lists (decimal ids\n"
    "separated by white space, one a line or several; ids the index does not hold are ignored),\n"
    "reclaims their space and saves the index: over INDEX.nkx, atomically, or to OUT.nkx.\n"
    "Vectors added later without ids never reuse a removed id: the file keeps the next one.\n"
    "\n"
    "  --ids FILE    the ids to remove\n"
    "  --out FILE    save the result here instead of over INDEX.nkx\n";

/* Loads the index at path; returns 0, or -1 after printing an error. */
static int load_index(nearkit_index **index, const char *path) {
    nearkit_status st = nearkit_index_load(index, path);
    if (st == NEARKIT_OK) return 0;
    int named = strstr(nearkit_last_error_message(), path) != NULL;
    return cli_lib_error(st, "cannot load the index%s%s", named ? "" : " ", named ? "" : path);
}

/* Removes the ids and compacts; prints what it did. Returns 0, or -1 after printing an error. */
static int remove_ids(nearkit_index *index, const int64_t *ids, uint64_t n) {
    uint64_t before = nearkit_index_count(index), removed = 0;
    nearkit_status st = nearkit_index_remove(&removed, index, ids, n);
    if (st != NEARKIT_OK) return cli_lib_error(st, "cannot remove the ids");
    /* the file then holds only live vectors, and trees are rebuilt over them */
    st = nearkit_index_compact(index);
    if (st != NEARKIT_OK) return cli_lib_error(st, "cannot compact the index after removing");
    printf("removed %llu of %llu vectors (%llu ids given); %llu left\n", (unsigned long long)removed,
           (unsigned long long)before, (unsigned long long)n,
           (unsigned long long)nearkit_index_count(index));
    return 0;
}

int cmd_remove(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    const char *ids_path = NULL, *out = NULL;
    const cli_option options[] = {{"ids", &ids_path, NULL}, {"out", &out, NULL}};
    const char *pos[1];
    size_t npos = 0;
    if (cli_parse_options(argc, argv, options, sizeof options / sizeof options[0], pos, 1, &npos))
        return CLI_EXIT_USAGE;
    if (npos != 1 || !ids_path) {
        cli_error("remove needs --ids FILE and INDEX.nkx (see 'nearkit remove --help')");
        return CLI_EXIT_USAGE;
    }
    int64_t *ids = NULL;
    uint64_t n = 0;
    if (cli_read_ids(&ids, &n, ids_path) != 0) return CLI_EXIT_FAILURE;
    nearkit_index *index = NULL;
    int rc = CLI_EXIT_FAILURE;
    if (load_index(&index, pos[0]) != 0 || remove_ids(index, ids, n) != 0) goto done;
    const char *target = out ? out : pos[0];
    nearkit_status st = nearkit_index_save(index, target);
    if (st != NEARKIT_OK) {
        cli_lib_error(st, "cannot save the index to %s", target);
        goto done;
    }
    printf("saved to %s\n", target);
    rc = CLI_EXIT_OK;
done:
    nearkit_index_free(index);
    free(ids);
    return rc;
}
