/* A sharded collection (nearkit_sharded_*): N indexes of any kind over parts of one collection,
 * searched one after another or side by side and merged by nearkit_merge_knn (api/merge.c), saved
 * as a directory of ordinary index files and a manifest (api/manifest.c). */
#include "api/manifest.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct nearkit_sharded {
    pthread_rwlock_t lock; /* add_shard exclusive, everything else shared */
    uint32_t num_threads;  /* as set: 0 = every core */
    bool view_shards;      /* nearkit_sharded_open views its shard files */
    nearkit_index **shards;
    uint64_t n, cap;
};

/* Copies the thread's last error message: the next nearkit call replaces it. */
static void keep_message(char *out, size_t size) { snprintf(out, size, "%s", nearkit_last_error_message()); }

/* The status with "what: " before the last error's message. */
static nearkit_status prefixed(nearkit_status st, const char *what) {
    char message[512];
    keep_message(message, sizeof message);
    return nearkit_set_error(st, "%s: %s", what, message);
}

NEARKIT_API nearkit_status nearkit_sharded_options_init(nearkit_sharded_options *options) {
    nearkit_clear_error();
    if (!options) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "options is NULL");
    *options = (nearkit_sharded_options)NEARKIT_SHARDED_OPTIONS_INIT;
    return NEARKIT_OK;
}

NEARKIT_API nearkit_status nearkit_sharded_create(nearkit_sharded **out,
                                                  const nearkit_sharded_options *options) {
    nearkit_clear_error();
    if (!out) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    nearkit_sharded_options o = NEARKIT_SHARDED_OPTIONS_INIT;
    if (options) {
        if (options->struct_size < offsetof(nearkit_sharded_options, num_threads) + sizeof o.num_threads)
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "options->struct_size %u is too small",
                                     (unsigned)options->struct_size);
        o.num_threads = options->num_threads;
        if (options->struct_size >= offsetof(nearkit_sharded_options, view_shards) + sizeof o.view_shards)
            o.view_shards = options->view_shards; /* a caller compiled before 0.2 has no such field */
    }
    nearkit_sharded *s = calloc(1, sizeof *s);
    if (!s) return nearkit_oom();
    if (pthread_rwlock_init(&s->lock, NULL) != 0) {
        free(s);
        return nearkit_oom();
    }
    s->num_threads = o.num_threads;
    s->view_shards = o.view_shards != 0;
    *out = s;
    return NEARKIT_OK;
}

NEARKIT_API void nearkit_sharded_free(nearkit_sharded *sharded) {
    if (!sharded) return;
    for (uint64_t i = 0; i < sharded->n; i++) nearkit_index_free(sharded->shards[i]);
    free(sharded->shards);
    pthread_rwlock_destroy(&sharded->lock);
    free(sharded);
}

/* Under the write lock: the shard's checks and its place in the array. */
static nearkit_status append_shard(nearkit_sharded *s, nearkit_index *shard) {
    for (uint64_t i = 0; i < s->n; i++)
        if (s->shards[i] == shard)
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "the index is shard %llu already",
                                     (unsigned long long)i);
    if (s->n > 0) {
        const nearkit_index *first = s->shards[0];
        if (nearkit_index_vector_type(shard) != nearkit_index_vector_type(first) ||
            nearkit_index_metric(shard) != nearkit_index_metric(first) ||
            nearkit_index_dimension(shard) != nearkit_index_dimension(first))
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                     "the shard is %s %u-d, unlike the first shard (%s %u-d)",
                                     nearkit_metric_name(nearkit_index_metric(shard)),
                                     (unsigned)nearkit_index_dimension(shard),
                                     nearkit_metric_name(nearkit_index_metric(first)),
                                     (unsigned)nearkit_index_dimension(first));
    }
    if (s->n == s->cap) {
        uint64_t cap = s->cap ? s->cap * 2 : 8;
        if (cap > SIZE_MAX / sizeof *s->shards) return nearkit_oom();
        nearkit_index **grown = realloc(s->shards, (size_t)cap * sizeof *grown);
        if (!grown) return nearkit_oom();
        s->shards = grown;
        s->cap = cap;
    }
    s->shards[s->n++] = shard;
    return NEARKIT_OK;
}

