/* The hnsw kind: a hierarchical navigable small-world graph (hnsw_graph.h) over the vectors of a
 * row store, for l2, cosine, ip (float32) and hamming (packed codes). Approximate: a query
 * descends the upper levels greedily, then keeps the ef_search nearest candidates met while
 * expanding level 0 (a beam); ef_search >= the live count answers exactly by a scan instead.
 * No training: vectors are searchable once add returns. Builds are seeded: one thread links a
 * batch the same way on every run (levels are drawn in insertion order), several link it in
 * parallel on the library's pool, each list changed under its node's spinlock.
 *
 * A living collection:
 *   - remove marks rows (id -1): searches still walk through them but never report them. Once
 *     they reach an eighth of the nodes, before the next add, and on compact, the graph is
 *     repaired: every node linking a removed one keeps its other neighbours and fills the
 *     removed ones' places from nodes two steps away (hnsw_graph.c, relink); the removed
 *     nodes' lists are dropped and their slots join a free list that later adds fill first, so
 *     recall does not decay under churn and memory stays bounded. compact also renumbers the
 *     nodes over the rows left, giving the free slots back;
 *   - get, each_id: the row store's;
 *   - a filtered call (or one meeting marked rows) is planned once: where few rows can pass
 *     (the filter's bound and a sample of 512 stored ids say so, ids or bitmap), the admitted
 *     rows are gathered and scored exactly with the flat index's arithmetic; otherwise the beam
 *     walks every node but widens to ef_search / share, every node it scores is tested (once per
 *     node and query, so a predicate is asked at most once per vector and query) and the
 *     admitted ones fill the result heap, and the beam doubles until k are found or it covers
 *     the graph;
 *   - range search is approximate: the beam of ef_search doubles while all it holds lies within
 *     the radius, and every scored node within it is reported (exact when ef_search >= count);
 *   - ef_search is the call's (c->settings);
 *   - adds run while searches do (add_prepare, add, add_publish: see base/internal.h). Under the
 *     write side the add repairs, and makes room in the rows and the graph for the batch; then,
 *     under the read side, it appends the vectors past the published rows and links them (link
 *     words atomic, each list changed under its node's spinlock, so searches only ever wait on
 *     a node being linked); back under the write side it publishes the batch by moving
 *     `visible`. Searches walk unpublished nodes but report, count, list and save only the
 *     published ones, so they see a batch whole or not at all. An add that would refill free
 *     slots (ids given, slots free) runs under the write side alone, as does everything else. */
#include "kinds/hnsw_graph.h"
#include "search/driver.h"
#include "search/rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HNSW_TAG NEARKIT_TAG('H', 'N', 'S', 'W')
#define LEVELS_TAG NEARKIT_TAG('H', 'L', 'V', 'L')
#define LINKS0_TAG NEARKIT_TAG('H', 'L', 'K', '0')
#define UPPER_TAG NEARKIT_TAG('H', 'L', 'K', 'U')
#define CODES_TAG NEARKIT_TAG('H', 'C', 'O', 'D')     /* coded kinds: the codes' header */
#define RANGES_TAG NEARKIT_TAG('H', 'S', 'Q', 'R')    /* coded kinds: the sq ranges */
#define ORIGINALS_TAG NEARKIT_TAG('H', 'O', 'R', 'G') /* coded kinds: the kept originals */

#define UNLINK_DIVISOR 8        /* removed nodes are unlinked once an eighth of the nodes */
#define SELECTIVITY_SAMPLE 512  /* stored ids sampled to estimate a filter's share */
#define EXACT_FACTOR 16.0       /* gather and scan exactly when admitted^2 <= this * ef * live:
                                   a filtered walk scores about 16 ef / share nodes */
#define EXACT_BLOCK 256         /* gathered rows scored per kernel call */

/* ---- parameters -------------------------------------------------------------------------------- */

/* The coded kinds' two come after hnsw's four. */
enum { P_M, P_EF_CONSTRUCTION, P_EF_SEARCH, P_MAX_LEVEL, P_REFINE, P_BYTES_PER_VECTOR };

#define BUILD_INT (NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER)
#define STAT_INT (NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER)
#define MAX_REFINE 1000.0
#define RECALL_FROM_K (NEARKIT_PARAM_FLAG_INTEGER | NEARKIT_PARAM_FLAG_RECALL | NEARKIT_PARAM_FLAG_FROM_K)

#define HNSW_PARAMS                                                                                 \
    {"M", BUILD_INT, 2, HNSW_MAX_M, 16,                                                             \
     "links per node on the upper levels (2 M on level 0): more is higher recall, more memory", NULL}, \
    {"ef_construction", BUILD_INT, 1, 65536, 200,                                                   \
     "candidates kept while linking a new node: more is a better graph and a slower add", NULL},   \
    {"ef_search", RECALL_FROM_K, 1, 2147483647.0, 64,                                               \
     "candidates kept per query (at least k): the recall / speed trade-off; >= count is exact", NULL}, \
    {"max_level", STAT_INT, 0, HNSW_MAX_LEVEL, 0, "the graph's top level (0 when empty)", NULL}

static const nearkit_param_desc hnsw_params[] = {HNSW_PARAMS};
#define N_PARAMS (sizeof hnsw_params / sizeof hnsw_params[0])

static const nearkit_param_desc coded_params[] = {
    HNSW_PARAMS,
    {"refine", 0, 0, MAX_REFINE, 0,
     "re-rank ceil(refine * k) candidates by their original vectors, reporting exact distances; > 0 "
     "when the codes are trained (train, or the first add) keeps the originals (4 bytes per "
     "dimension more), 0 then drops them for good",
     NULL},
    {"bytes_per_vector", NEARKIT_PARAM_FLAG_READ_ONLY, 0, 0, 0,
     "memory per stored vector: code, links, id and kept original", NULL},
};
#define N_CODED_PARAMS (sizeof coded_params / sizeof coded_params[0])

/* ---- the index --------------------------------------------------------------------------------- */

/* What the coded kinds add: the codec, the rows' shape, the originals. */
typedef struct hnsw_codes {
    nearkit_codec codec;
    nearkit_index shape;     /* the index as the row store sees its rows: code_size bytes, untyped */
    double refine;
    bool sealed;             /* trained (train or the first add): codec and keep_originals fixed */
    bool keep_originals;
    nearkit_rows originals;  /* kept: row n's float vector (implicit ids, count = rows.count) */
} hnsw_codes;

typedef struct hnsw_impl {
    nearkit_rows rows;       /* row n is node n; removed rows and free slots have id -1. Coded
                              * kinds: rows of codes (hnsw_codes.shape) */
    bool coded;
    hnsw_codes codes;
    hnsw_graph graph;
    uint32_t ef_search;
    uint64_t pending;        /* rows marked removed still linked in the graph */
    uint32_t *free_slots;    /* rows holding no node, filled by later adds (last first) */
    uint64_t n_free, free_cap;
    /* Adds link while searches run (see the top comment): the rows and nodes below `visible`
     * are the published ones, the only ones readers count, report, list or save. */
    uint64_t visible;        /* atomic */
    uint64_t published_rng;  /* the level generator as the last published add left it */
    bool adding;             /* an add runs under the read side, from add_prepare to add_publish */
    hnsw_visited_pool visited;
} hnsw_impl;

static hnsw_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

static nearkit_status hnsw_create(nearkit_index *ix) {
    hnsw_impl *h = calloc(1, sizeof *h);
    if (!h) return nearkit_oom();
    h->ef_search = 64;
    hnsw_visited_pool_init(&h->visited);
    ix->impl = h;
    return hnsw_graph_init(&h->graph, 16, 200, ix->seed);
}

/* A coded kind: an hnsw whose rows are codes of the format. */
static nearkit_status coded_create(nearkit_index *ix, int format) {
    nearkit_status st = hnsw_create(ix);
    if (st) return st;
    hnsw_codes *cd = &impl_of(ix)->codes;
    impl_of(ix)->coded = true;
    nearkit_codec_init(&cd->codec, format, ix->dimension);
    cd->shape = *ix;
    cd->shape.vector_type = NEARKIT_VECTOR_BINARY; /* codes: the row store checks no values */
    cd->shape.vector_bytes = cd->codec.code_size;
    cd->shape.impl = NULL;
    return NEARKIT_OK;
}

static nearkit_status fp16_create(nearkit_index *ix) { return coded_create(ix, NEARKIT_CODE_FP16); }
static nearkit_status bf16_create(nearkit_index *ix) { return coded_create(ix, NEARKIT_CODE_BF16); }
static nearkit_status sq8_create(nearkit_index *ix) { return coded_create(ix, NEARKIT_CODE_SQ8); }
static nearkit_status sq4_create(nearkit_index *ix) { return coded_create(ix, NEARKIT_CODE_SQ4); }

