// Template of the f16 direct convolution kernels with native half-precision arithmetic
// (AVX512-FP16, ARMv8.2-A FP16): internal header, included exactly once by each
// f16-conv2d-KxK-ISA.c file after one nj-simd-ISA.h vocabulary (nj_h: NJ_HL halves, H_*;
// nj_f: NJ_FL floats, F_*), with NJ_K, NJ_OCB, NJ_NV, NJ_FN, NJ_KERNEL and NJ_FLUSH defined.
//
// The structure is f32-conv2d-direct.h's (tiles of OCB output channels x NV vectors of one
// output row, GIHWO weights, bias first, LeakyReLU and residual before one store), with one
// difference: the FMAs run on binary16 vectors of twice the lanes, and a binary16 sum keeps
// only 11 bits. So the half accumulators take the products of NJ_FLUSH input channels (NJ_FLUSH
// x K x K products per output), then are converted and added into f32 partial sums on the
// stack and start again from zero; bias, activation and residual are applied to the f32 sums,
// which are rounded to binary16 once. Each partial sum of n products is off by at most about
// n * 2^-11 of the sum of its |terms| (half_sum_terms in the registry entry; tests check it),
// where summing everything in binary16 would grow with all the layer's terms (576 for a 3x3
// 64-channel layer).
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-f16.h"
#include "nj-kernels-internal.h"

// Packed weight elements: binary16 (nj_wt = uint16_t, H_SET1W broadcasts one), unless the
// vocabulary reads them as pairs (NJ_DTYPE_F16X2: uint32_t, a 32-bit broadcast).
#ifndef NJ_WEIGHT_DTYPE
#define NJ_WEIGHT_DTYPE NJ_DTYPE_F16
typedef uint16_t nj_wt;
#define H_SET1W(p) H_SET1(*(p))
#endif

#define NJ_PAD ((NJ_K - 1) / 2)
#define NJ_TILE (NJ_NV * NJ_HL)
#define NJ_ALWAYS_INLINE inline __attribute__((always_inline))
#define NJ_UNROLL _Pragma("GCC unroll 16")

static NJ_ALWAYS_INLINE NJ_TARGET void nj_tile(const nj_conv2d_f16_args *a, int32_t oc0,
                                               int32_t y, int32_t x0, int32_t nvalid,
                                               const int OCB, const int NV, const int EDGE) {
    const int32_t width = a->width;
    const int32_t ipg = a->in_channels / a->groups;
    const int32_t opg = a->out_channels / a->groups;
    const int32_t group = oc0 / opg;
    const int32_t ic0 = group * ipg;
    const size_t wstride = (size_t)a->weight_stride;
    const nj_wt *wbase = (const nj_wt *)a->weights +
                            (size_t)group * ipg * NJ_K * NJ_K * wstride + (oc0 - group * opg);

    // f32 partial sums of the tile, starting at the bias.
    float part[NJ_OCB][NJ_TILE];
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        const nj_f b = F_SET1(a->bias ? a->bias[oc0 + o] : 0.0f);
        for (int i = 0; i < NV * NJ_HL; i += NJ_FL) {
            F_STOREU(&part[o][i], b);
        }
    }
    nj_h acc[NJ_OCB][NJ_NV];
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        NJ_UNROLL for (int v = 0; v < NV; v++) {
            acc[o][v] = H_ZERO();
        }
    }

    const int32_t ky_begin = y < NJ_PAD ? NJ_PAD - y : 0;
    const int32_t ky_end = y + NJ_PAD >= a->height ? a->height - y + NJ_PAD : NJ_K;
    size_t input_row_offset[NJ_K];
    NJ_UNROLL for (int ky = 0; ky < NJ_K; ky++) {
        const int32_t iy = y + ky - NJ_PAD;
        input_row_offset[ky] = iy >= 0 ? (size_t)(iy % a->input_rows) * width : 0;
    }

#if NJ_MASKED
    nj_hm lanes[NJ_K][NJ_NV];
    if (EDGE) {
        NJ_UNROLL for (int kx = 0; kx < NJ_K; kx++) {
            NJ_UNROLL for (int v = 0; v < NV; v++) {
                const int32_t start = x0 - NJ_PAD + kx + v * NJ_HL;
                lanes[kx][v] = H_MASK(-start, width - start);
            }
        }
    }
#else
    // Zero-padded copy of the tile's input columns for edge tiles (as in f32-conv2d-direct.h).
    uint16_t stage[NJ_TILE + NJ_K - 1];
    int32_t s_lo = 0, s_hi = 0;
    if (EDGE) {
        const int32_t len = NV * NJ_HL + NJ_K - 1;
        s_lo = x0 < NJ_PAD ? NJ_PAD - x0 : 0;
        s_hi = width - x0 + NJ_PAD < len ? width - x0 + NJ_PAD : len;
        memset(stage, 0, sizeof(stage));
    }
