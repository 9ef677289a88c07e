// CPU feature detection, the instruction-set cap and the features tests disable: what
// dispatch may use. Detected once (cpuid + xgetbv on x86-64, getauxval(AT_HWCAP) on AArch64);
// the cap and the disabled set live in atomics, so selection is thread-safe.
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

size_t nj_dtype_size(nj_dtype dtype) {
    switch (dtype) {
        case NJ_DTYPE_F32: return 4;
        case NJ_DTYPE_F16: return 2;
        case NJ_DTYPE_QS8: return 1;
        case NJ_DTYPE_F16X2: return 4;
    }
    return 0;
}

const char *nj_dtype_name(nj_dtype dtype) {
    switch (dtype) {
        case NJ_DTYPE_F32: return "f32";
        case NJ_DTYPE_F16: return "f16";
        case NJ_DTYPE_QS8: return "qs8";
        case NJ_DTYPE_F16X2: return "f16x2";
    }
    return "unknown";
}

// ---- Detection -----------------------------------------------------------------------------

#if defined(__x86_64__)
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t detect_x86(void) {
    uint32_t set = 0;
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return set;
    }
    const int sse41 = (ecx >> 19) & 1;
    const int fma = (ecx >> 12) & 1;
    const int osxsave = (ecx >> 27) & 1;
    const int avx = (ecx >> 28) & 1;
    const int f16c = (ecx >> 29) & 1;
    if (sse41) {
        set |= NJ_CPU_SSE41;
    }
    if (!osxsave || !avx) {
        return set;
    }
    const uint64_t xcr0 = read_xcr0();
    const int ymm_state = (xcr0 & 0x6) == 0x6;           // XMM + YMM
    const int zmm_state = (xcr0 & 0xe6) == 0xe6;         // + opmask, ZMM_Hi256, Hi16_ZMM
    if (!ymm_state) {
        return set;
    }
    if (f16c) {
        set |= NJ_CPU_F16C;
    }
    const unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) {
        return set;
    }
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const int avx2 = (ebx >> 5) & 1;
    const int avx512f = (ebx >> 16) & 1, avx512dq = (ebx >> 17) & 1;
    const int avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
    const int avx512vnni = (ecx >> 11) & 1, avx512vbmi = (ecx >> 1) & 1;
    const int avx512fp16 = (edx >> 23) & 1;
    const unsigned subleaves = eax;
    int avxvnni = 0;
    if (subleaves >= 1) {
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        avxvnni = (a1 >> 4) & 1;
    }
    if (!(sse41 && avx2 && fma)) {
        return set;
    }
    set |= NJ_CPU_AVX2;
    if (avxvnni) {
        set |= NJ_CPU_AVX_VNNI;
    }
    if (avx512f && avx512dq && avx512bw && avx512vl && zmm_state) {
        set |= NJ_CPU_AVX512;
        if (avx512vnni) {
            set |= NJ_CPU_AVX512_VNNI;
        }
        if (avx512vbmi) {
            set |= NJ_CPU_AVX512_VBMI;
        }
        if (avx512fp16 && f16c) {
            set |= NJ_CPU_AVX512_FP16;
        }
    }
    return set;
}
#endif

#if defined(__aarch64__)
static uint32_t detect_aarch64(void) {
    uint32_t set = NJ_CPU_NEON;  // architectural on AArch64
#if defined(__linux__)
    const unsigned long hwcap = getauxval(AT_HWCAP);
    // Bits of the Linux AArch64 ABI (asm/hwcap.h): FPHP 9, ASIMDHP 10, ASIMDDP 20.
    const unsigned long fphp = 1ul << 9, asimdhp = 1ul << 10, asimddp = 1ul << 20;
    if ((hwcap & fphp) && (hwcap & asimdhp)) {
        set |= NJ_CPU_NEON_FP16;
    }
    if (hwcap & asimddp) {
        set |= NJ_CPU_NEON_DOTPROD;
    }
#endif
    return set;
}
#endif

