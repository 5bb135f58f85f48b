/*
 * nearkit.h - the one public header of nearkit, a nearest-neighbour search library.
 *
 * This header is the whole C ABI. It is split in two parts:
 *   - the STABLE API: everything above the line "EXPERIMENTAL API". Once released, a function keeps
 *     its signature and meaning, a constant keeps its value, and a struct only grows at its end.
 *   - the EXPERIMENTAL API: only declared when NEARKIT_EXPERIMENTAL is defined before inclusion; it
 *     may change in any minor release.
 *
 * Conventions that hold for every function unless its comment says otherwise:
 *   - Fallible functions return a nearkit_status. NEARKIT_OK (0) is success. On failure a message is
 *     left in thread-local storage, readable with nearkit_last_error_message() on the same thread.
 *     On failure an output handle or pointer (`nearkit_index **`, `char **`, ...) is set to NULL
 *     and an output count to 0; the contents of the caller's output buffers (ids, distances) are
 *     unspecified: they may hold part of a result.
 *   - Output parameters come first.
 *   - The library never aborts, exits or prints because of bad input; a NULL pointer where one is
 *     required gives NEARKIT_ERR_INVALID_ARGUMENT.
 *   - Every nearkit_*_free function accepts NULL.
 *   - Input vectors are borrowed for the duration of the call only: the library copies what it keeps.
 *   - Vectors are row-major and contiguous: `n` vectors of `nearkit_index_vector_bytes()` bytes each.
 *     Float vectors are `dimension` float32 values; binary vectors are `dimension` bits packed into
 *     dimension / 8 bytes, least significant bit first within each byte.
 *   - Float values must be finite and at most NEARKIT_MAX_ABS_VALUE (2^50, about 1.1e15) in
 *     magnitude, in every vector added, trained on or searched for: others give
 *     NEARKIT_ERR_INVALID_ARGUMENT (so no distance overflows, up to the largest dimension). A file
 *     holding such values, or cosine vectors not of length 1 (squared within 1e-4) or 0, is
 *     NEARKIT_ERR_CORRUPT.
 *   - Exact kinds (NEARKIT_KIND_FLAG_EXACT) return the same ids, distances and tie order on every
 *     CPU, kernel level (NEARKIT_KERNELS) and BLAS: the float kernels sum in one documented order
 *     at every SIMD level, and sgemm only shortlists candidates, kept when its error bound proves
 *     them complete and rescanned with the kernels otherwise.
 *   - Thread safety: every function may run concurrently with every other on one index, from any
 *     threads, except nearkit_index_free (the caller ensures nothing else uses the index).
 *     Searches, reads and saves (functions taking `const nearkit_index *`) run in parallel and
 *     never wait for each other; a writer (add, remove, train, build, compact, set_param) runs
 *     alone: it waits for the searches under way and searches that start meanwhile wait for it.
 *     So each search sees the collection before or after a concurrent write, whole, never half of
 *     it. One exception shortens the wait, not the guarantee: an hnsw add links its batch while
 *     searches go on (they wait only for its short start and end, and adds to one index take
 *     turns), and searches report, count and save none of the batch until it is published whole.
 *     Different indexes are independent.
 */
#ifndef NEARKIT_H
#define NEARKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(NEARKIT_STATIC)
#define NEARKIT_API
#elif defined(_WIN32)
#if defined(NEARKIT_BUILDING)
#define NEARKIT_API __declspec(dllexport)
#else
#define NEARKIT_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define NEARKIT_API __attribute__((visibility("default")))
#else
#define NEARKIT_API
#endif

/* ============================================================================================== */
/*                                         STABLE API                                             */
/* ============================================================================================== */

/* ---- Versions ---------------------------------------------------------------------------------- */

#define NEARKIT_VERSION_MAJOR 0
#define NEARKIT_VERSION_MINOR 1
#define NEARKIT_VERSION_PATCH 0
#define NEARKIT_VERSION_STRING "0.1.0"
/* Encoded as major * 10000 + minor * 100 + patch. */
#define NEARKIT_VERSION_NUMBER \
    (NEARKIT_VERSION_MAJOR * 10000 + NEARKIT_VERSION_MINOR * 100 + NEARKIT_VERSION_PATCH)

/* Raised whenever a released function or constant changes incompatibly. A binding compares this,
 * as it was compiled, with nearkit_abi_version() at load time and refuses a mismatch. */
#define NEARKIT_ABI_VERSION 1

/* The library's version as "MAJOR.MINOR.PATCH". Static storage; never NULL; thread-safe. */
NEARKIT_API const char *nearkit_version_string(void);
/* The library's version as NEARKIT_VERSION_NUMBER encodes it. Thread-safe. */
NEARKIT_API uint32_t nearkit_version_number(void);
/* The ABI version the library was built with. Thread-safe. */
NEARKIT_API uint32_t nearkit_abi_version(void);

/* ---- Status codes and errors ------------------------------------------------------------------- */

/* Values never change once released; new codes are only appended. */
typedef int32_t nearkit_status;
#define NEARKIT_OK 0
#define NEARKIT_ERR_INVALID_ARGUMENT 1 /* NULL pointer, wrong length or type, NaN, k = 0, ... */
#define NEARKIT_ERR_OUT_OF_MEMORY 2    /* an allocation failed */
#define NEARKIT_ERR_IO 3               /* a file could not be opened, read or written */
#define NEARKIT_ERR_CORRUPT 4          /* a file or buffer is not a valid nearkit index */
#define NEARKIT_ERR_UNSUPPORTED 5      /* valid, but not supported (kind/metric pair, newer format) */
#define NEARKIT_ERR_STATE 6            /* call not valid in the index's state (e.g. not yet trained) */
#define NEARKIT_ERR_NOT_FOUND 7        /* unknown parameter or kind name */
#define NEARKIT_ERR_INTERNAL 8         /* a bug in nearkit; please report it */

/* The message of the last failure on the calling thread, or "" when none. Never NULL. The string
 * stays valid until the next nearkit call on the same thread. */
NEARKIT_API const char *nearkit_last_error_message(void);
/* The status of the last failure on the calling thread, NEARKIT_OK when none. */
NEARKIT_API nearkit_status nearkit_last_error_status(void);
/* The constant's name without prefix, e.g. "INVALID_ARGUMENT"; "UNKNOWN" for other values.
 * Static storage; never NULL; thread-safe. */
NEARKIT_API const char *nearkit_status_name(nearkit_status status);

/* ---- Metrics ----------------------------------------------------------------------------------- */

/* Smaller is always nearer. The value reported for a pair (x, q):
 *   L2       Euclidean distance sqrt(sum (x_i - q_i)^2)            (not its square)
 *   L1       sum |x_i - q_i|
 *   LINF     max |x_i - q_i|
 *   COSINE   1 - <x, q> / (|x| |q|), in [0, 2]; a zero vector is treated as orthogonal to all (1)
 *   IP       -<x, q>, the negated inner product
 *   HAMMING  number of differing bits, on binary vectors
 * Values written to files; never renumbered. */
