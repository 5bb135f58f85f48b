/* The index file format (docs/format.md): framing, checksum, sections; save and load. */
#include "base/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nearkit's file code assumes a little-endian host"
#endif

static const uint8_t file_magic[8] = {0x89, 'N', 'K', 'I', 'D', 'X', '\r', '\n'};
#define FORMAT_VERSION 1u
#define PROLOGUE_BYTES 16u    /* magic, version, header size */
#define HEADER_BYTES 40u      /* fixed header after the prologue */
#define SECTION_HEAD_BYTES 16u
#define PARAMS_TAG NEARKIT_TAG('P', 'R', 'M', 'S')
#define MAX_SECTIONS 64u
#define FILE_CHUNK_BYTES ((size_t)1 << 20) /* staging for writes, step of checksummed reads */

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib computes it) ------------------------------------- */

#define CRC_POLY 0xEDB88320u
static uint32_t crc_table[8][256];

static void crc_init_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int b = 0; b < 8; b++) c = (c & 1) ? CRC_POLY ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

/* The CRC of the bytes before p[0 .. n) (`crc`, 0 for none) followed by them. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init_table);
    uint32_t c = ~crc;
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
    return ~c;
}

/* Product of two polynomials modulo the CRC polynomial, both in the CRC's reflected bit order
 * (the top bit holds the coefficient of x^0). */
static uint32_t crc_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t bit = 0x80000000u; a; bit >>= 1) {
        if (a & bit) {
            product ^= b;
            a ^= bit;
        }
        b = (b & 1) ? (b >> 1) ^ CRC_POLY : b >> 1; /* b * x */
    }
    return product;
}

/* The CRC of A followed by B from the CRC of each and B's length: crc(A) * x^(8 len_b) + crc(B)
 * modulo the polynomial (the pre- and post-inversions cancel out). Lets a writer checksum the
 * sections as it streams them and fill in the header, which comes first, at the end. */
static uint32_t crc32_concat(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
    uint32_t shift = 0x80000000u, power = 0x00800000u; /* x^0, x^8 */
    for (; len_b; len_b >>= 1) {
        if (len_b & 1) shift = crc_multiply(shift, power);
        power = crc_multiply(power, power);
    }
    return crc_multiply(shift, crc_a) ^ crc_b;
}

/* ---- writing to a descriptor ------------------------------------------------------------------- */

static nearkit_status write_failed(const char *path, int err) {
    return nearkit_set_error(NEARKIT_ERR_IO, "cannot write '%s': %s", path, strerror(err));
}

static nearkit_status write_all(int fd, const uint8_t *p, size_t n, const char *path) {
    while (n) {
        ssize_t done = write(fd, p, n);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) return write_failed(path, done < 0 ? errno : ENOSPC);
        p += done;
        n -= (size_t)done;
    }
    return NEARKIT_OK;
}

static nearkit_status write_all_at(int fd, const uint8_t *p, size_t n, off_t at, const char *path) {
    while (n) {
        ssize_t done = pwrite(fd, p, n, at);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) return write_failed(path, done < 0 ? errno : ENOSPC);
        p += done;
        n -= (size_t)done;
        at += done;
    }
    return NEARKIT_OK;
}

/* ---- writer ------------------------------------------------------------------------------------ */

/* The writer streams the file: the header's place is held at the start (its section count is
 * known only at the end), the sections follow and are checksummed as they pass. In memory it
 * grows one image; to a file it stages small pieces in `data` and writes large ones straight
 * from the index, so a save needs no second copy of the index. */
