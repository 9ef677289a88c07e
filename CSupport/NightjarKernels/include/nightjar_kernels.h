// Nightjar's kernel interface: plain C, planar CHW float32 tensors, no allocation.
//
// Every operation has a scalar reference (src/*-scalar.c) that the SIMD kernels are tested
// against. The executor never calls a kernel by name: once per layer it asks the registry
// (nj_conv2d_f32_kernel_select) for the best kernel for the layer's geometry on this CPU,
// packs the layer's weights in the layout that kernel reads, and from then on only calls it.
#ifndef NIGHTJAR_KERNELS_H
#define NIGHTJAR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- Datatypes ------------------------------------------------------------------------------
//
// Three kernel families of one design: f32, f16 (IEEE binary16 storage, uint16_t bits in C,
// UInt16 in Swift) and qs8 (int8 fixed point). Each has its args and kernel structs, a scalar
// reference, a registry (nj_conv2d_<type>_kernel_select) and nj_threadpool_conv2d_<type>.
typedef enum nj_dtype {
    NJ_DTYPE_F32 = 0,
    NJ_DTYPE_F16 = 1,
    NJ_DTYPE_QS8 = 2,
    // Packed weights only: one binary16 value twice in 32 bits, so a 32-bit broadcast (a plain
    // load on x86, where a 16-bit one also takes a shuffle port) fills every half lane.
    NJ_DTYPE_F16X2 = 3,
} nj_dtype;

// Bytes per element: 4, 2, 1, 4 (f16x2); 0 for anything else.
size_t nj_dtype_size(nj_dtype dtype);
// "f32", "f16", "qs8", "f16x2"; "unknown" for anything else.
const char *nj_dtype_name(nj_dtype dtype);

// ---- CPU feature bits -----------------------------------------------------------------------
//
// What a kernel needs beyond its base instruction set (nj_isa below) is a set of these bits
// (nj_conv2d_<type>_kernel.required_features); selection takes a kernel only when every bit is
// active.
enum {
    NJ_CPU_SSE41 = 1u << 0,
    NJ_CPU_AVX2 = 1u << 1,            // AVX2 + FMA, and the OS saves the YMM state
    NJ_CPU_AVX512 = 1u << 2,          // AVX-512 F + BW + DQ + VL, and the OS saves the ZMM state
    NJ_CPU_F16C = 1u << 3,            // binary16 <-> binary32 conversions (VEX)
    NJ_CPU_AVX512_FP16 = 1u << 4,     // binary16 arithmetic on 32-lane vectors
    NJ_CPU_AVX512_VNNI = 1u << 5,     // vpdpbusd on zmm
    NJ_CPU_AVX_VNNI = 1u << 6,        // vpdpbusd, VEX-encoded (ymm)
    NJ_CPU_NEON = 1u << 7,            // AArch64 Advanced SIMD (always there)
    NJ_CPU_NEON_FP16 = 1u << 8,       // FEAT_FP16: half-precision arithmetic (ARMv8.2-A)
    NJ_CPU_NEON_DOTPROD = 1u << 9,    // FEAT_DotProd: sdot / udot
    NJ_CPU_AVX512_VBMI = 1u << 10,    // vpermb / vpermi2b: byte permutes across a zmm
};

// Every feature this CPU and OS support (cpuid + xgetbv on x86-64, getauxval(AT_HWCAP) on
// AArch64), detected once.
uint32_t nj_cpu_features(void);

// The features dispatch may use: nj_cpu_features() minus what the instruction-set cap takes
// away (nj_set_max_isa / NIGHTJAR_MAX_ISA: a cap at avx2 removes avx512, avx512fp16,
// avx512vnni and avx512vbmi; at sse4.1 also avx2, f16c and avxvnni; at scalar everything) and minus the
// features disabled by nj_set_disabled_cpu_features() or, before any call to it, by the
// environment variable NIGHTJAR_DISABLE_FEATURES, a comma list of
// f16c,avx512fp16,avx512vnni,avx512vbmi,avxvnni,fp16,dotprod (read once; unknown names are
// ignored).
// Tests use it to force every kernel path on one machine.
uint32_t nj_cpu_features_active(void);

