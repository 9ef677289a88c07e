// The PNG steps for AVX-512 (BW for the byte and 16-bit lanes): the loops of u8-png-steps.h,
// vectorised by the compiler for this target, and the runs search of u8-png-runs-mask.h with a
// block's mask from one 64-byte comparison.
#if defined(__x86_64__)
#include "nj-png-internal.h"

#define NJ_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define NJ_FORM(name) name##_avx512
#include "u8-png-steps.h"

#include <immintrin.h>

static inline NJ_TARGET uint64_t NJ_FORM(equal_mask)(const uint8_t *p) {
    return _mm512_cmpeq_epi8_mask(_mm512_loadu_si512((const void *)p), _mm512_loadu_si512((const void *)(p - 1)));
}
#include "u8-png-runs-mask.h"
#endif
