// The colour stage's intake, fit and composition steps (nightjar_kernels_colour.h), written once as
// plain loops and compiled into each form by the file that includes this one, after defining
// NJ_FORM(name) (the form's suffix) and NJ_TARGET (its target attribute): the compiler
// vectorises them for that instruction set. Contraction into fused multiply-adds is off, so
// every form rounds exactly as the scalar reference does.
#include <string.h>

#include "nightjar_kernels_colour.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// The inverse of the BT.709 curve on [0, 1] (nightjar_kernels_colour.h): the toe exactly, above
// it a quintic fitted by least squares within 4e-5.
static inline float NJ_FORM(bt709_decode)(float v) {
    const float x = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
    float p = 0.024923392f;
    p = p * x - 0.107488044f;
    p = p * x + 0.27448258f;
    p = p * x + 0.70126867f;
    p = p * x + 0.101854064f;
    p = p * x + 0.00497016f;
    return x < 0.081f ? x * (1.0f / 4.5f) : p;
}

// The luminance formula over the six planes; `value(plane, i)` is a plane's value at half column i.
#define NJ_COLOUR_LUMA_LOOP(value)                                                                            \
    const float wr = weights[0], wg = weights[1], wb = weights[2];                                            \
    for (size_t i = 0; i < count; i++) {                                                                      \
        const float even = wr * NJ_FORM(bt709_decode)(value(red_even, i)) +                                   \
                           wg * NJ_FORM(bt709_decode)(value(green_even, i)) +                                 \
                           wb * NJ_FORM(bt709_decode)(value(blue_even, i));                                   \
        const float odd = wr * NJ_FORM(bt709_decode)(value(red_odd, i)) +                                     \
                          wg * NJ_FORM(bt709_decode)(value(green_odd, i)) +                                   \
                          wb * NJ_FORM(bt709_decode)(value(blue_odd, i));                                     \
        out[2 * i] = even;                                                                                    \
        out[2 * i + 1] = odd;                                                                                 \
    }

// An int8 output's value: nj_qs8_dequantize's scale · (q − zero point).
#define NJ_CODE_PLANE_VALUE(plane, i) (scale * (float)((int32_t)(plane)[i] - zero_point))
#define NJ_PLANE_VALUE(plane, i) ((plane)[i])

NJ_TARGET void NJ_FORM(nj_f32_colour_luma)(float *restrict out, const float *restrict red_even,
                                           const float *restrict red_odd, const float *restrict green_even,
                                           const float *restrict green_odd, const float *restrict blue_even,
                                           const float *restrict blue_odd, const float weights[3], size_t count) {
    NJ_COLOUR_LUMA_LOOP(NJ_PLANE_VALUE)
}

NJ_TARGET void NJ_FORM(nj_qs8_colour_luma)(float *restrict out, const int8_t *restrict red_even,
                                           const int8_t *restrict red_odd, const int8_t *restrict green_even,
                                           const int8_t *restrict green_odd, const int8_t *restrict blue_even,
                                           const int8_t *restrict blue_odd, float scale, int32_t zero_point,
                                           const float weights[3], size_t count) {
    NJ_COLOUR_LUMA_LOOP(NJ_CODE_PLANE_VALUE)
}
#undef NJ_COLOUR_LUMA_LOOP

