// 3x3 int8 convolution for NEON widening multiply-accumulate (SMLAL, no dot product): register blocks of 4 output channels x
// 2 vectors along x. The algorithm is in qs8-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__aarch64__)
#include "nj-qs8-simd-neon.h"

#define NJ_K 3
#define NJ_OCB 4
#define NJ_NV 2
#define NJ_FN nj_qs8_conv2d_3x3_neon_4x2
#define NJ_KERNEL nj_qs8_conv2d_3x3_neon_4x2_kernel
#include "qs8-conv2d-direct.h"
#else
typedef int nj_qs8_conv2d_3x3_neon_4x2_unused;
#endif
