// The int8 network input rows from 8-bit codes (nj_u8_network_input_row_qs8) with AVX-512 VBMI:
// 64 columns at a time. Each column is one of 256 values, so its code is a lookup in the row's
// two 256-entry code tables, which VPERMI2B does for 64 bytes at once (two table halves per
// instruction, bit 7 choosing between two); one VPERMB then gathers each plane's values
// together, and they are stored a plane at a time. The one-byte-at-a-time loop it replaces was
// bound by a dependent load and a scattered store per value: 8 ms of CPU in a 12.1 MP int8
// frame (Zen 5), a tenth of the network's non-convolution time.
//
// Only chunks whose 64 sources run on one by one (the frame's interior) take the vector path;
// the padding's reflected chunks and a row's last, shorter chunk go through the scalar form's
// chunk (nj-network-input.h), so the codes are the scalar form's, byte for byte.
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "nj-convert-internal.h"
#include "nj-network-input.h"

#define NJ_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

// codes[v] for each byte v of `values`: the low and high halves of the table by two VPERMI2B,
// bit 7 of each value choosing between them.
static inline NJ_TARGET __m512i lookup256(__m512i values, const __m512i table[4]) {
    const __m512i low = _mm512_permutex2var_epi8(table[0], values, table[1]);
    const __m512i high = _mm512_permutex2var_epi8(table[2], values, table[3]);
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(values), low, high);
}

// At split 16 (the 1/32 branch's 1024 planes) a chunk gives each plane 2 values of each parity:
// four chunks are joined first, so that each plane takes 8 bytes a store instead of 2 (the
// stores, 32 a chunk, were the row's cost: 2.4x the time of a split-1 row). Constants, not built
// per row.
// Level 1, chunks a and b (VPERMT2B's second table is b): byte 4p + j of parity q is pair p
// (j = 0) or p + 16 (j = 1) of a, and the same of b (j = 2, 3): (j >= 2 ? 64 : 0) + 2(p + 16(j mod
// 2)) + q.
static const _Alignas(64) uint8_t join_pairs[2][64] = {
    {  0,  32,  64,  96,   2,  34,  66,  98,   4,  36,  68, 100,   6,  38,  70, 102,
       8,  40,  72, 104,  10,  42,  74, 106,  12,  44,  76, 108,  14,  46,  78, 110,
      16,  48,  80, 112,  18,  50,  82, 114,  20,  52,  84, 116,  22,  54,  86, 118,
      24,  56,  88, 120,  26,  58,  90, 122,  28,  60,  92, 124,  30,  62,  94, 126},
    {  1,  33,  65,  97,   3,  35,  67,  99,   5,  37,  69, 101,   7,  39,  71, 103,
       9,  41,  73, 105,  11,  43,  75, 107,  13,  45,  77, 109,  15,  47,  79, 111,
      17,  49,  81, 113,  19,  51,  83, 115,  21,  53,  85, 117,  23,  55,  87, 119,
      25,  57,  89, 121,  27,  59,  91, 123,  29,  61,  93, 125,  31,  63,  95, 127},
};
// Level 2 joins two such vectors the same way: byte 8i + j of half h is byte 4(8h + i) + (j mod 4)
// of the first (j < 4) or of the second.
static const _Alignas(64) uint8_t join_quads[2][64] = {
    {  0,   1,   2,   3,  64,  65,  66,  67,   4,   5,   6,   7,  68,  69,  70,  71,
       8,   9,  10,  11,  72,  73,  74,  75,  12,  13,  14,  15,  76,  77,  78,  79,
      16,  17,  18,  19,  80,  81,  82,  83,  20,  21,  22,  23,  84,  85,  86,  87,
      24,  25,  26,  27,  88,  89,  90,  91,  28,  29,  30,  31,  92,  93,  94,  95},
    { 32,  33,  34,  35,  96,  97,  98,  99,  36,  37,  38,  39, 100, 101, 102, 103,
      40,  41,  42,  43, 104, 105, 106, 107,  44,  45,  46,  47, 108, 109, 110, 111,
      48,  49,  50,  51, 112, 113, 114, 115,  52,  53,  54,  55, 116, 117, 118, 119,
      56,  57,  58,  59, 120, 121, 122, 123,  60,  61,  62,  63, 124, 125, 126, 127},
};

