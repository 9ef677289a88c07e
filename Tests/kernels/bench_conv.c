// Single-thread throughput of the convolution kernels on the network's shapes (GMAC/s,
// median of several runs). Not a test: run scripts/bench-kernels.sh.
//
//   bench_conv [runs] [isa...]     e.g. bench_conv 7 avx512 avx2
//   BENCH_SHAPE="k cin cout groups width height rows" bench_conv ...   (one custom shape)
//   BENCH_THREADS=2 bench_conv ...   (rows split into equal stripes, one thread each)
//   BENCH_TILES=all bench_conv ...   (every registered tile of each level, not only the selected)
//   BENCH_DTYPE=f32|f16|all bench_conv ...   (kernel families; default all: f32 then f16 on
//                                             each shape, so their ratio comes from one run)
// Besides wall-clock GMAC/s it prints GMAC/s per second of the calling thread's CPU time
// ("cpu"): on a shared machine other processes take the core away and the wall clock shows
// it; CPU time does not (with BENCH_THREADS > 1 it is the first stripe's thread only).
#define _POSIX_C_SOURCE 199309L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nightjar_kernels.h"

typedef struct bench_shape {
    const char *what;
    int32_t k, in_channels, out_channels, groups, width, height;
    int32_t rows;  // output rows per run (a stripe in the middle; 0 = all)
    int lrelu, residual;
    int32_t depth_to_space;  // the output pixel-shuffled by this factor, as in the network (0: none)
} bench_shape;

// run_threads<suffix>(fn, args, threads): runs fn over args' rows split into `threads` stripes
// (the calling thread takes the first). One definition per family: the argument structs differ.
#define NJ_BENCH_RUN_THREADS(suffix, fn_type, args_type)                                          \
    typedef struct stripe##suffix {                                                               \
        fn_type fn;                                                                               \
        args_type args;                                                                           \
    } stripe##suffix;                                                                             \
    static void *run_stripe##suffix(void *p) {                                                    \
        stripe##suffix *s = p;                                                                    \
        s->fn(&s->args);                                                                          \
        return NULL;                                                                              \
    }                                                                                             \
    static void run_threads##suffix(fn_type fn, const args_type *a, int threads) {                \
        stripe##suffix stripes[16];                                                               \
        pthread_t tids[16];                                                                       \
        const int32_t rows = a->row_end - a->row_begin;                                           \
        for (int t = 0; t < threads; t++) {                                                       \
            stripes[t].fn = fn;                                                                   \
            stripes[t].args = *a;                                                                 \
            stripes[t].args.row_begin = a->row_begin + (int32_t)((int64_t)rows * t / threads);    \
            stripes[t].args.row_end = a->row_begin + (int32_t)((int64_t)rows * (t + 1) / threads); \
        }                                                                                         \
        for (int t = 1; t < threads; t++) pthread_create(&tids[t], NULL, run_stripe##suffix, &stripes[t]); \
        run_stripe##suffix(&stripes[0]);                                                          \
        for (int t = 1; t < threads; t++) pthread_join(tids[t], NULL);                            \
    }

NJ_BENCH_RUN_THREADS(, nj_conv2d_f32_fn, nj_conv2d_f32_args)
NJ_BENCH_RUN_THREADS(_f16, nj_conv2d_f16_fn, nj_conv2d_f16_args)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *filled(size_t n) {
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) * 0.001f - 0.5f;
    return p;
}

static uint16_t *as_f16(const float *values, size_t n) {
    uint16_t *p = malloc(n * sizeof(uint16_t));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    nj_f32_to_f16(values, p, n);
    return p;
}

typedef struct timing {
    double med, best, cpu;
} timing;

static void print_row(const char *what, const char *name, double macs, timing t) {
    printf("%-28s %-30s %9.2f %9.2f %9.2f %9.2f\n", what, name, t.med * 1e3, macs / t.med * 1e-9,
           macs / t.best * 1e-9, macs / t.cpu * 1e-9);
    fflush(stdout);
}

