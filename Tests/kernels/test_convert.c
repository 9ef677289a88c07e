// The bulk conversions (nj_qs8_quantize/dequantize, nj_f32_to_f16/nj_f16_to_f32,
// nj_f16_leaky_relu) on every path this machine has, against their scalar references, element
// for element: random values at several scales, the int8 and binary16 edges (saturation, ties,
// subnormals, infinities, NaN), every length up to 40 (tails) against guard pages, with and
// without flush-to-zero; the binary16 and int8 network input rows against the FP32 rows so
// converted; the int8 mosaic codes' passes; and bytes deinterleaved by 4 (an int8 network's
// unshuffle) against the scalar form.
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "nightjar_kernels.h"
#include "test-support.h"

static int failures;

static float from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

enum { N = 4096 };

// Values the conversions must agree on: random bit patterns (every class of float), random
// values around the int8 range at the given scale, ties of the rounding, and the edges.
static void fill_inputs(float *x, size_t n, float scale) {
    static const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 65504.0f, 65520.0f,
                                     6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 1e-40f, -1e-40f};
    for (size_t i = 0; i < n; i++) {
        switch (i % 4) {
            case 0: x[i] = from_bits(rnd32() ^ (rnd32() << 16)); break;
            case 1: x[i] = scale * 300.0f * rnd_signed_unit(); break;
            case 2: x[i] = scale * ((float)rnd_int_below(400) - 200.5f); break;  // ties
            default: x[i] = specials[rnd_int_below(sizeof specials / sizeof specials[0])]; break;
        }
    }
}

static int same_f32(float a, float b) {
    if (a != a && b != b) return 1;  // both NaN (F16C and fcvtl return a signalling NaN quiet)
    return memcmp(&a, &b, sizeof a) == 0;
}

