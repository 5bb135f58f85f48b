/*
 * nearkit.i - the SWIG interface of nearkit's Python package (module nearkit.lowlevel).
 *
 * What Python sees, in two parts:
 *
 * 1. Straight from include/nearkit.h: every NEARKIT_* constant, and the functions that take no
 *    index (versions, status / metric / kind names, kind enumeration). Functions are exposed through
 *    an allow-list (see "Allow-list" below), so a function added to the header is not exposed with
 *    raw pointers by accident.
 *
 * 2. A handle, `nkpy_index`, that owns one `nearkit_index *` together with a read-write lock
 *    (bindings/handle.h, shared with the Node.js binding), and functions `nkpy_*` that take it.
 *    They do what only the binding can do and nothing else:
 *      - check that buffer lengths are whole numbers of vectors (and match ids / output buffers),
 *        so nothing Python passes can make C read or write past a buffer;
 *      - keep close() safe: since the C library serialises its writers itself (the header's
 *        "Thread safety"), every call, search or write, holds the handle's lock shared, and only
 *        close takes it exclusively: it frees the index once no call is running, and any later call
 *        fails cleanly with "the index is closed";
 *      - release the GIL while a C call runs or waits for a lock;
 *      - turn a search's filter (ids, bitmap or Python callable, see nkpy_filter) and per-call
 *        parameters (nkpy_params) into the C structs, and carry an exception raised by a callable
 *        filter, on the search's threads, back to the caller as the search's error.
 *    All searching, validation of values (k = 0, NaN, wrong type, ...) and file handling is the C
 *    library's.
 *
 * Typemaps (written here, no numpy.i): vectors, ids and output arrays travel through the Python
 * buffer protocol. Inputs are requested C-contiguous and read in place (no copy); outputs must be
 * writable C-contiguous buffers that the C library fills in place. The Python layer
 * (python/src/nearkit/_index.py) converts other dtypes and layouts once before calling.
 *
 * Errors: a failing call raises the exception class registered for its status (see
 * nkpy_register_errors, called by nearkit/__init__.py) with nearkit_last_error_message(), read on
 * the same thread right after the call. Binding-level failures use negative codes:
 * NKPY_ERR_CLOSED, NKPY_ERR_BINDING (message in a thread-local buffer) and NKPY_ERR_CALLBACK (a
 * filter callable raised: its exception, kept in thread-local storage, is raised as it is).
 */
%module(package="nearkit") lowlevel

%{
#define NEARKIT_STATIC 1
#define NEARKIT_EXPERIMENTAL /* nearkit_index_tune */
#include "nearkit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handle.h"

#if defined(_WIN32)
#define NKPY_THREAD_LOCAL __declspec(thread)
#else
#define NKPY_THREAD_LOCAL _Thread_local
#endif

/* Binding-level status codes (the C library's are >= 0). */
#define NKPY_ERR_CLOSED (-1)
#define NKPY_ERR_BINDING (-2)
#define NKPY_ERR_CALLBACK (-3)

/* Message of the last binding-level failure on this thread. */
static NKPY_THREAD_LOCAL char nkpy_message[512];

/* The exception (type, value, traceback) a filter callable raised during this thread's last
 * search, moved here (no reference counting, so without the GIL) for nkpy_check to raise. */
static NKPY_THREAD_LOCAL PyObject *nkpy_pending[3];

/* A search filter as the binding passes it: the C filter, the buffer it borrows (ids or bitmap)
 * and, for a Python callable, the callable and the first exception it raised. */
typedef struct nkpy_filter {
    nearkit_filter f;
    Py_buffer view;
    int got_view;
    PyObject *callable; /* borrowed from the call's arguments */
    int failed;         /* read and written under the GIL */
    PyObject *exc[3];
} nkpy_filter;

/* Per-call parameters: n (name, value) pairs; the names borrow the call's str arguments. */
typedef struct nkpy_params {
    nearkit_param_value *values;
    uint64_t n;
} nkpy_params;

static nearkit_status nkpy_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nkpy_message, sizeof nkpy_message, fmt, ap);
    va_end(ap);
    return NKPY_ERR_BINDING;
}

/* ---- The handle -------------------------------------------------------------------------------- */

typedef struct nkpy_range nkpy_range; /* really a nearkit_range_result */
/* A sharded collection (really a nearkit_sharded). Immutable from Python once made (shards are
 * added by copy before it is handed out), so it needs no handle lock: a call in flight holds a
 * reference to the Python object, which frees the collection only when the last one goes. */
typedef struct nkpy_sharded nkpy_sharded;

/* The index and its lock: bindings/handle.h (shared with the Node.js binding). */
typedef struct nkpy_index {
    nkb_handle *handle;
} nkpy_index;

static nkpy_index *nkpy_wrap(nearkit_index *index) {
    nkpy_index *h = (nkpy_index *)malloc(sizeof *h);
    if (h == NULL) return NULL;
    h->handle = nkb_handle_new(index);
    if (h->handle == NULL) {
        free(h);
        return NULL;
    }
    return h;
}

static void nkpy_destroy(nkpy_index *h) {
    if (h == NULL) return;
    nkb_handle_free(h->handle);
    free(h);
}

/* A call in flight: set `ix` to the index with the handle held shared (every call, writers too:
 * the C library serialises its writers and lets searches overlap them, so the handle's lock only
 * keeps close() waiting for calls in flight), or return NKPY_ERR_CLOSED after close. */
#define NKPY_READ_BEGIN(h, ix)                                               \
    if (((ix) = nkb_handle_acquire_read((h)->handle)) == NULL) return NKPY_ERR_CLOSED
#define NKPY_READ_END(h) nkb_handle_release_read((h)->handle)

static nearkit_status nkpy_install(nkpy_index **out, nearkit_status st, nearkit_index *index) {
    if (st != NEARKIT_OK) return st;
    *out = nkpy_wrap(index);
    if (*out == NULL) {
        nearkit_index_free(index);
        return nkpy_fail("out of memory (or no lock) for an index handle");
    }
    return NEARKIT_OK;
}

/* How many whole vectors of `type` `nbytes` holds for this index, or a binding error (float16
 * input to a float index: 2 bytes a dimension; a type the index refuses is left to the library
 * to name). Under the lock. */
static nearkit_status nkpy_count_vectors(uint64_t *n, const nearkit_index *index, int type, size_t nbytes) {
    uint64_t vb = nearkit_index_vector_bytes(index);
    if (type == NEARKIT_VECTOR_FLOAT16 && nearkit_index_vector_type(index) == NEARKIT_VECTOR_FLOAT32) vb /= 2;
    if (vb == 0) return nkpy_fail("index reports a zero vector size");
    if (nbytes % vb != 0)
        return nkpy_fail("buffer of %llu bytes is not a whole number of %llu-byte vectors",
                         (unsigned long long)nbytes, (unsigned long long)vb);
    *n = nbytes / vb;
    return NEARKIT_OK;
}

/* The C search options of one call: the filter (NULL or NONE: every vector) and parameters. */
static nearkit_search_options nkpy_search_options(uint32_t num_threads, nkpy_filter *filter,
                                                  const nkpy_params *params) {
    nearkit_search_options o;
    nearkit_search_options_init(&o);
    o.num_threads = num_threads;
    if (filter != NULL && filter->f.type != NEARKIT_FILTER_NONE) o.filter = &filter->f;
    if (params != NULL && params->n > 0) {
        o.params = params->values;
        o.n_params = params->n;
    }
    return o;
}

