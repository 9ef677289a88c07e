// THE list of SIMD convolution kernels, one line each, best first within each datatype and
// kernel size (selection takes the first runnable one). Both the kernels' declarations
// (nj-kernels-internal.h) and the registry tables (kernel-registry.c) are generated from it:
// adding a kernel is one file and one line here.
//
// X-macro, no include guard: the includer defines the family macros it wants,
//   NJ_F32_KERNEL(symbol)   a const nj_conv2d_f32_kernel
//   NJ_F16_KERNEL(symbol)   a const nj_conv2d_f16_kernel
//   NJ_QS8_KERNEL(symbol)   a const nj_conv2d_qs8_kernel
// and the others expand to nothing. Each family's scalar reference is not listed: the
// registry appends it to its table.
#ifndef NJ_F32_KERNEL
#define NJ_F32_KERNEL(symbol)
#endif
#ifndef NJ_F16_KERNEL
#define NJ_F16_KERNEL(symbol)
#endif
#ifndef NJ_QS8_KERNEL
#define NJ_QS8_KERNEL(symbol)
#endif

#if defined(__x86_64__)
// f32: 5x5 6x4 is for two 512-bit FMA ports, 12x1 for one (fma_ports in the entries). The
// Winograd kernels serve ungrouped layers with 16 or more channels each side; the others fall
// through to the direct kernel.
NJ_F32_KERNEL(nj_f32_conv2d_1x1_avx512_12x2_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_3x3_winograd2x2_avx512_12x2_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_3x3_avx512_8x3_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_5x5_winograd2x2_avx512_12x2_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_5x5_avx512_6x4_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_5x5_avx512_12x1_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_1x1_avx2_6x2_kernel)
// Winograd F(2x2, 3x3) ahead of the direct 3x3: 1.5-2.1x it per layer on one Zen 3 thread
// (README). It serves ungrouped layers with 16 or more channels each side; the others fall
// through to the direct kernel.
NJ_F32_KERNEL(nj_f32_conv2d_3x3_winograd2x2_avx2_6x2_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_3x3_avx2_6x2_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_5x5_winograd2x2_avx2_6x2_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_5x5_avx2_6x2_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_1x1_sse41_4x2_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_3x3_sse41_4x2_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_5x5_sse41_4x2_kernel)
#endif

#if defined(__aarch64__)
NJ_F32_KERNEL(nj_f32_conv2d_1x1_neon_4x4_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_3x3_neon_4x4_kernel)
NJ_F32_KERNEL(nj_f32_conv2d_5x5_neon_4x4_kernel)
#endif

// f16: native half arithmetic first (where the CPU has it), then convert around an f32 FMA.
#if defined(__x86_64__)
NJ_F16_KERNEL(nj_f16_conv2d_1x1_avx512fp16_12x2_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_3x3_winograd2x2_avx512fp16_6x4_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_3x3_avx512fp16_8x3_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_5x5_winograd2x2_avx512fp16_12x2_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_5x5_avx512fp16_8x3_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_1x1_avx512_12x2_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_3x3_winograd2x2_avx512_12x2_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_3x3_avx512_8x3_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_5x5_winograd2x2_avx512_12x2_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_5x5_avx512_6x4_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_1x1_avx2_6x2_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_3x3_winograd2x2_avx2_6x2_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_3x3_avx2_6x2_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_5x5_winograd2x2_avx2_6x2_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_5x5_avx2_6x2_kernel)
#endif
#if defined(__aarch64__)
NJ_F16_KERNEL(nj_f16_conv2d_1x1_neonfp16_8x3_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_3x3_neonfp16_8x3_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_5x5_neonfp16_8x3_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_1x1_neon_4x4_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_3x3_neon_4x4_kernel)
NJ_F16_KERNEL(nj_f16_conv2d_5x5_neon_4x4_kernel)
#endif

// qs8: VNNI (zmm, then ymm; the 3x3 F(4x4) Winograd kernel on zmm ahead of the direct ones
// where it takes the geometry), then AVX2's VPMADDWD (3x3 and 5x5 by Winograd first where they
// take the geometry); SDOT, then NEON's widening SMLAL. Each set's 5x5 kernel with a folded
// 9x9 input (int8's conv2x in conv_2_8_32) follows its 5x5 ones.
#if defined(__x86_64__)
NJ_QS8_KERNEL(nj_qs8_conv2d_1x1_avx512vnni_8x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_winograd4x4_avx512vnni_16x1_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_avx512vnni_8x3_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_avx512vnni_8x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_avx512vnni_6x4_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_avx512vnni_8x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_fold9x9_avx512vnni_6x4_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_1x1_avxvnni_4x3_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_avxvnni_4x3_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_avxvnni_4x3_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_fold9x9_avxvnni_4x3_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_1x1_avx2_4x3_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_winograd4x4_avx2_6x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_winograd2x4_avx2_6x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_winograd2x2_avx2_6x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_avx2_4x3_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_winograd1x4_avx2_6x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_winograd1x2_avx2_6x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_avx2_4x3_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_fold9x9_avx2_4x3_kernel)
#endif
#if defined(__aarch64__)
NJ_QS8_KERNEL(nj_qs8_conv2d_1x1_neondot_4x4_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_neondot_4x4_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_neondot_4x4_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_fold9x9_neondot_4x4_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_1x1_neon_4x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_3x3_neon_4x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_neon_4x2_kernel)
NJ_QS8_KERNEL(nj_qs8_conv2d_5x5_fold9x9_neon_4x2_kernel)
#endif

#undef NJ_F32_KERNEL
#undef NJ_F16_KERNEL
#undef NJ_QS8_KERNEL
