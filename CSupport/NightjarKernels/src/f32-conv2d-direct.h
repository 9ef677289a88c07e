// Template of the direct CHW convolution kernels (internal header, no include guard: it is
// included exactly once by each f32-conv2d-KxK-ISA.c file).
//
// The including file first includes one nj-simd-ISA.h (vector vocabulary: nj_v, NJ_VL,
// NJ_TARGET, NJ_MASKED, NJ_ISA_ID, NJ_ISA_LABEL, V_* macros) and defines:
//   NJ_K       kernel size (1, 3 or 5)
//   NJ_OCB     largest output-channel register block (4, 6, 8 or 12)
//   NJ_NV      vectors per x tile (1..4)
//   NJ_FN      name of the kernel function, void NJ_FN(const nj_conv2d_f32_args *)
//   NJ_KERNEL  name of its registry entry (const nj_conv2d_f32_kernel), defined here
// and may define NJ_FMA_PORTS (1 or 2): the 512-bit FMA port count the tile was chosen for.
//
// The f16 kernels that convert around an f32 FMA (F16C, AVX-512, NEON fcvtl/fcvtn) are this
// same template with binary16 storage: they define NJ_F16_STORAGE 1 and, in the vocabulary,
// V_LOADX / V_LOADX_M (load NJ_VL binary16 values as an f32 vector), V_STOREX / V_STOREX_M
// (round an f32 vector to binary16 and store it) and NJ_REQUIRED_FEATURES. Weights then hold
// f32 copies of the binary16 weights, accumulators are f32: only loads and stores change.
//
// Design: each call to nj_tile computes OCB output channels x NV vectors of one output row,
// holding OCB*NV accumulators in registers. For every input channel of the group, every
// kernel row and every kernel column it loads NV input vectors (shifted by kx) and broadcasts
// OCB weights, so one loaded vector feeds OCB FMAs and one weight feeds NV FMAs. Bias is the
// accumulators' initial value; LeakyReLU and the residual add happen before the single store.
//
// Weights are NJ_WEIGHTS_GIHWO: the OCB weights of one (input channel, tap) are adjacent, so
// one pointer with constant offsets reaches them all. With PyTorch's layout the block needed
// OCB pointers, more than x86-64 has registers once the frame pointer is reserved (SwiftPM
// builds with -fno-omit-frame-pointer): the inner loop spilled and ran 30 % slower. Where the
// ISA multiplies by a vector lane (NEON), four weights come in one load.
//
// Borders: rows outside the image are skipped (ky range). A tile whose loads would leave
// [0, width) is an "edge" tile: with lane masks (AVX-512) the loads are masked; without, the
// row segment is copied into a zero-padded stack buffer per (input channel, kernel row). The
// last, partial vector of a row is stored with a mask or through a stack buffer. So kernels
// never read or write outside the rows and columns the contract allows, and never allocate.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

#include "nj-conv2d-storage.h"

#define NJ_PAD ((NJ_K - 1) / 2)
#define NJ_TILE (NJ_NV * NJ_VL)
#define NJ_ALWAYS_INLINE inline __attribute__((always_inline))
#define NJ_UNROLL _Pragma("GCC unroll 16")

#if !NJ_MASKED
// dst[0, n) = src[0, n) with vector moves (the last one overlapping), not a memcpy call: a
// call inside the tile loop would spill every accumulator.
static NJ_ALWAYS_INLINE NJ_TARGET void nj_copy_span(nj_x *dst, const nj_x *src, int32_t n) {
#if NJ_F16_STORAGE
    // binary16: a short loop (edge tiles only; the vocabulary has no 16-bit moves).
    for (int32_t i = 0; i < n; i++) {
        dst[i] = src[i];
    }
#else
    if (n < NJ_VL) {
        for (int32_t i = 0; i < n; i++) {
            dst[i] = src[i];
        }
    } else {
        int32_t i = 0;
        for (; i + NJ_VL <= n; i += NJ_VL) {
            V_STOREU(dst + i, V_LOADU(src + i));
        }
        if (i < n) {
            V_STOREU(dst + n - NJ_VL, V_LOADU(src + n - NJ_VL));
        }
    }
#endif
}
#endif

