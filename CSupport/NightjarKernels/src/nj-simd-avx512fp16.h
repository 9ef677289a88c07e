// Vocabulary of the native f16 template (f16-conv2d-native.h) for AVX512-FP16: FMAs on 32
// halves (vfmadd231ph), masked 16-bit loads at borders, f32 partial sums and the epilogue on
// 16-float vectors. Internal header: included only by *-avx512fp16-*.c, inside __x86_64__.
#include <immintrin.h>

#define NJ_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512fp16")))
#define NJ_ISA_ID NJ_ISA_AVX512
#define NJ_ISA_LABEL "avx512fp16"
#define NJ_REQUIRED_FEATURES NJ_CPU_AVX512_FP16
#define NJ_MASKED 1
#define NJ_LANE_FMA 0

#define NJ_HL 32
typedef __m512h nj_h;
typedef __mmask32 nj_hm;
#define H_ZERO() _mm512_setzero_ph()
#define H_SET1(bits) _mm512_castsi512_ph(_mm512_set1_epi16((short)(bits)))
#define H_LOADU(p) _mm512_castsi512_ph(_mm512_loadu_si512((const void *)(p)))
#define H_LOADU_M(p, m) _mm512_castsi512_ph(_mm512_maskz_loadu_epi16((m), (const void *)(p)))
#define H_FMA(acc, a, b) _mm512_fmadd_ph((a), (b), (acc))
// Weights packed as pairs (NJ_DTYPE_F16X2): vpbroadcastd from memory is one load uop, where
// vpbroadcastw also takes port 5, one of the two FMA ports (a third of the tile's uops there).
#define NJ_WEIGHT_DTYPE NJ_DTYPE_F16X2
typedef uint32_t nj_wt;
#define H_SET1W(p) _mm512_castsi512_ph(_mm512_set1_epi32((int)*(p)))

// Lanes [lo, hi) of 32, clamped.
static inline nj_hm nj_lane_mask32(int32_t lo, int32_t hi) {
    lo = lo < 0 ? 0 : (lo > 32 ? 32 : lo);
    hi = hi < 0 ? 0 : (hi > 32 ? 32 : hi);
    if (hi <= lo) {
        return 0;
    }
    const uint64_t upto_hi = (hi == 32 ? 0xffffffffull : ((1ull << hi) - 1));
    return (nj_hm)(upto_hi & ~((1ull << lo) - 1));
}
#define H_MASK(lo, hi) nj_lane_mask32((lo), (hi))

// part[0, 32) += the 32 halves of acc, in f32.
static inline __attribute__((always_inline)) NJ_TARGET void nj_flush(float *part, nj_h acc) {
    const __m512 lo = _mm512_cvtxph_ps(_mm512_castph512_ph256(acc));
    const __m512 hi = _mm512_cvtxph_ps(
        _mm256_castsi256_ph(_mm512_extracti64x4_epi64(_mm512_castph_si512(acc), 1)));
    _mm512_storeu_ps(part, _mm512_add_ps(_mm512_loadu_ps(part), lo));
    _mm512_storeu_ps(part + 16, _mm512_add_ps(_mm512_loadu_ps(part + 16), hi));
}
#define H_FLUSH(part, acc) nj_flush((part), (acc))

#define NJ_FL 16
typedef __m512 nj_f;
typedef __mmask16 nj_fm;
#define NJ_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define F_SET1(x) _mm512_set1_ps(x)
#define F_LOADU(p) _mm512_loadu_ps(p)
#define F_STOREU(p, v) _mm512_storeu_ps((p), (v))
#define F_ADD(a, b) _mm512_add_ps((a), (b))
#define F_LRELU(v, s) \
    _mm512_mask_mul_ps((v), _mm512_cmp_ps_mask((v), _mm512_setzero_ps(), _CMP_LT_OQ), (v), (s))
#define F_LOADX(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define F_LOADX_M(p, m) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((m), (const void *)(p)))
#define F_STOREX(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), _mm512_cvtps_ph((v), NJ_RNE))
#define F_STOREX_M(p, m, v) _mm256_mask_storeu_epi16((void *)(p), (m), _mm512_cvtps_ph((v), NJ_RNE))
static inline nj_fm nj_lane_mask16(int32_t lo, int32_t hi) {
    return (nj_fm)(nj_lane_mask32(lo, hi) & 0xffffu);
}
#define F_MASK(lo, hi) nj_lane_mask16((lo), (hi))
