package io.nearkit;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** Readers and writers of TEXMEX vector files (.fvecs, .bvecs, .ivecs) for the tests. */
final class Vecs {
    private Vecs() {
    }

    /** Vectors read from a file: row-major data and the per-row element count. */
    static final class Floats {
        final float[] data;
        final int dim;
        final int count;

        Floats(float[] data, int dim, int count) {
            this.data = data;
            this.dim = dim;
            this.count = count;
        }
    }

    /** Binary vectors: row-major bytes and the bytes per row. */
    static final class Bytes {
        final byte[] data;
        final int bytesPerRow;
        final int count;

        Bytes(byte[] data, int bytesPerRow, int count) {
            this.data = data;
            this.bytesPerRow = bytesPerRow;
            this.count = count;
        }
    }

    static Floats readFvecs(Path p) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() == 0) {
            return new Floats(new float[0], 0, 0);
        }
        int dim = b.getInt(0);
        int row = 4 + 4 * dim;
        if (dim <= 0 || b.remaining() % row != 0) {
            throw new IOException(p + ": not an fvecs file");
        }
        int n = b.remaining() / row;
        float[] out = new float[n * dim];
        for (int i = 0; i < n; i++) {
            if (b.getInt() != dim) {
                throw new IOException(p + ": rows of different dimensions");
            }
            for (int j = 0; j < dim; j++) {
                out[i * dim + j] = b.getFloat();
            }
        }
        return new Floats(out, dim, n);
    }

    static Bytes readBvecs(Path p) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() == 0) {
            return new Bytes(new byte[0], 0, 0);
        }
        int dim = b.getInt(0);
        int row = 4 + dim;
        if (dim <= 0 || b.remaining() % row != 0) {
            throw new IOException(p + ": not a bvecs file");
        }
        int n = b.remaining() / row;
        byte[] out = new byte[n * dim];
        for (int i = 0; i < n; i++) {
            if (b.getInt() != dim) {
                throw new IOException(p + ": rows of different sizes");
            }
            b.get(out, i * dim, dim);
        }
        return new Bytes(out, dim, n);
    }

    static int[] readIvecs(Path p, int[] dimOut) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        int dim = b.remaining() == 0 ? 0 : b.getInt(0);
        int n = dim == 0 ? 0 : b.remaining() / (4 + 4 * dim);
        int[] out = new int[n * dim];
        for (int i = 0; i < n; i++) {
            b.getInt();
            for (int j = 0; j < dim; j++) {
                out[i * dim + j] = b.getInt();
            }
        }
        dimOut[0] = dim;
        return out;
    }

    static void writeFvecs(Path p, float[] data, int dim) throws IOException {
        int n = data.length / dim;
        ByteBuffer b = ByteBuffer.allocate(n * (4 + 4 * dim)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            b.putInt(dim);
            for (int j = 0; j < dim; j++) {
                b.putFloat(data[i * dim + j]);
            }
        }
        Files.write(p, b.array());
    }
}
