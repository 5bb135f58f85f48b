/* The inverted lists of an IVF index (ivf_lists.h). */
#include "search/ivf_lists.h"

#include <stdlib.h>
#include <string.h>

#define LOFF_TAG NEARKIT_TAG('L', 'O', 'F', 'F')
#define VECS_TAG NEARKIT_TAG('V', 'E', 'C', 'S')
#define IDS_TAG NEARKIT_TAG('I', 'D', 'S', ' ')
#define BASN_TAG NEARKIT_TAG('B', 'A', 'S', 'N')
#define NRMS_TAG NEARKIT_TAG('N', 'R', 'M', 'S')
#define LCOD_TAG NEARKIT_TAG('L', 'C', 'O', 'D')
#define LPOS_TAG NEARKIT_TAG('L', 'P', 'O', 'S')

#define MIN_GROWN_CAPACITY 8

nearkit_status nearkit_ivf_lists_init(nearkit_ivf_lists *ls, uint32_t nlist, size_t code_size,
                                      nearkit_ivf_labels labels, bool with_norms) {
    *ls = (nearkit_ivf_lists){.code_size = code_size, .labels = labels, .with_norms = with_norms};
    ls->list = calloc(nlist ? nlist : 1, sizeof *ls->list);
    if (!ls->list) return nearkit_oom();
    ls->nlist = nlist;
    return NEARKIT_OK;
}

/* ---- arenas ------------------------------------------------------------------------------------
 * An add that gives lists new room adding up to NEARKIT_BULK_HUGE_BYTES or more (a training's, a
 * load's, a large add's) takes all of it from one bulk block, an arena, instead of one allocation
 * per list. Why: a probed list is a few hundred KB read once from memory, and spread over the
 * heap in 4 KB pages its scan takes a TLB miss every page, where an arena is backed by 2 MB pages
 * (nearkit_bulk_alloc_array). A list that outgrows its slice moves to a block of its own; an arena
 * is freed when its last list leaves it, and shrink empties an arena that is mostly left room, so
 * a collection that churns does not keep dead arenas. */

#define ARENA_DEAD_FRACTION 4 /* shrink empties an arena once more than 1/4 of it is left room */

/* Bytes a list's room for `rows` rows takes: its codes and, where interleaved, one block's row
 * count of bytes more, which a kernel's reads of a last block laid out for fewer rows reach into
 * (kernels/kernels_pq4.h). A list's last block holds only the rows its room has: a whole block
 * there cost Fashion-MNIST's 392-byte pq4 codes about 16 rows a list, a fifth of the index. */
static size_t room_bytes(const nearkit_ivf_lists *ls, uint64_t rows) {
    return rows ? (size_t)rows * ls->code_size + (ls->block > 1 ? ls->block : 0) : 0;
}

/* Bytes the codes of `rows` rows take in a file's stored layout (save_as_stored), which a view
 * borrows: whole blocks where interleaved. */
static size_t stored_bytes(const nearkit_ivf_lists *ls, uint64_t rows) {
    uint64_t b = ls->block > 1 ? ls->block : 1;
    return (size_t)((rows + b - 1) / b * b) * ls->code_size;
}

/* The rows block k of an interleaved room of `capacity` rows is laid out for: a whole block, but
 * the last only what the room leaves. */
static uint64_t rows_of_block(const nearkit_ivf_lists *ls, uint64_t capacity, uint64_t k) {
    uint64_t b = ls->block, start = k * b;
    return capacity - start < b ? capacity - start : b;
}

size_t nearkit_ivf_list_block_rows(const nearkit_ivf_lists *ls, const nearkit_ivf_list *l, uint64_t row) {
    if (ls->borrowed) return ls->block; /* a view's lists: the file's whole blocks */
    return (size_t)rows_of_block(ls, l->capacity, row / ls->block);
}

/* Whether room for the codes of `rows` rows is a size_t (room_bytes and slice_bytes do not
 * overflow). */
static bool codes_fit(const nearkit_ivf_lists *ls, uint64_t rows) {
    uint64_t b = ls->block > 1 ? ls->block : 1;
    return rows <= SIZE_MAX / ls->code_size - b;
}

/* Bytes a list's codes take as a slice (64-byte aligned, like a block of its own). */
static size_t slice_bytes(const nearkit_ivf_lists *ls, uint64_t capacity) {
    return (room_bytes(ls, capacity) + 63) & ~(size_t)63;
}

/* A new arena of `bytes` (the 1-based number lists keep), or 0 when none could be made (the
 * caller then allocates list by list: an arena is an optimisation, never a failure). */
