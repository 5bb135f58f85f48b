/* The manifest of a sharded collection (manifest.json), e.g.
 *
 *   {"format": "nearkit-sharded", "version": 1, "vector_type": "float32", "metric": "l2",
 *    "dimension": 128, "count": 2000,
 *    "shards": [{"file": "shard-00000.nkx", "count": 1000}, {"file": "shard-00001.nkx", ...}]}
 *
 * The reader is a strict JSON reader for this one shape: objects, arrays, strings (escapes \" \\
 * \/ only: names are plain), unsigned integers; other keys are skipped (values of any JSON type,
 * nested at most MAX_DEPTH deep), so a later version may add fields. Anything else is CORRUPT. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_NAME "nearkit-sharded"
#define FORMAT_VERSION 1
#define MAX_DEPTH 32
#define MAX_MANIFEST_BYTES ((uint64_t)1 << 28) /* a million shards fit in far less */

bool nearkit_manifest_name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > NEARKIT_MANIFEST_NAME_MAX) return false;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || name[i] == '\\' || (unsigned char)name[i] < 0x20) return false;
    return true;
}

char *nearkit_manifest_join(const char *dir, const char *file) {
    size_t a = strlen(dir), b = strlen(file);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, file, b + 1);
    return p;
}

void nearkit_manifest_free(nearkit_manifest *m) {
    free(m->shards);
    memset(m, 0, sizeof *m);
}

static nearkit_status append_entry(nearkit_manifest *m, const char *file, uint64_t count) {
    if (m->n_shards == m->cap) {
        uint64_t cap = m->cap ? m->cap * 2 : 8;
        if (cap > SIZE_MAX / sizeof *m->shards) return nearkit_oom();
        void *grown = realloc(m->shards, (size_t)cap * sizeof *m->shards);
        if (!grown) return nearkit_oom();
        m->shards = grown;
        m->cap = cap;
    }
    nearkit_manifest_shard *s = &m->shards[m->n_shards++];
    snprintf(s->file, sizeof s->file, "%s", file);
    s->count = count;
    return NEARKIT_OK;
}

nearkit_status nearkit_manifest_add(nearkit_manifest *m, const char *file, const nearkit_index *shard) {
    nearkit_vector_type type = nearkit_index_vector_type(shard);
    nearkit_metric metric = nearkit_index_metric(shard);
    uint32_t dimension = nearkit_index_dimension(shard);
    if (m->n_shards == 0) {
        m->vector_type = type;
        m->metric = metric;
        m->dimension = dimension;
    } else if (type != m->vector_type || metric != m->metric || dimension != m->dimension) {
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT,
                                 "shard %llu (%s) is %s %u-d, unlike the first shard (%s %u-d)",
                                 (unsigned long long)m->n_shards, file, nearkit_metric_name(metric),
                                 (unsigned)dimension, nearkit_metric_name(m->metric),
                                 (unsigned)m->dimension);
    }
    uint64_t count = nearkit_index_count(shard);
    nearkit_status st = append_entry(m, file, count);
    if (!st) m->count += count;
    return st;
}

/* ---- writing ------------------------------------------------------------------------------------ */

static const char *vector_type_name(nearkit_vector_type t) {
    return t == NEARKIT_VECTOR_BINARY ? "binary" : "float32";
}

static void render(nearkit_strbuf *sb, const nearkit_manifest *m) {
    nearkit_strbuf_appendf(sb,
                           "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"vector_type\": \"%s\",\n"
                           "  \"metric\": \"%s\",\n  \"dimension\": %u,\n  \"count\": %llu,\n"
                           "  \"shards\": [",
                           FORMAT_NAME, FORMAT_VERSION, vector_type_name(m->vector_type),
                           nearkit_metric_name(m->metric), (unsigned)m->dimension,
                           (unsigned long long)m->count);
    for (uint64_t i = 0; i < m->n_shards; i++) /* names are plain (no quote, backslash, control) */
        nearkit_strbuf_appendf(sb, "%s\n    {\"file\": \"%s\", \"count\": %llu}", i ? "," : "",
                               m->shards[i].file, (unsigned long long)m->shards[i].count);
    nearkit_strbuf_appendf(sb, "\n  ]\n}\n");
}

