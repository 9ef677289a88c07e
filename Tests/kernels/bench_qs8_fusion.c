// What folding conv2x into conv_2_8_32 saves in int8 (a measurement, not a test, AVX-512 VNNI
// only): the prototype that planned it, and the registered kernel that does it
// (qs8-conv2d-5x5-fold9x9-avx512vnni-6x4, border classes and all; docs/kernels.md). conv2x is linear (5x5, bias, no activation) and conv_2_8_32 reads
// it through 5x5 taps, so their product is one 9x9 convolution of low2x (4 -> 12) beside the
// 5x5 on `up` (12 -> 12): 12 x (4 x 81 + 12 x 25) = 7488 MACs a half-scale pixel against
// 12 x (4 x 25 + 24 x 25) = 8400, and one requantisation instead of two. (Exact only 2 or more
// pixels from the border, where conv2x's zero padding differs: the registered kernel takes
// other weights there, the prototype does not.)
//
// Times, single-thread CPU, median of N rounds in which every kernel runs once in turn (so each
// starts with its data out of L2), on a 2128 x 16 plane (a half-scale band of a 12.1 MP frame):
//   now:   conv2x (5x5 4 -> 12) + conv_2_8_32 (5x5 24 -> 12), the kernels the registry picks;
//   folded, as two kernels: the 9x9 part (the direct template at K = 9, 6 x 4 blocks) + the
//          `up` part (5x5 12 -> 12), without and with the 9x9 part's output added as the
//          residual (what today's kernels can do);
//   folded, as one kernel: both parts into the same 6 x 4 accumulators, one requantisation (a
//          prototype here, `folded_run`, checked against the same integers computed plainly);
//   the registered fold kernel, on random weights at scales a power of two apart.
// Built and run from the repository's root as one command line (clang, as SwiftPM builds the
// engine's kernels; GCC's build of them runs slower):
//   clang -O2 -ICSupport/NightjarKernels/include -ICSupport/NightjarKernels/src
//      CSupport/NightjarKernels/src/*.c Tests/kernels/bench_qs8_fusion.c -lm -lpthread && ./a.out [runs]
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include "nj-qs8-simd-avx512vnni.h"
#define NJ_K 9
#define NJ_OCB 6
#define NJ_NV 4
#define NJ_FN bench_qs8_conv2d_9x9_avx512vnni_6x4
#define NJ_KERNEL bench_qs8_conv2d_9x9_avx512vnni_6x4_kernel
#include "qs8-conv2d-direct.h"

// The one-kernel form: a 9x9 part on `a` (4 channels) and a 5x5 part on `b` (12 channels, three
// lane units) added into the same accumulators, a 64-column tile and 16-row band staged at a time
// (23 KB of stack), as the direct template stages (flipped to unsigned for VPDPBUSD).
enum { FOLD_TILE = 64, FOLD_BAND = 16, FOLD_SPAN_A = FOLD_TILE + 8, FOLD_SPAN_B = FOLD_TILE + 4 };
typedef struct {
    const int8_t *a, *b;  // planar, width x height per channel
    int8_t *out;          // 12 planes
    int32_t width, height;
    const int8_t *wa;     // [81 taps][12 outputs][4 channels]
    const int8_t *wb;     // [3 units][25 taps][12 outputs][4 channels]
    const int32_t *bias;  // with the flip's 128 * sum(w) taken off
    const nj_conv2d_qs8_params *params;
    int32_t a_zero_point, b_zero_point;
} folded_args;

static NJ_Q_TARGET void folded_stage(int8_t *dst, const int8_t *planes, size_t plane, int32_t units, int32_t rows,
                                     int32_t iy0, int32_t xs, int32_t span, int32_t width, int32_t height, int8_t fill) {
    const int32_t c_lo = xs < 0 ? -xs : 0, c_hi = width - xs < span ? width - xs : span;
    for (int32_t u = 0; u < units; u++) {
        for (int32_t r = 0; r < rows; r++) {
            int8_t *d = dst + ((size_t)u * rows + r) * span * 4;
            const int32_t iy = iy0 + r;
            if (iy < 0 || iy >= height) {
                memset(d, fill, (size_t)span * 4);
                continue;
            }
            const int8_t *row = planes + (size_t)u * 4 * plane + (size_t)iy * width;
            const int8_t *src[4] = {row + xs, row + plane + xs, row + 2 * plane + xs, row + 3 * plane + xs};
            memset(d, fill, (size_t)c_lo * 4);
            memset(d + (size_t)c_hi * 4, fill, (size_t)(span - c_hi) * 4);
            nj_q_stage_span(d + c_lo * 4, src, c_lo, c_hi - c_lo, fill);
        }
    }
}

