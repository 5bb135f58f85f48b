/* Inverted file over binary codes under the Hamming distance: binary k-means (binary_kmeans.c)
 * cuts the codes into nlist lists around majority-vote centroids; a search scans the nprobe lists
 * whose centroids are nearest the query with the SIMD popcount kernels. nprobe = nlist scans
 * every list and is exact. Codes added before training wait in insertion order until the
 * training that nearkit_index_train or nearkit_index_build runs, then go to their lists. */
#include "binary_kmeans.h"
#include "int_topk.h"
#include "internal.h"
#include "kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define META_TAG NEARKIT_TAG('B', 'I', 'V', 'F')
#define CENTROIDS_TAG NEARKIT_TAG('B', 'C', 'E', 'N')
#define ASSIGN_TAG NEARKIT_TAG('B', 'A', 'S', 'N')
#define VECS_TAG NEARKIT_TAG('V', 'E', 'C', 'S')
#define IDS_TAG NEARKIT_TAG('I', 'D', 'S', ' ')

#define MAX_CODES 0xFFFFFFFFull /* positions are 32-bit */
#define MAX_LISTS (1u << 20)
#define DEFAULT_NPROBE 8
#define DEFAULT_ITERATIONS 15
#define SAMPLE_PER_LIST 128       /* automatic training sample: this many codes per list ... */
#define MIN_AUTO_SAMPLE 16384     /* ... but at least this many */
#define SCAN_ROWS 1024            /* codes per kernel call when scanning a list */
#define CENTROID_BLOCK 1024

typedef struct ivf_list {
    uint8_t *codes;     /* size rows of vector_bytes */
    uint32_t *positions; /* insertion position of each row: the tie-break and the id */
    uint32_t size, capacity;
} ivf_list;

typedef struct ivfb_impl {
    uint32_t nlist_param;  /* 0: about sqrt of the number of training codes */
    uint32_t nprobe;
    uint64_t train_size;   /* 0: automatic */
    uint32_t iterations;
    uint32_t lists;        /* 0 until trained */
    uint8_t *centroids;    /* lists rows */
    ivf_list *inv;         /* lists entries */
    uint8_t *pending;      /* before training: the codes in insertion order */
    uint64_t pending_capacity;
    int64_t *ids;          /* NULL while every id equals its position */
    uint64_t ids_capacity;
    uint64_t count;
} ivfb_impl;

static ivfb_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

/* ---- lifetime ---------------------------------------------------------------------------------- */

static nearkit_status ivfb_create(nearkit_index *ix) {
    ivfb_impl *f = calloc(1, sizeof *f);
    if (!f) return nearkit_oom();
    f->nprobe = DEFAULT_NPROBE;
    f->iterations = DEFAULT_ITERATIONS;
    ix->impl = f;
    return NEARKIT_OK;
}

static void free_lists(ivf_list *inv, uint32_t lists) {
    for (uint32_t l = 0; inv && l < lists; l++) {
        free(inv[l].codes);
        free(inv[l].positions);
    }
    free(inv);
}

static void ivfb_destroy(nearkit_index *ix) {
    ivfb_impl *f = impl_of(ix);
    if (!f) return;
    free_lists(f->inv, f->lists);
    free(f->centroids);
    free(f->pending);
    free(f->ids);
    free(f);
}

static bool ivfb_is_ready(const nearkit_index *ix) { return impl_of(ix)->lists > 0; }

static uint64_t ivfb_count(const nearkit_index *ix) { return impl_of(ix)->count; }

static uint64_t ivfb_memory(const nearkit_index *ix) {
    const ivfb_impl *f = impl_of(ix);
    uint64_t bytes = sizeof *f + f->pending_capacity * ix->vector_bytes;
    bytes += f->ids_capacity * sizeof(int64_t);
    bytes += (uint64_t)f->lists * (ix->vector_bytes + sizeof(ivf_list));
    for (uint32_t l = 0; l < f->lists; l++)
        bytes += (uint64_t)f->inv[l].capacity * (ix->vector_bytes + sizeof(uint32_t));
    return bytes;
}

/* ---- storage ----------------------------------------------------------------------------------- */

