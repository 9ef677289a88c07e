// The loop of the network input row kernels (internal), for each mosaic element type T and
// output element type OUT: ROUND turns the FP32 value into OUT (empty: stored as it is).
#ifndef NJ_NETWORK_INPUT_H
#define NJ_NETWORK_INPUT_H

#include <stddef.h>
#include <stdint.h>

// Pairs of columns per chunk. A chunk whose sources run on one by one (a frame's interior:
// the column map turns back only in the reflected padding) reads the row straight, without
// the map: sources[c + 1] <= sources[c] + 1 (the kernels' contract) makes the chunk's two ends
// enough to tell. Reading the map cost a dependent 8-byte load per value: the input rows of a
// 12.1 MP frame took 11.4-12.3 ms of CPU in FP32 and 13.3-18.8 in int8 with it, 7.0-7.2 and
// 9.3-10.1 without (`perf` of `bench --network-only`, 16 frames, two alternations, Zen 5).
#define NJ_INPUT_RUN_PAIRS 32

// Whether the chunk of `n` columns from `sources` reads columns sources[0] ... sources[0] + n - 1.
static inline int nj_input_run(const intptr_t *sources, size_t n) { return sources[n - 1] - sources[0] == (intptr_t)n - 1; }

#define NJ_NETWORK_INPUT_ROW(NAME, T, OUT, ROUND)                                                    \
    void NAME(OUT *out, size_t channel_stride, int32_t split, const T *row, const intptr_t *sources,  \
              const float *table_even, const float *table_odd, float amplification, size_t count) {   \
        const float *tables[2] = {table_even, table_odd};                                            \
        const size_t mask = (size_t)split - 1, pairs = count / 2;                                    \
        const int shift = __builtin_ctz((unsigned)split);                                            \
        /* Even columns go to planes 0 … split − 1, odd ones to the split² planes after them. */     \
        OUT *odd_planes = out + (size_t)split * (size_t)split * channel_stride;                      \
        for (size_t h0 = 0; h0 < pairs; h0 += NJ_INPUT_RUN_PAIRS) {                                  \
            const size_t n = pairs - h0 < NJ_INPUT_RUN_PAIRS ? pairs - h0 : NJ_INPUT_RUN_PAIRS;      \
            const intptr_t *s = sources + 2 * h0;                                                    \
            if (nj_input_run(s, 2 * n)) {                                                            \
                const T *r = row + s[0];                                                             \
                const float *te = tables[s[0] & 1], *to = tables[(s[0] + 1) & 1];                    \
                for (size_t i = 0; i < n; i++) {                                                     \
                    const size_t h = h0 + i, at = (h & mask) * channel_stride + (h >> shift);        \
                    out[at] = ROUND(te[r[2 * i]] * amplification);                                   \
                    odd_planes[at] = ROUND(to[r[2 * i + 1]] * amplification);                        \
                }                                                                                    \
                continue;                                                                            \
            }                                                                                        \
            for (size_t i = 0; i < n; i++) {                                                         \
                const size_t h = h0 + i, at = (h & mask) * channel_stride + (h >> shift);            \
                const intptr_t s0 = s[2 * i], s1 = s[2 * i + 1];                                     \
                out[at] = ROUND(tables[s0 & 1][row[s0]] * amplification);                            \
                odd_planes[at] = ROUND(tables[s1 & 1][row[s1]] * amplification);                     \
            }                                                                                        \
        }                                                                                            \
    }

// Pairs [h0, h0 + n) of an int8 row from 8-bit codes, one value at a time: codes[p] holds the
// code of each 8-bit value at a source of parity p (nj_u8_network_input_codes). Even columns go
// to planes 0 ... split - 1, odd ones to the split^2 planes after them, as in the FP32 form.
static inline void nj_u8_input_chunk_qs8(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                         const intptr_t *sources, const int8_t (*codes)[256], size_t h0, size_t n) {
    const size_t mask = (size_t)split - 1;
    const int shift = __builtin_ctz((unsigned)split);
    int8_t *odd_planes = out + (size_t)split * (size_t)split * channel_stride;
    const intptr_t *s = sources + 2 * h0;
    if (nj_input_run(s, 2 * n)) {
        const uint8_t *r = row + s[0];
        const int8_t *ce = codes[s[0] & 1], *co = codes[(s[0] + 1) & 1];
        for (size_t i = 0; i < n; i++) {
            const size_t h = h0 + i, at = (h & mask) * channel_stride + (h >> shift);
            out[at] = ce[r[2 * i]];
            odd_planes[at] = co[r[2 * i + 1]];
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const size_t h = h0 + i, at = (h & mask) * channel_stride + (h >> shift);
        const intptr_t s0 = s[2 * i], s1 = s[2 * i + 1];
        out[at] = codes[s0 & 1][row[s0]];
        odd_planes[at] = codes[s1 & 1][row[s1]];
    }
}

// The vector forms' test for chunk [h0, h0 + n): whether it is a whole chunk of
// NJ_INPUT_RUN_PAIRS pairs whose sources run on, at a split that gives each plane whole values
// of it (split <= 32: a chunk starts at a multiple of 32 pairs, so its pair i goes to plane
// i mod split). Where it is not, the scalar chunk has written it.
static inline int nj_u8_input_vector_chunk(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                           const intptr_t *sources, const int8_t (*codes)[256], size_t h0, size_t n) {
    if (n == NJ_INPUT_RUN_PAIRS && split <= 32 && nj_input_run(sources + 2 * h0, 2 * n)) return 1;
    nj_u8_input_chunk_qs8(out, channel_stride, split, row, sources, codes, h0, n);
    return 0;
}

// A vector form's chunk stored at any split: values[0] the chunk's 32 even-column codes and
// values[1] its odd ones, in pair order; pair i goes to plane i mod split at `column` onwards.
static inline void nj_u8_input_scatter_qs8(int8_t *out, size_t channel_stride, int32_t split, size_t column,
                                           const int8_t values[2][32]) {
    int8_t *odd_planes = out + (size_t)split * (size_t)split * channel_stride;
    const size_t per_plane = 32 / (size_t)split;
    for (size_t plane = 0; plane < (size_t)split; plane++) {
        int8_t *even_at = out + plane * channel_stride + column, *odd_at = odd_planes + plane * channel_stride + column;
        for (size_t j = 0; j < per_plane; j++) {
            even_at[j] = values[0][plane + j * (size_t)split];
            odd_at[j] = values[1][plane + j * (size_t)split];
        }
    }
}

#endif
