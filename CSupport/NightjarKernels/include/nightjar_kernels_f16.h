// The f16 kernel family: tensors of IEEE binary16 values (uint16_t bits in C, UInt16 in
// Swift), the same convolution contract as f32 (see nj_conv2d_f32_args in nightjar_kernels.h).
//
// Reference semantics, which every f16 kernel computes up to rounding of its sums: binary16
// inputs and weights, products and sums in f32, bias, activation and residual in f32, the
// result rounded to binary16 once (round to nearest even). Kernels with native half
// arithmetic (AVX512-FP16, ARMv8.2-A FP16) sum a few taps in binary16 before adding them
// into f32 (docs/kernels.md gives the error bound).
#ifndef NIGHTJAR_KERNELS_F16_H
#define NIGHTJAR_KERNELS_F16_H

#include "nightjar_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

// Bulk conversions, round to nearest even; infinities, NaN (quiet, sign and top payload bits
// kept) and subnormals are converted exactly as IEEE 754 says. Independent of the
// floating-point mode (flush-to-zero does not apply).
void nj_f32_to_f16(const float *input, uint16_t *output, size_t count);
void nj_f16_to_f32(const uint16_t *input, float *output, size_t count);
// Both dispatch by the active CPU features (F16C on x86-64, NEON on AArch64) and give exactly
// what these scalar references give, except that the hardware returns a signalling NaN's
// binary32 form quiet.
void nj_f32_to_f16_scalar(const float *input, uint16_t *output, size_t count);
void nj_f16_to_f32_scalar(const uint16_t *input, float *output, size_t count);

// LeakyReLU of binary16 values in one pass: each value widened as nj_f16_to_f32 widens it,
// v >= 0 ? v : v * slope in binary32 (nj_f32_leaky_relu_scalar), and rounded back as
// nj_f32_to_f16 rounds it. `output` may be `input`. Dispatch by the active features (F16C,
// NEON); the _scalar form is the reference.
void nj_f16_leaky_relu(const uint16_t *input, uint16_t *output, size_t count, float slope);
void nj_f16_leaky_relu_scalar(const uint16_t *input, uint16_t *output, size_t count, float slope);

// The network's input rows (nj_u16_network_input_row in nightjar_kernels.h) stored as
// binary16: each value is that function's FP32 value rounded once, as nj_f32_to_f16 rounds it,
// so an FP16 network reads the same input as one converting the FP32 rows. Dispatch by the
// active features (F16C, NEON); the _scalar forms are the references.
void nj_u16_network_input_row_f16(uint16_t *out, size_t channel_stride, int32_t split, const uint16_t *row,
                                  const intptr_t *sources, const float *table_even, const float *table_odd,
                                  float amplification, size_t count);
void nj_u8_network_input_row_f16(uint16_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                 const intptr_t *sources, const float *table_even, const float *table_odd,
                                 float amplification, size_t count);
void nj_u16_network_input_row_f16_scalar(uint16_t *out, size_t channel_stride, int32_t split, const uint16_t *row,
                                         const intptr_t *sources, const float *table_even, const float *table_odd,
                                         float amplification, size_t count);
void nj_u8_network_input_row_f16_scalar(uint16_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                        const intptr_t *sources, const float *table_even, const float *table_odd,
                                        float amplification, size_t count);

// The geometry fields are those of nj_conv2d_f32_args, with the same meaning; only the
// element types of the tensors differ. Strides and widths count elements.
typedef struct nj_conv2d_f16_args {
    const uint16_t *input;
    size_t input_channel_stride;
    int32_t input_rows;

    uint16_t *output;
    size_t output_channel_stride;
    int32_t output_rows;

    const uint16_t *residual;         // NULL: no residual
    size_t residual_channel_stride;

    const void *weights;              // packed by nj_f16_conv2d_pack_weights for the kernel
    const float *bias;                // f32; NULL: no bias

    int32_t in_channels;
    int32_t out_channels;
    int32_t groups;
    int32_t kernel_size;
    int32_t height;
    int32_t width;
    int32_t row_begin;
    int32_t row_end;

    int32_t activation;               // nj_activation, applied (in f32) before the residual add
    float negative_slope;

    int32_t residual_rows;
    // Elements (of the kernel's weight_dtype) from one tap's output channels to the next tap's,
    // as for f32 (NJ_WEIGHTS_GIHWO).
    int32_t weight_stride;
    int32_t output_depth_to_space;
    int32_t output_channel_base;
} nj_conv2d_f16_args;

