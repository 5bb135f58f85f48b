/* Codecs (codec.h): encoding and training here; decoding and distances are the kernels'. */
#include "codes/codec.h"
#include "base/random.h"
#include "codes/rabitq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HALF_MAX_BITS 0x7bffu /* 65504, the largest finite half */

void nearkit_codec_init(nearkit_codec *c, int format, size_t d) {
    size_t code_size = nearkit_codec_is_pq(format)        ? 0
                       : format == NEARKIT_CODEC_RABITQ ? nearkit_rabitq_code_size(d, NEARKIT_METRIC_L2)
                                                        : nearkit_code_size(format, d);
    *c = (nearkit_codec){.format = format, .dimension = d, .code_size = code_size};
}

bool nearkit_codec_is_pq(int format) { return format == NEARKIT_CODEC_PQ8 || format == NEARKIT_CODEC_PQ4; }

static bool is_pq(const nearkit_codec *c) { return nearkit_codec_is_pq(c->format); }
static bool is_pq4(const nearkit_codec *c) { return c->format == NEARKIT_CODEC_PQ4; }

/* A decoded vector is off the unit sphere by its rounding, so 1 - <q, decoded> can leave [0, 2],
 * the range every cosine distance is reported in: it is clamped there (as the ranking value, so
 * that ties at a bound still go by id). */
static float cosine_in_range(float d) { return d < 0.0f ? 0.0f : d > 2.0f ? 2.0f : d; }

void nearkit_codec_values_of_l2(float *v, size_t n, nearkit_metric metric) {
    if (metric != NEARKIT_METRIC_COSINE) return;
    for (size_t i = 0; i < n; i++) v[i] = cosine_in_range(0.5f * v[i]);
}

nearkit_status nearkit_codec_set_subspaces(nearkit_codec *c, uint32_t m) {
    if (m == 0 || m > c->dimension || c->dimension % m)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "pq: m = %u sub-spaces must divide the dimension %zu",
                                 m, c->dimension);
    c->m = m;
    c->code_size = is_pq4(c) ? (m + 1) / 2 : m;
    return NEARKIT_OK;
}

uint32_t nearkit_codec_default_subspaces(int format, size_t d) {
    uint32_t bytes = (uint32_t)(d % 4 == 0 ? d / 4 : d % 2 == 0 ? d / 2 : d);
    /* pq4 codes of that many bytes where the sub-spaces divide d: twice as many sub-spaces */
    return format == NEARKIT_CODEC_PQ4 && d % (2 * (size_t)bytes) == 0 ? 2 * bytes : bytes;
}

bool nearkit_codec_uses_tables(const nearkit_codec *c) { return is_pq(c); }

size_t nearkit_codec_table_size(const nearkit_codec *c) { return (size_t)c->m * c->ksub; }

void nearkit_codec_free(nearkit_codec *c) {
    free(c->step);
    free(c->base);
    free(c->transposed);
    free(c->grid_w);
    c->step = c->base = c->transposed = NULL;
    c->grid_w = NULL;
    c->ksub = 0;
    c->residual = false;
}

bool nearkit_codec_needs_training(int format) {
    return format == NEARKIT_CODE_SQ8 || format == NEARKIT_CODE_SQ4 || nearkit_codec_is_pq(format);
}

bool nearkit_codec_ready(const nearkit_codec *c) {
    return !nearkit_codec_needs_training(c->format) || c->step || c->transposed;
}

uint64_t nearkit_codec_memory(const nearkit_codec *c) {
    if (c->transposed) return (uint64_t)c->ksub * c->dimension * sizeof(float);
    return (c->step ? 2 * c->dimension * sizeof(float) : 0) + (c->grid_w ? c->dimension * sizeof(int16_t) : 0);
}

