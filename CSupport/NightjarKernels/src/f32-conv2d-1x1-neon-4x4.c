// 1x1 direct convolution for AArch64 NEON (FMA by lane): register blocks of 4 output channels x
// 4 vectors along x. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__aarch64__)
#include "nj-simd-neon.h"

#define NJ_K 1
#define NJ_OCB 4
#define NJ_NV 4
#define NJ_FN nj_f32_conv2d_1x1_neon_4x4
#define NJ_KERNEL nj_f32_conv2d_1x1_neon_4x4_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_1x1_neon_4x4_unused;
#endif
