#define _POSIX_C_SOURCE 200809L
#include "readers.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "annfile.h"
#include "common.h"

/* ---- Element types ----------------------------------------------------------------------------- */

const char *cli_elem_name(cli_elem elem) {
    switch (elem) {
    case CLI_ELEM_F32: return "float32";
    case CLI_ELEM_U8: return "uint8";
    case CLI_ELEM_I32: return "int32";
    }
    return "?";
}

size_t cli_elem_size(cli_elem elem) { return elem == CLI_ELEM_U8 ? 1 : 4; }

void cli_matrix_free(cli_matrix *m) {
    if (!m) return;
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* ---- Byte order -------------------------------------------------------------------------------- */

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static uint32_t load_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Converts `count` little-endian items of `size` bytes in place to host order. */
static void le_to_host(void *data, size_t count, size_t size) {
    if (size == 1 || host_is_little_endian()) return;
    unsigned char *p = data;
    for (size_t i = 0; i < count; ++i, p += size)
        for (size_t a = 0, b = size - 1; a < b; ++a, --b) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* ---- Files ------------------------------------------------------------------------------------- */

typedef struct rfile {
    FILE *f;
    uint64_t size;
    const char *path;
} rfile;

static int rfile_open(rfile *rf, const char *path) {
    memset(rf, 0, sizeof *rf);
    rf->path = path;
    rf->f = fopen(path, "rb");
    if (!rf->f) return cli_error("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(rf->f), &st) != 0) {
        cli_error("%s: cannot stat: %s", path, strerror(errno));
        fclose(rf->f);
        rf->f = NULL;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_error("%s: not a regular file", path);
        fclose(rf->f);
        rf->f = NULL;
        return -1;
    }
    rf->size = (uint64_t)st.st_size;
    return 0;
}

static void rfile_close(rfile *rf) {
    if (rf->f) fclose(rf->f);
    rf->f = NULL;
}

static int rfile_read(rfile *rf, void *buf, size_t n) {
    if (n == 0) return 0;
    if (fread(buf, 1, n, rf->f) != n) {
        if (ferror(rf->f)) return cli_error("%s: read error: %s", rf->path, strerror(errno));
        return cli_error("%s: unexpected end of file (the file changed while being read?)",
                         rf->path);
    }
    return 0;
}

static void *alloc_matrix(cli_elem elem, uint64_t rows, uint64_t cols, const char *path) {
    size_t cells, bytes;
    if (cli_mul_size(&cells, rows, cols) != 0 ||
        cli_mul_size(&bytes, cells, cli_elem_size(elem)) != 0) {
        cli_error("%s: %llu x %llu values do not fit in memory", path, (unsigned long long)rows,
                  (unsigned long long)cols);
        return NULL;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        cli_error("%s: out of memory for %llu x %llu values", path, (unsigned long long)rows,
                  (unsigned long long)cols);
    return p;
}

/* ---- TEXMEX .fvecs / .bvecs / .ivecs ----------------------------------------------------------- */

static int read_vecs(cli_matrix *out, const char *path, cli_elem elem) {
    const char *ext = cli_extension(path);
    rfile rf;
    if (rfile_open(&rf, path) != 0) return -1;
    int rc = -1;
    void *data = NULL;
    unsigned char head[4];
    if (rf.size == 0) {
        cli_error("%s: empty file (no vectors)", path);
        goto done;
    }
    if (rf.size < 4) {
        cli_error("%s: truncated: %llu bytes is shorter than one row header", path,
                  (unsigned long long)rf.size);
        goto done;
    }
    if (rfile_read(&rf, head, 4) != 0) goto done;
    int32_t dim = (int32_t)load_le32(head);
    if (dim <= 0) {
        cli_error("%s: first row has dimension %ld; a .%s row must start with a positive int32 "
                  "count (not a .%s file?)",
                  path, (long)dim, ext, ext);
        goto done;
    }
    uint64_t es = cli_elem_size(elem);
    uint64_t row = 4 + (uint64_t)dim * es;
    if (row > rf.size) {
        cli_error("%s: truncated: first row declares %ld values (%llu bytes) but the file has "
                  "%llu bytes",
                  path, (long)dim, (unsigned long long)row, (unsigned long long)rf.size);
        goto done;
    }
    if (rf.size % row != 0) {
        cli_error("%s: truncated or corrupt: file size %llu is not a multiple of the row size "
                  "%llu (dimension %ld)",
                  path, (unsigned long long)rf.size, (unsigned long long)row, (long)dim);
        goto done;
    }
    uint64_t rows = rf.size / row;
    data = alloc_matrix(elem, rows, (uint64_t)dim, path);
    if (!data) goto done;
    size_t row_data = (size_t)dim * (size_t)es;
    unsigned char *dst = data;
    for (uint64_t r = 0; r < rows; ++r, dst += row_data) {
        if (r > 0) {
            if (rfile_read(&rf, head, 4) != 0) goto done;
            int32_t d = (int32_t)load_le32(head);
            if (d != dim) {
                cli_error("%s: row %llu has dimension %ld, expected %ld like row 0 (corrupt file "
                          "or rows of mixed length)",
                          path, (unsigned long long)r, (long)d, (long)dim);
                goto done;
            }
        }
        if (rfile_read(&rf, dst, row_data) != 0) goto done;
    }
    le_to_host(data, (size_t)rows * (size_t)dim, (size_t)es);
    out->elem = elem;
    out->rows = rows;
    out->cols = (uint64_t)dim;
    out->data = data;
    data = NULL;
    rc = 0;
done:
    free(data);
    rfile_close(&rf);
    return rc;
}

/* ---- .npy -------------------------------------------------------------------------------------- */

/* A minimal reader of the Python literal dict in a .npy header, e.g.
 * {'descr': '<f4', 'fortran_order': False, 'shape': (1000, 64), } */
typedef struct npy_header {
    char descr[16];
    int fortran_order; /* -1 until seen */
    int ndim;          /* -1 until seen */
    uint64_t shape[8];
} npy_header;

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') ++p;
    return p;
}

/* Parses a quoted string at p into buf; returns the position after it or NULL. */
static const char *parse_quoted(const char *p, char *buf, size_t size) {
    char quote = *p;
    if (quote != '\'' && quote != '"') return NULL;
    const char *end = strchr(p + 1, quote);
    if (!end || (size_t)(end - p - 1) >= size) return NULL;
    memcpy(buf, p + 1, (size_t)(end - p - 1));
    buf[end - p - 1] = '\0';
    return end + 1;
}

static const char *parse_shape(const char *p, npy_header *h) {
    if (*p != '(') return NULL;
    p = skip_space(p + 1);
    h->ndim = 0;
    while (*p != ')') {
        if (*p < '0' || *p > '9') return NULL;
        uint64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > (UINT64_MAX - 9) / 10) return NULL;
            v = v * 10 + (uint64_t)(*p - '0');
            ++p;
        }
        if (*p == 'L') ++p; /* written by old Python 2 numpy */
        if (h->ndim >= 8) return NULL;
        h->shape[h->ndim++] = v;
        p = skip_space(p);
        if (*p == ',') p = skip_space(p + 1);
        else if (*p != ')') return NULL;
    }
    return p + 1;
}

