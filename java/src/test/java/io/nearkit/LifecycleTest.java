package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.function.Executable;

/** Closing: every call after close fails cleanly; close is idempotent; the cleaner is a safety net. */
class LifecycleTest {
    @TempDir
    Path tmp;

    private static void closed(Executable call) {
        IllegalStateException e = assertThrows(IllegalStateException.class, call);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    @Test
    void everyCallAfterClose() {
        Index index = TestData.flat(10, 4);
        float[] q = new float[4];
        index.close();
        assertTrue(index.isClosed());
        closed(() -> index.search(q, 1));
        closed(() -> index.search(q, 1, 1));
        closed(() -> index.search(ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder()).asFloatBuffer(), 1));
        closed(() -> index.rangeSearch(q, 1f));
        closed(() -> index.add(q));
        closed(() -> index.add(q, new long[] {5}));
        closed(() -> index.train(q));
        closed(index::build);
        closed(index::size);
        closed(index::memoryBytes);
        closed(index::isReady);
        closed(index::describe);
        closed(index::paramInfo);
        closed(index::params);
        closed(() -> index.getParam("num_threads"));
        closed(() -> index.setParam("num_threads", 1));
        closed(() -> index.save(tmp.resolve("x.nkx")));
        closed(index::toBytes);
        // these keep working
        index.close();
        index.close();
        assertTrue(index.toString().contains("closed"), index.toString());
        assertEquals("flat", index.kind());
        assertEquals(4, index.dimension());
        assertEquals(Metric.L2, index.metric());
    }

    @Test
    void tryWithResources() {
        Index outer;
        try (Index index = TestData.flat(10, 4)) {
            outer = index;
            assertFalse(index.isClosed());
        }
        assertTrue(outer.isClosed());
    }

    @Test
    void cleanerFreesForgottenIndexes() throws InterruptedException {
        // Unclosed indexes become garbage; the cleaner frees them without a crash or a double free.
        for (int round = 0; round < 5; round++) {
            List<Index> keep = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                Index index = TestData.flat(200, 16);
                if (i % 2 == 0) {
                    keep.add(index);
                }
            }
            for (Index index : keep) {
                index.close();
            }
            keep.clear();
            System.gc();
            Thread.sleep(20);
        }
        try (Index index = TestData.flat(10, 4)) {
            assertEquals(10, index.size());
        }
    }
}
