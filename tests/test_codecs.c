/* Compressed codes (issue 17): the codecs, their kernels and the IVF kinds over them.
 *
 *  - fp16 / bf16 rounding: every half and bfloat16 value round-trips, ties go to even, edge
 *    values (infinity, subnormals, the largest half, overflow) round as IEEE says; fp16 codes
 *    saturate at 65504;
 *  - encode / decode error bounds per codec (fp16: 2^-11 relative, bf16: 2^-8, sq: half a cell);
 *  - the code kernels: equal bit for bit in every implementation the CPU runs, and to the float
 *    kernel on the decoded vector, for many dimensions (tails included) and every format; the
 *    code decoders likewise equal to nearkit_codec_decode at every level;
 *  - sq8's integer grid: its kernels exact integers in every implementation (at the bounds too),
 *    a code's grid value near its value for l2, cosine and ip;
 *  - pq8: codes name each sub-vector's nearest centroid, decode to the centroids, table distances
 *    equal the decoded vectors' (to rounding), codebooks the same for 1 and 2 threads, fewer
 *    centroids when trained on fewer than 256 vectors;
 *  - rabitq: the rotation orthogonal (norms and dots kept, d padded to a power of two or not) and
 *    the same for a seed; the estimator unbiased for ip and l2 over 20 rotations; a decoded code
 *    nearer its vector than the list centroid; ivf_rabitq exact with every list probed and every
 *    candidate re-ranked (l2, cosine, ip);
 *  - ivf_fp16 / bf16 / sq8 / sq4 / pq / rabitq: recall against flat at a fixed nprobe with and without
 *    refine (printed with the bytes per vector), exact distances under refine, save / load giving
 *    the same results, damaged sections (CORRUPT), removal, get, filters, parameters. */
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binary_test_util.h"
#include "check.h"
#include "codes/codec.h"
#include "codes/rabitq.h"
#include "base/random.h"
#include "kernels/kernels.h"

#define F32 NEARKIT_VECTOR_FLOAT32

static uint64_t rng = 777;
static float frand(void) { return (float)((bt_next(&rng) >> 11) * 0x1.0p-53) * 2.0f - 1.0f; }

static float from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}
static uint32_t bits_of(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* ---- rounding ---------------------------------------------------------------------------------- */

static void test_half_rounding(void) {
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) { /* every non-NaN half round-trips */
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) continue;
        if (nearkit_float_to_half(nearkit_half_to_float((uint16_t)h)) != h) bad++;
        if (nearkit_float_to_bf16(nearkit_bf16_to_float((uint16_t)h)) != h &&
            !((h & 0x7f80u) == 0x7f80u && (h & 0x7fu)))
            bad++;
    }
    CHECK(bad == 0);
    CHECK(nearkit_half_to_float(0x7bffu) == 65504.0f);
    CHECK(nearkit_half_to_float(0x0001u) == 0x1p-24f);
    CHECK(nearkit_half_to_float(0x0400u) == 0x1p-14f);
    CHECK(nearkit_float_to_half(65504.0f) == 0x7bffu);
    CHECK(nearkit_float_to_half(65519.99f) == 0x7bffu);
    CHECK(nearkit_float_to_half(65520.0f) == 0x7c00u); /* the tie rounds to even: infinity */
    CHECK(nearkit_float_to_half(INFINITY) == 0x7c00u);
    CHECK(nearkit_float_to_half(-INFINITY) == 0xfc00u);
    CHECK((nearkit_float_to_half(NAN) & 0x7c00u) == 0x7c00u && (nearkit_float_to_half(NAN) & 0x3ffu));
    CHECK(nearkit_float_to_half(-0.0f) == 0x8000u);
    CHECK(nearkit_float_to_half(0x1p-24f) == 0x0001u);
    CHECK(nearkit_float_to_half(0x1p-25f) == 0x0000u);       /* tie to even: 0 */
    CHECK(nearkit_float_to_half(0x1.8p-24f) == 0x0002u);     /* tie to even: 2 */
    CHECK(nearkit_float_to_half(0x1.0001p-25f) == 0x0001u);  /* above the tie */
    CHECK(nearkit_float_to_half(0x1.ff8p-15f) == 0x03ffu);   /* the largest subnormal */
    CHECK(nearkit_float_to_half(0x1.ffcp-15f) == 0x0400u);   /* the tie rounds up into the normals */
    CHECK(nearkit_float_to_half(0x1.ffbp-15f) == 0x03ffu);
    CHECK(nearkit_float_to_half(1.0f + 0x1p-11f) == 0x3c00u); /* tie to even */
    CHECK(nearkit_float_to_half(1.0f + 0x1.8p-10f) == 0x3c02u);
    CHECK(nearkit_float_to_half(-1.0f - 0x1p-10f) == 0xbc01u);
    CHECK(nearkit_float_to_half(1e-10f) == 0x0000u);
    CHECK(nearkit_float_to_bf16(1.0f + 0x1p-8f) == 0x3f80u); /* tie to even */
    CHECK(nearkit_float_to_bf16(1.0f + 0x1.8p-7f) == 0x3f82u);
    CHECK(nearkit_float_to_bf16(from_bits(0x3f808001u)) == 0x3f81u);
    CHECK(nearkit_float_to_bf16(from_bits(0x7f7fffffu)) == 0x7f80u); /* FLT_MAX rounds to inf */
    CHECK(nearkit_float_to_bf16(from_bits(0x00000001u)) == 0x0000u); /* float subnormals too */
    CHECK(nearkit_float_to_bf16(from_bits(0x00018000u)) == 0x0002u);

    /* fp16 codes saturate: never infinity */
    nearkit_codec c;
    nearkit_codec_init(&c, NEARKIT_CODE_FP16, 3);
    float big[3] = {1e6f, -70000.0f, 65504.0f}, back[3];
    uint8_t code[6];
    nearkit_codec_encode(&c, code, big, 1);
    nearkit_codec_decode(&c, back, code, 1);
    CHECK(back[0] == 65504.0f && back[1] == -65504.0f && back[2] == 65504.0f);
}

/* ---- encode / decode --------------------------------------------------------------------------- */

static void test_round_trip(void) {
    const size_t d = 37, n = 500;
    float *x = malloc(n * d * sizeof *x), *y = malloc(n * d * sizeof *y);
    uint8_t *codes = malloc(n * d * 2);
    for (size_t i = 0; i < n * d; i++) x[i] = frand() * (1.0f + (float)(i % d)); /* ranges differ */
    for (int f = 0; f < NEARKIT_CODE_FORMATS; f++) {
        nearkit_codec c;
        nearkit_codec_init(&c, f, d);
        CHECK(nearkit_codec_ready(&c) == !nearkit_codec_needs_training(f));
        CHECK_STATUS(nearkit_codec_train(&c, x, n, 42, 1), NEARKIT_OK);
        CHECK(nearkit_codec_ready(&c));
        nearkit_codec_encode(&c, codes, x, n);
        nearkit_codec_decode(&c, y, codes, n);
        double worst = 0.0; /* error over its bound */
        for (size_t i = 0; i < n * d; i++) {
            double err = fabs((double)x[i] - y[i]), bound;
            if (f == NEARKIT_CODE_FP16) bound = fabs(x[i]) * 0x1p-11 + 0x1p-25;
            else if (f == NEARKIT_CODE_BF16) bound = fabs(x[i]) * 0x1p-8;
            else bound = c.step[i % d] * 0.5 * (1.0 + 1e-4) + 1e-6;
            if (err / bound > worst) worst = err / bound;
        }
        printf("codec %s: %zu bytes for %zu dimensions, worst error %.3f of its bound\n", nearkit_codec_name(f),
               c.code_size, d, worst);
        CHECK(worst <= 1.0);
        /* the sq ranges are the sample's: deterministic with the seed */
        nearkit_codec again;
        nearkit_codec_init(&again, f, d);
        CHECK_STATUS(nearkit_codec_train(&again, x, n, 42, 1), NEARKIT_OK);
        CHECK(!c.step || memcmp(c.step, again.step, d * sizeof(float)) == 0);
        nearkit_codec_free(&again);
        nearkit_codec_free(&c);
    }
    free(x);
    free(y);
    free(codes);
}

/* sq8's 256 levels lie on each dimension's least and largest sampled value, so 8-bit data (every
 * integer of a range of 255, at any offset, here also scaled by a power of two) decodes to itself;
 * a dimension whose sample spans less is off by at most half a step. */
static void test_sq8_integer_data(void) {
    const size_t d = 6, n = 256;
    float x[256 * 6], y[256 * 6];
    uint8_t codes[256 * 6];
    for (size_t r = 0; r < n; r++) {
        size_t v = (r * 97) % n; /* every integer 0 .. 255 once, shuffled */
        x[r * d + 0] = (float)v;
        x[r * d + 1] = (float)v - 128.0f;
        x[r * d + 2] = 1000.0f + (float)v;
        x[r * d + 3] = 0.25f * (float)v;
        x[r * d + 4] = (float)(v % 100); /* spans 99 of 255 steps */
        x[r * d + 5] = 7.0f;             /* constant */
    }
    nearkit_codec c;
    nearkit_codec_init(&c, NEARKIT_CODE_SQ8, d);
    CHECK_STATUS(nearkit_codec_train(&c, x, n, 42, 1), NEARKIT_OK);
    nearkit_codec_encode(&c, codes, x, n);
    nearkit_codec_decode(&c, y, codes, n);
    int inexact = 0, beyond = 0;
    for (size_t i = 0; i < n * d; i++) {
        size_t dim = i % d;
        if (dim <= 3 || dim == 5) inexact += x[i] != y[i];
        else beyond += fabsf(x[i] - y[i]) > 0.5f * c.step[dim] * (1.0f + 1e-4f);
    }
    CHECK(inexact == 0 && beyond == 0);
    nearkit_codec_free(&c);
}

