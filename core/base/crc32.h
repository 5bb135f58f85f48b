/* CRC-32 (IEEE 802.3, reflected: the checksum zlib and gzip compute), the index file's checksum.
 * Internal to nearkit (hidden symbols). */
#ifndef NEARKIT_CRC32_H
#define NEARKIT_CRC32_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The CRC of the bytes before p[0 .. n) (`crc`, 0 for none) followed by them. Thread-safe. On x86
 * CPUs with carry-less multiplication (PCLMULQDQ) it folds 64 bytes a step; elsewhere it uses
 * tables. Both give the same value. */
uint32_t nearkit_crc32(uint32_t crc, const uint8_t *p, size_t n);
/* The same CRC by tables alone (the fallback; tests compare the two). */
uint32_t nearkit_crc32_tables(uint32_t crc, const uint8_t *p, size_t n);
/* The same CRC by carry-less multiplication; only where nearkit_crc32_has_clmul(). */
uint32_t nearkit_crc32_clmul(uint32_t crc, const uint8_t *p, size_t n);
bool nearkit_crc32_has_clmul(void);

/* The CRC of A followed by B from the CRC of each and B's length (the pre- and post-inversions
 * cancel out): lets a writer checksum sections as it streams them and put the header, which
 * comes first, in at the end. */
uint32_t nearkit_crc32_concat(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

#endif
