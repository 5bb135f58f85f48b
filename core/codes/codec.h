/* Codecs: float32 vectors to compact codes and back (issue 17). Internal to nearkit (hidden
 * symbols).
 *
 * A codec turns a float vector of d dimensions into a code of a fixed size and back, and gives the
 * distances of a float query to codes through the kernels' code kernels (kernels/kernels.h, which
 * also defines the code layouts and what decoding means, bit for bit):
 *   - fp16: IEEE binary16 per dimension, rounded to nearest even; values beyond the largest half
 *     (65504) saturate to it, so a code is always finite. Half the memory, near lossless for
 *     embeddings. No training;
 *   - bf16: the upper half of the float, rounded to nearest even (the range of float, 8 bits of
 *     precision). No training;
 *   - sq8 / sq4: per dimension, evenly spaced levels fma(step, c, base) over a range [lo, hi]; a
 *     value is stored as the number c of its nearest level (clamped to the range). sq8 puts its
 *     256 levels on lo and hi and between (step = (hi - lo) / 255, base = lo); sq4 cuts the range
 *     into 16 cells decoded at their centres (step = (hi - lo) / 16, base = lo + step / 2). The
 *     walks of hnsw_sq8 rank sq8 codes on an integer grid (below). The ranges are
 *     trained: the per-dimension minimum and maximum over a sample of at most
 *     NEARKIT_CODEC_SAMPLE training vectors, drawn with the index's seed (so deterministic). Under
 *     an IVF index of several lists the codes and ranges are of residuals to the list's centroid
 *     (`residual` below), as Faiss's IVF scalar quantiser does by default;
 *   - pq8: product quantisation. The d dimensions are cut into m sub-spaces of d / m each; each
 *     has a codebook of (up to) 256 centroids, trained by k-means on the sub-vectors of a seeded
 *     sample, and a vector is stored as the m numbers of its sub-vectors' nearest centroids (m
 *     bytes: 8 bits per d / m dimensions). It decodes to the chosen centroids side by side. A
 *     query's distances to codes come from a table of its distance to every centroid of every
 *     sub-space (nearkit_codec_table), summed over the sub-spaces in order: the same bits on
 *     every CPU (plain C, no dispatch), equal in value (not bit for bit) to the float kernel on
 *     the decoded vector;
 *   - pq4: the same with 16 centroids per sub-space, two sub-spaces to a byte (the low nibble
 *     first), for the fast scan: a query's table is rounded to 8-bit entries
 *     (nearkit_codec_pq4_lut) that kernels/kernels_pq4.h sums 32 codes at a time with byte
 *     shuffles, over lists interleaved by blocks of 32 (search/ivf_lists.h). Its distances are
 *     those sums scaled back: within m / 2 table steps of the float table's, the same integers on
 *     every CPU.
 *
 * The codec never sees a query's metric: cosine vectors arrive normalised, and the caller turns
 * l2sq / dot into ranking values (nearkit_codec_distances). */
#ifndef NEARKIT_CODEC_H
#define NEARKIT_CODEC_H

#include "base/internal.h"
#include "kernels/kernels.h"
#include "kernels/kernels_pq4.h"

#define NEARKIT_CODEC_SAMPLE 65536 /* training vectors an sq range or pq codebook is taken over, at most */

/* The product quantiser: a format past the code kernels' (kernels/kernels.h), whose distances
 * come from per-query tables. */
#define NEARKIT_CODEC_PQ8 NEARKIT_CODE_FORMATS
#define NEARKIT_CODEC_PQ4 (NEARKIT_CODE_FORMATS + 1)
/* RaBitQ's codes are residuals to a list centroid, so the codec only names them (format, code
 * size for l2 and cosine, name, nothing to train or save here); codes/rabitq.h sizes (ip: one
 * float more), encodes, decodes and scores them. */