static NJ_ALWAYS_INLINE NJ_TARGET void nj_tile(const nj_args *a, int32_t oc0,
                                               int32_t y, int32_t x0, int32_t nvalid,
                                               int32_t icg_begin, int32_t icg_end,
                                               const int OCB, const int NV, const int EDGE) {
    const int32_t width = a->width;
    const int32_t ipg = a->in_channels / a->groups;
    const int32_t opg = a->out_channels / a->groups;
    const int32_t group = oc0 / opg;
    const int32_t ic0 = group * ipg;
    const size_t wstride = (size_t)a->weight_stride;  // between taps
    const float *wbase = (const float *)a->weights + (size_t)group * ipg * NJ_K * NJ_K * wstride + (oc0 - group * opg);

    // A chunk of the input channels after the first resumes from the partial sums the
    // previous chunk stored in the output (f32, exact: the same sums as in one pass).
    // (f16 outputs are never chunked: without this constant the f16 kernels' accumulators
    // could start undefined, and clang then kept them on the stack across the channel loop.)
    const int resume = !NJ_F16_STORAGE && icg_begin > 0;
    const int finish = icg_end == ipg;
    nj_v acc[NJ_OCB][NJ_NV];
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        if (resume) {
#if !NJ_F16_STORAGE
            size_t step;
            const float *partial = NJ_OUTPUT_ROW(a, oc0 + o, y, &step) + x0;
            NJ_UNROLL for (int v = 0; v < NV; v++) {
#if NJ_MASKED
                acc[o][v] = nvalid - v * NJ_VL >= NJ_VL ? V_LOADU(partial + v * NJ_VL)
                                                        : V_LOADU_M(partial + v * NJ_VL, V_MASK(0, nvalid - v * NJ_VL));
#else
                acc[o][v] = V_LOADU(partial + v * NJ_VL);  // chunking needs lane masks
#endif
            }
#endif
            continue;
        }
        const nj_v b = a->bias ? V_SET1(a->bias[oc0 + o]) : V_ZERO();
        NJ_UNROLL for (int v = 0; v < NV; v++) {
            acc[o][v] = b;
        }
    }

    // Kernel rows that land inside the image.
    const int32_t ky_begin = y < NJ_PAD ? NJ_PAD - y : 0;
    const int32_t ky_end = y + NJ_PAD >= a->height ? a->height - y + NJ_PAD : NJ_K;
    // Where each kernel row's input row lives in the input ring (once per tile, not per
    // input channel).
    size_t input_row_offset[NJ_K];
    NJ_UNROLL for (int ky = 0; ky < NJ_K; ky++) {
        const int32_t iy = y + ky - NJ_PAD;
        input_row_offset[ky] = iy >= 0 ? (size_t)(iy % a->input_rows) * width : 0;
    }

#if NJ_MASKED
    nj_m lanes[NJ_K][NJ_NV];
    if (EDGE) {
        NJ_UNROLL for (int kx = 0; kx < NJ_K; kx++) {
            NJ_UNROLL for (int v = 0; v < NV; v++) {
                const int32_t start = x0 - NJ_PAD + kx + v * NJ_VL;
                lanes[kx][v] = V_MASK(-start, width - start);
            }
        }
    }
#else
    // Zero-padded copy of input columns [x0 - PAD, x0 + NV*VL + PAD) for edge tiles; only
    // the part inside [0, width) changes between rows, the zeros are written once.
    nj_x stage[NJ_TILE + NJ_K - 1];
    int32_t s_lo = 0, s_hi = 0;
    if (EDGE) {
        const int32_t len = NV * NJ_VL + NJ_K - 1;
        s_lo = x0 < NJ_PAD ? NJ_PAD - x0 : 0;
        s_hi = width - x0 + NJ_PAD < len ? width - x0 + NJ_PAD : len;
        memset(stage, 0, sizeof(stage));
    }
