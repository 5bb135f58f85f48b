package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Nearkit.mergeKnn (issue 21, item 1): per-shard answers merged as one search over the union. */
class MergeTest {
    private static final int DIM = 8;

    private static long[] range(long from, long to) {
        long[] ids = new long[(int) (to - from)];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = from + i;
        }
        return ids;
    }

    private static Index flatOf(float[] x, long[] ids) {
        Index index = Index.builder().kind("flat").metric("l2").dimension(DIM).build();
        index.add(x, ids);
        index.build();
        return index;
    }

    @Test
    void shardsMergeToTheSingleIndexAnswer() {
        int n = 300;
        int nq = 40;
        int k = 7;
        // Rounded values: many equal distances, so the tie order (smaller id first) is exercised.
        float[] x = TestData.floats(n, DIM, 5);
        for (int i = 0; i < x.length; i++) {
            x[i] = Math.round(x[i] * 2);
        }
        float[] queries = Arrays.copyOf(x, nq * DIM);
        int cut = 170;
        try (Index whole = flatOf(x, range(0, n));
                Index a = flatOf(Arrays.copyOfRange(x, 0, cut * DIM), range(0, cut));
                Index b = flatOf(Arrays.copyOfRange(x, cut * DIM, n * DIM), range(cut, n))) {
            SearchResult want = whole.search(queries, k);
            SearchResult got = Nearkit.mergeKnn(List.of(b.search(queries, k), a.search(queries, 3 * k)),
                    k, false);
            assertEquals(nq, got.queryCount());
            assertEquals(k, got.k());
            assertArrayEquals(want.allIds(), got.allIds());
            assertArrayEquals(want.allDistances(), got.allDistances());
        }
    }

    @Test
    void padsShortAnswersAndCountsRepeatsOnceWhenUnique() {
        long[][] ids = {{4, 1, -1}, {1, 9, 2}};
        float[][] distances = {{0.5f, 2f, Float.POSITIVE_INFINITY}, {1f, 1f, 3f}};
        SearchResult plain = Nearkit.mergeKnn(1, ids, distances, 5, false);
        assertArrayEquals(new long[] {4, 1, 9, 1, 2}, plain.ids(0));
        SearchResult unique = Nearkit.mergeKnn(1, ids, distances, 5, true);
        assertArrayEquals(new long[] {4, 1, 9, 2, -1}, unique.ids(0));
        assertArrayEquals(new float[] {0.5f, 1f, 1f, 3f, Float.POSITIVE_INFINITY},
                unique.distances(0));
    }

    @Test
    void badInputIsAJavaException() {
        long[][] ids = {{1, 2}};
        float[][] nan = {{1f, Float.NaN}};
        assertThrows(IllegalArgumentException.class, () -> Nearkit.mergeKnn(1, ids, nan, 2, false));
        assertThrows(IllegalArgumentException.class,
                () -> Nearkit.mergeKnn(1, ids, new float[][] {{1f}}, 2, false));
        assertThrows(IllegalArgumentException.class,
                () -> Nearkit.mergeKnn(3, ids, new float[][] {{1f, 2f}}, 2, false));
        assertThrows(IllegalArgumentException.class,
                () -> Nearkit.mergeKnn(1, ids, new float[][] {{1f, 2f}}, 0, false));
        assertThrows(IllegalArgumentException.class, () -> Nearkit.mergeKnn(List.of(), 2, false));
        assertThrows(NullPointerException.class,
                () -> Nearkit.mergeKnn(1, new long[][] {null}, new float[][] {{1f}}, 2, false));
    }
}
