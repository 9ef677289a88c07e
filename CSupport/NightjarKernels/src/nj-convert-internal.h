// The per-ISA forms of the bulk conversions (internal: nj_qs8_quantize, nj_qs8_dequantize,
// nj_f32_to_f16, nj_f16_to_f32 and the binary16 network input rows dispatch to them by the
// active CPU features). Each computes exactly what its scalar reference does (see the public
// headers), element for element.
#ifndef NJ_CONVERT_INTERNAL_H
#define NJ_CONVERT_INTERNAL_H

#include "nightjar_kernels.h"

// The codes of an int8 row's two tables (nj_u8_network_input_row_qs8): codes[p][v] is
// table_p[v] * amplification quantised by nj_qs8_quantize.
void nj_u8_network_input_codes(int8_t codes[2][256], const float *table_even, const float *table_odd,
                               float amplification, nj_qs8_quantization q);
void nj_u8_network_input_row_qs8_scalar(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                        const intptr_t *sources, const float *table_even, const float *table_odd,
                                        float amplification, nj_qs8_quantization q, size_t count);

void nj_qs8_leaky_relu_scalar(const int8_t *input, int8_t *output, size_t count, int32_t zero_point, float slope);

#if defined(__x86_64__)
void nj_qs8_leaky_relu_avx2(const int8_t *input, int8_t *output, size_t count, int32_t zero_point, float slope);
void nj_qs8_leaky_relu_avx512(const int8_t *input, int8_t *output, size_t count, int32_t zero_point, float slope);
void nj_u8_network_input_row_qs8_avx512vbmi(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                            const intptr_t *sources, const float *table_even, const float *table_odd,
                                            float amplification, nj_qs8_quantization q, size_t count);
void nj_u8_network_input_row_qs8_avx2(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                      const intptr_t *sources, const float *table_even, const float *table_odd,
                                      float amplification, nj_qs8_quantization q, size_t count);
void nj_qs8_quantize_avx2(const float *input, int8_t *output, size_t count, nj_qs8_quantization q);
void nj_qs8_dequantize_avx2(const int8_t *input, float *output, size_t count, nj_qs8_quantization q);
void nj_qs8_quantize_avx512(const float *input, int8_t *output, size_t count, nj_qs8_quantization q);
void nj_qs8_dequantize_avx512(const int8_t *input, float *output, size_t count, nj_qs8_quantization q);
void nj_f32_to_f16_f16c(const float *input, uint16_t *output, size_t count);
void nj_f16_to_f32_f16c(const uint16_t *input, float *output, size_t count);
void nj_f16_leaky_relu_f16c(const uint16_t *input, uint16_t *output, size_t count, float slope);
void nj_u16_network_input_row_f16_f16c(uint16_t *out, size_t channel_stride, int32_t split, const uint16_t *row,
                                       const intptr_t *sources, const float *table_even, const float *table_odd,
                                       float amplification, size_t count);
void nj_u8_network_input_row_f16_f16c(uint16_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                      const intptr_t *sources, const float *table_even, const float *table_odd,
                                      float amplification, size_t count);
#endif

#if defined(__aarch64__)
void nj_u8_network_input_row_qs8_neon(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                      const intptr_t *sources, const float *table_even, const float *table_odd,
                                      float amplification, nj_qs8_quantization q, size_t count);
void nj_qs8_quantize_neon(const float *input, int8_t *output, size_t count, nj_qs8_quantization q);
void nj_qs8_dequantize_neon(const int8_t *input, float *output, size_t count, nj_qs8_quantization q);
void nj_f32_to_f16_neon(const float *input, uint16_t *output, size_t count);
void nj_f16_to_f32_neon(const uint16_t *input, float *output, size_t count);
void nj_f16_leaky_relu_neon(const uint16_t *input, uint16_t *output, size_t count, float slope);
void nj_u16_network_input_row_f16_neon(uint16_t *out, size_t channel_stride, int32_t split, const uint16_t *row,
                                       const intptr_t *sources, const float *table_even, const float *table_odd,
                                       float amplification, size_t count);
void nj_u8_network_input_row_f16_neon(uint16_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                      const intptr_t *sources, const float *table_even, const float *table_odd,
                                      float amplification, size_t count);
#endif

#endif
