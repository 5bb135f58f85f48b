/* The inverted-list store's arenas (core/search/ivf_lists.c): an add whose new room reaches
 * NEARKIT_BULK_HUGE_BYTES takes it from one block; lists that outgrow their slice move out with
 * their rows; shrink empties an arena once most of it is left room, and the arena is freed; the
 * rows, ids and norms read back the same through every move; memory counts every arena whole;
 * small adds never make one. Runs under ASan / UBSan too (a slice freed twice or an arena kept
 * past its last list shows there). */
#include "search/ivf_lists.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

enum { CODE = 512, NLIST = 64 };

/* Code of row `id`: its id in the first 8 bytes, then bytes derived from it. */
static void make_code(uint8_t *code, int64_t id) {
    memcpy(code, &id, sizeof id);
    for (size_t j = sizeof id; j < CODE; j++) code[j] = (uint8_t)(id * 31 + (int64_t)j);
}

/* Adds rows first .. first + n - 1 with ids equal to their number, row i to list i % NLIST. */
static nearkit_status add_rows(nearkit_ivf_lists *ls, int64_t first, uint64_t n) {
    uint8_t *codes = malloc(n * CODE);
    uint32_t *assign = malloc(n * sizeof *assign);
    int64_t *ids = malloc(n * sizeof *ids);
    float *norms = malloc(n * sizeof *norms);
    for (uint64_t i = 0; i < n; i++) {
        ids[i] = first + (int64_t)i;
        assign[i] = (uint32_t)(ids[i] % NLIST);
        norms[i] = (float)ids[i];
        make_code(codes + i * CODE, ids[i]);
    }
    nearkit_status st = nearkit_ivf_lists_add(ls, assign, codes, n, ids, 0, norms);
    free(codes), free(assign), free(ids), free(norms);
    return st;
}

/* Every row's code, id and norm agree, every list holds only its own ids, `count` rows in all. */
static bool rows_intact(const nearkit_ivf_lists *ls, uint64_t count) {
    uint8_t want[CODE], got[CODE];
    uint64_t seen = 0;
    for (uint32_t l = 0; l < ls->nlist; l++) {
        const nearkit_ivf_list *list = &ls->list[l];
        for (uint64_t r = 0; r < list->size; r++) {
            int64_t id = list->ids[r];
            make_code(want, id);
            if (id % NLIST != l || list->norms[r] != (float)id) return false;
            nearkit_ivf_list_code(got, ls, list, r); /* row after row, or from interleaved blocks */
            if (memcmp(got, want, CODE) != 0) return false;
            seen++;
        }
    }
    return seen == count && ls->count == count;
}

static uint32_t live_arenas(const nearkit_ivf_lists *ls) {
    uint32_t n = 0;
    for (uint32_t a = 0; a < ls->narenas; a++) n += ls->arenas[a].base != NULL;
    return n;
}

static uint32_t lists_in_arenas(const nearkit_ivf_lists *ls) {
    uint32_t n = 0;
    for (uint32_t l = 0; l < ls->nlist; l++) n += ls->list[l].arena != 0;
    return n;
}

static void test_small_adds_make_no_arena(void) {
    nearkit_ivf_lists ls;
    CHECK_STATUS(nearkit_ivf_lists_init(&ls, NLIST, CODE, NEARKIT_IVF_IDS, true), NEARKIT_OK);
    CHECK_STATUS(add_rows(&ls, 0, 1000), NEARKIT_OK); /* 0.5 MB */
    CHECK(live_arenas(&ls) == 0 && lists_in_arenas(&ls) == 0);
    CHECK(rows_intact(&ls, 1000));
    nearkit_ivf_lists_free(&ls);
}

