/* The graph of the hnsw kind (hnsw_graph.h): storage, the beam search, insertion with the
 * neighbour-selection heuristic, and the relinking that removal needs. */
#include "kinds/hnsw_graph.h"

#include "base/random.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PREFETCH_LINES 16 /* cache lines of a vector fetched ahead of its distance: all of a 784-byte
                             code (8 lines left the grid kernel waiting on the rest: 20% fewer
                             queries a second on Fashion-MNIST's hnsw_sq8, Intel Xeon); longer
                             float rows stream the rest behind the kernel (32 lines or more were
                             slower on 784 floats) */
#define PREFETCH_AHEAD 3 /* vectors fetched ahead of the one being scored: one ahead left the kernel
                            waiting on memory; 3 was the best of 1-4 measured (5-12% more queries a
                            second on a 200,000 x 128 graph) */

/* ---- storage ----------------------------------------------------------------------------------- */

nearkit_status hnsw_graph_init(hnsw_graph *g, uint32_t M, uint32_t ef_construction, uint64_t seed) {
    *g = (hnsw_graph){.M = M, .M0 = 2 * M, .ef_construction = ef_construction, .top = HNSW_NO_TOP,
                      .rng = nearkit_mix64(seed ^ 0x686E7377ull), .level_mult = 1.0 / log((double)M)};
    return pthread_mutex_init(&g->top_mutex, NULL) ? nearkit_oom() : NEARKIT_OK;
}

void hnsw_graph_free(hnsw_graph *g) {
    if (!g->borrowed) {
        for (uint64_t i = 0; g->upper && i < g->capacity; i++) free(g->upper[i]);
        nearkit_aligned_free(g->links0);
        free(g->level);
        free(g->lock);
    }
    free(g->upper);
    free(g->upper_at);
    pthread_mutex_destroy(&g->top_mutex);
}

nearkit_status hnsw_graph_borrow(hnsw_graph *g, uint64_t nodes, const uint8_t *level, const uint32_t *links0,
                                 const uint32_t *upper) {
    uint64_t strides = (nodes + HNSW_UPPER_STRIDE - 1) / HNSW_UPPER_STRIDE;
    uint64_t *at = nearkit_alloc_array((size_t)(strides ? strides : 1), sizeof *at);
    if (!at) return nearkit_oom();
    uint64_t words = 0;
    for (uint64_t u = 0; u < nodes; u++) {
        if (u % HNSW_UPPER_STRIDE == 0) at[u / HNSW_UPPER_STRIDE] = words;
        if (level[u] != HNSW_FREE_LEVEL) words += (uint64_t)level[u] * (1 + g->M);
    }
    g->upper_at = at;
    g->upper_words = upper; /* read-only: a view refuses every write */
    g->level = (uint8_t *)level;
    g->links0 = (uint32_t *)links0;
    g->capacity = nodes;
    g->borrowed = true;
    return NEARKIT_OK;
}

/* Grows one array to `cap` entries of `size` bytes, the new ones zero (or `fill`). */
static bool grow(void **array, uint64_t old_cap, uint64_t cap, size_t size, int fill) {
    size_t bytes;
    if (!nearkit_mul_size(&bytes, (size_t)cap, size)) return false;
    void *p = realloc(*array, bytes ? bytes : 1);
    if (!p) return false;
    memset((uint8_t *)p + old_cap * size, fill, (size_t)(cap - old_cap) * size);
    *array = p;
    return true;
}

/* grow for the level-0 links, which every search reads at random: a bulk block (2 MB pages once
 * large, nearkit_bulk_alloc_array), so that a hop to a neighbour's links seldom misses the TLB. */
static bool grow_bulk(void **array, uint64_t old_cap, uint64_t cap, size_t size) {
    uint8_t *p = nearkit_bulk_alloc_array((size_t)cap, size);
    if (!p) return false;
    if (old_cap) memcpy(p, *array, (size_t)old_cap * size);
    memset(p + old_cap * size, 0, (size_t)(cap - old_cap) * size);
    nearkit_aligned_free(*array);
    *array = p;
    return true;
}

nearkit_status hnsw_graph_reserve(hnsw_graph *g, uint64_t nodes) {
    if (nodes <= g->capacity) return NEARKIT_OK;
    if (nodes > UINT32_MAX) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                                     "an hnsw index holds at most 2^32 - 1 vectors");
    uint64_t cap = g->capacity + g->capacity / 2;
    if (cap < nodes) cap = nodes;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    uint64_t old = g->capacity;
    /* each array grown keeps the old entries valid, so a failure part way leaves a usable graph
     * of the old capacity */
    if (!grow_bulk((void **)&g->links0, old * (1 + g->M0), cap * (1 + g->M0), sizeof(uint32_t)) ||
        !grow((void **)&g->upper, old, cap, sizeof(uint32_t *), 0) ||
        !grow((void **)&g->level, old, cap, 1, HNSW_FREE_LEVEL) || !grow((void **)&g->lock, old, cap, 1, 0))
        return nearkit_oom();
    g->capacity = cap;
    return NEARKIT_OK;
}

