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
// by 4, the one unshuffle an int8 network runs (its 1/8 branch's input), go through
// nj_u8_deinterleave4: its ISA forms in nj_pixel_unshuffle, the scalar one below in
// nj_pixel_unshuffle_scalar.
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-shuffle-internal.h"

// Up to this factor (the network uses 2, 4 and 16).
#define NJ_MAX_FACTOR 16

// Byte by byte, clang left this loop scalar (one load and one store per byte); as one 32-bit
// word per output column, its bytes the four rows, with restrict rows, it vectorises.
void nj_u8_deinterleave4_scalar(const uint8_t *restrict in, uint8_t *restrict out0, uint8_t *restrict out1,
                                uint8_t *restrict out2, uint8_t *restrict out3, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (size_t x = 0; x < n; x++) {
        uint32_t v;
        memcpy(&v, in + 4 * x, sizeof v);
        out0[x] = (uint8_t)v;
        out1[x] = (uint8_t)(v >> 8);
        out2[x] = (uint8_t)(v >> 16);
        out3[x] = (uint8_t)(v >> 24);
    }
#else
    for (size_t x = 0; x < n; x++) {
        out0[x] = in[4 * x];
        out1[x] = in[4 * x + 1];
        out2[x] = in[4 * x + 2];
        out3[x] = in[4 * x + 3];
    }
#endif
}

static nj_u8_deinterleave4_fn deinterleave4_active(void) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features_active();
    if ((features & NJ_CPU_AVX512) && (features & NJ_CPU_AVX512_VBMI)) return nj_u8_deinterleave4_avx512vbmi;
    if (features & NJ_CPU_AVX2) return nj_u8_deinterleave4_avx2;
#elif defined(__aarch64__)
    if (nj_cpu_features_active() & NJ_CPU_NEON) return nj_u8_deinterleave4_neon;
#endif
    return nj_u8_deinterleave4_scalar;
}

void nj_u8_deinterleave4(const uint8_t *in, uint8_t *out0, uint8_t *out1, uint8_t *out2, uint8_t *out3, size_t n) {
    deinterleave4_active()(in, out0, out1, out2, out3, n);
}

#define NJ_SHUFFLE_FUNCTIONS(T, SUFFIX)                                                          \
    /* out[j][x] = in[x*r + j] for j < r, x < n. */                                              \
    static inline void deinterleave_##SUFFIX(const T *in, T *const *out, int32_t r, int32_t n,   \
                                             nj_u8_deinterleave4_fn bytes4) {                    \
        if (sizeof(T) == 1 && r == 4) {                                                          \
            bytes4((const uint8_t *)in, (uint8_t *)out[0], (uint8_t *)out[1], (uint8_t *)out[2], \
                   (uint8_t *)out[3], (size_t)n);                                                \
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
                                   int32_t output_rows, nj_u8_deinterleave4_fn bytes4) {         \
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
                    deinterleave_##SUFFIX(in_row, out, r, ow, bytes4);                           \
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

#define NJ_DISPATCH_BY_SIZE(OP, ...)                                                             \
    if (r < 1 || r > NJ_MAX_FACTOR) return;                                                      \
    switch (element_size) {                                                                      \
        case 1: OP##_1(input, input_channel_stride, input_rows, channels, width, r, row_begin,   \
                       row_end, output, output_channel_stride, output_rows __VA_ARGS__); break;  \
        case 2: OP##_2(input, input_channel_stride, input_rows, channels, width, r, row_begin,   \
                       row_end, output, output_channel_stride, output_rows __VA_ARGS__); break;  \
        case 4: OP##_4(input, input_channel_stride, input_rows, channels, width, r, row_begin,   \
                       row_end, output, output_channel_stride, output_rows __VA_ARGS__); break;  \
        case 8: OP##_8(input, input_channel_stride, input_rows, channels, width, r, row_begin,   \
                       row_end, output, output_channel_stride, output_rows __VA_ARGS__); break;  \
        default: break;                                                                          \
    }

void nj_pixel_unshuffle_scalar(size_t element_size, const void *input, size_t input_channel_stride,
                               int32_t input_rows, int32_t channels, int32_t width, int32_t r,
                               int32_t row_begin, int32_t row_end,
                               void *output, size_t output_channel_stride, int32_t output_rows) {
    NJ_DISPATCH_BY_SIZE(unshuffle, , nj_u8_deinterleave4_scalar)
}

void nj_pixel_unshuffle(size_t element_size, const void *input, size_t input_channel_stride,
                        int32_t input_rows, int32_t channels, int32_t width, int32_t r,
                        int32_t row_begin, int32_t row_end,
                        void *output, size_t output_channel_stride, int32_t output_rows) {
    NJ_DISPATCH_BY_SIZE(unshuffle, , deinterleave4_active())
}

void nj_pixel_shuffle_scalar(size_t element_size, const void *input, size_t input_channel_stride,
                             int32_t input_rows, int32_t channels, int32_t width, int32_t r,
                             int32_t row_begin, int32_t row_end,
                             void *output, size_t output_channel_stride, int32_t output_rows) {
    NJ_DISPATCH_BY_SIZE(shuffle, )
}

void nj_f32_pixel_unshuffle_scalar(const float *input, size_t input_channel_stride, int32_t input_rows,
                                   int32_t channels, int32_t width, int32_t r,
                                   int32_t row_begin, int32_t row_end,
                                   float *output, size_t output_channel_stride, int32_t output_rows) {
    if (r < 1 || r > NJ_MAX_FACTOR) return;
    unshuffle_4(input, input_channel_stride, input_rows, channels, width, r, row_begin, row_end,
                output, output_channel_stride, output_rows, nj_u8_deinterleave4_scalar);
}

void nj_f32_pixel_shuffle_scalar(const float *input, size_t input_channel_stride, int32_t input_rows,
                                 int32_t channels, int32_t width, int32_t r,
                                 int32_t row_begin, int32_t row_end,
                                 float *output, size_t output_channel_stride, int32_t output_rows) {
    if (r < 1 || r > NJ_MAX_FACTOR) return;
    shuffle_4(input, input_channel_stride, input_rows, channels, width, r, row_begin, row_end,
              output, output_channel_stride, output_rows);
}