static uint32_t new_arena(nearkit_ivf_lists *ls, size_t bytes) {
    uint32_t slot = 0;
    while (slot < ls->narenas && ls->arenas[slot].base) slot++;
    if (slot == ls->narenas) {
        nearkit_ivf_arena *grown = realloc(ls->arenas, ((size_t)ls->narenas + 1) * sizeof *grown);
        if (!grown) return 0;
        ls->arenas = grown;
        ls->narenas++;
    }
    uint8_t *base = nearkit_bulk_alloc_array(bytes, 1);
    if (!base) return 0;
    ls->arenas[slot] = (nearkit_ivf_arena){.base = base, .bytes = bytes};
    return slot + 1;
}

/* The arena gives back `bytes` a list held; it is freed when nothing is left in it. */
static void release_slice(nearkit_ivf_lists *ls, uint32_t arena, size_t bytes) {
    nearkit_ivf_arena *a = &ls->arenas[arena - 1];
    a->live -= bytes;
    if (a->live == 0) {
        nearkit_aligned_free(a->base);
        *a = (nearkit_ivf_arena){0};
    }
}

static bool in_dead_arena(const nearkit_ivf_lists *ls, const nearkit_ivf_list *l) {
    if (!l->arena) return false;
    const nearkit_ivf_arena *a = &ls->arenas[l->arena - 1];
    return a->bytes - a->live > a->bytes / ARENA_DEAD_FRACTION;
}

static void free_list(nearkit_ivf_lists *ls, nearkit_ivf_list *l) {
    if (l->arena)
        release_slice(ls, l->arena, slice_bytes(ls, l->capacity));
    else
        nearkit_aligned_free(l->codes);
    free(l->ids);
    free(l->positions);
    free(l->norms);
    *l = (nearkit_ivf_list){0};
}

void nearkit_ivf_lists_interleave(nearkit_ivf_lists *ls, uint32_t block) { ls->block = block; }

/* Codes are stored row after row, or (ls->block > 1) by blocks of `block` rows, each block byte
 * column by byte column: byte j of row r at codes[r / block * block * code_size + j * rows + r %
 * block], where a block is laid out for `rows` rows: `block`, or for the last block of a list's
 * room only the rows left in it (nearkit_ivf_list_block_rows). row_bytes: where an interleaved
 * row's byte 0 lies, and the stride from one of its bytes to the next. */
static uint8_t *row_bytes(const nearkit_ivf_lists *ls, const nearkit_ivf_list *l, uint64_t row, size_t *stride) {
    uint64_t b = ls->block;
    *stride = nearkit_ivf_list_block_rows(ls, l, row);
    return l->codes + (row / b) * b * ls->code_size + row % b;
}

/* The first `rows` rows of every byte column of a block laid out for from_rows rows into one laid
 * out for to_rows. */
static void copy_columns(uint8_t *to, uint64_t to_rows, const uint8_t *from, uint64_t from_rows, uint64_t rows,
                         size_t columns) {
    for (size_t j = 0; j < columns; j++) memcpy(to + j * to_rows, from + j * from_rows, (size_t)rows);
}

/* The first `rows` codes of an interleaved room of from_cap rows into one of to_cap, the rest of
 * it zeroed (a scan reads slots past the last row, and ignores them): blocks full of rows are
 * whole blocks in both, the partial one is copied column by column. */
static void copy_interleaved(const nearkit_ivf_lists *ls, uint8_t *to, uint64_t to_cap, const uint8_t *from,
                             uint64_t from_cap, uint64_t rows) {
    uint64_t b = ls->block, whole = rows / b, used = rows - whole * b;
    size_t cs = ls->code_size, done = (size_t)(whole * b) * cs;
    memset(to, 0, room_bytes(ls, to_cap));
    if (done) memcpy(to, from, done);
    if (!used) return;
    copy_columns(to + done, rows_of_block(ls, to_cap, whole), from + done, rows_of_block(ls, from_cap, whole), used,
                 cs);
}

static void put_code(const nearkit_ivf_lists *ls, nearkit_ivf_list *l, uint64_t row, const uint8_t *code) {
    if (ls->block <= 1) {
        memcpy(l->codes + row * ls->code_size, code, ls->code_size);
        return;
    }
    size_t stride;
    uint8_t *at = row_bytes(ls, l, row, &stride);
    for (size_t j = 0; j < ls->code_size; j++) at[j * stride] = code[j];
}

void nearkit_ivf_list_prefetch(const nearkit_ivf_lists *ls, const nearkit_ivf_list *l, size_t bytes) {
    size_t held = (size_t)l->size * ls->code_size;
    if (bytes > held) bytes = held;
    nearkit_prefetch_bytes(l->codes, bytes);
}