NEARKIT_API nearkit_status nearkit_sharded_add_shard(nearkit_sharded *sharded, nearkit_index *shard) {
    nearkit_clear_error();
    if (!sharded || !shard) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "sharded or shard is NULL");
    pthread_rwlock_wrlock(&sharded->lock);
    nearkit_status st = append_shard(sharded, shard);
    pthread_rwlock_unlock(&sharded->lock);
    return st;
}

/* ---- introspection ----------------------------------------------------------------------------- */

NEARKIT_API uint64_t nearkit_sharded_shard_count(const nearkit_sharded *sharded) {
    if (!sharded) return 0;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&sharded->lock);
    uint64_t n = sharded->n;
    pthread_rwlock_unlock((pthread_rwlock_t *)&sharded->lock);
    return n;
}

NEARKIT_API const nearkit_index *nearkit_sharded_shard(const nearkit_sharded *sharded, uint64_t i) {
    if (!sharded) return NULL;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&sharded->lock);
    const nearkit_index *shard = i < sharded->n ? sharded->shards[i] : NULL;
    pthread_rwlock_unlock((pthread_rwlock_t *)&sharded->lock);
    return shard;
}

/* Sums f over the shards (0 for NULL). */
static uint64_t sum_over_shards(const nearkit_sharded *s, uint64_t (*f)(const nearkit_index *)) {
    if (!s) return 0;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&s->lock);
    uint64_t total = 0;
    for (uint64_t i = 0; i < s->n; i++) total += f(s->shards[i]);
    pthread_rwlock_unlock((pthread_rwlock_t *)&s->lock);
    return total;
}

NEARKIT_API uint64_t nearkit_sharded_count(const nearkit_sharded *sharded) {
    return sum_over_shards(sharded, nearkit_index_count);
}

NEARKIT_API uint64_t nearkit_sharded_memory_bytes(const nearkit_sharded *sharded) {
    return sum_over_shards(sharded, nearkit_index_memory_bytes);
}

NEARKIT_API uint32_t nearkit_sharded_dimension(const nearkit_sharded *sharded) {
    const nearkit_index *first = nearkit_sharded_shard(sharded, 0);
    return first ? nearkit_index_dimension(first) : 0;
}

NEARKIT_API nearkit_metric nearkit_sharded_metric(const nearkit_sharded *sharded) {
    const nearkit_index *first = nearkit_sharded_shard(sharded, 0);
    return first ? nearkit_index_metric(first) : 0;
}

NEARKIT_API nearkit_vector_type nearkit_sharded_vector_type(const nearkit_sharded *sharded) {
    const nearkit_index *first = nearkit_sharded_shard(sharded, 0);
    return first ? nearkit_index_vector_type(first) : 0;
}

/* ---- search ------------------------------------------------------------------------------------ */

/* One search of every shard into per-shard result blocks, and what each shard's search reported. */
typedef struct fan_out {
    nearkit_index *const *shards;
    nearkit_vector_type type;
    const void *queries;
    uint64_t n, k;
    nearkit_search_options options; /* num_threads set per shard */
    int64_t *ids;                   /* shard s's block at s * n * k */
    float *distances;
    nearkit_status *status;
    char (*message)[256];
} fan_out;

static void search_one_shard(fan_out *f, uint64_t s) {
    uint64_t at = s * f->n * f->k;
    f->status[s] = nearkit_index_search(f->ids + at, f->distances + at, f->shards[s], f->type, f->queries,
                                        f->n, f->k, &f->options);
    if (f->status[s]) keep_message(f->message[s], sizeof f->message[s]);
}

static void search_shard_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    for (uint64_t s = begin; s < end; s++) search_one_shard(ctx, s);
}

