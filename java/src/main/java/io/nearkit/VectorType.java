package io.nearkit;

/**
 * The type of the vectors an index holds ({@code nearkit_vector_type}).
 */
public enum VectorType {
    /** {@code dimension} float32 values per vector: pass {@code float[]} or a {@code FloatBuffer}. */
    FLOAT32(1),
    /**
     * {@code dimension} bits per vector, packed into {@code dimension / 8} bytes, least significant
     * bit first: pass {@code byte[]} or a {@code ByteBuffer}.
     */
    BINARY(2),
    /**
     * {@code dimension} IEEE binary16 values per vector, as their bits in a {@code short[]}: input
     * to float indexes only, widened to float32 by the library (exactly). An index's own type is
     * never FLOAT16.
     */
    FLOAT16(3);

    private final int code;

    VectorType(int code) {
        this.code = code;
    }

    /**
     * The value of the type in the C library.
     *
     * @return the {@code NEARKIT_VECTOR_*} value
     */
    public int code() {
        return code;
    }

    /**
     * Maps a C vector type value to its constant.
     *
     * @param code a {@code NEARKIT_VECTOR_*} value
     * @return the constant
     * @throws IllegalArgumentException for a value this package does not know
     */
    public static VectorType fromCode(int code) {
        for (VectorType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown nearkit vector type " + code);
    }
}
