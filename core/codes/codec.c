/* Codecs (codec.h): encoding and training here; decoding and distances are the kernels'. */
#include "codes/codec.h"
#include "base/random.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HALF_MAX_BITS 0x7bffu /* 65504, the largest finite half */

void nearkit_codec_init(nearkit_codec *c, int format, size_t d) {
    *c = (nearkit_codec){.format = format, .dimension = d, .code_size = nearkit_code_size(format, d)};
}

void nearkit_codec_free(nearkit_codec *c) {
    free(c->step);
    free(c->base);
    c->step = c->base = NULL;
}

bool nearkit_codec_needs_training(int format) {
    return format == NEARKIT_CODE_SQ8 || format == NEARKIT_CODE_SQ4;
}

bool nearkit_codec_ready(const nearkit_codec *c) { return !nearkit_codec_needs_training(c->format) || c->step; }

uint64_t nearkit_codec_memory(const nearkit_codec *c) { return c->step ? 2 * c->dimension * sizeof(float) : 0; }

const char *nearkit_codec_name(int format) {
    static const char *const names[NEARKIT_CODE_FORMATS] = {"fp16", "bf16", "sq8", "sq4"};
    return format >= 0 && format < NEARKIT_CODE_FORMATS ? names[format] : "?";
}

static uint32_t float_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

/* ---- fp16 and bf16 ----------------------------------------------------------------------------- */

uint16_t nearkit_float_to_half(float f) {
    uint32_t x = float_bits(f), sign = (x >> 16) & 0x8000u;
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((x >> 13) & 0x3ffu)); /* NaN stays NaN */
    if (x >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504 (or is inf) */
    if (x < 0x38800000u) {
        /* below 2^-14, a subnormal half: adding 0.5 (whose ulp is 2^-24, the subnormals' step)
         * rounds to the nearest multiple of 2^-24, ties to even, in the float addition itself;
         * 2^-14 itself comes out as 0x400, the smallest normal, as it should */
        float a;
        memcpy(&a, &x, sizeof a);
        return (uint16_t)(sign | (float_bits(a + 0.5f) - 0x3f000000u));
    }
    x += 0xfffu + ((x >> 13) & 1u); /* ties to even; a carry moves into the exponent */
    return (uint16_t)(sign | ((x >> 13) - (112u << 10)));
}