uint64_t hnsw_graph_memory(const hnsw_graph *g, uint64_t nodes) {
    if (g->borrowed) return (g->capacity + HNSW_UPPER_STRIDE - 1) / HNSW_UPPER_STRIDE * sizeof(uint64_t);
    uint64_t bytes = g->capacity * ((1 + g->M0) * sizeof(uint32_t) + sizeof(uint32_t *) + 2);
    for (uint64_t i = 0; i < nodes; i++)
        if (g->level[i] != HNSW_FREE_LEVEL) bytes += (uint64_t)g->level[i] * (1 + g->M) * sizeof(uint32_t);
    return bytes;
}

nearkit_status hnsw_alloc_upper(hnsw_graph *g, uint32_t node) {
    free(g->upper[node]);
    g->upper[node] = NULL;
    if (g->level[node] == 0) return NEARKIT_OK;
    g->upper[node] = calloc((size_t)g->level[node] * (1 + g->M), sizeof(uint32_t));
    return g->upper[node] ? NEARKIT_OK : nearkit_oom();
}

uint8_t hnsw_draw_level(hnsw_graph *g) {
    /* 53 random bits as a uniform in (0, 1] */
    double u = ((double)(nearkit_next_random(&g->rng) >> 11) + 1.0) / 9007199254740992.0;
    double level = -log(u) * g->level_mult;
    return level >= HNSW_MAX_LEVEL - 1 ? HNSW_MAX_LEVEL - 1 : (uint8_t)level;
}

static void set_top(hnsw_graph *g, int level, uint32_t node) {
    __atomic_store_n(&g->top, (uint64_t)level << 32 | node, __ATOMIC_RELEASE);
}

/* The CPU's hint that it is spinning on a lock (kinder to the lock's holder on the other
 * hyperthread): x86's pause, ARM's yield, nothing elsewhere. */
static inline void spin_hint(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static void lock_node(hnsw_graph *g, uint32_t node) {
    while (__atomic_exchange_n(&g->lock[node], 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&g->lock[node], __ATOMIC_RELAXED)) spin_hint();
}

static void unlock_node(hnsw_graph *g, uint32_t node) { __atomic_store_n(&g->lock[node], 0, __ATOMIC_RELEASE); }

/* Replaces a node's list at a level (its lock held, or the index held exclusively). */
static void write_links(hnsw_graph *g, uint32_t node, int level, const hnsw_candidate *c, uint32_t n) {
    uint32_t *l = hnsw_links(g, node, level);
    /* a reader may hold the old count: entries it reads past the new count stay valid nodes */
    for (uint32_t i = 0; i < n; i++) hnsw_set_word(l + 1 + i, c[i].node);
    hnsw_set_word(l, n);
}

/* ---- visited sets ------------------------------------------------------------------------------ */

bool hnsw_visited_reset(hnsw_visited *v, uint64_t nodes) {
    if (v->size < nodes) {
        free(v->mark);
        v->mark = calloc((size_t)(nodes ? nodes : 1), sizeof(uint16_t));
        v->size = v->mark ? nodes : 0;
        v->epoch = 0;
        if (!v->mark) return false;
    }
    if (++v->epoch == 0) { /* wrapped: wipe, and start over */
        memset(v->mark, 0, (size_t)v->size * sizeof(uint16_t));
        v->epoch = 1;
    }
    return true;
}

void hnsw_visited_free(hnsw_visited *v) {
    free(v->mark);
    *v = (hnsw_visited){0};
}

void hnsw_visited_pool_init(hnsw_visited_pool *p) {
    *p = (hnsw_visited_pool){0};
    pthread_mutex_init(&p->mutex, NULL);
}

void hnsw_visited_pool_free(hnsw_visited_pool *p) {
    for (size_t i = 0; i < p->n; i++) {
        hnsw_visited_free(p->sets[i]);
        free(p->sets[i]);
    }
    free(p->sets);
    pthread_mutex_destroy(&p->mutex);
}

uint64_t hnsw_visited_pool_memory(hnsw_visited_pool *p) {
    pthread_mutex_lock(&p->mutex);
    uint64_t bytes = p->cap * sizeof(hnsw_visited *);
    for (size_t i = 0; i < p->n; i++) bytes += sizeof(hnsw_visited) + p->sets[i]->size * sizeof(uint16_t);
    pthread_mutex_unlock(&p->mutex);
    return bytes;
}

hnsw_visited *hnsw_visited_take(hnsw_visited_pool *p) {
    pthread_mutex_lock(&p->mutex);
    hnsw_visited *v = p->n ? p->sets[--p->n] : NULL;
    pthread_mutex_unlock(&p->mutex);
    return v ? v : calloc(1, sizeof(hnsw_visited));
}

void hnsw_visited_give(hnsw_visited_pool *p, hnsw_visited *v) {
    if (!v) return;
    pthread_mutex_lock(&p->mutex);
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        hnsw_visited **sets = realloc(p->sets, cap * sizeof *sets);
        if (sets) {
            p->sets = sets;
            p->cap = cap;
        }
    }
    bool kept = p->n < p->cap;
    if (kept) p->sets[p->n++] = v;
    pthread_mutex_unlock(&p->mutex);
    if (!kept) {
        hnsw_visited_free(v);
        free(v);
    }
}