/* ---- product quantisation ---------------------------------------------------------------------- */

static float sub_distance(const float *a, const float *b, size_t n) {
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) sum += (a[i] - b[i]) * (a[i] - b[i]);
    return sum;
}

/* Centroid i of sub-space j into out (the codec keeps its codebooks transposed: codec.h). */
static const float *centroid_of(const nearkit_codec *c, uint32_t j, uint32_t i, float *out) {
    size_t dsub = c->dimension / c->m;
    const float *book = c->transposed + (size_t)j * c->ksub * dsub;
    for (size_t k = 0; k < dsub; k++) out[k] = book[k * c->ksub + i];
    return out;
}

static void test_pq_codec(void) {
    const size_t d = 24, n = 3000;
    float *x = malloc(n * d * sizeof *x), *y = malloc(n * d * sizeof *y), q[24];
    uint8_t *codes = malloc(n * d);
    for (size_t i = 0; i < n * d; i++) x[i] = frand() * (1.0f + (float)(i % 5));
    for (size_t i = 0; i < d; i++) q[i] = frand();
    nearkit_codec c, two, few;
    nearkit_codec_init(&c, NEARKIT_CODEC_PQ8, d);
    CHECK(!nearkit_codec_ready(&c));
    CHECK_STATUS(nearkit_codec_set_subspaces(&c, 5), NEARKIT_ERR_INVALID_ARGUMENT); /* 5 does not divide 24 */
    CHECK_STATUS(nearkit_codec_set_subspaces(&c, 6), NEARKIT_OK);
    CHECK(c.code_size == 6 && nearkit_codec_default_subspaces(NEARKIT_CODEC_PQ8, 24) == 6 &&
          nearkit_codec_default_subspaces(NEARKIT_CODEC_PQ8, 6) == 3 &&
          nearkit_codec_default_subspaces(NEARKIT_CODEC_PQ8, 7) == 7 &&
          nearkit_codec_default_subspaces(NEARKIT_CODEC_PQ4, 24) == 12 &&
          nearkit_codec_default_subspaces(NEARKIT_CODEC_PQ4, 6) == 6 &&
          nearkit_codec_default_subspaces(NEARKIT_CODEC_PQ4, 7) == 7);
    CHECK_STATUS(nearkit_codec_train(&c, x, n, 42, 1), NEARKIT_OK);
    CHECK(nearkit_codec_ready(&c) && c.ksub == 256);
    CHECK_STATUS(nearkit_codec_encode(&c, codes, x, n), NEARKIT_OK);
    nearkit_codec_decode(&c, y, codes, n);
    CHECK(nearkit_codec_codes_valid(&c, codes, n));
    /* each code names its sub-vector's nearest centroid, and decodes to it */
    long not_nearest = 0;
    double err = 0, spread = 0;
    for (size_t r = 0; r < n; r += 7)
        for (uint32_t j = 0; j < c.m; j++) {
            const float *v = x + r * d + j * 4;
            float room[4];
            float chosen = sub_distance(v, centroid_of(&c, j, codes[r * c.m + j], room), 4);
            for (uint32_t i = 0; i < c.ksub; i++) not_nearest += sub_distance(v, centroid_of(&c, j, i, room), 4) < chosen;
        }
    for (size_t i = 0; i < n * d; i++) err += ((double)x[i] - y[i]) * (x[i] - y[i]), spread += (double)x[i] * x[i];
    printf("codec pq8: %zu bytes for %zu dimensions, relative squared error %.4f\n", c.code_size, d, err / spread);
    CHECK(not_nearest == 0 && err / spread < 0.1);
    /* table distances: the decoded vectors' distances, to rounding */
    float *table = malloc(nearkit_codec_table_size(&c) * sizeof *table), got[64];
    const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_IP, NEARKIT_METRIC_COSINE};
    for (size_t m = 0; m < 3; m++) {
        nearkit_codec_table(table, &c, metrics[m], q);
        nearkit_codec_table_distances(got, &c, metrics[m], table, codes, 64);
        double worst = 0;
        for (size_t r = 0; r < 64; r++) {
            double want = 0;
            for (size_t i = 0; i < d; i++)
                want += metrics[m] != NEARKIT_METRIC_IP ? ((double)q[i] - y[r * d + i]) * (q[i] - y[r * d + i])
                                                        : -(double)q[i] * y[r * d + i];
            /* cosine: half the squared l2 (1 - dot for unit vectors), kept in range */
            if (metrics[m] == NEARKIT_METRIC_COSINE) want = fmin(2.0, fmax(0.0, 0.5 * want));
            worst = fmax(worst, fabs(want - got[r]) / (1.0 + fabs(want)));
        }
        CHECK(worst < 1e-5);
    }
    /* the codebooks do not depend on the threads */
    nearkit_codec_init(&two, NEARKIT_CODEC_PQ8, d);
    CHECK_STATUS(nearkit_codec_set_subspaces(&two, 6), NEARKIT_OK);
    CHECK_STATUS(nearkit_codec_train(&two, x, n, 42, 2), NEARKIT_OK);
    CHECK(memcmp(c.transposed, two.transposed, (size_t)c.ksub * d * sizeof(float)) == 0);
    /* fewer vectors than centroids: one centroid each, codes below ksub */
    nearkit_codec_init(&few, NEARKIT_CODEC_PQ8, d);
    CHECK_STATUS(nearkit_codec_set_subspaces(&few, 12), NEARKIT_OK);
    CHECK_STATUS(nearkit_codec_train(&few, x, 40, 1, 1), NEARKIT_OK);
    CHECK(few.ksub == 40);
    CHECK_STATUS(nearkit_codec_encode(&few, codes, x, n), NEARKIT_OK);
    CHECK(nearkit_codec_codes_valid(&few, codes, n));
    codes[5] = 40;
    CHECK(!nearkit_codec_codes_valid(&few, codes, n));
    nearkit_codec_free(&few);
    nearkit_codec_free(&two);
    nearkit_codec_free(&c);
    free(table);
    free(x);
    free(y);
    free(codes);
}

/* The pq4 look-up tables of a float table (m sub-spaces of 16 entries) against their definition
 * (codec.h), written out plainly: each sub-space's smallest entry to the bias, one unit for all
 * (the widest sub-space's range over the entry maximum), entries rounded to nearest and copied
 * into both 16-byte halves. nearkit_codec_pq4_lut computes this in SSE2 registers on x86-64. */
static long pq4_lut_mismatches(const nearkit_codec *c, const float *table) {
    uint32_t m = c->m;
    size_t columns = c->code_size;
    uint8_t *lo = malloc(columns * 32), *hi = malloc(columns * 32);
    float *lows = malloc(m * sizeof *lows), *padded = malloc(m * 16 * sizeof *padded);
    nearkit_pq4_lut lut = {lo, hi, 0, 0, lows, padded};
    nearkit_codec_pq4_lut(&lut, c, table);
    float widest = 0.0f, bias = 0.0f, low[64], top = (float)nearkit_pq4_entry_max(columns);
    for (uint32_t j = 0; j < m; j++) {
        float a = table[j * 16], b = table[j * 16];
        for (int i = 1; i < 16; i++) {
            a = table[j * 16 + i] < a ? table[j * 16 + i] : a;
            b = table[j * 16 + i] > b ? table[j * 16 + i] : b;
        }
        low[j] = a;
        bias += a;
        widest = b - a > widest ? b - a : widest;
    }
    float per_unit = widest > 0.0f ? top / widest : 0.0f;
    long bad = lut.bias != bias || lut.unit != (widest > 0.0f ? widest / top : 0.0f);
    for (uint32_t j = 0; j < m; j++) {
        const uint8_t *plane = (j & 1 ? hi : lo) + (j / 2) * 32;
        bad += lut.lows[j] != low[j];
        for (int i = 0; i < 16; i++) {
            float e = (table[j * 16 + i] - low[j]) * per_unit + 0.5f;
            uint8_t want = (uint8_t)(int32_t)(e < top ? e : top);
            bad += plane[i] != want || plane[i + 16] != want;
        }
    }
    free(lo);
    free(hi);
    free(lows);
    free(padded);
    return bad;
}

/* Sub-spaces of one dimension where most rows share one value (a pixel's 0): the 16 centroids of
 * pq4 take 16 distinct values (k-means++ starts, and an emptied cell taking the farthest point).
 * Uniform starts began several at the shared value, and splitting an emptied cell's neighbour by
 * a factor left 0 at 0, so they stayed unused. Four distinct values in a sub-space leave the
 * others as copies, nothing worse. */
static void test_pq_repeated_values(void) {
    const size_t d = 6, n = 3000;
    float *x = malloc(n * d * sizeof *x);
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < d; j++) {
            float u = frand();
            x[r * d + j] = j == 5 ? (float)(r % 4) : u < 0.2f ? 0.0f : 100.0f * (u + 1.0f) * (float)(j + 1);
        }
    nearkit_codec c;
    nearkit_codec_init(&c, NEARKIT_CODEC_PQ4, d);
    CHECK_STATUS(nearkit_codec_set_subspaces(&c, 6), NEARKIT_OK);
    CHECK_STATUS(nearkit_codec_train(&c, x, n, 7, 2), NEARKIT_OK);
    CHECK(c.ksub == 16);
    for (uint32_t j = 0; j < 6; j++) {
        float values[16], room[1];
        size_t distinct = 0;
        for (uint32_t i = 0; i < 16; i++) {
            float v = *centroid_of(&c, j, i, room);
            bool seen = false;
            for (size_t k = 0; k < distinct; k++) seen |= values[k] == v;
            if (!seen) values[distinct++] = v;
        }
        CHECK(distinct == (j == 5 ? 4u : 16u));
    }
    nearkit_codec_free(&c);
    free(x);
}

/* The look-up tables of tables of every sign and spread, and of sub-spaces whose entries are all
 * equal (the widest range 0 too), equal their definition. */