void nearkit_ivf_list_code(uint8_t *code, const nearkit_ivf_lists *ls, const nearkit_ivf_list *l, uint64_t row) {
    if (ls->block <= 1) {
        memcpy(code, l->codes + row * ls->code_size, ls->code_size);
        return;
    }
    size_t stride;
    const uint8_t *at = row_bytes(ls, l, row, &stride);
    for (size_t j = 0; j < ls->code_size; j++) code[j] = at[j * stride];
}


void nearkit_ivf_lists_free(nearkit_ivf_lists *ls) {
    for (uint32_t l = 0; ls->list && l < ls->nlist; l++)
        if (!ls->borrowed) free_list(ls, &ls->list[l]);
    free(ls->arenas); /* every arena was freed with its last list */
    if (!ls->norms_in_image) free(ls->borrowed_norms);
    free(ls->list);
    *ls = (nearkit_ivf_lists){0};
}

/* Bytes a row takes beside its code. */
static size_t row_extra(const nearkit_ivf_lists *ls) {
    size_t label = ls->labels == NEARKIT_IVF_IDS ? sizeof(int64_t) : sizeof(uint32_t);
    return label + (ls->with_norms ? sizeof(float) : 0);
}

uint64_t nearkit_ivf_lists_memory(const nearkit_ivf_lists *ls) {
    uint64_t bytes = (uint64_t)ls->nlist * sizeof *ls->list;
    if (ls->borrowed) return bytes + (ls->with_norms && !ls->norms_in_image ? ls->count * sizeof(float) : 0);
    for (uint32_t l = 0; l < ls->nlist; l++) {
        const nearkit_ivf_list *list = &ls->list[l];
        bytes += list->capacity * row_extra(ls) + (list->arena ? 0 : room_bytes(ls, list->capacity));
    }
    for (uint32_t a = 0; a < ls->narenas; a++) bytes += ls->arenas[a].bytes; /* left room included */
    return bytes;
}

uint64_t nearkit_ivf_lists_max_size(const nearkit_ivf_lists *ls) {
    uint64_t m = 0;
    for (uint32_t l = 0; l < ls->nlist; l++)
        if (ls->list[l].size > m) m = ls->list[l].size;
    return m;
}

uint32_t nearkit_ivf_lists_empty(const nearkit_ivf_lists *ls) {
    uint32_t e = 0;
    for (uint32_t l = 0; l < ls->nlist; l++) e += ls->list[l].size == 0;
    return e;
}

/* ---- growing ----------------------------------------------------------------------------------- */

/* A copy of the first `used` elements of old (may be NULL) in a new block of cap elements. */
static void *moved(void *old, uint64_t used, uint64_t cap, size_t elem) {
    void *p = nearkit_alloc_array((size_t)cap, elem);
    if (p && used) memcpy(p, old, (size_t)used * elem);
    return p;
}

/* The capacity list l gets for `needed` rows (> its capacity): exactly that many when it has
 * none (nearkit_ivf_lists_add says why), else at least a quarter more. */
static uint64_t room_for(const nearkit_ivf_list *l, uint64_t needed) {
    uint64_t cap = needed;
    if (l->capacity) {
        uint64_t grown = l->capacity + l->capacity / 4;
        if (cap < grown) cap = grown;
        if (cap < MIN_GROWN_CAPACITY) cap = MIN_GROWN_CAPACITY;
    }
    return cap;
}

/* Moves list l into room for cap rows (cap >= its size): its codes into `slice` of arena `arena`
 * (1-based) or, with arena 0, a block of their own; all of its arrays are replaced, or none. */
static nearkit_status move_list(nearkit_ivf_lists *ls, nearkit_ivf_list *l, uint64_t cap, uint32_t arena,
                                uint8_t *slice) {
    if (!codes_fit(ls, cap)) return nearkit_oom();
    uint8_t *codes = arena ? slice : nearkit_aligned_alloc_array(room_bytes(ls, cap), 1);
    bool ids = ls->labels == NEARKIT_IVF_IDS;
    int64_t *new_ids = ids ? moved(l->ids, l->size, cap, sizeof(int64_t)) : NULL;
    uint32_t *positions = !ids ? moved(l->positions, l->size, cap, sizeof(uint32_t)) : NULL;
    float *norms = ls->with_norms ? moved(l->norms, l->size, cap, sizeof(float)) : NULL;
    if (!codes || (ids && !new_ids) || (!ids && !positions) || (ls->with_norms && !norms)) {
        if (!arena) nearkit_aligned_free(codes);
        free(new_ids);
        free(positions);
        free(norms);
        return nearkit_oom();
    }
    if (ls->block > 1) {
        copy_interleaved(ls, codes, cap, l->codes, l->capacity, l->size);
    } else {
        size_t used = (size_t)l->size * ls->code_size;
        if (used) memcpy(codes, l->codes, used);
        memset(codes + used, 0, room_bytes(ls, cap) - used);
    }
    nearkit_ivf_list grown = {.codes = codes, .ids = new_ids, .positions = positions, .norms = norms,
                              .size = l->size, .capacity = cap, .arena = arena};
    if (arena) ls->arenas[arena - 1].live += slice_bytes(ls, cap);
    free_list(ls, l);
    *l = grown;
    return NEARKIT_OK;
}

