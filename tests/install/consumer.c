/* A program written the way a user of the installed nearkit writes one: only <nearkit.h>, linked
 * against the installed library (shared or static). tests/install/run.cmake builds it with
 * find_package(nearkit) and with pkg-config. It checks that the header and the library it runs
 * with agree, builds a small flat index, and checks the one nearest neighbour of a query.
 * Exit status 0 when every check holds. */
#include <nearkit.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "consumer: %s failed: %s (%s)\n", what, nearkit_last_error_message(),
            nearkit_status_name(nearkit_last_error_status()));
    return 1;
}

static int versions_match(void) {
    if (nearkit_abi_version() != NEARKIT_ABI_VERSION ||
        strcmp(nearkit_version_string(), NEARKIT_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: header %s (ABI %d), library %s (ABI %u)\n", NEARKIT_VERSION_STRING,
                NEARKIT_ABI_VERSION, nearkit_version_string(), (unsigned)nearkit_abi_version());
        return 0;
    }
    return 1;
}

int main(void) {
    if (!versions_match()) return 1;
    /* 64 points on a line in 8 dimensions; the query is closest to point 41. */
    enum { N = 64, D = 8 };
    static float base[N][D];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) base[i][j] = (float)i + 0.125f * (float)j;
    float query[D];
    for (int j = 0; j < D; j++) query[j] = base[41][j] + 0.2f;

    nearkit_index *index = NULL;
    nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT;
    if (nearkit_index_create(&index, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, D, &options))
        return fail("create");
    if (nearkit_index_add(index, NEARKIT_VECTOR_FLOAT32, base, N, NULL)) return fail("add");
    int64_t id = -1;
    float distance = -1.0f;
    if (nearkit_index_search(&id, &distance, index, NEARKIT_VECTOR_FLOAT32, query, 1, 1, NULL))
        return fail("search");
    nearkit_index_free(index);
    if (id != 41) {
        fprintf(stderr, "consumer: nearest neighbour %lld at %g, expected 41\n", (long long)id, distance);
        return 1;
    }
    printf("consumer: nearkit %s, nearest neighbour 41 at %.4f\n", nearkit_version_string(), distance);
    return 0;
}
