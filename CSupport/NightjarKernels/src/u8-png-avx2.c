// The PNG steps for AVX2: the loops of u8-png-steps.h, vectorised by the compiler for this target.
#if defined(__x86_64__)
#include "nj-png-internal.h"

#define NJ_TARGET __attribute__((target("avx2")))
#define NJ_FORM(name) name##_avx2
#include "u8-png-steps.h"
#endif
