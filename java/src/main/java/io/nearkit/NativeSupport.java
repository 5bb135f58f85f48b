package io.nearkit;

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
     * @return the exception to throw
     */
    static Throwable error(int code, byte[] message) {
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
                return new NearkitIOException(full);
            case CORRUPT:
                return new CorruptIndexException(full);
            case UNSUPPORTED:
                return new NearkitUnsupportedException(full);
            case OUT_OF_MEMORY:
                return new NearkitOutOfMemoryException(full);
            default:
                return new NearkitException(status, full);
        }
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