/* How many int64 ids `nbytes` holds, or a binding error. */
static nearkit_status nkpy_count_ids(uint64_t *n, size_t nbytes) {
    if (nbytes % 8u != 0)
        return nkpy_fail("buffer of %llu bytes is not a whole number of int64 ids",
                         (unsigned long long)nbytes);
    *n = (uint64_t)nbytes / 8u;
    return NEARKIT_OK;
}
%}

/* ============================================================================================== */
/*                                        Typemaps                                                */
/* ============================================================================================== */

%include <stdint.i>

%{
static PyObject *nkpy_exc_by_status[16]; /* index = status; [0] = base class */
static PyObject *nkpy_exc_closed;

static PyObject *nkpy_decode(const char *s) {
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* Raises the registered exception for `status` with `message`; sets .status and .status_name. */
static void nkpy_raise(nearkit_status status, const char *message) {
    PyObject *cls, *msg, *exc;
    if (status == NKPY_ERR_CLOSED) {
        cls = nkpy_exc_closed;
    } else if (status == NKPY_ERR_BINDING) {
        cls = nkpy_exc_by_status[NEARKIT_ERR_INVALID_ARGUMENT];
        status = NEARKIT_ERR_INVALID_ARGUMENT;
    } else if (status > 0 && status < 16 && nkpy_exc_by_status[status] != NULL) {
        cls = nkpy_exc_by_status[status];
    } else {
        cls = nkpy_exc_by_status[0];
    }
    if (cls == NULL) cls = PyExc_RuntimeError; /* errors not registered yet */
    msg = nkpy_decode(message);
    if (msg == NULL) return;
    exc = PyObject_CallOneArg(cls, msg);
    Py_DECREF(msg);
    if (exc == NULL) return;
    if (status != NKPY_ERR_CLOSED) {
        PyObject *code = PyLong_FromLong((long)status);
        PyObject *name = nkpy_decode(nearkit_status_name(status));
        if (code != NULL && name != NULL) {
            PyObject_SetAttrString(exc, "status", code);
            PyObject_SetAttrString(exc, "status_name", name);
        }
        Py_XDECREF(code);
        Py_XDECREF(name);
        PyErr_Clear(); /* attribute failures must not mask the real error */
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
}

/* Called with the status a wrapped function returned, on the thread that called it. */
static int nkpy_check(nearkit_status status) {
    if (status == NEARKIT_OK) return 0;
    if (status == NKPY_ERR_CALLBACK) {
        PyErr_Restore(nkpy_pending[0], nkpy_pending[1], nkpy_pending[2]);
        nkpy_pending[0] = nkpy_pending[1] = nkpy_pending[2] = NULL;
    } else if (status == NKPY_ERR_CLOSED)
        nkpy_raise(status, "the nearkit index is closed");
    else if (status == NKPY_ERR_BINDING)
        nkpy_raise(status, nkpy_message);
    else
        nkpy_raise(status, nearkit_last_error_message());
    return -1;
}

/* The C predicate of a callable filter: runs on the search's threads (the GIL released by the
 * caller), takes the GIL, calls the callable with the id and allows it when the result is true.
 * After the callable's first exception it allows nothing and calls nothing: the search finishes
 * quickly and nkpy_search_failed hands the exception to the caller. */
static int32_t nkpy_call_filter(void *context, int64_t id) {
    nkpy_filter *filter = (nkpy_filter *)context;
    int32_t allow = 0;
    PyGILState_STATE gil = PyGILState_Ensure();
    if (!filter->failed) {
        PyObject *arg = PyLong_FromLongLong((long long)id);
        PyObject *res = arg != NULL ? PyObject_CallOneArg(filter->callable, arg) : NULL;
        int truth = res != NULL ? PyObject_IsTrue(res) : -1;
        Py_XDECREF(arg);
        Py_XDECREF(res);
        if (truth < 0) {
            filter->failed = 1;
            PyErr_Fetch(&filter->exc[0], &filter->exc[1], &filter->exc[2]);
        } else {
            allow = truth != 0;
        }
    }
    PyGILState_Release(gil);
    return allow;
}

/* The status of a search whose C call returned `st`: a callable filter's exception wins (it is
 * moved to nkpy_pending, which needs no GIL). */
static nearkit_status nkpy_search_failed(nkpy_filter *filter, nearkit_status st) {
    if (filter == NULL || !filter->failed) return st;
    nkpy_pending[0] = filter->exc[0];
    nkpy_pending[1] = filter->exc[1];
    nkpy_pending[2] = filter->exc[2];
    filter->exc[0] = filter->exc[1] = filter->exc[2] = NULL;
    return NKPY_ERR_CALLBACK;
}
%}

/* A filter: None, or (type, ids-or-bitmap buffer or None, bitmap_first, bitmap_bits, callable or
 * None) as python/src/nearkit/_index.py builds it. The buffer is held for the whole call. */
%typemap(in) nkpy_filter *filter (nkpy_filter tmp) {
    int type = 0;
    long long first = 0;
    unsigned long long bits = 0;
    PyObject *buf = Py_None, *callable = Py_None;
    memset(&tmp, 0, sizeof tmp);
    tmp.f.struct_size = (uint32_t)sizeof tmp.f;
    $1 = NULL;
    if ($input != Py_None) {
        $1 = &tmp; /* from here on freearg releases what was taken */
        if (!PyArg_ParseTuple($input, "iOLKO;filter must be (type, buffer, first, bits, callable)",
                              &type, &buf, &first, &bits, &callable))
            SWIG_fail;
        tmp.f.type = (uint32_t)type;
        if (buf != Py_None) {
            if (PyObject_GetBuffer(buf, &tmp.view, PyBUF_C_CONTIGUOUS) != 0) SWIG_fail;
            tmp.got_view = 1;
        }
        if (type == NEARKIT_FILTER_IDS) {
            if (!tmp.got_view || tmp.view.len % 8 != 0) {
                nkpy_raise(NKPY_ERR_BINDING, "an ids filter needs a buffer of int64 ids");
                SWIG_fail;
            }
            tmp.f.ids = (const int64_t *)tmp.view.buf;
            tmp.f.n_ids = (uint64_t)tmp.view.len / 8u;
        } else if (type == NEARKIT_FILTER_BITMAP) {
            if (!tmp.got_view || bits > (unsigned long long)tmp.view.len * 8u) {
                nkpy_raise(NKPY_ERR_BINDING, "a bitmap filter needs a buffer of at least bits / 8 bytes");
                SWIG_fail;
            }
            tmp.f.bitmap = (const uint8_t *)tmp.view.buf;
            tmp.f.bitmap_first = (int64_t)first;
            tmp.f.bitmap_bits = (uint64_t)bits;
        } else if (type == NEARKIT_FILTER_PREDICATE) {
            if (!PyCallable_Check(callable)) {
                PyErr_SetString(PyExc_TypeError, "a predicate filter needs a callable");
                SWIG_fail;
            }
            tmp.callable = callable;
            tmp.f.predicate = nkpy_call_filter;
            tmp.f.context = &tmp;
        }
    }
}
%typemap(freearg) nkpy_filter *filter {
    if ($1 != NULL) {
        if ($1->got_view) PyBuffer_Release(&$1->view);
        Py_XDECREF($1->exc[0]);
        Py_XDECREF($1->exc[1]);
        Py_XDECREF($1->exc[2]);
    }
}

/* Per-call parameters: None, or a tuple of (name: str, value: float) pairs. */
%typemap(in) nkpy_params *params (nkpy_params tmp) {
    Py_ssize_t i, n;
    tmp.values = NULL;
    tmp.n = 0;
    $1 = &tmp;
    if ($input != Py_None) {
        if (!PyTuple_Check($input)) {
            PyErr_SetString(PyExc_TypeError, "params must be a tuple of (name, value) pairs");
            SWIG_fail;
        }
        n = PyTuple_GET_SIZE($input);
        tmp.values = (nearkit_param_value *)calloc(n > 0 ? (size_t)n : 1u, sizeof *tmp.values);
        if (tmp.values == NULL) {
            PyErr_NoMemory();
            SWIG_fail;
        }
        for (i = 0; i < n; i++) {
            PyObject *name_obj = NULL;
            const char *name;
            double value;
            Py_ssize_t len = 0;
            if (!PyArg_ParseTuple(PyTuple_GET_ITEM($input, i), "Ud;a parameter must be (name, value)",
                                  &name_obj, &value))
                SWIG_fail;
            /* the UTF-8 form lives as long as the str, which the tuple holds for the call */
            name = PyUnicode_AsUTF8AndSize(name_obj, &len);
            if (name == NULL) SWIG_fail;
            if ((Py_ssize_t)strlen(name) != len) {
                nkpy_raise(NKPY_ERR_BINDING, "parameter name contains a NUL character");
                SWIG_fail;
            }
            tmp.values[i].name = name;
            tmp.values[i].value = value;
        }
        tmp.n = (uint64_t)n;
    }
}
%typemap(freearg) nkpy_params *params {
    if ($1 != NULL) free($1->values);
}

/* Every function returning a status: OK -> None (or the outputs below), else raise. */
%typemap(out) nearkit_status {
    if (nkpy_check($1) != 0) SWIG_fail;
    $result = SWIG_Py_Void();
}

/* Replaces the None a status left in $result by a single output value. */
%define NKPY_SET_RESULT(obj)
    {
        PyObject *nkpy_o = (obj);
        if (nkpy_o == NULL) SWIG_fail;
        Py_DECREF($result);
        $result = nkpy_o;
    }
%enddef

/* ---- Buffers ----------------------------------------------------------------------------------- */

/* Read-only input: any C-contiguous buffer (numpy array, bytes, bytearray, memoryview). */
%typemap(in) (const void *IN_BUF, size_t IN_LEN) (Py_buffer view, int got = 0) {
    if (PyObject_GetBuffer($input, &view, PyBUF_C_CONTIGUOUS) != 0) SWIG_fail;
    got = 1;
    $1 = view.buf;
    $2 = (size_t)view.len;
}
%typemap(freearg) (const void *IN_BUF, size_t IN_LEN) {
    if (got$argnum) PyBuffer_Release(&view$argnum);
}
%typemap(typecheck) (const void *IN_BUF, size_t IN_LEN) {
    $1 = PyObject_CheckBuffer($input);
}

/* Optional read-only input: None gives (NULL, 0). */
%typemap(in) (const void *OPT_BUF, size_t OPT_LEN) (Py_buffer view, int got = 0) {
    if ($input == Py_None) {
        $1 = NULL;
        $2 = 0;
    } else {
        if (PyObject_GetBuffer($input, &view, PyBUF_C_CONTIGUOUS) != 0) SWIG_fail;
        got = 1;
        $1 = view.buf;
        $2 = (size_t)view.len;
    }
}
%typemap(freearg) (const void *OPT_BUF, size_t OPT_LEN) {
    if (got$argnum) PyBuffer_Release(&view$argnum);
}

/* Writable output: a C-contiguous writable buffer the C library fills in place. */
%typemap(in) (void *OUT_BUF, size_t OUT_LEN) (Py_buffer view, int got = 0) {
    if (PyObject_GetBuffer($input, &view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) SWIG_fail;
    got = 1;
    $1 = view.buf;
    $2 = (size_t)view.len;
}
%typemap(freearg) (void *OUT_BUF, size_t OUT_LEN) {
    if (got$argnum) PyBuffer_Release(&view$argnum);
}

/* ---- Strings ----------------------------------------------------------------------------------- */

/* File paths: bytes (the Python layer passes os.fsencode(path)) or str; no embedded NUL. */
%typemap(in) const char *PATH (PyObject *tmp = NULL) {
    char *s = NULL;
    Py_ssize_t len = 0;
    if (PyBytes_Check($input)) {
        tmp = $input;
        Py_INCREF(tmp);
    } else if (PyUnicode_Check($input)) {
        tmp = PyUnicode_EncodeFSDefault($input);
        if (tmp == NULL) SWIG_fail;
    } else {
        PyErr_SetString(PyExc_TypeError, "path must be str or bytes");
        SWIG_fail;
    }
    if (PyBytes_AsStringAndSize(tmp, &s, &len) != 0) SWIG_fail;
    if ((Py_ssize_t)strlen(s) != len) {
        nkpy_raise(NKPY_ERR_BINDING, "path contains a NUL character");
        SWIG_fail;
    }
    $1 = s;
}
%typemap(freearg) const char *PATH {
    Py_XDECREF(tmp$argnum);
}

/* Names and parameter strings: str only (UTF-8), no embedded NUL; None gives NULL. */
%typemap(in) const char *NAME {
    Py_ssize_t len = 0;
    const char *s;
    if ($input == Py_None) {
        $1 = NULL;
    } else {
        if (!PyUnicode_Check($input)) {
            PyErr_SetString(PyExc_TypeError, "expected a str");
            SWIG_fail;
        }
        s = PyUnicode_AsUTF8AndSize($input, &len);
        if (s == NULL) SWIG_fail;
        if ((Py_ssize_t)strlen(s) != len) {
            nkpy_raise(NKPY_ERR_BINDING, "string contains a NUL character");
            SWIG_fail;
        }
        $1 = (char *)s;
    }
}

/* ---- Outputs ----------------------------------------------------------------------------------- */

%typemap(in, numinputs=0) nkpy_index **OUT_INDEX (nkpy_index *tmp = NULL) { $1 = &tmp; }
%typemap(argout) nkpy_index **OUT_INDEX {
    NKPY_SET_RESULT(SWIG_NewPointerObj(tmp$argnum, $descriptor(nkpy_index *), SWIG_POINTER_OWN));
}

%typemap(in, numinputs=0) nkpy_range **OUT_RANGE (nkpy_range *tmp = NULL) { $1 = &tmp; }
%typemap(argout) nkpy_range **OUT_RANGE {
    NKPY_SET_RESULT(SWIG_NewPointerObj(tmp$argnum, $descriptor(nkpy_range *), SWIG_POINTER_OWN));
}

%typemap(in, numinputs=0) nkpy_sharded **OUT_SHARDED (nkpy_sharded *tmp = NULL) { $1 = &tmp; }
%typemap(argout) nkpy_sharded **OUT_SHARDED {
    NKPY_SET_RESULT(SWIG_NewPointerObj(tmp$argnum, $descriptor(nkpy_sharded *), SWIG_POINTER_OWN));
}

/* A tuple of str (file names) as a NULL-free array of UTF-8 strings borrowed from the tuple. */
%typemap(in) (const char *const *files, uint64_t n_files) (const char **names = NULL) {
    Py_ssize_t i, n;
    if (!PyTuple_Check($input)) {
        PyErr_SetString(PyExc_TypeError, "files must be a tuple of str");
        SWIG_fail;
    }
    n = PyTuple_GET_SIZE($input);
    names = (const char **)calloc((size_t)n + 1, sizeof *names);
    if (names == NULL) {
        PyErr_NoMemory();
        SWIG_fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM($input, i);
        Py_ssize_t len = 0;
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "every file name must be a str");
            SWIG_fail;
        }
        names[i] = PyUnicode_AsUTF8AndSize(item, &len);
        if (names[i] == NULL) SWIG_fail;
        if ((Py_ssize_t)strlen(names[i]) != len) {
            nkpy_raise(NKPY_ERR_BINDING, "a file name contains a NUL character");
            SWIG_fail;
        }
    }
    $1 = names;
    $2 = (uint64_t)n;
}
%typemap(freearg) (const char *const *files, uint64_t n_files) { free((void *)names$argnum); }

%typemap(in, numinputs=0) uint64_t *OUT_U64 (uint64_t tmp = 0) { $1 = &tmp; }
%typemap(argout) uint64_t *OUT_U64 { NKPY_SET_RESULT(PyLong_FromUnsignedLongLong(tmp$argnum)); }

%typemap(in, numinputs=0) double *OUT_DOUBLE (double tmp = 0) { $1 = &tmp; }
%typemap(argout) double *OUT_DOUBLE { NKPY_SET_RESULT(PyFloat_FromDouble(tmp$argnum)); }

%typemap(in, numinputs=0) int32_t *OUT_I32 (int32_t tmp = 0) { $1 = &tmp; }
%typemap(argout) int32_t *OUT_I32 { NKPY_SET_RESULT(PyLong_FromLong((long)tmp$argnum)); }

/* (name, flags) of a parameter. */
%typemap(in, numinputs=0) (const char **OUT_NAME, uint32_t *OUT_FLAGS)
    (const char *name = NULL, uint32_t flags = 0) {
    $1 = ($1_ltype)&name;
    $2 = &flags;
}
%typemap(argout) (const char **OUT_NAME, uint32_t *OUT_FLAGS) {
    NKPY_SET_RESULT(Py_BuildValue("(NI)", nkpy_decode(name$argnum ? name$argnum : ""),
                                  (unsigned int)flags$argnum));
}

/* A parameter's description as a tuple (name, flags, minimum, maximum, default, description). */
%typemap(in, numinputs=0) nearkit_param_info *out_param (nearkit_param_info tmp) {
    memset(&tmp, 0, sizeof tmp);
    tmp.struct_size = (uint32_t)sizeof tmp;
    $1 = &tmp;
}
%typemap(argout) nearkit_param_info *out_param {
    NKPY_SET_RESULT(Py_BuildValue("(NIdddN)", nkpy_decode(tmp$argnum.name ? tmp$argnum.name : ""),
                                  (unsigned int)tmp$argnum.flags, tmp$argnum.minimum,
                                  tmp$argnum.maximum, tmp$argnum.default_value,
                                  nkpy_decode(tmp$argnum.description ? tmp$argnum.description
                                                                      : "")));
}

/* A tuning's outcome as a tuple (param or None, value, recall, qps, reached, measurements,
 * fine_param or None, fine_value). */
%typemap(in, numinputs=0) nearkit_tune_result *out_tune (nearkit_tune_result tmp) {
    memset(&tmp, 0, sizeof tmp);
    tmp.struct_size = (uint32_t)sizeof tmp;
    $1 = &tmp;
}
%typemap(argout) nearkit_tune_result *out_tune {
    {
        PyObject *tuned = tmp$argnum.param ? nkpy_decode(tmp$argnum.param)
                                           : (Py_INCREF(Py_None), Py_None);
        PyObject *fine = tmp$argnum.fine_param ? nkpy_decode(tmp$argnum.fine_param)
                                               : (Py_INCREF(Py_None), Py_None);
        NKPY_SET_RESULT(Py_BuildValue("(NdddiINd)", tuned, tmp$argnum.value, tmp$argnum.recall,
                                      tmp$argnum.qps, (int)tmp$argnum.reached,
                                      (unsigned int)tmp$argnum.measurements, fine,
                                      tmp$argnum.fine_value));
    }
}

/* A string the library allocated: copied to str, then nearkit_string_free. */
%typemap(in, numinputs=0) char **OUT_STRING (char *tmp = NULL) { $1 = &tmp; }
%typemap(argout) char **OUT_STRING {
    NKPY_SET_RESULT(nkpy_decode(tmp$argnum ? tmp$argnum : ""));
}
%typemap(freearg) char **OUT_STRING { nearkit_string_free(tmp$argnum); }

/* A buffer the library allocated: copied to bytes, then nearkit_buffer_free. */
%typemap(in, numinputs=0) (void **OUT_DATA, size_t *OUT_SIZE) (void *data = NULL, size_t size = 0) {
    $1 = &data;
    $2 = &size;
}
%typemap(argout) (void **OUT_DATA, size_t *OUT_SIZE) {
    NKPY_SET_RESULT(PyBytes_FromStringAndSize((const char *)data$argnum, (Py_ssize_t)size$argnum));
}
%typemap(freearg) (void **OUT_DATA, size_t *OUT_SIZE) { nearkit_buffer_free(data$argnum); }

/* A kind's description as a tuple (kind, name, flags, metric_mask, description). */
%typemap(in, numinputs=0) nearkit_kind_info *out (nearkit_kind_info tmp) {
    memset(&tmp, 0, sizeof tmp);
    tmp.struct_size = (uint32_t)sizeof tmp;
    $1 = &tmp;
}
%typemap(argout) nearkit_kind_info *out {
    NKPY_SET_RESULT(Py_BuildValue("(iNIIN)", (int)tmp$argnum.kind,
                                  nkpy_decode(tmp$argnum.name ? tmp$argnum.name : ""),
                                  (unsigned int)tmp$argnum.flags,
                                  (unsigned int)tmp$argnum.metric_mask,
                                  nkpy_decode(tmp$argnum.description ? tmp$argnum.description : "")));
}

/* nearkit_metric_from_name / nearkit_kind_from_name: the parsed value. */
%typemap(in, numinputs=0) nearkit_metric *out (nearkit_metric tmp = 0) { $1 = &tmp; }
%typemap(argout) nearkit_metric *out { NKPY_SET_RESULT(PyLong_FromLong((long)tmp$argnum)); }
%typemap(in, numinputs=0) nearkit_kind *out (nearkit_kind tmp = 0) { $1 = &tmp; }
%typemap(argout) nearkit_kind *out { NKPY_SET_RESULT(PyLong_FromLong((long)tmp$argnum)); }
%apply const char *NAME { const char *name };

/* Functions returning a static string that may be NULL: None for NULL. */
%typemap(out) const char * {
    if ($1 == NULL) {
        $result = SWIG_Py_Void();
    } else {
        $result = nkpy_decode($1);
        if ($result == NULL) SWIG_fail;
    }
}

/* ============================================================================================== */
/*                       Part 1: the header itself (constants, index-free functions)              */
/* ============================================================================================== */

/* Allow-list: ignore every function and struct of the header, then expose these by name. */
%rename("$ignore", %$isfunction) "";
%rename("$ignore", %$isclass) "";
%rename("%s") nearkit_version_string;
%rename("%s") nearkit_version_number;
%rename("%s") nearkit_abi_version;
%rename("%s") nearkit_status_name;
%rename("%s") nearkit_metric_name;
%rename("%s") nearkit_metric_from_name;
%rename("%s") nearkit_kind_count;
%rename("%s") nearkit_kind_get_info;
%rename("%s") nearkit_kind_from_name;
%rename("%s") nearkit_kind_name;

#define NEARKIT_STATIC 1
#define NEARKIT_EXPERIMENTAL 1 /* its constants too (its functions and structs stay ignored above) */
%include "nearkit.h"

/* ============================================================================================== */
/*                          Part 2: the handle and the functions taking it                        */
/* ============================================================================================== */

/* Every nkpy_* function below runs with the GIL released: the C call, or the wait for the lock. */
%exception {
    Py_BEGIN_ALLOW_THREADS
    $action
    Py_END_ALLOW_THREADS
}

%rename("%s") nkpy_index;
%rename("%s") nkpy_range;
%rename("%s") nkpy_sharded;
%nodefaultctor nkpy_index;
%nodefaultctor nkpy_range;
%nodefaultctor nkpy_sharded;
typedef struct nkpy_index {} nkpy_index;
typedef struct nkpy_range {} nkpy_range;
typedef struct nkpy_sharded {} nkpy_sharded;
%extend nkpy_index {
    ~nkpy_index() { nkpy_destroy($self); }
}
%extend nkpy_range {
    ~nkpy_range() { nearkit_range_result_free((nearkit_range_result *)$self); }
}
%extend nkpy_sharded {
    ~nkpy_sharded() { nearkit_sharded_free((nearkit_sharded *)$self); }
}

%apply (const void *IN_BUF, size_t IN_LEN) { (const void *vectors, size_t nbytes),
                                             (const void *queries, size_t nbytes),
                                             (const void *data, size_t size) };
%apply (const void *OPT_BUF, size_t OPT_LEN) { (const void *ids, size_t ids_nbytes) };
%apply (const void *IN_BUF, size_t IN_LEN) { (const void *id_list, size_t id_list_nbytes),
                                             (const void *in_ids, size_t in_ids_nbytes),
                                             (const void *in_distances, size_t in_distances_nbytes) };
%apply (void *OUT_BUF, size_t OUT_LEN) { (void *out_vectors, size_t out_vectors_nbytes),
                                         (void *out_found, size_t out_found_nbytes),
                                         (void *out_ids, size_t out_ids_nbytes),
                                         (void *out_distances, size_t out_distances_nbytes),
                                         (void *out_offsets, size_t out_offsets_nbytes) };
/* A handle argument may not be None (SWIG would pass NULL). */
%typemap(check) nkpy_index *h, nkpy_range *r, nkpy_sharded *s {
    if ($1 == NULL) {
        PyErr_SetString(PyExc_TypeError, "expected a nearkit handle, not None");
        SWIG_fail;
    }
}

%apply nkpy_index **OUT_INDEX { nkpy_index **out_index };
%apply nkpy_range **OUT_RANGE { nkpy_range **out_range };
%apply nkpy_sharded **OUT_SHARDED { nkpy_sharded **out_sharded };
%apply uint64_t *OUT_U64 { uint64_t *out_value };
%apply double *OUT_DOUBLE { double *out_double };
%apply (const char **OUT_NAME, uint32_t *OUT_FLAGS) { (const char **out_name, uint32_t *out_flags) };
%apply char **OUT_STRING { char **out_string };
%apply (void **OUT_DATA, size_t *OUT_SIZE) { (void **out_data, size_t *out_size) };
%apply const char *PATH { const char *path };

/* A radius: any Python float (infinity allowed, NaN passed on for the library to refuse). */
%typemap(in) float radius {
    double v = PyFloat_AsDouble($input);
    if (v == -1.0 && PyErr_Occurred()) SWIG_fail;
    $1 = (float)v;
}
%apply const char *NAME { const char *kind, const char *metric, const char *params,
                          const char *param };

%rename("%s", %$isfunction) "";

%inline %{
/* k-NN search with a filter (None, or see the nkpy_filter typemap) and per-call parameters
 * (None, or a tuple of (name, value) pairs): out_ids (int64) and out_distances (float32) must each
 * hold n * k values, where n is the number of vectors in `queries`. num_threads 0 = the index's
 * setting. A callable filter's exception is the call's error. */
nearkit_status nkpy_search_with(nkpy_index *h, int32_t type, const void *queries, size_t nbytes,
                                uint64_t k, uint32_t num_threads, nkpy_filter *filter,
                                nkpy_params *params, void *out_ids, size_t out_ids_nbytes,
                                void *out_distances, size_t out_distances_nbytes) {
    nearkit_index *ix;
    uint64_t n = 0;
    nearkit_status st;
    nearkit_search_options options = nkpy_search_options(num_threads, filter, params);
    NKPY_READ_BEGIN(h, ix);
    st = nkpy_count_vectors(&n, ix, type, nbytes);
    if (st == NEARKIT_OK && k != 0 && n > UINT64_MAX / 8u / k)
        st = nkpy_fail("result of %llu x %llu neighbours is too large", (unsigned long long)n,
                       (unsigned long long)k);
    if (st == NEARKIT_OK && ((uint64_t)out_ids_nbytes != n * k * 8u ||
                             (uint64_t)out_distances_nbytes != n * k * 4u))
        st = nkpy_fail("output buffers do not hold %llu x %llu results", (unsigned long long)n,
                       (unsigned long long)k);
    if (st == NEARKIT_OK)
        st = nearkit_index_search((int64_t *)out_ids, (float *)out_distances, ix,
                                  (nearkit_vector_type)type, queries, n, k, &options);
    NKPY_READ_END(h);
    return nkpy_search_failed(filter, st);
}

/* Range search with a filter and per-call parameters (as nkpy_search_with); the result is read
 * with nkpy_range_size / nkpy_range_copy. */
nearkit_status nkpy_range_search_with(nkpy_range **out_range, nkpy_index *h, int32_t type,
                                      const void *queries, size_t nbytes, float radius,
                                      uint32_t num_threads, nkpy_filter *filter,
                                      nkpy_params *params) {
    nearkit_index *ix;
    uint64_t n = 0;
    nearkit_status st;
    nearkit_range_result *r = NULL;
    nearkit_search_options options = nkpy_search_options(num_threads, filter, params);
    NKPY_READ_BEGIN(h, ix);
    st = nkpy_count_vectors(&n, ix, type, nbytes);
    if (st == NEARKIT_OK)
        st = nearkit_index_range_search(&r, ix, (nearkit_vector_type)type, queries, n,
                                        radius, &options);
    NKPY_READ_END(h);
    st = nkpy_search_failed(filter, st);
    if (st == NEARKIT_OK)
        *out_range = (nkpy_range *)r;
    else
        nearkit_range_result_free(r);
    return st;
}

/* Removes every vector carrying one of the int64 ids in `id_list`; the number removed. */
nearkit_status nkpy_remove(uint64_t *out_value, nkpy_index *h, const void *id_list,
                           size_t id_list_nbytes) {
    nearkit_index *ix;
    uint64_t n = 0;
    nearkit_status st = nkpy_count_ids(&n, id_list_nbytes);
    if (st != NEARKIT_OK) return st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_remove(out_value, ix, (const int64_t *)id_list, n);
    NKPY_READ_END(h);
    return st;
}

/* Reads back the vectors of the int64 ids in `id_list`: out_vectors holds one vector per id (as
 * the index stores it; zeros for an id not stored), out_found one byte per id (1 when stored). */
nearkit_status nkpy_get(nkpy_index *h, const void *id_list, size_t id_list_nbytes,
                        void *out_vectors, size_t out_vectors_nbytes, void *out_found,
                        size_t out_found_nbytes) {
    nearkit_index *ix;
    uint64_t n = 0, rows = 0;
    nearkit_status st = nkpy_count_ids(&n, id_list_nbytes);
    if (st != NEARKIT_OK) return st;
    NKPY_READ_BEGIN(h, ix);
    st = nkpy_count_vectors(&rows, ix, nearkit_index_vector_type(ix), out_vectors_nbytes);
    if (st == NEARKIT_OK && (rows != n || (uint64_t)out_found_nbytes != n))
        st = nkpy_fail("output buffers do not hold %llu vectors and flags", (unsigned long long)n);
    if (st == NEARKIT_OK)
        st = nearkit_index_get(out_vectors, (uint8_t *)out_found, ix, (const int64_t *)id_list, n);
    NKPY_READ_END(h);
    return st;
}

/* 1 when some stored vector carries `id`, else 0. */
nearkit_status nkpy_contains(uint64_t *out_value, nkpy_index *h, int64_t id) {
    nearkit_index *ix;
    NKPY_READ_BEGIN(h, ix);
    *out_value = nearkit_index_contains(ix, id) ? 1u : 0u;
    NKPY_READ_END(h);
    return NEARKIT_OK;
}

/* Reclaims removed vectors' space and finishes deferred work (nearkit_index_compact). */
nearkit_status nkpy_compact(nkpy_index *h) {
    nearkit_index *ix;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_compact(ix);
    NKPY_READ_END(h);
    return st;
}

/* Creates an index: kind and metric by name, params as "name=value,..." (or None). */
nearkit_status nkpy_create(nkpy_index **out_index, const char *kind, const char *metric,
                           uint32_t dimension, uint32_t num_threads, uint64_t seed,
                           const char *params) {
    nearkit_kind k;
    nearkit_metric m;
    nearkit_index_options options;
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_kind_from_name(&k, kind);
    if (st != NEARKIT_OK) return st;
    st = nearkit_metric_from_name(&m, metric);
    if (st != NEARKIT_OK) return st;
    st = nearkit_index_options_init(&options);
    if (st != NEARKIT_OK) return st;
    options.num_threads = num_threads;
    options.seed = seed;
    options.params = params;
    st = nearkit_index_create(&index, k, m, dimension, &options);
    return nkpy_install(out_index, st, index);
}

/* Reads an index from a file. */
nearkit_status nkpy_load(nkpy_index **out_index, const char *path) {
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_index_load(&index, path);
    return nkpy_install(out_index, st, index);
}

/* Reads an index from a bytes-like object. */
nearkit_status nkpy_load_buffer(nkpy_index **out_index, const void *data, size_t size) {
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_index_load_from_buffer(&index, data, size);
    return nkpy_install(out_index, st, index);
}

/* Opens a read-only view of a file (nearkit_index_view): its bulk stays in a shared mapping.
 * load_if_unviewable: a file whose layout cannot be used in place is loaded instead. */
nearkit_status nkpy_view(nkpy_index **out_index, const char *path, int32_t verify,
                         int32_t load_if_unviewable) {
    nearkit_view_options options = NEARKIT_VIEW_OPTIONS_INIT;
    options.verify = verify;
    options.load_if_unviewable = load_if_unviewable;
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_index_view(&index, path, &options);
    return nkpy_install(out_index, st, index);
}

/* Opens a read-only view of a saved image in memory (nearkit_index_view_buffer). The bytes must
 * stay alive and unchanged until the index is freed: the Python caller (Index.view_buffer) holds
 * a read-only export of them for the index's life. */
nearkit_status nkpy_view_buffer(nkpy_index **out_index, const void *data, size_t size, int32_t verify,
                                int32_t load_if_unviewable) {
    nearkit_view_options options = NEARKIT_VIEW_OPTIONS_INIT;
    options.verify = verify;
    options.load_if_unviewable = load_if_unviewable;
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_index_view_buffer(&index, data, size, &options);
    return nkpy_install(out_index, st, index);
}

/* A writable in-memory copy of the index (nearkit_index_copy), a view or not. */
nearkit_status nkpy_copy(nkpy_index **out_index, nkpy_index *h) {
    nearkit_index *ix, *copy = NULL;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_copy(&copy, ix);
    NKPY_READ_END(h);
    return nkpy_install(out_index, st, copy);
}

/* Frees the C index once no call is running on it; later calls fail with NKPY_ERR_CLOSED.
 * Idempotent. */
nearkit_status nkpy_close(nkpy_index *h) {
    nkb_handle_close(h->handle);
    return NEARKIT_OK;
}

/* 1 when closed, else 0. */
nearkit_status nkpy_is_closed(uint64_t *out_value, nkpy_index *h) {
    *out_value = nkb_handle_is_closed(h->handle) ? 1u : 0u;
    return NEARKIT_OK;
}

/* Adds the vectors in `vectors` (a whole number of vectors of `type`); ids None or one int64 each. */
nearkit_status nkpy_add(nkpy_index *h, int32_t type, const void *vectors, size_t nbytes,
                        const void *ids, size_t ids_nbytes) {
    nearkit_index *ix;
    uint64_t n = 0;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nkpy_count_vectors(&n, ix, type, nbytes);
    if (st == NEARKIT_OK && ids != NULL && (uint64_t)ids_nbytes != n * 8u)
        st = nkpy_fail("%llu ids given for %llu vectors", (unsigned long long)(ids_nbytes / 8u),
                       (unsigned long long)n);
    if (st == NEARKIT_OK)
        st = nearkit_index_add(ix, (nearkit_vector_type)type, vectors, n,
                               (const int64_t *)ids);
    NKPY_READ_END(h);
    return st;
}

nearkit_status nkpy_train(nkpy_index *h, int32_t type, const void *vectors, size_t nbytes) {
    nearkit_index *ix;
    uint64_t n = 0;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nkpy_count_vectors(&n, ix, type, nbytes);
    if (st == NEARKIT_OK) st = nearkit_index_train(ix, (nearkit_vector_type)type, vectors, n);
    NKPY_READ_END(h);
    return st;
}

nearkit_status nkpy_build(nkpy_index *h) {
    nearkit_index *ix;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_build(ix);
    NKPY_READ_END(h);
    return st;
}

/* k-NN search: out_ids (int64) and out_distances (float32) must each hold n * k values, where n
 * is the number of vectors in `queries`. num_threads 0 = the index's setting. */
nearkit_status nkpy_search(nkpy_index *h, int32_t type, const void *queries, size_t nbytes,
                           uint64_t k, uint32_t num_threads, void *out_ids, size_t out_ids_nbytes,
                           void *out_distances, size_t out_distances_nbytes) {
    return nkpy_search_with(h, type, queries, nbytes, k, num_threads, NULL, NULL, out_ids,
                            out_ids_nbytes, out_distances, out_distances_nbytes);
}

/* Range search; the result is read with nkpy_range_sizes / nkpy_range_copy. */
nearkit_status nkpy_range_search(nkpy_range **out_range, nkpy_index *h, int32_t type,
                                 const void *queries, size_t nbytes, float radius,
                                 uint32_t num_threads) {
    return nkpy_range_search_with(out_range, h, type, queries, nbytes, radius, num_threads, NULL,
                                  NULL);
}

/* Number of queries (what = 0) or of matches in total (what = 1) of a range result. */
nearkit_status nkpy_range_size(uint64_t *out_value, nkpy_range *r, int32_t what) {
    const uint64_t *offsets = NULL;
    const nearkit_range_result *rr = (const nearkit_range_result *)r;
    uint64_t nq = nearkit_range_result_query_count(rr);
    nearkit_status st;
    if (what == 0) {
        *out_value = nq;
        return NEARKIT_OK;
    }
    st = nearkit_range_result_get(&offsets, NULL, NULL, rr);
    if (st != NEARKIT_OK) return st;
    *out_value = offsets[nq];
    return NEARKIT_OK;
}

/* Copies a range result into out_offsets (query_count + 1 values, 64-bit), out_ids (int64) and
 * out_distances (float32), sized as nkpy_range_size reports. */
nearkit_status nkpy_range_copy(nkpy_range *r, void *out_offsets, size_t out_offsets_nbytes,
                               void *out_ids, size_t out_ids_nbytes, void *out_distances,
                               size_t out_distances_nbytes) {
    const uint64_t *offsets = NULL;
    const int64_t *ids = NULL;
    const float *distances = NULL;
    const nearkit_range_result *rr = (const nearkit_range_result *)r;
    uint64_t nq = nearkit_range_result_query_count(rr), total;
    nearkit_status st = nearkit_range_result_get(&offsets, &ids, &distances, rr);
    if (st != NEARKIT_OK) return st;
    total = offsets[nq];
    if ((uint64_t)out_offsets_nbytes != (nq + 1u) * 8u || (uint64_t)out_ids_nbytes != total * 8u ||
        (uint64_t)out_distances_nbytes != total * 4u)
        return nkpy_fail("output buffers do not fit %llu queries with %llu matches",
                         (unsigned long long)nq, (unsigned long long)total);
    memcpy(out_offsets, offsets, (size_t)((nq + 1u) * 8u));
    if (total > 0) {
        memcpy(out_ids, ids, (size_t)(total * 8u));
        memcpy(out_distances, distances, (size_t)(total * 4u));
    }
    return NEARKIT_OK;
}

/* Introspection of the index: what is one of the NKPY_STAT_* values below. */
#define NKPY_STAT_KIND 0
#define NKPY_STAT_METRIC 1
#define NKPY_STAT_VECTOR_TYPE 2
#define NKPY_STAT_DIMENSION 3
#define NKPY_STAT_VECTOR_BYTES 4
#define NKPY_STAT_COUNT 5
#define NKPY_STAT_MEMORY_BYTES 6
#define NKPY_STAT_IS_READY 7
#define NKPY_STAT_IS_VIEW 8
nearkit_status nkpy_stat(uint64_t *out_value, nkpy_index *h, int32_t what) {
    nearkit_index *ix;
    uint64_t v = 0;
    nearkit_status st = NEARKIT_OK;
    NKPY_READ_BEGIN(h, ix);
    switch (what) {
    case NKPY_STAT_KIND: v = (uint64_t)nearkit_index_kind(ix); break;
    case NKPY_STAT_METRIC: v = (uint64_t)nearkit_index_metric(ix); break;
    case NKPY_STAT_VECTOR_TYPE: v = (uint64_t)nearkit_index_vector_type(ix); break;
    case NKPY_STAT_DIMENSION: v = nearkit_index_dimension(ix); break;
    case NKPY_STAT_VECTOR_BYTES: v = nearkit_index_vector_bytes(ix); break;
    case NKPY_STAT_COUNT: v = nearkit_index_count(ix); break;
    case NKPY_STAT_MEMORY_BYTES: v = nearkit_index_memory_bytes(ix); break;
    case NKPY_STAT_IS_READY: v = nearkit_index_is_ready(ix) ? 1u : 0u; break;
    case NKPY_STAT_IS_VIEW: v = nearkit_index_is_view(ix) ? 1u : 0u; break;
    default: st = nkpy_fail("unknown statistic %d", (int)what); break;
    }
    NKPY_READ_END(h);
    if (st == NEARKIT_OK) *out_value = v;
    return st;
}

nearkit_status nkpy_describe(char **out_string, nkpy_index *h) {
    nearkit_index *ix;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_describe(out_string, ix);
    NKPY_READ_END(h);
    return st;
}

nearkit_status nkpy_param_count(uint64_t *out_value, nkpy_index *h) {
    nearkit_index *ix;
    NKPY_READ_BEGIN(h, ix);
    *out_value = (uint64_t)nearkit_index_param_count(ix);
    NKPY_READ_END(h);
    return NEARKIT_OK;
}

/* (name, flags) of the i-th parameter. */
nearkit_status nkpy_param_info(const char **out_name, uint32_t *out_flags, nkpy_index *h,
                               uint64_t i) {
    nearkit_index *ix;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_param_info(out_name, out_flags, ix, (size_t)i);
    NKPY_READ_END(h);
    return st;
}

/* The i-th parameter's description (nearkit_index_param_describe). */
nearkit_status nkpy_param_describe(nearkit_param_info *out_param, nkpy_index *h, uint64_t i) {
    nearkit_index *ix;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_param_describe(out_param, ix, (size_t)i);
    NKPY_READ_END(h);
    return st;
}

nearkit_status nkpy_get_param(double *out_double, nkpy_index *h, const char *param) {
    nearkit_index *ix;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_get_param(out_double, ix, param);
    NKPY_READ_END(h);
    return st;
}

nearkit_status nkpy_set_param(nkpy_index *h, const char *param, double value) {
    nearkit_index *ix;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_set_param(ix, param, value);
    NKPY_READ_END(h);
    return st;
}

/* Tunes the index's runtime parameter for a recall@k target on the sample `queries`
 * (nearkit_index_tune; 0 for max_value or max_seconds: no limit) and sets it. */
nearkit_status nkpy_tune(nearkit_tune_result *out_tune, nkpy_index *h, int32_t type,
                         const void *queries, size_t nbytes, uint64_t k, double target_recall,
                         uint32_t num_threads, double max_value, double max_seconds) {
    nearkit_index *ix;
    uint64_t n = 0;
    nearkit_status st;
    nearkit_tune_options options;
    nearkit_tune_options_init(&options);
    options.k = k;
    options.target_recall = target_recall;
    options.num_threads = num_threads;
    options.max_value = max_value;
    options.max_seconds = max_seconds;
    NKPY_READ_BEGIN(h, ix);
    st = nkpy_count_vectors(&n, ix, type, nbytes);
    if (st == NEARKIT_OK)
        st = nearkit_index_tune(out_tune, ix, (nearkit_vector_type)type, queries, n, &options);
    NKPY_READ_END(h);
    return st;
}

/* nearkit_merge_knn of one n x in_k block of candidates (several answers side by side, e.g.
 * concatenated columns) into out (n x k). */
nearkit_status nkpy_merge_knn(void *out_ids, size_t out_ids_nbytes, void *out_distances,
                              size_t out_distances_nbytes, const void *in_ids, size_t in_ids_nbytes,
                              const void *in_distances, size_t in_distances_nbytes, uint64_t n,
                              uint64_t k, uint32_t flags) {
    nearkit_knn_part part;
    uint64_t in_k = n ? in_ids_nbytes / sizeof(int64_t) / n : 0;
    if (in_ids_nbytes != n * in_k * sizeof(int64_t) || in_distances_nbytes != n * in_k * sizeof(float) ||
        out_ids_nbytes / sizeof(int64_t) / (k ? k : 1) < n ||
        out_distances_nbytes / sizeof(float) / (k ? k : 1) < n)
        return nkpy_fail("merge_knn: the buffers do not hold n x k results");
    part.ids = (const int64_t *)in_ids;
    part.distances = (const float *)in_distances;
    part.k = in_k;
    return nearkit_merge_knn((int64_t *)out_ids, (float *)out_distances, n, k, &part, 1, flags);
}

nearkit_status nkpy_save(nkpy_index *h, const char *path) {
    nearkit_index *ix;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_save(ix, path);
    NKPY_READ_END(h);
    return st;
}

/* Serialises the index; returned to Python as bytes. */
nearkit_status nkpy_save_buffer(void **out_data, size_t *out_size, nkpy_index *h) {
    nearkit_index *ix;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_save_to_buffer(out_data, out_size, ix);
    NKPY_READ_END(h);
    return st;
}

/* ---- Sharded collections (nearkit_sharded_*) ------------------------------------------------- */

/* An empty collection; num_threads 0 = every core. */
nearkit_status nkpy_sharded_new(nkpy_sharded **out_sharded, uint32_t num_threads) {
    nearkit_sharded_options o;
    nearkit_sharded_options_init(&o);
    o.num_threads = num_threads;
    return nearkit_sharded_create((nearkit_sharded **)out_sharded, &o);
}

/* Opens the collection saved in the directory `path`. */
nearkit_status nkpy_sharded_open(nkpy_sharded **out_sharded, const char *path, uint32_t num_threads,
                                 int32_t view_shards) {
    nearkit_sharded_options o;
    nearkit_sharded_options_init(&o);
    o.num_threads = num_threads;
    o.view_shards = view_shards;
    return nearkit_sharded_open((nearkit_sharded **)out_sharded, path, &o);
}

/* Appends a copy of the index (the collection owns its shards, the Python index stays the
 * caller's). */
nearkit_status nkpy_sharded_add_copy(nkpy_sharded *s, nkpy_index *h) {
    nearkit_index *ix, *copy = NULL;
    nearkit_status st;
    NKPY_READ_BEGIN(h, ix);
    st = nearkit_index_copy(&copy, ix);
    NKPY_READ_END(h);
    if (st == NEARKIT_OK) st = nearkit_sharded_add_shard((nearkit_sharded *)s, copy);
    if (st != NEARKIT_OK) nearkit_index_free(copy);
    return st;
}

/* Hands h's index to the collection without a copy: on success h is closed (its later use is
 * NKPY_ERR_CLOSED) and the collection owns the index; on failure h stays open and the caller's.
 * Waits (GIL released) for h's calls in flight to finish. */
nearkit_status nkpy_sharded_add_move(nkpy_sharded *s, nkpy_index *h) {
    nearkit_status st;
    nearkit_index *ix = nkb_handle_acquire_write(h->handle);
    if (ix == NULL) return NKPY_ERR_CLOSED;
    st = nearkit_sharded_add_shard((nearkit_sharded *)s, ix);
    if (st != NEARKIT_OK) {
        nkb_handle_release_write(h->handle);
        return st;
    }
    nkb_handle_disown(h->handle);
    return NEARKIT_OK;
}

/* 0 shards, 1 vectors, 2 dimension, 3 metric, 4 vector type, 5 memory bytes. */
nearkit_status nkpy_sharded_info(uint64_t *out_value, nkpy_sharded *s, int32_t what) {
    const nearkit_sharded *c = (const nearkit_sharded *)s;
    switch (what) {
    case 0: *out_value = nearkit_sharded_shard_count(c); break;
    case 1: *out_value = nearkit_sharded_count(c); break;
    case 2: *out_value = nearkit_sharded_dimension(c); break;
    case 3: *out_value = (uint64_t)nearkit_sharded_metric(c); break;
    case 4: *out_value = (uint64_t)nearkit_sharded_vector_type(c); break;
    case 5: *out_value = nearkit_sharded_memory_bytes(c); break;
    default: return nkpy_fail("unknown sharded info %d", (int)what);
    }
    return NEARKIT_OK;
}

/* k-NN search over every shard, merged; the filter and per-call parameters (each None, or as
 * nkpy_search_with's) go to every shard; buffers as nkpy_search's. */
nearkit_status nkpy_sharded_search(nkpy_sharded *s, int32_t type, const void *queries, size_t nbytes,
                                   uint64_t k, uint32_t num_threads, nkpy_filter *filter,
                                   nkpy_params *params, void *out_ids, size_t out_ids_nbytes,
                                   void *out_distances, size_t out_distances_nbytes) {
    const nearkit_sharded *c = (const nearkit_sharded *)s;
    const nearkit_index *first = nearkit_sharded_shard(c, 0);
    nearkit_search_options o;
    uint64_t n = 0;
    nearkit_status st;
    if (first == NULL)
        return nearkit_sharded_search(NULL, NULL, c, type, queries, 0, k, NULL); /* the library's error */
    st = nkpy_count_vectors(&n, first, type, nbytes);
    if (st == NEARKIT_OK && ((uint64_t)out_ids_nbytes != n * k * 8u ||
                             (uint64_t)out_distances_nbytes != n * k * 4u))
        st = nkpy_fail("output buffers must hold n * k results");
    if (st != NEARKIT_OK) return st;
    o = nkpy_search_options(num_threads, filter, params);
    st = nearkit_sharded_search((int64_t *)out_ids, (float *)out_distances, c, type, queries, n, k, &o);
    return nkpy_search_failed(filter, st);
}

/* Saves the collection to the directory `path`. */
nearkit_status nkpy_sharded_save(nkpy_sharded *s, const char *path) {
    return nearkit_sharded_save((const nearkit_sharded *)s, path);
}

/* Writes the manifest of the directory `path` for the shard files named (saved there already). */
nearkit_status nkpy_sharded_write_manifest(const char *path, const char *const *files, uint64_t n_files) {
    return nearkit_sharded_write_manifest(path, files, n_files);
}

/* The number of shards the manifest of the directory `path` lists. */
nearkit_status nkpy_sharded_manifest_shard_count(uint64_t *out_value, const char *path) {
    return nearkit_sharded_manifest_shard_count(out_value, path);
}

/* The i-th shard of the collection saved in the directory `path`, as an ordinary index. */
nearkit_status nkpy_sharded_open_shard(nkpy_index **out_index, const char *path, uint64_t i) {
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_sharded_open_shard(&index, path, i);
    return nkpy_install(out_index, st, index);
}

/* The same shard as a read-only view of its file (nearkit_sharded_view_shard). */
nearkit_status nkpy_sharded_view_shard(nkpy_index **out_index, const char *path, uint64_t i, int32_t verify,
                                       int32_t load_if_unviewable) {
    nearkit_view_options options = NEARKIT_VIEW_OPTIONS_INIT;
    options.verify = verify;
    options.load_if_unviewable = load_if_unviewable;
    nearkit_index *index = NULL;
    nearkit_status st = nearkit_sharded_view_shard(&index, path, i, &options);
    return nkpy_install(out_index, st, index);
}
%}

%exception;

/* Error classes: called once by nearkit/__init__.py with the base class, the class for each
 * status 1..8 (in order INVALID_ARGUMENT .. INTERNAL) and the class for a closed index. A status
 * without a class (a newer library's) raises the base class. */
%inline %{
PyObject *nkpy_register_errors(PyObject *base, PyObject *by_status, PyObject *closed) {
    Py_ssize_t i, n;
    if (!PyTuple_Check(by_status)) {
        PyErr_SetString(PyExc_TypeError, "by_status must be a tuple");
        return NULL;
    }
    n = PyTuple_GET_SIZE(by_status);
    if (n > 15) n = 15;
    Py_INCREF(base);
    Py_XSETREF(nkpy_exc_by_status[0], base);
    for (i = 0; i < n; i++) {
        PyObject *cls = PyTuple_GET_ITEM(by_status, i);
        Py_INCREF(cls);
        Py_XSETREF(nkpy_exc_by_status[i + 1], cls);
    }
    Py_INCREF(closed);
    Py_XSETREF(nkpy_exc_closed, closed);
    Py_RETURN_NONE;
}
%}
