/* The BK-tree index (Burkhard-Keller): exact range (threshold) and k-NN search under hamming.
 *
 * Build: a node picks a pivot among its rows (of a few random candidates, the one whose distances
 * to a random sample spread the most) and groups its rows by their exact hamming distance to it,
 * the key. A group of at most leaf_size rows is a leaf bucket; a larger one becomes a child node
 * over those rows; the key-0 group (copies of the pivot) always stays a bucket. Rows are stored
 * in tree order, so every group is one contiguous range and a bucket is scanned with the flat
 * index's hamming *_many kernel: results, ties included, are exactly the flat index's.
 *
 * Search: a row of group `key` is at distance >= |d(q, pivot) - key| from the query (triangle
 * inequality; hamming distances are exact integers, so no rounding margin is needed). A node's
 * groups are visited in order of that bound, nearest first, and the walk stops at the first group
 * beyond the radius (range search) or beyond the k-th distance found so far (k-NN). A key-0
 * bucket needs no distance computation: its rows are at d(q, pivot).
 *
 * Buckets are scanned with the popcount kernel into integer distances, compared with an integer
 * bar (the k-th distance so far, the best, or the radius rounded down) before a row is collected.
 *
 * A living collection. Rows [0, built) are the tree's; rows added since (all of them before the
 * first build) form a tail that every search scans exactly first, into the same heap, so an index
 * is searchable at any time and reports ready. Removing marks rows (their id becomes -1, see
 * search/rows.h): searches skip them, and the keys stay valid because the marked rows' codes are
 * still stored (a marked pivot still routes). Once the index has been built, a writer (add,
 * remove) rebuilds the tree over the live rows, dropping the marked ones, when marked and tail
 * rows together reach a quarter of the rows; compact does it at once. An index never built keeps
 * all its rows in the tail and only drops marked rows (a quarter or more, or on compact). A
 * rebuild that runs out of memory leaves every row in the tail: slower, still exact.
 *
 * Filters: candidates are tested (nearkit_call_admits) before they are collected; with no filter
 * and no marked rows, nothing is tested. Where a filter lets few ids through (at most
 * 1 / GATHER_FRACTION of the live rows), the plan gathers the admitted rows once per call and
 * every query scans just those, exactly.
 *
 * A saved index holds the tree and the rows with their marks, so loading does not rebuild it; the
 * loader checks the structure and every row's key. */
#include "search/driver.h"
#include "base/internal.h"
#include "kernels/kernels.h"
#include "base/random.h"
#include "search/rows.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_TAG NEARKIT_TAG('B', 'K', 'H', 'D')
#define NODES_TAG NEARKIT_TAG('B', 'K', 'N', 'D')
#define EDGES_TAG NEARKIT_TAG('B', 'K', 'E', 'D')

/* Measured on random and clustered codes of 64 and 256 bits, range and k-NN: scanning a group of
 * up to a thousand rows (contiguous, at a few nanoseconds a row) beats splitting it further. */
#define DEFAULT_LEAF_SIZE 1024
#define MAX_LEAF_SIZE 65536
#define NO_CHILD UINT32_MAX
#define PIVOT_SAMPLE 64
#define PARALLEL_SPLIT_ROWS 32768 /* nodes this large compute their keys in parallel */
#define SCAN_BLOCK 256            /* rows of the tail, or gathered rows, a search scans at once */
/* A filter letting at most live rows / GATHER_FRACTION through is answered over its gathered rows:
 * below that, the tree (which must walk on until k admitted rows turn up) is no faster. */
#define GATHER_FRACTION 8

/* A node and its groups (edges), stored as is (little-endian, no padding) in the file. */
typedef struct bk_node {
    uint64_t begin, end;  /* rows [begin, end) in tree order */
    uint64_t pivot;       /* row of the pivot, within [begin, end) */
    uint64_t first_edge;  /* the node's groups: edges [first_edge, first_edge + n_edges) */
    uint32_t n_edges, reserved;
} bk_node;

typedef struct bk_edge {
    uint64_t begin, end; /* rows [begin, end): every row at distance `key` from the node's pivot */
    uint32_t key;        /* keys of a node's edges increase */
    uint32_t child;      /* the node over these rows, or NO_CHILD for a leaf bucket */
} bk_edge;

_Static_assert(sizeof(bk_node) == 40, "bk_node is stored byte for byte");
_Static_assert(sizeof(bk_edge) == 24, "bk_edge is stored byte for byte");

typedef struct bk_impl {
    nearkit_tree_rows store; /* first (search/rows.h): the rows, the built prefix, the tail; ids
                                always explicit: the file always holds IDS, and building permutes */
    bk_node *nodes;
    bk_edge *edges;
    bool borrowed; /* a plain view's nodes and edges: the file's, read-only */
    uint64_t n_nodes, n_edges;
    uint32_t leaf_size;
    uint32_t depth; /* edges from the root to the deepest node */
    uint64_t leaf_count, max_leaf; /* buckets; rows of the largest bucket that is ever scanned */
} bk_impl;

static bk_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

static const nearkit_param_desc bk_params[] = {
    {"leaf_size", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER, 1, MAX_LEAF_SIZE,
     DEFAULT_LEAF_SIZE, "most codes a node keeps as one bucket, scanned with the popcount kernels",
     NULL},
    {"depth", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 4294967295.0, 0,
     "levels of the built tree (0 before build)", NULL},
    {"node_count", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 1e19, 0,
     "nodes of the built tree, leaves included", NULL},
    {"leaf_count", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 1e19, 0,
     "leaves (buckets) of the built tree", NULL},
};
enum { PARAM_LEAF_SIZE, PARAM_DEPTH, PARAM_NODE_COUNT, PARAM_LEAF_COUNT };

/* ---- lifetime ---------------------------------------------------------------------------------- */

static nearkit_status rebuild(nearkit_index *ix);

static nearkit_status bk_create(nearkit_index *ix) {
    bk_impl *t = calloc(1, sizeof *t);
    if (!t) return nearkit_oom();
    t->store.rebuild = rebuild;
    t->leaf_size = DEFAULT_LEAF_SIZE;
    if (nearkit_rows_explicit_ids(&t->store.rows)) {
        free(t);
        return nearkit_oom();
    }
    ix->impl = t;
    return NEARKIT_OK;
}

