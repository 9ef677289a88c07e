// Declarations of the ISA-specific kernels (internal: only the registry and benchmarks call
// them by name; the executor goes through nj_conv2d_f32_select).
#ifndef NJ_KERNELS_INTERNAL_H
#define NJ_KERNELS_INTERNAL_H

#include "nightjar_kernels.h"

#if defined(__x86_64__)
void nj_f32_conv2d_1x1_sse41(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_3x3_sse41(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_5x5_sse41(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_1x1_avx2(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_3x3_avx2(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_5x5_avx2(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_1x1_avx512(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_3x3_avx512(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_5x5_avx512(const nj_conv2d_f32_args *args);
#endif

#if defined(__aarch64__)
void nj_f32_conv2d_1x1_neon(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_3x3_neon(const nj_conv2d_f32_args *args);
void nj_f32_conv2d_5x5_neon(const nj_conv2d_f32_args *args);
#endif

#endif
