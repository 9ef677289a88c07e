// The box-filter steps' references (nightjar_kernels_colour.h), and the choice of forms.
#include "nightjar_kernels.h"
#include "nightjar_kernels_colour.h"
#include "nj-colour-internal.h"

void nj_f32_box_column_step_scalar(double *sums, float *window, const float *enter, const float *leave, size_t count) {
    for (size_t x = 0; x < count; x++) {
        const double sum = sums[x] + ((double)enter[x] - (double)leave[x]);
        sums[x] = sum;
        window[x] = (float)sum;
    }
}

void nj_f32_box_product_step_scalar(double *sums, float *window, const float *enter_a, const float *enter_b,
                                    const float *leave_a, const float *leave_b, size_t count) {
    for (size_t x = 0; x < count; x++) {
        const float entering = enter_a[x] * enter_b[x], leaving = leave_a[x] * leave_b[x];
        const double sum = sums[x] + ((double)entering - (double)leaving);
        sums[x] = sum;
        window[x] = (float)sum;
    }
}

void nj_f32_box_level_scalar(float *out, const float *in, size_t offset, size_t count) {
    for (size_t i = 0; i < count; i++) out[i] = in[i] + in[i + offset];
}

void nj_f32_box_window_scalar(float *out, const float *first, const float *level, size_t half, float scale,
                              size_t count) {
    for (size_t i = 0; i < count; i++) out[i] = (first[i] + (level[i + 1] + level[i + 1 + half])) * scale;
}
