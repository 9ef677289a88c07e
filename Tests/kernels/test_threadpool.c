// Stress test of the thread pool's hand-shakes: many tiny tasks, with pauses long enough that
// workers and the caller fall asleep between some of them, so every wake-up path runs. A lost
// wake-up hangs (scripts/test-kernels.sh runs this under `timeout`); a task run twice, skipped
// or run on a stale context shows in the sums. Built with the kernels, natively and for AArch64.
#define _POSIX_C_SOURCE 199309L
#include <pthread.h>
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

static void pause_us(long us);

static void count_range(void *raw, int32_t begin, int32_t end) {
    counts *c = raw;
    // Now and then the thread holding the first chunk is held up: the others take the rest of
    // its run.
    if (begin == 0 && c->round % 61 == 0) pause_us(60);
    atomic_fetch_add(&c->calls, 1);
    atomic_fetch_add(&c->covered, end - begin);
}

typedef struct round_context {
    counts *c;
    int64_t round;
} round_context;

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

// 1e-20 * 1e-20 is 1e-40, a subnormal float: 0 where subnormal results are flushed, and a
// subnormal operand reads as 0 where denormals-are-zero (x86 DAZ; AArch64 FZ does both).
static volatile float tiny_a = 1e-20f, tiny_b = 1e-20f, subnormal = 1e-40f;
static int flushes(void) {
    const float product = tiny_a * tiny_b;
    const float operand = subnormal * 1.0f;
    return product == 0.0f && operand == 0.0f;
}

typedef struct flush_probe {
    _Atomic int32_t flushed, ran;
} flush_probe;

static void probe_task(void *raw, int32_t index, int32_t threads) {
    (void)index;
    (void)threads;
    flush_probe *p = raw;
    atomic_fetch_add(&p->ran, 1);
    if (flushes()) atomic_fetch_add(&p->flushed, 1);
}

static void probe_range(void *raw, int32_t begin, int32_t end) {
    for (int32_t i = begin; i < end; i++) probe_task(raw, i, 0);
}

// Every thread of every pool call computes with subnormals flushed; the caller's own mode
// (IEEE gradual underflow, the C default) is back after each call.
static int check_flush_to_zero(void) {
    int failed = 0;
    if (flushes()) {
        printf("threadpool: the caller flushes subnormals before any pool call: FAIL\n");
        failed = 1;
    }
    for (int threads = 1; threads <= 3; threads++) {
        nj_threadpool *pool = nj_threadpool_create(threads);
        if (!pool) return 1;
        for (int i = 0; i < 200; i++) {
            flush_probe p = {0, 0};
            nj_threadpool_run(pool, probe_task, &p);
            nj_threadpool_parallel_for(pool, 1 + i % 7, probe_range, &p);
            const int ok = atomic_load(&p.flushed) == atomic_load(&p.ran) && !flushes();
            if (!ok) {
                printf("threadpool: %d threads: %d of %d task runs flushed subnormals, caller "
                       "flushes after the call: %d: FAIL\n", threads, (int)atomic_load(&p.flushed),
                       (int)atomic_load(&p.ran), flushes());
                failed = 1;
                break;
            }
        }
        nj_threadpool_destroy(pool);
    }
    printf("threadpool: flush-to-zero on every pool thread, caller's mode restored: %s\n",
           failed ? "FAIL" : "ok");
    return failed;
}

