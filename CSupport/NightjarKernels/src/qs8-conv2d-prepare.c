// From a layer's model numbers (int8 weights, float scales and bias) to what a qs8 kernel reads:
// the weights in the kernel's layout, the folded int32 bias, the fixed-point multipliers and
// shifts (nightjar_kernels_qs8.h has the arithmetic). The tensor conversions: qs8-convert.c.
#include <math.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "qs8-internal.h"

const char *nj_qs8_status_message(int status) {
    switch (status) {
        case NJ_QS8_OK: return "ok";
        case NJ_QS8_BAD_SCALE:
            return "a quantisation scale is zero, negative or not finite: calibrate the model again";
        case NJ_QS8_BAD_ZERO_POINT:
            return "a zero point is outside [-128, 127]: calibrate the model again";
        case NJ_QS8_MULTIPLIER_TOO_LARGE:
            return "the output scale is too fine for this layer's inputs and weights (ratio >= 1/2): "
                   "keep the layer in a wider precision";
        case NJ_QS8_BIAS_OUT_OF_RANGE:
            return "a bias is too large for int32 at this layer's input and weight scales: "
                   "keep the layer in a wider precision";
        case NJ_QS8_BAD_GEOMETRY:
            return "the convolution's shape is invalid, or has more than 16384 inputs per output";
        case NJ_QS8_BAD_ACTIVATION:
            return "the LeakyReLU slope is outside [0, 1]";
    }
    return "unknown qs8 status";
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

static int geometry_ok(const nj_conv2d_qs8_args *g) {
    const int32_t k = g->kernel_size;
    if (g->groups < 1 || g->in_channels < 1 || g->out_channels < 1 || k < 1 || k % 2 == 0 ||
        g->in_channels % g->groups != 0 || g->out_channels % g->groups != 0) {
        return 0;
    }
    return (int64_t)(g->in_channels / g->groups) * k * k <= 16384;
}

static size_t weight_bytes(nj_qs8_weight_layout layout, const nj_conv2d_qs8_args *g) {
    const int32_t ipg = g->in_channels / g->groups;
    const int32_t lane = nj_qs8_layout_lane_channels(layout);
    const size_t lanes = (size_t)g->groups * ((ipg + lane - 1) / lane);
    const size_t per_lane = (size_t)nj_qs8_layout_taps(layout, g->kernel_size) * (g->out_channels / g->groups) *
                            lane * nj_qs8_layout_weight_bytes(layout);
    return round64(lanes * per_lane);
}

// A folded layer's fold as a convolution of its own: the fold input to the outputs.
static nj_conv2d_qs8_args fold_geometry(const nj_conv2d_qs8_args *g) {
    nj_conv2d_qs8_args f = *g;
    f.in_channels = g->fold_in_channels;
    f.kernel_size = g->fold_kernel_size;
    f.groups = 1;
    f.fold_kernel_size = 0;
    return f;
}

static int fold_geometry_ok(const nj_conv2d_qs8_args *g) {
    if (g->fold_kernel_size == 0) return 1;
    const nj_conv2d_qs8_args f = fold_geometry(g);
    return g->groups == 1 && g->fold_kernel_size > g->kernel_size && geometry_ok(&f);
}

static int32_t border_classes(const nj_conv2d_qs8_args *g) {
    return g->fold_kernel_size ? g->kernel_size * g->kernel_size : 1;
}

size_t nj_qs8_conv2d_packed_bytes(const nj_conv2d_qs8_kernel *kernel, const nj_conv2d_qs8_args *g) {
    if (!geometry_ok(g) || !fold_geometry_ok(g)) return 0;
    const size_t array = round64((size_t)g->out_channels * sizeof(int32_t));
    if (g->fold_kernel_size == 0) return weight_bytes(kernel->weight_layout, g) + 4 * array;
    // The main weights, the fold's class after class, the bias and fold bias per class, the
    // multipliers, shifts and fold shifts.
    const nj_conv2d_qs8_args f = fold_geometry(g);
    const size_t classes = (size_t)border_classes(g);
    return weight_bytes(kernel->weight_layout, g) + classes * weight_bytes(kernel->weight_layout, &f) +
           2 * classes * array + 4 * array;
}

static int scale_ok(float s) { return s > 0.0f && isfinite(s); }
static int zero_point_ok(int32_t z) { return z >= -128 && z <= 127; }

// ratio = m / 2^s with m in [2^30, 2^31) and 32 <= s <= 62 (m smaller at s = 62); the
// negative side is ratio * slope at the same shift.
static int conv_multipliers(double ratio, double slope, int32_t *m, int32_t *m_negative, int32_t *s) {
    if (!(ratio > 0.0) || !isfinite(ratio)) return NJ_QS8_BAD_SCALE;
    int e;
    (void)frexp(ratio, &e);  // ratio = f * 2^e, f in [0.5, 1)
    int32_t shift = 31 - e;
    if (shift > 62) shift = 62;
    if (shift < 32) return NJ_QS8_MULTIPLIER_TOO_LARGE;
    double mm = nearbyint(ldexp(ratio, shift));
    if (mm >= 2147483648.0) {  // f rounded up to 1
        mm = 1073741824.0;
        shift -= 1;
        if (shift < 32) return NJ_QS8_MULTIPLIER_TOO_LARGE;
    }
    *m = (int32_t)mm;
    *m_negative = (int32_t)nearbyint(ldexp(ratio * slope, shift));
    *s = shift;
    return NJ_QS8_OK;
}

// ratio = m / 2^s with m in [2^21, 2^22) and 1 <= s <= 30 (m smaller at s = 30).
static int residual_multiplier(double ratio, int32_t *m, int32_t *s) {
    if (!(ratio > 0.0) || !isfinite(ratio)) return NJ_QS8_BAD_SCALE;
    int e;
    (void)frexp(ratio, &e);
    int32_t shift = 22 - e;
    if (shift > 30) shift = 30;
    if (shift < 1) return NJ_QS8_MULTIPLIER_TOO_LARGE;
    double mm = nearbyint(ldexp(ratio, shift));
    if (mm >= 4194304.0) {
        mm = 2097152.0;
        shift -= 1;
        if (shift < 1) return NJ_QS8_MULTIPLIER_TOO_LARGE;
    }
    *m = (int32_t)mm;
    *s = shift;
    return NJ_QS8_OK;
}

// D g Cᵀ of one 3x3 filter with the integer matrices D down and C across (`down` and `across`
// rows): u[across·i + j], i down, j across. F(2, 3)'s filter transform is doubled so that it
// stays in integers: 2G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]].
static const int32_t winograd_g_2x3[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
static void winograd_filter_3x3(const int8_t g[9], const int32_t (*down_g)[3], int down,
                                const int32_t (*across_g)[3], int across, int16_t *u) {
    int32_t t[6][3];  // D g
    for (int i = 0; i < down; i++) {
        for (int c = 0; c < 3; c++) {
            t[i][c] = down_g[i][0] * g[c] + down_g[i][1] * g[3 + c] + down_g[i][2] * g[6 + c];
        }
    }
    for (int i = 0; i < down; i++) {
        for (int j = 0; j < across; j++) {
            u[across * i + j] =
                (int16_t)(t[i][0] * across_g[j][0] + t[i][1] * across_g[j][1] + t[i][2] * across_g[j][2]);
        }
    }
}

// Across for F(2x2, 3x3): 2G again, so the transform is scaled by 4 (|value| <= 9 * 128: int16).
// Across for F(2, 3) x F(4, 3), and both ways for F(4x4, 3x3): F(4, 3)'s G with each row scaled
// to integers on its own (the kernel's A' carries the scales; |value| <= 3 * 7 * 128 and 7 * 7 *
// 128: int16).
static const int32_t winograd_g_4x3[6][3] = {{1, 0, 0}, {1, 1, 1}, {1, -1, 1}, {1, 2, 4}, {1, -2, 4}, {0, 0, 1}};

// u[points·ky + ξ] = Σ_kx gp[ξ][kx] · g[5·ky + kx]: each row of a 5x5 filter through an integer
// filter matrix of `points` rows (|value| <= 31 * 128 for both below: int16).
static void winograd_filter_rows(const int8_t g[25], const int32_t (*gp)[5], int points, int16_t *u) {
    for (int ky = 0; ky < 5; ky++) {
        for (int xi = 0; xi < points; xi++) {
            int32_t sum = 0;
            for (int kx = 0; kx < 5; kx++) sum += gp[xi][kx] * g[5 * ky + kx];
            u[points * ky + xi] = (int16_t)sum;
        }
    }
}

// G' = 24 G of Winograd's F(2, 5) at the points 0, 1, -1, 2, -2 and infinity.
static const int32_t winograd_g_2x5[6][5] = {{6, 0, 0, 0, 0},  {4, 4, 4, 4, 4},   {4, -4, 4, -4, 4},
                                             {1, 2, 4, 8, 16}, {1, -2, 4, -8, 16}, {0, 0, 0, 0, 24}};
// G' = Winograd's F(4, 5) G at the points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity, each row
// scaled to integers on its own (the kernel's A' carries the scales).
static const int32_t winograd_g_4x5[8][5] = {{1, 0, 0, 0, 0},   {1, 1, 1, 1, 1},    {1, -1, 1, -1, 1},
                                             {1, 2, 4, 8, 16},  {1, -2, 4, -8, 16}, {16, 8, 4, 2, 1},
                                             {16, -8, 4, -2, 1}, {0, 0, 0, 0, 1}};

static void pack_weights(nj_qs8_weight_layout layout, const nj_conv2d_qs8_args *g,
                         const int8_t *oihw, void *packed) {
    const int32_t k = g->kernel_size, taps = k * k;
    const int32_t ipg = g->in_channels / g->groups, opg = g->out_channels / g->groups;
    if (layout == NJ_QS8_WEIGHTS_OIHW_S8) {
        memcpy(packed, oihw, (size_t)g->out_channels * ipg * taps);
        return;
    }
    if (layout == NJ_QS8_WEIGHTS_WINOGRAD_2X2_S16 || layout == NJ_QS8_WEIGHTS_WINOGRAD_2X4_S16 ||
        layout == NJ_QS8_WEIGHTS_WINOGRAD_4X4_S16 || layout == NJ_QS8_WEIGHTS_WINOGRAD_1X2_5X5_S16 ||
        layout == NJ_QS8_WEIGHTS_WINOGRAD_1X4_5X5_S16) {
        // [point][ic / 2][oc][ic % 2], a point being ξ of F(2x2, 3x3) (16 of them), of F(2, 3)
        // x F(4, 3) (24), of F(4x4, 3x3) (36), 6·ky + ξ of F(2, 5) along rows (30) or 8·ky + ξ of F(4, 5) (40); the
        // selection guarantees the kernel size, ungrouped.
        const int points = nj_qs8_layout_taps(layout, k);
        const size_t units = (size_t)(ipg + 1) / 2;
        int16_t *p = packed;
        memset(packed, 0, weight_bytes(layout, g));
        for (int32_t oc = 0; oc < g->out_channels; oc++) {
            for (int32_t ic = 0; ic < ipg; ic++) {
                int16_t u[40];
                const int8_t *filter = oihw + ((size_t)oc * ipg + ic) * taps;
                if (layout == NJ_QS8_WEIGHTS_WINOGRAD_1X2_5X5_S16) {
                    winograd_filter_rows(filter, winograd_g_2x5, 6, u);
                } else if (layout == NJ_QS8_WEIGHTS_WINOGRAD_1X4_5X5_S16) {
                    winograd_filter_rows(filter, winograd_g_4x5, 8, u);
                } else if (layout == NJ_QS8_WEIGHTS_WINOGRAD_4X4_S16) {
                    winograd_filter_3x3(filter, winograd_g_4x3, 6, winograd_g_4x3, 6, u);
                } else if (layout == NJ_QS8_WEIGHTS_WINOGRAD_2X4_S16) {
                    winograd_filter_3x3(filter, winograd_g_2x3, 4, winograd_g_4x3, 6, u);
                } else {
                    winograd_filter_3x3(filter, winograd_g_2x3, 4, winograd_g_2x3, 4, u);
                }
                for (int pt = 0; pt < points; pt++) p[(((size_t)pt * units + ic / 2) * opg + oc) * 2 + ic % 2] = u[pt];
            }
        }
        return;
    }
    const int32_t lane = nj_qs8_layout_lane_channels(layout);
    const int32_t lanes_per_group = (ipg + lane - 1) / lane;
    memset(packed, 0, weight_bytes(layout, g));
    int8_t *p8 = packed;
    int16_t *p16 = packed;
    const int wide = nj_qs8_layout_weight_bytes(layout) == 2;
    for (int32_t oc = 0; oc < g->out_channels; oc++) {
        const int32_t group = oc / opg, o = oc % opg;
        for (int32_t icg = 0; icg < ipg; icg++) {
            for (int32_t t = 0; t < taps; t++) {
                // [group][icg / lane][tap][o][icg % lane]
                const size_t at = ((((size_t)group * lanes_per_group + icg / lane) * taps + t) * opg + o) *
                                      lane + icg % lane;
                const int8_t w = oihw[((size_t)oc * ipg + icg) * taps + t];
                if (wide) {
                    p16[at] = w;
                } else {
                    p8[at] = w;
                }
            }
        }
    }
}

// The numbers both prepares give every layer; the rest zero (no residual, no fold).
static void fill_params(nj_conv2d_qs8_params *params, const int32_t *bias, const int32_t *mult, const int32_t *mult_neg,
                        const int32_t *shift, int32_t input_zero_point, int32_t output_zero_point) {
    memset(params, 0, sizeof *params);
    params->bias = bias;
    params->multiplier = mult;
    params->negative_multiplier = mult_neg;
    params->shift = shift;
    params->input_zero_point = input_zero_point;
    params->output_zero_point = output_zero_point;
    params->residual_shift = 1;
}

// Refusals common to both prepares.
static int check_layer(const nj_conv2d_qs8_kernel *kernel, const nj_conv2d_qs8_args *g, nj_qs8_quantization input,
                       nj_qs8_quantization output, const nj_qs8_quantization *residual, int32_t activation,
                       float negative_slope) {
    // A kernel with its own geometry test packs only what it takes (Winograd: ungrouped).
    if (!geometry_ok(g) || (kernel->supports && !kernel->supports(g))) return NJ_QS8_BAD_GEOMETRY;
    if (!scale_ok(input.scale) || !scale_ok(output.scale) || (residual && !scale_ok(residual->scale))) {
        return NJ_QS8_BAD_SCALE;
    }
    if (!zero_point_ok(input.zero_point) || !zero_point_ok(output.zero_point) ||
        (residual && !zero_point_ok(residual->zero_point))) {
        return NJ_QS8_BAD_ZERO_POINT;
    }
    if (activation == NJ_ACTIVATION_LEAKY_RELU && !(negative_slope >= 0.0f && negative_slope <= 1.0f)) {
        return NJ_QS8_BAD_ACTIVATION;
    }
    return NJ_QS8_OK;
}

int nj_qs8_conv2d_prepare_folded(const nj_conv2d_qs8_kernel *kernel, const nj_conv2d_qs8_args *g,
                                 const int8_t *weights_oihw, const float *weight_scales, const float *bias,
                                 nj_qs8_quantization input, const nj_qs8_fold *fold,
                                 nj_qs8_quantization output, int32_t activation, float negative_slope,
                                 void *packed, nj_conv2d_qs8_params *params) {
    if (g->fold_kernel_size <= 0 || !fold_geometry_ok(g) ||
        (kernel->kernel_size != 0 && kernel->fold_kernel_size != g->fold_kernel_size)) {
        return NJ_QS8_BAD_GEOMETRY;
    }
    int st = check_layer(kernel, g, input, output, NULL, activation, negative_slope);
    if (st) return st;
    if (!scale_ok(fold->input.scale)) return NJ_QS8_BAD_SCALE;
    if (!zero_point_ok(fold->input.zero_point)) return NJ_QS8_BAD_ZERO_POINT;

    const nj_conv2d_qs8_args f = fold_geometry(g);
    const int32_t oc_count = g->out_channels, classes = border_classes(g);
    const int32_t taps_in = g->in_channels * g->kernel_size * g->kernel_size;
    const int32_t taps_fold = f.in_channels * f.kernel_size * f.kernel_size;
    const size_t wbytes = weight_bytes(kernel->weight_layout, g);
    const size_t fold_class_bytes = weight_bytes(kernel->weight_layout, &f);
    const size_t array = round64((size_t)oc_count * sizeof(int32_t));
    char *fold_weights = (char *)packed + wbytes;
    char *arrays = fold_weights + (size_t)classes * fold_class_bytes;
    int32_t *bias_q = (int32_t *)arrays;
    int32_t *fold_bias = (int32_t *)(arrays + (size_t)classes * array);
    int32_t *mult = (int32_t *)(arrays + 2 * (size_t)classes * array);
    int32_t *mult_neg = mult + array / sizeof(int32_t);
    int32_t *shift = mult_neg + array / sizeof(int32_t);
    int32_t *fold_shift = shift + array / sizeof(int32_t);

    const int u8_inputs = kernel->weight_layout == NJ_QS8_WEIGHTS_GC4HWO4_S8_U8;
    const int lrelu = activation == NJ_ACTIVATION_LEAKY_RELU;
    for (int32_t oc = 0; oc < oc_count; oc++) {
        if (!scale_ok(weight_scales[oc]) || !scale_ok(fold->weight_scales[oc])) return NJ_QS8_BAD_SCALE;
        const double main_scale = (double)input.scale * weight_scales[oc];
        const double fine_scale = (double)fold->input.scale * fold->weight_scales[oc];
        // The main scale must be the fine one times 2^0 .. 2^7 (to float's precision).
        const double ratio = main_scale / fine_scale;
        const int32_t k = (int32_t)nearbyint(log2(ratio));
        if (k < 0 || k > 7 || fabs(ratio / ldexp(1.0, k) - 1.0) > 1e-5) return NJ_QS8_BAD_SCALE;
        fold_shift[oc] = k;
        st = conv_multipliers(fine_scale / output.scale, lrelu ? negative_slope : 1.0, &mult[oc], &mult_neg[oc],
                              &shift[oc]);
        if (st) return st;
        int64_t sum_w = 0, sum_abs = 0;
        for (int32_t i = 0; i < taps_in; i++) {
            const int32_t w = weights_oihw[(size_t)oc * taps_in + i];
            sum_w += w;
            sum_abs += w < 0 ? -w : w;
        }
        for (int32_t c = 0; c < classes; c++) {
            const double b = nearbyint(bias[(size_t)c * oc_count + oc] / main_scale);
            if (!(fabs(b) < 536870912.0)) return NJ_QS8_BIAS_OUT_OF_RANGE;
            const int8_t *fw = fold->weights + ((size_t)c * oc_count + oc) * taps_fold;
            int64_t fold_sum = 0, fold_abs = 0;
            for (int32_t i = 0; i < taps_fold; i++) {
                fold_sum += fw[i];
                fold_abs += fw[i] < 0 ? -fw[i] : fw[i];
            }
            const int64_t main_b = (int64_t)b - (int64_t)input.zero_point * sum_w - (u8_inputs ? 128 * sum_w : 0);
            const int64_t fold_b = -(int64_t)fold->input.zero_point * fold_sum - (u8_inputs ? 128 * fold_sum : 0);
            // Every partial sum a kernel forms (staged values |x| <= 255) stays inside int32.
            const int64_t bound = ((main_b < 0 ? -main_b : main_b) + 255 * sum_abs) * ((int64_t)1 << k) +
                                  (fold_b < 0 ? -fold_b : fold_b) + 255 * fold_abs;
            if (bound >= 2147483648LL) return NJ_QS8_BIAS_OUT_OF_RANGE;
            bias_q[(size_t)c * oc_count + oc] = (int32_t)main_b;
            fold_bias[(size_t)c * oc_count + oc] = (int32_t)fold_b;
        }
    }
    pack_weights(kernel->weight_layout, g, weights_oihw, packed);
    for (int32_t c = 0; c < classes; c++) {
        pack_weights(kernel->weight_layout, &f, fold->weights + (size_t)c * oc_count * taps_fold,
                     fold_weights + (size_t)c * fold_class_bytes);
    }

    fill_params(params, bias_q, mult, mult_neg, shift, input.zero_point, output.zero_point);
    params->fold_weights = fold_weights;
    params->fold_bias = fold_bias;
    params->fold_shift = fold_shift;
    params->fold_input_zero_point = fold->input.zero_point;
    params->class_stride = oc_count;
    params->fold_class_weights = fold_class_bytes / (size_t)nj_qs8_layout_weight_bytes(kernel->weight_layout);
    return NJ_QS8_OK;
}

int nj_qs8_conv2d_prepare(const nj_conv2d_qs8_kernel *kernel, const nj_conv2d_qs8_args *g,
                          const int8_t *weights_oihw, const float *weight_scales,
                          const float *bias, nj_qs8_quantization input,
                          nj_qs8_quantization output, const nj_qs8_quantization *residual,
                          int32_t activation, float negative_slope, void *packed,
                          nj_conv2d_qs8_params *params) {
    if (g->fold_kernel_size != 0 || kernel->fold_kernel_size != 0) return NJ_QS8_BAD_GEOMETRY;
    const int st0 = check_layer(kernel, g, input, output, residual, activation, negative_slope);
    if (st0) return st0;
    const int lrelu = activation == NJ_ACTIVATION_LEAKY_RELU;

    const int32_t oc_count = g->out_channels;
    const int32_t taps_in = g->in_channels / g->groups * g->kernel_size * g->kernel_size;
    const size_t wbytes = weight_bytes(kernel->weight_layout, g);
    const size_t array = round64((size_t)oc_count * sizeof(int32_t));
    int32_t *bias_q = (int32_t *)((char *)packed + wbytes);
    int32_t *mult = (int32_t *)((char *)packed + wbytes + array);
    int32_t *mult_neg = (int32_t *)((char *)packed + wbytes + 2 * array);
    int32_t *shift = (int32_t *)((char *)packed + wbytes + 3 * array);

    // Everything that can fail first, so a refused layer leaves `packed` as the checks found it
    // except the arrays (the weights are packed only on success).
    int32_t rm = 0, rs = 1;
    if (residual) {
        const int st = residual_multiplier((double)residual->scale / output.scale, &rm, &rs);
        if (st) return st;
    }
    const int u8_inputs = kernel->weight_layout == NJ_QS8_WEIGHTS_GC4HWO4_S8_U8;
    for (int32_t oc = 0; oc < oc_count; oc++) {
        if (!scale_ok(weight_scales[oc])) return NJ_QS8_BAD_SCALE;
        const double acc_scale = (double)input.scale * weight_scales[oc];
        const int st = conv_multipliers(acc_scale / output.scale, lrelu ? negative_slope : 1.0,
                                        &mult[oc], &mult_neg[oc], &shift[oc]);
        if (st) return st;
        const double b = bias ? nearbyint(bias[oc] / acc_scale) : 0.0;
        if (!(fabs(b) < 536870912.0)) return NJ_QS8_BIAS_OUT_OF_RANGE;
        int32_t sum_w = 0;
        for (int32_t i = 0; i < taps_in; i++) sum_w += weights_oihw[(size_t)oc * taps_in + i];
        // |b| < 2^29, |zp * sum| <= 2^7 * 2^14 * 2^7 = 2^28, 128 * |sum| <= 2^28: fits.
        bias_q[oc] = (int32_t)b - input.zero_point * sum_w - (u8_inputs ? 128 * sum_w : 0);
    }
    pack_weights(kernel->weight_layout, g, weights_oihw, packed);

    fill_params(params, bias_q, mult, mult_neg, shift, input.zero_point, output.zero_point);
    params->residual_zero_point = residual ? residual->zero_point : 0;
    params->residual_multiplier = rm;
    params->residual_shift = rs;
    return NJ_QS8_OK;
}
