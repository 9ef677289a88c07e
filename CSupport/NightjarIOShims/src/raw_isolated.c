/* LibRaw in a child process. LibRaw 0.20 crashes on some damaged headers (seen: a NULL
 * dereference in parse_tiff_ifd on a file with a few flipped bytes), which no check in the
 * caller can rule out, so the parent never calls LibRaw itself: it forks, the child decodes
 * and streams the result through a pipe, and the parent reports a crash, a hang or a result. */
#define _GNU_SOURCE
#include "nightjar_io_shims.h"
#include "isolation.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
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

int nj_write_all(int fd, const void *data, size_t size) {
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

double nj_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads exactly `size` bytes before `deadline` (<= 0: none). Returns 0, 1 on EOF or error,
 * 2 on timeout. */
int nj_read_all(int fd, void *data, size_t size, double deadline) {
    char *p = data;
    while (size > 0) {
        int wait_ms = -1;
        if (deadline > 0) {
            double left = deadline - nj_now_seconds();
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

void nj_child_die_quietly(void) {
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
}

int nj_child_start(nj_raw_child *child, double timeout_seconds,
                   void (*run)(int fd, const nj_child_job *job), const nj_child_job *job,
                   const char *what, char *message, size_t message_size) {
    memset(child, 0, sizeof *child);
    child->timeout_seconds = timeout_seconds;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(message, message_size, "cannot create a pipe: %s", strerror(errno));
        return NJ_RAW_ERR_SYSTEM;
    }
    /* A 12 MP frame is 24 MB through this pipe: with the default 64 KiB the two processes took
     * turns about 400 times, and the rows took 40 ms to arrive (median of 8, Zen 4); with
     * 256 KiB, 30 ms (1 MiB gained nothing more). The buffer is kernel memory while the child
     * lives. Where the system refuses (pipe-max-size), the default stays. */
    (void)fcntl(fds[1], F_SETPIPE_SZ, 256 * 1024);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(message, message_size, "cannot start the %s process: %s", what, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return NJ_RAW_ERR_SYSTEM;
    }
    if (pid == 0) {
        close(fds[0]);
        run(fds[1], job);
        _exit(1); /* `run` does not return */
    }
    close(fds[1]);
    child->pid = pid;
    child->fd = fds[0];
    child->active = 1;
    child->deadline = timeout_seconds > 0 ? nj_now_seconds() + timeout_seconds : 0;
    return NJ_RAW_OK;
}

/* The child: decode and stream. Never returns. */
static void run_child(int fd, const nj_child_job *job) {
    const char *path = job->path;
    long long max_pixels = job->max_pixels;
    nj_child_die_quietly();
    child_header header;
    memset(&header, 0, sizeof header);
    nj_raw *raw = NULL;
    header.rc = nj_raw_open(path, max_pixels, &raw, &header.info, header.message,
                            sizeof header.message);
    if (header.rc == NJ_RAW_OK) {
        header.rc = nj_raw_unpack(raw, &header.info, header.message, sizeof header.message);
    }
    const uint16_t *first = NULL;
    size_t pitch = 0;
    if (header.rc == NJ_RAW_OK && header.info.sensor == NJ_SENSOR_BAYER) {
        header.rc = nj_raw_visible_area(raw, &first, &pitch, header.message, sizeof header.message);
        if (header.rc == NJ_RAW_OK) header.count = (uint64_t)header.info.width * header.info.height;
    }
    int failed = nj_write_all(fd, &header, sizeof header);
    /* Rows go straight from LibRaw's buffer into the pipe: no second copy of the frame. A
     * caller that keeps the frame only in 8-bit codes reads it twice (once for its histogram). */
    int passes = job->passes > 1 ? job->passes : 1;
    for (int pass = 0; pass < passes; pass++) {
        for (uint32_t row = 0; !failed && header.count > 0 && row < (uint32_t)header.info.height; row++) {
            failed = nj_write_all(fd, first + row * pitch, (size_t)header.info.width * sizeof(uint16_t));
        }
    }
    /* No cleanup needed: the process ends here (and _exit skips the parent's atexit/stdio). */
    _exit(failed ? 1 : 0);
}

/* Waits for the child and turns a read failure into the right error. */
int nj_child_reap(nj_raw_child *child, int status_read, char *message, size_t message_size) {
    child->active = 0;
    if (status_read == 2) kill(child->pid, SIGKILL);
    close(child->fd);
    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(child->pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (status_read == 0) return NJ_RAW_OK;
    if (status_read == 2) {
        snprintf(message, message_size,
                 "decoding took longer than %.0f s; the file is damaged or unsupported",
                 child->timeout_seconds);
        return NJ_RAW_ERR_TIMEOUT;
    }
    if (waited == child->pid && WIFSIGNALED(status)) {
        snprintf(message, message_size,
                 "LibRaw crashed on this file (signal %d); it is damaged or unsupported",
                 WTERMSIG(status));
        return NJ_RAW_ERR_CRASHED;
    }
    set_message(message, message_size, "the decoder process ended without a result");
    return NJ_RAW_ERR_CRASHED;
}

int nj_raw_isolated_start(const char *path, long long max_pixels, double timeout_seconds,
                          nj_raw_child *child, char *message, size_t message_size) {
    return nj_raw_isolated_start_passes(path, max_pixels, timeout_seconds, 1, child, message,
                                        message_size);
}

int nj_raw_isolated_start_passes(const char *path, long long max_pixels, double timeout_seconds,
                                 int passes, nj_raw_child *child, char *message,
                                 size_t message_size) {
    if (passes < 1) passes = 1;
    nj_child_job job = {path, max_pixels, passes};
    int started = nj_child_start(child, timeout_seconds, run_child, &job, "decoder", message, message_size);
    if (started != NJ_RAW_OK) return started;
    child->max_pixels = max_pixels;
    child->passes = passes;
    /* Armed at the first wait instead (arm_deadline): a decoder started ahead of its frame
     * must not run out of time while the current frame is still in the network. */
    child->deadline = 0;
    return NJ_RAW_OK;
}

/* The time limit runs from when the caller first waits: a child started ahead may sit
 * finished for a whole frame before anyone reads it. */
static void arm_deadline(nj_raw_child *child) {
    if (child->deadline == 0 && child->timeout_seconds > 0) {
        child->deadline = nj_now_seconds() + child->timeout_seconds;
    }
}

int nj_raw_isolated_wait(nj_raw_child *child, double seconds) {
    if (!child || !child->active) return 1;
    arm_deadline(child);
    double wait = seconds;
    if (child->deadline > 0) {
        double left = child->deadline - nj_now_seconds();
        if (left <= 0) return 2;
        if (left < wait) wait = left;
    }
    struct pollfd pfd = {.fd = child->fd, .events = POLLIN};
    int ready = poll(&pfd, 1, (int)(wait * 1000) + 1);
    if (ready > 0) return 1;
    if (child->deadline > 0 && nj_now_seconds() >= child->deadline) return 2;
    return 0;
}

int nj_raw_isolated_header(nj_raw_child *child, nj_raw_info *info, char *message,
                           size_t message_size) {
    memset(info, 0, sizeof *info);
    for (int i = 0; i < 4; i++) info->cfa[i] = -1;
    if (!child || !child->active) {
        set_message(message, message_size, "no decoder process");
        return NJ_RAW_ERR_USAGE;
    }
    arm_deadline(child);
    long long max_pixels = child->max_pixels;
    child_header header;
    int status_read = nj_read_all(child->fd, &header, sizeof header, child->deadline);
    int rc = NJ_RAW_OK;
    if (status_read == 0) {
        header.message[sizeof header.message - 1] = 0;
        *info = header.info;
        rc = header.rc;
        set_message(message, message_size, header.message);
        uint64_t expected = (uint64_t)(uint32_t)info->width * (uint64_t)(uint32_t)info->height;
        if (rc == NJ_RAW_OK && info->sensor == NJ_SENSOR_BAYER &&
            (header.count == 0 || header.count != expected ||
             (max_pixels > 0 && header.count > (uint64_t)max_pixels))) {
            rc = NJ_RAW_ERR_SYSTEM;
            set_message(message, message_size, "the decoder process sent an inconsistent image");
        }
        child->count = rc == NJ_RAW_OK ? header.count : 0;
        child->remaining = child->count * (uint64_t)(child->passes > 1 ? child->passes : 1);
    }
    if (status_read != 0 || rc != NJ_RAW_OK || child->count == 0) {
        /* Nothing more to read: end the child now. */
        if (status_read == 0) kill(child->pid, SIGKILL);
        int reaped = nj_child_reap(child, status_read, message, message_size);
        return status_read != 0 ? reaped : rc;
    }
    return NJ_RAW_OK;
}

int nj_raw_isolated_begin(const char *path, long long max_pixels, double timeout_seconds,
                          nj_raw_info *info, nj_raw_child *child, char *message,
                          size_t message_size) {
    memset(info, 0, sizeof *info);
    for (int i = 0; i < 4; i++) info->cfa[i] = -1;
    int rc = nj_raw_isolated_start(path, max_pixels, timeout_seconds, child, message, message_size);
    if (rc != NJ_RAW_OK) return rc;
    return nj_raw_isolated_header(child, info, message, message_size);
}

int nj_raw_isolated_finish(nj_raw_child *child, uint16_t *pixels, size_t count, char *message,
                           size_t message_size) {
    if (!child || !child->active) {
        set_message(message, message_size, "no decoder process");
        return NJ_RAW_ERR_USAGE;
    }
    int status_read = 1;
    if (count == child->count) {
        status_read = nj_read_all(child->fd, pixels, count * sizeof(uint16_t), child->deadline);
    } else {
        kill(child->pid, SIGKILL);
    }
    int rc = nj_child_reap(child, status_read, message, message_size);
    return count == 0 || rc != NJ_RAW_OK ? (rc != NJ_RAW_OK ? rc : NJ_RAW_ERR_USAGE) : NJ_RAW_OK;
}

int nj_raw_isolated_read(nj_raw_child *child, uint16_t *pixels, size_t count, char *message,
                         size_t message_size) {
    if (!child || !child->active || count == 0 || count > child->remaining) {
        set_message(message, message_size, "no pixels left to read from the decoder process");
        return NJ_RAW_ERR_USAGE;
    }
    int status_read = nj_read_all(child->fd, pixels, count * sizeof(uint16_t), child->deadline);
    if (status_read != 0) return nj_child_reap(child, status_read, message, message_size);
    child->remaining -= count;
    if (child->remaining == 0) return nj_child_reap(child, 0, message, message_size);
    return NJ_RAW_OK;
}

void nj_raw_isolated_cancel(nj_raw_child *child) {
    if (!child || !child->active) return;
    kill(child->pid, SIGKILL);
    char ignored[8];
    nj_child_reap(child, 1, ignored, sizeof ignored);
}
