// 5x5 convolution by Winograd's minimal filtering F(2x2, 5x5) for AVX2 + FMA: each 2x2 block
// of outputs takes 36 multiplies per (input, output channel) pair instead of the direct
// method's 100. Interpolation points 0, 1, -1, 2, -2 and infinity:
//
//   Y = Aᵀ [ U ⊙ (Bᵀ d B) ] A,   U = G g Gᵀ (NJ_WEIGHTS_WINOGRAD_2X2_5X5, packed once per layer)
//
//   Bᵀ = [ 4  0 -5  0  1  0 ]   Aᵀ = [ 1  1  1  1  1  0 ]   G = diag(¼, ⅙, ⅙, ¹⁄₂₄, ¹⁄₂₄, 1) ·
//        [ 0  4  4 -1 -1  0 ]        [ 0  1 -1  2 -2  1 ]       [ 1  0  0  0  0 ]
//        [ 0 -4  4  1 -1  0 ]                                   [ 1  1  1  1  1 ]
//        [ 0 -2 -1  2  1  0 ]                                   [ 1 -1  1 -1  1 ]
//        [ 0  2 -1 -2  1  0 ]                                   [ 1  2  4  8 16 ]
//        [ 0  4  0 -5  0  1 ]                                   [ 1 -2  4 -8 16 ]
//                                                               [ 0  0  0  0 24 ]
//
// with d the 6x6 input patch around the block and g the 5x5 filter. The steps, blocks of 16
// tiles (32 columns) and the stack scratch are those of the 3x3 kernel
// (f32-conv2d-3x3-winograd2x2-avx2.h): input transform per chunk of input channels, 36 small
// matrix products in register blocks of 6 output channels x 2 vectors of tiles, output
// transform with bias, LeakyReLU and residual. Scratch: V 72 KB, M 54 KB, no allocation.
//
// Template (internal header, no include guard): included once by
// f32-conv2d-5x5-winograd2x2-avx2-6x2.c and once by f16-conv2d-5x5-winograd2x2-avx2-6x2.c, which
// define NJ_WG_FN, NJ_WG_KERNEL, NJ_WG_SUPPORTS and NJ_WG_NAME (binary16 storage as in the 3x3
// template).
//
// Geometry: ungrouped, kernel 5 (NJ_WG_SUPPORTS). Any row range: pairs start at even image rows,
// and a row alone is computed as its half of its pair. Aᵀ's first row combines the products
// of Bᵀ's rows 0-4, which do not involve the patch's sixth input row, and its second row those
// of rows 1-5, which do not involve the first (point 0's factor x): that row is not read and
// 30 of the 36 products are formed, the same sums as in the whole pair. Rounding: the
// transforms scale inputs by up to 5 and filters by up to 16/24 before multiplying, so errors
// are larger than the 3x3 kernel's: up to 2.4e-6 of the sum of |terms| in test_conv with 4 or 5
// input channels (its bound 1e-5).
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

#include "nj-conv2d-storage.h"

#define WG_ICB 32                    // input channels per transform chunk
#define WG_OCC 24                    // output channels per accumulation chunk
#include "nj-winograd-avx2.h"

// Bᵀ applied to six vectors (one column position of six rows, or six column positions of one
// row): t[k] = Σ_j Bᵀ[k][j] d[j]. Every coefficient is exact in float.
static WG_ALWAYS_INLINE NJ_TARGET void wg5_transform(const __m256 d[6], __m256 t[6]) {
    const __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f);
    const __m256 s1 = _mm256_fmsub_ps(four, d[1], d[3]);  // 4 d1 - d3
    const __m256 s2 = _mm256_fmsub_ps(four, d[2], d[4]);  // 4 d2 - d4
    const __m256 u1 = _mm256_sub_ps(d[1], d[3]);
    const __m256 u2 = _mm256_sub_ps(d[4], d[2]);
    const __m256 u1x2 = _mm256_add_ps(u1, u1);
    t[0] = _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4]));
    t[1] = _mm256_add_ps(s1, s2);
    t[2] = _mm256_sub_ps(s2, s1);
    t[3] = _mm256_sub_ps(u2, u1x2);
    t[4] = _mm256_add_ps(u2, u1x2);
    t[5] = _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5]));
}

