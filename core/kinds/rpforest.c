/* The random-projection forest: approximate k-NN in the way of Annoy and panns, under l2, l1,
 * cosine, ip and hamming.
 *
 * Build: n_trees trees, each over every row, each node drawing from its own random stream (seeded
 * by its tree's seed and its range, node_stream), so a forest is the same whatever the thread
 * count and the kernel implementation. The upper levels of all trees are split together, one
 * sequential pass over the rows per level (split_upper_levels); below 2 MB of rows, each subtree
 * is split on its own from a copy of its rows, subtrees in parallel (build_subtree). A node splits
 * its rows by a hyperplane <w, x> + b = 0 with |w| = 1, until at most leaf_size rows remain:
 *   - split = 0 (Annoy's two-means): two centroids from a couple of hundred steps of online 2-means
 *     on random rows of the node; w points from one to the other and the plane is their bisector
 *     (through the origin for cosine, whose rows are unit vectors);
 *   - split = 1 (panns'): a random Gaussian direction, the offset at the mean of the projections.
 * With shared_projections = P > 0, every split draws its direction from one pool of P random
 * directions shared by all trees (panns' small index): the file stores P planes instead of one per
 * internal node. Binary rows split on one bit (Annoy's way); ip rows are split lifted onto a
 * sphere (Annoy's way again, see plane_width). A split that leaves more than 95% of
 * the rows on one side is retried, then replaced by halving the rows with no plane: both children
 * are then equally near any query. Every tree keeps its rows in leaf order (a permutation of
 * [0, built)), so a node covers one contiguous range of it.
 *
 * Search: best first over all trees with one priority queue on the split margins (a child's
 * priority is the least signed margin on its path; for bits, minus the count of split bits the
 * query disagrees with), until search_k candidates (duplicates included, as Annoy counts) are
 * collected; search_k = 0 means n_trees * k, Annoy's default. The candidates are deduplicated and
 * scored exactly with the row store's kernels into the top k. search_k >= n_trees * rows visits
 * every leaf: the answer is then exact. Range search scans the candidates of search_k (every row
 * when it is 0, exactly). Float forests whose planes are all codes descend a walk that holds each
 * node's plane codes beside its record (lay_out_walk; saved too, and a plain view's is the file's,
 * borrow_walk); others descend the nodes.
 *
 * A living collection, as the vp-tree: rows added after a build form a tail that every search
 * scans exactly; removing marks rows, which searches skip; writers rebuild the forest when marked
 * and tail rows reach a quarter of the rows. Filters admit candidates; a filter that lets few rows
 * through is answered over its gathered rows, exactly.
 *
 * A saved index holds the forest (docs/format.md: RFHD, RFTR, RFND, RFLR, and the planes as 8-bit
 * codes in RFPC / RFPE, or as floats in RFPL in older files); the loader checks every link, range,
 * plane and leaf permutation before anything searches it. */
#include "search/driver.h"
#include "base/internal.h"
#include "kernels/kernels.h"
#include "base/random.h"
#include "search/rows.h"
#include "kinds/rpforest_screen.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_TAG NEARKIT_TAG('R', 'F', 'H', 'D')
#define TREES_TAG NEARKIT_TAG('R', 'F', 'T', 'R')
#define NODES_TAG NEARKIT_TAG('R', 'F', 'N', 'D')
#define LEAF_ROWS_TAG NEARKIT_TAG('R', 'F', 'L', 'R')
#define PLANES_TAG NEARKIT_TAG('R', 'F', 'P', 'L')      /* float planes: files before RFPC */
#define PLANE_CODES_TAG NEARKIT_TAG('R', 'F', 'P', 'C') /* planes as 8-bit codes ... */
#define PLANE_EXPONENTS_TAG NEARKIT_TAG('R', 'F', 'P', 'E') /* ... times a power of two each */
#define WALK_TAG NEARKIT_TAG('R', 'F', 'W', 'K')        /* the coded walk's places, where one serves */
#define WALK_ROOTS_TAG NEARKIT_TAG('R', 'F', 'W', 'R')  /* and each tree's root place */

#define DEFAULT_TREES 10
#define MAX_TREES 4096
#define DEFAULT_LEAF_SIZE 64  /* the least default leaf (default_leaf_size) */
#define MID_LEAF_SIZE 128     /* the most rows a default leaf takes from the dimension */
#define DEFAULT_LEAF_SIZE_BINARY 256
#define MAX_LEAF_SIZE 65536
#define MAX_POOL 65536
#define TWO_MEANS_STEPS 200 /* Annoy's iteration_steps */
#define TWO_MEANS_STEPS_LARGE_D 64 /* past LARGE_D dimensions (two_means_steps) */
#define LARGE_D 256
#define SPLIT_TRIES 3       /* hyperplanes tried before halving (binary: bits tried, times 8) */
#define MAX_IMBALANCE 0.95  /* Annoy's: a larger share on one side is not a split */
#define NO_CHILD UINT32_MAX
#define NO_PLANE UINT32_MAX
#define SCAN_BLOCK 256
#define QUEUE_START 1024 /* queued nodes a searcher has room for at first */
#define PREFETCH_AHEAD 8 /* two-means sample rows asked for before they are read (prefetch_vector) */
#define MARGIN_BLOCK 16  /* rows per pairs-kernel call when a node's margins are gathered */
#define PASS_TREES 32    /* trees per pairs-kernel call in a level's pass over the rows */
#define LOCAL_BYTES (2u << 20) /* subtrees of rows up to this size are built from a copy (enter_local) */
#define COPY_LEAVES 8 /* ... when they hold more than this many leaves' rows (build_subtree) */
/* The least dimension whose builds screen margins by codes (screens): below it a float margin
 * costs less than the screen's own work. 20 trees, two threads, the same forest each time, on an
 * AVX-512 Xeon: Fashion-MNIST (784) 0.65 -> 0.49 s, the same images over 255 0.62 -> 0.49 s,
 * clustered floats at 768 0.69 -> 0.61 s, at 512 even, at 256 and 128 15-30% slower; with
 * NEARKIT_KERNELS=avx2 (no VNNI) Fashion-MNIST 0.71 -> 0.64 s and 768 floats even. */
#define SCREEN_MIN_D 640
#define PLACE_CHUNK 4096 /* nodes per task when the walk is laid out */
#define GATHER_FRACTION 8 /* as the vp-tree: filters admitting at most live / 8 rows are scanned */

enum { SPLIT_TWO_MEANS, SPLIT_RANDOM };

/* The form searches descend (made from nodes and planes after a build or a load, lay_out_walk;
 * saved in the file, RFWK, for views to use in place, and instead of the plane codes where it
 * holds them all: planes_in_walk): each node's record with its plane's 8-bit codes right behind
 * it, so a level of the descent waits on one run of adjacent cache lines (144 bytes at d = 128)
 * instead of on a node and then on its float plane elsewhere (512 bytes): Annoy's nodes hold their
 * plane too. */
typedef struct walk_node {
    uint32_t child[2]; /* internal: the children's places (in walk_nodes); leaf: NO_CHILD, first row */
    union {
        float offset; /* internal: the margin of x is scale * <codes, x> + offset */
        uint32_t end; /* leaf: its tree's leaf rows [child[1], end) */
    };
    float scale; /* internal: the codes' power of two; 0: halved, no plane (and no codes follow) */
} walk_node;

_Static_assert(sizeof(walk_node) == 16, "a walk place is 16 bytes");

typedef struct coded_walk {
    walk_node *places;  /* NULL: no walk (binary rows, float planes of an older file, shared planes) */
    uint32_t *roots;    /* n_trees: each tree's root place */
    float *one, *minus; /* d floats of 1 and -128: the sq8 code kernel then reads code c + 128 as c */
    uint64_t count;     /* places */
    /* A plain view's walk: the file's places, read-only and unchecked (as the vectors are), so
     * that a search steps only forward to places that exist and reads leaf rows within the tree
     * (walk_step_valid, leaf_span); the roots were checked at open. */
    bool borrowed;
} coded_walk;

/* One node: 32 bytes, stored as is (little-endian, no padding) in the file. */
typedef struct rp_node {
    uint32_t child[2]; /* internal: the nodes of the negative and positive sides; leaf: NO_CHILD */
    uint32_t plane;    /* internal: float rows: the plane (NO_PLANE: halved, no plane); binary: bit */
    float offset;      /* internal, float rows: the margin of x is <plane, x> + offset */
    uint64_t begin, end; /* the node's rows: its tree's leaf rows [begin, end) */
} rp_node;

_Static_assert(sizeof(rp_node) == 32, "rp_node is stored byte for byte");

typedef struct rp_impl {
    nearkit_tree_rows store; /* first (search/rows.h): the rows, the built prefix, the tail */
    rp_node *nodes;      /* every tree's nodes, tree after tree, each in pre-order */
    uint64_t *tree_start; /* n_trees + 1: tree t's nodes are [tree_start[t], tree_start[t + 1]) */
    uint32_t *leaf_rows; /* n_trees * built: tree t's rows in leaf order at t * built */
    float *planes;       /* n_planes * plane_width (float rows) */
    uint64_t n_trees, n_nodes, n_planes;
    coded_walk walk;     /* what searches descend when every plane is coded (lay_out_walk) */
    /* A view's forest (rp_load from a borrowing reader): nodes and leaf rows used in place in the
     * mapping, and, where the walk serves, no float planes: the file's plane codes instead (decoded
     * a plane at a time into the walk, and saved as they are) */
    bool nodes_borrowed, leaf_rows_borrowed;
    const int8_t *view_codes, *view_exponents;
    bool resettled; /* a build setting changed since the forest was built: the next build remakes it */
    /* settings (the next build's, and search_k) */
    uint32_t want_trees, leaf_size, split, pool;
    double search_k;
    /* statistics of the built forest */
    uint32_t depth;
    uint64_t leaf_count, max_leaf;
} rp_impl;

static rp_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

static bool is_binary(const nearkit_index *ix) { return ix->vector_type == NEARKIT_VECTOR_BINARY; }

/* Floats per plane: the dimension, one more for ip, whose trees split rows lifted onto a sphere
 * (Annoy's way: x -> (x, sqrt(M^2 - |x|^2)) with M the largest norm, the query -> (q, 0), so the
 * inner product ranks as the angle does); none for binary rows, which split on bits. */
static size_t plane_width(const nearkit_index *ix) {
    if (is_binary(ix)) return 0;
    return (size_t)ix->dimension + (ix->metric == NEARKIT_METRIC_IP);
}

/* d rows between 64 and MID_LEAF_SIZE (Annoy's leaves hold up to d + 2 ids), or a quarter of the
 * dimension when that is more. Each split stores a plane of about d bytes (RFPC) beside the 4-byte
 * row numbers of its leaves, so leaves of d / 4 rows or more keep the planes from outweighing the
 * leaves: a 784-d forest then stays within Annoy's file size, while leaves much larger than that
 * cost search speed (leaves of d rows: a third of it on Fashion-MNIST). At 1M x 128, leaves of 128
 * rows instead of 64 build in a fifth less time with a smaller file, search a little slower at
 * recall 0.80-0.90 and faster at 0.99 (README: "rpforest against Annoy"). */
static uint32_t default_leaf_size(const nearkit_index *ix) {
    if (is_binary(ix)) return DEFAULT_LEAF_SIZE_BINARY;
    uint32_t d = ix->dimension, leaf = d < MID_LEAF_SIZE ? d : MID_LEAF_SIZE;
    if (d / 4 > leaf) leaf = d / 4;
    return leaf > DEFAULT_LEAF_SIZE ? leaf : DEFAULT_LEAF_SIZE;
}

static double describe_default_leaf_size(const nearkit_index *ix) { return default_leaf_size(ix); }

static const nearkit_param_desc rp_params[] = {
    {"n_trees", NEARKIT_PARAM_FLAG_INTEGER, 1, MAX_TREES, DEFAULT_TREES,
     "trees the next build makes (more: better recall, more memory)", NULL},
    {"leaf_size", NEARKIT_PARAM_FLAG_INTEGER, 1, MAX_LEAF_SIZE, 0,
     "most rows in a leaf, for the next build (default for float vectors the dimension clamped to "
     "64..128, or dimension / 4 when more; for binary codes 256)",
     describe_default_leaf_size},
    {"split", NEARKIT_PARAM_FLAG_INTEGER, 0, 1, SPLIT_TWO_MEANS,
     "hyperplanes of the next build: 0 Annoy's two-means bisector, 1 panns' random direction with "
     "the offset at the mean projection", NULL},
    {"shared_projections", NEARKIT_PARAM_FLAG_INTEGER, 0, MAX_POOL, 0,
     "0: a direction per split; P > 0: every split draws from one pool of P random directions "
     "shared by all trees (panns' small index; implies split 1)", NULL},
    {"search_k", NEARKIT_PARAM_FLAG_INTEGER | NEARKIT_PARAM_FLAG_RECALL | NEARKIT_PARAM_FLAG_FROM_K, 0,
     1e15, 0,
     "candidates collected per query, duplicates included (0: n_trees * k, Annoy's default); "
     ">= n_trees * rows is exact", NULL},
    {"depth", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 1e19, 0,
     "levels of the deepest built tree (0 before build)", NULL},
    {"node_count", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 1e19, 0,
     "nodes of the built forest, leaves included", NULL},
    {"leaf_count", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 1e19, 0,
     "leaves of the built forest", NULL},
    {"plane_count", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0, 1e19, 0,
     "hyperplanes stored (the pool's size with shared projections)", NULL},
};
enum {
    PARAM_TREES, PARAM_LEAF_SIZE, PARAM_SPLIT, PARAM_POOL, PARAM_SEARCH_K,
    PARAM_DEPTH, PARAM_NODE_COUNT, PARAM_LEAF_COUNT, PARAM_PLANE_COUNT
};

/* ---- lifetime ---------------------------------------------------------------------------------- */

static nearkit_status rebuild(nearkit_index *ix);

static nearkit_status rp_create(nearkit_index *ix) {
    rp_impl *t = calloc(1, sizeof *t);
    if (!t) return nearkit_oom();
    t->store.rebuild = rebuild;
    t->want_trees = DEFAULT_TREES;
    t->leaf_size = default_leaf_size(ix);
    t->split = SPLIT_TWO_MEANS;
    ix->impl = t;
    return NEARKIT_OK;
}

static void forget_walk(coded_walk *w) {
    if (!w->borrowed) free(w->places);
    free(w->roots);
    free(w->one);
    free(w->minus);
    *w = (coded_walk){0};
}

static void forget_forest(rp_impl *t) {
    forget_walk(&t->walk);
    if (!t->nodes_borrowed) free(t->nodes);
    free(t->tree_start);
    if (!t->leaf_rows_borrowed) free(t->leaf_rows);
    free(t->planes);
    t->nodes_borrowed = t->leaf_rows_borrowed = false;
    t->view_codes = t->view_exponents = NULL;
    t->nodes = NULL;
    t->tree_start = NULL;
    t->leaf_rows = NULL;
    t->planes = NULL;
    t->n_trees = t->n_nodes = t->n_planes = t->store.built = t->leaf_count = t->max_leaf = 0;
    t->depth = 0;
}

static void rp_destroy(nearkit_index *ix) {
    rp_impl *t = impl_of(ix);
    if (!t) return;
    forget_forest(t);
    nearkit_rows_free(&t->store.rows);
    free(t);
}

static bool rp_is_ready(const nearkit_index *ix) {
    (void)ix;
    return true; /* rows outside the forest are scanned exactly */
}

static uint64_t rp_count(const nearkit_index *ix) { return nearkit_rows_live(&impl_of(ix)->store.rows); }

/* The heap the forest owns (a view's borrowed sections cost nothing here). */
static uint64_t forest_bytes(const nearkit_index *ix, const rp_impl *t) {
    uint64_t plane_bytes = t->planes ? t->n_planes * plane_width(ix) * sizeof(float) : 0;
    uint64_t walk_bytes = t->walk.places ? (t->walk.borrowed ? 0 : t->walk.count * sizeof(walk_node)) +
                                               t->n_trees * sizeof(uint32_t) +
                                               2 * (uint64_t)ix->dimension * sizeof(float)
                                         : 0;
    uint64_t node_bytes = t->nodes_borrowed ? 0 : t->n_nodes * sizeof(rp_node);
    uint64_t leaf_bytes = t->leaf_rows_borrowed ? 0 : t->n_trees * t->store.built * sizeof(uint32_t);
    return node_bytes + (t->n_trees + (t->tree_start ? 1 : 0)) * sizeof(uint64_t) + leaf_bytes + plane_bytes +
           walk_bytes;
}

