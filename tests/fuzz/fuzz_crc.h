/* The index file's CRC-32 (IEEE 802.3, reflected, as zlib computes it), four bits at a time: for
 * the fuzz harnesses and the regression tests that forge files. Deliberately not the library's
 * own code, so a bug there cannot hide in both. */
#ifndef NEARKIT_FUZZ_CRC_H
#define NEARKIT_FUZZ_CRC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t fuzz_crc32(const uint8_t *p, size_t n) {
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
    };
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; i++) {
        c = nibble[(c ^ p[i]) & 15u] ^ (c >> 4);
        c = nibble[(c ^ (p[i] >> 4)) & 15u] ^ (c >> 4);
    }
    return ~c;
}

/* Writes the CRC of data[8 .. size - 4) into the file's last four bytes. No-op below 12 bytes. */
static inline void fuzz_fix_checksum(uint8_t *data, size_t size) {
    if (size < 12) return;
    uint32_t crc = fuzz_crc32(data + 8, size - 12);
    memcpy(data + size - 4, &crc, 4);
}

#endif
