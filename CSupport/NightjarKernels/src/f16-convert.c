// Bulk binary16 <-> binary32 conversions (model loading, the network's input and output).
#include "nightjar_kernels.h"
#include "nj-f16.h"

void nj_f32_to_f16(const float *input, uint16_t *output, size_t count) {
    for (size_t i = 0; i < count; i++) {
        output[i] = nj_f32_to_f16_bits(input[i]);
    }
}

void nj_f16_to_f32(const uint16_t *input, float *output, size_t count) {
    for (size_t i = 0; i < count; i++) {
        output[i] = nj_f16_bits_to_f32(input[i]);
    }
}