static bool grow_to(void **array, uint64_t *capacity, uint64_t needed, size_t elem) {
    if (needed <= *capacity) return true;
    uint64_t cap = *capacity + *capacity / 2;
    if (cap < needed) cap = needed;
    size_t bytes;
    if (!nearkit_mul_size(&bytes, (size_t)cap, elem)) return false;
    void *grown = realloc(*array, bytes ? bytes : 1);
    if (!grown) return false;
    *array = grown;
    *capacity = cap;
    return true;
}

/* Keeps ids for positions [count, count + n): explicit ones, or the positions once any id was
 * explicit. */
static nearkit_status store_ids(ivfb_impl *f, const int64_t *ids, uint64_t n) {
    if (!ids && !f->ids) return NEARKIT_OK;
    uint64_t had = f->ids ? f->count : 0;
    if (!grow_to((void **)&f->ids, &f->ids_capacity, f->count + n, sizeof *f->ids)) return nearkit_oom();
    for (uint64_t i = had; i < f->count; i++) f->ids[i] = (int64_t)i;
    for (uint64_t i = 0; i < n; i++) f->ids[f->count + i] = ids ? ids[i] : (int64_t)(f->count + i);
    return NEARKIT_OK;
}

static bool list_reserve(ivf_list *list, uint64_t needed, size_t nbytes) {
    if (needed <= list->capacity) return true;
    uint64_t cap = list->capacity + list->capacity / 2;
    if (cap < needed) cap = needed;
    if (cap < 8) cap = 8;
    if (cap > MAX_CODES) cap = MAX_CODES;
    uint64_t code_cap = list->capacity, pos_cap = list->capacity;
    if (!grow_to((void **)&list->codes, &code_cap, cap, nbytes)) return false;
    if (!grow_to((void **)&list->positions, &pos_cap, cap, sizeof(uint32_t))) return false;
    list->capacity = (uint32_t)cap;
    return true;
}

/* Appends codes at positions first, first + 1, ... to the lists `assign` names. */
static nearkit_status distribute(ivfb_impl *f, const uint8_t *codes, const uint32_t *assign, uint64_t n,
                                 uint64_t first, size_t nbytes) {
    uint64_t *extra = calloc(f->lists, sizeof *extra);
    if (!extra) return nearkit_oom();
    for (uint64_t i = 0; i < n; i++) extra[assign[i]]++;
    bool ok = true;
    for (uint32_t l = 0; ok && l < f->lists; l++)
        ok = !extra[l] || list_reserve(&f->inv[l], f->inv[l].size + extra[l], nbytes);
    free(extra);
    if (!ok) return nearkit_oom();
    for (uint64_t i = 0; i < n; i++) {
        ivf_list *list = &f->inv[assign[i]];
        memcpy(list->codes + (size_t)list->size * nbytes, codes + i * nbytes, nbytes);
        list->positions[list->size++] = (uint32_t)(first + i);
    }
    return NEARKIT_OK;
}

/* Files n codes, which take positions count .. count + n - 1, into their nearest lists. */
static nearkit_status file_codes(nearkit_index *ix, const uint8_t *codes, uint64_t n) {
    ivfb_impl *f = impl_of(ix);
    uint32_t *assign = nearkit_alloc_array((size_t)n, sizeof *assign);
    if (!assign) return nearkit_oom();
    nearkit_binary_assign(assign, codes, n, f->centroids, f->lists, (size_t)ix->vector_bytes,
                          nearkit_resolve_threads(ix->num_threads));
    nearkit_status st = distribute(f, codes, assign, n, f->count, (size_t)ix->vector_bytes);
    free(assign);
    return st;
}

static nearkit_status ivfb_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    ivfb_impl *f = impl_of(ix);
    if (n > MAX_CODES - f->count)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "the ivf_binary index holds at most %llu codes",
                                 (unsigned long long)MAX_CODES);
    size_t nbytes = (size_t)ix->vector_bytes;
    nearkit_status st = store_ids(f, ids, n); /* ids past count are ignored should filing fail */
    if (st) return st;
    if (f->lists) {
        st = file_codes(ix, vectors, n);
    } else if (!grow_to((void **)&f->pending, &f->pending_capacity, f->count + n, nbytes)) {
        st = nearkit_oom();
    } else {
        memcpy(f->pending + f->count * nbytes, vectors, (size_t)n * nbytes);
    }
    if (!st) f->count += n;
    return st;
}

