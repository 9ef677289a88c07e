// Vector vocabulary of the direct-convolution template for AVX-512F (16 floats, lane masks).
// Internal header: included only by *-avx512.c files, inside #if defined(__x86_64__).
#include <immintrin.h>

#define NJ_TARGET __attribute__((target("avx512f")))
#define NJ_ISA_ID NJ_ISA_AVX512
#define NJ_ISA_LABEL "avx512"
#define NJ_LANE_FMA 0
#define NJ_VL 16
#define NJ_MASKED 1
typedef __m512 nj_v;
typedef __mmask16 nj_m;
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_STOREU(p, v) _mm512_storeu_ps((p), (v))
#define V_FMA(acc, a, b) _mm512_fmadd_ps((a), (b), (acc))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
// v < 0 ? v * s : v (NaN stays NaN, as in the scalar reference).
#define V_LRELU(v, s) \
    _mm512_mask_mul_ps((v), _mm512_cmp_ps_mask((v), _mm512_setzero_ps(), _CMP_LT_OQ), (v), (s))
#define V_LOADU_M(p, m) _mm512_maskz_loadu_ps((m), (p))
#define V_STOREU_M(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))

// Lanes [lo, hi) of a vector, lo and hi clamped to [0, 16].
static inline nj_m nj_lane_mask(int32_t lo, int32_t hi) {
    lo = lo < 0 ? 0 : (lo > 16 ? 16 : lo);
    hi = hi < 0 ? 0 : (hi > 16 ? 16 : hi);
    if (hi <= lo) {
        return 0;
    }
    return (nj_m)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}
#define V_MASK(lo, hi) nj_lane_mask((lo), (hi))
