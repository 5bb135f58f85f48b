/* k-means clustering of float vectors, for the kinds that quantise (IVF, product quantisers).
 * Internal to nearkit (hidden symbols).
 *
 * Lloyd iterations with the assignment step through OpenBLAS sgemm (|x|^2 + |c|^2 - 2<x,c>, the
 * |x|^2 term dropped for the argmin), pruned after the first iteration to the centroids the last
 * update moved (same assignments as scoring all of them; see assign_iteration), a random-sample or k-means++ initialisation, empty clusters
 * re-seeded with the points farthest from their centroids, and a spherical variant (centroids kept
 * at unit length, points assigned by largest inner product) for cosine and inner product.
 *
 * Deterministic: for given points, configuration and seed the centroids are the same bits on every
 * run and for every thread count. Work is split into blocks whose boundaries do not depend on the
 * number of threads, every centroid's sum is accumulated by one task over its members in point
 * order, and sums over blocks are combined in block order. And the same on every machine and
 * BLAS: sgemm only filters candidates within its proven error bound, every value compared or
 * stored comes from the per-pair kernels, so the pruned iterations choose exactly what the
 * exhaustive ones would (kmeans.c). */
#ifndef NEARKIT_KMEANS_H
#define NEARKIT_KMEANS_H

#include "base/internal.h"

#define NEARKIT_KMEANS_DEFAULT_ITERATIONS 10u
/* The default training sample: at most this many points per centroid (more adds little). */
#define NEARKIT_KMEANS_POINTS_PER_CENTROID 256u

typedef struct nearkit_kmeans_config {
    uint32_t k;          /* centroids, 1 <= k <= number of points */
    uint32_t iterations; /* Lloyd iterations at most; 0 = NEARKIT_KMEANS_DEFAULT_ITERATIONS */
    uint64_t max_sample; /* points trained on at most (a seeded random subset); 0 = 256 per centroid */
    uint64_t seed;
    bool spherical;      /* unit-length centroids, assignment by largest <x, c> */
    bool plusplus;       /* k-means++ initialisation instead of k distinct random sample points */
    uint32_t threads;    /* >= 1 */
    bool exhaustive;     /* score every point against every centroid in every iteration: the plain
                            Lloyd steps the pruned ones reproduce (for tests) */
} nearkit_kmeans_config;

typedef struct nearkit_kmeans_stats {
    uint64_t sample;       /* points trained on */
    uint32_t iterations;   /* Lloyd iterations run (fewer than asked when assignments settled) */
    uint64_t reseeded;     /* empty clusters re-seeded, over all iterations */
    double objective;      /* sum over the sample of |x - c|^2 (spherical: of 1 - <x, c>) at the
                              last assignment */
    uint64_t distances;    /* point-centroid values computed over all assignments */
} nearkit_kmeans_stats;

/* Clusters n points of dimension d (row-major) into cfg->k centroids written to `centroids`
 * (k x d floats). stats may be NULL. Errors: INVALID_ARGUMENT (k = 0 or k > n, d = 0),
 * OUT_OF_MEMORY. */
nearkit_status nearkit_kmeans_train(float *centroids, nearkit_kmeans_stats *stats,
                                    const nearkit_kmeans_config *cfg, const float *x, uint64_t n,
                                    uint32_t d);

/* The nearest of k centroids for each of n points, ties to the smaller centroid index:
 * smallest |x - c| when centroid_norms (k squared norms) is given, else (spherical) largest <x, c>.
 * score (may be NULL) receives the value minimised: |c|^2 - 2<x, c>, or -<x, c>, as the kernels
 * compute it (the same bits on every machine). NaN values count as +infinity: every assignment
 * is below k whatever the input.
 * Errors: OUT_OF_MEMORY. */
nearkit_status nearkit_kmeans_assign(uint32_t *assign, float *score, const float *centroids,
                                     const float *centroid_norms, uint32_t k, const float *x,
                                     uint64_t n, uint32_t d, uint32_t threads);

#endif
