/* The VP-tree index: exact k-NN and range search under l2, l1, linf, cosine and hamming.
 *
 * Build: a node picks a vantage point among its rows (of a few random candidates, the one whose
 * distances to a random sample spread the most), splits its rows at the median distance to it and
 * keeps, for each half, the smallest and largest of those distances; ranges of at most leaf_size
 * rows become leaves. The rows are then stored in tree order, so each node covers one contiguous
 * range and a leaf is scanned with the flat index's SIMD *_many kernels: the distances are
 * bit-identical to the flat index's, and so are the results, ties included.
 *
 * Search: depth first, the nearer half first; for k-NN the bound shrinks as leaves fill the heap.
 * A half is skipped only when the triangle inequality proves every row in it is beyond the bound,
 * with both sides widened by the worst rounding any kernel implementation can make (see
 * tree_margin), so float rounding never prunes a neighbour or a tie. Cosine distance (1 - cos)
 * is not a metric: the tree organises cosine vectors, which arrive normalised, by their chord
 * distance |x - y|, which is one, and turns a cosine bound into a chord bound.
 *
 * A living collection. Rows [0, built) are the tree's; rows added since (all of them before the
 * first build) form a tail that every search scans exactly, into the same heap, so an index is
 * searchable at any time and reports ready. Removing marks rows (their id becomes -1, see
 * search/rows.h): searches skip them at the leaves, and the pruning stays valid because the
 * bounds are distances to rows that are still stored. Once the index has been built, a writer
 * (add, remove) rebuilds the tree over the live rows, dropping the marked ones, when marked and
 * tail rows together reach a quarter of the rows; compact does it at once. An index never built
 * keeps all its rows in the tail and only drops marked rows (a quarter or more, or on compact).
 * A rebuild that runs out of memory leaves every row in the tail: slower, still exact.
 *
 * Filters: candidates are tested (nearkit_call_admits) before they enter the heap or the matches;
 * with no filter and no marked rows, the leaves take the unchecked path of before. Where a filter
 * lets few ids through (at most 1 / GATHER_FRACTION of the live rows), the plan gathers the
 * admitted rows once per call and every query scans just those, exactly.
 *
 * A saved index holds the tree (nodes, bounds, rows in tree order with their marks, ids), so
 * loading does not rebuild it; the loader checks the structure and recomputes every bound from the
 * rows, refusing a file whose bounds disagree. */
#include "search/driver.h"
#include "base/internal.h"
#include "kernels/kernels.h"
#include "base/random.h"
#include "search/rows.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_TAG NEARKIT_TAG('V', 'P', 'H', 'D')
#define NODES_TAG NEARKIT_TAG('V', 'P', 'N', 'D')
#define VANTAGES_TAG NEARKIT_TAG('V', 'P', 'V', 'A')

/* Default leaf sizes, measured on uniform and clustered data at k = 1 and 10: at the lowest
 * dimensions a node visit costs about as much as scanning a few rows, so small leaves pay; above,
 * long contiguous scans (which the prefetcher follows) beat a deeper descent; binary rows are the
 * cheapest to scan of all. */
#define DEFAULT_LEAF_SIZE_LOW_DIMENSION 32 /* float, dimension <= LOW_DIMENSION */
#define LOW_DIMENSION 4
#define DEFAULT_LEAF_SIZE 128              /* float, higher dimensions */
#define DEFAULT_LEAF_SIZE_BINARY 512
#define MAX_LEAF_SIZE 65536
#define MAX_DEPTH 64            /* median splits halve: 64 levels hold any index */
#define NO_CHILD UINT32_MAX
#define VANTAGE_SAMPLE 64       /* rows a vantage candidate is measured against */
#define PARALLEL_SPLIT_ROWS 32768 /* nodes this large compute their split distances in parallel */
#define SCAN_BLOCK 256          /* rows of the tail, or gathered rows, a search scans at once */
/* A filter letting at most live rows / GATHER_FRACTION through is answered over its gathered rows:
 * below that, the tree (which must walk on until k admitted rows turn up) is no faster than
 * scanning them. */
#define GATHER_FRACTION 8

/* One node: 48 bytes, stored as is (little-endian, no padding) in the file. */
typedef struct vp_node {
    uint64_t begin, end; /* rows [begin, end) in tree order */
    uint64_t vantage;    /* internal: row of the vantage point, within [begin, end) */
    uint32_t child[2];   /* internal: nodes of rows [begin, mid) and [mid, end); leaf: NO_CHILD */
    float lo[2], hi[2];  /* internal: least and greatest tree distance of each child's rows to the
                            vantage point */
} vp_node;

_Static_assert(sizeof(vp_node) == 48, "vp_node is stored byte for byte");

typedef struct vp_impl {
    nearkit_tree_rows store; /* first (search/rows.h): the rows, the built prefix, the tail; ids
                                always explicit: the file always holds IDS, and building permutes */
    vp_node *nodes;
    bool nodes_borrowed; /* a plain view's: the file's VPND, read-only */
    uint8_t *vantages; /* a copy of each internal node's vantage vector, by node (a leaf's: zero
                          bytes): the descent then reads memory in node order rather than all over
                          the rows */
    bool vantages_borrowed; /* a plain view's: the file's VPVA, read-only */
    uint64_t n_nodes;
    uint32_t leaf_size;
    uint32_t depth; /* edges from the root to the deepest leaf */
    uint64_t leaf_count, max_leaf;
} vp_impl;

static vp_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

/* The leaf size a new index starts with (the defaults above). */
static uint32_t default_leaf_size(const nearkit_index *ix) {
    if (ix->vector_type == NEARKIT_VECTOR_BINARY) return DEFAULT_LEAF_SIZE_BINARY;
    return ix->dimension <= LOW_DIMENSION ? DEFAULT_LEAF_SIZE_LOW_DIMENSION : DEFAULT_LEAF_SIZE;
}

static double describe_default_leaf_size(const nearkit_index *ix) { return default_leaf_size(ix); }

static const nearkit_param_desc vp_params[] = {
    {"leaf_size", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER, 1, MAX_LEAF_SIZE, 0,
     "most rows in a leaf, scanned with the SIMD kernels (default: 32 for float vectors of up to 4 "
     "dimensions, 128 above, 512 for binary codes)", describe_default_leaf_size},
    {"depth", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, MAX_DEPTH, 0,
     "levels of the built tree (0 before build)", NULL},
    {"node_count", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 1e19, 0,
     "nodes of the built tree, leaves included", NULL},
    {"leaf_count", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 1e19, 0,
     "leaves of the built tree", NULL},
};
enum { PARAM_LEAF_SIZE, PARAM_DEPTH, PARAM_NODE_COUNT, PARAM_LEAF_COUNT };

/* ---- lifetime ---------------------------------------------------------------------------------- */

static nearkit_status rebuild(nearkit_index *ix);

static nearkit_status vp_create(nearkit_index *ix) {
    vp_impl *t = calloc(1, sizeof *t);
    if (!t) return nearkit_oom();
    t->store.rebuild = rebuild;
    t->leaf_size = default_leaf_size(ix);
    if (nearkit_rows_explicit_ids(&t->store.rows)) {
        free(t);
        return nearkit_oom();
    }
    ix->impl = t;
    return NEARKIT_OK;
}

