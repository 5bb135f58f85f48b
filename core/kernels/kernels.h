/* Distance kernels with run-time CPU dispatch. Internal to nearkit (hidden symbols). */
#ifndef NEARKIT_KERNELS_H
#define NEARKIT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "nearkit.h"

/* One implementation of every kernel. All pointers may be unaligned. `d` counts floats, `nbytes`
 * counts bytes of packed bits. The *_many variants compare one query with n vectors stored
 * contiguously (row i at x + i * d) and write n results. */
typedef struct nearkit_kernel_table {
    const char *name; /* "scalar", "avx2", "avx512" */
    int32_t id;       /* NEARKIT_KERNELS_SCALAR / _AVX2 / _AVX512 */
    float (*l2sq)(const float *a, const float *b, size_t d);  /* squared Euclidean */
    float (*l1)(const float *a, const float *b, size_t d);
    float (*linf)(const float *a, const float *b, size_t d);
    float (*dot)(const float *a, const float *b, size_t d);
    uint32_t (*hamming)(const uint8_t *a, const uint8_t *b, size_t nbytes);
    void (*l2sq_many)(float *out, const float *q, const float *x, size_t n, size_t d);
    void (*l1_many)(float *out, const float *q, const float *x, size_t n, size_t d);
    void (*linf_many)(float *out, const float *q, const float *x, size_t n, size_t d);
    void (*dot_many)(float *out, const float *q, const float *x, size_t n, size_t d);
    void (*hamming_many)(uint32_t *out, const uint8_t *q, const uint8_t *x, size_t n,
                         size_t nbytes);
    /* Hamming distances of nq queries to codes packed into panels (hamming_pack): query i
     * is words 64-bit words at queries + i * words; the distance to code 8p + r goes to
     * out[i * out_stride + 8p + r], for every panel p < npanels. */
    void (*hamming_panels)(uint32_t *out, size_t out_stride, const uint64_t *queries, size_t nq,
                           const uint64_t *panels, size_t npanels, size_t words);
    /* Packs n codes into panels (layout below); panels must be 64-byte aligned. */
    void (*hamming_pack)(uint64_t *panels, const uint8_t *codes, size_t n, size_t nbytes);
} nearkit_kernel_table;

/* Codes packed for hamming_panels: 8 codes per panel, stored word by word (word j of code r of
 * panel p at panels[(p * words + j) * 8 + r]), so one 64-byte load holds a word of 8 codes and no
 * per-code reduction is needed. Codes are nbytes long, words = ceil(nbytes / 8); bytes past the
 * end of a code and codes past n (up to the panel's 8) are zero. */
static inline size_t nearkit_hamming_words(size_t nbytes) { return (nbytes + 7) / 8; }
static inline size_t nearkit_hamming_panels(size_t n) { return (n + 7) / 8; }
/* The portable hamming_pack: n codes into nearkit_hamming_panels(n) * words * 8 words at panels. */
void nearkit_hamming_pack_portable(uint64_t *panels, const uint8_t *codes, size_t n, size_t nbytes);
/* Packs one code as a query for hamming_panels: words 64-bit words, zero past nbytes. */
void nearkit_hamming_pack_query(uint64_t *query, const uint8_t *code, size_t nbytes);

/* Distances of one query to n rows stored contiguously at rows (dimension floats or vector_bytes
 * bytes each), as the metric reports them except l2, which stays squared (monotone: selection is
 * unaffected; callers root it when they report). ints: n counts of scratch, for hamming. */
void nearkit_metric_distances(float *out, uint32_t *ints, const nearkit_kernel_table *kt,
                              nearkit_metric metric, const void *query, const void *rows, size_t n,
                              size_t dimension, size_t vector_bytes);

/* The table in use: chosen once (thread-safely) from the CPU's features, or as forced. */
const nearkit_kernel_table *nearkit_kernels(void);
/* Whether the CPU (and the OS) can run the x86 FMA instructions: the scalar kernels use them for
 * their fused multiply-adds then (kernels_scalar.c). 0 on other architectures. */
int nearkit_kernels_cpu_fma(void);
/* For tests: nonzero makes nearkit_kernels_cpu_fma() answer 0, so that the scalar kernels' code
 * for CPUs without FMA runs on any CPU; 0 restores the answer. */
void nearkit_kernels_test_no_fma(int no_fma);
/* The table of one implementation (NEARKIT_KERNELS_*), or NULL when the CPU cannot run it. */
const nearkit_kernel_table *nearkit_kernels_table(int32_t which);

#endif
