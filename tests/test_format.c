/* The index file format refuses every damaged input with CORRUPT (or UNSUPPORTED for a newer
 * version, IO for a missing file) and never crashes: truncation at every byte, byte flips,
 * foreign files, and (issue 13, defects 13 and 8) what format 1 never holds under a valid
 * checksum, with messages built from other messages intact. */
#define _POSIX_C_SOURCE 200809L
#include "nearkit.h"

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/crc32.h"
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

static nearkit_index *ivf_index(void) {
    nearkit_index *ix = NULL;
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = 1;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, 4, &o), NEARKIT_OK);
    float v[64 * 4];
    for (int i = 0; i < 64 * 4; i++) v[i] = (float)((i * 31) % 17);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, 64, NULL), NEARKIT_OK);
    return ix;
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

/* The bytes of a file, read back whole; NULL when it cannot be read. */
static uint8_t *file_bytes(size_t *size, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *data = NULL;
    if (!fseek(f, 0, SEEK_END)) {
        long end = ftell(f);
        data = end >= 0 ? malloc((size_t)end + 1) : NULL;
        *size = (size_t)end;
        if (data && (fseek(f, 0, SEEK_SET) || fread(data, 1, *size, f) != *size)) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    return data;
}

/* A file writer goes out in 2 MB stretches, staging small sections and writing large ones
 * straight from the index (format.c): whatever the sizes and where the sections fall against
 * the stretches, the file holds exactly the bytes a save to memory makes. */
static void test_file_matches_buffer(void) {
    /* 100-d rows: 5,242 of them are just under 2 MB, 5,243 just over; 30,000 are 12 MB */
    const uint64_t rows[] = {1, 5240, 5242, 5243, 5300, 10486, 30000};
    const nearkit_kind kinds[] = {NEARKIT_KIND_FLAT, NEARKIT_KIND_IVF_FLAT};
    enum { D = 100 };
    float *v = malloc(30000 * D * sizeof *v);
    CHECK(v != NULL);
    for (size_t i = 0; v && i < 30000 * D; i++) v[i] = (float)((i * 2654435761u) % 1000) / 100.0f;
    for (size_t k = 0; v && k < 2; k++)
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            if (kinds[k] == NEARKIT_KIND_IVF_FLAT && rows[r] < 64) continue;
            nearkit_index *ix = NULL;
            nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
            o.num_threads = 2;
            CHECK_STATUS(nearkit_index_create(&ix, kinds[k], NEARKIT_METRIC_L2, D, &o), NEARKIT_OK);
            if (kinds[k] == NEARKIT_KIND_IVF_FLAT) CHECK_STATUS(nearkit_index_set_param(ix, "nlist", 64), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, rows[r], NULL), NEARKIT_OK);
            void *buf = NULL;
            size_t size = 0, file_size = 0;
            CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, ix), NEARKIT_OK);
            char path[] = "/tmp/nearkit-format-XXXXXX";
            int fd = mkstemp(path);
            CHECK(fd >= 0);
            close(fd);
            CHECK_STATUS(nearkit_index_save(ix, path), NEARKIT_OK);
            uint8_t *saved = file_bytes(&file_size, path);
            CHECK(saved && file_size == size && !memcmp(saved, buf, size));
            free(saved);
            remove(path);
            nearkit_buffer_free(buf);
            nearkit_index_free(ix);
        }
    free(v);
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
    newer[8] = 3;
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

/* ---- an editable image: the fixed header, then sections ---------------------------------------- */

typedef struct section {
    uint32_t tag;
    uint32_t pad;     /* bytes between the section's head and its body (format 1: 0, "reserved") */
    uint8_t pad_fill; /* what the emitter writes there (the format says 0) */
    uint8_t *body;
    uint64_t size;
} section;

typedef struct image {
    uint8_t head[56];
    section s[16];
    uint32_t n;
} image;

static void image_parse(image *im, const uint8_t *p, size_t size) {
    memcpy(im->head, p, 56);
    memcpy(&im->n, p + 52, 4);
    const uint8_t *at = p + 56;
    for (uint32_t i = 0; i < im->n && i < 16; i++) {
        section *s = &im->s[i];
        memcpy(&s->tag, at, 4);
        memcpy(&s->pad, at + 4, 4);
        memcpy(&s->size, at + 8, 8);
        s->body = malloc(s->size + 16);
        memcpy(s->body, at + 16 + s->pad, s->size);
        at += 16 + s->pad + s->size;
        s->pad = 0; /* edited sections move: image_emit writes them unpadded, which loads */
        s->pad_fill = 0;
    }
    CHECK((size_t)(at - p) == size - 4);
}

