// 3x3 int8 convolution by Winograd's F(2x2, 3x3) for AVX2 (VPMADDWD on int16 channel pairs),
// bit for bit the reference's integers: each 2x2 block of outputs takes 16 products per
// (input, output channel) pair instead of the direct kernel's 36.
//
//   4 S = Aᵀ [ U ⊙ (Bᵀ d B) ] A,   U = (2G) g (2G)ᵀ  (NJ_QS8_WEIGHTS_WINOGRAD_2X2_S16)
//
// with d the 4x4 patch of raw int8 inputs (padding: the input zero point, as in the reference)
// and S the direct method's sum of w * x. Why it is exact: with the filter matrix doubled, every
// matrix is an integer one, so the identity holds in the integers and therefore modulo 2^32,
// where VPMADDWD and VPADDD compute (sums may wrap on the way). The true 4 S is at most
// 4 * 16384 * 128 * 128 = 2^30 in size (prepare caps in * k * k at 16384), so the int32 result
// is 4 S itself and an arithmetic shift by 2 gives S. The ranges that must not wrap fit:
// |Bᵀ d B| <= 4 * 128 and |U| <= 9 * 128, both int16, so each product is exact.
//
// Per pair of output rows the row is cut into blocks of 16 tiles (32 columns):
//   1. input transform, per input channel: one 32-byte load gives 16 tiles' even and odd
//      columns as the low and high bytes of 16-bit words (sign-extended by shifts), a load two
//      bytes on gives the next tile's; B across, then Bᵀ down. Two channels' results are
//      interleaved into V[ξ][pair][tile][2] int16, the lane layout VPMADDWD multiplies.
//   2. sixteen small matrix products M[ξ][oc][tile] += U[ξ][pair][oc] · V[ξ][pair][tile]:
//      register blocks of 6 output channels x 2 vectors of 8 tiles.
//   3. output transform Aᵀ M A, the shift by 2 and the bias: the accumulator of the direct
//      kernels, requantised the same way (nj_q_finish); even and odd columns interleaved back.
// A range's last row alone (an odd count) forms only the products its half of Aᵀ
// reads, which do not involve the patch's last input row, as in the f32 kernel.
// Scratch on the stack: 100 KB, no allocation. Parts shared with the 5x5 kernel:
// nj-qs8-winograd-avx2.h.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-kernels-internal.h"
#include "nj-qs8-simd-avx2.h"
#include "qs8-internal.h"

#include "nj-qs8-winograd-avx2.h"

#define QW_COLS 34  // input columns a block reads

// B across one input row: h[j] holds element j of d·B for 16 tiles (tile t reads columns
// 2t .. 2t + 3 of the segment: its word t's two bytes, then word t + 1's).
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw_across(const int8_t *seg, __m256i h[4]) {
    __m256i e, o, e1, o1;
    qw_split_columns(seg, &e, &o);
    qw_split_columns(seg + 2, &e1, &o1);
    h[0] = _mm256_sub_epi16(e, e1);
    h[1] = _mm256_add_epi16(o, e1);
    h[2] = _mm256_sub_epi16(e1, o);
    h[3] = _mm256_sub_epi16(o, o1);
}

