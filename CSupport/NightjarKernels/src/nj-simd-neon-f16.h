// binary16 storage for the NEON vocabulary (nj-simd-neon.h): 4 halves load as one f32 vector
// (fcvtl) and an f32 vector rounds to 4 halves (fcvtn, to nearest even under the default
// FPCR). Both are ARMv8.0 (Cortex-A53, -A72). For f16-conv2d-*-neon-*.c.
#define NJ_F16_STORAGE 1
#define NJ_REQUIRED_FEATURES 0
#define V_LOADX(p) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)))
#define V_STOREX(p, v) vst1_u16((p), vreinterpret_u16_f16(vcvt_f16_f32(v)))
