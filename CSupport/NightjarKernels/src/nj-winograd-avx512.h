// The parts the AVX-512 Winograd templates share (f32-conv2d-3x3-winograd2x2-avx512.h,
// f32-conv2d-5x5-winograd2x2-avx512.h): blocks of tiles, the even/odd column split, the
// shift by whole tiles, the products' 12x2 register blocks and the interleaving row store.
// Internal, no include guard: included once by each template, after nj-conv2d-storage.h and
// after the template defines WG_ICB (input channels per transform chunk) and WG_OCC (output
// channels per accumulation chunk). V holds [ξ][WG_ICB][WG_TB] elements, M [ξ][WG_OCC][WG_TB]
// floats, each ξ WG_V_XI and WG_M_XI elements apart.
//
// The products are f32 (nj-winograd-gemm-avx512.h: blocks of 32 tiles, V and M in f32) unless
// the template defines WG_HALF_PRODUCTS 1 (nj-winograd-gemm-avx512fp16.h: blocks of 64 tiles,
// V, the products, their sums and M in binary16).
#ifndef WG_HALF_PRODUCTS
#define WG_HALF_PRODUCTS 0
#endif
#if WG_HALF_PRODUCTS
#define WG_TB 64    // tiles per block: two vectors of 32 halves
#define WG_V_TYPE uint16_t
#define WG_M_TYPE uint16_t
// A transform's 16 f32 results, rounded to binary16 once.
#define WG_STORE_V(p, v) _mm256_store_si256((__m256i *)(void *)(p), _mm512_cvtps_ph((v), NJ_RNE))
#else
#define WG_TB 32    // tiles per block: two vectors of 16 floats
#define WG_V_TYPE float
#define WG_M_TYPE float
#define WG_STORE_V(p, v) _mm512_store_ps((p), (v))
#endif
#define WG_TV (WG_TB / 16)  // vectors of 16 tiles per block (f32 transforms and outputs)
#define WG_OCB 12   // output channels per register block of the products
#define WG_ALIGN 64
// Elements between ξ in V and M: 64 bytes more than the plain products, so that the ξ of a
// transform fall in different L1 sets (at 4 KB and 8 KB apart they would all share one set,
// more than its ways, and each store or load would evict the previous ξ's line).
#define WG_V_XI (WG_ICB * WG_TB + 64 / (int)sizeof(WG_V_TYPE))
#define WG_M_XI (WG_OCC * WG_TB + 64 / (int)sizeof(WG_M_TYPE))
#define WG_ALWAYS_INLINE inline __attribute__((always_inline))

#include "nj-winograd-rows.h"

// Lane masks of the row segments a block's vectors of tiles read (nv of them): for vector h,
// two whole vectors from column c0 + 32h and the `tail` lanes of the next, each limited to the
// columns inside [0, width) (masked loads read the others as zeros).
static inline void wg_row_masks(const nj_args *a, int32_t c0, int nv, nj_m tail, nj_m mask[WG_TV][3]) {
    for (int h = 0; h < nv; h++) {
        for (int v = 0; v < 3; v++) {
            const int32_t c = c0 + 32 * h + 16 * v;
            mask[h][v] = V_MASK(-c, a->width - c) & (v == 2 ? tail : 0xFFFF);
        }
    }
}

// The even (e) and odd (o) columns of 32 floats (lo, hi).
static WG_ALWAYS_INLINE NJ_TARGET void wg_split(__m512 lo, __m512 hi, __m512 *e, __m512 *o) {
    const __m512i even_idx = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd_idx = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    *e = _mm512_permutex2var_ps(lo, even_idx, hi);
    *o = _mm512_permutex2var_ps(lo, odd_idx, hi);
}

// Lanes n .. n + 15 of the 32 lanes (lo, hi): the columns of the tiles n further on (valignd).
static WG_ALWAYS_INLINE NJ_TARGET __m512 wg_shift(__m512 lo, __m512 hi, const int n) {
    switch (n) {
    case 1: return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(hi), _mm512_castps_si512(lo), 1));
    default: return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(hi), _mm512_castps_si512(lo), 2));
    }
}

