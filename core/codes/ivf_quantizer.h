/* The coarse quantizer of an IVF index: nlist centroids that cut the space into cells, one
 * inverted list per cell. Internal to nearkit (hidden symbols).
 *
 * Two forms, chosen by the index's vector type:
 *   - float: k-means centroids (kmeans.c; spherical for cosine and ip); a vector belongs to the
 *     centroid of smallest squared l2 distance, or of largest inner product (spherical); queries
 *     rank centroids the same way with the SIMD kernels, and a batch ranks them through sgemm,
 *     re-scored with the kernels, so that a batch probes the lists a single query would; where
 *     the centroids outgrow L2, a single query screens them through a binary16 copy first and
 *     scores exactly only those the copy's error bound cannot rule out (the same lists again);
 *   - binary: majority-vote centroids of binary k-means (binary_kmeans.c) under Hamming.
 * Ties go to the lower list number everywhere. */
#ifndef NEARKIT_IVF_QUANTIZER_H
#define NEARKIT_IVF_QUANTIZER_H

#include "search/driver.h"
#include "train/kmeans.h"

typedef struct nearkit_ivf_quantizer {
    uint32_t nlist;   /* 0 until trained or loaded */
    bool binary;
    float *centroids; /* float: nlist x dimension, 64-byte aligned */
    float *norms;     /* float, l2: the squared norm of each centroid; else NULL */
    /* float, where the centroids outgrow L2 (screened_probing): a binary16 copy that a single
     * query's coarse step reads first (half the bytes), with each centroid's bound on how far a
     * score of its copy can lie from the exact one (in units of |q| for inner products); else NULL */
    uint16_t *half;
    float *half_error, *half_norm; /* |c - half(c)|, and |c| + |half(c)| */
    uint8_t *codes;   /* binary: nlist codes of vector_bytes */
} nearkit_ivf_quantizer;

void nearkit_ivf_quantizer_free(nearkit_ivf_quantizer *q);
uint64_t nearkit_ivf_quantizer_memory(const nearkit_ivf_quantizer *q, const nearkit_index *ix);

/* nlist for n training vectors where the user set none: about sqrt(n), at least 1, at most max. */
uint32_t nearkit_ivf_automatic_nlist(uint64_t n, uint32_t max);

/* Trains cfg->k float centroids on n vectors (the configuration's other fields as k-means takes
 * them). On failure the quantizer stays untrained. */
nearkit_status nearkit_ivf_quantizer_train_float(nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                                 const nearkit_kmeans_config *cfg, const float *x,
                                                 uint64_t n);
/* A float quantizer of one cell that every vector belongs to (the flat_* kinds: brute force over
 * codes as an IVF of one list). Nothing is trained and no distance to it is ever computed (assign
 * and probe know the one cell); its centroid is the first basis vector only so that the file's
 * CENT section passes the loader's checks (finite, unit length) under every metric. */
nearkit_status nearkit_ivf_quantizer_single(nearkit_ivf_quantizer *q, const nearkit_index *ix);
/* Trains nlist binary centroids on a sample of at most sample of the n codes. */
nearkit_status nearkit_ivf_quantizer_train_binary(nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                                  uint32_t nlist, const uint8_t *codes, uint64_t n,
                                                  uint64_t sample, uint32_t iterations);

/* The list of each of n vectors (as stored: normalised for cosine). */
nearkit_status nearkit_ivf_quantizer_assign(const nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                            uint32_t *assign, const void *vectors, uint64_t n);

/* Trains the ranges of a codec that takes residuals (codec.h) on the residuals of a seeded sample
 * of at most NEARKIT_CODEC_SAMPLE of the n vectors (as stored) to their cells' centroids, and
 * marks its codes residuals. OK or OUT_OF_MEMORY (the codec then untrained). */
struct nearkit_codec;
nearkit_status nearkit_ivf_quantizer_train_residual_codec(struct nearkit_codec *c, const nearkit_ivf_quantizer *q,
                                                          const nearkit_index *ix, const float *x, uint64_t n,
                                                          uint32_t threads);

/* ---- probing ----------------------------------------------------------------------------------- */

/* One thread's scratch for choosing lists, with the chosen lists in `probes`. */
typedef struct nearkit_ivf_probe {
    uint32_t *probes;     /* nlist */
    float *scores, *heap_dist, *exact_dist, *bounds;
    uint64_t *heap_pos, *exact_pos; /* float: nlist each (exact_*, bounds: screened quantizers only) */
    uint32_t *distances;  /* binary: nlist */
    uint32_t *histogram;  /* binary: dimension + 1 */
    uint32_t nlist;       /* what the buffers were sized for */
    uint32_t dimension;
    bool binary;
} nearkit_ivf_probe;

bool nearkit_ivf_probe_init(nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q, const nearkit_index *ix);
void nearkit_ivf_probe_free(nearkit_ivf_probe *p);
/* Whether buffers made by nearkit_ivf_probe_init for another index serve this quantizer. */
bool nearkit_ivf_probe_fits(const nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q, const nearkit_index *ix);

/* The nprobe lists of centroids nearest the query into p->probes; returns how many (nprobe
 * clamped to nlist). Float: nearest first, every list in list order when nprobe >= nlist.
 * Binary: nearest first, by a counting sort of the small integer distances. */
uint32_t nearkit_ivf_probe_query(nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q,
                                 const nearkit_index *ix, const void *query, uint32_t nprobe);

/* The `count` lists of centroids nearest the query, nearest first whatever the count (clamped to
 * nlist): the order a filtered search widens its probing in. A smaller count gives a prefix of
 * a larger one's order. */
uint32_t nearkit_ivf_probe_nearest(nearkit_ivf_probe *p, const nearkit_ivf_quantizer *q,
                                   const nearkit_index *ix, const void *query, uint32_t count);

/* Float only: the nprobe lists (nprobe <= nlist) of each of the call's c->n queries into
 * probes (c->n x nprobe), the same lists nearkit_ivf_probe_query gives (in no particular
 * order), chosen through sgemm
 * against the centroids with a margin, re-scored exactly. OK or OUT_OF_MEMORY. */
nearkit_status nearkit_ivf_probe_batch(const nearkit_ivf_quantizer *q, const nearkit_search_call *c,
                                       uint32_t nprobe, uint32_t *probes, uint32_t threads);

/* ---- persistence ------------------------------------------------------------------------------- */

/* Float: section CENT (nlist x dimension float32); binary: BCEN (nlist codes; empty untrained). */
nearkit_status nearkit_ivf_quantizer_save(const nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                          nearkit_writer *w);
/* Reads nlist centroids back (the count known from elsewhere in the file); CORRUPT unless the
 * section holds exactly that many (float: finite, within range, of unit length for cosine). */
nearkit_status nearkit_ivf_quantizer_load(nearkit_ivf_quantizer *q, const nearkit_index *ix,
                                          const nearkit_reader *r, uint32_t nlist);

#endif
