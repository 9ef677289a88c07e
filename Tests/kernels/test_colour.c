// The colour stage's box-filter steps (nightjar_kernels_colour.h) on every form this machine has,
// against the scalar references, bit for bit: every length up to 70 and some long rows (tails
// of every size), values across a wide range of magnitudes and signs (dark and bright rows in
// one window, as in a photograph), outputs and inputs against guard pages on both sides. Also
// checks that the steps' running sums and window means agree with sums made directly.
#include <math.h>
#include <string.h>

#include "nightjar_kernels.h"
#include "nightjar_kernels_colour.h"
#include "test-support.h"

static int failures, cases;

enum { N = 1100, LEVEL_SLACK = 32 };

// Magnitudes from 1e-7 to 1e3, either sign: what linear colour, luminance and their products
// span between deep shadow and highlights.
static float value(void) {
    const float magnitude = powf(10.0f, -7.0f + 10.0f * (float)(rnd32() & 0xffff) / 65536.0f);
    return (rnd32() & 1) ? -magnitude : magnitude;
}

static void fill(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = value();
}

static void expect_same(const void *got, const void *want, size_t bytes, const char *form, const char *step,
                        size_t count, size_t parameter) {
    cases++;
    if (memcmp(got, want, bytes) != 0) {
        if (failures++ < 20) printf("  %s %s: count %zu (parameter %zu) differs from the scalar reference\n", form, step,
                                    count, parameter);
    }
}

static void check_form(nj_colour_kernels form, nj_colour_kernels reference) {
    // Inputs start right after a guard page; outputs end at one (and the reverse for a second
    // pass), so reads or writes outside [0, count) fault.
    for (int guard_before = 0; guard_before < 2; guard_before++) {
        float *enter_a = guarded_bytes(N * sizeof(float), guard_before), *enter_b = guarded_bytes(N * sizeof(float), !guard_before);
        float *leave_a = guarded_bytes(N * sizeof(float), guard_before), *leave_b = guarded_bytes(N * sizeof(float), !guard_before);
        double *sums_got = guarded_bytes(N * sizeof(double), !guard_before), *sums_want = guarded_bytes(N * sizeof(double), guard_before);
        float *out_got = guarded_bytes(N * sizeof(float), !guard_before), *out_want = guarded_bytes(N * sizeof(float), guard_before);
        const size_t lengths[] = {0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 47, 63, 64, 65, 70, 128, 129, 1000};
        for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
            const size_t count = lengths[k];
            fill(enter_a, N), fill(enter_b, N), fill(leave_a, N), fill(leave_b, N);
            for (size_t x = 0; x < N; x++) sums_want[x] = (double)value() * 17;
            float *eb = enter_b + (guard_before ? N - count : 0), *lb = leave_b + (guard_before ? N - count : 0);
            double *sg = sums_got + (guard_before ? N - count : 0), *sw = sums_want + (guard_before ? 0 : N - count);
            float *og = out_got + (guard_before ? N - count : 0), *ow = out_want + (guard_before ? 0 : N - count);
            memcpy(sg, sw, count * sizeof(double));
            // One row, then a run of rows (each row's planes elsewhere in the inputs; the
            // window rows `count` apart within the output, the last one meeting the guard).
            for (size_t rows = 1; rows <= 5; rows += 4) {
                if (rows * count > N) continue;
                const float *ers[5], *lrs[5], *ebs[5], *lbs[5];
                for (size_t r = 0; r < rows; r++) {
                    const size_t shift = (r * 7) % (N - count + 1);
                    ers[r] = guard_before ? enter_a + shift : enter_a + N - count - shift;
                    lrs[r] = guard_before ? leave_a + shift : leave_a + N - count - shift;
                }
                for (size_t r = 0; r < rows; r++) {
                    ebs[r] = r == 0 ? eb : ers[(r + 1) % rows];
                    lbs[r] = r == 0 ? lb : lrs[(r + 1) % rows];
                }
                float *wg = out_got + (guard_before ? N - rows * count : 0), *ww = out_want + (guard_before ? 0 : N - rows * count);
                form.column_step(sg, wg, count, ers, lrs, rows, count);
                reference.column_step(sw, ww, count, ers, lrs, rows, count);
                expect_same(sg, sw, count * sizeof(double), form.name, "column step (sums)", count, rows);
                expect_same(wg, ww, rows * count * sizeof(float), form.name, "column step (window)", count, rows);
                form.product_step(sg, wg, count, ers, ebs, lrs, lbs, rows, count);
                reference.product_step(sw, ww, count, ers, ebs, lrs, lbs, rows, count);
                expect_same(sg, sw, count * sizeof(double), form.name, "product step (sums)", count, rows);
                expect_same(wg, ww, rows * count * sizeof(float), form.name, "product step (window)", count, rows);
            }
            for (size_t offset = 1; offset <= 16; offset *= 2) {
                if (count + offset > N) continue;
                const float *in = enter_a + (guard_before ? 0 : N - count - offset);
                form.level(og, in, offset, count);
                reference.level(ow, in, offset, count);
                expect_same(og, ow, count * sizeof(float), form.name, "level", count, offset);
            }
            for (size_t half = 1; half <= 16; half *= 2) {
                if (count + 2 * half > N) continue;
                // The sums the window reads, [0, count + 2·half), against a guard on one side.
                const float *sums = enter_b + (guard_before ? N - count - 2 * half : 0);
                const float scale = 1.0f / (17.0f * (float)(2 * half + 1));
                form.window(og, sums, half, scale, count);
                reference.window(ow, sums, half, scale, count);
                expect_same(og, ow, count * sizeof(float), form.name, "window", count, half);
            }
        }
        guarded_free_all();
    }
}

