// Scalar pixel shuffle / unshuffle (depth-to-space and space-to-depth), PyTorch's channel order,
// over a band of rows of ring buffers, so that streaming execution can use them on row windows.
// Data movement only, so one implementation per element size serves every datatype (f32, f16,
// qs8): NJ_SHUFFLE_FUNCTIONS below instantiates it for 1-, 2-, 4- and 8-byte elements.
//
// Each row of the full-resolution side is read or written once, front to back: an unshuffle
// deinterleaves one input row into r output rows, a shuffle interleaves r input rows into one
// output row. (Walking the r*r phases separately touched every full-resolution row r times
// with a stride of r elements.) Factors 2 and 4 have loops with a constant stride; clang turns
// the wider elements' into vector shuffles but not the bytes' (rows that might alias), so bytes
// by 4, the one unshuffle an int8 network runs (its 1/8 branch's input), have a loop of their
// own below.
#include <string.h>

#include "nightjar_kernels.h"

// Up to this factor (the network uses 2, 4 and 16).
#define NJ_MAX_FACTOR 16

// Bytes by 4 (an int8 network's 1/8-scale input): byte by byte, clang left this loop scalar
// (one load and one store per byte, 4 % of an int8 network's time on Zen 5); as one 32-bit word
// per output column, its bytes the four rows, with restrict rows, it vectorises: 2.1x faster.
static inline void deinterleave4_bytes(const uint8_t *in, uint8_t *const *out, int32_t n) {
    uint8_t *restrict o0 = out[0], *restrict o1 = out[1], *restrict o2 = out[2], *restrict o3 = out[3];
    const uint8_t *restrict s = in;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (int32_t x = 0; x < n; x++) {
        uint32_t v;
        memcpy(&v, s + 4 * (size_t)x, sizeof v);
        o0[x] = (uint8_t)v;
        o1[x] = (uint8_t)(v >> 8);
        o2[x] = (uint8_t)(v >> 16);
        o3[x] = (uint8_t)(v >> 24);
    }
#else
    for (int32_t x = 0; x < n; x++) {
        o0[x] = s[4 * x];
        o1[x] = s[4 * x + 1];
        o2[x] = s[4 * x + 2];
        o3[x] = s[4 * x + 3];
    }
#endif
}