typedef int32_t nearkit_metric;
#define NEARKIT_METRIC_L2 1
#define NEARKIT_METRIC_L1 2
#define NEARKIT_METRIC_LINF 3
#define NEARKIT_METRIC_COSINE 4
#define NEARKIT_METRIC_IP 5
#define NEARKIT_METRIC_HAMMING 6

/* Lower-case name ("l2", "l1", "linf", "cosine", "ip", "hamming"), or NULL for an unknown value. */
NEARKIT_API const char *nearkit_metric_name(nearkit_metric metric);
/* Parses a metric name (case-insensitive; also accepts "euclidean", "manhattan", "chebyshev",
 * "inner_product"). Errors: INVALID_ARGUMENT for NULL, NOT_FOUND for an unknown name. */
NEARKIT_API nearkit_status nearkit_metric_from_name(nearkit_metric *out, const char *name);

/* ---- Vector types ------------------------------------------------------------------------------ */

typedef int32_t nearkit_vector_type;
#define NEARKIT_VECTOR_FLOAT32 1 /* dimension float32 values */
#define NEARKIT_VECTOR_BINARY 2  /* dimension bits packed into dimension / 8 uint8 values */
#define NEARKIT_VECTOR_FLOAT16 3 /* dimension IEEE binary16 values (uint16 bit patterns, host
                                  * byte order), for float indexes: each call converts them to
                                  * float32 once, exactly (every half is a float), then treats
                                  * them as float32 input; a half NaN or infinity is refused as
                                  * a float one is. Indexes are always of FLOAT32 or BINARY type:
                                  * nearkit_index_vector_type never returns FLOAT16 (since 0.2) */

/* The largest magnitude of a float value accepted: 2^50 (see the conventions above). */
#define NEARKIT_MAX_ABS_VALUE 1125899906842624.0f

/* ---- Index kinds ------------------------------------------------------------------------------- */

/* Values written to files; never renumbered. A library may not contain every kind: enumerate them
 * with nearkit_kind_count() / nearkit_kind_get_info(). */
typedef int32_t nearkit_kind;
#define NEARKIT_KIND_FLAT 1        /* exact brute force, every metric */
#define NEARKIT_KIND_VPTREE 2      /* exact vantage-point tree */
#define NEARKIT_KIND_BKTREE 3      /* exact Burkhard-Keller tree, hamming */
#define NEARKIT_KIND_IVF_FLAT 4    /* inverted file over float vectors (approximate) */
#define NEARKIT_KIND_HNSW 5        /* hierarchical navigable small-world graph (approximate): l2,
                                    * cosine, ip, hamming; M, ef_construction (build), ef_search
                                    * (runtime; >= the count scans exactly) */
#define NEARKIT_KIND_MIH 6         /* multi-index hashing, hamming (exact unless capped) */
#define NEARKIT_KIND_IVF_BINARY 7  /* inverted file over binary vectors (approximate) */
#define NEARKIT_KIND_IVF_FP16 8    /* inverted file over fp16 codes, optional exact re-rank */
#define NEARKIT_KIND_IVF_BF16 9    /* inverted file over bfloat16 codes, optional exact re-rank */
#define NEARKIT_KIND_IVF_SQ8 10    /* inverted file over 8-bit scalar-quantised codes, re-rank */
#define NEARKIT_KIND_IVF_SQ4 11    /* inverted file over 4-bit scalar-quantised codes, re-rank */
#define NEARKIT_KIND_IVF_PQ 12     /* inverted file over product-quantised codes (m bytes per
                                    * vector), optional exact re-rank (since 0.2) */
#define NEARKIT_KIND_HNSW_SQ8 13   /* hnsw over 8-bit scalar-quantised codes, optional exact
                                    * re-rank (refine); the ranges are trained by
                                    * nearkit_index_train, else by the first add (since 0.2) */
#define NEARKIT_KIND_HNSW_FP16 14  /* hnsw over fp16 codes, optional exact re-rank (since 0.2) */
#define NEARKIT_KIND_HNSW_BF16 15  /* hnsw over bfloat16 codes, optional exact re-rank (since 0.2) */
#define NEARKIT_KIND_HNSW_SQ4 16   /* hnsw over 4-bit scalar-quantised codes, optional exact
                                    * re-rank; trained as hnsw_sq8 (since 0.2) */
/* Brute force over codes: every stored code is scanned for every query (memory of the codes,
 * recall of the codec), optional exact re-rank of ceil(refine * k) candidates by the originals,
 * which refine > 0 at training keeps; l2, cosine, ip. */
#define NEARKIT_KIND_FLAT_FP16 17  /* flat over fp16 codes; no training: searchable as add returns,
                                    * refine is read at the first add (since 0.2) */
#define NEARKIT_KIND_FLAT_BF16 18  /* flat over bfloat16 codes; as flat_fp16 (since 0.2) */
#define NEARKIT_KIND_FLAT_SQ8 19   /* flat over 8-bit scalar-quantised codes; ranges trained by train
                                    * or build, rows added before wait and are searched exactly
                                    * (since 0.2) */
#define NEARKIT_KIND_FLAT_SQ4 20   /* flat over 4-bit scalar-quantised codes; as flat_sq8 (since 0.2) */
#define NEARKIT_KIND_FLAT_PQ 21    /* flat over product-quantised codes (m, nbits 8 or 4: the fast
                                    * scan); trained as flat_sq8 (since 0.2) */
#define NEARKIT_KIND_IVF_RABITQ 22 /* inverted file over RaBitQ codes (a bit per rotated
                                    * dimension), optional exact re-rank (since 0.2) */
#define NEARKIT_KIND_RPFOREST 23   /* random-projection forest in the way of Annoy and panns
                                    * (approximate): l2, l1, cosine, ip, hamming; n_trees,
                                    * leaf_size, split, shared_projections (build), search_k
                                    * (runtime; >= n_trees * count is exact) (since 0.2) */

/* Flags of nearkit_kind_info.flags. */
#define NEARKIT_KIND_FLAG_EXACT 1u          /* results equal the flat index's at default settings */
#define NEARKIT_KIND_FLAG_NEEDS_TRAINING 2u /* train (or build) before adding or searching */
#define NEARKIT_KIND_FLAG_NEEDS_BUILD 4u    /* call nearkit_index_build after adding, before search */
#define NEARKIT_KIND_FLAG_COMPRESSED 8u     /* searches codes of a codec smaller than the vectors
                                             * (fp16, bf16, sq8, sq4, pq): less memory, recall bounded
                                             * by the codes unless the originals are kept (refine)
                                             * (since 0.2) */

typedef struct nearkit_kind_info {
    uint32_t struct_size;  /* set by the caller: sizeof(nearkit_kind_info) */
    int32_t kind;          /* a NEARKIT_KIND_* value */
    const char *name;      /* e.g. "flat"; static storage */
    uint32_t flags;        /* NEARKIT_KIND_FLAG_* */
    uint32_t metric_mask;  /* bit (1u << metric) set for each supported nearkit_metric */
    const char *description; /* one line; static storage */
} nearkit_kind_info;

