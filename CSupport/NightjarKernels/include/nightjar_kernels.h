// Nightjar's kernel interface: plain C, planar CHW float32 tensors, no allocation.
//
// Every operation has a scalar reference (src/*-scalar.c) that later SIMD kernels are tested
// against. The executor never calls a kernel by name: it asks nj_conv2d_f32_select() for the
// best kernel for a geometry, so faster kernels slot in without touching the executor.
#ifndef NIGHTJAR_KERNELS_H
#define NIGHTJAR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nj_activation {
    NJ_ACTIVATION_NONE = 0,
    NJ_ACTIVATION_LEAKY_RELU = 1,
} nj_activation;

// 2-D convolution, stride 1, zero padding (k-1)/2, same height and width in and out.
//
//   output[oc] = act(bias[oc] + sum over the group's input channels of w * input) + residual[oc]
//
// Weights are laid out as PyTorch's: [out_channels][in_channels / groups][k][k].
// Tensors are planes of height x width floats (row stride = width); channel c of a tensor starts
// at base + c * channel_stride, so a convolution can read or write a slice of a larger buffer
// (concatenation without copies, interleaved channels for a channel shuffle).
//
// Only output rows [row_begin, row_end) are computed (threads, stripes). A buffer may hold only
// some rows of the image: row y of the image lives at row (y - *_row0) of the buffer. Rows
// outside [0, height) are zero padding; rows inside must be present in the buffer.
typedef struct nj_conv2d_f32_args {
    const float *input;
    size_t input_channel_stride;
    int32_t input_row0;

    float *output;
    size_t output_channel_stride;
    int32_t output_row0;

    const float *residual;            // NULL: no residual; rows placed by residual_row0
    size_t residual_channel_stride;

    const float *weights;
    const float *bias;                // NULL: no bias

    int32_t in_channels;
    int32_t out_channels;
    int32_t groups;
    int32_t kernel_size;              // odd: 1, 3, 5
    int32_t height;                   // of the whole image plane
    int32_t width;
    int32_t row_begin;
    int32_t row_end;

    int32_t activation;               // nj_activation, applied before the residual add
    float negative_slope;

    int32_t residual_row0;            // row y of the residual is at row (y - residual_row0)
} nj_conv2d_f32_args;

typedef void (*nj_conv2d_f32_fn)(const nj_conv2d_f32_args *args);

// The scalar reference convolution.
void nj_f32_conv2d_scalar(const nj_conv2d_f32_args *args);

// The kernel the executor should use for this geometry on this CPU.
nj_conv2d_f32_fn nj_conv2d_f32_select(const nj_conv2d_f32_args *args);

// Space-to-depth by r over `rows` output rows: channels planes of width `width` in, channels*r*r
// planes of width width/r out. Output channel c*r*r + i*r + j at (y, x) is input channel c at
// (y*r + i, x*r + j). Pointers address the first row to read and to write in channel 0.
void nj_f32_pixel_unshuffle_scalar(const float *input, size_t input_channel_stride,
                                   int32_t channels, int32_t width, int32_t r, int32_t rows,
                                   float *output, size_t output_channel_stride);

// Depth-to-space by r, the inverse, over `rows` input rows: channels planes of width `width` in,
// channels/(r*r) planes of width width*r (rows*r rows) out.
void nj_f32_pixel_shuffle_scalar(const float *input, size_t input_channel_stride,
                                 int32_t channels, int32_t width, int32_t r, int32_t rows,
                                 float *output, size_t output_channel_stride);

// output[i] = input[i] >= 0 ? input[i] : input[i] * slope. input may equal output.
void nj_f32_leaky_relu_scalar(const float *input, float *output, size_t count, float slope);

// data[i] = min(max(data[i], lo), hi), in place; NaN becomes lo.
void nj_f32_clamp_scalar(float *data, size_t count, float lo, float hi);

#ifdef __cplusplus
}
#endif

#endif