static nearkit_status write_synced(const char *path, const char *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return nearkit_set_error(NEARKIT_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = errno;
            close(fd);
            return nearkit_set_error(NEARKIT_ERR_IO, "cannot write %s: %s", path, strerror(err));
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        int err = errno;
        close(fd);
        return nearkit_set_error(NEARKIT_ERR_IO, "cannot sync %s: %s", path, strerror(err));
    }
    if (close(fd) != 0) return nearkit_set_error(NEARKIT_ERR_IO, "cannot close %s: %s", path, strerror(errno));
    return NEARKIT_OK;
}

nearkit_status nearkit_manifest_write(const nearkit_manifest *m, const char *dir) {
    nearkit_strbuf sb = {0};
    render(&sb, m);
    if (sb.failed || !sb.data) {
        free(sb.data);
        return nearkit_oom();
    }
    char temp_name[64];
    snprintf(temp_name, sizeof temp_name, ".%s.tmp-%ld", NEARKIT_SHARDED_MANIFEST, (long)getpid());
    char *temp = nearkit_manifest_join(dir, temp_name);
    char *path = nearkit_manifest_join(dir, NEARKIT_SHARDED_MANIFEST);
    nearkit_status st = (!temp || !path) ? nearkit_oom() : write_synced(temp, sb.data, sb.len);
    if (!st && rename(temp, path) != 0) {
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot rename %s to %s: %s", temp, path, strerror(errno));
    }
    if (st && temp) unlink(temp);
    free(sb.data);
    free(temp);
    free(path);
    return st;
}

/* ---- reading ------------------------------------------------------------------------------------ */

typedef struct cursor {
    const char *p, *end;
    const char *path; /* for messages */
} cursor;

static nearkit_status corrupt(const cursor *c, const char *what) {
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, "%s is not a sharded collection's manifest: %s",
                             c->path, what);
}

static void skip_space(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* Consumes `ch` after optional space; false (nothing consumed but the space) when it is not next. */
static bool take(cursor *c, char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A string into out[cap] (NUL-terminated); CORRUPT when malformed or longer than cap - 1. */
static nearkit_status read_string(cursor *c, char *out, size_t cap) {
    if (!take(c, '"')) return corrupt(c, "a string was expected");
    size_t n = 0;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if ((unsigned char)ch < 0x20) return corrupt(c, "a control character in a string");
        if (ch == '\\') {
            if (c->p == c->end) break;
            ch = *c->p++;
            if (ch != '"' && ch != '\\' && ch != '/') return corrupt(c, "an unsupported string escape");
        }
        if (n + 1 >= cap) return corrupt(c, "a string is too long");
        out[n++] = ch;
    }
    if (c->p == c->end) return corrupt(c, "an unterminated string");
    c->p++;
    out[n] = '\0';
    return NEARKIT_OK;
}

static nearkit_status read_uint(cursor *c, uint64_t *out) {
    skip_space(c);
    if (c->p == c->end || *c->p < '0' || *c->p > '9') return corrupt(c, "an unsigned integer was expected");
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned digit = (unsigned)(*c->p++ - '0');
        if (v > (UINT64_MAX - digit) / 10) return corrupt(c, "an integer is too large");
        v = v * 10 + digit;
    }
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return corrupt(c, "an integer was expected, not a fraction");
    *out = v;
    return NEARKIT_OK;
}

