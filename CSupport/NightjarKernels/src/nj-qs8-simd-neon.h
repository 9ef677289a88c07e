// Vocabulary of the qs8 template for NEON without the dot product (Cortex-A53/A57/A72: Pi 3,
// Pi 4, Jetson Nano): activations staged sign-extended to int16, SMLAL/SMLAL2 multiply 8 of
// them by a broadcast int16 weight into two int32x4 accumulators. Internal header, inside
// #if defined(__aarch64__).
#include <arm_neon.h>
#include <string.h>

#include "nj-qs8-simd-arm.h"

#define NJ_Q_TARGET
#define NJ_Q_ISA_ID NJ_ISA_NEON
#define NJ_Q_ISA_LABEL "neon"
#define NJ_Q_FEATURES 0u
#define NJ_Q_LAYOUT NJ_QS8_WEIGHTS_GCHWO_S16
#define NJ_Q_LANE_CH 1
#define NJ_Q_FLIP 0
#define NJ_Q_VL 8
typedef int16_t nj_qstage;
typedef int16_t nj_qwt;
typedef struct nj_qacc { int32x4_t lo, hi; } nj_qacc;
typedef int16x8_t nj_qin;
typedef int16x8_t nj_qw;
static inline __attribute__((always_inline)) nj_qacc nj_q_set1(int32_t x) {
    const nj_qacc a = {vdupq_n_s32(x), vdupq_n_s32(x)};
    return a;
}
static inline __attribute__((always_inline)) nj_qacc nj_q_mlal(nj_qacc acc, int16x8_t in, int16x8_t w) {
    acc.lo = vmlal_s16(acc.lo, vget_low_s16(in), vget_low_s16(w));
    acc.hi = vmlal_high_s16(acc.hi, in, w);
    return acc;
}
#define Q_SET1(x) nj_q_set1(x)
#define Q_LOAD_IN(p) vld1q_s16((const int16_t *)(p))
#define Q_LOAD_W(p) vld1q_dup_s16((const int16_t *)(p))
#define Q_DOT(acc, in, w) nj_q_mlal((acc), (in), (w))
// (acc << k) + b: a folded input's change of accumulator scale (qs8-conv2d-direct.h).
static inline __attribute__((always_inline)) nj_qacc nj_q_shift_add(nj_qacc acc, int32_t k, int32_t b) {
    acc.lo = vaddq_s32(vshlq_s32(acc.lo, vdupq_n_s32(k)), vdupq_n_s32(b));
    acc.hi = vaddq_s32(vshlq_s32(acc.hi, vdupq_n_s32(k)), vdupq_n_s32(b));
    return acc;
}
#define Q_SHIFT_ADD(acc, k, b) nj_q_shift_add((acc), (k), (b))

#define NJ_Q_HAVE_STAGE_SPAN 1
static inline __attribute__((always_inline)) void nj_q_stage_span(nj_qstage *dst, const int8_t *const *src,
                                                                  int32_t c0, int32_t n, nj_qstage fill) {
    if (!src[0]) {
        for (int32_t i = 0; i < n; i++) dst[i] = fill;
        return;
    }
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) vst1q_s16(dst + i, vmovl_s8(vld1_s8(src[0] + c0 + i)));
    for (; i < n; i++) dst[i] = src[0][c0 + i];
}

static inline __attribute__((always_inline)) void nj_q_finish(
    nj_qacc acc, int32_t m, int32_t mneg, int32_t shift, const int8_t *res, const nj_conv2d_qs8_params *p,
    int8_t *dst) {
    const int32x4_t lo = nj_q_requantize4(acc.lo, m, mneg, shift, res, p);
    const int32x4_t hi = nj_q_requantize4(acc.hi, m, mneg, shift, res ? res + 4 : NULL, p);
    vst1_s8(dst, nj_q_narrow8(lo, hi));
}
