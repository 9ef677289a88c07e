import NightjarIOShims

/// Plausibility of what LibRaw read from a file of any RAW format (ARW, NEF, CR2, ..., and DNG
/// after `DNGStructure`'s checks), looked at before a pixel is taken. LibRaw 0.20 restores
/// some damaged or crafted files into a wrong image without an error: 12-bit packed data cut
/// short or starting late by a few rows decode as zeros or as another part of the file. Such a
/// file becomes a clear `CaptureError.corrupt` instead:
///
/// - the readout and the visible area have positive sides, the visible area lies inside the
///   readout and holds at least one 2x2 colour quad;
/// - the raw data start inside the file and, where the file declares their byte count (the
///   raw directory's strip byte count), end inside it; a DNG's every strip and tile was already
///   checked exactly by `DNGStructure`, whose check LibRaw's single count cannot improve;
/// - bits per sample 1...16 where the format records them (0: not TIFF-based);
/// - a white level of 1...65535 (the caller also needs it above every black level).
enum RawPlausibility {
    /// Why `info` (filled by the decoder after unpacking) cannot describe a real capture, or nil.
    static func problem(_ info: nj_raw_info) -> String? {
        let (rawWidth, rawHeight) = (Int(info.raw_width), Int(info.raw_height))
        let (width, height) = (Int(info.width), Int(info.height))
        let (top, left) = (Int(info.top_margin), Int(info.left_margin))
        guard rawWidth > 0, rawHeight > 0, width >= 2, height >= 2, top >= 0, left >= 0,
              top + height <= rawHeight, left + width <= rawWidth else {
            return "the visible area of \(width) x \(height) pixels at (\(left), \(top)) does not fit a readout of \(rawWidth) x \(rawHeight)"
        }
        let fileSize = Int64(info.file_size), offset = Int64(info.data_offset), count = Int64(info.data_size)
        if fileSize > 0 {
            guard offset >= 0, offset < fileSize else {
                return "the raw data start at byte \(offset), past the end of the \(fileSize)-byte file (truncated or damaged)"
            }
            if info.dng_version == 0, count > 0, count > fileSize - offset {
                return "the raw data (\(count) bytes from byte \(offset)) lie past the end of the \(fileSize)-byte file (truncated or damaged)"
            }
        }
        guard info.bits_per_sample <= 16 else {
            return "bits per sample \(info.bits_per_sample) is outside 1...16"
        }
        guard (1...65535).contains(info.maximum) else {
            return "white level \(info.maximum) is outside 1...65535"
        }
        return nil
    }
}
