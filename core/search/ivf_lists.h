/* The inverted lists of an IVF index: the one list store every IVF configuration keeps its codes
 * in, whatever the code format. Internal to nearkit (hidden symbols).
 *
 * Each list is a growable block: its codes back to back (64-byte aligned, so that the SIMD
 * kernels and sgemm stream them), and beside every code its label and, where the code format asks
 * for one, a float of its own (the float32 scanner keeps squared norms there). The codes of lists
 * given their room in one large add are slices of one shared block, an arena, backed by huge
 * pages (ivf_lists.c explains why and when). A code's size is fixed per store; the store never
 * looks inside a code.
 *
 * A label is what a search reports for a row, in one of two forms fixed per store:
 *   - NEARKIT_IVF_IDS: the row's id itself (int64);
 *   - NEARKIT_IVF_POSITIONS: the row's insertion position (uint32), for indexes that map
 *     positions to ids themselves and save their codes in insertion order (ivf_binary). */
#ifndef NEARKIT_IVF_LISTS_H
#define NEARKIT_IVF_LISTS_H

#include "base/idmap.h"
#include "base/internal.h"

typedef enum nearkit_ivf_labels { NEARKIT_IVF_IDS, NEARKIT_IVF_POSITIONS } nearkit_ivf_labels;

typedef struct nearkit_ivf_list {
    uint8_t *codes;      /* room for capacity codes of code_size bytes (whole blocks if interleaved) */
    int64_t *ids;        /* NEARKIT_IVF_IDS: the id of each row; else NULL */
    uint32_t *positions; /* NEARKIT_IVF_POSITIONS: the insertion position of each row; else NULL */
    float *norms;        /* with_norms: one float per row, as the caller gave them; else NULL */
    uint64_t size, capacity;
    uint32_t arena; /* 1 + the arena its codes are a slice of; 0: its codes are a block of its own */
} nearkit_ivf_list;

/* One block that many lists' codes are slices of (see ivf_lists.c, "arenas"). */
typedef struct nearkit_ivf_arena {
    uint8_t *base; /* NULL once its last slice left */
    size_t bytes;  /* the block's size */
    size_t live;   /* bytes of it that lists still hold */
} nearkit_ivf_arena;

typedef struct nearkit_ivf_lists {
    nearkit_ivf_list *list; /* nlist lists */
    uint32_t nlist;
    size_t code_size;
    uint32_t block;  /* > 1: codes interleaved by blocks of this many rows (nearkit_ivf_lists_interleave) */
    nearkit_ivf_labels labels;
    bool with_norms;
    uint64_t count; /* rows over all lists */
    /* A view's lists (nearkit_ivf_lists_load_by_list from a borrowing reader): every list's codes
     * and ids point into the view's image, its norms into one block, borrowed_norms, the store
     * owns. Nothing writes to them (a view refuses every write). */
    bool borrowed;
    float *borrowed_norms;
    bool norms_in_image; /* borrowed_norms points into the image too (the file kept them): not freed */
    nearkit_ivf_arena *arenas;
    uint32_t narenas;
} nearkit_ivf_lists;

/* nlist empty lists. On failure the store is left empty (free it anyway). */
nearkit_status nearkit_ivf_lists_init(nearkit_ivf_lists *ls, uint32_t nlist, size_t code_size,
                                      nearkit_ivf_labels labels, bool with_norms);
void nearkit_ivf_lists_free(nearkit_ivf_lists *ls);
/* Stores codes by blocks of `block` rows, byte column by byte column (byte j of the block's row r
 * at block + j * rows + r, where the block is laid out for `rows` rows: `block`, but the last
 * block of a list's room only the rows its capacity leaves; slots past the list's rows hold zeros
 * or rows since removed, and room_bytes keeps `block` readable bytes past a list's codes for
 * kernels that read a short block's columns `block` bytes at a time), the layout of the 4-bit
 * fast scan (kernels/kernels_pq4.h). Files keep whole blocks (save_as_stored); a view's borrowed
 * lists are laid out so. Set on an empty store; codes go in and out as whole codes (add,
 * nearkit_ivf_list_code, save by position). save_by_list and load_by_list need the row-after-row
 * layout. */
void nearkit_ivf_lists_interleave(nearkit_ivf_lists *ls, uint32_t block);
/* Interleaved lists: the rows the block holding row `row` of list l is laid out for. */
size_t nearkit_ivf_list_block_rows(const nearkit_ivf_lists *ls, const nearkit_ivf_list *l, uint64_t row);
/* Asks the cache for the first codes of list l (up to `bytes` of them), ahead of its scan: a
 * query's probed lists lie anywhere in memory, and each scan would otherwise start by waiting. */
void nearkit_ivf_list_prefetch(const nearkit_ivf_lists *ls, const nearkit_ivf_list *l, size_t bytes);
/* Row `row` of list l's code, copied out whole (code_size bytes). */
void nearkit_ivf_list_code(uint8_t *code, const nearkit_ivf_lists *ls, const nearkit_ivf_list *l, uint64_t row);
uint64_t nearkit_ivf_lists_memory(const nearkit_ivf_lists *ls);
uint64_t nearkit_ivf_lists_max_size(const nearkit_ivf_lists *ls);
uint32_t nearkit_ivf_lists_empty(const nearkit_ivf_lists *ls);

