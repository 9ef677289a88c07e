// The int8 network input rows from 8-bit codes (nj_u8_network_input_row_qs8) with AVX2: 64
// columns at a time, for CPUs without AVX-512 VBMI's byte permutes (Zen 3 and older). A
// column's code is a lookup in a 256-entry table, which VPSHUFB can only do 16 entries at a
// time, so each lookup is 16 of them, one per table row of 16 entries, the other rows' bytes
// zeroed by their indices' top bit and the results ORed. The even columns are first gathered
// into each vector's low lane and the odd ones into its high lane, whose table rows are the
// odd columns' table: one pass of 16 lookups serves both parities. The one-byte-at-a-time loop
// it replaces (a dependent load and a byte store per value) took about 2 % of the CPU of an
// int8 12.1 MP network on 2 threads (Zen 3).
//
// Only chunks whose 64 sources run on one by one (the frame's interior) take the vector path;
// the padding's reflected chunks and a row's last, shorter chunk go through the scalar form's
// chunk (nj-network-input.h), so the codes are the scalar form's, byte for byte.
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "nj-convert-internal.h"
#include "nj-network-input.h"

#define NJ_TARGET __attribute__((target("avx2")))

// codes of the 32 bytes of `values`: low lane through the even columns' table, high lane
// through the odd columns' (rows[k] holds entries 16k ... 16k + 15 of each).
static inline NJ_TARGET __m256i lookup256(__m256i values, const __m256i rows[16]) {
    const __m256i sixteen = _mm256_set1_epi8(16), bias = _mm256_set1_epi8(0x70);
    __m256i codes = _mm256_setzero_si256(), offset = values;
    for (int k = 0; k < 16; k++) {
        // offset = value - 16k (mod 256): in [0, 16) exactly for row k's values. Raised by 0x70
        // with unsigned saturation, every other value has bit 7 set: VPSHUFB gives it 0.
        codes = _mm256_or_si256(codes, _mm256_shuffle_epi8(rows[k], _mm256_adds_epu8(offset, bias)));
        offset = _mm256_sub_epi8(offset, sixteen);
    }
    return codes;
}

// 32 columns (16 pairs) rearranged: the even columns in the low lane, the odd ones in the high.
static inline NJ_TARGET __m256i pairs_apart(const uint8_t *columns) {
    const __m256i within_lanes = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                                  0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m256i v = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)columns), within_lanes);
    return _mm256_permute4x64_epi64(v, 0xD8);  // quarters 0, 2, 1, 3
}

// Plane p's two values of a chunk at split 16 (pairs p and p + 16) as one 16-bit word each,
// planes 0-7 in the low lane and 8-15 in the high one.
static inline NJ_TARGET __m256i plane_words16(__m256i values) {
    const __m256i halves = _mm256_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,
                                            0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    return _mm256_shuffle_epi8(_mm256_permute4x64_epi64(values, 0xD8), halves);
}

// Four chunks at split 16 from `at` (their 256 sources running on), as the VBMI and NEON forms
// join them: each plane's four words of a parity, 8 bytes, in one store instead of four 2-byte
// ones (the stores were most of a split-16 row's time). Two levels of unpacks within the lanes
// gather a plane's words from the four chunks.
static inline NJ_TARGET void store_four_chunks16(int8_t *even_planes, int8_t *odd_planes, size_t channel_stride,
                                                 const uint8_t *at, const __m256i table[16], size_t column) {
    __m256i words[2][4];  // [parity][chunk]
    for (int k = 0; k < 4; k++) {
        const __m256i first = lookup256(pairs_apart(at + 64 * k), table);
        const __m256i second = lookup256(pairs_apart(at + 64 * k + 32), table);
        words[0][k] = plane_words16(_mm256_permute2x128_si256(first, second, 0x20));
        words[1][k] = plane_words16(_mm256_permute2x128_si256(first, second, 0x31));
    }
    for (int q = 0; q < 2; q++) {
        int8_t *planes = q ? odd_planes : even_planes;
        const __m256i *w = words[q];
        const __m256i a = _mm256_unpacklo_epi16(w[0], w[1]), b = _mm256_unpackhi_epi16(w[0], w[1]);
        const __m256i c = _mm256_unpacklo_epi16(w[2], w[3]), d = _mm256_unpackhi_epi16(w[2], w[3]);
        // Lane 0: planes (0, 1), (2, 3), (4, 5), (6, 7); lane 1: the same plus 8.
        const __m256i joined[4] = {_mm256_unpacklo_epi32(a, c), _mm256_unpackhi_epi32(a, c), _mm256_unpacklo_epi32(b, d),
                                   _mm256_unpackhi_epi32(b, d)};
        for (int j = 0; j < 4; j++) {
            for (int lane = 0; lane < 2; lane++) {
                const __m128i two = lane ? _mm256_extracti128_si256(joined[j], 1) : _mm256_castsi256_si128(joined[j]);
                int8_t *low = planes + (size_t)(8 * lane + 2 * j) * channel_stride + column;
                _mm_storel_epi64((__m128i *)low, two);
                _mm_storel_epi64((__m128i *)(low + channel_stride), _mm_unpackhi_epi64(two, two));
            }
        }
    }
}

