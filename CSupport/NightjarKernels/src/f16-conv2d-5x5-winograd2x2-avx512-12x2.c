// 5x5 f16 convolution by Winograd's F(2x2, 5x5) for AVX-512 (convert around the f32 FMA):
// binary16 inputs, residual and outputs converted at loads and stores; transforms, products
// and sums in f32, with the filters transformed in f32 from the binary16 weights. The
// algorithm is in f32-conv2d-5x5-winograd2x2-avx512.h (the same template as the f32 kernel).
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"
#include "nj-simd-avx512-f16.h"

#define NJ_WG_FN nj_f16_conv2d_5x5_winograd2x2_avx512_12x2
#define NJ_WG_KERNEL nj_f16_conv2d_5x5_winograd2x2_avx512_12x2_kernel
#define NJ_WG_SUPPORTS nj_f16_conv2d_5x5_winograd2x2_supports
#define NJ_WG_NAME "f16-conv2d-5x5-winograd2x2-avx512-12x2"
#include "f32-conv2d-5x5-winograd2x2-avx512.h"
#else
typedef int nj_f16_conv2d_5x5_winograd2x2_avx512_12x2_unused;
#endif
