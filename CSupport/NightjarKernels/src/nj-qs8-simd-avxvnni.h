// Vocabulary of the qs8 template for AVX-VNNI (the VEX-encoded 256-bit VPDPBUSD of Alder Lake,
// Sapphire Rapids, Zen 5: 8 int32 lanes, activations flipped to unsigned as for AVX-512 VNNI).
// Internal header, inside #if defined(__x86_64__).
#include <immintrin.h>

#include "nj-qs8-simd-x86.h"

#define NJ_Q_TARGET __attribute__((target("avx2,fma,avxvnni")))
#define NJ_Q_ISA_ID NJ_ISA_AVX2
#define NJ_Q_ISA_LABEL "avxvnni"
#define NJ_Q_FEATURES NJ_CPU_AVX_VNNI
#define NJ_Q_LAYOUT NJ_QS8_WEIGHTS_GC4HWO4_S8_U8
#define NJ_Q_LANE_CH 4
#define NJ_Q_FLIP 0x80
#define NJ_Q_VL 8
typedef int8_t nj_qstage;
typedef int8_t nj_qwt;
typedef __m256i nj_qacc;
typedef __m256i nj_qin;
typedef __m256i nj_qw;
#define Q_SET1(x) _mm256_set1_epi32(x)
#define Q_LOAD_IN(p) _mm256_loadu_si256((const __m256i *)(p))
#define Q_LOAD_W(p) _mm256_set1_epi32(nj_q_load32(p))
#define Q_DOT(acc, in, w) _mm256_dpbusd_avx_epi32((acc), (in), (w))
// (acc << k) + b: a folded input's change of accumulator scale (qs8-conv2d-direct.h).
#define Q_SHIFT_ADD(acc, k, b) _mm256_add_epi32(_mm256_sll_epi32((acc), _mm_cvtsi32_si128(k)), _mm256_set1_epi32(b))

#define NJ_Q_HAVE_STAGE_SPAN 1
static inline __attribute__((always_inline)) void nj_q_stage_span(nj_qstage *dst, const int8_t *const *src,
                                                                  int32_t c0, int32_t n, nj_qstage fill) {
    if (src[0] && src[1] && src[2] && src[3]) {
        nj_q_interleave4_s8(dst, src, c0, n, (int8_t)0x80);
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        for (int j = 0; j < 4; j++) dst[4 * i + j] = src[j] ? (int8_t)(src[j][c0 + i] ^ 0x80) : fill;
    }
}

static inline __attribute__((always_inline)) NJ_Q_TARGET void nj_q_finish(
    __m256i acc, int32_t m, int32_t mneg, int32_t shift, const int8_t *res, const nj_conv2d_qs8_params *p,
    int8_t *dst) {
    nj_q_store8(dst, nj_q_requantize8(acc, m, mneg, shift, res, p));
}