static int parse_npy_header(npy_header *h, const char *text) {
    memset(h, 0, sizeof *h);
    h->fortran_order = -1;
    h->ndim = -1;
    const char *p = skip_space(text);
    if (*p != '{') return -1;
    p = skip_space(p + 1);
    while (*p != '}') {
        char key[32];
        p = parse_quoted(p, key, sizeof key);
        if (!p) return -1;
        p = skip_space(p);
        if (*p != ':') return -1;
        p = skip_space(p + 1);
        if (strcmp(key, "descr") == 0) {
            p = parse_quoted(p, h->descr, sizeof h->descr);
        } else if (strcmp(key, "fortran_order") == 0) {
            if (strncmp(p, "True", 4) == 0) h->fortran_order = 1, p += 4;
            else if (strncmp(p, "False", 5) == 0) h->fortran_order = 0, p += 5;
            else return -1;
        } else if (strcmp(key, "shape") == 0) {
            p = parse_shape(p, h);
        } else {
            return -1;
        }
        if (!p) return -1;
        p = skip_space(p);
        if (*p == ',') p = skip_space(p + 1);
        else if (*p != '}') return -1;
    }
    return h->descr[0] && h->fortran_order >= 0 && h->ndim >= 0 ? 0 : -1;
}

/* Source element types a .npy may hold. */
typedef enum npy_type { NPY_F32, NPY_F64, NPY_U8, NPY_I32, NPY_I64 } npy_type;

