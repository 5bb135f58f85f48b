package io.nearkit;

/**
 * Distance metrics ({@code nearkit_metric}). Smaller is always nearer.
 *
 * <p>The names and numbers are those of the C library; {@link #fromName(String)} asks the C library
 * to parse a name, so it accepts exactly the names and aliases the library does.
 */
public enum Metric {
    /** Euclidean distance (not its square). */
    L2(1),
    /** Sum of absolute differences. */
    L1(2),
    /** Largest absolute difference. */
    LINF(3),
    /** One minus the cosine similarity, in [0, 2]. */
    COSINE(4),
    /** The negated inner product. */
    IP(5),
    /** Number of differing bits, on binary vectors. */
    HAMMING(6);

    private final int code;

    Metric(int code) {
        this.code = code;
    }

    /**
     * The value of the metric in the C library (also the value written to index files).
     *
     * @return the {@code NEARKIT_METRIC_*} value
     */
    public int code() {
        return code;
    }

    /**
     * The C library's lower-case name of this metric, such as {@code "l2"}.
     *
     * @return the name
     */
    public String metricName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * The vector type this metric works on.
     *
     * @return {@link VectorType#BINARY} for {@link #HAMMING}, else {@link VectorType#FLOAT32}
     */
    public VectorType vectorType() {
        return this == HAMMING ? VectorType.BINARY : VectorType.FLOAT32;
    }

    /**
     * Parses a metric name with the C library's parser (case-insensitive; also accepts aliases
     * such as {@code "euclidean"}).
     *
     * @param name the name
     * @return the metric
     * @throws IllegalArgumentException for an unknown name
     * @throws NullPointerException for {@code null}
     */
    public static Metric fromName(String name) {
        java.util.Objects.requireNonNull(name, "name");
        NativeLib.ensureLoaded();
        return fromCode(NativeLib.metricFromName(name));
    }

    /**
     * Maps a C metric value to its constant.
     *
     * @param code a {@code NEARKIT_METRIC_*} value
     * @return the constant
     * @throws IllegalArgumentException for a value this package does not know
     */
    public static Metric fromCode(int code) {
        for (Metric m : values()) {
            if (m.code == code) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown nearkit metric " + code);
    }
}