static void forget_tree(vp_impl *t) {
    if (!t->nodes_borrowed) free(t->nodes);
    if (!t->vantages_borrowed) nearkit_aligned_free(t->vantages);
    t->nodes = NULL;
    t->nodes_borrowed = t->vantages_borrowed = false;
    t->vantages = NULL;
    t->n_nodes = t->store.built = t->leaf_count = t->max_leaf = 0;
    t->depth = 0;
}

static void vp_destroy(nearkit_index *ix) {
    vp_impl *t = impl_of(ix);
    if (!t) return;
    forget_tree(t);
    nearkit_rows_free(&t->store.rows);
    free(t);
}

/* Always: rows outside the tree are scanned exactly. */
static bool vp_is_ready(const nearkit_index *ix) {
    (void)ix;
    return true;
}

static uint64_t vp_count(const nearkit_index *ix) { return nearkit_rows_live(&impl_of(ix)->store.rows); }

static uint64_t vp_memory(const nearkit_index *ix) {
    const vp_impl *t = impl_of(ix);
    return sizeof *t + nearkit_rows_memory(&t->store.rows, ix) +
           t->n_nodes * ((t->nodes_borrowed ? 0 : sizeof(vp_node)) +
                         (t->vantages && !t->vantages_borrowed ? ix->vector_bytes : 0));
}

static bool is_leaf(const vp_node *node) { return node->child[0] == NO_CHILD; }

/* ---- distances and margins --------------------------------------------------------------------- */

/* Float dimensions up to this use a plain loop for tree distances instead of a kernel call. */
#define SMALL_DIMENSION 16

/* The larger of two floats, as one maxss (fmaxf's NaN rules make it a library call). */
static inline float max_of(float a, float b) { return a > b ? a : b; }

/* The tree distance of two float vectors of a small dimension, in one pass. */
static float small_distance(nearkit_metric metric, const float *x, const float *y, size_t d) {
    float s = 0;
    switch (metric) {
    case NEARKIT_METRIC_L1:
        for (size_t i = 0; i < d; i++) s += fabsf(x[i] - y[i]);
        return s;
    case NEARKIT_METRIC_LINF:
        for (size_t i = 0; i < d; i++) s = max_of(s, fabsf(x[i] - y[i]));
        return s;
    default:
        for (size_t i = 0; i < d; i++) s += (x[i] - y[i]) * (x[i] - y[i]);
        return sqrtf(s);
    }
}

/* The distance the tree is organised by: the metric's, except l2 (rooted here) and cosine (the
 * chord |x - y| of the normalised vectors). Tree distances only route the search and bound
 * subtrees, so they need not match the flat index's bit for bit (leaf distances do): only the
 * error bound of tree_margin, which any summation order meets. */
static float tree_distance(const nearkit_kernel_table *kt, const nearkit_index *ix, const void *a,
                           const void *b) {
    size_t d = ix->dimension;
    if (d <= SMALL_DIMENSION && ix->metric != NEARKIT_METRIC_HAMMING)
        return small_distance(ix->metric, a, b, d);
    switch (ix->metric) {
    case NEARKIT_METRIC_L1: return kt->l1(a, b, d);
    case NEARKIT_METRIC_LINF: return kt->linf(a, b, d);
    case NEARKIT_METRIC_HAMMING: return (float)kt->hamming(a, b, (size_t)ix->vector_bytes);
    default: return sqrtf(kt->l2sq(a, b, d));
    }
}

/* A tree distance C computed by any kernel implementation and the true distance D of the same two
 * float vectors satisfy |C - D| <= rel * D + abs: rel bounds the rounding of a sum of d
 * non-negative terms in any order plus the terms' own and a square root's (about (d + 3) units in
 * the last place; twice that is taken), abs bounds terms flushed to zero on a CPU set to flush
 * subnormals. Hamming distances are exact. */
typedef struct tree_margin {
    double rel, abs;
    double up, down; /* 1 / (1 + rel), 1 / (1 - rel) */
} tree_margin;

static tree_margin margin_of(const nearkit_index *ix) {
    if (ix->metric == NEARKIT_METRIC_HAMMING) return (tree_margin){0, 0, 1, 1};
    double rel = ((double)ix->dimension + 16.0) * FLT_EPSILON;
    return (tree_margin){rel, 1e-15, 1.0 / (1.0 + rel), 1.0 / (1.0 - rel)};
}

/* The largest true tree distance a row may have while the distance reported for it is <= tau;
 * +INFINITY when nothing can be excluded, negative when nothing can be within. */
static double tree_limit(const nearkit_index *ix, tree_margin m, float tau) {
    if (isinf(tau) || m.rel >= 0.5) return INFINITY;
    if (ix->metric == NEARKIT_METRIC_COSINE) {
        /* For |x|, |q| <= 1 + eta: |x - q|^2 = |x|^2 + |q|^2 - 2<x, q> <= 2 (1 - <x, q>) + 2 eta, and
         * the reported 1 - <x, q> is within gamma of the true one; rel covers eta + gamma. */
        double x = (double)tau + m.rel + m.abs;
        return x < 0 ? -1.0 : sqrt(2.0 * x);
    }
    return ((double)tau + m.abs) / (1.0 - m.rel);
}

/* A lower bound on the true tree distance of the query to every row of a child, given the range
 * [c_low, c_high] of the true distance of the query to the vantage point and the child's
 * computed [lo, hi]. An infinite lo (overflowed distances) says nothing. */
static double child_bound(const tree_margin *m, double c_low, double c_high, float lo, float hi) {
    double outside = c_low - ((double)hi + m->abs) * m->down;
    double inside = isinf(lo) ? 0 : ((double)lo - m->abs) * m->up - c_high;
    double bound = 0;
    if (outside > bound) bound = outside;
    if (inside > bound) bound = inside;
    return bound;
}

/* ---- build ------------------------------------------------------------------------------------- */

typedef struct vp_builder {
    const nearkit_index *ix;
    const nearkit_kernel_table *kt;
    const uint8_t *vectors; /* rows in storage order */
    uint64_t *perm;         /* the tree order being built, as storage rows */
    float *dist;            /* dist[i]: distance of row perm[i] to the vantage point of its node */
    uint32_t leaf_size, threads;
} vp_builder;

typedef struct node_list {
    vp_node *items;
    uint64_t size, cap;
} node_list;

/* Appends a node; returns its index, or UINT64_MAX when out of memory. */
static uint64_t list_push(node_list *l) {
    if (l->size == l->cap) {
        uint64_t cap = l->cap ? l->cap * 2 : 64;
        vp_node *grown = nearkit_alloc_array((size_t)cap, sizeof *grown);
        if (!grown) return UINT64_MAX;
        if (l->size) memcpy(grown, l->items, (size_t)l->size * sizeof *grown);
        free(l->items);
        l->items = grown;
        l->cap = cap;
    }
    return l->size++;
}

static const uint8_t *row_vector(const vp_builder *b, uint64_t pos) {
    return b->vectors + b->perm[pos] * b->ix->vector_bytes;
}

/* The position in [begin, end) of the vantage point: of a few random candidates, the one whose
 * distances to a random sample have the largest variance (a point off to the side of the data,
 * whose median sphere cuts it cleanly). */
