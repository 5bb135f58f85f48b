package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The API surface: library information, creation, input forms, results, parameters, persistence. */
class ApiTest {
    @TempDir
    Path tmp;

    @Test
    void theJarCarriesTheLicenceAndTheNoticesOfWhatItLinks() throws Exception {
        for (String name : new String[] {"/META-INF/LICENSE", "/META-INF/THIRD_PARTY_NOTICES.txt"}) {
            try (var in = Nearkit.class.getResourceAsStream(name)) {
                assertNotNull(in, name + " is not in the jar");
                String text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                assertTrue(text.contains(name.endsWith("LICENSE") ? "Apache License" : "OpenBLAS"), name);
            }
        }
    }

    @Test
    void libraryInformation() {
        assertEquals(NativeLib.EXPECTED_ABI_VERSION, Nearkit.abiVersion());
        assertTrue(Nearkit.version().matches("\\d+\\.\\d+\\.\\d+"), Nearkit.version());
        String[] v = Nearkit.version().split("\\.");
        assertEquals(Integer.parseInt(v[0]) * 10000 + Integer.parseInt(v[1]) * 100 + Integer.parseInt(v[2]),
                Nearkit.versionNumber());
        assertFalse(Nearkit.platform().isEmpty());
        List<KindInfo> kinds = Nearkit.kinds();
        assertFalse(kinds.isEmpty());
        KindInfo flat = Nearkit.kind("FLAT").orElseThrow();
        assertEquals("flat", flat.name());
        assertTrue(flat.isExact());
        assertFalse(flat.isCompressed());
        assertTrue(Nearkit.kind("ivf_sq8").orElseThrow().isCompressed());
        for (Metric m : Metric.values()) {
            assertTrue(flat.supports(m), "flat supports " + m);
        }
        for (KindInfo k : kinds) {
            assertFalse(k.name().isEmpty());
            assertFalse(k.description().isEmpty());
            assertEquals(k, Nearkit.kind(k.name()).orElseThrow());
        }
        assertTrue(Nearkit.kind("no-such-kind").isEmpty());
        assertThrows(UnsupportedOperationException.class, () -> kinds.add(flat));
    }

    @Test
    void metricNames() {
        for (Metric m : Metric.values()) {
            assertEquals(m, Metric.fromName(m.metricName()));
            assertEquals(m, Metric.fromName(m.metricName().toUpperCase()));
            assertEquals(m.metricName(), NativeLib.metricName(m.code()));
        }
        assertEquals(Metric.L2, Metric.fromName("euclidean"));
        assertEquals(Metric.L1, Metric.fromName("manhattan"));
        assertEquals(Metric.LINF, Metric.fromName("chebyshev"));
        assertEquals(Metric.IP, Metric.fromName("inner_product"));
        assertThrows(IllegalArgumentException.class, () -> Metric.fromName("nope"));
        assertThrows(IllegalArgumentException.class, () -> Metric.fromCode(99));
    }

    @Test
    void builderAndIntrospection() {
        try (Index index = Index.builder().kind("flat").metric(Metric.COSINE).dimension(6).numThreads(1).seed(7)
                .build()) {
            assertEquals("flat", index.kind());
            assertEquals(Metric.COSINE, index.metric());
            assertEquals(VectorType.FLOAT32, index.vectorType());
            assertEquals(6, index.dimension());
            assertEquals(24, index.vectorBytes());
            assertEquals(0, index.size());
            assertEquals(1.0, index.getParam("num_threads"));
            index.add(TestData.floats(30, 6, 2));
            index.build();
            assertTrue(index.isReady());
            assertEquals(30, index.size());
            assertTrue(index.memoryBytes() > 30 * 24);
            String d = index.describe();
            assertTrue(d.contains("flat") && d.contains("cosine"), d);
            assertTrue(index.toString().contains("flat"));
        }
        try (Index index = Index.builder().metric("Euclidean").dimension(3).param("num_threads", 2).build()) {
            assertEquals(Metric.L2, index.metric());
            assertEquals(2.0, index.getParam("num_threads"));
        }
        try (Index index = Index.builder().metric(Metric.HAMMING).dimension(128).build()) {
            assertEquals(VectorType.BINARY, index.vectorType());
            assertEquals(16, index.vectorBytes());
        }
    }

