/* The rpforest build's integer screen: on which side of a two-means plane a row lies, decided
 * from 8-bit codes wherever the float margin the build computes could not lie on the other side,
 * so the forest is the one the float margins alone build, on every CPU. Internal to nearkit
 * (hidden symbols).
 *
 * Why: a level of the build computes every row's margin against its node's plane, in every tree.
 * A plane is already 8-bit codes times a power of two (rpforest.c, round_plane). With each row
 * coded too (one level 0..255 a dimension, one level width for all dimensions), the margin is an
 * integer dot (the u8s8_dot_pairs kernel: 64 products an instruction where the CPU has VNNI, a
 * quarter of the floats' bytes read) plus terms known per plane, and two bounds say how far the
 * float margin can be from that:
 *   - the codes' residual: |w . (x - decoded x)| <= ||w|| ||x - decoded x|| (Cauchy-Schwarz), the
 *     residual's norm kept per row (zero for rows of integers 0..255 such as pixels);
 *   - the float kernel's rounding: the canonical order (kernels.c) rounds each term at most
 *     ceil(d / 32) + 5 times, so the float dot lies within gamma(ceil(d / 32) + 8) * ||w|| ||x|| of
 *     the exact one (Higham's bound with three roundings to spare).
 * A row whose approximate margin plus offset is farther from 0 than both bounds (and a relative
 * slack for the double arithmetic here) has the side the float margin gives; the others get the
 * float margin itself. Only the side of each row matters to a two-means split (its offset is known
 * before the margins), so the build stores the approximate margin for a screened row. Splits at
 * the mean margin (random and shared planes) need every float margin and are not screened. */
#ifndef NEARKIT_RPFOREST_SCREEN_H
#define NEARKIT_RPFOREST_SCREEN_H

#include "base/internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* The rows' codes. */
typedef struct rp_row_codes {
    uint8_t *codes; /* n rows of d levels: x[i] ~ lo[i] + step * level */
    float *lo;      /* d: each dimension's least value */
    double step;    /* the level width (a float), one for all dimensions (so codes multiply as integers) */
    float *reach;   /* n: bounds of ||x - decoded x|| */
    float *norm;    /* n: bounds of ||x|| */
    uint64_t n;
    size_t d;
} rp_row_codes;

/* A plane's codes and what the screen needs of it. */
typedef struct rp_plane_code {
    const int8_t *codes;  /* the plane's first d codes: w[i] = codes[i] * scale */
    double scale;         /* its power of two */
    double base;          /* scale * sum of codes[i] * lo[i]: the margin of the decoded zero-level row */
    double base_abs;      /* scale * sum of |codes[i] * lo[i]| (for the slack of base's own rounding) */
    double residual_gain; /* ||w||: times a row's reach, the codes' share of the error */
    double rounding_gain; /* gamma * ||w||: times a row's norm, the float kernel's share */
} rp_plane_code;

/* Codes for the n float rows at `vectors` (vector_bytes apart), d <= NEARKIT_U8S8_D_MAX, computed
 * on `threads` threads; NEARKIT_ERR_OUT_OF_MEMORY when there is no room (rc is then empty). The
 * values are finite and within +-NEARKIT_MAX_ABS_VALUE (2^50), as the row store holds them: no
 * margin then comes near a float's overflow. */
nearkit_status rp_row_codes_make(rp_row_codes *rc, const uint8_t *vectors, size_t vector_bytes, uint64_t n,
                                 size_t d, uint32_t threads);
void rp_row_codes_free(rp_row_codes *rc);

/* Whether builds screen (1 unless a test turned it off); for tests: nonzero `off` makes builds
 * compute every margin in floats, 0 restores the screen (the forests must be the same). */
bool rp_screen_enabled(void);
void rp_screen_test_disable(int off);

/* The screen's view of a plane given as its d codes and power-of-two exponent. */
void rp_plane_code_set(rp_plane_code *p, const rp_row_codes *rc, const int8_t *codes, int exponent);

/* Row `row`'s margin against plane p from their integer dot `dot`: true, with *margin a float on
 * the same side of -offset as the float margin (the float kernel's dot plus lift_term, rounded),
 * when the bounds above decide it; false when only the float margin can. */
static inline bool rp_screen_margin(const rp_row_codes *rc, const rp_plane_code *p, uint64_t row, int32_t dot,
                                    float lift_term, float offset, float *margin) {
    const double levels = p->scale * rc->step * (double)dot;
    const double approx = p->base + levels + (double)lift_term;
    const double bound = p->residual_gain * (double)rc->reach[row] + p->rounding_gain * (double)rc->norm[row];
    const double slack = 0x1p-22 * (p->base_abs + fabs(levels) + fabs((double)lift_term) + fabs((double)offset) + bound) +
                         0x1p-120;
    if (!(fabs(approx + (double)offset) > bound + slack)) return false; /* also NaN: not decided */
    *margin = (float)approx;
    return true;
}

#endif
