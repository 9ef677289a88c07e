// The one C++ file of the shims: LibRaw keeps the raw data's offset and size, the raw
// directory's bits per sample and compression, and its input's size in its internal data,
// which only its C++ interface reaches (LibRaw::get_internal_data_pointer). The caller checks
// them for plausibility (RawPlausibility.swift).
#include "raw_extent.h"

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
