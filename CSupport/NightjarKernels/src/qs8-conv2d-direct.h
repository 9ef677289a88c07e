// Template of the qs8 direct convolution kernels (internal header, no include guard: included
// exactly once by each qs8-conv2d-KxK-ISA-TILE.c file).
//
// The including file first includes one nj-qs8-simd-ISA.h (the ISA's vocabulary: nj_qacc,
// nj_qin, nj_qw, nj_qstage, nj_qwt, NJ_Q_VL, NJ_Q_LANE_CH, NJ_Q_FLIP, NJ_Q_TARGET, NJ_Q_ISA_ID,
// NJ_Q_ISA_LABEL, NJ_Q_FEATURES, NJ_Q_LAYOUT, Q_SET1, Q_LOAD_IN, Q_LOAD_W, Q_DOT and
// nj_q_finish) and defines NJ_K (1, 3, 5), NJ_OCB (4, 6 or 8), NJ_NV (1..4), NJ_FN, NJ_KERNEL,
// and optionally NJ_SUPPORTS (the kernel's `supports`: the geometries it takes), or NJ_FOLD_K
// and NJ_FOLD_SUPPORTS (a name for its `supports`) for a kernel with a folded input (see
// nightjar_kernels_qs8.h): the fold input staged beside the input, its taps added after the
// main sum's change of scale, and the few output columns in another border class than the
// tile's middle one done again, one vector each.
//
// Design. The dot-product instructions (VPDPBUSD, SDOT, VPMADDWD) add up NJ_Q_LANE_CH adjacent
// bytes or halves of each 32-bit lane, so each lane must hold one pixel's values of
// NJ_Q_LANE_CH input channels, while the tensors are planar. For a band of output rows and a
// tile of NV vectors along x, the kernel therefore stages the group's input rows once, channel-
// interleaved (and sign-extended to int16, or flipped to unsigned for VNNI), with the padding
// (the input zero point) written in: borders, tails and rings are handled there, and the inner
// loop is plain unaligned loads, one broadcast weight lane per output channel and OCB x NV dot
// products. The staging area lives on the stack (at most NJ_Q_STAGE_BYTES, which caps the
// group's input channels: max_group_inputs); the band is as tall as fits (up to 16 rows, or the
// rows asked for), then the staged span as wide as fits (up to NJ_STAGE_TILES register tiles).
// Every input row is staged once per span and band instead of once per kernel row. A wide span
// matters: the streaming engine asks for one or two rows at a time, and a span of one tile read
// 34 bytes of each channel row per staging, every row's cache line fetched again for the next
// tile (half the kernel's time went to staging at 1/8 scale).
//
// Requantisation (nj_q_finish) computes exactly the reference's integers: the 64-bit products
// with the rounding constant, their high halves shifted by shift - 32, the residual term in 32
// bits, the output zero point, and a saturating narrow to int8.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "qs8-internal.h"

#define NJ_PAD ((NJ_K - 1) / 2)
#define NJ_TILE (NJ_NV * NJ_Q_VL)
#define NJ_SPAN (NJ_TILE + NJ_K - 1)                                // staged columns of one tile
#define NJ_UNIT_BYTES (NJ_Q_LANE_CH * (int32_t)sizeof(nj_qstage))  // one pixel of a lane
#define NJ_ROW_BYTES (NJ_SPAN * NJ_UNIT_BYTES)
#define NJ_STAGE_TILES 4                                            // the widest span, in tiles
#ifndef NJ_Q_STAGE_BYTES
#define NJ_Q_STAGE_BYTES 32768
#endif
#define NJ_ALWAYS_INLINE inline __attribute__((always_inline))
#define NJ_UNROLL _Pragma("GCC unroll 16")
// The x86 5x5 kernels (and bench_qs8_fusion.c's 9x9) keep the kernel-row loop: fully unrolled
// (25 taps), clang scheduled loads so far ahead that accumulators spilled (AVX-512 VNNI: 285
// stack accesses per 400 dot products; the kernel ran 20-25 % faster without the unroll).
// AArch64's NEON forms did not spill (32 registers, fewer in flight) and stay unrolled; 3x3
// measured no gain either way.
#if NJ_K >= 5 && defined(__x86_64__)
#define NJ_KY_UNROLL _Pragma("GCC unroll 1")
#else
#define NJ_KY_UNROLL NJ_UNROLL
#endif

