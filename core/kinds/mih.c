/* Multi-index hashing (Norouzi, Punjani and Fleet) over binary codes under the Hamming distance.
 *
 * A code of B bits is cut into m disjoint substrings, each indexed in its own table mapping a
 * substring value to the (ascending) positions of the codes holding it. If two codes differ in at
 * most r = m * s + a bits (0 <= a < m), then one of the first a + 1 substrings differs in at most s
 * bits or one of the others in at most s - 1 (else they would differ in more than r). So a search
 * visits rings (s, j) in the order s = 0, 1, ..., j = 0 .. m - 1, ring (s, j) looking up every key
 * at exactly s bits from the query's substring j; after it, every code within m * s + j of the
 * query has been seen. Range search stops once that reaches the radius; k-NN once the k-th best
 * distance is within it (exact, ties included), or at the max_radius cap. When the rings would
 * cost more than a scan of every code, the query scans instead; the answer is the same.
 *
 * Tables are flat arrays: a short substring (2^bits <= 4 * count) indexes a CSR offset array
 * directly; a long one goes through an open-addressing table of (key, start, count) entries with
 * a parallel array of one-byte tags, so that a key that is absent (most of the keys a ring tries)
 * costs a look at the small tag array only. Both point into one array of 32-bit positions per
 * table. A saved index keeps its tables (their arrays as they are in memory); a load, and a view
 * opened with verification, rebuild them from the codes instead (as fast as checking stored ones
 * would be), and a plain view uses the file's in place. Searches take nothing a table says on
 * trust: a bucket that reaches past the positions, a position past the indexed rows and a probe
 * sequence with no empty slot are skipped or cut short, so a damaged file read by a plain view
 * costs answers, never an out-of-bounds read or an endless loop.
 *
 * A living collection. The tables cover rows [0, indexed) of the row store; rows added after the
 * build (the tail) are scanned exactly by every query, into the same heap before the rings are
 * walked, so a search never needs a build to be exact. Adds rebuild the tables once the tail
 * exceeds a quarter of the indexed rows; an index never built has no tables, and its queries scan
 * every row. Removal marks rows (their id becomes NEARKIT_REMOVED_ID): the tables keep their
 * positions and verification skips them. Once a quarter of the rows are marked (and on compact
 * and build), the marked rows are dropped and the tables rebuilt over the rest, all or nothing:
 * the new tables are made before the rows move, so running out of memory leaves the index as it
 * was (a remove or add still succeeds; only the reclaiming waits). A saved index keeps its marks
 * and loads row for row.
 *
 * A filter is tested where a candidate is verified (and in scans, where a row could enter the
 * result). Where a call's filter lets few rows through (its bound `most` against the rows, and
 * enough queries to repay it), the plan gathers the admitted rows once: a bit per row (then the
 * one test), and their codes packed together; each query then walks its rings on the budget of
 * a scan of the packed codes and, where it gives up, scans them exactly. A predicate is always
 * gathered so that it is called once per stored vector and call. With no filter and nothing
 * removed, no test is made. */
#include "search/driver.h"
#include "search/rows.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define META_TAG NEARKIT_TAG('M', 'I', 'H', 'M')
#define DIRECTORY_TAG NEARKIT_TAG('M', 'I', 'H', 'D')
#define OFFSETS_TAG NEARKIT_TAG('M', 'I', 'H', 'O')
#define SLOTS_TAG NEARKIT_TAG('M', 'I', 'H', 'S')
#define TAGS_TAG NEARKIT_TAG('M', 'I', 'H', 'T')
#define POSITIONS_TAG NEARKIT_TAG('M', 'I', 'H', 'P')

#define MAX_CODES 0xFFFFFFFEull /* positions are 32-bit; UINT32_MAX marks an empty set slot */
#define MAX_SUBSTRING_BITS 64u
#define DIRECT_MAX_BITS 32u
#define KEY_BLOCK 32            /* ring keys looked up together, so their cache misses overlap */
#define QUERY_CHUNK 64          /* k-NN queries per task: those that give up scan together */
#define HEAP_BYTES (64u << 20)  /* heap memory of one task, bounding the queries it takes */
#define PREFETCH_AHEAD 8        /* candidates whose codes are fetched ahead of verification */
#define SCAN_BLOCK_BYTES (1u << 16)
#define UNCAPPED (-1)

/* Rough costs, in nanoseconds, that decide between walking rings and scanning every code (tables
 * of large indexes live in main memory: a probe or a verification is mostly a cache miss). */
#define COST_PROBE_DIRECT 25.0
#define COST_PROBE_HASHED 35.0
#define COST_ENTRY 2.0
#define COST_VERIFY 25.0
/* ... and that decide whether a filtered call gathers its admitted rows: one filter test per row
 * (an id set is a hash probe, a bitmap a bit, a predicate the caller's function). */
#define COST_ADMIT_IDS 8.0
#define COST_ADMIT_BITMAP 2.0
#define COST_ADMIT_PREDICATE 20.0

typedef struct mih_entry {
    uint64_t key;
    uint32_t start, count;
} mih_entry;

typedef struct mih_table {
    uint32_t first_bit, bits; /* the substring: code bits [first_bit, first_bit + bits) */
    uint32_t *offsets;        /* direct: 2^bits + 1 starts into positions */
    mih_entry *slots;         /* hashed: linear probing, slot_mask + 1 slots ... */
    uint8_t *tags;            /* ... each with a tag from its key's hash; 0: empty */
    uint64_t slot_mask;
    uint32_t *positions;      /* every code's position, grouped by substring value */
} mih_table;

typedef struct mih_impl {
    nearkit_rows rows; /* the codes and their ids */
    uint32_t m_param; /* 0: chosen at build */
    int64_t max_radius;
    uint32_t m;       /* substrings of the built tables; 0 when there are none */
    mih_table *tables;
    uint64_t indexed; /* the tables cover rows [0, indexed); the rest is the tail */
    bool built;       /* the tables exist */
    bool tables_borrowed; /* a plain view's: the tables' arrays are the file's, read-only */
} mih_impl;

static mih_impl *impl_of(const nearkit_index *ix) { return ix->impl; }

/* ---- substrings -------------------------------------------------------------------------------- */

static uint32_t min_substrings(uint32_t bits) {
    return (bits + MAX_SUBSTRING_BITS - 1) / MAX_SUBSTRING_BITS;
}

/* About bits / log2(count): tables then hold about one code per substring value. */
static uint32_t auto_substrings(uint32_t bits, uint64_t count) {
    double lg = count > 256 ? log2((double)count) : 8.0;
    uint32_t m = (uint32_t)floor(bits / lg + 0.5);
    if (m < min_substrings(bits)) m = min_substrings(bits);
    if (m > bits) m = bits;
    return m < 1 ? 1 : m;
}

/* Substring j of m: the first bits % m substrings are one bit longer. */
static void substring_layout(uint32_t *first, uint32_t *len, uint32_t bits, uint32_t m, uint32_t j) {
    uint32_t base = bits / m, extra = bits % m;
    *len = base + (j < extra ? 1 : 0);
    *first = j * base + (j < extra ? j : extra);
}

/* Code bits [first, first + len) as an integer (bit 0 = the code's bit `first`), len <= 64. */
static uint64_t substring(const uint8_t *code, size_t nbytes, uint32_t first, uint32_t len) {
    size_t byte = first / 8;
    unsigned shift = first % 8;
    size_t need = (shift + len + 7) / 8; /* at most 9 */
    uint64_t lo = 0;
    uint8_t ninth = 0;
    if (byte + 8 <= nbytes) memcpy(&lo, code + byte, 8);
    else memcpy(&lo, code + byte, nbytes - byte);
    if (need > 8) ninth = code[byte + 8];
    uint64_t v = lo >> shift;
    if (shift) v |= (uint64_t)ninth << (64 - shift);
    return len == 64 ? v : v & ((1ull << len) - 1);
}

static bool is_direct(const mih_table *t) { return t->offsets != NULL; }

static bool wants_direct(uint32_t bits, uint64_t count) {
    uint64_t n = count > 4096 ? count : 4096;
    return bits <= DIRECT_MAX_BITS && (1ull << bits) <= 4 * n;
}