/* ---- the beam ---------------------------------------------------------------------------------- */

bool hnsw_beam_prepare(hnsw_beam *b, uint32_t cap) {
    if (cap < 1) cap = 1;
    if (b->room < cap) {
        free(b->c);
        free(b->expanded);
        b->c = nearkit_alloc_array(cap, sizeof *b->c);
        b->expanded = nearkit_alloc_array(cap, 1);
        b->room = b->c && b->expanded ? cap : 0;
        if (!b->room) return false;
    }
    b->cap = cap;
    b->size = 0;
    return true;
}

bool hnsw_beam_widen(hnsw_beam *b, uint32_t cap) {
    if (b->room < cap) {
        hnsw_candidate *c = realloc(b->c, (size_t)cap * sizeof *c);
        if (c) b->c = c;
        uint8_t *e = c ? realloc(b->expanded, cap) : NULL;
        if (e) b->expanded = e;
        if (!c || !e) return false;
        b->room = cap;
    }
    if (cap > b->cap) b->cap = cap;
    return true;
}

void hnsw_beam_free(hnsw_beam *b) {
    free(b->c);
    free(b->expanded);
    *b = (hnsw_beam){0};
}

int64_t hnsw_beam_insert(hnsw_beam *b, float dist, uint32_t node) {
    if (b->size == b->cap && !(dist < b->c[b->size - 1].dist)) return -1;
    uint32_t lo = 0, hi = b->size;
    while (lo < hi) { /* first entry farther than dist */
        uint32_t mid = (lo + hi) / 2;
        if (b->c[mid].dist <= dist) lo = mid + 1;
        else hi = mid;
    }
    uint32_t moved = (b->size == b->cap ? b->size - 1 : b->size) - lo;
    memmove(b->c + lo + 1, b->c + lo, moved * sizeof *b->c);
    memmove(b->expanded + lo + 1, b->expanded + lo, moved);
    b->c[lo] = (hnsw_candidate){dist, node};
    b->expanded[lo] = 0;
    if (b->size < b->cap) b->size++;
    return lo;
}

/* ---- searching --------------------------------------------------------------------------------- */

static NEARKIT_PREFETCHER void prefetch_vector(const hnsw_space *s, uint32_t node) {
    const uint8_t *v = hnsw_vector(s, node);
    size_t lines = (s->vector_bytes + 63) / 64;
    if (lines > PREFETCH_LINES) lines = PREFETCH_LINES;
    for (size_t i = 0; i < lines; i++) __builtin_prefetch(v + 64 * i);
}

void hnsw_greedy(const hnsw_graph *g, const hnsw_space *s, const hnsw_query *query, int from, int to,
                 uint32_t *node, float *dist) {
    uint32_t nb[2 * HNSW_MAX_M];
    for (int level = from; level > to; level--) {
        bool moved = true;
        while (moved) {
            moved = false;
            uint32_t n = hnsw_read_links(g, *node, level, nb);
            for (uint32_t i = 0; i < n; i++) {
                if (i + 1 < n) prefetch_vector(s, nb[i + 1]);
                float d = hnsw_node_distance(s, query, nb[i]);
                if (d < *dist) {
                    *dist = d;
                    *node = nb[i];
                    moved = true;
                }
            }
        }
    }
}

/* Scores the neighbours not yet visited into the beam; the lowest position any entered at (or
 * the beam's size). */
