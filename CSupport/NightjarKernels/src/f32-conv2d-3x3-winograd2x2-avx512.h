// 3x3 convolution by Winograd's F(2x2, 3x3) for AVX-512F: the AVX2 template's algorithm
// (f32-conv2d-3x3-winograd2x2-avx2.h, where the transforms are written out) on 16-float
// vectors, with the products' register blocks sized for two 512-bit FMA ports.
//
//   Y = Aᵀ [ U ⊙ (Bᵀ d B) ] A,   U = G g Gᵀ (NJ_WEIGHTS_WINOGRAD_2X2, the AVX2 kernel's packing)
//
// What differs from AVX2:
//   - Blocks of 32 tiles (64 columns): the products' register block is 12 output channels x 2
//     vectors of tiles, 24 accumulators of the 32 registers, 14 loads (2 vectors, 12
//     broadcasts) per 24 FMAs: the two ports are fed without the loads becoming the limit.
//     A block of 16 tiles or fewer (a row's last) uses one vector.
//   - Row segments come in by masked loads: columns outside [0, width) read as zeros without a
//     copy, so the first and last blocks of a row take the same path as the others (on the
//     1/32-scale rows, 133 columns, every block is a first or a last one).
//   - Even and odd columns are split by two-source permutes; the shift by one tile is valignd.
// Scratch (V and M for one block) lives on the stack: 264 KB, no allocation.
//
// The blocks, products and stores are shared with the 5x5 kernel (nj-winograd-avx512.h).
//
// Template (internal header, no include guard): included by
// f32-conv2d-3x3-winograd2x2-avx512-12x2.c and f16-conv2d-3x3-winograd2x2-avx512-12x2.c, which
// define NJ_WG_FN, NJ_WG_KERNEL, NJ_WG_SUPPORTS (the AVX2 kernels' test: the same geometries)
// and NJ_WG_NAME after the vocabulary (nj-simd-avx512.h, and nj-simd-avx512-f16.h for binary16
// storage). Rows, pairs and lone rows are handled as in the AVX2 template (nj-winograd-run.h),
// and a result differs from the AVX2 kernel's only by the order of the products' sums.
#include <stddef.h>
#include <stdint.h>

#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

#include "nj-conv2d-storage.h"

#define WG_ICB 64   // input channels per transform chunk
#define WG_OCC 64   // output channels per accumulation chunk
#include "nj-winograd-avx512.h"

// Step 1 for input channels [ic0, ic0 + nic), the pair of output rows y0, y0 + 1 (`rows`: bit 0
// the first is wanted, bit 1 the second; only Bᵀ's rows [lo, hi) are formed), tiles
// [t0, t0 + nt): V[ξ·WG_V_XI + i·WG_TB + t].
static NJ_TARGET void wg_input_transform(const nj_args *a, int32_t ic0, int32_t nic, int32_t y0,
                                         int rows, int32_t t0, int32_t nt, float *V) {
    const int lo = rows & 1 ? 0 : 1, hi = rows & 2 ? 4 : 3;
    // Tiles t < 32 read columns c0 + 2t .. c0 + 2t + 3: the 16 tiles of vector h read two
    // vectors from column c0 + 32h and the first two columns of the next.
    const int32_t c0 = 2 * t0 - 1;
    const int nv = nt > 16 ? 2 : 1;
    nj_m mask[2][3];
    wg_row_masks(a, c0, nv, 0x3, mask);
    const size_t xi = WG_V_XI;  // between ξ
    for (int32_t i = 0; i < nic; i++) {
        const int32_t ic = ic0 + i;
        const nj_x *row[4];
        for (int k = 0; k < 4; k++) {
            // The first input row only feeds the first output row, the fourth only the second.
            row[k] = k >= lo && k < hi ? wg_input_row(a, ic, y0 - 1 + k) : NULL;
        }
        for (int h = 0; h < nv; h++) {
            __m512 d[4][3];
            for (int k = 0; k < 4; k++) {
                for (int v = 0; v < 3; v++) {
                    d[k][v] = row[k] ? V_LOADX_M(row[k] + c0 + 32 * h + 16 * v, mask[h][v]) : _mm512_setzero_ps();
                }
            }
            for (int ri = lo; ri < hi; ri++) {
                // Bᵀ down the columns: row ri of Bᵀ d.
                __m512 r[3];
                for (int v = 0; v < 3; v++) {
                    switch (ri) {
                    case 0: r[v] = _mm512_sub_ps(d[0][v], d[2][v]); break;  // first row wanted
                    case 1: r[v] = _mm512_add_ps(d[1][v], d[2][v]); break;
                    case 2: r[v] = _mm512_sub_ps(d[2][v], d[1][v]); break;
                    default: r[v] = _mm512_sub_ps(d[1][v], d[3][v]); break;  // second row wanted
                    }
                }
                // B across: tile t reads columns 2t .. 2t + 3 of r: even, odd, even + 1, odd + 1.
                __m512 ea, oa, en, on;  // en, on lane 0: columns 32, 33
                wg_split(r[0], r[1], &ea, &oa);
                wg_split(r[2], r[2], &en, &on);
                const __m512 eb = wg_shift(ea, en, 1), ob = wg_shift(oa, on, 1);
                float *out = V + ((size_t)(4 * ri) * xi + (size_t)i * WG_TB) + 16 * h;
                _mm512_store_ps(out, _mm512_sub_ps(ea, eb));
                _mm512_store_ps(out + xi, _mm512_add_ps(oa, eb));
                _mm512_store_ps(out + 2 * xi, _mm512_sub_ps(eb, oa));
                _mm512_store_ps(out + 3 * xi, _mm512_sub_ps(oa, ob));
            }
        }
    }
}

