/* The index file format (docs/format.md): an image's checksum (base/crc32.c computes CRCs), the
 * prologue and header, the section writer and reader. The file's entry points (save targets,
 * temporaries, loading a file, the index's parameters) are api/io.c's. */
#include "base/format.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t file_magic[8] = {0x89, 'N', 'K', 'I', 'D', 'X', '\r', '\n'};
#define FORMAT_VERSION 2u
/* Version 2 starts every section's body at a multiple of this offset in the file, so that a view
 * (a mapping of the file) can use the body in place; version 1 packed the sections. */
#define SECTION_ALIGN 64u
#define PROLOGUE_BYTES NEARKIT_FORMAT_PROLOGUE_BYTES
#define HEADER_BYTES 40u /* fixed header after the prologue */
#define SECTION_HEAD_BYTES 16u
#define MAX_SECTIONS 64u

/* ---- the checksum ------------------------------------------------------------------------------ */

uint32_t nearkit_format_image_crc(const uint8_t *image, size_t size) {
    return nearkit_crc32(0, image + 8, size - 12);
}

/* ---- writing to a descriptor ------------------------------------------------------------------- */

nearkit_status nearkit_format_write_failed(const char *path, int err) {
    return nearkit_set_error(NEARKIT_ERR_IO, "cannot write '%s': %s", path, strerror(err));
}

static nearkit_status write_all(int fd, const uint8_t *p, size_t n, const char *path) {
    while (n) {
        ssize_t done = write(fd, p, n);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) return nearkit_format_write_failed(path, done < 0 ? errno : ENOSPC);
        p += done;
        n -= (size_t)done;
    }
    return NEARKIT_OK;
}

static nearkit_status write_all_at(int fd, const uint8_t *p, size_t n, off_t at, const char *path) {
    while (n) {
        ssize_t done = pwrite(fd, p, n, at);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) return nearkit_format_write_failed(path, done < 0 ? errno : ENOSPC);
        p += done;
        n -= (size_t)done;
        at += done;
    }
    return NEARKIT_OK;
}

/* ---- writer ------------------------------------------------------------------------------------ */

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

static nearkit_status writer_flush(nearkit_writer *w) {
    nearkit_status st = write_all(w->fd, w->data, w->size, w->path);
    w->size = 0;
    return st;
}

/* A file is written in whole stretches of FILE_STRETCH bytes at offsets that are multiples of it
 * (all but the last write): the page cache then keeps a freshly saved file in 2 MB folios, which
 * a view of it maps with 2 MB pages (api/io.c, map_file). Measured (Linux 6.18, ext4): writes of
 * 1 MB, or of 2 MB at offsets that are not multiples of 2 MB, left a file mapped in 4 KB pages
 * only; aligned writes of 2 MB or more, all of it in 2 MB pages. The stage holds one stretch and
 * starts at a boundary (the file's start, then wherever the last write ended), so it is written
 * when full, and a large section is written straight from the index once the stage is empty. */
#define FILE_STRETCH ((size_t)2 << 20)
_Static_assert((FILE_STRETCH & (FILE_STRETCH - 1)) == 0 && FILE_STRETCH >= 4096,
               "writer_reserve, doubling from 4 KB, makes the stage exactly one stretch");

/* Appends n bytes to a file. */
static nearkit_status put_file_bytes(nearkit_writer *w, const uint8_t *p, size_t n) {
    nearkit_status st = NEARKIT_OK;
    while (n && !st) {
        size_t take;
        if (w->size == 0 && n >= FILE_STRETCH) {
            take = n - n % FILE_STRETCH;
            st = write_all(w->fd, p, take, w->path);
        } else {
            size_t room = w->cap - w->size; /* the bytes to the next boundary */
            take = n < room ? n : room;
            memcpy(w->data + w->size, p, take);
            w->size += take;
            if (w->size == w->cap) st = writer_flush(w);
        }
        w->body_bytes += take;
        p += take;
        n -= take;
    }
    return st;
}

