/* The index file format (docs/format.md): framing, checksum, sections; save and load. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nearkit's file code assumes a little-endian host"
#endif

static const uint8_t file_magic[8] = {0x89, 'N', 'K', 'I', 'D', 'X', '\r', '\n'};
#define FORMAT_VERSION 1u
#define HEADER_BYTES 40u      /* fixed header after magic, version and header size */
#define SECTION_HEAD_BYTES 16u
#define PARAMS_TAG NEARKIT_TAG('P', 'R', 'M', 'S')
#define MAX_SECTIONS 64u

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib computes it) ------------------------------------- */

static uint32_t crc_table[8][256];

static void crc_init_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int b = 0; b < 8; b++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

static uint32_t crc32_bytes(const uint8_t *p, size_t n) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init_table);
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) { /* slicing by 8 */
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= c;
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
            crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- writer ------------------------------------------------------------------------------------ */

struct nearkit_writer {
    uint8_t *data;
    size_t size, cap;
    uint32_t n_sections;
};

static nearkit_status writer_reserve(nearkit_writer *w, uint64_t more) {
    if (more > SIZE_MAX - w->size) return nearkit_oom();
    size_t need = w->size + (size_t)more;
    if (need <= w->cap) return NEARKIT_OK;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *grown = realloc(w->data, cap);
    if (!grown) return nearkit_oom();
    w->data = grown;
    w->cap = cap;
    return NEARKIT_OK;
}

static void put_bytes(nearkit_writer *w, const void *p, size_t n) {
    if (n) memcpy(w->data + w->size, p, n);
    w->size += n;
}
static void put_u32(nearkit_writer *w, uint32_t v) { put_bytes(w, &v, 4); }
static void put_u64(nearkit_writer *w, uint64_t v) { put_bytes(w, &v, 8); }

nearkit_status nearkit_writer_section_parts(nearkit_writer *w, uint32_t tag, const void *const *parts,
                                            const uint64_t *sizes, size_t n_parts) {
    uint64_t total = 0;
    for (size_t i = 0; i < n_parts; i++) total += sizes[i];
    if (w->n_sections >= MAX_SECTIONS)
        return nearkit_set_error(NEARKIT_ERR_INTERNAL, "too many sections in an index file");
    nearkit_status st = writer_reserve(w, SECTION_HEAD_BYTES + total);
    if (st) return st;
    put_u32(w, tag);
    put_u32(w, 0);
    put_u64(w, total);
    for (size_t i = 0; i < n_parts; i++) put_bytes(w, parts[i], (size_t)sizes[i]);
    w->n_sections++;
    return NEARKIT_OK;
}

nearkit_status nearkit_writer_section(nearkit_writer *w, uint32_t tag, const void *data,
                                      uint64_t size) {
    return nearkit_writer_section_parts(w, tag, &data, &size, 1);
}

/* The named, settable parameters (num_threads travels in the header). */
static nearkit_status write_params(nearkit_writer *w, const nearkit_index *ix) {
    const nearkit_index_ops *ops = ix->ops;
    uint64_t bytes = 4;
    uint32_t n = 0;
    for (size_t i = 0; i < ops->n_params; i++) {
        if (ops->params[i].flags & NEARKIT_PARAM_FLAG_READ_ONLY) continue;
        bytes += 2 + strlen(ops->params[i].name) + 8;
        n++;
    }
    uint8_t *buf = malloc((size_t)bytes), *p = buf;
    if (!buf) return nearkit_oom();
    memcpy(p, &n, 4);
    p += 4;
    for (size_t i = 0; i < ops->n_params; i++) {
        if (ops->params[i].flags & NEARKIT_PARAM_FLAG_READ_ONLY) continue;
        double value = 0;
        nearkit_status st = ops->get_param(ix, i, &value);
        if (st) {
            free(buf);
            return st;
        }
        uint16_t len = (uint16_t)strlen(ops->params[i].name);
        memcpy(p, &len, 2);
        memcpy(p + 2, ops->params[i].name, len);
        memcpy(p + 2 + len, &value, 8);
        p += 2 + len + 8;
    }
    nearkit_status st = nearkit_writer_section(w, PARAMS_TAG, buf, bytes);
    free(buf);
    return st;
}

/* Serialises into a malloc'ed image. */
static nearkit_status serialise(uint8_t **out, size_t *out_size, const nearkit_index *ix) {
    nearkit_writer w = {0};
    nearkit_status st = writer_reserve(&w, 16 + HEADER_BYTES);
    if (st) return st;
    put_bytes(&w, file_magic, 8);
    put_u32(&w, FORMAT_VERSION);
    put_u32(&w, HEADER_BYTES);
    put_u32(&w, (uint32_t)ix->ops->kind);
    put_u32(&w, (uint32_t)ix->metric);
    put_u32(&w, (uint32_t)ix->vector_type);
    put_u32(&w, ix->dimension);
    put_u64(&w, ix->ops->count(ix));
    put_u64(&w, ix->seed);
    put_u32(&w, ix->num_threads);
    size_t section_count_at = w.size;
    put_u32(&w, 0); /* section count, patched below */
    st = write_params(&w, ix);
    if (!st) st = ix->ops->save(ix, &w);
    if (!st) st = writer_reserve(&w, 4);
    if (st) {
        free(w.data);
        return st;
    }
    memcpy(w.data + section_count_at, &w.n_sections, 4);
    uint32_t crc = crc32_bytes(w.data + 8, w.size - 8);
    put_u32(&w, crc);
    *out = w.data;
    *out_size = w.size;
    return NEARKIT_OK;
}

/* ---- reader ------------------------------------------------------------------------------------ */

typedef struct section_ref {
    uint32_t tag;
    const uint8_t *data;
    uint64_t size;
} section_ref;

struct nearkit_reader {
    section_ref sections[MAX_SECTIONS];
    uint32_t n_sections;
};

static void tag_text(char out[5], uint32_t tag) {
    for (int i = 0; i < 4; i++) {
        char c = (char)((tag >> (8 * i)) & 0xFF);
        out[i] = (c >= 32 && c < 127) ? c : '?';
    }
    out[4] = '\0';
}

nearkit_status nearkit_reader_section(const void **data, uint64_t *size, const nearkit_reader *r,
                                      uint32_t tag) {
    for (uint32_t i = 0; i < r->n_sections; i++) {
        if (r->sections[i].tag == tag) {
            *data = r->sections[i].data;
            *size = r->sections[i].size;
            return NEARKIT_OK;
        }
    }
    char name[5];
    tag_text(name, tag);
    return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: section '%s' is missing", name);
}

nearkit_status nearkit_reader_section_sized(const void **data, const nearkit_reader *r, uint32_t tag,
                                            uint64_t expected) {
    uint64_t size = 0;
    nearkit_status st = nearkit_reader_section(data, &size, r, tag);
    if (st) return st;
    if (size != expected) {
        char name[5];
        tag_text(name, tag);
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: section '%s' holds %llu bytes, expected %llu", name,
                                 (unsigned long long)size, (unsigned long long)expected);
    }
    return NEARKIT_OK;
}

