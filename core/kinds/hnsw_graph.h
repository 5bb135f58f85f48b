/* The graph of the hnsw kind: a hierarchical navigable small world (Malkov & Yashunin) over the
 * rows of a row store, node n being row n. Internal to nearkit (hidden symbols).
 *
 * Storage. Level-0 links sit in one flat array, a fixed stride of 1 + M0 words per node (the
 * count, then up to M0 = 2 M neighbours); a node of level L > 0 owns one block of L * (1 + M)
 * words for its upper levels. The vectors stay in the row store, contiguous, so the kernels read
 * them where they are: float32 or binary rows, or the codes of a codec (hnsw_space.codec: the
 * coded kinds hnsw_sq8, hnsw_fp16, ...), whose distances to a float query are the codec's.
 *
 * Concurrency. Links are written and read with atomic stores (release) and loads (acquire) of
 * single words, so a search may walk a list while an insertion rewrites it: it sees each word old
 * or new, every one a node whose vector and links were complete before the word was stored. An
 * insertion changes a node's lists only under that node's spinlock (one byte per node); the
 * entry point and top level change together in one atomic word. Growing the arrays moves them,
 * which only a writer holding the index exclusively may do (hnsw_graph_reserve). */
#ifndef NEARKIT_HNSW_GRAPH_H
#define NEARKIT_HNSW_GRAPH_H

#include "base/internal.h"
#include "codes/codec.h"
#include "kernels/kernels.h"

#include <pthread.h>

#define HNSW_MAX_M 256           /* links per node above level 0, at most (level 0: twice) */
#define HNSW_MAX_LEVEL 31        /* levels are drawn below this */
#define HNSW_FREE_LEVEL 255      /* the level byte of a slot that holds no node */
#define HNSW_NO_TOP UINT64_MAX   /* the top word of an empty graph */
#define HNSW_UPPER_STRIDE 32     /* a view's nodes per upper_at entry (hnsw_borrowed_upper) */

/* How distances are computed: the rows, their size, the metric, the kernels, and the codec when
 * the rows are codes. */
typedef struct hnsw_space {
    const uint8_t *vectors;
    size_t vector_bytes;     /* a row's bytes: the vector's, or the codec's code size */
    size_t dimension;
    nearkit_metric metric;
    const nearkit_kernel_table *kt;
    /* Non-NULL: rows are this codec's codes (a per-row kernel format: fp16, bf16, sq8, sq4) and
     * queries float32; a stored node serving as a query (linking, relinking) is decoded first
     * (hnsw_node_query). */
    const nearkit_codec *codec;
    /* The codes are sq8 with a grid (nearkit_codec_has_grid): walks given room for it rank them
     * on the grid (hnsw_walk_query). */
    bool grid;
} hnsw_space;

/* A query as a walk scores it: its vector (float, or binary), and in a grid space, when the
 * walker gave room, its place on the codec's integer grid (grid.t non-NULL), which every
 * distance of the walk then comes from: near the codec's value, at about half its instructions
 * (codes/codec.h). What a search reports is scored without the grid. */
typedef struct hnsw_query {
    const void *v;
    nearkit_grid_query grid;
} hnsw_query;

/* The query v as it is scored exactly (no grid). */
static inline hnsw_query hnsw_exact_query(const void *v) { return (hnsw_query){.v = v}; }

/* The query v of a walk: on the grid in `room` (d values; NULL: none) where the space has one
 * and v lies within the grid's reach (a query far outside the data's ranges scores the codes). */
static inline hnsw_query hnsw_walk_query(const hnsw_space *s, const void *v, int16_t *room) {
    hnsw_query q = {.v = v};
    if (s->grid && room) {
        q.grid.t = room;
        if (!nearkit_codec_grid_query(&q.grid, s->codec, s->metric, v)) q.grid.t = NULL;
    }
    return q;
}

/* The ranking value of a query against a stored vector (l2 squared, like flat's; a coded space:
 * the codec's value of the decoded vector, nearkit_codec_distances, or its grid value). */
