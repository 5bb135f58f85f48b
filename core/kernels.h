/* Distance kernels with run-time CPU dispatch. Internal to nearkit (hidden symbols). */
#ifndef NEARKIT_KERNELS_H
#define NEARKIT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

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
} nearkit_kernel_table;

/* The table in use: chosen once (thread-safely) from the CPU's features, or as forced. */
const nearkit_kernel_table *nearkit_kernels(void);
/* The table of one implementation (NEARKIT_KERNELS_*), or NULL when the CPU cannot run it. */
const nearkit_kernel_table *nearkit_kernels_table(int32_t which);

#endif
