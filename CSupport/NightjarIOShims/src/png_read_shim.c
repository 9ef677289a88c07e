/* Reading an 8-bit PNG whole through libpng's simplified API (synthesize's scenes, evaluate's
 * read-back; not on the restore path). */
#include "nightjar_io_shims.h"

#include <png.h>
#include <stdio.h>
#include <string.h>

/* From the file at `path`, or from `size` bytes at `data` when `data` is not NULL. */
static int begin(png_image *image, const char *path, const void *data, size_t size, char *message,
                 size_t message_size) {
    memset(image, 0, sizeof *image);
    image->version = PNG_IMAGE_VERSION;
    int ok = data ? png_image_begin_read_from_memory(image, data, size)
                  : png_image_begin_read_from_file(image, path);
    if (!ok) {
        snprintf(message, message_size, "%s", image->message[0] ? image->message : "not a readable PNG");
        png_image_free(image);
        return -1;
    }
    /* libpng's simplified API takes 16-bit samples for linear light and would gamma-encode
     * them on the way to 8 bits: refuse them rather than brighten the image. */
    if (image->format & PNG_FORMAT_FLAG_LINEAR) {
        snprintf(message, message_size, "a 16-bit PNG; only 8-bit PNGs are read");
        png_image_free(image);
        return -1;
    }
    return 0;
}

static int read_size(const char *path, const void *data, size_t size, uint32_t *width,
                     uint32_t *height, char *message, size_t message_size) {
    png_image image;
    if (begin(&image, path, data, size, message, message_size) != 0) return -1;
    *width = image.width;
    *height = image.height;
    png_image_free(&image);
    return 0;
}

static int read_rgb8(const char *path, const void *data, size_t size, uint8_t *pixels,
                     size_t capacity, char *message, size_t message_size) {
    png_image image;
    if (begin(&image, path, data, size, message, message_size) != 0) return -1;
    image.format = PNG_FORMAT_RGB;
    if ((size_t)image.width * image.height * 3 > capacity) {
        snprintf(message, message_size, "the pixel buffer is too small");
        png_image_free(&image);
        return -1;
    }
    png_color black = {0, 0, 0};
    if (!png_image_finish_read(&image, &black, pixels, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message[0] ? image.message : "corrupt PNG data");
        png_image_free(&image);
        return -1;
    }
    return 0;
}

int nj_png_read_size(const char *path, uint32_t *width, uint32_t *height, char *message,
                     size_t message_size) {
    return read_size(path, NULL, 0, width, height, message, message_size);
}

int nj_png_read_rgb8(const char *path, uint8_t *pixels, size_t capacity, char *message,
                     size_t message_size) {
    return read_rgb8(path, NULL, 0, pixels, capacity, message, message_size);
}

int nj_png_read_size_memory(const void *data, size_t size, uint32_t *width, uint32_t *height,
                            char *message, size_t message_size) {
    return read_size(NULL, data, size, width, height, message, message_size);
}

int nj_png_read_rgb8_memory(const void *data, size_t size, uint8_t *pixels, size_t capacity,
                            char *message, size_t message_size) {
    return read_rgb8(NULL, data, size, pixels, capacity, message, message_size);
}

int nj_png_read_rgb16(const char *path, uint16_t *pixels, size_t capacity, char *message,
                      size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path)) {
        snprintf(message, message_size, "%s", image.message[0] ? image.message : "not a readable PNG");
        png_image_free(&image);
        return -1;
    }
    /* A 16-bit file read as 16-bit linear RGB: libpng hands the samples over unchanged. */
    if (!(image.format & PNG_FORMAT_FLAG_LINEAR)) {
        snprintf(message, message_size, "an 8-bit PNG; only 16-bit PNGs are read here");
        png_image_free(&image);
        return -1;
    }
    image.format = PNG_FORMAT_LINEAR_RGB;
    if ((size_t)image.width * image.height * 3 > capacity) {
        snprintf(message, message_size, "the pixel buffer is too small");
        png_image_free(&image);
        return -1;
    }
    if (!png_image_finish_read(&image, NULL, pixels, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message[0] ? image.message : "corrupt PNG data");
        png_image_free(&image);
        return -1;
    }
    return 0;
}
