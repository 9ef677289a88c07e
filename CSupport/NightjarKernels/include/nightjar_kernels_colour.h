// The camera colour stage's steps (Sources/Nightjar/Capture/ColourStage.swift): its intake
// (the network's luminance, the mosaic's colour quads), the box filters of its guided filter
// (running column sums, doubling row sums) and its composition into 8-bit sRGB; and the network's
// own colour's quantisation, which camera colour replaces.
// The scalar forms are the references; every other form computes exactly the same values (the
// same IEEE operations in the same order per element, no fused multiply-add), so the image does
// not depend on the CPU. The kernels never allocate; counts may be any length (tails included).
#ifndef NIGHTJAR_KERNELS_COLOUR_H
#define NIGHTJAR_KERNELS_COLOUR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// --- Box filter ---
// `rows` rows in turn, each with one row entering the window and one leaving: for r < rows, in
// that order, and x < count,
//   sums[x] += (double)enter[r][x] - (double)leave[r][x];   window[r · window_stride + x] = (float)sums[x].
// (The sums stay in registers from row to row: one pass over them for a batch of rows.)
typedef void (*nj_f32_box_column_step_fn)(double *sums, float *window, size_t window_stride,
                                          const float *const *enter, const float *const *leave, size_t rows,
                                          size_t count);
// The same for a product of two planes (the guided filter's I·I and I·c, formed in float):
//   sums[x] += (double)(enter_a[r][x] * enter_b[r][x]) - (double)(leave_a[r][x] * leave_b[r][x]).
typedef void (*nj_f32_box_product_step_fn)(double *sums, float *window, size_t window_stride,
                                           const float *const *enter_a, const float *const *enter_b,
                                           const float *const *leave_a, const float *const *leave_b, size_t rows,
                                           size_t count);
// A doubling level of the row filter: out[i] = in[i] + in[i + offset], i < count (out ≠ in).
typedef void (*nj_f32_box_level_fn)(float *out, const float *in, size_t offset, size_t count);
// A window of 2·half + 1 columns (half a power of two) straight from the column sums s, for
// i < count (reads s[0 .. count + 2·half)):
//   out[i] = (s[i] + (T(i + 1) + T(i + 1 + half))) * scale,
// T(j) the sum of s[j .. j + half) in pairs: s[j] for half 1, else T'(j) + T'(j + half / 2) with
// T' that of half / 2 — the additions the doubling levels make, without their rows.
typedef void (*nj_f32_box_window_fn)(float *out, const float *sums, size_t half, float scale, size_t count);

// --- Intake ---
// Linear luminance of one output row of the network, whose planes hold even and odd columns
// apart: for i < count, out[2i] = Y(even), out[2i + 1] = Y(odd), with
//   Y = (w[0] · lin(red) + w[1] · lin(green)) + w[2] · lin(blue),
// lin(v): v clamped to [0, 1] (NaN: 0), below 0.081 v / 4.5, else the quintic of
// nj_colour_bt709_decode (the inverse of the BT.709 curve LibRaw's rendering uses).
typedef void (*nj_f32_colour_luma_fn)(float *out, const float *red_even, const float *red_odd,
                                      const float *green_even, const float *green_odd, const float *blue_even,
                                      const float *blue_odd, const float weights[3], size_t count);

// A frame's calibration for the colour quads: per site of the quad (row, column) = (0,0),
// (0,1), (1,0), (1,1): value = raw · scale − shift; then sRGB = matrix (row-major) · (R, G, B).
typedef struct {
    float scale[4];
    float shift[4];
    float matrix[9];
} nj_colour_quads;

// Colour quads of two 16-bit mosaic rows and the guide, for half columns i < count:
//   R = raw0[2i]·s0 − z0, G = ((raw0[2i+1]·s1 − z1) + raw1[2i]·s2 − z2) · 0.5, B = raw1[2i+1]·s3 − z3,
//   c_k[i] = (m[3k]·R + m[3k+1]·G) + m[3k+2]·B,
//   guide[i] = (((luma0[2i] + luma0[2i+1]) + luma1[2i]) + luma1[2i+1]) · 0.25.
typedef void (*nj_u16_colour_quads_fn)(float *guide, float *c0, float *c1, float *c2, const uint16_t *raw0,
                                       const uint16_t *raw1, const float *luma0, const float *luma1,
                                       const nj_colour_quads *calibration, size_t count);

// The same from an int8 restore's 8-bit codes: `values` holds each quad site's value of every
// code (values[256·k + code] for sites k = (0,0), (0,1), (1,0), (1,1)), used where the 16-bit
// form uses the raw value: R = values[codes0[2i]]·s0 − z0, and so on.
typedef void (*nj_u8_colour_quads_fn)(float *guide, float *c0, float *c1, float *c2, const uint8_t *codes0,
                                      const uint8_t *codes1, const float *values, const float *luma0,
                                      const float *luma1, const nj_colour_quads *calibration, size_t count);

// --- Fit ---
// The guided filter's linear fit of one colour channel against the guide, from their window
// means, for i < count (the same operations as written, left to right):
//   d = mean_ii[i] − mean_i[i]·mean_i[i],  variance = 0 ≥ d ? 0 : d  (NaN stays NaN),
//   a[i] = (mean_ic[i] − mean_i[i]·mean_c[i]) / (variance + relative·mean_i[i]·mean_i[i] + 1e-7),
//   b[i] = mean_c[i] − a[i]·mean_i[i].
typedef void (*nj_f32_colour_fit_fn)(float *a, float *b, const float *mean_i, const float *mean_ii,
                                     const float *mean_c, const float *mean_ic, float relative, size_t count);

