/*
 * json.c - a small JSON (RFC 8259) parser for nearkit's C tests; see json.h.
 */
#include "json.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *start;
    const char *p;
    const char *end;
    char *error;
    size_t error_size;
    int failed;
} parser;

static void fail_at(parser *ps, const char *where, const char *fmt, ...) {
    if (ps->failed) {
        return;
    }
    ps->failed = 1;
    if (ps->error == NULL || ps->error_size == 0) {
        return;
    }
    size_t line = 1, column = 1;
    for (const char *c = ps->start; c < where && c < ps->end; c++) {
        if (*c == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    int n = snprintf(ps->error, ps->error_size, "line %zu, column %zu: ", line, column);
    if (n < 0 || (size_t)n >= ps->error_size) {
        return;
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(ps->error + n, ps->error_size - (size_t)n, fmt, args);
    va_end(args);
}

static void set_error(char *error, size_t error_size, const char *fmt, ...) {
    if (error == NULL || error_size == 0) {
        return;
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(error, error_size, fmt, args);
    va_end(args);
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static void free_value(json_value *v) {
    switch (v->type) {
    case JSON_STRING:
        free(v->u.string.chars);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.array.count; i++) {
            free_value(&v->u.array.items[i]);
        }
        free(v->u.array.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.count; i++) {
            free(v->u.object.members[i].key);
            free_value(&v->u.object.members[i].value);
        }
        free(v->u.object.members);
        break;
    default:
        break;
    }
    v->type = JSON_NULL;
}

/* Grows *buf (of *cap elements of size elem) to hold at least need elements. 0 on failure. */
static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) {
        return 1;
    }
    size_t n = *cap ? *cap : 8;
    while (n < need) {
        if (n > SIZE_MAX / 2) {
            return 0;
        }
        n *= 2;
    }
    if (n > SIZE_MAX / elem) {
        return 0;
    }
    void *p = realloc(*buf, n * elem);
    if (p == NULL) {
        return 0;
    }
    *buf = p;
    *cap = n;
    return 1;
}

/* ---- strings ---- */

typedef struct strbuf {
    char *data;
    size_t length;
    size_t cap;
} strbuf;

static int sb_put(strbuf *sb, const char *bytes, size_t n) {
    if (n > SIZE_MAX - sb->length - 1) {
        return 0;
    }
    if (!grow((void **)&sb->data, &sb->cap, sb->length + n + 1, 1)) {
        return 0;
    }
    memcpy(sb->data + sb->length, bytes, n);
    sb->length += n;
    sb->data[sb->length] = '\0';
    return 1;
}

static int sb_put_codepoint(strbuf *sb, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return sb_put(sb, b, n);
}

static int hex4(parser *ps, uint32_t *out) {
    if (ps->end - ps->p < 4) {
        fail_at(ps, ps->p, "truncated \\u escape");
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = ps->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (uint32_t)(c - 'A' + 10);
        } else {
            fail_at(ps, ps->p + i, "invalid hex digit in \\u escape");
            return 0;
        }
    }
    ps->p += 4;
    *out = v;
    return 1;
}

/* Length of the well-formed UTF-8 sequence at p (p < end, *p >= 0x80), or 0 when malformed. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned char c = p[0];
    size_t n;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

/* Parses a string starting at the opening quote. */
static int parse_string(parser *ps, char **out, size_t *out_length) {
    strbuf sb = {NULL, 0, 0};
    const char *open = ps->p;
    ps->p++; /* the quote */
    if (!sb_put(&sb, "", 0)) {
        goto oom;
    }
    for (;;) {
        const char *run = ps->p;
        while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
               (unsigned char)*ps->p >= 0x20) {
            if ((unsigned char)*ps->p >= 0x80) {
                size_t n = utf8_sequence((const unsigned char *)ps->p,
                                         (const unsigned char *)ps->end);
                if (n == 0) {
                    fail_at(ps, ps->p, "invalid UTF-8 in string");
                    goto error;
                }
                ps->p += n;
            } else {
                ps->p++;
            }
        }
        if (!sb_put(&sb, run, (size_t)(ps->p - run))) {
            goto oom;
        }
        if (ps->p >= ps->end) {
            fail_at(ps, open, "unterminated string");
            goto error;
        }
        char c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c != '\\') {
            fail_at(ps, ps->p, "control character in string");
            goto error;
        }
        ps->p++;
        if (ps->p >= ps->end) {
            fail_at(ps, open, "unterminated string");
            goto error;
        }
        char e = *ps->p++;
        const char *simple = NULL;
        switch (e) {
        case '"': simple = "\""; break;
        case '\\': simple = "\\"; break;
        case '/': simple = "/"; break;
        case 'b': simple = "\b"; break;
        case 'f': simple = "\f"; break;
        case 'n': simple = "\n"; break;
        case 'r': simple = "\r"; break;
        case 't': simple = "\t"; break;
        case 'u': {
            uint32_t cp;
            if (!hex4(ps, &cp)) {
                goto error;
            }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail_at(ps, ps->p - 6, "unpaired low surrogate");
                goto error;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                    fail_at(ps, ps->p, "unpaired high surrogate");
                    goto error;
                }
                ps->p += 2;
                if (!hex4(ps, &lo)) {
                    goto error;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    fail_at(ps, ps->p - 6, "expected a low surrogate");
                    goto error;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (!sb_put_codepoint(&sb, cp)) {
                goto oom;
            }
            break;
        }
        default:
            fail_at(ps, ps->p - 2, "invalid escape '\\%c'", e);
            goto error;
        }
        if (simple != NULL && !sb_put(&sb, simple, 1)) {
            goto oom;
        }
    }
    *out = sb.data;
    *out_length = sb.length;
    return 1;
