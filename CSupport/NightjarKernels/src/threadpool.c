// Worker threads for the executor: one task at a time. A frame posts thousands of small tasks
// (a convolution on a band of a few rows takes 50-500 us), so waking sleeping threads through a
// condition variable for each (tens of microseconds) would cost a large share of the frame.
// Workers therefore spin on an atomic generation counter for a short while after each task,
// and the caller spins for the workers to finish; both then block on a condition variable.
// The spin is short because on a busy machine (more runnable threads than cores) a spinning
// thread burns the time slice the thread it waits for needs. An idle pool (a daemon between
// frames) sleeps and uses no CPU.
#define _GNU_SOURCE
#include "nightjar_threadpool.h"
#include "qs8-internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ volatile("yield" ::: "memory")
#else
#define CPU_RELAX() ((void)0)
#endif

// Flush-to-zero and denormals-are-zero while Nightjar computes (MXCSR FTZ|DAZ on x86, FPCR.FZ
// on AArch64). A subnormal operand or result costs a microcode assist of about a hundred
// cycles on Intel cores, and LeakyReLU's 0.2 slope, residual sums and deep 1/32-scale
// features of a black frame can produce them; flushed, a kernel's speed does not depend on
// the image. Values below 1.2e-38 become 0: nothing the network computes reaches the output
// differently (the golden conformance holds at 1e-4). Workers keep the mode for life; the
// calling thread gets it for the duration of each pool call and its own mode back afterwards,
// so the Swift code around it computes as before.
#if defined(__x86_64__)
typedef unsigned fp_mode;
static fp_mode fp_flush_enter(void) {
    const fp_mode old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
    return old;
}
static void fp_flush_leave(fp_mode old) { _mm_setcsr(old); }
#elif defined(__aarch64__)
typedef uint64_t fp_mode;
static fp_mode fp_flush_enter(void) {
    fp_mode old;
    __asm__ volatile("mrs %0, fpcr" : "=r"(old));
    __asm__ volatile("msr fpcr, %0" ::"r"(old | ((fp_mode)1 << 24)));  // FZ
    return old;
}
static void fp_flush_leave(fp_mode old) { __asm__ volatile("msr fpcr, %0" ::"r"(old)); }
#else
typedef int fp_mode;
static fp_mode fp_flush_enter(void) { return 0; }
static void fp_flush_leave(fp_mode old) { (void)old; }
#endif

// How long a waiting thread spins before it blocks: longer than most gaps between the tasks
// of one frame, far shorter than a scheduler time slice.
#define SPIN_NANOSECONDS 50000

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// Spins until done(state) or SPIN_NANOSECONDS pass; returns whether done.
static int spin_until(int (*done)(const nj_threadpool *, uint64_t), const nj_threadpool *pool,
                      uint64_t arg) {
    int64_t deadline = 0;
    for (int i = 0;; i++) {
        if (done(pool, arg)) return 1;
        if ((i & 63) == 63) {
            const int64_t now = monotonic_ns();
            if (deadline == 0) {
                deadline = now + SPIN_NANOSECONDS;
            } else if (now > deadline) {
                return 0;
            }
        }
        CPU_RELAX();
    }
}

struct nj_threadpool {
    pthread_mutex_t lock;
    pthread_cond_t posted;
    pthread_cond_t finished;
    nj_parallel_task task;
    void *context;
    _Atomic uint64_t generation;
    _Atomic int32_t pending;   // workers still running the current task
    // Guarded by `lock`: the decision to sleep and the decision to wake are both taken under
    // it, so no wake-up is lost whatever the memory model (seen: a lock-free version of this
    // hand-shake hung under qemu's AArch64 emulation).
    int32_t sleepers;          // workers in pthread_cond_wait on `posted`
    int32_t caller_sleeping;   // the caller in pthread_cond_wait on `finished`
    _Atomic int32_t stopping;
    int32_t size;
    int32_t started;
    pthread_t *threads;
    int64_t l2_bytes;          // per core, for the convolution split (0: unknown)
};

typedef struct worker_start {
    nj_threadpool *pool;
    int32_t index;
} worker_start;

static int task_posted(const nj_threadpool *pool, uint64_t seen) {
    return atomic_load_explicit(&pool->generation, memory_order_acquire) != seen ||
           atomic_load_explicit(&pool->stopping, memory_order_relaxed);
}

static int workers_done(const nj_threadpool *pool, uint64_t unused) {
    (void)unused;
    return atomic_load_explicit(&pool->pending, memory_order_acquire) == 0;
}

