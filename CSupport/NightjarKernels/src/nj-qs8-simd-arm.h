// Requantisation of 4 int32 lanes for the NEON qs8 kernels (internal header, included by
// nj-qs8-simd-{neondot,neon}.h inside #if defined(__aarch64__)).
//
// SMULL/SMULL2 give the exact 64-bit products; SRSHL by -s adds 2^(s-1) and shifts with no
// intermediate overflow (the architecture defines it on the unbounded value), so this is the
// reference's floor((acc * m + 2^(s-1)) / 2^s); the residual term likewise in 32 bits.
#include <arm_neon.h>

static inline __attribute__((always_inline)) int32x4_t nj_q_requantize4(
    int32x4_t acc, int32_t m, int32_t mneg, int32_t shift, const int8_t *res, const nj_conv2d_qs8_params *p) {
    const int32x4_t mult = vbslq_s32(vcltzq_s32(acc), vdupq_n_s32(mneg), vdupq_n_s32(m));
    const int64x2_t s = vdupq_n_s64(-(int64_t)shift);
    const int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(mult)), s);
    const int64x2_t hi = vrshlq_s64(vmull_high_s32(acc, mult), s);
    int32x4_t q = vuzp1q_s32(vreinterpretq_s32_s64(lo), vreinterpretq_s32_s64(hi));
    if (res) {
        int32_t packed;
        memcpy(&packed, res, sizeof packed);
        const int8x8_t r8 = vreinterpret_s8_s32(vdup_n_s32(packed));
        int32x4_t d = vsubq_s32(vmovl_s16(vget_low_s16(vmovl_s8(r8))), vdupq_n_s32(p->residual_zero_point));
        d = vrshlq_s32(vmulq_n_s32(d, p->residual_multiplier), vdupq_n_s32(-p->residual_shift));
        q = vaddq_s32(q, d);
    }
    return vaddq_s32(q, vdupq_n_s32(p->output_zero_point));
}

// Saturates 8 int32 lanes (two vectors) to int8.
static inline __attribute__((always_inline)) int8x8_t nj_q_narrow8(int32x4_t a, int32x4_t b) {
    return vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)));
}

// Staging on AArch64: four int8 rows interleaved byte by byte, 16 columns per step (ZIP1/ZIP2).
static inline __attribute__((always_inline)) void nj_q_interleave4_s8(int8_t *dst, const int8_t *const *src,
                                                                      int32_t c0, int32_t n) {
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const int8x16_t r0 = vld1q_s8(src[0] + c0 + i), r1 = vld1q_s8(src[1] + c0 + i);
        const int8x16_t r2 = vld1q_s8(src[2] + c0 + i), r3 = vld1q_s8(src[3] + c0 + i);
        const int16x8_t a_lo = vreinterpretq_s16_s8(vzip1q_s8(r0, r1));
        const int16x8_t a_hi = vreinterpretq_s16_s8(vzip2q_s8(r0, r1));
        const int16x8_t b_lo = vreinterpretq_s16_s8(vzip1q_s8(r2, r3));
        const int16x8_t b_hi = vreinterpretq_s16_s8(vzip2q_s8(r2, r3));
        vst1q_s8(dst + 4 * i, vreinterpretq_s8_s16(vzip1q_s16(a_lo, b_lo)));
        vst1q_s8(dst + 4 * i + 16, vreinterpretq_s8_s16(vzip2q_s16(a_lo, b_lo)));
        vst1q_s8(dst + 4 * i + 32, vreinterpretq_s8_s16(vzip1q_s16(a_hi, b_hi)));
        vst1q_s8(dst + 4 * i + 48, vreinterpretq_s8_s16(vzip2q_s16(a_hi, b_hi)));
    }
    for (; i < n; i++) {
        for (int j = 0; j < 4; j++) dst[4 * i + j] = src[j][c0 + i];
    }
}
