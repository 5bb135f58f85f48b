package io.nearkit.spark;

import java.io.Serializable;

/**
 * One shard: a nearkit index file's bytes (the Java package's {@code toBytes}, the same format as a
 * saved index), or the local path of the saved sharded directory that lists it, on a POSIX file
 * system every executor sees (the shard is then opened as a view of its file: {@link ShardCache}),
 * and what the driver keeps of it. A shard's number is its partition's number in the model's shard
 * RDD; for a shard given by its directory, that is also its place in the directory's manifest.
 */
final class Shard implements Serializable {
    private static final long serialVersionUID = 1L;

    final byte[] data; /* null for a shard given by its directory */
    final String dir; /* the sharded directory's local path, or null for a shard given by its bytes */
    final Info info;

    Shard(byte[] data, Info info) {
        this.data = data;
        this.dir = null;
        this.info = info;
    }

    Shard(String dir, Info info) {
        this.data = null;
        this.dir = dir;
        this.info = info;
    }

    /** What the driver knows of a shard: enough to check queries and size executors. */
    static final class Info implements Serializable {
        private static final long serialVersionUID = 1L;

        final int number;
        final long count;
        final long memoryBytes;
        final long fileBytes;
        final int dimension;
        final boolean binary;
        final String metric; /* the C library's name, as the core's manifest holds it */

        Info(int number, long count, long memoryBytes, long fileBytes, int dimension, boolean binary,
                String metric) {
            this.number = number;
            this.count = count;
            this.memoryBytes = memoryBytes;
            this.fileBytes = fileBytes;
            this.dimension = dimension;
            this.binary = binary;
            this.metric = metric;
        }
    }
}
