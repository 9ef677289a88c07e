// Nightjar's kernel interface: plain C, planar CHW float32 tensors, no allocation.
//
// Every operation has a scalar reference (src/*-scalar.c) that later SIMD kernels are tested
// against. The executor never calls a kernel by name: it asks nj_conv2d_f32_select() for the
// best kernel for a geometry, so faster kernels slot in without touching the executor.
#ifndef NIGHTJAR_KERNELS_H
#define NIGHTJAR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nj_activation {
    NJ_ACTIVATION_NONE = 0,
    NJ_ACTIVATION_LEAKY_RELU = 1,
} nj_activation;

// 2-D convolution, stride 1, zero padding (k-1)/2, same height and width in and out.
//
//   output[oc] = act(bias[oc] + sum over the group's input channels of w * input) + residual[oc]
//
// Weights are laid out as PyTorch's: [out_channels][in_channels / groups][k][k].
// Tensors are planes of height x width floats (row stride = width); channel c of a tensor starts
// at base + c * channel_stride, so a convolution can read or write a slice of a larger buffer
// (concatenation without copies, interleaved channels for a channel shuffle).
//
// Only output rows [row_begin, row_end) are computed (threads, stripes). A buffer may hold only
// some rows of the image: row y of the image lives at row (y - *_row0) of the buffer. Rows
// outside [0, height) are zero padding; rows inside must be present in the buffer.
typedef struct nj_conv2d_f32_args {
    const float *input;
    size_t input_channel_stride;
    int32_t input_row0;

    float *output;
    size_t output_channel_stride;
    int32_t output_row0;

    const float *residual;            // NULL: no residual; rows placed by residual_row0
    size_t residual_channel_stride;

    const float *weights;
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

    int32_t residual_row0;            // row y of the residual is at row (y - residual_row0)
} nj_conv2d_f32_args;

typedef void (*nj_conv2d_f32_fn)(const nj_conv2d_f32_args *args);

// The scalar reference convolution.
void nj_f32_conv2d_scalar(const nj_conv2d_f32_args *args);

// The kernel the executor should use for this geometry on this CPU: the fastest one for the
// active instruction set (nj_isa_active()). Kernel sizes 1, 3 and 5 have SIMD kernels (any
// channel counts, groups, widths, row ranges, strides); anything else gets the scalar reference.
// Every kernel returned computes what nj_f32_conv2d_scalar computes, up to rounding (FMA and
// summation order), and touches only the rows and columns the contract above allows.
nj_conv2d_f32_fn nj_conv2d_f32_select(const nj_conv2d_f32_args *args);

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

// Whether this CPU (and OS, for the AVX register state) supports the instruction set.
int nj_isa_supported(nj_isa isa);

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

// The kernel dispatch would pick for this geometry with the given cap instead of the
// process-wide one (supported levels of rank <= rank(cap)). Lets tests run every level
// without touching global state.
nj_conv2d_f32_fn nj_conv2d_f32_select_isa(const nj_conv2d_f32_args *args, nj_isa cap);

// Name of the kernel nj_conv2d_f32_select(args) returns, e.g. "f32-conv2d-3x3-avx512",
// "f32-conv2d-scalar".
const char *nj_conv2d_f32_kernel_name(const nj_conv2d_f32_args *args);

// Name of any kernel function pointer the registry hands out; "unknown" otherwise.
const char *nj_conv2d_f32_fn_name(nj_conv2d_f32_fn fn);

// Space-to-depth by r over `rows` output rows: channels planes of width `width` in, channels*r*r
// planes of width width/r out. Output channel c*r*r + i*r + j at (y, x) is input channel c at
// (y*r + i, x*r + j). Pointers address the first row to read and to write in channel 0.
void nj_f32_pixel_unshuffle_scalar(const float *input, size_t input_channel_stride,
                                   int32_t channels, int32_t width, int32_t r, int32_t rows,
                                   float *output, size_t output_channel_stride);

// Depth-to-space by r, the inverse, over `rows` input rows: channels planes of width `width` in,
// channels/(r*r) planes of width width*r (rows*r rows) out.
void nj_f32_pixel_shuffle_scalar(const float *input, size_t input_channel_stride,
                                 int32_t channels, int32_t width, int32_t r, int32_t rows,
                                 float *output, size_t output_channel_stride);

// output[i] = input[i] >= 0 ? input[i] : input[i] * slope. input may equal output.
void nj_f32_leaky_relu_scalar(const float *input, float *output, size_t count, float slope);

// data[i] = min(max(data[i], lo), hi), in place; NaN becomes lo.
void nj_f32_clamp_scalar(float *data, size_t count, float lo, float hi);

#ifdef __cplusplus
}
#endif

#endif
