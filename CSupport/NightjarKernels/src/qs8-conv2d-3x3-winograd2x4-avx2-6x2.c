// 3x3 int8 convolution by Winograd's F(2, 3) down and F(4, 3) across for AVX2 (VPMADDWD on
// int16 channel pairs), bit for bit the reference's integers: each block of 2 rows x 4 columns
// of outputs takes 24 products per (input, output channel) pair instead of the direct kernel's
// 72 and F(2x2, 3x3)'s 32. On AVX2 without VNNI the products are most of the time (Zen 3 runs
// about 1.5 VPMADDWD + VPADDD pairs a cycle); the transforms, per channel rather than per pair,
// cost little beside them.
//
//   48 S = A'ᵀ [ U ⊙ (Bᵀ d B) ] A',   U = G' g G'ᵀ  (NJ_QS8_WEIGHTS_WINOGRAD_2X4_S16)
//
// with d the 4x6 patch of raw int8 inputs (padding: the input zero point, as in the reference)
// and S the direct method's sum of w * x. Down, F(2, 3) as in the F(2x2, 3x3) kernel: 2G, and
// Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]. Across, F(4, 3) at the points 0, 1, -1, 2, -2 and
// infinity with each row of G scaled to integers on its own: G' = diag(4, -6, -6, 24, 24, 1) G
// = [[1,0,0], [1,1,1], [1,-1,1], [1,2,4], [1,-2,4], [0,0,1]], and Aᵀ's columns scaled by
// 24 / that: A'ᵀ = [[6,-4,-4,1,1,0], [0,-4,4,2,-2,0], [0,-4,-4,4,4,0], [0,-4,4,8,-8,24]].
//
// Why it is exact: every matrix is an integer one, so the identity holds in the integers and so
// modulo 2^32, where VPMADDWD and VPADDD compute. 48 S may exceed int32, but 48 = 16 * 3: the
// int32 result shifted right by 4 is 3 S modulo 2^28, times 3's inverse modulo 2^32 it is S
// modulo 2^28, and |S| <= in * 9 * 128 * 128 < 2^27 (qw4_supports caps the inputs at 896), so
// S is that value sign-extended from 28 bits. What must not wrap fits int16: |Bᵀ d B| <= 2 * 10
// * 128 and |U| <= 3 * 7 * 128, so each product is exact.
//
// Per pair of output rows the row is cut into blocks of 16 tiles (64 columns):
//   1. input transform, per input channel and input row: 32-byte loads give 8 tiles' columns
//      4t + m as byte m of dword t (m < 4; a load 4 bytes on gives m = 4, 5), sign-extended by
//      shift pairs and packed into 16 int16 lanes; B across, then Bᵀ down. Two channels'
//      results are interleaved into V[ξ][pair][tile][2] int16, the lane layout VPMADDWD
//      multiplies (the pack's lane order, undone by the interleave: tiles 0-7, then 8-15).
//   2. 24 small matrix products M[ξ][oc][tile] += U[ξ][pair][oc] · V[ξ][pair][tile] in the F(2x2)
//      kernel's register blocks (nj-qs8-winograd-avx2.h).
//   3. output transform A'ᵀ M A', S recovered as above, the bias, and the direct kernels'
//      requantisation (nj_q_finish) on 8 consecutive columns at a time.
// A range's last row alone (an odd count) forms only the products its half of Aᵀ
// reads. Scratch on the stack: 51 KB of V and 100 KB of M, no allocation.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-kernels-internal.h"
#include "nj-qs8-simd-avx2.h"
#include "qs8-internal.h"

#include "nj-qs8-winograd-avx2.h"

#define QW4_COLS 68  // input columns a block's loads reach (66 used)
#define QW4_XI 24    // transform points: 4 down x 6 across