static void check_path(const char *path) {
    float *in = guarded_bytes(N * sizeof(float), 0);
    int8_t *q_got = guarded_bytes(N, 0), *q_want = guarded_bytes(N, 1);
    float *f_got = guarded_bytes(N * sizeof(float), 0), *f_want = guarded_bytes(N * sizeof(float), 1);
    uint16_t *h_got = guarded_bytes(N * sizeof(uint16_t), 0), *h_want = guarded_bytes(N * sizeof(uint16_t), 1);
    const nj_qs8_quantization encodings[] = {{0.05f, 0}, {0.0173f, -37}, {3.0f, 127}, {1e-3f, -128}};
    for (size_t e = 0; e < sizeof encodings / sizeof encodings[0]; e++) {
        const nj_qs8_quantization q = encodings[e];
        fill_inputs(in, N, q.scale);
        // Every tail length, then the whole buffer (outputs end at guard pages).
        for (size_t n = 0; n <= 41; n++) {
            const size_t count = n == 41 ? N : n;
            nj_qs8_quantize(in, q_got + N - count, count, q);
            nj_qs8_quantize_scalar(in, q_want, count, q);
            for (size_t i = 0; i < count; i++) {
                if (q_got[N - count + i] != q_want[i]) {
                    if (failures++ < 10) printf("FAIL %s quantize(%a / %g + %d) = %d, want %d\n", path, in[i],
                                                q.scale, q.zero_point, q_got[N - count + i], q_want[i]);
                }
            }
            nj_qs8_dequantize(q_want, f_got + N - count, count, q);
            nj_qs8_dequantize_scalar(q_want, f_want, count, q);
            for (size_t i = 0; i < count; i++) {
                if (!same_f32(f_got[N - count + i], f_want[i]) && failures++ < 10) {
                    printf("FAIL %s dequantize(%d) = %a, want %a\n", path, q_want[i], f_got[N - count + i], f_want[i]);
                }
            }
            nj_f32_to_f16(in, h_got + N - count, count);
            nj_f32_to_f16_scalar(in, h_want, count);
            for (size_t i = 0; i < count; i++) {
                if (h_got[N - count + i] != h_want[i] && failures++ < 10) {
                    printf("FAIL %s f32_to_f16(%a) = 0x%04x, want 0x%04x\n", path, in[i], h_got[N - count + i], h_want[i]);
                }
            }
        }
    }
    // Every binary16 value back to binary32.
    uint16_t *all = guarded_bytes(65536 * sizeof(uint16_t), 1);
    float *wide_got = guarded_bytes(65536 * sizeof(float), 0), *wide_want = guarded_bytes(65536 * sizeof(float), 1);
    for (uint32_t h = 0; h < 65536; h++) all[h] = (uint16_t)h;
    nj_f16_to_f32(all, wide_got, 65536);
    nj_f16_to_f32_scalar(all, wide_want, 65536);
    for (uint32_t h = 0; h < 65536; h++) {
        if (!same_f32(wide_got[h], wide_want[h]) && failures++ < 10) {
            printf("FAIL %s f16_to_f32(0x%04x) = %a, want %a\n", path, h, wide_got[h], wide_want[h]);
        }
    }
    // LeakyReLU of every binary16 value against its definition: widened, v >= 0 ? v : v * slope
    // in binary32, rounded back (the scalar conversions), into another array (ending at a
    // guard page, every tail length) and in place.
    uint16_t *half_got = guarded_bytes(65536 * sizeof(uint16_t), 0), *half_want = malloc(65536 * sizeof(uint16_t));
    const float slopes[] = {0.2f, 0.01f, 1.5f, 0.0f};
    for (size_t s = 0; s < sizeof slopes / sizeof slopes[0]; s++) {
        nj_f16_to_f32_scalar(all, wide_want, 65536);
        nj_f32_leaky_relu_scalar(wide_want, wide_want, 65536, slopes[s]);
        nj_f32_to_f16_scalar(wide_want, half_want, 65536);
        for (size_t n = 0; n <= 18; n++) {
            const size_t count = n == 18 ? 65536 : n, first = 65536 - count;
            nj_f16_leaky_relu(all + first, half_got + first, count, slopes[s]);
            for (size_t i = first; i < 65536; i++) {
                if (half_got[i] != half_want[i] && failures++ < 10) {
                    printf("FAIL %s f16_leaky_relu(0x%04zx, slope %g) = 0x%04x, want 0x%04x\n", path, i, slopes[s],
                           half_got[i], half_want[i]);
                }
            }
        }
        memcpy(half_got, all, 65536 * sizeof(uint16_t));
        nj_f16_leaky_relu(half_got, half_got, 65536, slopes[s]);
        if (memcmp(half_got, half_want, 65536 * sizeof(uint16_t)) != 0 && failures++ < 10) {
            printf("FAIL %s f16_leaky_relu in place, slope %g, differs\n", path, slopes[s]);
        }
    }
    free(half_want);
    guarded_free_all();
}

// nj_qs8_leaky_relu against its definition (nearbyintf, not the kernel's rounding trick):
// every int8 input, zero points across the range, slopes, every tail length.
static void check_leaky_relu(const char *path) {
    int8_t *in = guarded_bytes(N, 1), *got = guarded_bytes(N, 0);
    for (size_t i = 0; i < N; i++) in[i] = (int8_t)(i * 37 + (i >> 8));  // every value, shuffled
    const int32_t zero_points[] = {-128, -37, 0, 5, 127};
    const float slopes[] = {0.2f, 0.01f, 0.5f, 1.0f, 0.0f, 0.3f};
    for (size_t z = 0; z < sizeof zero_points / sizeof zero_points[0]; z++) {
        for (size_t s = 0; s < sizeof slopes / sizeof slopes[0]; s++) {
            for (size_t n = 0; n <= 41; n++) {
                const size_t count = n == 41 ? N : n;
                nj_qs8_leaky_relu(in, got + N - count, count, zero_points[z], slopes[s]);
                for (size_t i = 0; i < count; i++) {
                    const int32_t q = in[i] - zero_points[z];
                    int32_t want = q >= 0 ? in[i] : zero_points[z] + (int32_t)nearbyintf((float)q * slopes[s]);
                    want = want < -128 ? -128 : want > 127 ? 127 : want;
                    if (got[N - count + i] != want && failures++ < 10) {
                        printf("FAIL %s leaky_relu(%d, zero %d, slope %g) = %d, want %d\n", path, in[i], zero_points[z],
                               slopes[s], got[N - count + i], want);
                    }
                }
            }
        }
    }
    guarded_free_all();
}

