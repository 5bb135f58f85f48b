package io.nearkit;

import java.io.IOException;

/**
 * A file could not be opened, read or written ({@link Status#IO}), or, as the subclass
 * {@link CorruptIndexException}, its contents are not a valid nearkit index ({@link Status#CORRUPT}).
 *
 * <p>This is a checked {@link IOException}, so the methods that touch files ({@link Index#load},
 * {@link Index#save}) and the ones that decode a serialised index ({@link Index#fromBytes(byte[])})
 * declare it, and a caller's {@code catch (IOException e)} covers every way reading or writing an
 * index can fail for reasons outside the program. Where a signature cannot declare it (a native call
 * other than those, which the C library never fails with these statuses), it arrives wrapped in a
 * {@link java.io.UncheckedIOException}.
 *
 * <p>It is not a {@link NearkitException} (that one is unchecked); {@link #status()} gives the status
 * the same way.
 */
public class NearkitIOException extends IOException {
    private static final long serialVersionUID = 1L;

    /** The status of the failed call. */
    private final Status status;

    /**
     * Creates the exception for an I/O failure ({@link Status#IO}).
     *
     * @param message the C library's message, prefixed with the status name
     */
    public NearkitIOException(String message) {
        this(Status.IO, message);
    }

    /**
     * Creates the exception for a failed call with the given status.
     *
     * @param status the status the C library returned ({@link Status#IO} or {@link Status#CORRUPT})
     * @param message the C library's message, prefixed with the status name
     */
    protected NearkitIOException(Status status, String message) {
        super(message);
        this.status = status;
    }

    /**
     * The status the C library returned for the failed call.
     *
     * @return {@link Status#IO}, or {@link Status#CORRUPT} for a {@link CorruptIndexException}
     */
    public Status status() {
        return status;
    }
}
