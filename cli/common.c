#define _POSIX_C_SOURCE 200809L
#define NEARKIT_EXPERIMENTAL /* nearkit_index_view */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- Errors ------------------------------------------------------------------------------------ */

/* Writes text to stderr with control characters (newlines included) replaced by spaces, so that
 * every message stays on one line. */
static void put_one_line(const char *text) {
    for (const char *p = text; *p; ++p) {
        unsigned char c = (unsigned char)*p;
        fputc(c < 0x20 || c == 0x7f ? ' ' : c, stderr);
    }
}

static void vreport(const char *prefix, const char *fmt, va_list ap, const char *suffix) {
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fputs(prefix, stderr);
    put_one_line(buf);
    if (suffix) put_one_line(suffix);
    fputc('\n', stderr);
    fflush(stderr);
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("nearkit: error: ", fmt, ap, NULL);
    va_end(ap);
    return -1;
}

int cli_lib_error(nearkit_status status, const char *fmt, ...) {
    char suffix[1400];
    const char *message = nearkit_last_error_message();
    if (!message || !*message) message = "no details";
    snprintf(suffix, sizeof suffix, ": %.1200s (%s)", message, nearkit_status_name(status));
    va_list ap;
    va_start(ap, fmt);
    vreport("nearkit: error: ", fmt, ap, suffix);
    va_end(ap);
    return -1;
}

void cli_warning(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("nearkit: warning: ", fmt, ap, NULL);
    va_end(ap);
}

/* ---- Options ----------------------------------------------------------------------------------- */

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    }
    return 0;
}

static const cli_option *find_option(const cli_option *options, size_t count, const char *name,
                                     size_t len) {
    for (size_t i = 0; i < count; ++i)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

int cli_parse_options(int argc, char **argv, const cli_option *options, size_t option_count,
                      const char **positional, size_t max_positional, size_t *positional_count) {
    size_t npos = 0;
    int options_done = 0;
    for (int i = 1; i < argc; ++i) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const cli_option *opt = find_option(options, option_count, name, len);
            if (!opt) return cli_error("unknown option '--%.*s' (see --help)", (int)len, name);
            if (opt->flag) {
                if (eq) return cli_error("option '--%s' takes no value", opt->name);
                *opt->flag = 1;
            } else if (eq) {
                *opt->value = eq + 1;
            } else {
                if (i + 1 >= argc) return cli_error("option '--%s' needs a value", opt->name);
                *opt->value = argv[++i];
            }
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] != '\0')
            return cli_error("unknown option '%s' (options start with '--'; see --help)", arg);
        if (npos >= max_positional)
            return cli_error("unexpected argument '%s' (see --help)", arg);
        positional[npos++] = arg;
    }
    *positional_count = npos;
    return 0;
}

/* ---- Numbers ----------------------------------------------------------------------------------- */

int cli_parse_u64(uint64_t *out, const char *text, const char *what, uint64_t min, uint64_t max) {
    if (!text || !*text) return cli_error("%s: empty value", what);
    for (const char *p = text; *p; ++p)
        if (!isdigit((unsigned char)*p))
            return cli_error("%s: '%s' is not a non-negative integer", what, text);
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno == ERANGE || *end != '\0' || v > max || v < min) {
        if (max == UINT64_MAX)
            return cli_error("%s: %s is out of range (at least %llu)", what, text,
                             (unsigned long long)min);
        return cli_error("%s: %s is out of range (%llu to %llu)", what, text,
                         (unsigned long long)min, (unsigned long long)max);
    }
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_u32(uint32_t *out, const char *text, const char *what, uint32_t min, uint32_t max) {
    uint64_t v;
    if (cli_parse_u64(&v, text, what, min, max) != 0) return -1;
    *out = (uint32_t)v;
    return 0;
}

int cli_parse_float(float *out, const char *text, const char *what) {
    if (!text || !*text) return cli_error("%s: empty value", what);
    errno = 0;
    char *end = NULL;
    double v = strtod(text, &end);
    if (*end != '\0' || end == text) return cli_error("%s: '%s' is not a number", what, text);
    if (isnan(v)) return cli_error("%s: NaN is not allowed", what);
    if (isfinite(v) && fabs(v) > 3.4028234663852886e38)
        return cli_error("%s: %s is out of the float32 range", what, text);
    *out = (float)v;
    return 0;
}

/* ---- Names ------------------------------------------------------------------------------------- */

int cli_metric_from_name(nearkit_metric *out, const char *name) {
    nearkit_metric m;
    if (nearkit_metric_from_name(&m, name) == NEARKIT_OK) {
        *out = m;
        return 0;
    }
    return cli_error("unknown metric '%s' (known: l2, l1, linf, cosine, ip, hamming)", name);
}

