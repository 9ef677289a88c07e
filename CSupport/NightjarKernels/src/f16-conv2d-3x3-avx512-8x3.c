// 3x3 f16 convolution for AVX-512 (convert around the f32 FMA): register blocks of 8 output
// channels x 3 vectors along x, f32 accumulators, binary16 loads and stores converted. The
// algorithm is in f32-conv2d-direct.h (the same template as the f32 kernels).
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"
#include "nj-simd-avx512-f16.h"

#define NJ_K 3
#define NJ_OCB 8
#define NJ_NV 3
#define NJ_FN nj_f16_conv2d_3x3_avx512_8x3
#define NJ_KERNEL nj_f16_conv2d_3x3_avx512_8x3_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f16_conv2d_3x3_avx512_8x3_unused;
#endif