// The convolution split's rule (rows or output channels) on the cases that decide it, and the
// L2 size the pool read from the system (0, or a size some CPU has).
static int check_split_rule(void) {
    typedef struct split_case {
        int32_t rows, threads, out_channels;
        int64_t band_bytes, l2_bytes;
        int32_t by_rows;
    } split_case;
    const int64_t band = 64LL * 4 * 532 * 4;  // FP32 3x3 64->64, 532 wide, 2 output rows
    const split_case cases[] = {
        {4, 2, 64, band, 1 << 20, 1},         // two rows per thread: rows
        {2, 2, 64, band, 1 << 20, 0},         // one row each, the band fits a 1 MB L2: channels
        {2, 2, 64, band, 512 << 10, 1},       // ... not a 512 KB one: rows
        {2, 2, 64, band, 0, 0},               // L2 unknown: channels
        {1, 2, 64, band, 512 << 10, 0},       // fewer rows than threads: channels
        {1, 2, 3, band, 512 << 10, 1},        // too few channels to go round: rows
        {3, 4, 64, band, 256 << 10, 0},       // fewer rows than threads
        {4, 4, 64, band, 256 << 10, 1},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const split_case c = cases[i];
        const int32_t got = nj_conv_split_by_rows(c.rows, c.threads, c.out_channels, c.band_bytes, c.l2_bytes);
        if (got != c.by_rows) {
            printf("threadpool: split of %d rows, %d threads, %d channels, band %lld B, L2 %lld B: %s, expected %s: FAIL\n",
                   c.rows, c.threads, c.out_channels, (long long)c.band_bytes, (long long)c.l2_bytes,
                   got ? "rows" : "channels", c.by_rows ? "rows" : "channels");
            failed = 1;
        }
    }
    nj_threadpool *pool = nj_threadpool_create(2);
    const int64_t l2 = nj_threadpool_l2_bytes(pool);
    nj_threadpool_destroy(pool);
    const int plausible = l2 == 0 || (l2 >= (32 << 10) && l2 <= (64LL << 20));
    printf("threadpool: split rule %s; L2 per core as read here: %lld KB%s\n", failed ? "FAIL" : "ok",
           (long long)(l2 >> 10), plausible ? "" : " (implausible: FAIL)");
    return failed || !plausible;
}

// The fixed split: every element once, in the ranges [count·i / n, count·(i + 1) / n), and each
// element on the same thread at every call (what the colour stage's rounds count on).
typedef struct fixed_record {
    _Atomic int32_t covered[64];
    pthread_t owner[2][64];
    int call;
} fixed_record;

static void record_fixed(void *raw, int32_t begin, int32_t end) {
    fixed_record *r = raw;
    for (int32_t k = begin; k < end; k++) {
        atomic_fetch_add(&r->covered[k], 1);
        r->owner[r->call][k] = pthread_self();
    }
    pause_us(20);  // so that one thread could take every range if the split let it
}

static int check_fixed_split(void) {
    int failed = 0;
    for (int threads = 2; threads <= 4; threads++) {
        nj_threadpool *pool = nj_threadpool_create(threads);
        if (!pool) return 1;
        for (int32_t count = 1; count <= 40; count++) {
            static fixed_record r;
            for (int k = 0; k < 64; k++) atomic_store(&r.covered[k], 0);
            for (r.call = 0; r.call < 2; r.call++) nj_threadpool_parallel_for_fixed(pool, count, record_fixed, &r);
            for (int32_t k = 0; k < count; k++) {
                if (atomic_load(&r.covered[k]) != 2) failed |= 1;
                if (!pthread_equal(r.owner[0][k], r.owner[1][k])) failed |= 2;
            }
            // Each formula range on one thread, and the next nonempty range on another.
            for (int i = 0; i < threads; i++) {
                const int32_t begin = (int32_t)((int64_t)count * i / threads), end = (int32_t)((int64_t)count * (i + 1) / threads);
                for (int32_t k = begin + 1; k < end; k++)
                    if (!pthread_equal(r.owner[0][k], r.owner[0][begin])) failed |= 4;
                if (begin < end && end < count && pthread_equal(r.owner[0][end], r.owner[0][begin]) &&
                    (int32_t)((int64_t)count * (i + 2) / threads) > end)
                    failed |= 8;
            }
        }
        nj_threadpool_destroy(pool);
    }
    printf("threadpool: fixed split (2-4 threads, counts 1-40, two calls each): %s\n", failed ? "FAIL" : "ok");
    return failed != 0;
}

// nj_threadpool_post / nj_threadpool_join: the range runs on the workers only, each index once,
// one contiguous range per worker, all of it done when join returns (the caller reads it at
// once), while the caller works meanwhile; with one thread, on the caller before post returns.
typedef struct posted_record {
    _Atomic int32_t covered[64];
    pthread_t owner[64];
    _Atomic int32_t finished;  // ranges done
} posted_record;