#endif

    // The input row that enters the window at output row y + 1 is usually not cached yet: the
    // first channel block of a group prefetches its columns for every input channel (this
    // matters when few blocks share the input, e.g. grouped convolutions).
    const int32_t next_row = y + NJ_PAD + 1;
    const int prefetch = oc0 % opg == 0 && y + 1 < a->row_end && next_row < a->height;

    for (int32_t icg = icg_begin; icg < icg_end; icg++) {
        const nj_x *plane = a->input + (size_t)(ic0 + icg) * a->input_channel_stride;
        const float *w_ic = wbase + (size_t)icg * NJ_K * NJ_K * wstride;
        if (prefetch) {
            const nj_x *ahead = plane + (size_t)(next_row % a->input_rows) * width + x0;
            for (int32_t p = -NJ_PAD; p < NV * NJ_VL + NJ_PAD; p += 64 / (int32_t)sizeof(nj_x)) {
                __builtin_prefetch(ahead + p);
            }
        }
        for (int32_t ky = ky_begin; ky < ky_end; ky++) {
            const nj_x *row = plane + input_row_offset[ky];
            const nj_x *src = row + x0 - NJ_PAD;
#if !NJ_MASKED
            if (EDGE) {
                nj_copy_span(stage + s_lo, src + s_lo, s_hi - s_lo);
                src = stage;
            }
#endif
            const float *w_k = w_ic + (size_t)ky * NJ_K * wstride;
            NJ_UNROLL for (int kx = 0; kx < NJ_K; kx++) {
                nj_v in[NJ_NV];
                NJ_UNROLL for (int v = 0; v < NV; v++) {
#if NJ_MASKED
                    in[v] = EDGE ? V_LOADX_M(src + kx + v * NJ_VL, lanes[kx][v])
                                 : V_LOADX(src + kx + v * NJ_VL);
#else
                    in[v] = V_LOADX(src + kx + v * NJ_VL);
#endif
                }
                const float *w_tap = w_k + (size_t)kx * wstride;
#if NJ_LANE_FMA
                if (OCB % 4 == 0) {
                    NJ_UNROLL for (int o = 0; o < OCB; o += 4) {
                        const nj_v w4 = V_LOADU(w_tap + o);
                        NJ_UNROLL for (int v = 0; v < NV; v++) {
                            acc[o][v] = V_FMA_LANE(acc[o][v], in[v], w4, 0);
                            acc[o + 1][v] = V_FMA_LANE(acc[o + 1][v], in[v], w4, 1);
                            acc[o + 2][v] = V_FMA_LANE(acc[o + 2][v], in[v], w4, 2);
                            acc[o + 3][v] = V_FMA_LANE(acc[o + 3][v], in[v], w4, 3);
                        }
                    }
                    continue;
                }
#endif
                NJ_UNROLL for (int o = 0; o < OCB; o++) {
                    const nj_v w = V_SET1(w_tap[o]);
                    NJ_UNROLL for (int v = 0; v < NV; v++) {
                        acc[o][v] = V_FMA(acc[o][v], in[v], w);
                    }
                }
#ifdef V_ACC_BARRIER
                NJ_UNROLL for (int o = 0; o < OCB; o++) {
                    NJ_UNROLL for (int v = 0; v < NV; v++) {
                        V_ACC_BARRIER(acc[o][v]);
                    }
                }
#endif
            }
        }
    }

#if !NJ_F16_STORAGE && NJ_MASKED
    if (!finish) {
        // Partial sums of this chunk (the driver chunks only plain f32 outputs).
        NJ_UNROLL for (int o = 0; o < OCB; o++) {
            size_t step;
            float *partial = NJ_OUTPUT_ROW(a, oc0 + o, y, &step) + x0;
            NJ_UNROLL for (int v = 0; v < NV; v++) {
                const int32_t n = nvalid - v * NJ_VL;
                if (n >= NJ_VL) {
                    V_STOREU(partial + v * NJ_VL, acc[o][v]);
                } else {
                    V_STOREU_M(partial + v * NJ_VL, V_MASK(0, n), acc[o][v]);
                }
            }
        }
        return;
    }
#else
    (void)finish;
#endif

    // Epilogue: activation, residual, one store per vector (or, with a depth-to-space output,
    // one store per value, r floats apart: the pixel shuffle after this convolution).
    const int lrelu = a->activation == NJ_ACTIVATION_LEAKY_RELU;
    const nj_v slope = V_SET1(a->negative_slope);
#if defined(NJ_HAS_INTERLEAVE4)
    // Pixel shuffle by 4 of whole vectors: output channels 4k..4k+3 fill one output row, four
    // values per input pixel, so they are interleaved in registers and stored whole (the same
    // values as the store per value below, which took a tenth of such a layer's time in f32
    // and a quarter in f16, where each value was also converted alone).
    if (a->output_depth_to_space == 4 && OCB % 4 == 0 && (a->output_channel_base + oc0) % 4 == 0 &&
        nvalid == NV * NJ_VL) {
        NJ_UNROLL for (int o = 0; o < OCB; o += 4) {
            size_t step;
            nj_x *out = NJ_OUTPUT_ROW(a, oc0 + o, y, &step) + (size_t)x0 * 4;
            NJ_UNROLL for (int v = 0; v < NV; v++) {
                nj_v r[4];
                NJ_UNROLL for (int j = 0; j < 4; j++) {
                    r[j] = acc[o + j][v];
                    if (lrelu) {
                        r[j] = V_LRELU(r[j], slope);
                    }
                    if (a->residual) {
                        r[j] = V_ADD(r[j], V_LOADX(a->residual + (size_t)(oc0 + o + j) * a->residual_channel_stride +
                                                   (size_t)(y % a->residual_rows) * width + x0 + v * NJ_VL));
                    }
                }
                nj_interleave4(r);
                NJ_UNROLL for (int j = 0; j < 4; j++) {
                    V_STOREX(out + (size_t)(4 * v + j) * NJ_VL, r[j]);
                }
            }
        }
        return;
    }