/* Skips one JSON value of any type (an unknown key's), at most MAX_DEPTH levels deep. */
static nearkit_status skip_value(cursor *c, int depth) {
    if (depth > MAX_DEPTH) return corrupt(c, "nested too deeply");
    skip_space(c);
    if (c->p == c->end) return corrupt(c, "a value was expected");
    char ch = *c->p;
    if (ch == '"') {
        char scratch[4096];
        return read_string(c, scratch, sizeof scratch);
    }
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        if (take(c, close)) return NEARKIT_OK;
        do {
            if (close == '}') {
                char key[4096];
                nearkit_status st = read_string(c, key, sizeof key);
                if (st) return st;
                if (!take(c, ':')) return corrupt(c, "':' was expected");
            }
            nearkit_status st = skip_value(c, depth + 1);
            if (st) return st;
        } while (take(c, ','));
        return take(c, close) ? NEARKIT_OK : corrupt(c, "an unterminated object or array");
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(c->end - c->p) >= n && memcmp(c->p, words[i], n) == 0) {
            c->p += n;
            return NEARKIT_OK;
        }
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        c->p++;
        while (c->p < c->end && strchr("0123456789.eE+-", *c->p)) c->p++;
        return NEARKIT_OK;
    }
    return corrupt(c, "an unexpected character");
}

/* Calls on_key(c, key, ctx) for each key of an object; on_key reads the value. */
typedef nearkit_status (*key_fn)(cursor *c, const char *key, void *ctx);

static nearkit_status read_object(cursor *c, key_fn on_key, void *ctx) {
    if (!take(c, '{')) return corrupt(c, "an object was expected");
    if (take(c, '}')) return NEARKIT_OK;
    do {
        char key[64];
        nearkit_status st = read_string(c, key, sizeof key);
        if (st) return st;
        if (!take(c, ':')) return corrupt(c, "':' was expected");
        st = on_key(c, key, ctx);
        if (st) return st;
    } while (take(c, ','));
    return take(c, '}') ? NEARKIT_OK : corrupt(c, "'}' or ',' was expected");
}

typedef struct shard_fields {
    char file[NEARKIT_MANIFEST_NAME_MAX + 1];
    uint64_t count;
    bool has_file, has_count;
} shard_fields;

static nearkit_status on_shard_key(cursor *c, const char *key, void *ctx) {
    shard_fields *f = ctx;
    if (strcmp(key, "file") == 0) {
        f->has_file = true;
        return read_string(c, f->file, sizeof f->file);
    }
    if (strcmp(key, "count") == 0) {
        f->has_count = true;
        return read_uint(c, &f->count);
    }
    return skip_value(c, 1);
}

static nearkit_status read_shards(cursor *c, nearkit_manifest *m) {
    if (!take(c, '[')) return corrupt(c, "\"shards\" must be an array");
    if (take(c, ']')) return NEARKIT_OK;
    do {
        shard_fields f = {0};
        nearkit_status st = read_object(c, on_shard_key, &f);
        if (st) return st;
        if (!f.has_file || !f.has_count) return corrupt(c, "a shard lacks \"file\" or \"count\"");
        if (!nearkit_manifest_name_ok(f.file)) return corrupt(c, "a shard's file is not a plain file name");
        if ((st = append_entry(m, f.file, f.count))) return st;
    } while (take(c, ','));
    return take(c, ']') ? NEARKIT_OK : corrupt(c, "']' or ',' was expected");
}

typedef struct top_fields {
    nearkit_manifest *m;
    char format[32], vector_type[16], metric[16];
    uint64_t version, dimension, count;
    unsigned seen; /* a bit per field below */
} top_fields;

enum { F_FORMAT = 1, F_VERSION = 2, F_TYPE = 4, F_METRIC = 8, F_DIM = 16, F_COUNT = 32, F_SHARDS = 64 };

static nearkit_status on_top_key(cursor *c, const char *key, void *ctx) {
    top_fields *t = ctx;
    if (strcmp(key, "format") == 0) return t->seen |= F_FORMAT, read_string(c, t->format, sizeof t->format);
    if (strcmp(key, "version") == 0) return t->seen |= F_VERSION, read_uint(c, &t->version);
    if (strcmp(key, "vector_type") == 0)
        return t->seen |= F_TYPE, read_string(c, t->vector_type, sizeof t->vector_type);
    if (strcmp(key, "metric") == 0) return t->seen |= F_METRIC, read_string(c, t->metric, sizeof t->metric);
    if (strcmp(key, "dimension") == 0) return t->seen |= F_DIM, read_uint(c, &t->dimension);
    if (strcmp(key, "count") == 0) return t->seen |= F_COUNT, read_uint(c, &t->count);
    if (strcmp(key, "shards") == 0) {
        if (t->seen & F_SHARDS) return corrupt(c, "\"shards\" given twice");
        t->seen |= F_SHARDS;
        return read_shards(c, t->m);
    }
    return skip_value(c, 1);
}

