// 3x3 f16 convolution by Winograd's F(2x2, 3x3) in binary16 on AVX512-FP16, two ξ per 32-bit
// lane: every step (transforms, products, sums) on 32 halves, and no shuffle of 16-bit lanes.
//
// A 2x2 output tile t reads columns 2t - 1 .. 2t + 2 of four rows. Loaded as halves, one
// vector P holds columns (2t - 1, 2t) of 16 tiles in its 32-bit lanes and a second load two
// columns further on, Q, holds (2t + 1, 2t + 2): each lane is one tile's (d0, d1) or (d2, d3).
// After Bᵀ down the rows (element-wise), Bᵀ across needs d0 - d2, d1 + d2, d2 - d1, d1 - d3:
//   P - Q                         = (d0 - d2, d1 - d3)   ξ (4i, 4i + 3)
//   R = Q rotated by 16 bits       = (d3, d2)
//   P + R, R - P                  high halves d1 + d2 and d2 - d1; blended (the second moved
//                                  down by a 32-bit shift) into (d2 - d1, d1 + d2): ξ (4i + 2, 4i + 1)
// so V holds eight pairs of ξ (NJ_WEIGHTS_WINOGRAD_2X2_PAIRS), and the products broadcast a
// pair of transformed weights per 32-bit lane (vpbroadcastd, a load uop only). Aᵀ on M's pairs
// works the same way backwards, and its two results (even, odd column of each tile) are already
// the 32-bit lanes of the output row in pixel order: one blend, no interleave.
//
// Blocks of 64 tiles (4 vectors of 16 tiles), chunks of 64 input and 64 output channels, register
// blocks of 6 output channels x 4 vectors (24 accumulators, 4 loads and 6 broadcasts per 24
// FMAs). Scratch (V and M, binary16) 264 KB on the stack. Rows, pairs and lone rows as in the
// other Winograd kernels (nj-winograd-run.h).
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include <stddef.h>
#include <stdint.h>

#include "nj-simd-avx512.h"
#include "nj-simd-avx512-f16.h"
#undef NJ_TARGET
#define NJ_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512fp16")))
#undef NJ_REQUIRED_FEATURES
#define NJ_REQUIRED_FEATURES NJ_CPU_AVX512_FP16

#include "nj-kernels-internal.h"
#include "nj-conv2d-storage.h"
#include "nj-winograd-rows.h"

#define WG_TB 64    // tiles per block
#define WG_TQ 4     // vectors of 16 tiles per block
#define WG_ICB 64   // input channels per transform chunk (a binary16 sum's products)
#define WG_OCC 64   // output channels per accumulation chunk
#define WG_OCB 6    // output channels per register block of the products
#define WG_ALIGN 64
#define WG_LANE_HALVES 128  // halves per channel and pair of ξ in a block: 64 tiles x 2 ξ
// Halves between pairs of ξ in V and M: 64 bytes more than the plain products, so that the
// pairs of a transform fall in different L1 sets.
#define WG_VP (WG_ICB * WG_LANE_HALVES + 32)
#define WG_MP (WG_OCC * WG_LANE_HALVES + 32)
#define WG_V_XI (WG_VP / 2)  // nj-winograd-run.h sizes V and M by 16 "ξ": 8 pairs
#define WG_M_XI (WG_MP / 2)
#define WG_ALWAYS_INLINE inline __attribute__((always_inline))

#include "nj-winograd-half-avx512fp16.h"

static WG_ALWAYS_INLINE NJ_TARGET __m512h wg_load32(const uint16_t *row, int32_t c, __mmask32 m) {
    return row ? _mm512_castsi512_ph(_mm512_maskz_loadu_epi16(m, row + c)) : _mm512_setzero_ph();
}

// The two halves of every 32-bit lane swapped.
static WG_ALWAYS_INLINE NJ_TARGET __m512h wg_swap(__m512h v) {
    return _mm512_castsi512_ph(_mm512_rol_epi32(_mm512_castph_si512(v), 16));
}

