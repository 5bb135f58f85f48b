/*
 * nearkit_jni.c - the JNI glue between io.nearkit.NativeLib and the nearkit C ABI (nearkit.h).
 *
 * Thin by design: it converts Java arrays, buffers and strings to what the C functions take, calls
 * them, and turns a failing status into a Java exception built by io.nearkit.NativeSupport.error()
 * from the status and nearkit_last_error_message() (read on the same thread right after the call).
 *
 * Rules kept throughout:
 *   - no JNI critical section is held across a nearkit call: Java arrays are copied into native
 *     memory (on the stack when small) with Get<Type>ArrayRegion, results copied back with
 *     Set<Type>ArrayRegion, so the garbage collector is never blocked by a long search;
 *   - direct buffers are read in place (GetDirectBufferAddress), bounds-checked against capacity;
 *   - after any pending Java exception the function returns at once, releasing what it holds;
 *   - the index pointer is valid: the Java side calls in here only with its close guard held (a read
 *     lock every call but close takes) and the index open (io.nearkit.Index). The glue holds no
 *     lock of its own: the C library orders writers and searches (nearkit.h, "Thread safety");
 *   - a predicate filter calls Java from the search's native threads: pool threads are attached
 *     to the JVM as daemons on first use and detached when they exit; the first exception the
 *     predicate throws is kept, later calls answer "not allowed" at once, and the searching thread
 *     rethrows it when the search returns.
 */
#include <jni.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NEARKIT_EXPERIMENTAL /* nearkit_index_tune, nearkit_merge_knn, the views, a sharded view */
#include "nearkit.h"

#include "io_nearkit_NativeLib.h"

/* Source kinds, as io.nearkit.NativeLib.SRC_* */
#define SRC_FLOATS 0
#define SRC_BYTES 1
#define SRC_DIRECT 2
#define SRC_SHORTS 3

/* Inputs and outputs up to this size live on the stack (the single-query path allocates nothing). */
#define STACK_BYTES 4096

static jclass g_support;     /* io.nearkit.NativeSupport */
static jmethodID g_error;    /* static Throwable error(int, byte[], int) */
static jmethodID g_utf8;     /* static String utf8(byte[]) */
static jclass g_filter_call; /* io.nearkit.FilterCall */
static jmethodID g_filter_test; /* boolean test(long) */
static JavaVM *g_vm;

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    JNIEnv *env;
    jclass cls;
    (void)reserved;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) {
        return JNI_ERR;
    }
    g_vm = vm;
    cls = (*env)->FindClass(env, "io/nearkit/FilterCall");
    if (cls == NULL) {
        return JNI_ERR;
    }
    g_filter_call = (jclass)(*env)->NewGlobalRef(env, cls);
    (*env)->DeleteLocalRef(env, cls);
    if (g_filter_call == NULL) {
        return JNI_ERR;
    }
    g_filter_test = (*env)->GetMethodID(env, g_filter_call, "test", "(J)Z");
    if (g_filter_test == NULL) {
        return JNI_ERR;
    }
    cls = (*env)->FindClass(env, "io/nearkit/NativeSupport");
    if (cls == NULL) {
        return JNI_ERR;
    }
    g_support = (jclass)(*env)->NewGlobalRef(env, cls);
    (*env)->DeleteLocalRef(env, cls);
    if (g_support == NULL) {
        return JNI_ERR;
    }
    g_error = (*env)->GetStaticMethodID(env, g_support, "error", "(I[BI)Ljava/lang/Throwable;");
    g_utf8 = (*env)->GetStaticMethodID(env, g_support, "utf8", "([B)Ljava/lang/String;");
    if (g_error == NULL || g_utf8 == NULL) {
        return JNI_ERR;
    }
    return JNI_VERSION_1_8;
}

JNIEXPORT void JNICALL JNI_OnUnload(JavaVM *vm, void *reserved) {
    JNIEnv *env;
    (void)reserved;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) == JNI_OK) {
        if (g_support != NULL) {
            (*env)->DeleteGlobalRef(env, g_support);
            g_support = NULL;
        }
        if (g_filter_call != NULL) {
            (*env)->DeleteGlobalRef(env, g_filter_call);
            g_filter_call = NULL;
        }
    }
}

/* ---- errors and strings ------------------------------------------------------------------------ */

static jbyteArray bytes_of(JNIEnv *env, const char *s, size_t len) {
    jbyteArray b;
    if (len > (size_t)INT32_MAX) {
        len = (size_t)INT32_MAX;
    }
    b = (*env)->NewByteArray(env, (jsize)len);
    if (b != NULL && len > 0) {
        (*env)->SetByteArrayRegion(env, b, 0, (jsize)len, (const jbyte *)s);
    }
    return b;
}

/* The statuses a Java native method declares as checked exceptions (NativeSupport.error's
 * `declared`): bit 1 << status. IO and CORRUPT a method does not declare come wrapped in an
 * UncheckedIOException. */
#define DECLARES_CORRUPT (1 << NEARKIT_ERR_CORRUPT)
#define DECLARES_IO ((1 << NEARKIT_ERR_IO) | DECLARES_CORRUPT)

/* Throws the exception NativeSupport.error() builds for `status` and `message`. */
static void throw_status_as(JNIEnv *env, nearkit_status status, const char *message,
                            jint declared) {
    jbyteArray msg;
    jthrowable t;
    if ((*env)->ExceptionCheck(env)) {
        return;
    }
    msg = bytes_of(env, message != NULL ? message : "", message != NULL ? strlen(message) : 0);
    if (msg == NULL) {
        return; /* OutOfMemoryError pending */
    }
    t = (jthrowable)(*env)->CallStaticObjectMethod(env, g_support, g_error, (jint)status, msg,
                                                   declared);
    (*env)->DeleteLocalRef(env, msg);
    if ((*env)->ExceptionCheck(env) || t == NULL) {
        return;
    }
    (*env)->Throw(env, t);
    (*env)->DeleteLocalRef(env, t);
}

static void throw_status(JNIEnv *env, nearkit_status status, const char *message) {
    throw_status_as(env, status, message, 0);
}

/* Throws for a failed nearkit call; call right after it, before any other nearkit call. */
static void throw_last_as(JNIEnv *env, nearkit_status status, jint declared) {
    const char *m = nearkit_last_error_message();
    if (m == NULL || m[0] == '\0') {
        m = nearkit_status_name(status);
    }
    throw_status_as(env, status, m, declared);
}

static void throw_last(JNIEnv *env, nearkit_status status) {
    throw_last_as(env, status, 0);
}


static void throw_oom(JNIEnv *env, const char *what) {
    throw_status(env, NEARKIT_ERR_OUT_OF_MEMORY, what);
}

static void throw_invalid(JNIEnv *env, const char *what) {
    throw_status(env, NEARKIT_ERR_INVALID_ARGUMENT, what);
}

/* A Java String from a C string: NewStringUTF for plain ASCII, else decoded as UTF-8 in Java
 * (NewStringUTF wants modified UTF-8 and must not see arbitrary bytes). NULL gives NULL. */
static jstring new_string(JNIEnv *env, const char *s) {
    size_t i, len;
    jbyteArray b;
    jstring r;
    if (s == NULL) {
        return NULL;
    }
    len = strlen(s);
    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            break;
        }
    }
    if (i == len) {
        return (*env)->NewStringUTF(env, s);
    }
    b = bytes_of(env, s, len);
    if (b == NULL) {
        return NULL;
    }
    r = (jstring)(*env)->CallStaticObjectMethod(env, g_support, g_utf8, b);
    (*env)->DeleteLocalRef(env, b);
    return r;
}

