// 5x5 int8 convolution by Winograd's F(2, 5) along rows for AVX2 (VPMADDWD on int16 channel
// pairs), bit for bit the reference's integers: each pair of outputs of a row takes 6 products
// per kernel row and (input, output channel) pair instead of the direct kernel's 10. Kernel rows
// stay direct: in two dimensions the transforms' scale (24 per dimension) would overflow int32.
//
//   24 S = Aᵀ [ Σ_ky U[ky] ⊙ (Bᵀ d[ky]) ],   U[ky] = G' g[ky]   (NJ_QS8_WEIGHTS_WINOGRAD_1X2_5X5_S16)
//
// with d[ky] the 6 raw int8 inputs of input row y + ky - 2 around the output pair (padding: the
// input zero point, as in the reference), g[ky] the filter's row ky, S the direct method's sum
// of w * x, and the matrices of the f32 F(2x2, 5x5) kernel (points 0, 1, -1, 2, -2 and
// infinity), with G scaled by 24 into integers:
//
//   Bᵀ = [ 4  0 -5  0  1  0 ]   Aᵀ = [ 1  1  1  1  1  0 ]   G' = [ 6  0  0  0  0 ]
//        [ 0  4  4 -1 -1  0 ]        [ 0  1 -1  2 -2  1 ]        [ 4  4  4  4  4 ]
//        [ 0 -4  4  1 -1  0 ]                                    [ 4 -4  4 -4  4 ]
//        [ 0 -2 -1  2  1  0 ]                                    [ 1  2  4  8 16 ]
//        [ 0  2 -1 -2  1  0 ]                                    [ 1 -2  4 -8 16 ]
//        [ 0  4  0 -5  0  1 ]                                    [ 0  0  0  0 24 ]
//
// Why it is exact: every matrix is an integer one, so the identity holds in the integers and
// so modulo 2^32, where VPMADDWD and VPADDD compute. |Bᵀ d| <= 10 * 128 and |G' g| <= 31 * 128
// are int16, so each product is exact; with at most 32 input channels (qw5_supports)
// |24 S| <= 24 * 32 * 25 * 128² < 2^31, so the int32 result is 24 S itself. S follows by an
// arithmetic shift by 3 and a multiplication by 3's inverse modulo 2^32 (exact on multiples
// of 3); then the bias and the direct kernels' requantisation (nj_q_finish).
//
// Per band of up to 8 output rows and block of 16 tiles (32 columns), the band's input rows
// are transformed once (V[row][ξ][pair][tile][2] int16, the lane layout VPMADDWD multiplies),
// then each output row sums 5 kernel rows x the channel pairs in register blocks of 6 output
// channels x 2 vectors of 8 tiles, ξ by ξ, and the output transform finishes the row.
// Scratch on the stack: 83 KB, no allocation. Parts shared with the 3x3 kernel:
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

#define QW5_BAND 8                // output rows per band
#define QW5_ROWS (QW5_BAND + 4)   // input rows a band reads
#define QW5_UNITS 16              // channel pairs: at most 32 input channels
#define QW5_OCC 24                // output channels per accumulation chunk
#define QW5_COLS 36               // input columns a block reads