// The quad formula over the four sites' values; `value(k, i)` is site k's value at half column i.
#define NJ_COLOUR_QUADS_LOOP(value)                                                                           \
    const float s0 = calibration->scale[0], s1 = calibration->scale[1], s2 = calibration->scale[2],          \
                s3 = calibration->scale[3];                                                                   \
    const float z0 = calibration->shift[0], z1 = calibration->shift[1], z2 = calibration->shift[2],          \
                z3 = calibration->shift[3];                                                                   \
    const float *m = calibration->matrix;                                                                     \
    const float m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5], m6 = m[6], m7 = m[7],       \
                m8 = m[8];                                                                                    \
    for (size_t i = 0; i < count; i++) {                                                                      \
        const float red = value(0, i) * s0 - z0;                                                              \
        const float green = (value(1, i) * s1 - z1 + value(2, i) * s2 - z2) * 0.5f;                          \
        const float blue = value(3, i) * s3 - z3;                                                             \
        c0[i] = m0 * red + m1 * green + m2 * blue;                                                            \
        c1[i] = m3 * red + m4 * green + m5 * blue;                                                            \
        c2[i] = m6 * red + m7 * green + m8 * blue;                                                            \
        guide[i] = (luma0[2 * i] + luma0[2 * i + 1] + luma1[2 * i] + luma1[2 * i + 1]) * 0.25f;              \
    }

NJ_TARGET void NJ_FORM(nj_u16_colour_quads)(float *restrict guide, float *restrict c0, float *restrict c1,
                                            float *restrict c2, const uint16_t *restrict raw0,
                                            const uint16_t *restrict raw1, const float *restrict luma0,
                                            const float *restrict luma1, const nj_colour_quads *calibration,
                                            size_t count) {
#define NJ_RAW_VALUE(k, i) ((float)((k) < 2 ? raw0 : raw1)[2 * (i) + ((k) & 1)])
    NJ_COLOUR_QUADS_LOOP(NJ_RAW_VALUE)
#undef NJ_RAW_VALUE
}

NJ_TARGET void NJ_FORM(nj_u8_colour_quads)(float *restrict guide, float *restrict c0, float *restrict c1,
                                           float *restrict c2, const uint8_t *restrict codes0,
                                           const uint8_t *restrict codes1, const float *restrict values,
                                           const float *restrict luma0, const float *restrict luma1,
                                           const nj_colour_quads *calibration, size_t count) {
#define NJ_CODE_VALUE(k, i) (values[256 * (k) + ((k) < 2 ? codes0 : codes1)[2 * (i) + ((k) & 1)]])
    NJ_COLOUR_QUADS_LOOP(NJ_CODE_VALUE)
#undef NJ_CODE_VALUE
}

NJ_TARGET void NJ_FORM(nj_f32_colour_fit)(float *restrict a, float *restrict b, const float *restrict mean_i,
                                          const float *restrict mean_ii, const float *restrict mean_c,
                                          const float *restrict mean_ic, float relative, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const float mu = mean_i[i];
        const float d = mean_ii[i] - mu * mu;
        const float variance = 0.0f >= d ? 0.0f : d;
        const float slope = (mean_ic[i] - mu * mean_c[i]) / (variance + relative * mu * mu + 1e-7f);
        a[i] = slope;
        b[i] = mean_c[i] - slope * mu;
    }
}

// entry(l) of nightjar_kernels_colour.h.
static inline uint32_t NJ_FORM(entry8)(float l) {
    const float clamped = l > 0.0f ? (l < 1.0f ? l : 1.0f) : 0.0f;
    const float shifted = clamped * 65536.0f + 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    return bits - 0x4B400000u;
}

NJ_TARGET void NJ_FORM(nj_f32_colour_compose8)(uint8_t *restrict out, const float *restrict luma,
                                               const float *restrict a0, const float *restrict a1,
                                               const float *restrict a2, const float *restrict b0,
                                               const float *restrict b1, const float *restrict b2,
                                               const uint8_t *restrict table, size_t count) {
    // In pieces: the entries first, in planes (arithmetic that vectorises), then the table
    // reads, interleaved into RGB. 6 planes of 64 entries: 1.5 KB on the stack.
    enum { PIECE = 64 };
    uint32_t entries[6][PIECE];
    for (size_t start = 0; start < count; start += PIECE) {
        const size_t n = count - start < PIECE ? count - start : PIECE;
        const float *y = luma + 2 * start;
        for (size_t i = 0; i < n; i++) {
            const size_t h = start + i;
            const float l0 = y[2 * i], l1 = y[2 * i + 1];
            entries[0][i] = NJ_FORM(entry8)(a0[h] * l0 + b0[h]);
            entries[1][i] = NJ_FORM(entry8)(a1[h] * l0 + b1[h]);
            entries[2][i] = NJ_FORM(entry8)(a2[h] * l0 + b2[h]);
            entries[3][i] = NJ_FORM(entry8)(a0[h] * l1 + b0[h]);
            entries[4][i] = NJ_FORM(entry8)(a1[h] * l1 + b1[h]);
            entries[5][i] = NJ_FORM(entry8)(a2[h] * l1 + b2[h]);
        }
        uint8_t *o = out + 6 * start;
        for (size_t i = 0; i < n; i++) {
            for (int k = 0; k < 6; k++) o[6 * i + k] = table[entries[k][i]];
        }
    }
}