/* The caller's options as a full struct (fields past its struct_size at their defaults). */
static nearkit_status copy_search_options(nearkit_search_options *out, const nearkit_search_options *in) {
    *out = (nearkit_search_options)NEARKIT_SEARCH_OPTIONS_INIT;
    if (!in) return NEARKIT_OK;
    if (in->struct_size < offsetof(nearkit_search_options, filter))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "options->struct_size %u is too small",
                                 (unsigned)in->struct_size);
    memcpy(out, in, in->struct_size < sizeof *out ? in->struct_size : sizeof *out);
    out->struct_size = sizeof *out;
    return NEARKIT_OK;
}

/* Runs every shard's search: with at least as many queries as threads, each shard in turn with
 * every thread (a shard's search is parallel over its queries); with fewer, the shards side by
 * side on the library's pool, one thread each, so a single query still uses every core. */
static nearkit_status run_fan_out(fan_out *f, uint64_t n_shards, uint32_t threads) {
    if (f->n >= threads || n_shards == 1) {
        f->options.num_threads = threads;
        for (uint64_t s = 0; s < n_shards; s++) {
            search_one_shard(f, s);
            if (f->status[s]) break;
        }
    } else {
        f->options.num_threads = 1;
        nearkit_parallel_for(threads, n_shards, 1, search_shard_range, f);
    }
    for (uint64_t s = 0; s < n_shards; s++)
        if (f->status[s])
            return nearkit_set_error(f->status[s], "shard %llu: %s", (unsigned long long)s, f->message[s]);
    return NEARKIT_OK;
}

/* Searches and merges under the read lock. */
static nearkit_status search_locked(int64_t *ids, float *distances, const nearkit_sharded *s, fan_out *f) {
    if (s->n == 0) return nearkit_set_error(NEARKIT_ERR_STATE, "the sharded collection has no shard");
    uint32_t threads = nearkit_resolve_threads(f->options.num_threads ? f->options.num_threads : s->num_threads);
    size_t block;
    if (!nearkit_mul_size(&block, (size_t)f->n, (size_t)f->k) || !nearkit_mul_size(&block, block, (size_t)s->n) ||
        f->n > SIZE_MAX || f->k > SIZE_MAX)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "n x k x shards results do not fit in memory");
    f->shards = s->shards;
    f->ids = nearkit_alloc_array(block, sizeof *f->ids);
    f->distances = nearkit_alloc_array(block, sizeof *f->distances);
    f->status = calloc((size_t)s->n, sizeof *f->status);
    f->message = calloc((size_t)s->n, sizeof *f->message);
    nearkit_knn_part *parts = nearkit_alloc_array((size_t)s->n, sizeof *parts);
    nearkit_status st = NEARKIT_OK;
    if (!f->ids || !f->distances || !f->status || !f->message || !parts) st = nearkit_oom();
    if (!st) st = run_fan_out(f, s->n, threads);
    if (!st) {
        for (uint64_t p = 0; p < s->n; p++)
            parts[p] = (nearkit_knn_part){f->ids + p * f->n * f->k, f->distances + p * f->n * f->k, f->k};
        st = nearkit_merge_knn(ids, distances, f->n, f->k, parts, s->n, 0);
    }
    free(parts);
    free(f->message);
    free(f->status);
    free(f->distances);
    free(f->ids);
    return st;
}

NEARKIT_API nearkit_status nearkit_sharded_search(int64_t *ids, float *distances,
                                                  const nearkit_sharded *sharded,
                                                  nearkit_vector_type type, const void *queries,
                                                  uint64_t n, uint64_t k,
                                                  const nearkit_search_options *options) {
    nearkit_clear_error();
    if (!sharded) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "sharded is NULL");
    if (k == 0) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "k must be at least 1");
    if (n > 0 && (!ids || !distances || !queries))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "ids, distances or queries is NULL");
    fan_out f = {.type = type, .queries = queries, .n = n, .k = k};
    nearkit_status st = copy_search_options(&f.options, options);
    if (st) return st;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&sharded->lock);
    st = n == 0 && sharded->n > 0 ? NEARKIT_OK : search_locked(ids, distances, sharded, &f);
    pthread_rwlock_unlock((pthread_rwlock_t *)&sharded->lock);
    return st;
}

