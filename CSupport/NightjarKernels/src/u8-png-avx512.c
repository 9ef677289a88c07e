// The PNG steps for AVX-512 (BW for the byte and 16-bit lanes): the loops of u8-png-steps.h,
// vectorised by the compiler for this target.
#if defined(__x86_64__)
#include "nj-png-internal.h"

#define NJ_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define NJ_FORM(name) name##_avx512
#include "u8-png-steps.h"
#endif
