// The box-filter steps' references (nightjar_kernels_colour.h), and the choice of forms.
#include "nightjar_kernels.h"
#include "nightjar_kernels_colour.h"
#include "nj-colour-internal.h"

void nj_f32_box_column_step_scalar(double *sums, float *window, size_t window_stride, const float *const *enter,
                                   const float *const *leave, size_t rows, size_t count) {
    for (size_t r = 0; r < rows; r++) {
        const float *e = enter[r], *l = leave[r];
        float *w = window + r * window_stride;
        for (size_t x = 0; x < count; x++) {
            const double sum = sums[x] + ((double)e[x] - (double)l[x]);
            sums[x] = sum;
            w[x] = (float)sum;
        }
    }
}

void nj_f32_box_product_step_scalar(double *sums, float *window, size_t window_stride, const float *const *enter_a,
                                    const float *const *enter_b, const float *const *leave_a,
                                    const float *const *leave_b, size_t rows, size_t count) {
    for (size_t r = 0; r < rows; r++) {
        const float *ea = enter_a[r], *eb = enter_b[r], *la = leave_a[r], *lb = leave_b[r];
        float *w = window + r * window_stride;
        for (size_t x = 0; x < count; x++) {
            const float entering = ea[x] * eb[x], leaving = la[x] * lb[x];
            const double sum = sums[x] + ((double)entering - (double)leaving);
            sums[x] = sum;
            w[x] = (float)sum;
        }
    }
}

void nj_f32_box_level_scalar(float *out, const float *in, size_t offset, size_t count) {
    for (size_t i = 0; i < count; i++) out[i] = in[i] + in[i + offset];
}

// T(j) of the window step: the sum of s[0 .. half) in pairs (half a power of two).
static float pairwise_sum(const float *s, size_t half) {
    return half == 1 ? s[0] : pairwise_sum(s, half / 2) + pairwise_sum(s + half / 2, half / 2);
}
// The same for the common halves, written out so that the loops below vectorise (this is the
// form AArch64 runs).
#define NJ_T1(s) (s)[0]
#define NJ_T2(s) (NJ_T1(s) + NJ_T1((s) + 1))
#define NJ_T4(s) (NJ_T2(s) + NJ_T2((s) + 2))
#define NJ_T8(s) (NJ_T4(s) + NJ_T4((s) + 4))
#define NJ_WINDOW_LOOP(T, half) \
    for (size_t i = 0; i < count; i++) out[i] = (sums[i] + (T(sums + i + 1) + T(sums + i + 1 + (half)))) * scale;

void nj_f32_box_window_scalar(float *out, const float *sums, size_t half, float scale, size_t count) {
    switch (half) {
    case 1: NJ_WINDOW_LOOP(NJ_T1, 1) return;
    case 2: NJ_WINDOW_LOOP(NJ_T2, 2) return;
    case 4: NJ_WINDOW_LOOP(NJ_T4, 4) return;
    case 8: NJ_WINDOW_LOOP(NJ_T8, 8) return;
    default:
        for (size_t i = 0; i < count; i++)
            out[i] = (sums[i] + (pairwise_sum(sums + i + 1, half) + pairwise_sum(sums + i + 1 + half, half))) * scale;
    }
}
#undef NJ_WINDOW_LOOP
#undef NJ_T8
#undef NJ_T4
#undef NJ_T2
#undef NJ_T1
