// 3x3 f16 convolution for AVX2 + F16C (convert around the f32 FMA): register blocks of 6 output
// channels x 2 vectors along x, f32 accumulators, binary16 loads and stores converted. The
// vocabulary's V_ACC_BARRIER keeps the 12 accumulators in registers (without it this tile
// spilled and the kernel used 4x2 blocks). Depth-to-space outputs still take blocks of 4 (the
// driver's rule), which store interleaved whole vectors. The algorithm is in
// f32-conv2d-direct.h (the same template as the f32 kernels).
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-simd-avx2.h"
#include "nj-simd-avx2-f16.h"

#define NJ_K 3
#define NJ_OCB 6
#define NJ_NV 2
#define NJ_FN nj_f16_conv2d_3x3_avx2_6x2
#define NJ_KERNEL nj_f16_conv2d_3x3_avx2_6x2_kernel
#include "f32-conv2d-direct.h"
#else
typedef int nj_f16_conv2d_3x3_avx2_6x2_unused;
#endif