uint16_t nearkit_float_to_bf16(float f) {
    uint32_t x = float_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* NaN stays NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* fp16 saturates: a value beyond the largest half is stored as it, never as infinity. */
static uint16_t half_saturated(float f) {
    uint16_t h = nearkit_float_to_half(f);
    return (h & 0x7fffu) == 0x7c00u ? (uint16_t)((h & 0x8000u) | HALF_MAX_BITS) : h;
}

/* ---- scalar quantisation ----------------------------------------------------------------------- */

static unsigned sq_levels(int format) { return format == NEARKIT_CODE_SQ8 ? 256u : 16u; }

/* The cell of value v in dimension i. */
static unsigned sq_level(const nearkit_codec *c, size_t i, float v) {
    unsigned top = sq_levels(c->format) - 1;
    if (!(c->step[i] > 0.0f)) return 0;
    float lo = c->base[i] - 0.5f * c->step[i];
    float cell = floorf((v - lo) / c->step[i]);
    return cell <= 0.0f ? 0u : cell >= (float)top ? top : (unsigned)cell;
}

/* Rows of a seeded sample of at most NEARKIT_CODEC_SAMPLE of n (all of them when n is small). */
static uint64_t sample_row(uint64_t j, uint64_t n, uint64_t taken, uint64_t *state) {
    if (taken == n) return j;
    return nearkit_next_random(state) % n; /* with replacement: fine for a range */
}

nearkit_status nearkit_codec_train(nearkit_codec *c, const float *x, uint64_t n, uint64_t seed) {
    if (!nearkit_codec_needs_training(c->format) || n == 0) return NEARKIT_OK;
    size_t d = c->dimension;
    float *lo = nearkit_alloc_array(d, sizeof *lo), *hi = nearkit_alloc_array(d, sizeof *hi);
    if (!lo || !hi) {
        free(lo);
        free(hi);
        return nearkit_oom();
    }
    for (size_t i = 0; i < d; i++) lo[i] = INFINITY, hi[i] = -INFINITY;
    uint64_t taken = n < NEARKIT_CODEC_SAMPLE ? n : NEARKIT_CODEC_SAMPLE, state = seed ^ 0x5137u;
    for (uint64_t j = 0; j < taken; j++) {
        const float *v = x + sample_row(j, n, taken, &state) * d;
        for (size_t i = 0; i < d; i++) {
            lo[i] = v[i] < lo[i] ? v[i] : lo[i];
            hi[i] = v[i] > hi[i] ? v[i] : hi[i];
        }
    }
    float cells = (float)sq_levels(c->format);
    for (size_t i = 0; i < d; i++) { /* hi becomes step, lo becomes base */
        float step = (hi[i] - lo[i]) / cells;
        hi[i] = step;
        lo[i] = lo[i] + 0.5f * step;
    }
    nearkit_codec_free(c);
    c->step = hi;
    c->base = lo;
    return NEARKIT_OK;
}

/* ---- encoding and decoding --------------------------------------------------------------------- */

static void encode_one(const nearkit_codec *c, uint8_t *code, const float *v) {
    size_t d = c->dimension;
    switch (c->format) {
    case NEARKIT_CODE_FP16:
    case NEARKIT_CODE_BF16:
        for (size_t i = 0; i < d; i++) {
            uint16_t h = c->format == NEARKIT_CODE_FP16 ? half_saturated(v[i]) : nearkit_float_to_bf16(v[i]);
            memcpy(code + 2 * i, &h, 2); /* little-endian hosts only, as the file format */
        }
        break;
    case NEARKIT_CODE_SQ8:
        for (size_t i = 0; i < d; i++) code[i] = (uint8_t)sq_level(c, i, v[i]);
        break;
    default:
        memset(code, 0, c->code_size);
        for (size_t i = 0; i < d; i++) code[i / 2] |= (uint8_t)(sq_level(c, i, v[i]) << (4 * (i & 1)));
        break;
    }
}

void nearkit_codec_encode(const nearkit_codec *c, uint8_t *codes, const float *x, uint64_t n) {
    for (uint64_t r = 0; r < n; r++) encode_one(c, codes + r * c->code_size, x + r * c->dimension);
}

void nearkit_codec_decode(const nearkit_codec *c, float *x, const uint8_t *codes, uint64_t n) {
    for (uint64_t r = 0; r < n; r++)
        nearkit_code_decode(x + r * c->dimension, c->format, codes + r * c->code_size, c->step, c->base,
                            c->dimension);
}

void nearkit_codec_distances(float *out, const nearkit_kernel_table *kt, const nearkit_codec *c,
                             nearkit_metric metric, const float *query, const uint8_t *codes, size_t n) {
    if (metric == NEARKIT_METRIC_L2) {
        kt->code_l2sq[c->format](out, query, codes, c->step, c->base, n, c->dimension);
        return;
    }
    kt->code_dot[c->format](out, query, codes, c->step, c->base, n, c->dimension);
    float offset = metric == NEARKIT_METRIC_COSINE ? 1.0f : 0.0f;
    for (size_t i = 0; i < n; i++) out[i] = offset - out[i];
}

bool nearkit_codec_codes_valid(const nearkit_codec *c, const uint8_t *codes, uint64_t n) {
    if (c->format != NEARKIT_CODE_FP16 && c->format != NEARKIT_CODE_BF16) return true;
    uint64_t halves = n * c->dimension;
    for (uint64_t i = 0; i < halves; i++) {
        uint16_t h;
        memcpy(&h, codes + 2 * i, 2);
        float v = c->format == NEARKIT_CODE_FP16 ? nearkit_half_to_float(h) : nearkit_bf16_to_float(h);
        if (!(fabsf(v) <= NEARKIT_MAX_ABS_VALUE)) return false; /* NaN fails too */
    }
    return true;
}

/* ---- persistence ------------------------------------------------------------------------------- */

nearkit_status nearkit_codec_save(const nearkit_codec *c, nearkit_writer *w, uint32_t tag) {
    if (!nearkit_codec_needs_training(c->format)) return NEARKIT_OK;
    size_t d = c->dimension;
    const void *parts[2] = {c->step, c->base};
    uint64_t sizes[2] = {d * sizeof(float), d * sizeof(float)};
    return nearkit_writer_section_parts(w, tag, parts, sizes, 2);
}

nearkit_status nearkit_codec_load(nearkit_codec *c, const nearkit_reader *r, uint32_t tag) {
    if (!nearkit_codec_needs_training(c->format)) return NEARKIT_OK;
    size_t d = c->dimension;
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, tag, 2 * (uint64_t)d * sizeof(float));
    if (st) return st;
    float *step = nearkit_alloc_array(d, sizeof *step), *base = nearkit_alloc_array(d, sizeof *base);
    if (!step || !base) {
        free(step);
        free(base);
        return nearkit_oom();
    }
    memcpy(step, data, d * sizeof *step);
    memcpy(base, (const uint8_t *)data + d * sizeof *step, d * sizeof *base);
    float top = (float)(sq_levels(c->format) - 1);
    bool ok = true;
    for (size_t i = 0; ok && i < d; i++) /* every decoded value finite and within the value bound */
        ok = step[i] >= 0.0f && fabsf(base[i]) <= NEARKIT_MAX_ABS_VALUE &&
             fabsf(base[i] + top * step[i]) <= NEARKIT_MAX_ABS_VALUE;
    if (!ok) {
        free(step);
        free(base);
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %s ranges out of bounds",
                                 nearkit_codec_name(c->format));
    }
    nearkit_codec_free(c);
    c->step = step;
    c->base = base;
    return NEARKIT_OK;
}
