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
    int passes; /* the decoder: times the pixels are sent (0 or 1: once) */
} nj_child_job;
int nj_child_start(nj_raw_child *child, double timeout_seconds,
                   void (*run)(int fd, const nj_child_job *job), const nj_child_job *job,
                   const char *what, char *message, size_t message_size);
/* Ends and waits for the child; turns the last read's status into an NJ_RAW_ERR_* code. */
int nj_child_reap(nj_raw_child *child, int status_read, char *message, size_t message_size);

#endif
