// 1x1 f16 convolution for NEON with fcvtl/fcvtn (ARMv8.0): register blocks of 4 output channels x
// 4 vectors along x, f32 accumulators, binary16 loads and stores converted. The algorithm is in
// f32-conv2d-direct.h (the same template as the f32 kernels).
#include "nightjar_kernels.h"

#if defined(__aarch64__)
#include "nj-simd-neon.h"
#include "nj-simd-neon-f16.h"

#define NJ_K 1
#define NJ_OCB 4
#define NJ_NV 4
#define NJ_FN nj_f16_conv2d_1x1_neon_4x4
#define NJ_KERNEL nj_f16_conv2d_1x1_neon_4x4_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f16_conv2d_1x1_neon_4x4_unused;
#endif
