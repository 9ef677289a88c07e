// What folding conv2x into conv_2_8_32 could save in int8 (a measurement for planning, not a
// test, AVX-512 VNNI only). conv2x is linear (5x5, bias, no activation) and conv_2_8_32 reads
// it through 5x5 taps, so their product is one 9x9 convolution of low2x (4 -> 12) beside the
// 5x5 on `up` (12 -> 12): 12 x (4 x 81 + 12 x 25) = 7488 MACs a half-scale pixel against
// 12 x (4 x 25 + 24 x 25) = 8400, and one requantisation instead of two. (Exact only 2 or more
// pixels from the border, where conv2x's zero padding differs: the frame needs the unfused path.)
//
// Times, single-thread CPU, median of N rounds in which every kernel runs once in turn (so each
// starts with its data out of L2), on a 2128 x 16 plane (a half-scale band of a 12.1 MP frame):
//   now:   conv2x (5x5 4 -> 12) + conv_2_8_32 (5x5 24 -> 12), the kernels the registry picks;
//   fused: the 9x9 part (the direct template at K = 9, 6 x 4 blocks) + the `up` part (5x5
//          12 -> 12), without and with the 9x9 part's output added as the residual (what
//          today's kernels can do; one kernel with both parts would share the accumulators).
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

// A layer of random int8 data (the same for the same seed); `kernel` NULL: the registry's choice.
static void make(layer *l, unsigned seed, int k, int cin, int cout, int width, int height,
                 const nj_conv2d_qs8_kernel *kernel, int residual) {
    srand(seed);
    const size_t plane = (size_t)width * height, wcount = (size_t)cout * cin * k * k;
    int8_t *in = malloc(plane * cin), *out = malloc(plane * cout), *w = malloc(wcount);
    float *scales = malloc(cout * sizeof(float));
    for (size_t i = 0; i < plane * cin; i++) in[i] = (int8_t)(rand() % 256 - 128);
    for (size_t i = 0; i < wcount; i++) w[i] = (int8_t)(rand() % 256 - 128);
    for (int i = 0; i < cout; i++) scales[i] = 1e-4f;
    memset(l, 0, sizeof *l);
    nj_conv2d_qs8_args *a = &l->args;
    a->input = in; a->input_channel_stride = plane; a->input_rows = height;
    a->output = out; a->output_channel_stride = plane; a->output_rows = height;
    a->in_channels = cin; a->out_channels = cout; a->groups = 1; a->kernel_size = k;
    a->height = height; a->width = width; a->row_begin = 0; a->row_end = height;
    a->residual_rows = height; a->weight_stride = cout;
    if (residual) {
        int8_t *r = malloc(plane * cout);
        for (size_t i = 0; i < plane * cout; i++) r[i] = (int8_t)(rand() % 256 - 128);
        a->residual = r;
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
    double t[COUNT][64], median[COUNT];
    for (int r = 0; r < runs; r++) {
        for (int i = 0; i < COUNT; i++) {
            const double t0 = cpu_now();
            l[i].kernel->run(&l[i].args);
            t[i][r] = cpu_now() - t0;
        }
    }
    for (int i = 0; i < COUNT; i++) {
        qsort(t[i], runs, sizeof(double), cmp);
        median[i] = t[i][runs / 2];
        printf("%-24s %-34s %7.3f ms\n", names[i], l[i].kernel->name, median[i] * 1e3);
    }
    const double now = median[CONV2X] + median[CAT];
    printf("now %.3f ms; fused as two kernels %.3f ms (%.3f of now), with the residual %.3f ms (%.3f)\n", now * 1e3,
           (median[NINE] + median[UP]) * 1e3, (median[NINE] + median[UP]) / now,
           (median[NINE] + median[UP_RESIDUAL]) * 1e3, (median[NINE] + median[UP_RESIDUAL]) / now);
    return 0;
}
#else
int main(void) {
    printf("x86-64 only\n");
    return 0;
}
#endif