// Waits for a generation other than `seen` (or stopping): spins, then sleeps.
static uint64_t wait_for_task(nj_threadpool *pool, uint64_t seen) {
    if (spin_until(task_posted, pool, seen)) return atomic_load(&pool->generation);
    pthread_mutex_lock(&pool->lock);
    // A poster bumps the generation and then takes the lock to look at `sleepers`: either it
    // does so before this section (and the generation is seen changed here) or after (and it
    // broadcasts).
    pool->sleepers++;
    uint64_t g;
    while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stopping)) {
        pthread_cond_wait(&pool->posted, &pool->lock);
    }
    pool->sleepers--;
    pthread_mutex_unlock(&pool->lock);
    return g;
}

static void *worker_main(void *raw) {
    worker_start start = *(worker_start *)raw;
    free(raw);
    nj_threadpool *pool = start.pool;
    uint64_t seen = 0;
    (void)fp_flush_enter();  // for the thread's life
    for (;;) {
        seen = wait_for_task(pool, seen);
        if (atomic_load(&pool->stopping)) break;
        // The acquire load of the generation made task and context visible.
        pool->task(pool->context, start.index, pool->size);
        // The last worker wakes the caller if it stopped spinning; it looks under the lock, in
        // which the caller decides to sleep after looking at `pending`.
        if (atomic_fetch_sub(&pool->pending, 1) == 1) {
            pthread_mutex_lock(&pool->lock);
            if (pool->caller_sleeping) pthread_cond_signal(&pool->finished);
            pthread_mutex_unlock(&pool->lock);
        }
    }
    return NULL;
}

// "512K", "1M", "2048" -> bytes (0 if unreadable).
static int64_t parse_cache_size(const char *text) {
    char *end = NULL;
    const long long n = strtoll(text, &end, 10);
    if (end == text || n <= 0) return 0;
    if (*end == 'K' || *end == 'k') return (int64_t)n << 10;
    if (*end == 'M' || *end == 'm') return (int64_t)n << 20;
    return (int64_t)n;
}

// CPUs in a sysfs list such as "0-3,6".
static int32_t count_cpu_list(const char *text) {
    int32_t count = 0;
    const char *p = text;
    while (*p >= '0' && *p <= '9') {
        char *end = NULL;
        const long first = strtol(p, &end, 10);
        long last = first;
        if (*end == '-') last = strtol(end + 1, &end, 10);
        if (last >= first) count += (int32_t)(last - first + 1);
        p = *end == ',' ? end + 1 : end;
    }
    return count;
}

static int read_line(const char *path, char *buffer, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    const int ok = fgets(buffer, (int)size, f) != NULL;
    fclose(f);
    return ok;
}

// The L2 one core can count on: sysfs's level-2 cache of CPU 0 divided among the CPUs sharing
// it (Cortex-A72 boards share one L2 among four cores), else sysconf's figure.
static int64_t detect_l2_bytes(void) {
    for (int index = 0; index < 8; index++) {
        char path[96], line[128];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        if (!read_line(path, line, sizeof line)) break;
        if (atoi(line) != 2) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        if (!read_line(path, line, sizeof line)) break;
        const int64_t bytes = parse_cache_size(line);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/shared_cpu_list", index);
        const int32_t sharing = read_line(path, line, sizeof line) ? count_cpu_list(line) : 1;
        return sharing > 1 ? bytes / sharing : bytes;
    }
#ifdef _SC_LEVEL2_CACHE_SIZE
    const long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return bytes > 0 ? (int64_t)bytes : 0;
#else
    return 0;
#endif
}

int64_t nj_threadpool_l2_bytes(const nj_threadpool *pool) {
    return pool ? pool->l2_bytes : 0;
}

nj_threadpool *nj_threadpool_create(int32_t threads) {
    if (threads < 1) {
        threads = 1;
    }
    nj_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool) {
        return NULL;
    }
    pool->size = threads;
    pool->l2_bytes = detect_l2_bytes();
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->posted, NULL);
    pthread_cond_init(&pool->finished, NULL);
    pool->threads = calloc((size_t)threads, sizeof(pthread_t));
    if (!pool->threads) {
        nj_threadpool_destroy(pool);
        return NULL;
    }
    for (int32_t i = 1; i < threads; i++) {
        worker_start *start = malloc(sizeof *start);
        if (!start) {
            nj_threadpool_destroy(pool);
            return NULL;
        }
        start->pool = pool;
        start->index = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, start) != 0) {
            free(start);
            nj_threadpool_destroy(pool);
            return NULL;
        }
        pool->started = i;
    }
    return pool;
}