/* Appends bytes after the header (counted in the checksum). */
static nearkit_status put_body(nearkit_writer *w, const void *p, size_t n) {
    if (!n) return NEARKIT_OK;
    w->body_crc = nearkit_crc32(w->body_crc, p, n);
    if (w->fd >= 0) return put_file_bytes(w, p, n);
    memcpy(w->data + w->size, p, n); /* in memory: room reserved by the caller */
    w->size += n;
    w->body_bytes += n;
    return NEARKIT_OK;
}

nearkit_status nearkit_writer_open(nearkit_writer *w, int fd, const char *path) {
    *w = (nearkit_writer){.fd = fd, .path = path};
    /* in memory: room for the header, grown as sections come; to a file: the staging buffer */
    uint64_t first = fd < 0 ? PROLOGUE_BYTES + HEADER_BYTES : FILE_STRETCH;
    nearkit_status st = writer_reserve(w, first);
    if (st) return st;
    memset(w->data, 0, PROLOGUE_BYTES + HEADER_BYTES); /* the header's place */
    w->size = PROLOGUE_BYTES + HEADER_BYTES;
    return NEARKIT_OK;
}

/* The zero bytes that bring the body of a section whose head starts now to SECTION_ALIGN. */
static uint32_t section_padding(const nearkit_writer *w) {
    uint64_t body_at = PROLOGUE_BYTES + HEADER_BYTES + w->body_bytes + SECTION_HEAD_BYTES;
    return (uint32_t)((SECTION_ALIGN - body_at % SECTION_ALIGN) % SECTION_ALIGN);
}

nearkit_status nearkit_writer_section_parts(nearkit_writer *w, uint32_t tag, const void *const *parts,
                                            const uint64_t *sizes, size_t n_parts) {
    uint64_t total = 0;
    for (size_t i = 0; i < n_parts; i++) total += sizes[i];
    if (w->n_sections >= MAX_SECTIONS)
        return nearkit_set_error(NEARKIT_ERR_INTERNAL, "too many sections in an index file");
    static const uint8_t zeros[SECTION_ALIGN] = {0};
    uint32_t pad = section_padding(w);
    nearkit_status st = w->fd < 0 ? writer_reserve(w, SECTION_HEAD_BYTES + pad + total) : NEARKIT_OK;
    uint8_t head[SECTION_HEAD_BYTES] = {0}; /* tag, padding, length */
    memcpy(head, &tag, 4);
    memcpy(head + 4, &pad, 4);
    memcpy(head + 8, &total, 8);
    if (!st) st = put_body(w, head, sizeof head);
    if (!st) st = put_body(w, zeros, pad);
    for (size_t i = 0; i < n_parts && !st; i++) st = put_body(w, parts[i], (size_t)sizes[i]);
    if (!st) w->n_sections++;
    return st;
}

nearkit_status nearkit_writer_section(nearkit_writer *w, uint32_t tag, const void *data,
                                      uint64_t size) {
    return nearkit_writer_section_parts(w, tag, &data, &size, 1);
}

static uint8_t *encode_u32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
    return p + 4;
}
static uint8_t *encode_u64(uint8_t *p, uint64_t v) {
    memcpy(p, &v, 8);
    return p + 8;
}

static void encode_header(uint8_t out[PROLOGUE_BYTES + HEADER_BYTES], const nearkit_file_header *h,
                          uint32_t n_sections) {
    memcpy(out, file_magic, 8);
    uint8_t *p = encode_u32(out + 8, FORMAT_VERSION);
    p = encode_u32(p, HEADER_BYTES);
    p = encode_u32(p, h->kind);
    p = encode_u32(p, h->metric);
    p = encode_u32(p, h->vector_type);
    p = encode_u32(p, h->dimension);
    p = encode_u64(p, h->count);
    p = encode_u64(p, h->seed);
    p = encode_u32(p, h->num_threads);
    encode_u32(p, n_sections);
}

