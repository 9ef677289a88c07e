// Helpers of the standalone kernel tests (header-only, static inline: each test is one program
// and uses what it needs): buffers against PROT_NONE guard pages and deterministic random
// numbers.
#ifndef NJ_TEST_SUPPORT_H
#define NJ_TEST_SUPPORT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct guarded_map {
    void *map;
    size_t map_size;
} guarded_map;

static guarded_map test_maps[32];
static int test_map_count;

// `bytes` of memory ending at a guard page (guard_before == 0) or starting right after one:
// a read or write past the end (or before the start) faults. Against the end guard the block
// is `bytes` rounded up to `end_align` (1: no byte of slack, for int8 data).
static inline void *guarded_bytes_aligned(size_t bytes, int guard_before, size_t end_align) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t data_pages = (bytes + page - 1) / page;
    const size_t map_size = (data_pages + 2) * page;
    char *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED || test_map_count == 32) {
        perror("mmap");
        exit(2);
    }
    mprotect(map, page, PROT_NONE);
    mprotect(map + (data_pages + 1) * page, page, PROT_NONE);
    test_maps[test_map_count++] = (guarded_map){map, map_size};
    return guard_before ? map + page : map + (data_pages + 1) * page - (bytes + end_align - 1) / end_align * end_align;
}

// Keeps 8-byte alignment for 16- and 32-bit elements whichever end the guard is at.
static inline void *guarded_bytes(size_t bytes, int guard_before) {
    return guarded_bytes_aligned(bytes, guard_before, 8);
}

static inline void guarded_free_all(void) {
    for (int i = 0; i < test_map_count; i++) munmap(test_maps[i].map, test_maps[i].map_size);
    test_map_count = 0;
}

static uint64_t test_rng = 0x9e3779b97f4a7c15ull;
static inline uint32_t rnd32(void) {
    test_rng ^= test_rng << 13;
    test_rng ^= test_rng >> 7;
    test_rng ^= test_rng << 17;
    return (uint32_t)(test_rng >> 16);
}
// [-1, 1)
static inline float rnd_signed_unit(void) {
    return (float)((int32_t)(rnd32() & 0xffffff) - 0x800000) / (float)0x800000;
}
static inline int32_t rnd_int_below(int32_t n) {
    return n <= 0 ? 0 : (int32_t)(rnd32() % (uint32_t)n);
}

#endif
