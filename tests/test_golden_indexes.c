/* Index files saved by every released format version keep loading and answering exactly as the
 * golden expectations say. The files live in tests/golden/indexes/, named
 * v<format version>-<kind or manifest label>-<golden case>.nkx; `test_golden_indexes GOLDEN_DIR
 * --write` saves the current version's files that do not exist yet (run it once per new format
 * version or new kind and commit what it writes; a committed file is never rewritten). Exact kinds
 * are saved with their defaults; each approximate entry of the manifest with its exact_params,
 * which the file keeps (lists probed, ef_search, refine), so the loaded index answers exactly.
 * Every file is also opened as a read-only view, which answers the same; a format 1 file may
 * instead be refused with UNSUPPORTED (its sections were not aligned for use in place). A layout that
 * changed within a format version (a new value of a field, older files loading as before) gets
 * its own files too, named <kind or label>+<change>: ivf_sq8 and ivf_sq4 coding residuals to the
 * list centroid (CODC's last word 1), rpforest's planes as 8-bit codes (RFPC / RFPE), mih's
 * stored tables (MIHD ...; earlier files rebuild them), rpforest's coded walk (RFWK / RFWR; earlier
 * files lay it out at open), the vp-tree's vantage vectors (VPVA; earlier files gather them at open),
 * ivf_pq's codes of residuals (8 and 4 bits: CODC's third word 2 or 3; earlier files code the
 * vectors). */
#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL /* nearkit_index_view */
#include "nearkit.h"

#include <dirent.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "golden_util.h"

#define CURRENT_FORMAT 2
/* Layouts new within the current format version: label+change, and the parameters that ask for
 * it where it is not the default (appended to the label's). */
static const struct {
    const char *name, *params;
} layout_changes[] = {{"ivf_sq8+residual", NULL}, {"ivf_sq4+residual", NULL},  {"rpforest+planecodes", NULL},
                      {"mih+tables", NULL},       {"rpforest+walk", NULL},     {"vptree+vantages", NULL},
                      {"ivf_pq+residual", "residual=1"}, {"ivf_pq_nbits4+residual", "residual=1"}};

/* The cases whose data the saved files hold: plain float, normalised (cosine), ties, binary. */
static const char *const saved_cases[] = {"clustered_d16-l2-k10", "uniform_d16-cosine-k10",
                                          "duplicates_d4-l1-k10", "binary256-hamming-k10"};

static const golden_case *find_case(const golden_manifest *m, const char *name) {
    for (size_t i = 0; i < m->case_count; i++)
        if (strcmp(m->cases[i].name, name) == 0) return &m->cases[i];
    return NULL;
}

/* Saves one kind's index of a case under `name` (a kind or a manifest label), unless the file
 * exists. */
static void write_file(const golden_manifest *m, const char *dir, const nearkit_kind_info *info, const char *name,
                       const char *params, const golden_case *gc) {
    char path[4096];
    snprintf(path, sizeof path, "%s/v%d-%s-%s.nkx", dir, CURRENT_FORMAT, name, gc->name);
    FILE *existing = fopen(path, "rb");
    if (existing) {
        fclose(existing);
        return;
    }
    const golden_dataset *ds = &m->datasets[gc->dataset];
    nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT;
    options.params = params;
    nearkit_index *ix = NULL;
    CHECK_STATUS(nearkit_index_create(&ix, info->kind, gc->metric, ds->dimension, &options), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_add(ix, ds->vector_type, ds->base, ds->count, NULL), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_build(ix), NEARKIT_OK);
    CHECK_STATUS(nearkit_index_save(ix, path), NEARKIT_OK);
    printf("wrote %s\n", path);
    nearkit_index_free(ix);
}

static bool kind_named(nearkit_kind_info *info, const char *name) {
    for (size_t k = 0; k < nearkit_kind_count(); k++)
        if (nearkit_kind_get_info(info, k) == NEARKIT_OK && info->name && strcmp(info->name, name) == 0) return true;
    return false;
}

/* The files of the layout changes of `name` (a kind or a manifest label). */
static void write_layout_changes(const golden_manifest *m, const char *dir, const nearkit_kind_info *info,
                                 const char *name, const char *params, const golden_case *gc) {
    size_t len = strlen(name);
    for (size_t l = 0; l < sizeof layout_changes / sizeof layout_changes[0]; l++) {
        const char *change = layout_changes[l].name, *extra = layout_changes[l].params;
        if (strncmp(change, name, len) != 0 || change[len] != '+') continue;
        char joined[1024];
        snprintf(joined, sizeof joined, "%s%s%s", params ? params : "", params && extra ? "," : "", extra ? extra : "");
        write_file(m, dir, info, change, extra ? joined : params, gc);
    }
}

static void write_files(const golden_manifest *m, const char *dir) { /* dir: at most 2047 bytes */
    for (size_t c = 0; c < sizeof saved_cases / sizeof saved_cases[0]; c++) {
        const golden_case *gc = find_case(m, saved_cases[c]);
        CHECK(gc != NULL);
        if (!gc) continue;
        for (size_t k = 0; k < nearkit_kind_count(); k++) {
            nearkit_kind_info info = NEARKIT_KIND_INFO_INIT;
            CHECK_STATUS(nearkit_kind_get_info(&info, k), NEARKIT_OK);
            if (!(info.flags & NEARKIT_KIND_FLAG_EXACT) || !(info.metric_mask & (1u << gc->metric))) continue;
            write_file(m, dir, &info, info.name, NULL, gc);
            write_layout_changes(m, dir, &info, info.name, NULL, gc);
        }
        for (size_t a = 0; a < m->approximate_count; a++) {
            const golden_approximate *ap = &m->approximate[a];
            nearkit_kind_info info = NEARKIT_KIND_INFO_INIT;
            CHECK(kind_named(&info, ap->kind));
            if (!(info.metric_mask & (1u << gc->metric))) continue;
            write_file(m, dir, &info, ap->label, ap->exact_params, gc);
            write_layout_changes(m, dir, &info, ap->label, ap->exact_params, gc);
        }
    }
}

