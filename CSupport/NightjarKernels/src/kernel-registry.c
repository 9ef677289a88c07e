// Chooses a kernel per datatype, operation geometry and CPU. The executor asks
// nj_conv2d_f32_kernel_select() once per layer; SIMD kernels register in the table below.
//
// Instruction-set detection: cpuid + xgetbv on x86-64 (the OS must save the YMM/ZMM state),
// NEON is architectural on AArch64. The cap (nj_set_max_isa / NIGHTJAR_MAX_ISA) is kept in
// an atomic so selection is thread-safe.
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>

#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

// ---- Detection -----------------------------------------------------------------------------

static int isa_rank(nj_isa isa) {
    switch (isa) {
        case NJ_ISA_SCALAR: return 0;
        case NJ_ISA_SSE41: return 1;
        case NJ_ISA_NEON: return 1;
        case NJ_ISA_AVX2: return 2;
        case NJ_ISA_AVX512: return 3;
    }
    return -1;
}

#if defined(__x86_64__)
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

// Bit set of supported levels (1 << nj_isa).
static unsigned detect_x86(void) {
    unsigned set = 1u << NJ_ISA_SCALAR;
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return set;
    }
    const int sse41 = (ecx >> 19) & 1;
    const int fma = (ecx >> 12) & 1;
    const int osxsave = (ecx >> 27) & 1;
    const int avx = (ecx >> 28) & 1;
    if (sse41) {
        set |= 1u << NJ_ISA_SSE41;
    }
    if (!osxsave || !avx) {
        return set;
    }
    const uint64_t xcr0 = read_xcr0();
    const int ymm_state = (xcr0 & 0x6) == 0x6;           // XMM + YMM
    const int zmm_state = (xcr0 & 0xe6) == 0xe6;         // + opmask, ZMM_Hi256, Hi16_ZMM
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) {
        return set;
    }
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const int avx2 = (ebx >> 5) & 1;
    const int avx512f = (ebx >> 16) & 1;
    if (sse41 && avx2 && fma && ymm_state) {
        set |= 1u << NJ_ISA_AVX2;
        if (avx512f && zmm_state) {
            set |= 1u << NJ_ISA_AVX512;
        }
    }
    return set;
}
#endif

static unsigned supported_set(void) {
    static _Atomic unsigned cached = 0;
    unsigned set = atomic_load_explicit(&cached, memory_order_relaxed);
    if (set == 0) {
#if defined(__x86_64__)
        set = detect_x86();
#elif defined(__aarch64__)
        set = (1u << NJ_ISA_SCALAR) | (1u << NJ_ISA_NEON);
#else
        set = 1u << NJ_ISA_SCALAR;
#endif
        atomic_store_explicit(&cached, set, memory_order_relaxed);
    }
    return set;
}

int nj_isa_supported(nj_isa isa) {
    return isa_rank(isa) >= 0 && ((supported_set() >> isa) & 1u);
}