/* Gives every list with extra[l] > 0 room for extra[l] more rows, from one arena when the new
 * room adds up to enough. A failure leaves the lists that grew with their rows. */
static nearkit_status reserve_lists(nearkit_ivf_lists *ls, const uint64_t *extra) {
    uint64_t *cap = calloc(ls->nlist, sizeof *cap);
    if (!cap) return nearkit_oom();
    size_t arena_bytes = 0;
    for (uint32_t l = 0; l < ls->nlist; l++) {
        const nearkit_ivf_list *list = &ls->list[l];
        if (!extra[l] || list->size + extra[l] <= list->capacity) continue;
        cap[l] = room_for(list, list->size + extra[l]);
        size_t bytes = codes_fit(ls, cap[l]) ? slice_bytes(ls, cap[l]) : SIZE_MAX;
        arena_bytes = bytes > SIZE_MAX - arena_bytes ? SIZE_MAX : arena_bytes + bytes;
    }
    uint32_t arena = arena_bytes >= NEARKIT_BULK_HUGE_BYTES && arena_bytes < SIZE_MAX
                         ? new_arena(ls, arena_bytes) : 0;
    size_t offset = 0;
    nearkit_status st = NEARKIT_OK;
    for (uint32_t l = 0; !st && l < ls->nlist; l++) {
        if (!cap[l]) continue;
        uint8_t *slice = arena ? ls->arenas[arena - 1].base + offset : NULL;
        st = move_list(ls, &ls->list[l], cap[l], arena, slice);
        offset += arena ? slice_bytes(ls, cap[l]) : 0;
    }
    if (arena && ls->arenas[arena - 1].live == 0) { /* the first move failed: nothing holds it */
        nearkit_aligned_free(ls->arenas[arena - 1].base);
        ls->arenas[arena - 1] = (nearkit_ivf_arena){0};
    }
    free(cap);
    return st;
}

nearkit_status nearkit_ivf_lists_add(nearkit_ivf_lists *ls, const uint32_t *assign, const uint8_t *codes,
                                     uint64_t n, const int64_t *ids, uint64_t first, const float *norms) {
    if (n == 0) return NEARKIT_OK;
    uint64_t *extra = calloc(ls->nlist, sizeof *extra);
    if (!extra) return nearkit_oom();
    for (uint64_t i = 0; i < n; i++) extra[assign[i]]++;
    nearkit_status st = reserve_lists(ls, extra);
    free(extra);
    if (st) return st; /* lists that grew keep their rows: nothing was added */
    size_t cs = ls->code_size;
    for (uint64_t i = 0; i < n; i++) {
        nearkit_ivf_list *l = &ls->list[assign[i]];
        uint64_t row = l->size++;
        put_code(ls, l, row, codes + i * cs);
        if (l->ids) l->ids[row] = ids ? ids[i] : (int64_t)(first + i);
        if (l->positions) l->positions[row] = (uint32_t)(first + i);
        if (l->norms) l->norms[row] = norms[i];
    }
    ls->count += n;
    return NEARKIT_OK;
}

/* ---- removal ----------------------------------------------------------------------------------- */

/* Moves row `from` of a list to row `to` (to < from). */
static void move_row(const nearkit_ivf_lists *ls, nearkit_ivf_list *l, uint64_t to, uint64_t from) {
    if (ls->block > 1) {
        size_t to_stride, from_stride;
        uint8_t *dst = row_bytes(ls, l, to, &to_stride);
        const uint8_t *src = row_bytes(ls, l, from, &from_stride);
        for (size_t j = 0; j < ls->code_size; j++) dst[j * to_stride] = src[j * from_stride];
    } else {
        memcpy(l->codes + to * ls->code_size, l->codes + from * ls->code_size, ls->code_size);
    }
    if (l->ids) l->ids[to] = l->ids[from];
    if (l->positions) l->positions[to] = l->positions[from];
    if (l->norms) l->norms[to] = l->norms[from];
}