static uint64_t rp_memory(const nearkit_index *ix) {
    const rp_impl *t = impl_of(ix);
    return sizeof *t + nearkit_rows_memory(&t->store.rows, ix) + forest_bytes(ix, t);
}

static bool is_leaf(const rp_node *node) { return node->child[0] == NO_CHILD; }

/* ---- margins ----------------------------------------------------------------------------------- */

static float plane_margin(const nearkit_kernel_table *kt, const nearkit_index *ix, const float *planes,
                          const rp_node *nd, const void *x) {
    /* a query's lifted coordinate (ip) is 0 */
    return kt->dot(planes + (size_t)nd->plane * plane_width(ix), x, ix->dimension) + nd->offset;
}

static int bit_of(const uint8_t *code, uint32_t bit) { return code[bit >> 3] >> (bit & 7) & 1; }

/* ---- build ------------------------------------------------------------------------------------- */

typedef struct grow_list {
    void *items;
    uint64_t size, cap;
    size_t item;
} grow_list;

/* Room for `more` items at the end; false when out of memory. */
static bool list_reserve(grow_list *l, uint64_t more) {
    if (l->size + more <= l->cap) return true;
    uint64_t cap = l->cap ? l->cap * 2 : 64;
    while (cap < l->size + more) cap *= 2;
    void *grown = realloc(l->items, (size_t)cap * l->item);
    if (!grown) return false;
    l->items = grown;
    l->cap = cap;
    return true;
}

/* What every tree's build shares. */
typedef struct forest_spec {
    const nearkit_index *ix;
    const nearkit_kernel_table *kt;
    const uint8_t *vectors;
    uint64_t n;
    uint32_t leaf_size, split;
    const float *pool; /* shared directions, or NULL */
    const float *lift; /* ip: each row's lifted coordinate; else NULL */
    uint32_t pool_size;
    uint64_t local_rows; /* the most rows of a subtree built from a copy (alloc_local) */
    const rp_row_codes *codes; /* the rows' codes for the integer screen (two-means splits), or NULL */
} forest_spec;

/* One worker splitting nodes of one tree at a time. It reads the rows through `rows` and `lift`:
 * the row store's, or while a small subtree is built, a contiguous copy of that subtree's rows
 * (see enter_local). */
typedef struct tree_build {
    const forest_spec *spec;
    uint32_t *perm;   /* the tree's rows, reordered into leaf order (local numbers inside a copy) */
    uint64_t seed;    /* the tree's: a node's random stream comes from it and the node's range */
    const uint8_t *rows; /* the vectors perm's numbers index */
    const float *lift;   /* ip: the lifted coordinates perm's numbers index; else NULL */
    uint8_t *local;      /* room for spec->local_rows vectors: a small subtree's rows, in one block */
    float *local_lift;   /* ip: their lifted coordinates */
    uint32_t *local_ids; /* the row store's numbers of the copied rows */
    grow_list nodes;  /* rp_node: the subtree being built */
    grow_list planes; /* floats, plane_width per plane (own planes only) */
    float *margin;    /* n: the margins of the node being split */
    float *centre;    /* 2 * plane_width: two-means centroids */
    int8_t *try_codes; /* plane_width: the codes of the try being made, for the screen */
    uint64_t rng;     /* the stream of the node being split (node_stream) */
    bool failed;
} tree_build;

/* A node's random stream: from its tree's seed and its range of the tree's leaf order, which
 * names the node (a child's range is always smaller than its parent's). So every node draws the
 * same numbers whichever pass, thread or order splits it: the upper levels split together over
 * all trees (split_upper_levels), the subtrees below one by one (build_subtree). */
static uint64_t node_stream(uint64_t tree_seed, uint64_t begin, uint64_t end) {
    return nearkit_node_random(tree_seed, begin, end);
}

static const uint8_t *vector_at(const tree_build *b, uint32_t row) {
    return b->rows + (size_t)row * b->spec->ix->vector_bytes;
}

/* Starts loading row `row`'s vector (and its lifted coordinate): two-means draws its sample rows
 * at random, which no hardware prefetcher follows, so it asks for rows PREFETCH_AHEAD steps
 * ahead of the one it works on. The margin gathers and subtree copies do not: until 2026-12-06
 * they asked for whole rows 8 ahead too, but GCC had deleted those calls (NEARKIT_PREFETCHER),
 * and made to run they cost Fashion-MNIST's 20-tree build 10% (0.69 s against 0.62; the pairs
 * kernel's own prefetch within each row and the rows' storage order serve), 1M x 128 nothing. */
static NEARKIT_PREFETCHER void prefetch_vector(const tree_build *b, uint32_t row) {
    nearkit_prefetch_bytes(vector_at(b, row), b->spec->ix->vector_bytes);
    if (b->lift) __builtin_prefetch(b->lift + row);
}

