// The parts the AVX2 Winograd templates share (f32-conv2d-3x3-winograd2x2-avx2.h,
// f32-conv2d-5x5-winograd2x2-avx2.h): the input rows as float segments, even/odd column
// splitting, the products' register blocks, and the interleaving store of a row's outputs.
// Internal, no include guard: included once by each template, after nj-conv2d-storage.h and
// after the template defines WG_ICB (input channels per transform chunk) and WG_OCC (output
// channels per accumulation chunk). V holds [ξ][WG_ICB][WG_TB] floats, M [ξ][WG_OCC][WG_TB].
#define WG_TB 16                     // tiles per block: two vectors
#define WG_OCB 6                     // output channels per register block of the products
#define WG_ALIGN 32
#define WG_SEG 40                    // input columns loaded per block, whole vectors
#define WG_ALWAYS_INLINE inline __attribute__((always_inline))

#include "nj-winograd-rows.h"

// Columns [c0, c0 + WG_SEG) of a row as floats, zero outside [0, width) and for a NULL row:
// the row itself when f32 and the whole span is inside it, else copied into `seg`. At a row's
// ends (the first and last blocks: two of five on the 1/32-scale rows) the columns inside are
// copied into zeros and converted a vector at a time, as inside: a value at a time, binary16
// converted in software, this took more time than the rest of the transform.
static WG_ALWAYS_INLINE NJ_TARGET const float *wg_segment(const nj_x *row, int32_t c0, int32_t width, float *seg) {
    if (row && c0 >= 0 && c0 + WG_SEG <= width) {
#if NJ_F16_STORAGE
        for (int v = 0; v < WG_SEG; v += 8) _mm256_storeu_ps(seg + v, V_LOADX(row + c0 + v));
        return seg;
#else
        return row + c0;
#endif
    }
    const int32_t lo = c0 < 0 ? -c0 : 0, hi = width - c0 < WG_SEG ? width - c0 : WG_SEG;
    nj_x inside[WG_SEG];
    memset(inside, 0, sizeof inside);
    if (row && hi > lo) memcpy(inside + lo, row + c0 + lo, (size_t)(hi - lo) * sizeof(nj_x));
    for (int v = 0; v < WG_SEG; v += 8) _mm256_storeu_ps(seg + v, V_LOADX(inside + v));
    return seg;
}

// The even (e) and odd (o) elements of 16 floats.
static WG_ALWAYS_INLINE NJ_TARGET void wg_deinterleave(const float *p, __m256 *e, __m256 *o) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    // Within each 128-bit lane: a0 a2 b0 b2 | a4 a6 b4 b6, then the 64-bit pieces reordered.
    *e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
    *o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// Elements 1 .. 8 and 2 .. 9 of the 16 floats (lo, hi), in registers: loading them from memory
// just stored as whole vectors would miss store-to-load forwarding on every load.
static WG_ALWAYS_INLINE NJ_TARGET __m256 wg_shift1(__m256 lo, __m256 hi) {
    const __m256i mid = _mm256_castps_si256(_mm256_permute2f128_ps(lo, hi, 0x21));  // lo's high lane, hi's low lane
    return _mm256_castsi256_ps(_mm256_alignr_epi8(mid, _mm256_castps_si256(lo), 4));
}
static WG_ALWAYS_INLINE NJ_TARGET __m256 wg_shift2(__m256 lo, __m256 hi) {
    const __m256i mid = _mm256_castps_si256(_mm256_permute2f128_ps(lo, hi, 0x21));
    return _mm256_castsi256_ps(_mm256_alignr_epi8(mid, _mm256_castps_si256(lo), 8));
}

// The even (e) and odd (o) columns of a transformed row r of 32 + 2·extra floats (extra <= 4),
// three vectors each: e[k] holds columns 2(8k) .. 2(8k + 7), only `extra` of e[2] meaningful.
static WG_ALWAYS_INLINE NJ_TARGET void wg_split_columns(const float *r, __m256 e[3], __m256 o[3]) {
    wg_deinterleave(r, &e[0], &o[0]);
    wg_deinterleave(r + 16, &e[1], &o[1]);
    const __m256 tail = _mm256_loadu_ps(r + 32), zero = _mm256_setzero_ps();
    e[2] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(tail, zero, 0x88)), 0xD8));
    o[2] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(tail, zero, 0xDD)), 0xD8));
}

// One ξ and a block of OCB output channels: M[ξ][oc][·] (+)= Σ_i U[ξ][ic0+i][oc] V[ξ][i][·].
static WG_ALWAYS_INLINE NJ_TARGET void wg_gemm_block(const float *U, size_t u_ic_stride, const float *V,
                                                     float *M, int32_t nic, int first, const int OCB) {
    __m256 acc[6][2];
    for (int o = 0; o < OCB; o++) {
        if (first) {
            acc[o][0] = acc[o][1] = _mm256_setzero_ps();
        } else {
            acc[o][0] = _mm256_loadu_ps(M + (size_t)o * WG_TB);
            acc[o][1] = _mm256_loadu_ps(M + (size_t)o * WG_TB + 8);
        }
    }
    for (int32_t i = 0; i < nic; i++) {
        const __m256 v0 = _mm256_loadu_ps(V + (size_t)i * WG_TB), v1 = _mm256_loadu_ps(V + (size_t)i * WG_TB + 8);
        const float *u = U + (size_t)i * u_ic_stride;
        for (int o = 0; o < OCB; o++) {
            const __m256 w = _mm256_broadcast_ss(u + o);
            acc[o][0] = _mm256_fmadd_ps(w, v0, acc[o][0]);
            acc[o][1] = _mm256_fmadd_ps(w, v1, acc[o][1]);
        }
    }
    for (int o = 0; o < OCB; o++) {
        _mm256_storeu_ps(M + (size_t)o * WG_TB, acc[o][0]);
        _mm256_storeu_ps(M + (size_t)o * WG_TB + 8, acc[o][1]);
    }
}

