package io.nearkit;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * Library-wide information: versions and the index kinds compiled into the native library.
 *
 * <p>Everything here is read from the C library at run time, so a native library with a new index
 * kind shows it without a change to the Java code.
 */
public final class Nearkit {
    private Nearkit() {
    }

    /**
     * The native library's version, {@code "MAJOR.MINOR.PATCH"}.
     *
     * @return the version string
     * @throws UnsatisfiedLinkError when the native library cannot be loaded on this platform
     */
    public static String version() {
        NativeLib.ensureLoaded();
        return NativeLib.versionString();
    }

    /**
     * The native library's version as {@code major * 10000 + minor * 100 + patch}.
     *
     * @return the version number
     * @throws UnsatisfiedLinkError when the native library cannot be loaded on this platform
     */
    public static int versionNumber() {
        NativeLib.ensureLoaded();
        return NativeLib.versionNumber();
    }

    /**
     * The native library's ABI version; loading has already checked that it is the one this
     * package expects.
     *
     * @return the ABI version
     * @throws UnsatisfiedLinkError when the native library cannot be loaded on this platform
     */
    public static int abiVersion() {
        NativeLib.ensureLoaded();
        return NativeLib.abiVersion();
    }

    /**
     * The platform name this JVM runs on, as used in the jar's native resource paths
     * ({@code /io/nearkit/native/<platform>/}), for example {@code linux-x86_64}.
     *
     * @return the platform name
     */
    public static String platform() {
        return NativeLib.platform();
    }

    /**
     * Every index kind compiled into the native library, in the library's order.
     *
     * @return an unmodifiable list
     * @throws UnsatisfiedLinkError when the native library cannot be loaded on this platform
     */
    public static List<KindInfo> kinds() {
        NativeLib.ensureLoaded();
        int n = NativeLib.kindCount();
        List<KindInfo> kinds = new ArrayList<>(n);
        int[] ints = new int[3];
        for (int i = 0; i < n; i++) {
            String[] texts = NativeLib.kindInfo(i, ints);
            kinds.add(new KindInfo(texts[0], ints[0], ints[1], ints[2], texts[1]));
        }
        return Collections.unmodifiableList(kinds);
    }

    /**
     * Looks a kind up by name (case-insensitive), with the C library's lookup.
     *
     * @param name a kind name such as {@code "flat"}
     * @return the kind, or empty when no such kind is compiled in
     * @throws NullPointerException for {@code null}
     */
    public static Optional<KindInfo> kind(String name) {
        java.util.Objects.requireNonNull(name, "name");
        NativeLib.ensureLoaded();
        int code;
        try {
            code = NativeLib.kindFromName(name);
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
        for (KindInfo k : kinds()) {
            if (k.code() == code) {
                return Optional.of(k);
            }
        }
        return Optional.empty();
    }

    /**
     * The {@code k} nearest per query of answers to the same {@code n} queries computed apart (one
     * per shard, say), ordered exactly as one search over the union would order them: nearest
     * first, equal distances by smaller id, padded with id -1 and distance
     * {@link Float#POSITIVE_INFINITY}. Padding entries in the parts are skipped.
     *
     * @param parts the parts' answers, each with the same {@link SearchResult#queryCount()} (their
     *     {@code k} may differ)
     * @param k the number of neighbours per query to keep, at least 1
     * @param unique {@code true} to count an id that several parts found once, at its least
     *     distance
     * @return the merged neighbours of each query
     * @throws IllegalArgumentException for no parts, parts of different query counts, {@code k < 1},
     *     a NaN distance, or a result too large for a Java array
     * @throws NullPointerException for a {@code null} list or part
     * @throws UnsatisfiedLinkError when the native library cannot be loaded on this platform
     */
    public static SearchResult mergeKnn(List<SearchResult> parts, int k, boolean unique) {
        java.util.Objects.requireNonNull(parts, "parts");
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: mergeKnn needs at least one part");
        }
        int n = java.util.Objects.requireNonNull(parts.get(0), "part 0").queryCount();
        long[][] ids = new long[parts.size()][];
        float[][] distances = new float[parts.size()][];
        for (int p = 0; p < parts.size(); p++) {
            SearchResult r = java.util.Objects.requireNonNull(parts.get(p), "part " + p);
            if (r.queryCount() != n) {
                throw new IllegalArgumentException("INVALID_ARGUMENT: part " + p + " answers "
                        + r.queryCount() + " queries, part 0 answers " + n);
            }
            ids[p] = r.allIds();
            distances[p] = r.allDistances();
        }
        return mergeKnn(n, ids, distances, k, unique);
    }

    /**
     * The {@code k} nearest per query of answers given as arrays, as
     * {@link #mergeKnn(List, int, boolean)} does: part {@code p} is {@code ids[p]} and
     * {@code distances[p]}, {@code n} rows of {@code ids[p].length / n} entries back to back (row
     * {@code q} first), as {@link SearchResult#allIds()} and {@link SearchResult#allDistances()}
     * return them.
     *
     * @param n the number of queries, at least 0
     * @param ids each part's ids, a multiple of {@code n} long
     * @param distances each part's distances, as long as its ids
     * @param k the number of neighbours per query to keep, at least 1
     * @param unique {@code true} to count an id that several parts found once, at its least
     *     distance
     * @return the merged neighbours of each query
     * @throws IllegalArgumentException for mismatched lengths, {@code k < 1}, a NaN distance, or a
     *     result too large for a Java array
     * @throws NullPointerException for a {@code null} array or part
     * @throws UnsatisfiedLinkError when the native library cannot be loaded on this platform
     */
    public static SearchResult mergeKnn(int n, long[][] ids, float[][] distances, int k,
            boolean unique) {
        java.util.Objects.requireNonNull(ids, "ids");
        java.util.Objects.requireNonNull(distances, "distances");
        if (n < 0) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: n must not be negative, got " + n);
        }
        if (k < 1) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: k must be at least 1, got " + k);
        }
        if (ids.length != distances.length) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: " + ids.length + " id parts but "
                    + distances.length + " distance parts");
        }
        for (int p = 0; p < ids.length; p++) {
            java.util.Objects.requireNonNull(ids[p], "ids of part " + p);
            java.util.Objects.requireNonNull(distances[p], "distances of part " + p);
            if (ids[p].length != distances[p].length || (n == 0 ? ids[p].length != 0
                    : ids[p].length % n != 0)) {
                throw new IllegalArgumentException("INVALID_ARGUMENT: part " + p + " has "
                        + ids[p].length + " ids and " + distances[p].length
                        + " distances; both must be the same multiple of n = " + n);
            }
        }
        long total = (long) n * k;
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("INVALID_ARGUMENT: " + n + " queries times k = " + k
                    + " results do not fit in a Java array; merge in smaller batches");
        }
        long[] outIds = new long[(int) total];
        float[] outDistances = new float[(int) total];
        NativeLib.ensureLoaded();
        NativeLib.mergeKnn(n, k, ids, distances, unique ? MERGE_UNIQUE : 0, outIds, outDistances);
        return new SearchResult(n, k, outIds, outDistances);
    }

    /** NEARKIT_MERGE_UNIQUE of nearkit.h. */
    private static final int MERGE_UNIQUE = 1;
}
