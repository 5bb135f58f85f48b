package io.nearkit;

import java.util.Objects;
import java.util.OptionalDouble;

/**
 * A named parameter of an index, as {@code nearkit_index_param_describe} reports it. Obtain them
 * with {@link Index#paramInfo()}.
 *
 * @param name the parameter's name, such as {@code "nprobe"}
 * @param flags the {@code NEARKIT_PARAM_FLAG_*} bits
 * @param minimum the smallest value {@link Index#setParam} accepts
 * @param maximum the largest value {@link Index#setParam} accepts
 * @param defaultValue the value of a new index; empty for a read-only statistic
 * @param description one line saying what the parameter does (for example what 0 means)
 */
public record ParamInfo(String name, int flags, double minimum, double maximum,
                        OptionalDouble defaultValue, String description) {
    /** Flag: a statistic that can be read but not set. */
    public static final int FLAG_READ_ONLY = 1;
    /** Flag: settable only before training or adding. */
    public static final int FLAG_BUILD = 2;
    /** Flag: integer valued. */
    public static final int FLAG_INTEGER = 4;
    /** Flag: the runtime setting trading speed for recall, the one {@code tune} varies. */
    public static final int FLAG_RECALL = 8;
    /** Flag: values below the search's k act as k. */
    public static final int FLAG_FROM_K = 16;
    /** Flag: a finer setting under the recall one (max_codes; 0: no limit) that {@code tune} sets too. */
    public static final int FLAG_RECALL_FINE = 32;

    /**
     * Checks that no component is null.
     *
     * @param name the parameter's name
     * @param flags the flag bits
     * @param minimum the smallest settable value
     * @param maximum the largest settable value
     * @param defaultValue the value of a new index, empty for a statistic
     * @param description one line
     */
    public ParamInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(defaultValue, "defaultValue");
        Objects.requireNonNull(description, "description");
    }

    /** From the C library's values: the default is NaN for a read-only statistic. */
    static ParamInfo of(String name, int flags, double minimum, double maximum, double defaultValue,
                        String description) {
        OptionalDouble value = (flags & FLAG_READ_ONLY) != 0 ? OptionalDouble.empty()
                                                             : OptionalDouble.of(defaultValue);
        return new ParamInfo(name, flags, minimum, maximum, value, description);
    }

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

    /**
     * Whether this is the runtime setting that trades speed for recall (nprobe, ef_search,
     * search_k): the one the tuner varies.
     *
     * @return true for the recall setting
     */
    public boolean isRecallSetting() {
        return (flags & FLAG_RECALL) != 0;
    }

    /**
     * Whether this is a finer setting under the recall one (the IVF kinds' max_codes, 0: no
     * limit), which the tuner sets where one step of the recall setting jumps past the target.
     *
     * @return true for the finer recall setting
     */
    public boolean isRecallFineSetting() {
        return (flags & FLAG_RECALL_FINE) != 0;
    }
}