NJ_TARGET void nj_u8_network_input_row_qs8_avx512vbmi(int8_t *out, size_t channel_stride, int32_t split,
                                                      const uint8_t *row, const intptr_t *sources,
                                                      const float *table_even, const float *table_odd,
                                                      float amplification, nj_qs8_quantization q, size_t count) {
    _Alignas(64) int8_t codes[2][256];
    nj_u8_network_input_codes(codes, table_even, table_odd, amplification, q);
    __m512i tables[2][4];
    for (int p = 0; p < 2; p++) {
        for (int k = 0; k < 4; k++) tables[p][k] = _mm512_load_si512((const void *)(codes[p] + 64 * k));
    }
    // A chunk of 32 pairs starts at a multiple of 32, so with split <= 32 its pair i goes to
    // plane i mod split, each plane taking 32 / split consecutive values. The gather puts the
    // even columns' values plane after plane in bytes 0-31, the odd columns' in bytes 32-63.
    const size_t pairs = count / 2, per_plane = split <= 32 ? 32 / (size_t)split : 0;
    _Alignas(64) uint8_t order[64] = {0};
    for (size_t plane = 0, k = 0; plane < (size_t)split && per_plane; plane++) {
        for (size_t j = 0; j < per_plane; j++, k++) {
            order[k] = (uint8_t)(2 * (plane + j * (size_t)split));
            order[32 + k] = (uint8_t)(2 * (plane + j * (size_t)split) + 1);
        }
    }
    const __m512i gather = _mm512_load_si512((const void *)order);
    const int shift = __builtin_ctz((unsigned)split);
    int8_t *odd_planes = out + (size_t)split * (size_t)split * channel_stride;
    for (size_t h0 = 0; h0 < pairs;) {
        if (split == 16 && pairs - h0 >= 4 * NJ_INPUT_RUN_PAIRS && nj_input_run(sources + 2 * h0, 8 * NJ_INPUT_RUN_PAIRS)) {
            const intptr_t *s = sources + 2 * h0;
            const __m512i *even_table = tables[s[0] & 1], *odd_table = tables[(s[0] + 1) & 1];
            __m512i chunk[4];
            for (int k = 0; k < 4; k++) {
                const __m512i values = _mm512_loadu_si512((const void *)(row + s[0] + 64 * k));
                chunk[k] = _mm512_mask_blend_epi8(0xAAAAAAAAAAAAAAAAull, lookup256(values, even_table),
                                                  lookup256(values, odd_table));
            }
            const size_t column = h0 >> 4;  // 8 columns of each plane from here
            for (int q = 0; q < 2; q++) {
                const __m512i pairs_index = _mm512_load_si512((const void *)join_pairs[q]);
                const __m512i first = _mm512_permutex2var_epi8(chunk[0], pairs_index, chunk[1]);
                const __m512i second = _mm512_permutex2var_epi8(chunk[2], pairs_index, chunk[3]);
                int8_t *planes = q ? odd_planes : out;
                for (int h = 0; h < 2; h++) {
                    const __m512i joined = _mm512_permutex2var_epi8(
                        first, _mm512_load_si512((const void *)join_quads[h]), second);
                    _Alignas(64) int8_t bytes[64];
                    _mm512_store_si512((void *)bytes, joined);
                    for (int i = 0; i < 8; i++) memcpy(planes + (size_t)(8 * h + i) * channel_stride + column, bytes + 8 * i, 8);
                }
            }
            h0 += 4 * NJ_INPUT_RUN_PAIRS;
            continue;
        }
        const size_t n = pairs - h0 < NJ_INPUT_RUN_PAIRS ? pairs - h0 : NJ_INPUT_RUN_PAIRS;
        h0 += NJ_INPUT_RUN_PAIRS;
        const size_t chunk_start = h0 - NJ_INPUT_RUN_PAIRS;
        if (!nj_u8_input_vector_chunk(out, channel_stride, split, row, sources, (const int8_t(*)[256])codes, chunk_start, n)) {
            continue;
        }
        const intptr_t *s = sources + 2 * chunk_start;
        // Column c's source s[0] + c has parity (s[0] + c) & 1, which picks its table.
        const __m512i values = _mm512_loadu_si512((const void *)(row + s[0]));
        const __m512i at_even = lookup256(values, tables[s[0] & 1]);
        const __m512i at_odd = lookup256(values, tables[(s[0] + 1) & 1]);
        const __m512i chunk = _mm512_mask_blend_epi8(0xAAAAAAAAAAAAAAAAull, at_even, at_odd);
        _Alignas(64) int8_t planes[64];
        _mm512_store_si512((void *)planes, _mm512_permutexvar_epi8(gather, chunk));
        const size_t column = chunk_start >> shift;  // where the chunk starts in each plane
        for (size_t plane = 0; plane < (size_t)split; plane++) {
            int8_t *even_at = out + plane * channel_stride + column, *odd_at = odd_planes + plane * channel_stride + column;
            const int8_t *from = planes + plane * per_plane;
            switch (per_plane) {  // fixed sizes: each copy one store
                case 32: memcpy(even_at, from, 32); memcpy(odd_at, from + 32, 32); break;
                case 16: memcpy(even_at, from, 16); memcpy(odd_at, from + 32, 16); break;
                case 8: memcpy(even_at, from, 8); memcpy(odd_at, from + 32, 8); break;
                case 4: memcpy(even_at, from, 4); memcpy(odd_at, from + 32, 4); break;
                case 2: memcpy(even_at, from, 2); memcpy(odd_at, from + 32, 2); break;
                default: *even_at = from[0]; *odd_at = from[32]; break;
            }
        }
    }
}
#else
typedef int nj_mosaic_network_input_avx512vbmi_unused;
#endif