static inline float hnsw_distance(const hnsw_space *s, const hnsw_query *q, const void *v) {
    if (q->grid.t) return nearkit_codec_grid_value(&q->grid, s->kt, s->codec, v);
    if (s->codec) {
        float d;
        nearkit_codec_distances(&d, s->kt, s->codec, s->metric, q->v, v, 1);
        return d;
    }
    switch (s->metric) {
    case NEARKIT_METRIC_L2: return s->kt->l2sq(q->v, v, s->dimension);
    case NEARKIT_METRIC_IP: return -s->kt->dot(q->v, v, s->dimension);
    case NEARKIT_METRIC_COSINE: return 1.0f - s->kt->dot(q->v, v, s->dimension);
    default: return (float)s->kt->hamming(q->v, v, s->vector_bytes);
    }
}

static inline const uint8_t *hnsw_vector(const hnsw_space *s, uint32_t node) {
    return s->vectors + (size_t)node * s->vector_bytes;
}

static inline float hnsw_node_distance(const hnsw_space *s, const hnsw_query *q, uint32_t node) {
    return hnsw_distance(s, q, hnsw_vector(s, node));
}

/* A stored node as a query: its row, or (a coded space) its code decoded into buf (d floats). */
static inline const void *hnsw_node_query(const hnsw_space *s, uint32_t node, float *buf) {
    if (!s->codec) return hnsw_vector(s, node);
    nearkit_codec_decode(s->codec, buf, hnsw_vector(s, node), 1);
    return buf;
}

typedef struct hnsw_graph {
    uint32_t M, M0;          /* links per node above level 0, and at level 0 (2 M) */
    uint32_t ef_construction;
    uint64_t capacity;       /* nodes the arrays hold */
    uint32_t *links0;        /* capacity * (1 + M0) words */
    uint32_t **upper;        /* per node: level * (1 + M) words, or NULL at level 0 (a view's: NULL) */
    uint8_t *level;          /* per node; HNSW_FREE_LEVEL: no node */
    uint8_t *lock;           /* per node spinlock */
    uint64_t top;            /* (top level << 32) | entry node, or HNSW_NO_TOP; atomic */
    pthread_mutex_t top_mutex; /* serialises raising the top */
    uint64_t rng;            /* level draws, in insertion order */
    double level_mult;       /* 1 / ln M */
    /* A view's graph (hnsw_graph_borrow): level, links0 and the upper blocks (upper_words) are
     * the file's, read-only; no locks (a view is never written). A node's block is found from
     * upper_at, the word offset of the first block of every HNSW_UPPER_STRIDE nodes, and the
     * level bytes of the nodes before it in its stride: a quarter of a byte a node in the view's
     * heap, where a pointer per node would cost eight. */
    bool borrowed;
    const uint32_t *upper_words;
    uint64_t *upper_at;
    /* Its lists were not checked when it was opened (a plain view trusts them as it trusts the
     * vectors): hnsw_read_links then passes over what could lead out of bounds. */
    bool unchecked;
} hnsw_graph;

nearkit_status hnsw_graph_init(hnsw_graph *g, uint32_t M, uint32_t ef_construction, uint64_t seed);
void hnsw_graph_free(hnsw_graph *g);
/* Room for `nodes` nodes; new slots hold no node. Moves the arrays: exclusive writers only. */
nearkit_status hnsw_graph_reserve(hnsw_graph *g, uint64_t nodes);
/* A view's graph of `nodes` nodes in place (see `borrowed`): level bytes, level-0 lists (1 + M0
 * words per node) and the upper lists (every node's levels x (1 + M) words, node after node, as a
 * file holds them), none of it copied; the caller has checked the levels and the lengths. */
nearkit_status hnsw_graph_borrow(hnsw_graph *g, uint64_t nodes, const uint8_t *level, const uint32_t *links0,
                                 const uint32_t *upper);
/* Bytes held, upper blocks counted for the first `nodes` nodes (an add may be making others). */
uint64_t hnsw_graph_memory(const hnsw_graph *g, uint64_t nodes);

static inline uint32_t hnsw_max_links(const hnsw_graph *g, int level) { return level ? g->M : g->M0; }

