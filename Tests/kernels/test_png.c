// The PNG encoder's steps (nightjar_kernels_png.h) on every form this machine has, against
// references written from the specifications a byte at a time: the Paeth predictor as PNG 9.4
// states it, Adler-32 as RFC 1950 8.2 defines it (both sums modulo 65521 after every byte), the
// runs as every maximal stretch of bytes equal to the one before, found a byte at a time.
// Every length up to 70 and some long ones (every tail of a vector and of a 4096-byte block),
// random bytes and the extremes (all 0, all 255, the worst case for the checksum's sums),
// inputs and outputs against guard pages on both sides; and the predictor on every (a, b, c).
#include <string.h>

#include "nightjar_kernels.h"
#include "nightjar_kernels_png.h"
#include "test-support.h"

static int failures, cases;

enum { N = 20000 };

static uint8_t paeth_predictor(int a, int b, int c) {
    const int p = a + b - c;
    const int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return (uint8_t)a;
    if (pb <= pc) return (uint8_t)b;
    return (uint8_t)c;
}

static uint32_t adler32_reference(uint32_t adler, const uint8_t *bytes, size_t count) {
    uint32_t a = adler & 0xffff, b = adler >> 16;
    for (size_t i = 0; i < count; i++) {
        a = (a + bytes[i]) % 65521;
        b = (b + a) % 65521;
    }
    return b << 16 | a;
}

// 0: random bytes, 1: all 0, 2: all 255, 3: runs of 0 and 255 (the predictor's ties).
static void fill(uint8_t *x, size_t n, int pattern) {
    for (size_t i = 0; i < n; i++) {
        x[i] = pattern == 0 ? (uint8_t)rnd32() : pattern == 1 ? 0 : pattern == 2 ? 255 : (rnd32() & 1) ? 255 : 0;
    }
}

// The runs a byte at a time: each maximal stretch of bytes equal to the one before (from byte 1
// on) of NJ_PNG_MIN_RUN or more, the first `capacity`.
static size_t runs_reference(const uint8_t *x, size_t n, nj_byte_run *runs, size_t capacity) {
    size_t count = 0;
    for (size_t i = 1; i < n && count < capacity;) {
        if (x[i] != x[i - 1]) {
            i++;
            continue;
        }
        size_t end = i;
        while (end < n && x[end] == x[end - 1]) end++;
        if (end - i >= NJ_PNG_MIN_RUN) runs[count++] = (nj_byte_run){(uint32_t)i, (uint32_t)(end - i)};
        i = end;
    }
    return count;
}

// Bytes with stretches of one value planted among noise: `density` in 16ths of the bytes start
// a stretch, whose lengths are spread around NJ_PNG_MIN_RUN and the 64-byte blocks, some long.
static void plant_runs(uint8_t *x, size_t n, int density) {
    for (size_t i = 0; i < n; i++) x[i] = (uint8_t)rnd32();
    for (size_t i = 0; i < n;) {
        if ((int)(rnd32() % 256) >= density) {
            i++;
            continue;
        }
        const uint32_t kind = rnd32() % 4;
        size_t length = kind == 0 ? 1 + rnd32() % 20 : kind == 1 ? 10 + rnd32() % 12 : kind == 2 ? 60 + rnd32() % 10 : rnd32() % 400;
        const uint8_t value = (rnd32() & 1) ? 0 : (uint8_t)rnd32();
        for (size_t k = 0; k < length && i + k < n; k++) x[i + k] = value;
        i += length + 1;
    }
}

static void check_runs(nj_png_kernels form) {
    enum { M = 5000 };
    nj_byte_run *got = malloc(M * sizeof *got), *want = malloc(M * sizeof *want);
    for (int guard_before = 0; guard_before < 2; guard_before++) {
        uint8_t *buffer = guarded_bytes_aligned(M, guard_before, 1);
        for (int pattern = 0; pattern < 6; pattern++) {
            for (size_t count = 0; count <= M; count += count < 300 ? 1 : 97 + rnd32() % 64) {
                uint8_t *x = buffer + (guard_before ? 0 : M - count);  // the bytes against the guard page
                if (pattern == 0) fill(x, count, 0);                   // noise
                if (pattern == 1) fill(x, count, 1);                   // one stretch through it all
                if (pattern >= 2 && pattern <= 4) plant_runs(x, count, pattern == 2 ? 4 : pattern == 3 ? 24 : 96);
                if (pattern == 5) fill(x, count, 3);                   // 0 and 255 at random: short stretches
                const size_t capacities[] = {M, 0, 1, 2, 3};
                for (size_t c = 0; c < sizeof capacities / sizeof capacities[0]; c++) {
                    const size_t expected = runs_reference(x, count, want, capacities[c]);
                    const size_t found = form.find_runs(x, count, got, capacities[c]);
                    cases++;
                    if ((found != expected || memcmp(got, want, expected * sizeof *want) != 0) && failures++ < 20) {
                        printf("  %s find_runs: count %zu, pattern %d, capacity %zu: %zu runs, not %zu", form.name, count,
                               pattern, capacities[c], found, expected);
                        for (size_t r = 0; r < found && r < expected; r++) {
                            if (got[r].start != want[r].start || got[r].length != want[r].length) {
                                printf(" (run %zu: %u+%u, not %u+%u)", r, got[r].start, got[r].length, want[r].start,
                                       want[r].length);
                                break;
                            }
                        }
                        printf("\n");
                    }
                }
            }
        }
        guarded_free_all();
    }
    free(got);
    free(want);
}

