// Registry entries of the ISA-specific kernels (internal: only the registry refers to them;
// everything else goes through nj_conv2d_f32_kernel_select).
#ifndef NJ_KERNELS_INTERNAL_H
#define NJ_KERNELS_INTERNAL_H

#include "nightjar_kernels.h"

#if defined(__x86_64__)
extern const nj_conv2d_f32_kernel nj_f32_conv2d_1x1_avx512_12x2_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_3x3_avx512_8x3_kernel;
extern const nj_conv2d_f32_kernel nj_f32_conv2d_5x5_avx512_6x4_kernel;
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

// Where output channel `oc` (of this call) at row y, column 0 is stored, and the floats
// between its columns: 1, or r with a depth-to-space output (see nj_conv2d_f32_args).
static inline float *nj_conv2d_output_row(const nj_conv2d_f32_args *a, int32_t oc, int32_t y, size_t *column_step) {
    const int32_t r = a->output_depth_to_space;
    if (r <= 1) {
        *column_step = 1;
        return a->output + (size_t)oc * a->output_channel_stride + (size_t)(y % a->output_rows) * a->width;
    }
    const int32_t c = a->output_channel_base + oc;
    *column_step = (size_t)r;
    return a->output + (size_t)(c / (r * r)) * a->output_channel_stride +
           (size_t)((y * r + (c / r) % r) % a->output_rows) * a->width * r + c % r;
}

#endif