void nj_threadpool_destroy(nj_threadpool *pool) {
    if (!pool) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stopping, 1);
    pthread_cond_broadcast(&pool->posted);
    pthread_mutex_unlock(&pool->lock);
    for (int32_t i = 1; i <= pool->started; i++) {
        pthread_join(pool->threads[i], NULL);
    }
    pthread_cond_destroy(&pool->posted);
    pthread_cond_destroy(&pool->finished);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}

int32_t nj_threadpool_size(const nj_threadpool *pool) {
    return pool ? pool->size : 1;
}

static void run_on_pool(nj_threadpool *pool, nj_parallel_task task, void *context);

void nj_threadpool_run(nj_threadpool *pool, nj_parallel_task task, void *context) {
    const fp_mode mode = fp_flush_enter();
    if (!pool || pool->size == 1) {
        task(context, 0, 1);
    } else {
        run_on_pool(pool, task, context);
    }
    fp_flush_leave(mode);
}

// Hands the task to the workers (they run it with indices 1 .. size - 1).
static void start_workers(nj_threadpool *pool, nj_parallel_task task, void *context) {
    pool->task = task;
    pool->context = context;
    atomic_store_explicit(&pool->pending, pool->size - 1, memory_order_relaxed);
    // Publishes task, context and pending (release), then wakes any sleepers (see
    // wait_for_task for why this order cannot lose a wake-up).
    atomic_fetch_add(&pool->generation, 1);
    pthread_mutex_lock(&pool->lock);
    if (pool->sleepers > 0) pthread_cond_broadcast(&pool->posted);
    pthread_mutex_unlock(&pool->lock);
}

// Waits for the workers to finish the task start_workers gave them: spins, then sleeps.
static void wait_for_workers(nj_threadpool *pool) {
    if (spin_until(workers_done, pool, 0)) return;
    pthread_mutex_lock(&pool->lock);
    pool->caller_sleeping = 1;
    while (atomic_load(&pool->pending) > 0) {
        pthread_cond_wait(&pool->finished, &pool->lock);
    }
    pool->caller_sleeping = 0;
    pthread_mutex_unlock(&pool->lock);
}

static void run_on_pool(nj_threadpool *pool, nj_parallel_task task, void *context) {
    start_workers(pool, task, context);
    task(context, 0, pool->size);
    wait_for_workers(pool);
}

// ---- Work behind the caller's back (nj_threadpool_post) ---------------------------------------

// Worker `index` (1 .. threads - 1) takes the index-th of threads - 1 contiguous ranges.
static void posted_share(void *raw, int32_t index, int32_t threads) {
    const nj_posted_range *job = raw;
    const int32_t workers = threads - 1, w = index - 1;
    if (w < 0 || workers < 1) return;
    const int32_t begin = (int32_t)((int64_t)job->count * w / workers);
    const int32_t end = (int32_t)((int64_t)job->count * (w + 1) / workers);
    if (begin < end) job->task(job->context, begin, end);
}

void nj_threadpool_post(nj_threadpool *pool, nj_posted_range *job, int32_t count, nj_range_task task,
                        void *context) {
    job->task = task;
    job->context = context;
    job->count = count;
    job->posted = 0;
    if (count <= 0) return;
    if (!pool || pool->size == 1) {
        const fp_mode mode = fp_flush_enter();
        task(context, 0, count);
        fp_flush_leave(mode);
        return;
    }
    job->posted = 1;
    start_workers(pool, posted_share, job);
}

void nj_threadpool_join(nj_threadpool *pool, nj_posted_range *job) {
    if (!job->posted) return;
    job->posted = 0;
    wait_for_workers(pool);
}

// ---- Hand-off latency (nj_threadpool_round_trip_ns) -------------------------------------------

typedef struct handoff {
    _Alignas(64) _Atomic int64_t turn;  // even: thread 0 writes next; odd: thread 1
    int64_t rounds;
} handoff;

static void handoff_task(void *raw, int32_t index, int32_t count) {
    (void)count;
    handoff *h = raw;
    if (index > 1) return;
    for (int64_t i = 0; i < h->rounds; i++) {
        const int64_t mine = 2 * i + index;
        while (atomic_load_explicit(&h->turn, memory_order_acquire) != mine) CPU_RELAX();
        atomic_store_explicit(&h->turn, mine + 1, memory_order_release);
    }
}

double nj_threadpool_round_trip_ns(nj_threadpool *pool, int32_t rounds) {
    if (!pool || pool->size < 2 || rounds < 1) return 0;
    handoff h;
    atomic_init(&h.turn, 0);
    h.rounds = rounds;
    const int64_t start = monotonic_ns();
    run_on_pool(pool, handoff_task, &h);
    return (double)(monotonic_ns() - start) / rounds;
}

