package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Read-only views of saved files: Index.view, viewBuffer, ViewOptions, isView, copy. */
class ViewTest {
    private static final int N = 400;
    private static final int DIM = 16;
    private static final int K = 7;

    @TempDir
    Path tmp;

    /** Saves a built index of `kind` over N random vectors and returns its file. */
    private Path saved(String kind) throws IOException {
        Path file = tmp.resolve(kind + ".nkx");
        try (Index index = Index.builder().kind(kind).metric(Metric.L2).dimension(DIM).seed(5).build()) {
            index.add(TestData.floats(N, DIM, 3));
            index.build();
            index.save(file);
        }
        return file;
    }

    private static void same(SearchResult a, SearchResult b) {
        assertArrayEquals(a.allIds(), b.allIds());
        assertArrayEquals(a.allDistances(), b.allDistances());
    }

    @ParameterizedTest
    @ValueSource(strings = {"flat", "hnsw", "ivf_flat"})
    void aViewAnswersAsTheLoadedIndexAndRefusesWrites(String kind) throws IOException {
        Path file = saved(kind);
        float[] queries = TestData.floats(20, DIM, 9);
        try (Index loaded = Index.load(file); Index view = Index.view(file)) {
            assertTrue(view.isView());
            assertFalse(loaded.isView());
            assertEquals(loaded.size(), view.size());
            assertEquals(kind, view.kindInfo().name());
            same(loaded.search(queries, K), view.search(queries, K));

            IllegalStateException add = assertThrows(IllegalStateException.class,
                    () -> view.add(TestData.floats(1, DIM, 1)));
            assertTrue(add.getMessage().startsWith("STATE: "), add.getMessage());
            assertThrows(IllegalStateException.class, () -> view.remove(0, 1));
            assertThrows(IllegalStateException.class, view::compact);
            assertEquals(N, view.size(), "a refused write leaves the view as it was");

            try (Index copy = view.copy()) {
                assertFalse(copy.isView());
                same(loaded.search(queries, K), copy.search(queries, K));
                assertEquals(2, copy.remove(0, 1));
                copy.add(TestData.floats(3, DIM, 4));
                assertEquals(N + 1, copy.size());
            }
            assertEquals(N, view.size(), "the copy is independent of the view");
        }
        try (Index verified = Index.view(file, true)) {
            assertTrue(verified.isView());
        }
    }

    @Test
    void runtimeParametersStaySettableOnAView() throws IOException {
        Path file = saved("hnsw");
        try (Index view = Index.view(file)) {
            view.setParam("ef_search", 77);
            assertEquals(77.0, view.getParam("ef_search"));
            assertThrows(IllegalStateException.class, () -> view.setParam("M", 8));
        }
    }

    @Test
    void aMissingFileOrADirectoryIsAnIoError() {
        NearkitIOException missing = assertThrows(NearkitIOException.class,
                () -> Index.view(tmp.resolve("missing.nkx")));
        assertFalse(missing instanceof CorruptIndexException);
        assertEquals(Status.IO, missing.status());
        assertTrue(missing.getMessage().contains("missing.nkx"), missing.getMessage());
        NearkitIOException dir = assertThrows(NearkitIOException.class, () -> Index.view(tmp));
        assertFalse(dir instanceof CorruptIndexException);
    }

    @Test
    void aTruncatedOrDamagedFileIsCorrupt() throws IOException {
        byte[] good = Files.readAllBytes(saved("flat"));
        Path bad = tmp.resolve("bad.nkx");
        for (int len : new int[] {0, 7, 64, good.length / 2, good.length - 1}) {
            Files.write(bad, Arrays.copyOf(good, len));
            for (boolean verify : new boolean[] {false, true}) {
                CorruptIndexException e = assertThrows(CorruptIndexException.class,
                        () -> Index.view(bad, verify), "truncated to " + len);
                assertEquals(Status.CORRUPT, e.status());
            }
        }
        byte[] flipped = good.clone();
        flipped[good.length / 2] ^= 0x5a; // in the stored vectors: only a verifying open reads them
        Files.write(bad, flipped);
        assertThrows(CorruptIndexException.class, () -> Index.view(bad, true));
        Files.write(bad, "not an index at all, just some text".getBytes());
        assertThrows(CorruptIndexException.class, () -> Index.view(bad));
    }

    @Test
    void aClosedViewRefusesEveryCall() throws IOException {
        Index view = Index.view(saved("flat"));
        view.close();
        assertThrows(IllegalStateException.class, view::isView);
        assertThrows(IllegalStateException.class, view::copy);
        assertThrows(IllegalStateException.class, () -> view.search(TestData.floats(1, DIM, 2), 1));
        view.close(); // closing again does nothing
    }

    @Test
    void badPathsAreRefusedBeforeTheLibrary() {
        assertThrows(NullPointerException.class, () -> Index.view(null));
        assertThrows(IllegalArgumentException.class, () -> Index.view(Path.of("a\0b")));
    }

    // ---- loadIfUnviewable ------------------------------------------------------------------------

    /** A format version 1 file (saved before views) whose vectors cannot be used in place. */
    static Path version1File() {
        String golden = System.getProperty("nearkit.golden.dir");
        if (golden == null || golden.isEmpty()) {
            String env = System.getenv("NEARKIT_GOLDEN_DIR");
            golden = env != null && !env.isEmpty() ? env : "../tests/golden";
        }
        return Paths.get(golden, "..", "fuzz", "corpus", "format1-flat-l2-d8-added.nkx1").toAbsolutePath()
                .normalize();
    }