static int npy_type_from_descr(npy_type *t, size_t *itemsize, const char *descr, const char *path) {
    char order = descr[0];
    const char *code = descr + 1;
    if (order != '<' && order != '|' && order != '>' && order != '=') {
        order = '|';
        code = descr;
    }
    static const struct { const char *code; npy_type type; size_t size; } known[] = {
        {"f4", NPY_F32, 4}, {"f8", NPY_F64, 8}, {"u1", NPY_U8, 1},
        {"i4", NPY_I32, 4}, {"i8", NPY_I64, 8},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; ++i) {
        if (strcmp(code, known[i].code) != 0) continue;
        if (order == '>' && known[i].size > 1)
            return cli_error("%s: big-endian data ('%s') is not supported; save it little-endian",
                             path, descr);
        if (order == '=' && known[i].size > 1 && !host_is_little_endian())
            return cli_error("%s: native big-endian data ('%s') is not supported", path, descr);
        *t = known[i].type;
        *itemsize = known[i].size;
        return 0;
    }
    return cli_error("%s: unsupported dtype '%s' (use float32, float64 or uint8; int32/int64 for "
                     "ground truth)",
                     path, descr);
}

/* Reads rows*cols items of the given .npy type and converts them into `dst` of `elem`. */
static int read_npy_data(rfile *rf, void *dst, npy_type t, size_t itemsize, size_t cells) {
    enum { CHUNK = 65536 };
    unsigned char *buf = malloc(CHUNK * 8);
    if (!buf) return cli_error("%s: out of memory", rf->path);
    int rc = -1;
    for (size_t done = 0; done < cells;) {
        size_t n = cells - done < CHUNK ? cells - done : CHUNK;
        if (rfile_read(rf, buf, n * itemsize) != 0) goto out;
        le_to_host(buf, n, itemsize);
        for (size_t i = 0; i < n; ++i) {
            size_t at = done + i;
            switch (t) {
            case NPY_F32: memcpy((float *)dst + at, buf + 4 * i, 4); break;
            case NPY_U8: ((uint8_t *)dst)[at] = buf[i]; break;
            case NPY_I32: memcpy((int32_t *)dst + at, buf + 4 * i, 4); break;
            case NPY_F64: {
                double v;
                memcpy(&v, buf + 8 * i, 8);
                if (isfinite(v) && fabs(v) > 3.4028234663852886e38) {
                    cli_error("%s: value %g at position %llu is out of the float32 range",
                              rf->path, v, (unsigned long long)at);
                    goto out;
                }
                ((float *)dst)[at] = (float)v;
                break;
            }
            case NPY_I64: {
                int64_t v;
                memcpy(&v, buf + 8 * i, 8);
                if (v < INT32_MIN || v > INT32_MAX) {
                    cli_error("%s: value %lld at position %llu does not fit in int32", rf->path,
                              (long long)v, (unsigned long long)at);
                    goto out;
                }
                ((int32_t *)dst)[at] = (int32_t)v;
                break;
            }
            }
        }
        done += n;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

static int read_npy(cli_matrix *out, const char *path) {
    rfile rf;
    if (rfile_open(&rf, path) != 0) return -1;
    int rc = -1;
    char *text = NULL;
    void *data = NULL;
    unsigned char pre[12];
    if (rf.size < 10) {
        cli_error("%s: truncated: %llu bytes is too short for a .npy header", path,
                  (unsigned long long)rf.size);
        goto done;
    }
    if (rfile_read(&rf, pre, 10) != 0) goto done;
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        cli_error("%s: not a .npy file (bad magic bytes)", path);
        goto done;
    }
    uint64_t header_len, prefix;
    if (pre[6] == 1) {
        header_len = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        prefix = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (rf.size < 12 || rfile_read(&rf, pre + 10, 2) != 0) {
            cli_error("%s: truncated .npy header", path);
            goto done;
        }
        header_len = load_le32(pre + 8);
        prefix = 12;
    } else {
        cli_error("%s: unsupported .npy format version %u.%u", path, pre[6], pre[7]);
        goto done;
    }
    if (header_len > rf.size - prefix || header_len > (1u << 20)) {
        cli_error("%s: truncated or corrupt: header length %llu exceeds the file", path,
                  (unsigned long long)header_len);
        goto done;
    }
    text = malloc((size_t)header_len + 1);
    if (!text) {
        cli_error("%s: out of memory", path);
        goto done;
    }
    if (rfile_read(&rf, text, (size_t)header_len) != 0) goto done;
    text[header_len] = '\0';
    if (strlen(text) != header_len) {
        cli_error("%s: corrupt .npy header (NUL byte)", path);
        goto done;
    }
    npy_header h;
    if (parse_npy_header(&h, text) != 0) {
        cli_error("%s: corrupt or unsupported .npy header", path);
        goto done;
    }
    npy_type t = NPY_F32;
    size_t itemsize = 1;
    if (npy_type_from_descr(&t, &itemsize, h.descr, path) != 0) goto done;
    if (h.fortran_order) {
        cli_error("%s: Fortran-order arrays are not supported (save a C-order array)", path);
        goto done;
    }
    if (h.ndim != 2) {
        cli_error("%s: expected a 2-d array (rows x columns), got %d dimension(s)", path, h.ndim);
        goto done;
    }
    uint64_t rows = h.shape[0], cols = h.shape[1];
    if (cols == 0) {
        cli_error("%s: the array has zero columns", path);
        goto done;
    }
    uint64_t payload = rf.size - prefix - header_len;
    if (rows > payload / cols / itemsize) {
        cli_error("%s: truncated or corrupt: shape (%llu, %llu) of %s needs more data than the "
                  "%llu bytes the file holds",
                  path, (unsigned long long)rows, (unsigned long long)cols, h.descr,
                  (unsigned long long)payload);
        goto done;
    }
    if (rows * cols * itemsize != payload) {
        cli_error("%s: corrupt: shape (%llu, %llu) of %s needs %llu bytes of data, the file holds "
                  "%llu",
                  path, (unsigned long long)rows, (unsigned long long)cols, h.descr,
                  (unsigned long long)(rows * cols * itemsize), (unsigned long long)payload);
        goto done;
    }
    cli_elem elem = t == NPY_U8 ? CLI_ELEM_U8
                    : (t == NPY_I32 || t == NPY_I64) ? CLI_ELEM_I32
                                                     : CLI_ELEM_F32;
    data = alloc_matrix(elem, rows, cols, path);
    if (!data) goto done;
    if (read_npy_data(&rf, data, t, itemsize, (size_t)(rows * cols)) != 0) goto done;
    out->elem = elem;
    out->rows = rows;
    out->cols = cols;
    out->data = data;
    data = NULL;
    rc = 0;
done:
    free(data);
    free(text);
    rfile_close(&rf);
    return rc;
}

/* ---- .csv -------------------------------------------------------------------------------------- */

typedef struct float_buf {
    float *data;
    size_t len, cap;
} float_buf;

static int float_buf_push(float_buf *b, float v) {
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        float *p = realloc(b->data, cap * sizeof *p);
        if (!p) return -1;
        b->data = p;
        b->cap = cap;
    }
    b->data[b->len++] = v;
    return 0;
}

