/* Binary k-means: Hamming assignment on the SIMD popcount kernels, majority-vote centroids. */
#include "train/binary_kmeans.h"
#include "kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

#define CENTROID_BLOCK 512 /* centroid distances computed per kernel call */
#define ASSIGN_CHUNK 256   /* codes per parallel task */

/* ---- random numbers (splitmix64: small, fast, and the same on every platform) ---------------- */

static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t random_below(uint64_t *state, uint64_t bound) { return next_random(state) % bound; }

/* Chooses s of the positions [0, n) uniformly (selection sampling), written in increasing order. */
static void sample_positions(uint64_t *out, uint64_t n, uint64_t s, uint64_t *rng) {
    uint64_t needed = s;
    for (uint64_t i = 0; i < n && needed > 0; i++) {
        if (random_below(rng, n - i) < needed) {
            out[s - needed] = i;
            needed--;
        }
    }
}

/* ---- assignment -------------------------------------------------------------------------------- */

/* Smallest value of a block, as a loop the compiler vectorises. */
static uint32_t block_min(const uint32_t *d, uint32_t n) {
    uint32_t m = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) m = d[i] < m ? d[i] : m;
    return m;
}

static uint32_t nearest_centroid(const nearkit_kernel_table *kt, const uint8_t *code,
                                 const uint8_t *centroids, uint32_t k, size_t nbytes) {
    uint32_t dist[CENTROID_BLOCK], best = UINT32_MAX, arg = 0;
    for (uint32_t c0 = 0; c0 < k; c0 += CENTROID_BLOCK) {
        uint32_t nc = k - c0 < CENTROID_BLOCK ? k - c0 : CENTROID_BLOCK;
        kt->hamming_many(dist, code, centroids + (size_t)c0 * nbytes, nc, nbytes);
        uint32_t m = block_min(dist, nc);
        if (m >= best) continue;
        best = m;
        for (uint32_t i = 0; i < nc; i++)
            if (dist[i] == m) {
                arg = c0 + i;
                break;
            }
    }
    return arg;
}

typedef struct assign_task {
    uint32_t *out;
    const uint8_t *codes, *centroids;
    uint32_t k;
    size_t nbytes;
} assign_task;

static void assign_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    const assign_task *t = ctx;
    const nearkit_kernel_table *kt = nearkit_kernels();
    for (uint64_t i = begin; i < end; i++)
        t->out[i] = nearest_centroid(kt, t->codes + i * t->nbytes, t->centroids, t->k, t->nbytes);
}

void nearkit_binary_assign(uint32_t *out, const uint8_t *codes, uint64_t n, const uint8_t *centroids,
                           uint32_t k, size_t nbytes, uint32_t threads) {
    assign_task t = {out, codes, centroids, k, nbytes};
    nearkit_parallel_for(threads, n, ASSIGN_CHUNK, assign_range, &t);
}

/* ---- training ---------------------------------------------------------------------------------- */

/* While training, a cluster is represented by its members' mean bit values, each rounded to a
 * multiple of 1 / LEVELS and stored as PLANES bit planes (plane j holds bit j of the rounded value
 * times LEVELS). Assigning by squared distance to these means, rather than by Hamming distance to
 * their majority bits, weighs the bits a cluster agrees on over those it does not and gives
 * clusters that split the codes far better; it stays on the popcount kernels, since for a code x
 * and a cluster with values q_b (0 .. LEVELS):
 *   LEVELS^2 |x - q / LEVELS|^2 = LEVELS * sum_j 2^j hamming(x, plane_j) + sum_b q_b (q_b - LEVELS).
 * The centroids the caller gets are the majority bits of the final clusters. */
#define PLANES 3
#define LEVELS ((1u << PLANES) - 1)

typedef struct kmeans_state {
    const uint8_t *data; /* the sample: n rows */
    uint64_t n;
    uint32_t k;
    size_t nbytes;
    uint8_t *centroids; /* k rows: majority bits */
    uint8_t *planes;    /* plane j of cluster c at row j * k + c */
    int64_t *offset;    /* per cluster: sum_b q_b (q_b - LEVELS) */
    uint32_t *assign;
    uint64_t *starts;  /* k + 1: cluster c's members are members[starts[c] .. starts[c + 1]) */
    uint64_t *members; /* sample rows grouped by cluster, increasing within a cluster */
    uint64_t *sizes;   /* members per cluster (lowered while empty clusters are re-seeded) */
    uint32_t *counts;  /* per worker: one counter per bit */
} kmeans_state;

