// 5x5 int8 convolution with a folded 9x9 input (int8's conv2x folded into conv_2_8_32; see
// nightjar_kernels_qs8.h) for AVX2 (VPMADDWD on int16 channel pairs): register blocks of 4 output channels x
// 3 vectors along x, as the plain 5x5 kernel of this instruction set. The algorithm is in
// qs8-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-qs8-simd-avx2.h"

#define NJ_K 5
#define NJ_FOLD_K 9
#define NJ_OCB 4
#define NJ_NV 3
#define NJ_FN nj_qs8_conv2d_5x5_fold9x9_avx2_4x3
#define NJ_KERNEL nj_qs8_conv2d_5x5_fold9x9_avx2_4x3_kernel
#define NJ_FOLD_SUPPORTS nj_qs8_conv2d_5x5_fold9x9_avx2_4x3_supports
#include "qs8-conv2d-direct.h"
#else
typedef int nj_qs8_conv2d_5x5_fold9x9_avx2_4x3_unused;
#endif