oom:
    fail_at(ps, ps->p, "out of memory");
error:
    free(sb.data);
    return 0;
}

/* ---- numbers ---- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int parse_number(parser *ps, double *out) {
    const char *s = ps->p, *p = ps->p, *end = ps->end;
    if (p < end && *p == '-') {
        p++;
    }
    if (p >= end || !is_digit(*p)) {
        fail_at(ps, s, "invalid number");
        return 0;
    }
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            fail_at(ps, s, "leading zero in number");
            return 0;
        }
    } else {
        while (p < end && is_digit(*p)) {
            p++;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) {
            fail_at(ps, s, "expected a digit after '.'");
            return 0;
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || !is_digit(*p)) {
            fail_at(ps, s, "expected a digit in the exponent");
            return 0;
        }
        while (p < end && is_digit(*p)) {
            p++;
        }
    }
    size_t n = (size_t)(p - s);
    /* strtod needs a NUL-terminated copy, with the locale's decimal point in place of '.'
     * (the grammar above allows at most one '.'). */
    const char *dp = localeconv()->decimal_point;
    if (dp == NULL || dp[0] == '\0') {
        dp = ".";
    }
    size_t dpl = strlen(dp);
    if (dpl > 16) {
        fail_at(ps, s, "unsupported locale decimal point");
        return 0;
    }
    char small[64];
    size_t need = n + dpl + 1;
    char *copy = need <= sizeof small ? small : malloc(need);
    if (copy == NULL) {
        fail_at(ps, s, "out of memory");
        return 0;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            memcpy(copy + j, dp, dpl);
            j += dpl;
        } else {
            copy[j++] = s[i];
        }
    }
    copy[j] = '\0';
    errno = 0;
    char *stop = NULL;
    double v = strtod(copy, &stop);
    int ok = stop == copy + j;
    if (copy != small) {
        free(copy);
    }
    if (!ok) {
        fail_at(ps, s, "invalid number");
        return 0;
    }
    if (isinf(v) || isnan(v)) {
        fail_at(ps, s, "number out of range");
        return 0;
    }
    ps->p = p;
    *out = v;
    return 1;
}

