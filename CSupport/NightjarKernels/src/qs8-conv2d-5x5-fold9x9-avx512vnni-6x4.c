// 5x5 int8 convolution with a folded 9x9 input (int8's conv2x folded into conv_2_8_32; see
// nightjar_kernels_qs8.h) for AVX-512 VNNI (VPDPBUSD on 16 int32 lanes): register blocks of 6 output channels x
// 4 vectors along x, as the plain 5x5 kernel of this instruction set. The algorithm is in
// qs8-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-qs8-simd-avx512vnni.h"

static int outputs_in_sixes(const nj_conv2d_qs8_args *g) {
    return g->groups > 0 && (g->out_channels / g->groups) % 6 == 0;
}

#define NJ_K 5
#define NJ_FOLD_K 9
#define NJ_OCB 6
#define NJ_NV 4
#define NJ_FN nj_qs8_conv2d_5x5_fold9x9_avx512vnni_6x4
#define NJ_KERNEL nj_qs8_conv2d_5x5_fold9x9_avx512vnni_6x4_kernel
#define NJ_FOLD_SUPPORTS nj_qs8_conv2d_5x5_fold9x9_avx512vnni_6x4_supports
#define NJ_SUPPORTS outputs_in_sixes
#include "qs8-conv2d-direct.h"
#else
typedef int nj_qs8_conv2d_5x5_fold9x9_avx512vnni_6x4_unused;
#endif
