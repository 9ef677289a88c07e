// binary16 <-> binary32 in bulk with AArch64's own conversions (fcvtl and fcvtn, ARMv8.0: every
// board, Cortex-A53 and A72 included, where binary16 is only a storage format), 4 lanes. The
// scalar references convert in software, a dozen integer operations and branches a value.
// fcvtn rounds to nearest even (the default FPCR.RMode, which Nightjar never changes) and keeps
// binary16 subnormals (FZ16 is never set); the thread pool's FPCR.FZ flushes single-precision
// subnormal inputs, which round to a signed zero in binary16 anyway. So every value is the
// scalar form's, but that fcvtl returns a signalling NaN quiet (as F16C does).
#if defined(__aarch64__)
#include <arm_neon.h>

#include "nj-convert-internal.h"
#include "nj-network-input.h"

static inline float16x4_t load_halves(const uint16_t *p) { return vreinterpret_f16_u16(vld1_u16(p)); }
static inline void store_halves(uint16_t *p, float32x4_t v) { vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v))); }

void nj_f32_to_f16_neon(const float *input, uint16_t *output, size_t count) {
    size_t i = 0;
    for (; i + 4 <= count; i += 4) store_halves(output + i, vld1q_f32(input + i));
    nj_f32_to_f16_scalar(input + i, output + i, count - i);
}

void nj_f16_to_f32_neon(const uint16_t *input, float *output, size_t count) {
    size_t i = 0;
    for (; i + 4 <= count; i += 4) vst1q_f32(output + i, vcvt_f32_f16(load_halves(input + i)));
    nj_f16_to_f32_scalar(input + i, output + i, count - i);
}

// Widened, the lanes that fail v >= 0 (NaN included, as in the scalar form) replaced by
// v * slope, rounded back.
void nj_f16_leaky_relu_neon(const uint16_t *input, uint16_t *output, size_t count, float slope) {
    const float32x4_t slopes = vdupq_n_f32(slope);
    size_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const float32x4_t v = vcvt_f32_f16(load_halves(input + i));
        store_halves(output + i, vbslq_f32(vcgezq_f32(v), v, vmulq_f32(v, slopes)));
    }
    nj_f16_leaky_relu_scalar(input + i, output + i, count - i, slope);
}

// One value rounded by the hardware (the input rows are a table lookup a value).
static inline uint16_t round_neon(float value) {
    return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(value))), 0);
}

NJ_NETWORK_INPUT_ROW(nj_u16_network_input_row_f16_neon, uint16_t, uint16_t, round_neon)
NJ_NETWORK_INPUT_ROW(nj_u8_network_input_row_f16_neon, uint8_t, uint16_t, round_neon)
#else
typedef int nj_f16_convert_neon_unused;
#endif