/* ---- values ---- */

static int parse_value(parser *ps, json_value *out, int depth);

static int parse_literal(parser *ps, const char *word, json_type type, json_value *out) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        fail_at(ps, ps->p, "invalid literal");
        return 0;
    }
    ps->p += n;
    out->type = type;
    return 1;
}

static int parse_array(parser *ps, json_value *out, int depth) {
    json_value *items = NULL;
    size_t count = 0, cap = 0;
    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        goto done;
    }
    for (;;) {
        if (!grow((void **)&items, &cap, count + 1, sizeof *items)) {
            fail_at(ps, ps->p, "out of memory");
            goto error;
        }
        skip_ws(ps);
        if (!parse_value(ps, &items[count], depth + 1)) {
            goto error;
        }
        count++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            break;
        }
        fail_at(ps, ps->p, ps->p < ps->end ? "expected ',' or ']'" : "unexpected end in array");
        goto error;
    }
done:
    if (count > 0 && count < cap) {
        json_value *shrunk = realloc(items, count * sizeof *items);
        if (shrunk != NULL) {
            items = shrunk;
        }
    }
    out->type = JSON_ARRAY;
    out->u.array.items = items;
    out->u.array.count = count;
    return 1;
error:
    for (size_t i = 0; i < count; i++) {
        free_value(&items[i]);
    }
    free(items);
    return 0;
}

static int parse_object(parser *ps, json_value *out, int depth) {
    json_member *members = NULL;
    size_t count = 0, cap = 0;
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        goto done;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            fail_at(ps, ps->p, ps->p < ps->end ? "expected a string key" : "unexpected end in object");
            goto error;
        }
        if (!grow((void **)&members, &cap, count + 1, sizeof *members)) {
            fail_at(ps, ps->p, "out of memory");
            goto error;
        }
        json_member *m = &members[count];
        if (!parse_string(ps, &m->key, &m->key_length)) {
            goto error;
        }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            fail_at(ps, ps->p, "expected ':'");
            free(m->key);
            goto error;
        }
        ps->p++;
        skip_ws(ps);
        if (!parse_value(ps, &m->value, depth + 1)) {
            free(m->key);
            goto error;
        }
        count++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        fail_at(ps, ps->p, ps->p < ps->end ? "expected ',' or '}'" : "unexpected end in object");
        goto error;
    }
done:
    if (count > 0 && count < cap) {
        json_member *shrunk = realloc(members, count * sizeof *members);
        if (shrunk != NULL) {
            members = shrunk;
        }
    }
    out->type = JSON_OBJECT;
    out->u.object.members = members;
    out->u.object.count = count;
    return 1;
error:
    for (size_t i = 0; i < count; i++) {
        free(members[i].key);
        free_value(&members[i].value);
    }
    free(members);
    return 0;
}

static int parse_value(parser *ps, json_value *out, int depth) {
    memset(out, 0, sizeof *out);
    out->type = JSON_NULL;
    if (ps->p >= ps->end) {
        fail_at(ps, ps->p, "unexpected end of input");
        return 0;
    }
    if ((*ps->p == '[' || *ps->p == '{') && depth >= JSON_MAX_DEPTH) {
        fail_at(ps, ps->p, "arrays and objects nested deeper than %d", JSON_MAX_DEPTH);
        return 0;
    }
    switch (*ps->p) {
    case '{':
        return parse_object(ps, out, depth);
    case '[':
        return parse_array(ps, out, depth);
    case '"':
        if (!parse_string(ps, &out->u.string.chars, &out->u.string.length)) {
            return 0;
        }
        out->type = JSON_STRING;
        return 1;
    case 't':
        return parse_literal(ps, "true", JSON_TRUE, out);
    case 'f':
        return parse_literal(ps, "false", JSON_FALSE, out);
    case 'n':
        return parse_literal(ps, "null", JSON_NULL, out);
    default:
        if (*ps->p == '-' || is_digit(*ps->p)) {
            if (!parse_number(ps, &out->u.number)) {
                return 0;
            }
            out->type = JSON_NUMBER;
            return 1;
        }
        fail_at(ps, ps->p, "unexpected character '%c'",
                (unsigned char)*ps->p >= 0x20 && (unsigned char)*ps->p < 0x7F ? *ps->p : '?');
        return 0;
    }
}

