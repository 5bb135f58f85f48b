/* Writers of search results ("sinks"), chosen by extension:
 *   text (stdout or .txt)  one line per query: "id:distance id:distance ..."
 *   .ivecs                 ids, one int32 row per query (rows may differ in length: range search)
 *   .fvecs                 distances, one float32 row per query (likewise)
 *   .npy                   ids as int64 or distances as float32, shape (queries, k): k-NN only
 * Missing neighbours (fewer than k vectors) are id -1 and distance inf. */
#ifndef NEARKIT_CLI_WRITERS_H
#define NEARKIT_CLI_WRITERS_H

#include <stdint.h>
#include <stdio.h>

typedef enum cli_sink_content { CLI_SINK_TEXT, CLI_SINK_IDS, CLI_SINK_DISTANCES } cli_sink_content;
typedef enum cli_sink_format { CLI_FMT_TEXT, CLI_FMT_VECS, CLI_FMT_NPY } cli_sink_format;

typedef struct cli_sink {
    cli_sink_content content;
    cli_sink_format format;
    FILE *f;
    const char *path; /* "standard output" for stdout */
    int owns_file;
    uint64_t rows, cols; /* npy: the shape promised in the header */
    uint64_t written;
    unsigned char *buf;  /* row encoding buffer */
    size_t buf_size;
} cli_sink;

/* Opens a sink. path NULL means text on standard output. `content` is what a file holds:
 * CLI_SINK_IDS accepts .ivecs / .npy / .txt (text then holds ids and distances),
 * CLI_SINK_DISTANCES accepts .fvecs / .npy. `rows` and `cols` are the shape for .npy; cols = 0
 * means rows vary in length (range search), which .npy refuses. Returns 0, or -1 after an
 * error. */
int cli_sink_open(cli_sink *s, const char *path, cli_sink_content content, uint64_t rows,
                  uint64_t cols);
/* Writes one query's results (count pairs). */
int cli_sink_write(cli_sink *s, const int64_t *ids, const float *distances, uint64_t count);
/* Flushes and closes; reports write errors. Safe on a sink that failed to open or was closed. */
int cli_sink_close(cli_sink *s);
/* Closes without reporting (after another error), removing a partly written file. */
void cli_sink_abort(cli_sink *s);

/* Formats a float with the fewest digits (6..9) that read back as the same float32. */
void cli_format_float(char *buf, size_t size, float v);

#endif
