package io.nearkit;

/**
 * A file or byte array is not a valid nearkit index: truncated, corrupted or foreign
 * ({@link Status#CORRUPT}).
 */
public class CorruptIndexException extends NearkitException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the C library's message, prefixed with the status name
     */
    public CorruptIndexException(String message) {
        super(Status.CORRUPT, message);
    }
}
