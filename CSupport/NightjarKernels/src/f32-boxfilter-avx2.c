// The box-filter steps on 8 lanes (AVX2): float lanes widened to two 4-lane doubles, exactly
// the scalar reference's operations; tails by the reference.
#if defined(__x86_64__)
#include <immintrin.h>

#include "nj-colour-internal.h"

#define NJ_TARGET __attribute__((target("avx2")))

// One block of 8 lanes of a column step: `e` and `l` the entering and leaving values.
NJ_TARGET static inline void column_block(double *sums, float *window, __m256 e, __m256 l) {
    const __m256d e0 = _mm256_cvtps_pd(_mm256_castps256_ps128(e)), e1 = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
    const __m256d l0 = _mm256_cvtps_pd(_mm256_castps256_ps128(l)), l1 = _mm256_cvtps_pd(_mm256_extractf128_ps(l, 1));
    const __m256d s0 = _mm256_add_pd(_mm256_loadu_pd(sums), _mm256_sub_pd(e0, l0));
    const __m256d s1 = _mm256_add_pd(_mm256_loadu_pd(sums + 4), _mm256_sub_pd(e1, l1));
    _mm256_storeu_pd(sums, s0);
    _mm256_storeu_pd(sums + 4, s1);
    _mm_storeu_ps(window, _mm256_cvtpd_ps(s0));
    _mm_storeu_ps(window + 4, _mm256_cvtpd_ps(s1));
}

NJ_TARGET void nj_f32_box_column_step_avx2(double *sums, float *window, const float *enter, const float *leave,
                                           size_t count) {
    size_t x = 0;
    for (; x + 8 <= count; x += 8) column_block(sums + x, window + x, _mm256_loadu_ps(enter + x), _mm256_loadu_ps(leave + x));
    nj_f32_box_column_step_scalar(sums + x, window + x, enter + x, leave + x, count - x);
}

NJ_TARGET void nj_f32_box_product_step_avx2(double *sums, float *window, const float *enter_a, const float *enter_b,
                                            const float *leave_a, const float *leave_b, size_t count) {
    size_t x = 0;
    for (; x + 8 <= count; x += 8) {
        const __m256 e = _mm256_mul_ps(_mm256_loadu_ps(enter_a + x), _mm256_loadu_ps(enter_b + x));
        const __m256 l = _mm256_mul_ps(_mm256_loadu_ps(leave_a + x), _mm256_loadu_ps(leave_b + x));
        column_block(sums + x, window + x, e, l);
    }
    nj_f32_box_product_step_scalar(sums + x, window + x, enter_a + x, enter_b + x, leave_a + x, leave_b + x,
                                   count - x);
}

NJ_TARGET void nj_f32_box_level_avx2(float *out, const float *in, size_t offset, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(in + i), _mm256_loadu_ps(in + i + offset)));
    }
    nj_f32_box_level_scalar(out + i, in + i, offset, count - i);
}

NJ_TARGET void nj_f32_box_window_avx2(float *out, const float *first, const float *level, size_t half, float scale,
                                      size_t count) {
    const __m256 s = _mm256_set1_ps(scale);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 halves = _mm256_add_ps(_mm256_loadu_ps(level + i + 1), _mm256_loadu_ps(level + i + 1 + half));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_add_ps(_mm256_loadu_ps(first + i), halves), s));
    }
    nj_f32_box_window_scalar(out + i, first + i, level + i, half, scale, count - i);
}
#endif
