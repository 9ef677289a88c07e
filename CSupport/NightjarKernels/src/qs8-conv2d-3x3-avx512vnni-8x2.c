// 3x3 int8 convolution for AVX-512 VNNI (VPDPBUSD on 16 int32 lanes): register blocks of 8 output channels x
// 2 vectors along x. The algorithm is in qs8-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-qs8-simd-avx512vnni.h"

#define NJ_K 3
#define NJ_OCB 8
#define NJ_NV 2
#define NJ_FN nj_qs8_conv2d_3x3_avx512vnni_8x2
#define NJ_KERNEL nj_qs8_conv2d_3x3_avx512vnni_8x2_kernel
#include "qs8-conv2d-direct.h"
#else
typedef int nj_qs8_conv2d_3x3_avx512vnni_8x2_unused;
#endif
