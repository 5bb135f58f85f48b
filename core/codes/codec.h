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
 *   - sq8 / sq4: a per-dimension range [lo, hi] cut into 256 / 16 equal cells; a value is stored
 *     as the number of its cell (clamped to the range) and decodes to the cell's centre,
 *     fma(step, c, base) with step = (hi - lo) / cells and base = lo + step / 2. The ranges are
 *     trained: the per-dimension minimum and maximum over a sample of at most
 *     NEARKIT_CODEC_SAMPLE training vectors, drawn with the index's seed (so deterministic).
 *
 * The codec never sees a query's metric: cosine vectors arrive normalised, and the caller turns
 * l2sq / dot into ranking values (nearkit_codec_distances). */
#ifndef NEARKIT_CODEC_H
#define NEARKIT_CODEC_H

#include "base/internal.h"
#include "kernels/kernels.h"

#define NEARKIT_CODEC_SAMPLE 65536 /* training vectors an sq range is taken over, at most */

typedef struct nearkit_codec {
    int format;           /* NEARKIT_CODE_* */
    size_t dimension, code_size;
    float *step, *base;   /* sq formats, once trained: d floats each; NULL otherwise */
} nearkit_codec;

/* An untrained codec of a format for d dimensions (allocates nothing). */
void nearkit_codec_init(nearkit_codec *c, int format, size_t d);
void nearkit_codec_free(nearkit_codec *c);
/* Whether the format trains (sq8, sq4). */
bool nearkit_codec_needs_training(int format);
/* Whether it can encode: trained, or a format without training. */
bool nearkit_codec_ready(const nearkit_codec *c);
uint64_t nearkit_codec_memory(const nearkit_codec *c);
/* Its name ("fp16", "bf16", "sq8", "sq4"). */
const char *nearkit_codec_name(int format);

/* Trains the ranges on n vectors (a seeded sample of them); a format without training is left as
 * it is. OUT_OF_MEMORY leaves it untrained. */
nearkit_status nearkit_codec_train(nearkit_codec *c, const float *x, uint64_t n, uint64_t seed);

/* n vectors into n codes (code_size bytes each), and back. */
void nearkit_codec_encode(const nearkit_codec *c, uint8_t *codes, const float *x, uint64_t n);
void nearkit_codec_decode(const nearkit_codec *c, float *x, const uint8_t *codes, uint64_t n);

/* The ranking values of a query against n codes for the metric (l2: squared; cosine: 1 - dot;
 * ip: -dot), each that of the decoded vector bit for bit. */
void nearkit_codec_distances(float *out, const nearkit_kernel_table *kt, const nearkit_codec *c,
                             nearkit_metric metric, const float *query, const uint8_t *codes, size_t n);

/* Whether n codes read from a file decode to values add would accept: fp16 / bf16 codes finite
 * and within NEARKIT_MAX_ABS_VALUE (sq codes always are, given loaded ranges). */
bool nearkit_codec_codes_valid(const nearkit_codec *c, const uint8_t *codes, uint64_t n);

/* The float32 -> binary16 and bfloat16 roundings (nearest, ties to even). */
uint16_t nearkit_float_to_half(float f);
uint16_t nearkit_float_to_bf16(float f);

/* Persistence: the sq ranges as one section (tag), 2 d floats, step then base; formats without
 * training write nothing. Load checks its length and that every float is finite with step >= 0
 * (CORRUPT otherwise). */
nearkit_status nearkit_codec_save(const nearkit_codec *c, nearkit_writer *w, uint32_t tag);
nearkit_status nearkit_codec_load(nearkit_codec *c, const nearkit_reader *r, uint32_t tag);

#endif