uint32_t nj_cpu_features(void) {
    // Bit 31 marks "detected" so that a CPU with no feature at all is detected only once.
    static _Atomic uint32_t cached = 0;
    uint32_t set = atomic_load_explicit(&cached, memory_order_relaxed);
    if (set == 0) {
#if defined(__x86_64__)
        set = detect_x86();
#elif defined(__aarch64__)
        set = detect_aarch64();
#else
        set = 0;
#endif
        set |= 1u << 31;
        atomic_store_explicit(&cached, set, memory_order_relaxed);
    }
    return set & ~(1u << 31);
}

// ---- Names ---------------------------------------------------------------------------------

static const struct { uint32_t bit; const char *name; } feature_names[] = {
    {NJ_CPU_SSE41, "sse4.1"},        {NJ_CPU_AVX2, "avx2"},
    {NJ_CPU_AVX512, "avx512"},       {NJ_CPU_F16C, "f16c"},
    {NJ_CPU_AVX512_FP16, "avx512fp16"}, {NJ_CPU_AVX512_VNNI, "avx512vnni"},
    {NJ_CPU_AVX_VNNI, "avxvnni"},    {NJ_CPU_NEON, "neon"},
    {NJ_CPU_NEON_FP16, "fp16"},      {NJ_CPU_NEON_DOTPROD, "dotprod"},
    {NJ_CPU_AVX512_VBMI, "avx512vbmi"},
};

const char *nj_cpu_feature_name(uint32_t bit) {
    for (size_t i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++) {
        if (feature_names[i].bit == bit) {
            return feature_names[i].name;
        }
    }
    return "unknown";
}

uint32_t nj_cpu_features_parse(const char *list) {
    uint32_t bits = 0;
    if (!list) {
        return 0;
    }
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        for (size_t i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++) {
            if (strlen(feature_names[i].name) == len && strncasecmp(p, feature_names[i].name, len) == 0) {
                bits |= feature_names[i].bit;
            }
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return bits;
}

// ---- The cap and the disabled features -------------------------------------------------------

int nj_isa_rank(nj_isa isa) {
    switch (isa) {
        case NJ_ISA_SCALAR: return 0;
        case NJ_ISA_SSE41: return 1;
        case NJ_ISA_NEON: return 1;
        case NJ_ISA_AVX2: return 2;
        case NJ_ISA_AVX512: return 3;
    }
    return -1;
}

uint32_t nj_isa_feature(nj_isa isa) {
    switch (isa) {
        case NJ_ISA_SCALAR: return 0;
        case NJ_ISA_SSE41: return NJ_CPU_SSE41;
        case NJ_ISA_AVX2: return NJ_CPU_AVX2;
        case NJ_ISA_AVX512: return NJ_CPU_AVX512;
        case NJ_ISA_NEON: return NJ_CPU_NEON;
    }
    return 0;
}

// The features a cap of rank r leaves (the extensions go with the level they extend).
static uint32_t features_up_to_rank(int rank) {
    uint32_t set = 0;
    if (rank >= 1) set |= NJ_CPU_SSE41 | NJ_CPU_NEON | NJ_CPU_NEON_FP16 | NJ_CPU_NEON_DOTPROD;
    if (rank >= 2) set |= NJ_CPU_AVX2 | NJ_CPU_F16C | NJ_CPU_AVX_VNNI;
    if (rank >= 3) set |= NJ_CPU_AVX512 | NJ_CPU_AVX512_FP16 | NJ_CPU_AVX512_VNNI | NJ_CPU_AVX512_VBMI;
    return set;
}

int nj_isa_supported(nj_isa isa) {
    if (nj_isa_rank(isa) < 0) return 0;
    const uint32_t bit = nj_isa_feature(isa);
    return bit == 0 || (nj_cpu_features() & bit) != 0;
}

static nj_isa best_within(int max_rank) {
    nj_isa best = NJ_ISA_SCALAR;
    const nj_isa all[] = {NJ_ISA_SSE41, NJ_ISA_NEON, NJ_ISA_AVX2, NJ_ISA_AVX512};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (nj_isa_supported(all[i]) && nj_isa_rank(all[i]) <= max_rank &&
            nj_isa_rank(all[i]) > nj_isa_rank(best)) {
            best = all[i];
        }
    }
    return best;
}

