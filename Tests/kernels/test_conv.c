// Standalone test of every convolution kernel the registry can select against the scalar
// reference. Built and run by scripts/test-kernels.sh (host gcc, and aarch64 under qemu).
//
// Every buffer sits against a PROT_NONE guard page (after its end or before its start,
// alternating), rows and channel gaps that a kernel must not use are NaN, output rows and
// gaps it must not write hold a sentinel bit pattern: out-of-bounds reads fault or poison the
// result, out-of-bounds writes are caught bit-exactly.
//
// Each kernel gets the weights packed in its own layout; some cases run through a 3-thread
// pool, which splits rows or output channels (with the whole convolution's weight stride).
//
// Tolerance per output element: |kernel - reference| <= 1e-5 * (|bias| + sum |w * x| + |res|).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nightjar_kernels.h"
#include "nightjar_threadpool.h"

#include "conv-cases.h"

// ---- Guarded buffers -------------------------------------------------------------------

typedef struct guarded {
    void *map;
    size_t map_size;
} guarded;

static guarded allocations[16];
static nj_threadpool *pool;
static int allocation_count;
static size_t page_size;

static float *guarded_alloc(size_t count, int guard_before) {
    const size_t bytes = count * sizeof(float);
    const size_t data_pages = (bytes + page_size - 1) / page_size;
    const size_t map_size = (data_pages + 2) * page_size;
    char *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    mprotect(map, page_size, PROT_NONE);
    mprotect(map + (data_pages + 1) * page_size, page_size, PROT_NONE);
    allocations[allocation_count++] = (guarded){map, map_size};
    char *data = guard_before ? map + page_size : map + (data_pages + 1) * page_size - bytes;
    return (float *)data;
}

static void free_all(void) {
    for (int i = 0; i < allocation_count; i++) {
        munmap(allocations[i].map, allocations[i].map_size);
    }
    allocation_count = 0;
}

// ---- Deterministic random numbers ---------------------------------------------------------

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float rnd_unit(void) {  // [-1, 1)
    return (float)((int32_t)(rnd() & 0xffffff) - 0x800000) / (float)0x800000;
}
static int32_t rnd_below(int32_t n) {
    return n <= 0 ? 0 : (int32_t)(rnd() % (uint32_t)n);
}

static float bits_to_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
static uint32_t float_to_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}
static const uint32_t SENTINEL = 0x7fc0deadu;

// ---- One case -------------------------------------------------------------------------

typedef struct conv_shape {
    int32_t k, in_channels, out_channels, groups;
} conv_shape;

static long passed, failed;
static double max_rel_error;  // max over checks of |err| / (sum of |terms|)
static int verbose;

static int32_t max_i(int32_t a, int32_t b) { return a > b ? a : b; }

static int32_t min_i(int32_t a, int32_t b) { return a < b ? a : b; }

// The kernels a case runs: with explicit caps, every registered kernel of the geometry at
// every supported level (each tile, whichever this machine's FMA ports would select) and what
// selection picks per cap; with caps == NULL, the process-wide selection (NIGHTJAR_MAX_ISA,
// NIGHTJAR_FMA_PORTS). The reference first when asked.
static int kernels_under_test(const nj_conv2d_f32_args *args, const nj_isa *caps, int cap_count,
                              const nj_conv2d_f32_kernel **out, int with_reference) {
    int n = 0;
    if (with_reference) out[n++] = nj_conv2d_f32_kernel_reference();
    const nj_conv2d_f32_kernel *candidates[64];
    int candidate_count = 0;
    for (int ci = 0; ci < cap_count; ci++) {
        candidates[candidate_count++] = nj_conv2d_f32_kernel_select(args, caps ? (int)caps[ci] : -1);
    }
    if (caps) {
        for (int32_t i = 0; i < nj_conv2d_f32_kernel_count() && candidate_count < 64; i++) {
            const nj_conv2d_f32_kernel *k = nj_conv2d_f32_kernel_at(i);
            if (k->kernel_size == args->kernel_size && (!k->supports || k->supports(args)) &&
                nj_isa_supported(k->isa)) {
                candidates[candidate_count++] = k;
            }
        }
    }
    for (int i = 0; i < candidate_count && n < 16; i++) {
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= out[j] == candidates[i];
        if (!dup) out[n++] = candidates[i];
    }
    return n;
}