/* ---- files ------------------------------------------------------------------------------------- */

/* Opens one shard file of a collection's directory: the one place a shard file is opened. `view`
 * NULL loads it, else views it with those options. */
static nearkit_status open_shard_file(nearkit_index **out, const char *dir, const char *file,
                                      const nearkit_view_options *view) {
    *out = NULL;
    char *path = nearkit_manifest_join(dir, file);
    if (!path) return nearkit_oom();
    nearkit_status st = view ? nearkit_index_view(out, path, view) : nearkit_index_load(out, path);
    free(path);
    return st;
}

/* How a collection's own opens view its shards: a format 1 file that cannot be viewed is loaded. */
static const nearkit_view_options shard_view = {
    .struct_size = sizeof(nearkit_view_options), .load_if_unviewable = 1};
static const nearkit_view_options shard_view_verified = {
    .struct_size = sizeof(nearkit_view_options), .verify = 1, .load_if_unviewable = 1};

/* Opens the manifest's shard i and checks it against its entry. */
static nearkit_status open_listed_shard(nearkit_index **out, const char *dir, const nearkit_manifest *m,
                                        uint64_t i, const nearkit_view_options *view) {
    const nearkit_manifest_shard *e = &m->shards[i];
    char what[NEARKIT_MANIFEST_NAME_MAX + 64];
    snprintf(what, sizeof what, "%s: shard %llu (%s)", dir, (unsigned long long)i, e->file);
    nearkit_status st = open_shard_file(out, dir, e->file, view);
    if (st) return prefixed(st, what);
    const nearkit_index *ix = *out;
    if (nearkit_index_vector_type(ix) != m->vector_type || nearkit_index_metric(ix) != m->metric ||
        nearkit_index_dimension(ix) != m->dimension || nearkit_index_count(ix) != e->count) {
        st = nearkit_set_error(NEARKIT_ERR_CORRUPT,
                               "%s: the file holds %llu %s %u-d vectors, the manifest says %llu %s %u-d",
                               what, (unsigned long long)nearkit_index_count(ix),
                               nearkit_metric_name(nearkit_index_metric(ix)), (unsigned)nearkit_index_dimension(ix),
                               (unsigned long long)e->count, nearkit_metric_name(m->metric),
                               (unsigned)m->dimension);
        nearkit_index_free(*out);
        *out = NULL;
        return st;
    }
    return NEARKIT_OK;
}

/* Creates dir unless it is a directory already. */
static nearkit_status make_directory(const char *dir) {
    if (mkdir(dir, 0777) == 0) return NEARKIT_OK;
    int err = errno;
    struct stat sb;
    if (err == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) return NEARKIT_OK;
    return nearkit_set_error(NEARKIT_ERR_IO, "cannot create the directory %s: %s", dir,
                             err == EEXIST ? "a file of that name exists" : strerror(err));
}

static nearkit_status save_locked(const nearkit_sharded *s, const char *dir) {
    if (s->n == 0) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "the sharded collection has no shard");
    nearkit_status st = make_directory(dir);
    nearkit_manifest m = {0};
    for (uint64_t i = 0; i < s->n && !st; i++) {
        char file[32];
        snprintf(file, sizeof file, "shard-%05llu.nkx", (unsigned long long)i);
        char *path = nearkit_manifest_join(dir, file);
        if (!path) st = nearkit_oom();
        if (!st) st = nearkit_index_save(s->shards[i], path);
        free(path);
        if (!st) st = nearkit_manifest_add(&m, file, s->shards[i]);
    }
    if (!st) st = nearkit_manifest_write(&m, dir);
    nearkit_manifest_free(&m);
    return st;
}

NEARKIT_API nearkit_status nearkit_sharded_save(const nearkit_sharded *sharded, const char *dir) {
    nearkit_clear_error();
    if (!sharded || !dir) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "sharded or dir is NULL");
    pthread_rwlock_rdlock((pthread_rwlock_t *)&sharded->lock);
    nearkit_status st = save_locked(sharded, dir);
    pthread_rwlock_unlock((pthread_rwlock_t *)&sharded->lock);
    return st;
}

