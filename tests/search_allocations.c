/* A one-query search allocates nothing once its thread has searched before (issue 18: "no per-call
 * allocation on the search path"). Built against the static library with the linker's --wrap, so
 * every malloc, calloc, realloc and aligned allocation the library makes comes through the
 * counters below; OpenBLAS, a shared library, is not counted, and a single query never calls it.
 *
 * Kinds: flat (l2, cosine), flat_sq8, flat_pq, ivf_flat, ivf_binary, ivf_sq8, ivf_pq (8 and 4
 * bits), ivf_rabitq, vptree, bktree, mih, hnsw, hnsw_sq8 and rpforest. Each case warms one thread
 * up with a call of its shape, then makes ROUNDS one-query calls and requires no allocation among
 * them. Between cases the shape changes (another index, another k,
 * another kind) so that the kept scratch is re-made where it does not fit, and the answers are
 * checked against the same queries searched as one batch, which never takes a kept scratch. The
 * last cases free an index while the thread still holds a scratch made for it, then search a new
 * one, and let searching threads exit holding scratch (AddressSanitizer builds of the library
 * are not used here: --wrap and its interceptors do not mix; test_threads_asan covers those). */
#include "nearkit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
int __real_posix_memalign(void **p, size_t alignment, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);

static _Thread_local unsigned long allocations;

void *__wrap_malloc(size_t size) {
    allocations++;
    return __real_malloc(size);
}
void *__wrap_calloc(size_t n, size_t size) {
    allocations++;
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t size) {
    allocations++;
    return __real_realloc(p, size);
}
int __wrap_posix_memalign(void **p, size_t alignment, size_t size) {
    allocations++;
    return __real_posix_memalign(p, alignment, size);
}
void *__wrap_aligned_alloc(size_t alignment, size_t size) {
    allocations++;
    return __real_aligned_alloc(alignment, size);
}

enum { N = 6000, D = 48, BITS = 256, Q = 40, ROUNDS = 200 };

static float base[N * D], queries[Q * D];
static uint8_t codes[N * BITS / 8], code_queries[Q * BITS / 8];

static void fill(void) {
    uint64_t s = 11;
    for (size_t i = 0; i < N * D; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        /* 20 clusters, so that IVF's lists differ in size */
        base[i] = (float)((i / D) % 20) + (float)(s >> 40) / (float)(1 << 24);
    }
    for (size_t i = 0; i < Q * D; i++) queries[i] = base[(i * 7) % (N * D)] + 0.05f;
    for (size_t i = 0; i < sizeof codes; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        codes[i] = (uint8_t)(s >> 56);
    }
    for (size_t i = 0; i < sizeof code_queries; i++) code_queries[i] = codes[(i * 5) % sizeof codes] ^ 1u;
}

static nearkit_index *make(uint32_t kind, nearkit_metric metric, const char *params) {
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = 1;
    o.params = params;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, kind, metric, metric == NEARKIT_METRIC_HAMMING ? BITS : D, &o),
                 NEARKIT_OK);
    bool binary = metric == NEARKIT_METRIC_HAMMING;
    CHECK_STATUS(nearkit_index_add(ix, binary ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32,
                                   binary ? (const void *)codes : (const void *)base, N, NULL),
                 NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    return ix;
}

static const void *query_at(const nearkit_index *ix, int q) {
    return nearkit_index_metric(ix) == NEARKIT_METRIC_HAMMING ? (const void *)(code_queries + q * (BITS / 8))
                                                               : (const void *)(queries + q * D);
}

static nearkit_vector_type type_of(const nearkit_index *ix) {
    return nearkit_index_metric(ix) == NEARKIT_METRIC_HAMMING ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32;
}

/* ROUNDS one-query calls after a warm-up call: none allocates, and each answers as the batch does
 * (k <= 16). Says why where it fails. */
