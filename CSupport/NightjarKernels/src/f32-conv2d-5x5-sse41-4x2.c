// 5x5 direct convolution for SSE4.1 (multiply + add): register blocks of 4 output channels x
// 2 vectors along x. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-sse41.h"

#define NJ_K 5
#define NJ_OCB 4
#define NJ_NV 2
#define NJ_FN nj_f32_conv2d_5x5_sse41_4x2
#define NJ_KERNEL nj_f32_conv2d_5x5_sse41_4x2_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_5x5_sse41_4x2_unused;
#endif