#define NEARKIT_CODEC_RABITQ (NEARKIT_CODE_FORMATS + 2)
#define NEARKIT_CODEC_PQ_MAX_CENTROIDS 256
#define NEARKIT_CODEC_PQ4_CENTROIDS 16
/* k-means iterations per codebook at most (Faiss's niter). On Fashion-MNIST (nlist 980; 500
 * queries at nprobe 42) 25 instead of 10 took recall from 0.890 to 0.896 (m 196) and from 0.851
 * to 0.863 (m 392 x 4 bits, Faiss's fast scan: 0.863) for 10.3 -> 15.9 s and 6.9 -> 7.7 s of
 * build; twice the sample besides gained nothing more. */
#define NEARKIT_CODEC_PQ_ITERATIONS 25
#define NEARKIT_CODEC_PQ_SAMPLE 32768  /* vectors a codebook trains on at most: 128 per centroid */

typedef struct nearkit_codec {
    int format;           /* NEARKIT_CODE_*, or NEARKIT_CODEC_PQ8 / PQ4 */
    size_t dimension, code_size;
    float *step, *base;   /* sq formats, once trained: d floats each; NULL otherwise */
    /* pq: m sub-spaces of d / m dimensions, ksub centroids each (fewer than 256 / 16 only when
     * trained on fewer vectors). Once trained, the codebooks in the one layout that training,
     * encoding and query tables score fastest: sub-space j's block transposed,
     * transposed[j * ksub * (d / m) + k * ksub + i] = value k of its centroid i (a read-back
     * gathers a centroid's values across the block; the file keeps centroid after centroid). */
    uint32_t m, ksub;
    float *transposed;
    /* Under an IVF index of several lists (nearkit_codec_takes_residuals): a code is that of the
     * vector minus its list's centroid, and the ranges (sq) or codebooks (pq) are trained on such
     * residuals. A list's residuals spread far less than the vectors, so the 256 (16) cells of a
     * dimension are finer: the recall ceiling of sq8 codes rises (Fashion-MNIST, nlist 980: 0.991
     * to 0.995). A pq query's table is then made per list probed, from the query's residual
     * (l2, cosine), or per query with the centroid's dot product added per list (ip). */
    bool residual;
    /* sq8, once trained: each dimension's level width on the integer grid that walks rank codes
     * on (kernels.h's grid kernels; nearkit_codec_grid_query), and the grid units per value. */
    int16_t *grid_w;
    double grid_unit;
} nearkit_codec;

/* An untrained codec of a format for d dimensions (allocates nothing). A pq codec needs its
 * number of sub-spaces (nearkit_codec_set_subspaces) before it trains or loads. */
void nearkit_codec_init(nearkit_codec *c, int format, size_t d);
/* Whether the format is a product quantiser (pq8, pq4). */
bool nearkit_codec_is_pq(int format);
/* pq: m sub-spaces, which must divide the dimension (INVALID_ARGUMENT otherwise). */
nearkit_status nearkit_codec_set_subspaces(nearkit_codec *c, uint32_t m);
/* pq's default m, a code of a byte per 4 dimensions where d allows (else per 2, else per 1):
 * pq8 d / 4 sub-spaces, pq4 d / 2. */
uint32_t nearkit_codec_default_subspaces(int format, size_t d);
/* Whether distances come from a per-query table (nearkit_codec_table) rather than a kernel. */
bool nearkit_codec_uses_tables(const nearkit_codec *c);
/* Floats a query's table takes (m * ksub). */
size_t nearkit_codec_table_size(const nearkit_codec *c);
void nearkit_codec_free(nearkit_codec *c);
/* Whether the format trains (sq8, sq4, pq8, pq4). */
bool nearkit_codec_needs_training(int format);
/* Whether it can encode: trained, or a format without training. */
bool nearkit_codec_ready(const nearkit_codec *c);
uint64_t nearkit_codec_memory(const nearkit_codec *c);
/* Its name ("fp16", "bf16", "sq8", "sq4", "pq8", "pq4", "rabitq"). */
const char *nearkit_codec_name(int format);

