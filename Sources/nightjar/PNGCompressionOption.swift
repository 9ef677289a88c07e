import ArgumentParser
import Nightjar

/// `--png-compression fast|small|0...9`: the zlib level of the PNG's image data.
///
/// Measured with the "up" filter the encoder uses, on the golden captures' restored 8-bit
/// images (512x768, noisy like every restored dark frame), per second of CPU time on the Xeon
/// dev machine: level 1 writes 39 % of the raw size at 64-78 MB/s, level 6 33 % at 10-12 MB/s,
/// level 9 32 % at about 1 MB/s (the noise defeats its long match searches). So `fast` is 1,
/// the default, and `small` is 6: 15 % smaller files for about 6x the encoding time.
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