NJ_TARGET void NJ_FORM(nj_f32_colour_halve)(float *restrict out, const float *a, const float *b, size_t count) {
    const size_t pairs = count / 2;
    for (size_t j = 0; j < pairs; j++) out[j] = ((a[2 * j] + a[2 * j + 1]) + (b[2 * j] + b[2 * j + 1])) * 0.25f;
    if (count & 1) out[pairs] = (a[2 * pairs] + b[2 * pairs]) * 0.5f;
}

// v(q) of nj_f32_colour_upsample, q clamped to the row.
static inline float NJ_FORM(upsample_v)(const float *above, const float *below, float keep, float w, ptrdiff_t q,
                                        size_t columns) {
    const size_t c = q < 0 ? 0 : (size_t)q < columns ? (size_t)q : columns - 1;
    return above[c] * keep + below[c] * w;
}

NJ_TARGET void NJ_FORM(nj_f32_colour_upsample)(float *restrict out, const float *restrict above,
                                               const float *restrict below, float w, size_t first, size_t count,
                                               size_t columns) {
    // Column pair m (out[2m], out[2m + 1]) reads v(k − 1 + m), v(k + m), v(k + 1 + m). Where
    // none is clamped, one loop makes the three from the rows and writes the pair (it
    // vectorises, the pairs interleaved); the pairs at the row's ends go through the clamp. The
    // v are made again for each pair that reads them: rows of v written to memory and read back
    // one column on stalled on store forwarding.
    if (columns == 0 || count == 0) return;
    const float keep = 1.0f - w;
    const size_t k = first / 2, pairs = (count + 1) / 2, whole = count / 2;
    size_t lo = k == 0 ? 1 : 0, hi = columns >= k + 2 ? columns - 1 - k : 0;
    if (hi > whole) hi = whole;
    if (lo > hi) lo = hi;
    const float *a = above + k, *b = below + k;
    for (size_t m = lo; m < hi; m++) {
        const float v0 = a[m - 1] * keep + b[m - 1] * w, v1 = a[m] * keep + b[m] * w;
        const float v2 = a[m + 1] * keep + b[m + 1] * w;
        out[2 * m] = v0 * 0.25f + v1 * 0.75f;
        out[2 * m + 1] = v1 * 0.75f + v2 * 0.25f;
    }
    for (size_t m = 0; m < pairs; m++) {
        if (m == lo) m = hi;
        if (m >= pairs) break;
        const ptrdiff_t q = (ptrdiff_t)(k + m);
        const float v0 = NJ_FORM(upsample_v)(above, below, keep, w, q - 1, columns);
        const float v1 = NJ_FORM(upsample_v)(above, below, keep, w, q, columns);
        out[2 * m] = v0 * 0.25f + v1 * 0.75f;
        if (2 * m + 1 < count) {
            const float v2 = NJ_FORM(upsample_v)(above, below, keep, w, q + 1, columns);
            out[2 * m + 1] = v1 * 0.75f + v2 * 0.25f;
        }
    }
}

