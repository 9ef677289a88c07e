// Register-resident FMA loops: 12 independent accumulators hide the FMA latency, so the loop
// runs at the core's multiply-add throughput. One variant per ISA, chosen at run time.
#include <time.h>

#include "nightjar_kernels.h"
#include "nightjar_peak.h"

// CPU time of this thread: another process taking the core away does not count.
static double thread_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define ACCUMULATORS 12

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static int64_t peak_avx512(int64_t iterations, float *sink) {
    __m512 acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_set1_ps((float)i * 0.001f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int64_t n = 0; n < iterations; n++) {
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 total = acc[0];
    for (int i = 1; i < ACCUMULATORS; i++) total = _mm512_add_ps(total, acc[i]);
    *sink = _mm512_reduce_add_ps(total);
    return iterations * ACCUMULATORS * 16;
}

__attribute__((target("avx2,fma"))) static int64_t peak_avx2(int64_t iterations, float *sink) {
    __m256 acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm256_set1_ps((float)i * 0.001f);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int64_t n = 0; n < iterations; n++) {
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    __m256 total = acc[0];
    for (int i = 1; i < ACCUMULATORS; i++) total = _mm256_add_ps(total, acc[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, total);
    *sink = lanes[0] + lanes[7];
    return iterations * ACCUMULATORS * 8;
}

static int has_avx512(void) { return __builtin_cpu_supports("avx512f"); }
static int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
// The widest unit the kernels may use (NIGHTJAR_MAX_ISA): a run capped at AVX2 is compared
// with the AVX2 peak, as on a machine without AVX-512.
static int peak_avx512_allowed(void) { return has_avx512() && nj_isa_active() >= NJ_ISA_AVX512; }
static int peak_avx2_allowed(void) { return has_avx2() && nj_isa_active() >= NJ_ISA_AVX2; }

int64_t nj_f32_fma_peak_run(int64_t iterations, float *sink) {
    if (peak_avx512_allowed()) return peak_avx512(iterations, sink);
    if (peak_avx2_allowed()) return peak_avx2(iterations, sink);
    // SSE without FMA: a multiply and an add per lane stand for one multiply-accumulate.
    __m128 acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm_set1_ps((float)i * 0.001f);
    const __m128 a = _mm_set1_ps(0.999999f), b = _mm_set1_ps(1e-7f);
    for (int64_t n = 0; n < iterations; n++) {
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], a), b);
    }
    float lanes[4];
    _mm_storeu_ps(lanes, acc[0]);
    *sink = lanes[0];
    return iterations * ACCUMULATORS * 4;
}

int32_t nj_f32_fma_peak_lanes(void) { return peak_avx512_allowed() ? 16 : peak_avx2_allowed() ? 8 : 4; }

double nj_fma512_to_256_ratio(int32_t rounds) {
    if (!has_avx512()) {
        return 0;
    }
    float sink;
    const int64_t iterations = 50000;  // about 0.3 ms of 512-bit FMAs on a 2 GHz two-port core
    peak_avx512(iterations, &sink);    // wakes the 512-bit unit (it starts at reduced rate)
    double best512 = 0, best256 = 0;
    for (int32_t r = 0; r < (rounds > 0 ? rounds : 1); r++) {
        double t0 = thread_seconds();
        const double lanes512 = (double)peak_avx512(iterations, &sink);
        double t = thread_seconds() - t0;
        if (t > 0 && lanes512 / t > best512) best512 = lanes512 / t;
        t0 = thread_seconds();
        const double lanes256 = (double)peak_avx2(iterations, &sink);
        t = thread_seconds() - t0;
        if (t > 0 && lanes256 / t > best256) best256 = lanes256 / t;
    }
    return best256 > 0 ? best512 / best256 : 0;
}

#elif defined(__aarch64__)
#include <arm_neon.h>

int64_t nj_f32_fma_peak_run(int64_t iterations, float *sink) {
    float32x4_t acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = vdupq_n_f32((float)i * 0.001f);
    const float32x4_t a = vdupq_n_f32(0.999999f), b = vdupq_n_f32(1e-7f);
    for (int64_t n = 0; n < iterations; n++) {
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = vfmaq_f32(b, acc[i], a);
    }
    float32x4_t total = acc[0];
    for (int i = 1; i < ACCUMULATORS; i++) total = vaddq_f32(total, acc[i]);
    *sink = vaddvq_f32(total);
    return iterations * ACCUMULATORS * 4;
}

int32_t nj_f32_fma_peak_lanes(void) { return 4; }

double nj_fma512_to_256_ratio(int32_t rounds) {
    (void)rounds;
    (void)thread_seconds;
    return 0;
}

#else

int64_t nj_f32_fma_peak_run(int64_t iterations, float *sink) {
    float acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = (float)i * 0.001f;
    for (int64_t n = 0; n < iterations; n++) {
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
    }
    *sink = acc[0];
    return iterations * ACCUMULATORS;
}

int32_t nj_f32_fma_peak_lanes(void) { return 1; }

double nj_fma512_to_256_ratio(int32_t rounds) {
    (void)rounds;
    (void)thread_seconds;
    return 0;
}

#endif

typedef struct peak_job {
    int64_t iterations;
    int64_t macs[256];
    float sinks[256];
} peak_job;

static void peak_task(void *raw, int32_t index, int32_t count) {
    (void)count;
    peak_job *job = raw;
    if (index < 256) {
        job->macs[index] = nj_f32_fma_peak_run(job->iterations, &job->sinks[index]);
    }
}

int64_t nj_f32_fma_peak_run_parallel(nj_threadpool *pool, int64_t iterations) {
    peak_job job = {.iterations = iterations};
    nj_threadpool_run(pool, peak_task, &job);
    int64_t total = 0;
    for (int i = 0; i < 256; i++) total += job.macs[i];
    return total;
}
