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

// Four output channels of one row interleaved, the pixel shuffle by 4 of a depth-to-space
// output: stored in order, v[0..3] afterwards hold out[4i + j] = v_j[i] (i < 4, j < 4), a 4x4
// transpose in eight zips, where the store per value took 16 lane stores (and in binary16 16
// conversions in software).
#define NJ_HAS_INTERLEAVE4 1
static inline void nj_interleave4(nj_v v[4]) {
    const float32x4_t t0 = vzip1q_f32(v[0], v[2]), t1 = vzip2q_f32(v[0], v[2]);  // v0, v2 of pixels 0-1, 2-3
    const float32x4_t t2 = vzip1q_f32(v[1], v[3]), t3 = vzip2q_f32(v[1], v[3]);  // v1, v3 likewise
    v[0] = vzip1q_f32(t0, t2);  // pixel 0: v0, v1, v2, v3
    v[1] = vzip2q_f32(t0, t2);  // pixel 1
    v[2] = vzip1q_f32(t1, t3);  // pixel 2
    v[3] = vzip2q_f32(t1, t3);  // pixel 3
}
