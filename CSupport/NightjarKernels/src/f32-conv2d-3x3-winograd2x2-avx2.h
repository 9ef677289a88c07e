// 3x3 convolution by Winograd's minimal filtering F(2x2, 3x3) for AVX2 + FMA (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs takes
// 16 multiplies per (input, output channel) pair instead of the direct method's 36.
//
//   Y = Aᵀ [ U ⊙ (Bᵀ d B) ] A,   U = G g Gᵀ (NJ_WEIGHTS_WINOGRAD_2X2, packed once per layer)
//
// with d the 4x4 input patch around the block and g the 3x3 filter. Per pair of output rows the
// row is cut into blocks of 16 tiles (32 columns):
//   1. input transform: for a chunk of input channels, V[ξ][ic][tile] = (Bᵀ d B)[ξ], vectors
//      along tiles. The vertical half works on whole rows; the horizontal half needs the even
//      and odd columns apart (a tile starts every second column), one shuffle pass.
//   2. sixteen small matrix products M[ξ][oc][tile] += U[ξ][ic][oc] · V[ξ][ic][tile]: register
//      blocks of 6 output channels x 2 vectors of tiles, as the direct 1x1 kernel's.
//   3. output transform Aᵀ M A, bias, LeakyReLU, residual; even and odd columns are interleaved
//      back and stored.
// Scratch (V and M for one block) lives on the stack: 96 KB, no allocation.
//
// Template (internal header, no include guard): included once by
// f32-conv2d-3x3-winograd2x2-avx2-6x2.c and once by f16-conv2d-3x3-winograd2x2-avx2-6x2.c, which
// define NJ_WG_FN, NJ_WG_KERNEL and NJ_WG_SUPPORTS; the f16 one first includes
// nj-simd-avx2-f16.h (binary16 storage: inputs, residual and outputs converted at loads and
// stores, transforms, products and sums in f32, the filters' transforms in f32 made from the
// binary16 weights).
//
// Geometry: ungrouped, kernel 3, 16 channels or more in and out (NJ_WG_SUPPORTS);
// depth-to-space by 4 stores the four channels of a shuffle quad as interleaved vectors when
// all four are in the call, else a float at a time (wg_store_row). Any row range: pairs start at even
// image rows; a row alone (a range's odd first or even last row) is computed as its half of its
// pair. Aᵀ's first row only combines the products of Bᵀ's rows 0-2, which do not involve the
// patch's fourth input row, and its second row those of rows 1-3, which do not involve the
// first: that input row is not read (it may lie outside the contract) and only 12 of the 16
// products are formed, the same sums as in the whole pair. Rounding differs from the direct
// kernels by a few units in the last place of the sum of |terms| (the transforms add inputs
// before multiplying).
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

#include "nj-conv2d-storage.h"

#define WG_ICB 32                    // input channels per transform chunk
#define WG_OCC 64                    // output channels per accumulation chunk
#include "nj-winograd-avx2.h"

// Step 1 for input channels [ic0, ic0 + nic), the pair of output rows y0, y0 + 1 (`rows`: bit 0
// the first is wanted, bit 1 the second; only Bᵀ's rows [lo, hi) are formed), tiles
// [t0, t0 + 16): V[(ξ·WG_ICB + i)·WG_TB + t].
static NJ_TARGET void wg_input_transform(const nj_args *a, int32_t ic0, int32_t nic, int32_t y0,
                                         int rows, int32_t t0, int32_t nt, float *V) {
    (void)nt;  // whole blocks: the columns past the row are zeros
    const int lo = rows & 1 ? 0 : 1, hi = rows & 2 ? 4 : 3;
    const int32_t c0 = 2 * t0 - 1;
    float seg[4][WG_SEG];
    float r[WG_SEG];
    for (int32_t i = 0; i < nic; i++) {
        const int32_t ic = ic0 + i;
        const float *d[4];
        d[0] = d[3] = NULL;
        for (int k = lo; k < hi; k++) {
            // The first input row only feeds the first output row, the fourth only the second.
            d[k] = wg_segment(wg_input_row(a, ic, y0 - 1 + k), c0, a->width, seg[k]);
        }
        for (int ri = lo; ri < hi; ri++) {
            // Bᵀ down the columns: row ri of Bᵀ d.
            for (int v = 0; v < WG_SEG; v += 8) {
                const __m256 d1 = _mm256_loadu_ps(d[1] + v), d2 = _mm256_loadu_ps(d[2] + v);
                __m256 x;
                switch (ri) {
                case 0: x = _mm256_sub_ps(_mm256_loadu_ps(d[0] + v), d2); break;  // first row wanted
                case 1: x = _mm256_add_ps(d1, d2); break;
                case 2: x = _mm256_sub_ps(d2, d1); break;
                default: x = _mm256_sub_ps(d1, _mm256_loadu_ps(d[3] + v)); break;  // second row wanted
                }
                _mm256_storeu_ps(r + v, x);
            }
            // B across: tile t reads columns 2t .. 2t + 3 of r: even, odd, even + 1, odd + 1.
            __m256 e[3], o[3];
            wg_split_columns(r, e, o);
            for (int h = 0; h < 2; h++) {
                const __m256 ea = e[h], eb = wg_shift1(e[h], e[h + 1]);
                const __m256 oa = o[h], ob = wg_shift1(o[h], o[h + 1]);
                float *out = V + ((size_t)(4 * ri) * WG_ICB + i) * WG_TB + 8 * h;
                const size_t xi = (size_t)WG_ICB * WG_TB;  // between ξ
                _mm256_storeu_ps(out, _mm256_sub_ps(ea, eb));
                _mm256_storeu_ps(out + xi, _mm256_add_ps(oa, eb));
                _mm256_storeu_ps(out + 2 * xi, _mm256_sub_ps(eb, oa));
                _mm256_storeu_ps(out + 3 * xi, _mm256_sub_ps(oa, ob));
            }
        }
    }
}

