package io.nearkit;

/**
 * An allocation in native memory failed ({@link Status#OUT_OF_MEMORY}).
 *
 * <p>This is an exception rather than an {@link OutOfMemoryError}: the Java heap is unaffected and the
 * C library leaves the index unchanged, so the caller can recover (for example with a smaller batch).
 */
public class NearkitOutOfMemoryException extends NearkitException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the message, prefixed with the status name
     */
    public NearkitOutOfMemoryException(String message) {
        super(Status.OUT_OF_MEMORY, message);
    }
}