// Step 1 for channel pairs [u0, u0 + nu), the output rows y0, y0 + 1 (`rows`: bit 1 when the
// second is wanted, the first always is; only Bᵀ's rows [0, hi) are formed), tiles [t0, t0 + 16):
// V[ξ·QW_V_XI + (u·QW_TB + t)·2 + channel of the pair].
static NJ_Q_TARGET void qw_input_transform(const nj_conv2d_qs8_args *a, int32_t u0, int32_t nu, int32_t y0,
                                           int rows, int32_t t0, int16_t *V) {
    const int hi = rows & 2 ? 4 : 3;
    const int32_t c0 = 2 * t0 - 1;
    int8_t seg[4][64];
    __m256i pair[2][16];  // the pair's two channels, V[ξ] for 16 tiles each
    for (int32_t u = 0; u < nu; u++) {
        for (int j = 0; j < 2; j++) {
            const int32_t ic = 2 * (u0 + u) + j;
            if (ic >= a->in_channels) {  // its weights are zero: any value does
                for (int xi = 0; xi < 16; xi++) pair[j][xi] = _mm256_setzero_si256();
                continue;
            }
            __m256i h[4][4];
            for (int k = 0; k < hi; k++) {
                // The first input row only feeds the first output row, the fourth the second.
                qw_across(qw_segment(a, ic, y0 - 1 + k, c0, QW_COLS, seg[k]), h[k]);
            }
            for (int c = 0; c < 4; c++) {
                // Bᵀ down: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3.
                pair[j][c] = _mm256_sub_epi16(h[0][c], h[2][c]);
                pair[j][4 + c] = _mm256_add_epi16(h[1][c], h[2][c]);
                pair[j][8 + c] = _mm256_sub_epi16(h[2][c], h[1][c]);
                if (rows & 2) pair[j][12 + c] = _mm256_sub_epi16(h[1][c], h[3][c]);
            }
        }
        for (int xi = 0; xi < 4 * hi; xi++) {
            qw_store_pairs(V + (size_t)xi * QW_V_XI + (size_t)u * QW_TB * 2, pair[0][xi], pair[1][xi]);
        }
    }
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt).
static NJ_Q_TARGET void qw_output_transform(const nj_conv2d_qs8_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                            int rows, int32_t t0, int32_t nt, const int32_t *M) {
    const size_t xi = QW_M_XI;
    for (int32_t i = 0; i < noc; i++) {
        const int32_t oc = oc0 + i;
        const __m256i b = _mm256_set1_epi32(a->params->bias[oc]);
        for (int h = 0; h < 2 && 8 * h < nt; h++) {
            const int32_t *m = M + (size_t)i * QW_TB + 8 * h;
#define QW_M(k) _mm256_loadu_si256((const __m256i *)(m + (size_t)(k) * xi))
            __m256i n[2][4];
            for (int j = 0; j < 4; j++) {
                const __m256i m1 = QW_M(4 + j), m2 = QW_M(8 + j);
                n[0][j] = _mm256_add_epi32(_mm256_add_epi32(QW_M(j), m1), m2);
                if (rows & 2) n[1][j] = _mm256_sub_epi32(_mm256_sub_epi32(m1, m2), QW_M(12 + j));
            }
#undef QW_M
            const int32_t x0 = 2 * (t0 + 8 * h);
            const int32_t valid = a->width - x0 < 16 ? a->width - x0 : 16;
            for (int rr = 0; rr < 2; rr++) {
                if (!(rows >> rr & 1)) continue;
                const __m256i even4 = _mm256_add_epi32(_mm256_add_epi32(n[rr][0], n[rr][1]), n[rr][2]);
                const __m256i odd4 = _mm256_sub_epi32(_mm256_sub_epi32(n[rr][1], n[rr][2]), n[rr][3]);
                // 4 S exactly (see the top): S, then the bias, as the direct kernels' accumulator.
                qw_store_row(a, oc, y0 + rr, x0, valid, _mm256_add_epi32(qw_exact_sum(even4, 2, 1), b),
                             _mm256_add_epi32(qw_exact_sum(odd4, 2, 1), b));
            }
        }
    }
}

static NJ_Q_TARGET void nj_qs8_conv2d_3x3_winograd2x2_avx2_6x2(const nj_conv2d_qs8_args *a) {
    int16_t V[16 * QW_V_XI] __attribute__((aligned(32)));
    int32_t M[16 * QW_M_XI] __attribute__((aligned(32)));
    qw_row_tiles(a, 2, 2, 4, V, M, qw_input_transform, qw_gemm_points, qw_output_transform);
}

// Ungrouped, and enough channels on both sides that the transforms (per input and per output
// channel) cost little beside the products (per pair).
static int qw_supports(const nj_conv2d_qs8_args *g) {
    return g->kernel_size == 3 && g->groups == 1 && g->in_channels >= 16 && g->out_channels >= 16;
}

const nj_conv2d_qs8_kernel nj_qs8_conv2d_3x3_winograd2x2_avx2_6x2_kernel = {
    .run = nj_qs8_conv2d_3x3_winograd2x2_avx2_6x2,
    .name = "qs8-conv2d-3x3-winograd2x2-avx2-6x2",
    .isa = NJ_ISA_AVX2,
    .required_features = 0,
    .kernel_size = 3,
    .weight_layout = NJ_QS8_WEIGHTS_WINOGRAD_2X2_S16,
    .channel_block = 6,
    .fma_ports = 0,
    .max_group_inputs = 0,
    .row_block = 2,
    .column_block = 16,  // 8 tiles
    .supports = qw_supports,
};
#else
typedef int nj_qs8_conv2d_3x3_winograd2x2_avx2_6x2_unused;
#endif
