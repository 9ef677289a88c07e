// The PNG steps for AVX2: the loops of u8-png-steps.h, vectorised by the compiler for this target,
// Adler-32's sums by byte sums and weighted pairs (adler_sums), and the runs search of
// u8-png-runs-mask.h with a block's mask from two 32-byte comparisons.
#if defined(__x86_64__)
#include "nj-png-internal.h"

#include <immintrin.h>

#define NJ_TARGET __attribute__((target("avx2")))
#define NJ_FORM(name) name##_avx2

// Adler-32's two sums of a block of n bytes D (n <= 4096, so both fit 32 bits): S = sum D[i] and
// W = sum (n - i) D[i], 32 bytes a step. Of n = 32K + r bytes, the K steps give S1, the sum of
// each step's sums before it (P) and each step's sum (32 - j) D[j] (VPMADDUBSW: bytes times
// weights 32..1, pairs added in 16 bits, at most 2 * 255 * 32; then VPMADDWD by 1). Byte j of
// step k weighs 32 (K - 1 - k) + (32 - j) within the K steps, so W1 = 32 P + those sums; the r
// bytes after them add r to every weight before. The compiler's form of the two plain loops
// (32-bit lanes, a multiply per 8 bytes) ran at 0.095 ns a byte on Zen 3.
#define NJ_PNG_ADLER_SUMS 1
static inline NJ_TARGET void NJ_FORM(adler_sums)(const uint8_t *restrict bytes, size_t n, uint32_t *sum,
                                                 uint32_t *weighted) {
    const size_t whole = n & ~(size_t)31;
    const __m256i weights = _mm256_setr_epi8(32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,  //
                                             16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m256i ones = _mm256_set1_epi16(1), zero = _mm256_setzero_si256();
    __m256i sums = zero, before = zero, within = zero;  // 64-bit lanes, 64-bit lanes, 32-bit lanes
    for (size_t i = 0; i < whole; i += 32) {
        const __m256i d = _mm256_loadu_si256((const __m256i *)(const void *)(bytes + i));
        before = _mm256_add_epi64(before, sums);
        sums = _mm256_add_epi64(sums, _mm256_sad_epu8(d, zero));
        within = _mm256_add_epi32(within, _mm256_madd_epi16(_mm256_maddubs_epi16(d, weights), ones));
    }
    uint64_t lanes[4];
    uint32_t words[8];
    _mm256_storeu_si256((__m256i *)(void *)lanes, sums);
    const uint32_t s1 = (uint32_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
    _mm256_storeu_si256((__m256i *)(void *)lanes, before);
    uint32_t w1 = 32u * (uint32_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
    _mm256_storeu_si256((__m256i *)(void *)words, within);
    for (int k = 0; k < 8; k++) w1 += words[k];
    const size_t rest = n - whole;
    uint32_t s2 = 0, w2 = 0;
    for (size_t i = 0; i < rest; i++) {
        s2 += bytes[whole + i];
        w2 += (uint32_t)(rest - i) * bytes[whole + i];
    }
    *sum = s1 + s2;
    *weighted = w1 + (uint32_t)rest * s1 + w2;
}

#include "u8-png-steps.h"

static inline NJ_TARGET uint64_t NJ_FORM(equal_mask)(const uint8_t *p) {
    const __m256i low = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)p), _mm256_loadu_si256((const __m256i *)(p - 1)));
    const __m256i high =
        _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + 32)), _mm256_loadu_si256((const __m256i *)(p + 31)));
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(low) | (uint64_t)(uint32_t)_mm256_movemask_epi8(high) << 32;
}
#include "u8-png-runs-mask.h"
#endif