static uint64_t mix_key(uint64_t key) { /* the murmur3 finaliser: every key bit moves every slot bit */
    key ^= key >> 33;
    key *= 0xFF51AFD7ED558CCDull;
    key ^= key >> 33;
    key *= 0xC4CEB9FE1A85EC53ull;
    return key ^ (key >> 33);
}

/* A key's tag: 1 .. 255 from the hash bits the slot index does not use. */
static uint8_t tag_of(uint64_t hash) { return (uint8_t)((hash >> 56) % 255 + 1); }

/* ---- lifetime ---------------------------------------------------------------------------------- */

static void free_tables(mih_impl *f) {
    for (uint32_t j = 0; f->tables && !f->tables_borrowed && j < f->m; j++) {
        free(f->tables[j].offsets);
        free(f->tables[j].slots);
        free(f->tables[j].tags);
        free(f->tables[j].positions);
    }
    free(f->tables);
    f->tables = NULL;
    f->m = 0;
    f->indexed = 0;
    f->built = false;
    f->tables_borrowed = false;
}

static nearkit_status mih_create(nearkit_index *ix) {
    mih_impl *f = calloc(1, sizeof *f);
    if (!f) return nearkit_oom();
    f->max_radius = UNCAPPED;
    ix->impl = f;
    return NEARKIT_OK;
}

static void mih_destroy(nearkit_index *ix) {
    mih_impl *f = impl_of(ix);
    if (!f) return;
    free_tables(f);
    nearkit_rows_free(&f->rows);
    free(f);
}

/* Built (rows added since are searched exactly), or empty: there is nothing to find. */
static bool mih_is_ready(const nearkit_index *ix) {
    const mih_impl *f = impl_of(ix);
    return f->built || f->rows.count == 0;
}

static uint64_t mih_count(const nearkit_index *ix) { return nearkit_rows_live(&impl_of(ix)->rows); }

static uint64_t direct_offsets(uint32_t bits) { return (1ull << bits) + 1; }

/* The bytes of a table's arrays (wherever they are) over `count` positions. */
static uint64_t table_bytes(const mih_table *t, uint64_t count) {
    uint64_t bytes = count * sizeof(uint32_t);
    if (t->offsets) bytes += direct_offsets(t->bits) * sizeof(uint32_t);
    if (t->slots) bytes += (t->slot_mask + 1) * (sizeof(mih_entry) + 1);
    return bytes;
}

/* What the index owns: a plain view's tables are in its file. */
static uint64_t mih_memory(const nearkit_index *ix) {
    const mih_impl *f = impl_of(ix);
    uint64_t bytes = sizeof *f + nearkit_rows_memory(&f->rows, ix) + f->m * sizeof(mih_table);
    for (uint32_t j = 0; f->tables && !f->tables_borrowed && j < f->m; j++)
        bytes += table_bytes(&f->tables[j], f->indexed);
    return bytes;
}

/* ---- building ---------------------------------------------------------------------------------- */

/* Direct table: a counting sort of the positions by substring value. */
static nearkit_status build_direct(mih_table *t, const uint32_t *keys, uint64_t count) {
    size_t buckets = (size_t)1 << t->bits;
    t->offsets = nearkit_alloc_array((size_t)direct_offsets(t->bits), sizeof(uint32_t));
    if (!t->offsets) return nearkit_oom();
    memset(t->offsets, 0, (buckets + 1) * sizeof(uint32_t));
    for (uint64_t i = 0; i < count; i++) t->offsets[keys[i] + 1]++;
    for (size_t b = 0; b < buckets; b++) t->offsets[b + 1] += t->offsets[b];
    /* scatter through the starts (each then ends where the next begins), then shift them back */
    for (uint64_t i = 0; i < count; i++) t->positions[t->offsets[keys[i]]++] = (uint32_t)i;
    for (size_t b = buckets; b > 0; b--) t->offsets[b] = t->offsets[b - 1];
    t->offsets[0] = 0;
    return NEARKIT_OK;
}

/* Stable LSD radix sort of (key, position) pairs on the low `bits` bits of the keys, 8 at a time;
 * passes where every key has the same digit are skipped. The result ends in keys / positions. */
static void radix_sort_pairs(uint64_t *keys, uint32_t *positions, uint64_t *key_tmp, uint32_t *pos_tmp,
                             uint64_t n, uint32_t bits) {
    uint64_t *src_k = keys, *dst_k = key_tmp;
    uint32_t *src_p = positions, *dst_p = pos_tmp;
    for (uint32_t shift = 0; shift < bits; shift += 8) {
        uint64_t hist[257] = {0};
        for (uint64_t i = 0; i < n; i++) hist[((src_k[i] >> shift) & 0xFF) + 1]++;
        bool trivial = false;
        for (int b = 1; b <= 256; b++) trivial |= hist[b] == n;
        if (trivial) continue;
        for (int b = 0; b < 256; b++) hist[b + 1] += hist[b];
        for (uint64_t i = 0; i < n; i++) {
            uint64_t at = hist[(src_k[i] >> shift) & 0xFF]++;
            dst_k[at] = src_k[i];
            dst_p[at] = src_p[i];
        }
        uint64_t *tk = src_k;
        src_k = dst_k;
        dst_k = tk;
        uint32_t *tp = src_p;
        src_p = dst_p;
        dst_p = tp;
    }
    if (src_k != keys) {
        memcpy(keys, src_k, (size_t)n * sizeof *keys);
        memcpy(positions, src_p, (size_t)n * sizeof *positions);
    }
}