static inline __attribute__((always_inline)) NJ_Q_TARGET void folded_tile(const folded_args *f, const int8_t *sa,
                                                                        const int8_t *sb, int32_t band_row, int32_t rows_b,
                                                                        int32_t oc0, int32_t y, int32_t x0, int32_t nvalid,
                                                                        const int NV) {
    __m512i acc[6][4];
    _Pragma("GCC unroll 16") for (int o = 0; o < 6; o++) {
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) acc[o][v] = _mm512_set1_epi32(f->bias[oc0 + o]);
    }
    for (int part = 0; part < 4; part++) {  // the 9x9 part, then the 5x5 part's three units
        const int k = part == 0 ? 9 : 5;
        const int8_t *rows = part == 0 ? sa : sb + (size_t)(part - 1) * rows_b * FOLD_SPAN_B * 4;
        const int32_t span = part == 0 ? FOLD_SPAN_A : FOLD_SPAN_B;
        const int8_t *w = part == 0 ? f->wa : f->wb + (size_t)(part - 1) * 25 * 12 * 4;
        _Pragma("GCC unroll 1") for (int ky = 0; ky < k; ky++) {
            const int8_t *src = rows + (size_t)(band_row + ky) * span * 4;
            _Pragma("GCC unroll 1") for (int kx = 0; kx < k; kx++) {
                __m512i in[4];
                _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) in[v] = _mm512_loadu_si512(src + (size_t)(kx + 16 * v) * 4);
                const int8_t *wt = w + ((size_t)(ky * k + kx) * 12 + oc0) * 4;
                _Pragma("GCC unroll 16") for (int o = 0; o < 6; o++) {
                    const __m512i wv = _mm512_set1_epi32(nj_q_load32(wt + 4 * o));
                    _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) acc[o][v] = _mm512_dpbusd_epi32(acc[o][v], in[v], wv);
                }
            }
        }
    }
    const nj_conv2d_qs8_params *p = f->params;
    _Pragma("GCC unroll 16") for (int o = 0; o < 6; o++) {
        const int32_t oc = oc0 + o;
        int8_t *dst = f->out + ((size_t)oc * f->height + y) * f->width + x0;
        _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) {
            int8_t tail[16];
            const int32_t n = nvalid - 16 * v;
            nj_q_finish(acc[o][v], p->multiplier[oc], p->negative_multiplier[oc], p->shift[oc], NULL, p,
                        n >= 16 ? dst + 16 * v : tail);
            if (n < 16) memcpy(dst + 16 * v, tail, (size_t)n);
        }
    }
}

