import Glibc

/// Plausibility of a DNG's structure, checked before LibRaw reads it. LibRaw 0.20 accepts
/// DNGs whose pixel data lie past the end of the file (a shifted image with garbage rows),
/// whose compression contradicts the data (black), whose bits per sample are 0 (noise) or
/// whose white level is 0, and it reads uninitialised memory on some damaged IFDs, so that the
/// same file is restored or refused by chance. These checks make such files a clear, stable
/// error instead:
///
/// - the TIFF header and every IFD of the main chain and of SubIFDs lie inside the file, and
///   every out-of-line value of theirs too (at most 64 IFDs, no cycles);
/// - for the raw image (NewSubfileType 0, CFA or LinearRaw): width and height positive,
///   BitsPerSample 1...16, strip or tile offsets and byte counts present, equal in number and
///   inside the file; uncompressed data (Compression 1) as many bytes as the image needs;
///   lossless JPEG data (Compression 7) starting with a JPEG start-of-image marker;
/// - WhiteLevel above 0 and above every BlackLevel.
///
/// Files that are not TIFF-based DNGs (no DNGVersion in IFD0) are left to LibRaw.
enum DNGStructure {
    /// Throws `CaptureError.corrupt` for an implausible DNG, and `tooLarge` for a raw image of
    /// more than `maxPixels` (0: no limit) before the data are looked at, as LibRaw would.
    static func check(fd: Int32, fileSize: Int, path: String, maxPixels: Int = 0) throws {
        var reader = Reader(fd: fd, size: fileSize)
        guard let magic = reader.bytes(at: 0, count: 4) else { return }
        switch (magic[0], magic[1], magic[2], magic[3]) {
        case (0x49, 0x49, 42, 0): reader.bigEndian = false
        case (0x4D, 0x4D, 0, 42): reader.bigEndian = true
        default: return // not TIFF-based
        }
        func corrupt(_ reason: String) -> CaptureError { .corrupt(path: path, reason: reason) }
        guard let first = reader.u32(at: 4) else { throw corrupt("the TIFF header is cut short") }

        var ifds: [[UInt16: Entry]] = []
        var visited = Set<Int>()
        var pending = [Int(first)]
        var isDNG = false
        while let offset = pending.popLast() {
            guard offset != 0 else { continue }
            guard visited.insert(offset).inserted else { throw corrupt("the TIFF directories form a loop at byte \(offset)") }
            guard visited.count <= 64 else { throw corrupt("more than 64 TIFF directories") }
            guard let count = reader.u16(at: offset), offset + 2 + 12 * Int(count) + 4 <= fileSize else {
                throw corrupt("a TIFF directory at byte \(offset) runs past the end of the \(fileSize)-byte file")
            }
            var entries: [UInt16: Entry] = [:]
            for index in 0..<Int(count) {
                let at = offset + 2 + 12 * index
                let tag = reader.u16(at: at)!, type = reader.u16(at: at + 2)!, n = Int(reader.u32(at: at + 4)!)
                guard let size = Entry.typeSize(type) else { continue } // unknown types are skipped, as TIFF says
                let (bytes, overflow) = n.multipliedReportingOverflow(by: size)
                let valueOffset = bytes <= 4 ? at + 8 : Int(reader.u32(at: at + 8)!)
                guard !overflow, valueOffset <= fileSize, bytes <= fileSize - valueOffset else {
                    throw corrupt("TIFF tag \(tag) points past the end of the file")
                }
                entries[tag] = Entry(type: type, count: n, offset: valueOffset)
            }
            if ifds.isEmpty { isDNG = entries[50706] != nil }
            ifds.append(entries)
            if let next = reader.u32(at: offset + 2 + 12 * Int(count)) { pending.append(Int(next)) }
            if let sub = entries[330] {
                for i in 0..<min(sub.count, 64) { if let v = reader.value(sub, i) { pending.append(v) } }
            }
        }
        guard isDNG else { return }

        let white = ifds.first.flatMap { $0[50717] }
        for entries in ifds {
            let subfile = entries[254].flatMap { reader.value($0, 0) } ?? 0
            let photometric = entries[262].flatMap { reader.value($0, 0) } ?? 0
            guard subfile == 0, photometric == 32803 || photometric == 34892 else { continue }
            guard let width = entries[256].flatMap({ reader.value($0, 0) }), let height = entries[257].flatMap({ reader.value($0, 0) }),
                  width > 0, height > 0 else { throw corrupt("the raw image has no width or height") }
            let pixels = width.multipliedReportingOverflow(by: height)
            if maxPixels > 0, pixels.overflow || pixels.partialValue > maxPixels {
                throw CaptureError.tooLarge(path: path, pixels: pixels.overflow ? Int.max : pixels.partialValue, limit: maxPixels)
            }
            let samples = max(entries[277].flatMap { reader.value($0, 0) } ?? 1, 1)
            let bits = entries[258].map { (0..<$0.count).compactMap { i in reader.value(entries[258]!, i) } } ?? [1]
            guard let depth = bits.first, bits.allSatisfy({ (1...16).contains($0) }) else {
                throw corrupt("bits per sample \(bits.map(String.init).joined(separator: ",")) is outside 1...16")
            }
            let compression = entries[259].flatMap { reader.value($0, 0) } ?? 1
            let tiled = entries[324] != nil
            guard let offsetsEntry = entries[tiled ? 324 : 273], let countsEntry = entries[tiled ? 325 : 279],
                  offsetsEntry.count == countsEntry.count, offsetsEntry.count > 0 else {
                throw corrupt("the raw image's \(tiled ? "tile" : "strip") offsets and byte counts are missing or differ in number")
            }
            var total = 0
            for i in 0..<offsetsEntry.count {
                guard let start = reader.value(offsetsEntry, i), let length = reader.value(countsEntry, i),
                      start <= fileSize, length <= fileSize - start else {
                    throw corrupt("the raw image's data (\(tiled ? "tile" : "strip") \(i)) lie past the end of the \(fileSize)-byte file")
                }
                total += length
                if compression == 7 {
                    guard length >= 2, reader.bytes(at: start, count: 2) == [0xFF, 0xD8] else {
                        throw corrupt("Compression 7 (lossless JPEG) but \(tiled ? "tile" : "strip") \(i) holds no JPEG data")
                    }
                }
            }
            if compression == 1 {
                let needed = width.multipliedReportingOverflow(by: height)
                let bytesNeeded = needed.partialValue.multipliedReportingOverflow(by: samples * depth)
                guard !needed.overflow, !bytesNeeded.overflow, total >= (bytesNeeded.partialValue + 7) / 8 else {
                    throw corrupt("uncompressed \(width)x\(height) \(depth)-bit data need more than the \(total) bytes the file holds")
                }
            }
            let whiteEntry = entries[50717] ?? white
            if let whiteEntry {
                let levels = (0..<min(whiteEntry.count, 4)).compactMap { reader.value(whiteEntry, $0) }
                let blacks = entries[50714].map { entry in (0..<min(entry.count, 64)).compactMap { reader.number(entry, $0) } } ?? []
                guard levels.allSatisfy({ $0 > 0 && Double($0) > (blacks.max() ?? 0) }) else {
                    throw corrupt("white level \(levels.map(String.init).joined(separator: ",")) is not above the black level")
                }
            }
        }
    }