static void forget_tree(bk_impl *t) {
    if (!t->borrowed) {
        free(t->nodes);
        free(t->edges);
    }
    t->nodes = NULL;
    t->edges = NULL;
    t->borrowed = false;
    t->n_nodes = t->n_edges = t->store.built = t->leaf_count = t->max_leaf = 0;
    t->depth = 0;
}

static void bk_destroy(nearkit_index *ix) {
    bk_impl *t = impl_of(ix);
    if (!t) return;
    forget_tree(t);
    nearkit_rows_free(&t->store.rows);
    free(t);
}

/* Always: rows outside the tree are scanned exactly. */
static bool bk_is_ready(const nearkit_index *ix) {
    (void)ix;
    return true;
}

static uint64_t bk_count(const nearkit_index *ix) { return nearkit_rows_live(&impl_of(ix)->store.rows); }

static uint64_t bk_memory(const nearkit_index *ix) {
    const bk_impl *t = impl_of(ix);
    uint64_t tree = t->borrowed ? 0 : t->n_nodes * sizeof(bk_node) + t->n_edges * sizeof(bk_edge);
    return sizeof *t + nearkit_rows_memory(&t->store.rows, ix) + tree;
}

static uint32_t hamming(const nearkit_kernel_table *kt, const nearkit_index *ix, const void *a,
                        const void *b) {
    return kt->hamming(a, b, (size_t)ix->vector_bytes);
}

/* ---- build ------------------------------------------------------------------------------------- */

typedef struct bk_builder {
    const nearkit_index *ix;
    const nearkit_kernel_table *kt;
    const uint8_t *vectors; /* rows in storage order */
    uint64_t *perm;         /* the tree order being built, as storage rows */
    uint32_t *key;          /* key[i]: distance of row perm[i] to the pivot of its node */
    uint64_t *perm_tmp;     /* scratch for the grouping; ranges of parallel tasks are disjoint */
    uint32_t *key_tmp;
    uint32_t leaf_size, threads;
} bk_builder;

/* Nodes and edges of a (sub)tree, and the nodes still to build below it. */
typedef struct bk_list {
    bk_node *nodes;
    bk_edge *edges;
    uint64_t n_nodes, n_edges, cap_nodes, cap_edges;
} bk_list;

typedef struct bk_work {
    uint64_t begin, end;
    uint64_t edge; /* the edge in the list whose child this node becomes; UINT64_MAX: a root */
} bk_work;

typedef struct bk_worklist {
    bk_work *items;
    uint64_t size, cap;
} bk_worklist;

/* Room for `need` items of `size` bytes: the array, moved if it had to grow, or NULL (the old
 * array untouched) when out of memory. */
static void *grow(void *items, uint64_t *cap, uint64_t need, size_t size) {
    if (need <= *cap) return items;
    uint64_t n = *cap ? *cap * 2 : 64;
    if (n < need) n = need;
    void *grown = nearkit_alloc_array((size_t)n, size);
    if (!grown) return NULL;
    if (*cap) memcpy(grown, items, (size_t)*cap * size);
    free(items);
    *cap = n;
    return grown;
}

static bool push_work(bk_worklist *w, uint64_t begin, uint64_t end, uint64_t edge) {
    bk_work *items = grow(w->items, &w->cap, w->size + 1, sizeof *items);
    if (!items) return false;
    w->items = items;
    w->items[w->size++] = (bk_work){begin, end, edge};
    return true;
}

static const uint8_t *row_vector(const bk_builder *b, uint64_t pos) {
    return b->vectors + b->perm[pos] * b->ix->vector_bytes;
}

/* The position in [begin, end) of the pivot: of a few random candidates, the one whose distances
 * to a random sample have the largest variance (more distinct keys, smaller groups). */
static uint64_t choose_pivot(const bk_builder *b, uint64_t begin, uint64_t end) {
    uint64_t n = end - begin;
    uint64_t rng = nearkit_node_random(b->ix->seed, begin, end);
    int candidates = n >= 8192 ? 8 : n >= 1024 ? 4 : n >= 128 ? 2 : 1;
    uint64_t best = begin + nearkit_next_random(&rng) % n;
    if (candidates == 1) return best;
    uint64_t sample[PIVOT_SAMPLE];
    int samples = n < PIVOT_SAMPLE ? (int)n : PIVOT_SAMPLE;
    for (int s = 0; s < samples; s++) sample[s] = begin + nearkit_next_random(&rng) % n;
    double best_spread = -1;
    for (int c = 0; c < candidates; c++) {
        uint64_t pos = c == 0 ? best : begin + nearkit_next_random(&rng) % n;
        double sum = 0, sum_sq = 0;
        for (int s = 0; s < samples; s++) {
            double d = hamming(b->kt, b->ix, row_vector(b, pos), row_vector(b, sample[s]));
            sum += d;
            sum_sq += d * d;
        }
        double spread = sum_sq / samples - (sum / samples) * (sum / samples);
        if (spread > best_spread) {
            best_spread = spread;
            best = pos;
        }
    }
    return best;
}

typedef struct key_pass {
    const bk_builder *b;
    const uint8_t *pivot;
    uint64_t begin;
} key_pass;

static void keys_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    const key_pass *p = ctx;
    for (uint64_t i = p->begin + begin; i < p->begin + end; i++)
        p->b->key[i] = hamming(p->b->kt, p->b->ix, p->pivot, row_vector(p->b, i));
}

/* Orders rows [begin, end) by key, stably (counting sort over the keys present). */
static bool group_by_key(bk_builder *b, uint64_t begin, uint64_t end) {
    uint32_t lo = UINT32_MAX, hi = 0;
    for (uint64_t i = begin; i < end; i++) {
        if (b->key[i] < lo) lo = b->key[i];
        if (b->key[i] > hi) hi = b->key[i];
    }
    uint64_t *start = calloc((size_t)(hi - lo) + 2, sizeof *start);
    if (!start) return false;
    for (uint64_t i = begin; i < end; i++) start[b->key[i] - lo + 1]++;
    for (uint64_t k = 1; k <= (uint64_t)(hi - lo) + 1; k++) start[k] += start[k - 1];
    for (uint64_t i = begin; i < end; i++) {
        uint64_t at = begin + start[b->key[i] - lo]++;
        b->perm_tmp[at] = b->perm[i];
        b->key_tmp[at] = b->key[i];
    }
    free(start);
    memcpy(b->perm + begin, b->perm_tmp + begin, (size_t)(end - begin) * sizeof *b->perm);
    memcpy(b->key + begin, b->key_tmp + begin, (size_t)(end - begin) * sizeof *b->key);
    return true;
}

