// The network's input rows from a mosaic (nightjar_kernels.h, nj_u16_network_input_row): a
// table read, a multiply and a store per value. Written once in plain C: the loop is bound by
// its dependent loads (raw value, table entry, and the source column outside the frame's
// interior: nj-network-input.h), which no vector form here made cheaper; what it replaced was
// a Swift loop with overflow checks per index.
//
// The binary16 forms (nightjar_kernels_f16.h) round the same FP32 product once, so an FP16
// network's input has the bits nj_f32_to_f16 gives of the FP32 input; the F16C forms
// (mosaic-network-input-f16c.c) do the rounding in one instruction. The int8 forms
// (nightjar_kernels_qs8.h) quantise the same FP32 value as nj_qs8_quantize does.
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-convert-internal.h"
#include "nj-f16.h"
#include "nj-network-input.h"

NJ_NETWORK_INPUT_ROW(nj_u16_network_input_row, uint16_t, float, )
NJ_NETWORK_INPUT_ROW(nj_u8_network_input_row, uint8_t, float, )
NJ_NETWORK_INPUT_ROW(nj_u16_network_input_row_f16_scalar, uint16_t, uint16_t, nj_f32_to_f16_bits)
NJ_NETWORK_INPUT_ROW(nj_u8_network_input_row_f16_scalar, uint8_t, uint16_t, nj_f32_to_f16_bits)

// The int8 forms, a chunk of column pairs at a time: the FP32 form (F32_FORM) writes the
// chunk's values into a stack buffer, as two planes of one split, so they are its values
// exactly; nj_qs8_quantize (its vector forms: a division per value, which one value at a time
// cost the row more than the rest of its work) quantises them there; then they go into the
// planes. With split 1 the chunk's codes are contiguous in each plane.
#define NJ_QS8_CHUNK 128
#define NJ_NETWORK_INPUT_ROW_QS8(NAME, T, F32_FORM)                                                     \
    void NAME(int8_t *out, size_t channel_stride, int32_t split, const T *row, const intptr_t *sources, \
              const float *table_even, const float *table_odd, float amplification, nj_qs8_quantization q, \
              size_t count) {                                                                           \
        const size_t mask = (size_t)split - 1, pairs = count / 2;                                       \
        const int shift = __builtin_ctz((unsigned)split);                                               \
        int8_t *odd_planes = out + (size_t)split * (size_t)split * channel_stride;                      \
        float values[2][NJ_QS8_CHUNK];                                                                  \
        int8_t codes[2][NJ_QS8_CHUNK];                                                                  \
        for (size_t h0 = 0; h0 < pairs; h0 += NJ_QS8_CHUNK) {                                           \
            const size_t n = pairs - h0 < NJ_QS8_CHUNK ? pairs - h0 : NJ_QS8_CHUNK;                     \
            F32_FORM(values[0], NJ_QS8_CHUNK, 1, row, sources + 2 * h0, table_even, table_odd,          \
                     amplification, 2 * n);                                                             \
            nj_qs8_quantize(values[0], codes[0], n, q);                                                 \
            nj_qs8_quantize(values[1], codes[1], n, q);                                                 \
            if (split == 1) {                                                                           \
                memcpy(out + h0, codes[0], n);                                                          \
                memcpy(odd_planes + h0, codes[1], n);                                                   \
                continue;                                                                               \
            }                                                                                           \
            for (size_t i = 0; i < n; i++) {                                                            \
                const size_t h = h0 + i, at = (h & mask) * channel_stride + (h >> shift);               \
                out[at] = codes[0][i];                                                                  \
                odd_planes[at] = codes[1][i];                                                           \
            }                                                                                           \
        }                                                                                               \
    }

NJ_NETWORK_INPUT_ROW_QS8(nj_u16_network_input_row_qs8, uint16_t, nj_u16_network_input_row)