// Step 1 for channel pairs [u0, u0 + nu), the output rows y0, y0 + 1 (`rows`: bit 1 when the
// second is wanted, the first always is; only Bᵀ's rows [0, hi) down are formed), tiles
// [t0, t0 + 16):
// V[ξ·QW_V_XI + (u·QW_TB + t)·2 + channel of the pair], ξ = 6·(row of Bᵀ) + column.
static NJ_Q_TARGET void qw4_input_transform(const nj_conv2d_qs8_args *a, int32_t u0, int32_t nu, int32_t y0,
                                            int rows, int32_t t0, int16_t *V) {
    const int hi = rows & 2 ? 4 : 3;
    const int32_t c0 = 4 * t0 - 1;
    int8_t seg[4][QW4_COLS];
    __m256i pair[2][QW4_XI];
    for (int32_t u = 0; u < nu; u++) {
        for (int j = 0; j < 2; j++) {
            const int32_t ic = 2 * (u0 + u) + j;
            if (ic >= a->in_channels) {  // its weights are zero: any value does
                for (int xi = 0; xi < QW4_XI; xi++) pair[j][xi] = _mm256_setzero_si256();
                continue;
            }
            __m256i h[4][6];
            for (int k = 0; k < hi; k++) {
                // The first input row only feeds the first output row, the fourth the second.
                qw4_across(qw_segment(a, ic, y0 - 1 + k, c0, QW4_COLS, seg[k]), h[k]);
            }
            for (int c = 0; c < 6; c++) {
                // Bᵀ down: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3.
                pair[j][c] = _mm256_sub_epi16(h[0][c], h[2][c]);
                pair[j][6 + c] = _mm256_add_epi16(h[1][c], h[2][c]);
                pair[j][12 + c] = _mm256_sub_epi16(h[2][c], h[1][c]);
                if (rows & 2) pair[j][18 + c] = _mm256_sub_epi16(h[1][c], h[3][c]);
            }
        }
        for (int xi = 0; xi < 6 * hi; xi++) {
            qw_store_pairs4(V + (size_t)xi * QW_V_XI + (size_t)u * QW_TB * 2, pair[0][xi], pair[1][xi]);
        }
    }
}

// Aᵀ down: rows m0 + m1 + m2 and m1 - m2 - m3 of the transform points.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw4_down(const int32_t *mp, int rows, __m256i (*n)[6]) {
#define QW4_M(k) _mm256_loadu_si256((const __m256i *)(mp + (size_t)(k) * QW_M_XI))
    for (int j = 0; j < 6; j++) {
        const __m256i m1 = QW4_M(6 + j), m2 = QW4_M(12 + j);
        n[0][j] = _mm256_add_epi32(_mm256_add_epi32(QW4_M(j), m1), m2);
        if (rows & 2) n[1][j] = _mm256_sub_epi32(_mm256_sub_epi32(m1, m2), QW4_M(18 + j));
    }
#undef QW4_M
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt).
static NJ_Q_TARGET void qw4_output_transform(const nj_conv2d_qs8_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                             int rows, int32_t t0, int32_t nt, const int32_t *M) {
    qw4_output_blocks(a, oc0, noc, y0, rows, t0, nt, M, 2, qw4_down, 4, 0xAAAAAAABu);  // 48 S to S
}

static NJ_Q_TARGET void nj_qs8_conv2d_3x3_winograd2x4_avx2_6x2(const nj_conv2d_qs8_args *a) {
    int16_t V[QW4_XI * QW_V_XI] __attribute__((aligned(32)));
    int32_t M[QW4_XI * QW_M_XI] __attribute__((aligned(32)));
    qw_row_tiles(a, 2, 4, 6, V, M, qw4_input_transform, qw_gemm_points, qw4_output_transform);
}

// Ungrouped, few enough inputs that S is recovered (see the top), 16 or more of them (on 4, as
// conv_rdb8x, the output transforms cost more than the products save), and 64 or more outputs:
// its input transform is heavier than F(2x2)'s and its weights half as large again (24 int16 a
// pair against 16), which the RDB dense layers' 32 outputs do not repay (one Zen 3 thread, 160 ->
// 32 at 133 wide: 1.61-1.73x the f32 kernel against F(2x2)'s 1.52-1.70x, for 0.7 MB more of an
// int8 restore's peak RSS). Those stay with F(2x2).
static int qw4_supports(const nj_conv2d_qs8_args *g) {
    return g->kernel_size == 3 && g->groups == 1 && g->in_channels >= 16 && g->in_channels <= 896 &&
           g->out_channels >= 64;
}

const nj_conv2d_qs8_kernel nj_qs8_conv2d_3x3_winograd2x4_avx2_6x2_kernel = {
    .run = nj_qs8_conv2d_3x3_winograd2x4_avx2_6x2,
    .name = "qs8-conv2d-3x3-winograd2x4-avx2-6x2",
    .isa = NJ_ISA_AVX2,
    .required_features = 0,
    .kernel_size = 3,
    .weight_layout = NJ_QS8_WEIGHTS_WINOGRAD_2X4_S16,
    .channel_block = 6,
    .fma_ports = 0,
    .max_group_inputs = 0,
    .row_block = 2,
    .column_block = 32,  // 8 tiles
    .supports = qw4_supports,
};
#else
typedef int nj_qs8_conv2d_3x3_winograd2x4_avx2_6x2_unused;
#endif