static uint64_t pow2_at_least(uint64_t n) {
    uint64_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

/* Hashed table: positions sorted by (key, position), one entry per distinct key. */
static nearkit_status build_hashed(mih_table *t, uint64_t *keys, uint64_t count) {
    uint64_t *key_tmp = nearkit_alloc_array((size_t)count, sizeof *key_tmp);
    uint32_t *pos_tmp = nearkit_alloc_array((size_t)count, sizeof *pos_tmp);
    if (!key_tmp || !pos_tmp) {
        free(key_tmp);
        free(pos_tmp);
        return nearkit_oom();
    }
    for (uint64_t i = 0; i < count; i++) t->positions[i] = (uint32_t)i;
    radix_sort_pairs(keys, t->positions, key_tmp, pos_tmp, count, t->bits);
    free(key_tmp);
    free(pos_tmp);
    uint64_t distinct = 0;
    for (uint64_t i = 0; i < count; i++) distinct += i == 0 || keys[i] != keys[i - 1];
    uint64_t slots = pow2_at_least(distinct + distinct / 2 + 1); /* load factor at most 2/3 */
    t->slots = nearkit_alloc_array((size_t)slots, sizeof *t->slots);
    t->tags = nearkit_alloc_array((size_t)slots, 1);
    if (!t->slots || !t->tags) return nearkit_oom();
    memset(t->tags, 0, (size_t)slots);
    memset(t->slots, 0, (size_t)slots * sizeof *t->slots); /* empty slots are saved too */
    t->slot_mask = slots - 1;
    for (uint64_t i = 0; i < count;) {
        uint64_t j = i + 1;
        while (j < count && keys[j] == keys[i]) j++;
        uint64_t hash = mix_key(keys[i]), s = hash & t->slot_mask;
        while (t->tags[s]) s = (s + 1) & t->slot_mask;
        t->tags[s] = tag_of(hash);
        t->slots[s] = (mih_entry){keys[i], (uint32_t)i, (uint32_t)(j - i)};
        i = j;
    }
    return NEARKIT_OK;
}

/* The rows a set of tables is built over: table position i is row kept[i] (kept NULL: row i). */
typedef struct row_selection {
    const uint64_t *kept;
    uint64_t count;
} row_selection;

static const uint8_t *selected_code(const nearkit_index *ix, const row_selection *sel, uint64_t i) {
    return nearkit_rows_at(&impl_of(ix)->rows, ix, sel->kept ? sel->kept[i] : i);
}

static nearkit_status build_table(mih_table *t, const nearkit_index *ix, const row_selection *sel) {
    uint64_t count = sel->count;
    size_t nbytes = (size_t)ix->vector_bytes;
    t->positions = nearkit_alloc_array((size_t)count, sizeof(uint32_t));
    if (!t->positions) return nearkit_oom();
    nearkit_status st;
    if (wants_direct(t->bits, count)) {
        uint32_t *keys = nearkit_alloc_array((size_t)count, sizeof *keys);
        if (!keys) return nearkit_oom();
        for (uint64_t i = 0; i < count; i++)
            keys[i] = (uint32_t)substring(selected_code(ix, sel, i), nbytes, t->first_bit, t->bits);
        st = build_direct(t, keys, count);
        free(keys);
    } else {
        uint64_t *keys = nearkit_alloc_array((size_t)count, sizeof *keys);
        if (!keys) return nearkit_oom();
        for (uint64_t i = 0; i < count; i++)
            keys[i] = substring(selected_code(ix, sel, i), nbytes, t->first_bit, t->bits);
        st = build_hashed(t, keys, count);
        free(keys);
    }
    return st;
}

typedef struct build_task {
    const nearkit_index *ix;
    const row_selection *sel;
    mih_table *tables;
    _Atomic int failed;
} build_task;

static void build_range(void *ctx, uint64_t begin, uint64_t end, uint32_t worker) {
    (void)worker;
    build_task *t = ctx;
    for (uint64_t j = begin; j < end; j++)
        if (build_table(&t->tables[j], t->ix, t->sel) != NEARKIT_OK) atomic_store(&t->failed, 1);
}

static void free_table_array(mih_table *tables, uint32_t m) {
    mih_impl none = {.tables = tables, .m = m};
    free_tables(&none);
}

/* Makes m tables over the selected rows into *out, leaving the index as it is. */
static nearkit_status make_tables(mih_table **out, const nearkit_index *ix, uint32_t m,
                                  const row_selection *sel) {
    mih_table *tables = calloc(m, sizeof *tables);
    if (!tables) return nearkit_oom();
    for (uint32_t j = 0; j < m; j++)
        substring_layout(&tables[j].first_bit, &tables[j].bits, ix->dimension, m, j);
    build_task t = {.ix = ix, .sel = sel, .tables = tables};
    atomic_init(&t.failed, 0);
    nearkit_parallel_for(nearkit_resolve_threads(ix->num_threads), m, 1, build_range, &t);
    if (atomic_load(&t.failed)) {
        free_table_array(tables, m);
        return nearkit_oom();
    }
    *out = tables;
    return NEARKIT_OK;
}

static void install_tables(mih_impl *f, mih_table *tables, uint32_t m, uint64_t indexed) {
    free_tables(f);
    f->tables = tables;
    f->m = m;
    f->indexed = indexed;
    f->built = true;
}

/* The positions of the rows not marked removed, into *kept (n of them); NULL when none is. */
static nearkit_status live_rows(uint64_t **kept, uint64_t *n, const nearkit_rows *rows) {
    *kept = NULL;
    *n = rows->count;
    if (rows->removed == 0) return NEARKIT_OK;
    *kept = nearkit_alloc_array((size_t)rows->count, sizeof **kept);
    if (!*kept) return nearkit_oom();
    *n = 0;
    for (uint64_t r = 0; r < rows->count; r++)
        if (nearkit_rows_id(rows, r) != NEARKIT_REMOVED_ID) (*kept)[(*n)++] = r;
    return NEARKIT_OK;
}

/* Drops the marked rows and, when `with_tables`, builds the tables over every row left (the tail
 * included): all or nothing, the new tables are made before any row moves. */
static nearkit_status reindex(nearkit_index *ix, bool with_tables) {
    mih_impl *f = impl_of(ix);
    uint64_t *kept, n;
    nearkit_status st = live_rows(&kept, &n, &f->rows);
    if (st) return st;
    row_selection sel = {kept, n};
    uint32_t m = f->m_param ? f->m_param : auto_substrings(ix->dimension, n);
    mih_table *tables = NULL;
    if (with_tables) st = make_tables(&tables, ix, m, &sel);
    if (!st) {
        if (kept) nearkit_rows_compact(&f->rows, ix, NULL);
        if (with_tables) install_tables(f, tables, m, n);
    }
    free(kept);
    return st;
}

/* Reclaiming that an add or a remove does on the way: out of memory leaves it for later. */
static void reindex_quietly(nearkit_index *ix, bool with_tables) {
    if (reindex(ix, with_tables) != NEARKIT_OK) nearkit_clear_error();
}

/* Builds the tables over every row, dropping the marked ones. */
static nearkit_status mih_build(nearkit_index *ix) {
    mih_impl *f = impl_of(ix);
    if (f->built && f->indexed == f->rows.count && f->rows.removed == 0) return NEARKIT_OK;
    return reindex(ix, true);
}

/* ---- a living collection ----------------------------------------------------------------------- */

/* Rows added after the build form the tail, searched exactly; the tables are rebuilt here (a
 * writer) once it exceeds a quarter of the indexed rows. */
static nearkit_status mih_add(nearkit_index *ix, const void *vectors, uint64_t n, const int64_t *ids) {
    mih_impl *f = impl_of(ix);
    if (n > MAX_CODES - f->rows.count)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "the mih index holds at most %llu codes", (unsigned long long)MAX_CODES);
    nearkit_status st = nearkit_rows_append(&f->rows, ix, vectors, n, ids);
    if (st) return st;
    if (f->built && f->rows.count - f->indexed > f->indexed / 4) reindex_quietly(ix, true);
    return NEARKIT_OK;
}

static nearkit_status mih_remove(nearkit_index *ix, const nearkit_idmap *ids, uint64_t *removed) {
    mih_impl *f = impl_of(ix);
    nearkit_status st = nearkit_rows_remove(&f->rows, ids, removed);
    if (st) return st;
    if (nearkit_rows_should_compact(&f->rows)) reindex_quietly(ix, f->built);
    return NEARKIT_OK;
}

/* Drops the marked rows; a built index also takes its tail into the tables. */
static nearkit_status mih_compact(nearkit_index *ix) {
    mih_impl *f = impl_of(ix);
    if (f->rows.removed == 0 && (!f->built || f->indexed == f->rows.count)) return NEARKIT_OK;
    return reindex(ix, f->built);
}

static nearkit_status mih_get(const nearkit_index *ix, const nearkit_idmap *wanted, void *vectors,
                              uint8_t *found) {
    nearkit_rows_get(&impl_of(ix)->rows, ix, wanted, vectors, found);
    return NEARKIT_OK;
}

static void mih_each_id(const nearkit_index *ix, bool (*fn)(void *ctx, int64_t id), void *ctx) {
    nearkit_rows_each_id(&impl_of(ix)->rows, fn, ctx);
}

/* ---- candidate set ----------------------------------------------------------------------------- */

/* The positions a query has already verified: open addressing sized to what the query touches,
 * emptied slot by slot afterwards, so no buffer of the index's size is ever cleared. */
typedef struct pos_set {
    uint32_t *slots; /* UINT32_MAX: empty */
    uint32_t *used;  /* the filled slots, in insertion order */
    uint64_t mask, size;
} pos_set;

static bool set_init(pos_set *s, uint64_t slots) {
    s->slots = nearkit_alloc_array((size_t)slots, sizeof *s->slots);
    s->used = nearkit_alloc_array((size_t)slots / 2, sizeof *s->used);
    if (!s->slots || !s->used) return false;
    memset(s->slots, 0xFF, (size_t)slots * sizeof *s->slots);
    s->mask = slots - 1;
    s->size = 0;
    return true;
}

static void set_free(pos_set *s) {
    free(s->slots);
    free(s->used);
}

static void set_clear(pos_set *s) {
    if (s->size * 8 > s->mask) {
        memset(s->slots, 0xFF, (size_t)(s->mask + 1) * sizeof *s->slots);
    } else {
        for (uint64_t i = 0; i < s->size; i++) s->slots[s->used[i]] = UINT32_MAX;
    }
    s->size = 0;
}

static uint64_t set_home(const pos_set *s, uint32_t pos) {
    return ((uint64_t)pos * 0x9E3779B97F4A7C15ull >> 32) & s->mask;
}