// The products for ξ in [xi_begin, xi_end), input channels [ic0, ic0 + nic), output channels
// [oc0, oc0 + noc); `first`: the first input chunk (M starts from zero).
static NJ_TARGET void wg_gemm(const nj_args *a, int32_t ic0, int32_t nic, int32_t oc0, int32_t noc,
                              int32_t nt, const float *V, float *M, int first, int xi_begin, int xi_end) {
    (void)nt;  // whole blocks of tiles
    const size_t ws = (size_t)a->weight_stride;
    for (int xi = xi_begin; xi < xi_end; xi++) {
        const float *U = (const float *)a->weights + ((size_t)xi * a->in_channels + ic0) * ws + oc0;
        const float *Vx = V + (size_t)xi * WG_ICB * WG_TB;
        float *Mx = M + (size_t)xi * WG_OCC * WG_TB;
        int32_t o = 0;
        for (; o + 6 <= noc; o += 6) wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, 6);
        switch (noc - o) {
        case 5: wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, 5); break;
        case 4: wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, 4); break;
        case 3: wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, 3); break;
        case 2: wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, 2); break;
        case 1: wg_gemm_block(U + o, ws, Vx, Mx + (size_t)o * WG_TB, nic, first, 1); break;
        default: break;
        }
    }
}

// Stores output row y of channel oc at columns [x0, x0 + valid) (valid <= 16) from the
// finished even and odd columns: interleaved, plus the residual, converted to the storage type.
static WG_ALWAYS_INLINE NJ_TARGET void wg_store_row(const nj_args *a, int32_t oc, int32_t y, int32_t x0,
                                                    int32_t valid, __m256 even, __m256 odd) {
    const __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
    __m256 out0 = _mm256_permute2f128_ps(lo, hi, 0x20), out1 = _mm256_permute2f128_ps(lo, hi, 0x31);
    size_t step;
    const nj_x *res;
    nj_x *dst = wg_output_row(a, oc, y, x0, &step, &res);
    if (step == 1 && valid == 16) {
        if (res) {
            out0 = _mm256_add_ps(out0, V_LOADX(res));
            out1 = _mm256_add_ps(out1, V_LOADX(res + 8));
        }
        V_STOREX(dst, out0);
        V_STOREX(dst + 8, out1);
    } else {
        // A row's last columns, or depth-to-space (this channel's pixels r apart): added and
        // converted as whole vectors (the residual's columns copied into zeros), then stored an
        // element at a time.
        if (res) {
            nj_x r[16];
            memset(r, 0, sizeof r);
            memcpy(r, res, (size_t)valid * sizeof(nj_x));
            out0 = _mm256_add_ps(out0, V_LOADX(r));
            out1 = _mm256_add_ps(out1, V_LOADX(r + 8));
        }
        nj_x tmp[16];
        V_STOREX(tmp, out0);
        V_STOREX(tmp + 8, out1);
        for (int32_t x = 0; x < valid; x++) dst[(size_t)x * step] = tmp[x];
    }
}

// Depth-to-space by 4 (conv32_8_cat.1) for channels oc .. oc + 3 that share an output row (the
// first a multiple of 4 counting output_channel_base), columns [x0, x0 + valid) (valid <= 16):
// each channel's finished even and odd columns in pixel order with its residual, then the four
// channels interleaved (nj_interleave4) and stored as whole vectors of the storage type, where
// wg_store_row stores each value alone. The same values and conversions as wg_store_row's.
static WG_ALWAYS_INLINE NJ_TARGET void wg_store_d2s4(const nj_args *a, int32_t oc, int32_t y, int32_t x0,
                                                     int32_t valid, const __m256 even[4], const __m256 odd[4]) {
    __m256 v[2][4];
    for (int j = 0; j < 4; j++) {
        const __m256 lo = _mm256_unpacklo_ps(even[j], odd[j]), hi = _mm256_unpackhi_ps(even[j], odd[j]);
        v[0][j] = _mm256_permute2f128_ps(lo, hi, 0x20);
        v[1][j] = _mm256_permute2f128_ps(lo, hi, 0x31);
        const nj_x *res = wg_residual_row(a, oc + j, y, x0);
        if (res) {
            nj_x r[16];
            memset(r, 0, sizeof r);
            memcpy(r, res, (size_t)valid * sizeof(nj_x));
            v[0][j] = _mm256_add_ps(v[0][j], V_LOADX(r));
            v[1][j] = _mm256_add_ps(v[1][j], V_LOADX(r + 8));
        }
    }
    nj_interleave4(v[0]);  // pixels 0-7, four values each
    nj_interleave4(v[1]);  // pixels 8-15
    size_t step;
    nj_x *dst = NJ_OUTPUT_ROW(a, oc, y, &step) + (size_t)x0 * step;
    if (valid == 16) {
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) V_STOREX(dst + 32 * h + 8 * k, v[h][k]);
        }
        return;
    }
    nj_x tmp[64];
    for (int h = 0; h < 2; h++) {
        for (int k = 0; k < 4; k++) V_STOREX(tmp + 32 * h + 8 * k, v[h][k]);
    }
    memcpy(dst, tmp, (size_t)(4 * valid) * sizeof(nj_x));
}