const char *nearkit_codec_name(int format) {
    static const char *const names[NEARKIT_CODE_FORMATS + 3] = {"fp16", "bf16", "sq8", "sq4", "pq8", "pq4", "rabitq"};
    return format >= 0 && format <= NEARKIT_CODEC_RABITQ ? names[format] : "?";
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

/* The nearest level of value v in dimension i (levels base + k step, k from 0 to the top). */
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

/* ---- product quantisation ---------------------------------------------------------------------- */

static size_t pq_dsub(const nearkit_codec *c) { return c->dimension / c->m; }

/* Sub-space j's codebook, transposed (nearkit_codec's layout). */
static const float *pq_book(const nearkit_codec *c, uint32_t j) {
    return c->transposed + (size_t)j * c->ksub * pq_dsub(c);
}

/* The centroid number of sub-space j in a code: a byte (pq8), or a nibble, low first (pq4). */
static uint32_t pq_code_at(const nearkit_codec *c, const uint8_t *code, uint32_t j) {
    return is_pq4(c) ? (uint32_t)(code[j / 2] >> (4 * (j & 1))) & 15u : code[j];
}

/* A codebook transposed, t[k * ksub + i] = centroid i's k-th value, so that scoring a sub-vector
 * against every centroid is one pass over contiguous floats, vectorised by the compiler across the
 * centroids (PQ_CLONES). */
static void pq_transpose(float *t, const float *book, uint32_t ksub, size_t dsub) {
    for (uint32_t i = 0; i < ksub; i++)
        for (size_t k = 0; k < dsub; k++) t[k * ksub + i] = book[i * dsub + k];
}

/* The loops over a transposed codebook (training, encoding, query tables) in vector code as wide as
 * the CPU has: a centroid's value is accumulated dimension by dimension, one lane per centroid, by
 * the same rounded subtractions, products and sums in every clone (none enables fma, and ISO C
 * compiles with fp-contract off), so codebooks, codes and tables are the same bits on every CPU.
 * In the baseline's SSE2 they were most of a pq8 build (Fashion-MNIST, m 196: 256 centroids of 4
 * dimensions per sub-space, trained and then searched for every row) and of a query's table. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PQ_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PQ_CLONES
#endif

/* The nearest centroid of a transposed codebook to sub-vector v, ties to the smaller number
 * (`acc`: room for ksub floats). */
PQ_CLONES static uint32_t pq_nearest(const float *restrict t, uint32_t ksub, size_t dsub, const float *restrict v,
                                     float *restrict acc) {
    for (uint32_t i = 0; i < ksub; i++) acc[i] = 0.0f;
    for (size_t k = 0; k < dsub; k++) {
        const float *restrict row = t + k * ksub;
        float x = v[k];
        for (uint32_t i = 0; i < ksub; i++) {
            float diff = x - row[i];
            acc[i] += diff * diff;
        }
    }
    /* the first smallest: the least key (value bits, number), which vectorises where a running
     * minimum with its index does not (a pq8 build on Fashion-MNIST, m 196: 26.6 s to 11.6 s). The
     * values are sums of squares, never negative or NaN, so their bits order as they do. */
    int64_t least = INT64_MAX;
    for (uint32_t i = 0; i < ksub; i++) {
        uint32_t bits;
        memcpy(&bits, &acc[i], sizeof bits);
        int64_t key = (int64_t)((uint64_t)bits << 32 | i);
        least = key < least ? key : least;
    }
    return (uint32_t)(least & 0xffffffff);
}

/* pq_transpose undone: centroid i's values side by side, book[i * dsub + k]. */
static void pq_untranspose(float *book, const float *t, uint32_t ksub, size_t dsub) {
    for (uint32_t i = 0; i < ksub; i++)
        for (size_t k = 0; k < dsub; k++) book[i * dsub + k] = t[k * ksub + i];
}

/* Makes c's codebooks those of `centroids` (ksub per sub-space, centroid after centroid), which it
 * frees: only the transposed layout is kept (half the memory of keeping both). OK, or
 * OUT_OF_MEMORY with c untrained. */
static nearkit_status pq_keep_codebooks(nearkit_codec *c, float *centroids, uint32_t ksub) {
    size_t dsub = pq_dsub(c), block = (size_t)ksub * dsub;
    nearkit_codec_free(c);
    c->transposed = nearkit_alloc_array((size_t)c->m * block, sizeof(float));
    if (c->transposed) {
        c->ksub = ksub;
        for (uint32_t j = 0; j < c->m; j++) pq_transpose(c->transposed + j * block, centroids + j * block, ksub, dsub);
    }
    free(centroids);
    return c->transposed ? NEARKIT_OK : nearkit_oom();
}

/* Lloyd's k-means of n sub-vectors (dsub each) into ksub centroids, started by k-means++ and
 * stopped once no assignment changes; an emptied cell takes the point farthest from its centroid.
 * Scratch: assign (n), sums (ksub * dsub doubles), counts, t and acc (ksub * dsub and ksub
 * floats), gap (n floats). */
typedef struct pq_scratch {
    uint32_t *assign;
    double *sums;
    uint64_t *counts;
    float *t, *acc, *gap;
} pq_scratch;

static float pq_squared_l2(const float *a, const float *b, size_t dsub) {
    float s = 0.0f;
    for (size_t k = 0; k < dsub; k++) {
        float diff = a[k] - b[k];
        s += diff * diff;
    }
    return s;
}

/* k-means++ starting points: the first uniform, each next drawn with probability proportional to
 * its squared distance to the nearest already drawn. Uniform draws of rows repeat values where
 * the data does (a sub-space of Fashion-MNIST's pixels is 0 in half its rows): on 1-dimensional
 * sub-spaces a quarter of the 16 centroids started as copies of one value and stayed unused, and
 * the codes' squared error was 10% above Faiss's. A point equal to one drawn is never drawn again;
 * once every point equals one drawn (fewer distinct points than ksub), the rest copy the first. */
static void pq_seed(float *book, pq_scratch *w, const float *x, uint64_t n, size_t dsub, uint32_t ksub,
                    uint64_t *state) {
    uint64_t first = nearkit_next_random(state) % n;
    memcpy(book, x + first * dsub, dsub * sizeof(float));
    for (uint64_t r = 0; r < n; r++) w->gap[r] = pq_squared_l2(x + r * dsub, book, dsub);
    for (uint32_t i = 1; i < ksub; i++) {
        double total = 0.0;
        for (uint64_t r = 0; r < n; r++) total += w->gap[r];
        uint64_t pick = n;
        if (total > 0.0) {
            double target = (double)(nearkit_next_random(state) >> 11) * 0x1.0p-53 * total, run = 0.0;
            for (pick = 0; pick < n; pick++) {
                run += w->gap[pick];
                if (w->gap[pick] > 0.0f && run > target) break;
            }
            if (pick == n) /* rounding left the target at the very end: the last point not yet drawn */
                for (pick = n; pick-- > 0 && w->gap[pick] == 0.0f;) {}
        }
        float *c = book + (size_t)i * dsub;
        memcpy(c, pick < n ? x + pick * dsub : book, dsub * sizeof(float));
        for (uint64_t r = 0; r < n && pick < n; r++) {
            float g = pq_squared_l2(x + r * dsub, c, dsub);
            w->gap[r] = g < w->gap[r] ? g : w->gap[r];
        }
    }
}

/* Every empty cell takes the point farthest from its own centroid (the first of equals), which
 * then leaves its cell; none is taken where every point sits on its centroid. */
static void pq_fill_empty(float *book, pq_scratch *w, const float *x, uint64_t n, size_t dsub, uint32_t ksub) {
    bool computed = false;
    for (uint32_t i = 0; i < ksub; i++) {
        if (w->counts[i]) continue;
        if (!computed)
            for (uint64_t r = 0; r < n; r++)
                w->gap[r] = pq_squared_l2(x + r * dsub, book + (size_t)w->assign[r] * dsub, dsub);
        computed = true;
        uint64_t far = 0;
        for (uint64_t r = 1; r < n; r++)
            if (w->gap[r] > w->gap[far]) far = r;
        if (w->gap[far] == 0.0f) return;
        memcpy(book + (size_t)i * dsub, x + far * dsub, dsub * sizeof(float));
        w->gap[far] = 0.0f;
        w->counts[w->assign[far]]--;
        w->counts[i] = 1;
        w->assign[far] = i;
    }
}

static void pq_kmeans(float *book, pq_scratch *w, const float *x, uint64_t n, size_t dsub, uint32_t ksub,
                      uint64_t seed) {
    uint64_t state = seed;
    pq_seed(book, w, x, n, dsub, ksub, &state);
    for (uint64_t r = 0; r < n; r++) w->assign[r] = UINT32_MAX;
    for (uint32_t it = 0; it < NEARKIT_CODEC_PQ_ITERATIONS; it++) {
        pq_transpose(w->t, book, ksub, dsub);
        uint64_t changed = 0;
        for (uint64_t r = 0; r < n; r++) {
            uint32_t a = pq_nearest(w->t, ksub, dsub, x + r * dsub, w->acc);
            changed += a != w->assign[r];
            w->assign[r] = a;
        }
        if (!changed) break;
        memset(w->sums, 0, (size_t)ksub * dsub * sizeof(double));
        memset(w->counts, 0, ksub * sizeof(uint64_t));
        for (uint64_t r = 0; r < n; r++) {
            w->counts[w->assign[r]]++;
            for (size_t k = 0; k < dsub; k++) w->sums[w->assign[r] * dsub + k] += x[r * dsub + k];
        }
        for (uint32_t i = 0; i < ksub; i++)
            for (size_t k = 0; k < dsub && w->counts[i]; k++)
                book[i * dsub + k] = (float)(w->sums[i * dsub + k] / (double)w->counts[i]);
        pq_fill_empty(book, w, x, n, dsub, ksub);
    }
}

/* The codebooks are trained in parallel, one sub-space per task. */
typedef struct pq_train_task {
    const nearkit_codec *c;
    float *centroids; /* ksub per sub-space, centroid after centroid */
    const float *x;
    const uint64_t *rows;
    uint64_t taken, seed;
    uint32_t ksub;
    pq_scratch *scratch; /* per worker */
    float **slices;      /* per worker: taken * dsub */
} pq_train_task;

static void pq_train_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    pq_train_task *t = ctx;
    size_t d = t->c->dimension, dsub = pq_dsub(t->c);
    float *slice = t->slices[worker];
    for (uint64_t j = begin; j < end; j++) {
        for (uint64_t i = 0; i < t->taken; i++)
            memcpy(slice + i * dsub, t->x + t->rows[i] * d + j * dsub, dsub * sizeof(float));
        pq_kmeans(t->centroids + (size_t)j * t->ksub * dsub, &t->scratch[worker], slice, t->taken, dsub, t->ksub,
                  t->seed + j);
    }
}

