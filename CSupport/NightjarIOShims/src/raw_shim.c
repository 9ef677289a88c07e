/* LibRaw shim: open, unpack, describe, copy the visible mosaic. No processing here. */
#include "nightjar_io_shims.h"
#include "raw_extent.h"

#include <libraw/libraw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nj_raw {
    libraw_data_t *lr;
    int data_errors;      /* calls of LibRaw's data-error callback */
    int data_error_eof;   /* one of them was an unexpected end of file */
    int unpacked;
};

static void set_message(char *message, size_t size, const char *text) {
    if (message && size > 0) {
        snprintf(message, size, "%s", text);
    }
}

/* LibRaw reports damaged data through this callback (the default one prints to stderr). */
static void on_data_error(void *data, const char *file, const int offset) {
    (void)file;
    struct nj_raw *raw = (struct nj_raw *)data;
    raw->data_errors += 1;
    if (offset < 0) raw->data_error_eof = 1;
}

static void on_memory_error(void *data, const char *file, const char *where) {
    (void)data; (void)file; (void)where; /* reported through the return code */
}

static int map_libraw_error(int code) {
    switch (code) {
    case LIBRAW_SUCCESS: return NJ_RAW_OK;
    case LIBRAW_FILE_UNSUPPORTED: return NJ_RAW_ERR_UNSUPPORTED;
    case LIBRAW_UNSUFFICIENT_MEMORY:
    case LIBRAW_MEMPOOL_OVERFLOW: return NJ_RAW_ERR_NO_MEMORY;
    case LIBRAW_TOO_BIG: return NJ_RAW_ERR_TOO_LARGE;
    case LIBRAW_IO_ERROR:
    case LIBRAW_DATA_ERROR:
    case LIBRAW_BAD_CROP: return NJ_RAW_ERR_CORRUPT;
    default: return code < -100000 ? NJ_RAW_ERR_CORRUPT : NJ_RAW_ERR_UNSUPPORTED;
    }
}

static void fill_dimensions(const libraw_data_t *lr, nj_raw_info *info) {
    info->raw_width = lr->sizes.raw_width;
    info->raw_height = lr->sizes.raw_height;
    info->width = lr->sizes.width;
    info->height = lr->sizes.height;
    info->top_margin = lr->sizes.top_margin;
    info->left_margin = lr->sizes.left_margin;
    info->raw_pitch = lr->sizes.raw_pitch;
    info->colors = lr->idata.colors;
    info->filters = lr->idata.filters;
    info->flip = lr->sizes.flip;
    info->dng_version = lr->idata.dng_version;
    info->maximum = lr->color.maximum;
    memcpy(info->cdesc, lr->idata.cdesc, 4);
    info->cdesc[4] = 0;
    snprintf(info->make, sizeof info->make, "%s", lr->idata.make);
    snprintf(info->model, sizeof info->model, "%s", lr->idata.model);
    info->shutter = lr->other.shutter;
    info->timestamp = (int64_t)lr->other.timestamp;
    memcpy(info->cam_mul, lr->color.cam_mul, sizeof info->cam_mul);
    memcpy(info->pre_mul, lr->color.pre_mul, sizeof info->pre_mul);
    memcpy(info->rgb_cam, lr->color.rgb_cam, sizeof info->rgb_cam);
    nj_raw_fill_extent((libraw_data_t *)lr, info);
}