// Work is cut into more chunks than threads, dealt out as one contiguous run per thread (thread
// i: chunks [chunks·i/n, chunks·(i+1)/n)), each run's next chunk an atomic counter. A thread
// takes its own run's chunks in order, then whatever is left of the others' runs:
// - the same rows (or channels) of one layer and the next go to the same thread, so what it
//   wrote is in its own cache when it reads it back (an int8 network took about 6 % less time
//   than with every chunk from one shared counter on a busy Zen 5, the same when it was quiet;
//   FP32 the same);
// - a thread the scheduler takes away (a busy machine) delays only the chunk it holds, not a
//   fixed share of every task: the others take the rest of its run.
#define CHUNKS_PER_THREAD 4
// Runs kept apart (threads beyond this share runs).
#define NJ_DEAL_RUNS 64

// Each run's counter on a cache line of its own: every chunk taken writes its run's counter,
// and with the counters side by side each thread's write took the line from the others
// (on cores without a shared cache a few hundred ns each time, `bench`'s round trip).
typedef struct deal_counter {
    _Alignas(64) _Atomic int32_t next;
} deal_counter;

typedef struct chunk_deal {
    int32_t chunks;
    int32_t runs;
    deal_counter run[NJ_DEAL_RUNS];  // only the first `runs` are set: the jobs leave the rest
} chunk_deal;

static void deal_init(chunk_deal *deal, int32_t chunks, int32_t threads) {
    deal->chunks = chunks;
    deal->runs = threads < NJ_DEAL_RUNS ? threads : NJ_DEAL_RUNS;
    for (int32_t r = 0; r < deal->runs; r++)
        atomic_init(&deal->run[r].next, (int32_t)((int64_t)chunks * r / deal->runs));
}

// The next chunk for pool thread `index`: from its own run, else (when `steal`) from the next
// run with chunks left; -1 when none is.
static int32_t deal_next(chunk_deal *deal, int32_t index, int steal) {
    for (int32_t k = 0; k < (steal ? deal->runs : 1); k++) {
        const int32_t run = (index + k) % deal->runs;
        const int32_t end = (int32_t)((int64_t)deal->chunks * (run + 1) / deal->runs);
        if (atomic_load_explicit(&deal->run[run].next, memory_order_relaxed) >= end) continue;
        const int32_t chunk = atomic_fetch_add_explicit(&deal->run[run].next, 1, memory_order_relaxed);
        if (chunk < end) return chunk;
    }
    return -1;
}

typedef struct range_job {
    nj_range_task task;
    void *context;
    int32_t count;
    int fixed;  // one chunk per thread, never stolen
    chunk_deal deal;
} range_job;

static void range_share(void *raw, int32_t index, int32_t threads) {
    (void)threads;
    range_job *job = raw;
    for (;;) {
        const int32_t chunk = deal_next(&job->deal, index, !job->fixed);
        if (chunk < 0) return;
        const int32_t begin = (int32_t)((int64_t)job->count * chunk / job->deal.chunks);
        const int32_t end = (int32_t)((int64_t)job->count * (chunk + 1) / job->deal.chunks);
        if (begin < end) job->task(job->context, begin, end);
    }
}

static void parallel_for(nj_threadpool *pool, int32_t count, nj_range_task task, void *context, int fixed) {
    if (count <= 0) return;
    if (!pool || pool->size == 1 || count == 1) {
        const fp_mode mode = fp_flush_enter();
        task(context, 0, count);
        fp_flush_leave(mode);
        return;
    }
    // Fixed: one chunk per thread, chunk i = [count·i/n, count·(i+1)/n) (one element per chunk
    // when there are fewer elements than threads), thread i's run being chunk i.
    const int32_t most = fixed ? pool->size : pool->size * CHUNKS_PER_THREAD;
    // Field by field: an initializer list would zero all NJ_DEAL_RUNS counters' lines (4 KB).
    range_job job;
    job.task = task;
    job.context = context;
    job.count = count;
    job.fixed = fixed;
    deal_init(&job.deal, count < most ? count : most, pool->size);
    nj_threadpool_run(pool, range_share, &job);
}

void nj_threadpool_parallel_for(nj_threadpool *pool, int32_t count, nj_range_task task,
                                void *context) {
    parallel_for(pool, count, task, context, 0);
}

void nj_threadpool_parallel_for_fixed(nj_threadpool *pool, int32_t count, nj_range_task task,
                                      void *context) {
    parallel_for(pool, count, task, context, 1);
}

