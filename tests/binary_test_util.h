/* Helpers shared by the tests of the binary-code kinds (test_mih.c, test_ivf_binary.c): random and
 * planted codes, exact comparison with the flat index, and an editor for saved index images that
 * rewrites a section and fixes the checksum, to test what a loader checks. Header-only (static
 * inline, so that a test using some of them builds without warnings). */
#ifndef NEARKIT_TESTS_BINARY_TEST_UTIL_H
#define NEARKIT_TESTS_BINARY_TEST_UTIL_H

#include "nearkit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- codes ------------------------------------------------------------------------------------- */

static inline uint64_t bt_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void bt_random_codes(uint8_t *out, size_t n, size_t nbytes, uint64_t *rng) {
    for (size_t i = 0; i < n * nbytes; i++) out[i] = (uint8_t)bt_next(rng);
}

/* Flips `flips` distinct random bits of one code (flips <= 8 * nbytes). */
static inline void bt_flip_bits(uint8_t *code, size_t nbytes, unsigned flips, uint64_t *rng) {
    size_t bits = nbytes * 8;
    unsigned done = 0;
    uint8_t *flipped = calloc(bits, 1);
    while (done < flips) {
        size_t b = (size_t)(bt_next(rng) % bits);
        if (flipped[b]) continue;
        flipped[b] = 1;
        code[b / 8] ^= (uint8_t)(1u << (b % 8));
        done++;
    }
    free(flipped);
}

/* n codes: groups of near-duplicates (a random code and copies of it with up to max_flips bits
 * flipped), then random codes. */
static inline void bt_planted_codes(uint8_t *out, size_t n, size_t nbytes, size_t groups, size_t group_size,
                             unsigned max_flips, uint64_t *rng) {
    bt_random_codes(out, n, nbytes, rng);
    for (size_t g = 0; g < groups && (g + 1) * group_size <= n; g++) {
        uint8_t *first = out + g * group_size * nbytes;
        for (size_t j = 1; j < group_size; j++) {
            uint8_t *copy = first + j * nbytes;
            memcpy(copy, first, nbytes);
            bt_flip_bits(copy, nbytes, (unsigned)(bt_next(rng) % (max_flips + 1)), rng);
        }
    }
}

/* Queries: copies of random stored codes with 0..max_flips bits flipped. */
static inline void bt_near_queries(uint8_t *out, size_t nq, const uint8_t *base, size_t n, size_t nbytes,
                            unsigned max_flips, uint64_t *rng) {
    for (size_t i = 0; i < nq; i++) {
        memcpy(out + i * nbytes, base + (bt_next(rng) % n) * nbytes, nbytes);
        bt_flip_bits(out + i * nbytes, nbytes, (unsigned)(bt_next(rng) % (max_flips + 1)), rng);
    }
}

/* ---- indexes ----------------------------------------------------------------------------------- */

/* A built hamming index of `kind` over the codes (ids may be NULL), or NULL with a message. */
static inline nearkit_index *bt_build(nearkit_kind kind, uint32_t bits, const char *params, uint32_t threads,
                               const uint8_t *codes, size_t n, const int64_t *ids) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = params;
    o.num_threads = threads;
    nearkit_index *ix = NULL;
    if (nearkit_index_create(&ix, kind, NEARKIT_METRIC_HAMMING, bits, &o) != NEARKIT_OK ||
        nearkit_index_add(ix, NEARKIT_VECTOR_BINARY, codes, n, ids) != NEARKIT_OK ||
        nearkit_index_build(ix) != NEARKIT_OK) {
        fprintf(stderr, "bt_build(%s, %u bits, '%s'): %s\n", nearkit_kind_name(kind), bits,
                params ? params : "", nearkit_last_error_message());
        nearkit_index_free(ix);
        return NULL;
    }
    return ix;
}

/* Number of queries whose k-NN rows differ in any id or distance between the two indexes (-1 when
 * a search fails). */
static inline long bt_knn_mismatches(const nearkit_index *a, const nearkit_index *b, const uint8_t *queries,
                              size_t nq, size_t k) {
    int64_t *ia = malloc(nq * k * sizeof *ia), *ib = malloc(nq * k * sizeof *ib);
    float *da = malloc(nq * k * sizeof *da), *db = malloc(nq * k * sizeof *db);
    long bad = -1;
    if (nearkit_index_search(ia, da, a, NEARKIT_VECTOR_BINARY, queries, nq, k, NULL) == NEARKIT_OK &&
        nearkit_index_search(ib, db, b, NEARKIT_VECTOR_BINARY, queries, nq, k, NULL) == NEARKIT_OK) {
        bad = 0;
        for (size_t q = 0; q < nq; q++)
            if (memcmp(ia + q * k, ib + q * k, k * sizeof *ia) || memcmp(da + q * k, db + q * k, k * sizeof *da)) {
                if (bad == 0)
                    fprintf(stderr, "  k-NN mismatch at query %zu: id %lld d %g vs id %lld d %g\n", q,
                            (long long)ia[q * k], da[q * k], (long long)ib[q * k], db[q * k]);
                bad++;
            }
    } else {
        fprintf(stderr, "  search failed: %s\n", nearkit_last_error_message());
    }
    free(ia), free(ib), free(da), free(db);
    return bad;
}

/* Number of queries whose range results differ (-1 when a search fails); *matches receives the
 * total number of matches of `a`, when not NULL. */