// Bᵀ across one input row for 16 tiles: tile t reads columns 2t .. 2t + 5 of the segment, the
// low and high bytes of its words t, t + 1 and t + 2.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw5_across(const int8_t *seg, __m256i t[6]) {
    __m256i d[6];
    for (int k = 0; k < 3; k++) qw_split_columns(seg + 2 * k, &d[2 * k], &d[2 * k + 1]);
    const __m256i s1 = _mm256_sub_epi16(_mm256_slli_epi16(d[1], 2), d[3]);  // 4 d1 - d3
    const __m256i s2 = _mm256_sub_epi16(_mm256_slli_epi16(d[2], 2), d[4]);  // 4 d2 - d4
    const __m256i u1 = _mm256_sub_epi16(d[1], d[3]);
    const __m256i u2 = _mm256_sub_epi16(d[4], d[2]);
    const __m256i u1x2 = _mm256_add_epi16(u1, u1);
    const __m256i d2x5 = _mm256_add_epi16(_mm256_slli_epi16(d[2], 2), d[2]);
    const __m256i d3x5 = _mm256_add_epi16(_mm256_slli_epi16(d[3], 2), d[3]);
    t[0] = _mm256_add_epi16(_mm256_sub_epi16(_mm256_slli_epi16(d[0], 2), d2x5), d[4]);
    t[1] = _mm256_add_epi16(s1, s2);
    t[2] = _mm256_sub_epi16(s2, s1);
    t[3] = _mm256_sub_epi16(u2, u1x2);
    t[4] = _mm256_add_epi16(u2, u1x2);
    t[5] = _mm256_add_epi16(_mm256_sub_epi16(_mm256_slli_epi16(d[1], 2), d3x5), d[5]);
}

// Input rows [iy0, iy0 + rows) transformed for tiles [t0, t0 + 16):
// V[(((r·6 + ξ)·units + u)·QW_TB + t)·2 + channel of the pair].
static NJ_Q_TARGET void qw5_input_transform(const nj_conv2d_qs8_args *a, int32_t iy0, int32_t rows, int32_t t0,
                                            int32_t units, int16_t *V) {
    const int32_t c0 = 2 * t0 - 2;
    int8_t seg[64];
    for (int32_t r = 0; r < rows; r++) {
        for (int32_t u = 0; u < units; u++) {
            __m256i pair[2][6];
            for (int j = 0; j < 2; j++) {
                const int32_t ic = 2 * u + j;
                if (ic >= a->in_channels) {  // its weights are zero: any value does
                    for (int xi = 0; xi < 6; xi++) pair[j][xi] = _mm256_setzero_si256();
                    continue;
                }
                qw5_across(qw_segment(a, ic, iy0 + r, c0, QW5_COLS, seg), pair[j]);
            }
            for (int xi = 0; xi < 6; xi++) {
                qw_store_pairs(V + (((size_t)r * 6 + xi) * units + u) * QW_TB * 2, pair[0][xi], pair[1][xi]);
            }
        }
    }
}

// Aᵀ, S = 24 S / 24 exactly, the bias, and the row's stores for output channels
// [oc0, oc0 + noc) (M: [ξ][oc][tile], QW5_OCC channels apart).
static NJ_Q_TARGET void qw5_output_transform(const nj_conv2d_qs8_args *a, int32_t oc0, int32_t noc, int32_t y,
                                             int32_t t0, int32_t nt, const int32_t *M) {
    const size_t xi = (size_t)QW5_OCC * QW_TB;
    for (int32_t i = 0; i < noc; i++) {
        const int32_t oc = oc0 + i;
        const __m256i b = _mm256_set1_epi32(a->params->bias[oc]);
        for (int h = 0; h < 2 && 8 * h < nt; h++) {
            const int32_t *m = M + (size_t)i * QW_TB + 8 * h;
            __m256i n[6];
            for (int k = 0; k < 6; k++) n[k] = _mm256_loadu_si256((const __m256i *)(m + (size_t)k * xi));
            const __m256i d34 = _mm256_sub_epi32(n[3], n[4]);
            const __m256i even24 = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(n[0], n[1]), n[2]),
                                                    _mm256_add_epi32(n[3], n[4]));
            const __m256i odd24 = _mm256_add_epi32(_mm256_add_epi32(_mm256_sub_epi32(n[1], n[2]), n[5]),
                                                   _mm256_add_epi32(d34, d34));
            const int32_t x0 = 2 * (t0 + 8 * h);
            const int32_t valid = a->width - x0 < 16 ? a->width - x0 : 16;
            qw_store_row(a, oc, y, x0, valid,
                         _mm256_add_epi32(qw_exact_sum(even24, 3, 0xAAAAAAABu), b),
                         _mm256_add_epi32(qw_exact_sum(odd24, 3, 0xAAAAAAABu), b));  // 3 * 0xAAAAAAAB = 1 (mod 2^32)
        }
    }
}