int cli_kind_from_name(nearkit_kind *out, const char *name) {
    nearkit_kind k;
    if (nearkit_kind_from_name(&k, name) == NEARKIT_OK) {
        *out = k;
        return 0;
    }
    char known[512] = "";
    size_t used = 0;
    size_t count = nearkit_kind_count();
    for (size_t i = 0; i < count; ++i) {
        nearkit_kind_info info;
        info.struct_size = (uint32_t)sizeof info;
        if (nearkit_kind_get_info(&info, i) != NEARKIT_OK) continue;
        int w = snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", info.name);
        if (w < 0 || (size_t)w >= sizeof known - used) break;
        used += (size_t)w;
    }
    return cli_error("unknown index kind '%s' (this library has: %s)", name, known);
}

int cli_kind_info(nearkit_kind_info *info, nearkit_kind kind) {
    size_t count = nearkit_kind_count();
    for (size_t i = 0; i < count; ++i) {
        memset(info, 0, sizeof *info);
        info->struct_size = (uint32_t)sizeof *info;
        if (nearkit_kind_get_info(info, i) == NEARKIT_OK && info->kind == kind) return 0;
    }
    return -1;
}

void cli_metric_list(char *buf, size_t size, uint32_t mask, const char *sep) {
    size_t used = 0;
    buf[0] = '\0';
    for (nearkit_metric m = 1; m < 32; ++m) {
        const char *name = nearkit_metric_name(m);
        if (!name || !(mask & (1u << m))) continue;
        int w = snprintf(buf + used, size - used, "%s%s", used ? sep : "", name);
        if (w < 0 || (size_t)w >= size - used) break;
        used += (size_t)w;
    }
}

int cli_check_kind_metric(nearkit_kind kind, nearkit_metric metric) {
    nearkit_kind_info info;
    if (cli_kind_info(&info, kind) != 0)
        return cli_error("index kind %ld is not in this library", (long)kind);
    if (metric > 0 && metric < 32 && (info.metric_mask & (1u << metric))) return 0;
    char known[128];
    cli_metric_list(known, sizeof known, info.metric_mask, ", ");
    const char *mname = nearkit_metric_name(metric);
    return cli_error("index kind '%s' does not support metric '%s' (it supports: %s)", info.name,
                     mname ? mname : "?", known);
}

int cli_apply_params(nearkit_index *index, const char *params) {
    const char *p = params;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p)) ++p;
        if (!*p) break;
        const char *end = p;
        while (*end && *end != ',' && !isspace((unsigned char)*end)) ++end;
        char item[128];
        if ((size_t)(end - p) >= sizeof item)
            return cli_error("--params: '%.40s...' is too long", p);
        memcpy(item, p, (size_t)(end - p));
        item[end - p] = '\0';
        p = end;
        char *eq = strchr(item, '=');
        if (!eq || eq == item || !eq[1])
            return cli_error("--params: '%s' is not of the form name=value", item);
        *eq = '\0';
        char *num_end = NULL;
        double value = strtod(eq + 1, &num_end);
        if (*num_end != '\0' || isnan(value))
            return cli_error("--params: the value of '%s' ('%s') is not a number", item, eq + 1);
        nearkit_status st = nearkit_index_set_param(index, item, value);
        if (st != NEARKIT_OK) return cli_lib_error(st, "--params: cannot set '%s'", item);
    }
    return 0;
}

/* ---- Misc -------------------------------------------------------------------------------------- */

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *cli_format_bytes(char *buf, size_t size, uint64_t bytes) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        ++u;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

const char *cli_extension(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot + 1 : "";
}

int cli_has_extension(const char *path, const char *ext) {
    return strcasecmp(cli_extension(path), ext) == 0;
}

int cli_mul_size(size_t *out, uint64_t a, uint64_t b) {
    if (a != 0 && b > (uint64_t)SIZE_MAX / a) return -1;
    *out = (size_t)(a * b);
    return 0;
}

int cli_open_index(nearkit_index **out, const char *path, cli_open_mode mode) {
    *out = NULL;
    nearkit_view_options options = NEARKIT_VIEW_OPTIONS_INIT;
    options.verify = mode == CLI_OPEN_VIEW_VERIFIED;
    options.load_if_unviewable = 1; /* a format 1 file */
    nearkit_status st = mode == CLI_OPEN_LOAD ? nearkit_index_load(out, path)
                                              : nearkit_index_view(out, path, &options);
    if (st == NEARKIT_OK) return 0;
    const char *message = nearkit_last_error_message();
    cli_lib_error(st, "cannot open the index%s%s", strstr(message, path) ? "" : " ",
                  strstr(message, path) ? "" : path);
    return -1;
}

int cli_open_mode_of(cli_open_mode *mode, int load, int no_verify) {
    if (load && no_verify) return cli_error("give either --load or --no-verify, not both");
    *mode = load ? CLI_OPEN_LOAD : no_verify ? CLI_OPEN_VIEW : CLI_OPEN_VIEW_VERIFIED;
    return 0;
}