// Disables `bits` (NJ_CPU_* values) for dispatch from now on, replacing what
// NIGHTJAR_DISABLE_FEATURES said; 0 enables everything detected again. Kernels already
// selected keep running: select again after changing it.
void nj_set_disabled_cpu_features(uint32_t bits);

// Name of one feature bit: "sse4.1", "avx2", "avx512", "f16c", "avx512fp16", "avx512vnni",
// "avxvnni", "neon", "fp16", "dotprod", "avx512vbmi"; "unknown" otherwise.
const char *nj_cpu_feature_name(uint32_t bit);

// The bits of a comma-separated list of the names above (case-insensitive); unknown names are
// skipped.
uint32_t nj_cpu_features_parse(const char *list);

typedef enum nj_activation {
    NJ_ACTIVATION_NONE = 0,
    NJ_ACTIVATION_LEAKY_RELU = 1,
} nj_activation;

// 2-D convolution, stride 1, zero padding (k-1)/2, same height and width in and out.
//
//   output[oc] = act(bias[oc] + sum over the group's input channels of w * input) + residual[oc]
//
// Weights are in the layout the kernel declares (nj_conv2d_f32_kernel.weight_layout), packed
// once by nj_f32_conv2d_pack_weights from PyTorch's [out_channels][in_channels / groups][k][k].
// Tensors are planes of height x width floats (row stride = width); channel c of a tensor starts
// at base + c * channel_stride, so a convolution can read or write a slice of a larger buffer
// (concatenation without copies, interleaved channels for a channel shuffle).
//
// Only output rows [row_begin, row_end) are computed (threads, stripes). A buffer may hold only
// some rows of the image, as a ring: it has *_rows rows per channel and image row y lives at
// buffer row (y mod *_rows). A whole plane has *_rows = height; a streaming window holds the
// rows still needed and is never moved, new rows overwrite the oldest. Rows outside [0, height)
// are zero padding; rows inside that the computed range needs must be present.
typedef struct nj_conv2d_f32_args {
    const float *input;
    size_t input_channel_stride;
    int32_t input_rows;

    float *output;
    size_t output_channel_stride;
    int32_t output_rows;

    const float *residual;            // NULL: no residual
    size_t residual_channel_stride;

    const float *weights;             // in the kernel's weight layout
    const float *bias;                // NULL: no bias

    int32_t in_channels;
    int32_t out_channels;
    int32_t groups;
    int32_t kernel_size;              // odd: 1, 3, 5
    int32_t height;                   // of the whole image plane
    int32_t width;
    int32_t row_begin;
    int32_t row_end;

    int32_t activation;               // nj_activation, applied before the residual add
    float negative_slope;

    int32_t residual_rows;            // ring rows of the residual

    // NJ_WEIGHTS_GIHWO only: floats from one kernel tap's output channels to the next tap's
    // (out_channels / groups when packed; more when a kernel runs on a slice of the output
    // channels, as the thread pool does).
    int32_t weight_stride;

    // Depth-to-space on the way out, the pixel shuffle that follows some convolutions folded
    // into their stores: 0 or 1 for none. With r > 1, output channel c is stored as channel
    // c / r² of an image r times taller and wider, at row y·r + (c / r) mod r and column
    // x·r + c mod r; `output` is that image's first channel, its rings hold output_rows rows of
    // width·r floats, channels output_channel_stride apart, and output_rows counts rows of the
    // larger image. The residual, if any, is read as without. `output_channel_base` is c of this
    // call's first output channel (nonzero when the thread pool splits output channels).
    int32_t output_depth_to_space;
    int32_t output_channel_base;
} nj_conv2d_f32_args;

typedef void (*nj_conv2d_f32_fn)(const nj_conv2d_f32_args *args);