static NJ_ALWAYS_INLINE int32_t nj_q_load32(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#if !NJ_Q_HAVE_STAGE_SPAN
// dst[i][j] = src[j][c0 + i] (flipped or widened) for n columns; channels without a row (past
// the group's count) get `fill`.
static NJ_ALWAYS_INLINE NJ_Q_TARGET void nj_q_stage_span(nj_qstage *dst, const int8_t *const *src,
                                                         int32_t c0, int32_t n, nj_qstage fill) {
    for (int j = 0; j < NJ_Q_LANE_CH; j++) {
        if (!src[j]) {
            for (int32_t i = 0; i < n; i++) dst[i * NJ_Q_LANE_CH + j] = fill;
            continue;
        }
        const int8_t *s = src[j] + c0;
        for (int32_t i = 0; i < n; i++) dst[i * NJ_Q_LANE_CH + j] = (nj_qstage)(s[i] ^ NJ_Q_FLIP);
    }
}
#endif

// Stages input rows [iy0, iy0 + rows) of one group, columns [x0 - PAD, x0 - PAD + used), as
// stage[lane unit][row][column][NJ_Q_LANE_CH] with rows `span` columns apart; outside the image
// (and channels past the group's count) the zero point. `used` (at most span) is what the
// tiles read: narrower than the span at the plane's right edge, where filling the whole span
// with the zero point cost more than the dot products of a narrow grouped layer (conv32x.0: 133
// columns in spans of 194). Rows outer: each row's ring position is found once.
static NJ_ALWAYS_INLINE NJ_Q_TARGET void nj_q_stage_planes(const int8_t *input, size_t channel_stride,
                                                           int32_t input_rows, int32_t height, int32_t width,
                                                           int32_t zero_point, int32_t pad, nj_qstage *stage,
                                                           int32_t ic0, int32_t ipg, int32_t iy0, int32_t rows,
                                                           int32_t x0, int32_t span, int32_t used) {
    const int32_t units = (ipg + NJ_Q_LANE_CH - 1) / NJ_Q_LANE_CH;
    const nj_qstage fill = (nj_qstage)(NJ_Q_FLIP ? (zero_point ^ NJ_Q_FLIP) : zero_point);
    const int32_t xs = x0 - pad;                     // image column of staged column 0
    const int32_t c_lo = xs < 0 ? -xs : 0;           // staged columns inside the image
    const int32_t c_hi = width - xs < used ? width - xs : used;
    const size_t row_elements = (size_t)span * NJ_Q_LANE_CH;
    const size_t used_elements = (size_t)used * NJ_Q_LANE_CH;
    for (int32_t r = 0; r < rows; r++) {
        const int32_t iy = iy0 + r;
        const int inside = iy >= 0 && iy < height && c_lo < c_hi;
        const int8_t *row = inside ? input + (size_t)ic0 * channel_stride + (size_t)(iy % input_rows) * width + xs
                                   : NULL;
        for (int32_t u = 0; u < units; u++) {
            nj_qstage *dst = stage + ((size_t)u * rows + r) * row_elements;
            if (!inside) {
                for (size_t i = 0; i < used_elements; i++) dst[i] = fill;
                continue;
            }
            const int8_t *src[NJ_Q_LANE_CH];
            for (int j = 0; j < NJ_Q_LANE_CH; j++) {
                const int32_t c = u * NJ_Q_LANE_CH + j;
                src[j] = c < ipg ? row + (size_t)c * channel_stride : NULL;
            }
            for (int32_t i = 0; i < c_lo * NJ_Q_LANE_CH; i++) dst[i] = fill;
            for (size_t i = (size_t)c_hi * NJ_Q_LANE_CH; i < used_elements; i++) dst[i] = fill;
            nj_q_stage_span(dst + c_lo * NJ_Q_LANE_CH, src, c_lo, c_hi - c_lo, fill);
        }
    }
}
static NJ_ALWAYS_INLINE NJ_Q_TARGET void nj_q_stage(const nj_conv2d_qs8_args *a, nj_qstage *stage,
                                                    int32_t ic0, int32_t ipg, int32_t iy0, int32_t rows,
                                                    int32_t x0, int32_t span, int32_t used) {
    nj_q_stage_planes(a->input, a->input_channel_stride, a->input_rows, a->height, a->width,
                      a->params->input_zero_point, NJ_PAD, stage, ic0, ipg, iy0, rows, x0, span, used);
}

// Output channel oc's NV vectors of one tile finished into dst (NV * NJ_Q_VL bytes; the values
// past nvalid are not output): requantised, the residual added (its tail read through a zeroed
// copy, never past the row), the zero point, saturated.
static NJ_ALWAYS_INLINE NJ_Q_TARGET void nj_q_finish_channel(const nj_conv2d_qs8_args *a, const nj_qacc *acc, int32_t oc,
                                                             int32_t y, int32_t x0, int32_t nvalid, const int NV,
                                                             int8_t *dst) {
    const nj_conv2d_qs8_params *p = a->params;
    const int8_t *res = a->residual ? a->residual + (size_t)oc * a->residual_channel_stride +
                                          (size_t)(y % a->residual_rows) * a->width + x0
                                    : NULL;
    const int32_t m = p->multiplier[oc], mneg = p->negative_multiplier[oc], shift = p->shift[oc];
    NJ_UNROLL for (int v = 0; v < NV; v++) {
        const int32_t n = nvalid - v * NJ_Q_VL;
        const int8_t *rv = res ? res + v * NJ_Q_VL : NULL;
        int8_t res_tmp[NJ_Q_VL];
        if (res && n < NJ_Q_VL) {
            memset(res_tmp, 0, sizeof res_tmp);
            memcpy(res_tmp, rv, (size_t)n);
            rv = res_tmp;
        }
        nj_q_finish(acc[v], m, mneg, shift, rv, p, dst + v * NJ_Q_VL);
    }
}

// The tile's accumulators finished and stored: requantise, residual, zero point, saturate;
// one store per vector (or one per value, r bytes apart, with a depth-to-space output).
static NJ_ALWAYS_INLINE NJ_Q_TARGET void nj_q_store_tile(const nj_conv2d_qs8_args *a, nj_qacc (*acc)[NJ_NV],
                                                         int32_t oc0, int32_t y, int32_t x0, int32_t nvalid,
                                                         const int OCB, const int NV) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    // Pixel shuffle by 4: output channels 4k..4k+3 fill one output row, four bytes per input
    // pixel, so their values are finished into a buffer and stored four at a time, one 32-bit
    // word per pixel (the same bytes as the store per value below, which took a thirteenth of
    // the int8 3x3 kernel's time in the network, byte stores 4 bytes apart).
    if (a->output_depth_to_space == 4 && OCB % 4 == 0 && (a->output_channel_base + oc0) % 4 == 0) {
        NJ_UNROLL for (int o = 0; o < OCB; o += 4) {
            int8_t values[4][NJ_NV * NJ_Q_VL];
            NJ_UNROLL for (int j = 0; j < 4; j++) nj_q_finish_channel(a, acc[o + j], oc0 + o + j, y, x0, nvalid, NV, values[j]);
            size_t step;
            int8_t *out = nj_qs8_output_row(a, oc0 + o, y, &step) + (size_t)x0 * 4;
            nj_qs8_store_quad_words(out, values[0], values[1], values[2], values[3], nvalid);
        }
        return;
    }
#endif
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        size_t step;
        int8_t *out = nj_qs8_output_row(a, oc0 + o, y, &step) + (size_t)x0 * step;
        if (step == 1 && nvalid == NV * NJ_Q_VL) {
            nj_q_finish_channel(a, acc[o], oc0 + o, y, x0, nvalid, NV, out);
        } else {
            int8_t values[NJ_NV * NJ_Q_VL];
            nj_q_finish_channel(a, acc[o], oc0 + o, y, x0, nvalid, NV, values);
            for (int32_t i = 0; i < nvalid; i++) out[(size_t)i * step] = values[i];
        }
    }
}

