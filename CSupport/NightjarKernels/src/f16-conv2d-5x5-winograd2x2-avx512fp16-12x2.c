// 5x5 f16 convolution by Winograd's F(2x2, 5x5) in binary16 on AVX512-FP16: the AVX-512
// template (f32-conv2d-5x5-winograd2x2-avx512.h) with blocks of 64 tiles; its input transform
// on 32 halves a vector (the binary16 rows read as they are), the 36 small matrix products
// (nj-winograd-gemm-avx512fp16.h), M, the output transform and the row's end in binary16: 2.8x
// fewer products than the direct kernel at its rate per FMA.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512.h"
#include "nj-simd-avx512-f16.h"
#undef NJ_TARGET
#define NJ_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512fp16")))
#undef NJ_REQUIRED_FEATURES
#define NJ_REQUIRED_FEATURES NJ_CPU_AVX512_FP16

#define WG_HALF_PRODUCTS 1
#define WG_ICB 32
#define WG_WEIGHT_DTYPE NJ_DTYPE_F16X2
// Each ξ's binary16 sum has at most WG_ICB (32) products, and Aᵀ adds 25 ξ of transformed terms
// (factors up to 16) into an output. 96 is the declared bound (test_conv_f16 checks it against
// the direct sum's |terms|): eight times the worst seen there (0.00604; 0.00945 when the input
// transform ran in f32).
#define WG_HALF_SUM_TERMS 96
#define NJ_WG_FN nj_f16_conv2d_5x5_winograd2x2_avx512fp16_12x2
#define NJ_WG_KERNEL nj_f16_conv2d_5x5_winograd2x2_avx512fp16_12x2_kernel
#define NJ_WG_SUPPORTS nj_f16_conv2d_5x5_winograd2x2_supports
#define NJ_WG_NAME "f16-conv2d-5x5-winograd2x2-avx512fp16-12x2"
#include "f32-conv2d-5x5-winograd2x2-avx512.h"
#else
typedef int nj_f16_conv2d_5x5_winograd2x2_avx512fp16_12x2_unused;
#endif
