/*
 * handle.c - the reader-writer lock and closed state of an index shared by a binding's threads
 * (contract in handle.h). Compiled into the Python extension and the Node.js addon.
 */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np on glibc */
#endif

#include "handle.h"

#include <stddef.h>
#include <stdlib.h>

#if defined(_WIN32)
#include <windows.h>
typedef SRWLOCK nkb_rwlock;
#else
#include <pthread.h>
typedef pthread_rwlock_t nkb_rwlock;
#endif

struct nkb_handle {
    nearkit_index *index; /* NULL once closed; read and written under `lock` */
    nkb_rwlock lock;
};

/* ---- The platform's reader-writer lock -------------------------------------------------------- */

#if defined(_WIN32)
static int rwlock_init(nkb_rwlock *l) {
    InitializeSRWLock(l);
    return 0;
}
static void rwlock_destroy(nkb_rwlock *l) { (void)l; /* SRW locks hold no resources */ }
static void read_lock(nkb_rwlock *l) { AcquireSRWLockShared(l); }
static void read_unlock(nkb_rwlock *l) { ReleaseSRWLockShared(l); }
static void write_lock(nkb_rwlock *l) { AcquireSRWLockExclusive(l); }
static void write_unlock(nkb_rwlock *l) { ReleaseSRWLockExclusive(l); }
#else
static int rwlock_init(nkb_rwlock *l) {
    pthread_rwlockattr_t attr;
    int rc;
    if (pthread_rwlockattr_init(&attr) != 0) return -1;
#if defined(__GLIBC__)
    /* glibc prefers readers by default: a waiting add or close would starve behind searches. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    rc = pthread_rwlock_init(l, &attr);
    pthread_rwlockattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}
static void rwlock_destroy(nkb_rwlock *l) { pthread_rwlock_destroy(l); }
static void read_lock(nkb_rwlock *l) { pthread_rwlock_rdlock(l); }
static void read_unlock(nkb_rwlock *l) { pthread_rwlock_unlock(l); }
static void write_lock(nkb_rwlock *l) { pthread_rwlock_wrlock(l); }
static void write_unlock(nkb_rwlock *l) { pthread_rwlock_unlock(l); }
#endif

/* ---- The handle ------------------------------------------------------------------------------- */

nkb_handle *nkb_handle_new(nearkit_index *index) {
    nkb_handle *h = malloc(sizeof *h);
    if (h == NULL) return NULL;
    if (rwlock_init(&h->lock) != 0) {
        free(h);
        return NULL;
    }
    h->index = index;
    return h;
}

void nkb_handle_free(nkb_handle *h) {
    if (h == NULL) return;
    nkb_handle_close(h);
    rwlock_destroy(&h->lock);
    free(h);
}

nearkit_index *nkb_handle_acquire_read(nkb_handle *h) {
    read_lock(&h->lock);
    if (h->index == NULL) {
        read_unlock(&h->lock);
        return NULL;
    }
    return h->index;
}

void nkb_handle_release_read(nkb_handle *h) { read_unlock(&h->lock); }

nearkit_index *nkb_handle_acquire_write(nkb_handle *h) {
    write_lock(&h->lock);
    if (h->index == NULL) {
        write_unlock(&h->lock);
        return NULL;
    }
    return h->index;
}

void nkb_handle_release_write(nkb_handle *h) { write_unlock(&h->lock); }

void nkb_handle_disown(nkb_handle *h) {
    h->index = NULL;
    write_unlock(&h->lock);
}

void nkb_handle_close(nkb_handle *h) {
    write_lock(&h->lock);
    nearkit_index_free(h->index);
    h->index = NULL;
    write_unlock(&h->lock);
}

const nearkit_index *nkb_handle_peek(const nkb_handle *h) { return h->index; }

int nkb_handle_is_closed(nkb_handle *h) {
    int closed;
    read_lock(&h->lock);
    closed = h->index == NULL;
    read_unlock(&h->lock);
    return closed;
}
