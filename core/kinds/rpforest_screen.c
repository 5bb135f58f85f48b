/* The rpforest build's integer screen (rpforest_screen.h). */
#include "kinds/rpforest_screen.h"

#include "kernels/kernels.h"

#include <stdatomic.h>
#include <stdlib.h>

#define CODE_CHUNK 2048 /* rows per task when rows are coded */

typedef struct coding_run {
    rp_row_codes *rc;
    const uint8_t *vectors;
    size_t vector_bytes;
    float *least, *most; /* threads x d: each worker's extremes */
    float inverse;       /* 1 / step, for choosing levels (any level is correct: its residual is measured) */
    double reach_floor;  /* bounds the float arithmetic's error in a residual's norm */
} coding_run;

static const float *row_at(const coding_run *c, uint64_t row) {
    return (const float *)(const void *)(c->vectors + (size_t)row * c->vector_bytes);
}

/* Each worker's least and largest value of every dimension over rows [begin, end). */
static void find_extremes(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    coding_run *c = ctx;
    size_t d = c->rc->d;
    float *least = c->least + (size_t)worker * d, *most = c->most + (size_t)worker * d;
    for (uint64_t row = begin; row < end; row++) {
        const float *x = row_at(c, row);
        for (size_t i = 0; i < d; i++) {
            least[i] = x[i] < least[i] ? x[i] : least[i];
            most[i] = x[i] > most[i] ? x[i] : most[i];
        }
    }
}

/* A float at least v. */
static float rounded_up(double v) {
    float f = (float)v;
    return (double)f < v ? nextafterf(f, INFINITY) : f;
}

#define LANES 16 /* code_row's partial sums: independent lanes, so the loop vectorises (ISO C does not reorder a sum) */

/* Element i of a row: its level into q[i], its squared residual into *error and its square into
 * *square. */
static inline __attribute__((always_inline)) void code_value(uint8_t *restrict q, float *restrict error,
                                                             float *restrict square, const float *restrict x,
                                                             const float *restrict lo, float inverse, float step,
                                                             size_t i) {
    /* x[i] - lo[i] is in [0, 255 step] give or take a rounding, so the level is in [0.5, 256) and
     * only its top needs a bound (an integer one: float compares would keep the loop scalar) */
    int c = (int)((x[i] - lo[i]) * inverse + 0.5f);
    c = c < 255 ? c : 255;
    q[i] = (uint8_t)c;
    float e = x[i] - (lo[i] + step * (float)c);
    *error += e * e;
    *square += x[i] * x[i];
}

/* Row x's levels into q, with the sums of squares of its residuals (sums[0]) and of its values
 * (sums[1]), all in floats; code_rows bounds their rounding. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void code_row(uint8_t *restrict q, float *restrict sums, const float *restrict x, const float *restrict lo,
                     float inverse, float step, size_t d) {
    float errors[LANES] = {0}, squares[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= d; i += LANES)
        for (size_t l = 0; l < LANES; l++) code_value(q, &errors[l], &squares[l], x, lo, inverse, step, i + l);
    for (size_t l = 0; i + l < d; l++) code_value(q, &errors[l], &squares[l], x, lo, inverse, step, i + l);
    sums[0] = sums[1] = 0;
    for (size_t l = 0; l < LANES; l++) {
        sums[0] += errors[l];
        sums[1] += squares[l];
    }
}

static void code_rows(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    coding_run *c = ctx;
    rp_row_codes *rc = c->rc;
    /* A float sum of d rounded squares is at least (1 - (d + LANES + 2) u) times the exact one, less
     * what underflows (at most 2^-149 a term); u = 2^-24, so (d + 20) 2^-23 covers it twice over. */
    const double most = 1 + (double)(rc->d + 20) * 0x1p-23, lost = (double)rc->d * 0x1p-120;
    for (uint64_t row = begin; row < end; row++) {
        float sums[2];
        code_row(rc->codes + (size_t)row * rc->d, sums, row_at(c, row), rc->lo, c->inverse, (float)rc->step, rc->d);
        const double norm = sqrt((double)sums[1] * most + lost);
        rc->norm[row] = rounded_up(norm);
        /* the float residuals' norm, times 1 + 2u for each one's last rounding, plus the floor */
        const double reach = sqrt((double)sums[0] * most + lost) * (1 + 0x1p-22) + c->reach_floor;
        rc->reach[row] = rounded_up(reach);
    }
}