/* The kind a saved file's name gives: a manifest label's kind, or the name itself (a layout
 * change's +suffix dropped, in place). */
static const char *kind_of_name(const golden_manifest *m, char *name) {
    char *change = strchr(name, '+');
    if (change) *change = '\0';
    for (size_t a = 0; a < m->approximate_count; a++)
        if (strcmp(m->approximate[a].label, name) == 0) return m->approximate[a].kind;
    return name;
}

/* Compares an opened file's k-NN and range answers with the case's expectations. */
static void check_answers(const golden_manifest *m, const golden_case *gc, const nearkit_index *ix,
                          const char *file) {
    char err[512];
    const golden_dataset *ds = &m->datasets[gc->dataset];
    golden_expected ex;
    CHECK(golden_expected_load(&ex, m, gc, err, sizeof err));
    uint64_t nq = ds->query_count, k = gc->k;
    int64_t *ids = malloc(nq * k * sizeof *ids);
    float *dist = malloc(nq * k * sizeof *dist);
    double *dd = malloc(nq * k * sizeof *dd);
    CHECK_STATUS(nearkit_index_search(ids, dist, ix, ds->vector_type, ds->queries, nq, k, NULL), NEARKIT_OK);
    for (uint64_t i = 0; i < nq * k; i++) dd[i] = dist[i];
    int bad = 0;
    for (uint64_t q = 0; q < nq; q++)
        if (!golden_compare_knn(err, sizeof err, ex.knn_ids + q * k, ex.knn_distances + q * k, ids + q * k,
                                dd + q * k, k, m->rtol, m->atol)) {
            if (!bad++) fprintf(stderr, "%s: query %llu: %s\n", file, (unsigned long long)q, err);
        }
    CHECK(bad == 0);
    nearkit_range_result *r = NULL;
    CHECK_STATUS(nearkit_index_range_search(&r, ix, ds->vector_type, ds->queries, nq, (float)gc->radius, NULL),
                 NEARKIT_OK);
    const uint64_t *off;
    const int64_t *rid;
    const float *rd;
    if (r && nearkit_range_result_get(&off, &rid, &rd, r) == NEARKIT_OK) {
        double *rdd = malloc((off[nq] + 1) * sizeof *rdd);
        for (uint64_t i = 0; i < off[nq]; i++) rdd[i] = rd[i];
        for (uint64_t q = 0; q < nq; q++) {
            uint64_t e0 = ex.range_offsets[q], e1 = ex.range_offsets[q + 1];
            if (!golden_compare_range(err, sizeof err, gc->radius, ex.range_ids + e0, ex.range_distances + e0, e1 - e0,
                                      rid + off[q], rdd + off[q], off[q + 1] - off[q], m->rtol, m->atol)) {
                if (!bad++) fprintf(stderr, "%s: range query %llu: %s\n", file, (unsigned long long)q, err);
            }
        }
        free(rdd);
    }
    CHECK(bad == 0);
    nearkit_range_result_free(r);
    free(ids), free(dist), free(dd);
    golden_expected_free(&ex);
}

/* Loads one saved file, and views it, and checks the answers of both. */
static void check_file(const golden_manifest *m, const char *dir, const char *file) {
    int version;
    char kind[64], case_name[256];
    if (sscanf(file, "v%d-%63[^-]-%255[^.].nkx", &version, kind, case_name) != 3) return;
    const golden_case *gc = find_case(m, case_name);
    CHECK(gc != NULL);
    if (!gc) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    nearkit_index *ix = NULL, *view = NULL;
    CHECK_STATUS(nearkit_index_load(&ix, path), NEARKIT_OK);
    if (!ix) return;
    CHECK(strcmp(nearkit_kind_name(nearkit_index_kind(ix)), kind_of_name(m, kind)) == 0);
    check_answers(m, gc, ix, file);
    nearkit_index_free(ix);
    nearkit_status st = nearkit_index_view(&view, path, NULL);
    if (st != NEARKIT_OK) fprintf(stderr, "%s: view: %s\n", file, nearkit_last_error_message());
    CHECK(st == NEARKIT_OK || (version == 1 && st == NEARKIT_ERR_UNSUPPORTED));
    if (view) check_answers(m, gc, view, file);
    nearkit_index_free(view);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_golden_indexes GOLDEN_DIR [--write]\n");
        return 2;
    }
    golden_manifest m;
    char err[512];
    if (!golden_manifest_load(&m, argv[1], err, sizeof err)) {
        fprintf(stderr, "test_golden_indexes: %s\n", err);
        return 1;
    }
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/indexes", argv[1]);
    if (argc > 2 && strcmp(argv[2], "--write") == 0) write_files(&m, dir);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int files = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, ".nkx")) {
            check_file(&m, dir, e->d_name);
            files++;
        }
    if (d) closedir(d);
    CHECK(files > 0);
    printf("test_golden_indexes: %d saved index files checked\n", files);
    golden_manifest_free(&m);
    return check_summary("test_golden_indexes");
}
