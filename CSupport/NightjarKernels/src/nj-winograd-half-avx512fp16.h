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

// Output row y of channel oc at columns [x0, x0 + 32) ∩ [0, width), in pixel order: the bias,
// LeakyReLU where the layer has it, the residual, the store (each a binary16 rounding).
static WG_ALWAYS_INLINE NJ_TARGET void wg_finish32(const nj_args *a, int32_t oc, int32_t y, int32_t x0, __m512h bias,
                                                   int lrelu, __m512h slope, __m512h out) {
    const int32_t valid = a->width - x0 < 32 ? a->width - x0 : 32;
    const __mmask32 m = wg_lanes32(0, valid);
    out = _mm512_add_ph(out, bias);
    if (lrelu) out = _mm512_mask_mul_ph(out, _mm512_cmp_ph_mask(out, _mm512_setzero_ph(), _CMP_LT_OQ), out, slope);
    size_t step;
    const uint16_t *res;
    uint16_t *dst = wg_output_row(a, oc, y, x0, &step, &res);
    if (res) out = _mm512_add_ph(out, _mm512_castsi512_ph(_mm512_maskz_loadu_epi16(m, res)));
    if (step == 1) {
        _mm512_mask_storeu_epi16(dst, m, _mm512_castph_si512(out));
    } else {
        // Depth-to-space: this channel's pixels are `step` apart.
        uint16_t tmp[32];
        _mm512_storeu_si512(tmp, _mm512_castph_si512(out));
        for (int32_t x = 0; x < valid; x++) dst[(size_t)x * step] = tmp[x];
    }
}
