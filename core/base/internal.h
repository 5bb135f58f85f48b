/* Internal declarations shared by the files of the C core. Nothing here is part of the ABI: every
 * symbol is hidden (the library is compiled with -fvisibility=hidden and a version script). */
#ifndef NEARKIT_INTERNAL_H
#define NEARKIT_INTERNAL_H

#define NEARKIT_EXPERIMENTAL
#include "nearkit.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define NEARKIT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define NEARKIT_PRINTF(fmt, args)
#endif

/* ---- errors.c ---------------------------------------------------------------------------------- */

/* Records status and message as the calling thread's last error and returns status. */
nearkit_status nearkit_set_error(nearkit_status status, const char *fmt, ...) NEARKIT_PRINTF(2, 3);
/* Forgets the calling thread's last error (called on entry to every public function). */
void nearkit_clear_error(void);
/* The common out-of-memory failure. */
nearkit_status nearkit_oom(void);

/* ---- memory ------------------------------------------------------------------------------------ */

/* n * size with overflow detection: false when it does not fit in size_t. */
static inline bool nearkit_mul_size(size_t *out, size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return false;
    *out = n * size;
    return true;
}
/* For functions whose only effect is to prefetch (and their callers of that kind): GCC's
 * interprocedural analysis takes such a function for one without side effects and deletes the
 * calls to it that were not inlined early (GCC 12 at -O2 and -O3: every row prefetch of the
 * rpforest build's margin gathers and of the re-rank was gone from the binary). Always inlined,
 * the prefetches stay in the caller. */
#if defined(__GNUC__)
#define NEARKIT_PREFETCHER inline __attribute__((always_inline))
#else
#define NEARKIT_PREFETCHER inline
#endif

/* Asks for every 64-byte line of [p, p + bytes) (a hint: never faults). For rows read at random,
 * which no hardware prefetcher predicts. */
static NEARKIT_PREFETCHER void nearkit_prefetch_bytes(const void *p, size_t bytes) {
    for (size_t at = 0; at < bytes; at += 64) __builtin_prefetch((const char *)p + at);
}
/* malloc of n * size bytes, NULL on overflow or failure (never for n * size == 0: returns a
 * 1-byte block then, so NULL always means failure). */
void *nearkit_alloc_array(size_t n, size_t size);
/* 64-byte aligned allocation for SIMD and GEMM buffers; free with nearkit_aligned_free. */
void *nearkit_aligned_alloc_array(size_t n, size_t size);
/* The same for an index's bulk storage that searches stream from memory (rows, inverted lists'
 * codes): from NEARKIT_BULK_HUGE_BYTES on, the block is 2 MB aligned and the kernel is asked to
 * back it by transparent huge pages (Linux, where they are enabled for madvise), so that a scan
 * does not take a TLB miss every 4 KB. The advice is only a hint: the block is the same either
 * way. Free with nearkit_aligned_free. */
#define NEARKIT_BULK_HUGE_BYTES ((size_t)8 << 20)
void *nearkit_bulk_alloc_array(size_t n, size_t size);
void nearkit_aligned_free(void *p);

/* A growable byte string for describe() output. */
typedef struct nearkit_strbuf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed; the content is incomplete */
} nearkit_strbuf;
void nearkit_strbuf_appendf(nearkit_strbuf *sb, const char *fmt, ...) NEARKIT_PRINTF(2, 3);

/* ---- threads (threadpool.c) -------------------------------------------------------------------- */

/* Runs fn over [0, n) in chunks of `chunk` items on up to `threads` threads (the caller's thread
 * included) drawn from the library's single pool. fn receives a worker number in [0, threads) that
 * no other concurrent call of this parallel_for shares, for per-worker scratch. Returns once every
 * chunk has run. */
typedef void (*nearkit_range_fn)(void *ctx, uint64_t begin, uint64_t end, uint32_t worker);
void nearkit_parallel_for(uint32_t threads, uint64_t n, uint64_t chunk, nearkit_range_fn fn,
                          void *ctx);