static void record_posted(void *raw, int32_t begin, int32_t end) {
    posted_record *r = raw;
    for (int32_t k = begin; k < end; k++) {
        atomic_fetch_add(&r->covered[k], 1);
        r->owner[k] = pthread_self();
    }
    pause_us(5);  // long enough that a join which did not wait would see the range unfinished
    atomic_fetch_add(&r->finished, 1);
}

static int check_posted(void) {
    int failed = 0;
    for (int threads = 1; threads <= 4; threads++) {
        nj_threadpool *pool = nj_threadpool_create(threads);
        if (!pool) return 1;
        const pthread_t caller = pthread_self();
        for (int round = 0; round < 200; round++) {
            const int32_t count = round % 41;  // 0 .. 40
            static posted_record r;
            for (int k = 0; k < 64; k++) atomic_store(&r.covered[k], 0);
            atomic_store(&r.finished, 0);
            nj_posted_range job;
            nj_threadpool_post(pool, &job, count, record_posted, &r);
            if (threads == 1 && count > 0 && atomic_load(&r.finished) != 1) failed |= 1;  // ran already
            pause_us(round % 3 == 0 ? 30 : 0);  // the caller's own work
            nj_threadpool_join(pool, &job);
            const int32_t workers = threads > 1 ? threads - 1 : 1;
            int32_t ranges = 0;
            for (int32_t w = 0; w < workers; w++)
                ranges += (int32_t)((int64_t)count * (w + 1) / workers) > (int32_t)((int64_t)count * w / workers);
            if (atomic_load(&r.finished) != ranges) failed |= 2;
            for (int32_t k = 0; k < count; k++) {
                if (atomic_load(&r.covered[k]) != 1) failed |= 4;
                if ((threads > 1) == pthread_equal(r.owner[k], caller)) failed |= 8;
                // Contiguous: an index runs on the thread of the one before it unless a range starts there.
                int starts = 0;
                for (int32_t w = 0; w < workers; w++) starts |= (int32_t)((int64_t)count * w / workers) == k;
                if (k > 0 && !starts && !pthread_equal(r.owner[k], r.owner[k - 1])) failed |= 16;
            }
            // The pool is whole afterwards: an ordinary call covers its range.
            counts c = {0, 0, 0, 0};
            nj_threadpool_parallel_for(pool, 7, count_range, &c);
            if (atomic_load(&c.covered) != 7) failed |= 32;
            // Now and then past the spin time, so that post must wake sleeping workers.
            if (round % 50 == 49) pause_us(300);
        }
        nj_threadpool_destroy(pool);
    }
    printf("threadpool: work behind the caller (post and join, 1-4 threads, counts 0-40): %s\n", failed ? "FAIL" : "ok");
    return failed != 0;
}

// The median of three runs of 200 hand-offs, as `bench` takes its own median.
static double median_round_trip(nj_threadpool *pool) {
    double t[3];
    for (int i = 0; i < 3; i++) t[i] = nj_threadpool_round_trip_ns(pool, 200);
    const double lo = t[0] < t[1] ? t[0] : t[1], hi = t[0] < t[1] ? t[1] : t[0];
    return t[2] < lo ? lo : t[2] > hi ? hi : t[2];
}

int main(void) {
    int failed = check_flush_to_zero();
    failed |= check_fixed_split();
    failed |= check_posted();
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
        // The hand-off measurement ends (a protocol that lost a turn would spin for ever, and
        // `timeout` says so) with a positive time. No upper bound: with more threads than free
        // cores (CI runs the AArch64 tests beside these) a turn can wait a whole time slice, so
        // how long it takes is `bench`'s figure, not a test's (CI once saw 8 ms here).
        const double round_trip = median_round_trip(pool);
        const int timed = round_trip > 0;
        printf("threadpool: %d threads: a cache line's round trip %.0f ns: %s\n", threads, round_trip, timed ? "ok" : "FAIL");
        failed |= !timed;
        nj_threadpool_destroy(pool);
    }
    nj_threadpool *single = nj_threadpool_create(1);
    if (single) {
        const int none = nj_threadpool_round_trip_ns(single, 200) == 0;
        printf("threadpool: 1 thread: no round trip to time: %s\n", none ? "ok" : "FAIL");
        failed |= !none;
        nj_threadpool_destroy(single);
    }
    failed |= check_split_rule();
    return failed;
}
