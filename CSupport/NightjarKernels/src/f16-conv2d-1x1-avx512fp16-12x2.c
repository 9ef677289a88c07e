// 1x1 f16 convolution with AVX512-FP16 (vfmadd231ph): register blocks of 12 output channels x 2
// half vectors along x, binary16 sums over 32 input channels added into f32. The algorithm is in
// f16-conv2d-native.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx512fp16.h"

#define NJ_K 1
#define NJ_OCB 12
#define NJ_NV 2
#define NJ_FLUSH 32
#define NJ_FN nj_f16_conv2d_1x1_avx512fp16_12x2
#define NJ_KERNEL nj_f16_conv2d_1x1_avx512fp16_12x2_kernel
#include "f16-conv2d-native.h"
#else
typedef int nj_f16_conv2d_1x1_avx512fp16_12x2_unused;
#endif
