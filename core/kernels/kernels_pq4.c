/* The 4-bit product-quantisation fast scan (kernels_pq4.h): sums of 8-bit look-up table entries
 * over blocks of 32 codes, with the table of each sub-quantiser held in a register and looked up
 * with byte shuffles (AVX2 VPSHUFB, AVX-512BW VPSHUFB on 64 bytes), or one entry at a time.
 *
 * Every level computes the same integers: each byte column adds (lo table)[low nibble] + (hi
 * table)[high nibble], at most 2 x 127 (so the pair never overflows its byte), into 16-bit sums
 * that the caller keeps below 65536 (nearkit_pq4_entry_max). Integer addition is exact and
 * associative, so the order the levels add in does not matter: the same codes give the same sums
 * on every CPU. */
#include "base/internal.h"
#include "kernels/kernels.h"
#include "kernels/kernels_pq4.h"

#include <string.h>

uint32_t nearkit_pq4_entry_max(size_t columns) {
    size_t most = columns ? 65535 / (2 * columns) : 127;
    return most > 127 ? 127u : (uint32_t)most;
}

static void pq4_blocks_scalar(uint16_t *out, const uint8_t *blocks, size_t nblocks, const uint8_t *lo,
                              const uint8_t *hi, size_t columns, size_t rows) {
    for (size_t b = 0; b < nblocks; b++) {
        const uint8_t *block = blocks + b * columns * rows;
        uint16_t *sum = out + b * NEARKIT_PQ4_BLOCK;
        for (size_t r = 0; r < NEARKIT_PQ4_BLOCK; r++) sum[r] = 0;
        for (size_t j = 0; j < columns; j++) {
            const uint8_t *col = block + j * rows;
            const uint8_t *tl = lo + j * NEARKIT_PQ4_BLOCK, *th = hi + j * NEARKIT_PQ4_BLOCK;
            for (size_t r = 0; r < rows; r++)
                sum[r] = (uint16_t)(sum[r] + tl[col[r] & 15] + th[col[r] >> 4]);
        }
    }
}

#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) || \
                            (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))
#define NK_PQ4_X86 1
#include <immintrin.h>

#define NK_AVX2 __attribute__((target("avx2")))
#define NK_AVX512 __attribute__((target("avx512f,avx512bw,avx2")))

/* 16-bit lane k of even / odd holds the sum of row 2k / 2k + 1 (within each 128-bit lane's 16
 * rows): back into row order. */
static inline void store_rows(uint16_t *sum, const uint16_t *even, const uint16_t *odd) {
    for (size_t k = 0; k < NEARKIT_PQ4_BLOCK / 2; k++) {
        sum[2 * k] = even[k];
        sum[2 * k + 1] = odd[k];
    }
}

/* One byte column of a block (32 codes), both its sub-quantisers, into the even / odd sums. */
#define PQ4_COLUMN_AVX2(col, tl, th)                                                               \
    do {                                                                                           \
        __m256i x = _mm256_loadu_si256((const __m256i *)(col));                                    \
        __m256i pair = _mm256_add_epi8(                                                            \
            _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(tl)), _mm256_and_si256(x, nib)), \
            _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(th)),                         \
                                _mm256_and_si256(_mm256_srli_epi16(x, 4), nib)));                  \
        even = _mm256_add_epi16(even, _mm256_and_si256(pair, low_byte));                           \
        odd = _mm256_add_epi16(odd, _mm256_srli_epi16(pair, 8));                                   \
    } while (0)

NK_AVX2 static void pq4_blocks_avx2(uint16_t *out, const uint8_t *blocks, size_t nblocks, const uint8_t *lo,
                                    const uint8_t *hi, size_t columns, size_t rows) {
    const __m256i nib = _mm256_set1_epi8(15), low_byte = _mm256_set1_epi16(0xff);
    for (size_t b = 0; b < nblocks; b++) {
        const uint8_t *block = blocks + b * columns * rows;
        __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
        for (size_t j = 0; j < columns; j++)
            PQ4_COLUMN_AVX2(block + j * rows, lo + j * NEARKIT_PQ4_BLOCK, hi + j * NEARKIT_PQ4_BLOCK);
        uint16_t e[16], o[16];
        _mm256_storeu_si256((__m256i *)e, even);
        _mm256_storeu_si256((__m256i *)o, odd);
        store_rows(out + b * NEARKIT_PQ4_BLOCK, e, o);
    }
}

/* Two byte columns at once: a 64-byte load holds columns j and j + 1 of a whole block, the table
 * planes hold their tables side by side in the same order; the two halves are added at the end.
 * A block of fewer rows (a list's last) takes the AVX2 loop, a column at a time. */
NK_AVX512 static void pq4_blocks_avx512(uint16_t *out, const uint8_t *blocks, size_t nblocks, const uint8_t *lo,
                                        const uint8_t *hi, size_t columns, size_t rows) {
    if (rows != NEARKIT_PQ4_BLOCK) {
        pq4_blocks_avx2(out, blocks, nblocks, lo, hi, columns, rows);
        return;
    }
    const __m512i nib512 = _mm512_set1_epi8(15), low512 = _mm512_set1_epi16(0xff);
    const __m256i nib = _mm256_set1_epi8(15), low_byte = _mm256_set1_epi16(0xff);
    size_t pairs = columns / 2;
    for (size_t b = 0; b < nblocks; b++) {
        const uint8_t *block = blocks + b * columns * NEARKIT_PQ4_BLOCK;
        __m512i even2 = _mm512_setzero_si512(), odd2 = _mm512_setzero_si512();
        for (size_t p = 0; p < pairs; p++) {
            size_t at = 2 * p * NEARKIT_PQ4_BLOCK;
            __m512i x = _mm512_loadu_si512((const void *)(block + at));
            __m512i pair = _mm512_add_epi8(
                _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(lo + at)), _mm512_and_si512(x, nib512)),
                _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(hi + at)),
                                    _mm512_and_si512(_mm512_srli_epi16(x, 4), nib512)));
            even2 = _mm512_add_epi16(even2, _mm512_and_si512(pair, low512));
            odd2 = _mm512_add_epi16(odd2, _mm512_srli_epi16(pair, 8));
        }
        __m256i even = _mm256_add_epi16(_mm512_castsi512_si256(even2), _mm512_extracti64x4_epi64(even2, 1));
        __m256i odd = _mm256_add_epi16(_mm512_castsi512_si256(odd2), _mm512_extracti64x4_epi64(odd2, 1));
        if (columns % 2) {
            size_t at = (columns - 1) * NEARKIT_PQ4_BLOCK;
            PQ4_COLUMN_AVX2(block + at, lo + at, hi + at);
        }
        uint16_t e[16], o[16];
        _mm256_storeu_si256((__m256i *)e, even);
        _mm256_storeu_si256((__m256i *)o, odd);
        store_rows(out + b * NEARKIT_PQ4_BLOCK, e, o);
    }
}
#endif

nearkit_pq4_kernel nearkit_pq4_kernel_of(const nearkit_kernel_table *kt) {
#ifdef NK_PQ4_X86
    /* the tables are only handed out on CPUs that run their instruction sets, which include
     * these kernels' (AVX2; AVX-512 F and BW) */
    if (kt->id == NEARKIT_KERNELS_AVX512) return pq4_blocks_avx512;
    if (kt->id == NEARKIT_KERNELS_AVX2) return pq4_blocks_avx2;
#else
    (void)kt;
#endif
    return pq4_blocks_scalar;
}
