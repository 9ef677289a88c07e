/* LibRaw in a child process. LibRaw 0.20 crashes on some damaged headers (seen: a NULL
 * dereference in parse_tiff_ifd on a file with a few flipped bytes), which no check in the
 * caller can rule out, so the parent never calls LibRaw itself: it forks, the child decodes
 * and streams the result (a header through a pipe, the pixels through memory shared with the
 * parent), and the parent reports a crash, a hang or a result. */
#define _GNU_SOURCE
#include "nightjar_io_shims.h"
#include "isolation.h"
#include "raw_extent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int32_t rc;
    nj_raw_info info;
    char message[512];
    uint64_t count; /* pixels that follow */
    /* Set: no pixels follow; the parent reads them from its descriptor of the file, rows of
     * `count / info.width` pixels from `plain_first`, `plain_stride` bytes apart. */
    int32_t plain, plain_swap;
    long long plain_first, plain_stride;
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

/* The bulk data's way from the child: through the pipe, 24 MB of a 12 MP mosaic took 11 ms to
 * arrive (256 KiB pipe, Zen 5: each turn of the pipe wakes the other process, copies twice and
 * contends for the pipe's lock); through four 256 KiB slots of shared memory, 4.5 ms (four of
 * 1 MiB: 6). The child copies the rows into a slot, announces it with 4 bytes through the pipe
 * (so a crash still reads as the pipe's end, and a hang as its time limit), and the parent
 * copies them out and hands the slot back with 1 byte through a socket (a socket: sending to a
 * child that died fails instead of raising SIGPIPE). Where the mapping or the socket cannot be
 * made, the bytes go through the pipe. */
enum { RING_SLOTS = 4, RING_SLOT_BYTES = 256 * 1024 };

static void close_ring(nj_raw_child *child) {
    if (child->ring) munmap(child->ring, (size_t)child->slots * child->slot_bytes);
    if (child->back_fd >= 0) close(child->back_fd);
    child->ring = NULL;
    child->back_fd = -1;
}

int nj_child_start(nj_raw_child *child, double timeout_seconds,
                   void (*run)(nj_child_sender *out, const nj_child_job *job), const nj_child_job *job,
                   const char *what, char *message, size_t message_size) {
    memset(child, 0, sizeof *child);
    child->back_fd = -1;
    child->file_fd = -1;
    child->timeout_seconds = timeout_seconds;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(message, message_size, "cannot create a pipe: %s", strerror(errno));
        return NJ_RAW_ERR_SYSTEM;
    }
    /* With the bytes going through the pipe: with the default 64 KiB the two processes took
     * turns about 400 times for a 12 MP frame, and the rows took 40 ms to arrive (median of 8,
     * Zen 4); with 256 KiB, 30 ms (1 MiB gained nothing more). The buffer is kernel memory
     * while the child lives. Where the system refuses (pipe-max-size), the default stays. */
    (void)fcntl(fds[1], F_SETPIPE_SZ, 256 * 1024);
    int back[2] = {-1, -1};
    size_t ring_bytes = (size_t)RING_SLOTS * RING_SLOT_BYTES;
    /* NIGHTJAR_DECODER_TRANSFER=pipe takes the fallback on purpose (its tests; a system whose
     * shared memory misbehaves). */
    const char *transfer = getenv("NIGHTJAR_DECODER_TRANSFER");
    void *ring = transfer && strcmp(transfer, "pipe") == 0
                     ? MAP_FAILED
                     : mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ring != MAP_FAILED && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, back) == 0) {
        child->ring = ring;
        child->slots = RING_SLOTS;
        child->slot_bytes = RING_SLOT_BYTES;
        child->back_fd = back[0];
    } else if (ring != MAP_FAILED) {
        munmap(ring, ring_bytes);
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(message, message_size, "cannot start the %s process: %s", what, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        if (back[1] >= 0) close(back[1]);
        close_ring(child);
        return NJ_RAW_ERR_SYSTEM;
    }
    if (pid == 0) {
        close(fds[0]);
        if (child->back_fd >= 0) close(child->back_fd);
        nj_child_sender out = {.fd = fds[1], .ring = child->ring, .slot_bytes = child->slot_bytes,
                               .slots = child->slots, .free_slots = child->slots, .back_fd = back[1]};
        run(&out, job);
        _exit(1); /* `run` does not return */
    }
    close(fds[1]);
    if (back[1] >= 0) close(back[1]);
    child->pid = pid;
    child->fd = fds[0];
    child->active = 1;
    child->deadline = timeout_seconds > 0 ? nj_now_seconds() + timeout_seconds : 0;
    return NJ_RAW_OK;
}

