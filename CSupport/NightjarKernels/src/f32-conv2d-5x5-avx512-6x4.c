// 5x5 direct convolution for AVX-512F: register blocks of 6 output channels x 4 vectors along
// x, for cores with two 512-bit FMA ports (Intel Xeon). The 12x1 tile issues 13 loads and
// broadcasts per 12 FMAs: two ports would need 2 loads a cycle and sit half idle. 6x4 issues
// 10 per 24 FMAs (24 accumulators, 4 inputs, 1 weight: 29 of the 32 zmm registers).
// Measured on a Sapphire Rapids class Xeon, 1 thread: 32.6 -> 53.7 GMAC/s on conv_2_8_32
// (12x2: 42.3, 8x3: 47.1). The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"

#define NJ_K 5
#define NJ_OCB 6
#define NJ_NV 4
#define NJ_FMA_PORTS 2
#define NJ_FN nj_f32_conv2d_5x5_avx512_6x4
#define NJ_KERNEL nj_f32_conv2d_5x5_avx512_6x4_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_5x5_avx512_6x4_unused;
#endif
