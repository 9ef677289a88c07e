// Bulk binary16 <-> binary32 conversions (model loading, the network's input and output, the
// windows where precisions meet): the scalar references, and the dispatch to the ISA forms.
#include "nightjar_kernels.h"
#include "nj-convert-internal.h"
#include "nj-f16.h"

void nj_f32_to_f16_scalar(const float *input, uint16_t *output, size_t count) {
    for (size_t i = 0; i < count; i++) {
        output[i] = nj_f32_to_f16_bits(input[i]);
    }
}

void nj_f16_to_f32_scalar(const uint16_t *input, float *output, size_t count) {
    for (size_t i = 0; i < count; i++) {
        output[i] = nj_f16_bits_to_f32(input[i]);
    }
}

void nj_f16_leaky_relu_scalar(const uint16_t *input, uint16_t *output, size_t count, float slope) {
    for (size_t i = 0; i < count; i++) {
        const float v = nj_f16_bits_to_f32(input[i]);
        output[i] = nj_f32_to_f16_bits(v >= 0.0f ? v : v * slope);
    }
}

void nj_f16_leaky_relu(const uint16_t *input, uint16_t *output, size_t count, float slope) {
#if defined(__x86_64__)
    if (nj_cpu_features_active() & NJ_CPU_F16C) {
        nj_f16_leaky_relu_f16c(input, output, count, slope);
        return;
    }
#elif defined(__aarch64__)
    if (nj_cpu_features_active() & NJ_CPU_NEON) {
        nj_f16_leaky_relu_neon(input, output, count, slope);
        return;
    }
#endif
    nj_f16_leaky_relu_scalar(input, output, count, slope);
}

void nj_f32_to_f16(const float *input, uint16_t *output, size_t count) {
#if defined(__x86_64__)
    if (nj_cpu_features_active() & NJ_CPU_F16C) {
        nj_f32_to_f16_f16c(input, output, count);
        return;
    }
#elif defined(__aarch64__)
    if (nj_cpu_features_active() & NJ_CPU_NEON) {
        nj_f32_to_f16_neon(input, output, count);
        return;
    }
#endif
    nj_f32_to_f16_scalar(input, output, count);
}

void nj_f16_to_f32(const uint16_t *input, float *output, size_t count) {
#if defined(__x86_64__)
    if (nj_cpu_features_active() & NJ_CPU_F16C) {
        nj_f16_to_f32_f16c(input, output, count);
        return;
    }
#elif defined(__aarch64__)
    if (nj_cpu_features_active() & NJ_CPU_NEON) {
        nj_f16_to_f32_neon(input, output, count);
        return;
    }
#endif
    nj_f16_to_f32_scalar(input, output, count);
}
