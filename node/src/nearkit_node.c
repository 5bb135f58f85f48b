/*
 * nearkit_node.c - the Node-API addon of the nearkit Node.js package.
 *
 * A thin layer over include/nearkit.h: it converts JavaScript values to C arguments and back,
 * checks what only it can check (typed-array types and lengths, closed handles), maps status
 * codes to Error objects and runs long calls on the libuv thread pool. Every search, every
 * semantic check and all file handling happens in the C library.
 *
 * Written against Node-API version 8, which every supported Node.js release provides, so one build
 * loads in every later Node.js release without a rebuild.
 *
 * Concurrency model (see also lib/index.js):
 *   - Each index handle carries a read-write lock (bindings/handle.h, shared with the Python
 *     binding) that only keeps the index alive until close: every call but close holds it shared,
 *     because the C library serialises its own writers (add, remove, train, build, compact,
 *     set_param) against searches (include/nearkit.h, "Thread safety"). Synchronous calls take it
 *     on the JavaScript thread, asynchronous ones on the pool thread that runs them.
 *   - Function filters (search options.filter = id => bool) run JavaScript, which only the
 *     JavaScript thread may: a synchronous search calls the function directly and runs on that
 *     one thread; an asynchronous one calls it through a thread-safe function, each search
 *     thread blocking until the JavaScript thread has answered (the slow path: one round trip
 *     per stored vector). While either runs, synchronous calls on that index throw
 *     ERR_NEARKIT_STATE instead of deadlocking (see nk_lock).
 *   - The handle counts its asynchronous operations in flight (only ever touched on the JavaScript
 *     thread: incremented when work is queued, decremented in its completion callback). close()
 *     marks the handle closed at once, so later calls fail with ERR_NEARKIT_CLOSED, and frees the
 *     index when nothing is in flight; otherwise the last completing operation frees it.
 *   - The garbage-collection finalizer of the handle object does the same as close() and
 *     additionally frees the handle structure itself (again deferred while work is in flight).
 *   - Asynchronous work never reads or writes JavaScript memory off the JavaScript thread: inputs
 *     are copied before the work is queued and results become ArrayBuffers in the completion
 *     callback (nk_work), so a caller that detaches or reuses its buffers meanwhile is safe.
 */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* uv.h's POSIX types (pthread_rwlock_t, struct addrinfo) under -std=c11 */
#endif
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEARKIT_EXPERIMENTAL /* nearkit_index_tune, the views; before handle.h, which includes nearkit.h */
#include "handle.h" /* bindings/: the index with its lock, shared with the Python binding */
#include "nearkit.h"

/* ---- Error codes ------------------------------------------------------------------------------ */

#define CODE_PREFIX "ERR_NEARKIT_"
#define CODE_INVALID_ARGUMENT "ERR_NEARKIT_INVALID_ARGUMENT"
#define CODE_OUT_OF_MEMORY "ERR_NEARKIT_OUT_OF_MEMORY"
#define CODE_INTERNAL "ERR_NEARKIT_INTERNAL"
#define CODE_CLOSED "ERR_NEARKIT_CLOSED"
#define CODE_STATE "ERR_NEARKIT_STATE"
#define CODE_ABI "ERR_NEARKIT_ABI_MISMATCH"
#define CODE_ARG_TYPE "ERR_INVALID_ARG_TYPE"

/* Bails out of a function returning napi_value when a Node-API call fails. A failing call has
 * usually left a JavaScript exception pending; when it has not, one is thrown here. */
#define NK_CALL(env, call)                                                                        \
    do {                                                                                          \
        if ((call) != napi_ok) {                                                                  \
            nk_throw_napi_failure(env);                                                           \
            return NULL;                                                                          \
        }                                                                                         \
    } while (0)

static void nk_throw_napi_failure(napi_env env) {
    bool pending = false;
    const napi_extended_error_info *info = NULL;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, CODE_INTERNAL,
                     info && info->error_message ? info->error_message : "Node-API call failed");
}

static napi_value nk_throw(napi_env env, const char *code, const char *message) {
    napi_throw_error(env, code, message);
    return NULL;
}

static napi_value nk_throw_type(napi_env env, const char *message) {
    napi_throw_type_error(env, CODE_ARG_TYPE, message);
    return NULL;
}

/* A RangeError: a size JavaScript asked for that this runtime or machine cannot hold. */
static napi_value nk_throw_range(napi_env env, const char *code, const char *message) {
    napi_throw_range_error(env, code, message);
    return NULL;
}

/* Builds the Error for a failed nearkit call: `message` as read with nearkit_last_error_message()
 * on the failing thread, `code` ERR_NEARKIT_<status name>. */
static napi_value nk_make_status_error(napi_env env, nearkit_status status, const char *message) {
    char code[64];
    napi_value code_value, message_value, error = NULL;
    snprintf(code, sizeof code, CODE_PREFIX "%s", nearkit_status_name(status));
    if (message == NULL || message[0] == '\0') message = nearkit_status_name(status);
    if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
        napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok ||
        napi_create_error(env, code_value, message_value, &error) != napi_ok)
        return NULL;
    return error;
}

static napi_value nk_throw_status(napi_env env, nearkit_status status) {
    napi_value error = nk_make_status_error(env, status, nearkit_last_error_message());
    if (error != NULL) napi_throw(env, error);
    else nk_throw_napi_failure(env);
    return NULL;
}

static char *nk_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy != NULL) memcpy(copy, s, n);
    return copy;
}

/* ---- Index handles ---------------------------------------------------------------------------- */

typedef struct nk_handle {
    nkb_handle *shared;         /* the index (NULL once freed) and its lock */
    int closed;                 /* JavaScript thread only */
    int finalized;              /* the handle object was garbage-collected; JavaScript thread */
    uint32_t inflight;          /* asynchronous operations queued or running; JavaScript thread */
    nearkit_vector_type vector_type;
    uint64_t vector_bytes;
    int64_t reported;           /* index memory reported to V8 as external memory; JS thread */
    uint32_t js_filters;        /* searches with a function filter running; JS thread (nk_lock) */
    napi_ref viewed;            /* a buffer view's ArrayBuffer, whose memory the index reads in
                                   place: held until the index is freed; JS thread */
} nk_handle;

/* Tags handle objects so that no other object can be mistaken for one. */
static const napi_type_tag NK_HANDLE_TAG = {0x6e6561726b69742dULL, 0x696e6465782d7631ULL};

/* Tells V8 how much native memory the index holds, so that garbage collection of forgotten
 * (never closed) indexes keeps pace with their real size. JavaScript thread only. */
static void nk_adjust_memory(napi_env env, int64_t *reported, uint64_t bytes) {
    int64_t adjusted;
    int64_t delta = (int64_t)bytes - *reported;
    if (delta != 0 && napi_adjust_external_memory(env, delta, &adjusted) == napi_ok)
        *reported = (int64_t)bytes;
}

static void nk_report_memory(napi_env env, nk_handle *h, uint64_t bytes) {
    nk_adjust_memory(env, &h->reported, bytes);
}

/* Frees the index. Called with nothing in flight, so it waits for no one. */
static void nk_handle_release_index(napi_env env, nk_handle *h) {
    nkb_handle_close(h->shared);
    nk_report_memory(env, h, 0);
    if (h->viewed != NULL) { /* after the free: nothing reads the buffer any more */
        napi_delete_reference(env, h->viewed);
        h->viewed = NULL;
    }
}

/* Whether the ArrayBuffer a buffer view reads was detached (transferred) since: its memory may be
 * gone, so the view must not be used. JavaScript thread only. */
static int nk_viewed_detached(napi_env env, const nk_handle *h) {
    napi_value ab;
    bool detached = false;
    if (h->viewed == NULL || napi_get_reference_value(env, h->viewed, &ab) != napi_ok || ab == NULL)
        return 0;
    return napi_is_detached_arraybuffer(env, ab, &detached) == napi_ok && detached;
}

static void *nk_throw_detached(napi_env env) {
    nk_throw(env, CODE_STATE,
             "the ArrayBuffer this view reads was detached (transferred): the view cannot be used; "
             "close it");
    return NULL;
}

static void nk_handle_destroy(napi_env env, nk_handle *h) {
    nk_handle_release_index(env, h);
    nkb_handle_free(h->shared);
    free(h);
}

/* The index of an open handle with its lock held shared; throws ERR_NEARKIT_CLOSED and returns
 * NULL once it is freed. Every call but close holds the handle's lock shared: the C library
 * serialises its writers itself (include/nearkit.h, "Thread safety"), so the handle's lock only
 * keeps the index alive until close.
 *
 * Throws ERR_NEARKIT_STATE while a search with a function filter runs on this index: that
 * filter needs the JavaScript thread (a synchronous search calls it on this very thread, an
 * asynchronous one blocks its pool thread until this thread answers), so a synchronous call that
 * waited for the index's lock here (behind a writer queued meanwhile) would never be answered. */
static nearkit_index *nk_lock(napi_env env, nk_handle *h) {
    nearkit_index *ix;
    if (h->js_filters > 0) {
        nk_throw(env, CODE_STATE,
                 "a search with a function filter is running on this index: a synchronous call "
                 "on it now could deadlock (the filter needs this thread); call it from outside "
                 "the filter, or await the asynchronous search first");
        return NULL;
    }
    if (nk_viewed_detached(env, h)) return nk_throw_detached(env);
    ix = nkb_handle_acquire_read(h->shared);
    if (ix == NULL) nk_throw(env, CODE_CLOSED, "the index is closed");
    return ix;
}

static void nk_unlock(nk_handle *h) { nkb_handle_release_read(h->shared); }

/* The index without the lock, for what is fixed at creation (kind, metric, dimension) and for
 * checking that it still exists. JavaScript thread only: the only thread that frees it. */
static const nearkit_index *nk_peek(const nk_handle *h) { return nkb_handle_peek(h->shared); }

static void nk_handle_finalize(napi_env env, void *data, void *hint) {
    nk_handle *h = data;
    (void)hint;
    h->closed = 1;
    h->finalized = 1;
    if (h->inflight == 0) nk_handle_destroy(env, h);
    /* else: the last completing operation destroys it. */
}

/* Wraps a new index in a handle object. Takes ownership of `index` (freed on failure). `viewed`
 * (or NULL): the ArrayBuffer a buffer view reads, referenced by the handle while the index is a
 * view (a load that fell back owns its copy and keeps nothing). */
static napi_value nk_wrap_index_keeping(napi_env env, nearkit_index *index, napi_value viewed) {
    napi_value object;
    nk_handle *h = calloc(1, sizeof *h);
    if (h == NULL) {
        nearkit_index_free(index);
        return nk_throw(env, CODE_OUT_OF_MEMORY, "out of memory allocating an index handle");
    }
    if ((h->shared = nkb_handle_new(index)) == NULL) {
        free(h);
        nearkit_index_free(index);
        return nk_throw(env, CODE_INTERNAL, "could not initialise a lock");
    }
    h->vector_type = nearkit_index_vector_type(index);
    h->vector_bytes = nearkit_index_vector_bytes(index);
    if ((viewed != NULL && nearkit_index_is_view(index) &&
         napi_create_reference(env, viewed, 1, &h->viewed) != napi_ok) ||
        napi_create_object(env, &object) != napi_ok ||
        napi_type_tag_object(env, object, &NK_HANDLE_TAG) != napi_ok ||
        napi_wrap(env, object, h, nk_handle_finalize, NULL, NULL) != napi_ok) {
        nk_handle_destroy(env, h);
        nk_throw_napi_failure(env);
        return NULL;
    }
    nk_report_memory(env, h, nearkit_index_memory_bytes(index));
    return object;
}

static napi_value nk_wrap_index(napi_env env, nearkit_index *index) {
    return nk_wrap_index_keeping(env, index, NULL);
}

/* The native data wrapped in `value`, an object tagged `tag`; throws a TypeError saying it is
 * not `what` (and returns NULL) for anything else. */
static void *nk_unwrap_tagged(napi_env env, napi_value value, const napi_type_tag *tag,
                              const char *what) {
    napi_valuetype type;
    bool tagged = false;
    void *data = NULL;
    if (napi_typeof(env, value, &type) != napi_ok || type != napi_object ||
        napi_check_object_type_tag(env, value, tag, &tagged) != napi_ok || !tagged ||
        napi_unwrap(env, value, &data) != napi_ok || data == NULL) {
        nk_throw_type(env, what);
        return NULL;
    }
    return data;
}

/* The handle behind `value`; throws (and returns NULL) for anything else, or for a closed handle
 * when `open` is set. */
static nk_handle *nk_get_handle(napi_env env, napi_value value, int open) {
    void *data = nk_unwrap_tagged(env, value, &NK_HANDLE_TAG, "not a nearkit index handle");
    if (data == NULL) return NULL;
    if (open && ((nk_handle *)data)->closed) {
        nk_throw(env, CODE_CLOSED, "the index is closed");
        return NULL;
    }
    return data;
}

/* ---- Sharded collection handles ---------------------------------------------------------------- */

/* A sharded collection (nearkit_sharded_*) as JavaScript holds it. Unlike an index handle it needs
 * no lock of its own: the library serialises add_shard against searches, every synchronous call
 * runs on the JavaScript thread, and the collection is freed only there, once no asynchronous
 * search is in flight (the same deferral as an index's close). Searches take no function filter,
 * so no JavaScript runs inside one and cannot close the collection under it. */
typedef struct nk_sharded {
    nearkit_sharded *s; /* NULL once freed */
    int closed;         /* JavaScript thread only */
    int finalized;      /* the handle object was garbage-collected; JavaScript thread */
    uint32_t inflight;  /* asynchronous searches queued or running; JavaScript thread */
    int64_t reported;   /* shard memory reported to V8 as external memory; JS thread */
} nk_sharded;

static const napi_type_tag NK_SHARDED_TAG = {0x6e6561726b69742dULL, 0x7368617264732d31ULL};

static void nk_sharded_release(napi_env env, nk_sharded *sh) {
    nearkit_sharded_free(sh->s);
    sh->s = NULL;
    nk_adjust_memory(env, &sh->reported, 0);
}

static void nk_sharded_destroy(napi_env env, nk_sharded *sh) {
    nk_sharded_release(env, sh);
    free(sh);
}

static void nk_sharded_finalize(napi_env env, void *data, void *hint) {
    nk_sharded *sh = data;
    (void)hint;
    sh->closed = 1;
    sh->finalized = 1;
    if (sh->inflight == 0) nk_sharded_destroy(env, sh);
    /* else: the last completing search destroys it. */
}

/* Called on the JavaScript thread when an asynchronous search of the collection has completed. */
static void nk_sharded_work_done(napi_env env, nk_sharded *sh) {
    sh->inflight--;
    if (sh->inflight == 0 && sh->closed) {
        if (sh->finalized) nk_sharded_destroy(env, sh);
        else nk_sharded_release(env, sh);
    }
}

/* Wraps a new collection in a handle object. Takes ownership of `s` (freed on failure). */
static napi_value nk_wrap_sharded(napi_env env, nearkit_sharded *s) {
    napi_value object;
    nk_sharded *sh = calloc(1, sizeof *sh);
    if (sh == NULL) {
        nearkit_sharded_free(s);
        return nk_throw(env, CODE_OUT_OF_MEMORY, "out of memory allocating a sharded index handle");
    }
    sh->s = s;
    if (napi_create_object(env, &object) != napi_ok ||
        napi_type_tag_object(env, object, &NK_SHARDED_TAG) != napi_ok ||
        napi_wrap(env, object, sh, nk_sharded_finalize, NULL, NULL) != napi_ok) {
        nk_sharded_destroy(env, sh);
        nk_throw_napi_failure(env);
        return NULL;
    }
    nk_adjust_memory(env, &sh->reported, nearkit_sharded_memory_bytes(s));
    return object;
}

