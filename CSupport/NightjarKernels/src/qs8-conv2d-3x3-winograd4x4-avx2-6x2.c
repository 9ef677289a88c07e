// 3x3 int8 convolution by Winograd's F(4x4, 3x3) for AVX2 (VPMADDWD on int16 channel pairs),
// bit for bit the reference's integers: each block of 4 x 4 outputs takes 36 products per
// (input, output channel) pair, 2.25 an output against F(2, 3) x F(4, 3)'s 3 and the direct
// kernel's 9. On AVX2 without VNNI the products are most of the time.
//
//   576 S = A'ᵀ [ U ⊙ (Bᵀ d B) ] A',   U = G' g G'ᵀ  (NJ_QS8_WEIGHTS_WINOGRAD_4X4_S16)
//
// with d the 6x6 patch of raw int8 inputs (padding: the input zero point, as in the reference)
// and S the direct method's sum of w * x. Both ways F(4, 3) as across in the F(2, 3) x F(4, 3)
// kernel: the points 0, 1, -1, 2, -2 and infinity, each row of G scaled to integers on its own
// (G' = diag(4, -6, -6, 24, 24, 1) G) and A'ᵀ's columns by 24 over the same factors, so each way
// scales the result by 24 (nj-qs8-winograd-avx2.h: qw4_input_points, qw4_output_points).
//
// Why it is exact: every matrix is an integer one, so the identity holds in the integers and so
// modulo 2^32, where VPMADDWD and VPADDD compute. 576 = 64 * 9: the int32 result shifted right by
// 6 is 9 S modulo 2^26, times 9's inverse modulo 2^32 it is S modulo 2^26, and |S| <= in * 9 *
// 128 * 128 < 2^25 while in <= 227 (qw44_supports), so S is that value sign-extended from 26
// bits. What must not wrap fits int16: |Bᵀ d B| <= 10 * 10 * 128 (the rows of Bᵀ add up to at
// most 10 in absolute value) and |U| <= 7 * 7 * 128, so each product is exact.
//
// Per tile of 4 output rows the row is cut into blocks of 16 tiles (64 columns):
//   1. input transform, per input channel: the 6 input rows across as in the F(2, 3) x F(4, 3)
//      kernel (qw4_across), then Bᵀ down; two channels' results interleaved into
//      V[ξ][pair][tile][2] int16, ξ = 6 * (row of Bᵀ) + column.
//   2. 36 small matrix products M[ξ][oc][tile] += U[ξ][pair][oc] · V[ξ][pair][tile]
//      (nj-qs8-winograd-avx2.h's register blocks).
//   3. output transform A'ᵀ M A', S recovered as above, the bias, and the direct kernels'
//      requantisation (nj_q_finish) on 8 consecutive columns at a time.
// A tile cut short by the range forms only the transform rows its output rows read. Steps 1 and
// 3 are in nj-qs8-winograd-avx2.h (qw44_*), shared with the AVX-512 VNNI form of this kernel.
// Scratch on the stack: 76 KB of V and 150 KB of M, no allocation.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-kernels-internal.h"
#include "nj-qs8-simd-avx2.h"
#include "qs8-internal.h"

#include "nj-qs8-winograd-avx2.h"

static NJ_Q_TARGET void nj_qs8_conv2d_3x3_winograd4x4_avx2_6x2(const nj_conv2d_qs8_args *a) {
    int16_t V[QW44_XI * QW_V_XI] __attribute__((aligned(32)));
    int32_t M[QW44_XI * QW_M_XI] __attribute__((aligned(32)));
    qw_row_tiles(a, 4, 4, 6, V, M, qw44_input_transform, qw_gemm_points, qw44_output_transform);
}

const nj_conv2d_qs8_kernel nj_qs8_conv2d_3x3_winograd4x4_avx2_6x2_kernel = {
    .run = nj_qs8_conv2d_3x3_winograd4x4_avx2_6x2,
    .name = "qs8-conv2d-3x3-winograd4x4-avx2-6x2",
    .isa = NJ_ISA_AVX2,
    .required_features = 0,
    .kernel_size = 3,
    .weight_layout = NJ_QS8_WEIGHTS_WINOGRAD_4X4_S16,
    .channel_block = 6,
    .fma_ports = 0,
    .max_group_inputs = 0,
    .row_block = 2,
    .tile_rows = 4,
    .column_block = 32,  // 8 tiles
    .supports = qw44_supports,
};
#else
typedef int nj_qs8_conv2d_3x3_winograd4x4_avx2_6x2_unused;
#endif