// Step 1 for input channels [ic0, ic0 + nic), the pair of output rows y0, y0 + 1 (`rows`: bit 0
// the first is wanted, bit 1 the second; only Bᵀ's rows [lo, hi) are formed), tiles
// [t0, t0 + nt): V[pair·WG_VP + i·128 + 32q + lane].
static NJ_TARGET void wg_input_transform(const nj_args *a, int32_t ic0, int32_t nic, int32_t y0,
                                         int rows, int32_t t0, int32_t nt, uint16_t *V) {
    const int lo = rows & 1 ? 0 : 1, hi = rows & 2 ? 4 : 3;
    const int nq = (nt + 15) / 16;
    __mmask32 mp[WG_TQ], mq[WG_TQ];
    for (int q = 0; q < nq; q++) {
        const int32_t c = 2 * (t0 + 16 * q) - 1;
        mp[q] = wg_lanes32(-c, a->width - c);
        mq[q] = wg_lanes32(-c - 2, a->width - c - 2);
    }
    for (int32_t i = 0; i < nic; i++) {
        const int32_t ic = ic0 + i;
        const uint16_t *row[4];
        for (int k = 0; k < 4; k++) {
            // The first input row only feeds the first output row, the fourth only the second.
            row[k] = k >= lo && k < hi ? wg_input_row(a, ic, y0 - 1 + k) : NULL;
        }
        for (int q = 0; q < nq; q++) {
            const int32_t c = 2 * (t0 + 16 * q) - 1;
            __m512h p[4], s[4];
            for (int k = 0; k < 4; k++) {
                p[k] = wg_load32(row[k], c, mp[q]);
                s[k] = wg_load32(row[k], c + 2, mq[q]);
            }
            for (int ri = lo; ri < hi; ri++) {
                // Bᵀ down the columns: row ri of Bᵀ d, for both loads.
                __m512h P, Q;
                switch (ri) {
                case 0: P = _mm512_sub_ph(p[0], p[2]); Q = _mm512_sub_ph(s[0], s[2]); break;
                case 1: P = _mm512_add_ph(p[1], p[2]); Q = _mm512_add_ph(s[1], s[2]); break;
                case 2: P = _mm512_sub_ph(p[2], p[1]); Q = _mm512_sub_ph(s[2], s[1]); break;
                default: P = _mm512_sub_ph(p[1], p[3]); Q = _mm512_sub_ph(s[1], s[3]); break;
                }
                const __m512h R = wg_swap(Q);
                const __m512h outer = _mm512_sub_ph(P, Q);              // (ξ 4ri, ξ 4ri + 3)
                const __m512i plus = _mm512_castph_si512(_mm512_add_ph(P, R));
                const __m512i minus = _mm512_castph_si512(_mm512_sub_ph(R, P));
                const __m512i inner = _mm512_mask_blend_epi16(0x55555555u, plus, _mm512_srli_epi32(minus, 16));
                uint16_t *out = V + (size_t)(2 * ri) * WG_VP + (size_t)i * WG_LANE_HALVES + 32 * q;
                _mm512_store_si512(out, _mm512_castph_si512(outer));
                _mm512_store_si512(out + WG_VP, inner);                  // (ξ 4ri + 2, ξ 4ri + 1)
            }
        }
    }
}

// One pair of ξ and a block of OCB output channels x NV vectors of 16 tiles:
// M[pair][oc][·] (+)= Σ_i U[pair][ic0+i][oc] V[pair][i][·], in binary16.
static WG_ALWAYS_INLINE NJ_TARGET void wg_gemm_block(const uint32_t *U, size_t u_ic_stride, const uint16_t *V,
                                                     uint16_t *M, int32_t nic, int first, const int OCB,
                                                     const int NV) {
    __m512h acc[WG_OCB][WG_TQ];
    for (int o = 0; o < OCB; o++) {
        for (int h = 0; h < NV; h++) acc[o][h] = _mm512_setzero_ph();
    }
    for (int32_t i = 0; i < nic; i++) {
        __m512h v[WG_TQ];
        for (int h = 0; h < NV; h++) v[h] = _mm512_load_ph(V + (size_t)i * WG_LANE_HALVES + 32 * h);
        const uint32_t *u = U + (size_t)i * u_ic_stride;
        for (int o = 0; o < OCB; o++) {
            const __m512h w = _mm512_castsi512_ph(_mm512_set1_epi32((int)u[o]));
            for (int h = 0; h < NV; h++) acc[o][h] = _mm512_fmadd_ph(w, v[h], acc[o][h]);
        }
    }
    for (int o = 0; o < OCB; o++) {
        for (int h = 0; h < NV; h++) {
            uint16_t *m = M + (size_t)o * WG_LANE_HALVES + 32 * h;
            _mm512_store_ph(m, first ? acc[o][h] : _mm512_add_ph(_mm512_load_ph(m), acc[o][h]));
        }
    }
}