static float gaussian(uint64_t *rng) { /* Box-Muller: one normal deviate */
    double u = ((double)(nearkit_next_random(rng) >> 11) + 0.5) * 0x1p-53;
    double v = (double)(nearkit_next_random(rng) >> 11) * 0x1p-53;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Scales v to unit length; false when it is (nearly) zero. */
static bool normalise(float *v, size_t d) {
    double s = 0;
    for (size_t i = 0; i < d; i++) s += (double)v[i] * v[i];
    if (!(s > 1e-30)) return false;
    float inv = (float)(1.0 / sqrt(s));
    for (size_t i = 0; i < d; i++) v[i] *= inv;
    return true;
}

static void random_direction(float *w, size_t d, uint64_t *rng) {
    do {
        for (size_t i = 0; i < d; i++) w[i] = gaussian(rng);
    } while (!normalise(w, d));
}

/* The power-of-two exponent e of a plane whose largest magnitude is `most`: most / 2^e is in
 * [64, 128), so its codes (round(w / 2^e)) use 7 bits and a sign. */
static int plane_exponent(float most) {
    int e;
    frexpf(most, &e);
    return e - 7;
}

static float largest_magnitude(const float *w, size_t d) {
    float most = 0;
    for (size_t i = 0; i < d; i++) most = fabsf(w[i]) > most ? fabsf(w[i]) : most;
    return most;
}

/* ldexpf(x, e) for scale = 2^e (|e| < 900), without a library call per value: the product is exact
 * in double, so the one rounding to float is ldexpf's, bit for bit (subnormals and overflow too). */
static float times_power_of_two(float x, double scale) { return (float)((double)x * scale); }

/* Rounds a unit plane to 8-bit codes times a power of two (w[i] = c[i] * 2^e, |c[i]| <= 127), in
 * place, before any row is routed by it: the file stores a byte per dimension instead of a float
 * (a quarter of the planes' bytes), and the build splits with the very values a search reads back,
 * so the forest stays consistent. The rounding tilts the plane by well under a degree. */
static void round_plane(float *w, size_t d) {
    int e = plane_exponent(largest_magnitude(w, d));
    double down = ldexp(1.0, -e), up = ldexp(1.0, e);
    for (size_t i = 0; i < d; i++) {
        float c = rintf(times_power_of_two(w[i], down));
        w[i] = times_power_of_two(c > 127 ? 127 : c < -127 ? -127 : c, up);
    }
}

/* A plane's codes and exponent, when it is one round_plane made (else false: a plane of an older
 * file, saved as floats). */
static bool plane_codes(int8_t *codes, int8_t *exponent, const float *w, size_t d) {
    float most = largest_magnitude(w, d);
    if (!(most > 0)) return false;
    int e = plane_exponent(most);
    if (e < INT8_MIN || e > INT8_MAX) return false;
    double down = ldexp(1.0, -e);
    for (size_t i = 0; i < d; i++) {
        float c = times_power_of_two(w[i], down);
        if (c != rintf(c) || fabsf(c) > 127) return false;
        codes[i] = (int8_t)c;
    }
    *exponent = (int8_t)e;
    return true;
}

/* Two-means steps at a node of many rows: Annoy's 200, but TWO_MEANS_STEPS_LARGE_D past
 * LARGE_D dimensions. Measured on Fashion-MNIST (784-d, 20 trees, seeds 42-44): 64 steps gave the
 * same recall at equal search_k as 200 (0.777-0.799 against 0.783-0.792 at search_k 400, 0.947-0.952
 * against 0.944-0.948 at 1200) for a fifth less build time; 32 began to lose recall. Smaller d
 * keeps Annoy's count (not measured there, so not changed). */
static uint64_t two_means_steps(const nearkit_index *ix) {
    return ix->dimension > LARGE_D ? TWO_MEANS_STEPS_LARGE_D : TWO_MEANS_STEPS;
}

/* A two-means centroid a step towards row x: c += (x - c) * weight. Vector code where the CPU has
 * it (in SSE2 this loop was a third of a step at 128-d; the clones cut a 1M x 128, 20-tree build's
 * time by 5-6% on an AVX-512 Xeon): each value is the same rounded subtraction, product and sum in
 * every clone, none of which enables fma (and ISO C compiles with fp-contract off), so the forest
 * does not depend on the CPU. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void move_centre(float *restrict c, const float *restrict x, float weight, size_t d) {
    for (size_t k = 0; k < d; k++) c[k] += (x[k] - c[k]) * weight;
}

/* Annoy's two-means on rows perm[begin, end): the bisector of the two centroids into w, its
 * offset into *offset; false when the centroids coincide. */
static bool two_means_plane(tree_build *b, uint64_t begin, uint64_t end, float *w, float *offset) {
    const forest_spec *s = b->spec;
    size_t d = s->ix->dimension, pw = plane_width(s->ix);
    bool cosine = s->ix->metric == NEARKIT_METRIC_COSINE;
    uint64_t n = end - begin;
    uint64_t i = nearkit_next_random(&b->rng) % n, j = nearkit_next_random(&b->rng) % (n - 1);
    j += j >= i;
    float *p = b->centre, *q = b->centre + pw;
    memcpy(p, vector_at(b, b->perm[begin + i]), d * sizeof(float));
    memcpy(q, vector_at(b, b->perm[begin + j]), d * sizeof(float));
    if (b->lift) {
        p[d] = b->lift[b->perm[begin + i]];
        q[d] = b->lift[b->perm[begin + j]];
    }
    double pc = 1, qc = 1;
    /* Annoy takes 200 steps at every node (fewer here at large d); a node of fewer rows has its
     * centroids settled sooner */
    uint64_t most_steps = two_means_steps(s->ix), steps = n < most_steps ? n : most_steps;
    uint32_t sample[TWO_MEANS_STEPS]; /* drawn first (the same draws, in order) to be prefetched */
    for (uint64_t step = 0; step < steps; step++) sample[step] = b->perm[begin + nearkit_next_random(&b->rng) % n];
    for (uint64_t step = 0; step < steps && step < PREFETCH_AHEAD; step++) prefetch_vector(b, sample[step]);
    for (uint64_t step = 0; step < steps; step++) {
        if (step + PREFETCH_AHEAD < steps) prefetch_vector(b, sample[step + PREFETCH_AHEAD]);
        uint32_t row = sample[step];
        const float *x = (const float *)vector_at(b, row);
        float up = b->lift ? b->lift[row] : 0;
        double dp = pc * (s->kt->l2sq(p, x, d) + (b->lift ? (p[d] - up) * (p[d] - up) : 0.0));
        double dq = qc * (s->kt->l2sq(q, x, d) + (b->lift ? (q[d] - up) * (q[d] - up) : 0.0));
        float *c = dp < dq ? p : dq < dp ? q : NULL;
        if (!c) continue;
        double *count = c == p ? &pc : &qc;
        float weight = (float)(1.0 / (*count + 1)); /* the running mean, without a division per value */
        move_centre(c, x, weight, d);
        if (b->lift) c[d] += (up - c[d]) * weight;
        *count += 1;
        if (cosine) normalise(c, d);
    }
    for (size_t k = 0; k < pw; k++) w[k] = p[k] - q[k];
    if (!normalise(w, pw)) return false;
    round_plane(w, pw); /* the offset puts the rounded plane through the midpoint */
    double o = 0;
    if (!cosine)
        for (size_t k = 0; k < pw; k++) o -= (double)w[k] * 0.5 * ((double)p[k] + q[k]);
    *offset = (float)o;
    return true;
}

/* Moves the rows of [begin, end) whose margin is <= 0 first; returns where the others start. */
static uint64_t partition(tree_build *b, uint64_t begin, uint64_t end) {
    uint64_t lo = begin, hi = end;
    while (lo < hi) {
        if (b->margin[lo - begin] <= 0) {
            lo++;
            continue;
        }
        hi--;
        uint32_t r = b->perm[lo];
        b->perm[lo] = b->perm[hi];
        b->perm[hi] = r;
        float m = b->margin[lo - begin];
        b->margin[lo - begin] = b->margin[hi - begin];
        b->margin[hi - begin] = m;
    }
    return lo;
}

static bool balanced(uint64_t begin, uint64_t mid, uint64_t end) {
    double n = (double)(end - begin), small = (double)(mid - begin < end - mid ? mid - begin : end - mid);
    return small > 0 && 1.0 - small / n <= MAX_IMBALANCE;
}


/* One try at splitting a node: its plane (or bit) and offset. */
typedef struct split_try {
    const float *w; /* float rows: the plane (own room, or the pool's) */
    uint32_t plane; /* the pool's plane, or the bit binary rows split on */
    float offset;   /* two-means: the bisector's; random and pool planes: set from the mean margin */
    bool screened;  /* coded has the plane's codes: rows' sides may come from the integer screen */
    rp_plane_code coded;
} split_try;

static int split_tries(const forest_spec *s) { return is_binary(s->ix) ? 8 * SPLIT_TRIES : SPLIT_TRIES; }

/* Draws a try's plane for rows perm[begin, end) from the node's stream (own planes into `own`,
 * plane_width floats); false when it has none (two-means centroids that coincide). */
static bool choose_split(tree_build *b, uint64_t begin, uint64_t end, float *own, split_try *t) {
    const forest_spec *s = b->spec;
    *t = (split_try){0};
    if (is_binary(s->ix)) {
        t->plane = (uint32_t)(nearkit_next_random(&b->rng) % s->ix->dimension);
        return true;
    }
    if (s->pool) {
        t->plane = (uint32_t)(nearkit_next_random(&b->rng) % s->pool_size);
        t->w = s->pool + (size_t)t->plane * plane_width(s->ix);
        return true;
    }
    t->w = own;
    if (s->split == SPLIT_TWO_MEANS) return two_means_plane(b, begin, end, own, &t->offset);
    random_direction(own, plane_width(s->ix), &b->rng);
    round_plane(own, plane_width(s->ix));
    return true;
}

/* The margin of vector x (lifted coordinate `up`) against a try, before its offset: the one
 * expression both ways of splitting use, so they route every row alike. */
static float try_margin(const forest_spec *s, const split_try *t, const void *x, float up) {
    if (is_binary(s->ix)) return bit_of(x, t->plane) ? 1.0f : -1.0f;
    return s->kt->dot(t->w, x, s->ix->dimension) + (s->lift ? t->w[s->ix->dimension] * up : 0.0f);
}

/* Gives the screen a try's plane (its codes into `room`, plane_width bytes), where the build has
 * row codes and the plane is one round_plane made. */
static void code_try(const forest_spec *s, split_try *t, int8_t *room) {
    int8_t exponent;
    t->screened = s->codes && t->w && plane_codes(room, &exponent, t->w, plane_width(s->ix));
    if (t->screened) rp_plane_code_set(&t->coded, s->codes, room, exponent);
}

/* The float margins of n <= MARGIN_BLOCK rows `rows` (their numbers in ids, a lifted coordinate
 * each in lift) against planes[0] (all MARGIN_BLOCK of them that plane) into out: try_margin's
 * values, through the pairs kernel. */
static void float_margins(const forest_spec *s, float *out, const float *const *planes, const float *const *rows,
                          const uint32_t *ids, const float *lift, uint64_t n) {
    size_t d = s->ix->dimension;
    s->kt->dot_pairs(out, planes, rows, n, d);
    if (lift)
        for (uint64_t k = 0; k < n; k++) out[k] += planes[0][d] * lift[ids[k]];
    else
        for (uint64_t k = 0; k < n; k++) out[k] += 0.0f; /* as try_margin: -0 becomes +0 */
}

/* The margins of rows perm[i, i + n) (n <= MARGIN_BLOCK) into out where try t is screened: the
 * rows' codes scored in integers, and float margins for the rows the screen leaves undecided. */
static void screened_margins(const tree_build *b, const split_try *t, const float *const *planes, uint64_t i,
                             uint64_t n, float *out) {
    const forest_spec *s = b->spec;
    const rp_row_codes *rc = s->codes;
    size_t d = s->ix->dimension;
    const float *rows[MARGIN_BLOCK];
    const uint8_t *coded_rows[MARGIN_BLOCK];
    const int8_t *coded_planes[MARGIN_BLOCK];
    uint32_t ids[MARGIN_BLOCK], place[MARGIN_BLOCK];
    int32_t dots[MARGIN_BLOCK];
    float found[MARGIN_BLOCK];
    for (uint64_t k = 0; k < n; k++) {
        coded_rows[k] = rc->codes + (size_t)b->perm[i + k] * d;
        coded_planes[k] = t->coded.codes;
    }
    s->kt->u8s8_dot_pairs(dots, coded_rows, coded_planes, n, d);
    uint64_t unsure = 0;
    for (uint64_t k = 0; k < n; k++) {
        uint32_t row = b->perm[i + k];
        float lift_term = b->lift ? t->w[d] * b->lift[row] : 0.0f;
        if (rp_screen_margin(rc, &t->coded, row, dots[k], lift_term, t->offset, &out[k])) continue;
        rows[unsure] = (const float *)vector_at(b, row);
        ids[unsure] = row;
        place[unsure++] = (uint32_t)k;
    }
    float_margins(s, found, planes, rows, ids, b->lift, unsure);
    for (uint64_t k = 0; k < unsure; k++) out[place[k]] = found[k];
}

/* b->margin for rows perm[begin, end), each row gathered from where it lies; float rows go
 * MARGIN_BLOCK at a time through the pairs kernel (the plane against each row), which shares the
 * reductions and keeps several rows' loads in flight: 3-6% less build time than a dot call per row
 * (1M x 128, 20 trees). The values are try_margin's, except where a screened try's row codes decide
 * a row's side (rpforest_screen.h): a value on the same side then, and only the codes are read. */
static void gather_margins(tree_build *b, const split_try *t, uint64_t begin, uint64_t end) {
    const forest_spec *s = b->spec;
    if (is_binary(s->ix)) {
        for (uint64_t i = begin; i < end; i++) {
            b->margin[i - begin] = try_margin(s, t, vector_at(b, b->perm[i]), 0.0f);
        }
        return;
    }
    bool screened = t->screened && b->rows == s->vectors; /* a copy's rows are numbered apart from their codes */
    const float *planes[MARGIN_BLOCK], *rows[MARGIN_BLOCK];
    for (size_t k = 0; k < MARGIN_BLOCK; k++) planes[k] = t->w;
    for (uint64_t i = begin; i < end; i += MARGIN_BLOCK) {
        uint64_t n = end - i < MARGIN_BLOCK ? end - i : MARGIN_BLOCK;
        float *out = b->margin + (i - begin);
        if (screened) {
            screened_margins(b, t, planes, i, n, out);
            continue;
        }
        for (uint64_t k = 0; k < n; k++) rows[k] = (const float *)vector_at(b, b->perm[i + k]);
        float_margins(s, out, planes, rows, b->perm + i, b->lift, n);
    }
}

/* With b->margin holding a try's margins of rows perm[begin, end): sets a random or pool plane's
 * offset at the mean margin, moves the rows with margin + offset <= 0 first and returns where the
 * others start; 0 when that is not balanced. */
static uint64_t settle_split(tree_build *b, split_try *t, uint64_t begin, uint64_t end) {
    const forest_spec *s = b->spec;
    if (!is_binary(s->ix)) {
        if (s->pool || s->split == SPLIT_RANDOM) {
            double sum = 0;
            for (uint64_t i = begin; i < end; i++) sum += b->margin[i - begin];
            t->offset = (float)(-sum / (double)(end - begin));
        }
        for (uint64_t i = begin; i < end; i++) b->margin[i - begin] += t->offset;
    }
    uint64_t mid = partition(b, begin, end);
    return balanced(begin, mid, end) ? mid : 0;
}

/* Tries `from` to the last for rows perm[begin, end), margins gathered row by row; returns where
 * the positive side starts with *t the try that split them, or 0 when none was balanced. */
static uint64_t try_splits(tree_build *b, uint64_t begin, uint64_t end, int from, float *own, split_try *t) {
    for (int attempt = from; attempt < split_tries(b->spec); attempt++) {
        if (!choose_split(b, begin, end, own, t)) continue;
        if (b->rows == b->spec->vectors) code_try(b->spec, t, b->try_codes); /* a copy's rows are not screened */
        else t->screened = false;
        gather_margins(b, t, begin, end);
        uint64_t mid = settle_split(b, t, begin, end);
        if (mid) return mid;
    }
    return 0;
}

/* The plane (own: its number once appended at planes) and offset of a settled try into node. */
static void set_split(rp_node *node, const split_try *t, bool own, uint64_t planes, size_t pw) {
    node->plane = own ? (uint32_t)(planes / pw) : t->plane;
    node->offset = t->offset;
}

/* A node no plane divides: halved, with no plane (both children then equally near any query). */
static uint64_t halve(rp_node *node) {
    node->plane = NO_PLANE;
    node->offset = 0;
    return node->begin + (node->end - node->begin) / 2;
}

static bool own_planes(const forest_spec *s) { return plane_width(s->ix) > 0 && !s->pool; }

/* Splits a node of a subtree; with no balanced split, halves it. */
static uint64_t split_node(tree_build *b, rp_node *node) {
    size_t pw = plane_width(b->spec->ix);
    bool own = own_planes(b->spec);
    if (own && !list_reserve(&b->planes, pw)) {
        b->failed = true;
        return halve(node);
    }
    split_try t;
    uint64_t mid = try_splits(b, node->begin, node->end, 0, own ? (float *)b->planes.items + b->planes.size : NULL, &t);
    if (!mid) return halve(node);
    set_split(node, &t, own, b->planes.size, pw);
    if (own) b->planes.size += pw;
    return mid;
}

typedef struct pending_split {
    uint64_t begin, end, parent; /* parent * 2 + side, UINT64_MAX for the root */
} pending_split;

/* Makes the node of p: a leaf, or a split whose two sides go on the stack (the negative side on
 * top, so nodes come in pre-order). False when out of memory. */
static bool make_node(tree_build *b, grow_list *stack, pending_split p) {
    if (!list_reserve(&b->nodes, 1) || b->nodes.size >= NO_CHILD || !list_reserve(stack, 2)) return false;
    uint64_t at = b->nodes.size++;
    rp_node *nodes = b->nodes.items;
    rp_node node = {.child = {NO_CHILD, NO_CHILD}, .plane = NO_PLANE, .begin = p.begin, .end = p.end};
    if (p.parent != UINT64_MAX) nodes[p.parent / 2].child[p.parent % 2] = (uint32_t)at;
    if (p.end - p.begin > b->spec->leaf_size) {
        b->rng = node_stream(b->seed, p.begin, p.end);
        uint64_t mid = split_node(b, &node);
        node.child[0] = node.child[1] = 0; /* linked when the children are made */
        pending_split *top = stack->items;
        top[stack->size++] = (pending_split){mid, p.end, at * 2 + 1};
        top[stack->size++] = (pending_split){p.begin, mid, at * 2};
    }
    ((rp_node *)b->nodes.items)[at] = node;
    return true;
}

/* From here on, rows perm[begin, end) are read from one contiguous copy, numbered 0 .. end - begin
 * in perm: a subtree this small is then split from the cache instead of gathering its rows from
 * all over the row store at every level (and its sample of two-means steps too). The splits see
 * the same values, so the tree is the same. */
static void enter_local(tree_build *b, uint64_t begin, uint64_t end) {
    size_t bytes = b->spec->ix->vector_bytes;
    for (uint64_t i = begin; i < end; i++) {
        uint32_t row = b->perm[i], local = (uint32_t)(i - begin);
        memcpy(b->local + (size_t)local * bytes, vector_at(b, row), bytes);
        if (b->lift) b->local_lift[local] = b->lift[row];
        b->local_ids[local] = row;
        b->perm[i] = local;
    }
    b->rows = b->local;
    if (b->lift) b->lift = b->local_lift;
}

/* Back to the row store's numbers after a subtree built from its copy. */
static void leave_local(tree_build *b, uint64_t begin, uint64_t end) {
    for (uint64_t i = begin; i < end; i++) b->perm[i] = b->local_ids[b->perm[i]];
    b->rows = b->spec->vectors;
    b->lift = b->spec->lift;
}

/* Builds the subtree over rows perm[begin, end) of b's tree into b->nodes / b->planes, nodes in
 * pre-order from its root (an explicit stack: depth is not bounded by a logarithm when splits are
 * uneven), from a copy of its rows when it splits at several levels below (more than COPY_LEAVES
 * leaves' rows) and is not every row (already one block). A subtree of fewer levels reads its rows
 * in place: they come in storage order from the upper levels, and copying them (a read and a write
 * of every row, per tree) cost more than the few levels read from the copy saved (Fashion-MNIST,
 * 784-d: subtrees of at most 1,337 rows, leaves of 196, 1.54-1.56 s build CPU in place against
 * 1.62-1.72 s copied; 300,000 x 128: 8,192 rows, leaves of 64, 3.68-3.77 s copied against
 * 4.09-4.13 s in place). */
static void build_subtree(tree_build *b, uint64_t begin, uint64_t end) {
    const forest_spec *s = b->spec;
    b->rows = s->vectors;
    b->lift = s->lift;
    bool local = end - begin > (uint64_t)s->leaf_size * COPY_LEAVES && end - begin < s->n;
    if (local) enter_local(b, begin, end);
    grow_list stack = {.item = sizeof(pending_split)};
    if (list_reserve(&stack, 1)) ((pending_split *)stack.items)[stack.size++] = (pending_split){begin, end, UINT64_MAX};
    else b->failed = true;
    while (stack.size > 0 && !b->failed) {
        pending_split p = ((pending_split *)stack.items)[--stack.size];
        if (!make_node(b, &stack, p)) b->failed = true;
    }
    if (local) leave_local(b, begin, end);
    free(stack.items);
}

/* ---- the upper levels, split together ----------------------------------------------------------
 * Nodes of more rows than a subtree copy holds are split level by level over all trees at once
 * (README: "rpforest against Annoy"):
 * for each level, every open node draws its first try's plane from its sample as a subtree's node
 * does; then one pass reads the rows in storage order and computes, for each row, its margin
 * against the plane of the node it sits in in every tree (the planes of a level are few and stay
 * in cache); then each tree reads its rows' margins in storage order to settle its nodes' splits
 * (a node whose first try is not balanced tries again by gathering its rows, as a subtree's node
 * does) and to deal its rows out to the children, each child's rows in storage order. Every read
 * of a level is sequential: the rows once for all trees, then each tree's margins; a node-by-node
 * split gathers every row of every node of every tree from all over the row store (60-75% of the
 * build, waiting on memory, before this). The rows of a subtree come in storage order too, so
 * its copy (enter_local) reads the row store upwards.
 * Where a build's time goes (2026-12-06, throwaway C driver, Fashion-MNIST, 20 trees, two threads,
 * AVX-512 Xeon, about 0.73 s): the level passes 0.22 s (about 35 ms a level whether its planes
 * number 20 or 500: each row's dots run at about half the pairs kernel's speed on rows already in
 * cache), the subtrees 0.41 s, most of it the gathers of each subtree's first two levels (250 and
 * 160 ns a row: each tree reads every row from memory there). Measured and not kept: pairing the
 * planes with blocks of 8 rows so that rows of one node share a plane's loads (level 0 35 -> 30 ms,
 * deeper levels 3-7 ms slower), opening every node down to the leaves while a level's planes stay
 * within 4-16 MB (0.65-0.74 s against 0.67-0.76, within the noise, and other forests: the rows of a
 * node then come in storage order, and two-means samples them by position), prefetching the rows
 * of a gather or of the next block of a pass (none faster). A half-precision copy of the planes
 * (exact: a plane is 8-bit codes times a power of two) made the deep levels' dots 40% cheaper in a
 * micro-benchmark, the shallow ones not at all. Since 2026-12-07, where the build screens
 * (SCREEN_MIN_D), a level's pass and a subtree's gathers read rows' 8-bit codes and score them in
 * integers, and compute float margins only for the rows the screen leaves undecided (a handful
 * in ten million of Fashion-MNIST's integer pixels): 0.65 -> 0.49 s there, the same forest. */

#define CLOSED_CELL UINT32_MAX /* a row's slot in a tree whose node is split no more this way */
#define PASS_CHUNK 4096        /* rows per task of a level's pass */

typedef struct upper_node {
    uint64_t begin, end;
    uint32_t child[2];   /* upper nodes of the same tree; NO_CHILD: a subtree's root */
    uint32_t plane;      /* own planes: into the tree's upper planes; pool plane; bit; NO_PLANE */
    float offset;
    uint32_t subtree;    /* a subtree's root: its number among the forest's subtrees */
} upper_node;

typedef struct tree_parts {
    uint32_t *perm;          /* the tree's rows in leaf order */
    uint64_t seed;
    grow_list upper;         /* upper_node: the upper levels, level by level */
    grow_list upper_planes;  /* floats: their own planes */
    uint64_t first_open, end_open; /* its open nodes of the level: slots [first_open, end_open) */
    uint64_t first_node, first_plane; /* where join_trees puts its nodes and own planes */
} tree_parts;

typedef struct subtree {
    uint32_t tree, root; /* its tree, and its root among the tree's upper nodes */
    grow_list nodes, planes;
} subtree;

/* How an open node's rows are dealt to its children. */
enum { BY_MARGIN, BY_SETTLED_MARGIN, BY_HALVES };

typedef struct open_node {
    uint32_t tree, node; /* an upper node still to be split */
    uint32_t next[2];    /* its children's slots at the next level, or CLOSED_CELL */
    int attempt;         /* the try the pass computes margins for; split_tries: none had a plane */
    int deal;            /* BY_*: margin + offset > 0 goes to child 1; the margin alone; the later half */
    uint64_t rng;        /* its stream after that try's draws */
    split_try first;     /* that try (or the one that split the node) */
    double sum;          /* the margins' sum (for a mean offset) */
    uint64_t negative;   /* rows for child 0: where child 1 starts is begin + negative */
    uint64_t cursor[2];  /* while dealing: where each child's next row goes in the tree's perm */
    bool split;          /* a balanced plane split it; else halved */
} open_node;

typedef struct forest_run {
    const forest_spec *spec;
    tree_parts *trees;
    uint64_t n_trees;
    uint32_t *perms;     /* n_trees * n, tree by tree: each tree's perm, the forest's leaf rows at the end */
    tree_build *workers; /* one per thread */
    uint32_t *slots;     /* n_trees * n, tree by tree: the open slot of a row's node, or CLOSED_CELL */
    float *margins;      /* n_trees * n, tree by tree: the margin of a row in its node */
    open_node *open;     /* this level's open nodes, tree after tree */
    uint64_t n_open;
    float *level_planes; /* plane_width floats per open node: its own tries */
    int8_t *level_codes; /* plane_width bytes per open node: its first try's codes, for the screen */
    subtree *subtrees;
    uint64_t n_subtrees;
} forest_run;

static upper_node *upper_at(const forest_run *r, uint32_t tree, uint32_t node) {
    return (upper_node *)r->trees[tree].upper.items + node;
}

static float *level_plane(const forest_run *r, uint64_t slot) {
    return r->level_planes ? r->level_planes + slot * plane_width(r->spec->ix) : NULL;
}

/* A worker set to split nodes of one tree from the row store. */
static tree_build *worker_on(const forest_run *r, uint32_t worker, uint32_t tree) {
    tree_build *b = &r->workers[worker];
    b->perm = r->trees[tree].perm;
    b->seed = r->trees[tree].seed;
    b->rows = r->spec->vectors;
    b->lift = r->spec->lift;
    return b;
}

/* Each open node's first try with a plane, drawn from its stream. */
static void choose_level_planes(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    forest_run *r = ctx;
    for (uint64_t slot = begin; slot < end; slot++) {
        open_node *o = &r->open[slot];
        const upper_node *u = upper_at(r, o->tree, o->node);
        tree_build *b = worker_on(r, worker, o->tree);
        b->rng = node_stream(b->seed, u->begin, u->end);
        o->sum = 0;
        o->negative = 0;
        o->deal = BY_MARGIN;
        for (o->attempt = 0; o->attempt < split_tries(r->spec); o->attempt++)
            if (choose_split(b, u->begin, u->end, level_plane(r, slot), &o->first)) break;
        o->rng = b->rng;
        if (o->attempt < split_tries(r->spec) && r->level_codes)
            code_try(r->spec, &o->first, r->level_codes + slot * plane_width(r->spec->ix));
    }
}

/* The screen's part of a level's pass at one row: of its n pairs (the planes of trees `trees`),
 * the margins whose side the row's codes decide go to r->margins; the others stay in planes /
 * trees, moved to the front, and their count is returned. */
static uint64_t screen_row(const forest_run *r, uint64_t row, float up, const float **planes, uint32_t *trees,
                           uint64_t n) {
    const forest_spec *s = r->spec;
    const rp_row_codes *rc = s->codes;
    size_t d = s->ix->dimension;
    const uint8_t *coded_rows[PASS_TREES];
    const int8_t *coded_planes[PASS_TREES];
    const open_node *node[PASS_TREES];
    int32_t dots[PASS_TREES];
    uint64_t coded = 0, unsure = 0;
    for (uint64_t k = 0; k < n; k++) {
        node[k] = &r->open[r->slots[trees[k] * s->n + row]];
        if (!node[k]->first.screened) continue;
        coded_rows[coded] = rc->codes + (size_t)row * d;
        coded_planes[coded++] = node[k]->first.coded.codes;
    }
    s->kt->u8s8_dot_pairs(dots, coded_rows, coded_planes, coded, d);
    coded = 0;
    for (uint64_t k = 0; k < n; k++) {
        const split_try *t = &node[k]->first;
        float lift_term = s->lift ? planes[k][d] * up : 0.0f;
        if (t->screened &&
            rp_screen_margin(rc, &t->coded, row, dots[coded++], lift_term, t->offset, &r->margins[trees[k] * s->n + row]))
            continue;
        planes[unsure] = planes[k];
        trees[unsure++] = trees[k];
    }
    return unsure;
}

/* The level's pass over rows [begin, end) in storage order: the margin of each row against its
 * node's first try, in every tree where it sits in an open node (where the build screens, only
 * the side of the margins the screen cannot decide is a float margin's value). */
static void margins_pass(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    forest_run *r = ctx;
    const forest_spec *s = r->spec;
    size_t d = s->ix->dimension;
    const float *planes[PASS_TREES], *rows[PASS_TREES];
    float found[PASS_TREES];
    uint32_t trees[PASS_TREES];
    for (uint64_t row = begin; row < end; row++) {
        const void *x = s->vectors + (size_t)row * s->ix->vector_bytes;
        float up = s->lift ? s->lift[row] : 0.0f;
        for (uint64_t first = 0; first < r->n_trees; first += PASS_TREES) {
            uint64_t n = 0, last = r->n_trees - first < PASS_TREES ? r->n_trees : first + PASS_TREES;
            for (uint64_t tr = first; tr < last; tr++) {
                uint32_t slot = r->slots[tr * s->n + row];
                if (slot == CLOSED_CELL) continue;
                const open_node *o = &r->open[slot];
                if (o->attempt >= split_tries(s)) continue;
                if (is_binary(s->ix)) {
                    r->margins[tr * s->n + row] = try_margin(s, &o->first, x, up);
                    continue;
                }
                planes[n] = o->first.w; /* float rows: the row against the trees' planes in one call */
                rows[n] = x;
                trees[n++] = (uint32_t)tr;
            }
            if (n > 0 && s->codes) n = screen_row(r, row, up, planes, trees, n);
            if (n == 0) continue;
            s->kt->dot_pairs(found, planes, rows, n, d);
            for (uint64_t k = 0; k < n; k++) /* try_margin's value */
                r->margins[trees[k] * s->n + row] = found[k] + (s->lift ? planes[k][d] * up : 0.0f);
        }
    }
}

static bool mean_offset(const forest_spec *s) { return !is_binary(s->ix) && (s->pool || s->split == SPLIT_RANDOM); }

/* The side a row of node o goes to by its margin m: settle_split's sides. */
static int margin_side(const open_node *o, float m) {
    return !((o->deal == BY_MARGIN ? m + o->first.offset : m) <= 0);
}

/* A node whose first try was not balanced (or had no plane): the other tries, its rows gathered;
 * the margins of the one that splits it are kept for dealing, else the node is halved. */
static void try_again(const forest_run *r, tree_build *b, open_node *o, uint64_t slot) {
    const upper_node *u = upper_at(r, o->tree, o->node);
    b->rng = o->rng;
    uint64_t mid = try_splits(b, u->begin, u->end, o->attempt + 1, level_plane(r, slot), &o->first);
    o->split = mid != 0;
    o->deal = mid ? BY_SETTLED_MARGIN : BY_HALVES;
    o->negative = mid ? mid - u->begin : (u->end - u->begin) / 2;
    float *margins = r->margins + o->tree * r->spec->n;
    for (uint64_t i = u->begin; i < u->end && mid; i++) margins[b->perm[i]] = b->margin[i - u->begin];
}

/* Settles the open nodes of trees [begin, end) from the pass's margins, read in storage order:
 * a mean offset where the split asks for one, then the rows on each side; unbalanced nodes try
 * again (try_again). */
static void settle_trees(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    forest_run *r = ctx;
    const forest_spec *s = r->spec;
    for (uint64_t tr = begin; tr < end; tr++) {
        const tree_parts *tp = &r->trees[tr];
        const uint32_t *slots = r->slots + tr * s->n;
        const float *margins = r->margins + tr * s->n;
        if (mean_offset(s)) {
            for (uint64_t row = 0; row < s->n; row++)
                if (slots[row] != CLOSED_CELL) r->open[slots[row]].sum += margins[row];
            for (uint64_t slot = tp->first_open; slot < tp->end_open; slot++) {
                const upper_node *u = upper_at(r, r->open[slot].tree, r->open[slot].node);
                r->open[slot].first.offset = (float)(-r->open[slot].sum / (double)(u->end - u->begin));
            }
        }
        for (uint64_t row = 0; row < s->n; row++) {
            if (slots[row] == CLOSED_CELL) continue;
            open_node *o = &r->open[slots[row]];
            if (o->attempt < split_tries(s)) o->negative += !margin_side(o, margins[row]);
        }
        for (uint64_t slot = tp->first_open; slot < tp->end_open; slot++) {
            open_node *o = &r->open[slot];
            const upper_node *u = upper_at(r, o->tree, o->node);
            o->split = o->attempt < split_tries(s) && balanced(u->begin, u->begin + o->negative, u->end);
            if (!o->split) try_again(r, worker_on(r, worker, o->tree), o, slot);
        }
    }
}

/* Deals the rows of trees [begin, end) out to the children of their open nodes, in storage order
 * (each child's rows in storage order in the tree's perm), and gives each row its child's slot. */
static void deal_rows(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    forest_run *r = ctx;
    const forest_spec *s = r->spec;
    for (uint64_t tr = begin; tr < end; tr++) {
        uint32_t *slots = r->slots + tr * s->n, *perm = r->trees[tr].perm;
        const float *margins = r->margins + tr * s->n;
        for (uint64_t row = 0; row < s->n; row++) {
            if (slots[row] == CLOSED_CELL) continue;
            open_node *o = &r->open[slots[row]];
            /* halves: the first rows met go to child 0 until it is full */
            int side = o->deal == BY_HALVES ? o->cursor[0] == upper_at(r, o->tree, o->node)->begin + o->negative
                                            : margin_side(o, margins[row]);
            perm[o->cursor[side]++] = (uint32_t)row;
            slots[row] = o->next[side];
        }
    }
}

/* Appends an upper node over [begin, end) to a tree; NO_CHILD when out of memory. */
static uint32_t add_upper(tree_parts *tp, uint64_t begin, uint64_t end) {
    if (!list_reserve(&tp->upper, 1) || tp->upper.size >= NO_CHILD) return NO_CHILD;
    upper_node *u = (upper_node *)tp->upper.items + tp->upper.size;
    *u = (upper_node){.begin = begin, .end = end, .child = {NO_CHILD, NO_CHILD}, .plane = NO_PLANE,
                      .subtree = NO_CHILD};
    return (uint32_t)tp->upper.size++;
}

/* A node too large for a subtree copy is split at the next level. */
static bool opens(const forest_spec *s, const upper_node *u) { return u->end - u->begin > s->local_rows; }

/* Turns the settled level into upper nodes and the next level's open nodes (`next`, tree after
 * tree; the trees' slot ranges become the next level's), in one thread: a few appends per node. */
static nearkit_status grow_level(forest_run *r, open_node *next, uint64_t *n_next) {
    const forest_spec *s = r->spec;
    size_t pw = plane_width(s->ix);
    bool own = own_planes(s);
    *n_next = 0;
    for (uint64_t slot = 0; slot < r->n_open; slot++) {
        open_node *o = &r->open[slot];
        tree_parts *tp = &r->trees[o->tree];
        if (slot == 0 || o->tree != r->open[slot - 1].tree) tp->first_open = *n_next;
        rp_node split = {.begin = upper_at(r, o->tree, o->node)->begin, .end = upper_at(r, o->tree, o->node)->end};
        uint64_t mid = split.begin + o->negative;
        o->cursor[0] = split.begin; /* for deal_rows */
        o->cursor[1] = mid;
        if (o->split) {
            if (own && !list_reserve(&tp->upper_planes, pw)) return nearkit_oom();
            set_split(&split, &o->first, own, tp->upper_planes.size, pw);
            if (own) {
                memcpy((float *)tp->upper_planes.items + tp->upper_planes.size, o->first.w, pw * sizeof(float));
                tp->upper_planes.size += pw;
            }
        } else {
            halve(&split);
        }
        uint32_t child[2] = {add_upper(tp, split.begin, mid), add_upper(tp, mid, split.end)};
        if (child[0] == NO_CHILD || child[1] == NO_CHILD) return nearkit_oom();
        upper_node *u = upper_at(r, o->tree, o->node);
        u->child[0] = child[0];
        u->child[1] = child[1];
        u->plane = split.plane;
        u->offset = split.offset;
        for (int side = 0; side < 2; side++) {
            o->next[side] = CLOSED_CELL;
            if (!opens(s, upper_at(r, o->tree, child[side]))) continue;
            o->next[side] = (uint32_t)*n_next;
            next[(*n_next)++] = (open_node){.tree = o->tree, .node = child[side]};
        }
        tp->end_open = *n_next;
    }
    return NEARKIT_OK;
}

/* Splits the nodes too large for a subtree copy, level by level over all trees (above). */
static nearkit_status split_upper_levels(forest_run *r, uint32_t threads) {
    const forest_spec *s = r->spec;
    size_t pw = plane_width(s->ix);
    uint64_t n = s->n, most_open = r->n_trees * (n / (s->local_rows + 1) + 1);
    open_node *next = nearkit_alloc_array((size_t)most_open, sizeof(open_node));
    r->open = nearkit_alloc_array((size_t)most_open, sizeof(open_node));
    r->level_planes = own_planes(s) ? nearkit_alloc_array((size_t)most_open, pw * sizeof(float)) : NULL;
    r->level_codes = s->codes ? nearkit_alloc_array((size_t)most_open, pw) : NULL;
    r->slots = nearkit_alloc_array((size_t)(r->n_trees * n), sizeof(uint32_t));
    r->margins = nearkit_alloc_array((size_t)(r->n_trees * n), sizeof(float));
    nearkit_status st = next && r->open && r->slots && r->margins && (r->level_planes || !own_planes(s)) &&
                                (r->level_codes || !s->codes)
                            ? NEARKIT_OK
                            : nearkit_oom();
    r->n_open = 0;
    for (uint64_t tr = 0; tr < r->n_trees && !st; tr++) {
        for (uint64_t row = 0; row < n; row++) r->slots[tr * n + row] = (uint32_t)tr; /* the roots' slots */
        r->trees[tr].first_open = r->n_open;
        r->open[r->n_open++] = (open_node){.tree = (uint32_t)tr, .node = 0};
        r->trees[tr].end_open = r->n_open;
    }
    while (!st && r->n_open > 0) {
        nearkit_parallel_for(threads, r->n_open, 1, choose_level_planes, r);
        nearkit_parallel_for(threads, n, PASS_CHUNK, margins_pass, r);
        nearkit_parallel_for(threads, r->n_trees, 1, settle_trees, r);
        uint64_t n_next = 0;
        for (uint64_t tr = 0; tr < r->n_trees; tr++) r->trees[tr].first_open = r->trees[tr].end_open = 0;
        st = grow_level(r, next, &n_next);
        if (!st) nearkit_parallel_for(threads, r->n_trees, 1, deal_rows, r);
        open_node *done = r->open;
        r->open = next;
        next = done;
        r->n_open = n_next;
    }
    free(next);
    free(r->open);
    free(r->level_planes);
    free(r->level_codes);
    free(r->slots);
    free(r->margins);
    r->open = NULL;
    r->level_planes = NULL;
    r->level_codes = NULL;
    r->slots = NULL;
    r->margins = NULL;
    return st;
}

/* ---- subtrees, and joining the trees ------------------------------------------------------------ */

/* Room for the copies of small subtrees' rows: LOCAL_BYTES of vectors, and at least a leaf more
 * than a leaf's rows (so that some subtree fits). */
static uint64_t local_rows_of(const nearkit_index *ix, uint64_t n, uint32_t leaf_size) {
    uint64_t rows = LOCAL_BYTES / ix->vector_bytes;
    if (rows <= leaf_size) rows = (uint64_t)leaf_size + 1;
    return rows > n ? n : rows;
}

/* A worker's scratch; false when out of memory. */
static bool alloc_worker(tree_build *b, const forest_spec *s) {
    uint64_t rows = s->local_rows;
    *b = (tree_build){.spec = s, .nodes = {.item = sizeof(rp_node)}, .planes = {.item = sizeof(float)}};
    b->margin = nearkit_alloc_array((size_t)s->n, sizeof(float));
    b->centre = nearkit_alloc_array(2 * plane_width(s->ix) + 1, sizeof(float));
    b->local = nearkit_alloc_array((size_t)rows, s->ix->vector_bytes);
    b->local_ids = nearkit_alloc_array((size_t)rows, sizeof(uint32_t));
    b->local_lift = s->lift ? nearkit_alloc_array((size_t)rows, sizeof(float)) : NULL;
    b->try_codes = s->codes ? nearkit_alloc_array(plane_width(s->ix), 1) : NULL;
    return b->margin && b->centre && b->local && b->local_ids && (!s->lift || b->local_lift) &&
           (!s->codes || b->try_codes);
}

static void free_worker(tree_build *b) {
    free(b->margin);
    free(b->centre);
    free(b->local);
    free(b->local_ids);
    free(b->local_lift);
    free(b->try_codes);
    free(b->nodes.items);
    free(b->planes.items);
}

/* Builds subtrees [begin, end), each below its root node of the upper levels. */
static void build_subtrees(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    forest_run *r = ctx;
    for (uint64_t i = begin; i < end; i++) {
        subtree *sub = &r->subtrees[i];
        const upper_node *root = upper_at(r, sub->tree, sub->root);
        tree_build *b = worker_on(r, worker, sub->tree);
        b->nodes = (grow_list){.item = sizeof(rp_node)};
        b->planes = (grow_list){.item = sizeof(float)};
        build_subtree(b, root->begin, root->end);
        sub->nodes = b->nodes; /* the subtree's now */
        sub->planes = b->planes;
        b->nodes.items = b->planes.items = NULL;
    }
}

/* The subtrees hanging from the upper levels' nodes that were not split (every tree's root when
 * the rows fit a copy), numbered tree after tree. */
static nearkit_status list_subtrees(forest_run *r) {
    uint64_t count = 0;
    for (uint64_t tr = 0; tr < r->n_trees; tr++)
        for (uint64_t i = 0; i < r->trees[tr].upper.size; i++) count += upper_at(r, (uint32_t)tr, (uint32_t)i)->child[0] == NO_CHILD;
    r->subtrees = calloc((size_t)count, sizeof(subtree));
    if (!r->subtrees) return nearkit_oom();
    for (uint64_t tr = 0; tr < r->n_trees; tr++)
        for (uint64_t i = 0; i < r->trees[tr].upper.size; i++) {
            upper_node *u = upper_at(r, (uint32_t)tr, (uint32_t)i);
            if (u->child[0] != NO_CHILD) continue;
            u->subtree = (uint32_t)r->n_subtrees;
            r->subtrees[r->n_subtrees++] = (subtree){.tree = (uint32_t)tr, .root = (uint32_t)i};
        }
    return NEARKIT_OK;
}

/* Where join_tree writes one tree: the forest's arrays, and the next node's and own plane's
 * numbers in them. */
typedef struct join_cursor {
    rp_node *nodes;
    float *planes;
    uint64_t node_at, plane_at;
    size_t pw;
} join_cursor;

/* A node put at the cursor, with its own plane (if any) put and numbered too. */
static void put_node(join_cursor *c, rp_node node, const float *plane) {
    if (plane) {
        node.plane = (uint32_t)c->plane_at;
        memcpy(c->planes + c->plane_at++ * c->pw, plane, c->pw * sizeof(float));
    }
    c->nodes[c->node_at++] = node;
}

/* Puts a subtree at the cursor, links and own planes renumbered. */
static void put_subtree(join_cursor *c, const subtree *sub, bool own) {
    uint64_t base = c->node_at;
    const rp_node *src = sub->nodes.items;
    for (uint64_t j = 0; j < sub->nodes.size; j++) {
        rp_node node = src[j];
        bool planed = !is_leaf(&node) && node.plane != NO_PLANE && own;
        if (!is_leaf(&node)) {
            node.child[0] += (uint32_t)base;
            node.child[1] += (uint32_t)base;
        }
        put_node(c, node, planed ? (const float *)sub->planes.items + (size_t)node.plane * c->pw : NULL);
    }
}

/* A tree's nodes and own planes once joined. */
static void count_joined(const forest_run *r, uint32_t tree, bool own, uint64_t *nodes, uint64_t *planes) {
    const tree_parts *tp = &r->trees[tree];
    *nodes = *planes = 0;
    for (uint64_t i = 0; i < tp->upper.size; i++) {
        const upper_node *u = upper_at(r, tree, (uint32_t)i);
        if (u->child[0] != NO_CHILD) {
            *nodes += 1;
            *planes += own && u->plane != NO_PLANE;
            continue;
        }
        const subtree *sub = &r->subtrees[u->subtree];
        const rp_node *src = sub->nodes.items;
        *nodes += sub->nodes.size;
        for (uint64_t j = 0; own && j < sub->nodes.size; j++) *planes += !is_leaf(&src[j]) && src[j].plane != NO_PLANE;
    }
}

typedef struct join_step {
    uint32_t upper;  /* an upper node */
    uint64_t parent; /* the joined node linking to it * 2 + side; UINT64_MAX for the root */
} join_step;

/* Joins a tree's upper levels and its subtrees into the forest's arrays at the tree's place, in
 * pre-order (as the file keeps it: each node before its children, child 0's subtree before child
 * 1's), links and planes numbered in the forest's arrays. False: out of memory. */
static bool join_tree(const forest_run *r, rp_impl *t, uint32_t tree) {
    const tree_parts *tp = &r->trees[tree];
    bool own = own_planes(r->spec);
    join_cursor c = {.nodes = t->nodes, .planes = t->planes, .node_at = tp->first_node,
                     .plane_at = tp->first_plane, .pw = plane_width(r->spec->ix)};
    grow_list stack = {.item = sizeof(join_step)};
    if (!list_reserve(&stack, 1)) return false;
    ((join_step *)stack.items)[stack.size++] = (join_step){0, UINT64_MAX};
    bool ok = true;
    while (ok && stack.size > 0) {
        join_step p = ((join_step *)stack.items)[--stack.size];
        const upper_node *u = upper_at(r, tree, p.upper);
        uint64_t at = c.node_at;
        if (u->child[0] == NO_CHILD) {
            put_subtree(&c, &r->subtrees[u->subtree], own);
        } else {
            rp_node node = {.child = {0, 0}, .plane = u->plane, .offset = u->offset, .begin = u->begin, .end = u->end};
            bool planed = own && u->plane != NO_PLANE;
            put_node(&c, node, planed ? (const float *)tp->upper_planes.items + (size_t)u->plane * c.pw : NULL);
            ok = list_reserve(&stack, 2);
            if (ok) {
                join_step *top = stack.items;
                top[stack.size++] = (join_step){u->child[1], at * 2 + 1};
                top[stack.size++] = (join_step){u->child[0], at * 2};
            }
        }
        if (p.parent != UINT64_MAX) t->nodes[p.parent / 2].child[p.parent % 2] = (uint32_t)at;
    }
    free(stack.items);
    return ok;
}

/* What join_trees' workers share. */
typedef struct joining {
    const forest_run *r;
    rp_impl *t;
    _Atomic int failed;
} joining;

/* join_tree for trees [begin, end): the trees are independent, each a part of the arrays. */
static void join_tree_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    joining *j = ctx;
    for (uint64_t tr = begin; tr < end; tr++)
        if (!join_tree(j->r, j->t, (uint32_t)tr)) atomic_store(&j->failed, 1);
}

