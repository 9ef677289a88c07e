// Vocabulary of the qs8 template for NEON with the ARMv8.2 dot product (SDOT: four s8 x s8
// products added into each int32 lane; 4 lanes). The including file enables the extension for
// itself only (so the package still builds for plain armv8-a) and runs only where the CPU
// reports it. Internal header, inside #if defined(__aarch64__).
#include <arm_neon.h>
#include <string.h>

#include "nj-qs8-simd-arm.h"

#if defined(__clang__)
#define NJ_Q_TARGET __attribute__((target("dotprod")))
#else
#define NJ_Q_TARGET  // the file's #pragma GCC target
#endif
#define NJ_Q_ISA_ID NJ_ISA_NEON
#define NJ_Q_ISA_LABEL "neondot"
#define NJ_Q_FEATURES NJ_CPU_NEON_DOTPROD
#define NJ_Q_LAYOUT NJ_QS8_WEIGHTS_GC4HWO4_S8
#define NJ_Q_LANE_CH 4
#define NJ_Q_FLIP 0
#define NJ_Q_VL 4
typedef int8_t nj_qstage;
typedef int8_t nj_qwt;
typedef int32x4_t nj_qacc;
typedef int8x16_t nj_qin;
typedef int8x16_t nj_qw;
#define Q_SET1(x) vdupq_n_s32(x)
#define Q_LOAD_IN(p) vld1q_s8((const int8_t *)(p))
#define Q_LOAD_W(p) vreinterpretq_s8_s32(vdupq_n_s32(nj_q_load32(p)))
#define Q_DOT(acc, in, w) vdotq_s32((acc), (in), (w))
// (acc << k) + b: a folded input's change of accumulator scale (qs8-conv2d-direct.h).
#define Q_SHIFT_ADD(acc, k, b) vaddq_s32(vshlq_s32((acc), vdupq_n_s32(k)), vdupq_n_s32(b))

#define NJ_Q_HAVE_STAGE_SPAN 1
static inline __attribute__((always_inline)) void nj_q_stage_span(nj_qstage *dst, const int8_t *const *src,
                                                                  int32_t c0, int32_t n, nj_qstage fill) {
    if (src[0] && src[1] && src[2] && src[3]) {
        nj_q_interleave4_s8(dst, src, c0, n);
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        for (int j = 0; j < 4; j++) dst[4 * i + j] = src[j] ? src[j][c0 + i] : fill;
    }
}

static inline __attribute__((always_inline)) void nj_q_finish(
    int32x4_t acc, int32_t m, int32_t mneg, int32_t shift, const int8_t *res, const nj_conv2d_qs8_params *p,
    int8_t *dst) {
    const int32x4_t q = nj_q_requantize4(acc, m, mneg, shift, res, p);
    const int32_t bytes = vget_lane_s32(vreinterpret_s32_s8(nj_q_narrow8(q, q)), 0);
    memcpy(dst, &bytes, sizeof bytes);
}