static uint32_t get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

typedef struct file_header {
    uint32_t kind, metric, vector_type, dimension;
    uint64_t count, seed;
    uint32_t num_threads, n_sections;
} file_header;

/* Checks framing and checksum and splits the sections out of the image. */
static nearkit_status parse_image(file_header *h, nearkit_reader *r, const uint8_t *p, size_t size) {
    if (size < 16 || memcmp(p, file_magic, 8) != 0)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "not a nearkit index (bad magic bytes)");
    uint32_t version = get_u32(p + 8);
    if (version > FORMAT_VERSION)
        return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                                 "index file format version %u is newer than this library reads "
                                 "(%u); upgrade nearkit",
                                 version, FORMAT_VERSION);
    if (version == 0) return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: format version 0");
    uint32_t header_bytes = get_u32(p + 12);
    if (header_bytes < HEADER_BYTES || (uint64_t)header_bytes + 16 + 4 > size)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: truncated header (%zu bytes)",
                                 size);
    uint32_t stored_crc = get_u32(p + size - 4);
    if (crc32_bytes(p + 8, size - 12) != stored_crc)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: checksum mismatch (the file is truncated or damaged)");
    const uint8_t *hp = p + 16;
    *h = (file_header){get_u32(hp), get_u32(hp + 4), get_u32(hp + 8), get_u32(hp + 12),
                       get_u64(hp + 16), get_u64(hp + 24), get_u32(hp + 32), get_u32(hp + 36)};
    if (h->n_sections > MAX_SECTIONS)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %u sections", h->n_sections);
    const uint8_t *at = p + 16 + header_bytes, *end = p + size - 4;
    r->n_sections = 0;
    for (uint32_t i = 0; i < h->n_sections; i++) {
        if ((size_t)(end - at) < SECTION_HEAD_BYTES)
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: section %u truncated", i);
        uint64_t len = get_u64(at + 8);
        if (len > (uint64_t)(end - at) - SECTION_HEAD_BYTES)
            return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                     "corrupt index: section %u claims %llu bytes, %llu remain", i,
                                     (unsigned long long)len,
                                     (unsigned long long)((end - at) - SECTION_HEAD_BYTES));
        r->sections[r->n_sections++] = (section_ref){get_u32(at), at + SECTION_HEAD_BYTES, len};
        at += SECTION_HEAD_BYTES + len;
    }
    if (at != end)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %zu stray bytes after the sections",
                                 (size_t)(end - at));
    return NEARKIT_OK;
}