typedef void (*nj_conv2d_f16_fn)(const nj_conv2d_f16_args *args);

typedef struct nj_conv2d_f16_kernel {
    nj_conv2d_f16_fn run;
    // e.g. "f16-conv2d-3x3-avx512fp16-8x3"; the reference is "f16-conv2d-scalar".
    const char *name;
    nj_isa isa;
    uint32_t required_features;       // NJ_CPU_* bits needed beyond `isa`
    int32_t kernel_size;              // 0: any (the reference)
    nj_weight_layout weight_layout;
    // Element type of the packed weights: NJ_DTYPE_F16, NJ_DTYPE_F16X2 (each binary16 weight
    // twice in 32 bits, for a broadcast without a shuffle: AVX512-FP16), or NJ_DTYPE_F32 for
    // kernels that convert around an f32 FMA (the values are the binary16 weights each way).
    nj_dtype weight_dtype;
    int32_t channel_block;
    int32_t fma_ports;
    // Products a kernel with native half arithmetic sums in binary16 before adding the partial
    // sum into its f32 accumulator (at most; 0: every sum in f32). Its error bound grows with
    // this: |error| <= half_sum_terms * 2^-11 * sum |w * x| besides the final rounding.
    int32_t half_sum_terms;
    // As for f32 (nj_conv2d_f32_kernel): output rows computed together (2 for Winograd's 2x2
    // tiles, else 1), and the geometries served beyond kernel_size (NULL: all of that size).
    int32_t row_block;
    int (*supports)(const nj_conv2d_f16_args *geometry);
} nj_conv2d_f16_kernel;

// The scalar reference (NJ_WEIGHTS_OIHW, binary16 weights).
void nj_f16_conv2d_scalar(const nj_conv2d_f16_args *args);

// Bytes of packed weights a kernel needs for a geometry (in_channels, out_channels, groups,
// kernel_size of `geometry` count): 16 per (input, output channel) pair for
// NJ_WEIGHTS_WINOGRAD_2X2, whose f32 filters are transformed from the binary16 weights.
size_t nj_f16_conv2d_packed_bytes(const nj_conv2d_f16_kernel *kernel,
                                  const nj_conv2d_f16_args *geometry);

// PyTorch-layout f32 weights [out][in / groups][k][k] into the kernel's packed layout. Every
// weight is rounded to binary16 first, so every kernel computes with the reference's values.
// `packed` holds nj_f16_conv2d_packed_bytes() bytes; no allocation.
void nj_f16_conv2d_pack_weights(const nj_conv2d_f16_kernel *kernel,
                                const nj_conv2d_f16_args *geometry, const float *oihw,
                                void *packed);

// The fastest f16 kernel for the geometry: its kernel size (and `supports` test) among the
// kernels whose instruction set is within `cap` (an nj_isa, negative: the process-wide cap) and whose required features
// are all active (nj_cpu_features_active). Any other kernel size gets the scalar reference.
const nj_conv2d_f16_kernel *nj_conv2d_f16_kernel_select(const nj_conv2d_f16_args *geometry,
                                                        int cap);

// Every registered f16 kernel, best first within each kernel size, the reference last.
int32_t nj_conv2d_f16_kernel_count(void);
const nj_conv2d_f16_kernel *nj_conv2d_f16_kernel_at(int32_t index);
const nj_conv2d_f16_kernel *nj_conv2d_f16_kernel_reference(void);

// Whether this machine can run the kernel now (its instruction set and required features are
// active).
int nj_conv2d_f16_kernel_runnable(const nj_conv2d_f16_kernel *kernel);

#ifdef __cplusplus
}
#endif

#endif