static uint32_t expand(const hnsw_graph *g, const hnsw_space *s, const hnsw_query *query, int level,
                       hnsw_beam *b, hnsw_visited *v, uint32_t node, const hnsw_sink *sink) {
    uint32_t nb[2 * HNSW_MAX_M], fresh[2 * HNSW_MAX_M];
    uint32_t n = hnsw_read_links(g, node, level, nb), m = 0;
    for (uint32_t i = 0; i < n; i++) __builtin_prefetch(v->mark + nb[i]);
    for (uint32_t i = 0; i < n; i++)
        if (hnsw_visit(v, nb[i])) fresh[m++] = nb[i];
    for (uint32_t i = 0; i < m && i < PREFETCH_AHEAD; i++) prefetch_vector(s, fresh[i]);
    uint32_t lowest = b->size;
    for (uint32_t i = 0; i < m; i++) {
        if (i + PREFETCH_AHEAD < m) prefetch_vector(s, fresh[i + PREFETCH_AHEAD]);
        float d = hnsw_node_distance(s, query, fresh[i]);
        if (sink) sink->offer(sink->ctx, fresh[i], d);
        if (b->size == b->cap && !(d < b->c[b->size - 1].dist)) continue;
        int64_t at = hnsw_beam_insert(b, d, fresh[i]);
        if (at >= 0 && (uint32_t)at < lowest) lowest = (uint32_t)at;
    }
    return lowest;
}

void hnsw_search_layer(const hnsw_graph *g, const hnsw_space *s, const hnsw_query *query, int level,
                       hnsw_beam *b, hnsw_visited *v, const hnsw_sink *sink) {
    uint32_t at = 0;
    while (at < b->size && b->expanded[at]) at++;
    while (at < b->size) {
        b->expanded[at] = 1;
        uint32_t lowest = expand(g, s, query, level, b, v, b->c[at].node, sink);
        if (lowest < at) at = lowest;
        while (at < b->size && b->expanded[at]) at++;
        if (at < b->size) __builtin_prefetch(hnsw_links(g, b->c[at].node, level));
    }
}

bool hnsw_search(const hnsw_graph *g, const hnsw_space *s, const hnsw_query *query, uint32_t cap,
                 hnsw_beam *b, hnsw_visited *v, const hnsw_sink *sink) {
    if (!hnsw_beam_prepare(b, cap) || !hnsw_visited_reset(v, g->capacity)) return false;
    uint64_t top = hnsw_top(g);
    if (top == HNSW_NO_TOP) return true;
    uint32_t node = hnsw_top_node(top);
    float dist = hnsw_node_distance(s, query, node);
    hnsw_greedy(g, s, query, hnsw_top_level(top), 0, &node, &dist);
    hnsw_visit(v, node);
    if (sink) sink->offer(sink->ctx, node, dist);
    hnsw_beam_insert(b, dist, node);
    hnsw_search_layer(g, s, query, 0, b, v, sink);
    return true;
}

/* ---- the neighbour-selection heuristic --------------------------------------------------------- */

static int compare_candidates(const void *a, const void *b) {
    const hnsw_candidate *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    return (x->node > y->node) - (x->node < y->node);
}

/* Sorts candidates nearest first, ties by node (insertion sort for a list's few, which are
 * mostly in order already; qsort for the hundreds a relink gathers). */
static void sort_candidates(hnsw_candidate *c, uint32_t n) {
    if (n > 64) {
        qsort(c, n, sizeof *c, compare_candidates);
        return;
    }
    for (uint32_t i = 1; i < n; i++) {
        hnsw_candidate x = c[i];
        uint32_t j = i;
        for (; j > 0 && compare_candidates(&c[j - 1], &x) > 0; j--) c[j] = c[j - 1];
        c[j] = x;
    }
}

/* Room to take stored nodes as queries, one after another: their decoded vectors (a coded space:
 * d floats each) and their places on the grid (a grid space: d values each). */
typedef struct node_room {
    float *v;
    int16_t *grid;
} node_room;

static bool alloc_rooms(node_room *r, const hnsw_space *s, size_t count) {
    return (!s->codec || (r->v = nearkit_alloc_array(count * s->dimension, sizeof(float))) != NULL) &&
           (!s->grid || (r->grid = nearkit_alloc_array(count * s->dimension, sizeof(int16_t))) != NULL);
}

static void free_room(node_room *r) {
    free(r->v);
    free(r->grid);
}

/* Stored node `node` as a walk's query, decoded and placed in the j-th room of r. */
static hnsw_query node_query(const hnsw_space *s, uint32_t node, const node_room *r, size_t j) {
    size_t at = j * s->dimension;
    return hnsw_walk_query(s, hnsw_node_query(s, node, r->v ? r->v + at : NULL), r->grid ? r->grid + at : NULL);
}

