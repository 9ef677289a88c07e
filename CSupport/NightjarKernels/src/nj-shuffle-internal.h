// The per-ISA forms of nj_u8_deinterleave4 (internal: the public function dispatches to them by
// the active CPU features). Each writes exactly what the scalar reference writes.
#ifndef NJ_SHUFFLE_INTERNAL_H
#define NJ_SHUFFLE_INTERNAL_H

#include "nightjar_kernels.h"

#if defined(__x86_64__)
void nj_u8_deinterleave4_avx2(const uint8_t *in, uint8_t *out0, uint8_t *out1, uint8_t *out2, uint8_t *out3,
                              size_t n);
void nj_u8_deinterleave4_avx512vbmi(const uint8_t *in, uint8_t *out0, uint8_t *out1, uint8_t *out2, uint8_t *out3,
                                    size_t n);
#endif
#if defined(__aarch64__)
void nj_u8_deinterleave4_neon(const uint8_t *in, uint8_t *out0, uint8_t *out1, uint8_t *out2, uint8_t *out3,
                              size_t n);
#endif

#endif