/* The index as the row store sees it: itself, or the codes' shape. */
static const nearkit_index *row_shape(const nearkit_index *ix) {
    const hnsw_impl *h = impl_of(ix);
    return h->coded ? &h->codes.shape : ix;
}

/* The kept originals, or NULL. */
static const nearkit_rows *originals_of(const hnsw_impl *h) {
    return h->coded && h->codes.keep_originals ? &h->codes.originals : NULL;
}

static void hnsw_destroy(nearkit_index *ix) {
    hnsw_impl *h = impl_of(ix);
    if (!h) return;
    nearkit_codec_free(&h->codes.codec);
    nearkit_rows_free(&h->codes.originals);
    nearkit_rows_free(&h->rows);
    hnsw_graph_free(&h->graph);
    hnsw_visited_pool_free(&h->visited);
    free(h->free_slots);
    free(h);
}

static bool hnsw_is_ready(const nearkit_index *ix) {
    (void)ix;
    return true;
}

/* Whether an add is linking under the read side (atomic: a failed add clears it there). Searches
 * meanwhile take the path that skips unpublished nodes and widens until it has k, since nodes
 * of the batch may fill the beam. */
static bool adding_now(const hnsw_impl *h) { return __atomic_load_n(&h->adding, __ATOMIC_RELAXED); }
static void set_adding(hnsw_impl *h, bool on) { __atomic_store_n(&h->adding, on, __ATOMIC_RELAXED); }

static uint64_t visible_of(const hnsw_impl *h) { return __atomic_load_n(&h->visible, __ATOMIC_ACQUIRE); }

/* The published rows, as a row store of their own (readers never read rows.count: an add may be
 * appending). */
static nearkit_rows published_rows(const hnsw_impl *h) {
    return (nearkit_rows){.vectors = h->rows.vectors, .ids = h->rows.ids, .count = visible_of(h),
                          .capacity = h->rows.capacity, .removed = h->rows.removed};
}

static uint64_t hnsw_count(const nearkit_index *ix) {
    const hnsw_impl *h = impl_of(ix);
    return visible_of(h) - h->rows.removed;
}

static uint64_t hnsw_memory(const nearkit_index *ix) {
    hnsw_impl *h = impl_of(ix);
    return sizeof *h + nearkit_rows_memory(&h->rows, row_shape(ix)) + hnsw_graph_memory(&h->graph, visible_of(h)) +
           h->free_cap * sizeof(uint32_t) + hnsw_visited_pool_memory(&h->visited) +
           nearkit_codec_memory(&h->codes.codec) + nearkit_rows_memory(&h->codes.originals, ix);
}

static hnsw_space space_of(const nearkit_index *ix) {
    const hnsw_impl *h = impl_of(ix);
    return (hnsw_space){.vectors = h->rows.vectors, .vector_bytes = (size_t)row_shape(ix)->vector_bytes,
                        .dimension = ix->dimension, .metric = ix->metric, .kt = nearkit_kernels(),
                        .codec = h->coded ? &h->codes.codec : NULL,
                        .grid = h->coded && nearkit_codec_has_grid(&h->codes.codec)};
}

/* The kept originals as a float space (exact distances of the re-rank). */
static hnsw_space exact_space_of(const nearkit_index *ix) {
    const nearkit_rows *o = originals_of(impl_of(ix));
    return (hnsw_space){.vectors = o ? o->vectors : NULL, .vector_bytes = (size_t)ix->vector_bytes,
                        .dimension = ix->dimension, .metric = ix->metric, .kt = nearkit_kernels()};
}

static uint32_t build_threads(const nearkit_index *ix) { return nearkit_resolve_threads(ix->num_threads); }

/* Makes every row and node visible (a writer, holding the index exclusively). */
static void publish(hnsw_impl *h) {
    h->published_rng = h->graph.rng;
    __atomic_store_n(&h->visible, h->rows.count, __ATOMIC_RELEASE);
}

/* ---- removing ---------------------------------------------------------------------------------- */

/* Room for every row on the free list. */
static nearkit_status reserve_free(hnsw_impl *h) {
    if (h->free_cap >= h->rows.count) return NEARKIT_OK;
    uint32_t *slots = realloc(h->free_slots, (size_t)(h->rows.count ? h->rows.count : 1) * sizeof *slots);
    if (!slots) return nearkit_oom();
    h->free_slots = slots;
    h->free_cap = h->rows.count;
    return NEARKIT_OK;
}

/* Takes the rows marked removed out of the graph (see the top comment); their slots go on the
 * free list, lowest popped first. */
static nearkit_status unlink_pending(nearkit_index *ix) {
    hnsw_impl *h = impl_of(ix);
    if (h->pending == 0) return NEARKIT_OK;
    uint64_t count = h->rows.count;
    uint8_t *gone = calloc((size_t)count, 1);
    nearkit_status st = gone ? reserve_free(h) : nearkit_oom();
    for (uint64_t r = 0; !st && r < count; r++)
        gone[r] = h->rows.ids[r] == NEARKIT_REMOVED_ID && h->graph.level[r] != HNSW_FREE_LEVEL;
    hnsw_space s = space_of(ix);
    if (!st) st = hnsw_unlink(&h->graph, &s, gone, count, build_threads(ix));
    for (uint64_t r = count; !st && r-- > 0;)
        if (gone[r]) h->free_slots[h->n_free++] = (uint32_t)r;
    if (!st) h->pending = 0;
    free(gone);
    return st;
}

static nearkit_status hnsw_remove(nearkit_index *ix, const nearkit_idmap *ids, uint64_t *removed) {
    hnsw_impl *h = impl_of(ix);
    /* Published rows only: a remove can take the index between an add's linking and its
     * publishing, and that add has not happened yet for any caller (it has not returned), so
     * the rows it is adding, perhaps under an id being removed, stay. */
    nearkit_status st = nearkit_rows_explicit_ids(&h->rows);
    nearkit_rows published = published_rows(h);
    if (!st) st = nearkit_rows_remove(&published, ids, removed);
    if (st) return st;
    h->rows.removed = published.removed;
    h->pending += *removed;
    uint64_t nodes = h->rows.count - h->n_free;
    /* the marks stand on their own: a repair that finds no memory waits for a later writer */
    if (h->pending * UNLINK_DIVISOR >= nodes && unlink_pending(ix)) nearkit_clear_error();
    return NEARKIT_OK;
}

/* The kept originals follow the rows' compaction: new row i is old row kept[i]. */
static void compact_originals(hnsw_impl *h, const nearkit_index *ix, const uint64_t *kept, uint64_t n) {
    if (!originals_of(h)) return;
    nearkit_rows *o = &h->codes.originals;
    size_t vb = (size_t)ix->vector_bytes;
    for (uint64_t i = 0; i < n; i++)
        if (kept[i] != i) memcpy(o->vectors + i * vb, o->vectors + kept[i] * vb, vb);
    o->count = n;
}

/* Repairs, then renumbers the nodes over the rows left. */
static nearkit_status hnsw_compact(nearkit_index *ix) {
    hnsw_impl *h = impl_of(ix);
    nearkit_status st = unlink_pending(ix);
    if (st || h->n_free == 0 || adding_now(h)) return st; /* an add in flight counts on its rows */
    uint64_t old = h->rows.count;
    uint64_t *kept = nearkit_alloc_array((size_t)old, sizeof *kept);
    if (!kept) return nearkit_oom();
    uint64_t n = 0;
    for (uint64_t r = 0; r < old; r++)
        if (h->rows.ids[r] != NEARKIT_REMOVED_ID) kept[n++] = r;
    st = hnsw_renumber(&h->graph, kept, n, old);
    if (!st) {
        nearkit_rows_compact(&h->rows, row_shape(ix), NULL);
        compact_originals(h, ix, kept, n);
        h->n_free = 0;
        publish(h);
    }
    free(kept);
    return st;
}

/* A decoded cosine vector brought back to unit length, as a cosine index stores its vectors (a
 * zero vector stays zero). */
static void to_unit(float *x, size_t d) {
    double sum = 0;
    for (size_t i = 0; i < d; i++) sum += (double)x[i] * x[i];
    if (sum <= 0) return;
    double inv = 1.0 / sqrt(sum);
    for (size_t i = 0; i < d; i++) x[i] = (float)(inv * x[i]);
}