    struct Entry {
        var type: UInt16
        var count: Int
        var offset: Int

        static func typeSize(_ type: UInt16) -> Int? {
            switch type {
            case 1, 2, 6, 7: return 1
            case 3, 8: return 2
            case 4, 9, 11, 13: return 4
            case 5, 10, 12: return 8
            default: return nil
            }
        }
    }

    /// Bounds-checked reads at absolute offsets (pread: the file position is not used).
    struct Reader {
        let fd: Int32
        let size: Int
        var bigEndian = false

        func bytes(at offset: Int, count: Int) -> [UInt8]? {
            guard offset >= 0, count >= 0, offset <= size - count else { return nil }
            var buffer = [UInt8](repeating: 0, count: count)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n == count ? buffer : nil
        }

        func u16(at offset: Int) -> UInt16? {
            bytes(at: offset, count: 2).map { bigEndian ? UInt16($0[0]) << 8 | UInt16($0[1]) : UInt16($0[1]) << 8 | UInt16($0[0]) }
        }

        func u32(at offset: Int) -> UInt32? {
            bytes(at: offset, count: 4).map { b in
                let v = bigEndian ? [b[0], b[1], b[2], b[3]] : [b[3], b[2], b[1], b[0]]
                return v.reduce(0) { $0 << 8 | UInt32($1) }
            }
        }

        /// Element `index` of an integer entry (BYTE, SHORT, LONG), or nil.
        func value(_ entry: Entry, _ index: Int) -> Int? {
            guard index < entry.count else { return nil }
            switch entry.type {
            case 1: return bytes(at: entry.offset + index, count: 1).map { Int($0[0]) }
            case 3: return u16(at: entry.offset + 2 * index).map(Int.init)
            case 4, 13: return u32(at: entry.offset + 4 * index).map(Int.init)
            default: return nil
            }
        }

        /// Element `index` of an integer or RATIONAL entry as a number, or nil.
        func number(_ entry: Entry, _ index: Int) -> Double? {
            guard index < entry.count else { return nil }
            if entry.type == 5, let n = u32(at: entry.offset + 8 * index), let d = u32(at: entry.offset + 8 * index + 4), d != 0 {
                return Double(n) / Double(d)
            }
            return value(entry, index).map(Double.init)
        }
    }
}
