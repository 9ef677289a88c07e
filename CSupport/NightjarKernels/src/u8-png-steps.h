// The PNG steps (nightjar_kernels_png.h) as plain loops, compiled into each form by the file that
// includes this one after defining NJ_FORM(name) (the form's suffix) and NJ_TARGET (its target
// attribute). Integer arithmetic only: every form gives the same bytes.
#include "nightjar_kernels_png.h"

// The predictor without branches in 8-bit lanes, so the compiler vectorises it 32 bytes at a
// time on AVX2 (and 16 on NEON) rather than 16 (16-bit lanes ran at 3.6 GB/s on Zen 3). With
// da = a - c and db = b - c, PNG's distances are pa = |db|, pb = |da| and pc = |da + db|: where
// da and db have the same sign (zero counts as either), pc = pa + pb, else |pa - pb|. The sum
// may pass 255; saturated at 255 it still compares with pa and pb as the true sum does (it is
// at least both, and both are at most 255), so the choice, and each residual, is the same.
NJ_TARGET void NJ_FORM(nj_u8_png_paeth)(uint8_t *restrict out, const uint8_t *restrict current,
                                        const uint8_t *restrict above, const uint8_t *restrict left,
                                        const uint8_t *restrict corner, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const uint8_t a = left[i], b = above[i], c = corner[i];
        const uint8_t pa = (uint8_t)(b > c ? b - c : c - b), pb = (uint8_t)(a > c ? a - c : c - a);
        const uint8_t sum = (uint8_t)(pa + pb);
        const uint8_t together = sum < pa ? 255 : sum;  // pa + pb saturated
        const uint8_t apart = (uint8_t)(pa > pb ? pa - pb : pb - pa);
        const uint8_t pc = (b >= c) == (a >= c) ? together : apart;
        const uint8_t predicted = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
        out[i] = (uint8_t)(current[i] - predicted);
    }
}

// Blocks short enough that the 32-bit sums cannot wrap: the weighted sum of a block of n bytes
// is at most 255 n (n + 1) / 2, 2.14e9 for 4096, plus n times a residue below 65521.
enum { NJ_ADLER_BLOCK = 4096, NJ_ADLER_BASE = 65521 };

// Per block of n bytes D: a' = a + sum D, b' = b + n a + sum (n - i) D[i], both modulo 65521
// (RFC 1950's definition, a byte at a time, gathered): two reductions the compiler vectorises,
// or the form's adler_sums where it defines NJ_PNG_ADLER_SUMS.
NJ_TARGET uint32_t NJ_FORM(nj_u8_adler32)(uint32_t adler, const uint8_t *restrict bytes, size_t count) {
    uint32_t a = adler & 0xffff, b = adler >> 16;
    while (count > 0) {
        const size_t n = count < NJ_ADLER_BLOCK ? count : NJ_ADLER_BLOCK;
        uint32_t sum = 0, weighted = 0;
#ifdef NJ_PNG_ADLER_SUMS
        NJ_FORM(adler_sums)(bytes, n, &sum, &weighted);  // the form's own, the same two sums
#else
        for (size_t i = 0; i < n; i++) {
            sum += bytes[i];
            weighted += (uint32_t)(n - i) * bytes[i];
        }
#endif
        b = (b + (uint32_t)n * a + weighted) % NJ_ADLER_BASE;
        a = (a + sum) % NJ_ADLER_BASE;
        bytes += n;
        count -= n;
    }
    return b << 16 | a;
}