/* The collection behind `value`; throws (and returns NULL) for anything else, or for a closed one
 * when `open` is set. */
static nk_sharded *nk_get_sharded(napi_env env, napi_value value, int open) {
    void *data = nk_unwrap_tagged(env, value, &NK_SHARDED_TAG, "not a nearkit sharded index handle");
    if (data == NULL) return NULL;
    if (open && ((nk_sharded *)data)->closed) {
        nk_throw(env, CODE_CLOSED, "the sharded index is closed");
        return NULL;
    }
    return data;
}

/* ---- Argument conversion ---------------------------------------------------------------------- */

#define NK_MAX_ARGS 6

typedef struct nk_args {
    size_t argc;
    napi_value argv[NK_MAX_ARGS];
} nk_args;

static int nk_get_args(napi_env env, napi_callback_info info, nk_args *args) {
    napi_value undefined;
    size_t i;
    args->argc = NK_MAX_ARGS;
    if (napi_get_cb_info(env, info, &args->argc, args->argv, NULL, NULL) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (napi_get_undefined(env, &undefined) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    for (i = args->argc; i < NK_MAX_ARGS; i++) args->argv[i] = undefined;
    return 0;
}

static int nk_is_nullish(napi_env env, napi_value value) {
    napi_valuetype type;
    if (napi_typeof(env, value, &type) != napi_ok) return 0;
    return type == napi_undefined || type == napi_null;
}

/* A non-negative integer given as a Number or a BigInt. Throws and returns -1 otherwise. */
static int nk_get_uint64(napi_env env, napi_value value, const char *what, uint64_t *out) {
    napi_valuetype type;
    char message[160];
    if (napi_typeof(env, value, &type) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (type == napi_number) {
        double d;
        if (napi_get_value_double(env, value, &d) != napi_ok) {
            nk_throw_napi_failure(env);
            return -1;
        }
        if (!(d >= 0) || d != floor(d) || d > 18446744073709549568.0) {
            if (isnan(d))
                snprintf(message, sizeof message, "%s must be a non-negative integer, got NaN", what);
            else
                snprintf(message, sizeof message, "%s must be a non-negative integer, got %g", what, d);
            nk_throw(env, CODE_INVALID_ARGUMENT, message);
            return -1;
        }
        *out = (uint64_t)d;
        return 0;
    }
    if (type == napi_bigint) {
        bool lossless = false;
        int64_t as_signed = 0;
        if (napi_get_value_bigint_int64(env, value, &as_signed, &lossless) == napi_ok && lossless &&
            as_signed < 0) {
            snprintf(message, sizeof message, "%s must be a non-negative integer", what);
            nk_throw(env, CODE_INVALID_ARGUMENT, message);
            return -1;
        }
        if (napi_get_value_bigint_uint64(env, value, out, &lossless) != napi_ok || !lossless) {
            snprintf(message, sizeof message, "%s must be a non-negative integer below 2^64", what);
            nk_throw(env, CODE_INVALID_ARGUMENT, message);
            return -1;
        }
        return 0;
    }
    snprintf(message, sizeof message, "%s must be a number or a bigint", what);
    nk_throw_type(env, message);
    return -1;
}

static int nk_get_uint32(napi_env env, napi_value value, const char *what, uint32_t *out) {
    uint64_t v;
    char message[160];
    if (nk_get_uint64(env, value, what, &v) != 0) return -1;
    if (v > UINT32_MAX) {
        snprintf(message, sizeof message, "%s must be below 2^32", what);
        nk_throw(env, CODE_INVALID_ARGUMENT, message);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int nk_get_double(napi_env env, napi_value value, const char *what, double *out) {
    napi_valuetype type;
    char message[160];
    if (napi_typeof(env, value, &type) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (type != napi_number) {
        snprintf(message, sizeof message, "%s must be a number", what);
        nk_throw_type(env, message);
        return -1;
    }
    if (napi_get_value_double(env, value, out) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    return 0;
}

/* A string argument copied into a new malloc'ed buffer (freed by the caller). */
static char *nk_get_string(napi_env env, napi_value value, const char *what) {
    napi_valuetype type;
    size_t length = 0;
    char *s;
    char message[160];
    if (napi_typeof(env, value, &type) != napi_ok) {
        nk_throw_napi_failure(env);
        return NULL;
    }
    if (type != napi_string) {
        snprintf(message, sizeof message, "%s must be a string", what);
        nk_throw_type(env, message);
        return NULL;
    }
    if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
        nk_throw_napi_failure(env);
        return NULL;
    }
    s = malloc(length + 1);
    if (s == NULL) {
        nk_throw(env, CODE_OUT_OF_MEMORY, "out of memory copying a string");
        return NULL;
    }
    if (napi_get_value_string_utf8(env, value, s, length + 1, &length) != napi_ok) {
        free(s);
        nk_throw_napi_failure(env);
        return NULL;
    }
    if (strlen(s) != length) {
        free(s);
        snprintf(message, sizeof message, "%s must not contain NUL characters", what);
        nk_throw(env, CODE_INVALID_ARGUMENT, message);
        return NULL;
    }
    return s;
}

/* Vectors given as a typed array, borrowed without a copy: only for calls that finish before
 * JavaScript runs again (asynchronous work copies them, see nk_work). */
typedef struct nk_vectors {
    const void *data;
    uint64_t n;
    uint64_t bytes;                 /* of all n */
    nearkit_vector_type type;       /* the handle's, or FLOAT16 (a Uint16Array of half bits) */
} nk_vectors;

/* A non-NULL address for empty inputs and outputs, so that n = 0 or k = 0 never reaches C as a
 * NULL pointer (C then reports the real problem, e.g. k = 0). Nothing is ever written to it. */
static uint64_t nk_empty[1];

/* Vectors of `vector_type` (FLOAT32 or BINARY), `vector_bytes_in` bytes each. */
static int nk_get_vectors_as(napi_env env, nearkit_vector_type vector_type, uint64_t vector_bytes_in,
                             napi_value value, const char *what, nk_vectors *out) {
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length = 0, offset = 0, element = 1;
    void *data = NULL;
    char message[200];
    const int binary = vector_type == NEARKIT_VECTOR_BINARY;

    if (napi_is_typedarray(env, value, &is_typed) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (is_typed && napi_get_typedarray_info(env, value, &type, &length, &data, NULL, &offset) !=
                        napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    /* float indexes also take float16 bits (lib/index.js passes a Float16Array as a Uint16Array
     * view of its memory), widened by the library */
    const int halves = !binary && is_typed && type == napi_uint16_array;
    if (!is_typed || (binary ? type != napi_uint8_array : type != napi_float32_array && !halves)) {
        snprintf(message, sizeof message, "%s must be a %s for this %s index", what,
                 binary ? "Uint8Array (or Buffer, or an array of bytes)"
                        : "Float32Array (or Float16Array / Uint16Array of float16 bits, or an array of numbers)",
                 binary ? "binary" : "float32");
        nk_throw_type(env, message);
        return -1;
    }
    element = binary ? 1 : halves ? 2 : 4;
    uint64_t vector_bytes = halves ? vector_bytes_in / 2 : vector_bytes_in;
    if (vector_bytes == 0 || ((uint64_t)length * element) % vector_bytes != 0) {
        snprintf(message, sizeof message,
                 "%s has %zu elements, which is not a whole number of vectors of %llu %s", what,
                 length, (unsigned long long)(vector_bytes / element),
                 binary ? "bytes" : halves ? "float16 values" : "floats");
        nk_throw(env, CODE_INVALID_ARGUMENT, message);
        return -1;
    }
    out->n = (uint64_t)length * element / vector_bytes;
    out->bytes = (uint64_t)length * element;
    out->type = halves ? NEARKIT_VECTOR_FLOAT16 : vector_type;
    out->data = (data != NULL && length > 0) ? data : (const void *)nk_empty;
    return 0;
}

static int nk_get_vectors(napi_env env, const nk_handle *h, napi_value value, const char *what,
                          nk_vectors *out) {
    return nk_get_vectors_as(env, h->vector_type, h->vector_bytes, value, what, out);
}

/* Optional ids: undefined/null, or a BigInt64Array of exactly n entries (borrowed). */
static int nk_get_ids(napi_env env, napi_value value, uint64_t n, const int64_t **out) {
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length = 0;
    void *data = NULL;
    char message[160];
    *out = NULL;
    if (nk_is_nullish(env, value)) return 0;
    if (napi_is_typedarray(env, value, &is_typed) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (is_typed &&
        napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (!is_typed || type != napi_bigint64_array) {
        nk_throw_type(env, "ids must be a BigInt64Array (or an array of integers)");
        return -1;
    }
    if ((uint64_t)length != n) {
        snprintf(message, sizeof message, "ids has %zu entries but %llu vectors were given", length,
                 (unsigned long long)n);
        nk_throw(env, CODE_INVALID_ARGUMENT, message);
        return -1;
    }
    *out = (data != NULL && length > 0) ? data : (const int64_t *)nk_empty;
    return 0;
}

/* Bytes given as a Buffer / typed array / DataView / ArrayBuffer (borrowed). */
static int nk_get_bytes(napi_env env, napi_value value, const void **data, size_t *size) {
    bool flag = false;
    void *p = NULL;
    size_t length = 0;
    if (napi_is_typedarray(env, value, &flag) == napi_ok && flag) {
        napi_typedarray_type type;
        size_t element;
        if (napi_get_typedarray_info(env, value, &type, &length, &p, NULL, NULL) != napi_ok) {
            nk_throw_napi_failure(env);
            return -1;
        }
        switch (type) {
        case napi_int16_array: case napi_uint16_array: element = 2; break;
        case napi_int32_array: case napi_uint32_array: case napi_float32_array: element = 4; break;
        case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array:
            element = 8;
            break;
        default: element = 1; break;
        }
        *size = length * element;
    } else if (napi_is_dataview(env, value, &flag) == napi_ok && flag) {
        if (napi_get_dataview_info(env, value, &length, &p, NULL, NULL) != napi_ok) {
            nk_throw_napi_failure(env);
            return -1;
        }
        *size = length;
    } else if (napi_is_arraybuffer(env, value, &flag) == napi_ok && flag) {
        if (napi_get_arraybuffer_info(env, value, &p, &length) != napi_ok) {
            nk_throw_napi_failure(env);
            return -1;
        }
        *size = length;
    } else {
        nk_throw_type(env, "buffer must be a Buffer, Uint8Array, ArrayBuffer or DataView");
        return -1;
    }
    *data = (p != NULL && *size > 0) ? p : (const void *)nk_empty;
    return 0;
}

/* The ArrayBuffer (or SharedArrayBuffer) holding the bytes of a typed array, DataView or
 * ArrayBuffer `value` (which nk_get_bytes accepted). */
static int nk_backing_buffer(napi_env env, napi_value value, napi_value *ab) {
    bool flag = false;
    size_t ignored_size;
    napi_typedarray_type ignored_type;
    void *ignored_data;
    if (napi_is_typedarray(env, value, &flag) == napi_ok && flag)
        return napi_get_typedarray_info(env, value, &ignored_type, &ignored_size, &ignored_data, ab,
                                        &ignored_size) == napi_ok ? 0 : -1;
    if (napi_is_dataview(env, value, &flag) == napi_ok && flag)
        return napi_get_dataview_info(env, value, &ignored_size, &ignored_data, ab, &ignored_size) ==
               napi_ok ? 0 : -1;
    *ab = value;
    return 0;
}

/* A list of ids of any length: a BigInt64Array (borrowed; lib/index.js converts other arrays). */
static int nk_get_id_list(napi_env env, napi_value value, const int64_t **out, uint64_t *n) {
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length = 0;
    void *data = NULL;
    if (napi_is_typedarray(env, value, &is_typed) != napi_ok ||
        (is_typed && napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) !=
                         napi_ok)) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (!is_typed || type != napi_bigint64_array) {
        nk_throw_type(env, "ids must be a BigInt64Array (or an array of integers)");
        return -1;
    }
    *n = (uint64_t)length;
    *out = (data != NULL && length > 0) ? data : (const int64_t *)nk_empty;
    return 0;
}

/* One id given as a BigInt (lib/index.js converts numbers). */
static int nk_get_id(napi_env env, napi_value value, int64_t *out) {
    napi_valuetype type;
    bool lossless = false;
    if (napi_typeof(env, value, &type) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (type != napi_bigint) {
        nk_throw_type(env, "id must be an integer (a number or a bigint)");
        return -1;
    }
    if (napi_get_value_bigint_int64(env, value, out, &lossless) != napi_ok || !lossless) {
        nk_throw(env, CODE_INVALID_ARGUMENT, "id does not fit in a signed 64-bit integer");
        return -1;
    }
    return 0;
}

/* The search options of one call, as lib/index.js normalises them:
 *   {numThreads?: number, filter?: BigInt64Array | Uint8Array | Function,
 *    paramNames?: string[], paramValues?: number[]}
 * A BigInt64Array filter is a list of allowed ids, a Uint8Array a bitmap (bit i allows id i), a
 * function a predicate (its C side is set by the caller: nk_js_filter or nk_tsfn_filter). */
typedef struct nk_search_opts {
    nearkit_search_options opts; /* points into this struct: do not copy it */
    nearkit_filter filter;
    nearkit_param_value *params;
    char **names;                /* owned copies of the parameter names */
    uint64_t n_params;
    void *owned;                 /* an owned copy of the filter's ids or bitmap (async calls) */
    napi_value fn;               /* a function filter, or NULL */
} nk_search_opts;

static void nk_search_opts_free(nk_search_opts *o) {
    uint64_t i;
    for (i = 0; o->names != NULL && i < o->n_params; i++) free(o->names[i]);
    free(o->names);
    free(o->params);
    free(o->owned);
    o->names = NULL;
    o->params = NULL;
    o->owned = NULL;
}

/* The filter's ids or bitmap: borrowed, or copied when `copy` is set (asynchronous calls). */
static int nk_filter_data(napi_env env, nk_search_opts *o, const void *data, uint64_t bytes,
                          int copy, const void **out) {
    if (!copy || bytes == 0) {
        *out = data != NULL && bytes > 0 ? data : (const void *)nk_empty;
        return 0;
    }
    if ((o->owned = malloc((size_t)bytes)) == NULL) {
        nk_throw_range(env, CODE_OUT_OF_MEMORY, "out of memory copying the search filter");
        return -1;
    }
    memcpy(o->owned, data, (size_t)bytes);
    *out = o->owned;
    return 0;
}

static int nk_get_filter(napi_env env, napi_value value, nk_search_opts *o, int copy) {
    napi_valuetype vt;
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length = 0;
    void *data = NULL;
    const void *p;
    if (napi_typeof(env, value, &vt) != napi_ok || napi_is_typedarray(env, value, &is_typed) != napi_ok ||
        (is_typed && napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok)) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (vt == napi_function) {
        o->fn = value;
        o->filter.type = NEARKIT_FILTER_PREDICATE;
        return 0;
    }
    if (is_typed && type == napi_bigint64_array) {
        if (nk_filter_data(env, o, data, (uint64_t)length * 8, copy, &p) != 0) return -1;
        o->filter.type = NEARKIT_FILTER_IDS;
        o->filter.ids = p;
        o->filter.n_ids = length;
        return 0;
    }
    if (is_typed && type == napi_uint8_array) {
        if (nk_filter_data(env, o, data, (uint64_t)length, copy, &p) != 0) return -1;
        o->filter.type = NEARKIT_FILTER_BITMAP;
        o->filter.bitmap = p;
        o->filter.bitmap_first = 0;
        o->filter.bitmap_bits = (uint64_t)length * 8;
        return 0;
    }
    nk_throw_type(env, "options.filter must be a BigInt64Array or an array of ids, a Uint8Array "
                       "bitmap or a function id => boolean");
    return -1;
}

static int nk_get_named(napi_env env, napi_value object, const char *name, napi_value *out) {
    if (napi_get_named_property(env, object, name, out) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    return 0;
}

/* paramNames / paramValues: two arrays of one length (lib/index.js makes them). */
static int nk_get_call_params(napi_env env, napi_value names, napi_value values, nk_search_opts *o) {
    uint32_t n = 0, m = 0, i;
    bool a = false, b = false;
    if (napi_is_array(env, names, &a) != napi_ok || napi_is_array(env, values, &b) != napi_ok ||
        !a || !b || napi_get_array_length(env, names, &n) != napi_ok ||
        napi_get_array_length(env, values, &m) != napi_ok || n != m) {
        nk_throw_type(env, "per-call parameters must be given as paramNames and paramValues arrays");
        return -1;
    }
    if (n == 0) return 0;
    o->names = calloc(n, sizeof *o->names);
    o->params = calloc(n, sizeof *o->params);
    if (o->names == NULL || o->params == NULL) {
        nk_throw_range(env, CODE_OUT_OF_MEMORY, "out of memory copying the search parameters");
        return -1;
    }
    o->n_params = n;
    for (i = 0; i < n; i++) {
        napi_value name, value;
        if (napi_get_element(env, names, i, &name) != napi_ok ||
            napi_get_element(env, values, i, &value) != napi_ok) {
            nk_throw_napi_failure(env);
            return -1;
        }
        if ((o->names[i] = nk_get_string(env, name, "a parameter name")) == NULL ||
            nk_get_double(env, value, "a parameter value", &o->params[i].value) != 0)
            return -1;
        o->params[i].name = o->names[i];
    }
    return 0;
}

/* Element i of the options array; throws and returns -1 on failure. */
static int nk_get_option(napi_env env, napi_value options, uint32_t i, napi_value *out) {
    if (napi_get_element(env, options, i, out) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    return 0;
}

/* Reads the options of one search into `o` (its final place: the options point into it):
 * undefined, or [numThreads, filter, paramNames, paramValues] as lib/index.js makes them (an
 * array, read by index: cheaper than four lookups by name). `copy`: copy the filter's ids or
 * bitmap (an asynchronous call). On failure the caller still frees `o` with nk_search_opts_free. */
static int nk_get_search_options(napi_env env, napi_value value, nk_search_opts *o, int copy) {
    bool is_array = false;
    napi_value threads, filter, names, values;
    const nearkit_filter no_filter = NEARKIT_FILTER_INIT;
    memset(o, 0, sizeof *o);
    nearkit_search_options_init(&o->opts);
    o->filter = no_filter;
    if (nk_is_nullish(env, value)) return 0;
    if (napi_is_array(env, value, &is_array) != napi_ok || !is_array) {
        nk_throw_type(env, "search options must be [numThreads, filter, paramNames, paramValues]");
        return -1;
    }
    if (nk_get_option(env, value, 0, &threads) != 0 || nk_get_option(env, value, 1, &filter) != 0 ||
        nk_get_option(env, value, 2, &names) != 0 || nk_get_option(env, value, 3, &values) != 0)
        return -1;
    if (!nk_is_nullish(env, threads) &&
        nk_get_uint32(env, threads, "numThreads", &o->opts.num_threads) != 0)
        return -1;
    if (!nk_is_nullish(env, filter) && nk_get_filter(env, filter, o, copy) != 0) return -1;
    if (!nk_is_nullish(env, names) && nk_get_call_params(env, names, values, o) != 0) return -1;
    o->opts.filter = o->filter.type != NEARKIT_FILTER_NONE ? &o->filter : NULL;
    o->opts.params = o->params;
    o->opts.n_params = o->n_params;
    return 0;
}

/* ---- Function filters ------------------------------------------------------------------------ */

/* Calls the filter function with `id` (a BigInt) on the JavaScript thread; 1 to allow. On an
 * exception (kept in *error, the first only) or a failed call, sets *failed and allows nothing. */
static int32_t nk_call_filter_function(napi_env env, napi_value fn, int64_t id, atomic_int *failed,
                                       napi_ref *error) {
    napi_handle_scope scope;
    napi_value arg, recv, result, exception;
    bool allow = false;
    if (napi_open_handle_scope(env, &scope) != napi_ok) {
        atomic_store(failed, 1);
        return 0;
    }
    if (napi_create_bigint_int64(env, id, &arg) != napi_ok || napi_get_undefined(env, &recv) != napi_ok ||
        napi_call_function(env, recv, fn, 1, &arg, &result) != napi_ok ||
        napi_coerce_to_bool(env, result, &result) != napi_ok ||
        napi_get_value_bool(env, result, &allow) != napi_ok) {
        bool pending = false;
        atomic_store(failed, 1);
        allow = false;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
            napi_get_and_clear_last_exception(env, &exception) == napi_ok && *error == NULL)
            napi_create_reference(env, exception, 1, error);
    }
    napi_close_handle_scope(env, scope);
    return allow ? 1 : 0;
}

/* Throws what a function filter left: its exception, or an error when it could not be called.
 * Returns 1 when it threw. JavaScript thread; releases the reference. */
static int nk_throw_filter_failure(napi_env env, atomic_int *failed, napi_ref *error,
                                   napi_value *as_value) {
    napi_value e = NULL;
    if (!atomic_load(failed)) return 0;
    if (*error != NULL) {
        napi_get_reference_value(env, *error, &e);
        napi_delete_reference(env, *error);
        *error = NULL;
    }
    if (e == NULL) {
        napi_value code, message;
        napi_create_string_utf8(env, CODE_INTERNAL, NAPI_AUTO_LENGTH, &code);
        napi_create_string_utf8(env, "the filter function could not be called", NAPI_AUTO_LENGTH,
                                &message);
        napi_create_error(env, code, message, &e);
    }
    if (as_value != NULL) *as_value = e;
    else napi_throw(env, e);
    return 1;
}

/* A function filter of a synchronous search: the search runs on one thread, this one (see
 * nk_sync_filter_begin), so the predicate calls the function directly. */
typedef struct nk_js_filter {
    napi_env env;
    napi_value fn;
    uv_thread_t thread;
    atomic_int failed;
    napi_ref error;
} nk_js_filter;

static int32_t nk_js_filter_predicate(void *context, int64_t id) {
    nk_js_filter *f = context;
    uv_thread_t self = uv_thread_self();
    if (atomic_load(&f->failed)) return 0;
    if (!uv_thread_equal(&self, &f->thread)) {
        /* Cannot happen with one search thread; never touch JavaScript from another thread. */
        atomic_store(&f->failed, 1);
        return 0;
    }
    return nk_call_filter_function(f->env, f->fn, id, &f->failed, &f->error);
}

/* Points the options' predicate at `f` and makes the search run on this thread alone. */
static void nk_sync_filter_begin(napi_env env, nk_handle *h, nk_search_opts *o, nk_js_filter *f) {
    f->env = env;
    f->fn = o->fn;
    f->thread = uv_thread_self();
    atomic_init(&f->failed, 0);
    f->error = NULL;
    o->filter.predicate = nk_js_filter_predicate;
    o->filter.context = f;
    o->opts.num_threads = 1;
    h->js_filters++;
}

/* 1 (an exception thrown) when the filter function failed. */
static int nk_sync_filter_end(napi_env env, nk_handle *h, nk_js_filter *f) {
    h->js_filters--;
    return nk_throw_filter_failure(env, &f->failed, &f->error, NULL);
}

/* A function filter of an asynchronous search: its search threads ask the JavaScript thread
 * through a thread-safe function and block until it answers (one round trip per stored vector
 * the search tests: the slow path, as the README says). */
typedef struct nk_tsfn_filter {
    napi_threadsafe_function tsfn;
    atomic_int failed;
    napi_ref error; /* JavaScript thread only */
} nk_tsfn_filter;

typedef struct nk_filter_question {
    int64_t id;
    int32_t answer;
    uv_sem_t answered;
} nk_filter_question;

/* On the JavaScript thread: answers one question. env is NULL when the environment is going
 * away; then nothing is allowed and the search fails. */
static void nk_tsfn_filter_answer(napi_env env, napi_value fn, void *context, void *data) {
    nk_tsfn_filter *f = context;
    nk_filter_question *q = data;
    q->answer = 0;
    if (env == NULL || fn == NULL) atomic_store(&f->failed, 1);
    else if (!atomic_load(&f->failed))
        q->answer = nk_call_filter_function(env, fn, q->id, &f->failed, &f->error);
    uv_sem_post(&q->answered);
}

/* On a search thread: asks the JavaScript thread and waits for the answer. */
static int32_t nk_tsfn_filter_predicate(void *context, int64_t id) {
    nk_tsfn_filter *f = context;
    nk_filter_question q;
    if (atomic_load(&f->failed)) return 0;
    q.id = id;
    q.answer = 0;
    if (uv_sem_init(&q.answered, 0) != 0) {
        atomic_store(&f->failed, 1);
        return 0;
    }
    if (napi_call_threadsafe_function(f->tsfn, &q, napi_tsfn_blocking) != napi_ok) {
        atomic_store(&f->failed, 1); /* closing: the environment is going away */
    } else {
        uv_sem_wait(&q.answered);
    }
    uv_sem_destroy(&q.answered);
    return q.answer;
}

/* ---- Result conversion ------------------------------------------------------------------------ */

/* Largest ArrayBuffer / typed array in bytes; lib/index.js sets it from
 * buffer.constants.MAX_LENGTH. Asking V8 for more aborts the process, so it is checked first. */
static double nk_max_buffer_bytes = 2147483647.0;

/* Results up to this size are allocated by V8, larger ones with malloc (see nk_new_arraybuffer). */
#define NK_SMALL_BUFFER_BYTES 65536

static void nk_free_memory(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    free(data);
}

/* An ArrayBuffer over `bytes` bytes of malloc'ed memory `p`, which it takes over (freed with the
 * buffer, or at once when it was copied); *data is where the buffer's bytes live. Used for results
 * that C wrote off the JavaScript thread, into memory JavaScript could not reach meanwhile. */
static napi_value nk_adopt_arraybuffer(napi_env env, void *p, uint64_t bytes, void **data) {
    napi_value ab;
    void *copy;
    if (bytes > NK_SMALL_BUFFER_BYTES &&
        napi_create_external_arraybuffer(env, p, (size_t)bytes, nk_free_memory, NULL, &ab) ==
            napi_ok) {
        *data = p;
        return ab;
    }
    /* Small results, and runtimes that forbid external buffers: a V8 buffer and one copy. */
    {
        bool pending = false;
        napi_value ignored;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
            napi_get_and_clear_last_exception(env, &ignored);
    }
    if (napi_create_arraybuffer(env, (size_t)bytes, &copy, &ab) != napi_ok) {
        free(p);
        nk_throw_napi_failure(env);
        return NULL;
    }
    if (bytes > 0) memcpy(copy, p, (size_t)bytes);
    free(p);
    *data = copy;
    return ab;
}

/* A new ArrayBuffer of `bytes` bytes whose memory C writes into directly. Large buffers come from
 * malloc, so that a failed allocation is an ERR_NEARKIT_OUT_OF_MEMORY error rather than V8's
 * fatal out-of-memory abort (napi_create_arraybuffer aborts the process when it cannot allocate). */
static napi_value nk_new_arraybuffer(napi_env env, uint64_t bytes, const char *what,
                                     void **data) {
    napi_value ab;
    void *p;
    char message[200];
    if ((double)bytes > nk_max_buffer_bytes) {
        snprintf(message, sizeof message,
                 "%s need %llu bytes, more than an ArrayBuffer can hold (%.0f); search fewer "
                 "queries at a time or with a smaller k",
                 what, (unsigned long long)bytes, nk_max_buffer_bytes);
        return nk_throw_range(env, CODE_OUT_OF_MEMORY, message);
    }
    if (bytes == 0) {
        NK_CALL(env, napi_create_arraybuffer(env, 0, data, &ab));
        *data = nk_empty; /* zero bytes: never written */
        return ab;
    }
    if (bytes <= NK_SMALL_BUFFER_BYTES) {
        /* Small results: V8's own allocator is the cheapest; a failure to find a few kilobytes is
         * not a state any later JavaScript would survive either. */
        NK_CALL(env, napi_create_arraybuffer(env, (size_t)bytes, data, &ab));
        return ab;
    }
    p = malloc((size_t)bytes);
    if (p == NULL) {
        snprintf(message, sizeof message, "out of memory allocating %llu bytes for %s",
                 (unsigned long long)bytes, what);
        return nk_throw_range(env, CODE_OUT_OF_MEMORY, message);
    }
    return nk_adopt_arraybuffer(env, p, bytes, data);
}

/* Names a k-NN result in error messages. */
static void nk_knn_what(char *buf, size_t size, uint64_t n, uint64_t k) {
    snprintf(buf, size, "the results of %llu queries with k = %llu", (unsigned long long)n,
             (unsigned long long)k);
}

/* Checks k and that n * k results fit in the runtime's typed arrays before anything is allocated:
 * k may exceed the index's count (rows are padded), but every row is k wide. */
static int nk_check_result_size(napi_env env, uint64_t n, uint64_t k) {
    char message[240];
    if (k == 0) {
        nk_throw(env, CODE_INVALID_ARGUMENT, "k must be at least 1");
        return -1;
    }
    if (n > ((uint64_t)1 << 56) / k || (double)(n * k * 8) > nk_max_buffer_bytes) {
        snprintf(message, sizeof message,
                 "k = %llu for %llu queries needs %.0f bytes of result ids, more than a typed "
                 "array can hold (%.0f); search fewer queries at a time or with a smaller k",
                 (unsigned long long)k, (unsigned long long)n, (double)n * (double)k * 8.0,
                 nk_max_buffer_bytes);
        nk_throw_range(env, CODE_OUT_OF_MEMORY, message);
        return -1;
    }
    return 0;
}

/* setMaxBufferBytes(n): the runtime's largest ArrayBuffer. */
static napi_value nk_set_max_buffer_bytes(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    double d = 0;
    NK_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || napi_get_value_double(env, argv[0], &d) != napi_ok || !(d > 0))
        return nk_throw_type(env, "setMaxBufferBytes needs a positive number");
    nk_max_buffer_bytes = d;
    return NULL;
}

/* k-NN results as [ids: BigInt64Array, distances: Float32Array] over n * k entries each, at byte
 * offsets ids_at of ids_ab and dist_at of dist_ab; lib/index.js turns the pair into {ids,
 * distances, k, count} (a JavaScript object literal is much cheaper to make there than property by
 * property through Node-API). */
static napi_value nk_search_result(napi_env env, napi_value ids_ab, size_t ids_at,
                                   napi_value dist_ab, size_t dist_at, uint64_t n, uint64_t k) {
    napi_value result, ids, distances;
    NK_CALL(env, napi_create_typedarray(env, napi_bigint64_array, (size_t)(n * k), ids_ab, ids_at,
                                        &ids));
    NK_CALL(env, napi_create_typedarray(env, napi_float32_array, (size_t)(n * k), dist_ab, dist_at,
                                        &distances));
    NK_CALL(env, napi_create_array_with_length(env, 2, &result));
    NK_CALL(env, napi_set_element(env, result, 0, ids));
    NK_CALL(env, napi_set_element(env, result, 1, distances));
    return result;
}

/* Copies a range result into [offsets: Float64Array, ids: BigInt64Array, distances: Float32Array];
 * lib/index.js makes the result object. Does not free `range`. */
static napi_value nk_range_result(napi_env env, const nearkit_range_result *range) {
    const uint64_t *offsets = NULL;
    const int64_t *ids = NULL;
    const float *distances = NULL;
    uint64_t count = nearkit_range_result_query_count(range), total, i;
    napi_value result, off_ab, ids_ab, dist_ab, off_arr, ids_arr, dist_arr;
    void *off_data, *ids_data, *dist_data;
    nearkit_status st = nearkit_range_result_get(&offsets, &ids, &distances, range);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    total = offsets != NULL ? offsets[count] : 0;
    if ((off_ab = nk_new_arraybuffer(env, (count + 1) * 8, "the range offsets", &off_data)) ==
            NULL ||
        (ids_ab = nk_new_arraybuffer(env, total * 8, "the range matches", &ids_data)) == NULL ||
        (dist_ab = nk_new_arraybuffer(env, total * 4, "the range matches", &dist_data)) == NULL)
        return NULL;
    for (i = 0; i <= count; i++) ((double *)off_data)[i] = offsets != NULL ? (double)offsets[i] : 0;
    if (total > 0) {
        memcpy(ids_data, ids, (size_t)total * 8);
        memcpy(dist_data, distances, (size_t)total * 4);
    }
    NK_CALL(env, napi_create_typedarray(env, napi_float64_array, (size_t)(count + 1), off_ab, 0,
                                        &off_arr));
    NK_CALL(env, napi_create_typedarray(env, napi_bigint64_array, (size_t)total, ids_ab, 0, &ids_arr));
    NK_CALL(env, napi_create_typedarray(env, napi_float32_array, (size_t)total, dist_ab, 0,
                                        &dist_arr));
    NK_CALL(env, napi_create_array_with_length(env, 3, &result));
    NK_CALL(env, napi_set_element(env, result, 0, off_arr));
    NK_CALL(env, napi_set_element(env, result, 1, ids_arr));
    NK_CALL(env, napi_set_element(env, result, 2, dist_arr));
    return result;
}

static napi_value nk_undefined(napi_env env) {
    napi_value v;
    NK_CALL(env, napi_get_undefined(env, &v));
    return v;
}

/* ---- Library-level functions ------------------------------------------------------------------ */

static napi_value nk_set_string_prop(napi_env env, napi_value obj, const char *key, const char *s) {
    napi_value v;
    if (s == NULL) NK_CALL(env, napi_get_null(env, &v));
    else NK_CALL(env, napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v));
    NK_CALL(env, napi_set_named_property(env, obj, key, v));
    return obj;
}

static napi_value nk_set_number_prop(napi_env env, napi_value obj, const char *key, double d) {
    napi_value v;
    NK_CALL(env, napi_create_double(env, d, &v));
    NK_CALL(env, napi_set_named_property(env, obj, key, v));
    return obj;
}

static napi_value nk_set_bool_prop(napi_env env, napi_value obj, const char *key, int b) {
    napi_value v;
    NK_CALL(env, napi_get_boolean(env, b != 0, &v));
    NK_CALL(env, napi_set_named_property(env, obj, key, v));
    return obj;
}

/* Metric values are small non-negative integers (they index metric_mask bits). */
#define NK_METRIC_SCAN 32

/* kinds() -> [{name, id, exact, needsTraining, needsBuild, compressed, metrics: [...], description}] */
static napi_value nk_kinds(napi_env env, napi_callback_info info) {
    napi_value array;
    size_t count = nearkit_kind_count(), i;
    (void)info;
    NK_CALL(env, napi_create_array_with_length(env, count, &array));
    for (i = 0; i < count; i++) {
        nearkit_kind_info ki;
        napi_value obj, metrics;
        uint32_t m, nm = 0;
        memset(&ki, 0, sizeof ki);
        ki.struct_size = (uint32_t)sizeof ki;
        if (nearkit_kind_get_info(&ki, i) != NEARKIT_OK)
            return nk_throw_status(env, nearkit_last_error_status());
        NK_CALL(env, napi_create_object(env, &obj));
        if (!nk_set_string_prop(env, obj, "name", ki.name) ||
            !nk_set_number_prop(env, obj, "id", ki.kind) ||
            !nk_set_bool_prop(env, obj, "exact", ki.flags & NEARKIT_KIND_FLAG_EXACT) ||
            !nk_set_bool_prop(env, obj, "needsTraining", ki.flags & NEARKIT_KIND_FLAG_NEEDS_TRAINING) ||
            !nk_set_bool_prop(env, obj, "needsBuild", ki.flags & NEARKIT_KIND_FLAG_NEEDS_BUILD) ||
            !nk_set_bool_prop(env, obj, "compressed", ki.flags & NEARKIT_KIND_FLAG_COMPRESSED) ||
            !nk_set_number_prop(env, obj, "flags", ki.flags) ||
            !nk_set_string_prop(env, obj, "description", ki.description))
            return NULL;
        NK_CALL(env, napi_create_array(env, &metrics));
        for (m = 0; m < NK_METRIC_SCAN; m++) {
            const char *name;
            napi_value v;
            if (!(ki.metric_mask & (1u << m))) continue;
            name = nearkit_metric_name((nearkit_metric)m);
            if (name == NULL) continue;
            NK_CALL(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v));
            NK_CALL(env, napi_set_element(env, metrics, nm++, v));
        }
        NK_CALL(env, napi_set_named_property(env, obj, "metrics", metrics));
        NK_CALL(env, napi_set_element(env, array, (uint32_t)i, obj));
    }
    return array;
}

/* metrics() -> [names] of every metric the library knows. */
static napi_value nk_metrics(napi_env env, napi_callback_info info) {
    napi_value array;
    uint32_t m, n = 0;
    (void)info;
    NK_CALL(env, napi_create_array(env, &array));
    for (m = 0; m < NK_METRIC_SCAN; m++) {
        const char *name = nearkit_metric_name((nearkit_metric)m);
        napi_value v;
        if (name == NULL) continue;
        NK_CALL(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v));
        NK_CALL(env, napi_set_element(env, array, n++, v));
    }
    return array;
}

/* ---- Creating and loading --------------------------------------------------------------------- */

/* create(kind, metric, dimension, numThreads?, seed?, params?) -> handle */
static napi_value nk_create(napi_env env, napi_callback_info info) {
    nk_args a;
    char *kind_name = NULL, *metric_name = NULL, *params = NULL;
    nearkit_kind kind;
    nearkit_metric metric;
    uint32_t dimension;
    nearkit_index_options options;
    nearkit_index *index = NULL;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    nearkit_index_options_init(&options); /* defaults for what is left undefined */
    if (nk_get_uint32(env, a.argv[2], "dimension", &dimension) != 0 ||
        (!nk_is_nullish(env, a.argv[3]) &&
         nk_get_uint32(env, a.argv[3], "numThreads", &options.num_threads) != 0) ||
        (!nk_is_nullish(env, a.argv[4]) && nk_get_uint64(env, a.argv[4], "seed", &options.seed) != 0))
        return NULL;
    if ((kind_name = nk_get_string(env, a.argv[0], "kind")) == NULL) return NULL;
    if ((metric_name = nk_get_string(env, a.argv[1], "metric")) == NULL) goto fail;
    if (!nk_is_nullish(env, a.argv[5]) && (params = nk_get_string(env, a.argv[5], "params")) == NULL)
        goto fail;
    if ((st = nearkit_kind_from_name(&kind, kind_name)) != NEARKIT_OK ||
        (st = nearkit_metric_from_name(&metric, metric_name)) != NEARKIT_OK) {
        nk_throw_status(env, st);
        goto fail;
    }
    options.params = params;
    st = nearkit_index_create(&index, kind, metric, dimension, &options);
    free(kind_name);
    free(metric_name);
    free(params);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_wrap_index(env, index);
fail:
    free(kind_name);
    free(metric_name);
    free(params);
    return NULL;
}

/* load(path) -> handle */
static napi_value nk_load(napi_env env, napi_callback_info info) {
    nk_args a;
    char *path;
    nearkit_index *index = NULL;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((path = nk_get_string(env, a.argv[0], "path")) == NULL) return NULL;
    st = nearkit_index_load(&index, path);
    free(path);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_wrap_index(env, index);
}

/* loadBuffer(bytes) -> handle */
static napi_value nk_load_buffer(napi_env env, napi_callback_info info) {
    nk_args a;
    const void *data;
    size_t size;
    nearkit_index *index = NULL;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if (nk_get_bytes(env, a.argv[0], &data, &size) != 0) return NULL;
    st = nearkit_index_load_from_buffer(&index, data, size);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_wrap_index(env, index);
}

/* The view options in arguments `at` (verify) and `at + 1` (loadIfUnviewable), booleans or
 * undefined. Throws on failure. */
static int nk_get_view_options(napi_env env, const nk_args *a, size_t at, nearkit_view_options *o) {
    bool verify = false, load_if_unviewable = false;
    nearkit_view_options_init(o);
    if ((!nk_is_nullish(env, a->argv[at]) && napi_get_value_bool(env, a->argv[at], &verify) != napi_ok) ||
        (!nk_is_nullish(env, a->argv[at + 1]) &&
         napi_get_value_bool(env, a->argv[at + 1], &load_if_unviewable) != napi_ok)) {
        nk_throw_type(env, "view options must be booleans");
        return -1;
    }
    o->verify = verify ? 1 : 0;
    o->load_if_unviewable = load_if_unviewable ? 1 : 0;
    return 0;
}

/* view(path, verify, loadIfUnviewable) -> handle: a read-only view of the file
 * (nearkit_index_view). */
static napi_value nk_view(napi_env env, napi_callback_info info) {
    nk_args a;
    char *path;
    nearkit_view_options options;
    nearkit_index *index = NULL;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if (nk_get_view_options(env, &a, 1, &options) != 0) return NULL;
    if ((path = nk_get_string(env, a.argv[0], "path")) == NULL) return NULL;
    st = nearkit_index_view(&index, path, &options);
    free(path);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_wrap_index(env, index);
}

/* viewBuffer(bytes, verify, loadIfUnviewable) -> handle: a read-only view of the bytes in place
 * (nearkit_index_view_buffer); the handle references their ArrayBuffer while it is a view. */
static napi_value nk_view_buffer(napi_env env, napi_callback_info info) {
    nk_args a;
    const void *data;
    size_t size;
    napi_value ab;
    nearkit_view_options options;
    nearkit_index *index = NULL;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if (nk_get_view_options(env, &a, 1, &options) != 0) return NULL;
    if (nk_get_bytes(env, a.argv[0], &data, &size) != 0) return NULL;
    if (nk_backing_buffer(env, a.argv[0], &ab) != 0) {
        nk_throw_napi_failure(env);
        return NULL;
    }
    st = nearkit_index_view_buffer(&index, data, size, &options);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_wrap_index_keeping(env, index, ab);
}

/* copy(handle) -> handle: a writable in-memory copy (nearkit_index_copy), of a view or not. */
static napi_value nk_copy(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix, *copy = NULL;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    st = nearkit_index_copy(&copy, ix);
    nk_unlock(h);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_wrap_index(env, copy);
}

/* isView(handle) -> boolean; fixed when the handle is made, so no lock. */
static napi_value nk_is_view(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    napi_value v;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    NK_CALL(env, napi_get_boolean(env, nearkit_index_is_view(nk_peek(h)) != 0, &v));
    return v;
}

/* ---- Handle lifetime and introspection -------------------------------------------------------- */

/* 1 when `value` is a sharded collection's handle (else an index handle is expected). */
static int nk_is_sharded(napi_env env, napi_value value) {
    napi_valuetype type;
    bool tagged = false;
    return napi_typeof(env, value, &type) == napi_ok && type == napi_object &&
           napi_check_object_type_tag(env, value, &NK_SHARDED_TAG, &tagged) == napi_ok && tagged;
}

/* close(handle): idempotent; an index's or a sharded collection's handle. The memory is freed
 * at once, or when the last asynchronous operation on it completes. */
static napi_value nk_close(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nk_sharded *sh;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if (nk_is_sharded(env, a.argv[0])) {
        if ((sh = nk_get_sharded(env, a.argv[0], 0)) == NULL) return NULL;
        sh->closed = 1;
        if (sh->inflight == 0) nk_sharded_release(env, sh);
        return nk_undefined(env);
    }
    if ((h = nk_get_handle(env, a.argv[0], 0)) == NULL) return NULL;
    h->closed = 1;
    if (h->inflight == 0) nk_handle_release_index(env, h);
    return nk_undefined(env);
}

/* isClosed(handle): an index's or a sharded collection's handle. */
static napi_value nk_is_closed(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nk_sharded *sh;
    napi_value v;
    int closed;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if (nk_is_sharded(env, a.argv[0])) {
        if ((sh = nk_get_sharded(env, a.argv[0], 0)) == NULL) return NULL;
        closed = sh->closed;
    } else {
        if ((h = nk_get_handle(env, a.argv[0], 0)) == NULL) return NULL;
        closed = h->closed;
    }
    NK_CALL(env, napi_get_boolean(env, closed != 0, &v));
    return v;
}

/* info(handle) -> {kind, metric, vectorType, dimension, vectorBytes}: fixed at creation. */
static napi_value nk_info(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    napi_value obj;
    const nearkit_index *ix;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    ix = nk_peek(h);
    NK_CALL(env, napi_create_object(env, &obj));
    if (!nk_set_string_prop(env, obj, "kind", nearkit_kind_name(nearkit_index_kind(ix))) ||
        !nk_set_string_prop(env, obj, "metric", nearkit_metric_name(nearkit_index_metric(ix))) ||
        !nk_set_string_prop(env, obj, "vectorType",
                            h->vector_type == NEARKIT_VECTOR_BINARY ? "binary" : "float32") ||
        !nk_set_number_prop(env, obj, "dimension", nearkit_index_dimension(ix)) ||
        !nk_set_number_prop(env, obj, "vectorBytes", (double)h->vector_bytes))
        return NULL;
    return obj;
}

/* stats(handle) -> {count, memoryBytes, ready}: may change with add/build, so read locked. */
static napi_value nk_stats(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    napi_value obj;
    uint64_t count, memory;
    int32_t ready;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    count = nearkit_index_count(ix);
    memory = nearkit_index_memory_bytes(ix);
    ready = nearkit_index_is_ready(ix);
    nk_unlock(h);
    NK_CALL(env, napi_create_object(env, &obj));
    if (!nk_set_number_prop(env, obj, "count", (double)count) ||
        !nk_set_number_prop(env, obj, "memoryBytes", (double)memory) ||
        !nk_set_bool_prop(env, obj, "ready", ready))
        return NULL;
    return obj;
}

static napi_value nk_count(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    uint64_t count;
    napi_value v;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    count = nearkit_index_count(ix);
    nk_unlock(h);
    NK_CALL(env, napi_create_double(env, (double)count, &v));
    return v;
}

static napi_value nk_describe(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    char *text = NULL;
    nearkit_status st;
    napi_value v;
    napi_status ns;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    st = nearkit_index_describe(&text, ix);
    nk_unlock(h);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    ns = napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
    nearkit_string_free(text);
    NK_CALL(env, ns);
    return v;
}

/* ---- Named parameters ------------------------------------------------------------------------- */

/* paramInfo(handle) -> [{name, readOnly, build, integer, flags, minimum, maximum, default,
 * description}]: nearkit_index_param_describe of each parameter (default NaN for statistics). */
static napi_value nk_param_info(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    napi_value array;
    size_t count, i;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    count = nearkit_index_param_count(ix);
    nk_unlock(h);
    NK_CALL(env, napi_create_array_with_length(env, count, &array));
    for (i = 0; i < count; i++) {
        nearkit_param_info p = NEARKIT_PARAM_INFO_INIT;
        napi_value obj;
        nearkit_status st;
        if ((ix = nk_lock(env, h)) == NULL) return NULL;
        st = nearkit_index_param_describe(&p, ix, i);
        nk_unlock(h);
        if (st != NEARKIT_OK) return nk_throw_status(env, st);
        NK_CALL(env, napi_create_object(env, &obj));
        if (!nk_set_string_prop(env, obj, "name", p.name) ||
            !nk_set_bool_prop(env, obj, "readOnly", p.flags & NEARKIT_PARAM_FLAG_READ_ONLY) ||
            !nk_set_bool_prop(env, obj, "build", p.flags & NEARKIT_PARAM_FLAG_BUILD) ||
            !nk_set_bool_prop(env, obj, "integer", p.flags & NEARKIT_PARAM_FLAG_INTEGER) ||
            !nk_set_bool_prop(env, obj, "recall", p.flags & NEARKIT_PARAM_FLAG_RECALL) ||
            !nk_set_bool_prop(env, obj, "recallFine", p.flags & NEARKIT_PARAM_FLAG_RECALL_FINE) ||
            !nk_set_number_prop(env, obj, "flags", p.flags) ||
            !nk_set_number_prop(env, obj, "minimum", p.minimum) ||
            !nk_set_number_prop(env, obj, "maximum", p.maximum) ||
            !nk_set_number_prop(env, obj, "default", p.default_value) ||
            !nk_set_string_prop(env, obj, "description", p.description ? p.description : ""))
            return NULL;
        NK_CALL(env, napi_set_element(env, array, (uint32_t)i, obj));
    }
    return array;
}

/* getParam(handle, name) -> number */
static napi_value nk_get_param(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    char *name;
    double value = 0;
    nearkit_status st;
    napi_value v;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if ((name = nk_get_string(env, a.argv[1], "name")) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) {
        free(name);
        return NULL;
    }
    st = nearkit_index_get_param(&value, ix, name);
    nk_unlock(h);
    free(name);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    NK_CALL(env, napi_create_double(env, value, &v));
    return v;
}

/* setParam(handle, name, value) */
static napi_value nk_set_param(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    char *name;
    double value;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_double(env, a.argv[2], "value", &value) != 0) return NULL;
    if ((name = nk_get_string(env, a.argv[1], "name")) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) {
        free(name);
        return NULL;
    }
    st = nearkit_index_set_param(ix, name, value);
    nk_unlock(h);
    free(name);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_undefined(env);
}

/* ---- Synchronous operations ------------------------------------------------------------------- */

/* add(handle, vectors, ids?) */
static napi_value nk_add(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    nk_vectors v;
    const int64_t *ids;
    nearkit_status st;
    uint64_t memory;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_vectors(env, h, a.argv[1], "vectors", &v) != 0) return NULL;
    if (nk_get_ids(env, a.argv[2], v.n, &ids) != 0) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    st = nearkit_index_add(ix, v.type, v.data, v.n, ids);
    memory = nearkit_index_memory_bytes(ix);
    nk_unlock(h);
    nk_report_memory(env, h, memory);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_undefined(env);
}

/* train(handle, vectors) */
static napi_value nk_train(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    nk_vectors v;
    nearkit_status st;
    uint64_t memory;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_vectors(env, h, a.argv[1], "vectors", &v) != 0) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    st = nearkit_index_train(ix, v.type, v.data, v.n);
    memory = nearkit_index_memory_bytes(ix);
    nk_unlock(h);
    nk_report_memory(env, h, memory);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_undefined(env);
}

/* A writer call that takes only the index (build, compact): runs it, then reports the index's
 * new memory to the engine. */
static napi_value nk_run_writer(napi_env env, napi_callback_info info,
                                nearkit_status (*call)(nearkit_index *index)) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    nearkit_status st;
    uint64_t memory;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    st = call(ix);
    memory = nearkit_index_memory_bytes(ix);
    nk_unlock(h);
    nk_report_memory(env, h, memory);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_undefined(env);
}

/* build(handle) */
static napi_value nk_build(napi_env env, napi_callback_info info) {
    return nk_run_writer(env, info, nearkit_index_build);
}

/* search(handle, queries, k, options?) -> [ids, distances] (options: see nk_search_opts) */
static napi_value nk_search(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    nk_vectors q;
    uint64_t k;
    nk_search_opts o;
    nk_js_filter f;
    napi_value result_ab;
    void *result_data;
    int64_t *ids;
    float *dist;
    char what[96] = "the results";
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_vectors(env, h, a.argv[1], "queries", &q) != 0 ||
        nk_get_uint64(env, a.argv[2], "k", &k) != 0 || nk_check_result_size(env, q.n, k) != 0)
        return NULL;
    if (nk_get_search_options(env, a.argv[3], &o, 0) != 0) goto fail;
    /* One ArrayBuffer holds both results, the ids first (8-byte aligned), then the distances:
     * one allocation a call instead of two. The text naming the results is needed only where the
     * buffer can fail: a large one (making it costs more than a small search). */
    if (q.n * k * 12 > NK_SMALL_BUFFER_BYTES) nk_knn_what(what, sizeof what, q.n, k);
    if ((result_ab = nk_new_arraybuffer(env, q.n * k * 12, what, &result_data)) == NULL) goto fail;
    ids = result_data;
    dist = (float *)(ids + q.n * k);
    if ((ix = nk_lock(env, h)) == NULL) goto fail;
    if (o.fn != NULL) nk_sync_filter_begin(env, h, &o, &f);
    st = nearkit_index_search(ids, dist, ix, q.type, q.data, q.n, k, &o.opts);
    nk_unlock(h);
    nk_search_opts_free(&o);
    if (o.fn != NULL && nk_sync_filter_end(env, h, &f)) return NULL;
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    /* the ArrayBuffer alone: lib/index.js makes the two views on it, cheaper in JavaScript than
     * five Node-API calls */
    return result_ab;
fail:
    nk_search_opts_free(&o);
    return NULL;
}

/* The options of a tuning: k and the target, then undefined or {numThreads, maxValue,
 * maxSeconds} (each optional; 0 or absent: the library's default). */
static int nk_get_tune_options(napi_env env, napi_value k, napi_value target, napi_value extra,
                               nearkit_tune_options *o) {
    napi_valuetype type;
    napi_value v;
    nearkit_tune_options_init(o);
    if (nk_get_uint64(env, k, "k", &o->k) != 0 ||
        nk_get_double(env, target, "targetRecall", &o->target_recall) != 0)
        return -1;
    if (napi_typeof(env, extra, &type) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (type == napi_undefined || type == napi_null) return 0;
    if (type != napi_object) {
        nk_throw_type(env, "tune options must be an object");
        return -1;
    }
    if (nk_get_named(env, extra, "numThreads", &v) != 0 || napi_typeof(env, v, &type) != napi_ok ||
        (type != napi_undefined && nk_get_uint32(env, v, "numThreads", &o->num_threads) != 0))
        return -1;
    if (nk_get_named(env, extra, "maxValue", &v) != 0 || napi_typeof(env, v, &type) != napi_ok ||
        (type != napi_undefined && nk_get_double(env, v, "maxValue", &o->max_value) != 0))
        return -1;
    if (nk_get_named(env, extra, "maxSeconds", &v) != 0 || napi_typeof(env, v, &type) != napi_ok ||
        (type != napi_undefined && nk_get_double(env, v, "maxSeconds", &o->max_seconds) != 0))
        return -1;
    return 0;
}

/* {param (null for an exact kind), value, recall, qps, reached, measurements, fineParam (null
 * when no finer setting was chosen), fineValue} */
static napi_value nk_tune_result(napi_env env, const nearkit_tune_result *r) {
    napi_value obj;
    NK_CALL(env, napi_create_object(env, &obj));
    if (nk_set_string_prop(env, obj, "param", r->param) == NULL ||
        nk_set_number_prop(env, obj, "value", r->value) == NULL ||
        nk_set_number_prop(env, obj, "recall", r->recall) == NULL ||
        nk_set_number_prop(env, obj, "qps", r->qps) == NULL ||
        nk_set_bool_prop(env, obj, "reached", r->reached) == NULL ||
        nk_set_number_prop(env, obj, "measurements", r->measurements) == NULL ||
        nk_set_string_prop(env, obj, "fineParam", r->fine_param) == NULL ||
        nk_set_number_prop(env, obj, "fineValue", r->fine_value) == NULL)
        return NULL;
    return obj;
}

/* tune(handle, queries, k, targetRecall, options?) -> result (see nk_tune_result) */
static napi_value nk_tune(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    nk_vectors q;
    nearkit_tune_options o;
    nearkit_tune_result r = NEARKIT_TUNE_RESULT_INIT;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_vectors(env, h, a.argv[1], "queries", &q) != 0 ||
        nk_get_tune_options(env, a.argv[2], a.argv[3], a.argv[4], &o) != 0)
        return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    st = nearkit_index_tune(&r, ix, q.type, q.data, q.n, &o);
    nk_unlock(h);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_tune_result(env, &r);
}

/* rangeSearch(handle, queries, radius, options?) -> [offsets, ids, distances] */
static napi_value nk_range_search(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    nk_vectors q;
    double radius;
    nk_search_opts o;
    nk_js_filter f;
    nearkit_range_result *range = NULL;
    nearkit_status st;
    napi_value result;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_vectors(env, h, a.argv[1], "queries", &q) != 0 ||
        nk_get_double(env, a.argv[2], "radius", &radius) != 0)
        return NULL;
    if (nk_get_search_options(env, a.argv[3], &o, 0) != 0 || (ix = nk_lock(env, h)) == NULL) {
        nk_search_opts_free(&o);
        return NULL;
    }
    if (o.fn != NULL) nk_sync_filter_begin(env, h, &o, &f);
    st = nearkit_index_range_search(&range, ix, q.type, q.data, q.n, (float)radius,
                                    &o.opts);
    nk_unlock(h);
    nk_search_opts_free(&o);
    if (o.fn != NULL && nk_sync_filter_end(env, h, &f)) {
        nearkit_range_result_free(range);
        return NULL;
    }
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    result = nk_range_result(env, range);
    nearkit_range_result_free(range);
    return result;
}

/* remove(handle, ids: BigInt64Array) -> number of vectors removed */
static napi_value nk_remove(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    const int64_t *ids;
    uint64_t n, removed = 0, memory;
    nearkit_status st;
    napi_value v;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_id_list(env, a.argv[1], &ids, &n) != 0) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    st = nearkit_index_remove(&removed, ix, ids, n);
    memory = nearkit_index_memory_bytes(ix);
    nk_unlock(h);
    nk_report_memory(env, h, memory);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    NK_CALL(env, napi_create_double(env, (double)removed, &v));
    return v;
}

