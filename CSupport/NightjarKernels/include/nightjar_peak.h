// Measures the CPU's float32 fused multiply-add peak with register-resident loops, for
// `nightjar bench` to report the share of peak the network reaches.
#ifndef NIGHTJAR_PEAK_H
#define NIGHTJAR_PEAK_H

#include <stdint.h>

#include "nightjar_threadpool.h"

#ifdef __cplusplus
extern "C" {
#endif

// Runs `iterations` rounds of independent FMA chains on the widest vector unit available
// within the instruction-set cap (nj_isa_active) and returns the number of multiply-accumulates
// performed (lanes x FMAs). The caller times it.
// `sink` receives a value derived from the result so the work cannot be optimised away.
int64_t nj_f32_fma_peak_run(int64_t iterations, float *sink);

// The same on every thread of `pool` at once; returns the multiply-accumulates of all threads.
int64_t nj_f32_fma_peak_run_parallel(nj_threadpool *pool, int64_t iterations);

// The vector width (in float lanes) the peak loop uses.
int32_t nj_f32_fma_peak_lanes(void);

#ifdef __cplusplus
}
#endif

#endif