NJ_TARGET void nj_u8_network_input_row_qs8_avx2(int8_t *out, size_t channel_stride, int32_t split, const uint8_t *row,
                                                const intptr_t *sources, const float *table_even, const float *table_odd,
                                                float amplification, nj_qs8_quantization q, size_t count) {
    _Alignas(32) int8_t codes[2][256];
    nj_u8_network_input_codes(codes, table_even, table_odd, amplification, q);
    // rows[p]: for a chunk whose first source has parity p, its even columns read codes[p]
    // and its odd ones codes[1 - p].
    __m256i rows[2][16];
    for (int p = 0; p < 2; p++) {
        for (int k = 0; k < 16; k++) {
            rows[p][k] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_load_si128((const __m128i *)(codes[p] + 16 * k))),
                                                 _mm_load_si128((const __m128i *)(codes[1 - p] + 16 * k)), 1);
        }
    }
    const size_t pairs = count / 2;
    const int shift = __builtin_ctz((unsigned)split);
    int8_t *odd_planes = out + (size_t)split * (size_t)split * channel_stride;
    for (size_t h0 = 0; h0 < pairs;) {
        if (split == 16 && pairs - h0 >= 4 * NJ_INPUT_RUN_PAIRS && nj_input_run(sources + 2 * h0, 8 * NJ_INPUT_RUN_PAIRS)) {
            store_four_chunks16(out, odd_planes, channel_stride, row + sources[2 * h0], rows[sources[2 * h0] & 1], h0 >> 4);
            h0 += 4 * NJ_INPUT_RUN_PAIRS;
            continue;
        }
        const size_t n = pairs - h0 < NJ_INPUT_RUN_PAIRS ? pairs - h0 : NJ_INPUT_RUN_PAIRS;
        const size_t chunk_start = h0;
        h0 += NJ_INPUT_RUN_PAIRS;
        if (!nj_u8_input_vector_chunk(out, channel_stride, split, row, sources, (const int8_t(*)[256])codes, chunk_start, n)) {
            continue;
        }
        const intptr_t *s = sources + 2 * chunk_start;
        const __m256i *table = rows[s[0] & 1];
        const __m256i first = lookup256(pairs_apart(row + s[0]), table);        // pairs 0-15
        const __m256i second = lookup256(pairs_apart(row + s[0] + 32), table);  // pairs 16-31
        const __m256i even = _mm256_permute2x128_si256(first, second, 0x20);
        const __m256i odd = _mm256_permute2x128_si256(first, second, 0x31);
        const size_t column = chunk_start >> shift;  // where the chunk starts in each plane
        if (split == 1) {
            _mm256_storeu_si256((__m256i *)(out + column), even);
            _mm256_storeu_si256((__m256i *)(odd_planes + column), odd);
            continue;
        }
        _Alignas(32) int8_t values[2][32];
        if (split == 16) {
            // A chunk alone (a row's last ones): a 16-bit word a plane.
            _mm256_store_si256((__m256i *)values[0], plane_words16(even));
            _mm256_store_si256((__m256i *)values[1], plane_words16(odd));
            for (size_t plane = 0; plane < 16; plane++) {
                memcpy(out + plane * channel_stride + column, values[0] + 2 * plane, 2);
                memcpy(odd_planes + plane * channel_stride + column, values[1] + 2 * plane, 2);
            }
            continue;
        }
        _mm256_store_si256((__m256i *)values[0], even);
        _mm256_store_si256((__m256i *)values[1], odd);
        nj_u8_input_scatter_qs8(out, channel_stride, split, column, (const int8_t(*)[32])values);
    }
}
#else
typedef int nj_mosaic_network_input_avx2_unused;
#endif
