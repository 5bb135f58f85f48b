/* The library's one door to BLAS: every sgemm nearkit runs goes through nearkit_sgemm_nt, and the
 * error bound that lets exact kinds use its results without trusting its rounding lives here too.
 *
 * OpenBLAS runs single-threaded inside nearkit's own threads: two pools on the same cores only
 * slow each other down (Faiss 1.7.3 loses half its speed going from one thread to two for exactly
 * that reason). The setting is OpenBLAS's process-wide one; it is made once, before nearkit's
 * first BLAS call.
 *
 * Why a bound: OpenBLAS picks its sgemm kernel per CPU (Haswell, SkylakeX, Zen, ...), and each
 * sums in its own order, so the same product differs between machines in its last bits. Exact
 * kinds therefore use sgemm only to shortlist candidates; the results come from the exact
 * per-pair kernels, and nearkit_gemm_slack says how far a shortlist value may be from the
 * kernel's, so that a caller can prove the shortlist holds every row that could rank (or tie)
 * within the k best (see nearkit_rerank_certain in topk.c).
 *
 * Test hook: built with NEARKIT_TEST_HOOKS (the test matrix's library only, never a release
 * build) and run with NEARKIT_TEST_PERTURB_GEMM=1, every sgemm result is moved by a pseudo-random
 * amount up to the worst-case rounding error of a float dot product of its length, so that the
 * suite sees on one machine what another machine's BLAS kernel could do. */
#include "base/internal.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

static void set_single_threaded(void) { openblas_set_num_threads(1); }

void nearkit_blas_prepare(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, set_single_threaded);
}

/* Unit roundoff of float32 (round to nearest). */
#define FLOAT_UNIT 0x1p-24

/* gamma_n = n u / (1 - n u): the classic bound on the relative error of any float sum or dot
 * product of n terms, whatever order the terms are added in (Higham, Accuracy and Stability of
 * Numerical Algorithms, 3.1). For sum |a_i b_i| it bounds |computed - true|. */
static double gamma_n(size_t n) {
    double nu = (double)n * FLOAT_UNIT;
    return nu < 0.5 ? nu / (1.0 - nu) : INFINITY;
}

double nearkit_gemm_slack(nearkit_metric metric, size_t d, double query_norm, double max_row_norm) {
    /* The shortlist value and the kernel's value each lie within their own rounding of the true
     * value; their distance is at most the sum. Terms, with g = gamma_(d+4) (the + 4 covers the
     * few roundings outside the dot products: adding norms and offsets):
     *   l2: shortlist |q|^2 + |x|^2 - 2<q,x>: g (|q|^2 + |x|^2 + 2 |q||x|) = g (|q| + |x|)^2,
     *       doubled for a perturbed sgemm; kernel sum (q_i - x_i)^2: g (|q| + |x|)^2;
     *   ip / cosine: shortlist -<q,x> (+ 1): 2 g |q||x| and one rounding of the offset;
     *       kernel: g |q||x|.
     * Everything is then doubled again: the bound must hold with room, never just barely. */
    double g = gamma_n(d + 4);
    double qx = query_norm * max_row_norm;
    if (metric == NEARKIT_METRIC_L2) {
        double s = query_norm + max_row_norm;
        return 2.0 * 3.0 * g * s * s;
    }
    return 2.0 * (3.0 * g * qx + 2.0 * FLOAT_UNIT);
}

#ifdef NEARKIT_TEST_HOOKS
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

enum { PERTURB_UNKNOWN, PERTURB_OFF, PERTURB_CONTENT, PERTURB_POSITION };
static atomic_int perturb_mode;

/* NEARKIT_TEST_PERTURB_GEMM: "content" perturbs each pair of rows by an amount that depends on
 * their values only (equal rows, equal results, like a BLAS with one kernel); any other non-empty
 * value except "0" also makes it depend on where the rows sit in the call, like a BLAS whose edge
 * tiles take another kernel than the body (OpenBLAS's do), so duplicates may differ. */
static int perturbation(void) {
    int mode = atomic_load(&perturb_mode);
    if (mode == PERTURB_UNKNOWN) {
        const char *env = getenv("NEARKIT_TEST_PERTURB_GEMM");
        mode = !env || !*env || strcmp(env, "0") == 0 ? PERTURB_OFF
               : strcmp(env, "content") == 0          ? PERTURB_CONTENT
                                                      : PERTURB_POSITION;
        atomic_store(&perturb_mode, mode);
    }
    return mode;
}

static double row_norm(const float *v, size_t d) {
    double s = 0.0;
    for (size_t i = 0; i < d; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A hash of a row's bits: equal rows get equal noise, as a deterministic BLAS kernel gives equal
 * rows equal results wherever they sit in the matrices. */
static uint64_t row_hash(const float *v, size_t d) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < d; i++) {
        uint32_t bits;
        memcpy(&bits, v + i, sizeof bits);
        h = mix(h ^ bits);
    }
    return h;
}

/* A value in [-1, 1] for the pair of rows. */
static double noise(uint64_t ha, uint64_t hb) {
    return (double)(mix(ha * 0x9E3779B97F4A7C15ull ^ hb) >> 11) * 0x1p-52 - 1.0;
}

/* Moves every c[i][j] by up to gamma_d |alpha| |a_i| |b_j|: what a differently ordered float sum
 * may legitimately change. Test-only, so it may be slow; it gives up quietly without memory. */
static void perturb(size_t m, size_t n, size_t d, float alpha, const float *a, const float *b, float *c,
                    bool by_position) {
    double *nb = nearkit_alloc_array(n, sizeof(double));
    uint64_t *hb = nearkit_alloc_array(n, sizeof(uint64_t));
    if (nb && hb) {
        for (size_t j = 0; j < n; j++) {
            nb[j] = row_norm(b + j * d, d);
            hb[j] = row_hash(b + j * d, d) ^ (by_position ? mix(j + 1) : 0);
        }
        double g = gamma_n(d) * fabs((double)alpha);
        for (size_t i = 0; i < m; i++) {
            double na = row_norm(a + i * d, d);
            uint64_t ha = row_hash(a + i * d, d) ^ (by_position ? mix(~(uint64_t)i) : 0);
            for (size_t j = 0; j < n; j++) {
                float *cij = c + i * n + j;
                *cij = (float)(*cij + noise(ha, hb[j]) * g * na * nb[j]);
            }
        }
    }
    free(nb);
    free(hb);
}
#endif

void nearkit_sgemm_nt(size_t m, size_t n, size_t d, float alpha, const float *a, const float *b,
                      float *c) {
    nearkit_blas_prepare();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)d, alpha, a, (int)d, b,
                (int)d, 0.0f, c, (int)n);
#ifdef NEARKIT_TEST_HOOKS
    int mode = perturbation();
    if (mode != PERTURB_OFF) perturb(m, n, d, alpha, a, b, c, mode == PERTURB_POSITION);
#endif
}

#ifdef NEARKIT_TEST_HOOKS
bool nearkit_gemm_perturbed(void) { return perturbation() != PERTURB_OFF; }
#else
bool nearkit_gemm_perturbed(void) { return false; }
#endif