/* Coded kinds: the originals where kept, else the codes decoded. */
static nearkit_status hnsw_get(const nearkit_index *ix, const nearkit_idmap *wanted, void *vectors,
                               uint8_t *found) {
    const hnsw_impl *h = impl_of(ix);
    nearkit_rows rows = published_rows(h);
    if (!h->coded || originals_of(h)) {
        if (h->coded) rows.vectors = h->codes.originals.vectors; /* by row, the codes' ids */
        nearkit_rows_get(&rows, ix, wanted, vectors, found);
        return NEARKIT_OK;
    }
    size_t vb = (size_t)ix->vector_bytes;
    for (uint64_t r = 0; r < rows.count; r++) {
        int64_t id = nearkit_rows_id(&rows, r);
        const uint64_t *slot = id == NEARKIT_REMOVED_ID ? NULL : nearkit_idmap_find(wanted, id);
        if (!slot) continue;
        float *out = (float *)(void *)((uint8_t *)vectors + *slot * vb);
        nearkit_codec_decode(&h->codes.codec, out, nearkit_rows_at(&rows, row_shape(ix), r), 1);
        if (ix->metric == NEARKIT_METRIC_COSINE) to_unit(out, ix->dimension);
        found[*slot] = 1;
    }
    return NEARKIT_OK;
}

static void hnsw_each_id(const nearkit_index *ix, bool (*fn)(void *ctx, int64_t id), void *ctx) {
    nearkit_rows rows = published_rows(impl_of(ix));
    nearkit_rows_each_id(&rows, fn, ctx);
}

/* ---- adding ------------------------------------------------------------------------------------ */

/* Rows for n vectors: free slots first (only for vectors with ids: a slot has no id of its own),
 * then appended rows. The batch's nodes, levels drawn in order, upper blocks allocated. */
typedef struct add_batch {
    uint32_t *nodes;
    uint8_t *levels;
    uint32_t **upper;
    uint64_t reused;
} add_batch;

static void batch_free(add_batch *b, uint64_t n) {
    for (uint64_t i = 0; b->upper && i < n; i++) free(b->upper[i]);
    free(b->nodes);
    free(b->levels);
    free(b->upper);
}

static nearkit_status batch_prepare(add_batch *b, hnsw_impl *h, uint64_t n, bool reuse) {
    hnsw_graph *g = &h->graph;
    *b = (add_batch){.reused = reuse ? (n < h->n_free ? n : h->n_free) : 0};
    b->nodes = nearkit_alloc_array((size_t)n, sizeof *b->nodes);
    b->levels = nearkit_alloc_array((size_t)n, 1);
    b->upper = calloc((size_t)n, sizeof *b->upper);
    if (!b->nodes || !b->levels || !b->upper) return nearkit_oom();
    for (uint64_t i = 0; i < n; i++) {
        b->nodes[i] = i < b->reused ? h->free_slots[h->n_free - 1 - i]
                                    : (uint32_t)(h->rows.count + i - b->reused);
        b->levels[i] = hnsw_draw_level(g);
        if (b->levels[i] && !(b->upper[i] = calloc((size_t)b->levels[i] * (1 + g->M), sizeof(uint32_t))))
            return nearkit_oom();
    }
    return NEARKIT_OK;
}

/* Puts the batch's rows (vectors, or codes) and ids in their rows, the originals (kept ones) in
 * theirs, and its nodes' levels in the graph (cannot fail: the rows were appended first). */
static void batch_commit(add_batch *b, hnsw_impl *h, const nearkit_index *ix, const void *rows,
                         const void *vectors, uint64_t n, const int64_t *ids) {
    size_t rb = (size_t)row_shape(ix)->vector_bytes, vb = (size_t)ix->vector_bytes;
    for (uint64_t i = 0; i < b->reused; i++) {
        uint32_t slot = b->nodes[i];
        memcpy(h->rows.vectors + (size_t)slot * rb, (const uint8_t *)rows + i * rb, rb);
        if (originals_of(h))
            memcpy(h->codes.originals.vectors + (size_t)slot * vb, (const uint8_t *)vectors + i * vb, vb);
        h->rows.ids[slot] = ids[i];
    }
    if (b->reused) { /* an exclusive add: readers count removed rows */
        h->rows.removed -= b->reused;
        h->n_free -= b->reused;
    }
    for (uint64_t i = 0; i < n; i++) {
        h->graph.level[b->nodes[i]] = b->levels[i];
        h->graph.upper[b->nodes[i]] = b->upper[i];
        b->upper[i] = NULL;
    }
}

/* Under the write side: repairs, then (an add that appends only) grows the rows and the graph
 * for n more so that the add may run while searches do. Refilling free slots stays exclusive: a
 * slot below the published rows changing under a reader's scan would show part of a batch. */
static nearkit_status hnsw_add_prepare(nearkit_index *ix, uint64_t n, bool with_ids, bool *shared) {
    hnsw_impl *h = impl_of(ix);
    if (unlink_pending(ix)) nearkit_clear_error(); /* slots wait for a later writer */
    *shared = false;
    if (with_ids && h->n_free > 0) return NEARKIT_OK;
    if (h->coded && !h->codes.sealed) return NEARKIT_OK; /* the first add trains the codes: alone */
    nearkit_status st = with_ids ? nearkit_rows_explicit_ids(&h->rows) : NEARKIT_OK;
    if (!st) st = nearkit_rows_reserve(&h->rows, row_shape(ix), h->rows.count + n);
    if (!st && originals_of(h)) st = nearkit_rows_reserve(&h->codes.originals, ix, h->rows.count + n);
    if (!st) st = hnsw_graph_reserve(&h->graph, h->rows.count + n);
    *shared = st == NEARKIT_OK;
    set_adding(h, *shared);
    return st;
}

static void hnsw_add_publish(nearkit_index *ix) {
    hnsw_impl *h = impl_of(ix);
    set_adding(h, false);
    publish(h);
}

/* Links the vectors; they count once published (hnsw_add_publish). Under the read side when
 * add_prepare said so: then it only appends, into room made beforehand. */
/* Coded kinds: fixes the codes before the first vectors go in (train, or the first add): the
 * codec is trained on x (a seeded sample of it) unless it was, and the originals are kept from
 * now on when refine > 0. Exclusive writers only. */
static nearkit_status seal(nearkit_index *ix, const void *x, uint64_t n) {
    hnsw_codes *cd = &impl_of(ix)->codes;
    if (cd->sealed) return NEARKIT_OK;
    nearkit_status st = nearkit_codec_train(&cd->codec, x, n, ix->seed, build_threads(ix));
    if (st) return st;
    cd->keep_originals = cd->refine > 0.0;
    cd->sealed = true;
    return NEARKIT_OK;
}

static nearkit_status hnsw_train(nearkit_index *ix, const void *vectors, uint64_t n) {
    hnsw_impl *h = impl_of(ix);
    if (h->codes.sealed)
        return nearkit_set_error(NEARKIT_ERR_STATE, "the %s index is trained already (by train or its first add)",
                                 ix->ops->name);
    return seal(ix, vectors, n);
}

/* Coded kinds: the batch's codes (*codes, freed by the caller), sealing first. */
static nearkit_status encode_batch(nearkit_index *ix, const void *vectors, uint64_t n, uint8_t **codes) {
    hnsw_codes *cd = &impl_of(ix)->codes;
    nearkit_status st = seal(ix, vectors, n);
    if (st) return st;
    *codes = nearkit_alloc_array((size_t)n, cd->codec.code_size);
    if (!*codes) return nearkit_oom();
    return nearkit_codec_encode(&cd->codec, *codes, vectors, n);
}

static nearkit_status hnsw_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    hnsw_impl *h = impl_of(ix);
    if (n == 0) return NEARKIT_OK;
    bool shared = adding_now(h);
    add_batch b = {0};
    uint8_t *codes = NULL;
    nearkit_status st = h->coded ? encode_batch(ix, vectors, n, &codes) : NEARKIT_OK;
    const uint8_t *rows = h->coded ? codes : vectors;
    if (!st) st = batch_prepare(&b, h, n, ids != NULL && !shared);
    uint64_t appended = n - b.reused;
    if (!st) st = hnsw_graph_reserve(&h->graph, h->rows.count + appended);
    nearkit_rows *originals = (nearkit_rows *)originals_of(h);
    if (!st && originals) st = nearkit_rows_reserve(originals, ix, originals->count + appended);
    hnsw_space s = space_of(ix);
    hnsw_inserter *ins = st ? NULL : hnsw_inserter_new(&h->graph, &s, build_threads(ix));
    if (!st && !ins) st = nearkit_oom();
    size_t rb = (size_t)row_shape(ix)->vector_bytes, vb = (size_t)ix->vector_bytes;
    if (!st)
        st = nearkit_rows_append(&h->rows, row_shape(ix), rows + b.reused * rb, appended, ids ? ids + b.reused : NULL);
    if (!st && originals) /* reserved: cannot fail */
        st = nearkit_rows_append(originals, ix, (const uint8_t *)vectors + b.reused * vb, appended, NULL);
    if (!st) {
        batch_commit(&b, h, ix, rows, vectors, n, ids);
        s = space_of(ix); /* the rows may have moved */
        hnsw_insert(ins, &h->graph, &s, b.nodes, n);
    }
    if (st) set_adding(h, false); /* no publish follows */
    hnsw_inserter_free(ins);
    batch_free(&b, n);
    free(codes);
    return st;
}

