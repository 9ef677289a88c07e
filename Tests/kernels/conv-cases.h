// What the standalone convolution tests share about a case's buffers (header-only, static
// inline): rings of rows (row y of a plane at ring row y mod rows, as the executor's bands lay
// them out) and the sum of |terms| each output's error is measured against.
#ifndef NJ_CONV_CASES_H
#define NJ_CONV_CASES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// The image row a ring of `rows` rows holding rows [lo, hi) keeps at ring row `slot`, or -1.
static inline int32_t ring_row(int32_t slot, int32_t rows, int32_t lo, int32_t hi) {
    const int32_t y = lo + ((slot - lo) % rows + rows) % rows;
    return y < hi ? y : -1;
}

// A case's convolution: the input ring holds the rows [row_begin, row_end) needs, the output
// and residual rings the rows of the range; *_stride is the distance between channel planes.
typedef struct ring_conv {
    int32_t k, in_channels, out_channels, groups, height, width, row_begin, row_end;
    int32_t in_rows, out_rows, res_rows;
    size_t in_stride, out_stride, res_stride;
} ring_conv;

// Σ |term| of every output in the range (|bias|, |w·x| over the taps inside the image,
// |residual|), in double at the output's index in the output ring; other entries are not
// written. Inputs are the magnitudes of the case's values in their own layouts (weights OIHW,
// per group). A product of two floats is exact in double, so |w|·|x| is |w·x|. Computed once
// per case for every kernel under test: recomputed per kernel, with binary16 decoded per
// term, this took four fifths of the f16 test's time under qemu.
static inline void ring_conv_sum_abs_terms(const ring_conv *c, const double *abs_input, const double *abs_weights,
                                           const double *abs_bias, const double *abs_residual, double *mag) {
    const int32_t pad = (c->k - 1) / 2, ipg = c->in_channels / c->groups, opg = c->out_channels / c->groups;
    for (int32_t oc = 0; oc < c->out_channels; oc++) {
        const int32_t g = oc / opg;
        for (int32_t y = c->row_begin; y < c->row_end; y++) {
            double *row = mag + (size_t)oc * c->out_stride + (size_t)(y % c->out_rows) * c->width;
            const double b = abs_bias ? abs_bias[oc] : 0.0;
            for (int32_t x = 0; x < c->width; x++) row[x] = b;
            for (int32_t icg = 0; icg < ipg; icg++) {
                const double *plane = abs_input + (size_t)(g * ipg + icg) * c->in_stride;
                const double *w = abs_weights + ((size_t)oc * ipg + icg) * c->k * c->k;
                for (int32_t ky = 0; ky < c->k; ky++) {
                    const int32_t iy = y + ky - pad;
                    if (iy < 0 || iy >= c->height) continue;
                    const double *in = plane + (size_t)(iy % c->in_rows) * c->width;
                    for (int32_t kx = 0; kx < c->k; kx++) {
                        const double wk = w[ky * c->k + kx];
                        // Outputs x whose tap x + kx - pad lies inside the row.
                        const int32_t x0 = pad - kx > 0 ? pad - kx : 0;
                        const int32_t x1 = c->width + pad - kx < c->width ? c->width + pad - kx : c->width;
                        for (int32_t x = x0; x < x1; x++) row[x] += wk * in[x + kx - pad];
                    }
                }
            }
            if (abs_residual) {
                const double *res = abs_residual + (size_t)oc * c->res_stride + (size_t)(y % c->res_rows) * c->width;
                for (int32_t x = 0; x < c->width; x++) row[x] += res[x];
            }
        }
    }
}

// The magnitudes ring_conv_sum_abs_terms reads (bias and residual NULL when the case has
// none) and the sums it writes (`sum`, indexed like the output ring), allocated together.
typedef struct abs_terms {
    double *input, *weights, *bias, *residual, *sum;
} abs_terms;

static inline abs_terms abs_terms_alloc(size_t in_count, size_t w_count, int32_t out_channels, size_t res_count,
                                        size_t out_count, int with_bias, int with_residual) {
    abs_terms t = {malloc(in_count * sizeof(double)), malloc(w_count * sizeof(double)),
                   with_bias ? malloc((size_t)out_channels * sizeof(double)) : NULL,
                   with_residual ? malloc(res_count * sizeof(double)) : NULL, malloc(out_count * sizeof(double))};
    if (!t.input || !t.weights || (with_bias && !t.bias) || (with_residual && !t.residual) || !t.sum) {
        perror("malloc");
        exit(2);
    }
    return t;
}

static inline void abs_terms_free(abs_terms *t) {
    free(t->input);
    free(t->weights);
    free(t->bias);
    free(t->residual);
    free(t->sum);
}

#endif
