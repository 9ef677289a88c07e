// int8 activation conversions in bulk (the network's input and output, the windows where
// precisions meet, calibration): the scalar references, and the dispatch to the ISA forms.
#include <math.h>

#include "nightjar_kernels.h"
#include "nj-convert-internal.h"

void nj_qs8_quantize_scalar(const float *input, int8_t *output, size_t count, nj_qs8_quantization q) {
    const float lo = (float)(-128 - q.zero_point), hi = (float)(127 - q.zero_point);
    for (size_t i = 0; i < count; i++) {
        float v = nearbyintf(input[i] / q.scale);  // the default rounding mode: half to even
        if (!(v >= lo)) v = v != v ? 0.0f : lo;      // NaN: the zero point
        if (v > hi) v = hi;
        output[i] = (int8_t)((int32_t)v + q.zero_point);
    }
}

void nj_qs8_dequantize_scalar(const int8_t *input, float *output, size_t count, nj_qs8_quantization q) {
    for (size_t i = 0; i < count; i++) {
        output[i] = q.scale * (float)((int32_t)input[i] - q.zero_point);
    }
}

void nj_qs8_quantize(const float *input, int8_t *output, size_t count, nj_qs8_quantization q) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features_active();
    if (features & NJ_CPU_AVX512) {
        nj_qs8_quantize_avx512(input, output, count, q);
        return;
    }
    if (features & NJ_CPU_AVX2) {
        nj_qs8_quantize_avx2(input, output, count, q);
        return;
    }
#elif defined(__aarch64__)
    if (nj_cpu_features_active() & NJ_CPU_NEON) {
        nj_qs8_quantize_neon(input, output, count, q);
        return;
    }
#endif
    nj_qs8_quantize_scalar(input, output, count, q);
}

void nj_qs8_dequantize(const int8_t *input, float *output, size_t count, nj_qs8_quantization q) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features_active();
    if (features & NJ_CPU_AVX512) {
        nj_qs8_dequantize_avx512(input, output, count, q);
        return;
    }
    if (features & NJ_CPU_AVX2) {
        nj_qs8_dequantize_avx2(input, output, count, q);
        return;
    }
#elif defined(__aarch64__)
    if (nj_cpu_features_active() & NJ_CPU_NEON) {
        nj_qs8_dequantize_neon(input, output, count, q);
        return;
    }
#endif
    nj_qs8_dequantize_scalar(input, output, count, q);
}

void nj_qs8_leaky_relu_scalar(const int8_t *input, int8_t *output, size_t count, int32_t zero_point, float slope) {
    // Adding and subtracting 1.5 * 2^23 rounds a float of magnitude below 2^22 to an integer,
    // half to even, in the default rounding mode; no libm call in the loop, so it vectorises.
    // The product is formed exactly in double (9 by 24 bits) and rounded to binary32 by the
    // conversion: written in float, GCC fused it with the add into one FMA (its default
    // -ffp-contract=fast), skipping the product's rounding (seen on aarch64).
    const float magic = 12582912.0f;
    for (size_t i = 0; i < count; i++) {
        const int32_t q = (int32_t)input[i] - zero_point;
        const float product = (float)((double)q * (double)slope);
        const float rounded = (product + magic) - magic;
        int32_t v = zero_point + (int32_t)rounded;
        v = v < -128 ? -128 : v > 127 ? 127 : v;
        output[i] = q >= 0 ? input[i] : (int8_t)v;
    }
}

void nj_qs8_leaky_relu(const int8_t *input, int8_t *output, size_t count, int32_t zero_point, float slope) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features_active();
    if (features & NJ_CPU_AVX512) {
        nj_qs8_leaky_relu_avx512(input, output, count, zero_point, slope);
        return;
    }
    if (features & NJ_CPU_AVX2) {
        nj_qs8_leaky_relu_avx2(input, output, count, zero_point, slope);
        return;
    }
#endif
    // AArch64: the C loop, which compilers vectorise with NEON (baseline there).
    nj_qs8_leaky_relu_scalar(input, output, count, zero_point, slope);
}