json_value *json_parse(const char *text, size_t length, char *error, size_t error_size) {
    if (error != NULL && error_size > 0) {
        error[0] = '\0';
    }
    if (text == NULL && length > 0) {
        set_error(error, error_size, "NULL text");
        return NULL;
    }
    json_value *root = malloc(sizeof *root);
    if (root == NULL) {
        set_error(error, error_size, "out of memory");
        return NULL;
    }
    const char *t = text != NULL ? text : "";
    parser ps = {t, t, t + length, error, error_size, 0};
    /* A UTF-8 byte order mark is tolerated. */
    if (length >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0) {
        ps.p += 3;
    }
    skip_ws(&ps);
    if (!parse_value(&ps, root, 0)) {
        free(root);
        return NULL;
    }
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail_at(&ps, ps.p, "trailing characters after the document");
        json_free(root);
        return NULL;
    }
    return root;
}

json_value *json_parse_file(const char *path, char *error, size_t error_size) {
    if (path == NULL) {
        set_error(error, error_size, "NULL path");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        set_error(error, error_size, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *data = NULL;
    size_t length = 0, cap = 0;
    for (;;) {
        if (!grow((void **)&data, &cap, length + 65536, 1)) {
            set_error(error, error_size, "%s: out of memory", path);
            free(data);
            fclose(f);
            return NULL;
        }
        size_t got = fread(data + length, 1, cap - length, f);
        length += got;
        if (got == 0) {
            break;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        set_error(error, error_size, "%s: read error", path);
        free(data);
        return NULL;
    }
    char inner[512];
    json_value *root = json_parse(data, length, inner, sizeof inner);
    free(data);
    if (root == NULL) {
        set_error(error, error_size, "%s: %s", path, inner);
    }
    return root;
}

void json_free(json_value *root) {
    if (root == NULL) {
        return;
    }
    free_value(root);
    free(root);
}

const json_value *json_object_get(const json_value *object, const char *key) {
    if (object == NULL || key == NULL || object->type != JSON_OBJECT) {
        return NULL;
    }
    size_t n = strlen(key);
    for (size_t i = 0; i < object->u.object.count; i++) {
        const json_member *m = &object->u.object.members[i];
        if (m->key_length == n && memcmp(m->key, key, n) == 0) {
            return &m->value;
        }
    }
    return NULL;
}

size_t json_array_length(const json_value *array) {
    return (array != NULL && array->type == JSON_ARRAY) ? array->u.array.count : 0;
}

const json_value *json_array_at(const json_value *array, size_t i) {
    if (array == NULL || array->type != JSON_ARRAY || i >= array->u.array.count) {
        return NULL;
    }
    return &array->u.array.items[i];
}

int json_is(const json_value *value, json_type type) {
    return value != NULL && value->type == type;
}

const char *json_string(const json_value *value) {
    return (value != NULL && value->type == JSON_STRING) ? value->u.string.chars : NULL;
}

int json_number(const json_value *value, double *out) {
    if (value == NULL || value->type != JSON_NUMBER) {
        return 0;
    }
    if (out != NULL) {
        *out = value->u.number;
    }
    return 1;
}

int json_integer(const json_value *value, long long *out) {
    double v;
    if (!json_number(value, &v)) {
        return 0;
    }
    if (!(v >= -9007199254740992.0 && v <= 9007199254740992.0) || v != floor(v)) {
        return 0;
    }
    if (out != NULL) {
        *out = (long long)v;
    }
    return 1;
}
