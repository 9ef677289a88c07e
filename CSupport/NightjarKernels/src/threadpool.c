// Worker threads for the executor: one task at a time, workers sleep on a condition variable
// between tasks. A generation counter tells workers a new task has been posted.
#include "nightjar_threadpool.h"

#include <pthread.h>
#include <stdlib.h>

struct nj_threadpool {
    pthread_mutex_t lock;
    pthread_cond_t posted;
    pthread_cond_t finished;
    nj_parallel_task task;
    void *context;
    uint64_t generation;
    int32_t pending;
    int32_t stopping;
    int32_t size;
    int32_t started;
    pthread_t *threads;
};

typedef struct worker_start {
    nj_threadpool *pool;
    int32_t index;
} worker_start;

static void *worker_main(void *raw) {
    worker_start start = *(worker_start *)raw;
    free(raw);
    nj_threadpool *pool = start.pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->generation == seen && !pool->stopping) {
            pthread_cond_wait(&pool->posted, &pool->lock);
        }
        if (pool->stopping) {
            break;
        }
        seen = pool->generation;
        nj_parallel_task task = pool->task;
        void *context = pool->context;
        pthread_mutex_unlock(&pool->lock);
        task(context, start.index, pool->size);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0) {
            pthread_cond_signal(&pool->finished);
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
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
    pool->stopping = 1;
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

void nj_threadpool_run(nj_threadpool *pool, nj_parallel_task task, void *context) {
    if (!pool || pool->size == 1) {
        task(context, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->task = task;
    pool->context = context;
    pool->pending = pool->size - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->posted);
    pthread_mutex_unlock(&pool->lock);

    task(context, 0, pool->size);

    pthread_mutex_lock(&pool->lock);
    while (pool->pending > 0) {
        pthread_cond_wait(&pool->finished, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
}

typedef struct conv_job {
    nj_conv2d_f32_fn kernel;
    const nj_conv2d_f32_args *args;
    int32_t by_channels;
} conv_job;

// One thread's share: a band of rows, or (when there are too few rows to go round) a block of
// output channels, whole groups at a time, for all rows.
static void conv_share(void *raw, int32_t index, int32_t count) {
    const conv_job *job = raw;
    const nj_conv2d_f32_args *a = job->args;
    nj_conv2d_f32_args share = *a;
    if (job->by_channels) {
        const int32_t per_group = a->out_channels / a->groups;
        // Whole groups; blocks of 8 channels for an ungrouped convolution, so the kernels'
        // register blocking over output channels stays effective.
        const int32_t unit = a->groups == 1 ? 8 : per_group;
        const int32_t units = (a->out_channels + unit - 1) / unit;
        const int32_t first = (int32_t)((int64_t)units * index / count);
        const int32_t last = (int32_t)((int64_t)units * (index + 1) / count);
        int32_t begin = first * unit, end = last * unit;
        if (end > a->out_channels) end = a->out_channels;
        if (begin >= end) return;
        if (a->groups > 1) {
            // Whole groups: the kernel sees a smaller grouped convolution.
            const int32_t in_per_group = a->in_channels / a->groups;
            const int32_t g0 = begin / per_group, g1 = end / per_group;
            share.groups = g1 - g0;
            share.in_channels = share.groups * in_per_group;
            share.input = a->input + (size_t)g0 * in_per_group * a->input_channel_stride;
        }
        share.out_channels = end - begin;
        share.output = a->output + (size_t)begin * a->output_channel_stride;
        share.weights = a->weights + (size_t)begin * (a->in_channels / a->groups) * a->kernel_size * a->kernel_size;
        if (a->bias) share.bias = a->bias + begin;
        if (a->residual) share.residual = a->residual + (size_t)begin * a->residual_channel_stride;
    } else {
        const int64_t rows = a->row_end - a->row_begin;
        share.row_begin = a->row_begin + (int32_t)(rows * index / count);
        share.row_end = a->row_begin + (int32_t)(rows * (index + 1) / count);
        if (share.row_begin >= share.row_end) return;
    }
    job->kernel(&share);
}

void nj_threadpool_conv2d_f32(nj_threadpool *pool, nj_conv2d_f32_fn kernel, const nj_conv2d_f32_args *args) {
    const int32_t threads = nj_threadpool_size(pool);
    const int32_t rows = args->row_end - args->row_begin;
    // Rows split evenly when each thread gets several; otherwise output channels do.
    conv_job job = {kernel, args, threads > 1 && rows < 4 * threads && args->out_channels >= 2 * threads};
    nj_threadpool_run(pool, conv_share, &job);
}