/* In the child: announces the slot being filled and moves on to the next. */
static int send_slot(nj_child_sender *out) {
    uint32_t bytes = (uint32_t)out->fill;
    if (nj_write_all(out->fd, &bytes, sizeof bytes) != 0) return -1;
    out->slot = (out->slot + 1) % out->slots;
    out->fill = 0;
    return 0;
}

/* In the child: where the next bytes go in the slot being filled, and `*room` bytes fit there;
 * a new slot is taken once the parent has emptied one. NULL when the parent is gone. */
static unsigned char *slot_room(nj_child_sender *out, size_t *room) {
    if (out->fill == 0) {
        while (out->free_slots == 0) {
            char freed;
            ssize_t n = read(out->back_fd, &freed, 1);
            if (n == 1) out->free_slots++;
            else if (n == 0 || errno != EINTR) return NULL;
        }
        out->free_slots--;
    }
    *room = out->slot_bytes - out->fill;
    return out->ring + (size_t)out->slot * out->slot_bytes + out->fill;
}

/* In the child: `bytes` were put at slot_room's place; a full slot is announced. */
static int slot_filled(nj_child_sender *out, size_t bytes) {
    out->fill += bytes;
    return out->fill == out->slot_bytes ? send_slot(out) : 0;
}

int nj_child_send(nj_child_sender *out, const void *data, size_t size) {
    if (!out->ring) return nj_write_all(out->fd, data, size);
    const unsigned char *p = data;
    while (size > 0) {
        size_t room;
        unsigned char *target = slot_room(out, &room);
        if (!target) return -1;
        size_t take = size < room ? size : room;
        memcpy(target, p, take);
        p += take;
        size -= take;
        if (slot_filled(out, take) != 0) return -1;
    }
    return 0;
}

int nj_child_send_end(nj_child_sender *out) {
    return out->ring && out->fill > 0 ? send_slot(out) : 0;
}

int nj_child_receive(nj_raw_child *child, void *data, size_t size) {
    if (!child->ring) return nj_read_all(child->fd, data, size, child->deadline);
    unsigned char *p = data;
    while (size > 0) {
        if (child->slot_left == 0) {
            uint32_t bytes;
            int status = nj_read_all(child->fd, &bytes, sizeof bytes, child->deadline);
            if (status != 0) return status;
            if (bytes == 0 || bytes > child->slot_bytes) return 1;
            child->slot_filled = child->slot_left = bytes;
        }
        size_t take = size < child->slot_left ? size : child->slot_left;
        size_t offset = child->slot_filled - child->slot_left;
        memcpy(p, child->ring + (size_t)child->slot * child->slot_bytes + offset, take);
        p += take;
        size -= take;
        child->slot_left -= take;
        if (child->slot_left == 0) {
            const char freed = 1;
            /* A child that died cannot take it back; its end of the pipe says so next. */
            (void)send(child->back_fd, &freed, 1, MSG_NOSIGNAL);
            child->slot = (child->slot + 1) % child->slots;
        }
    }
    return 0;
}

/* nj_child_send for `size` bytes of 16-bit samples read from `fd` at `offset`: into the slot
 * itself, with no copy between (or through a buffer into the pipe), byte-swapped with `swap`. */
static int send_file_samples(nj_child_sender *out, int fd, long long offset, size_t size, int swap) {
    /* Only without the slots; small, as the child runs on whichever thread forked it. */
    unsigned char buffer[16 * 1024];
    while (size > 0) {
        unsigned char *target = buffer;
        size_t room = sizeof buffer;
        if (out->ring && !(target = slot_room(out, &room))) return -1;
        size_t take = (size < room ? size : room) & ~(size_t)1;
        if (take == 0) return -1; /* an odd slot or size: not samples */
        ssize_t n = pread(fd, target, take, (off_t)offset);
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)take) return -1; /* the file shrank since LibRaw measured it */
        if (swap) {
            for (size_t i = 0; i < take; i += 2) {
                unsigned char high = target[i];
                target[i] = target[i + 1];
                target[i + 1] = high;
            }
        }
        offset += (long long)take;
        size -= take;
        if (out->ring ? slot_filled(out, take) != 0 : nj_write_all(out->fd, buffer, take) != 0) return -1;
    }
    return 0;
}

