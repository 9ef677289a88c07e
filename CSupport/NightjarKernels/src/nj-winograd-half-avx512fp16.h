// The end of a Winograd output row in binary16 (AVX512-FP16), shared by
// f16-conv2d-3x3-winograd2x2-avx512fp16-6x4.c and the AVX-512 templates' binary16-products mode
// (nj-winograd-avx512.h). Internal, no include guard: included once, after nj-conv2d-storage.h
// (binary16 storage), nj-winograd-rows.h, WG_ALWAYS_INLINE and an NJ_TARGET with avx512fp16.

// Lanes l of 32 with lo <= l < hi (clamped).
static inline __mmask32 wg_lanes32(int32_t lo, int32_t hi) {
    lo = lo < 0 ? 0 : lo;
    hi = hi > 32 ? 32 : hi;
    if (hi <= lo) return 0;
    const uint64_t upto = hi == 32 ? 0xFFFFFFFFull : (1ull << hi) - 1;
    return (__mmask32)(upto & ~((1ull << lo) - 1));
}

// Output row y of channel oc at columns [x0, x0 + 32) ∩ [0, width), in pixel order, finished:
// the bias, LeakyReLU where the layer has it, the residual (each a binary16 rounding).
static WG_ALWAYS_INLINE NJ_TARGET __m512h wg_finished32(const nj_args *a, int32_t oc, int32_t y, int32_t x0,
                                                        __m512h bias, int lrelu, __m512h slope, __m512h out) {
    const int32_t valid = a->width - x0 < 32 ? a->width - x0 : 32;
    out = _mm512_add_ph(out, bias);
    if (lrelu) out = _mm512_mask_mul_ph(out, _mm512_cmp_ph_mask(out, _mm512_setzero_ph(), _CMP_LT_OQ), out, slope);
    const uint16_t *res = wg_residual_row(a, oc, y, x0);
    if (res) out = _mm512_add_ph(out, _mm512_castsi512_ph(_mm512_maskz_loadu_epi16(wg_lanes32(0, valid), res)));
    return out;
}

// Output row y of channel oc at columns [x0, x0 + 32) ∩ [0, width), in pixel order: finished
// by wg_finished32, and stored.
static WG_ALWAYS_INLINE NJ_TARGET void wg_finish32(const nj_args *a, int32_t oc, int32_t y, int32_t x0, __m512h bias,
                                                   int lrelu, __m512h slope, __m512h out) {
    const int32_t valid = a->width - x0 < 32 ? a->width - x0 : 32;
    out = wg_finished32(a, oc, y, x0, bias, lrelu, slope, out);
    size_t step;
    uint16_t *dst = NJ_OUTPUT_ROW(a, oc, y, &step) + (size_t)x0 * step;
    if (step == 1) {
        _mm512_mask_storeu_epi16(dst, wg_lanes32(0, valid), _mm512_castph_si512(out));
    } else {
        // Depth-to-space: this channel's pixels are `step` apart.
        uint16_t tmp[32];
        _mm512_storeu_si512(tmp, _mm512_castph_si512(out));
        for (int32_t x = 0; x < valid; x++) dst[(size_t)x * step] = tmp[x];
    }
}

// Depth-to-space by 4: the finished rows v[0..3] of four channels oc .. oc + 3 that share an
// output row (the first a multiple of 4 counting output_channel_base) are that row's columns
// 4x + j, interleaved here (16-bit, then 32-bit two-source permutes) and stored as four whole
// vectors of 32 halves, where wg_finish32 stores each value alone.
static WG_ALWAYS_INLINE NJ_TARGET void wg_store_d2s4_half(const nj_args *a, int32_t oc, int32_t y, int32_t x0,
                                                          const __m512h v[4]) {
    const __m512i lo16 = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                          39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i hi16 = _mm512_add_epi16(lo16, _mm512_set1_epi16(16));
    const __m512i lo32 = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi32 = _mm512_add_epi32(lo32, _mm512_set1_epi32(8));
    const __m512i a0 = _mm512_castph_si512(v[0]), a1 = _mm512_castph_si512(v[1]);
    const __m512i a2 = _mm512_castph_si512(v[2]), a3 = _mm512_castph_si512(v[3]);
    // (v0, v1) and (v2, v3) pairs per 32-bit lane, pixels 0-15 and 16-31.
    const __m512i p01[2] = {_mm512_permutex2var_epi16(a0, lo16, a1), _mm512_permutex2var_epi16(a0, hi16, a1)};
    const __m512i p23[2] = {_mm512_permutex2var_epi16(a2, lo16, a3), _mm512_permutex2var_epi16(a2, hi16, a3)};
    size_t step;
    uint16_t *dst = NJ_OUTPUT_ROW(a, oc, y, &step) + (size_t)x0 * step;
    const int32_t halves = 4 * (a->width - x0 < 32 ? a->width - x0 : 32);
    for (int k = 0; k < 4; k++) {
        const __mmask32 m = wg_lanes32(0, halves - 32 * k);
        if (!m) break;
        const __m512i out = _mm512_permutex2var_epi32(p01[k >> 1], k & 1 ? hi32 : lo32, p23[k >> 1]);
        _mm512_mask_storeu_epi16(dst + 32 * k, m, out);
    }
}
