package io.nearkit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongPredicate;

/**
 * Options of one search or range search: a filter (which stored vectors the search considers),
 * per-call values of the index's runtime parameters ({@code nprobe}, mih's {@code max_radius}, ...)
 * and a thread count. Build one with {@link #builder()}; pass it to
 * {@link Index#search(float[], int, SearchOptions)} and its overloads.
 *
 * <pre>{@code
 * SearchOptions only = SearchOptions.builder()
 *         .filter(allowedIds)          // long[], BitSet or LongPredicate
 *         .param("nprobe", 16)         // this call only; the index's own value is unchanged
 *         .build();
 * SearchResult r = index.search(queries, 10, only);
 * }</pre>
 *
 * <p><b>Filters.</b> A filtered search returns what a search of an index holding only the allowed
 * vectors would: exactly for exact kinds; approximate kinds keep their recall on that truth and
 * return {@code min(k, allowed)} neighbours (rows are padded with id -1 past them). The three forms:
 * <ul>
 *   <li>{@link Builder#filter(long[])}: the allowed ids, in any order, repeats and unknown ids
 *       fine. Copied once when the options are built, into native-order memory the library reads
 *       in place on every search.</li>
 *   <li>{@link Builder#filter(BitSet)}: id {@code i} is allowed when bit {@code i} is set
 *       ({@link Builder#filter(BitSet, long)} shifts the range). Copied once, likewise.</li>
 *   <li>{@link Builder#filter(LongPredicate)}: called with stored ids from the search's native
 *       threads, concurrently, so it must be thread-safe; this is the slow path (one call from C
 *       into Java per candidate). The first exception it throws ends the search and is rethrown,
 *       as it is, by the search. It must not call into the index being searched (that throws
 *       {@link IllegalStateException}); other indexes are fine.</li>
 * </ul>
 *
 * <p>Instances are immutable and may be shared by any number of threads and searches (a predicate
 * filter is shared as it is, so it must be thread-safe anyway).
 */
public final class SearchOptions {
    // Filter types, as NEARKIT_FILTER_* in nearkit.h.
    static final int FILTER_NONE = 0;
    static final int FILTER_IDS = 1;
    static final int FILTER_BITMAP = 2;
    static final int FILTER_PREDICATE = 3;

    private static final SearchOptions DEFAULTS = new Builder().build();

    private final int numThreads;
    private final int filterType;
    // FILTER_IDS: the ids (8 bytes each), FILTER_BITMAP: the bitmap bytes; direct, native order,
    // never written after build(), so concurrent searches read it in place
    private final ByteBuffer filterData;
    private final long filterCount; // FILTER_IDS: number of ids; FILTER_BITMAP: number of bits
    private final long bitmapFirst;
    private final LongPredicate predicate;
    private final String[] paramNames;
    private final double[] paramValues;

    private SearchOptions(Builder b) {
        this.numThreads = b.numThreads;
        this.filterType = b.filterType;
        this.filterData = b.filterData;
        this.filterCount = b.filterCount;
        this.bitmapFirst = b.bitmapFirst;
        this.predicate = b.predicate;
        this.paramNames = b.params.keySet().toArray(new String[0]);
        this.paramValues = new double[paramNames.length];
        for (int i = 0; i < paramNames.length; i++) {
            paramValues[i] = b.params.get(paramNames[i]);
        }
    }

    /**
     * Starts new options: no filter, the index's parameters and threads.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Options with every default: the same as a search without options.
     *
     * @return the shared default options
     */
    public static SearchOptions defaults() {
        return DEFAULTS;
    }

    /**
     * The thread count of the call.
     *
     * @return threads for the batch; 0 uses the index's setting
     */
    public int numThreads() {
        return numThreads;
    }

    /**
     * Whether a filter is set.
     *
     * @return true when the search considers only the vectors a filter allows
     */
    public boolean hasFilter() {
        return filterType != FILTER_NONE;
    }

