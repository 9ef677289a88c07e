// The PNG encoder's per-byte steps: the Paeth filter's residuals, the zlib stream's Adler-32 and
// the search for runs of a repeated byte that the deflate codes as matches (36 MB of a 12.1 MP
// frame's rows pass through each). Every form computes exactly what the scalar one does.
#ifndef NIGHTJAR_KERNELS_PNG_H
#define NIGHTJAR_KERNELS_PNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Paeth residuals (PNG 9.4) of `count` bytes: out[i] = current[i] - predictor, the predictor being
// whichever of a = left[i], b = above[i], c = corner[i] lies nearest to a + b - c, ties going to a,
// then b. `out` may not overlap the inputs.
typedef void (*nj_u8_png_paeth_fn)(uint8_t *out, const uint8_t *current, const uint8_t *above, const uint8_t *left,
                                   const uint8_t *corner, size_t count);
// Adler-32 (RFC 1950 8.2) of `count` bytes, continuing from `adler` (1 for a new stream).
typedef uint32_t (*nj_u8_adler32_fn)(uint32_t adler, const uint8_t *bytes, size_t count);

// A run of bytes each equal to the byte before it: `length` of them from `start` (the repeated
// value is the byte at start - 1, which is not part of the run).
typedef struct {
    uint32_t start, length;
} nj_byte_run;
// The shortest run the search reports (a match's length code, extra bits and distance bit cost
// about as much as a few short literal codes). The scalar search relies on it being at least 15.
#define NJ_PNG_MIN_RUN 16
// The runs of `count` bytes: every maximal stretch of at least NJ_PNG_MIN_RUN bytes each equal to
// the byte before it (so never from byte 0), in order, at most `capacity` of them (the first
// ones); returns how many were written to `runs`. `count` fits in 32 bits.
typedef size_t (*nj_u8_find_runs_fn)(const uint8_t *bytes, size_t count, nj_byte_run *runs, size_t capacity);

typedef struct {
    nj_u8_png_paeth_fn paeth;
    nj_u8_adler32_fn adler32;
    nj_u8_find_runs_fn find_runs;
    const char *name;  // "scalar", "avx2", "avx512"
} nj_png_kernels;

// The best forms the active CPU features allow (nj_cpu_features_active: the cap and
// NIGHTJAR_DISABLE_FEATURES apply).
nj_png_kernels nj_png_kernels_active(void);
// One level's forms, for tests: "scalar", "avx2" or "avx512"; name NULL where this machine or
// build lacks it.
nj_png_kernels nj_png_kernels_named(const char *name);

#ifdef __cplusplus
}
#endif

#endif
