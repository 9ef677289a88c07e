// The qs8 kernel table and selection.
//
// TEMPORARY: until the shared registry list and nj_cpu_features (issue-9-f16) land, this file
// detects the few CPU features the qs8 kernels need itself (AVX512-VNNI, AVX-VNNI, the ARMv8.2
// dot product) and honours NIGHTJAR_DISABLE_FEATURES for them; then the table moves into the one
// list and these bits become the NJ_CPU_* ones.
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "qs8-internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static uint32_t detect_features(void) {
    uint32_t f = 0;
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        const int avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
        const int avx512vnni = (ecx >> 11) & 1;
        // nj_isa_supported checks the OS saves the YMM/ZMM state.
        if (nj_isa_supported(NJ_ISA_AVX512) && avx512bw && avx512vl && avx512vnni) {
            f |= NJ_QS8_FEATURE_AVX512_VNNI;
        }
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        if (nj_isa_supported(NJ_ISA_AVX2) && ((eax >> 4) & 1)) f |= NJ_QS8_FEATURE_AVX_VNNI;
    }
#elif defined(__aarch64__) && defined(__linux__)
    if (getauxval(AT_HWCAP) & (1ul << 20)) f |= NJ_QS8_FEATURE_DOTPROD;  // HWCAP_ASIMDDP
#endif
    // NIGHTJAR_DISABLE_FEATURES=avx512vnni,avxvnni,dotprod (tests force each path).
    const char *off = getenv("NIGHTJAR_DISABLE_FEATURES");
    if (off) {
        static const struct { const char *name; uint32_t bit; } names[] = {
            {"avx512vnni", NJ_QS8_FEATURE_AVX512_VNNI},
            {"avxvnni", NJ_QS8_FEATURE_AVX_VNNI},
            {"dotprod", NJ_QS8_FEATURE_DOTPROD},
        };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            const size_t n = strlen(names[i].name);
            for (const char *p = off; (p = strstr(p, names[i].name)) != NULL; p += n) {
                if ((p == off || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) f &= ~names[i].bit;
            }
        }
    }
    return f;
}

uint32_t nj_qs8_features_active(void) {
    static _Atomic uint32_t cached = 0;  // bit 31: detected
    uint32_t f = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!f) {
        f = detect_features() | 0x80000000u;
        atomic_store_explicit(&cached, f, memory_order_relaxed);
    }
    return f & 0x7fffffffu;
}

static const nj_conv2d_qs8_kernel reference_kernel = {
    nj_qs8_conv2d_scalar, "qs8-conv2d-scalar", NJ_ISA_SCALAR, 0, 0, NJ_QS8_WEIGHTS_OIHW_S8, 8, 0, 0,
};

// Best first within each kernel size; the scalar reference, last, takes every geometry.
static const nj_conv2d_qs8_kernel *const qs8_kernels[] = {
    NJ_QS8_KERNEL_LIST
    &reference_kernel,
};

static int isa_rank(nj_isa isa) {
    switch (isa) {
        case NJ_ISA_SCALAR: return 0;
        case NJ_ISA_SSE41: case NJ_ISA_NEON: return 1;
        case NJ_ISA_AVX2: return 2;
        case NJ_ISA_AVX512: return 3;
    }
    return 99;
}

int nj_conv2d_qs8_kernel_usable(const nj_conv2d_qs8_kernel *k) {
    const uint32_t need = k->required_features;
    return nj_isa_supported(k->isa) && (nj_qs8_features_active() & need) == need;
}

const nj_conv2d_qs8_kernel *nj_conv2d_qs8_kernel_select(const nj_conv2d_qs8_args *geometry, int cap) {
    const int max_rank = cap < 0 ? isa_rank(nj_isa_active())
                                 : (isa_rank((nj_isa)cap) <= 3 ? isa_rank((nj_isa)cap) : 3);
    const int32_t ipg = geometry->groups > 0 ? geometry->in_channels / geometry->groups : 0;
    const size_t count = sizeof qs8_kernels / sizeof qs8_kernels[0];
    for (size_t i = 0; i + 1 < count; i++) {
        const nj_conv2d_qs8_kernel *k = qs8_kernels[i];
        if (k->kernel_size == geometry->kernel_size && isa_rank(k->isa) <= max_rank &&
            (k->max_group_inputs == 0 || ipg <= k->max_group_inputs) && nj_conv2d_qs8_kernel_usable(k)) {
            return k;
        }
    }
    return &reference_kernel;
}

int32_t nj_conv2d_qs8_kernel_count(void) {
    return (int32_t)(sizeof qs8_kernels / sizeof qs8_kernels[0]);
}

const nj_conv2d_qs8_kernel *nj_conv2d_qs8_kernel_at(int32_t index) {
    return index >= 0 && index < nj_conv2d_qs8_kernel_count() ? qs8_kernels[index] : NULL;
}

const nj_conv2d_qs8_kernel *nj_conv2d_qs8_kernel_reference(void) {
    return &reference_kernel;
}
