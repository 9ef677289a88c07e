// Deinterleaving bytes by 4 (nj_u8_deinterleave4) for AVX2: VPSHUFB gathers each phase's bytes
// within a 128-bit lane, VPERMD joins the lanes' pieces, and two 32-byte blocks are paired
// into 16 bytes of each phase.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "nj-shuffle-internal.h"

#define NJ_TARGET __attribute__((target("avx2")))

// 32 source bytes as phase 0's 8 bytes, then phase 1's, 2's and 3's.
static inline NJ_TARGET __m256i phases8(const uint8_t *in, __m256i within, __m256i across) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)in);
    return _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, within), across);
}

NJ_TARGET void nj_u8_deinterleave4_avx2(const uint8_t *restrict in, uint8_t *restrict out0, uint8_t *restrict out1,
                                        uint8_t *restrict out2, uint8_t *restrict out3, size_t n) {
    const __m256i within = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                            0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m256i across = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t x = 0;
    for (; x + 16 <= n; x += 16) {
        const __m256i a = phases8(in + 4 * x, within, across), b = phases8(in + 4 * x + 32, within, across);
        // Lane 0 of the low pairs: phase 0 of a then of b; lane 1: phase 2. The high pairs: 1, 3.
        const __m256i even = _mm256_unpacklo_epi64(a, b), odd = _mm256_unpackhi_epi64(a, b);
        _mm_storeu_si128((__m128i *)(out0 + x), _mm256_castsi256_si128(even));
        _mm_storeu_si128((__m128i *)(out1 + x), _mm256_castsi256_si128(odd));
        _mm_storeu_si128((__m128i *)(out2 + x), _mm256_extracti128_si256(even, 1));
        _mm_storeu_si128((__m128i *)(out3 + x), _mm256_extracti128_si256(odd, 1));
    }
    nj_u8_deinterleave4_scalar(in + 4 * x, out0 + x, out1 + x, out2 + x, out3 + x, n - x);
}
#else
typedef int nj_u8_deinterleave4_avx2_unused;
#endif