static void pq_scratch_free(pq_scratch *w, float **slices, uint32_t threads) {
    for (uint32_t i = 0; w && i < threads; i++) {
        free(w[i].assign);
        free(w[i].sums);
        free(w[i].counts);
        free(w[i].t);
        free(w[i].acc);
        free(w[i].gap);
        if (slices) free(slices[i]);
    }
    free(w);
    free(slices);
}

static bool pq_scratch_new(pq_scratch **out, float ***slices_out, uint32_t threads, uint64_t taken, size_t dsub,
                           uint32_t ksub) {
    pq_scratch *w = calloc(threads, sizeof *w);
    float **slices = calloc(threads, sizeof *slices);
    bool ok = w && slices;
    for (uint32_t i = 0; ok && i < threads; i++)
        ok = (w[i].assign = nearkit_alloc_array((size_t)taken, sizeof(uint32_t))) &&
             (w[i].sums = nearkit_alloc_array((size_t)ksub * dsub, sizeof(double))) &&
             (w[i].counts = nearkit_alloc_array(ksub, sizeof(uint64_t))) &&
             (w[i].t = nearkit_alloc_array((size_t)ksub * dsub, sizeof(float))) &&
             (w[i].acc = nearkit_alloc_array(ksub, sizeof(float))) &&
             (w[i].gap = nearkit_alloc_array((size_t)taken, sizeof(float))) &&
             (slices[i] = nearkit_alloc_array((size_t)taken * dsub, sizeof(float)));
    if (!ok) {
        pq_scratch_free(w, slices, threads);
        return false;
    }
    *out = w;
    *slices_out = slices;
    return true;
}