void nearkit_ivf_lists_drop_ids(nearkit_ivf_lists *ls, const nearkit_idmap *ids, uint64_t *dropped) {
    *dropped = 0;
    for (uint32_t li = 0; li < ls->nlist; li++) {
        nearkit_ivf_list *l = &ls->list[li];
        uint64_t to = 0;
        for (uint64_t r = 0; r < l->size; r++) {
            int64_t id = l->ids[r];
            if (ids ? nearkit_idmap_contains(ids, id) : id == -1) continue;
            if (to != r) move_row(ls, l, to, r);
            to++;
        }
        *dropped += l->size - to;
        l->size = to;
    }
    ls->count -= *dropped;
}

void nearkit_ivf_lists_renumber(nearkit_ivf_lists *ls, const uint32_t *renumber, uint64_t kept) {
    for (uint32_t li = 0; li < ls->nlist; li++) {
        nearkit_ivf_list *l = &ls->list[li];
        uint64_t to = 0;
        for (uint64_t r = 0; r < l->size; r++) {
            uint32_t pos = renumber[l->positions[r]];
            if (pos == UINT32_MAX) continue;
            if (to != r) move_row(ls, l, to, r);
            l->positions[to++] = pos;
        }
        l->size = to;
    }
    ls->count = kept;
}

void nearkit_ivf_lists_shrink(nearkit_ivf_lists *ls) {
    /* List by list into blocks of their own, not into a new arena: the peak stays one list above
     * the index's size (a new arena would hold a copy of every moved list at once). */
    for (uint32_t li = 0; li < ls->nlist; li++) {
        nearkit_ivf_list *l = &ls->list[li];
        bool roomy = l->capacity > l->size + l->size / 4 + MIN_GROWN_CAPACITY;
        if (!roomy && !in_dead_arena(ls, l)) continue;
        if (l->size == 0) {
            free_list(ls, l);
            continue;
        }
        nearkit_ivf_list empty = {0};
        if (move_list(ls, l, room_for(&empty, l->size), 0, NULL) != NEARKIT_OK)
            nearkit_clear_error(); /* out of memory: the list keeps its room */
    }
}

/* ---- persistence ------------------------------------------------------------------------------- */

static nearkit_status corrupt(const char *what) {
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %s", what);
}

/* NRMS: every list's norms in list order, then the largest (parts, sizes: room for nlist + 1). */
static nearkit_status save_norms(const nearkit_ivf_lists *ls, nearkit_writer *w, const void **parts,
                                 uint64_t *sizes) {
    float most = 0.0f;
    for (uint32_t l = 0; l < ls->nlist; l++) {
        const nearkit_ivf_list *list = &ls->list[l];
        for (uint64_t row = 0; row < list->size; row++)
            if (list->norms[row] > most) most = list->norms[row];
        parts[l] = list->size ? list->norms : NULL;
        sizes[l] = list->size * sizeof(float);
    }
    parts[ls->nlist] = &most;
    sizes[ls->nlist] = sizeof most;
    return nearkit_writer_section_parts(w, NRMS_TAG, parts, sizes, (size_t)ls->nlist + 1);
}

const float *nearkit_ivf_lists_saved_norms(const nearkit_reader *r, uint64_t n) {
    const void *data;
    if (nearkit_reader_section_sized(&data, r, NRMS_TAG, (n + 1) * sizeof(float)) ||
        nearkit_reader_borrowable(r, data, NRMS_TAG)) {
        nearkit_clear_error();
        return NULL;
    }
    return data;
}

nearkit_status nearkit_ivf_lists_save_by_list(const nearkit_ivf_lists *ls, nearkit_writer *w) {
    const void **parts = nearkit_alloc_array((size_t)ls->nlist + 1, sizeof *parts);
    uint64_t *sizes = nearkit_alloc_array((size_t)ls->nlist + 1, sizeof *sizes);
    uint64_t *offsets = nearkit_alloc_array((size_t)ls->nlist + 1, sizeof *offsets);
    nearkit_status st = NEARKIT_OK;
    if (!parts || !sizes || !offsets) {
        st = nearkit_oom();
        goto done;
    }
    offsets[0] = 0;
    for (uint32_t l = 0; l < ls->nlist; l++) offsets[l + 1] = offsets[l] + ls->list[l].size;
    st = nearkit_writer_section(w, LOFF_TAG, offsets, ((uint64_t)ls->nlist + 1) * sizeof(uint64_t));
    for (uint32_t l = 0; l < ls->nlist; l++) {
        parts[l] = ls->list[l].size ? ls->list[l].codes : NULL;
        sizes[l] = ls->list[l].size * ls->code_size;
    }
    if (!st) st = nearkit_writer_section_parts(w, VECS_TAG, parts, sizes, ls->nlist);
    for (uint32_t l = 0; l < ls->nlist; l++) {
        parts[l] = ls->list[l].size ? ls->list[l].ids : NULL;
        sizes[l] = ls->list[l].size * sizeof(int64_t);
    }
    if (!st) st = nearkit_writer_section_parts(w, IDS_TAG, parts, sizes, ls->nlist);
    if (!st && ls->with_norms) st = save_norms(ls, w, parts, sizes);
done:
    free(parts);
    free(sizes);
    free(offsets);
    return st;
}

