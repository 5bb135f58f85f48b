/* kernel_level LEVEL PROGRAM [ARGS...]: runs PROGRAM with NEARKIT_KERNELS=LEVEL when this CPU can
 * run that kernel level, and exits 77 (ctest's "skipped") when it cannot, so the test matrix
 * names every level on every machine and runs those the machine has. The level the CPU runs by
 * default is skipped too, saying so: the plain test (c.PROGRAM, no NEARKIT_KERNELS) runs exactly
 * that level already, and running it twice cost CI minutes for nothing. */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL
#include <nearkit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SKIPPED 77

static int level_of(const char *name) {
    if (strcmp(name, "scalar") == 0) return NEARKIT_KERNELS_SCALAR;
    if (strcmp(name, "avx2") == 0) return NEARKIT_KERNELS_AVX2;
    if (strcmp(name, "avx512") == 0) return NEARKIT_KERNELS_AVX512;
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 3 || level_of(argv[1]) < 0) {
        fprintf(stderr, "usage: kernel_level scalar|avx2|avx512 PROGRAM [ARGS...]\n");
        return 2;
    }
    const char *forced = getenv("NEARKIT_KERNELS");
    if ((!forced || !forced[0]) && strcmp(nearkit_kernels_name(), argv[1]) == 0) {
        printf("skipped: %s is this CPU's default kernel level, which the plain test already runs\n",
               argv[1]);
        return SKIPPED;
    }
    if (nearkit_kernels_force(level_of(argv[1])) != NEARKIT_OK) {
        printf("skipped: this CPU cannot run the %s kernels\n", argv[1]);
        return SKIPPED;
    }
    if (setenv("NEARKIT_KERNELS", argv[1], 1) != 0) return 2;
    execv(argv[2], argv + 2);
    perror(argv[2]);
    return 2;
}
