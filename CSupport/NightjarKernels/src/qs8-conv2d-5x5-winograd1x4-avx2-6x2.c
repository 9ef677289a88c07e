// 5x5 int8 convolution by Winograd's F(4, 5) along rows for AVX2 (VPMADDWD on int16 channel
// pairs), bit for bit the reference's integers: each 4 outputs of a row take 8 products per
// kernel row and (input, output channel) pair instead of the direct kernel's 20 and F(2, 5)'s
// 12. Kernel rows stay direct (as in qs8-conv2d-5x5-winograd1x2-avx2-6x2.c: in two dimensions
// the filter transform would not fit int16).
//
//   360 S = A'ᵀ [ Σ_ky U[ky] ⊙ (B'ᵀ d[ky]) ],   U[ky] = G' g[ky]   (NJ_QS8_WEIGHTS_WINOGRAD_1X4_5X5_S16)
//
// with d[ky] the 8 raw int8 inputs of input row y + ky - 2 around the 4 outputs (padding: the
// input zero point, as in the reference), g[ky] the filter's row ky and S the direct method's
// sum of w * x. The points are 0, 1, -1, 2, -2, 1/2, -1/2 and infinity; each row of G and of Bᵀ
// is scaled to integers on its own, and Aᵀ's columns by 360 over the two rows' scales:
//
//   B'ᵀ = [ 4  0 -21   0  21   0 -4  0 ]   G' = [  1  0  0  0  0 ]
//         [ 0  4   4 -17 -17   4  4  0 ]        [  1  1  1  1  1 ]
//         [ 0 -4   4  17 -17  -4  4  0 ]        [  1 -1  1 -1  1 ]
//         [ 0  2   1 -10  -5   8  4  0 ]        [  1  2  4  8 16 ]
//         [ 0 -2   1  10  -5  -8  4  0 ]        [  1 -2  4 -8 16 ]
//         [ 0  4   8  -5 -10   1  2  0 ]        [ 16  8  4  2  1 ]
//         [ 0 -4   8   5 -10  -1  2  0 ]        [ 16 -8  4 -2  1 ]
//         [ 0 -4   0  21   0 -21  0  4 ]        [  0  0  0  0  1 ]
//
//   A'ᵀ = [ 90 -20 -20  1  1  8  8  0 ]
//         [  0 -20  20  2 -2  4 -4  0 ]
//         [  0 -20 -20  4  4  2  2  0 ]
//         [  0 -20  20  8 -8  1 -1 90 ]
//
// Why it is exact: every matrix is an integer one, so the identity holds in the integers and
// so modulo 2^32, where VPMADDWD and VPADDD compute. |B'ᵀ d| <= 50 * 128 and |G' g| <= 31 * 128
// are int16, so each product is exact. 360 S may exceed int32, but 360 = 8 * 45: the int32
// result shifted right by 3 is 45 S modulo 2^29, times 45's inverse modulo 2^32 it is S modulo
// 2^29, and with at most 32 input channels |S| <= 32 * 25 * 128² < 2^28, so S is that value
// sign-extended from 29 bits. Then the bias and the direct kernels' requantisation.
//
// Per band of up to 8 output rows and block of 16 tiles (64 columns), the band's input rows are
// transformed once (V[row][ξ][pair][tile][2] int16), then each output row sums 5 kernel rows x
// the channel pairs in register blocks of 6 output channels x 2 vectors of 8 tiles, ξ by ξ, and
// the output transform finishes the row. Scratch on the stack: 110 KB, no allocation.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-kernels-internal.h"
#include "nj-qs8-simd-avx2.h"
#include "qs8-internal.h"

#include "nj-qs8-winograd-avx2.h"

#define QW45_BAND 8                 // output rows per band
#define QW45_ROWS (QW45_BAND + 4)   // input rows a band reads
#define QW45_UNITS 16               // channel pairs: at most 32 input channels
#define QW45_OCC 24                 // output channels per accumulation chunk
#define QW45_COLS 68                // input columns a block's loads reach (66 used)
#define QW45_XI 8                   // transform points

