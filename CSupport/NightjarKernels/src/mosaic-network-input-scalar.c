// The network's input rows from a mosaic (nightjar_kernels.h, nj_u16_network_input_row): a
// table read, a multiply and a store per value. Written once in plain C: the loop is bound by
// its dependent loads (source column, raw value, table entry), which no vector form here made
// cheaper; what it replaced was a Swift loop with overflow checks per index.
//
// The binary16 forms (nightjar_kernels_f16.h) round the same FP32 product once, so an FP16
// network's input has the bits nj_f32_to_f16 gives of the FP32 input; the F16C forms
// (mosaic-network-input-f16c.c) do the rounding in one instruction.
#include "nightjar_kernels.h"
#include "nj-convert-internal.h"
#include "nj-f16.h"
#include "nj-network-input.h"

NJ_NETWORK_INPUT_ROW(nj_u16_network_input_row, uint16_t, float, )
NJ_NETWORK_INPUT_ROW(nj_u8_network_input_row, uint8_t, float, )
NJ_NETWORK_INPUT_ROW(nj_u16_network_input_row_f16_scalar, uint16_t, uint16_t, nj_f32_to_f16_bits)
NJ_NETWORK_INPUT_ROW(nj_u8_network_input_row_f16_scalar, uint8_t, uint16_t, nj_f32_to_f16_bits)

// Dispatch of the binary16 forms by the active features.
#if defined(__x86_64__)
#define NJ_F16C_FORM(NAME, ...)                                     \
    if (nj_cpu_features_active() & NJ_CPU_F16C) {                  \
        NAME##_f16c(__VA_ARGS__);                                   \
        return;                                                     \
    }
#else
#define NJ_F16C_FORM(NAME, ...)
#endif
#define NJ_NETWORK_INPUT_ROW_F16_DISPATCH(NAME, T)                                                     \
    void NAME(uint16_t *out, size_t channel_stride, int32_t split, const T *row, const intptr_t *sources, \
              const float *table_even, const float *table_odd, float amplification, size_t count) {      \
        NJ_F16C_FORM(NAME, out, channel_stride, split, row, sources, table_even, table_odd, amplification, count) \
        NAME##_scalar(out, channel_stride, split, row, sources, table_even, table_odd, amplification, count);     \
    }

NJ_NETWORK_INPUT_ROW_F16_DISPATCH(nj_u16_network_input_row_f16, uint16_t)
NJ_NETWORK_INPUT_ROW_F16_DISPATCH(nj_u8_network_input_row_f16, uint8_t)