/* Appends n codes, code i to list assign[i] after the rows already there, labelled ids[i] (or
 * first + i where ids is NULL; positions are always first + i, and ids must be NULL then), with
 * norms[i] when the store keeps norms. Room is made in every list first, so a failure
 * (OUT_OF_MEMORY) leaves the lists as they were. An empty list gets exactly the room its rows
 * need (a training's, a load's or an add's: the rows of one call say nothing of the next);
 * a list with rows grows by a quarter, so that later adds seldom move it while its spare room
 * stays within a quarter of it (a collection that churns keeps its memory near a fresh build's). */
nearkit_status nearkit_ivf_lists_add(nearkit_ivf_lists *ls, const uint32_t *assign, const uint8_t *codes,
                                     uint64_t n, const int64_t *ids, uint64_t first, const float *norms);

/* ---- removal ----------------------------------------------------------------------------------- */

/* Drops the rows whose label is in `ids` (NEARKIT_IVF_IDS), or whose label is the id -1 (ids
 * NULL: removed rows a file kept), closing the gap in each list (the others keep their order);
 * *dropped gets how many. Never fails. */
void nearkit_ivf_lists_drop_ids(nearkit_ivf_lists *ls, const nearkit_idmap *ids, uint64_t *dropped);
/* Drops the rows whose position p has renumber[p] == UINT32_MAX and gives every other row the
 * position renumber[p] (NEARKIT_IVF_POSITIONS); the count becomes `kept`. Never fails. */
void nearkit_ivf_lists_renumber(nearkit_ivf_lists *ls, const uint32_t *renumber, uint64_t kept);
/* Gives back the room of lists holding more than a quarter beyond their rows, and moves the lists
 * out of an arena that is mostly room its lists left, so that the arena is freed (best effort: a
 * list that cannot be moved keeps its room). */
void nearkit_ivf_lists_shrink(nearkit_ivf_lists *ls);

/* ---- persistence: by list (ivf_flat) and by position (format v1's other kinds, still read) --- */

/* By list (ivf_flat): LOFF, the (nlist + 1) u64 offsets of each list's rows in what follows; VECS,
 * every list's codes back to back in list order; IDS, their ids; with norms, NRMS, their norms
 * and then the largest (so that a view need not compute them). Needs NEARKIT_IVF_IDS. */
nearkit_status nearkit_ivf_lists_save_by_list(const nearkit_ivf_lists *ls, nearkit_writer *w);
/* A view's NRMS, n + 1 floats used in place; NULL (no error) where the file has none of that
 * length (files before it) or the reader cannot lend it. */
const float *nearkit_ivf_lists_saved_norms(const nearkit_reader *r, uint64_t n);
/* Fills an empty store from LOFF and the n codes and ids of VECS / IDS, already read and checked
 * (nearkit_rows_load), norms as for add. CORRUPT where the offsets do not start at 0, decrease,
 * or end elsewhere than at n. From a borrowing reader (a view), with `in_place` (codes and ids
 * are the image's own, read-only, and no row is to be dropped), the lists point into them instead
 * of copying, and the store takes `*norms` over (setting it NULL), or, with norms_in_image (they
 * are the image's too), points into them and leaves *norms alone. */
nearkit_status nearkit_ivf_lists_load_by_list(nearkit_ivf_lists *ls, const nearkit_reader *r,
                                              const uint8_t *codes, const int64_t *ids,
                                              float **norms, bool norms_in_image, uint64_t n, bool in_place);

/* By position, the layout files kept before the one below (ivf_binary: the codes in VECS; the
 * compressed kinds: CODE), still read: fills an empty store from BASN, the u32 list of each code,
 * and the n codes in insertion order (already read). CORRUPT where a code names a list that does
 * not exist. */
nearkit_status nearkit_ivf_lists_load_by_position(nearkit_ivf_lists *ls, const nearkit_reader *r,
                                                  const uint8_t *codes, uint64_t n);

/* The store's own layout (the position-labelled kinds since format version 2), which a view
 * uses in place: LOFF as above; LCOD, every list's codes back to back in list order, as the store
 * keeps them (interleaved: whole blocks, the slots past the last row zeroed); LPOS, the u32
 * position of each of those rows. */
nearkit_status nearkit_ivf_lists_save_as_stored(const nearkit_ivf_lists *ls, nearkit_writer *w);
/* Whether the file holds its lists in that layout, and then *count, the rows LPOS holds (LPOS's
 * length need not be a whole number of positions: the load checks it). */
bool nearkit_ivf_lists_saved_as_stored(const nearkit_reader *r, uint64_t *count);
/* Fills an empty store of NEARKIT_IVF_POSITIONS (fewer than 2^32 rows) from LOFF, LCOD and LPOS.
 * CORRUPT where a section's length is not what the offsets make it, or the positions are not
 * 0 .. n - 1 each once. From a borrowing reader with `in_place` (no row is to be dropped), the
 * lists point into the image instead of copying it (UNSUPPORTED where a section is not aligned
 * for that). The codes themselves are the kind's to check. */
nearkit_status nearkit_ivf_lists_load_as_stored(nearkit_ivf_lists *ls, const nearkit_reader *r, uint64_t n,
                                                bool in_place);

#endif
