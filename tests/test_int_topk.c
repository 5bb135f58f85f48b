/* The integer top-k selection (core/base/int_topk.c) used by the binary kinds: random candidates in
 * random blocks, few or many distinct distances, positions or explicit (repeating) ids as the
 * tie-break, k below and above the candidate count; always the reference order of sorting every
 * candidate by (distance, id). */
#include "base/int_topk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static int compare_keys(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return (*x > *y) - (*x < *y);
}

int main(void) {
    uint64_t rng = 12345;
    int bad = 0;
    for (int trial = 0; trial < 3000; trial++) {
        size_t n = 1 + next(&rng) % 2000;
        uint32_t range = 1 + (uint32_t)(next(&rng) % (trial % 3 == 0 ? 3 : 300));
        uint64_t k = 1 + next(&rng) % (n + 5);
        uint32_t *dist = malloc(n * sizeof *dist), *pos = malloc(n * sizeof *pos);
        int64_t *ids = malloc(n * sizeof *ids);
        bool explicit_ids = trial & 1;
        for (size_t i = 0; i < n; i++) {
            dist[i] = (uint32_t)(next(&rng) % range);
            pos[i] = (uint32_t)i;
            ids[i] = (int64_t)(next(&rng) % (trial % 5 == 0 ? 7 : 100000)) - 50;
        }
        nearkit_int_topk t;
        CHECK(nearkit_int_topk_init(&t, k, explicit_ids ? ids : NULL, trial % 7 == 0 ? 1u << 20 : range));
        for (size_t at = 0; at < n;) {
            size_t m = 1 + next(&rng) % 100;
            if (at + m > n) m = n - at;
            if (m == 1) nearkit_int_topk_push(&t, dist[at], pos[at]);
            else nearkit_int_topk_add(&t, dist + at, pos + at, m);
            at += m;
        }
        int64_t *out_ids = malloc(k * sizeof *out_ids);
        float *out_dist = malloc(k * sizeof *out_dist);
        nearkit_int_topk_emit(&t, out_ids, out_dist);
        uint64_t *key = malloc(n * sizeof *key); /* distance, then id (offset to stay positive) */
        for (size_t i = 0; i < n; i++)
            key[i] = (uint64_t)dist[i] << 40 | (uint64_t)((explicit_ids ? ids[i] : (int64_t)i) + 1000);
        qsort(key, n, sizeof *key, compare_keys);
        for (uint64_t j = 0; j < k; j++) {
            bool ok = j < n ? out_ids[j] == (int64_t)(key[j] & ((1ull << 40) - 1)) - 1000 &&
                                  out_dist[j] == (float)(key[j] >> 40)
                            : out_ids[j] == -1 && isinf(out_dist[j]);
            if (!ok) {
                bad++;
                break;
            }
        }
        nearkit_int_topk_free(&t);
        free(dist), free(pos), free(ids), free(out_ids), free(out_dist), free(key);
    }
    CHECK(bad == 0);
    return check_summary("test_int_topk");
}
