package io.nearkit;

import java.io.IOException;
import java.io.InputStream;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The JNI entry points of the native library ({@code src/main/c/nearkit_jni.c}) and the code that
 * finds, extracts and loads that library.
 *
 * <p>The library is looked up, in order: the file named by the system property
 * {@code nearkit.native.library}; the jar resource
 * {@code /io/nearkit/native/<os>-<arch>/<System.mapLibraryName("nearkit_jni")>}, copied into a new
 * temporary directory (under the directory named by {@code nearkit.native.tmpdir}, else
 * {@code java.io.tmpdir}) and loaded from there. The companion libraries named in
 * {@code /io/nearkit/native/<os>-<arch>/libs.txt}, if the jar has that index (the portable build's
 * shared OpenBLAS and its Fortran runtime, which the JNI library finds beside itself), are copied
 * into the same directory first. After loading, the native library's ABI version must equal
 * {@link #EXPECTED_ABI_VERSION}.
 *
 * <p>Pointers are passed as {@code long}; every method here is called with the owning
 * {@link Index}'s lock held, never with a freed pointer.
 */
final class NativeLib {
    /** The {@code NEARKIT_ABI_VERSION} this Java code was written for. */
    static final int EXPECTED_ABI_VERSION = 1;

    /** Input source kinds for the {@code src} parameters: a {@code float[]}. */
    static final int SRC_FLOATS = 0;
    /** Input source kind: a {@code byte[]}. */
    static final int SRC_BYTES = 1;
    /** Input source kind: a direct {@link Buffer}; offsets are in bytes. */
    static final int SRC_DIRECT = 2;
    /** Input source kind: a {@code short[]} (float16 bits). */
    static final int SRC_SHORTS = 3;

    private static final String RESOURCE_ROOT = "/io/nearkit/native/";
    private static final String LIBRARY_NAME = "nearkit_jni";
    private static final String COMPANION_INDEX = "libs.txt";

    private static final Throwable LOAD_FAILURE = loadOnce();

    private NativeLib() {
    }

    /**
     * Throws the load failure, if the native library could not be loaded or has the wrong ABI.
     *
     * @throws UnsatisfiedLinkError describing the platform and what was tried
     */
    static void ensureLoaded() {
        if (LOAD_FAILURE != null) {
            UnsatisfiedLinkError e = new UnsatisfiedLinkError(LOAD_FAILURE.getMessage());
            e.initCause(LOAD_FAILURE);
            throw e;
        }
    }

    /**
     * The platform name used in resource paths: {@code <os>-<arch>}, for example
     * {@code linux-x86_64}, {@code linux-aarch64}, {@code macos-aarch64}, {@code windows-x86_64}.
     *
     * @return the platform of the running JVM
     */
    static String platform() {
        return osName(System.getProperty("os.name", "unknown")) + "-"
                + archName(System.getProperty("os.arch", "unknown"));
    }

    static String osName(String os) {
        String s = os.toLowerCase(Locale.ROOT);
        if (s.startsWith("linux")) {
            return "linux";
        }
        if (s.startsWith("mac") || s.startsWith("darwin")) {
            return "macos";
        }
        if (s.startsWith("windows")) {
            return "windows";
        }
        return s.replaceAll("[^a-z0-9]+", "");
    }

    static String archName(String arch) {
        String s = arch.toLowerCase(Locale.ROOT);
        switch (s) {
            case "amd64":
            case "x86_64":
            case "x64":
                return "x86_64";
            case "aarch64":
            case "arm64":
                return "aarch64";
            case "x86":
            case "i386":
            case "i486":
            case "i586":
            case "i686":
                return "x86";
            default:
                return s.replaceAll("[^a-z0-9_]+", "");
        }
    }

    /**
     * The resource path of the native library for a platform.
     *
     * @param platform a name as {@link #platform()} returns
     * @return the absolute resource path
     */
    static String resourcePath(String platform) {
        return RESOURCE_ROOT + platform + "/" + System.mapLibraryName(LIBRARY_NAME);
    }

    private static Throwable loadOnce() {
        try {
            String explicit = System.getProperty("nearkit.native.library");
            if (explicit != null && !explicit.isEmpty()) {
                System.load(Paths.get(explicit).toAbsolutePath().toString());
            } else {
                loadFromResource();
            }
            int runtime = abiVersion();
            int compiled = compiledAbiVersion();
            if (runtime != EXPECTED_ABI_VERSION || compiled != EXPECTED_ABI_VERSION) {
                return new UnsatisfiedLinkError("nearkit: ABI version mismatch: the Java package expects "
                        + "NEARKIT_ABI_VERSION " + EXPECTED_ABI_VERSION + ", the native library reports "
                        + runtime + " (its JNI glue was compiled for " + compiled + "); use the native "
                        + "library built with this version of the nearkit jar");
            }
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    private static void loadFromResource() throws IOException {
        String platform = platform();
        String resource = resourcePath(platform);
        try (InputStream in = NativeLib.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new UnsatisfiedLinkError("nearkit: no native library for platform '" + platform
                        + "' (os.name=" + System.getProperty("os.name") + ", os.arch="
                        + System.getProperty("os.arch") + "): the jar has no resource " + resource
                        + "; build nearkit for this platform, or point the system property "
                        + "nearkit.native.library at a " + System.mapLibraryName(LIBRARY_NAME)
                        + " built for it");
            }
            String tmp = System.getProperty("nearkit.native.tmpdir");
            Path parent = tmp != null && !tmp.isEmpty() ? Paths.get(tmp)
                    : Paths.get(System.getProperty("java.io.tmpdir"));
            Files.createDirectories(parent);
            // A fresh directory per JVM: the JNI library's RUNPATH ($ORIGIN) finds the companion
            // libraries extracted beside it, and no other process's files.
            Path dir = Files.createTempDirectory(parent, "nearkit-");
            List<Path> extracted = new ArrayList<>();
            boolean windows = platform.startsWith("windows");
            try {
                // Each file is listed before it is written, so a failure part way still cleans up.
                for (String companion : companionNames(platform)) {
                    Path file = dir.resolve(companion);
                    extracted.add(file);
                    extract(companionPath(platform, companion), file);
                }
                Path target = dir.resolve(System.mapLibraryName(LIBRARY_NAME));
                extracted.add(target);
                Files.copy(in, target);
                try {
                    System.load(target.toAbsolutePath().toString());
                } catch (UnsatisfiedLinkError e) {
                    UnsatisfiedLinkError wrapped = new UnsatisfiedLinkError("nearkit: could not load the "
                            + "native library for platform '" + platform + "' extracted to " + target
                            + " (" + e.getMessage() + "); if that directory does not allow executing, "
                            + "set -Dnearkit.native.tmpdir to one that does");
                    wrapped.initCause(e);
                    throw wrapped;
                }
            } finally {
                if (windows) {
                    // Deleted at exit in the reverse order of registration: the files, then the directory.
                    dir.toFile().deleteOnExit();
                    for (Path p : extracted) {
                        p.toFile().deleteOnExit();
                    }
                } else {
                    // The loaded libraries stay mapped; the files themselves are no longer needed.
                    for (Path p : extracted) {
                        Files.deleteIfExists(p);
                    }
                    Files.deleteIfExists(dir);
                }
            }
        }
    }

    /**
     * The resource path of the index of companion libraries for a platform: the libraries the JNI
     * library needs beside it (the portable build's shared OpenBLAS and its Fortran runtime), one
     * file name a line. The normal build links everything in and ships no index.
     *
     * @param platform a name as {@link #platform()} returns
     * @return the absolute resource path
     */
    static String companionIndexPath(String platform) {
        return RESOURCE_ROOT + platform + "/" + COMPANION_INDEX;
    }

    private static String companionPath(String platform, String name) {
        return RESOURCE_ROOT + platform + "/" + name;
    }

    /**
     * The companion libraries listed in the platform's index, in order; none without an index.
     *
     * @param platform a name as {@link #platform()} returns
     * @return the file names
     * @throws IOException if the index names something that is not a plain file name
     */
    static List<String> companionNames(String platform) throws IOException {
        List<String> names = new ArrayList<>();
        try (InputStream in = NativeLib.class.getResourceAsStream(companionIndexPath(platform))) {
            if (in == null) {
                return names;
            }
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\\R")) {
                String name = line.trim();
                if (name.isEmpty()) {
                    continue;
                }
                if (name.contains("/") || name.contains("\\") || name.startsWith(".")) {
                    throw new IOException("nearkit: " + companionIndexPath(platform)
                            + " names '" + name + "', not a plain file name");
                }
                names.add(name);
            }
        }
        return names;
    }

    private static void extract(String resource, Path target) throws IOException {
        try (InputStream in = NativeLib.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("nearkit: the jar lists the companion library " + resource
                        + " but does not carry it");
            }
            Files.copy(in, target);
        }
    }

    // ---- versions, status, kinds, metrics --------------------------------------------------------

    static native int abiVersion();

    static native int compiledAbiVersion();

    static native String versionString();

    static native int versionNumber();

    static native String statusName(int status);

    static native int kindCount();

    /** Fills {@code out} with kind, flags, metric mask; returns {name, description}. */
    static native String[] kindInfo(int i, int[] out);

    static native int kindFromName(String name);

    static native String kindName(int kind);

    static native int metricFromName(String name);

    static native String metricName(int metric);

    // ---- lifetime ---------------------------------------------------------------------------------

    static native long create(String kind, String metric, int dimension, int numThreads, long seed,
            String params);

    static native void free(long index);

    // ---- adding, training, building -----------------------------------------------------------------

    static native void add(long index, int type, int srcKind, Object src, long offset, long nbytes,
            long n, long[] ids);

    static native void train(long index, int type, int srcKind, Object src, long offset, long nbytes,
            long n);

    static native void build(long index);

    // ---- removing and reading back ------------------------------------------------------------------

    /** Returns the number of vectors removed. */
    static native long remove(long index, long[] ids);

    /** Fills {@code vectors} (float[] or byte[], ids.length rows) and {@code found} (0 or 1 per id). */
    static native void get(long index, long[] ids, Object vectors, byte[] found);

    static native boolean contains(long index, long id);

    static native void compact(long index);

    // ---- searching --------------------------------------------------------------------------------

    // The search options travel as plain values (SearchOptions' fields): filterType is a
    // NEARKIT_FILTER_* value; filterData the direct buffer of ids or bitmap bytes, or the
    // FilterCall of a predicate; filterCount the number of ids or bits; paramNames and paramValues
    // (null or the same length) the per-call parameters.

    static native void search(long index, int type, int srcKind, Object src, long offset, long nbytes,
            long n, long k, int numThreads, int filterType, Object filterData, long filterCount,
            long bitmapFirst, String[] paramNames, double[] paramValues, long[] ids,
            float[] distances);

    /** Stores {int[] offsets, long[] ids, float[] distances} into {@code out}. */
    static native void rangeSearch(long index, int type, int srcKind, Object src, long offset,
            long nbytes, long n, float radius, int numThreads, int filterType, Object filterData,
            long filterCount, long bitmapFirst, String[] paramNames, double[] paramValues,
            Object[] out);

    // ---- introspection ----------------------------------------------------------------------------

    static native int kind(long index);

    static native int metric(long index);

    static native int vectorType(long index);

    static native long dimension(long index);

    static native long vectorBytes(long index);

    static native long count(long index);

    static native long memoryBytes(long index);

    static native boolean isReady(long index);

    static native String describe(long index);

    // ---- parameters -------------------------------------------------------------------------------

    static native int paramCount(long index);

    /** Fills {@code flags[0]}; returns the name. */
    static native String paramInfo(long index, int i, int[] flags);

    /**
     * Fills {@code flags[0]} and {@code numbers} with minimum, maximum, default (NaN for a
     * statistic); returns {name, description}.
     */
    static native String[] paramDescribe(long index, int i, int[] flags, double[] numbers);

    static native double getParam(long index, String name);

    static native void setParam(long index, String name, double value);

    // ---- tuning -----------------------------------------------------------------------------------

    /**
     * nearkit_index_tune: fills {@code numbers} with value, recall, qps, reached (1 or 0),
     * measurements and the finer setting's value; returns {the parameter tuned, the finer setting
     * chosen}, each "" when none (an exact kind; no finer setting).
     */
    static native String[] tune(long index, int type, int srcKind, Object src, long offset, long nbytes,
            long n, long k, double targetRecall, int numThreads, double maxValue, double maxSeconds,
            double[] numbers);

    // ---- persistence ------------------------------------------------------------------------------

    // The four that read or write an index's bytes declare the checked exceptions; the glue tells
    // NativeSupport.error which ones, and any other call gets them in an UncheckedIOException.

    static native void save(long index, byte[] path) throws NearkitIOException;

    static native long load(byte[] path) throws NearkitIOException;

    static native long view(byte[] path, boolean verify, boolean loadIfUnviewable)
            throws NearkitIOException;

    static native long viewShard(byte[] dir, long shard, boolean verify, boolean loadIfUnviewable)
            throws NearkitIOException;

    static native long viewBuffer(ByteBuffer data, long offset, long nbytes, boolean verify,
            boolean loadIfUnviewable) throws CorruptIndexException;

    static native boolean isView(long index);

    static native long copy(long index);

    static native void mergeKnn(long n, long k, long[][] ids, float[][] distances, int flags,
            long[] idsOut, float[] distancesOut);

    static native byte[] toBytes(long index);

    static native long fromBytes(int srcKind, Object src, long offset, long nbytes)
            throws CorruptIndexException;
}
