/* The Voronoi demo's frame search through the C library, no binding: one batch 1-NN search of
 * every pixel centre of an 800 x 600 image (480,000 2-D queries) against 50 seeds (uniform over the
 * image, fixed seed), best of RUNS, at 1 thread and at 2, for flat (the nearest path for k = 1 over
 * rows of <= 4 floats) and vptree, l2 and l1; and flat through the heap path in the same run (the
 * same call with a filter admitting every id, which plans the call as a filtered one: the general
 * path plus a bitmap test per row).
 *
 *   bench_voronoi_c [RUNS=10]          (built with the library: ninja -C build bench_voronoi_c)
 *
 * Prints name=value lines: voronoi_c_<kind>_<metric>_t<threads>_ms and
 * voronoi_c_flat_<metric>_t<threads>_nearest_vs_heap (the heap path's time over the nearest
 * path's; above 1, the nearest path is faster). Exits 1 with the library's message on an error. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#define NEARKIT_EXPERIMENTAL     /* nearkit_kernels_name */
#include "nearkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WIDTH 800
#define HEIGHT 600
#define SEEDS 50

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int32_t admit_all(void *context, int64_t id) {
    (void)context, (void)id;
    return 1;
}

static int failed(const char *what) {
    fprintf(stderr, "bench_voronoi_c: %s: %s\n", what, nearkit_last_error_message());
    return 1;
}

/* The best time of `runs` searches of the pixel centres, in ms; < 0 on an error. */
static double frame_ms(const nearkit_index *ix, const float *pixels, int64_t *ids, float *dist, int runs,
                       const nearkit_search_options *options) {
    double best = 1e300;
    for (int r = 0; r < runs; r++) {
        double t = now();
        if (nearkit_index_search(ids, dist, ix, NEARKIT_VECTOR_FLOAT32, pixels, WIDTH * HEIGHT, 1, options) !=
            NEARKIT_OK)
            return -1.0;
        t = now() - t;
        if (t < best) best = t;
    }
    return best * 1e3;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 10;
    if (runs < 1) runs = 1;
    float seeds[2 * SEEDS];
    uint64_t state = 22;
    for (int i = 0; i < SEEDS; i++) { /* an LCG: the same seeds on every machine */
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        seeds[2 * i] = (float)((state >> 40) % WIDTH) + 0.25f;
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        seeds[2 * i + 1] = (float)((state >> 40) % HEIGHT) + 0.75f;
    }
    float *pixels = malloc(sizeof(float) * 2 * WIDTH * HEIGHT);
    int64_t *ids = malloc(sizeof(int64_t) * WIDTH * HEIGHT);
    float *dist = malloc(sizeof(float) * WIDTH * HEIGHT);
    if (!pixels || !ids || !dist) return fprintf(stderr, "bench_voronoi_c: out of memory\n"), 1;
    for (int y = 0, i = 0; y < HEIGHT; y++)
        for (int x = 0; x < WIDTH; x++, i += 2) {
            pixels[i] = (float)x + 0.5f;
            pixels[i + 1] = (float)y + 0.5f;
        }
    nearkit_filter everyone = NEARKIT_FILTER_INIT;
    everyone.type = NEARKIT_FILTER_PREDICATE;
    everyone.predicate = admit_all;
    nearkit_search_options heap_path = NEARKIT_SEARCH_OPTIONS_INIT;
    heap_path.filter = &everyone;
    printf("voronoi_c_queries=%d\nvoronoi_c_seeds=%d\nvoronoi_c_kernels=%s\n", WIDTH * HEIGHT, SEEDS,
           nearkit_kernels_name());
    const nearkit_kind kinds[] = {NEARKIT_KIND_FLAT, NEARKIT_KIND_VPTREE};
    const nearkit_metric metrics[] = {NEARKIT_METRIC_L2, NEARKIT_METRIC_L1};
    for (int m = 0; m < 2; m++)
        for (uint32_t threads = 1; threads <= 2; threads++)
            for (int k = 0; k < 2; k++) {
                nearkit_index_options o;
                nearkit_index_options_init(&o);
                o.num_threads = threads;
                nearkit_index *ix = NULL;
                if (nearkit_index_create(&ix, kinds[k], metrics[m], 2, &o) != NEARKIT_OK) return failed("create");
                if (nearkit_index_add(ix, NEARKIT_VECTOR_FLOAT32, seeds, SEEDS, NULL) != NEARKIT_OK ||
                    nearkit_index_build(ix) != NEARKIT_OK)
                    return failed("add and build");
                const char *kind = nearkit_kind_name(kinds[k]), *metric = nearkit_metric_name(metrics[m]);
                double ms = frame_ms(ix, pixels, ids, dist, runs, NULL);
                if (ms < 0) return failed("search");
                printf("voronoi_c_%s_%s_t%u_ms=%.2f\n", kind, metric, threads, ms);
                if (kinds[k] == NEARKIT_KIND_FLAT) {
                    double heap = frame_ms(ix, pixels, ids, dist, runs, &heap_path);
                    if (heap < 0) return failed("search through the heap path");
                    printf("voronoi_c_%s_%s_t%u_heap_ms=%.2f\n", kind, metric, threads, heap);
                    printf("voronoi_c_%s_%s_t%u_nearest_vs_heap=%.2f\n", kind, metric, threads, heap / ms);
                }
                nearkit_index_free(ix);
            }
    free(pixels);
    free(ids);
    free(dist);
    return 0;
}