// Aᵀ for channel i of M and the 16 tiles from tile 16h: the wanted output rows rr of `rows`,
// their even (even[rr]) and odd (odd[rr]) columns before the bias.
static WG_ALWAYS_INLINE NJ_TARGET void wg_output_tiles(const float *M, int32_t i, int h, int rows, __m512 even[2],
                                                       __m512 odd[2]) {
    const size_t xi = WG_M_XI;
    const float *m = M + (size_t)i * WG_TB + 16 * h;
    // n[rr][j]: Aᵀ down column j of the 4x4 products, for output row rr.
    __m512 n[2][4];
    for (int j = 0; j < 4; j++) {
        const __m512 m1 = _mm512_load_ps(m + (size_t)(4 + j) * xi), m2 = _mm512_load_ps(m + (size_t)(8 + j) * xi);
        if (rows & 1) n[0][j] = _mm512_add_ps(_mm512_add_ps(_mm512_load_ps(m + (size_t)j * xi), m1), m2);
        if (rows & 2) n[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), _mm512_load_ps(m + (size_t)(12 + j) * xi));
    }
    for (int rr = 0; rr < 2; rr++) {
        if (!(rows >> rr & 1)) continue;
        even[rr] = _mm512_add_ps(_mm512_add_ps(n[rr][0], n[rr][1]), n[rr][2]);
        odd[rr] = _mm512_sub_ps(_mm512_sub_ps(n[rr][1], n[rr][2]), n[rr][3]);
    }
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt).
static NJ_TARGET void wg_output_transform(const nj_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                          int rows, int32_t t0, int32_t nt, const float *M) {
    const int lrelu = a->activation == NJ_ACTIVATION_LEAKY_RELU;
    const __m512 slope = _mm512_set1_ps(a->negative_slope);
    int32_t i = 0;
    // Depth-to-space by 4 (conv32_8_cat.1): four channels that share an output row at a time,
    // stored interleaved (wg_store_d2s4).
    if (a->output_depth_to_space == 4 && (a->output_channel_base + oc0) % 4 == 0) {
        for (; i + 4 <= noc; i += 4) {
            for (int h = 0; h < 2 && 16 * h < nt; h++) {
                __m512 even[2][4], odd[2][4];
                for (int c = 0; c < 4; c++) {
                    const __m512 b = a->bias ? _mm512_set1_ps(a->bias[oc0 + i + c]) : _mm512_setzero_ps();
                    __m512 e[2], o[2];
                    wg_output_tiles(M, i + c, h, rows, e, o);
                    for (int rr = 0; rr < 2; rr++) {
                        if (!(rows >> rr & 1)) continue;
                        even[rr][c] = _mm512_add_ps(e[rr], b);
                        odd[rr][c] = _mm512_add_ps(o[rr], b);
                        if (lrelu) {
                            even[rr][c] = V_LRELU(even[rr][c], slope);
                            odd[rr][c] = V_LRELU(odd[rr][c], slope);
                        }
                    }
                }
                for (int rr = 0; rr < 2; rr++) {
                    if (rows >> rr & 1) wg_store_d2s4(a, oc0 + i, y0 + rr, 2 * (t0 + 16 * h), even[rr], odd[rr]);
                }
            }
        }
    }
    for (; i < noc; i++) {
        const int32_t oc = oc0 + i;
        const __m512 b = a->bias ? _mm512_set1_ps(a->bias[oc]) : _mm512_setzero_ps();
        for (int h = 0; h < 2 && 16 * h < nt; h++) {
            __m512 e[2], o[2];
            wg_output_tiles(M, i, h, rows, e, o);
            for (int rr = 0; rr < 2; rr++) {
                if (rows >> rr & 1) wg_finish_row(a, oc, y0 + rr, 2 * (t0 + 16 * h), b, lrelu, slope, e[rr], o[rr]);
            }
        }
    }
}

#define WG_POINTS 4
#define WG_LAYOUT NJ_WEIGHTS_WINOGRAD_2X2
#include "nj-winograd-run.h"