int nj_raw_open(const char *path, long long max_pixels, nj_raw **out, nj_raw_info *info,
                char *message, size_t message_size) {
    *out = NULL;
    memset(info, 0, sizeof *info);
    for (int i = 0; i < 4; i++) info->cfa[i] = -1;

    struct nj_raw *raw = calloc(1, sizeof *raw);
    if (!raw) {
        set_message(message, message_size, "out of memory");
        return NJ_RAW_ERR_NO_MEMORY;
    }
    raw->lr = libraw_init(0);
    if (!raw->lr) {
        free(raw);
        set_message(message, message_size, "cannot initialise LibRaw");
        return NJ_RAW_ERR_NO_MEMORY;
    }
    libraw_set_dataerror_handler(raw->lr, on_data_error, raw);
    libraw_set_memerror_handler(raw->lr, on_memory_error, raw);

    int rc = libraw_open_file(raw->lr, path);
    if (rc != LIBRAW_SUCCESS) {
        int mapped = map_libraw_error(rc);
        if (mapped == NJ_RAW_ERR_CORRUPT) {
            /* Running out of data while merely identifying: the header itself is cut short
             * or is not a RAW header at all. */
            set_message(message, message_size,
                        "the header is unreadable or cut short (not a RAW file, or truncated)");
            mapped = NJ_RAW_ERR_UNSUPPORTED;
        } else {
            set_message(message, message_size, libraw_strerror(rc));
        }
        nj_raw_close(raw);
        return mapped;
    }
    fill_dimensions(raw->lr, info);

    long long readout = (long long)info->raw_width * (long long)info->raw_height;
    long long visible = (long long)info->width * (long long)info->height;
    if (max_pixels > 0 && (readout > max_pixels || visible > max_pixels)) {
        snprintf(message, message_size, "%d x %d pixels exceed the limit of %lld",
                 info->raw_width, info->raw_height, max_pixels);
        nj_raw_close(raw);
        return NJ_RAW_ERR_TOO_LARGE;
    }
    if (info->width <= 0 || info->height <= 0 || info->raw_width <= 0 || info->raw_height <= 0) {
        set_message(message, message_size, "the file declares an empty image");
        nj_raw_close(raw);
        return NJ_RAW_ERR_CORRUPT;
    }
    *out = raw;
    return NJ_RAW_OK;
}

/* The black level at visible (row, col): black + cblack[colour] + the cblack[6...] pattern. */
static int site_black(libraw_data_t *lr, int row, int col, double *black) {
    const unsigned *cb = lr->color.cblack;
    int colour = libraw_COLOR(lr, row, col);
    double value = (double)lr->color.black;
    if (colour >= 0 && colour < 4) value += (double)cb[colour];
    unsigned rows = cb[4], cols = cb[5];
    if (rows > 0 && cols > 0) {
        /* Only patterns that repeat every two rows and columns describe a 2x2 site. */
        if ((rows != 1 && rows != 2) || (cols != 1 && cols != 2)) return -1;
        unsigned index = 6 + (unsigned)(row % (int)rows) * cols + (unsigned)(col % (int)cols);
        if (index >= LIBRAW_CBLACK_SIZE) return -1;
        value += (double)cb[index];
    }
    *black = value;
    return 0;
}

static int describe(libraw_data_t *lr, nj_raw_info *info, char *message, size_t message_size);

int nj_raw_unpack(nj_raw *raw, nj_raw_info *info, char *message, size_t message_size) {
    if (!raw || !raw->lr) {
        set_message(message, message_size, "no open file");
        return NJ_RAW_ERR_USAGE;
    }
    libraw_data_t *lr = raw->lr;
    int rc = libraw_unpack(lr);
    if (rc != LIBRAW_SUCCESS) {
        set_message(message, message_size,
                    raw->data_error_eof ? "unexpected end of file (truncated?)"
                                        : libraw_strerror(rc));
        return map_libraw_error(rc);
    }
    raw->unpacked = 1;
    if (raw->data_errors > 0) {
        set_message(message, message_size,
                    raw->data_error_eof ? "unexpected end of file (truncated?)"
                                        : "corrupt image data");
        return NJ_RAW_ERR_CORRUPT;
    }
    rc = describe(lr, info, message, message_size);
    if (rc != NJ_RAW_OK) return rc;
    if (!lr->rawdata.raw_image) {
        set_message(message, message_size, "the file holds no single-plane raw mosaic");
        return info->sensor == NJ_SENSOR_BAYER ? NJ_RAW_ERR_NO_DATA : NJ_RAW_OK;
    }
    return NJ_RAW_OK;
}

int nj_raw_plain_rows(nj_raw *raw, nj_raw_info *info, nj_raw_file_rows *rows, char *message,
                      size_t message_size) {
    rows->plain = 0;
    if (!raw || !raw->lr || raw->unpacked) {
        set_message(message, message_size, "needs an opened file that is not unpacked yet");
        return NJ_RAW_ERR_USAGE;
    }
    libraw_data_t *lr = raw->lr;
    int swap = 0;
    if (!nj_raw_samples_are_plain(lr, &swap)) return NJ_RAW_OK;
    size_t width = lr->sizes.width, height = lr->sizes.height;
    size_t top = lr->sizes.top_margin, left = lr->sizes.left_margin;
    if (top + height > lr->sizes.raw_height || left + width > lr->sizes.raw_width) return NJ_RAW_OK;
    int rc = describe(lr, info, message, message_size);
    if (rc != NJ_RAW_OK) return rc;
    if (info->sensor != NJ_SENSOR_BAYER) return NJ_RAW_OK; /* unpacked, it is refused as LibRaw says */
    /* As unpacking sets it for a single-plane mosaic. */
    info->raw_pitch = (unsigned)(2 * lr->sizes.raw_width);
    info->plain_samples = 1;
    rows->plain = 1;
    rows->first = info->data_offset + 2LL * (long long)(top * lr->sizes.raw_width + left);
    rows->stride = 2LL * (long long)lr->sizes.raw_width;
    rows->swap = swap;
    return NJ_RAW_OK;
}

