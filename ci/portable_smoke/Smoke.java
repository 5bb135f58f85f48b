// A search with the portable jar on the class path and nothing else (ci/check_portable_natives.sh,
// ci/release_portable.sh under qemu-aarch64): flat and hnsw find each query's own vector first.
import io.nearkit.Index;
import io.nearkit.Metric;
import io.nearkit.Nearkit;
import io.nearkit.SearchResult;
import java.util.Random;

public class Smoke {
    public static void main(String[] args) {
        int n = 2000, dim = 16;
        float[] x = new float[n * dim];
        Random random = new Random(1);
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextFloat();
        }
        float[] queries = java.util.Arrays.copyOf(x, 50 * dim);
        for (String kind : new String[] {"flat", "hnsw"}) {
            try (Index index = Index.builder().kind(kind).metric(Metric.L2).dimension(dim).build()) {
                index.add(x);
                index.build();
                SearchResult r = index.search(queries, 3);
                for (int q = 0; q < 50; q++) {
                    if (r.ids(q)[0] != q) {
                        throw new AssertionError(kind + ": query " + q + " found " + r.ids(q)[0]);
                    }
                }
            }
        }
        System.out.println("the portable jar searches: nearkit " + Nearkit.version());
    }
}