// One register tile; `stage` points at the tile's first staged column, rows `span` columns apart.
// acc[o][v] += one kernel row's K taps for vectors 0 .. NV - 1: `src` the row's staged column
// under the first tap of vector 0, `w_row` the row's weights (taps `wstride` elements apart).
static NJ_ALWAYS_INLINE NJ_Q_TARGET void nj_q_row_dots(nj_qacc (*acc)[NJ_NV], const nj_qstage *src, const nj_qwt *w_row,
                                                       size_t wstride, const int K, const int OCB, const int NV) {
    NJ_UNROLL for (int kx = 0; kx < K; kx++) {
        nj_qin in[NJ_NV];
        NJ_UNROLL for (int v = 0; v < NV; v++) in[v] = Q_LOAD_IN(src + (size_t)(kx + v * NJ_Q_VL) * NJ_Q_LANE_CH);
        const nj_qwt *w_tap = w_row + (size_t)kx * wstride;
        NJ_UNROLL for (int o = 0; o < OCB; o++) {
            const nj_qw w = Q_LOAD_W(w_tap + o * NJ_Q_LANE_CH);
            NJ_UNROLL for (int v = 0; v < NV; v++) acc[o][v] = Q_DOT(acc[o][v], in[v], w);
        }
    }
}

#ifdef NJ_FOLD_K
#define NJ_FOLD_PAD ((NJ_FOLD_K - 1) / 2)
// A folded input's part of a tile (see nightjar_kernels_qs8.h): acc = (acc << fold_shift) +
// F[cls], then the fold's taps of class `cls` on vectors v0 .. v0 + NV - 1 of the tile into
// acc[o][0 .. NV - 1]; `stage` is the fold input's staging at the tile's first column.
static NJ_ALWAYS_INLINE NJ_Q_TARGET void nj_q_fold_add(const nj_conv2d_qs8_args *a, nj_qacc (*acc)[NJ_NV],
                                                       const nj_qstage *stage, int32_t span, int32_t staged_rows,
                                                       int32_t band_row, int32_t oc0, int32_t cls, int32_t v0,
                                                       const int OCB, const int NV) {
    const nj_conv2d_qs8_params *p = a->params;
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        const int32_t k = p->fold_shift[oc0 + o], f = p->fold_bias[(size_t)cls * p->class_stride + oc0 + o];
        NJ_UNROLL for (int v = 0; v < NV; v++) acc[o][v] = Q_SHIFT_ADD(acc[o][v], k, f);
    }
    const int32_t units = (a->fold_in_channels + NJ_Q_LANE_CH - 1) / NJ_Q_LANE_CH;
    const size_t wstride = (size_t)a->weight_stride * NJ_Q_LANE_CH;
    const nj_qwt *wbase = (const nj_qwt *)p->fold_weights + (size_t)cls * p->fold_class_weights +
                          (size_t)oc0 * NJ_Q_LANE_CH;
    const nj_qstage *first = stage + (size_t)v0 * NJ_Q_VL * NJ_Q_LANE_CH;
    for (int32_t u = 0; u < units; u++) {
        _Pragma("GCC unroll 1") for (int ky = 0; ky < NJ_FOLD_K; ky++) {
            const nj_qstage *src = first + ((size_t)u * staged_rows + band_row + ky) * span * NJ_Q_LANE_CH;
            nj_q_row_dots(acc, src, wbase + ((size_t)u * NJ_FOLD_K + ky) * NJ_FOLD_K * wstride, wstride, NJ_FOLD_K, OCB, NV);
        }
    }
}
#endif