static void test_arena_life(void) {
    const uint64_t n = 24000; /* 12 MB of codes: over the threshold */
    nearkit_ivf_lists ls;
    CHECK_STATUS(nearkit_ivf_lists_init(&ls, NLIST, CODE, NEARKIT_IVF_IDS, true), NEARKIT_OK);
    CHECK_STATUS(add_rows(&ls, 0, n), NEARKIT_OK);
    CHECK(live_arenas(&ls) == 1 && lists_in_arenas(&ls) == NLIST);
    CHECK(rows_intact(&ls, n));
    /* the arena is counted whole, and the store is not much larger than its rows */
    uint64_t memory = nearkit_ivf_lists_memory(&ls);
    CHECK(memory >= n * (CODE + 12) && memory < n * (CODE + 12) + (1u << 20));

    /* a second large add: every list outgrows its slice and moves out (into a new arena), and
     * the first arena, left by all of them, is freed */
    CHECK_STATUS(add_rows(&ls, (int64_t)n, n), NEARKIT_OK);
    CHECK(rows_intact(&ls, 2 * n));
    CHECK(live_arenas(&ls) == 1 && lists_in_arenas(&ls) == NLIST);

    /* a small add moves some lists out one by one: the arena stays for the others */
    CHECK_STATUS(add_rows(&ls, 2 * (int64_t)n, 8), NEARKIT_OK);
    CHECK(rows_intact(&ls, 2 * n + 8));

    /* dropping the rows of half the lists, then shrink: that arena is mostly left room, so its
     * lists move to blocks of their own and it is freed */
    nearkit_idmap drop = {0};
    for (int64_t id = 0; id < 2 * (int64_t)n + 8; id++)
        if (id % NLIST < NLIST / 2) CHECK(nearkit_idmap_add(&drop, id, 0));
    uint64_t dropped = 0;
    nearkit_ivf_lists_drop_ids(&ls, &drop, &dropped);
    CHECK(dropped == n + 8); /* half of ids 0 .. 2n - 1, and 2n .. 2n + 7 (lists 0 .. 7) */
    nearkit_ivf_lists_shrink(&ls);
    CHECK(live_arenas(&ls) == 0 && lists_in_arenas(&ls) == 0);
    CHECK(rows_intact(&ls, n));
    nearkit_idmap_free(&drop);
    nearkit_ivf_lists_free(&ls);
}

/* Interleaved codes (the fast scan's blocks) take slices of exactly their rows' codes, the last
 * block laid out for only the rows it holds, and a block's row count of bytes more; their ids,
 * positions and norms only the rows' room (an exact first add: exactly the rows). Rows read back
 * the same after the lists grow (a last block laid out again), lose rows and shrink. */
static void test_interleaved_arena(void) {
    const uint64_t n = 20000;
    nearkit_ivf_lists ls;
    CHECK_STATUS(nearkit_ivf_lists_init(&ls, NLIST, CODE, NEARKIT_IVF_IDS, true), NEARKIT_OK);
    nearkit_ivf_lists_interleave(&ls, 32);
    CHECK_STATUS(add_rows(&ls, 0, n), NEARKIT_OK);
    CHECK(live_arenas(&ls) == 1);
    for (uint32_t l = 0; l < NLIST; l++) {
        const nearkit_ivf_list *list = &ls.list[l];
        CHECK(list->capacity == list->size);
        CHECK(nearkit_ivf_list_block_rows(&ls, list, list->size - 1) == (list->size % 32 ? list->size % 32 : 32));
        CHECK(nearkit_ivf_list_block_rows(&ls, list, 0) == 32);
        if (l + 1 < NLIST && list->arena && ls.list[l + 1].arena == list->arena) {
            size_t slice = ((size_t)list->capacity * CODE + 32 + 63) & ~(size_t)63;
            CHECK(ls.list[l + 1].codes - list->codes == (ptrdiff_t)slice);
        }
    }
    CHECK(rows_intact(&ls, n));
    const uint64_t more = 3 * NLIST + 5;
    CHECK_STATUS(add_rows(&ls, (int64_t)n, more), NEARKIT_OK); /* every list grows */
    CHECK(rows_intact(&ls, n + more));
    nearkit_idmap drop = {0};
    for (int64_t id = 0; id < (int64_t)n; id += 3) CHECK(nearkit_idmap_add(&drop, id, 0));
    uint64_t dropped = 0;
    nearkit_ivf_lists_drop_ids(&ls, &drop, &dropped);
    CHECK(dropped == (n + 2) / 3);
    CHECK(rows_intact(&ls, n + more - dropped));
    nearkit_ivf_lists_shrink(&ls);
    CHECK(rows_intact(&ls, n + more - dropped));
    nearkit_idmap_free(&drop);
    nearkit_ivf_lists_free(&ls);
}

int main(void) {
    test_small_adds_make_no_arena();
    test_arena_life();
    test_interleaved_arena();
    return check_summary("test_ivf_lists");
}
