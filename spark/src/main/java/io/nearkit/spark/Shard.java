package io.nearkit.spark;

import java.io.Serializable;

/**
 * One shard: a nearkit index file's bytes (the Java package's {@code toBytes}, the same format as a
 * saved index) and what the driver keeps of it. A shard's number is its partition's number in the
 * model's shard RDD.
 */
final class Shard implements Serializable {
    private static final long serialVersionUID = 1L;

    final byte[] data;
    final Info info;

    Shard(byte[] data, Info info) {
        this.data = data;
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