/* A list the heuristic grows: its members (c) and each one as a query (q, made in room as it
 * joins), so a candidate is compared with queries made once per member rather than made itself
 * into a query (a decoding, a placement on the grid) per candidate. Distances are symmetric
 * (bit for bit outside grid spaces: the same graph either way). */
typedef struct member_list {
    hnsw_candidate *c;
    hnsw_query *q;
    node_room room; /* room for M0 members */
} member_list;

/* Whether candidate x (at x.dist from the base node) is nearer the base than to each of the n
 * list members: a neighbour in a direction the list does not cover yet. */
static bool diverse_from(const hnsw_space *s, hnsw_candidate x, const member_list *list, uint32_t n) {
    const uint8_t *v = hnsw_vector(s, x.node);
    for (uint32_t j = 0; j < n; j++)
        if (hnsw_distance(s, &list->q[j], v) < x.dist) return false;
    return true;
}

/* Appends candidate x to the list of n members (up to want: the last is never compared, so
 * it is not made a query); the new length. */
static uint32_t join(const hnsw_space *s, member_list *list, uint32_t n, hnsw_candidate x, uint32_t want) {
    list->c[n] = x;
    if (n + 1 < want) list->q[n] = node_query(s, x.node, &list->room, n);
    return n + 1;
}

/* Keeps, of candidates sorted nearest first (distances to the base node), each one diverse from
 * every one kept before it, up to max: neighbours in distinct directions, so the graph stays
 * navigable across clusters. In place (list->c is c); returns how many are kept. */
static uint32_t select_neighbours(const hnsw_space *s, hnsw_candidate *c, uint32_t n, uint32_t max,
                                  member_list *list) {
    list->c = c;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n && kept < max; i++)
        if (diverse_from(s, c[i], list, kept)) kept = join(s, list, kept, c[i], max);
    return kept;
}

#define TAKEN UINT32_MAX /* a candidate moved into the list (no node has this number) */

/* Appends to a list `kept` (nk entries) each candidate, sorted nearest first, diverse from the
 * list as it grows, up to `want` in all; a candidate taken is marked TAKEN in c. Returns the
 * list's new length. */
static uint32_t add_diverse(const hnsw_space *s, hnsw_candidate *kept, uint32_t nk, hnsw_candidate *c, uint32_t m,
                            uint32_t want, member_list *list) {
    list->c = kept;
    for (uint32_t j = 0; j < nk && nk < want; j++) list->q[j] = node_query(s, kept[j].node, &list->room, j);
    for (uint32_t i = 0; i < m && nk < want; i++)
        if (diverse_from(s, c[i], list, nk)) {
            nk = join(s, list, nk, c[i], want);
            c[i].node = TAKEN;
        }
    return nk;
}

/* ---- inserting --------------------------------------------------------------------------------- */

typedef struct build_worker {
    hnsw_beam beam;
    hnsw_visited visited;
    hnsw_candidate *cand;  /* room for max(ef_construction, M0 + 1), or (M0 + 1)^2 relinking */
    hnsw_candidate *prune; /* room for M0 + 1: a full list and its newcomer */
    hnsw_candidate *chosen; /* a new node's neighbours at every level, till they link back */
    node_room query;       /* a coded space's decoded base node */
    member_list members;   /* the heuristic's list */
} build_worker;

struct hnsw_inserter {
    uint32_t threads;
    build_worker *workers;
};

typedef struct build {
    hnsw_graph *g;
    const hnsw_space *s;
    const uint32_t *nodes;
    build_worker *workers;
} build;

static void free_workers(build_worker *w, uint32_t threads) {
    for (uint32_t t = 0; w && t < threads; t++) {
        hnsw_beam_free(&w[t].beam);
        hnsw_visited_free(&w[t].visited);
        free(w[t].cand);
        free(w[t].prune);
        free(w[t].chosen);
        free_room(&w[t].query);
        free_room(&w[t].members.room);
        free(w[t].members.q);
    }
    free(w);
}

/* Room for a new node's neighbours at every level: M each (level 0 lists hold up to M0 = 2 M,
 * the other half filled by later nodes linking back). */
static size_t chosen_room(const hnsw_graph *g) { return (size_t)HNSW_MAX_LEVEL * g->M; }

/* Per-thread scratch: a beam of `beam` entries, a visited set over the graph's capacity, room
 * for `cand` candidates, decoding room for a coded space. NULL: out of memory. */
