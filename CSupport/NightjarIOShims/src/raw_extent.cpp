// The one C++ file of the shims: LibRaw keeps the raw data's offset and size, the raw
// directory's bits per sample and compression, and its input's size in its internal data,
// which only its C++ interface reaches (LibRaw::get_internal_data_pointer). The caller checks
// them for plausibility (RawPlausibility.swift), and the decoder child reads a plain DNG's
// samples from the file where they are what unpacking would copy (nj_raw_samples_are_plain).
#include "raw_extent.h"

#include <climits>
#include <cstring>

extern "C" void nj_raw_fill_extent(libraw_data_t *lr, nj_raw_info *info) {
    LibRaw *owner = static_cast<LibRaw *>(lr->parent_class);
    if (!owner) return;
    const libraw_internal_data_t *internal = owner->get_internal_data_pointer();
    const unpacker_data_t &unpacker = internal->unpacker_data;
    info->data_offset = (long long)unpacker.data_offset;
    info->data_size = (long long)unpacker.data_size;
    info->bits_per_sample = unpacker.tiff_bps;
    info->compression = unpacker.tiff_compress;
    LibRaw_abstract_datastream *input = internal->internal_data.input;
    info->file_size = input ? (long long)input->size() : -1;
}

extern "C" int nj_raw_samples_are_plain(libraw_data_t *lr, int *swap) {
    LibRaw *owner = static_cast<LibRaw *>(lr->parent_class);
    if (!owner || lr->idata.dng_version == 0 || lr->idata.filters < 1000 || lr->idata.colors != 3) return 0;
    libraw_decoder_info_t decoder;
    if (libraw_get_decoder_info(lr, &decoder) != LIBRAW_SUCCESS || !decoder.decoder_name ||
        std::strcmp(decoder.decoder_name, "packed_dng_load_raw()") != 0) {
        return 0;
    }
    const libraw_internal_data_t *internal = owner->get_internal_data_pointer();
    const unpacker_data_t &unpacker = internal->unpacker_data;
    // Tiles are read through an offset table; other depths are bit-packed.
    if (unpacker.tiff_bps != 16 || unpacker.tiff_samples != 1 || unpacker.tile_length != (unsigned)INT_MAX) return 0;
    if (lr->params.shot_select != 0) return 0;
    for (int m = 0; m < 8; m++) {
        for (int k = 0; k < 4; k++) {
            if (lr->sizes.mask[m][k] != 0) return 0;
        }
    }
    for (unsigned v = 0; v < 0x10000; v++) {
        if (lr->color.curve[v] != v) return 0;
    }
    LibRaw_abstract_datastream *input = internal->internal_data.input;
    long long size = input ? (long long)input->size() : -1;
    long long bytes = 2LL * lr->sizes.raw_width * lr->sizes.raw_height;
    if (unpacker.data_offset < 0 || size < 0 || unpacker.data_offset > size || bytes > size - unpacker.data_offset) return 0;
    if (unpacker.order != 0x4949 && unpacker.order != 0x4d4d) return 0;
    const uint16_t probe = 1;
    const bool little_host = *(const unsigned char *)&probe == 1;
    *swap = (unpacker.order == 0x4949) != little_host;
    return 1;
}