/* Writes the image back with a valid checksum; the caller frees the result. */
static uint8_t *image_emit(size_t *size, const image *im) {
    size_t total = 56 + 4;
    for (uint32_t i = 0; i < im->n; i++) total += 16 + im->s[i].pad + im->s[i].size;
    uint8_t *out = malloc(total), *at = out + 56;
    memcpy(out, im->head, 56);
    memcpy(out + 52, &im->n, 4);
    for (uint32_t i = 0; i < im->n; i++) {
        memcpy(at, &im->s[i].tag, 4);
        memcpy(at + 4, &im->s[i].pad, 4);
        memcpy(at + 8, &im->s[i].size, 8);
        memset(at + 16, im->s[i].pad_fill, im->s[i].pad);
        memcpy(at + 16 + im->s[i].pad, im->s[i].body, im->s[i].size);
        at += 16 + im->s[i].pad + im->s[i].size;
    }
    uint32_t crc = crc32_ieee(out + 8, total - 12);
    memcpy(at, &crc, 4);
    *size = total;
    return out;
}

static void image_free(image *im) {
    for (uint32_t i = 0; i < im->n; i++) free(im->s[i].body);
}

static section *image_find(image *im, const char tag[4]) {
    for (uint32_t i = 0; i < im->n; i++)
        if (!memcmp(&im->s[i].tag, tag, 4)) return &im->s[i];
    return NULL;
}

static void image_of(image *im, const nearkit_index *ix) {
    void *buf = NULL;
    size_t size = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, ix), NEARKIT_OK);
    image_parse(im, buf, size);
    nearkit_buffer_free(buf);
}

static nearkit_status load_image(const image *im) {
    size_t size = 0;
    uint8_t *bytes = image_emit(&size, im);
    nearkit_index *out = NULL;
    nearkit_status st = nearkit_index_load_from_buffer(&out, bytes, size);
    nearkit_index_free(out);
    free(bytes);
    return st;
}

/* ---- defect 13: what the format never holds ------------------------------------------------------ */

static void test_strict_framing(void) {
    nearkit_index *ix = ivf_index();
    image im;
    image_of(&im, ix);
    CHECK_STATUS(load_image(&im), NEARKIT_OK); /* the editor itself changes nothing */

    section *vecs = image_find(&im, "VECS");
    CHECK(vecs != NULL);
    /* format 2: up to 63 zero bytes may sit between a section's head and its body */
    vecs->pad = 63;
    CHECK_STATUS(load_image(&im), NEARKIT_OK);
    vecs->pad_fill = 1; /* padding that is not zero */
    CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
    CHECK(strstr(nearkit_last_error_message(), "padding") != NULL);
    vecs->pad_fill = 0;
    vecs->pad = 64; /* more than alignment ever needs */
    CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
    CHECK(strstr(nearkit_last_error_message(), "padding") != NULL);
    /* format 1 packed its sections: the same field was reserved, always 0 */
    im.head[8] = 1;
    vecs->pad = 0;
    CHECK_STATUS(load_image(&im), NEARKIT_OK);
    vecs->pad = 1;
    CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
    CHECK(strstr(nearkit_last_error_message(), "reserved") != NULL);
    vecs->pad = 0;
    im.head[8] = 2;

    /* the same section twice (the second copy would win or lose silently) */
    im.s[im.n] = im.s[0];
    im.s[im.n].body = malloc(im.s[0].size + 1);
    memcpy(im.s[im.n].body, im.s[0].body, im.s[0].size);
    im.n++;
    CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
    CHECK(strstr(nearkit_last_error_message(), "twice") != NULL);
    im.n--;
    free(im.s[im.n].body);
    CHECK_STATUS(load_image(&im), NEARKIT_OK);

    /* a byte after the last parameter */
    section *prms = image_find(&im, "PRMS");
    CHECK(prms != NULL);
    prms->body[prms->size++] = 0;
    CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
    CHECK(strstr(nearkit_last_error_message(), "after the parameters") != NULL);
    prms->size--;

    /* a parameter name with a NUL in it, and one ending in a NUL (that reads as a known name) */
    uint8_t *name = NULL;
    uint16_t len = 0;
    for (uint8_t *p = prms->body + 4; p < prms->body + prms->size;) {
        memcpy(&len, p, 2);
        if (len == 6 && !memcmp(p + 2, "nprobe", 6)) name = p;
        p += 2 + len + 8;
    }
    CHECK(name != NULL);
    if (name) {
        name[2 + 3] = '\0';
        CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
        CHECK(strstr(nearkit_last_error_message(), "NUL") != NULL);
        name[2 + 3] = 'o';
        /* rewrite "nprobe" as "nprobe\0": the entry grows by one byte */
        uint8_t *grown = malloc(prms->size + 1);
        size_t at = (size_t)(name - prms->body);
        memcpy(grown, prms->body, at);
        uint16_t len7 = 7;
        memcpy(grown + at, &len7, 2);
        memcpy(grown + at + 2, "nprobe", 7);
        memcpy(grown + at + 9, prms->body + at + 8, prms->size - at - 8);
        free(prms->body);
        prms->body = grown;
        prms->size++;
        CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
        CHECK(strstr(nearkit_last_error_message(), "NUL") != NULL);
    }
    image_free(&im);

    /* the same parameter twice */
    image_of(&im, ix);
    prms = image_find(&im, "PRMS");
    uint32_t count;
    memcpy(&count, prms->body, 4);
    uint8_t *first = prms->body + 4;
    memcpy(&len, first, 2);
    size_t entry = 2u + len + 8u;
    uint8_t *twice = malloc(prms->size + entry);
    memcpy(twice, prms->body, prms->size);
    memcpy(twice + prms->size, first, entry);
    count++;
    memcpy(twice, &count, 4);
    free(prms->body);
    prms->body = twice;
    prms->size += entry;
    CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
    CHECK(strstr(nearkit_last_error_message(), "twice") != NULL);
    image_free(&im);
    nearkit_index_free(ix);
}

