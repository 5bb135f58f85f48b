/*
 * handle.h - an index shared by a binding's threads: the reader-writer lock and the closed state
 * the Python (bindings/nearkit.i) and Node.js (node/src/nearkit_node.c) bindings both need.
 *
 * The header's thread-safety rule, enforced: calls taking `const nearkit_index *` (search, range
 * search, save, introspection, get_param) hold the lock shared; add, train, build and set_param
 * hold it exclusive. The lock prefers writers where the platform lets us choose (glibc), so an
 * add or a close is not starved by a stream of searches.
 *
 * Closing frees the index once no call holds the lock; from then on every acquire returns NULL,
 * so a binding reports "closed" instead of touching freed memory.
 *
 * Contract:
 *   - nkb_handle_acquire_read / _write return the index with the lock held, or NULL with nothing
 *     held when the handle is closed. Each non-NULL acquire is paired with the matching release.
 *   - nkb_handle_close and nkb_handle_free must not be called by a thread holding the lock.
 *   - After nkb_handle_free no other function may be called on the handle.
 *
 * The handle is opaque, so this header needs no platform header and no feature-test macro.
 */
#ifndef NEARKIT_BINDINGS_HANDLE_H
#define NEARKIT_BINDINGS_HANDLE_H

#include "nearkit.h"

typedef struct nkb_handle nkb_handle;

/* A new handle owning `index`; NULL when memory or a lock cannot be had (then `index` still
 * belongs to the caller). */
nkb_handle *nkb_handle_new(nearkit_index *index);
/* Closes the handle (see nkb_handle_close) and frees it. Accepts NULL. */
void nkb_handle_free(nkb_handle *h);

/* The index, locked shared; NULL (nothing held) once closed. */
nearkit_index *nkb_handle_acquire_read(nkb_handle *h);
void nkb_handle_release_read(nkb_handle *h);
/* The index, locked exclusive; NULL (nothing held) once closed. */
nearkit_index *nkb_handle_acquire_write(nkb_handle *h);
void nkb_handle_release_write(nkb_handle *h);

/* For a caller holding the write lock (nkb_handle_acquire_write) that has handed the index to a
 * new owner (a sharded collection): closes the handle without freeing the index, and releases
 * the lock. */
void nkb_handle_disown(nkb_handle *h);

/* Waits until no call holds the lock, then frees the index. Idempotent. */
void nkb_handle_close(nkb_handle *h);
/* 1 once closed, else 0. */
int nkb_handle_is_closed(nkb_handle *h);
/* The index, or NULL once closed, without the lock: only for a binding whose closing runs on one
 * thread (Node.js's JavaScript thread), asking on that thread. */
const nearkit_index *nkb_handle_peek(const nkb_handle *h);

#endif
