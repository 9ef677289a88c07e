// int8 activation conversions on 4 lanes (AArch64 Advanced SIMD): the same division, rounding
// (frinti: the current mode, to nearest even by default, as nearbyintf) and saturation as
// nj_qs8_quantize_scalar, so the results are identical. Without it the boards quantised one
// value at a time (clang does not vectorise the scalar loop: a scalar fdiv per value), for the
// int8 network's input rows and wherever precisions meet.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "nj-convert-internal.h"

void nj_qs8_quantize_neon(const float *input, int8_t *output, size_t count, nj_qs8_quantization q) {
    const float32x4_t scale = vdupq_n_f32(q.scale);
    const float32x4_t lo = vdupq_n_f32((float)(-128 - q.zero_point)), hi = vdupq_n_f32((float)(127 - q.zero_point));
    const int32x4_t zero_point = vdupq_n_s32(q.zero_point);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        int16x4_t words[2];
        for (int h = 0; h < 2; h++) {
            float32x4_t v = vrndiq_f32(vdivq_f32(vld1q_f32(input + i + 4 * h), scale));
            // fmax and fmin pass a NaN on, and fcvtzs turns it into 0: the zero point, as the
            // scalar form gives.
            v = vminq_f32(vmaxq_f32(v, lo), hi);
            words[h] = vqmovn_s32(vaddq_s32(vcvtq_s32_f32(v), zero_point));
        }
        vst1_s8(output + i, vqmovn_s16(vcombine_s16(words[0], words[1])));
    }
    nj_qs8_quantize_scalar(input + i, output + i, count - i, q);
}

void nj_qs8_dequantize_neon(const int8_t *input, float *output, size_t count, nj_qs8_quantization q) {
    const float32x4_t scale = vdupq_n_f32(q.scale);
    const int32x4_t zero_point = vdupq_n_s32(q.zero_point);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const int16x8_t x = vmovl_s8(vld1_s8(input + i));
        const int32x4_t low = vsubq_s32(vmovl_s16(vget_low_s16(x)), zero_point);
        const int32x4_t high = vsubq_s32(vmovl_s16(vget_high_s16(x)), zero_point);
        vst1q_f32(output + i, vmulq_f32(scale, vcvtq_f32_s32(low)));
        vst1q_f32(output + i + 4, vmulq_f32(scale, vcvtq_f32_s32(high)));
    }
    nj_qs8_dequantize_scalar(input + i, output + i, count - i, q);
}
#else
typedef int nj_qs8_convert_neon_unused;
#endif