/* LOFF's nlist + 1 offsets (the caller frees them): they must start at 0, never decrease and end
 * at n. */
static nearkit_status read_offsets(uint64_t **out, const nearkit_reader *r, uint32_t nlist, uint64_t n) {
    const void *data;
    uint64_t entries = (uint64_t)nlist + 1;
    nearkit_status st = nearkit_reader_section_sized(&data, r, LOFF_TAG, entries * sizeof(uint64_t));
    if (st) return st;
    uint64_t *off = nearkit_alloc_array((size_t)entries, sizeof *off);
    if (!off) return nearkit_oom();
    memcpy(off, data, (size_t)entries * sizeof *off); /* out of the possibly unaligned image */
    bool ok = off[0] == 0 && off[nlist] == n;
    for (uint32_t l = 0; ok && l < nlist; l++) ok = off[l] <= off[l + 1];
    if (!ok) {
        free(off);
        return corrupt("list offsets do not partition the stored vectors");
    }
    *out = off;
    return NEARKIT_OK;
}

/* Every one of n positions (u32, possibly unaligned) below n: what a plain view checks, in one
 * pass a compiler vectorises. Its searches read ids and kept originals by position, so a position
 * past the rows would read out of bounds; one named twice costs answers (a row found twice), as a
 * wrong stored vector does, and a plain view trusts the file's values as it trusts its vectors. */
static nearkit_status check_positions_below(const uint8_t *data, uint64_t n) {
    uint32_t most = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t p;
        memcpy(&p, data + i * sizeof p, sizeof p);
        most = p > most ? p : most;
    }
    return n == 0 || most < n ? NEARKIT_OK : corrupt("list position past the rows");
}

/* A view's lists: slices of the image's codes and ids, norms from the caller's block. */
static void borrow_lists(nearkit_ivf_lists *ls, const uint64_t *off, const uint8_t *codes,
                         const int64_t *ids, float **norms, bool norms_in_image, uint64_t n) {
    for (uint32_t l = 0; l < ls->nlist; l++) {
        uint64_t size = off[l + 1] - off[l];
        ls->list[l] = (nearkit_ivf_list){
            .codes = size ? (uint8_t *)codes + off[l] * ls->code_size : NULL,
            .ids = size ? (int64_t *)ids + off[l] : NULL,
            .norms = size && ls->with_norms ? *norms + off[l] : NULL,
            .size = size,
            .capacity = size,
        };
    }
    ls->borrowed = true;
    ls->borrowed_norms = ls->with_norms ? *norms : NULL;
    ls->norms_in_image = ls->with_norms && norms_in_image;
    if (ls->with_norms && !norms_in_image) *norms = NULL;
    ls->count = n;
}

nearkit_status nearkit_ivf_lists_load_by_list(nearkit_ivf_lists *ls, const nearkit_reader *r,
                                              const uint8_t *codes, const int64_t *ids,
                                              float **norms, bool norms_in_image, uint64_t n, bool in_place) {
    uint64_t *off = NULL;
    nearkit_status st = read_offsets(&off, r, ls->nlist, n);
    if (st) return st;
    if (in_place && nearkit_reader_borrows(r) && ls->labels == NEARKIT_IVF_IDS && ls->block <= 1 &&
        (ids || n == 0)) {
        borrow_lists(ls, off, codes, ids, norms, norms_in_image, n);
        free(off);
        return NEARKIT_OK;
    }
    uint32_t *assign = nearkit_alloc_array((size_t)(n ? n : 1), sizeof *assign);
    if (!assign) st = nearkit_oom();
    for (uint32_t l = 0; !st && l < ls->nlist; l++)
        for (uint64_t i = off[l]; i < off[l + 1]; i++) assign[i] = l;
    if (!st) st = nearkit_ivf_lists_add(ls, assign, codes, n, ids, 0, *norms);
    free(assign);
    free(off);
    return st;
}

