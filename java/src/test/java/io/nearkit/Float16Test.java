package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** float16 input as short[] half bits: widened by the library, so halves answer as their floats. */
class Float16Test {
    /** The IEEE binary16 bits of f, for zero and values a normal half holds exactly. */
    static short halfBits(float f) {
        if (f == 0f) {
            return 0;
        }
        int bits = Float.floatToIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = ((bits >>> 23) & 0xff) - 127 + 15;
        int mantissa = (bits >>> 13) & 0x3ff;
        return (short) (sign | exponent << 10 | mantissa);
    }

    static float[] values(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = ((i * 7919) % 33) * 0.125f - 2f;
        }
        return v;
    }

    static short[] halves(float[] v) {
        short[] h = new short[v.length];
        for (int i = 0; i < v.length; i++) {
            h[i] = halfBits(v[i]);
        }
        return h;
    }

    @Test
    void halvesAnswerAsTheirFloats() {
        int dim = 8;
        float[] full = values(200 * dim);
        short[] half = halves(full);
        for (Metric metric : new Metric[] {Metric.L2, Metric.COSINE, Metric.IP}) {
            try (Index a = Index.builder().metric(metric).dimension(dim).build();
                    Index b = Index.builder().metric(metric).dimension(dim).build()) {
                a.add(half);
                b.add(full);
                assertEquals(VectorType.FLOAT32, a.vectorType());
                short[] hq = java.util.Arrays.copyOfRange(half, 3 * dim, 8 * dim);
                float[] fq = java.util.Arrays.copyOfRange(full, 3 * dim, 8 * dim);
                SearchResult ra = a.search(hq, 4);
                SearchResult rb = b.search(fq, 4);
                for (int q = 0; q < 5; q++) {
                    assertArrayEquals(rb.ids(q), ra.ids(q));
                    assertArrayEquals(rb.distances(q), ra.distances(q));
                }
            }
        }
    }

    @Test
    void trainingTakesHalves() {
        short[] half = halves(values(400 * 8));
        try (Index ivf = Index.builder().kind("ivf_flat").dimension(8).param("nlist", 4).build()) {
            ivf.train(half);
            ivf.add(half, java.util.stream.LongStream.range(1000, 1400).toArray());
            assertEquals(400, ivf.size());
        }
    }

    @Test
    void badHalvesAreRefused() {
        try (Index index = Index.builder().dimension(4).build()) {
            short[] nan = {0, (short) 0x7e00, 0, 0};
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> index.add(nan));
            assertTrue(e.getMessage().contains("NaN"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> index.add(new short[3]));
            assertThrows(IllegalArgumentException.class, () -> index.search(new short[] {0, 0, 0, (short) 0xfc00}, 1));
            assertThrows(NullPointerException.class, () -> index.add((short[]) null));
            assertEquals(0, index.size());
        }
        try (Index bits = Index.builder().metric(Metric.HAMMING).dimension(64).build()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bits.add(new short[64]));
            assertTrue(e.getMessage().contains("float16"), e.getMessage());
        }
    }
}
