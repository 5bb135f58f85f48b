/* The rpforest build's integer screen (core/kinds/rpforest_screen.h): wherever it decides a row's
 * side of a plane, the float margin the build would compute is on that side, for rows of pixels,
 * of clustered floats, far from zero, tiny, as large as the row store allows and of one wide dimension, against planes whose
 * offsets put rows on them, with and without a lifted coordinate, under every kernel
 * implementation; it decides nearly every row of integer pixels; and a forest built with it is
 * byte for byte the forest built from float margins alone. */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include "kernels/kernels.h"
#include "kinds/rpforest_screen.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tree_check.h"

/* tree_check.h's stream, to 53 bits */
static double uniform(void) { return (double)(tc_next() >> 11) * 0x1p-53; }

static float normal(void) {
    double u = uniform() + 0x1p-60, v = uniform();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

enum { PIXELS, CLUSTERS, FAR, TINY, LARGE, WIDE, FAMILIES };
static const char *family_names[] = {"pixels", "clusters", "far from zero", "tiny", "large", "one wide dimension"};

/* n rows of d floats of one family. */
static float *rows_of(int family, uint64_t n, size_t d) {
    float *x = malloc(n * d * sizeof *x), *centres = malloc(8 * d * sizeof *centres);
    CHECK(x && centres);
    for (size_t i = 0; i < 8 * d; i++) centres[i] = 3 * normal();
    for (uint64_t r = 0; r < n; r++) {
        const float *c = centres + (r % 8) * d;
        for (size_t i = 0; i < d; i++) {
            float v = c[i] + normal();
            switch (family) {
            case PIXELS: v = (float)(tc_next() % 4 == 0 ? 0 : tc_next() % 256); break;
            case FAR: v += 1000.0f; break;
            case TINY: v *= 1e-30f; break;
            case LARGE: v = fmaxf(fminf(v * 5e13f, 0x1p50f), -0x1p50f); break; /* the row store's bound */
            case WIDE: v = i == 0 ? v * 1e6f : v; break;
            default: break;
            }
            x[r * d + i] = v;
        }
    }
    free(centres);
    return x;
}

/* A plane as the build makes one: d + 1 codes in [-127, 127] times 2^exponent. */
static void plane_of(int8_t *codes, float *w, int exponent, size_t d) {
    for (size_t i = 0; i <= d; i++) {
        codes[i] = (int8_t)((int)(tc_next() % 255) - 127);
        w[i] = ldexpf((float)codes[i], exponent);
    }
}

typedef struct tally {
    long sure, unsure, wrong;
} tally;

/* Every row against `planes` planes under table kt: the screen's side against the float margin's. */
static void check_family(const nearkit_kernel_table *kt, int family, size_t d, bool lift, tally *out) {
    const uint64_t n = 300;
    float *x = rows_of(family, n, d);
    rp_row_codes rc;
    CHECK_STATUS(rp_row_codes_make(&rc, (const uint8_t *)x, d * sizeof(float), n, d, 2), NEARKIT_OK);
    int8_t *codes = malloc(d + 1);
    float *w = malloc((d + 1) * sizeof *w);
    for (int plane = 0; plane < 12; plane++) {
        int exponent = family == TINY ? 20 : family == LARGE ? 0 : -7 - (int)(tc_next() % 4);
        plane_of(codes, w, exponent, d);
        rp_plane_code p;
        rp_plane_code_set(&p, &rc, codes, exponent);
        /* an offset through one row (its margin nearly -offset), or through none */
        uint64_t through = tc_next() % n;
        float lifted = lift ? (float)(uniform() * 100) : 0.0f;
        float offset = plane % 3 == 2 ? (float)(normal() * 10) : -(kt->dot(w, x + through * d, d) + w[d] * lifted);
        for (uint64_t r = 0; r < n; r++) {
            const float *row = x + r * d;
            float up = lift ? (float)(uniform() * 100) : 0.0f;
            if (r == through) up = lifted;
            float lift_term = lift ? w[d] * up : 0.0f;
            float margin = kt->dot(w, row, d) + lift_term; /* the build's float margin */
            int32_t dot;
            const uint8_t *a = rc.codes + r * d;
            const int8_t *b = codes;
            kt->u8s8_dot_pairs(&dot, &a, &b, 1, d);
            float screened;
            if (!rp_screen_margin(&rc, &p, r, dot, lift_term, offset, &screened)) {
                out->unsure++;
                continue;
            }
            out->sure++;
            if ((margin + offset <= 0) != (screened + offset <= 0)) {
                out->wrong++;
                fprintf(stderr, "  %s %s d=%zu row %llu: float margin %.9g, screened %.9g, offset %.9g\n", kt->name,
                        family_names[family], d, (unsigned long long)r, (double)margin, (double)screened,
                        (double)offset);
            }
        }
    }
    rp_row_codes_free(&rc);
    free(codes);
    free(w);
    free(x);
}

static void test_screen_sides(void) {
    const size_t dims[] = {1, 17, 64, 640, 784, 1500};
    const int32_t impls[] = {NEARKIT_KERNELS_SCALAR, NEARKIT_KERNELS_AVX2, NEARKIT_KERNELS_AVX512};
    for (size_t i = 0; i < 3; i++) {
        const nearkit_kernel_table *kt = nearkit_kernels_table(impls[i]);
        if (!kt) continue;
        for (int family = 0; family < FAMILIES; family++) {
            tally t = {0, 0, 0};
            for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
                for (int lift = 0; lift < 2; lift++) check_family(kt, family, dims[di], lift, &t);
            printf("  %s %s: %ld decided, %ld left to floats, %ld wrong\n", kt->name, family_names[family], t.sure,
                   t.unsure, t.wrong);
            CHECK(t.wrong == 0);
            if (family == PIXELS) CHECK(t.sure >= 0.95 * (double)(t.sure + t.unsure));
            if (family == CLUSTERS) CHECK(t.sure >= 0.5 * (double)(t.sure + t.unsure));
        }
    }
}

/* The saved bytes of a forest. */
static void *forest_image(nearkit_metric metric, uint32_t dim, const char *params, const float *data, uint64_t n,
                          size_t *size) {
    void *image = NULL;
    nearkit_index *forest = tc_make(NEARKIT_KIND_RPFOREST, metric, dim, params, 2, data, n, NULL);
    CHECK_STATUS(nearkit_index_save_to_buffer(&image, size, forest), NEARKIT_OK);
    nearkit_index_free(forest);
    return image;
}

/* Forests of rows beyond a subtree copy (their upper levels screened in the level passes, their
 * subtrees in the gathers): the bytes of the forest built from float margins alone. */
static void test_same_forest(void) {
    static const struct {
        nearkit_metric metric;
        int family;
        uint32_t dim, n;
    } cases[] = {
        {NEARKIT_METRIC_L2, PIXELS, 784, 12000},   {NEARKIT_METRIC_L2, CLUSTERS, 700, 12000},
        {NEARKIT_METRIC_COSINE, CLUSTERS, 700, 8000}, {NEARKIT_METRIC_IP, FAR, 700, 8000},
        {NEARKIT_METRIC_L1, WIDE, 650, 8000},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float *data = rows_of(cases[c].family, cases[c].n, cases[c].dim);
        size_t size = 0, plain_size = 0;
        void *image = forest_image(cases[c].metric, cases[c].dim, "n_trees=3", data, cases[c].n, &size);
        rp_screen_test_disable(1);
        void *plain = forest_image(cases[c].metric, cases[c].dim, "n_trees=3", data, cases[c].n, &plain_size);
        rp_screen_test_disable(0);
        bool same = size == plain_size && memcmp(image, plain, size) == 0;
        printf("  %s %s, %u x %u: %s\n", nearkit_metric_name(cases[c].metric), family_names[cases[c].family],
               cases[c].n, cases[c].dim, same ? "the same forest" : "forests differ");
        CHECK(same);
        nearkit_buffer_free(image);
        nearkit_buffer_free(plain);
        free(data);
    }
}

int main(void) {
    test_screen_sides();
    test_same_forest();
    return check_summary("test_rpforest_screen");
}
