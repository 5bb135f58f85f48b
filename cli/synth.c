#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void cli_rng_seed(cli_rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; ++i) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cli_rng_next(cli_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double cli_rng_uniform(cli_rng *rng) { return (double)(cli_rng_next(rng) >> 11) * 0x1.0p-53; }

uint64_t cli_rng_below(cli_rng *rng, uint64_t n) {
    /* Rejection removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = cli_rng_next(rng);
    while (x >= limit);
    return x % n;
}

double cli_rng_gaussian(cli_rng *rng) {
    double u1 = 1.0 - cli_rng_uniform(rng); /* (0, 1] */
    double u2 = cli_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int alloc_vectors(cli_vectors *v, nearkit_vector_type type, uint32_t dim, uint64_t n) {
    memset(v, 0, sizeof *v);
    v->type = type;
    v->dimension = dim;
    v->n = n;
    v->row_bytes = type == NEARKIT_VECTOR_BINARY ? dim / 8 : (size_t)dim * sizeof(float);
    size_t bytes;
    if (cli_mul_size(&bytes, n, v->row_bytes) != 0 || !(v->data = malloc(bytes ? bytes : 1)))
        return cli_error("out of memory for %llu synthetic vectors", (unsigned long long)n);
    return 0;
}

static void clustered_rows(float *out, uint64_t n, uint32_t dim, const float *centres,
                           const float *spread, uint64_t clusters, cli_rng *rng) {
    for (uint64_t i = 0; i < n; ++i) {
        uint64_t c = cli_rng_below(rng, clusters);
        const float *centre = centres + c * dim;
        float *row = out + i * dim;
        for (uint32_t j = 0; j < dim; ++j)
            row[j] = centre[j] + spread[c] * (float)cli_rng_gaussian(rng);
    }
}

int cli_synth_clustered(cli_vectors *base, cli_vectors *queries, uint64_t n, uint64_t nq,
                        uint32_t dim, uint64_t seed) {
    uint64_t clusters = (uint64_t)(sqrt((double)n) / 3.0 + 0.5);
    if (clusters < 1) clusters = 1;
    cli_rng rng;
    cli_rng_seed(&rng, seed);
    float *centres = malloc((size_t)(clusters * dim) * sizeof *centres);
    float *spread = malloc((size_t)clusters * sizeof *spread);
    if (!centres || !spread || alloc_vectors(base, NEARKIT_VECTOR_FLOAT32, dim, n) != 0 ||
        alloc_vectors(queries, NEARKIT_VECTOR_FLOAT32, dim, nq) != 0) {
        if (!centres || !spread) cli_error("out of memory");
        free(centres);
        free(spread);
        cli_vectors_free(base);
        cli_vectors_free(queries);
        return -1;
    }
    for (uint64_t c = 0; c < clusters; ++c) {
        for (uint32_t j = 0; j < dim; ++j) centres[c * dim + j] = 2.0f * (float)cli_rng_gaussian(&rng);
        spread[c] = 0.5f + (float)cli_rng_uniform(&rng);
    }
    clustered_rows(base->data, n, dim, centres, spread, clusters, &rng);
    clustered_rows(queries->data, nq, dim, centres, spread, clusters, &rng);
    free(centres);
    free(spread);
    return 0;
}

static void flip_bits(uint8_t *code, uint32_t bits, uint64_t flips, cli_rng *rng) {
    for (uint64_t f = 0; f < flips; ++f) {
        uint64_t b = cli_rng_below(rng, bits);
        code[b / 8] ^= (uint8_t)(1u << (b % 8));
    }
}

int cli_synth_binary(cli_vectors *base, cli_vectors *queries, int64_t **planted, uint64_t n,
                     uint64_t nq, uint32_t bits, uint64_t seed) {
    cli_rng rng;
    cli_rng_seed(&rng, seed ^ 0x6E6561726B6974ull);
    *planted = malloc((size_t)(nq ? nq : 1) * sizeof **planted);
    if (!*planted || alloc_vectors(base, NEARKIT_VECTOR_BINARY, bits, n) != 0 ||
        alloc_vectors(queries, NEARKIT_VECTOR_BINARY, bits, nq) != 0) {
        if (!*planted) cli_error("out of memory");
        free(*planted);
        *planted = NULL;
        cli_vectors_free(base);
        cli_vectors_free(queries);
        return -1;
    }
    size_t bytes = bits / 8;
    uint8_t *b = base->data, *q = queries->data;
    for (uint64_t i = 0; i < n;) {
        uint64_t family = 1 + cli_rng_below(&rng, 8);
        uint8_t *root = b + i * bytes;
        for (size_t j = 0; j < bytes; ++j) root[j] = (uint8_t)cli_rng_next(&rng);
        for (uint64_t m = 1; m < family && i + m < n; ++m)
            memcpy(b + (i + m) * bytes, root, bytes);
        for (uint64_t m = 0; m < family && i < n; ++m, ++i)
            flip_bits(b + i * bytes, bits, cli_rng_below(&rng, 7), &rng);
    }
    for (uint64_t i = 0; i < nq; ++i) {
        uint64_t s = cli_rng_below(&rng, n);
        memcpy(q + i * bytes, b + s * bytes, bytes);
        flip_bits(q + i * bytes, bits, cli_rng_below(&rng, 9), &rng);
        (*planted)[i] = (int64_t)s;
    }
    return 0;
}
