// 3x3 int8 convolution for AVX-512 VNNI (VPDPBUSD on 16 int32 lanes): register blocks of 8 output channels x
// 3 vectors along x (24 accumulators). On the network's 3x3 shapes it ran 1-13 % faster than the 8x2
// form on one Zen 5 thread (18-20 % on 4->64; 1-, 2- and 4-row calls), which stays behind it for
// groups with more input channels than this tile's staging holds. The algorithm is in qs8-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-qs8-simd-avx512vnni.h"

#define NJ_K 3
#define NJ_OCB 8
#define NJ_NV 3
#define NJ_FN nj_qs8_conv2d_3x3_avx512vnni_8x3
#define NJ_KERNEL nj_qs8_conv2d_3x3_avx512vnni_8x3_kernel
#include "qs8-conv2d-direct.h"
#else
typedef int nj_qs8_conv2d_3x3_avx512vnni_8x3_unused;
#endif
