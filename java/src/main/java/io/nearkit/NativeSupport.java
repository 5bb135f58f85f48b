package io.nearkit;

import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * Helpers the JNI glue calls back into: turning a C status and message into the right Java
 * exception, and decoding C strings that are not plain ASCII.
 */
final class NativeSupport {
    private NativeSupport() {
    }

    /**
     * Builds the exception for a failed C call. Called from native code, which then throws it.
     *
     * @param code the {@code nearkit_status} the call returned
     * @param message the bytes of {@code nearkit_last_error_message()} (UTF-8, possibly malformed)
     * @param declared the statuses the calling native method declares as checked exceptions, as
     *     bits {@code 1 << code}; an I/O or corrupt-data status it does not declare becomes an
     *     {@link UncheckedIOException} around the {@link NearkitIOException}, so no checked
     *     exception escapes a method that does not declare it
     * @return the exception to throw
     */
    static Throwable error(int code, byte[] message, int declared) {
        Status status = Status.fromCode(code);
        String text = message == null ? "" : new String(message, StandardCharsets.UTF_8);
        String full = status.name() + ": " + (text.isEmpty() ? "(no message)" : text);
        switch (status) {
            case INVALID_ARGUMENT:
            case NOT_FOUND:
                return new IllegalArgumentException(full);
            case STATE:
                return new IllegalStateException(full);
            case IO:
                return checked(new NearkitIOException(full), declared);
            case CORRUPT:
                return checked(new CorruptIndexException(full), declared);
            case UNSUPPORTED:
                return new NearkitUnsupportedException(full);
            case OUT_OF_MEMORY:
                return new NearkitOutOfMemoryException(full);
            default:
                return new NearkitException(status, full);
        }
    }

    private static Throwable checked(NearkitIOException e, int declared) {
        boolean ok = (declared & (1 << e.status().code())) != 0;
        return ok ? e : new UncheckedIOException(e.getMessage(), e);
    }

    /**
     * Decodes a C string that holds bytes outside ASCII.
     *
     * @param bytes the string's bytes, UTF-8 (malformed sequences become U+FFFD)
     * @return the string
     */
    static String utf8(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
