/* What LibRaw knows about where a file's raw data lie but its C API does not expose; read
 * through its C++ interface (raw_extent.cpp). Private to the shims. */
#ifndef NIGHTJAR_RAW_EXTENT_H
#define NIGHTJAR_RAW_EXTENT_H

#include "nightjar_io_shims.h"
#include <libraw/libraw.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fills info's data_offset, data_size, file_size, bits_per_sample and compression. */
void nj_raw_fill_extent(libraw_data_t *lr, nj_raw_info *info);

#ifdef __cplusplus
}
#endif

#endif
