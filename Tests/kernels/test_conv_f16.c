// Standalone test of the f16 family: the conversions (every binary16 value, and f32 values
// against an independent rounding in double), the element-size-generic pixel shuffles, and
// every f16 convolution kernel this machine can run against the scalar reference
// nj_f16_conv2d_scalar. Built and run by scripts/test-kernels.sh (host, and aarch64 under qemu
// with -cpu cortex-a53 | cortex-a72 | max, which have and lack FEAT_FP16).
//
// Without NIGHTJAR_MAX_ISA / NIGHTJAR_DISABLE_FEATURES every registered runnable kernel runs;
// with either, the process-wide selection runs and must be the first runnable kernel of the
// list whose features are active (the script forces each path that way).
//
// Buffers sit against guard pages; ring rows a kernel must not read are NaN, output rows and
// channel gaps it must not write hold a sentinel. Tolerance per element, with
// mag = |bias| + sum |w * x| + |residual| (in double, from the binary16 values):
//   |kernel - reference| <= bound * mag + 2^-10 * max(|kernel|, |reference|) + 2^-24
// where bound is 1e-5 for kernels that sum in f32 (summation order) and
// half_sum_terms * 2^-11 for kernels that sum a few products in binary16 first (each of the
// n additions of a half partial sum rounds by at most 2^-11 of the partial sum's magnitude,
// which is at most that chunk's sum of |terms|), and the second term is one binary16 rounding
// of the result (kernel and reference may round f32 sums a hair apart to neighbours).
#include <math.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "nightjar_threadpool.h"
#include "conv-cases.h"
#include "test-support.h"

static long passed, failed;
static nj_threadpool *pool;
static double max_error_of_mag[64];  // per kernel index: max |error| / mag seen
static const uint16_t NAN16 = 0x7e01, SENTINEL16 = 0x7dad;

#define FAIL(...)                                       \
    do {                                                \
        failed++;                                       \
        if (failed <= 20) printf("FAIL " __VA_ARGS__);  \
    } while (0)

// ---- Conversions ---------------------------------------------------------------------------

// The value of binary16 bits, computed independently (ldexp in double).
static double f16_value(uint16_t h) {
    const int sign = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v;
    if (e == 0x1f) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp(m, -24);
    else v = ldexp(1024 + m, e - 25);
    return sign ? -v : v;
}