/* Trims spaces, tabs and one pair of surrounding double quotes from [*s, *e). */
static void trim_field(const char **s, const char **e) {
    while (*s < *e && (**s == ' ' || **s == '\t')) ++*s;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t')) --*e;
    if (*e - *s >= 2 && **s == '"' && (*e)[-1] == '"') ++*s, --*e;
}

/* Parses one field as a number; returns 0 and *v, or -1 when not numeric. */
static int parse_field(double *v, const char *s, const char *e) {
    char tmp[64];
    size_t len = (size_t)(e - s);
    if (len == 0 || len >= sizeof tmp) return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end = NULL;
    errno = 0;
    *v = strtod(tmp, &end);
    return end == tmp + len ? 0 : -1;
}

/* 1 when some field of the line is text (not empty and not a number): a header line. */
static int line_has_text(const char *s, const char *e) {
    for (const char *f = s; f <= e;) {
        const char *c = memchr(f, ',', (size_t)(e - f));
        const char *fe = c ? c : e;
        const char *a = f, *b = fe;
        trim_field(&a, &b);
        double v;
        if (a != b && parse_field(&v, a, b) != 0) return 1;
        f = fe + 1;
    }
    return 0;
}

static int csv_parse(cli_matrix *out, const char *text, size_t size, const char *path) {
    float_buf buf = {0};
    uint64_t cols = 0, rows = 0;
    size_t line_no = 0;
    int seen_first = 0;
    const char *p = text, *end = text + size;
    if (size >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* UTF-8 byte order mark */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *ls = p;
        p = nl ? nl + 1 : end;
        ++line_no;
        if (le > ls && le[-1] == '\r') --le;
        const char *a = ls, *b = le;
        trim_field(&a, &b);
        if (a == b) continue; /* blank line */
        if (!seen_first) {
            seen_first = 1;
            if (line_has_text(ls, le)) continue; /* header */
        }
        uint64_t n = 0;
        for (const char *f = ls; f <= le;) {
            const char *c = memchr(f, ',', (size_t)(le - f));
            const char *fe = c ? c : le;
            const char *fs = f;
            trim_field(&fs, &fe);
            double v;
            if (parse_field(&v, fs, fe) != 0) {
                cli_error("%s: line %zu, column %llu: '%.*s' is not a number", path, line_no,
                          (unsigned long long)n + 1, (int)(fe - fs > 40 ? 40 : fe - fs), fs);
                goto fail;
            }
            if (!isfinite(v) || fabs(v) > 3.4028234663852886e38) {
                cli_error("%s: line %zu, column %llu: %.*s is not a finite float32 value", path,
                          line_no, (unsigned long long)n + 1, (int)(fe - fs > 40 ? 40 : fe - fs),
                          fs);
                goto fail;
            }
            if (float_buf_push(&buf, (float)v) != 0) {
                cli_error("%s: out of memory", path);
                goto fail;
            }
            ++n;
            f = (c ? c : le) + 1;
        }
        if (rows == 0) cols = n;
        else if (n != cols) {
            cli_error("%s: line %zu has %llu values, expected %llu like the first row", path,
                      line_no, (unsigned long long)n, (unsigned long long)cols);
            goto fail;
        }
        ++rows;
    }
    if (rows == 0) {
        cli_error("%s: no numeric rows", path);
        goto fail;
    }
    out->elem = CLI_ELEM_F32;
    out->rows = rows;
    out->cols = cols;
    out->data = buf.data;
    return 0;
fail:
    free(buf.data);
    return -1;
}