#define NEARKIT_KIND_INFO_INIT {(uint32_t)sizeof(nearkit_kind_info), 0, NULL, 0u, 0u, NULL}

/* Number of index kinds compiled into this library. Thread-safe. */
NEARKIT_API size_t nearkit_kind_count(void);
/* Fills `out` with the i-th kind (0 <= i < nearkit_kind_count()). The caller sets out->struct_size;
 * fields past it are not written. Errors: INVALID_ARGUMENT (NULL, struct_size too small, i out of
 * range). Thread-safe. Initialise with NEARKIT_KIND_INFO_INIT. */
NEARKIT_API nearkit_status nearkit_kind_get_info(nearkit_kind_info *out, size_t i);
/* Looks a kind up by name ("flat", "vptree", ...; case-insensitive). Errors: INVALID_ARGUMENT for
 * NULL, NOT_FOUND when no such kind is compiled in. */
NEARKIT_API nearkit_status nearkit_kind_from_name(nearkit_kind *out, const char *name);
/* The kind's name, or NULL when no such kind is compiled in. */
NEARKIT_API const char *nearkit_kind_name(nearkit_kind kind);

/* ---- Index options ----------------------------------------------------------------------------- */

/* Options fixed at creation. Initialise with nearkit_index_options_init() (or, in a static
 * initialiser, NEARKIT_INDEX_OPTIONS_INIT) and then change fields. Fields are only ever appended;
 * the library reads only the first struct_size bytes and uses defaults for the rest. */
typedef struct nearkit_index_options {
    uint32_t struct_size; /* sizeof(nearkit_index_options) as the caller was compiled */
    uint32_t num_threads; /* threads for batch work; 0 = every core. Default 0 */
    uint64_t seed;        /* seed for randomised builds (trees, k-means). Default 42 */
    /* Kind-specific build parameters as "name=value" pairs separated by commas or spaces, e.g.
     * "nlist=1024,leaf_size=32"; the same names nearkit_index_set_param() accepts. Borrowed for
     * the call only. NULL or "" for none. Default NULL. */
    const char *params;
} nearkit_index_options;

#define NEARKIT_INDEX_OPTIONS_INIT {(uint32_t)sizeof(nearkit_index_options), 0u, 42u, NULL}

/* Sets struct_size and every default. Errors: INVALID_ARGUMENT for NULL. */
NEARKIT_API nearkit_status nearkit_index_options_init(nearkit_index_options *options);

/* ---- Search options ---------------------------------------------------------------------------- */

/* A search filter: the search considers only the stored vectors whose ids it allows, and returns
 * exactly what a search of an index holding only those vectors would (exact kinds), or keeps its
 * recall on that truth (approximate kinds, which widen their search when few vectors pass; they
 * return min(k, allowed) neighbours). Range search filters the same way. Everything is borrowed
 * for the call only. Set struct_size (NEARKIT_FILTER_INIT) and one of: */
#define NEARKIT_FILTER_NONE 0u      /* every vector (as no filter) */
#define NEARKIT_FILTER_IDS 1u       /* the n_ids ids at `ids`: any order, repeats and unknown ids fine */
#define NEARKIT_FILTER_BITMAP 2u    /* id bitmap_first + i is allowed when bit i of `bitmap` is set
                                       (bit i is bit i % 8 of byte i / 8); ids outside
                                       [bitmap_first, bitmap_first + bitmap_bits) are not */
#define NEARKIT_FILTER_PREDICATE 3u /* predicate(context, id) != 0 allows id. It is called from the
                                       search's threads, concurrently, at most once per stored
                                       vector and query (kinds that gather the allowed rows first
                                       ask once per vector and call); it must give one answer per
                                       id during a call and must not call into the same index. */

/* Allows an id when nonzero. */
typedef int32_t (*nearkit_id_predicate)(void *context, int64_t id);

typedef struct nearkit_filter {
    uint32_t struct_size; /* sizeof(nearkit_filter) as the caller was compiled */
    uint32_t type;        /* NEARKIT_FILTER_* */
    const int64_t *ids;
    uint64_t n_ids;
    const uint8_t *bitmap;
    int64_t bitmap_first;
    uint64_t bitmap_bits;
    nearkit_id_predicate predicate;
    void *context;
} nearkit_filter;

#define NEARKIT_FILTER_INIT {(uint32_t)sizeof(nearkit_filter), 0u, NULL, 0u, NULL, 0, 0u, NULL, NULL}

/* One named parameter's value for one call (see "Named parameters"). */
typedef struct nearkit_param_value {
    const char *name;
    double value;
} nearkit_param_value;

/* Per-call search options; NULL everywhere means all defaults. Fields after num_threads were added
 * in 0.2; callers compiled before (a smaller struct_size) get their defaults. */
typedef struct nearkit_search_options {
    uint32_t struct_size; /* sizeof(nearkit_search_options) as the caller was compiled */
    uint32_t num_threads; /* threads for this batch; 0 = the index's num_threads. Default 0 */
    /* Only the vectors this filter allows; NULL: every vector. Default NULL */
    const nearkit_filter *filter;
    /* Settings of this call only: n_params values of the index's settable, non-build parameters
     * ("nprobe", mih's "max_radius", ...), used instead of the index's for this call. Two threads
     * may search one index with different values at once. Default none */
    const nearkit_param_value *params;
    uint64_t n_params;
} nearkit_search_options;

#define NEARKIT_SEARCH_OPTIONS_INIT {(uint32_t)sizeof(nearkit_search_options), 0u, NULL, NULL, 0u}

/* Sets struct_size and every default. Errors: INVALID_ARGUMENT for NULL. */
NEARKIT_API nearkit_status nearkit_search_options_init(nearkit_search_options *options);

/* ---- Index lifetime ---------------------------------------------------------------------------- */

/* An index: opaque; create with nearkit_index_create or load, release with nearkit_index_free. */
typedef struct nearkit_index nearkit_index;

/* Creates an empty index.
 *   kind, metric  a supported pair (see nearkit_kind_info.metric_mask)
 *   dimension     float: number of values (>= 1); binary: number of bits (a multiple of 8, >= 8)
 *   options       NULL for defaults; copied (params are parsed during the call)
 * On success *out owns a new index the caller frees with nearkit_index_free.
 * Errors: INVALID_ARGUMENT (NULL out, zero or bad dimension, bad option value), UNSUPPORTED (pair
 * not supported), NOT_FOUND (unknown kind or parameter name), OUT_OF_MEMORY. Thread-safe. */
NEARKIT_API nearkit_status nearkit_index_create(nearkit_index **out, nearkit_kind kind,
                                                nearkit_metric metric, uint32_t dimension,
                                                const nearkit_index_options *options);

