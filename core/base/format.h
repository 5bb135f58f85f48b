/* The index file format's machinery (docs/format.md): an image's checksum, the prologue and
 * header, the section writer and the section reader. Internal to nearkit (hidden symbols).
 *
 * What a kind uses (nearkit_writer_section*, nearkit_reader_section*, NEARKIT_TAG) is declared in
 * base/internal.h; this header adds what the file's entry points (api/io.c) need on top: opening
 * and finishing a writer, checking a prologue, splitting an image into its sections. It knows
 * nothing of indexes: the caller fills a nearkit_file_header from one and reads one back. */
#ifndef NEARKIT_FORMAT_H
#define NEARKIT_FORMAT_H

#include "base/crc32.h"
#include "base/internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nearkit's file code assumes a little-endian host"
#endif

#define NEARKIT_FORMAT_PROLOGUE_BYTES 16u /* magic, version, header size */
/* The step of a checksummed read (a file writer stages in 2 MB stretches: format.c). */
#define NEARKIT_FORMAT_CHUNK_BYTES ((size_t)1 << 20)

/* ---- the checksum (base/crc32.h) --------------------------------------------------------------- */

/* The checksum a file stores: the CRC of bytes 8 .. size - 4 of an image of `size` >= 12 bytes. */
uint32_t nearkit_format_image_crc(const uint8_t *image, size_t size);

/* ---- the header -------------------------------------------------------------------------------- */

/* The header's fields about the index (the section count is the writer's and the reader's). */
typedef struct nearkit_file_header {
    uint32_t kind, metric, vector_type, dimension;
    uint64_t count, seed;
    uint32_t num_threads;
} nearkit_file_header;

/* Checks the prologue (magic, version, header size) against the file's size; the first thing a
 * reader does, before it reads or allocates anything else. `p` holds min(size, 16) bytes.
 * NEARKIT_ERR_CORRUPT (foreign or truncated), NEARKIT_ERR_UNSUPPORTED (a newer format version);
 * on success *header_bytes gets the header's size. */
nearkit_status nearkit_format_check_prologue(uint32_t *header_bytes, const uint8_t *p, uint64_t size);

/* "cannot write '<path>': <strerror(err)>" as NEARKIT_ERR_IO. */
nearkit_status nearkit_format_write_failed(const char *path, int err);

/* ---- writing ----------------------------------------------------------------------------------- */

/* The writer streams the file: the header's place is held at the start (its section count is
 * known only at the end), the sections follow and are checksummed as they pass. In memory it
 * grows one image; to a file it stages small pieces and writes large ones straight from the
 * caller's memory, so a save needs no second copy of the index. The fields are format.c's;
 * the struct is here only so that a caller can hold one. */
struct nearkit_writer {
    uint8_t *data;
    size_t size, cap;
    int fd;           /* -1: the image in `data` is the result */
    const char *path; /* for messages, when writing to a file */
    uint32_t body_crc, n_sections;
    uint64_t body_bytes; /* bytes after the header so far */
};

/* Opens a writer to the descriptor fd (positioned at 0; `path` names it in messages), or with
 * fd -1 to memory. Whatever it returns, nearkit_writer_discard releases it. */
nearkit_status nearkit_writer_open(nearkit_writer *w, int fd, const char *path);
/* Writes the trailing checksum, then the header (with the count of sections written) into the
 * place held for it. Nothing may be written after it. */
nearkit_status nearkit_writer_finish(nearkit_writer *w, const nearkit_file_header *h);
/* A finished in-memory writer's image: the caller owns *data (free()) and the writer is spent. */
void nearkit_writer_take_image(nearkit_writer *w, void **data, size_t *size);
/* Releases the writer's memory (the descriptor stays the caller's). */
void nearkit_writer_discard(nearkit_writer *w);

/* ---- reading ----------------------------------------------------------------------------------- */

/* Checks the stored checksum of an image whose prologue passed (`crc`: the checksum of bytes
 * 8 .. size - 4 as read; NULL for a view opened without verification, which then trusts the
 * values in the sections and checks only the framing), reads its header into *h and splits out
 * its sections: every length checked against the image, no tag twice, padding (version 2) or
 * reserved fields (version 1) as written, no stray bytes. O(sections). On success *out is a
 * reader over the image (which must outlive it; nearkit_reader_free releases it); `borrow`:
 * the image outlives the index too (a view), whose loaders may use bodies in place. Errors are
 * NEARKIT_ERR_CORRUPT or out of memory. */
nearkit_status nearkit_reader_open(nearkit_reader **out, nearkit_file_header *h, const uint8_t *image,
                                   size_t size, uint32_t header_bytes, const uint32_t *crc, bool borrow);
void nearkit_reader_free(nearkit_reader *r);

#endif