// How a kernel wants its weights.
//   NJ_WEIGHTS_OIHW   PyTorch's [out][in / groups][k][k]: the scalar reference reads this.
//   NJ_WEIGHTS_GIHWO  [groups][in / groups][k][k][weight_stride], output channels innermost:
//                     the weights of a block of output channels for one input channel and tap
//                     are adjacent, so a SIMD kernel reaches a whole register block through one
//                     pointer (and one vector load on NEON).
//   NJ_WEIGHTS_WINOGRAD_2X2  ungrouped 3x3 only: [16][in][weight_stride], the filters
//                     transformed for Winograd's F(2x2, 3x3), U = G g Gᵀ (element ξ = 4i + j of
//                     the 4x4 U), output channels innermost as in GIHWO.
//   NJ_WEIGHTS_WINOGRAD_2X2_5X5  ungrouped 5x5 only: [36][in][weight_stride], the filters
//                     transformed for F(2x2, 5x5) (element ξ = 6i + j of the 6x6 U).
//   NJ_WEIGHTS_WINOGRAD_2X2_PAIRS  ungrouped 3x3 only: [8][in][weight_stride] pairs of binary16
//                     (NJ_DTYPE_F16X2 elements): F(2x2, 3x3)'s U rounded to binary16, two ξ per
//                     element, pair 2i + 0 = (ξ 4i, ξ 4i + 3) and 2i + 1 = (ξ 4i + 2, ξ 4i + 1),
//                     the first in the low 16 bits, for kernels that keep two ξ per 32-bit lane.
typedef enum nj_weight_layout {
    NJ_WEIGHTS_OIHW = 0,
    NJ_WEIGHTS_GIHWO = 1,
    NJ_WEIGHTS_WINOGRAD_2X2 = 2,
    NJ_WEIGHTS_WINOGRAD_2X2_5X5 = 3,
    NJ_WEIGHTS_WINOGRAD_2X2_PAIRS = 4,
} nj_weight_layout;

// Floats of weights in PyTorch's layout (OIHW and GIHWO pack to this many).
size_t nj_f32_conv2d_weight_count(int32_t out_channels, int32_t in_channels, int32_t groups,
                                  int32_t kernel_size);

// Elements of packed weights in `layout`: nj_f32_conv2d_weight_count(), or 16 per (input,
// output channel) pair for NJ_WEIGHTS_WINOGRAD_2X2, 36 for NJ_WEIGHTS_WINOGRAD_2X2_5X5 and 8
// (pairs) for NJ_WEIGHTS_WINOGRAD_2X2_PAIRS.
size_t nj_f32_conv2d_packed_count(nj_weight_layout layout, int32_t out_channels, int32_t in_channels,
                                  int32_t groups, int32_t kernel_size);

// Writes PyTorch-layout weights `oihw` into `packed` in `layout` (weight_stride =
// out_channels / groups). `packed` holds nj_f32_conv2d_packed_count() floats; no allocation.
void nj_f32_conv2d_pack_weights(nj_weight_layout layout, const float *oihw, int32_t out_channels,
                                int32_t in_channels, int32_t groups, int32_t kernel_size,
                                float *packed);

// The scalar reference convolution (NJ_WEIGHTS_OIHW).
void nj_f32_conv2d_scalar(const nj_conv2d_f32_args *args);

// ---- Instruction sets and run-time dispatch ------------------------------------------------
//
// Levels are ordered by rank: scalar (0) < sse4.1 = neon (1) < avx2 (2, with FMA) < avx512 (3,
// AVX-512F). x86-64 uses scalar/sse4.1/avx2/avx512, AArch64 scalar/neon. A cap of rank r allows
// every supported level of rank <= r on this machine, so NJ_ISA_AVX512 means "no cap" on either
// architecture and NJ_ISA_NEON caps an x86 machine at SSE4.1.
typedef enum nj_isa {
    NJ_ISA_SCALAR = 0,
    NJ_ISA_SSE41 = 1,
    NJ_ISA_AVX2 = 2,
    NJ_ISA_AVX512 = 3,
    NJ_ISA_NEON = 4,
} nj_isa;