static uint64_t choose_vantage(const vp_builder *b, uint64_t begin, uint64_t end) {
    uint64_t n = end - begin;
    uint64_t rng = nearkit_node_random(b->ix->seed, begin, end);
    int candidates = n >= 8192 ? 8 : n >= 1024 ? 4 : n >= 128 ? 2 : 1;
    uint64_t best = begin + nearkit_next_random(&rng) % n;
    if (candidates == 1) return best;
    uint64_t sample[VANTAGE_SAMPLE];
    int samples = n < VANTAGE_SAMPLE ? (int)n : VANTAGE_SAMPLE;
    for (int s = 0; s < samples; s++) sample[s] = begin + nearkit_next_random(&rng) % n;
    double best_spread = -1;
    for (int c = 0; c < candidates; c++) {
        uint64_t pos = c == 0 ? best : begin + nearkit_next_random(&rng) % n;
        const uint8_t *v = row_vector(b, pos);
        double sum = 0, sum_sq = 0;
        for (int s = 0; s < samples; s++) {
            double d = tree_distance(b->kt, b->ix, v, row_vector(b, sample[s]));
            sum += d;
            sum_sq += d * d;
        }
        double spread = sum_sq / samples - (sum / samples) * (sum / samples);
        if (spread > best_spread) { /* false for NaN (overflowed distances): keep the first */
            best_spread = spread;
            best = pos;
        }
    }
    return best;
}

typedef struct distance_pass {
    const vp_builder *b;
    const uint8_t *vantage;
} distance_pass;

static void distances_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    const distance_pass *p = ctx;
    for (uint64_t i = begin; i < end; i++)
        p->b->dist[i] = tree_distance(p->b->kt, p->b->ix, p->vantage, row_vector(p->b, i));
}

static bool pair_less(const vp_builder *b, uint64_t i, uint64_t j) {
    return b->dist[i] < b->dist[j] || (b->dist[i] == b->dist[j] && b->perm[i] < b->perm[j]);
}

static void swap_pair(vp_builder *b, uint64_t i, uint64_t j) {
    float d = b->dist[i];
    b->dist[i] = b->dist[j];
    b->dist[j] = d;
    uint64_t p = b->perm[i];
    b->perm[i] = b->perm[j];
    b->perm[j] = p;
}

/* Reorders [begin, end) so that position mid holds the pair of that rank in (distance, row)
 * order, smaller pairs before it and larger after (quickselect; rows make every pair distinct,
 * so many equal distances cost nothing extra). */
static void select_median(vp_builder *b, uint64_t begin, uint64_t end, uint64_t mid, uint64_t *rng) {
    uint64_t lo = begin, hi = end - 1;
    while (lo < hi) {
        swap_pair(b, lo + nearkit_next_random(rng) % (hi - lo + 1), hi);
        uint64_t store = lo;
        for (uint64_t i = lo; i < hi; i++)
            if (pair_less(b, i, hi)) swap_pair(b, i, store++);
        swap_pair(b, store, hi);
        if (store == mid) return;
        if (mid < store) hi = store - 1;
        else lo = store + 1;
    }
}

static void distance_range_of(const vp_builder *b, uint64_t begin, uint64_t end, float *lo, float *hi) {
    float mn = INFINITY, mx = 0;
    for (uint64_t i = begin; i < end; i++) {
        if (b->dist[i] < mn) mn = b->dist[i];
        if (b->dist[i] > mx) mx = b->dist[i];
    }
    *lo = mn;
    *hi = mx;
}

/* Splits the rows of an internal node at the median distance to its vantage point; returns the
 * position where the second half starts. node->vantage receives a storage row (build_tree maps it
 * to tree order at the end). */
static uint64_t split_node(vp_builder *b, vp_node *node, bool parallel) {
    uint64_t begin = node->begin, end = node->end, mid = begin + (end - begin) / 2;
    uint64_t vantage_pos = choose_vantage(b, begin, end);
    node->vantage = b->perm[vantage_pos];
    distance_pass pass = {b, b->vectors + node->vantage * b->ix->vector_bytes};
    if (parallel) {
        /* positions relative to begin: parallel_for runs from 0 */
        vp_builder shifted = *b;
        shifted.perm += begin;
        shifted.dist += begin;
        pass.b = &shifted;
        nearkit_parallel_for(b->threads, end - begin, 4096, distances_range, &pass);
    } else {
        distances_range(&pass, begin, end, 0);
    }
    uint64_t rng = nearkit_node_random(b->ix->seed, end, begin + 1);
    select_median(b, begin, end, mid, &rng);
    distance_range_of(b, begin, mid, &node->lo[0], &node->hi[0]);
    distance_range_of(b, mid, end, &node->lo[1], &node->hi[1]);
    return mid;
}

/* Builds the subtree of rows [begin, end) into l in pre-order; returns its root's index in l, or
 * UINT64_MAX when out of memory. Recursion depth is the tree's depth (<= 64). */
static uint64_t build_subtree(vp_builder *b, node_list *l, uint64_t begin, uint64_t end) {
    uint64_t at = list_push(l);
    if (at == UINT64_MAX) return at;
    vp_node node = {.begin = begin, .end = end, .child = {NO_CHILD, NO_CHILD}};
    if (end - begin > b->leaf_size) {
        uint64_t mid = split_node(b, &node, false);
        uint64_t left = build_subtree(b, l, begin, mid);
        uint64_t right = left == UINT64_MAX ? left : build_subtree(b, l, mid, end);
        if (right == UINT64_MAX) return right;
        if (right >= NO_CHILD) return UINT64_MAX; /* too many nodes for 32-bit links */
        node.child[0] = (uint32_t)left;
        node.child[1] = (uint32_t)right;
    }
    l->items[at] = node;
    return at;
}

/* A subtree built on its own by one thread, then spliced below its parent. */
typedef struct vp_task {
    uint64_t begin, end;
    uint64_t parent; /* index among the top nodes, UINT64_MAX for the root */
    int side;
    node_list nodes;
    bool failed;
} vp_task;

typedef struct task_list {
    vp_task *items;
    uint64_t size, cap;
} task_list;

static bool add_task(task_list *tl, uint64_t begin, uint64_t end, uint64_t parent, int side) {
    if (tl->size == tl->cap) {
        uint64_t cap = tl->cap ? tl->cap * 2 : 16;
        vp_task *grown = realloc(tl->items, (size_t)cap * sizeof *grown);
        if (!grown) return false;
        tl->items = grown;
        tl->cap = cap;
    }
    tl->items[tl->size++] = (vp_task){.begin = begin, .end = end, .parent = parent, .side = side};
    return true;
}

/* Splits the top levels on this thread (each split's distance pass in parallel) until ranges
 * are at most task_rows long; those become tasks. */
static bool build_top(vp_builder *b, node_list *top, task_list *tasks, uint64_t begin, uint64_t end,
                      uint64_t task_rows, uint64_t parent, int side) {
    if (end - begin <= task_rows) return add_task(tasks, begin, end, parent, side);
    uint64_t at = list_push(top);
    if (at == UINT64_MAX) return false;
    vp_node node = {.begin = begin, .end = end, .child = {NO_CHILD, NO_CHILD}};
    uint64_t mid = split_node(b, &node, end - begin >= PARALLEL_SPLIT_ROWS);
    top->items[at] = node;
    if (parent != UINT64_MAX) top->items[parent].child[side] = (uint32_t)at;
    return build_top(b, top, tasks, begin, mid, task_rows, at, 0) &&
           build_top(b, top, tasks, mid, end, task_rows, at, 1);
}