static void test_pq4_lut(void) {
    nearkit_codec c;
    nearkit_codec_init(&c, NEARKIT_CODEC_PQ4, 64);
    CHECK_STATUS(nearkit_codec_set_subspaces(&c, 32), NEARKIT_OK);
    c.ksub = 16;
    float table[32 * 16];
    long bad = 0;
    for (int round = 0; round < 50; round++) {
        float scale = round % 5 == 0 ? 1e-6f : round % 5 == 1 ? 1e4f : 1.0f;
        for (size_t i = 0; i < 32 * 16; i++) table[i] = (frand() - (round % 2 ? 0.5f : 0.0f)) * scale;
        for (size_t i = 0; i < 16; i++) table[3 * 16 + i] = table[3 * 16]; /* a flat sub-space */
        bad += pq4_lut_mismatches(&c, table);
        c.m = 31; /* an odd count: the last column's high plane unused */
        c.code_size = 16;
        bad += pq4_lut_mismatches(&c, table);
        c.m = 32;
    }
    for (size_t i = 0; i < 32 * 16; i++) table[i] = 2.5f; /* every sub-space flat: unit 0 */
    bad += pq4_lut_mismatches(&c, table);
    CHECK(bad == 0);
}

/* pq4: nibbles of the nearest centroids; the fast-scan sums equal on every kernel level and
 * within m / 2 units of the float table's distances. */
static void test_pq4_codec(void) {
    const size_t d = 14, n = 2000; /* m = 7: an odd number of sub-spaces, the last high nibble unused */
    float *x = malloc(n * d * sizeof *x), q[14];
    for (size_t i = 0; i < n * d; i++) x[i] = frand() * (1.0f + (float)(i % 3));
    for (size_t i = 0; i < d; i++) q[i] = frand();
    nearkit_codec c;
    nearkit_codec_init(&c, NEARKIT_CODEC_PQ4, d);
    CHECK_STATUS(nearkit_codec_set_subspaces(&c, 7), NEARKIT_OK);
    CHECK(c.code_size == 4);
    CHECK_STATUS(nearkit_codec_train(&c, x, n, 3, 2), NEARKIT_OK);
    CHECK(c.ksub == 16);
    uint8_t *codes = malloc(n * c.code_size);
    CHECK_STATUS(nearkit_codec_encode(&c, codes, x, n), NEARKIT_OK);
    CHECK(nearkit_codec_codes_valid(&c, codes, n));
    long not_nearest = 0;
    for (size_t r = 0; r < n; r += 5)
        for (uint32_t j = 0; j < c.m; j++) {
            uint32_t chosen = (codes[r * c.code_size + j / 2] >> (4 * (j & 1))) & 15u;
            float room[2];
            float best = sub_distance(x + r * d + j * 2, centroid_of(&c, j, chosen, room), 2);
            for (uint32_t i = 0; i < 16; i++)
                not_nearest += sub_distance(x + r * d + j * 2, centroid_of(&c, j, i, room), 2) < best;
        }
    CHECK(not_nearest == 0);
    codes[3] |= 0x10; /* the unused nibble of the 7th sub-space's byte */
    CHECK(!nearkit_codec_codes_valid(&c, codes, n));
    codes[3] &= 0x0f;
    /* the codes interleaved by blocks of 32, as the lists keep them */
    size_t nb = (n + 31) / 32;
    uint8_t *blocks = calloc(nb * 32, c.code_size);
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < c.code_size; j++) blocks[(r / 32 * c.code_size + j) * 32 + r % 32] = codes[r * c.code_size + j];
    size_t tail = n % 32, whole = n / 32 * 32 * c.code_size; /* n = 2000: a last block of 16 rows */
    CHECK(tail == 16);
    uint8_t *compact = malloc(n * c.code_size + 32);
    memcpy(compact, blocks, whole);
    memset(compact + whole, 0xa5, tail * c.code_size + 32);
    for (size_t r = n / 32 * 32; r < n; r++)
        for (size_t j = 0; j < c.code_size; j++) compact[whole + j * tail + r % 32] = codes[r * c.code_size + j];
    float table[7 * 16], fast[2016], slow[2000];
    uint8_t lo[4 * 32], hi[4 * 32];
    uint16_t sums[2016];
    float lows[7], padded[7 * 16];
    nearkit_pq4_lut lut = {lo, hi, 0, 0, lows, padded};
    const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_IP};
    long off = 0, level_mismatches = 0;
    for (size_t mi = 0; mi < 2; mi++) {
        nearkit_codec_table(table, &c, metrics[mi], q);
        nearkit_codec_table_distances(slow, &c, metrics[mi], table, codes, n);
        nearkit_codec_pq4_lut(&lut, &c, table);
        float ref[2016];
        for (int32_t level = NEARKIT_KERNELS_SCALAR; level <= NEARKIT_KERNELS_AVX512; level++) {
            const nearkit_kernel_table *kt = nearkit_kernels_table(level);
            if (!kt) continue;
            nearkit_codec_pq4_distances(fast, sums, &c, metrics[mi], &lut, blocks, n, 32, nearkit_pq4_kernel_of(kt));
            if (level == NEARKIT_KERNELS_SCALAR) memcpy(ref, fast, n * sizeof *fast);
            level_mismatches += memcmp(ref, fast, n * sizeof *fast) != 0;
            /* the last block laid out for only its rows, as a list's room keeps it, the bytes past
             * it readable garbage: the same values */
            nearkit_codec_pq4_distances(fast, sums, &c, metrics[mi], &lut, compact, n, tail, nearkit_pq4_kernel_of(kt));
            level_mismatches += memcmp(ref, fast, n * sizeof *fast) != 0;
        }
        for (size_t r = 0; r < n; r++) off += fabsf(fast[r] - slow[r]) > 0.5f * 7 * lut.unit * 1.001f + 1e-5f;
    }
    CHECK(level_mismatches == 0 && off == 0);
    /* every level's kernel at the largest entries and many columns: the same sums, no overflow */
    const size_t widths[] = {1, 2, 3, 16, 33, 196, 300};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        size_t cols = widths[w], top = nearkit_pq4_entry_max(cols);
        uint8_t *blk = malloc(3 * 32 * cols), *l = malloc(32 * cols), *h = malloc(32 * cols);
        uint16_t a[96], b[96];
        for (size_t i = 0; i < 3 * 32 * cols; i++) blk[i] = (uint8_t)bt_next(&rng);
        for (size_t j = 0; j < cols; j++)
            for (size_t i = 0; i < 16; i++) {
                l[j * 32 + i] = l[j * 32 + i + 16] = (uint8_t)(i == 15 ? top : bt_next(&rng) % (top + 1));
                h[j * 32 + i] = h[j * 32 + i + 16] = (uint8_t)(i == 0 ? top : bt_next(&rng) % (top + 1));
            }
        memset(blk, 0x0f, 32 * cols); /* the first block: every code at both maxima */
        nearkit_pq4_kernel_of(nearkit_kernels_table(NEARKIT_KERNELS_SCALAR))(a, blk, 3, l, h, cols, 32);
        CHECK(a[0] == 2 * top * cols);
        for (int32_t level = NEARKIT_KERNELS_AVX2; level <= NEARKIT_KERNELS_AVX512; level++) {
            const nearkit_kernel_table *kt = nearkit_kernels_table(level);
            if (!kt) continue;
            nearkit_pq4_kernel_of(kt)(b, blk, 3, l, h, cols, 32);
            CHECK(memcmp(a, b, sizeof a) == 0);
        }
        /* a block laid out for fewer rows (blk's bytes past it read, not summed): its rows' sums */
        for (size_t rows = 1; rows < 32; rows += 7) {
            nearkit_pq4_kernel_of(nearkit_kernels_table(NEARKIT_KERNELS_SCALAR))(a, blk, 1, l, h, cols, rows);
            for (int32_t level = NEARKIT_KERNELS_AVX2; level <= NEARKIT_KERNELS_AVX512; level++) {
                const nearkit_kernel_table *kt = nearkit_kernels_table(level);
                if (!kt) continue;
                nearkit_pq4_kernel_of(kt)(b, blk, 1, l, h, cols, rows);
                CHECK(memcmp(a, b, rows * sizeof *a) == 0);
            }
        }
        free(blk);
        free(l);
        free(h);
    }
    nearkit_codec_free(&c);
    free(blocks);
    free(compact);
    free(codes);
    free(x);
}

/* ---- kernels ----------------------------------------------------------------------------------- */