nearkit_status nearkit_writer_finish(nearkit_writer *w, const nearkit_file_header *h) {
    uint8_t header[PROLOGUE_BYTES + HEADER_BYTES];
    encode_header(header, h, w->n_sections);
    uint32_t crc = nearkit_crc32_concat(nearkit_crc32(0, header + 8, sizeof header - 8), w->body_crc,
                                w->body_bytes);
    nearkit_status st = w->fd < 0 ? writer_reserve(w, 4) : NEARKIT_OK;
    if (st) return st;
    if (w->fd >= 0 && w->cap - w->size < 4) st = writer_flush(w);
    if (st) return st;
    encode_u32(w->data + w->size, crc);
    w->size += 4;
    if (w->fd < 0) {
        memcpy(w->data, header, sizeof header);
        return NEARKIT_OK;
    }
    st = writer_flush(w);
    if (!st) st = write_all_at(w->fd, header, sizeof header, 0, w->path);
    return st;
}

void nearkit_writer_take_image(nearkit_writer *w, void **data, size_t *size) {
    *data = w->data;
    *size = w->size;
    *w = (nearkit_writer){.fd = -1};
}

void nearkit_writer_discard(nearkit_writer *w) {
    free(w->data);
    w->data = NULL;
    w->size = w->cap = 0;
}

/* ---- the prologue ------------------------------------------------------------------------------ */

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

nearkit_status nearkit_format_check_prologue(uint32_t *header_bytes, const uint8_t *p, uint64_t size) {
    if (size < PROLOGUE_BYTES || memcmp(p, file_magic, 8) != 0)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "not a nearkit index (bad magic bytes)");
    uint32_t version = get_u32(p + 8);
    if (version > FORMAT_VERSION)
        return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                                 "index file format version %u is newer than this library reads "
                                 "(%u); upgrade nearkit",
                                 version, FORMAT_VERSION);
    if (version == 0) return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: format version 0");
    *header_bytes = get_u32(p + 12);
    if (*header_bytes < HEADER_BYTES || (uint64_t)*header_bytes + PROLOGUE_BYTES + 4 > size)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: truncated header (%llu bytes)",
                                 (unsigned long long)size);
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
    uint32_t version;   /* the file's format version */
    bool borrow;        /* a view: bodies that can be used in place are, for the index's life */
    bool check_values;  /* loaders check every stored value (a load, or a verified view) */
};

static void tag_text(char out[5], uint32_t tag) {
    for (int i = 0; i < 4; i++) {
        char c = (char)((tag >> (8 * i)) & 0xFF);
        out[i] = (c >= 32 && c < 127) ? c : '?';
    }
    out[4] = '\0';
}

static const section_ref *find_section(const nearkit_reader *r, uint32_t tag) {
    for (uint32_t i = 0; i < r->n_sections; i++)
        if (r->sections[i].tag == tag) return &r->sections[i];
    return NULL;
}

bool nearkit_reader_has_section(const nearkit_reader *r, uint32_t tag) {
    return find_section(r, tag) != NULL;
}

nearkit_status nearkit_reader_section(const void **data, uint64_t *size, const nearkit_reader *r,
                                      uint32_t tag) {
    const section_ref *s = find_section(r, tag);
    if (s) {
        *data = s->data;
        *size = s->size;
        return NEARKIT_OK;
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

bool nearkit_reader_borrows(const nearkit_reader *r) { return r->borrow; }
bool nearkit_reader_checks_values(const nearkit_reader *r) { return r->check_values; }

nearkit_status nearkit_reader_borrowable(const nearkit_reader *r, const void *data, uint32_t tag) {
    if ((uintptr_t)data % SECTION_ALIGN == 0) return NEARKIT_OK;
    char name[5];
    tag_text(name, tag);
    if (r->version < 2)
        return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                                 "cannot view a format version %u file: its section '%s' is not "
                                 "aligned for use in place; load it, or re-save it with this version "
                                 "to view it",
                                 r->version, name);
    return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                             "cannot view: section '%s' is not %u-byte aligned in memory (a buffer "
                             "to view must start at a %u-byte boundary)",
                             name, SECTION_ALIGN, SECTION_ALIGN);
}