/* Releases the index and everything it owns. Accepts NULL. The caller ensures no other call is
 * using the index. */
NEARKIT_API void nearkit_index_free(nearkit_index *index);

/* ---- Adding, training, building ---------------------------------------------------------------- */

/* Adds n vectors (copied). `type` must be the index's vector type (or FLOAT16 for a FLOAT32
 * index: converted, see NEARKIT_VECTOR_FLOAT16). `ids` is NULL (ids continue the
 * insertion order: the i-th vector ever added gets id i) or n int64 ids (copied; any value but -1;
 * duplicates are allowed and reported as given). n = 0 is a no-op.
 * Kinds that need training accept vectors before it: they are kept and indexed by the training
 * that nearkit_index_build runs, so create, add, build, search works for every kind.
 * Errors: INVALID_ARGUMENT (NULL vectors with n > 0, wrong type, NaN or infinity, id -1),
 * OUT_OF_MEMORY. A writer (see "Thread safety" above). */
NEARKIT_API nearkit_status nearkit_index_add(nearkit_index *index, nearkit_vector_type type,
                                             const void *vectors, uint64_t n, const int64_t *ids);

/* Trains kinds that learn from data (e.g. IVF centroids) on n vectors (borrowed for the call),
 * e.g. a sample, before or after adding; vectors already added are then indexed. A no-op returning
 * OK for kinds that need no training. Errors: INVALID_ARGUMENT (also for n = 0), STATE (already
 * trained), OUT_OF_MEMORY. A writer (see "Thread safety" above). */
NEARKIT_API nearkit_status nearkit_index_train(nearkit_index *index, nearkit_vector_type type,
                                               const void *vectors, uint64_t n);

/* Makes everything added so far searchable: builds trees, and trains on the added vectors first
 * where the kind needs training and has none. Idempotent; OK for kinds that need no build.
 * Errors: STATE (nothing to train on), OUT_OF_MEMORY. A writer (see "Thread safety" above). */
NEARKIT_API nearkit_status nearkit_index_build(nearkit_index *index);

/* ---- Removing and reading back ---------------------------------------------------------------- */

/* Removes every stored vector that carries one of the n ids (borrowed; ids not stored and repeats
 * are ignored). *removed (may be NULL) gets the number of vectors removed. Searches, count and
 * saves no longer see them at once; the kinds reclaim their space as docs/architecture.md
 * ("Living collections") says, at the latest on nearkit_index_compact. An id removed can be added
 * again. With ids NULL on add, ids keep counting from the number of vectors ever added, so a
 * removed implicit id is never given again. Errors: INVALID_ARGUMENT (NULL index, NULL ids with
 * n > 0), OUT_OF_MEMORY (nothing was removed). */
NEARKIT_API nearkit_status nearkit_index_remove(uint64_t *removed, nearkit_index *index,
                                                const int64_t *ids, uint64_t n);

/* Reads back stored vectors: for each of the n ids, its vector into row i of `vectors` (n rows of
 * nearkit_index_vector_bytes() bytes) as the index stores it (cosine: normalised to length 1),
 * and found[i] = 1; for an id not stored, a row of zeros and found[i] = 0. `found` may be NULL.
 * Where several vectors carry one id, one of them. Errors: INVALID_ARGUMENT (NULL arguments with
 * n > 0), OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_index_get(void *vectors, uint8_t *found,
                                             const nearkit_index *index, const int64_t *ids,
                                             uint64_t n);

/* 1 when some stored vector carries `id`, else 0 (also for a NULL index). */
NEARKIT_API int32_t nearkit_index_contains(const nearkit_index *index, int64_t id);

/* Reclaims the space of removed vectors and finishes work the kinds defer (trees rebuild over
 * what was added or removed since their build). Never needed for correct results.
 * Errors: INVALID_ARGUMENT, OUT_OF_MEMORY (the index is unchanged). */
NEARKIT_API nearkit_status nearkit_index_compact(nearkit_index *index);

/* ---- Searching --------------------------------------------------------------------------------- */

/* k-nearest-neighbour search for n queries (borrowed). Writes n * k ids and n * k distances into
 * the caller's buffers, row i holding query i's neighbours nearest first, equal distances in
 * increasing id order. For l2 "nearest" is decided on the squared distance, which is then reported
 * as its float square root: two rows whose squares differ but root to one float are kept or
 * dropped by their squares, and shown in increasing id order. Where fewer than k vectors exist,
 * the missing entries are id -1 and distance +INFINITY. A kind whose search can be capped (mih's
 * max_radius) pads the same way where the cap cut a row short, so a row is exact exactly when it
 * holds min(k, count) neighbours. k may exceed the count: the kinds search for min(k, count) neighbours and
 * only the padding is written beyond that, so a huge k costs nothing but the caller's buffers
 * (bindings and the CLI bound it: see their documentation).
 * Batches run on the index's threads.
 * Errors: INVALID_ARGUMENT (NULL pointer, k = 0, n * k * 8 above PTRDIFF_MAX, wrong type, NaN
 * or infinity in a query), OUT_OF_MEMORY. An index not yet built or trained is searched too: the
 * vectors outside its structure (all of them, before a build) are scanned exactly. Thread-safe with
 * other const calls. */
NEARKIT_API nearkit_status nearkit_index_search(int64_t *ids, float *distances,
                                                const nearkit_index *index,
                                                nearkit_vector_type type, const void *queries,
                                                uint64_t n, uint64_t k,
                                                const nearkit_search_options *options);

/* The result of a range search: for each query, every vector within the radius. Opaque. */
typedef struct nearkit_range_result nearkit_range_result;

/* Range search: for each of n queries, every stored vector at distance <= radius, nearest first,
 * equal distances in increasing id order. On success *out owns a result freed with
 * nearkit_range_result_free. Errors: as nearkit_index_search, and INVALID_ARGUMENT for a NaN
 * radius. Thread-safe with other const calls. */
NEARKIT_API nearkit_status nearkit_index_range_search(nearkit_range_result **out,
                                                      const nearkit_index *index,
                                                      nearkit_vector_type type,
                                                      const void *queries, uint64_t n,
                                                      float radius,
                                                      const nearkit_search_options *options);

/* Number of queries in the result. 0 for NULL. */
NEARKIT_API uint64_t nearkit_range_result_query_count(const nearkit_range_result *result);
/* Borrowed views into the result (valid until it is freed), in the layout of a CSR matrix:
 * query i's matches are ids[offsets[i] .. offsets[i+1]) with their distances at the same
 * positions; offsets has query_count + 1 entries. Any output pointer may be NULL to skip it.
 * Errors: INVALID_ARGUMENT for a NULL result. */
NEARKIT_API nearkit_status nearkit_range_result_get(const uint64_t **offsets, const int64_t **ids,
                                                    const float **distances,
                                                    const nearkit_range_result *result);
/* Releases a range result. Accepts NULL. */
NEARKIT_API void nearkit_range_result_free(nearkit_range_result *result);