/* GetStringUTFChars with a NULL check: NULL stays NULL only when allow_null. Returns 0 on failure
 * (an exception is pending). */
static int get_utf(JNIEnv *env, jstring s, const char **out, int allow_null, const char *what) {
    *out = NULL;
    if (s == NULL) {
        if (!allow_null) {
            throw_invalid(env, what);
            return 0;
        }
        return 1;
    }
    *out = (*env)->GetStringUTFChars(env, s, NULL);
    return *out != NULL;
}

static void release_utf(JNIEnv *env, jstring s, const char *chars) {
    if (s != NULL && chars != NULL) {
        (*env)->ReleaseStringUTFChars(env, s, chars);
    }
}

/* ---- input staging ----------------------------------------------------------------------------- */

typedef struct staged {
    const void *ptr; /* what the nearkit call reads */
    void *heap;      /* malloc'ed copy to free, or NULL */
} staged;

/* Makes `nbytes` of input available at s->ptr.
 *   SRC_FLOATS  src is a float[]; offset counts floats; nbytes is a multiple of 4
 *   SRC_BYTES   src is a byte[]; offset counts bytes
 *   SRC_DIRECT  src is a direct java.nio.Buffer; offset counts bytes from its address
 *   SRC_SHORTS  src is a short[] (float16 bits); offset counts shorts; nbytes is a multiple of 2
 *   elem        bytes per element of a direct buffer (4 for FloatBuffer, 1 for ByteBuffer)
 * Small array inputs are copied into `stack` (STACK_BYTES); larger ones into malloc'ed memory.
 * Returns 0 with an exception pending on failure. */
static int stage(JNIEnv *env, staged *s, jint src_kind, jobject src, jlong offset, jlong nbytes,
                 jlong elem, unsigned char *stack) {
    s->ptr = NULL;
    s->heap = NULL;
    if (src == NULL) {
        throw_invalid(env, "input is null");
        return 0;
    }
    if (offset < 0 || nbytes < 0) {
        throw_invalid(env, "negative input offset or length");
        return 0;
    }
    if (src_kind == SRC_DIRECT) {
        unsigned char *addr = (unsigned char *)(*env)->GetDirectBufferAddress(env, src);
        jlong cap = (*env)->GetDirectBufferCapacity(env, src);
        /* Capacity counts elements of `elem` bytes (4 for a FloatBuffer, 1 for a ByteBuffer). */
        if (addr == NULL || cap < 0) {
            throw_invalid(env, "the buffer is not a direct buffer, or its memory is not accessible");
            return 0;
        }
        if (cap > INT64_MAX / 8 || offset > cap * elem || nbytes > cap * elem - offset) {
            throw_invalid(env, "input range exceeds the buffer");
            return 0;
        }
        s->ptr = addr + offset;
        return 1;
    }
    if (src_kind != SRC_FLOATS && src_kind != SRC_BYTES && src_kind != SRC_SHORTS) {
        throw_invalid(env, "unknown input kind");
        return 0;
    }
    if ((uint64_t)nbytes > (uint64_t)SIZE_MAX) {
        throw_oom(env, "input too large for this platform");
        return 0;
    }
    {
        void *dst = stack;
        if (nbytes > STACK_BYTES) {
            dst = malloc((size_t)nbytes);
            if (dst == NULL) {
                throw_oom(env, "could not allocate native memory for the input vectors");
                return 0;
            }
            s->heap = dst;
        }
        if (src_kind == SRC_FLOATS) {
            if (offset > INT32_MAX || nbytes / 4 > INT32_MAX) {
                throw_invalid(env, "input range exceeds the array");
                free(s->heap);
                s->heap = NULL;
                return 0;
            }
            (*env)->GetFloatArrayRegion(env, (jfloatArray)src, (jsize)offset, (jsize)(nbytes / 4),
                                        (jfloat *)dst);
        } else if (src_kind == SRC_SHORTS) {
            if (offset > INT32_MAX || nbytes / 2 > INT32_MAX) {
                throw_invalid(env, "input range exceeds the array");
                free(s->heap);
                s->heap = NULL;
                return 0;
            }
            (*env)->GetShortArrayRegion(env, (jshortArray)src, (jsize)offset, (jsize)(nbytes / 2),
                                        (jshort *)dst);
        } else {
            if (offset > INT32_MAX || nbytes > INT32_MAX) {
                throw_invalid(env, "input range exceeds the array");
                free(s->heap);
                s->heap = NULL;
                return 0;
            }
            (*env)->GetByteArrayRegion(env, (jbyteArray)src, (jsize)offset, (jsize)nbytes,
                                       (jbyte *)dst);
        }
        if ((*env)->ExceptionCheck(env)) { /* ArrayIndexOutOfBoundsException */
            free(s->heap);
            s->heap = NULL;
            return 0;
        }
        s->ptr = dst;
    }
    return 1;
}

static void unstage(staged *s) {
    free(s->heap);
    s->heap = NULL;
    s->ptr = NULL;
}

/* Element size of a direct buffer holding vectors of this type. */
#define ELEM(type) ((type) == NEARKIT_VECTOR_FLOAT32 ? (jlong)4 : (jlong)1)

static nearkit_index *IDX(jlong h) {
    return (nearkit_index *)(intptr_t)h;
}

static const nearkit_index *CIDX(jlong h) {
    return (const nearkit_index *)(intptr_t)h;
}

/* ---- versions, status, kinds, metrics ---------------------------------------------------------- */

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_abiVersion(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return (jint)nearkit_abi_version();
}

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_compiledAbiVersion(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return (jint)NEARKIT_ABI_VERSION;
}

JNIEXPORT jstring JNICALL Java_io_nearkit_NativeLib_versionString(JNIEnv *env, jclass cls) {
    (void)cls;
    return new_string(env, nearkit_version_string());
}

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_versionNumber(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return (jint)nearkit_version_number();
}

JNIEXPORT jstring JNICALL Java_io_nearkit_NativeLib_statusName(JNIEnv *env, jclass cls,
                                                                jint status) {
    (void)cls;
    return new_string(env, nearkit_status_name((nearkit_status)status));
}

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_kindCount(JNIEnv *env, jclass cls) {
    size_t n = nearkit_kind_count();
    (void)env;
    (void)cls;
    return n > INT32_MAX ? INT32_MAX : (jint)n;
}

/* {first, second} as a String[2] (NULL strings become ""); NULL with an exception pending. */
static jobjectArray new_string_pair(JNIEnv *env, const char *first, const char *second) {
    jobjectArray texts;
    jstring a, b;
    jclass string_class = (*env)->FindClass(env, "java/lang/String");
    if (string_class == NULL) {
        return NULL;
    }
    texts = (*env)->NewObjectArray(env, 2, string_class, NULL);
    (*env)->DeleteLocalRef(env, string_class);
    if (texts == NULL) {
        return NULL;
    }
    a = new_string(env, first != NULL ? first : "");
    if (a == NULL) {
        return NULL;
    }
    b = new_string(env, second != NULL ? second : "");
    if (b == NULL) {
        return NULL;
    }
    (*env)->SetObjectArrayElement(env, texts, 0, a);
    (*env)->SetObjectArrayElement(env, texts, 1, b);
    return texts;
}