/* ---- training ---------------------------------------------------------------------------------- */

static uint32_t lists_for(const ivfb_impl *f, uint64_t n) {
    uint64_t lists = f->nlist_param ? f->nlist_param : (uint64_t)floor(sqrt((double)n) + 0.5);
    if (lists > n) lists = n;
    if (lists > MAX_LISTS) lists = MAX_LISTS;
    return lists < 1 ? 1 : (uint32_t)lists;
}

static uint64_t sample_for(const ivfb_impl *f, uint32_t lists) {
    if (f->train_size) return f->train_size > lists ? f->train_size : lists;
    uint64_t s = (uint64_t)lists * SAMPLE_PER_LIST;
    return s > MIN_AUTO_SAMPLE ? s : MIN_AUTO_SAMPLE;
}

/* Learns the centroids from n codes, then files the pending codes. */
static nearkit_status train_on(nearkit_index *ix, const uint8_t *codes, uint64_t n) {
    ivfb_impl *f = impl_of(ix);
    size_t nbytes = (size_t)ix->vector_bytes;
    uint32_t lists = lists_for(f, n);
    uint8_t *centroids = nearkit_alloc_array(lists, nbytes);
    ivf_list *inv = calloc(lists, sizeof *inv);
    if (!centroids || !inv) {
        free(centroids);
        free(inv);
        return nearkit_oom();
    }
    nearkit_status st = nearkit_binary_kmeans(centroids, codes, n, lists, nbytes, sample_for(f, lists),
                                              f->iterations, ix->seed,
                                              nearkit_resolve_threads(ix->num_threads));
    if (st) {
        free(centroids);
        free(inv);
        return st;
    }
    f->centroids = centroids;
    f->inv = inv;
    f->lists = lists;
    if (f->count == 0) return NEARKIT_OK;
    uint64_t pending = f->count;
    f->count = 0; /* file_codes numbers the codes from count */
    st = file_codes(ix, f->pending, pending);
    f->count = pending;
    if (st) { /* back to untrained, keeping the pending codes */
        free_lists(f->inv, f->lists);
        free(f->centroids);
        f->inv = NULL;
        f->centroids = NULL;
        f->lists = 0;
        return st;
    }
    free(f->pending);
    f->pending = NULL;
    f->pending_capacity = 0;
    return NEARKIT_OK;
}

static nearkit_status ivfb_train(nearkit_index *ix, const void *vectors, uint64_t n) {
    if (impl_of(ix)->lists)
        return nearkit_set_error(NEARKIT_ERR_STATE, "the ivf_binary index is already trained");
    return train_on(ix, vectors, n);
}

static nearkit_status ivfb_build(nearkit_index *ix) {
    ivfb_impl *f = impl_of(ix);
    if (f->lists) return NEARKIT_OK;
    if (f->count == 0)
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "the ivf_binary index has nothing to train on: add vectors (or call "
                                 "train) before build");
    return train_on(ix, f->pending, f->count);
}

/* ---- searching --------------------------------------------------------------------------------- */

typedef struct search_task {
    const nearkit_index *ix;
    const uint8_t *queries;
    uint64_t k, stride;
    int64_t *ids;
    float *dist;
    nearkit_range_builder *out;
    uint32_t radius;
    _Atomic int failed;
} search_task;

typedef struct probe_scratch {
    uint32_t *centroid_dist; /* lists */
    uint32_t *probe;         /* nprobe */
    uint32_t *histogram;     /* dimension + 1 */
    uint32_t *row_dist;      /* SCAN_ROWS */
    nearkit_int_topk best;   /* k-NN only */
} probe_scratch;

static uint32_t probe_count(const ivfb_impl *f) { return f->nprobe < f->lists ? f->nprobe : f->lists; }

/* k = 0: range search, no selection. */
static bool scratch_init(probe_scratch *s, const nearkit_index *ix, uint64_t k) {
    const ivfb_impl *f = impl_of(ix);
    *s = (probe_scratch){
        .centroid_dist = nearkit_alloc_array(f->lists, sizeof(uint32_t)),
        .probe = nearkit_alloc_array(f->lists, sizeof(uint32_t)),
        .histogram = nearkit_alloc_array((size_t)ix->dimension + 1, sizeof(uint32_t)),
        .row_dist = nearkit_alloc_array(SCAN_ROWS, sizeof(uint32_t)),
    };
    bool best = k == 0 || nearkit_int_topk_init(&s->best, k, f->ids, ix->dimension);
    return s->centroid_dist && s->probe && s->histogram && s->row_dist && best;
}

