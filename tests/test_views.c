/* Read-only views (nearkit_index_view, issue 19): for every kind, a view of a saved file answers
 * exactly as the loaded file does, refuses every write with STATE while runtime settings stay
 * settable, and copies into a writable index; opening checks the framing and never trusts a length
 * beyond the file (truncations and flips at every byte, under ASan in the _asan run); verify
 * checks the checksum; format version 1 files still load and view or say why not; a view keeps
 * the file it mapped when the path is saved over; concurrent first searches of a view agree; the
 * codes kinds, hnsw, the trees, mih and rpforest keep their structures in the file, and a plain
 * view of damaged graph links, hash tables or leaf rows searches within bounds; an index, its load
 * and its view save the same bytes. */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binary_test_util.h"
#include "check.h"

enum { N = 1200, DIM = 16, BITS = 64, NQ = 70, K = 10 };

static uint64_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Clustered floats (16 clusters), or random codes for binary kinds. */
static void *make_vectors(bool binary, uint64_t n, uint64_t seed) {
    uint64_t s = seed;
    if (binary) {
        uint8_t *codes = malloc(n * BITS / 8);
        for (uint64_t i = 0; i < n * BITS / 8; i++) codes[i] = (uint8_t)next(&s);
        return codes;
    }
    float *v = malloc(n * DIM * sizeof *v);
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = 0; j < DIM; j++)
            v[i * DIM + j] = (float)(i % 16) + (float)(next(&s) % 1000) / 1000.0f;
    return v;
}

static char *temp_path(void) {
    char *path = malloc(64);
    strcpy(path, "/tmp/nearkit-views-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    return path;
}

/* An index of the kind, searchable, with explicit ids and two removed rows when asked. */
static nearkit_index *build_kind(const nearkit_kind_info *kind, bool custom_ids) {
    bool binary = !(kind->metric_mask & (1u << NEARKIT_METRIC_L2));
    nearkit_metric metric = binary ? NEARKIT_METRIC_HAMMING : NEARKIT_METRIC_L2;
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = 2;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind->kind, metric, binary ? BITS : DIM, &o), NEARKIT_OK);
    if (!ix) return NULL;
    (void)nearkit_index_set_param(ix, "nlist", 16.0); /* kinds without it refuse; fine */
    void *x = make_vectors(binary, N, 7);
    nearkit_vector_type type = binary ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32;
    int64_t *ids = malloc(N * sizeof *ids);
    for (uint64_t i = 0; i < N; i++) ids[i] = 5000 + 3 * (int64_t)i;
    if (kind->flags & NEARKIT_KIND_FLAG_NEEDS_TRAINING) CHECK_STATUS(nearkit_index_train(ix, type, x, N), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, type, x, N, custom_ids ? ids : NULL), NEARKIT_OK);
    if (kind->flags & NEARKIT_KIND_FLAG_NEEDS_BUILD) CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    if (custom_ids) {
        int64_t gone[2] = {ids[3], ids[500]};
        uint64_t removed = 0;
        (void)nearkit_index_remove(&removed, ix, gone, 2); /* kinds that cannot remove refuse; fine */
    }
    free(ids);
    free(x);
    return ix;
}

/* Both indexes give identical answers: single queries, a batch (flat's GEMM path), k beyond the
 * count's reach, and a range search. */
static bool same_answers(const nearkit_index *a, const nearkit_index *b) {
    bool binary = nearkit_index_vector_type(a) == NEARKIT_VECTOR_BINARY;
    nearkit_vector_type type = nearkit_index_vector_type(a);
    void *q = make_vectors(binary, NQ, 99);
    int64_t ia[NQ * K], ib[NQ * K];
    float da[NQ * K], db[NQ * K];
    bool same = true;
    for (uint64_t n = 1; n <= NQ && same; n += NQ - 1) {
        same = nearkit_index_search(ia, da, a, type, q, n, K, NULL) == NEARKIT_OK &&
               nearkit_index_search(ib, db, b, type, q, n, K, NULL) == NEARKIT_OK &&
               memcmp(ia, ib, n * K * sizeof *ia) == 0 && memcmp(da, db, n * K * sizeof *da) == 0;
    }
    nearkit_range_result *ra = NULL, *rb = NULL;
    float radius = binary ? 24.0f : 2.0f;
    nearkit_status sa = nearkit_index_range_search(&ra, a, type, q, 3, radius, NULL);
    nearkit_status sb = nearkit_index_range_search(&rb, b, type, q, 3, radius, NULL);
    same = same && sa == sb;
    if (same && sa == NEARKIT_OK) {
        const uint64_t *oa, *ob;
        const int64_t *xa, *xb;
        const float *ya, *yb;
        nearkit_range_result_get(&oa, &xa, &ya, ra);
        nearkit_range_result_get(&ob, &xb, &yb, rb);
        uint64_t na = oa[3], nb = ob[3];
        same = !memcmp(oa, ob, 4 * sizeof *oa) &&
               (!na || (!memcmp(xa, xb, na * sizeof *xa) && !memcmp(ya, yb, nb * sizeof *ya)));
    }
    nearkit_range_result_free(ra);
    nearkit_range_result_free(rb);
    free(q);
    return same && nearkit_index_count(a) == nearkit_index_count(b);
}