/* The stored vectors of `n` ids as a typed array of the index's vector type over `ab`. */
static napi_value nk_get_result(napi_env env, const nk_handle *h, napi_value vectors_ab,
                                napi_value found_ab, uint64_t n) {
    napi_value result, vectors, found;
    const int binary = h->vector_type == NEARKIT_VECTOR_BINARY;
    uint64_t elements = binary ? n * h->vector_bytes : n * h->vector_bytes / 4;
    NK_CALL(env, napi_create_typedarray(env, binary ? napi_uint8_array : napi_float32_array,
                                        (size_t)elements, vectors_ab, 0, &vectors));
    NK_CALL(env, napi_create_typedarray(env, napi_uint8_array, (size_t)n, found_ab, 0, &found));
    NK_CALL(env, napi_create_array_with_length(env, 2, &result));
    NK_CALL(env, napi_set_element(env, result, 0, vectors));
    NK_CALL(env, napi_set_element(env, result, 1, found));
    return result;
}

/* Checks that n rows of stored vectors fit in one typed array. */
static int nk_check_get_size(napi_env env, const nk_handle *h, uint64_t n) {
    char message[200];
    if (h->vector_bytes != 0 && n > (uint64_t)(nk_max_buffer_bytes / (double)h->vector_bytes)) {
        snprintf(message, sizeof message,
                 "reading back %llu vectors needs more than an ArrayBuffer can hold (%.0f bytes); "
                 "ask for fewer ids at a time",
                 (unsigned long long)n, nk_max_buffer_bytes);
        nk_throw_range(env, CODE_OUT_OF_MEMORY, message);
        return -1;
    }
    return 0;
}