/* Doubles the table when half full; false on allocation failure. */
static bool set_grow(pos_set *s) {
    pos_set bigger;
    if (!set_init(&bigger, (s->mask + 1) * 2)) {
        set_free(&bigger);
        return false;
    }
    for (uint64_t i = 0; i < s->size; i++) {
        uint32_t pos = s->slots[s->used[i]];
        uint64_t h = set_home(&bigger, pos);
        while (bigger.slots[h] != UINT32_MAX) h = (h + 1) & bigger.mask;
        bigger.slots[h] = pos;
        bigger.used[i] = (uint32_t)h;
    }
    bigger.size = s->size;
    set_free(s);
    *s = bigger;
    return true;
}

/* 1 when pos was new (and is now in), 0 when already in, -1 on allocation failure. */
static int set_insert(pos_set *s, uint32_t pos) {
    if (2 * (s->size + 1) > s->mask + 1 && !set_grow(s)) return -1;
    uint64_t h = set_home(s, pos);
    for (;;) {
        uint32_t at = s->slots[h];
        if (at == pos) return 0;
        if (at == UINT32_MAX) break;
        h = (h + 1) & s->mask;
    }
    s->slots[h] = pos;
    s->used[s->size++] = (uint32_t)h;
    return 1;
}

/* ---- one query --------------------------------------------------------------------------------- */

typedef struct match {
    uint32_t pos, dist;
} match;

/* Per-task scratch, reused by the queries of the task. */
typedef struct query_scratch {
    pos_set seen;
    uint32_t *cand;     /* new candidates of the current key block */
    uint64_t cand_cap;
    match *matches;     /* range search: the current query's matches */
    uint64_t match_size, match_cap;
    uint32_t *scan;     /* distances of one scan block */
    bool failed;
} query_scratch;

/* One query's walk through the rings. */
typedef struct query {
    const nearkit_search_call *c;
    const nearkit_index *ix;
    const mih_impl *f;
    const nearkit_kernel_table *kt;
    const uint8_t *code;
    size_t nbytes;
    uint64_t limit;     /* accept codes within this distance */
    nearkit_int_topk *heap; /* k-NN; NULL for range search */
    query_scratch *s;
    double spent, budget; /* estimated cost so far; cost of scanning every code */
    bool filtered;        /* some rows are not admitted (a filter, or removed rows) */
} query;

static bool grow_array(void **array, uint64_t *cap, uint64_t needed, size_t elem) {
    if (needed <= *cap) return true;
    uint64_t c = *cap ? *cap : 64;
    while (c < needed) c *= 2;
    void *bigger = nearkit_alloc_array((size_t)c, elem);
    if (!bigger) return false;
    if (*cap) memcpy(bigger, *array, (size_t)*cap * elem);
    free(*array);
    *array = bigger;
    *cap = c;
    return true;
}

static void accept(query *q, uint32_t pos, uint32_t dist) {
    if (dist > q->limit) return;
    if (q->heap) {
        nearkit_int_topk_push(q->heap, dist, pos);
        return;
    }
    query_scratch *s = q->s;
    if (!grow_array((void **)&s->matches, &s->match_cap, s->match_size + 1, sizeof *s->matches)) {
        s->failed = true;
        return;
    }
    s->matches[s->match_size++] = (match){pos, dist};
}

/* The largest distance that can still enter: the limit, or the heap's bound when lower. */
static uint64_t entry_bound(const query *q) {
    uint64_t b = q->heap ? nearkit_int_topk_bar(q->heap) : UINT64_MAX;
    return b < q->limit ? b : q->limit;
}

/* One search call's settings (the call's state for the driver). */
typedef struct mih_plan {
    uint64_t limit; /* accept codes within this distance */
    uint64_t chunk; /* queries per task at most */
    /* Where the call gathered what its filter admits: bit r set for an admitted row r, and where
     * that repays itself, their codes packed together with their positions (a query that gives
     * up walking scans these instead of every row); NULL otherwise. */
    uint8_t *admitted_bits;
    uint8_t *packed;
    uint64_t *admitted;
    uint64_t n_admitted;
    double scan_budget; /* the cost of a query's exact scan: every row, or the gathered ones */
} mih_plan;

/* Whether the row at pos takes part in this query (no test where every row does). */
static bool admitted(const query *q, uint32_t pos) {
    if (!q->filtered) return true;
    const mih_plan *p = q->c->state;
    if (p->admitted_bits) return p->admitted_bits[pos >> 3] >> (pos & 7) & 1u;
    return nearkit_call_admits(q->c, nearkit_rows_id(&q->f->rows, pos));
}

/* Offers the u-th code of a block: row first + u, or where the block is a run of packed admitted
 * codes, row rows[first + u]. */
static void offer(query *q, const uint64_t *rows, uint64_t first, uint64_t u, uint32_t dist) {
    if (rows) accept(q, (uint32_t)rows[first + u], dist);
    else if (admitted(q, (uint32_t)(first + u))) accept(q, (uint32_t)(first + u), dist);
}

/* offer() for the codes [first, first + n) with their distances; blocks of 16 where no code can
 * enter are skipped by a test the compiler vectorises. */
static void accept_block(query *q, const uint32_t *dist, const uint64_t *rows, uint64_t first, uint64_t n) {
    uint64_t bound = entry_bound(q), i = 0;
    for (; i + 16 <= n; i += 16) {
        int any = 0;
        for (int u = 0; u < 16; u++) any |= dist[i + u] <= bound;
        if (!any) continue;
        for (uint64_t u = i; u < i + 16; u++)
            if (dist[u] <= bound) {
                offer(q, rows, first, u, dist[u]);
                bound = entry_bound(q);
            }
    }
    for (; i < n; i++)
        if (dist[i] <= bound) {
            offer(q, rows, first, i, dist[i]);
            bound = entry_bound(q);
        }
}

static const uint8_t *code_at(const query *q, uint32_t pos) {
    return nearkit_rows_at(&q->f->rows, q->ix, pos);
}

static void verify(query *q, const uint32_t *cand, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) __builtin_prefetch(code_at(q, cand[i + PREFETCH_AHEAD]));
        if (admitted(q, cand[i])) accept(q, cand[i], q->kt->hamming(q->code, code_at(q, cand[i]), q->nbytes));
    }
}

static uint64_t scan_block(size_t nbytes) {
    uint64_t block = SCAN_BLOCK_BYTES / nbytes;
    return block < 1 ? 1 : block;
}

/* Codes [begin, end) of `codes` (rows: their rows; NULL, the row store itself), in blocks through
 * the many-rows kernel. */
static void scan_codes(query *q, const uint8_t *codes, const uint64_t *rows, uint64_t begin, uint64_t end) {
    uint64_t block = scan_block(q->nbytes);
    for (uint64_t at = begin; at < end; at += block) {
        uint64_t n = end - at < block ? end - at : block;
        q->kt->hamming_many(q->s->scan, q->code, codes + at * q->nbytes, (size_t)n, q->nbytes);
        accept_block(q, q->s->scan, rows, at, n);
    }
}

static void scan_rows(query *q, uint64_t begin, uint64_t end) {
    scan_codes(q, q->f->rows.vectors, NULL, begin, end);
}

static void forget_candidates(query *q) {
    if (q->heap) nearkit_int_topk_reset(q->heap);
    q->s->match_size = 0;
}

/* A bucket positions[start .. stop) of a table over `indexed` positions; empty where a damaged
 * table's values make no sense. */
static void set_bucket(uint32_t *begin, uint32_t *end, uint64_t start, uint64_t stop, uint64_t indexed) {
    bool sound = start <= stop && stop <= indexed;
    *begin = sound ? (uint32_t)start : 0;
    *end = sound ? (uint32_t)stop : 0;
}

/* The bucket of each key: positions[begin[i] .. end[i]). A probe sequence ends at an empty slot
 * or, in a damaged table that has none, after every slot. */