static void scratch_free(probe_scratch *s) {
    free(s->centroid_dist);
    free(s->probe);
    free(s->histogram);
    free(s->row_dist);
    nearkit_int_topk_free(&s->best);
}

/* The nprobe lists whose centroids are nearest the query, nearest first (ties: lower list first),
 * by a counting sort of the centroid distances, which are small integers; scanning the nearest
 * list first makes the k-NN bar tight early. Returns how many. */
static uint32_t select_lists(probe_scratch *s, const nearkit_index *ix, const uint8_t *query) {
    const ivfb_impl *f = impl_of(ix);
    const nearkit_kernel_table *kt = nearkit_kernels();
    uint32_t nprobe = probe_count(f), *count = s->histogram;
    size_t nbytes = (size_t)ix->vector_bytes;
    for (uint32_t l0 = 0; l0 < f->lists; l0 += CENTROID_BLOCK) {
        uint32_t n = f->lists - l0 < CENTROID_BLOCK ? f->lists - l0 : CENTROID_BLOCK;
        kt->hamming_many(s->centroid_dist + l0, query, f->centroids + (size_t)l0 * nbytes, n, nbytes);
    }
    memset(count, 0, ((size_t)ix->dimension + 1) * sizeof *count);
    for (uint32_t l = 0; l < f->lists; l++) count[s->centroid_dist[l]]++;
    uint32_t cutoff = 0, below = 0; /* every list nearer than cutoff is taken, and some at it */
    while (below + count[cutoff] < nprobe) below += count[cutoff++];
    uint32_t at_cutoff = nprobe - below, start = 0;
    for (uint32_t d = 0; d <= cutoff; d++) { /* counts become first slots */
        uint32_t c = d < cutoff ? count[d] : at_cutoff;
        count[d] = start;
        start += c;
    }
    for (uint32_t l = 0, taken = 0; l < f->lists && taken < nprobe; l++) {
        uint32_t d = s->centroid_dist[l];
        if (d > cutoff || (d == cutoff && at_cutoff == 0)) continue;
        if (d == cutoff) at_cutoff--;
        s->probe[count[d]++] = l;
        taken++;
    }
    return nprobe;
}

static void knn_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    search_task *t = ctx;
    const nearkit_index *ix = t->ix;
    const ivfb_impl *f = impl_of(ix);
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t nbytes = (size_t)ix->vector_bytes;
    probe_scratch s;
    bool ok = scratch_init(&s, ix, t->k);
    for (uint64_t i = begin; ok && i < end; i++) {
        const uint8_t *query = t->queries + i * nbytes;
        nearkit_int_topk_reset(&s.best);
        uint32_t probes = select_lists(&s, ix, query);
        for (uint32_t p = 0; p < probes; p++) {
            const ivf_list *list = &f->inv[s.probe[p]];
            for (uint32_t r0 = 0; r0 < list->size; r0 += SCAN_ROWS) {
                uint32_t n = list->size - r0 < SCAN_ROWS ? list->size - r0 : SCAN_ROWS;
                kt->hamming_many(s.row_dist, query, list->codes + (size_t)r0 * nbytes, n, nbytes);
                nearkit_int_topk_add(&s.best, s.row_dist, list->positions + r0, n);
            }
        }
        nearkit_int_topk_emit(&s.best, t->ids + i * t->stride, t->dist + i * t->stride);
    }
    if (!ok) atomic_store(&t->failed, 1);
    scratch_free(&s);
}

static uint64_t query_chunk(uint64_t n, uint32_t threads) {
    uint64_t chunk = n / ((uint64_t)threads * 4);
    return chunk < 1 ? 1 : chunk > 64 ? 64 : chunk;
}

