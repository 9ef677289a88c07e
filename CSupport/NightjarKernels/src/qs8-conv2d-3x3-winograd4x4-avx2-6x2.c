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
// A tile cut short by the range forms only the transform rows its output rows read. Scratch on
// the stack: 76 KB of V and 150 KB of M, no allocation.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-kernels-internal.h"
#include "nj-qs8-simd-avx2.h"
#include "qs8-internal.h"

#include "nj-qs8-winograd-avx2.h"

#define QW44_COLS 68  // input columns a block's loads reach (66 used)
#define QW44_XI 36    // transform points: 6 down x 6 across

// Step 1 for channel pairs [u0, u0 + nu), the output rows y0 .. y0 + 3 (`rows`: bit r when row
// y0 + r is wanted, the first always is; Bᵀ's last row down is formed only for the last), tiles
// [t0, t0 + 16): V[ξ·QW_V_XI + (u·QW_TB + t)·2 + channel of the pair].
static NJ_Q_TARGET void qw44_input_transform(const nj_conv2d_qs8_args *a, int32_t u0, int32_t nu, int32_t y0,
                                             int rows, int32_t t0, int16_t *V) {
    const int hi = rows & 8 ? 6 : 5;
    const int32_t c0 = 4 * t0 - 1;
    int8_t seg[QW44_COLS];
    __m256i pair[2][QW44_XI];
    for (int32_t u = 0; u < nu; u++) {
        for (int j = 0; j < 2; j++) {
            const int32_t ic = 2 * (u0 + u) + j;
            if (ic >= a->in_channels) {  // its weights are zero: any value does
                for (int xi = 0; xi < QW44_XI; xi++) pair[j][xi] = _mm256_setzero_si256();
                continue;
            }
            __m256i h[6][6];
            for (int k = 0; k < 6; k++) {
                // Input row 5 feeds only Bᵀ's last row.
                if (k < hi) {
                    qw4_across(qw_segment(a, ic, y0 - 1 + k, c0, QW44_COLS, seg), h[k]);
                } else {
                    for (int c = 0; c < 6; c++) h[k][c] = _mm256_setzero_si256();
                }
            }
            for (int c = 0; c < 6; c++) {  // Bᵀ down
                const __m256i d[6] = {h[0][c], h[1][c], h[2][c], h[3][c], h[4][c], h[5][c]};
                __m256i x[6];
                qw4_input_points(d, x);
                for (int r = 0; r < hi; r++) pair[j][6 * r + c] = x[r];
            }
        }
        for (int xi = 0; xi < 6 * hi; xi++) {
            qw_store_pairs4(V + (size_t)xi * QW_V_XI + (size_t)u * QW_TB * 2, pair[0][xi], pair[1][xi]);
        }
    }
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt).
static NJ_Q_TARGET void qw44_output_transform(const nj_conv2d_qs8_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                              int rows, int32_t t0, int32_t nt, const int32_t *M) {
    const size_t xi = QW_M_XI;
    for (int32_t i = 0; i < noc;) {
        const int32_t oc = oc0 + i;
        const int quad = qw_quad_at(a, oc, noc - i);
        for (int h = 0; h < 2 && 8 * h < nt; h++) {
            const int32_t x0 = 4 * (t0 + 8 * h);
            const int32_t valid = a->width - x0 < 32 ? a->width - x0 : 32;
            int8_t values[4][4][32];
            for (int j = 0; j < (quad ? 4 : 1); j++) {
                const int32_t *mp = M + (size_t)(i + j) * QW_TB + 8 * h;
                __m256i n[4][6];
                for (int c = 0; c < 6; c++) {  // A'ᵀ down (transform rows a cut tile did not form stay unread)
                    __m256i m[6], col[4];
                    for (int r = 0; r < 6; r++) {
                        const int formed = r < 5 || (rows & 8);
                        m[r] = formed ? _mm256_loadu_si256((const __m256i *)(mp + (size_t)(6 * r + c) * xi))
                                      : _mm256_setzero_si256();
                    }
                    qw4_output_points(m, col, rows);
                    for (int r = 0; r < 4; r++) {
                        if (rows >> r & 1) n[r][c] = col[r];
                    }
                }
                const __m256i b = _mm256_set1_epi32(a->params->bias[oc + j]);
                qw4_finish_rows(a, oc + j, y0, rows, 4, x0, valid, n, b, 6, 0x38E38E39u,  // 576 S to S
                                quad ? values[j] : NULL);
            }
            if (quad) qw_store_quad_rows(a, oc, y0, rows, 4, x0, valid, values);
        }
        i += quad ? 4 : 1;
    }
}

static NJ_Q_TARGET void nj_qs8_conv2d_3x3_winograd4x4_avx2_6x2(const nj_conv2d_qs8_args *a) {
    int16_t V[QW44_XI * QW_V_XI] __attribute__((aligned(32)));
    int32_t M[QW44_XI * QW_M_XI] __attribute__((aligned(32)));
    qw_row_tiles(a, 4, 4, 6, V, M, qw44_input_transform, qw44_output_transform);
}

// Ungrouped, few enough inputs that S is recovered (see the top), 16 or more of them, and 64 or
// more outputs, as the F(2, 3) x F(4, 3) kernel (its reasons); those with more inputs stay there.
static int qw44_supports(const nj_conv2d_qs8_args *g) {
    return g->kernel_size == 3 && g->groups == 1 && g->in_channels >= 16 && g->in_channels <= 227 &&
           g->out_channels >= 64;
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
