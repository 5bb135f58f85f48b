package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.function.Executable;

/** Bad input of every kind gives a clear Java exception carrying the C message, never a crash. */
class BadInputTest {
    @TempDir
    Path tmp;

    /** Asserts the exception type and that the message names the status and says more. */
    private static <T extends Throwable> T fails(Class<T> type, String status, Executable call) {
        T e = assertThrows(type, call);
        String m = e.getMessage();
        assertTrue(m != null && m.startsWith(status + ": ") && m.length() > status.length() + 4,
                "message should name " + status + " and explain: " + m);
        return e;
    }

    @Test
    void creation() {
        fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                () -> Index.builder().dimension(0).build());
        assertThrows(IllegalArgumentException.class, () -> Index.builder().dimension(-3));
        assertThrows(IllegalArgumentException.class, () -> Index.builder().numThreads(-1));
        fails(IllegalArgumentException.class, "NOT_FOUND",
                () -> Index.builder().kind("no-such-kind").dimension(4).build());
        fails(IllegalArgumentException.class, "NOT_FOUND",
                () -> Index.builder().metric("no-such-metric").dimension(4).build());
        fails(IllegalArgumentException.class, "NOT_FOUND",
                () -> Index.builder().dimension(4).param("no_such_param", 3).build());
        assertThrows(IllegalArgumentException.class, () -> Index.builder().param("a,b", 1));
        assertThrows(IllegalArgumentException.class, () -> Index.builder().param("a", "1 b=2"));
        assertThrows(IllegalArgumentException.class, () -> Index.builder().param("", 1));
        assertThrows(NullPointerException.class, () -> Index.builder().kind(null));
        assertThrows(NullPointerException.class, () -> Index.builder().metric((Metric) null));
        // binary dimensions are a multiple of 8
        fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                () -> Index.builder().metric(Metric.HAMMING).dimension(12).build());
        // a bad value for a real parameter
        fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                () -> Index.builder().dimension(4).param("num_threads", "lots").build());
        fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                () -> Index.builder().dimension(4).param("num_threads", -2).build());
    }

    @Test
    void unsupportedPair() {
        for (KindInfo k : Nearkit.kinds()) {
            for (Metric m : Metric.values()) {
                if (!k.supports(m)) {
                    int dim = m == Metric.HAMMING ? 64 : 8;
                    fails(NearkitUnsupportedException.class, "UNSUPPORTED",
                            () -> Index.builder().kind(k.name()).metric(m).dimension(dim).build());
                }
            }
        }
    }

    @Test
    void adding() {
        try (Index index = Index.builder().dimension(4).build()) {
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.add(new float[5]));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.add(new byte[4]));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                    () -> index.add(new float[] {1, 2, Float.NaN, 4}));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                    () -> index.add(new float[] {1, 2, Float.POSITIVE_INFINITY, 4}));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                    () -> index.add(new float[8], new long[] {1}));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                    () -> index.add(new float[8], new long[] {3, -1}));
            assertThrows(NullPointerException.class, () -> index.add((float[]) null));
            assertThrows(NullPointerException.class, () -> index.add(new float[4], null));
            // nothing of the failed calls was added
            assertEquals(0, index.size());
            index.add(new float[0]);
            assertEquals(0, index.size());
        }
        try (Index index = Index.builder().metric(Metric.HAMMING).dimension(16).build()) {
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.add(new float[4]));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.add(new byte[3]));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                    () -> index.add(FloatBuffer.allocate(4)));
            assertEquals(0, index.size());
        }
    }

    @Test
    void kBeyondWhatMemoryHoldsFailsBeforeAllocatingAndNamesK() {
        try (Index index = TestData.flat(50, 4)) {
            float[] q = TestData.floats(3, 4, 1);
            IllegalArgumentException tooWide = fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                    () -> index.search(q, Integer.MAX_VALUE / 2));
            assertTrue(tooWide.getMessage().contains("k = " + Integer.MAX_VALUE / 2), tooWide.getMessage());
            // A result that fits a Java array but not this heap: an OutOfMemoryError naming k, and the
            // index (and the JVM) keep working.
            long heap = Runtime.getRuntime().maxMemory();
            int queries = 3;
            int k = (int) Math.min(Integer.MAX_VALUE / 4, heap / 12 / queries * 2);
            if ((long) queries * k * 12 > heap) {
                OutOfMemoryError e = assertThrows(OutOfMemoryError.class,
                        () -> index.search(TestData.floats(queries, 4, 2), k));
                assertTrue(e.getMessage().contains("k = " + k), e.getMessage());
            }
            assertEquals(60, index.search(q, 60).k());
        }
    }

    @Test
    void searching() {
        try (Index index = TestData.flat(50, 4)) {
            float[] q = TestData.floats(3, 4, 1);
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(q, 0));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(q, -1));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(q, 1, -1));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(new float[7], 3));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(new byte[16], 3));
            float[] nan = q.clone();
            nan[5] = Float.NaN;
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(nan, 3));
            float[] inf = q.clone();
            inf[0] = Float.NEGATIVE_INFINITY;
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(inf, 3));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.rangeSearch(nan, 1f));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.rangeSearch(q, Float.NaN));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(q, Integer.MAX_VALUE));
            assertThrows(NullPointerException.class, () -> index.search((float[]) null, 3));

            // k larger than the index: the missing neighbours are -1 / +inf
            SearchResult r = index.search(q, 60);
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 60; j++) {
                    if (j < 50) {
                        assertTrue(r.id(i, j) >= 0 && r.id(i, j) < 50);
                    } else {
                        assertEquals(-1, r.id(i, j));
                        assertEquals(Float.POSITIVE_INFINITY, r.distance(i, j));
                    }
                }
            }
            // no queries: an empty result
            SearchResult empty = index.search(new float[0], 5);
            assertEquals(0, empty.queryCount());
            assertEquals(0, index.rangeSearch(new float[0], 1f).queryCount());
            // a negative radius matches nothing
            RangeSearchResult none = index.rangeSearch(q, -1f);
            assertEquals(0, none.totalCount());
        }
    }

    @Test
    void emptyIndex() {
        try (Index index = Index.builder().dimension(3).build()) {
            index.build();
            SearchResult r = index.search(new float[] {1, 2, 3}, 2);
            assertArrayEquals(new long[] {-1, -1}, r.ids(0));
            assertEquals(0, index.rangeSearch(new float[] {1, 2, 3}, 100f).totalCount());
        }
    }

    @Test
    void buffers() {
        try (Index index = TestData.flat(20, 4)) {
            FloatBuffer wrongOrder = ByteBuffer.allocateDirect(64)
                    .order(ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? ByteOrder.LITTLE_ENDIAN
                            : ByteOrder.BIG_ENDIAN)
                    .asFloatBuffer();
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(wrongOrder, 2));
            FloatBuffer odd = ByteBuffer.allocateDirect(4 * 6).order(ByteOrder.nativeOrder()).asFloatBuffer();
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(odd, 2));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                    () -> index.search(ByteBuffer.allocateDirect(16), 2));
            FloatBuffer nan = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder()).asFloatBuffer();
            nan.put(0, Float.NaN);
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.search(nan, 2));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.add(nan));
            assertThrows(NullPointerException.class, () -> index.search((FloatBuffer) null, 2));
        }
    }

    @Test
    void parameters() {
        try (Index index = TestData.flat(10, 2)) {
            fails(IllegalArgumentException.class, "NOT_FOUND", () -> index.getParam("no_such_param"));
            fails(IllegalArgumentException.class, "NOT_FOUND", () -> index.setParam("no_such_param", 1));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT",
                    () -> index.setParam("num_threads", Double.NaN));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.setParam("num_threads", -1));
            fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.setParam("num_threads", 1.5));
            for (ParamInfo p : index.paramInfo()) {
                if (p.isReadOnly()) {
                    fails(IllegalArgumentException.class, "INVALID_ARGUMENT", () -> index.setParam(p.name(), 1));
                }
            }
            assertThrows(NullPointerException.class, () -> index.getParam(null));
        }
    }

    @Test
    void files() throws Exception {
        // every file failure is a checked IOException naming the status, the path and the reason
        Path missing = tmp.resolve("does-not-exist.nkx");
        NearkitIOException e1 = fails(NearkitIOException.class, "IO", () -> Index.load(missing));
        assertEquals(Status.IO, e1.status());
        assertTrue(e1.getMessage().contains(missing.toString()), e1.getMessage());
        NearkitIOException e2 = fails(NearkitIOException.class, "IO", () -> Index.load(tmp));
        assertTrue(e2.getMessage().contains("not a regular file"), e2.getMessage());
        try (Index index = TestData.flat(30, 5)) {
            fails(NearkitIOException.class, "IO", () -> index.save(tmp.resolve("no/such/dir/x.nkx")));
            // unwritable paths: a directory, a path under a regular file
            Path dir = Files.createDirectory(tmp.resolve("a-directory"));
            NearkitIOException e3 = fails(NearkitIOException.class, "IO", () -> index.save(dir));
            assertTrue(e3.getMessage().contains(dir.toString()), e3.getMessage());
            Path plain = Files.write(tmp.resolve("plain.txt"), new byte[] {1, 2, 3});
            fails(NearkitIOException.class, "IO", () -> index.save(plain.resolve("x.nkx")));
            assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(plain));
            // a directory without write permission (root writes anyway: then only the save works)
            Path locked = Files.createDirectory(tmp.resolve("locked"));
            if (locked.toFile().setWritable(false, false) && !Files.isWritable(locked)) {
                fails(NearkitIOException.class, "IO", () -> index.save(locked.resolve("x.nkx")));
            }
            locked.toFile().setWritable(true, false);
            // a directory no one may create files in, root included (Linux's /proc)
            Path proc = Path.of("/proc");
            if (Files.isDirectory(proc.resolve("self"))) {
                Path denied = proc.resolve("nearkit-unwritable.nkx");
                NearkitIOException e5 = fails(NearkitIOException.class, "IO", () -> index.save(denied));
                assertTrue(e5.getMessage().contains(denied.toString()), e5.getMessage());
            }
            Path good = tmp.resolve("good.nkx");
            index.save(good);
            byte[] bytes = Files.readAllBytes(good);
            assertArrayEquals(bytes, index.toBytes());

            // a truncated file: CorruptIndexException, itself an IOException, naming the file
            Path truncated = Files.write(tmp.resolve("truncated.nkx"), Arrays.copyOf(bytes, bytes.length / 2));
            CorruptIndexException e4 = fails(CorruptIndexException.class, "CORRUPT", () -> Index.load(truncated));
            assertEquals(Status.CORRUPT, e4.status());
            assertTrue(e4 instanceof java.io.IOException);
            assertTrue(e4.getMessage().contains(truncated.toString()), e4.getMessage());

            // every truncation is CORRUPT, in a file and in a byte array
            for (int len = 0; len < bytes.length; len += Math.max(1, len / 3)) {
                byte[] cut = Arrays.copyOf(bytes, len);
                fails(CorruptIndexException.class, "CORRUPT", () -> Index.fromBytes(cut));
                Path f = tmp.resolve("cut.nkx");
                Files.write(f, cut);
                fails(CorruptIndexException.class, "CORRUPT", () -> Index.load(f));
            }
            // flipped bytes anywhere are caught (checksum); a newer format may say UNSUPPORTED
            SplittableRandom r = new SplittableRandom(5);
            for (int i = 0; i < 200; i++) {
                byte[] bad = bytes.clone();
                int at = i < bytes.length ? i : r.nextInt(bytes.length);
                bad[at] ^= (byte) (1 + r.nextInt(255));
                Exception e = assertThrows(Exception.class, () -> Index.fromBytes(bad).close());
                assertTrue(e instanceof CorruptIndexException || e instanceof NearkitUnsupportedException,
                        "byte " + at + ": " + e);
            }
            // random garbage and foreign files
            for (int i = 0; i < 50; i++) {
                byte[] junk = TestData.bytes(1, 1 + r.nextInt(4096), i);
                fails(CorruptIndexException.class, "CORRUPT", () -> Index.fromBytes(junk));
            }
            fails(CorruptIndexException.class, "CORRUPT", () -> Index.fromBytes(new byte[0]));
            fails(CorruptIndexException.class, "CORRUPT",
                    () -> Index.fromBytes(ByteBuffer.allocateDirect(100)));
            assertThrows(NullPointerException.class, () -> Index.fromBytes((byte[]) null));
            assertThrows(NullPointerException.class, () -> Index.load(null));
            // a trailing extra byte is not a valid file either
            byte[] longer = Arrays.copyOf(bytes, bytes.length + 1);
            fails(CorruptIndexException.class, "CORRUPT", () -> Index.fromBytes(longer));
        }
    }

    @Test
    void pathWithNul() {
        try (Index index = TestData.flat(3, 2)) {
            assertThrows(IllegalArgumentException.class, () -> index.save(tmp.resolve("a\0b")));
        }
    }

    @Test
    void statusNamesMatchTheLibrary() {
        for (Status s : Status.values()) {
            if (s != Status.UNKNOWN) {
                assertEquals(s.name(), NativeLib.statusName(s.code()));
            }
        }
        assertEquals("UNKNOWN", NativeLib.statusName(12345));
        assertEquals(Status.UNKNOWN, Status.fromCode(12345));
        Throwable t = NativeSupport.error(12345, "x".getBytes(), 0);
        assertTrue(t instanceof NearkitException && ((NearkitException) t).status() == Status.UNKNOWN);
        // a message that is not valid UTF-8 still becomes a string
        Throwable u = NativeSupport.error(3, new byte[] {(byte) 0xff, 'a'}, 1 << 3);
        assertTrue(u instanceof NearkitIOException && u.getMessage().startsWith("IO: "), u.toString());
        // IO and CORRUPT become checked exceptions only where the native method declares them
        int io = (1 << Status.IO.code()) | (1 << Status.CORRUPT.code());
        assertTrue(NativeSupport.error(4, "c".getBytes(), io) instanceof CorruptIndexException);
        assertTrue(NativeSupport.error(4, "c".getBytes(), 1 << 4) instanceof CorruptIndexException);
        for (int code : new int[] {3, 4}) {
            Throwable w = NativeSupport.error(code, "w".getBytes(), 0);
            assertTrue(w instanceof java.io.UncheckedIOException && w.getCause() instanceof NearkitIOException,
                    w.toString());
            assertEquals(Status.fromCode(code), ((NearkitIOException) w.getCause()).status());
        }
        Throwable onlyCorrupt = NativeSupport.error(3, "io".getBytes(), 1 << 4);
        assertTrue(onlyCorrupt instanceof java.io.UncheckedIOException, onlyCorrupt.toString());
    }
}
