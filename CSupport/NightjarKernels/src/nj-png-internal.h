// The per-ISA forms of the PNG steps (nightjar_kernels_png.h).
#ifndef NJ_PNG_INTERNAL_H
#define NJ_PNG_INTERNAL_H

#include "nightjar_kernels_png.h"

#define NJ_PNG_STEP_FORMS(isa)                                                                                  \
    void nj_u8_png_paeth_##isa(uint8_t *out, const uint8_t *current, const uint8_t *above, const uint8_t *left, \
                               const uint8_t *corner, size_t count);                                            \
    uint32_t nj_u8_adler32_##isa(uint32_t adler, const uint8_t *bytes, size_t count);                          \
    size_t nj_u8_find_runs_##isa(const uint8_t *bytes, size_t count, nj_byte_run *runs, size_t capacity);

NJ_PNG_STEP_FORMS(scalar)
NJ_PNG_STEP_FORMS(avx2)
NJ_PNG_STEP_FORMS(avx512)

#endif
