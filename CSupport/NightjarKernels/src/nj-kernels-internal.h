// Registry entries of the ISA-specific kernels (internal: only the registry refers to them;
// everything else goes through nj_conv2d_f32_kernel_select).
#ifndef NJ_KERNELS_INTERNAL_H
#define NJ_KERNELS_INTERNAL_H

#include "nightjar_kernels.h"

#if defined(__x86_64__)
extern const nj_conv2d_f32_kernel nj_f32_conv2d_1x1_avx512_12x2_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_3x3_avx512_8x3_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_5x5_avx512_12x1_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_1x1_avx2_6x2_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_3x3_avx2_6x2_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_5x5_avx2_6x2_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_1x1_sse41_4x2_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_3x3_sse41_4x2_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_5x5_sse41_4x2_kernel;
#endif

#if defined(__aarch64__)
extern const nj_conv2d_f32_kernel nj_f32_conv2d_1x1_neon_4x4_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_3x3_neon_4x4_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_5x5_neon_4x4_kernel;
#endif

#endif
