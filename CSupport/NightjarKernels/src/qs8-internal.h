// Internals of the qs8 family shared by the reference, the packer, the registry and the SIMD
// kernels (not part of the API).
#ifndef NJ_QS8_INTERNAL_H
#define NJ_QS8_INTERNAL_H

#include <string.h>

#include "nightjar_kernels.h"


// Input channels per 32-bit lane of a layout (1 for the reference and GCHWO_S16).
static inline int32_t nj_qs8_layout_lane_channels(nj_qs8_weight_layout layout) {
    switch (layout) {
        case NJ_QS8_WEIGHTS_GC4HWO4_S8:
        case NJ_QS8_WEIGHTS_GC4HWO4_S8_U8: return 4;
        case NJ_QS8_WEIGHTS_GC2HWO2_S16:
        case NJ_QS8_WEIGHTS_WINOGRAD_2X2_S16:
        case NJ_QS8_WEIGHTS_WINOGRAD_2X4_S16:
        case NJ_QS8_WEIGHTS_WINOGRAD_4X4_S16:
        case NJ_QS8_WEIGHTS_WINOGRAD_1X2_5X5_S16:
        case NJ_QS8_WEIGHTS_WINOGRAD_1X4_5X5_S16: return 2;
        default: return 1;
    }
}

// Bytes per weight of a layout.
static inline int32_t nj_qs8_layout_weight_bytes(nj_qs8_weight_layout layout) {
    return layout == NJ_QS8_WEIGHTS_OIHW_S8 || layout == NJ_QS8_WEIGHTS_GC4HWO4_S8 ||
                   layout == NJ_QS8_WEIGHTS_GC4HWO4_S8_U8
               ? 1
               : 2;
}

// Weights per (input, output channel) pair in a layout: the filter's k * k taps, the 16 points
// of a Winograd F(2x2, 3x3) tile, the 24 of an F(2, 3) x F(4, 3) one, the 36 of an F(4x4, 3x3)
// one, or 5 rows of F(2, 5)'s 6 or of F(4, 5)'s 8.
static inline int32_t nj_qs8_layout_taps(nj_qs8_weight_layout layout, int32_t kernel_size) {
    switch (layout) {
        case NJ_QS8_WEIGHTS_WINOGRAD_2X2_S16: return 16;
        case NJ_QS8_WEIGHTS_WINOGRAD_2X4_S16: return 24;
        case NJ_QS8_WEIGHTS_WINOGRAD_4X4_S16: return 36;
        case NJ_QS8_WEIGHTS_WINOGRAD_1X2_5X5_S16: return 30;
        case NJ_QS8_WEIGHTS_WINOGRAD_1X4_5X5_S16: return 40;
        default: return kernel_size * kernel_size;
    }
}

// Where output channel `oc` (of this call) at row y, column 0 is stored, and the bytes between
// its columns: 1, or r with a depth-to-space output (as nj_conv2d_output_row for f32).
static inline int8_t *nj_qs8_output_row(const nj_conv2d_qs8_args *a, int32_t oc, int32_t y,
                                        size_t *column_step) {
    const int32_t r = a->output_depth_to_space;
    if (r <= 1) {
        *column_step = 1;
        return a->output + (size_t)oc * a->output_channel_stride +
               (size_t)(y % a->output_rows) * a->width;
    }
    const int32_t c = a->output_channel_base + oc;
    *column_step = (size_t)r;
    return a->output + (size_t)(c / (r * r)) * a->output_channel_stride +
           (size_t)((y * r + (c / r) % r) % a->output_rows) * a->width * r + c % r;
}

// A depth-to-space by 4 output's shuffle quad (channels 4k .. 4k + 3 share a row, a byte each
// per pixel): values[j][x], channel j's finished value at pixel x, stored as one 32-bit word a
// pixel at out + 4x, x < count (little-endian hosts: the bytes of the store per value).
static inline void nj_qs8_store_quad_words(int8_t *out, const int8_t *v0, const int8_t *v1, const int8_t *v2,
                                           const int8_t *v3, int32_t count) {
    for (int32_t x = 0; x < count; x++) {
        const uint32_t word = (uint32_t)(uint8_t)v0[x] | (uint32_t)(uint8_t)v1[x] << 8 | (uint32_t)(uint8_t)v2[x] << 16 |
                              (uint32_t)(uint8_t)v3[x] << 24;
        memcpy(out + 4 * (size_t)x, &word, sizeof word);
    }
}

// The residual term: floor((d * m + 2^(s-1)) / 2^s), exact in 32 bits for |d| <= 255,
// m < 2^22, 1 <= s <= 30 (written in 64 bits so no C overflow rule is ever near).
static inline int32_t nj_qs8_requantize_residual(int32_t d, int32_t m, int32_t s) {
    const int64_t p = (int64_t)d * m + ((int64_t)1 << (s - 1));
    return (int32_t)(p >> s);  // arithmetic shift: floor
}

#endif