/* ---- parameters -------------------------------------------------------------------------------- */

static nearkit_status hnsw_get_param(const nearkit_index *ix, size_t i, double *value) {
    const hnsw_impl *h = impl_of(ix);
    uint64_t top = hnsw_top(&h->graph);
    switch (i) {
    case P_M: *value = h->graph.M; break;
    case P_EF_CONSTRUCTION: *value = h->graph.ef_construction; break;
    case P_EF_SEARCH: *value = h->ef_search; break;
    case P_MAX_LEVEL: *value = top == HNSW_NO_TOP ? 0 : hnsw_top_level(top); break;
    case P_REFINE: *value = h->codes.refine; break;
    default: *value = hnsw_count(ix) ? (double)hnsw_memory(ix) / (double)hnsw_count(ix) : 0.0; break;
    }
    return NEARKIT_OK;
}

static nearkit_status hnsw_set_param(nearkit_index *ix, size_t i, double value) {
    hnsw_impl *h = impl_of(ix);
    hnsw_graph *g = &h->graph;
    if (i == P_EF_SEARCH) {
        h->ef_search = (uint32_t)value;
        return NEARKIT_OK;
    }
    if (i == P_REFINE) {
        if (value > 0.0 && h->codes.sealed && !h->codes.keep_originals)
            return nearkit_set_error(NEARKIT_ERR_STATE,
                                     "refine: the original vectors were dropped when the %s index was "
                                     "trained with refine 0; re-rank needs them",
                                     ix->ops->name);
        h->codes.refine = value;
        return NEARKIT_OK;
    }
    /* the generic layer refuses build parameters once vectors are in; removed ones still shape
     * the graph's storage */
    if (h->rows.count > 0 || adding_now(h))
        return nearkit_set_error(NEARKIT_ERR_STATE, "parameter '%s' can only be set before vectors are added",
                                 hnsw_params[i].name);
    if (i == P_M) {
        uint64_t rng = g->rng;
        uint32_t efc = g->ef_construction;
        hnsw_graph_free(g);
        nearkit_status st = hnsw_graph_init(g, (uint32_t)value, efc, 0);
        g->rng = rng;
        return st;
    }
    g->ef_construction = (uint32_t)value;
    return NEARKIT_OK;
}

/* ---- searching: the plan ----------------------------------------------------------------------- */

/* How one call searches, the same for every query. */
typedef struct hnsw_plan {
    hnsw_space space;
    hnsw_space exact;     /* the kept originals' (coded kinds) */
    uint64_t refine_k;    /* candidates re-ranked by exact distance (0: none) */
    bool exact_range;     /* range matches decided by exact distance */
    uint64_t visible;     /* nodes below may be reported */
    uint64_t nodes;       /* nodes in the graph, live or marked */
    uint32_t beam;        /* candidates kept per query */
    bool tests;           /* candidates are tested (a filter, or marked rows) */
    uint64_t *positions;  /* non-NULL: answer exactly over these admitted rows */
    uint64_t n_positions;
} hnsw_plan;

static double call_setting(const nearkit_search_call *c, size_t i) { return c->settings[i]; }

/* Whether the call re-ranks: a coded kind with its originals and the call's refine > 0. */
static bool refines(const nearkit_search_call *c) {
    return originals_of(impl_of(c->ix)) && call_setting(c, P_REFINE) > 0.0;
}

/* The candidates a k-NN call re-ranks: ceil(refine * k), at least k, at most the live count. */
static uint64_t refine_count(const nearkit_search_call *c, uint64_t live) {
    if (!refines(c) || c->k == 0) return 0;
    double want = ceil(call_setting(c, P_REFINE) * (double)c->k);
    uint64_t n = want >= (double)live ? live : (uint64_t)want;
    return n < c->k ? c->k : n;
}

/* The share of stored rows an id list or bitmap admits, estimated: its bound over the count and
 * an even sample of the stored ids, whichever is lower. */
static double estimate_share(const nearkit_search_call *c, const hnsw_impl *h, uint64_t visible) {
    uint64_t live = visible - h->rows.removed;
    if (live == 0) return 1.0;
    double share = c->admit->most == UINT64_MAX ? 1.0 : (double)c->admit->most / (double)live;
    uint64_t step = visible <= SELECTIVITY_SAMPLE ? 1 : visible / SELECTIVITY_SAMPLE, tested = 0, hits = 0;
    for (uint64_t r = 0; r < visible; r += step) {
        int64_t id = nearkit_rows_id(&h->rows, r);
        if (id == NEARKIT_REMOVED_ID) continue;
        tested++;
        hits += nearkit_admits(c->admit, id);
    }
    if (tested) {
        /* half a hit more than seen: a sample that finds none still admits a few */
        double sampled = ((double)hits + (step > 1 ? 0.5 : 0.0)) / (double)tested;
        if (sampled < share) share = sampled;
    }
    return share > 1.0 ? 1.0 : share;
}

static uint32_t clamp_beam(double want, uint64_t nodes) {
    double most = nodes < 1 ? 1.0 : (double)nodes;
    if (want > most) want = most;
    return want < 1.0 ? 1 : (uint32_t)want;
}

static bool hnsw_plan_call(nearkit_search_call *c, void *plan) {
    const hnsw_impl *h = impl_of(c->ix);
    hnsw_plan *p = plan;
    uint64_t visible = visible_of(h);
    uint64_t live = visible - h->rows.removed;
    double ef = call_setting(c, P_EF_SEARCH);
    if (c->k > ef) ef = (double)c->k;
    *p = (hnsw_plan){.space = space_of(c->ix), .exact = exact_space_of(c->ix), .refine_k = refine_count(c, live),
                     .exact_range = refines(c), .visible = visible, .nodes = visible - h->n_free,
                     .tests = c->admit || h->pending > 0 || adding_now(h)};
    if ((double)p->refine_k > ef) ef = (double)p->refine_k;
    c->chunk = nearkit_default_chunk(c->n, c->threads, 8);
    double share = p->nodes ? (double)live / (double)p->nodes : 1.0;
    bool exact = ef >= (double)live;
    if (c->admit && c->admit->type != NEARKIT_FILTER_PREDICATE) {
        share *= estimate_share(c, h, visible);
        double admitted = share * (double)p->nodes;
        exact = exact || admitted * admitted <= EXACT_FACTOR * ef * (double)live;
    }
    p->beam = clamp_beam(ef / (share > 1e-6 ? share : 1e-6), p->nodes);
    if (!exact) return true;
    nearkit_rows rows = published_rows(h);
    nearkit_status st = nearkit_rows_admitted(&p->positions, &p->n_positions, &rows, c, 0, visible);
    if (st) nearkit_clear_error();
    return st == NEARKIT_OK;
}

static void hnsw_plan_free(void *plan) { free(((hnsw_plan *)plan)->positions); }

/* ---- searching: one query ---------------------------------------------------------------------- */

/* One worker's scratch for a call. */
typedef struct hnsw_scratch {
    hnsw_visited_pool *pool; /* the call's index's; NULL while the scratch is parked */
    hnsw_visited *visited;
    size_t k, cand;          /* what the heaps hold */
    hnsw_beam beam;
    float *heap_dist, *dist;
    uint64_t *heap_pos;
    float *final_dist;       /* the re-rank's k */
    uint64_t *final_pos;
    uint32_t *ints;
    int16_t *grid;           /* a grid space's query on the grid: room for grid_d values */
    size_t grid_d;
    hnsw_candidate *matches; /* range */
    size_t n_matches, matches_cap;
    bool failed;
} hnsw_scratch;

static void hnsw_scratch_free(void *scratch) {
    hnsw_scratch *s = scratch;
    if (!s) return;
    if (s->pool) hnsw_visited_give(s->pool, s->visited);
    hnsw_beam_free(&s->beam);
    free(s->heap_dist);
    free(s->heap_pos);
    free(s->final_dist);
    free(s->final_pos);
    free(s->dist);
    free(s->ints);
    free(s->grid);
    free(s->matches);
    free(s);
}

