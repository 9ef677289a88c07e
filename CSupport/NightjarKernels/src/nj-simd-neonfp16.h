// Vocabulary of the native f16 template (f16-conv2d-native.h) for AArch64 NEON with FEAT_FP16
// (ARMv8.2-A: Cortex-A76 / Pi 5, Orin's A78AE): fmla on 8 halves by lane (eight weights per
// load), f32 partial sums and the epilogue on 4-float vectors with fcvtl/fcvtn. The target
// attribute, not a global flag, enables FP16, so the file builds for plain armv8-a and the
// code only runs where the registry saw HWCAP_FPHP and HWCAP_ASIMDHP.
// Internal header: included only by *-neonfp16-*.c, inside __aarch64__.
#include <arm_neon.h>

#define NJ_TARGET __attribute__((target("arch=armv8.2-a+fp16")))
#define NJ_ISA_ID NJ_ISA_NEON
#define NJ_ISA_LABEL "neonfp16"
#define NJ_REQUIRED_FEATURES NJ_CPU_NEON_FP16
#define NJ_MASKED 0
#define NJ_LANE_FMA 1

#define NJ_HL 8
typedef float16x8_t nj_h;
#define H_ZERO() vreinterpretq_f16_u16(vdupq_n_u16(0))
#define H_SET1(bits) vreinterpretq_f16_u16(vdupq_n_u16(bits))
#define H_LOADU(p) vreinterpretq_f16_u16(vld1q_u16(p))
#define H_FMA(acc, a, b) vfmaq_f16((acc), (a), (b))
#define H_FMA_LANE(acc, a, w8, lane) vfmaq_laneq_f16((acc), (a), (w8), (lane))

// part[0, 8) += the 8 halves of acc, in f32.
static inline __attribute__((always_inline)) NJ_TARGET void nj_flush(float *part, nj_h acc) {
    vst1q_f32(part, vaddq_f32(vld1q_f32(part), vcvt_f32_f16(vget_low_f16(acc))));
    vst1q_f32(part + 4, vaddq_f32(vld1q_f32(part + 4), vcvt_high_f32_f16(acc)));
}
#define H_FLUSH(part, acc) nj_flush((part), (acc))

#define NJ_FL 4
typedef float32x4_t nj_f;
#define F_SET1(x) vdupq_n_f32(x)
#define F_LOADU(p) vld1q_f32(p)
#define F_STOREU(p, v) vst1q_f32((p), (v))
#define F_ADD(a, b) vaddq_f32((a), (b))
#define F_LRELU(v, s) vbslq_f32(vcltzq_f32(v), vmulq_f32((v), (s)), (v))
#define F_LOADX(p) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)))
#define F_STOREX(p, v) vst1_u16((p), vreinterpret_u16_f16(vcvt_f16_f32(v)))