// The binary16 and int8 network input rows against the FP32 rows rounded or quantised by the
// scalar conversions, element for element over the whole output (untouched elements included):
// raw values and 8-bit codes, splits 1, 2, 4 and 16 (rows long enough for whole 32-pair
// chunks at each, which the AVX2 and AVX-512 VBMI int8 forms take 64 columns at a time, and at
// split 16 for the AVX-512 VBMI form's groups of four chunks), tables whose
// products land on half subnormals, ties and values past 65504, reflected column maps.
static void check_network_input(const char *path) {
    enum { TABLE = 1024, MAX_PLANES = 4 * 16 * 16, PLANE = 64 };
    float *even = guarded_bytes(TABLE * sizeof(float), 1), *odd = guarded_bytes(TABLE * sizeof(float), 0);
    for (size_t i = 0; i < TABLE; i++) {
        switch (i % 4) {
            case 0: even[i] = (float)i / TABLE; odd[i] = (float)(TABLE - i) / TABLE; break;
            case 1: even[i] = 5.9604645e-08f * (float)rnd_int_below(4096); odd[i] = 3e-6f * rnd_signed_unit(); break;
            case 2: even[i] = 1.0f + (float)rnd_int_below(2048) / 2048.0f + 1.0f / 4096.0f; odd[i] = 0.0f; break;
            default: even[i] = 700.0f * rnd_signed_unit(); odd[i] = from_bits(rnd32() & 0x3fffffffu); break;
        }
    }
    uint16_t *raw = guarded_bytes(8 * PLANE * sizeof(uint16_t), 0);
    uint8_t *codes = guarded_bytes(8 * PLANE, 0);
    intptr_t *sources = guarded_bytes(2 * 16 * PLANE * sizeof(intptr_t), 0);
    float *wide = guarded_bytes(MAX_PLANES * PLANE * sizeof(float), 0);
    float *reference = guarded_bytes(MAX_PLANES * PLANE * sizeof(float), 1);
    uint16_t *got = guarded_bytes(MAX_PLANES * PLANE * sizeof(uint16_t), 0);
    uint16_t *want = guarded_bytes(MAX_PLANES * PLANE * sizeof(uint16_t), 1);
    int8_t *got8 = guarded_bytes(MAX_PLANES * PLANE, 0), *want8 = guarded_bytes(MAX_PLANES * PLANE, 1);
    const nj_qs8_quantization encodings[] = {{0.00433f, -128}, {0.01f, 0}, {3.0f, 17}, {1e-6f, -100}, {0.5f, 127}};
    const float amplifications[] = {1.0f, 300.0f, 0.37f};
    const int32_t splits[] = {1, 2, 4, 16};
    const uint16_t untouched_half = 0x64d2;  // 1234.0, 1234.5's rounding: what the rows leave alone
    for (size_t k = 0; k < sizeof splits / sizeof splits[0]; k++) {
        const int32_t split = splits[k];
        // Rows of 2·split·pairs columns, pairs 1, 6, 11 and 16 (at split 1 on to 61: a whole
        // chunk and a tail).
        const size_t most_pairs = split == 1 ? PLANE : PLANE / 4;
        for (size_t pairs = 1; pairs <= most_pairs; pairs += 5) {
            const size_t count = 2 * (size_t)split * pairs, stride = PLANE;
            // The rows write planes [0, 2·split²) at most. The scalar references convert only
            // those; past them every element must still hold the untouched value (the f32 rows
            // are compared whole), so the references' tails are that value: converting 64 K
            // untouched floats per case took most of this test's time under qemu.
            const size_t span = 2 * (size_t)split * (size_t)split * stride;
          for (int map = 0; map < 3; map++) {
            // A map into a row of 8·PLANE values, never more than one column past the one before
            // (the kernels' contract). A source's own parity picks its table, and it need not be
            // the column's: with a CFA offset, even columns read odd sources.
            // map 0: a frame's interior from an odd or even column, reflected at a random edge
            // (runs of whole chunks and chunks with the turn inside); map 1: runs of random
            // length with jumps back anywhere; map 2: one column throughout (a frame 1 wide).
            const size_t edge = 1 + rnd_int_below((int32_t)count + 2);
            intptr_t next = (intptr_t)rnd_int_below(8 * PLANE - (int32_t)count - 1);
            for (size_t c = 0; c < count; c++) {
                if (map == 0) {
                    sources[c] = c < edge ? next + (intptr_t)c : next + 2 * (intptr_t)edge - 2 - (intptr_t)c;
                    if (sources[c] < 0) sources[c] = 0;
                } else if (map == 1) {
                    sources[c] = c > 0 && rnd_int_below(8) != 0 && sources[c - 1] + 1 < 8 * PLANE ? sources[c - 1] + 1
                                                                                                 : (intptr_t)rnd_int_below(8 * PLANE);
                    if (c > 0 && sources[c] > sources[c - 1] + 1) sources[c] = sources[c - 1] + 1;
                } else {
                    sources[c] = next;
                }
            }
            for (size_t i = 0; i < 8 * PLANE; i++) {
                raw[i] = (uint16_t)rnd_int_below(TABLE);
                codes[i] = (uint8_t)rnd_int_below(256);
            }
            for (size_t a = 0; a < sizeof amplifications / sizeof amplifications[0]; a++) {
                for (int kind = 0; kind < 2; kind++) {
                    for (size_t i = 0; i < MAX_PLANES * PLANE; i++) wide[i] = 1234.5f;
                    for (size_t i = 0; i < MAX_PLANES * PLANE; i++) got[i] = untouched_half;
                    if (kind == 0) {
                        nj_u16_network_input_row(wide, stride, split, raw, sources, even, odd, amplifications[a], count);
                        nj_u16_network_input_row_f16(got, stride, split, raw, sources, even, odd, amplifications[a], count);
                    } else {
                        nj_u8_network_input_row(wide, stride, split, codes, sources, even, odd, amplifications[a], count);
                        nj_u8_network_input_row_f16(got, stride, split, codes, sources, even, odd, amplifications[a], count);
                    }
                    // The FP32 rows against the formula, element for element.
                    for (size_t i = 0; i < MAX_PLANES * PLANE; i++) reference[i] = 1234.5f;
                    for (size_t c = 0; c < count; c++) {
                        const size_t plane = (c & 1) * (size_t)split * (size_t)split + ((c >> 1) & (size_t)(split - 1));
                        const intptr_t source = sources[c];
                        const size_t index = kind == 0 ? raw[source] : codes[source];
                        reference[plane * stride + (c >> 1) / (size_t)split] = ((source & 1) ? odd : even)[index] * amplifications[a];
                    }
                    if (memcmp(reference, wide, MAX_PLANES * PLANE * sizeof(float)) != 0 && failures++ < 10) {
                        printf("FAIL %s network input f32 (%s, split %d, %zu columns, map %d, x%g)\n", path,
                               kind == 0 ? "raw" : "codes", split, count, map, amplifications[a]);
                    }
                    nj_f32_to_f16_scalar(wide, want, span);
                    for (size_t i = span; i < MAX_PLANES * PLANE; i++) want[i] = untouched_half;
                    for (size_t i = 0; i < MAX_PLANES * PLANE; i++) {
                        if (got[i] != want[i] && failures++ < 10) {
                            printf("FAIL %s network input f16 (%s, split %d, %zu columns, x%g) element %zu = 0x%04x, want 0x%04x\n",
                                   path, kind == 0 ? "raw" : "codes", split, count, amplifications[a], i, got[i], want[i]);
                        }
                    }
                    // int8: the FP32 rows quantised by the scalar reference, in encodings whose
                    // ranges hold the values, cut them, or saturate nearly all; one table entry
                    // NaN (the zero point).
                    const float nan_saved = even[3];
                    even[3] = NAN;
                    for (size_t e = 0; e < sizeof encodings / sizeof encodings[0]; e++) {
                        const nj_qs8_quantization q = encodings[e];
                        const float untouched = 1234.5f;
                        int8_t untouched_code;
                        nj_qs8_quantize_scalar(&untouched, &untouched_code, 1, q);
                        for (size_t i = 0; i < MAX_PLANES * PLANE; i++) wide[i] = untouched;
                        memset(got8, untouched_code, MAX_PLANES * PLANE);
                        if (kind == 0) {
                            nj_u16_network_input_row(wide, stride, split, raw, sources, even, odd, amplifications[a], count);
                            nj_u16_network_input_row_qs8(got8, stride, split, raw, sources, even, odd, amplifications[a], q, count);
                        } else {
                            nj_u8_network_input_row(wide, stride, split, codes, sources, even, odd, amplifications[a], count);
                            nj_u8_network_input_row_qs8(got8, stride, split, codes, sources, even, odd, amplifications[a], q, count);
                        }
                        nj_qs8_quantize_scalar(wide, want8, span, q);
                        memset(want8 + span, untouched_code, MAX_PLANES * PLANE - span);
                        for (size_t i = 0; i < MAX_PLANES * PLANE; i++) {
                            if (got8[i] != want8[i] && failures++ < 10) {
                                printf("FAIL %s network input qs8 (%s, split %d, %zu columns, x%g, scale %g zero %d) element %zu = %d, want %d\n",
                                       path, kind == 0 ? "raw" : "codes", split, count, amplifications[a], q.scale, q.zero_point,
                                       i, got8[i], want8[i]);
                            }
                        }
                    }
                    even[3] = nan_saved;
                }
            }
          }
        }
    }
    guarded_free_all();
}

