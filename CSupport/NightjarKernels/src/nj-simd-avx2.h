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