/* The codebooks: k-means on each sub-space's slice of a seeded sample (without replacement:
 * k-means wants distinct points), every codebook with a seed of its own, so the result does not
 * depend on the number of threads. */
static nearkit_status pq_train(nearkit_codec *c, const float *x, uint64_t n, uint64_t seed, uint32_t threads) {
    size_t d = c->dimension, dsub = pq_dsub(c);
    uint64_t taken = n < NEARKIT_CODEC_PQ_SAMPLE ? n : NEARKIT_CODEC_PQ_SAMPLE;
    uint32_t most = is_pq4(c) ? NEARKIT_CODEC_PQ4_CENTROIDS : NEARKIT_CODEC_PQ_MAX_CENTROIDS;
    uint32_t ksub = taken < most ? (uint32_t)taken : most;
    threads = threads < 1 ? 1 : threads > c->m ? c->m : threads;
    uint64_t *rows = nearkit_alloc_array((size_t)taken, sizeof *rows);
    float *centroids = nearkit_alloc_array((size_t)ksub * d, sizeof *centroids);
    pq_scratch *scratch = NULL;
    float **slices = NULL;
    if (!rows || !centroids || !pq_scratch_new(&scratch, &slices, threads, taken, dsub, ksub)) {
        free(rows);
        free(centroids);
        return nearkit_oom();
    }
    uint64_t state = seed ^ 0x9e3779b97f4a7c15u;
    for (uint64_t i = 0; i < taken; i++) rows[i] = i;
    for (uint64_t i = taken; i < n; i++) { /* reservoir: a uniform sample of `taken` rows */
        uint64_t j = nearkit_next_random(&state) % (i + 1);
        if (j < taken) rows[j] = i;
    }
    pq_train_task task = {.c = c, .centroids = centroids, .x = x, .rows = rows, .taken = taken, .seed = seed,
                          .ksub = ksub, .scratch = scratch, .slices = slices};
    nearkit_parallel_for(threads, c->m, 1, pq_train_range, &task);
    pq_scratch_free(scratch, slices, threads);
    free(rows);
    return pq_keep_codebooks(c, centroids, ksub);
}

/* n vectors' codes: per sub-space, each sub-vector's nearest centroid. */
static nearkit_status pq_encode(const nearkit_codec *c, uint8_t *codes, const float *x, uint64_t n) {
    size_t dsub = pq_dsub(c), d = c->dimension;
    float *acc = nearkit_alloc_array(c->ksub, sizeof *acc);
    if (!acc) return nearkit_oom();
    size_t cs = c->code_size;
    if (is_pq4(c)) memset(codes, 0, (size_t)n * cs);
    for (uint32_t j = 0; j < c->m; j++) {
        for (uint64_t r = 0; r < n; r++) {
            uint32_t i = pq_nearest(pq_book(c, j), c->ksub, dsub, x + r * d + j * dsub, acc);
            if (is_pq4(c))
                codes[r * cs + j / 2] |= (uint8_t)(i << (4 * (j & 1)));
            else
                codes[r * cs + j] = (uint8_t)i;
        }
    }
    free(acc);
    return NEARKIT_OK;
}

/* One sub-space's row of a query table over the transposed codebook, a pass over ksub contiguous
 * floats per dimension (vectorised): squared l2, or the negated dot. */
PQ_CLONES static void pq_table_row(float *restrict row, const float *restrict t, uint32_t ksub, size_t dsub,
                         const float *restrict v, bool l2) {
    for (uint32_t i = 0; i < ksub; i++) row[i] = 0.0f;
    for (size_t k = 0; k < dsub; k++) {
        const float *restrict col = t + k * ksub;
        float x = v[k];
        if (l2) {
            for (uint32_t i = 0; i < ksub; i++) {
                float diff = x - col[i];
                row[i] += diff * diff;
            }
        } else {
            for (uint32_t i = 0; i < ksub; i++) row[i] -= x * col[i];
        }
    }
}

void nearkit_codec_table(float *table, const nearkit_codec *c, nearkit_metric metric, const float *query) {
    size_t dsub = pq_dsub(c), block = (size_t)c->ksub * dsub;
    for (uint32_t j = 0; j < c->m; j++)
        pq_table_row(table + (size_t)j * c->ksub, c->transposed + j * block, c->ksub, dsub, query + j * dsub,
                     metric != NEARKIT_METRIC_IP); /* cosine: half the l2, as nearkit_codec_distances */
}

void nearkit_codec_table_distances(float *out, const nearkit_codec *c, nearkit_metric metric, const float *table,
                                   const uint8_t *codes, size_t n) {
    uint32_t m = c->m, ksub = c->ksub;
    for (size_t r = 0; r < n; r++) {
        const uint8_t *code = codes + r * c->code_size;
        float sum = 0.0f;
        for (uint32_t j = 0; j < m; j++) sum += table[(size_t)j * ksub + pq_code_at(c, code, j)];
        out[r] = sum;
    }
    nearkit_codec_values_of_l2(out, n, metric);
}

/* ---- pq4 fast scan ----------------------------------------------------------------------------- */

/* The table of a query is made per query (and rounded for the fast scan) before its lists are
 * scanned: at small nprobe that costs as much as the scan, so on x86-64 the span and the rounding
 * of a sub-space's 16 entries run in SSE2 registers (the baseline: no dispatch). Minimum, maximum,
 * and the rounding's subtract, multiply, add and truncation give the same floats and integers as
 * the portable code, whose element-wise halving GCC kept on the stack (store-forwarding stalls). */