#endif

    const int32_t next_row = y + NJ_PAD + 1;
    const int prefetch = oc0 % opg == 0 && y + 1 < a->row_end && next_row < a->height;

    for (int32_t icg = 0; icg < ipg; icg++) {
        const uint16_t *plane = a->input + (size_t)(ic0 + icg) * a->input_channel_stride;
        const nj_wt *w_ic = wbase + (size_t)icg * NJ_K * NJ_K * wstride;
        if (prefetch) {
            const uint16_t *ahead = plane + (size_t)(next_row % a->input_rows) * width + x0;
            for (int32_t p = -NJ_PAD; p < NV * NJ_HL + NJ_PAD; p += 32) {
                __builtin_prefetch(ahead + p);
            }
        }
        for (int32_t ky = ky_begin; ky < ky_end; ky++) {
            const uint16_t *src = plane + input_row_offset[ky] + x0 - NJ_PAD;
#if !NJ_MASKED
            if (EDGE) {
                for (int32_t i = s_lo; i < s_hi; i++) {
                    stage[i] = src[i];
                }
                src = stage;
            }
#endif
            const nj_wt *w_k = w_ic + (size_t)ky * NJ_K * wstride;
            NJ_UNROLL for (int kx = 0; kx < NJ_K; kx++) {
                nj_h in[NJ_NV];
                NJ_UNROLL for (int v = 0; v < NV; v++) {
#if NJ_MASKED
                    in[v] = EDGE ? H_LOADU_M(src + kx + v * NJ_HL, lanes[kx][v])
                                 : H_LOADU(src + kx + v * NJ_HL);
#else
                    in[v] = H_LOADU(src + kx + v * NJ_HL);
#endif
                }
                const nj_wt *w_tap = w_k + (size_t)kx * wstride;
#if NJ_LANE_FMA
                if (OCB % 8 == 0) {
                    NJ_UNROLL for (int o = 0; o < OCB; o += 8) {
                        const nj_h w8 = H_LOADU(w_tap + o);
                        NJ_UNROLL for (int v = 0; v < NV; v++) {
                            acc[o][v] = H_FMA_LANE(acc[o][v], in[v], w8, 0);
                            acc[o + 1][v] = H_FMA_LANE(acc[o + 1][v], in[v], w8, 1);
                            acc[o + 2][v] = H_FMA_LANE(acc[o + 2][v], in[v], w8, 2);
                            acc[o + 3][v] = H_FMA_LANE(acc[o + 3][v], in[v], w8, 3);
                            acc[o + 4][v] = H_FMA_LANE(acc[o + 4][v], in[v], w8, 4);
                            acc[o + 5][v] = H_FMA_LANE(acc[o + 5][v], in[v], w8, 5);
                            acc[o + 6][v] = H_FMA_LANE(acc[o + 6][v], in[v], w8, 6);
                            acc[o + 7][v] = H_FMA_LANE(acc[o + 7][v], in[v], w8, 7);
                        }
                    }
                    continue;
                }
#endif
                NJ_UNROLL for (int o = 0; o < OCB; o++) {
                    const nj_h w = H_SET1W(w_tap + o);
                    NJ_UNROLL for (int v = 0; v < NV; v++) {
                        acc[o][v] = H_FMA(acc[o][v], in[v], w);
                    }
                }
            }
        }
        // Every NJ_FLUSH input channels, and after the last: half sums into the f32 sums.
        if ((icg + 1) % NJ_FLUSH == 0 || icg + 1 == ipg) {
            NJ_UNROLL for (int o = 0; o < OCB; o++) {
                NJ_UNROLL for (int v = 0; v < NV; v++) {
                    H_FLUSH(&part[o][v * NJ_HL], acc[o][v]);
                    acc[o][v] = H_ZERO();
                }
            }
        }
    }

    // Epilogue on the f32 sums: activation, residual, one rounding to binary16, one store.
    const int lrelu = a->activation == NJ_ACTIVATION_LEAKY_RELU;
    const nj_f slope = F_SET1(a->negative_slope);
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        size_t step;
        uint16_t *out = nj_conv2d_f16_output_row(a, oc0 + o, y, &step) + (size_t)x0 * step;
        const uint16_t *res = a->residual
            ? a->residual + (size_t)(oc0 + o) * a->residual_channel_stride +
                  (size_t)(y % a->residual_rows) * width + x0
            : NULL;
        for (int32_t i = 0; i < nvalid; i += NJ_FL) {
            nj_f r = F_LOADU(&part[o][i]);
            if (lrelu) {
                r = F_LRELU(r, slope);
            }
            const int32_t n = nvalid - i;
            if (step == 1 && n >= NJ_FL) {
                if (res) {
                    r = F_ADD(r, F_LOADX(res + i));
                }
                F_STOREX(out + i, r);
                continue;
            }
#if NJ_MASKED
            if (step == 1) {
                const nj_fm m = F_MASK(0, n);
                if (res) {
                    r = F_ADD(r, F_LOADX_M(res + i, m));
                }
                F_STOREX_M(out + i, m, r);
                continue;
            }
#endif
            // Depth-to-space stores (r apart): a whole vector is rounded to binary16 by the
            // hardware conversion (the rounding of the other stores), then scattered; rounding
            // each value in software made conv32_8_cat.1 half as fast as a plain 3x3 layer.
            if (n >= NJ_FL) {
                if (res) {
                    r = F_ADD(r, F_LOADX(res + i));
                }
                uint16_t half[NJ_FL];
                F_STOREX(half, r);
                for (int32_t j = 0; j < NJ_FL; j++) {
                    out[(size_t)(i + j) * step] = half[j];
                }
                continue;
            }
            // The row's last values of a depth-to-space output or, without masks, of any row.
            float tmp[NJ_FL];
            F_STOREU(tmp, r);
            const int32_t count = n < NJ_FL ? n : NJ_FL;
            for (int32_t j = 0; j < count; j++) {
                const float value = res ? tmp[j] + nj_f16_bits_to_f32(res[i + j]) : tmp[j];
                out[(size_t)(i + j) * step] = nj_f32_to_f16_bits(value);
            }
        }
    }
}