static void lookup_keys(const mih_table *t, uint64_t indexed, const uint64_t *keys, size_t n, uint32_t *begin,
                        uint32_t *end) {
    if (is_direct(t)) {
        for (size_t i = 0; i < n; i++) __builtin_prefetch(&t->offsets[keys[i]]);
        for (size_t i = 0; i < n; i++) set_bucket(&begin[i], &end[i], t->offsets[keys[i]], t->offsets[keys[i] + 1], indexed);
        return;
    }
    uint64_t hash[KEY_BLOCK];
    for (size_t i = 0; i < n; i++) {
        hash[i] = mix_key(keys[i]);
        __builtin_prefetch(&t->tags[hash[i] & t->slot_mask]);
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t tag = tag_of(hash[i]);
        begin[i] = end[i] = 0;
        uint64_t left = t->slot_mask + 1;
        for (uint64_t s = hash[i] & t->slot_mask; left && t->tags[s]; s = (s + 1) & t->slot_mask, left--) {
            if (t->tags[s] == tag && t->slots[s].key == keys[i]) {
                const mih_entry *e = &t->slots[s];
                set_bucket(&begin[i], &end[i], e->start, (uint64_t)e->start + e->count, indexed);
                break;
            }
        }
    }
}

/* Collects the not yet seen positions of the buckets and verifies them. False when the scan
 * budget is spent or memory ran out. */
static bool visit_buckets(query *q, const mih_table *t, const uint32_t *begin, const uint32_t *end,
                          size_t n) {
    query_scratch *s = q->s;
    uint64_t entries = 0, fresh = 0;
    for (size_t i = 0; i < n; i++) {
        if (begin[i] == end[i]) continue;
        entries += end[i] - begin[i];
        if (entries * COST_ENTRY + q->spent > q->budget) return false;
        if (!grow_array((void **)&s->cand, &s->cand_cap, fresh + (end[i] - begin[i]), sizeof *s->cand)) {
            s->failed = true;
            return false;
        }
        for (uint32_t e = begin[i]; e < end[i]; e++) {
            if (t->positions[e] >= q->f->indexed) continue; /* a damaged table's */
            int added = set_insert(&s->seen, t->positions[e]);
            if (added < 0) {
                s->failed = true;
                return false;
            }
            if (added) s->cand[fresh++] = t->positions[e];
        }
    }
    q->spent += entries * COST_ENTRY + fresh * COST_VERIFY;
    verify(q, s->cand, fresh);
    return !s->failed;
}

/* Visits every key at exactly `radius` bits from qkey in table t (all combinations of `radius` of
 * its bits, in lexicographic order). False when the query should scan instead. */
static bool visit_ring(query *q, const mih_table *t, uint64_t qkey, uint32_t radius) {
    if (radius > t->bits) return true;
    uint32_t flip[MAX_SUBSTRING_BITS];
    uint64_t mask = 0;
    for (uint32_t i = 0; i < radius; i++) {
        flip[i] = i;
        mask |= 1ull << i;
    }
    double probe_cost = is_direct(t) ? COST_PROBE_DIRECT : COST_PROBE_HASHED;
    uint64_t keys[KEY_BLOCK];
    uint32_t begin[KEY_BLOCK], end[KEY_BLOCK];
    bool more = true;
    while (more) {
        size_t n = 0;
        while (more && n < KEY_BLOCK) {
            keys[n++] = qkey ^ mask;
            /* next combination: advance the last index that can move, reset those after it */
            int i = (int)radius - 1;
            while (i >= 0 && flip[i] == t->bits - radius + (uint32_t)i) i--;
            if (i < 0) {
                more = false;
                break;
            }
            mask ^= 1ull << flip[i];
            flip[i]++;
            mask ^= 1ull << flip[i];
            for (uint32_t j = (uint32_t)i + 1; j < radius; j++) {
                mask ^= 1ull << flip[j];
                flip[j] = flip[j - 1] + 1;
                mask ^= 1ull << flip[j];
            }
        }
        q->spent += n * probe_cost;
        lookup_keys(t, q->f->indexed, keys, n, begin, end);
        if (!visit_buckets(q, t, begin, end, n)) return false;
    }
    return true;
}

/* C(n, r) as a double (an estimate of work; exactness does not matter). */
static double binomial(uint32_t n, uint32_t r) {
    if (r > n) return 0;
    double c = 1;
    for (uint32_t i = 1; i <= r; i++) c = c * (n - r + i) / i;
    return c;
}

/* Keys the rings up to guaranteed radius `limit` would look up. */
static double planned_probes(const mih_impl *f, uint64_t limit) {
    double total = 0;
    for (uint32_t j = 0; j < f->m && j <= limit; j++)
        for (uint64_t s = 0; s <= (limit - j) / f->m && s <= f->tables[j].bits; s++)
            total += binomial(f->tables[j].bits, (uint32_t)s);
    return total;
}

static double scan_cost(const nearkit_index *ix, uint64_t count) {
    return (double)count * (0.3 + (double)ix->vector_bytes / 40.0);
}

/* Is the search over? (after ring (s, j), every indexed code within m * s + j has been seen,
 * and the tail was scanned before) */
static bool walk_done(const query *q, uint64_t guaranteed) {
    if (guaranteed >= q->limit || q->s->seen.size == q->f->indexed) return true;
    return q->heap && nearkit_int_topk_bar(q->heap) <= guaranteed;
}

/* Scans the tail, then walks the rings within q->budget. False when the query should scan every
 * code instead (no tables, or memory ran out: s->failed). */
static bool walk(query *q) {
    const mih_impl *f = q->f;
    q->spent = 0;
    set_clear(&q->s->seen);
    forget_candidates(q);
    if (!f->built) return false;
    /* a range search knows its rings in advance; a k-NN search may stop long before its cap */
    if (!q->heap &&
        (q->limit >= q->ix->dimension || planned_probes(f, q->limit) * COST_PROBE_DIRECT > q->budget))
        return false;
    scan_rows(q, f->indexed, f->rows.count);
    if (q->s->failed) return false;
    uint64_t qkeys[1024];
    bool keys_cached = f->m <= 1024;
    if (keys_cached)
        for (uint32_t j = 0; j < f->m; j++)
            qkeys[j] = substring(q->code, q->nbytes, f->tables[j].first_bit, f->tables[j].bits);
    for (uint32_t s = 0;; s++) {
        for (uint32_t j = 0; j < f->m; j++) {
            const mih_table *t = &f->tables[j];
            double cost = binomial(t->bits, s) * (is_direct(t) ? COST_PROBE_DIRECT : COST_PROBE_HASHED);
            uint64_t qkey = keys_cached ? qkeys[j] : substring(q->code, q->nbytes, t->first_bit, t->bits);
            if (q->spent + cost > q->budget || !visit_ring(q, t, qkey, s)) return false;
            if (walk_done(q, (uint64_t)f->m * s + j)) return true;
        }
    }
}

/* ---- searching --------------------------------------------------------------------------------- */

/* One worker's scratch: the query scratch, and for k-NN a heap per query of the largest task
 * (the others stay empty). */
typedef struct mih_scratch {
    query_scratch qs;
    nearkit_int_topk heaps[QUERY_CHUNK];
    uint64_t heaps_made;    /* heaps[0, heaps_made) initialised, for k = heaps[0].k */
    uint64_t vector_bytes;  /* what qs.scan was sized for */
} mih_scratch;

static bool scratch_init(query_scratch *s, const nearkit_index *ix) {
    uint64_t block = SCAN_BLOCK_BYTES / ix->vector_bytes;
    *s = (query_scratch){0};
    s->scan = nearkit_alloc_array((size_t)(block ? block : 1), sizeof *s->scan);
    return set_init(&s->seen, 4096) && s->scan;
}

static void scratch_free(query_scratch *s) {
    set_free(&s->seen);
    free(s->cand);
    free(s->matches);
    free(s->scan);
}

static void mih_scratch_free(void *scratch) {
    mih_scratch *m = scratch;
    for (size_t i = 0; i < QUERY_CHUNK; i++) nearkit_int_topk_free(&m->heaps[i]);
    scratch_free(&m->qs);
    free(m);
}

static void *mih_scratch_new(const nearkit_search_call *c) {
    const mih_plan *p = c->state;
    mih_scratch *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    bool ok = scratch_init(&m->qs, c->ix);
    /* a range search (k = 0) keeps its matches in the query scratch */
    m->vector_bytes = c->ix->vector_bytes;
    for (uint64_t i = 0; ok && c->k && i < p->chunk; i++, m->heaps_made = i)
        ok = nearkit_int_topk_init(&m->heaps[i], c->k, impl_of(c->ix)->rows.ids, c->ix->dimension);
    if (ok) return m;
    mih_scratch_free(m);
    return NULL;
}