/* Number of cores available to the process (>= 1). */
uint32_t nearkit_cpu_count(void);
/* num_threads as the user gives it (0 = every core) turned into a thread count >= 1. */
uint32_t nearkit_resolve_threads(uint32_t requested);

/* ---- BLAS (blas.c) ------------------------------------------------------------------------------ */

/* Call before any BLAS routine: makes OpenBLAS single-threaded, once per process. */
void nearkit_blas_prepare(void);
/* c (m x n, row-major) = alpha * a (m x d) * b (n x d)^T: the one sgemm call of the library. Its
 * rounding depends on the BLAS kernel of the machine: exact kinds only shortlist with it. */
void nearkit_sgemm_nt(size_t m, size_t n, size_t d, float alpha, const float *a, const float *b,
                      float *c);
/* Whether the test hook perturbs sgemm's results (blas.c; always false outside the test matrix's
 * library): shortlists that could come from another scan then come from sgemm, for the hook. */
bool nearkit_gemm_perturbed(void);
/* How far a shortlist value built on nearkit_sgemm_nt (l2: |q|^2 + |x|^2 - 2<q,x>; ip: -<q,x>;
 * cosine: 1 - <q,x>) may lie from the exact kernel's value of the same pair, for a query of norm
 * query_norm and rows of norm at most max_row_norm in dimension d, on any machine's BLAS. */
double nearkit_gemm_slack(nearkit_metric metric, size_t d, double query_norm, double max_row_norm);

/* ---- top-k selection (topk.c) ------------------------------------------------------------------ */

/* A bounded max-heap of (distance, position) pairs keeping the `cap` smallest. Ties on distance
 * are ordered by the user id of the position (ids == NULL: the position itself), so results are
 * deterministic and match the "equal distances in increasing id order" contract. */
typedef struct nearkit_topk {
    float *dist;
    uint64_t *pos;
    size_t size, cap;
    const int64_t *ids;
} nearkit_topk;

void nearkit_topk_init(nearkit_topk *h, float *dist_storage, uint64_t *pos_storage, size_t cap,
                       const int64_t *ids);
/* Largest distance kept, +INFINITY while not full: a candidate must not be worse to enter. */
static inline float nearkit_topk_bound(const nearkit_topk *h) {
    return h->size < h->cap ? __builtin_inff() : h->dist[0];
}
void nearkit_topk_push(nearkit_topk *h, float dist, uint64_t pos);
/* Offers n candidates: d[i] for position first + i (those that can enter). */
void nearkit_topk_push_block(nearkit_topk *h, const float *d, uint64_t first, size_t n);
/* Sorts the kept pairs nearest first (ties by id) in place; the heap is then no longer a heap. */
void nearkit_topk_sort(nearkit_topk *h);
/* Sorts a finished result row by (distance, id). */
void nearkit_sort_row(int64_t *ids, float *dist, uint64_t k);
void nearkit_topk_emit(const nearkit_topk *h, const int64_t *ids, uint64_t k, int64_t *out_ids,
                       float *out_dist);

/* The smallest scan value a row outside h may have had: the bound of a full heap (rows it turned
 * away or dropped were not better), +INFINITY when nothing was turned away. */
static inline float nearkit_topk_floor(const nearkit_topk *h) {
    return h->size < h->cap ? __builtin_inff() : h->dist[0];
}
/* After a shortlist scan whose rows outside the candidates all had scan values >= floor, and
 * whose candidates now hold exact values sorted nearest first: whether they are the exact k
 * best, ties included. That holds when no row outside could come within `slack` (the scan's
 * error against the exact values) of the k-th exact distance; `rooted`: values are squares that
 * are reported as their float square root (l2), and ties count on the reported value. When it
 * does not hold, the caller rescans exactly. */
bool nearkit_rerank_certain(const nearkit_topk *sorted, uint64_t k, float floor, double slack,
                            bool rooted);

