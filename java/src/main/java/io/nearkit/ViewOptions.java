package io.nearkit;

/**
 * How {@link Index#view(java.nio.file.Path, ViewOptions)} and
 * {@link Index#viewBuffer(java.nio.ByteBuffer, ViewOptions)} open a saved index. Build one with
 * {@link #builder()}; {@link #defaults()} is what {@link Index#view(java.nio.file.Path)} uses.
 *
 * <pre>{@code
 * ViewOptions options = ViewOptions.builder()
 *         .verify(true)              // check the checksum and every stored value (reads it all)
 *         .loadIfUnviewable(true)    // a format version 1 file is loaded instead of refused
 *         .build();
 * }</pre>
 *
 * <p>Instances are immutable and may be shared.
 */
public final class ViewOptions {
    private static final ViewOptions DEFAULTS = new Builder().build();

    private final boolean verify;
    private final boolean loadIfUnviewable;

    private ViewOptions(Builder b) {
        this.verify = b.verify;
        this.loadIfUnviewable = b.loadIfUnviewable;
    }

    /**
     * Starts new options with every default.
     *
     * @return a builder: no verification, no fallback to a load
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Options with every default: check the header and section table only, and refuse what
     * cannot be viewed.
     *
     * @return the shared default options
     */
    public static ViewOptions defaults() {
        return DEFAULTS;
    }

    /**
     * Whether the whole file is verified on opening.
     *
     * @return the setting of {@link Builder#verify(boolean)}
     */
    public boolean verify() {
        return verify;
    }

    /**
     * Whether an index that cannot be viewed in place is loaded instead.
     *
     * @return the setting of {@link Builder#loadIfUnviewable(boolean)}
     */
    public boolean loadIfUnviewable() {
        return loadIfUnviewable;
    }

    @Override
    public String toString() {
        return "ViewOptions[verify=" + verify + ", loadIfUnviewable=" + loadIfUnviewable + "]";
    }

    /** Builds {@link ViewOptions}. A builder can be reused. */
    public static final class Builder {
        private boolean verify;
        private boolean loadIfUnviewable;

        private Builder() {
        }

        /**
         * Whether to check the file's checksum over every byte and every stored value on opening,
         * as a load does (reads the whole file once). Default false: the header and section
         * table only, every length bounded by the file.
         *
         * @param verify true to verify
         * @return this builder
         */
        public Builder verify(boolean verify) {
            this.verify = verify;
            return this;
        }

        /**
         * Whether an index whose layout cannot be used in place is loaded into memory instead of
         * refused with {@link NearkitUnsupportedException}: a format version 1 file (saved before
         * views), or a buffer not starting at a 64-byte boundary. The result is then not a view
         * ({@link Index#isView()} is false; it is writable and owns its memory). Only that case
         * falls back: a damaged file still throws {@link CorruptIndexException}, a missing one
         * {@link NearkitIOException}. Default false.
         *
         * @param loadIfUnviewable true to load what cannot be viewed
         * @return this builder
         */
        public Builder loadIfUnviewable(boolean loadIfUnviewable) {
            this.loadIfUnviewable = loadIfUnviewable;
            return this;
        }

        /**
         * The options.
         *
         * @return immutable options holding this builder's settings
         */
        public ViewOptions build() {
            return new ViewOptions(this);
        }
    }
}
