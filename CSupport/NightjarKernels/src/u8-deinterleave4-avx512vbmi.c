// Deinterleaving bytes by 4 (nj_u8_deinterleave4) for AVX-512 VBMI: one VPERMB puts each phase's
// 16 bytes of a 64-byte block together, four 16-byte stores write them out.
#include "nightjar_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "nj-shuffle-internal.h"

#define NJ_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

NJ_TARGET void nj_u8_deinterleave4_avx512vbmi(const uint8_t *restrict in, uint8_t *restrict out0,
                                              uint8_t *restrict out1, uint8_t *restrict out2,
                                              uint8_t *restrict out3, size_t n) {
    // Byte 16k + j of the permuted block is byte 4j + k of the source.
    _Alignas(64) uint8_t order[64];
    for (int k = 0; k < 4; k++) {
        for (int j = 0; j < 16; j++) order[16 * k + j] = (uint8_t)(4 * j + k);
    }
    const __m512i index = _mm512_load_si512((const void *)order);
    size_t x = 0;
    for (; x + 16 <= n; x += 16) {
        const __m512i phases = _mm512_permutexvar_epi8(index, _mm512_loadu_si512((const void *)(in + 4 * x)));
        _mm_storeu_si128((__m128i *)(out0 + x), _mm512_castsi512_si128(phases));
        _mm_storeu_si128((__m128i *)(out1 + x), _mm512_extracti32x4_epi32(phases, 1));
        _mm_storeu_si128((__m128i *)(out2 + x), _mm512_extracti32x4_epi32(phases, 2));
        _mm_storeu_si128((__m128i *)(out3 + x), _mm512_extracti32x4_epi32(phases, 3));
    }
    nj_u8_deinterleave4_scalar(in + 4 * x, out0 + x, out1 + x, out2 + x, out3 + x, n - x);
}
#else
typedef int nj_u8_deinterleave4_avx512vbmi_unused;
#endif