/* A scratch serves a later call (of any mih index) with the same code length, the same k and no
 * more queries per task; its heaps are re-aimed at the call's ids, the rest holds nothing between
 * queries. So a one-query search allocates nothing once its thread has searched before. */
static bool mih_scratch_reuse(void *scratch, const nearkit_search_call *c) {
    mih_scratch *m = scratch;
    const mih_plan *p = c->state;
    if (m->vector_bytes != c->ix->vector_bytes) return false;
    if (c->k) {
        if (m->heaps_made < p->chunk || m->heaps[0].k != c->k || m->heaps[0].max_dist != c->ix->dimension)
            return false;
        for (uint64_t i = 0; i < m->heaps_made; i++) m->heaps[i].ids = impl_of(c->ix)->rows.ids;
    }
    m->qs.failed = false;
    return true;
}

static void start_query(query *q, const nearkit_search_call *c, query_scratch *s, uint64_t i) {
    const mih_plan *p = c->state;
    const mih_impl *f = impl_of(c->ix);
    *q = (query){.c = c, .ix = c->ix, .f = f, .kt = nearkit_kernels(),
                 .code = nearkit_query_at(c, i), .nbytes = (size_t)c->ix->vector_bytes,
                 .limit = p->limit, .s = s, .budget = p->scan_budget,
                 .filtered = c->admit != NULL || f->rows.removed > 0};
}

/* The exact answer of a query that gave up walking (or has no tables to walk). */
static void scan_exactly(query *q) {
    const mih_plan *p = q->c->state;
    forget_candidates(q);
    if (p->packed) scan_codes(q, p->packed, p->admitted, 0, p->n_admitted);
    else scan_rows(q, 0, q->f->rows.count);
}

/* The k-NN queries that gave up walking, scanned together block by block like the flat index
 * does, so each block of codes is read from memory once for all of them. */
static void scan_deferred(const nearkit_search_call *c, query_scratch *s, nearkit_int_topk *heaps,
                          const uint64_t *which, size_t n, uint64_t first) {
    const mih_plan *p = c->state;
    const uint8_t *codes = p->packed ? p->packed : impl_of(c->ix)->rows.vectors;
    uint64_t count = p->packed ? p->n_admitted : impl_of(c->ix)->rows.count;
    uint64_t block = scan_block((size_t)c->ix->vector_bytes);
    for (size_t i = 0; i < n; i++) nearkit_int_topk_reset(&heaps[which[i]]);
    for (uint64_t at = 0; at < count; at += block) {
        uint64_t end = count - at < block ? count : at + block;
        for (size_t i = 0; i < n; i++) {
            query q;
            start_query(&q, c, s, first + which[i]);
            q.heap = &heaps[which[i]];
            scan_codes(&q, codes, p->packed ? p->admitted : NULL, at, end);
        }
    }
}

/* The k-NN of queries [first, first + n): each walks its rings; those that give up are scanned
 * together; every row is then written (padded where max_radius left fewer than k). */
static bool mih_knn(void *scratch, const nearkit_search_call *c, uint64_t first, uint64_t n) {
    mih_scratch *m = scratch;
    query_scratch *s = &m->qs;
    nearkit_int_topk *heaps = m->heaps;
    size_t nq = (size_t)n, deferred = 0;
    uint64_t which[QUERY_CHUNK];
    for (size_t i = 0; i < nq; i++) {
        query q;
        start_query(&q, c, s, first + i);
        q.heap = &heaps[i];
        /* when most queries so far gave up (general k-NN rather than near-duplicates), the rest
         * only try cheaply before joining the scan */
        if (i >= 4 && deferred * 4 >= i * 3) q.budget /= 8;
        if (!walk(&q)) which[deferred++] = i;
        if (s->failed) return false;
    }
    if (deferred) scan_deferred(c, s, heaps, which, deferred, first);
    if (s->failed) return false;
    for (size_t i = 0; i < nq; i++) nearkit_write_int_heap(c, first + i, &heaps[i]);
    return true;
}

/* Every match of query i within the radius (the plan's limit). */
static bool mih_range(void *scratch, const nearkit_search_call *c, uint64_t i) {
    query_scratch *s = &((mih_scratch *)scratch)->qs;
    const nearkit_rows *codes = &impl_of(c->ix)->rows;
    if (c->radius < 0) return true; /* no distance is negative */
    query q;
    start_query(&q, c, s, i);
    if (!walk(&q) && !s->failed) scan_exactly(&q);
    if (s->failed) return false;
    for (uint64_t j = 0; j < s->match_size; j++)
        if (!nearkit_add_match(c, i, nearkit_rows_id(codes, s->matches[j].pos), (float)s->matches[j].dist))
            return false;
    return true;
}

static uint64_t query_chunk(uint64_t n, uint32_t threads, uint64_t k) {
    uint64_t chunk = n / ((uint64_t)threads * 4), most = HEAP_BYTES / (k * 2 * sizeof(uint32_t));
    if (chunk > most) chunk = most;
    return chunk < 1 ? 1 : chunk > QUERY_CHUNK ? QUERY_CHUNK : chunk;
}

enum { PARAM_M, PARAM_MAX_RADIUS, PARAM_SUBSTRINGS };

/* The cost of packing n admitted codes (once per call). */
static double packing_cost(const nearkit_index *ix, uint64_t n) {
    return (double)n * (2.0 + (double)ix->vector_bytes / 20.0);
}

static double admit_cost(const nearkit_admit *admit) {
    switch (admit->type) {
    case NEARKIT_FILTER_IDS: return COST_ADMIT_IDS;
    case NEARKIT_FILTER_BITMAP: return COST_ADMIT_BITMAP;
    default: return COST_ADMIT_PREDICATE;
    }
}

/* What a call saves by scanning n packed admitted codes instead of every row, per query that
 * scans, less what packing them costs once. */
static double packing_gain(const nearkit_search_call *c, uint64_t n) {
    const nearkit_index *ix = c->ix;
    double saved = scan_cost(ix, impl_of(ix)->rows.count) - scan_cost(ix, n);
    return (double)c->n * saved - packing_cost(ix, n);
}

/* Whether the call gathers what its filter admits, one filter test per row: always for a
 * predicate (the caller's function is called at most once per stored vector and call), else
 * where the filter's bound says few rows pass and the call's queries repay the tests. */
static bool worth_gathering(const nearkit_search_call *c) {
    const mih_impl *f = impl_of(c->ix);
    if (!c->admit) return false;
    if (c->admit->type == NEARKIT_FILTER_PREDICATE) return true;
    double tests = (double)f->rows.count * admit_cost(c->admit);
    return c->admit->most < nearkit_rows_live(&f->rows) && packing_gain(c, c->admit->most) > tests;
}

/* Packs the admitted codes (bits set in p->admitted_bits) and their rows. False: out of memory. */
static bool pack_admitted(mih_plan *p, const nearkit_index *ix) {
    const nearkit_rows *rows = &impl_of(ix)->rows;
    size_t nbytes = (size_t)ix->vector_bytes;
    p->admitted = nearkit_alloc_array((size_t)p->n_admitted, sizeof *p->admitted);
    p->packed = nearkit_aligned_alloc_array((size_t)p->n_admitted, nbytes);
    if (!p->admitted || !p->packed) return false;
    for (uint64_t r = 0, n = 0; r < rows->count; r++)
        if (p->admitted_bits[r >> 3] >> (r & 7) & 1u) {
            memcpy(p->packed + n * nbytes, nearkit_rows_at(rows, ix, r), nbytes);
            p->admitted[n++] = r;
        }
    return true;
}

/* Gathers the admitted rows into the plan: their bits, and their codes packed where the call's
 * scans repay it. False: out of memory. */
static bool gather_admitted(mih_plan *p, const nearkit_search_call *c) {
    const nearkit_rows *rows = &impl_of(c->ix)->rows;
    p->admitted_bits = calloc((size_t)(rows->count / 8 + 1), 1);
    if (!p->admitted_bits) return false;
    for (uint64_t r = 0; r < rows->count; r++)
        if (nearkit_call_admits(c, nearkit_rows_id(rows, r))) {
            p->admitted_bits[r >> 3] |= (uint8_t)(1u << (r & 7));
            p->n_admitted++;
        }
    return packing_gain(c, p->n_admitted) <= 0 || pack_admitted(p, c->ix);
}

