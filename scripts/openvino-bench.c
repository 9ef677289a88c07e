// OpenVINO's CPU plugin timed through its C library, for a machine without Python or a network
// (docs/measurements.md, "Intel Xeon with AVX512-FP16, a lent machine"): the same measurement as
// bench-peers.py's OpenVINO worker (compile with these properties, one warm-up, N timed runs).
// The openvino wheel ships the libraries but not the C headers, so the few entry points used
// are declared here. Build on a machine with the peers' venv, then copy the program, the
// libraries named below and the IR to the other machine:
//   L=~/.cache/nightjar-peers/lib/python3*/site-packages/openvino/libs
//   P=~/.cache/nightjar-peers/bin/python
//   $P scripts/bench-peers.py --prepare --work W --sizes 12mp   # W/network-4256x2848.onnx
//   $P -c "import openvino as ov; ov.save_model(ov.Core().read_model('W/network-4256x2848.onnx'), 'W/net.xml', compress_to_fp16=False)"
//   cc -O2 scripts/openvino-bench.c $L/libopenvino_c.so.* -Wl,-rpath,'$ORIGIN/ovlibs' -o W/openvino-bench
//   mkdir W/ovlibs; cp $L/libopenvino_c.so.* $L/libopenvino.so.* $L/libopenvino_intel_cpu_plugin.so W/ovlibs/
//   cp $L/libopenvino_ir_frontend.so.* $L/libtbb*.so.* $L/libhwloc.so.* W/ovlibs/
//   W/openvino-bench W/net.xml W/net.bin 2 5 f32
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef struct ov_core ov_core_t;
typedef struct ov_model ov_model_t;
typedef struct ov_compiled_model ov_compiled_model_t;
typedef struct ov_infer_request ov_infer_request_t;
typedef struct ov_tensor ov_tensor_t;
typedef int ov_status_e;
ov_status_e ov_core_create(ov_core_t **core);
ov_status_e ov_core_read_model(const ov_core_t *core, const char *xml, const char *bin, ov_model_t **model);
ov_status_e ov_core_compile_model(const ov_core_t *core, const ov_model_t *model, const char *device, size_t nargs,
                                  ov_compiled_model_t **compiled, ...);
ov_status_e ov_compiled_model_create_infer_request(const ov_compiled_model_t *compiled, ov_infer_request_t **req);
ov_status_e ov_compiled_model_get_property(const ov_compiled_model_t *compiled, const char *key, char **value);
ov_status_e ov_infer_request_get_input_tensor(const ov_infer_request_t *req, ov_tensor_t **tensor);
ov_status_e ov_tensor_data(const ov_tensor_t *tensor, void **data);
ov_status_e ov_tensor_get_byte_size(const ov_tensor_t *tensor, size_t *bytes);
ov_status_e ov_infer_request_infer(ov_infer_request_t *req);
const char *ov_get_error_info(ov_status_e status);

#define CHECK(call) do { ov_status_e s_ = (call); if (s_) { fprintf(stderr, "%s: %s\n", #call, ov_get_error_info(s_)); exit(1); } } while (0)
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: ovbench MODEL.xml MODEL.bin THREADS RUNS [f32|bf16|f16]\n"); return 64; }
    const char *precision = argc > 5 ? argv[5] : "f32";
    int runs = atoi(argv[4]);
    ov_core_t *core; ov_model_t *model; ov_compiled_model_t *compiled; ov_infer_request_t *req; ov_tensor_t *in;
    CHECK(ov_core_create(&core));
    CHECK(ov_core_read_model(core, argv[1], argv[2], &model));
    CHECK(ov_core_compile_model(core, model, "CPU", 8, &compiled, "INFERENCE_PRECISION_HINT", precision,
                                "INFERENCE_NUM_THREADS", argv[3], "PERFORMANCE_HINT", "LATENCY", "NUM_STREAMS", "1"));
    char *ran = NULL;
    CHECK(ov_compiled_model_get_property(compiled, "INFERENCE_PRECISION_HINT", &ran));
    CHECK(ov_compiled_model_create_infer_request(compiled, &req));
    CHECK(ov_infer_request_get_input_tensor(req, &in));
    void *data; size_t bytes;
    CHECK(ov_tensor_data(in, &data));
    CHECK(ov_tensor_get_byte_size(in, &bytes));
    // A dark mosaic's values after the amplifier: small positives with noise.
    float *x = data; unsigned seed = 1;
    for (size_t i = 0; i < bytes / 4; i++) { seed = seed * 1664525u + 1013904223u; x[i] = (seed >> 8) * (1.0f / 16777216.0f) * 0.25f; }
    CHECK(ov_infer_request_infer(req));  // warm-up
    double *t = calloc((size_t)runs, sizeof *t);
    for (int i = 0; i < runs; i++) { double s = now(); CHECK(ov_infer_request_infer(req)); t[i] = now() - s; printf("run %d %.4f s\n", i, t[i]); }
    qsort(t, (size_t)runs, sizeof *t, cmp);
    printf("openvino %s (ran %s), %s threads: median %.4f s (min %.4f, max %.4f, %d runs)\n", precision, ran ? ran : "?", argv[3],
           t[runs / 2], t[0], t[runs - 1], runs);
    return 0;
}
