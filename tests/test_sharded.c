/* The sharded collection (nearkit_sharded_*): on every golden k-NN case, flat shards holding the
 * rows dealt round-robin (ids global) answer exactly as one flat index over the union, ids,
 * distances and tie order, by both fan-out paths (shards in turn, shards side by side); a save /
 * open round trip and a manifest written for shard files saved apart answer the same; bad
 * manifests, missing or mismatched shard files and every truncation and byte flip of a manifest
 * are refused with an error, never a crash. */
#define _DEFAULT_SOURCE /* mkdtemp */
#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "golden_util.h"

enum { SHARDS = 3 };

static char scratch_dir[64];

static void path_in(char *out, size_t size, const char *dir, const char *file) {
    snprintf(out, size, "%s/%s", dir, file);
}

static void write_text(const char *dir, const char *file, const char *text, size_t n) {
    char path[256];
    path_in(path, sizeof path, dir, file);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(text, 1, n, f) == n);
    fclose(f);
}

static char *read_text(const char *dir, const char *file, size_t *n) {
    char path[256];
    path_in(path, sizeof path, dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = calloc(1, 1 << 16);
    *n = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    return text;
}

/* SHARDS flat shards; row i goes to shard i % SHARDS with id i. */
static nearkit_sharded *deal_rows(const golden_dataset *d, nearkit_metric metric) {
    nearkit_sharded *s = NULL;
    CHECK_STATUS(nearkit_sharded_create(&s, NULL), NEARKIT_OK);
    unsigned char *rows = malloc(d->count * d->vector_bytes + 1);
    int64_t *ids = malloc(d->count * sizeof *ids + 1);
    for (int p = 0; p < SHARDS; p++) {
        uint64_t m = 0;
        for (uint64_t i = (uint64_t)p; i < d->count; i += SHARDS, m++) {
            memcpy(rows + m * d->vector_bytes, d->base + i * d->vector_bytes, d->vector_bytes);
            ids[m] = (int64_t)i;
        }
        nearkit_index *shard = NULL;
        CHECK_STATUS(nearkit_index_create(&shard, NEARKIT_KIND_FLAT, metric, d->dimension, NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(shard, d->vector_type, rows, m, ids), NEARKIT_OK);
        CHECK_STATUS(nearkit_sharded_add_shard(s, shard), NEARKIT_OK);
    }
    free(rows);
    free(ids);
    return s;
}

/* Whether the collection answers every query as `want` / `want_d` do, bit for bit: in one batch
 * (shards in turn) and query by query on two threads (shards side by side). */
static int answers_equal(const nearkit_sharded *s, const golden_dataset *d, uint64_t k, const int64_t *want,
                         const float *want_d) {
    uint64_t n = d->query_count;
    int64_t *ids = malloc(n * k * sizeof *ids);
    float *dist = malloc(n * k * sizeof *dist);
    int same = nearkit_sharded_search(ids, dist, s, d->vector_type, d->queries, n, k, NULL) == NEARKIT_OK &&
               memcmp(ids, want, n * k * sizeof *ids) == 0 && memcmp(dist, want_d, n * k * sizeof *dist) == 0;
    nearkit_search_options two = NEARKIT_SEARCH_OPTIONS_INIT;
    two.num_threads = 2;
    for (uint64_t q = 0; q < n && same; q++)
        same = nearkit_sharded_search(ids, dist, s, d->vector_type, d->queries + q * d->vector_bytes, 1, k, &two) ==
                   NEARKIT_OK &&
               memcmp(ids, want + q * k, k * sizeof *ids) == 0 && memcmp(dist, want_d + q * k, k * sizeof *dist) == 0;
    free(ids);
    free(dist);
    return same;
}

static void test_golden_case(const golden_manifest *gm, const golden_case *c) {
    const golden_dataset *d = &gm->datasets[c->dataset];
    nearkit_index *all = NULL;
    CHECK_STATUS(nearkit_index_create(&all, NEARKIT_KIND_FLAT, c->metric, d->dimension, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(all, d->vector_type, d->base, d->count, NULL), NEARKIT_OK);
    uint64_t n = d->query_count, k = c->k;
    int64_t *want = malloc(n * k * sizeof *want);
    float *want_d = malloc(n * k * sizeof *want_d);
    CHECK_STATUS(nearkit_index_search(want, want_d, all, d->vector_type, d->queries, n, k, NULL), NEARKIT_OK);
    nearkit_sharded *s = deal_rows(d, c->metric);
    CHECK(nearkit_sharded_count(s) == d->count);
    int same = answers_equal(s, d, k, want, want_d);
    if (!same) fprintf(stderr, "golden case %s: the sharded answer differs\n", c->name);
    CHECK(same);
    /* the first case of each vector type also goes through a save and an open */
    static int saved[4];
    if (!saved[d->vector_type]++) {
        char dir[128];
        snprintf(dir, sizeof dir, "%s/%s", scratch_dir, c->name);
        CHECK_STATUS(nearkit_sharded_save(s, dir), NEARKIT_OK);
        nearkit_sharded *back = NULL;
        CHECK_STATUS(nearkit_sharded_open(&back, dir, NULL), NEARKIT_OK);
        CHECK(nearkit_sharded_shard_count(back) == SHARDS && nearkit_sharded_count(back) == d->count);
        CHECK(nearkit_sharded_dimension(back) == d->dimension && nearkit_sharded_metric(back) == c->metric);
        CHECK(back && answers_equal(back, d, k, want, want_d));
        nearkit_sharded_free(back);
        /* the same files opened as views: mapped, read-only, the same answers */
        nearkit_sharded_options views = NEARKIT_SHARDED_OPTIONS_INIT;
        views.view_shards = 1;
        nearkit_sharded *viewed = NULL;
        CHECK_STATUS(nearkit_sharded_open(&viewed, dir, &views), NEARKIT_OK);
        CHECK(viewed && nearkit_sharded_shard_count(viewed) == SHARDS &&
              nearkit_index_is_view(nearkit_sharded_shard(viewed, 0)) &&
              answers_equal(viewed, d, k, want, want_d));
        nearkit_sharded_free(viewed);
        /* a caller compiled before view_shards existed gets loaded shards */
        views.struct_size = (uint32_t)offsetof(nearkit_sharded_options, view_shards);
        CHECK_STATUS(nearkit_sharded_open(&viewed, dir, &views), NEARKIT_OK);
        CHECK(viewed && !nearkit_index_is_view(nearkit_sharded_shard(viewed, 0)));
        nearkit_sharded_free(viewed);
    }
    nearkit_sharded_free(s);
    nearkit_index_free(all);
    free(want);
    free(want_d);
}

/* A collection of two float shards of 2-d points saved in dir; its answer to `query`. */
static void save_small(const char *dir) {
    nearkit_sharded *s = NULL;
    CHECK_STATUS(nearkit_sharded_create(&s, NULL), NEARKIT_OK);
    for (int p = 0; p < 2; p++) {
        float x[8];
        int64_t ids[4];
        for (int i = 0; i < 4; i++) {
            x[2 * i] = (float)(p * 4 + i);
            x[2 * i + 1] = 0.0f;
            ids[i] = p * 4 + i;
        }
        nearkit_index *shard = NULL;
        CHECK_STATUS(nearkit_index_create(&shard, p ? NEARKIT_KIND_VPTREE : NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 2,
                                          NULL), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_add(shard, NEARKIT_VECTOR_FLOAT32, x, 4, ids), NEARKIT_OK);
        CHECK_STATUS(nearkit_index_build(shard), NEARKIT_OK);
        CHECK_STATUS(nearkit_sharded_add_shard(s, shard), NEARKIT_OK);
    }
    CHECK_STATUS(nearkit_sharded_save(s, dir), NEARKIT_OK);
    nearkit_sharded_free(s);
}

static void test_bad_arguments(void) {
    nearkit_sharded *s = NULL;
    int64_t ids[2];
    float dist[2], q[2] = {0, 0};
    CHECK_STATUS(nearkit_sharded_create(NULL, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_sharded_create(&s, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_sharded_search(ids, dist, s, NEARKIT_VECTOR_FLOAT32, q, 1, 2, NULL), NEARKIT_ERR_STATE);
    CHECK_STATUS(nearkit_sharded_save(s, scratch_dir), NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_index *a = NULL, *b = NULL;
    CHECK_STATUS(nearkit_index_create(&a, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 2, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_create(&b, NEARKIT_KIND_FLAT, NEARKIT_METRIC_L2, 3, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_sharded_add_shard(s, a), NEARKIT_OK);
    CHECK_STATUS(nearkit_sharded_add_shard(s, a), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_sharded_add_shard(s, b), NEARKIT_ERR_INVALID_ARGUMENT); /* stays ours */
    CHECK_STATUS(nearkit_sharded_add_shard(s, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_sharded_search(ids, dist, s, NEARKIT_VECTOR_FLOAT32, q, 1, 0, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_sharded_search(ids, dist, s, NEARKIT_VECTOR_BINARY, q, 1, 2, NULL),
                 NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_sharded_search(ids, dist, s, NEARKIT_VECTOR_FLOAT32, q, 1, 2, NULL), NEARKIT_OK);
    CHECK(ids[0] == -1 && ids[1] == -1); /* an empty shard pads */
    CHECK(nearkit_sharded_shard(s, 0) == a && nearkit_sharded_shard(s, 1) == NULL);
    nearkit_index_free(b);
    nearkit_sharded_free(s);
    nearkit_sharded_free(NULL);
    const char *names[] = {"../escape.nkx"};
    CHECK_STATUS(nearkit_sharded_write_manifest(scratch_dir, names, 1), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_sharded_write_manifest(scratch_dir, names, 0), NEARKIT_ERR_INVALID_ARGUMENT);
}

/* A manifest written for shard files saved apart (as cluster workers do) opens as the original. */
static void test_manifest_of_saved_files(void) {
    char dir[128], moved[128];
    snprintf(dir, sizeof dir, "%s/small", scratch_dir);
    save_small(dir);
    snprintf(moved, sizeof moved, "%s/apart", scratch_dir);
    mkdir(moved, 0777);
    const char *files[] = {"b.nkx", "a.nkx"}; /* shard 1 saved as a.nkx, shard 0 as b.nkx */
    for (uint64_t i = 0; i < 2; i++) {
        nearkit_index *shard = NULL;
        CHECK_STATUS(nearkit_sharded_open_shard(&shard, dir, i), NEARKIT_OK);
        char path[256];
        path_in(path, sizeof path, moved, files[i]);
        CHECK_STATUS(nearkit_index_save(shard, path), NEARKIT_OK);
        nearkit_index_free(shard);
    }
    nearkit_index *none = NULL;
    CHECK_STATUS(nearkit_sharded_open_shard(&none, dir, 2), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_sharded_write_manifest(moved, files, 2), NEARKIT_OK);
    uint64_t n = 0;
    CHECK_STATUS(nearkit_sharded_manifest_shard_count(&n, moved), NEARKIT_OK);
    CHECK(n == 2);
    nearkit_sharded *s = NULL;
    CHECK_STATUS(nearkit_sharded_open(&s, moved, NULL), NEARKIT_OK);
    float q[2] = {3.5f, 0.0f};
    int64_t ids[3];
    float dist[3];
    CHECK_STATUS(nearkit_sharded_search(ids, dist, s, NEARKIT_VECTOR_FLOAT32, q, 1, 3, NULL), NEARKIT_OK);
    CHECK(ids[0] == 3 && ids[1] == 4 && ids[2] == 2 && dist[0] == 0.5f && dist[1] == 0.5f); /* tie by id */
    nearkit_sharded_free(s);
    const char *missing[] = {"a.nkx", "gone.nkx"};
    CHECK_STATUS(nearkit_sharded_write_manifest(moved, missing, 2), NEARKIT_ERR_IO);
}

/* One shard opened alone as a view (what a cluster worker sharing the host's pages opens):
 * checked against the manifest as a load is, equal to the loaded shard, read-only; verified or
 * not; bad arguments refused. */
static void test_view_one_shard(void) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/viewed", scratch_dir);
    save_small(dir);
    nearkit_view_options verified = NEARKIT_VIEW_OPTIONS_INIT;
    verified.verify = 1;
    const nearkit_view_options *ways[] = {NULL, &verified};
    for (int w = 0; w < 2; w++) {
        for (uint64_t i = 0; i < 2; i++) {
            nearkit_index *loaded = NULL, *viewed = NULL;
            CHECK_STATUS(nearkit_sharded_open_shard(&loaded, dir, i), NEARKIT_OK);
            CHECK_STATUS(nearkit_sharded_view_shard(&viewed, dir, i, ways[w]), NEARKIT_OK);
            CHECK(nearkit_index_is_view(viewed) == 1 && nearkit_index_is_view(loaded) == 0);
            CHECK(nearkit_index_count(viewed) == nearkit_index_count(loaded));
            float q[2] = {3.5f, 0.0f};
            int64_t ids_l[2], ids_v[2];
            float dist_l[2], dist_v[2];
            CHECK_STATUS(nearkit_index_search(ids_l, dist_l, loaded, NEARKIT_VECTOR_FLOAT32, q, 1, 2, NULL), NEARKIT_OK);
            CHECK_STATUS(nearkit_index_search(ids_v, dist_v, viewed, NEARKIT_VECTOR_FLOAT32, q, 1, 2, NULL), NEARKIT_OK);
            CHECK(memcmp(ids_l, ids_v, sizeof ids_l) == 0 && memcmp(dist_l, dist_v, sizeof dist_l) == 0);
            CHECK_STATUS(nearkit_index_add(viewed, NEARKIT_VECTOR_FLOAT32, q, 1, NULL), NEARKIT_ERR_STATE);
            nearkit_index_free(loaded);
            nearkit_index_free(viewed);
        }
    }
    nearkit_index *none = (nearkit_index *)&none;
    CHECK_STATUS(nearkit_sharded_view_shard(&none, dir, 2, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK(none == NULL);
    CHECK_STATUS(nearkit_sharded_view_shard(NULL, dir, 0, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nearkit_sharded_view_shard(&none, NULL, 0, NULL), NEARKIT_ERR_INVALID_ARGUMENT);
    nearkit_view_options old = NEARKIT_VIEW_OPTIONS_INIT;
    old.struct_size = 4; /* no room for verify */
    CHECK_STATUS(nearkit_sharded_view_shard(&none, dir, 0, &old), NEARKIT_ERR_INVALID_ARGUMENT);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no-such-collection", scratch_dir);
    CHECK_STATUS(nearkit_sharded_view_shard(&none, missing, 0, NULL), NEARKIT_ERR_IO);
}

/* dir/manifest.json replaced by text: opening gives `expected`. */
static void check_manifest(const char *dir, const char *text, nearkit_status expected) {
    write_text(dir, NEARKIT_SHARDED_MANIFEST, text, strlen(text));
    nearkit_sharded *s = NULL;
    nearkit_status st = nearkit_sharded_open(&s, dir, NULL);
    CHECK_STATUS(st, expected);
    if (st != expected) fprintf(stderr, "  manifest: %s\n", text);
    CHECK(s == NULL || expected == NEARKIT_OK);
    nearkit_sharded_free(s);
}

static void test_bad_manifests(void) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/bad", scratch_dir);
    save_small(dir);
    size_t n = 0;
    char *good = read_text(dir, NEARKIT_SHARDED_MANIFEST, &n);
    CHECK(good != NULL && n > 0);
    if (!good) return;
#define HEAD "{\"format\":\"nearkit-sharded\",\"version\":1,\"vector_type\":\"float32\",\"metric\":\"l2\",\"dimension\":2,"
    check_manifest(dir, good, NEARKIT_OK);
    check_manifest(dir, HEAD "\"count\":8,\"extra\":[1,{\"a\":null},-2.5e3,true],"
                   "\"shards\":[{\"file\":\"shard-00000.nkx\",\"count\":4,\"x\":\"y\"},{\"file\":\"shard-00001.nkx\",\"count\":4}]}",
                   NEARKIT_OK); /* unknown keys are skipped */
    check_manifest(dir, "", NEARKIT_ERR_CORRUPT);
    check_manifest(dir, "[]", NEARKIT_ERR_CORRUPT);
    check_manifest(dir, HEAD "\"count\":9,\"shards\":[{\"file\":\"shard-00000.nkx\",\"count\":4},"
                   "{\"file\":\"shard-00001.nkx\",\"count\":5}]}", NEARKIT_ERR_CORRUPT); /* count unlike the file */
    check_manifest(dir, HEAD "\"count\":9,\"shards\":[{\"file\":\"shard-00000.nkx\",\"count\":4},"
                   "{\"file\":\"shard-00001.nkx\",\"count\":4}]}", NEARKIT_ERR_CORRUPT); /* sum */
    check_manifest(dir, HEAD "\"count\":4,\"shards\":[{\"file\":\"../bad/shard-00000.nkx\",\"count\":4}]}",
                   NEARKIT_ERR_CORRUPT);
    check_manifest(dir, HEAD "\"count\":8,\"shards\":[{\"file\":\"shard-00000.nkx\",\"count\":4},"
                   "{\"file\":\"shard-00000.nkx\",\"count\":4}]}", NEARKIT_ERR_CORRUPT);
    check_manifest(dir, HEAD "\"count\":4,\"shards\":[{\"file\":\"missing.nkx\",\"count\":4}]}", NEARKIT_ERR_IO);
    check_manifest(dir, HEAD "\"count\":0,\"shards\":[]}", NEARKIT_ERR_CORRUPT);
    check_manifest(dir, HEAD "\"count\":4,\"shards\":[{\"file\":\"shard-00000.nkx\",\"count\":4.5}]}",
                   NEARKIT_ERR_CORRUPT);
    check_manifest(dir, HEAD "\"count\":99999999999999999999,\"shards\":[]}", NEARKIT_ERR_CORRUPT);
    check_manifest(dir, "{\"format\":\"nearkit-sharded\",\"version\":2,\"vector_type\":\"float32\",\"metric\":\"l2\","
                   "\"dimension\":2,\"count\":4,\"shards\":[{\"file\":\"shard-00000.nkx\",\"count\":4}]}",
                   NEARKIT_ERR_UNSUPPORTED);
    check_manifest(dir, "{\"format\":\"nearkit-sharded\",\"version\":1,\"vector_type\":\"float32\",\"metric\":\"l2\","
                   "\"dimension\":3,\"count\":4,\"shards\":[{\"file\":\"shard-00000.nkx\",\"count\":4}]}",
                   NEARKIT_ERR_CORRUPT); /* dimension unlike the file */
    char deep[200];
    memset(deep, '[', sizeof deep);
    memcpy(deep, "{\"a\":", 5);
    deep[sizeof deep - 1] = '\0';
    check_manifest(dir, deep, NEARKIT_ERR_CORRUPT);
    /* crafted damage: every truncation and a flip of every byte opens or fails cleanly */
    CHECK(good[n - 1] == '\n'); /* every cut before it loses part of the object */
    for (size_t cut = 0; cut + 1 < n; cut++) {
        write_text(dir, NEARKIT_SHARDED_MANIFEST, good, cut);
        nearkit_sharded *s = NULL;
        CHECK(nearkit_sharded_open(&s, dir, NULL) != NEARKIT_OK && s == NULL);
    }
    for (size_t at = 0; at < n; at++) {
        char *bad = malloc(n);
        memcpy(bad, good, n);
        bad[at] ^= (char)(1 + at % 127);
        write_text(dir, NEARKIT_SHARDED_MANIFEST, bad, n);
        nearkit_sharded *s = NULL;
        nearkit_status st = nearkit_sharded_open(&s, dir, NULL);
        CHECK((st == NEARKIT_OK) == (s != NULL));
        if (st == NEARKIT_OK) CHECK(nearkit_sharded_count(s) == 8);
        nearkit_sharded_free(s);
        free(bad);
    }
    char path[256];
    write_text(dir, NEARKIT_SHARDED_MANIFEST, good, n);
    path_in(path, sizeof path, dir, "shard-00001.nkx");
    unlink(path);
    check_manifest(dir, good, NEARKIT_ERR_IO); /* a shard file missing */
    path_in(path, sizeof path, dir, NEARKIT_SHARDED_MANIFEST);
    unlink(path);
    nearkit_sharded *s = NULL;
    CHECK_STATUS(nearkit_sharded_open(&s, dir, NULL), NEARKIT_ERR_IO); /* no manifest */
    free(good);
}

int main(int argc, char **argv) {
    const char *golden_dir = argc > 1 ? argv[1] : "tests/golden";
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/nearkit-sharded-XXXXXX");
    if (!mkdtemp(scratch_dir)) {
        perror("mkdtemp");
        return 1;
    }
    golden_manifest gm;
    char err[512];
    if (!golden_manifest_load(&gm, golden_dir, err, sizeof err)) {
        fprintf(stderr, "golden: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < gm.case_count; i++) test_golden_case(&gm, &gm.cases[i]);
    golden_manifest_free(&gm);
    test_bad_arguments();
    test_manifest_of_saved_files();
    test_view_one_shard();
    test_bad_manifests();
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", scratch_dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", scratch_dir);
    return check_summary("sharded");
}
