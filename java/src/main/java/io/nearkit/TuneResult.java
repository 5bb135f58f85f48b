package io.nearkit;

/**
 * What {@link Index#tune(float[], int, double)} measured and chose: the runtime parameter tuned
 * ({@code "nprobe"}, {@code "ef_search"}; {@code null} for an exact kind, which has nothing to
 * tune), the value set on the index, the recall@k measured on the sample at that value, the queries
 * per second of that measurement, whether the target was reached (when not, the value with the best
 * recall is set) and how many values were tried; where one more step of the parameter would jump
 * past the target, the finer setting chosen with it ({@code "max_codes"}, the IVF kinds' scan
 * budget) and its value, also set on the index. Immutable.
 */
public final class TuneResult {
    private final String param;
    private final double value;
    private final double recall;
    private final double qps;
    private final boolean reached;
    private final int measurements;
    private final String fineParam;
    private final double fineValue;

    TuneResult(String param, double value, double recall, double qps, boolean reached,
            int measurements, String fineParam, double fineValue) {
        this.param = param;
        this.value = value;
        this.recall = recall;
        this.qps = qps;
        this.reached = reached;
        this.measurements = measurements;
        this.fineParam = fineParam;
        this.fineValue = fineValue;
    }

    /**
     * The runtime parameter tuned.
     *
     * @return its name, or {@code null} for an exact kind
     */
    public String param() {
        return param;
    }

    /**
     * The value chosen and set on the index.
     *
     * @return the value (0 for an exact kind)
     */
    public double value() {
        return value;
    }

    /**
     * The recall@k measured on the sample queries at the chosen value.
     *
     * @return the recall, in [0, 1] (1 for an exact kind)
     */
    public double recall() {
        return recall;
    }

    /**
     * The queries per second measured at the chosen value.
     *
     * @return queries per second (0 for an exact kind: nothing is measured)
     */
    public double qps() {
        return qps;
    }

    /**
     * Whether the recall reached the target.
     *
     * @return false when no value tried reached it
     */
    public boolean reached() {
        return reached;
    }

    /**
     * The number of values measured.
     *
     * @return the count
     */
    public int measurements() {
        return measurements;
    }

    /**
     * The finer setting chosen with the value ({@code "max_codes"}), set on the index too; the
     * recall and queries per second were measured with both.
     *
     * @return its name, or {@code null} when none was chosen (0, no limit, is set)
     */
    public String fineParam() {
        return fineParam;
    }

    /**
     * The finer setting's value.
     *
     * @return the value (0 when {@link #fineParam()} is null)
     */
    public double fineValue() {
        return fineValue;
    }

    @Override
    public String toString() {
        return "TuneResult[param=" + param + ", value=" + value + ", recall=" + recall + ", qps="
                + qps + ", reached=" + reached + ", measurements=" + measurements + ", fineParam="
                + fineParam + ", fineValue=" + fineValue + "]";
    }
}
