// The int8 network input rows from 8-bit codes (nj_u8_network_input_row_qs8) with NEON: 64
// columns at a time. LD2 puts a chunk's even and odd columns in separate registers, and a
// 256-entry table lookup is one TBL over the table's first 64 entries and three TBX over the
// others (an index past a TBX's 64 entries leaves the lane as it is). The one-byte-at-a-time
// loop it replaces is bound by a dependent load and a byte store per value, two per mosaic
// value (the half-scale and the 1/32-scale input).
//
// Only chunks whose 64 sources run on one by one (the frame's interior) take the vector path;
// the padding's reflected chunks and a row's last, shorter chunk go through the scalar form's
// chunk (nj-network-input.h), so the codes are the scalar form's, byte for byte.
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "nj-convert-internal.h"
#include "nj-network-input.h"

// One 256-entry table as four 64-entry TBL tables.
typedef struct code_table {
    int8x16x4_t quarter[4];
} code_table;

static inline int8x16_t lookup256(uint8x16_t values, const code_table *t) {
    int8x16_t codes = vqtbl4q_s8(t->quarter[0], values);
    codes = vqtbx4q_s8(codes, t->quarter[1], vsubq_u8(values, vdupq_n_u8(64)));
    codes = vqtbx4q_s8(codes, t->quarter[2], vsubq_u8(values, vdupq_n_u8(128)));
    return vqtbx4q_s8(codes, t->quarter[3], vsubq_u8(values, vdupq_n_u8(192)));
}

// Four chunks at split 16 (the 1/32 branch's input) from `at` (their 256 sources running on):
// plane p takes pairs p and p + 16 of each chunk, 8 bytes of each parity, one store each
// instead of four of 2 bytes (the stores were most of the split-16 row's time). A chunk's
// values zipped are one 16-bit word per plane; two levels of zips gather each plane's four
// words.
static inline void store_four_chunks16(int8_t *even_planes, int8_t *odd_planes, size_t channel_stride, const uint8_t *at,
                                       const code_table *at_even, const code_table *at_odd, size_t column) {
    uint16x8_t words[2][4][2];  // [parity][chunk][planes 0-7, 8-15]
    for (int k = 0; k < 4; k++) {
        const uint8x16x2_t first = vld2q_u8(at + 64 * k), second = vld2q_u8(at + 64 * k + 32);
        const int8x16_t even0 = lookup256(first.val[0], at_even), odd0 = lookup256(first.val[1], at_odd);
        const int8x16_t even1 = lookup256(second.val[0], at_even), odd1 = lookup256(second.val[1], at_odd);
        words[0][k][0] = vreinterpretq_u16_s8(vzip1q_s8(even0, even1));
        words[0][k][1] = vreinterpretq_u16_s8(vzip2q_s8(even0, even1));
        words[1][k][0] = vreinterpretq_u16_s8(vzip1q_s8(odd0, odd1));
        words[1][k][1] = vreinterpretq_u16_s8(vzip2q_s8(odd0, odd1));
    }
    for (int q = 0; q < 2; q++) {
        int8_t *planes = q ? odd_planes : even_planes;
        for (int half = 0; half < 2; half++) {
            const uint16x8_t *w0 = &words[q][0][half], *w1 = &words[q][1][half];
            const uint16x8_t *w2 = &words[q][2][half], *w3 = &words[q][3][half];
            const uint32x4_t a = vreinterpretq_u32_u16(vzip1q_u16(*w0, *w1)), b = vreinterpretq_u32_u16(vzip2q_u16(*w0, *w1));
            const uint32x4_t c = vreinterpretq_u32_u16(vzip1q_u16(*w2, *w3)), d = vreinterpretq_u32_u16(vzip2q_u16(*w2, *w3));
            // Planes 8·half + 0 … 7, 64 bits each: (0, 1), (2, 3), (4, 5), (6, 7).
            const uint8x16_t pairs_of_planes[4] = {vreinterpretq_u8_u32(vzip1q_u32(a, c)), vreinterpretq_u8_u32(vzip2q_u32(a, c)),
                                                   vreinterpretq_u8_u32(vzip1q_u32(b, d)), vreinterpretq_u8_u32(vzip2q_u32(b, d))};
            for (int j = 0; j < 4; j++) {
                int8_t *low = planes + (size_t)(8 * half + 2 * j) * channel_stride + column;
                vst1_u8((uint8_t *)low, vget_low_u8(pairs_of_planes[j]));
                vst1_u8((uint8_t *)(low + channel_stride), vget_high_u8(pairs_of_planes[j]));
            }
        }
    }
}

