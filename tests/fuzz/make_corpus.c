/* The fuzz harnesses' seed corpus: one small saved index of every kind, every metric it
 * supports and every state its file can record (empty, unbuilt, built, built with rows added
 * since, with and without explicit ids).
 *
 *   fuzz_make_corpus DIR          writes the seeds into DIR (tests/fuzz/corpus is committed)
 *   fuzz_make_corpus --check DIR  loads every file in DIR; fails when one does not load
 *
 * The data is generated, so the corpus regenerates byte for byte on the machine that wrote it
 * (k-means may round differently on another CPU; any of those files is an equally good seed). */
#define _POSIX_C_SOURCE 200809L
#include "nearkit.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 24, LATE_ROWS = 5, FLOAT_DIM = 8, MAX_BITS = 128 };

typedef enum seed_state {
    EMPTY,       /* created and saved */
    ADDED,       /* vectors added, never built or trained */
    BUILT,       /* built (trained) */
    BUILT_LATE,  /* built, then LATE_ROWS more added */
} seed_state;

typedef struct seed {
    nearkit_kind kind;
    nearkit_metric metric;
    uint32_t dimension;
    seed_state state;
    bool ids;
    const char *params;
} seed;

static const seed seeds[] = {
    {NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, FLOAT_DIM, EMPTY, false, NULL},
    {NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, FLOAT_DIM, ADDED, false, NULL},
    {NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, FLOAT_DIM, ADDED, true, NULL},
    {NEARKIT_KIND_FLAT, NEARKIT_METRIC_L1, FLOAT_DIM, ADDED, false, NULL},
    {NEARKIT_KIND_FLAT, NEARKIT_METRIC_LINF, FLOAT_DIM, ADDED, true, NULL},
    {NEARKIT_KIND_FLAT, NEARKIT_METRIC_COSINE, FLOAT_DIM, ADDED, false, NULL},
    {NEARKIT_KIND_FLAT, NEARKIT_METRIC_IP, FLOAT_DIM, ADDED, true, NULL},
    {NEARKIT_KIND_FLAT, NEARKIT_METRIC_HAMMING, 64, ADDED, false, NULL},
    {NEARKIT_KIND_FLAT, NEARKIT_METRIC_HAMMING, 64, EMPTY, false, NULL},
    {NEARKIT_KIND_VPTREE, NEARKIT_METRIC_L2, FLOAT_DIM, BUILT, false, "leaf_size=3"},
    {NEARKIT_KIND_VPTREE, NEARKIT_METRIC_L2, FLOAT_DIM, BUILT_LATE, true, "leaf_size=2"},
    {NEARKIT_KIND_VPTREE, NEARKIT_METRIC_L2, FLOAT_DIM, ADDED, false, NULL},
    {NEARKIT_KIND_VPTREE, NEARKIT_METRIC_L1, FLOAT_DIM, BUILT, true, "leaf_size=3"},
    {NEARKIT_KIND_VPTREE, NEARKIT_METRIC_LINF, FLOAT_DIM, BUILT, false, "leaf_size=3"},
    {NEARKIT_KIND_VPTREE, NEARKIT_METRIC_COSINE, FLOAT_DIM, BUILT_LATE, false, "leaf_size=3"},
    {NEARKIT_KIND_VPTREE, NEARKIT_METRIC_HAMMING, 64, BUILT, false, "leaf_size=3"},
    {NEARKIT_KIND_VPTREE, NEARKIT_METRIC_HAMMING, 64, EMPTY, false, NULL},
    {NEARKIT_KIND_BKTREE, NEARKIT_METRIC_HAMMING, 64, BUILT, false, "leaf_size=2"},
    {NEARKIT_KIND_BKTREE, NEARKIT_METRIC_HAMMING, 64, BUILT_LATE, true, "leaf_size=1"},
    {NEARKIT_KIND_BKTREE, NEARKIT_METRIC_HAMMING, 16, ADDED, false, NULL},
    {NEARKIT_KIND_MIH, NEARKIT_METRIC_HAMMING, 64, BUILT, false, "m=16"}, /* direct tables */
    {NEARKIT_KIND_MIH, NEARKIT_METRIC_HAMMING, 128, BUILT, true, "m=2,max_radius=20"}, /* hashed */
    {NEARKIT_KIND_MIH, NEARKIT_METRIC_HAMMING, 64, BUILT_LATE, false, "m=3"},
    {NEARKIT_KIND_MIH, NEARKIT_METRIC_HAMMING, 64, ADDED, false, "m=2"},
    {NEARKIT_KIND_MIH, NEARKIT_METRIC_HAMMING, 64, EMPTY, false, NULL},
    {NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, FLOAT_DIM, BUILT, false, "nlist=4,nprobe=2"},
    {NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, FLOAT_DIM, ADDED, true, "nlist=3"},
    {NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, FLOAT_DIM, EMPTY, false, NULL},
    {NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_COSINE, FLOAT_DIM, BUILT_LATE, true, "nlist=3,train_init=1"},
    {NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_IP, FLOAT_DIM, BUILT, false, "nlist=4,nprobe=4"},
    {NEARKIT_KIND_IVF_BINARY, NEARKIT_METRIC_HAMMING, 64, BUILT, false, "nlist=4,nprobe=2"},
    {NEARKIT_KIND_IVF_BINARY, NEARKIT_METRIC_HAMMING, 64, BUILT_LATE, true, "nlist=3"},
    {NEARKIT_KIND_IVF_BINARY, NEARKIT_METRIC_HAMMING, 64, ADDED, false, NULL},
    {NEARKIT_KIND_HNSW, NEARKIT_METRIC_L2, FLOAT_DIM, ADDED, false, "M=4,ef_construction=16"},
    {NEARKIT_KIND_HNSW, NEARKIT_METRIC_COSINE, FLOAT_DIM, ADDED, true, "M=3,ef_construction=8"},
    {NEARKIT_KIND_HNSW, NEARKIT_METRIC_IP, FLOAT_DIM, EMPTY, false, NULL},
    {NEARKIT_KIND_HNSW, NEARKIT_METRIC_HAMMING, 64, ADDED, false, "M=2,ef_construction=4"},
    {NEARKIT_KIND_IVF_FP16, NEARKIT_METRIC_L2, FLOAT_DIM, BUILT, false, "nlist=4,nprobe=2"},
    {NEARKIT_KIND_IVF_BF16, NEARKIT_METRIC_COSINE, FLOAT_DIM, BUILT_LATE, true, "nlist=3,refine=2"},
    {NEARKIT_KIND_IVF_SQ8, NEARKIT_METRIC_L2, FLOAT_DIM, BUILT_LATE, true, "nlist=3,refine=3"},
    {NEARKIT_KIND_IVF_SQ8, NEARKIT_METRIC_IP, FLOAT_DIM, ADDED, false, NULL},
    {NEARKIT_KIND_IVF_SQ4, NEARKIT_METRIC_COSINE, FLOAT_DIM - 1, BUILT, true, "nlist=4"},
    {NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, FLOAT_DIM, BUILT_LATE, true, "nlist=3,m=4,refine=2"},
    {NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_IP, FLOAT_DIM, BUILT, false, "nlist=2"},
    {NEARKIT_KIND_RPFOREST, NEARKIT_METRIC_L2, FLOAT_DIM, BUILT_LATE, true, "n_trees=3,leaf_size=4"},
    {NEARKIT_KIND_RPFOREST, NEARKIT_METRIC_COSINE, FLOAT_DIM, BUILT, false, "n_trees=2,leaf_size=3,split=1"},
    {NEARKIT_KIND_RPFOREST, NEARKIT_METRIC_IP, FLOAT_DIM, BUILT, true, "n_trees=3,leaf_size=5,shared_projections=4"},
    {NEARKIT_KIND_RPFOREST, NEARKIT_METRIC_HAMMING, 64, BUILT, false, "n_trees=2,leaf_size=4"},
    {NEARKIT_KIND_HNSW_SQ8, NEARKIT_METRIC_L2, FLOAT_DIM, BUILT_LATE, true, "M=4,ef_construction=16,refine=2"},
    {NEARKIT_KIND_HNSW_SQ8, NEARKIT_METRIC_IP, FLOAT_DIM, EMPTY, false, NULL},
    {NEARKIT_KIND_HNSW_FP16, NEARKIT_METRIC_COSINE, FLOAT_DIM, ADDED, false, "M=3,ef_construction=8"},
    {NEARKIT_KIND_HNSW_BF16, NEARKIT_METRIC_L2, FLOAT_DIM, ADDED, true, "M=3,ef_construction=8,refine=1"},
    {NEARKIT_KIND_HNSW_SQ4, NEARKIT_METRIC_COSINE, FLOAT_DIM - 1, ADDED, false, "M=4,ef_construction=16"},
    /* ivf_pq's fast scan (nbits=4: interleaved lists); d 7: an odd number of sub-spaces */
    {NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_COSINE, FLOAT_DIM, BUILT_LATE, true, "nlist=3,nbits=4,refine=2"},
    {NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, FLOAT_DIM - 1, BUILT, false, "nlist=2,nbits=4"},
    /* brute force over codes: the ivf codec kinds with one list (fp16 / bf16 trained by the first add) */
    {NEARKIT_KIND_FLAT_FP16, NEARKIT_METRIC_L2, FLOAT_DIM, ADDED, true, "refine=2"},
    {NEARKIT_KIND_FLAT_BF16, NEARKIT_METRIC_COSINE, FLOAT_DIM, EMPTY, false, NULL},
    {NEARKIT_KIND_FLAT_SQ8, NEARKIT_METRIC_IP, FLOAT_DIM, BUILT_LATE, true, "refine=3"},
    {NEARKIT_KIND_FLAT_SQ4, NEARKIT_METRIC_L2, FLOAT_DIM - 1, ADDED, false, NULL},
    {NEARKIT_KIND_FLAT_PQ, NEARKIT_METRIC_COSINE, FLOAT_DIM, BUILT, false, "m=4,nbits=4"},
    /* ivf_rabitq: residual codes (ip: a third factor); d 7: padded to 64 bits */
    {NEARKIT_KIND_IVF_RABITQ, NEARKIT_METRIC_L2, FLOAT_DIM, BUILT_LATE, true, "nlist=3,refine=2"},
    {NEARKIT_KIND_IVF_RABITQ, NEARKIT_METRIC_IP, FLOAT_DIM - 1, BUILT, false, "nlist=2"},
};

