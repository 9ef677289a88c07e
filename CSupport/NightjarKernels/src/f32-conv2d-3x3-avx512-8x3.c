// 3x3 direct convolution for AVX-512F: register blocks of 8 output channels x
// 3 vectors along x, input channels in chunks of 32 (a tile's rows and a block's weights stay
// in L1: 57 -> 64 GMAC/s on 64->64 at 532 wide, Sapphire Rapids class, 1 thread, loaded).
// The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"

#define NJ_K 3
#define NJ_OCB 8
#define NJ_NV 3
#define NJ_IC_CHUNK 32
#define NJ_FN nj_f32_conv2d_3x3_avx512_8x3
#define NJ_KERNEL nj_f32_conv2d_3x3_avx512_8x3_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_3x3_avx512_8x3_unused;
#endif
