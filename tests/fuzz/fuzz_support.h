/* What the fuzz harnesses share: the file format's checksum kept valid under mutation, the
 * outcomes the header allows a load to have, and the checks run on whatever loaded.
 *
 * The checksum: docs/format.md ends a file with a CRC-32 of every byte after the magic. A random
 * mutation breaks it, and the loader would refuse nearly every input at the checksum and never
 * reach a section parser. fuzz_support.c therefore defines libFuzzer's custom mutator and
 * crossover: they mutate as libFuzzer would and then recompute the CRC, so every input the fuzzer
 * keeps is a file the loader checks section by section, and a crash artifact is itself a file
 * that crashes nearkit_index_load (no harness needed to reproduce it). One mutation in sixteen
 * keeps the stale checksum, so the checksum test itself stays covered. */
#ifndef NEARKIT_FUZZ_SUPPORT_H
#define NEARKIT_FUZZ_SUPPORT_H

#include "nearkit.h"

#include <stddef.h>
#include <stdint.h>

/* Reports a broken promise of the library (with the status and message) and aborts, so that
 * libFuzzer records the input as a crash. */
_Noreturn void fuzz_fail(const char *what, nearkit_status status);

/* Prints a step of the harness to stderr when NEARKIT_FUZZ_TRACE is set: for turning a crash
 * artifact into a regression test (run the harness on the artifact alone). */
void fuzz_trace(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* A failed load must leave *out NULL and give one of the statuses a load of a damaged file may
 * give, with a message; a successful one an index. Aborts otherwise. */
void fuzz_expect_load_outcome(nearkit_status status, const nearkit_index *loaded);

/* Reads everything the introspection functions report of a loaded index (describe, every
 * parameter), which walks its structures once more. */
void fuzz_inspect(const nearkit_index *index);

/* Saves the index to a buffer and loads it back: what loaded (or was built) must save, load
 * again and hold the same number of vectors. Aborts otherwise. */
void fuzz_expect_round_trip(const nearkit_index *index);

#endif