// The f16 family on the f32 run's geometry: the same values rounded to binary16, the kernel the
// registry selects at each cap, and with BENCH_TILES=all every runnable f16 kernel of the size
// (native and convert-around-FMA side by side).
static void bench_f16(const char *what, const nj_conv2d_f32_args *f, const float *input,
                      const float *residual, const float *weights, size_t plane, int runs,
                      const nj_isa *caps, int cap_count, int all_tiles, int threads,
                      double macs, double first_share) {
    uint16_t *input16 = as_f16(input, plane * f->in_channels);
    uint16_t *output16 = as_f16(residual, plane * f->out_channels);
    uint16_t *residual16 = as_f16(residual, plane * f->out_channels);
    nj_conv2d_f16_args a;
    memset(&a, 0, sizeof a);
    a.input = input16;
    a.input_channel_stride = plane;
    a.input_rows = f->input_rows;
    a.output = output16;
    a.output_channel_stride = f->output_channel_stride;
    a.output_rows = f->output_rows;
    a.output_depth_to_space = f->output_depth_to_space;
    a.residual = f->residual ? residual16 : NULL;
    a.residual_channel_stride = plane;
    a.residual_rows = f->residual_rows;
    a.bias = f->bias;
    a.in_channels = f->in_channels;
    a.out_channels = f->out_channels;
    a.groups = f->groups;
    a.kernel_size = f->kernel_size;
    a.height = f->height;
    a.width = f->width;
    a.row_begin = f->row_begin;
    a.row_end = f->row_end;
    a.activation = f->activation;
    a.negative_slope = f->negative_slope;
    a.weight_stride = f->out_channels / f->groups;
    const nj_conv2d_f16_kernel *list[32];
    int list_count = 0;
    for (int ci = 0; ci < cap_count; ci++) {
        const nj_conv2d_f16_kernel *chosen = nj_conv2d_f16_kernel_select(&a, (int)caps[ci]);
        int seen = 0;
        for (int i = 0; i < list_count; i++) seen |= list[i] == chosen;
        if (!seen) list[list_count++] = chosen;
        for (int32_t i = 0; all_tiles && i < nj_conv2d_f16_kernel_count() && list_count < 32; i++) {
            const nj_conv2d_f16_kernel *k = nj_conv2d_f16_kernel_at(i);
            seen = 0;
            for (int j = 0; j < list_count; j++) seen |= list[j] == k;
            if (!seen && k->kernel_size == f->kernel_size && (!k->supports || k->supports(&a)) &&
                nj_conv2d_f16_kernel_runnable(k)) {
                list[list_count++] = k;
            }
        }
    }
    for (int li = 0; li < list_count; li++) {
        const nj_conv2d_f16_kernel *kernel = list[li];
        void *packed = malloc(nj_f16_conv2d_packed_bytes(kernel, &a));
        if (!packed) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        nj_f16_conv2d_pack_weights(kernel, &a, weights, packed);
        a.weights = packed;
        run_threads_f16(kernel->run, &a, threads);  // warm-up
        double t[64], c[64];
        const int n = runs < 64 ? runs : 64;
        for (int r = 0; r < n; r++) {
            const double t0 = now(), c0 = thread_cpu();
            run_threads_f16(kernel->run, &a, threads);
            c[r] = thread_cpu() - c0;
            t[r] = now() - t0;
        }
        qsort(t, (size_t)n, sizeof(double), cmp_double);
        qsort(c, (size_t)n, sizeof(double), cmp_double);
        print_row(what, kernel->name, macs, (timing){t[n / 2], t[0], c[n / 2] / first_share});
        free(packed);
    }
    free(input16);
    free(output16);
    free(residual16);
}

