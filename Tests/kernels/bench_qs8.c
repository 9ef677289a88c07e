// Single-thread throughput of the selected qs8 kernel against the selected f32 kernel on some
// of the network's shapes (GMAC/s per second of thread CPU time, median of N runs). Not a test:
//   cc -O2 -fno-omit-frame-pointer -ICSupport/NightjarKernels/include CSupport/NightjarKernels/src/*.c \
//      Tests/kernels/bench_qs8.c -lm -lpthread -o bench_qs8 && ./bench_qs8 [runs]
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nightjar_kernels.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const int runs = argc > 1 ? atoi(argv[1]) : 5;
    static const struct { const char *what; int k, cin, cout, width, height; } shapes[] = {
        {"5x5 24->12 (conv_2_8_32)", 5, 24, 12, 2128, 16},
        {"5x5 4->12 (conv2x)", 5, 4, 12, 2128, 16},
        {"3x3 64->64 (resblock8x)", 3, 64, 64, 532, 16},
        {"3x3 32->192 (conv32_8_cat.1)", 3, 32, 192, 532, 16},
        {"3x3 128->64 (conv32x.1), 2 rows", 3, 128, 64, 133, 2},
        {"3x3 160->32 (RDB dense)", 3, 160, 32, 133, 32},
        {"3x3 4->64 (conv_rdb8x)", 3, 4, 64, 532, 16},
        {"1x1 192->64 (RDB fusion)", 1, 192, 64, 133, 32},
    };
    printf("%-28s %-34s %8s %-34s %8s %6s\n", "shape", "f32 kernel", "GMAC/s", "qs8 kernel", "GMAC/s", "ratio");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int k = shapes[si].k, cin = shapes[si].cin, cout = shapes[si].cout;
        const int w = shapes[si].width, h = shapes[si].height;
        const size_t plane = (size_t)w * h, wcount = (size_t)cout * cin * k * k;
        const double macs = (double)plane * wcount;
        float *fin = malloc(plane * cin * 4), *fout = malloc(plane * cout * 4);
        float *fw = malloc(wcount * 4), *fb = calloc(cout, 4);
        int8_t *qin = malloc(plane * cin), *qout = malloc(plane * cout), *qw = malloc(wcount);
        float *ws = malloc(cout * 4);
        for (size_t i = 0; i < plane * cin; i++) { fin[i] = (float)(rand() % 200 - 100) / 100; qin[i] = (int8_t)(rand() % 256 - 128); }
        for (size_t i = 0; i < wcount; i++) { fw[i] = (float)(rand() % 200 - 100) / 1000; qw[i] = (int8_t)(rand() % 256 - 128); }
        for (int i = 0; i < cout; i++) ws[i] = 1e-4f;

        nj_conv2d_f32_args fa;
        memset(&fa, 0, sizeof fa);
        fa.input = fin; fa.input_channel_stride = plane; fa.input_rows = h;
        fa.output = fout; fa.output_channel_stride = plane; fa.output_rows = h;
        fa.bias = fb; fa.in_channels = cin; fa.out_channels = cout; fa.groups = 1; fa.kernel_size = k;
        fa.height = h; fa.width = w; fa.row_begin = 0; fa.row_end = h; fa.residual_rows = h;
        fa.weight_stride = cout; fa.activation = NJ_ACTIVATION_LEAKY_RELU; fa.negative_slope = 0.2f;
        const nj_conv2d_f32_kernel *fk = nj_conv2d_f32_kernel_select(&fa, -1);
        // Sized by the selected kernel's layout: a Winograd layout holds more than cout*cin*k*k.
        float *fpack = malloc(nj_f32_conv2d_packed_count(fk->weight_layout, cout, cin, 1, k) * 4);
        nj_f32_conv2d_pack_weights(fk->weight_layout, fw, cout, cin, 1, k, fpack);
        fa.weights = fpack;

        nj_conv2d_qs8_args qa;
        memset(&qa, 0, sizeof qa);
        qa.input = qin; qa.input_channel_stride = plane; qa.input_rows = h;
        qa.output = qout; qa.output_channel_stride = plane; qa.output_rows = h;
        qa.in_channels = cin; qa.out_channels = cout; qa.groups = 1; qa.kernel_size = k;
        qa.height = h; qa.width = w; qa.row_begin = 0; qa.row_end = h; qa.residual_rows = h; qa.weight_stride = cout;
        const nj_conv2d_qs8_kernel *qk = nj_conv2d_qs8_kernel_select(&qa, -1);
        void *qpack = aligned_alloc(64, nj_qs8_conv2d_packed_bytes(qk, &qa));
        nj_conv2d_qs8_params params;
        const nj_qs8_quantization qi = {0.02f, 0}, qo = {0.05f, 0};
        if (nj_qs8_conv2d_prepare(qk, &qa, qw, ws, NULL, qi, qo, NULL, NJ_ACTIVATION_LEAKY_RELU, 0.2f, qpack, &params)) {
            printf("prepare failed\n");
            return 1;
        }
        qa.weights = qpack;
        qa.params = &params;

        double tf[32], tq[32];
        const int n = runs < 32 ? runs : 32;
        for (int r = 0; r < n; r++) {  // alternating, so both see the same machine
            double t0 = cpu_now();
            fk->run(&fa);
            tf[r] = cpu_now() - t0;
            t0 = cpu_now();
            qk->run(&qa);
            tq[r] = cpu_now() - t0;
        }
        qsort(tf, n, sizeof(double), cmp);
        qsort(tq, n, sizeof(double), cmp);
        const double gf = macs / tf[n / 2] * 1e-9, gq = macs / tq[n / 2] * 1e-9;
        printf("%-28s %-34s %8.1f %-34s %8.1f %5.2fx\n", shapes[si].what, fk->name, gf, qk->name, gq, gq / gf);
        free(fin); free(fout); free(fw); free(fpack); free(fb); free(qin); free(qout); free(qw); free(ws); free(qpack);
    }
    return 0;
}