/* A shortlist: the `keep` smallest (distance, position) pairs as nearkit_topk keeps them (ties by
 * id), for scans where many candidates pass the bound (a re-rank's hundreds of candidates, codes
 * whose quantised distances tie often). A candidate is appended to room for 2 * keep; when the
 * room fills, the keep best are selected in place (quickselect) and the bound tightens to the
 * worst of them. So a candidate costs an append, not a heap's sift, and the pairs kept at the end
 * are the heap's: the bound is never tighter than a heap's would be. Measured: a quarter of a
 * pq4 scan with a re-rank of 400 went to the heap's sifts (README, issue 17). */
typedef struct nearkit_shortlist {
    float *dist;   /* room for 2 * keep pairs */
    uint64_t *pos;
    size_t size, keep;
    float bound;   /* a candidate must not be farther to enter; +INFINITY before the first selection */
    const int64_t *ids;
} nearkit_shortlist;

void nearkit_shortlist_init(nearkit_shortlist *s, float *dist_room, uint64_t *pos_room, size_t keep,
                            const int64_t *ids);
/* Keeps the keep best of the candidates and tightens the bound (when more than keep are held). */
void nearkit_shortlist_select(nearkit_shortlist *s);
/* Appends a candidate whose distance is not above the bound. */
static inline void nearkit_shortlist_push(nearkit_shortlist *s, float dist, uint64_t pos) {
    s->dist[s->size] = dist;
    s->pos[s->size] = pos;
    if (++s->size == 2 * s->keep) nearkit_shortlist_select(s);
}
/* Candidates it holds, as a heap of keep would. */
static inline size_t nearkit_shortlist_held(const nearkit_shortlist *s) {
    return s->size < s->keep ? s->size : s->keep;
}
/* The keep best as a nearkit_topk heap over the same room (the shortlist is then spent). */
void nearkit_shortlist_finish(nearkit_shortlist *s, nearkit_topk *h);

/* ---- range results (range.c) ------------------------------------------------------------------- */

/* Collects range matches per query; each query is written by one thread only. */
typedef struct nearkit_range_builder nearkit_range_builder;
nearkit_range_builder *nearkit_range_builder_new(uint64_t n_queries);
/* Adds a match; false on allocation failure (the builder then reports OUT_OF_MEMORY). */
bool nearkit_range_builder_add(nearkit_range_builder *b, uint64_t query, int64_t id, float dist);
/* Sorts every query's matches and turns the builder into a result (always consumes it). */
nearkit_status nearkit_range_builder_finish(nearkit_range_result **out, nearkit_range_builder *b);
void nearkit_range_builder_free(nearkit_range_builder *b);

/* ---- serialisation (io.c) ---------------------------------------------------------------------- */

/* Writer: accumulates sections in memory. */
typedef struct nearkit_writer nearkit_writer;
/* Appends one section; its bytes are copied. */
nearkit_status nearkit_writer_section(nearkit_writer *w, uint32_t tag, const void *data,
                                      uint64_t size);
/* Appends one section from several pieces (total = sum of sizes). */
nearkit_status nearkit_writer_section_parts(nearkit_writer *w, uint32_t tag, const void *const *parts,
                                            const uint64_t *sizes, size_t n_parts);

/* Reader: a validated file image; sections are looked up by tag. */
typedef struct nearkit_reader nearkit_reader;
/* Finds a section: CORRUPT (naming the section) when missing. *data points into the image. */
nearkit_status nearkit_reader_section(const void **data, uint64_t *size, const nearkit_reader *r,
                                      uint32_t tag);
/* Finds a section of exactly `expected` bytes. */
nearkit_status nearkit_reader_section_sized(const void **data, const nearkit_reader *r, uint32_t tag,
                                            uint64_t expected);
/* Whether the image holds a section tagged `tag` (for optional sections; sets no error). */
bool nearkit_reader_has_section(const nearkit_reader *r, uint32_t tag);
/* Views (nearkit_index_view): whether the reader's image outlives the index, so a loader uses a
 * body in place instead of copying it (read-only: a view refuses every write). */