// The int8 mosaic codes' two passes (nj_u16_mosaic_histogram_rows, nj_u16_mosaic_codes_row)
// against a pixel-at-a-time statement of them: mosaics of odd and even sizes, CFA offsets 0 and
// 1 each way, bands of random heights (as the decoder's ring hands them over), each band's two
// row parities taken separately; every count, the largest value, every code.
static void check_mosaic_codes(void) {
    enum { W = 71, H = 45, STRIDE = 1024 };
    uint16_t *mosaic = guarded_bytes(W * H * sizeof(uint16_t), 0);
    uint32_t *counts = guarded_bytes(4 * STRIDE * sizeof(uint32_t), 0), *want = guarded_bytes(4 * STRIDE * sizeof(uint32_t), 1);
    uint8_t *tables = guarded_bytes(4 * STRIDE, 0), *codes = guarded_bytes(W, 0);
    for (int trial = 0; trial < 200; trial++) {
        const int32_t width = 1 + rnd_int_below(W), height = 1 + rnd_int_below(H);
        const int32_t dy = rnd_int_below(2), dx = rnd_int_below(2);
        const int32_t aw = width > dx ? (width - dx) & ~1 : 0, ah = height > dy ? (height - dy) & ~1 : 0;
        // Dark frames repeat few values; some trials use the whole range of the counts.
        const int32_t values = trial % 3 == 0 ? STRIDE : 1 + rnd_int_below(40);
        uint16_t top = 0;
        memset(want, 0, 4 * STRIDE * sizeof(uint32_t));
        for (int32_t y = 0; y < height; y++) {
            for (int32_t x = 0; x < width; x++) {
                const uint16_t v = (uint16_t)rnd_int_below(values);
                mosaic[y * width + x] = v;
                top = v > top ? v : top;
                if (y >= dy && y < dy + ah && x >= dx && x < dx + aw) want[(((y - dy) & 1) * 2 + ((x - dx) & 1)) * STRIDE + v]++;
            }
        }
        memset(counts, 0, 4 * STRIDE * sizeof(uint32_t));
        uint16_t largest[2] = {0, 0};
        for (int32_t first = 0; first < height;) {
            const int32_t band = 1 + rnd_int_below(7), end = first + band < height ? first + band : height;
            for (int32_t parity = 1; parity >= 0; parity--) {
                largest[parity] = nj_u16_mosaic_histogram_rows(mosaic + first * width, (size_t)width, first, first, end, dy, dx,
                                                               aw, ah, parity, counts, STRIDE, largest[parity]);
            }
            first = end;
        }
        const uint16_t got = largest[0] > largest[1] ? largest[0] : largest[1];
        if (got != top && failures++ < 10) printf("FAIL mosaic codes: %dx%d, offset %d,%d: largest %u, want %u\n", width, height, dy, dx, got, top);
        for (size_t i = 0; i < 4 * STRIDE; i++) {
            if (counts[i] != want[i] && failures++ < 10) {
                printf("FAIL mosaic codes: %dx%d, offset %d,%d: site %zu value %zu counted %u, want %u\n", width, height, dy, dx,
                       i / STRIDE, i % STRIDE, counts[i], want[i]);
            }
        }
        for (size_t i = 0; i < 4 * STRIDE; i++) tables[i] = (uint8_t)rnd32();
        for (int32_t y = 0; y < height; y++) {
            const uint8_t *even = tables + (size_t)(y & 1) * 2 * STRIDE;
            nj_u16_mosaic_codes_row(codes, mosaic + y * width, (size_t)width, even, even + STRIDE);
            for (int32_t x = 0; x < width; x++) {
                const uint8_t code = tables[((y & 1) * 2 + (x & 1)) * STRIDE + mosaic[y * width + x]];
                if (codes[x] != code && failures++ < 10) {
                    printf("FAIL mosaic codes: %dx%d row %d column %d: code %u, want %u\n", width, height, y, x, codes[x], code);
                }
            }
        }
    }
    guarded_free_all();
}