JNIEXPORT jobjectArray JNICALL Java_io_nearkit_NativeLib_kindInfo(JNIEnv *env, jclass cls, jint i,
                                                                   jintArray out) {
    nearkit_kind_info info;
    nearkit_status st;
    jint ints[3];
    (void)cls;
    if (i < 0) {
        throw_invalid(env, "negative kind position");
        return NULL;
    }
    memset(&info, 0, sizeof info);
    info.struct_size = (uint32_t)sizeof info;
    st = nearkit_kind_get_info(&info, (size_t)i);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return NULL;
    }
    ints[0] = (jint)info.kind;
    ints[1] = (jint)info.flags;
    ints[2] = (jint)info.metric_mask;
    (*env)->SetIntArrayRegion(env, out, 0, 3, ints);
    if ((*env)->ExceptionCheck(env)) {
        return NULL;
    }
    return new_string_pair(env, info.name, info.description);
}

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_kindFromName(JNIEnv *env, jclass cls,
                                                              jstring name) {
    const char *s;
    nearkit_kind kind = 0;
    nearkit_status st;
    (void)cls;
    if (!get_utf(env, name, &s, 0, "kind name is null")) {
        return 0;
    }
    st = nearkit_kind_from_name(&kind, s);
    release_utf(env, name, s);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return 0;
    }
    return (jint)kind;
}

JNIEXPORT jstring JNICALL Java_io_nearkit_NativeLib_kindName(JNIEnv *env, jclass cls, jint kind) {
    (void)cls;
    return new_string(env, nearkit_kind_name((nearkit_kind)kind));
}

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_metricFromName(JNIEnv *env, jclass cls,
                                                                jstring name) {
    const char *s;
    nearkit_metric metric = 0;
    nearkit_status st;
    (void)cls;
    if (!get_utf(env, name, &s, 0, "metric name is null")) {
        return 0;
    }
    st = nearkit_metric_from_name(&metric, s);
    release_utf(env, name, s);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return 0;
    }
    return (jint)metric;
}

JNIEXPORT jstring JNICALL Java_io_nearkit_NativeLib_metricName(JNIEnv *env, jclass cls,
                                                               jint metric) {
    (void)cls;
    return new_string(env, nearkit_metric_name((nearkit_metric)metric));
}

/* ---- lifetime ---------------------------------------------------------------------------------- */

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_create(JNIEnv *env, jclass cls, jstring kind_name,
                                                         jstring metric_name, jint dimension,
                                                         jint num_threads, jlong seed,
                                                         jstring params) {
    const char *kind_s = NULL, *metric_s = NULL, *params_s = NULL;
    nearkit_kind kind = 0;
    nearkit_metric metric = 0;
    nearkit_index_options options;
    nearkit_index *index = NULL;
    nearkit_status st;
    jlong result = 0;
    (void)cls;
    if (dimension < 0 || num_threads < 0) {
        throw_invalid(env, "dimension and num_threads must not be negative");
        return 0;
    }
    if (!get_utf(env, kind_name, &kind_s, 0, "kind name is null") ||
        !get_utf(env, metric_name, &metric_s, 0, "metric name is null") ||
        !get_utf(env, params, &params_s, 1, "")) {
        goto done;
    }
    st = nearkit_kind_from_name(&kind, kind_s);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        goto done;
    }
    st = nearkit_metric_from_name(&metric, metric_s);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        goto done;
    }
    st = nearkit_index_options_init(&options);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        goto done;
    }
    options.num_threads = (uint32_t)num_threads;
    options.seed = (uint64_t)seed;
    options.params = params_s;
    st = nearkit_index_create(&index, kind, metric, (uint32_t)dimension, &options);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        goto done;
    }
    result = (jlong)(intptr_t)index;
done:
    release_utf(env, kind_name, kind_s);
    release_utf(env, metric_name, metric_s);
    release_utf(env, params, params_s);
    return result;
}

JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_free(JNIEnv *env, jclass cls, jlong index) {
    (void)env;
    (void)cls;
    nearkit_index_free(IDX(index));
}

/* ---- adding, training, building ---------------------------------------------------------------- */

JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_add(JNIEnv *env, jclass cls, jlong index,
                                                     jint type, jint src_kind, jobject src,
                                                     jlong offset, jlong nbytes, jlong n,
                                                     jlongArray ids) {
    unsigned char stack[STACK_BYTES];
    staged in;
    int64_t *id_buf = NULL;
    nearkit_status st;
    (void)cls;
    if (n < 0) {
        throw_invalid(env, "negative vector count");
        return;
    }
    if (ids != NULL) {
        jsize len = (*env)->GetArrayLength(env, ids);
        if ((jlong)len != n) {
            throw_invalid(env, "the number of ids differs from the number of vectors");
            return;
        }
        id_buf = (int64_t *)malloc(len > 0 ? (size_t)len * sizeof(int64_t) : 1);
        if (id_buf == NULL) {
            throw_oom(env, "could not allocate native memory for the ids");
            return;
        }
        (*env)->GetLongArrayRegion(env, ids, 0, len, (jlong *)id_buf);
        if ((*env)->ExceptionCheck(env)) {
            free(id_buf);
            return;
        }
    }
    if (!stage(env, &in, src_kind, src, offset, nbytes, ELEM(type), stack)) {
        free(id_buf);
        return;
    }
    st = nearkit_index_add(IDX(index), (nearkit_vector_type)type, in.ptr, (uint64_t)n, id_buf);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
    }
    unstage(&in);
    free(id_buf);
}

JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_train(JNIEnv *env, jclass cls, jlong index,
                                                       jint type, jint src_kind, jobject src,
                                                       jlong offset, jlong nbytes, jlong n) {
    unsigned char stack[STACK_BYTES];
    staged in;
    nearkit_status st;
    (void)cls;
    if (n < 0) {
        throw_invalid(env, "negative vector count");
        return;
    }
    if (!stage(env, &in, src_kind, src, offset, nbytes, ELEM(type), stack)) {
        return;
    }
    st = nearkit_index_train(IDX(index), (nearkit_vector_type)type, in.ptr, (uint64_t)n);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
    }
    unstage(&in);
}

JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_build(JNIEnv *env, jclass cls, jlong index) {
    nearkit_status st;
    (void)cls;
    st = nearkit_index_build(IDX(index));
    if (st != NEARKIT_OK) {
        throw_last(env, st);
    }
}

/* ---- removing and reading back ----------------------------------------------------------------- */

/* A native copy of a long[] (at least one element's room); NULL with an exception pending. */
static int64_t *copy_ids(JNIEnv *env, jlongArray ids, jsize *n_out) {
    jsize n;
    int64_t *buf;
    *n_out = 0;
    if (ids == NULL) {
        throw_invalid(env, "ids are null");
        return NULL;
    }
    n = (*env)->GetArrayLength(env, ids);
    buf = (int64_t *)malloc(n > 0 ? (size_t)n * sizeof(int64_t) : 1);
    if (buf == NULL) {
        throw_oom(env, "could not allocate native memory for the ids");
        return NULL;
    }
    (*env)->GetLongArrayRegion(env, ids, 0, n, (jlong *)buf);
    if ((*env)->ExceptionCheck(env)) {
        free(buf);
        return NULL;
    }
    *n_out = n;
    return buf;
}

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_remove(JNIEnv *env, jclass cls, jlong index,
                                                         jlongArray ids) {
    jsize n;
    uint64_t removed = 0;
    int64_t *buf;
    nearkit_status st;
    (void)cls;
    buf = copy_ids(env, ids, &n);
    if (buf == NULL) {
        return 0;
    }
    st = nearkit_index_remove(&removed, IDX(index), buf, (uint64_t)n);
    free(buf);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return 0;
    }
    return removed > (uint64_t)INT64_MAX ? INT64_MAX : (jlong)removed;
}

/* `vectors` is a float[] (float index) or byte[] (binary index) of ids.length rows; found[i] gets
 * 1 for a stored id, else 0 (and row i zeros). */
JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_get(JNIEnv *env, jclass cls, jlong index,
                                                     jlongArray ids, jobject vectors,
                                                     jbyteArray found) {
    jsize n;
    int64_t *buf;
    void *rows = NULL;
    uint8_t *flags = NULL;
    uint64_t row_bytes = nearkit_index_vector_bytes(CIDX(index));
    int is_float = nearkit_index_vector_type(CIDX(index)) == NEARKIT_VECTOR_FLOAT32;
    jsize elems, want;
    nearkit_status st;
    (void)cls;
    if (vectors == NULL || found == NULL) {
        throw_invalid(env, "result arrays are null");
        return;
    }
    buf = copy_ids(env, ids, &n);
    if (buf == NULL) {
        return;
    }
    elems = (*env)->GetArrayLength(env, (jarray)vectors);
    if (row_bytes == 0 || (uint64_t)n * row_bytes > (uint64_t)INT32_MAX * (is_float ? 4u : 1u)) {
        throw_invalid(env, "the vectors of these ids do not fit in a Java array");
        goto done;
    }
    want = (jsize)((uint64_t)n * row_bytes / (is_float ? 4u : 1u));
    if (elems != want || (*env)->GetArrayLength(env, found) != n) {
        throw_invalid(env, "result arrays have the wrong length");
        goto done;
    }
    rows = malloc(n > 0 ? (size_t)n * (size_t)row_bytes : 1);
    flags = (uint8_t *)malloc(n > 0 ? (size_t)n : 1);
    if (rows == NULL || flags == NULL) {
        throw_oom(env, "could not allocate native memory for the vectors read back");
        goto done;
    }
    st = nearkit_index_get(rows, flags, CIDX(index), buf, (uint64_t)n);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        goto done;
    }
    if (n > 0) {
        if (is_float) {
            (*env)->SetFloatArrayRegion(env, (jfloatArray)vectors, 0, want, (const jfloat *)rows);
        } else {
            (*env)->SetByteArrayRegion(env, (jbyteArray)vectors, 0, want, (const jbyte *)rows);
        }
        (*env)->SetByteArrayRegion(env, found, 0, n, (const jbyte *)flags);
    }
done:
    free(buf);
    free(rows);
    free(flags);
}

