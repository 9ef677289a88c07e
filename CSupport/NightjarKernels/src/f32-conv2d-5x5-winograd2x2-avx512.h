// 5x5 convolution by Winograd's F(2x2, 5x5) for AVX-512F: the AVX2 template's algorithm
// (f32-conv2d-5x5-winograd2x2-avx2.h, where Bᵀ, Aᵀ and G are written out) on 16-float vectors,
// with the AVX-512 3x3 kernel's blocks of 32 tiles, 12x2 register blocks in the 36 small
// matrix products, masked row loads and padded ξ strides (nj-winograd-avx512.h).
//
// Per input channel and vector of 16 tiles: six input rows of 38 columns (two vectors and six
// columns, masked loads), Bᵀ down each column position into a small stack row (6 x 48 floats),
// then per row of Bᵀ d the even/odd split, shifts by one and two tiles and Bᵀ across. With
// WG_HALF_PRODUCTS (f16-conv2d-5x5-winograd2x2-avx512fp16-12x2.c) every step is binary16 on
// 32 tiles a vector instead, the transform's included.
// Scratch: V 146 KB, M 110 KB, on the stack, no allocation.
//
// Template (internal header, no include guard): included by
// f32-conv2d-5x5-winograd2x2-avx512-12x2.c and f16-conv2d-5x5-winograd2x2-avx512-12x2.c, which
// define NJ_WG_FN, NJ_WG_KERNEL, NJ_WG_SUPPORTS (the AVX2 kernels' test: the same geometries)
// and NJ_WG_NAME after the vocabulary. Rows, pairs and lone rows as in the AVX2 template; a
// result differs from the AVX2 kernel's only by the order of the products' sums.
#include <stddef.h>
#include <stdint.h>

#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

#include "nj-conv2d-storage.h"

#ifndef WG_ICB
#define WG_ICB 32   // input channels per transform chunk
#endif
#define WG_OCC 24   // output channels per accumulation chunk
#include "nj-winograd-avx512.h"

