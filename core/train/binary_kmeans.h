/* Binary k-means: clustering of packed bit codes under the Hamming distance, with majority-vote
 * centroids. Internal to nearkit (hidden symbols); used by the binary IVF index. */
#ifndef NEARKIT_BINARY_KMEANS_H
#define NEARKIT_BINARY_KMEANS_H

#include "base/internal.h"

/* For each of n codes (rows of nbytes), the index of the nearest of k centroids (rows of nbytes),
 * ties going to the lower index. Runs on up to `threads` threads; allocates nothing. */
void nearkit_binary_assign(uint32_t *out, const uint8_t *codes, uint64_t n,
                           const uint8_t *centroids, uint32_t k, size_t nbytes, uint32_t threads);

/* Trains k centroids (written to `centroids`, k rows of nbytes) on a sample of at most
 * sample_size of the n codes: starts from k distinct sampled codes, then alternates assigning each
 * code to the nearest cluster mean (bit frequencies rounded to sevenths, compared on the popcount
 * kernels) and recomputing the means, for at most `iterations` rounds or until at most one code in
 * 1000 changes cluster. A cluster left empty is re-seeded with a random member of the largest one. The
 * centroids are the majority bits of the final clusters (a tie keeps the previous bit). The result
 * depends only on the input and the seed, not on the thread count.
 * Needs 1 <= k <= min(n, sample_size). Errors: OUT_OF_MEMORY. */
nearkit_status nearkit_binary_kmeans(uint8_t *centroids, const uint8_t *codes, uint64_t n,
                                     uint32_t k, size_t nbytes, uint64_t sample_size,
                                     uint32_t iterations, uint64_t seed, uint32_t threads);

#endif