// Step 1 for input channels [ic0, ic0 + nic), the pair of output rows y0, y0 + 1 (`rows`: bit 0
// the first is wanted, bit 1 the second), tiles [t0, t0 + 16): V[(ξ·WG_ICB + i)·WG_TB + t],
// ξ = 6·(row of Bᵀ down) + (row of Bᵀ across). Only Bᵀ's rows [lo, hi) down are formed; the
// input row a lone output row does not need is read as zeros and touches none of them.
static NJ_TARGET void wg_input_transform(const nj_args *a, int32_t ic0, int32_t nic, int32_t y0,
                                         int rows, int32_t t0, int32_t nt, float *V) {
    (void)nt;  // whole blocks: the columns past the row are zeros
    const int lo = rows & 1 ? 0 : 1, hi = rows & 2 ? 6 : 5;
    const int32_t c0 = 2 * t0 - 2;
    const size_t xi_step = (size_t)WG_ICB * WG_TB;
    float seg[6][WG_SEG];
    float r[6][WG_SEG];
    for (int32_t i = 0; i < nic; i++) {
        const int32_t ic = ic0 + i;
        const float *d[6];
        for (int k = 0; k < 6; k++) {
            const int wanted = k >= lo && k < hi;
            d[k] = wg_segment(wanted ? wg_input_row(a, ic, y0 - 2 + k) : NULL, c0, a->width, seg[k]);
        }
        // Bᵀ down the columns: the six rows of Bᵀ d, 36 columns (40 loaded).
        for (int v = 0; v < WG_SEG; v += 8) {
            __m256 x[6], t[6];
            for (int k = 0; k < 6; k++) x[k] = _mm256_loadu_ps(d[k] + v);
            wg5_transform(x, t);
            for (int k = lo; k < hi; k++) _mm256_storeu_ps(r[k] + v, t[k]);
        }
        // B across: tile t reads columns 2t .. 2t + 5 of a row: even, odd, even + 1, odd + 1, ...
        for (int ri = lo; ri < hi; ri++) {
            __m256 e[3], o[3];
            wg_split_columns(r[ri], e, o);
            for (int h = 0; h < 2; h++) {
                const __m256 x[6] = {e[h], o[h], wg_shift1(e[h], e[h + 1]), wg_shift1(o[h], o[h + 1]),
                                     wg_shift2(e[h], e[h + 1]), wg_shift2(o[h], o[h + 1])};
                __m256 t[6];
                wg5_transform(x, t);
                float *out = V + ((size_t)(6 * ri) * WG_ICB + i) * WG_TB + 8 * h;
                for (int k = 0; k < 6; k++) _mm256_storeu_ps(out + k * xi_step, t[k]);
            }
        }
    }
}

// Aᵀ applied to six vectors: the first output (rows 0-4) and the second (rows 1-5).
static WG_ALWAYS_INLINE NJ_TARGET __m256 wg5_first(const __m256 m[6]) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(m[0], m[1]), _mm256_add_ps(m[2], m[3])), m[4]);
}
static WG_ALWAYS_INLINE NJ_TARGET __m256 wg5_second(const __m256 m[6]) {
    const __m256 d34 = _mm256_sub_ps(m[3], m[4]);
    return _mm256_add_ps(_mm256_add_ps(_mm256_sub_ps(m[1], m[2]), m[5]), _mm256_add_ps(d34, d34));
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt).
static NJ_TARGET void wg_output_transform(const nj_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                          int rows, int32_t t0, int32_t nt, const float *M) {
    const int lrelu = a->activation == NJ_ACTIVATION_LEAKY_RELU;
    const __m256 slope = _mm256_set1_ps(a->negative_slope);
    const size_t xi_step = (size_t)WG_OCC * WG_TB;
    for (int32_t i = 0; i < noc; i++) {
        const int32_t oc = oc0 + i;
        const __m256 b = a->bias ? _mm256_set1_ps(a->bias[oc]) : _mm256_setzero_ps();
        for (int h = 0; h < 2 && 8 * h < nt; h++) {
            const float *m = M + (size_t)i * WG_TB + 8 * h;
            // n[rr][j]: Aᵀ down column j of the 6x6 products, for output row rr.
            __m256 n[2][6];
            for (int j = 0; j < 6; j++) {
                __m256 col[6];
                for (int k = 0; k < 6; k++) {
                    const int wanted = (rows & 1 && k < 5) || (rows & 2 && k > 0);
                    col[k] = wanted ? _mm256_loadu_ps(m + (size_t)(6 * k + j) * xi_step) : _mm256_setzero_ps();
                }
                if (rows & 1) n[0][j] = wg5_first(col);
                if (rows & 2) n[1][j] = wg5_second(col);
            }
            const int32_t x0 = 2 * (t0 + 8 * h);
            const int32_t valid = a->width - x0 < 16 ? a->width - x0 : 16;
            for (int rr = 0; rr < 2; rr++) {
                if (!(rows >> rr & 1)) continue;
                __m256 even = _mm256_add_ps(wg5_first(n[rr]), b);
                __m256 odd = _mm256_add_ps(wg5_second(n[rr]), b);
                if (lrelu) {
                    even = V_LRELU(even, slope);
                    odd = V_LRELU(odd, slope);
                }
                wg_store_row(a, oc, y0 + rr, x0, valid, even, odd);
            }
        }
    }
}

int NJ_WG_SUPPORTS(const nj_args *g) {
    // Ungrouped, and enough input channels to amortise the output transform (per output
    // channel and tile): with 4 (conv2x) the direct kernel was 1.4x as fast, with 24
    // (conv_2_8_32) this one 1.3-1.5x the direct kernel (one Zen 3 thread).
    return g->kernel_size == 5 && g->groups == 1 && g->in_channels >= 16 && g->out_channels >= 8;
}

#define WG_POINTS 6
#define WG_LAYOUT NJ_WEIGHTS_WINOGRAD_2X2_5X5
#include "nj-winograd-run.h"