// With a folded input (NJ_FOLD_K), `fold_stage` is the fold input's staging at the same
// column, rows `fold_span` apart, `fold_rows` per unit (NULL and unused otherwise).
static NJ_ALWAYS_INLINE NJ_Q_TARGET void nj_q_tile(const nj_conv2d_qs8_args *a, const nj_qstage *stage,
                                                   int32_t span, int32_t staged_rows, int32_t oc0, int32_t y,
                                                   int32_t band_row, int32_t x0, int32_t nvalid,
                                                   const nj_qstage *fold_stage, int32_t fold_span, int32_t fold_rows,
                                                   const int OCB, const int NV) {
    const nj_conv2d_qs8_params *p = a->params;
#ifdef NJ_FOLD_K
    // The bias of the row's class with the middle column class (the edge columns are redone).
    const int32_t row_class = nj_qs8_border_class(y, a->height, NJ_PAD);
    const int32_t middle = row_class * NJ_K + NJ_PAD;
    const int32_t *bias = p->bias + (size_t)middle * p->class_stride;
#else
    const int32_t *bias = p->bias;
    (void)fold_stage;
    (void)fold_span;
    (void)fold_rows;
#endif
    const int32_t ipg = a->in_channels / a->groups;
    const int32_t opg = a->out_channels / a->groups;
    const int32_t units = (ipg + NJ_Q_LANE_CH - 1) / NJ_Q_LANE_CH;
    const int32_t group = oc0 / opg;
    const size_t wstride = (size_t)a->weight_stride * NJ_Q_LANE_CH;  // elements between taps
    const nj_qwt *wbase = (const nj_qwt *)a->weights + (size_t)group * units * NJ_K * NJ_K * wstride +
                          (size_t)(oc0 - group * opg) * NJ_Q_LANE_CH;

    nj_qacc acc[NJ_OCB][NJ_NV];
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        const nj_qacc b = Q_SET1(bias[oc0 + o]);
        NJ_UNROLL for (int v = 0; v < NV; v++) acc[o][v] = b;
    }
    for (int32_t u = 0; u < units; u++) {
        NJ_KY_UNROLL for (int ky = 0; ky < NJ_K; ky++) {
            const nj_qstage *src = stage + ((size_t)u * staged_rows + band_row + ky) * span * NJ_Q_LANE_CH;
            nj_q_row_dots(acc, src, wbase + ((size_t)u * NJ_K + ky) * NJ_K * wstride, wstride, NJ_K, OCB, NV);
        }
    }

