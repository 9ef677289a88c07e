// Vocabulary of the qs8 template for AVX2 without VNNI: activations staged sign-extended to
// int16 in channel pairs, VPMADDWD multiplies them by int16 weight pairs into int32 and adds
// the pair (exact: no saturation, unlike VPMADDUBSW's int16 sums), VPADDD accumulates.
// Internal header, inside #if defined(__x86_64__).
#include <immintrin.h>

#include "nj-qs8-simd-x86.h"

#define NJ_Q_TARGET __attribute__((target("avx2,fma")))
#define NJ_Q_ISA_ID NJ_ISA_AVX2
#define NJ_Q_ISA_LABEL "avx2"
#define NJ_Q_FEATURES 0u
#define NJ_Q_LAYOUT NJ_QS8_WEIGHTS_GC2HWO2_S16
#define NJ_Q_LANE_CH 2
#define NJ_Q_FLIP 0
#define NJ_Q_VL 8
typedef int16_t nj_qstage;
typedef int16_t nj_qwt;
typedef __m256i nj_qacc;
typedef __m256i nj_qin;
typedef __m256i nj_qw;
#define Q_SET1(x) _mm256_set1_epi32(x)
#define Q_LOAD_IN(p) _mm256_loadu_si256((const __m256i *)(p))
#define Q_LOAD_W(p) _mm256_set1_epi32(nj_q_load32(p))
#define Q_DOT(acc, in, w) _mm256_add_epi32((acc), _mm256_madd_epi16((in), (w)))
// (acc << k) + b: a folded input's change of accumulator scale (qs8-conv2d-direct.h).
#define Q_SHIFT_ADD(acc, k, b) _mm256_add_epi32(_mm256_sll_epi32((acc), _mm_cvtsi32_si128(k)), _mm256_set1_epi32(b))

#define NJ_Q_HAVE_STAGE_SPAN 1
// Two int8 rows to interleaved int16 pairs, 16 columns per step.
static inline __attribute__((always_inline, target("avx2"))) void nj_q_stage_span(
    nj_qstage *dst, const int8_t *const *src, int32_t c0, int32_t n, nj_qstage fill) {
    int32_t i = 0;
    if (src[0] && src[1]) {
        for (; i + 16 <= n; i += 16) {
            const __m256i r0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src[0] + c0 + i)));
            const __m256i r1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src[1] + c0 + i)));
            const __m256i lo = _mm256_unpacklo_epi16(r0, r1), hi = _mm256_unpackhi_epi16(r0, r1);
            // unpack works within 128-bit halves: columns 0-3 | 8-11 and 4-7 | 12-15.
            _mm256_storeu_si256((__m256i *)(dst + 2 * i), _mm256_permute2x128_si256(lo, hi, 0x20));
            _mm256_storeu_si256((__m256i *)(dst + 2 * i + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
        }
    }
    for (; i < n; i++) {
        for (int j = 0; j < 2; j++) dst[2 * i + j] = src[j] ? (nj_qstage)src[j][c0 + i] : fill;
    }
}

static inline __attribute__((always_inline)) NJ_Q_TARGET void nj_q_finish(
    __m256i acc, int32_t m, int32_t mneg, int32_t shift, const int8_t *res, const nj_conv2d_qs8_params *p,
    int8_t *dst) {
    nj_q_store8(dst, nj_q_requantize8(acc, m, mneg, shift, res, p));
}
