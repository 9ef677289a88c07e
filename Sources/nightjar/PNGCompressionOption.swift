import ArgumentParser
import Nightjar

/// `--png-compression fast|small|0...9`: how hard the PNG's image data are compressed.
///
/// Chosen by `scripts/bench-png.sh` (README "PNG encoding"): every PNG filter (and the per-row
/// choice) with zlib's default strategy at level 1, Z_FILTERED, Z_RLE, Z_HUFFMAN_ONLY, level 6
/// and the encoder's own Huffman coder, on restored frames (the golden captures and a 12.1 MP
/// synthetic frame, camera and network colour, 8 and 16 bit), per CPU second on the Xeon dev
/// machine (loaded). `fast` (level 1, the default) is Paeth with Huffman coding only, written by
/// the encoder itself: the smallest level-1 files (8-bit: 27.4 % of the raw samples, against
/// 31.9 % for libpng's Up with zlib level 1; 16-bit: 69.0 % against 74.3 %) at 224 MB/s (8-bit;
/// 178 MB/s 16-bit), against 66 MB/s for Up at zlib level 1 and about 50 MB/s for the previous
/// `fast` (Paeth, zlib's Z_HUFFMAN_ONLY). `small` is 6: Paeth with zlib's string matching, each
/// piece kept in whichever of that and `fast`'s coding is smaller (8-bit: 27.2 %, never larger
/// than `fast`) at about 10 MB/s; Up at level 6 is smaller on flat scenes (26.2 %) but not on
/// noisy 16-bit rows. Levels 2-9 as 6, at zlib's level; 0 stores. Since 2026-12-05 `fast` also
/// codes runs of one repeated residual in 8-bit images as matches (README "PNG encoding").
struct PNGCompression: ExpressibleByArgument, Equatable {
    var level: Int

    static let fast = PNGCompression(level: 1)
    static let small = PNGCompression(level: 6)

    init(level: Int) { self.level = level }

    init?(argument: String) {
        guard let level = RestoreOptions.compressionLevel(named: argument) else { return nil }
        self.level = level
    }

    static var allValueStrings: [String] { ["fast", "small", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] }
    var defaultValueDescription: String { self == .fast ? "fast" : self == .small ? "small" : String(level) }
}
