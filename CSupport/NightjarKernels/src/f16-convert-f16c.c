// binary16 <-> binary32 in bulk with F16C (8 lanes). vcvtps2ph rounds to nearest even and,
// like the scalar form, keeps half subnormals whatever MXCSR.FTZ says; the only difference is
// that vcvtph2ps returns a signalling NaN quiet (the scalar form keeps its bits).
#if defined(__x86_64__)
#include <immintrin.h>

#include "nj-convert-internal.h"

#define NJ_TARGET __attribute__((target("avx,f16c")))

NJ_TARGET void nj_f32_to_f16_f16c(const float *input, uint16_t *output, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm_storeu_si128((__m128i *)(output + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(input + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    nj_f32_to_f16_scalar(input + i, output + i, count - i);
}

NJ_TARGET void nj_f16_to_f32_f16c(const uint16_t *input, float *output, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm256_storeu_ps(output + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(input + i))));
    }
    nj_f16_to_f32_scalar(input + i, output + i, count - i);
}

// Widened, the negative lanes (v >= 0 fails, NaN included, as in the scalar form) replaced by
// v * slope, rounded back: 8 lanes held in registers instead of three passes over a buffer.
NJ_TARGET void nj_f16_leaky_relu_f16c(const uint16_t *input, uint16_t *output, size_t count, float slope) {
    const __m256 slopes = _mm256_set1_ps(slope), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(input + i)));
        const __m256 kept = _mm256_cmp_ps(v, zero, _CMP_GE_OQ);
        const __m256 y = _mm256_blendv_ps(_mm256_mul_ps(v, slopes), v, kept);
        _mm_storeu_si128((__m128i *)(output + i), _mm256_cvtps_ph(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    nj_f16_leaky_relu_scalar(input + i, output + i, count - i, slope);
}
#endif
