// 3x3 direct convolution for AVX-512F: register blocks of 8 output channels x
// 3 vectors along x. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"

#define NJ_K 3
#define NJ_OCB 8
#define NJ_NV 3
#define NJ_FN nj_f32_conv2d_3x3_avx512_8x3
#define NJ_KERNEL nj_f32_conv2d_3x3_avx512_8x3_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_3x3_avx512_8x3_unused;
#endif
