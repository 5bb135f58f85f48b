package io.nearkit;

/**
 * One index kind compiled into the native library, as {@code nearkit_kind_get_info} reports it.
 * Obtain them with {@link Nearkit#kinds()}.
 *
 * @param name the kind's name, such as {@code "flat"}; pass it to {@link Index.Builder#kind(String)}
 * @param code the kind's {@code NEARKIT_KIND_*} value
 * @param flags the {@code NEARKIT_KIND_FLAG_*} bits
 * @param metricMask bit {@code 1 << metric.code()} is set for each supported metric
 * @param description a one-line description
 */
public record KindInfo(String name, int code, int flags, int metricMask, String description) {
    /** Flag: results equal the flat index's at default settings. */
    public static final int FLAG_EXACT = 1;
    /** Flag: the kind must be trained (or built) before adding or searching. */
    public static final int FLAG_NEEDS_TRAINING = 2;
    /** Flag: {@link Index#build()} must run after adding, before searching. */
    public static final int FLAG_NEEDS_BUILD = 4;
    /** Flag: the kind searches codes of a codec smaller than the vectors (fp16, bf16, sq8, sq4, pq). */
    public static final int FLAG_COMPRESSED = 8;

    /**
     * Whether results equal the flat index's at default settings.
     *
     * @return true for exact kinds
     */
    public boolean isExact() {
        return (flags & FLAG_EXACT) != 0;
    }

    /**
     * Whether the kind must be trained before vectors are added.
     *
     * @return true when training is needed
     */
    public boolean needsTraining() {
        return (flags & FLAG_NEEDS_TRAINING) != 0;
    }

    /**
     * Whether {@link Index#build()} must be called after adding and before searching.
     *
     * @return true when a build is needed
     */
    public boolean needsBuild() {
        return (flags & FLAG_NEEDS_BUILD) != 0;
    }

    /**
     * Whether the kind searches compressed codes (less memory; recall bounded by the codes unless
     * the originals are kept with {@code refine}).
     *
     * @return true for the codec kinds
     */
    public boolean isCompressed() {
        return (flags & FLAG_COMPRESSED) != 0;
    }

    /**
     * Whether the kind supports a metric.
     *
     * @param metric the metric
     * @return true when the pair can be created
     */
    public boolean supports(Metric metric) {
        int c = metric.code();
        return c >= 0 && c < 32 && (metricMask & (1 << c)) != 0;
    }
}