/* Whether `fd` is the file now at `path`, `size` bytes long (what LibRaw opened). */
static int is_the_file(int fd, const char *path, long long size) {
    struct stat opened, named;
    return fd >= 0 && fstat(fd, &opened) == 0 && stat(path, &named) == 0 && opened.st_dev == named.st_dev &&
           opened.st_ino == named.st_ino && (long long)opened.st_size == size;
}

/* The child: decode and stream. Never returns. */
static void run_child(nj_child_sender *out, const nj_child_job *job) {
    const char *path = job->path;
    long long max_pixels = job->max_pixels;
    nj_child_die_quietly();
    child_header header;
    memset(&header, 0, sizeof header);
    nj_raw *raw = NULL;
    /* Unpacking a 12 MP DNG of plain 16-bit samples took LibRaw 25 ms (Zen 5), copying them one
     * at a time; they are read from the file instead wherever LibRaw would copy them unchanged
     * (nj_raw_samples_are_plain), through a descriptor opened before LibRaw opened the path and
     * used only if it is the same file. */
    int fd = job->file_fd >= 0 ? job->file_fd : open(path, O_RDONLY | O_CLOEXEC);
    header.rc = nj_raw_open(path, max_pixels, &raw, &header.info, header.message,
                            sizeof header.message);
    nj_raw_file_rows plain = {0};
    if (header.rc == NJ_RAW_OK && is_the_file(fd, path, header.info.file_size)) {
        header.rc = nj_raw_plain_rows(raw, &header.info, &plain, header.message, sizeof header.message);
    }
    if (header.rc == NJ_RAW_OK && !plain.plain) {
        header.rc = nj_raw_unpack(raw, &header.info, header.message, sizeof header.message);
    }
    const uint16_t *first = NULL;
    size_t pitch = 0;
    if (header.rc == NJ_RAW_OK && header.info.sensor == NJ_SENSOR_BAYER) {
        if (!plain.plain) {
            header.rc = nj_raw_visible_area(raw, &first, &pitch, header.message, sizeof header.message);
        }
        if (header.rc == NJ_RAW_OK) header.count = (uint64_t)header.info.width * header.info.height;
    }
    /* The parent has the same file open: it reads plain samples itself. */
    if (header.rc == NJ_RAW_OK && header.count > 0 && plain.plain && job->file_fd >= 0) {
        header.plain = 1;
        header.plain_swap = plain.swap;
        header.plain_first = plain.first;
        header.plain_stride = plain.stride;
        _exit(nj_write_all(out->fd, &header, sizeof header) != 0 ? 1 : 0);
    }
    int failed = nj_write_all(out->fd, &header, sizeof header);
    /* Rows go straight from LibRaw's buffer (or the file) into the slots. A caller that keeps
     * the frame only in 8-bit codes reads it twice (once for its histogram). */
    int passes = job->passes > 1 ? job->passes : 1;
    size_t row_bytes = (size_t)header.info.width * sizeof(uint16_t);
    for (int pass = 0; pass < passes; pass++) {
        if (plain.plain && plain.stride == (long long)row_bytes && header.count > 0) {
            /* Rows back to back in the file: one read per slot, not one per row (the parent's
             * wait for a 12.1 MP frame's samples went from 5.0 to 3.9 ms, Zen 5). */
            if (!failed) failed = send_file_samples(out, fd, plain.first, row_bytes * header.info.height, plain.swap);
            continue;
        }
        for (uint32_t row = 0; !failed && header.count > 0 && row < (uint32_t)header.info.height; row++) {
            failed = plain.plain ? send_file_samples(out, fd, plain.first + (long long)row * plain.stride, row_bytes, plain.swap)
                                 : nj_child_send(out, first + row * pitch, row_bytes);
        }
    }
    if (!failed) failed = nj_child_send_end(out);
    /* No cleanup needed: the process ends here (and _exit skips the parent's atexit/stdio). */
    _exit(failed ? 1 : 0);
}