typedef struct task_run {
    vp_builder *b;
    task_list *tasks;
} task_run;

static void run_tasks(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    task_run *r = ctx;
    for (uint64_t i = begin; i < end; i++) {
        vp_task *t = &r->tasks->items[i];
        t->failed = build_subtree(r->b, &t->nodes, t->begin, t->end) == UINT64_MAX;
    }
}

/* Joins the top nodes and the tasks' subtrees into one array: top nodes first, then each task's
 * nodes. */
static vp_node *splice(const node_list *top, const task_list *tasks, uint64_t *n_out) {
    uint64_t total = top->size;
    for (uint64_t i = 0; i < tasks->size; i++) total += tasks->items[i].nodes.size;
    if (total >= NO_CHILD) return NULL;
    vp_node *nodes = nearkit_alloc_array((size_t)total, sizeof *nodes);
    if (!nodes) return NULL;
    if (top->size) memcpy(nodes, top->items, (size_t)top->size * sizeof *nodes);
    uint64_t at = top->size;
    for (uint64_t i = 0; i < tasks->size; i++) {
        const vp_task *t = &tasks->items[i];
        for (uint64_t j = 0; j < t->nodes.size; j++) {
            vp_node node = t->nodes.items[j];
            if (!is_leaf(&node)) {
                node.child[0] += (uint32_t)at;
                node.child[1] += (uint32_t)at;
            }
            nodes[at + j] = node;
        }
        if (t->parent != UINT64_MAX) nodes[t->parent].child[t->side] = (uint32_t)at;
        at += t->nodes.size;
    }
    *n_out = total;
    return nodes;
}

/* The same tree with its nodes renumbered in pre-order (a node, its first subtree, its second), so
 * the layout does not depend on how the build was split across threads. */
static vp_node *preorder(const vp_node *nodes, uint64_t n) {
    vp_node *out = nearkit_alloc_array((size_t)n, sizeof *out);
    uint64_t *stack = nearkit_alloc_array((size_t)n, 2 * sizeof *stack); /* (node, new parent * 2 + side) */
    if (!out || !stack) {
        free(out);
        free(stack);
        return NULL;
    }
    uint64_t top = 0, next = 0;
    stack[top++] = 0;
    stack[top++] = UINT64_MAX;
    while (top > 0) {
        uint64_t link = stack[--top], i = stack[--top], at = next++;
        out[at] = nodes[i];
        if (link != UINT64_MAX) out[link / 2].child[link % 2] = (uint32_t)at;
        if (is_leaf(&nodes[i])) continue;
        for (int side = 1; side >= 0; side--) {
            stack[top++] = nodes[i].child[side];
            stack[top++] = at * 2 + (uint64_t)side;
        }
    }
    free(stack);
    return out;
}

static void free_tasks(task_list *tasks) {
    for (uint64_t i = 0; i < tasks->size; i++) free(tasks->items[i].nodes.items);
    free(tasks->items);
}

/* Builds the nodes over rows [0, n) and leaves perm holding the tree order (storage rows). */
static nearkit_status build_nodes(vp_node **nodes_out, uint64_t *n_nodes, const nearkit_index *ix,
                                  uint64_t *perm, float *dist, uint64_t n) {
    vp_impl *t = impl_of(ix);
    vp_builder b = {.ix = ix, .kt = nearkit_kernels(), .vectors = t->store.rows.vectors, .perm = perm,
                    .dist = dist, .leaf_size = t->leaf_size,
                    .threads = nearkit_resolve_threads(ix->num_threads)};
    /* with several threads, enough tasks that they even out; with one, a single task */
    uint64_t task_rows = b.threads > 1 ? n / ((uint64_t)b.threads * 8) : n;
    if (task_rows < b.leaf_size) task_rows = b.leaf_size;
    if (task_rows < 1024) task_rows = 1024;
    node_list top = {0};
    task_list tasks = {0};
    bool ok = build_top(&b, &top, &tasks, 0, n, task_rows, UINT64_MAX, 0);
    if (ok) {
        task_run run = {&b, &tasks};
        nearkit_parallel_for(b.threads, tasks.size, 1, run_tasks, &run);
        for (uint64_t i = 0; i < tasks.size; i++) ok = ok && !tasks.items[i].failed;
    }
    vp_node *spliced = ok ? splice(&top, &tasks, n_nodes) : NULL;
    free(top.items);
    free_tasks(&tasks);
    vp_node *nodes = spliced ? preorder(spliced, *n_nodes) : NULL;
    free(spliced);
    if (!nodes) return nearkit_oom();
    *nodes_out = nodes;
    return NEARKIT_OK;
}

/* Checks the structure of a tree over rows [0, built) and computes its statistics: the root
 * covers every row, the children of a node split its range in two, every node but the root has
 * exactly one parent that precedes it, depth <= MAX_DEPTH. So the leaves partition the rows and
 * a search stack of MAX_DEPTH + 1 entries always suffices. */
static nearkit_status check_structure(vp_impl *t) {
    if (t->store.built == 0 || t->n_nodes == 0)
        return t->store.built == t->n_nodes ? NEARKIT_OK
                                      : nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                                          "corrupt index: %llu tree nodes for %llu rows",
                                                          (unsigned long long)t->n_nodes,
                                                          (unsigned long long)t->store.built);
    uint8_t *depth = calloc((size_t)t->n_nodes, 1);
    if (!depth) return nearkit_oom();
    nearkit_status st = NEARKIT_OK;
    uint64_t leaves = 0, max_leaf = 0;
    uint32_t max_depth = 0;
    const vp_node *nodes = t->nodes;
    if (nodes[0].begin != 0 || nodes[0].end != t->store.built) st = NEARKIT_ERR_CORRUPT;
    for (uint64_t i = 0; i < t->n_nodes && !st; i++) {
        const vp_node *nd = &nodes[i];
        if ((i > 0 && depth[i] == 0) || nd->begin >= nd->end || nd->end > t->store.built) {
            st = NEARKIT_ERR_CORRUPT;
            break;
        }
        if (is_leaf(nd)) {
            if (nd->child[1] != NO_CHILD) st = NEARKIT_ERR_CORRUPT;
            leaves++;
            if (nd->end - nd->begin > max_leaf) max_leaf = nd->end - nd->begin;
            if (depth[i] > max_depth) max_depth = depth[i];
            continue;
        }
        uint64_t c0 = nd->child[0], c1 = nd->child[1];
        if (c0 <= i || c1 <= i || c0 >= t->n_nodes || c1 >= t->n_nodes || c0 == c1 || depth[c0] ||
            depth[c1] || depth[i] >= MAX_DEPTH || nodes[c0].begin != nd->begin ||
            nodes[c0].end != nodes[c1].begin || nodes[c1].end != nd->end || nd->vantage < nd->begin ||
            nd->vantage >= nd->end) {
            st = NEARKIT_ERR_CORRUPT;
            break;
        }
        depth[c0] = depth[c1] = (uint8_t)(depth[i] + 1);
    }
    free(depth);
    if (st)
        return nearkit_set_error(st, "corrupt index: the tree's nodes do not form a vp-tree over its rows");
    t->leaf_count = leaves;
    t->max_leaf = max_leaf;
    t->depth = max_depth;
    return NEARKIT_OK;
}