/* Every write is refused with STATE and leaves the view as it was. */
static void check_refuses_writes(nearkit_index *view, const nearkit_kind_info *kind) {
    bool binary = nearkit_index_vector_type(view) == NEARKIT_VECTOR_BINARY;
    nearkit_vector_type type = nearkit_index_vector_type(view);
    void *x = make_vectors(binary, 4, 3);
    uint64_t before = nearkit_index_count(view), removed = 7;
    int64_t id = 0;
    CHECK_STATUS(nearkit_index_add(view, type, x, 4, NULL), NEARKIT_ERR_STATE);
    CHECK(strstr(nearkit_last_error_message(), "view") != NULL);
    CHECK_STATUS(nearkit_index_remove(&removed, view, &id, 1), NEARKIT_ERR_STATE);
    CHECK(removed == 0);
    CHECK_STATUS(nearkit_index_train(view, type, x, 4), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_build(view), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_compact(view), NEARKIT_ERR_STATE);
    CHECK(nearkit_index_count(view) == before);
    /* build parameters are refused, runtime ones stay settable */
    for (size_t i = 0; i < nearkit_index_param_count(view); i++) {
        nearkit_param_info p = NEARKIT_PARAM_INFO_INIT;
        CHECK_STATUS(nearkit_index_param_describe(&p, view, i), NEARKIT_OK);
        if (p.flags & NEARKIT_PARAM_FLAG_READ_ONLY) continue;
        double value = 0;
        CHECK_STATUS(nearkit_index_get_param(&value, view, p.name), NEARKIT_OK);
        nearkit_status st = nearkit_index_set_param(view, p.name, value);
        if (p.flags & NEARKIT_PARAM_FLAG_BUILD) {
            if (st != NEARKIT_ERR_STATE) fprintf(stderr, "  %s: build parameter %s set on a view\n", kind->name, p.name);
            CHECK(st == NEARKIT_ERR_STATE);
        } else {
            if (st != NEARKIT_OK) fprintf(stderr, "  %s: runtime parameter %s refused: %s\n", kind->name, p.name, nearkit_last_error_message());
            CHECK(st == NEARKIT_OK);
        }
    }
    free(x);
}

/* The saved index, its load and its view save the same bytes: files are deterministic, every byte
 * written is one the index meant (no uninitialised padding or spare slots). */
static void check_saves_alike(const nearkit_index *ix, const nearkit_index *loaded, const nearkit_index *view,
                              const char *name) {
    void *a = NULL, *b = NULL, *c = NULL;
    size_t na = 0, nb = 0, nc = 0;
    CHECK_STATUS(nearkit_index_save_to_buffer(&a, &na, ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save_to_buffer(&b, &nb, loaded), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save_to_buffer(&c, &nc, view), NEARKIT_OK);
    bool alike = a && b && c && na == nb && na == nc && !memcmp(a, b, na) && !memcmp(a, c, na);
    if (!alike) fprintf(stderr, "  %s: saves of the index, its load and its view differ\n", name);
    CHECK(alike);
    nearkit_buffer_free(a);
    nearkit_buffer_free(b);
    nearkit_buffer_free(c);
}

static void test_every_kind(void) {
    for (size_t i = 0; i < nearkit_kind_count(); i++) {
        nearkit_kind_info kind = NEARKIT_KIND_INFO_INIT;
        CHECK_STATUS(nearkit_kind_get_info(&kind, i), NEARKIT_OK);
        for (int custom = 0; custom < 2; custom++) {
            nearkit_index *ix = build_kind(&kind, custom);
            if (!ix) continue;
            if (getenv("NEARKIT_TEST_TRACE")) fprintf(stderr, "%s ids=%d\n", kind.name, custom);
            char *path = temp_path();
            CHECK_STATUS(nearkit_index_save(ix, path), NEARKIT_OK);
            nearkit_index *loaded = NULL, *view = NULL, *verified = NULL, *copy = NULL;
            CHECK_STATUS(nearkit_index_load(&loaded, path), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_view(&view, path, NULL), NEARKIT_OK);
            nearkit_view_options vo;
            CHECK_STATUS(nearkit_view_options_init(&vo), NEARKIT_OK);
            vo.verify = 1;
            CHECK_STATUS(nearkit_index_view(&verified, path, &vo), NEARKIT_OK);
            if (!loaded || !view || !verified) {
                fprintf(stderr, "  %s: %s\n", kind.name, nearkit_last_error_message());
            } else {
                CHECK(nearkit_index_is_view(view) == 1 && nearkit_index_is_view(loaded) == 0);
                check_saves_alike(ix, loaded, view, kind.name);
                bool same = same_answers(loaded, view) && same_answers(loaded, verified);
                if (!same) fprintf(stderr, "  %s (ids %d): a view answers differently\n", kind.name, custom);
                CHECK(same);
                /* the view owns less heap where its stored vectors stay in the mapping: every kind
                 * but ivf_flat with removed rows to drop */
                bool in_place = strcmp(kind.name, "ivf_flat") != 0 || !custom;
                if (in_place && nearkit_index_memory_bytes(view) >= nearkit_index_memory_bytes(loaded))
                    fprintf(stderr, "  %s: a view owns %llu bytes, a load %llu\n", kind.name,
                            (unsigned long long)nearkit_index_memory_bytes(view),
                            (unsigned long long)nearkit_index_memory_bytes(loaded));
                CHECK(!in_place || nearkit_index_memory_bytes(view) < nearkit_index_memory_bytes(loaded));
                char *text = NULL;
                CHECK_STATUS(nearkit_index_describe(&text, view), NEARKIT_OK);
                CHECK(text && strstr(text, "view") != NULL);
                nearkit_string_free(text);
                check_refuses_writes(view, &kind);
                CHECK(same_answers(loaded, view));
                /* a copy is an ordinary index: same answers, then writable */
                CHECK_STATUS(nearkit_index_copy(&copy, view), NEARKIT_OK);
                CHECK(copy && nearkit_index_is_view(copy) == 0 && same_answers(loaded, copy));
                bool binary = nearkit_index_vector_type(view) == NEARKIT_VECTOR_BINARY;
                void *x = make_vectors(binary, 2, 5);
                if (copy)
                    CHECK_STATUS(nearkit_index_add(copy, nearkit_index_vector_type(copy), x, 2, NULL), NEARKIT_OK);
                free(x);
            }
            nearkit_index_free(copy);
            nearkit_index_free(verified);
            nearkit_index_free(view);
            nearkit_index_free(loaded);
            nearkit_index_free(ix);
            remove(path);
            free(path);
        }
    }
}

/* A flat index's saved image, in a 64-byte aligned buffer (as a mapping would be). */
static uint8_t *flat_image(size_t *size, bool custom_ids) {
    nearkit_kind_info kind = NEARKIT_KIND_INFO_INIT;
    CHECK_STATUS(nearkit_kind_get_info(&kind, 0), NEARKIT_OK);
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 4, NULL), NEARKIT_OK);
    float v[40 * 4];
    int64_t ids[40];
    for (int i = 0; i < 40 * 4; i++) v[i] = (float)((i * 37) % 11) - 5.0f;
    for (int i = 0; i < 40; i++) ids[i] = 100 + i * 7;
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, v, 40, custom_ids ? ids : NULL), NEARKIT_OK);
    void *buf = NULL;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, size, ix), NEARKIT_OK);
    uint8_t *image = aligned_alloc(64, (*size + 63) / 64 * 64);
    memcpy(image, buf, *size);
    nearkit_buffer_free(buf);
    nearkit_index_free(ix);
    return image;
}