// The reference steps do what they say: running sums over a sliding window of rows against
// sums made directly, and a window mean from levels against the direct mean.
static void check_meaning(nj_colour_kernels k) {
    enum { W = 37, H = 40, R = 4 };
    static float planes[H][W], sq[H][W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) planes[y][x] = rnd_signed_unit(), sq[y][x] = planes[y][x] * planes[y][x];
    double sums[W] = {0}, psums[W] = {0};
    static float window[H][W], pwindow[H][W];
    static const float zero[W];
    const float *zeros[2 * R + 1], *first[2 * R + 1];
    for (int y = 0; y <= 2 * R; y++) zeros[y] = zero, first[y] = planes[y];
    // The first window row by row into row 0, then the rest in runs of 1, 2 and 3 rows.
    for (int y = 0; y <= 2 * R; y++) {
        k.column_step(sums, window[R], W, first + y, zeros + y, 1, W);
        k.product_step(psums, pwindow[R], W, first + y, first + y, zeros + y, zeros + y, 1, W);
    }
    for (int y = R + 1, run = 1; y < H - R; y += run, run = run % 3 + 1) {
        if (y + run > H - R) run = H - R - y;
        const float *enter[3], *leave[3];
        for (int r = 0; r < run; r++) enter[r] = planes[y + r + R], leave[r] = planes[y + r - R - 1];
        k.column_step(sums, window[y], W, enter, leave, (size_t)run, W);
        k.product_step(psums, pwindow[y], W, enter, enter, leave, leave, (size_t)run, W);
    }
    for (int y = R; y < H - R; y++) {
        for (int x = 0; x < W; x++) {
            double direct = 0, pdirect = 0;
            for (int yy = y - R; yy <= y + R; yy++) direct += planes[yy][x], pdirect += sq[yy][x];
            cases++;
            if (fabs(window[y][x] - direct) > 1e-5 || fabs(pwindow[y][x] - pdirect) > 1e-5) {
                if (failures++ < 20) printf("  %s: running sums at row %d column %d: %g / %g, direct %g / %g\n", k.name, y, x,
                                            window[y][x], pwindow[y][x], direct, pdirect);
            }
        }
    }
    // Row filter: the window of 2·4 + 1 = 9 columns against the direct mean, and bit for bit
    // against the doubling levels 1 → 2 → 4 (the filter's way for other lengths), which it
    // stands for.
    float row[64], l2[64], l4[64], mean[48];
    for (int i = 0; i < 64; i++) row[i] = rnd_signed_unit();
    k.level(l2, row, 1, 63);
    k.level(l4, l2, 2, 61);
    k.window(mean, row, 4, 1.0f / 9, 48);
    for (int i = 0; i < 48; i++) {
        double direct = 0;
        for (int j = 0; j < 9; j++) direct += row[i + j];
        const float from_levels = (row[i] + (l4[i + 1] + l4[i + 5])) * (1.0f / 9);
        cases++;
        if (fabs(mean[i] - direct / 9) > 1e-6 || memcmp(&mean[i], &from_levels, sizeof(float)) != 0) {
            if (failures++ < 20)
                printf("  %s: window mean at %d: %g, direct %g, from levels %g\n", k.name, i, mean[i], direct / 9,
                       from_levels);
        }
    }
}

