/* The inverted file (IVF) family: a coarse quantizer cuts the space into nlist cells, every stored
 * vector sits in the inverted list of its cell, and a query scans the lists of the nprobe cells
 * nearest it. Approximate unless every list is probed (nprobe >= nlist), which gives the flat
 * index's results exactly.
 *
 * One implementation, three parts: the quantizer (ivf_quantizer.c), the list store
 * (ivf_lists.c), and a scanner per code format (ivf_scan_*.c). Its configurations are the kinds:
 *   - ivf_flat: float vectors kept as they are, for l2, cosine and ip; k-means centroids
 *     (spherical for cosine and ip); rows labelled by their ids; lists saved list by list;
 *   - ivf_binary: packed binary codes under Hamming; binary k-means centroids; rows labelled by
 *     their insertion position (the index maps positions to ids, implicitly until ids are given);
 *     codes saved in insertion order with the list of each;
 *   - ivf_fp16, ivf_bf16, ivf_sq8, ivf_sq4, ivf_pq, ivf_rabitq: compressed codes of a codec
 *     (codes/codec.h; RaBitQ's residual codes: codes/rabitq.h) under
 *     ivf_flat's quantizer, rows labelled by position as ivf_binary's; with `refine` > 0 at
 *     training the original vectors stay beside them (a row store by position) and a query
 *     re-ranks ceil(refine * k) candidates exactly (ivf_scan_codes.c); trained with refine 0 they
 *     are dropped, get decodes the codes, and an exact pass (few admitted rows) runs over decoded
 *     vectors.
   - flat_fp16, flat_bf16, flat_sq8, flat_sq4, flat_pq: brute force over codes (Faiss's
 *     IndexScalarQuantizer and IndexPQ), which is the compressed configuration with exactly one
 *     list: no nlist, nprobe or coarse training; the quantizer is one cell that nothing is ranked
 *     against (nearkit_ivf_quantizer_single: assign and probe know it without a distance), so the
 *     codecs, the re-rank, remove / filter / get, batches, save / load and their checks are the
 *     ivf codec kinds' own. What that leaves: a query scans its one list on one thread (batches
 *     still spread queries over threads); a filtered call never gathers (the scan visits every
 *     row anyway, so gathering would only add a decode and a float distance per admitted row),
 *     it tests ids in the list scan. fp16 and bf16 have nothing to learn, so their first add
 *     trains (the one cell) and rows are searchable as add returns; the codec kinds with ranges
 *     or codebooks train as the ivf ones do and search the waiting rows exactly until then.
 * Their parameters, defaults and file layouts are those of format v1 (docs/format.md).
 *
 * Vectors added before training wait in insertion order (a row store) and go to their lists at
 * the training that nearkit_index_train or nearkit_index_build runs. Until then a search answers
 * exactly over the waiting rows (never a STATE error); vectors added after training go straight
 * to their lists, so there is never a tail to rebuild.
 *
 * A living collection (issue 15):
 *   - remove: trained, rows leave their lists at once, each list closing its gap in place (a
 *     removal reads every stored id anyway, having no map from id to place), and a list left
 *     with more than a quarter of spare room gives it back; ivf_binary renumbers the positions
 *     that follow so that they stay 0 .. count - 1 in insertion order. Searches therefore never
 *     meet a removed row, and the unfiltered path is the one it was. Untrained, the waiting rows
 *     are marked (id -1) and dropped once a quarter are, or at training, or on compact. A file
 *     thus never holds a removed row in a list; one that does (written elsewhere) has those rows
 *     dropped as it loads, after which the header's count must match the rest;
 *   - get, each_id: by a walk over the lists (or the waiting rows);
 *   - a filtered call is planned once (ivf_plan): the share of rows the filter admits is
 *     estimated (the filter's own bound, and an even sample of 512 stored ids; a predicate is
 *     neither sampled nor gathered, being asked at most once per row and query), and the call is
 *     answered either exactly over the admitted rows, gathered once per call (their codes copied
 *     out, so that the exact scan streams them with the flat index's arithmetic: exact recall,
 *     ties by id), where that costs less than probing; or by probing in centroid order past
 *     nprobe until the admitted rows scanned reach what the first nprobe lists hold and k are
 *     found (pgvector's iterative scan). Float scans test ids before distances unless nearly
 *     every row passes (a compiled filter's test costs a few dimensions of a distance), after
 *     them (only rows that would enter the heap) otherwise. A batch of float queries under an id
 *     list or a bitmap takes the sgemm path over each list's admitted rows, probing as many lists
 *     as hold what nprobe lists hold at the estimated share (ivf_scan_float.c); a predicate's
 *     share is unknown, so its calls widen query by query. Range search probes nprobe lists
 *     and drops rows the filter refuses (a filter does not change the share of matches found),
 *     or scans the gathered rows;
 *   - nprobe is the call's (c->settings), so concurrent calls with different values do not
 *     interfere. */
#include "search/ivf_lists.h"
#include "codes/codec.h"
#include "codes/ivf_quantizer.h"
#include "codes/ivf_scan.h"
#include "codes/rabitq.h"
#include "kernels/kernels.h"
#include "search/rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BIVF_TAG NEARKIT_TAG('B', 'I', 'V', 'F')
#define IDS_TAG NEARKIT_TAG('I', 'D', 'S', ' ')

/* ---- the two configurations -------------------------------------------------------------------- */

/* What a parameter sets or reports. */
typedef enum setting {
    S_NLIST,
    S_NPROBE,
    S_MAX_CODES,
    S_TRAIN_SAMPLE,
    S_ITERATIONS,
    S_TRAIN_INIT,
    S_REFINE,
    S_PQ_M,
    S_PQ_NBITS,
    S_PQ_RESIDUAL,
    S_MAX_LIST_SIZE, /* read-only statistics from here on */
    S_EMPTY_LISTS,
    S_LIST_COUNT,
    S_BYTES_PER_VECTOR,
} setting;

typedef struct ivf_config {
    const char *name;
    const nearkit_ivf_scanner *scanner;
    bool binary;               /* binary quantizer, rows labelled by position, saved by position */
    bool compressed;           /* codes of a codec (format): float quantizer, rows by position */
    int format;                /* compressed: NEARKIT_CODE_* or NEARKIT_CODEC_PQ8 (ivf_pq: or PQ4, by nbits) */
    bool one_list;             /* the flat_* kinds: one list that every query scans, no coarse training */
    bool trains_on_add;        /* a codec with nothing to learn (fp16, bf16): the first add trains */
    bool nlist_becomes_trained; /* the nlist parameter reports the trained number once trained */
    uint32_t max_nlist;
    uint64_t max_count;        /* rows an index holds at most */
    uint32_t default_nprobe, default_iterations;
    const nearkit_param_desc *params;
    const setting *settings;   /* what each parameter is */
} ivf_config;

#define FLAT_MAX_NLIST (1u << 22)
#define BINARY_MAX_NLIST (1u << 20)
#define BINARY_MAX_COUNT 0xFFFFFFFFull /* positions are 32-bit */
#define BINARY_SAMPLE_PER_LIST 128     /* automatic training sample: this many codes per list ... */
#define BINARY_MIN_AUTO_SAMPLE 16384   /* ... but at least this many */

#define BUILD_INT (NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER)
#define STAT_INT (NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER)
#define RECALL_INT (NEARKIT_PARAM_FLAG_INTEGER | NEARKIT_PARAM_FLAG_RECALL)
#define FINE_INT (NEARKIT_PARAM_FLAG_INTEGER | NEARKIT_PARAM_FLAG_RECALL_FINE)
#define PARAM(n, f, lo, hi, def, text) \
    {.name = n, .flags = f, .min = lo, .max = hi, .default_value = def, .description = text}

/* Every probing kind's scan budget (see "the scan budget" under searching). */
#define MAX_CODES_LIMIT 9007199254740992.0 /* 2^53: every larger count is no limit in practice */
#define P_MAX_CODES                                                                               \
    PARAM("max_codes", FINE_INT, 0, MAX_CODES_LIMIT, 0,                                           \
          "rows a query scans at most, its lists in centroid order and the last cut short; 0: no " \
          "limit (nprobe lists whole)")

/* The float kinds' shared parameters (ivf_flat and the compressed kinds). */
#define P_FLOAT_NLIST                                                                             \
    PARAM("nlist", BUILD_INT, 0, FLAT_MAX_NLIST, 0,                                               \
          "number of lists (k-means cells); 0 chooses about sqrt(n) at training, never more than n")
#define P_FLOAT_TRAINING                                                                          \
    PARAM("train_sample", BUILD_INT, 0, 9007199254740992.0, 0,                                    \
          "vectors k-means trains on (a seeded random sample); 0 takes 256 per list"),             \
    PARAM("train_iterations", BUILD_INT, 1, 1000, NEARKIT_KMEANS_DEFAULT_ITERATIONS,              \
          "k-means iterations at most (fewer once the assignments settle)"),                      \
    PARAM("train_init", BUILD_INT, 0, 1, 0, "k-means initialisation: 0 random sample points, 1 k-means++")
#define P_FLOAT_LIST_STATS                                                                        \
    PARAM("max_list_size", STAT_INT, 0, 0, 0, "vectors in the largest list (0 before training)"), \
    PARAM("empty_lists", STAT_INT, 0, 0, 0, "lists holding no vector (0 before training)")

static const nearkit_param_desc flat_params[] = {
    P_FLOAT_NLIST,
    PARAM("nprobe", RECALL_INT, 1, FLAT_MAX_NLIST, 10,
         "lists scanned per query; nprobe >= nlist scans every list and is exact"),
    P_MAX_CODES,
    P_FLOAT_TRAINING,
    P_FLOAT_LIST_STATS,
};
static const setting flat_settings[] = {S_NLIST,      S_NPROBE,     S_MAX_CODES,     S_TRAIN_SAMPLE,
                                        S_ITERATIONS, S_TRAIN_INIT, S_MAX_LIST_SIZE, S_EMPTY_LISTS};

static const nearkit_param_desc binary_params[] = {
    PARAM("nlist", BUILD_INT, 0, BINARY_MAX_NLIST, 0,
         "number of lists; 0 chooses about sqrt(n) for n training codes, never more than n"),
    PARAM("nprobe", RECALL_INT, 1, BINARY_MAX_NLIST, 8,
         "lists scanned per query; nprobe >= nlist scans every list and is exact"),
    P_MAX_CODES,
    PARAM("train_size", BUILD_INT, 0, 4294967295.0, 0,
         "codes binary k-means trains on, sampled; 0 takes 128 per list, at least 16384"),
    PARAM("iterations", BUILD_INT, 1, 1000, 15,
         "binary k-means rounds at most; stops once at most one code in 1000 changes list"),
    PARAM("list_count", STAT_INT, 0, BINARY_MAX_NLIST, 0, "lists of the trained index (0 before training)"),
};
static const setting binary_settings[] = {S_NLIST,        S_NPROBE,     S_MAX_CODES,
                                          S_TRAIN_SAMPLE, S_ITERATIONS, S_LIST_COUNT};

/* The compressed kinds: ivf_flat's parameters, the re-rank, and what a vector costs. */
#define CODES_MAX_REFINE 1000.0
#define P_CODES_NPROBE                                                                            \
    PARAM("nprobe", RECALL_INT, 1, FLAT_MAX_NLIST, 10,                                            \
          "lists scanned per query; nprobe >= nlist scans every list (still approximate: codes)")
#define P_CODES_REFINE                                                                            \
    PARAM("refine", 0, 0, CODES_MAX_REFINE, 0,                                                    \
          "re-rank ceil(refine * k) candidates by their original vectors, reporting exact distances; " \
          "> 0 at training keeps the originals (4 bytes per dimension more), 0 then drops them for "  \
          "good")
#define P_CODES_BYTES                                                                             \
    PARAM("bytes_per_vector", NEARKIT_PARAM_FLAG_READ_ONLY, 0, 0, 0,                              \
          "memory per stored vector once trained: code, position, id and kept original")
static const nearkit_param_desc codes_params[] = {
    P_FLOAT_NLIST,  P_CODES_NPROBE,     P_MAX_CODES,  P_FLOAT_TRAINING,
    P_CODES_REFINE, P_FLOAT_LIST_STATS, P_CODES_BYTES,
};
static const setting codes_settings[] = {S_NLIST,         S_NPROBE,      S_MAX_CODES,       S_TRAIN_SAMPLE,
                                         S_ITERATIONS,    S_TRAIN_INIT,  S_REFINE,          S_MAX_LIST_SIZE,
                                         S_EMPTY_LISTS,   S_BYTES_PER_VECTOR};

#define CODES_CONFIG(NAME, FORMAT)                                                               \
    {                                                                                            \
        .name = NAME, .scanner = &nearkit_ivf_scan_codes, .compressed = true, .format = FORMAT,  \
        .nlist_becomes_trained = true, .max_nlist = FLAT_MAX_NLIST, .max_count = BINARY_MAX_COUNT, \
        .default_nprobe = 10, .default_iterations = NEARKIT_KMEANS_DEFAULT_ITERATIONS,           \
        .params = codes_params, .settings = codes_settings,                                     \
    }