static QW_ALWAYS_INLINE NJ_Q_TARGET __m256i qw45_x5(__m256i x) { return _mm256_add_epi16(_mm256_slli_epi16(x, 2), x); }
static QW_ALWAYS_INLINE NJ_Q_TARGET __m256i qw45_x17(__m256i x) { return _mm256_add_epi16(_mm256_slli_epi16(x, 4), x); }
static QW_ALWAYS_INLINE NJ_Q_TARGET __m256i qw45_x21(__m256i x) {
    return _mm256_add_epi16(_mm256_slli_epi16(x, 4), qw45_x5(x));
}

// B'ᵀ across one input row for 16 tiles: tile t reads columns 4t .. 4t + 7 of the segment, as
// bytes of its dwords t and t + 1. Rows 1-6 in pairs: an even part plus and minus an odd part.
static QW_ALWAYS_INLINE NJ_Q_TARGET void qw45_across(const int8_t *seg, __m256i x[8]) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)seg), b = _mm256_loadu_si256((const __m256i *)(seg + 32));
    const __m256i a4 = _mm256_loadu_si256((const __m256i *)(seg + 4));
    const __m256i b4 = _mm256_loadu_si256((const __m256i *)(seg + 36));
    __m256i d[8];
    for (int m = 0; m < 4; m++) {
        d[m] = qw_phase4(a, b, m);
        d[4 + m] = qw_phase4(a4, b4, m);
    }
    x[0] = _mm256_add_epi16(_mm256_slli_epi16(_mm256_sub_epi16(d[0], d[6]), 2), qw45_x21(_mm256_sub_epi16(d[4], d[2])));
    x[7] = _mm256_add_epi16(_mm256_slli_epi16(_mm256_sub_epi16(d[7], d[1]), 2), qw45_x21(_mm256_sub_epi16(d[3], d[5])));
    // 4 (d2 + d6) - 17 d4 and 4 (d1 + d5) - 17 d3
    const __m256i e1 = _mm256_sub_epi16(_mm256_slli_epi16(_mm256_add_epi16(d[2], d[6]), 2), qw45_x17(d[4]));
    const __m256i o1 = _mm256_sub_epi16(_mm256_slli_epi16(_mm256_add_epi16(d[1], d[5]), 2), qw45_x17(d[3]));
    x[1] = _mm256_add_epi16(e1, o1);
    x[2] = _mm256_sub_epi16(e1, o1);
    // d2 - 5 d4 + 4 d6 and 2 (d1 - 5 d3 + 4 d5)
    const __m256i e3 = _mm256_add_epi16(_mm256_sub_epi16(d[2], qw45_x5(d[4])), _mm256_slli_epi16(d[6], 2));
    const __m256i o3h = _mm256_add_epi16(_mm256_sub_epi16(d[1], qw45_x5(d[3])), _mm256_slli_epi16(d[5], 2));
    const __m256i o3 = _mm256_add_epi16(o3h, o3h);
    x[3] = _mm256_add_epi16(e3, o3);
    x[4] = _mm256_sub_epi16(e3, o3);
    // 2 (4 d2 - 5 d4 + d6) and 4 d1 - 5 d3 + d5
    const __m256i e5h = _mm256_add_epi16(_mm256_sub_epi16(_mm256_slli_epi16(d[2], 2), qw45_x5(d[4])), d[6]);
    const __m256i e5 = _mm256_add_epi16(e5h, e5h);
    const __m256i o5 = _mm256_add_epi16(_mm256_sub_epi16(_mm256_slli_epi16(d[1], 2), qw45_x5(d[3])), d[5]);
    x[5] = _mm256_add_epi16(e5, o5);
    x[6] = _mm256_sub_epi16(e5, o5);
}

