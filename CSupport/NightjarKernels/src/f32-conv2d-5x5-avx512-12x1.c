// 5x5 direct convolution for AVX-512F: register blocks of 12 output channels x
// 1 vector along x, for cores with one 512-bit FMA port (Zen 4): 13 loads and broadcasts per
// 12 FMAs keep one port busy. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"

#define NJ_K 5
#define NJ_OCB 12
#define NJ_NV 1
#define NJ_FMA_PORTS 1
#define NJ_FN nj_f32_conv2d_5x5_avx512_12x1
#define NJ_KERNEL nj_f32_conv2d_5x5_avx512_12x1_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_5x5_avx512_12x1_unused;
#endif
