/* Fuzz target: nearkit_index_load_from_buffer on any bytes (checksum fixed up by the mutator,
 * fuzz_support.h). A load either refuses the input with CORRUPT, UNSUPPORTED or OUT_OF_MEMORY
 * and a message, or gives an index whose every structure can be walked.
 *
 * The same bytes are then opened as views (nearkit_index_view_buffer over a 64-byte aligned
 * copy, as a mapping is), verified and not. Opening a view checks the framing as a load does;
 * a verified view also checks every stored value, so it opens exactly when the load did (but for
 * a format 1 file it cannot use in place: UNSUPPORTED). A plain view trusts the stored values, so
 * what is asserted of it is memory safety: it opens or refuses as a load may, and what opens is
 * walked and searched. */
#define NEARKIT_EXPERIMENTAL
#include "fuzz_support.h"

#include <stdlib.h>
#include <string.h>

static void search_once(const nearkit_index *view) {
    uint64_t bytes = nearkit_index_vector_bytes(view);
    void *queries = calloc(2, (size_t)bytes ? (size_t)bytes : 1);
    int64_t ids[2 * 5];
    float distances[2 * 5];
    if (queries)
        (void)nearkit_index_search(ids, distances, view, nearkit_index_vector_type(view), queries, 2, 5, NULL);
    free(queries);
}

static void view_copy(const uint8_t *data, size_t size, int verify, nearkit_status loaded) {
    uint8_t *copy = aligned_alloc(64, size / 64 * 64 + 64);
    if (!copy) return;
    if (size) memcpy(copy, data, size);
    nearkit_view_options options = NEARKIT_VIEW_OPTIONS_INIT;
    options.verify = verify;
    nearkit_index *view = NULL;
    nearkit_status st = nearkit_index_view_buffer(&view, copy, size, &options);
    fuzz_expect_load_outcome(st, view);
    if (verify && loaded == NEARKIT_OK && st != NEARKIT_OK && st != NEARKIT_ERR_UNSUPPORTED &&
        st != NEARKIT_ERR_OUT_OF_MEMORY)
        fuzz_fail("a verified view refused what loads", st);
    if (verify && loaded != NEARKIT_OK && loaded != NEARKIT_ERR_OUT_OF_MEMORY && st == NEARKIT_OK)
        fuzz_fail("a verified view opened what a load refuses", loaded);
    if (view) {
        fuzz_inspect(view);
        search_once(view);
    }
    nearkit_index_free(view);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_index_load_from_buffer(&index, data, size);
    fuzz_expect_load_outcome(st, index);
    if (index) fuzz_inspect(index);
    nearkit_index_free(index);
    view_copy(data, size, 1, st);
    view_copy(data, size, 0, st);
    return 0;
}
