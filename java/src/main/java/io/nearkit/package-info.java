/**
 * Nearest-neighbour search with the nearkit native library.
 *
 * <p>{@link io.nearkit.Index} is the entry point: build one with {@link io.nearkit.Index#builder()},
 * add vectors, search, save and load. {@link io.nearkit.Nearkit} lists the index kinds the native
 * library provides. The native library ships inside the jar for each supported platform and is
 * loaded on first use.
 */
package io.nearkit;