#define NJ_SHUFFLE_FUNCTIONS(T, SUFFIX)                                                          \
    /* out[j][x] = in[x*r + j] for j < r, x < n. */                                              \
    static inline void deinterleave_##SUFFIX(const T *in, T *const *out, int32_t r, int32_t n) { \
        if (sizeof(T) == 1 && r == 4) {                                                          \
            deinterleave4_bytes((const uint8_t *)in, (uint8_t *const *)out, n);                  \
            return;                                                                              \
        }                                                                                        \
        if (r == 2) {                                                                            \
            for (int32_t x = 0; x < n; x++) {                                                    \
                out[0][x] = in[2 * x];                                                           \
                out[1][x] = in[2 * x + 1];                                                       \
            }                                                                                    \
        } else if (r == 4) {                                                                     \
            for (int32_t x = 0; x < n; x++) {                                                    \
                out[0][x] = in[4 * x];                                                           \
                out[1][x] = in[4 * x + 1];                                                       \
                out[2][x] = in[4 * x + 2];                                                       \
                out[3][x] = in[4 * x + 3];                                                       \
            }                                                                                    \
        } else {                                                                                 \
            for (int32_t x = 0; x < n; x++) {                                                    \
                for (int32_t j = 0; j < r; j++) out[j][x] = in[(size_t)x * r + j];               \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    /* out[x*r + j] = in[j][x] for j < r, x < n. */                                              \
    static inline void interleave_##SUFFIX(const T *const *in, T *out, int32_t r, int32_t n) {   \
        if (r == 2) {                                                                            \
            for (int32_t x = 0; x < n; x++) {                                                    \
                out[2 * x] = in[0][x];                                                           \
                out[2 * x + 1] = in[1][x];                                                       \
            }                                                                                    \
        } else if (r == 4) {                                                                     \
            for (int32_t x = 0; x < n; x++) {                                                    \
                out[4 * x] = in[0][x];                                                           \
                out[4 * x + 1] = in[1][x];                                                       \
                out[4 * x + 2] = in[2][x];                                                       \
                out[4 * x + 3] = in[3][x];                                                       \
            }                                                                                    \
        } else {                                                                                 \
            for (int32_t x = 0; x < n; x++) {                                                    \
                for (int32_t j = 0; j < r; j++) out[(size_t)x * r + j] = in[j][x];               \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    static void unshuffle_##SUFFIX(const T *input, size_t input_channel_stride, int32_t input_rows, \
                                   int32_t channels, int32_t width, int32_t r, int32_t row_begin, \
                                   int32_t row_end, T *output, size_t output_channel_stride,     \
                                   int32_t output_rows) {                                        \
        const int32_t ow = width / r;                                                            \
        T *out[NJ_MAX_FACTOR];                                                                   \
        for (int32_t c = 0; c < channels; c++) {                                                 \
            for (int32_t y = row_begin; y < row_end; y++) {                                      \
                for (int32_t i = 0; i < r; i++) {                                                \
                    const T *in_row = input + c * input_channel_stride +                         \
                                      (size_t)((y * r + i) % input_rows) * width;                \
                    for (int32_t j = 0; j < r; j++) {                                            \
                        out[j] = output + (size_t)((c * r + i) * r + j) * output_channel_stride + \
                                 (size_t)(y % output_rows) * ow;                                 \
                    }                                                                            \
                    deinterleave_##SUFFIX(in_row, out, r, ow);                                   \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    static void shuffle_##SUFFIX(const T *input, size_t input_channel_stride, int32_t input_rows, \
                                 int32_t channels, int32_t width, int32_t r, int32_t row_begin,  \
                                 int32_t row_end, T *output, size_t output_channel_stride,       \
                                 int32_t output_rows) {                                          \
        const int32_t oc = channels / (r * r), ow = width * r;                                   \
        const T *in[NJ_MAX_FACTOR];                                                              \
        for (int32_t c = 0; c < oc; c++) {                                                       \
            for (int32_t y = row_begin; y < row_end; y++) {                                      \
                for (int32_t i = 0; i < r; i++) {                                                \
                    for (int32_t j = 0; j < r; j++) {                                            \
                        in[j] = input + (size_t)((c * r + i) * r + j) * input_channel_stride +   \
                                (size_t)(y % input_rows) * width;                                \
                    }                                                                            \
                    interleave_##SUFFIX(in, output + c * output_channel_stride +                 \
                                                (size_t)((y * r + i) % output_rows) * ow,        \
                                        r, width);                                               \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

NJ_SHUFFLE_FUNCTIONS(uint8_t, 1)
NJ_SHUFFLE_FUNCTIONS(uint16_t, 2)
NJ_SHUFFLE_FUNCTIONS(float, 4)
NJ_SHUFFLE_FUNCTIONS(uint64_t, 8)

#define NJ_DISPATCH_BY_SIZE(OP)                                                                  \
    if (r < 1 || r > NJ_MAX_FACTOR) return;                                                      \
    switch (element_size) {                                                                      \
        case 1: OP##_1(input, input_channel_stride, input_rows, channels, width, r, row_begin,   \
                       row_end, output, output_channel_stride, output_rows); break;              \
        case 2: OP##_2(input, input_channel_stride, input_rows, channels, width, r, row_begin,   \
                       row_end, output, output_channel_stride, output_rows); break;              \
        case 4: OP##_4(input, input_channel_stride, input_rows, channels, width, r, row_begin,   \
                       row_end, output, output_channel_stride, output_rows); break;              \
        case 8: OP##_8(input, input_channel_stride, input_rows, channels, width, r, row_begin,   \
                       row_end, output, output_channel_stride, output_rows); break;              \
        default: break;                                                                          \
    }

void nj_pixel_unshuffle_scalar(size_t element_size, const void *input, size_t input_channel_stride,
                               int32_t input_rows, int32_t channels, int32_t width, int32_t r,
                               int32_t row_begin, int32_t row_end,
                               void *output, size_t output_channel_stride, int32_t output_rows) {
    NJ_DISPATCH_BY_SIZE(unshuffle)
}

void nj_pixel_shuffle_scalar(size_t element_size, const void *input, size_t input_channel_stride,
                             int32_t input_rows, int32_t channels, int32_t width, int32_t r,
                             int32_t row_begin, int32_t row_end,
                             void *output, size_t output_channel_stride, int32_t output_rows) {
    NJ_DISPATCH_BY_SIZE(shuffle)
}

void nj_f32_pixel_unshuffle_scalar(const float *input, size_t input_channel_stride, int32_t input_rows,
                                   int32_t channels, int32_t width, int32_t r,
                                   int32_t row_begin, int32_t row_end,
                                   float *output, size_t output_channel_stride, int32_t output_rows) {
    if (r < 1 || r > NJ_MAX_FACTOR) return;
    unshuffle_4(input, input_channel_stride, input_rows, channels, width, r, row_begin, row_end,
                output, output_channel_stride, output_rows);
}

void nj_f32_pixel_shuffle_scalar(const float *input, size_t input_channel_stride, int32_t input_rows,
                                 int32_t channels, int32_t width, int32_t r,
                                 int32_t row_begin, int32_t row_end,
                                 float *output, size_t output_channel_stride, int32_t output_rows) {
    if (r < 1 || r > NJ_MAX_FACTOR) return;
    shuffle_4(input, input_channel_stride, input_rows, channels, width, r, row_begin, row_end,
              output, output_channel_stride, output_rows);
}