static uint32_t nearest_mean(const kmeans_state *s, const nearkit_kernel_table *kt, const uint8_t *code) {
    uint32_t dist[CENTROID_BLOCK], acc[CENTROID_BLOCK], arg = 0;
    int64_t best = INT64_MAX;
    for (uint32_t c0 = 0; c0 < s->k; c0 += CENTROID_BLOCK) {
        uint32_t nc = s->k - c0 < CENTROID_BLOCK ? s->k - c0 : CENTROID_BLOCK;
        memset(acc, 0, nc * sizeof *acc);
        for (unsigned j = 0; j < PLANES; j++) {
            kt->hamming_many(dist, code, s->planes + ((size_t)j * s->k + c0) * s->nbytes, nc, s->nbytes);
            for (uint32_t i = 0; i < nc; i++) acc[i] += dist[i] << j;
        }
        for (uint32_t i = 0; i < nc; i++) {
            int64_t score = (int64_t)LEVELS * acc[i] + s->offset[c0 + i];
            if (score < best) {
                best = score;
                arg = c0 + i;
            }
        }
    }
    return arg;
}

static void assign_mean_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    const kmeans_state *s = ctx;
    const nearkit_kernel_table *kt = nearkit_kernels();
    for (uint64_t i = begin; i < end; i++) s->assign[i] = nearest_mean(s, kt, s->data + i * s->nbytes);
}

/* Makes cluster c the single code `row` of the sample. */
static void set_cluster(kmeans_state *s, uint32_t c, uint64_t row) {
    const uint8_t *code = s->data + row * s->nbytes;
    memcpy(s->centroids + (size_t)c * s->nbytes, code, s->nbytes);
    for (unsigned j = 0; j < PLANES; j++)
        memcpy(s->planes + ((size_t)j * s->k + c) * s->nbytes, code, s->nbytes);
    s->offset[c] = 0;
}

static void group_members(kmeans_state *s) {
    memset(s->sizes, 0, s->k * sizeof *s->sizes);
    for (uint64_t i = 0; i < s->n; i++) s->sizes[s->assign[i]]++;
    s->starts[0] = 0;
    for (uint32_t c = 0; c < s->k; c++) s->starts[c + 1] = s->starts[c] + s->sizes[c];
    /* fill through the starts, then shift them back into place */
    for (uint64_t i = 0; i < s->n; i++) s->members[s->starts[s->assign[i]]++] = i;
    for (uint32_t c = s->k; c > 0; c--) s->starts[c] = s->starts[c - 1];
    s->starts[0] = 0;
}

/* Recomputes the mean planes and majority bits of every non-empty cluster (a majority tie keeps
 * the previous bit). */
static void update_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    kmeans_state *s = ctx;
    size_t bits = s->nbytes * 8;
    uint32_t *count = s->counts + (size_t)worker * bits;
    for (uint64_t c = begin; c < end; c++) {
        uint64_t size = s->starts[c + 1] - s->starts[c];
        if (size == 0) continue;
        memset(count, 0, bits * sizeof *count);
        for (uint64_t j = s->starts[c]; j < s->starts[c + 1]; j++) {
            const uint8_t *code = s->data + s->members[j] * s->nbytes;
            for (size_t b = 0; b < s->nbytes; b++)
                for (unsigned t = 0; t < 8; t++) count[b * 8 + t] += (code[b] >> t) & 1u;
        }
        uint8_t *centroid = s->centroids + c * s->nbytes;
        int64_t offset = 0;
        for (size_t b = 0; b < bits; b++) {
            uint64_t twice = 2 * (uint64_t)count[b];
            uint8_t mask = (uint8_t)(1u << (b % 8));
            if (twice > size) centroid[b / 8] |= mask;
            else if (twice < size) centroid[b / 8] &= (uint8_t)~mask;
            uint32_t q = (uint32_t)((2 * LEVELS * (uint64_t)count[b] + size) / (2 * size)); /* rounded */
            offset += (int64_t)q * ((int64_t)q - LEVELS);
            for (unsigned j = 0; j < PLANES; j++) {
                uint8_t *plane = s->planes + ((size_t)j * s->k + c) * s->nbytes;
                if ((q >> j) & 1u) plane[b / 8] |= mask;
                else plane[b / 8] &= (uint8_t)~mask;
            }
        }
        s->offset[c] = offset;
    }
}