#endif
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        size_t step;
        nj_x *out = NJ_OUTPUT_ROW(a, oc0 + o, y, &step) + (size_t)x0 * step;
        const nj_x *res = a->residual
            ? a->residual + (size_t)(oc0 + o) * a->residual_channel_stride +
                  (size_t)(y % a->residual_rows) * width + x0
            : NULL;
        NJ_UNROLL for (int v = 0; v < NV; v++) {
            nj_v r = acc[o][v];
            if (lrelu) {
                r = V_LRELU(r, slope);
            }
            const int32_t n = nvalid - v * NJ_VL;
            if (step != 1) {
                float tmp[NJ_VL];
                V_STOREU(tmp, r);
                const int32_t count = n < NJ_VL ? n : NJ_VL;
                for (int32_t i = 0; i < count; i++) {
                    out[(size_t)(v * NJ_VL + i) * step] = NJ_F2X(res ? tmp[i] + NJ_X2F(res[v * NJ_VL + i]) : tmp[i]);
                }
            } else if (n >= NJ_VL) {
                if (res) {
                    r = V_ADD(r, V_LOADX(res + v * NJ_VL));
                }
                V_STOREX(out + v * NJ_VL, r);
            } else {
#if NJ_MASKED
                const nj_m m = V_MASK(0, n);
                if (res) {
                    r = V_ADD(r, V_LOADX_M(res + v * NJ_VL, m));
                }
                V_STOREX_M(out + v * NJ_VL, m, r);
#else
                float tmp[NJ_VL];
                V_STOREU(tmp, r);
                for (int32_t i = 0; i < n; i++) {
                    out[v * NJ_VL + i] = NJ_F2X(res ? tmp[i] + NJ_X2F(res[v * NJ_VL + i]) : tmp[i]);
                }
#endif
            }
        }
    }
}

// One case per (block size, vector count, edge) that the driver can ask for.
#define NJ_CASE_N(O, N) \
    case (O) * 16 + (N) * 2 + 0: nj_tile(a, oc, y, x0, nvalid, ic_begin, ic_end, (O), (N), 0); break; \
    case (O) * 16 + (N) * 2 + 1: nj_tile(a, oc, y, x0, nvalid, ic_begin, ic_end, (O), (N), 1); break;
#if NJ_NV == 1
#define NJ_CASE_O(O) NJ_CASE_N(O, 1)
#elif NJ_NV == 2
#define NJ_CASE_O(O) NJ_CASE_N(O, 1) NJ_CASE_N(O, 2)
#elif NJ_NV == 3
#define NJ_CASE_O(O) NJ_CASE_N(O, 1) NJ_CASE_N(O, 2) NJ_CASE_N(O, 3)
#elif NJ_NV == 4
#define NJ_CASE_O(O) NJ_CASE_N(O, 1) NJ_CASE_N(O, 2) NJ_CASE_N(O, 3) NJ_CASE_N(O, 4)
#else
#error "NJ_NV must be 1..4"
#endif
#ifndef NJ_FMA_PORTS
#define NJ_FMA_PORTS 0
#endif
#if NJ_OCB != 4 && NJ_OCB != 6 && NJ_OCB != 8 && NJ_OCB != 12
#error "NJ_OCB must be 4, 6, 8 or 12"
#endif

#ifndef NJ_IC_CHUNK
#define NJ_IC_CHUNK 0
#endif

