package io.nearkit.spark;

import io.nearkit.Index;
import io.nearkit.SearchOptions;
import io.nearkit.SearchResult;
import java.io.Serializable;
import java.util.Arrays;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Vectors read from a DataFrame column, back to back as the Java package takes them: float vectors
 * (from a Spark ML {@code Vector}, {@code array<float>} or {@code array<double>} column) or binary
 * ones (from a {@code binary} column, 8 bits a byte). Serializable: query blocks are broadcast.
 */
final class VectorBlock implements Serializable {
    private static final long serialVersionUID = 1L;

    /** How a column holds its vectors. */
    enum Source { ML_VECTOR, FLOAT_ARRAY, DOUBLE_ARRAY, BINARY }

    private final Source source;
    private final String column;
    private int width = -1; // floats or bytes per vector, fixed by the first vector
    private int n;
    private float[] floats = new float[0];
    private byte[] bytes = new byte[0];

    private VectorBlock(Source source, String column) {
        this.source = source;
        this.column = column;
    }

    /** An empty block for the vectors of {@code column}, whose type the schema gives. */
    static VectorBlock forColumn(StructType schema, String column) {
        return new VectorBlock(sourceOf(schema, column), column);
    }

    /** How {@code column} holds vectors; IllegalArgumentException when it is none of the four. */
    static Source sourceOf(StructType schema, String column) {
        if (!Arrays.asList(schema.fieldNames()).contains(column)) {
            throw new IllegalArgumentException("nearkit: no column '" + column + "' in " + schema.simpleString());
        }
        DataType t = schema.apply(column).dataType();
        if (t instanceof VectorUDT) {
            return Source.ML_VECTOR;
        }
        if (t.equals(DataTypes.BinaryType)) {
            return Source.BINARY;
        }
        if (t instanceof ArrayType) {
            DataType e = ((ArrayType) t).elementType();
            if (e.equals(DataTypes.FloatType)) {
                return Source.FLOAT_ARRAY;
            }
            if (e.equals(DataTypes.DoubleType)) {
                return Source.DOUBLE_ARRAY;
            }
        }
        throw new IllegalArgumentException("nearkit: column '" + column + "' is " + t.simpleString()
                + "; vectors must be a Spark ML Vector, array<float>, array<double> or binary");
    }

    boolean binary() {
        return source == Source.BINARY;
    }

    int size() {
        return n;
    }

    /** The dimension as nearkit counts it: floats, or bits of a binary vector; 0 while empty. */
    int dimension() {
        return width < 0 ? 0 : binary() ? width * 8 : width;
    }

    /**
     * Appends the vector in field {@code field} of {@code row}, a row of Spark's internal form (as a
     * query plan's RDD gives it, possibly reused for the next row: the vector is copied out here).
     * Read in that form, an {@code array<float>} vector is one copy, not a boxed value per element.
     */
    void add(InternalRow row, int field) {
        if (row.isNullAt(field)) {
            throw new IllegalArgumentException("nearkit: a null vector in column '" + column + "'");
        }
        if (binary()) {
            byte[] v = row.getBinary(field);
            checkWidth(v.length);
            appendBytes(v, 0);
        } else {
            float[] v = floatsOf(row, field);
            checkWidth(v.length);
            appendFloats(v, 0);
        }
    }

    /** Appends every vector of {@code other}, a block of the same column. */
    void addAll(VectorBlock other) {
        if (other.n == 0) {
            return;
        }
        checkWidth(other.width);
        for (int i = 0; i < other.n; i++) {
            if (binary()) {
                appendBytes(other.bytes, i * width);
            } else {
                appendFloats(other.floats, i * width);
            }
        }
    }

    /** Appends the vector of {@code width} bytes at {@code from} in {@code src}. */
    private void appendBytes(byte[] src, int from) {
        if ((n + 1) * width > bytes.length) {
            bytes = Arrays.copyOf(bytes, grow(bytes.length, width));
        }
        System.arraycopy(src, from, bytes, n * width, width);
        n++;
    }

    /** Appends the vector of {@code width} floats at {@code from} in {@code src}. */
    private void appendFloats(float[] src, int from) {
        if ((long) (n + 1) * width > floats.length) {
            floats = Arrays.copyOf(floats, grow(floats.length, width));
        }
        System.arraycopy(src, from, floats, n * width, width);
        n++;
    }

    private static final VectorUDT VECTOR_UDT = new VectorUDT();

    private float[] floatsOf(InternalRow row, int field) {
        switch (source) {
            case ML_VECTOR: {
                Vector v = VECTOR_UDT.deserialize(row.getStruct(field, VECTOR_UDT.sqlType().size()));
                float[] out = new float[v.size()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = (float) v.apply(i);
                }
                return out;
            }
            case FLOAT_ARRAY:
                return nonNull(row.getArray(field)).toFloatArray();
            default: {
                double[] d = nonNull(row.getArray(field)).toDoubleArray();
                float[] out = new float[d.length];
                for (int i = 0; i < out.length; i++) {
                    out[i] = (float) d[i];
                }
                return out;
            }
        }
    }

    /** {@code a}, refused when an element is null (the array's copy would read it as 0). */
    private ArrayData nonNull(ArrayData a) {
        for (int i = 0; i < a.numElements(); i++) {
            if (a.isNullAt(i)) {
                throw new IllegalArgumentException("nearkit: a null element in a vector of column '" + column + "'");
            }
        }
        return a;
    }

    private void checkWidth(int w) {
        if (w == 0) {
            throw new IllegalArgumentException("nearkit: an empty vector in column '" + column + "'");
        }
        if (width < 0) {
            width = w;
        } else if (w != width) {
            throw new IllegalArgumentException("nearkit: vectors of column '" + column + "' differ in length ("
                    + width + " and " + w + (binary() ? " bytes)" : " values)"));
        }
    }

    private static int grow(int length, int width) {
        long want = Math.max(16L * width, 2L * length);
        if (want > Integer.MAX_VALUE - 8) {
            want = Integer.MAX_VALUE - 8;
        }
        if (want <= length) {
            throw new IllegalArgumentException("nearkit: a partition's vectors do not fit in one Java array;"
                    + " use more partitions (numShards)");
        }
        return (int) want;
    }

    /** Adds the block's vectors to {@code index} under {@code ids}. */
    void addTo(Index index, long[] ids) {
        if (binary()) {
            index.add(exactBytes(), ids);
        } else {
            index.add(exactFloats(), ids);
        }
    }

    private float[] exactFloats() {
        int len = n * Math.max(width, 0);
        return floats.length == len ? floats : Arrays.copyOf(floats, len);
    }

    private byte[] exactBytes() {
        int len = n * Math.max(width, 0);
        return bytes.length == len ? bytes : Arrays.copyOf(bytes, len);
    }

    /** The block's vectors as queries to {@code index}. */
    SearchResult searchIn(Index index, int k, SearchOptions options) {
        if (binary()) {
            return index.search(exactBytes(), k, options);
        }
        return index.search(exactFloats(), k, options);
    }

    /** Drops the spare room, before the block is broadcast. */
    VectorBlock trimmed() {
        floats = exactFloats();
        bytes = exactBytes();
        return this;
    }
}
