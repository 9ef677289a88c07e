// Registry entries of the ISA-specific kernels (internal: only the registry refers to them;
// everything else goes through nj_conv2d_f32_kernel_select).
#ifndef NJ_KERNELS_INTERNAL_H
#define NJ_KERNELS_INTERNAL_H

#include "nightjar_kernels.h"

#define NJ_F32_KERNEL(symbol) extern const nj_conv2d_f32_kernel symbol;
#define NJ_F16_KERNEL(symbol) extern const nj_conv2d_f16_kernel symbol;
#define NJ_QS8_KERNEL(symbol) extern const nj_conv2d_qs8_kernel symbol;
#include "kernel-list.h"

// Whether the Winograd kernels serve a geometry (their `supports`).
int nj_f32_conv2d_winograd2x2_supports(const nj_conv2d_f32_args *geometry);
int nj_f16_conv2d_winograd2x2_supports(const nj_conv2d_f16_args *geometry);
int nj_f32_conv2d_5x5_winograd2x2_supports(const nj_conv2d_f32_args *geometry);
int nj_f16_conv2d_5x5_winograd2x2_supports(const nj_conv2d_f16_args *geometry);
// Packs ungrouped OIHW weights into a Winograd layout (NJ_WEIGHTS_WINOGRAD_2X2 or _2X2_5X5):
// packed[(ξ·in + i)·out + o] = (G g Gᵀ)[ξ] of filter (o, i), computed in double and rounded
// once to float. With round_to_f16 the filter's taps are first rounded to binary16 (the f16
// kernels' weights).
void nj_winograd_pack_weights(nj_weight_layout layout, const float *oihw, int32_t out_channels,
                              int32_t in_channels, int round_to_f16, float *packed);
// NJ_WEIGHTS_WINOGRAD_2X2_PAIRS: the F(2x2, 3x3) filters of the binary16-rounded weights, each
// transformed value rounded to binary16, two ξ per element.
void nj_winograd_pack_weight_pairs(const float *oihw, int32_t out_channels, int32_t in_channels,
                                   uint32_t *packed);

// Where output channel `oc` (of this call) at row y, column 0 is stored, and the floats
// between its columns: 1, or r with a depth-to-space output (see nj_conv2d_f32_args).
static inline float *nj_conv2d_output_row(const nj_conv2d_f32_args *a, int32_t oc, int32_t y, size_t *column_step) {
    const int32_t r = a->output_depth_to_space;
    if (r <= 1) {
        *column_step = 1;
        return a->output + (size_t)oc * a->output_channel_stride + (size_t)(y % a->output_rows) * a->width;
    }
    const int32_t c = a->output_channel_base + oc;
    *column_step = (size_t)r;
    return a->output + (size_t)(c / (r * r)) * a->output_channel_stride +
           (size_t)((y * r + (c / r) % r) % a->output_rows) * a->width * r + c % r;
}

// The same for f16 outputs.
static inline uint16_t *nj_conv2d_f16_output_row(const nj_conv2d_f16_args *a, int32_t oc, int32_t y, size_t *column_step) {
    const int32_t r = a->output_depth_to_space;
    if (r <= 1) {
        *column_step = 1;
        return a->output + (size_t)oc * a->output_channel_stride + (size_t)(y % a->output_rows) * a->width;
    }
    const int32_t c = a->output_channel_base + oc;
    *column_step = (size_t)r;
    return a->output + (size_t)(c / (r * r)) * a->output_channel_stride +
           (size_t)((y * r + (c / r) % r) % a->output_rows) * a->width * r + c % r;
}

// Rank of an instruction-set level for caps: scalar 0 < sse4.1 = neon 1 < avx2 2 < avx512 3;
// -1 for an unknown value.
int nj_isa_rank(nj_isa isa);
// The features dispatch may use under an explicit cap (an nj_isa; negative: the process-wide
// one): detected, minus those above the cap's rank, minus the disabled ones.
uint32_t nj_cpu_features_under_cap(int cap);
// Whether a kernel of instruction set `isa` needing `required` can run with `available`.
static inline int nj_kernel_runnable_with(nj_isa isa, uint32_t required, uint32_t available) {
    const uint32_t needed = nj_isa_feature(isa) | required;
    return (needed & ~available) == 0;
}

#endif
