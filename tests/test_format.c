/* The index file format refuses every damaged input with CORRUPT (or UNSUPPORTED for a newer
 * version, IO for a missing file) and never crashes: truncation at every byte, byte flips,
 * foreign files. */
#define _POSIX_C_SOURCE 200809L
#include "nearkit.h"

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int b = 0; b < 8; b++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static nearkit_index *sample_index(nearkit_metric metric, uint32_t dim, bool custom_ids) {
    nearkit_index *ix = NULL;
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = 2;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, metric, dim, &o), NEARKIT_OK);
    enum { N = 40 };
    float v[N * 8];
    uint8_t codes[N * 8];
    int64_t ids[N];
    for (int i = 0; i < N * 8; i++) {
        v[i] = (float)((i * 37) % 11) - 5.0f;
        codes[i] = (uint8_t)(i * 91);
    }
    for (int i = 0; i < N; i++) ids[i] = 1000 - 3 * i;
    if (metric == NEARKIT_METRIC_HAMMING)
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, codes, N, custom_ids ? ids : NULL), NEARKIT_OK);
    else
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, N, custom_ids ? ids : NULL), NEARKIT_OK);
    return ix;
}

/* Two indexes give identical k-NN answers for their own first vectors. */
static bool same_answers(const nearkit_index *a, const nearkit_index *b) {
    enum { Q = 5, K = 6 };
    uint8_t queries[Q * 32] = {0};
    for (int i = 0; i < Q * 32; i++) queries[i] = (uint8_t)(i * 13);
    float fq[Q * 8];
    for (int i = 0; i < Q * 8; i++) fq[i] = (float)(i % 7) - 3.0f;
    const void *q = nearkit_index_vector_type(a) == NEARKIT_VECTOR_BINARY ? (const void *)queries : (const void *)fq;
    int64_t ia[Q * K], ib[Q * K];
    float da[Q * K], db[Q * K];
    if (nearkit_index_search(ia, da, a, nearkit_index_vector_type(a), q, Q, K, NULL) ||
        nearkit_index_search(ib, db, b, nearkit_index_vector_type(b), q, Q, K, NULL))
        return false;
    return memcmp(ia, ib, sizeof ia) == 0 && memcmp(da, db, sizeof da) == 0 &&
           nearkit_index_count(a) == nearkit_index_count(b) && nearkit_index_metric(a) == nearkit_index_metric(b);
}

static void test_round_trips(void) {
    const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_HAMMING};
    for (int m = 0; m < 3; m++)
        for (int custom = 0; custom < 2; custom++) {
            nearkit_index *ix = sample_index(metrics[m], metrics[m] == NEARKIT_METRIC_HAMMING ? 64 : 8, custom);
            void *buf = NULL;
            size_t size = 0;
            CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, ix), NEARKIT_OK);
            nearkit_index *back = NULL;
            CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, size), NEARKIT_OK);
            CHECK(back && same_answers(ix, back));
            double threads = 0;
            CHECK_STATUS(nearkit_index_get_param(&threads, back, "num_threads"), NEARKIT_OK);
            CHECK(threads == 2);
            char path[] = "/tmp/nearkit-format-XXXXXX";
            int fd = mkstemp(path);
            CHECK(fd >= 0);
            close(fd);
            CHECK_STATUS(nearkit_index_save(ix, path), NEARKIT_OK);
            nearkit_index *from_file = NULL;
            CHECK_STATUS(nearkit_index_load(&from_file, path), NEARKIT_OK);
            CHECK(from_file && same_answers(ix, from_file));
            remove(path);
            nearkit_index_free(from_file);
            nearkit_index_free(back);
            nearkit_buffer_free(buf);
            nearkit_index_free(ix);
        }
}

static void test_damage(void) {
    nearkit_index *ix = sample_index(NEARKIT_METRIC_L2, 8, true);
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, ix), NEARKIT_OK);
    uint8_t *image = buf;
    int bad = 0;
    /* every truncation, so every section boundary */
    for (size_t n = 0; n < size; n++) {
        nearkit_index *out = (nearkit_index *)&bad;
        uint8_t *copy = malloc(n ? n : 1); /* exact-size copy: ASan sees any over-read */
        memcpy(copy, image, n);
        nearkit_status st = nearkit_index_load_from_buffer(&out, copy, n);
        if (st != NEARKIT_ERR_CORRUPT || out != NULL || !nearkit_last_error_message()[0]) bad++;
        free(copy);
    }
    CHECK(bad == 0);
    /* byte flips anywhere */
    uint64_t s = 99;
    bad = 0;
    for (int trial = 0; trial < 3000; trial++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t at = (size_t)((s >> 33) % size);
        uint8_t flip = (uint8_t)(1 + (s >> 20) % 255);
        uint8_t *copy = malloc(size);
        memcpy(copy, image, size);
        copy[at] ^= flip;
        nearkit_index *out = NULL;
        nearkit_status st = nearkit_index_load_from_buffer(&out, copy, size);
        if (st == NEARKIT_OK) nearkit_index_free(out);
        if (st != NEARKIT_ERR_CORRUPT && st != NEARKIT_ERR_UNSUPPORTED) bad++;
        free(copy);
    }
    CHECK(bad == 0);
    /* a newer format version is refused as such, even with a valid checksum */
    uint8_t *newer = malloc(size);
    memcpy(newer, image, size);
    newer[8] = 2;
    uint32_t crc = crc32_ieee(newer + 8, size - 12);
    memcpy(newer + size - 4, &crc, 4);
    nearkit_index *out = NULL;
    CHECK_STATUS(nearkit_index_load_from_buffer(&out, newer, size), NEARKIT_ERR_UNSUPPORTED);
    CHECK(strstr(nearkit_last_error_message(), "newer") != NULL);
    /* a valid checksum over a lying length field still fails cleanly */
    memcpy(newer, image, size);
    uint64_t huge = UINT64_MAX / 2;
    memcpy(newer + 56 + 8, &huge, 8); /* the first section's length */
    crc = crc32_ieee(newer + 8, size - 12);
    memcpy(newer + size - 4, &crc, 4);
    CHECK_STATUS(nearkit_index_load_from_buffer(&out, newer, size), NEARKIT_ERR_CORRUPT);
    free(newer);
    /* foreign content and bad arguments */
    const char text[] = "this is not an index, just some text that is long enough to parse";
    CHECK_STATUS(nearkit_index_load_from_buffer(&out, text, sizeof text), NEARKIT_ERR_CORRUPT);
    CHECK_STATUS(nearkit_index_load_from_buffer(&out, NULL, 10), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_load_from_buffer(NULL, image, size), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_load(&out, "/nonexistent/dir/x.nkx"), NEARKIT_ERR_IO);
    CHECK_STATUS(nearkit_index_load(&out, "/tmp"), NEARKIT_ERR_IO);
    CHECK_STATUS(nearkit_index_save(ix, "/nonexistent/dir/x.nkx"), NEARKIT_ERR_IO);
    CHECK_STATUS(nearkit_index_save(NULL, "/tmp/x.nkx"), NEARKIT_ERR_INVALID_ARGUMENT);
    void *b2;
    CHECK_STATUS(nearkit_index_save_to_buffer(&b2, NULL, ix), NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_buffer_free(buf);
    nearkit_index_free(ix);
}

int main(void) {
    test_round_trips();
    test_damage();
    return check_summary("test_format");
}