static nearkit_status ivfb_search(const nearkit_index *ix, const void *queries, uint64_t n, uint64_t k,
                                  int64_t *ids, float *dist, uint64_t stride, uint32_t threads) {
    search_task t = {.ix = ix, .queries = queries, .k = k, .stride = stride, .ids = ids, .dist = dist};
    atomic_init(&t.failed, 0);
    nearkit_parallel_for(threads, n, query_chunk(n, threads), knn_range, &t);
    return atomic_load(&t.failed) ? nearkit_oom() : NEARKIT_OK;
}

static void range_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    search_task *t = ctx;
    const nearkit_index *ix = t->ix;
    const ivfb_impl *f = impl_of(ix);
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t nbytes = (size_t)ix->vector_bytes;
    probe_scratch s;
    bool ok = scratch_init(&s, ix, 0);
    for (uint64_t i = begin; ok && i < end; i++) {
        const uint8_t *query = t->queries + i * nbytes;
        uint32_t probes = select_lists(&s, ix, query);
        for (uint32_t p = 0; ok && p < probes; p++) {
            const ivf_list *list = &f->inv[s.probe[p]];
            for (uint32_t r0 = 0; ok && r0 < list->size; r0 += SCAN_ROWS) {
                uint32_t n = list->size - r0 < SCAN_ROWS ? list->size - r0 : SCAN_ROWS;
                kt->hamming_many(s.row_dist, query, list->codes + (size_t)r0 * nbytes, n, nbytes);
                for (uint32_t r = 0; ok && r < n; r++) {
                    if (s.row_dist[r] > t->radius) continue;
                    uint32_t pos = list->positions[r0 + r];
                    ok = nearkit_range_builder_add(t->out, i, f->ids ? f->ids[pos] : (int64_t)pos,
                                                   (float)s.row_dist[r]);
                }
            }
        }
    }
    if (!ok) atomic_store(&t->failed, 1);
    scratch_free(&s);
}

static nearkit_status ivfb_range_search(const nearkit_index *ix, const void *queries, uint64_t n,
                                        float radius, nearkit_range_builder *out, uint32_t threads) {
    if (radius < 0) return NEARKIT_OK;
    search_task t = {.ix = ix, .queries = queries, .out = out,
                     .radius = radius >= (float)ix->dimension ? ix->dimension : (uint32_t)floorf(radius)};
    atomic_init(&t.failed, 0);
    nearkit_parallel_for(threads, n, query_chunk(n, threads), range_range, &t);
    return atomic_load(&t.failed) ? nearkit_oom() : NEARKIT_OK;
}

/* ---- parameters -------------------------------------------------------------------------------- */

enum { PARAM_NLIST, PARAM_NPROBE, PARAM_TRAIN_SIZE, PARAM_ITERATIONS, PARAM_LIST_COUNT };

static const nearkit_param_desc ivfb_params[] = {
    /* nlist: number of lists. 0 (default) chooses about sqrt(n) for n training codes; never more
     * than the training codes. */
    [PARAM_NLIST] = {"nlist", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER, 0, MAX_LISTS},
    /* nprobe: lists scanned per query (default 8); nprobe >= nlist scans all and is exact. */
    [PARAM_NPROBE] = {"nprobe", NEARKIT_PARAM_FLAG_INTEGER, 1, MAX_LISTS},
    /* train_size: codes k-means trains on, sampled from the training set. 0 (default) takes
     * 128 per list, at least 16384. */
    [PARAM_TRAIN_SIZE] = {"train_size", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER, 0,
                          4294967295.0},
    /* iterations: at most this many k-means rounds (default 15); training stops early once at
     * most one code in 1000 changes cluster. */
    [PARAM_ITERATIONS] = {"iterations", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER, 1, 1000},
    /* list_count (read-only): the lists of the trained index; 0 before training. */
    [PARAM_LIST_COUNT] = {"list_count", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0,
                          MAX_LISTS},
};

static nearkit_status ivfb_get_param(const nearkit_index *ix, size_t i, double *value) {
    const ivfb_impl *f = impl_of(ix);
    switch (i) {
    case PARAM_NLIST: *value = f->nlist_param; break;
    case PARAM_NPROBE: *value = f->nprobe; break;
    case PARAM_TRAIN_SIZE: *value = (double)f->train_size; break;
    case PARAM_ITERATIONS: *value = f->iterations; break;
    default: *value = f->lists; break;
    }
    return NEARKIT_OK;
}