/* A whole text file as a NUL-terminated string (*text, freed by the caller); `kind` names what
 * it should hold in the message for binary data. Returns 0, or -1 after printing an error. */
static int read_text(char **text, const char *path, const char *kind) {
    *text = NULL;
    rfile rf;
    if (rfile_open(&rf, path) != 0) return -1;
    int rc = -1;
    if (rf.size > (uint64_t)SIZE_MAX - 1 || !(*text = malloc((size_t)rf.size + 1))) {
        cli_error("%s: out of memory for a %llu-byte file", path, (unsigned long long)rf.size);
        goto done;
    }
    if (rfile_read(&rf, *text, (size_t)rf.size) != 0) goto done;
    (*text)[rf.size] = '\0';
    if (memchr(*text, '\0', (size_t)rf.size)) {
        cli_error("%s: binary data in %s", path, kind);
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) {
        free(*text);
        *text = NULL;
    }
    rfile_close(&rf);
    return rc;
}

static int read_csv(cli_matrix *out, const char *path) {
    char *text = NULL;
    if (read_text(&text, path, "a .csv file") != 0) return -1;
    int rc = -1;
    if (text[0] == '\0') cli_error("%s: empty file (no vectors)", path);
    else rc = csv_parse(out, text, strlen(text), path);
    free(text);
    return rc;
}