#if WG_HALF_PRODUCTS
#include "nj-winograd-gemm-avx512fp16.h"
#else
#include "nj-winograd-gemm-avx512.h"
#endif

#define WG_GEMM_CASE(n)                                                                         \
    case n:                                                                                     \
        if (nv == 2) wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, n, 2);    \
        else wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, n, 1);            \
        break;

// The products for ξ in [xi_begin, xi_end), input channels [ic0, ic0 + nic), output channels
// [oc0, oc0 + noc), tiles [0, nt) of the block; `first`: the first input chunk (M starts from
// zero). wg_gemm_block comes from the products' header (f32 or binary16).
static NJ_TARGET void wg_gemm(const nj_args *a, int32_t ic0, int32_t nic, int32_t oc0, int32_t noc,
                              int32_t nt, const WG_V_TYPE *V, WG_M_TYPE *M, int first, int xi_begin,
                              int xi_end) {
    const size_t ws = (size_t)a->weight_stride;
    const int nv = nt > WG_TILES_PER_VECTOR ? 2 : 1;
    for (int xi = xi_begin; xi < xi_end; xi++) {
        const WG_U_TYPE *U = (const WG_U_TYPE *)a->weights + ((size_t)xi * a->in_channels + ic0) * ws + oc0;
        const WG_V_TYPE *Vx = V + (size_t)xi * WG_V_XI;
        WG_M_TYPE *Mx = M + (size_t)xi * WG_M_XI;
        int32_t o = 0;
        for (; o + WG_OCB <= noc; o += WG_OCB) {
            if (nv == 2) wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, WG_OCB, 2);
            else wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, WG_OCB, 1);
        }
        switch (noc - o) {
            WG_GEMM_CASE(11) WG_GEMM_CASE(10) WG_GEMM_CASE(9) WG_GEMM_CASE(8) WG_GEMM_CASE(7)
            WG_GEMM_CASE(6) WG_GEMM_CASE(5) WG_GEMM_CASE(4) WG_GEMM_CASE(3) WG_GEMM_CASE(2)
            WG_GEMM_CASE(1)
        default: break;
        }
    }
}
#undef WG_GEMM_CASE

// Stores output row y of channel oc at columns [x0, x0 + valid) (valid <= 32) from the
// finished even and odd columns of 16 tiles: interleaved, plus the residual, converted to the
// storage type.
static WG_ALWAYS_INLINE NJ_TARGET void wg_store_row(const nj_args *a, int32_t oc, int32_t y, int32_t x0,
                                                    int32_t valid, __m512 even, __m512 odd) {
    const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi_idx = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    __m512 out[2] = {_mm512_permutex2var_ps(even, lo_idx, odd), _mm512_permutex2var_ps(even, hi_idx, odd)};
    size_t step;
    const nj_x *res;
    nj_x *dst = wg_output_row(a, oc, y, x0, &step, &res);
    if (step == 1) {
        for (int h = 0; h < 2; h++) {
            const nj_m m = V_MASK(0, valid - 16 * h);
            if (!m) break;
            if (res) out[h] = _mm512_add_ps(out[h], V_LOADX_M(res + 16 * h, m));
            V_STOREX_M(dst + 16 * h, m, out[h]);
        }
    } else {
        // Depth-to-space: this channel's pixels are `step` apart. Converted to the storage
        // type a vector at a time (binary16 by vcvtps2ph, as the other stores round).
        for (int h = 0; h < 2; h++) {
            const nj_m m = V_MASK(0, valid - 16 * h);
            if (!m) break;
            if (res) out[h] = _mm512_add_ps(out[h], V_LOADX_M(res + 16 * h, m));
        }
        nj_x tmp[32];
        V_STOREX(tmp, out[0]);
        V_STOREX(tmp + 16, out[1]);
        for (int32_t x = 0; x < valid; x++) dst[(size_t)x * step] = tmp[x];
    }
}