/* Opens a view of bytes and, when it opens, searches it: never a crash, only the statuses a
 * damaged file may give. */
static bool view_outcome_ok(const uint8_t *bytes, size_t size, const nearkit_view_options *o) {
    nearkit_index *view = NULL;
    nearkit_status st = nearkit_index_view_buffer(&view, bytes, size, o);
    if (st == NEARKIT_OK) {
        float q[2 * 4] = {1, 2, 3, 4, -1, 0, 2, 5};
        int64_t ids[2 * 5];
        float d[2 * 5];
        (void)nearkit_index_search(ids, d, view, NEARKIT_VECTOR_FLOAT32, q, 2, 5, NULL);
        nearkit_index_free(view);
        return true;
    }
    return view == NULL && nearkit_last_error_message()[0] &&
           (st == NEARKIT_ERR_CORRUPT || st == NEARKIT_ERR_UNSUPPORTED || st == NEARKIT_ERR_OUT_OF_MEMORY);
}

static void test_damaged_images(void) {
    for (int custom = 0; custom < 2; custom++) {
        size_t size = 0;
        uint8_t *image = flat_image(&size, custom);
        nearkit_view_options verify = NEARKIT_VIEW_OPTIONS_INIT;
        verify.verify = 1;
        int bad = 0;
        /* every truncation: refused, verified or not (the framing is always checked) */
        for (size_t n = 0; n < size; n++) {
            uint8_t *copy = aligned_alloc(64, n / 64 * 64 + 64);
            memcpy(copy, image, n);
            nearkit_index *view = NULL;
            nearkit_status st = nearkit_index_view_buffer(&view, copy, n, NULL);
            if (st != NEARKIT_ERR_CORRUPT || view) bad++;
            free(copy);
        }
        CHECK(bad == 0);
        /* a flipped byte with the checksum made valid again: refused or opened, never a crash */
        uint64_t s = 42;
        bad = 0;
        uint8_t *copy = aligned_alloc(64, (size + 63) / 64 * 64);
        for (size_t at = 8; at + 4 < size; at++) {
            memcpy(copy, image, size);
            copy[at] ^= (uint8_t)(1u + next(&s) % 255);
            uint32_t crc = bt_crc32(copy + 8, size - 12);
            memcpy(copy + size - 4, &crc, 4);
            if (!view_outcome_ok(copy, size, NULL) || !view_outcome_ok(copy, size, &verify)) bad++;
        }
        CHECK(bad == 0);
        /* a flip under a stale checksum: verify finds it, a plain view trusts the bytes */
        memcpy(copy, image, size);
        copy[size - 20] ^= 0x40;
        nearkit_index *view = NULL;
        CHECK_STATUS(nearkit_index_view_buffer(&view, copy, size, &verify), NEARKIT_ERR_CORRUPT);
        CHECK(view == NULL && strstr(nearkit_last_error_message(), "checksum") != NULL);
        CHECK_STATUS(nearkit_index_view_buffer(&view, copy, size, NULL), NEARKIT_OK);
        nearkit_index_free(view);
        free(copy);
        free(image);
    }
}