/* Builds every tree of the forest into r->trees (upper levels) and r->subtrees. */
static nearkit_status build_trees(forest_run *r, uint32_t threads) {
    const forest_spec *s = r->spec;
    nearkit_status st = NEARKIT_OK;
    for (uint64_t tr = 0; tr < r->n_trees && !st; tr++) {
        for (uint64_t i = 0; i < s->n; i++) r->trees[tr].perm[i] = (uint32_t)i;
        if (add_upper(&r->trees[tr], 0, s->n) == NO_CHILD) st = nearkit_oom();
    }
    if (!st && opens(s, upper_at(r, 0, 0))) st = split_upper_levels(r, threads);
    if (!st) st = list_subtrees(r);
    if (!st) nearkit_parallel_for(threads, r->n_subtrees, 1, build_subtrees, r);
    for (uint32_t w = 0; w < threads && !st; w++)
        if (r->workers[w].failed) st = nearkit_oom();
    return st;
}

/* The pool of shared directions, from the index's seed. */
static float *make_pool(const nearkit_index *ix, uint32_t size) {
    size_t d = plane_width(ix);
    float *pool = nearkit_alloc_array((size_t)size * d, sizeof(float));
    if (!pool) return NULL;
    uint64_t rng = nearkit_mix64(ix->seed ^ 0x706F6F6Cull);
    for (uint32_t i = 0; i < size; i++) {
        random_direction(pool + (size_t)i * d, d, &rng);
        round_plane(pool + (size_t)i * d, d);
    }
    return pool;
}