static inline long bt_range_mismatches(const nearkit_index *a, const nearkit_index *b, const uint8_t *queries,
                                size_t nq, float radius, uint64_t *matches) {
    nearkit_range_result *ra = NULL, *rb = NULL;
    long bad = -1;
    if (nearkit_index_range_search(&ra, a, NEARKIT_VECTOR_BINARY, queries, nq, radius, NULL) == NEARKIT_OK &&
        nearkit_index_range_search(&rb, b, NEARKIT_VECTOR_BINARY, queries, nq, radius, NULL) == NEARKIT_OK) {
        const uint64_t *oa, *ob;
        const int64_t *ia, *ib;
        const float *da, *db;
        nearkit_range_result_get(&oa, &ia, &da, ra);
        nearkit_range_result_get(&ob, &ib, &db, rb);
        bad = 0;
        for (size_t q = 0; q < nq; q++) {
            uint64_t na = oa[q + 1] - oa[q], nb = ob[q + 1] - ob[q];
            if (na != nb || memcmp(ia + oa[q], ib + ob[q], na * sizeof *ia) ||
                memcmp(da + oa[q], db + ob[q], na * sizeof *da)) {
                if (bad == 0)
                    fprintf(stderr, "  range mismatch at query %zu (radius %g): %llu vs %llu matches\n", q,
                            radius, (unsigned long long)na, (unsigned long long)nb);
                bad++;
            }
        }
        if (matches) *matches = oa[nq];
    } else {
        fprintf(stderr, "  range search failed: %s\n", nearkit_last_error_message());
    }
    nearkit_range_result_free(ra);
    nearkit_range_result_free(rb);
    return bad;
}

/* ---- saved images ------------------------------------------------------------------------------ */

static inline uint32_t bt_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

#define BT_TAG(s) ((uint32_t)(uint8_t)(s)[0] | (uint32_t)(uint8_t)(s)[1] << 8 | \
                   (uint32_t)(uint8_t)(s)[2] << 16 | (uint32_t)(uint8_t)(s)[3] << 24)

/* A pointer to section `tag`'s body inside an image, with its length; NULL when missing. */
static inline const uint8_t *bt_find_section(uint64_t *len, const uint8_t *image, const char *tag) {
    uint32_t header, n_sections, want = BT_TAG(tag);
    memcpy(&header, image + 12, 4);
    memcpy(&n_sections, image + 16 + 36, 4);
    size_t at = 16 + header;
    for (uint32_t i = 0; i < n_sections; i++) {
        uint32_t t, pad;
        memcpy(&t, image + at, 4);
        memcpy(&pad, image + at + 4, 4); /* format 2: zero bytes before the body */
        memcpy(len, image + at + 8, 8);
        if (t == want) return image + at + 16 + pad;
        at += 16 + pad + *len;
    }
    return NULL;
}

/* The body of section `tag` of a saved image (docs/format.md), or NULL when it is missing. */
static inline const uint8_t *bt_section(const uint8_t *image, const char *tag) {
    uint64_t len;
    return bt_find_section(&len, image, tag);
}

/* A copy of a saved image (docs/format.md) with section `tag` replaced by `body` (size bytes),
 * or dropped when body is NULL, and with the section count and checksum fixed. NULL when the
 * section is missing. Free with free(). */
static inline uint8_t *bt_edit_section(size_t *out_size, const uint8_t *image, size_t size, const char *tag,
                                const void *body, uint64_t body_size) {
    uint32_t header, n_sections, want = BT_TAG(tag);
    memcpy(&header, image + 12, 4);
    memcpy(&n_sections, image + 16 + 36, 4);
    uint8_t *out = malloc(size + body_size + 64);
    size_t at = 16 + header, w = at;
    memcpy(out, image, at);
    int found = 0;
    uint32_t written = 0;
    for (uint32_t i = 0; i < n_sections; i++) {
        uint32_t t;
        uint64_t len;
        uint32_t pad;
        memcpy(&t, image + at, 4);
        memcpy(&pad, image + at + 4, 4); /* format 2: zero bytes before the body */
        memcpy(&len, image + at + 8, 8);
        if (t == want) {
            found = 1;
            if (body) {
                memcpy(out + w, image + at, 4);
                memset(out + w + 4, 0, 4); /* written unpadded: loading needs no alignment */
                memcpy(out + w + 8, &body_size, 8);
                if (body_size) memcpy(out + w + 16, body, body_size);
                w += 16 + body_size;
                written++;
            }
        } else {
            memcpy(out + w, image + at, 4);
            memset(out + w + 4, 0, 4);
            memcpy(out + w + 8, &len, 8);
            memcpy(out + w + 16, image + at + 16 + pad, len);
            w += 16 + len;
            written++;
        }
        at += 16 + pad + len;
    }
    memcpy(out + 16 + 36, &written, 4);
    uint32_t crc = bt_crc32(out + 8, w - 8);
    memcpy(out + w, &crc, 4);
    *out_size = w + 4;
    if (!found) {
        free(out);
        return NULL;
    }
    return out;
}


/* Loads an edited image and returns the status (freeing any index). */
static inline nearkit_status bt_load_status(const uint8_t *image, size_t size) {
    nearkit_index *ix = NULL;
    nearkit_status st = nearkit_index_load_from_buffer(&ix, image, size);
    nearkit_index_free(ix);
    return st;
}

#endif