// Input rows [iy0, iy0 + rows) transformed for tiles [t0, t0 + 16):
// V[(((r·8 + ξ)·units + u)·QW_TB + t)·2 + channel of the pair].
static NJ_Q_TARGET void qw45_input_transform(const nj_conv2d_qs8_args *a, int32_t iy0, int32_t rows, int32_t t0,
                                             int32_t units, int16_t *V) {
    const int32_t c0 = 4 * t0 - 2;
    int8_t seg[QW45_COLS];
    for (int32_t r = 0; r < rows; r++) {
        for (int32_t u = 0; u < units; u++) {
            __m256i pair[2][QW45_XI];
            for (int j = 0; j < 2; j++) {
                const int32_t ic = 2 * u + j;
                if (ic >= a->in_channels) {  // its weights are zero: any value does
                    for (int xi = 0; xi < QW45_XI; xi++) pair[j][xi] = _mm256_setzero_si256();
                    continue;
                }
                qw45_across(qw_segment(a, ic, iy0 + r, c0, QW45_COLS, seg), pair[j]);
            }
            for (int xi = 0; xi < QW45_XI; xi++) {
                qw_store_pairs4(V + (((size_t)r * QW45_XI + xi) * units + u) * QW_TB * 2, pair[0][xi], pair[1][xi]);
            }
        }
    }
}

// A'ᵀ, S from 360 S modulo 2^32 (see the top), the bias, and the row's stores for output
// channels [oc0, oc0 + noc) (M: [ξ][oc][tile], QW45_OCC channels apart).
static NJ_Q_TARGET void qw45_output_transform(const nj_conv2d_qs8_args *a, int32_t oc0, int32_t noc, int32_t y,
                                              int32_t t0, int32_t nt, const int32_t *M) {
    const size_t xi = (size_t)QW45_OCC * QW_TB;
    const __m256i k20 = _mm256_set1_epi32(20), k90 = _mm256_set1_epi32(90);
    for (int32_t i = 0; i < noc; i++) {
        const int32_t oc = oc0 + i;
        const __m256i b = _mm256_set1_epi32(a->params->bias[oc]);
        for (int h = 0; h < 2 && 8 * h < nt; h++) {
            const int32_t *mp = M + (size_t)i * QW_TB + 8 * h;
            __m256i n[8];
            for (int k = 0; k < 8; k++) n[k] = _mm256_loadu_si256((const __m256i *)(mp + (size_t)k * xi));
            const __m256i s12 = _mm256_mullo_epi32(_mm256_add_epi32(n[1], n[2]), k20);
            const __m256i d12 = _mm256_mullo_epi32(_mm256_sub_epi32(n[1], n[2]), k20);
            const __m256i s34 = _mm256_add_epi32(n[3], n[4]), d34 = _mm256_sub_epi32(n[3], n[4]);
            const __m256i s56 = _mm256_add_epi32(n[5], n[6]), d56 = _mm256_sub_epi32(n[5], n[6]);
            __m256i q[4];
            q[0] = _mm256_add_epi32(_mm256_sub_epi32(_mm256_mullo_epi32(n[0], k90), s12),
                                    _mm256_add_epi32(s34, _mm256_slli_epi32(s56, 3)));
            q[1] = _mm256_add_epi32(_mm256_sub_epi32(_mm256_add_epi32(d34, d34), d12), _mm256_slli_epi32(d56, 2));
            q[2] = _mm256_add_epi32(_mm256_sub_epi32(_mm256_slli_epi32(s34, 2), s12), _mm256_add_epi32(s56, s56));
            q[3] = _mm256_add_epi32(_mm256_sub_epi32(_mm256_slli_epi32(d34, 3), d12),
                                    _mm256_add_epi32(d56, _mm256_mullo_epi32(n[7], k90)));
            for (int c = 0; c < 4; c++) {
                q[c] = _mm256_add_epi32(qw_exact_sum(q[c], 3, 0xA4FA4FA5u), b);  // 45 * 0xA4FA4FA5 = 1 (mod 2^32)
            }
            const int32_t x0 = 4 * (t0 + 8 * h);
            const int32_t valid = a->width - x0 < 32 ? a->width - x0 : 32;
            qw_store_row4(a, oc, y, x0, valid, q, NULL);
        }
    }
}

