// The loop of the network input row kernels (internal), for each mosaic element type T and
// output element type OUT: ROUND turns the FP32 value into OUT (empty: stored as it is).
#ifndef NJ_NETWORK_INPUT_H
#define NJ_NETWORK_INPUT_H

#include <stddef.h>
#include <stdint.h>

#define NJ_NETWORK_INPUT_ROW(NAME, T, OUT, ROUND)                                                    \
    void NAME(OUT *out, size_t channel_stride, int32_t split, const T *row, const intptr_t *sources,  \
              const float *table_even, const float *table_odd, float amplification, size_t count) {   \
        const float *tables[2] = {table_even, table_odd};                                            \
        const size_t mask = (size_t)split - 1;                                                       \
        const int shift = __builtin_ctz((unsigned)split);                                            \
        /* Even columns go to planes 0 … split − 1, odd ones to the split² planes after them. */     \
        OUT *odd_planes = out + (size_t)split * (size_t)split * channel_stride;                      \
        for (size_t h = 0; h < count / 2; h++) {                                                     \
            const size_t at = (h & mask) * channel_stride + (h >> shift);                            \
            const intptr_t s0 = sources[2 * h], s1 = sources[2 * h + 1];                             \
            out[at] = ROUND(tables[s0 & 1][row[s0]] * amplification);                                \
            odd_planes[at] = ROUND(tables[s1 & 1][row[s1]] * amplification);                         \
        }                                                                                            \
    }

#endif
