// Scalar pixel shuffle / unshuffle (depth-to-space and space-to-depth), PyTorch's channel order.
#include "nightjar_kernels.h"

void nj_f32_pixel_unshuffle_scalar(const float *input, int32_t channels, int32_t height,
                                   int32_t width, int32_t r, float *output) {
    const int32_t oh = height / r, ow = width / r;
    for (int32_t c = 0; c < channels; c++) {
        for (int32_t i = 0; i < r; i++) {
            for (int32_t j = 0; j < r; j++) {
                float *out = output + ((size_t)(c * r + i) * r + j) * oh * ow;
                for (int32_t y = 0; y < oh; y++) {
                    const float *in_row = input + ((size_t)c * height + y * r + i) * width + j;
                    for (int32_t x = 0; x < ow; x++) {
                        out[(size_t)y * ow + x] = in_row[(size_t)x * r];
                    }
                }
            }
        }
    }
}

void nj_f32_pixel_shuffle_scalar(const float *input, int32_t channels, int32_t height,
                                 int32_t width, int32_t r, float *output) {
    const int32_t oc = channels / (r * r), oh = height * r, ow = width * r;
    for (int32_t c = 0; c < oc; c++) {
        for (int32_t i = 0; i < r; i++) {
            for (int32_t j = 0; j < r; j++) {
                const float *in = input + ((size_t)(c * r + i) * r + j) * height * width;
                for (int32_t y = 0; y < height; y++) {
                    float *out_row = output + ((size_t)c * oh + y * r + i) * ow + j;
                    for (int32_t x = 0; x < width; x++) {
                        out_row[(size_t)x * r] = in[(size_t)y * width + x];
                    }
                }
            }
        }
    }
}