struct nearkit_writer {
    uint8_t *data;
    size_t size, cap;
    int fd;           /* -1: the image in `data` is the result */
    const char *path; /* for messages, when writing to a file */
    uint32_t body_crc, n_sections;
    uint64_t body_bytes; /* bytes after the header so far */
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

static nearkit_status writer_flush(nearkit_writer *w) {
    nearkit_status st = write_all(w->fd, w->data, w->size, w->path);
    w->size = 0;
    return st;
}

/* Appends bytes after the header (counted in the checksum). */
static nearkit_status put_body(nearkit_writer *w, const void *p, size_t n) {
    if (!n) return NEARKIT_OK;
    w->body_crc = crc32_update(w->body_crc, p, n);
    w->body_bytes += n;
    if (w->fd < 0) { /* room reserved by the caller */
        memcpy(w->data + w->size, p, n);
        w->size += n;
        return NEARKIT_OK;
    }
    if (n > w->cap - w->size) {
        nearkit_status st = writer_flush(w);
        if (st) return st;
        if (n >= w->cap) return write_all(w->fd, p, n, w->path);
    }
    memcpy(w->data + w->size, p, n);
    w->size += n;
    return NEARKIT_OK;
}

static nearkit_status writer_open(nearkit_writer *w, int fd, const char *path) {
    *w = (nearkit_writer){.fd = fd, .path = path};
    nearkit_status st = writer_reserve(w, fd < 0 ? PROLOGUE_BYTES + HEADER_BYTES : FILE_CHUNK_BYTES);
    if (st) return st;
    memset(w->data, 0, PROLOGUE_BYTES + HEADER_BYTES); /* the header's place */
    w->size = PROLOGUE_BYTES + HEADER_BYTES;
    return NEARKIT_OK;
}

nearkit_status nearkit_writer_section_parts(nearkit_writer *w, uint32_t tag, const void *const *parts,
                                            const uint64_t *sizes, size_t n_parts) {
    uint64_t total = 0;
    for (size_t i = 0; i < n_parts; i++) total += sizes[i];
    if (w->n_sections >= MAX_SECTIONS)
        return nearkit_set_error(NEARKIT_ERR_INTERNAL, "too many sections in an index file");
    nearkit_status st = w->fd < 0 ? writer_reserve(w, SECTION_HEAD_BYTES + total) : NEARKIT_OK;
    uint8_t head[SECTION_HEAD_BYTES] = {0}; /* tag, reserved 0, length */
    memcpy(head, &tag, 4);
    memcpy(head + 8, &total, 8);
    if (!st) st = put_body(w, head, sizeof head);
    for (size_t i = 0; i < n_parts && !st; i++) st = put_body(w, parts[i], (size_t)sizes[i]);
    if (!st) w->n_sections++;
    return st;
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

static uint8_t *encode_u32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
    return p + 4;
}
static uint8_t *encode_u64(uint8_t *p, uint64_t v) {
    memcpy(p, &v, 8);
    return p + 8;
}

static void encode_header(uint8_t out[PROLOGUE_BYTES + HEADER_BYTES], const nearkit_index *ix,
                          uint32_t n_sections) {
    memcpy(out, file_magic, 8);
    uint8_t *p = encode_u32(out + 8, FORMAT_VERSION);
    p = encode_u32(p, HEADER_BYTES);
    p = encode_u32(p, (uint32_t)ix->ops->kind);
    p = encode_u32(p, (uint32_t)ix->metric);
    p = encode_u32(p, (uint32_t)ix->vector_type);
    p = encode_u32(p, ix->dimension);
    p = encode_u64(p, ix->ops->count(ix));
    p = encode_u64(p, ix->seed);
    p = encode_u32(p, ix->num_threads);
    encode_u32(p, n_sections);
}

/* Writes the trailing checksum and then the header into the place held for it. */
static nearkit_status writer_finish(nearkit_writer *w, const nearkit_index *ix) {
    uint8_t header[PROLOGUE_BYTES + HEADER_BYTES];
    encode_header(header, ix, w->n_sections);
    uint32_t crc = crc32_concat(crc32_update(0, header + 8, sizeof header - 8), w->body_crc,
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

/* Streams the whole file into the writer. */
static nearkit_status serialise(nearkit_writer *w, const nearkit_index *ix) {
    nearkit_status st = write_params(w, ix);
    if (!st) st = ix->ops->save(ix, w);
    if (!st) st = writer_finish(w, ix);
    return st;
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

static const section_ref *find_section(const nearkit_reader *r, uint32_t tag) {
    for (uint32_t i = 0; i < r->n_sections; i++)
        if (r->sections[i].tag == tag) return &r->sections[i];
    return NULL;
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

/* Sets the last error to "<prefix>: <the last error's message>" with `status`. The message is
 * copied first: it lives in the very buffer the new one is formatted into. */
static nearkit_status prefix_last_error(nearkit_status status, const char *prefix) {
    char message[512];
    snprintf(message, sizeof message, "%s", nearkit_last_error_message());
    return nearkit_set_error(status, "%s: %s", prefix, message);
}

typedef struct file_header {
    uint32_t kind, metric, vector_type, dimension;
    uint64_t count, seed;
    uint32_t num_threads, n_sections;
} file_header;

/* Checks the prologue (magic, version, header size) against the file's size; the first thing a
 * reader does, before it reads or allocates anything else. `p` holds min(size, 16) bytes. */
static nearkit_status check_prologue(uint32_t *header_bytes, const uint8_t *p, uint64_t size) {
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

/* Reads the header and splits the sections out of an image whose prologue and checksum passed. */
static nearkit_status split_sections(file_header *h, nearkit_reader *r, const uint8_t *p, size_t size,
                                     uint32_t header_bytes) {
    const uint8_t *hp = p + PROLOGUE_BYTES;
    *h = (file_header){get_u32(hp), get_u32(hp + 4), get_u32(hp + 8), get_u32(hp + 12),
                       get_u64(hp + 16), get_u64(hp + 24), get_u32(hp + 32), get_u32(hp + 36)};
    if (h->n_sections > MAX_SECTIONS)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: %u sections", h->n_sections);
    const uint8_t *at = p + PROLOGUE_BYTES + header_bytes, *end = p + size - 4;
    r->n_sections = 0;
    for (uint32_t i = 0; i < h->n_sections; i++) {
        if ((size_t)(end - at) < SECTION_HEAD_BYTES)
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: section %u truncated", i);
        uint32_t tag = get_u32(at);
        uint64_t len = get_u64(at + 8);
        char name[5];
        tag_text(name, tag);
        if (get_u32(at + 4) != 0) /* every writer of format 1 wrote 0 */
            return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                     "corrupt index: section '%s' has a non-zero reserved field", name);
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

/* Reads one PRMS entry at *p (before end) into name and value and steps past it. */
static nearkit_status read_param(char name[65], double *value, const uint8_t **p, const uint8_t *end,
                                 uint32_t i) {
    uint16_t len = 0;
    if (end - *p >= 2) memcpy(&len, *p, 2);
    if (end - *p < 2 || (size_t)(end - *p) < 2u + len + 8u || len == 0 || len > 64)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter %u", i);
    if (memchr(*p + 2, '\0', len))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter %u has a NUL in its name",
                                 i);
    memcpy(name, *p + 2, len);
    name[len] = '\0';
    memcpy(value, *p + 2 + len, 8);
    *p += 2 + len + 8;
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
    bool seen[64] = {false}; /* a kind has far fewer parameters */
    for (uint32_t i = 0; i < n; i++) {
        char name[65];
        double value = 0;
        st = read_param(name, &value, &p, end, i);
        if (st) return st;
        size_t which = ix->ops->n_params;
        for (size_t j = 0; j < ix->ops->n_params; j++)
            if (strcmp(ix->ops->params[j].name, name) == 0) which = j;
        if (which == ix->ops->n_params)
            return nearkit_set_error(NEARKIT_ERR_UNSUPPORTED,
                                     "index file sets parameter '%s' that this library does not know",
                                     name);
        if (which < 64 && seen[which])
            return nearkit_set_error(NEARKIT_ERR_CORRUPT, "corrupt index: parameter '%s' appears twice",
                                     name);
        if (which < 64) seen[which] = true;
        st = nearkit_index_set_param(ix, name, value);
        if (st) return prefix_last_error(NEARKIT_ERR_CORRUPT, "corrupt index");
    }
    if (p != end)
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: %zu stray bytes after the parameters", (size_t)(end - p));
    return NEARKIT_OK;
}

/* Builds the index from an image whose prologue passed; `crc` is the checksum of bytes
 * 8 .. size - 4 as read. */
static nearkit_status deserialise(nearkit_index **out, const uint8_t *p, size_t size,
                                  uint32_t header_bytes, uint32_t crc) {
    if (crc != get_u32(p + size - 4))
        return nearkit_set_error(NEARKIT_ERR_CORRUPT,
                                 "corrupt index: checksum mismatch (the file is truncated or damaged)");
    file_header h = {0};
    nearkit_reader *r = malloc(sizeof *r);
    if (!r) return nearkit_oom();
    nearkit_status st = split_sections(&h, r, p, size, header_bytes);
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
        if (st && st != NEARKIT_ERR_OUT_OF_MEMORY)
            st = prefix_last_error(NEARKIT_ERR_CORRUPT, "corrupt index");
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

/* ---- loading a file ---------------------------------------------------------------------------- */

static nearkit_status read_exactly(int fd, uint8_t *p, size_t n, const char *path) {
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
            return nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        if (got == 0)
            return nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': it shrank while being read",
                                     path);
        p += got;
        n -= (size_t)got;
    }
    return NEARKIT_OK;
}

/* Opens a regular file for reading. O_NONBLOCK keeps open() from waiting for a FIFO's writer;
 * anything but a regular file is refused before a byte is read. */
static nearkit_status open_regular_file(int *fd_out, uint64_t *size, const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return nearkit_set_error(NEARKIT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat info;
    nearkit_status st = NEARKIT_OK;
    if (fstat(fd, &info) != 0)
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    else if (!S_ISREG(info.st_mode))
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': not a regular file", path);
    else if ((uint64_t)info.st_size > SIZE_MAX / 2)
        st = nearkit_set_error(NEARKIT_ERR_IO, "cannot read '%s': file too large", path);
    if (st) {
        close(fd);
        return st;
    }
    *fd_out = fd;
    *size = (uint64_t)info.st_size;
    return NEARKIT_OK;
}

/* Reads the prologue and checks it, then the rest of the file into one allocation, checksumming
 * it a chunk at a time as it arrives. */
static nearkit_status read_image(uint8_t **out, uint32_t *header_bytes, uint32_t *crc, int fd,
                                 size_t size, const char *path) {
    uint8_t prologue[PROLOGUE_BYTES];
    nearkit_status st = read_exactly(fd, prologue, size < PROLOGUE_BYTES ? size : PROLOGUE_BYTES, path);
    if (!st) st = check_prologue(header_bytes, prologue, size);
    if (st) return st;
    uint8_t *image = malloc(size);
    if (!image) return nearkit_oom();
    memcpy(image, prologue, PROLOGUE_BYTES);
    uint32_t c = crc32_update(0, prologue + 8, PROLOGUE_BYTES - 8);
    size_t checked_end = size - 4; /* the stored checksum is not part of what it covers */
    for (size_t at = PROLOGUE_BYTES; at < size && !st; at += FILE_CHUNK_BYTES) {
        size_t n = size - at < FILE_CHUNK_BYTES ? size - at : FILE_CHUNK_BYTES;
        st = read_exactly(fd, image + at, n, path);
        if (at < checked_end) c = crc32_update(c, image + at, (at + n < checked_end ? at + n : checked_end) - at);
    }
    if (st) {
        free(image);
        return st;
    }
    *out = image;
    *crc = c;
    return NEARKIT_OK;
}

/* ---- saving a file ----------------------------------------------------------------------------- */

/* A save writes a temporary file in the target's directory and renames it over the target, so
 * readers see the old file or the new one, whole, whatever happens (a full disk, kill -9, power
 * loss: the data and then the directory are fsync'ed). The temporary is created exclusively and
 * never through a link: where the file system can, as an anonymous O_TMPFILE that gets a name
 * only for the instant before the rename, else under a name no one can plant beforehand:
 *     .<target name>.nkx-tmp-<pid>-<8 random hex digits>
 * A save first removes such leftovers of earlier saves of the same target (killed mid-save)
 * whose process no longer runs, or that were last written more than STALE_SECONDS ago. */
#if defined(O_TMPFILE) && !defined(NEARKIT_IO_NAMED_TEMPORARIES_ONLY)
#define USE_ANONYMOUS_TEMPORARIES 1 /* tests/test_io_named_temporaries.c builds without them */
#endif
#define TEMP_MARK ".nkx-tmp-"
#define TEMP_BASE_MAX 200 /* of the target's name kept in a temporary's name (NAME_MAX is 255) */
#define STALE_SECONDS 600

typedef struct save_target {
    const char *path, *base; /* base: the last component of path */
    int dir_fd;
    bool exists;
    struct stat info; /* of the existing target */
    char temp[1 + TEMP_BASE_MAX + sizeof TEMP_MARK + 32];
} save_target;

static const char *file_type_name(mode_t mode) {
    if (S_ISLNK(mode)) return "a symbolic link";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

/* Opens the target's directory and looks at the target itself without following a link: only
 * a regular file (or nothing) may be replaced. */
static nearkit_status open_target(save_target *t, const char *path) {
    *t = (save_target){.path = path, .dir_fd = -1};
    const char *slash = strrchr(path, '/');
    t->base = slash ? slash + 1 : path;
    if (!t->base[0])
        return nearkit_set_error(NEARKIT_ERR_IO, "cannot write '%s': the path names a directory", path);
    size_t dir_len = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(dir_len + 1);
    if (!dir) return nearkit_oom();
    if (!slash) memcpy(dir, ".", 2);
    else if (dir_len == 0) memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, dir_len);
        dir[dir_len] = '\0';
    }
    t->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
#if defined(O_PATH)
    /* a directory we may write but not list: no cleanup of leftovers, no sync of the rename */
    if (t->dir_fd < 0 && errno == EACCES) t->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
#endif
    int err = errno;
    free(dir);
    if (t->dir_fd < 0) return write_failed(path, err);
    if (fstatat(t->dir_fd, t->base, &t->info, AT_SYMLINK_NOFOLLOW) == 0) t->exists = true;
    else if (errno != ENOENT) return write_failed(path, errno);
    if (t->exists && !S_ISREG(t->info.st_mode))
        return nearkit_set_error(NEARKIT_ERR_IO,
                                 "cannot write '%s': it is %s; a save replaces only a regular file",
                                 path, file_type_name(t->info.st_mode));
    return NEARKIT_OK;
}

static size_t temp_prefix(char *out, const char *base) {
    size_t len = strlen(base) < TEMP_BASE_MAX ? strlen(base) : TEMP_BASE_MAX;
    out[0] = '.';
    memcpy(out + 1, base, len);
    memcpy(out + 1 + len, TEMP_MARK, sizeof TEMP_MARK);
    return 1 + len + sizeof TEMP_MARK - 1;
}

static uint32_t random_u32(void) {
    uint32_t v = 0;
#if defined(__linux__)
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v) return v;
#endif
    /* no entropy at hand: unpredictability only spares retries, O_EXCL is what keeps it safe */
    static _Atomic uint32_t counter;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    v = (uint32_t)now.tv_nsec ^ (uint32_t)now.tv_sec * 2654435761u ^ (uint32_t)getpid() << 16;
    return v ^ (++counter * 0x9E3779B9u);
}

static void next_temp_name(save_target *t) {
    size_t at = temp_prefix(t->temp, t->base);
    snprintf(t->temp + at, sizeof t->temp - at, "%ld-%08x", (long)getpid(), (unsigned)random_u32());
}

/* Parses "<pid>-<8 hex digits>" (what follows the prefix in a temporary's name). */
static bool parse_temp_suffix(long *pid, const char *s) {
    char *end;
    errno = 0;
    *pid = strtol(s, &end, 10);
    if (end == s || *end != '-' || errno || *pid <= 0 || s[0] == '+' || s[0] == '-') return false;
    s = end + 1;
    for (int i = 0; i < 8; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[8] == '\0';
}

static bool temp_is_stale(const save_target *t, const char *name, long pid) {
    struct stat info;
    if (fstatat(t->dir_fd, name, &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(info.st_mode))
        return false;
    if (pid <= (long)INT32_MAX && kill((pid_t)pid, 0) != 0 && errno == ESRCH) return true;
    return difftime(time(NULL), info.st_mtime) > STALE_SECONDS;
}

/* Removes leftovers of earlier saves of this target (see above). Best effort: a directory that
 * cannot be listed leaves them. */
static void remove_stale_temporaries(const save_target *t) {
    char prefix[sizeof t->temp];
    size_t prefix_len = temp_prefix(prefix, t->base);
    int fd = dup(t->dir_fd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0) close(fd);
        return;
    }
    struct dirent *entry;
    long pid;
    while ((entry = readdir(dir)) != NULL)
        if (strncmp(entry->d_name, prefix, prefix_len) == 0 &&
            parse_temp_suffix(&pid, entry->d_name + prefix_len) && temp_is_stale(t, entry->d_name, pid))
            unlinkat(t->dir_fd, entry->d_name, 0);
    closedir(dir);
}

/* Creates a named temporary: exclusively, never through a link, under a fresh random name. */
static int create_named_temp(save_target *t, mode_t mode) {
    for (int attempt = 0; attempt < 100; attempt++) {
        next_temp_name(t);
        int fd = openat(t->dir_fd, t->temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

#if defined(USE_ANONYMOUS_TEMPORARIES)
/* Gives an O_TMPFILE file a (temporary) name. Returns 0 or an errno value. */
static int name_anonymous_temp(save_target *t, int fd) {
#if defined(AT_EMPTY_PATH)
    char proc_path[64];
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
    for (int attempt = 0; attempt < 100; attempt++) {
        next_temp_name(t);
        /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link works for everyone else */
        if (linkat(fd, "", t->dir_fd, t->temp, AT_EMPTY_PATH) == 0) return 0;
        if (errno != EEXIST && linkat(AT_FDCWD, proc_path, t->dir_fd, t->temp, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST) return errno;
    }
    return EEXIST;
#else
    (void)t;
    (void)fd;
    return ENOTSUP;
#endif
}
#endif

/* The replacement's permissions: an existing target's mode (and owner and group, where this
 * process may set them) are kept; a new file gets 0666 less the umask, applied by open itself. */
static nearkit_status set_permissions(const save_target *t, int fd) {
    if (!t->exists) return NEARKIT_OK;
    struct stat info;
    if (fstat(fd, &info) == 0 && (info.st_uid != t->info.st_uid || info.st_gid != t->info.st_gid) &&
        fchown(fd, t->info.st_uid, t->info.st_gid) != 0) {
        /* not allowed to give the file away: keep at least the group when this process may */
        if (fchown(fd, (uid_t)-1, t->info.st_gid) != 0) { /* best effort */
        }
    }
    if (fchmod(fd, t->info.st_mode & 07777) != 0) return write_failed(t->path, errno);
    return NEARKIT_OK;
}

/* Writes the whole file to fd and makes it durable. */
static nearkit_status write_file(const save_target *t, int fd, const nearkit_index *ix) {
    nearkit_writer w;
    nearkit_status st = writer_open(&w, fd, t->path);
    if (!st) st = serialise(&w, ix);
    free(w.data);
    if (!st) st = set_permissions(t, fd);
    if (!st && fsync(fd) != 0) st = write_failed(t->path, errno);
    return st;
}

/* Writes the file as an anonymous temporary and names it. NEARKIT_OK with *done false when the
 * file system or the system refuses that way (then the named way is taken). */
static nearkit_status write_anonymous(save_target *t, const nearkit_index *ix, bool *done) {
    *done = false;
#if defined(USE_ANONYMOUS_TEMPORARIES)
    int fd = openat(t->dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, t->exists ? 0600 : 0666);
    if (fd < 0) return NEARKIT_OK;
    nearkit_status st = write_file(t, fd, ix);
    if (!st) {
        int err = name_anonymous_temp(t, fd);
        if (!err) *done = true;
        else if (err == ENOSPC || err == EDQUOT) st = write_failed(t->path, err);
    } else {
        *done = true; /* a failure of the write itself is final */
    }
    close(fd);
    return st;
#else
    (void)t;
    (void)ix;
    return NEARKIT_OK;
#endif
}

static nearkit_status write_named(save_target *t, const nearkit_index *ix) {
    int fd = create_named_temp(t, t->exists ? 0600 : 0666);
    if (fd < 0) return write_failed(t->path, errno);
    nearkit_status st = write_file(t, fd, ix);
    if (close(fd) != 0 && !st) st = write_failed(t->path, errno);
    if (st) unlinkat(t->dir_fd, t->temp, 0);
    return st;
}

static nearkit_status replace_target(save_target *t, const nearkit_index *ix) {
    bool done = false;
    nearkit_status st = write_anonymous(t, ix, &done);
    if (!st && !done) st = write_named(t, ix);
    if (st) return st;
    if (renameat(t->dir_fd, t->temp, t->dir_fd, t->base) != 0) {
        st = write_failed(t->path, errno);
        unlinkat(t->dir_fd, t->temp, 0);
        return st;
    }
    /* the rename is durable once the directory is; some file systems cannot sync one */
    if (fsync(t->dir_fd) != 0 && errno != EINVAL && errno != ENOTSUP && errno != EROFS && errno != EBADF)
        return write_failed(t->path, errno);
    return NEARKIT_OK;
}

/* ---- public entry points ----------------------------------------------------------------------- */

NEARKIT_API nearkit_status nearkit_index_save_to_buffer(void **data, size_t *size,
                                                        const nearkit_index *index) {
    nearkit_clear_error();
    if (!data || !size || !index)
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to save_to_buffer");
    nearkit_writer w;
    nearkit_status st = writer_open(&w, -1, NULL);
    if (!st) st = serialise(&w, index);
    if (st) {
        free(w.data);
        return st;
    }
    *data = w.data;
    *size = w.size;
    return NEARKIT_OK;
}

NEARKIT_API void nearkit_buffer_free(void *data) { free(data); }

NEARKIT_API nearkit_status nearkit_index_load_from_buffer(nearkit_index **out, const void *data,
                                                          size_t size) {
    nearkit_clear_error();
    if (!out || (!data && size))
        return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to load_from_buffer");
    *out = NULL;
    uint32_t header_bytes = 0;
    nearkit_status st = check_prologue(&header_bytes, data, size);
    if (st) return st;
    const uint8_t *p = data;
    return deserialise(out, p, size, header_bytes, crc32_update(0, p + 8, size - 12));
}

NEARKIT_API nearkit_status nearkit_index_save(const nearkit_index *index, const char *path) {
    nearkit_clear_error();
    if (!index || !path) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to save");
    save_target t;
    nearkit_status st = open_target(&t, path);
    if (!st) {
        remove_stale_temporaries(&t);
        st = replace_target(&t, index);
    }
    if (t.dir_fd >= 0) close(t.dir_fd);
    return st;
}

NEARKIT_API nearkit_status nearkit_index_load(nearkit_index **out, const char *path) {
    nearkit_clear_error();
    if (!out || !path) return nearkit_set_error(NEARKIT_ERR_INVALID_ARGUMENT, "NULL argument to load");
    *out = NULL;
    int fd = -1;
    uint64_t size = 0;
    nearkit_status st = open_regular_file(&fd, &size, path);
    if (st) return st;
    uint8_t *image = NULL;
    uint32_t header_bytes = 0, crc = 0;
    st = read_image(&image, &header_bytes, &crc, fd, (size_t)size, path);
    close(fd);
    if (!st) st = deserialise(out, image, (size_t)size, header_bytes, crc);
    free(image);
    if (st && st != NEARKIT_ERR_IO && st != NEARKIT_ERR_OUT_OF_MEMORY) st = prefix_last_error(st, path);
    return st;
}
