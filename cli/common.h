/* Shared helpers of the nearkit command-line program: error reporting, option parsing, strict
 * number parsing, timing and formatting. Uses only the public API (include/nearkit.h). */
#ifndef NEARKIT_CLI_COMMON_H
#define NEARKIT_CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nearkit.h"

/* Exit codes of the program. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1 /* bad input file, library error, I/O error */
#define CLI_EXIT_USAGE 2   /* bad command line */

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* Prints "nearkit: error: <message>" as one line on stderr (newlines in the message become
 * spaces). Returns -1 so callers can write `return cli_error(...)`. */
int cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* As cli_error, appending ": <library message> (<STATUS>)" from nearkit_last_error_message(). */
int cli_lib_error(nearkit_status status, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Prints "nearkit: warning: <message>" on stderr. */
void cli_warning(const char *fmt, ...) CLI_PRINTF(1, 2);

/* ---- Command-line options ---------------------------------------------------------------------- */

/* One option of a command: "--name VALUE" (or "--name=VALUE") when `value` is set, a flag
 * "--name" when `flag` is set. */
typedef struct cli_option {
    const char *name; /* without the leading "--" */
    const char **value;
    int *flag;
} cli_option;

/* Splits argv[1..argc) into options and positional arguments (at most max_positional, stored
 * in `positional`). "--" ends the options. Returns 0, or -1 after printing an error. */
int cli_parse_options(int argc, char **argv, const cli_option *options, size_t option_count,
                      const char **positional, size_t max_positional, size_t *positional_count);
/* 1 when argv[1..argc) asks for help ("--help" or "-h" before any "--"). */
int cli_wants_help(int argc, char **argv);

/* Strict parsers for option values: the whole string must be a number in range. Each returns 0,
 * or -1 after printing "nearkit: error: <what> ...". */
int cli_parse_u64(uint64_t *out, const char *text, const char *what, uint64_t min, uint64_t max);
int cli_parse_u32(uint32_t *out, const char *text, const char *what, uint32_t min, uint32_t max);
int cli_parse_float(float *out, const char *text, const char *what);

/* Looks up a metric / kind by name, printing an error listing the known names when unknown. */
int cli_metric_from_name(nearkit_metric *out, const char *name);
int cli_kind_from_name(nearkit_kind *out, const char *name);
/* Checks that the kind supports the metric, printing an error naming what it supports. */
int cli_check_kind_metric(nearkit_kind kind, nearkit_metric metric);
/* Writes the names of the metrics in `mask` (bit 1u << metric) separated by `sep`. */
void cli_metric_list(char *buf, size_t size, uint32_t mask, const char *sep);
/* Fills `info` for a kind value. Returns 0, or -1 (no error printed) when not compiled in. */
int cli_kind_info(nearkit_kind_info *info, nearkit_kind kind);

/* How a command opens an index file it only reads. */
typedef enum cli_open_mode {
    CLI_OPEN_VIEW_VERIFIED, /* default: a read-only view (mapped, nothing copied into the heap),
                               its checksum and values checked once, so a damaged file is refused */
    CLI_OPEN_VIEW,          /* --no-verify: a view that checks only the framing (O(sections)) */
    CLI_OPEN_LOAD,          /* --load: the whole file read into memory */
} cli_open_mode;

/* Opens an index file for reading in `mode`; a format 1 file that cannot be viewed is loaded.
 * Returns 0, or -1 after printing an error. */
int cli_open_index(nearkit_index **out, const char *path, cli_open_mode mode);
/* The mode the flags --load and --no-verify ask for; -1 (error printed) for both. */
int cli_open_mode_of(cli_open_mode *mode, int load, int no_verify);

/* Applies "name=value" pairs separated by commas or spaces with nearkit_index_set_param.
 * Returns 0, or -1 after printing an error. */
int cli_apply_params(nearkit_index *index, const char *params);

/* ---- Misc -------------------------------------------------------------------------------------- */

/* Seconds from a monotonic clock. */
double cli_now(void);
/* "12.3 MiB" style; writes into buf (at least 32 bytes) and returns it. */
const char *cli_format_bytes(char *buf, size_t size, uint64_t bytes);
/* Extension of the last path component without the dot ("fvecs"), or "" when none. */
const char *cli_extension(const char *path);
/* 1 when the extension of `path` equals `ext` (case-insensitive). */
int cli_has_extension(const char *path, const char *ext);
/* Overflow-checked a * b into *out; returns 0, or -1 when it does not fit in size_t. */
int cli_mul_size(size_t *out, uint64_t a, uint64_t b);

#endif