/* get(handle, ids: BigInt64Array) -> [vectors, found: Uint8Array] */
static napi_value nk_get(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    const int64_t *ids;
    uint64_t n;
    napi_value vectors_ab, found_ab;
    void *vectors, *found;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_id_list(env, a.argv[1], &ids, &n) != 0 || nk_check_get_size(env, h, n) != 0)
        return NULL;
    if ((vectors_ab = nk_new_arraybuffer(env, n * h->vector_bytes, "the vectors read back",
                                         &vectors)) == NULL ||
        (found_ab = nk_new_arraybuffer(env, n, "the vectors read back", &found)) == NULL)
        return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    st = nearkit_index_get(vectors, found, ix, ids, n);
    nk_unlock(h);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_get_result(env, h, vectors_ab, found_ab, n);
}

/* contains(handle, id: bigint) -> boolean */
static napi_value nk_contains(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    int64_t id;
    int32_t found;
    napi_value v;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_id(env, a.argv[1], &id) != 0) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    found = nearkit_index_contains(ix, id);
    nk_unlock(h);
    NK_CALL(env, napi_get_boolean(env, found != 0, &v));
    return v;
}

/* compact(handle) */
static napi_value nk_compact(napi_env env, napi_callback_info info) {
    return nk_run_writer(env, info, nearkit_index_compact);
}