static bool one_query_calls_allocate_nothing(const char *what, const nearkit_index *ix, uint64_t k) {
    int64_t batch_ids[Q * 16], ids[16];
    float batch_dist[Q * 16], dist[16];
    int wrong = 0;
    if (nearkit_index_search(batch_ids, batch_dist, ix, type_of(ix), query_at(ix, 0), Q, k, NULL)) wrong++;
    if (nearkit_index_search(ids, dist, ix, type_of(ix), query_at(ix, 0), 1, k, NULL)) wrong++;
    unsigned long before = allocations;
    for (int r = 0; r < ROUNDS; r++) {
        int q = r % Q;
        if (nearkit_index_search(ids, dist, ix, type_of(ix), query_at(ix, q), 1, k, NULL) != NEARKIT_OK) wrong++;
        if (memcmp(ids, batch_ids + q * k, k * sizeof *ids) || memcmp(dist, batch_dist + q * k, k * sizeof *dist))
            wrong++;
    }
    unsigned long made = allocations - before;
    if (made || wrong) fprintf(stderr, "%s, k %llu: %lu allocations in %d calls, %d wrong answers\n", what,
                               (unsigned long long)k, made, ROUNDS, wrong);
    return made == 0 && wrong == 0;
}

static void *search_and_exit(void *arg) {
    static bool failed_[1];
    return one_query_calls_allocate_nothing("ivf_flat l2 on a thread that then exits", arg, 10) ? NULL : failed_;
}