#if defined(__SSE2__)
#include <emmintrin.h>

/* The smallest and largest of a sub-space's 16 entries. */
static inline void pq4_span(const float *t, float *lo, float *hi) {
    __m128 a0 = _mm_loadu_ps(t), a1 = _mm_loadu_ps(t + 4), a2 = _mm_loadu_ps(t + 8), a3 = _mm_loadu_ps(t + 12);
    __m128 mn = _mm_min_ps(_mm_min_ps(a0, a1), _mm_min_ps(a2, a3));
    __m128 mx = _mm_max_ps(_mm_max_ps(a0, a1), _mm_max_ps(a2, a3));
    mn = _mm_min_ps(mn, _mm_movehl_ps(mn, mn));
    mx = _mm_max_ps(mx, _mm_movehl_ps(mx, mx));
    *lo = _mm_cvtss_f32(_mm_min_ss(mn, _mm_shuffle_ps(mn, mn, 1)));
    *hi = _mm_cvtss_f32(_mm_max_ss(mx, _mm_shuffle_ps(mx, mx, 1)));
}

/* A sub-space's entries, (t - lo) * per_unit rounded to nearest (truncation of e + 0.5, e >= 0),
 * at most top, into both 128-bit lanes. */
static inline void pq4_quantise(uint8_t *plane, const float *t, float lo, float per_unit, float top) {
    const __m128 vlo = _mm_set1_ps(lo), scale = _mm_set1_ps(per_unit), half = _mm_set1_ps(0.5f),
                 vtop = _mm_set1_ps(top);
    __m128i w[4];
    for (int i = 0; i < 4; i++) {
        __m128 e = _mm_add_ps(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(t + 4 * i), vlo), scale), half);
        w[i] = _mm_cvttps_epi32(_mm_min_ps(e, vtop));
    }
    __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(w[0], w[1]), _mm_packs_epi32(w[2], w[3]));
    _mm_storeu_si128((__m128i *)plane, bytes);
    _mm_storeu_si128((__m128i *)(plane + 16), bytes);
}
#else
/* The smallest and largest of a sub-space's 16 entries, by halving (element-wise: vectorised,
 * where a running minimum is not, without -ffast-math). */
static inline void pq4_span(const float *t, float *lo, float *hi) {
    float a[8], b[8];
    for (int i = 0; i < 8; i++) {
        a[i] = t[i] < t[i + 8] ? t[i] : t[i + 8];
        b[i] = t[i] > t[i + 8] ? t[i] : t[i + 8];
    }
    for (int w = 4; w > 0; w /= 2)
        for (int i = 0; i < w; i++) {
            a[i] = a[i] < a[i + w] ? a[i] : a[i + w];
            b[i] = b[i] > b[i + w] ? b[i] : b[i + w];
        }
    *lo = a[0];
    *hi = b[0];
}

/* A sub-space's entries, (t - lo) * per_unit rounded to nearest (by truncation, e >= 0.5: a
 * library rounding call per entry took a sixth of a query's time), into both 128-bit lanes. */
static inline void pq4_quantise(uint8_t *plane, const float *t, float lo, float per_unit, float top) {
    float e[NEARKIT_CODEC_PQ4_CENTROIDS];
    for (int i = 0; i < NEARKIT_CODEC_PQ4_CENTROIDS; i++) {
        e[i] = (t[i] - lo) * per_unit + 0.5f;
        e[i] = e[i] < top ? e[i] : top;
    }
    for (int i = 0; i < NEARKIT_CODEC_PQ4_CENTROIDS; i++) plane[i] = plane[i + 16] = (uint8_t)(int32_t)e[i];
}
#endif

void nearkit_codec_pq4_lut(nearkit_pq4_lut *lut, const nearkit_codec *c, const float *table) {
    uint32_t m = c->m, ksub = c->ksub;
    size_t columns = c->code_size;
    float widest = 0.0f, bias = 0.0f, hi;
    /* a codebook trained on fewer than 16 vectors: its table padded with its first entry */
    const float *t = table;
    if (ksub < NEARKIT_CODEC_PQ4_CENTROIDS) {
        for (uint32_t j = 0; j < m; j++)
            for (uint32_t i = 0; i < NEARKIT_CODEC_PQ4_CENTROIDS; i++)
                lut->padded[j * NEARKIT_CODEC_PQ4_CENTROIDS + i] = table[j * ksub + (i < ksub ? i : 0)];
        t = lut->padded;
    }
    for (uint32_t j = 0; j < m; j++) {
        pq4_span(t + (size_t)j * NEARKIT_CODEC_PQ4_CENTROIDS, &lut->lows[j], &hi);
        bias += lut->lows[j];
        widest = hi - lut->lows[j] > widest ? hi - lut->lows[j] : widest;
    }
    float top = (float)nearkit_pq4_entry_max(columns);
    lut->bias = bias;
    lut->unit = widest > 0.0f ? widest / top : 0.0f;
    float per_unit = widest > 0.0f ? top / widest : 0.0f;
    if (m % 2) memset(lut->hi + (columns - 1) * NEARKIT_PQ4_BLOCK, 0, NEARKIT_PQ4_BLOCK);
    for (uint32_t j = 0; j < m; j++)
        pq4_quantise((j & 1 ? lut->hi : lut->lo) + (size_t)(j / 2) * NEARKIT_PQ4_BLOCK,
                     t + (size_t)j * NEARKIT_CODEC_PQ4_CENTROIDS, lut->lows[j], per_unit, top);
}