/* Fills t->vantages from the rows (after check_structure); a leaf's slot is zero (saves write
 * the slots as they are). */
static nearkit_status copy_vantages(const nearkit_index *ix, vp_impl *t) {
    size_t vb = (size_t)ix->vector_bytes;
    t->vantages = nearkit_aligned_alloc_array((size_t)t->n_nodes, vb);
    if (!t->vantages) return nearkit_oom();
    for (uint64_t i = 0; i < t->n_nodes; i++) {
        uint8_t *slot = t->vantages + i * vb;
        if (is_leaf(&t->nodes[i])) memset(slot, 0, vb);
        else memcpy(slot, nearkit_rows_at(&t->store.rows, ix, t->nodes[i].vantage), vb);
    }
    return NEARKIT_OK;
}

/* Builds the tree over every row (none of them marked), reordering the rows into tree order. */
static nearkit_status build_tree(nearkit_index *ix) {
    vp_impl *t = impl_of(ix);
    uint64_t n = t->store.rows.count;
    if (n == 0) return NEARKIT_OK;
    uint64_t *perm = nearkit_alloc_array((size_t)n, sizeof *perm);
    float *dist = nearkit_alloc_array((size_t)n, sizeof *dist);
    uint64_t *where = nearkit_alloc_array((size_t)n, sizeof *where);
    vp_node *nodes = NULL;
    uint64_t n_nodes = 0;
    nearkit_status st = perm && dist && where ? NEARKIT_OK : nearkit_oom();
    if (!st) {
        for (uint64_t i = 0; i < n; i++) perm[i] = i;
        st = build_nodes(&nodes, &n_nodes, ix, perm, dist, n);
    }
    if (!st) st = nearkit_rows_permute(&t->store.rows, ix, perm, n);
    if (!st) {
        for (uint64_t i = 0; i < n; i++) where[perm[i]] = i;
        for (uint64_t i = 0; i < n_nodes; i++)
            if (!is_leaf(&nodes[i])) nodes[i].vantage = where[nodes[i].vantage];
        forget_tree(t);
        t->nodes = nodes;
        t->n_nodes = n_nodes;
        t->store.built = n;
        nodes = NULL;
        st = check_structure(t);
        if (st) st = nearkit_set_error(NEARKIT_ERR_INTERNAL, "vp-tree build produced an invalid tree");
        if (!st) st = copy_vantages(ix, t);
        if (st) forget_tree(t);
    }
    free(nodes);
    free(perm);
    free(dist);
    free(where);
    return st;
}

/* ---- a living collection ----------------------------------------------------------------------- */

/* Rebuilds the tree over the live rows, dropping the marked ones. On failure every row is left
 * in the tail, which searches scan exactly. */
static nearkit_status rebuild(nearkit_index *ix) {
    vp_impl *t = impl_of(ix);
    forget_tree(t);
    if (t->store.rows.removed > 0) nearkit_rows_compact(&t->store.rows, ix, NULL);
    return build_tree(ix);
}

static nearkit_status vp_build(nearkit_index *ix) {
    vp_impl *t = impl_of(ix);
    t->store.maintained = true;
    return t->store.built == t->store.rows.count ? NEARKIT_OK : rebuild(ix);
}

/* ---- search ------------------------------------------------------------------------------------ */

typedef struct vp_pending {
    uint64_t node;
    double bound; /* lower bound on the true tree distance of the query to the node's rows */
} vp_pending;

/* A call's plan: the rows a filter admits, gathered once when it admits few. */
typedef struct vp_plan {
    uint64_t *positions; /* NULL: search the tree and the tail */
    uint64_t n;
} vp_plan;

static bool plan_call(nearkit_search_call *c, void *plan) {
    const vp_impl *t = impl_of(c->ix);
    vp_plan *p = plan;
    if (!c->admit || c->admit->most > nearkit_rows_live(&t->store.rows) / GATHER_FRACTION) return true;
    return nearkit_rows_admitted(&p->positions, &p->n, &t->store.rows, c, 0, t->store.rows.count) == NEARKIT_OK;
}

static void plan_free(void *plan) { free(((vp_plan *)plan)->positions); }

/* One worker's scratch for a search call. */
typedef struct vp_searcher {
    const nearkit_index *ix;
    const vp_impl *t;
    const nearkit_search_call *call;
    const vp_plan *plan;
    const nearkit_kernel_table *kt;
    tree_margin margin;
    bool checking;    /* candidates pass nearkit_call_admits: the call filters, or rows are marked */
    float *dist;      /* max(max_leaf, SCAN_BLOCK) */
    uint32_t *ints;   /* as many */
    float *heap_dist; /* k, on k-NN calls */
    uint64_t *heap_pos;
    size_t scan, k;   /* what the buffers hold */
} vp_searcher;

static void searcher_free(void *scratch) {
    vp_searcher *s = scratch;
    free(s->dist);
    free(s->ints);
    free(s->heap_dist);
    free(s->heap_pos);
    free(s);
}

/* Distances a leaf or a block of rows needs room for. */
static size_t scan_rows(const vp_impl *t) { return t->max_leaf > SCAN_BLOCK ? (size_t)t->max_leaf : SCAN_BLOCK; }

/* Points the searcher at call c (its buffers made already). */
static void searcher_aim(vp_searcher *s, const nearkit_search_call *c) {
    const vp_impl *t = impl_of(c->ix);
    s->ix = c->ix;
    s->t = t;
    s->call = c;
    s->plan = c->state;
    s->kt = nearkit_kernels();
    s->margin = margin_of(c->ix);
    s->checking = c->admit || t->store.rows.removed > 0;
}

static void *searcher_new(const nearkit_search_call *c) {
    vp_searcher *s = malloc(sizeof *s);
    if (!s) return NULL;
    size_t scan = scan_rows(impl_of(c->ix));
    *s = (vp_searcher){.scan = scan, .k = (size_t)c->k, .dist = nearkit_alloc_array(scan, sizeof(float)),
                       .ints = nearkit_alloc_array(scan, sizeof(uint32_t))};
    if (c->k > 0) {
        s->heap_dist = nearkit_alloc_array((size_t)c->k, sizeof(float));
        s->heap_pos = nearkit_alloc_array((size_t)c->k, sizeof(uint64_t));
    }
    if (!s->dist || !s->ints || (c->k > 0 && (!s->heap_dist || !s->heap_pos))) {
        searcher_free(s);
        return NULL;
    }
    searcher_aim(s, c);
    return s;
}

/* A searcher kept from an earlier call serves one with the same k and no larger leaves. */
static bool searcher_reuse(void *scratch, const nearkit_search_call *c) {
    vp_searcher *s = scratch;
    if (s->k != c->k || s->scan < scan_rows(impl_of(c->ix))) return false;
    searcher_aim(s, c);
    return true;
}

/* Descends from a pending node towards the query while the nearer child can hold results,
 * pushing the farther child when it can too; returns the leaf reached, or UINT64_MAX when the
 * walk ends without one. */
