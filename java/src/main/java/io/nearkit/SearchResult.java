package io.nearkit;

import java.util.Arrays;

/**
 * The immutable result of a k-nearest-neighbour search: for each query, {@code k} ids and distances,
 * nearest first, equal distances in increasing id order. Where the index holds fewer than {@code k}
 * vectors, the missing entries have id {@code -1} and distance {@link Float#POSITIVE_INFINITY}.
 *
 * <p>Every accessor that returns an array returns a fresh copy.
 */
public final class SearchResult {
    private final int queryCount;
    private final int k;
    private final long[] ids;
    private final float[] distances;

    SearchResult(int queryCount, int k, long[] ids, float[] distances) {
        this.queryCount = queryCount;
        this.k = k;
        this.ids = ids;
        this.distances = distances;
    }

    /**
     * The number of queries.
     *
     * @return the query count
     */
    public int queryCount() {
        return queryCount;
    }

    /**
     * The number of neighbours per query (the {@code k} of the search).
     *
     * @return k
     */
    public int k() {
        return k;
    }

    /**
     * The ids of one query's neighbours, nearest first.
     *
     * @param query the query's position in the batch
     * @return a new array of {@code k} ids ({@code -1} for a missing neighbour)
     * @throws IndexOutOfBoundsException for a bad query position
     */
    public long[] ids(int query) {
        int from = row(query);
        return Arrays.copyOfRange(ids, from, from + k);
    }

    /**
     * The distances of one query's neighbours, nearest first.
     *
     * @param query the query's position in the batch
     * @return a new array of {@code k} distances ({@code +Infinity} for a missing neighbour)
     * @throws IndexOutOfBoundsException for a bad query position
     */
    public float[] distances(int query) {
        int from = row(query);
        return Arrays.copyOfRange(distances, from, from + k);
    }

    /**
     * The id of one neighbour.
     *
     * @param query the query's position in the batch
     * @param rank the neighbour's rank, 0 for the nearest
     * @return the id, or {@code -1} for a missing neighbour
     * @throws IndexOutOfBoundsException for a bad position
     */
    public long id(int query, int rank) {
        return ids[row(query) + rank(rank)];
    }

    /**
     * The distance of one neighbour.
     *
     * @param query the query's position in the batch
     * @param rank the neighbour's rank, 0 for the nearest
     * @return the distance, or {@code +Infinity} for a missing neighbour
     * @throws IndexOutOfBoundsException for a bad position
     */
    public float distance(int query, int rank) {
        return distances[row(query) + rank(rank)];
    }

    /**
     * Every id, row-major ({@code queryCount() * k()} entries, query after query).
     *
     * @return a new array
     */
    public long[] allIds() {
        return ids.clone();
    }

    /**
     * Every distance, row-major ({@code queryCount() * k()} entries, query after query).
     *
     * @return a new array
     */
    public float[] allDistances() {
        return distances.clone();
    }

    private int row(int query) {
        if (query < 0 || query >= queryCount) {
            throw new IndexOutOfBoundsException("query " + query + " out of range [0, " + queryCount + ")");
        }
        return query * k;
    }

    private int rank(int rank) {
        if (rank < 0 || rank >= k) {
            throw new IndexOutOfBoundsException("rank " + rank + " out of range [0, " + k + ")");
        }
        return rank;
    }

    @Override
    public String toString() {
        return "SearchResult[queries=" + queryCount + ", k=" + k + "]";
    }
}
