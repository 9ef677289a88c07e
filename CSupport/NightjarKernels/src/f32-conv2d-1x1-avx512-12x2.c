// 1x1 direct convolution for AVX-512F: register blocks of 12 output channels x
// 2 vectors along x. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"

#define NJ_K 1
#define NJ_OCB 12
#define NJ_NV 2
#define NJ_FN nj_f32_conv2d_1x1_avx512_12x2
#define NJ_KERNEL nj_f32_conv2d_1x1_avx512_12x2_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_1x1_avx512_12x2_unused;
#endif