/* The heaps' sizes for call c: k (1 for a range call), and the candidates a re-rank takes. */
static void heap_sizes(const nearkit_search_call *c, size_t *k, size_t *cand) {
    const hnsw_plan *p = c->state;
    *k = c->k ? (size_t)c->k : 1;
    *cand = p->refine_k > *k ? (size_t)p->refine_k : *k;
}

static void *hnsw_scratch_new(const nearkit_search_call *c) {
    hnsw_impl *h = impl_of(c->ix);
    hnsw_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t k, cand;
    heap_sizes(c, &k, &cand);
    s->k = k;
    s->cand = cand;
    s->pool = &h->visited;
    s->visited = hnsw_visited_take(&h->visited);
    s->heap_dist = nearkit_alloc_array(cand, sizeof(float));
    s->heap_pos = nearkit_alloc_array(cand, sizeof(uint64_t));
    s->final_dist = nearkit_alloc_array(k, sizeof(float));
    s->final_pos = nearkit_alloc_array(k, sizeof(uint64_t));
    s->dist = nearkit_alloc_array(EXACT_BLOCK, sizeof(float));
    s->ints = nearkit_alloc_array(EXACT_BLOCK, sizeof(uint32_t));
    bool grid_ok = !((const hnsw_plan *)c->state)->space.grid ||
                   (s->grid = nearkit_alloc_array(s->grid_d = c->ix->dimension, sizeof(int16_t))) != NULL;
    if (s->visited && s->heap_dist && s->heap_pos && s->final_dist && s->final_pos && s->dist && s->ints && grid_ok)
        return s;
    hnsw_scratch_free(s);
    return NULL;
}

/* Gives the visited set back to its index's pool: the index may be freed while the driver keeps
 * the scratch for the thread's next call. */
static void hnsw_scratch_park(void *scratch) {
    hnsw_scratch *s = scratch;
    hnsw_visited_give(s->pool, s->visited);
    s->pool = NULL;
    s->visited = NULL;
}

/* A parked scratch serves a call whose heaps are of its sizes, with a visited set of the call's
 * index (from its pool: no allocation once the pool holds one). */
static bool hnsw_scratch_reuse(void *scratch, const nearkit_search_call *c) {
    hnsw_scratch *s = scratch;
    size_t k, cand;
    heap_sizes(c, &k, &cand);
    if (s->pool || s->k != k || s->cand != cand) return false;
    if (((const hnsw_plan *)c->state)->space.grid && s->grid_d != c->ix->dimension) return false;
    hnsw_impl *h = impl_of(c->ix);
    if (!(s->visited = hnsw_visited_take(&h->visited))) return false;
    s->pool = &h->visited;
    s->n_matches = 0;
    s->failed = false;
    return true;
}

/* The rows the gathered positions are scored on with the flat index's arithmetic: the stored
 * ones, or a coded kind's kept originals (under the codes' ids); false: codes only. Only the two
 * arrays are read: an add running beside the search moves the counts (it reserved first, so the
 * arrays stay where they are). */
static bool exact_rows(nearkit_rows *out, const hnsw_impl *h) {
    *out = (nearkit_rows){.vectors = h->rows.vectors, .ids = h->rows.ids};
    if (!h->coded) return true;
    if (!originals_of(h)) return false;
    out->vectors = h->codes.originals.vectors;
    return true;
}

/* The code distances of query q to the rows at positions[0, n) (coded kinds without originals). */
static void code_distances(float *dist, const hnsw_plan *p, const void *query, const uint64_t *positions, uint64_t n) {
    const hnsw_query exact = hnsw_exact_query(query);
    for (uint64_t i = 0; i < n; i++) dist[i] = hnsw_node_distance(&p->space, &exact, (uint32_t)positions[i]);
}

/* The exact answer over the gathered rows (coded kinds without originals: by code distance). */
static void exact_knn(hnsw_scratch *s, const nearkit_search_call *c, uint64_t q) {
    const hnsw_plan *p = c->state;
    nearkit_rows rows;
    bool exact = exact_rows(&rows, impl_of(c->ix));
    const void *query = nearkit_query_at(c, q);
    nearkit_topk heap;
    nearkit_topk_init(&heap, s->heap_dist, s->heap_pos, (size_t)c->k, rows.ids);
    for (uint64_t at = 0; at < p->n_positions; at += EXACT_BLOCK) {
        uint64_t n = p->n_positions - at < EXACT_BLOCK ? p->n_positions - at : EXACT_BLOCK;
        if (exact) {
            nearkit_rows_offer(&heap, s->dist, s->ints, c->ix, &rows, query, p->positions + at, n);
            continue;
        }
        code_distances(s->dist, p, query, p->positions + at, n);
        for (uint64_t i = 0; i < n; i++)
            if (s->dist[i] <= nearkit_topk_bound(&heap)) nearkit_topk_push(&heap, s->dist[i], p->positions[at + i]);
    }
    nearkit_write_heap(c, q, &heap);
}

/* Writes query q's k nearest of the candidates by their exact distances in a space: the kept
 * originals' (a re-rank), or the codes' own where the walk ranked them on the grid. */
static void write_rescored(hnsw_scratch *s, const nearkit_search_call *c, uint64_t q, const nearkit_topk *cand,
                           const hnsw_space *space) {
    const hnsw_query query = hnsw_exact_query(nearkit_query_at(c, q));
    nearkit_topk heap;
    nearkit_topk_init(&heap, s->final_dist, s->final_pos, (size_t)c->k, impl_of(c->ix)->rows.ids);
    size_t ahead = nearkit_rerank_ahead(space->vector_bytes);
    for (size_t i = 0; i < cand->size; i++) {
        nearkit_rerank_prefetch(space->vectors, space->vector_bytes, cand->pos, cand->size, i, ahead);
        float d = hnsw_node_distance(space, &query, (uint32_t)cand->pos[i]);
        if (d <= nearkit_topk_bound(&heap)) nearkit_topk_push(&heap, d, cand->pos[i]);
    }
    nearkit_write_heap(c, q, &heap);
}

/* Query q as the call's walks take it (on the grid in the scratch's room, in a grid space). */
static hnsw_query walk_query(const hnsw_scratch *s, const nearkit_search_call *c, uint64_t q) {
    const hnsw_plan *p = c->state;
    return hnsw_walk_query(&p->space, nearkit_query_at(c, q), s->grid);
}

/* What a filtered k-NN query collects: every scored node the call admits, into the heap. */
typedef struct knn_sink {
    const nearkit_search_call *c;
    const nearkit_rows *rows;
    nearkit_topk *heap;
    uint64_t visible;
} knn_sink;

static void offer_admitted(void *ctx, uint32_t node, float dist) {
    knn_sink *k = ctx;
    if (dist > nearkit_topk_bound(k->heap) || node >= k->visible) return;
    if (nearkit_call_admits(k->c, nearkit_rows_id(k->rows, node))) nearkit_topk_push(k->heap, dist, node);
}

/* Walks the graph with a beam widened (doubling) until the heap holds k or the beam covers
 * every node. False: out of memory. */
static bool filtered_knn(hnsw_scratch *s, const nearkit_search_call *c, uint64_t q, nearkit_topk *heap) {
    const hnsw_plan *p = c->state;
    const hnsw_impl *h = impl_of(c->ix);
    knn_sink ks = {.c = c, .rows = &h->rows, .heap = heap, .visible = p->visible};
    hnsw_sink sink = {offer_admitted, &ks};
    const hnsw_query query = walk_query(s, c, q);
    if (!hnsw_search(&h->graph, &p->space, &query, p->beam, &s->beam, s->visited, &sink)) return false;
    for (uint32_t cap = p->beam; heap->size < c->k && cap < p->nodes;) {
        cap = clamp_beam(2.0 * cap, p->nodes);
        if (!hnsw_beam_widen(&s->beam, cap)) return false;
        hnsw_search_layer(&h->graph, &p->space, &query, 0, &s->beam, s->visited, &sink);
    }
    return true;
}

static bool knn_one(hnsw_scratch *s, const nearkit_search_call *c, uint64_t q) {
    const hnsw_plan *p = c->state;
    if (p->positions) {
        exact_knn(s, c, q);
        return true;
    }
    const hnsw_impl *h = impl_of(c->ix);
    nearkit_topk heap; /* the k, or the candidates to re-rank */
    nearkit_topk_init(&heap, s->heap_dist, s->heap_pos, (size_t)(p->refine_k ? p->refine_k : c->k), h->rows.ids);
    if (p->tests) {
        if (!filtered_knn(s, c, q, &heap)) return false;
    } else {
        const hnsw_query query = walk_query(s, c, q);
        if (!hnsw_search(&h->graph, &p->space, &query, p->beam, &s->beam, s->visited, NULL)) return false;
        for (uint32_t i = 0; i < s->beam.size; i++) {
            const hnsw_candidate *x = &s->beam.c[i];
            if (heap.size == heap.cap && x->dist > nearkit_topk_bound(&heap)) break;
            if (x->node < p->visible) nearkit_topk_push(&heap, x->dist, x->node);
        }
    }
    if (p->refine_k) write_rescored(s, c, q, &heap, &p->exact);
    else if (p->space.grid) write_rescored(s, c, q, &heap, &p->space);
    else nearkit_write_heap(c, q, &heap);
    return true;
}

