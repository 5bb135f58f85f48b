package io.nearkit;

import java.util.Arrays;

/**
 * The immutable result of a range search: for each query, every stored vector within the radius,
 * nearest first, equal distances in increasing id order.
 *
 * <p>Every accessor that returns an array returns a fresh copy.
 */
public final class RangeSearchResult {
    private final int[] offsets;
    private final long[] ids;
    private final float[] distances;

    RangeSearchResult(int[] offsets, long[] ids, float[] distances) {
        this.offsets = offsets;
        this.ids = ids;
        this.distances = distances;
    }

    /**
     * The number of queries.
     *
     * @return the query count
     */
    public int queryCount() {
        return offsets.length - 1;
    }

    /**
     * The number of matches of one query.
     *
     * @param query the query's position in the batch
     * @return the number of vectors within the radius
     * @throws IndexOutOfBoundsException for a bad query position
     */
    public int count(int query) {
        check(query);
        return offsets[query + 1] - offsets[query];
    }

    /**
     * The number of matches of all queries together.
     *
     * @return the total
     */
    public int totalCount() {
        return ids.length;
    }

    /**
     * The ids of one query's matches, nearest first.
     *
     * @param query the query's position in the batch
     * @return a new array
     * @throws IndexOutOfBoundsException for a bad query position
     */
    public long[] ids(int query) {
        check(query);
        return Arrays.copyOfRange(ids, offsets[query], offsets[query + 1]);
    }

    /**
     * The distances of one query's matches, nearest first.
     *
     * @param query the query's position in the batch
     * @return a new array
     * @throws IndexOutOfBoundsException for a bad query position
     */
    public float[] distances(int query) {
        check(query);
        return Arrays.copyOfRange(distances, offsets[query], offsets[query + 1]);
    }

    private void check(int query) {
        if (query < 0 || query >= offsets.length - 1) {
            throw new IndexOutOfBoundsException(
                    "query " + query + " out of range [0, " + (offsets.length - 1) + ")");
        }
    }

    @Override
    public String toString() {
        return "RangeSearchResult[queries=" + queryCount() + ", matches=" + totalCount() + "]";
    }
}
