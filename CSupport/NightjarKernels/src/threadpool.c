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
} conv_job;

static void conv_band(void *raw, int32_t index, int32_t count) {
    const conv_job *job = raw;
    nj_conv2d_f32_args band = *job->args;
    const int64_t rows = job->args->row_end - job->args->row_begin;
    band.row_begin = job->args->row_begin + (int32_t)(rows * index / count);
    band.row_end = job->args->row_begin + (int32_t)(rows * (index + 1) / count);
    if (band.row_begin < band.row_end) {
        job->kernel(&band);
    }
}

void nj_threadpool_conv2d_f32(nj_threadpool *pool, nj_conv2d_f32_fn kernel, const nj_conv2d_f32_args *args) {
    conv_job job = {kernel, args};
    nj_threadpool_run(pool, conv_band, &job);
}