static void run_case(conv_shape s, int32_t width, int32_t height, const nj_isa *caps,
                     int cap_count) {
    const int32_t pad = (s.k - 1) / 2;
    const int32_t ipg = s.in_channels / s.groups;
    const int options = (int)rnd();
    const int with_bias = options & 1;
    const int with_residual = (options >> 1) & 1;
    const int with_lrelu = (options >> 2) & 1;
    const int guard_before = (options >> 3) & 1;
    const int full_range = ((options >> 4) & 3) == 0;
    const int threaded = ((options >> 7) & 3) == 0;

    int32_t row_begin = 0, row_end = height;
    if (!full_range) {
        row_begin = rnd_below(height);
        row_end = row_begin + 1 + rnd_below(height - row_begin);
    }
    // Buffers are rings (row y at row y mod rows): the input holds the rows the range needs,
    // the output and residual the rows of the range, each with 0-2 rows to spare, so rows
    // wrap around the ring's end wherever the range happens to fall.
    const int32_t in_lo = max_i(0, row_begin - pad), in_hi = min_i(height, row_end + pad);
    const int32_t in_rows = in_hi - in_lo + rnd_below(3);
    const size_t in_plane = (size_t)in_rows * width;
    const size_t in_stride = in_plane + (size_t)(rnd() % 3 == 0 ? rnd_below(40) : 0);
    const size_t in_count = in_stride * (s.in_channels - 1) + in_plane;
    const int32_t out_rows = row_end - row_begin + rnd_below(3);
    const size_t out_plane = (size_t)out_rows * width;
    const size_t out_stride = out_plane + (size_t)(rnd() % 3 == 0 ? rnd_below(40) : 0);
    const size_t out_count = out_stride * (s.out_channels - 1) + out_plane;
    const int32_t res_rows = row_end - row_begin + rnd_below(3);
    const size_t res_plane = (size_t)res_rows * width;
    const size_t res_stride = res_plane + (size_t)(rnd() % 2 == 0 ? rnd_below(40) : 0);
    const size_t res_count = res_stride * (s.out_channels - 1) + res_plane;
    const size_t w_count = (size_t)s.out_channels * ipg * s.k * s.k;

    float *input = guarded_alloc(in_count, guard_before);
    float *weights = guarded_alloc(w_count, !guard_before);
    float *bias = with_bias ? guarded_alloc((size_t)s.out_channels, guard_before) : NULL;
    float *residual = with_residual ? guarded_alloc(res_count, !guard_before) : NULL;
    float *expected = guarded_alloc(out_count, guard_before);
    float *got = guarded_alloc(out_count, !guard_before);
    float *again = guarded_alloc(out_count, guard_before);
    // Room for the largest packed layout (Winograd F(2x2, 5x5)'s 36 floats per filter pair).
    float *packed = guarded_alloc(nj_f32_conv2d_packed_count(NJ_WEIGHTS_WINOGRAD_2X2_5X5, s.out_channels, s.in_channels,
                                                             s.groups, s.k) + w_count, guard_before);

    // Ring rows that hold no needed row, and channel gaps, are NaN: a kernel that lets them
    // into a result fails.
    const float nan = bits_to_float(0x7fc00001u);
    for (size_t i = 0; i < in_count; i++) {
        const size_t c_off = i % in_stride;
        const int32_t row = c_off < in_plane ? ring_row((int32_t)(c_off / width), in_rows, in_lo, in_hi) : -1;
        input[i] = row >= 0 ? rnd_unit() : nan;
    }
    for (size_t i = 0; i < w_count; i++) weights[i] = rnd_unit();
    if (bias) for (int32_t i = 0; i < s.out_channels; i++) bias[i] = rnd_unit();
    if (residual) {
        for (size_t i = 0; i < res_count; i++) {
            const size_t c_off = i % res_stride;
            const int32_t row = c_off < res_plane ? ring_row((int32_t)(c_off / width), res_rows, row_begin, row_end) : -1;
            residual[i] = row >= 0 ? rnd_unit() : nan;
        }
    }
    for (size_t i = 0; i < out_count; i++) expected[i] = bits_to_float(SENTINEL);

    nj_conv2d_f32_args args;
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
    args.weights = weights;
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
    args.negative_slope = with_lrelu && (options & 64) ? 1.0f : 0.2f;
    nj_f32_conv2d_scalar(&args);

    // Each output's sum of |terms| (the bound scales with it), once for every kernel below.
    abs_terms abs = abs_terms_alloc(in_count, w_count, s.out_channels, res_count, out_count, bias != NULL, residual != NULL);
    for (size_t i = 0; i < in_count; i++) abs.input[i] = fabs(input[i]);
    for (size_t i = 0; i < w_count; i++) abs.weights[i] = fabs(weights[i]);
    if (bias) for (int32_t i = 0; i < s.out_channels; i++) abs.bias[i] = fabs(bias[i]);
    if (residual) for (size_t i = 0; i < res_count; i++) abs.residual[i] = fabs(residual[i]);
    const ring_conv geometry = {s.k, s.in_channels, s.out_channels, s.groups, height, width, row_begin, row_end,
                                in_rows, out_rows, res_rows, in_stride, out_stride, res_stride};
    ring_conv_sum_abs_terms(&geometry, abs.input, abs.weights, abs.bias, abs.residual, abs.sum);
    const double *mag = abs.sum;

    const int32_t opg = s.out_channels / s.groups;
    const nj_conv2d_f32_kernel *seen[16];
    const int seen_count = kernels_under_test(&args, caps, cap_count, seen, 0);
    for (int ki = 0; ki < seen_count; ki++) {
        const nj_conv2d_f32_kernel *kernel = seen[ki];
        const nj_conv2d_f32_fn fn = kernel->run;

        for (size_t i = 0; i < out_count; i++) got[i] = bits_to_float(SENTINEL);
        nj_f32_conv2d_pack_weights(kernel->weight_layout, weights, s.out_channels, s.in_channels,
                                   s.groups, s.k, packed);
        nj_conv2d_f32_args run = args;
        run.output = got;
        run.weights = packed;
        run.weight_stride = opg;
        if (threaded) {
            nj_threadpool_conv2d_f32(pool, kernel, &run);
        } else {
            fn(&run);
        }

        long bad = 0;
        double case_max = 0;
        char first[256] = "";
        for (int32_t oc = 0; oc < s.out_channels && bad < 1000; oc++) {
            for (int32_t r = 0; r < out_rows; r++) {
                const int32_t y = ring_row(r, out_rows, row_begin, row_end);
                const int in_range = y >= 0;
                for (int32_t x = 0; x < width; x++) {
                    const size_t idx = (size_t)oc * out_stride + (size_t)r * width + x;
                    const float e = expected[idx], v = got[idx];
                    if (!in_range) {
                        if (float_to_bits(v) != SENTINEL) {
                            if (!bad++) snprintf(first, sizeof first, "wrote into unused ring row %d of oc %d x %d", r, oc, x);
                        }
                        continue;
                    }
                    const double err = fabs((double)v - (double)e);
                    if (!(err <= 1e-5 * mag[idx] + 1e-30)) {
                        if (!bad++) snprintf(first, sizeof first, "oc %d y %d x %d: got %g want %g (mag %g)", oc, y, x, v, e, mag[idx]);
                    } else if (mag[idx] > 0 && err / mag[idx] > case_max) {
                        case_max = err / mag[idx];
                    }
                }
            }
            // Channel gap after this plane must be untouched.
            if (oc + 1 < s.out_channels) {
                for (size_t i = (size_t)oc * out_stride + out_plane; i < (size_t)(oc + 1) * out_stride; i++) {
                    if (float_to_bits(got[i]) != SENTINEL) {
                        if (!bad++) snprintf(first, sizeof first, "wrote into channel gap after oc %d", oc);
                    }
                }
            }
        }
        // The same rows cut differently (one row at a time, then two ranges split at a random
        // row) must give the same bits: the executor's bands and the pool's threads cut rows
        // wherever the frame and thread count fall, and streaming is checked bit for bit
        // against whole frames.
        if (!bad) {
            const int32_t split = row_begin + 1 + rnd_below(row_end - row_begin);
            for (int cut = 0; cut < 2 && !bad; cut++) {
                for (size_t i = 0; i < out_count; i++) again[i] = bits_to_float(SENTINEL);
                nj_conv2d_f32_args part = run;
                part.output = again;
                for (int32_t r = row_begin; r < row_end;) {
                    const int32_t end = cut == 0 ? r + 1 : (r < split ? split : row_end);
                    part.row_begin = r;
                    part.row_end = end;
                    fn(&part);
                    r = end;
                }
                for (size_t i = 0; i < out_count && !bad; i++) {
                    if (float_to_bits(again[i]) != float_to_bits(got[i])) {
                        bad++;
                        snprintf(first, sizeof first, "%s gives other bits at element %zu: %a against %a",
                                 cut == 0 ? "row by row" : "two ranges split at a row", i, again[i], got[i]);
                    }
                }
            }
        }
        if (case_max > max_rel_error) max_rel_error = case_max;
        if (bad) {
            failed++;
            if (failed <= 20) {
                printf("FAIL %s%s k%d %d->%d g%d %dx%d rows [%d,%d) ring rows in %d out %d res %d bias %d res %d lrelu %d: %ld bad, first: %s\n",
                       kernel->name, threaded ? " (3 threads)" : "", s.k, s.in_channels, s.out_channels, s.groups,
                       width, height, row_begin, row_end, in_rows, out_rows, res_rows, with_bias,
                       with_residual, with_lrelu, bad, first);
            }
        } else {
            passed++;
            if (verbose) printf("ok %s k%d %d->%d g%d %dx%d\n", kernel->name, s.k, s.in_channels, s.out_channels, s.groups, width, height);
        }
    }
    abs_terms_free(&abs);
    free_all();
}