// "scalar", "sse4.1", "avx2", "avx512", "neon"; "unknown" for anything else.
const char *nj_isa_name(nj_isa isa);

// Parses the names above (case-insensitive, also "sse41", "avx-512", "none" = scalar);
// returns -1 when the name is unknown.
int nj_isa_parse(const char *name);

// Whether this CPU (and OS, for the AVX register state) supports the instruction set
// (sse4.1: NJ_CPU_SSE41, avx2: NJ_CPU_AVX2, avx512: NJ_CPU_AVX512, neon: NJ_CPU_NEON).
int nj_isa_supported(nj_isa isa);

// The feature bit of an instruction-set level (0 for scalar).
uint32_t nj_isa_feature(nj_isa isa);

// Best instruction set of this CPU, ignoring any cap.
nj_isa nj_isa_detected(void);

// The level dispatch uses now: the best supported level within the cap. The cap comes from
// nj_set_max_isa() if it was called, else from the environment variable NIGHTJAR_MAX_ISA
// (read once, at the first dispatch; unknown values are ignored), else there is none.
nj_isa nj_isa_active(void);

// Caps dispatch at `cap` for the whole process (tests, benchmarks, `nightjar doctor`); a
// negative value removes the cap (and ignores NIGHTJAR_MAX_ISA from then on). Thread-safe,
// but kernels already selected keep running: select again after changing the cap.
void nj_set_max_isa(int cap);

// ---- The convolution kernel registry ---------------------------------------------------------
//
// Kernels are keyed by datatype (this family: f32), geometry (kernel size) and instruction
// set. Every kernel computes what nj_f32_conv2d_scalar computes, up to rounding (FMA and
// summation order), for any channel counts, groups, widths, row ranges and strides, and
// touches only the rows and columns the contract above allows.
typedef struct nj_conv2d_f32_kernel {
    nj_conv2d_f32_fn run;
    // datatype-op-geometry-ISA-tile, e.g. "f32-conv2d-3x3-avx512-8x3" (8 output channels x 3
    // vectors per register block); the reference is "f32-conv2d-scalar".
    const char *name;
    nj_isa isa;
    uint32_t required_features;       // NJ_CPU_* bits needed beyond `isa` (0 for every f32 kernel)
    int32_t kernel_size;              // the geometry it serves; 0: any (the reference)
    nj_weight_layout weight_layout;
    // Output channels per register block: the thread pool splits ungrouped convolutions by
    // multiples of this.
    int32_t channel_block;
    // The 512-bit FMA port count the tile was chosen for (see nj_fma_ports): 0 for any machine.
    // Selection skips a kernel tuned for another count when one for this machine follows.
    int32_t fma_ports;
    // Output rows one pass of the kernel computes together (2 for Winograd's 2x2 tiles, else 1):
    // the thread pool's bands of rows are multiples of it where it can.
    int32_t row_block;
    // The geometries it serves beyond kernel_size (groups, depth-to-space, channel counts);
    // NULL: every geometry of its kernel size.
    int (*supports)(const nj_conv2d_f32_args *geometry);
} nj_conv2d_f32_kernel;

// The fastest kernel for this geometry among the levels the cap allows: `cap` is an nj_isa, or
// negative for the process-wide cap (nj_isa_active()). The kernel size, and for kernels with a
// `supports` test the groups, depth-to-space and channel counts, decide. Kernel sizes 1, 3 and
// 5 have SIMD kernels; any other size gets the scalar reference.
const nj_conv2d_f32_kernel *nj_conv2d_f32_kernel_select(const nj_conv2d_f32_args *geometry,
                                                        int cap);

// Every registered kernel, best first within each kernel size, the reference last (tests and
// benchmarks run each tile, whatever this machine would select).
int32_t nj_conv2d_f32_kernel_count(void);
const nj_conv2d_f32_kernel *nj_conv2d_f32_kernel_at(int32_t index);

