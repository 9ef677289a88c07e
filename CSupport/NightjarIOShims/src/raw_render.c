/* LibRaw shim: LibRaw's own rendering of a file (the reference `nightjar evaluate` compares
 * against). No processing of Nightjar's here: only LibRaw's options are set. */
#include "nightjar_io_shims.h"

#include <libraw/libraw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nj_raw_render {
    libraw_data_t *lr;
    libraw_processed_image_t *image;
    int data_errors;
};

/* LibRaw reports damaged data through this callback (the default one prints to stderr). */
static void on_data_error(void *data, const char *file, const int offset) {
    (void)file; (void)offset;
    ((struct nj_raw_render *)data)->data_errors += 1;
}

static int fail(struct nj_raw_render *render, int code, const char *text, char *message,
                size_t message_size) {
    if (message && message_size > 0) snprintf(message, message_size, "%s", text);
    nj_raw_render_close(render);
    return code;
}

int nj_raw_render_open(const char *path, long long max_pixels, nj_raw_render **out,
                       nj_raw_rendering *rendering, char *message, size_t message_size) {
    *out = NULL;
    memset(rendering, 0, sizeof *rendering);
    struct nj_raw_render *render = calloc(1, sizeof *render);
    if (!render) return fail(NULL, NJ_RAW_ERR_NO_MEMORY, "out of memory", message, message_size);
    render->lr = libraw_init(0);
    if (!render->lr) return fail(render, NJ_RAW_ERR_NO_MEMORY, "cannot initialise LibRaw", message, message_size);
    libraw_data_t *lr = render->lr;
    libraw_set_dataerror_handler(lr, on_data_error, render);

    int rc = libraw_open_file(lr, path);
    if (rc != LIBRAW_SUCCESS) {
        return fail(render, rc == LIBRAW_IO_ERROR ? NJ_RAW_ERR_OPEN : NJ_RAW_ERR_UNSUPPORTED,
                    libraw_strerror(rc), message, message_size);
    }
    long long readout = (long long)lr->sizes.raw_width * lr->sizes.raw_height;
    long long visible = (long long)lr->sizes.width * lr->sizes.height;
    if (max_pixels > 0 && (readout > max_pixels || visible > max_pixels)) {
        rendering->width = lr->sizes.raw_width;
        rendering->height = lr->sizes.raw_height;
        char text[96];
        snprintf(text, sizeof text, "%d x %d pixels exceed the limit of %lld",
                 lr->sizes.raw_width, lr->sizes.raw_height, max_pixels);
        return fail(render, NJ_RAW_ERR_TOO_LARGE, text, message, message_size);
    }
    rc = libraw_unpack(lr);
    if (rc != LIBRAW_SUCCESS || render->data_errors > 0) {
        return fail(render, NJ_RAW_ERR_CORRUPT, rc != LIBRAW_SUCCESS ? libraw_strerror(rc) : "corrupt image data",
                    message, message_size);
    }
    int flip = lr->sizes.flip; /* user_flip = 0 overwrites it during processing */
    /* The training targets' settings; everything else stays at LibRaw's defaults (AHD, sRGB,
     * gamma 0.45 / 4.5, highlight clipping). */
    lr->params.use_camera_wb = 1;
    lr->params.half_size = 0;
    lr->params.no_auto_bright = 1;
    lr->params.output_bps = 16;
    lr->params.user_flip = 0;
    rc = libraw_dcraw_process(lr);
    if (rc != LIBRAW_SUCCESS) return fail(render, NJ_RAW_ERR_CORRUPT, libraw_strerror(rc), message, message_size);
    int error = 0;
    render->image = libraw_dcraw_make_mem_image(lr, &error);
    if (!render->image) return fail(render, NJ_RAW_ERR_NO_MEMORY, libraw_strerror(error), message, message_size);
    if (render->image->type != LIBRAW_IMAGE_BITMAP || render->image->colors != 3 ||
        render->image->bits != 16) {
        return fail(render, NJ_RAW_ERR_NO_DATA, "LibRaw did not render a 16-bit RGB bitmap", message, message_size);
    }
    rendering->width = render->image->width;
    rendering->height = render->image->height;
    rendering->flip = flip;
    rendering->pixels = (const uint16_t *)render->image->data;
    *out = render;
    return NJ_RAW_OK;
}

void nj_raw_render_close(nj_raw_render *render) {
    if (!render) return;
    if (render->image) libraw_dcraw_clear_mem(render->image);
    if (render->lr) libraw_close(render->lr);
    free(render);
}
