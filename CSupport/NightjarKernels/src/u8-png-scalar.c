// The PNG steps' references (nightjar_kernels_png.h), and the choice of their forms. On AArch64
// these plain loops are what runs: the compiler vectorises them with NEON (always present).
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-png-internal.h"

#define NJ_TARGET
#define NJ_FORM(name) name##_scalar
#include "u8-png-steps.h"

nj_png_kernels nj_png_kernels_named(const char *name) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features();
    if (strcmp(name, "avx512") == 0 && (features & NJ_CPU_AVX512)) {
        return (nj_png_kernels){nj_u8_png_paeth_avx512, nj_u8_adler32_avx512, "avx512"};
    }
    if (strcmp(name, "avx2") == 0 && (features & NJ_CPU_AVX2)) {
        return (nj_png_kernels){nj_u8_png_paeth_avx2, nj_u8_adler32_avx2, "avx2"};
    }
#endif
    if (strcmp(name, "scalar") == 0) return (nj_png_kernels){nj_u8_png_paeth_scalar, nj_u8_adler32_scalar, "scalar"};
    return (nj_png_kernels){0};
}

nj_png_kernels nj_png_kernels_active(void) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features_active();
    if (features & NJ_CPU_AVX512) return nj_png_kernels_named("avx512");
    if (features & NJ_CPU_AVX2) return nj_png_kernels_named("avx2");
#endif
    return nj_png_kernels_named("scalar");
}