static nearkit_status ivfb_set_param(nearkit_index *ix, size_t i, double value) {
    ivfb_impl *f = impl_of(ix);
    if (i != PARAM_NPROBE && f->lists)
        return nearkit_set_error(NEARKIT_ERR_STATE, "parameter '%s' can only be set before training",
                                 ivfb_params[i].name);
    switch (i) {
    case PARAM_NLIST: f->nlist_param = (uint32_t)value; break;
    case PARAM_NPROBE: f->nprobe = (uint32_t)value; break;
    case PARAM_TRAIN_SIZE: f->train_size = (uint64_t)value; break;
    default: f->iterations = (uint32_t)value; break;
    }
    return NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

/* BIVF: u32 lists (0: untrained), u32 reserved (0). BCEN: lists centroids. VECS: the codes in
 * insertion order. BASN (trained only): u32 list of each code. IDS: explicit ids, if any. */
static nearkit_status ivfb_save(const nearkit_index *ix, nearkit_writer *w) {
    const ivfb_impl *f = impl_of(ix);
    size_t nbytes = (size_t)ix->vector_bytes;
    uint32_t meta[2] = {f->lists, 0};
    nearkit_status st = nearkit_writer_section(w, META_TAG, meta, sizeof meta);
    if (!st) st = nearkit_writer_section(w, CENTROIDS_TAG, f->centroids, (uint64_t)f->lists * nbytes);
    if (!st && !f->lists) st = nearkit_writer_section(w, VECS_TAG, f->pending, f->count * nbytes);
    if (!st && f->lists) {
        uint8_t *codes = nearkit_alloc_array((size_t)f->count, nbytes);
        uint32_t *assign = nearkit_alloc_array((size_t)f->count, sizeof *assign);
        if (codes && assign) {
            for (uint32_t l = 0; l < f->lists; l++)
                for (uint32_t r = 0; r < f->inv[l].size; r++) {
                    uint32_t pos = f->inv[l].positions[r];
                    memcpy(codes + (size_t)pos * nbytes, f->inv[l].codes + (size_t)r * nbytes, nbytes);
                    assign[pos] = l;
                }
            st = nearkit_writer_section(w, VECS_TAG, codes, f->count * nbytes);
            if (!st) st = nearkit_writer_section(w, ASSIGN_TAG, assign, f->count * sizeof *assign);
        } else {
            st = nearkit_oom();
        }
        free(codes);
        free(assign);
    }
    if (!st && f->ids) st = nearkit_writer_section(w, IDS_TAG, f->ids, f->count * sizeof(int64_t));
    return st;
}

static nearkit_status corrupt(const char *what) {
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %s", what);
}

/* The explicit ids section, if any, checked and copied (the image may be unaligned). */
static nearkit_status load_ids(int64_t **out, const nearkit_reader *r, uint64_t n) {
    const void *data;
    uint64_t size;
    *out = NULL;
    if (nearkit_reader_section(&data, &size, r, IDS_TAG) != NEARKIT_OK) {
        nearkit_clear_error();
        return NEARKIT_OK;
    }
    if (size != n * sizeof(int64_t)) return corrupt("id count differs from code count");
    int64_t *ids = nearkit_alloc_array((size_t)n, sizeof *ids);
    if (!ids) return nearkit_oom();
    memcpy(ids, data, (size_t)n * sizeof *ids);
    for (uint64_t i = 0; i < n; i++)
        if (ids[i] == -1) {
            free(ids);
            return corrupt("stored id -1");
        }
    *out = ids;
    return NEARKIT_OK;
}

/* Rebuilds the lists of a trained index from the stored assignment of every code. */
static nearkit_status load_lists(nearkit_index *ix, const nearkit_reader *r, const uint8_t *codes,
                                 uint64_t n) {
    ivfb_impl *f = impl_of(ix);
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, ASSIGN_TAG, n * sizeof(uint32_t));
    if (st) return st;
    uint32_t *assign = nearkit_alloc_array((size_t)n, sizeof *assign);
    if (!assign) return nearkit_oom();
    memcpy(assign, data, (size_t)n * sizeof *assign);
    for (uint64_t i = 0; i < n; i++)
        if (assign[i] >= f->lists) {
            free(assign);
            return corrupt("code assigned to a list that does not exist");
        }
    st = distribute(f, codes, assign, n, 0, (size_t)ix->vector_bytes);
    free(assign);
    return st;
}