static void test_argument_errors(void) {
    size_t size = 0;
    uint8_t *image = flat_image(&size, true);
    nearkit_index *view = (nearkit_index *)&size;
    CHECK_STATUS(nearkit_index_view(NULL, "x", NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_view(&view, NULL, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(view == NULL);
    CHECK_STATUS(nearkit_index_view(&view, "/nonexistent/nearkit.nkx", NULL), NEARKIT_ERR_IO);
    CHECK_STATUS(nearkit_index_view(&view, "/tmp", NULL), NEARKIT_ERR_IO);
    CHECK_STATUS(nearkit_index_view_buffer(&view, NULL, 10, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_view_options_init(NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_view_options small = NEARKIT_VIEW_OPTIONS_INIT;
    small.struct_size = 2;
    CHECK_STATUS(nearkit_index_view_buffer(&view, image, size, &small), NEARKIT_ERR_INVALID_ARGUMENT);
    /* a buffer that is not 64-byte aligned cannot be used in place */
    uint8_t *shifted = aligned_alloc(64, (size + 8 + 63) / 64 * 64);
    memcpy(shifted + 8, image, size);
    CHECK_STATUS(nearkit_index_view_buffer(&view, shifted + 8, size, NULL), NEARKIT_ERR_UNSUPPORTED);
    CHECK(strstr(nearkit_last_error_message(), "aligned") != NULL);
    free(shifted);
    CHECK(nearkit_index_is_view(NULL) == 0);
    CHECK_STATUS(nearkit_index_copy(NULL, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_copy(&view, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    free(image);
}

/* A format version 1 file (the golden index files are version 1) loads as before and views when
 * its sections happen to sit where they can be used in place, or says to re-save. */
static void test_version_1_files(const char *golden_dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/indexes/v1-flat-clustered_d16-l2-k10.nkx", golden_dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    uint8_t head[12];
    CHECK(fread(head, 1, 12, f) == 12 && head[8] == 1);
    fclose(f);
    nearkit_index *loaded = NULL, *view = NULL, *copy = NULL;
    CHECK_STATUS(nearkit_index_load(&loaded, path), NEARKIT_OK);
    nearkit_status st = nearkit_index_view(&view, path, NULL);
    CHECK(st == NEARKIT_OK || st == NEARKIT_ERR_UNSUPPORTED);
    if (st == NEARKIT_OK) {
        CHECK(same_answers(loaded, view));
    } else {
        CHECK(strstr(nearkit_last_error_message(), "version 1") != NULL &&
              strstr(nearkit_last_error_message(), "re-save") != NULL);
    }
    /* re-saved, it views */
    char *resaved = temp_path();
    CHECK_STATUS(nearkit_index_save(loaded, resaved), NEARKIT_OK);
    nearkit_index_free(view);
    view = NULL;
    CHECK_STATUS(nearkit_index_view(&view, resaved, NULL), NEARKIT_OK);
    CHECK(view && same_answers(loaded, view));
    CHECK_STATUS(nearkit_index_copy(&copy, view), NEARKIT_OK);
    nearkit_index_free(copy);
    nearkit_index_free(view);
    nearkit_index_free(loaded);
    remove(resaved);
    free(resaved);
}

/* The whole file at `path` (NULL when it cannot be read). */
static uint8_t *read_file(size_t *size, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = n > 0 ? malloc((size_t)n) : NULL;
    if (bytes && fread(bytes, 1, (size_t)n, f) != (size_t)n) {
        free(bytes);
        bytes = NULL;
    }
    fclose(f);
    *size = bytes ? (size_t)n : 0;
    return bytes;
}

static void write_file(const char *path, const uint8_t *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(bytes, 1, size, f) == size);
    if (f) fclose(f);
}

/* Writes an edited image under a fresh checksum (the damage is in the values, not the framing). */
static void write_resealed(const char *path, uint8_t *image, size_t size) {
    uint32_t crc = bt_crc32(image + 8, size - 12);
    memcpy(image + size - 4, &crc, sizeof crc);
    write_file(path, image, size);
}

/* load_if_unviewable on a format version 1 file the view refuses: without the option
 * UNSUPPORTED, with it a loaded (not viewed, writable) index answering as nearkit_index_load's;
 * the same file damaged under a stale checksum, or truncated, stays CORRUPT (only the layout
 * refusal falls back, and the load checks what the unverified view did not). */
static void check_unviewable_file_loads(const char *path, const nearkit_view_options *fallback) {
    nearkit_index *loaded = NULL, *ix = NULL;
    CHECK_STATUS(nearkit_index_load(&loaded, path), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_view(&ix, path, fallback), NEARKIT_OK);
    CHECK(ix && loaded && nearkit_index_is_view(ix) == 0 && same_answers(loaded, ix));
    if (ix && nearkit_index_count(ix) > 0) { /* writable: a load, not a view */
        nearkit_vector_type type = nearkit_index_vector_type(ix);
        size_t bytes = nearkit_index_vector_bytes(ix);
        uint8_t *v = calloc(1, bytes);
        nearkit_status st = nearkit_index_add(ix, type, v, 1, NULL);
        CHECK(st != NEARKIT_ERR_STATE);
        free(v);
    }
    nearkit_index_free(ix);
    nearkit_index_free(loaded);
    size_t size = 0;
    uint8_t *bytes = read_file(&size, path);
    CHECK(bytes && size > 16);
    if (!bytes) return;
    char *damaged = temp_path();
    bytes[size - 1] ^= 0x5a; /* the stored checksum: an unverified view never reads it */
    write_file(damaged, bytes, size);
    ix = (nearkit_index *)&size;
    CHECK_STATUS(nearkit_index_view(&ix, damaged, fallback), NEARKIT_ERR_CORRUPT);
    CHECK(ix == NULL && strstr(nearkit_last_error_message(), "checksum") != NULL);
    write_file(damaged, bytes, size / 2);
    CHECK_STATUS(nearkit_index_view(&ix, damaged, fallback), NEARKIT_ERR_CORRUPT);
    CHECK(ix == NULL);
    remove(damaged);
    free(damaged);
    free(bytes);
}

static void test_load_if_unviewable_files(const char *golden_dir) {
    /* float files of DIM dimensions: same_answers makes its queries for DIM (or BITS) */
    static const char *const files[] = {"v1-flat-clustered_d16-l2-k10.nkx",      "v1-flat-uniform_d16-cosine-k10.nkx",
                                        "v1-hnsw_fp16-clustered_d16-l2-k10.nkx", "v1-hnsw-clustered_d16-l2-k10.nkx",
                                        "v1-hnsw-uniform_d16-cosine-k10.nkx",    "v1-flat_fp16-clustered_d16-l2-k10.nkx",
                                        "v1-ivf_pq-uniform_d16-cosine-k10.nkx",  "v1-ivf_pq-clustered_d16-l2-k10.nkx"};
    nearkit_view_options fallback = NEARKIT_VIEW_OPTIONS_INIT;
    fallback.load_if_unviewable = 1;
    int unviewable = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/indexes/%s", golden_dir, files[i]);
        nearkit_index *view = NULL;
        nearkit_status st = nearkit_index_view(&view, path, NULL);
        CHECK(st == NEARKIT_OK || st == NEARKIT_ERR_UNSUPPORTED);
        if (st == NEARKIT_OK) { /* viewable: the option changes nothing, still a view */
            nearkit_index_free(view);
            CHECK_STATUS(nearkit_index_view(&view, path, &fallback), NEARKIT_OK);
            CHECK(nearkit_index_is_view(view) == 1);
            nearkit_index_free(view);
            continue;
        }
        CHECK(strstr(nearkit_last_error_message(), "re-save") != NULL);
        unviewable++;
        check_unviewable_file_loads(path, &fallback);
    }
    CHECK(unviewable > 0); /* version 1 predates aligned sections: most such files cannot be viewed */
}

/* load_if_unviewable over a buffer that is not 64-byte aligned: a load of the bytes (which the
 * caller may free at once); a caller compiled before the field existed (an 8-byte struct, with a
 * nonzero word after it) keeps the old behaviour, UNSUPPORTED, the library reading nothing past
 * struct_size. */
static void test_load_if_unviewable_buffer(void) {
    size_t size = 0;
    uint8_t *image = flat_image(&size, true);
    uint8_t *shifted = aligned_alloc(64, (size + 8 + 63) / 64 * 64);
    memcpy(shifted + 8, image, size);
    nearkit_index *view = NULL, *ix = NULL;
    CHECK_STATUS(nearkit_index_view_buffer(&view, image, size, NULL), NEARKIT_OK);
    nearkit_view_options fallback = NEARKIT_VIEW_OPTIONS_INIT;
    fallback.load_if_unviewable = 1;
    CHECK_STATUS(nearkit_index_view_buffer(&ix, shifted + 8, size, &fallback), NEARKIT_OK);
    CHECK(ix && nearkit_index_is_view(ix) == 0);
    memset(shifted, 0xff, size + 8); /* the load owns its copy */
    free(shifted);
    CHECK(ix && view && same_answers(view, ix));
    nearkit_index_free(ix);
    ix = NULL;
    /* damaged under a stale checksum: the load finds it */
    shifted = aligned_alloc(64, (size + 8 + 63) / 64 * 64);
    memcpy(shifted + 8, image, size);
    shifted[8 + size - 1] ^= 1;
    CHECK_STATUS(nearkit_index_view_buffer(&ix, shifted + 8, size, &fallback), NEARKIT_ERR_CORRUPT);
    CHECK(ix == NULL);
    shifted[8 + size - 1] ^= 1;
    struct {
        struct {
            uint32_t struct_size;
            int32_t verify;
        } old;
        int32_t after;
    } before_0_2 = {{8, 0}, 1};
    CHECK(sizeof before_0_2.old == 8);
    CHECK_STATUS(nearkit_index_view_buffer(&ix, shifted + 8, size, (const nearkit_view_options *)&before_0_2),
                 NEARKIT_ERR_UNSUPPORTED);
    CHECK(ix == NULL);
    before_0_2.old.struct_size = sizeof(nearkit_view_options);
    CHECK_STATUS(nearkit_index_view_buffer(&ix, shifted + 8, size, (const nearkit_view_options *)&before_0_2),
                 NEARKIT_OK);
    nearkit_index_free(ix);
    CHECK_STATUS(nearkit_view_options_init(&fallback), NEARKIT_OK);
    CHECK(fallback.struct_size == sizeof fallback && fallback.verify == 0 && fallback.load_if_unviewable == 0);
    free(shifted);
    nearkit_index_free(view);
    free(image);
}

/* Saving over the path renames a new file into place: the view keeps the old one. */
static void test_view_survives_save_over(void) {
    nearkit_kind_info kind = NEARKIT_KIND_INFO_INIT;
    CHECK_STATUS(nearkit_kind_get_info(&kind, 0), NEARKIT_OK);
    nearkit_index *a = build_kind(&kind, false), *b = build_kind(&kind, true);
    char *path = temp_path();
    CHECK_STATUS(nearkit_index_save(a, path), NEARKIT_OK);
    nearkit_index *view = NULL;
    CHECK_STATUS(nearkit_index_view(&view, path, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save(b, path), NEARKIT_OK);
    CHECK(view && same_answers(a, view) && nearkit_index_count(view) == N);
    nearkit_index_free(view);
    nearkit_index_free(a);
    nearkit_index_free(b);
    remove(path);
    free(path);
}

/* Threads whose first searches of one flat view take the GEMM path at once (which computes the
 * view's row norms on first use) all get the loaded index's answers. */
typedef struct race {
    const nearkit_index *view;
    const float *queries;
    int64_t ids[64 * K];
    float dist[64 * K];
    nearkit_status st;
} race;

static void *race_search(void *arg) {
    race *r = arg;
    r->st = nearkit_index_search(r->ids, r->dist, r->view, NEARKIT_VECTOR_FLOAT32, r->queries, 64, K, NULL);
    return NULL;
}

static void test_concurrent_first_searches(void) {
    nearkit_kind_info kind = NEARKIT_KIND_INFO_INIT;
    CHECK_STATUS(nearkit_kind_get_info(&kind, 0), NEARKIT_OK);
    nearkit_index *ix = build_kind(&kind, false);
    char *path = temp_path();
    CHECK_STATUS(nearkit_index_save(ix, path), NEARKIT_OK);
    nearkit_index *view = NULL;
    CHECK_STATUS(nearkit_index_view(&view, path, NULL), NEARKIT_OK);
    float *q = make_vectors(false, 64, 11);
    int64_t want_ids[64 * K];
    float want[64 * K];
    CHECK_STATUS(nearkit_index_search(want_ids, want, ix, NEARKIT_VECTOR_FLOAT32, q, 64, K, NULL), NEARKIT_OK);
    enum { T = 4 };
    static race races[T];
    pthread_t threads[T];
    for (int t = 0; t < T; t++) {
        races[t] = (race){.view = view, .queries = q};
        pthread_create(&threads[t], NULL, race_search, &races[t]);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(threads[t], NULL);
        CHECK(races[t].st == NEARKIT_OK && !memcmp(races[t].ids, want_ids, sizeof want_ids) &&
              !memcmp(races[t].dist, want, sizeof want));
    }
    CHECK(nearkit_index_memory_bytes(view) > 0);
    free(q);
    nearkit_index_free(view);
    nearkit_index_free(ix);
    remove(path);
    free(path);
}

/* An rpforest view keeps its forest in the mapping: the heap it owns is the walk searches descend,
 * not the rows, nodes, leaf rows or float planes a load copies (float rows, two-means planes; also
 * ip, whose planes carry a lifted coordinate). Saving the view writes its file's planes as they
 * are: the saved file loads with the same answers. */
static void test_rpforest_view_in_place(void) {
    static const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_IP};
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        nearkit_kind kind;
        CHECK_STATUS(nearkit_kind_from_name(&kind, "rpforest"), NEARKIT_OK);
        nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
        o.params = "n_trees=6";
        nearkit_index *ix = NULL, *loaded = NULL, *view = NULL, *again = NULL;
        CHECK_STATUS(nearkit_index_create(&ix, kind, metrics[m], DIM, &o), NEARKIT_OK);
        void *x = make_vectors(false, N, 11);
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, x, N, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        char *path = temp_path(), *path2 = temp_path();
        CHECK_STATUS(nearkit_index_save(ix, path), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_load(&loaded, path), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_view(&view, path, NULL), NEARKIT_OK);
        if (loaded && view) {
            uint64_t borrowed = (uint64_t)N * DIM * sizeof(float) + 6ull * N * sizeof(uint32_t);
            uint64_t owned = nearkit_index_memory_bytes(view), load_owns = nearkit_index_memory_bytes(loaded);
            if (owned + borrowed > load_owns)
                fprintf(stderr, "  rpforest view owns %llu bytes, a load %llu\n", (unsigned long long)owned,
                        (unsigned long long)load_owns);
            CHECK(owned + borrowed <= load_owns);
            CHECK(same_answers(loaded, view));
            CHECK_STATUS(nearkit_index_save(view, path2), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_load(&again, path2), NEARKIT_OK);
            CHECK(again && same_answers(loaded, again));
        }
        nearkit_index_free(again);
        nearkit_index_free(view);
        nearkit_index_free(loaded);
        nearkit_index_free(ix);
        unlink(path);
        unlink(path2);
        free(path);
        free(path2);
        free(x);
    }
}

/* The views of the compressed kinds, hnsw and the vp / bk trees use their lists (codes and
 * positions), graph (levels and links) or tree nodes, ids and kept originals in place: a view owns less than a load by at least
 * the positions and ids, and its save round-trips. A crafted file holding a removed row (the id
 * -1) makes the view copy what dropping it moves, never write to the mapping. */
static void test_codes_and_graph_views_in_place(void) {
    static const char *const kinds[] = {"ivf_pq", "ivf_pq", "ivf_sq8", "ivf_rabitq", "flat_sq8", "ivf_binary",
                                        "hnsw", "hnsw_sq8", "ivf_flat", "vptree", "bktree", "mih", "mih"};
    static const char *const params[] = {"nlist=16,m=8,nbits=4", "nlist=16,m=8", "nlist=16,refine=2",
                                         "nlist=16", "refine=3", "nlist=16", "M=8", "M=8,refine=2", "nlist=16",
                                         "leaf_size=8", "leaf_size=8", "m=2", "m=6"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        nearkit_kind kind;
        CHECK_STATUS(nearkit_kind_from_name(&kind, kinds[i]), NEARKIT_OK);
        nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
        o.params = params[i];
        nearkit_index *ix = NULL, *loaded = NULL, *view = NULL, *again = NULL, *crafted = NULL, *reference = NULL;
        bool binary = strcmp(kinds[i], "ivf_binary") == 0 || strcmp(kinds[i], "bktree") == 0 ||
                      strcmp(kinds[i], "mih") == 0;
        bool tree = strstr(kinds[i], "tree") != NULL || strcmp(kinds[i], "mih") == 0; /* built, not trained */
        nearkit_vector_type type = binary ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32;
        CHECK_STATUS(nearkit_index_create(&ix, kind, binary ? NEARKIT_METRIC_HAMMING : NEARKIT_METRIC_L2,
                                          binary ? BITS : DIM, &o),
                     NEARKIT_OK);
        void *x = make_vectors(binary, N, 13);
        int64_t *ids = malloc(N * sizeof *ids);
        for (uint64_t r = 0; r < N; r++) ids[r] = 100 + 2 * (int64_t)r;
        if (strcmp(kinds[i], "hnsw") != 0 && !tree) CHECK_STATUS(nearkit_index_train(ix, type, x, N), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(ix, type, x, N, ids), NEARKIT_OK);
        if (tree) CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        char *path = temp_path(), *path2 = temp_path();
        CHECK_STATUS(nearkit_index_save(ix, path), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_load(&loaded, path), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_view(&view, path, NULL), NEARKIT_OK);
        if (loaded && view) {
            /* at least the positions and ids stay in the file (and the codes, and kept originals);
             * ivf_flat's vectors, ids and l2 norms */
            uint64_t owned = nearkit_index_memory_bytes(view), load_owns = nearkit_index_memory_bytes(loaded);
            uint64_t per_row = strcmp(kinds[i], "ivf_flat") == 0 ? DIM * sizeof(float) + sizeof(int64_t) + sizeof(float)
                                                                  : sizeof(uint32_t) + sizeof(int64_t);
            bool less = owned + N * per_row <= load_owns;
            if (!less)
                fprintf(stderr, "  %s view owns %llu bytes, a load %llu\n", kinds[i], (unsigned long long)owned,
                        (unsigned long long)load_owns);
            CHECK(less);
            CHECK(same_answers(loaded, view));
            check_saves_alike(ix, loaded, view, kinds[i]);
            CHECK_STATUS(nearkit_index_save(view, path2), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_load(&again, path2), NEARKIT_OK);
            CHECK(again && same_answers(loaded, again));
        }
        size_t size = 0;
        uint8_t *image = read_file(&size, path);
        uint64_t len = 0;
        uint8_t *stored_ids = image ? (uint8_t *)bt_find_section(&len, image, "IDS ") : NULL;
        CHECK(stored_ids && len == N * sizeof(int64_t));
        if (stored_ids) { /* edited in place, so that the sections stay aligned for a view */
            int64_t gone = -1;
            uint64_t count = N - 1;
            memcpy(stored_ids + 7 * sizeof gone, &gone, sizeof gone);
            memcpy(image + 32, &count, sizeof count); /* the header's count of rows not removed */
            write_resealed(path2, image, size);
            CHECK_STATUS(nearkit_index_view(&crafted, path2, NULL), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_load(&reference, path2), NEARKIT_OK);
            CHECK(crafted && reference && nearkit_index_count(crafted) == N - 1 && same_answers(reference, crafted));
        }
        nearkit_index_free(reference);
        nearkit_index_free(crafted);
        free(image);
        nearkit_index_free(again);
        nearkit_index_free(view);
        nearkit_index_free(loaded);
        nearkit_index_free(ix);
        unlink(path);
        unlink(path2);
        free(path);
        free(path2);
        free(ids);
        free(x);
    }
}

/* Overwrites a section's body with `fill` applied to each 32-bit word. */
static void damage_words(uint8_t *image, const char *tag, uint32_t (*fill)(uint64_t w, uint32_t old)) {
    uint64_t len = 0;
    uint8_t *body = (uint8_t *)bt_find_section(&len, image, tag);
    CHECK(body != NULL);
    for (uint64_t w = 0; body && w < len / 4; w++) {
        uint32_t old;
        memcpy(&old, body + 4 * w, 4);
        uint32_t v = fill(w, old);
        memcpy(body + 4 * w, &v, 4);
    }
}
static uint32_t wild_word(uint64_t w, uint32_t old) { return w % 3 ? old ^ (uint32_t)(w * 2654435761u) : 0xFFFFFFFFu; }
static uint32_t some_wild_words(uint64_t w, uint32_t old) { return w % 7 ? old : wild_word(w + 1, old); }
static uint32_t nonzero_bytes(uint64_t w, uint32_t old) { (void)w; return old | 0x01010101u; }

/* A view of a damaged file (N rows, ids their positions) answers k-NN and range searches with
 * ids of real rows or -1 (the _asan run: without reading out of bounds). */
static void check_searches_in_bounds(nearkit_index *view, float radius) {
    nearkit_vector_type type = nearkit_index_vector_type(view);
    void *q = make_vectors(type == NEARKIT_VECTOR_BINARY, NQ, 23);
    int64_t ids[NQ * K];
    float dist[NQ * K];
    CHECK_STATUS(nearkit_index_search(ids, dist, view, type, q, NQ, K, NULL), NEARKIT_OK);
    for (size_t i = 0; i < NQ * K; i++) CHECK(ids[i] >= -1 && ids[i] < N);
    nearkit_range_result *rr = NULL;
    CHECK_STATUS(nearkit_index_range_search(&rr, view, type, q, 4, radius, NULL), NEARKIT_OK);
    nearkit_range_result_free(rr);
    free(q);
}

/* N float rows (DIM, l2) of a kind built with `params` and saved to a new temporary *path: its
 * image (NULL when unreadable; *size bytes). */
static uint8_t *saved_float_image(size_t *size, char **path, const char *kind_name, const char *params,
                                  uint64_t seed) {
    nearkit_kind kind;
    CHECK_STATUS(nearkit_kind_from_name(&kind, kind_name), NEARKIT_OK);
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = params;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind, NEARKIT_METRIC_L2, DIM, &o), NEARKIT_OK);
    void *x = make_vectors(false, N, seed);
    CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, x, N, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    *path = temp_path();
    CHECK_STATUS(nearkit_index_save(ix, *path), NEARKIT_OK);
    nearkit_index_free(ix);
    free(x);
    return read_file(size, *path);
}

/* A damaged file that a verified view and a load refuse (they check every value) and a plain view
 * opens: the view, or NULL. */
static nearkit_index *refused_but_viewable(const char *path) {
    nearkit_index *view = NULL, *refused = NULL;
    nearkit_view_options vo;
    CHECK_STATUS(nearkit_view_options_init(&vo), NEARKIT_OK);
    vo.verify = 1;
    CHECK_STATUS(nearkit_index_view(&refused, path, &vo), NEARKIT_ERR_CORRUPT);
    CHECK_STATUS(nearkit_index_load(&refused, path), NEARKIT_ERR_CORRUPT);
    CHECK_STATUS(nearkit_index_view(&view, path, NULL), NEARKIT_OK);
    return view;
}

/* Section `tag` of a saved float image damaged word by word with `fill` and written back to path:
 * a verified view and a load refuse the file, a plain view opens it and searches in bounds. */
static void check_damaged_but_viewable(const char *path, uint8_t *image, size_t size, const char *tag,
                                       uint32_t (*fill)(uint64_t w, uint32_t old)) {
    damage_words(image, tag, fill);
    write_resealed(path, image, size);
    nearkit_index *view = refused_but_viewable(path);
    if (view) check_searches_in_bounds(view, 2.0f);
    nearkit_index_free(view);
}

/* A plain view does not read rpforest's leaf rows at open: rows past the index, or named twice,
 * cost its searches answers, never a read out of bounds; a verified view and a load refuse them. */
static void test_rpforest_view_of_damaged_leaf_rows(void) {
    size_t size = 0;
    char *path = NULL;
    uint8_t *image = saved_float_image(&size, &path, "rpforest", "n_trees=6", 31);
    uint64_t len = 0;
    CHECK(image && bt_find_section(&len, image, "RFLR") && len == 6ull * N * sizeof(uint32_t));
    if (image) check_damaged_but_viewable(path, image, size, "RFLR", wild_word);
    free(image);
    unlink(path);
    free(path);
}

/* A plain view of rpforest descends the walk saved in the file (RFWK, which holds the planes too)
 * in place, unchecked: wild places (children anywhere, leaves past the rows) cost its searches
 * answers, never a read out of bounds or an endless descent; a load and a verified view, which
 * lay the walk out again from the planes it holds, refuse it. A root past the walk (RFWR) is
 * refused at open. */
static void test_rpforest_view_of_damaged_walk(void) {
    size_t size = 0;
    char *path = NULL;
    uint8_t *image = saved_float_image(&size, &path, "rpforest", "n_trees=6", 37);
    uint64_t len = 0;
    CHECK(image && bt_find_section(&len, image, "RFWK") && len > 0 && len % 16 == 0);
    nearkit_index *view = NULL;
    if (image) {
        check_damaged_but_viewable(path, image, size, "RFWK", some_wild_words);
        damage_words(image, "RFWR", wild_word);
        write_resealed(path, image, size);
        CHECK_STATUS(nearkit_index_view(&view, path, NULL), NEARKIT_ERR_CORRUPT);
    }
    nearkit_index_free(view);
    free(image);
    unlink(path);
    free(path);
}

/* A plain view of a vp-tree descends the vantage vectors saved in the file (VPVA) in place,
 * unchecked: wild ones (NaN, infinities, garbage) cost its searches answers, never a read out of
 * bounds; a load and a verified view, which gather them from the rows, refuse the file. */
static void test_vptree_view_of_damaged_vantages(void) {
    size_t size = 0;
    char *path = NULL;
    uint8_t *image = saved_float_image(&size, &path, "vptree", "leaf_size=8", 41);
    uint64_t len = 0;
    CHECK(image && bt_find_section(&len, image, "VPVA") && len > 0 && len % (DIM * sizeof(float)) == 0);
    if (image) check_damaged_but_viewable(path, image, size, "VPVA", some_wild_words);
    free(image);
    unlink(path);
    free(path);
}

/* A plain view of an inverted file checks only that its list positions are below the rows: a
 * position named twice costs answers (a row found twice), never a read out of bounds, and a load
 * and a verified view refuse it; a position past the rows is refused by every open. */
static void test_ivf_view_of_damaged_positions(void) {
    size_t size = 0;
    char *path = NULL;
    uint8_t *image = saved_float_image(&size, &path, "ivf_sq8", "nlist=16,refine=2", 43);
    uint64_t len = 0;
    uint8_t *positions = image ? (uint8_t *)bt_find_section(&len, image, "LPOS") : NULL;
    CHECK(positions && len == N * sizeof(uint32_t));
    nearkit_index *view = NULL;
    if (positions) {
        memcpy(positions + 5 * sizeof(uint32_t), positions + 6 * sizeof(uint32_t), sizeof(uint32_t));
        write_resealed(path, image, size);
        view = refused_but_viewable(path);
        if (view) check_searches_in_bounds(view, 2.0f);
        nearkit_index_free(view);
        view = NULL;
        uint32_t past = N;
        memcpy(positions + 5 * sizeof(uint32_t), &past, sizeof past);
        write_resealed(path, image, size);
        CHECK_STATUS(nearkit_index_view(&view, path, NULL), NEARKIT_ERR_CORRUPT);
    }
    nearkit_index_free(view);
    free(image);
    unlink(path);
    free(path);
}

/* A plain view does not read hnsw's links at open: lists naming nodes that do not exist, or that
 * lack the level, or counting past their room, cost its searches quality, never a read out of
 * bounds (the _asan run); a verified view and a load refuse the file. */
static void test_hnsw_view_of_damaged_links(void) {
    size_t size = 0;
    char *path = NULL;
    uint8_t *image = saved_float_image(&size, &path, "hnsw", "M=8", 17);
    uint64_t len0 = 0, lenu = 0, lenl = 0;
    uint8_t *links0 = image ? (uint8_t *)bt_find_section(&len0, image, "HLK0") : NULL;
    uint8_t *upper = image ? (uint8_t *)bt_find_section(&lenu, image, "HLKU") : NULL;
    const uint8_t *levels = image ? bt_find_section(&lenl, image, "HLVL") : NULL;
    CHECK(links0 && upper && levels && lenl == N && len0 == N * (1 + 16) * sizeof(uint32_t));
    if (links0 && upper && levels) {
        uint32_t bad[] = {N, N + 5, 0xFFFFFFFFu, 0x7FFFFFFFu};
        uint32_t level0_node = 0; /* a node of level 0, named at level 1 below */
        while (level0_node < N && levels[level0_node] != 0) level0_node++;
        for (uint32_t u = 0; u < N; u += 3) { /* every third node: bad neighbours, a count past M0 */
            uint32_t *list = (uint32_t *)(void *)(links0 + (size_t)u * (1 + 16) * sizeof(uint32_t));
            for (uint32_t j = 0; j < 4; j++) list[1 + j] = bad[j];
            list[0] = u % 2 ? 1000u : 6u;
        }
        for (uint64_t w = 0; w + 1 < lenu / sizeof(uint32_t); w += 9) { /* upper lists: level-0 nodes */
            uint32_t *list = (uint32_t *)(void *)(upper + w * sizeof(uint32_t));
            if (list[0] > 0) list[1] = level0_node;
        }
        write_resealed(path, image, size);
        nearkit_index *view = refused_but_viewable(path);
        if (view) {
            (void)nearkit_index_set_param(view, "ef_search", 200.0);
            check_searches_in_bounds(view, 2.0f);
        }
        nearkit_index_free(view);
    }
    free(image);
    unlink(path);
    free(path);
}

/* A plain view uses mih's stored tables without reading them at open: buckets past the positions,
 * positions past the rows and hash tables without an empty slot (an endless probe, unguarded)
 * cost its searches answers, never a read out of bounds (the _asan run); a verified view and a
 * load rebuild the tables from the codes and answer as the undamaged file does. */
static void test_mih_view_of_damaged_tables(void) {
    nearkit_kind kind;
    CHECK_STATUS(nearkit_kind_from_name(&kind, "mih"), NEARKIT_OK);
    static const char *const params[] = {"m=2", "m=6"}; /* hashed tables; direct ones */
    for (size_t p = 0; p < 2; p++) {
        nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
        o.params = params[p];
        nearkit_index *ix = NULL, *view = NULL, *verified = NULL, *loaded = NULL;
        CHECK_STATUS(nearkit_index_create(&ix, kind, NEARKIT_METRIC_HAMMING, BITS, &o), NEARKIT_OK);
        void *x = make_vectors(true, N, 19);
        CHECK_STATUS(nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, x, N, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        char *path = temp_path();
        CHECK_STATUS(nearkit_index_save(ix, path), NEARKIT_OK);
        size_t size = 0;
        uint8_t *image = read_file(&size, path);
        uint64_t len = 0;
        CHECK(image && bt_find_section(&len, image, "MIHP") && len == 2 * N * sizeof(uint32_t) * (p ? 3 : 1));
        if (image) {
            damage_words(image, "MIHP", wild_word);
            damage_words(image, p ? "MIHO" : "MIHS", some_wild_words); /* most buckets still lead to positions */
            if (p == 0) damage_words(image, "MIHT", nonzero_bytes);
            write_resealed(path, image, size);
            nearkit_view_options vo;
            CHECK_STATUS(nearkit_view_options_init(&vo), NEARKIT_OK);
            vo.verify = 1;
            CHECK_STATUS(nearkit_index_view(&verified, path, &vo), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_load(&loaded, path), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_view(&view, path, NULL), NEARKIT_OK);
            CHECK(verified && loaded && same_answers(ix, verified) && same_answers(ix, loaded));
            if (view) check_searches_in_bounds(view, 20.0f);
        }
        nearkit_index_free(view);
        nearkit_index_free(verified);
        nearkit_index_free(loaded);
        nearkit_index_free(ix);
        free(image);
        unlink(path);
        free(path);
        free(x);
    }
}

int main(int argc, char **argv) {
    test_every_kind();
    test_damaged_images();
    test_argument_errors();
    test_version_1_files(argc > 1 ? argv[1] : "tests/golden");
    test_load_if_unviewable_files(argc > 1 ? argv[1] : "tests/golden");
    test_load_if_unviewable_buffer();
    test_view_survives_save_over();
    test_concurrent_first_searches();
    test_rpforest_view_in_place();
    test_codes_and_graph_views_in_place();
    test_hnsw_view_of_damaged_links();
    test_mih_view_of_damaged_tables();
    test_rpforest_view_of_damaged_leaf_rows();
    test_rpforest_view_of_damaged_walk();
    test_vptree_view_of_damaged_vantages();
    test_ivf_view_of_damaged_positions();
    return check_summary("test_views");
}
