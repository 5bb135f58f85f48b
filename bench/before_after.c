/* One side of bench/before_after.sh: the same program is compiled against two builds of the
 * library (a base revision and the current tree), and the script asks both, in turns, to time the
 * same searches on the same data, so the two builds meet the same machine load.
 *
 *   before_after --list
 *       prints the figure names, one a line.
 *   before_after [-n COUNT] [-q QUERIES] [-c cpu|wall] FIGURE...
 *       generates the data (fixed seed: both builds see the same bytes), builds the indexes the
 *       FIGUREs need at 1 thread and prints "ready build_<index>=<seconds> ...". Then answers each
 *       line "FIGURE SECONDS" read from stdin with
 *           FIGURE qps=<queries per second> queries=<timed> seconds=<timed> check=<hex>
 *       after searching for at least SECONDS of the chosen clock. check hashes the ids and
 *       distances of the first queries (searched untimed, which also warms the caches): equal
 *       checks on both builds mean the two answered the same. A failure prints "error <message>"
 *       and exits 1.
 *
 * Data: COUNT (default 100,000) clustered float vectors of dimension 128 (Gaussian clusters of
 * varied spread, about sqrt(COUNT) / 3 of them) and QUERIES (default 1,000) more from the same
 * clusters; 256-bit codes are their signs under 256 random hyperplanes. Binary queries come in two
 * sets: the float queries' codes ("projected"), and stored codes with 1 to 8 bits flipped
 * ("near": the near-duplicate lookups bktree and mih are made for).
 *
 * The clock: "cpu" (default) is the process's CPU time, which other jobs on a shared machine
 * disturb far less than the wall clock; every search runs on 1 thread either way. */
#define _POSIX_C_SOURCE 199309L
#include "nearkit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { DIMENSION = 128, CODE_BITS = 256, K = 10, CHECK_QUERIES = 100, MAX_FLIPS = 8 };
static const uint64_t SEED = 0x6265666f7265ull;

/* ---- data -------------------------------------------------------------------------------------- */

typedef enum data_set { FLOATS, CODES, DATA_SETS } data_set;
typedef enum query_set { FLOAT_QUERIES, PROJECTED_QUERIES, NEAR_QUERIES, QUERY_SETS } query_set;

typedef struct vectors {
    nearkit_vector_type type;
    uint64_t n;
    size_t row_bytes;
    void *data;
} vectors;

typedef struct workload {
    vectors base[DATA_SETS];
    vectors queries[QUERY_SETS];
} workload;

static uint64_t rng_next(uint64_t *state) { /* splitmix64 */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *state) { return (double)(rng_next(state) >> 11) * 0x1.0p-53; }

static uint64_t rng_below(uint64_t *state, uint64_t n) { return (uint64_t)(rng_uniform(state) * n); }