static nearkit_status apply_params(nearkit_index *ix, const nearkit_reader *r) {
    const void *data = NULL;
    uint64_t size = 0;
    nearkit_status st = nearkit_reader_section(&data, &size, r, PARAMS_TAG);
    if (st) return st;
    const uint8_t *p = data, *end = p + size;
    if (size < 4) return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter section");
    uint32_t n = get_u32(p);
    p += 4;
    for (uint32_t i = 0; i < n; i++) {
        if (end - p < 2) return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter %u", i);
        uint16_t len;
        memcpy(&len, p, 2);
        if ((size_t)(end - p) < 2u + len + 8u || len == 0 || len > 64)
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter %u", i);
        char name[65];
        memcpy(name, p + 2, len);
        name[len] = '\0';
        double value;
        memcpy(&value, p + 2 + len, 8);
        p += 2 + len + 8;
        size_t which = ix->ops->n_params;
        for (size_t j = 0; j < ix->ops->n_params; j++)
            if (strcmp(ix->ops->params[j].name, name) == 0) which = j;
        if (which == ix->ops->n_params)
            return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                                     "index file sets parameter '%s' that this library does not know",
                                     name);
        st = nearkit_index_set_param(ix, name, value);
        if (st) return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %s",
                                         nearkit_last_error_message());
    }
    return NEARKIT_OK;
}