JNIEXPORT jboolean JNICALL Java_io_nearkit_NativeLib_contains(JNIEnv *env, jclass cls, jlong index,
                                                              jlong id) {
    (void)env;
    (void)cls;
    return nearkit_index_contains(CIDX(index), (int64_t)id) ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_compact(JNIEnv *env, jclass cls, jlong index) {
    nearkit_status st;
    (void)cls;
    st = nearkit_index_compact(IDX(index));
    if (st != NEARKIT_OK) {
        throw_last(env, st);
    }
}

/* ---- predicate filters: calls from the search's threads into Java ------------------------------ */

/* One search's predicate: the FilterCall to call and what went wrong on any thread. */
typedef struct predicate_call {
    jobject target;              /* global reference to the io.nearkit.FilterCall */
    _Atomic(jthrowable) thrown;  /* the first exception the predicate threw (global ref) or NULL */
    atomic_int failed;           /* set once: later calls answer 0 without calling Java */
    atomic_int attach_failed;    /* a thread could not be attached to the JVM */
} predicate_call;

static pthread_key_t g_attached_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static int g_key_ok;

/* Thread-exit destructor of a thread this glue attached: detach it, so the JVM forgets it. */
static void detach_thread(void *vm) {
    (*(JavaVM *)vm)->DetachCurrentThread((JavaVM *)vm);
}

static void make_attached_key(void) {
    g_key_ok = pthread_key_create(&g_attached_key, detach_thread) == 0;
}

/* The JNIEnv of the calling thread, attaching it (as a daemon, so it never delays the JVM's exit)
 * when it is one of the library's pool threads running its first predicate; it stays attached
 * until it exits. NULL when it cannot be attached. */
static JNIEnv *thread_env(void) {
    JNIEnv *env = NULL;
    JavaVMAttachArgs args;
    jint rc = (*g_vm)->GetEnv(g_vm, (void **)&env, JNI_VERSION_1_8);
    if (rc == JNI_OK) {
        return env;
    }
    if (rc != JNI_EDETACHED) {
        return NULL;
    }
    pthread_once(&g_key_once, make_attached_key);
    if (!g_key_ok) {
        return NULL;
    }
    args.version = JNI_VERSION_1_8;
    args.name = (char *)"nearkit-search";
    args.group = NULL;
    if ((*g_vm)->AttachCurrentThreadAsDaemon(g_vm, (void **)&env, &args) != JNI_OK) {
        return NULL;
    }
    if (pthread_setspecific(g_attached_key, g_vm) != 0) {
        (*g_vm)->DetachCurrentThread(g_vm);
        return NULL;
    }
    return env;
}

/* Keeps the pending exception if it is the first; clears it on this thread either way. */
static void keep_first_exception(JNIEnv *env, predicate_call *pc) {
    jthrowable local = (*env)->ExceptionOccurred(env);
    jthrowable global, expected = NULL;
    (*env)->ExceptionClear(env);
    atomic_store(&pc->failed, 1);
    if (local == NULL) {
        return;
    }
    global = (jthrowable)(*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local); /* attached pool threads have no frame to free it */
    if (global != NULL && !atomic_compare_exchange_strong(&pc->thrown, &expected, global)) {
        (*env)->DeleteGlobalRef(env, global);
    }
}

/* The nearkit_id_predicate of a Java LongPredicate filter. */
static int32_t call_predicate(void *context, int64_t id) {
    predicate_call *pc = (predicate_call *)context;
    JNIEnv *env;
    jboolean allowed;
    if (atomic_load_explicit(&pc->failed, memory_order_relaxed)) {
        return 0;
    }
    env = thread_env();
    if (env == NULL) {
        atomic_store(&pc->attach_failed, 1);
        atomic_store(&pc->failed, 1);
        return 0;
    }
    allowed = (*env)->CallBooleanMethod(env, pc->target, g_filter_test, (jlong)id);
    if ((*env)->ExceptionCheck(env)) {
        keep_first_exception(env, pc);
        return 0;
    }
    return allowed ? 1 : 0;
}

/* ---- search options ---------------------------------------------------------------------------- */

/* Per-call parameters held in call_options itself: a call names one or two, and two callocs
 * and frees were a measurable share of a single-query search with them. */
#define CALL_INLINE_PARAMS 4

/* A nearkit_search_options built from io.nearkit.SearchOptions' fields, with what it borrows.
 * The options point into the struct: it must not be copied once read. */
typedef struct call_options {
    nearkit_search_options options;
    nearkit_filter filter;
    nearkit_param_value *params; /* n_params, names borrowed from `names`; inline_params or heap */
    jstring *names;              /* inline_names or heap */
    jsize n_params;
    int has_predicate;
    predicate_call predicate;
    nearkit_param_value inline_params[CALL_INLINE_PARAMS];
    jstring inline_names[CALL_INLINE_PARAMS];
} call_options;

/* Points co->filter at the direct buffer of ids or bitmap bytes, or at the FilterCall. `type` is
 * io.nearkit.SearchOptions.FILTER_*, which are the NEARKIT_FILTER_* values. */
static int read_filter(JNIEnv *env, call_options *co, jint type, jobject data, jlong count,
                       jlong first) {
    nearkit_filter init = NEARKIT_FILTER_INIT;
    co->filter = init;
    co->filter.type = (uint32_t)type;
    if (type == NEARKIT_FILTER_NONE) {
        return 1;
    }
    if (data == NULL || count < 0) {
        throw_invalid(env, "filter data is missing");
        return 0;
    }
    if (type == NEARKIT_FILTER_IDS || type == NEARKIT_FILTER_BITMAP) {
        const uint8_t *addr = (const uint8_t *)(*env)->GetDirectBufferAddress(env, data);
        jlong cap = (*env)->GetDirectBufferCapacity(env, data);
        jlong need = type == NEARKIT_FILTER_IDS ? count : (count + 7) / 8;
        if (addr == NULL || cap < 0 || (type == NEARKIT_FILTER_IDS && count > cap / 8) || need > cap) {
            throw_invalid(env, "filter data exceeds its buffer");
            return 0;
        }
        if (type == NEARKIT_FILTER_IDS) {
            co->filter.ids = (const int64_t *)(const void *)addr;
            co->filter.n_ids = (uint64_t)count;
        } else {
            co->filter.bitmap = addr;
            co->filter.bitmap_first = (int64_t)first;
            co->filter.bitmap_bits = (uint64_t)count;
        }
        return 1;
    }
    if (type != NEARKIT_FILTER_PREDICATE) {
        throw_invalid(env, "unknown filter type");
        return 0;
    }
    if (!(*env)->IsInstanceOf(env, data, g_filter_call)) {
        throw_invalid(env, "a predicate filter needs an io.nearkit.FilterCall");
        return 0;
    }
    /* A global reference: the pool threads cannot use this thread's local one. */
    co->predicate.target = (*env)->NewGlobalRef(env, data);
    if (co->predicate.target == NULL) {
        throw_oom(env, "could not reference the filter predicate");
        return 0;
    }
    atomic_init(&co->predicate.thrown, NULL);
    atomic_init(&co->predicate.failed, 0);
    atomic_init(&co->predicate.attach_failed, 0);
    co->has_predicate = 1;
    co->filter.predicate = call_predicate;
    co->filter.context = &co->predicate;
    return 1;
}

/* Borrows the parameter names' UTF-8 for the call; `names` and `values` are null or equally long. */
static int read_params(JNIEnv *env, call_options *co, jobjectArray names, jdoubleArray values) {
    jsize i, n;
    if (names == NULL && values == NULL) {
        return 1;
    }
    n = names != NULL ? (*env)->GetArrayLength(env, names) : -1;
    if (values == NULL || n != (*env)->GetArrayLength(env, values)) {
        throw_invalid(env, "parameter names and values differ in number");
        return 0;
    }
    if (n == 0) {
        return 1;
    }
    if (n <= CALL_INLINE_PARAMS) {
        co->params = co->inline_params; /* zeroed by read_options */
        co->names = co->inline_names;
    } else {
        co->params = (nearkit_param_value *)calloc((size_t)n, sizeof *co->params);
        co->names = (jstring *)calloc((size_t)n, sizeof *co->names);
    }
    if (co->params == NULL || co->names == NULL) {
        throw_oom(env, "could not allocate native memory for the search parameters");
        return 0;
    }
    for (i = 0; i < n; i++) {
        jdouble v;
        co->names[i] = (jstring)(*env)->GetObjectArrayElement(env, names, i);
        if (!get_utf(env, co->names[i], &co->params[i].name, 0, "parameter name is null")) {
            co->names[i] = NULL;
            return 0;
        }
        co->n_params = i + 1;
        (*env)->GetDoubleArrayRegion(env, values, i, 1, &v);
        co->params[i].value = v;
    }
    co->options.params = co->params;
    co->options.n_params = (uint64_t)n;
    return 1;
}

static void release_options(JNIEnv *env, call_options *co) {
    jsize i;
    for (i = 0; i < co->n_params; i++) {
        release_utf(env, co->names[i], co->params[i].name);
        (*env)->DeleteLocalRef(env, co->names[i]);
    }
    if (co->params != co->inline_params) {
        free(co->params);
        free(co->names);
    }
    if (co->has_predicate) {
        jthrowable t = atomic_load(&co->predicate.thrown);
        if (t != NULL) {
            (*env)->DeleteGlobalRef(env, t);
        }
        (*env)->DeleteGlobalRef(env, co->predicate.target);
    }
    memset(co, 0, sizeof *co);
}

/* Fills co from the Java options; 0 with an exception pending (release_options still due). */
static int read_options(JNIEnv *env, call_options *co, jint num_threads, jint filter_type,
                        jobject filter_data, jlong filter_count, jlong bitmap_first,
                        jobjectArray names, jdoubleArray values) {
    memset(co, 0, sizeof *co);
    nearkit_search_options_init(&co->options);
    if (num_threads < 0) {
        throw_invalid(env, "negative thread count");
        return 0;
    }
    co->options.num_threads = (uint32_t)num_threads;
    if (!read_filter(env, co, filter_type, filter_data, filter_count, bitmap_first)) {
        return 0;
    }
    if (filter_type != NEARKIT_FILTER_NONE) {
        co->options.filter = &co->filter;
    }
    return read_params(env, co, names, values);
}

/* After the search: throws what the predicate threw, on this thread, as it was thrown (1), or
 * returns 0 when the predicate never failed. */
static int rethrow_predicate_failure(JNIEnv *env, call_options *co) {
    jthrowable t;
    if (!co->has_predicate || !atomic_load(&co->predicate.failed)) {
        return 0;
    }
    t = atomic_exchange(&co->predicate.thrown, NULL);
    if (t != NULL) {
        jthrowable local = (jthrowable)(*env)->NewLocalRef(env, t);
        (*env)->DeleteGlobalRef(env, t);
        if (local != NULL) {
            (*env)->Throw(env, local);
            (*env)->DeleteLocalRef(env, local);
            return 1;
        }
    }
    throw_status(env, NEARKIT_ERR_INTERNAL,
                 atomic_load(&co->predicate.attach_failed)
                     ? "a search thread could not be attached to the JVM to run the filter"
                     : "the filter predicate failed");
    return 1;
}

/* ---- searching --------------------------------------------------------------------------------- */

JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_search(
    JNIEnv *env, jclass cls, jlong index, jint type, jint src_kind, jobject src, jlong offset,
    jlong nbytes, jlong n, jlong k, jint num_threads, jint filter_type, jobject filter_data,
    jlong filter_count, jlong bitmap_first, jobjectArray param_names, jdoubleArray param_values,
    jlongArray ids_out, jfloatArray distances_out) {
    unsigned char stack[STACK_BYTES];
    /* Room for 128 results on the stack: ids and distances of a single query up to k = 128. */
    int64_t ids_stack[128];
    float dist_stack[128];
    int64_t *ids = ids_stack;
    float *dist = dist_stack;
    staged in;
    call_options co;
    nearkit_status st;
    jlong total;
    (void)cls;
    if (n < 0 || k < 0) {
        throw_invalid(env, "negative count or k");
        return;
    }
    total = n * k; /* Java checked that it fits in a Java array */
    if (total > INT32_MAX || (*env)->GetArrayLength(env, ids_out) < total ||
        (*env)->GetArrayLength(env, distances_out) < total) {
        throw_invalid(env, "result arrays too small");
        return;
    }
    if (!read_options(env, &co, num_threads, filter_type, filter_data, filter_count, bitmap_first,
                      param_names, param_values)) {
        release_options(env, &co);
        return;
    }
    if (total > 128) {
        ids = (int64_t *)malloc((size_t)total * sizeof(int64_t));
        dist = (float *)malloc((size_t)total * sizeof(float));
        if (ids == NULL || dist == NULL) {
            free(ids);
            free(dist);
            ids = ids_stack;
            throw_oom(env, "could not allocate native memory for the search results");
            goto done;
        }
    }
    if (!stage(env, &in, src_kind, src, offset, nbytes, ELEM(type), stack)) {
        goto done;
    }
    st = nearkit_index_search(ids, dist, CIDX(index), (nearkit_vector_type)type, in.ptr,
                              (uint64_t)n, (uint64_t)k, &co.options);
    unstage(&in);
    if (rethrow_predicate_failure(env, &co)) {
        goto done;
    }
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        goto done;
    }
    if (total > 0) {
        (*env)->SetLongArrayRegion(env, ids_out, 0, (jsize)total, (const jlong *)ids);
        (*env)->SetFloatArrayRegion(env, distances_out, 0, (jsize)total, dist);
    }
done:
    release_options(env, &co);
    if (ids != ids_stack) {
        free(ids);
        free(dist);
    }
}

