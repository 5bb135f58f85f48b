/* Seeded synthetic float data for the C tests: a splitmix64 stream and clustered point sets.
 * Define SYNTHETIC_SEED before including: the stream's starting state, one per test program, so
 * each program's data stays what its expectations were written for. */
#ifndef NEARKIT_TEST_SYNTHETIC_H
#define NEARKIT_TEST_SYNTHETIC_H

#include <stdint.h>
#include <stdlib.h>

#ifndef SYNTHETIC_SEED
#error "define SYNTHETIC_SEED before including synthetic.h"
#endif

static uint64_t rng_state = SYNTHETIC_SEED;

static double urand(void) { /* splitmix64 -> [0, 1) */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* n points of dimension d around `clusters` random centres in [-10, 10]^d, each coordinate within
 * spread of its centre (wide spreads make clusters overlap). */
static float *clustered(uint64_t n, uint32_t d, uint32_t clusters, float spread) {
    float *centres = malloc((size_t)clusters * d * sizeof(float));
    float *x = malloc((size_t)n * d * sizeof(float));
    for (size_t i = 0; i < (size_t)clusters * d; i++) centres[i] = (float)(urand() * 20 - 10);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)(urand() * clusters);
        for (uint32_t j = 0; j < d; j++)
            x[i * d + j] = centres[c * d + j] + (float)((urand() - 0.5) * 2 * spread);
    }
    free(centres);
    return x;
}

#endif
