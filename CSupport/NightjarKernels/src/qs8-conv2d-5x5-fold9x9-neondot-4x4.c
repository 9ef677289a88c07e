// 5x5 int8 convolution with a folded 9x9 input (int8's conv2x folded into conv_2_8_32; see
// nightjar_kernels_qs8.h) for NEON with the ARMv8.2 dot product (SDOT): register blocks of 4 output channels x
// 4 vectors along x, as the plain 5x5 kernel of this instruction set. The algorithm is in
// qs8-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__aarch64__)
// GCC enables the extension for the whole file (its arm_neon.h refuses a narrower
// function attribute); clang takes the attribute in nj-qs8-simd-neondot.h.
#if !defined(__clang__)
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
#include "nj-qs8-simd-neondot.h"

#define NJ_K 5
#define NJ_FOLD_K 9
#define NJ_OCB 4
#define NJ_NV 4
#define NJ_FN nj_qs8_conv2d_5x5_fold9x9_neondot_4x4
#define NJ_KERNEL nj_qs8_conv2d_5x5_fold9x9_neondot_4x4_kernel
#define NJ_FOLD_SUPPORTS nj_qs8_conv2d_5x5_fold9x9_neondot_4x4_supports
#include "qs8-conv2d-direct.h"
#else
typedef int nj_qs8_conv2d_5x5_fold9x9_neondot_4x4_unused;
#endif