#ifdef NJ_FOLD_K
    const int32_t width = a->width;
    if (x0 >= NJ_PAD && x0 + nvalid <= width - NJ_PAD) {
        nj_q_fold_add(a, acc, fold_stage, fold_span, fold_rows, band_row, oc0, middle, 0, OCB, NV);
        nj_q_store_tile(a, acc, oc0, y, x0, nvalid, OCB, NV);
        return;
    }
    // A tile with edge columns: the middle class for all, then each edge column's vector again
    // with its own class (the main sum kept, its bias changed).
    nj_qacc main_sum[NJ_OCB][NJ_NV];
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        NJ_UNROLL for (int v = 0; v < NV; v++) main_sum[o][v] = acc[o][v];
    }
    nj_q_fold_add(a, acc, fold_stage, fold_span, fold_rows, band_row, oc0, middle, 0, OCB, NV);
    int8_t values[NJ_OCB][NJ_NV * NJ_Q_VL];
    NJ_UNROLL for (int o = 0; o < OCB; o++) nj_q_finish_channel(a, acc[o], oc0 + o, y, x0, nvalid, NV, values[o]);
    for (int32_t x = x0; x < x0 + nvalid; x++) {
        const int32_t column_class = nj_qs8_border_class(x, width, NJ_PAD);
        if (column_class == NJ_PAD) {
            if (x + 1 < width - NJ_PAD) x = width - NJ_PAD - 1;  // on to the right edge
            continue;
        }
        const int32_t c = row_class * NJ_K + column_class, v = (x - x0) / NJ_Q_VL;
        nj_qacc e[NJ_OCB][NJ_NV];
        NJ_UNROLL for (int o = 0; o < OCB; o++) {
            const int32_t change = p->bias[(size_t)c * p->class_stride + oc0 + o] - bias[oc0 + o];
            e[o][0] = Q_SHIFT_ADD(main_sum[o][v], 0, change);
        }
        nj_q_fold_add(a, e, fold_stage, fold_span, fold_rows, band_row, oc0, c, v, OCB, 1);
        const int32_t n = nvalid - v * NJ_Q_VL < NJ_Q_VL ? nvalid - v * NJ_Q_VL : NJ_Q_VL;
        NJ_UNROLL for (int o = 0; o < OCB; o++) {
            int8_t one[NJ_Q_VL];
            nj_q_finish_channel(a, e[o], oc0 + o, y, x0 + v * NJ_Q_VL, n, 1, one);
            values[o][x - x0] = one[x - x0 - v * NJ_Q_VL];
        }
    }
    NJ_UNROLL for (int o = 0; o < OCB; o++) {
        size_t step;
        int8_t *out = nj_qs8_output_row(a, oc0 + o, y, &step) + (size_t)x0 * step;
        for (int32_t i = 0; i < nvalid; i++) out[(size_t)i * step] = values[o][i];
    }
#else
    nj_q_store_tile(a, acc, oc0, y, x0, nvalid, OCB, NV);
#endif
}

