// Chooses a kernel per operation geometry and CPU. Today only the scalar reference exists;
// SIMD kernels register here, so the executor never changes when they arrive.
#include "nightjar_kernels.h"

nj_conv2d_f32_fn nj_conv2d_f32_select(const nj_conv2d_f32_args *args) {
    (void)args;
    return nj_f32_conv2d_scalar;
}
