// Standalone test of the int8 fixed-point (qs8) convolutions. Built and run by
// scripts/test-kernels.sh (host gcc and clang, and aarch64 under qemu).
//
// 1. The scalar reference against an independent computation in double: real inputs and
//    weights from the quantised values, real bias, LeakyReLU and residual in real numbers, then
//    quantised to the output once (round half to even, saturate). The reference must be
//    within 1 of that exactly rounded value everywhere (nightjar_kernels_qs8.h says why).
// 2. Every qs8 kernel this CPU can run against the reference, bit for bit, over many shapes:
//    odd widths and tails, groups, rings, channel gaps, residuals, depth-to-space outputs,
//    extreme zero points and scales, saturation. Every buffer sits against a PROT_NONE guard
//    page; the whole output buffer (rows and gaps a kernel must not write included) must equal
//    the reference's byte for byte.
// 3. Conversions, requantisation and prepare's refusals.
// NIGHTJAR_DISABLE_FEATURES and NIGHTJAR_MAX_ISA force each path (see scripts/test-kernels.sh).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "nightjar_threadpool.h"
#include "test-support.h"

// Every buffer ends exactly at its guard page (int8 data: not a byte of slack), or starts
// right after one.
static void *guarded_alloc(size_t bytes, int guard_before) {
    return guarded_bytes_aligned(bytes == 0 ? 1 : bytes, guard_before, 1);
}

// A packed block: 64-byte aligned as prepare asks, its end against a guard page.
static void *packed_alloc(size_t bytes) {
    return guarded_alloc((bytes + 63) & ~(size_t)63, 0);
}

static double rnd_unit(void) { return (double)(rnd32() & 0xffffff) / 16777216.0; }  // [0, 1)
static int32_t rnd_between(int32_t lo, int32_t hi) { return lo + rnd_int_below(hi - lo + 1); }
static int8_t rnd_s8(void) { return (int8_t)(rnd32() & 0xff); }

static int32_t max_i(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t min_i(int32_t a, int32_t b) { return a < b ? a : b; }

static long passed, failed;
static long off_by_one, compared_real;
static int verbose;

#define CHECK(cond, ...)                      \
    do {                                      \
        if (cond) {                           \
            passed++;                         \
        } else {                              \
            failed++;                         \
            printf("FAIL: " __VA_ARGS__);     \
            printf("\n");                     \
        }                                     \
    } while (0)

// ---- Conversions and requantisation --------------------------------------------------------

static void test_conversions(void) {
    const nj_qs8_quantization q = {0.5f, 3};
    // Halves go to even: 0.25/0.5 = 0.5 -> 0, 0.75/0.5 = 1.5 -> 2, 1.25/0.5 = 2.5 -> 2.
    const float in[] = {0.25f, 0.75f, 1.25f, -0.25f, -0.75f, -1.25f, 1000.0f, -1000.0f, NAN, INFINITY, -INFINITY, 62.0f, 62.5f};
    const int8_t want[] = {3, 5, 5, 3, 1, 1, 127, -128, 3, 127, -128, 127, 127};
    int8_t got[sizeof in / sizeof in[0]];
    nj_qs8_quantize(in, got, sizeof in / sizeof in[0], q);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        CHECK(got[i] == want[i], "quantize(%g) = %d, want %d", (double)in[i], got[i], want[i]);
    }
    const nj_qs8_quantization q2 = {0.1f, -128};
    const float edge[] = {25.45f, 25.55f, -0.04f, -0.06f};  // 254.5 -> 254 -> 126, 255.5 -> 127
    const int8_t edge_want[] = {126, 127, -128, -128};
    int8_t edge_got[4];
    nj_qs8_quantize(edge, edge_got, 4, q2);
    for (int i = 0; i < 4; i++) {
        CHECK(edge_got[i] == edge_want[i], "quantize(%g, zp -128) = %d, want %d", (double)edge[i],
              edge_got[i], edge_want[i]);
    }
    const int8_t back_in[] = {-128, 3, 127};
    float back[3];
    nj_qs8_dequantize(back_in, back, 3, q);
    CHECK(back[0] == -65.5f && back[1] == 0.0f && back[2] == 62.0f, "dequantize: %g %g %g",
          (double)back[0], (double)back[1], (double)back[2]);

    // requantize(x, m, s) = floor((x * m + 2^(s-1)) / 2^s), checked through 128-bit division
    // of the doubled value (an independent formulation: round(x*m / 2^s), halves up).
    for (int i = 0; i < 200000; i++) {
        const int32_t x = (int32_t)rnd32() ^ (int32_t)(rnd32() << 16);
        const int32_t shift = rnd_between(32, 62);
        const int32_t m = i % 7 == 0 ? rnd_int_below(1 << 30) : (int32_t)((1u << 30) | (rnd32() & 0x3fffffff));
        const __int128 num = (__int128)x * m * 2 + ((__int128)1 << shift);
        const __int128 den = (__int128)1 << (shift + 1);
        __int128 want_q = num / den;
        if (num % den != 0 && num < 0) want_q -= 1;  // C division truncates; floor wanted
        const int32_t got_q = nj_qs8_requantize(x, m, shift);
        if (got_q != (int32_t)want_q) {
            CHECK(0, "requantize(%d, %d, %d) = %d, want %lld", x, m, shift, got_q, (long long)want_q);
            break;
        }
    }
    passed++;
    // Halves round up (towards +infinity): 3 * 2^31 / 2^32 = 1.5 -> 2, -1.5 -> -1.
    CHECK(nj_qs8_requantize(3, 1 << 30, 31 + 1) == 1 && nj_qs8_requantize(3, INT32_C(1) << 30, 31) == 2 &&
              nj_qs8_requantize(-3, INT32_C(1) << 30, 31) == -1,
          "requantize rounds halves up");
}

// ---- Cases ---------------------------------------------------------------------------------

// The first byte at which two outputs differ (n: none).
static size_t first_difference(const int8_t *a, const int8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) return i;
    }
    return n;
}

typedef struct qs8_shape {
    int32_t k, in_channels, out_channels, groups;
} qs8_shape;

// What a case draws.
typedef struct qs8_numbers {
    nj_qs8_quantization input, output, residual;
    float *weight_scales;
    float *bias;
    int lrelu;
    float slope;
} qs8_numbers;

static nj_threadpool *pool;