static const ivf_config fp16_config = CODES_CONFIG("ivf_fp16", NEARKIT_CODE_FP16);
static const ivf_config bf16_config = CODES_CONFIG("ivf_bf16", NEARKIT_CODE_BF16);
static const ivf_config sq8_config = CODES_CONFIG("ivf_sq8", NEARKIT_CODE_SQ8);
static const ivf_config sq4_config = CODES_CONFIG("ivf_sq4", NEARKIT_CODE_SQ4);
/* ivf_rabitq: the same parameters; a code is ceil(d / 64) * 8 bytes and two floats */
static const ivf_config rabitq_config = CODES_CONFIG("ivf_rabitq", NEARKIT_CODEC_RABITQ);

/* ivf_pq: the compressed kinds' parameters and the number of sub-quantisers. */
#define P_PQ_SHAPE                                                                                \
    PARAM("m", BUILD_INT, 0, 1048576, 0,                                                          \
          "sub-quantisers: a code is m * nbits / 8 bytes; m divides the dimension; 0 chooses a byte " \
          "per 4 dimensions (or per 2, or per 1 where 4 does not divide it)"),                    \
    PARAM("nbits", BUILD_INT, 4, 8, 8,                                                            \
          "bits per sub-quantiser: 8 (256 centroids, float tables) or 4 (16 centroids, the fast scan: " \
          "8-bit tables summed 32 codes at a time in SIMD registers)")
/* Residual pq codes are opt-in: measured on Fashion-MNIST (nlist 980, m 196 and 392 x 4 bits)
 * they left the recall ceiling where codes of the vectors put it (0.891 / 0.851 against 0.890 /
 * 0.851) while a query's table, made per list instead of per query, cost 2 to 3 times the QPS at
 * nprobe 19; on small clustered sets they lift recall a lot (tests/test_codecs.c: 0.47 to 0.78). */
#define P_PQ_RESIDUAL                                                                             \
    PARAM("residual", BUILD_INT, 0, 1, 0,                                                         \
          "1: code each vector's residual to its list's centroid, the codebooks trained on residuals " \
          "(Faiss's IVFPQ default): finer codes where lists hold tight clusters, but a query's table " \
          "is made per list probed (l2, cosine) instead of once; 0: code the vectors")
static const nearkit_param_desc pq_params[] = {
    P_FLOAT_NLIST, P_CODES_NPROBE, P_MAX_CODES, P_FLOAT_TRAINING, P_CODES_REFINE, P_PQ_SHAPE, P_PQ_RESIDUAL,
    P_FLOAT_LIST_STATS, P_CODES_BYTES,
};
static const setting pq_settings[] = {S_NLIST, S_NPROBE, S_MAX_CODES, S_TRAIN_SAMPLE, S_ITERATIONS, S_TRAIN_INIT,
                                      S_REFINE, S_PQ_M, S_PQ_NBITS, S_PQ_RESIDUAL, S_MAX_LIST_SIZE, S_EMPTY_LISTS,
                                      S_BYTES_PER_VECTOR};
static const ivf_config pq_config = {
    .name = "ivf_pq", .scanner = &nearkit_ivf_scan_codes, .compressed = true, .format = NEARKIT_CODEC_PQ8,
    .nlist_becomes_trained = true, .max_nlist = FLAT_MAX_NLIST, .max_count = BINARY_MAX_COUNT,
    .default_nprobe = 10, .default_iterations = NEARKIT_KMEANS_DEFAULT_ITERATIONS,
    .params = pq_params, .settings = pq_settings,
};

/* The flat_* kinds (brute force over codes): the ivf codec kinds with exactly one list, so no
 * nlist, nprobe or coarse training to set; the codec trains as theirs does. */
static const nearkit_param_desc flat_codes_params[] = {P_CODES_REFINE, P_CODES_BYTES};
static const setting flat_codes_settings[] = {S_REFINE, S_BYTES_PER_VECTOR};
static const nearkit_param_desc flat_pq_params[] = {P_CODES_REFINE, P_PQ_SHAPE, P_CODES_BYTES};
static const setting flat_pq_settings[] = {S_REFINE, S_PQ_M, S_PQ_NBITS, S_BYTES_PER_VECTOR};

#define FLAT_CODES_CONFIG(NAME, FORMAT, TRAINS_ON_ADD, PARAMS, SETTINGS)                          \
    {                                                                                             \
        .name = NAME, .scanner = &nearkit_ivf_scan_codes, .compressed = true, .one_list = true,   \
        .trains_on_add = TRAINS_ON_ADD, .format = FORMAT, .max_nlist = 1, .max_count = BINARY_MAX_COUNT, \
        .default_nprobe = 1, .default_iterations = NEARKIT_KMEANS_DEFAULT_ITERATIONS,             \
        .params = PARAMS, .settings = SETTINGS,                                                   \
    }
static const ivf_config flat_fp16_config =
    FLAT_CODES_CONFIG("flat_fp16", NEARKIT_CODE_FP16, true, flat_codes_params, flat_codes_settings);
static const ivf_config flat_bf16_config =
    FLAT_CODES_CONFIG("flat_bf16", NEARKIT_CODE_BF16, true, flat_codes_params, flat_codes_settings);
static const ivf_config flat_sq8_config =
    FLAT_CODES_CONFIG("flat_sq8", NEARKIT_CODE_SQ8, false, flat_codes_params, flat_codes_settings);
static const ivf_config flat_sq4_config =
    FLAT_CODES_CONFIG("flat_sq4", NEARKIT_CODE_SQ4, false, flat_codes_params, flat_codes_settings);
static const ivf_config flat_pq_config =
    FLAT_CODES_CONFIG("flat_pq", NEARKIT_CODEC_PQ8, false, flat_pq_params, flat_pq_settings);

static const ivf_config flat_config = {
    .name = "ivf_flat",
    .scanner = &nearkit_ivf_scan_float,
    .nlist_becomes_trained = true,
    .max_nlist = FLAT_MAX_NLIST,
    .max_count = UINT64_MAX,
    .default_nprobe = 10,
    .default_iterations = NEARKIT_KMEANS_DEFAULT_ITERATIONS,
    .params = flat_params,
    .settings = flat_settings,
};

static const ivf_config binary_config = {
    .name = "ivf_binary",
    .scanner = &nearkit_ivf_scan_binary,
    .binary = true,
    .max_nlist = BINARY_MAX_NLIST,
    .max_count = BINARY_MAX_COUNT,
    .default_nprobe = 8,
    .default_iterations = 15,
    .params = binary_params,
    .settings = binary_settings,
};

/* ---- the index --------------------------------------------------------------------------------- */

typedef struct ivf_impl {
    const ivf_config *config;
    /* settings */
    uint32_t nlist;          /* requested (0 = automatic); see nlist_becomes_trained */
    uint32_t nprobe;
    uint64_t max_codes;      /* rows a query scans at most; 0 = no limit */
    uint64_t train_sample;   /* 0 = automatic */
    uint32_t iterations;
    uint32_t train_init;     /* 0: random sample, 1: k-means++ (float) */

    nearkit_rows pending;    /* rows added before training, in insertion order */

    /* the trained index (quantizer.nlist > 0) */
    nearkit_ivf_quantizer quantizer;
    nearkit_ivf_lists lists;
    float max_sqnorm;        /* float: the largest squared norm of a stored row (sgemm bound) */
    int64_t *position_ids;   /* by position: the id of each; NULL while every id is its position */
    uint64_t position_ids_capacity; /* 0 while borrowed */
    bool position_ids_borrowed;     /* a view's: the file's IDS, used in place */

    /* compressed */
    nearkit_codec codec;
    double refine;           /* the re-rank factor (setting) */
    uint32_t pq_m;           /* ivf_pq's sub-quantisers (setting; 0: automatic) */
    uint32_t pq_nbits;       /* ivf_pq's bits per sub-quantiser (setting: 8 or 4) */
    bool pq_residual;        /* ivf_pq's codes of residuals (setting; once trained, the codec's) */
    nearkit_rabitq rabitq;   /* ivf_rabitq, once trained: the rotation and rotated centroids */
    bool keep_originals;     /* trained with refine > 0: originals holds every row's vector */
    nearkit_rows originals;  /* the original vectors by position (implicit ids) */
} ivf_impl;

static ivf_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

static bool is_trained(const ivf_impl *v) { return v->quantizer.nlist > 0; }

/* Rows labelled by their insertion positions (the index maps positions to ids). */
static bool by_position(const ivf_config *config) { return config->binary || config->compressed; }

static nearkit_status ivf_create(nearkit_index *ix, const ivf_config *config) {
    ivf_impl *v = calloc(1, sizeof *v);
    if (!v) return nearkit_oom();
    *v = (ivf_impl){.config = config, .nprobe = config->default_nprobe,
                    .iterations = config->default_iterations, .pq_nbits = 8,
                    .quantizer = {.binary = config->binary}};
    if (config->compressed) nearkit_codec_init(&v->codec, config->format, ix->dimension);
    if (config->format == NEARKIT_CODEC_RABITQ) v->codec.code_size = nearkit_rabitq_code_size(ix->dimension, ix->metric);
    ix->impl = v;
    /* ivf_flat always stored the ids of waiting vectors */
    return by_position(config) ? NEARKIT_OK : nearkit_rows_explicit_ids(&v->pending);
}

static nearkit_status flat_create(nearkit_index *ix) { return ivf_create(ix, &flat_config); }
static nearkit_status binary_create(nearkit_index *ix) { return ivf_create(ix, &binary_config); }
static nearkit_status fp16_create(nearkit_index *ix) { return ivf_create(ix, &fp16_config); }
static nearkit_status bf16_create(nearkit_index *ix) { return ivf_create(ix, &bf16_config); }
static nearkit_status sq8_create(nearkit_index *ix) { return ivf_create(ix, &sq8_config); }
static nearkit_status sq4_create(nearkit_index *ix) { return ivf_create(ix, &sq4_config); }
static nearkit_status pq_create(nearkit_index *ix) { return ivf_create(ix, &pq_config); }
static nearkit_status flat_fp16_create(nearkit_index *ix) { return ivf_create(ix, &flat_fp16_config); }
static nearkit_status flat_bf16_create(nearkit_index *ix) { return ivf_create(ix, &flat_bf16_config); }
static nearkit_status flat_sq8_create(nearkit_index *ix) { return ivf_create(ix, &flat_sq8_config); }
static nearkit_status flat_sq4_create(nearkit_index *ix) { return ivf_create(ix, &flat_sq4_config); }
static nearkit_status flat_pq_create(nearkit_index *ix) { return ivf_create(ix, &flat_pq_config); }
static nearkit_status rabitq_create(nearkit_index *ix) { return ivf_create(ix, &rabitq_config); }

static bool is_rabitq(const ivf_impl *v) { return v->config->format == NEARKIT_CODEC_RABITQ; }

/* Back to untrained: no quantizer, no lists. */
static void drop_trained(ivf_impl *v) {
    nearkit_ivf_quantizer_free(&v->quantizer);
    nearkit_ivf_lists_free(&v->lists);
    if (!v->position_ids_borrowed) free(v->position_ids);
    v->position_ids = NULL;
    v->position_ids_capacity = 0;
    v->position_ids_borrowed = false;
    v->max_sqnorm = 0.0f;
    nearkit_codec_free(&v->codec);
    nearkit_rabitq_free(&v->rabitq);
    nearkit_rows_free(&v->originals);
    v->keep_originals = false;
}

static void ivf_destroy(nearkit_index *ix) {
    ivf_impl *v = impl_of(ix);
    if (!v) return;
    drop_trained(v);
    nearkit_rows_free(&v->pending);
    free(v);
}

/* A kind whose codec has nothing to learn (flat_fp16, flat_bf16) is ready while empty: its first
 * add trains. Rows waiting in it (a file saved untrained) make it wait for that add or a build. */
static bool ivf_is_ready(const nearkit_index *ix) {
    const ivf_impl *v = impl_of(ix);
    return is_trained(v) || (v->config->trains_on_add && v->pending.count == 0);
}

static uint64_t ivf_count(const nearkit_index *ix) {
    const ivf_impl *v = impl_of(ix);
    return is_trained(v) ? v->lists.count : nearkit_rows_live(&v->pending);
}

static uint64_t ivf_memory(const nearkit_index *ix) {
    const ivf_impl *v = impl_of(ix);
    return sizeof *v + nearkit_rows_memory(&v->pending, ix) + nearkit_ivf_quantizer_memory(&v->quantizer, ix) +
           nearkit_ivf_lists_memory(&v->lists) + v->position_ids_capacity * sizeof(int64_t) +
           nearkit_codec_memory(&v->codec) + nearkit_rabitq_memory(&v->rabitq) +
           nearkit_rows_memory(&v->originals, ix);
}