static void test_kernels(void) {
    const size_t dims[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100, 128, 257};
    const size_t n = 11;
    const nearkit_kernel_table *tables[3] = {nearkit_kernels_table(NEARKIT_KERNELS_SCALAR),
                                             nearkit_kernels_table(NEARKIT_KERNELS_AVX2),
                                             nearkit_kernels_table(NEARKIT_KERNELS_AVX512)};
    long mismatches = 0, decoded_mismatches = 0, decoder_mismatches = 0, tables_run = 0;
    for (size_t t = 0; t < 3; t++) tables_run += tables[t] != NULL;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        size_t d = dims[di];
        float *x = malloc(n * d * sizeof *x), *q = malloc(d * sizeof *q), *dec = malloc(d * sizeof *dec);
        uint8_t *codes = malloc(n * d * 2);
        for (size_t i = 0; i < n * d; i++) x[i] = frand() * 3.0f;
        for (size_t i = 0; i < d; i++) q[i] = frand() * 3.0f;
        for (int f = 0; f < NEARKIT_CODE_FORMATS; f++) {
            nearkit_codec c;
            nearkit_codec_init(&c, f, d);
            nearkit_codec_train(&c, x, n, 1, 1);
            nearkit_codec_encode(&c, codes, x, n);
            for (size_t t = 0; t < 3; t++) { /* the decoders: nearkit_codec_decode's bits */
                if (!tables[t]) continue;
                float *all = malloc(n * d * sizeof *all);
                tables[t]->code_decode[f](all, codes, c.step, c.base, n, d);
                for (size_t r = 0; r < n; r++) {
                    nearkit_codec_decode(&c, dec, codes + r * c.code_size, 1);
                    decoder_mismatches += memcmp(dec, all + r * d, d * sizeof *dec) != 0;
                }
                free(all);
            }
            for (int dot = 0; dot < 2; dot++) {
                float ref[11], out[11];
                nearkit_code_kernel k0 = dot ? tables[0]->code_dot[f] : tables[0]->code_l2sq[f];
                k0(ref, q, codes, c.step, c.base, n, d);
                for (size_t r = 0; r < n; r++) { /* the contract: the float kernel on the decoded row */
                    nearkit_codec_decode(&c, dec, codes + r * c.code_size, 1);
                    float want = dot ? tables[0]->dot(q, dec, d) : tables[0]->l2sq(q, dec, d);
                    decoded_mismatches += bits_of(want) != bits_of(ref[r]);
                }
                for (size_t t = 1; t < 3; t++) {
                    if (!tables[t]) continue;
                    nearkit_code_kernel kt = dot ? tables[t]->code_dot[f] : tables[t]->code_l2sq[f];
                    kt(out, q, codes, c.step, c.base, n, d);
                    for (size_t r = 0; r < n; r++) mismatches += bits_of(out[r]) != bits_of(ref[r]);
                    kt(out, q, codes + 2 * c.code_size, c.step, c.base, 1, d); /* single row */
                    mismatches += bits_of(out[0]) != bits_of(ref[2]);
                }
            }
            nearkit_codec_free(&c);
        }
        free(x);
        free(q);
        free(dec);
        free(codes);
    }
    printf("code kernels: %ld implementations compared\n", tables_run);
    CHECK(mismatches == 0);
    CHECK(decoded_mismatches == 0);
    CHECK(decoder_mismatches == 0);
}

/* ---- the integer grid of sq8 codes ------------------------------------------------------------- */

static int64_t grid_l2_reference(const int16_t *t, const int16_t *w, const uint8_t *c, size_t d) {
    int64_t sum = 0;
    for (size_t i = 0; i < d; i++) {
        int64_t level = ((int64_t)c[i] * 128 * w[i] + 16384) >> 15, e = t[i] - level;
        sum += e * e;
    }
    return sum;
}

/* The grid kernels: every implementation the exact integer, at the bounds too (each difference
 * and product as large as allowed, in every dimension: where the 32-bit lanes would overflow if
 * a block were longer), for dimensions across the block of 256 and the vectors' tails. */
static void test_grid_kernels(void) {
    const size_t dims[] = {1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 511, 784, 1000, 4100};
    const nearkit_kernel_table *tables[3] = {nearkit_kernels_table(NEARKIT_KERNELS_SCALAR),
                                             nearkit_kernels_table(NEARKIT_KERNELS_AVX2),
                                             nearkit_kernels_table(NEARKIT_KERNELS_AVX512)};
    long wrong = 0, compared = 0;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        size_t d = dims[di];
        int16_t *t = malloc(d * sizeof *t), *w = malloc(d * sizeof *w), *u = malloc(d * sizeof *u);
        uint8_t *c = malloc(d);
        for (int mode = 0; mode < 3; mode++) { /* random; the largest differences; the largest products */
            int64_t dot = 0;
            for (size_t i = 0; i < d; i++) {
                uint64_t r = bt_next(&rng);
                w[i] = mode == 0 ? (int16_t)(r % (NEARKIT_GRID_W_MAX + 1)) : NEARKIT_GRID_W_MAX;
                c[i] = mode == 0 ? (uint8_t)(r >> 16) : (i % 2 ? 255 : 0);
                /* level 0 or 2048 (255 levels of the widest w): t as far from it as allowed */
                int32_t level = nearkit_grid_level(c[i], w[i]);
                t[i] = mode == 0   ? (int16_t)((int32_t)((r >> 24) % (2 * NEARKIT_GRID_T_MAX - 4095)) - 4096 + 2048)
                       : level == 0 ? NEARKIT_GRID_T_MAX
                                    : (int16_t)(level - NEARKIT_GRID_T_MAX);
                int32_t spread = (int32_t)((r >> 40) % (2 * NEARKIT_GRID_DOT_T_MAX + 1));
                u[i] = mode == 0 ? (int16_t)(spread - NEARKIT_GRID_DOT_T_MAX) : NEARKIT_GRID_DOT_T_MAX;
                if (mode == 2) c[i] = 255;
                dot += (int64_t)u[i] * c[i];
            }
            if (mode == 2) /* levels of 255 at the widest w, t as far below as allowed */
                for (size_t i = 0; i < d; i++) t[i] = (int16_t)(nearkit_grid_level(255, w[i]) - NEARKIT_GRID_T_MAX);
            int64_t want = grid_l2_reference(t, w, c, d);
            for (size_t k = 0; k < 3; k++) {
                if (!tables[k]) continue;
                compared++;
                wrong += tables[k]->grid_l2(t, w, c, d) != want;
                wrong += tables[k]->grid_dot(u, c, d) != dot;
            }
        }
        free(t);
        free(w);
        free(u);
        free(c);
    }
    printf("grid kernels: %ld cases compared, %ld wrong\n", compared, wrong);
    CHECK(wrong == 0);
}

/* A code's grid value is near its value (nearkit_codec_distances) for l2, cosine and ip: the
 * query's placement on the grid is its only error. Only sq8 has a grid. */
static void test_grid_values(void) {
    const size_t d = 100, n = 200;
    float *x = malloc(n * d * sizeof *x), *q = malloc(d * sizeof *q);
    uint8_t *codes = malloc(n * d);
    int16_t *t = malloc(d * sizeof *t);
    for (size_t i = 0; i < n * d; i++) x[i] = frand() * (1.0f + (float)(i % d) / 10.0f); /* ranges differ */
    for (size_t r = 0; r < n; r++) x[r * d] = 0.5f; /* and one is constant (until cosine normalises) */
    const nearkit_kernel_table *kt = nearkit_kernels();
    nearkit_codec c;
    nearkit_codec_init(&c, NEARKIT_CODE_SQ4, d);
    nearkit_codec_train(&c, x, n, 1, 1);
    CHECK(!nearkit_codec_has_grid(&c));
    nearkit_codec_free(&c);
    nearkit_codec_init(&c, NEARKIT_CODE_SQ8, d);
    CHECK(!nearkit_codec_has_grid(&c));
    CHECK_STATUS(nearkit_codec_train(&c, x, n, 1, 1), NEARKIT_OK);
    CHECK(nearkit_codec_has_grid(&c));
    nearkit_codec_encode(&c, codes, x, n);
    nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    double worst[3] = {0, 0, 0};
    for (size_t m = 0; m < 3; m++) {
        if (metrics[m] == NEARKIT_METRIC_COSINE) { /* unit rows, as cosine indexes store them */
            for (size_t r = 0; r < n; r++) {
                double norm = 0;
                for (size_t i = 0; i < d; i++) norm += (double)x[r * d + i] * x[r * d + i];
                for (size_t i = 0; i < d; i++) x[r * d + i] = (float)(x[r * d + i] / sqrt(norm));
            }
            nearkit_codec_free(&c);
            nearkit_codec_init(&c, NEARKIT_CODE_SQ8, d);
            CHECK_STATUS(nearkit_codec_train(&c, x, n, 1, 1), NEARKIT_OK);
            nearkit_codec_encode(&c, codes, x, n);
        }
        for (int trial = 0; trial < 20; trial++) {
            double norm = 0;
            for (size_t i = 0; i < d; i++) q[i] = frand() * (trial == 0 ? 50.0f : 1.0f); /* one beyond the ranges */
            for (size_t i = 0; i < d; i++) norm += (double)q[i] * q[i];
            if (metrics[m] == NEARKIT_METRIC_COSINE)
                for (size_t i = 0; i < d; i++) q[i] = (float)(q[i] / sqrt(norm));
            nearkit_grid_query g = {.t = t};
            bool inside = nearkit_codec_grid_query(&g, &c, metrics[m], q);
            float exact[200];
            nearkit_codec_distances(exact, kt, &c, metrics[m], q, codes, n);
            /* l2: fifty ranges out is past the clamp, and said so (walks then score the codes);
             * cosine's unit query and ip's grid of its own always fit */
            CHECK(inside == (trial != 0 || metrics[m] != NEARKIT_METRIC_L2));
            if (metrics[m] == NEARKIT_METRIC_L2 && trial == 1) { /* far out in the constant one only */
                float keep = q[0];
                q[0] = 1e4f;
                CHECK(nearkit_codec_grid_query(&g, &c, metrics[m], q));
                q[0] = keep;
                CHECK(nearkit_codec_grid_query(&g, &c, metrics[m], q));
            }
            if (!inside) continue; /* clamped: only defined, not near */
            for (size_t r = 0; r < n; r++) {
                double e = fabs(nearkit_codec_grid_value(&g, kt, &c, codes + r * d) - exact[r]);
                e /= fmax(1.0, fabs(exact[r]));
                worst[m] = e > worst[m] ? e : worst[m];
            }
        }
    }
    /* ranges far apart: one dimension a thousand times wider than the others leaves them a
     * fraction of a grid unit, so there is no grid (the walk scores the codes); nor for constant
     * data */
    for (size_t i = 0; i < n * d; i++) x[i] = frand() * (i % d == 0 ? 1000.0f : 1.0f);
    nearkit_codec_free(&c);
    nearkit_codec_init(&c, NEARKIT_CODE_SQ8, d);
    CHECK_STATUS(nearkit_codec_train(&c, x, n, 1, 1), NEARKIT_OK);
    CHECK(!nearkit_codec_has_grid(&c));
    for (size_t i = 0; i < n * d; i++) x[i] = 3.0f;
    CHECK_STATUS(nearkit_codec_train(&c, x, n, 1, 1), NEARKIT_OK);
    CHECK(nearkit_codec_ready(&c) && !nearkit_codec_has_grid(&c));
    printf("grid values: largest relative error l2 %.2e, cosine %.2e, ip %.2e\n", worst[0], worst[1], worst[2]);
    CHECK(worst[0] < 2e-3 && worst[1] < 2e-3 && worst[2] < 2e-3);
    nearkit_codec_free(&c);
    free(x);
    free(q);
    free(codes);
    free(t);
}

