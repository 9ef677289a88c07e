// Requantisation of 8 or 16 int32 lanes for the x86 qs8 kernels (internal header, included by
// nj-qs8-simd-{avx512vnni,avxvnni,avx2}.h inside #if defined(__x86_64__)).
//
// floor((acc * m + 2^(s-1)) / 2^s) with s >= 32: VPMULDQ multiplies the even lanes (and, after
// a 32-bit shift, the odd ones) into 64 bits; the high half of each sum with the rounding
// constant is floor(p / 2^32), and an arithmetic shift by s - 32 finishes the floor. No 64-bit
// arithmetic shift needed (AVX2 has none), and the same integers as the reference.
#include <immintrin.h>

static inline __attribute__((always_inline, target("avx2"))) __m256i nj_q_requantize8(
    __m256i acc, int32_t m, int32_t mneg, int32_t shift, const int8_t *res, const nj_conv2d_qs8_params *p) {
    const __m256i negative = _mm256_cmpgt_epi32(_mm256_setzero_si256(), acc);
    const __m256i mult = _mm256_blendv_epi8(_mm256_set1_epi32(m), _mm256_set1_epi32(mneg), negative);
    const __m256i round = _mm256_set1_epi64x((int64_t)1 << (shift - 1));
    const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(acc, mult), round);
    const __m256i odd = _mm256_add_epi64(
        _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(mult, 32)), round);
    __m256i q = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xaa);
    q = _mm256_sra_epi32(q, _mm_cvtsi32_si128(shift - 32));
    if (res) {
        __m256i d = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)res)),
                                     _mm256_set1_epi32(p->residual_zero_point));
        d = _mm256_add_epi32(_mm256_mullo_epi32(d, _mm256_set1_epi32(p->residual_multiplier)),
                             _mm256_set1_epi32(1 << (p->residual_shift - 1)));
        q = _mm256_add_epi32(q, _mm256_sra_epi32(d, _mm_cvtsi32_si128(p->residual_shift)));
    }
    return _mm256_add_epi32(q, _mm256_set1_epi32(p->output_zero_point));
}

// Saturates 8 int32 lanes to int8 and stores them (8 bytes).
static inline __attribute__((always_inline, target("avx2"))) void nj_q_store8(int8_t *dst, __m256i q) {
    const __m128i halves = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storel_epi64((__m128i *)dst, _mm_packs_epi16(halves, halves));
}

// Staging on x86: four int8 rows interleaved byte by byte (16 columns per step, SSE2 unpacks).
static inline __attribute__((always_inline)) void nj_q_interleave4_s8(int8_t *dst, const int8_t *const *src,
                                                                      int32_t c0, int32_t n, int8_t flip) {
    const __m128i f = _mm_set1_epi8(flip);
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i r0 = _mm_loadu_si128((const __m128i *)(src[0] + c0 + i));
        const __m128i r1 = _mm_loadu_si128((const __m128i *)(src[1] + c0 + i));
        const __m128i r2 = _mm_loadu_si128((const __m128i *)(src[2] + c0 + i));
        const __m128i r3 = _mm_loadu_si128((const __m128i *)(src[3] + c0 + i));
        const __m128i a_lo = _mm_unpacklo_epi8(r0, r1), a_hi = _mm_unpackhi_epi8(r0, r1);
        const __m128i b_lo = _mm_unpacklo_epi8(r2, r3), b_hi = _mm_unpackhi_epi8(r2, r3);
        __m128i *d = (__m128i *)(dst + 4 * i);
        _mm_storeu_si128(d + 0, _mm_xor_si128(_mm_unpacklo_epi16(a_lo, b_lo), f));
        _mm_storeu_si128(d + 1, _mm_xor_si128(_mm_unpackhi_epi16(a_lo, b_lo), f));
        _mm_storeu_si128(d + 2, _mm_xor_si128(_mm_unpacklo_epi16(a_hi, b_hi), f));
        _mm_storeu_si128(d + 3, _mm_xor_si128(_mm_unpackhi_epi16(a_hi, b_hi), f));
    }
    for (; i < n; i++) {
        for (int j = 0; j < 4; j++) dst[4 * i + j] = (int8_t)(src[j][c0 + i] ^ flip);
    }
}
