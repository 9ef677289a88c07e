// 5x5 direct convolution, sse41: register blocks of up to 4 output channels x 2
// vectors along x. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-sse41.h"

#ifndef NJ_SSE41_OCB
#define NJ_SSE41_OCB 4
#endif
#ifndef NJ_SSE41_NV
#define NJ_SSE41_NV 2
#endif

#define NJ_K 5
#define NJ_FN nj_f32_conv2d_5x5_sse41
#define NJ_OCB NJ_SSE41_OCB
#define NJ_NV NJ_SSE41_NV
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_5x5_sse41_unused;
#endif
