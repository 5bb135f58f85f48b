package io.nearkit;

/**
 * A named parameter of an index, as {@code nearkit_index_param_info} reports it. Obtain them with
 * {@link Index#paramInfo()}.
 *
 * @param name the parameter's name, such as {@code "nprobe"}
 * @param flags the {@code NEARKIT_PARAM_FLAG_*} bits
 */
public record ParamInfo(String name, int flags) {
    /** Flag: a statistic that can be read but not set. */
    public static final int FLAG_READ_ONLY = 1;
    /** Flag: settable only before training or adding. */
    public static final int FLAG_BUILD = 2;
    /** Flag: integer valued. */
    public static final int FLAG_INTEGER = 4;

    /**
     * Whether the parameter is a read-only statistic.
     *
     * @return true when it cannot be set
     */
    public boolean isReadOnly() {
        return (flags & FLAG_READ_ONLY) != 0;
    }

    /**
     * Whether the parameter can only be set before training or adding.
     *
     * @return true for build parameters
     */
    public boolean isBuildParameter() {
        return (flags & FLAG_BUILD) != 0;
    }

    /**
     * Whether the parameter takes integer values only.
     *
     * @return true for integer parameters
     */
    public boolean isInteger() {
        return (flags & FLAG_INTEGER) != 0;
    }
}
