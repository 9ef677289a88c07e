// The box-filter steps on 16 lanes (AVX-512 F): float lanes widened to two 8-lane doubles,
// exactly the scalar reference's operations; tails under a lane mask (the rows are short, so a
// scalar tail of up to 15 elements would cost as much as the vector part).
#if defined(__x86_64__)
#include <immintrin.h>

#include "nj-colour-internal.h"

#define NJ_TARGET __attribute__((target("avx512f,avx512dq")))

// A block of up to 16 lanes (mask `m`) through `rows` rows: the sums in registers from row to
// row, each row's `e` and `l` (entering and leaving values) from `values(r)`.
#define NJ_COLUMN_BLOCKS(values)                                                                              \
    for (size_t x = 0; x < count; x += 16) {                                                                 \
        const __mmask16 m = count - x >= 16 ? 0xffff : (__mmask16)((1u << (count - x)) - 1);               \
        const __mmask8 low = (__mmask8)m, high = (__mmask8)(m >> 8);                                          \
        __m512d s0 = _mm512_maskz_loadu_pd(low, sums + x), s1 = _mm512_maskz_loadu_pd(high, sums + x + 8);   \
        for (size_t r = 0; r < rows; r++) {                                                                   \
            __m512 e, l;                                                                                      \
            values(r)                                                                                         \
            const __m512d e0 = _mm512_cvtps_pd(_mm512_castps512_ps256(e));                                   \
            const __m512d e1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))); \
            const __m512d l0 = _mm512_cvtps_pd(_mm512_castps512_ps256(l));                                   \
            const __m512d l1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(l), 1))); \
            s0 = _mm512_add_pd(s0, _mm512_sub_pd(e0, l0));                                                    \
            s1 = _mm512_add_pd(s1, _mm512_sub_pd(e1, l1));                                                    \
            const __m512 w = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(s0)), _mm512_cvtpd_ps(s1), 1); \
            _mm512_mask_storeu_ps(window + r * window_stride + x, m, w);                                      \
        }                                                                                                     \
        _mm512_mask_storeu_pd(sums + x, low, s0);                                                             \
        _mm512_mask_storeu_pd(sums + x + 8, high, s1);                                                        \
    }

NJ_TARGET void nj_f32_box_column_step_avx512(double *sums, float *window, size_t window_stride,
                                             const float *const *enter, const float *const *leave, size_t rows,
                                             size_t count) {
#define NJ_PLANE_VALUES(r)                                \
    e = _mm512_maskz_loadu_ps(m, enter[r] + x);           \
    l = _mm512_maskz_loadu_ps(m, leave[r] + x);
    NJ_COLUMN_BLOCKS(NJ_PLANE_VALUES)
#undef NJ_PLANE_VALUES
}

NJ_TARGET void nj_f32_box_product_step_avx512(double *sums, float *window, size_t window_stride,
                                              const float *const *enter_a, const float *const *enter_b,
                                              const float *const *leave_a, const float *const *leave_b, size_t rows,
                                              size_t count) {
#define NJ_PRODUCT_VALUES(r)                                                                           \
    e = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, enter_a[r] + x), _mm512_maskz_loadu_ps(m, enter_b[r] + x)); \
    l = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, leave_a[r] + x), _mm512_maskz_loadu_ps(m, leave_b[r] + x));
    NJ_COLUMN_BLOCKS(NJ_PRODUCT_VALUES)
#undef NJ_PRODUCT_VALUES
}
#undef NJ_COLUMN_BLOCKS

NJ_TARGET void nj_f32_box_level_avx512(float *out, const float *in, size_t offset, size_t count) {
    for (size_t i = 0; i < count; i += 16) {
        const __mmask16 m = count - i >= 16 ? 0xffff : (__mmask16)((1u << (count - i)) - 1);
        const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m, in + i), _mm512_maskz_loadu_ps(m, in + i + offset));
        _mm512_mask_storeu_ps(out + i, m, sum);
    }
}

// The window straight from the column sums, the pairwise sums in registers: one pass instead
// of two doubling levels written to memory and read back, and the window (1 % of a
// camera-colour batch's CPU samples before, 0.3-0.5 % after, Zen 5). Most of what is left is
// the column sums' first read; it was most of all before the colour stage's rounds kept each
// thread on its own columns (ColourStage.parallelStrips).
#define NJ_T1(p, m) _mm512_maskz_loadu_ps(m, p)
#define NJ_T2(p, m) _mm512_add_ps(NJ_T1(p, m), NJ_T1((p) + 1, m))
#define NJ_T4(p, m) _mm512_add_ps(NJ_T2(p, m), NJ_T2((p) + 2, m))
#define NJ_T8(p, m) _mm512_add_ps(NJ_T4(p, m), NJ_T4((p) + 4, m))
#define NJ_WINDOW_LOOP(T, half)                                                                                \
    for (size_t i = 0; i < count; i += 16) {                                                                  \
        const __mmask16 m = count - i >= 16 ? 0xffff : (__mmask16)((1u << (count - i)) - 1);               \
        const __m512 halves = _mm512_add_ps(T(sums + i + 1, m), T(sums + i + 1 + (half), m));                \
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_add_ps(NJ_T1(sums + i, m), halves), s)); \
    }

NJ_TARGET void nj_f32_box_window_avx512(float *out, const float *sums, size_t half, float scale, size_t count) {
    const __m512 s = _mm512_set1_ps(scale);
    switch (half) {
    case 1: NJ_WINDOW_LOOP(NJ_T1, 1) return;
    case 2: NJ_WINDOW_LOOP(NJ_T2, 2) return;
    case 4: NJ_WINDOW_LOOP(NJ_T4, 4) return;
    case 8: NJ_WINDOW_LOOP(NJ_T8, 8) return;
    default: nj_f32_box_window_scalar(out, sums, half, scale, count);
    }
}
#undef NJ_WINDOW_LOOP
#undef NJ_T8
#undef NJ_T4
#undef NJ_T2
#undef NJ_T1
#endif
