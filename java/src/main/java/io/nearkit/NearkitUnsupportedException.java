package io.nearkit;

/**
 * A valid request this library does not support, such as a kind and metric pair that does not go
 * together or a file written by a newer format version ({@link Status#UNSUPPORTED}).
 */
public class NearkitUnsupportedException extends NearkitException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the C library's message, prefixed with the status name
     */
    public NearkitUnsupportedException(String message) {
        super(Status.UNSUPPORTED, message);
    }
}
