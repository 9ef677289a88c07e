// Weight packing: PyTorch's [out][in / groups][k][k] into the layout a kernel reads. Done once
// per layer when a model is loaded, never per frame.
#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

size_t nj_f32_conv2d_weight_count(int32_t out_channels, int32_t in_channels, int32_t groups,
                                  int32_t kernel_size) {
    return (size_t)out_channels * (size_t)(in_channels / groups) * (size_t)kernel_size *
           (size_t)kernel_size;
}

size_t nj_f32_conv2d_packed_count(nj_weight_layout layout, int32_t out_channels, int32_t in_channels,
                                  int32_t groups, int32_t kernel_size) {
    if (layout == NJ_WEIGHTS_WINOGRAD_2X2) {
        return 16 * (size_t)out_channels * (size_t)(in_channels / groups);
    }
    return nj_f32_conv2d_weight_count(out_channels, in_channels, groups, kernel_size);
}

// U = G g Gᵀ for one 3x3 filter g, G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1], in double and rounded
// once, so the transformed filter is as exact as float allows.
void nj_winograd_2x2_filter(const float *g, double u[16]) {
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    double gt[4][3];  // G g
    for (int i = 0; i < 4; i++) {
        for (int c = 0; c < 3; c++) {
            gt[i][c] = G[i][0] * g[c] + G[i][1] * g[3 + c] + G[i][2] * g[6 + c];
        }
    }
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            u[4 * i + j] = gt[i][0] * G[j][0] + gt[i][1] * G[j][1] + gt[i][2] * G[j][2];
        }
    }
}

void nj_f32_conv2d_pack_weights(nj_weight_layout layout, const float *oihw, int32_t out_channels,
                                int32_t in_channels, int32_t groups, int32_t kernel_size,
                                float *packed) {
    const size_t count = nj_f32_conv2d_weight_count(out_channels, in_channels, groups, kernel_size);
    if (layout == NJ_WEIGHTS_WINOGRAD_2X2) {
        // [ξ][ic][oc] (ungrouped 3x3; weight_stride = out_channels).
        for (int32_t o = 0; o < out_channels; o++) {
            for (int32_t i = 0; i < in_channels; i++) {
                double u[16];
                nj_winograd_2x2_filter(oihw + ((size_t)o * in_channels + i) * 9, u);
                for (int xi = 0; xi < 16; xi++) {
                    packed[((size_t)xi * in_channels + i) * out_channels + o] = (float)u[xi];
                }
            }
        }
        return;
    }
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