static NJ_Q_TARGET void nj_qs8_conv2d_5x5_winograd1x4_avx2_6x2(const nj_conv2d_qs8_args *a) {
    int16_t V[QW45_ROWS * QW45_XI * QW45_UNITS * QW_TB * 2] __attribute__((aligned(32)));
    int32_t M[QW45_XI * QW45_OCC * QW_TB] __attribute__((aligned(32)));
    const int32_t tiles = (a->width + 3) / 4;
    const int32_t units = (a->in_channels + 1) / 2;
    const size_t u_stride = (size_t)a->weight_stride * 2;  // int16 between channel pairs
    const size_t u_xi_stride = (size_t)units * u_stride, u_ky_stride = QW45_XI * u_xi_stride;
    const size_t v_xi_stride = (size_t)units * QW_TB * 2, v_row_stride = QW45_XI * v_xi_stride;
    for (int32_t y0 = a->row_begin; y0 < a->row_end; y0 += QW45_BAND) {
        const int32_t y1 = a->row_end - y0 < QW45_BAND ? a->row_end : y0 + QW45_BAND;
        for (int32_t t0 = 0; t0 < tiles; t0 += QW_TB) {
            const int32_t nt = tiles - t0 < QW_TB ? tiles - t0 : QW_TB;
            qw45_input_transform(a, y0 - 2, y1 - y0 + 4, t0, units, V);
            for (int32_t y = y0; y < y1; y++) {
                const int16_t *Vy = V + (size_t)(y - y0) * v_row_stride;
                for (int32_t oc0 = 0; oc0 < a->out_channels; oc0 += QW45_OCC) {
                    const int32_t noc = a->out_channels - oc0 < QW45_OCC ? a->out_channels - oc0 : QW45_OCC;
                    for (int xi = 0; xi < QW45_XI; xi++) {
                        // M[ξ][oc][·] = Σ_ky Σ_u U[ky][ξ][u][oc] · V[y - y0 + ky][ξ][u][·]
                        qw_gemm_channels((const int16_t *)a->weights + xi * u_xi_stride + (size_t)oc0 * 2, u_ky_stride,
                                         u_stride, Vy + xi * v_xi_stride, v_row_stride, 5, units,
                                         M + (size_t)xi * QW45_OCC * QW_TB, 1, noc, nt);
                    }
                    qw45_output_transform(a, oc0, noc, y, t0, nt, M);
                }
            }
        }
    }
}

// Ungrouped 5x5 with 4 to 32 input channels (the upper bound keeps S within 29 bits and the
// staged rows on the stack) and 8 or more output channels. Unlike F(2, 5), F(4, 5) pays on
// conv2x's 4 inputs too: one Zen 3 thread ran 4 -> 12 at 68-73 GMAC/s against the direct
// kernel's 50-52 (Tests/kernels/bench_qs8.c).
static int qw45_supports(const nj_conv2d_qs8_args *g) {
    return g->kernel_size == 5 && g->groups == 1 && g->in_channels >= 4 && g->in_channels <= 2 * QW45_UNITS &&
           g->out_channels >= 8;
}

const nj_conv2d_qs8_kernel nj_qs8_conv2d_5x5_winograd1x4_avx2_6x2_kernel = {
    .run = nj_qs8_conv2d_5x5_winograd1x4_avx2_6x2,
    .name = "qs8-conv2d-5x5-winograd1x4-avx2-6x2",
    .isa = NJ_ISA_AVX2,
    .required_features = 0,
    .kernel_size = 5,
    .weight_layout = NJ_QS8_WEIGHTS_WINOGRAD_1X4_5X5_S16,
    .channel_block = 6,
    .fma_ports = 0,
    .max_group_inputs = 0,
    .row_block = 1,
    .supports = qw45_supports,
};
#else
typedef int nj_qs8_conv2d_5x5_winograd1x4_avx2_6x2_unused;
#endif
