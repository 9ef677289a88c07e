// int8 activation conversions on 8 lanes (AVX2): the same division, rounding (to nearest
// even) and saturation as nj_qs8_quantize_scalar, so the results are identical; int8's
// LeakyReLU as nj_qs8_leaky_relu_scalar computes it.
#if defined(__x86_64__)
#include <immintrin.h>

#include "nj-convert-internal.h"

#define NJ_TARGET __attribute__((target("avx2")))

NJ_TARGET void nj_qs8_quantize_avx2(const float *input, int8_t *output, size_t count, nj_qs8_quantization q) {
    const __m256 scale = _mm256_set1_ps(q.scale);
    const __m256 lo = _mm256_set1_ps((float)(-128 - q.zero_point)), hi = _mm256_set1_ps((float)(127 - q.zero_point));
    const __m256i zero_point = _mm256_set1_epi32(q.zero_point);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(input + i), scale),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        v = _mm256_andnot_ps(nan, v);  // NaN: 0, so the zero point
        const __m256i r = _mm256_add_epi32(_mm256_cvtps_epi32(v), zero_point);
        const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storel_epi64((__m128i *)(output + i), _mm_packs_epi16(words, words));
    }
    nj_qs8_quantize_scalar(input + i, output + i, count - i, q);
}

NJ_TARGET void nj_qs8_dequantize_avx2(const int8_t *input, float *output, size_t count, nj_qs8_quantization q) {
    const __m256 scale = _mm256_set1_ps(q.scale);
    const __m256i zero_point = _mm256_set1_epi32(q.zero_point);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256i x = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(input + i)));
        _mm256_storeu_ps(output + i, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(_mm256_sub_epi32(x, zero_point))));
    }
    nj_qs8_dequantize_scalar(input + i, output + i, count - i, q);
}

// As the AVX-512 form: the binary32 product (exact, correctly rounded), rounded half to even by
// ROUNDPS whatever MXCSR says, saturated by the packs.
NJ_TARGET void nj_qs8_leaky_relu_avx2(const int8_t *input, int8_t *output, size_t count, int32_t zero_point,
                                      float slope) {
    const __m256 s = _mm256_set1_ps(slope);
    const __m256i zp = _mm256_set1_epi32(zero_point);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256i x = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(input + i)));
        const __m256i q = _mm256_sub_epi32(x, zp);
        const __m256 product =
            _mm256_round_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256i scaled = _mm256_add_epi32(zp, _mm256_cvtps_epi32(product));
        const __m256i r = _mm256_blendv_epi8(x, scaled, _mm256_cmpgt_epi32(_mm256_setzero_si256(), q));
        const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storel_epi64((__m128i *)(output + i), _mm_packs_epi16(words, words));
    }
    nj_qs8_leaky_relu_scalar(input + i, output + i, count - i, zero_point, slope);
}
#endif
