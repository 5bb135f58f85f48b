/* A progress bar on stderr, drawn only when stderr is a terminal (or when the environment
 * variable NEARKIT_PROGRESS=1 forces it; NEARKIT_PROGRESS=0 turns it off). The C API has no
 * progress callback, so callers do their work in chunks and report after each. */
#ifndef NEARKIT_CLI_PROGRESS_H
#define NEARKIT_CLI_PROGRESS_H

#include <stdint.h>

typedef struct cli_progress {
    int enabled;
    const char *label;
    uint64_t total;
    double start;
    double last_draw;
} cli_progress;

/* 1 when progress bars are shown (stderr is a terminal, unless NEARKIT_PROGRESS says otherwise). */
int cli_progress_wanted(void);
/* Starts a bar for `total` units of work; draws nothing when bars are not wanted. */
void cli_progress_start(cli_progress *p, const char *label, uint64_t total);
/* Reports that `done` of the total units are finished (redrawn at most ten times a second). */
void cli_progress_update(cli_progress *p, uint64_t done);
/* Shows a one-off status without a bar, e.g. while a single long call runs. */
void cli_progress_status(cli_progress *p, const char *label);
/* Erases the bar for a moment (before printing on the same terminal); the next update redraws. */
void cli_progress_clear(cli_progress *p);
/* Erases the bar. */
void cli_progress_finish(cli_progress *p);

#endif