// --- Intake and composition ---

// Values where the steps clamp and select: below 0, across the BT.709 toe, above 1, and now and
// then infinite or NaN.
static float network_value(void) {
    const uint32_t r = rnd32() % 64;
    if (r == 0) return NAN;
    if (r == 1) return r & 1 ? INFINITY : -INFINITY;
    if (r < 8) return 0.081f + 0.002f * rnd_signed_unit();
    return 1.6f * (float)(rnd32() & 0xffffff) / (float)0x1000000 - 0.3f;
}

static float *floats(size_t count, int guard_before, float (*make)(void)) {
    float *x = guarded_bytes_aligned(count * sizeof(float) + 4, guard_before, 1);
    x += guard_before ? 0 : 1;  // one float of slack before, none after: the end meets the guard
    if (make)
        for (size_t i = 0; i < count; i++) x[i] = make();
    return x;
}

static float coefficient(void) { return 3.0f * rnd_signed_unit(); }
static float luminance(void) { return 1.2f * (float)(rnd32() & 0xffffff) / (float)0x1000000 - 0.1f; }

static nj_colour_quads calibration(void) {
    nj_colour_quads q;
    for (int k = 0; k < 4; k++) q.scale[k] = 0.05f + 0.02f * rnd_signed_unit(), q.shift[k] = 30.0f + 20.0f * rnd_signed_unit();
    for (int k = 0; k < 9; k++) q.matrix[k] = 2.0f * rnd_signed_unit();
    return q;
}

