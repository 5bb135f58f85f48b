package io.nearkit.bench;

import io.nearkit.Index;
import io.nearkit.Metric;
import io.nearkit.SearchOptions;
import io.nearkit.SearchResult;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Measures what the Java binding adds to a search, against the C program bench_overhead_c.
 *
 * <p>Per-call overhead, paired. A single-query search of a 10,000-vector index costs ~30 us and the
 * difference of two such medians, taken by two processes at different moments on a shared
 * machine, swings by several microseconds. So the overhead is measured where the C call itself
 * costs well under a microsecond, with C and Java alternating:
 * <ul>
 *   <li>the C side is {@code bench_overhead_c --serve DIR} (see bench/overhead_c.c), a child process
 *       that holds two tiny single-thread indexes over the first 4 rows of DIR/base.fvecs (flat
 *       l2; hnsw l2) and times a block of single-query k = 1 searches on request;
 *   <li>Java builds the same two indexes from the same file and times the same block of calls
 *       through the package ({@code index.search(q, 1)}, q a float[] of one of the first 64
 *       queries, the result allocated by the call), right before or right after the C block (the
 *       order alternates from round to round, so drift in load favours neither side);
 *   <li>both sides time a block on their thread's CPU clock (ThreadMXBean here,
 *       CLOCK_THREAD_CPUTIME_ID in C), so time spent waiting for a core while other jobs run, most
 *       of the noise on a shared machine, counts on neither side;
 *   <li>one round gives one difference of the mean per-call times (Java block minus C block);
 *       bench.rounds rounds (default 101) of bench.calls calls per block (default 1,000, after 50
 *       untimed), after a JIT warm-up of 50,000 calls of each kind.
 * </ul>
 * java_overhead_us is the median of the paired differences on the flat index, with its
 * interquartile range; java_overhead_params_us the same for the hnsw index searched with the
 * per-call parameter ef_search = 4 (a SearchOptions built once, as a caller would keep it, against
 * nearkit_search_options.params in C): the per-call settings path.
 *
 * <p>Batch, unchanged: the C program {@code bench_overhead_c DIR} times a 10,000-query k = 10 batch
 * on the 10,000 x 32 flat l2 index (best of 5) and Java the same batch; best of 3 rounds each.
 *
 * <p>Usage: {@code OverheadBench BENCH_OVERHEAD_C DIR}. Prints c_tiny_us, java_tiny_us (medians of
 * the blocks' mean per-call times), java_overhead_us, java_overhead_iqr_us (p25..p75 of the paired
 * differences), the same with _params, java_overhead_in_c_calls (java_overhead_us / c_tiny_us:
 * other jobs on the cores slow both sides alike, so this ratio moves less from run to run than the
 * microseconds), and c_batch_s, java_batch_s, java_batch_vs_c.
 * Target (issue 18): java_overhead_us at most 1, stable within 0.5 us over three runs.
 */
public final class OverheadBench {
    private static final int K = 10;
    private static final int BATCH_RUNS = 5;
    private static final int BATCH_ROUNDS = 3;
    // The paired measurement's tiny indexes: as in bench/overhead_c.c.
    private static final int TINY_N = 4;
    private static final int TINY_Q = 64;
    private static final int TINY_K = 1;
    private static final int TINY_EF = 4;
    private static final int WARMUP_BLOCK = 50;
    private static final int JIT_WARMUP = 50000;

    // Blocks are timed on the thread's CPU clock, as the C program times its blocks: time spent
    // waiting for a core while other jobs run does not count (see bench/overhead_c.c).
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private static long sink;

