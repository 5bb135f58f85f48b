package io.nearkit;

/**
 * A file could not be opened, read or written ({@link Status#IO}).
 */
public class NearkitIOException extends NearkitException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the C library's message, prefixed with the status name
     */
    public NearkitIOException(String message) {
        super(Status.IO, message);
    }
}