// ---- Convolutions: one split for every datatype ------------------------------------------------
//
// The split (rows or output channels, chunk sizes) is decided here once for all families; a
// family contributes only a function that runs one chunk: it copies the whole call's args,
// narrows them with NJ_CONV_NARROW (the same field names in every args struct) and calls its
// kernel.

typedef enum conv_cut { CUT_ROWS, CUT_CHANNELS, CUT_COLUMNS } conv_cut;

// A chunk: rows, output channels or output columns (CUT_COLUMNS: qs8 kernels with a
// column_block) [begin, end). A column chunk may also be narrowed to output channels
// [channel_begin, channel_end) (both 0: all of them).
typedef struct conv_chunk {
    conv_cut cut;
    int32_t begin, end;
    int32_t channel_begin, channel_end;
} conv_chunk;

// Narrows `share` (a copy of the whole call's args `a`) to `chunk`. weight_bytes: bytes per
// packed weight element; gihwo: whether the kernel reads NJ_WEIGHTS_GIHWO.
#define NJ_CONV_NARROW(share, a, chunk, weight_bytes, gihwo)                                      \
    do {                                                                                        \
        if ((chunk)->cut == CUT_ROWS) {                                                         \
            (share).row_begin = (chunk)->begin;                                                 \
            (share).row_end = (chunk)->end;                                                     \
            break;                                                                              \
        }                                                                                       \
        const int32_t begin_ = (chunk)->begin, end_ = (chunk)->end;                             \
        const int32_t per_group_ = (a)->out_channels / (a)->groups;                             \
        const int32_t in_per_group_ = (a)->in_channels / (a)->groups;                           \
        const size_t taps_ = (size_t)(a)->kernel_size * (a)->kernel_size;                       \
        size_t weight_offset_;                                                                  \
        if ((a)->groups > 1) {                                                                  \
            /* Whole groups: the kernel sees a smaller grouped convolution. */                  \
            const int32_t g0_ = begin_ / per_group_, g1_ = end_ / per_group_;                   \
            const size_t group_weights_ = (size_t)in_per_group_ * taps_ *                       \
                ((gihwo) ? (size_t)(a)->weight_stride : (size_t)per_group_);                    \
            (share).groups = g1_ - g0_;                                                         \
            (share).in_channels = (share).groups * in_per_group_;                               \
            (share).input = (a)->input + (size_t)g0_ * in_per_group_ * (a)->input_channel_stride; \
            weight_offset_ = (size_t)g0_ * group_weights_;                                      \
        } else {                                                                                \
            /* GIHWO keeps the whole convolution's stride between taps; OIHW starts at the */   \
            /* first output channel's filters. */                                               \
            weight_offset_ = (gihwo) ? (size_t)begin_ : (size_t)begin_ * in_per_group_ * taps_; \
        }                                                                                       \
        (share).weights = (const void *)((const char *)(a)->weights + weight_offset_ * (weight_bytes)); \
        (share).out_channels = end_ - begin_;                                                   \
        if ((a)->output_depth_to_space > 1) {                                                   \
            (share).output_channel_base = (a)->output_channel_base + begin_;                    \
        } else {                                                                                \
            (share).output = (a)->output + (size_t)begin_ * (a)->output_channel_stride;         \
        }                                                                                       \
        if ((a)->bias) (share).bias = (a)->bias + begin_;                                       \
        if ((a)->residual) (share).residual = (a)->residual + (size_t)begin_ * (a)->residual_channel_stride; \
    } while (0)

typedef void (*conv_chunk_fn)(const void *kernel, const void *args, const conv_chunk *chunk);

// The input rows a band of output rows reads (one group's channels), for any family's args.
#define NJ_BAND_INPUT_BYTES(a, element_bytes)                                                    \
    ((int64_t)((a)->in_channels / (a)->groups) * ((a)->row_end - (a)->row_begin + (a)->kernel_size - 1) * \
     (int64_t)(a)->width * (int64_t)(element_bytes))

typedef struct conv_job {
    conv_chunk_fn run_chunk;
    const void *kernel;
    const void *args;
    conv_cut cut;
    int32_t first, last;  // the rows, output channels or columns cut: [first, last)
    int32_t unit;         // per chunk
    // CUT_COLUMNS only, 0 when unused: the columns from `last` to `tail_end` (the column blocks
    // an even deal leaves over) are cut by output channels, `tail_unit` per chunk. Chunk 2i is
    // then column range i and chunk 2i + 1 channel range i, so that each thread's run holds one
    // of each.
    int32_t tail_end, tail_unit, out_channels;
    chunk_deal deal;
} conv_job;

