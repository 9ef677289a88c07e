// The int8 fixed-point (qs8) convolution family: planar CHW int8 activations with a per-tensor
// scale and zero point, int8 weights symmetric per output channel, int32 accumulation, and a
// requantisation by fixed-point multipliers and shifts (no float in any kernel). Included by
// nightjar_kernels.h; the geometry is that of nj_conv2d_f32_args, field for field.
//
// Numbers (real = scale * (q - zero_point) for activations, real = weight_scale[oc] * q for
// weights):
//
//   acc[oc]  = B[oc] + sum over the group's input channels and taps of w * x     (int32)
//   B[oc]    = round_half_even(bias[oc] / (input.scale * weight_scale[oc]))
//              - input.zero_point * sum(w[oc])
//   q        = requantize(acc, acc >= 0 ? multiplier[oc] : negative_multiplier[oc], shift[oc])
//   r        = residual ? requantize_residual(residual - residual.zero_point) : 0
//   output   = saturate_int8(output.zero_point + q + r)
//
//   requantize(x, m, s)   = floor((x * m + 2^(s-1)) / 2^s)        x * m exact in 64 bits,
//                                                                   32 <= s <= 62
//   requantize_residual(d) = floor((d * residual_multiplier + 2^(rs-1)) / 2^rs),
//                            |d| <= 255, residual_multiplier < 2^22, 1 <= rs <= 30 (exact in 32 bits)
//
// Both round half towards +infinity, once: the kernels compute exactly these integers on every
// instruction set (bit-exact against nj_qs8_conv2d_scalar). multiplier[oc] / 2^shift[oc] is
// input.scale * weight_scale[oc] / output.scale, with multiplier in [2^30, 2^31) (31 bits of
// precision; smaller only when the ratio is below 2^-32 and the shift stops at 62);
// negative_multiplier is the same ratio times the LeakyReLU slope at the same shift (the
// positive one without activation). Padding (rows and columns outside the image) is the input's
// zero point, so it contributes nothing to the real sum and B folds the zero point exactly.
// Against the exactly rounded real result (float bias, real multipliers) the output differs by
// at most 1 (two roundings when there is a residual, the bias and the multipliers' own).
//
// A folded input. Two convolutions in a row with nothing between them but a zero-padded
// tensor (conv2x's 5x5, then conv_2_8_32's 5x5 over it and a second input) are one convolution
// of the first one's input with the composed, larger kernel (9x9), except where the second
// convolution's taps reach outside the image, where the zero padding drops terms: so the
// composed weights and the bias depend on the output pixel's border class, per axis the
// distance to the edge within the main kernel's padding P = (kernel_size - 1) / 2 (classes 0
// .. P - 1 at the top or left, P inside, P + 1 .. 2P at the bottom or right; the class of the
// pixel is row class * kernel_size + column class). A layer with fold_kernel_size > 0 adds
// that convolution of fold_input (its own channels, zero point and weight scales) to the main
// sum at a finer accumulator scale, 2^-fold_shift[oc] of the main one, so that the composed
// weights keep their precision:
//
//   acc[oc]  = (B[c][oc] + main sum) * 2^fold_shift[oc] + F[c][oc] + fold sum    (int32)
//   B[c][oc] = round_half_even(bias[c][oc] / (input.scale * weight_scale[oc]))
//              - input.zero_point * sum(w[oc])
//   F[c][oc] = - fold_input.zero_point * sum(fold_w[c][oc])
//
// with c the output pixel's class, fold_w[c] the composed weights of class c, and
// input.scale * weight_scale[oc] = 2^fold_shift[oc] * fold_input.scale * fold_weight_scale[oc]
// (0 <= fold_shift <= 7; the multipliers are those of the fine scale). The image must be at
// least 2P rows high and wide (no pixel within P of both edges). No groups.
#ifndef NIGHTJAR_KERNELS_QS8_H
#define NIGHTJAR_KERNELS_QS8_H

#include <stddef.h>
#include <stdint.h>

#include "nightjar_kernels.h"  // nj_isa (it includes this header at its end)