#define WG_GEMM_NV(n)                                                                                   \
    switch (nv) {                                                                                       \
    case 4: wg_gemm_block(U + o, ws, Vp, Mp + (size_t)o * WG_LANE_HALVES, nic, first, n, 4); break;     \
    case 3: wg_gemm_block(U + o, ws, Vp, Mp + (size_t)o * WG_LANE_HALVES, nic, first, n, 3); break;     \
    case 2: wg_gemm_block(U + o, ws, Vp, Mp + (size_t)o * WG_LANE_HALVES, nic, first, n, 2); break;     \
    default: wg_gemm_block(U + o, ws, Vp, Mp + (size_t)o * WG_LANE_HALVES, nic, first, n, 1); break;    \
    }
#define WG_GEMM_CASE(n) \
    case n: WG_GEMM_NV(n) break;

// The products for the pairs of ξ in [xi_begin, xi_end) / 2 (the run loop counts ξ), input
// channels [ic0, ic0 + nic), output channels [oc0, oc0 + noc), tiles [0, nt) of the block.
static NJ_TARGET void wg_gemm(const nj_args *a, int32_t ic0, int32_t nic, int32_t oc0, int32_t noc,
                              int32_t nt, const uint16_t *V, uint16_t *M, int first, int xi_begin, int xi_end) {
    const size_t ws = (size_t)a->weight_stride;
    const int nv = (nt + 15) / 16;
    for (int pair = xi_begin / 2; pair < xi_end / 2; pair++) {
        const uint32_t *U = (const uint32_t *)a->weights + ((size_t)pair * a->in_channels + ic0) * ws + oc0;
        const uint16_t *Vp = V + (size_t)pair * WG_VP;
        uint16_t *Mp = M + (size_t)pair * WG_MP;
        int32_t o = 0;
        for (; o + WG_OCB <= noc; o += WG_OCB) {
            WG_GEMM_NV(WG_OCB)
        }
        switch (noc - o) {
            WG_GEMM_CASE(5) WG_GEMM_CASE(4) WG_GEMM_CASE(3) WG_GEMM_CASE(2) WG_GEMM_CASE(1)
        default: break;
        }
    }
}
#undef WG_GEMM_CASE
#undef WG_GEMM_NV

// Step 3's transform for channel i of M and tiles [16q, 16q + 16), the wanted output rows
// y0 + rr of `rows` before the bias (out[rr], 32 columns): Aᵀ down M's rows of pairs, then
// across: with N03 = (n0, n3) and N21 = (n2, n1) per lane, the even column n0 + n1 + n2 is the
// low half of N03 + (N21 + swap N21) and the odd n1 - n2 - n3 the high half of
// (N21 - swap N21) - N03.
static WG_ALWAYS_INLINE NJ_TARGET void wg_output_tiles(const uint16_t *M, int32_t i, int q, int rows, __m512h out[2]) {
    const int lo = rows & 1 ? 0 : 1, hi = rows & 2 ? 4 : 3;
    const uint16_t *m = M + (size_t)i * WG_LANE_HALVES + 32 * q;
    __m512h m03[4], m21[4];
    for (int ri = lo; ri < hi; ri++) {
        m03[ri] = _mm512_load_ph(m + (size_t)(2 * ri) * WG_MP);
        m21[ri] = _mm512_load_ph(m + (size_t)(2 * ri + 1) * WG_MP);
    }
    for (int rr = 0; rr < 2; rr++) {
        if (!(rows >> rr & 1)) continue;
        const __m512h n03 = rr == 0 ? _mm512_add_ph(_mm512_add_ph(m03[0], m03[1]), m03[2])
                                    : _mm512_sub_ph(_mm512_sub_ph(m03[1], m03[2]), m03[3]);
        const __m512h n21 = rr == 0 ? _mm512_add_ph(_mm512_add_ph(m21[0], m21[1]), m21[2])
                                    : _mm512_sub_ph(_mm512_sub_ph(m21[1], m21[2]), m21[3]);
        const __m512h r21 = wg_swap(n21);
        const __m512i even = _mm512_castph_si512(_mm512_add_ph(n03, _mm512_add_ph(n21, r21)));
        const __m512i odd = _mm512_castph_si512(_mm512_sub_ph(_mm512_sub_ph(n21, r21), n03));
        out[rr] = _mm512_castsi512_ph(_mm512_mask_blend_epi16(0xAAAAAAAAu, even, odd));
    }
}