// From 8-bit codes a site has 256 values, so the row's two tables are quantised whole first
// (512 values: each the FP32 form's product, quantised by nj_qs8_quantize) and each column is
// one byte read, where the chunked form above took a product, a buffer round trip and a
// quantisation per column. A 12.1 MP frame's rows, one thread (Zen 5): 6.2 -> 5.6 ms at split
// 1, 8.8 -> 5.6 ms at split 16; what remains is the column map's and the row's loads.
void nj_u8_network_input_codes(int8_t codes[2][256], const float *table_even, const float *table_odd,
                               float amplification, nj_qs8_quantization q) {
    float values[2][256];
    for (int v = 0; v < 256; v++) {
        values[0][v] = table_even[v] * amplification;
        values[1][v] = table_odd[v] * amplification;
    }
    nj_qs8_quantize(values[0], codes[0], 256, q);
    nj_qs8_quantize(values[1], codes[1], 256, q);
}

void nj_u8_network_input_row_qs8_scalar(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                        const intptr_t *sources, const float *table_even, const float *table_odd,
                                        float amplification, nj_qs8_quantization q, size_t count) {
    int8_t codes[2][256];
    nj_u8_network_input_codes(codes, table_even, table_odd, amplification, q);
    const size_t pairs = count / 2;
    for (size_t h0 = 0; h0 < pairs; h0 += NJ_INPUT_RUN_PAIRS) {
        const size_t n = pairs - h0 < NJ_INPUT_RUN_PAIRS ? pairs - h0 : NJ_INPUT_RUN_PAIRS;
        nj_u8_input_chunk_qs8(out, channel_stride, split, row, sources, (const int8_t(*)[256])codes, h0, n);
    }
}

void nj_u8_network_input_row_qs8(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                 const intptr_t *sources, const float *table_even, const float *table_odd,
                                 float amplification, nj_qs8_quantization q, size_t count) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features_active();
    if ((features & NJ_CPU_AVX512) && (features & NJ_CPU_AVX512_VBMI)) {
        nj_u8_network_input_row_qs8_avx512vbmi(out, channel_stride, split, row, sources, table_even, table_odd,
                                               amplification, q, count);
        return;
    }
    if (features & NJ_CPU_AVX2) {
        nj_u8_network_input_row_qs8_avx2(out, channel_stride, split, row, sources, table_even, table_odd, amplification,
                                         q, count);
        return;
    }
#elif defined(__aarch64__)
    if (nj_cpu_features_active() & NJ_CPU_NEON) {
        nj_u8_network_input_row_qs8_neon(out, channel_stride, split, row, sources, table_even, table_odd, amplification,
                                         q, count);
        return;
    }
#endif
    nj_u8_network_input_row_qs8_scalar(out, channel_stride, split, row, sources, table_even, table_odd,
                                       amplification, q, count);
}

// Dispatch of the binary16 forms by the active features: F16C on x86-64, NEON's conversions on
// AArch64.
#if defined(__x86_64__)
#define NJ_F16_FORM(NAME, ...)                                     \
    if (nj_cpu_features_active() & NJ_CPU_F16C) {                  \
        NAME##_f16c(__VA_ARGS__);                                   \
        return;                                                     \
    }
#elif defined(__aarch64__)
#define NJ_F16_FORM(NAME, ...)                                     \
    if (nj_cpu_features_active() & NJ_CPU_NEON) {                  \
        NAME##_neon(__VA_ARGS__);                                   \
        return;                                                     \
    }
#else
#define NJ_F16_FORM(NAME, ...)
#endif
#define NJ_NETWORK_INPUT_ROW_F16_DISPATCH(NAME, T)                                                     \
    void NAME(uint16_t *out, size_t channel_stride, int32_t split, const T *row, const intptr_t *sources, \
              const float *table_even, const float *table_odd, float amplification, size_t count) {      \
        NJ_F16_FORM(NAME, out, channel_stride, split, row, sources, table_even, table_odd, amplification, count) \
        NAME##_scalar(out, channel_stride, split, row, sources, table_even, table_odd, amplification, count);     \
    }

NJ_NETWORK_INPUT_ROW_F16_DISPATCH(nj_u16_network_input_row_f16, uint16_t)
NJ_NETWORK_INPUT_ROW_F16_DISPATCH(nj_u8_network_input_row_f16, uint8_t)
