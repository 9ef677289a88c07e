// 1x1 direct convolution, avx512: register blocks of up to 8 output channels x 3
// vectors along x. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"

#ifndef NJ_AVX512_OCB
#define NJ_AVX512_OCB 8
#endif
#ifndef NJ_AVX512_NV
#define NJ_AVX512_NV 3
#endif

#define NJ_K 1
#define NJ_FN nj_f32_conv2d_1x1_avx512
#define NJ_OCB NJ_AVX512_OCB
#define NJ_NV NJ_AVX512_NV
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_1x1_avx512_unused;
#endif
