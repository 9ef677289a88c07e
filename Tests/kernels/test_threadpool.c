// Stress test of the thread pool's hand-shakes: many tiny tasks, with pauses long enough that
// workers and the caller fall asleep between some of them, so every wake-up path runs. A lost
// wake-up hangs (scripts/test-kernels.sh runs this under `timeout`); a task run twice, skipped
// or run on a stale context shows in the sums. Built with the kernels, natively and for AArch64.
#define _POSIX_C_SOURCE 199309L
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nightjar_threadpool.h"

typedef struct counts {
    _Atomic int64_t calls;
    _Atomic int64_t covered;
    int64_t round;
    _Atomic int64_t stale;
} counts;

static void count_range(void *raw, int32_t begin, int32_t end) {
    counts *c = raw;
    atomic_fetch_add(&c->calls, 1);
    atomic_fetch_add(&c->covered, end - begin);
}

typedef struct round_context {
    counts *c;
    int64_t round;
} round_context;

static void pause_us(long us);

static void check_round(void *raw, int32_t index, int32_t threads) {
    (void)threads;
    round_context *r = raw;
    // Now and then a worker outlasts the caller's spin: the caller goes to sleep.
    if (index != 0 && r->round % 97 == 0) pause_us(120);
    if (r->round != r->c->round) atomic_fetch_add(&r->c->stale, 1);
    atomic_fetch_add(&r->c->calls, 1);
}

static void pause_us(long us) {
    struct timespec t = {0, us * 1000};
    nanosleep(&t, NULL);
}

int main(void) {
    int failed = 0;
    for (int threads = 2; threads <= 4; threads++) {
        nj_threadpool *pool = nj_threadpool_create(threads);
        if (!pool) {
            printf("threadpool: cannot start %d threads\n", threads);
            return 2;
        }
        counts c = {0, 0, 0, 0};
        int64_t expected_covered = 0;
        const int rounds = 20000;
        for (int i = 0; i < rounds; i++) {
            const int32_t count = 1 + (int32_t)(i % 37);
            nj_threadpool_parallel_for(pool, count, count_range, &c);
            expected_covered += count;
            c.round = i;
            round_context r = {&c, i};
            nj_threadpool_run(pool, check_round, &r);
            // Every 500th round, wait past the spin time: workers go to sleep.
            if (i % 500 == 499) pause_us(300);
        }
        const int64_t covered = atomic_load(&c.covered);
        const int64_t stale = atomic_load(&c.stale);
        const int ok = covered == expected_covered && stale == 0;
        printf("threadpool: %d threads, %d rounds: covered %lld of %lld, stale %lld: %s\n", threads,
               rounds, (long long)covered, (long long)expected_covered, (long long)stale,
               ok ? "ok" : "FAIL");
        failed |= !ok;
        nj_threadpool_destroy(pool);
    }
    return failed;
}