static void conv_share(void *raw, int32_t index, int32_t count) {
    (void)count;
    conv_job *job = raw;
    for (;;) {
        const int32_t chunk = deal_next(&job->deal, index, 1);
        if (chunk < 0) return;
        conv_chunk c = {job->cut, 0, 0, 0, 0};
        if (job->tail_unit > 0 && chunk % 2 == 1) {
            c.begin = job->last;
            c.end = job->tail_end;
            c.channel_begin = chunk / 2 * job->tail_unit;
            if (c.channel_begin >= job->out_channels) continue;
            c.channel_end = c.channel_begin + job->tail_unit < job->out_channels ? c.channel_begin + job->tail_unit
                                                                                 : job->out_channels;
        } else {
            const int32_t part = job->tail_unit > 0 ? chunk / 2 : chunk;
            c.begin = job->first + part * job->unit;
            c.end = c.begin + job->unit < job->last ? c.begin + job->unit : job->last;
        }
        job->run_chunk(job->kernel, job->args, &c);
    }
}

int32_t nj_conv_split_by_rows(int32_t rows, int32_t threads, int32_t out_channels,
                              int64_t band_input_bytes, int64_t l2_bytes) {
    if (rows >= 2 * threads || out_channels < 2 * threads) return 1;
    // One row each: no chunks to balance a late thread, but each thread reads its own input
    // rows once. Blocks of channels each read the whole band: from L2 when it fits, else from
    // L3 or memory. (Zen 3, 512 KB L2, FP32 3x3 64->64 at 532 wide in 2-row bands on 2
    // threads: 43-45 -> 57-58 GMAC/s.)
    return rows >= threads && l2_bytes > 0 && band_input_bytes > l2_bytes;
}

// Splits a convolution of the given geometry over the pool (the caller has checked there is
// more than one thread and at least one row). band_input_bytes: the input rows the band reads,
// one group's channels (nj_conv_split_by_rows).
// row_block: the rows the kernel computes together (nj_conv2d_f32_kernel.row_block; 1 for the
// direct kernels). Bands are whole blocks of rows, and the rule counts blocks, not rows.
// halo_rows: the rows beyond its own that a kernel call reads in (stages) for each call (0 for
// kernels that read the input in place). A band of rows is then cut into chunks of at least
// twice that many rows, as long as every thread still gets one, so no call stages or transforms
// more than half again the rows it computes. (With the halo itself as the least, int8's 5x5
// layers cut their 16-row bands at 1/2 scale into chunks of 4 rows that each read 8; in chunks
// of 8 they took about 8 % less time, measured against the 1/8-scale layers of the same runs:
// 12.1 MP, 2 Zen 3 threads, fourteen alternating rounds.)
// stages_input: whether every call copies its input rows into a staging area (the qs8 direct
// kernels, 1x1 included): a block of output channels then pays for staging the whole band, as
// a Winograd call pays for transforming it, and a channel split gives each thread one block.
// column_block: the kernel's (nj_conv2d_qs8_kernel.column_block; 0: whole rows only). Where it
// has one, a band too short to split by rows is cut into column ranges, one per thread, instead
// of channel blocks: a Winograd kernel then transforms each column's input once, not once per
// thread (int8 RDB dense layers at 1/32 scale, 2 rows a band: 1.34x their one-thread CPU
// time on 2 threads cut by channels, Zen 3). A kernel's time goes by whole column blocks (a
// block of 8 tiles costs the same however few of its columns are in the image), so the blocks
// that do not share evenly (one of a 12.1 MP frame's 17 at 1/8 scale) are cut by output
// channels instead, each thread transforming their input: otherwise one thread computes a whole
// block more while the other waits (int8 F(4x4) layers of a 12.1 MP frame: about 2.5 % less
// time on 2 Zen 3 threads; the 1/32-scale F(2x2) ones, 1 block of 9 over, within the noise).
static void conv_split(nj_threadpool *pool, conv_chunk_fn run_chunk, const void *kernel,
                       const void *args, int32_t row_begin, int32_t row_end, int32_t out_channels,
                       int32_t groups, int32_t channel_block, int32_t row_block, int32_t halo_rows,
                       int stages_input, int32_t column_block, int32_t width, int64_t band_input_bytes) {
    const int32_t threads = nj_threadpool_size(pool);
    const int32_t rows = row_end - row_begin;
    const int32_t block = row_block > 1 ? row_block : 1;
    const int32_t row_blocks = (rows + block - 1) / block;
    conv_job job;  // field by field, as in parallel_for
    job.run_chunk = run_chunk;
    job.kernel = kernel;
    job.args = args;
    job.cut = CUT_ROWS;
    job.first = row_begin;
    job.last = row_end;
    job.unit = 1;
    job.tail_end = 0;
    job.tail_unit = 0;
    job.out_channels = out_channels;
    const int32_t most = threads * CHUNKS_PER_THREAD;
    if (nj_conv_split_by_rows(row_blocks, threads, out_channels, band_input_bytes, pool->l2_bytes)) {
        // Bands of rows.
        job.unit = (row_blocks + most - 1) / most * block;
        const int32_t least = (2 * halo_rows + block - 1) / block * block;
        if (job.unit < least) {
            const int32_t even = (row_blocks + threads - 1) / threads * block;  // one chunk per thread
            job.unit = least < even ? least : even;
        }
    } else if (column_block > 0 && groups == 1 && (width + column_block - 1) / column_block >= threads) {
        // Too few rows to go round, a kernel that computes parts of rows: a range of whole
        // column blocks per thread.
        const int32_t blocks = (width + column_block - 1) / column_block;
        const int32_t spare = blocks % threads;
        job.cut = CUT_COLUMNS;
        job.first = 0;
        job.last = width;
        job.unit = (blocks + threads - 1) / threads * column_block;
        // Channel ranges of whole register blocks, at least one per thread.
        const int32_t channel_blocks = (out_channels + channel_block - 1) / channel_block;
        const int32_t channel_unit = (channel_blocks + threads - 1) / threads * channel_block;
        if (spare > 0) {
            job.unit = (blocks - spare) / threads * column_block;
            job.last = (blocks - spare) * column_block;
            job.tail_end = width;
            job.tail_unit = channel_unit;
            deal_init(&job.deal, 2 * threads, threads);
            nj_threadpool_run(pool, conv_share, &job);
            return;
        }
    } else {
        // Too few rows to go round: blocks of output channels, whole groups of a grouped
        // convolution and whole register blocks of an ungrouped one (smaller blocks when there
        // are fewer blocks than threads).
        job.cut = CUT_CHANNELS;
        job.first = 0;
        job.last = out_channels;
        const int32_t per_group = out_channels / groups;
        int32_t unit = groups == 1 ? channel_block : per_group;
        if (groups > 1 && groups > most) {
            unit = per_group * ((groups + most - 1) / most);
        }
        if (groups == 1 && (block > 1 || stages_input || (out_channels + unit - 1) / unit < threads)) {
            // One block per thread. A kernel of several rows (Winograd) transforms the whole
            // input for every call, a staging kernel copies it: each thread then does it once
            // (int8 1x1 layers at 1/32 scale in blocks of 4 channels staged their input 8 times
            // and took 3.5 times their one-thread CPU time on 2 threads, Zen 3).
            unit = (out_channels + threads - 1) / threads;
        }
        job.unit = unit;
    }
    deal_init(&job.deal, (job.last - job.first + job.unit - 1) / job.unit, threads);
    nj_threadpool_run(pool, conv_share, &job);
}