/* The fields read, checked and stored in m. */
static nearkit_status check_fields(const cursor *c, const top_fields *t, nearkit_manifest *m) {
    if ((t->seen & 0x7f) != 0x7f) return corrupt(c, "a required field is missing");
    if (strcmp(t->format, FORMAT_NAME) != 0) return corrupt(c, "\"format\" is not \"" FORMAT_NAME "\"");
    if (t->version > FORMAT_VERSION)
        return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED, "%s: manifest version %llu is newer than %d",
                                 c->path, (unsigned long long)t->version, FORMAT_VERSION);
    if (t->version == 0) return corrupt(c, "version 0");
    if (strcmp(t->vector_type, "float32") == 0) m->vector_type = NEARKIT_VECTOR_FLOAT32;
    else if (strcmp(t->vector_type, "binary") == 0) m->vector_type = NEARKIT_VECTOR_BINARY;
    else return corrupt(c, "unknown \"vector_type\"");
    if (nearkit_metric_from_name(&m->metric, t->metric) != NEARKIT_OK) {
        nearkit_clear_error();
        return corrupt(c, "unknown \"metric\"");
    }
    if (t->dimension == 0 || t->dimension > UINT32_MAX) return corrupt(c, "\"dimension\" out of range");
    m->dimension = (uint32_t)t->dimension;
    if (m->n_shards == 0) return corrupt(c, "no shards");
    uint64_t sum = 0;
    for (uint64_t i = 0; i < m->n_shards; i++) {
        if (m->shards[i].count > UINT64_MAX - sum) return corrupt(c, "the shard counts overflow");
        sum += m->shards[i].count;
        for (uint64_t j = 0; j < i; j++) /* a shard listed twice would be searched twice */
            if (strcmp(m->shards[i].file, m->shards[j].file) == 0) return corrupt(c, "a shard file is listed twice");
    }
    if (sum != t->count) return corrupt(c, "\"count\" is not the sum of the shards' counts");
    m->count = sum;
    return NEARKIT_OK;
}

static nearkit_status parse(nearkit_manifest *m, const char *text, size_t size, const char *path) {
    cursor c = {text, text + size, path};
    top_fields t = {.m = m};
    nearkit_status st = read_object(&c, on_top_key, &t);
    if (!st) {
        skip_space(&c);
        if (c.p != c.end) st = corrupt(&c, "text after the object");
    }
    return st ? st : check_fields(&c, &t, m);
}

static nearkit_status read_text(char **out, size_t *size, const char *path) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return nearkit_set_error(NEARKIT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return nearkit_set_error(NEARKIT_ERR_IO, "%s is not a regular file", path);
    }
    if ((uint64_t)sb.st_size > MAX_MANIFEST_BYTES) {
        close(fd);
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "%s is too large for a manifest", path);
    }
    char *text = malloc((size_t)sb.st_size + 1);
    if (!text) {
        close(fd);
        return nearkit_oom();
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, text + n, (size_t)sb.st_size - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            free(text);
            close(fd);
            return nearkit_set_error(NEARKIT_ERR_IO, "cannot read %s: %s", path, strerror(err));
        }
        if (r == 0 || (n += (size_t)r) == (size_t)sb.st_size) break;
    }
    close(fd);
    text[n] = '\0';
    *out = text;
    *size = n;
    return NEARKIT_OK;
}

nearkit_status nearkit_manifest_read(nearkit_manifest *m, const char *dir) {
    memset(m, 0, sizeof *m);
    char *path = nearkit_manifest_join(dir, NEARKIT_SHARDED_MANIFEST);
    if (!path) return nearkit_oom();
    char *text = NULL;
    size_t size = 0;
    nearkit_status st = read_text(&text, &size, path);
    if (!st) st = parse(m, text, size, path);
    if (st) nearkit_manifest_free(m);
    free(text);
    free(path);
    return st;
}