/* Memory per stored vector once trained: what ivf_memory counts beyond the fixed parts (the
 * quantizer, the codec, the struct), over the rows. */
static double bytes_per_vector(const nearkit_index *ix) {
    const ivf_impl *v = impl_of(ix);
    if (!is_trained(v) || v->lists.count == 0) return 0.0;
    uint64_t rows = nearkit_ivf_lists_memory(&v->lists) - (uint64_t)v->lists.nlist * sizeof *v->lists.list +
                    v->position_ids_capacity * sizeof(int64_t) + nearkit_rows_memory(&v->originals, ix);
    return (double)rows / (double)v->lists.count;
}

/* ---- filing rows into lists -------------------------------------------------------------------- */

/* Keeps the ids of positions [count, count + n) (binary): explicit ones, or the positions once
 * any id was explicit. */
static nearkit_status store_position_ids(ivf_impl *v, const int64_t *ids, uint64_t n) {
    if (!ids && !v->position_ids) return NEARKIT_OK;
    uint64_t count = v->lists.count, needed = count + n;
    if (needed > v->position_ids_capacity) {
        uint64_t cap = v->position_ids_capacity + v->position_ids_capacity / 2;
        if (cap < needed) cap = needed;
        int64_t *grown = nearkit_alloc_array((size_t)cap, sizeof *grown);
        if (!grown) return nearkit_oom();
        for (uint64_t i = 0; i < count; i++) grown[i] = v->position_ids ? v->position_ids[i] : (int64_t)i;
        free(v->position_ids);
        v->position_ids = grown;
        v->position_ids_capacity = cap;
    }
    for (uint64_t i = 0; i < n; i++) v->position_ids[count + i] = ids ? ids[i] : (int64_t)(count + i);
    return NEARKIT_OK;
}

/* The squared norm of each of n float vectors into norms, the largest into *max. */
static void float_norms(float *norms, float *max, const nearkit_index *ix, const float *x, uint64_t n) {
    const nearkit_kernel_table *kt = nearkit_kernels();
    size_t d = ix->dimension;
    for (uint64_t i = 0; i < n; i++) {
        norms[i] = kt->dot(x + i * d, x + i * d, d);
        if (norms[i] > *max) *max = norms[i];
    }
}

/* Appends n rows to the lists of their nearest centroids, labelled by ids (ivf_flat; NULL: their
 * insertion positions) or by their positions (ivf_binary). */
static nearkit_status file_rows(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    ivf_impl *v = impl_of(ix);
    bool positions = by_position(v->config), compressed = v->config->compressed;
    uint32_t *assign = nearkit_alloc_array((size_t)n, sizeof *assign);
    float *norms = positions ? NULL : nearkit_alloc_array((size_t)n, sizeof *norms);
    uint8_t *codes = compressed ? nearkit_alloc_array((size_t)n, v->codec.code_size) : NULL;
    nearkit_status st = assign && (positions || norms) && (!compressed || codes) ? NEARKIT_OK : nearkit_oom();
    if (!st) st = nearkit_ivf_quantizer_assign(&v->quantizer, ix, assign, vectors, n);
    float max = v->max_sqnorm;
    if (!st && norms) float_norms(norms, &max, ix, vectors, n);
    if (!st && codes && is_rabitq(v)) /* residuals to the centroids of their lists */
        st = nearkit_rabitq_encode(&v->rabitq, codes, vectors, n, assign, v->quantizer.centroids);
    else if (!st && codes) /* sq, pq: residuals to the centroids of their lists, where it trained so */
        st = nearkit_codec_encode_listed(&v->codec, codes, vectors, n, assign, v->quantizer.centroids);
    /* the originals get their room first, so that once the lists took the rows nothing fails */
    bool originals = v->keep_originals && v->originals.count == v->lists.count;
    if (!st && originals) st = nearkit_rows_reserve(&v->originals, ix, v->originals.count + n);
    if (!st)
        st = nearkit_ivf_lists_add(&v->lists, assign, codes ? codes : vectors, n, positions ? NULL : ids,
                                   v->lists.count, norms);
    if (!st && originals) st = nearkit_rows_append(&v->originals, ix, vectors, n, NULL);
    if (!st) v->max_sqnorm = max;
    free(assign);
    free(norms);
    free(codes);
    return st;
}

/* ---- training ---------------------------------------------------------------------------------- */

static uint64_t binary_sample(const ivf_impl *v, uint32_t nlist) {
    if (v->train_sample) return v->train_sample > nlist ? v->train_sample : nlist;
    uint64_t s = (uint64_t)nlist * BINARY_SAMPLE_PER_LIST;
    return s > BINARY_MIN_AUTO_SAMPLE ? s : BINARY_MIN_AUTO_SAMPLE;
}

/* Trains the quantizer on n vectors: nlist as set (automatic: about sqrt(n)), at most n. */
static nearkit_status train_quantizer(nearkit_index *ix, const void *x, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    if (v->config->one_list) return nearkit_ivf_quantizer_single(&v->quantizer, ix);
    uint32_t nlist = v->nlist ? v->nlist : nearkit_ivf_automatic_nlist(n, v->config->max_nlist);
    if (nlist > n) nlist = (uint32_t)n;
    if (nlist < 1) nlist = 1;
    if (v->config->binary)
        return nearkit_ivf_quantizer_train_binary(&v->quantizer, ix, nlist, x, n, binary_sample(v, nlist),
                                                  v->iterations);
    nearkit_kmeans_config cfg = {
        .k = nlist,
        .iterations = v->iterations,
        .max_sample = v->train_sample,
        .seed = ix->seed,
        .spherical = ix->metric != NEARKIT_METRIC_L2,
        .plusplus = v->train_init == 1,
        .threads = nearkit_resolve_threads(ix->num_threads),
    };
    return nearkit_ivf_quantizer_train_float(&v->quantizer, ix, &cfg, x, n);
}

static nearkit_status init_lists(nearkit_index *ix, uint32_t nlist) {
    ivf_impl *v = impl_of(ix);
    bool positions = by_position(v->config);
    size_t code_size = v->config->compressed ? v->codec.code_size : (size_t)ix->vector_bytes;
    nearkit_status st = nearkit_ivf_lists_init(&v->lists, nlist, code_size,
                                               positions ? NEARKIT_IVF_POSITIONS : NEARKIT_IVF_IDS,
                                               !positions && ix->metric == NEARKIT_METRIC_L2);
    /* the fast scan reads its codes 32 at a time, byte column by byte column */
    if (!st && v->codec.format == NEARKIT_CODEC_PQ4) nearkit_ivf_lists_interleave(&v->lists, NEARKIT_PQ4_BLOCK);
    return st;
}

/* ivf_pq's codec as nbits says, with its sub-quantisers (before training or loading). */
static nearkit_status set_pq_codec(nearkit_index *ix, int format, uint32_t m) {
    ivf_impl *v = impl_of(ix);
    nearkit_codec_free(&v->codec);
    nearkit_codec_init(&v->codec, format, ix->dimension);
    return nearkit_codec_set_subspaces(&v->codec, m ? m : nearkit_codec_default_subspaces(format, ix->dimension));
}

/* ivf_rabitq: the rotation of the index's seed, and the trained centroids rotated by it. */
static nearkit_status prepare_rabitq(nearkit_index *ix) {
    ivf_impl *v = impl_of(ix);
    nearkit_rabitq_free(&v->rabitq);
    nearkit_status st = nearkit_rabitq_init(&v->rabitq, ix->dimension, ix->metric, ix->seed);
    return st ? st : nearkit_rabitq_set_centroids(&v->rabitq, v->quantizer.centroids, v->quantizer.nlist);
}

/* Whether the kind may code residuals to the lists' centroids: sq and pq under several lists. */
static bool may_code_residuals(const ivf_impl *v) {
    return !v->config->one_list && nearkit_codec_takes_residuals(v->config->format);
}

/* Whether training codes residuals: sq always, pq where its `residual` setting asks. */
static bool codes_residuals(const ivf_impl *v) {
    return may_code_residuals(v) && (!nearkit_codec_is_pq(v->config->format) || v->pq_residual);
}

/* Trains on x (or, when x is NULL, on the waiting rows) and files the waiting rows. On failure
 * the index is left untrained as it was. */
static nearkit_status train_and_index(nearkit_index *ix, const void *x, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    nearkit_rows *pending = &v->pending;
    if (pending->removed) nearkit_rows_compact(pending, ix, NULL); /* only live rows are filed */
    const void *train_x = x ? x : pending->vectors;
    uint64_t train_n = x ? n : pending->count;
    nearkit_status st = train_quantizer(ix, train_x, train_n);
    if (!st && nearkit_codec_is_pq(v->config->format))
        st = set_pq_codec(ix, v->pq_nbits == 4 ? NEARKIT_CODEC_PQ4 : NEARKIT_CODEC_PQ8, v->pq_m);
    uint32_t threads = nearkit_resolve_threads(ix->num_threads);
    if (!st && v->config->compressed && codes_residuals(v))
        st = nearkit_ivf_quantizer_train_residual_codec(&v->codec, &v->quantizer, ix, train_x, train_n, threads);
    else if (!st && v->config->compressed)
        st = nearkit_codec_train(&v->codec, train_x, train_n, ix->seed, threads);
    if (!st && is_rabitq(v)) st = prepare_rabitq(ix);
    if (!st) st = init_lists(ix, v->quantizer.nlist);
    if (!st) st = file_rows(ix, pending->vectors, pending->count, pending->ids);
    if (st) {
        drop_trained(v);
        return st;
    }
    if (by_position(v->config)) { /* the pending ids become the ids of the positions */
        v->position_ids = pending->ids;
        v->position_ids_capacity = pending->ids ? pending->capacity : 0;
        pending->ids = NULL;
    }
    if (v->config->compressed && v->refine > 0.0) { /* the waiting rows are the originals */
        v->keep_originals = true;
        v->originals = *pending;
        *pending = (nearkit_rows){0};
    }
    nearkit_rows_free(pending);
    if (v->config->nlist_becomes_trained) v->nlist = v->quantizer.nlist;
    return NEARKIT_OK;
}

/* A codec with nothing to learn (flat_fp16, flat_bf16) trains at the first add, so that the rows
 * go straight to their codes and are searchable as add returns: on the waiting rows if any (a
 * file saved untrained), else on the rows being added (the codec reads nothing of them). */
static nearkit_status train_at_add(nearkit_index *ix, const void *vectors, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    bool waiting = v->pending.count > 0;
    return train_and_index(ix, waiting ? NULL : vectors, waiting ? 0 : n);
}

static nearkit_status ivf_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    ivf_impl *v = impl_of(ix);
    if (n > v->config->max_count - ivf_count(ix))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "the %s index holds at most %llu codes",
                                 v->config->name, (unsigned long long)v->config->max_count);
    if (!is_trained(v) && v->config->trains_on_add && n > 0) {
        nearkit_status st = train_at_add(ix, vectors, n);
        if (st) return st;
    }
    if (!is_trained(v)) return nearkit_rows_append(&v->pending, ix, vectors, n, ids);
    if (by_position(v->config)) {
        nearkit_status st = store_position_ids(v, ids, n); /* ids past count are ignored should filing fail */
        return st ? st : file_rows(ix, vectors, n, NULL);
    }
    return file_rows(ix, vectors, n, ids);
}

static nearkit_status ivf_train(nearkit_index *ix, const void *vectors, uint64_t n) {
    ivf_impl *v = impl_of(ix);
    if (is_trained(v))
        return nearkit_set_error(NEARKIT_ERR_STATE, "the %s index is already trained", v->config->name);
    return train_and_index(ix, vectors, n);
}

static nearkit_status ivf_build(nearkit_index *ix) {
    ivf_impl *v = impl_of(ix);
    if (is_trained(v)) return NEARKIT_OK;
    if (v->pending.count == 0 && v->config->trains_on_add) return NEARKIT_OK; /* the first add trains */
    if (v->pending.count == 0)
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "the %s index has nothing to train on: add vectors (or call train) "
                                 "before build",
                                 v->config->name);
    return train_and_index(ix, NULL, 0);
}

/* ---- removing and reading back ----------------------------------------------------------------- */

/* The id of a list's row. */
static int64_t row_id(const ivf_impl *v, const nearkit_ivf_list *l, uint64_t row) {
    if (l->ids) return l->ids[row];
    uint32_t pos = l->positions[row];
    return v->position_ids ? v->position_ids[pos] : (int64_t)pos;
}

/* Moves the kept original vectors to their new positions (renumber as below). */
static void renumber_originals(ivf_impl *v, const nearkit_index *ix, const uint32_t *renumber, uint64_t n,
                               uint64_t kept) {
    size_t vb = (size_t)ix->vector_bytes;
    for (uint64_t p = 0; p < n; p++)
        if (renumber[p] != UINT32_MAX && renumber[p] != p)
            memcpy(v->originals.vectors + (uint64_t)renumber[p] * vb, v->originals.vectors + p * vb, vb);
    v->originals.count = kept;
}