// --- Quarter scale ---
// The guided filter runs at quarter scale, on the means of 2 x 2 half-scale values.
// Halving, for one row of the quarter scale from the half-scale rows `a` and `b` of `count`
// values (a == b for a frame's odd last row): out[j] = ((a[2j] + a[2j+1]) + (b[2j] + b[2j+1])) · 0.25
// for 2j + 1 < count; for an odd count the last out[j] = (a[2j] + b[2j]) · 0.5.
typedef void (*nj_f32_colour_halve_fn)(float *out, const float *a, const float *b, size_t count);

// Back to the half scale, linearly: between the quarter-scale rows `above` and `below` (`columns`
// values each), v(j) = above[j] · (1 − w) + below[j] · w with j clamped to 0 ..< columns, and for
// the half-scale columns x = first + i, i < count (first even):
//   x = 2k:     out[i] = v(k − 1) · 0.25 + v(k) · 0.75,
//   x = 2k + 1: out[i] = v(k) · 0.75 + v(k + 1) · 0.25
// (a quarter-scale value's centre lies half a half-scale column beyond each of its two columns).
typedef void (*nj_f32_colour_upsample_fn)(float *out, const float *above, const float *below, float w, size_t first,
                                          size_t count, size_t columns);

// --- Composition ---
// One output row, 8 bits, for half columns i < count (pixels 2i and 2i + 1):
//   out[6i + 3p + k] = table[entry(a_k[i] · luma[2i + p] + b_k[i])],
// entry(l) = round-to-nearest-even(clamp(l, 0, 1) · 65536) (NaN: 0), computed as the bits of
// clamp · 65536 + 1.5·2^23 less those of 1.5·2^23; `table` has 65537 entries and 3 bytes after them.
typedef void (*nj_f32_colour_compose8_fn)(uint8_t *out, const float *luma, const float *a0, const float *a1,
                                          const float *a2, const float *b0, const float *b1, const float *b2,
                                          const uint8_t *table, size_t count);

// The network's own colour (`restore --color network`) as one output row of `width` pixels: pixel
// 2i from the even planes' element i, pixel 2i + 1 from the odd planes' (the last pixel shuffle),
// out[3x + k] = q(channel k at pixel x) with
//   q(v) = (unsigned)(clamp(v, 0, 1) · 255 + 0.5f)  (NaN: 0; the sum is positive, so the
// conversion's truncation is its floor), and · 65535 for 16 bits (samples in host byte order).
// The odd planes are read only below width / 2.
typedef void (*nj_f32_rgb_quantise8_fn)(uint8_t *out, const float *red_even, const float *red_odd,
                                        const float *green_even, const float *green_odd, const float *blue_even,
                                        const float *blue_odd, size_t width);
typedef void (*nj_f32_rgb_quantise16_fn)(uint16_t *out, const float *red_even, const float *red_odd,
                                         const float *green_even, const float *green_odd, const float *blue_even,
                                         const float *blue_odd, size_t width);

// The same two steps from an int8 network's output, its codes in one encoding: each value
// v = scale · (float)(q − zero_point), as nj_qs8_dequantize makes it, then as above, so the
// results are those of the FP32 forms on the dequantised planes, bit for bit.
typedef void (*nj_qs8_colour_luma_fn)(float *out, const int8_t *red_even, const int8_t *red_odd,
                                      const int8_t *green_even, const int8_t *green_odd, const int8_t *blue_even,
                                      const int8_t *blue_odd, float scale, int32_t zero_point, const float weights[3],
                                      size_t count);
typedef void (*nj_qs8_rgb_quantise8_fn)(uint8_t *out, const int8_t *red_even, const int8_t *red_odd,
                                        const int8_t *green_even, const int8_t *green_odd, const int8_t *blue_even,
                                        const int8_t *blue_odd, float scale, int32_t zero_point, size_t width);
typedef void (*nj_qs8_rgb_quantise16_fn)(uint16_t *out, const int8_t *red_even, const int8_t *red_odd,
                                         const int8_t *green_even, const int8_t *green_odd, const int8_t *blue_even,
                                         const int8_t *blue_odd, float scale, int32_t zero_point, size_t width);

typedef struct {
    nj_f32_box_column_step_fn column_step;
    nj_f32_box_product_step_fn product_step;
    nj_f32_box_level_fn level;
    nj_f32_box_window_fn window;
    nj_f32_colour_luma_fn luma;
    nj_u16_colour_quads_fn quads;
    nj_u8_colour_quads_fn code_quads;
    nj_f32_colour_compose8_fn compose8;
    nj_f32_colour_fit_fn fit;
    nj_f32_colour_halve_fn halve;
    nj_f32_colour_upsample_fn upsample;
    nj_f32_rgb_quantise8_fn quantise8;
    nj_f32_rgb_quantise16_fn quantise16;
    nj_qs8_colour_luma_fn code_luma;
    nj_qs8_rgb_quantise8_fn code_quantise8;
    nj_qs8_rgb_quantise16_fn code_quantise16;
    const char *name;  // "scalar", "avx2", "avx512"
} nj_colour_kernels;

// The best forms the active CPU features allow (nj_cpu_features_active: the cap and
// NIGHTJAR_DISABLE_FEATURES apply); resolve once per frame, not per call.
nj_colour_kernels nj_colour_kernels_active(void);
// The forms of one level, for tests: "scalar", "avx2" or "avx512"; name NULL where this
// machine or build lacks it.
nj_colour_kernels nj_colour_kernels_named(const char *name);

#ifdef __cplusplus
}
#endif

#endif
