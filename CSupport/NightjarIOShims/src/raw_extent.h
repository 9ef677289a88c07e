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

/* Whether LibRaw's unpacking of an opened file would copy its samples unchanged: a DNG whose
 * raw data are one untiled run of 16-bit samples, one per pixel, row after row from
 * `data_offset`, with no linearisation curve and no masked areas (whose pixels would set the
 * black levels), all inside the file. Then `*swap` says whether they are big-endian. */
int nj_raw_samples_are_plain(libraw_data_t *lr, int *swap);

#ifdef __cplusplus
}
#endif

#endif
