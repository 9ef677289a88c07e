/* LibRaw in a child process. LibRaw 0.20 crashes on some damaged headers (seen: a NULL
 * dereference in parse_tiff_ifd on a file with a few flipped bytes), which no check in the
 * caller can rule out, so the parent never calls LibRaw itself: it forks, the child decodes
 * and streams the result through a pipe, and the parent reports a crash, a hang or a result. */
#define _GNU_SOURCE
#include "nightjar_io_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int32_t rc;
    nj_raw_info info;
    char message[512];
    uint64_t count; /* pixels that follow */
} child_header;

static void set_message(char *message, size_t size, const char *text) {
    if (message && size > 0) snprintf(message, size, "%s", text);
}

static int write_all(int fd, const void *data, size_t size) {
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads exactly `size` bytes before `deadline` (<= 0: none). Returns 0, 1 on EOF or error,
 * 2 on timeout. */
static int read_all(int fd, void *data, size_t size, double deadline) {
    char *p = data;
    while (size > 0) {
        int wait_ms = -1;
        if (deadline > 0) {
            double left = deadline - now_seconds();
            if (left <= 0) return 2;
            wait_ms = (int)(left * 1000) + 1;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, wait_ms);
        if (ready < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (ready == 0) return 2;
        ssize_t n = read(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (n == 0) return 1;
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

/* The child: decode and stream. Never returns. */
static void run_child(int fd, const char *path, long long max_pixels) {
    /* Die quietly on a crash: no inherited crash handler (the Swift runtime's backtracer
     * would print a report and take seconds), no core file, no library chatter. */
    const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS, SIGPIPE};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        close(devnull);
    }
    child_header header;
    memset(&header, 0, sizeof header);
    nj_raw *raw = NULL;
    uint16_t *pixels = NULL;
    header.rc = nj_raw_open(path, max_pixels, &raw, &header.info, header.message,
                            sizeof header.message);
    if (header.rc == NJ_RAW_OK) {
        header.rc = nj_raw_unpack(raw, &header.info, header.message, sizeof header.message);
    }
    if (header.rc == NJ_RAW_OK && header.info.sensor == NJ_SENSOR_BAYER) {
        size_t count = (size_t)header.info.width * (size_t)header.info.height;
        pixels = malloc(count * sizeof(uint16_t));
        if (!pixels) {
            header.rc = NJ_RAW_ERR_NO_MEMORY;
            set_message(header.message, sizeof header.message, "out of memory");
        } else {
            header.rc = nj_raw_copy_visible(raw, pixels, count, header.message,
                                            sizeof header.message);
            if (header.rc == NJ_RAW_OK) header.count = count;
        }
    }
    int failed = write_all(fd, &header, sizeof header);
    if (!failed && header.count > 0) {
        failed = write_all(fd, pixels, header.count * sizeof(uint16_t));
    }
    /* No cleanup needed: the process ends here (and _exit skips the parent's atexit/stdio). */
    _exit(failed ? 1 : 0);
}

int nj_raw_decode_isolated(const char *path, long long max_pixels, double timeout_seconds,
                           nj_raw_info *info, uint16_t **pixels, char *message,
                           size_t message_size) {
    *pixels = NULL;
    memset(info, 0, sizeof *info);
    for (int i = 0; i < 4; i++) info->cfa[i] = -1;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(message, message_size, "cannot create a pipe: %s", strerror(errno));
        return NJ_RAW_ERR_SYSTEM;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(message, message_size, "cannot start the decoder process: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return NJ_RAW_ERR_SYSTEM;
    }
    if (pid == 0) {
        close(fds[0]);
        run_child(fds[1], path, max_pixels);
    }
    close(fds[1]);

    double deadline = timeout_seconds > 0 ? now_seconds() + timeout_seconds : 0;
    child_header header;
    int status_read = read_all(fds[0], &header, sizeof header, deadline);
    int rc = NJ_RAW_OK;
    uint16_t *buffer = NULL;
    if (status_read == 0) {
        header.message[sizeof header.message - 1] = 0;
        *info = header.info;
        rc = header.rc;
        set_message(message, message_size, header.message);
        if (rc == NJ_RAW_OK && header.count > 0) {
            uint64_t expected = (uint64_t)(uint32_t)info->width * (uint64_t)(uint32_t)info->height;
            if (header.count != expected ||
                (max_pixels > 0 && header.count > (uint64_t)max_pixels)) {
                rc = NJ_RAW_ERR_SYSTEM;
                set_message(message, message_size, "the decoder process sent an inconsistent image");
            } else if (!(buffer = malloc(header.count * sizeof(uint16_t)))) {
                rc = NJ_RAW_ERR_NO_MEMORY;
                set_message(message, message_size, "out of memory");
            } else {
                status_read = read_all(fds[0], buffer, header.count * sizeof(uint16_t), deadline);
            }
        }
    }
    if (status_read == 2) kill(pid, SIGKILL);
    close(fds[0]);

    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);

    if (status_read != 0) {
        free(buffer);
        buffer = NULL;
        if (status_read == 2) {
            snprintf(message, message_size,
                     "decoding took longer than %.0f s; the file is damaged or unsupported",
                     timeout_seconds);
            return NJ_RAW_ERR_TIMEOUT;
        }
        if (waited == pid && WIFSIGNALED(status)) {
            snprintf(message, message_size,
                     "LibRaw crashed on this file (signal %d); it is damaged or unsupported",
                     WTERMSIG(status));
            return NJ_RAW_ERR_CRASHED;
        }
        set_message(message, message_size, "the decoder process ended without a result");
        return NJ_RAW_ERR_CRASHED;
    }
    if (rc == NJ_RAW_OK && info->sensor == NJ_SENSOR_BAYER && !buffer) {
        set_message(message, message_size, "the decoder process sent no pixels");
        return NJ_RAW_ERR_SYSTEM;
    }
    *pixels = buffer;
    return rc;
}

void nj_raw_free(uint16_t *pixels) { free(pixels); }
