// Vector vocabulary of the direct-convolution template for AArch64 NEON (4 floats, FMA).
// Internal header: included only by *-neon.c files, inside #if defined(__aarch64__).
#include <arm_neon.h>

#define NJ_TARGET
#define NJ_ISA_ID NJ_ISA_NEON
#define NJ_ISA_LABEL "neon"
// Multiply by one lane of a vector: four weights come in one load (vfmaq_laneq_f32).
#define NJ_LANE_FMA 1
#define V_FMA_LANE(acc, a, w4, lane) vfmaq_laneq_f32((acc), (a), (w4), (lane))
#define NJ_VL 4
#define NJ_MASKED 0
typedef float32x4_t nj_v;
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_SET1(x) vdupq_n_f32(x)
#define V_LOADU(p) vld1q_f32(p)
#define V_STOREU(p, v) vst1q_f32((p), (v))
#define V_FMA(acc, a, b) vfmaq_f32((acc), (a), (b))
#define V_ADD(a, b) vaddq_f32((a), (b))
#define V_LRELU(v, s) vbslq_f32(vcltzq_f32(v), vmulq_f32((v), (s)), (v))