static uint64_t descend(const vp_searcher *s, const void *q, vp_pending p, double limit,
                        vp_pending *stack, size_t *top) {
    const vp_node *nodes = s->t->nodes;
    uint64_t i = p.node;
    double bound = p.bound;
    while (!is_leaf(&nodes[i])) {
        const vp_node *nd = &nodes[i];
        float c = tree_distance(s->kt, s->ix, q, s->t->vantages + i * s->ix->vector_bytes);
        double b0 = bound, b1 = bound;
        if (!isinf(c)) { /* else overflowed: no information */
            double c_low = ((double)c - s->margin.abs) * s->margin.up;
            double c_high = ((double)c + s->margin.abs) * s->margin.down;
            double d0 = child_bound(&s->margin, c_low, c_high, nd->lo[0], nd->hi[0]);
            double d1 = child_bound(&s->margin, c_low, c_high, nd->lo[1], nd->hi[1]);
            if (d0 > b0) b0 = d0;
            if (d1 > b1) b1 = d1;
        }
        int near = b1 < b0;
        double near_bound = near ? b1 : b0, far_bound = near ? b0 : b1;
        if (far_bound <= limit) stack[(*top)++] = (vp_pending){nd->child[!near], far_bound};
        if (near_bound > limit) return UINT64_MAX;
        i = nd->child[near];
        bound = near_bound;
    }
    return i;
}

/* Pops pending nodes until one leads to a leaf within limit, and sets its rows [*first, *end);
 * false when nothing is left. */
static bool next_leaf(const vp_searcher *s, const void *q, vp_pending *stack, size_t *top, double limit,
                      uint64_t *first, uint64_t *end) {
    while (*top > 0) {
        vp_pending p = stack[--*top];
        if (p.bound > limit) continue;
        uint64_t leaf = descend(s, q, p, limit, stack, top);
        if (leaf == UINT64_MAX) continue;
        *first = s->t->nodes[leaf].begin;
        *end = s->t->nodes[leaf].end;
        return true;
    }
    return false;
}

/* Offers rows [first, first + n) to h; unless the call checks candidates, all of them. */
static void offer_rows(const vp_searcher *s, nearkit_topk *h, const void *q, uint64_t first, size_t n) {
    nearkit_rows_distances(s->dist, s->ints, s->kt, s->ix, &s->t->store.rows, q, first, n);
    if (!s->checking) {
        nearkit_topk_push_block(h, s->dist, first, n);
        return;
    }
    const int64_t *ids = s->t->store.rows.ids + first;
    float bound = nearkit_topk_bound(h);
    for (size_t i = 0; i < n; i++)
        if (s->dist[i] <= bound && nearkit_call_admits(s->call, ids[i])) {
            nearkit_topk_push(h, s->dist[i], first + i);
            bound = nearkit_topk_bound(h);
        }
}

/* Offers the tail, the rows added since the tree was built, to h. */
static void offer_tail(const vp_searcher *s, nearkit_topk *h, const void *q) {
    for (uint64_t first = s->t->store.built; first < s->t->store.rows.count; first += SCAN_BLOCK) {
        uint64_t left = s->t->store.rows.count - first;
        offer_rows(s, h, q, first, (size_t)(left < SCAN_BLOCK ? left : SCAN_BLOCK));
    }
}

/* Offers the plan's gathered rows to h. */
static void offer_gathered(const vp_searcher *s, nearkit_topk *h, const void *q) {
    for (uint64_t i = 0; i < s->plan->n; i += SCAN_BLOCK) {
        uint64_t left = s->plan->n - i;
        nearkit_rows_offer(h, s->dist, s->ints, s->ix, &s->t->store.rows, q, s->plan->positions + i,
                           left < SCAN_BLOCK ? left : SCAN_BLOCK);
    }
}

/* The k nearest rows into h: the tail first (its candidates tighten the bound), then the tree. */
static void knn_query(const vp_searcher *s, const void *q, nearkit_topk *h) {
    offer_tail(s, h, q);
    if (s->t->n_nodes == 0) return;
    vp_pending stack[MAX_DEPTH + 2] = {{0, 0}};
    size_t top = 1;
    double limit = tree_limit(s->ix, s->margin, nearkit_reported(s->ix, nearkit_topk_bound(h)));
    uint64_t first, end;
    while (next_leaf(s, q, stack, &top, limit, &first, &end)) {
        offer_rows(s, h, q, first, (size_t)(end - first));
        limit = tree_limit(s->ix, s->margin, nearkit_reported(s->ix, nearkit_topk_bound(h)));
    }
}

/* The smallest of n >= 1 distances (4 chains, so the comparisons overlap). */
static float block_min(const float *d, size_t n) {
    float m[4] = {d[0], d[0], d[0], d[0]};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) m[j] = d[i + j] < m[j] ? d[i + j] : m[j];
    for (; i < n; i++) m[0] = d[i] < m[0] ? d[i] : m[0];
    float a = m[0] < m[1] ? m[0] : m[1], b = m[2] < m[3] ? m[2] : m[3];
    return a < b ? a : b;
}

/* The nearest row (1-NN fast path: no heap), for a tree over every row with nothing to check.
 * Ties go to the smaller id, as in the flat index. */
static uint64_t nearest_query(const vp_searcher *s, const void *q, float *best_out) {
    const int64_t *ids = s->t->store.rows.ids;
    vp_pending stack[MAX_DEPTH + 2] = {{0, 0}};
    size_t top = 1;
    double limit = INFINITY;
    float best = INFINITY;
    uint64_t best_row = UINT64_MAX, first, end;
    while (next_leaf(s, q, stack, &top, limit, &first, &end)) {
        size_t n = (size_t)(end - first);
        nearkit_rows_distances(s->dist, s->ints, s->kt, s->ix, &s->t->store.rows, q, first, n);
        if (best_row != UINT64_MAX && block_min(s->dist, n) > best) continue; /* the common case */
        for (size_t i = 0; i < n; i++) {
            float d = s->dist[i];
            uint64_t row = first + i;
            if (d < best || best_row == UINT64_MAX || (d == best && ids[row] < ids[best_row])) {
                best = d;
                best_row = row;
            }
        }
        limit = tree_limit(s->ix, s->margin, nearkit_reported(s->ix, best));
    }
    *best_out = best;
    return best_row;
}

/* The k-NN of queries [first, first + n). k = 1 takes the heap-free path where the tree covers
 * every row and nothing needs checking. */
static bool vp_knn(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    vp_searcher *s = scratch;
    const int64_t *ids = s->t->store.rows.ids;
    bool fast_nearest = c->k == 1 && !s->checking && !s->plan->positions && s->t->store.built == s->t->store.rows.count;
    for (uint64_t q = first; q < first + n; q++) {
        const void *query = nearkit_query_at(c, q);
        if (fast_nearest) {
            float best;
            uint64_t row = nearest_query(s, query, &best);
            /* one candidate is a sorted list of candidates (none when the index is empty) */
            nearkit_topk one = {.dist = &best, .pos = &row, .size = row != UINT64_MAX, .cap = 1, .ids = ids};
            nearkit_write_sorted(c, q, &one);
            continue;
        }
        nearkit_topk h;
        nearkit_topk_init(&h, s->heap_dist, s->heap_pos, (size_t)c->k, ids);
        if (s->plan->positions) offer_gathered(s, &h, query);
        else knn_query(s, query, &h);
        nearkit_write_heap(c, q, &h);
    }
    return true;
}