static uint32_t next_value(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

/* Three clusters of small integers (codes: of three bit patterns with noise), so duplicates and
 * equal distances occur as in real data. */
static void fill_vectors(void *out, const nearkit_index *ix, uint64_t n, uint64_t *state) {
    uint64_t bytes = nearkit_index_vector_bytes(ix);
    if (nearkit_index_vector_type(ix) == NEARKIT_VECTOR_BINARY) {
        uint8_t *codes = out;
        for (uint64_t i = 0; i < n * bytes; i++) {
            uint32_t noise = next_value(state);
            codes[i] = (uint8_t)((i / bytes % 3) * 0x55 ^ (noise % 4 == 0 ? noise : 0));
        }
        return;
    }
    float *v = out;
    uint64_t dim = bytes / sizeof(float);
    for (uint64_t i = 0; i < n * dim; i++) v[i] = (float)((int)(i / dim % 3) * 4 + (int)(next_value(state) % 5) - 2);
}

static int add_rows(nearkit_index *ix, uint64_t n, bool with_ids, uint64_t *state) {
    uint64_t bytes = nearkit_index_vector_bytes(ix);
    uint8_t *v = malloc(n * bytes);
    int64_t ids[ROWS];
    uint64_t first = nearkit_index_count(ix);
    for (uint64_t i = 0; i < n; i++) ids[i] = 1000 - 7 * (int64_t)(first + i);
    fill_vectors(v, ix, n, state);
    nearkit_status st = nearkit_index_add(ix, nearkit_index_vector_type(ix), v, n, with_ids ? ids : NULL);
    free(v);
    return st;
}

static nearkit_status make_seed(nearkit_index **out, const seed *s) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = 1;
    o.params = s->params;
    nearkit_status st = nearkit_index_create(out, s->kind, s->metric, s->dimension, &o);
    uint64_t state = 0x5EED0000u + (uint64_t)s->kind * 131 + (uint64_t)s->metric * 17 + s->state;
    if (st || s->state == EMPTY) return st;
    if ((st = add_rows(*out, ROWS, s->ids, &state))) return st;
    if (s->state == ADDED) return NEARKIT_OK;
    if ((st = nearkit_index_build(*out))) return st;
    if (s->state == BUILT_LATE) st = add_rows(*out, LATE_ROWS, s->ids, &state);
    return st;
}

