// Counts heap allocations made by the whole process while counting is on. The test binary
// links this file, whose malloc family forwards to glibc's and takes precedence over it.
#ifndef NIGHTJAR_MALLOC_COUNTER_H
#define NIGHTJAR_MALLOC_COUNTER_H

#include <stdint.h>

void nj_malloc_counter_start(void);
// Stops counting and returns the number of allocations since start.
int64_t nj_malloc_counter_stop(void);

#endif