#ifdef NJ_FOLD_K
#define NJ_FOLD_TILE_ARGS fold_stage + (size_t)(x0 - xs0) * NJ_Q_LANE_CH, fold_span, fold_rows
#else
#define NJ_FOLD_TILE_ARGS NULL, 0, 0
#endif
#define NJ_CASE_N(O, N) \
    case (O) * 8 + (N):                                                                            \
        nj_q_tile(a, stage + (size_t)(x0 - xs0) * NJ_Q_LANE_CH, span, staged_rows, oc, y, y - y0, x0, nvalid, \
                  NJ_FOLD_TILE_ARGS, (O), (N));                                                    \
        break;
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
#if NJ_OCB != 4 && NJ_OCB != 6 && NJ_OCB != 8
#error "NJ_OCB must be 4, 6 or 8"
#endif

// Staging rows per lane unit that fit in spans of `tiles` tiles (the band is this minus K - 1).
#define NJ_STAGE_ROWS_FOR(units, tiles) \
    (NJ_Q_STAGE_BYTES / ((units) * ((tiles) * NJ_TILE + NJ_K - 1) * NJ_UNIT_BYTES))
#ifdef NJ_FOLD_K
#define NJ_FOLD_STAGE_ROWS_FOR(units, tiles) \
    (NJ_Q_STAGE_BYTES / ((units) * ((tiles) * NJ_TILE + NJ_FOLD_K - 1) * NJ_UNIT_BYTES))
// The fold input's staging must hold one tile's rows (max_group_inputs covers the input's).
// (With the including file's own test, if it has one.)
static int NJ_FOLD_SUPPORTS(const nj_conv2d_qs8_args *g) {
    const int32_t units = (g->fold_in_channels + NJ_Q_LANE_CH - 1) / NJ_Q_LANE_CH;
    return g->groups == 1 && units >= 1 && NJ_FOLD_STAGE_ROWS_FOR(units, 1) >= NJ_FOLD_K
#ifdef NJ_SUPPORTS
           && NJ_SUPPORTS(g)
#endif
        ;
}
#undef NJ_SUPPORTS
#define NJ_SUPPORTS NJ_FOLD_SUPPORTS
#endif

