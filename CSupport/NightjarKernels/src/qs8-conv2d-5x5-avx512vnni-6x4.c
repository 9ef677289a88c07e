// 5x5 int8 convolution for AVX-512 VNNI (VPDPBUSD on 16 int32 lanes): register blocks of 6 output channels x
// 4 vectors along x (24 accumulators), for groups whose output channels come in sixes: the network's
// 5x5 layers have 12, which the 8x2 form ran as a block of 8 and a block of 4 (8 accumulators,
// too few to hide VPDPBUSD's latency). 2-25 % faster than 8x2 on them on one Zen 5 thread. The
// algorithm is in qs8-conv2d-direct.h.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-qs8-simd-avx512vnni.h"

static int outputs_in_sixes(const nj_conv2d_qs8_args *g) {
    return g->groups > 0 && (g->out_channels / g->groups) % 6 == 0;
}

#define NJ_K 5
#define NJ_OCB 6
#define NJ_NV 4
#define NJ_FN nj_qs8_conv2d_5x5_avx512vnni_6x4
#define NJ_KERNEL nj_qs8_conv2d_5x5_avx512vnni_6x4_kernel
#define NJ_SUPPORTS outputs_in_sixes
#include "qs8-conv2d-direct.h"
#else
typedef int nj_qs8_conv2d_5x5_avx512vnni_6x4_unused;
#endif