/* ---- Id lists --------------------------------------------------------------------------------- */

/* Parses one whitespace-free token as an int64 id. Returns 0, or -1 after printing an error. */
static int parse_id(int64_t *out, const char *token, size_t len, const char *path, uint64_t line) {
    char buf[32];
    if (len >= sizeof buf)
        return cli_error("%s: line %llu: '%.24s...' is not an id (a decimal 64-bit integer)", path,
                         (unsigned long long)line, token);
    memcpy(buf, token, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (end == buf || *end != '\0' || errno == ERANGE)
        return cli_error("%s: line %llu: '%s' is not an id (a decimal 64-bit integer)", path,
                         (unsigned long long)line, buf);
    *out = (int64_t)v;
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Splits text (NUL-terminated) into ids; *ids grows as needed. */
static int parse_ids(int64_t **ids, uint64_t *n, const char *text, const char *path) {
    uint64_t cap = 0, line = 1;
    const char *p = text;
    while (*p) {
        if (is_space(*p)) {
            line += *p++ == '\n';
            continue;
        }
        const char *token = p;
        while (*p && !is_space(*p)) p++;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            int64_t *grown = cap <= SIZE_MAX / sizeof **ids ? realloc(*ids, (size_t)cap * sizeof **ids) : NULL;
            if (!grown) return cli_error("%s: out of memory for %llu ids", path, (unsigned long long)cap);
            *ids = grown;
        }
        if (parse_id(&(*ids)[*n], token, (size_t)(p - token), path, line) != 0) return -1;
        ++*n;
    }
    return 0;
}

int cli_read_ids(int64_t **ids, uint64_t *n, const char *path) {
    *ids = NULL;
    *n = 0;
    char *text = NULL;
    if (read_text(&text, path, "a file of ids (expected decimal ids, one a line)") != 0) return -1;
    int rc = parse_ids(ids, n, text, path);
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    free(text);
    return rc;
}

/* ---- Dispatch ---------------------------------------------------------------------------------- */

int cli_read_matrix(cli_matrix *out, const char *path) {
    memset(out, 0, sizeof *out);
    if (cli_has_extension(path, "fvecs")) return read_vecs(out, path, CLI_ELEM_F32);
    if (cli_has_extension(path, "bvecs")) return read_vecs(out, path, CLI_ELEM_U8);
    if (cli_has_extension(path, "ivecs")) return read_vecs(out, path, CLI_ELEM_I32);
    if (cli_has_extension(path, "npy")) return read_npy(out, path);
    if (cli_has_extension(path, "csv")) return read_csv(out, path);
    if (cli_is_hdf5_path(path))
        return cli_error("%s: an ann-benchmarks .hdf5 file is given whole: as BASE of build, "
                         "QUERIES of search, or alone to bench",
                         path);
    return cli_error("%s: unknown file type '.%s' (use .fvecs, .bvecs, .ivecs, .npy, .csv or "
                     ".hdf5)",
                     path, cli_extension(path));
}

/* ---- Vectors ----------------------------------------------------------------------------------- */

nearkit_vector_type cli_metric_vector_type(nearkit_metric metric) {
    return metric == NEARKIT_METRIC_HAMMING ? NEARKIT_VECTOR_BINARY : NEARKIT_VECTOR_FLOAT32;
}

void cli_vectors_free(cli_vectors *v) {
    if (!v) return;
    free(v->data);
    memset(v, 0, sizeof *v);
}

static int to_float(cli_vectors *out, cli_matrix *m, const char *what) {
    if (m->cols > UINT32_MAX)
        return cli_error("%s: dimension %llu is too large", what, (unsigned long long)m->cols);
    out->type = NEARKIT_VECTOR_FLOAT32;
    out->dimension = (uint32_t)m->cols;
    out->n = m->rows;
    out->row_bytes = (size_t)m->cols * sizeof(float);
    if (m->elem == CLI_ELEM_F32) {
        out->data = m->data;
        m->data = NULL;
        return 0;
    }
    float *f = alloc_matrix(CLI_ELEM_F32, m->rows, m->cols, what);
    if (!f) return -1;
    const uint8_t *src = m->data;
    for (size_t i = 0, n = (size_t)(m->rows * m->cols); i < n; ++i) f[i] = (float)src[i];
    out->data = f;
    return 0;
}

static int to_binary(cli_vectors *out, cli_matrix *m, const char *what) {
    if (m->cols > UINT32_MAX / 8)
        return cli_error("%s: %llu bytes per vector is too many bits", what,
                         (unsigned long long)m->cols);
    out->type = NEARKIT_VECTOR_BINARY;
    out->dimension = (uint32_t)(m->cols * 8);
    out->n = m->rows;
    out->row_bytes = (size_t)m->cols;
    if (m->elem == CLI_ELEM_U8) {
        out->data = m->data;
        m->data = NULL;
        return 0;
    }
    uint8_t *b = alloc_matrix(CLI_ELEM_U8, m->rows, m->cols, what);
    if (!b) return -1;
    const float *src = m->data;
    for (size_t i = 0, n = (size_t)(m->rows * m->cols); i < n; ++i) {
        float v = src[i];
        if (!(v >= 0.0f && v <= 255.0f && v == floorf(v))) {
            free(b);
            return cli_error("%s: row %llu, column %llu holds %g, not a byte 0..255 (binary "
                             "vectors need .bvecs, uint8 .npy or a .csv of bytes)",
                             what, (unsigned long long)(i / m->cols),
                             (unsigned long long)(i % m->cols), (double)v);
        }
        b[i] = (uint8_t)v;
    }
    out->data = b;
    return 0;
}

int cli_vectors_from_matrix(cli_vectors *out, cli_matrix *m, nearkit_vector_type type,
                            const char *what) {
    memset(out, 0, sizeof *out);
    if (m->elem == CLI_ELEM_I32)
        return cli_error("%s holds int32 values (ground truth), not vectors; use .fvecs, .bvecs, "
                         ".npy or .csv",
                         what);
    if (m->rows == 0) return cli_error("%s holds no vectors", what);
    if (m->cols == 0) return cli_error("%s has vectors of dimension 0", what);
    return type == NEARKIT_VECTOR_BINARY ? to_binary(out, m, what) : to_float(out, m, what);
}

int cli_read_input_vectors(cli_vectors *out, const char *path, nearkit_vector_type type,
                           const char *hdf5_dataset) {
    if (cli_is_hdf5_path(path)) return cli_hdf5_read_vectors(out, path, hdf5_dataset, type);
    return cli_read_vectors(out, path, type);
}

int cli_read_vectors(cli_vectors *out, const char *path, nearkit_vector_type type) {
    cli_matrix m;
    memset(out, 0, sizeof *out);
    if (cli_read_matrix(&m, path) != 0) return -1;
    int rc = cli_vectors_from_matrix(out, &m, type, path);
    cli_matrix_free(&m);
    return rc;
}
