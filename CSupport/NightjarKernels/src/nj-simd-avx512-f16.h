// binary16 storage for the AVX-512 vocabulary (nj-simd-avx512.h): 16 halves load as one f32
// vector (vcvtph2ps, AVX-512F) and an f32 vector rounds to 16 halves (vcvtps2ph, to nearest
// even); the masked forms need AVX-512BW/VL. For f16-conv2d-*-avx512-*.c (convert around the
// f32 FMA, as on Zen 4 and any AVX-512 machine without AVX512-FP16).
#undef NJ_TARGET
#define NJ_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
#define NJ_F16_STORAGE 1
#define NJ_REQUIRED_FEATURES 0
#define NJ_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_LOADX(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define V_LOADX_M(p, m) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((m), (p)))
#define V_STOREX(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), _mm512_cvtps_ph((v), NJ_RNE))
#define V_STOREX_M(p, m, v) _mm256_mask_storeu_epi16((p), (m), _mm512_cvtps_ph((v), NJ_RNE))
