/* Checksum-keeping mutator and shared checks of the fuzz harnesses (see fuzz_support.h). */
#include "fuzz_support.h"

#include "fuzz_crc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's own mutator, callable from a custom one. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* ---- mutation ---------------------------------------------------------------------------------- */

/* Values that sit on the edges the loader checks: empty, one, powers of two, all ones. */
static const uint64_t edge_values[] = {0, 1, 2, 7, 8, 63, 64, 65, 255, 256, 4096, 65536,
                                       0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, UINT64_MAX};

static uint32_t next_random(uint32_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

/* Sets one 32-bit header field (kind, metric, type, dimension, count, seed, threads, sections)
 * to an edge value: byte mutations rarely hit the exact boundaries. */
static void set_header_field(uint8_t *data, size_t size, uint32_t *rng) {
    if (size < 56 + 4) return;
    size_t field = 16 + 4 * (next_random(rng) % 10);
    uint64_t value = edge_values[next_random(rng) % (sizeof edge_values / sizeof edge_values[0])];
    uint32_t low = (uint32_t)value;
    if (next_random(rng) % 4 == 0) low = (uint32_t)(next_random(rng) % 8); /* small: kinds, metrics */
    memcpy(data + field, &low, 4);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    uint32_t rng = seed | 1u;
    if (next_random(&rng) % 8 == 0) set_header_field(data, size, &rng);
    else size = LLVMFuzzerMutate(data, size, max_size);
    if (next_random(&rng) % 16 != 0) fuzz_fix_checksum(data, size);
    return size;
}

/* Splices the head of one input onto the tail of another (a section of one file after the
 * sections of another, say), then fixes the checksum. */
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2,
                                 size_t size2, uint8_t *out, size_t max_out_size,
                                 unsigned int seed) {
    uint32_t rng = seed | 1u;
    size_t head = size1 ? next_random(&rng) % (size1 + 1) : 0;
    size_t from = size2 ? next_random(&rng) % (size2 + 1) : 0;
    if (head > max_out_size) head = max_out_size;
    size_t tail = size2 - from;
    if (tail > max_out_size - head) tail = max_out_size - head;
    memcpy(out, data1, head);
    memcpy(out + head, data2 + from, tail);
    fuzz_fix_checksum(out, head + tail);
    return head + tail;
}

/* ---- checks ------------------------------------------------------------------------------------ */

_Noreturn void fuzz_fail(const char *what, nearkit_status status) {
    if (status == NEARKIT_OK) /* a wrong answer: the last message is stale */
        fprintf(stderr, "nearkit fuzz: %s\n", what);
    else
        fprintf(stderr, "nearkit fuzz: %s (status %s, message \"%s\")\n", what, nearkit_status_name(status),
                nearkit_last_error_message());
    abort();
}

void fuzz_trace(const char *format, ...) {
    static int enabled = -1;
    if (enabled < 0) enabled = getenv("NEARKIT_FUZZ_TRACE") != NULL;
    if (!enabled) return;
    va_list args;
    va_start(args, format);
    fputs("trace: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

void fuzz_expect_load_outcome(nearkit_status status, const nearkit_index *loaded) {
    switch (status) {
    case NEARKIT_OK:
        if (!loaded) fuzz_fail("load returned OK without an index", status);
        return;
    case NEARKIT_ERR_CORRUPT:
    case NEARKIT_ERR_UNSUPPORTED:
    case NEARKIT_ERR_OUT_OF_MEMORY:
        if (loaded) fuzz_fail("a failed load left an index behind", status);
        if (nearkit_last_error_message()[0] == '\0') fuzz_fail("a failed load left no message", status);
        return;
    default:
        fuzz_fail("load of a damaged file gave a status its contract does not list", status);
    }
}

void fuzz_inspect(const nearkit_index *index) {
    char *text = NULL;
    nearkit_status st = nearkit_index_describe(&text, index);
    if (st && st != NEARKIT_ERR_OUT_OF_MEMORY) fuzz_fail("describe failed on a loaded index", st);
    nearkit_string_free(text);
    size_t n = nearkit_index_param_count(index);
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        double value = 0;
        st = nearkit_index_param_info(&name, NULL, index, i);
        if (st || !name) fuzz_fail("param_info failed for a listed parameter", st);
        st = nearkit_index_get_param(&value, index, name);
        if (st) fuzz_fail("get_param failed for a listed parameter", st);
    }
    (void)nearkit_index_memory_bytes(index);
    (void)nearkit_index_is_ready(index);
}

void fuzz_expect_round_trip(const nearkit_index *index) {
    void *image = NULL;
    size_t size = 0;
    nearkit_status st = nearkit_index_save_to_buffer(&image, &size, index);
    if (st == NEARKIT_ERR_OUT_OF_MEMORY) return;
    if (st) fuzz_fail("an index that loaded does not save", st);
    nearkit_index *again = NULL;
    st = nearkit_index_load_from_buffer(&again, image, size);
    nearkit_buffer_free(image);
    if (st == NEARKIT_ERR_OUT_OF_MEMORY) return;
    if (st) fuzz_fail("a saved index does not load again", st);
    if (nearkit_index_count(again) != nearkit_index_count(index) ||
        nearkit_index_kind(again) != nearkit_index_kind(index) ||
        nearkit_index_metric(again) != nearkit_index_metric(index) ||
        nearkit_index_dimension(again) != nearkit_index_dimension(index) ||
        nearkit_index_is_ready(again) != nearkit_index_is_ready(index))
        fuzz_fail("an index saved and loaded again differs from the original", NEARKIT_OK);
    nearkit_index_free(again);
}