/* Builds the node of one work item into l: groups its rows and adds its edges; groups larger
 * than the leaf size (key > 0) go to `deeper`, or to `tasks` when at most task_rows long. */
static bool build_node(bk_builder *b, bk_list *l, const bk_work *w, bk_worklist *deeper,
                       bk_worklist *tasks, uint64_t task_rows, bool parallel) {
    bk_node *nodes = grow(l->nodes, &l->cap_nodes, l->n_nodes + 1, sizeof *nodes);
    if (!nodes || l->n_nodes >= NO_CHILD) return false;
    l->nodes = nodes;
    uint64_t at = l->n_nodes++;
    uint64_t pivot = b->perm[choose_pivot(b, w->begin, w->end)];
    key_pass pass = {b, b->vectors + pivot * b->ix->vector_bytes, w->begin};
    if (parallel) nearkit_parallel_for(b->threads, w->end - w->begin, 4096, keys_range, &pass);
    else keys_range(&pass, 0, w->end - w->begin, 0);
    if (!group_by_key(b, w->begin, w->end)) return false;
    bk_node node = {.begin = w->begin, .end = w->end, .pivot = pivot, .first_edge = l->n_edges};
    for (uint64_t i = w->begin; i < w->end;) {
        uint64_t j = i;
        while (j < w->end && b->key[j] == b->key[i]) j++;
        bk_edge *edges = grow(l->edges, &l->cap_edges, l->n_edges + 1, sizeof *edges);
        if (!edges) return false;
        l->edges = edges;
        uint64_t e = l->n_edges++;
        l->edges[e] = (bk_edge){.begin = i, .end = j, .key = b->key[i], .child = NO_CHILD};
        if (b->key[i] != 0 && j - i > b->leaf_size) {
            bk_worklist *to = tasks && j - i <= task_rows ? tasks : deeper;
            if (!push_work(to, i, j, e)) return false;
        }
        node.n_edges++;
        i = j;
    }
    l->nodes[at] = node;
    if (w->edge != UINT64_MAX) l->edges[w->edge].child = (uint32_t)at;
    return true;
}

/* Builds every node reachable from the pending work (LIFO: memory stays proportional to the
 * tree's depth times its fan-out, whatever its shape). */
static bool build_all(bk_builder *b, bk_list *l, bk_worklist *work, bk_worklist *tasks,
                      uint64_t task_rows) {
    while (work->size > 0) {
        bk_work w = work->items[--work->size];
        if (!build_node(b, l, &w, work, tasks, task_rows, tasks && w.end - w.begin >= PARALLEL_SPLIT_ROWS))
            return false;
    }
    return true;
}

/* A subtree built on its own by one thread, then spliced below its parent edge. */
typedef struct bk_task {
    bk_work root; /* root.edge: the parent edge among the top list's edges */
    bk_list list;
    bool failed;
} bk_task;

typedef struct task_run {
    bk_builder *b;
    bk_task *tasks;
} task_run;

static void run_tasks(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    task_run *r = ctx;
    for (uint64_t i = begin; i < end; i++) {
        bk_task *t = &r->tasks[i];
        bk_worklist work = {0};
        bk_work root = t->root;
        root.edge = UINT64_MAX;
        t->failed = !push_work(&work, root.begin, root.end, root.edge) ||
                    !build_all(r->b, &t->list, &work, NULL, 0);
        free(work.items);
    }
}

/* Renumbers the nodes and edges of the top list and the tasks' lists in pre-order (a node, then
 * the subtrees of its groups by increasing key), so the layout does not depend on how the build
 * was split across threads, and a node's edges follow those of the nodes before it. */
static bool canonical_order(bk_impl *t, const bk_list *top, const bk_task *tasks, uint64_t n_tasks) {
    /* one numbering over all lists: list 0 is the top, list i + 1 task i */
    uint64_t n_lists = n_tasks + 1, total_nodes = 0, total_edges = 0;
    uint64_t *node_base = nearkit_alloc_array((size_t)n_lists, sizeof *node_base);
    uint64_t *edge_base = nearkit_alloc_array((size_t)n_lists, sizeof *edge_base);
    bool ok = node_base && edge_base;
    for (uint64_t i = 0; ok && i < n_lists; i++) {
        const bk_list *l = i == 0 ? top : &tasks[i - 1].list;
        node_base[i] = total_nodes;
        edge_base[i] = total_edges;
        total_nodes += l->n_nodes;
        total_edges += l->n_edges;
    }
    ok = ok && total_nodes < NO_CHILD;
    bk_node *all_nodes = ok ? nearkit_alloc_array((size_t)total_nodes, sizeof *all_nodes) : NULL;
    bk_edge *all_edges = ok ? nearkit_alloc_array((size_t)total_edges, sizeof *all_edges) : NULL;
    bk_node *nodes = ok ? nearkit_alloc_array((size_t)total_nodes, sizeof *nodes) : NULL;
    bk_edge *edges = ok ? nearkit_alloc_array((size_t)total_edges, sizeof *edges) : NULL;
    uint64_t *stack = ok ? nearkit_alloc_array((size_t)total_nodes, 2 * sizeof *stack) : NULL;
    ok = ok && all_nodes && all_edges && nodes && edges && stack;
    if (ok) {
        /* gather everything with global indices; a task's root hangs below its top edge */
        for (uint64_t i = 0; i < n_lists; i++) {
            const bk_list *l = i == 0 ? top : &tasks[i - 1].list;
            for (uint64_t j = 0; j < l->n_nodes; j++) {
                all_nodes[node_base[i] + j] = l->nodes[j];
                all_nodes[node_base[i] + j].first_edge += edge_base[i];
            }
            for (uint64_t j = 0; j < l->n_edges; j++) {
                bk_edge e = l->edges[j];
                if (e.child != NO_CHILD) e.child += (uint32_t)node_base[i];
                all_edges[edge_base[i] + j] = e;
            }
        }
        for (uint64_t i = 0; i < n_tasks; i++)
            if (tasks[i].root.edge != UINT64_MAX)
                all_edges[tasks[i].root.edge].child = (uint32_t)node_base[i + 1];
        /* the root: the top list's first node, or the only task's */
        uint64_t top_at = 0, next_node = 0, next_edge = 0;
        stack[top_at++] = 0;
        stack[top_at++] = UINT64_MAX;
        while (top_at > 0) {
            uint64_t link = stack[--top_at], old = stack[--top_at], at = next_node++;
            bk_node nd = all_nodes[old];
            uint64_t first = nd.first_edge;
            nd.first_edge = next_edge;
            nodes[at] = nd;
            if (link != UINT64_MAX) edges[link].child = (uint32_t)at;
            for (uint32_t j = 0; j < nd.n_edges; j++) edges[next_edge + j] = all_edges[first + j];
            for (uint32_t j = nd.n_edges; j-- > 0;) {
                if (all_edges[first + j].child == NO_CHILD) continue;
                stack[top_at++] = all_edges[first + j].child;
                stack[top_at++] = next_edge + j;
            }
            next_edge += nd.n_edges;
        }
        forget_tree(t);
        t->nodes = nodes;
        t->edges = edges;
        t->n_nodes = total_nodes;
        t->n_edges = total_edges;
        nodes = NULL;
        edges = NULL;
    }
    free(node_base), free(edge_base), free(all_nodes), free(all_edges);
    free(nodes), free(edges), free(stack);
    return ok;
}

