// 5x5 direct convolution for AVX2 + FMA: register blocks of 6 output channels x
// 2 vectors along x. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx2.h"

#define NJ_K 5
#define NJ_OCB 6
#define NJ_NV 2
#define NJ_FN nj_f32_conv2d_5x5_avx2_6x2
#define NJ_KERNEL nj_f32_conv2d_5x5_avx2_6x2_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_5x5_avx2_6x2_unused;
#endif
