// 5x5 f16 convolution with NEON FP16 fmla (ARMv8.2-A): register blocks of 8 output channels x 3
// half vectors along x, binary16 sums over 1 input channel(s) added into f32. The algorithm is in
// f16-conv2d-native.h.
#include "nightjar_kernels.h"

#if defined(__aarch64__)
#include "nj-simd-neonfp16.h"

#define NJ_K 5
#define NJ_OCB 8
#define NJ_NV 3
#define NJ_FLUSH 1
#define NJ_FN nj_f16_conv2d_5x5_neonfp16_8x3
#define NJ_KERNEL nj_f16_conv2d_5x5_neonfp16_8x3_kernel
#include "f16-conv2d-native.h"
#else
typedef int nj_f16_conv2d_5x5_neonfp16_8x3_unused;
#endif
