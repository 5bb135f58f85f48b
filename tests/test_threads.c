/* Concurrent searches on one index from many threads, each batch itself parallel through the
 * library's pool, give exactly the single-threaded answers. Small batches (GEMM path) from many
 * threads at once also catch a BLAS that is not safe to call concurrently. */
#include "nearkit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

enum { N = 20000, D = 32, Q = 300, K = 5, THREADS = 8, ROUNDS = 9 };

static float base[N * D], queries[Q * D];
static int64_t expected_ids[Q * K];
static float expected_dist[Q * K];
static nearkit_index *shared_index;

static void *searcher(void *arg) {
    int *mismatches = arg;
    int64_t *ids = malloc(sizeof(int64_t) * Q * K);
    float *dist = malloc(sizeof(float) * Q * K);
    nearkit_search_options so = NEARKIT_SEARCH_OPTIONS_INIT;
    so.num_threads = 2;
    for (int r = 0; r < ROUNDS; r++) {
        /* whole batches, small batches (both GEMM path) and single queries (kernel path) */
        if (r % 3 == 2) {
            for (int q = 0; q < Q; q += 10)
                if (nearkit_index_search(ids + q * K, dist + q * K, shared_index, NEARKIT_VECTOR_FLOAT32,
                                         queries + q * D, 10, K, NULL))
                    (*mismatches)++;
        } else if (r % 3 == 0) {
            if (nearkit_index_search(ids, dist, shared_index, NEARKIT_VECTOR_FLOAT32, queries, Q, K, &so))
                (*mismatches)++;
        } else {
            for (int q = 0; q < Q; q++)
                if (nearkit_index_search(ids + q * K, dist + q * K, shared_index, NEARKIT_VECTOR_FLOAT32,
                                         queries + q * D, 1, K, NULL))
                    (*mismatches)++;
        }
        if (memcmp(ids, expected_ids, sizeof expected_ids) != 0) (*mismatches)++;
        if (memcmp(dist, expected_dist, sizeof expected_dist) != 0) (*mismatches)++;
    }
    free(ids);
    free(dist);
    return NULL;
}

int main(void) {
    uint64_t s = 7;
    for (size_t i = 0; i < N * D; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        base[i] = (float)(s >> 40) / (float)(1 << 24);
    }
    for (size_t i = 0; i < Q * D; i++) queries[i] = base[i * 3 % (N * D)] + 0.01f;
    nearkit_index_options o = NEARKIT_INDEX_OPTIONS_INIT;
    o.num_threads = 1;
    CHECK_STATUS(nearkit_index_create(&shared_index, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, D, &o), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(shared_index, NEARKIT_VECTOR_FLOAT32, base, N, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_search(expected_ids, expected_dist, shared_index, NEARKIT_VECTOR_FLOAT32, queries, Q,
                                      K, NULL),
                 NEARKIT_OK);
    pthread_t threads[THREADS];
    int mismatches[THREADS] = {0};
    for (int t = 0; t < THREADS; t++) CHECK(pthread_create(&threads[t], NULL, searcher, &mismatches[t]) == 0);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        CHECK(mismatches[t] == 0);
    }
    nearkit_index_free(shared_index);
    return check_summary("test_threads");
}