static void f32_chunk(const void *kernel, const void *args, const conv_chunk *chunk) {
    const nj_conv2d_f32_kernel *k = kernel;
    const nj_conv2d_f32_args *a = args;
    nj_conv2d_f32_args share = *a;
    NJ_CONV_NARROW(share, a, chunk, sizeof(float), k->weight_layout != NJ_WEIGHTS_OIHW);
    k->run(&share);
}

void nj_threadpool_conv2d_f32(nj_threadpool *pool, const nj_conv2d_f32_kernel *kernel,
                              const nj_conv2d_f32_args *args) {
    if (nj_threadpool_size(pool) == 1 || args->row_end <= args->row_begin) {
        const fp_mode mode = fp_flush_enter();
        kernel->run(args);
        fp_flush_leave(mode);
        return;
    }
    conv_split(pool, f32_chunk, kernel, args, args->row_begin, args->row_end, args->out_channels,
               args->groups, kernel->channel_block, kernel->row_block, 0, 0, 0, args->width,
               NJ_BAND_INPUT_BYTES(args, sizeof(float)));
}

static void f16_chunk(const void *kernel, const void *args, const conv_chunk *chunk) {
    const nj_conv2d_f16_kernel *k = kernel;
    const nj_conv2d_f16_args *a = args;
    nj_conv2d_f16_args share = *a;
    NJ_CONV_NARROW(share, a, chunk, nj_dtype_size(k->weight_dtype),
                   k->weight_layout != NJ_WEIGHTS_OIHW);
    k->run(&share);
}