/* The matches of query q among rows [first, first + n); false when out of memory. */
static bool match_rows(const vp_searcher *s, uint64_t q, const void *query, uint64_t first, size_t n) {
    const nearkit_search_call *c = s->call;
    const int64_t *ids = s->t->store.rows.ids + first;
    nearkit_rows_distances(s->dist, s->ints, s->kt, s->ix, &s->t->store.rows, query, first, n);
    for (size_t i = 0; i < n; i++) {
        float d = nearkit_reported(s->ix, s->dist[i]);
        if (d <= c->radius && (!s->checking || nearkit_call_admits(c, ids[i])) &&
            !nearkit_add_match(c, q, ids[i], d))
            return false;
    }
    return true;
}

/* Every row within the radius of query q into the call's matches; false when out of memory. */
static bool vp_range(void *scratch, const nearkit_search_call *c, uint64_t q) {
    const vp_searcher *s = scratch;
    const vp_impl *t = s->t;
    const void *query = nearkit_query_at(c, q);
    if (s->plan->positions) {
        for (uint64_t i = 0; i < s->plan->n; i += SCAN_BLOCK) {
            uint64_t left = s->plan->n - i;
            if (!nearkit_rows_match(c, q, s->dist, s->ints, &t->store.rows, s->plan->positions + i,
                                    left < SCAN_BLOCK ? left : SCAN_BLOCK))
                return false;
        }
        return true;
    }
    double limit = tree_limit(s->ix, s->margin, c->radius);
    if (limit < 0) return true;
    for (uint64_t first = t->store.built; first < t->store.rows.count; first += SCAN_BLOCK) {
        uint64_t left = t->store.rows.count - first;
        if (!match_rows(s, q, query, first, (size_t)(left < SCAN_BLOCK ? left : SCAN_BLOCK))) return false;
    }
    if (t->n_nodes == 0) return true;
    vp_pending stack[MAX_DEPTH + 2] = {{0, 0}};
    size_t top = 1;
    uint64_t first, end;
    while (next_leaf(s, query, stack, &top, limit, &first, &end))
        if (!match_rows(s, q, query, first, (size_t)(end - first))) return false;
    return true;
}

static const nearkit_searcher vp_searching = {
    .plan_size = sizeof(vp_plan),
    .plan = plan_call,
    .plan_free = plan_free,
    .scratch_new = searcher_new,
    .scratch_reuse = searcher_reuse,
    .scratch_free = searcher_free,
    .knn = vp_knn,
    .range = vp_range,
};


/* ---- parameters -------------------------------------------------------------------------------- */

static nearkit_status vp_get_param(const nearkit_index *ix, size_t i, double *value) {
    const vp_impl *t = impl_of(ix);
    switch (i) {
    case PARAM_LEAF_SIZE: *value = t->leaf_size; break;
    case PARAM_DEPTH: *value = t->depth; break;
    case PARAM_NODE_COUNT: *value = (double)t->n_nodes; break;
    default: *value = (double)t->leaf_count; break;
    }
    return NEARKIT_OK;
}

static nearkit_status vp_set_param(nearkit_index *ix, size_t i, double value) {
    (void)i; /* the generic layer refuses the read-only ones: only leaf_size gets here */
    impl_of(ix)->leaf_size = (uint32_t)value;
    return NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

/* VPHD: u64 rows in the tree, u64 node count. VPND: the nodes, 48 bytes each (vp_node). VPVA
 * (files from before it have none): each node's vantage vector as t->vantages holds it, so that a
 * plain view uses it in place instead of gathering it from the rows at open. */
static nearkit_status vp_save(const nearkit_index *ix, nearkit_writer *w) {
    const vp_impl *t = impl_of(ix);
    uint64_t head[2] = {t->store.built, t->n_nodes};
    nearkit_status st = nearkit_writer_section(w, HEAD_TAG, head, sizeof head);
    if (!st) st = nearkit_rows_save(&t->store.rows, ix, w);
    if (!st) st = nearkit_writer_section(w, NODES_TAG, t->nodes, t->n_nodes * sizeof(vp_node));
    if (!st && t->n_nodes)
        st = nearkit_writer_section(w, VANTAGES_TAG, t->vantages, t->n_nodes * (size_t)ix->vector_bytes);
    return st;
}

typedef struct bounds_check {
    const nearkit_index *ix;
    vp_impl *t;
    const nearkit_kernel_table *kt;
    tree_margin margin;
    _Atomic int bad;
} bounds_check;

static bool bound_agrees(tree_margin m, float stored, float computed) {
    if (stored == computed) return true;
    if (isnan(stored) || isinf(stored) || isinf(computed)) return false;
    double scale = fmax(fabs((double)stored), fabs((double)computed));
    return fabs((double)stored - (double)computed) <= 4 * (m.rel * scale + m.abs);
}

/* Recomputes the bounds of internal nodes [begin, end) from the rows, with the kernels in use
 * now (the file may come from another CPU), after checking the stored ones agree. */
static void bounds_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    bounds_check *c = ctx;
    vp_node *nodes = c->t->nodes;
    for (uint64_t i = begin; i < end; i++) {
        vp_node *nd = &nodes[i];
        if (is_leaf(nd)) continue;
        const uint8_t *v = nearkit_rows_at(&c->t->store.rows, c->ix, nd->vantage);
        for (int side = 0; side < 2; side++) {
            const vp_node *child = &nodes[nd->child[side]];
            float lo = INFINITY, hi = 0;
            for (uint64_t row = child->begin; row < child->end; row++) {
                float d = tree_distance(c->kt, c->ix, v, nearkit_rows_at(&c->t->store.rows, c->ix, row));
                if (d < lo) lo = d;
                if (d > hi) hi = d;
            }
            if (!bound_agrees(c->margin, nd->lo[side], lo) || !bound_agrees(c->margin, nd->hi[side], hi))
                atomic_store(&c->bad, 1);
            nd->lo[side] = lo;
            nd->hi[side] = hi;
        }
    }
}

/* The stored vantages (VPVA) of n_nodes nodes, NULL and OK when the file has none. */
static nearkit_status stored_vantages(const void **data, const nearkit_index *ix, const vp_impl *t,
                                      const nearkit_reader *r) {
    *data = NULL;
    if (!nearkit_reader_has_section(r, VANTAGES_TAG)) return NEARKIT_OK;
    return nearkit_reader_section_sized(data, r, VANTAGES_TAG, t->n_nodes * ix->vector_bytes);
}

/* A plain view's vantages: the file's in place where it has them, else gathered from the rows. */
static nearkit_status vantages_of_view(const nearkit_index *ix, vp_impl *t, const nearkit_reader *r) {
    const void *data;
    nearkit_status st = stored_vantages(&data, ix, t, r);
    if (!st && data) st = nearkit_reader_borrowable(r, data, VANTAGES_TAG);
    if (st || !data) return st ? st : copy_vantages(ix, t);
    t->vantages = (uint8_t *)data; /* read-only: a view refuses every write */
    t->vantages_borrowed = true;
    return NEARKIT_OK;
}

