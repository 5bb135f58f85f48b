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
}