/* By position: drops the positions whose id `ids` holds (NULL: the id -1, rows a file kept
 * removed), renumbering the others in insertion order so that positions stay 0 .. count - 1
 * (the kept original vectors move with them). */
static nearkit_status drop_positions(ivf_impl *v, const nearkit_index *ix, const nearkit_idmap *ids,
                                     uint64_t *dropped) {
    uint64_t n = v->lists.count;
    *dropped = 0;
    uint32_t *renumber = nearkit_alloc_array((size_t)n, sizeof *renumber);
    if (!renumber) return nearkit_oom();
    if (!v->position_ids) {
        v->position_ids = nearkit_alloc_array((size_t)n, sizeof *v->position_ids);
        if (!v->position_ids) {
            free(renumber);
            return nearkit_oom();
        }
        v->position_ids_capacity = n;
        for (uint64_t p = 0; p < n; p++) v->position_ids[p] = (int64_t)p;
    }
    uint64_t kept = 0;
    for (uint64_t p = 0; p < n; p++) {
        int64_t id = v->position_ids[p];
        if (ids ? nearkit_idmap_contains(ids, id) : id == NEARKIT_REMOVED_ID) {
            renumber[p] = UINT32_MAX;
            continue;
        }
        renumber[p] = (uint32_t)kept;
        v->position_ids[kept++] = id;
    }
    *dropped = n - kept;
    if (*dropped) nearkit_ivf_lists_renumber(&v->lists, renumber, kept);
    if (*dropped && v->keep_originals) renumber_originals(v, ix, renumber, n, kept);
    free(renumber);
    return NEARKIT_OK;
}

/* Trained, rows leave their lists at once (each list closes its gaps; a removal already reads
 * every stored id, so this costs little more), and lists left with much spare room give it
 * back: searches never meet a removed row. Untrained, the waiting rows are marked and dropped
 * once a quarter are. */
static nearkit_status ivf_remove(nearkit_index *ix, const nearkit_idmap *ids, uint64_t *removed) {
    ivf_impl *v = impl_of(ix);
    nearkit_status st = NEARKIT_OK;
    if (!is_trained(v)) {
        st = nearkit_rows_remove(&v->pending, ids, removed);
        if (!st && nearkit_rows_should_compact(&v->pending)) nearkit_rows_compact(&v->pending, ix, NULL);
        return st;
    }
    if (by_position(v->config))
        st = drop_positions(v, ix, ids, removed);
    else
        nearkit_ivf_lists_drop_ids(&v->lists, ids, removed);
    if (!st) nearkit_ivf_lists_shrink(&v->lists);
    return st;
}

static nearkit_status ivf_compact(nearkit_index *ix) {
    ivf_impl *v = impl_of(ix);
    if (v->pending.removed) nearkit_rows_compact(&v->pending, ix, NULL);
    nearkit_ivf_lists_shrink(&v->lists);
    return NEARKIT_OK;
}

/* A decoded cosine vector brought back to unit length (a code's rounding moves it off the
 * sphere), so that get returns what a cosine index stores and an exact pass over decoded rows
 * reports 1 - cosine within [0, 2]. A zero vector stays zero. */
static void unit_length(float *x, size_t d) {
    double norm = 0;
    for (size_t i = 0; i < d; i++) norm += (double)x[i] * x[i];
    double scale = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
    for (size_t i = 0; i < d; i++) x[i] = (float)(x[i] * scale);
}

/* The scratch row_vector takes: room for a code (lists interleaved), then, aligned for floats,
 * RaBitQ's rotated residual. */
static size_t row_scratch_floats_at(const ivf_impl *v) { return (v->lists.code_size + 1 + 15) / 16 * 16; }

static void *row_scratch_new(const ivf_impl *v) {
    return malloc(row_scratch_floats_at(v) + (is_rabitq(v) ? v->rabitq.padded * sizeof(float) : 0));
}

/* A list row's vector as get returns it: the stored one, the original kept beside a code, or the
 * code decoded (code: row_scratch_new's room). */
static void row_vector(uint8_t *out, uint8_t *code, const nearkit_index *ix, const ivf_impl *v,
                       const nearkit_ivf_list *l, uint64_t row) {
    size_t vb = (size_t)ix->vector_bytes;
    if (!v->config->compressed) {
        memcpy(out, l->codes + row * vb, vb);
    } else if (v->keep_originals) {
        memcpy(out, nearkit_rows_at(&v->originals, ix, l->positions[row]), vb);
    } else {
        const uint8_t *at = l->codes + row * v->codec.code_size;
        if (v->lists.block > 1) {
            nearkit_ivf_list_code(code, &v->lists, l, row);
            at = code;
        }
        if (is_rabitq(v)) {
            float *z = (float *)(void *)(code + row_scratch_floats_at(v));
            nearkit_rabitq_decode(&v->rabitq, (float *)(void *)out, at, (uint32_t)(l - v->lists.list),
                                  v->quantizer.centroids, z);
        } else {
            const float *centroid = v->quantizer.centroids + (size_t)(l - v->lists.list) * ix->dimension;
            nearkit_codec_decode_listed(&v->codec, (float *)(void *)out, at, centroid);
        }
        if (ix->metric == NEARKIT_METRIC_COSINE) unit_length((float *)(void *)out, ix->dimension);
    }
}

static nearkit_status ivf_get(const nearkit_index *ix, const nearkit_idmap *wanted, void *vectors,
                              uint8_t *found) {
    const ivf_impl *v = impl_of(ix);
    if (!is_trained(v)) {
        nearkit_rows_get(&v->pending, ix, wanted, vectors, found);
        return NEARKIT_OK;
    }
    size_t vb = (size_t)ix->vector_bytes;
    uint8_t *code = row_scratch_new(v);
    if (!code) return nearkit_oom();
    for (uint32_t li = 0; li < v->lists.nlist; li++) {
        const nearkit_ivf_list *l = &v->lists.list[li];
        for (uint64_t r = 0; r < l->size; r++) {
            const uint64_t *slot = nearkit_idmap_find(wanted, row_id(v, l, r));
            if (!slot) continue;
            row_vector((uint8_t *)vectors + *slot * vb, code, ix, v, l, r);
            found[*slot] = 1;
        }
    }
    free(code);
    return NEARKIT_OK;
}

static void ivf_each_id(const nearkit_index *ix, bool (*fn)(void *ctx, int64_t id), void *ctx) {
    const ivf_impl *v = impl_of(ix);
    if (!is_trained(v)) {
        nearkit_rows_each_id(&v->pending, fn, ctx);
        return;
    }
    for (uint32_t li = 0; li < v->lists.nlist; li++) {
        const nearkit_ivf_list *l = &v->lists.list[li];
        for (uint64_t r = 0; r < l->size; r++)
            if (!fn(ctx, row_id(v, l, r))) return;
    }
}

/* ---- searching --------------------------------------------------------------------------------- */

/* A setting's value for this call (its parameter's slot in c->settings). */
static double call_setting(const nearkit_search_call *c, setting which) {
    const ivf_config *config = impl_of(c->ix)->config;
    for (size_t i = 0;; i++)
        if (config->settings[i] == which) return c->settings[i];
}

/* How a filtered call is answered (see the file's top comment). Costs are counted in distances
 * of one query to one row; a filter test costs a fraction of one (float rows: a test is cheaper
 * than a distance, the more so the longer the vectors; binary codes: a popcount is as cheap as
 * a test). */
#define BINARY_TEST_COST 1.0
#define SELECTIVITY_SAMPLE 512    /* rows whose ids estimate the share a filter admits */
#define TEST_DIMENSIONS 16.0      /* a compiled filter's test costs about this many dimensions'
                                   * worth of a float distance (a bit test, or a hash probe) */
#define EXACT_PREFERENCE 1.5      /* gathering is chosen at up to this cost ratio: it is exact */
#define GATHER_MAX_BYTES (256ull << 20)
#define EXACT_BLOCK 256           /* gathered rows per distance call */

/* How many of the rows numbered 0, step, 2 step, ... (counted across the lists in order) the
 * call admits. */
static uint64_t sample_admitted(const nearkit_search_call *c, const ivf_impl *v, uint64_t step) {
    uint64_t hits = 0, next = 0, base = 0;
    for (uint32_t li = 0; li < v->lists.nlist; li++) {
        const nearkit_ivf_list *l = &v->lists.list[li];
        for (; next < base + l->size; next += step) hits += nearkit_call_admits(c, row_id(v, l, next - base));
        base += l->size;
    }
    return hits;
}

/* The share of stored rows the call's filter (ids or a bitmap) admits, estimated: the filter's
 * own bound (ids or bits set over the count) and an even sample of the rows' ids, whichever is
 * lower; counted exactly on small indexes. */
static double estimate_selectivity(const nearkit_search_call *c, const ivf_impl *v) {
    uint64_t live = v->lists.count;
    if (live == 0) return 1.0;
    double share = c->admit->most == UINT64_MAX ? 1.0 : (double)c->admit->most / (double)live;
    uint64_t step = live <= SELECTIVITY_SAMPLE ? 1 : live / SELECTIVITY_SAMPLE;
    uint64_t tested = (live + step - 1) / step;
    /* half a hit more than seen: a sample that finds none still admits a few */
    double sampled = ((double)sample_admitted(c, v, step) + (step > 1 ? 0.5 : 0.0)) / (double)tested;
    if (sampled < share) share = sampled;
    return share > 1.0 ? 1.0 : share;
}

/* A filter test's cost in float distances of the index's dimension. */
static double float_test_cost(const nearkit_index *ix) {
    double test = TEST_DIMENSIONS / (double)ix->dimension;
    return test < 1.0 ? test : 1.0;
}

/* Whether a float scan should test a row's id before its distance (cost: a test per row and a
 * distance per admitted row) rather than after (a distance per row, a test for the few that would
 * enter the heap). Binary codes: a popcount is no dearer than a test, so only where few pass. */
static bool admit_first_pays(const nearkit_index *ix, double share) {
    if (ix->vector_type != NEARKIT_VECTOR_FLOAT32) return share < 0.25;
    return float_test_cost(ix) + share < 1.0;
}

/* Whether answering exactly over the gathered admitted rows costs no more than probing (with
 * EXACT_PREFERENCE): gathering tests every row once per call and then computes one distance per
 * admitted row per query; probing widens nprobe until it has scanned as many admitted rows as
 * nprobe lists hold, which costs about nprobe lists / selectivity of tests and distances. */
static bool gathering_pays(const nearkit_search_call *c, const ivf_impl *v, uint32_t nprobe, double share) {
    double live = (double)v->lists.count, nq = (double)c->n;
    double test = v->config->binary ? BINARY_TEST_COST : float_test_cost(c->ix);
    double admitted = share * live;
    if (admitted * (double)c->ix->vector_bytes > (double)GATHER_MAX_BYTES) return false;
    double gather = live * test / nq + admitted;
    double probed = (double)nprobe * live / v->quantizer.nlist / (share > 1e-9 ? share : 1e-9);
    if (probed > live) probed = live;
    double per_row = admit_first_pays(c->ix, share) && !v->config->binary ? test + share : 1.0;
    if (c->k == 0) probed = (double)nprobe * live / v->quantizer.nlist; /* range: no widening */
    return gather <= EXACT_PREFERENCE * probed * per_row;
}

/* Takes n gathered rows into the view: their codes copied out of the lists or the waiting rows
 * (handles: (list << 32) | row, or a waiting row's number), with their ids. */
static bool take_gathered(nearkit_ivf_view *view, const nearkit_index *ix, const ivf_impl *v,
                          const uint64_t *handles, uint64_t n) {
    size_t vb = (size_t)ix->vector_bytes;
    uint8_t *rows = nearkit_aligned_alloc_array((size_t)(n ? n : 1), vb);
    int64_t *ids = nearkit_alloc_array((size_t)(n ? n : 1), sizeof(int64_t));
    *view = (nearkit_ivf_view){.exact = true, .rows = rows, .row_ids = ids, .n_rows = n,
                               .owned_rows = rows, .owned_ids = ids, .selectivity = 1.0};
    uint8_t *code = row_scratch_new(v);
    if (!rows || !ids || !code) {
        free(code);
        return false; /* plan_free releases what was made */
    }
    for (uint64_t i = 0; i < n; i++) {
        if (is_trained(v)) {
            const nearkit_ivf_list *l = &v->lists.list[handles[i] >> 32];
            uint64_t row = handles[i] & 0xFFFFFFFFu;
            row_vector(rows + i * vb, code, ix, v, l, row);
            ids[i] = row_id(v, l, row);
        } else {
            memcpy(rows + i * vb, nearkit_rows_at(&v->pending, ix, handles[i]), vb);
            ids[i] = nearkit_rows_id(&v->pending, handles[i]);
        }
    }
    free(code);
    return true;
}

