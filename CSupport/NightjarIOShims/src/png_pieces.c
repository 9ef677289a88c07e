/* A PNG's image data in independent pieces, as pigz deflates a stream: each piece of whole
 * scanlines is filtered and deflated on its own (a fresh raw deflate stream that ends in a
 * full flush, the last one in a final block), so pieces can be compressed on several threads
 * and their outputs simply concatenated into one zlib stream; the stream's Adler-32 is
 * combined from the pieces' (zlib's adler32_combine). Swift schedules the pieces and writes
 * the chunks; these functions only filter and deflate one piece in the caller's memory. */
#include "nightjar_io_shims.h"

#include <string.h>
#include <zlib.h>

/* ---- Filtering ---------------------------------------------------------------------------- */

static inline uint8_t paeth(int a, int b, int c) {
    int p = a + b - c;
    int pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
    if (pa <= pb && pa <= pc) return (uint8_t)a;
    return (uint8_t)(pb <= pc ? b : c);
}

/* Filters one row in place, right to left, so every predictor still reads unfiltered bytes. */
static void filter_row(uint8_t *row, const uint8_t *up, size_t bytes, size_t bpp, int filter) {
    switch (filter) {
    case NJ_PNG_FILTER_SUB:
        for (size_t i = bytes; i-- > bpp;) row[i] = (uint8_t)(row[i] - row[i - bpp]);
        break;
    case NJ_PNG_FILTER_UP:
        if (up) for (size_t i = 0; i < bytes; i++) row[i] = (uint8_t)(row[i] - up[i]);
        break;
    case NJ_PNG_FILTER_AVERAGE:
        for (size_t i = bytes; i-- > 0;) {
            int left = i >= bpp ? row[i - bpp] : 0, above = up ? up[i] : 0;
            row[i] = (uint8_t)(row[i] - ((left + above) >> 1));
        }
        break;
    case NJ_PNG_FILTER_PAETH:
        for (size_t i = bytes; i-- > 0;) {
            int left = i >= bpp ? row[i - bpp] : 0, above = up ? up[i] : 0;
            int corner = (up && i >= bpp) ? up[i - bpp] : 0;
            row[i] = (uint8_t)(row[i] - paeth(left, above, corner));
        }
        break;
    default:
        break;
    }
}

static void swap_bytes(uint8_t *p, size_t bytes) {
    for (size_t i = 0; i + 1 < bytes; i += 2) {
        uint8_t t = p[i];
        p[i] = p[i + 1];
        p[i + 1] = t;
    }
}

void nj_png_filter_rows(uint8_t *rows, size_t count, size_t row_bytes, uint8_t *previous,
                        int bytes_per_pixel, int swap16, int filter) {
    size_t stride = row_bytes + 1;
    if (swap16) {
        /* Rows arrive in host order; PNG stores 16-bit samples big-endian (and the predictors
         * work on the stored bytes, so the row above is turned too). */
        for (size_t y = 0; y < count; y++) swap_bytes(rows + y * stride + 1, row_bytes);
        if (previous) swap_bytes(previous, row_bytes);
    }
    /* Bottom to top: row y's predictor reads row y - 1 before that row is filtered. */
    for (size_t y = count; y-- > 0;) {
        uint8_t *row = rows + y * stride;
        const uint8_t *up = y > 0 ? rows + (y - 1) * stride + 1 : previous;
        row[0] = (uint8_t)filter;
        filter_row(row + 1, up, row_bytes, (size_t)bytes_per_pixel, filter);
    }
}

/* ---- Deflating ---------------------------------------------------------------------------- */

typedef struct {
    unsigned char *base;
    size_t size;
    size_t used;
} bump_memory;

static voidpf bump_alloc(voidpf opaque, uInt items, uInt size) {
    bump_memory *memory = opaque;
    size_t bytes = ((size_t)items * size + 15) & ~(size_t)15;
    if (bytes > memory->size - memory->used) return Z_NULL;
    void *p = memory->base + memory->used;
    memory->used += bytes;
    return p;
}

static void bump_free(voidpf opaque, voidpf address) {
    (void)opaque;
    (void)address; /* the whole block is reused by the next piece */
}

size_t nj_deflate_memory_bytes(void) {
    /* deflateInit2 with window bits 15, memory level 8: the state, a 64 KiB window, 64 KiB
     * of previous-match links, a 64 KiB hash head and a 64 KiB pending buffer (zlib 1.2.x
     * and 1.3.x); the rest is room to spare, plus the bump allocator's record. */
    return (272u << 10) + 64;
}

size_t nj_deflate_piece_bound(size_t input_bytes) {
    /* Stored blocks in the worst case (5 bytes per 16 KiB block, rounded up generously), the
     * full flush's empty stored block and the zlib header and Adler-32 the caller adds. */
    return input_bytes + (input_bytes >> 10) + 64;
}

int nj_deflate_piece(void *memory, size_t memory_bytes, int level, int strategy,
                     const uint8_t *input, size_t input_bytes, int last, uint8_t *output,
                     size_t output_capacity, size_t *output_bytes, uint32_t *adler) {
    if (memory_bytes < sizeof(bump_memory) + 16) return -1;
    bump_memory *bump = memory;
    bump->base = (unsigned char *)memory + ((sizeof(bump_memory) + 15) & ~(size_t)15);
    bump->size = memory_bytes - (size_t)(bump->base - (unsigned char *)memory);
    bump->used = 0;
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    stream.zalloc = bump_alloc;
    stream.zfree = bump_free;
    stream.opaque = bump;
    int z_strategy = strategy == NJ_DEFLATE_HUFFMAN ? Z_HUFFMAN_ONLY
                     : strategy == NJ_DEFLATE_RLE   ? Z_RLE
                     : strategy == NJ_DEFLATE_FILTERED ? Z_FILTERED
                                                      : Z_DEFAULT_STRATEGY;
    /* Raw deflate (negative window bits): the caller writes one zlib header and trailer. */
    if (deflateInit2(&stream, level, Z_DEFLATED, -15, 8, z_strategy) != Z_OK) return -1;
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)input_bytes;
    stream.next_out = output;
    stream.avail_out = (uInt)output_capacity;
    int rc = deflate(&stream, last ? Z_FINISH : Z_FULL_FLUSH);
    int ok = last ? rc == Z_STREAM_END : (rc == Z_OK && stream.avail_in == 0 && stream.avail_out > 0);
    *output_bytes = output_capacity - stream.avail_out;
    deflateEnd(&stream);
    *adler = (uint32_t)adler32(1L, input, (uInt)input_bytes);
    return ok ? 0 : -1;
}

uint32_t nj_adler32_combine(uint32_t first, uint32_t second, size_t second_bytes) {
    return (uint32_t)adler32_combine(first, second, (z_off_t)second_bytes);
}

uint32_t nj_crc32(uint32_t crc, const uint8_t *bytes, size_t count) {
    return (uint32_t)crc32(crc, bytes, (uInt)count);
}