static NJ_Q_TARGET void folded_run(const folded_args *f) {
    _Alignas(64) int8_t sa[(FOLD_BAND + 8) * FOLD_SPAN_A * 4];
    _Alignas(64) int8_t sb[3 * (FOLD_BAND + 4) * FOLD_SPAN_B * 4];
    const size_t plane = (size_t)f->width * f->height;
    for (int32_t y0 = 0; y0 < f->height; y0 += FOLD_BAND) {
        const int32_t y1 = y0 + FOLD_BAND < f->height ? y0 + FOLD_BAND : f->height;
        const int32_t rows_b = y1 - y0 + 4;
        for (int32_t x0 = 0; x0 < f->width; x0 += FOLD_TILE) {
            folded_stage(sa, f->a, plane, 1, y1 - y0 + 8, y0 - 4, x0 - 4, FOLD_SPAN_A, f->width, f->height,
                         (int8_t)(f->a_zero_point ^ 0x80));
            folded_stage(sb, f->b, plane, 3, rows_b, y0 - 2, x0 - 2, FOLD_SPAN_B, f->width, f->height,
                         (int8_t)(f->b_zero_point ^ 0x80));
            const int32_t nvalid = f->width - x0 < FOLD_TILE ? f->width - x0 : FOLD_TILE;
            for (int32_t y = y0; y < y1; y++) {
                for (int32_t oc0 = 0; oc0 < 12; oc0 += 6) {
                    switch ((nvalid + 15) / 16) {
                        case 1: folded_tile(f, sa, sb, y - y0, rows_b, oc0, y, x0, nvalid, 1); break;
                        case 2: folded_tile(f, sa, sb, y - y0, rows_b, oc0, y, x0, nvalid, 2); break;
                        case 3: folded_tile(f, sa, sb, y - y0, rows_b, oc0, y, x0, nvalid, 3); break;
                        default: folded_tile(f, sa, sb, y - y0, rows_b, oc0, y, x0, nvalid, 4); break;
                    }
                }
            }
        }
    }
}

// The same integers computed plainly (the unflipped bias, the zero points as padding, the
// reference's requantisation): 0 when every output agrees.
static size_t folded_mismatches(const folded_args *f, const int32_t *bias) {
    const int32_t w = f->width, h = f->height;
    const size_t plane = (size_t)w * h;
    const nj_conv2d_qs8_params *p = f->params;
    size_t mismatches = 0;
    for (int o = 0; o < 12; o++) {
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int64_t acc = bias[o];
                for (int part = 0; part < 4; part++) {
                    const int k = part == 0 ? 9 : 5, pad = k / 2;
                    for (int ky = 0; ky < k; ky++) {
                        for (int kx = 0; kx < k; kx++) {
                            for (int j = 0; j < 4; j++) {
                                const int iy = y + ky - pad, ix = x + kx - pad;
                                const int inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
                                const int v = part == 0 ? (inside ? f->a[j * plane + (size_t)iy * w + ix] : f->a_zero_point)
                                                        : (inside ? f->b[(4 * (part - 1) + j) * plane + (size_t)iy * w + ix]
                                                                  : f->b_zero_point);
                                const int8_t wt = part == 0 ? f->wa[((ky * 9 + kx) * 12 + o) * 4 + j]
                                                            : f->wb[(((part - 1) * 25 + ky * 5 + kx) * 12 + o) * 4 + j];
                                acc += (int64_t)wt * v;
                            }
                        }
                    }
                }
                const int64_t m = acc < 0 ? p->negative_multiplier[o] : p->multiplier[o];
                int64_t q = ((acc * m + ((int64_t)1 << (p->shift[o] - 1))) >> p->shift[o]) + p->output_zero_point;
                q = q < -128 ? -128 : q > 127 ? 127 : q;
                mismatches += f->out[o * plane + (size_t)y * w + x] != (int8_t)q;
            }
        }
    }
    return mismatches;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    nj_conv2d_qs8_args args;
    nj_conv2d_qs8_params params;
    const nj_conv2d_qs8_kernel *kernel;
} layer;

// n random int8 codes, freshly allocated (the benchmark's buffers live until it exits).
static int8_t *random_codes(size_t n) {
    int8_t *codes = malloc(n);
    for (size_t i = 0; i < n; i++) codes[i] = (int8_t)(rand() % 256 - 128);
    return codes;
}