static build_worker *new_workers(const hnsw_graph *g, const hnsw_space *s, uint32_t threads, uint32_t beam,
                                 size_t cand) {
    build_worker *w = calloc(threads, sizeof *w);
    bool ok = w != NULL;
    for (uint32_t t = 0; ok && t < threads; t++)
        ok = alloc_rooms(&w[t].query, s, 1) && alloc_rooms(&w[t].members.room, s, g->M0) &&
             (w[t].members.q = nearkit_alloc_array(g->M0, sizeof(hnsw_query))) != NULL &&
             (w[t].cand = nearkit_alloc_array(cand, sizeof(hnsw_candidate))) != NULL &&
             (w[t].prune = nearkit_alloc_array(g->M0 + 1, sizeof(hnsw_candidate))) != NULL &&
             (w[t].chosen = nearkit_alloc_array(chosen_room(g), sizeof(hnsw_candidate))) != NULL &&
             hnsw_beam_prepare(&w[t].beam, beam) && hnsw_visited_reset(&w[t].visited, g->capacity);
    if (ok) return w;
    free_workers(w, threads);
    return NULL;
}

/* Adds `node` (at distance dist) to the list of `to` at a level; a full list is pruned by the
 * heuristic over its members and the newcomer. */
static void add_link(build *b, build_worker *w, uint32_t to, uint32_t node, float dist, int level) {
    hnsw_graph *g = b->g;
    uint32_t max = hnsw_max_links(g, level);
    lock_node(g, to);
    uint32_t *l = hnsw_links(g, to, level);
    uint32_t n = hnsw_word(l);
    if (n < max) {
        hnsw_set_word(l + 1 + n, node);
        hnsw_set_word(l, n + 1);
    } else {
        const hnsw_query base = node_query(b->s, to, &w->query, 0);
        hnsw_candidate *c = w->prune; /* w->cand holds the caller's choice */
        for (uint32_t i = 0; i < n; i++) {
            uint32_t x = hnsw_word(l + 1 + i);
            c[i] = (hnsw_candidate){hnsw_distance(b->s, &base, hnsw_vector(b->s, x)), x};
        }
        c[n] = (hnsw_candidate){dist, node};
        sort_candidates(c, n + 1);
        write_links(g, to, level, c, select_neighbours(b->s, c, n + 1, max, &w->members));
    }
    unlock_node(g, to);
}

/* Chooses a new node's neighbours at one level from the entry *ep (at *dist): beam search of
 * ef_construction, heuristic choice of M, written as the node's own list and kept in `chosen`;
 * how many. The nearest found becomes the next level's entry. */
static uint32_t choose_links(build *b, build_worker *w, const hnsw_query *q, uint32_t node, int level, uint32_t *ep,
                             float *dist, hnsw_candidate *chosen) {
    hnsw_graph *g = b->g;
    hnsw_beam_prepare(&w->beam, g->ef_construction);  /* sized by new_workers: cannot fail */
    hnsw_visited_reset(&w->visited, g->capacity);
    hnsw_visit(&w->visited, node);
    hnsw_visit(&w->visited, *ep);
    hnsw_beam_insert(&w->beam, *dist, *ep);
    hnsw_search_layer(g, b->s, q, level, &w->beam, &w->visited, NULL);
    *ep = w->beam.c[0].node;
    *dist = w->beam.c[0].dist;
    hnsw_candidate *c = w->cand;
    memcpy(c, w->beam.c, w->beam.size * sizeof *c);
    uint32_t kept = select_neighbours(b->s, c, w->beam.size, g->M, &w->members);
    lock_node(g, node);
    write_links(g, node, level, c, kept);
    unlock_node(g, node);
    memcpy(chosen, c, kept * sizeof *c);
    return kept;
}

