/// Bounds-checked little-endian integer reads. Each returns nil when the field would run past
/// the end of `bytes` (or starts before it), so hostile offsets can never trap.
enum LittleEndian {
    static func read(_ bytes: [UInt8], at offset: Int, width: Int) -> UInt64? {
        guard offset >= 0, width >= 0, width <= 8, width <= bytes.count,
            offset <= bytes.count - width
        else { return nil }
        var value: UInt64 = 0
        for i in 0..<width {
            value |= UInt64(bytes[offset + i]) << UInt64(8 * i)
        }
        return value
    }

    static func u16(_ bytes: [UInt8], at offset: Int) -> Int? {
        read(bytes, at: offset, width: 2).map { Int($0) }
    }

    static func u32(_ bytes: [UInt8], at offset: Int) -> Int? {
        read(bytes, at: offset, width: 4).map { Int($0) }
    }

    /// An unsigned 64-bit field as Int, or nil past the end or above Int.max.
    static func u64(_ bytes: [UInt8], at offset: Int) -> Int? {
        read(bytes, at: offset, width: 8).flatMap { Int(exactly: $0) }
    }
}

/// CRC-32 (ISO 3309 / zip, reflected polynomial 0xEDB88320).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 {
            c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1
        }
        return c
    }

    static func checksum(_ bytes: [UInt8], range: Range<Int>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            bytes.withUnsafeBufferPointer { buffer in
                for i in range {
                    crc = table[Int((crc ^ UInt32(buffer[i])) & 0xff)] ^ (crc >> 8)
                }
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

/// The directory of a zip archive held in memory, read from its central directory (zip64
/// included). Only what PyTorch writes is accepted: single-disk archives, no encryption, every
/// entry STORED (uncompressed). Entry contents are byte ranges of the original buffer.
struct ZipArchive: Sendable {
    struct Entry: Sendable, Equatable {
        var name: String
        /// Where the entry's bytes start in the archive (after its local header).
        var dataOffset: Int
        var size: Int
        var crc32: UInt32

        var range: Range<Int> { dataOffset..<(dataOffset + size) }
    }

    /// Entries in central-directory order.
    let entries: [Entry]
    private let byName: [String: Int]

    func entry(named name: String) -> Entry? {
        byName[name].map { entries[$0] }
    }

    private static let localHeaderSignature = 0x0403_4b50
    private static let centralHeaderSignature = 0x0201_4b50
    private static let endOfCentralDirectorySignature = 0x0605_4b50
    private static let zip64EndSignature = 0x0606_4b50
    private static let zip64LocatorSignature = 0x0706_4b50
    /// Sanity cap on the number of entries (a torch checkpoint has one per tensor plus a few).
    static let maxEntries = 1 << 20

    init(bytes: [UInt8], path: String) throws {
        func damaged(_ reason: String) -> CheckpointError {
            .malformedArchive(path: path, reason: reason)
        }

        // End of central directory: 22 bytes plus a comment of at most 65535 bytes, at the end.
        guard bytes.count >= 22 else {
            throw CheckpointError.truncated(
                path: path, what: "the file is too short (\(bytes.count) bytes) to be a zip archive",
                offset: bytes.count)
        }
        var eocd: Int? = nil
        var candidate = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while candidate >= lowest {
            if LittleEndian.u32(bytes, at: candidate) == Self.endOfCentralDirectorySignature,
                let commentLength = LittleEndian.u16(bytes, at: candidate + 20),
                candidate + 22 + commentLength == bytes.count
            {
                eocd = candidate
                break
            }
            candidate -= 1
        }
        guard let eocd else {
            throw CheckpointError.truncated(
                path: path,
                what: "the zip end-of-central-directory record is missing (the end of the file is cut off)",
                offset: bytes.count)
        }
        guard let diskNumber = LittleEndian.u16(bytes, at: eocd + 4),
            let centralDisk = LittleEndian.u16(bytes, at: eocd + 6),
            let entriesOnDisk = LittleEndian.u16(bytes, at: eocd + 8),
            var entryCount = LittleEndian.u16(bytes, at: eocd + 10),
            var directorySize = LittleEndian.u32(bytes, at: eocd + 12),
            var directoryOffset = LittleEndian.u32(bytes, at: eocd + 16)
        else { throw damaged("end-of-central-directory record is cut short") }

        // Zip64: any saturated field means the real values live in the zip64 record, found
        // through the locator that sits immediately before the classic record.
        let needsZip64 = entryCount == 0xFFFF || entriesOnDisk == 0xFFFF
            || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF
            || diskNumber == 0xFFFF || centralDisk == 0xFFFF
        if needsZip64 {
            let locator = eocd - 20
            guard locator >= 0, LittleEndian.u32(bytes, at: locator) == Self.zip64LocatorSignature,
                let recordOffset = LittleEndian.u64(bytes, at: locator + 8)
            else { throw damaged("zip64 fields are saturated but the zip64 locator is missing") }
            guard recordOffset <= bytes.count,
                LittleEndian.u32(bytes, at: recordOffset) == Self.zip64EndSignature,
                let disk64 = LittleEndian.u32(bytes, at: recordOffset + 16),
                let centralDisk64 = LittleEndian.u32(bytes, at: recordOffset + 20),
                let count64 = LittleEndian.u64(bytes, at: recordOffset + 32),
                let size64 = LittleEndian.u64(bytes, at: recordOffset + 40),
                let offset64 = LittleEndian.u64(bytes, at: recordOffset + 48)
            else {
                throw damaged("zip64 end-of-central-directory record at byte \(recordOffset) is invalid")
            }
            guard disk64 == 0, centralDisk64 == 0 else {
                throw damaged("multi-disk (split) archives are not supported")
            }
            entryCount = count64
            directorySize = size64
            directoryOffset = offset64
        } else {
            guard diskNumber == 0, centralDisk == 0, entriesOnDisk == entryCount else {
                throw damaged("multi-disk (split) archives are not supported")
            }
        }
        guard entryCount <= Self.maxEntries else {
            throw damaged("\(entryCount) entries is more than the \(Self.maxEntries) allowed")
        }
        guard directoryOffset <= bytes.count, directorySize <= bytes.count - directoryOffset else {
            throw CheckpointError.truncated(
                path: path,
                what: "the zip central directory (\(directorySize) bytes) runs past the end of the file",
                offset: directoryOffset)
        }
        let directoryEnd = directoryOffset + directorySize

        var entries: [Entry] = []
        var byName: [String: Int] = [:]
        var position = directoryOffset
        for index in 0..<entryCount {
            guard position <= directoryEnd - 46,
                LittleEndian.u32(bytes, at: position) == Self.centralHeaderSignature,
                let flags = LittleEndian.u16(bytes, at: position + 8),
                let method = LittleEndian.u16(bytes, at: position + 10),
                let crc = LittleEndian.u32(bytes, at: position + 16),
                let compressedSize32 = LittleEndian.u32(bytes, at: position + 20),
                let size32 = LittleEndian.u32(bytes, at: position + 24),
                let nameLength = LittleEndian.u16(bytes, at: position + 28),
                let extraLength = LittleEndian.u16(bytes, at: position + 30),
                let commentLength = LittleEndian.u16(bytes, at: position + 32),
                let startDisk = LittleEndian.u16(bytes, at: position + 34),
                let localOffset32 = LittleEndian.u32(bytes, at: position + 42)
            else {
                throw damaged("central directory entry \(index) at byte \(position) is invalid")
            }
            let headerEnd = position + 46 + nameLength + extraLength + commentLength
            guard headerEnd <= directoryEnd else {
                throw damaged("central directory entry \(index) at byte \(position) runs past the directory")
            }
            let nameStart = position + 46
            let name = String(decoding: bytes[nameStart..<(nameStart + nameLength)], as: UTF8.self)

            // Zip64 extended information (header 0x0001): 8-byte values, present only for the
            // fields that are saturated, in this order.
            var size = size32
            var compressedSize = compressedSize32
            var localOffset = localOffset32
            if size32 == 0xFFFF_FFFF || compressedSize32 == 0xFFFF_FFFF
                || localOffset32 == 0xFFFF_FFFF || startDisk == 0xFFFF
            {
                var field = nameStart + nameLength
                let extraEnd = field + extraLength
                var found = false
                while field <= extraEnd - 4 {
                    guard let id = LittleEndian.u16(bytes, at: field),
                        let length = LittleEndian.u16(bytes, at: field + 2),
                        length <= extraEnd - field - 4
                    else { break }
                    if id == 0x0001 {
                        var cursor = field + 4
                        let end = cursor + length
                        func next() throws -> Int {
                            guard cursor <= end - 8, let value = LittleEndian.u64(bytes, at: cursor) else {
                                throw damaged("zip64 extra field of entry '\(name)' is too short")
                            }
                            cursor += 8
                            return value
                        }
                        if size32 == 0xFFFF_FFFF { size = try next() }
                        if compressedSize32 == 0xFFFF_FFFF { compressedSize = try next() }
                        if localOffset32 == 0xFFFF_FFFF { localOffset = try next() }
                        found = true
                        break
                    }
                    field += 4 + length
                }
                guard found else {
                    throw damaged("entry '\(name)' has saturated sizes but no zip64 extra field")
                }
            }
            guard startDisk == 0 || startDisk == 0xFFFF else {
                throw damaged("entry '\(name)' lives on disk \(startDisk); split archives are not supported")
            }
            if flags & 0x0001 != 0 {
                throw damaged("entry '\(name)' is encrypted")
            }
            guard method == 0 else {
                throw CheckpointError.compressedEntry(path: path, entry: name, method: method)
            }
            guard compressedSize == size else {
                throw damaged("stored entry '\(name)' has compressed size \(compressedSize) "
                    + "different from its size \(size)")
            }

            // The local header repeats the name and may carry a different extra field (torch pads
            // it so that tensor data is 64-byte aligned): the data starts after both.
            guard localOffset <= bytes.count,
                LittleEndian.u32(bytes, at: localOffset) == Self.localHeaderSignature,
                let localNameLength = LittleEndian.u16(bytes, at: localOffset + 26),
                let localExtraLength = LittleEndian.u16(bytes, at: localOffset + 28)
            else {
                throw damaged("entry '\(name)': no local header at byte \(localOffset)")
            }
            let localNameStart = localOffset + 30
            let dataOffset = localNameStart + localNameLength + localExtraLength
            guard dataOffset <= bytes.count, size <= bytes.count - dataOffset else {
                throw CheckpointError.truncated(
                    path: path, what: "zip entry '\(name)' (\(size) bytes) runs past the end of the file",
                    offset: dataOffset)
            }
            guard bytes[localNameStart..<(localNameStart + localNameLength)].elementsEqual(
                bytes[nameStart..<(nameStart + nameLength)])
            else {
                throw damaged("entry '\(name)': local header at byte \(localOffset) names a different file")
            }
            guard byName[name] == nil else {
                throw damaged("entry '\(name)' appears twice")
            }
            byName[name] = entries.count
            entries.append(Entry(name: name, dataOffset: dataOffset, size: size, crc32: UInt32(crc)))
            position = headerEnd
        }
        self.entries = entries
        self.byName = byName
    }

    /// The byte range of an entry after checking its CRC-32.
    static func verifiedRange(of entry: Entry, in bytes: [UInt8], path: String) throws -> Range<Int> {
        let actual = CRC32.checksum(bytes, range: entry.range)
        guard actual == entry.crc32 else {
            throw CheckpointError.checksumMismatch(
                path: path, entry: entry.name, expected: entry.crc32, actual: actual)
        }
        return entry.range
    }
}