static void test_conversions(void) {
    long bad = 0;
    // Every binary16 value to f32 (exact) and back.
    for (uint32_t h = 0; h < 65536; h++) {
        const uint16_t in = (uint16_t)h;
        float f;
        uint16_t back;
        nj_f16_to_f32(&in, &f, 1);
        nj_f32_to_f16(&f, &back, 1);
        const double want = f16_value(in);
        const int is_nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff);
        if (is_nan ? !isnan(f) || back != (in | 0x200) : ((double)f != want || back != in ||
                                                          (signbit(f) != 0) != (int)(h >> 15))) {
            if (!bad++) FAIL("conversion of f16 %#06x: f32 %g (want %g), back %#06x\n", h, f, want, back);
        }
    }
    // f32 to binary16 against the nearest binary16 value (ties to even) found by bisection
    // over the ordered positive bit patterns, for random and boundary values.
    for (int i = 0; i < 300000; i++) {
        float f;
        if (i < 2000) {
            // Around every binary16 exponent boundary, the subnormals and the overflow edge.
            const uint16_t h = (uint16_t)(rnd32() % 0x7c01);
            const uint32_t fb = 0;
            (void)fb;
            float base;
            nj_f16_to_f32(&h, &base, 1);
            f = nextafterf(base, (i & 1) ? INFINITY : 0.0f);
            if (i % 7 == 0) f = base + (float)ldexp(1.0, (int)(rnd32() % 40) - 30);
        } else {
            uint32_t bits = rnd32() ^ (rnd32() << 16);
            // Mostly magnitudes binary16 can hold: exponents 2^-27 .. 2^17.
            bits = (bits & 0x807fffffu) | ((uint32_t)(100 + rnd32() % 45) << 23);
            memcpy(&f, &bits, sizeof f);
        }
        uint16_t got;
        nj_f32_to_f16(&f, &got, 1);
        const double a = fabs((double)f);
        uint16_t lo = 0, hi = 0x7c00;  // largest pattern with value <= a
        while (lo < hi) {
            const uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
            if (f16_value(mid) <= a) lo = mid; else hi = (uint16_t)(mid - 1);
        }
        uint16_t want = lo;
        if (lo < 0x7c00) {
            const double below = f16_value(lo);
            // Above 65504 the next step up is infinity, at the would-be 65536.
            const double above = lo + 1 == 0x7c00 ? 65536.0 : f16_value((uint16_t)(lo + 1));
            if (a - below > above - a || (a - below == above - a && (lo & 1))) want = (uint16_t)(lo + 1);
        }
        want |= signbit(f) ? 0x8000 : 0;
        if (got != want) {
            if (!bad++) FAIL("conversion of f32 %.9g: %#06x, want %#06x\n", f, got, want);
        }
    }
    // Special values.
    const float specials[] = {INFINITY, -INFINITY, 65504.0f, 65519.99f, 65520.0f, -0.0f, 1e-8f, 2.9802322e-8f};
    const uint16_t expect[] = {0x7c00, 0xfc00, 0x7bff, 0x7bff, 0x7c00, 0x8000, 0x0000, 0x0000};
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
        uint16_t got;
        nj_f32_to_f16(&specials[i], &got, 1);
        if (got != expect[i]) {
            if (!bad++) FAIL("conversion of %g: %#06x, want %#06x\n", specials[i], got, expect[i]);
        }
    }
    if (!bad) passed++;
}

// The generic pixel (un)shuffle against the f32 one on index-valued tensors.
static void test_generic_shuffles(void) {
    const int32_t channels = 3, width = 12, r_values[] = {2, 3, 4};
    for (int ri = 0; ri < 3; ri++) {
        const int32_t r = r_values[ri], h = 2 * r, count = channels * width * h;
        float in32[3 * 12 * 8], out32[3 * 12 * 8], back32[3 * 12 * 8];
        uint16_t in16[3 * 12 * 8], out16[3 * 12 * 8], back16[3 * 12 * 8];
        uint8_t in8[3 * 12 * 8], out8[3 * 12 * 8];
        uint64_t in64[3 * 12 * 8], out64[3 * 12 * 8];
        for (int32_t i = 0; i < count; i++) {
            in32[i] = (float)i;
            in16[i] = (uint16_t)i;
            in8[i] = (uint8_t)i;
            in64[i] = (uint64_t)i << 33;
        }
        const int32_t oc = channels * r * r, ow = width / r, oh = h / r;
        const size_t in_stride = (size_t)width * h, out_stride = (size_t)ow * oh;
        nj_f32_pixel_unshuffle_scalar(in32, in_stride, h, channels, width, r, 0, oh, out32, out_stride, oh);
        nj_pixel_unshuffle_scalar(2, in16, in_stride, h, channels, width, r, 0, oh, out16, out_stride, oh);
        nj_pixel_unshuffle_scalar(1, in8, in_stride, h, channels, width, r, 0, oh, out8, out_stride, oh);
        nj_pixel_unshuffle_scalar(8, in64, in_stride, h, channels, width, r, 0, oh, out64, out_stride, oh);
        long bad = 0;
        for (int32_t i = 0; i < count; i++) {
            const uint32_t idx = (uint32_t)out32[i];
            bad += out16[i] != (uint16_t)idx || out8[i] != (uint8_t)idx || out64[i] != (uint64_t)idx << 33;
        }
        // And back: shuffle of the unshuffle is the identity.
        nj_pixel_shuffle_scalar(2, out16, out_stride, oh, oc, ow, r, 0, oh, back16, in_stride, h);
        nj_f32_pixel_shuffle_scalar(out32, out_stride, oh, oc, ow, r, 0, oh, back32, in_stride, h);
        for (int32_t i = 0; i < count; i++) bad += back16[i] != in16[i] || back32[i] != in32[i];
        if (bad) FAIL("generic pixel (un)shuffle by %d: %ld elements differ\n", r, bad);
        else passed++;
    }
}

