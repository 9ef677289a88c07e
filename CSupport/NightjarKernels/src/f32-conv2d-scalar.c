// Scalar reference convolution: the specification every faster kernel is tested against.
// Loop order keeps the innermost loop running along a contiguous row, so even this reference
// is usable for whole-network tests.
#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

static inline float activate(float v, int32_t activation, float slope) {
    if (activation == NJ_ACTIVATION_LEAKY_RELU && v < 0.0f) {
        return v * slope;
    }
    return v;
}

void nj_f32_conv2d_scalar(const nj_conv2d_f32_args *a) {
    const int32_t k = a->kernel_size;
    const int32_t pad = (k - 1) / 2;
    const int32_t width = a->width;
    const int32_t in_per_group = a->in_channels / a->groups;
    const int32_t out_per_group = a->out_channels / a->groups;

    for (int32_t oc = 0; oc < a->out_channels; oc++) {
        const int32_t group = oc / out_per_group;
        const float *w_oc = a->weights + (size_t)oc * in_per_group * k * k;
        const float bias = a->bias ? a->bias[oc] : 0.0f;
        for (int32_t y = a->row_begin; y < a->row_end; y++) {
            size_t step;
            float *out_row = nj_conv2d_output_row(a, oc, y, &step);
            for (int32_t x = 0; x < width; x++) {
                out_row[x * step] = bias;
            }
            for (int32_t icg = 0; icg < in_per_group; icg++) {
                const int32_t ic = group * in_per_group + icg;
                const float *in_plane = a->input + ic * a->input_channel_stride;
                const float *w = w_oc + (size_t)icg * k * k;
                for (int32_t ky = 0; ky < k; ky++) {
                    const int32_t iy = y + ky - pad;
                    if (iy < 0 || iy >= a->height) {
                        continue;
                    }
                    const float *in_row = in_plane + (size_t)(iy % a->input_rows) * width;
                    for (int32_t kx = 0; kx < k; kx++) {
                        const float wv = w[ky * k + kx];
                        const int32_t dx = kx - pad;
                        const int32_t x_begin = dx < 0 ? -dx : 0;
                        const int32_t x_end = dx > 0 ? width - dx : width;
                        for (int32_t x = x_begin; x < x_end; x++) {
                            out_row[x * step] += wv * in_row[x + dx];
                        }
                    }
                }
            }
            const float *res_row = a->residual
                ? a->residual + oc * a->residual_channel_stride +
                      (size_t)(y % a->residual_rows) * width
                : NULL;
            for (int32_t x = 0; x < width; x++) {
                float v = activate(out_row[x * step], a->activation, a->negative_slope);
                out_row[x * step] = res_row ? v + res_row[x] : v;
            }
        }
    }
}
