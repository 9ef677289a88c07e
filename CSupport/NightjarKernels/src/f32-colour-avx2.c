// The colour stage's intake and composition steps for AVX2: the loops of nj-colour-steps.h,
// vectorised by the compiler for this target (no FMA: the same roundings as the reference).
#if defined(__x86_64__)
#include "nj-colour-internal.h"

#define NJ_TARGET __attribute__((target("avx2")))
#define NJ_FORM(name) name##_avx2
#include "nj-colour-steps.h"
#endif