#ifdef __cplusplus
extern "C" {
#endif

// Quantisation of an activation tensor: real = scale * (q - zero_point), q in [-128, 127].
typedef struct nj_qs8_quantization {
    float scale;          // > 0, finite
    int32_t zero_point;   // in [-128, 127]
} nj_qs8_quantization;

// q = saturate(round_half_even(x / scale) + zero_point); NaN becomes the zero point.
void nj_qs8_quantize(const float *input, int8_t *output, size_t count, nj_qs8_quantization q);
// x = scale * (q - zero_point).
void nj_qs8_dequantize(const int8_t *input, float *output, size_t count, nj_qs8_quantization q);
// Both dispatch by the active CPU features (AVX-512, AVX2, NEON) and give exactly what these scalar
// references give (for tests).
void nj_qs8_quantize_scalar(const float *input, int8_t *output, size_t count, nj_qs8_quantization q);
void nj_qs8_dequantize_scalar(const int8_t *input, float *output, size_t count, nj_qs8_quantization q);

// The network's input rows (nj_u16_network_input_row in nightjar_kernels.h) stored as int8 in
// encoding q: each value is that function's FP32 value quantised as nj_qs8_quantize quantises
// it, so an int8 network reads the same codes as one quantising the FP32 rows. Plain C: like
// the FP32 form, bound by its dependent loads. The u8 form reads all 256 entries of each
// table (it quantises the tables first).
void nj_u16_network_input_row_qs8(int8_t *out, size_t channel_stride, int32_t split, const uint16_t *row,
                                  const intptr_t *sources, const float *table_even, const float *table_odd,
                                  float amplification, nj_qs8_quantization q, size_t count);
void nj_u8_network_input_row_qs8(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                 const intptr_t *sources, const float *table_even, const float *table_odd,
                                 float amplification, nj_qs8_quantization q, size_t count);

// LeakyReLU within one encoding: q >= zero_point stays, below it
// zero_point + round_half_even((q - zero_point) * slope) (slope in [0, 1], the product rounded to
// binary32 first), saturated to int8. AVX-512 and AVX2 forms by the active CPU features, else
// plain C that compilers vectorise (NEON); the same integers on every ISA and in any
// floating-point mode (the products are never subnormal).
void nj_qs8_leaky_relu(const int8_t *input, int8_t *output, size_t count, int32_t zero_point, float slope);

// Per-layer numbers a kernel reads. nj_qs8_conv2d_prepare fills it; the arrays point into the
// packed block the same call writes (so the block must stay where it was prepared, or the
// pointers be moved with it).
typedef struct nj_conv2d_qs8_params {
    const int32_t *bias;                 // [out_channels] B above, in the kernel's own form
                                         // (VNNI kernels fold their +128 input offset in too)
    const int32_t *multiplier;           // [out_channels] acc >= 0
    const int32_t *negative_multiplier;  // [out_channels] acc < 0 (LeakyReLU folded in)
    const int32_t *shift;                // [out_channels] 32..62
    int32_t input_zero_point;            // the padding value
    int32_t output_zero_point;
    int32_t residual_zero_point;
    int32_t residual_multiplier;         // [0, 2^22)
    int32_t residual_shift;              // 1..30
    // A folded input (see the top; all zero and NULL without one). bias and fold_bias then hold
    // one row of class_stride values per border class (bias[c * class_stride + oc]); the thread
    // pool moves these pointers, not the stride, when it gives a thread part of the channels.
    const void *fold_weights;            // the fold's packed weights, class after class
    const int32_t *fold_bias;            // F above, in the kernel's own form
    const int32_t *fold_shift;           // [out_channels] 0..7
    int32_t fold_input_zero_point;       // the fold input's padding value
    int32_t class_stride;                // the layer's out_channels
    size_t fold_class_weights;           // elements of fold_weights between two classes
} nj_conv2d_qs8_params;

// The geometry fields are exactly those of nj_conv2d_f32_args (see nightjar_kernels.h: rings,
// channel strides, row ranges, groups, depth-to-space outputs); only the pointers differ.
// weight_stride counts output channels between two taps' weights, as for f32: out_channels /
// groups for a whole convolution (more when the thread pool runs a slice of the channels).
typedef struct nj_conv2d_qs8_args {
    const int8_t *input;
    size_t input_channel_stride;
    int32_t input_rows;

    int8_t *output;
    size_t output_channel_stride;
    int32_t output_rows;

    const int8_t *residual;           // NULL: no residual
    size_t residual_channel_stride;

    const void *weights;              // the packed block's start (nj_qs8_conv2d_prepare)
    const nj_conv2d_qs8_params *params;

    int32_t in_channels;
    int32_t out_channels;
    int32_t groups;
    int32_t kernel_size;
    int32_t height;
    int32_t width;
    int32_t row_begin;
    int32_t row_end;

    int32_t residual_rows;
    int32_t weight_stride;
    int32_t output_depth_to_space;
    int32_t output_channel_base;

    // Output columns [column_begin, column_end) of each row, for kernels with a column_block
    // (others compute whole rows): both multiples of column_block, column_end also the width;
    // column_end 0 means the width.
    int32_t column_begin;
    int32_t column_end;

    // A folded input (fold_kernel_size 0: none; see the top): fold_in_channels planes of the
    // same height and width, a ring of fold_input_rows rows like the input's.
    const int8_t *fold_input;
    size_t fold_input_channel_stride;
    int32_t fold_input_rows;
    int32_t fold_in_channels;
    int32_t fold_kernel_size;         // odd, larger than kernel_size
} nj_conv2d_qs8_args;

typedef void (*nj_conv2d_qs8_fn)(const nj_conv2d_qs8_args *args);

// How a kernel wants its weights (and so its bias): one packing per kernel family.
//   OIHW_S8       PyTorch's [out][in / groups][k][k] int8: the scalar reference.
//   GC4HWO4_S8    [group][ceil(in/groups / 4)][k][k][weight_stride][4] int8: four input
//                 channels per 32-bit lane (NEON sdot, which multiplies s8 by s8).
//   GC4HWO4_S8_U8 the same, for kernels that multiply unsigned by signed bytes (x86 VNNI
//                 VPDPBUSD): the kernel adds 128 to every activation (x ^ 0x80), and the bias
//                 subtracts 128 * sum(w) to undo it.
//   GC2HWO2_S16   [group][ceil(in/groups / 2)][k][k][weight_stride][2] int16: two input
//                 channels per lane (x86 AVX2 VPMADDWD on sign-extended activations).
//   GCHWO_S16     [group][in/groups][k][k][weight_stride] int16 (NEON SMLAL by lane).
//   WINOGRAD_2X2_S16  [16][ceil(in / 2)][weight_stride][2] int16, ungrouped 3x3 only: the
//                 filters transformed for Winograd's F(2x2, 3x3) with integer matrices,
//                 (2G) g (2G)ᵀ (four times G g Gᵀ, |value| <= 9 * 128), channel pairs per lane
//                 as GC2HWO2_S16.
//   WINOGRAD_1X2_5X5_S16  [5][6][ceil(in / 2)][weight_stride][2] int16, ungrouped 5x5 only: each
//                 filter row ky transformed for Winograd's F(2, 5) along the row with the
//                 integer matrix G' = 24 G (|value| <= 31 * 128), channel pairs per lane.
//   WINOGRAD_1X4_5X5_S16  [5][8][ceil(in / 2)][weight_stride][2] int16, ungrouped 5x5 only: each
//                 filter row ky transformed for F(4, 5) along the row at the points 0, ±1, ±2,
//                 ±1/2 and infinity, each row of G scaled to integers (|value| <= 31 * 128).
//   WINOGRAD_2X4_S16  [24][ceil(in / 2)][weight_stride][2] int16, ungrouped 3x3 only: the
//                 filters transformed for F(2, 3) down and F(4, 3) across, (2G) g G'ᵀ with G'
//                 F(4, 3)'s G, each row scaled to integers (|value| <= 3 * 7 * 128), point
//                 6 * row + column, channel pairs per lane.
//   WINOGRAD_4X4_S16  [36][ceil(in / 2)][weight_stride][2] int16, ungrouped 3x3 only: the
//                 filters transformed for F(4x4, 3x3), G' g G'ᵀ with G' as in WINOGRAD_2X4_S16
//                 both ways (|value| <= 7 * 7 * 128), point 6 * row + column, channel pairs per
//                 lane.
// Input channels past the group's count are zero weights.
typedef enum nj_qs8_weight_layout {
    NJ_QS8_WEIGHTS_OIHW_S8 = 0,
    NJ_QS8_WEIGHTS_GC4HWO4_S8 = 1,
    NJ_QS8_WEIGHTS_GC4HWO4_S8_U8 = 2,
    NJ_QS8_WEIGHTS_GC2HWO2_S16 = 3,
    NJ_QS8_WEIGHTS_GCHWO_S16 = 4,
    NJ_QS8_WEIGHTS_WINOGRAD_2X2_S16 = 5,
    NJ_QS8_WEIGHTS_WINOGRAD_1X2_5X5_S16 = 6,
    NJ_QS8_WEIGHTS_WINOGRAD_2X4_S16 = 7,
    NJ_QS8_WEIGHTS_WINOGRAD_1X4_5X5_S16 = 8,
    NJ_QS8_WEIGHTS_WINOGRAD_4X4_S16 = 9,
} nj_qs8_weight_layout;

typedef struct nj_conv2d_qs8_kernel {
    nj_conv2d_qs8_fn run;
    // datatype-op-geometry-ISA-tile, e.g. "qs8-conv2d-3x3-avx512vnni-8x2"; the reference is
    // "qs8-conv2d-scalar".
    const char *name;
    nj_isa isa;
    uint32_t required_features;       // CPU feature bits that must all be active
    int32_t kernel_size;              // 0: any (the reference)
    nj_qs8_weight_layout weight_layout;
    int32_t channel_block;            // output channels per register block
    int32_t fma_ports;                // 0: any machine
    // The largest in_channels / groups the kernel takes (it stages a tile's input rows on its
    // stack); 0: any. Selection passes over a kernel whose limit the geometry exceeds.
    int32_t max_group_inputs;
    // Rows the kernel computes together (the thread pool cuts bands at multiples; 0 or 1: any
    // row). The output is the same however rows are cut.
    int32_t row_block;
    // Rows one pass computes when the range allows, if more than row_block (0: row_block): the
    // kernel tiles a range from its first row, the pool cuts bands into chunks of whole tiles,
    // and a range of another length ends in a tile cut short. row_block stays what the schedule
    // aligns ranges to: F(4x4, 3x3)'s 4 there made its windows and those upstream taller (an
    // int8 restore of 12.1 MP: 1.2 MiB of arena, 2 MB of peak RSS) where 2 leaves the 1/8-scale
    // bands' ranges 4 or 8 rows long. Selection given fewer rows a call passes over the kernel.
    int32_t tile_rows;
    // Columns the kernel computes together when asked for part of a row (args' column_begin,
    // column_end); 0: it computes whole rows only. The thread pool cuts a band that is too
    // short to split by rows into column ranges for such a kernel, so that each thread
    // transforms only its own columns' input.
    int32_t column_block;
    // The kernel's own test of the geometry beyond its kernel size (NULL: every geometry).
    int (*supports)(const struct nj_conv2d_qs8_args *geometry);
    // The folded input's kernel size the kernel takes (0: layers without one); the reference
    // takes any.
    int32_t fold_kernel_size;
} nj_conv2d_qs8_kernel;

// Why nj_qs8_conv2d_prepare refused a layer (0: it did not).
typedef enum nj_qs8_status {
    NJ_QS8_OK = 0,
    NJ_QS8_BAD_SCALE = 1,            // a scale is not positive and finite
    NJ_QS8_BAD_ZERO_POINT = 2,       // a zero point outside [-128, 127]
    NJ_QS8_MULTIPLIER_TOO_LARGE = 3, // input * weight scale / output scale >= 1/2 (or residual
                                     // scale / output scale >= 2^21)
    NJ_QS8_BIAS_OUT_OF_RANGE = 4,    // |bias / (input scale * weight scale)| >= 2^29
    NJ_QS8_BAD_GEOMETRY = 5,         // channels/groups/kernel size invalid, or (in/groups) * k * k
                                     // > 16384 (int32 accumulators could overflow), or a
                                     // geometry the kernel's own test (supports) refuses
    NJ_QS8_BAD_ACTIVATION = 6,       // LeakyReLU slope outside [0, 1]
} nj_qs8_status;

// One line saying what the status means and what to do about it.
const char *nj_qs8_status_message(int status);

// Bytes of the packed block for a kernel and geometry (weights, then the per-channel arrays),
// a multiple of 64.
size_t nj_qs8_conv2d_packed_bytes(const nj_conv2d_qs8_kernel *kernel,
                                  const nj_conv2d_qs8_args *geometry);

// Packs PyTorch-layout int8 weights in the kernel's layout and computes the per-channel bias,
// multipliers and shifts from the model's numbers; fills *params (pointing into `packed`).
// Set geometry->weight_stride to out_channels / groups (as the kernels then expect) and
// args.weights = packed, args.params = params. `packed` holds nj_qs8_conv2d_packed_bytes
// bytes, 64-byte aligned. Returns NJ_QS8_OK or an nj_qs8_status; allocates nothing.
int nj_qs8_conv2d_prepare(const nj_conv2d_qs8_kernel *kernel, const nj_conv2d_qs8_args *geometry,
                          const int8_t *weights_oihw, const float *weight_scales,
                          const float *bias, nj_qs8_quantization input,
                          nj_qs8_quantization output, const nj_qs8_quantization *residual,
                          int32_t activation, float negative_slope, void *packed,
                          nj_conv2d_qs8_params *params);

// What a folded layer adds to nj_qs8_conv2d_prepare's numbers (see the top). bias there is
// then [classes][out_channels], classes = kernel_size^2.
typedef struct nj_qs8_fold {
    const int8_t *weights;          // [classes][out_channels][fold_in_channels][fold_k][fold_k]
    const float *weight_scales;     // [out_channels]
    nj_qs8_quantization input;      // the fold input's
} nj_qs8_fold;

// nj_qs8_conv2d_prepare for a layer with a folded input (geometry->fold_kernel_size > 0; the
// kernel's fold_kernel_size that, or the reference). Refuses scales whose ratio is not a power
// of two in [1, 2^7] (NJ_QS8_BAD_SCALE) and weights whose sums could overflow int32
// (NJ_QS8_BIAS_OUT_OF_RANGE); no residual.
int nj_qs8_conv2d_prepare_folded(const nj_conv2d_qs8_kernel *kernel, const nj_conv2d_qs8_args *geometry,
                                 const int8_t *weights_oihw, const float *weight_scales, const float *bias,
                                 nj_qs8_quantization input, const nj_qs8_fold *fold,
                                 nj_qs8_quantization output, int32_t activation, float negative_slope,
                                 void *packed, nj_conv2d_qs8_params *params);

// The border class of row (or column) i of n for a kernel's padding p (see the top).
static inline int32_t nj_qs8_border_class(int32_t i, int32_t n, int32_t p) {
    return i < p ? i : i >= n - p ? 2 * p - (n - 1 - i) : p;
}

// The scalar reference (NJ_QS8_WEIGHTS_OIHW_S8): the specification above, in int64.
void nj_qs8_conv2d_scalar(const nj_conv2d_qs8_args *args);

// requantize(x, m, s) of the header comment, exactly (for engines and tests).
int32_t nj_qs8_requantize(int32_t x, int32_t multiplier, int32_t shift);

// The best kernel for the geometry on this CPU among the levels `cap` allows (an nj_isa, or
// negative for the process-wide cap) and the active CPU features; the reference when none fits.
// A geometry with a row range says how many rows each call will compute: kernels whose tiles
// are taller (tile_rows) are passed over, as they would form rows only to drop them.
const nj_conv2d_qs8_kernel *nj_conv2d_qs8_kernel_select(const nj_conv2d_qs8_args *geometry,
                                                        int cap);
// Every registered kernel (also those this CPU cannot run), the reference last.
int32_t nj_conv2d_qs8_kernel_count(void);
const nj_conv2d_qs8_kernel *nj_conv2d_qs8_kernel_at(int32_t index);
const nj_conv2d_qs8_kernel *nj_conv2d_qs8_kernel_reference(void);
// Whether this CPU (and the feature set active now) can run the kernel.
int nj_conv2d_qs8_kernel_usable(const nj_conv2d_qs8_kernel *kernel);

#ifdef __cplusplus
}
#endif

#endif