static void insert_one(build *b, build_worker *w, uint32_t node) {
    hnsw_graph *g = b->g;
    int level = g->level[node];
    uint64_t top = hnsw_top(g);
    if (top == HNSW_NO_TOP) {
        pthread_mutex_lock(&g->top_mutex);
        top = hnsw_top(g);
        if (top == HNSW_NO_TOP) set_top(g, level, node);
        pthread_mutex_unlock(&g->top_mutex);
        if (top == HNSW_NO_TOP) return;
    }
    const hnsw_query q = node_query(b->s, node, &w->query, 0);
    int top_level = hnsw_top_level(top);
    uint32_t ep = hnsw_top_node(top);
    float dist = hnsw_node_distance(b->s, &q, ep);
    hnsw_greedy(g, b->s, &q, top_level, level, &ep, &dist);
    int from = level < top_level ? level : top_level;
    uint32_t kept[HNSW_MAX_LEVEL];
    for (int l = from; l >= 0; l--) kept[l] = choose_links(b, w, &q, node, l, &ep, &dist, w->chosen + (size_t)l * g->M);
    /* Only now does any list lead to the node: whoever reaches it, a search or another insert
     * descending through it, finds its lists whole at every level. (Linking back level by level
     * would let a greedy descent stop at a node whose level-0 list is still empty.) */
    for (int l = from; l >= 0; l--)
        for (uint32_t i = 0; i < kept[l]; i++) {
            const hnsw_candidate *c = &w->chosen[(size_t)l * g->M + i];
            add_link(b, w, c->node, node, c->dist, l);
        }
    if (level > top_level) {
        pthread_mutex_lock(&g->top_mutex);
        if (level > hnsw_top_level(hnsw_top(g))) set_top(g, level, node);
        pthread_mutex_unlock(&g->top_mutex);
    }
}

static void insert_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    build *b = ctx;
    for (uint64_t i = begin; i < end; i++) insert_one(b, &b->workers[worker], b->nodes[i]);
}

/* the same, for tasks numbered from the batch's second node */
static void insert_rest(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    insert_range(ctx, begin + 1, end + 1, worker);
}

#define INSERT_CHUNK 8 /* nodes per task: small, so threads share a batch evenly */

hnsw_inserter *hnsw_inserter_new(const hnsw_graph *g, const hnsw_space *s, uint32_t threads) {
    hnsw_inserter *ins = calloc(1, sizeof *ins);
    if (!ins) return NULL;
    size_t room = g->ef_construction > g->M0 + 1 ? g->ef_construction : g->M0 + 1;
    ins->threads = threads;
    ins->workers = new_workers(g, s, threads, g->ef_construction, room);
    if (ins->workers) return ins;
    free(ins);
    return NULL;
}

void hnsw_inserter_free(hnsw_inserter *ins) {
    if (!ins) return;
    free_workers(ins->workers, ins->threads);
    free(ins);
}

void hnsw_insert(hnsw_inserter *ins, hnsw_graph *g, const hnsw_space *s, const uint32_t *nodes, uint64_t n) {
    if (n == 0) return;
    build b = {.g = g, .s = s, .nodes = nodes, .workers = ins->workers};
    /* the first node alone, so that the others find an entry point at once */
    insert_range(&b, 0, 1, 0);
    if (ins->threads == 1 || n < 4 * INSERT_CHUNK) insert_range(&b, 1, n, 0);
    else nearkit_parallel_for(ins->threads, n - 1, INSERT_CHUNK, insert_rest, &b);
}

/* ---- removing ---------------------------------------------------------------------------------- */

typedef struct unlink_pass {
    hnsw_graph *g;
    const hnsw_space *s;
    const uint8_t *gone;
    uint64_t node_count;
    build_worker *workers; /* cand: room for (M0 + 1) squared */
} unlink_pass;

/* Relinks node u at a level if its list holds removed nodes. Its remaining neighbours all stay:
 * re-choosing the whole list by the heuristic would drop the links later nodes added back
 * without it (lists fill to max before anything is pruned), and a churned graph would thin out
 * round after round (mean degree 19 -> 13 after five rounds of 10%). The removed neighbours'
 * places go to candidates two steps away (through any neighbour: through the removed ones only,
 * recall still slipped by about 0.015 over five rounds), nearest first: those the heuristic
 * keeps beside the list first, then the nearest others, until the list is as long as it was. */
static void relink(unlink_pass *p, build_worker *w, uint32_t u, int level) {
    hnsw_graph *g = p->g;
    uint32_t nb[2 * HNSW_MAX_M], nb2[2 * HNSW_MAX_M];
    uint32_t n = hnsw_read_links(g, u, level, nb), gone = 0;
    for (uint32_t i = 0; i < n; i++) gone += p->gone[nb[i]];
    if (!gone) return;
    hnsw_visited_reset(&w->visited, p->g->capacity); /* sized when the workers were made */
    hnsw_visit(&w->visited, u);
    const hnsw_query base = node_query(p->s, u, &w->query, 0);
    hnsw_candidate *kept = w->prune, *c = w->cand; /* the list as it stays; the candidates */
    uint32_t nk = 0, m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!p->gone[nb[i]] && hnsw_visit(&w->visited, nb[i])) kept[nk++].node = nb[i];
    for (uint32_t i = 0; i < n; i++) { /* two steps away, through any neighbour */
        uint32_t n2 = hnsw_read_links(g, nb[i], level, nb2);
        for (uint32_t j = 0; j < n2; j++)
            if (!p->gone[nb2[j]] && hnsw_visit(&w->visited, nb2[j])) c[m++].node = nb2[j];
    }
    for (uint32_t i = 0; i < nk; i++) kept[i].dist = hnsw_distance(p->s, &base, hnsw_vector(p->s, kept[i].node));
    for (uint32_t i = 0; i < m; i++) c[i].dist = hnsw_distance(p->s, &base, hnsw_vector(p->s, c[i].node));
    sort_candidates(c, m);
    uint32_t want = n < hnsw_max_links(g, level) ? n : hnsw_max_links(g, level);
    nk = add_diverse(p->s, kept, nk, c, m, want, &w->members);
    for (uint32_t i = 0; i < m && nk < want; i++) /* the heuristic's leftovers, nearest first */
        if (c[i].node != TAKEN) kept[nk++] = c[i];
    sort_candidates(kept, nk);
    write_links(g, u, level, kept, nk);
}