// Bᵀ applied to six vectors: t[k] = Σ_j Bᵀ[k][j] d[j] (coefficients exact in float).
static WG_ALWAYS_INLINE NJ_TARGET void wg5_transform(const __m512 d[6], __m512 t[6]) {
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f);
    const __m512 s1 = _mm512_fmsub_ps(four, d[1], d[3]);  // 4 d1 - d3
    const __m512 s2 = _mm512_fmsub_ps(four, d[2], d[4]);  // 4 d2 - d4
    const __m512 u1 = _mm512_sub_ps(d[1], d[3]);
    const __m512 u2 = _mm512_sub_ps(d[4], d[2]);
    const __m512 u1x2 = _mm512_add_ps(u1, u1);
    t[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
    t[1] = _mm512_add_ps(s1, s2);
    t[2] = _mm512_sub_ps(s2, s1);
    t[3] = _mm512_sub_ps(u2, u1x2);
    t[4] = _mm512_add_ps(u2, u1x2);
    t[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

#if WG_HALF_PRODUCTS
// Bᵀ applied to six vectors of 32 halves, as wg5_transform (each step one binary16 rounding).
static WG_ALWAYS_INLINE NJ_TARGET void wg5h_transform(const __m512h d[6], __m512h t[6]) {
    const __m512h four = _mm512_set1_ph((_Float16)4.0f), five = _mm512_set1_ph((_Float16)5.0f);
    const __m512h s1 = _mm512_fmsub_ph(four, d[1], d[3]);  // 4 d1 - d3
    const __m512h s2 = _mm512_fmsub_ph(four, d[2], d[4]);  // 4 d2 - d4
    const __m512h u1 = _mm512_sub_ph(d[1], d[3]);
    const __m512h u2 = _mm512_sub_ph(d[4], d[2]);
    const __m512h u1x2 = _mm512_add_ph(u1, u1);
    t[0] = _mm512_fmadd_ph(four, d[0], _mm512_fnmadd_ph(five, d[2], d[4]));
    t[1] = _mm512_add_ph(s1, s2);
    t[2] = _mm512_sub_ph(s2, s1);
    t[3] = _mm512_sub_ph(u2, u1x2);
    t[4] = _mm512_add_ph(u2, u1x2);
    t[5] = _mm512_fmadd_ph(four, d[1], _mm512_fnmadd_ph(five, d[3], d[5]));
}

// Step 1 in binary16, 32 tiles a vector: the binary16 rows are read as they are (no widening)
// and Bᵀ runs on 32 halves, where the f32 form below converted every input and every V and
// did the arithmetic on 16 lanes (more than half the kernel's time on conv_2_8_32's 24 input
// and 12 output channels). The 32 tiles of vector g read columns c0 + 64g .. c0 + 64g + 67:
// three vectors A, B, C (of C only the first four lanes). After Bᵀ down, tile t's six columns
// 2t .. 2t + 5 come from 16-bit permutes: x0, x1 the even and odd of (A, B), and x2 .. x5 those
// moved on by one and two tiles, their last lanes from C. V as the f32 form writes it.
static NJ_TARGET void wg_input_transform(const nj_args *a, int32_t ic0, int32_t nic, int32_t y0,
                                         int rows, int32_t t0, int32_t nt, WG_V_TYPE *V) {
    const int lo = rows & 1 ? 0 : 1, hi = rows & 2 ? 6 : 5;
    const int32_t c0 = 2 * t0 - 2;
    const int ng = (nt + 31) / 32;
    __mmask32 mask[2][3];
    for (int g = 0; g < ng; g++) {
        for (int v = 0; v < 3; v++) {
            const int32_t c = c0 + 64 * g + 32 * v;
            mask[g][v] = wg_lanes32(-c, a->width - c) & (v == 2 ? 0x0Fu : 0xFFFFFFFFu);
        }
    }
    const __m512i even = _mm512_set_epi16(62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32,
                                          30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi16(even, _mm512_set1_epi16(1));
    // Lanes 1 .. 31 of the first source, then lane 0 (+ 1 for odd) of C: one tile on.
    const __m512i on1 = _mm512_set_epi16(32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
                                         16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    // Lanes 2 .. 31, then lanes 0 and 2 (+ 1 for odd) of C: two tiles on.
    const __m512i on2 = _mm512_set_epi16(34, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,
                                         17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2);
    // The odd forms: C's lanes one further on (the last lane of on1, the last two of on2).
    const __m512i odd1 = _mm512_mask_add_epi16(on1, 0x80000000u, on1, _mm512_set1_epi16(1));
    const __m512i odd2 = _mm512_mask_add_epi16(on2, 0xC0000000u, on2, _mm512_set1_epi16(1));
    const size_t xi = WG_V_XI;
    for (int32_t i = 0; i < nic; i++) {
        const int32_t ic = ic0 + i;
        const nj_x *row[6];
        for (int k = 0; k < 6; k++) {
            row[k] = (k > 0 || rows & 1) && (k < 5 || rows & 2) ? wg_input_row(a, ic, y0 - 2 + k) : NULL;
        }
        for (int g = 0; g < ng; g++) {
            __m512h t[3][6];
            for (int v = 0; v < 3; v++) {
                __m512h d[6];
                for (int k = 0; k < 6; k++) {
                    d[k] = row[k] ? _mm512_castsi512_ph(_mm512_maskz_loadu_epi16(mask[g][v], row[k] + c0 + 64 * g + 32 * v))
                                  : _mm512_setzero_ph();
                }
                wg5h_transform(d, t[v]);
            }
            for (int ri = lo; ri < hi; ri++) {
                const __m512i A = _mm512_castph_si512(t[0][ri]), B = _mm512_castph_si512(t[1][ri]);
                const __m512i C = _mm512_castph_si512(t[2][ri]);
                const __m512i x0 = _mm512_permutex2var_epi16(A, even, B), x1 = _mm512_permutex2var_epi16(A, odd, B);
                const __m512h x[6] = {
                    _mm512_castsi512_ph(x0), _mm512_castsi512_ph(x1),
                    _mm512_castsi512_ph(_mm512_permutex2var_epi16(x0, on1, C)),
                    _mm512_castsi512_ph(_mm512_permutex2var_epi16(x1, odd1, C)),
                    _mm512_castsi512_ph(_mm512_permutex2var_epi16(x0, on2, C)),
                    _mm512_castsi512_ph(_mm512_permutex2var_epi16(x1, odd2, C))};
                __m512h u[6];
                wg5h_transform(x, u);
                WG_V_TYPE *out = V + (size_t)(6 * ri) * xi + (size_t)i * WG_TB + 32 * g;
                for (int k = 0; k < 6; k++) _mm512_store_ph(out + k * xi, u[k]);
            }
        }
    }
}
#else
// Step 1 for input channels [ic0, ic0 + nic), the pair of output rows y0, y0 + 1 (`rows`: bit 0
// the first is wanted, bit 1 the second), tiles [t0, t0 + nt): V[ξ·WG_V_XI + i·WG_TB + t],
// ξ = 6·(row of Bᵀ down) + (row of Bᵀ across). Only Bᵀ's rows [lo, hi) down are formed; the
// input row a lone output row does not need is not read and touches none of them.
static NJ_TARGET void wg_input_transform(const nj_args *a, int32_t ic0, int32_t nic, int32_t y0,
                                         int rows, int32_t t0, int32_t nt, WG_V_TYPE *V) {
    const int lo = rows & 1 ? 0 : 1, hi = rows & 2 ? 6 : 5;
    // Tiles t < WG_TB read columns c0 + 2t .. c0 + 2t + 5: the 16 tiles of vector h read two
    // vectors from column c0 + 32h and the first six columns of the next.
    const int32_t c0 = 2 * t0 - 2;
    const int nv = (nt + 15) / 16;
    nj_m mask[WG_TV][3];
    wg_row_masks(a, c0, nv, 0x3F, mask);
    const size_t xi = WG_V_XI;  // between ξ
    float r[6][48] __attribute__((aligned(64)));
    for (int32_t i = 0; i < nic; i++) {
        const int32_t ic = ic0 + i;
        const nj_x *row[6];
        for (int k = 0; k < 6; k++) {
            // The first input row only feeds the first output row, the sixth only the second.
            row[k] = (k > 0 || rows & 1) && (k < 5 || rows & 2) ? wg_input_row(a, ic, y0 - 2 + k) : NULL;
        }
        for (int h = 0; h < nv; h++) {
            // Bᵀ down the columns: the rows [lo, hi) of Bᵀ d, 48 columns.
            for (int v = 0; v < 3; v++) {
                __m512 d[6], t[6];
                for (int k = 0; k < 6; k++) {
                    d[k] = row[k] ? V_LOADX_M(row[k] + c0 + 32 * h + 16 * v, mask[h][v]) : _mm512_setzero_ps();
                }
                wg5_transform(d, t);
                for (int k = lo; k < hi; k++) _mm512_store_ps(r[k] + 16 * v, t[k]);
            }
            // B across: tile t reads columns 2t .. 2t + 5 of a row: even, odd, even + 1, odd + 1, ...
            for (int ri = lo; ri < hi; ri++) {
                __m512 e, o, en, on;  // en, on lanes 0-2: columns 32-37
                wg_split(_mm512_load_ps(r[ri]), _mm512_load_ps(r[ri] + 16), &e, &o);
                const __m512 tail = _mm512_load_ps(r[ri] + 32);
                wg_split(tail, tail, &en, &on);
                const __m512 x[6] = {e, o, wg_shift(e, en, 1), wg_shift(o, on, 1), wg_shift(e, en, 2), wg_shift(o, on, 2)};
                __m512 t[6];
                wg5_transform(x, t);
                WG_V_TYPE *out = V + (size_t)(6 * ri) * xi + (size_t)i * WG_TB + 16 * h;
                for (int k = 0; k < 6; k++) WG_STORE_V(out + k * xi, t[k]);
            }
        }
    }
}

#endif

#if WG_HALF_PRODUCTS
// Aᵀ applied to six vectors of 32 binary16 tiles: the first output and the second.
static WG_ALWAYS_INLINE NJ_TARGET __m512h wg5h_first(const __m512h m[6]) {
    return _mm512_add_ph(_mm512_add_ph(_mm512_add_ph(m[0], m[1]), _mm512_add_ph(m[2], m[3])), m[4]);
}
static WG_ALWAYS_INLINE NJ_TARGET __m512h wg5h_second(const __m512h m[6]) {
    const __m512h d34 = _mm512_sub_ph(m[3], m[4]);
    return _mm512_add_ph(_mm512_add_ph(_mm512_sub_ph(m[1], m[2]), m[5]), _mm512_add_ph(d34, d34));
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt), M in binary16: Aᵀ and the
// row's end on 32 tiles a vector in binary16 (each step rounds as the products' sums do).
static NJ_TARGET void wg_output_transform(const nj_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                          int rows, int32_t t0, int32_t nt, const uint16_t *M) {
    const int lrelu = a->activation == NJ_ACTIVATION_LEAKY_RELU;
    const __m512h slope = _mm512_set1_ph((_Float16)a->negative_slope);
    const size_t xi = WG_M_XI;
    for (int32_t i = 0; i < noc; i++) {
        const int32_t oc = oc0 + i;
        const __m512h b = _mm512_set1_ph((_Float16)(a->bias ? a->bias[oc] : 0.0f));
        for (int g = 0; g < 2 && 32 * g < nt; g++) {
            const uint16_t *m = M + (size_t)i * WG_TB + 32 * g;
            __m512h n[2][6];
            for (int j = 0; j < 6; j++) {
                __m512h col[6];
                for (int k = 0; k < 6; k++) {
                    const int wanted = (rows & 1 && k < 5) || (rows & 2 && k > 0);
                    col[k] = wanted ? _mm512_load_ph(m + (size_t)(6 * k + j) * xi) : _mm512_setzero_ph();
                }
                if (rows & 1) n[0][j] = wg5h_first(col);
                if (rows & 2) n[1][j] = wg5h_second(col);
            }
            for (int rr = 0; rr < 2; rr++) {
                if (!(rows >> rr & 1)) continue;
                wg_finish_row_half(a, oc, y0 + rr, 2 * (t0 + 32 * g), b, lrelu, slope, wg5h_first(n[rr]),
                                   wg5h_second(n[rr]));
            }
        }
    }
}
#else
// Aᵀ applied to six vectors: the first output (rows 0-4) and the second (rows 1-5).
static WG_ALWAYS_INLINE NJ_TARGET __m512 wg5_first(const __m512 m[6]) {
    return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(m[0], m[1]), _mm512_add_ps(m[2], m[3])), m[4]);
}
static WG_ALWAYS_INLINE NJ_TARGET __m512 wg5_second(const __m512 m[6]) {
    const __m512 d34 = _mm512_sub_ps(m[3], m[4]);
    return _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(m[1], m[2]), m[5]), _mm512_add_ps(d34, d34));
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt).
static NJ_TARGET void wg_output_transform(const nj_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                          int rows, int32_t t0, int32_t nt, const float *M) {
    const int lrelu = a->activation == NJ_ACTIVATION_LEAKY_RELU;
    const __m512 slope = _mm512_set1_ps(a->negative_slope);
    const size_t xi = WG_M_XI;
    for (int32_t i = 0; i < noc; i++) {
        const int32_t oc = oc0 + i;
        const __m512 b = a->bias ? _mm512_set1_ps(a->bias[oc]) : _mm512_setzero_ps();
        for (int h = 0; h < 2 && 16 * h < nt; h++) {
            const float *m = M + (size_t)i * WG_TB + 16 * h;
            // n[rr][j]: Aᵀ down column j of the 6x6 products, for output row rr.
            __m512 n[2][6];
            for (int j = 0; j < 6; j++) {
                __m512 col[6];
                for (int k = 0; k < 6; k++) {
                    const int wanted = (rows & 1 && k < 5) || (rows & 2 && k > 0);
                    col[k] = wanted ? _mm512_load_ps(m + (size_t)(6 * k + j) * xi) : _mm512_setzero_ps();
                }
                if (rows & 1) n[0][j] = wg5_first(col);
                if (rows & 2) n[1][j] = wg5_second(col);
            }
            for (int rr = 0; rr < 2; rr++) {
                if (!(rows >> rr & 1)) continue;
                wg_finish_row(a, oc, y0 + rr, 2 * (t0 + 16 * h), b, lrelu, slope, wg5_first(n[rr]), wg5_second(n[rr]));
            }
        }
    }
}

#endif

#define WG_POINTS 6
#define WG_LAYOUT NJ_WEIGHTS_WINOGRAD_2X2_5X5
#include "nj-winograd-run.h"