static void free_list(bk_list *l) {
    free(l->nodes);
    free(l->edges);
}

/* Builds the tree over rows [0, n) into t (nodes, edges; pivots as storage rows) and leaves
 * perm holding the tree order. */
static nearkit_status build_tree(const nearkit_index *ix, uint64_t *perm, uint32_t *key, uint64_t *perm_tmp,
                                 uint32_t *key_tmp, uint64_t n) {
    bk_impl *t = impl_of(ix);
    bk_builder b = {.ix = ix, .kt = nearkit_kernels(), .vectors = t->store.rows.vectors, .perm = perm, .key = key,
                    .perm_tmp = perm_tmp, .key_tmp = key_tmp, .leaf_size = t->leaf_size,
                    .threads = nearkit_resolve_threads(ix->num_threads)};
    uint64_t task_rows = b.threads > 1 ? n / ((uint64_t)b.threads * 8) : n;
    if (task_rows < 1024) task_rows = 1024;
    bk_list top = {0};
    bk_worklist work = {0}, task_work = {0};
    bool ok;
    if (n <= task_rows) {
        ok = push_work(&task_work, 0, n, UINT64_MAX);
    } else {
        ok = push_work(&work, 0, n, UINT64_MAX) && build_all(&b, &top, &work, &task_work, task_rows);
    }
    bk_task *tasks = ok ? calloc((size_t)task_work.size + 1, sizeof *tasks) : NULL;
    ok = ok && tasks;
    if (ok) {
        for (uint64_t i = 0; i < task_work.size; i++) tasks[i].root = task_work.items[i];
        task_run run = {&b, tasks};
        nearkit_parallel_for(b.threads, task_work.size, 1, run_tasks, &run);
        for (uint64_t i = 0; i < task_work.size; i++) ok = ok && !tasks[i].failed;
    }
    ok = ok && canonical_order(t, &top, tasks, task_work.size);
    for (uint64_t i = 0; tasks && i < task_work.size; i++) free_list(&tasks[i].list);
    free(tasks);
    free_list(&top);
    free(work.items);
    free(task_work.items);
    return ok ? NEARKIT_OK : nearkit_oom();
}

/* Checks the structure of a tree over rows [0, built) and computes its statistics: the root
 * covers every row; a node's edges follow those of the nodes before it and split its range into
 * non-empty groups of increasing keys (at most the dimension); a child node covers exactly its
 * edge's rows, comes after its parent and has no other parent. So the buckets partition the
 * rows. */
static nearkit_status check_structure(bk_impl *t, uint32_t bits) {
    if (t->store.built == 0 || t->n_nodes == 0 || t->n_edges == 0)
        return t->store.built == 0 && t->n_nodes == 0 && t->n_edges == 0
                   ? NEARKIT_OK
                   : nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                       "corrupt index: %llu nodes and %llu edges for %llu rows",
                                       (unsigned long long)t->n_nodes, (unsigned long long)t->n_edges,
                                       (unsigned long long)t->store.built);
    uint32_t *depth = calloc((size_t)t->n_nodes, sizeof *depth);
    if (!depth) return nearkit_oom();
    bool ok = t->nodes[0].begin == 0 && t->nodes[0].end == t->store.built;
    uint64_t next_edge = 0, leaves = 0, max_leaf = 0;
    uint32_t max_depth = 0;
    for (uint64_t i = 0; ok && i < t->n_nodes; i++) {
        const bk_node *nd = &t->nodes[i];
        ok = (i == 0 || depth[i] > 0) && nd->begin < nd->end && nd->end <= t->store.built &&
             nd->pivot >= nd->begin && nd->pivot < nd->end && nd->first_edge == next_edge &&
             nd->n_edges > 0 && nd->n_edges <= t->n_edges - next_edge && nd->reserved == 0;
        if (depth[i] > max_depth) max_depth = depth[i];
        for (uint32_t j = 0; ok && j < nd->n_edges; j++) {
            const bk_edge *e = &t->edges[nd->first_edge + j];
            const bk_edge *prev = j > 0 ? e - 1 : NULL;
            ok = e->begin < e->end && e->key <= bits && e->begin == (prev ? prev->end : nd->begin) &&
                 (!prev || e->key > prev->key) && (j + 1 < nd->n_edges || e->end == nd->end);
            if (!ok) break;
            if (e->child == NO_CHILD) {
                leaves++;
                if (e->key != 0 && e->end - e->begin > max_leaf) max_leaf = e->end - e->begin;
                continue;
            }
            ok = e->child > i && e->child < t->n_nodes && depth[e->child] == 0 &&
                 depth[i] < UINT32_MAX - 1 && t->nodes[e->child].begin == e->begin &&
                 t->nodes[e->child].end == e->end;
            if (ok) depth[e->child] = depth[i] + 1;
        }
        next_edge += nd->n_edges;
    }
    ok = ok && next_edge == t->n_edges;
    free(depth);
    if (!ok)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: the tree's nodes do not form a bk-tree over its rows");
    t->leaf_count = leaves;
    t->max_leaf = max_leaf;
    t->depth = max_depth;
    return NEARKIT_OK;
}