static double rng_gaussian(uint64_t *state) { /* Box-Muller */
    double u = 1.0 - rng_uniform(state), v = rng_uniform(state);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static int vectors_alloc(vectors *v, nearkit_vector_type type, uint64_t n) {
    v->type = type;
    v->n = n;
    v->row_bytes = type == NEARKIT_VECTOR_FLOAT32 ? DIMENSION * sizeof(float) : CODE_BITS / 8;
    v->data = calloc(n ? n : 1, v->row_bytes);
    return v->data ? 0 : -1;
}

static void clustered_rows(float *out, uint64_t n, const float *centres, const float *spread,
                           uint64_t clusters, uint64_t *rng) {
    for (uint64_t i = 0; i < n; i++) {
        uint64_t c = rng_below(rng, clusters);
        for (int j = 0; j < DIMENSION; j++)
            out[i * DIMENSION + j] = centres[c * DIMENSION + j] + spread[c] * (float)rng_gaussian(rng);
    }
}

/* Sign of each row under each of CODE_BITS hyperplanes through the origin (the clusters' centres
 * are centred on it); bit b of a code in byte b / 8 at position b % 8. `planes` is DIMENSION x
 * CODE_BITS, so the inner loop runs over the bits and vectorises without reordering any sum. */
static void project_to_codes(uint8_t *codes, const float *rows, uint64_t n, const float *planes) {
    float dot[CODE_BITS];
    for (uint64_t i = 0; i < n; i++) {
        const float *x = rows + i * DIMENSION;
        memset(dot, 0, sizeof dot);
        for (int j = 0; j < DIMENSION; j++)
            for (int b = 0; b < CODE_BITS; b++) dot[b] += x[j] * planes[j * CODE_BITS + b];
        for (int b = 0; b < CODE_BITS; b++)
            if (dot[b] > 0.0f) codes[i * (CODE_BITS / 8) + b / 8] |= (uint8_t)(1u << (b % 8));
    }
}

static void near_duplicates(uint8_t *out, uint64_t nq, const uint8_t *codes, uint64_t n,
                            uint64_t *rng) {
    for (uint64_t i = 0; i < nq; i++) {
        uint8_t *q = out + i * (CODE_BITS / 8);
        memcpy(q, codes + rng_below(rng, n) * (CODE_BITS / 8), CODE_BITS / 8);
        for (uint64_t f = 0, flips = 1 + rng_below(rng, MAX_FLIPS); f < flips; f++) {
            uint64_t b = rng_below(rng, CODE_BITS);
            q[b / 8] ^= (uint8_t)(1u << (b % 8));
        }
    }
}

static int workload_make(workload *w, uint64_t n, uint64_t nq) {
    uint64_t rng = SEED, clusters = (uint64_t)(sqrt((double)n) / 3.0 + 0.5);
    if (clusters < 1) clusters = 1;
    float *centres = malloc(clusters * DIMENSION * sizeof *centres);
    float *spread = malloc(clusters * sizeof *spread);
    float *planes = malloc(CODE_BITS * DIMENSION * sizeof *planes);
    int rc = -1;
    if (!centres || !spread || !planes || vectors_alloc(&w->base[FLOATS], NEARKIT_VECTOR_FLOAT32, n) ||
        vectors_alloc(&w->base[CODES], NEARKIT_VECTOR_BINARY, n) ||
        vectors_alloc(&w->queries[FLOAT_QUERIES], NEARKIT_VECTOR_FLOAT32, nq) ||
        vectors_alloc(&w->queries[PROJECTED_QUERIES], NEARKIT_VECTOR_BINARY, nq) ||
        vectors_alloc(&w->queries[NEAR_QUERIES], NEARKIT_VECTOR_BINARY, nq))
        goto done;
    for (uint64_t i = 0; i < clusters * DIMENSION; i++) centres[i] = 2.0f * (float)rng_gaussian(&rng);
    for (uint64_t c = 0; c < clusters; c++) spread[c] = 0.5f + (float)rng_uniform(&rng);
    for (int i = 0; i < CODE_BITS * DIMENSION; i++) planes[i] = (float)rng_gaussian(&rng);
    clustered_rows(w->base[FLOATS].data, n, centres, spread, clusters, &rng);
    clustered_rows(w->queries[FLOAT_QUERIES].data, nq, centres, spread, clusters, &rng);
    project_to_codes(w->base[CODES].data, w->base[FLOATS].data, n, planes);
    project_to_codes(w->queries[PROJECTED_QUERIES].data, w->queries[FLOAT_QUERIES].data, nq, planes);
    near_duplicates(w->queries[NEAR_QUERIES].data, nq, w->base[CODES].data, n, &rng);
    rc = 0;
done:
    free(centres);
    free(spread);
    free(planes);
    return rc;
}

/* ---- indexes and figures ----------------------------------------------------------------------- */

typedef struct index_spec {
    const char *name;
    nearkit_kind kind;
    nearkit_metric metric;
    data_set data;
    const char *params;
} index_spec;

enum { FLAT_L2, FLAT_COSINE, FLAT_HAMMING, VPTREE_L2, BKTREE, MIH, IVF_FLAT, IVF_BINARY, INDEXES };

/* nlist and nprobe explicit (nlist about sqrt(100,000)), so that a changed default cannot change
 * a figure. */
static const index_spec index_specs[INDEXES] = {
    [FLAT_L2] = {"flat_l2", NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, FLOATS, NULL},
    [FLAT_COSINE] = {"flat_cosine", NEARKIT_KIND_FLAT, NEARKIT_METRIC_COSINE, FLOATS, NULL},
    [FLAT_HAMMING] = {"flat_hamming", NEARKIT_KIND_FLAT, NEARKIT_METRIC_HAMMING, CODES, NULL},
    [VPTREE_L2] = {"vptree_l2", NEARKIT_KIND_VPTREE, NEARKIT_METRIC_L2, FLOATS, NULL},
    [BKTREE] = {"bktree_hamming", NEARKIT_KIND_BKTREE, NEARKIT_METRIC_HAMMING, CODES, NULL},
    [MIH] = {"mih_hamming", NEARKIT_KIND_MIH, NEARKIT_METRIC_HAMMING, CODES, NULL},
    [IVF_FLAT] = {"ivf_flat_l2", NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, FLOATS,
                  "nlist=316,nprobe=8"},
    [IVF_BINARY] = {"ivf_binary_hamming", NEARKIT_KIND_IVF_BINARY, NEARKIT_METRIC_HAMMING, CODES,
                    "nlist=316,nprobe=8"},
};

typedef struct figure {
    const char *name;
    int index;
    query_set queries;
    uint64_t per_call; /* queries per search call: a batch, or 1 */
} figure;

/* Every figure asks for K neighbours. vptree's batches are smaller only so that one call, the
 * shortest a measurement can be, stays near a second. */
static const figure figures[] = {
    {"flat_l2_batch", FLAT_L2, FLOAT_QUERIES, 1000},
    {"flat_l2_single", FLAT_L2, FLOAT_QUERIES, 1},
    {"flat_cosine_batch", FLAT_COSINE, FLOAT_QUERIES, 1000},
    {"flat_hamming_batch", FLAT_HAMMING, PROJECTED_QUERIES, 1000},
    {"vptree_l2_batch", VPTREE_L2, FLOAT_QUERIES, 250},
    {"bktree_hamming_batch", BKTREE, NEAR_QUERIES, 1000},
    {"mih_hamming_batch", MIH, NEAR_QUERIES, 1000},
    {"ivf_flat_batch", IVF_FLAT, FLOAT_QUERIES, 1000},
    {"ivf_flat_single", IVF_FLAT, FLOAT_QUERIES, 1},
    {"ivf_binary_batch", IVF_BINARY, PROJECTED_QUERIES, 1000},
};
enum { FIGURES = sizeof figures / sizeof figures[0] };

static const figure *figure_named(const char *name) {
    for (int i = 0; i < FIGURES; i++)
        if (strcmp(figures[i].name, name) == 0) return &figures[i];
    return NULL;
}

/* ---- output ------------------------------------------------------------------------------------ */

static int fail(const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    printf("error ");
    vprintf(format, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    return 1;
}

static int fail_nearkit(const char *what) { return fail("%s: %s", what, nearkit_last_error_message()); }

/* ---- clocks ------------------------------------------------------------------------------------ */

static clockid_t bench_clock = CLOCK_PROCESS_CPUTIME_ID;

static double now(void) {
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- building ---------------------------------------------------------------------------------- */

static int build_index(nearkit_index **out, double *seconds, const index_spec *spec,
                       const workload *w) {
    nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT;
    options.num_threads = 1;
    options.params = spec->params;
    const vectors *base = &w->base[spec->data];
    uint32_t dimension = spec->data == FLOATS ? DIMENSION : CODE_BITS;
    double start = now();
    if (nearkit_index_create(out, spec->kind, spec->metric, dimension, &options) != NEARKIT_OK ||
        nearkit_index_add(*out, base->type, base->data, base->n, NULL) != NEARKIT_OK ||
        nearkit_index_build(*out) != NEARKIT_OK)
        return fail_nearkit(spec->name);
    *seconds = now() - start;
    return 0;
}

/* Builds every index one of the named figures uses: a line "build_<index>=<seconds>" each, then
 * "ready". */
static int build_needed(nearkit_index *indexes[INDEXES], const workload *w, char **names, int count) {
    for (int i = 0; i < count; i++) {
        int x = figure_named(names[i])->index;
        double seconds = 0.0;
        if (indexes[x]) continue;
        if (build_index(&indexes[x], &seconds, &index_specs[x], w)) return 1;
        printf("build_%s=%.3f\n", index_specs[x].name, seconds);
        fflush(stdout);
    }
    printf("ready\n");
    fflush(stdout);
    return 0;
}

/* ---- searching --------------------------------------------------------------------------------- */

typedef struct result_buffers {
    int64_t *ids;
    float *distances;
} result_buffers;

/* `calls` search calls of the figure's size from query `*next` on, wrapping at the end of the set
 * (the call that reaches it takes only the rest); adds the queries searched to `*searched`. */
static int search_calls(uint64_t *searched, uint64_t *next, const nearkit_index *index,
                        const figure *f, const vectors *q, uint64_t calls, result_buffers *out) {
    nearkit_search_options options = NEARKIT_SEARCH_OPTIONS_INIT;
    options.num_threads = 1;
    uint64_t at = *next;
    for (uint64_t c = 0; c < calls; c++) {
        uint64_t count = q->n - at < f->per_call ? q->n - at : f->per_call;
        if (nearkit_index_search(out->ids, out->distances, index, q->type,
                                 (const char *)q->data + at * q->row_bytes, count, K,
                                 &options) != NEARKIT_OK)
            return fail_nearkit(f->name);
        *searched += count;
        at = at + count == q->n ? 0 : at + count;
    }
    *next = at;
    return 0;
}

/* FNV-1a over the ids and distance bits of the first CHECK_QUERIES queries, in calls of the
 * figure's size. */
static int answer_check(uint64_t *check, const nearkit_index *index, const figure *f,
                        const vectors *q, result_buffers *out) {
    uint64_t h = 0xcbf29ce484222325ull, done = 0, next = 0;
    while (done < CHECK_QUERIES && done < q->n) {
        uint64_t before = done;
        if (search_calls(&done, &next, index, f, q, 1, out)) return 1;
        for (uint64_t i = 0; i < (done - before) * K; i++) {
            uint32_t bits;
            memcpy(&bits, &out->distances[i], sizeof bits);
            uint64_t words[2] = {(uint64_t)out->ids[i], bits};
            const unsigned char *p = (const unsigned char *)words;
            for (size_t b = 0; b < sizeof words; b++) h = (h ^ p[b]) * 0x100000001b3ull;
        }
    }
    *check = h;
    return 0;
}

/* Searches in laps of calls, doubling a lap while it takes under 10 ms so that reading the clock
 * costs nothing measurable, until `seconds` have passed. */
static int time_figure(double *qps, uint64_t *queries, double *elapsed, const nearkit_index *index,
                       const figure *f, const vectors *q, double seconds, result_buffers *out) {
    uint64_t lap = 1, next = 0;
    double start = now(), lap_start = start, t;
    *queries = 0;
    do {
        if (search_calls(queries, &next, index, f, q, lap, out)) return 1;
        t = now();
        if (t - lap_start < 0.01) lap *= 2;
        lap_start = t;
    } while (t - start < seconds);
    *elapsed = t - start;
    *qps = (double)*queries / *elapsed;
    return 0;
}

static int run_figure(nearkit_index *indexes[INDEXES], const workload *w, const char *name,
                      double seconds, result_buffers *out) {
    const figure *f = figure_named(name);
    if (!f || !indexes[f->index]) return fail("figure %s was not named at start", name);
    const vectors *q = &w->queries[f->queries];
    uint64_t check, queries;
    double qps, elapsed;
    if (answer_check(&check, indexes[f->index], f, q, out) ||
        time_figure(&qps, &queries, &elapsed, indexes[f->index], f, q, seconds, out))
        return 1;
    printf("%s qps=%.1f queries=%llu seconds=%.3f check=%016llx\n", name, qps,
           (unsigned long long)queries, elapsed, (unsigned long long)check);
    fflush(stdout);
    return 0;
}

/* ---- main -------------------------------------------------------------------------------------- */

static int usage(void) {
    fprintf(stderr, "usage: before_after --list\n"
                    "       before_after [-n COUNT] [-q QUERIES] [-c cpu|wall] FIGURE...\n"
                    "       then lines \"FIGURE SECONDS\" on stdin\n");
    return 2;
}

static int serve(nearkit_index *indexes[INDEXES], const workload *w, uint64_t nq) {
    result_buffers out = {malloc(nq * K * sizeof *out.ids), malloc(nq * K * sizeof *out.distances)};
    char line[256], name[128];
    double seconds;
    int rc = 0;
    if (!out.ids || !out.distances) rc = fail("out of memory");
    while (rc == 0 && fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "%127s %lf", name, &seconds) != 2) rc = fail("bad request: %s", line);
        else rc = run_figure(indexes, w, name, seconds, &out);
    }
    free(out.ids);
    free(out.distances);
    return rc;
}

int main(int argc, char **argv) {
    uint64_t n = 100000, nq = 1000;
    int i = 1;
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int f = 0; f < FIGURES; f++) printf("%s\n", figures[f].name);
        return 0;
    }
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-n") == 0) n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-q") == 0) nq = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-c") == 0 && strcmp(argv[i + 1], "wall") == 0)
            bench_clock = CLOCK_MONOTONIC;
        else if (strcmp(argv[i], "-c") != 0 || strcmp(argv[i + 1], "cpu") != 0) return usage();
    }
    if (i == argc || n == 0 || nq == 0) return usage();
    for (int f = i; f < argc; f++)
        if (!figure_named(argv[f])) return fail("unknown figure %s", argv[f]);
    workload w = {0};
    nearkit_index *indexes[INDEXES] = {0};
    if (workload_make(&w, n, nq)) return fail("out of memory for the data");
    int rc = build_needed(indexes, &w, argv + i, argc - i);
    if (rc == 0) rc = serve(indexes, &w, nq);
    for (int x = 0; x < INDEXES; x++) nearkit_index_free(indexes[x]);
    for (int d = 0; d < DATA_SETS; d++) free(w.base[d].data);
    for (int q = 0; q < QUERY_SETS; q++) free(w.queries[q].data);
    return rc;
}
