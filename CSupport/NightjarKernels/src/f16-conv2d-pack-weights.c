// f16 weight packing: PyTorch's f32 [out][in / groups][k][k], rounded to binary16, into the
// layout and element type a kernel reads (binary16, binary16 twice in 32 bits for kernels that
// broadcast 32 bits, or f32 holding the binary16 values for kernels that convert around an f32
// FMA). Once per layer at load, never per frame.
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-f16.h"
#include "nj-kernels-internal.h"

size_t nj_f16_conv2d_packed_bytes(const nj_conv2d_f16_kernel *kernel,
                                  const nj_conv2d_f16_args *geometry) {
    return nj_f32_conv2d_packed_count(kernel->weight_layout, geometry->out_channels, geometry->in_channels,
                                      geometry->groups, geometry->kernel_size) *
           nj_dtype_size(kernel->weight_dtype);
}

void nj_f16_conv2d_pack_weights(const nj_conv2d_f16_kernel *kernel,
                                const nj_conv2d_f16_args *geometry, const float *oihw,
                                void *packed) {
    const int32_t groups = geometry->groups, k = geometry->kernel_size;
    const int32_t ipg = geometry->in_channels / groups, opg = geometry->out_channels / groups;
    const int32_t taps = k * k;
    const int gihwo = kernel->weight_layout == NJ_WEIGHTS_GIHWO;
    const int as_f32 = kernel->weight_dtype == NJ_DTYPE_F32;
    const int as_pair = kernel->weight_dtype == NJ_DTYPE_F16X2;
    if (kernel->weight_layout == NJ_WEIGHTS_WINOGRAD_2X2_PAIRS) {
        nj_winograd_pack_weight_pairs(oihw, geometry->out_channels, geometry->in_channels, (uint32_t *)packed);
        return;
    }
    if (kernel->weight_layout == NJ_WEIGHTS_WINOGRAD_2X2 || kernel->weight_layout == NJ_WEIGHTS_WINOGRAD_2X2_5X5) {
        // [ξ][ic][oc] (ungrouped), each filter's binary16 values transformed in double; for
        // binary16 products each transformed value is rounded to binary16 and paired, in place
        // (both elements are 32 bits).
        nj_winograd_pack_weights(kernel->weight_layout, oihw, geometry->out_channels, geometry->in_channels, 1,
                                 (float *)packed);
        if (as_pair) {
            const size_t count = nj_f16_conv2d_packed_bytes(kernel, geometry) / sizeof(uint32_t);
            for (size_t i = 0; i < count; i++) {
                float u;
                memcpy(&u, (const char *)packed + i * 4, 4);
                const uint32_t h = nj_f32_to_f16_bits(u);
                const uint32_t pair = h << 16 | h;
                memcpy((char *)packed + i * 4, &pair, 4);
            }
        }
        return;
    }
    for (int32_t g = 0; g < groups; g++) {
        for (int32_t o = 0; o < opg; o++) {
            const size_t oc = (size_t)g * opg + o;
            const float *src = oihw + oc * ipg * taps;
            for (int32_t icg = 0; icg < ipg; icg++) {
                for (int32_t t = 0; t < taps; t++) {
                    // GIHWO: [g][icg][ky][kx][o], o innermost (weight_stride = opg).
                    const size_t at = gihwo ? (((size_t)g * ipg + icg) * taps + t) * opg + o
                                            : (oc * ipg + icg) * taps + t;
                    const uint16_t h = nj_f32_to_f16_bits(src[icg * taps + t]);
                    if (as_f32) {
                        ((float *)packed)[at] = nj_f16_bits_to_f32(h);
                    } else if (as_pair) {
                        ((uint32_t *)packed)[at] = (uint32_t)h << 16 | h;
                    } else {
                        ((uint16_t *)packed)[at] = h;
                    }
                }
            }
        }
    }
}