/* The admitted rows of the lists, gathered. */
static bool gather_lists(nearkit_ivf_view *view, const nearkit_search_call *c, const ivf_impl *v) {
    uint64_t n = 0, cap = 1024;
    uint64_t *handles = nearkit_alloc_array((size_t)cap, sizeof *handles);
    for (uint32_t li = 0; handles && li < v->lists.nlist; li++) {
        const nearkit_ivf_list *l = &v->lists.list[li];
        for (uint64_t r = 0; handles && r < l->size; r++) {
            if (!nearkit_call_admits(c, row_id(v, l, r))) continue;
            if (n == cap) {
                uint64_t *grown = realloc(handles, (size_t)(cap *= 2) * sizeof *handles);
                if (!grown) free(handles);
                handles = grown;
                if (!handles) break;
            }
            handles[n++] = (uint64_t)li << 32 | r;
        }
    }
    bool ok = handles && take_gathered(view, c->ix, v, handles, n);
    free(handles);
    return ok;
}

/* Untrained: the waiting rows, searched exactly; copied only where some are not admitted. */
static bool gather_pending(nearkit_ivf_view *view, const nearkit_search_call *c, const ivf_impl *v) {
    const nearkit_rows *pending = &v->pending;
    if (!c->admit && pending->removed == 0) {
        *view = (nearkit_ivf_view){.exact = true, .rows = pending->vectors, .row_ids = pending->ids,
                                   .n_rows = pending->count, .selectivity = 1.0};
        return true;
    }
    uint64_t *positions, n;
    if (nearkit_rows_admitted(&positions, &n, pending, c, 0, pending->count) != NEARKIT_OK) {
        nearkit_clear_error();
        return false;
    }
    bool ok = take_gathered(view, c->ix, v, positions, n);
    free(positions);
    return ok;
}

/* The lists a batch probes per query under a filter: as many as hold, at the estimated share,
 * the admitted rows nprobe lists hold (what the one-query scan reaches by widening as it goes). */
static uint32_t batch_probes_filtered(const nearkit_ivf_view *view) {
    double want = ceil((double)view->nprobe / (view->selectivity > 1e-6 ? view->selectivity : 1e-6));
    uint32_t nlist = view->quantizer->nlist;
    return want >= nlist ? nlist : (uint32_t)want;
}

/* Compressed: the codec, the originals where kept, and this call's re-rank (none without the
 * originals, whatever the call asks). */
static void set_codes_view(nearkit_ivf_view *view, const nearkit_search_call *c, const ivf_impl *v) {
    view->codec = &v->codec;
    if (is_rabitq(v)) view->rabitq = &v->rabitq;
    if (!v->keep_originals) return;
    view->originals = v->originals.vectors;
    double refine = call_setting(c, S_REFINE);
    double want = refine > 0.0 ? ceil(refine * (double)(c->k ? c->k : 1)) : 0.0; /* range: k = 0 */
    view->refine_k = want <= 0.0 ? 0 : want < (double)c->k ? c->k : (uint64_t)want;
}

/* The call's plan: the view of the index its scanner reads, with this call's nprobe; for a
 * filtered call, how it is answered; untrained, the waiting rows to search exactly. */
static bool ivf_plan(nearkit_search_call *c, void *plan) {
    const ivf_impl *v = impl_of(c->ix);
    nearkit_ivf_view *view = plan;
    uint32_t nlist = v->quantizer.nlist, nprobe = v->config->one_list ? 1 : (uint32_t)call_setting(c, S_NPROBE);
    *view = (nearkit_ivf_view){
        .quantizer = &v->quantizer, .lists = &v->lists, .nprobe = nprobe < nlist ? nprobe : nlist,
        .batch_probes = nprobe < nlist ? nprobe : nlist, .position_ids = v->position_ids, .max_sqnorm = v->max_sqnorm, .selectivity = 1.0};
    if (!v->config->one_list) view->max_codes = (uint64_t)call_setting(c, S_MAX_CODES);
    c->chunk = nearkit_default_chunk(c->n, c->threads, v->config->scanner->max_chunk);
    if (!is_trained(v)) return gather_pending(view, c, v);
    if (v->config->compressed) set_codes_view(view, c, v);
    if (!c->admit) return true;
    if (c->admit->type == NEARKIT_FILTER_PREDICATE) {
        /* asked at most once per row and query (the header's promise), so neither sampled nor
         * gathered on top: every probed row is asked, which counts the admitted ones exactly */
        view->admit_first = true;
        return true;
    }
    double share = estimate_selectivity(c, v);
    /* one list: the scan visits every row anyway, and a gathering would decode the admitted rows
     * and compute float distances on top of the same tests */
    if (!v->config->one_list && gathering_pays(c, v, view->nprobe, share)) return gather_lists(view, c, v);
    view->selectivity = share;
    view->admit_first = admit_first_pays(c->ix, share);
    view->batch_probes = batch_probes_filtered(view);
    return true;
}

static void ivf_plan_free(void *plan) {
    nearkit_ivf_view *view = plan;
    nearkit_aligned_free(view->owned_rows);
    free(view->owned_ids);
}

/* Whether the call's scan budget can stop a query short of its nprobe lists: it is below what
 * nprobe of the largest lists hold. */
static bool budget_bites(const nearkit_ivf_view *view) {
    if (view->max_codes == 0) return false;
    uint64_t largest = nearkit_ivf_lists_max_size(view->lists);
    return largest > 0 && view->max_codes / largest < view->nprobe;
}

/* Batches the scanner answers at once (the float scanner's GEMM path): calls that probe lists,
 * unfiltered or with a filter of known share (a predicate's share is unknown, so its calls widen
 * query by query), and whose scan budget cannot bite (the batch paths scan whole lists; a budget
 * that bites is honoured query by query, so that a batch answers as its queries one by one). */
static bool ivf_knn_whole(const nearkit_search_call *c, nearkit_status *status) {
    const nearkit_ivf_scanner *scanner = impl_of(c->ix)->config->scanner;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    if (view->exact) return false;
    if (c->admit && c->admit->type == NEARKIT_FILTER_PREDICATE) return false;
    if (!scanner->knn_batch || !scanner->batch_applies(c)) return false;
    if (budget_bites(view)) return false;
    *status = scanner->knn_batch(c, c->threads);
    return true;
}

#define LIST_HEAD_BYTES 4096 /* of the next probed list, fetched while the current one is scanned */

/* One worker's scratch: choosing lists and the scanner's, or, for an exact call, a heap and
 * distance buffers. */
typedef struct ivf_scratch {
    bool exact; /* made for an exact call over gathered rows */
    uint64_t k;
    nearkit_ivf_probe probe;
    const nearkit_ivf_scanner *scanner;
    void *scan;
    float *heap_dist, *dist;
    uint64_t *heap_pos;
    uint32_t *ints;
} ivf_scratch;

static void ivf_scratch_free(void *scratch) {
    ivf_scratch *s = scratch;
    if (!s) return;
    nearkit_ivf_probe_free(&s->probe);
    if (s->scan) s->scanner->scratch_free(s->scan);
    free(s->heap_dist);
    free(s->heap_pos);
    free(s->dist);
    free(s->ints);
    free(s);
}

static void *ivf_scratch_new(const nearkit_search_call *c) {
    const ivf_impl *v = impl_of(c->ix);
    ivf_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->scanner = v->config->scanner;
    s->exact = nearkit_ivf_view_of(c)->exact;
    s->k = c->k;
    bool ok;
    if (s->exact) {
        s->heap_dist = nearkit_alloc_array((size_t)c->k, sizeof(float));
        s->heap_pos = nearkit_alloc_array((size_t)c->k, sizeof(uint64_t));
        s->dist = nearkit_alloc_array(EXACT_BLOCK, sizeof(float));
        s->ints = nearkit_alloc_array(EXACT_BLOCK, sizeof(uint32_t));
        ok = s->heap_dist && s->heap_pos && s->dist && s->ints;
    } else {
        ok = nearkit_ivf_probe_init(&s->probe, &v->quantizer, c->ix);
        s->scan = s->scanner->scratch_new(c);
        ok = ok && s->scan;
    }
    if (ok) return s;
    ivf_scratch_free(s);
    return NULL;
}

/* An exact call's buffers are sized by k alone; a probing call's by the quantizer and the
 * scanner's own. */
static bool ivf_scratch_reuse(void *scratch, const nearkit_search_call *c) {
    ivf_scratch *s = scratch;
    const ivf_impl *v = impl_of(c->ix);
    if (s->exact != nearkit_ivf_view_of(c)->exact || s->k != c->k) return false;
    if (s->exact) return true;
    return s->scanner == v->config->scanner && s->scanner->scratch_reuse &&
           nearkit_ivf_probe_fits(&s->probe, &v->quantizer, c->ix) && s->scanner->scratch_reuse(s->scan, c);
}

/* The ranking values of a query against gathered rows [first, first + n) (n <= EXACT_BLOCK). */
static void exact_distances(ivf_scratch *s, const nearkit_search_call *c, const void *query, uint64_t first,
                            size_t n) {
    const nearkit_index *ix = c->ix;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    nearkit_metric_distances(s->dist, s->ints, nearkit_kernels(), ix->metric, query,
                             view->rows + first * ix->vector_bytes, n, ix->dimension,
                             (size_t)ix->vector_bytes);
}

/* k-NN over the gathered rows: the flat index's arithmetic, so exact (ties by id). */
static void exact_knn(ivf_scratch *s, const nearkit_search_call *c, uint64_t q) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const void *query = nearkit_query_at(c, q);
    nearkit_topk h;
    nearkit_topk_init(&h, s->heap_dist, s->heap_pos, (size_t)c->k, view->row_ids);
    for (uint64_t first = 0; first < view->n_rows; first += EXACT_BLOCK) {
        size_t n = view->n_rows - first < EXACT_BLOCK ? (size_t)(view->n_rows - first) : EXACT_BLOCK;
        exact_distances(s, c, query, first, n);
        nearkit_topk_push_block(&h, s->dist, first, n);
    }
    nearkit_write_heap(c, q, &h);
}

static bool exact_range(ivf_scratch *s, const nearkit_search_call *c, uint64_t q) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const void *query = nearkit_query_at(c, q);
    for (uint64_t first = 0; first < view->n_rows; first += EXACT_BLOCK) {
        size_t n = view->n_rows - first < EXACT_BLOCK ? (size_t)(view->n_rows - first) : EXACT_BLOCK;
        exact_distances(s, c, query, first, n);
        for (size_t i = 0; i < n; i++) {
            float dist = nearkit_reported(c->ix, s->dist[i]);
            int64_t id = view->row_ids ? view->row_ids[first + i] : (int64_t)(first + i);
            if (dist <= c->radius && !nearkit_add_match(c, q, id, dist)) return false;
        }
    }
    return true;
}

/* Lists a filtered query orders at first: enough, at the estimated share, to reach the admitted
 * rows nprobe lists hold, twice over; the rest are ordered only if those run out. */
static uint32_t widened_probes(const nearkit_ivf_view *view) {
    double want = 2.0 * view->nprobe / (view->selectivity > 1e-6 ? view->selectivity : 1e-6) + 1.0;
    uint32_t nlist = view->quantizer->nlist;
    return want >= nlist ? nlist : (uint32_t)want;
}

/* Filtered k-NN by probing: lists in centroid order, past nprobe until the admitted rows scanned
 * reach the rows the first nprobe lists hold (what an unfiltered search scans) and the heap holds
 * k (so never fewer than k while k are admitted anywhere). pgvector's iterative scan, with the
 * stopping point from nprobe. */
static void filtered_knn(ivf_scratch *s, const nearkit_search_call *c, uint64_t q) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    const nearkit_ivf_quantizer *quantizer = view->quantizer;
    const void *query = nearkit_query_at(c, q);
    uint32_t nlist = quantizer->nlist;
    uint32_t probes = nearkit_ivf_probe_nearest(&s->probe, quantizer, c->ix, query, widened_probes(view));
    uint64_t target = 0, admitted = 0, budget = view->max_codes ? view->max_codes : UINT64_MAX;
    s->scanner->knn_begin(s->scan);
    for (uint32_t p = 0; p < nlist; p++) {
        if (p == probes) probes = nearkit_ivf_probe_nearest(&s->probe, quantizer, c->ix, query, nlist);
        const nearkit_ivf_list *list = &view->lists->list[s->probe.probes[p]];
        if (p < view->nprobe) target += list->size;
        admitted += s->scanner->knn_scan_admitted(s->scan, c, query, list);
        /* the budget counts admitted rows and ends at a list's end (see "the scan budget") */
        bool enough = p + 1 >= view->nprobe || admitted >= budget;
        if (enough && admitted >= (target < budget ? target : budget) && s->scanner->knn_held(s->scan) >= c->k)
            break;
    }
    s->scanner->knn_finish(s->scan, c, q);
}

/* The lists a query probes, nearest first: nprobe of them, in centroid order under a scan budget
 * (probe_query gives every list in list order when nprobe >= nlist, which a budget would cut
 * anywhere). */