/* ---- Introspection ----------------------------------------------------------------------------- */
/* These return 0 (or NULL) for a NULL index and are thread-safe with other const calls. */

NEARKIT_API nearkit_kind nearkit_index_kind(const nearkit_index *index);
NEARKIT_API nearkit_metric nearkit_index_metric(const nearkit_index *index);
NEARKIT_API nearkit_vector_type nearkit_index_vector_type(const nearkit_index *index);
/* Dimension as given at creation (bits for binary vectors). */
NEARKIT_API uint32_t nearkit_index_dimension(const nearkit_index *index);
/* Bytes one vector occupies on input: dimension * 4 (float) or dimension / 8 (binary). */
NEARKIT_API uint64_t nearkit_index_vector_bytes(const nearkit_index *index);
/* Number of vectors stored. */
NEARKIT_API uint64_t nearkit_index_count(const nearkit_index *index);
/* Heap memory the index holds, in bytes. */
NEARKIT_API uint64_t nearkit_index_memory_bytes(const nearkit_index *index);
/* 1 when the index is trained and built as its kind needs, else 0 (0: IVF before its training,
 * whose searches then scan every vector exactly). Every index can be searched either way. */
NEARKIT_API int32_t nearkit_index_is_ready(const nearkit_index *index);

/* A human-readable description: kind, metric, sizes, parameters, and for trees their top levels.
 * On success *out is a NUL-terminated string the caller frees with nearkit_string_free.
 * Errors: INVALID_ARGUMENT, OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_index_describe(char **out, const nearkit_index *index);
/* Releases a string returned by the library. Accepts NULL. */
NEARKIT_API void nearkit_string_free(char *string);

/* ---- Named parameters -------------------------------------------------------------------------- */

/* Every kind exposes its settings by name, so bindings need no per-kind code. Every kind has
 * "num_threads"; others by kind, e.g. "nprobe", "ef_search", "leaf_size". Read-only statistics
 * (e.g. "depth") are listed too and refuse a set. */

/* Flags of a parameter. */
#define NEARKIT_PARAM_FLAG_READ_ONLY 1u /* statistics: get only */
#define NEARKIT_PARAM_FLAG_BUILD 2u     /* settable only before training/adding */
#define NEARKIT_PARAM_FLAG_INTEGER 4u   /* integer valued */
/* The runtime setting that trades speed for recall (nprobe, ef_search, search_k): the one that
 * nearkit_index_tune and `nearkit bench`'s sweep vary. At most one per kind. */
#define NEARKIT_PARAM_FLAG_RECALL 8u
/* Values below the search's k act as k (a candidate list holds k at least): a sweep starts at k. */
#define NEARKIT_PARAM_FLAG_FROM_K 16u
/* A finer runtime setting under the RECALL one, where that one's integer steps are coarse (the
 * IVF kinds' max_codes: rows a query scans at most, the last list cut short). 0 means no limit,
 * the RECALL setting alone; nearkit_index_tune sets it when one step of the RECALL setting jumps
 * past the target. At most one per kind. Since 0.2. */
#define NEARKIT_PARAM_FLAG_RECALL_FINE 32u

/* Number of named parameters of this index; 0 for NULL. */
NEARKIT_API size_t nearkit_index_param_count(const nearkit_index *index);
/* The i-th parameter's name (static storage) and flags. Errors: INVALID_ARGUMENT (NULL index,
 * i out of range). Either output may be NULL. */
NEARKIT_API nearkit_status nearkit_index_param_info(const char **name, uint32_t *flags,
                                                    const nearkit_index *index, size_t i);
/* A parameter's description, as the kinds define it. */
typedef struct nearkit_param_info {
    uint32_t struct_size;    /* set by the caller: sizeof(nearkit_param_info) */
    const char *name;        /* e.g. "nprobe"; static storage */
    uint32_t flags;          /* NEARKIT_PARAM_FLAG_* */
    double minimum, maximum; /* the range set_param accepts */
    double default_value;    /* the value of a new index; NaN for read-only statistics */
    const char *description; /* one line, e.g. what 0 means; static storage */
} nearkit_param_info;

#define NEARKIT_PARAM_INFO_INIT {(uint32_t)sizeof(nearkit_param_info), NULL, 0u, 0.0, 0.0, 0.0, NULL}

/* Fills `out` with the i-th parameter's description (0 <= i < nearkit_index_param_count()). The
 * caller sets out->struct_size (initialise with NEARKIT_PARAM_INFO_INIT); fields past it are not
 * written. Errors: INVALID_ARGUMENT (NULL, struct_size too small, i out of range). Thread-safe. */
NEARKIT_API nearkit_status nearkit_index_param_describe(nearkit_param_info *out,
                                                        const nearkit_index *index, size_t i);
/* Reads a parameter. Errors: INVALID_ARGUMENT (NULL), NOT_FOUND (no such parameter). */
NEARKIT_API nearkit_status nearkit_index_get_param(double *value, const nearkit_index *index,
                                                   const char *name);
/* Sets a parameter. Errors: INVALID_ARGUMENT (NULL, NaN, out of range, not an integer where one
 * is needed, read-only), NOT_FOUND, STATE (a build parameter after training or adding).
 * A writer (see "Thread safety" above). */
NEARKIT_API nearkit_status nearkit_index_set_param(nearkit_index *index, const char *name,
                                                   double value);

/* ---- Persistence ------------------------------------------------------------------------------- */

/* The file format (docs/format.md) is the same on every platform and in every language. Loading
 * checks every length and a checksum, so a truncated, corrupted or foreign file gives CORRUPT and
 * a file from a newer format version gives UNSUPPORTED, never a crash. */

/* Writes the index to a file, atomically: a temporary in the same directory, synced, then
 * renamed over `path`, so `path` holds the old file or the new one, whole, after any failure
 * (full disk, kill -9, power loss). An existing `path` must be a regular file, and keeps its
 * permission bits; a symbolic link, FIFO, device or directory there is refused with IO (a link
 * is not followed: pass the path it points to). A new file gets 0666 less the umask. Leftover
 * temporaries of killed saves of the same path are removed (docs/format.md). Errors:
 * INVALID_ARGUMENT, IO, OUT_OF_MEMORY. Thread-safe with other const calls. */
NEARKIT_API nearkit_status nearkit_index_save(const nearkit_index *index, const char *path);
/* Reads an index from a regular file (anything else: IO, without reading or waiting). On
 * success *out owns it. Errors: INVALID_ARGUMENT, IO, CORRUPT, UNSUPPORTED, OUT_OF_MEMORY.
 * Thread-safe. */
NEARKIT_API nearkit_status nearkit_index_load(nearkit_index **out, const char *path);
/* Serialises the index into a new buffer: *data (freed with nearkit_buffer_free) of *size bytes.
 * Errors: INVALID_ARGUMENT, OUT_OF_MEMORY. Thread-safe with other const calls. */
