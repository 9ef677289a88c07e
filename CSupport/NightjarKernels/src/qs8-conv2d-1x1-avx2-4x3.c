// 1x1 int8 convolution for AVX2 (VPMADDWD on int16 channel pairs): register blocks of 4 output channels x
// 3 vectors along x. The algorithm is in qs8-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-qs8-simd-avx2.h"

#define NJ_K 1
#define NJ_OCB 4
#define NJ_NV 3
#define NJ_FN nj_qs8_conv2d_1x1_avx2_4x3
#define NJ_KERNEL nj_qs8_conv2d_1x1_avx2_4x3_kernel
#include "qs8-conv2d-direct.h"
#else
typedef int nj_qs8_conv2d_1x1_avx2_4x3_unused;
#endif