int main(void) {
    fill();
    nearkit_index *flat = make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, NULL);
    CHECK(allocations > 0); /* the counters see the library's allocations */
    nearkit_index *cosine = make(NEARKIT_KIND_FLAT, NEARKIT_METRIC_COSINE, NULL);
    nearkit_index *ivf = make(NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, "nlist=40,nprobe=4");
    nearkit_index *ivf_small = make(NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, "nlist=8,nprobe=2");
    nearkit_index *ivf_binary = make(NEARKIT_KIND_IVF_BINARY, NEARKIT_METRIC_HAMMING, "nlist=16,nprobe=3");
    nearkit_index *vptree = make(NEARKIT_KIND_VPTREE, NEARKIT_METRIC_L2, NULL);
    nearkit_index *bktree = make(NEARKIT_KIND_BKTREE, NEARKIT_METRIC_HAMMING, NULL);
    nearkit_index *mih = make(NEARKIT_KIND_MIH, NEARKIT_METRIC_HAMMING, NULL);
    nearkit_index *hnsw = make(NEARKIT_KIND_HNSW, NEARKIT_METRIC_L2, "M=8,ef_construction=40,ef_search=1000");

    CHECK(one_query_calls_allocate_nothing("flat l2", flat, 10));
    CHECK(one_query_calls_allocate_nothing("flat cosine", cosine, 10));
    CHECK(one_query_calls_allocate_nothing("ivf_flat l2", ivf, 10));
    CHECK(one_query_calls_allocate_nothing("ivf_flat l2, another nlist", ivf_small, 10));
    CHECK(one_query_calls_allocate_nothing("ivf_flat l2, another k", ivf, 3));
    CHECK(one_query_calls_allocate_nothing("ivf_binary hamming", ivf_binary, 10));
    CHECK(one_query_calls_allocate_nothing("vptree l2", vptree, 10));
    CHECK(one_query_calls_allocate_nothing("bktree hamming", bktree, 10));
    CHECK(one_query_calls_allocate_nothing("bktree hamming, k 1", bktree, 1));
    CHECK(one_query_calls_allocate_nothing("mih hamming", mih, 10));
    CHECK(one_query_calls_allocate_nothing("mih hamming, k 1", mih, 1));
    CHECK(one_query_calls_allocate_nothing("hnsw l2", hnsw, 10));
    /* the code kinds' scanner: sq8 with a re-rank, pq8 and the pq4 fast scan */
    nearkit_index *sq8 = make(NEARKIT_KIND_IVF_SQ8, NEARKIT_METRIC_L2, "nlist=40,nprobe=4,refine=4");
    nearkit_index *pq8 = make(NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, "nlist=40,nprobe=4,m=8");
    nearkit_index *pq4 = make(NEARKIT_KIND_IVF_PQ, NEARKIT_METRIC_L2, "nlist=40,nprobe=4,m=16,nbits=4");
    CHECK(one_query_calls_allocate_nothing("ivf_sq8 l2, refine 4", sq8, 10));
    CHECK(one_query_calls_allocate_nothing("ivf_pq l2, m 8", pq8, 10));
    CHECK(one_query_calls_allocate_nothing("ivf_pq l2, m 16 x 4 bits", pq4, 10));
    CHECK(one_query_calls_allocate_nothing("ivf_sq8 l2, refine 4, k 1", sq8, 1));
    nearkit_index *flat_sq8 = make(NEARKIT_KIND_FLAT_SQ8, NEARKIT_METRIC_L2, NULL);
    nearkit_index *flat_pq = make(NEARKIT_KIND_FLAT_PQ, NEARKIT_METRIC_L2, "m=16,nbits=4");
    nearkit_index *hnsw_sq8 = make(NEARKIT_KIND_HNSW_SQ8, NEARKIT_METRIC_L2, "M=8,ef_construction=40,ef_search=64");
    CHECK(one_query_calls_allocate_nothing("flat_sq8 l2", flat_sq8, 10));
    CHECK(one_query_calls_allocate_nothing("flat_pq l2, m 16 x 4 bits", flat_pq, 10));
    CHECK(one_query_calls_allocate_nothing("hnsw_sq8 l2", hnsw_sq8, 10));
    nearkit_index_free(flat_sq8);
    nearkit_index_free(flat_pq);
    nearkit_index_free(hnsw_sq8);
    nearkit_index *rabitq = make(NEARKIT_KIND_IVF_RABITQ, NEARKIT_METRIC_L2, "nlist=40,nprobe=4,refine=4");
    CHECK(one_query_calls_allocate_nothing("ivf_rabitq l2, refine 4", rabitq, 10));
    nearkit_index_free(rabitq);
    nearkit_index_free(sq8);
    nearkit_index_free(pq8);
    nearkit_index_free(pq4);
    nearkit_index *forest = make(NEARKIT_KIND_RPFOREST, NEARKIT_METRIC_L2, "n_trees=8");
    CHECK(one_query_calls_allocate_nothing("rpforest l2", forest, 10));
    CHECK(one_query_calls_allocate_nothing("rpforest l2, k 1", forest, 1));
    nearkit_index_free(forest);
    CHECK(one_query_calls_allocate_nothing("ivf_flat l2 again", ivf, 10));

    /* the thread holds a scratch made for ivf_small's shape: free it, then search one made anew */
    nearkit_index_free(ivf_small);
    nearkit_index *ivf_again = make(NEARKIT_KIND_IVF_FLAT, NEARKIT_METRIC_L2, "nlist=8,nprobe=2");
    CHECK(one_query_calls_allocate_nothing("ivf_flat l2 after the last one was freed", ivf_again, 10));
    nearkit_index_free(ivf_again);
    /* and an hnsw index, whose kept scratch gave its visited set back to the freed index's pool */
    nearkit_index *hnsw_again = make(NEARKIT_KIND_HNSW, NEARKIT_METRIC_L2, "M=8,ef_construction=40,ef_search=1000");
    CHECK(one_query_calls_allocate_nothing("hnsw l2", hnsw_again, 10));
    nearkit_index_free(hnsw_again);
    nearkit_index *hnsw_new = make(NEARKIT_KIND_HNSW, NEARKIT_METRIC_L2, "M=8,ef_construction=40,ef_search=1000");
    CHECK(one_query_calls_allocate_nothing("hnsw l2 after the last one was freed", hnsw_new, 10));
    nearkit_index_free(hnsw_new);

    pthread_t threads[4];
    for (int t = 0; t < 4; t++) CHECK(pthread_create(&threads[t], NULL, search_and_exit, ivf) == 0);
    for (int t = 0; t < 4; t++) {
        void *failed = NULL;
        CHECK(pthread_join(threads[t], &failed) == 0);
        CHECK(failed == NULL);
    }

    nearkit_index_free(flat);
    nearkit_index_free(cosine);
    nearkit_index_free(ivf);
    nearkit_index_free(ivf_binary);
    nearkit_index_free(vptree);
    nearkit_index_free(bktree);
    nearkit_index_free(mih);
    nearkit_index_free(hnsw);
    return check_summary("search_allocations");
}
