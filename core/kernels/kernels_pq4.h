/* The 4-bit product-quantisation fast scan kernel. Internal to nearkit (hidden symbols).
 *
 * Codes of m 4-bit sub-quantisers are stored two to a byte (sub-quantiser 2j in the low nibble
 * of byte j, 2j + 1 in the high one; `columns` = ceil(m / 2) bytes a code) and scanned in blocks
 * of NEARKIT_PQ4_BLOCK codes laid out by byte column: byte j of the block's code r at
 * block[j * 32 + r] (search/ivf_lists.h interleaves lists this way). A query's look-up tables are
 * two planes of columns * 32 bytes: lo[j * 32 + i] and lo[j * 32 + 16 + i] are both the 8-bit
 * entry of sub-quantiser 2j for centroid i (the copy fills the second 128-bit lane of a register),
 * hi likewise for 2j + 1 (zero where m is odd and 2j + 1 = m). Entries are at most
 * nearkit_pq4_entry_max(columns), so that no sum exceeds 65535. */
#ifndef NEARKIT_KERNELS_PQ4_H
#define NEARKIT_KERNELS_PQ4_H

#include <stddef.h>
#include <stdint.h>

#define NEARKIT_PQ4_BLOCK 32

struct nearkit_kernel_table;

/* out[b * 32 + r] = the sum over the columns of lo[low nibble] + hi[high nibble] of code r of
 * block b, for nblocks blocks of columns * rows bytes back to back, byte j of a block's code r at
 * block[j * rows + r] (rows <= 32: 32 for whole blocks; fewer for a list's last block laid out for
 * only the rows it has room for). Sums of r >= rows are garbage: with rows < 32 a column's load
 * reaches into the next column's bytes, and past the last block's end by up to 32 - rows bytes,
 * which must be readable. */
typedef void (*nearkit_pq4_kernel)(uint16_t *out, const uint8_t *blocks, size_t nblocks, const uint8_t *lo,
                                   const uint8_t *hi, size_t columns, size_t rows);

/* The largest table entry for codes of `columns` bytes: 127 (a lo + hi pair fits a byte), less
 * where the sum over the columns could pass 65535. */
uint32_t nearkit_pq4_entry_max(size_t columns);

/* The kernel of a kernel level (the same sums on every level). */
nearkit_pq4_kernel nearkit_pq4_kernel_of(const struct nearkit_kernel_table *kt);

#endif