NEARKIT_API nearkit_status nearkit_sharded_write_manifest(const char *dir, const char *const *files,
                                                          uint64_t n_files) {
    nearkit_clear_error();
    if (!dir || !files) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "dir or files is NULL");
    if (n_files == 0) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "no shard files");
    for (uint64_t i = 0; i < n_files; i++)
        if (!files[i] || !nearkit_manifest_name_ok(files[i]))
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                     "shard file %llu is not a plain file name inside the directory",
                                     (unsigned long long)i);
    nearkit_manifest m = {0};
    nearkit_status st = NEARKIT_OK;
    for (uint64_t i = 0; i < n_files && !st; i++) {
        nearkit_index *shard = NULL;
        /* checked, never copied: the workers' files may be large */
        st = open_shard_file(&shard, dir, files[i], &shard_view_verified);
        if (st) {
            char what[NEARKIT_MANIFEST_NAME_MAX + 32];
            snprintf(what, sizeof what, "shard %llu (%s)", (unsigned long long)i, files[i]);
            st = prefixed(st, what);
        }
        if (!st) st = nearkit_manifest_add(&m, files[i], shard);
        nearkit_index_free(shard);
    }
    if (!st) st = nearkit_manifest_write(&m, dir);
    nearkit_manifest_free(&m);
    return st;
}

NEARKIT_API nearkit_status nearkit_sharded_open(nearkit_sharded **out, const char *dir,
                                                const nearkit_sharded_options *options) {
    nearkit_clear_error();
    if (!out || !dir) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "out or dir is NULL");
    *out = NULL;
    nearkit_sharded *s = NULL;
    nearkit_status st = nearkit_sharded_create(&s, options);
    if (st) return st;
    nearkit_manifest m;
    st = nearkit_manifest_read(&m, dir);
    for (uint64_t i = 0; i < m.n_shards && !st; i++) {
        nearkit_index *shard = NULL;
        st = open_listed_shard(&shard, dir, &m, i, s->view_shards ? &shard_view : NULL);
        if (!st && (st = append_shard(s, shard))) nearkit_index_free(shard);
    }
    nearkit_manifest_free(&m);
    if (st) {
        nearkit_sharded_free(s);
        return st;
    }
    *out = s;
    return NEARKIT_OK;
}

NEARKIT_API nearkit_status nearkit_sharded_manifest_shard_count(uint64_t *count, const char *dir) {
    nearkit_clear_error();
    if (!count || !dir) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "count or dir is NULL");
    *count = 0;
    nearkit_manifest m;
    nearkit_status st = nearkit_manifest_read(&m, dir);
    if (!st) *count = m.n_shards;
    nearkit_manifest_free(&m);
    return st;
}

/* Shard i of the collection in dir, alone: loaded (view NULL) or viewed with those options. */
static nearkit_status open_one_shard(nearkit_index **out, const char *dir, uint64_t i,
                                     const nearkit_view_options *view) {
    nearkit_clear_error();
    if (!out || !dir) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "out or dir is NULL");
    *out = NULL;
    nearkit_manifest m;
    nearkit_status st = nearkit_manifest_read(&m, dir);
    if (!st && i >= m.n_shards)
        st = nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "%s lists %llu shards, not %llu", dir,
                               (unsigned long long)m.n_shards, (unsigned long long)i + 1);
    if (!st) st = open_listed_shard(out, dir, &m, i, view);
    nearkit_manifest_free(&m);
    return st;
}

NEARKIT_API nearkit_status nearkit_sharded_open_shard(nearkit_index **out, const char *dir, uint64_t i) {
    return open_one_shard(out, dir, i, NULL);
}

NEARKIT_API nearkit_status nearkit_sharded_view_shard(nearkit_index **out, const char *dir, uint64_t i,
                                                      const nearkit_view_options *opts) {
    static const nearkit_view_options defaults = NEARKIT_VIEW_OPTIONS_INIT;
    return open_one_shard(out, dir, i, opts ? opts : &defaults); /* nearkit_index_view checks opts */
}