static nearkit_status check_forest(const nearkit_index *ix, rp_impl *t);
static nearkit_status check_leaf_rows(const rp_impl *t);
static nearkit_status lay_out_walk(const nearkit_index *ix, rp_impl *t);

/* Joins the trees into the index's arrays (in parallel: each tree's nodes and own planes go to
 * a part of them counted first); the trees' perms become the leaf rows. */
static nearkit_status join_trees(rp_impl *t, forest_run *r, float *pool, uint32_t pool_size, uint32_t threads) {
    uint64_t n_trees = r->n_trees;
    size_t d = plane_width(r->spec->ix);
    bool own = own_planes(r->spec);
    t->planes = pool; /* the forest's from here, freed with it */
    t->tree_start = nearkit_alloc_array((size_t)n_trees + 1, sizeof(uint64_t));
    if (!t->tree_start) return nearkit_oom();
    uint64_t nodes = 0, planes = pool ? pool_size : 0;
    for (uint64_t i = 0; i < n_trees; i++) {
        uint64_t tree_nodes, tree_planes;
        count_joined(r, (uint32_t)i, own, &tree_nodes, &tree_planes);
        t->tree_start[i] = r->trees[i].first_node = nodes;
        r->trees[i].first_plane = planes;
        nodes += tree_nodes;
        planes += tree_planes;
    }
    t->tree_start[n_trees] = nodes;
    if (nodes >= NO_CHILD || planes >= NO_PLANE)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "rpforest: too many nodes for one forest");
    t->nodes = nearkit_alloc_array((size_t)nodes, sizeof(rp_node));
    if (!pool) t->planes = nearkit_alloc_array((size_t)(planes * d), sizeof(float));
    if (!t->nodes || !t->planes) return nearkit_oom();
    joining j = {.r = r, .t = t};
    atomic_init(&j.failed, 0);
    nearkit_parallel_for(threads, n_trees, 1, join_tree_range, &j);
    if (atomic_load(&j.failed)) return nearkit_oom();
    t->leaf_rows = r->perms;
    r->perms = NULL;
    t->n_nodes = nodes;
    t->n_planes = planes;
    t->n_trees = n_trees;
    return NEARKIT_OK;
}

/* ip: each row's lifted coordinate sqrt(M^2 - |x|^2), M the largest norm (see plane_width). */
static float *lifted_coordinates(const nearkit_index *ix, const nearkit_rows *rows) {
    float *lift = nearkit_alloc_array((size_t)rows->count, sizeof(float));
    if (!lift) return NULL;
    const nearkit_kernel_table *kt = nearkit_kernels();
    double most = 0;
    for (uint64_t i = 0; i < rows->count; i++) {
        const float *x = (const float *)nearkit_rows_at(rows, ix, i);
        lift[i] = kt->dot(x, x, ix->dimension);
        if (lift[i] > most) most = lift[i];
    }
    for (uint64_t i = 0; i < rows->count; i++) lift[i] = (float)sqrt(fmax(most - lift[i], 0.0));
    return lift;
}

/* Frees what a build made on the way (the trees' parts, the subtrees, the workers). */
static void free_run(forest_run *r, uint32_t threads) {
    for (uint64_t i = 0; r->trees && i < r->n_trees; i++) {
        free(r->trees[i].upper.items);
        free(r->trees[i].upper_planes.items);
    }
    free(r->perms);
    for (uint64_t i = 0; i < r->n_subtrees; i++) {
        free(r->subtrees[i].nodes.items);
        free(r->subtrees[i].planes.items);
    }
    for (uint32_t w = 0; r->workers && w < threads; w++) free_worker(&r->workers[w]);
    free(r->trees);
    free(r->subtrees);
    free(r->workers);
}

/* Room for every tree's parts and every worker's scratch. */
static nearkit_status start_run(forest_run *r, const forest_spec *s, uint64_t n_trees, uint64_t seed,
                                uint32_t threads) {
    *r = (forest_run){.spec = s, .n_trees = n_trees};
    r->trees = calloc((size_t)n_trees, sizeof *r->trees);
    r->workers = calloc(threads, sizeof *r->workers);
    r->perms = nearkit_alloc_array((size_t)(n_trees * s->n), sizeof(uint32_t));
    if (!r->trees || !r->workers || !r->perms) return nearkit_oom();
    nearkit_status st = NEARKIT_OK;
    for (uint64_t i = 0; i < n_trees; i++)
        r->trees[i] = (tree_parts){.perm = r->perms + i * s->n, .seed = nearkit_mix64(seed ^ nearkit_mix64(i + 1)),
                                   .upper = {.item = sizeof(upper_node)}, .upper_planes = {.item = sizeof(float)}};
    for (uint32_t w = 0; w < threads; w++)
        if (!alloc_worker(&r->workers[w], s)) st = nearkit_oom();
    return st;
}

/* Whether a build screens margins by the rows' codes (rpforest_screen.h): two-means splits of
 * float rows (an offset known before the margins) of SCREEN_MIN_D dimensions or more. */
static bool screens(const nearkit_index *ix, const rp_impl *t) {
    return !is_binary(ix) && !t->pool && t->split == SPLIT_TWO_MEANS && ix->dimension >= SCREEN_MIN_D &&
           ix->dimension <= NEARKIT_U8S8_D_MAX && rp_screen_enabled();
}

/* Builds the forest over every row (none of them marked). */
static nearkit_status build_forest(nearkit_index *ix) {
    rp_impl *t = impl_of(ix);
    uint64_t n = t->store.rows.count;
    if (n == 0) return NEARKIT_OK;
    if (n >= UINT32_MAX)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "rpforest holds at most %u rows in its trees", UINT32_MAX - 1);
    uint32_t pool_size = is_binary(ix) ? 0 : t->pool;
    float *pool = pool_size ? make_pool(ix, pool_size) : NULL;
    float *lift = ix->metric == NEARKIT_METRIC_IP ? lifted_coordinates(ix, &t->store.rows) : NULL;
    forest_spec spec = {.ix = ix, .kt = nearkit_kernels(), .vectors = t->store.rows.vectors, .n = n,
                        .leaf_size = t->leaf_size, .split = t->split, .pool = pool, .pool_size = pool_size,
                        .lift = lift, .local_rows = local_rows_of(ix, n, t->leaf_size)};
    uint32_t threads = nearkit_resolve_threads(ix->num_threads);
    rp_row_codes codes = {0};
    nearkit_status st = NEARKIT_OK;
    if (screens(ix, t)) {
        st = rp_row_codes_make(&codes, spec.vectors, ix->vector_bytes, n, ix->dimension, threads);
        spec.codes = st ? NULL : &codes;
    }
    forest_run run;
    nearkit_status started = start_run(&run, &spec, t->want_trees, ix->seed, threads);
    if (!st) st = started;
    if ((pool_size && !pool) || (ix->metric == NEARKIT_METRIC_IP && !lift)) st = nearkit_oom();
    if (!st) st = build_trees(&run, threads);
    rp_row_codes_free(&codes);
    forget_forest(t);
    if (!st) {
        t->store.built = n;
        st = join_trees(t, &run, pool, pool_size, threads);
        pool = NULL; /* the forest's now, or freed with it */
    }
    if (!st && (check_forest(ix, t) || check_leaf_rows(t)))
        st = nearkit_set_error(NEARKIT_ERR_INTERNAL, "rpforest build produced an invalid forest");
    if (!st) st = lay_out_walk(ix, t);
    if (st) forget_forest(t);
    free_run(&run, threads);
    free(pool);
    free(lift);
    return st;
}

/* Checks a forest over rows [0, built) and computes its statistics: each tree's nodes lie in its
 * own span, in pre-order (children after their parent, each reached once), the root covers every
 * row, children split their parent's range in two non-empty halves, and planes and bits exist. So
 * a search visits only real nodes. */
static nearkit_status check_forest(const nearkit_index *ix, rp_impl *t) {
    if (t->store.built == 0 || t->n_trees == 0)
        return t->store.built == 0 && t->n_trees == 0 && t->n_nodes == 0
                   ? NEARKIT_OK
                   : nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: a forest of %llu trees over %llu rows",
                                       (unsigned long long)t->n_trees, (unsigned long long)t->store.built);
    uint32_t *depth = calloc((size_t)t->n_nodes, sizeof *depth);
    nearkit_status st = depth ? NEARKIT_OK : nearkit_oom();
    uint64_t leaves = 0, max_leaf = 0;
    uint32_t max_depth = 0;
    bool binary = is_binary(ix);
    for (uint64_t tr = 0; tr < t->n_trees && !st; tr++) {
        uint64_t first = t->tree_start[tr], last = t->tree_start[tr + 1];
        if (first >= last || last > t->n_nodes || (tr == 0 && first != 0) ||
            t->nodes[first].begin != 0 || t->nodes[first].end != t->store.built) {
            st = NEARKIT_ERR_CORRUPT;
            break;
        }
        for (uint64_t i = first; i < last && !st; i++) {
            const rp_node *nd = &t->nodes[i];
            if ((i > first && depth[i] == 0) || nd->begin >= nd->end || nd->end > t->store.built) {
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
            bool plane_ok = nd->plane == NO_PLANE || (binary ? nd->plane < ix->dimension
                                                              : nd->plane < t->n_planes && isfinite(nd->offset));
            if (c0 <= i || c1 <= i || c0 >= last || c1 >= last || c0 == c1 || depth[c0] || depth[c1] ||
                !plane_ok || t->nodes[c0].begin != nd->begin || t->nodes[c0].end != t->nodes[c1].begin ||
                t->nodes[c1].end != nd->end) {
                st = NEARKIT_ERR_CORRUPT;
                break;
            }
            depth[c0] = depth[c1] = depth[i] + 1;
        }
    }
    if (!st && t->tree_start[t->n_trees] != t->n_nodes) st = NEARKIT_ERR_CORRUPT;
    free(depth);
    if (st == NEARKIT_ERR_CORRUPT)
        return nearkit_set_error(st, "corrupt index: the nodes do not form a random-projection forest");
    if (st) return st;
    t->leaf_count = leaves;
    t->max_leaf = max_leaf;
    t->depth = max_depth;
    return NEARKIT_OK;
}

