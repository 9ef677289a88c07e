// The qs8 kernel table (from kernel-list.h, the one list) and selection. Selection is the
// families' rule (the first kernel of the geometry whose instruction set and required CPU
// features are active under the cap, and whose own test, if it has one, takes the geometry)
// plus two qs8 conditions: the kernel's staging area must hold the group's input channels
// (max_group_inputs), and its folded input's kernel size is the geometry's (0: none).
#include "nightjar_kernels.h"
#include "nj-kernels-internal.h"
#include "qs8-internal.h"

static const nj_conv2d_qs8_kernel reference_kernel = {
    .run = nj_qs8_conv2d_scalar,
    .name = "qs8-conv2d-scalar",
    .isa = NJ_ISA_SCALAR,
    .required_features = 0,
    .kernel_size = 0,
    .weight_layout = NJ_QS8_WEIGHTS_OIHW_S8,
    .channel_block = 8,
    .fma_ports = 0,
    .max_group_inputs = 0,
    .row_block = 1,
    .supports = NULL,
};

// Best first within each kernel size; the scalar reference, last, takes every geometry.
static const nj_conv2d_qs8_kernel *const qs8_kernels[] = {
#define NJ_QS8_KERNEL(symbol) &symbol,
#include "kernel-list.h"
    &reference_kernel,
};

int nj_conv2d_qs8_kernel_usable(const nj_conv2d_qs8_kernel *k) {
    return k && nj_kernel_runnable_with(k->isa, k->required_features, nj_cpu_features_under_cap(-1));
}

const nj_conv2d_qs8_kernel *nj_conv2d_qs8_kernel_select(const nj_conv2d_qs8_args *geometry, int cap) {
    const uint32_t available = nj_cpu_features_under_cap(cap);
    const int32_t ipg = geometry->groups > 0 ? geometry->in_channels / geometry->groups : 0;
    const int32_t rows = geometry->row_end - geometry->row_begin;  // per call, when given
    const size_t count = sizeof qs8_kernels / sizeof qs8_kernels[0];
    for (size_t i = 0; i + 1 < count; i++) {
        const nj_conv2d_qs8_kernel *k = qs8_kernels[i];
        if (k->kernel_size == geometry->kernel_size && k->fold_kernel_size == geometry->fold_kernel_size &&
            (rows <= 0 || k->tile_rows <= rows) &&
            (k->max_group_inputs == 0 || ipg <= k->max_group_inputs) &&
            (k->supports == NULL || k->supports(geometry)) &&
            nj_kernel_runnable_with(k->isa, k->required_features, available)) {
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
