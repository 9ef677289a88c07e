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

// Four output channels of one row interleaved, the pixel shuffle by 4 of a depth-to-space
// output: stored in order, v[0..3] afterwards hold out[4i + j] = v_j[i] (i < 16, j < 4). Eight
// two-source permutes and four full stores replace 64 scalar stores.
#define NJ_HAS_INTERLEAVE4 1
static inline NJ_TARGET void nj_interleave4(nj_v v[4]) {
    // (v0[i], v1[i]) and (v2[i], v3[i]) pairs, then the pairs of the two interleaved as 64-bit
    // units: v[j] becomes values 16j..16j+15 of (v0[0], v1[0], v2[0], v3[0], v0[1], ...).
    const __m512i pair_lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i pair_hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const __m512i quad_lo = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    const __m512i quad_hi = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    const __m512d p01_lo = _mm512_castps_pd(_mm512_permutex2var_ps(v[0], pair_lo, v[1]));
    const __m512d p01_hi = _mm512_castps_pd(_mm512_permutex2var_ps(v[0], pair_hi, v[1]));
    const __m512d p23_lo = _mm512_castps_pd(_mm512_permutex2var_ps(v[2], pair_lo, v[3]));
    const __m512d p23_hi = _mm512_castps_pd(_mm512_permutex2var_ps(v[2], pair_hi, v[3]));
    v[0] = _mm512_castpd_ps(_mm512_permutex2var_pd(p01_lo, quad_lo, p23_lo));
    v[1] = _mm512_castpd_ps(_mm512_permutex2var_pd(p01_lo, quad_hi, p23_lo));
    v[2] = _mm512_castpd_ps(_mm512_permutex2var_pd(p01_hi, quad_lo, p23_hi));
    v[3] = _mm512_castpd_ps(_mm512_permutex2var_pd(p01_hi, quad_hi, p23_hi));
}