// ---- Convolutions --------------------------------------------------------------------------

typedef struct conv_shape {
    int32_t k, in_channels, out_channels, groups;
} conv_shape;

static int32_t max_i(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t min_i(int32_t a, int32_t b) { return a < b ? a : b; }
static uint16_t rnd_f16(void) {
    const float f = rnd_signed_unit();
    uint16_t h;
    nj_f32_to_f16(&f, &h, 1);
    return h;
}

static int kernel_index(const nj_conv2d_f16_kernel *k) {
    for (int32_t i = 0; i < nj_conv2d_f16_kernel_count(); i++) {
        if (nj_conv2d_f16_kernel_at(i) == k) return i;
    }
    return 0;
}

// The kernels a case runs: every registered runnable kernel of the geometry plus the
// selection under each explicit cap (process_wide == 0), or the process-wide selection only.
static int kernels_under_test(const nj_conv2d_f16_args *g, int process_wide, const nj_conv2d_f16_kernel **out) {
    int n = 0;
    if (process_wide) {
        out[n++] = nj_conv2d_f16_kernel_select(g, -1);
        return n;
    }
    for (int32_t i = 0; i < nj_conv2d_f16_kernel_count() && n < 16; i++) {
        const nj_conv2d_f16_kernel *k = nj_conv2d_f16_kernel_at(i);
        if ((k->kernel_size == g->kernel_size || k->kernel_size == 0) && (!k->supports || k->supports(g)) &&
            nj_conv2d_f16_kernel_runnable(k)) {
            out[n++] = k;
        }
    }
    const int caps[] = {NJ_ISA_AVX512, NJ_ISA_AVX2, NJ_ISA_SSE41, NJ_ISA_NEON, NJ_ISA_SCALAR};
    for (int c = 0; c < 5; c++) {
        const nj_conv2d_f16_kernel *k = nj_conv2d_f16_kernel_select(g, caps[c]);
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= out[j] == k;
        if (!dup && n < 16) out[n++] = k;
    }
    return n;
}

static double f16d(uint16_t h) { return f16_value(h); }

static size_t winograd_bytes(conv_shape s) {
    return nj_f32_conv2d_packed_count(NJ_WEIGHTS_WINOGRAD_2X2_5X5, s.out_channels, s.in_channels, s.groups, s.k) * 4;
}

static void run_case(conv_shape s, int32_t width, int32_t height, int process_wide) {
    const int32_t pad = (s.k - 1) / 2, ipg = s.in_channels / s.groups, opg = s.out_channels / s.groups;
    const int options = (int)rnd32();
    const int with_bias = options & 1, with_residual = (options >> 1) & 1, with_lrelu = (options >> 2) & 1;
    const int guard_before = (options >> 3) & 1, full_range = ((options >> 4) & 3) == 0;
    const int threaded = ((options >> 7) & 3) == 0;
    int32_t row_begin = 0, row_end = height;
    if (!full_range) {
        row_begin = rnd_int_below(height);
        row_end = row_begin + 1 + rnd_int_below(height - row_begin);
    }
    const int32_t in_lo = max_i(0, row_begin - pad), in_hi = min_i(height, row_end + pad);
    const int32_t in_rows = in_hi - in_lo + rnd_int_below(3);
    const size_t in_plane = (size_t)in_rows * width;
    const size_t in_stride = in_plane + (size_t)(rnd32() % 3 == 0 ? rnd_int_below(40) : 0);
    const size_t in_count = in_stride * (s.in_channels - 1) + in_plane;
    const int32_t out_rows = row_end - row_begin + rnd_int_below(3);
    const size_t out_plane = (size_t)out_rows * width;
    const size_t out_stride = out_plane + (size_t)(rnd32() % 3 == 0 ? rnd_int_below(40) : 0);
    const size_t out_count = out_stride * (s.out_channels - 1) + out_plane;
    const int32_t res_rows = row_end - row_begin + rnd_int_below(3);
    const size_t res_plane = (size_t)res_rows * width;
    const size_t res_stride = res_plane + (size_t)(rnd32() % 2 == 0 ? rnd_int_below(40) : 0);
    const size_t res_count = res_stride * (s.out_channels - 1) + res_plane;
    const size_t w_count = (size_t)s.out_channels * ipg * s.k * s.k;

    uint16_t *input = guarded_bytes(in_count * 2, guard_before);
    float *weights = guarded_bytes(w_count * 4, !guard_before);
    float *bias = with_bias ? guarded_bytes((size_t)s.out_channels * 4, guard_before) : NULL;
    uint16_t *residual = with_residual ? guarded_bytes(res_count * 2, !guard_before) : NULL;
    uint16_t *expected = guarded_bytes(out_count * 2, guard_before);
    uint16_t *got = guarded_bytes(out_count * 2, !guard_before);
    uint16_t *ref_weights = guarded_bytes(w_count * 2, guard_before);
    // Room for the largest packed layout (Winograd F(2x2, 5x5)'s 36 floats per filter pair).
    void *packed = guarded_bytes(winograd_bytes(s) + w_count * 4, !guard_before);
    uint16_t *again = guarded_bytes(out_count * 2, guard_before);

    for (size_t i = 0; i < in_count; i++) {
        const size_t c_off = i % in_stride;
        const int32_t row = c_off < in_plane ? ring_row((int32_t)(c_off / width), in_rows, in_lo, in_hi) : -1;
        input[i] = row >= 0 ? rnd_f16() : NAN16;
    }
    for (size_t i = 0; i < w_count; i++) weights[i] = rnd_signed_unit();
    if (bias) for (int32_t i = 0; i < s.out_channels; i++) bias[i] = rnd_signed_unit();
    if (residual) {
        for (size_t i = 0; i < res_count; i++) {
            const size_t c_off = i % res_stride;
            const int32_t row = c_off < res_plane ? ring_row((int32_t)(c_off / width), res_rows, row_begin, row_end) : -1;
            residual[i] = row >= 0 ? rnd_f16() : NAN16;
        }
    }

    nj_conv2d_f16_args args;
    memset(&args, 0, sizeof args);
    args.input = input;
    args.input_channel_stride = in_stride;
    args.input_rows = in_rows;
    args.output_channel_stride = out_stride;
    args.output_rows = out_rows;
    args.residual = residual;
    args.residual_channel_stride = res_stride;
    args.residual_rows = res_rows;
    args.bias = bias;
    args.in_channels = s.in_channels;
    args.out_channels = s.out_channels;
    args.groups = s.groups;
    args.kernel_size = s.k;
    args.height = height;
    args.width = width;
    args.row_begin = row_begin;
    args.row_end = row_end;
    args.activation = with_lrelu ? NJ_ACTIVATION_LEAKY_RELU : NJ_ACTIVATION_NONE;
    args.negative_slope = (options >> 5) & 1 ? 0.2f : 1.0f;
    args.weight_stride = opg;

    // The reference, direct, on OIHW binary16 weights.
    const nj_conv2d_f16_kernel *reference = nj_conv2d_f16_kernel_reference();
    nj_f16_conv2d_pack_weights(reference, &args, weights, ref_weights);
    for (size_t i = 0; i < out_count; i++) expected[i] = SENTINEL16;
    nj_conv2d_f16_args ref = args;
    ref.output = expected;
    ref.weights = ref_weights;
    reference->run(&ref);

    // Each output's sum of |terms| (the bound scales with it), once for every kernel below;
    // the magnitudes of the binary16 weights the reference ran with.
    abs_terms abs = abs_terms_alloc(in_count, w_count, s.out_channels, res_count, out_count, bias != NULL, residual != NULL);
    for (size_t i = 0; i < in_count; i++) abs.input[i] = fabs(f16d(input[i]));
    for (size_t i = 0; i < w_count; i++) abs.weights[i] = fabs(f16d(ref_weights[i]));
    if (bias) for (int32_t i = 0; i < s.out_channels; i++) abs.bias[i] = fabs(bias[i]);
    if (residual) for (size_t i = 0; i < res_count; i++) abs.residual[i] = fabs(f16d(residual[i]));
    const ring_conv geometry = {s.k, s.in_channels, s.out_channels, s.groups, height, width, row_begin, row_end,
                                in_rows, out_rows, res_rows, in_stride, out_stride, res_stride};
    ring_conv_sum_abs_terms(&geometry, abs.input, abs.weights, abs.bias, abs.residual, abs.sum);
    const double *mag = abs.sum;

    const nj_conv2d_f16_kernel *kernels[16];
    const int kernel_count = kernels_under_test(&args, process_wide, kernels);
    for (int ki = 0; ki < kernel_count; ki++) {
        const nj_conv2d_f16_kernel *kernel = kernels[ki];
        for (size_t i = 0; i < out_count; i++) got[i] = SENTINEL16;
        nj_f16_conv2d_pack_weights(kernel, &args, weights, packed);
        nj_conv2d_f16_args run = args;
        run.output = got;
        run.weights = packed;
        if (threaded) {
            nj_threadpool_conv2d_f16(pool, kernel, &run);
        } else {
            kernel->run(&run);
        }
        const double bound = kernel->half_sum_terms > 0 ? kernel->half_sum_terms * ldexp(1.0, -11) : 1e-5;
        long bad = 0;
        double case_max = 0;
        char first[256] = "";
        for (int32_t oc = 0; oc < s.out_channels && bad < 1000; oc++) {
            for (int32_t r = 0; r < out_rows; r++) {
                const int32_t y = ring_row(r, out_rows, row_begin, row_end);
                for (int32_t x = 0; x < width; x++) {
                    const size_t idx = (size_t)oc * out_stride + (size_t)r * width + x;
                    if (y < 0) {
                        if (got[idx] != SENTINEL16 && !bad++) snprintf(first, sizeof first, "wrote into unused ring row %d of oc %d x %d", r, oc, x);
                        continue;
                    }
                    const double e = f16d(expected[idx]), v = f16d(got[idx]);
                    const double err = fabs(v - e);
                    const double tol = bound * mag[idx] + ldexp(1.0, -10) * fmax(fabs(v), fabs(e)) + ldexp(1.0, -24);
                    if (!(err <= tol)) {
                        if (!bad++) snprintf(first, sizeof first, "oc %d y %d x %d: got %g want %g (mag %g)", oc, y, x, v, e, mag[idx]);
                    } else if (mag[idx] > 0) {
                        // Beyond one binary16 rounding of the result: the summation's share.
                        const double excess = (err - ldexp(1.0, -10) * fmax(fabs(v), fabs(e))) / mag[idx];
                        if (excess > case_max) case_max = excess;
                    }
                }
            }
            if (oc + 1 < s.out_channels) {
                for (size_t i = (size_t)oc * out_stride + out_plane; i < (size_t)(oc + 1) * out_stride; i++) {
                    if (got[i] != SENTINEL16 && !bad++) snprintf(first, sizeof first, "wrote into channel gap after oc %d", oc);
                }
            }
        }
        // The same rows cut differently (one at a time, then two ranges split at a random row)
        // give the same bits: bands and threads cut rows wherever frames and thread counts
        // fall, and streaming is checked bit for bit against whole frames.
        if (!bad) {
            const int32_t split = row_begin + 1 + rnd_int_below(row_end - row_begin);
            for (int cut = 0; cut < 2 && !bad; cut++) {
                for (size_t i = 0; i < out_count; i++) again[i] = SENTINEL16;
                nj_conv2d_f16_args part = run;
                part.output = again;
                for (int32_t r = row_begin; r < row_end;) {
                    const int32_t end = cut == 0 ? r + 1 : (r < split ? split : row_end);
                    part.row_begin = r;
                    part.row_end = end;
                    kernel->run(&part);
                    r = end;
                }
                if (memcmp(again, got, out_count * 2) != 0) {
                    size_t i = 0;
                    while (again[i] == got[i]) i++;
                    bad++;
                    snprintf(first, sizeof first, "%s gives other bits at element %zu: %#06x against %#06x",
                             cut == 0 ? "row by row" : "two ranges split at a row", i, again[i], got[i]);
                }
            }
        }
        const int index = kernel_index(kernel);
        if (case_max > max_error_of_mag[index]) max_error_of_mag[index] = case_max;
        if (bad) {
            FAIL("%s%s k%d %d->%d g%d %dx%d rows [%d,%d) ring rows in %d out %d res %d bias %d res %d lrelu %d: %ld bad, first: %s\n",
                 kernel->name, threaded ? " (3 threads)" : "", s.k, s.in_channels, s.out_channels, s.groups,
                 width, height, row_begin, row_end, in_rows, out_rows, res_rows, with_bias, with_residual,
                 with_lrelu, bad, first);
        } else {
            passed++;
        }
    }
    abs_terms_free(&abs);
    guarded_free_all();
}

// A kernel's depth-to-space output must equal, bit for bit, its own plain output followed by
// the generic pixel shuffle (2-byte elements); rows outside the range keep the sentinel.
static void run_depth_to_space_case(conv_shape s, int32_t r, int32_t width, int32_t height, int process_wide) {
    const int options = (int)rnd32();
    const int with_residual = options & 1, threaded = (options >> 1) & 1, guard_before = (options >> 2) & 1;
    const int32_t row_begin = rnd_int_below(height);
    const int32_t row_end = row_begin + 1 + rnd_int_below(height - row_begin);
    const int32_t ipg = s.in_channels / s.groups, opg = s.out_channels / s.groups;
    const int32_t planes = s.out_channels / (r * r);
    const size_t plane = (size_t)height * width, big_stride = plane * r * r + (size_t)rnd_int_below(5);
    const size_t w_count = (size_t)s.out_channels * ipg * s.k * s.k;
    uint16_t *input = guarded_bytes(plane * s.in_channels * 2, guard_before);
    float *weights = guarded_bytes(w_count * 4, !guard_before);
    void *packed = guarded_bytes(winograd_bytes(s) + w_count * 4, guard_before);
    float *bias = guarded_bytes((size_t)s.out_channels * 4, !guard_before);
    uint16_t *residual = with_residual ? guarded_bytes(plane * s.out_channels * 2, guard_before) : NULL;
    uint16_t *plain = guarded_bytes(plane * s.out_channels * 2, !guard_before);
    uint16_t *expected = guarded_bytes(big_stride * planes * 2, guard_before);
    uint16_t *got = guarded_bytes(big_stride * planes * 2, !guard_before);
    for (size_t i = 0; i < plane * s.in_channels; i++) input[i] = rnd_f16();
    for (size_t i = 0; i < w_count; i++) weights[i] = rnd_signed_unit();
    for (int32_t i = 0; i < s.out_channels; i++) bias[i] = rnd_signed_unit();
    if (residual) for (size_t i = 0; i < plane * s.out_channels; i++) residual[i] = rnd_f16();

    nj_conv2d_f16_args args;
    memset(&args, 0, sizeof args);
    args.input = input;
    args.input_channel_stride = plane;
    args.input_rows = height;
    args.residual = residual;
    args.residual_channel_stride = plane;
    args.residual_rows = height;
    args.bias = bias;
    args.in_channels = s.in_channels;
    args.out_channels = s.out_channels;
    args.groups = s.groups;
    args.kernel_size = s.k;
    args.height = height;
    args.width = width;
    args.row_begin = row_begin;
    args.row_end = row_end;
    args.activation = (options >> 3) & 1 ? NJ_ACTIVATION_LEAKY_RELU : NJ_ACTIVATION_NONE;
    args.negative_slope = 0.2f;
    args.weight_stride = opg;

    const nj_conv2d_f16_kernel *kernels[16];
    const int kernel_count = kernels_under_test(&args, process_wide, kernels);
    for (int ki = 0; ki < kernel_count; ki++) {
        const nj_conv2d_f16_kernel *kernel = kernels[ki];
        nj_f16_conv2d_pack_weights(kernel, &args, weights, packed);
        nj_conv2d_f16_args run = args;
        run.weights = packed;
        run.output = plain;
        run.output_channel_stride = plane;
        run.output_rows = height;
        kernel->run(&run);
        for (size_t i = 0; i < big_stride * planes; i++) expected[i] = got[i] = SENTINEL16;
        nj_pixel_shuffle_scalar(2, plain, plane, height, s.out_channels, width, r, row_begin, row_end,
                                expected, big_stride, height * r);
        run.output = got;
        run.output_channel_stride = big_stride;
        run.output_rows = height * r;
        run.output_depth_to_space = r;
        if (threaded) {
            nj_threadpool_conv2d_f16(pool, kernel, &run);
        } else {
            kernel->run(&run);
        }
        if (memcmp(expected, got, big_stride * planes * 2) != 0) {
            size_t i = 0;
            while (expected[i] == got[i]) i++;
            FAIL("%s%s depth-to-space %d: k%d %d->%d g%d %dx%d rows [%d,%d) res %d: first difference at %zu: %#06x want %#06x\n",
                 kernel->name, threaded ? " (3 threads)" : "", r, s.k, s.in_channels, s.out_channels, s.groups,
                 width, height, row_begin, row_end, with_residual, i, got[i], expected[i]);
        } else {
            passed++;
        }
    }
    guarded_free_all();
}

// The process-wide selection is the first runnable kernel of its size in the list.
static void check_selection(void) {
    for (int32_t k = 1; k <= 7; k += 2) {
        nj_conv2d_f16_args g;
        memset(&g, 0, sizeof g);
        g.kernel_size = k;
        const nj_conv2d_f16_kernel *chosen = nj_conv2d_f16_kernel_select(&g, -1);
        const nj_conv2d_f16_kernel *first = nj_conv2d_f16_kernel_reference();
        const int32_t ports = nj_fma_ports();
        for (int32_t i = 0; i < nj_conv2d_f16_kernel_count(); i++) {
            const nj_conv2d_f16_kernel *c = nj_conv2d_f16_kernel_at(i);
            if (c->kernel_size == k && (!c->supports || c->supports(&g)) && nj_conv2d_f16_kernel_runnable(c) &&
                (c->fma_ports == 0 || c->fma_ports == ports)) {
                first = c;
                break;
            }
        }
        printf("f16 kernels: %dx%d selects %s\n", k, k, chosen->name);
        if (chosen != first || !nj_conv2d_f16_kernel_runnable(chosen)) {
            FAIL("%dx%d selects %s, expected %s\n", k, k, chosen->name, first->name);
        } else {
            passed++;
        }
    }
}

int main(int argc, char **argv) {
    // --quick: every third width (the tails stay: the last width always runs), for emulated runs.
    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    pool = nj_threadpool_create(3);
    if (!pool) {
        printf("f16 kernels: cannot start threads\n");
        return 2;
    }
    const char *cap_env = getenv("NIGHTJAR_MAX_ISA"), *disable_env = getenv("NIGHTJAR_DISABLE_FEATURES");
    const int process_wide = (cap_env && *cap_env) || (disable_env && *disable_env);
    printf("f16 kernels: features detected:");
    for (int b = 0; b < 10; b++) if (nj_cpu_features() & (1u << b)) printf(" %s", nj_cpu_feature_name(1u << b));
    printf("; active:");
    for (int b = 0; b < 10; b++) if (nj_cpu_features_active() & (1u << b)) printf(" %s", nj_cpu_feature_name(1u << b));
    printf("\n");

    test_conversions();
    test_generic_shuffles();
    check_selection();

    static const conv_shape shapes[] = {
        // The network's convolutions (the big grouped one at fewer widths, below).
        {5, 4, 12, 1}, {5, 24, 12, 1}, {3, 64, 64, 1}, {3, 4, 64, 1}, {3, 128, 32, 4},
        {3, 160, 32, 1}, {1, 192, 64, 1}, {3, 1024, 128, 128},
        // Odd ones: block remainders, groups, input channel counts around the half-sum chunks.
        {3, 3, 5, 1}, {1, 7, 13, 1}, {5, 5, 9, 1}, {3, 6, 9, 3}, {5, 2, 3, 1}, {1, 1, 1, 1},
        {3, 8, 15, 1}, {5, 6, 14, 2}, {1, 12, 30, 3}, {3, 16, 11, 1}, {1, 40, 17, 1}, {3, 9, 24, 1},
        // Winograd's chunks of input (32) and output channels (64 for 3x3, 24 for 5x5) and
        // register block tails.
        {3, 16, 16, 1}, {3, 40, 20, 1}, {3, 17, 71, 1}, {5, 33, 25, 1},
    };
    static const int32_t widths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65, 100, 129};
    const int nw = (int)(sizeof(widths) / sizeof(widths[0]));
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        const conv_shape s = shapes[si];
        const long macs = (long)s.out_channels * (s.in_channels / s.groups) * s.k * s.k;
        for (int wi = 0; wi < nw; wi++) {
            if (macs > 4000 && wi % 3 != 0 && wi != nw - 1) continue;
            if (quick && wi % 3 != 0 && wi != nw - 1) continue;
            for (int32_t h = 1; h <= 6; h++) {
                if (h != 1 && h != 6 && h != 2 + (wi % 4)) continue;
                run_case(s, widths[wi], h, process_wide);
            }
        }
    }
    static const struct { conv_shape s; int32_t r; } folds[] = {
        {{1, 192, 64, 1}, 4}, {{3, 32, 192, 1}, 4}, {{5, 24, 12, 1}, 2}, {{3, 6, 8, 2}, 2}, {{1, 3, 27, 1}, 3},
    };
    for (size_t fi = 0; fi < sizeof(folds) / sizeof(folds[0]); fi++) {
        for (int wi = 0; wi < nw; wi += quick ? 4 : 2) {
            run_depth_to_space_case(folds[fi].s, folds[fi].r, widths[wi], 1 + 2 * (wi % 3), process_wide);
        }
    }
    for (int32_t i = 0; i < nj_conv2d_f16_kernel_count(); i++) {
        const nj_conv2d_f16_kernel *k = nj_conv2d_f16_kernel_at(i);
        if (max_error_of_mag[i] > 0) {
            printf("f16 kernels: %s max error beyond the result's rounding %.3g of sum |terms| (bound %.3g)\n", k->name, max_error_of_mag[i],
                   k->half_sum_terms > 0 ? k->half_sum_terms * ldexp(1.0, -11) : 1e-5);
        }
    }
    printf("f16 kernels: %ld passed, %ld failed\n", passed, failed);
    nj_threadpool_destroy(pool);
    return failed ? 1 : 0;
}