// nj_u8_deinterleave4 against its definition at every length to 80 and a few long rows, each
// output ending at a guard page (the vector forms' tails), the bytes before each output's
// start untouched; then nj_pixel_unshuffle against nj_pixel_unshuffle_scalar on rings (input
// rows wrapping, a band of output rows) for bytes by 4 and, through the same entry, the other
// element sizes and factors.
static void check_deinterleave4(const char *path) {
    enum { LONG = 4 * 2128 + 44 };
    uint8_t *in = guarded_bytes(4 * LONG + 8, 0);
    uint8_t *out[4];
    for (int k = 0; k < 4; k++) out[k] = guarded_bytes_aligned(LONG + 1, 0, 1);
    for (size_t i = 0; i < 4 * (size_t)LONG + 8; i++) in[i] = (uint8_t)rnd32();
    const size_t long_lengths[] = {LONG, 2128, 532, 133, 1000, 1009};
    for (size_t t = 0; t <= 80 + sizeof long_lengths / sizeof long_lengths[0]; t++) {
        const size_t n = t <= 80 ? t : long_lengths[t - 81];
        const size_t offset = t % 7;  // unaligned sources
        uint8_t *at[4];
        for (int k = 0; k < 4; k++) {
            at[k] = out[k] + LONG + 1 - n;
            at[k][-1] = 0xA5;
        }
        nj_u8_deinterleave4(in + offset, at[0], at[1], at[2], at[3], n);
        for (int k = 0; k < 4; k++) {
            if (at[k][-1] != 0xA5 && failures++ < 10) printf("FAIL %s deinterleave4 n %zu wrote before phase %d\n", path, n, k);
            for (size_t x = 0; x < n; x++) {
                if (at[k][x] != in[offset + 4 * x + (size_t)k] && failures++ < 10) {
                    printf("FAIL %s deinterleave4 n %zu phase %d column %zu: %u, want %u\n", path, n, k, x, at[k][x],
                           in[offset + 4 * x + (size_t)k]);
                }
            }
        }
    }
    guarded_free_all();
    // Rings: input rows (y mod input_rows), output rows (y mod output_rows), a band of rows.
    const size_t sizes[] = {1, 2, 4, 8};
    const int32_t factors[] = {4, 2, 3};
    for (size_t e = 0; e < 4; e++) {
        for (size_t f = 0; f < 3; f++) {
            const int32_t r = factors[f], channels = 3, width = r * (e == 0 ? 133 : 21), ow = width / r;
            const int32_t input_rows = 5 * r, output_rows = 3, row_begin = 7, row_end = 9;
            const size_t in_stride = (size_t)input_rows * width + 17, out_stride = (size_t)output_rows * ow + 5;
            const size_t in_bytes = sizes[e] * in_stride * channels, out_bytes = sizes[e] * out_stride * channels * r * r;
            uint8_t *src = guarded_bytes(in_bytes, 0), *got = guarded_bytes(out_bytes, 0), *want = guarded_bytes(out_bytes, 1);
            for (size_t i = 0; i < in_bytes; i++) src[i] = (uint8_t)rnd32();
            memset(got, 0x5A, out_bytes);
            memset(want, 0x5A, out_bytes);
            nj_pixel_unshuffle(sizes[e], src, in_stride, input_rows, channels, width, r, row_begin, row_end, got, out_stride,
                               output_rows);
            nj_pixel_unshuffle_scalar(sizes[e], src, in_stride, input_rows, channels, width, r, row_begin, row_end, want,
                                      out_stride, output_rows);
            if (memcmp(got, want, out_bytes) != 0 && failures++ < 10) {
                printf("FAIL %s pixel_unshuffle: %zu-byte elements by %d differ from the scalar form\n", path, sizes[e], r);
            }
            guarded_free_all();
        }
    }
}

