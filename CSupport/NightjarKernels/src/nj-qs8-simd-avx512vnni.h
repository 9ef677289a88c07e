// Vocabulary of the qs8 template for AVX-512 VNNI (16 int32 lanes; VPDPBUSD multiplies the
// staged activations, flipped to unsigned by x ^ 0x80, by signed weights; the packed bias
// subtracts 128 * sum(w)). Internal header, inside #if defined(__x86_64__).
#include <immintrin.h>

#include "nj-qs8-simd-x86.h"

#define NJ_Q_TARGET __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#define NJ_Q_ISA_ID NJ_ISA_AVX512
#define NJ_Q_ISA_LABEL "avx512vnni"
#define NJ_Q_FEATURES NJ_CPU_AVX512_VNNI
#define NJ_Q_LAYOUT NJ_QS8_WEIGHTS_GC4HWO4_S8_U8
#define NJ_Q_LANE_CH 4
#define NJ_Q_FLIP 0x80
#define NJ_Q_VL 16
typedef int8_t nj_qstage;
typedef int8_t nj_qwt;
typedef __m512i nj_qacc;
typedef __m512i nj_qin;
typedef __m512i nj_qw;
#define Q_SET1(x) _mm512_set1_epi32(x)
#define Q_LOAD_IN(p) _mm512_loadu_si512((const void *)(p))
#define Q_LOAD_W(p) _mm512_set1_epi32(nj_q_load32(p))
#define Q_DOT(acc, in, w) _mm512_dpbusd_epi32((acc), (in), (w))
// (acc << k) + b: a folded input's change of accumulator scale (qs8-conv2d-direct.h).
#define Q_SHIFT_ADD(acc, k, b) _mm512_add_epi32(_mm512_sll_epi32((acc), _mm_cvtsi32_si128(k)), _mm512_set1_epi32(b))

#define NJ_Q_HAVE_STAGE_SPAN 1
// The last n < 16 columns of nj_q_interleave4_s8 (flip 0x80) by masked loads and stores: byte
// by byte they took a fifth of a narrow grouped layer's time (conv32x.0, 133 columns).
static inline __attribute__((always_inline)) NJ_Q_TARGET void nj_q_interleave4_tail(int8_t *dst, const int8_t *const *src,
                                                                                     int32_t c0, int32_t n) {
    const __mmask16 in = (__mmask16)((1u << n) - 1);
    const __m128i f = _mm_set1_epi8((char)0x80);
    const __m128i r0 = _mm_maskz_loadu_epi8(in, src[0] + c0), r1 = _mm_maskz_loadu_epi8(in, src[1] + c0);
    const __m128i r2 = _mm_maskz_loadu_epi8(in, src[2] + c0), r3 = _mm_maskz_loadu_epi8(in, src[3] + c0);
    const __m128i a_lo = _mm_unpacklo_epi8(r0, r1), a_hi = _mm_unpackhi_epi8(r0, r1);
    const __m128i b_lo = _mm_unpacklo_epi8(r2, r3), b_hi = _mm_unpackhi_epi8(r2, r3);
    const __m128i out[4] = {_mm_unpacklo_epi16(a_lo, b_lo), _mm_unpackhi_epi16(a_lo, b_lo),
                            _mm_unpacklo_epi16(a_hi, b_hi), _mm_unpackhi_epi16(a_hi, b_hi)};
    const uint64_t bytes = ((uint64_t)1 << (4 * n)) - 1;  // 4n < 64
    for (int q = 0; q < 4; q++) {
        const __mmask16 m = (__mmask16)(bytes >> (16 * q));
        if (m) _mm_mask_storeu_epi8(dst + 16 * q, m, _mm_xor_si128(out[q], f));
    }
}
static inline __attribute__((always_inline)) NJ_Q_TARGET void nj_q_stage_span(nj_qstage *dst, const int8_t *const *src,
                                                                  int32_t c0, int32_t n, nj_qstage fill) {
    if (src[0] && src[1] && src[2] && src[3]) {
        const int32_t whole = n & ~15;
        nj_q_interleave4_s8(dst, src, c0, whole, (int8_t)0x80);
        if (whole < n) nj_q_interleave4_tail(dst + 4 * whole, src, c0 + whole, n - whole);
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        for (int j = 0; j < 4; j++) dst[4 * i + j] = src[j] ? (int8_t)(src[j][c0 + i] ^ 0x80) : fill;
    }
}

static inline __attribute__((always_inline)) NJ_Q_TARGET void nj_q_finish(
    __m512i acc, int32_t m, int32_t mneg, int32_t shift, const int8_t *res, const nj_conv2d_qs8_params *p,
    int8_t *dst) {
    const __m512i mult = _mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(acc, _mm512_setzero_si512()),
                                                 _mm512_set1_epi32(m), _mm512_set1_epi32(mneg));
    const __m512i round = _mm512_set1_epi64((int64_t)1 << (shift - 1));
    const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(acc, mult), round);
    const __m512i odd = _mm512_add_epi64(
        _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), _mm512_srli_epi64(mult, 32)), round);
    __m512i q = _mm512_mask_blend_epi32(0xaaaa, _mm512_srli_epi64(even, 32), odd);
    q = _mm512_sra_epi32(q, _mm_cvtsi32_si128(shift - 32));
    if (res) {
        __m512i d = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)res)),
                                     _mm512_set1_epi32(p->residual_zero_point));
        d = _mm512_add_epi32(_mm512_mullo_epi32(d, _mm512_set1_epi32(p->residual_multiplier)),
                             _mm512_set1_epi32(1 << (p->residual_shift - 1)));
        q = _mm512_add_epi32(q, _mm512_sra_epi32(d, _mm_cvtsi32_si128(p->residual_shift)));
    }
    q = _mm512_add_epi32(q, _mm512_set1_epi32(p->output_zero_point));
    _mm_storeu_si128((__m128i *)dst, _mm512_cvtsepi32_epi8(q));  // saturating narrow
}