NEARKIT_API nearkit_status nearkit_index_save_to_buffer(void **data, size_t *size,
                                                        const nearkit_index *index);
/* Reads an index from `size` bytes at `data` (borrowed). Errors as nearkit_index_load. */
NEARKIT_API nearkit_status nearkit_index_load_from_buffer(nearkit_index **out, const void *data,
                                                          size_t size);
/* Releases a buffer from nearkit_index_save_to_buffer. Accepts NULL. */
NEARKIT_API void nearkit_buffer_free(void *data);

/* ============================================================================================== */
/*                                      EXPERIMENTAL API                                          */
/* ============================================================================================== */
#ifdef NEARKIT_EXPERIMENTAL

/* Which distance-kernel implementation runs: "scalar", "avx2", "avx512". */
#define NEARKIT_KERNELS_AUTO 0
#define NEARKIT_KERNELS_SCALAR 1
#define NEARKIT_KERNELS_AVX2 2
#define NEARKIT_KERNELS_AVX512 3

/* Forces one kernel implementation for the whole process (AUTO restores the best the CPU has).
 * For tests and benchmarks; not safe while searches run. ivf_rabitq's scan copies (popcounts,
 * query levels) follow it too, chosen when an index trains or loads. Errors: UNSUPPORTED when
 * the CPU lacks the instructions, INVALID_ARGUMENT for an unknown value. */
NEARKIT_API nearkit_status nearkit_kernels_force(int32_t which);
/* Name of the kernel implementation in use. Static storage; never NULL. */
NEARKIT_API const char *nearkit_kernels_name(void);

/* ---- Tuning for a target recall ---------------------------------------------------------------- */

/* What nearkit_index_tune aims at. Initialise with nearkit_tune_options_init() (or
 * NEARKIT_TUNE_OPTIONS_INIT) and change fields; fields are only ever appended and the library reads
 * only the first struct_size bytes. */
typedef struct nearkit_tune_options {
    uint32_t struct_size;  /* sizeof(nearkit_tune_options) as the caller was compiled */
    uint32_t num_threads;  /* threads of the measuring searches (and so of the QPS reported); 0 =
                              the index's num_threads. Default 0 */
    uint64_t k;            /* the k of recall@k, >= 1. Default 10 */
    double target_recall;  /* in (0, 1]. Default 0.95 */
    double max_value;      /* the largest value of the parameter tried; 0 = no bound below the
                              parameter's own maximum. Default 0 */
    double max_seconds;    /* stop measuring once this much time is spent (the truth's brute
                              force included) and choose among the values measured; 0 = no limit.
                              Default 0 */
} nearkit_tune_options;

#define NEARKIT_TUNE_OPTIONS_INIT {(uint32_t)sizeof(nearkit_tune_options), 0u, 10u, 0.95, 0.0, 0.0}

/* What nearkit_index_tune measured and chose. The caller sets struct_size; fields past it are not
 * written. */
typedef struct nearkit_tune_result {
    uint32_t struct_size; /* set by the caller: sizeof(nearkit_tune_result) */
    int32_t reached;      /* 1 when recall >= the target, 0 when no value tried reached it */
    const char *param;    /* the runtime parameter tuned ("nprobe", "ef_search"); static storage;
                             NULL for an exact kind, which has nothing to tune */
    double value;         /* the value chosen and set on the index; 0 when param is NULL */
    double recall;        /* recall@k measured on the queries at that value (1 for exact kinds) */
    double qps;           /* queries per second measured at that value with the call's threads;
                             0 for exact kinds (nothing is measured) */
    uint32_t measurements; /* the number of values measured */
    /* Since 0.2: the finer setting chosen with `value` (the kind's NEARKIT_PARAM_FLAG_RECALL_FINE
     * parameter, "max_codes"), set on the index too; recall and qps are measured with both.
     * NULL and 0 when the tuner kept the finer setting at 0 (no limit): the kind has none, or
     * `value` alone does not overshoot the target. */
    const char *fine_param;
    double fine_value;
} nearkit_tune_result;

#define NEARKIT_TUNE_RESULT_INIT {(uint32_t)sizeof(nearkit_tune_result), 0, NULL, 0.0, 0.0, 0.0, 0u, NULL, 0.0}

/* Sets struct_size and every default. Errors: INVALID_ARGUMENT for NULL. */
NEARKIT_API nearkit_status nearkit_tune_options_init(nearkit_tune_options *options);

/* Finds the cheapest value of the index's runtime parameter (nprobe for the IVF kinds, ef_search
 * for hnsw, search_k for rpforest since 0.2) at which searches for the n sample queries
 * (borrowed) reach recall@k >= target_recall, sets it on the index (as nearkit_index_set_param)
 * and reports it in *result; then, where the kind has a finer setting (NEARKIT_PARAM_FLAG_RECALL_FINE,
 * the IVF kinds' max_codes), the cheapest value of that with the first that reached.
 *   - The truth is exact: the stored vectors are read back and searched by brute force (a flat
 *     index over a copy of them, so the call needs memory for a second copy of the vectors).
 *     A compressed kind that keeps no originals (refine 0) reads back its decoded codes, so its
 *     recall is measured against the best its codes can find, not against the vectors added:
 *     recall against those can be lower, by the codes' own loss.
 *   - recall@k is the fraction of the min(k, count) true neighbours of each query found, summed
 *     over the queries; a returned id whose distance equals the k-th true distance (within a
 *     relative 1e-5, the kernels' rounding) counts as found, as the golden manifest's tie rule.
 *   - Values are tried by doubling from the parameter's smallest useful value (k for ef_search
 *     and search_k),
 *     up to max_value, the parameter's maximum or the count, then bisecting between the last
 *     value that missed and the first that reached, each passed per call
 *     (nearkit_search_options.params): concurrent searches keep the index's value until the end.
 *     Recall is taken to grow with the value. When no value reaches the target, the one with the
 *     highest recall is set and result->reached is 0.
 *   - The finer setting (since 0.2): one step of an integer setting can jump far past the target
 *     (one more IVF list at a time), and held-out queries then land as far above it. When the
 *     value chosen v overshoots (its recall is above the target by more than a quarter of the step
 *     from v - 1, or v - 1 was not measured), the finer setting is bisected with v kept, from a
 *     budget that misses up to the index's count (a budget no query reaches, which is v alone),
 *     to within 1% of itself, for the cheapest that still reaches the target on the sample. Both
 *     are set (the finer one to 0 when not chosen) and reported as result->fine_param and
 *     fine_value. Every measurement passes both settings per call, so a finer setting already
 *     on the index does not steer the search for the coarse one.
 *   - Exact kinds (NEARKIT_KIND_FLAG_EXACT) return at once: reached 1, param NULL, recall 1.
 * Use queries like the ones the index will serve, not vectors it stores (those find themselves).
 * Errors: INVALID_ARGUMENT (NULL pointer, n = 0, wrong vector type, NaN or infinity in a query,
 * k = 0, target_recall outside (0, 1], negative max_value or max_seconds, struct_size too small),
 * STATE (the index holds no vectors, or is not yet trained or built: it would scan everything),
 * UNSUPPORTED (an approximate kind without a tunable parameter), OUT_OF_MEMORY. Runs its searches
 * as any search does and sets the parameter as a writer. */