static void check_steps_form(nj_colour_kernels form, nj_colour_kernels reference, const uint8_t *table) {
    const size_t lengths[] = {0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 47, 63, 64, 65, 70, 127, 128, 129, 1064};
    const float weights[3] = {0.2126f, 0.7152f, 0.0722f};
    for (int g = 0; g < 2; g++) {
        for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
            const size_t count = lengths[k];
            // Luminance: 6 planes in, one interleaved row out.
            const float *re = floats(count, g, network_value), *ro = floats(count, !g, network_value);
            const float *ge = floats(count, g, network_value), *go = floats(count, !g, network_value);
            const float *be = floats(count, g, network_value), *bo = floats(count, !g, network_value);
            float *got = floats(2 * count, !g, NULL), *want = floats(2 * count, g, NULL);
            form.luma(got, re, ro, ge, go, be, bo, weights, count);
            reference.luma(want, re, ro, ge, go, be, bo, weights, count);
            expect_same(got, want, 2 * count * sizeof(float), form.name, "luma", count, 0);
            guarded_free_all();

            // Quads: two 16-bit rows and two luminance rows in, four planes out.
            uint16_t *raw0 = guarded_bytes_aligned(4 * count, g, 1), *raw1 = guarded_bytes_aligned(4 * count, !g, 1);
            for (size_t i = 0; i < 2 * count; i++) raw0[i] = (uint16_t)rnd32(), raw1[i] = (uint16_t)(rnd32() & 0x3fff);
            const float *l0 = floats(2 * count, g, luminance), *l1 = floats(2 * count, !g, luminance);
            float *out_got[4], *out_want[4];
            for (int c = 0; c < 4; c++) out_got[c] = floats(count, !g, NULL), out_want[c] = floats(count, g, NULL);
            const nj_colour_quads q = calibration();
            form.quads(out_got[0], out_got[1], out_got[2], out_got[3], raw0, raw1, l0, l1, &q, count);
            reference.quads(out_want[0], out_want[1], out_want[2], out_want[3], raw0, raw1, l0, l1, &q, count);
            for (int c = 0; c < 4; c++) expect_same(out_got[c], out_want[c], count * sizeof(float), form.name, "quads", count, (size_t)c);
            guarded_free_all();

            // Code quads: two rows of 8-bit codes and the sites' values per code. Each form
            // against the reference, and the reference against the 16-bit form on the same
            // numbers (codes as raw values, every value its code).
            uint8_t *code0 = guarded_bytes_aligned(2 * count, g, 1), *code1 = guarded_bytes_aligned(2 * count, !g, 1);
            uint16_t *wide0 = guarded_bytes_aligned(4 * count, !g, 1), *wide1 = guarded_bytes_aligned(4 * count, g, 1);
            for (size_t i = 0; i < 2 * count; i++) {
                code0[i] = (uint8_t)rnd32(), code1[i] = (uint8_t)rnd32();
                wide0[i] = code0[i], wide1[i] = code1[i];
            }
            float *values = floats(4 * 256, g, NULL), *identity = floats(4 * 256, !g, NULL);
            for (int v = 0; v < 4 * 256; v++) values[v] = (float)(rnd32() % 40000) * 0.37f, identity[v] = (float)(v % 256);
            const float *m0 = floats(2 * count, g, luminance), *m1 = floats(2 * count, !g, luminance);
            for (int c = 0; c < 4; c++) out_got[c] = floats(count, !g, NULL), out_want[c] = floats(count, g, NULL);
            form.code_quads(out_got[0], out_got[1], out_got[2], out_got[3], code0, code1, values, m0, m1, &q, count);
            reference.code_quads(out_want[0], out_want[1], out_want[2], out_want[3], code0, code1, values, m0, m1, &q, count);
            for (int c = 0; c < 4; c++) expect_same(out_got[c], out_want[c], count * sizeof(float), form.name, "code_quads", count, (size_t)c);
            reference.code_quads(out_got[0], out_got[1], out_got[2], out_got[3], code0, code1, identity, m0, m1, &q, count);
            reference.quads(out_want[0], out_want[1], out_want[2], out_want[3], wide0, wide1, m0, m1, &q, count);
            for (int c = 0; c < 4; c++) expect_same(out_got[c], out_want[c], count * sizeof(float), "scalar", "code_quads as quads", count, (size_t)c);
            guarded_free_all();

            // Composition: luminance and six coefficient planes in, interleaved 8-bit RGB out.
            const float *y = floats(2 * count, g, network_value);
            const float *a[3], *b[3];
            for (int c = 0; c < 3; c++) a[c] = floats(count, g, coefficient), b[c] = floats(count, !g, coefficient);
            uint8_t *o_got = guarded_bytes_aligned(6 * count, !g, 1), *o_want = guarded_bytes_aligned(6 * count, g, 1);
            form.compose8(o_got, y, a[0], a[1], a[2], b[0], b[1], b[2], table, count);
            reference.compose8(o_want, y, a[0], a[1], a[2], b[0], b[1], b[2], table, count);
            expect_same(o_got, o_want, 6 * count, form.name, "compose8", count, 0);
            guarded_free_all();

            // The network's own colour: six planes in, interleaved 8- and 16-bit RGB out, for
            // an even width and an odd one (whose last pixel reads the even planes alone).
            for (size_t width = 2 * count; width <= 2 * count + 1; width++) {
                const float *pe[3], *po[3];
                for (int c = 0; c < 3; c++) pe[c] = floats(count + (width & 1), g, network_value), po[c] = floats(count, !g, network_value);
                uint8_t *q8_got = guarded_bytes_aligned(3 * width, !g, 1), *q8_want = guarded_bytes_aligned(3 * width, g, 1);
                form.quantise8(q8_got, pe[0], po[0], pe[1], po[1], pe[2], po[2], width);
                reference.quantise8(q8_want, pe[0], po[0], pe[1], po[1], pe[2], po[2], width);
                expect_same(q8_got, q8_want, 3 * width, form.name, "quantise8", count, width);
                uint16_t *q16_got = guarded_bytes_aligned(6 * width, g, 2), *q16_want = guarded_bytes_aligned(6 * width, !g, 2);
                form.quantise16(q16_got, pe[0], po[0], pe[1], po[1], pe[2], po[2], width);
                reference.quantise16(q16_want, pe[0], po[0], pe[1], po[1], pe[2], po[2], width);
                expect_same(q16_got, q16_want, 6 * width, form.name, "quantise16", count, width);
                guarded_free_all();
            }

            // Fit: four window-mean planes in, slope and offset out. Means of a guide near 0 and
            // of squares below the mean's square (a zero variance) are among them.
            const float *mi = floats(count, g, luminance), *mc = floats(count, !g, coefficient);
            float *mii = floats(count, g, NULL), *mic = floats(count, !g, coefficient);
            for (size_t i = 0; i < count; i++) mii[i] = mi[i] * mi[i] * (0.9f + 0.3f * (float)(rnd32() & 0xff) / 255.0f);
            float *fa_got = floats(count, !g, NULL), *fb_got = floats(count, g, NULL);
            float *fa_want = floats(count, g, NULL), *fb_want = floats(count, !g, NULL);
            form.fit(fa_got, fb_got, mi, mii, mc, mic, 0.01f, count);
            reference.fit(fa_want, fb_want, mi, mii, mc, mic, 0.01f, count);
            expect_same(fa_got, fa_want, count * sizeof(float), form.name, "fit a", count, 0);
            expect_same(fb_got, fb_want, count * sizeof(float), form.name, "fit b", count, 0);
            guarded_free_all();

            // Halving: two rows of count values in, (count + 1) / 2 out; and a row with itself
            // (a frame's odd last row).
            const size_t halves = (count + 1) / 2;
            const float *ha = floats(count, g, coefficient), *hb = floats(count, !g, coefficient);
            float *h_got = floats(halves, !g, NULL), *h_want = floats(halves, g, NULL);
            form.halve(h_got, ha, hb, count);
            reference.halve(h_want, ha, hb, count);
            expect_same(h_got, h_want, halves * sizeof(float), form.name, "halve", count, 0);
            form.halve(h_got, ha, ha, count);
            reference.halve(h_want, ha, ha, count);
            expect_same(h_got, h_want, halves * sizeof(float), form.name, "halve a row with itself", count, 0);
            guarded_free_all();

            // Upsampling: `count` quarter-scale columns in, any even start and length of the
            // half-scale row (2 · count or 2 · count − 1 columns) out; pieces longer than the
            // kernel's own.
            if (count > 0) {
                const float *above = floats(count, g, coefficient), *below = floats(count, !g, coefficient);
                const size_t span = 2 * count - (count & 1);
                float *u_got = floats(span, !g, NULL), *u_want = floats(span, g, NULL);
                const size_t firsts[] = {0, 2, 2 * (count / 2)};
                for (int f = 0; f < 3; f++) {
                    const size_t first = firsts[f] < span ? firsts[f] : 0, n = span - first;
                    const float w = f == 0 ? 0.25f : f == 1 ? 0.75f : 0.5f;
                    form.upsample(u_got, above, below, w, first, n, count);
                    reference.upsample(u_want, above, below, w, first, n, count);
                    expect_same(u_got, u_want, n * sizeof(float), form.name, "upsample", count, first);
                }
                guarded_free_all();
            }
        }
    }
}

