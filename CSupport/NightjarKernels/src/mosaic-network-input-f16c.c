// The binary16 network input rows (mosaic-network-input-scalar.c) with the F16C conversion:
// vcvtps2ph rounds to nearest even and keeps half subnormals whatever MXCSR says, as the
// scalar rounding does.
#if defined(__x86_64__)
#include <immintrin.h>

#include "nj-convert-internal.h"
#include "nj-network-input.h"

#define NJ_TARGET __attribute__((target("avx,f16c")))

NJ_TARGET static inline uint16_t round_f16c(float value) {
    return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(value), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), 0);
}

NJ_TARGET NJ_NETWORK_INPUT_ROW(nj_u16_network_input_row_f16_f16c, uint16_t, uint16_t, round_f16c)
NJ_TARGET NJ_NETWORK_INPUT_ROW(nj_u8_network_input_row_f16_f16c, uint8_t, uint16_t, round_f16c)
#endif