/* Trains the ranges (sq) or codebooks (pq, k-means on `threads` threads) on n vectors (a seeded
 * sample of them); a format without training is left as it is. OUT_OF_MEMORY leaves it
 * untrained. */
nearkit_status nearkit_codec_train(nearkit_codec *c, const float *x, uint64_t n, uint64_t seed, uint32_t threads);

/* Whether an IVF index of several lists codes a format's vectors as residuals to their list's
 * centroid: sq8, sq4 (the scalar quantisers, whose cells the narrower ranges refine) and pq8, pq4
 * (whose codebooks then fit the spread within a list, not the lists' spread; Faiss's IVFPQ
 * default). */
bool nearkit_codec_takes_residuals(int format);

/* n vectors into n codes (code_size bytes each), and back. Encoding fails only for pq, with
 * OUT_OF_MEMORY (its scratch). */
nearkit_status nearkit_codec_encode(const nearkit_codec *c, uint8_t *codes, const float *x, uint64_t n);
void nearkit_codec_decode(const nearkit_codec *c, float *x, const uint8_t *codes, uint64_t n);

/* The codes of n vectors filed in lists assign[r] (centroids: nlist x dimension): residuals to
 * their lists' centroids where c->residual, else nearkit_codec_encode's. OUT_OF_MEMORY only. */
nearkit_status nearkit_codec_encode_listed(const nearkit_codec *c, uint8_t *codes, const float *x, uint64_t n,
                                           const uint32_t *assign, const float *centroids);
/* One code of a list whose centroid is given, decoded: the residual plus the centroid where
 * c->residual, else nearkit_codec_decode's. */
void nearkit_codec_decode_listed(const nearkit_codec *c, float *x, const uint8_t *code, const float *centroid);

/* The ranking values of a query against n codes for the metric (l2: squared; cosine: half the
 * squared l2, which is 1 - dot for unit vectors and errs less than 1 - dot against a decoded
 * vector, that is not quite of unit length, near the query; clamped to [0, 2]; ip: -dot), each
 * that of the decoded vector bit for bit (before the halving and the clamp). Not for pq (see
 * below). */
void nearkit_codec_distances(float *out, const nearkit_kernel_table *kt, const nearkit_codec *c,
                             nearkit_metric metric, const float *query, const uint8_t *codes, size_t n);
/* The ranking values of n squared l2 distances of a query to decoded codes, in place, as
 * nearkit_codec_distances makes them: unchanged for l2, halved and clamped to [0, 2] for cosine. */
void nearkit_codec_values_of_l2(float *v, size_t n, nearkit_metric metric);
/* pq8: a query's table (nearkit_codec_table_size floats): per sub-space and centroid, the
 * sub-vectors' squared l2 (l2, cosine) or negated dot (ip). */
void nearkit_codec_table(float *table, const nearkit_codec *c, nearkit_metric metric, const float *query);
/* pq8: the ranking values of n codes from a query's table, as nearkit_codec_distances defines
 * them (cosine: half the summed squared l2). */
void nearkit_codec_table_distances(float *out, const nearkit_codec *c, nearkit_metric metric, const float *table,
                                   const uint8_t *codes, size_t n);

/* sq8 codes scored on an integer grid, for walks that only rank them (hnsw_sq8's): about half
 * the instructions of the code kernels at 784 dimensions. A query goes on the grid once
 * (nearkit_codec_grid_query): l2 and cosine place it in grid units from each dimension's base
 * (to an eighth of the widest dimension's level width, clamped two ranges out); ip puts the
 * products q[i] step[i] on a grid of the query's own. A code's grid value
 * (nearkit_codec_grid_value) is then the kernel's exact integer, scaled back to the ranking value
 * nearkit_codec_distances defines: near it (the query's placement is its only error), not equal,
 * and the same on every CPU. A walk reports nothing by it: the kind scores what it returns with
 * nearkit_codec_distances. */