// 512-bit FMA ports per core, which decides the best register tiles: 2 where a 512-bit FMA
// loop retires twice the lanes per cycle of a 256-bit one (Intel Xeon Skylake-SP Gold and later
// server cores, Zen 5), 1 where they retire the same (Zen 4's double-pumped unit, Intel parts
// with one 512-bit port), 1 without AVX-512. Measured once (a few milliseconds of CPU time,
// best of several alternating rounds, so a busy machine does not skew it), unless
// NIGHTJAR_FMA_PORTS=1|2 or nj_set_fma_ports says otherwise.
int32_t nj_fma_ports(void);
// Forces the port count (1 or 2) for selection from now on; 0 measures again at the next use.
void nj_set_fma_ports(int32_t ports);
// The measured ratio itself (512-bit lanes per second / 256-bit lanes per second, best of
// `rounds` alternating rounds); 0 without AVX-512. For `nightjar bench` and diagnostics.
double nj_fma512_to_256_ratio(int32_t rounds);

// The scalar reference as a registry entry.
const nj_conv2d_f32_kernel *nj_conv2d_f32_kernel_reference(void);

// Name of any kernel function the registry hands out, e.g. "f32-conv2d-3x3-avx512-8x3";
// "unknown" otherwise.
const char *nj_conv2d_f32_fn_name(nj_conv2d_f32_fn fn);

// Space-to-depth by r: output rows [row_begin, row_end) (at the output's scale) from channels
// planes of width `width`, to channels*r*r planes of width width/r. Output channel
// c*r*r + i*r + j at (y, x) is input channel c at (y*r + i, x*r + j). Buffers are rings as for
// the convolution: input row Y at row (Y mod input_rows), output row y at (y mod output_rows).
// r is 1 to 16 (the network uses 2, 4 and 16).
void nj_f32_pixel_unshuffle_scalar(const float *input, size_t input_channel_stride, int32_t input_rows,
                                   int32_t channels, int32_t width, int32_t r,
                                   int32_t row_begin, int32_t row_end,
                                   float *output, size_t output_channel_stride, int32_t output_rows);

// Depth-to-space by r, the inverse: input rows [row_begin, row_end) (at the input's scale) of
// channels planes of width `width`, to channels/(r*r) planes of width width*r (output rows
// [row_begin*r, row_end*r)). Rings as above.
void nj_f32_pixel_shuffle_scalar(const float *input, size_t input_channel_stride, int32_t input_rows,
                                 int32_t channels, int32_t width, int32_t r,
                                 int32_t row_begin, int32_t row_end,
                                 float *output, size_t output_channel_stride, int32_t output_rows);

// The same for elements of any size (element_size 1, 2, 4 or 8 bytes: qs8, f16, f32 tensors;
// strides and widths count elements). The f32 functions above are these with 4.
void nj_pixel_unshuffle_scalar(size_t element_size, const void *input, size_t input_channel_stride,
                               int32_t input_rows, int32_t channels, int32_t width, int32_t r,
                               int32_t row_begin, int32_t row_end,
                               void *output, size_t output_channel_stride, int32_t output_rows);
void nj_pixel_shuffle_scalar(size_t element_size, const void *input, size_t input_channel_stride,
                             int32_t input_rows, int32_t channels, int32_t width, int32_t r,
                             int32_t row_begin, int32_t row_end,
                             void *output, size_t output_channel_stride, int32_t output_rows);
// nj_pixel_unshuffle_scalar with bytes by 4 (an int8 network's 1/8-scale input) deinterleaved
// by the active CPU features' nj_u8_deinterleave4: the same bytes.
void nj_pixel_unshuffle(size_t element_size, const void *input, size_t input_channel_stride,
                        int32_t input_rows, int32_t channels, int32_t width, int32_t r,
                        int32_t row_begin, int32_t row_end,
                        void *output, size_t output_channel_stride, int32_t output_rows);

