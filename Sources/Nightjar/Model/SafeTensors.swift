import FoundationEssentials

/// The safetensors container: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, an optional `__metadata__` map of strings, then the data.
/// Float32, float16 (IEEE binary16, for FP16 weights), int8 (quantised weights) and int32
/// tensors are written and accepted, little-endian as the format defines.
public struct SafeTensorsFile: Sendable {
    /// The element types Nightjar reads and writes, by their safetensors names.
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", i8 = "I8", i32 = "I32"

        public var size: Int {
            switch self {
            case .f32, .i32: return 4
            case .f16: return 2
            case .i8: return 1
            }
        }
    }

    public struct Tensor: Sendable, Equatable {
        /// The elements, in their stored type (F16 as binary16 bit patterns).
        public enum Storage: Sendable, Equatable {
            case f32([Float]), f16([UInt16]), i8([Int8]), i32([Int32])
        }

        public var shape: [Int]
        public var storage: Storage

        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            storage = .f32(values)
        }

        public init(shape: [Int], storage: Storage) {
            self.shape = shape
            self.storage = storage
        }

        public var dtype: DType {
            switch storage {
            case .f32: return .f32
            case .f16: return .f16
            case .i8: return .i8
            case .i32: return .i32
            }
        }

        public var count: Int {
            switch storage {
            case .f32(let v): return v.count
            case .f16(let v): return v.count
            case .i8(let v): return v.count
            case .i32(let v): return v.count
            }
        }

        /// The elements as float32: F16 widened exactly, integers converted (exact for I8 and
        /// for I32 up to 2^24). Setting makes the tensor F32.
        public var values: [Float] {
            get {
                switch storage {
                case .f32(let v): return v
                case .f16(let v): return v.map { Float(Float16(bitPattern: $0)) }
                case .i8(let v): return v.map { Float($0) }
                case .i32(let v): return v.map { Float($0) }
                }
            }
            set { storage = .f32(newValue) }
        }

        /// The integer elements of an I8 or I32 tensor (nil for floating-point ones).
        public var integers: [Int32]? {
            switch storage {
            case .i8(let v): return v.map { Int32($0) }
            case .i32(let v): return v
            case .f32, .f16: return nil
            }
        }

        /// Appends the elements' little-endian bytes.
        func appendBytes(to out: inout [UInt8]) {
            switch storage {
            case .f32(let v): for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { out += $0 } }
            case .f16(let v): for x in v { withUnsafeBytes(of: x.littleEndian) { out += $0 } }
            case .i8(let v): for x in v { out.append(UInt8(bitPattern: x)) }
            case .i32(let v): for x in v { withUnsafeBytes(of: x.littleEndian) { out += $0 } }
            }
        }

        /// Decodes `count` little-endian elements of `dtype` from `bytes`.
        static func decode(_ dtype: DType, count: Int, from bytes: UnsafeRawBufferPointer) -> Storage {
            func load<T: FixedWidthInteger>(_: T.Type) -> [T] {
                (0..<count).map { T(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
            }
            switch dtype {
            case .f32: return .f32(load(UInt32.self).map { Float(bitPattern: $0) })
            case .f16: return .f16(load(UInt16.self))
            case .i8: return .i8(load(Int8.self))
            case .i32: return .i32(load(Int32.self))
            }
        }
    }

    public var metadata: [String: String]
    public var tensors: [String: Tensor]

    public init(metadata: [String: String], tensors: [String: Tensor]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    /// The largest header accepted: real headers are a few kilobytes.
    static let maximumHeaderBytes = 16 << 20
    /// The largest model file read: 256 MiB, 80 times the largest network's 3.1 MB (8 blocks of
    /// 8 dense layers at FP32 stay far below it).
    public static let maximumFileBytes = 256 << 20

    /// The file's bytes, with its content digest recorded in the metadata (`ContentDigest`):
    /// every model file Nightjar writes goes through here.
    public func encoded() throws -> [UInt8] {
        let metadata = withContentDigest().metadata
        var header: [String: JSONValue] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let tensor = tensors[name]!
            let bytes = tensor.count * tensor.dtype.size
            header[name] = .object([
                "dtype": .string(tensor.dtype.rawValue),
                "shape": .array(tensor.shape.map { .integer($0) }),
                "data_offsets": .array([.integer(offset), .integer(offset + bytes)]),
            ])
            offset += bytes
        }
        header["__metadata__"] = .object(metadata.mapValues { .string($0) })
        var json = try JSONValue.object(header).compactJSON(keyPrecedes: Self.headerKeyPrecedes)
        // Pad with spaces so the data starts 8-byte aligned, as the format recommends.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        out += json
        for name in names {
            tensors[name]!.appendBytes(to: &out)
        }
        return out
    }

    public static func read(contentsOf url: URL) throws -> SafeTensorsFile {
        let bytes: [UInt8]
        do {
            // Read, not mapped: a model file rewritten while it loads must not fault the process.
            bytes = try FileContents.bytes(atPath: url.path, maximumBytes: maximumFileBytes)
        } catch {
            throw ModelFileError.unreadable(path: url.path, reason: error.description)
        }
        return try parse(bytes, path: url.path)
    }

    public static func parse(_ bytes: [UInt8], path: String) throws -> SafeTensorsFile {
        try bytes.withUnsafeBytes { try parse($0, path: path) }
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> SafeTensorsFile {
        guard bytes.count >= 8 else {
            throw ModelFileError.malformed(path: path, reason: "file is \(bytes.count) bytes, too short for a safetensors header")
        }
        let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(maximumHeaderBytes), 8 + Int(headerLength) <= bytes.count else {
            throw ModelFileError.malformed(
                path: path,
                reason: "header length \(headerLength) does not fit in a \(bytes.count)-byte file (truncated or not a safetensors file)")
        }
        let dataStart = 8 + Int(headerLength)
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart]))
        } catch {
            throw ModelFileError.malformed(path: path, reason: "header is not valid JSON")
        }
        guard let header = parsed.objectValue else {
            throw ModelFileError.malformed(path: path, reason: "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let fields = raw.objectValue, case let strings = fields.compactMapValues(\.stringValue),
                  strings.count == fields.count else {
                throw ModelFileError.malformed(path: path, reason: "__metadata__ must map strings to strings")
            }
            metadata = strings
        }
        let dataLength = bytes.count - dataStart
        var tensors: [String: Tensor] = [:]
        var ranges: [(Int, Int, String)] = []
        // By name, so that a file with several faults always reports the same one.
        for (name, entry) in header.sorted(by: { $0.key < $1.key }) where name != "__metadata__" {
            guard let fields = entry.objectValue,
                  let dtype = fields["dtype"]?.stringValue,
                  let shape = fields["shape"].flatMap(Self.integers),
                  let offsets = fields["data_offsets"].flatMap(Self.integers), offsets.count == 2
            else {
                throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "entry lacks dtype, shape or data_offsets")
            }
            guard let type = DType(rawValue: dtype) else {
                throw ModelFileError.malformedTensor(
                    path: path, tensor: name,
                    reason: "dtype \(dtype) is not supported (expected \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 24 }), begin >= 0, begin <= end else {
                throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "bad shape \(shape) or offsets \(offsets)")
            }
            guard end <= dataLength else {
                throw ModelFileError.malformedTensor(
                    path: path, tensor: name,
                    reason: "data ends at byte \(end) but the file holds \(dataLength) data bytes (truncated?)")
            }
            // Checked: a hostile shape's element count can overflow (e.g. [2^22, 2^20, 2^20] * 4).
            guard let count = Self.elementCount(shape), count <= dataLength / type.size else {
                throw ModelFileError.malformedTensor(
                    path: path, tensor: name, reason: "shape \(shape) holds more values than the \(dataLength)-byte data section")
            }
            guard end - begin == count * type.size else {
                throw ModelFileError.malformedTensor(
                    path: path, tensor: name, reason: "shape \(shape) of \(dtype) needs \(count * type.size) bytes, offsets give \(end - begin)")
            }
            let data = UnsafeRawBufferPointer(rebasing: bytes[(dataStart + begin)..<(dataStart + end)])
            tensors[name] = Tensor(shape: shape, storage: Tensor.decode(type, count: count, from: data))
            ranges.append((begin, end, name))
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 {
            throw ModelFileError.malformedTensor(path: path, tensor: b.2, reason: "data overlaps tensor \(a.2)")
        }
        return SafeTensorsFile(metadata: metadata, tensors: tensors)
    }

    /// The product of `shape`, or nil when it overflows Int.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// A JSON array of whole numbers as [Int], or nil.
    private static func integers(_ value: JSONValue) -> [Int]? {
        guard let elements = value.arrayValue else { return nil }
        let numbers = elements.compactMap(\.integerValue)
        return numbers.count == elements.count ? numbers : nil
    }

    /// The order of keys in the headers Nightjar writes. Models converted so far list keys as
    /// Foundation's JSONSerialization sorted them, which is a collation rather than byte order
    /// ("conv_2_8_32" before "conv2x" before "conv32x"), and a checkpoint converted again must
    /// give the same bytes, so the header keeps that order: runs of digits compare as numbers
    /// (equal numbers: fewer leading zeros first); other characters by their rank in the
    /// collation (space, punctuation with "_" first, digits, then letters, case ignored); a key
    /// that is a prefix of another comes first; keys differing only in letter case, lower case
    /// first where they first differ. Checked against Foundation for keys of letters, digits,
    /// "_", "." and "-"; other punctuation and non-ASCII, which Nightjar never writes, may be
    /// ordered differently.
    static func headerKeyPrecedes(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var i = 0, j = 0
        var fewerLeadingZeros: Bool?
        while i < x.count, j < y.count {
            if isDigit(x[i]), isDigit(y[j]) {
                let xEnd = x[i...].firstIndex { !isDigit($0) } ?? x.count
                let yEnd = y[j...].firstIndex { !isDigit($0) } ?? y.count
                let xDigits = x[i..<xEnd].drop { $0 == UInt8(ascii: "0") }
                let yDigits = y[j..<yEnd].drop { $0 == UInt8(ascii: "0") }
                if xDigits.count != yDigits.count { return xDigits.count < yDigits.count }
                if !xDigits.elementsEqual(yDigits) { return xDigits.lexicographicallyPrecedes(yDigits) }
                if fewerLeadingZeros == nil, xEnd - i != yEnd - j { fewerLeadingZeros = xEnd - i < yEnd - j }
                (i, j) = (xEnd, yEnd)
            } else {
                let (p, q) = (collationRank(x[i]), collationRank(y[j]))
                if p != q { return p < q }
                i += 1
                j += 1
            }
        }
        // A key that ran out first is a prefix of the other.
        if i < x.count || j < y.count { return i == x.count }
        if let fewerLeadingZeros { return fewerLeadingZeros }
        // Equal but for letter case: lower case first where they first differ.
        guard let k = x.indices.first(where: { x[$0] != y[$0] }) else { return false }
        return x[k] > y[k]
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// Printable ASCII in the collation's order, digits standing for all numbers and each
    /// letter for both its cases.
    private static let collationOrder = Array(#" _-,;:!?.'"()[]{}@*/\&#%`^+<=>|~$0abcdefghijklmnopqrstuvwxyz"#.utf8)

    private static let collationRanks: [Int] = {
        var ranks = [Int](repeating: 0, count: 256)
        for byte in 0..<256 {
            let folded = isDigit(UInt8(byte)) ? UInt8(ascii: "0")
                : (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(UInt8(byte)) ? UInt8(byte) + 32 : UInt8(byte)
            if let rank = collationOrder.firstIndex(of: folded) {
                ranks[byte] = rank + 1
            } else {
                // Control characters before everything, anything else after the letters.
                ranks[byte] = byte < 0x20 ? byte - 0x20 : collationOrder.count + byte
            }
        }
        return ranks
    }()

    private static func collationRank(_ byte: UInt8) -> Int { collationRanks[Int(byte)] }
}