/* Moves each empty cluster onto a random member of the currently largest cluster (lowest index
 * among equals), taking that member out of the draw so two empty clusters never get the same. */
static void reseed_empty(kmeans_state *s, uint64_t *rng) {
    for (uint32_t c = 0; c < s->k; c++) {
        if (s->starts[c + 1] != s->starts[c]) continue;
        uint32_t largest = 0;
        for (uint32_t j = 1; j < s->k; j++)
            if (s->sizes[j] > s->sizes[largest]) largest = j;
        if (s->sizes[largest] < 2) return; /* nothing left to split */
        uint64_t *range = s->members + s->starts[largest];
        uint64_t last = s->sizes[largest] - 1, pick = random_below(rng, s->sizes[largest]);
        uint64_t row = range[pick];
        range[pick] = range[last];
        range[last] = row;
        s->sizes[largest]--;
        s->sizes[c] = 1;
        set_cluster(s, c, row);
    }
}

static uint64_t count_changes(const uint32_t *a, const uint32_t *b, uint64_t n) {
    uint64_t changed = 0;
    for (uint64_t i = 0; i < n; i++) changed += a[i] != b[i];
    return changed;
}

nearkit_status nearkit_binary_kmeans(uint8_t *centroids, const uint8_t *codes, uint64_t n,
                                     uint32_t k, size_t nbytes, uint64_t sample_size,
                                     uint32_t iterations, uint64_t seed, uint32_t threads) {
    uint64_t rng = seed ^ 0x6B6D65616E73ull; /* "kmeans": keeps this stream apart from others */
    uint64_t s = n < sample_size ? n : sample_size;
    size_t bits = nbytes * 8;
    uint8_t *sample = NULL;
    uint64_t *rows = nearkit_alloc_array((size_t)(s > k ? s : k), sizeof *rows);
    uint32_t *assign = nearkit_alloc_array((size_t)s, sizeof *assign);
    uint32_t *previous = nearkit_alloc_array((size_t)s, sizeof *previous);
    uint64_t *starts = nearkit_alloc_array((size_t)k + 1, sizeof *starts);
    uint64_t *sizes = nearkit_alloc_array(k, sizeof *sizes);
    uint32_t *counts = nearkit_alloc_array((size_t)threads * bits, sizeof *counts);
    uint8_t *planes = nearkit_alloc_array((size_t)PLANES * k, nbytes);
    int64_t *offset = nearkit_alloc_array(k, sizeof *offset);
    bool ok = rows && assign && previous && starts && sizes && counts && planes && offset;
    if (ok && s < n) {
        sample = nearkit_alloc_array((size_t)s, nbytes);
        ok = sample != NULL;
        if (ok) {
            sample_positions(rows, n, s, &rng);
            for (uint64_t i = 0; i < s; i++)
                memcpy(sample + i * nbytes, codes + rows[i] * nbytes, nbytes);
        }
    }
    if (ok) {
        kmeans_state st = {sample ? sample : codes, s, k, nbytes, centroids, planes, offset,
                           assign, starts, rows, sizes, counts};
        sample_positions(rows, s, k, &rng);
        for (uint32_t c = 0; c < k; c++) set_cluster(&st, c, rows[c]);
        for (uint32_t it = 0; it < iterations; it++) {
            nearkit_parallel_for(threads, s, ASSIGN_CHUNK, assign_mean_range, &st);
            if (it > 0 && count_changes(assign, previous, s) <= s / 1000) break; /* converged */
            memcpy(previous, assign, (size_t)s * sizeof *assign);
            group_members(&st);
            nearkit_parallel_for(threads, k, 16, update_range, &st);
            reseed_empty(&st, &rng);
        }
    }
    free(sample);
    free(rows), free(assign), free(previous), free(starts), free(sizes), free(counts);
    free(planes), free(offset);
    return ok ? NEARKIT_OK : nearkit_oom();
}