static uint32_t probe_lists(ivf_scratch *s, const nearkit_search_call *c, const void *query) {
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    if (view->max_codes) return nearkit_ivf_probe_nearest(&s->probe, view->quantizer, c->ix, query, view->nprobe);
    return nearkit_ivf_probe_query(&s->probe, view->quantizer, c->ix, query, view->nprobe);
}

/* ---- the scan budget (max_codes) ----------------------------------------------------------------
 * A query scans its probed lists in centroid order and stops once it has scanned max_codes rows,
 * the list that crosses the budget scanned only up to it (Faiss's max_codes is the precedent): a
 * setting finer than nprobe's whole lists, which the tuner sets where one more list jumps past
 * the target. Under a filter the budget counts the rows the filter admits (as the widening past
 * nprobe does; rejected rows cost a test, not a distance) and a list is scanned whole, its
 * admitted rows being known only once scanned; a call answered exactly over gathered rows has
 * no budget. A range search counts every row its nprobe lists offer. The scanners take the rows
 * of a list to scan (knn_scan, range_scan), so a cut list is the list itself with fewer rows. */

/* Rows of probe p's list a query scans with `scanned` rows scanned so far: the list's size, or
 * what is left of the budget. */
static uint64_t budgeted_rows(const nearkit_ivf_view *view, const nearkit_ivf_list *list, uint64_t scanned) {
    if (!view->max_codes || scanned + list->size <= view->max_codes) return list->size;
    return view->max_codes - scanned;
}

static bool budget_spent(const nearkit_ivf_view *view, uint64_t scanned) {
    return view->max_codes && scanned >= view->max_codes;
}

static bool ivf_knn(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    ivf_scratch *s = scratch;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    for (uint64_t q = first; q < first + n; q++) {
        if (view->exact) {
            exact_knn(s, c, q);
            continue;
        }
        if (c->admit) {
            filtered_knn(s, c, q);
            continue;
        }
        const void *query = nearkit_query_at(c, q);
        uint32_t probes = probe_lists(s, c, query);
        uint64_t scanned = 0;
        s->scanner->knn_begin(s->scan);
        for (uint32_t p = 0; p < probes && !budget_spent(view, scanned); p++) {
            if (p + 1 < probes)
                nearkit_ivf_list_prefetch(view->lists, &view->lists->list[s->probe.probes[p + 1]], LIST_HEAD_BYTES);
            const nearkit_ivf_list *list = &view->lists->list[s->probe.probes[p]];
            uint64_t rows = budgeted_rows(view, list, scanned);
            s->scanner->knn_scan(s->scan, c, query, list, rows);
            scanned += rows;
        }
        s->scanner->knn_finish(s->scan, c, q);
    }
    return true;
}

/* Range: the nprobe lists (a filter drops matches, which leaves the share found unchanged) within
 * the scan budget, or the gathered rows. */
static bool ivf_range(void *scratch, const nearkit_search_call *c, uint64_t q) {
    ivf_scratch *s = scratch;
    const nearkit_ivf_view *view = nearkit_ivf_view_of(c);
    if (view->exact) return exact_range(s, c, q);
    const void *query = nearkit_query_at(c, q);
    uint32_t probes = probe_lists(s, c, query);
    uint64_t scanned = 0;
    for (uint32_t p = 0; p < probes && !budget_spent(view, scanned); p++) {
        const nearkit_ivf_list *list = &view->lists->list[s->probe.probes[p]];
        uint64_t rows = budgeted_rows(view, list, scanned);
        if (!s->scanner->range_scan(s->scan, c, q, query, list, rows)) return false;
        scanned += rows;
    }
    return true;
}

static const nearkit_searcher ivf_searcher = {
    .plan_size = sizeof(nearkit_ivf_view),
    .plan = ivf_plan,
    .plan_free = ivf_plan_free,
    .knn_whole = ivf_knn_whole,
    .scratch_new = ivf_scratch_new,
    .scratch_reuse = ivf_scratch_reuse,
    .scratch_free = ivf_scratch_free,
    .knn = ivf_knn,
    .range = ivf_range,
};


/* ---- parameters -------------------------------------------------------------------------------- */

static nearkit_status ivf_get_param(const nearkit_index *ix, size_t i, double *value) {
    const ivf_impl *v = impl_of(ix);
    switch (v->config->settings[i]) {
    case S_NLIST: *value = v->nlist; break;
    case S_NPROBE: *value = v->nprobe; break;
    case S_MAX_CODES: *value = (double)v->max_codes; break;
    case S_TRAIN_SAMPLE: *value = (double)v->train_sample; break;
    case S_ITERATIONS: *value = v->iterations; break;
    case S_TRAIN_INIT: *value = v->train_init; break;
    case S_MAX_LIST_SIZE: *value = (double)nearkit_ivf_lists_max_size(&v->lists); break;
    case S_EMPTY_LISTS: *value = nearkit_ivf_lists_empty(&v->lists); break;
    case S_LIST_COUNT: *value = v->quantizer.nlist; break;
    case S_REFINE: *value = v->refine; break;
    case S_PQ_M: *value = is_trained(v) ? v->codec.m : v->pq_m; break;
    case S_PQ_NBITS: *value = is_trained(v) ? (v->codec.format == NEARKIT_CODEC_PQ4 ? 4 : 8) : v->pq_nbits; break;
    case S_PQ_RESIDUAL: *value = is_trained(v) ? v->codec.residual : v->pq_residual; break;
    case S_BYTES_PER_VECTOR: *value = bytes_per_vector(ix); break;
    }
    return NEARKIT_OK;
}

static nearkit_status ivf_set_param(nearkit_index *ix, size_t i, double value) {
    ivf_impl *v = impl_of(ix);
    const nearkit_param_desc *p = &v->config->params[i];
    /* the generic layer refuses build parameters once vectors exist; training alone counts too */
    if ((p->flags & NEARKIT_PARAM_FLAG_BUILD) && is_trained(v))
        return nearkit_set_error(NEARKIT_ERR_STATE,
                                 "parameter '%s' can only be set before the index is trained", p->name);
    switch (v->config->settings[i]) {
    case S_NLIST: v->nlist = (uint32_t)value; break;
    case S_NPROBE: v->nprobe = (uint32_t)value; break;
    case S_MAX_CODES: v->max_codes = (uint64_t)value; break;
    case S_TRAIN_SAMPLE: v->train_sample = (uint64_t)value; break;
    case S_ITERATIONS: v->iterations = (uint32_t)value; break;
    case S_TRAIN_INIT: v->train_init = (uint32_t)value; break;
    case S_REFINE:
        if (value > 0.0 && is_trained(v) && !v->keep_originals)
            return nearkit_set_error(NEARKIT_ERR_STATE,
                                     "refine: the original vectors were dropped when the %s index was "
                                     "trained with refine 0; re-rank needs them",
                                     v->config->name);
        v->refine = value;
        break;
    case S_PQ_M:
        if (value > 0.0 && ix->dimension % (uint32_t)value)
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "m = %u sub-quantisers must divide the dimension %u",
                                     (unsigned)value, (unsigned)ix->dimension);
        v->pq_m = (uint32_t)value;
        break;
    case S_PQ_NBITS:
        if (value != 4.0 && value != 8.0)
            return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "nbits = %g: %s takes 4 or 8 bits per sub-quantiser",
                                     value, v->config->name);
        v->pq_nbits = (uint32_t)value;
        break;
    case S_PQ_RESIDUAL: v->pq_residual = value != 0.0; break;
    default:
        return nearkit_set_error(NEARKIT_ERR_INTERNAL, "%s: parameter '%s' is read-only",
                                 v->config->name, p->name);
    }
    return NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

static nearkit_status corrupt(const char *what) {
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %s", what);
}

/* ivf_flat, untrained: the waiting rows (VECS, IDS). Trained: CENT, then LOFF, VECS, IDS. */
static nearkit_status save_flat(const nearkit_index *ix, nearkit_writer *w) {
    const ivf_impl *v = impl_of(ix);
    if (!is_trained(v)) return nearkit_rows_save(&v->pending, ix, w);
    nearkit_status st = nearkit_ivf_quantizer_save(&v->quantizer, ix, w);
    return st ? st : nearkit_ivf_lists_save_by_list(&v->lists, w);
}

/* The rows' squared norms and their largest (the batch path's bound, every metric): a plain
 * view's from the file where it kept them (NRMS: l2 lists keep norms), else computed with this
 * CPU's kernels, as add computes them; *in_image says which. */
static nearkit_status stored_norms(float **norms, bool *in_image, ivf_impl *v, const nearkit_index *ix,
                                   const nearkit_reader *r, const nearkit_rows *stored) {
    const float *kept = v->lists.with_norms && nearkit_reader_borrows(r) && !nearkit_reader_checks_values(r)
                            ? nearkit_ivf_lists_saved_norms(r, stored->count) : NULL;
    *in_image = kept != NULL;
    if (kept) {
        *norms = (float *)kept; /* read-only: a view refuses every write */
        v->max_sqnorm = kept[stored->count];
        return NEARKIT_OK;
    }
    if (!(*norms = nearkit_alloc_array((size_t)stored->count, sizeof **norms))) return nearkit_oom();
    float_norms(*norms, &v->max_sqnorm, ix, (const float *)stored->vectors, stored->count);
    return NEARKIT_OK;
}

/* The trained lists of ivf_flat from a file: CENT holds the nlist the parameters gave. */
static nearkit_status load_flat_lists(nearkit_index *ix, const nearkit_reader *r) {
    ivf_impl *v = impl_of(ix);
    nearkit_rows stored = {0};
    float *norms = NULL;
    bool in_image = false;
    nearkit_status st = nearkit_ivf_quantizer_load(&v->quantizer, ix, r, v->nlist);
    if (!st) st = nearkit_rows_load(&stored, ix, r, true);
    if (!st) st = init_lists(ix, v->quantizer.nlist);
    if (!st) st = stored_norms(&norms, &in_image, v, ix, r, &stored);
    if (!st) {
        /* a view's rows stay where they are, unless removed rows must be dropped (a write) */
        bool in_place = stored.vectors_borrowed && stored.ids_borrowed && !stored.removed;
        st = nearkit_ivf_lists_load_by_list(&v->lists, r, stored.vectors, stored.ids, &norms, in_image, stored.count,
                                            in_place);
    }
    uint64_t dropped;
    if (!st && stored.removed) nearkit_ivf_lists_drop_ids(&v->lists, NULL, &dropped); /* see the top */
    if (!in_image) free(norms);
    nearkit_rows_free(&stored);
    return st; /* on failure the caller frees the index, and with it what was made */
}

static nearkit_status load_flat(nearkit_index *ix, const nearkit_reader *r) {
    const void *data;
    uint64_t size;
    bool trained = nearkit_reader_section(&data, &size, r, NEARKIT_TAG('C', 'E', 'N', 'T')) == NEARKIT_OK;
    nearkit_clear_error();
    if (trained) return load_flat_lists(ix, r);
    return nearkit_rows_load(&impl_of(ix)->pending, ix, r, true);
}

/* Takes the ids of the positions from the kept originals just loaded: a view keeps its borrowed
 * ids in place unless removed rows will be dropped (a write). */
static nearkit_status take_position_ids(ivf_impl *v, nearkit_rows *rows, uint64_t removed) {
    if (rows->ids && rows->ids_borrowed && removed == 0) {
        v->position_ids = rows->ids;
        v->position_ids_borrowed = true;
        rows->ids = NULL;
        rows->ids_borrowed = false;
        return NEARKIT_OK;
    }
    return nearkit_rows_take_ids(&v->position_ids, &v->position_ids_capacity, rows);
}

/* The ids of n positions (IDS, optional): into v->position_ids (a view's in place), -1 counted
 * in *removed. */
static nearkit_status load_position_ids(ivf_impl *v, const nearkit_reader *r, uint64_t n, uint64_t *removed) {
    *removed = 0;
    if (!nearkit_reader_has_section(r, IDS_TAG)) return NEARKIT_OK;
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, IDS_TAG, n * sizeof(int64_t));
    if (st) return st;
    for (uint64_t p = 0; p < n; p++) { /* the image may be unaligned */
        int64_t id;
        memcpy(&id, (const uint8_t *)data + p * sizeof id, sizeof id);
        *removed += id == NEARKIT_REMOVED_ID;
    }
    if (nearkit_reader_borrows(r) && *removed == 0 && n > 0) {
        if ((st = nearkit_reader_borrowable(r, data, IDS_TAG))) return st;
        v->position_ids = (int64_t *)data; /* read-only: a view refuses every write */
        v->position_ids_borrowed = true;
        return NEARKIT_OK;
    }
    v->position_ids = nearkit_alloc_array((size_t)(n ? n : 1), sizeof(int64_t));
    if (!v->position_ids) return nearkit_oom();
    v->position_ids_capacity = n;
    memcpy(v->position_ids, data, (size_t)n * sizeof(int64_t));
    return NEARKIT_OK;
}

/* Whether a code is valid: the codec's check, or RaBitQ's. */
static bool codes_valid(const ivf_impl *v, const uint8_t *codes, uint64_t n) {
    return is_rabitq(v) ? nearkit_rabitq_codes_valid(&v->rabitq, codes, n) : nearkit_codec_codes_valid(&v->codec, codes, n);
}