NEARKIT_API nearkit_status nearkit_index_tune(nearkit_tune_result *result, nearkit_index *index,
                                              nearkit_vector_type type, const void *queries,
                                              uint64_t n, const nearkit_tune_options *options);

/* ---- Merging results computed apart ------------------------------------------------------------ */

/* One part's k-NN answer to the same n queries (e.g. one shard's nearkit_index_search): row q is
 * ids[q * k .. q * k + k) and distances[q * k ..], padded with -1 / +infinity. */
typedef struct nearkit_knn_part {
    const int64_t *ids;
    const float *distances;
    uint64_t k; /* columns of this part's rows (0: the part adds nothing) */
} nearkit_knn_part;

#define NEARKIT_MERGE_UNIQUE 1u /* an id found by several parts counts once, at its least distance */

/* The k nearest of the n_parts parts' answers for each of n queries, into ids / distances (n x k,
 * borrowed, written): nearest first, equal distances by smaller id, padded with -1 / +infinity,
 * exactly as one search over the union would order them. Ids may repeat across parts unless
 * NEARKIT_MERGE_UNIQUE is given. Thread-safe.
 * Errors: INVALID_ARGUMENT (k = 0, NULL buffers or parts, a NaN distance, unknown flags, more
 * results than memory can address), OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_merge_knn(int64_t *ids, float *distances, uint64_t n, uint64_t k,
                                             const nearkit_knn_part *parts, uint64_t n_parts,
                                             uint32_t flags);

/* ---- Sharded collections ------------------------------------------------------------------------ */

/* A sharded collection: N indexes (shards) of any kind over parts of one collection, the ids
 * global (each vector's id is the one it carries in its shard; keep them unique across shards).
 * A search runs on every shard and merges their top k with nearkit_merge_knn, so with exact
 * shards the answer equals one exact index's over the union: ids, distances and tie order (equal
 * distances by smaller id). Every shard has the collection's vector type, metric and dimension.
 *
 * On disk it is a directory: one ordinary index file per shard (shard-00000.nkx, ...: each loads
 * with nearkit_index_load) and a manifest, manifest.json, listing them in order with their
 * vector counts, and the collection's vector type, metric and dimension (docs/distributed.md).
 * Opening checks each shard file against the manifest.
 *
 * Thread safety: as an index; searches run concurrently, add_shard is a writer. */
typedef struct nearkit_sharded nearkit_sharded;

/* Options of a sharded collection. Initialise with nearkit_sharded_options_init() (or
 * NEARKIT_SHARDED_OPTIONS_INIT); fields are only ever appended and the library reads only the
 * first struct_size bytes. */
typedef struct nearkit_sharded_options {
    uint32_t struct_size; /* sizeof(nearkit_sharded_options) as the caller was compiled */
    uint32_t num_threads; /* threads of a search's fan-out when a call gives none; 0 = every
                             core. Default 0 */
    int32_t view_shards;  /* nonzero: nearkit_sharded_open opens every shard file as a read-only
                             view (nearkit_index_view, unverified: mapped, shared with the other
                             processes serving the same files, writes to a shard refused with
                             STATE). Default 0: loaded. Since 0.2 */
} nearkit_sharded_options;

#define NEARKIT_SHARDED_OPTIONS_INIT {(uint32_t)sizeof(nearkit_sharded_options), 0u, 0}

/* The manifest's file name inside a sharded collection's directory. */
#define NEARKIT_SHARDED_MANIFEST "manifest.json"

/* Sets struct_size and every default. Errors: INVALID_ARGUMENT for NULL. */
NEARKIT_API nearkit_status nearkit_sharded_options_init(nearkit_sharded_options *options);

/* Creates an empty collection (no shards: searches return padding). options NULL for defaults.
 * Errors: INVALID_ARGUMENT (NULL out, struct_size too small), OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_sharded_create(nearkit_sharded **out,
                                                  const nearkit_sharded_options *options);

/* Releases the collection and every shard it owns. Accepts NULL. */
NEARKIT_API void nearkit_sharded_free(nearkit_sharded *sharded);

/* Appends `shard` as the next shard; on success the collection owns it (the caller must not use
 * or free it any more), on failure it stays the caller's. The first shard fixes the vector type,
 * metric and dimension. Errors: INVALID_ARGUMENT (NULL, a shard unlike the first, the same index
 * twice), OUT_OF_MEMORY. A writer. */
NEARKIT_API nearkit_status nearkit_sharded_add_shard(nearkit_sharded *sharded, nearkit_index *shard);

/* Number of shards; 0 for NULL. */
NEARKIT_API uint64_t nearkit_sharded_shard_count(const nearkit_sharded *sharded);
/* The i-th shard, borrowed (valid until the collection is freed), or NULL when i is out of range.
 * Read only through it: a write to a shard is a write to the collection. */
NEARKIT_API const nearkit_index *nearkit_sharded_shard(const nearkit_sharded *sharded, uint64_t i);
/* The vectors searchable in every shard together; 0 for NULL. */
NEARKIT_API uint64_t nearkit_sharded_count(const nearkit_sharded *sharded);
/* The collection's dimension, metric and vector type (0 while it has no shard or for NULL). */
NEARKIT_API uint32_t nearkit_sharded_dimension(const nearkit_sharded *sharded);
NEARKIT_API nearkit_metric nearkit_sharded_metric(const nearkit_sharded *sharded);
NEARKIT_API nearkit_vector_type nearkit_sharded_vector_type(const nearkit_sharded *sharded);
/* Bytes held by every shard together (nearkit_index_memory_bytes summed); 0 for NULL. */
NEARKIT_API uint64_t nearkit_sharded_memory_bytes(const nearkit_sharded *sharded);

