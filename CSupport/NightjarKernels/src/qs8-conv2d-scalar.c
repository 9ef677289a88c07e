// Scalar reference of the qs8 convolution: the specification every qs8 kernel must match bit
// for bit (see nightjar_kernels_qs8.h). Integer throughout; padding is the input zero point.
#include "nightjar_kernels.h"
#include "qs8-internal.h"

int32_t nj_qs8_requantize(int32_t x, int32_t multiplier, int32_t shift) {
    // |x * m| < 2^62 and 2^(s-1) <= 2^61: no overflow; >> of a negative int64 is an arithmetic
    // shift with gcc and clang (floor).
    const int64_t p = (int64_t)x * multiplier + ((int64_t)1 << (shift - 1));
    return (int32_t)(p >> shift);
}

// Σ w·x over `channels` planes (a ring of `rows` rows, `stride` apart) and a k x k window centred
// on (y, x), positions outside the image reading `zero_point`; w is [channel][ky][kx].
static int64_t window_sum(const int8_t *planes, size_t stride, int32_t rows, int32_t height, int32_t width,
                          int32_t channels, int32_t k, int32_t zero_point, const int8_t *w, int32_t y, int32_t x) {
    const int32_t pad = (k - 1) / 2;
    int64_t acc = 0;
    for (int32_t c = 0; c < channels; c++) {
        const int8_t *plane = planes + (size_t)c * stride;
        for (int32_t ky = 0; ky < k; ky++) {
            const int32_t iy = y + ky - pad;
            const int inside_y = iy >= 0 && iy < height;
            const int8_t *row = inside_y ? plane + (size_t)(iy % rows) * width : NULL;
            for (int32_t kx = 0; kx < k; kx++) {
                const int32_t ix = x + kx - pad;
                const int32_t v = inside_y && ix >= 0 && ix < width ? row[ix] : zero_point;
                acc += (int64_t)w[((size_t)c * k + ky) * k + kx] * v;
            }
        }
    }
    return acc;
}

void nj_qs8_conv2d_scalar(const nj_conv2d_qs8_args *a) {
    const nj_conv2d_qs8_params *p = a->params;
    const int8_t *weights = a->weights;
    const int32_t k = a->kernel_size;
    const int32_t pad = (k - 1) / 2;
    const int32_t width = a->width;
    const int32_t ipg = a->in_channels / a->groups;
    const int32_t opg = a->out_channels / a->groups;

    // A folded input (see nightjar_kernels_qs8.h): its weights [class][oc][ic][ky][kx].
    const int32_t fk = a->fold_kernel_size;
    const int8_t *fold_weights = p->fold_weights;

    for (int32_t oc = 0; oc < a->out_channels; oc++) {
        const int32_t group = oc / opg;
        const int8_t *w_oc = weights + (size_t)oc * ipg * k * k;
        for (int32_t y = a->row_begin; y < a->row_end; y++) {
            size_t step;
            int8_t *out_row = nj_qs8_output_row(a, oc, y, &step);
            const int8_t *res_row = a->residual
                ? a->residual + oc * a->residual_channel_stride +
                      (size_t)(y % a->residual_rows) * width
                : NULL;
            const int32_t row_class = fk ? nj_qs8_border_class(y, a->height, pad) : 0;
            for (int32_t x = 0; x < width; x++) {
                const int32_t c = fk ? row_class * k + nj_qs8_border_class(x, width, pad) : 0;
                int64_t acc = p->bias[(size_t)c * p->class_stride + oc] +
                              window_sum(a->input + (size_t)group * ipg * a->input_channel_stride, a->input_channel_stride,
                                         a->input_rows, a->height, width, ipg, k, p->input_zero_point, w_oc, y, x);
                if (fk) {
                    const int8_t *fw = fold_weights + (size_t)c * p->fold_class_weights +
                                       (size_t)oc * a->fold_in_channels * fk * fk;
                    acc = acc * ((int64_t)1 << p->fold_shift[oc]) + p->fold_bias[(size_t)c * p->class_stride + oc] +
                          window_sum(a->fold_input, a->fold_input_channel_stride, a->fold_input_rows, a->height, width,
                                     a->fold_in_channels, fk, p->fold_input_zero_point, fw, y, x);
                }
                const int32_t a32 = (int32_t)acc;  // prepare's bounds keep |acc| < 2^31
                int32_t q = nj_qs8_requantize(a32, a32 >= 0 ? p->multiplier[oc] : p->negative_multiplier[oc],
                                              p->shift[oc]);
                if (res_row) {
                    q += nj_qs8_requantize_residual(res_row[x] - p->residual_zero_point,
                                                    p->residual_multiplier, p->residual_shift);
                }
                q += p->output_zero_point;
                out_row[x * step] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
            }
        }
    }
}
