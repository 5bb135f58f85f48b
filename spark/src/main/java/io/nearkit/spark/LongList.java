package io.nearkit.spark;

import java.io.Serializable;
import java.util.Arrays;

/** A growable long[]. */
final class LongList implements Serializable {
    private static final long serialVersionUID = 1L;
    private long[] a = new long[16];
    private int n;

    void add(long v) {
        if (n == a.length) {
            a = Arrays.copyOf(a, 2 * n);
        }
        a[n++] = v;
    }

    int size() {
        return n;
    }

    /** The last value added; the list must not be empty. */
    long last() {
        return a[n - 1];
    }

    long[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