/* k nearest of n queries over every shard, written as nearkit_index_search writes them (ids and
 * distances n x k, nearest first, equal distances by smaller id, padded with -1 / +infinity).
 * options as nearkit_index_search's: the filter and per-call parameters go to every shard (a
 * parameter some shard's kind lacks is that shard's NOT_FOUND). num_threads (0: the
 * collection's) is shared out: a batch of at least as many queries as threads searches the shards
 * one after another, each with every thread; a smaller batch searches the shards side by side.
 * Errors: those of nearkit_index_search (the first failing shard's, its number in the message),
 * STATE (no shard), OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_sharded_search(int64_t *ids, float *distances,
                                                  const nearkit_sharded *sharded,
                                                  nearkit_vector_type type, const void *queries,
                                                  uint64_t n, uint64_t k,
                                                  const nearkit_search_options *options);

/* Writes the collection to the directory `dir` (created when missing, with 0777 less the umask):
 * each shard as shard-NNNNN.nkx (nearkit_index_save: atomic), then the manifest (atomically, last,
 * so a directory with a manifest always names complete shards). Files of other names are left
 * alone. Errors: INVALID_ARGUMENT (NULL, no shard), IO, OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_sharded_save(const nearkit_sharded *sharded, const char *dir);

/* Writes the manifest of `dir` for shard files saved there already, e.g. by workers of a
 * cluster, each by nearkit_index_save: n_files plain file names (no directory part, no "/", not
 * "." or ".."), in shard order. Every file is opened once (as nearkit_sharded_open_shard does) to
 * check that the shards agree and to count their vectors. Errors: INVALID_ARGUMENT (NULL, n_files
 * 0, a name with a directory part, shards that disagree), IO, CORRUPT, UNSUPPORTED (a shard
 * file's), OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_sharded_write_manifest(const char *dir,
                                                          const char *const *files,
                                                          uint64_t n_files);

/* Opens the collection saved in `dir`: reads the manifest and loads every shard it names.
 * options NULL for defaults. Errors: INVALID_ARGUMENT (NULL), IO (no manifest, a shard file
 * missing), CORRUPT (a manifest that is not one, or a shard file unlike its manifest entry),
 * UNSUPPORTED (a newer manifest version), OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_sharded_open(nearkit_sharded **out, const char *dir,
                                                const nearkit_sharded_options *options);

/* The number of shards the manifest of `dir` lists, without opening any. Errors as
 * nearkit_sharded_open's for the manifest. */
NEARKIT_API nearkit_status nearkit_sharded_manifest_shard_count(uint64_t *count, const char *dir);

/* Opens the i-th shard of the collection saved in `dir` alone, as an ordinary index the caller
 * frees (a cluster's worker opening the shard it serves), checked against its manifest entry.
 * Errors as nearkit_sharded_open's, and INVALID_ARGUMENT for i out of range. */
NEARKIT_API nearkit_status nearkit_sharded_open_shard(nearkit_index **out, const char *dir,
                                                      uint64_t i);

/* ---- Read-only views of saved files ------------------------------------------------------------- */

/* How nearkit_index_view opens a file. Initialise with nearkit_view_options_init() (or
 * NEARKIT_VIEW_OPTIONS_INIT) and change fields; fields are only ever appended and the library reads
 * only the first struct_size bytes. */
typedef struct nearkit_view_options {
    uint32_t struct_size; /* sizeof(nearkit_view_options) as the caller was compiled */
    int32_t verify;       /* nonzero: check the file's CRC over the whole mapping and every stored
                             value, as a load does (reads every page: O(data)). Default 0: the
                             header and section table only, every length bounded by the file, and
                             what keeps reads in bounds (graph links, tree nodes) */
    int32_t load_if_unviewable; /* nonzero: when the image's layout cannot be used in place (the
                             view fails with UNSUPPORTED because a section is not 64-byte
                             aligned: a format version 1 file, or a buffer not 64-byte aligned),
                             load that same image into the heap instead, as nearkit_index_load /
                             nearkit_index_load_from_buffer would (checksum and every value
                             checked). The result is then NOT a view: writable, owning its
                             memory, nearkit_index_is_view gives 0, and the file or buffer is no
                             longer used once the call returns. Only that layout refusal falls
                             back: CORRUPT, IO, OUT_OF_MEMORY and every other UNSUPPORTED (a
                             newer format version, an unknown kind) are returned as without the
                             option. Default 0: UNSUPPORTED is returned. Since 0.2 */
} nearkit_view_options;

#define NEARKIT_VIEW_OPTIONS_INIT {(uint32_t)sizeof(nearkit_view_options), 0, 0}

/* Sets struct_size and every default. Errors: INVALID_ARGUMENT for NULL. */
NEARKIT_API nearkit_status nearkit_view_options_init(nearkit_view_options *options);

/* Opens the index file at `path` read-only without copying its bulk: the file is mapped (shared
 * with every other process viewing it, through the page cache) and the stored vectors and ids are
 * used in place; what a kind derives or keeps in its own layout is built in the index's heap
 * (docs/format.md, "Views", lists it per kind). The mapping lives until nearkit_index_free; the
 * file must not be truncated or rewritten in place meanwhile (nearkit_index_save replaces a file
 * by renaming, which a view survives: it keeps the old file). The view searches like a loaded
 * index; every write (add, remove, train, build, compact, setting a build parameter) gives
 * STATE, while runtime parameters (nprobe, ef_search, search_k, num_threads) stay settable.
 * nearkit_index_memory_bytes counts only the heap the view owns. opts NULL: the defaults.
 * Errors: INVALID_ARGUMENT (NULL, struct_size too small), IO (cannot open or map, not a regular
 * file), CORRUPT (as nearkit_index_load, and a section table that does not fit the file),
 * UNSUPPORTED (a newer format version; a format version 1 file whose layout cannot be used in
 * place: the message says to re-save it, unless opts->load_if_unviewable loads it), OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_index_view(nearkit_index **out, const char *path,
                                              const nearkit_view_options *opts);
/* The same over `size` bytes of a saved file that the caller keeps alive and unchanged until
 * nearkit_index_free (e.g. its own mapping). `data` must be 64-byte aligned (UNSUPPORTED
 * otherwise, or with opts->load_if_unviewable a load of the bytes, which the caller may then
 * release at once: check nearkit_index_is_view). Errors: as nearkit_index_view, without IO. */
NEARKIT_API nearkit_status nearkit_index_view_buffer(nearkit_index **out, const void *data, size_t size,
                                                     const nearkit_view_options *opts);
/* 1 when the index is a view (nearkit_index_view, nearkit_index_view_buffer), 0 otherwise or
 * for NULL. */
NEARKIT_API int32_t nearkit_index_is_view(const nearkit_index *index);
/* A new, writable in-memory index equal to `index` (a view or not): same kind, parameters,
 * vectors, ids and answers. Errors: INVALID_ARGUMENT (NULL), OUT_OF_MEMORY. */
NEARKIT_API nearkit_status nearkit_index_copy(nearkit_index **out, const nearkit_index *index);
/* Opens the i-th shard of the collection saved in `dir` alone, as nearkit_sharded_open_shard does,
 * but as a read-only view (nearkit_index_view with `opts`; NULL: the defaults): what each worker
 * of a cluster opens when the workers of one host are to share the file's pages. The shard is
 * checked against its manifest entry as a loaded one is. Errors as nearkit_sharded_open_shard's
 * and nearkit_index_view's (UNSUPPORTED for a shard file whose layout cannot be viewed, unless
 * opts->load_if_unviewable loads it). */
NEARKIT_API nearkit_status nearkit_sharded_view_shard(nearkit_index **out, const char *dir, uint64_t i,
                                                      const nearkit_view_options *opts);

#endif /* NEARKIT_EXPERIMENTAL */

#ifdef __cplusplus
}
#endif

#endif /* NEARKIT_H */
