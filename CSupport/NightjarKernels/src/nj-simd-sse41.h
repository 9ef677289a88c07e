// Vector vocabulary of the direct-convolution template for SSE4.1 (4 floats, no FMA:
// multiply then add, so results differ from FMA kernels by rounding only).
// Internal header: included only by *-sse41.c files, inside #if defined(__x86_64__).
#include <smmintrin.h>

#define NJ_TARGET __attribute__((target("sse4.1")))
#define NJ_ISA_ID NJ_ISA_SSE41
#define NJ_ISA_LABEL "sse41"
#define NJ_LANE_FMA 0
#define NJ_VL 4
#define NJ_MASKED 0
typedef __m128 nj_v;
#define V_ZERO() _mm_setzero_ps()
#define V_SET1(x) _mm_set1_ps(x)
#define V_LOADU(p) _mm_loadu_ps(p)
#define V_STOREU(p, v) _mm_storeu_ps((p), (v))
#define V_FMA(acc, a, b) _mm_add_ps((acc), _mm_mul_ps((a), (b)))
#define V_ADD(a, b) _mm_add_ps((a), (b))
#define V_LRELU(v, s) \
    _mm_blendv_ps((v), _mm_mul_ps((v), (s)), _mm_cmplt_ps((v), _mm_setzero_ps()))