/* ---- merging answers computed apart ------------------------------------------------------------ */

/* nearkit_merge_knn over parts given as Java arrays: part p is ids[p] / distances[p], n rows of
 * ids[p].length / n columns (Java checked the shapes). The parts are copied to native memory, the
 * merge written to ids_out / distances_out (n x k). */
JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_mergeKnn(JNIEnv *env, jclass cls, jlong n, jlong k,
                                                         jobjectArray ids, jobjectArray distances,
                                                         jint flags, jlongArray ids_out,
                                                         jfloatArray distances_out) {
    jsize n_parts = (*env)->GetArrayLength(env, ids);
    nearkit_knn_part *parts = (nearkit_knn_part *)calloc(n_parts > 0 ? (size_t)n_parts : 1,
                                                          sizeof(nearkit_knn_part));
    int64_t *out_ids = NULL;
    float *out_dist = NULL;
    nearkit_status st;
    jsize p;
    (void)cls;
    if (parts == NULL) {
        throw_oom(env, "could not allocate native memory for the merge");
        return;
    }
    for (p = 0; p < n_parts; p++) {
        jlongArray pi = (jlongArray)(*env)->GetObjectArrayElement(env, ids, p);
        jfloatArray pd = (jfloatArray)(*env)->GetObjectArrayElement(env, distances, p);
        jsize len = (*env)->GetArrayLength(env, pi);
        int64_t *bi = (int64_t *)malloc(len > 0 ? (size_t)len * sizeof(int64_t) : 1);
        float *bd = (float *)malloc(len > 0 ? (size_t)len * sizeof(float) : 1);
        parts[p].ids = bi;
        parts[p].distances = bd;
        parts[p].k = n > 0 ? (uint64_t)len / (uint64_t)n : 0;
        if (bi == NULL || bd == NULL) { /* both freed at done */
            throw_oom(env, "could not allocate native memory for the merge");
            goto done;
        }
        (*env)->GetLongArrayRegion(env, pi, 0, len, (jlong *)bi);
        (*env)->GetFloatArrayRegion(env, pd, 0, len, bd);
        (*env)->DeleteLocalRef(env, pi);
        (*env)->DeleteLocalRef(env, pd);
    }
    out_ids = (int64_t *)malloc(n * k > 0 ? (size_t)(n * k) * sizeof(int64_t) : 1);
    out_dist = (float *)malloc(n * k > 0 ? (size_t)(n * k) * sizeof(float) : 1);
    if (out_ids == NULL || out_dist == NULL) {
        throw_oom(env, "could not allocate native memory for the merge");
        goto done;
    }
    st = nearkit_merge_knn(out_ids, out_dist, (uint64_t)n, (uint64_t)k, parts, (uint64_t)n_parts,
                           (uint32_t)flags);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        goto done;
    }
    if (n * k > 0) {
        (*env)->SetLongArrayRegion(env, ids_out, 0, (jsize)(n * k), (const jlong *)out_ids);
        (*env)->SetFloatArrayRegion(env, distances_out, 0, (jsize)(n * k), out_dist);
    }
done:
    for (p = 0; p < n_parts; p++) {
        free((void *)parts[p].ids);
        free((void *)parts[p].distances);
    }
    free(parts);
    free(out_ids);
    free(out_dist);
}

/* Stores {int[] offsets, long[] ids, float[] distances} of a range result into `out`. */
static void return_range_result(JNIEnv *env, const nearkit_range_result *result, jlong n,
                                jobjectArray out) {
    const uint64_t *offsets = NULL;
    const int64_t *ids = NULL;
    const float *dist = NULL;
    uint64_t q, total;
    jint *offsets32 = NULL;
    jintArray j_offsets;
    jlongArray j_ids;
    jfloatArray j_dist;
    nearkit_status st = nearkit_range_result_get(&offsets, &ids, &dist, result);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return;
    }
    if (nearkit_range_result_query_count(result) != (uint64_t)n || offsets == NULL) {
        throw_status(env, NEARKIT_ERR_INTERNAL, "range result has the wrong number of queries");
        return;
    }
    total = offsets[n];
    if (total > (uint64_t)(INT32_MAX - 8)) {
        throw_status(env, NEARKIT_ERR_UNSUPPORTED,
                     "the range search found more matches than a Java array holds; use a smaller "
                     "radius or fewer queries per call");
        return;
    }
    offsets32 = (jint *)malloc(((size_t)n + 1) * sizeof(jint));
    if (offsets32 == NULL) {
        throw_oom(env, "could not allocate native memory for the range result");
        return;
    }
    for (q = 0; q <= (uint64_t)n; q++) {
        if (offsets[q] > total || (q > 0 && offsets[q] < offsets[q - 1])) {
            throw_status(env, NEARKIT_ERR_INTERNAL, "range result offsets are inconsistent");
            goto done;
        }
        offsets32[q] = (jint)offsets[q];
    }
    j_offsets = (*env)->NewIntArray(env, (jsize)(n + 1));
    if (j_offsets == NULL) {
        goto done;
    }
    (*env)->SetIntArrayRegion(env, j_offsets, 0, (jsize)(n + 1), offsets32);
    j_ids = (*env)->NewLongArray(env, (jsize)total);
    if (j_ids == NULL) {
        goto done;
    }
    j_dist = (*env)->NewFloatArray(env, (jsize)total);
    if (j_dist == NULL) {
        goto done;
    }
    if (total > 0) {
        (*env)->SetLongArrayRegion(env, j_ids, 0, (jsize)total, (const jlong *)ids);
        (*env)->SetFloatArrayRegion(env, j_dist, 0, (jsize)total, dist);
    }
    (*env)->SetObjectArrayElement(env, out, 0, j_offsets);
    if ((*env)->ExceptionCheck(env)) {
        goto done;
    }
    (*env)->SetObjectArrayElement(env, out, 1, j_ids);
    if ((*env)->ExceptionCheck(env)) {
        goto done;
    }
    (*env)->SetObjectArrayElement(env, out, 2, j_dist);
done:
    free(offsets32);
}

JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_rangeSearch(
    JNIEnv *env, jclass cls, jlong index, jint type, jint src_kind, jobject src, jlong offset,
    jlong nbytes, jlong n, jfloat radius, jint num_threads, jint filter_type, jobject filter_data,
    jlong filter_count, jlong bitmap_first, jobjectArray param_names, jdoubleArray param_values,
    jobjectArray out) {
    unsigned char stack[STACK_BYTES];
    staged in;
    call_options co;
    nearkit_range_result *result = NULL;
    nearkit_status st;
    (void)cls;
    if (n < 0 || n >= INT32_MAX) {
        throw_invalid(env, "bad query count");
        return;
    }
    if (!read_options(env, &co, num_threads, filter_type, filter_data, filter_count, bitmap_first,
                      param_names, param_values)) {
        release_options(env, &co);
        return;
    }
    if (!stage(env, &in, src_kind, src, offset, nbytes, ELEM(type), stack)) {
        release_options(env, &co);
        return;
    }
    st = nearkit_index_range_search(&result, CIDX(index), (nearkit_vector_type)type, in.ptr,
                                    (uint64_t)n, radius, &co.options);
    unstage(&in);
    if (!rethrow_predicate_failure(env, &co)) {
        if (st != NEARKIT_OK) {
            throw_last(env, st);
        } else {
            return_range_result(env, result, n, out);
        }
    }
    release_options(env, &co);
    nearkit_range_result_free(result);
}