static bool hnsw_knn(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    for (uint64_t q = first; q < first + n; q++)
        if (!knn_one(scratch, c, q)) return false;
    return true;
}

/* ---- searching: range -------------------------------------------------------------------------- */

typedef struct range_sink {
    const nearkit_search_call *c;
    const nearkit_rows *rows;
    hnsw_scratch *s;
    uint64_t visible;
    /* non-NULL: matches decided by exact distances here (the originals', or the codes' own where
     * the walk ranks on the grid) */
    const hnsw_space *exact;
    hnsw_query query;
} range_sink;

static void offer_match(void *ctx, uint32_t node, float dist) {
    range_sink *r = ctx;
    hnsw_scratch *s = r->s;
    if (node >= r->visible) return;
    if (r->exact) dist = hnsw_node_distance(r->exact, &r->query, node);
    if (nearkit_reported(r->c->ix, dist) > r->c->radius) return;
    if (!nearkit_call_admits(r->c, nearkit_rows_id(r->rows, node))) return;
    if (s->n_matches == s->matches_cap) {
        size_t cap = s->matches_cap ? 2 * s->matches_cap : 64;
        hnsw_candidate *m = realloc(s->matches, cap * sizeof *m);
        if (!m) {
            s->failed = true;
            return;
        }
        s->matches = m;
        s->matches_cap = cap;
    }
    s->matches[s->n_matches++] = (hnsw_candidate){dist, node};
}

/* Whether a beam holds only matches while it could hold more: then it is widened. */
static bool beam_within(const nearkit_search_call *c, const hnsw_beam *b) {
    return b->size == b->cap && nearkit_reported(c->ix, b->c[b->size - 1].dist) <= c->radius;
}

/* The exact answer over the gathered rows, a block at a time (coded kinds without originals: by
 * code distance). */
static bool range_exact(hnsw_scratch *s, const nearkit_search_call *c, uint64_t q) {
    const hnsw_plan *p = c->state;
    nearkit_rows rows;
    bool exact = exact_rows(&rows, impl_of(c->ix));
    for (uint64_t at = 0; at < p->n_positions; at += EXACT_BLOCK) {
        uint64_t n = p->n_positions - at < EXACT_BLOCK ? p->n_positions - at : EXACT_BLOCK;
        if (exact) {
            if (!nearkit_rows_match(c, q, s->dist, s->ints, &rows, p->positions + at, n)) return false;
            continue;
        }
        code_distances(s->dist, p, nearkit_query_at(c, q), p->positions + at, n);
        for (uint64_t i = 0; i < n; i++) {
            float reported = nearkit_reported(c->ix, s->dist[i]);
            if (reported <= c->radius &&
                !nearkit_add_match(c, q, nearkit_rows_id(&rows, p->positions[at + i]), reported))
                return false;
        }
    }
    return true;
}

static bool hnsw_range(void *scratch, const nearkit_search_call *c, uint64_t q) {
    hnsw_scratch *s = scratch;
    const hnsw_plan *p = c->state;
    const hnsw_impl *h = impl_of(c->ix);
    if (p->positions) return range_exact(s, c, q);
    const hnsw_query query = walk_query(s, c, q);
    range_sink rs = {.c = c, .rows = &h->rows, .s = s, .visible = p->visible,
                     .exact = p->exact_range ? &p->exact : p->space.grid ? &p->space : NULL,
                     .query = hnsw_exact_query(query.v)};
    hnsw_sink sink = {offer_match, &rs};
    s->n_matches = 0;
    s->failed = false;
    if (!hnsw_search(&h->graph, &p->space, &query, p->beam, &s->beam, s->visited, &sink)) return false;
    for (uint32_t cap = p->beam; beam_within(c, &s->beam) && cap < p->nodes;) {
        cap = clamp_beam(2.0 * cap, p->nodes);
        if (!hnsw_beam_widen(&s->beam, cap)) return false;
        hnsw_search_layer(&h->graph, &p->space, &query, 0, &s->beam, s->visited, &sink);
    }
    for (size_t i = 0; !s->failed && i < s->n_matches; i++)
        if (!nearkit_add_match(c, q, nearkit_rows_id(&h->rows, s->matches[i].node),
                               nearkit_reported(c->ix, s->matches[i].dist)))
            return false;
    return !s->failed;
}

static const nearkit_searcher hnsw_searcher = {
    .plan_size = sizeof(hnsw_plan),
    .plan = hnsw_plan_call,
    .plan_free = hnsw_plan_free,
    .scratch_new = hnsw_scratch_new,
    .scratch_free = hnsw_scratch_free,
    .scratch_reuse = hnsw_scratch_reuse,
    .scratch_park = hnsw_scratch_park,
    .knn = hnsw_knn,
    .range = hnsw_range,
};

/* ---- persistence ------------------------------------------------------------------------------- */

/* The HNSW section: format version 1, M, the entry node, the top level (-1: empty), the level
 * generator's state and the number of nodes (the rows of VECS). */
typedef struct hnsw_header {
    uint32_t version, M, entry;
    int32_t top_level;
    uint64_t rng, nodes;
} hnsw_header;
_Static_assert(sizeof(hnsw_header) == 32, "the HNSW section is 32 bytes");

/* Upper-level words of every node with a level above 0, in node order, given the level bytes. */
static uint64_t words_above(const uint8_t *level, uint64_t nodes, uint32_t M) {
    uint64_t words = 0;
    for (uint64_t u = 0; u < nodes; u++)
        if (level[u] != HNSW_FREE_LEVEL) words += (uint64_t)level[u] * (1 + M);
    return words;
}

static uint64_t upper_words(const hnsw_graph *g, uint64_t nodes) { return words_above(g->level, nodes, g->M); }

/* Copies a list word by word (an add may be changing it), leaving out nodes not published. */
static void copy_list(uint32_t *out, const uint32_t *list, uint32_t max, uint64_t nodes) {
    uint32_t n = hnsw_word(list), kept = 0;
    if (n > max) n = max;
    memset(out, 0, (1 + (size_t)max) * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = hnsw_word(list + 1 + i);
        if (x < nodes) out[1 + kept++] = x;
    }
    out[0] = kept;
}

/* HLK0 and HLKU of the first `nodes` nodes. */
static nearkit_status save_links(const hnsw_graph *g, uint64_t nodes, nearkit_writer *w) {
    uint64_t words0 = nodes * (1 + g->M0), words = upper_words(g, nodes);
    uint32_t *all = nearkit_alloc_array((size_t)(words0 > words ? words0 : words) + 1, sizeof(uint32_t));
    if (!all) return nearkit_oom();
    for (uint64_t u = 0; u < nodes; u++) copy_list(all + u * (1 + g->M0), hnsw_links(g, (uint32_t)u, 0), g->M0, nodes);
    nearkit_status st = nearkit_writer_section(w, LINKS0_TAG, all, words0 * sizeof(uint32_t));
    uint64_t at = 0;
    for (uint64_t u = 0; u < nodes; u++) {
        if (g->level[u] == HNSW_FREE_LEVEL) continue;
        for (int l = 1; l <= g->level[u]; l++, at += 1 + g->M)
            copy_list(all + at, hnsw_links(g, (uint32_t)u, l), g->M, nodes);
    }
    if (!st) st = nearkit_writer_section(w, UPPER_TAG, all, words * sizeof(uint32_t));
    free(all);
    return st;
}

/* The entry point among the first `nodes` nodes: the graph's, unless an add in flight raised it
 * to a node of its own; then the first node of the highest level below. */
static uint64_t published_top(const hnsw_graph *g, uint64_t nodes) {
    uint64_t top = hnsw_top(g);
    if (top == HNSW_NO_TOP || hnsw_top_node(top) < nodes) return top;
    top = HNSW_NO_TOP;
    for (uint64_t u = 0; u < nodes; u++)
        if (g->level[u] != HNSW_FREE_LEVEL && (top == HNSW_NO_TOP || g->level[u] > hnsw_top_level(top)))
            top = (uint64_t)g->level[u] << 32 | u;
    return top;
}