    private static final ViewOptions FALLBACK = ViewOptions.builder().loadIfUnviewable(true).build();

    @Test
    void anUnviewableFileIsRefusedOrLoadedWithTheOption() throws IOException {
        Path v1 = version1File();
        NearkitUnsupportedException e = assertThrows(NearkitUnsupportedException.class,
                () -> Index.view(v1));
        assertTrue(e.getMessage().contains("re-save"), e.getMessage());
        float[] queries = TestData.floats(5, 8, 2);
        try (Index loaded = Index.load(v1); Index index = Index.view(v1, FALLBACK)) {
            assertFalse(index.isView());
            same(loaded.search(queries, 3), index.search(queries, 3));
            index.add(TestData.floats(1, 8, 3)); // a load: writable
            assertEquals(loaded.size() + 1, index.size());
        }
        try (Index view = Index.view(saved("flat"), FALLBACK)) {
            assertTrue(view.isView(), "a viewable file is still viewed");
        }
        assertFalse(ViewOptions.defaults().loadIfUnviewable() || ViewOptions.defaults().verify());
    }

    @Test
    void anUnviewableButDamagedFileStaysCorrupt() throws IOException {
        byte[] bytes = Files.readAllBytes(version1File());
        bytes[bytes.length - 1] ^= 0x5a; // the stored checksum, which an unverified view never reads
        Path bad = tmp.resolve("bad-v1.nkx");
        Files.write(bad, bytes);
        CorruptIndexException e = assertThrows(CorruptIndexException.class, () -> Index.view(bad, FALLBACK));
        assertTrue(e.getMessage().contains("checksum"), e.getMessage());
    }

    // ---- viewBuffer ------------------------------------------------------------------------------

    private static MappedByteBuffer mapReadOnly(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        }
    }

    /** The bytes in a direct buffer starting `misalign` bytes past a 64-byte boundary, read-only. */
    private static ByteBuffer directAt(byte[] bytes, int misalign) {
        ByteBuffer room = ByteBuffer.allocateDirect(bytes.length + 128).alignedSlice(64);
        ByteBuffer at = room.position(misalign).slice();
        at.put(bytes).flip();
        return at.asReadOnlyBuffer();
    }

    @Test
    void aMappedBufferIsViewedInPlaceAndKeptAlive() throws IOException {
        Path file = saved("hnsw");
        float[] queries = TestData.floats(20, DIM, 9);
        try (Index loaded = Index.load(file)) {
            SearchResult want = loaded.search(queries, K);
            Index view = Index.viewBuffer(mapReadOnly(file)); // the only reference is the index's
            try {
                assertTrue(view.isView());
                for (int i = 0; i < 3; i++) {
                    System.gc();
                    same(want, view.search(queries, K));
                }
                assertThrows(IllegalStateException.class, () -> view.add(TestData.floats(1, DIM, 1)));
            } finally {
                view.close();
            }
            try (Index verified = Index.viewBuffer(mapReadOnly(file),
                    ViewOptions.builder().verify(true).build())) {
                same(want, verified.search(queries, K));
            }
        }
    }

    @Test
    void anUnalignedBufferIsRefusedOrLoadedWithTheOption() throws IOException {
        Path file = saved("flat");
        byte[] bytes = Files.readAllBytes(file);
        float[] queries = TestData.floats(10, DIM, 4);
        try (Index loaded = Index.load(file)) {
            try (Index aligned = Index.viewBuffer(directAt(bytes, 0))) {
                assertTrue(aligned.isView());
                same(loaded.search(queries, K), aligned.search(queries, K));
            }
            ByteBuffer unaligned = directAt(bytes, 8);
            NearkitUnsupportedException e = assertThrows(NearkitUnsupportedException.class,
                    () -> Index.viewBuffer(unaligned));
            assertTrue(e.getMessage().contains("aligned"), e.getMessage());
            try (Index index = Index.viewBuffer(unaligned, FALLBACK)) {
                assertFalse(index.isView());
                same(loaded.search(queries, K), index.search(queries, K));
            }
            assertEquals(0, unaligned.position(), "the buffer's position is not changed");
        }
    }

    @Test
    void viewBufferRefusesHeapWritableAndDamagedBuffers() throws IOException {
        byte[] bytes = Files.readAllBytes(saved("flat"));
        IllegalArgumentException heap = assertThrows(IllegalArgumentException.class,
                () -> Index.viewBuffer(ByteBuffer.wrap(bytes).asReadOnlyBuffer()));
        assertTrue(heap.getMessage().contains("direct"), heap.getMessage());
        ByteBuffer writable = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
        IllegalArgumentException rw = assertThrows(IllegalArgumentException.class,
                () -> Index.viewBuffer(writable));
        assertTrue(rw.getMessage().contains("read-only"), rw.getMessage());
        assertThrows(CorruptIndexException.class,
                () -> Index.viewBuffer(directAt(Arrays.copyOf(bytes, bytes.length / 2), 0)));
        assertThrows(NullPointerException.class, () -> Index.viewBuffer(null));
        assertThrows(NullPointerException.class, () -> Index.view(tmp, (ViewOptions) null));
    }
}
