package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Many threads on one index: parallel searches agree with serial ones, close during searches ends
 * in IllegalStateException, writers and readers interleave (the C library orders them; LivingTest
 * checks every result against a serial replay). */
@Timeout(300)
class ConcurrencyTest {
    private static final int THREADS = 8;

    @Test
    void parallelSearchesMatchSerialResults() throws Exception {
        try (Index index = TestData.flat(2000, 16)) {
            float[] queries = TestData.floats(64, 16, 3);
            SearchResult serial = index.search(queries, 10, 1);
            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                final int id = t;
                threads.add(new Thread(() -> {
                    try {
                        for (int i = 0; i < 40; i++) {
                            SearchResult r;
                            if (id % 2 == 0) {
                                r = index.search(queries, 10);
                            } else {
                                FloatBuffer b = ByteBuffer.allocateDirect(queries.length * 4)
                                        .order(ByteOrder.nativeOrder()).asFloatBuffer();
                                b.put(queries).flip();
                                r = index.search(b, 10);
                            }
                            assertArrayEquals(serial.allIds(), r.allIds());
                            assertArrayEquals(serial.allDistances(), r.allDistances());
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

    @Test
    void closeWhileEightThreadsSearch() throws Exception {
        for (int round = 0; round < 10; round++) {
            Index index = TestData.flat(3000, 32);
            float[] queries = TestData.floats(round % 2 == 0 ? 1 : 50, 32, round);
            CountDownLatch started = new CountDownLatch(THREADS);
            AtomicLong searches = new AtomicLong();
            ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
            ConcurrentLinkedQueue<Throwable> closedErrors = new ConcurrentLinkedQueue<>();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                final int id = t;
                threads.add(new Thread(() -> {
                    started.countDown();
                    try {
                        while (true) {
                            switch (id % 4) {
                                case 0:
                                    index.search(queries, 5);
                                    break;
                                case 1:
                                    index.rangeSearch(queries, 0.5f);
                                    break;
                                case 2:
                                    index.size();
                                    index.search(queries, 1, 1);
                                    break;
                                default:
                                    index.toBytes();
                                    break;
                            }
                            searches.incrementAndGet();
                        }
                    } catch (IllegalStateException e) {
                        closedErrors.add(e);
                    } catch (Throwable e) {
                        unexpected.add(e);
                    }
                }));
            }
            threads.forEach(Thread::start);
            started.await();
            Thread.sleep(20 + round * 5);
            Thread closer = new Thread(index::close);
            closer.start();
            closer.join();
            for (Thread t : threads) {
                t.join();
            }
            if (!unexpected.isEmpty()) {
                fail(unexpected.peek());
            }
            assertEquals(THREADS, closedErrors.size(), "every searching thread ends with IllegalStateException");
            for (Throwable e : closedErrors) {
                assertTrue(e.getMessage().contains("closed"), e.getMessage());
            }
            assertTrue(searches.get() > 0);
            assertTrue(index.isClosed());
        }
    }

    @Test
    void writersAndReadersInterleave() throws Exception {
        try (Index index = Index.builder().dimension(8).numThreads(1).build()) {
            index.add(TestData.floats(100, 8, 1));
            ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
            List<Thread> threads = new ArrayList<>();
            threads.add(new Thread(() -> {
                try {
                    for (int i = 0; i < 200; i++) {
                        index.add(TestData.floats(10, 8, i + 2));
                        if (i % 50 == 0) {
                            index.setParam("num_threads", 1 + i % 2);
                        }
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            }));
            for (int t = 0; t < 4; t++) {
                threads.add(new Thread(() -> {
                    try {
                        float[] q = TestData.floats(4, 8, 99);
                        for (int i = 0; i < 300; i++) {
                            long before = index.size();
                            SearchResult r = index.search(q, 3);
                            assertTrue(before >= 100);
                            for (long id : r.allIds()) {
                                assertTrue(id >= 0 && id < 2100, "id " + id);
                            }
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
            assertEquals(2100, index.size());
        }
    }
}
