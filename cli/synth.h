/* Deterministic synthetic data for the demo: a small PRNG (xoshiro256** seeded through
 * splitmix64), clustered float vectors, and binary codes with planted near-duplicates. */
#ifndef NEARKIT_CLI_SYNTH_H
#define NEARKIT_CLI_SYNTH_H

#include <stdint.h>

#include "readers.h"

typedef struct cli_rng {
    uint64_t s[4];
} cli_rng;

void cli_rng_seed(cli_rng *rng, uint64_t seed);
uint64_t cli_rng_next(cli_rng *rng);
/* Uniform in [0, 1). */
double cli_rng_uniform(cli_rng *rng);
/* Uniform in [0, n) for n >= 1. */
uint64_t cli_rng_below(cli_rng *rng, uint64_t n);
/* Standard normal. */
double cli_rng_gaussian(cli_rng *rng);

/* n base and nq query float32 vectors of dimension dim drawn around about sqrt(n)/3 Gaussian
 * cluster centres of varying spread; queries come from the same clusters. Returns 0, or -1
 * after printing an error. */
int cli_synth_clustered(cli_vectors *base, cli_vectors *queries, uint64_t n, uint64_t nq,
                        uint32_t dim, uint64_t seed);

/* n base codes of `bits` bits (a multiple of 8) in families of 1 to 8 near-duplicates (each a
 * random root with up to 6 bits flipped), and nq queries, each a base code with up to 8 bits
 * flipped; (*planted)[i] is the id of the base code query i was made from (malloc'd). */
int cli_synth_binary(cli_vectors *base, cli_vectors *queries, int64_t **planted, uint64_t n,
                     uint64_t nq, uint32_t bits, uint64_t seed);

#endif