/* ---- introspection ----------------------------------------------------------------------------- */

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_kind(JNIEnv *env, jclass cls, jlong index) {
    (void)env;
    (void)cls;
    return (jint)nearkit_index_kind(CIDX(index));
}

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_metric(JNIEnv *env, jclass cls, jlong index) {
    (void)env;
    (void)cls;
    return (jint)nearkit_index_metric(CIDX(index));
}

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_vectorType(JNIEnv *env, jclass cls, jlong index) {
    (void)env;
    (void)cls;
    return (jint)nearkit_index_vector_type(CIDX(index));
}

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_dimension(JNIEnv *env, jclass cls, jlong index) {
    (void)env;
    (void)cls;
    return (jlong)nearkit_index_dimension(CIDX(index));
}

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_vectorBytes(JNIEnv *env, jclass cls,
                                                              jlong index) {
    uint64_t v = nearkit_index_vector_bytes(CIDX(index));
    (void)env;
    (void)cls;
    return v > (uint64_t)INT64_MAX ? -1 : (jlong)v;
}

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_count(JNIEnv *env, jclass cls, jlong index) {
    uint64_t v = nearkit_index_count(CIDX(index));
    (void)env;
    (void)cls;
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (jlong)v;
}

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_memoryBytes(JNIEnv *env, jclass cls,
                                                              jlong index) {
    uint64_t v = nearkit_index_memory_bytes(CIDX(index));
    (void)env;
    (void)cls;
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (jlong)v;
}

JNIEXPORT jboolean JNICALL Java_io_nearkit_NativeLib_isReady(JNIEnv *env, jclass cls, jlong index) {
    (void)env;
    (void)cls;
    return nearkit_index_is_ready(CIDX(index)) ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jstring JNICALL Java_io_nearkit_NativeLib_describe(JNIEnv *env, jclass cls, jlong index) {
    char *text = NULL;
    nearkit_status st;
    jstring r;
    (void)cls;
    st = nearkit_index_describe(&text, CIDX(index));
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return NULL;
    }
    r = new_string(env, text != NULL ? text : "");
    nearkit_string_free(text);
    return r;
}

/* ---- parameters -------------------------------------------------------------------------------- */

JNIEXPORT jint JNICALL Java_io_nearkit_NativeLib_paramCount(JNIEnv *env, jclass cls, jlong index) {
    size_t n = nearkit_index_param_count(CIDX(index));
    (void)env;
    (void)cls;
    return n > INT32_MAX ? INT32_MAX : (jint)n;
}

JNIEXPORT jstring JNICALL Java_io_nearkit_NativeLib_paramInfo(JNIEnv *env, jclass cls, jlong index,
                                                              jint i, jintArray flags_out) {
    const char *name = NULL;
    uint32_t flags = 0;
    jint f;
    nearkit_status st;
    (void)cls;
    if (i < 0) {
        throw_invalid(env, "negative parameter position");
        return NULL;
    }
    st = nearkit_index_param_info(&name, &flags, CIDX(index), (size_t)i);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return NULL;
    }
    f = (jint)flags;
    (*env)->SetIntArrayRegion(env, flags_out, 0, 1, &f);
    if ((*env)->ExceptionCheck(env)) {
        return NULL;
    }
    return new_string(env, name != NULL ? name : "");
}

JNIEXPORT jobjectArray JNICALL Java_io_nearkit_NativeLib_paramDescribe(JNIEnv *env, jclass cls,
                                                                        jlong index, jint i,
                                                                        jintArray flags_out,
                                                                        jdoubleArray numbers_out) {
    nearkit_param_info info = NEARKIT_PARAM_INFO_INIT;
    nearkit_status st;
    jint flags;
    jdouble numbers[3];
    (void)cls;
    if (i < 0) {
        throw_invalid(env, "negative parameter position");
        return NULL;
    }
    st = nearkit_index_param_describe(&info, CIDX(index), (size_t)i);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return NULL;
    }
    flags = (jint)info.flags;
    numbers[0] = info.minimum;
    numbers[1] = info.maximum;
    numbers[2] = info.default_value;
    (*env)->SetIntArrayRegion(env, flags_out, 0, 1, &flags);
    if ((*env)->ExceptionCheck(env)) {
        return NULL;
    }
    (*env)->SetDoubleArrayRegion(env, numbers_out, 0, 3, numbers);
    if ((*env)->ExceptionCheck(env)) {
        return NULL;
    }
    return new_string_pair(env, info.name, info.description);
}

JNIEXPORT jdouble JNICALL Java_io_nearkit_NativeLib_getParam(JNIEnv *env, jclass cls, jlong index,
                                                             jstring name) {
    const char *s;
    double value = 0.0;
    nearkit_status st;
    (void)cls;
    if (!get_utf(env, name, &s, 0, "parameter name is null")) {
        return 0.0;
    }
    st = nearkit_index_get_param(&value, CIDX(index), s);
    release_utf(env, name, s);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return 0.0;
    }
    return value;
}

JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_setParam(JNIEnv *env, jclass cls, jlong index,
                                                          jstring name, jdouble value) {
    const char *s;
    nearkit_status st;
    (void)cls;
    if (!get_utf(env, name, &s, 0, "parameter name is null")) {
        return;
    }
    st = nearkit_index_set_param(IDX(index), s, value);
    release_utf(env, name, s);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
    }
}

/* ---- tuning ----------------------------------------------------------------------------------- */

/* nearkit_index_tune on staged queries: fills numbers with {value, recall, qps, reached,
 * measurements, fine_value} and returns {param, fine_param}, "" for NULL (an exact kind; no finer
 * setting chosen). */
JNIEXPORT jobjectArray JNICALL Java_io_nearkit_NativeLib_tune(
    JNIEnv *env, jclass cls, jlong index, jint type, jint src_kind, jobject src, jlong offset,
    jlong nbytes, jlong n, jlong k, jdouble target_recall, jint num_threads, jdouble max_value,
    jdouble max_seconds, jdoubleArray numbers_out) {
    unsigned char stack[STACK_BYTES];
    staged in;
    nearkit_tune_options options;
    nearkit_tune_result result = NEARKIT_TUNE_RESULT_INIT;
    nearkit_status st;
    jdouble numbers[6];
    (void)cls;
    if (n < 0 || k < 0 || num_threads < 0) {
        throw_invalid(env, "negative count, k or numThreads");
        return NULL;
    }
    nearkit_tune_options_init(&options);
    options.k = (uint64_t)k;
    options.target_recall = target_recall;
    options.num_threads = (uint32_t)num_threads;
    options.max_value = max_value;
    options.max_seconds = max_seconds;
    if (!stage(env, &in, src_kind, src, offset, nbytes, ELEM(type), stack)) {
        return NULL;
    }
    st = nearkit_index_tune(&result, IDX(index), (nearkit_vector_type)type, in.ptr, (uint64_t)n,
                            &options);
    unstage(&in);
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return NULL;
    }
    numbers[0] = result.value;
    numbers[1] = result.recall;
    numbers[2] = result.qps;
    numbers[3] = result.reached;
    numbers[4] = result.measurements;
    numbers[5] = result.fine_value;
    (*env)->SetDoubleArrayRegion(env, numbers_out, 0, 6, numbers);
    if ((*env)->ExceptionCheck(env)) {
        return NULL;
    }
    return new_string_pair(env, result.param, result.fine_param);
}