static nearkit_status deserialise(nearkit_index **out, const uint8_t *p, size_t size) {
    file_header h = {0};
    nearkit_reader *r = malloc(sizeof *r);
    if (!r) return nearkit_oom();
    nearkit_status st = parse_image(&h, r, p, size);
    nearkit_index *ix = NULL;
    if (!st && !nearkit_find_kind((nearkit_kind)h.kind))
        st = nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                               "index file holds kind %u, which this library does not have", h.kind);
    if (!st) {
        nearkit_index_options options = NEARKIT_INDEX_OPTIONS_INIT;
        options.num_threads = h.num_threads;
        options.seed = h.seed;
        st = nearkit_index_create(&ix, (nearkit_kind)h.kind, (nearkit_metric)h.metric, h.dimension,
                                  &options);
        if (st) st = nearkit_set_error(st == NEARKIT_ERR_OUT_OF_MEMORY ? st : NEARKIT_ERR_CORRUPT,
                                       "corrupt index: %s", nearkit_last_error_message());
    }
    if (!st && (uint32_t)ix->vector_type != h.vector_type)
        st = nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: vector type %u does not fit metric",
                               h.vector_type);
    if (!st) st = apply_params(ix, r);
    if (!st) st = ix->ops->load(ix, r);
    if (!st && ix->ops->count(ix) != h.count)
        st = nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: header says %llu vectors, body %llu",
                               (unsigned long long)h.count, (unsigned long long)ix->ops->count(ix));
    free(r);
    if (st) {
        nearkit_index_free(ix);
        return st;
    }
    *out = ix;
    return NEARKIT_OK;
}

/* ---- public entry points ----------------------------------------------------------------------- */

NEARKIT_API nearkit_status nearkit_index_save_to_buffer(void **data, size_t *size,
                                                        const nearkit_index *index) {
    nearkit_clear_error();
    if (!data || !size || !index)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to save_to_buffer");
    uint8_t *image;
    size_t n;
    nearkit_status st = serialise(&image, &n, index);
    if (st) return st;
    *data = image;
    *size = n;
    return NEARKIT_OK;
}

NEARKIT_API void nearkit_buffer_free(void *data) { free(data); }

NEARKIT_API nearkit_status nearkit_index_load_from_buffer(nearkit_index **out, const void *data,
                                                          size_t size) {
    nearkit_clear_error();
    if (!out || (!data && size))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to load_from_buffer");
    *out = NULL;
    return deserialise(out, data, size);
}

NEARKIT_API nearkit_status nearkit_index_save(const nearkit_index *index, const char *path) {
    nearkit_clear_error();
    if (!index || !path) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to save");
    uint8_t *image;
    size_t n;
    nearkit_status st = serialise(&image, &n, index);
    if (st) return st;
    /* write beside the target, then rename, so a failed save never leaves half a file */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(image);
        return nearkit_oom();
    }
    snprintf(tmp, plen + 16, "%s.tmp%u", path, (unsigned)(((uintptr_t)&n >> 4) & 0xFFFF));
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    } else {
        bool ok = fwrite(image, 1, n, f) == n;
        int err = errno;
        ok = (fclose(f) == 0) && ok;
        if (!ok) st = nearkit_set_error(NEARKIT_ERR_IO, "cannot write '%s': %s", path, strerror(err));
        else if (rename(tmp, path) != 0)
            st = nearkit_set_error(NEARKIT_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        if (st) remove(tmp);
    }
    free(tmp);
    free(image);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_load(nearkit_index **out, const char *path) {
    nearkit_clear_error();
    if (!out || !path) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to load");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return nearkit_set_error(NEARKIT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    nearkit_status st = NEARKIT_OK;
    uint8_t *image = NULL;
    struct stat info;
    off_t size = 0;
    if (fstat(fileno(f), &info) != 0)
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    else if (!S_ISREG(info.st_mode))
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': not a regular file", path);
    else if ((uint64_t)info.st_size > SIZE_MAX / 2)
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': file too large", path);
    else
        size = info.st_size;
    if (!st && !(image = malloc(size ? (size_t)size : 1))) st = nearkit_oom();
    if (!st && fread(image, 1, (size_t)size, f) != (size_t)size)
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s'", path);
    fclose(f);
    if (!st) {
        st = deserialise(out, image, (size_t)size);
        if (st && st != NEARKIT_ERR_OUT_OF_MEMORY) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", nearkit_last_error_message());
            nearkit_set_error(st, "%s: %s", path, msg);
        }
    }
    free(image);
    return st;
}
