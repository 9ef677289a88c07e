// binary16 storage for the AVX2 vocabulary (nj-simd-avx2.h) through F16C: 8 halves load as
// one f32 vector (vcvtph2ps) and an f32 vector rounds to 8 halves (vcvtps2ph, to nearest
// even). For f16-conv2d-*-avx2-*.c.
#undef NJ_TARGET
#define NJ_TARGET __attribute__((target("avx2,fma,f16c")))
#define NJ_F16_STORAGE 1
#define NJ_REQUIRED_FEATURES NJ_CPU_F16C
#define V_LOADX(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define V_STOREX(p, v) \
    _mm_storeu_si128((__m128i *)(void *)(p), _mm256_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
// Ends one kernel tap's FMAs (f32-conv2d-direct.h): an accumulator passes through an empty
// asm that also orders memory, so the next tap's vcvtph2ps loads cannot be hoisted above it.
// Without it clang converted the next tap's inputs early, needed more than 16 vector registers
// for a 6x2 block and kept two accumulators on the stack.
#define V_ACC_BARRIER(v) __asm__ volatile("" : "+x"(v) : : "memory")
