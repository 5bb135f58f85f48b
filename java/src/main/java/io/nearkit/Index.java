package io.nearkit;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A nearest-neighbour index held by the native nearkit library.
 *
 * <p>Create one with {@link #builder()}, {@link #load(Path)}, {@link #fromBytes(byte[])} or, to
 * search a file in place without reading it into memory, {@link #view(Path)}, and
 * release it with {@link #close()} (try-with-resources). A {@link Cleaner} frees an index that was
 * never closed once it becomes unreachable, but only as a safety net: native memory is not visible
 * to the garbage collector, so close indexes explicitly.
 *
 * <pre>{@code
 * try (Index index = Index.builder().kind("flat").metric(Metric.L2).dimension(128).build()) {
 *     index.add(vectors);               // float[] of n * 128 values, ids 0 .. n-1
 *     index.build();
 *     SearchResult r = index.search(queries, 10);
 *     long[] nearest = r.ids(0);
 *     index.remove(3, 17);              // the vectors with ids 3 and 17 go
 *     r = index.search(queries, 10, SearchOptions.builder().filter(allowedIds).build());
 * }
 * }</pre>
 *
 * <p><b>Input.</b> Float indexes take {@code float[]} or {@link FloatBuffer} input, binary indexes
 * {@code byte[]} or {@link ByteBuffer} input (each vector {@code dimension / 8} bytes, least
 * significant bit first). Several vectors are passed back to back; the length must be a multiple of
 * the vector length. Direct buffers (in the native byte order for {@code FloatBuffer}) are read in
 * place without a copy, from their position to their limit; their position is not changed. Arrays
 * and heap buffers are copied into native memory for the call.
 *
 * <p><b>Threads.</b> Every method may run from many threads at once on one index. Searches, range
 * searches, saving and the read-only accessors run in parallel and never wait for each other.
 * Writers ({@link #add}, {@link #remove}, {@link #train}, {@link #build()}, {@link #compact()},
 * {@link #setParam}) may be called while searches run: the C library runs each writer alone (it
 * waits for the searches under way, and searches that start meanwhile wait for it), so every search
 * sees the collection before or after a write, whole. {@link #close()} waits until running calls
 * finish; afterwards every method except {@link #close()}, {@link #isClosed()} and
 * {@link #toString()} throws {@link IllegalStateException}. Per-call settings (a filter,
 * {@code nprobe}, ...) go in {@link SearchOptions}, so threads never need to change the index's
 * own settings to search differently.
 *
 * <p><b>Errors.</b> Invalid arguments (wrong length or type, NaN, {@code k = 0}, unknown names)
 * throw {@link IllegalArgumentException}; calls in the wrong state (closed, not trained or built)
 * throw {@link IllegalStateException}; unsupported requests and native allocation failures throw
 * subclasses of the unchecked {@link NearkitException}. Files that cannot be read or written throw
 * the checked {@link NearkitIOException} (a {@link java.io.IOException}), and data that is not a
 * valid index, in a file or in memory, its subclass {@link CorruptIndexException}: {@link #load},
 * {@link #view(Path)}, {@link #save} and {@link #fromBytes(byte[])} declare them. Messages are the C library's, naming
 * the file and the reason (for example {@code "IO: cannot open '/x.nkx': No such file or
 * directory"}).
 */
public final class Index implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Handle handle;
    private final Cleaner.Cleanable cleanable;
    private final KindInfo kind;
    private final Metric metric;
    private final VectorType vectorType;
    private final int dimension;
    private final long vectorBytes;

    /**
     * Owns the native pointer; run once, by {@link #close()} or by the cleaner. The memory a
     * {@link #viewBuffer(ByteBuffer) buffer view} reads in place is held here: the cleaner keeps
     * the handle strongly reachable until it has run, so the buffer outlives the native index
     * whichever way it is freed.
     */
    private static final class Handle implements Runnable {
        private volatile long ptr;
        private volatile ByteBuffer viewed; // a buffer view's bytes, dropped after the free

        Handle(long ptr) {
            this.ptr = ptr;
        }

        @Override
        public void run() {
            long p = ptr;
            ptr = 0;
            if (p != 0) {
                NativeLib.free(p);
            }
            viewed = null;
        }
    }

    /** Input vectors ready for a native call. */
    private static final class Input {
        final int type;
        final int srcKind;
        final Object src;
        final long offset;
        final long nbytes;
        final long n;

        Input(int type, int srcKind, Object src, long offset, long nbytes, long n) {
            this.type = type;
            this.srcKind = srcKind;
            this.src = src;
            this.offset = offset;
            this.nbytes = nbytes;
            this.n = n;
        }
    }

    private Index(long ptr, KindInfo kind, Metric metric, VectorType vectorType, int dimension,
            long vectorBytes) {
        this.handle = new Handle(ptr);
        this.kind = kind;
        this.metric = metric;
        this.vectorType = vectorType;
        this.dimension = dimension;
        this.vectorBytes = vectorBytes;
        this.cleanable = CLEANER.register(this, handle);
    }

    /** Takes ownership of a fresh native index; frees it if it cannot be described. */
    private static Index wrap(long ptr) {
        try {
            int kindCode = NativeLib.kind(ptr);
            KindInfo kind = null;
            for (KindInfo k : Nearkit.kinds()) {
                if (k.code() == kindCode) {
                    kind = k;
                }
            }
            if (kind == null) {
                throw new NearkitException(Status.INTERNAL,
                        "INTERNAL: index kind " + kindCode + " is not listed by nearkit_kind_get_info");
            }
            Metric metric = Metric.fromCode(NativeLib.metric(ptr));
            VectorType type = VectorType.fromCode(NativeLib.vectorType(ptr));
            long dim = NativeLib.dimension(ptr);
            long bytes = NativeLib.vectorBytes(ptr);
            if (dim <= 0 || dim > Integer.MAX_VALUE || bytes <= 0) {
                throw new NearkitException(Status.INTERNAL,
                        "INTERNAL: index reports dimension " + dim + " and vector bytes " + bytes);
            }
            return new Index(ptr, kind, metric, type, (int) dim, bytes);
        } catch (RuntimeException | Error e) {
            NativeLib.free(ptr);
            throw e;
        }
    }

    // ---- creation -----------------------------------------------------------------------------

    /**
     * Starts building a new, empty index.
     *
     * @return a builder with kind {@code "flat"}, metric L2, all threads and seed 42
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Options for a new index; {@link #build()} creates it. A builder can be reused.
     */
    public static final class Builder {
        private String kind = "flat";
        private String metric = "l2";
        private int dimension = 0;
        private int numThreads = 0;
        private long seed = 42;
        private final Map<String, String> params = new LinkedHashMap<>();

        private Builder() {
        }

        /**
         * The index kind by name, as listed by {@link Nearkit#kinds()} (case-insensitive).
         *
         * @param kind a kind name such as {@code "flat"}, {@code "ivf_flat"}
         * @return this builder
         */
        public Builder kind(String kind) {
            this.kind = Objects.requireNonNull(kind, "kind");
            return this;
        }

        /**
         * The metric.
         *
         * @param metric the metric
         * @return this builder
         */
        public Builder metric(Metric metric) {
            this.metric = Objects.requireNonNull(metric, "metric").metricName();
            return this;
        }

        /**
         * The metric by name, parsed by the C library (case-insensitive; aliases such as
         * {@code "euclidean"} are accepted).
         *
         * @param metric a metric name
         * @return this builder
         */
        public Builder metric(String metric) {
            this.metric = Objects.requireNonNull(metric, "metric");
            return this;
        }

        /**
         * The dimension: the number of floats of a float vector, or the number of bits of a binary
         * vector (a multiple of 8).
         *
         * @param dimension the dimension, at least 1
         * @return this builder
         * @throws IllegalArgumentException for a negative value
         */
        public Builder dimension(int dimension) {
            if (dimension < 0) {
                throw new IllegalArgumentException("dimension must not be negative, got " + dimension);
            }
            this.dimension = dimension;
            return this;
        }

        /**
         * Threads for batch work; 0 (the default) uses every core.
         *
         * @param numThreads the thread count, 0 or more
         * @return this builder
         * @throws IllegalArgumentException for a negative value
         */
        public Builder numThreads(int numThreads) {
            if (numThreads < 0) {
                throw new IllegalArgumentException("numThreads must not be negative, got " + numThreads);
            }
            this.numThreads = numThreads;
            return this;
        }

        /**
         * The seed of randomised builds (trees, k-means); default 42.
         *
         * @param seed the seed (its 64 bits are passed on as an unsigned value)
         * @return this builder
         */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * A kind-specific build parameter, such as {@code param("nlist", 64)}.
         *
         * @param name the parameter's name
         * @param value its value
         * @return this builder
         */
        public Builder param(String name, long value) {
            return put(name, Long.toString(value));
        }

        /**
         * A kind-specific build parameter with a real value.
         *
         * @param name the parameter's name
         * @param value its value
         * @return this builder
         */
        public Builder param(String name, double value) {
            String text;
            if (value == Math.rint(value) && Math.abs(value) < 9.0e15) {
                text = Long.toString((long) value);
            } else {
                text = Double.toString(value);
            }
            return put(name, text);
        }

        /**
         * A kind-specific build parameter given as text, passed to the C library as it is.
         *
         * @param name the parameter's name
         * @param value its value as text
         * @return this builder
         */
        public Builder param(String name, String value) {
            return put(name, Objects.requireNonNull(value, "value"));
        }

        /**
         * Several build parameters; each value's {@code toString()} is passed on.
         *
         * @param params names and values
         * @return this builder
         */
        public Builder params(Map<String, ?> params) {
            for (Map.Entry<String, ?> e : params.entrySet()) {
                Object v = Objects.requireNonNull(e.getValue(), "value of " + e.getKey());
                if (v instanceof Double || v instanceof Float) {
                    param(e.getKey(), ((Number) v).doubleValue());
                } else {
                    put(e.getKey(), v.toString());
                }
            }
            return this;
        }

        private Builder put(String name, String value) {
            Objects.requireNonNull(name, "name");
            checkToken(name, "parameter name");
            checkToken(value, "value of parameter " + name);
            params.put(name, value);
            return this;
        }

        private static void checkToken(String s, String what) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException(what + " is empty");
            }
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == ',' || c == '=' || c == '\0' || Character.isWhitespace(c)) {
                    throw new IllegalArgumentException(what + " '" + s
                            + "' contains a comma, '=', NUL or white space");
                }
            }
        }

        /**
         * Creates the index.
         *
         * @return a new, empty index the caller closes
         * @throws IllegalArgumentException for an unknown kind, metric or parameter, a bad dimension
         *     or parameter value
         * @throws NearkitUnsupportedException when the kind does not support the metric
         * @throws UnsatisfiedLinkError when the native library cannot be loaded on this platform
         */
        public Index build() {
            NativeLib.ensureLoaded();
            StringBuilder sb = new StringBuilder();
            for (Map.Entry<String, String> e : params.entrySet()) {
                if (sb.length() > 0) {
                    sb.append(',');
                }
                sb.append(e.getKey()).append('=').append(e.getValue());
            }
            long ptr = NativeLib.create(kind, metric, dimension, numThreads, seed,
                    sb.length() == 0 ? null : sb.toString());
            return wrap(ptr);
        }
    }

    // ---- persistence (static) -----------------------------------------------------------------

    /**
     * Loads an index from a file written by {@link #save(Path)} or by any nearkit binding or the
     * CLI (the format is the same everywhere).
     *
     * @param path the file
     * @return the index, which the caller closes
     * @throws NearkitIOException when the file cannot be read: missing, not a regular file (a
     *     directory, for example), not readable
     * @throws CorruptIndexException (a {@link NearkitIOException}) when it is not a valid nearkit
     *     index: truncated, corrupted or another format
     * @throws NearkitUnsupportedException for a newer format version
     * @throws IllegalArgumentException for a path of another file system than the default one, or
     *     with a NUL character
     */
    public static Index load(Path path) throws NearkitIOException {
        byte[] p = pathBytes(path);
        NativeLib.ensureLoaded();
        return wrap(NativeLib.load(p));
    }

    /**
     * Reads an index from the bytes {@link #toBytes()} produced.
     *
     * @param data the serialised index
     * @return the index, which the caller closes
     * @throws CorruptIndexException when the bytes are not a valid nearkit index (truncated,
     *     corrupted or another format); it is an {@link java.io.IOException}, as for a file
     * @throws NearkitUnsupportedException for a newer format version
     */
    public static Index fromBytes(byte[] data) throws CorruptIndexException {
        Objects.requireNonNull(data, "data");
        NativeLib.ensureLoaded();
        return wrap(NativeLib.fromBytes(NativeLib.SRC_BYTES, data, 0, data.length));
    }

    /**
     * Reads an index from a buffer's bytes between its position and limit. A direct buffer is read
     * in place; the position is not changed.
     *
     * @param data the serialised index
     * @return the index, which the caller closes
     * @throws CorruptIndexException when the bytes are not a valid nearkit index (truncated,
     *     corrupted or another format); it is an {@link java.io.IOException}, as for a file
     * @throws NearkitUnsupportedException for a newer format version
     */
    public static Index fromBytes(ByteBuffer data) throws CorruptIndexException {
        Objects.requireNonNull(data, "data");
        NativeLib.ensureLoaded();
        int limit = data.limit();
        int pos = Math.min(data.position(), limit);
        long ptr;
        if (data.isDirect()) {
            ptr = NativeLib.fromBytes(NativeLib.SRC_DIRECT, data, pos, limit - pos);
        } else if (data.hasArray()) {
            ptr = NativeLib.fromBytes(NativeLib.SRC_BYTES, data.array(), data.arrayOffset() + pos,
                    limit - pos);
        } else {
            byte[] copy = new byte[limit - pos];
            data.duplicate().position(pos).get(copy);
            ptr = NativeLib.fromBytes(NativeLib.SRC_BYTES, copy, 0, copy.length);
        }
        Reference.reachabilityFence(data);
        return wrap(ptr);
    }

    /**
     * Opens a read-only view of an index file: the file is mapped, shared through the page cache
     * with every other process viewing it, and its stored vectors and ids are searched in place
     * instead of being read into this process's memory (what a kind derives from them is built
     * in memory: the file format's documentation lists it per kind). Opening checks the header
     * and section table, not every byte; {@link #view(Path, boolean)} with {@code verify = true}
     * checks the whole file as {@link #load(Path)} does.
     *
     * <p>A view searches like a loaded index and its runtime parameters ({@code nprobe},
     * {@code ef_search}, ...) stay settable, but every write ({@link #add}, {@link #remove},
     * {@link #train}, {@link #build()}, {@link #compact()}, setting a build parameter) throws
     * {@link IllegalStateException}; {@link #copy()} gives a writable in-memory index. The mapping
     * lives until {@link #close()}. Do not truncate or rewrite the file in place meanwhile;
     * {@link #save(Path)} replaces a file by renaming, which a view survives (it keeps the old
     * file).
     *
     * <pre>{@code
     * try (Index index = Index.view(Path.of("vectors.nkx"))) {
     *     SearchResult r = index.search(queries, 10);
     * }
     * }</pre>
     *
     * @param path the file, written by {@link #save(Path)}, any nearkit binding or the CLI
     * @return the view, which the caller closes
     * @throws NearkitIOException when the file cannot be opened or mapped: missing, not a regular
     *     file, not readable
     * @throws CorruptIndexException (a {@link NearkitIOException}) when it is not a valid nearkit
     *     index: truncated, corrupted or another format
     * @throws NearkitUnsupportedException for a newer format version, or a file of format version
     *     1 whose layout cannot be used in place (the message says to save it again)
     * @throws IllegalArgumentException for a path of another file system than the default one, or
     *     with a NUL character
     * @see #isView()
     */
    public static Index view(Path path) throws NearkitIOException {
        return view(path, false);
    }

    /**
     * Opens a read-only view of an index file, as {@link #view(Path)} does, optionally verifying
     * it whole first.
     *
     * @param path the file
     * @param verify true to check the file's checksum over every byte and every stored value, as a
     *     load does (reads the whole file once); false checks the header and section table only,
     *     every length bounded by the file
     * @return the view, which the caller closes
     * @throws NearkitIOException when the file cannot be opened or mapped
     * @throws CorruptIndexException (a {@link NearkitIOException}) when it is not a valid nearkit
     *     index
     * @throws NearkitUnsupportedException for a newer format version, or a format version 1 file
     *     that cannot be used in place
     * @throws IllegalArgumentException for a path of another file system than the default one, or
     *     with a NUL character
     */
    public static Index view(Path path, boolean verify) throws NearkitIOException {
        return view(path, ViewOptions.builder().verify(verify).build());
    }

    /**
     * Opens a read-only view of an index file, as {@link #view(Path)} does, with options: whether
     * to verify the whole file first, and whether a file that cannot be viewed in place (format
     * version 1) is loaded instead ({@link ViewOptions.Builder#loadIfUnviewable(boolean)}; check
     * {@link #isView()} to tell).
     *
     * @param path the file
     * @param options how to open it
     * @return the view (or, with {@code loadIfUnviewable}, possibly a loaded index), which the
     *     caller closes
     * @throws NearkitIOException when the file cannot be opened or mapped
     * @throws CorruptIndexException (a {@link NearkitIOException}) when it is not a valid nearkit
     *     index
     * @throws NearkitUnsupportedException for a newer format version, or a format version 1 file
     *     that cannot be used in place (unless {@code loadIfUnviewable})
     * @throws IllegalArgumentException for a path of another file system than the default one, or
     *     with a NUL character
     */
    public static Index view(Path path, ViewOptions options) throws NearkitIOException {
        Objects.requireNonNull(options, "options");
        byte[] p = pathBytes(path);
        NativeLib.ensureLoaded();
        return wrap(NativeLib.view(p, options.verify(), options.loadIfUnviewable()));
    }

    /**
     * Opens shard {@code shard} of a sharded collection saved in directory {@code dir} (its
     * {@code manifest.json} and one index file per shard, as the C library's sharded save, Python's
     * {@code ShardedIndex.save}, Dask and the Spark model write it) as a read-only view, checked
     * against the manifest's entry for it: vector type, metric, dimension and count. What a
     * cluster's worker opens when the workers of one host are to share the file's pages. The view
     * behaves as {@link #view(Path, ViewOptions)}'s does.
     *
     * @param dir the collection's directory
     * @param shard the shard's number, from 0, in the manifest's order
     * @param options how to open the file ({@link ViewOptions#defaults()} for a plain view)
     * @return the view (or, with {@code loadIfUnviewable}, possibly a loaded index), which the
     *     caller closes
     * @throws NearkitIOException when the manifest or the shard file cannot be opened or mapped
     *     (a missing directory, a missing file)
     * @throws CorruptIndexException (a {@link NearkitIOException}) when the manifest is not a valid
     *     one, the file is not a valid nearkit index, or the file does not match its manifest entry
     * @throws NearkitUnsupportedException for a newer manifest or format version, or a shard file
     *     that cannot be used in place (unless {@code loadIfUnviewable})
     * @throws IllegalArgumentException for a negative shard number or one the manifest does not
     *     list, a path of another file system than the default one, or with a NUL character
     */
    public static Index viewShard(Path dir, long shard, ViewOptions options) throws NearkitIOException {
        Objects.requireNonNull(options, "options");
        if (shard < 0) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: shard " + shard + " is negative");
        }
        byte[] d = pathBytes(dir);
        NativeLib.ensureLoaded();
        return wrap(NativeLib.viewShard(d, shard, options.verify(), options.loadIfUnviewable()));
    }

    /**
     * Opens a read-only view of a saved index in memory (the bytes {@link #toBytes()} or
     * {@link #save(Path)} wrote), between the buffer's position and limit, searched in place: for
     * instance a {@link java.nio.MappedByteBuffer} from
     * {@code FileChannel.map(FileChannel.MapMode.READ_ONLY, ...)}. The index keeps the buffer
     * strongly referenced until it is closed (or collected), so its memory stays valid; the
     * buffer's position is not changed.
     *
     * <p>The buffer must be direct (a heap buffer's array moves with the garbage collector and
     * cannot be used in place: this throws {@link IllegalArgumentException}; use
     * {@link #fromBytes(ByteBuffer)} to load it) and read-only ({@link ByteBuffer#isReadOnly()};
     * pass {@code buffer.asReadOnlyBuffer()} and do not write through the original while the view
     * is open: the view trusts the bytes it checked on opening). Its first byte must sit at a
     * 64-byte boundary, as a mapping's does (otherwise {@link NearkitUnsupportedException}, or
     * with {@code loadIfUnviewable} a load of the bytes, which then keeps no reference).
     *
     * @param data the serialised index, in a direct, read-only buffer
     * @return the view, which the caller closes
     * @throws CorruptIndexException when the bytes are not a valid nearkit index
     * @throws NearkitUnsupportedException for a newer format version, or bytes that cannot be used
     *     in place (not 64-byte aligned, format version 1)
     * @throws IllegalArgumentException for a heap or writable buffer
     */
    public static Index viewBuffer(ByteBuffer data) throws CorruptIndexException {
        return viewBuffer(data, ViewOptions.defaults());
    }

    /**
     * {@link #viewBuffer(ByteBuffer)} with options ({@link ViewOptions}).
     *
     * @param data the serialised index, in a direct, read-only buffer
     * @param options how to open it
     * @return the view (or, with {@code loadIfUnviewable}, possibly a loaded index), which the
     *     caller closes
     * @throws CorruptIndexException when the bytes are not a valid nearkit index
     * @throws NearkitUnsupportedException for a newer format version, or bytes that cannot be used
     *     in place (unless {@code loadIfUnviewable})
     * @throws IllegalArgumentException for a heap or writable buffer
     */
    public static Index viewBuffer(ByteBuffer data, ViewOptions options) throws CorruptIndexException {
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(options, "options");
        if (!data.isDirect()) {
            throw new IllegalArgumentException("viewBuffer needs a direct ByteBuffer (a mapping or "
                    + "allocateDirect): a heap buffer cannot be used in place; fromBytes loads it");
        }
        if (!data.isReadOnly()) {
            throw new IllegalArgumentException("viewBuffer needs a read-only ByteBuffer (pass "
                    + "buffer.asReadOnlyBuffer()): the view's bytes must not change while it is open");
        }
        NativeLib.ensureLoaded();
        int limit = data.limit();
        int pos = Math.min(data.position(), limit);
        Index index = wrap(NativeLib.viewBuffer(data, pos, limit - pos, options.verify(),
                options.loadIfUnviewable()));
        if (index.isView()) {
            index.handle.viewed = data;
        }
        Reference.reachabilityFence(data);
        return index;
    }

    private static byte[] pathBytes(Path path) {
        Objects.requireNonNull(path, "path");
        if (path.getFileSystem() != FileSystems.getDefault()) {
            throw new IllegalArgumentException("nearkit reads and writes files of the default file "
                    + "system only, not " + path.getFileSystem() + "; use toBytes()/fromBytes()");
        }
        String s = path.toAbsolutePath().toString();
        if (s.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("path contains a NUL character");
        }
        Charset cs = StandardCharsets.UTF_8;
        String jnu = System.getProperty("sun.jnu.encoding");
        if (jnu != null) {
            try {
                cs = Charset.forName(jnu);
            } catch (RuntimeException e) {
                cs = StandardCharsets.UTF_8;
            }
        }
        return s.getBytes(cs);
    }

    // ---- locking ------------------------------------------------------------------------------

    // The Java lock only guards the native pointer against close(): every call but close takes the
    // read lock, close the write lock. Writers (add, remove, build, ...) take the read lock too:
    // the C library orders them against searches itself (nearkit.h, "Thread safety"), so searches
    // never wait for each other here and a writer waits only as the C library makes it.
    private long enter(Lock l) {
        if (FilterCall.isFiltering(this)) {
            // the search that runs this filter holds the index: a nested call could deadlock
            throw new IllegalStateException("nearkit: a search filter must not call into the index "
                    + "it filters");
        }
        l.lock();
        long p = handle.ptr;
        if (p == 0) {
            l.unlock();
            throw new IllegalStateException("nearkit: the index is closed");
        }
        return p;
    }

    /**
     * Releases the native index. Waits for calls running on other threads to finish; afterwards
     * every call but this one, {@link #isClosed()} and {@link #toString()} throws
     * {@link IllegalStateException}. Closing again does nothing.
     */
    @Override
    public void close() {
        if (FilterCall.isFiltering(this)) {
            throw new IllegalStateException("nearkit: a search filter must not close the index it "
                    + "filters");
        }
        Lock l = lock.writeLock();
        l.lock();
        try {
            cleanable.clean();
        } finally {
            l.unlock();
        }
    }

    /**
     * Whether {@link #close()} has run.
     *
     * @return true once closed
     */
    public boolean isClosed() {
        return handle.ptr == 0;
    }

    // ---- input conversion -----------------------------------------------------------------------

    private void requireType(VectorType given, String javaType) {
        if (given != vectorType) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: this " + kind.name() + " index holds "
                    + (vectorType == VectorType.FLOAT32 ? "float32 vectors (float[] or FloatBuffer input)"
                            : "binary vectors (byte[] or ByteBuffer input)")
                    + ", got " + javaType);
        }
    }

    private long vectorCount(long nbytes, long elements, String unit, String what) {
        if (nbytes % vectorBytes != 0) {
            long per = vectorType == VectorType.FLOAT32 ? vectorBytes / 4 : vectorBytes;
            throw new IllegalArgumentException("INVALID_ARGUMENT: " + what + " has " + elements + " "
                    + unit + ", not a multiple of the vector length " + per + " (dimension "
                    + dimension + ")");
        }
        return nbytes / vectorBytes;
    }

    private Input input(float[] v, String what) {
        Objects.requireNonNull(v, what);
        requireType(VectorType.FLOAT32, "float[]");
        long nbytes = v.length * 4L;
        return new Input(VectorType.FLOAT32.code(), NativeLib.SRC_FLOATS, v, 0, nbytes,
                vectorCount(nbytes, v.length, "floats", what));
    }

    /* float16 bits: 2 bytes a dimension, for float indexes only */
    private Input inputHalves(short[] v, String what) {
        Objects.requireNonNull(v, what);
        requireType(VectorType.FLOAT32, "short[] (float16)");
        long nbytes = v.length * 2L;
        if (v.length % dimension != 0) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: " + what + " has " + v.length
                    + " float16 values, not a multiple of the dimension " + dimension);
        }
        return new Input(VectorType.FLOAT16.code(), NativeLib.SRC_SHORTS, v, 0, nbytes,
                v.length / dimension);
    }

    private Input input(byte[] v, String what) {
        Objects.requireNonNull(v, what);
        requireType(VectorType.BINARY, "byte[]");
        long nbytes = v.length;
        return new Input(VectorType.BINARY.code(), NativeLib.SRC_BYTES, v, 0, nbytes,
                vectorCount(nbytes, v.length, "bytes", what));
    }

    private Input input(FloatBuffer b, String what) {
        Objects.requireNonNull(b, what);
        requireType(VectorType.FLOAT32, "FloatBuffer");
        int limit = b.limit();
        int pos = Math.min(b.position(), limit);
        long elements = limit - pos;
        long nbytes = elements * 4L;
        long n = vectorCount(nbytes, elements, "floats", what);
        if (b.isDirect()) {
            if (b.order() != ByteOrder.nativeOrder()) {
                throw new IllegalArgumentException("INVALID_ARGUMENT: a direct FloatBuffer must be in "
                        + "the native byte order (" + ByteOrder.nativeOrder() + "), got " + b.order());
            }
            return new Input(VectorType.FLOAT32.code(), NativeLib.SRC_DIRECT, b, pos * 4L, nbytes, n);
        }
        if (b.hasArray()) {
            return new Input(VectorType.FLOAT32.code(), NativeLib.SRC_FLOATS, b.array(),
                    b.arrayOffset() + pos, nbytes, n);
        }
        float[] copy = new float[(int) elements];
        FloatBuffer d = b.duplicate();
        d.position(pos);
        d.get(copy);
        return new Input(VectorType.FLOAT32.code(), NativeLib.SRC_FLOATS, copy, 0, nbytes, n);
    }

    private Input input(ByteBuffer b, String what) {
        Objects.requireNonNull(b, what);
        requireType(VectorType.BINARY, "ByteBuffer");
        int limit = b.limit();
        int pos = Math.min(b.position(), limit);
        long nbytes = limit - pos;
        long n = vectorCount(nbytes, nbytes, "bytes", what);
        if (b.isDirect()) {
            return new Input(VectorType.BINARY.code(), NativeLib.SRC_DIRECT, b, pos, nbytes, n);
        }
        if (b.hasArray()) {
            return new Input(VectorType.BINARY.code(), NativeLib.SRC_BYTES, b.array(),
                    b.arrayOffset() + pos, nbytes, n);
        }
        byte[] copy = new byte[(int) nbytes];
        ByteBuffer d = b.duplicate();
        d.position(pos);
        d.get(copy);
        return new Input(VectorType.BINARY.code(), NativeLib.SRC_BYTES, copy, 0, nbytes, n);
    }

    // ---- adding, training, building -------------------------------------------------------------

    private void doAdd(Input in, long[] ids) {
        if (ids != null && ids.length != in.n) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: " + ids.length + " ids given for "
                    + in.n + " vectors");
        }
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            NativeLib.add(p, in.type, in.srcKind, in.src, in.offset, in.nbytes, in.n, ids);
        } finally {
            l.unlock();
            Reference.reachabilityFence(in.src);
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Adds float vectors; the i-th vector ever added gets id i.
     *
     * @param vectors n vectors of {@link #dimension()} floats, back to back
     * @throws IllegalArgumentException for a length that is not a multiple of the dimension, NaN or
     *     infinity, or a binary index
     * @throws IllegalStateException when the kind needs training first, or after close
     */
    public void add(float[] vectors) {
        doAdd(input(vectors, "vectors"), null);
    }

    /**
     * Adds float vectors with the given ids.
     *
     * @param vectors n vectors of {@link #dimension()} floats, back to back
     * @param ids n ids (any value but -1; duplicates are kept as given)
     * @throws IllegalArgumentException for bad lengths, NaN or infinity, id -1, or a binary index
     * @throws IllegalStateException when the kind needs training first, or after close
     */
    public void add(float[] vectors, long[] ids) {
        doAdd(input(vectors, "vectors"), Objects.requireNonNull(ids, "ids"));
    }

    /**
     * Adds float16 vectors, given as the bits of IEEE half values (e.g. from
     * {@code Float.floatToFloat16}); the library widens them to float32, exactly.
     *
     * @param halfBits n vectors of {@link #dimension()} half values, back to back
     * @throws IllegalArgumentException for a bad length, NaN or infinity, or a binary index
     * @throws IllegalStateException after close
     */
    public void add(short[] halfBits) {
        doAdd(inputHalves(halfBits, "vectors"), null);
    }

    /**
     * Adds float16 vectors (IEEE half bits) with the given ids.
     *
     * @param halfBits n vectors of {@link #dimension()} half values, back to back
     * @param ids n ids (any value but -1)
     * @throws IllegalArgumentException for bad lengths, NaN or infinity, id -1, or a binary index
     * @throws IllegalStateException after close
     */
    public void add(short[] halfBits, long[] ids) {
        doAdd(inputHalves(halfBits, "vectors"), Objects.requireNonNull(ids, "ids"));
    }

    /**
     * Adds binary vectors; the i-th vector ever added gets id i.
     *
     * @param vectors n vectors of {@link #dimension()} / 8 bytes, back to back
     * @throws IllegalArgumentException for a bad length or a float index
     * @throws IllegalStateException when the kind needs training first, or after close
     */
    public void add(byte[] vectors) {
        doAdd(input(vectors, "vectors"), null);
    }

    /**
     * Adds binary vectors with the given ids.
     *
     * @param vectors n vectors of {@link #dimension()} / 8 bytes, back to back
     * @param ids n ids (any value but -1)
     * @throws IllegalArgumentException for bad lengths, id -1, or a float index
     * @throws IllegalStateException when the kind needs training first, or after close
     */
    public void add(byte[] vectors, long[] ids) {
        doAdd(input(vectors, "vectors"), Objects.requireNonNull(ids, "ids"));
    }

    /**
     * Adds float vectors from a buffer (position to limit); a direct buffer is read in place.
     *
     * @param vectors the vectors, back to back
     * @throws IllegalArgumentException for bad lengths, a direct buffer not in native byte order,
     *     NaN or infinity, or a binary index
     * @throws IllegalStateException when the kind needs training first, or after close
     */
    public void add(FloatBuffer vectors) {
        doAdd(input(vectors, "vectors"), null);
    }

    /**
     * Adds float vectors from a buffer (position to limit) with the given ids.
     *
     * @param vectors the vectors, back to back
     * @param ids one id per vector
     * @throws IllegalArgumentException for bad lengths or values, or a binary index
     * @throws IllegalStateException when the kind needs training first, or after close
     */
    public void add(FloatBuffer vectors, long[] ids) {
        doAdd(input(vectors, "vectors"), Objects.requireNonNull(ids, "ids"));
    }

    /**
     * Adds binary vectors from a buffer (position to limit); a direct buffer is read in place.
     *
     * @param vectors the vectors, back to back
     * @throws IllegalArgumentException for a bad length or a float index
     * @throws IllegalStateException when the kind needs training first, or after close
     */
    public void add(ByteBuffer vectors) {
        doAdd(input(vectors, "vectors"), null);
    }

    /**
     * Adds binary vectors from a buffer (position to limit) with the given ids.
     *
     * @param vectors the vectors, back to back
     * @param ids one id per vector
     * @throws IllegalArgumentException for bad lengths or ids, or a float index
     * @throws IllegalStateException when the kind needs training first, or after close
     */
    public void add(ByteBuffer vectors, long[] ids) {
        doAdd(input(vectors, "vectors"), Objects.requireNonNull(ids, "ids"));
    }

    private void doTrain(Input in) {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            NativeLib.train(p, in.type, in.srcKind, in.src, in.offset, in.nbytes, in.n);
        } finally {
            l.unlock();
            Reference.reachabilityFence(in.src);
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Trains a kind that learns from data (for example IVF centroids); does nothing for other kinds.
     *
     * @param vectors training vectors, back to back
     * @throws IllegalArgumentException for bad input
     * @throws IllegalStateException when already trained and holding vectors, or after close
     */
    public void train(float[] vectors) {
        doTrain(input(vectors, "vectors"));
    }

    /**
     * Trains a kind on float16 vectors (IEEE half bits).
     *
     * @param halfBits training vectors, back to back
     * @throws IllegalArgumentException for bad input
     * @throws IllegalStateException when already trained and holding vectors, or after close
     */
    public void train(short[] halfBits) {
        doTrain(inputHalves(halfBits, "vectors"));
    }

    /**
     * Trains a kind on binary vectors.
     *
     * @param vectors training vectors, back to back
     * @throws IllegalArgumentException for bad input
     * @throws IllegalStateException when already trained and holding vectors, or after close
     */
    public void train(byte[] vectors) {
        doTrain(input(vectors, "vectors"));
    }

    /**
     * Trains a kind on float vectors from a buffer (position to limit).
     *
     * @param vectors training vectors, back to back
     * @throws IllegalArgumentException for bad input
     * @throws IllegalStateException when already trained and holding vectors, or after close
     */
    public void train(FloatBuffer vectors) {
        doTrain(input(vectors, "vectors"));
    }

    /**
     * Trains a kind on binary vectors from a buffer (position to limit).
     *
     * @param vectors training vectors, back to back
     * @throws IllegalArgumentException for bad input
     * @throws IllegalStateException when already trained and holding vectors, or after close
     */
    public void train(ByteBuffer vectors) {
        doTrain(input(vectors, "vectors"));
    }

    /**
     * Makes everything added so far searchable: builds trees, trains on the added vectors where
     * the kind needs training and has none. Idempotent; does nothing for kinds that need no build.
     *
     * @throws IllegalStateException when there is nothing to train on, or after close
     */
    public void build() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            NativeLib.build(p);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    // ---- removing and reading back --------------------------------------------------------------

    /**
     * Removes every stored vector that carries one of the ids. Ids not stored and repeats are
     * ignored. Searches, {@link #size()} and saves no longer see them from this call's return on; the
     * space is reclaimed as the kind decides, at the latest by {@link #compact()}. A removed id can
     * be added again; implicit ids ({@link #add(float[])} without ids) keep counting from the number
     * of vectors ever added, so a removed implicit id is never given again. Runs concurrently with
     * searches: each search sees the collection before or after the whole removal.
     *
     * @param ids the ids to remove
     * @return the number of vectors removed (several vectors may carry one id)
     * @throws NullPointerException for a null array
     * @throws NearkitUnsupportedException when the index's kind cannot remove yet
     * @throws IllegalStateException after close
     */
    public long remove(long... ids) {
        Objects.requireNonNull(ids, "ids");
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            return NativeLib.remove(p, ids);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Reads back the stored float vectors of the ids, as the index stores them (cosine: normalised
     * to length 1). Where several vectors carry one id, one of them.
     *
     * @param ids the ids to read
     * @return one row per id, in order: its {@link #dimension()} values, or {@code null} where no
     *     vector carries the id (so missing ids are never mistaken for stored zeros)
     * @throws NullPointerException for a null array
     * @throws IllegalArgumentException for a binary index (use {@link #getBinary(long...)})
     * @throws NearkitUnsupportedException when the index's kind cannot read back yet
     * @throws IllegalStateException after close
     */
    public float[][] get(long... ids) {
        Objects.requireNonNull(ids, "ids");
        requireType(VectorType.FLOAT32, "get(long...), which reads float vectors");
        int per = (int) (vectorBytes / 4);
        float[] flat = new float[readBackLength(ids.length, per)];
        byte[] found = readBack(ids, flat);
        float[][] rows = new float[ids.length][];
        for (int i = 0; i < ids.length; i++) {
            if (found[i] != 0) {
                rows[i] = java.util.Arrays.copyOfRange(flat, i * per, (i + 1) * per);
            }
        }
        return rows;
    }

    /**
     * Reads back the stored binary vectors of the ids.
     *
     * @param ids the ids to read
     * @return one row per id, in order: its {@link #dimension()} / 8 bytes, or {@code null} where no
     *     vector carries the id
     * @throws NullPointerException for a null array
     * @throws IllegalArgumentException for a float index (use {@link #get(long...)})
     * @throws NearkitUnsupportedException when the index's kind cannot read back yet
     * @throws IllegalStateException after close
     */
    public byte[][] getBinary(long... ids) {
        Objects.requireNonNull(ids, "ids");
        requireType(VectorType.BINARY, "getBinary(long...), which reads binary vectors");
        int per = (int) vectorBytes;
        byte[] flat = new byte[readBackLength(ids.length, per)];
        byte[] found = readBack(ids, flat);
        byte[][] rows = new byte[ids.length][];
        for (int i = 0; i < ids.length; i++) {
            if (found[i] != 0) {
                rows[i] = java.util.Arrays.copyOfRange(flat, i * per, (i + 1) * per);
            }
        }
        return rows;
    }

    private static int readBackLength(int n, int per) {
        long total = (long) n * per;
        if (total > MAX_ARRAY) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: the vectors of " + n
                    + " ids do not fit in a Java array; read fewer at a time");
        }
        return (int) total;
    }

    /** Fills {@code flat} (float[] or byte[]) with the rows; returns the found flags. */
    private byte[] readBack(long[] ids, Object flat) {
        byte[] found = new byte[ids.length];
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            NativeLib.get(p, ids, flat, found);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
        return found;
    }

    /**
     * Whether some stored vector carries the id.
     *
     * @param id the id
     * @return true when the index holds a vector with this id
     * @throws IllegalStateException after close
     */
    public boolean contains(long id) {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            return NativeLib.contains(p, id);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Reclaims the space of removed vectors and finishes work the kind defers (trees rebuild over
     * what was added or removed since their build). Never needed for correct results; a writer,
     * so searches wait for it in the C library.
     *
     * @throws NearkitOutOfMemoryException when native memory runs out (the index is unchanged)
     * @throws IllegalStateException after close
     */
    public void compact() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            NativeLib.compact(p);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    // ---- searching --------------------------------------------------------------------------------

    // k may exceed the count (rows stay k wide, padded with id -1), so k is checked here, before the
    // n * k result arrays are allocated: k < 1, or a result a Java array cannot hold, is an
    // IllegalArgumentException; one the heap cannot hold an OutOfMemoryError naming k.
    private SearchResult doSearch(Input in, int k, int numThreads) {
        return doSearch(in, k, numThreads, SearchOptions.defaults());
    }

    private SearchResult doSearch(Input in, int k, SearchOptions options) {
        Objects.requireNonNull(options, "options");
        return doSearch(in, k, options.numThreads(), options);
    }

    private SearchResult doSearch(Input in, int k, int numThreads, SearchOptions o) {
        if (k < 1) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: k must be at least 1, got " + k);
        }
        if (numThreads < 0) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: numThreads must not be negative, got "
                    + numThreads);
        }
        long total = in.n * (long) k;
        if (total > MAX_ARRAY) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: " + in.n + " queries times k = " + k
                    + " results do not fit in a Java array; search in smaller batches");
        }
        long[] ids;
        float[] distances;
        try {
            ids = new long[(int) total];
            distances = new float[(int) total];
        } catch (OutOfMemoryError e) {
            ids = null; // let the collector take a half-made result before the message is built
            throw new OutOfMemoryError("the results of " + in.n + " queries with k = " + k + " ("
                    + total * 12 + " bytes) do not fit in the Java heap; search in smaller batches");
        }
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            NativeLib.search(p, in.type, in.srcKind, in.src, in.offset, in.nbytes, in.n, k, numThreads,
                    o.filterType(), filterData(o), o.filterCount(), o.bitmapFirst(), o.paramNames(),
                    o.paramValues(), ids, distances);
        } finally {
            l.unlock();
            Reference.reachabilityFence(in.src);
            Reference.reachabilityFence(o);
            Reference.reachabilityFence(this);
        }
        return new SearchResult((int) in.n, k, ids, distances);
    }

    /**
     * Finds the {@code k} nearest neighbours of each query.
     *
     * @param queries n float queries of {@link #dimension()} values, back to back
     * @param k the number of neighbours per query, at least 1 (more than the index holds is fine:
     *     the missing entries are id -1)
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad lengths, {@code k = 0}, NaN or infinity, or a binary
     *     index
     * @throws IllegalStateException when the index is not built or trained, or after close
     */
    public SearchResult search(float[] queries, int k) {
        return doSearch(input(queries, "queries"), k, 0);
    }

    /**
     * Finds the {@code k} nearest neighbours of each query, with a thread count for this batch.
     *
     * @param queries n float queries, back to back
     * @param k the number of neighbours per query
     * @param numThreads threads for this batch; 0 uses the index's setting
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad arguments
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public SearchResult search(float[] queries, int k, int numThreads) {
        return doSearch(input(queries, "queries"), k, numThreads);
    }

    /**
     * Finds the {@code k} nearest neighbours of each binary query.
     *
     * @param queries n binary queries of {@link #dimension()} / 8 bytes, back to back
     * @param k the number of neighbours per query
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad arguments or a float index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public SearchResult search(byte[] queries, int k) {
        return doSearch(input(queries, "queries"), k, 0);
    }

    /**
     * Finds the {@code k} nearest neighbours of each binary query, with a thread count.
     *
     * @param queries n binary queries, back to back
     * @param k the number of neighbours per query
     * @param numThreads threads for this batch; 0 uses the index's setting
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad arguments or a float index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public SearchResult search(byte[] queries, int k, int numThreads) {
        return doSearch(input(queries, "queries"), k, numThreads);
    }

    /**
     * Finds the {@code k} nearest neighbours of float queries in a buffer (position to limit; a
     * direct buffer is read in place).
     *
     * @param queries the queries, back to back
     * @param k the number of neighbours per query
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad arguments or a binary index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public SearchResult search(FloatBuffer queries, int k) {
        return doSearch(input(queries, "queries"), k, 0);
    }

    /**
     * Finds the {@code k} nearest neighbours of float queries in a buffer, with a thread count.
     *
     * @param queries the queries, back to back
     * @param k the number of neighbours per query
     * @param numThreads threads for this batch; 0 uses the index's setting
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad arguments or a binary index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public SearchResult search(FloatBuffer queries, int k, int numThreads) {
        return doSearch(input(queries, "queries"), k, numThreads);
    }

    /**
     * Finds the {@code k} nearest neighbours of binary queries in a buffer (position to limit; a
     * direct buffer is read in place).
     *
     * @param queries the queries, back to back
     * @param k the number of neighbours per query
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad arguments or a float index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public SearchResult search(ByteBuffer queries, int k) {
        return doSearch(input(queries, "queries"), k, 0);
    }

    /**
     * Finds the {@code k} nearest neighbours of binary queries in a buffer, with a thread count.
     *
     * @param queries the queries, back to back
     * @param k the number of neighbours per query
     * @param numThreads threads for this batch; 0 uses the index's setting
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad arguments or a float index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public SearchResult search(ByteBuffer queries, int k, int numThreads) {
        return doSearch(input(queries, "queries"), k, numThreads);
    }

    /**
     * Finds the {@code k} nearest neighbours of each query among the vectors the options' filter
     * allows, with the options' per-call parameters and thread count.
     *
     * @param queries n float queries, back to back
     * @param k the number of neighbours per query, at least 1
     * @param options the filter, parameters and threads of this call
     * @return the neighbours of each query; rows are padded with id -1 past the allowed vectors
     * @throws IllegalArgumentException for bad arguments, an unknown or build-only parameter, or a
     *     value out of range
     * @throws IllegalStateException when the index is not ready, after close, or when a predicate
     *     filter calls into this index
     * @throws RuntimeException whatever a predicate filter threw, as it threw it
     */
    public SearchResult search(float[] queries, int k, SearchOptions options) {
        return doSearch(input(queries, "queries"), k, options);
    }

    /**
     * Finds the {@code k} nearest neighbours of each float16 query (IEEE half bits).
     *
     * @param halfBits n queries of {@link #dimension()} half values, back to back
     * @param k the number of neighbours per query, at least 1
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad lengths, {@code k = 0}, NaN or infinity, or a binary
     *     index
     * @throws IllegalStateException after close
     */
    public SearchResult search(short[] halfBits, int k) {
        return doSearch(inputHalves(halfBits, "queries"), k, 0);
    }

    /**
     * Finds the {@code k} nearest neighbours of each float16 query with a filter, per-call
     * parameters and threads.
     *
     * @param halfBits n queries of {@link #dimension()} half values, back to back
     * @param k the number of neighbours per query, at least 1
     * @param options the filter, parameters and threads of this call
     * @return the neighbours of each query
     * @throws IllegalArgumentException for bad arguments
     * @throws IllegalStateException after close
     */
    public SearchResult search(short[] halfBits, int k, SearchOptions options) {
        return doSearch(inputHalves(halfBits, "queries"), k, options);
    }

    /**
     * Finds the {@code k} nearest neighbours of each query among the vectors the options' filter
     * allows, with the options' per-call parameters and thread count.
     *
     * @param queries n binary queries, back to back
     * @param k the number of neighbours per query, at least 1
     * @param options the filter, parameters and threads of this call
     * @return the neighbours of each query; rows are padded with id -1 past the allowed vectors
     * @throws IllegalArgumentException for bad arguments, an unknown or build-only parameter, or a
     *     value out of range
     * @throws IllegalStateException when the index is not ready, after close, or when a predicate
     *     filter calls into this index
     * @throws RuntimeException whatever a predicate filter threw, as it threw it
     */
    public SearchResult search(byte[] queries, int k, SearchOptions options) {
        return doSearch(input(queries, "queries"), k, options);
    }

    /**
     * Finds the {@code k} nearest neighbours of each query among the vectors the options' filter
     * allows, with the options' per-call parameters and thread count.
     *
     * @param queries n float queries in a buffer (position to limit; a direct buffer is read in place)
     * @param k the number of neighbours per query, at least 1
     * @param options the filter, parameters and threads of this call
     * @return the neighbours of each query; rows are padded with id -1 past the allowed vectors
     * @throws IllegalArgumentException for bad arguments, an unknown or build-only parameter, or a
     *     value out of range
     * @throws IllegalStateException when the index is not ready, after close, or when a predicate
     *     filter calls into this index
     * @throws RuntimeException whatever a predicate filter threw, as it threw it
     */
    public SearchResult search(FloatBuffer queries, int k, SearchOptions options) {
        return doSearch(input(queries, "queries"), k, options);
    }

    /**
     * Finds the {@code k} nearest neighbours of each query among the vectors the options' filter
     * allows, with the options' per-call parameters and thread count.
     *
     * @param queries n binary queries in a buffer (position to limit; a direct buffer is read in place)
     * @param k the number of neighbours per query, at least 1
     * @param options the filter, parameters and threads of this call
     * @return the neighbours of each query; rows are padded with id -1 past the allowed vectors
     * @throws IllegalArgumentException for bad arguments, an unknown or build-only parameter, or a
     *     value out of range
     * @throws IllegalStateException when the index is not ready, after close, or when a predicate
     *     filter calls into this index
     * @throws RuntimeException whatever a predicate filter threw, as it threw it
     */
    public SearchResult search(ByteBuffer queries, int k, SearchOptions options) {
        return doSearch(input(queries, "queries"), k, options);
    }

    /**
     * Finds the cheapest setting of the index's runtime parameter ({@code nprobe} for ivf_flat and
     * ivf_binary, {@code ef_search} for hnsw) at which searching the sample queries reaches
     * recall@k {@code >= targetRecall}, and sets it on the index. The truth is exact (the index's
     * own vectors searched by brute force); values are tried per call, doubling then bisecting, so
     * concurrent searches keep the old value until the end. Exact kinds return at once (no
     * parameter, recall 1). Pass queries like those the index will serve, not stored vectors.
     *
     * @param queries n float queries of {@link #dimension()} values, back to back
     * @param k the k of recall@k, at least 1
     * @param targetRecall the recall to reach, in (0, 1]
     * @return what was measured and set
     * @throws IllegalArgumentException for bad lengths, {@code k = 0}, a target outside (0, 1], NaN
     *     or infinity, or a binary index
     * @throws IllegalStateException when the index is empty, not yet built, or closed
     */
    public TuneResult tune(float[] queries, int k, double targetRecall) {
        return doTune(input(queries, "queries"), k, targetRecall, 0, 0, 0);
    }

    /**
     * {@link #tune(float[], int, double)} for binary queries.
     *
     * @param queries n binary queries of {@link #dimension()} / 8 bytes, back to back
     * @param k the k of recall@k, at least 1
     * @param targetRecall the recall to reach, in (0, 1]
     * @return what was measured and set
     * @throws IllegalArgumentException for bad arguments or a float index
     * @throws IllegalStateException when the index is empty, not yet built, or closed
     */
    public TuneResult tune(byte[] queries, int k, double targetRecall) {
        return doTune(input(queries, "queries"), k, targetRecall, 0, 0, 0);
    }

    /**
     * {@link #tune(float[], int, double)} for float queries in a buffer (position to limit; a
     * direct buffer is read in place).
     *
     * @param queries the queries, back to back
     * @param k the k of recall@k, at least 1
     * @param targetRecall the recall to reach, in (0, 1]
     * @return what was measured and set
     * @throws IllegalArgumentException for bad arguments or a binary index
     * @throws IllegalStateException when the index is empty, not yet built, or closed
     */
    public TuneResult tune(FloatBuffer queries, int k, double targetRecall) {
        return doTune(input(queries, "queries"), k, targetRecall, 0, 0, 0);
    }

    /**
     * {@link #tune(float[], int, double)} for binary queries in a buffer (position to limit; a
     * direct buffer is read in place).
     *
     * @param queries the queries, back to back
     * @param k the k of recall@k, at least 1
     * @param targetRecall the recall to reach, in (0, 1]
     * @return what was measured and set
     * @throws IllegalArgumentException for bad arguments or a float index
     * @throws IllegalStateException when the index is empty, not yet built, or closed
     */
    public TuneResult tune(ByteBuffer queries, int k, double targetRecall) {
        return doTune(input(queries, "queries"), k, targetRecall, 0, 0, 0);
    }

    /**
     * {@link #tune(float[], int, double)} with limits: the threads of the measuring searches, the
     * largest value tried and the time spent.
     *
     * @param queries n float queries, back to back
     * @param k the k of recall@k, at least 1
     * @param targetRecall the recall to reach, in (0, 1]
     * @param numThreads threads of the measuring searches; 0 uses the index's setting
     * @param maxValue the largest value tried; 0 for the parameter's own bound
     * @param maxSeconds stop measuring after this long and choose among the values measured; 0 for
     *     no limit
     * @return what was measured and set ({@link TuneResult#reached()} false when a limit stopped
     *     the search short of the target)
     * @throws IllegalArgumentException for bad arguments
     * @throws IllegalStateException when the index is empty, not yet built, or closed
     */
    public TuneResult tune(float[] queries, int k, double targetRecall, int numThreads,
            double maxValue, double maxSeconds) {
        return doTune(input(queries, "queries"), k, targetRecall, numThreads, maxValue, maxSeconds);
    }

    private TuneResult doTune(Input in, int k, double targetRecall, int numThreads, double maxValue,
            double maxSeconds) {
        if (k < 1) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: k must be at least 1, got " + k);
        }
        if (numThreads < 0) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: numThreads must not be negative, got "
                    + numThreads);
        }
        double[] numbers = new double[6];
        String[] names;
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            names = NativeLib.tune(p, in.type, in.srcKind, in.src, in.offset, in.nbytes, in.n, k,
                    targetRecall, numThreads, maxValue, maxSeconds, numbers);
        } finally {
            l.unlock();
            Reference.reachabilityFence(in.src);
            Reference.reachabilityFence(this);
        }
        return new TuneResult(names[0].isEmpty() ? null : names[0], numbers[0], numbers[1], numbers[2],
                numbers[3] != 0, (int) numbers[4], names[1].isEmpty() ? null : names[1], numbers[5]);
    }

    /** What the native search reads as the filter: the options' buffer, or a new FilterCall. */
    private Object filterData(SearchOptions o) {
        if (o.filterType() == SearchOptions.FILTER_PREDICATE) {
            return new FilterCall(o.predicate(), this);
        }
        return o.filterData();
    }

    private RangeSearchResult doRangeSearch(Input in, float radius, int numThreads) {
        return doRangeSearch(in, radius, numThreads, SearchOptions.defaults());
    }

    private RangeSearchResult doRangeSearch(Input in, float radius, SearchOptions options) {
        Objects.requireNonNull(options, "options");
        return doRangeSearch(in, radius, options.numThreads(), options);
    }

    private RangeSearchResult doRangeSearch(Input in, float radius, int numThreads, SearchOptions o) {
        if (numThreads < 0) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: numThreads must not be negative, got "
                    + numThreads);
        }
        Object[] out = new Object[3];
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            NativeLib.rangeSearch(p, in.type, in.srcKind, in.src, in.offset, in.nbytes, in.n, radius,
                    numThreads, o.filterType(), filterData(o), o.filterCount(), o.bitmapFirst(),
                    o.paramNames(), o.paramValues(), out);
        } finally {
            l.unlock();
            Reference.reachabilityFence(in.src);
            Reference.reachabilityFence(o);
            Reference.reachabilityFence(this);
        }
        return new RangeSearchResult((int[]) out[0], (long[]) out[1], (float[]) out[2]);
    }

    /**
     * Finds, for each query, every stored vector at distance {@code <= radius}.
     *
     * @param queries n float queries, back to back
     * @param radius the radius (not NaN)
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad lengths, NaN, or a binary index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public RangeSearchResult rangeSearch(float[] queries, float radius) {
        return doRangeSearch(input(queries, "queries"), radius, 0);
    }

    /**
     * Range search with a thread count for this batch.
     *
     * @param queries n float queries, back to back
     * @param radius the radius (not NaN)
     * @param numThreads threads for this batch; 0 uses the index's setting
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad arguments
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public RangeSearchResult rangeSearch(float[] queries, float radius, int numThreads) {
        return doRangeSearch(input(queries, "queries"), radius, numThreads);
    }

    /**
     * Range search over binary queries.
     *
     * @param queries n binary queries, back to back
     * @param radius the radius in differing bits
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad arguments or a float index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public RangeSearchResult rangeSearch(byte[] queries, float radius) {
        return doRangeSearch(input(queries, "queries"), radius, 0);
    }

    /**
     * Range search over binary queries with a thread count.
     *
     * @param queries n binary queries, back to back
     * @param radius the radius in differing bits
     * @param numThreads threads for this batch; 0 uses the index's setting
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad arguments or a float index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public RangeSearchResult rangeSearch(byte[] queries, float radius, int numThreads) {
        return doRangeSearch(input(queries, "queries"), radius, numThreads);
    }

    /**
     * Range search over float queries in a buffer (position to limit; a direct buffer is read in
     * place).
     *
     * @param queries the queries, back to back
     * @param radius the radius (not NaN)
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad arguments or a binary index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public RangeSearchResult rangeSearch(FloatBuffer queries, float radius) {
        return doRangeSearch(input(queries, "queries"), radius, 0);
    }

    /**
     * Range search over binary queries in a buffer (position to limit; a direct buffer is read in
     * place).
     *
     * @param queries the queries, back to back
     * @param radius the radius in differing bits
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad arguments or a float index
     * @throws IllegalStateException when the index is not ready, or after close
     */
    public RangeSearchResult rangeSearch(ByteBuffer queries, float radius) {
        return doRangeSearch(input(queries, "queries"), radius, 0);
    }

    /**
     * Finds, for each query, every vector the options' filter allows at distance {@code <= radius},
     * with the options' per-call parameters and thread count.
     *
     * @param queries n float queries, back to back
     * @param radius the radius (not NaN)
     * @param options the filter, parameters and threads of this call
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad arguments or parameters
     * @throws IllegalStateException when the index is not ready, after close, or when a predicate
     *     filter calls into this index
     * @throws RuntimeException whatever a predicate filter threw, as it threw it
     */
    public RangeSearchResult rangeSearch(float[] queries, float radius, SearchOptions options) {
        return doRangeSearch(input(queries, "queries"), radius, options);
    }

    /**
     * Finds, for each query, every vector the options' filter allows at distance {@code <= radius},
     * with the options' per-call parameters and thread count.
     *
     * @param queries n binary queries, back to back
     * @param radius the radius (not NaN)
     * @param options the filter, parameters and threads of this call
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad arguments or parameters
     * @throws IllegalStateException when the index is not ready, after close, or when a predicate
     *     filter calls into this index
     * @throws RuntimeException whatever a predicate filter threw, as it threw it
     */
    public RangeSearchResult rangeSearch(byte[] queries, float radius, SearchOptions options) {
        return doRangeSearch(input(queries, "queries"), radius, options);
    }

    /**
     * Finds, for each query, every vector the options' filter allows at distance {@code <= radius},
     * with the options' per-call parameters and thread count.
     *
     * @param queries n float queries in a buffer (position to limit)
     * @param radius the radius (not NaN)
     * @param options the filter, parameters and threads of this call
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad arguments or parameters
     * @throws IllegalStateException when the index is not ready, after close, or when a predicate
     *     filter calls into this index
     * @throws RuntimeException whatever a predicate filter threw, as it threw it
     */
    public RangeSearchResult rangeSearch(FloatBuffer queries, float radius, SearchOptions options) {
        return doRangeSearch(input(queries, "queries"), radius, options);
    }

    /**
     * Finds, for each query, every vector the options' filter allows at distance {@code <= radius},
     * with the options' per-call parameters and thread count.
     *
     * @param queries n binary queries in a buffer (position to limit)
     * @param radius the radius (not NaN)
     * @param options the filter, parameters and threads of this call
     * @return the matches of each query, nearest first
     * @throws IllegalArgumentException for bad arguments or parameters
     * @throws IllegalStateException when the index is not ready, after close, or when a predicate
     *     filter calls into this index
     * @throws RuntimeException whatever a predicate filter threw, as it threw it
     */
    public RangeSearchResult rangeSearch(ByteBuffer queries, float radius, SearchOptions options) {
        return doRangeSearch(input(queries, "queries"), radius, options);
    }

    // ---- introspection ------------------------------------------------------------------------

    /**
     * The kind of this index.
     *
     * @return the kind's description from the native library
     */
    public KindInfo kindInfo() {
        return kind;
    }

    /**
     * The name of this index's kind, such as {@code "flat"}.
     *
     * @return the kind name
     */
    public String kind() {
        return kind.name();
    }

    /**
     * The metric.
     *
     * @return the metric
     */
    public Metric metric() {
        return metric;
    }

    /**
     * The type of vectors this index holds, which decides the input type.
     *
     * @return the vector type
     */
    public VectorType vectorType() {
        return vectorType;
    }

    /**
     * The dimension as given at creation: floats per vector, or bits per binary vector.
     *
     * @return the dimension
     */
    public int dimension() {
        return dimension;
    }

    /**
     * The bytes one vector takes on input: {@code dimension * 4} for floats, {@code dimension / 8}
     * for binary vectors.
     *
     * @return bytes per vector
     */
    public long vectorBytes() {
        return vectorBytes;
    }

    /**
     * The number of vectors stored.
     *
     * @return the count
     * @throws IllegalStateException after close
     */
    public long size() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            return NativeLib.count(p);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The native heap memory the index holds.
     *
     * @return bytes
     * @throws IllegalStateException after close
     */
    public long memoryBytes() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            return NativeLib.memoryBytes(p);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Whether the index can be searched (trained and built as its kind needs).
     *
     * @return true when ready
     * @throws IllegalStateException after close
     */
    public boolean isReady() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            return NativeLib.isReady(p);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Whether this index is a read-only view of a file ({@link #view(Path)}).
     *
     * @return true for a view, false for an index created, loaded or copied
     * @throws IllegalStateException after close
     */
    public boolean isView() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            return NativeLib.isView(p);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * A new, writable in-memory index equal to this one (a view or not): the same kind, metric,
     * parameters, vectors and ids, giving the same answers. Turns a {@link #view(Path) view} into
     * an index that can be changed; the two are independent afterwards.
     *
     * @return the copy, which the caller closes
     * @throws NearkitOutOfMemoryException when native memory runs out
     * @throws IllegalStateException after close
     */
    public Index copy() {
        Lock l = lock.readLock();
        long p = enter(l);
        long c;
        try {
            c = NativeLib.copy(p);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
        return wrap(c);
    }

    /**
     * A human-readable description from the native library: kind, metric, sizes, parameters, and
     * for trees their top levels.
     *
     * @return the description
     * @throws IllegalStateException after close
     */
    public String describe() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            return NativeLib.describe(p);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    // ---- parameters ---------------------------------------------------------------------------

    /**
     * The named parameters of this index (settings and read-only statistics), in the library's
     * order.
     *
     * @return an unmodifiable list
     * @throws IllegalStateException after close
     */
    public List<ParamInfo> paramInfo() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            int n = NativeLib.paramCount(p);
            List<ParamInfo> list = new ArrayList<>(n);
            int[] flags = new int[1];
            double[] numbers = new double[3];
            for (int i = 0; i < n; i++) {
                String[] texts = NativeLib.paramDescribe(p, i, flags, numbers);
                list.add(ParamInfo.of(texts[0], flags[0], numbers[0], numbers[1], numbers[2], texts[1]));
            }
            return Collections.unmodifiableList(list);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Every named parameter with its current value.
     *
     * @return an unmodifiable map in the library's order
     * @throws IllegalStateException after close
     */
    public Map<String, Double> params() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            int n = NativeLib.paramCount(p);
            Map<String, Double> map = new LinkedHashMap<>();
            int[] flags = new int[1];
            for (int i = 0; i < n; i++) {
                String name = NativeLib.paramInfo(p, i, flags);
                map.put(name, NativeLib.getParam(p, name));
            }
            return Collections.unmodifiableMap(map);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Reads a named parameter, such as {@code "num_threads"}, {@code "nprobe"}, {@code "ef_search"}.
     *
     * @param name the parameter's name
     * @return its value
     * @throws IllegalArgumentException for an unknown name
     * @throws IllegalStateException after close
     */
    public double getParam(String name) {
        Objects.requireNonNull(name, "name");
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            return NativeLib.getParam(p, name);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Sets a named parameter. Waits for running searches and excludes other calls meanwhile.
     *
     * @param name the parameter's name
     * @param value its new value
     * @throws IllegalArgumentException for an unknown or read-only name, NaN, a value out of range
     *     or not an integer where one is needed
     * @throws IllegalStateException for a build parameter after training or adding, or after close
     */
    public void setParam(String name, double value) {
        Objects.requireNonNull(name, "name");
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            NativeLib.setParam(p, name, value);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    // ---- persistence --------------------------------------------------------------------------

    /**
     * Writes the index to a file (replaced if it exists), in the format every nearkit binding and
     * the CLI read.
     *
     * @param path the file
     * @throws NearkitIOException when the file cannot be written: its directory is missing or not
     *     writable, or the path names a directory or another file that is not a regular file; the
     *     file is then left as it was
     * @throws IllegalArgumentException for a path of another file system than the default one, or
     *     with a NUL character
     * @throws IllegalStateException after close
     */
    public void save(Path path) throws NearkitIOException {
        byte[] p8 = pathBytes(path);
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            NativeLib.save(p, p8);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Serialises the index into a new byte array, which {@link #fromBytes(byte[])} reads back.
     *
     * @return the bytes (the same as {@link #save(Path)} writes)
     * @throws NearkitUnsupportedException when the index is too large for a Java array
     * @throws IllegalStateException after close
     */
    public byte[] toBytes() {
        Lock l = lock.readLock();
        long p = enter(l);
        try {
            return NativeLib.toBytes(p);
        } finally {
            l.unlock();
            Reference.reachabilityFence(this);
        }
    }

    @Override
    public String toString() {
        return "Index[" + kind.name() + ", " + metric.metricName() + ", dimension=" + dimension
                + (isClosed() ? ", closed]" : "]");
    }
}