// The predictor on every (a, b, c): 256 calls, one per a, each of the 65536 (b, c) pairs, with
// current bytes at random. The 8-bit forms saturate a sum of distances (u8-png-steps.h); this
// shows every choice it makes is PNG's.
static void check_paeth_everywhere(nj_png_kernels form) {
    enum { PAIRS = 65536 };
    uint8_t *left = malloc(PAIRS), *above = malloc(PAIRS), *corner = malloc(PAIRS), *current = malloc(PAIRS);
    uint8_t *out = malloc(PAIRS);
    int wrong = 0;
    for (int b = 0; b < 256; b++) {
        for (int c = 0; c < 256; c++) above[256 * b + c] = (uint8_t)b, corner[256 * b + c] = (uint8_t)c;
    }
    for (int a = 0; a < 256; a++) {
        memset(left, a, PAIRS);
        for (int i = 0; i < PAIRS; i++) current[i] = (uint8_t)rnd32();
        form.paeth(out, current, above, left, corner, PAIRS);
        for (int i = 0; i < PAIRS; i++) {
            const uint8_t want = (uint8_t)(current[i] - paeth_predictor(a, above[i], corner[i]));
            if (out[i] != want && wrong++ < 5) {
                printf("  %s paeth: a %d, b %d, c %d: residual %d, not %d\n", form.name, a, above[i], corner[i], out[i], want);
            }
        }
    }
    cases++;
    if (wrong) failures++;
    free(left), free(above), free(corner), free(current), free(out);
}

static void check_form(nj_png_kernels form) {
    check_runs(form);
    check_paeth_everywhere(form);
    const size_t lengths[] = {0,  1,  2,  3,  5,  7,  8,  9,  15,  16,  17,  31,  32,  33,   47,   63,   64,  65,
                              70, 95, 96, 97, 127, 128, 129, 255, 256, 257, 511, 512, 4095, 4096, 4097, 12289, N};
    for (int guard_before = 0; guard_before < 2; guard_before++) {
        uint8_t *current = guarded_bytes_aligned(N, guard_before, 1), *above = guarded_bytes_aligned(N, !guard_before, 1);
        uint8_t *left = guarded_bytes_aligned(N, guard_before, 1), *corner = guarded_bytes_aligned(N, !guard_before, 1);
        uint8_t *out = guarded_bytes_aligned(N, !guard_before, 1), *want = malloc(N);
        for (int pattern = 0; pattern < 4; pattern++) {
            for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
                const size_t count = lengths[k];
                fill(current, N, pattern), fill(above, N, pattern), fill(left, N, pattern), fill(corner, N, pattern);
                // Each buffer's `count` bytes against its guard page.
                const uint8_t *c = current + (guard_before ? 0 : N - count), *b = above + (guard_before ? N - count : 0);
                const uint8_t *a = left + (guard_before ? 0 : N - count), *d = corner + (guard_before ? N - count : 0);
                uint8_t *o = out + (guard_before ? N - count : 0);
                for (size_t i = 0; i < count; i++) want[i] = (uint8_t)(c[i] - paeth_predictor(a[i], b[i], d[i]));
                form.paeth(o, c, b, a, d, count);
                cases++;
                if (memcmp(o, want, count) != 0 && failures++ < 20) {
                    printf("  %s paeth: count %zu, pattern %d differs from the predictor\n", form.name, count, pattern);
                }
                // The checksum from a fresh start and from a state near the modulus.
                const uint32_t starts[] = {1, (65520u << 16) | 65520u, (rnd32() % 65521) << 16 | (rnd32() % 65521)};
                for (size_t s = 0; s < 3; s++) {
                    cases++;
                    const uint32_t got = form.adler32(starts[s], c, count), expected = adler32_reference(starts[s], c, count);
                    if (got != expected && failures++ < 20) {
                        printf("  %s adler32: count %zu, pattern %d, start 0x%08x: 0x%08x, not 0x%08x\n", form.name, count,
                               pattern, starts[s], got, expected);
                    }
                }
            }
        }
        free(want);
        guarded_free_all();
    }
}

int main(void) {
    printf("png steps: dispatching %s (features 0x%x)\n", nj_png_kernels_active().name, nj_cpu_features_active());
    // A known value: "Wikipedia" has Adler-32 0x11E60398 (RFC 1950's algorithm).
    cases++;
    if (nj_png_kernels_named("scalar").adler32(1, (const uint8_t *)"Wikipedia", 9) != 0x11E60398u) {
        failures++;
        printf("  scalar adler32 of \"Wikipedia\" is not 0x11E60398\n");
    }
    const char *forms[] = {"scalar", "avx2", "avx512"};
    int checked = 0;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        const nj_png_kernels form = nj_png_kernels_named(forms[i]);
        if (!form.name) {
            printf("png steps: %s not on this machine or build, skipped\n", forms[i]);
            continue;
        }
        check_form(form);
        checked++;
    }
    printf("png steps: %d cases, %d forms against the references: %s\n", cases, checked, failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
