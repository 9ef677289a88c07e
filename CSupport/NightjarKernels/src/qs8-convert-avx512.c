// int8 activation conversions on 16 lanes (AVX-512 F/BW/VL), masked tails: the same
// division, rounding (to nearest even) and saturation as nj_qs8_quantize_scalar, and int8's
// LeakyReLU as nj_qs8_leaky_relu_scalar computes it.
#if defined(__x86_64__)
#include <immintrin.h>

#include "nj-convert-internal.h"

#define NJ_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

static inline NJ_TARGET __mmask16 lanes(size_t left) { return left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1); }

NJ_TARGET void nj_qs8_quantize_avx512(const float *input, int8_t *output, size_t count, nj_qs8_quantization q) {
    const __m512 scale = _mm512_set1_ps(q.scale);
    const __m512 lo = _mm512_set1_ps((float)(-128 - q.zero_point)), hi = _mm512_set1_ps((float)(127 - q.zero_point));
    const __m512i zero_point = _mm512_set1_epi32(q.zero_point);
    for (size_t i = 0; i < count; i += 16) {
        const __mmask16 m = lanes(count - i);
        __m512 v = _mm512_roundscale_ps(_mm512_div_ps(_mm512_maskz_loadu_ps(m, input + i), scale),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        v = _mm512_mask_mov_ps(v, nan, _mm512_setzero_ps());  // NaN: the zero point
        _mm512_mask_cvtsepi32_storeu_epi8(output + i, m, _mm512_add_epi32(_mm512_cvtps_epi32(v), zero_point));
    }
}

NJ_TARGET void nj_qs8_dequantize_avx512(const int8_t *input, float *output, size_t count, nj_qs8_quantization q) {
    const __m512 scale = _mm512_set1_ps(q.scale);
    const __m512i zero_point = _mm512_set1_epi32(q.zero_point);
    for (size_t i = 0; i < count; i += 16) {
        const __mmask16 m = lanes(count - i);
        const __m512i x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, input + i));
        _mm512_mask_storeu_ps(output + i, m, _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_sub_epi32(x, zero_point))));
    }
}

// q - zero_point times the slope in binary32 (an exact product correctly rounded, as the scalar
// form's exact double product converted), rounded half to even whatever MXCSR says.
NJ_TARGET void nj_qs8_leaky_relu_avx512(const int8_t *input, int8_t *output, size_t count, int32_t zero_point,
                                        float slope) {
    const __m512 s = _mm512_set1_ps(slope);
    const __m512i zp = _mm512_set1_epi32(zero_point);
    for (size_t i = 0; i < count; i += 16) {
        const __mmask16 m = lanes(count - i);
        const __m512i x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, input + i));
        const __m512i q = _mm512_sub_epi32(x, zp);
        const __m512 product = _mm512_mul_ps(_mm512_cvtepi32_ps(q), s);
        const __m512i scaled =
            _mm512_add_epi32(zp, _mm512_cvt_roundps_epi32(product, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __mmask16 negative = _mm512_cmplt_epi32_mask(q, _mm512_setzero_si512());
        _mm512_mask_cvtsepi32_storeu_epi8(output + i, m, _mm512_mask_mov_epi32(x, negative, scaled));
    }
}
#endif
