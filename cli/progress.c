#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int cli_progress_wanted(void) {
    const char *env = getenv("NEARKIT_PROGRESS");
    if (env && strcmp(env, "1") == 0) return 1;
    if (env && strcmp(env, "0") == 0) return 0;
    return isatty(fileno(stderr));
}

static void draw(cli_progress *p, uint64_t done, double now) {
    enum { WIDTH = 30 };
    double frac = p->total ? (double)done / (double)p->total : 1.0;
    if (frac > 1.0) frac = 1.0;
    int fill = (int)(frac * WIDTH + 0.5);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; ++i) bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    double elapsed = now - p->start;
    fprintf(stderr, "\r\033[K%s [%s] %3d%% %llu/%llu %.1fs", p->label, bar, (int)(frac * 100.0),
            (unsigned long long)done, (unsigned long long)p->total, elapsed);
    if (done > 0 && done < p->total && elapsed > 1.0)
        fprintf(stderr, " (eta %.0fs)", elapsed * (double)(p->total - done) / (double)done);
    fflush(stderr);
    p->last_draw = now;
}

void cli_progress_start(cli_progress *p, const char *label, uint64_t total) {
    memset(p, 0, sizeof *p);
    p->enabled = cli_progress_wanted();
    p->label = label;
    p->total = total;
    p->start = cli_now();
    if (p->enabled) draw(p, 0, p->start);
}

void cli_progress_update(cli_progress *p, uint64_t done) {
    if (!p->enabled) return;
    double now = cli_now();
    if (now - p->last_draw < 0.1 && done < p->total) return;
    draw(p, done, now);
}

void cli_progress_status(cli_progress *p, const char *label) {
    if (!p->enabled) return;
    fprintf(stderr, "\r\033[K%s ...", label);
    fflush(stderr);
}

void cli_progress_clear(cli_progress *p) {
    if (!p->enabled) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->last_draw = 0.0;
}

void cli_progress_finish(cli_progress *p) {
    if (!p->enabled) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->enabled = 0;
}
