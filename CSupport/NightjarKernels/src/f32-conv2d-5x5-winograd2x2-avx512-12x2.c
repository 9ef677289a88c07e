// 5x5 f32 convolution by Winograd's F(2x2, 5x5) for AVX-512F: register blocks of 12 output
// channels x 2 vectors of tiles in the products. The algorithm is in
// f32-conv2d-5x5-winograd2x2-avx512.h (the same template as the f16 kernel).
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"

#define NJ_WG_FN nj_f32_conv2d_5x5_winograd2x2_avx512_12x2
#define NJ_WG_KERNEL nj_f32_conv2d_5x5_winograd2x2_avx512_12x2_kernel
#define NJ_WG_SUPPORTS nj_f32_conv2d_5x5_winograd2x2_supports
#define NJ_WG_NAME "f32-conv2d-5x5-winograd2x2-avx512-12x2"
#include "f32-conv2d-5x5-winograd2x2-avx512.h"
#else
typedef int nj_f32_conv2d_5x5_winograd2x2_avx512_12x2_unused;
#endif
