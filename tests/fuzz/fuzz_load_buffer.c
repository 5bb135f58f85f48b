/* Fuzz target: nearkit_index_load_from_buffer on any bytes (checksum fixed up by the mutator,
 * fuzz_support.h). A load either refuses the input with CORRUPT, UNSUPPORTED or OUT_OF_MEMORY
 * and a message, or gives an index whose every structure can be walked. */
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_index_load_from_buffer(&index, data, size);
    fuzz_expect_load_outcome(st, index);
    if (index) fuzz_inspect(index);
    nearkit_index_free(index);
    return 0;
}
