#define _POSIX_C_SOURCE 200809L
#include "writers.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void cli_format_float(char *buf, size_t size, float v) {
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
        return;
    }
    for (int digits = 6; digits <= 9; ++digits) {
        snprintf(buf, size, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

static void store_le32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void store_le64(unsigned char *p, uint64_t v) {
    store_le32(p, (uint32_t)v);
    store_le32(p + 4, (uint32_t)(v >> 32));
}

static int write_npy_header(cli_sink *s, const char *descr) {
    char dict[160];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%llu, %llu), }",
                       descr, (unsigned long long)s->rows, (unsigned long long)s->cols);
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t header_len = padded - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    pre[8] = (unsigned char)header_len;
    pre[9] = (unsigned char)(header_len >> 8);
    if (fwrite(pre, 1, 10, s->f) != 10 || fwrite(dict, 1, (size_t)len, s->f) != (size_t)len)
        return -1;
    for (size_t i = 10 + (size_t)len; i + 1 < padded; ++i)
        if (fputc(' ', s->f) == EOF) return -1;
    return fputc('\n', s->f) == EOF ? -1 : 0;
}

int cli_sink_open(cli_sink *s, const char *path, cli_sink_content content, uint64_t rows,
                  uint64_t cols) {
    memset(s, 0, sizeof *s);
    s->content = content;
    s->rows = rows;
    s->cols = cols;
    if (!path) {
        s->format = CLI_FMT_TEXT;
        s->content = CLI_SINK_TEXT;
        s->f = stdout;
        s->path = "standard output";
        return 0;
    }
    s->path = path;
    if (content == CLI_SINK_IDS && (cli_has_extension(path, "txt") || cli_has_extension(path, "text"))) {
        s->format = CLI_FMT_TEXT;
        s->content = CLI_SINK_TEXT;
    } else if (content == CLI_SINK_IDS && cli_has_extension(path, "ivecs")) {
        s->format = CLI_FMT_VECS;
    } else if (content == CLI_SINK_DISTANCES && cli_has_extension(path, "fvecs")) {
        s->format = CLI_FMT_VECS;
    } else if (cli_has_extension(path, "npy")) {
        s->format = CLI_FMT_NPY;
        if (cols == 0)
            return cli_error("%s: range results vary in length per query and cannot be a .npy "
                             "array; use .%s or text",
                             path, content == CLI_SINK_IDS ? "ivecs" : "fvecs");
    } else {
        return cli_error("%s: unsupported output type '.%s' (use %s)", path, cli_extension(path),
                         content == CLI_SINK_IDS ? ".ivecs, .npy or .txt" : ".fvecs or .npy");
    }
    s->f = fopen(path, "wb");
    if (!s->f) return cli_error("%s: cannot create: %s", path, strerror(errno));
    s->owns_file = 1;
    if (s->format == CLI_FMT_NPY &&
        write_npy_header(s, content == CLI_SINK_IDS ? "<i8" : "<f4") != 0) {
        cli_error("%s: write error: %s", path, strerror(errno));
        cli_sink_abort(s);
        return -1;
    }
    return 0;
}

static int ensure_buf(cli_sink *s, size_t bytes) {
    if (bytes <= s->buf_size) return 0;
    unsigned char *p = realloc(s->buf, bytes);
    if (!p) return cli_error("out of memory");
    s->buf = p;
    s->buf_size = bytes;
    return 0;
}

static int write_text(cli_sink *s, const int64_t *ids, const float *distances, uint64_t count) {
    char num[48];
    for (uint64_t j = 0; j < count; ++j) {
        cli_format_float(num, sizeof num, distances[j]);
        if (fprintf(s->f, "%s%lld:%s", j ? " " : "", (long long)ids[j], num) < 0) return -1;
    }
    return fputc('\n', s->f) == EOF ? -1 : 0;
}

static int write_binary(cli_sink *s, const int64_t *ids, const float *distances, uint64_t count) {
    int npy = s->format == CLI_FMT_NPY;
    size_t item = npy && s->content == CLI_SINK_IDS ? 8 : 4;
    size_t bytes;
    if (cli_mul_size(&bytes, count, item) != 0 || ensure_buf(s, bytes + 4) != 0) return -2;
    unsigned char *p = s->buf;
    if (!npy) {
        if (count > INT32_MAX) return cli_error("%s: row too long for the format", s->path), -2;
        store_le32(p, (uint32_t)count);
        p += 4;
    }
    for (uint64_t j = 0; j < count; ++j, p += item) {
        if (s->content == CLI_SINK_DISTANCES) {
            uint32_t bits;
            memcpy(&bits, &distances[j], 4);
            store_le32(p, bits);
        } else if (npy) {
            store_le64(p, (uint64_t)ids[j]);
        } else {
            if (ids[j] < INT32_MIN || ids[j] > INT32_MAX)
                return cli_error("%s: id %lld does not fit in .ivecs int32; write .npy instead",
                                 s->path, (long long)ids[j]),
                       -2;
            store_le32(p, (uint32_t)(int32_t)ids[j]);
        }
    }
    size_t total = (size_t)(p - s->buf);
    return fwrite(s->buf, 1, total, s->f) == total ? 0 : -1;
}

int cli_sink_write(cli_sink *s, const int64_t *ids, const float *distances, uint64_t count) {
    if (s->format == CLI_FMT_NPY && count != s->cols)
        return cli_error("%s: internal: row of %llu values for a .npy of %llu columns", s->path,
                         (unsigned long long)count, (unsigned long long)s->cols);
    int rc = s->format == CLI_FMT_TEXT ? write_text(s, ids, distances, count)
                                       : write_binary(s, ids, distances, count);
    if (rc == -1) return cli_error("%s: write error: %s", s->path, strerror(errno));
    if (rc != 0) return -1;
    ++s->written;
    return 0;
}

int cli_sink_close(cli_sink *s) {
    int rc = 0;
    free(s->buf);
    s->buf = NULL;
    if (!s->f) return 0;
    if (s->format == CLI_FMT_NPY && s->written != s->rows)
        rc = cli_error("%s: internal: %llu rows written, %llu promised", s->path,
                       (unsigned long long)s->written, (unsigned long long)s->rows);
    if (fflush(s->f) != 0 || ferror(s->f))
        rc = cli_error("%s: write error: %s", s->path, strerror(errno));
    if (s->owns_file && fclose(s->f) != 0 && rc == 0)
        rc = cli_error("%s: write error: %s", s->path, strerror(errno));
    s->f = NULL;
    return rc;
}

void cli_sink_abort(cli_sink *s) {
    free(s->buf);
    s->buf = NULL;
    if (s->f && s->owns_file) {
        fclose(s->f);
        remove(s->path);
    }
    s->f = NULL;
}