int main(int argc, char **argv) {
    const int runs = argc > 1 ? atoi(argv[1]) : 5;
    const char *threads_env = getenv("BENCH_THREADS");
    int threads = threads_env ? atoi(threads_env) : 1;
    threads = threads < 1 ? 1 : threads > 16 ? 16 : threads;
    nj_isa caps[8];
    int cap_count = 0;
    for (int i = 2; i < argc && cap_count < 8; i++) {
        const int isa = nj_isa_parse(argv[i]);
        if (isa >= 0 && nj_isa_supported((nj_isa)isa)) caps[cap_count++] = (nj_isa)isa;
    }
    if (cap_count == 0) caps[cap_count++] = nj_isa_detected();

    static const bench_shape shapes[] = {
        {"conv_2_8_32 (1/2)", 5, 24, 12, 1, 2128, 1424, 128, 0, 0},
        {"conv2x (1/2)", 5, 4, 12, 1, 2128, 1424, 128, 0, 0},
        {"resblock8x conv (1/8)", 3, 64, 64, 1, 532, 356, 0, 1, 0},
        {"resblock8x conv+res (1/8)", 3, 64, 64, 1, 532, 356, 0, 0, 1},
        {"conv_rdb8x (1/8)", 3, 4, 64, 1, 532, 356, 0, 0, 0},
        {"conv32_8_cat.0 g4 (1/8)", 3, 128, 32, 4, 532, 356, 0, 0, 0},
        {"conv32_8_cat.1 d2s4 (1/8)", 3, 32, 192, 1, 532, 356, 0, 1, 0, 4},
        {"conv32x.0 g128 (1/32)", 3, 1024, 128, 128, 133, 89, 0, 0, 0},
        {"conv32x.1 (1/32)", 3, 128, 64, 1, 133, 89, 0, 0, 0},
        {"RDB dense 160->32 (1/32)", 3, 160, 32, 1, 133, 89, 0, 1, 0},
        {"rdball 1x1 192->64 d2s4 (1/32)", 1, 192, 64, 1, 133, 89, 0, 0, 1, 4},
    };
    bench_shape custom = {"custom", 3, 64, 64, 1, 532, 356, 0, 0, 0};
    const char *spec = getenv("BENCH_SHAPE");
    const int use_custom = spec && sscanf(spec, "%d %d %d %d %d %d %d", &custom.k,
                                          &custom.in_channels, &custom.out_channels,
                                          &custom.groups, &custom.width, &custom.height,
                                          &custom.rows) == 7;
    const size_t shape_count = use_custom ? 1 : sizeof(shapes) / sizeof(shapes[0]);
    const char *tiles_env = getenv("BENCH_TILES");
    const int all_tiles = tiles_env && strcmp(tiles_env, "all") == 0;
    const char *dtype_env = getenv("BENCH_DTYPE");
    const int run_f32 = !dtype_env || strcmp(dtype_env, "f16") != 0;
    const int run_f16 = !dtype_env || strcmp(dtype_env, "f32") != 0;
    printf("threads: %d, 512-bit FMA ports: %d\n%-28s %-30s %9s %9s %9s %9s\n", threads,
           nj_fma_ports(), "shape", "kernel", "ms(med)", "GMAC/s", "best", "cpu(med)");
    for (size_t si = 0; si < shape_count; si++) {
        const bench_shape s = use_custom ? custom : shapes[si];
        const size_t plane = (size_t)s.width * s.height;
        const int32_t ipg = s.in_channels / s.groups;
        float *input = filled(plane * s.in_channels);
        float *output = filled(plane * s.out_channels);
        float *residual = filled(plane * s.out_channels);
        float *weights = filled((size_t)s.out_channels * ipg * s.k * s.k);
        float *bias = filled((size_t)s.out_channels);
        nj_conv2d_f32_args a;
        memset(&a, 0, sizeof a);
        a.input = input;
        a.input_channel_stride = plane;
        a.input_rows = a.output_rows = a.residual_rows = s.height;  // whole planes
        a.output = output;
        a.output_channel_stride = plane;
        a.residual = s.residual ? residual : NULL;
        a.residual_channel_stride = plane;
        a.weights = weights;
        a.bias = bias;
        a.in_channels = s.in_channels;
        a.out_channels = s.out_channels;
        a.groups = s.groups;
        a.kernel_size = s.k;
        a.height = s.height;
        a.width = s.width;
        a.row_begin = s.rows ? (s.height - s.rows) / 2 : 0;
        a.row_end = s.rows ? a.row_begin + s.rows : s.height;
        a.activation = s.lrelu ? NJ_ACTIVATION_LEAKY_RELU : NJ_ACTIVATION_NONE;
        if (s.depth_to_space > 1) {
            // The same floats as out_channels planes: out_channels / r² planes r times taller and wider.
            const int32_t r = s.depth_to_space;
            a.output_depth_to_space = r;
            a.output_channel_stride = plane * (size_t)(r * r);
            a.output_rows = s.height * r;
        }
        a.negative_slope = 0.2f;
        const double macs = (double)(a.row_end - a.row_begin) * s.width * s.out_channels * ipg *
                            s.k * s.k;
        // Room for the largest layout (Winograd F(2x2, 5x5)'s filters take 36 floats per pair).
        float *packed = filled(nj_f32_conv2d_packed_count(NJ_WEIGHTS_WINOGRAD_2X2_5X5, s.out_channels, s.in_channels,
                                                          s.groups, s.k) +
                               (size_t)s.out_channels * ipg * s.k * s.k);
        a.weight_stride = s.out_channels / s.groups;
        const nj_conv2d_f32_kernel *list[32];
        int list_count = 0;
        for (int ci = 0; ci < cap_count; ci++) {
            const nj_conv2d_f32_kernel *chosen = nj_conv2d_f32_kernel_select(&a, (int)caps[ci]);
            list[list_count++] = chosen;
            for (int32_t i = 0; all_tiles && i < nj_conv2d_f32_kernel_count() && list_count < 32; i++) {
                const nj_conv2d_f32_kernel *k = nj_conv2d_f32_kernel_at(i);
                if (k != chosen && k->isa == chosen->isa && k->kernel_size == s.k &&
                    (!k->supports || k->supports(&a))) {
                    list[list_count++] = k;
                }
            }
        }
        // CPU time covers the first stripe: scale its MACs by the stripe's share.
        const double first = threads > 1 ? (double)((int64_t)(a.row_end - a.row_begin) / threads) /
                                               (double)(a.row_end - a.row_begin)
                                         : 1.0;
        for (int li = 0; run_f32 && li < list_count; li++) {
            const nj_conv2d_f32_kernel *kernel = list[li];
            nj_conv2d_f32_fn fn = kernel->run;
            nj_f32_conv2d_pack_weights(kernel->weight_layout, weights, s.out_channels,
                                       s.in_channels, s.groups, s.k, packed);
            a.weights = packed;
            run_threads(fn, &a, threads);  // warm-up
            double t[64], c[64];
            const int n = runs < 64 ? runs : 64;
            for (int r = 0; r < n; r++) {
                const double t0 = now(), c0 = thread_cpu();
                run_threads(fn, &a, threads);
                c[r] = thread_cpu() - c0;
                t[r] = now() - t0;
            }
            qsort(t, (size_t)n, sizeof(double), cmp_double);
            qsort(c, (size_t)n, sizeof(double), cmp_double);
            print_row(s.what, kernel->name, macs, (timing){t[n / 2], t[0], c[n / 2] / first});
        }
        if (run_f16) {
            bench_f16(s.what, &a, input, residual, weights, plane, runs, caps, cap_count,
                      all_tiles, threads, macs, first);
        }
        free(input);
        free(output);
        free(residual);
        free(weights);
        free(packed);
        free(bias);
    }
    return 0;
}