// Step 3 for output channels [oc0, oc0 + noc), tiles [t0, t0 + nt).
static NJ_TARGET void wg_output_transform(const nj_args *a, int32_t oc0, int32_t noc, int32_t y0,
                                          int rows, int32_t t0, int32_t nt, const uint16_t *M) {
    const int lrelu = a->activation == NJ_ACTIVATION_LEAKY_RELU;
    const __m512h slope = _mm512_set1_ph((_Float16)a->negative_slope);
    const int nq = (nt + 15) / 16;
    int32_t i = 0;
    // Depth-to-space by 4 (conv32_8_cat.1): four channels that share an output row at a time,
    // stored interleaved (wg_store_d2s4_half).
    if (a->output_depth_to_space == 4 && (a->output_channel_base + oc0) % 4 == 0) {
        for (; i + 4 <= noc; i += 4) {
            __m512h b[4];
            for (int j = 0; j < 4; j++) b[j] = _mm512_set1_ph((_Float16)(a->bias ? a->bias[oc0 + i + j] : 0.0f));
            for (int q = 0; q < nq; q++) {
                const int32_t x0 = 2 * (t0 + 16 * q);
                __m512h out[4][2];
                for (int j = 0; j < 4; j++) wg_output_tiles(M, i + j, q, rows, out[j]);
                for (int rr = 0; rr < 2; rr++) {
                    if (!(rows >> rr & 1)) continue;
                    __m512h v[4];
                    for (int j = 0; j < 4; j++) v[j] = wg_finished32(a, oc0 + i + j, y0 + rr, x0, b[j], lrelu, slope, out[j][rr]);
                    wg_store_d2s4_half(a, oc0 + i, y0 + rr, x0, v);
                }
            }
        }
    }
    for (; i < noc; i++) {
        const int32_t oc = oc0 + i;
        const __m512h b = _mm512_set1_ph((_Float16)(a->bias ? a->bias[oc] : 0.0f));
        for (int q = 0; q < nq; q++) {
            __m512h out[2];
            wg_output_tiles(M, i, q, rows, out);
            for (int rr = 0; rr < 2; rr++) {
                if (rows >> rr & 1) wg_finish32(a, oc, y0 + rr, 2 * (t0 + 16 * q), b, lrelu, slope, out[rr]);
            }
        }
    }
}

#define WG_POINTS 4
#define WG_LAYOUT NJ_WEIGHTS_WINOGRAD_2X2_PAIRS
#define WG_V_TYPE uint16_t
#define WG_M_TYPE uint16_t
#define WG_WEIGHT_DTYPE NJ_DTYPE_F16X2
// Each ξ's binary16 sum has at most WG_ICB (64) products, and the transforms round in binary16
// too. 96 is the declared bound (test_conv_f16 checks it against the direct sum's |terms|).
#define WG_HALF_SUM_TERMS 96
#define NJ_WG_FN nj_f16_conv2d_3x3_winograd2x2_avx512fp16_6x4
#define NJ_WG_KERNEL nj_f16_conv2d_3x3_winograd2x2_avx512fp16_6x4_kernel
#define NJ_WG_SUPPORTS nj_f16_conv2d_winograd2x2_supports
#define NJ_WG_NAME "f16-conv2d-3x3-winograd2x2-avx512fp16-6x4"
#include "nj-winograd-run.h"
#else
typedef int nj_f16_conv2d_3x3_winograd2x2_avx512fp16_6x4_unused;
#endif