/* Checks that each tree's leaf rows are a permutation of [0, built), so a search reaches every row
 * once a tree. A plain view leaves them (four bytes a row and tree) unread, as it does the
 * vectors: its searches pass over a row past the built ones instead (collect). */
static nearkit_status check_leaf_rows(const rp_impl *t) {
    uint64_t n = t->store.built;
    uint8_t *seen = malloc(n ? (size_t)n : 1);
    if (!seen) return nearkit_oom();
    nearkit_status st = NEARKIT_OK;
    for (uint64_t tr = 0; tr < t->n_trees && !st; tr++) {
        const uint32_t *rows = t->leaf_rows + tr * n;
        memset(seen, 0, (size_t)n);
        for (uint64_t i = 0; i < n && !st; i++) {
            if (rows[i] >= n || seen[rows[i]]) st = NEARKIT_ERR_CORRUPT;
            else seen[rows[i]] = 1;
        }
    }
    free(seen);
    return st ? nearkit_set_error(st, "corrupt index: a tree's leaf rows are not each row once") : NEARKIT_OK;
}

/* ---- the coded walk ---------------------------------------------------------------------------- */

/* Places a plane's d codes take in the walk, behind its node's record. */
static uint64_t code_places(size_t d) { return (d + sizeof(walk_node) - 1) / sizeof(walk_node); }

/* Places a node takes in the walk: its record, and its plane's codes. */
static uint64_t walk_units(const rp_node *nd, size_t d) {
    return is_leaf(nd) || nd->plane == NO_PLANE ? 1 : 1 + code_places(d);
}

/* A plane's floats from its pw codes and power of two, as the file stores it. */
static void decode_plane(float *out, const int8_t *codes, int exponent, size_t pw) {
    for (size_t k = 0; k < pw; k++) out[k] = ldexpf(codes[k], exponent);
}

/* Plane `plane`'s floats: the forest's, or a view's codes decoded into `room` (plane_width floats)
 * as a load decodes them, so a view lays out the very walk a load does. */
static const float *plane_floats(const nearkit_index *ix, const rp_impl *t, uint32_t plane, float *room) {
    size_t pw = plane_width(ix);
    if (t->planes) return t->planes + (size_t)plane * pw;
    decode_plane(room, t->view_codes + (size_t)plane * pw, t->view_exponents[plane], pw);
    return room;
}

/* A view's stored codes of plane `plane` where they are the very codes plane_codes makes of their
 * decoded floats (the largest magnitude in [64, 127], every decoded value a normal float, exactly):
 * the walk then copies them instead of decoding each and coding it again. NULL otherwise. */
static const int8_t *canonical_view_codes(const rp_impl *t, uint32_t plane, size_t pw, int8_t *exponent) {
    if (t->planes || !t->view_codes) return NULL;
    const int8_t *c = t->view_codes + (size_t)plane * pw;
    int e = t->view_exponents[plane], most = 0;
    for (size_t k = 0; k < pw; k++) most = abs(c[k]) > most ? abs(c[k]) : most;
    if (most < 64 || most > 127 || e < -120 || e > 120) return NULL;
    *exponent = (int8_t)e;
    return c;
}

/* Node i's record and codes at its place; false when its plane is not one round_plane made.
 * `codes` and `room`: plane_width bytes and floats of scratch. */
static bool place_node(const nearkit_index *ix, const rp_impl *t, const uint32_t *place, uint64_t i,
                       int8_t *codes, float *room) {
    const rp_node *nd = &t->nodes[i];
    walk_node *w = &t->walk.places[place[i]];
    if (is_leaf(nd)) {
        *w = (walk_node){.child = {NO_CHILD, (uint32_t)nd->begin}, .end = (uint32_t)nd->end};
        return true;
    }
    *w = (walk_node){.child = {place[nd->child[0]], place[nd->child[1]]}, .offset = nd->offset};
    if (nd->plane == NO_PLANE) return true;
    size_t d = ix->dimension, pw = plane_width(ix);
    int8_t exponent;
    /* ip planes carry the lifted coordinate's weight last: coded with the rest, never read (a
     * query's lifted coordinate is 0) */
    const int8_t *c = canonical_view_codes(t, nd->plane, pw, &exponent);
    if (!c && !plane_codes(codes, &exponent, plane_floats(ix, t, nd->plane, room), pw)) return false;
    if (!c) c = codes;
    w->scale = ldexpf(1.0f, exponent);
    uint8_t *at = (uint8_t *)(w + 1);
    for (size_t k = 0; k < d; k++) at[k] = (uint8_t)(c[k] + 128);
    return true;
}

/* The internal nodes with a plane. */
static uint64_t planed_nodes(const rp_impl *t) {
    uint64_t planed = 0;
    for (uint64_t i = 0; i < t->n_nodes; i++) planed += !is_leaf(&t->nodes[i]) && t->nodes[i].plane != NO_PLANE;
    return planed;
}

/* Whether a file holds the forest's planes in its walk alone (RFWK, no RFPC): where a walk serves,
 * every plane is one node's, and a plane is d values (not ip's, whose lifted coordinate the walk
 * does not keep). The walk holds each plane's codes and power of two already, so the file does
 * not hold them twice (at Fashion-MNIST's 784 dimensions they are 4% of it). */
static bool planes_in_walk(const nearkit_index *ix, const rp_impl *t) {
    return t->walk.places && plane_width(ix) == ix->dimension && planed_nodes(t) == t->n_planes;
}

/* Whether a walk serves the forest: every plane is coded and none is shared (shared planes would
 * be copied once per split that uses them; binary rows split on bits), and its places fit 32-bit
 * indexes; *count: its places. Otherwise searches descend the nodes. */
static bool walk_serves(const nearkit_index *ix, const rp_impl *t, uint64_t *count) {
    size_t d = ix->dimension;
    uint64_t planed = planed_nodes(t);
    *count = 0;
    if (is_binary(ix) || t->n_trees == 0 || t->n_planes < planed) return false;
    for (uint64_t i = 0; i < t->n_nodes && *count < UINT32_MAX; i++) *count += walk_units(&t->nodes[i], d);
    return *count < UINT32_MAX;
}

/* The walk's d floats of 1 and of -128. */
static nearkit_status walk_constants(coded_walk *w, size_t d) {
    w->one = nearkit_alloc_array(d, sizeof(float));
    w->minus = nearkit_alloc_array(d, sizeof(float));
    if (!w->one || !w->minus) return nearkit_oom();
    for (size_t k = 0; k < d; k++) {
        w->one[k] = 1.0f;
        w->minus[k] = -128.0f;
    }
    return NEARKIT_OK;
}

/* What lay_out_walk's workers share: each node's place, and a plane's scratch per worker. */
typedef struct placing {
    const nearkit_index *ix;
    rp_impl *t;
    const uint32_t *place;
    int8_t *codes;
    float *room;
    size_t pw;
    _Atomic int uncoded; /* a plane round_plane did not make: no walk */
} placing;

/* place_node for nodes [begin, end): each writes its own places only. */
static void place_nodes(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    placing *p = ctx;
    int8_t *codes = p->codes + (size_t)worker * p->pw;
    float *room = p->room + (size_t)worker * p->pw;
    for (uint64_t i = begin; i < end && !atomic_load_explicit(&p->uncoded, memory_order_relaxed); i++)
        if (!place_node(p->ix, p->t, p->place, i, codes, room)) atomic_store(&p->uncoded, 1);
}

/* Lays out the walk searches descend, where one serves (walk_serves), its nodes placed in
 * parallel. Only out of memory is an error. */
static nearkit_status lay_out_walk(const nearkit_index *ix, rp_impl *t) {
    forget_walk(&t->walk);
    size_t d = ix->dimension, pw = plane_width(ix);
    uint64_t count = 0;
    if (!walk_serves(ix, t, &count)) return NEARKIT_OK;
    uint32_t threads = nearkit_resolve_threads(ix->num_threads);
    uint32_t *place = nearkit_alloc_array((size_t)t->n_nodes, sizeof(uint32_t));
    int8_t *codes = nearkit_alloc_array((size_t)threads, pw);
    float *room = nearkit_alloc_array((size_t)threads * pw, sizeof(float));
    if (!place || !codes || !room) {
        free(place);
        free(codes);
        free(room);
        return nearkit_oom();
    }
    for (uint64_t i = 0, at = 0; i < t->n_nodes; i++) {
        place[i] = (uint32_t)at;
        at += walk_units(&t->nodes[i], d);
    }
    coded_walk *w = &t->walk;
    w->count = count;
    /* zeroed: the last place of a plane's codes is filled only in part, and files hold the walk */
    w->places = calloc((size_t)count, sizeof(walk_node));
    w->roots = nearkit_alloc_array((size_t)t->n_trees, sizeof(uint32_t));
    nearkit_status st = w->places && w->roots ? walk_constants(w, d) : nearkit_oom();
    placing p = {.ix = ix, .t = t, .place = place, .codes = codes, .room = room, .pw = pw};
    atomic_init(&p.uncoded, 0);
    if (!st) nearkit_parallel_for(threads, t->n_nodes, PLACE_CHUNK, place_nodes, &p);
    bool coded = !st && !atomic_load(&p.uncoded);
    for (uint64_t tr = 0; tr < t->n_trees && coded; tr++) w->roots[tr] = place[t->tree_start[tr]];
    if (!coded) forget_walk(w);
    free(place);
    free(codes);
    free(room);
    return st;
}

/* ---- a living collection ----------------------------------------------------------------------- */

static nearkit_status rebuild(nearkit_index *ix) {
    rp_impl *t = impl_of(ix);
    forget_forest(t);
    if (t->store.rows.removed > 0) nearkit_rows_compact(&t->store.rows, ix, NULL);
    return build_forest(ix);
}

static nearkit_status rp_build(nearkit_index *ix) {
    rp_impl *t = impl_of(ix);
    t->store.maintained = true;
    /* a build with new settings (n_trees, leaf size, split) rebuilds even with no new rows */
    bool current = t->store.built == t->store.rows.count && t->store.rows.removed == 0 && !t->resettled;
    t->resettled = false;
    return current ? NEARKIT_OK : rebuild(ix);
}

/* ---- search ------------------------------------------------------------------------------------ */

typedef struct rp_plan {
    uint64_t *positions; /* the rows a selective filter admits; NULL: search the forest and tail */
    uint64_t n;
    uint64_t search_k; /* the call's setting */
} rp_plan;

static bool plan_call(nearkit_search_call *c, void *plan) {
    const rp_impl *t = impl_of(c->ix);
    rp_plan *p = plan;
    p->search_k = (uint64_t)c->settings[PARAM_SEARCH_K];
    if (!c->admit || c->admit->most > nearkit_rows_live(&t->store.rows) / GATHER_FRACTION) return true;
    return nearkit_rows_admitted(&p->positions, &p->n, &t->store.rows, c, 0, t->store.rows.count) == NEARKIT_OK;
}

static void plan_free(void *plan) { free(((rp_plan *)plan)->positions); }

typedef struct queued {
    float priority;
    uint32_t node, tree;
} queued;

/* One worker's scratch. */
typedef struct rp_searcher {
    const nearkit_index *ix;
    const rp_impl *t;
    const nearkit_search_call *call;
    const rp_plan *plan;
    const nearkit_kernel_table *kt;
    bool checking;
    queued *queue; /* a max-heap on priority, grown as needed (at most every node) */
    size_t queued, queue_cap;
    uint64_t *cand; /* collected rows, grown as needed */
    uint64_t cand_cap;
    uint32_t *seen; /* an open-addressing set of row + 1 (0: empty) for deduplicating candidates */
    uint32_t seen_bits;
    float *dist;
    uint32_t *ints;
    float *heap_dist;
    uint64_t *heap_pos;
    uint64_t heap_cap; /* k of the call it was made for */
} rp_searcher;

static void searcher_free(void *scratch) {
    rp_searcher *s = scratch;
    free(s->queue);
    free(s->cand);
    free(s->seen);
    free(s->dist);
    free(s->ints);
    free(s->heap_dist);
    free(s->heap_pos);
    free(s);
}

/* The seen set's size (a power of two) for call c: it holds at most the rows of the budget's
 * leaves, or every row, and is kept under half full. */
static uint32_t seen_bits_for(const nearkit_search_call *c) {
    const rp_impl *t = impl_of(c->ix);
    uint64_t most = (c->k > 0 ? (uint64_t)(c->settings[PARAM_SEARCH_K] ? c->settings[PARAM_SEARCH_K]
                                                                        : (double)(t->n_trees * c->k))
                              : t->store.built) + t->max_leaf;
    if (most > t->store.built) most = t->store.built;
    uint32_t bits = 4;
    while ((1ull << bits) < 2 * most) bits++;
    return bits;
}

/* Points a searcher at call c (its index, plan and filter). */
static void searcher_aim(rp_searcher *s, const nearkit_search_call *c) {
    s->ix = c->ix;
    s->t = impl_of(c->ix);
    s->call = c;
    s->plan = c->state;
    s->kt = nearkit_kernels();
    s->checking = c->admit || s->t->store.rows.removed > 0;
}

static void *searcher_new(const nearkit_search_call *c) {
    rp_searcher *s = malloc(sizeof *s);
    if (!s) return NULL;
    *s = (rp_searcher){.queue_cap = QUEUE_START,
                       .queue = nearkit_alloc_array(QUEUE_START, sizeof(queued)),
                       .cand_cap = 1024,
                       .cand = nearkit_alloc_array(1024, sizeof(uint64_t)),
                       .dist = nearkit_alloc_array(SCAN_BLOCK, sizeof(float)),
                       .ints = nearkit_alloc_array(SCAN_BLOCK, sizeof(uint32_t))};
    searcher_aim(s, c);
    if (c->k > 0) {
        s->heap_cap = c->k;
        s->heap_dist = nearkit_alloc_array((size_t)c->k, sizeof(float));
        s->heap_pos = nearkit_alloc_array((size_t)c->k, sizeof(uint64_t));
    }
    s->seen_bits = seen_bits_for(c);
    s->seen = calloc((size_t)1 << s->seen_bits, sizeof(uint32_t)); /* zeroed pages cost nothing untouched */
    if (!s->queue || !s->cand || !s->seen || !s->dist || !s->ints || (c->k > 0 && (!s->heap_dist || !s->heap_pos))) {
        searcher_free(s);
        return NULL;
    }
    return s;
}

/* A kept searcher serves call c (of any rpforest index) when its heap holds c's k and its seen set
 * is large enough; the set is empty between queries (collect forgets every row it adds), and the
 * queue and candidates grow as needed. */
static bool searcher_reuse(void *scratch, const nearkit_search_call *c) {
    rp_searcher *s = scratch;
    if (s->heap_cap < c->k || seen_bits_for(c) > s->seen_bits) return false;
    searcher_aim(s, c);
    return true;
}

/* Room for one more queued node; false when out of memory. A search queues a few nodes per leaf
 * it visits, far fewer than the forest's nodes: sizing the queue for all of them cost every call a
 * fresh mapping of megabytes (1M rows) and its page faults. */
static bool queue_reserve(rp_searcher *s) {
    if (s->queued < s->queue_cap) return true;
    queued *grown = realloc(s->queue, s->queue_cap * 2 * sizeof *grown);
    if (!grown) return false;
    s->queue = grown;
    s->queue_cap *= 2;
    return true;
}

/* Queues a node; false when out of memory. */
static bool queue_push(rp_searcher *s, queued item) {
    if (!queue_reserve(s)) return false;
    size_t i = s->queued++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->queue[parent].priority >= item.priority) break;
        s->queue[i] = s->queue[parent];
        i = parent;
    }
    s->queue[i] = item;
    return true;
}

