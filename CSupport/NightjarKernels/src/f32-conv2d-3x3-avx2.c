// 3x3 direct convolution, avx2: register blocks of up to 6 output channels x 2
// vectors along x. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx2.h"

#ifndef NJ_AVX2_OCB
#define NJ_AVX2_OCB 6
#endif
#ifndef NJ_AVX2_NV
#define NJ_AVX2_NV 2
#endif

#define NJ_K 3
#define NJ_FN nj_f32_conv2d_3x3_avx2
#define NJ_OCB NJ_AVX2_OCB
#define NJ_NV NJ_AVX2_NV
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_3x3_avx2_unused;
#endif