/* ---- persistence: the store's own layout ------------------------------------------------------ */

/* A list's last, partial block of interleaved codes into out as a whole block, its slots past the
 * rows zeroed (they may hold rows since removed, which a file should not carry). */
static void clean_tail(uint8_t *out, const nearkit_ivf_lists *ls, const nearkit_ivf_list *l) {
    uint64_t b = ls->block, full = l->size / b * b, used = l->size - full;
    memset(out, 0, (size_t)b * ls->code_size);
    copy_columns(out, b, l->codes + (size_t)full * ls->code_size, nearkit_ivf_list_block_rows(ls, l, full), used,
                 ls->code_size);
}

static bool has_partial_block(const nearkit_ivf_lists *ls, const nearkit_ivf_list *l) {
    return ls->block > 1 && l->size % ls->block != 0;
}

nearkit_status nearkit_ivf_lists_save_as_stored(const nearkit_ivf_lists *ls, nearkit_writer *w) {
    size_t nl = ls->nlist, partial = 0, block_bytes = (size_t)(ls->block > 1 ? ls->block : 1) * ls->code_size;
    for (uint32_t l = 0; l < ls->nlist; l++) partial += has_partial_block(ls, &ls->list[l]);
    const void **parts = nearkit_alloc_array(2 * nl + 1, sizeof *parts);
    uint64_t *sizes = nearkit_alloc_array(2 * nl + 1, sizeof *sizes);
    uint64_t *offsets = nearkit_alloc_array(nl + 1, sizeof *offsets);
    uint8_t *tails = nearkit_alloc_array(partial ? partial : 1, block_bytes);
    nearkit_status st = NEARKIT_OK;
    if (!parts || !sizes || !offsets || !tails) {
        st = nearkit_oom();
        goto done;
    }
    offsets[0] = 0;
    for (uint32_t l = 0; l < ls->nlist; l++) offsets[l + 1] = offsets[l] + ls->list[l].size;
    st = nearkit_writer_section(w, LOFF_TAG, offsets, (nl + 1) * sizeof(uint64_t));
    uint8_t *tail = tails;
    for (uint32_t l = 0; l < ls->nlist; l++) { /* whole blocks as they are, then the cleaned tail */
        const nearkit_ivf_list *list = &ls->list[l];
        bool cut = has_partial_block(ls, list);
        uint64_t whole = cut ? list->size / ls->block * ls->block : list->size;
        parts[2 * l] = whole ? list->codes : NULL;
        sizes[2 * l] = whole * ls->code_size;
        parts[2 * l + 1] = cut ? tail : NULL;
        sizes[2 * l + 1] = cut ? block_bytes : 0;
        if (cut) clean_tail(tail, ls, list), tail += block_bytes;
    }
    if (!st) st = nearkit_writer_section_parts(w, LCOD_TAG, parts, sizes, 2 * nl);
    for (uint32_t l = 0; l < ls->nlist; l++) {
        parts[l] = ls->list[l].size ? ls->list[l].positions : NULL;
        sizes[l] = ls->list[l].size * sizeof(uint32_t);
    }
    if (!st) st = nearkit_writer_section_parts(w, LPOS_TAG, parts, sizes, nl);
done:
    free(parts);
    free(sizes);
    free(offsets);
    free(tails);
    return st;
}

bool nearkit_ivf_lists_saved_as_stored(const nearkit_reader *r, uint64_t *count) {
    const void *data;
    uint64_t size;
    bool found = nearkit_reader_section(&data, &size, r, LPOS_TAG) == NEARKIT_OK;
    nearkit_clear_error();
    *count = found ? size / sizeof(uint32_t) : 0;
    return found;
}

/* Every one of n positions (u32, possibly unaligned) below n and none twice: the kind reads its
 * ids and kept originals by them. */
static nearkit_status check_positions(const uint8_t *data, uint64_t n) {
    uint64_t *seen = calloc((size_t)(n / 64 + 1), sizeof *seen);
    if (!seen) return nearkit_oom();
    bool ok = true;
    for (uint64_t i = 0; ok && i < n; i++) {
        uint32_t p;
        memcpy(&p, data + i * sizeof p, sizeof p);
        ok = p < n && !(seen[p / 64] >> (p % 64) & 1);
        if (ok) seen[p / 64] |= (uint64_t)1 << (p % 64);
    }
    free(seen);
    return ok ? NEARKIT_OK : corrupt("list positions are not each row's once");
}