/* CORRUPT unless every code of the lists is valid (interleaved lists: a code at a time, copied
 * out). A plain view checks only what keeps its reads in bounds: pq codes, where the codec has
 * fewer centroids than a code can name; fp16, bf16 and RaBitQ values only with verify. */
static nearkit_status check_stored_codes(const ivf_impl *v, const nearkit_reader *r) {
    if (v->config->binary) return NEARKIT_OK; /* any bits are a binary code */
    if (!nearkit_reader_checks_values(r) && nearkit_codec_any_code_in_bounds(&v->codec)) return NEARKIT_OK;
    const nearkit_ivf_lists *ls = &v->lists;
    uint8_t *code = ls->block > 1 ? malloc(ls->code_size) : NULL;
    if (ls->block > 1 && !code) return nearkit_oom();
    bool valid = true;
    for (uint32_t l = 0; valid && l < ls->nlist; l++) {
        const nearkit_ivf_list *list = &ls->list[l];
        if (!code) {
            valid = codes_valid(v, list->codes, list->size);
            continue;
        }
        for (uint64_t row = 0; valid && row < list->size; row++) {
            nearkit_ivf_list_code(code, ls, list, row);
            valid = codes_valid(v, code, 1);
        }
    }
    free(code);
    return valid ? NEARKIT_OK : corrupt("code out of range");
}

/* The lists as the store keeps them (format 2), count rows; in place in a view unless removed
 * rows will be dropped. */
static nearkit_status load_stored_lists(nearkit_index *ix, const nearkit_reader *r, uint64_t count,
                                        uint64_t removed) {
    ivf_impl *v = impl_of(ix);
    nearkit_status st = init_lists(ix, v->quantizer.nlist);
    if (!st) st = nearkit_ivf_lists_load_as_stored(&v->lists, r, count, removed == 0);
    return st ? st : check_stored_codes(v, r);
}

/* ivf_binary: BIVF (u32 lists, 0 untrained; u32 reserved 0), BCEN, then untrained the waiting
 * codes (VECS, IDS if explicit); trained the lists as the store keeps them (LOFF, LCOD, LPOS;
 * files before format 2's lists: VECS and BASN in insertion order), IDS if explicit. */
static nearkit_status save_binary(const nearkit_index *ix, nearkit_writer *w) {
    const ivf_impl *v = impl_of(ix);
    uint32_t meta[2] = {v->quantizer.nlist, 0};
    nearkit_status st = nearkit_writer_section(w, BIVF_TAG, meta, sizeof meta);
    if (!st) st = nearkit_ivf_quantizer_save(&v->quantizer, ix, w);
    if (st || !is_trained(v)) return st ? st : nearkit_rows_save(&v->pending, ix, w);
    st = nearkit_ivf_lists_save_as_stored(&v->lists, w);
    if (!st && v->position_ids)
        st = nearkit_writer_section(w, IDS_TAG, v->position_ids, v->lists.count * sizeof(int64_t));
    return st;
}

/* A trained ivf_binary's lists as the store keeps them, and the ids of their positions. */
static nearkit_status load_binary_lists(nearkit_index *ix, const nearkit_reader *r, uint64_t count) {
    ivf_impl *v = impl_of(ix);
    if (count > BINARY_MAX_COUNT) return corrupt("more codes than an ivf_binary index holds");
    uint64_t removed, dropped;
    nearkit_status st = load_position_ids(v, r, count, &removed);
    if (!st) st = load_stored_lists(ix, r, count, removed);
    if (!st && removed) st = drop_positions(v, ix, NULL, &dropped); /* see the top */
    return st;
}

static nearkit_status load_binary(nearkit_index *ix, const nearkit_reader *r) {
    ivf_impl *v = impl_of(ix);
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, BIVF_TAG, 8);
    if (st) return st;
    uint32_t meta[2];
    memcpy(meta, data, sizeof meta);
    if (meta[1] != 0) return corrupt("ivf_binary header: reserved field is not 0");
    if (meta[0] > BINARY_MAX_NLIST) return corrupt("ivf_binary header: too many lists");
    st = nearkit_ivf_quantizer_load(&v->quantizer, ix, r, meta[0]);
    if (st) return st;
    uint64_t count;
    if (is_trained(v) && nearkit_ivf_lists_saved_as_stored(r, &count)) return load_binary_lists(ix, r, count);
    nearkit_rows stored = {0};
    st = nearkit_rows_load(&stored, ix, r, false);
    if (!st && stored.count > BINARY_MAX_COUNT) st = corrupt("more codes than an ivf_binary index holds");
    if (!st && !is_trained(v)) { /* the codes wait for training */
        nearkit_rows_free(&v->pending);
        v->pending = stored;
        return NEARKIT_OK;
    }
    if (!st) st = init_lists(ix, v->quantizer.nlist);
    if (!st) st = nearkit_ivf_lists_load_by_position(&v->lists, r, stored.vectors, stored.count);
    if (!st) st = nearkit_rows_take_ids(&v->position_ids, &v->position_ids_capacity, &stored);
    uint64_t dropped;
    if (!st && stored.removed) st = drop_positions(v, ix, NULL, &dropped); /* see the top */
    nearkit_rows_free(&stored);
    return st;
}

/* The compressed kinds: CODC (u32 format, u32 lists, 0 untrained; u32 originals kept, 0 or 1;
 * u32 reserved 0), then untrained the waiting rows (VECS, IDS if explicit); trained SQRG (the sq
 * ranges), CENT, the lists as the store keeps them (LOFF, LCOD, LPOS: a view uses them in place;
 * files before format 2's lists: CODE, the codes in insertion order, and BASN, the list of each),
 * VECS (the original vectors in insertion order) where kept, and IDS (the id of each position)
 * if explicit. */
#define CODC_TAG NEARKIT_TAG('C', 'O', 'D', 'C')
#define PQ_RESIDUAL_BIT 2 /* in CODC's third word: pq codes of residuals */
#define SQRG_TAG NEARKIT_TAG('S', 'Q', 'R', 'G')
#define CODE_TAG NEARKIT_TAG('C', 'O', 'D', 'E')

static nearkit_status save_codes(const nearkit_index *ix, nearkit_writer *w) {
    const ivf_impl *v = impl_of(ix);
    /* the first word: the codec's format (ivf_pq: pq8 or pq4 as trained); the third: 1 where the
     * originals are kept, plus 2 for pq codes of residuals; the last: pq's sub-quantisers once
     * trained, 1 for sq codes of residuals (else 0) */
    bool pq = nearkit_codec_is_pq(v->config->format);
    uint32_t meta[4] = {(uint32_t)(is_trained(v) ? v->codec.format : v->config->format), v->quantizer.nlist,
                        (uint32_t)v->keep_originals | (pq && v->codec.residual ? PQ_RESIDUAL_BIT : 0),
                        v->codec.m ? v->codec.m : (uint32_t)v->codec.residual};
    nearkit_status st = nearkit_writer_section(w, CODC_TAG, meta, sizeof meta);
    if (st || !is_trained(v)) return st ? st : nearkit_rows_save(&v->pending, ix, w);
    st = nearkit_codec_save(&v->codec, w, SQRG_TAG);
    if (!st) st = nearkit_ivf_quantizer_save(&v->quantizer, ix, w);
    if (!st) st = nearkit_ivf_lists_save_as_stored(&v->lists, w);
    if (!st && v->keep_originals) st = nearkit_rows_save(&v->originals, ix, w); /* implicit ids: VECS */
    if (!st && v->position_ids)
        st = nearkit_writer_section(w, IDS_TAG, v->position_ids, v->lists.count * sizeof(int64_t));
    return st;
}

/* Files before format 2's lists: the codes of a trained compressed index, CODE's length a whole number of codes, each valid. */
static nearkit_status load_code_rows(nearkit_index *ix, const nearkit_reader *r, uint64_t *count) {
    ivf_impl *v = impl_of(ix);
    const void *codes;
    uint64_t bytes;
    size_t cs = v->codec.code_size;
    nearkit_status st = nearkit_reader_section(&codes, &bytes, r, CODE_TAG);
    if (st) return st;
    if (bytes % cs || bytes / cs > BINARY_MAX_COUNT) return corrupt("code section length");
    *count = bytes / cs;
    if (!codes_valid(v, codes, *count)) return corrupt("code out of range");
    st = init_lists(ix, v->quantizer.nlist);
    return st ? st : nearkit_ivf_lists_load_by_position(&v->lists, r, codes, *count);
}

/* The originals (VECS, IDS: checked as add would) of count positions. */
static nearkit_status load_originals(nearkit_index *ix, const nearkit_reader *r, uint64_t count,
                                     uint64_t *removed) {
    ivf_impl *v = impl_of(ix);
    nearkit_status st = nearkit_rows_load(&v->originals, ix, r, false);
    if (st) return st;
    if (v->originals.count != count) return corrupt("original vectors and codes differ in number");
    v->keep_originals = true;
    *removed = v->originals.removed;
    v->originals.removed = 0;
    /* dropping removed rows moves the originals: a view's must be copies first */
    if (*removed && (v->originals.vectors_borrowed || v->originals.ids_borrowed) &&
        (st = nearkit_rows_own(&v->originals, ix)))
        return st;
    /* the ids are the positions' */
    return take_position_ids(v, &v->originals, *removed);
}

static nearkit_status load_codes(nearkit_index *ix, const nearkit_reader *r) {
    ivf_impl *v = impl_of(ix);
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, CODC_TAG, 16);
    if (st) return st;
    uint32_t meta[4];
    memcpy(meta, data, sizeof meta);
    bool pq = nearkit_codec_is_pq(v->config->format);
    /* ivf_pq's format word says which pq (nbits) */
    bool pq4 = pq && meta[0] == NEARKIT_CODEC_PQ4;
    if (meta[0] != (uint32_t)v->config->format && !pq4) return corrupt("code format differs from the kind's");
    /* sq's residual word: 1 only where the kind codes residuals (files before it: 0); pq's residual
     * bit likewise (files before it: codes of the vectors, as they still load) */
    uint32_t most_last = pq ? UINT32_MAX : codes_residuals(v) ? 1 : 0;
    uint32_t most_third = pq && may_code_residuals(v) ? (1 | PQ_RESIDUAL_BIT) : 1;
    if (meta[1] > v->config->max_nlist || meta[2] > most_third || (meta[1] == 0 && (meta[2] || meta[3])) ||
        meta[3] > most_last)
        return corrupt("code header fields out of range");
    bool originals = meta[2] & 1;
    if (meta[1] == 0) return nearkit_rows_load(&v->pending, ix, r, false);
    if (pq) v->pq_nbits = pq4 ? 4 : 8;
    if (pq && set_pq_codec(ix, (int)meta[0], meta[3])) return corrupt("pq sub-quantisers do not divide the dimension");
    st = nearkit_codec_load(&v->codec, r, SQRG_TAG);
    v->codec.residual = pq ? (meta[2] & PQ_RESIDUAL_BIT) != 0 : meta[3] == 1;
    if (pq) v->pq_residual = v->codec.residual;
    if (!st) st = nearkit_ivf_quantizer_load(&v->quantizer, ix, r, meta[1]);
    if (!st && is_rabitq(v)) st = prepare_rabitq(ix); /* the rotation from the header's seed */
    uint64_t count = 0, removed = 0, dropped;
    bool as_stored = !st && nearkit_ivf_lists_saved_as_stored(r, &count); /* it clears the error */
    if (!st && as_stored && count > BINARY_MAX_COUNT) st = corrupt("more codes than the index holds");
    if (!st && !as_stored) st = load_code_rows(ix, r, &count);
    if (!st && nearkit_reader_has_section(r, NEARKIT_TAG('V', 'E', 'C', 'S')) != originals)
        st = corrupt("original vectors present or missing against the code header");
    if (!st) st = originals ? load_originals(ix, r, count, &removed) : load_position_ids(v, r, count, &removed);
    if (!st && as_stored) st = load_stored_lists(ix, r, count, removed);
    if (!st && removed) st = drop_positions(v, ix, NULL, &dropped); /* see the top */
    return st; /* on failure the caller frees the index, and with it what was made */
}

static nearkit_status ivf_save(const nearkit_index *ix, nearkit_writer *w) {
    const ivf_config *config = impl_of(ix)->config;
    return config->compressed ? save_codes(ix, w) : config->binary ? save_binary(ix, w) : save_flat(ix, w);
}

static nearkit_status ivf_load(nearkit_index *ix, const nearkit_reader *r) {
    const ivf_config *config = impl_of(ix)->config;
    return config->compressed ? load_codes(ix, r) : config->binary ? load_binary(ix, r) : load_flat(ix, r);
}

/* ---- description ------------------------------------------------------------------------------- */