void nj_threadpool_conv2d_f16(nj_threadpool *pool, const nj_conv2d_f16_kernel *kernel,
                              const nj_conv2d_f16_args *args) {
    if (nj_threadpool_size(pool) == 1 || args->row_end <= args->row_begin) {
        const fp_mode mode = fp_flush_enter();
        kernel->run(args);
        fp_flush_leave(mode);
        return;
    }
    conv_split(pool, f16_chunk, kernel, args, args->row_begin, args->row_end, args->out_channels,
               args->groups, kernel->channel_block, kernel->row_block, 0, 0, 0, args->width,
               NJ_BAND_INPUT_BYTES(args, sizeof(uint16_t)));
}

// qs8: the same split; the narrowing differs from NJ_CONV_NARROW only in what the per-channel
// numbers are (the params' arrays instead of a bias) and in the packed weights' lane grouping.
static void qs8_chunk(const void *kernel, const void *args, const conv_chunk *chunk) {
    const nj_conv2d_qs8_kernel *k = kernel;
    const nj_conv2d_qs8_args *a = args;
    nj_conv2d_qs8_args share = *a;
    if (chunk->cut == CUT_ROWS) {
        share.row_begin = chunk->begin;
        share.row_end = chunk->end;
        k->run(&share);
        return;
    }
    if (chunk->cut == CUT_COLUMNS) {
        share.column_begin = chunk->begin;
        share.column_end = chunk->end;
        if (chunk->channel_end == 0) {
            k->run(&share);
            return;
        }
    }
    const int32_t begin = chunk->cut == CUT_COLUMNS ? chunk->channel_begin : chunk->begin;
    const int32_t end = chunk->cut == CUT_COLUMNS ? chunk->channel_end : chunk->end;
    const int32_t per_group = a->out_channels / a->groups;
    const int32_t in_per_group = a->in_channels / a->groups;
    const size_t taps = (size_t)a->kernel_size * a->kernel_size;
    const int oihw = k->weight_layout == NJ_QS8_WEIGHTS_OIHW_S8;
    const int32_t lane = nj_qs8_layout_lane_channels(k->weight_layout);
    const size_t weight_bytes = (size_t)nj_qs8_layout_weight_bytes(k->weight_layout);
    size_t weight_offset;  // in weights
    if (a->groups > 1) {
        const int32_t g0 = begin / per_group, g1 = end / per_group;
        const size_t lanes = (size_t)(in_per_group + lane - 1) / lane;
        const size_t group_weights = oihw ? (size_t)per_group * in_per_group * taps
                                          : lanes * taps * (size_t)a->weight_stride * lane;
        share.groups = g1 - g0;
        share.in_channels = share.groups * in_per_group;
        share.input = a->input + (size_t)g0 * in_per_group * a->input_channel_stride;
        weight_offset = (size_t)g0 * group_weights;
    } else {
        weight_offset = oihw ? (size_t)begin * in_per_group * taps : (size_t)begin * lane;
    }
    share.weights = (const char *)a->weights + weight_offset * weight_bytes;
    share.out_channels = end - begin;
    if (a->output_depth_to_space > 1) {
        share.output_channel_base = a->output_channel_base + begin;
    } else {
        share.output = a->output + (size_t)begin * a->output_channel_stride;
    }
    if (a->residual) share.residual = a->residual + (size_t)begin * a->residual_channel_stride;
    nj_conv2d_qs8_params params = *a->params;
    params.bias += begin;
    params.multiplier += begin;
    params.negative_multiplier += begin;
    params.shift += begin;
    if (a->fold_kernel_size) {  // ungrouped; the class rows keep their stride
        params.fold_bias += begin;
        params.fold_shift += begin;
        const size_t fold_offset = oihw ? (size_t)begin * a->fold_in_channels * a->fold_kernel_size * a->fold_kernel_size
                                        : (size_t)begin * lane;
        params.fold_weights = (const char *)params.fold_weights + fold_offset * weight_bytes;
    }
    share.params = &params;
    k->run(&share);
}

void nj_threadpool_conv2d_qs8(nj_threadpool *pool, const nj_conv2d_qs8_kernel *kernel,
                              const nj_conv2d_qs8_args *args) {
    // Integer kernels: no floating-point mode to set.
    if (nj_threadpool_size(pool) == 1 || args->row_end <= args->row_begin) {
        kernel->run(args);
        return;
    }
    const int32_t row_block = kernel->tile_rows > kernel->row_block ? kernel->tile_rows : kernel->row_block;
    conv_split(pool, qs8_chunk, kernel, args, args->row_begin, args->row_end, args->out_channels,
               args->groups, kernel->channel_block, row_block, args->kernel_size - 1, 1,
               kernel->column_block, args->width, NJ_BAND_INPUT_BYTES(args, sizeof(int8_t)));
}