static nearkit_status ivfb_load(nearkit_index *ix, const nearkit_reader *r) {
    ivfb_impl *f = impl_of(ix);
    size_t nbytes = (size_t)ix->vector_bytes;
    const void *meta_data, *centroids, *codes;
    uint64_t size;
    nearkit_status st = nearkit_reader_section_sized(&meta_data, r, META_TAG, 8);
    if (st) return st;
    uint32_t meta[2];
    memcpy(meta, meta_data, sizeof meta);
    if (meta[1] != 0) return corrupt("ivf_binary header: reserved field is not 0");
    if (meta[0] > MAX_LISTS) return corrupt("ivf_binary header: too many lists");
    uint32_t lists = meta[0];
    st = nearkit_reader_section_sized(&centroids, r, CENTROIDS_TAG, (uint64_t)lists * nbytes);
    if (!st) st = nearkit_reader_section(&codes, &size, r, VECS_TAG);
    if (st) return st;
    if (size % nbytes != 0) return corrupt("code section is not a whole number of codes");
    uint64_t n = size / nbytes;
    if (n > MAX_CODES) return corrupt("more codes than an ivf_binary index holds");
    int64_t *ids;
    st = load_ids(&ids, r, n);
    if (st) return st;
    if (lists == 0) {
        st = n ? ivfb_add(ix, codes, n, ids) : NEARKIT_OK;
        free(ids);
        return st;
    }
    f->centroids = nearkit_alloc_array(lists, nbytes);
    f->inv = calloc(lists, sizeof *f->inv);
    if (!f->centroids || !f->inv) {
        free(ids);
        return nearkit_oom(); /* the caller frees the index, and with it what was allocated */
    }
    memcpy(f->centroids, centroids, (size_t)lists * nbytes);
    f->lists = lists;
    st = load_lists(ix, r, codes, n);
    if (!st) st = store_ids(f, ids, n);
    if (!st) f->count = n;
    free(ids);
    return st;
}

static void ivfb_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    const ivfb_impl *f = impl_of(ix);
    if (!f->lists) {
        nearkit_strbuf_appendf(sb, "inverted file over binary codes; not trained (call build or "
                                   "train)\n");
        return;
    }
    uint32_t smallest = UINT32_MAX, largest = 0, empty = 0;
    for (uint32_t l = 0; l < f->lists; l++) {
        uint32_t n = f->inv[l].size;
        smallest = n < smallest ? n : smallest;
        largest = n > largest ? n : largest;
        empty += n == 0;
    }
    nearkit_strbuf_appendf(sb,
                           "inverted file over binary codes: %u lists (sizes %u..%u, mean %.1f, %u "
                           "empty), %u probed per query%s; distance kernels: %s\n",
                           f->lists, smallest, largest, (double)f->count / f->lists, empty,
                           probe_count(f),
                           probe_count(f) == f->lists ? " (exact)" : "", nearkit_kernels()->name);
}

const nearkit_index_ops nearkit_ivf_binary_ops = {
    .kind = NEARKIT_KIND_IVF_BINARY,
    .name = "ivf_binary",
    .description = "inverted file over binary codes (binary k-means lists): approximate Hamming "
                   "k-NN tuned by nprobe",
    .flags = NEARKIT_KIND_FLAG_NEEDS_TRAINING,
    .metric_mask = 1u << NEARKIT_METRIC_HAMMING,
    .params = ivfb_params,
    .n_params = sizeof ivfb_params / sizeof ivfb_params[0],
    .create = ivfb_create,
    .destroy = ivfb_destroy,
    .add = ivfb_add,
    .train = ivfb_train,
    .build = ivfb_build,
    .is_ready = ivfb_is_ready,
    .count = ivfb_count,
    .memory = ivfb_memory,
    .search = ivfb_search,
    .range_search = ivfb_range_search,
    .get_param = ivfb_get_param,
    .set_param = ivfb_set_param,
    .save = ivfb_save,
    .load = ivfb_load,
    .describe = ivfb_describe,
};
