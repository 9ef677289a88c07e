// Chooses a kernel per datatype, operation geometry and CPU. The executor asks
// nj_conv2d_<type>_kernel_select() once per layer. The tables come from kernel-list.h, the
// one list of kernels; CPU features and the cap are in cpu-features.c.
#include <stdatomic.h>
#include <stdlib.h>

#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"

// ---- Kernel tables ---------------------------------------------------------------------------

static const nj_conv2d_f32_kernel reference_kernel = {
    .run = nj_f32_conv2d_scalar,
    .name = "f32-conv2d-scalar",
    .isa = NJ_ISA_SCALAR,
    .required_features = 0,
    .kernel_size = 0,
    .weight_layout = NJ_WEIGHTS_OIHW,
    .channel_block = 8,
    .fma_ports = 0,
    .row_block = 1,
    .supports = NULL,
};

static const nj_conv2d_f16_kernel f16_reference_kernel = {
    .run = nj_f16_conv2d_scalar,
    .name = "f16-conv2d-scalar",
    .isa = NJ_ISA_SCALAR,
    .required_features = 0,
    .kernel_size = 0,
    .weight_layout = NJ_WEIGHTS_OIHW,
    .weight_dtype = NJ_DTYPE_F16,
    .channel_block = 8,
    .fma_ports = 0,
    .half_sum_terms = 0,
    .row_block = 1,
    .supports = NULL,
};

// Best first within each kernel size; the scalar reference, last, takes every geometry.
static const nj_conv2d_f32_kernel *const conv_kernels[] = {
#define NJ_F32_KERNEL(symbol) &symbol,
#include "kernel-list.h"
    &reference_kernel,
};

static const nj_conv2d_f16_kernel *const f16_kernels[] = {
#define NJ_F16_KERNEL(symbol) &symbol,
#include "kernel-list.h"
    &f16_reference_kernel,
};

// The first kernel of `table` (best first, reference last) for the geometry that can run
// under the cap; among kernels tuned for a 512-bit FMA port count, one for this machine's
// count when the geometry has one. Written once for every family: the fields it reads have
// the same names in every kernel struct.
#define NJ_SELECT(table, geometry, cap, reference, serves)                                      \
    do {                                                                                        \
        const uint32_t available = nj_cpu_features_under_cap(cap);                              \
        const size_t count = sizeof(table) / sizeof(table[0]);                                  \
        const int32_t ports = nj_fma_ports();                                                   \
        for (size_t i_ = 0; i_ + 1 < count; i_++) {                                             \
            if (nj_kernel_runnable_with(table[i_]->isa, table[i_]->required_features, available) && \
                table[i_]->kernel_size == (geometry)->kernel_size && serves(table[i_], geometry)) { \
                if (table[i_]->fma_ports == 0 || table[i_]->fma_ports == ports) {               \
                    return table[i_];                                                           \
                }                                                                               \
                if (!fallback) {                                                                \
                    fallback = table[i_];                                                       \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        return fallback ? fallback : (reference);                                               \
    } while (0)

// Beyond the kernel size: an f32 kernel's own test of the geometry, where it has one.
static int f32_serves(const nj_conv2d_f32_kernel *kernel, const nj_conv2d_f32_args *geometry) {
    return kernel->supports == NULL || kernel->supports(geometry);
}

static int f16_serves(const nj_conv2d_f16_kernel *kernel, const nj_conv2d_f16_args *geometry) {
    return kernel->supports == NULL || kernel->supports(geometry);
}

const nj_conv2d_f32_kernel *nj_conv2d_f32_kernel_select(const nj_conv2d_f32_args *geometry,
                                                        int cap) {
    const nj_conv2d_f32_kernel *fallback = NULL;
    NJ_SELECT(conv_kernels, geometry, cap, &reference_kernel, f32_serves);
}

int32_t nj_conv2d_f32_kernel_count(void) {
    return (int32_t)(sizeof(conv_kernels) / sizeof(conv_kernels[0]));
}

const nj_conv2d_f32_kernel *nj_conv2d_f32_kernel_at(int32_t index) {
    return index >= 0 && index < nj_conv2d_f32_kernel_count() ? conv_kernels[index] : NULL;
}

const nj_conv2d_f16_kernel *nj_conv2d_f16_kernel_select(const nj_conv2d_f16_args *geometry,
                                                        int cap) {
    const nj_conv2d_f16_kernel *fallback = NULL;
    NJ_SELECT(f16_kernels, geometry, cap, &f16_reference_kernel, f16_serves);
}

int32_t nj_conv2d_f16_kernel_count(void) {
    return (int32_t)(sizeof(f16_kernels) / sizeof(f16_kernels[0]));
}

const nj_conv2d_f16_kernel *nj_conv2d_f16_kernel_at(int32_t index) {
    return index >= 0 && index < nj_conv2d_f16_kernel_count() ? f16_kernels[index] : NULL;
}

const nj_conv2d_f16_kernel *nj_conv2d_f16_kernel_reference(void) {
    return &f16_reference_kernel;
}

int nj_conv2d_f16_kernel_runnable(const nj_conv2d_f16_kernel *kernel) {
    return kernel && nj_kernel_runnable_with(kernel->isa, kernel->required_features,
                                             nj_cpu_features_under_cap(-1));
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