/* ---- RaBitQ ------------------------------------------------------------------------------------ */

static double dot_d(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* The rotation is orthogonal (norms and dots kept) for d padded to a power of two (64, 128) and
 * not (320: two overlapping blocks of 256), and the same for the same seed. */
static void test_rabitq_rotation(void) {
    const size_t dims[] = {48, 100, 300};
    for (size_t t = 0; t < 3; t++) {
        size_t d = dims[t];
        nearkit_rabitq q, again;
        CHECK_STATUS(nearkit_rabitq_init(&q, d, NEARKIT_METRIC_L2, 42), NEARKIT_OK);
        CHECK_STATUS(nearkit_rabitq_init(&again, d, NEARKIT_METRIC_L2, 42), NEARKIT_OK);
        CHECK(q.padded % 64 == 0 && q.padded >= d && q.padded < d + 64 && q.code_size == q.padded / 8 + 8 && nearkit_rabitq_code_size(d, NEARKIT_METRIC_IP) == q.code_size + 4);
        float *u = malloc(d * sizeof *u), *v = malloc(d * sizeof *v);
        float *pu = malloc(q.padded * sizeof *pu), *pv = malloc(q.padded * sizeof *pv), *pv2 = malloc(q.padded * sizeof *pv2);
        double worst = 0;
        for (int trial = 0; trial < 20; trial++) {
            for (size_t i = 0; i < d; i++) u[i] = frand(), v[i] = frand();
            nearkit_rabitq_rotate(&q, pu, u);
            nearkit_rabitq_rotate(&q, pv, v);
            nearkit_rabitq_rotate(&again, pv2, v);
            CHECK(memcmp(pv, pv2, q.padded * sizeof *pv) == 0);
            worst = fmax(worst, fabs(dot_d(pu, pu, q.padded) - dot_d(u, u, d)) / dot_d(u, u, d));
            worst = fmax(worst, fabs(dot_d(pu, pv, q.padded) - dot_d(u, v, d)) / sqrt(dot_d(u, u, d) * dot_d(v, v, d)));
        }
        CHECK(worst < 1e-5);
        free(u), free(v), free(pu), free(pv), free(pv2);
        nearkit_rabitq_free(&q);
        nearkit_rabitq_free(&again);
    }
}

/* The popcount sums a copy makes (AVX-512 VPOPCNTDQ, AVX2, POPCNT or portable) are those of a
 * plain count, for codes of 1 to 20 words (AVX-512's whole blocks of 8 words and masked tails,
 * AVX2's blocks of 4 and the words after them), and its query
 * levels and bit planes (AVX-512 BW, AVX2 or portable) those of plain arithmetic and bit tests:
 * the copies of each kernel level the CPU runs (they follow nearkit_kernels_force). */
static void check_rabitq_bit_sums(void) {
    nearkit_rabitq q;
    CHECK_STATUS(nearkit_rabitq_init(&q, 64, NEARKIT_METRIC_L2, 1), NEARKIT_OK);
    enum { MOST = 20 };
    uint64_t code[MOST + 1], planes[NEARKIT_RABITQ_QUERY_BITS * MOST], state = 99;
    int bad = 0;
    for (size_t words = 1; words <= MOST; words++)
        for (int trial = 0; trial < 20; trial++) {
            for (size_t w = 0; w <= MOST; w++) code[w] = nearkit_next_random(&state); /* past the end too */
            for (size_t w = 0; w < NEARKIT_RABITQ_QUERY_BITS * words; w++) planes[w] = nearkit_next_random(&state);
            uint64_t ones = 0, weighted = 0, got_ones, got_weighted;
            for (size_t w = 0; w < words; w++) {
                ones += (uint64_t)__builtin_popcountll(code[w]);
                for (unsigned j = 0; j < NEARKIT_RABITQ_QUERY_BITS; j++)
                    weighted += (uint64_t)__builtin_popcountll(code[w] & planes[j * words + w]) << j;
            }
            q.bit_sums((const uint8_t *)code, planes, words, &got_ones, &got_weighted);
            bad += got_ones != ones || got_weighted != weighted;
        }
    CHECK(bad == 0);
    /* and a query's levels and bit planes: the portable arithmetic (each step rounded, no fma),
     * bit j of level 64 w + k at bit k of plane j's word w */
    float y[64 * 4];
    uint8_t levels[64 * 4];
    uint64_t got[NEARKIT_RABITQ_QUERY_BITS * 4];
    bad = 0;
    for (size_t words = 1; words <= 4; words++)
        for (int trial = 0; trial < 20; trial++) {
            float low = 0.0f, high = 0.0f;
            for (size_t i = 0; i < 64 * words; i++) {
                y[i] = frand() - 0.5f;
                low = i == 0 || y[i] < low ? y[i] : low;
                high = i == 0 || y[i] > high ? y[i] : high;
            }
            float delta = (high - low) / 15.0f, per_level = 1.0f / delta;
            uint32_t total = q.quantise(levels, got, y, low, per_level, words), want_total = 0;
            for (size_t i = 0; i < 64 * words; i++) {
                volatile float level = (y[i] - low) * per_level; /* rounded before the sum, as the library */
                float rounded = level + 0.5f;
                uint8_t want = rounded >= 15.0f ? 15 : (uint8_t)(int32_t)rounded;
                bad += levels[i] != want;
                want_total += want;
            }
            bad += total != want_total;
            for (size_t w = 0; w < words; w++)
                for (unsigned j = 0; j < NEARKIT_RABITQ_QUERY_BITS; j++)
                    for (unsigned k = 0; k < 64; k++)
                        bad += (got[j * words + w] >> k & 1) != (uint64_t)(levels[64 * w + k] >> j & 1);
        }
    CHECK(bad == 0);
    nearkit_rabitq_free(&q);
}

static void test_rabitq_bit_sums(void) {
    for (int32_t level = NEARKIT_KERNELS_SCALAR; level <= NEARKIT_KERNELS_AVX512; level++) {
        if (nearkit_kernels_force(level) != NEARKIT_OK) continue; /* not on this CPU */
        check_rabitq_bit_sums();
    }
    CHECK_STATUS(nearkit_kernels_force(NEARKIT_KERNELS_AUTO), NEARKIT_OK);
}

/* The codes of EN vectors of one list for a metric and seed; decoding brings each nearer its
 * vector than the centroid is. */
enum { ED = 100, EN = 400, SEEDS = 20 };
static uint8_t *rabitq_codes(nearkit_rabitq *q, nearkit_metric metric, uint64_t seed, const float *x,
                             const float *centroid) {
    static const uint32_t assign[EN]; /* every vector in list 0 */
    CHECK_STATUS(nearkit_rabitq_init(q, ED, metric, seed), NEARKIT_OK);
    CHECK_STATUS(nearkit_rabitq_set_centroids(q, centroid, 1), NEARKIT_OK);
    uint8_t *codes = malloc(EN * q->code_size);
    CHECK_STATUS(nearkit_rabitq_encode(q, codes, x, EN, assign, centroid), NEARKIT_OK);
    CHECK(nearkit_rabitq_codes_valid(q, codes, EN));
    float back[ED], *z = malloc(q->padded * sizeof *z);
    long closer = 0;
    for (size_t r = 0; r < EN; r++) {
        nearkit_rabitq_decode(q, back, codes + r * q->code_size, 0, centroid, z);
        double to_back = 0, to_centre = 0;
        for (size_t i = 0; i < ED; i++) {
            to_back += (back[i] - x[r * ED + i]) * (back[i] - x[r * ED + i]);
            to_centre += (centroid[i] - x[r * ED + i]) * (centroid[i] - x[r * ED + i]);
        }
        closer += to_back < to_centre;
    }
    CHECK(closer == EN);
    free(z);
    return codes;
}

/* The estimator of <x, q> (ip) and of |x - q|^2 (l2) is unbiased: over 20 rotations (seeds) and
 * 400 vectors each, the mean error is within 4 standard errors of 0, and each estimate's spread is
 * that of a 1-bit code (under the dot's own scale). */
static void test_rabitq_estimator(void) {
    float *x = malloc((size_t)EN * ED * sizeof *x), centroid[ED], query[ED], est[EN];
    double sum[2] = {0, 0}, sumsq[2] = {0, 0}, scale = 0;
    long n = 0;
    for (int seed = 0; seed < SEEDS; seed++) {
        for (size_t i = 0; i < ED; i++) centroid[i] = 0.5f * frand(), query[i] = frand();
        for (size_t i = 0; i < (size_t)EN * ED; i++) x[i] = centroid[i % ED] + frand();
        for (int l2 = 0; l2 < 2; l2++) {
            nearkit_metric metric = l2 ? NEARKIT_METRIC_L2 : NEARKIT_METRIC_IP;
            nearkit_rabitq q;
            uint8_t *codes = rabitq_codes(&q, metric, (uint64_t)seed, x, centroid);
            nearkit_rabitq_query s;
            CHECK(nearkit_rabitq_query_init(&s, &q));
            nearkit_rabitq_set_query(&s, &q, query);
            nearkit_rabitq_set_list(&s, &q, 0);
            nearkit_rabitq_distances(est, &q, &s, metric, codes, EN);
            for (size_t r = 0; r < EN; r++) {
                const float *v = x + r * ED;
                double truth = l2 ? dot_d(v, v, ED) - 2 * dot_d(v, query, ED) + dot_d(query, query, ED)
                                  : -dot_d(v, query, ED);
                double err = est[r] - truth;
                sum[l2] += err;
                sumsq[l2] += err * err;
                if (!l2) scale += fabs(truth);
            }
            nearkit_rabitq_query_free(&s);
            free(codes);
            nearkit_rabitq_free(&q);
        }
        n += EN;
    }
    for (int l2 = 0; l2 < 2; l2++) {
        double mean = sum[l2] / n, sd = sqrt(sumsq[l2] / n - mean * mean);
        printf("rabitq %s estimator: mean error %.4f, sd %.4f (mean |dot| %.4f) over %ld\n", l2 ? "l2" : "ip", mean,
               sd, scale / n, n);
        CHECK(fabs(mean) < 4.0 * sd / sqrt((double)n));
        CHECK(sd < (l2 ? 2.0 : 1.0) * scale / n); /* l2's error is twice the dot's: -2 <r, y> */
    }
    free(x);
}

/* ---- the IVF kinds ----------------------------------------------------------------------------- */

/* Each codec's kind; ivf_pq with nbits=4 (the fast scan), then ivf_rabitq: the place of each is
 * its format's. */
static const nearkit_kind code_kinds[] = {NEARKIT_KIND_IVF_FP16, NEARKIT_KIND_IVF_BF16, NEARKIT_KIND_IVF_SQ8,
                                          NEARKIT_KIND_IVF_SQ4,  NEARKIT_KIND_IVF_PQ,   NEARKIT_KIND_IVF_PQ,
                                          NEARKIT_KIND_IVF_RABITQ};
static const char *const code_names[] = {"ivf_fp16", "ivf_bf16", "ivf_sq8", "ivf_sq4", "ivf_pq", "ivf_pq nbits=4",
                                         "ivf_rabitq"};
#define N_CODE_KINDS (sizeof code_kinds / sizeof code_kinds[0])
#define PQ 4     /* ivf_pq's place in code_kinds */
#define PQ4 5    /* ivf_pq nbits=4 */
#define RABITQ 6 /* ivf_rabitq (format NEARKIT_CODEC_RABITQ) */

/* The parameters of code kind i: base, and nbits=4 for the fast scan. */
static const char *kind_params(size_t i, const char *base) {
    static char text[256];
    snprintf(text, sizeof text, "%s%s", base, i == PQ4 ? ",nbits=4" : "");
    return text;
}

#define N 6000
#define D 48
#define NQ 200
#define K 10

static float *data, *queries;

/* n points around 40 random centres, spread in every dimension. */
static void clustered(float *out, size_t n, uint64_t seed) {
    uint64_t s = seed;
    float centres[40 * D];
    for (size_t i = 0; i < 40 * D; i++) centres[i] = (float)((bt_next(&s) >> 11) * 0x1.0p-53) * 4.0f - 2.0f;
    for (size_t i = 0; i < n; i++) {
        const float *c = centres + (bt_next(&s) % 40) * D;
        for (size_t j = 0; j < D; j++) out[i * D + j] = c[j] + ((float)((bt_next(&s) >> 11) * 0x1.0p-53) - 0.5f);
    }
}

static nearkit_index *build(nearkit_kind kind, nearkit_metric metric, const char *params) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = params;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind, metric, D, &o), NEARKIT_OK);
    if (!ix) return NULL;
    CHECK_STATUS(nearkit_index_add(ix, F32, data, N, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    return ix;
}

static double recall(const int64_t *truth, const int64_t *got) {
    long hits = 0;
    for (size_t q = 0; q < NQ; q++)
        for (size_t i = 0; i < K; i++)
            for (size_t j = 0; j < K; j++) hits += got[q * K + i] == truth[q * K + j] && got[q * K + i] >= 0;
    return (double)hits / (NQ * K);
}

static double param(const nearkit_index *ix, const char *name) {
    double v = -1;
    CHECK_STATUS(nearkit_index_get_param(&v, ix, name), NEARKIT_OK);
    return v;
}

static void search(const nearkit_index *ix, int64_t *ids, float *dist) {
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, F32, queries, NQ, K, NULL), NEARKIT_OK);
}

