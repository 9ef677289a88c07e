/* PNG filter x zlib strategy on real images, the way PNGEncoder compresses them: rows cut into
 * pieces of about 64 KiB of scanlines, each filtered and deflated on its own by png_pieces.c
 * (the code the encoder runs). Per combination: the IDAT bytes as a share of the raw samples,
 * and MB of raw samples per CPU second (this thread's CPU time, median of the repeats) for the
 * filter, the deflate and both. Built and run by scripts/bench-png.sh.
 * Usage: bench-png REPEATS FILE.png...  (8- or 16-bit RGB PNGs) */
#include "nightjar_io_shims.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Reads an RGB PNG into host-order samples (what the encoder is handed). */
static uint8_t *read_png(const char *path, size_t *width, size_t *height, int *bits) {
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fclose(file);
        return NULL;
    }
    png_init_io(png, file);
    png_read_info(png, info);
    if (png_get_color_type(png, info) != PNG_COLOR_TYPE_RGB) {
        fprintf(stderr, "%s: not an RGB PNG\n", path);
        exit(1);
    }
    *width = png_get_image_width(png, info);
    *height = png_get_image_height(png, info);
    *bits = png_get_bit_depth(png, info);
    if (*bits == 16) png_set_swap(png); /* host order, little-endian here */
    png_read_update_info(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    uint8_t *pixels = malloc(row_bytes * *height);
    for (size_t y = 0; y < *height; y++) png_read_row(png, pixels + y * row_bytes, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(file);
    return pixels;
}

/* Checks a piece against what it should hold: inflated as raw deflate, all of `deflated` used
 * (and the stream's end reached for the last piece), exactly `expected` out. */
static int inflates_to(const uint8_t *deflated, size_t deflated_bytes, const uint8_t *expected, size_t expected_bytes,
                       int last) {
    static uint8_t out[1 << 20];
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    if (inflateInit2(&stream, -15) != Z_OK) return 0;
    stream.next_in = (Bytef *)deflated;
    stream.avail_in = (uInt)deflated_bytes;
    stream.next_out = out;
    stream.avail_out = sizeof out;
    int rc = inflate(&stream, Z_SYNC_FLUSH);
    int ok = (last ? rc == Z_STREAM_END : rc == Z_OK || rc == Z_BUF_ERROR) && stream.avail_in == 0 &&
             sizeof out - stream.avail_out == expected_bytes && memcmp(out, expected, expected_bytes) == 0;
    inflateEnd(&stream);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench-png REPEATS FILE.png...\n");
        return 2;
    }
    int repeats = atoi(argv[1]);
    if (repeats < 1) repeats = 1;
    static const char *filter_names[] = {"none", "sub", "up", "avg", "paeth", "adaptive"};
    static const struct { const char *name; int strategy, level; } methods[] = {
        {"default-1", NJ_DEFLATE_DEFAULT, 1}, {"filtered-1", NJ_DEFLATE_FILTERED, 1},
        {"rle", NJ_DEFLATE_RLE, 1},         {"huffman", NJ_DEFLATE_HUFFMAN, 1},
        {"huffman-direct", NJ_DEFLATE_HUFFMAN_DIRECT, 1},
        {"runs-direct", NJ_DEFLATE_RUNS_DIRECT, 1},
        {"default-6", NJ_DEFLATE_DEFAULT, 6},
    };
    size_t memory_bytes = nj_deflate_memory_bytes();
    void *memory = malloc(memory_bytes);
    printf("file\tbits\tMB\tfilter\tstrategy\tsize%%\tfilter MB/s\tdeflate MB/s\ttotal MB/s\n");
    for (int f = 2; f < argc; f++) {
        size_t width, height;
        int bits;
        uint8_t *pixels = read_png(argv[f], &width, &height, &bits);
        if (!pixels) {
            fprintf(stderr, "%s: cannot read\n", argv[f]);
            return 1;
        }
        size_t row_bytes = width * 3 * (size_t)bits / 8;
        size_t rows_per_piece = (64u << 10) / (row_bytes + 1);
        if (rows_per_piece < 1) rows_per_piece = 1;
        size_t stride = row_bytes + 1;
        uint8_t *piece = malloc(rows_per_piece * stride);
        uint8_t *previous = malloc(row_bytes);
        size_t capacity = nj_deflate_piece_bound(rows_per_piece * stride);
        uint8_t *output = malloc(capacity);
        double raw_mb = (double)(row_bytes * height) / 1e6;
        const char *name = strrchr(argv[f], '/') ? strrchr(argv[f], '/') + 1 : argv[f];
        for (int filter = 0; filter <= NJ_PNG_FILTER_ADAPTIVE; filter++) {
            for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
                double filter_times[32], deflate_times[32];
                size_t compressed = 0;
                int runs = repeats > 32 ? 32 : repeats;
                for (int r = 0; r < runs; r++) {
                    double filter_time = 0, deflate_time = 0;
                    compressed = 2 + 4; /* zlib header and Adler-32 */
                    for (size_t y0 = 0; y0 < height; y0 += rows_per_piece) {
                        size_t rows = height - y0 < rows_per_piece ? height - y0 : rows_per_piece;
                        for (size_t y = 0; y < rows; y++)
                            memcpy(piece + y * stride + 1, pixels + (y0 + y) * row_bytes, row_bytes);
                        if (y0 > 0) memcpy(previous, pixels + (y0 - 1) * row_bytes, row_bytes);
                        double t0 = cpu_seconds();
                        nj_png_filter_rows(piece, rows, row_bytes, y0 > 0 ? previous : NULL, 3 * bits / 8,
                                           bits == 16, filter);
                        double t1 = cpu_seconds();
                        size_t produced = 0;
                        uint32_t adler = 0;
                        if (nj_deflate_piece(memory, memory_bytes, methods[m].level, methods[m].strategy, piece,
                                             rows * stride, y0 + rows == height, output, capacity, &produced,
                                             &adler) != 0) {
                            fprintf(stderr, "deflate failed\n");
                            return 1;
                        }
                        double t2 = cpu_seconds();
                        if (r == 0 && !inflates_to(output, produced, piece, rows * stride, y0 + rows == height)) {
                            fprintf(stderr, "%s: %s/%s: piece at row %zu does not inflate to its rows\n", name,
                                    filter_names[filter], methods[m].name, y0);
                            return 1;
                        }
                        filter_time += t1 - t0;
                        deflate_time += t2 - t1;
                        compressed += produced + 12; /* one IDAT chunk per piece */
                    }
                    filter_times[r] = filter_time;
                    deflate_times[r] = deflate_time;
                }
                qsort(filter_times, (size_t)runs, sizeof(double), compare_doubles);
                qsort(deflate_times, (size_t)runs, sizeof(double), compare_doubles);
                double ft = filter_times[runs / 2], dt = deflate_times[runs / 2];
                printf("%s\t%d\t%.1f\t%s\t%s\t%.1f\t%.0f\t%.0f\t%.0f\n", name, bits, raw_mb, filter_names[filter],
                       methods[m].name, 100.0 * (double)compressed / (double)(row_bytes * height), raw_mb / ft,
                       raw_mb / dt, raw_mb / (ft + dt));
                fflush(stdout);
            }
        }
        free(pixels);
        free(piece);
        free(previous);
        free(output);
    }
    free(memory);
    return 0;
}
