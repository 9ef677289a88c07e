// Helpers of the standalone kernel tests (header-only: each test is one program): buffers
// against PROT_NONE guard pages and deterministic random numbers.
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
// a read or write past the end (or before the start) faults.
static void *guarded_bytes(size_t bytes, int guard_before) {
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
    // Keeps 2-byte alignment for 16-bit elements whichever end the guard is at.
    return guard_before ? map + page : map + (data_pages + 1) * page - ((bytes + 7) & ~(size_t)7);
}

static void guarded_free_all(void) {
    for (int i = 0; i < test_map_count; i++) munmap(test_maps[i].map, test_maps[i].map_size);
    test_map_count = 0;
}

static uint64_t test_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd32(void) {
    test_rng ^= test_rng << 13;
    test_rng ^= test_rng >> 7;
    test_rng ^= test_rng << 17;
    return (uint32_t)(test_rng >> 16);
}
// [-1, 1)
static float rnd_signed_unit(void) {
    return (float)((int32_t)(rnd32() & 0xffffff) - 0x800000) / (float)0x800000;
}
static int32_t rnd_int_below(int32_t n) {
    return n <= 0 ? 0 : (int32_t)(rnd32() % (uint32_t)n);
}

#endif