bool nearkit_reader_borrows(const nearkit_reader *r);
/* Whether loaders check every stored value (floats finite, ...): a load, or a view opened with
 * verify; a plain view checks only what keeps its reads in bounds, O(sections) where it can. */
bool nearkit_reader_checks_values(const nearkit_reader *r);
/* Whether a body (of section `tag`) can be used in place: 64-byte aligned, which format
 * version 2 guarantees within the file. UNSUPPORTED, naming the reason, when not. */
nearkit_status nearkit_reader_borrowable(const nearkit_reader *r, const void *data, uint32_t tag);
/* Section tag from four characters. */
#define NEARKIT_TAG(a, b, c, d) \
    ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))

/* ---- vector checks (values.c) ----------------------------------------------------------------- */

/* The position of the first of `total` floats that is NaN, infinite or beyond
 * NEARKIT_MAX_ABS_VALUE in magnitude; `total` when there is none. */
uint64_t nearkit_first_unusable_value(const float *v, uint64_t total);
/* What every loader checks of n float vectors read from a file (aligned copies), `what` naming
 * them in the message ("stored vector", "centroid"): every value finite within
 * NEARKIT_MAX_ABS_VALUE and, for a cosine index, every vector of length 1 (within a tolerance)
 * or 0, as add stores them. CORRUPT naming the first that is not. */
nearkit_status nearkit_check_loaded_floats(const nearkit_index *ix, const float *v, uint64_t n,
                                           const char *what);

/* ---- index kinds ------------------------------------------------------------------------------- */

/* A kind's parameter, as nearkit_index_param_describe reports it. */
typedef struct nearkit_param_desc {
    const char *name;
    uint32_t flags; /* NEARKIT_PARAM_FLAG_* */
    double min, max;
    double default_value; /* ignored for READ_ONLY statistics (reported as NaN) */
    const char *description; /* one line */
    /* Where the default depends on the index (vector type, dimension): computes it; else NULL. */
    double (*default_for)(const nearkit_index *ix);
} nearkit_param_desc;

struct nearkit_idmap;    /* base/idmap.h */
struct nearkit_searcher; /* search/driver.h */

/* What every index kind implements. The generic layer (index.c) has already validated arguments,
 * checked vector type and finite values, and normalised cosine vectors, so kinds see clean input:
 * for COSINE, vectors are unit length (or zero) and the distance is 1 - dot. */
typedef struct nearkit_index_ops {
    nearkit_kind kind;
    const char *name;
    const char *description;
    uint32_t flags;       /* NEARKIT_KIND_FLAG_* */
    uint32_t metric_mask; /* 1u << metric */
    const nearkit_param_desc *params;
    size_t n_params;

    /* Allocates ix->impl for an empty index. */
    nearkit_status (*create)(nearkit_index *ix);
    void (*destroy)(nearkit_index *ix);
    nearkit_status (*add)(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids);
    /* Kinds that link an add's vectors while searches run set both (else NULL: add runs under
     * the write side alone). Under the write side, add_prepare readies n more vectors (storage
     * grown, deferred work done) and sets *shared when add may then run under the read side;
     * add_publish, under the write side again after add succeeded, makes the batch visible
     * (until then searches may walk its vectors but never report them). Adds of one index are
     * serialised among themselves, and any writer may run between the three steps. */
    nearkit_status (*add_prepare)(nearkit_index *ix, uint64_t n, bool with_ids, bool *shared);
    void (*add_publish)(nearkit_index *ix);
    nearkit_status (*train)(nearkit_index *ix, const void *vectors, uint64_t n); /* may be NULL */
    nearkit_status (*build)(nearkit_index *ix);                                 /* may be NULL */
    bool (*is_ready)(const nearkit_index *ix);
    uint64_t (*count)(const nearkit_index *ix);
    uint64_t (*memory)(const nearkit_index *ix);
    /* How the kind searches (search/driver.h): k-NN and range. The generic layer builds the call
     * (k <= count; it pads the rest) and the driver runs it. */
    const struct nearkit_searcher *knn_searcher;
    const struct nearkit_searcher *range_searcher;
    /* Removes every vector whose id `ids` holds; *removed gets how many. All or nothing: on
     * failure nothing is removed. */
    nearkit_status (*remove)(nearkit_index *ix, const struct nearkit_idmap *ids, uint64_t *removed);
    /* For each stored vector whose id `wanted` holds, copies it to row wanted[id] of `vectors`
     * and sets found[that row] = 1 (rows of ids not stored are left alone). */
    nearkit_status (*get)(const nearkit_index *ix, const struct nearkit_idmap *wanted, void *vectors,
                          uint8_t *found);
    /* Calls fn for the id of every stored vector (false from fn stops it). */
    void (*each_id)(const nearkit_index *ix, bool (*fn)(void *ctx, int64_t id), void *ctx);
    /* Reclaims removed vectors' space and finishes deferred work now. NULL: nothing deferred. */
    nearkit_status (*compact)(nearkit_index *ix);
    /* i indexes params[]. */
    nearkit_status (*get_param)(const nearkit_index *ix, size_t i, double *value);
    nearkit_status (*set_param)(nearkit_index *ix, size_t i, double value);
    nearkit_status (*save)(const nearkit_index *ix, nearkit_writer *w);
    nearkit_status (*load)(nearkit_index *ix, const nearkit_reader *r);
    void (*describe)(const nearkit_index *ix, nearkit_strbuf *sb);
} nearkit_index_ops;