/* What nj_raw_unpack reports of a file beside its pixels: dimensions, sensor kind, pattern, black
 * levels. */
static int describe(libraw_data_t *lr, nj_raw_info *info, char *message, size_t message_size) {
    fill_dimensions(lr, info);

    /* The sensor kind. */
    if (lr->idata.is_foveon) {
        info->sensor = NJ_SENSOR_FOVEON;
    } else if (lr->idata.colors == 1) {
        info->sensor = NJ_SENSOR_MONOCHROME;
    } else if (lr->idata.filters == 0) {
        info->sensor = NJ_SENSOR_LINEAR;
    } else if (lr->idata.filters == 9) {
        info->sensor = NJ_SENSOR_XTRANS;
    } else if (lr->idata.filters < 1000) {
        info->sensor = NJ_SENSOR_OTHER_CFA;
    } else {
        info->sensor = NJ_SENSOR_BAYER;
        int r = 0, g = 0, b = 0;
        for (int i = 0; i < 4; i++) {
            int colour = libraw_COLOR(lr, i / 2, i % 2);
            info->cfa[i] = colour;
            char letter = (colour >= 0 && colour < 4) ? lr->idata.cdesc[colour] : '?';
            info->cfa_letters[i] = letter;
            if (letter == 'R') r++;
            else if (letter == 'G') g++;
            else if (letter == 'B') b++;
        }
        info->cfa_letters[4] = 0;
        if (r != 1 || g != 2 || b != 1) info->sensor = NJ_SENSOR_OTHER_CFA;
    }
    if (info->sensor == NJ_SENSOR_BAYER) {
        for (int i = 0; i < 4; i++) {
            if (site_black(lr, i / 2, i % 2, &info->black[i]) != 0) {
                snprintf(message, message_size,
                         "unsupported black-level pattern of %u x %u sites",
                         lr->color.cblack[4], lr->color.cblack[5]);
                return NJ_RAW_ERR_BLACK_PATTERN;
            }
        }
    }
    return NJ_RAW_OK;
}

int nj_raw_visible_area(nj_raw *raw, const uint16_t **first, size_t *pitch, char *message,
                        size_t message_size) {
    if (!raw || !raw->lr || !raw->unpacked || !raw->lr->rawdata.raw_image) {
        set_message(message, message_size, "nothing unpacked to copy");
        return NJ_RAW_ERR_USAGE;
    }
    const libraw_data_t *lr = raw->lr;
    size_t width = lr->sizes.width, height = lr->sizes.height;
    size_t top = lr->sizes.top_margin, left = lr->sizes.left_margin;
    size_t row_pitch = lr->sizes.raw_pitch / sizeof(uint16_t);
    if (top + height > lr->sizes.raw_height || left + width > lr->sizes.raw_width ||
        row_pitch < lr->sizes.raw_width) {
        set_message(message, message_size, "visible area lies outside the raw readout");
        return NJ_RAW_ERR_CORRUPT;
    }
    *first = lr->rawdata.raw_image + top * row_pitch + left;
    *pitch = row_pitch;
    return NJ_RAW_OK;
}

int nj_raw_copy_visible(nj_raw *raw, uint16_t *dst, size_t count, char *message,
                        size_t message_size) {
    const uint16_t *src = NULL;
    size_t pitch = 0;
    int rc = nj_raw_visible_area(raw, &src, &pitch, message, message_size);
    if (rc != NJ_RAW_OK) return rc;
    size_t width = raw->lr->sizes.width, height = raw->lr->sizes.height;
    if (count < width * height) {
        set_message(message, message_size, "destination buffer too small");
        return NJ_RAW_ERR_USAGE;
    }
    for (size_t row = 0; row < height; row++) {
        memcpy(dst + row * width, src + row * pitch, width * sizeof(uint16_t));
    }
    return NJ_RAW_OK;
}

void nj_raw_close(nj_raw *raw) {
    if (!raw) return;
    if (raw->lr) libraw_close(raw->lr);
    free(raw);
}

const char *nj_raw_version(void) { return libraw_version(); }