/* save(handle, path) */
static napi_value nk_save(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    char *path;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if ((path = nk_get_string(env, a.argv[1], "path")) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) {
        free(path);
        return NULL;
    }
    st = nearkit_index_save(ix, path);
    nk_unlock(h);
    free(path);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_undefined(env);
}

/* toBuffer(handle) -> Buffer */
static napi_value nk_to_buffer(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_handle *h;
    nearkit_index *ix;
    void *data = NULL;
    size_t size = 0;
    nearkit_status st;
    napi_value buffer;
    napi_status ns;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((h = nk_get_handle(env, a.argv[0], 1)) == NULL) return NULL;
    if ((ix = nk_lock(env, h)) == NULL) return NULL;
    st = nearkit_index_save_to_buffer(&data, &size, ix);
    nk_unlock(h);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    ns = napi_create_buffer_copy(env, size, data, NULL, &buffer);
    nearkit_buffer_free(data);
    NK_CALL(env, ns);
    return buffer;
}

/* ---- Asynchronous operations ------------------------------------------------------------------ */

typedef enum nk_op {
    OP_ADD,
    OP_TRAIN,
    OP_BUILD,
    OP_SEARCH,
    OP_RANGE,
    OP_SAVE,
    OP_LOAD,
    OP_LOAD_BUFFER,
    OP_VIEW,
    OP_VIEW_BUFFER,
    OP_COPY,
    OP_REMOVE,
    OP_GET,
    OP_COMPACT,
    OP_TUNE,
    OP_SHARDED_SEARCH,
    OP_SHARDED_SAVE,
    OP_SHARDED_OPEN
} nk_op;

