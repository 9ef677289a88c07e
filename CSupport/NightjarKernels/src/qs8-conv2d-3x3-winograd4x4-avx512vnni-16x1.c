// 3x3 int8 convolution by Winograd's F(4x4, 3x3) with AVX-512 VNNI's VPDPWSSD for the products:
// the AVX2 kernel qs8-conv2d-3x3-winograd4x4-avx2-6x2.c (whose comment has the arithmetic and why
// it is exact) with its step 2 on zmm, bit for bit the same integers.
//
// Why on a VNNI machine: the direct kernels' VPDPBUSD does 64 products an instruction and a 3x3
// output needs 9 per (input, output channel) pair; VPDPWSSD does 32 on int16 pairs and F(4x4)
// needs 2.25, so the products take half the instructions. VPDPWSSD adds without saturating, the
// same wrapping sum as VPMADDWD then VPADDD, so the recovery modulo 2^32 holds unchanged.
//
// A block of 16 tiles' transformed inputs for one channel pair is 32 int16, one zmm, whose 32-bit
// lane t is tile t's pair (qw_store_pairs4's order), and M[ξ][oc][0 .. 15] is one zmm: each
// product is one VPDPWSSD with the weight pair broadcast from memory, in register blocks of 16
// output channels. The transforms stay on ymm (nj-qs8-winograd-avx2.h), compiled for AVX-512:
// an output transform on 16 tiles at once (zmm A'ᵀ, transposes and requantisation) measured
// the same as this one (docs/kernels.md), so it was not kept.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-kernels-internal.h"
#include "nj-qs8-simd-avx2.h"
#include "qs8-internal.h"

// The shared Winograd parts compiled for this kernel's ISA (the AVX2 vocabulary's functions
// inline into them: AVX-512 is a superset).
#undef NJ_Q_TARGET
#define NJ_Q_TARGET __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#include "nj-qs8-winograd-avx2.h"

#define QW44Z_OCB 16  // output channels per register block

// OCB output channels: M[oc][0 .. 15] (+)= Σ_u U[u][oc] · V[u][0 .. 15] over `units` pairs.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw44z_gemm_block(const int16_t *U, size_t u_stride, const int16_t *V,
                                                          int32_t units, int32_t *M, int first, const int OCB) {
    __m512i acc[QW44Z_OCB];
    for (int o = 0; o < OCB; o++) {
        acc[o] = first ? _mm512_setzero_si512() : _mm512_loadu_si512((const void *)(M + (size_t)o * QW_TB));
    }
    for (int32_t u = 0; u < units; u++) {
        const __m512i v = _mm512_loadu_si512((const void *)(V + (size_t)u * QW_TB * 2));
        const int16_t *w = U + (size_t)u * u_stride;
        for (int o = 0; o < OCB; o++) acc[o] = _mm512_dpwssd_epi32(acc[o], v, _mm512_set1_epi32(qw_load32(w + 2 * o)));
    }
    for (int o = 0; o < OCB; o++) _mm512_storeu_si512((void *)(M + (size_t)o * QW_TB), acc[o]);
}

// Step 2 as qw_gemm_points: every ξ in [xi_begin, xi_end), output channels in blocks of 16 and a
// remainder block. All 16 tiles are formed even when nt <= 8: the output transform reads only
// the tiles that exist.
static NJ_Q_TARGET void qw44z_gemm_points(const nj_conv2d_qs8_args *a, int32_t u0, int32_t nu, int32_t oc0,
                                          int32_t noc, const int16_t *V, int32_t *M, int first, int xi_begin,
                                          int xi_end, int32_t nt) {
    (void)nt;
    const size_t units = (size_t)(a->in_channels + 1) / 2;
    const size_t u_stride = (size_t)a->weight_stride * 2;  // int16 between channel pairs
    for (int xi = xi_begin; xi < xi_end; xi++) {
        const int16_t *U = (const int16_t *)a->weights + ((size_t)xi * units + u0) * u_stride + (size_t)oc0 * 2;
        const int16_t *Vx = V + (size_t)xi * QW_V_XI;
        int32_t *Mx = M + (size_t)xi * QW_M_XI;
        int32_t o = 0;
        for (; o + QW44Z_OCB <= noc; o += QW44Z_OCB) {
            qw44z_gemm_block(U + 2 * o, u_stride, Vx, nu, Mx + (size_t)o * QW_TB, first, QW44Z_OCB);
        }
        switch (noc - o) {
#define QW44Z_REST(n) \
    case n: qw44z_gemm_block(U + 2 * o, u_stride, Vx, nu, Mx + (size_t)o * QW_TB, first, n); break;
            QW44Z_REST(1) QW44Z_REST(2) QW44Z_REST(3) QW44Z_REST(4) QW44Z_REST(5) QW44Z_REST(6) QW44Z_REST(7)
            QW44Z_REST(8) QW44Z_REST(9) QW44Z_REST(10) QW44Z_REST(11) QW44Z_REST(12) QW44Z_REST(13)
            QW44Z_REST(14) QW44Z_REST(15)
#undef QW44Z_REST
        default: break;
        }
    }
}

static NJ_Q_TARGET void nj_qs8_conv2d_3x3_winograd4x4_avx512vnni_16x1(const nj_conv2d_qs8_args *a) {
    int16_t V[QW44_XI * QW_V_XI] __attribute__((aligned(64)));
    int32_t M[QW44_XI * QW_M_XI] __attribute__((aligned(64)));
    qw_row_tiles(a, 4, 4, 6, V, M, qw44_input_transform, qw44z_gemm_points, qw44_output_transform);
}

const nj_conv2d_qs8_kernel nj_qs8_conv2d_3x3_winograd4x4_avx512vnni_16x1_kernel = {
    .run = nj_qs8_conv2d_3x3_winograd4x4_avx512vnni_16x1,
    .name = "qs8-conv2d-3x3-winograd4x4-avx512vnni-16x1",
    .isa = NJ_ISA_AVX512,
    .required_features = NJ_CPU_AVX512_VNNI,
    .kernel_size = 3,
    .weight_layout = NJ_QS8_WEIGHTS_WINOGRAD_4X4_S16,
    .channel_block = QW44Z_OCB,
    .fma_ports = 0,
    .max_group_inputs = 0,
    .row_block = 2,
    .tile_rows = 4,
    .column_block = 32,  // 8 tiles
    .supports = qw44_supports,
};
#else
typedef int nj_qs8_conv2d_3x3_winograd4x4_avx512vnni_16x1_unused;
#endif