/* A view's node's upper block: its stride's offset, plus the blocks of the nodes before it there. */
static inline uint32_t *hnsw_borrowed_upper(const hnsw_graph *g, uint32_t node) {
    uint64_t words = 0;
    for (uint32_t u = node & ~(uint32_t)(HNSW_UPPER_STRIDE - 1); u < node; u++)
        words += g->level[u] == HNSW_FREE_LEVEL ? 0 : g->level[u];
    return (uint32_t *)g->upper_words + g->upper_at[node / HNSW_UPPER_STRIDE] + words * (1 + g->M);
}

/* A node's list at a level: its count, then its neighbours. */
static inline uint32_t *hnsw_links(const hnsw_graph *g, uint32_t node, int level) {
    if (level == 0) return g->links0 + (size_t)node * (1 + g->M0);
    uint32_t *block = g->borrowed ? hnsw_borrowed_upper(g, node) : g->upper[node];
    return block + (size_t)(level - 1) * (1 + g->M);
}

static inline uint32_t hnsw_word(const uint32_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }
static inline void hnsw_set_word(uint32_t *word, uint32_t v) { __atomic_store_n(word, v, __ATOMIC_RELEASE); }

/* hnsw_read_links of an unchecked graph: the list's n neighbours, keeping in order only those
 * that exist and have the level; returns how many. */
static inline uint32_t hnsw_read_unchecked(const hnsw_graph *g, const uint32_t *l, int level, uint32_t n,
                                           uint32_t *out) {
    uint32_t nodes = (uint32_t)g->capacity; /* at most 2^32 - 1 */
    bool outside = false;
    for (uint32_t i = 0; i < n; i++) {
        out[i] = hnsw_word(l + 1 + i);
        outside |= out[i] >= nodes;
    }
    if (!outside && level == 0) return n; /* the usual case: one pass, no branch per neighbour */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = out[i];
        bool present = x < nodes && (level == 0 || (g->level[x] != HNSW_FREE_LEVEL && g->level[x] >= level));
        out[kept] = x;
        kept += present;
    }
    return kept;
}

/* Copies a node's neighbours at a level into out (room for max links); returns how many. Every
 * walk reads lists through here; in an unchecked graph only nodes that have the level are copied,
 * so that a damaged list costs a search its quality, never a read out of bounds. */
static inline uint32_t hnsw_read_links(const hnsw_graph *g, uint32_t node, int level, uint32_t *out) {
    const uint32_t *l = hnsw_links(g, node, level);
    uint32_t n = hnsw_word(l), max = hnsw_max_links(g, level);
    if (n > max) n = max;
    if (g->unchecked) return hnsw_read_unchecked(g, l, level, n, out);
    for (uint32_t i = 0; i < n; i++) out[i] = hnsw_word(l + 1 + i);
    return n;
}

static inline uint64_t hnsw_top(const hnsw_graph *g) { return __atomic_load_n(&g->top, __ATOMIC_ACQUIRE); }
static inline int hnsw_top_level(uint64_t top) { return (int)(top >> 32); }
static inline uint32_t hnsw_top_node(uint64_t top) { return (uint32_t)top; }

/* ---- searching --------------------------------------------------------------------------------- */

/* A visited set: a mark per node, equal to the current epoch when visited, so clearing it is one
 * increment (and a wipe every 65535 uses). */
typedef struct hnsw_visited {
    uint16_t *mark;
    uint64_t size;
    uint16_t epoch;
} hnsw_visited;

/* Makes v an empty set over `nodes` nodes; false: out of memory. */
bool hnsw_visited_reset(hnsw_visited *v, uint64_t nodes);
void hnsw_visited_free(hnsw_visited *v);
static inline bool hnsw_visit(hnsw_visited *v, uint32_t node) { /* true the first time */
    if (v->mark[node] == v->epoch) return false;
    v->mark[node] = v->epoch;
    return true;
}

/* Visited sets kept between calls, so a search of one query allocates none. */
typedef struct hnsw_visited_pool {
    pthread_mutex_t mutex;
    hnsw_visited **sets;
    size_t n, cap;
} hnsw_visited_pool;
void hnsw_visited_pool_init(hnsw_visited_pool *p);
void hnsw_visited_pool_free(hnsw_visited_pool *p);
uint64_t hnsw_visited_pool_memory(hnsw_visited_pool *p);
/* A set from the pool (or a new one); NULL: out of memory. */
hnsw_visited *hnsw_visited_take(hnsw_visited_pool *p);
void hnsw_visited_give(hnsw_visited_pool *p, hnsw_visited *v);

