// Scalar reference of the f16 convolution: the specification every f16 kernel is tested
// against. binary16 inputs and weights (NJ_WEIGHTS_OIHW), every product and sum in f32, bias,
// LeakyReLU and the residual in f32, one rounding to binary16 at the end. Sums go into an f32
// row on the stack, a strip of columns at a time, so the reference allocates nothing.
#include "nightjar_kernels.h"
#include "nj-f16.h"
#include "nj-kernels-internal.h"

// Columns summed per pass.
#define STRIP 256

void nj_f16_conv2d_scalar(const nj_conv2d_f16_args *a) {
    const int32_t k = a->kernel_size;
    const int32_t pad = (k - 1) / 2;
    const int32_t width = a->width;
    const int32_t in_per_group = a->in_channels / a->groups;
    const int32_t out_per_group = a->out_channels / a->groups;
    const uint16_t *weights = a->weights;
    float sum[STRIP];

    for (int32_t oc = 0; oc < a->out_channels; oc++) {
        const int32_t group = oc / out_per_group;
        const uint16_t *w_oc = weights + (size_t)oc * in_per_group * k * k;
        const float bias = a->bias ? a->bias[oc] : 0.0f;
        for (int32_t y = a->row_begin; y < a->row_end; y++) {
            size_t step;
            uint16_t *out_row = nj_conv2d_f16_output_row(a, oc, y, &step);
            const uint16_t *res_row = a->residual
                ? a->residual + oc * a->residual_channel_stride + (size_t)(y % a->residual_rows) * width
                : NULL;
            for (int32_t x0 = 0; x0 < width; x0 += STRIP) {
                const int32_t n = width - x0 < STRIP ? width - x0 : STRIP;
                for (int32_t x = 0; x < n; x++) sum[x] = bias;
                for (int32_t icg = 0; icg < in_per_group; icg++) {
                    const int32_t ic = group * in_per_group + icg;
                    const uint16_t *in_plane = a->input + ic * a->input_channel_stride;
                    const uint16_t *w = w_oc + (size_t)icg * k * k;
                    for (int32_t ky = 0; ky < k; ky++) {
                        const int32_t iy = y + ky - pad;
                        if (iy < 0 || iy >= a->height) continue;
                        const uint16_t *in_row = in_plane + (size_t)(iy % a->input_rows) * width;
                        for (int32_t kx = 0; kx < k; kx++) {
                            const float wv = nj_f16_bits_to_f32(w[ky * k + kx]);
                            const int32_t dx = kx - pad;
                            // Columns x0 + x with 0 <= x0 + x + dx < width.
                            const int32_t x_begin = x0 + dx < 0 ? -(x0 + dx) : 0;
                            const int32_t x_end = x0 + n + dx > width ? width - dx - x0 : n;
                            for (int32_t x = x_begin; x < x_end; x++) {
                                sum[x] += wv * nj_f16_bits_to_f32(in_row[x0 + x + dx]);
                            }
                        }
                    }
                }
                for (int32_t x = 0; x < n; x++) {
                    float v = sum[x];
                    if (a->activation == NJ_ACTIVATION_LEAKY_RELU && v < 0.0f) v *= a->negative_slope;
                    if (res_row) v += nj_f16_bits_to_f32(res_row[x0 + x]);
                    out_row[(size_t)(x0 + x) * step] = nj_f32_to_f16_bits(v);
                }
            }
        }
    }
}
