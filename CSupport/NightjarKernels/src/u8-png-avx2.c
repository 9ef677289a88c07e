// The PNG steps for AVX2: the loops of u8-png-steps.h, vectorised by the compiler for this target,
// and the runs search of u8-png-runs-mask.h with a block's mask from two 32-byte comparisons.
#if defined(__x86_64__)
#include "nj-png-internal.h"

#define NJ_TARGET __attribute__((target("avx2")))
#define NJ_FORM(name) name##_avx2
#include "u8-png-steps.h"

#include <immintrin.h>

static inline NJ_TARGET uint64_t NJ_FORM(equal_mask)(const uint8_t *p) {
    const __m256i low = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)p), _mm256_loadu_si256((const __m256i *)(p - 1)));
    const __m256i high =
        _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + 32)), _mm256_loadu_si256((const __m256i *)(p + 31)));
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(low) | (uint64_t)(uint32_t)_mm256_movemask_epi8(high) << 32;
}
#include "u8-png-runs-mask.h"
#endif
