// Scalar pixel shuffle / unshuffle (depth-to-space and space-to-depth), PyTorch's channel order,
// over a band of rows of ring buffers, so that streaming execution can use them on row windows.
#include "nightjar_kernels.h"

void nj_f32_pixel_unshuffle_scalar(const float *input, size_t input_channel_stride, int32_t input_rows,
                                   int32_t channels, int32_t width, int32_t r,
                                   int32_t row_begin, int32_t row_end,
                                   float *output, size_t output_channel_stride, int32_t output_rows) {
    const int32_t ow = width / r;
    for (int32_t c = 0; c < channels; c++) {
        for (int32_t i = 0; i < r; i++) {
            for (int32_t j = 0; j < r; j++) {
                float *out = output + (size_t)((c * r + i) * r + j) * output_channel_stride;
                for (int32_t y = row_begin; y < row_end; y++) {
                    const float *in_row = input + c * input_channel_stride +
                                          (size_t)((y * r + i) % input_rows) * width + j;
                    float *out_row = out + (size_t)(y % output_rows) * ow;
                    for (int32_t x = 0; x < ow; x++) {
                        out_row[x] = in_row[(size_t)x * r];
                    }
                }
            }
        }
    }
}

void nj_f32_pixel_shuffle_scalar(const float *input, size_t input_channel_stride, int32_t input_rows,
                                 int32_t channels, int32_t width, int32_t r,
                                 int32_t row_begin, int32_t row_end,
                                 float *output, size_t output_channel_stride, int32_t output_rows) {
    const int32_t oc = channels / (r * r), ow = width * r;
    for (int32_t c = 0; c < oc; c++) {
        for (int32_t i = 0; i < r; i++) {
            for (int32_t j = 0; j < r; j++) {
                const float *in = input + (size_t)((c * r + i) * r + j) * input_channel_stride;
                for (int32_t y = row_begin; y < row_end; y++) {
                    const float *in_row = in + (size_t)(y % input_rows) * width;
                    float *out_row = output + c * output_channel_stride + (size_t)((y * r + i) % output_rows) * ow + j;
                    for (int32_t x = 0; x < width; x++) {
                        out_row[(size_t)x * r] = in_row[x];
                    }
                }
            }
        }
    }
}
