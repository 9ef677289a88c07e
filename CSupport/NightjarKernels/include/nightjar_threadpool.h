// A fixed set of worker threads that run one parallel task at a time. Created once; running a
// task allocates nothing and takes no lock while workers are awake (they spin briefly between
// tasks, then sleep until the next one).
#ifndef NIGHTJAR_THREADPOOL_H
#define NIGHTJAR_THREADPOOL_H

#include "nightjar_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nj_threadpool nj_threadpool;

// Every task, range and convolution below runs with subnormals flushed to zero (MXCSR FTZ|DAZ
// on x86, FPCR.FZ on AArch64): workers for their life, the calling thread during the call
// (its own floating-point mode is restored before the call returns).

// task(context, index, count) runs once for each index in [0, count), each on its own thread.
typedef void (*nj_parallel_task)(void *context, int32_t index, int32_t count);

// A pool of `threads` threads in all, the caller included (threads - 1 are started).
// Returns NULL if a thread cannot be started.
nj_threadpool *nj_threadpool_create(int32_t threads);
void nj_threadpool_destroy(nj_threadpool *pool);
int32_t nj_threadpool_size(const nj_threadpool *pool);

// Runs the task on every thread of the pool and returns when all are done.
void nj_threadpool_run(nj_threadpool *pool, nj_parallel_task task, void *context);

// task(context, begin, end) over [0, count) cut into one contiguous range per thread (for the
// cheap steps between convolutions: copies, shuffles, row fills). Ranges are disjoint.
typedef void (*nj_range_task)(void *context, int32_t begin, int32_t end);
void nj_threadpool_parallel_for(nj_threadpool *pool, int32_t count, nj_range_task task,
                                void *context);
// The same with a fixed split: the pool's thread i (the caller is 0) takes
// [count·i / n, count·(i + 1) / n) of n threads, the same range at every call with the same
// count, so that rows one call writes are in that thread's cache at the next (for steps that
// pass data along a row strip by strip, like the colour stage's rounds). No balancing: a thread
// the scheduler takes away delays its whole share.
void nj_threadpool_parallel_for_fixed(nj_threadpool *pool, int32_t count, nj_range_task task,
                                      void *context);

// Work behind the caller's back: nj_threadpool_post starts task(context, begin, end) over
// [0, count) on the pool's workers only (one contiguous range per worker; the caller is not
// one of them) and returns at once, so that the caller can do something else meanwhile (read
// the next rows of a file while the workers take the last ones); nj_threadpool_join then waits
// for them. Between the two the caller must not use the pool. `job` is the caller's and must
// live until the join. A pool of one thread (or none) has no workers: post runs the whole
// range on the caller before it returns, and join does nothing.
typedef struct nj_posted_range {
    nj_range_task task;
    void *context;
    int32_t count;
    int32_t posted;  // whether workers run it (join waits)
} nj_posted_range;
void nj_threadpool_post(nj_threadpool *pool, nj_posted_range *job, int32_t count, nj_range_task task,
                        void *context);
void nj_threadpool_join(nj_threadpool *pool, nj_posted_range *job);

// How long one cache line takes to go from the pool's first thread (the caller) to its second
// and back, in nanoseconds: one run of `rounds` hand-offs, each thread spinning on the line
// for the other's write (0 when the pool has one thread; callers take a median of runs). Every task and
// every row one thread writes and the other reads pays this latency, so `nightjar bench`
// reports it beside its times: on a virtual machine it says where the host placed the two
// threads (a Zen 5 guest: about 40 ns on cores of one core complex, 340-550 ns on two).
double nj_threadpool_round_trip_ns(nj_threadpool *pool, int32_t rounds);

// The level-2 cache per core that the convolution split assumes (bytes; 0 when the system does
// not say): read once when the pool is created, from sysfs (a shared L2 divided among the CPUs
// that share it), else from sysconf.
int64_t nj_threadpool_l2_bytes(const nj_threadpool *pool);

// The split's rule: 1 for bands of output rows, 0 for blocks of output channels. Rows when every
// thread gets two rows or more, or when there are too few output channels to go round; with one
// row per thread too when a channel block's input band (band_input_bytes: the input rows one
// band reads, its group's channels) is larger than the L2, which every channel block would
// then read again from the next level (l2_bytes 0: unknown, channels).
int32_t nj_conv_split_by_rows(int32_t rows, int32_t threads, int32_t out_channels,
                              int64_t band_input_bytes, int64_t l2_bytes);

// Runs a convolution split across the pool's threads: by bands of output rows when there are
// enough rows (nj_conv_split_by_rows), else by blocks of output channels (whole groups). Every output value is
// computed the same way whatever the split, so results do not depend on the thread count.
// `args` holds weights in `kernel`'s layout. pool may be NULL (runs on the caller alone).
void nj_threadpool_conv2d_f32(nj_threadpool *pool, const nj_conv2d_f32_kernel *kernel,
                              const nj_conv2d_f32_args *args);

// The same for the f16 family (the same split: one implementation for every datatype).
void nj_threadpool_conv2d_f16(nj_threadpool *pool, const nj_conv2d_f16_kernel *kernel,
                              const nj_conv2d_f16_args *args);

// The same for the qs8 family (`args` prepared for `kernel` by nj_qs8_conv2d_prepare).
void nj_threadpool_conv2d_qs8(nj_threadpool *pool, const nj_conv2d_qs8_kernel *kernel,
                              const nj_conv2d_qs8_args *args);

#ifdef __cplusplus
}
#endif

#endif
