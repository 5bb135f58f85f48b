/* The README's C example: build a flat index, search it, save and load it.
 *   cc examples/search.c -Iinclude -Lbuild -lnearkit -o search && LD_LIBRARY_PATH=build ./search */
#include <nearkit.h>
#include <stdio.h>

static int fail(const char *what) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, nearkit_last_error_message(),
            nearkit_status_name(nearkit_last_error_status()));
    return 1;
}

int main(void) {
    float base[4][3] = {{0, 0, 0}, {1, 0, 0}, {0, 2, 0}, {3, 3, 3}};
    float query[3] = {0.9f, 0.1f, 0};
    nearkit_index *index = NULL;
    nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT; /* defaults; every core */
    if (nearkit_index_create(&index, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 3, &options))
        return fail("create");
    if (nearkit_index_add(index, NEARKIT_VECTOR_FLOAT32, base, 4, NULL)) /* ids 0..3 */
        return fail("add");
    int64_t ids[2];
    float distances[2];
    if (nearkit_index_search(ids, distances, index, NEARKIT_VECTOR_FLOAT32, query, 1, 2, NULL))
        return fail("search");
    for (int i = 0; i < 2; i++) printf("neighbour %d: id %lld at %.4f\n", i, (long long)ids[i], distances[i]);
    if (nearkit_index_save(index, "example.nkx")) return fail("save");
    nearkit_index_free(index);
    if (nearkit_index_load(&index, "example.nkx")) return fail("load");
    printf("loaded %llu vectors\n", (unsigned long long)nearkit_index_count(index));
    nearkit_index_free(index);
    return 0;
}