// Runs one kernel on a case: packs for it, runs directly or through the pool, returns 0 when
// prepare refused.
// columns (not threaded): 0 whole rows in one call; 1 or 2, for a kernel that computes parts
// of rows (column_block), one call per column block, first to last or last to first, so that a
// call writing outside its columns overwrites a neighbour's finished ones (or is overwritten
// by them: the two orders catch writes on either side).
static int run_kernel(const nj_conv2d_qs8_kernel *kernel, nj_conv2d_qs8_args args,
                      const int8_t *weights, const qs8_numbers *n, int threaded, int columns) {
    nj_conv2d_qs8_params params;
    args.weight_stride = args.out_channels / args.groups;
    void *packed = packed_alloc(nj_qs8_conv2d_packed_bytes(kernel, &args));
    const int status = nj_qs8_conv2d_prepare(kernel, &args, weights, n->weight_scales, n->bias,
                                             n->input, n->output, args.residual ? &n->residual : NULL,
                                             n->lrelu ? NJ_ACTIVATION_LEAKY_RELU : NJ_ACTIVATION_NONE,
                                             n->slope, packed, &params);
    if (status != NJ_QS8_OK) {
        printf("FAIL: prepare for %s refused: %s\n", kernel->name, nj_qs8_status_message(status));
        failed++;
        return 0;
    }
    args.weights = packed;
    args.params = &params;
    if (threaded) {
        nj_threadpool_conv2d_qs8(pool, kernel, &args);
        return 1;
    }
    const int32_t cb = kernel->column_block;
    if (columns && cb > 0 && args.groups == 1 && args.width > cb) {
        const int32_t pieces = (args.width + cb - 1) / cb;
        for (int32_t i = 0; i < pieces; i++) {
            const int32_t b = columns == 2 ? pieces - 1 - i : i;
            nj_conv2d_qs8_args part = args;
            part.column_begin = b * cb;
            part.column_end = b + 1 < pieces ? (b + 1) * cb : args.width;
            kernel->run(&part);
        }
        return 1;
    }
    kernel->run(&args);
    return 1;
}

// The exactly rounded real result at one output position (double arithmetic throughout).
static double real_output(const nj_conv2d_qs8_args *a, const int8_t *weights, const qs8_numbers *n,
                          int32_t oc, int32_t y, int32_t x) {
    const int32_t k = a->kernel_size, pad = (k - 1) / 2;
    const int32_t ipg = a->in_channels / a->groups, opg = a->out_channels / a->groups;
    const int32_t group = oc / opg;
    double sum = n->bias ? n->bias[oc] : 0.0;
    for (int32_t icg = 0; icg < ipg; icg++) {
        const int8_t *plane = a->input + (size_t)(group * ipg + icg) * a->input_channel_stride;
        for (int32_t ky = 0; ky < k; ky++) {
            const int32_t iy = y + ky - pad;
            if (iy < 0 || iy >= a->height) continue;
            for (int32_t kx = 0; kx < k; kx++) {
                const int32_t ix = x + kx - pad;
                if (ix < 0 || ix >= a->width) continue;
                const double xr = (double)n->input.scale *
                                  (plane[(size_t)(iy % a->input_rows) * a->width + ix] - n->input.zero_point);
                const double wr = (double)n->weight_scales[oc] *
                                  weights[(((size_t)oc * ipg + icg) * k + ky) * k + kx];
                sum += xr * wr;
            }
        }
    }
    if (n->lrelu && sum < 0) sum *= n->slope;
    if (a->residual) {
        const int8_t r = a->residual[(size_t)oc * a->residual_channel_stride +
                                     (size_t)(y % a->residual_rows) * a->width + x];
        sum += (double)n->residual.scale * (r - n->residual.zero_point);
    }
    return sum / n->output.scale + n->output.zero_point;
}

