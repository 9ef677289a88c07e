// Scalar element-wise operations.
#include "nightjar_kernels.h"

void nj_f32_leaky_relu_scalar(const float *input, float *output, size_t count, float slope) {
    for (size_t i = 0; i < count; i++) {
        const float v = input[i];
        output[i] = v >= 0.0f ? v : v * slope;
    }
}

void nj_f32_clamp_scalar(float *data, size_t count, float lo, float hi) {
    for (size_t i = 0; i < count; i++) {
        const float v = data[i];
        // Written so that NaN fails the first test and lands on lo.
        data[i] = v >= lo ? (v <= hi ? v : hi) : lo;
    }
}
