package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Living collections (issue 15): remove, read back, contains, compact; filtered k-NN and range
 * search with id arrays, bit sets and predicates, checked against brute force; per-call
 * parameters; writers and searches at once; bad input. Kinds that cannot remove or filter yet are
 * skipped (the C library reports UNSUPPORTED for remove, and an unfiltering kind is detected).
 */
@Timeout(300)
class LivingTest {
    private static final int DIM = 8;
    private static final double[] SELECTIVITIES = {0.5, 0.1, 0.01, 0.001, 0.0};

    // ---- helpers --------------------------------------------------------------------------------

    private static Index flat(float[] vectors, long[] ids, int threads) {
        Index index = Index.builder().kind("flat").metric(Metric.L2).dimension(DIM).numThreads(threads)
                .build();
        if (ids == null) {
            index.add(vectors);
        } else if (ids.length > 0) {
            index.add(vectors, ids);
        }
        index.build();
        return index;
    }

    /** Skips the test when the index's kind cannot remove yet. */
    private static void assumeRemoves(Index index) {
        try (Index probe = Index.builder().kind(index.kind()).metric(index.metric()).dimension(DIM)
                .build()) {
            probe.add(new float[DIM]);
            probe.remove(0);
        } catch (NearkitUnsupportedException e) {
            Assumptions.assumeTrue(false, index.kind() + " cannot remove yet: " + e.getMessage());
        }
    }

    /** Skips the test when the index ignores filters (a filter allowing nothing still finds). */
    private static void assumeFilters(Index index, float[] query) {
        SearchResult r = index.search(query, 1, SearchOptions.builder().filter(new long[0]).build());
        Assumptions.assumeTrue(r.id(0, 0) == -1, index.kind() + " does not filter yet");
    }

    /** The allowed ids of n at a selectivity, chosen at random (at least 1 unless it is 0). */
    private static long[] allowed(int n, double selectivity, long seed) {
        int m = selectivity == 0 ? 0 : Math.max(1, (int) Math.round(n * selectivity));
        long[] all = new long[n];
        for (int i = 0; i < n; i++) {
            all[i] = i;
        }
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            long t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
        long[] out = Arrays.copyOf(all, m);
        Arrays.sort(out);
        return out;
    }

    private static float[] rows(float[] vectors, long[] ids) {
        float[] out = new float[ids.length * DIM];
        for (int i = 0; i < ids.length; i++) {
            System.arraycopy(vectors, (int) ids[i] * DIM, out, i * DIM, DIM);
        }
        return out;
    }

    /** The nearest allowed ids of a query by brute force in Java (doubles), nearest first. */
    private static long[] bruteForce(float[] vectors, long[] allowedIds, float[] queries, int q, int k) {
        double[] d = new double[allowedIds.length];
        Integer[] order = new Integer[allowedIds.length];
        for (int i = 0; i < allowedIds.length; i++) {
            double s = 0;
            for (int j = 0; j < DIM; j++) {
                double diff = (double) vectors[(int) allowedIds[i] * DIM + j] - queries[q * DIM + j];
                s += diff * diff;
            }
            d[i] = s;
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> d[a] != d[b] ? Double.compare(d[a], d[b])
                : Long.compare(allowedIds[a], allowedIds[b]));
        long[] out = new long[k];
        Arrays.fill(out, -1);
        for (int i = 0; i < Math.min(k, allowedIds.length); i++) {
            out[i] = allowedIds[order[i]];
        }
        return out;
    }

    /** The three filter forms of one allowed set. */
    private static List<SearchOptions> filterForms(long[] allowedIds) {
        BitSet bits = new BitSet();
        java.util.Set<Long> set = new java.util.HashSet<>();
        for (long id : allowedIds) {
            bits.set((int) id);
            set.add(id);
        }
        BitSet shifted = new BitSet();
        for (long id : allowedIds) {
            shifted.set((int) id + 5); // bit i = id i - 5
        }
        LongPredicate p = set::contains;
        return List.of(SearchOptions.builder().filter(allowedIds).build(),
                SearchOptions.builder().filter(bits).build(),
                SearchOptions.builder().filter(shifted, -5).build(),
                SearchOptions.builder().filter(p).numThreads(3).build());
    }

    // ---- remove, get, contains, compact ----------------------------------------------------------

