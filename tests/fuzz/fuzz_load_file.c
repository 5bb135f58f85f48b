/* Fuzz target: nearkit_index_load on a file holding the input, then nearkit_index_save of what
 * loaded to another file and a load of that. Both files live in a directory of this process's
 * own, removed at exit. */
#include "fuzz_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], input_path[96], saved_path[96];

static void remove_files(void) {
    unlink(input_path);
    unlink(saved_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nearkit-fuzz-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("nearkit fuzz: mkdtemp");
        exit(1);
    }
    snprintf(input_path, sizeof input_path, "%s/input.nkx", dir);
    snprintf(saved_path, sizeof saved_path, "%s/saved.nkx", dir);
    atexit(remove_files);
    return 0;
}

static void write_input(const uint8_t *data, size_t size) {
    FILE *f = fopen(input_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror("nearkit fuzz: writing the input file");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    write_input(data, size);
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_index_load(&index, input_path);
    fuzz_expect_load_outcome(st, index);
    if (index) {
        fuzz_inspect(index);
        st = nearkit_index_save(index, saved_path);
        if (st) fuzz_fail("an index that loaded from a file does not save to one", st);
        nearkit_index *again = NULL;
        st = nearkit_index_load(&again, saved_path);
        if (st) fuzz_fail("a saved file does not load again", st);
        if (nearkit_index_count(again) != nearkit_index_count(index))
            fuzz_fail("a saved file holds another count of vectors", NEARKIT_OK);
        nearkit_index_free(again);
        nearkit_index_free(index);
    }
    unlink(input_path);
    return 0;
}