    private OverheadBench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: OverheadBench BENCH_OVERHEAD_C DIR");
            System.exit(2);
        }
        Path dir = Paths.get(args[1]);
        Files.createDirectories(dir);
        double cBatch = Double.MAX_VALUE;
        double javaBatch = Double.MAX_VALUE;
        for (int round = 0; round < BATCH_ROUNDS; round++) {
            cBatch = Math.min(cBatch, runC(args[0], dir).get("c_batch_s"));
            javaBatch = Math.min(javaBatch, batchSeconds(dir));
        }
        Map<String, String> report = measureOverheads(args[0], dir, Integer.getInteger("bench.rounds", 101),
                Integer.getInteger("bench.calls", 1000));
        report.forEach((name, value) -> System.out.println(name + "=" + value));
        System.out.printf("c_batch_s=%.6f%n", cBatch);
        System.out.printf("java_batch_s=%.6f%n", javaBatch);
        System.out.printf("java_batch_vs_c=%.4f%n", javaBatch / cBatch);
    }

    /** One block of a binding's calls: runs them and returns the mean microseconds per call. */
    private interface Block {
        double meanUs(float[][] rows, int calls);
    }

    /** The C side of the paired measurement: bench_overhead_c --serve DIR as a child process. */
    private static final class CServer implements AutoCloseable {
        private final Process process;
        private final BufferedReader out;
        private final OutputStream in;

        CServer(String program, Path dir) throws IOException {
            process = new ProcessBuilder(program, "--serve", dir.toString())
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            in = process.getOutputStream();
            if (!"ready".equals(out.readLine())) {
                throw new IOException(program + " did not start serving");
            }
        }

        double blockUs(String what, int calls) throws IOException {
            in.write((what + " " + calls + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
            String line = out.readLine();
            if (line == null || !line.startsWith("us=")) {
                throw new IOException("the C program answered " + line + " to " + what);
            }
            return Double.parseDouble(line.substring(3));
        }

        @Override
        public void close() throws IOException, InterruptedException {
            in.write("quit\n".getBytes(StandardCharsets.UTF_8));
            in.close();
            process.waitFor();
        }
    }

    private static double flatBlockUs(Index index, float[][] rows, int calls) {
        for (int r = 0; r < WARMUP_BLOCK; r++) {
            sink += index.search(rows[r % TINY_Q], TINY_K).id(0, 0);
        }
        long t0 = THREADS.getCurrentThreadCpuTime();
        for (int r = 0; r < calls; r++) {
            SearchResult res = index.search(rows[(r + WARMUP_BLOCK) % TINY_Q], TINY_K);
            sink += res.id(0, 0);
        }
        return (THREADS.getCurrentThreadCpuTime() - t0) / 1e3 / calls;
    }

    private static double paramsBlockUs(Index index, SearchOptions options, float[][] rows, int calls) {
        for (int r = 0; r < WARMUP_BLOCK; r++) {
            sink += index.search(rows[r % TINY_Q], TINY_K, options).id(0, 0);
        }
        long t0 = THREADS.getCurrentThreadCpuTime();
        for (int r = 0; r < calls; r++) {
            SearchResult res = index.search(rows[(r + WARMUP_BLOCK) % TINY_Q], TINY_K, options);
            sink += res.id(0, 0);
        }
        return (THREADS.getCurrentThreadCpuTime() - t0) / 1e3 / calls;
    }

    /** {median C us, median Java us, paired differences...} over adjacent pairs of blocks. */
    private static double[][] paired(CServer server, String what, Block block, float[][] rows, int rounds,
            int calls) throws IOException {
        block.meanUs(rows, JIT_WARMUP);
        double[] c = new double[rounds];
        double[] java = new double[rounds];
        double[] diffs = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            if (r % 2 == 1) {
                java[r] = block.meanUs(rows, calls);
                c[r] = server.blockUs(what, calls);
            } else {
                c[r] = server.blockUs(what, calls);
                java[r] = block.meanUs(rows, calls);
            }
            diffs[r] = java[r] - c[r];
        }
        return new double[][] {{percentile(c, 0.5), percentile(java, 0.5)}, diffs};
    }

    private static double percentile(double[] xs, double p) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[(int) Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
    }

    private static Index tinyIndex(String kind, float[] base, int d) {
        Index index = Index.builder().kind(kind).metric(Metric.L2).dimension(d).numThreads(1).build();
        index.add(Arrays.copyOf(base, TINY_N * d));
        index.build();
        return index;
    }

    private static Map<String, String> measureOverheads(String program, Path dir, int rounds, int calls)
            throws Exception {
        int[] dim = new int[1];
        float[] base = readFvecs(dir.resolve("base.fvecs"), dim);
        float[] queries = readFvecs(dir.resolve("queries.fvecs"), dim);
        int d = dim[0];
        float[][] rows = new float[TINY_Q][];
        for (int i = 0; i < TINY_Q; i++) {
            rows[i] = Arrays.copyOfRange(queries, i * d, (i + 1) * d);
        }
        SearchOptions withEf = SearchOptions.builder().param("ef_search", TINY_EF).build();
        Map<String, String> report = new java.util.LinkedHashMap<>();
        try (Index flat = tinyIndex("flat", base, d); Index hnsw = tinyIndex("hnsw", base, d);
                CServer server = new CServer(program, dir)) {
            double[][] plain = paired(server, "flat", (q, n) -> flatBlockUs(flat, q, n), rows, rounds, calls);
            double[][] params = paired(server, "params", (q, n) -> paramsBlockUs(hnsw, withEf, q, n), rows,
                    rounds, calls);
            report.put("c_tiny_us", String.format("%.3f", plain[0][0]));
            report.put("java_tiny_us", String.format("%.3f", plain[0][1]));
            putSpread(report, "java_overhead", plain[1]);
            putSpread(report, "java_overhead_params", params[1]);
            report.put("java_overhead_in_c_calls",
                    String.format("%.3f", percentile(plain[1], 0.5) / plain[0][0]));
        }
        return report;
    }

    private static void putSpread(Map<String, String> report, String name, double[] diffs) {
        report.put(name + "_us", String.format("%.3f", percentile(diffs, 0.5)));
        report.put(name + "_iqr_us",
                String.format("%.3f..%.3f", percentile(diffs, 0.25), percentile(diffs, 0.75)));
    }

    private static double batchSeconds(Path dir) throws IOException {
        int[] dim = new int[1];
        float[] base = readFvecs(dir.resolve("base.fvecs"), dim);
        float[] queries = readFvecs(dir.resolve("queries.fvecs"), dim);
        double best = Double.MAX_VALUE;
        try (Index index = Index.builder().kind("flat").metric(Metric.L2).dimension(dim[0]).numThreads(1)
                .build()) {
            index.add(base);
            index.build();
            for (int r = 0; r < BATCH_RUNS; r++) {
                long t0 = System.nanoTime();
                SearchResult res = index.search(queries, K);
                best = Math.min(best, (System.nanoTime() - t0) / 1e9);
                sink += res.id(0, 0);
            }
        }
        return best;
    }

    private static Map<String, Double> runC(String program, Path dir) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(program, dir.toString()).redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException(program + " failed with exit code " + p.exitValue());
        }
        Map<String, Double> values = new HashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                values.put(line.substring(0, eq).trim(), Double.parseDouble(line.substring(eq + 1).trim()));
            }
        }
        if (!values.containsKey("c_batch_s")) {
            throw new IOException(program + " printed no c_batch_s:\n" + out);
        }
        return values;
    }

    private static float[] readFvecs(Path p, int[] dimOut) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        int d = b.getInt(0);
        int n = b.remaining() / (4 + 4 * d);
        float[] out = new float[n * d];
        for (int i = 0; i < n; i++) {
            if (b.getInt() != d) {
                throw new IOException(p + ": rows of different dimensions");
            }
            for (int j = 0; j < d; j++) {
                out[i * d + j] = b.getFloat();
            }
        }
        dimOut[0] = d;
        return out;
    }
}
