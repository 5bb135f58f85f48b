/* Force-included (-include) by the portable aarch64 build (ci/portable_wheel.sh) only: the core's
 * HNSW node lock spins with x86's pause hint (core/kinds/hnsw_graph.c), which no aarch64
 * compiler knows. Its aarch64 counterpart is the yield hint. To go once the core spells the hint
 * per architecture itself. */
#if defined(__aarch64__) && !defined(__builtin_ia32_pause)
#define __builtin_ia32_pause() __asm__ __volatile__("yield" ::: "memory")
#endif