// The end of step 3 for output row y of channel oc, 16 tiles from column x0: the bias, then
// LeakyReLU where the layer has it, added to the row's even and odd columns, and the store.
static WG_ALWAYS_INLINE NJ_TARGET void wg_finish_row(const nj_args *a, int32_t oc, int32_t y, int32_t x0, __m512 bias,
                                                     int lrelu, __m512 slope, __m512 even, __m512 odd) {
    const int32_t valid = a->width - x0 < 32 ? a->width - x0 : 32;
    even = _mm512_add_ps(even, bias);
    odd = _mm512_add_ps(odd, bias);
    if (lrelu) {
        even = V_LRELU(even, slope);
        odd = V_LRELU(odd, slope);
    }
    wg_store_row(a, oc, y, x0, valid, even, odd);
}

// Depth-to-space by 4 for channels oc .. oc + 3 that share an output row (the first a multiple
// of 4 counting output_channel_base), 16 tiles from column x0: each channel's finished even and
// odd columns (bias and LeakyReLU applied) put in pixel order with its residual, then the four
// channels interleaved (nj_interleave4) and stored as whole vectors of the storage type, where
// wg_store_row stores each value alone.
static WG_ALWAYS_INLINE NJ_TARGET void wg_store_d2s4(const nj_args *a, int32_t oc, int32_t y, int32_t x0,
                                                     const __m512 even[4], const __m512 odd[4]) {
    const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi_idx = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const int32_t valid = a->width - x0 < 32 ? a->width - x0 : 32;
    __m512 v[2][4];
    for (int j = 0; j < 4; j++) {
        v[0][j] = _mm512_permutex2var_ps(even[j], lo_idx, odd[j]);
        v[1][j] = _mm512_permutex2var_ps(even[j], hi_idx, odd[j]);
        const nj_x *res = wg_residual_row(a, oc + j, y, x0);
        if (res) {
            for (int h = 0; h < 2; h++) {
                const nj_m m = V_MASK(0, valid - 16 * h);
                if (m) v[h][j] = _mm512_add_ps(v[h][j], V_LOADX_M(res + 16 * h, m));
            }
        }
    }
    size_t step;
    nj_x *dst = NJ_OUTPUT_ROW(a, oc, y, &step) + (size_t)x0 * step;
    // Values (4 per pixel) of the row segment: 64 for each 16 pixels.
    for (int h = 0; h < 2 && 16 * h < valid; h++) {
        nj_interleave4(v[h]);
        for (int k = 0; k < 4; k++) {
            const nj_m m = V_MASK(0, 4 * (valid - 16 * h) - 16 * k);
            if (!m) break;
            V_STOREX_M(dst + 64 * h + 16 * k, m, v[h][k]);
        }
    }
}

#if WG_HALF_PRODUCTS
#include "nj-winograd-half-avx512fp16.h"

// The end of step 3 in binary16 for output row y of channel oc, 32 tiles from column x0: the
// even and odd columns interleaved into pixel order, then each 32 columns ended by wg_finish32.
static WG_ALWAYS_INLINE NJ_TARGET void wg_finish_row_half(const nj_args *a, int32_t oc, int32_t y, int32_t x0,
                                                          __m512h bias, int lrelu, __m512h slope,
                                                          __m512h even, __m512h odd) {
    const __m512i lo_idx = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                            39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i hi_idx = _mm512_set_epi16(63, 31, 62, 30, 61, 29, 60, 28, 59, 27, 58, 26, 57, 25, 56, 24,
                                            55, 23, 54, 22, 53, 21, 52, 20, 51, 19, 50, 18, 49, 17, 48, 16);
    const __m512i e = _mm512_castph_si512(even), o = _mm512_castph_si512(odd);
    wg_finish32(a, oc, y, x0, bias, lrelu, slope, _mm512_castsi512_ph(_mm512_permutex2var_epi16(e, lo_idx, o)));
    if (a->width - x0 > 32) {
        wg_finish32(a, oc, y, x0 + 32, bias, lrelu, slope, _mm512_castsi512_ph(_mm512_permutex2var_epi16(e, hi_idx, o)));
    }
}
#endif