void nearkit_codec_pq4_distances(float *out, uint16_t *sums, const nearkit_codec *c, nearkit_metric metric,
                                 const nearkit_pq4_lut *lut, const uint8_t *blocks, size_t n, size_t last_rows,
                                 nearkit_pq4_kernel kernel) {
    size_t nblocks = (n + NEARKIT_PQ4_BLOCK - 1) / NEARKIT_PQ4_BLOCK;
    size_t whole = last_rows == NEARKIT_PQ4_BLOCK ? nblocks : nblocks - 1, bytes = c->code_size * NEARKIT_PQ4_BLOCK;
    if (whole) kernel(sums, blocks, whole, lut->lo, lut->hi, c->code_size, NEARKIT_PQ4_BLOCK);
    if (whole < nblocks)
        kernel(sums + whole * NEARKIT_PQ4_BLOCK, blocks + whole * bytes, 1, lut->lo, lut->hi, c->code_size, last_rows);
    for (size_t r = 0; r < n; r++) out[r] = lut->bias + lut->unit * (float)sums[r];
    nearkit_codec_values_of_l2(out, n, metric);
}

/* ---- the integer grid of sq8 codes --------------------------------------------------------------- */

/* The grid spans the widest dimension's range in NEARKIT_GRID_SPAN units (a query is placed to an
 * eighth of that dimension's level width), and every level width, in units times 256, fits
 * NEARKIT_GRID_W_MAX. */
#define NEARKIT_GRID_SPAN 2048

/* Whether the grid is fine enough for ranges of these level widths: the query's placement (a
 * rounding to a unit, variance 1/12) must add little to what the codes' own rounding adds (a
 * level width w in units: w^2 / 12) over the dimensions that vary. Ranges alike (embeddings,
 * pixels: 8 units a level) pass by far; one dimension a thousand times wider than hundreds of
 * others would leave them a fraction of a unit, and the walk then scores the codes themselves. */
#define NEARKIT_GRID_MIN_RMS_WIDTH 4.0 /* units: the placement adds at most 1/16 of the codes' */

static bool grid_fine_enough(const float *step, size_t d, double unit) {
    double sum = 0.0;
    size_t varying = 0;
    for (size_t i = 0; i < d; i++)
        if (step[i] > 0.0f) {
            sum += (unit * step[i]) * (unit * step[i]);
            varying++;
        }
    return varying > 0 && sum >= NEARKIT_GRID_MIN_RMS_WIDTH * NEARKIT_GRID_MIN_RMS_WIDTH * (double)varying;
}

/* Installs trained or loaded ranges (the codec takes step and base, freed on failure) with, for
 * sq8 where the grid is fine enough, the level widths on the grid. OUT_OF_MEMORY leaves the codec
 * as it was. */
static nearkit_status set_ranges(nearkit_codec *c, float *step, float *base) {
    int16_t *w = NULL;
    double unit = 1.0;
    size_t d = c->dimension;
    float widest = 0.0f;
    for (size_t i = 0; i < d; i++) widest = step[i] > widest ? step[i] : widest;
    if (widest > 0.0f) unit = NEARKIT_GRID_SPAN / (255.0 * widest);
    if (c->format == NEARKIT_CODE_SQ8 && grid_fine_enough(step, d, unit)) {
        if (!(w = nearkit_alloc_array(d, sizeof *w))) {
            free(step);
            free(base);
            return nearkit_oom();
        }
        for (size_t i = 0; i < d; i++) {
            long v = lrint(unit * step[i] * 256.0);
            w[i] = (int16_t)(v > NEARKIT_GRID_W_MAX ? NEARKIT_GRID_W_MAX : v);
        }
    }
    nearkit_codec_free(c);
    c->step = step;
    c->base = base;
    c->grid_w = w;
    c->grid_unit = unit;
    return NEARKIT_OK;
}

bool nearkit_codec_has_grid(const nearkit_codec *c) { return c->grid_w != NULL; }

static int16_t clamp_to_int16(double v, double lo, double hi) {
    return (int16_t)lrint(v < lo ? lo : v > hi ? hi : v);
}

bool nearkit_codec_grid_query(nearkit_grid_query *g, const nearkit_codec *c, nearkit_metric metric,
                              const float *query) {
    size_t d = c->dimension;
    g->metric = metric;
    if (metric != NEARKIT_METRIC_IP) {
        /* t - level stays within NEARKIT_GRID_T_MAX for a level anywhere in [0, NEARKIT_GRID_SPAN] */
        const double lo = NEARKIT_GRID_SPAN - NEARKIT_GRID_T_MAX, hi = NEARKIT_GRID_T_MAX;
        bool inside = true;
        for (size_t i = 0; i < d; i++) {
            double t = c->grid_unit * ((double)query[i] - (double)c->base[i]);
            /* a constant dimension (no level width) adds the same to every code, clamped or not */
            inside &= (t >= lo && t <= hi) || c->grid_w[i] == 0;
            g->t[i] = clamp_to_int16(t, lo, hi);
        }
        g->scale = 1.0 / (c->grid_unit * c->grid_unit);
        g->offset = 0.0;
        return inside;
    }
    /* ip: <q, base> + sum of q[i] step[i] c[i], the products on a grid of the query's own */
    double largest = 0.0, offset = 0.0;
    for (size_t i = 0; i < d; i++) {
        double v = fabs((double)query[i] * (double)c->step[i]);
        largest = v > largest ? v : largest;
        offset += (double)query[i] * (double)c->base[i];
    }
    double unit = largest > 0.0 ? NEARKIT_GRID_DOT_T_MAX / largest : 1.0;
    for (size_t i = 0; i < d; i++)
        g->t[i] = clamp_to_int16(unit * (double)query[i] * (double)c->step[i], -NEARKIT_GRID_DOT_T_MAX,
                                 NEARKIT_GRID_DOT_T_MAX);
    g->scale = 1.0 / unit;
    g->offset = offset;
    return true; /* the grid is the query's own: every product fits it */
}

