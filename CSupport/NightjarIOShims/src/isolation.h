/* Helpers shared by the shims that run LibRaw in a child process (raw_isolated.c,
 * raw_render.c); not part of the public header. */
#ifndef NIGHTJAR_ISOLATION_H
#define NIGHTJAR_ISOLATION_H

#include "nightjar_io_shims.h"

int nj_write_all(int fd, const void *data, size_t size);
double nj_now_seconds(void);
/* Reads exactly `size` bytes before `deadline` (<= 0: none). Returns 0, 1 on EOF or error,
 * 2 on timeout. */
int nj_read_all(int fd, void *data, size_t size, double deadline);
/* In the child, first: default crash signals, no core file, stdout/stderr to /dev/null. */
void nj_child_die_quietly(void);
/* Starts an isolated child: a pipe, fork; the child runs `run` with the pipe's write end
 * (`run` must end with _exit) and the parent fills `child` (pid, the read end, the deadline
 * timeout_seconds from now, <= 0: none). `what` names the child in a failure's message
 * ("decoder", "rendering"). Returns NJ_RAW_OK or NJ_RAW_ERR_SYSTEM. */
typedef struct {
    const char *path;
    long long max_pixels;
    int passes;  /* the decoder: times the pixels are sent (0 or 1: once) */
    int file_fd; /* the decoder: the file, opened by the parent before the fork (-1: none) */
} nj_child_job;
/* The child's end of the transport: a fixed-size header through the pipe (`fd`, nj_write_all),
 * then the bulk bytes through `nj_child_send` and a final `nj_child_send_end`. */
typedef struct {
    int fd;
    unsigned char *ring;  /* NULL: the bulk bytes go through the pipe too */
    size_t slot_bytes;
    int slots, free_slots, slot;
    size_t fill;          /* bytes in the slot being filled */
    int back_fd;          /* emptied slots come back through it */
} nj_child_sender;
int nj_child_send(nj_child_sender *out, const void *data, size_t size);
int nj_child_send_end(nj_child_sender *out);
int nj_child_start(nj_raw_child *child, double timeout_seconds,
                   void (*run)(nj_child_sender *out, const nj_child_job *job), const nj_child_job *job,
                   const char *what, char *message, size_t message_size);
/* The parent's end: the next `size` bulk bytes, before the child's deadline. Returns as
 * nj_read_all does (0, 1 on EOF, error or a malformed slot, 2 on timeout). */
int nj_child_receive(nj_raw_child *child, void *data, size_t size);
/* Ends and waits for the child; turns the last read's status (nj_read_all's, or 3: a plain
 * file read by the parent was cut short) into an NJ_RAW_ERR_* code. */
int nj_child_reap(nj_raw_child *child, int status_read, char *message, size_t message_size);

#endif