#define NJ_CASE_N(O, N) \
    case (O) * 16 + (N) * 2 + 0: nj_tile(a, oc, y, x0, nvalid, (O), (N), 0); break; \
    case (O) * 16 + (N) * 2 + 1: nj_tile(a, oc, y, x0, nvalid, (O), (N), 1); break;
#if NJ_NV == 1
#define NJ_CASE_O(O) NJ_CASE_N(O, 1)
#elif NJ_NV == 2
#define NJ_CASE_O(O) NJ_CASE_N(O, 1) NJ_CASE_N(O, 2)
#elif NJ_NV == 3
#define NJ_CASE_O(O) NJ_CASE_N(O, 1) NJ_CASE_N(O, 2) NJ_CASE_N(O, 3)
#else
#error "NJ_NV must be 1..3"
#endif
#if NJ_OCB != 4 && NJ_OCB != 8 && NJ_OCB != 12
#error "NJ_OCB must be 4, 8 or 12"
#endif

NJ_TARGET void NJ_FN(const nj_conv2d_f16_args *a) {
    const int32_t width = a->width;
    const int32_t opg = a->out_channels / a->groups;
    for (int32_t y = a->row_begin; y < a->row_end; y++) {
        for (int32_t x0 = 0; x0 < width; x0 += NJ_TILE) {
            const int32_t nvalid = width - x0 < NJ_TILE ? width - x0 : NJ_TILE;
            const int32_t nv = (nvalid + NJ_HL - 1) / NJ_HL;
            const int edge = x0 < NJ_PAD || x0 + nv * NJ_HL + NJ_PAD > width;
            for (int32_t g = 0; g < a->groups; g++) {
                const int32_t oc_end = (g + 1) * opg;
                for (int32_t oc = g * opg; oc < oc_end;) {
                    const int32_t rem = oc_end - oc;
                    const int32_t ocb = rem >= NJ_OCB ? NJ_OCB : rem >= 4 ? 4 : rem >= 2 ? 2 : 1;
                    switch (ocb * 16 + nv * 2 + edge) {
#if NJ_OCB != 4
                        NJ_CASE_O(NJ_OCB)
#endif
                        NJ_CASE_O(4)
                        NJ_CASE_O(2)
                        NJ_CASE_O(1)
                        default: break;
                    }
                    oc += ocb;
                }
            }
        }
    }
}

#define NJ_STR_(x) #x
#define NJ_STR(x) NJ_STR_(x)
const nj_conv2d_f16_kernel NJ_KERNEL = {
    .run = NJ_FN,
    .name = "f16-conv2d-" NJ_STR(NJ_K) "x" NJ_STR(NJ_K) "-" NJ_ISA_LABEL "-" NJ_STR(NJ_OCB) "x" NJ_STR(NJ_NV),
    .isa = NJ_ISA_ID,
    .required_features = NJ_REQUIRED_FEATURES,
    .kernel_size = NJ_K,
    .weight_layout = NJ_WEIGHTS_GIHWO,
    .weight_dtype = NJ_WEIGHT_DTYPE,
    .channel_block = NJ_OCB,
    .fma_ports = 0,
    .half_sum_terms = NJ_FLUSH * NJ_K * NJ_K,
};

#undef NJ_STR
#undef NJ_STR_
#undef NJ_CASE_O
#undef NJ_CASE_N
#undef NJ_PAD
#undef NJ_TILE
#undef NJ_ALWAYS_INLINE
#undef NJ_UNROLL
#undef NJ_WEIGHT_DTYPE
#undef H_SET1W