// out_k[x] = in[4x + k] for k < 4, x < n (rows that do not overlap). nj_u8_deinterleave4
// dispatches by the active CPU features (AVX-512 VBMI, AVX2, NEON) and writes exactly what the
// scalar reference writes.
typedef void (*nj_u8_deinterleave4_fn)(const uint8_t *in, uint8_t *out0, uint8_t *out1, uint8_t *out2,
                                       uint8_t *out3, size_t n);
void nj_u8_deinterleave4(const uint8_t *in, uint8_t *out0, uint8_t *out1, uint8_t *out2, uint8_t *out3, size_t n);
void nj_u8_deinterleave4_scalar(const uint8_t *in, uint8_t *out0, uint8_t *out1, uint8_t *out2, uint8_t *out3,
                                size_t n);

// The 8-bit codes of an int8 network's mosaic (u16-mosaic-codes-scalar.c), for a band of rows
// of a 16-bit mosaic (row y at rows + (y − first_y)·width) and the aligned area [dy, dy +
// aligned_height) × [dx, dx + aligned_width):
// - nj_u16_mosaic_histogram_rows takes the rows y in [y_begin, y_end) with (y − dy) & 1 ==
//   parity: each value of the aligned part counted into site (2·parity + column parity) of
//   `counts` (sites `stride` counts apart, every value below `stride`), and returns the largest
//   value of those rows, whole, and `largest`. Two threads can take the two parities at once.
// - nj_u16_mosaic_codes_row: target[x] = (x even ? even_codes : odd_codes)[source[x]].
uint16_t nj_u16_mosaic_histogram_rows(const uint16_t *rows, size_t width, int32_t first_y, int32_t y_begin,
                                      int32_t y_end, int32_t dy, int32_t dx, int32_t aligned_width,
                                      int32_t aligned_height, int32_t parity, uint32_t *counts, size_t stride,
                                      uint16_t largest);
void nj_u16_mosaic_codes_row(uint8_t *target, const uint16_t *source, size_t width, const uint8_t *even_codes,
                             const uint8_t *odd_codes);

// The network's input from one row of a frame's mosaic (REFERENCE.md §3 steps 2–5, the
// capture pipeline's NetworkInputRows): padded column c < count (count a multiple of 2·split,
// split a power of two) has the value
//   v(c) = (sources[c] even ? table_even : table_odd)[row[sources[c]]] · amplification
// (sources: the frame column of each padded column, reflections and the CFA offset included,
// never more than one column past the one before, sources[c + 1] <= sources[c] + 1, as a
// reflected map is; the tables: the normalisation of the row's two CFA sites, indexed by raw
// value or 8-bit code) and goes where the network's first layers read it, split by 2 and then by `split`:
// plane (c & 1)·split² + ((c >> 1) & (split − 1)), column (c >> 1) / split, of `out`, whose
// planes are `channel_stride` floats apart. One multiply per value: the same bits as the
// Swift expression table[i] * amplification.
void nj_u16_network_input_row(float *out, size_t channel_stride, int32_t split, const uint16_t *row,
                              const intptr_t *sources, const float *table_even, const float *table_odd,
                              float amplification, size_t count);
void nj_u8_network_input_row(float *out, size_t channel_stride, int32_t split, const uint8_t *row,
                             const intptr_t *sources, const float *table_even, const float *table_odd,
                             float amplification, size_t count);

// output[i] = input[i] >= 0 ? input[i] : input[i] * slope. input may equal output.
void nj_f32_leaky_relu_scalar(const float *input, float *output, size_t count, float slope);

// data[i] = min(max(data[i], lo), hi), in place; NaN becomes lo.
void nj_f32_clamp_scalar(float *data, size_t count, float lo, float hi);

#ifdef __cplusplus
}
#endif

// The other families (each header includes this one first), the colour stage's box-filter steps and
// the PNG encoder's steps.
#include "nightjar_kernels_f16.h"
#include "nightjar_kernels_qs8.h"
#include "nightjar_kernels_colour.h"
#include "nightjar_kernels_png.h"

#endif
