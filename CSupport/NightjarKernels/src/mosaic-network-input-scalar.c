// The network's input rows from a mosaic (nightjar_kernels.h, nj_u16_network_input_row): a
// table read, a multiply and a store per value. Written once in plain C: the loop is bound by
// its dependent loads (source column, raw value, table entry), which no vector form here made
// cheaper; what it replaced was a Swift loop with overflow checks per index.
#include "nightjar_kernels.h"

#define NJ_NETWORK_INPUT_ROW(NAME, T)                                                              \
    void NAME(float *out, size_t channel_stride, int32_t split, const T *row, const intptr_t *sources, \
              const float *table_even, const float *table_odd, float amplification, size_t count) {   \
        const float *tables[2] = {table_even, table_odd};                                          \
        const size_t mask = (size_t)split - 1;                                                     \
        const int shift = __builtin_ctz((unsigned)split);                                          \
        /* Even columns go to planes 0 … split − 1, odd ones to the split² planes after them. */   \
        float *odd_planes = out + (size_t)split * (size_t)split * channel_stride;                  \
        for (size_t h = 0; h < count / 2; h++) {                                                   \
            const size_t at = (h & mask) * channel_stride + (h >> shift);                          \
            const intptr_t s0 = sources[2 * h], s1 = sources[2 * h + 1];                           \
            out[at] = tables[s0 & 1][row[s0]] * amplification;                                     \
            odd_planes[at] = tables[s1 & 1][row[s1]] * amplification;                              \
        }                                                                                          \
    }

NJ_NETWORK_INPUT_ROW(nj_u16_network_input_row, uint16_t)
NJ_NETWORK_INPUT_ROW(nj_u8_network_input_row, uint8_t)