// A layer of random int8 data (the same for the same seed); `kernel` NULL: the registry's choice.
static void make(layer *l, unsigned seed, int k, int cin, int cout, int width, int height,
                 const nj_conv2d_qs8_kernel *kernel, int residual) {
    srand(seed);
    const size_t plane = (size_t)width * height, wcount = (size_t)cout * cin * k * k;
    int8_t *in = random_codes(plane * cin), *w = random_codes(wcount), *out = malloc(plane * cout);
    float *scales = malloc(cout * sizeof(float));
    for (int i = 0; i < cout; i++) scales[i] = 1e-4f;
    memset(l, 0, sizeof *l);
    nj_conv2d_qs8_args *a = &l->args;
    a->input = in; a->input_channel_stride = plane; a->input_rows = height;
    a->output = out; a->output_channel_stride = plane; a->output_rows = height;
    a->in_channels = cin; a->out_channels = cout; a->groups = 1; a->kernel_size = k;
    a->height = height; a->width = width; a->row_begin = 0; a->row_end = height;
    a->residual_rows = height; a->weight_stride = cout;
    if (residual) {
        a->residual = random_codes(plane * cout);
        a->residual_channel_stride = plane;
    }
    l->kernel = kernel ? kernel : nj_conv2d_qs8_kernel_select(a, -1);
    void *packed = aligned_alloc(64, (nj_qs8_conv2d_packed_bytes(l->kernel, a) + 63) & ~(size_t)63);
    const nj_qs8_quantization qin = {0.02f, 0}, qout = {0.05f, 0}, qres = {0.04f, 3};
    if (nj_qs8_conv2d_prepare(l->kernel, a, w, scales, NULL, qin, qout, residual ? &qres : NULL,
                              NJ_ACTIVATION_NONE, 0.0f, packed, &l->params)) {
        fprintf(stderr, "prepare failed\n");
        exit(1);
    }
    a->weights = packed;
    a->params = &l->params;
}