    @Test
    void removeGetContains() throws IOException {
        float[] v = TestData.floats(200, DIM, 1);
        try (Index index = flat(v, null, 1)) {
            assumeRemoves(index);
            assertTrue(index.contains(7));
            assertArrayEquals(Arrays.copyOfRange(v, 7 * DIM, 8 * DIM), index.get(7)[0]);
            assertEquals(3, index.remove(7, 8, 8, 9, 100_000)); // repeats and absent ids are ignored
            assertEquals(0, index.remove(7));
            assertEquals(0, index.remove());
            assertEquals(197, index.size());
            assertFalse(index.contains(8));
            float[][] got = index.get(6, 7, 10, -5);
            assertArrayEquals(Arrays.copyOfRange(v, 6 * DIM, 7 * DIM), got[0]);
            assertNull(got[1], "a removed id reads back as null");
            assertArrayEquals(Arrays.copyOfRange(v, 10 * DIM, 11 * DIM), got[2]);
            assertNull(got[3]);
            assertEquals(0, index.get().length);
            // the removed vectors are never found again, even by a query equal to one of them
            SearchResult r = index.search(Arrays.copyOfRange(v, 8 * DIM, 9 * DIM), 200);
            for (long id : r.allIds()) {
                assertTrue(id != 7 && id != 8 && id != 9, "removed id " + id + " found");
            }
            assertEquals(-1, r.id(0, 197));
            // remove then add the same id again
            index.add(Arrays.copyOfRange(v, 8 * DIM, 9 * DIM), new long[] {8});
            assertTrue(index.contains(8));
            assertEquals(8, index.search(Arrays.copyOfRange(v, 8 * DIM, 9 * DIM), 1).id(0, 0));
            // implicit ids continue from the number of vectors ever added (201, with the re-added 8)
            index.add(new float[DIM]);
            assertTrue(index.contains(201));
            assertFalse(index.contains(200));
            index.compact();
            assertEquals(199, index.size());
            // results equal those of a fresh index of the rest, and survive a round trip
            long[] rest = new long[200];
            int j = 0;
            for (long id = 0; id < 200; id++) {
                if (id != 7 && id != 9) {
                    rest[j++] = id;
                }
            }
            float[] restVectors = rows(v, Arrays.copyOf(rest, j));
            float[] queries = TestData.floats(20, DIM, 2);
            try (Index fresh = flat(restVectors, Arrays.copyOf(rest, j), 1)) {
                fresh.add(new float[DIM], new long[] {201});
                SearchResult a = index.search(queries, 10);
                SearchResult b = fresh.search(queries, 10);
                assertArrayEquals(b.allIds(), a.allIds());
                assertArrayEquals(b.allDistances(), a.allDistances());
                try (Index loaded = Index.fromBytes(index.toBytes())) {
                    assertEquals(199, loaded.size());
                    assertFalse(loaded.contains(9));
                    assertArrayEquals(a.allIds(), loaded.search(queries, 10).allIds());
                }
            }
            // every vector removed
            long[] everything = new long[202];
            for (int i = 0; i < everything.length; i++) {
                everything[i] = i;
            }
            assertEquals(199, index.remove(everything));
            assertEquals(0, index.size());
            assertEquals(-1, index.search(queries, 3).id(0, 0));
        }
    }

    @Test
    void getBinary() {
        byte[] v = TestData.bytes(50, 4, 5);
        try (Index index = Index.builder().metric(Metric.HAMMING).dimension(32).build()) {
            index.add(v);
            try {
                byte[][] got = index.getBinary(3, 99);
                assertArrayEquals(Arrays.copyOfRange(v, 12, 16), got[0]);
                assertNull(got[1]);
            } catch (NearkitUnsupportedException e) {
                Assumptions.assumeTrue(false, "flat cannot read back yet");
            }
            assertThrows(IllegalArgumentException.class, () -> index.get(3));
        }
    }

    // ---- filters ----------------------------------------------------------------------------------