static queued queue_pop(rp_searcher *s) {
    queued top = s->queue[0], last = s->queue[--s->queued];
    size_t i = 0, n = s->queued;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && s->queue[child + 1].priority > s->queue[child].priority) child++;
        if (s->queue[child].priority <= last.priority) break;
        s->queue[i] = s->queue[child];
        i = child;
    }
    if (n > 0) s->queue[i] = last;
    return top;
}

/* The side a margin m puts the query on (1: child 1), and in *far_priority the priority of the
 * other side: the least margin towards it on the path (Annoy's). */
static inline int split_by_margin(float *far_priority, float m, float priority) {
    int near = m > 0;
    float against = near ? -m : m;
    *far_priority = against < priority ? against : priority;
    return near;
}

/* Descends from a queued node to a leaf, always to the side the query lies on, queueing the other
 * side with its priority (Annoy's: the least margin towards it on the path). NO_CHILD: out of
 * memory. */
static uint32_t descend(rp_searcher *s, const void *q, queued from) {
    const rp_impl *t = s->t;
    uint32_t i = from.node;
    float priority = from.priority;
    while (!is_leaf(&t->nodes[i])) {
        const rp_node *nd = &t->nodes[i];
        int near;
        float far_priority;
        if (nd->plane == NO_PLANE) { /* halved: both sides as near */
            near = 0;
            far_priority = priority;
        } else if (is_binary(s->ix)) {
            near = bit_of(q, nd->plane);
            far_priority = priority - 1.0f; /* one more split bit the query disagrees with */
        } else {
            __builtin_prefetch(&t->nodes[nd->child[1]]); /* child 0 follows i (pre-order) */
            near = split_by_margin(&far_priority, plane_margin(s->kt, s->ix, t->planes, nd, q), priority);
        }
        if (!queue_push(s, (queued){far_priority, nd->child[!near], from.tree})) return NO_CHILD;
        i = nd->child[near];
    }
    return i;
}

/* Whether place i of a borrowed walk, an internal node, leads on safely: both children after it
 * (so a descent ends) and within the walk, and its codes too. */
static bool walk_step_valid(const coded_walk *w, uint32_t i, size_t d) {
    const walk_node *nd = &w->places[i];
    uint64_t codes_end = (uint64_t)i + 1 + (nd->scale != 0 ? code_places(d) : 0);
    return nd->child[0] > i && nd->child[1] > i && nd->child[0] < w->count && nd->child[1] < w->count &&
           codes_end <= w->count;
}

/* Starts loading the place of a walk node with its codes. */
static NEARKIT_PREFETCHER void prefetch_place(const walk_node *w, size_t bytes) { nearkit_prefetch_bytes(w, bytes); }

/* descend over the coded walk: the same margins, bit for bit (the sq8 kernel's dot of the query
 * with codes c read as c + 128 - 128, exact, times a power of two, exact), so the same answers.
 * Both children's places are fetched while the margin is computed: the descent then waits on
 * memory once per level at most. */
static uint32_t descend_walk(rp_searcher *s, const float *q, queued from) {
    const coded_walk *w = &s->t->walk;
    size_t d = s->ix->dimension, bytes = sizeof(walk_node) + d;
    nearkit_code_kernel dot = s->kt->code_dot[NEARKIT_CODE_SQ8];
    uint32_t i = from.node;
    float priority = from.priority;
    while (w->places[i].child[0] != NO_CHILD) {
        const walk_node *nd = &w->places[i];
        if (w->borrowed && !walk_step_valid(w, i, d)) return i; /* a leaf to leaf_span: empty */
        int near = 0;
        float far_priority = priority; /* halved: both sides as near */
        if (nd->scale != 0) {
            prefetch_place(&w->places[nd->child[0]], bytes);
            prefetch_place(&w->places[nd->child[1]], bytes);
            float m;
            dot(&m, q, (const uint8_t *)(nd + 1), w->one, w->minus, 1, d);
            near = split_by_margin(&far_priority, m * nd->scale + nd->offset, priority);
        }
        if (!queue_push(s, (queued){far_priority, nd->child[!near], from.tree})) return NO_CHILD;
        i = nd->child[near];
    }
    return i;
}

/* A leaf's rows [*begin, *end) in its tree's leaf order (a borrowed walk's place that is no leaf
 * of the tree's rows: none). */
static void leaf_span(const rp_searcher *s, uint32_t leaf, uint64_t *begin, uint64_t *end) {
    const coded_walk *w = &s->t->walk;
    if (w->places) {
        const walk_node *nd = &w->places[leaf];
        bool leaf_of_rows = nd->child[0] == NO_CHILD && nd->child[1] <= nd->end && nd->end <= s->t->store.built;
        *begin = leaf_of_rows || !w->borrowed ? nd->child[1] : 0;
        *end = leaf_of_rows || !w->borrowed ? nd->end : 0;
    } else {
        *begin = s->t->nodes[leaf].begin;
        *end = s->t->nodes[leaf].end;
    }
}

static bool grow_candidates(rp_searcher *s, uint64_t need) {
    if (need <= s->cand_cap) return true;
    uint64_t cap = s->cand_cap * 2 > need ? s->cand_cap * 2 : need;
    uint64_t *grown = realloc(s->cand, (size_t)cap * sizeof *grown);
    if (!grown) return false;
    s->cand = grown;
    s->cand_cap = cap;
    return true;
}

/* Adds row to the set; false when it was there. */
static bool first_sight(rp_searcher *s, uint32_t row) {
    uint64_t mask = (1ull << s->seen_bits) - 1, i = ((uint64_t)row * 0x9E3779B97F4A7C15ull) >> (64 - s->seen_bits);
    uint32_t key = row + 1;
    while (s->seen[i] != 0) {
        if (s->seen[i] == key) return false;
        i = (i + 1) & mask;
    }
    s->seen[i] = key;
    return true;
}

/* Empties the set of the rows in cand[0, n) (every row it holds), for the next query. */
static void forget_sightings(rp_searcher *s, uint64_t n) {
    uint64_t mask = (1ull << s->seen_bits) - 1;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t i = (s->cand[j] * 0x9E3779B97F4A7C15ull) >> (64 - s->seen_bits);
        while (s->seen[i] != 0) { /* clear the whole probe run: later keys may have moved past */
            s->seen[i] = 0;
            i = (i + 1) & mask;
        }
    }
}

/* Starts loading a candidate's vector while the trees are still walked: the exact pass that scores
 * the candidates afterwards then finds them in cache instead of waiting on one scattered row after
 * another. */
static NEARKIT_PREFETCHER void prefetch_row(const rp_searcher *s, uint32_t row) {
    nearkit_prefetch_bytes(nearkit_rows_at(&s->t->store.rows, s->ix, row), s->ix->vector_bytes);
}

/* The forest's candidates for one query: leaves best first until `budget` rows (duplicates
 * included) are collected, the distinct admitted ones into s->cand[0, *n). False: out of memory. */
static bool collect(rp_searcher *s, const void *q, uint64_t budget, uint64_t *n_out) {
    const rp_impl *t = s->t;
    uint64_t n = 0, collected = 0;
    s->queued = 0;
    /* bits count disagreements down from 0 (INFINITY - 1 would stay INFINITY) */
    float root = is_binary(s->ix) ? 0.0f : INFINITY;
    bool walk = t->walk.places != NULL;
    for (uint64_t tr = 0; tr < t->n_trees; tr++) {
        uint32_t top = walk ? t->walk.roots[tr] : (uint32_t)t->tree_start[tr];
        if (!queue_push(s, (queued){root, top, (uint32_t)tr})) return false;
    }
    while (s->queued > 0 && collected < budget) {
        queued next = queue_pop(s);
        uint32_t leaf = walk ? descend_walk(s, q, next) : descend(s, q, next);
        uint64_t begin = 0, end = 0;
        if (leaf != NO_CHILD) leaf_span(s, leaf, &begin, &end);
        uint64_t size = end - begin;
        if (leaf == NO_CHILD || !grow_candidates(s, n + size)) {
            forget_sightings(s, n);
            return false;
        }
        const uint32_t *rows = t->leaf_rows + (uint64_t)next.tree * t->store.built + begin;
        for (uint64_t i = 0; i < size; i++)
            if (rows[i] < t->store.built && first_sight(s, rows[i])) { /* a plain view's rows are unchecked */
                s->cand[n++] = rows[i];
                prefetch_row(s, rows[i]);
            }
        collected += size;
    }
    forget_sightings(s, n);
    uint64_t kept = n;
    if (s->checking) {
        kept = 0;
        for (uint64_t i = 0; i < n; i++)
            if (nearkit_call_admits(s->call, nearkit_rows_id(&t->store.rows, s->cand[i]))) s->cand[kept++] = s->cand[i];
    }
    *n_out = kept;
    return true;
}

/* The search_k of a k-NN query: the call's, or n_trees * k. */
static uint64_t budget_of(const rp_searcher *s, uint64_t k) {
    return s->plan->search_k ? s->plan->search_k : s->t->n_trees * k;
}

static void offer_positions(const rp_searcher *s, nearkit_topk *h, const void *q, const uint64_t *positions,
                            uint64_t n) {
    for (uint64_t i = 0; i < n; i += SCAN_BLOCK) {
        uint64_t left = n - i;
        nearkit_rows_offer(h, s->dist, s->ints, s->ix, &s->t->store.rows, q, positions + i,
                           left < SCAN_BLOCK ? left : SCAN_BLOCK);
    }
}

/* Offers rows [first, first + n) that the call admits to h. */
static void offer_rows(const rp_searcher *s, nearkit_topk *h, const void *q, uint64_t first, size_t n) {
    nearkit_rows_distances(s->dist, s->ints, s->kt, s->ix, &s->t->store.rows, q, first, n);
    for (size_t i = 0; i < n; i++)
        if (s->dist[i] <= nearkit_topk_bound(h) &&
            (!s->checking || nearkit_call_admits(s->call, nearkit_rows_id(&s->t->store.rows, first + i))))
            nearkit_topk_push(h, s->dist[i], first + i);
}

/* Offers rows [begin, end) in blocks. */
static void offer_span(const rp_searcher *s, nearkit_topk *h, const void *q, uint64_t begin, uint64_t end) {
    for (uint64_t first = begin; first < end; first += SCAN_BLOCK) {
        uint64_t left = end - first;
        offer_rows(s, h, q, first, (size_t)(left < SCAN_BLOCK ? left : SCAN_BLOCK));
    }
}

static bool rp_knn(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    rp_searcher *s = scratch;
    for (uint64_t q = first; q < first + n; q++) {
        const void *query = nearkit_query_at(c, q);
        nearkit_topk h;
        nearkit_topk_init(&h, s->heap_dist, s->heap_pos, (size_t)c->k, s->t->store.rows.ids);
        if (s->plan->positions) {
            offer_positions(s, &h, query, s->plan->positions, s->plan->n);
        } else {
            offer_span(s, &h, query, s->t->store.built, s->t->store.rows.count);
            uint64_t found = 0;
            if (s->t->n_trees > 0 && !collect(s, query, budget_of(s, c->k), &found)) return false;
            offer_positions(s, &h, query, s->cand, found);
        }
        nearkit_write_heap(c, q, &h);
    }
    return true;
}

/* Matches of query q among rows [begin, end) the call admits; false when out of memory. */
static bool match_span(const rp_searcher *s, uint64_t q, const void *query, uint64_t begin, uint64_t end) {
    const nearkit_search_call *c = s->call;
    for (uint64_t first = begin; first < end; first += SCAN_BLOCK) {
        size_t n = (size_t)(end - first < SCAN_BLOCK ? end - first : SCAN_BLOCK);
        nearkit_rows_distances(s->dist, s->ints, s->kt, s->ix, &s->t->store.rows, query, first, n);
        for (size_t i = 0; i < n; i++) {
            int64_t id = nearkit_rows_id(&s->t->store.rows, first + i);
            float d = nearkit_reported(s->ix, s->dist[i]);
            if (d <= c->radius && (!s->checking || nearkit_call_admits(c, id)) && !nearkit_add_match(c, q, id, d))
                return false;
        }
    }
    return true;
}

/* Matches of query q among the rows at positions[0, n), in blocks; false when out of memory. */
static bool match_positions(const rp_searcher *s, uint64_t q, const uint64_t *positions, uint64_t n) {
    for (uint64_t i = 0; i < n; i += SCAN_BLOCK) {
        uint64_t left = n - i;
        if (!nearkit_rows_match(s->call, q, s->dist, s->ints, &s->t->store.rows, positions + i,
                                left < SCAN_BLOCK ? left : SCAN_BLOCK))
            return false;
    }
    return true;
}

/* Range search: over the candidates of search_k and the tail, or every row when search_k is 0. */
static bool rp_range(void *scratch, const nearkit_search_call *c, uint64_t q) {
    rp_searcher *s = scratch;
    const void *query = nearkit_query_at(c, q);
    if (s->plan->positions) return match_positions(s, q, s->plan->positions, s->plan->n);
    if (s->plan->search_k == 0 || s->t->n_trees == 0) return match_span(s, q, query, 0, s->t->store.rows.count);
    if (!match_span(s, q, query, s->t->store.built, s->t->store.rows.count)) return false;
    uint64_t found = 0;
    return collect(s, query, s->plan->search_k, &found) && match_positions(s, q, s->cand, found);
}

static const nearkit_searcher rp_searching = {
    .plan_size = sizeof(rp_plan),
    .plan = plan_call,
    .plan_free = plan_free,
    .scratch_new = searcher_new,
    .scratch_free = searcher_free,
    .scratch_reuse = searcher_reuse,
    .knn = rp_knn,
    .range = rp_range,
};

/* ---- parameters -------------------------------------------------------------------------------- */

static nearkit_status rp_get_param(const nearkit_index *ix, size_t i, double *value) {
    const rp_impl *t = impl_of(ix);
    switch (i) {
    case PARAM_TREES: *value = t->want_trees; break;
    case PARAM_LEAF_SIZE: *value = t->leaf_size; break;
    case PARAM_SPLIT: *value = t->split; break;
    case PARAM_POOL: *value = t->pool; break;
    case PARAM_SEARCH_K: *value = t->search_k; break;
    case PARAM_DEPTH: *value = t->depth; break;
    case PARAM_NODE_COUNT: *value = (double)t->n_nodes; break;
    case PARAM_LEAF_COUNT: *value = (double)t->leaf_count; break;
    default: *value = (double)t->n_planes; break;
    }
    return NEARKIT_OK;
}