static NJ_Q_TARGET void nj_qs8_conv2d_5x5_winograd1x2_avx2_6x2(const nj_conv2d_qs8_args *a) {
    int16_t V[QW5_ROWS * 6 * QW5_UNITS * QW_TB * 2] __attribute__((aligned(32)));
    int32_t M[6 * QW5_OCC * QW_TB] __attribute__((aligned(32)));
    const int32_t tiles = (a->width + 1) / 2;
    const int32_t units = (a->in_channels + 1) / 2;
    const size_t u_stride = (size_t)a->weight_stride * 2;  // int16 between channel pairs
    const size_t u_xi_stride = (size_t)units * u_stride, u_ky_stride = 6 * u_xi_stride;
    const size_t v_xi_stride = (size_t)units * QW_TB * 2, v_row_stride = 6 * v_xi_stride;
    for (int32_t y0 = a->row_begin; y0 < a->row_end; y0 += QW5_BAND) {
        const int32_t y1 = a->row_end - y0 < QW5_BAND ? a->row_end : y0 + QW5_BAND;
        for (int32_t t0 = 0; t0 < tiles; t0 += QW_TB) {
            const int32_t nt = tiles - t0 < QW_TB ? tiles - t0 : QW_TB;
            qw5_input_transform(a, y0 - 2, y1 - y0 + 4, t0, units, V);
            for (int32_t y = y0; y < y1; y++) {
                const int16_t *Vy = V + (size_t)(y - y0) * v_row_stride;
                for (int32_t oc0 = 0; oc0 < a->out_channels; oc0 += QW5_OCC) {
                    const int32_t noc = a->out_channels - oc0 < QW5_OCC ? a->out_channels - oc0 : QW5_OCC;
                    for (int xi = 0; xi < 6; xi++) {
                        // M[ξ][oc][·] = Σ_ky Σ_u U[ky][ξ][u][oc] · V[y - y0 + ky][ξ][u][·]
                        qw_gemm_channels((const int16_t *)a->weights + xi * u_xi_stride + (size_t)oc0 * 2, u_ky_stride,
                                         u_stride, Vy + xi * v_xi_stride, v_row_stride, 5, units,
                                         M + (size_t)xi * QW5_OCC * QW_TB, 1, noc, nt);
                    }
                    qw5_output_transform(a, oc0, noc, y, t0, nt, M);
                }
            }
        }
    }
}

// Ungrouped 5x5 with 16 to 32 input channels (the upper bound keeps 24 S in int32) and 8 or
// more output channels. Below 16 inputs the transforms cost too much beside the products: on
// conv2x (4 -> 12) one Zen 3 thread ran 31-44 GMAC/s against the direct kernel's 35-40.
static int qw5_supports(const nj_conv2d_qs8_args *g) {
    return g->kernel_size == 5 && g->groups == 1 && g->in_channels >= 16 && g->in_channels <= 2 * QW5_UNITS &&
           g->out_channels >= 8;
}

const nj_conv2d_qs8_kernel nj_qs8_conv2d_5x5_winograd1x2_avx2_6x2_kernel = {
    .run = nj_qs8_conv2d_5x5_winograd1x2_avx2_6x2,
    .name = "qs8-conv2d-5x5-winograd1x2-avx2-6x2",
    .isa = NJ_ISA_AVX2,
    .required_features = 0,
    .kernel_size = 5,
    .weight_layout = NJ_QS8_WEIGHTS_WINOGRAD_1X2_5X5_S16,
    .channel_block = 6,
    .fma_ports = 0,
    .max_group_inputs = 0,
    .row_block = 1,
    .supports = qw5_supports,
};
#else
typedef int nj_qs8_conv2d_5x5_winograd1x2_avx2_6x2_unused;
#endif
