// The PNG steps (nightjar_kernels_png.h) as plain loops, compiled into each form by the file that
// includes this one after defining NJ_FORM(name) (the form's suffix) and NJ_TARGET (its target
// attribute). Integer arithmetic only: every form gives the same bytes.
#include "nightjar_kernels_png.h"

// The predictor without branches, in 16-bit lanes (a, b, c are bytes: the distances fit), so the
// compiler vectorises it 16 or 32 bytes at a time rather than 4 (int lanes ran at 2 GB/s on SSE2,
// this at 6 on AVX2 and 12 on AVX-512, Zen 5).
NJ_TARGET void NJ_FORM(nj_u8_png_paeth)(uint8_t *restrict out, const uint8_t *restrict current,
                                        const uint8_t *restrict above, const uint8_t *restrict left,
                                        const uint8_t *restrict corner, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const int16_t a = left[i], b = above[i], c = corner[i];
        int16_t pa = (int16_t)(b - c), pb = (int16_t)(a - c);
        int16_t pc = (int16_t)(pa + pb);
        pa = pa < 0 ? (int16_t)-pa : pa;
        pb = pb < 0 ? (int16_t)-pb : pb;
        pc = pc < 0 ? (int16_t)-pc : pc;
        const int16_t predicted = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
        out[i] = (uint8_t)(current[i] - predicted);
    }
}

// Blocks short enough that the 32-bit sums cannot wrap: the weighted sum of a block of n bytes
// is at most 255 n (n + 1) / 2, 2.14e9 for 4096, plus n times a residue below 65521.
enum { NJ_ADLER_BLOCK = 4096, NJ_ADLER_BASE = 65521 };

// Per block of n bytes D: a' = a + sum D, b' = b + n a + sum (n - i) D[i], both modulo 65521
// (RFC 1950's definition, a byte at a time, gathered): two reductions the compiler vectorises.
NJ_TARGET uint32_t NJ_FORM(nj_u8_adler32)(uint32_t adler, const uint8_t *restrict bytes, size_t count) {
    uint32_t a = adler & 0xffff, b = adler >> 16;
    while (count > 0) {
        const size_t n = count < NJ_ADLER_BLOCK ? count : NJ_ADLER_BLOCK;
        uint32_t sum = 0, weighted = 0;
        for (size_t i = 0; i < n; i++) {
            sum += bytes[i];
            weighted += (uint32_t)(n - i) * bytes[i];
        }
        b = (b + (uint32_t)n * a + weighted) % NJ_ADLER_BASE;
        a = (a + sum) % NJ_ADLER_BASE;
        bytes += n;
        count -= n;
    }
    return b << 16 | a;
}
