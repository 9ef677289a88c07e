// The storage element of a convolution template (f32-conv2d-direct.h,
// f32-conv2d-3x3-winograd2x2-avx2.h): f32, or binary16 when the including kernel defines
// NJ_F16_STORAGE 1 (its vocabulary then defines V_LOADX / V_STOREX, converting). Internal, no
// include guard: included once by each template, after the ISA vocabulary.
#ifndef NJ_F16_STORAGE
#define NJ_F16_STORAGE 0
#endif
#if NJ_F16_STORAGE
#include "nj-f16.h"
typedef uint16_t nj_x;                 // storage element of input, residual, output
typedef nj_conv2d_f16_args nj_args;
typedef nj_conv2d_f16_kernel nj_kernel;
#define NJ_X2F(x) nj_f16_bits_to_f32(x)
#define NJ_F2X(f) nj_f32_to_f16_bits(f)
#define NJ_OUTPUT_ROW nj_conv2d_f16_output_row
#else
typedef float nj_x;
typedef nj_conv2d_f32_args nj_args;
typedef nj_conv2d_f32_kernel nj_kernel;
#define NJ_X2F(x) (x)
#define NJ_F2X(f) (f)
#define NJ_OUTPUT_ROW nj_conv2d_output_row
#define V_LOADX(p) V_LOADU(p)
#define V_STOREX(p, v) V_STOREU((p), (v))
#if NJ_MASKED
#define V_LOADX_M(p, m) V_LOADU_M((p), (m))
#define V_STOREX_M(p, m, v) V_STOREU_M((p), (m), (v))
#endif
#endif