static double bt709_decode(double v) {
    v = v > 0 ? (v < 1 ? v : 1) : 0;
    return v < 0.081 ? v / 4.5 : pow((v + 0.099) / 1.099, 1 / 0.45);
}

static void check_steps_meaning(nj_colour_kernels k, const uint8_t *table) {
    enum { C = 300 };
    static float planes[6][C], out[2 * C], luma0[2 * C], luma1[2 * C], quads[4][C], a[3][C], b[3][C];
    static uint16_t raw0[2 * C], raw1[2 * C];
    static uint8_t rgb[6 * C];
    const float weights[3] = {0.2126f, 0.7152f, 0.0722f};
    for (int p = 0; p < 6; p++)
        for (int i = 0; i < C; i++) planes[p][i] = network_value();
    k.luma(out, planes[0], planes[1], planes[2], planes[3], planes[4], planes[5], weights, C);
    for (int i = 0; i < C; i++) {
        for (int parity = 0; parity < 2; parity++) {
            double want = 0;
            for (int c = 0; c < 3; c++) {
                const float v = planes[2 * c + parity][i];
                want += weights[c] * bt709_decode(v != v ? 0 : v);
            }
            cases++;
            if (fabs(out[2 * i + parity] - want) > 4.5e-5) {
                if (failures++ < 20) printf("  %s: luma at %d: %.7g, the curve %.7g\n", k.name, 2 * i + parity, out[2 * i + parity], want);
            }
        }
    }
    const nj_colour_quads q = calibration();
    for (int i = 0; i < 2 * C; i++) raw0[i] = (uint16_t)rnd32(), raw1[i] = (uint16_t)rnd32(), luma0[i] = luminance(), luma1[i] = luminance();
    k.quads(quads[0], quads[1], quads[2], quads[3], raw0, raw1, luma0, luma1, &q, C);
    for (int i = 0; i < C; i++) {
        const double red = (double)raw0[2 * i] * q.scale[0] - q.shift[0];
        const double green = ((double)raw0[2 * i + 1] * q.scale[1] - q.shift[1] + (double)raw1[2 * i] * q.scale[2] - q.shift[2]) / 2;
        const double blue = (double)raw1[2 * i + 1] * q.scale[3] - q.shift[3];
        const double guide = (luma0[2 * i] + (double)luma0[2 * i + 1] + luma1[2 * i] + luma1[2 * i + 1]) / 4;
        double want[4] = {guide, 0, 0, 0};
        for (int c = 0; c < 3; c++) want[1 + c] = q.matrix[3 * c] * red + q.matrix[3 * c + 1] * green + q.matrix[3 * c + 2] * blue;
        for (int c = 0; c < 4; c++) {
            cases++;
            if (fabs(quads[c][i] - want[c]) > 1e-5 * (fabs(want[c]) + 8 * (fabs(red) + fabs(green) + fabs(blue)) + 1)) {
                if (failures++ < 20) printf("  %s: quads plane %d at %d: %.7g, the formula %.7g\n", k.name, c, i, quads[c][i], want[c]);
            }
        }
    }
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < C; i++) a[c][i] = coefficient(), b[c][i] = coefficient();
    k.compose8(rgb, luma0, a[0], a[1], a[2], b[0], b[1], b[2], table, C);
    for (int i = 0; i < C; i++) {
        for (int s = 0; s < 6; s++) {
            const int c = s % 3;
            volatile float product = a[c][i] * luma0[2 * i + s / 3];  // no fused multiply-add here either
            const float l = product + b[c][i];
            const float clamped = l > 0 ? (l < 1 ? l : 1) : 0;
            const uint8_t want = table[(uint32_t)nearbyintf(clamped * 65536.0f)];
            cases++;
            if (rgb[6 * i + s] != want) {
                if (failures++ < 20) printf("  %s: compose8 at %d: %u, the table at the rounded entry %u\n", k.name, 6 * i + s, rgb[6 * i + s], want);
            }
        }
    }
    // The network's own colour: every sample the documented floor, at an odd width; values
    // straddling each 8-bit code's rounding boundary, the clamp's ends, NaN and infinities.
    static uint8_t q8[3 * (2 * C + 1)];
    static uint16_t q16[3 * (2 * C + 1)];
    for (int p = 0; p < 6; p++) {
        for (int i = 0; i < C; i++) {
            const uint32_t r = rnd32() % 4;
            planes[p][i] = r == 0 ? ((float)(rnd32() % 256) + 0.5f) / 255.0f + 1e-7f * rnd_signed_unit() : network_value();
        }
    }
    k.quantise8(q8, planes[0], planes[1], planes[2], planes[3], planes[4], planes[5], 2 * C - 1);
    k.quantise16(q16, planes[0], planes[1], planes[2], planes[3], planes[4], planes[5], 2 * C - 1);
    for (int x = 0; x < 2 * C - 1; x++) {
        for (int c = 0; c < 3; c++) {
            const float v = planes[2 * c + (x & 1)][x / 2];
            const float clamped = v > 0 ? (v < 1 ? v : 1) : 0;
            volatile float scaled8 = clamped * 255.0f, scaled16 = clamped * 65535.0f;
            const unsigned want8 = (unsigned)floorf(scaled8 + 0.5f), want16 = (unsigned)floorf(scaled16 + 0.5f);
            cases += 2;
            if (q8[3 * x + c] != want8 || q16[3 * x + c] != want16) {
                if (failures++ < 20) printf("  %s: quantise at pixel %d channel %d: %u %u, the formula %u %u (v %.9g)\n", k.name, x, c,
                                            q8[3 * x + c], q16[3 * x + c], want8, want16, v);
            }
        }
    }
    // The fit, one operation at a time (volatile: nothing fused), and its zero variance.
    static float mean_ii[C], fit_a[C], fit_b[C];
    for (int i = 0; i < C; i++) mean_ii[i] = i % 7 == 0 ? quads[0][i] * quads[0][i] * 0.5f : quads[0][i] * quads[0][i] + 0.01f * (float)(i % 5);
    k.fit(fit_a, fit_b, quads[0], mean_ii, quads[1], quads[2], 0.01f, C);
    for (int i = 0; i < C; i++) {
        const float mu = quads[0][i];
        volatile float square = mu * mu;
        volatile float d = mean_ii[i] - square;
        const float variance = d > 0 ? d : 0;
        volatile float eps = 0.01f * mu;
        volatile float eps2 = eps * mu;
        volatile float den0 = variance + eps2;
        volatile float den = den0 + 1e-7f;
        volatile float cross = mu * quads[1][i];
        volatile float num = quads[2][i] - cross;
        volatile float slope = num / den;
        volatile float shift = slope * mu;
        const float offset = quads[1][i] - shift;
        cases += 2;
        if (memcmp(&fit_a[i], (const float *)&slope, 4) != 0 || memcmp(&fit_b[i], &offset, 4) != 0) {
            if (failures++ < 20) printf("  %s: fit at %d: %.9g %.9g, the formula %.9g %.9g\n", k.name, i, fit_a[i], fit_b[i], slope, offset);
        }
        if (i % 7 == 0 && !(fit_a[i] == num / (eps2 + 1e-7f))) {
            if (failures++ < 20) printf("  %s: fit at %d: a negative variance is not taken as 0\n", k.name, i);
        }
    }
}

