// Weight packing: PyTorch's [out][in / groups][k][k] into the layout a kernel reads. Done once
// per layer when a model is loaded, never per frame.
#include "nightjar_kernels.h"
#include "nj-f16.h"
#include "nj-kernels-internal.h"

size_t nj_f32_conv2d_weight_count(int32_t out_channels, int32_t in_channels, int32_t groups,
                                  int32_t kernel_size) {
    return (size_t)out_channels * (size_t)(in_channels / groups) * (size_t)kernel_size *
           (size_t)kernel_size;
}

size_t nj_f32_conv2d_packed_count(nj_weight_layout layout, int32_t out_channels, int32_t in_channels,
                                  int32_t groups, int32_t kernel_size) {
    if (layout == NJ_WEIGHTS_WINOGRAD_2X2 || layout == NJ_WEIGHTS_WINOGRAD_2X2_5X5) {
        const size_t points = layout == NJ_WEIGHTS_WINOGRAD_2X2 ? 4 : 6;
        return points * points * (size_t)out_channels * (size_t)(in_channels / groups);
    }
    if (layout == NJ_WEIGHTS_WINOGRAD_2X2_PAIRS) return 8 * (size_t)out_channels * (size_t)(in_channels / groups);
    return nj_f32_conv2d_weight_count(out_channels, in_channels, groups, kernel_size);
}

// G = diag(1 / scale) · G' with small integers G' (see the kernels' templates), so that
// U = G' g G'ᵀ / (scale_i · scale_j) is exact in double before one division: the transformed
// filter is as exact as float allows.
//   F(2x2, 3x3): G' = [2 0 0; 1 1 1; 1 -1 1; 0 0 2], scale 2 (G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]).
//   F(2x2, 5x5): rows (point p) p⁰ .. p⁴ for p = 0, 1, -1, 2, -2 and the last tap alone,
//                scales 4, 6, 6, 24, 24, 1.
static void winograd_filter(nj_weight_layout layout, const float *g, double *u) {
    static const double g3[4][5] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
    static const double s3[4] = {2, 2, 2, 2};
    static const double g5[6][5] = {{1, 0, 0, 0, 0},  {1, 1, 1, 1, 1},   {1, -1, 1, -1, 1},
                                    {1, 2, 4, 8, 16}, {1, -2, 4, -8, 16}, {0, 0, 0, 0, 1}};
    static const double s5[6] = {4, 6, 6, 24, 24, 1};
    const int five = layout == NJ_WEIGHTS_WINOGRAD_2X2_5X5;
    const int n = five ? 6 : 4, k = five ? 5 : 3;
    const double(*G)[5] = five ? g5 : g3;
    const double *scale = five ? s5 : s3;
    double gt[6][5];  // G' g
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < k; c++) {
            double sum = 0;
            for (int t = 0; t < k; t++) sum += G[i][t] * g[t * k + c];
            gt[i][c] = sum;
        }
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double sum = 0;
            for (int t = 0; t < k; t++) sum += gt[i][t] * G[j][t];
            u[n * i + j] = sum / (scale[i] * scale[j]);
        }
    }
}

void nj_winograd_pack_weights(nj_weight_layout layout, const float *oihw, int32_t out_channels,
                              int32_t in_channels, int round_to_f16, float *packed) {
    const int n = layout == NJ_WEIGHTS_WINOGRAD_2X2_5X5 ? 6 : 4, k = n == 6 ? 5 : 3;
    for (int32_t o = 0; o < out_channels; o++) {
        for (int32_t i = 0; i < in_channels; i++) {
            const float *src = oihw + ((size_t)o * in_channels + i) * (size_t)(k * k);
            float g[25];
            double u[36];
            for (int t = 0; t < k * k; t++) g[t] = round_to_f16 ? nj_f16_bits_to_f32(nj_f32_to_f16_bits(src[t])) : src[t];
            winograd_filter(layout, g, u);
            for (int xi = 0; xi < n * n; xi++) packed[((size_t)xi * in_channels + i) * out_channels + o] = (float)u[xi];
        }
    }
}

void nj_winograd_pack_weight_pairs(const float *oihw, int32_t out_channels, int32_t in_channels,
                                   uint32_t *packed) {
    // ξ of each pair (low, high): see NJ_WEIGHTS_WINOGRAD_2X2_PAIRS.
    static const int pair_xi[8][2] = {{0, 3}, {2, 1}, {4, 7}, {6, 5}, {8, 11}, {10, 9}, {12, 15}, {14, 13}};
    for (int32_t o = 0; o < out_channels; o++) {
        for (int32_t i = 0; i < in_channels; i++) {
            const float *src = oihw + ((size_t)o * in_channels + i) * 9;
            float g[9];
            double u[16];
            for (int t = 0; t < 9; t++) g[t] = nj_f16_bits_to_f32(nj_f32_to_f16_bits(src[t]));
            winograd_filter(NJ_WEIGHTS_WINOGRAD_2X2, g, u);
            for (int p = 0; p < 8; p++) {
                const uint32_t lo = nj_f32_to_f16_bits((float)u[pair_xi[p][0]]);
                const uint32_t hi = nj_f32_to_f16_bits((float)u[pair_xi[p][1]]);
                packed[((size_t)p * in_channels + i) * out_channels + o] = hi << 16 | lo;
            }
        }
    }
}

void nj_f32_conv2d_pack_weights(nj_weight_layout layout, const float *oihw, int32_t out_channels,
                                int32_t in_channels, int32_t groups, int32_t kernel_size,
                                float *packed) {
    const size_t count = nj_f32_conv2d_weight_count(out_channels, in_channels, groups, kernel_size);
    if (layout == NJ_WEIGHTS_WINOGRAD_2X2 || layout == NJ_WEIGHTS_WINOGRAD_2X2_5X5) {
        // [ξ][ic][oc] (ungrouped; weight_stride = out_channels).
        nj_winograd_pack_weights(layout, oihw, out_channels, in_channels, 0, packed);
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