/* ---- defect 8: a message built from another message is intact ----------------------------------- */

static void test_nested_messages(void) {
    nearkit_index *ix = ivf_index();
    char expected[600], inner[512];

    /* a parameter value the API refuses */
    nearkit_index *fresh = ivf_index();
    CHECK_STATUS(nearkit_index_set_param(fresh, "nprobe", 0), NEARKIT_ERR_INVALID_ARGUMENT);
    snprintf(inner, sizeof inner, "%s", nearkit_last_error_message());
    nearkit_index_free(fresh);
    snprintf(expected, sizeof expected, "corrupt index: %s", inner);
    image im;
    image_of(&im, ix);
    section *prms = image_find(&im, "PRMS");
    for (uint8_t *p = prms->body + 4; p < prms->body + prms->size;) {
        uint16_t len;
        memcpy(&len, p, 2);
        if (len == 6 && !memcmp(p + 2, "nprobe", 6)) {
            double zero = 0;
            memcpy(p + 8, &zero, 8);
        }
        p += 2 + len + 8;
    }
    CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
    CHECK(strcmp(nearkit_last_error_message(), expected) == 0);
    if (strcmp(nearkit_last_error_message(), expected) != 0)
        fprintf(stderr, "  got '%s'\n  expected '%s'\n", nearkit_last_error_message(), expected);
    image_free(&im);

    /* a header the index cannot be created from (a dimension of 0) */
    nearkit_index *none = NULL;
    CHECK(nearkit_index_create(&none, NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, 0, NULL) != NEARKIT_OK);
    snprintf(expected, sizeof expected, "corrupt index: %s", nearkit_last_error_message());
    image_of(&im, ix);
    memset(im.head + 28, 0, 4);
    CHECK_STATUS(load_image(&im), NEARKIT_ERR_CORRUPT);
    CHECK(strcmp(nearkit_last_error_message(), expected) == 0);
    if (strcmp(nearkit_last_error_message(), expected) != 0)
        fprintf(stderr, "  got '%s'\n  expected '%s'\n", nearkit_last_error_message(), expected);
    image_free(&im);
    nearkit_index_free(ix);
}

/* Every way the library computes the CRC-32 (the dispatched one, the tables, carry-less folding
 * where the CPU has it) equals the bit-by-bit definition: on the standard check string, on every
 * length up to past several folding steps at every alignment, chained from a previous CRC, and
 * over 3 MB; and a concatenation from two CRCs equals the CRC of the whole. */
static void test_crc32(void) {
    static const uint8_t check_string[] = "123456789";
    CHECK(nearkit_crc32(0, check_string, 9) == 0xCBF43926u);
    CHECK(nearkit_crc32_tables(0, check_string, 9) == 0xCBF43926u);
    bool clmul = nearkit_crc32_has_clmul();
    if (clmul) CHECK(nearkit_crc32_clmul(0, check_string, 9) == 0xCBF43926u);
    printf("test_format: CRC-32 by carry-less multiplication %s\n", clmul ? "tested" : "not available here");

    size_t big = (size_t)3 << 20;
    uint8_t *buf = malloc(big + 64);
    CHECK(buf != NULL);
    if (!buf) return;
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < big + 64; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(state >> 56);
    }
    int wrong = 0;
    for (size_t offset = 0; offset < 16; offset++) {
        for (size_t n = 0; n <= 700; n++) {
            const uint8_t *p = buf + offset;
            uint32_t want = crc32_ieee(p, n);
            if (nearkit_crc32(0, p, n) != want || nearkit_crc32_tables(0, p, n) != want) wrong++;
            if (clmul && nearkit_crc32_clmul(0, p, n) != want) wrong++;
            /* chained: the CRC of the first part carried into the rest */
            size_t cut = n / 3;
            uint32_t first = nearkit_crc32(0, p, cut);
            if (nearkit_crc32(first, p + cut, n - cut) != want) wrong++;
            if (clmul && nearkit_crc32_clmul(nearkit_crc32_tables(0, p, cut), p + cut, n - cut) != want) wrong++;
            if (nearkit_crc32_concat(first, nearkit_crc32(0, p + cut, n - cut), n - cut) != want) wrong++;
        }
    }
    CHECK(wrong == 0);
    uint32_t want = crc32_ieee(buf + 3, big);
    CHECK(nearkit_crc32(0, buf + 3, big) == want);
    CHECK(nearkit_crc32_tables(0, buf + 3, big) == want);
    if (clmul) CHECK(nearkit_crc32_clmul(0, buf + 3, big) == want);
    free(buf);
}

int main(void) {
    test_crc32();
    test_round_trips();
    test_file_matches_buffer();
    test_damage();
    test_strict_framing();
    test_nested_messages();
    return check_summary("test_format");
}