/* A beam: the best candidates met so far, sorted nearest first, each expanded or not. */
typedef struct hnsw_candidate {
    float dist;
    uint32_t node;
} hnsw_candidate;

typedef struct hnsw_beam {
    hnsw_candidate *c;
    uint8_t *expanded;
    uint32_t size, cap;      /* cap: how many it keeps this search */
    uint32_t room;           /* allocated entries */
} hnsw_beam;

/* Room for cap entries, and empties it. False: out of memory. */
bool hnsw_beam_prepare(hnsw_beam *b, uint32_t cap);
void hnsw_beam_free(hnsw_beam *b);
/* Inserts in order (after equal distances); the position, or -1 when it does not enter. */
int64_t hnsw_beam_insert(hnsw_beam *b, float dist, uint32_t node);

/* From the entry point, greedy moves down to level `to` (exclusive of it: stops at to); *node and
 * *dist give the start and receive the nearest found. */
void hnsw_greedy(const hnsw_graph *g, const hnsw_space *s, const hnsw_query *query, int from, int to,
                 uint32_t *node, float *dist);
/* Widens a beam to cap entries keeping what it holds. False: out of memory. */
bool hnsw_beam_widen(hnsw_beam *b, uint32_t cap);

/* Where a search reports every node it scores (once per node and search), for filtered and
 * range searches that collect more than the beam keeps. NULL: nothing is reported. */
typedef struct hnsw_sink {
    void (*offer)(void *ctx, uint32_t node, float dist);
    void *ctx;
} hnsw_sink;

/* Expands the beam (seeded by the caller, seeds marked visited) at a level until every candidate
 * it keeps is expanded. */
void hnsw_search_layer(const hnsw_graph *g, const hnsw_space *s, const hnsw_query *query, int level,
                       hnsw_beam *b, hnsw_visited *v, const hnsw_sink *sink);
/* Seeds a beam of cap entries with the entry point and searches level 0 from the top: what a
 * k-NN query does. False: out of memory (the beam's or the visited set's room). */
bool hnsw_search(const hnsw_graph *g, const hnsw_space *s, const hnsw_query *query, uint32_t cap,
                 hnsw_beam *b, hnsw_visited *v, const hnsw_sink *sink);

/* ---- building ---------------------------------------------------------------------------------- */

/* Draws a node's level (the graph's generator, in insertion order). */
uint8_t hnsw_draw_level(hnsw_graph *g);
/* What linking a batch needs per thread, made before the batch is committed so that linking
 * itself cannot fail. NULL: out of memory. */
typedef struct hnsw_inserter hnsw_inserter;
hnsw_inserter *hnsw_inserter_new(const hnsw_graph *g, const hnsw_space *s, uint32_t threads);
void hnsw_inserter_free(hnsw_inserter *ins);
/* Links nodes[0, n) (vectors in place, levels set, upper blocks allocated) into the graph on the
 * inserter's threads. With one thread every node is linked the same on every run. */
void hnsw_insert(hnsw_inserter *ins, hnsw_graph *g, const hnsw_space *s, const uint32_t *nodes, uint64_t n);
/* Allocates the upper block of a node of level >= 1 (empty lists). */
nearkit_status hnsw_alloc_upper(hnsw_graph *g, uint32_t node);

/* Removes the nodes for which gone[node] is set from the graph: every node linking one of them
 * relinks, at each level, choosing by the heuristic among its other neighbours and the removed
 * ones' neighbours; their lists are emptied and their slots marked free; the entry point moves
 * to a remaining node of the top level. Exclusive writers only. */
nearkit_status hnsw_unlink(hnsw_graph *g, const hnsw_space *s, const uint8_t *gone, uint64_t node_count,
                           uint32_t threads);

/* Renumbers the nodes after the row store's compaction: new node i is old node kept[i], i < n, of
 * old_count; the slots dropped hold no node and nobody links them. Exclusive writers only. */
nearkit_status hnsw_renumber(hnsw_graph *g, const uint64_t *kept, uint64_t n, uint64_t old_count);

#endif