NJ_TARGET void NJ_FN(const nj_args *a) {
    const int32_t width = a->width;
    const int32_t opg = a->out_channels / a->groups;
    const int32_t ipg = a->in_channels / a->groups;
    // Input channels per pass over a tile's channel blocks. The tile's input rows and one
    // block's weights must stay in L1 while every block reuses those rows: with 64 channels
    // of a 3x3 layer they are 56 KB (more than a 48 KB L1d) and both were refetched from L2
    // for every block. Chunks of NJ_IC_CHUNK channels keep them in L1; the partial sums go
    // through the output row (f32, exact), so only plain f32 outputs whose residual is not
    // the output itself are chunked.
    int32_t chunk = ipg;
#if NJ_IC_CHUNK > 0 && !NJ_F16_STORAGE && NJ_MASKED
    if (ipg > NJ_IC_CHUNK + NJ_IC_CHUNK / 2 && a->output_depth_to_space <= 1) {
        const char *out_lo = (const char *)a->output;
        const char *out_hi = (const char *)(a->output + (size_t)a->out_channels * a->output_channel_stride);
        const char *res_lo = (const char *)a->residual;
        const char *res_hi = (const char *)(a->residual + (size_t)a->out_channels * a->residual_channel_stride);
        if (a->residual == NULL || res_hi <= out_lo || out_hi <= res_lo) {
            chunk = NJ_IC_CHUNK;
        }
    }
#endif
    // Output channels per register block. With binary16 storage a depth-to-space-by-4 output
    // takes blocks of 4 where the block is not a multiple of 4: they store interleaved whole
    // vectors instead of one converted value at a time (AVX2 f16 3x3, conv32_8_cat.1, one
    // thread on Zen 3: 6x2 blocks, before V_ACC_BARRIER, 19.3-19.4 GMAC/s; 4x2 blocks 20.9-24.7).
    int32_t block = NJ_OCB;
#if NJ_F16_STORAGE && defined(NJ_HAS_INTERLEAVE4) && NJ_OCB % 4 != 0
    if (a->output_depth_to_space == 4 && opg % 4 == 0 && a->output_channel_base % 4 == 0) {
        block = 4;
    }
#endif
    for (int32_t y = a->row_begin; y < a->row_end; y++) {
        // x tiles outside, channel blocks inside: the input columns of a tile stay in L1
        // while every output channel block consumes them.
        for (int32_t x0 = 0; x0 < width; x0 += NJ_TILE) {
            const int32_t nvalid = width - x0 < NJ_TILE ? width - x0 : NJ_TILE;
            const int32_t nv = (nvalid + NJ_VL - 1) / NJ_VL;
            const int edge = x0 < NJ_PAD || x0 + nv * NJ_VL + NJ_PAD > width;
            for (int32_t g = 0; g < a->groups; g++) {
              for (int32_t ic_begin = 0; ic_begin < ipg; ic_begin += chunk) {
                // The last chunk takes the remainder (up to 1.5 chunks).
                const int32_t ic_end = ipg - ic_begin < chunk + chunk / 2 ? ipg : ic_begin + chunk;
                const int32_t oc_end = (g + 1) * opg;
                for (int32_t oc = g * opg; oc < oc_end;) {
                    const int32_t rem = oc_end - oc;
                    const int32_t ocb = rem >= block ? block : rem >= 4 ? 4 : rem >= 2 ? 2 : 1;
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
                if (ic_end == ipg) {
                    break;
                }
              }
            }
        }
    }
}

#define NJ_STR_(x) #x
#define NJ_STR(x) NJ_STR_(x)
#if NJ_F16_STORAGE
const nj_conv2d_f16_kernel NJ_KERNEL = {
    .run = NJ_FN,
    .name = "f16-conv2d-" NJ_STR(NJ_K) "x" NJ_STR(NJ_K) "-" NJ_ISA_LABEL "-" NJ_STR(NJ_OCB) "x" NJ_STR(NJ_NV),
    .isa = NJ_ISA_ID,
    .required_features = NJ_REQUIRED_FEATURES,
    .kernel_size = NJ_K,
    .weight_layout = NJ_WEIGHTS_GIHWO,
    .weight_dtype = NJ_DTYPE_F32,
    .channel_block = NJ_OCB,
    .fma_ports = NJ_FMA_PORTS,
    .half_sum_terms = 0,
};
#else
const nj_conv2d_f32_kernel NJ_KERNEL = {
    .run = NJ_FN,
    .name = "f32-conv2d-" NJ_STR(NJ_K) "x" NJ_STR(NJ_K) "-" NJ_ISA_LABEL "-" NJ_STR(NJ_OCB) "x" NJ_STR(NJ_NV),
    .isa = NJ_ISA_ID,
    .required_features = 0,
    .kernel_size = NJ_K,
    .weight_layout = NJ_WEIGHTS_GIHWO,
    .channel_block = NJ_OCB,
    .fma_ports = NJ_FMA_PORTS,
};
#endif

#undef NJ_STR
#undef NJ_STR_
#undef NJ_CASE_O
#undef NJ_CASE_N
#undef NJ_PAD
#undef NJ_TILE
#undef NJ_ALWAYS_INLINE
#undef NJ_UNROLL
#undef NJ_FMA_PORTS
#undef NJ_IC_CHUNK
#undef NJ_F16_STORAGE
#undef NJ_X2F
#undef NJ_F2X
#undef NJ_OUTPUT_ROW