static void check_all(const char *path) {
    check_path(path);
    check_leaky_relu(path);
    check_network_input(path);
    check_deinterleave4(path);
}

// Runs the checks with the floating-point mode of the thread pool's workers as well (the
// engine converts there): flush-to-zero and denormals-are-zero on x86, FPCR.FZ on AArch64.
static void check_both_modes(const char *path) {
    check_all(path);
#if defined(__x86_64__)
    const unsigned mode = _mm_getcsr();
    _mm_setcsr(mode | 0x8040);
    check_all(path);
    _mm_setcsr(mode);
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    __asm__ volatile("msr fpcr, %0" ::"r"(fpcr | ((uint64_t)1 << 24)));
    check_all(path);
    __asm__ volatile("msr fpcr, %0" ::"r"(fpcr));
#endif
}

int main(void) {
    printf("conversions: dispatching with features 0x%x\n", nj_cpu_features_active());
    check_mosaic_codes();
    check_both_modes("best");
#if defined(__x86_64__)
    nj_set_max_isa(NJ_ISA_AVX2);
    check_both_modes("avx2");
    nj_set_disabled_cpu_features(NJ_CPU_F16C);
    check_both_modes("avx2 without f16c");
    nj_set_max_isa(NJ_ISA_SCALAR);
    check_both_modes("scalar");
#elif defined(__aarch64__)
    nj_set_max_isa(NJ_ISA_SCALAR);
    check_both_modes("scalar");
#endif
    printf("conversions: %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
