// Deinterleaving bytes by 4 (nj_u8_deinterleave4) for NEON: LD4 splits 64 bytes into the four
// phases, four stores write them out.
#include "nightjar_kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include "nj-shuffle-internal.h"

void nj_u8_deinterleave4_neon(const uint8_t *restrict in, uint8_t *restrict out0, uint8_t *restrict out1,
                              uint8_t *restrict out2, uint8_t *restrict out3, size_t n) {
    size_t x = 0;
    for (; x + 16 <= n; x += 16) {
        const uint8x16x4_t phases = vld4q_u8(in + 4 * x);
        vst1q_u8(out0 + x, phases.val[0]);
        vst1q_u8(out1 + x, phases.val[1]);
        vst1q_u8(out2 + x, phases.val[2]);
        vst1q_u8(out3 + x, phases.val[3]);
    }
    nj_u8_deinterleave4_scalar(in + 4 * x, out0 + x, out1 + x, out2 + x, out3 + x, n - x);
}
#else
typedef int nj_u8_deinterleave4_neon_unused;
#endif