/* A view's lists: slices of the image's codes (off: each list's first code byte) and positions. */
static void borrow_stored_lists(nearkit_ivf_lists *ls, const uint64_t *off, const uint64_t *code_off,
                                const uint8_t *codes, const uint32_t *positions, uint64_t n) {
    for (uint32_t l = 0; l < ls->nlist; l++) {
        uint64_t size = off[l + 1] - off[l];
        ls->list[l] = (nearkit_ivf_list){
            .codes = size ? (uint8_t *)codes + code_off[l] : NULL,
            .positions = size ? (uint32_t *)positions + off[l] : NULL,
            .size = size,
            .capacity = size,
        };
    }
    ls->borrowed = true;
    ls->count = n;
}

/* Copies of the image's lists, each in exactly the room it needs. */
static nearkit_status copy_stored_lists(nearkit_ivf_lists *ls, const uint64_t *off, const uint64_t *code_off,
                                        const uint8_t *codes, const uint8_t *positions, uint64_t n) {
    uint64_t *extra = nearkit_alloc_array(ls->nlist, sizeof *extra);
    if (!extra) return nearkit_oom();
    for (uint32_t l = 0; l < ls->nlist; l++) extra[l] = off[l + 1] - off[l];
    nearkit_status st = reserve_lists(ls, extra);
    free(extra);
    for (uint32_t l = 0; !st && l < ls->nlist; l++) {
        nearkit_ivf_list *list = &ls->list[l];
        list->size = off[l + 1] - off[l];
        if (!list->size) continue;
        if (ls->block > 1) /* the file's whole blocks into the list's room */
            copy_interleaved(ls, list->codes, list->capacity, codes + code_off[l],
                             stored_bytes(ls, list->size) / ls->code_size, list->size);
        else
            memcpy(list->codes, codes + code_off[l], (size_t)list->size * ls->code_size);
        memcpy(list->positions, positions + off[l] * sizeof(uint32_t), (size_t)list->size * sizeof(uint32_t));
    }
    if (!st) ls->count = n;
    return st;
}

nearkit_status nearkit_ivf_lists_load_as_stored(nearkit_ivf_lists *ls, const nearkit_reader *r, uint64_t n,
                                                bool in_place) {
    const void *positions, *codes;
    uint64_t *off = NULL, *code_off = NULL;
    nearkit_status st = nearkit_reader_section_sized(&positions, r, LPOS_TAG, n * sizeof(uint32_t));
    if (!st) st = read_offsets(&off, r, ls->nlist, n);
    if (!st && !(code_off = nearkit_alloc_array((size_t)ls->nlist + 1, sizeof *code_off))) st = nearkit_oom();
    if (!st) { /* fewer than 2^32 rows (the caller's bound): the byte counts stay far below 2^64 */
        code_off[0] = 0;
        for (uint32_t l = 0; l < ls->nlist; l++) code_off[l + 1] = code_off[l] + stored_bytes(ls, off[l + 1] - off[l]);
        st = nearkit_reader_section_sized(&codes, r, LCOD_TAG, code_off[ls->nlist]);
    }
    bool borrow = in_place && nearkit_reader_borrows(r) && n > 0;
    if (!st) st = borrow && !nearkit_reader_checks_values(r) ? check_positions_below(positions, n)
                                                              : check_positions(positions, n);
    borrow = borrow && !st;
    if (borrow) st = nearkit_reader_borrowable(r, codes, LCOD_TAG);
    if (borrow && !st) st = nearkit_reader_borrowable(r, positions, LPOS_TAG);
    if (borrow && !st) borrow_stored_lists(ls, off, code_off, codes, positions, n);
    else if (!st) st = copy_stored_lists(ls, off, code_off, codes, positions, n);
    free(off);
    free(code_off);
    return st;
}

nearkit_status nearkit_ivf_lists_load_by_position(nearkit_ivf_lists *ls, const nearkit_reader *r,
                                                  const uint8_t *codes, uint64_t n) {
    const void *data;
    nearkit_status st = nearkit_reader_section_sized(&data, r, BASN_TAG, n * sizeof(uint32_t));
    if (st) return st;
    uint32_t *assign = nearkit_alloc_array((size_t)n, sizeof *assign);
    if (!assign) return nearkit_oom();
    memcpy(assign, data, (size_t)n * sizeof *assign);
    for (uint64_t i = 0; !st && i < n; i++)
        if (assign[i] >= ls->nlist) st = corrupt("code assigned to a list that does not exist");
    if (!st) st = nearkit_ivf_lists_add(ls, assign, codes, n, NULL, 0, NULL);
    free(assign);
    return st;
}