/* Operations on a sharded collection (nk_sharded_work_execute runs them). */
static int nk_op_sharded(nk_op op) {
    return op == OP_SHARDED_SEARCH || op == OP_SHARDED_SAVE || op == OP_SHARDED_OPEN;
}

#define NK_MAX_REFS 1

/* What an asynchronous operation owns. JavaScript keeps running while the pool thread works, and
 * may detach (transfer) or shrink the ArrayBuffer behind any typed array it passed, and let the
 * garbage collector free the memory: so every input is copied into `input` / `input_ids` before
 * the work is queued, and results are written into malloc'ed memory that becomes an ArrayBuffer
 * only in the completion callback. The pool thread never touches JavaScript-owned memory. */
typedef struct nk_work {
    napi_async_work work;
    napi_deferred deferred;
    nk_op op;
    nk_handle *h;                 /* NULL for loads and sharded searches */
    struct nk_sharded *sh;        /* a sharded search's or save's collection, else NULL */
    nearkit_sharded_options shopts; /* a sharded open: its options */
    nearkit_sharded *opened;      /* a sharded open: the collection, until wrapped */
    napi_ref refs[NK_MAX_REFS];   /* keeps the handle object alive */
    int nrefs;
    /* inputs */
    const void *data;             /* `input`, or nk_empty */
    void *input;                  /* owned copy of the vectors or bytes */
    nearkit_vector_type type;     /* of the vectors in `input` */
    uint64_t n;
    size_t size;
    const int64_t *ids;           /* `input_ids`, nk_empty or NULL */
    int64_t *input_ids;           /* owned copy of the ids */
    uint64_t k;
    float radius;
    nk_search_opts sopts;         /* search options; their ids or bitmap copied */
    nearkit_tune_options topts;   /* tune: its options */
    nearkit_view_options vopts;   /* view: its options */
    nk_tsfn_filter *js_filter;    /* a function filter's thread-safe function, or NULL */
    char *path;
    /* outputs (owned until the completion callback hands them to JavaScript) */
    int64_t *out_ids;
    float *out_dist;
    nearkit_range_result *range;
    nearkit_index *loaded;
    void *out_vectors;            /* get: the rows read back */
    uint8_t *out_found;           /* get: found flags */
    uint64_t removed;             /* remove: vectors removed */
    nearkit_tune_result tuned;    /* tune: what was measured and set */
    uint64_t memory;              /* index memory after a write */
    nearkit_status status;
    char *message;
} nk_work;

/* Operations after which the index's memory is reported again (all run under the shared lock). */
static int nk_op_writes(nk_op op) {
    return op == OP_ADD || op == OP_TRAIN || op == OP_BUILD || op == OP_REMOVE || op == OP_COMPACT;
}

/* A sharded search on a pool thread. The collection outlives it (see nk_sharded). */
static void nk_sharded_work_execute(nk_work *w) {
    switch (w->op) {
    case OP_SHARDED_SEARCH:
        w->status = nearkit_sharded_search(w->out_ids, w->out_dist, w->sh->s, w->type, w->data,
                                           w->n, w->k, &w->sopts.opts);
        break;
    case OP_SHARDED_SAVE: w->status = nearkit_sharded_save(w->sh->s, w->path); break;
    case OP_SHARDED_OPEN: w->status = nearkit_sharded_open(&w->opened, w->path, &w->shopts); break;
    default: w->status = NEARKIT_ERR_INTERNAL; break;
    }
    /* The message is thread-local: read it here, on the thread that failed. */
    if (w->status != NEARKIT_OK) w->message = nk_strdup(nearkit_last_error_message());
}

static void nk_work_execute(napi_env env, void *data) {
    nk_work *w = data;
    nk_handle *h = w->h;
    nearkit_index *ix = NULL;
    nearkit_status st = NEARKIT_OK;
    (void)env;
    if (nk_op_sharded(w->op)) {
        nk_sharded_work_execute(w);
        return;
    }
    if (h != NULL) {
        ix = nkb_handle_acquire_read(h->shared);
        if (ix == NULL) {
            /* Cannot happen: the index is freed only once nothing is in flight. */
            w->status = NEARKIT_ERR_INTERNAL;
            w->message = nk_strdup("the index was freed while an operation was queued");
            return;
        }
    }
    switch (w->op) {
    case OP_ADD: st = nearkit_index_add(ix, w->type, w->data, w->n, w->ids); break;
    case OP_TRAIN: st = nearkit_index_train(ix, w->type, w->data, w->n); break;
    case OP_BUILD: st = nearkit_index_build(ix); break;
    case OP_SEARCH:
        st = nearkit_index_search(w->out_ids, w->out_dist, ix, w->type, w->data, w->n, w->k,
                                  &w->sopts.opts);
        break;
    case OP_RANGE:
        st = nearkit_index_range_search(&w->range, ix, w->type, w->data, w->n, w->radius,
                                        &w->sopts.opts);
        break;
    case OP_REMOVE: st = nearkit_index_remove(&w->removed, ix, w->ids, w->n); break;
    case OP_GET: st = nearkit_index_get(w->out_vectors, w->out_found, ix, w->ids, w->n); break;
    case OP_COMPACT: st = nearkit_index_compact(ix); break;
    case OP_TUNE: st = nearkit_index_tune(&w->tuned, ix, w->type, w->data, w->n, &w->topts); break;
    case OP_SAVE: st = nearkit_index_save(ix, w->path); break;
    case OP_LOAD: st = nearkit_index_load(&w->loaded, w->path); break;
    case OP_LOAD_BUFFER:
        st = nearkit_index_load_from_buffer(&w->loaded, w->data, w->size);
        break;
    case OP_VIEW: st = nearkit_index_view(&w->loaded, w->path, &w->vopts); break;
    case OP_VIEW_BUFFER: st = nearkit_index_view_buffer(&w->loaded, w->data, w->size, &w->vopts); break;
    case OP_COPY: st = nearkit_index_copy(&w->loaded, ix); break;
    case OP_SHARDED_SEARCH: case OP_SHARDED_SAVE: case OP_SHARDED_OPEN:
        break; /* nk_sharded_work_execute */
    }
    /* The message is thread-local: read it here, on the thread that failed. */
    if (st != NEARKIT_OK) w->message = nk_strdup(nearkit_last_error_message());
    if (h != NULL) {
        if (nk_op_writes(w->op)) w->memory = nearkit_index_memory_bytes(ix);
        nkb_handle_release_read(h->shared);
    }
    w->status = st;
}

static void nk_work_free(napi_env env, nk_work *w) {
    int i;
    for (i = 0; i < w->nrefs; i++) napi_delete_reference(env, w->refs[i]);
    if (w->work != NULL) napi_delete_async_work(env, w->work);
    nearkit_range_result_free(w->range);
    nearkit_index_free(w->loaded);
    nearkit_sharded_free(w->opened);
    free(w->input);
    free(w->input_ids);
    free(w->out_ids);
    free(w->out_dist);
    free(w->out_vectors);
    free(w->out_found);
    nk_search_opts_free(&w->sopts);
    if (w->js_filter != NULL) {
        if (w->js_filter->error != NULL) napi_delete_reference(env, w->js_filter->error);
        if (w->js_filter->tsfn != NULL)
            napi_release_threadsafe_function(w->js_filter->tsfn, napi_tsfn_release);
        free(w->js_filter);
    }
    free(w->path);
    free(w->message);
    free(w);
}

/* The k-NN result of a finished search, made from the work's own result memory (taken over). */
static napi_value nk_work_search_result(napi_env env, nk_work *w) {
    napi_value ids_ab, dist_ab;
    void *ignored;
    uint64_t total = w->n * w->k;
    int64_t *ids = w->out_ids;
    float *dist = w->out_dist;
    w->out_ids = NULL;
    w->out_dist = NULL;
    if ((ids_ab = nk_adopt_arraybuffer(env, ids, total * 8, &ignored)) == NULL) {
        free(dist);
        return NULL;
    }
    if ((dist_ab = nk_adopt_arraybuffer(env, dist, total * 4, &ignored)) == NULL) return NULL;
    return nk_search_result(env, ids_ab, 0, dist_ab, 0, w->n, w->k);
}

/* The rows of a finished get, made from the work's own memory (taken over). */
static napi_value nk_work_get_result(napi_env env, nk_work *w) {
    napi_value vectors_ab, found_ab;
    void *ignored;
    void *vectors = w->out_vectors;
    uint8_t *found = w->out_found;
    w->out_vectors = NULL;
    w->out_found = NULL;
    if ((vectors_ab = nk_adopt_arraybuffer(env, vectors, w->n * w->h->vector_bytes, &ignored)) ==
        NULL) {
        free(found);
        return NULL;
    }
    if ((found_ab = nk_adopt_arraybuffer(env, found, w->n, &ignored)) == NULL) return NULL;
    return nk_get_result(env, w->h, vectors_ab, found_ab, w->n);
}

/* Called once per queued operation, on the JavaScript thread, after it ran (or failed to queue). */
static void nk_work_release_handle(napi_env env, nk_work *w) {
    nk_handle *h = w->h;
    if (w->sh != NULL) nk_sharded_work_done(env, w->sh);
    if (h == NULL) return;
    if (nk_op_writes(w->op) && nk_peek(h) != NULL)
        nk_report_memory(env, h, w->memory);
    if (w->js_filter != NULL) h->js_filters--;
    h->inflight--;
    if (h->inflight == 0 && h->closed) {
        if (h->finalized) nk_handle_destroy(env, h);
        else nk_handle_release_index(env, h);
    }
}

static void nk_work_complete(napi_env env, napi_status status, void *data) {
    nk_work *w = data;
    napi_value result = NULL, error = NULL;
    if (status != napi_ok) {
        napi_value code, message;
        napi_create_string_utf8(env, CODE_INTERNAL, NAPI_AUTO_LENGTH, &code);
        napi_create_string_utf8(env, status == napi_cancelled ? "the operation was cancelled"
                                                              : "the operation failed to run",
                                NAPI_AUTO_LENGTH, &message);
        napi_create_error(env, code, message, &error);
    } else if (w->js_filter != NULL &&
               nk_throw_filter_failure(env, &w->js_filter->failed, &w->js_filter->error, &error)) {
        /* the filter function threw (or could not be called): its error is the search's */
    } else if (w->status != NEARKIT_OK) {
        error = nk_make_status_error(env, w->status, w->message);
    } else {
        switch (w->op) {
        case OP_SEARCH: case OP_SHARDED_SEARCH:
            result = nk_work_search_result(env, w);
            break;
        case OP_RANGE:
            result = nk_range_result(env, w->range);
            break;
        case OP_LOAD: case OP_LOAD_BUFFER: case OP_VIEW: case OP_COPY:
            result = nk_wrap_index(env, w->loaded);
            w->loaded = NULL; /* owned by the handle now, or freed by nk_wrap_index */
            break;
        case OP_VIEW_BUFFER: {
            napi_value ab = NULL;
            if (napi_get_reference_value(env, w->refs[0], &ab) != napi_ok) ab = NULL;
            result = ab != NULL ? nk_wrap_index_keeping(env, w->loaded, ab) : NULL;
            if (ab == NULL) nearkit_index_free(w->loaded);
            w->loaded = NULL;
            break;
        }
        case OP_SHARDED_OPEN:
            result = nk_wrap_sharded(env, w->opened);
            w->opened = NULL; /* owned by the handle now, or freed by nk_wrap_sharded */
            break;
        case OP_REMOVE:
            if (napi_create_double(env, (double)w->removed, &result) != napi_ok) result = NULL;
            break;
        case OP_GET:
            result = nk_work_get_result(env, w);
            break;
        case OP_TUNE:
            result = nk_tune_result(env, &w->tuned);
            break;
        default:
            napi_get_undefined(env, &result);
            break;
        }
        if (result == NULL) {
            /* Converting the result threw: reject with that exception. */
            bool pending = false;
            napi_is_exception_pending(env, &pending);
            if (pending) napi_get_and_clear_last_exception(env, &error);
            if (error == NULL) {
                napi_value code, message;
                napi_create_string_utf8(env, CODE_INTERNAL, NAPI_AUTO_LENGTH, &code);
                napi_create_string_utf8(env, "could not convert the result", NAPI_AUTO_LENGTH,
                                        &message);
                napi_create_error(env, code, message, &error);
            }
        }
    }
    if (error != NULL) napi_reject_deferred(env, w->deferred, error);
    else napi_resolve_deferred(env, w->deferred, result);
    nk_work_release_handle(env, w);
    nk_work_free(env, w);
}

static nk_work *nk_work_new(napi_env env, nk_op op) {
    nk_work *w = calloc(1, sizeof *w);
    if (w == NULL) nk_throw(env, CODE_OUT_OF_MEMORY, "out of memory queueing an operation");
    else w->op = op;
    return w;
}

static int nk_work_keep(napi_env env, nk_work *w, napi_value value) {
    if (w->nrefs >= NK_MAX_REFS || napi_create_reference(env, value, 1, &w->refs[w->nrefs]) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    w->nrefs++;
    return 0;
}

/* Queues `w` (which must already hold references to what it uses) and returns its promise. On
 * failure frees `w` and returns NULL with an exception pending. */
static napi_value nk_work_queue(napi_env env, nk_work *w) {
    napi_value promise, name;
    if (napi_create_string_utf8(env, "nearkit", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_promise(env, &w->deferred, &promise) != napi_ok ||
        napi_create_async_work(env, NULL, name, nk_work_execute, nk_work_complete, w, &w->work) !=
            napi_ok) {
        nk_throw_napi_failure(env);
        nk_work_free(env, w);
        return NULL;
    }
    if (w->h != NULL) w->h->inflight++;
    if (w->sh != NULL) w->sh->inflight++;
    if (w->h != NULL && w->js_filter != NULL) w->h->js_filters++;
    if (napi_queue_async_work(env, w->work) != napi_ok) {
        /* The promise was never returned, so nobody waits on it. */
        w->op = OP_SEARCH; /* ran nothing: report no memory change */
        nk_work_release_handle(env, w);
        nk_throw_napi_failure(env);
        nk_work_free(env, w);
        return NULL;
    }
    return promise;
}

/* Starts an operation on an index handle: checks it and keeps it alive. */
static nk_work *nk_work_on_handle(napi_env env, nk_args *a, nk_op op) {
    nk_handle *h = nk_get_handle(env, a->argv[0], 1);
    nk_work *w;
    if (h == NULL) return NULL;
    if (nk_viewed_detached(env, h)) return nk_throw_detached(env);
    if ((w = nk_work_new(env, op)) == NULL) return NULL;
    w->h = h;
    if (nk_work_keep(env, w, a->argv[0]) != 0) {
        w->h = NULL;
        nk_work_free(env, w);
        return NULL;
    }
    return w;
}

#define NK_FAIL_WORK(env, w)                                                                      \
    do {                                                                                          \
        (w)->h = NULL;                                                                            \
        (w)->sh = NULL;                                                                           \
        nk_work_free(env, w);                                                                     \
        return NULL;                                                                              \
    } while (0)

/* malloc that throws a RangeError (code ERR_NEARKIT_OUT_OF_MEMORY) naming `what` on failure.
 * Zero bytes give NULL without an error. */
static void *nk_work_alloc(napi_env env, uint64_t bytes, const char *what, int *failed) {
    void *p;
    char message[200];
    *failed = 0;
    if (bytes == 0) return NULL;
    p = bytes <= SIZE_MAX ? malloc((size_t)bytes) : NULL;
    if (p == NULL) {
        snprintf(message, sizeof message, "out of memory allocating %llu bytes for %s",
                 (unsigned long long)bytes, what);
        nk_throw_range(env, CODE_OUT_OF_MEMORY, message);
        *failed = 1;
    }
    return p;
}

/* Copies `bytes` bytes of JavaScript memory into the work's own input (see nk_work): the copy is
 * what the pool thread reads. */
static int nk_work_copy_input(napi_env env, nk_work *w, const void *data, uint64_t bytes) {
    int failed;
    w->input = nk_work_alloc(env, bytes, "a copy of the input", &failed);
    if (failed) return -1;
    if (bytes > 0) memcpy(w->input, data, (size_t)bytes);
    w->data = bytes > 0 ? (const void *)w->input : (const void *)nk_empty;
    return 0;
}

/* Copies checked vectors into the work. */
static int nk_work_take_vectors(napi_env env, nk_work *w, const nk_vectors *v) {
    w->n = v->n;
    w->type = v->type;
    return nk_work_copy_input(env, w, v->data, v->bytes);
}

/* Copies the vectors argument `value` (checked against the handle's vector type). */
static int nk_work_copy_vectors(napi_env env, nk_work *w, napi_value value, const char *what) {
    nk_vectors v;
    if (nk_get_vectors(env, w->h, value, what, &v) != 0) return -1;
    return nk_work_take_vectors(env, w, &v);
}

/* Copies the optional ids argument `value` (n entries, or undefined / null). */
static int nk_work_copy_ids(napi_env env, nk_work *w, napi_value value) {
    const int64_t *ids;
    int failed;
    if (nk_get_ids(env, value, w->n, &ids) != 0) return -1;
    if (ids == NULL) return 0;
    w->input_ids = nk_work_alloc(env, w->n * 8, "a copy of the ids", &failed);
    if (failed) return -1;
    if (w->n > 0) memcpy(w->input_ids, ids, (size_t)(w->n * 8));
    w->ids = w->n > 0 ? w->input_ids : (const int64_t *)nk_empty;
    return 0;
}

/* addAsync / trainAsync (handle, vectors, ids?) -> Promise<void>. The vectors are copied once
 * here (the index copies them again when it stores them): a memcpy, cheap next to the add. */
static napi_value nk_add_or_train_async(napi_env env, napi_callback_info info, nk_op op) {
    nk_args a;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, op)) == NULL) return NULL;
    if (nk_work_copy_vectors(env, w, a.argv[1], "vectors") != 0) NK_FAIL_WORK(env, w);
    if (op == OP_ADD && nk_work_copy_ids(env, w, a.argv[2]) != 0) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

