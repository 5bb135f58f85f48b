package io.nearkit;

/**
 * Base class of the errors the nearkit C library reports that are neither a bad argument
 * ({@link IllegalArgumentException}) nor a call in the wrong state ({@link IllegalStateException})
 * nor an I/O failure: unsupported features, native allocation failures and internal errors. I/O
 * failures and corrupt files are the checked {@link NearkitIOException} and
 * {@link CorruptIndexException} instead.
 *
 * <p>The message is the C library's own message ({@code nearkit_last_error_message()}), prefixed
 * with the status name; {@link #status()} gives the status.
 */
public class NearkitException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The status of the failed call. */
    private final Status status;

    /**
     * Creates an exception for a failed call.
     *
     * @param status the status the C library returned
     * @param message the message, already prefixed with the status name
     */
    public NearkitException(Status status, String message) {
        super(message);
        this.status = status;
    }

    /**
     * The status the C library returned for the failed call.
     *
     * @return the status, never {@code null}
     */
    public Status status() {
        return status;
    }
}