    @Test
    void exactSearchIsRight() {
        // Four points on a line; distances are known exactly.
        try (Index index = Index.builder().metric(Metric.L2).dimension(2).build()) {
            index.add(new float[] {0, 0, 3, 4, 1, 0, 10, 10});
            index.build();
            SearchResult r = index.search(new float[] {0, 0, 3, 4}, 2);
            assertEquals(2, r.queryCount());
            assertEquals(2, r.k());
            assertArrayEquals(new long[] {0, 2}, r.ids(0));
            assertArrayEquals(new float[] {0f, 1f}, r.distances(0));
            assertArrayEquals(new long[] {1, 2}, r.ids(1));
            assertEquals(5f, r.distance(1, 1) * r.distance(1, 1) / 4f, 1e-5);
            assertThrows(IndexOutOfBoundsException.class, () -> r.ids(2));
            assertThrows(IndexOutOfBoundsException.class, () -> r.id(0, 2));
            // results are immutable
            r.ids(0)[0] = 99;
            r.allIds()[0] = 99;
            assertEquals(0, r.id(0, 0));

            RangeSearchResult rr = index.rangeSearch(new float[] {0, 0}, 5f);
            assertEquals(1, rr.queryCount());
            assertArrayEquals(new long[] {0, 2, 1}, rr.ids(0));
            assertArrayEquals(new float[] {0f, 1f, 5f}, rr.distances(0));
            assertEquals(3, rr.count(0));
            assertEquals(3, rr.totalCount());
            assertThrows(IndexOutOfBoundsException.class, () -> rr.ids(1));
        }
    }