static const char *state_name(seed_state state) {
    static const char *const names[] = {"empty", "added", "built", "built-late"};
    return names[state];
}

static int write_corpus(const char *dir) {
    int failures = 0;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        const seed *s = &seeds[i];
        char path[512];
        snprintf(path, sizeof path, "%s/%s-%s-d%u-%s%s.nkx", dir, nearkit_kind_name(s->kind),
                 nearkit_metric_name(s->metric), s->dimension, state_name(s->state), s->ids ? "-ids" : "");
        nearkit_index *ix = NULL;
        nearkit_status st = make_seed(&ix, s);
        if (!st) st = nearkit_index_save(ix, path);
        if (st) {
            fprintf(stderr, "%s: %s\n", path, nearkit_last_error_message());
            failures++;
        }
        nearkit_index_free(ix);
    }
    return failures;
}

static int check_corpus(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    int failures = 0, files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        nearkit_index *ix = NULL;
        if (nearkit_index_load(&ix, path) != NEARKIT_OK) {
            fprintf(stderr, "seed does not load: %s\n", nearkit_last_error_message());
            failures++;
        }
        nearkit_index_free(ix);
        files++;
    }
    closedir(d);
    printf("%d seeds, %d do not load\n", files, failures);
    return failures || files == 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--check") == 0) return check_corpus(argv[2]);
    if (argc == 2 && argv[1][0] != '-') return write_corpus(argv[1]) != 0;
    fprintf(stderr, "usage: fuzz_make_corpus DIR | fuzz_make_corpus --check DIR\n");
    return 2;
}
