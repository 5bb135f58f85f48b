/* RaBitQ (Gao & Long, SIGMOD 2024): one bit per dimension after a random rotation, with an
 * unbiased estimator of inner products, for the ivf_rabitq kind. Internal to nearkit (hidden
 * symbols).
 *
 * The rotation P is seeded and orthogonal, the same bits on every CPU (plain C, no dispatch, no
 * contraction: the library compiles as ISO C11): d is padded with zeros to D, the next multiple of
 * 64, and NEARKIT_RABITQ_ROUNDS rounds each flip the signs of the D coordinates at random and
 * apply a normalised fast Walsh-Hadamard transform to B of them, B the largest power of two <= D,
 * alternately the first B and the last B (the two blocks overlap and cover all D; with D a power
 * of two both are all of it). A d x d matrix would cost d^2 per vector and query; this costs
 * D log B.
 *
 * A stored vector x of list c is its residual r = x - c rotated, z = P r: its code is the D signs
 * of z (bit i set where z_i > 0; D / 8 bytes, word i / 64, bit i % 64, little-endian), then the
 * floats |z|^2, scale = |z|^2 / sum |z_i| and, for ip only, <r, c>. With s the signs as +-1,
 * RaBitQ's estimator of <r, y> for any y of the rotated space is scale * <s, y> (= |z| <o_bar, y>
 * / <o_bar, o> with o = z / |z| and o_bar = s / sqrt(D): unbiased over the rotation, its error
 * growing with |r| |y| / sqrt(D)). A query q probes list c through y = Pq - Pc, small for the
 * lists worth probing: l2 |x - q|^2 = |r|^2 + |y|^2 - 2 <r, y>; cosine half of it (unit vectors);
 * ip <x, q> = <c, q> + <r, c> + <r, y> (estimating <r, q> directly errs by |r| |q| / sqrt(D):
 * far more). Pq once per query, the rotated centroids Pc kept (nearkit_rabitq_set_centroids, in
 * 16-bit fixed point: y is off by at most 2^-15 of Pc's largest coordinate), so a probed list
 * costs O(D), never d^2.
 *
 * y is quantised to NEARKIT_RABITQ_QUERY_BITS bits per coordinate, y_i ~ lo + delta u_i, so that
 * sum over the set bits of y_i = lo popcount(b) + delta sum_j 2^j popcount(b & u's bit plane j):
 * integer popcounts, the same on every CPU, then float arithmetic in a fixed order. */
#ifndef NEARKIT_RABITQ_H
#define NEARKIT_RABITQ_H

#include "base/internal.h"

#define NEARKIT_RABITQ_ROUNDS 4
#define NEARKIT_RABITQ_QUERY_BITS 4

typedef struct nearkit_rabitq {
    size_t dimension, padded, block; /* d, D (a multiple of 64), B (a power of two <= D) */
    size_t words;                    /* D / 64 */
    nearkit_metric metric;           /* ip: a third factor */
    size_t code_size;                /* D / 8 + the factors */
    float *signs;                    /* ROUNDS x D, each +1 or -1 */
    uint32_t nlist;
    /* the list centroids rotated, nlist x D, each as 16-bit codes times its power of two
     * (centroid_scales): half the bytes of floats, and an error of at most 2^-15 of the
     * centroid's largest coordinate, far below a step of the query's 4-bit levels */
    int16_t *centroids;
    float *centroid_scales;
    /* the popcount sums of a code against a query's bit planes, chosen at init for the CPU and
     * the kernel level in use (NEARKIT_KERNELS) */
    void (*bit_sums)(const uint8_t *code, const uint64_t *planes, size_t words, uint64_t *ones,
                     uint64_t *weighted);
    /* a query's words x 64 values quantised to levels and their bit planes (the sum of the levels
     * returned), chosen likewise; the same results on every CPU */
    uint32_t (*quantise)(uint8_t *levels, uint64_t *planes, const float *y, float low, float per_level,
                         size_t words);
} nearkit_rabitq;