/* ---- persistence ------------------------------------------------------------------------------- */

/* A NUL-terminated copy of a byte[] path; NULL with an exception pending on failure. */
static char *path_of(JNIEnv *env, jbyteArray path) {
    jsize len;
    char *p;
    if (path == NULL) {
        throw_invalid(env, "path is null");
        return NULL;
    }
    len = (*env)->GetArrayLength(env, path);
    p = (char *)malloc((size_t)len + 1);
    if (p == NULL) {
        throw_oom(env, "could not allocate native memory for the path");
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, path, 0, len, (jbyte *)p);
    if ((*env)->ExceptionCheck(env)) {
        free(p);
        return NULL;
    }
    p[len] = '\0';
    if (strlen(p) != (size_t)len) {
        free(p);
        throw_invalid(env, "path contains a NUL byte");
        return NULL;
    }
    return p;
}

JNIEXPORT void JNICALL Java_io_nearkit_NativeLib_save(JNIEnv *env, jclass cls, jlong index,
                                                      jbyteArray path) {
    char *p;
    nearkit_status st;
    (void)cls;
    p = path_of(env, path);
    if (p == NULL) {
        return;
    }
    st = nearkit_index_save(CIDX(index), p);
    free(p);
    if (st != NEARKIT_OK) {
        throw_last_as(env, st, DECLARES_IO);
    }
}

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_load(JNIEnv *env, jclass cls, jbyteArray path) {
    char *p;
    nearkit_index *index = NULL;
    nearkit_status st;
    (void)cls;
    p = path_of(env, path);
    if (p == NULL) {
        return 0;
    }
    st = nearkit_index_load(&index, p);
    free(p);
    if (st != NEARKIT_OK) {
        throw_last_as(env, st, DECLARES_IO);
        return 0;
    }
    return (jlong)(intptr_t)index;
}

/* The view options ViewOptions carries, as the C library takes them. */
static nearkit_view_options view_options_of(jboolean verify, jboolean load_if_unviewable) {
    nearkit_view_options opts = NEARKIT_VIEW_OPTIONS_INIT;
    opts.verify = verify ? 1 : 0;
    opts.load_if_unviewable = load_if_unviewable ? 1 : 0;
    return opts;
}

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_view(JNIEnv *env, jclass cls, jbyteArray path,
                                                      jboolean verify, jboolean load_if_unviewable) {
    char *p;
    nearkit_index *index = NULL;
    nearkit_view_options opts = view_options_of(verify, load_if_unviewable);
    nearkit_status st;
    (void)cls;
    p = path_of(env, path);
    if (p == NULL) {
        return 0;
    }
    st = nearkit_index_view(&index, p, &opts);
    free(p);
    if (st != NEARKIT_OK) {
        throw_last_as(env, st, DECLARES_IO);
        return 0;
    }
    return (jlong)(intptr_t)index;
}

/* Shard `shard` of the sharded collection saved in directory `dir`, viewed and checked against
 * the directory's manifest (nearkit_sharded_view_shard). */
JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_viewShard(JNIEnv *env, jclass cls, jbyteArray dir,
                                                           jlong shard, jboolean verify,
                                                           jboolean load_if_unviewable) {
    char *d;
    nearkit_index *index = NULL;
    nearkit_view_options opts = view_options_of(verify, load_if_unviewable);
    nearkit_status st;
    (void)cls;
    if (shard < 0) {
        throw_invalid(env, "the shard number is negative");
        return 0;
    }
    d = path_of(env, dir);
    if (d == NULL) {
        return 0;
    }
    st = nearkit_sharded_view_shard(&index, d, (uint64_t)shard, &opts);
    free(d);
    if (st != NEARKIT_OK) {
        throw_last_as(env, st, DECLARES_IO);
        return 0;
    }
    return (jlong)(intptr_t)index;
}

/* A view of `nbytes` bytes of a direct buffer from `offset` (nearkit_index_view_buffer), used in
 * place: Index.viewBuffer keeps the buffer strongly reachable until the index is freed. */
JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_viewBuffer(JNIEnv *env, jclass cls, jobject data,
                                                            jlong offset, jlong nbytes, jboolean verify,
                                                            jboolean load_if_unviewable) {
    nearkit_index *index = NULL;
    nearkit_view_options opts = view_options_of(verify, load_if_unviewable);
    nearkit_status st;
    const unsigned char *addr = (const unsigned char *)(*env)->GetDirectBufferAddress(env, data);
    jlong cap = (*env)->GetDirectBufferCapacity(env, data);
    (void)cls;
    if (addr == NULL || cap < 0 || offset < 0 || nbytes < 0 || offset > cap || nbytes > cap - offset) {
        throw_invalid(env, "the view's bytes exceed their direct buffer");
        return 0;
    }
    st = nearkit_index_view_buffer(&index, addr + offset, (size_t)nbytes, &opts);
    if (st != NEARKIT_OK) {
        throw_last_as(env, st, DECLARES_CORRUPT);
        return 0;
    }
    return (jlong)(intptr_t)index;
}

JNIEXPORT jboolean JNICALL Java_io_nearkit_NativeLib_isView(JNIEnv *env, jclass cls, jlong index) {
    (void)env;
    (void)cls;
    return nearkit_index_is_view(CIDX(index)) ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_copy(JNIEnv *env, jclass cls, jlong index) {
    nearkit_index *out = NULL;
    nearkit_status st;
    (void)cls;
    st = nearkit_index_copy(&out, CIDX(index));
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return 0;
    }
    return (jlong)(intptr_t)out;
}

JNIEXPORT jbyteArray JNICALL Java_io_nearkit_NativeLib_toBytes(JNIEnv *env, jclass cls,
                                                               jlong index) {
    void *data = NULL;
    size_t size = 0;
    nearkit_status st;
    jbyteArray r = NULL;
    (void)cls;
    st = nearkit_index_save_to_buffer(&data, &size, CIDX(index));
    if (st != NEARKIT_OK) {
        throw_last(env, st);
        return NULL;
    }
    if (size > (size_t)(INT32_MAX - 8)) {
        throw_status(env, NEARKIT_ERR_UNSUPPORTED,
                     "the serialised index is larger than a Java byte array; use save(Path)");
    } else {
        r = (*env)->NewByteArray(env, (jsize)size);
        if (r != NULL && size > 0) {
            (*env)->SetByteArrayRegion(env, r, 0, (jsize)size, (const jbyte *)data);
        }
    }
    nearkit_buffer_free(data);
    return r;
}

JNIEXPORT jlong JNICALL Java_io_nearkit_NativeLib_fromBytes(JNIEnv *env, jclass cls, jint src_kind,
                                                            jobject src, jlong offset,
                                                            jlong nbytes) {
    unsigned char stack[STACK_BYTES];
    staged in;
    nearkit_index *index = NULL;
    nearkit_status st;
    (void)cls;
    if (src_kind == SRC_FLOATS) {
        throw_invalid(env, "an index is read from bytes");
        return 0;
    }
    if (!stage(env, &in, src_kind, src, offset, nbytes, 1, stack)) {
        return 0;
    }
    st = nearkit_index_load_from_buffer(&index, in.ptr, (size_t)nbytes);
    unstage(&in);
    if (st != NEARKIT_OK) {
        throw_last_as(env, st, DECLARES_CORRUPT);
        return 0;
    }
    return (jlong)(intptr_t)index;
}