NJ_Q_TARGET void NJ_FN(const nj_conv2d_qs8_args *a) {
    _Alignas(64) nj_qstage stage[NJ_Q_STAGE_BYTES / sizeof(nj_qstage)];
    const int32_t width = a->width;
    const int32_t ipg = a->in_channels / a->groups;
    const int32_t opg = a->out_channels / a->groups;
    const int32_t units = (ipg + NJ_Q_LANE_CH - 1) / NJ_Q_LANE_CH;
    // The band first (each band stages K - 1 rows more than it computes), then the span.
    const int32_t asked = a->row_end - a->row_begin < 16 ? a->row_end - a->row_begin : 16;
    int32_t tiles = NJ_STAGE_TILES;
#ifdef NJ_FOLD_K
    // The folded input staged beside the input, in its own area: the band fits both.
    _Alignas(64) nj_qstage fold_stage[NJ_Q_STAGE_BYTES / sizeof(nj_qstage)];
    const int32_t fold_units = (a->fold_in_channels + NJ_Q_LANE_CH - 1) / NJ_Q_LANE_CH;
    while (tiles > 1 && ((tiles / 2) * NJ_TILE >= width || NJ_STAGE_ROWS_FOR(units, tiles) < asked + NJ_K - 1 ||
                         NJ_FOLD_STAGE_ROWS_FOR(fold_units, tiles) < asked + NJ_FOLD_K - 1)) {
        tiles /= 2;
    }
    const int32_t fold_span = tiles * NJ_TILE + NJ_FOLD_K - 1;
    int32_t band = NJ_STAGE_ROWS_FOR(units, tiles) - (NJ_K - 1);
    if (band > NJ_FOLD_STAGE_ROWS_FOR(fold_units, tiles) - (NJ_FOLD_K - 1)) {
        band = NJ_FOLD_STAGE_ROWS_FOR(fold_units, tiles) - (NJ_FOLD_K - 1);
    }
#else
    while (tiles > 1 && ((tiles / 2) * NJ_TILE >= width || NJ_STAGE_ROWS_FOR(units, tiles) < asked + NJ_K - 1)) {
        tiles /= 2;
    }
    int32_t band = NJ_STAGE_ROWS_FOR(units, tiles) - (NJ_K - 1);
#endif
    const int32_t span = tiles * NJ_TILE + NJ_K - 1;
    if (band < 1) return;  // selection never picks this kernel for so many inputs per group
    if (band > 16) band = 16;
    for (int32_t y0 = a->row_begin; y0 < a->row_end; y0 += band) {
        const int32_t y1 = y0 + band < a->row_end ? y0 + band : a->row_end;
        const int32_t staged_rows = y1 - y0 + NJ_K - 1;
#ifdef NJ_FOLD_K
        const int32_t fold_rows = y1 - y0 + NJ_FOLD_K - 1;
#endif
        for (int32_t xs0 = 0; xs0 < width; xs0 += tiles * NJ_TILE) {
            const int32_t xs1 = xs0 + tiles * NJ_TILE < width ? xs0 + tiles * NJ_TILE : width;
            // The columns the span's tiles read: whole vectors, and the kernel's reach.
            const int32_t used = (xs1 - xs0 + NJ_Q_VL - 1) / NJ_Q_VL * NJ_Q_VL + NJ_K - 1;
            for (int32_t g = 0; g < a->groups; g++) {
                nj_q_stage(a, stage, g * ipg, ipg, y0 - NJ_PAD, staged_rows, xs0, span, used);
#ifdef NJ_FOLD_K
                nj_q_stage_planes(a->fold_input, a->fold_input_channel_stride, a->fold_input_rows, a->height, width,
                                  a->params->fold_input_zero_point, NJ_FOLD_PAD, fold_stage, 0, a->fold_in_channels,
                                  y0 - NJ_FOLD_PAD, fold_rows, xs0, fold_span, used + NJ_FOLD_K - NJ_K);
#endif
                for (int32_t x0 = xs0; x0 < xs1; x0 += NJ_TILE) {
                    const int32_t nvalid = width - x0 < NJ_TILE ? width - x0 : NJ_TILE;
                    const int32_t nv = (nvalid + NJ_Q_VL - 1) / NJ_Q_VL;
                    for (int32_t y = y0; y < y1; y++) {
                        const int32_t oc_end = (g + 1) * opg;
                        for (int32_t oc = g * opg; oc < oc_end;) {
                            const int32_t rem = oc_end - oc;
                            const int32_t ocb = rem >= NJ_OCB ? NJ_OCB : rem >= 4 ? 4 : rem >= 2 ? 2 : 1;
                            switch (ocb * 8 + nv) {
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
    }
}

#define NJ_STR_(x) #x
#define NJ_STR(x) NJ_STR_(x)
#ifdef NJ_FOLD_K
#define NJ_GEOMETRY_LABEL NJ_STR(NJ_K) "x" NJ_STR(NJ_K) "-fold" NJ_STR(NJ_FOLD_K) "x" NJ_STR(NJ_FOLD_K)
#else
#define NJ_GEOMETRY_LABEL NJ_STR(NJ_K) "x" NJ_STR(NJ_K)
#endif
const nj_conv2d_qs8_kernel NJ_KERNEL = {
    .run = NJ_FN,
    .name = "qs8-conv2d-" NJ_GEOMETRY_LABEL "-" NJ_Q_ISA_LABEL "-" NJ_STR(NJ_OCB) "x" NJ_STR(NJ_NV),
    .isa = NJ_Q_ISA_ID,
    .required_features = NJ_Q_FEATURES,
    .kernel_size = NJ_K,
    .weight_layout = NJ_Q_LAYOUT,
    .channel_block = NJ_OCB,
    .fma_ports = 0,
    .max_group_inputs = (NJ_Q_STAGE_BYTES / (NJ_K * NJ_ROW_BYTES)) * NJ_Q_LANE_CH,
    .row_block = 1,
#ifdef NJ_SUPPORTS
    .supports = NJ_SUPPORTS,
#else
    .supports = NULL,
#endif
#ifdef NJ_FOLD_K
    .fold_kernel_size = NJ_FOLD_K,
#endif
};

#undef NJ_SUPPORTS
#undef NJ_GEOMETRY_LABEL
#undef NJ_FOLD_TILE_ARGS
#undef NJ_FOLD_STAGE_ROWS_FOR
#undef NJ_FOLD_PAD
#undef NJ_FOLD_SUPPORTS
#undef NJ_STR
#undef NJ_STR_
#undef NJ_CASE_O
#undef NJ_CASE_N
#undef NJ_STAGE_ROWS_FOR
#undef NJ_STAGE_TILES
#undef NJ_PAD
#undef NJ_TILE
#undef NJ_SPAN
#undef NJ_UNIT_BYTES
#undef NJ_ROW_BYTES
#undef NJ_ALWAYS_INLINE
#undef NJ_UNROLL
