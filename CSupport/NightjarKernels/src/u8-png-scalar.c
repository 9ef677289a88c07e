// The PNG steps' references (nightjar_kernels_png.h), and the choice of their forms. On AArch64
// these plain loops are what runs: the compiler vectorises them with NEON (always present).
#include <string.h>

#include "nightjar_kernels.h"
#include "nj-png-internal.h"

#define NJ_TARGET
#define NJ_FORM(name) name##_scalar
#include "u8-png-steps.h"

// The 8 bytes at `p` less (xor) the 8 before them shifted by one: byte k is 0 where p[k] equals
// p[k - 1] (little-endian hosts: x86-64, AArch64).
static inline uint64_t word_difference(const uint8_t *p) {
    uint64_t here, before;
    memcpy(&here, p, 8);
    memcpy(&before, p - 1, 8);
    return here ^ before;
}

// The runs (nightjar_kernels_png.h) a word at a time, the reference for the vector forms and the
// form AArch64 runs: any run of 15 or more bytes holds 8 of them at a multiple of 8 from where
// the search resumed, so the search compares a word at a time (one comparison per 8 bytes of
// noisy rows) and looks at single bytes only around a word that repeats: back to where its run
// starts, on to where it ends.
size_t nj_u8_find_runs_scalar(const uint8_t *input, size_t n, nj_byte_run *runs, size_t capacity) {
    _Static_assert(NJ_PNG_MIN_RUN >= 15, "a run must hold a whole word wherever the words start");
    size_t count = 0, j = 1;
    while (j + 8 <= n && count < capacity) {
        // Noisy rows: four words, one branch.
        if (j + 32 <= n && ((int)(word_difference(input + j) != 0) & (int)(word_difference(input + j + 8) != 0) &
                            (int)(word_difference(input + j + 16) != 0) & (int)(word_difference(input + j + 24) != 0))) {
            j += 32;
            continue;
        }
        if (word_difference(input + j) != 0) {
            j += 8;
            continue;
        }
        // The run's ends a word at a time: the first byte differing from the one before it is
        // the lowest nonzero byte of the words' difference (little-endian), the last one before
        // `start` the highest.
        size_t start = j, end = j + 8;
        while (start >= 9 && word_difference(input + start - 8) == 0) start -= 8;
        if (start >= 9)
            start -= (size_t)__builtin_clzll(word_difference(input + start - 8)) >> 3;
        else
            while (start > 1 && input[start - 1] == input[start - 2]) start--;
        uint64_t d = 0;
        while (end + 8 <= n && (d = word_difference(input + end)) == 0) end += 8;
        if (end + 8 <= n)
            end += (size_t)__builtin_ctzll(d) >> 3;
        else
            while (end < n && input[end] == input[end - 1]) end++;
        if (end - start >= NJ_PNG_MIN_RUN) runs[count++] = (nj_byte_run){(uint32_t)start, (uint32_t)(end - start)};
        j = end + 1;  // byte `end` differs from the one before it
    }
    return count;
}

nj_png_kernels nj_png_kernels_named(const char *name) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features();
    if (strcmp(name, "avx512") == 0 && (features & NJ_CPU_AVX512)) {
        return (nj_png_kernels){nj_u8_png_paeth_avx512, nj_u8_adler32_avx512, nj_u8_find_runs_avx512, "avx512"};
    }
    if (strcmp(name, "avx2") == 0 && (features & NJ_CPU_AVX2)) {
        return (nj_png_kernels){nj_u8_png_paeth_avx2, nj_u8_adler32_avx2, nj_u8_find_runs_avx2, "avx2"};
    }
#endif
    if (strcmp(name, "scalar") == 0) return (nj_png_kernels){nj_u8_png_paeth_scalar, nj_u8_adler32_scalar, nj_u8_find_runs_scalar, "scalar"};
    return (nj_png_kernels){0};
}

nj_png_kernels nj_png_kernels_active(void) {
#if defined(__x86_64__)
    const uint32_t features = nj_cpu_features_active();
    if (features & NJ_CPU_AVX512) return nj_png_kernels_named("avx512");
    if (features & NJ_CPU_AVX2) return nj_png_kernels_named("avx2");
#endif
    return nj_png_kernels_named("scalar");
}
