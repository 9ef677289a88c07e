// The two passes over a 16-bit mosaic that give an int8 network its 8-bit codes
// (nightjar_kernels.h; CaptureWorkspace's codes): the aligned area's histogram per CFA site with
// the largest value, then each value's code through its site's table. Plain C (a count per
// value and a table read per value are scalar work); what they replace were Swift loops on the
// caller's thread with a checked addition per count.
#include "nightjar_kernels.h"

uint16_t nj_u16_mosaic_histogram_rows(const uint16_t *rows, size_t width, int32_t first_y, int32_t y_begin,
                                      int32_t y_end, int32_t dy, int32_t dx, int32_t aligned_width,
                                      int32_t aligned_height, int32_t parity, uint32_t *counts, size_t stride,
                                      uint16_t largest) {
    uint32_t *even = counts + (size_t)(2 * parity) * stride, *odd = even + stride;
    for (int32_t y = y_begin; y < y_end; y++) {
        if (((y - dy) & 1) != parity) continue;
        const uint16_t *row = rows + (size_t)(y - first_y) * width;
        uint16_t top = largest;
        for (size_t x = 0; x < width; x++) top = row[x] > top ? row[x] : top;
        largest = top;
        if (y < dy || y >= dy + aligned_height) continue;
        // The row's two sites together: two counts in flight that do not wait on each other
        // (a dark frame repeats a few values, and one histogram waits on its own last store).
        const uint16_t *p = row + dx;
        int32_t x = 0;
        for (; x + 1 < aligned_width; x += 2) {
            even[p[x]]++;
            odd[p[x + 1]]++;
        }
        if (x < aligned_width) even[p[x]]++;
    }
    return largest;
}

void nj_u16_mosaic_codes_row(uint8_t *target, const uint16_t *source, size_t width, const uint8_t *even_codes,
                             const uint8_t *odd_codes) {
    size_t x = 0;
    for (; x + 1 < width; x += 2) {
        target[x] = even_codes[source[x]];
        target[x + 1] = odd_codes[source[x + 1]];
    }
    if (x < width) target[x] = even_codes[source[x]];
}
