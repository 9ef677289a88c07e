// The colour stage's intake and composition references (nightjar_kernels_colour.h), and the
// choice of every colour step's forms.
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-colour-internal.h"

#define NJ_TARGET
#define NJ_FORM(name) name##_scalar
#include "nj-colour-steps.h"

static const nj_colour_kernels scalar_kernels = {
    nj_f32_box_column_step_scalar, nj_f32_box_product_step_scalar, nj_f32_box_level_scalar,
    nj_f32_box_window_scalar,      nj_f32_colour_luma_scalar,      nj_u16_colour_quads_scalar,
    nj_u8_colour_quads_scalar,     nj_f32_colour_compose8_scalar,  nj_f32_colour_fit_scalar,
    nj_f32_colour_halve_scalar,    nj_f32_colour_upsample_scalar,  nj_f32_rgb_quantise8_scalar,
    nj_f32_rgb_quantise16_scalar,  nj_qs8_colour_luma_scalar,      nj_qs8_rgb_quantise8_scalar,
    nj_qs8_rgb_quantise16_scalar,  "scalar"};

nj_colour_kernels nj_colour_kernels_named(const char *name) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features();
    if (strcmp(name, "avx512") == 0 && (features & NJ_CPU_AVX512)) {
        return (nj_colour_kernels){nj_f32_box_column_step_avx512, nj_f32_box_product_step_avx512,
                                   nj_f32_box_level_avx512,       nj_f32_box_window_avx512,
                                   nj_f32_colour_luma_avx512,     nj_u16_colour_quads_avx512,
                                   nj_u8_colour_quads_avx512,     nj_f32_colour_compose8_avx512,
                                   nj_f32_colour_fit_avx512,      nj_f32_colour_halve_avx512,
                                   nj_f32_colour_upsample_avx512, nj_f32_rgb_quantise8_avx512,
                                   nj_f32_rgb_quantise16_avx512,  nj_qs8_colour_luma_avx512,
                                   nj_qs8_rgb_quantise8_avx512,     nj_qs8_rgb_quantise16_avx512,
                                   "avx512"};
    }
    if (strcmp(name, "avx2") == 0 && (features & NJ_CPU_AVX2)) {
        return (nj_colour_kernels){nj_f32_box_column_step_avx2, nj_f32_box_product_step_avx2,
                                   nj_f32_box_level_avx2,       nj_f32_box_window_avx2,
                                   nj_f32_colour_luma_avx2,     nj_u16_colour_quads_avx2,
                                   nj_u8_colour_quads_avx2,     nj_f32_colour_compose8_avx2,
                                   nj_f32_colour_fit_avx2,      nj_f32_colour_halve_avx2,
                                   nj_f32_colour_upsample_avx2, nj_f32_rgb_quantise8_avx2,
                                   nj_f32_rgb_quantise16_avx2,  nj_qs8_colour_luma_avx2,
                                   nj_qs8_rgb_quantise8_avx2,     nj_qs8_rgb_quantise16_avx2,
                                   "avx2"};
    }
#endif
    if (strcmp(name, "scalar") == 0) return scalar_kernels;
    return (nj_colour_kernels){0};
}

nj_colour_kernels nj_colour_kernels_active(void) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features_active();
    if (features & NJ_CPU_AVX512) return nj_colour_kernels_named("avx512");
    if (features & NJ_CPU_AVX2) return nj_colour_kernels_named("avx2");
#endif
    // AArch64: the plain loops, which the compiler vectorises with NEON (always present).
    return scalar_kernels;
}
