/* Helpers shared by the tests of the tree kinds (test_vptree.c, test_bktree.c): data generators,
 * a bit-for-bit comparison of every answer with the flat index's, and surgery on saved images
 * (find a section, change it, re-seal the checksum) to forge damaged files. Include after check.h. */
#ifndef NEARKIT_TEST_TREE_CHECK_H
#define NEARKIT_TEST_TREE_CHECK_H

#define NEARKIT_EXPERIMENTAL /* nearkit_kernels_force */
#include "nearkit.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- data ------------------------------------------------------------------------------------- */

static uint64_t tc_state = 0x9E3779B97F4A7C15ull;

static inline uint64_t tc_next(void) { /* xorshift64* */
    tc_state ^= tc_state >> 12;
    tc_state ^= tc_state << 25;
    tc_state ^= tc_state >> 27;
    return tc_state * 0x2545F4914F6CDD1Dull;
}

static inline float tc_uniform(void) { return (float)(tc_next() >> 40) / (float)(1u << 24); }

/* Float data: style 0 uniform in [-1, 1), 1 small integers (many exact ties), 2 only a few
 * distinct vectors (duplicates), 3 clustered. */
static inline float *tc_floats(uint64_t n, uint32_t dim, int style) {
    float *v = malloc((size_t)(n * dim + 1) * sizeof *v);
    float centre[8][64];
    for (int c = 0; c < 8; c++)
        for (int j = 0; j < 64; j++) centre[c][j] = tc_uniform() * 20.0f - 10.0f;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t proto = tc_next() % 5;
        int c = (int)(tc_next() % 8);
        for (uint32_t j = 0; j < dim; j++) {
            float x;
            switch (style) {
            case 0: x = tc_uniform() * 2.0f - 1.0f; break;
            case 1: x = (float)(int)(tc_next() % 4) - 1.0f; break;
            case 2: x = (float)((proto * 7 + j * 3) % 5) - 2.0f; break;
            default: x = centre[c][j % 64] + (tc_uniform() - 0.5f) * 0.5f; break;
            }
            v[i * dim + j] = x;
        }
    }
    return v;
}

/* Binary codes of dim bits: style 0 random bits, 1 sparse bits (many ties), 2 a few distinct codes. */
static inline uint8_t *tc_codes(uint64_t n, uint32_t bits, int style) {
    uint32_t bytes = bits / 8;
    uint8_t *v = malloc((size_t)(n * bytes + 1));
    for (uint64_t i = 0; i < n; i++) {
        uint64_t proto = tc_next() % 4;
        for (uint32_t j = 0; j < bytes; j++) {
            uint8_t x;
            switch (style) {
            case 0: x = (uint8_t)tc_next(); break;
            case 1: x = (uint8_t)(1u << (tc_next() % 8)) & (uint8_t)(tc_next() % 3 == 0 ? 0xFF : 0); break;
            default: x = (uint8_t)(proto * 37 + j * 11); break;
            }
            v[i * bytes + j] = x;
        }
    }
    return v;
}

static inline void *tc_data(nearkit_metric metric, uint64_t n, uint32_t dim, int style) {
    if (metric == NEARKIT_METRIC_HAMMING) return tc_codes(n, dim, style % 3);
    return tc_floats(n, dim, style);
}

static inline nearkit_vector_type tc_type(nearkit_metric metric) {
    return metric == NEARKIT_METRIC_HAMMING ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32;
}

/* ---- indexes ---------------------------------------------------------------------------------- */

static inline nearkit_index *tc_make(nearkit_kind kind, nearkit_metric metric, uint32_t dim,
                                     const char *params, uint32_t threads, const void *data, uint64_t n,
                                     const int64_t *ids) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = params;
    o.num_threads = threads;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind, metric, dim, &o), NEARKIT_OK);
    if (!ix) return NULL;
    CHECK_STATUS(nearkit_index_add(ix, tc_type(metric), data, n, ids), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    return ix;
}

/* Same k-NN ids and bit-identical distances for every query. */
static inline bool tc_same_knn(const nearkit_index *a, const nearkit_index *b, const void *queries,
                               uint64_t nq, uint64_t k, uint32_t threads) {
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.num_threads = threads;
    nearkit_vector_type type = nearkit_index_vector_type(a);
    int64_t *ia = malloc(nq * k * sizeof *ia), *ib = malloc(nq * k * sizeof *ib);
    float *da = malloc(nq * k * sizeof *da), *db = malloc(nq * k * sizeof *db);
    bool ok = nearkit_index_search(ia, da, a, type, queries, nq, k, &so) == NEARKIT_OK &&
              nearkit_index_search(ib, db, b, type, queries, nq, k, &so) == NEARKIT_OK;
    if (ok && (memcmp(ia, ib, nq * k * sizeof *ia) != 0 || memcmp(da, db, nq * k * sizeof *da) != 0)) {
        ok = false;
        for (uint64_t i = 0; i < nq * k; i++)
            if (ia[i] != ib[i] || memcmp(&da[i], &db[i], sizeof da[i]) != 0) {
                fprintf(stderr,
                        "  k-NN differs at query %llu rank %llu: id %lld dist %.9g vs id %lld dist %.9g\n",
                        (unsigned long long)(i / k), (unsigned long long)(i % k), (long long)ia[i],
                        (double)da[i], (long long)ib[i], (double)db[i]);
                break;
            }
    }
    free(ia), free(ib), free(da), free(db);
    return ok;
}