/* Whether two indexes answer the queries identically (ids and distance bits). */
static bool same_answers(const nearkit_index *a, const nearkit_index *b) {
    int64_t ia[NQ * K], ib[NQ * K];
    float da[NQ * K], db[NQ * K];
    search(a, ia, da);
    search(b, ib, db);
    return memcmp(ia, ib, sizeof ia) == 0 && memcmp(da, db, sizeof da) == 0;
}

/* Whether a batch (lists chosen for all queries at once) answers as each query alone. */
static bool batch_as_one_by_one(const nearkit_index *ix) {
    int64_t batch[NQ * K], one[K];
    float bd[NQ * K], od[K];
    search(ix, batch, bd);
    bool same = true;
    for (size_t q = 0; q < NQ && same; q++) {
        CHECK_STATUS(nearkit_index_search(one, od, ix, F32, queries + q * D, 1, K, NULL), NEARKIT_OK);
        same = memcmp(one, batch + q * K, sizeof one) == 0 && memcmp(od, bd + q * K, sizeof od) == 0;
    }
    return same;
}

static nearkit_index *reloaded(const nearkit_index *ix) {
    void *buf = NULL;
    size_t size = 0;
    nearkit_index *back = NULL;
    CHECK_STATUS(nearkit_index_save_to_buffer(&buf, &size, ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_load_from_buffer(&back, buf, size), NEARKIT_OK);
    nearkit_buffer_free(buf);
    return back;
}

static void test_recall(nearkit_metric metric) {
    int64_t truth[NQ * K], got[NQ * K];
    float tdist[NQ * K], dist[NQ * K];
    nearkit_index *flat = build(NEARKIT_KIND_FLAT, metric, NULL);
    nearkit_index *ivf = build(NEARKIT_KIND_IVF_FLAT, metric, "nlist=64,nprobe=8");
    search(flat, truth, tdist);
    search(ivf, got, dist);
    double base = recall(truth, got);
    printf("%s ivf_flat nprobe=8: recall %.4f, %.1f bytes per vector (float32 %d)\n",
           nearkit_metric_name(metric), base, (double)nearkit_index_memory_bytes(ivf) / N, D * 4);
    /* recall lost to the codes at most, without and with refine (tight clusters of near-equal
     * distances: the hard case for 16 levels) */
    /* pq: 12 bytes for 48 dimensions of near-equal distances, coarser than sq4's 24 (its codes of
     * residuals: test_pq_residual) */
    /* rabitq: 8 bytes of bits and 8 (ip 12) of factors for 48 dimensions: in one run recall 0.61
     * without refine, 0.96 with (l2), 0.61 / 0.97 (cosine), 0.55 / 0.94 (ip) */
    const double floors[N_CODE_KINDS] = {0.02, 0.05, 0.1, 0.7, 0.85, 0.9, 0.55},
                 refined[N_CODE_KINDS] = {0.01, 0.01, 0.01, 0.3, 0.55, 0.6, 0.1};
    for (size_t i = 0; i < N_CODE_KINDS; i++) {
        for (int refine = 0; refine < 2; refine++) {
            nearkit_index *ix = build(code_kinds[i], metric,
                                      kind_params(i, refine ? "nlist=64,nprobe=8,refine=4" : "nlist=64,nprobe=8"));
            if (!ix) continue;
            search(ix, got, dist);
            double r = recall(truth, got);
            printf("%s %s nprobe=8 refine=%d: recall %.4f, %.1f bytes per vector (%.1f in memory_bytes)\n",
                   nearkit_metric_name(metric), code_names[i], refine ? 4 : 0, r, param(ix, "bytes_per_vector"),
                   (double)nearkit_index_memory_bytes(ix) / N);
            CHECK(r >= base - (refine ? refined[i] : floors[i]));
            if (refine) { /* exact distances: a found id's distance is flat's */
                long wrong = 0;
                for (size_t q = 0; q < NQ; q++)
                    for (size_t j = 0; j < K; j++)
                        for (size_t t = 0; t < K; t++)
                            if (got[q * K + j] == truth[q * K + t]) wrong += dist[q * K + j] != tdist[q * K + t];
                CHECK(wrong == 0);
                CHECK(param(ix, "bytes_per_vector") > D * 4);
            } else {
                CHECK(param(ix, "bytes_per_vector") < D * 4);
            }
            CHECK(batch_as_one_by_one(ix));
            /* save / load: the same answers */
            nearkit_index *back = reloaded(ix);
            CHECK(back && same_answers(ix, back));
            CHECK(back && nearkit_index_memory_bytes(back) <= nearkit_index_memory_bytes(ix) + 4096);
            nearkit_index_free(back);
            char *text = NULL;
            CHECK_STATUS(nearkit_index_describe(&text, ix), NEARKIT_OK);
            CHECK(text && strstr(text, i == PQ ? "pq8" : i == PQ4 ? "pq4" : code_names[i] + 4) &&
                  strstr(text, "bytes per vector"));
            nearkit_string_free(text);
            nearkit_index_free(ix);
        }
    }
    nearkit_index_free(flat);
    nearkit_index_free(ivf);
}

/* ivf_rabitq with every list probed and every candidate re-ranked answers as flat does, ids and
 * distances, for each metric (the golden suite's exact_params rule). */
static void test_rabitq_exact(void) {
    const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    for (size_t m = 0; m < 3; m++) {
        nearkit_index *flat = build(NEARKIT_KIND_FLAT, metrics[m], NULL);
        nearkit_index *ix = build(NEARKIT_KIND_IVF_RABITQ, metrics[m], "nlist=16,nprobe=16,refine=1000");
        CHECK(same_answers(flat, ix));
        nearkit_index_free(ix);
        nearkit_index_free(flat);
    }
}

/* refine set per call; refine on an index that dropped its originals is refused. */
static void test_params(void) {
    nearkit_index *ix = build(NEARKIT_KIND_IVF_SQ8, NEARKIT_METRIC_L2, "nlist=32");
    CHECK_STATUS(nearkit_index_set_param(ix, "refine", 2), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_index_set_param(ix, "refine", 0), NEARKIT_OK);
    nearkit_index_free(ix);
    ix = build(NEARKIT_KIND_IVF_SQ8, NEARKIT_METRIC_L2, "nlist=32,refine=2");
    int64_t a[NQ * K], b[NQ * K];
    float da[NQ * K], db[NQ * K];
    search(ix, a, da);
    nearkit_param_value off = {"refine", 0};
    nearkit_search_options o = NEARKIT_SEARCH_OPTIONS_INIT;
    o.params = &off;
    o.n_params = 1;
    CHECK_STATUS(nearkit_index_search(b, db, ix, F32, queries, NQ, K, &o), NEARKIT_OK);
    CHECK(memcmp(da, db, sizeof da) != 0); /* code distances, not exact ones */
    CHECK_STATUS(nearkit_index_set_param(ix, "refine", 0), NEARKIT_OK);
    search(ix, a, da);
    CHECK(memcmp(da, db, sizeof da) == 0 && memcmp(a, b, sizeof a) == 0);
    nearkit_index_free(ix);
}

/* Removal, get, filters on every compressed kind, with and without the originals. */
static void test_living(void) {
    int64_t ids[N], removed_ids[N / 2];
    for (size_t i = 0; i < N; i++) ids[i] = (int64_t)(1000 + 3 * i);
    for (size_t i = 0; i < N / 2; i++) removed_ids[i] = ids[2 * i];
    for (size_t i = 0; i < N_CODE_KINDS; i++) {
        for (int refine = 0; refine < 2; refine++) {
            nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
            o.params = kind_params(i, refine ? "nlist=16,nprobe=16,refine=3" : "nlist=16,nprobe=16");
            nearkit_index *ix = NULL;
            CHECK_STATUS(nearkit_index_create(&ix, code_kinds[i], NEARKIT_METRIC_L2, D, &o), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_add(ix, F32, data, N / 2, ids), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_add(ix, F32, data + (N / 2) * D, N / 2, ids + N / 2), NEARKIT_OK);
            uint64_t removed = 0;
            CHECK_STATUS(nearkit_index_remove(&removed, ix, removed_ids, N / 2), NEARKIT_OK);
            CHECK(removed == N / 2 && nearkit_index_count(ix) == N / 2);
            int64_t got[NQ * K];
            float dist[NQ * K];
            search(ix, got, dist);
            long strangers = 0;
            for (size_t j = 0; j < NQ * K; j++) strangers += got[j] < 0 || (got[j] - 1000) % 6 == 0;
            CHECK(strangers == 0);
            /* get: the originals, or the decoded codes */
            float vec[2 * D];
            uint8_t found[2];
            int64_t want[2] = {ids[1], ids[0]};
            CHECK_STATUS(nearkit_index_get(vec, found, ix, want, 2), NEARKIT_OK);
            CHECK(found[0] == 1 && found[1] == 0);
            double err = 0;
            for (size_t j = 0; j < D; j++) err = fmax(err, fabs(vec[j] - data[D + j]));
            CHECK(refine ? err == 0.0
                         : err < (i == RABITQ ? 2.0 : i == PQ4 ? 2.0 : i == PQ ? 1.0 : i == 3 ? 0.3 : 0.05));
            /* an id-list filter: only those */
            int64_t allow[50];
            for (size_t j = 0; j < 50; j++) allow[j] = ids[2 * (j * 7) + 1];
            nearkit_filter f = NEARKIT_FILTER_INIT;
            f.type = NEARKIT_FILTER_IDS;
            f.ids = allow;
            f.n_ids = 50;
            nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
            so.filter = &f;
            CHECK_STATUS(nearkit_index_search(got, dist, ix, F32, queries, NQ, K, &so), NEARKIT_OK);
            long outside = 0;
            for (size_t j = 0; j < NQ * K; j++) {
                bool ok = false;
                for (size_t t = 0; t < 50; t++) ok |= got[j] == allow[t];
                outside += !ok;
            }
            CHECK(outside == 0);
            /* save / load after removals */
            nearkit_index *back = reloaded(ix);
            CHECK(back && nearkit_index_count(back) == N / 2 && same_answers(ix, back));
            nearkit_index_free(back);
            nearkit_index_free(ix);
        }
    }
}

/* Damaged sections under valid checksums are CORRUPT, never a crash. */
static void test_corrupt(void) {
    for (size_t i = 0; i < N_CODE_KINDS; i++) {
        for (int refine = 0; refine < 2; refine++) {
            nearkit_index *ix = build(code_kinds[i], NEARKIT_METRIC_COSINE, kind_params(i, refine ? "nlist=8,refine=2" : "nlist=8"));
            int64_t some[3] = {5, 6, 7};
            uint64_t removed;
            nearkit_index_remove(&removed, ix, some, 3); /* explicit position ids: IDS */
            uint8_t *image = NULL;
            size_t size = 0, es;
            CHECK_STATUS(nearkit_index_save_to_buffer((void **)&image, &size, ix), NEARKIT_OK);
            uint8_t *e;
            uint64_t len = 0;
            /* CODC's last word: pq's sub-quantisers, 1 for sq's codes of residuals; its third: 1 with
             * the originals, plus 2 for pq's codes of residuals (so 4 is out of range for pq, 2 for
             * the others) */
            uint32_t m_ok = i == PQ ? D / 4 : i == PQ4 ? D / 2 : i == 2 || i == 3 ? 1 : 0;
            uint32_t bad_third = i == PQ || i == PQ4 ? 4 : 2;
            const uint32_t bad_meta[][4] = {{(uint32_t)i + 1, 8, (uint32_t)refine, m_ok}, {(uint32_t)i, 8, bad_third, m_ok},
                                            {(uint32_t)i, 8, (uint32_t)refine, m_ok + 1}, {(uint32_t)i, 9, (uint32_t)refine, m_ok},
                                            {(uint32_t)i, 8, (uint32_t)!refine, m_ok}, {(uint32_t)i, 8, (uint32_t)refine, 5}};
            for (size_t m = 0; m < 6; m++) {
                e = bt_edit_section(&es, image, size, "CODC", bad_meta[m], 16);
                CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
                free(e);
            }
            const char *tags[] = {"CODC", "CENT", "LCOD", "LPOS", "IDS ", "SQRG", "VECS", "LOFF"};
            for (size_t t = 0; t < 8; t++) {
                const uint8_t *body = bt_find_section(&len, image, tags[t]);
                if (!body) {
                    CHECK(t == 6 ? !refine : t == 5 ? i < 2 || i == RABITQ : false);
                    continue;
                }
                e = bt_edit_section(&es, image, size, tags[t], NULL, 0); /* missing (IDS: ids are positions then) */
                CHECK(e && (t == 4 || bt_load_status(e, es) == NEARKIT_ERR_CORRUPT));
                free(e);
                e = bt_edit_section(&es, image, size, tags[t], body, len - 1); /* a byte short */
                CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
                free(e);
            }
            /* a range that decodes out of bounds, an fp16 / bf16 code of infinity, a RaBitQ code
             * whose scale no residual has (above its norm) */
            bool in_code = i < 2 || i == RABITQ;
            const uint8_t *body = bt_find_section(&len, image, in_code ? "LCOD" : "SQRG");
            uint8_t *bad = malloc(len);
            memcpy(bad, body, len);
            if (i == RABITQ) {
                float factors[2];
                memcpy(factors, bad + 64 / 8, sizeof factors); /* after the bits of D = 64 */
                factors[1] = 2.0f * sqrtf(factors[0]) + 1.0f;
                memcpy(bad + 64 / 8, factors, sizeof factors);
            } else if (i < 2) {
                uint16_t inf = i == 0 ? 0x7c00u : 0x7f80u;
                memcpy(bad + 2, &inf, 2);
            } else {
                float huge = 1e30f;
                memcpy(bad + (i >= PQ ? 4 : 0), &huge, 4); /* pq: the first centroid value, after ksub */
            }
            e = bt_edit_section(&es, image, size, in_code ? "LCOD" : "SQRG", bad, len);
            CHECK(e && bt_load_status(e, es) == NEARKIT_ERR_CORRUPT);
            free(e);
            free(bad);
            const uint8_t *positions = bt_find_section(&len, image, "LPOS");
            e = bt_edit_section(&es, image, size, "LPOS", positions, len);
            CHECK(e && bt_load_status(e, es) == NEARKIT_OK); /* the editor is sound */
            free(e);
            /* random byte flips never crash */
            uint64_t s = 99;
            for (int trial = 0; trial < 200; trial++) {
                uint8_t *copy = malloc(size);
                memcpy(copy, image, size);
                copy[bt_next(&s) % size] ^= (uint8_t)(1u << (bt_next(&s) % 8));
                nearkit_index *x = NULL;
                if (nearkit_index_load_from_buffer(&x, copy, size) == NEARKIT_OK) nearkit_index_free(x);
                free(copy);
            }
            nearkit_buffer_free(image);
            nearkit_index_free(ix);
        }
    }
}

/* ivf_pq's m: refused where it does not divide the dimension or once trained; reported as used;
 * the same index on 1 and 2 threads. */
static void test_pq_params(void) {
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, D, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 7), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_index_set_param(ix, "m", 16), NEARKIT_OK);
    CHECK(param(ix, "m") == 16);
    nearkit_index_free(ix);
    nearkit_index *one = build(NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, "nlist=32,m=8,num_threads=1");
    nearkit_index *two = build(NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, "nlist=32,m=8,num_threads=2");
    CHECK(param(one, "m") == 8 && same_answers(one, two));
    CHECK_STATUS(nearkit_index_set_param(one, "m", 4), NEARKIT_ERR_STATE);
    CHECK(param(one, "bytes_per_vector") < 8 + 8 + 8); /* the code, its position and id */
    nearkit_index_free(one);
    nearkit_index_free(two);
    nearkit_index *dflt = build(NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, "nlist=32");
    CHECK(param(dflt, "m") == D / 4);
    nearkit_index_free(dflt);
}