int main(int argc, char **argv) {
    if (!(nj_cpu_features() & NJ_CPU_AVX512_VNNI)) {
        printf("needs AVX-512 VNNI\n");
        return 0;
    }
    const int runs = argc > 1 && atoi(argv[1]) > 0 ? (atoi(argv[1]) < 64 ? atoi(argv[1]) : 64) : 31;
    const int width = 2128, height = 16;
    enum { CONV2X, CAT, NINE, UP, UP_RESIDUAL, COUNT };
    static const char *names[COUNT] = {"conv2x 5x5 4->12", "conv_2_8_32 5x5 24->12", "9x9 4->12",
                                       "5x5 12->12", "5x5 12->12 + residual"};
    layer l[COUNT];
    make(&l[CONV2X], 1, 5, 4, 12, width, height, NULL, 0);
    make(&l[CAT], 2, 5, 24, 12, width, height, NULL, 0);
    make(&l[NINE], 3, 9, 4, 12, width, height, &NJ_KERNEL, 0);
    make(&l[UP], 4, 5, 12, 12, width, height, NULL, 0);
    make(&l[UP_RESIDUAL], 5, 5, 12, 12, width, height, NULL, 1);
    // The template at K = 9 is no registered kernel: its outputs checked against the reference.
    layer reference;
    make(&reference, 3, 9, 4, 12, width, height, nj_conv2d_qs8_kernel_select(&l[NINE].args, NJ_ISA_SCALAR), 0);
    reference.kernel->run(&reference.args);
    l[NINE].kernel->run(&l[NINE].args);
    if (memcmp(reference.args.output, l[NINE].args.output, (size_t)width * height * 12) != 0) {
        printf("the 9x9 kernel differs from %s\n", reference.kernel->name);
        return 1;
    }
    // The one-kernel form: random data and weights, the requantisation of conv_2_8_32's layer.
    const size_t plane = (size_t)width * height;
    srand(6);
    int8_t *a = random_codes(plane * 4), *b = random_codes(plane * 12), *out = malloc(plane * 12);
    int8_t *wa = random_codes(81 * 12 * 4), *wb = random_codes(3 * 25 * 12 * 4);
    int32_t bias[12], flipped_bias[12];
    for (int o = 0; o < 12; o++) {
        int32_t sum = 0;
        for (int t = 0; t < 81 * 4; t++) sum += wa[(t / 4 * 12 + o) * 4 + t % 4];
        for (int t = 0; t < 75 * 4; t++) sum += wb[(t / 4 * 12 + o) * 4 + t % 4];
        bias[o] = rand() % 20001 - 10000;
        flipped_bias[o] = bias[o] - 128 * sum;
    }
    const folded_args folded = {a, b, out, width, height, wa, wb, flipped_bias, &l[CAT].params, 3, -5};
    folded_run(&folded);
    const size_t mismatches = folded_mismatches(&folded, bias);
    if (mismatches) {
        printf("the one-kernel form differs from the plain integers in %zu outputs\n", mismatches);
        return 1;
    }

    // The registered kernel with the folded input (qs8-conv2d-5x5-fold9x9-*): the `up` part as
    // the main input, the 9x9 as the fold, border classes and all; random weights at scales
    // a power of two apart.
    layer fused;
    {
        srand(7);
        nj_conv2d_qs8_args *g = &fused.args;
        memset(&fused, 0, sizeof fused);
        g->input = random_codes(plane * 12); g->input_channel_stride = plane; g->input_rows = height;
        g->output = malloc(plane * 12); g->output_channel_stride = plane; g->output_rows = height;
        g->in_channels = 12; g->out_channels = 12; g->groups = 1; g->kernel_size = 5;
        g->height = height; g->width = width; g->row_begin = 0; g->row_end = height; g->weight_stride = 12;
        g->fold_input = random_codes(plane * 4); g->fold_input_channel_stride = plane; g->fold_input_rows = height;
        g->fold_in_channels = 4; g->fold_kernel_size = 9;
        fused.kernel = nj_conv2d_qs8_kernel_select(g, -1);
        float scales[12], fold_scales[12], bias[25 * 12];
        // main scale 0.02 x 4e-4 = 2^3 x the fold's 0.0005 x 2e-3
        for (int o = 0; o < 12; o++) { scales[o] = 4e-4f; fold_scales[o] = 2e-3f; }
        for (int i = 0; i < 25 * 12; i++) bias[i] = 0.01f * (float)(i % 7);
        const nj_qs8_quantization in = {0.02f, -70}, out = {0.05f, 0};
        const nj_qs8_fold fold = {random_codes(25 * 12 * 4 * 81), fold_scales, {0.0005f, -128}};
        void *packed = aligned_alloc(64, (nj_qs8_conv2d_packed_bytes(fused.kernel, g) + 63) & ~(size_t)63);
        if (nj_qs8_conv2d_prepare_folded(fused.kernel, g, random_codes(12 * 12 * 25), scales, bias, in, &fold, out,
                                         NJ_ACTIVATION_NONE, 0.0f, packed, &fused.params)) {
            fprintf(stderr, "folded prepare failed\n");
            return 1;
        }
        g->weights = packed;
        g->params = &fused.params;
    }

    double t[COUNT + 2][64], median[COUNT + 2];
    for (int r = 0; r < runs; r++) {
        for (int i = 0; i < COUNT; i++) {
            const double t0 = cpu_now();
            l[i].kernel->run(&l[i].args);
            t[i][r] = cpu_now() - t0;
        }
        double t0 = cpu_now();
        folded_run(&folded);
        t[COUNT][r] = cpu_now() - t0;
        t0 = cpu_now();
        fused.kernel->run(&fused.args);
        t[COUNT + 1][r] = cpu_now() - t0;
    }
    for (int i = 0; i <= COUNT + 1; i++) {
        qsort(t[i], runs, sizeof(double), cmp);
        median[i] = t[i][runs / 2];
        if (i < COUNT) printf("%-24s %-34s %7.3f ms\n", names[i], l[i].kernel->name, median[i] * 1e3);
    }
    printf("%-24s %-34s %7.3f ms\n", "one kernel 9x9 + 5x5", "(folded_run above)", median[COUNT] * 1e3);
    printf("%-24s %-34s %7.3f ms\n", "5x5 + folded 9x9", fused.kernel->name, median[COUNT + 1] * 1e3);
    const double now = median[CONV2X] + median[CAT];
    printf("now %.3f ms; folded: as two kernels %.3f of now, with the residual %.3f, one kernel %.3f\n", now * 1e3,
           (median[NINE] + median[UP]) / now, (median[NINE] + median[UP_RESIDUAL]) / now, median[COUNT] / now);
    printf("the registered fold kernel: %.3f of now\n", median[COUNT + 1] / now);
    return 0;
}
#else
int main(void) {
    printf("x86-64 only\n");
    return 0;
}
#endif