static void describe_flat(const nearkit_index *ix, nearkit_strbuf *sb) {
    const ivf_impl *v = impl_of(ix);
    if (!is_trained(v)) {
        nearkit_strbuf_appendf(sb, "inverted file, not trained: %llu vectors wait for build or train\n",
                               (unsigned long long)v->pending.count);
        return;
    }
    uint32_t nlist = v->quantizer.nlist;
    nearkit_strbuf_appendf(sb,
                           "inverted file of %u lists (%s k-means), probing %u per query; list "
                           "sizes: mean %.1f, max %llu, %llu empty\n",
                           nlist, ix->metric == NEARKIT_METRIC_L2 ? "Euclidean" : "spherical",
                           v->nprobe < nlist ? v->nprobe : nlist, (double)v->lists.count / nlist,
                           (unsigned long long)nearkit_ivf_lists_max_size(&v->lists),
                           (unsigned long long)nearkit_ivf_lists_empty(&v->lists));
    nearkit_search_call many = {.ix = ix, .n = UINT64_MAX}; /* does a large batch take the GEMM path? */
    nearkit_strbuf_appendf(sb, "distance kernels: %s%s\n", nearkit_kernels()->name,
                           v->config->scanner->batch_applies(&many)
                               ? "; batches of 8+ queries grouped by list via sgemm"
                               : "");
}

static void describe_binary(const nearkit_index *ix, nearkit_strbuf *sb) {
    const ivf_impl *v = impl_of(ix);
    if (!is_trained(v)) {
        nearkit_strbuf_appendf(sb, "inverted file over binary codes; not trained (call build or "
                                   "train)\n");
        return;
    }
    uint32_t nlist = v->quantizer.nlist, probed = v->nprobe < nlist ? v->nprobe : nlist;
    uint64_t smallest = UINT64_MAX;
    for (uint32_t l = 0; l < nlist; l++)
        if (v->lists.list[l].size < smallest) smallest = v->lists.list[l].size;
    nearkit_strbuf_appendf(sb,
                           "inverted file over binary codes: %u lists (sizes %llu..%llu, mean %.1f, %u "
                           "empty), %u probed per query%s; distance kernels: %s\n",
                           nlist, (unsigned long long)smallest,
                           (unsigned long long)nearkit_ivf_lists_max_size(&v->lists),
                           (double)v->lists.count / nlist, nearkit_ivf_lists_empty(&v->lists), probed,
                           probed == nlist ? " (exact)" : "", nearkit_kernels()->name);
}

/* The one list of a flat_* kind: every code scanned for every query. */
static void describe_one_list(const nearkit_index *ix, nearkit_strbuf *sb, const char *codec) {
    const ivf_impl *v = impl_of(ix);
    nearkit_strbuf_appendf(sb, "brute force over %llu %s codes of %zu bytes per vector (float32: %llu), every "
                           "code scanned for every query\n",
                           (unsigned long long)v->lists.count, codec, v->codec.code_size,
                           (unsigned long long)ix->vector_bytes);
}

static void describe_codes(const nearkit_index *ix, nearkit_strbuf *sb) {
    const ivf_impl *v = impl_of(ix);
    const char *codec = nearkit_codec_name(v->codec.format);
    if (!is_trained(v)) {
        nearkit_strbuf_appendf(sb, "%s over %s codes, not trained: %llu vectors wait for build or train\n",
                               v->config->one_list ? "brute force" : "inverted file", codec,
                               (unsigned long long)v->pending.count);
        return;
    }
    uint32_t nlist = v->quantizer.nlist;
    if (is_rabitq(v))
        nearkit_strbuf_appendf(sb, "RaBitQ: residuals rotated in %zu dimensions (%zu padded), a sign bit each and %zu "
                               "bytes of factors; queries quantised to %d bits per dimension\n",
                               v->rabitq.padded, v->rabitq.padded - (size_t)ix->dimension,
                               v->codec.code_size - v->rabitq.padded / 8, NEARKIT_RABITQ_QUERY_BITS);
    if (v->codec.m)
        nearkit_strbuf_appendf(sb, "product quantiser: %u sub-spaces of %zu dimensions, %u centroids each, codes of %s\n",
                               v->codec.m, (size_t)(ix->dimension / v->codec.m), v->codec.ksub,
                               v->codec.residual ? "residuals to the list centroids" : "the vectors");
    if (v->config->one_list)
        describe_one_list(ix, sb, codec);
    else
        nearkit_strbuf_appendf(sb,
                           "inverted file of %u lists (%s k-means) over %s codes of %zu bytes per vector "
                           "(float32: %llu), probing %u per query; list sizes: mean %.1f, max %llu, %llu empty\n",
                           nlist, ix->metric == NEARKIT_METRIC_L2 ? "Euclidean" : "spherical", codec,
                           v->codec.code_size, (unsigned long long)ix->vector_bytes,
                           v->nprobe < nlist ? v->nprobe : nlist, (double)v->lists.count / nlist,
                           (unsigned long long)nearkit_ivf_lists_max_size(&v->lists),
                               (unsigned long long)nearkit_ivf_lists_empty(&v->lists));
    nearkit_strbuf_appendf(sb, "memory per vector %.1f bytes; %s; distance kernels: %s\n", bytes_per_vector(ix),
                           !v->keep_originals ? "original vectors dropped (no re-rank)"
                           : v->refine > 0.0  ? "original vectors kept, candidates re-ranked exactly"
                                              : "original vectors kept, re-rank off (refine 0)",
                           nearkit_kernels()->name);
}

static void ivf_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    if (impl_of(ix)->config->compressed)
        describe_codes(ix, sb);
    else if (impl_of(ix)->config->binary)
        describe_binary(ix, sb);
    else
        describe_flat(ix, sb);
}

/* ---- the two kinds ----------------------------------------------------------------------------- */

#define IVF_OPS                           \
    .destroy = ivf_destroy,               \
    .add = ivf_add,                       \
    .train = ivf_train,                   \
    .build = ivf_build,                   \
    .is_ready = ivf_is_ready,             \
    .count = ivf_count,                   \
    .memory = ivf_memory,                 \
    .knn_searcher = &ivf_searcher,        \
    .range_searcher = &ivf_searcher,      \
    .remove = ivf_remove,                 \
    .get = ivf_get,                       \
    .each_id = ivf_each_id,               \
    .compact = ivf_compact,               \
    .get_param = ivf_get_param,           \
    .set_param = ivf_set_param,           \
    .save = ivf_save,                     \
    .load = ivf_load,                     \
    .describe = ivf_describe

const nearkit_index_ops nearkit_ivf_flat_ops = {
    .kind = NEARKIT_KIND_IVF_FLAT,
    .name = "ivf_flat",
    .description = "inverted file of k-means cells, vectors kept exact (approximate: nprobe of "
                   "nlist cells searched); l2, cosine, ip",
    .flags = NEARKIT_KIND_FLAG_NEEDS_TRAINING,
    .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_IP),
    .params = flat_params,
    .n_params = sizeof flat_params / sizeof flat_params[0],
    .create = flat_create,
    IVF_OPS,
};

const nearkit_index_ops nearkit_ivf_binary_ops = {
    .kind = NEARKIT_KIND_IVF_BINARY,
    .name = "ivf_binary",
    .description = "inverted file over binary codes (binary k-means lists): approximate Hamming "
                   "k-NN tuned by nprobe",
    .flags = NEARKIT_KIND_FLAG_NEEDS_TRAINING,
    .metric_mask = 1u << NEARKIT_METRIC_HAMMING,
    .params = binary_params,
    .n_params = sizeof binary_params / sizeof binary_params[0],
    .create = binary_create,
    IVF_OPS,
};

#define CODES_OPS(KIND, NAME, CREATE, TEXT)                                                       \
    {                                                                                             \
        .kind = KIND, .name = NAME, .description = TEXT,                                         \
        .flags = NEARKIT_KIND_FLAG_NEEDS_TRAINING | NEARKIT_KIND_FLAG_COMPRESSED,                 \
        .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_IP), \
        .params = codes_params, .n_params = sizeof codes_params / sizeof codes_params[0],         \
        .create = CREATE, IVF_OPS,                                                                \
    }

const nearkit_index_ops nearkit_ivf_fp16_ops =
    CODES_OPS(NEARKIT_KIND_IVF_FP16, "ivf_fp16", fp16_create,
              "inverted file over fp16 codes (2 bytes per dimension, near lossless), optional exact "
              "re-rank (refine); l2, cosine, ip");
const nearkit_index_ops nearkit_ivf_bf16_ops =
    CODES_OPS(NEARKIT_KIND_IVF_BF16, "ivf_bf16", bf16_create,
              "inverted file over bfloat16 codes (2 bytes per dimension), optional exact re-rank "
              "(refine); l2, cosine, ip");
const nearkit_index_ops nearkit_ivf_sq8_ops =
    CODES_OPS(NEARKIT_KIND_IVF_SQ8, "ivf_sq8", sq8_create,
              "inverted file over 8-bit scalar-quantised codes (1 byte per dimension, trained "
              "ranges), optional exact re-rank (refine); l2, cosine, ip");
const nearkit_index_ops nearkit_ivf_sq4_ops =
    CODES_OPS(NEARKIT_KIND_IVF_SQ4, "ivf_sq4", sq4_create,
              "inverted file over 4-bit scalar-quantised codes (half a byte per dimension, trained "
              "ranges), optional exact re-rank (refine); l2, cosine, ip");
const nearkit_index_ops nearkit_ivf_rabitq_ops =
    CODES_OPS(NEARKIT_KIND_IVF_RABITQ, "ivf_rabitq", rabitq_create,
              "inverted file over RaBitQ codes (1 bit per dimension of the rotated residual and two "
              "floats: about d / 8 + 8 bytes), optional exact re-rank (refine); l2, cosine, ip");
const nearkit_index_ops nearkit_ivf_pq_ops = {
    .kind = NEARKIT_KIND_IVF_PQ,
    .name = "ivf_pq",
    .description = "inverted file over product-quantised codes (m bytes per vector: 8 bits per "
                   "dimension / m dimensions, k-means codebooks), optional exact re-rank (refine); "
                   "l2, cosine, ip",
    .flags = NEARKIT_KIND_FLAG_NEEDS_TRAINING | NEARKIT_KIND_FLAG_COMPRESSED,
    .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_IP),
    .params = pq_params,
    .n_params = sizeof pq_params / sizeof pq_params[0],
    .create = pq_create,
    IVF_OPS,
};

/* The flat_* kinds: brute force over codes (one list; see the top); all of them compressed. */
#define FLAT_CODES_OPS(KIND, NAME, CREATE, FLAGS, PARAMS, TEXT)                                    \
    {                                                                                             \
        .kind = KIND, .name = NAME, .description = TEXT,                                         \
        .flags = (FLAGS) | NEARKIT_KIND_FLAG_COMPRESSED,                                          \
        .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_IP), \
        .params = PARAMS, .n_params = sizeof PARAMS / sizeof PARAMS[0], .create = CREATE, IVF_OPS, \
    }

const nearkit_index_ops nearkit_flat_fp16_ops =
    FLAT_CODES_OPS(NEARKIT_KIND_FLAT_FP16, "flat_fp16", flat_fp16_create, 0u, flat_codes_params,
                   "brute force over fp16 codes (2 bytes per dimension, near lossless), searchable as "
                   "added, optional exact re-rank (refine); l2, cosine, ip");
const nearkit_index_ops nearkit_flat_bf16_ops =
    FLAT_CODES_OPS(NEARKIT_KIND_FLAT_BF16, "flat_bf16", flat_bf16_create, 0u, flat_codes_params,
                   "brute force over bfloat16 codes (2 bytes per dimension), searchable as added, "
                   "optional exact re-rank (refine); l2, cosine, ip");
const nearkit_index_ops nearkit_flat_sq8_ops =
    FLAT_CODES_OPS(NEARKIT_KIND_FLAT_SQ8, "flat_sq8", flat_sq8_create, NEARKIT_KIND_FLAG_NEEDS_TRAINING,
                   flat_codes_params,
                   "brute force over 8-bit scalar-quantised codes (1 byte per dimension, trained "
                   "ranges), optional exact re-rank (refine); l2, cosine, ip");
const nearkit_index_ops nearkit_flat_sq4_ops =
    FLAT_CODES_OPS(NEARKIT_KIND_FLAT_SQ4, "flat_sq4", flat_sq4_create, NEARKIT_KIND_FLAG_NEEDS_TRAINING,
                   flat_codes_params,
                   "brute force over 4-bit scalar-quantised codes (half a byte per dimension, trained "
                   "ranges), optional exact re-rank (refine); l2, cosine, ip");
const nearkit_index_ops nearkit_flat_pq_ops =
    FLAT_CODES_OPS(NEARKIT_KIND_FLAT_PQ, "flat_pq", flat_pq_create, NEARKIT_KIND_FLAG_NEEDS_TRAINING,
                   flat_pq_params,
                   "brute force over product-quantised codes (m * nbits / 8 bytes per vector; nbits 4: "
                   "the fast scan), optional exact re-rank (refine); l2, cosine, ip");