// q(v) of nj_f32_rgb_quantise8/16: clamp, scale, +0.5, truncate.
static inline float NJ_FORM(unit_clamp)(float v) { return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; }

// In pieces, as compose8: the six planes quantised first (arithmetic that vectorises), then
// interleaved into RGB; the odd last pixel of an odd width from the even planes alone.
// `value(plane, i)` as in the luminance.
#define NJ_RGB_QUANTISE_BODY(plane_t, sample_t, top, value)                                                    \
    enum { PIECE = 64 };                                                                                      \
    const plane_t *planes[6] = {red_even, green_even, blue_even, red_odd, green_odd, blue_odd};              \
    sample_t q[6][PIECE];                                                                                     \
    const size_t halves = width / 2;                                                                          \
    for (size_t start = 0; start < halves; start += PIECE) {                                                  \
        const size_t n = halves - start < PIECE ? halves - start : PIECE;                                     \
        for (int k = 0; k < 6; k++) {                                                                         \
            const plane_t *p = planes[k] + start;                                                             \
            for (size_t i = 0; i < n; i++) q[k][i] = (sample_t)(NJ_FORM(unit_clamp)(value(p, i)) * (top) + 0.5f); \
        }                                                                                                     \
        sample_t *o = out + 6 * start;                                                                        \
        for (size_t i = 0; i < n; i++) {                                                                      \
            for (int k = 0; k < 6; k++) o[6 * i + k] = q[k][i];                                               \
        }                                                                                                     \
    }                                                                                                         \
    if (width & 1) {                                                                                          \
        for (int k = 0; k < 3; k++)                                                                           \
            out[6 * halves + k] = (sample_t)(NJ_FORM(unit_clamp)(value(planes[k], halves)) * (top) + 0.5f);   \
    }

NJ_TARGET void NJ_FORM(nj_f32_rgb_quantise8)(uint8_t *restrict out, const float *restrict red_even,
                                             const float *restrict red_odd, const float *restrict green_even,
                                             const float *restrict green_odd, const float *restrict blue_even,
                                             const float *restrict blue_odd, size_t width) {
    NJ_RGB_QUANTISE_BODY(float, uint8_t, 255.0f, NJ_PLANE_VALUE)
}

NJ_TARGET void NJ_FORM(nj_f32_rgb_quantise16)(uint16_t *restrict out, const float *restrict red_even,
                                              const float *restrict red_odd, const float *restrict green_even,
                                              const float *restrict green_odd, const float *restrict blue_even,
                                              const float *restrict blue_odd, size_t width) {
    NJ_RGB_QUANTISE_BODY(float, uint16_t, 65535.0f, NJ_PLANE_VALUE)
}

NJ_TARGET void NJ_FORM(nj_qs8_rgb_quantise8)(uint8_t *restrict out, const int8_t *restrict red_even,
                                             const int8_t *restrict red_odd, const int8_t *restrict green_even,
                                             const int8_t *restrict green_odd, const int8_t *restrict blue_even,
                                             const int8_t *restrict blue_odd, float scale, int32_t zero_point,
                                             size_t width) {
    NJ_RGB_QUANTISE_BODY(int8_t, uint8_t, 255.0f, NJ_CODE_PLANE_VALUE)
}

NJ_TARGET void NJ_FORM(nj_qs8_rgb_quantise16)(uint16_t *restrict out, const int8_t *restrict red_even,
                                              const int8_t *restrict red_odd, const int8_t *restrict green_even,
                                              const int8_t *restrict green_odd, const int8_t *restrict blue_even,
                                              const int8_t *restrict blue_odd, float scale, int32_t zero_point,
                                              size_t width) {
    NJ_RGB_QUANTISE_BODY(int8_t, uint16_t, 65535.0f, NJ_CODE_PLANE_VALUE)
}
#undef NJ_RGB_QUANTISE_BODY
#undef NJ_CODE_PLANE_VALUE
#undef NJ_PLANE_VALUE
