package io.nearkit;

import java.util.SplittableRandom;

/** Deterministic random vectors and small indexes for the tests. */
final class TestData {
    private TestData() {
    }

    static float[] floats(int n, int dim, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n * dim];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return v;
    }

    static byte[] bytes(int n, int bytesPerVector, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] v = new byte[n * bytesPerVector];
        for (int i = 0; i < v.length; i++) {
            v[i] = (byte) r.nextInt(256);
        }
        return v;
    }

    /** A built flat L2 index of n random vectors. */
    static Index flat(int n, int dim) {
        Index index = Index.builder().kind("flat").metric(Metric.L2).dimension(dim).build();
        try {
            index.add(floats(n, dim, 7));
            index.build();
            return index;
        } catch (RuntimeException | Error e) {
            index.close();
            throw e;
        }
    }

    /** A built flat hamming index of n random binary vectors of `bits` bits. */
    static Index hamming(int n, int bits) {
        Index index = Index.builder().kind("flat").metric(Metric.HAMMING).dimension(bits).build();
        try {
            index.add(bytes(n, bits / 8, 11));
            index.build();
            return index;
        } catch (RuntimeException | Error e) {
            index.close();
            throw e;
        }
    }
}