/* The call's plan: how far a query may look (k-NN: the max_radius of this call; range: the
 * radius), how many queries a task takes, and for a selective filter the admitted rows. */
static bool mih_plan_call(nearkit_search_call *c, void *plan) {
    mih_plan *p = plan;
    const nearkit_index *ix = c->ix;
    if (worth_gathering(c) && !gather_admitted(p, c)) return false;
    p->scan_budget = scan_cost(ix, p->packed ? p->n_admitted : impl_of(ix)->rows.count);
    if (c->k > 0) {
        double cap = c->settings[PARAM_MAX_RADIUS];
        p->limit = cap < 0 ? UINT64_MAX : (uint64_t)cap;
        p->chunk = query_chunk(c->n, c->threads, c->k);
    } else {
        p->limit = c->radius < 0 ? 0 : c->radius >= (float)ix->dimension ? ix->dimension
                                                                          : (uint64_t)floorf(c->radius);
        p->chunk = query_chunk(c->n, c->threads, 1);
    }
    c->chunk = p->chunk;
    return true;
}

static void mih_plan_free(void *plan) {
    mih_plan *p = plan;
    free(p->admitted_bits);
    free(p->admitted);
    nearkit_aligned_free(p->packed);
}

static const nearkit_searcher searcher = {
    .plan_size = sizeof(mih_plan),
    .plan = mih_plan_call,
    .plan_free = mih_plan_free,
    .scratch_new = mih_scratch_new,
    .scratch_free = mih_scratch_free,
    .scratch_reuse = mih_scratch_reuse,
    .knn = mih_knn,
    .range = mih_range,
};

/* ---- parameters -------------------------------------------------------------------------------- */


static const nearkit_param_desc mih_params[] = {
    /* m: number of substrings (one table each). 0 (default) chooses it at build, about
     * dimension / log2(count); else between ceil(dimension / 64) and dimension. */
    [PARAM_M] = {"m", NEARKIT_PARAM_FLAG_BUILD | NEARKIT_PARAM_FLAG_INTEGER, 0, 1 << 20, 0,
                 "substrings, one hash table each (0: chosen at build, about dimension / log2(count))",
                 NULL},
    /* max_radius: -1 (default) leaves k-NN uncapped and exact. R >= 0 searches only within Hamming
     * distance R: a row holds the k nearest codes within R, padded with id -1 (distance +inf) where
     * fewer lie within R; a row without padding equals the exact answer. Not used by range search. */
    [PARAM_MAX_RADIUS] = {"max_radius", NEARKIT_PARAM_FLAG_INTEGER, -1, 1 << 20, -1,
                          "k-NN searches only within this Hamming distance, padding rows with -1 "
                          "(-1: uncapped and exact)",
                          NULL},
    /* substrings (read-only): m of the built tables; 0 before build. */
    [PARAM_SUBSTRINGS] = {"substrings", NEARKIT_PARAM_FLAG_READ_ONLY | NEARKIT_PARAM_FLAG_INTEGER, 0,
                          1 << 20, 0, "m of the built tables (0 before build)", NULL},
};

static nearkit_status mih_get_param(const nearkit_index *ix, size_t i, double *value) {
    const mih_impl *f = impl_of(ix);
    switch (i) {
    case PARAM_M: *value = f->m_param; break;
    case PARAM_MAX_RADIUS: *value = (double)f->max_radius; break;
    default: *value = f->built ? f->m : 0; break;
    }
    return NEARKIT_OK;
}

static nearkit_status check_substrings(const nearkit_index *ix, double m) {
    if (m == 0 || (m >= min_substrings(ix->dimension) && m <= ix->dimension)) return NEARKIT_OK;
    return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                             "m must be 0 (automatic) or lie in [%u, %u] for %u-bit codes (a "
                             "substring holds at most 64 bits), got %g",
                             min_substrings(ix->dimension), ix->dimension, ix->dimension, m);
}

static nearkit_status mih_set_param(nearkit_index *ix, size_t i, double value) {
    mih_impl *f = impl_of(ix);
    if (i == PARAM_M) {
        nearkit_status st = check_substrings(ix, value);
        if (st) return st;
        f->m_param = (uint32_t)value;
        free_tables(f);
    } else {
        f->max_radius = (int64_t)value;
    }
    return NEARKIT_OK;
}

/* ---- persistence ------------------------------------------------------------------------------- */

/* The built tables, as they are in memory (table order throughout): MIHD u64 indexed, then per
 * table u64 slots (0: a direct table); MIHO the direct tables' 2^bits + 1 offsets; MIHS the
 * hashed tables' slots (u64 key, u32 start, u32 count) and MIHT their tags; MIHP every table's
 * `indexed` positions. */
static nearkit_status save_tables(const mih_impl *f, nearkit_writer *w) {
    uint32_t m = f->m;
    uint64_t *directory = calloc((size_t)m + 1, sizeof *directory);
    const void **parts = calloc((size_t)m * 2, sizeof *parts);
    uint64_t *sizes = calloc((size_t)m * 2, sizeof *sizes);
    nearkit_status st = directory && parts && sizes ? NEARKIT_OK : nearkit_oom();
    size_t n_direct = 0, n_hashed = 0;
    if (!st) {
        directory[0] = f->indexed;
        for (uint32_t j = 0; j < m; j++) {
            const mih_table *t = &f->tables[j];
            directory[1 + j] = is_direct(t) ? 0 : t->slot_mask + 1;
            if (is_direct(t)) {
                parts[n_direct] = t->offsets;
                sizes[n_direct++] = direct_offsets(t->bits) * sizeof(uint32_t);
            } else {
                parts[m + n_hashed] = t->slots;
                sizes[m + n_hashed++] = (t->slot_mask + 1) * sizeof(mih_entry);
            }
        }
        st = nearkit_writer_section(w, DIRECTORY_TAG, directory, ((uint64_t)m + 1) * sizeof *directory);
    }
    if (!st) st = nearkit_writer_section_parts(w, OFFSETS_TAG, parts, sizes, n_direct);
    if (!st) st = nearkit_writer_section_parts(w, SLOTS_TAG, parts + m, sizes + m, n_hashed);
    for (size_t h = 0, j = 0; !st && j < m; j++)
        if (!is_direct(&f->tables[j])) {
            parts[m + h] = f->tables[j].tags;
            sizes[m + h++] = f->tables[j].slot_mask + 1;
        }
    if (!st) st = nearkit_writer_section_parts(w, TAGS_TAG, parts + m, sizes + m, n_hashed);
    for (uint32_t j = 0; !st && j < m; j++) {
        parts[j] = f->tables[j].positions;
        sizes[j] = f->indexed * sizeof(uint32_t);
    }
    if (!st) st = nearkit_writer_section_parts(w, POSITIONS_TAG, parts, sizes, m);
    free(directory);
    free(parts);
    free(sizes);
    return st;
}

/* META: u32 substrings of the built tables (0: not built), u32 reserved (0); the tables (when
 * built); then the row store's VECS and IDS (only when ids were given). */
static nearkit_status mih_save(const nearkit_index *ix, nearkit_writer *w) {
    const mih_impl *f = impl_of(ix);
    uint32_t meta[2] = {f->built ? f->m : 0, 0};
    nearkit_status st = nearkit_writer_section(w, META_TAG, meta, sizeof meta);
    if (!st && f->built && f->m > 0) st = save_tables(f, w);
    if (!st) st = nearkit_rows_save(&f->rows, ix, w);
    return st;
}

static nearkit_status corrupt(const char *what) {
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %s", what);
}

