/* libpng shim: reads a PNG back as 8-bit RGB through libpng's simplified API (which reports
 * errors in the image's message instead of jumping). */
#include "nightjar_io_shims.h"

#include <png.h>
#include <stdio.h>
#include <string.h>

int nj_png_read_rgb8(const char *path, uint8_t *dst, size_t size, uint32_t *width,
                     uint32_t *height, char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path)) {
        snprintf(message, message_size, "%s", image.message);
        return -1;
    }
    *width = image.width;
    *height = image.height;
    if (image.format & PNG_FORMAT_FLAG_LINEAR) {
        png_image_free(&image);
        snprintf(message, message_size, "a 16-bit PNG; only 8-bit PNGs are read");
        return -1;
    }
    if (!dst) {
        png_image_free(&image);
        return 0;
    }
    if (size < (size_t)image.width * image.height * 3) {
        png_image_free(&image);
        snprintf(message, message_size, "buffer too small for %u x %u", image.width, image.height);
        return -1;
    }
    image.format = PNG_FORMAT_RGB;
    if (!png_image_finish_read(&image, NULL, dst, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message);
        png_image_free(&image);
        return -1;
    }
    return 0;
}