/* Reads the header (after the prologue) into *h and returns its section count. */
static uint32_t decode_header(nearkit_file_header *h, const uint8_t *p) {
    const uint8_t *hp = p + PROLOGUE_BYTES;
    *h = (nearkit_file_header){get_u32(hp), get_u32(hp + 4), get_u32(hp + 8), get_u32(hp + 12),
                               get_u64(hp + 16), get_u64(hp + 24), get_u32(hp + 32)};
    return get_u32(hp + 36);
}

/* Splits the sections out of an image whose prologue and checksum passed. */
static nearkit_status split_sections(nearkit_reader *r, uint32_t n_sections, const uint8_t *p,
                                     size_t size, uint32_t header_bytes) {
    static const uint8_t zeros[SECTION_ALIGN] = {0};
    if (n_sections > MAX_SECTIONS)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %u sections", n_sections);
    const uint8_t *at = p + PROLOGUE_BYTES + header_bytes, *end = p + size - 4;
    r->n_sections = 0;
    for (uint32_t i = 0; i < n_sections; i++) {
        if ((size_t)(end - at) < SECTION_HEAD_BYTES)
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: section %u truncated", i);
        uint32_t tag = get_u32(at);
        uint64_t len = get_u64(at + 8);
        char name[5];
        tag_text(name, tag);
        uint32_t pad = get_u32(at + 4); /* version 1: reserved, every writer wrote 0 */
        if (r->version < 2 && pad != 0)
            return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                     "corrupt index: section '%s' has a non-zero reserved field", name);
        if (pad >= SECTION_ALIGN || (size_t)(end - at) - SECTION_HEAD_BYTES < pad ||
            memcmp(at + SECTION_HEAD_BYTES, zeros, pad) != 0)
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: section '%s' has bad padding",
                                     name);
        at += pad; /* the body follows the padding; the length check below sees what remains */
        if (find_section(r, tag))
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: section '%s' appears twice",
                                     name);
        if (len > (uint64_t)(end - at) - SECTION_HEAD_BYTES)
            return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                     "corrupt index: section %u claims %llu bytes, %llu remain", i,
                                     (unsigned long long)len,
                                     (unsigned long long)((end - at) - SECTION_HEAD_BYTES));
        r->sections[r->n_sections++] = (section_ref){tag, at + SECTION_HEAD_BYTES, len};
        at += SECTION_HEAD_BYTES + len;
    }
    if (at != end)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %zu stray bytes after the sections",
                                 (size_t)(end - at));
    return NEARKIT_OK;
}

nearkit_status nearkit_reader_open(nearkit_reader **out, nearkit_file_header *h, const uint8_t *image,
                                   size_t size, uint32_t header_bytes, const uint32_t *crc, bool borrow) {
    *out = NULL;
    if (crc && *crc != get_u32(image + size - 4))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: checksum mismatch (the file is truncated or damaged)");
    nearkit_reader *r = malloc(sizeof *r);
    if (!r) return nearkit_oom();
    r->version = get_u32(image + 8); /* checked by nearkit_format_check_prologue */
    r->borrow = borrow;
    r->check_values = crc != NULL;
    uint32_t n_sections = decode_header(h, image);
    nearkit_status st = split_sections(r, n_sections, image, size, header_bytes);
    if (st) {
        free(r);
        return st;
    }
    *out = r;
    return NEARKIT_OK;
}

void nearkit_reader_free(nearkit_reader *r) { free(r); }