/* The substring count META records (0: not built), checked against the dimension and m. */
static nearkit_status load_meta(uint32_t *m, const nearkit_index *ix, const nearkit_reader *r) {
    const void *meta_data;
    nearkit_status st = nearkit_reader_section_sized(&meta_data, r, META_TAG, 8);
    if (st) return st;
    uint32_t meta[2];
    memcpy(meta, meta_data, sizeof meta);
    *m = meta[0];
    if (meta[1] != 0) return corrupt("mih header: reserved field is not 0");
    if (*m != 0 && (*m < min_substrings(ix->dimension) || *m > ix->dimension))
        return corrupt("mih header: substring count out of range");
    uint32_t m_param = impl_of(ix)->m_param;
    if (*m != 0 && m_param != 0 && *m != m_param)
        return corrupt("mih header: substring count differs from parameter m");
    return NEARKIT_OK;
}

/* A stored section's body and its size in `elem`-byte units (CORRUPT when not a whole number);
 * in place only if aligned. */
static nearkit_status stored_array(const void **data, uint64_t *n, const nearkit_reader *r, uint32_t tag,
                                   uint64_t elem) {
    uint64_t bytes;
    nearkit_status st = nearkit_reader_section(data, &bytes, r, tag);
    if (!st && bytes % elem) st = corrupt("mih table section size is not a whole number of entries");
    if (!st && bytes) st = nearkit_reader_borrowable(r, *data, tag);
    *n = bytes / elem;
    return st;
}

/* Points table j at its arrays in the stored sections, advancing the cursors into them; CORRUPT
 * when the directory says more than they hold. */
static nearkit_status place_table(mih_table *t, uint64_t slots, uint64_t indexed, const uint32_t *offsets,
                                  uint64_t n_offsets, uint64_t *offset_at, const mih_entry *entries,
                                  const uint8_t *tags, uint64_t n_slots, uint64_t *slot_at) {
    if (slots == 0) {
        if (t->bits > DIRECT_MAX_BITS || direct_offsets(t->bits) > n_offsets - *offset_at)
            return corrupt("mih direct table larger than its section");
        t->offsets = (uint32_t *)(offsets + *offset_at);
        *offset_at += direct_offsets(t->bits);
        return NEARKIT_OK;
    }
    /* a build makes at most about 3 slots per position: more is damage, and would be a long probe */
    if ((slots & (slots - 1)) || slots > 4 * indexed + 4 || slots > n_slots - *slot_at)
        return corrupt("mih hashed table's slot count is not a power of two its section holds");
    t->slots = (mih_entry *)(entries + *slot_at);
    t->tags = (uint8_t *)(tags + *slot_at);
    t->slot_mask = slots - 1;
    *slot_at += slots;
    return NEARKIT_OK;
}

/* A plain view's tables: the file's arrays used in place (see save_tables), checked for size
 * only; searches guard every value they read from them. */
static nearkit_status view_tables(mih_impl *f, const nearkit_index *ix, const nearkit_reader *r, uint32_t m) {
    const void *dir_data, *offsets, *entries, *tags, *positions;
    uint64_t n_offsets, n_entries, n_tags, n_positions;
    nearkit_status st = nearkit_reader_section_sized(&dir_data, r, DIRECTORY_TAG, ((uint64_t)m + 1) * 8);
    if (!st) st = stored_array(&offsets, &n_offsets, r, OFFSETS_TAG, sizeof(uint32_t));
    if (!st) st = stored_array(&entries, &n_entries, r, SLOTS_TAG, sizeof(mih_entry));
    if (!st) st = stored_array(&tags, &n_tags, r, TAGS_TAG, 1);
    if (!st) st = stored_array(&positions, &n_positions, r, POSITIONS_TAG, sizeof(uint32_t));
    if (st) return st;
    const uint8_t *dir = dir_data;
    uint64_t indexed;
    memcpy(&indexed, dir, 8);
    if (indexed > f->rows.count) return corrupt("mih tables cover more rows than are stored");
    if (n_tags != n_entries) return corrupt("mih hashed tables' tags and slots differ in number");
    if (indexed ? n_positions / indexed != m || n_positions % indexed : n_positions != 0)
        return corrupt("mih positions section is not one position per table and indexed row");
    mih_table *tables = calloc(m, sizeof *tables);
    if (!tables) return nearkit_oom();
    uint64_t offset_at = 0, slot_at = 0;
    for (uint32_t j = 0; !st && j < m; j++) {
        uint64_t slots;
        memcpy(&slots, dir + 8 * (1 + (size_t)j), 8);
        substring_layout(&tables[j].first_bit, &tables[j].bits, ix->dimension, m, j);
        st = place_table(&tables[j], slots, indexed, offsets, n_offsets, &offset_at, entries, tags, n_entries,
                         &slot_at);
        tables[j].positions = (uint32_t *)positions + j * indexed;
    }
    if (!st && (offset_at != n_offsets || slot_at != n_entries))
        st = corrupt("mih table sections hold more than the directory says");
    if (st) {
        free(tables);
        return st;
    }
    install_tables(f, tables, m, indexed);
    f->tables_borrowed = true;
    return NEARKIT_OK;
}

static nearkit_status mih_load(nearkit_index *ix, const nearkit_reader *r) {
    mih_impl *f = impl_of(ix);
    uint32_t m;
    nearkit_status st = load_meta(&m, ix, r);
    if (!st) st = nearkit_rows_load(&f->rows, ix, r, false);
    if (st) return st;
    if (f->rows.count > MAX_CODES) return corrupt("more codes than a mih index holds");
    if (m == 0) return NEARKIT_OK;
    if (nearkit_reader_borrows(r) && !nearkit_reader_checks_values(r) && nearkit_reader_has_section(r, DIRECTORY_TAG))
        return view_tables(f, ix, r, m);
    /* the tables cover every row, removed ones included (a loaded index is the saved one) */
    row_selection all = {NULL, f->rows.count};
    mih_table *tables;
    st = make_tables(&tables, ix, m, &all);
    if (!st) install_tables(f, tables, m, f->rows.count);
    return st;
}

static void mih_describe(const nearkit_index *ix, nearkit_strbuf *sb) {
    const mih_impl *f = impl_of(ix);
    if (!f->built || f->m == 0) {
        nearkit_strbuf_appendf(sb, "multi-index hashing; tables not built (call build; until then "
                                   "queries scan every code)\n");
        return;
    }
    uint32_t direct = 0;
    uint64_t bytes = 0;
    for (uint32_t j = 0; j < f->m; j++) {
        direct += is_direct(&f->tables[j]);
        bytes += table_bytes(&f->tables[j], f->indexed);
    }
    nearkit_strbuf_appendf(sb,
                           "multi-index hashing: %u substrings of %u-%u bits (%u direct, %u hashed "
                           "tables, %llu bytes); k-NN %s; distance kernels: %s\n",
                           f->m, ix->dimension / f->m, (ix->dimension + f->m - 1) / f->m, direct,
                           f->m - direct, (unsigned long long)bytes,
                           f->max_radius == UNCAPPED ? "exact (uncapped)" : "capped by max_radius",
                           nearkit_kernels()->name);
    if (f->rows.count > f->indexed || f->rows.removed > 0)
        nearkit_strbuf_appendf(sb, "  %llu codes added since the build (scanned exactly), %llu removed "
                                   "awaiting compaction\n",
                               (unsigned long long)(f->rows.count - f->indexed),
                               (unsigned long long)f->rows.removed);
}

const nearkit_index_ops nearkit_mih_ops = {
    .kind = NEARKIT_KIND_MIH,
    .name = "mih",
    .description = "multi-index hashing over binary codes: exact Hamming k-NN and range search, "
                   "fastest for near-duplicates",
    .flags = NEARKIT_KIND_FLAG_EXACT | NEARKIT_KIND_FLAG_NEEDS_BUILD,
    .metric_mask = 1u << NEARKIT_METRIC_HAMMING,
    .params = mih_params,
    .n_params = sizeof mih_params / sizeof mih_params[0],
    .create = mih_create,
    .destroy = mih_destroy,
    .add = mih_add,
    .build = mih_build,
    .is_ready = mih_is_ready,
    .count = mih_count,
    .memory = mih_memory,
    .knn_searcher = &searcher,
    .range_searcher = &searcher,
    .remove = mih_remove,
    .get = mih_get,
    .each_id = mih_each_id,
    .compact = mih_compact,
    .get_param = mih_get_param,
    .set_param = mih_set_param,
    .save = mih_save,
    .load = mih_load,
    .describe = mih_describe,
};
