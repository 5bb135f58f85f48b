package io.nearkit;

/**
 * The status codes of the nearkit C library ({@code nearkit_status}), as carried by the exceptions
 * this package throws.
 *
 * <p>The numeric codes are those of {@code include/nearkit.h}; they never change once released.
 */
public enum Status {
    /** Success ({@code NEARKIT_OK}). */
    OK(0),
    /** A bad argument: wrong length or type, NaN, {@code k = 0}, ... */
    INVALID_ARGUMENT(1),
    /** An allocation in native code failed. */
    OUT_OF_MEMORY(2),
    /** A file could not be opened, read or written. */
    IO(3),
    /** A file or buffer is not a valid nearkit index. */
    CORRUPT(4),
    /** Valid, but not supported (kind and metric pair, newer file format). */
    UNSUPPORTED(5),
    /** The call is not valid in the index's current state (for example not yet trained). */
    STATE(6),
    /** An unknown parameter or kind name. */
    NOT_FOUND(7),
    /** A bug in nearkit. */
    INTERNAL(8),
    /** A code this version of the Java package does not know. */
    UNKNOWN(-1);

    private final int code;

    Status(int code) {
        this.code = code;
    }

    /**
     * The numeric value of the status in the C library.
     *
     * @return the code, or -1 for {@link #UNKNOWN}
     */
    public int code() {
        return code;
    }

    /**
     * Maps a C status code to its constant.
     *
     * @param code a {@code nearkit_status} value
     * @return the matching constant, or {@link #UNKNOWN} for a value this package does not know
     */
    public static Status fromCode(int code) {
        for (Status s : values()) {
            if (s.code == code && s != UNKNOWN) {
                return s;
            }
        }
        return UNKNOWN;
    }
}
