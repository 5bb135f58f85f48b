package io.nearkit.spark;

import java.io.Serializable;

/**
 * One shard: a nearkit index file's bytes (the Java package's {@code toBytes}, the same format as a
 * saved index), or the path of its file on a POSIX file system every executor sees (opened as a
 * view: {@link ShardCache}), and what the driver keeps of it. A shard's number is its partition's
 * number in the model's shard RDD.
 */
final class Shard implements Serializable {
    private static final long serialVersionUID = 1L;

    final byte[] data; /* null for a shard given by its file */
    final String file; /* the shard file's local path, or null for a shard given by its bytes */
    final Info info;

    Shard(byte[] data, Info info) {
        this.data = data;
        this.file = null;
        this.info = info;
    }

    Shard(String file, Info info) {
        this.data = null;
        this.file = file;
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