    @Test
    void customIds() {
        try (Index index = Index.builder().dimension(1).build()) {
            index.add(new float[] {1, 2, 3}, new long[] {100, -5, Long.MAX_VALUE});
            index.add(ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder()).asFloatBuffer().put(new float[] {4, 5})
                    .flip(), new long[] {7, 7});
            index.build();
            SearchResult r = index.search(new float[] {3.1f, 4.6f}, 5);
            assertArrayEquals(new long[] {Long.MAX_VALUE, 7, -5, 7, 100}, r.ids(0));
            assertArrayEquals(new long[] {7, 7, Long.MAX_VALUE, -5, 100}, r.ids(1));
        }
    }

    @Test
    void inputForms() {
        float[] base = TestData.floats(300, 8, 4);
        float[] queries = TestData.floats(5, 8, 5);
        try (Index index = Index.builder().dimension(8).build()) {
            // direct buffer in: zero copy, from position to limit
            FloatBuffer direct = ByteBuffer.allocateDirect((base.length + 8) * 4).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            direct.position(8);
            direct.put(base);
            direct.position(8);
            index.add(direct);
            assertEquals(8, direct.position(), "position unchanged");
            index.build();
            assertEquals(300, index.size());
            SearchResult expected = index.search(queries, 4);

            FloatBuffer q = ByteBuffer.allocateDirect(queries.length * 4).order(ByteOrder.nativeOrder())
                    .asFloatBuffer().put(queries).flip();
            same(expected, index.search(q, 4));
            same(expected, index.search(q, 4, 1));
            // heap buffer with an array offset
            float[] padded = new float[queries.length + 3];
            System.arraycopy(queries, 0, padded, 3, queries.length);
            FloatBuffer slice = FloatBuffer.wrap(padded, 3, queries.length).slice();
            same(expected, index.search(slice, 4));
            // read-only buffer: copied
            same(expected, index.search(FloatBuffer.wrap(queries).asReadOnlyBuffer(), 4));
            // a heap ByteBuffer viewed as floats (no accessible array)
            ByteBuffer bb = ByteBuffer.allocate(queries.length * 4).order(ByteOrder.nativeOrder());
            bb.asFloatBuffer().put(queries);
            same(expected, index.search(bb.asFloatBuffer(), 4));
            // range search with buffers equals arrays
            RangeSearchResult ra = index.rangeSearch(queries, 0.9f);
            RangeSearchResult rb = index.rangeSearch(q, 0.9f);
            for (int i = 0; i < 5; i++) {
                assertArrayEquals(ra.ids(i), rb.ids(i));
            }
        }
    }

    @Test
    void binaryInputForms() {
        byte[] base = TestData.bytes(200, 8, 6);
        byte[] queries = TestData.bytes(3, 8, 7);
        try (Index index = Index.builder().metric(Metric.HAMMING).dimension(64).build()) {
            ByteBuffer direct = ByteBuffer.allocateDirect(base.length);
            direct.put(base).flip();
            index.add(direct);
            index.build();
            SearchResult r = index.search(queries, 5);
            same(r, index.search(ByteBuffer.allocateDirect(queries.length).put(queries).flip(), 5));
            same(r, index.search(ByteBuffer.wrap(queries), 5));
            same(r, index.search(ByteBuffer.wrap(queries).asReadOnlyBuffer(), 5));
            same(r, index.search(queries, 5, 1));
            // hamming distances are whole numbers of bits, at most 64
            for (float d : r.allDistances()) {
                assertEquals(Math.rint(d), d);
                assertTrue(d >= 0 && d <= 64);
            }
            RangeSearchResult rr = index.rangeSearch(queries, 20f);
            for (int i = 0; i < 3; i++) {
                for (float d : rr.distances(i)) {
                    assertTrue(d <= 20f);
                }
            }
            assertEquals(rr.totalCount(), index.rangeSearch(ByteBuffer.wrap(queries), 20f).totalCount());
            assertEquals(rr.totalCount(), index.rangeSearch(queries, 20f, 1).totalCount());
        }
    }

    private static void same(SearchResult a, SearchResult b) {
        assertArrayEquals(a.allIds(), b.allIds());
        assertArrayEquals(a.allDistances(), b.allDistances());
    }

    @Test
    void parameters() {
        try (Index index = TestData.flat(20, 4)) {
            List<ParamInfo> info = index.paramInfo();
            assertTrue(info.stream().anyMatch(p -> p.name().equals("num_threads")));
            Map<String, Double> params = index.params();
            assertEquals(info.size(), params.size());
            index.setParam("num_threads", 3);
            assertEquals(3.0, index.getParam("num_threads"));
            assertEquals(3.0, index.params().get("num_threads"));
            ParamInfo nt = info.stream().filter(p -> p.name().equals("num_threads")).findFirst().orElseThrow();
            assertFalse(nt.isReadOnly());
            assertTrue(nt.isInteger());
            assertTrue(info.stream().noneMatch(ParamInfo::isRecallSetting));
        }
    }

    @Test
    void persistence() throws Exception {
        try (Index index = TestData.flat(100, 8)) {
            index.setParam("num_threads", 2);
            float[] q = TestData.floats(4, 8, 9);
            SearchResult r = index.search(q, 6);
            byte[] bytes = index.toBytes();
            try (Index copy = Index.fromBytes(bytes)) {
                same(r, copy.search(q, 6));
                assertEquals(2.0, copy.getParam("num_threads"));
                assertEquals(100, copy.size());
            }
            ByteBuffer direct = ByteBuffer.allocateDirect(bytes.length + 5);
            direct.position(5);
            direct.put(bytes);
            direct.position(5);
            try (Index copy = Index.fromBytes(direct)) {
                same(r, copy.search(q, 6));
            }
            try (Index copy = Index.fromBytes(ByteBuffer.wrap(bytes).asReadOnlyBuffer())) {
                same(r, copy.search(q, 6));
            }
            Path file = tmp.resolve("sub dir/ünïcode index.nkx");
            Files.createDirectories(file.getParent());
            index.save(file);
            assertArrayEquals(bytes, Files.readAllBytes(file));
            try (Index copy = Index.load(file)) {
                same(r, copy.search(q, 6));
            }
            // relative paths resolve against the working directory, as in Java
            Path rel = Path.of("target", "test-relative.nkx");
            Files.createDirectories(rel.toAbsolutePath().getParent());
            index.save(rel);
            try (Index copy = Index.load(rel)) {
                same(r, copy.search(q, 6));
            }
            Files.delete(rel);
        }
    }

    /** Every parameter of every kind is described: a range holding its default, which is a new index's value. */
    @Test
    void parameterDescriptions() {
        for (KindInfo kind : Nearkit.kinds()) {
            for (Metric m : Metric.values()) {
                if (!kind.supports(m)) {
                    continue;
                }
                boolean binary = m.vectorType() == VectorType.BINARY;
                try (Index index = Index.builder().kind(kind.name()).metric(m).dimension(binary ? 64 : 16).build()) {
                    List<ParamInfo> info = index.paramInfo();
                    assertEquals(List.copyOf(index.params().keySet()), info.stream().map(ParamInfo::name).toList());
                    assertThrows(UnsupportedOperationException.class, () -> info.remove(0));
                    assertEquals("num_threads", info.get(0).name());
                    assertFalse(info.get(0).description().isEmpty(), "the generic parameter is described");
                    for (ParamInfo p : info) {
                        String what = kind.name() + "/" + m + "/" + p.name();
                        assertNotNull(p.description(), what);
                        assertTrue(p.minimum() <= p.maximum(), what);
                        if (p.isReadOnly()) {
                            assertTrue(p.defaultValue().isEmpty(), what);
                        } else {
                            assertFalse(p.description().isEmpty(), what + " is described");
                            double d = p.defaultValue().orElseThrow();
                            assertEquals(index.getParam(p.name()), d, what + ": a new index's value");
                            assertTrue(p.minimum() <= d && d <= p.maximum(), what);
                        }
                    }
                }
            }
        }
    }

    /** Every kind the library lists can be created, filled, built and searched through the binding, with
     * no per-kind code; exact kinds agree with flat. */
    @Test
    void everyKindWorks() throws IOException {
        float[] base = TestData.floats(2000, 16, 12);
        float[] queries = TestData.floats(10, 16, 13);
        byte[] baseB = TestData.bytes(2000, 8, 14);
        byte[] queriesB = TestData.bytes(10, 8, 15);
        for (KindInfo kind : Nearkit.kinds()) {
            for (Metric m : Metric.values()) {
                if (!kind.supports(m)) {
                    continue;
                }
                boolean binary = m.vectorType() == VectorType.BINARY;
                try (Index index = Index.builder().kind(kind.name()).metric(m).dimension(binary ? 64 : 16).build();
                        Index flat = Index.builder().metric(m).dimension(binary ? 64 : 16).build()) {
                    if (binary) {
                        index.train(baseB);
                        index.add(baseB);
                        flat.add(baseB);
                    } else {
                        index.train(base);
                        index.add(base);
                        flat.add(base);
                    }
                    index.build();
                    flat.build();
                    assertTrue(index.isReady(), kind.name());
                    SearchResult r = binary ? index.search(queriesB, 5) : index.search(queries, 5);
                    SearchResult f = binary ? flat.search(queriesB, 5) : flat.search(queries, 5);
                    assertEquals(10, r.queryCount());
                    for (long id : r.allIds()) {
                        boolean valid = (id >= 0 && id < 2000) || (id == -1 && !kind.isExact());
                        assertTrue(valid, kind.name() + "/" + m + ": id " + id);
                    }
                    if (kind.isExact()) {
                        assertArrayEquals(f.allDistances(), r.allDistances(), 1e-4f, kind.name() + "/" + m);
                    }
                    try (Index copy = Index.fromBytes(index.toBytes())) {
                        SearchResult c = binary ? copy.search(queriesB, 5) : copy.search(queries, 5);
                        same(r, c);
                    }
                    assertNotNull(index.describe());
                    for (Map.Entry<String, Double> p : index.params().entrySet()) {
                        assertFalse(p.getValue().isNaN(), p.getKey());
                    }
                }
            }
        }
    }
}