void nj_u8_network_input_row_qs8_neon(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                      const intptr_t *sources, const float *table_even, const float *table_odd,
                                      float amplification, nj_qs8_quantization q, size_t count) {
    int8_t codes[2][256];
    nj_u8_network_input_codes(codes, table_even, table_odd, amplification, q);
    code_table tables[2];
    for (int p = 0; p < 2; p++) {
        for (int k = 0; k < 4; k++) {
            for (int j = 0; j < 4; j++) tables[p].quarter[k].val[j] = vld1q_s8(codes[p] + 64 * k + 16 * j);
        }
    }
    const size_t pairs = count / 2;
    const int shift = __builtin_ctz((unsigned)split);
    int8_t *odd_planes = out + (size_t)split * (size_t)split * channel_stride;
    for (size_t h0 = 0; h0 < pairs;) {
        if (split == 16 && pairs - h0 >= 4 * NJ_INPUT_RUN_PAIRS && nj_input_run(sources + 2 * h0, 8 * NJ_INPUT_RUN_PAIRS)) {
            store_four_chunks16(out, odd_planes, channel_stride, row + sources[2 * h0], &tables[sources[2 * h0] & 1],
                                &tables[(sources[2 * h0] + 1) & 1], h0 >> 4);
            h0 += 4 * NJ_INPUT_RUN_PAIRS;
            continue;
        }
        const size_t n = pairs - h0 < NJ_INPUT_RUN_PAIRS ? pairs - h0 : NJ_INPUT_RUN_PAIRS;
        h0 += NJ_INPUT_RUN_PAIRS;
        if (!nj_u8_input_vector_chunk(out, channel_stride, split, row, sources, (const int8_t(*)[256])codes,
                                      h0 - NJ_INPUT_RUN_PAIRS, n)) {
            continue;
        }
        const intptr_t *s = sources + 2 * (h0 - NJ_INPUT_RUN_PAIRS);
        // Column c's source s[0] + c has parity (s[0] + c) & 1, which picks its table.
        const code_table *at_even = &tables[s[0] & 1], *at_odd = &tables[(s[0] + 1) & 1];
        const uint8x16x2_t first = vld2q_u8(row + s[0]);        // pairs 0-15
        const uint8x16x2_t second = vld2q_u8(row + s[0] + 32);  // pairs 16-31
        const int8x16_t even0 = lookup256(first.val[0], at_even), odd0 = lookup256(first.val[1], at_odd);
        const int8x16_t even1 = lookup256(second.val[0], at_even), odd1 = lookup256(second.val[1], at_odd);
        const size_t column = (h0 - NJ_INPUT_RUN_PAIRS) >> shift;  // where the chunk starts in each plane
        if (split == 1) {
            vst1q_s8(out + column, even0);
            vst1q_s8(out + column + 16, even1);
            vst1q_s8(odd_planes + column, odd0);
            vst1q_s8(odd_planes + column + 16, odd1);
            continue;
        }
        int8_t values[2][32];
        if (split == 16) {
            // Plane p's two values are pairs p and p + 16: zipped, one 16-bit word each (the
            // 1/32 branch's input).
            vst1q_s8(values[0], vzip1q_s8(even0, even1));
            vst1q_s8(values[0] + 16, vzip2q_s8(even0, even1));
            vst1q_s8(values[1], vzip1q_s8(odd0, odd1));
            vst1q_s8(values[1] + 16, vzip2q_s8(odd0, odd1));
            for (size_t plane = 0; plane < 16; plane++) {
                memcpy(out + plane * channel_stride + column, values[0] + 2 * plane, 2);
                memcpy(odd_planes + plane * channel_stride + column, values[1] + 2 * plane, 2);
            }
            continue;
        }
        vst1q_s8(values[0], even0);
        vst1q_s8(values[0] + 16, even1);
        vst1q_s8(values[1], odd0);
        vst1q_s8(values[1] + 16, odd1);
        nj_u8_input_scatter_qs8(out, channel_stride, split, column, (const int8_t(*)[32])values);
    }
}
#else
typedef int nj_mosaic_network_input_neon_unused;
#endif
