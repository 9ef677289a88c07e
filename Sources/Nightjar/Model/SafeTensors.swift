import Foundation

/// The safetensors container: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, an optional `__metadata__` map of strings, then the data.
/// Only float32 tensors are written or accepted.
public struct SafeTensorsFile: Sendable {
    public struct Tensor: Sendable, Equatable {
        public var shape: [Int]
        public var values: [Float]
        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
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

    public func encoded() throws -> [UInt8] {
        var header: [String: Any] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let tensor = tensors[name]!
            let bytes = tensor.values.count * 4
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        // Pad with spaces so the data starts 8-byte aligned, as the format recommends.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        out += json
        for name in names {
            tensors[name]!.values.withUnsafeBytes { out += $0 }
        }
        return out
    }

    public static func read(contentsOf url: URL) throws -> SafeTensorsFile {
        let data: Data
        do {
            // Mapped, not copied: the tensors are the only copy made.
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw ModelFileError.unreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
        return try data.withUnsafeBytes { try parse($0, path: url.path) }
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
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])))
        } catch {
            throw ModelFileError.malformed(path: path, reason: "header is not valid JSON")
        }
        guard let header = object as? [String: Any] else {
            throw ModelFileError.malformed(path: path, reason: "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let map = raw as? [String: String] else {
                throw ModelFileError.malformed(path: path, reason: "__metadata__ must map strings to strings")
            }
            metadata = map
        }
        let dataLength = bytes.count - dataStart
        var tensors: [String: Tensor] = [:]
        var ranges: [(Int, Int, String)] = []
        for (name, entry) in header where name != "__metadata__" {
            guard let fields = entry as? [String: Any],
                  let dtype = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int],
                  let offsets = fields["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "entry lacks dtype, shape or data_offsets")
            }
            guard dtype == "F32" else {
                throw ModelFileError.malformedTensor(path: path, tensor: name, reason: "dtype \(dtype) is not supported (expected F32)")
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
            let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            guard end - begin == count * 4 else {
                throw ModelFileError.malformedTensor(
                    path: path, tensor: name, reason: "shape \(shape) needs \(count * 4) bytes, offsets give \(end - begin)")
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(dataStart + begin)..<(dataStart + end)]))
            }
            tensors[name] = Tensor(shape: shape, values: values.map { Float(bitPattern: $0.bitPattern.littleEndian) })
            ranges.append((begin, end, name))
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 {
            throw ModelFileError.malformedTensor(path: path, tensor: b.2, reason: "data overlaps tensor \(a.2)")
        }
        return SafeTensorsFile(metadata: metadata, tensors: tensors)
    }
}