    /**
     * The per-call parameters.
     *
     * @return an unmodifiable map of the names and values set with {@link Builder#param}
     */
    public Map<String, Double> params() {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int i = 0; i < paramNames.length; i++) {
            m.put(paramNames[i], paramValues[i]);
        }
        return java.util.Collections.unmodifiableMap(m);
    }

    int filterType() {
        return filterType;
    }

    ByteBuffer filterData() {
        return filterData;
    }

    long filterCount() {
        return filterCount;
    }

    long bitmapFirst() {
        return bitmapFirst;
    }

    LongPredicate predicate() {
        return predicate;
    }

    String[] paramNames() {
        return paramNames;
    }

    double[] paramValues() {
        return paramValues;
    }

    @Override
    public String toString() {
        String filter;
        switch (filterType) {
            case FILTER_IDS:
                filter = filterCount + " ids";
                break;
            case FILTER_BITMAP:
                filter = "bitmap of " + filterCount + " bits from id " + bitmapFirst;
                break;
            case FILTER_PREDICATE:
                filter = "predicate";
                break;
            default:
                filter = "none";
        }
        return "SearchOptions[filter=" + filter + ", params=" + params() + ", numThreads=" + numThreads
                + "]";
    }

    /** Builds {@link SearchOptions}. One filter at most: setting another replaces it. */
    public static final class Builder {
        private int numThreads;
        private int filterType = FILTER_NONE;
        private ByteBuffer filterData;
        private long filterCount;
        private long bitmapFirst;
        private LongPredicate predicate;
        private final Map<String, Double> params = new LinkedHashMap<>();

        private Builder() {
        }

        /**
         * Threads for this batch of queries.
         *
         * @param numThreads the thread count; 0 (the default) uses the index's setting
         * @return this builder
         * @throws IllegalArgumentException for a negative value
         */
        public Builder numThreads(int numThreads) {
            if (numThreads < 0) {
                throw new IllegalArgumentException("INVALID_ARGUMENT: numThreads must not be negative, got "
                        + numThreads);
            }
            this.numThreads = numThreads;
            return this;
        }

        /**
         * A runtime parameter's value for this call only, such as {@code param("nprobe", 4)}:
         * one of the index's settable parameters that is not a build parameter (see
         * {@link Index#paramInfo()}). Two searches may use different values at the same time. The
         * name and value are checked by the search (an unknown name or a value out of range is an
         * {@link IllegalArgumentException} there). Setting a name again replaces its value.
         *
         * @param name the parameter's name
         * @param value its value for this call
         * @return this builder
         */
        public Builder param(String name, double value) {
            params.put(Objects.requireNonNull(name, "name"), value);
            return this;
        }

        /**
         * Only the vectors with these ids: any order, repeats and ids not stored are fine; an
         * empty array allows nothing. The array is copied.
         *
         * @param ids the allowed ids
         * @return this builder
         */
        public Builder filter(long[] ids) {
            Objects.requireNonNull(ids, "ids");
            if (ids.length > Integer.MAX_VALUE / 8) {
                throw new IllegalArgumentException("INVALID_ARGUMENT: " + ids.length
                        + " ids are more than one filter holds; use a BitSet");
            }
            ByteBuffer data = ByteBuffer.allocateDirect(Math.max(8, ids.length * 8))
                    .order(ByteOrder.nativeOrder());
            data.asLongBuffer().put(ids);
            setFilter(FILTER_IDS, data, ids.length, 0, null);
            return this;
        }

        /**
         * Only the vectors whose id {@code i} has bit {@code i} set; ids past the set's last set bit
         * and negative ids are not allowed. The bits are copied.
         *
         * @param allowed the allowed ids as set bits
         * @return this builder
         */
        public Builder filter(BitSet allowed) {
            return filter(allowed, 0);
        }

        /**
         * Only the vectors whose id is {@code firstId + i} for a set bit {@code i}; other ids are
         * not allowed. The bits are copied.
         *
         * @param allowed the allowed ids as set bits, relative to {@code firstId}
         * @param firstId the id of bit 0
         * @return this builder
         */
        public Builder filter(BitSet allowed, long firstId) {
            Objects.requireNonNull(allowed, "allowed");
            // BitSet.toByteArray is little-endian: bit i is bit i % 8 of byte i / 8, the C layout
            byte[] bytes = allowed.toByteArray();
            ByteBuffer data = ByteBuffer.allocateDirect(Math.max(1, bytes.length));
            data.put(bytes);
            setFilter(FILTER_BITMAP, data, bytes.length * 8L, firstId, null);
            return this;
        }

        /**
         * Only the vectors whose id the predicate accepts. It runs on the search's native threads,
         * concurrently (so it must be thread-safe), about once per candidate vector; the slow path
         * next to id arrays and bit sets. An exception it throws ends the search and is rethrown by
         * it; it must not call into the index being searched.
         *
         * @param allowed the test of an id
         * @return this builder
         */
        public Builder filter(LongPredicate allowed) {
            setFilter(FILTER_PREDICATE, null, 0, 0, Objects.requireNonNull(allowed, "allowed"));
            return this;
        }

        /**
         * Removes the filter: every stored vector is considered.
         *
         * @return this builder
         */
        public Builder noFilter() {
            setFilter(FILTER_NONE, null, 0, 0, null);
            return this;
        }

        private void setFilter(int type, ByteBuffer data, long count, long first, LongPredicate p) {
            filterType = type;
            filterData = data;
            filterCount = count;
            bitmapFirst = first;
            predicate = p;
        }

        /**
         * The options. The builder can go on to build others; the options built do not change.
         *
         * @return the options
         */
        public SearchOptions build() {
            return new SearchOptions(this);
        }
    }
}