/* Cosine distances of codes stay in [0, 2] though a decoded vector is not of unit length (found
 * by fuzz_use: ivf_sq4, d 7, small integers, a stored vector as query gave -0.0048), also through
 * the exact pass over decoded rows (a filter admitting few); get returns unit vectors. */
static void test_cosine_range(void) {
    enum { CN = 300, CD = 7 };
    float x[CN * CD];
    uint64_t s = 5;
    for (size_t i = 0; i < CN * CD; i++) x[i] = (float)((int)(bt_next(&s) % 7) - 3);
    int64_t few[3] = {1, 2, 3};
    nearkit_filter f = NEARKIT_FILTER_INIT;
    f.type = NEARKIT_FILTER_IDS;
    f.ids = few;
    f.n_ids = 3;
    for (size_t i = 0; i < N_CODE_KINDS; i++) {
        nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
        o.params = kind_params(i, "nlist=4,nprobe=4");
        nearkit_index *ix = NULL;
        CHECK_STATUS(nearkit_index_create(&ix, code_kinds[i], NEARKIT_METRIC_COSINE, CD, &o), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(ix, F32, x, CN, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
        int64_t ids[40 * 5];
        float dist[40 * 5];
        long outside = 0;
        nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
        for (int filtered = 0; filtered < 2; filtered++) {
            so.filter = filtered ? &f : NULL;
            CHECK_STATUS(nearkit_index_search(ids, dist, ix, F32, x, 40, 5, &so), NEARKIT_OK);
            for (size_t j = 0; j < 40 * 5; j++) outside += ids[j] >= 0 && !(dist[j] >= 0.0f && dist[j] <= 2.0f);
        }
        CHECK(outside == 0);
        float v[CD];
        int64_t id = 7;
        CHECK_STATUS(nearkit_index_get(v, NULL, ix, &id, 1), NEARKIT_OK);
        double norm = 0;
        for (size_t j = 0; j < CD; j++) norm += (double)v[j] * v[j];
        CHECK(norm == 0 || fabs(norm - 1.0) < 1e-5);
        nearkit_index_free(ix);
    }
}

/* pq4's batch grouped by list answers as each query alone, ids and distance bits: for each
 * metric, with and without a re-rank, an odd m (the last high nibble unused), at one thread and
 * two, and with more queries than a worker's share of tables (wide codes: 256 columns a table,
 * 16 KB, share 512); two builds of one seed answer alike (with a re-rank). */
static bool pq4_batch_as_one_by_one(const nearkit_index *ix, const float *qs, size_t nq, size_t d, uint32_t threads) {
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.num_threads = threads;
    int64_t *batch = malloc(nq * K * sizeof *batch), one[K];
    float *bd = malloc(nq * K * sizeof *bd), od[K];
    CHECK_STATUS(nearkit_index_search(batch, bd, ix, F32, qs, nq, K, &so), NEARKIT_OK);
    bool same = true;
    for (size_t q = 0; q < nq && same; q++) {
        CHECK_STATUS(nearkit_index_search(one, od, ix, F32, qs + q * d, 1, K, NULL), NEARKIT_OK);
        same = memcmp(one, batch + q * K, sizeof one) == 0 && memcmp(od, bd + q * K, sizeof od) == 0;
    }
    free(batch);
    free(bd);
    return same;
}

static void test_pq4_grouped_batch(void) {
    const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    const char *params[] = {"nlist=32,nprobe=7,m=3,nbits=4", "nlist=32,nprobe=7,m=48,nbits=4,refine=3",
                            "nlist=32,nprobe=32,m=16,nbits=4"};
    for (size_t mi = 0; mi < 3; mi++)
        for (size_t p = 0; p < 3; p++) {
            nearkit_index *a = build(NEARKIT_KIND_IVF_PQ, metrics[mi], params[p]);
            CHECK(a && pq4_batch_as_one_by_one(a, queries, NQ, D, 1) && pq4_batch_as_one_by_one(a, queries, NQ, D, 2));
            if (p == 1) { /* the seed's build again */
                nearkit_index *b = build(NEARKIT_KIND_IVF_PQ, metrics[mi], params[p]);
                CHECK(a && b && same_answers(a, b));
                nearkit_index_free(b);
            }
            nearkit_index_free(a);
        }
    /* wide codes: 1,100 queries, more than one share of tables */
    const size_t wd = 512, wn = 1500, wq = 1100;
    float *x = malloc(wn * wd * sizeof *x), *qs = malloc(wq * wd * sizeof *qs);
    for (size_t i = 0; i < wn * wd; i++) x[i] = frand() + (float)(i / wd % 7);
    for (size_t i = 0; i < wq * wd; i++) qs[i] = frand() + (float)(i / wd % 7);
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = "nlist=8,nprobe=3,m=512,nbits=4";
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, wd, &o), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, F32, x, wn, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK(pq4_batch_as_one_by_one(ix, qs, wq, wd, 1));
    nearkit_index_free(ix);
    free(x);
    free(qs);
}

/* ivf_pq with residual=1 (8 and 4 bits): codes of residuals to the list centroids find more of
 * the true neighbours on these tight clusters (in one run recall 0.78 / 0.77 / 0.51 for l2,
 * cosine, ip against 0.47 / 0.47 / 0.49 as codes of the vectors; at 4 bits 0.74 / 0.75 / 0.32
 * against 0.32 / 0.34 / 0.28); a batch (pq4: grouped by list, on one thread and two) answers as
 * each query alone; save / load keeps them; describe says so. */
static void test_pq_residual(void) {
    const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_COSINE, NEARKIT_METRIC_IP};
    int64_t truth[NQ * K], got[NQ * K];
    float tdist[NQ * K], dist[NQ * K];
    for (size_t mi = 0; mi < 3; mi++) {
        nearkit_index *flat = build(NEARKIT_KIND_FLAT, metrics[mi], NULL);
        search(flat, truth, tdist);
        for (int pq4 = 0; pq4 < 2; pq4++) {
            nearkit_index *plain = build(NEARKIT_KIND_IVF_PQ, metrics[mi], pq4 ? "nlist=64,nprobe=8,nbits=4" : "nlist=64,nprobe=8");
            nearkit_index *res = build(NEARKIT_KIND_IVF_PQ, metrics[mi],
                                       pq4 ? "nlist=64,nprobe=8,nbits=4,residual=1" : "nlist=64,nprobe=8,residual=1");
            search(plain, got, dist);
            double before = recall(truth, got);
            search(res, got, dist);
            double after = recall(truth, got);
            printf("%s ivf_pq nbits=%d residual: recall %.4f (codes of the vectors %.4f)\n",
                   nearkit_metric_name(metrics[mi]), pq4 ? 4 : 8, after, before);
            CHECK(metrics[mi] == NEARKIT_METRIC_IP ? after >= before - 0.05 : after >= before + 0.1);
            CHECK(param(res, "residual") == 1 && param(plain, "residual") == 0);
            CHECK(batch_as_one_by_one(res));
            CHECK(!pq4 || (pq4_batch_as_one_by_one(res, queries, NQ, D, 1) && pq4_batch_as_one_by_one(res, queries, NQ, D, 2)));
            nearkit_index *back = reloaded(res);
            CHECK(back && same_answers(res, back) && param(back, "residual") == 1);
            nearkit_index_free(back);
            char *text = NULL;
            CHECK_STATUS(nearkit_index_describe(&text, res), NEARKIT_OK);
            CHECK(text && strstr(text, "codes of residuals"));
            nearkit_string_free(text);
            CHECK_STATUS(nearkit_index_set_param(res, "residual", 0), NEARKIT_ERR_STATE); /* trained */
            nearkit_index_free(plain);
            nearkit_index_free(res);
        }
        nearkit_index_free(flat);
    }
}