static void relink_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    unlink_pass *p = ctx;
    for (uint64_t u = begin; u < end; u++) {
        uint8_t level = p->g->level[u];
        if (level == HNSW_FREE_LEVEL || p->gone[u]) continue;
        for (int l = 0; l <= level; l++) relink(p, &p->workers[worker], (uint32_t)u, l);
    }
}

/* The entry point after removal: a remaining node of the highest level. */
static void choose_top(hnsw_graph *g, uint64_t node_count) {
    int best = -1;
    uint32_t node = 0;
    for (uint64_t u = 0; u < node_count; u++)
        if (g->level[u] != HNSW_FREE_LEVEL && (int)g->level[u] > best) {
            best = g->level[u];
            node = (uint32_t)u;
        }
    if (best < 0) g->top = HNSW_NO_TOP;
    else set_top(g, best, node);
}

nearkit_status hnsw_unlink(hnsw_graph *g, const hnsw_space *s, const uint8_t *gone, uint64_t node_count,
                           uint32_t threads) {
    unlink_pass p = {.g = g, .s = s, .gone = gone, .node_count = node_count};
    p.workers = new_workers(g, s, threads, 1, (size_t)(g->M0 + 1) * (g->M0 + 1));
    if (!p.workers) return nearkit_oom(); /* nothing changed yet */
    nearkit_parallel_for(threads, node_count, 256, relink_range, &p);
    free_workers(p.workers, threads);
    for (uint64_t u = 0; u < node_count; u++) {
        if (!gone[u]) continue;
        g->links0[u * (1 + g->M0)] = 0;
        free(g->upper[u]);
        g->upper[u] = NULL;
        g->level[u] = HNSW_FREE_LEVEL;
    }
    choose_top(g, node_count);
    return NEARKIT_OK;
}

/* ---- renumbering ------------------------------------------------------------------------------- */

nearkit_status hnsw_renumber(hnsw_graph *g, const uint64_t *kept, uint64_t n, uint64_t old_count) {
    uint32_t *to = nearkit_alloc_array((size_t)old_count, sizeof(uint32_t));
    if (!to) return nearkit_oom();
    for (uint64_t i = 0; i < n; i++) to[kept[i]] = (uint32_t)i;
    size_t stride = 1 + g->M0;
    for (uint64_t u = 0; u < old_count; u++) /* the dropped slots' blocks (all NULL: unlinked) */
        if (g->level[u] == HNSW_FREE_LEVEL) {
            free(g->upper[u]);
            g->upper[u] = NULL;
        }
    for (uint64_t i = 0; i < n; i++) { /* kept[i] >= i, increasing: moves run forwards */
        uint64_t from = kept[i];
        if (from == i) continue;
        memcpy(g->links0 + i * stride, g->links0 + from * stride, stride * sizeof(uint32_t));
        g->upper[i] = g->upper[from];
        g->level[i] = g->level[from];
        g->upper[from] = NULL;
    }
    for (uint64_t u = n; u < old_count; u++) {
        g->links0[u * stride] = 0;
        g->upper[u] = NULL;
        g->level[u] = HNSW_FREE_LEVEL;
    }
    for (uint64_t u = 0; u < n; u++)
        for (int l = 0; l <= g->level[u]; l++) {
            uint32_t *links = hnsw_links(g, (uint32_t)u, l);
            for (uint32_t j = 0; j < links[0]; j++) links[1 + j] = to[links[1 + j]];
        }
    if (g->top != HNSW_NO_TOP) set_top(g, hnsw_top_level(g->top), to[hnsw_top_node(g->top)]);
    free(to);
    return NEARKIT_OK;
}
