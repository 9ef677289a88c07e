// The runs search (nightjar_kernels_png.h) from masks of 64 bytes: bit k of a block's mask says
// whether its byte k equals the byte before it, and the runs are the stretches of set bits. The
// file that includes this one defines NJ_TARGET, NJ_FORM(name) and NJ_FORM(equal_mask)(p), the
// mask of the 64 bytes at p (reading p - 1 to p + 63). On noisy rows a block costs one vector
// comparison and a few scalar steps on its mask, against 8 word comparisons for the scalar
// form; a block inside a run costs one comparison instead of 8.
#include <stdint.h>

#include "nightjar_kernels_png.h"

_Static_assert(NJ_PNG_MIN_RUN == 16, "the mask steps below find stretches of exactly 16 set bits or more");

// The mask of the `valid` (below 64) bytes at p, the rest 0: the piece's last block.
static inline uint64_t NJ_FORM(tail_mask)(const uint8_t *p, size_t valid) {
    uint64_t mask = 0;
    for (size_t k = 0; k < valid; k++) mask |= (uint64_t)(p[k] == p[k - 1]) << k;
    return mask;
}

NJ_TARGET size_t NJ_FORM(nj_u8_find_runs)(const uint8_t *restrict input, size_t n, nj_byte_run *restrict runs,
                                          size_t capacity) {
    size_t count = 0;
    // Where the stretch that reaches the current block's first byte started; 0 for none (no
    // stretch starts at byte 0: blocks start at byte 1).
    size_t open = 0;
    if (capacity == 0) return 0;
    for (size_t base = 1; base < n; base += 64) {
        const size_t valid = n - base < 64 ? n - base : 64;
        const uint64_t mask = valid == 64 ? NJ_FORM(equal_mask)(input + base) : NJ_FORM(tail_mask)(input + base, valid);
        uint64_t rest = mask;
        if (open) {
            if (mask == ~0ull) continue;  // the stretch goes on through this block
            const unsigned ones = (unsigned)__builtin_ctzll(~mask);
            const size_t end = base + ones;
            if (end - open >= NJ_PNG_MIN_RUN) {
                runs[count++] = (nj_byte_run){(uint32_t)open, (uint32_t)(end - open)};
                if (count == capacity) return count;
            }
            open = 0;
            rest = mask & (~0ull << ones);  // bit `ones` is clear: only later stretches are left
        }
        if (rest == 0) continue;
        if (rest == ~0ull) {
            open = base;
            continue;
        }
        // A stretch through the block's last bit stays open into the next block.
        const unsigned top = (unsigned)__builtin_clzll(~rest);
        if (top > 0) {
            open = base + 64 - top;
            rest &= (1ull << (64 - top)) - 1;
        }
        // Bit k of `long16`: bits k to k + 15 are all set, so a stretch of 16 or more holds k;
        // the lowest such bit of a stretch is where it starts. Every stretch left ends below
        // bit 63 (the bit under the open one, or bit 63 itself, is clear).
        uint64_t long16 = rest & (rest >> 1);
        long16 &= long16 >> 2;
        long16 &= long16 >> 4;
        long16 &= long16 >> 8;
        while (long16) {
            const unsigned k = (unsigned)__builtin_ctzll(long16);
            const unsigned end = k + (unsigned)__builtin_ctzll(~(rest >> k));
            runs[count++] = (nj_byte_run){(uint32_t)(base + k), end - k};
            if (count == capacity) return count;
            long16 &= ~0ull << end;
        }
    }
    if (open && n - open >= NJ_PNG_MIN_RUN) runs[count++] = (nj_byte_run){(uint32_t)open, (uint32_t)(n - open)};
    return count;
}