/* Builds the tree over every row (none of them marked), reordering the rows into tree order. */
static nearkit_status index_rows(nearkit_index *ix) {
    bk_impl *t = impl_of(ix);
    uint64_t n = t->store.rows.count;
    if (n == 0) return NEARKIT_OK;
    uint64_t *perm = nearkit_alloc_array((size_t)n, sizeof *perm);
    uint64_t *perm_tmp = nearkit_alloc_array((size_t)n, sizeof *perm_tmp);
    uint32_t *key = nearkit_alloc_array((size_t)n, sizeof *key);
    uint32_t *key_tmp = nearkit_alloc_array((size_t)n, sizeof *key_tmp);
    nearkit_status st = perm && perm_tmp && key && key_tmp ? NEARKIT_OK : nearkit_oom();
    if (!st) {
        for (uint64_t i = 0; i < n; i++) perm[i] = i;
        st = build_tree(ix, perm, key, perm_tmp, key_tmp, n);
    }
    if (!st) st = nearkit_rows_permute(&t->store.rows, ix, perm, n);
    if (!st) {
        uint64_t *where = perm_tmp; /* where[storage row] = tree row */
        for (uint64_t i = 0; i < n; i++) where[perm[i]] = i;
        for (uint64_t i = 0; i < t->n_nodes; i++) t->nodes[i].pivot = where[t->nodes[i].pivot];
        t->store.built = n;
        st = check_structure(t, ix->dimension);
        if (st) st = nearkit_set_error(NEARKIT_ERR_INTERNAL, "bk-tree build produced an invalid tree");
    }
    if (st) forget_tree(t);
    free(perm), free(perm_tmp), free(key), free(key_tmp);
    return st;
}

/* ---- a living collection ----------------------------------------------------------------------- */

/* Rebuilds the tree over the live rows, dropping the marked ones. On failure every row is left
 * in the tail, which searches scan exactly. */
static nearkit_status rebuild(nearkit_index *ix) {
    bk_impl *t = impl_of(ix);
    forget_tree(t);
    if (t->store.rows.removed > 0) nearkit_rows_compact(&t->store.rows, ix, NULL);
    return index_rows(ix);
}

static nearkit_status bk_build(nearkit_index *ix) {
    bk_impl *t = impl_of(ix);
    t->store.maintained = true;
    return t->store.built == t->store.rows.count ? NEARKIT_OK : rebuild(ix);
}

/* ---- search ------------------------------------------------------------------------------------ */

/* Where a search is in one node: its groups are taken in order of |delta - key|, from the two
 * edges around delta outwards. */
typedef struct bk_frame {
    uint64_t node;
    double bound;  /* lower bound on the distance of the query to the node's rows */
    uint32_t delta; /* distance of the query to the pivot */
    uint64_t below, above; /* next edges to take: keys < delta (below - 1, downwards) and >= delta */
} bk_frame;

typedef enum { COLLECT_KNN, COLLECT_NEAREST, COLLECT_RANGE } collect_mode;

/* A call's plan: the rows a filter admits, gathered once when it admits few. */
typedef struct bk_plan {
    uint64_t *positions; /* NULL: search the tree and the tail */
    uint64_t n;
} bk_plan;

static bool plan_call(nearkit_search_call *c, void *plan) {
    const bk_impl *t = impl_of(c->ix);
    bk_plan *p = plan;
    if (!c->admit || c->admit->most > nearkit_rows_live(&t->store.rows) / GATHER_FRACTION) return true;
    return nearkit_rows_admitted(&p->positions, &p->n, &t->store.rows, c, 0, t->store.rows.count) == NEARKIT_OK;
}

static void plan_free(void *plan) { free(((bk_plan *)plan)->positions); }

/* One worker's scratch for a search call, and what it collects. */
typedef struct bk_searcher {
    const nearkit_index *ix;
    const bk_impl *t;
    const nearkit_kernel_table *kt;
    const nearkit_search_call *call;
    const bk_plan *plan;
    bool checking;    /* candidates pass nearkit_call_admits: the call filters, or rows are marked */
    uint32_t *ints;   /* max(max_leaf, SCAN_BLOCK) distances */
    bk_frame *frames; /* depth + 1 */
    collect_mode mode;
    nearkit_topk heap;  /* k-NN */
    float *heap_dist;
    uint64_t *heap_pos;
    uint32_t best;      /* 1-NN */
    uint64_t best_row;
    uint64_t query;     /* range */
    uint32_t radius;    /* range: the largest distance within the radius */
    bool failed;
    size_t scan, frames_held, k; /* what the buffers hold */
} bk_searcher;

static void searcher_free(void *scratch) {
    bk_searcher *s = scratch;
    free(s->ints);
    free(s->frames);
    free(s->heap_dist);
    free(s->heap_pos);
    free(s);
}

/* Distances a leaf or a block of rows needs room for. */
static size_t scan_rows(const bk_impl *t) { return t->max_leaf > SCAN_BLOCK ? (size_t)t->max_leaf : SCAN_BLOCK; }

static collect_mode mode_of(const nearkit_search_call *c) {
    return c->matches ? COLLECT_RANGE : c->k == 1 ? COLLECT_NEAREST : COLLECT_KNN;
}

/* Points the searcher at call c (its buffers made already). */
static void searcher_aim(bk_searcher *s, const nearkit_search_call *c) {
    const bk_impl *t = impl_of(c->ix);
    s->ix = c->ix;
    s->t = t;
    s->kt = nearkit_kernels();
    s->call = c;
    s->plan = c->state;
    s->checking = c->admit || t->store.rows.removed > 0;
    s->mode = mode_of(c);
    /* hamming distances are integers: d <= radius exactly when d <= floor(radius) */
    s->radius = c->radius >= 4294967295.0f ? UINT32_MAX : c->radius >= 0 ? (uint32_t)c->radius : 0;
    s->failed = false;
}

static void *searcher_new(const nearkit_search_call *c) {
    const bk_impl *t = impl_of(c->ix);
    bk_searcher *s = malloc(sizeof *s);
    if (!s) return NULL;
    size_t scan = scan_rows(t), frames = (size_t)t->depth + 1;
    *s = (bk_searcher){.scan = scan, .frames_held = frames, .k = (size_t)c->k,
                       .ints = nearkit_alloc_array(scan, sizeof(uint32_t)),
                       .frames = nearkit_alloc_array(frames, sizeof(bk_frame))};
    if (mode_of(c) == COLLECT_KNN) {
        s->heap_dist = nearkit_alloc_array((size_t)c->k, sizeof(float));
        s->heap_pos = nearkit_alloc_array((size_t)c->k, sizeof(uint64_t));
    }
    if (!s->ints || !s->frames || (mode_of(c) == COLLECT_KNN && (!s->heap_dist || !s->heap_pos))) {
        searcher_free(s);
        return NULL;
    }
    searcher_aim(s, c);
    return s;
}