// Halving and upsampling against their definitions, one operation at a time (volatile: nothing
// fused), at the edges too; and a linear ramp stays a ramp.
static void check_scale_meaning(nj_colour_kernels k) {
    enum { Q = 300 };
    static float a[2 * Q + 1], b[2 * Q + 1], halved[Q + 1], above[Q], below[Q], up[2 * Q];
    for (int i = 0; i < 2 * Q + 1; i++) a[i] = coefficient(), b[i] = coefficient();
    k.halve(halved, a, b, 2 * Q + 1);
    for (int j = 0; j <= Q; j++) {
        volatile float left = a[2 * j] + (j < Q ? a[2 * j + 1] : 0), right = b[2 * j] + (j < Q ? b[2 * j + 1] : 0);
        volatile float sum = j < Q ? left + right : a[2 * j] + b[2 * j];
        const float want = sum * (j < Q ? 0.25f : 0.5f);
        cases++;
        if (memcmp(&halved[j], &want, 4) != 0) {
            if (failures++ < 20) printf("  %s: halve at %d: %.9g, the formula %.9g\n", k.name, j, halved[j], want);
        }
    }
    for (int j = 0; j < Q; j++) above[j] = coefficient(), below[j] = coefficient();
    const float w = 0.75f;
    k.upsample(up, above, below, w, 0, 2 * Q, Q);
    for (int x = 0; x < 2 * Q; x++) {
        const int kq = x / 2;
        int j0 = x & 1 ? kq : kq - 1, j1 = x & 1 ? kq + 1 : kq;
        j0 = j0 < 0 ? 0 : j0, j1 = j1 > Q - 1 ? Q - 1 : j1;
        volatile float a0 = above[j0] * (1.0f - w), b0 = below[j0] * w, a1 = above[j1] * (1.0f - w), b1 = below[j1] * w;
        volatile float v0 = a0 + b0, v1 = a1 + b1;
        volatile float p0 = v0 * (x & 1 ? 0.75f : 0.25f), p1 = v1 * (x & 1 ? 0.25f : 0.75f);
        const float want = p0 + p1;
        cases++;
        if (memcmp(&up[x], &want, 4) != 0) {
            if (failures++ < 20) printf("  %s: upsample at %d: %.9g, the formula %.9g\n", k.name, x, up[x], want);
        }
    }
    // A ramp in columns and rows comes back a ramp between the quarter-scale centres.
    for (int j = 0; j < Q; j++) above[j] = (float)(4 * j), below[j] = (float)(4 * j) + 8.0f;
    k.upsample(up, above, below, 0.25f, 0, 2 * Q, Q);
    for (int x = 2; x < 2 * Q - 2; x++) {
        const float want = (float)(2 * x - 1) + 2.0f;  // columns: 4 · (x − 0.5) / 2; rows: a quarter of 8
        cases++;
        if (fabsf(up[x] - want) > 1e-4f) {
            if (failures++ < 20) printf("  %s: upsample of a ramp at %d: %.9g, want %.9g\n", k.name, x, up[x], want);
        }
    }
}

