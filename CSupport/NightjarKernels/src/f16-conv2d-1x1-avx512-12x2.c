// 1x1 f16 convolution for AVX-512 (convert around the f32 FMA): register blocks of 12 output
// channels x 2 vectors along x, f32 accumulators, binary16 loads and stores converted. The
// algorithm is in f32-conv2d-direct.h (the same template as the f32 kernels).
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"
#include "nj-simd-avx512-f16.h"

#define NJ_K 1
#define NJ_OCB 12
#define NJ_NV 2
#define NJ_FN nj_f16_conv2d_1x1_avx512_12x2
#define NJ_KERNEL nj_f16_conv2d_1x1_avx512_12x2_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f16_conv2d_1x1_avx512_12x2_unused;
#endif