/* Untrained, saved and loaded, then trained: the same as trained at once. */
static void test_untrained(void) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.params = "nlist=16";
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, NEARKIT_KIND_IVF_SQ4, NEARKIT_METRIC_IP, D, &o), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, F32, data, N, NULL), NEARKIT_OK);
    nearkit_index *back = reloaded(ix);
    CHECK(back && same_answers(ix, back)); /* exact over the waiting rows */
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(back), NEARKIT_OK);
    CHECK(same_answers(ix, back));
    nearkit_index_free(back);
    nearkit_index_free(ix);
}

int main(void) {
    test_half_rounding();
    test_round_trip();
    test_sq8_integer_data();
    test_kernels();
    test_grid_kernels();
    test_grid_values();
    test_pq_codec();
    test_pq4_codec();
    test_pq_repeated_values();
    test_pq4_lut();
    test_rabitq_rotation();
    test_rabitq_bit_sums();
    test_rabitq_estimator();
    data = malloc((size_t)N * D * sizeof *data);
    queries = malloc((size_t)NQ * D * sizeof *queries);
    clustered(data, N, 1);
    clustered(queries, NQ, 1); /* the same centres */
    for (size_t i = 0; i < (size_t)NQ * D; i++) queries[i] += 0.1f * frand();
    test_recall(NEARKIT_METRIC_L2);
    test_recall(NEARKIT_METRIC_COSINE);
    test_recall(NEARKIT_METRIC_IP);
    test_rabitq_exact();
    test_pq4_grouped_batch();
    test_pq_residual();
    test_params();
    test_pq_params();
    test_cosine_range();
    test_living();
    test_corrupt();
    test_untrained();
    free(data);
    free(queries);
    return check_summary("test_codecs");
}