nj_isa nj_isa_detected(void) {
    return best_within(3);
}

const char *nj_isa_name(nj_isa isa) {
    switch (isa) {
        case NJ_ISA_SCALAR: return "scalar";
        case NJ_ISA_SSE41: return "sse4.1";
        case NJ_ISA_AVX2: return "avx2";
        case NJ_ISA_AVX512: return "avx512";
        case NJ_ISA_NEON: return "neon";
    }
    return "unknown";
}

int nj_isa_parse(const char *name) {
    if (!name) {
        return -1;
    }
    static const struct { const char *name; nj_isa isa; } names[] = {
        {"scalar", NJ_ISA_SCALAR}, {"none", NJ_ISA_SCALAR},  {"sse4.1", NJ_ISA_SSE41},
        {"sse41", NJ_ISA_SSE41},   {"sse4_1", NJ_ISA_SSE41}, {"avx2", NJ_ISA_AVX2},
        {"avx512", NJ_ISA_AVX512}, {"avx-512", NJ_ISA_AVX512}, {"avx512f", NJ_ISA_AVX512},
        {"neon", NJ_ISA_NEON},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            return (int)names[i].isa;
        }
    }
    return -1;
}

// Cap state: CAP_UNSET = not decided yet (read the environment), CAP_NONE = no cap,
// otherwise the nj_isa value.
enum { CAP_UNSET = -2, CAP_NONE = -1 };
static _Atomic int max_isa_cap = CAP_UNSET;

static int current_cap(void) {
    int cap = atomic_load_explicit(&max_isa_cap, memory_order_acquire);
    if (cap == CAP_UNSET) {
        const int parsed = nj_isa_parse(getenv("NIGHTJAR_MAX_ISA"));
        int expected = CAP_UNSET;
        atomic_compare_exchange_strong(&max_isa_cap, &expected, parsed >= 0 ? parsed : CAP_NONE);
        cap = atomic_load_explicit(&max_isa_cap, memory_order_acquire);
    }
    return cap;
}

void nj_set_max_isa(int cap) {
    atomic_store_explicit(&max_isa_cap, cap >= 0 && nj_isa_rank((nj_isa)cap) >= 0 ? cap : CAP_NONE,
                          memory_order_release);
}

nj_isa nj_isa_active(void) {
    const int cap = current_cap();
    return best_within(cap == CAP_NONE ? 3 : nj_isa_rank((nj_isa)cap));
}

// Disabled features: bit 31 set once decided (the environment read or a call made).
static _Atomic uint32_t disabled_state = 0;

static uint32_t disabled_features(void) {
    uint32_t state = atomic_load_explicit(&disabled_state, memory_order_acquire);
    if (state == 0) {
        uint32_t expected = 0;
        atomic_compare_exchange_strong(&disabled_state, &expected,
                                       nj_cpu_features_parse(getenv("NIGHTJAR_DISABLE_FEATURES")) | (1u << 31));
        state = atomic_load_explicit(&disabled_state, memory_order_acquire);
    }
    return state & ~(1u << 31);
}

void nj_set_disabled_cpu_features(uint32_t bits) {
    atomic_store_explicit(&disabled_state, (bits & ~(1u << 31)) | (1u << 31), memory_order_release);
}

uint32_t nj_cpu_features_under_cap(int cap) {
    int rank;
    if (cap < 0) {
        const int process_cap = current_cap();
        rank = process_cap == CAP_NONE ? 3 : nj_isa_rank((nj_isa)process_cap);
    } else {
        // A cap that names no level is no cap (as in nj_set_max_isa).
        rank = nj_isa_rank((nj_isa)cap) >= 0 ? nj_isa_rank((nj_isa)cap) : 3;
    }
    return nj_cpu_features() & features_up_to_rank(rank) & ~disabled_features();
}

uint32_t nj_cpu_features_active(void) {
    return nj_cpu_features_under_cap(-1);
}
