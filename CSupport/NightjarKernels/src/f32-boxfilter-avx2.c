// The box-filter steps on 8 lanes (AVX2): float lanes widened to two 4-lane doubles, exactly
// the scalar reference's operations; tails with the same operations, a column at a time.
#if defined(__x86_64__)
#include <immintrin.h>

#include "nj-colour-internal.h"

#define NJ_TARGET __attribute__((target("avx2")))

// Blocks of 8 lanes through `rows` rows, the sums in registers from row to row (each row's
// entering and leaving values `e`, `l` from `values(r)`); then the tail columns one at a time
// with the reference's operations, `tail(r)` giving a row's two values as floats.
#define NJ_COLUMN_BLOCKS(values, tail)                                                                        \
    size_t x = 0;                                                                                             \
    for (; x + 8 <= count; x += 8) {                                                                          \
        __m256d s0 = _mm256_loadu_pd(sums + x), s1 = _mm256_loadu_pd(sums + x + 4);                           \
        for (size_t r = 0; r < rows; r++) {                                                                   \
            __m256 e, l;                                                                                      \
            values(r)                                                                                         \
            const __m256d e0 = _mm256_cvtps_pd(_mm256_castps256_ps128(e)), e1 = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)); \
            const __m256d l0 = _mm256_cvtps_pd(_mm256_castps256_ps128(l)), l1 = _mm256_cvtps_pd(_mm256_extractf128_ps(l, 1)); \
            s0 = _mm256_add_pd(s0, _mm256_sub_pd(e0, l0));                                                    \
            s1 = _mm256_add_pd(s1, _mm256_sub_pd(e1, l1));                                                    \
            float *w = window + r * window_stride + x;                                                        \
            _mm_storeu_ps(w, _mm256_cvtpd_ps(s0));                                                            \
            _mm_storeu_ps(w + 4, _mm256_cvtpd_ps(s1));                                                        \
        }                                                                                                     \
        _mm256_storeu_pd(sums + x, s0);                                                                       \
        _mm256_storeu_pd(sums + x + 4, s1);                                                                   \
    }                                                                                                         \
    for (; x < count; x++) {                                                                                  \
        double sum = sums[x];                                                                                 \
        for (size_t r = 0; r < rows; r++) {                                                                   \
            float entering, leaving;                                                                          \
            tail(r)                                                                                           \
            sum = sum + ((double)entering - (double)leaving);                                                 \
            window[r * window_stride + x] = (float)sum;                                                       \
        }                                                                                                     \
        sums[x] = sum;                                                                                        \
    }

NJ_TARGET void nj_f32_box_column_step_avx2(double *sums, float *window, size_t window_stride,
                                           const float *const *enter, const float *const *leave, size_t rows,
                                           size_t count) {
#define NJ_PLANE_VALUES(r)                      \
    e = _mm256_loadu_ps(enter[r] + x);          \
    l = _mm256_loadu_ps(leave[r] + x);
#define NJ_PLANE_TAIL(r)                        \
    entering = enter[r][x];                     \
    leaving = leave[r][x];
    NJ_COLUMN_BLOCKS(NJ_PLANE_VALUES, NJ_PLANE_TAIL)
#undef NJ_PLANE_VALUES
#undef NJ_PLANE_TAIL
}

NJ_TARGET void nj_f32_box_product_step_avx2(double *sums, float *window, size_t window_stride,
                                            const float *const *enter_a, const float *const *enter_b,
                                            const float *const *leave_a, const float *const *leave_b, size_t rows,
                                            size_t count) {
#define NJ_PRODUCT_VALUES(r)                                                                  \
    e = _mm256_mul_ps(_mm256_loadu_ps(enter_a[r] + x), _mm256_loadu_ps(enter_b[r] + x));      \
    l = _mm256_mul_ps(_mm256_loadu_ps(leave_a[r] + x), _mm256_loadu_ps(leave_b[r] + x));
#define NJ_PRODUCT_TAIL(r)                      \
    entering = enter_a[r][x] * enter_b[r][x];   \
    leaving = leave_a[r][x] * leave_b[r][x];
    NJ_COLUMN_BLOCKS(NJ_PRODUCT_VALUES, NJ_PRODUCT_TAIL)
#undef NJ_PRODUCT_VALUES
#undef NJ_PRODUCT_TAIL
}
#undef NJ_COLUMN_BLOCKS

NJ_TARGET void nj_f32_box_level_avx2(float *out, const float *in, size_t offset, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(in + i), _mm256_loadu_ps(in + i + offset)));
    }
    nj_f32_box_level_scalar(out + i, in + i, offset, count - i);
}

// The window straight from the column sums, the pairwise sums in registers (as the AVX-512
// form: one pass instead of levels written to memory and read back).
#define NJ_T1(p) _mm256_loadu_ps(p)
#define NJ_T2(p) _mm256_add_ps(NJ_T1(p), NJ_T1((p) + 1))
#define NJ_T4(p) _mm256_add_ps(NJ_T2(p), NJ_T2((p) + 2))
#define NJ_T8(p) _mm256_add_ps(NJ_T4(p), NJ_T4((p) + 4))
#define NJ_WINDOW_LOOP(T, half)                                                                            \
    for (; i + 8 <= count; i += 8) {                                                                      \
        const __m256 halves = _mm256_add_ps(T(sums + i + 1), T(sums + i + 1 + (half)));                  \
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_add_ps(_mm256_loadu_ps(sums + i), halves), s));    \
    }

NJ_TARGET void nj_f32_box_window_avx2(float *out, const float *sums, size_t half, float scale, size_t count) {
    const __m256 s = _mm256_set1_ps(scale);
    size_t i = 0;
    switch (half) {
    case 1: NJ_WINDOW_LOOP(NJ_T1, 1) break;
    case 2: NJ_WINDOW_LOOP(NJ_T2, 2) break;
    case 4: NJ_WINDOW_LOOP(NJ_T4, 4) break;
    case 8: NJ_WINDOW_LOOP(NJ_T8, 8) break;
    default: break;
    }
    nj_f32_box_window_scalar(out + i, sums + i, half, scale, count - i);
}
#undef NJ_WINDOW_LOOP
#undef NJ_T8
#undef NJ_T4
#undef NJ_T2
#undef NJ_T1
#endif