static nj_isa best_within(int max_rank) {
    nj_isa best = NJ_ISA_SCALAR;
    const nj_isa all[] = {NJ_ISA_SSE41, NJ_ISA_NEON, NJ_ISA_AVX2, NJ_ISA_AVX512};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (nj_isa_supported(all[i]) && isa_rank(all[i]) <= max_rank &&
            isa_rank(all[i]) > isa_rank(best)) {
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
    atomic_store_explicit(&max_isa_cap, cap >= 0 && isa_rank((nj_isa)cap) >= 0 ? cap : CAP_NONE,
                          memory_order_release);
}

nj_isa nj_isa_active(void) {
    const int cap = current_cap();
    return best_within(cap == CAP_NONE ? 3 : isa_rank((nj_isa)cap));
}

// ---- Kernel table --------------------------------------------------------------------------

static const nj_conv2d_f32_kernel reference_kernel = {
    nj_f32_conv2d_scalar, "f32-conv2d-scalar", NJ_ISA_SCALAR, 0, NJ_WEIGHTS_OIHW, 8, 0,
};

// Best first within each kernel size; the scalar reference, last, takes every geometry.
static const nj_conv2d_f32_kernel *const conv_kernels[] = {
#if defined(__x86_64__)
    &nj_f32_conv2d_1x1_avx512_12x2_kernel,
    &nj_f32_conv2d_3x3_avx512_8x3_kernel,
    &nj_f32_conv2d_5x5_avx512_6x4_kernel,
    &nj_f32_conv2d_5x5_avx512_12x1_kernel,
    &nj_f32_conv2d_1x1_avx2_6x2_kernel,
    &nj_f32_conv2d_3x3_avx2_6x2_kernel,
    &nj_f32_conv2d_5x5_avx2_6x2_kernel,
    &nj_f32_conv2d_1x1_sse41_4x2_kernel,
    &nj_f32_conv2d_3x3_sse41_4x2_kernel,
    &nj_f32_conv2d_5x5_sse41_4x2_kernel,
#endif
#if defined(__aarch64__)
    &nj_f32_conv2d_1x1_neon_4x4_kernel,
    &nj_f32_conv2d_3x3_neon_4x4_kernel,
    &nj_f32_conv2d_5x5_neon_4x4_kernel,
#endif
    &reference_kernel,
};

const nj_conv2d_f32_kernel *nj_conv2d_f32_kernel_select(const nj_conv2d_f32_args *geometry,
                                                        int cap) {
    // A cap that names no level is no cap (as in nj_set_max_isa).
    const int max_rank = cap < 0 ? isa_rank(nj_isa_active())
                                 : (isa_rank((nj_isa)cap) >= 0 ? isa_rank((nj_isa)cap) : 3);
    const size_t count = sizeof(conv_kernels) / sizeof(conv_kernels[0]);
    const int32_t ports = nj_fma_ports();
    const nj_conv2d_f32_kernel *fallback = NULL;
    for (size_t i = 0; i + 1 < count; i++) {
        const nj_conv2d_f32_kernel *k = conv_kernels[i];
        if (isa_rank(k->isa) <= max_rank && nj_isa_supported(k->isa) &&
            k->kernel_size == geometry->kernel_size) {
            if (k->fma_ports == 0 || k->fma_ports == ports) {
                return k;
            }
            if (!fallback) {
                fallback = k;
            }
        }
    }
    return fallback ? fallback : &reference_kernel;
}

int32_t nj_conv2d_f32_kernel_count(void) {
    return (int32_t)(sizeof(conv_kernels) / sizeof(conv_kernels[0]));
}

const nj_conv2d_f32_kernel *nj_conv2d_f32_kernel_at(int32_t index) {
    return index >= 0 && index < nj_conv2d_f32_kernel_count() ? conv_kernels[index] : NULL;
}

// ---- FMA ports -----------------------------------------------------------------------------

static _Atomic int32_t fma_ports_state = 0;  // 0: not decided yet

void nj_set_fma_ports(int32_t ports) {
    atomic_store_explicit(&fma_ports_state, ports == 1 || ports == 2 ? ports : 0,
                          memory_order_release);
}

int32_t nj_fma_ports(void) {
    int32_t ports = atomic_load_explicit(&fma_ports_state, memory_order_acquire);
    if (ports == 0) {
        const char *env = getenv("NIGHTJAR_FMA_PORTS");
        if (env && (env[0] == '1' || env[0] == '2') && env[1] == 0) {
            ports = env[0] - '0';
        } else {
            // A two-port core doubles the lanes per cycle from 256 to 512 bits; a one-port core
            // gains nothing. 1.5 splits the two cases with room for frequency licences.
            ports = nj_isa_supported(NJ_ISA_AVX512) && nj_fma512_to_256_ratio(5) > 1.5 ? 2 : 1;
        }
        int32_t expected = 0;
        atomic_compare_exchange_strong(&fma_ports_state, &expected, ports);
        ports = atomic_load_explicit(&fma_ports_state, memory_order_acquire);
    }
    return ports;
}

const nj_conv2d_f32_kernel *nj_conv2d_f32_kernel_reference(void) {
    return &reference_kernel;
}

const char *nj_conv2d_f32_fn_name(nj_conv2d_f32_fn fn) {
    for (size_t i = 0; i < sizeof(conv_kernels) / sizeof(conv_kernels[0]); i++) {
        if (conv_kernels[i]->run == fn) {
            return conv_kernels[i]->name;
        }
    }
    return "unknown";
}
