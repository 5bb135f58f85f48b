package io.nearkit;

/**
 * A file or byte array is not a valid nearkit index: truncated, corrupted or foreign
 * ({@link Status#CORRUPT}).
 *
 * <p>Like {@link java.util.zip.ZipException} and {@link java.io.StreamCorruptedException}, this is an
 * {@link java.io.IOException}: a damaged or truncated file is a failure of the data the program
 * reads, not of the program, so the caller is made to handle it, whether the bytes came from a file
 * ({@link Index#load}) or from memory ({@link Index#fromBytes(byte[])}).
 */
public class CorruptIndexException extends NearkitIOException {
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