nearkit_status rp_row_codes_make(rp_row_codes *rc, const uint8_t *vectors, size_t vector_bytes, uint64_t n,
                                 size_t d, uint32_t threads) {
    *rc = (rp_row_codes){.n = n, .d = d};
    coding_run c = {.rc = rc, .vectors = vectors, .vector_bytes = vector_bytes};
    rc->codes = nearkit_alloc_array((size_t)n, d);
    rc->lo = nearkit_alloc_array(d, sizeof(float));
    rc->reach = nearkit_alloc_array((size_t)n, sizeof(float));
    rc->norm = nearkit_alloc_array((size_t)n, sizeof(float));
    c.least = nearkit_alloc_array((size_t)threads * d, sizeof(float));
    c.most = nearkit_alloc_array((size_t)threads * d, sizeof(float));
    if (!rc->codes || !rc->lo || !rc->reach || !rc->norm || !c.least || !c.most) {
        free(c.least);
        free(c.most);
        rp_row_codes_free(rc);
        return nearkit_oom();
    }
    for (size_t i = 0; i < (size_t)threads * d; i++) {
        c.least[i] = INFINITY;
        c.most[i] = -INFINITY;
    }
    nearkit_parallel_for(threads, n, CODE_CHUNK, find_extremes, &c);
    double widest = 0, farthest = 0;
    for (size_t i = 0; i < d; i++) {
        float least = INFINITY, most = -INFINITY;
        for (uint32_t w = 0; w < threads; w++) {
            least = c.least[(size_t)w * d + i] < least ? c.least[(size_t)w * d + i] : least;
            most = c.most[(size_t)w * d + i] > most ? c.most[(size_t)w * d + i] : most;
        }
        rc->lo[i] = n ? least : 0;
        if (n && (double)most - least > widest) widest = (double)most - least;
        if (fabs((double)rc->lo[i]) > farthest) farthest = fabs((double)rc->lo[i]);
    }
    /* 255 levels over the widest dimension (rows of integers 0..255 are then coded exactly); a
     * float, the width code_row decodes with */
    rc->step = (float)(widest > 0 ? widest / 255 : 1);
    c.inverse = (float)(1 / rc->step);
    /* a float residual x - (lo + step * level) is off the exact one by at most 2u (|lo| + 255 step)
     * beyond its own last rounding: two roundings in the decoded value */
    c.reach_floor = sqrt((double)d) * 0x1p-22 * (farthest + 256 * rc->step);
    nearkit_parallel_for(threads, n, CODE_CHUNK, code_rows, &c);
    free(c.least);
    free(c.most);
    return NEARKIT_OK;
}

void rp_row_codes_free(rp_row_codes *rc) {
    free(rc->codes);
    free(rc->lo);
    free(rc->reach);
    free(rc->norm);
    *rc = (rp_row_codes){0};
}

void rp_plane_code_set(rp_plane_code *p, const rp_row_codes *rc, const int8_t *codes, int exponent) {
    double base = 0, base_abs = 0, squares = 0;
    for (size_t i = 0; i < rc->d; i++) {
        const double term = (double)codes[i] * rc->lo[i];
        base += term;
        base_abs += fabs(term);
        squares += (double)codes[i] * codes[i];
    }
    /* the float kernel rounds a term ceil(d / 32) + 5 times at most; gamma(k) = k u / (1 - k u) */
    const double k = (double)((rc->d + 31) / 32 + 8), u = 0x1p-24;
    p->codes = codes;
    p->scale = ldexp(1.0, exponent);
    p->base = p->scale * base;
    p->base_abs = p->scale * base_abs;
    p->residual_gain = p->scale * sqrt(squares) * (1 + 0x1p-40);
    p->rounding_gain = k * u / (1 - k * u) * p->residual_gain * (1 + 0x1p-20);
}


static atomic_int screen_off;

bool rp_screen_enabled(void) { return !atomic_load_explicit(&screen_off, memory_order_relaxed); }

void rp_screen_test_disable(int off) { atomic_store_explicit(&screen_off, off != 0, memory_order_relaxed); }