// ---- Depth-to-space output ---------------------------------------------------------------
//
// A convolution with output_depth_to_space = r must store exactly what the same kernel stores
// without it, followed by nj_f32_pixel_shuffle_scalar: the sums are the same, only the
// addresses differ, so the comparison is bit for bit. Rows outside the computed range (at the
// larger image's scale: rows [row_begin·r, row_end·r)) and channel gaps keep a sentinel, and
// the output sits against a guard page. Runs every selectable kernel and the scalar reference,
// through the pool (which splits rows or output channels) and directly.
static void run_depth_to_space_case(conv_shape s, int32_t r, int32_t width, int32_t height, const nj_isa *caps,
                                    int cap_count) {
    const int options = (int)rnd();
    const int with_residual = options & 1, threaded = (options >> 1) & 1, guard_before = (options >> 2) & 1;
    const int32_t row_begin = rnd_below(height);
    const int32_t row_end = row_begin + 1 + rnd_below(height - row_begin);
    const int32_t ipg = s.in_channels / s.groups, opg = s.out_channels / s.groups;
    const int32_t planes = s.out_channels / (r * r);
    const size_t plane = (size_t)height * width, big_plane = plane * r * r;
    const size_t big_stride = big_plane + (size_t)rnd_below(5);
    const size_t w_count = (size_t)s.out_channels * ipg * s.k * s.k;

    float *input = guarded_alloc(plane * s.in_channels, guard_before);
    float *weights = guarded_alloc(w_count, !guard_before);
    float *packed = guarded_alloc(nj_f32_conv2d_packed_count(NJ_WEIGHTS_WINOGRAD_2X2_5X5, s.out_channels, s.in_channels,
                                                             s.groups, s.k) + w_count, guard_before);
    float *bias = guarded_alloc((size_t)s.out_channels, !guard_before);
    float *residual = with_residual ? guarded_alloc(plane * s.out_channels, guard_before) : NULL;
    float *plain = guarded_alloc(plane * s.out_channels, !guard_before);
    float *expected = guarded_alloc(big_stride * planes, guard_before);
    float *got = guarded_alloc(big_stride * planes, !guard_before);
    for (size_t i = 0; i < plane * s.in_channels; i++) input[i] = rnd_unit();
    for (size_t i = 0; i < w_count; i++) weights[i] = rnd_unit();
    for (int32_t i = 0; i < s.out_channels; i++) bias[i] = rnd_unit();
    if (residual) for (size_t i = 0; i < plane * s.out_channels; i++) residual[i] = rnd_unit();

    nj_conv2d_f32_args args;
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

    const nj_conv2d_f32_kernel *kernels[16];
    const int kernel_count = kernels_under_test(&args, caps, cap_count, kernels, 1);
    for (int ki = 0; ki < kernel_count; ki++) {
        const nj_conv2d_f32_kernel *kernel = kernels[ki];
        nj_f32_conv2d_pack_weights(kernel->weight_layout, weights, s.out_channels, s.in_channels, s.groups, s.k, packed);
        // Without the fold: the kernel's plain output, then the reference pixel shuffle.
        nj_conv2d_f32_args run = args;
        run.weights = packed;
        run.output = plain;
        run.output_channel_stride = plane;
        run.output_rows = height;
        kernel->run(&run);
        for (size_t i = 0; i < big_stride * planes; i++) expected[i] = got[i] = bits_to_float(SENTINEL);
        nj_f32_pixel_shuffle_scalar(plain, plane, height, s.out_channels, width, r, row_begin, row_end,
                                    expected, big_stride, height * r);
        // With it.
        run.output = got;
        run.output_channel_stride = big_stride;
        run.output_rows = height * r;
        run.output_depth_to_space = r;
        if (threaded) {
            nj_threadpool_conv2d_f32(pool, kernel, &run);
        } else {
            kernel->run(&run);
        }
        if (memcmp(expected, got, big_stride * planes * sizeof(float)) != 0) {
            failed++;
            size_t i = 0;
            while (float_to_bits(expected[i]) == float_to_bits(got[i])) i++;
            printf("FAIL %s%s depth-to-space %d: k%d %d->%d g%d %dx%d rows [%d,%d) res %d: first difference at %zu: got %g want %g\n",
                   kernel->name, threaded ? " (3 threads)" : "", r, s.k, s.in_channels, s.out_channels, s.groups,
                   width, height, row_begin, row_end, with_residual, i, got[i], expected[i]);
        } else {
            passed++;
        }
    }
    free_all();
}

