package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Index.viewShard: one shard of a saved sharded collection, viewed and checked against the manifest. */
class ViewShardTest {
    private static final int DIM = 8;
    private static final int[] COUNTS = {120, 80};
    private static final int K = 5;

    @TempDir
    Path tmp;

    /** Writes two flat shards with ids 0.. and 1000.. and a manifest listing `listed` counts. */
    private Path collection(long... listed) throws IOException {
        Path dir = tmp.resolve("collection");
        Files.createDirectories(dir);
        StringBuilder entries = new StringBuilder();
        long total = 0;
        for (int s = 0; s < COUNTS.length; s++) {
            try (Index index = Index.builder().kind("flat").metric(Metric.L2).dimension(DIM).build()) {
                long[] ids = new long[COUNTS[s]];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = 1000L * s + i;
                }
                index.add(TestData.floats(COUNTS[s], DIM, 11 + s), ids);
                index.save(dir.resolve(file(s)));
            }
            entries.append(s == 0 ? "" : ",").append("{\"file\": \"").append(file(s)).append("\", \"count\": ")
                    .append(listed[s]).append('}');
            total += listed[s];
        }
        String manifest = "{\"format\": \"nearkit-sharded\", \"version\": 1, \"vector_type\": \"float32\","
                + " \"metric\": \"l2\", \"dimension\": " + DIM + ", \"count\": " + total + ", \"shards\": ["
                + entries + "]}";
        Files.write(dir.resolve("manifest.json"), manifest.getBytes(StandardCharsets.UTF_8));
        return dir;
    }

    private static String file(int shard) {
        return String.format("shard-%05d.nkx", shard);
    }

    @Test
    void aListedShardIsAViewAnsweringAsItsFile() throws IOException {
        Path dir = collection(COUNTS[0], COUNTS[1]);
        float[] queries = TestData.floats(10, DIM, 3);
        for (int s = 0; s < COUNTS.length; s++) {
            try (Index view = Index.viewShard(dir, s, ViewOptions.defaults());
                    Index loaded = Index.load(dir.resolve(file(s)))) {
                assertTrue(view.isView());
                assertEquals(COUNTS[s], view.size());
                SearchResult want = loaded.search(queries, K);
                SearchResult got = view.search(queries, K);
                assertArrayEquals(want.allIds(), got.allIds());
                assertArrayEquals(want.allDistances(), got.allDistances());
                assertEquals(1000L * s, got.allIds()[0] / 1000 * 1000, "shard " + s + " holds its own ids");
            }
        }
        try (Index verified = Index.viewShard(dir, 1, ViewOptions.builder().verify(true).build())) {
            assertTrue(verified.isView());
        }
    }

    @Test
    void aShardTheManifestDoesNotListIsABadArgument() throws IOException {
        Path dir = collection(COUNTS[0], COUNTS[1]);
        IllegalArgumentException past = assertThrows(IllegalArgumentException.class,
                () -> Index.viewShard(dir, COUNTS.length, ViewOptions.defaults()));
        assertTrue(past.getMessage().startsWith("INVALID_ARGUMENT: ") && past.getMessage().contains("2 shards"),
                past.getMessage());
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class,
                () -> Index.viewShard(dir, -1, ViewOptions.defaults()));
        assertTrue(negative.getMessage().startsWith("INVALID_ARGUMENT: "), negative.getMessage());
        assertThrows(NullPointerException.class, () -> Index.viewShard(dir, 0, null));
    }

    @Test
    void aMissingDirectoryOrShardFileIsAnIoError() throws IOException {
        NearkitIOException noDir = assertThrows(NearkitIOException.class,
                () -> Index.viewShard(tmp.resolve("nowhere"), 0, ViewOptions.defaults()));
        assertFalse(noDir instanceof CorruptIndexException);
        assertTrue(noDir.getMessage().startsWith("IO: "), noDir.getMessage());

        Path dir = collection(COUNTS[0], COUNTS[1]);
        Files.delete(dir.resolve(file(1)));
        NearkitIOException noFile = assertThrows(NearkitIOException.class,
                () -> Index.viewShard(dir, 1, ViewOptions.defaults()));
        assertTrue(noFile.getMessage().startsWith("IO: ") && noFile.getMessage().contains(file(1)),
                noFile.getMessage());
        try (Index other = Index.viewShard(dir, 0, ViewOptions.defaults())) {
            assertEquals(COUNTS[0], other.size(), "the other shard still opens");
        }
    }

    @Test
    void aFileThatDoesNotMatchItsManifestEntryIsCorrupt() throws IOException {
        Path dir = collection(COUNTS[0], COUNTS[1] + 1);
        try (Index good = Index.viewShard(dir, 0, ViewOptions.defaults())) {
            assertEquals(COUNTS[0], good.size());
        }
        CorruptIndexException e = assertThrows(CorruptIndexException.class,
                () -> Index.viewShard(dir, 1, ViewOptions.defaults()));
        assertTrue(e.getMessage().startsWith("CORRUPT: ") && e.getMessage().contains("manifest says"),
                e.getMessage());
    }

    @Test
    void aShardFileThatCannotBeViewedIsRefusedOrLoadedWithTheOption() throws IOException {
        Path v1 = ViewTest.version1File();
        Path dir = tmp.resolve("old");
        Files.createDirectories(dir);
        Files.copy(v1, dir.resolve(file(0)));
        long count;
        try (Index loaded = Index.load(v1)) {
            count = loaded.size();
        }
        String manifest = "{\"format\": \"nearkit-sharded\", \"version\": 1, \"vector_type\": \"float32\","
                + " \"metric\": \"l2\", \"dimension\": 8, \"count\": " + count + ", \"shards\": [{\"file\": \""
                + file(0) + "\", \"count\": " + count + "}]}";
        Files.write(dir.resolve("manifest.json"), manifest.getBytes(StandardCharsets.UTF_8));
        assertThrows(NearkitUnsupportedException.class, () -> Index.viewShard(dir, 0, ViewOptions.defaults()));
        try (Index index = Index.viewShard(dir, 0, ViewOptions.builder().loadIfUnviewable(true).build())) {
            assertFalse(index.isView(), "a format version 1 shard is loaded instead");
            assertEquals(count, index.size());
        }
    }
}
