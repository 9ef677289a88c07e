// Vector vocabulary of the direct-convolution template for AVX2 + FMA (8 floats).
// Internal header: included only by *-avx2.c files, inside #if defined(__x86_64__).
#include <immintrin.h>

#define NJ_TARGET __attribute__((target("avx2,fma")))
#define NJ_ISA_ID NJ_ISA_AVX2
#define NJ_ISA_LABEL "avx2"
#define NJ_LANE_FMA 0
#define NJ_VL 8
#define NJ_MASKED 0
typedef __m256 nj_v;
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_STOREU(p, v) _mm256_storeu_ps((p), (v))
#define V_FMA(acc, a, b) _mm256_fmadd_ps((a), (b), (acc))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_LRELU(v, s) \
    _mm256_blendv_ps((v), _mm256_mul_ps((v), (s)), \
                     _mm256_cmp_ps((v), _mm256_setzero_ps(), _CMP_LT_OQ))

// Four output channels of one row interleaved, the pixel shuffle by 4 of a depth-to-space
// output: stored in order, v[0..3] afterwards hold out[4i + j] = v_j[i] (i < 8, j < 4). Eight
// in-lane unpacks and four lane swaps replace 32 scalar stores.
#define NJ_HAS_INTERLEAVE4 1
static inline NJ_TARGET void nj_interleave4(nj_v v[4]) {
    // Pairs (v0[i], v1[i]) and (v2[i], v3[i]), then pairs of pairs: within each 128-bit lane,
    // u_k holds pixel k (low lane) and pixel k + 4 (high lane), four channels each.
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 u0 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
    const __m256 u1 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
    const __m256 u2 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
    const __m256 u3 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
    v[0] = _mm256_permute2f128_ps(u0, u1, 0x20);  // pixels 0, 1
    v[1] = _mm256_permute2f128_ps(u2, u3, 0x20);  // pixels 2, 3
    v[2] = _mm256_permute2f128_ps(u0, u1, 0x31);  // pixels 4, 5
    v[3] = _mm256_permute2f128_ps(u2, u3, 0x31);  // pixels 6, 7
}