/* Waits for the child and turns a read failure into the right error. */
int nj_child_reap(nj_raw_child *child, int status_read, char *message, size_t message_size) {
    child->active = 0;
    if (status_read == 2) kill(child->pid, SIGKILL);
    close(child->fd);
    close_ring(child);
    if (child->file_fd >= 0) close(child->file_fd);
    child->file_fd = -1;
    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(child->pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (status_read == 0) return NJ_RAW_OK;
    if (status_read == 3) {
        set_message(message, message_size, "the file changed or was cut short while its samples were read");
        return NJ_RAW_ERR_CORRUPT;
    }
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
    /* Opened here, before the fork, so that the child can check that it is the file LibRaw
     * reads; where it cannot be opened, the child opens the path itself and sends the pixels. */
    int file_fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat opened;
    if (file_fd >= 0 && (fstat(file_fd, &opened) != 0 || !S_ISREG(opened.st_mode))) {
        close(file_fd);
        file_fd = -1;
    }
    nj_child_job job = {path, max_pixels, passes, file_fd};
    int started = nj_child_start(child, timeout_seconds, run_child, &job, "decoder", message, message_size);
    if (started != NJ_RAW_OK) {
        if (file_fd >= 0) close(file_fd);
        return started;
    }
    child->file_fd = file_fd;
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

/* Whether the rows a child says lie in the file do lie inside the file the parent holds. */
static int plain_layout_fits(const nj_raw_child *child, const child_header *header) {
    struct stat held;
    const long long width = (uint32_t)header->info.width, height = (uint32_t)header->info.height;
    const long long row_bytes = width * 2;
    if (child->file_fd < 0 || fstat(child->file_fd, &held) != 0) return 0;
    if (width <= 0 || height <= 0 || header->plain_first < 0 || header->plain_stride < row_bytes) return 0;
    /* Within the file, without overflow (sizes far below 2^62 once these pass). */
    if (height > (1LL << 31) || header->plain_stride > (1LL << 40)) return 0;
    const long long end = header->plain_first + (height - 1) * header->plain_stride + row_bytes;
    return end <= (long long)held.st_size && (long long)held.st_size == header->info.file_size;
}

/* The next `count` pixels of a plain file, row after row and pass after pass, read from the
 * file straight into `pixels`. Returns 0, or 1 when the file ended early. */
static int read_plain(nj_raw_child *child, uint16_t *pixels, size_t count) {
    const uint64_t width = child->plain_width, pass = child->count;
    const int contiguous = child->plain_stride == (long long)(width * 2);
    while (count > 0) {
        const uint64_t p = child->plain_read % pass, row = p / width, column = p % width;
        uint64_t take = contiguous ? pass - p : width - column;
        if (take > count) take = count;
        off_t offset = (off_t)(child->plain_first + (long long)row * child->plain_stride + (long long)column * 2);
        unsigned char *to = (unsigned char *)pixels;
        size_t bytes = (size_t)take * 2;
        while (bytes > 0) {
            ssize_t n = pread(child->file_fd, to, bytes, offset);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return 1;
            to += n;
            offset += n;
            bytes -= (size_t)n;
        }
        if (child->plain_swap) {
            for (uint64_t i = 0; i < take; i++) pixels[i] = (uint16_t)(pixels[i] << 8 | pixels[i] >> 8);
        }
        pixels += take;
        count -= (size_t)take;
        child->plain_read += take;
    }
    return 0;
}

/* `count` pixels for `read` or `finish`: from the file (a plain one; 3 when it was cut
 * short), else from the child. */
static int receive_pixels(nj_raw_child *child, uint16_t *pixels, size_t count) {
    if (!child->plain) return nj_child_receive(child, pixels, count * sizeof(uint16_t));
    return read_plain(child, pixels, count) == 0 ? 0 : 3;
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
        if (rc == NJ_RAW_OK && header.plain && !plain_layout_fits(child, &header)) {
            rc = NJ_RAW_ERR_SYSTEM;
            set_message(message, message_size, "the decoder process sent an inconsistent image");
        }
        child->count = rc == NJ_RAW_OK ? header.count : 0;
        child->remaining = child->count * (uint64_t)(child->passes > 1 ? child->passes : 1);
        if (rc == NJ_RAW_OK && header.plain) {
            child->plain = 1;
            child->plain_swap = header.plain_swap;
            child->plain_first = header.plain_first;
            child->plain_stride = header.plain_stride;
            child->plain_width = (uint32_t)info->width;
            child->plain_read = 0;
        }
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
        status_read = receive_pixels(child, pixels, count);
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
    int status_read = receive_pixels(child, pixels, count);
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