struct nearkit_index {
    const nearkit_index_ops *ops;
    /* Writers (add, remove, train, build, compact, set_param) hold it exclusively, readers
     * (searches, get, save, introspection) shared: see the header's thread-safety convention.
     * Only the public entry points take it; nothing inside the library takes it twice. */
    struct nearkit_index_lock *lock; /* index.c */
    /* The id the next vector added without ids gets: the number of vectors ever added, which
     * removals do not lower (saved in the file when it differs from the count). */
    uint64_t next_id;
    /* How many stored vectors carry each id, built on the first remove or contains and kept
     * from then on by add and remove; NULL before. */
    struct nearkit_idmap *id_counts;
    nearkit_metric metric;
    nearkit_vector_type vector_type;
    uint32_t dimension;     /* floats, or bits */
    uint64_t vector_bytes;  /* bytes of one input vector */
    uint32_t num_threads;   /* as set: 0 = every core */
    uint64_t seed;
    void *impl;
    /* A view (nearkit_index_view, io.c): its bulk is used in place from a file's mapping or a
     * caller's buffer, and every write is refused. view_map (NULL for a buffer) is unmapped by
     * nearkit_index_free after the kind let go of it. */
    bool is_view;
    void *view_map;
    size_t view_map_bytes;
};

/* STATE, "<what>: the index is a read-only view ..." when ix is a view; else NEARKIT_OK. */
nearkit_status nearkit_refuse_view_write(const nearkit_index *ix, const char *what);

/* The index's lock (index.c), for the public entry points of other files (io.c). */
void nearkit_index_lock_read(const nearkit_index *ix);
void nearkit_index_unlock(const nearkit_index *ix);
/* The next implicit id as the file keeps it (io.c): it is saved when it differs from the count,
 * and set on load (INVALID_ARGUMENT unless next_id >= the count). */
uint64_t nearkit_index_next_id(const nearkit_index *ix);
nearkit_status nearkit_index_set_next_id(nearkit_index *ix, uint64_t next_id);

/* The registry of kinds compiled in (library.c). */
const nearkit_index_ops *nearkit_find_kind(nearkit_kind kind);

extern const nearkit_index_ops nearkit_flat_ops;
extern const nearkit_index_ops nearkit_vptree_ops;
extern const nearkit_index_ops nearkit_bktree_ops;
extern const nearkit_index_ops nearkit_mih_ops;
extern const nearkit_index_ops nearkit_ivf_binary_ops;
extern const nearkit_index_ops nearkit_ivf_flat_ops;
extern const nearkit_index_ops nearkit_hnsw_ops;
extern const nearkit_index_ops nearkit_rpforest_ops;

#endif