/* A query's state: its rotation (per query) and its quantised y against one list (per list). */
typedef struct nearkit_rabitq_query {
    float *rotated;   /* D: P q */
    float *y;         /* D */
    uint64_t *planes; /* QUERY_BITS x words: bit plane j of the quantised y */
    uint8_t *levels;  /* D: the quantised y */
    float lo, delta;  /* y_i ~ lo + delta u_i */
    float sum;        /* sum of the quantised y_i */
    float ysq;        /* |y|^2 (l2, cosine) */
    float cq;         /* <c, q> (ip) */
} nearkit_rabitq_query;

/* Bytes of a code for d dimensions under the metric. */
size_t nearkit_rabitq_code_size(size_t d, nearkit_metric metric);
/* The rotation of a seed for d dimensions, no centroids yet. OUT_OF_MEMORY leaves it empty. */
nearkit_status nearkit_rabitq_init(nearkit_rabitq *q, size_t d, nearkit_metric metric, uint64_t seed);
void nearkit_rabitq_free(nearkit_rabitq *q);
uint64_t nearkit_rabitq_memory(const nearkit_rabitq *q);
/* Keeps the nlist centroids (d floats each) rotated, in fixed point. OK or OUT_OF_MEMORY. */
nearkit_status nearkit_rabitq_set_centroids(nearkit_rabitq *q, const float *centroids, uint32_t nlist);
/* P v for a vector of d floats (out: D floats). */
void nearkit_rabitq_rotate(const nearkit_rabitq *q, float *out, const float *v);

/* The codes of n vectors, vector i's residual to the centroid of list assign[i] (centroids: d
 * floats per list, as the quantizer holds them). OK or OUT_OF_MEMORY. */
nearkit_status nearkit_rabitq_encode(const nearkit_rabitq *q, uint8_t *codes, const float *x, uint64_t n,
                                     const uint32_t *assign, const float *centroids);
/* The vector a code of list `list` stands for: c + P^T (the projection of z on its signs), d
 * floats (scratch: D floats). */
void nearkit_rabitq_decode(const nearkit_rabitq *q, float *out, const uint8_t *code, uint32_t list,
                           const float *centroids, float *scratch);
/* Whether n codes read from a file hold factors a real residual could give (finite, |z|^2 within
 * the value bound, scale between |z| / sqrt(D) and |z|, <r, c> within |r| |c|'s bound). */
bool nearkit_rabitq_codes_valid(const nearkit_rabitq *q, const uint8_t *codes, uint64_t n);

bool nearkit_rabitq_query_init(nearkit_rabitq_query *s, const nearkit_rabitq *q);
void nearkit_rabitq_query_free(nearkit_rabitq_query *s);
/* Rotates a query (d floats) once. */
void nearkit_rabitq_set_query(nearkit_rabitq_query *s, const nearkit_rabitq *q, const float *query);
/* Prepares the rotated query against list `list`: y = Pq - Pc quantised, |y|^2 and <c, q>. */
void nearkit_rabitq_set_list(nearkit_rabitq_query *s, const nearkit_rabitq *q, uint32_t list);
/* The ranking values of n codes of the prepared list: l2 the estimated squared distance, cosine
 * 1 - the estimated dot, ip minus it. An estimate may leave the metric's range (a squared
 * distance below 0, a cosine distance below 0 or above 2: near neighbours often do), and is
 * ranked as it is: clamping first would tie the nearest candidates and leave their order to
 * their ids (recall on cosine fell from 0.9 to 0.15 in two dimensions). */
void nearkit_rabitq_distances(float *out, const nearkit_rabitq *q, const nearkit_rabitq_query *s,
                              nearkit_metric metric, const uint8_t *codes, size_t n);
/* A ranking value as reported: clamped into the metric's range (l2 >= 0; cosine [0, 2]). */
float nearkit_rabitq_in_range(nearkit_metric metric, float ranked);

#endif