static napi_value nk_add_async(napi_env env, napi_callback_info info) {
    return nk_add_or_train_async(env, info, OP_ADD);
}

static napi_value nk_train_async(napi_env env, napi_callback_info info) {
    return nk_add_or_train_async(env, info, OP_TRAIN);
}

/* buildAsync(handle) -> Promise<void> */
static napi_value nk_build_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, OP_BUILD)) == NULL) return NULL;
    return nk_work_queue(env, w);
}

/* Reads the options of an asynchronous search into the work (the filter's ids or bitmap copied)
 * and, for a function filter, makes the thread-safe function its predicate asks through. */
static int nk_work_search_options(napi_env env, nk_work *w, napi_value value) {
    napi_value name;
    nk_tsfn_filter *f;
    if (nk_get_search_options(env, value, &w->sopts, 1) != 0) return -1;
    if (w->sopts.fn == NULL) return 0;
    if ((f = calloc(1, sizeof *f)) == NULL) {
        nk_throw_range(env, CODE_OUT_OF_MEMORY, "out of memory for a filter function");
        return -1;
    }
    atomic_init(&f->failed, 0);
    w->js_filter = f;
    if (napi_create_string_utf8(env, "nearkit filter", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_threadsafe_function(env, w->sopts.fn, NULL, name, 0, 1, NULL, NULL, f,
                                        nk_tsfn_filter_answer, &f->tsfn) != napi_ok) {
        f->tsfn = NULL;
        nk_throw_napi_failure(env);
        return -1;
    }
    w->sopts.fn = NULL; /* a napi_value of this call only; the thread-safe function holds it */
    w->sopts.filter.predicate = nk_tsfn_filter_predicate;
    w->sopts.filter.context = f;
    return 0;
}

/* searchAsync(handle, queries, k, options?) -> Promise<[ids, distances]> */
static napi_value nk_search_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    nk_vectors q;
    int failed;
    char what[96];
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, OP_SEARCH)) == NULL) return NULL;
    if (nk_get_vectors(env, w->h, a.argv[1], "queries", &q) != 0 ||
        nk_get_uint64(env, a.argv[2], "k", &w->k) != 0 ||
        nk_check_result_size(env, q.n, w->k) != 0 || nk_work_search_options(env, w, a.argv[3]) != 0)
        NK_FAIL_WORK(env, w);
    if (nk_work_take_vectors(env, w, &q) != 0) NK_FAIL_WORK(env, w);
    nk_knn_what(what, sizeof what, q.n, w->k);
    w->out_ids = nk_work_alloc(env, q.n * w->k * 8, what, &failed);
    if (failed) NK_FAIL_WORK(env, w);
    w->out_dist = nk_work_alloc(env, q.n * w->k * 4, what, &failed);
    if (failed) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* tuneAsync(handle, queries, k, targetRecall, options?) -> Promise<result> (as tune) */
static napi_value nk_tune_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, OP_TUNE)) == NULL) return NULL;
    w->tuned = (nearkit_tune_result)NEARKIT_TUNE_RESULT_INIT;
    if (nk_get_tune_options(env, a.argv[2], a.argv[3], a.argv[4], &w->topts) != 0 ||
        nk_work_copy_vectors(env, w, a.argv[1], "queries") != 0)
        NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* rangeSearchAsync(handle, queries, radius, options?) -> Promise<[offsets, ids, distances]> */
static napi_value nk_range_search_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    nk_vectors q;
    double radius;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, OP_RANGE)) == NULL) return NULL;
    if (nk_get_vectors(env, w->h, a.argv[1], "queries", &q) != 0 ||
        nk_get_double(env, a.argv[2], "radius", &radius) != 0 ||
        nk_work_search_options(env, w, a.argv[3]) != 0)
        NK_FAIL_WORK(env, w);
    w->radius = (float)radius;
    if (nk_work_take_vectors(env, w, &q) != 0) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* Copies an id list argument (any length) into the work: w->ids, w->n. */
static int nk_work_copy_id_list(napi_env env, nk_work *w, napi_value value) {
    const int64_t *ids;
    int failed;
    if (nk_get_id_list(env, value, &ids, &w->n) != 0) return -1;
    w->input_ids = nk_work_alloc(env, w->n * 8, "a copy of the ids", &failed);
    if (failed) return -1;
    if (w->n > 0) memcpy(w->input_ids, ids, (size_t)(w->n * 8));
    w->ids = w->n > 0 ? w->input_ids : (const int64_t *)nk_empty;
    return 0;
}

/* removeAsync(handle, ids) -> Promise<number> */
static napi_value nk_remove_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, OP_REMOVE)) == NULL) return NULL;
    if (nk_work_copy_id_list(env, w, a.argv[1]) != 0) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* getAsync(handle, ids) -> Promise<[vectors, found]> */
static napi_value nk_get_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    int failed;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, OP_GET)) == NULL) return NULL;
    if (nk_work_copy_id_list(env, w, a.argv[1]) != 0 || nk_check_get_size(env, w->h, w->n) != 0)
        NK_FAIL_WORK(env, w);
    w->out_vectors = nk_work_alloc(env, w->n * w->h->vector_bytes, "the vectors read back", &failed);
    if (failed) NK_FAIL_WORK(env, w);
    w->out_found = nk_work_alloc(env, w->n, "the vectors read back", &failed);
    if (failed) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* compactAsync(handle) -> Promise<void> */
static napi_value nk_compact_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, OP_COMPACT)) == NULL) return NULL;
    return nk_work_queue(env, w);
}

/* saveAsync(handle, path) -> Promise<void> */
static napi_value nk_save_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, OP_SAVE)) == NULL) return NULL;
    if ((w->path = nk_get_string(env, a.argv[1], "path")) == NULL) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* loadAsync(path) -> Promise<handle> */
static napi_value nk_load_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_new(env, OP_LOAD)) == NULL) return NULL;
    if ((w->path = nk_get_string(env, a.argv[0], "path")) == NULL) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* loadBufferAsync(bytes) -> Promise<handle>. The bytes are copied (the index file's size, held
 * until the load finishes): the caller may detach or reuse its buffer at once. */
static napi_value nk_load_buffer_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    const void *bytes;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_new(env, OP_LOAD_BUFFER)) == NULL) return NULL;
    if (nk_get_bytes(env, a.argv[0], &bytes, &w->size) != 0 ||
        nk_work_copy_input(env, w, bytes, w->size) != 0)
        NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* viewAsync(path, verify, loadIfUnviewable) -> Promise<handle>: a view opened on the pool
 * (verify reads the file). */
static napi_value nk_view_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    nearkit_view_options options;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if (nk_get_view_options(env, &a, 1, &options) != 0) return NULL;
    if ((w = nk_work_new(env, OP_VIEW)) == NULL) return NULL;
    w->vopts = options;
    if ((w->path = nk_get_string(env, a.argv[0], "path")) == NULL) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* viewBufferAsync(bytes, verify, loadIfUnviewable) -> Promise<handle>: viewBuffer on the pool,
 * the ArrayBuffer referenced by the work (its first reference) and then by the handle. */
static napi_value nk_view_buffer_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    napi_value ab;
    nearkit_view_options options;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if (nk_get_view_options(env, &a, 1, &options) != 0) return NULL;
    if ((w = nk_work_new(env, OP_VIEW_BUFFER)) == NULL) return NULL;
    w->vopts = options;
    if (nk_get_bytes(env, a.argv[0], &w->data, &w->size) != 0) NK_FAIL_WORK(env, w);
    if (nk_backing_buffer(env, a.argv[0], &ab) != 0) {
        nk_throw_napi_failure(env);
        NK_FAIL_WORK(env, w);
    }
    if (nk_work_keep(env, w, ab) != 0) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* copyAsync(handle) -> Promise<handle>: nearkit_index_copy on the pool, beside searches. */
static napi_value nk_copy_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_on_handle(env, &a, OP_COPY)) == NULL) return NULL;
    return nk_work_queue(env, w);
}

/* ---- Sharded collections ---------------------------------------------------------------------- */

/* Options of a collection: numThreads (undefined: the library's default). Throws on failure. */
static int nk_get_sharded_options(napi_env env, napi_value threads, nearkit_sharded_options *o) {
    nearkit_sharded_options_init(o);
    if (nk_is_nullish(env, threads)) return 0;
    return nk_get_uint32(env, threads, "numThreads", &o->num_threads);
}

/* The options of a sharded open: the threads as above and `view` (nullish: false), the
 * view_shards flag (lib/index.js has checked it is a boolean). */
static int nk_get_sharded_open_options(napi_env env, napi_value threads, napi_value view,
                                       nearkit_sharded_options *o) {
    bool view_shards = false;
    if (nk_get_sharded_options(env, threads, o) != 0) return -1;
    if (!nk_is_nullish(env, view) && napi_get_value_bool(env, view, &view_shards) != napi_ok) {
        nk_throw_type(env, "view must be a boolean");
        return -1;
    }
    o->view_shards = view_shards ? 1 : 0;
    return 0;
}

/* shardedCreate(numThreads?) -> sharded handle (no shards yet) */
static napi_value nk_sharded_create(napi_env env, napi_callback_info info) {
    nk_args a;
    nearkit_sharded_options o;
    nearkit_sharded *s = NULL;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0 || nk_get_sharded_options(env, a.argv[0], &o) != 0)
        return NULL;
    if ((st = nearkit_sharded_create(&s, &o)) != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_wrap_sharded(env, s);
}

/* shardedOpen(path, numThreads?, view?) -> sharded handle */
static napi_value nk_sharded_open(napi_env env, napi_callback_info info) {
    nk_args a;
    nearkit_sharded_options o;
    nearkit_sharded *s = NULL;
    nearkit_status st;
    char *path;
    if (nk_get_args(env, info, &a) != 0 || nk_get_sharded_open_options(env, a.argv[1], a.argv[2], &o) != 0)
        return NULL;
    if ((path = nk_get_string(env, a.argv[0], "path")) == NULL) return NULL;
    st = nearkit_sharded_open(&s, path, &o);
    free(path);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_wrap_sharded(env, s);
}

/* The bytes of one vector of the collection (0 while it has no shard). */
static uint64_t nk_sharded_vector_bytes(const nearkit_sharded *s) {
    const nearkit_index *first = nearkit_sharded_shard(s, 0);
    return first != NULL ? nearkit_index_vector_bytes(first) : 0;
}

/* shardedInfo(sharded) -> {shardCount, count, dimension, metric, vectorType, vectorBytes,
 * memoryBytes}; metric and vectorType null while there is no shard. */
static napi_value nk_sharded_info(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_sharded *sh;
    napi_value obj;
    int any;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((sh = nk_get_sharded(env, a.argv[0], 1)) == NULL) return NULL;
    any = nearkit_sharded_shard_count(sh->s) > 0;
    NK_CALL(env, napi_create_object(env, &obj));
    if (!nk_set_number_prop(env, obj, "shardCount", (double)nearkit_sharded_shard_count(sh->s)) ||
        !nk_set_number_prop(env, obj, "count", (double)nearkit_sharded_count(sh->s)) ||
        !nk_set_number_prop(env, obj, "dimension", nearkit_sharded_dimension(sh->s)) ||
        !nk_set_string_prop(env, obj, "metric",
                            any ? nearkit_metric_name(nearkit_sharded_metric(sh->s)) : NULL) ||
        !nk_set_string_prop(env, obj, "vectorType",
                            !any ? NULL
                            : nearkit_sharded_vector_type(sh->s) == NEARKIT_VECTOR_BINARY ? "binary"
                                                                                         : "float32") ||
        !nk_set_number_prop(env, obj, "vectorBytes", (double)nk_sharded_vector_bytes(sh->s)) ||
        !nk_set_number_prop(env, obj, "memoryBytes", (double)nearkit_sharded_memory_bytes(sh->s)))
        return NULL;
    return obj;
}

/* shardedAddShard(sharded, index): the collection takes the index over (nearkit_sharded_add_shard
 * owns its shards), so the index handle is closed on success without freeing it; on failure it
 * stays open and the caller's. */
static napi_value nk_sharded_add_shard(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_sharded *sh;
    nk_handle *h;
    nearkit_index *ix;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((sh = nk_get_sharded(env, a.argv[0], 1)) == NULL) return NULL;
    if ((h = nk_get_handle(env, a.argv[1], 1)) == NULL) return NULL;
    /* Handing the index over needs it idle: its asynchronous operations use it until they
     * complete, and a search with a function filter (which may be what called this) holds its
     * lock on this very thread. */
    if (h->inflight > 0 || h->js_filters > 0)
        return nk_throw(env, CODE_STATE,
                        "the index has operations in flight: await them before adding it as a shard");
    /* Nothing else holds the lock (no operation in flight), so this does not wait. */
    if ((ix = nkb_handle_acquire_write(h->shared)) == NULL)
        return nk_throw(env, CODE_CLOSED, "the index is closed");
    st = nearkit_sharded_add_shard(sh->s, ix);
    if (st != NEARKIT_OK) {
        nkb_handle_release_write(h->shared);
        return nk_throw_status(env, st);
    }
    nkb_handle_disown(h->shared);
    h->closed = 1;
    nk_report_memory(env, h, 0);
    nk_adjust_memory(env, &sh->reported, nearkit_sharded_memory_bytes(sh->s));
    return nk_undefined(env);
}