typedef struct nearkit_grid_query {
    int16_t *t;           /* the caller's room: d values */
    double scale, offset; /* value = offset + scale * sum (ip: negated; l2: offset 0) */
    nearkit_metric metric;
} nearkit_grid_query;
/* Whether the codec has a grid: sq8, trained, on ranges alike enough that the grid's unit is
 * far finer than their level widths (codec.c, grid_fine_enough); else walks score the codes. */
bool nearkit_codec_has_grid(const nearkit_codec *c);
/* False where the query lies so far outside the ranges (l2, cosine: past the clamp) that some
 * coordinate of a dimension that varies was clamped: the grid's values would then rank the codes
 * unlike the codec's, and the caller should score the codes instead. */
bool nearkit_codec_grid_query(nearkit_grid_query *g, const nearkit_codec *c, nearkit_metric metric,
                              const float *query);
float nearkit_codec_grid_value(const nearkit_grid_query *g, const nearkit_kernel_table *kt, const nearkit_codec *c,
                               const uint8_t *code);

/* pq4: a query's table (nearkit_codec_table) rounded for the fast scan: the two planes of 8-bit
 * entries that kernels/kernels_pq4.h reads (each columns * 32 bytes, columns = code_size), and
 * the affine map back, distance = bias + unit * sum. Every sub-space's entries start at 0 (its
 * smallest value goes to the bias); one unit for all, the widest sub-space's range over
 * nearkit_pq4_entry_max. The caller gives lo, hi and the scratch room. */
typedef struct nearkit_pq4_lut {
    uint8_t *lo, *hi;
    float bias, unit;
    float *lows;   /* scratch: m floats */
    float *padded; /* scratch: m * 16 floats (a codebook of fewer than 16 centroids) */
} nearkit_pq4_lut;
void nearkit_codec_pq4_lut(nearkit_pq4_lut *lut, const nearkit_codec *c, const float *table);
/* pq4: the ranking values (as nearkit_codec_table_distances) of the n codes of interleaved blocks
 * (the first n rows of ceil(n / 32) blocks, the last laid out for last_rows rows: 32, or fewer
 * for a list's last block, kernels_pq4.h), through the kernel; sums: room for n rounded up to 32. */
void nearkit_codec_pq4_distances(float *out, uint16_t *sums, const nearkit_codec *c, nearkit_metric metric,
                                 const nearkit_pq4_lut *lut, const uint8_t *blocks, size_t n, size_t last_rows,
                                 nearkit_pq4_kernel kernel);

/* Whether n codes read from a file decode to values add would accept: fp16 / bf16 codes finite
 * and within NEARKIT_MAX_ABS_VALUE (sq codes always are, given loaded ranges), pq codes naming
 * one of the ksub centroids. */
bool nearkit_codec_codes_valid(const nearkit_codec *c, const uint8_t *codes, uint64_t n);
/* Whether decoding or scoring any bytes at all as a code reads only within the codec's arrays
 * (false for pq trained with fewer centroids than its bits name): a view that does not verify
 * values checks the codes only when this is false. */
bool nearkit_codec_any_code_in_bounds(const nearkit_codec *c);

/* The float32 -> binary16 and bfloat16 roundings (nearest, ties to even). */
uint16_t nearkit_float_to_half(float f);
uint16_t nearkit_float_to_bf16(float f);

/* Persistence: the sq ranges as one section (tag), 2 d floats, step then base; pq8's codebooks
 * as one section (tag): ksub (uint32), then m * ksub * (d / m) floats; formats without training
 * write nothing. Load checks the length and that every decoded value is finite and within
 * NEARKIT_MAX_ABS_VALUE (CORRUPT otherwise); pq8 needs its m set first. */
nearkit_status nearkit_codec_save(const nearkit_codec *c, nearkit_writer *w, uint32_t tag);
nearkit_status nearkit_codec_load(nearkit_codec *c, const nearkit_reader *r, uint32_t tag);

#endif
