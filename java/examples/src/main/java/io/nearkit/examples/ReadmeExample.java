package io.nearkit.examples;

import io.nearkit.CorruptIndexException;
import io.nearkit.Index;
import io.nearkit.Metric;
import io.nearkit.NearkitIOException;
import io.nearkit.SearchOptions;
import io.nearkit.SearchResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * The snippets of java/README.md, unchanged (the Java package's ReadmeTest checks that every
 * {@code java} block of the README appears here verbatim), with the data they assume around them.
 * Writes vectors.nkx to the working directory (the example project's target/ when run by Maven).
 */
public final class ReadmeExample {
    private ReadmeExample() {
    }

    public static void main(String[] args) throws IOException {
        Random random = new Random(7);
        float[] vectors = new float[1000 * 128];
        for (int i = 0; i < vectors.length; i++) {
            vectors[i] = (float) random.nextGaussian();
        }
        float[] queries = new float[3 * 128];
        System.arraycopy(vectors, 0, queries, 0, queries.length);

        // ---- README: the first snippet ----
        try (Index index = Index.builder().kind("flat").metric(Metric.L2).dimension(128).build()) {
            index.add(vectors);                       // float[] of n * 128 values; ids 0 .. n-1
            index.build();
            SearchResult r = index.search(queries, 10);
            long[] ids = r.ids(0);                    // nearest first; -1 where k > size
            float[] distances = r.distances(0);
            index.save(Path.of("vectors.nkx"));       // same format as the CLI and every other binding
        }

        // ---- README: the second snippet ----
        try (Index index = Index.load(Path.of("vectors.nkx"))) {
            System.out.println(index.size() + " vectors");
        } catch (CorruptIndexException e) {          // truncated, damaged or not a nearkit file
            System.err.println(e.getMessage());      // CORRUPT: ... names the file and the problem
        } catch (NearkitIOException e) {             // missing, a directory, not readable
            System.err.println(e.getMessage());      // IO: cannot open '/.../vectors.nkx': No such file ...
        }

        // ---- README: views ----
        try (Index view = Index.view(Path.of("vectors.nkx"))) {    // or Index.view(path, true): verify it all
            SearchResult r = view.search(queries, 10);             // the answers a loaded index gives
            try (Index writable = view.copy()) {                   // view.add(...) throws IllegalStateException
                writable.add(queries);
            }
        }
        try (Index view = Index.view(Path.of("vectors.nkx"), true); Index loaded = Index.load(Path.of("vectors.nkx"))) {
            check(view.isView() && !loaded.isView(), "view() gives a view, load() does not");
            check(Arrays.equals(view.search(queries, 10).allIds(), loaded.search(queries, 10).allIds()),
                    "a view answers as the loaded index");
            try {
                view.add(queries);
                check(false, "a view refuses writes");
            } catch (IllegalStateException e) {
                check(e.getMessage().startsWith("STATE: "), e.toString());
            }
        }

        // what the first snippet saved: each query is a stored vector and finds itself first
        try (Index index = Index.load(Path.of("vectors.nkx"))) {
            SearchResult r = index.search(queries, 10);
            for (int q = 0; q < r.queryCount(); q++) {
                check(r.id(q, 0) == q && r.distance(q, 0) < 1e-3f, "query " + q + " finds itself first");
            }
        }

        // the failures the second snippet handles, for real
        Path missing = Path.of("no-such-file.nkx");
        try (Index index = Index.load(missing)) {
            check(false, "a missing file is refused");
        } catch (NearkitIOException e) {
            check(!(e instanceof CorruptIndexException) && e.getMessage().startsWith("IO: "), e.toString());
            System.out.println("missing file: " + e.getMessage());
        }
        Path truncated = Path.of("truncated.nkx");
        byte[] whole = Files.readAllBytes(Path.of("vectors.nkx"));
        Files.write(truncated, Arrays.copyOf(whole, whole.length / 2));
        try (Index index = Index.load(truncated)) {
            check(false, "a truncated file is refused");
        } catch (CorruptIndexException e) {
            check(e.getMessage().startsWith("CORRUPT: "), e.toString());
            System.out.println("truncated file: " + e.getMessage());
        } finally {
            Files.deleteIfExists(truncated);
        }
        // ---- README: per-call options ----
        long[] allowedIds = {1, 2, 3, 500, 999};
        SearchOptions o = SearchOptions.builder()
                .filter(allowedIds)            // long[]; or a java.util.BitSet (bit i = id i;
                                               // filter(bits, firstId) shifts it); or a LongPredicate
                .param("nprobe", 4)            // this call only: the index's own setting is unchanged
                .numThreads(2)
                .build();                      // immutable; share it between threads and calls
        try (Index ivf = Index.builder().kind("ivf_flat").metric(Metric.L2).dimension(128)
                .param("nlist", 8).build()) {
            ivf.add(vectors);
            ivf.build();
            double nprobe = ivf.getParam("nprobe");
            SearchResult r = ivf.search(queries, 3, o);
            for (long id : r.allIds()) {
                check(id == -1 || Arrays.binarySearch(allowedIds, id) >= 0, "only allowed ids: " + id);
            }
            check(ivf.getParam("nprobe") == nprobe, "the index's own nprobe is unchanged");
        }

        Files.deleteIfExists(Path.of("vectors.nkx"));
        System.out.println("ReadmeExample OK");
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            System.err.println("ReadmeExample FAILED: " + what);
            System.exit(1);
        }
    }
}
