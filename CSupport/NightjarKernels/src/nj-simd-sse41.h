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

// Four output channels of one row interleaved (the pixel shuffle by 4 of a depth-to-space
// output), as nj-simd-avx2.h's: afterwards v[0..3] hold out[4i + j] = v_j[i], a 4x4 transpose.
#define NJ_HAS_INTERLEAVE4 1
static inline NJ_TARGET void nj_interleave4(nj_v v[4]) {
    const __m128 t0 = _mm_unpacklo_ps(v[0], v[1]), t1 = _mm_unpackhi_ps(v[0], v[1]);  // pixels 0-1, 2-3 of v0, v1
    const __m128 t2 = _mm_unpacklo_ps(v[2], v[3]), t3 = _mm_unpackhi_ps(v[2], v[3]);  // of v2, v3
    v[0] = _mm_movelh_ps(t0, t2);  // pixel 0: v0, v1, v2, v3
    v[1] = _mm_movehl_ps(t2, t0);  // pixel 1
    v[2] = _mm_movelh_ps(t1, t3);  // pixel 2
    v[3] = _mm_movehl_ps(t3, t1);  // pixel 3
}