// --quick keeps every third of the `nw` widths and the last, widest one.
static int quick_skips_width(int quick, int wi, int nw) { return quick && wi % 3 != 0 && wi != nw - 1; }

int main(int argc, char **argv) {
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    pool = nj_threadpool_create(3);
    if (!pool) {
        printf("kernels: cannot start threads\n");
        return 2;
    }
    verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    // --quick: every third width (the last, widest one always) at three heights, for an emulated
    // run of a path that full runs cover (the scalar cap under qemu: the reference, which every
    // other run computes as well).
    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;

    // Without NIGHTJAR_MAX_ISA: every level this machine supports, through
    // an explicit cap. With it: only the process-wide selection under that cap, and the
    // active level must be the best supported one within the cap.
    const nj_isa levels[] = {NJ_ISA_AVX512, NJ_ISA_AVX2, NJ_ISA_SSE41, NJ_ISA_NEON};
    nj_isa cap_storage[8];
    nj_isa *caps = cap_storage;
    int cap_count = 0;
    const char *env_cap = getenv("NIGHTJAR_MAX_ISA");
    if (env_cap && *env_cap) {
        const int cap = nj_isa_parse(env_cap);
        if (cap < 0) {
            printf("kernels: unknown NIGHTJAR_MAX_ISA=%s\n", env_cap);
            return 2;
        }
        nj_isa want = NJ_ISA_SCALAR;
        for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
            const int rank_i = levels[i] == NJ_ISA_NEON ? 1 : (int)levels[i];
            const int rank_cap = cap == NJ_ISA_NEON ? 1 : cap;
            if (nj_isa_supported(levels[i]) && rank_i <= rank_cap && want == NJ_ISA_SCALAR) {
                want = levels[i];
            }
        }
        if (nj_isa_active() != want) {
            printf("kernels: NIGHTJAR_MAX_ISA=%s gives active %s, expected %s\n", env_cap,
                   nj_isa_name(nj_isa_active()), nj_isa_name(want));
            return 1;
        }
        caps = NULL;
        cap_count = 1;
        printf("kernels: detected %s, NIGHTJAR_MAX_ISA=%s, active %s; testing the process-wide selection\n",
               nj_isa_name(nj_isa_detected()), env_cap, nj_isa_name(nj_isa_active()));
    } else {
        for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
            if (nj_isa_supported(levels[i])) caps[cap_count++] = levels[i];
        }
        printf("kernels: detected %s, active %s; testing:", nj_isa_name(nj_isa_detected()),
               nj_isa_name(nj_isa_active()));
        for (int i = 0; i < cap_count; i++) printf(" %s", nj_isa_name(caps[i]));
        printf("\n");
    }

    // Selection follows the 512-bit FMA port count: each count gets its own tiles where it
    // has any, and a kernel for the geometry either way.
    if (caps && nj_isa_supported(NJ_ISA_AVX512)) {
        const int32_t measured = nj_fma_ports();
        printf("kernels: 512-bit FMA ports %d (512/256-bit ratio %.2f)\n", measured,
               nj_fma512_to_256_ratio(3));
        for (int32_t ports = 1; ports <= 2; ports++) {
            nj_set_fma_ports(ports);
            for (int32_t k = 1; k <= 5; k += 2) {
                nj_conv2d_f32_args g;
                memset(&g, 0, sizeof g);
                g.kernel_size = k;
                const nj_conv2d_f32_kernel *chosen = nj_conv2d_f32_kernel_select(&g, NJ_ISA_AVX512);
                if (chosen->kernel_size != k || (chosen->fma_ports != 0 && chosen->fma_ports != ports)) {
                    printf("FAIL: %dx%d with %d FMA ports selects %s\n", k, k, ports, chosen->name);
                    failed++;
                } else {
                    passed++;
                }
            }
        }
        nj_set_fma_ports(measured);
    }

    static const conv_shape shapes[] = {
        // The network's convolutions.
        {5, 4, 12, 1}, {5, 24, 12, 1},                          // 1/2 scale
        {3, 64, 64, 1}, {3, 4, 64, 1}, {3, 128, 32, 4}, {3, 32, 192, 1},  // 1/8 scale
        {3, 1024, 128, 128}, {3, 128, 64, 1}, {3, 64, 32, 1}, {3, 96, 32, 1},
        {3, 160, 32, 1}, {3, 192, 32, 1},                       // 1/32 scale dense layers
        {1, 192, 64, 1}, {1, 224, 64, 1}, {1, 128, 64, 1},      // 1x1: RDB fusion, rdball
        // Odd ones: remainders of every block size, groups with several outputs each.
        {3, 3, 5, 1}, {1, 7, 13, 1}, {5, 5, 9, 1}, {3, 6, 9, 3}, {5, 2, 3, 1}, {1, 1, 1, 1},
        {3, 1, 1, 1}, {5, 1, 1, 1}, {3, 8, 15, 1}, {5, 6, 14, 2}, {1, 12, 30, 3}, {3, 16, 11, 1},
        {3, 16, 16, 1}, {3, 40, 20, 1}, {3, 17, 71, 1}, {3, 18, 23, 1},  // Winograd's channel chunks and tails:
        {5, 33, 25, 1},                                         // 3x3 (32 in, 64 out, blocks of 12), 5x5 (32 in, 24 out)
    };
    static const int32_t widths[] = {1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 100, 133};
    const int nw = (int)(sizeof(widths) / sizeof(widths[0]));
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        const conv_shape s = shapes[si];
        const long macs_per_pixel = (long)s.out_channels * (s.in_channels / s.groups) * s.k * s.k;
        for (int wi = 0; wi < nw; wi++) {
            if (quick_skips_width(quick, wi, nw)) continue;
            for (int32_t h = 1; h <= 9; h++) {
                // Big shapes (thousands of MACs per pixel): three heights per width, so the
                // emulated runs stay short; small ones: every height.
                if ((quick || macs_per_pixel > 4000) && !(h == 1 || h == 9 || h == 2 + (wi % 6))) continue;
                run_case(s, widths[wi], h, caps, cap_count);
            }
        }
    }
    // Depth-to-space outputs: the network's two (rdball 1x1 by 4 with a residual,
    // conv32_8_cat.1 3x3 by 4) and odd ones.
    static const struct { conv_shape s; int32_t r; } folds[] = {
        {{1, 192, 64, 1}, 4}, {{3, 32, 192, 1}, 4}, {{5, 24, 12, 1}, 2}, {{3, 6, 8, 2}, 2},
        {{1, 3, 27, 1}, 3}, {{3, 4, 16, 4}, 4},
    };
    for (size_t fi = 0; fi < sizeof(folds) / sizeof(folds[0]); fi++) {
        for (int wi = 0; wi < nw; wi++) {
            if (quick_skips_width(quick, wi, nw)) continue;
            for (int32_t h = 1; h <= 5; h += 2) {
                run_depth_to_space_case(folds[fi].s, folds[fi].r, widths[wi], h, caps, cap_count);
            }
        }
    }
    printf("kernels: %ld passed, %ld failed (max error %.3g of sum |terms|)\n", passed, failed,
           max_rel_error);
    nj_threadpool_destroy(pool);
    return failed ? 1 : 0;
}