/* A searcher kept from an earlier call serves one with the same k, no larger leaves and no
 * deeper tree. */
static bool searcher_reuse(void *scratch, const nearkit_search_call *c) {
    bk_searcher *s = scratch;
    const bk_impl *t = impl_of(c->ix);
    if (s->k != c->k || s->scan < scan_rows(t) || s->frames_held < (size_t)t->depth + 1) return false;
    searcher_aim(s, c);
    return true;
}

/* The largest distance still collected. */
static uint32_t collect_bar(const bk_searcher *s) {
    switch (s->mode) {
    case COLLECT_KNN: return s->heap.size < s->heap.cap ? UINT32_MAX : (uint32_t)s->heap.dist[0];
    case COLLECT_NEAREST: return s->best_row == UINT64_MAX ? UINT32_MAX : s->best;
    default: return s->radius;
    }
}

/* Collects a row within the bar. */
static void collect(bk_searcher *s, uint32_t d, uint64_t row) {
    const int64_t *ids = s->t->store.rows.ids;
    switch (s->mode) {
    case COLLECT_KNN: nearkit_topk_push(&s->heap, (float)d, row); break;
    case COLLECT_NEAREST:
        if (s->best_row == UINT64_MAX || d < s->best || (d == s->best && ids[row] < ids[s->best_row])) {
            s->best = d;
            s->best_row = row;
        }
        break;
    default:
        if (!nearkit_add_match(s->call, s->query, ids[row], (float)d)) s->failed = true;
        break;
    }
}

/* Collects, of n rows at distances dist[i], those within the bar (and admitted, when the call
 * checks): rows positions[i], or first + i when positions is NULL. */
static void collect_rows(bk_searcher *s, const uint32_t *dist, const uint64_t *positions, uint64_t first,
                         size_t n) {
    uint32_t bar = collect_bar(s);
    for (size_t i = 0; i < n; i++) {
        if (dist[i] > bar) continue; /* the common case */
        uint64_t row = positions ? positions[i] : first + i;
        if (s->checking && !nearkit_call_admits(s->call, s->t->store.rows.ids[row])) continue;
        collect(s, dist[i], row);
        bar = collect_bar(s);
    }
}

/* Collects the rows of a bucket. Rows of a key-0 bucket are copies of the pivot: all at delta. */
static void collect_bucket(bk_searcher *s, const void *q, const bk_edge *e, uint32_t delta) {
    size_t n = (size_t)(e->end - e->begin);
    if (e->key == 0) {
        for (size_t i = 0; i < n; i++) collect_rows(s, &delta, NULL, e->begin + i, 1);
        return;
    }
    s->kt->hamming_many(s->ints, q, nearkit_rows_at(&s->t->store.rows, s->ix, e->begin), n,
                        (size_t)s->ix->vector_bytes);
    collect_rows(s, s->ints, NULL, e->begin, n);
}

/* Collects the tail: the rows added since the tree was built. */
static void collect_tail(bk_searcher *s, const void *q) {
    const nearkit_rows *rows = &s->t->store.rows;
    for (uint64_t first = s->t->store.built; first < rows->count && !s->failed; first += SCAN_BLOCK) {
        uint64_t left = rows->count - first;
        size_t n = left < SCAN_BLOCK ? (size_t)left : SCAN_BLOCK;
        s->kt->hamming_many(s->ints, q, nearkit_rows_at(rows, s->ix, first), n, (size_t)s->ix->vector_bytes);
        collect_rows(s, s->ints, NULL, first, n);
    }
}

/* Collects the plan's gathered rows (the only ones the call admits). */
static void collect_gathered(bk_searcher *s, const void *q) {
    const nearkit_rows *rows = &s->t->store.rows;
    for (uint64_t i = 0; i < s->plan->n && !s->failed; i += SCAN_BLOCK) {
        uint64_t left = s->plan->n - i;
        size_t n = left < SCAN_BLOCK ? (size_t)left : SCAN_BLOCK;
        const uint64_t *positions = s->plan->positions + i;
        for (size_t j = 0; j < n; j++) s->ints[j] = hamming(s->kt, s->ix, q, nearkit_rows_at(rows, s->ix, positions[j]));
        collect_rows(s, s->ints, positions, 0, n);
    }
}

static void enter(const bk_searcher *s, bk_frame *f, uint64_t node, double bound, const void *q) {
    const bk_node *nd = &s->t->nodes[node];
    const bk_edge *edges = s->t->edges;
    uint32_t delta = hamming(s->kt, s->ix, q, nearkit_rows_at(&s->t->store.rows, s->ix, nd->pivot));
    uint64_t lo = nd->first_edge, hi = nd->first_edge + nd->n_edges; /* first key >= delta */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (edges[mid].key < delta) lo = mid + 1;
        else hi = mid;
    }
    *f = (bk_frame){.node = node, .bound = bound, .delta = delta, .below = lo, .above = lo};
}

/* The frame's next edge in order of |delta - key| and its bound, or false when none is left. */
static bool next_edge(const bk_searcher *s, bk_frame *f, uint64_t *edge, double *bound) {
    const bk_node *nd = &s->t->nodes[f->node];
    const bk_edge *edges = s->t->edges;
    bool has_below = f->below > nd->first_edge, has_above = f->above < nd->first_edge + nd->n_edges;
    if (!has_below && !has_above) return false;
    uint32_t gap_below = has_below ? f->delta - edges[f->below - 1].key : UINT32_MAX;
    uint32_t gap_above = has_above ? edges[f->above].key - f->delta : UINT32_MAX;
    uint32_t gap;
    if (gap_below <= gap_above) {
        *edge = --f->below;
        gap = gap_below;
    } else {
        *edge = f->above++;
        gap = gap_above;
    }
    *bound = gap > f->bound ? gap : f->bound;
    return true;
}

/* Collects, for one query, every row that can be within the bar: the plan's gathered rows, or
 * the tail (first: its candidates tighten the bar) and then the tree. */