/* Coded kinds: HCOD (u32 code format, u32 trained, u32 originals kept, u32 0), HSQR (the sq
 * ranges, once trained) and HORG (the originals of the `nodes` rows, where kept). */
static nearkit_status save_codes(const hnsw_impl *h, const nearkit_index *ix, uint64_t nodes, nearkit_writer *w) {
    const hnsw_codes *cd = &h->codes;
    uint32_t head[4] = {(uint32_t)cd->codec.format, cd->sealed, cd->keep_originals, 0};
    nearkit_status st = nearkit_writer_section(w, CODES_TAG, head, sizeof head);
    if (!st && cd->sealed) st = nearkit_codec_save(&cd->codec, w, RANGES_TAG);
    if (!st && cd->keep_originals)
        st = nearkit_writer_section(w, ORIGINALS_TAG, cd->originals.vectors, nodes * ix->vector_bytes);
    return st;
}

/* Sections VECS (the codes, for coded kinds), IDS (through the row store), HNSW, HLVL (a level byte per node, 255 for a free
 * slot), HLK0 (level-0 lists, 1 + 2 M words per node) and HLKU (upper lists): the published rows
 * and nodes only. */
static nearkit_status hnsw_save(const nearkit_index *ix, nearkit_writer *w) {
    const hnsw_impl *h = impl_of(ix);
    const hnsw_graph *g = &h->graph;
    nearkit_rows rows = published_rows(h);
    uint64_t nodes = rows.count, top = published_top(g, nodes);
    hnsw_header head = {.version = 1, .M = g->M, .entry = top == HNSW_NO_TOP ? 0 : hnsw_top_node(top),
                        .top_level = top == HNSW_NO_TOP ? -1 : hnsw_top_level(top), .rng = h->published_rng,
                        .nodes = nodes};
    nearkit_status st = nearkit_rows_save(&rows, row_shape(ix), w);
    if (!st) st = nearkit_writer_section(w, HNSW_TAG, &head, sizeof head);
    if (!st) st = nearkit_writer_section(w, LEVELS_TAG, g->level, nodes);
    if (!st) st = save_links(g, nodes, w);
    if (!st && h->coded) st = save_codes(h, ix, nodes, w);
    return st;
}

static nearkit_status corrupt(const char *what) {
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: hnsw %s", what);
}

/* Every list of a node: counts within bounds, neighbours existing nodes other than itself. */
static bool lists_valid(const hnsw_graph *g, uint32_t u, uint64_t nodes) {
    int top = g->level[u] == HNSW_FREE_LEVEL ? 0 : g->level[u];
    for (int l = 0; l <= top; l++) {
        const uint32_t *links = hnsw_links(g, u, l);
        if (links[0] > hnsw_max_links(g, l)) return false;
        if (g->level[u] == HNSW_FREE_LEVEL && links[0] != 0) return false;
        for (uint32_t j = 0; j < links[0]; j++) {
            uint32_t x = links[1 + j];
            if (x >= nodes || x == u || g->level[x] == HNSW_FREE_LEVEL || g->level[x] < l) return false;
        }
    }
    return true;
}

/* HLVL's level bytes: each below HNSW_MAX_LEVEL, or a free slot, whose row must be removed. */
static nearkit_status check_levels(const hnsw_impl *h, const uint8_t *level, uint64_t nodes) {
    for (uint64_t u = 0; u < nodes; u++) {
        bool free_slot = level[u] == HNSW_FREE_LEVEL;
        if (!free_slot && level[u] >= HNSW_MAX_LEVEL) return corrupt("level out of range");
        if (free_slot && nearkit_rows_id(&h->rows, u) != NEARKIT_REMOVED_ID) return corrupt("free slot holds a vector");
    }
    return NEARKIT_OK;
}

/* The graph copied into the heap from the file's levels, level-0 lists and upper lists. */
static nearkit_status copy_graph(hnsw_graph *g, uint64_t nodes, const uint8_t *level, const void *links0,
                                 const uint8_t *upper) {
    nearkit_status st = hnsw_graph_reserve(g, nodes);
    if (st || nodes == 0) return st; /* an empty index: the arrays may be NULL */
    memcpy(g->level, level, (size_t)nodes);
    memcpy(g->links0, links0, (size_t)nodes * (1 + g->M0) * sizeof(uint32_t));
    for (uint64_t u = 0; u < nodes; u++) {
        if (g->level[u] == HNSW_FREE_LEVEL || g->level[u] == 0) continue;
        if ((st = hnsw_alloc_upper(g, (uint32_t)u))) return st;
        size_t n = (size_t)g->level[u] * (1 + g->M) * sizeof(uint32_t);
        memcpy(g->upper[u], upper, n);
        upper += n;
    }
    return NEARKIT_OK;
}

/* A view's graph, used in place (hnsw_graph_borrow) where the sections are aligned for it. */
static nearkit_status borrow_graph(hnsw_graph *g, const nearkit_reader *r, uint64_t nodes, const uint8_t *level,
                                   const void *links0, const void *upper, uint64_t upper_bytes) {
    nearkit_status st = nearkit_reader_borrowable(r, links0, LINKS0_TAG);
    if (!st && upper_bytes) st = nearkit_reader_borrowable(r, upper, UPPER_TAG);
    return st ? st : hnsw_graph_borrow(g, nodes, level, links0, upper);
}

/* The entry point: an existing node of the top level, which no node exceeds; none when empty. */
static nearkit_status load_top(hnsw_graph *g, const hnsw_header *head, uint64_t nodes) {
    int highest = -1;
    for (uint64_t u = 0; u < nodes; u++)
        if (g->level[u] != HNSW_FREE_LEVEL && g->level[u] > highest) highest = g->level[u];
    if (head->top_level != highest) return corrupt("top level does not match the levels");
    if (highest < 0) {
        g->top = HNSW_NO_TOP;
        return NEARKIT_OK;
    }
    if (head->entry >= nodes || g->level[head->entry] != highest) return corrupt("entry point");
    g->top = (uint64_t)highest << 32 | head->entry;
    return NEARKIT_OK;
}

static nearkit_status load_graph(nearkit_index *ix, const nearkit_reader *r) {
    hnsw_impl *h = impl_of(ix);
    hnsw_graph *g = &h->graph;
    uint64_t nodes = h->rows.count;
    const void *data;
    hnsw_header head;
    nearkit_status st = nearkit_reader_section_sized(&data, r, HNSW_TAG, sizeof head);
    if (st) return st;
    memcpy(&head, data, sizeof head);
    if (head.version != 1) return corrupt("section version");
    if (head.M != g->M) return corrupt("M differs from the parameters");
    if (head.nodes != nodes) return corrupt("node count differs from the vectors");
    g->rng = head.rng;
    const void *level, *links0, *upper;
    uint64_t upper_bytes;
    if ((st = nearkit_reader_section_sized(&level, r, LEVELS_TAG, nodes)) || (st = check_levels(h, level, nodes)))
        return st;
    if ((st = nearkit_reader_section(&upper, &upper_bytes, r, UPPER_TAG))) return st;
    if (upper_bytes != words_above(level, nodes, g->M) * sizeof(uint32_t))
        return corrupt("upper lists do not match the levels");
    size_t bytes = (size_t)nodes * (1 + g->M0) * sizeof(uint32_t);
    if ((st = nearkit_reader_section_sized(&links0, r, LINKS0_TAG, bytes))) return st;
    /* a view's graph stays in the file */
    st = nearkit_reader_borrows(r) && nodes ? borrow_graph(g, r, nodes, level, links0, upper, upper_bytes)
                                            : copy_graph(g, nodes, level, links0, upper);
    if (st) return st;
    /* A plain view reads no list at open: its searches read the lists as unchecked ones
     * (hnsw_read_links), passing over a neighbour that could send them out of bounds. */
    g->unchecked = !nearkit_reader_checks_values(r);
    for (uint64_t u = 0; !g->unchecked && u < nodes; u++)
        if (!lists_valid(g, (uint32_t)u, nodes)) return corrupt("link out of range");
    return load_top(g, &head, nodes);
}

/* The removed rows still linked, and the free slots (lowest popped first). */
static nearkit_status note_removed(hnsw_impl *h) {
    nearkit_status st = reserve_free(h);
    for (uint64_t r = h->rows.count; !st && r-- > 0;) {
        if (nearkit_rows_id(&h->rows, r) != NEARKIT_REMOVED_ID) continue;
        if (h->graph.level[r] == HNSW_FREE_LEVEL) h->free_slots[h->n_free++] = (uint32_t)r;
        else h->pending++;
    }
    return st;
}