float nearkit_codec_grid_value(const nearkit_grid_query *g, const nearkit_kernel_table *kt, const nearkit_codec *c,
                               const uint8_t *code) {
    if (g->metric == NEARKIT_METRIC_IP)
        return (float)-(g->offset + g->scale * (double)kt->grid_dot(g->t, code, c->dimension));
    float v = (float)(g->scale * (double)kt->grid_l2(g->t, c->grid_w, code, c->dimension));
    nearkit_codec_values_of_l2(&v, 1, g->metric);
    return v;
}

/* ---- training ---------------------------------------------------------------------------------- */

nearkit_status nearkit_codec_train(nearkit_codec *c, const float *x, uint64_t n, uint64_t seed, uint32_t threads) {
    if (!nearkit_codec_needs_training(c->format) || n == 0) return NEARKIT_OK;
    if (is_pq(c)) return pq_train(c, x, n, seed, threads);
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
    /* Levels base + code * step, a value coded by its nearest level (sq_level). sq8 puts its 256
     * levels on the least and the largest value of the sample, 255 steps apart, so that data of 256
     * evenly spaced values (8-bit pixels, integer embeddings) is coded exactly: Fashion-MNIST's
     * pixels, 0 to 255, decode to themselves in the 730 of 784 dimensions that span them, and exact
     * search over the codes finds 0.9998 of the true 10 nearest (1,000 queries) where 256 cells
     * decoded at their centres found 0.991, hnsw_sq8's ceiling then. sq4 keeps 16 cells decoded at
     * their centres (15 steps with levels at both ends would widen every cell by a fifteenth). A
     * file stores base and step, so files of either way decode as they were written. */
    bool ends = c->format == NEARKIT_CODE_SQ8;
    float steps = (float)(ends ? sq_levels(c->format) - 1 : sq_levels(c->format));
    for (size_t i = 0; i < d; i++) { /* hi becomes step, lo becomes base */
        float step = (hi[i] - lo[i]) / steps;
        hi[i] = step;
        lo[i] = ends ? lo[i] : lo[i] + 0.5f * step;
    }
    return set_ranges(c, hi, lo);
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

nearkit_status nearkit_codec_encode(const nearkit_codec *c, uint8_t *codes, const float *x, uint64_t n) {
    if (is_pq(c)) return pq_encode(c, codes, x, n);
    for (uint64_t r = 0; r < n; r++) encode_one(c, codes + r * c->code_size, x + r * c->dimension);
    return NEARKIT_OK;
}

bool nearkit_codec_takes_residuals(int format) {
    return format == NEARKIT_CODE_SQ8 || format == NEARKIT_CODE_SQ4 || nearkit_codec_is_pq(format);
}

#define RESIDUAL_CHUNK 1024 /* pq: rows whose residuals are encoded together */

nearkit_status nearkit_codec_encode_listed(const nearkit_codec *c, uint8_t *codes, const float *x, uint64_t n,
                                           const uint32_t *assign, const float *centroids) {
    if (!c->residual) return nearkit_codec_encode(c, codes, x, n);
    size_t d = c->dimension, chunk = is_pq(c) ? RESIDUAL_CHUNK : 1;
    float *residuals = nearkit_alloc_array(chunk, d * sizeof *residuals);
    if (!residuals) return nearkit_oom();
    nearkit_status st = NEARKIT_OK;
    for (uint64_t r0 = 0; r0 < n && !st; r0 += chunk) {
        uint64_t rows = n - r0 < chunk ? n - r0 : chunk;
        for (uint64_t r = 0; r < rows; r++) {
            const float *v = x + (r0 + r) * d, *centroid = centroids + (size_t)assign[r0 + r] * d;
            for (size_t i = 0; i < d; i++) residuals[r * d + i] = v[i] - centroid[i];
        }
        if (is_pq(c)) st = pq_encode(c, codes + r0 * c->code_size, residuals, rows);
        else encode_one(c, codes + r0 * c->code_size, residuals);
    }
    free(residuals);
    return st;
}

void nearkit_codec_decode_listed(const nearkit_codec *c, float *x, const uint8_t *code, const float *centroid) {
    nearkit_codec_decode(c, x, code, 1);
    if (!c->residual) return;
    for (size_t i = 0; i < c->dimension; i++) x[i] += centroid[i];
}

void nearkit_codec_decode(const nearkit_codec *c, float *x, const uint8_t *codes, uint64_t n) {
    if (is_pq(c)) {
        size_t dsub = pq_dsub(c);
        for (uint64_t r = 0; r < n; r++)
            for (uint32_t j = 0; j < c->m; j++) {
                const float *book = pq_book(c, j);
                uint32_t i = pq_code_at(c, codes + r * c->code_size, j);
                for (size_t k = 0; k < dsub; k++) x[r * c->dimension + j * dsub + k] = book[k * c->ksub + i];
            }
        return;
    }
    for (uint64_t r = 0; r < n; r++)
        nearkit_code_decode(x + r * c->dimension, c->format, codes + r * c->code_size, c->step, c->base,
                            c->dimension);
}

/* Cosine rows and queries are unit vectors, so 1 - cos(q, x) = |q - x|^2 / 2, and that is the form
 * a code is ranked by: against the decoded code x + e it errs by (x - q) . e + |e|^2 / 2, which
 * vanishes as x nears q, where 1 - q . (x + e) errs by q . e however near x is (on 200,000
 * clustered 128-d vectors, hnsw_sq8's recall@10 plateaued at 0.926 with the dot product). */
void nearkit_codec_distances(float *out, const nearkit_kernel_table *kt, const nearkit_codec *c,
                             nearkit_metric metric, const float *query, const uint8_t *codes, size_t n) {
    if (metric == NEARKIT_METRIC_L2 || metric == NEARKIT_METRIC_COSINE) {
        kt->code_l2sq[c->format](out, query, codes, c->step, c->base, n, c->dimension);
        nearkit_codec_values_of_l2(out, n, metric);
        return;
    }
    kt->code_dot[c->format](out, query, codes, c->step, c->base, n, c->dimension);
    for (size_t i = 0; i < n; i++) out[i] = -out[i];
}

bool nearkit_codec_any_code_in_bounds(const nearkit_codec *c) {
    if (!is_pq(c)) return true; /* sq levels and fp16 / bf16 bits index nothing */
    return c->ksub == (is_pq4(c) ? NEARKIT_CODEC_PQ4_CENTROIDS : NEARKIT_CODEC_PQ_MAX_CENTROIDS);
}

bool nearkit_codec_codes_valid(const nearkit_codec *c, const uint8_t *codes, uint64_t n) {
    if (is_pq(c)) {
        for (uint64_t r = 0; r < n; r++) {
            const uint8_t *code = codes + r * c->code_size;
            for (uint32_t j = 0; j < c->m; j++)
                if (pq_code_at(c, code, j) >= c->ksub) return false;
            if (is_pq4(c) && c->m % 2 && code[c->code_size - 1] >> 4) return false; /* the unused nibble */
        }
        return true;
    }
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

/* The codebooks centroid after centroid, sub-space by sub-space (the file's layout, docs/format.md). */
static nearkit_status pq_save(const nearkit_codec *c, nearkit_writer *w, uint32_t tag) {
    uint32_t ksub = c->ksub;
    size_t dsub = pq_dsub(c), block = (size_t)ksub * dsub;
    float *centroids = nearkit_alloc_array((size_t)c->m * block, sizeof *centroids);
    if (!centroids) return nearkit_oom();
    for (uint32_t j = 0; j < c->m; j++) pq_untranspose(centroids + j * block, pq_book(c, j), ksub, dsub);
    const void *parts[2] = {&ksub, centroids};
    uint64_t sizes[2] = {sizeof ksub, (uint64_t)ksub * c->dimension * sizeof(float)};
    nearkit_status st = nearkit_writer_section_parts(w, tag, parts, sizes, 2);
    free(centroids);
    return st;
}

static nearkit_status pq_load(nearkit_codec *c, const nearkit_reader *r, uint32_t tag) {
    const void *data;
    uint64_t size;
    nearkit_status st = nearkit_reader_section(&data, &size, r, tag);
    if (st) return st;
    uint32_t ksub;
    if (size < sizeof ksub) return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: pq codebook section too short");
    memcpy(&ksub, data, sizeof ksub);
    uint64_t floats = (uint64_t)ksub * c->dimension;
    uint32_t most = is_pq4(c) ? NEARKIT_CODEC_PQ4_CENTROIDS : NEARKIT_CODEC_PQ_MAX_CENTROIDS;
    if (c->m == 0 || ksub == 0 || ksub > most || size != sizeof ksub + floats * sizeof(float))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: pq codebooks of the wrong size");
    float *centroids = nearkit_alloc_array((size_t)floats, sizeof *centroids);
    if (!centroids) return nearkit_oom();
    memcpy(centroids, (const uint8_t *)data + sizeof ksub, (size_t)floats * sizeof(float));
    for (uint64_t i = 0; i < floats; i++)
        if (!(fabsf(centroids[i]) <= NEARKIT_MAX_ABS_VALUE)) { /* NaN fails too */
            free(centroids);
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: pq centroid out of bounds");
        }
    return pq_keep_codebooks(c, centroids, ksub);
}

nearkit_status nearkit_codec_save(const nearkit_codec *c, nearkit_writer *w, uint32_t tag) {
    if (!nearkit_codec_needs_training(c->format)) return NEARKIT_OK;
    if (is_pq(c)) return pq_save(c, w, tag);
    size_t d = c->dimension;
    const void *parts[2] = {c->step, c->base};
    uint64_t sizes[2] = {d * sizeof(float), d * sizeof(float)};
    return nearkit_writer_section_parts(w, tag, parts, sizes, 2);
}

nearkit_status nearkit_codec_load(nearkit_codec *c, const nearkit_reader *r, uint32_t tag) {
    if (!nearkit_codec_needs_training(c->format)) return NEARKIT_OK;
    if (is_pq(c)) return pq_load(c, r, tag);
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
    return set_ranges(c, step, base);
}
