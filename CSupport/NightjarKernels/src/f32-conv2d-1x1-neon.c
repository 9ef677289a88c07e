// 1x1 direct convolution, neon: register blocks of up to 4 output channels x 4
// vectors along x. The algorithm is in f32-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__aarch64__)
#include "nj-simd-neon.h"

#ifndef NJ_NEON_OCB
#define NJ_NEON_OCB 4
#endif
#ifndef NJ_NEON_NV
#define NJ_NEON_NV 4
#endif

#define NJ_K 1
#define NJ_FN nj_f32_conv2d_1x1_neon
#define NJ_OCB NJ_NEON_OCB
#define NJ_NV NJ_NEON_NV
#include "f32-conv2d-direct.h"
#else
typedef int nj_f32_conv2d_1x1_neon_unused;
#endif