/* Coded kinds, before the rows: HCOD and the ranges. */
static nearkit_status load_codes_head(hnsw_impl *h, const nearkit_reader *r) {
    hnsw_codes *cd = &h->codes;
    const void *data;
    uint32_t head[4];
    nearkit_status st = nearkit_reader_section_sized(&data, r, CODES_TAG, sizeof head);
    if (st) return st;
    memcpy(head, data, sizeof head);
    if (head[0] != (uint32_t)cd->codec.format) return corrupt("code format differs from the kind's");
    if (head[1] > 1 || head[2] > head[1] || head[3]) return corrupt("code header fields out of range");
    cd->sealed = head[1];
    cd->keep_originals = head[2];
    return cd->sealed ? nearkit_codec_load(&cd->codec, r, RANGES_TAG) : NEARKIT_OK;
}

/* Coded kinds, after the rows: the codes valid (a plain view: only where a code could read out
 * of bounds), and the originals (checked as add would; a view's in place). */
static nearkit_status load_codes_rows(hnsw_impl *h, const nearkit_index *ix, const nearkit_reader *r) {
    hnsw_codes *cd = &h->codes;
    uint64_t n = h->rows.count;
    if (n && !cd->sealed) return corrupt("codes of an untrained index");
    bool check = nearkit_reader_checks_values(r) || !nearkit_codec_any_code_in_bounds(&cd->codec);
    if (check && !nearkit_codec_codes_valid(&cd->codec, h->rows.vectors, n)) return corrupt("code out of range");
    if (!cd->keep_originals) return NEARKIT_OK;
    return nearkit_rows_load_vectors(&cd->originals, ix, r, ORIGINALS_TAG, n, "original vector");
}

static nearkit_status hnsw_load(nearkit_index *ix, const nearkit_reader *r) {
    hnsw_impl *h = impl_of(ix);
    nearkit_status st = h->coded ? load_codes_head(h, r) : NEARKIT_OK;
    if (!st) st = nearkit_rows_load(&h->rows, row_shape(ix), r, false);
    if (!st && h->rows.count > UINT32_MAX) st = corrupt("more vectors than an hnsw index holds");
    if (!st && h->coded) st = load_codes_rows(h, ix, r);
    if (!st) st = load_graph(ix, r);
    if (!st) st = note_removed(h);
    if (!st) publish(h);
    return st;
}

/* ---- description ------------------------------------------------------------------------------- */

/* Nodes per level and level-0 degrees of the published nodes. */
static void describe_degrees(const hnsw_graph *g, uint64_t nodes, nearkit_strbuf *sb) {
    uint64_t per_level[HNSW_MAX_LEVEL] = {0}, links = 0, linked = 0;
    uint32_t least = UINT32_MAX, most = 0;
    for (uint64_t u = 0; u < nodes; u++) {
        if (g->level[u] == HNSW_FREE_LEVEL) continue;
        for (int l = 0; l <= g->level[u]; l++) per_level[l]++;
        uint32_t d = hnsw_word(hnsw_links(g, (uint32_t)u, 0));
        links += d;
        linked++;
        if (d < least) least = d;
        if (d > most) most = d;
    }
    nearkit_strbuf_appendf(sb, "nodes per level:");
    for (int l = 0; l < HNSW_MAX_LEVEL && per_level[l]; l++)
        nearkit_strbuf_appendf(sb, " %d:%llu", l, (unsigned long long)per_level[l]);
    if (linked)
        nearkit_strbuf_appendf(sb, "\nlevel-0 degree: mean %.1f, min %u, max %u (of %u)\n",
                               (double)links / (double)linked, least, most, g->M0);
    else
        nearkit_strbuf_appendf(sb, "\n");
}

static void hnsw_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    const hnsw_impl *h = impl_of(ix);
    const hnsw_graph *g = &h->graph;
    nearkit_strbuf_appendf(sb,
                           "hierarchical navigable small world graph: M %u (level 0: %u), "
                           "ef_construction %u, ef_search %u%s; distance kernels: %s\n",
                           g->M, g->M0, g->ef_construction, h->ef_search,
                           (uint64_t)h->ef_search >= hnsw_count(ix) ? " (exact scan)" : "",
                           nearkit_kernels()->name);
    describe_degrees(g, visible_of(h), sb);
    if (h->coded) {
        const hnsw_codes *cd = &h->codes;
        nearkit_strbuf_appendf(sb, "codes: %s, %zu bytes per vector (of %llu)%s; %s\n", nearkit_codec_name(cd->codec.format),
                               cd->codec.code_size, (unsigned long long)ix->vector_bytes,
                               cd->sealed ? "" : ", untrained (the first add trains them)",
                               !cd->sealed ? (cd->refine > 0.0 ? "originals to be kept" : "originals to be dropped")
                               : !cd->keep_originals ? "original vectors dropped (no re-rank)"
                               : cd->refine > 0.0    ? "original vectors kept, candidates re-ranked exactly"
                                                     : "original vectors kept, re-rank off (refine 0)");
    }
    nearkit_strbuf_appendf(sb, "removed, awaiting relinking: %llu; free slots: %llu\n",
                           (unsigned long long)h->pending, (unsigned long long)h->n_free);
}

const nearkit_index_ops nearkit_hnsw_ops = {
    .kind = NEARKIT_KIND_HNSW,
    .name = "hnsw",
    .description = "hierarchical navigable small-world graph (approximate: ef_search candidates per "
                   "query); l2, cosine, ip, hamming; no training, living and filtered",
    .flags = 0,
    .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_IP) |
                   (1u << NEARKIT_METRIC_HAMMING),
    .params = hnsw_params,
    .n_params = N_PARAMS,
    .create = hnsw_create,
    .destroy = hnsw_destroy,
    .add = hnsw_add,
    .add_prepare = hnsw_add_prepare,
    .add_publish = hnsw_add_publish,
    .is_ready = hnsw_is_ready,
    .count = hnsw_count,
    .memory = hnsw_memory,
    .knn_searcher = &hnsw_searcher,
    .range_searcher = &hnsw_searcher,
    .remove = hnsw_remove,
    .get = hnsw_get,
    .each_id = hnsw_each_id,
    .compact = hnsw_compact,
    .get_param = hnsw_get_param,
    .set_param = hnsw_set_param,
    .save = hnsw_save,
    .load = hnsw_load,
    .describe = hnsw_describe,
};

/* The coded kinds: hnsw over the codes of a codec with per-row kernels. */
#define CODED_OPS(KIND, NAME, CREATE, TEXT)                                                              \
    {                                                                                                    \
        .kind = KIND, .name = NAME, .description = TEXT, .flags = NEARKIT_KIND_FLAG_COMPRESSED,          \
        .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_IP), \
        .params = coded_params, .n_params = N_CODED_PARAMS, .create = CREATE, .destroy = hnsw_destroy, \
        .add = hnsw_add, .add_prepare = hnsw_add_prepare, .add_publish = hnsw_add_publish,               \
        .train = hnsw_train, .is_ready = hnsw_is_ready, .count = hnsw_count, .memory = hnsw_memory,      \
        .knn_searcher = &hnsw_searcher, .range_searcher = &hnsw_searcher, .remove = hnsw_remove,         \
        .get = hnsw_get, .each_id = hnsw_each_id, .compact = hnsw_compact, .get_param = hnsw_get_param,  \
        .set_param = hnsw_set_param, .save = hnsw_save, .load = hnsw_load, .describe = hnsw_describe,    \
    }

const nearkit_index_ops nearkit_hnsw_sq8_ops =
    CODED_OPS(NEARKIT_KIND_HNSW_SQ8, "hnsw_sq8", sq8_create,
              "hnsw over 8-bit scalar-quantised codes (1 byte per dimension, ranges trained by train "
              "or the first add), optional exact re-rank (refine); l2, cosine, ip");
const nearkit_index_ops nearkit_hnsw_fp16_ops =
    CODED_OPS(NEARKIT_KIND_HNSW_FP16, "hnsw_fp16", fp16_create,
              "hnsw over fp16 codes (2 bytes per dimension, near lossless), optional exact re-rank "
              "(refine); l2, cosine, ip");
const nearkit_index_ops nearkit_hnsw_bf16_ops =
    CODED_OPS(NEARKIT_KIND_HNSW_BF16, "hnsw_bf16", bf16_create,
              "hnsw over bfloat16 codes (2 bytes per dimension), optional exact re-rank (refine); l2, "
              "cosine, ip");
const nearkit_index_ops nearkit_hnsw_sq4_ops =
    CODED_OPS(NEARKIT_KIND_HNSW_SQ4, "hnsw_sq4", sq4_create,
              "hnsw over 4-bit scalar-quantised codes (half a byte per dimension, ranges trained by "
              "train or the first add), optional exact re-rank (refine); l2, cosine, ip");