/* Same range matches (ids, bit-identical distances, order) for every query. */
static inline bool tc_same_range(const nearkit_index *a, const nearkit_index *b, const void *queries,
                                 uint64_t nq, float radius, uint32_t threads) {
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.num_threads = threads;
    nearkit_vector_type type = nearkit_index_vector_type(a);
    nearkit_range_result *ra = NULL, *rb = NULL;
    bool ok = nearkit_index_range_search(&ra, a, type, queries, nq, radius, &so) == NEARKIT_OK &&
              nearkit_index_range_search(&rb, b, type, queries, nq, radius, &so) == NEARKIT_OK;
    const uint64_t *oa, *ob;
    const int64_t *ia, *ib;
    const float *da, *db;
    if (ok) {
        nearkit_range_result_get(&oa, &ia, &da, ra);
        nearkit_range_result_get(&ob, &ib, &db, rb);
        ok = memcmp(oa, ob, (nq + 1) * sizeof *oa) == 0 && memcmp(ia, ib, oa[nq] * sizeof *ia) == 0 &&
             memcmp(da, db, oa[nq] * sizeof *da) == 0;
        if (!ok)
            fprintf(stderr, "  range results differ (radius %g): %llu vs %llu matches\n", (double)radius,
                    (unsigned long long)oa[nq], (unsigned long long)ob[nq]);
    }
    nearkit_range_result_free(ra);
    nearkit_range_result_free(rb);
    return ok;
}

/* The distance of the k-th neighbour of the first query: a radius that catches some, not all. */
static inline float tc_radius(const nearkit_index *flat, const void *query, uint64_t k) {
    uint64_t n = nearkit_index_count(flat);
    if (k > n) k = n;
    if (k == 0) return 1.0f;
    int64_t *ids = malloc(k * sizeof *ids);
    float *dist = malloc(k * sizeof *dist);
    float r = 1.0f;
    nearkit_vector_type type = nearkit_index_vector_type(flat);
    if (nearkit_index_search(ids, dist, flat, type, query, 1, k, NULL) == NEARKIT_OK)
        r = dist[k - 1];
    free(ids), free(dist);
    return r;
}

/* ---- forged files ----------------------------------------------------------------------------- */

static inline uint32_t tc_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int b = 0; b < 8; b++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

/* Recomputes the checksum of an image (docs/format.md) after it was changed. */
static inline void tc_reseal(uint8_t *image, size_t size) {
    uint32_t crc = tc_crc32(image + 8, size - 12);
    memcpy(image + size - 4, &crc, 4);
}

/* The body of the section with this four-character tag, and its length; NULL when absent. */
static inline uint8_t *tc_section(uint8_t *image, size_t size, const char tag[4], uint64_t *len) {
    uint32_t header;
    memcpy(&header, image + 12, 4);
    size_t at = 16 + header;
    while (at + 16 <= size - 4) {
        uint64_t l;
        memcpy(&l, image + at + 8, 8);
        if (memcmp(image + at, tag, 4) == 0) {
            *len = l;
            return image + at + 16;
        }
        at += 16 + (size_t)l;
    }
    return NULL;
}

/* Loads a copy of the image with `len` bytes at `offset` of section `tag` replaced by `bytes`
 * (checksum re-sealed) and returns the status. */
static inline nearkit_status tc_load_patched(const void *image, size_t size, const char tag[4],
                                             uint64_t offset, const void *bytes, size_t len) {
    uint8_t *copy = malloc(size);
    memcpy(copy, image, size);
    uint64_t section_len = 0;
    uint8_t *body = tc_section(copy, size, tag, &section_len);
    nearkit_status st = NEARKIT_ERR_INTERNAL;
    if (body && offset + len <= section_len) {
        memcpy(body + offset, bytes, len);
        tc_reseal(copy, size);
        nearkit_index *ix = NULL;
        st = nearkit_index_load_from_buffer(&ix, copy, size);
        nearkit_index_free(ix);
    } else {
        fprintf(stderr, "  tc_load_patched: section %.4s too short or missing\n", tag);
    }
    free(copy);
    return st;
}

#endif
