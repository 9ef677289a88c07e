// The per-ISA forms of the colour steps (nightjar_kernels_colour.h); each computes exactly
// what its scalar reference does, element for element.
#ifndef NJ_COLOUR_INTERNAL_H
#define NJ_COLOUR_INTERNAL_H

#include <stddef.h>

#include "nightjar_kernels_colour.h"

void nj_f32_box_column_step_scalar(double *sums, float *window, size_t window_stride, const float *const *enter,
                                   const float *const *leave, size_t rows, size_t count);
void nj_f32_box_product_step_scalar(double *sums, float *window, size_t window_stride, const float *const *enter_a,
                                    const float *const *enter_b, const float *const *leave_a,
                                    const float *const *leave_b, size_t rows, size_t count);
void nj_f32_box_level_scalar(float *out, const float *in, size_t offset, size_t count);
void nj_f32_box_window_scalar(float *out, const float *sums, size_t half, float scale, size_t count);

// The intake and composition steps, one form per file that includes nj-colour-steps.h.
#define NJ_COLOUR_STEP_FORMS(isa)                                                                                  \
    void nj_f32_colour_luma_##isa(float *out, const float *red_even, const float *red_odd, const float *green_even, \
                                  const float *green_odd, const float *blue_even, const float *blue_odd,          \
                                  const float weights[3], size_t count);                                          \
    void nj_u16_colour_quads_##isa(float *guide, float *c0, float *c1, float *c2, const uint16_t *raw0,           \
                                   const uint16_t *raw1, const float *luma0, const float *luma1,                  \
                                   const nj_colour_quads *calibration, size_t count);                             \
    void nj_u8_colour_quads_##isa(float *guide, float *c0, float *c1, float *c2, const uint8_t *codes0,           \
                                  const uint8_t *codes1, const float *values, const float *luma0,                 \
                                  const float *luma1, const nj_colour_quads *calibration, size_t count);          \
    void nj_f32_colour_compose8_##isa(uint8_t *out, const float *luma, const float *a0, const float *a1,          \
                                      const float *a2, const float *b0, const float *b1, const float *b2,         \
                                      const uint8_t *table, size_t count);                                         \
    void nj_f32_colour_fit_##isa(float *a, float *b, const float *mean_i, const float *mean_ii,                     \
                                 const float *mean_c, const float *mean_ic, float relative, size_t count);      \
    void nj_f32_colour_halve_##isa(float *out, const float *a, const float *b, size_t count);                      \
    void nj_f32_colour_upsample_##isa(float *out, const float *above, const float *below, float w, size_t first,   \
                                      size_t count, size_t columns);                                               \
    void nj_f32_rgb_quantise8_##isa(uint8_t *out, const float *red_even, const float *red_odd,                  \
                                    const float *green_even, const float *green_odd, const float *blue_even,      \
                                    const float *blue_odd, size_t width);                                         \
    void nj_f32_rgb_quantise16_##isa(uint16_t *out, const float *red_even, const float *red_odd,                \
                                     const float *green_even, const float *green_odd, const float *blue_even,     \
                                     const float *blue_odd, size_t width);                                        \
    void nj_qs8_colour_luma_##isa(float *out, const int8_t *red_even, const int8_t *red_odd,                    \
                                  const int8_t *green_even, const int8_t *green_odd, const int8_t *blue_even,     \
                                  const int8_t *blue_odd, float scale, int32_t zero_point,                        \
                                  const float weights[3], size_t count);                                          \
    void nj_qs8_rgb_quantise8_##isa(uint8_t *out, const int8_t *red_even, const int8_t *red_odd,                \
                                    const int8_t *green_even, const int8_t *green_odd, const int8_t *blue_even,   \
                                    const int8_t *blue_odd, float scale, int32_t zero_point, size_t width);       \
    void nj_qs8_rgb_quantise16_##isa(uint16_t *out, const int8_t *red_even, const int8_t *red_odd,              \
                                     const int8_t *green_even, const int8_t *green_odd, const int8_t *blue_even,  \
                                     const int8_t *blue_odd, float scale, int32_t zero_point, size_t width);
NJ_COLOUR_STEP_FORMS(scalar)

#if defined(__x86_64__)
#define NJ_BOX_FORMS(isa)                                                                                          \
    void nj_f32_box_column_step_##isa(double *sums, float *window, size_t window_stride,                       \
                                      const float *const *enter, const float *const *leave, size_t rows,          \
                                      size_t count);                                                              \
    void nj_f32_box_product_step_##isa(double *sums, float *window, size_t window_stride,                      \
                                       const float *const *enter_a, const float *const *enter_b,                  \
                                       const float *const *leave_a, const float *const *leave_b, size_t rows,     \
                                       size_t count);                                                             \
    void nj_f32_box_level_##isa(float *out, const float *in, size_t offset, size_t count);                       \
    void nj_f32_box_window_##isa(float *out, const float *sums, size_t half, float scale, size_t count);
NJ_BOX_FORMS(avx2)
NJ_BOX_FORMS(avx512)
NJ_COLOUR_STEP_FORMS(avx2)
NJ_COLOUR_STEP_FORMS(avx512)
#undef NJ_BOX_FORMS
#endif

#endif
