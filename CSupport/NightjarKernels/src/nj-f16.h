// Scalar binary16 <-> binary32 conversions (internal): integer arithmetic only, so the result
// does not depend on the floating-point mode (flush-to-zero) or on the CPU having F16C / FP16.
#ifndef NJ_F16_H
#define NJ_F16_H

#include <stdint.h>
#include <string.h>

static inline float nj_f16_bits_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);        // inf, NaN (payload kept)
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;                                          // +-0
    } else {
        // Subnormal: mantissa * 2^-24, normalised (exactly representable in f32).
        uint32_t e = 113;                                     // 127 - 14
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint16_t nj_f32_to_f16_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    const uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    const uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x7f800000u) {
        if (magnitude == 0x7f800000u) return sign | 0x7c00u;  // inf
        // NaN: quiet, the top payload bits kept.
        return sign | 0x7e00u | (uint16_t)((magnitude >> 13) & 0x3ffu);
    }
    if (magnitude >= 0x477ff000u) {
        return sign | 0x7c00u;  // rounds to above 65504: inf
    }
    if (magnitude >= 0x38800000u) {
        // Normal in f16: drop 13 bits, round to nearest even (a carry into the exponent is
        // the right result).
        const uint32_t rebiased = magnitude - 0x38000000u;     // exponent 127 -> 15
        const uint32_t rounded = rebiased + 0xfffu + ((rebiased >> 13) & 1u);
        return sign | (uint16_t)(rounded >> 13);
    }
    if (magnitude < 0x33000000u) {
        return sign;  // below half the smallest subnormal (2^-25): +-0
    }
    // Subnormal in f16: value = m * 2^-24 with m = mantissa (with the implicit bit) shifted.
    const uint32_t exponent = magnitude >> 23;                 // 102..112
    const uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - exponent;                    // 14..24
    const uint32_t kept = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    const uint32_t rounded = kept + (rest > half || (rest == half && (kept & 1u)));
    return sign | (uint16_t)rounded;
}

#endif