// The steps that read an int8 network's codes (code_luma, code_quantise8/16): each form against
// the reference, and the reference against the FP32 steps on the planes nj_qs8_dequantize_scalar
// makes of the same codes (bit for bit: the sinks take codes instead of converted rows), for
// encodings whose values straddle 0, the BT.709 toe and 1.
static void check_code_steps(nj_colour_kernels form, nj_colour_kernels reference) {
    const size_t lengths[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 1064};
    const nj_qs8_quantization encodings[] = {{0.0078125f, -128}, {0.0061f, -37}, {0.013f, 0}, {0.0009f, 91}};
    const float weights[3] = {0.2126f, 0.7152f, 0.0722f};
    for (size_t e = 0; e < sizeof encodings / sizeof encodings[0]; e++) {
        const nj_qs8_quantization q = encodings[e];
        for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
            const size_t count = lengths[k];
            const int g = (int)((e + k) & 1);
            // Odd widths read one more even value.
            int8_t *codes[6];
            float *values[6];
            for (int c = 0; c < 6; c++) {
                codes[c] = guarded_bytes_aligned(count + 1, (c + g) & 1, 1);
                values[c] = floats(count + 1, !((c + g) & 1), NULL);
                for (size_t i = 0; i <= count; i++) codes[c][i] = (int8_t)rnd32();
                nj_qs8_dequantize_scalar(codes[c], values[c], count + 1, q);
            }
            float *got = floats(2 * count, !g, NULL), *want = floats(2 * count, g, NULL);
            form.code_luma(got, codes[0], codes[1], codes[2], codes[3], codes[4], codes[5], q.scale, q.zero_point,
                           weights, count);
            reference.code_luma(want, codes[0], codes[1], codes[2], codes[3], codes[4], codes[5], q.scale, q.zero_point,
                                weights, count);
            expect_same(got, want, 2 * count * sizeof(float), form.name, "code_luma", count, e);
            reference.luma(want, values[0], values[1], values[2], values[3], values[4], values[5], weights, count);
            expect_same(got, want, 2 * count * sizeof(float), form.name, "code_luma as luma", count, e);
            for (size_t width = 2 * count; width <= 2 * count + 1; width++) {
                uint8_t *q8_got = guarded_bytes_aligned(3 * width, !g, 1), *q8_want = guarded_bytes_aligned(3 * width, g, 1);
                form.code_quantise8(q8_got, codes[0], codes[1], codes[2], codes[3], codes[4], codes[5], q.scale,
                                    q.zero_point, width);
                reference.code_quantise8(q8_want, codes[0], codes[1], codes[2], codes[3], codes[4], codes[5], q.scale,
                                         q.zero_point, width);
                expect_same(q8_got, q8_want, 3 * width, form.name, "code_quantise8", count, width);
                reference.quantise8(q8_want, values[0], values[1], values[2], values[3], values[4], values[5], width);
                expect_same(q8_got, q8_want, 3 * width, form.name, "code_quantise8 as quantise8", count, width);
                uint16_t *q16_got = guarded_bytes_aligned(6 * width, g, 2), *q16_want = guarded_bytes_aligned(6 * width, !g, 2);
                form.code_quantise16(q16_got, codes[0], codes[1], codes[2], codes[3], codes[4], codes[5], q.scale,
                                     q.zero_point, width);
                reference.code_quantise16(q16_want, codes[0], codes[1], codes[2], codes[3], codes[4], codes[5], q.scale,
                                          q.zero_point, width);
                expect_same(q16_got, q16_want, 6 * width, form.name, "code_quantise16", count, width);
                reference.quantise16(q16_want, values[0], values[1], values[2], values[3], values[4], values[5], width);
                expect_same(q16_got, q16_want, 6 * width, form.name, "code_quantise16 as quantise16", count, width);
            }
            guarded_free_all();
        }
    }
}

int main(void) {
    const nj_colour_kernels reference = nj_colour_kernels_named("scalar");
    printf("colour steps: dispatching %s (features 0x%x)\n", nj_colour_kernels_active().name, nj_cpu_features_active());
    // The sRGB table's stand-in: random bytes, so that a wrong entry shows.
    static uint8_t table[65537 + 3];
    for (size_t i = 0; i < sizeof table; i++) table[i] = (uint8_t)rnd32();
    check_meaning(reference);
    check_steps_meaning(reference, table);
    check_scale_meaning(reference);
    check_code_steps(reference, reference);
    const char *forms[] = {"avx2", "avx512"};
    int checked = 0;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        const nj_colour_kernels form = nj_colour_kernels_named(forms[i]);
        if (!form.name) {
            printf("colour steps: %s not on this machine or build, skipped\n", forms[i]);
            continue;
        }
        check_form(form, reference);
        check_meaning(form);
        check_steps_form(form, reference, table);
        check_code_steps(form, reference);
        check_steps_meaning(form, table);
        check_scale_meaning(form);
        checked++;
    }
    printf("colour steps: %d cases, %d forms against the scalar reference: %s\n", cases, checked,
           failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