/* Checks a collection's queries: the library's STATE error while it has no shard (its vector
 * type is not known yet), else the queries read as its vectors. Throws and returns -1 on
 * failure. */
static int nk_get_sharded_queries(napi_env env, const nk_sharded *sh, napi_value value,
                                  nk_vectors *out) {
    if (nearkit_sharded_shard_count(sh->s) == 0) {
        nearkit_status st = nearkit_sharded_search((int64_t *)nk_empty, (float *)nk_empty, sh->s,
                                                   NEARKIT_VECTOR_FLOAT32, nk_empty, 0, 1, NULL);
        nk_throw_status(env, st);
        return -1;
    }
    return nk_get_vectors_as(env, nearkit_sharded_vector_type(sh->s), nk_sharded_vector_bytes(sh->s),
                             value, "queries", out);
}

/* A sharded search takes an id list or bitmap filter, not a function (see nk_sharded). */
static int nk_refuse_function_filter(napi_env env, const nk_search_opts *o) {
    if (o->filter.type != NEARKIT_FILTER_PREDICATE) return 0;
    nk_throw_type(env, "a ShardedIndex search takes an id list or a bitmap as its filter, not a "
                       "function");
    return -1;
}

/* shardedSearch(sharded, queries, k, options?) -> [ids, distances] */
static napi_value nk_sharded_search(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_sharded *sh;
    nk_vectors q;
    uint64_t k;
    nk_search_opts o;
    napi_value result_ab;
    void *result_data;
    int64_t *ids;
    char what[96];
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((sh = nk_get_sharded(env, a.argv[0], 1)) == NULL) return NULL;
    if (nk_get_sharded_queries(env, sh, a.argv[1], &q) != 0 ||
        nk_get_uint64(env, a.argv[2], "k", &k) != 0 || nk_check_result_size(env, q.n, k) != 0)
        return NULL;
    if (nk_get_search_options(env, a.argv[3], &o, 0) != 0 || nk_refuse_function_filter(env, &o) != 0)
        goto fail;
    nk_knn_what(what, sizeof what, q.n, k);
    /* ids then distances in one buffer, as nk_search */
    if ((result_ab = nk_new_arraybuffer(env, q.n * k * 12, what, &result_data)) == NULL) goto fail;
    ids = result_data;
    st = nearkit_sharded_search(ids, (float *)(ids + q.n * k), sh->s, q.type, q.data, q.n, k,
                                &o.opts);
    nk_search_opts_free(&o);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return result_ab; /* lib/index.js makes the views (knnResult) */
fail:
    nk_search_opts_free(&o);
    return NULL;
}

/* shardedSearchAsync(sharded, queries, k, options?) -> Promise<[ids, distances]> */
static napi_value nk_sharded_search_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_sharded *sh;
    nk_work *w;
    nk_vectors q;
    int failed;
    char what[96];
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((sh = nk_get_sharded(env, a.argv[0], 1)) == NULL) return NULL;
    if ((w = nk_work_new(env, OP_SHARDED_SEARCH)) == NULL) return NULL;
    w->sh = sh;
    if (nk_work_keep(env, w, a.argv[0]) != 0) NK_FAIL_WORK(env, w);
    if (nk_get_sharded_queries(env, sh, a.argv[1], &q) != 0 ||
        nk_get_uint64(env, a.argv[2], "k", &w->k) != 0 || nk_check_result_size(env, q.n, w->k) != 0 ||
        nk_get_search_options(env, a.argv[3], &w->sopts, 1) != 0 ||
        nk_refuse_function_filter(env, &w->sopts) != 0 || nk_work_take_vectors(env, w, &q) != 0)
        NK_FAIL_WORK(env, w);
    nk_knn_what(what, sizeof what, q.n, w->k);
    w->out_ids = nk_work_alloc(env, q.n * w->k * 8, what, &failed);
    if (failed) NK_FAIL_WORK(env, w);
    w->out_dist = nk_work_alloc(env, q.n * w->k * 4, what, &failed);
    if (failed) NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* shardedSave(sharded, dir) */
static napi_value nk_sharded_save(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_sharded *sh;
    char *path;
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((sh = nk_get_sharded(env, a.argv[0], 1)) == NULL) return NULL;
    if ((path = nk_get_string(env, a.argv[1], "path")) == NULL) return NULL;
    st = nearkit_sharded_save(sh->s, path);
    free(path);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return nk_undefined(env);
}

/* shardedSaveAsync(sharded, dir) -> Promise<void> */
static napi_value nk_sharded_save_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_sharded *sh;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((sh = nk_get_sharded(env, a.argv[0], 1)) == NULL) return NULL;
    if ((w = nk_work_new(env, OP_SHARDED_SAVE)) == NULL) return NULL;
    w->sh = sh;
    if (nk_work_keep(env, w, a.argv[0]) != 0 ||
        (w->path = nk_get_string(env, a.argv[1], "path")) == NULL)
        NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* shardedOpenAsync(dir, numThreads?, view?) -> Promise<sharded handle> */
static napi_value nk_sharded_open_async(napi_env env, napi_callback_info info) {
    nk_args a;
    nk_work *w;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if ((w = nk_work_new(env, OP_SHARDED_OPEN)) == NULL) return NULL;
    if (nk_get_sharded_open_options(env, a.argv[1], a.argv[2], &w->shopts) != 0 ||
        (w->path = nk_get_string(env, a.argv[0], "path")) == NULL)
        NK_FAIL_WORK(env, w);
    return nk_work_queue(env, w);
}

/* ---- Merging answers computed apart ----------------------------------------------------------- */

/* The typed array `value` of `type` (borrowed); throws a TypeError naming `what` otherwise. */
static int nk_get_typed(napi_env env, napi_value value, napi_typedarray_type want, const char *what,
                        void **data, size_t *length) {
    bool is_typed = false;
    napi_typedarray_type type;
    char message[160];
    if (napi_is_typedarray(env, value, &is_typed) != napi_ok ||
        (is_typed &&
         napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok)) {
        nk_throw_napi_failure(env);
        return -1;
    }
    if (!is_typed || type != want) {
        snprintf(message, sizeof message, "%s must be a %s", what,
                 want == napi_bigint64_array ? "BigInt64Array (or an array of integers)"
                                             : "Float32Array (or an array of numbers)");
        nk_throw_type(env, message);
        return -1;
    }
    if (*data == NULL || *length == 0) *data = nk_empty;
    return 0;
}

/* Part p of a merge: its ids and distances (n rows of part->k entries; n from part 0, *n set
 * there). Throws and returns -1 when the part is not of that shape. */
static int nk_get_knn_part(napi_env env, napi_value ids_list, napi_value dist_list,
                           napi_value k_list, uint32_t p, nearkit_knn_part *part, uint64_t *n) {
    napi_value ids_v, dist_v, k_v;
    void *ids, *dist;
    size_t n_ids = 0, n_dist = 0;
    char what[64], message[240];
    if (napi_get_element(env, ids_list, p, &ids_v) != napi_ok ||
        napi_get_element(env, dist_list, p, &dist_v) != napi_ok ||
        napi_get_element(env, k_list, p, &k_v) != napi_ok) {
        nk_throw_napi_failure(env);
        return -1;
    }
    snprintf(what, sizeof what, "parts[%u].ids", (unsigned)p);
    if (nk_get_typed(env, ids_v, napi_bigint64_array, what, &ids, &n_ids) != 0) return -1;
    snprintf(what, sizeof what, "parts[%u].distances", (unsigned)p);
    if (nk_get_typed(env, dist_v, napi_float32_array, what, &dist, &n_dist) != 0) return -1;
    snprintf(what, sizeof what, "parts[%u].k", (unsigned)p);
    if (nk_get_uint64(env, k_v, what, &part->k) != 0) return -1;
    if (part->k == 0 || n_ids != n_dist || n_ids % part->k != 0) {
        snprintf(message, sizeof message,
                 "parts[%u] has %zu ids and %zu distances with k = %llu; both must be the same "
                 "whole number of rows of k (at least 1) entries",
                 (unsigned)p, n_ids, n_dist, (unsigned long long)part->k);
        nk_throw(env, CODE_INVALID_ARGUMENT, message);
        return -1;
    }
    if (p == 0) *n = n_ids / part->k;
    if (n_ids / part->k != *n) {
        snprintf(message, sizeof message, "parts[%u] answers %llu queries, parts[0] answers %llu",
                 (unsigned)p, (unsigned long long)(n_ids / part->k), (unsigned long long)*n);
        nk_throw(env, CODE_INVALID_ARGUMENT, message);
        return -1;
    }
    part->ids = ids;
    part->distances = dist;
    return 0;
}

/* mergeKnn(ids[], distances[], ks[], k, unique) -> [ids, distances]: part p is ids[p] /
 * distances[p], n rows of ks[p] entries (lib/index.js takes them from search results). */
static napi_value nk_merge_knn(napi_env env, napi_callback_info info) {
    nk_args a;
    uint32_t n_parts = 0, n_dist = 0, n_ks = 0, p;
    bool is_ids = false, is_dist = false, is_ks = false, unique = false;
    uint64_t n = 0, k;
    nearkit_knn_part *parts;
    napi_value result_ab;
    void *result_data;
    int64_t *ids;
    char what[96];
    nearkit_status st;
    if (nk_get_args(env, info, &a) != 0) return NULL;
    if (napi_is_array(env, a.argv[0], &is_ids) != napi_ok ||
        napi_is_array(env, a.argv[1], &is_dist) != napi_ok ||
        napi_is_array(env, a.argv[2], &is_ks) != napi_ok || !is_ids || !is_dist || !is_ks ||
        napi_get_array_length(env, a.argv[0], &n_parts) != napi_ok ||
        napi_get_array_length(env, a.argv[1], &n_dist) != napi_ok ||
        napi_get_array_length(env, a.argv[2], &n_ks) != napi_ok || n_parts != n_dist ||
        n_parts != n_ks)
        return nk_throw_type(env, "mergeKnn needs arrays of ids, distances and k, one entry per part");
    if (n_parts == 0) return nk_throw(env, CODE_INVALID_ARGUMENT, "mergeKnn needs at least one part");
    if (nk_get_uint64(env, a.argv[3], "k", &k) != 0) return NULL;
    if (napi_get_value_bool(env, a.argv[4], &unique) != napi_ok)
        return nk_throw_type(env, "options.unique must be a boolean");
    if ((parts = calloc(n_parts, sizeof *parts)) == NULL)
        return nk_throw_range(env, CODE_OUT_OF_MEMORY, "out of memory for the parts of a merge");
    for (p = 0; p < n_parts; p++)
        if (nk_get_knn_part(env, a.argv[0], a.argv[1], a.argv[2], p, &parts[p], &n) != 0) goto fail;
    if (nk_check_result_size(env, n, k) != 0) goto fail;
    nk_knn_what(what, sizeof what, n, k);
    if ((result_ab = nk_new_arraybuffer(env, n * k * 12, what, &result_data)) == NULL) goto fail;
    ids = result_data;
    st = nearkit_merge_knn(ids, (float *)(ids + n * k), n, k, parts, n_parts,
                           unique ? NEARKIT_MERGE_UNIQUE : 0u);
    free(parts);
    if (st != NEARKIT_OK) return nk_throw_status(env, st);
    return result_ab; /* lib/index.js makes the views (knnResult) */
fail:
    free(parts);
    return NULL;
}

/* ---- Module ----------------------------------------------------------------------------------- */

#define NK_FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

NAPI_MODULE_INIT() {
    napi_value version, version_number, abi;
    if (nearkit_abi_version() != NEARKIT_ABI_VERSION) {
        char message[200];
        snprintf(message, sizeof message,
                 "nearkit ABI mismatch: the Node.js addon was built for ABI %d but the library "
                 "reports ABI %u; rebuild the addon",
                 NEARKIT_ABI_VERSION, (unsigned)nearkit_abi_version());
        napi_throw_error(env, CODE_ABI, message);
        return NULL;
    }
    NK_CALL(env, napi_create_string_utf8(env, nearkit_version_string(), NAPI_AUTO_LENGTH, &version));
    NK_CALL(env, napi_create_uint32(env, nearkit_version_number(), &version_number));
    NK_CALL(env, napi_create_uint32(env, nearkit_abi_version(), &abi));
    {
        napi_property_descriptor props[] = {
            {"version", NULL, NULL, NULL, NULL, version, napi_enumerable, NULL},
            {"versionNumber", NULL, NULL, NULL, NULL, version_number, napi_enumerable, NULL},
            {"abiVersion", NULL, NULL, NULL, NULL, abi, napi_enumerable, NULL},
            NK_FN("setMaxBufferBytes", nk_set_max_buffer_bytes),
            NK_FN("kinds", nk_kinds),
            NK_FN("metrics", nk_metrics),
            NK_FN("create", nk_create),
            NK_FN("load", nk_load),
            NK_FN("loadBuffer", nk_load_buffer),
            NK_FN("view", nk_view),
            NK_FN("viewBuffer", nk_view_buffer),
            NK_FN("isView", nk_is_view),
            NK_FN("copy", nk_copy),
            NK_FN("close", nk_close),
            NK_FN("isClosed", nk_is_closed),
            NK_FN("info", nk_info),
            NK_FN("stats", nk_stats),
            NK_FN("count", nk_count),
            NK_FN("describe", nk_describe),
            NK_FN("paramInfo", nk_param_info),
            NK_FN("getParam", nk_get_param),
            NK_FN("setParam", nk_set_param),
            NK_FN("add", nk_add),
            NK_FN("train", nk_train),
            NK_FN("build", nk_build),
            NK_FN("search", nk_search),
            NK_FN("rangeSearch", nk_range_search),
            NK_FN("tune", nk_tune),
            NK_FN("remove", nk_remove),
            NK_FN("get", nk_get),
            NK_FN("contains", nk_contains),
            NK_FN("compact", nk_compact),
            NK_FN("save", nk_save),
            NK_FN("toBuffer", nk_to_buffer),
            NK_FN("addAsync", nk_add_async),
            NK_FN("trainAsync", nk_train_async),
            NK_FN("buildAsync", nk_build_async),
            NK_FN("searchAsync", nk_search_async),
            NK_FN("rangeSearchAsync", nk_range_search_async),
            NK_FN("tuneAsync", nk_tune_async),
            NK_FN("removeAsync", nk_remove_async),
            NK_FN("getAsync", nk_get_async),
            NK_FN("compactAsync", nk_compact_async),
            NK_FN("saveAsync", nk_save_async),
            NK_FN("loadAsync", nk_load_async),
            NK_FN("loadBufferAsync", nk_load_buffer_async),
            NK_FN("viewAsync", nk_view_async),
            NK_FN("viewBufferAsync", nk_view_buffer_async),
            NK_FN("copyAsync", nk_copy_async),
            NK_FN("mergeKnn", nk_merge_knn),
            NK_FN("shardedCreate", nk_sharded_create),
            NK_FN("shardedOpen", nk_sharded_open),
            NK_FN("shardedInfo", nk_sharded_info),
            NK_FN("shardedAddShard", nk_sharded_add_shard),
            NK_FN("shardedSearch", nk_sharded_search),
            NK_FN("shardedSearchAsync", nk_sharded_search_async),
            NK_FN("shardedSave", nk_sharded_save),
            NK_FN("shardedSaveAsync", nk_sharded_save_async),
            NK_FN("shardedOpenAsync", nk_sharded_open_async),
        };
        NK_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
    }
    return exports;
}