    @Test
    void everyFilterFormMatchesBruteForce() {
        int n = 3000;
        int k = 10;
        float[] v = TestData.floats(n, DIM, 3);
        float[] queries = TestData.floats(16, DIM, 4);
        try (Index index = flat(v, null, 4)) {
            assumeFilters(index, Arrays.copyOf(queries, DIM));
            for (double s : SELECTIVITIES) {
                long[] ids = allowed(n, s, (long) (s * 1e6));
                try (Index fresh = flat(rows(v, ids), ids, 1)) {
                    SearchResult truth = fresh.search(queries, k);
                    for (int q = 0; q < 16; q++) {
                        assertArrayEquals(bruteForce(v, ids, queries, q, k), truth.ids(q));
                    }
                    for (SearchOptions o : filterForms(ids)) {
                        SearchResult r = index.search(queries, k, o);
                        assertArrayEquals(truth.allIds(), r.allIds(), s + " " + o);
                        assertArrayEquals(truth.allDistances(), r.allDistances(), s + " " + o);
                        RangeSearchResult rr = index.rangeSearch(queries, 0.9f, o);
                        RangeSearchResult rt = fresh.rangeSearch(queries, 0.9f);
                        for (int q = 0; q < 16; q++) {
                            assertArrayEquals(rt.ids(q), rr.ids(q), "range " + s + " " + o);
                            assertArrayEquals(rt.distances(q), rr.distances(q));
                        }
                    }
                }
            }
        }
    }

