// Weight packing: PyTorch's [out][in / groups][k][k] into the layout a kernel reads. Done once
// per layer when a model is loaded, never per frame.
#include "nightjar_kernels.h"

size_t nj_f32_conv2d_weight_count(int32_t out_channels, int32_t in_channels, int32_t groups,
                                  int32_t kernel_size) {
    return (size_t)out_channels * (size_t)(in_channels / groups) * (size_t)kernel_size *
           (size_t)kernel_size;
}

void nj_f32_conv2d_pack_weights(nj_weight_layout layout, const float *oihw, int32_t out_channels,
                                int32_t in_channels, int32_t groups, int32_t kernel_size,
                                float *packed) {
    const size_t count = nj_f32_conv2d_weight_count(out_channels, in_channels, groups, kernel_size);
    if (layout == NJ_WEIGHTS_OIHW) {
        for (size_t i = 0; i < count; i++) packed[i] = oihw[i];
        return;
    }
    // NJ_WEIGHTS_GIHWO: [g][icg][ky][kx][o], o innermost (weight_stride = out_channels / groups).
    const int32_t ipg = in_channels / groups, opg = out_channels / groups;
    const int32_t taps = kernel_size * kernel_size;
    for (int32_t g = 0; g < groups; g++) {
        for (int32_t o = 0; o < opg; o++) {
            const float *src = oihw + (size_t)(g * opg + o) * ipg * taps;
            for (int32_t icg = 0; icg < ipg; icg++) {
                for (int32_t t = 0; t < taps; t++) {
                    packed[(((size_t)g * ipg + icg) * taps + t) * opg + o] = src[icg * taps + t];
                }
            }
        }
    }
}
