/* Inputs the fuzz harnesses (tests/fuzz) found to crash or break a promise of the header, each
 * kept as a test so the defect stays fixed. Every case names the harness that found it. The
 * sanitizer build (c.test_fuzz_regressions_asan) is the one that sees the undefined behaviour. */
#include "nearkit.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Loads bytes, then saves and loads the result again. */
static void load_and_reload(const uint8_t *data, size_t size, nearkit_status expected) {
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&ix, data, size), expected);
    if (!ix) return;
    void *image = NULL;
    size_t image_size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&image, &image_size, ix), NEARKIT_OK);
    nearkit_index *again = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&again, image, image_size), NEARKIT_OK);
    CHECK(nearkit_index_count(again) == nearkit_index_count(ix));
    nearkit_index_free(again);
    nearkit_buffer_free(image);
    nearkit_index_free(ix);
}

/* fuzz_load_buffer, first seconds: an empty flat index (VECS of 0 bytes) loaded with pointer
 * arithmetic on its NULL vector array in flat_add (flat.c; UBSan: "applying zero offset to null
 * pointer"). The seed tests/fuzz/corpus/flat-l2-d8-empty.nkx, byte for byte. */
static void test_empty_flat_loads(void) {
    static const uint8_t file[] = {
        0x89, 'N',  'K',  'I',  'D',  'X',  '\r', '\n', 1,    0,    0,    0,    40,   0,    0,    0,
        1,    0,    0,    0,    1,    0,    0,    0,    1,    0,    0,    0,    8,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    42,   0,    0,    0,    0,    0,    0,    0,
        1,    0,    0,    0,    2,    0,    0,    0,    'P',  'R',  'M',  'S',  0,    0,    0,    0,
        4,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    'V',  'E',  'C',  'S',
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x52, 0xfe, 0x70, 0x96,
    };
    load_and_reload(file, sizeof file, NEARKIT_OK);
}

int main(void) {
    test_empty_flat_loads();
    return check_summary("test_fuzz_regressions");
}