static void search_query(bk_searcher *s, const void *q) {
    if (s->plan->positions) {
        collect_gathered(s, q);
        return;
    }
    collect_tail(s, q);
    if (s->t->n_nodes == 0) return;
    const bk_edge *edges = s->t->edges;
    size_t top = 0;
    enter(s, &s->frames[top++], 0, 0, q);
    while (top > 0 && !s->failed) {
        bk_frame *f = &s->frames[top - 1];
        uint64_t e;
        double bound;
        /* bounds of a frame's edges only grow: the first one out of reach ends the node */
        if (!next_edge(s, f, &e, &bound) || bound > collect_bar(s)) {
            top--;
            continue;
        }
        if (edges[e].child != NO_CHILD) enter(s, &s->frames[top++], edges[e].child, bound, q);
        else collect_bucket(s, q, &edges[e], f->delta);
    }
}

/* The k-NN of queries [first, first + n). */
static bool bk_knn(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    bk_searcher *s = scratch;
    const int64_t *ids = s->t->store.rows.ids;
    for (uint64_t q = first; q < first + n; q++) {
        if (s->mode == COLLECT_KNN) nearkit_topk_init(&s->heap, s->heap_dist, s->heap_pos, (size_t)c->k, ids);
        s->best_row = UINT64_MAX;
        search_query(s, nearkit_query_at(c, q));
        if (s->mode == COLLECT_KNN) {
            nearkit_write_heap(c, q, &s->heap);
            continue;
        }
        /* 1-NN: one candidate is a sorted list of candidates (none when nothing was admitted) */
        float best = (float)s->best;
        nearkit_topk one = {.dist = &best, .pos = &s->best_row, .size = s->best_row != UINT64_MAX,
                            .cap = 1, .ids = ids};
        nearkit_write_sorted(c, q, &one);
    }
    return true;
}

/* Every row within the radius of query q into the call's matches; false when out of memory. */
static bool bk_range(void *scratch, const nearkit_search_call *c, uint64_t q) {
    bk_searcher *s = scratch;
    s->query = q;
    if (c->radius >= 0) search_query(s, nearkit_query_at(c, q));
    return !s->failed;
}

static const nearkit_searcher bk_searching = {
    .plan_size = sizeof(bk_plan),
    .plan = plan_call,
    .plan_free = plan_free,
    .scratch_new = searcher_new,
    .scratch_reuse = searcher_reuse,
    .scratch_free = searcher_free,
    .knn = bk_knn,
    .range = bk_range,
};


/* ---- parameters -------------------------------------------------------------------------------- */

static nearkit_status bk_get_param(const nearkit_index *ix, size_t i, double *value) {
    const bk_impl *t = impl_of(ix);
    switch (i) {
    case PARAM_LEAF_SIZE: *value = t->leaf_size; break;
    case PARAM_DEPTH: *value = t->depth; break;
    case PARAM_NODE_COUNT: *value = (double)t->n_nodes; break;
    default: *value = (double)t->leaf_count; break;
    }
    return NEARKIT_OK;
}

static nearkit_status bk_set_param(nearkit_index *ix, size_t i, double value) {
    (void)i; /* the generic layer refuses the read-only ones: only leaf_size gets here */
    impl_of(ix)->leaf_size = (uint32_t)value;
    return NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

/* BKHD: u64 rows in the tree, u64 node count, u64 edge count. BKND: the nodes, 40 bytes each
 * (bk_node). BKED: the edges, 24 bytes each (bk_edge). */
static nearkit_status bk_save(const nearkit_index *ix, nearkit_writer *w) {
    const bk_impl *t = impl_of(ix);
    uint64_t head[3] = {t->store.built, t->n_nodes, t->n_edges};
    nearkit_status st = nearkit_writer_section(w, HEAD_TAG, head, sizeof head);
    if (!st) st = nearkit_rows_save(&t->store.rows, ix, w);
    if (!st) st = nearkit_writer_section(w, NODES_TAG, t->nodes, t->n_nodes * sizeof(bk_node));
    if (!st) st = nearkit_writer_section(w, EDGES_TAG, t->edges, t->n_edges * sizeof(bk_edge));
    return st;
}

typedef struct key_check {
    const nearkit_index *ix;
    const bk_impl *t;
    const nearkit_kernel_table *kt;
    _Atomic int bad;
} key_check;

/* Every row of every group of nodes [begin, end) is at its key's distance from the pivot. */
static void keys_check_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    key_check *c = ctx;
    const bk_impl *t = c->t;
    for (uint64_t i = begin; i < end; i++) {
        const bk_node *nd = &t->nodes[i];
        const uint8_t *pivot = nearkit_rows_at(&t->store.rows, c->ix, nd->pivot);
        for (uint32_t j = 0; j < nd->n_edges; j++) {
            const bk_edge *e = &t->edges[nd->first_edge + j];
            for (uint64_t row = e->begin; row < e->end; row++)
                if (hamming(c->kt, c->ix, pivot, nearkit_rows_at(&t->store.rows, c->ix, row)) != e->key) {
                    atomic_store(&c->bad, 1);
                    return;
                }
        }
    }
}

static nearkit_status bk_load(nearkit_index *ix, const nearkit_reader *r) {
    bk_impl *t = impl_of(ix);
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, HEAD_TAG, 24);
    if (st) return st;
    uint64_t head[3];
    memcpy(head, data, sizeof head);
    st = nearkit_rows_load(&t->store.rows, ix, r, true);
    if (st) return st;
    if (head[0] > t->store.rows.count || head[1] >= NO_CHILD || head[2] > head[0] + head[1])
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: a tree of %llu nodes and %llu edges over %llu of "
                                 "%llu rows",
                                 (unsigned long long)head[1], (unsigned long long)head[2],
                                 (unsigned long long)head[0], (unsigned long long)t->store.rows.count);
    const void *nodes, *edges;
    st = nearkit_reader_section_sized(&nodes, r, NODES_TAG, head[1] * sizeof(bk_node));
    if (!st) st = nearkit_reader_section_sized(&edges, r, EDGES_TAG, head[2] * sizeof(bk_edge));
    if (st) return st;
    /* a plain view trusts the stored keys as it trusts the stored vectors; a load checks them */
    bool in_place = nearkit_reader_borrows(r) && !nearkit_reader_checks_values(r) && head[1] > 0 && head[2] > 0;
    if (in_place && ((st = nearkit_reader_borrowable(r, nodes, NODES_TAG)) ||
                     (st = nearkit_reader_borrowable(r, edges, EDGES_TAG))))
        return st;
    if (in_place) {
        t->nodes = (bk_node *)nodes;
        t->edges = (bk_edge *)edges;
        t->borrowed = true;
    } else {
        t->nodes = nearkit_alloc_array((size_t)head[1], sizeof(bk_node));
        t->edges = nearkit_alloc_array((size_t)head[2], sizeof(bk_edge));
        if (!t->nodes || !t->edges) return nearkit_oom();
        memcpy(t->nodes, nodes, (size_t)head[1] * sizeof(bk_node));
        memcpy(t->edges, edges, (size_t)head[2] * sizeof(bk_edge));
    }
    t->n_nodes = head[1];
    t->n_edges = head[2];
    t->store.built = head[0];
    t->store.maintained = t->store.built > 0;
    st = check_structure(t, ix->dimension);
    if (st || in_place) return st;
    key_check c = {.ix = ix, .t = t, .kt = nearkit_kernels()};
    atomic_init(&c.bad, 0);
    nearkit_parallel_for(nearkit_resolve_threads(ix->num_threads), t->n_nodes, 16, keys_check_range, &c);
    if (atomic_load(&c.bad))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: stored bk-tree keys do not match the stored vectors");
    return NEARKIT_OK;
}