static int8_t saturate_round_even(double v) {
    const double r = nearbyint(v);
    return (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
}

// Draws the numbers of a case. `extreme`: zero points at the ends of the range, the largest
// and smallest representable multipliers, residual ratios far from 1, outputs that saturate.
static void draw_numbers(qs8_numbers *n, const qs8_shape *s, int extreme, int with_bias, int with_residual) {
    const int32_t taps = s->in_channels / s->groups * s->k * s->k;
    n->input.scale = (float)(0.002 + 0.05 * rnd_unit());
    n->input.zero_point = extreme ? (rnd32() & 1 ? -128 : 127) : rnd_between(-20, 20);
    n->output.scale = (float)(0.01 + 0.1 * rnd_unit());
    n->output.zero_point = extreme ? (rnd32() & 1 ? -128 : 127) : rnd_between(-30, 30);
    n->residual.zero_point = extreme ? (rnd32() & 1 ? -128 : 127) : rnd_between(-30, 30);
    double res_ratio = 0.25 + 4.0 * rnd_unit();
    if (extreme) res_ratio = rnd32() & 1 ? ldexp(1.0 + rnd_unit(), 19) : ldexp(1.0 + rnd_unit(), -12);
    n->residual.scale = (float)(n->output.scale * res_ratio);
    // Typical ratio: outputs span about as much as a sum of `taps` products does.
    const double typical = 4.0 / (127.0 * sqrt((double)taps) + 1.0);
    for (int32_t oc = 0; oc < s->out_channels; oc++) {
        double ratio = typical * ldexp(1.0, rnd_between(-3, 2)) * (0.5 + rnd_unit());
        if (extreme) {
            switch (rnd32() % 4) {
                case 0: ratio = 0.4999 - 0.01 * rnd_unit(); break;   // the largest allowed
                case 1: ratio = ldexp(1.0 + rnd_unit(), -40); break;  // below 2^-32: shift 62
                case 2: ratio = ldexp(1.0 + rnd_unit(), -31); break;
                default: break;
            }
        }
        if (ratio >= 0.4999) ratio = 0.4999;
        n->weight_scales[oc] = (float)(ratio * n->output.scale / n->input.scale);
        // Keep the float's rounding from pushing the ratio to 1/2.
        while ((double)n->input.scale * n->weight_scales[oc] / n->output.scale >= 0.5) {
            n->weight_scales[oc] = nextafterf(n->weight_scales[oc], 0.0f);
        }
        if (n->bias) {
            // Up to about 2^20 accumulator units (2^28 when extreme).
            const double units = (rnd_unit() * 2.0 - 1.0) * ldexp(1.0, extreme ? 28 : rnd_between(0, 20));
            n->bias[oc] = (float)(units * n->input.scale * n->weight_scales[oc]);
        }
    }
    (void)with_bias;
    (void)with_residual;
    n->lrelu = rnd32() % 3 != 0;
    n->slope = rnd32() % 4 == 0 ? (float)rnd_unit() : 0.2f;
    if (rnd32() % 16 == 0) n->slope = rnd32() & 1 ? 0.0f : 1.0f;
}

// Set while the bound cases run: every input and weight of a case one extreme value (the signs
// drawn per case), so that |S| reaches in · k² · 2^14, the largest sum an exact Winograd kernel
// must recover from its multiple modulo 2^32. Random values stay far below that.
static int correlated_extremes;

// Set while the pool's split cases run: every kernel through the pool, on all of the case's rows.
static int whole_band_through_pool;

static const nj_isa *case_caps;
static int case_cap_count;

// The kernels a case runs: every registered kernel of the geometry this CPU can run (the
// active features decide: NIGHTJAR_DISABLE_FEATURES takes paths away) and what selection
// picks per cap; the reference is run separately.
static int kernels_under_test(const nj_conv2d_qs8_args *g, const nj_conv2d_qs8_kernel **out, int threaded) {
    int count = 0;
    // Through the pool, the reference too (its OIHW weights narrow differently).
    if (threaded) out[count++] = nj_conv2d_qs8_kernel_reference();
    const nj_conv2d_qs8_kernel *candidates[64];
    int nc = 0;
    for (int ci = 0; ci < case_cap_count; ci++) candidates[nc++] = nj_conv2d_qs8_kernel_select(g, (int)case_caps[ci]);
    candidates[nc++] = nj_conv2d_qs8_kernel_select(g, -1);
    const int32_t ipg = g->in_channels / g->groups;
    for (int32_t i = 0; i < nj_conv2d_qs8_kernel_count() && nc < 64; i++) {
        const nj_conv2d_qs8_kernel *k = nj_conv2d_qs8_kernel_at(i);
        if (k->kernel_size == g->kernel_size && nj_conv2d_qs8_kernel_usable(k) &&
            (k->max_group_inputs == 0 || ipg <= k->max_group_inputs) && (!k->supports || k->supports(g))) {
            candidates[nc++] = k;
        }
    }
    for (int i = 0; i < nc && count < 16; i++) {
        int dup = candidates[i] == nj_conv2d_qs8_kernel_reference() && !threaded;
        for (int j = 0; j < count; j++) dup |= out[j] == candidates[i];
        if (!dup) out[count++] = candidates[i];
    }
    return count;
}

// One convolution: the reference against real arithmetic, each kernel against the reference.
// depth_to_space > 1 folds the pixel shuffle into the stores.
static void run_case(qs8_shape s, int32_t width, int32_t height, int32_t depth_to_space, int check_real) {
    const int32_t pad = (s.k - 1) / 2;
    const int32_t ipg = s.in_channels / s.groups;
    const uint32_t options = rnd32();
    const int with_bias = (options & 3) != 0;
    const int with_residual = (options >> 2) & 1;
    const int guard_before = (options >> 3) & 1;
    const int full_range = ((options >> 4) & 3) == 0;
    const int threaded = whole_band_through_pool || ((options >> 6) & 3) == 0;
    const int extreme = ((options >> 8) & 7) == 0;
    const int saturating_inputs = ((options >> 11) & 7) == 0;
    const int columns = (int)((options >> 14) % 3);  // run_kernel's
    const int32_t r = depth_to_space > 1 ? depth_to_space : 1;

    int32_t row_begin = 0, row_end = height;
    if (!full_range && !whole_band_through_pool) {
        row_begin = rnd_int_below(height);
        row_end = row_begin + 1 + rnd_int_below(height - row_begin);
    }
    // Rings with 0-2 spare rows and channel gaps, as in test_conv.c.
    const int32_t in_lo = max_i(0, row_begin - pad), in_hi = min_i(height, row_end + pad);
    const int32_t in_rows = in_hi - in_lo + rnd_int_below(3);
    const size_t in_plane = (size_t)in_rows * width;
    const size_t in_stride = in_plane + (size_t)(rnd32() % 3 == 0 ? rnd_int_below(40) : 0);
    const size_t in_count = in_stride * (s.in_channels - 1) + in_plane;
    // The output: out_channels / r² planes of an image r times larger (r = 1: plain).
    const int32_t out_channels_stored = s.out_channels / (r * r);
    const int32_t out_rows = (row_end - row_begin) * r + rnd_int_below(3);
    const size_t out_plane = (size_t)out_rows * width * r;
    const size_t out_stride = out_plane + (size_t)(rnd32() % 3 == 0 ? rnd_int_below(40) : 0);
    const size_t out_count = out_stride * (out_channels_stored - 1) + out_plane;
    const int32_t res_rows = row_end - row_begin + rnd_int_below(3);
    const size_t res_plane = (size_t)res_rows * width;
    const size_t res_stride = res_plane + (size_t)(rnd32() % 2 == 0 ? rnd_int_below(40) : 0);
    const size_t res_count = res_stride * (s.out_channels - 1) + res_plane;
    const size_t w_count = (size_t)s.out_channels * ipg * s.k * s.k;

    int8_t *input = guarded_alloc(in_count, guard_before);
    int8_t *weights = guarded_alloc(w_count, !guard_before);
    int8_t *residual = with_residual ? guarded_alloc(res_count, guard_before) : NULL;
    int8_t *expected = guarded_alloc(out_count, !guard_before);
    int8_t *got = guarded_alloc(out_count, guard_before);
    qs8_numbers n;
    n.weight_scales = guarded_alloc((size_t)s.out_channels * sizeof(float), guard_before);
    n.bias = with_bias ? guarded_alloc((size_t)s.out_channels * sizeof(float), !guard_before) : NULL;
    draw_numbers(&n, &s, extreme, with_bias, with_residual);

    // Rows a kernel must not use hold random bytes too: reading one changes the result.
    const int8_t one_input = rnd32() & 1 ? 127 : -128, one_weight = rnd32() & 1 ? 127 : -128;
    for (size_t i = 0; i < in_count; i++) {
        input[i] = correlated_extremes ? one_input : saturating_inputs ? (rnd32() & 1 ? 127 : -128) : rnd_s8();
    }
    for (size_t i = 0; i < w_count; i++) {
        weights[i] = correlated_extremes ? one_weight : saturating_inputs ? (rnd32() & 1 ? 127 : -128) : rnd_s8();
    }
    if (residual) for (size_t i = 0; i < res_count; i++) residual[i] = rnd_s8();
    const int8_t sentinel = (int8_t)0xa5;
    memset(expected, sentinel, out_count);

    nj_conv2d_qs8_args args;
    memset(&args, 0, sizeof args);
    args.input = input;
    args.input_channel_stride = in_stride;
    args.input_rows = in_rows;
    args.output = expected;
    args.output_channel_stride = out_stride;
    args.output_rows = out_rows;
    args.residual = residual;
    args.residual_channel_stride = res_stride;
    args.residual_rows = res_rows;
    args.in_channels = s.in_channels;
    args.out_channels = s.out_channels;
    args.groups = s.groups;
    args.kernel_size = s.k;
    args.height = height;
    args.width = width;
    args.row_begin = row_begin;
    args.row_end = row_end;
    args.output_depth_to_space = depth_to_space;

    if (!run_kernel(nj_conv2d_qs8_kernel_reference(), args, weights, &n, 0, 0)) {
        guarded_free_all();
        return;
    }

    // 1. The reference against real arithmetic.
    if (check_real) {
        long bad = 0;
        for (int32_t oc = 0; oc < s.out_channels; oc++) {
            for (int32_t y = row_begin; y < row_end; y++) {
                for (int32_t x = 0; x < width; x++) {
                    const double v = real_output(&args, weights, &n, oc, y, x);
                    const int8_t want = saturate_round_even(v);
                    const int32_t c = oc / (r * r), yy = y * r + (oc / r) % r, xx = x * r + oc % r;
                    const int8_t have = expected[(size_t)c * out_stride + (size_t)(yy % out_rows) * width * r + xx];
                    const int diff = abs(have - want);
                    compared_real++;
                    off_by_one += diff == 1;
                    // Away from saturation, the error itself: one rounding (two with a
                    // residual) plus the bias's (half an accumulator unit at this ratio) and
                    // the multipliers' (31 bits). Catches a wrong rounding that stays within 1.
                    const double ratio = (double)n.input.scale * n.weight_scales[oc] / n.output.scale;
                    const double bound = (residual ? 1.0 : 0.5) + 0.5 * ratio + 1e-4;
                    const int tight = v > -127.0 && v < 126.0;
                    if ((diff > 1 || (tight && fabs(have - v) > bound)) && bad++ < 3) {
                        printf("FAIL: reference %dx%d %d->%d/%d %dx%d oc %d y %d x %d: %d, exact %.4f%s%s\n",
                               s.k, s.k, s.in_channels, s.out_channels, s.groups, width, height, oc, y, x,
                               have, v, residual ? " residual" : "", extreme ? " extreme" : "");
                    }
                }
            }
        }
        if (bad) failed++; else passed++;
    }

    // 2. Every kernel against the reference, bit for bit (the untouched bytes included).
    const nj_conv2d_qs8_kernel *kernels[16];
    const int count = kernels_under_test(&args, kernels, threaded);
    for (int ki = 0; ki < count; ki++) {
        memset(got, sentinel, out_count);
        nj_conv2d_qs8_args kargs = args;
        kargs.output = got;
        if (!run_kernel(kernels[ki], kargs, weights, &n, threaded, columns)) continue;
        const size_t first = first_difference(got, expected, out_count);
        if (first == out_count) {
            passed++;
        } else {
            failed++;
            printf("FAIL: %s %dx%d %d->%d/%d %dx%d rows %d..%d r %d%s%s%s: byte %zu is %d, reference %d\n",
                   kernels[ki]->name, s.k, s.k, s.in_channels, s.out_channels, s.groups, width, height,
                   row_begin, row_end, depth_to_space, residual ? " residual" : "", n.lrelu ? " lrelu" : "",
                   extreme ? " extreme" : "", first, got[first], expected[first]);
        }
        if (verbose) printf("  %s\n", kernels[ki]->name);
    }
    guarded_free_all();
}

// ---- Prepare's refusals --------------------------------------------------------------------

static void test_refusals(void) {
    nj_conv2d_qs8_args g;
    memset(&g, 0, sizeof g);
    g.in_channels = 4;
    g.out_channels = 2;
    g.groups = 1;
    g.kernel_size = 3;
    g.weight_stride = 2;
    const nj_conv2d_qs8_kernel *ref = nj_conv2d_qs8_kernel_reference();
    static int8_t w[2 * 4 * 9];
    for (size_t i = 0; i < sizeof w; i++) w[i] = (int8_t)(i * 7);
    static unsigned char packed[4096] __attribute__((aligned(64)));
    nj_conv2d_qs8_params p;
    const nj_qs8_quantization in = {0.01f, 0}, out = {0.1f, 0};
    float ws[2] = {0.5f, 0.5f};
    float bias[2] = {0.0f, 0.0f};
    CHECK(nj_qs8_conv2d_prepare(ref, &g, w, ws, bias, in, out, NULL, 0, 0, packed, &p) == NJ_QS8_OK,
          "prepare accepts a plain layer");
    ws[1] = 5.1f;  // ratio 0.51
    CHECK(nj_qs8_conv2d_prepare(ref, &g, w, ws, bias, in, out, NULL, 0, 0, packed, &p) == NJ_QS8_MULTIPLIER_TOO_LARGE,
          "prepare refuses a ratio above 1/2");
    ws[1] = 0.0f;
    CHECK(nj_qs8_conv2d_prepare(ref, &g, w, ws, bias, in, out, NULL, 0, 0, packed, &p) == NJ_QS8_BAD_SCALE,
          "prepare refuses a zero weight scale");
    ws[1] = 0.5f;
    const nj_qs8_quantization bad_zp = {0.01f, 128};
    CHECK(nj_qs8_conv2d_prepare(ref, &g, w, ws, bias, bad_zp, out, NULL, 0, 0, packed, &p) == NJ_QS8_BAD_ZERO_POINT,
          "prepare refuses zero point 128");
    const nj_qs8_quantization res_fine = {1e6f, 0};
    CHECK(nj_qs8_conv2d_prepare(ref, &g, w, ws, bias, in, out, &res_fine, 0, 0, packed, &p) == NJ_QS8_MULTIPLIER_TOO_LARGE,
          "prepare refuses a residual ratio of 10^7");
    bias[0] = 1e7f;  // 2e9 accumulator units
    CHECK(nj_qs8_conv2d_prepare(ref, &g, w, ws, bias, in, out, NULL, 0, 0, packed, &p) == NJ_QS8_BIAS_OUT_OF_RANGE,
          "prepare refuses a bias beyond 2^29 units");
    bias[0] = 0.0f;
    CHECK(nj_qs8_conv2d_prepare(ref, &g, w, ws, bias, in, out, NULL, NJ_ACTIVATION_LEAKY_RELU, 1.5f, packed, &p) ==
              NJ_QS8_BAD_ACTIVATION,
          "prepare refuses a slope of 1.5");
    nj_conv2d_qs8_args big = g;
    big.in_channels = 2048;  // 2048 * 9 inputs per output
    CHECK(nj_qs8_conv2d_prepare(ref, &big, w, ws, bias, in, out, NULL, 0, 0, packed, &p) == NJ_QS8_BAD_GEOMETRY &&
              nj_qs8_conv2d_packed_bytes(ref, &big) == 0,
          "prepare refuses 18432 inputs per output");
    // Every kernel with its own geometry test refuses what it does not take: a grouped layer.
    nj_conv2d_qs8_args grouped = g;
    grouped.in_channels = grouped.out_channels = 32;
    grouped.groups = 2;
    for (int32_t i = 0; i < nj_conv2d_qs8_kernel_count(); i++) {
        const nj_conv2d_qs8_kernel *k = nj_conv2d_qs8_kernel_at(i);
        if (!k->supports) continue;
        grouped.kernel_size = k->kernel_size;
        CHECK(!k->supports(&grouped) &&
                  nj_qs8_conv2d_prepare(k, &grouped, w, ws, bias, in, out, NULL, 0, 0, packed, &p) == NJ_QS8_BAD_GEOMETRY,
              "prepare with %s refuses a grouped layer", k->name);
    }
    CHECK(strstr(nj_qs8_status_message(NJ_QS8_MULTIPLIER_TOO_LARGE), "wider precision") != NULL,
          "status messages say what to do");
}

// ---- Folded inputs -------------------------------------------------------------------------

// One layer with a folded input (nightjar_kernels_qs8.h): the reference against real
// arithmetic (each output pixel's border class choosing the fold's weights and the bias), each
// fold kernel against the reference bit for bit. `fk` the fold's kernel size, `fold_in` its
// channels; s.k, s.in_channels, s.out_channels the main convolution's (ungrouped).
static void run_fold_case(qs8_shape s, int32_t fold_in, int32_t fk, int32_t width, int32_t height, int32_t r,
                          int check_real) {
    const int32_t pad = (s.k - 1) / 2, fpad = (fk - 1) / 2, classes = s.k * s.k;
    const uint32_t options = rnd32();
    const int guard_before = options & 1;
    const int full_range = ((options >> 1) & 3) == 0;
    const int threaded = whole_band_through_pool || ((options >> 3) & 3) == 0;
    int32_t row_begin = 0, row_end = height;
    if (!full_range && !whole_band_through_pool) {
        row_begin = rnd_int_below(height);
        row_end = row_begin + 1 + rnd_int_below(height - row_begin);
    }
    // Both inputs in rings with spare rows and channel gaps, each as tall as its reach needs.
    const int32_t in_rows = min_i(height, row_end + pad) - max_i(0, row_begin - pad) + rnd_int_below(3);
    const size_t in_stride = (size_t)in_rows * width + (rnd32() % 3 == 0 ? rnd_int_below(40) : 0);
    const size_t in_count = in_stride * (s.in_channels - 1) + (size_t)in_rows * width;
    const int32_t fold_rows = min_i(height, row_end + fpad) - max_i(0, row_begin - fpad) + rnd_int_below(3);
    const size_t fold_stride = (size_t)fold_rows * width + (rnd32() % 3 == 0 ? rnd_int_below(40) : 0);
    const size_t fold_count = fold_stride * (fold_in - 1) + (size_t)fold_rows * width;
    const int32_t out_rows = (row_end - row_begin) * r + rnd_int_below(3);
    const size_t out_stride = (size_t)out_rows * width * r + (rnd32() % 3 == 0 ? rnd_int_below(40) : 0);
    const size_t out_count = out_stride * (s.out_channels / (r * r) - 1) + (size_t)out_rows * width * r;
    const size_t w_count = (size_t)s.out_channels * s.in_channels * s.k * s.k;
    const size_t fw_count = (size_t)classes * s.out_channels * fold_in * fk * fk;

    int8_t *input = guarded_alloc(in_count, guard_before);
    int8_t *fold_input = guarded_alloc(fold_count, !guard_before);
    int8_t *weights = guarded_alloc(w_count, guard_before);
    int8_t *fold_weights = guarded_alloc(fw_count, !guard_before);
    int8_t *expected = guarded_alloc(out_count, guard_before);
    int8_t *got = guarded_alloc(out_count, !guard_before);
    float *scales = guarded_alloc((size_t)s.out_channels * sizeof(float), guard_before);
    float *fold_scales = guarded_alloc((size_t)s.out_channels * sizeof(float), !guard_before);
    float *bias = guarded_alloc((size_t)classes * s.out_channels * sizeof(float), guard_before);
    for (size_t i = 0; i < in_count; i++) input[i] = rnd_s8();
    for (size_t i = 0; i < fold_count; i++) fold_input[i] = rnd_s8();
    for (size_t i = 0; i < w_count; i++) weights[i] = rnd_s8();
    for (size_t i = 0; i < fw_count; i++) fold_weights[i] = rnd_s8();

    qs8_numbers n;
    memset(&n, 0, sizeof n);
    n.input.scale = (float)(0.002 + 0.05 * rnd_unit());
    n.input.zero_point = rnd_between(-128, 127);
    n.output.scale = (float)(0.01 + 0.1 * rnd_unit());
    n.output.zero_point = rnd_between(-30, 30);
    n.lrelu = rnd32() % 3 != 0;
    n.slope = 0.2f;
    nj_qs8_fold fold;
    fold.weights = fold_weights;
    fold.weight_scales = fold_scales;
    fold.input.scale = (float)(0.002 + 0.05 * rnd_unit());
    fold.input.zero_point = rnd_between(-128, 127);
    const int32_t taps = s.in_channels * s.k * s.k, fold_taps = fold_in * fk * fk;
    const double typical = 4.0 / (127.0 * sqrt((double)(taps + fold_taps)) + 1.0);
    for (int32_t oc = 0; oc < s.out_channels; oc++) {
        // The fine scale 2^-k of the main one, k as large as int32 partial sums allow.
        int32_t k = rnd_between(0, 7);
        while (k > 0 && ((int64_t)taps * 128 * 255 + (1 << 20)) * ((int64_t)1 << k) + (int64_t)fold_taps * 128 * 255 >=
                            2147483648LL) {
            k--;
        }
        const double fine_ratio = typical * (0.5 + rnd_unit()) / ldexp(1.0, k / 2);  // fine scale / output's
        fold_scales[oc] = (float)(fine_ratio * n.output.scale / fold.input.scale);
        scales[oc] = (float)((double)fold.input.scale * fold_scales[oc] * ldexp(1.0, k) / n.input.scale);
        for (int32_t c = 0; c < classes; c++) {
            const double units = (rnd_unit() * 2.0 - 1.0) * ldexp(1.0, rnd_between(0, 20));
            bias[(size_t)c * s.out_channels + oc] = (float)(units * n.input.scale * scales[oc]);
        }
    }
    n.weight_scales = scales;
    n.bias = bias;

    nj_conv2d_qs8_args args;
    memset(&args, 0, sizeof args);
    args.input = input;
    args.input_channel_stride = in_stride;
    args.input_rows = in_rows;
    args.output = expected;
    args.output_channel_stride = out_stride;
    args.output_rows = out_rows;
    args.in_channels = s.in_channels;
    args.out_channels = s.out_channels;
    args.groups = 1;
    args.kernel_size = s.k;
    args.height = height;
    args.width = width;
    args.row_begin = row_begin;
    args.row_end = row_end;
    args.output_depth_to_space = r;
    args.weight_stride = s.out_channels;
    args.fold_input = fold_input;
    args.fold_input_channel_stride = fold_stride;
    args.fold_input_rows = fold_rows;
    args.fold_in_channels = fold_in;
    args.fold_kernel_size = fk;

    const int8_t sentinel = (int8_t)0xa5;
    const nj_conv2d_qs8_kernel *kernels[16];
    int count = 0;
    kernels[count++] = nj_conv2d_qs8_kernel_reference();
    if (threaded) kernels[count++] = nj_conv2d_qs8_kernel_reference();
    for (int32_t i = 0; i < nj_conv2d_qs8_kernel_count() && count < 16; i++) {
        const nj_conv2d_qs8_kernel *k = nj_conv2d_qs8_kernel_at(i);
        if (k->kernel_size == s.k && k->fold_kernel_size == fk && nj_conv2d_qs8_kernel_usable(k) &&
            (k->max_group_inputs == 0 || s.in_channels <= k->max_group_inputs) && (!k->supports || k->supports(&args))) {
            kernels[count++] = k;
        }
    }
    for (int ki = 0; ki < count; ki++) {
        nj_conv2d_qs8_args kargs = args;
        kargs.output = ki == 0 ? expected : got;
        memset(kargs.output, sentinel, out_count);
        nj_conv2d_qs8_params params;
        void *packed = packed_alloc(nj_qs8_conv2d_packed_bytes(kernels[ki], &kargs));
        const int status = nj_qs8_conv2d_prepare_folded(kernels[ki], &kargs, weights, scales, bias, n.input, &fold,
                                                        n.output, n.lrelu ? NJ_ACTIVATION_LEAKY_RELU : NJ_ACTIVATION_NONE,
                                                        n.slope, packed, &params);
        if (status != NJ_QS8_OK) {
            printf("FAIL: folded prepare for %s refused: %s\n", kernels[ki]->name, nj_qs8_status_message(status));
            failed++;
            break;
        }
        kargs.weights = packed;
        kargs.params = &params;
        if (ki > 0 && (threaded || whole_band_through_pool) && kernels[ki] != kernels[ki - 1]) {
            nj_threadpool_conv2d_qs8(pool, kernels[ki], &kargs);
        } else if (ki == 1 && threaded) {
            nj_threadpool_conv2d_qs8(pool, kernels[ki], &kargs);  // the reference through the pool
        } else {
            kernels[ki]->run(&kargs);
        }
        if (ki == 0) {
            if (!check_real) continue;
            // The reference against real arithmetic.
            long bad = 0;
            for (int32_t oc = 0; oc < s.out_channels; oc++) {
                for (int32_t y = row_begin; y < row_end; y++) {
                    for (int32_t x = 0; x < width; x++) {
                        const int32_t c = nj_qs8_border_class(y, height, pad) * s.k + nj_qs8_border_class(x, width, pad);
                        double sum = bias[(size_t)c * s.out_channels + oc];
                        for (int part = 0; part < 2; part++) {
                            const int32_t kk = part ? fk : s.k, pp = part ? fpad : pad;
                            const int32_t channels = part ? fold_in : s.in_channels;
                            for (int32_t ic = 0; ic < channels; ic++) {
                                for (int32_t ky = 0; ky < kk; ky++) {
                                    const int32_t iy = y + ky - pp;
                                    if (iy < 0 || iy >= height) continue;
                                    for (int32_t kx = 0; kx < kk; kx++) {
                                        const int32_t ix = x + kx - pp;
                                        if (ix < 0 || ix >= width) continue;
                                        double xr, wr;
                                        if (part) {
                                            xr = (double)fold.input.scale *
                                                 (fold_input[ic * fold_stride + (size_t)(iy % fold_rows) * width + ix] -
                                                  fold.input.zero_point);
                                            wr = (double)fold_scales[oc] *
                                                 fold_weights[((((size_t)c * s.out_channels + oc) * fold_in + ic) * fk + ky) * fk + kx];
                                        } else {
                                            xr = (double)n.input.scale *
                                                 (input[ic * in_stride + (size_t)(iy % in_rows) * width + ix] - n.input.zero_point);
                                            wr = (double)scales[oc] * weights[(((size_t)oc * s.in_channels + ic) * s.k + ky) * s.k + kx];
                                        }
                                        sum += xr * wr;
                                    }
                                }
                            }
                        }
                        if (n.lrelu && sum < 0) sum *= n.slope;
                        const double v = sum / n.output.scale + n.output.zero_point;
                        const int32_t cc = oc / (r * r), yy = y * r + (oc / r) % r, xx = x * r + oc % r;
                        const int8_t have = expected[(size_t)cc * out_stride + (size_t)(yy % out_rows) * width * r + xx];
                        // One rounding, plus the bias's at the main scale and the multipliers'.
                        const double bound = 0.5 + 0.5 * (double)n.input.scale * scales[oc] / n.output.scale + 1e-4;
                        compared_real++;
                        off_by_one += abs(have - saturate_round_even(v)) == 1;
                        const int tight = v > -127.0 && v < 126.0;
                        if ((abs(have - saturate_round_even(v)) > 1 || (tight && fabs(have - v) > bound)) && bad++ < 3) {
                            printf("FAIL: folded reference %dx%d+%dx%d %d+%d->%d %dx%d oc %d y %d x %d: %d, exact %.4f\n", s.k,
                                   s.k, fk, fk, s.in_channels, fold_in, s.out_channels, width, height, oc, y, x, have, v);
                        }
                    }
                }
            }
            if (bad) failed++; else passed++;
            continue;
        }
        const size_t first = first_difference(got, expected, out_count);
        if (first == out_count) {
            passed++;
        } else {
            failed++;
            printf("FAIL: %s %dx%d+%dx%d %d+%d->%d %dx%d rows %d..%d r %d%s%s: byte %zu is %d, reference %d\n",
                   kernels[ki]->name, s.k, s.k, fk, fk, s.in_channels, fold_in, s.out_channels, width, height, row_begin,
                   row_end, r, threaded ? " pool" : "", n.lrelu ? " lrelu" : "", first, got[first], expected[first]);
        }
        if (verbose) printf("  %s\n", kernels[ki]->name);
    }
    guarded_free_all();
}

// Folded-layer refusals: a ratio of scales that is not a power of two, or beyond 2^7; a
// grouped layer; a plain prepare of a folded geometry.
static void test_fold_refusals(void) {
    nj_conv2d_qs8_args g;
    memset(&g, 0, sizeof g);
    g.in_channels = 2;
    g.out_channels = 2;
    g.groups = 1;
    g.kernel_size = 3;
    g.weight_stride = 2;
    g.fold_in_channels = 1;
    g.fold_kernel_size = 5;
    const nj_conv2d_qs8_kernel *ref = nj_conv2d_qs8_kernel_reference();
    static int8_t w[2 * 2 * 9], fw[9 * 2 * 25];
    for (size_t i = 0; i < sizeof w; i++) w[i] = (int8_t)(i * 7);
    for (size_t i = 0; i < sizeof fw; i++) fw[i] = (int8_t)(i * 5);
    static unsigned char packed[16384] __attribute__((aligned(64)));
    CHECK(nj_qs8_conv2d_packed_bytes(ref, &g) <= sizeof packed, "the folded test layer fits its block");
    nj_conv2d_qs8_params p;
    const nj_qs8_quantization in = {0.01f, 0}, out = {0.1f, 0};
    float ws[2] = {0.04f, 0.04f}, fws[2] = {0.005f, 0.005f}, bias[18] = {0};
    nj_qs8_fold fold = {fw, fws, {0.02f, 3}};  // main scale 4e-4 = 2^2 x the fold's 1e-4
    CHECK(nj_qs8_conv2d_prepare_folded(ref, &g, w, ws, bias, in, &fold, out, 0, 0, packed, &p) == NJ_QS8_OK &&
              p.fold_shift[0] == 2 && p.fold_shift[1] == 2,
          "folded prepare accepts a ratio of 2^2");
    fws[1] = 0.006f;
    CHECK(nj_qs8_conv2d_prepare_folded(ref, &g, w, ws, bias, in, &fold, out, 0, 0, packed, &p) == NJ_QS8_BAD_SCALE,
          "folded prepare refuses a ratio that is no power of two");
    fws[1] = 0.005f / 256.0f;
    CHECK(nj_qs8_conv2d_prepare_folded(ref, &g, w, ws, bias, in, &fold, out, 0, 0, packed, &p) == NJ_QS8_BAD_SCALE,
          "folded prepare refuses a ratio of 2^10");
    fws[1] = 0.005f;
    CHECK(nj_qs8_conv2d_prepare(ref, &g, w, ws, bias, in, out, NULL, 0, 0, packed, &p) == NJ_QS8_BAD_GEOMETRY,
          "plain prepare refuses a folded geometry");
    nj_conv2d_qs8_args grouped = g;
    grouped.in_channels = grouped.out_channels = grouped.groups = 2;
    CHECK(nj_qs8_conv2d_prepare_folded(ref, &grouped, w, ws, bias, in, &fold, out, 0, 0, packed, &p) == NJ_QS8_BAD_GEOMETRY,
          "folded prepare refuses a grouped layer");
    nj_conv2d_qs8_args small = g;
    small.fold_kernel_size = 3;
    CHECK(nj_qs8_conv2d_prepare_folded(ref, &small, w, ws, bias, in, &fold, out, 0, 0, packed, &p) == NJ_QS8_BAD_GEOMETRY,
          "folded prepare refuses a fold no larger than the kernel");
    // Selection: a folded geometry gets a fold kernel of its sizes or the reference, never a
    // plain 5x5 one, and a plain geometry never a fold kernel.
    nj_conv2d_qs8_args net = g;
    net.kernel_size = 5;
    net.in_channels = 12;
    net.out_channels = 12;
    net.fold_in_channels = 4;
    net.fold_kernel_size = 9;
    const nj_conv2d_qs8_kernel *chosen = nj_conv2d_qs8_kernel_select(&net, -1);
    CHECK(chosen->fold_kernel_size == 9 || chosen == ref, "a folded 5x5 + 9x9 selects %s", chosen->name);
    printf("qs8: 5x5 12->12 with a folded 9x9 4->12 selects %s\n", chosen->name);
    net.fold_kernel_size = 0;
    net.fold_in_channels = 0;
    CHECK(nj_conv2d_qs8_kernel_select(&net, -1)->fold_kernel_size == 0, "a plain 5x5 selects no fold kernel");
}

int main(int argc, char **argv) {
    test_rng = 0x2545f4914f6cdd1dull;  // the cases this test has always drawn
    // --quick (emulated runs): the kernels against the reference on fewer heights and widths,
    // without the double-precision check (architecture-independent: the host run does it).
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        verbose |= strcmp(argv[i], "-v") == 0;
        quick |= strcmp(argv[i], "--quick") == 0;
    }
    pool = nj_threadpool_create(3);

    static const nj_isa levels[] = {NJ_ISA_SCALAR, NJ_ISA_SSE41, NJ_ISA_AVX2, NJ_ISA_AVX512, NJ_ISA_NEON};
    nj_isa caps[8];
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (nj_isa_supported(levels[i])) caps[case_cap_count++] = levels[i];
    }
    case_caps = caps;
    printf("qs8: active ISA %s; kernels this CPU runs:", nj_isa_name(nj_isa_active()));
    for (int32_t i = 0; i < nj_conv2d_qs8_kernel_count(); i++) {
        if (nj_conv2d_qs8_kernel_usable(nj_conv2d_qs8_kernel_at(i))) printf(" %s", nj_conv2d_qs8_kernel_at(i)->name);
    }
    printf("\n");

    // NIGHTJAR_DISABLE_FEATURES takes kernels away: none that needs a disabled feature may be
    // usable, selected or run.
    const char *off = getenv("NIGHTJAR_DISABLE_FEATURES");
    static const char *const gated[] = {"avx512vnni", "avxvnni", "neondot"};
    static const char *const feature[] = {"avx512vnni", "avxvnni", "dotprod"};
    for (int32_t i = 0; off && i < nj_conv2d_qs8_kernel_count(); i++) {
        const nj_conv2d_qs8_kernel *k = nj_conv2d_qs8_kernel_at(i);
        for (int f = 0; f < 3; f++) {
            char label[32];
            snprintf(label, sizeof label, "-%s-", gated[f]);
            if (strstr(k->name, label) && strstr(off, feature[f])) {
                CHECK(!nj_conv2d_qs8_kernel_usable(k), "%s usable with %s disabled", k->name, feature[f]);
            }
        }
    }
    for (int32_t k = 1; k <= 7; k += 2) {
        nj_conv2d_qs8_args g;
        memset(&g, 0, sizeof g);
        g.kernel_size = k;
        g.in_channels = g.out_channels = g.groups = 1;
        const nj_conv2d_qs8_kernel *chosen = nj_conv2d_qs8_kernel_select(&g, -1);
        CHECK(nj_conv2d_qs8_kernel_usable(chosen) && (chosen->kernel_size == k || chosen->kernel_size == 0),
              "selection for %dx%d: %s", k, k, chosen->name);
        printf("qs8: %dx%d selects %s\n", k, k, chosen->name);
    }
    // A row range in the geometry is the rows a call gets: selection passes over kernels whose
    // tiles are taller (conv32x.1's 2-row calls and F(4x4)'s 4-row tiles), and otherwise
    // chooses as without it.
    {
        nj_conv2d_qs8_args g;
        memset(&g, 0, sizeof g);
        g.kernel_size = 3;
        g.in_channels = 128;
        g.out_channels = 64;
        g.groups = 1;
        const nj_conv2d_qs8_kernel *any = nj_conv2d_qs8_kernel_select(&g, -1);
        for (int32_t rows = 1; rows <= 8; rows++) {
            g.row_begin = 3;
            g.row_end = 3 + rows;
            const nj_conv2d_qs8_kernel *chosen = nj_conv2d_qs8_kernel_select(&g, -1);
            CHECK(chosen->tile_rows <= rows, "selection for %d-row calls: %s (tiles of %d rows)", rows, chosen->name,
                  chosen->tile_rows);
            CHECK(any->tile_rows > rows || chosen == any, "selection for %d-row calls: %s, without a range %s", rows,
                  chosen->name, any->name);
            if (rows == 2) printf("qs8: 3x3 128->64 selects %s, in 2-row calls %s\n", any->name, chosen->name);
        }
    }

    test_conversions();
    test_refusals();
    test_fold_refusals();

    static const qs8_shape shapes[] = {
        // The network's convolutions.
        {5, 4, 12, 1}, {5, 24, 12, 1}, {3, 64, 64, 1}, {3, 4, 64, 1}, {3, 128, 32, 4},
        {3, 32, 192, 1}, {3, 1024, 128, 128}, {3, 160, 32, 1}, {1, 192, 64, 1},
        // Odd ones: remainders of every channel block and of the channel lanes (1-7 inputs).
        {3, 3, 5, 1}, {1, 7, 13, 1}, {5, 5, 9, 1}, {3, 6, 9, 3}, {5, 2, 3, 1}, {1, 1, 1, 1},
        {3, 1, 1, 1}, {5, 1, 1, 1}, {3, 8, 15, 1}, {5, 6, 14, 2}, {1, 12, 30, 3}, {3, 13, 11, 1},
        {7, 3, 4, 1},  // no SIMD kernel: the reference
        // Winograd (ungrouped 3x3, 16+ channels each side): an odd channel count (a pair half
        // empty), a second transform chunk with a remainder, a remainder of the register block.
        {3, 17, 19, 1}, {3, 67, 16, 1},
        // F(2, 3) x F(4, 3) (64+ outputs): a half-empty pair and a second output chunk with a
        // block remainder; a second transform chunk with a remainder.
        {3, 17, 67, 1}, {3, 67, 64, 1},
        // F(2, 5) along rows (ungrouped 5x5, 16-32 inputs, 8+ outputs): the largest input count,
        // an odd one, block and chunk remainders of the outputs.
        {5, 32, 8, 1}, {5, 17, 29, 1},
        // Outputs in sixes (the AVX-512 VNNI 5x5 6x4 kernel): three blocks, and two groups of one.
        {5, 10, 18, 1}, {5, 12, 12, 2},
    };
    // Past 128: staged spans of several tiles, and their tails.
    static const int32_t widths[] = {1, 2, 3, 5, 7, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 130, 300};
    const int nw = (int)(sizeof widths / sizeof widths[0]);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const qs8_shape s = shapes[si];
        const long macs = (long)s.out_channels * (s.in_channels / s.groups) * s.k * s.k;
        for (int wi = 0; wi < nw; wi++) {
            for (int32_t h = 1; h <= 7; h++) {
                const int few = macs > 4000 || quick;
                if (few && !(h == 1 || h == 7 || h == 2 + (wi % 5))) continue;
                if (quick && macs > 4000 && h != 2 + (wi % 5)) continue;
                // The double-precision check: every case on small shapes, one in four on big ones.
                run_case(s, widths[wi], h, 1, !quick && (macs <= 4000 || rnd32() % 4 == 0));
            }
        }
    }
    // Depth-to-space outputs: the network's two (1x1 192->64 and 3x3 32->192, by 4) and odd ones.
    static const struct { qs8_shape s; int32_t r; } folds[] = {
        {{1, 192, 64, 1}, 4}, {{3, 32, 192, 1}, 4}, {{5, 24, 12, 1}, 2}, {{3, 6, 8, 2}, 2}, {{1, 3, 27, 1}, 3},
    };
    for (size_t fi = 0; fi < sizeof folds / sizeof folds[0]; fi++) {
        for (int wi = 0; wi < nw; wi += 2) {
            for (int32_t h = 1; h <= 5; h += quick ? 4 : 2) run_case(folds[fi].s, widths[wi], h, folds[fi].r, !quick);
        }
    }
    // Folded inputs: the network's (conv2x's 9x9 of 4 channels into conv_2_8_32's 5x5 over 12,
    // then its pixel shuffle by 2), outputs in sixes and not, lane remainders of the fold's
    // channels, and a smaller pair; images from the smallest a fold takes (2P) up.
    static const struct { qs8_shape s; int32_t fold_in, fk, r; } folded[] = {
        {{5, 12, 12, 1}, 4, 9, 1}, {{5, 12, 12, 1}, 4, 9, 2}, {{5, 5, 18, 1}, 3, 9, 1}, {{5, 2, 7, 1}, 6, 9, 1},
        {{3, 3, 5, 1}, 2, 5, 1},
    };
    static const int32_t fold_widths[] = {4, 5, 7, 15, 16, 17, 31, 33, 63, 64, 65, 100, 130, 300};
    const int nfw = (int)(sizeof fold_widths / sizeof fold_widths[0]);
    for (size_t fi = 0; fi < sizeof folded / sizeof folded[0]; fi++) {
        for (int wi = 0; wi < nfw; wi++) {
            for (int32_t h = 4; h <= 9; h += quick ? 5 : 1) {
                if (!quick || wi % 2 == 0) {
                    run_fold_case(folded[fi].s, folded[fi].fold_in, folded[fi].fk, fold_widths[wi], h, folded[fi].r,
                                  !quick && (wi % 3 == 0));
                }
            }
        }
    }
    // Each exact Winograd kernel at its input limit with every value at one extreme: the largest
    // sums it must recover. F(2x2): 4 S within int32 up to prepare's 16384 taps (1820 inputs);
    // F(2, 3) x F(4, 3): S modulo 2^28 up to 896 inputs; F(4x4, 3x3): S modulo 2^26 up to 227;
    // F(2, 5) and F(4, 5): 32 inputs.
    static const qs8_shape bounds[] = {{3, 1820, 16, 1}, {3, 896, 64, 1}, {3, 227, 64, 1}, {5, 32, 8, 1},
                                       {5, 32, 12, 1}};
    correlated_extremes = 1;
    for (size_t bi = 0; bi < sizeof bounds / sizeof bounds[0]; bi++) {
        for (int32_t h = quick ? 3 : 1; h <= 3; h++) run_case(bounds[bi], h == 2 ? 65 : 33, h, 1, 0);
    }
    correlated_extremes = 0;
    // The pool's split of a band one tile high (a Winograd kernel with column blocks), on 2 and 3
    // threads: column ranges, and the blocks left over from an even deal cut by output channels.
    // Widths whose blocks of 32 (F(4x4), F(2, 3) x F(4, 3)) and 16 (F(2x2)) columns leave 1 or
    // 2 over, the 12.1 MP frame's 532 and 133 among them, and one that shares evenly.
    static const qs8_shape split_shapes[] = {{3, 64, 64, 1}, {3, 32, 192, 1}, {3, 160, 32, 1}, {3, 67, 64, 1}};
    static const int32_t split_widths[] = {133, 150, 532, 100, 65, 128};
    nj_threadpool *three = pool;
    whole_band_through_pool = 1;
    for (int32_t threads = 2; threads <= 3; threads++) {
        pool = threads == 3 ? three : nj_threadpool_create(threads);
        for (size_t si = 0; si < sizeof split_shapes / sizeof split_shapes[0]; si++) {
            for (size_t wi = 0; wi < sizeof split_widths / sizeof split_widths[0]; wi++) {
                if (quick && wi % 2) continue;
                for (int32_t h = 2; h <= 4; h += 2) run_case(split_shapes[si], split_widths[wi], h, 1, 0);
            }
        }
        // A folded layer cut by rows and by channels (its class rows keep their stride).
        for (size_t wi = 0; wi < sizeof split_widths / sizeof split_widths[0]; wi += quick ? 2 : 1) {
            for (int32_t h = 4; h <= 12; h += 8) run_fold_case((qs8_shape){5, 12, 12, 1}, 4, 9, split_widths[wi], h, 2, 0);
        }
        if (pool != three) nj_threadpool_destroy(pool);
    }
    pool = three;
    whole_band_through_pool = 0;
    printf("qs8: %ld passed, %ld failed; reference within 1 of the exactly rounded result at %ld outputs "
           "(%.2f %% off by one)\n",
           passed, failed, compared_real, compared_real ? 100.0 * off_by_one / compared_real : 0.0);
    nj_threadpool_destroy(pool);
    return failed ? 1 : 0;
}