    @Test
    void predicateExceptionsSurfaceAsTheSearchesOwn() {
        float[] queries = TestData.floats(64, DIM, 6);
        try (Index index = flat(TestData.floats(2000, DIM, 5), null, 4)) {
            RuntimeException boom = new IllegalStateException("boom from the filter");
            AtomicInteger calls = new AtomicInteger();
            SearchOptions throwing = SearchOptions.builder().filter(id -> {
                calls.incrementAndGet();
                if (id == 1234) {
                    throw boom;
                }
                return true;
            }).numThreads(4).build();
            for (int round = 0; round < 5; round++) {
                assertSame(boom, assertThrows(IllegalStateException.class,
                        () -> index.search(queries, 5, throwing)));
                assertSame(boom, assertThrows(IllegalStateException.class,
                        () -> index.rangeSearch(queries, 0.5f, throwing)));
            }
            assertTrue(calls.get() > 0);
            AssertionError error = new AssertionError("an Error too");
            SearchOptions erring = SearchOptions.builder().filter(id -> {
                throw error;
            }).build();
            assertSame(error, assertThrows(AssertionError.class, () -> index.search(queries, 5, erring)));
            // a predicate must not call into the index it filters: a clear exception, no deadlock
            SearchOptions reentrant = SearchOptions.builder().filter(id -> index.size() > 0).build();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> index.search(queries, 5, reentrant));
            assertTrue(e.getMessage().contains("must not call into the index"), e.getMessage());
            // the index still works, and a predicate may search another index
            assertEquals(5, index.search(queries, 5).k());
            try (Index other = flat(TestData.floats(10, DIM, 9), null, 1)) {
                float[] q1 = Arrays.copyOf(queries, DIM);
                SearchOptions nested = SearchOptions.builder()
                        .filter(id -> other.search(q1, 1).id(0, 0) >= 0).build();
                assertEquals(5, index.search(q1, 5, nested).ids(0).length);
            }
        }
    }

    // ---- per-call parameters -------------------------------------------------------------------------

    @Test
    void perCallNprobe() throws Exception {
        float[] v = TestData.floats(4000, DIM, 7);
        float[] queries = TestData.floats(50, DIM, 8);
        try (Index ivf = Index.builder().kind("ivf_flat").dimension(DIM).param("nlist", 16).build();
                Index exact = flat(v, null, 1)) {
            ivf.add(v);
            ivf.build();
            double defaultNprobe = ivf.getParam("nprobe");
            SearchOptions one = SearchOptions.builder().param("nprobe", 1).build();
            SearchOptions all = SearchOptions.builder().param("nprobe", 16).build();
            SearchResult r1 = ivf.search(queries, 10, one);
            SearchResult rAll = ivf.search(queries, 10, all);
            assertEquals(defaultNprobe, ivf.getParam("nprobe"), "the index's own value is unchanged");
            assertArrayEquals(exact.search(queries, 10).allIds(), rAll.allIds(), "all lists probed: exact");
            SearchResult expected1;
            try (Index copy = Index.fromBytes(ivf.toBytes())) {
                copy.setParam("nprobe", 1);
                expected1 = copy.search(queries, 10);
            }
            assertArrayEquals(expected1.allIds(), r1.allIds());
            assertNotEquals(Arrays.toString(r1.allIds()), Arrays.toString(rAll.allIds()));
            // two threads at once, each with its own nprobe
            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                boolean few = t % 2 == 0;
                threads.add(new Thread(() -> {
                    try {
                        for (int i = 0; i < 30; i++) {
                            SearchResult r = ivf.search(queries, 10, few ? one : all);
                            assertArrayEquals((few ? r1 : rAll).allIds(), r.allIds());
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }));
            }
            threads.forEach(Thread::start);
            for (Thread t : threads) {
                t.join();
            }
            if (!errors.isEmpty()) {
                fail(errors.peek());
            }
        }
    }

    // ---- writers and searches at once ------------------------------------------------------------------

    /**
     * One writer adds and removes batches while readers search (ids, bit sets, predicates and no
     * filter). Every result must equal the serial replay's result at some state, and each reader's
     * states never go back.
     */
    @Test
    void writersAndSearchesAtOnceMatchASerialReplay() throws Exception {
        int base = 1000;
        int batches = 24;
        int batch = 50;
        int k = 5;
        float[] v = TestData.floats(base + batches * batch, DIM, 11);
        float[] queries = TestData.floats(8, DIM, 12);
        long[] filterIds = allowed(base + batches * batch, 0.3, 13);
        List<SearchOptions> forms = new ArrayList<>(filterForms(filterIds));
        forms.add(SearchOptions.defaults());
        try (Index index = flat(Arrays.copyOf(v, base * DIM), null, 2)) {
            assumeRemoves(index);
            assumeFilters(index, Arrays.copyOf(queries, DIM));
            // serial replay: the live ids after each batch (odd batches remove what the even added)
            List<boolean[]> states = new ArrayList<>();
            boolean[] live = new boolean[v.length / DIM];
            Arrays.fill(live, 0, base, true);
            states.add(live.clone());
            for (int b = 0; b < batches; b++) {
                for (int i = 0; i < batch; i++) {
                    if (b % 2 == 0) {
                        live[base + b * batch + i] = true; // add
                    } else {
                        live[(b * 37 + i * 13) % base] = false; // remove some base vectors
                    }
                }
                states.add(live.clone());
            }
            // expected[form][state]: the ids a search must return at that state
            long[][][] expected = new long[forms.size()][states.size()][];
            java.util.Set<Long> allowedSet = new java.util.HashSet<>();
            for (long id : filterIds) {
                allowedSet.add(id);
            }
            for (int s = 0; s < states.size(); s++) {
                long[] liveIds = idsOf(states.get(s), null);
                long[] liveAllowed = idsOf(states.get(s), allowedSet);
                for (int f = 0; f < forms.size(); f++) {
                    long[] ids = f == forms.size() - 1 ? liveIds : liveAllowed;
                    try (Index fresh = flat(rows(v, ids), ids, 1)) {
                        expected[f][s] = fresh.search(queries, k).allIds();
                    }
                }
            }
            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
            List<Thread> threads = new ArrayList<>();
            threads.add(new Thread(() -> {
                try {
                    for (int b = 0; b < batches; b++) {
                        if (b % 2 == 0) {
                            long[] ids = new long[batch];
                            for (int i = 0; i < batch; i++) {
                                ids[i] = base + b * batch + i;
                            }
                            index.add(rows(v, ids), ids);
                        } else {
                            long[] ids = new long[batch];
                            for (int i = 0; i < batch; i++) {
                                ids[i] = (b * 37 + i * 13) % base;
                            }
                            index.remove(ids);
                        }
                        Thread.sleep(2);
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            }));
            for (int t = 0; t < 4; t++) {
                int reader = t;
                threads.add(new Thread(() -> {
                    try {
                        int[] seen = new int[forms.size()];
                        for (int i = 0; i < 150; i++) {
                            int f = (i + reader) % forms.size();
                            long[] got = index.search(queries, k, forms.get(f)).allIds();
                            int s = seen[f];
                            while (s < states.size() && !Arrays.equals(expected[f][s], got)) {
                                s++;
                            }
                            if (s == states.size()) {
                                throw new AssertionError("form " + f + ": a result of no state at or after "
                                        + seen[f] + ": " + Arrays.toString(got));
                            }
                            seen[f] = s;
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }));
            }
            threads.forEach(Thread::start);
            for (Thread t : threads) {
                t.join();
            }
            if (!errors.isEmpty()) {
                fail(errors.peek());
            }
            assertArrayEquals(expected[forms.size() - 1][states.size() - 1],
                    index.search(queries, k).allIds());
        }
    }

    private static long[] idsOf(boolean[] live, java.util.Set<Long> only) {
        long[] out = new long[live.length];
        int m = 0;
        for (int i = 0; i < live.length; i++) {
            if (live[i] && (only == null || only.contains((long) i))) {
                out[m++] = i;
            }
        }
        return Arrays.copyOf(out, m);
    }

    @Test
    void closeWhileWritersAndFilteredSearchesRun() throws Exception {
        Index index = flat(TestData.floats(2000, DIM, 14), null, 2);
        assumeRemoves(index);
        float[] queries = TestData.floats(16, DIM, 15);
        SearchOptions even = SearchOptions.builder().filter(id -> id % 2 == 0).build();
        ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 6; t++) {
            int role = t;
            threads.add(new Thread(() -> {
                try {
                    for (int i = 0; ; i++) {
                        if (role == 0) {
                            index.add(TestData.floats(5, DIM, i), new long[] {i, i + 1, i + 2, i + 3, i + 4});
                        } else if (role == 1) {
                            index.remove(i % 2000, (i * 7) % 2000);
                        } else {
                            for (long id : index.search(queries, 3, even).allIds()) {
                                assertTrue(id == -1 || id % 2 == 0, "odd id " + id);
                            }
                        }
                    }
                } catch (IllegalStateException e) {
                    if (!e.getMessage().contains("closed")) {
                        unexpected.add(e);
                    }
                } catch (Throwable e) {
                    unexpected.add(e);
                }
            }));
        }
        threads.forEach(Thread::start);
        Thread.sleep(300);
        index.close();
        for (Thread t : threads) {
            t.join();
        }
        if (!unexpected.isEmpty()) {
            fail(unexpected.peek());
        }
    }

    // ---- bad input ------------------------------------------------------------------------------------

    @Test
    void badInput() {
        float[] q = TestData.floats(1, DIM, 16);
        try (Index index = flat(TestData.floats(100, DIM, 17), null, 1)) {
            assertThrows(NullPointerException.class, () -> index.remove((long[]) null));
            assertThrows(NullPointerException.class, () -> index.get((long[]) null));
            assertThrows(NullPointerException.class, () -> index.getBinary((long[]) null));
            assertThrows(NullPointerException.class, () -> index.search(q, 3, (SearchOptions) null));
            assertThrows(NullPointerException.class, () -> index.rangeSearch(q, 1f, (SearchOptions) null));
            assertThrows(NullPointerException.class, () -> SearchOptions.builder().filter((long[]) null));
            assertThrows(NullPointerException.class, () -> SearchOptions.builder().filter((BitSet) null));
            assertThrows(NullPointerException.class,
                    () -> SearchOptions.builder().filter((LongPredicate) null));
            assertThrows(NullPointerException.class, () -> SearchOptions.builder().param(null, 1));
            assertThrows(IllegalArgumentException.class, () -> SearchOptions.builder().numThreads(-1));
            assertThrows(IllegalArgumentException.class, () -> index.getBinary(1));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> index.search(q, 3, SearchOptions.builder().param("no_such_param", 4).build()));
            assertTrue(e.getMessage().startsWith("NOT_FOUND: ") || e.getMessage().startsWith(
                    "INVALID_ARGUMENT: "), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> index.rangeSearch(q, 1f, SearchOptions.builder().param("no_such_param", 4).build()));
            assertThrows(IllegalArgumentException.class,
                    () -> index.search(q, 3, SearchOptions.builder().param("num_threads", Double.NaN).build()));
            assertThrows(IllegalArgumentException.class, () -> index.search(q, 0, SearchOptions.defaults()));
            // the index is fine afterwards
            assertEquals(3, index.search(q, 3, SearchOptions.defaults()).k());
        }
        Index closed = flat(TestData.floats(10, DIM, 18), null, 1);
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.remove(1));
        assertThrows(IllegalStateException.class, () -> closed.get(1));
        assertThrows(IllegalStateException.class, () -> closed.contains(1));
        assertThrows(IllegalStateException.class, () -> closed.compact());
        assertThrows(IllegalStateException.class, () -> closed.search(q, 1, SearchOptions.defaults()));
    }
}
