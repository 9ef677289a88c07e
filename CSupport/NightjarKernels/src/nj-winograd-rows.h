// Row addressing every Winograd template shares, whatever its vector width: the input row a
// transform reads and the output and residual rows a store writes. Internal, no include guard:
// included once by nj-winograd-avx2.h and f32-conv2d-3x3-winograd2x2-avx512.h, after
// nj-conv2d-storage.h (nj_x, nj_args, NJ_OUTPUT_ROW).

// Row y of input channel ic, or NULL where the row is zero padding.
static inline const nj_x *wg_input_row(const nj_args *a, int32_t ic, int32_t y) {
    if (y < 0 || y >= a->height) return NULL;
    return a->input + (size_t)ic * a->input_channel_stride + (size_t)(y % a->input_rows) * a->width;
}

// The residual row that output row y of channel oc adds, from column x0 (NULL without a
// residual).
static inline const nj_x *wg_residual_row(const nj_args *a, int32_t oc, int32_t y, int32_t x0) {
    return a->residual ? a->residual + (size_t)oc * a->residual_channel_stride + (size_t)(y % a->residual_rows) * a->width + x0
                       : NULL;
}

// Output row y of channel oc from column x0 (its pixels `*step` apart: depth-to-space), and the
// residual row it adds from the same column (wg_residual_row).
static inline nj_x *wg_output_row(const nj_args *a, int32_t oc, int32_t y, int32_t x0, size_t *step,
                                  const nj_x **residual) {
    nj_x *dst = NJ_OUTPUT_ROW(a, oc, y, step);
    *residual = wg_residual_row(a, oc, y, x0);
    return dst + (size_t)x0 * *step;
}
