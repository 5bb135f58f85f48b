/* Seeded randomness for builds: a splitmix64 generator, and per-node seeds that make a tree the
 * same however its build was split across threads. Internal to nearkit. */
#ifndef NEARKIT_RANDOM_H
#define NEARKIT_RANDOM_H

#include <stdint.h>

static inline uint64_t nearkit_mix64(uint64_t x) { /* splitmix64's finaliser */
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static inline uint64_t nearkit_next_random(uint64_t *state) {
    *state += 0x9E3779B97F4A7C15ull;
    return nearkit_mix64(*state);
}

/* A generator for the node over rows [begin, end): seeded by the range, so a tree does not
 * depend on how its build was split across threads. */
static inline uint64_t nearkit_node_random(uint64_t seed, uint64_t begin, uint64_t end) {
    return nearkit_mix64(seed ^ nearkit_mix64(begin ^ nearkit_mix64(end)));
}

#endif
