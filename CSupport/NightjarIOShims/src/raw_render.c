/* LibRaw shim: LibRaw's own rendering of a file (the reference `nightjar evaluate` compares
 * against). No processing of Nightjar's here: only LibRaw's options are set. */
#define _GNU_SOURCE
#include "nightjar_io_shims.h"
#include "isolation.h"

#include <errno.h>
#include <fcntl.h>
#include <libraw/libraw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- The same in a child process (see raw_isolated.c for why) ---------------------------- */

typedef struct {
    int32_t rc;
    int32_t width, height, flip;
    char message[512];
    uint64_t count; /* values that follow */
} render_header;

static void run_render_child(nj_child_sender *out, const nj_child_job *job) {
    const char *path = job->path;
    long long max_pixels = job->max_pixels;
    nj_child_die_quietly();
    render_header header;
    memset(&header, 0, sizeof header);
    nj_raw_render *render = NULL;
    nj_raw_rendering rendering;
    header.rc = nj_raw_render_open(path, max_pixels, &render, &rendering, header.message,
                                   sizeof header.message);
    header.width = rendering.width;
    header.height = rendering.height;
    header.flip = rendering.flip;
    if (header.rc == NJ_RAW_OK) header.count = (uint64_t)rendering.width * rendering.height * 3;
    int failed = nj_write_all(out->fd, &header, sizeof header);
    if (!failed && header.count > 0) {
        failed = nj_child_send(out, rendering.pixels, header.count * sizeof(uint16_t));
    }
    if (!failed) failed = nj_child_send_end(out);
    _exit(failed ? 1 : 0);
}

int nj_raw_render_isolated_begin(const char *path, long long max_pixels, double timeout_seconds,
                                 nj_raw_rendering *rendering, nj_raw_child *child, char *message,
                                 size_t message_size) {
    memset(rendering, 0, sizeof *rendering);
    nj_child_job job = {path, max_pixels, 1, -1};
    int started = nj_child_start(child, timeout_seconds, run_render_child, &job, "rendering", message, message_size);
    if (started != NJ_RAW_OK) return started;

    render_header header;
    int status_read = nj_read_all(child->fd, &header, sizeof header, child->deadline);
    int rc = NJ_RAW_OK;
    if (status_read == 0) {
        header.message[sizeof header.message - 1] = 0;
        rc = header.rc;
        if (message && message_size > 0) snprintf(message, message_size, "%s", header.message);
        rendering->width = header.width;
        rendering->height = header.height;
        rendering->flip = header.flip;
        uint64_t expected = (uint64_t)(uint32_t)header.width * (uint32_t)header.height * 3;
        if (rc == NJ_RAW_OK && (header.width <= 0 || header.height <= 0 || header.count != expected ||
                                (max_pixels > 0 && header.count / 3 > (uint64_t)max_pixels))) {
            rc = NJ_RAW_ERR_SYSTEM;
            snprintf(message, message_size, "the rendering process sent an inconsistent image");
        }
        child->count = rc == NJ_RAW_OK ? header.count : 0;
    }
    if (status_read != 0 || rc != NJ_RAW_OK) {
        if (status_read == 0) kill(child->pid, SIGKILL);
        int reaped = nj_child_reap(child, status_read, message, message_size);
        return status_read != 0 ? reaped : rc;
    }
    return NJ_RAW_OK;
}

int nj_raw_render_isolated_rows(nj_raw_child *child, uint16_t *dst, size_t count, char *message,
                                size_t message_size) {
    if (!child || !child->active || count == 0 || count > child->count) {
        if (message && message_size > 0) snprintf(message, message_size, "no rows left to read");
        return NJ_RAW_ERR_USAGE;
    }
    int status_read = nj_child_receive(child, dst, count * sizeof(uint16_t));
    if (status_read != 0) return nj_child_reap(child, status_read, message, message_size);
    child->count -= count;
    if (child->count == 0) return nj_child_reap(child, 0, message, message_size);
    return NJ_RAW_OK;
}
