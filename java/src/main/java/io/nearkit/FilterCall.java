package io.nearkit;

import java.util.function.LongPredicate;

/**
 * The target of one search's predicate filter: the JNI glue calls {@link #test(long)} from the
 * search's native threads (attached to the JVM as daemon threads) for each candidate id.
 *
 * <p>While the predicate runs, the thread is marked as filtering {@code index}, so a predicate that
 * calls back into the index it filters gets an {@link IllegalStateException} instead of a deadlock
 * (the search holds the index's read lock; a writer waiting for it would block the nested call,
 * and the nested call the search). Exceptions are not caught here: the glue catches the first, ends
 * the search's use of the predicate and rethrows it on the searching thread.
 */
final class FilterCall {
    private static final ThreadLocal<Object> FILTERING = new ThreadLocal<>();

    private final LongPredicate predicate;
    private final Object index;

    FilterCall(LongPredicate predicate, Object index) {
        this.predicate = predicate;
        this.index = index;
    }

    /** Called from native code. */
    boolean test(long id) {
        Object outer = FILTERING.get();
        FILTERING.set(index);
        try {
            return predicate.test(id);
        } finally {
            FILTERING.set(outer);
        }
    }

    /** Whether the current thread is running a filter of {@code index}. */
    static boolean isFiltering(Object index) {
        return FILTERING.get() == index;
    }
}