static nearkit_status rp_set_param(nearkit_index *ix, size_t i, double value) {
    rp_impl *t = impl_of(ix);
    switch (i) {
    case PARAM_TREES: t->want_trees = (uint32_t)value; break;
    case PARAM_LEAF_SIZE: t->leaf_size = (uint32_t)value; break;
    case PARAM_SPLIT: t->split = (uint32_t)value; break;
    case PARAM_POOL: t->pool = (uint32_t)value; break;
    default: t->search_k = value; return NEARKIT_OK; /* the generic layer refuses the read-only ones */
    }
    t->resettled = true;
    return NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

/* RFHD: u64 rows in the forest, trees, nodes, planes. RFTR: u64 first node of each tree, then the
 * node count. RFND: nodes (32 bytes each). RFLR: u32 rows, built per tree. The planes: see
 * save_planes. */
/* The planes as codes (RFPC, RFPE) when every one is a rounded plane (round_plane), else as floats
 * (RFPL: a forest loaded from an older file, or none at all). */
static nearkit_status save_planes(const nearkit_index *ix, const rp_impl *t, nearkit_writer *w) {
    size_t d = plane_width(ix);
    uint64_t values = t->n_planes * d;
    if (values == 0) return nearkit_writer_section(w, PLANES_TAG, t->planes, 0);
    if (!t->planes) { /* a view's: its file's codes as they are */
        nearkit_status st = nearkit_writer_section(w, PLANE_CODES_TAG, t->view_codes, values);
        return st ? st : nearkit_writer_section(w, PLANE_EXPONENTS_TAG, t->view_exponents, t->n_planes);
    }
    int8_t *codes = nearkit_alloc_array((size_t)values, 1), *exponents = nearkit_alloc_array((size_t)t->n_planes, 1);
    nearkit_status st = codes && exponents ? NEARKIT_OK : nearkit_oom();
    bool coded = !st;
    for (uint64_t i = 0; i < t->n_planes && coded; i++)
        coded = plane_codes(codes + i * d, exponents + i, t->planes + i * d, d);
    if (coded) {
        st = nearkit_writer_section(w, PLANE_CODES_TAG, codes, values);
        if (!st) st = nearkit_writer_section(w, PLANE_EXPONENTS_TAG, exponents, t->n_planes);
    } else if (!st) {
        st = nearkit_writer_section(w, PLANES_TAG, t->planes, values * sizeof(float));
    }
    free(codes);
    free(exponents);
    return st;
}

static nearkit_status rp_save(const nearkit_index *ix, nearkit_writer *w) {
    const rp_impl *t = impl_of(ix);
    uint64_t head[4] = {t->store.built, t->n_trees, t->n_nodes, t->n_planes};
    uint64_t no_tree = 0;
    nearkit_status st = nearkit_writer_section(w, HEAD_TAG, head, sizeof head);
    if (!st) st = nearkit_rows_save(&t->store.rows, ix, w);
    if (!st)
        st = nearkit_writer_section(w, TREES_TAG, t->tree_start ? (const void *)t->tree_start : &no_tree,
                                    (t->n_trees + 1) * sizeof(uint64_t));
    if (!st) st = nearkit_writer_section(w, NODES_TAG, t->nodes, t->n_nodes * sizeof(rp_node));
    if (!st) st = nearkit_writer_section(w, LEAF_ROWS_TAG, t->leaf_rows, t->n_trees * t->store.built * sizeof(uint32_t));
    bool in_walk = planes_in_walk(ix, t);
    if (!st && !in_walk) st = save_planes(ix, t, w);
    if (!st && in_walk) st = nearkit_writer_section(w, WALK_TAG, t->walk.places, t->walk.count * sizeof(walk_node));
    if (!st && in_walk) st = nearkit_writer_section(w, WALK_ROOTS_TAG, t->walk.roots, t->n_trees * sizeof(uint32_t));
    return st;
}

/* Copies section `tag` of exactly count * size bytes into a new array. */
static nearkit_status load_array(void **out, const nearkit_reader *r, uint32_t tag, uint64_t count, size_t size) {
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, tag, count * size);
    if (st) return st;
    *out = nearkit_alloc_array((size_t)count, size);
    if (!*out) return nearkit_oom();
    memcpy(*out, data, (size_t)(count * size));
    return NEARKIT_OK;
}

/* Section `tag` of exactly count * size bytes: in place for a view (*borrowed; a body that cannot
 * be used in place fails the view as the row store's does, and the file is loaded instead), else
 * copied into a new array. */
static nearkit_status use_array(void **out, bool *borrowed, const nearkit_reader *r, uint32_t tag, uint64_t count,
                                size_t size) {
    *borrowed = false;
    if (!nearkit_reader_borrows(r)) return load_array(out, r, tag, count, size);
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, tag, count * size);
    if (!st) st = nearkit_reader_borrowable(r, data, tag);
    if (st) return st;
    *out = (void *)(uintptr_t)data; /* read only: a view refuses every write */
    *borrowed = true;
    return NEARKIT_OK;
}

/* Float planes from codes times powers of two. */
static nearkit_status decode_planes(const nearkit_index *ix, rp_impl *t, const int8_t *codes,
                                    const int8_t *exponents) {
    size_t d = plane_width(ix);
    t->planes = nearkit_alloc_array((size_t)(t->n_planes * d), sizeof(float));
    if (!t->planes) return nearkit_oom();
    for (uint64_t i = 0; i < t->n_planes; i++) decode_plane(t->planes + i * d, codes + i * d, exponents[i], d);
    return NEARKIT_OK;
}

/* A view's plane codes, decoded a plane at a time, hold only usable values (what a load checks of
 * its decoded planes). */
static nearkit_status check_view_planes(const nearkit_index *ix, const rp_impl *t) {
    size_t d = plane_width(ix);
    float *room = nearkit_alloc_array(d, sizeof(float));
    if (!room) return nearkit_oom();
    nearkit_status st = NEARKIT_OK;
    for (uint64_t i = 0; i < t->n_planes && !st; i++)
        if (nearkit_first_unusable_value(plane_floats(ix, t, (uint32_t)i, room), d) < d)
            st = nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: a forest plane holds an unusable value");
    free(room);
    return st;
}

/* The planes of a file: codes times powers of two (RFPC, RFPE), or floats (RFPL, older files). A
 * view keeps the codes where they lie: the walk decodes them a plane at a time (rp_load decodes
 * them all only when no walk serves). */
static nearkit_status load_planes(const nearkit_index *ix, rp_impl *t, const nearkit_reader *r) {
    size_t d = plane_width(ix);
    const void *codes, *exponents;
    uint64_t size;
    if (!nearkit_reader_has_section(r, PLANE_CODES_TAG) && !nearkit_reader_has_section(r, PLANES_TAG) &&
        nearkit_reader_has_section(r, WALK_TAG))
        return NEARKIT_OK; /* in the walk (planes_in_walk): planes_from_walk or borrow_walk */
    if (nearkit_reader_section(&codes, &size, r, PLANE_CODES_TAG)) {
        nearkit_clear_error(); /* absent: float planes */
        void *p;
        nearkit_status st = load_array(&p, r, PLANES_TAG, t->n_planes * d, sizeof(float));
        if (!st) t->planes = p;
        return st;
    }
    nearkit_status st = size == t->n_planes * d ? NEARKIT_OK
                        : nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: section RFPC of %llu bytes",
                                            (unsigned long long)size);
    if (!st) st = nearkit_reader_section_sized(&exponents, r, PLANE_EXPONENTS_TAG, t->n_planes);
    if (st) return st;
    if (!nearkit_reader_borrows(r) || t->n_planes == 0) return decode_planes(ix, t, codes, exponents);
    t->view_codes = codes;
    t->view_exponents = exponents;
    return nearkit_reader_checks_values(r) ? check_view_planes(ix, t) : NEARKIT_OK;
}

/* A file's walk (RFWK, RFWR), checked against the forest's size for it: *places and *roots. */
static nearkit_status stored_walk(const walk_node **places, const uint32_t **roots, uint64_t *count,
                                  const nearkit_index *ix, const rp_impl *t, const nearkit_reader *r) {
    if (!walk_serves(ix, t, count))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: a forest walk the nodes do not call for");
    const void *p, *q;
    nearkit_status st = nearkit_reader_section_sized(&p, r, WALK_TAG, *count * sizeof(walk_node));
    if (!st) st = nearkit_reader_section_sized(&q, r, WALK_ROOTS_TAG, t->n_trees * sizeof(uint32_t));
    if (st) return st;
    *places = p;
    *roots = q;
    return NEARKIT_OK;
}

/* A plain view's walk in place from the file (RFWK, RFWR), where the file holds one of the size
 * the forest's walk takes (*done); loads and verified views lay out their own (lay_out_walk, or
 * planes_from_walk where the walk holds the planes), and files from before RFWK have none. The roots are checked here, the places as searches reach
 * them (walk_step_valid, leaf_span). */
static nearkit_status borrow_walk(bool *done, const nearkit_index *ix, rp_impl *t, const nearkit_reader *r) {
    *done = false;
    uint64_t count = 0;
    if (!nearkit_reader_borrows(r) || nearkit_reader_checks_values(r) || !nearkit_reader_has_section(r, WALK_TAG))
        return NEARKIT_OK;
    const walk_node *places;
    const uint32_t *roots;
    nearkit_status st = stored_walk(&places, &roots, &count, ix, t, r);
    if (!st) st = nearkit_reader_borrowable(r, places, WALK_TAG);
    if (st) return st;
    coded_walk *w = &t->walk;
    w->roots = nearkit_alloc_array((size_t)t->n_trees, sizeof(uint32_t));
    st = w->roots ? walk_constants(w, ix->dimension) : nearkit_oom();
    if (!st) memcpy(w->roots, roots, (size_t)t->n_trees * sizeof(uint32_t));
    for (uint64_t tr = 0; tr < t->n_trees && !st; tr++)
        if (w->roots[tr] >= count) st = nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: a walk root past the walk");
    if (st) {
        forget_walk(w);
        return st;
    }
    w->places = (walk_node *)(uintptr_t)places; /* read only: a view refuses every write */
    w->count = count;
    w->borrowed = true;
    *done = true;
    return NEARKIT_OK;
}

/* The float planes of a file that keeps them in its walk alone (planes_in_walk), for a load or a
 * verified view: each planed node's codes times its power of two; then the walk is laid out from
 * them as after a build, and must be the stored one, byte for byte. */
static nearkit_status planes_from_walk(const nearkit_index *ix, rp_impl *t, const nearkit_reader *r) {
    const walk_node *places;
    const uint32_t *roots;
    uint64_t count;
    size_t d = ix->dimension;
    nearkit_status st = plane_width(ix) == d && planed_nodes(t) == t->n_planes
                            ? stored_walk(&places, &roots, &count, ix, t, r)
                            : nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: forest planes missing");
    if (st) return st;
    t->planes = calloc((size_t)t->n_planes * d, sizeof(float)); /* n_planes * d: bounded by the walk's size */
    if (!t->planes) return nearkit_oom();
    bool usable = true;
    for (uint64_t i = 0, at = 0; i < t->n_nodes && usable; at += walk_units(&t->nodes[i], d), i++) {
        const rp_node *nd = &t->nodes[i];
        if (is_leaf(nd) || nd->plane == NO_PLANE) continue;
        int exponent = 0;
        usable = frexpf(places[at].scale, &exponent) == 0.5f && exponent - 1 >= INT8_MIN && exponent - 1 <= INT8_MAX;
        const uint8_t *codes = (const uint8_t *)&places[at + 1];
        for (size_t k = 0; k < d && usable; k++)
            t->planes[(size_t)nd->plane * d + k] = ldexpf((float)((int)codes[k] - 128), exponent - 1);
    }
    if (usable) st = lay_out_walk(ix, t);
    if (!st && (!usable || !t->walk.places || t->walk.count != count ||
                memcmp(t->walk.places, places, (size_t)count * sizeof(walk_node)) ||
                memcmp(t->walk.roots, roots, (size_t)t->n_trees * sizeof(uint32_t))))
        st = nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: the forest walk does not match its nodes");
    return st;
}

static nearkit_status rp_load(nearkit_index *ix, const nearkit_reader *r) {
    rp_impl *t = impl_of(ix);
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, HEAD_TAG, 32);
    if (st) return st;
    uint64_t head[4];
    memcpy(head, data, sizeof head);
    st = nearkit_rows_load(&t->store.rows, ix, r, false);
    if (st) return st;
    bool binary = is_binary(ix);
    /* sizes bounded before any product is formed: a row count beyond the file cannot pass */
    if (head[0] > t->store.rows.count || head[0] >= UINT32_MAX || head[1] > MAX_TREES || head[2] >= NO_CHILD ||
        head[3] >= NO_PLANE || (binary && head[3] != 0))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: a forest of %llu trees, %llu nodes, %llu planes over %llu of "
                                 "%llu rows",
                                 (unsigned long long)head[1], (unsigned long long)head[2],
                                 (unsigned long long)head[3], (unsigned long long)head[0],
                                 (unsigned long long)t->store.rows.count);
    t->store.built = head[0];
    t->n_trees = head[1];
    t->n_nodes = head[2];
    t->n_planes = head[3];
    size_t d = plane_width(ix);
    void *p;
    st = load_array(&p, r, TREES_TAG, t->n_trees + 1, sizeof(uint64_t));
    if (!st) t->tree_start = p;
    if (!st) st = use_array(&p, &t->nodes_borrowed, r, NODES_TAG, t->n_nodes, sizeof(rp_node));
    if (!st) t->nodes = p;
    if (!st) st = use_array(&p, &t->leaf_rows_borrowed, r, LEAF_ROWS_TAG, t->n_trees * t->store.built, sizeof(uint32_t));
    if (!st) t->leaf_rows = p;
    if (!st) st = load_planes(ix, t, r);
    if (!st && d && t->planes && nearkit_first_unusable_value(t->planes, t->n_planes * d) < t->n_planes * d)
        st = nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: a forest plane holds an unusable value");
    if (!st && t->n_trees == 0 && t->tree_start[0] != 0)
        st = nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: an empty forest with nodes");
    if (!st) st = check_forest(ix, t);
    if (!st && (!nearkit_reader_borrows(r) || nearkit_reader_checks_values(r))) st = check_leaf_rows(t);
    bool borrowed_walk = false, walk_holds_planes = !t->planes && !t->view_codes && t->n_planes > 0;
    if (!st) st = borrow_walk(&borrowed_walk, ix, t, r);
    if (!st && !borrowed_walk) st = walk_holds_planes ? planes_from_walk(ix, t, r) : lay_out_walk(ix, t);
    if (!st && !t->planes && t->view_codes && !t->walk.places) /* the nodes serve: they read float planes */
        st = decode_planes(ix, t, t->view_codes, t->view_exponents);
    if (st) return st;
    t->store.maintained = t->store.built > 0;
    t->resettled = false; /* the saved settings (PRMS) are the forest's */
    return NEARKIT_OK;
}

/* ---- description ------------------------------------------------------------------------------- */

static void rp_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    const rp_impl *t = impl_of(ix);
    const char *split = is_binary(ix) ? "a bit per split"
                        : t->n_planes && t->pool ? "directions from a shared pool"
                        : t->split == SPLIT_RANDOM ? "random directions, offset at the mean"
                                                   : "two-means bisectors";
    nearkit_strbuf_appendf(sb,
                           "random-projection forest (%s): %llu trees over %llu rows, deepest %u levels, "
                           "%llu nodes, %llu leaves of %.1f rows on average and at most %llu, %llu "
                           "hyperplanes; the forest takes %llu bytes beside the vectors; search_k %.0f "
                           "(0: n_trees * k)\n",
                           split, (unsigned long long)t->n_trees, (unsigned long long)t->store.built, t->depth,
                           (unsigned long long)t->n_nodes, (unsigned long long)t->leaf_count,
                           t->leaf_count ? (double)(t->n_trees * t->store.built) / (double)t->leaf_count : 0.0,
                           (unsigned long long)t->max_leaf, (unsigned long long)t->n_planes,
                           (unsigned long long)forest_bytes(ix, t), t->search_k);
    if (t->store.built < t->store.rows.count)
        nearkit_strbuf_appendf(sb, "%llu rows added since the last build, scanned exactly until the next\n",
                               (unsigned long long)(t->store.rows.count - t->store.built));
    if (t->store.rows.removed > 0)
        nearkit_strbuf_appendf(sb, "%llu rows removed, their space kept until the forest is rebuilt\n",
                               (unsigned long long)t->store.rows.removed);
}

const nearkit_index_ops nearkit_rpforest_ops = {
    .kind = NEARKIT_KIND_RPFOREST,
    .name = "rpforest",
    .description = "random-projection forest in the way of Annoy and panns (l2, l1, cosine, ip, "
                   "hamming): n_trees, leaf_size, search_k at run time (>= n_trees * rows is exact); "
                   "build after adding (rows added since are scanned exactly)",
    .flags = NEARKIT_KIND_FLAG_NEEDS_BUILD,
    .metric_mask = (1u << NEARKIT_METRIC_L2) | (1u << NEARKIT_METRIC_L1) | (1u << NEARKIT_METRIC_COSINE) |
                   (1u << NEARKIT_METRIC_IP) | (1u << NEARKIT_METRIC_HAMMING),
    .params = rp_params,
    .n_params = sizeof rp_params / sizeof rp_params[0],
    .create = rp_create,
    .destroy = rp_destroy,
    .add = nearkit_tree_rows_add,
    .build = rp_build,
    .is_ready = rp_is_ready,
    .count = rp_count,
    .memory = rp_memory,
    .knn_searcher = &rp_searching,
    .range_searcher = &rp_searching,
    .remove = nearkit_tree_rows_remove,
    .get = nearkit_tree_rows_get,
    .each_id = nearkit_tree_rows_each_id,
    .compact = nearkit_tree_rows_compact,
    .get_param = rp_get_param,
    .set_param = rp_set_param,
    .save = rp_save,
    .load = rp_load,
    .describe = rp_describe,
};