// Aᵀ for channel i of M and the 8 tiles from tile 8h: the wanted output rows rr of `rows`,
// their even (even[rr]) and odd (odd[rr]) columns before the bias.
static WG_ALWAYS_INLINE NJ_TARGET void wg_output_tiles(const float *M, int32_t i, int h, int rows, __m256 even[2],
                                                       __m256 odd[2]) {
    const size_t xi = (size_t)WG_OCC * WG_TB;
    const float *m = M + (size_t)i * WG_TB + 8 * h;
    // n[rr][j]: Aᵀ down column j of the 4x4 products, for output row rr.
    __m256 n[2][4];
    for (int j = 0; j < 4; j++) {
        const __m256 m1 = _mm256_loadu_ps(m + (size_t)(4 + j) * xi), m2 = _mm256_loadu_ps(m + (size_t)(8 + j) * xi);
        if (rows & 1) n[0][j] = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(m + (size_t)j * xi), m1), m2);
        if (rows & 2) n[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), _mm256_loadu_ps(m + (size_t)(12 + j) * xi));
    }
    for (int rr = 0; rr < 2; rr++) {
        if (!(rows >> rr & 1)) continue;
        even[rr] = _mm256_add_ps(_mm256_add_ps(n[rr][0], n[rr][1]), n[rr][2]);
        odd[rr] = _mm256_sub_ps(_mm256_sub_ps(n[rr][1], n[rr][2]), n[rr][3]);
    }
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt).
static NJ_TARGET void wg_output_transform(const nj_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                          int rows, int32_t t0, int32_t nt, const float *M) {
    const int lrelu = a->activation == NJ_ACTIVATION_LEAKY_RELU;
    const __m256 slope = _mm256_set1_ps(a->negative_slope);
    for (int32_t i = 0; i < noc;) {
        const int32_t oc = oc0 + i;
        // Depth-to-space by 4 (conv32_8_cat.1): the four channels that share an output row
        // together, stored interleaved (wg_store_d2s4), when all four are in this call.
        const int quad = a->output_depth_to_space == 4 && (a->output_channel_base + oc) % 4 == 0 && noc - i >= 4;
        for (int h = 0; h < 2 && 8 * h < nt; h++) {
            const int32_t x0 = 2 * (t0 + 8 * h);
            const int32_t valid = a->width - x0 < 16 ? a->width - x0 : 16;
            __m256 even[2][4], odd[2][4];
            for (int q = 0; q < (quad ? 4 : 1); q++) {
                const __m256 b = a->bias ? _mm256_set1_ps(a->bias[oc + q]) : _mm256_setzero_ps();
                __m256 e[2], o[2];
                wg_output_tiles(M, i + q, h, rows, e, o);
                for (int rr = 0; rr < 2; rr++) {
                    if (!(rows >> rr & 1)) continue;
                    e[rr] = _mm256_add_ps(e[rr], b);
                    o[rr] = _mm256_add_ps(o[rr], b);
                    if (lrelu) {
                        e[rr] = V_LRELU(e[rr], slope);
                        o[rr] = V_LRELU(o[rr], slope);
                    }
                    if (quad) {
                        even[rr][q] = e[rr];
                        odd[rr][q] = o[rr];
                    } else {
                        wg_store_row(a, oc, y0 + rr, x0, valid, e[rr], o[rr]);
                    }
                }
            }
            for (int rr = 0; rr < 2 && quad; rr++) {
                if (rows >> rr & 1) wg_store_d2s4(a, oc, y0 + rr, x0, valid, even[rr], odd[rr]);
            }
        }
        i += quad ? 4 : 1;
    }
}

int NJ_WG_SUPPORTS(const nj_args *g) {
    // Ungrouped, and enough channels on both sides that the transforms (per input and per
    // output channel) cost little beside the products (per pair).
    return g->kernel_size == 3 && g->groups == 1 && g->in_channels >= 16 && g->out_channels >= 16;
}

#define WG_POINTS 4
#define WG_LAYOUT NJ_WEIGHTS_WINOGRAD_2X2
#include "nj-winograd-run.h"