/* ---- description ------------------------------------------------------------------------------- */

#define DESCRIBE_LEVELS 3
#define DESCRIBE_CHILDREN 4 /* child nodes shown per node: the largest */
#define DESCRIBE_GROUPS 24  /* groups listed per node */

/* One line per node: its rows, pivot and groups; `key` is its group's key in the parent (-1 for
 * the root). */
static void describe_node(const bk_impl *t, nearkit_strbuf *sb, uint64_t i, int level, int64_t key) {
    const bk_node *nd = &t->nodes[i];
    const bk_edge *edges = t->edges + nd->first_edge;
    int indent = 2 + 2 * level;
    nearkit_strbuf_appendf(sb, "%*s", indent, "");
    if (key >= 0) nearkit_strbuf_appendf(sb, "key %lld: ", (long long)key);
    nearkit_strbuf_appendf(sb,
                           "node: rows %llu..%llu (%llu), pivot id %lld, %u groups "
                           "(key:rows, * = node):", (unsigned long long)nd->begin, (unsigned long long)nd->end - 1,
                           (unsigned long long)(nd->end - nd->begin), (long long)t->store.rows.ids[nd->pivot],
                           nd->n_edges);
    for (uint32_t j = 0; j < nd->n_edges && j < DESCRIBE_GROUPS; j++)
        nearkit_strbuf_appendf(sb, " %u:%llu%s", edges[j].key,
                               (unsigned long long)(edges[j].end - edges[j].begin),
                               edges[j].child == NO_CHILD ? "" : "*");
    nearkit_strbuf_appendf(sb, "%s\n", nd->n_edges > DESCRIBE_GROUPS ? " ..." : "");
    if (level + 1 >= DESCRIBE_LEVELS) return;
    /* the largest child nodes, largest first */
    uint32_t picked[DESCRIBE_CHILDREN];
    int n_picked = 0;
    for (int p = 0; p < DESCRIBE_CHILDREN; p++) {
        uint64_t best_rows = 0;
        uint32_t best = UINT32_MAX;
        for (uint32_t j = 0; j < nd->n_edges; j++) {
            bool taken = false;
            for (int q = 0; q < n_picked; q++) taken = taken || picked[q] == j;
            uint64_t rows = edges[j].end - edges[j].begin;
            if (edges[j].child != NO_CHILD && !taken && rows > best_rows) {
                best_rows = rows;
                best = j;
            }
        }
        if (best == UINT32_MAX) break;
        picked[n_picked++] = best;
    }
    for (int p = 0; p < n_picked; p++)
        describe_node(t, sb, edges[picked[p]].child, level + 1, edges[picked[p]].key);
}

static void bk_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    const bk_impl *t = impl_of(ix);
    nearkit_strbuf_appendf(sb,
                           "bk-tree by hamming distance: %llu rows in the tree, depth %u, %llu nodes, "
                           "%llu groups of which %llu buckets (largest scanned: %llu rows); distance "
                           "kernels: %s\n",
                           (unsigned long long)t->store.built, t->depth, (unsigned long long)t->n_nodes,
                           (unsigned long long)t->n_edges, (unsigned long long)t->leaf_count,
                           (unsigned long long)t->max_leaf, nearkit_kernels()->name);
    if (t->store.built < t->store.rows.count)
        nearkit_strbuf_appendf(sb, "%llu rows added since the last build, scanned exactly until the next\n",
                               (unsigned long long)(t->store.rows.count - t->store.built));
    if (t->store.rows.removed > 0)
        nearkit_strbuf_appendf(sb, "%llu rows removed, their space kept until the tree is rebuilt\n",
                               (unsigned long long)t->store.rows.removed);
    if (t->n_nodes == 0) return;
    nearkit_strbuf_appendf(sb, "top %d levels (keys: distances to the node's pivot):\n", DESCRIBE_LEVELS);
    describe_node(t, sb, 0, 0, -1);
}

const nearkit_index_ops nearkit_bktree_ops = {
    .kind = NEARKIT_KIND_BKTREE,
    .name = "bktree",
    .description = "exact Burkhard-Keller tree for hamming; best at range (threshold) search with "
                   "small radii; build after adding (rows added since are scanned exactly)",
    .flags = NEARKIT_KIND_FLAG_EXACT | NEARKIT_KIND_FLAG_NEEDS_BUILD,
    .metric_mask = 1u << NEARKIT_METRIC_HAMMING,
    .params = bk_params,
    .n_params = sizeof bk_params / sizeof bk_params[0],
    .create = bk_create,
    .destroy = bk_destroy,
    .add = nearkit_tree_rows_add,
    .build = bk_build,
    .is_ready = bk_is_ready,
    .count = bk_count,
    .memory = bk_memory,
    .knn_searcher = &bk_searching,
    .range_searcher = &bk_searching,
    .remove = nearkit_tree_rows_remove,
    .get = nearkit_tree_rows_get,
    .each_id = nearkit_tree_rows_each_id,
    .compact = nearkit_tree_rows_compact,
    .get_param = bk_get_param,
    .set_param = bk_set_param,
    .save = bk_save,
    .load = bk_load,
    .describe = bk_describe,
};