/* A load's (and a verified view's) vantages: gathered from the rows, and the stored ones must be
 * the same bytes. */
static nearkit_status vantages_checked(const nearkit_index *ix, vp_impl *t, const nearkit_reader *r) {
    const void *data;
    nearkit_status st = stored_vantages(&data, ix, t, r);
    if (!st) st = copy_vantages(ix, t);
    if (!st && data && memcmp(data, t->vantages, t->n_nodes * (size_t)ix->vector_bytes) != 0)
        st = nearkit_set_error(NEARKIT_ERR_CORRUPT,
                               "corrupt index: stored vp-tree vantage vectors differ from the stored rows");
    return st;
}

static nearkit_status vp_load(nearkit_index *ix, const nearkit_reader *r) {
    vp_impl *t = impl_of(ix);
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, HEAD_TAG, 16);
    if (st) return st;
    uint64_t head[2];
    memcpy(head, data, sizeof head);
    st = nearkit_rows_load(&t->store.rows, ix, r, true);
    if (st) return st;
    if (head[0] > t->store.rows.count || head[1] >= NO_CHILD)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: a tree of %llu nodes over %llu of %llu rows",
                                 (unsigned long long)head[1], (unsigned long long)head[0],
                                 (unsigned long long)t->store.rows.count);
    st = nearkit_reader_section_sized(&data, r, NODES_TAG, head[1] * sizeof(vp_node));
    if (st) return st;
    /* A plain view trusts the stored bounds as it trusts the stored vectors: whatever kernels
     * computed them, the search's margins (tree_margin) keep it exact. A load recomputes them
     * with this CPU's kernels after checking they agree. */
    bool in_place = nearkit_reader_borrows(r) && !nearkit_reader_checks_values(r) && head[1] > 0;
    if (in_place && (st = nearkit_reader_borrowable(r, data, NODES_TAG))) return st;
    t->nodes = in_place ? (vp_node *)data : nearkit_alloc_array((size_t)head[1], sizeof(vp_node));
    t->nodes_borrowed = in_place;
    if (!t->nodes) return nearkit_oom();
    if (!in_place) memcpy(t->nodes, data, (size_t)head[1] * sizeof(vp_node));
    t->n_nodes = head[1];
    t->store.built = head[0];
    t->store.maintained = t->store.built > 0;
    st = check_structure(t);
    if (st || in_place) return st ? st : vantages_of_view(ix, t, r);
    bounds_check c = {.ix = ix, .t = t, .kt = nearkit_kernels(), .margin = margin_of(ix)};
    atomic_init(&c.bad, 0);
    nearkit_parallel_for(nearkit_resolve_threads(ix->num_threads), t->n_nodes, 16, bounds_range, &c);
    if (atomic_load(&c.bad))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: stored vp-tree bounds do not match the stored vectors");
    return vantages_checked(ix, t, r);
}

/* ---- description ------------------------------------------------------------------------------- */

#define DESCRIBE_LEVELS 4

static void describe_node(const nearkit_index *ix, const vp_impl *t, nearkit_strbuf *sb, uint64_t i,
                          int level) {
    const vp_node *nd = &t->nodes[i];
    int indent = 2 + 2 * level;
    if (is_leaf(nd)) {
        nearkit_strbuf_appendf(sb, "%*sleaf: rows %llu..%llu (%llu)\n", indent, "",
                               (unsigned long long)nd->begin, (unsigned long long)nd->end - 1,
                               (unsigned long long)(nd->end - nd->begin));
        return;
    }
    uint64_t mid = t->nodes[nd->child[0]].end;
    nearkit_strbuf_appendf(sb,
                           "%*snode: rows %llu..%llu (%llu), vantage id %lld; near: %llu rows at "
                           "%.6g..%.6g, far: %llu rows at %.6g..%.6g\n",
                           indent, "", (unsigned long long)nd->begin, (unsigned long long)nd->end - 1,
                           (unsigned long long)(nd->end - nd->begin), (long long)t->store.rows.ids[nd->vantage],
                           (unsigned long long)(mid - nd->begin), nd->lo[0], nd->hi[0],
                           (unsigned long long)(nd->end - mid), nd->lo[1], nd->hi[1]);
    if (level + 1 >= DESCRIBE_LEVELS) {
        nearkit_strbuf_appendf(sb, "%*s...\n", indent + 2, "");
        return;
    }
    describe_node(ix, t, sb, nd->child[0], level + 1);
    describe_node(ix, t, sb, nd->child[1], level + 1);
}

static void vp_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    const vp_impl *t = impl_of(ix);
    const char *distance = ix->metric == NEARKIT_METRIC_COSINE ? "chord (|x - y| of the normalised vectors)"
                                                               : nearkit_metric_name(ix->metric);
    nearkit_strbuf_appendf(sb,
                           "vp-tree by %s distance: %llu rows in the tree, depth %u, %llu nodes, "
                           "%llu leaves of at most %llu rows; distance kernels: %s\n",
                           distance, (unsigned long long)t->store.built, t->depth,
                           (unsigned long long)t->n_nodes, (unsigned long long)t->leaf_count,
                           (unsigned long long)t->max_leaf, nearkit_kernels()->name);
    if (t->store.built < t->store.rows.count)
        nearkit_strbuf_appendf(sb, "%llu rows added since the last build, scanned exactly until the next\n",
                               (unsigned long long)(t->store.rows.count - t->store.built));
    if (t->store.rows.removed > 0)
        nearkit_strbuf_appendf(sb, "%llu rows removed, their space kept until the tree is rebuilt\n",
                               (unsigned long long)t->store.rows.removed);
    if (t->n_nodes == 0) return;
    nearkit_strbuf_appendf(sb, "top %d levels (distances to the node's vantage point):\n", DESCRIBE_LEVELS);
    describe_node(ix, t, sb, 0, 0);
}

const nearkit_index_ops nearkit_vptree_ops = {
    .kind = NEARKIT_KIND_VPTREE,
    .name = "vptree",
    .description = "exact vantage-point tree (l2, l1, linf, cosine, hamming); fastest exact search "
                   "at low to mid dimensions (to about 16 on spread-out data, 64 on clustered "
                   "data); build after adding (rows added since are scanned exactly)",
    .flags = NEARKIT_KIND_FLAG_EXACT | NEARKIT_KIND_FLAG_NEEDS_BUILD,
    .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_L1) | (1u << NEARKIT_METRIC_LINF) |
                   (1u << NEARKIT_METRIC_COSINE) | (1u << NEARKIT_METRIC_HAMMING),
    .params = vp_params,
    .n_params = sizeof vp_params / sizeof vp_params[0],
    .create = vp_create,
    .destroy = vp_destroy,
    .add = nearkit_tree_rows_add,
    .build = vp_build,
    .is_ready = vp_is_ready,
    .count = vp_count,
    .memory = vp_memory,
    .knn_searcher = &vp_searching,
    .range_searcher = &vp_searching,
    .remove = nearkit_tree_rows_remove,
    .get = nearkit_tree_rows_get,
    .each_id = nearkit_tree_rows_each_id,
    .compact = nearkit_tree_rows_compact,
    .get_param = vp_get_param,
    .set_param = vp_set_param,
    .save = vp_save,
    .load = vp_load,
    .describe = vp_describe,
};
