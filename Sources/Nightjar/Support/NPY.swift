import FoundationEssentials
import Glibc

/// A NumPy `.npy` array (format versions 1–3): the golden tensors and `run-tensor`'s I/O.
/// Only little-endian float32 and uint8, C order, are read and written; anything else is refused.
public struct NPYArray: Sendable, Equatable {
    public enum DType: String, Sendable {
        case float32 = "<f4"
        case uint8 = "|u1"
    }

    public var shape: [Int]
    public var dtype: DType
    /// The raw little-endian element bytes, C order.
    public var data: [UInt8]

    public init(shape: [Int], dtype: DType, data: [UInt8]) {
        self.shape = shape
        self.dtype = dtype
        self.data = data
    }

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape does not match the element count")
        self.shape = shape
        self.dtype = .float32
        self.data = floats.withUnsafeBytes { Array($0) }
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// The elements as Float (float32 arrays only).
    public func floats() throws -> [Float] {
        guard dtype == .float32 else { throw NPYError.wrongDType(expected: .float32, found: dtype) }
        return [Float](unsafeUninitializedCapacity: elementCount) { buffer, count in
            _ = data.withUnsafeBytes { memcpy(buffer.baseAddress!, $0.baseAddress!, elementCount * 4) }
            count = elementCount
        }
    }

    public static func read(contentsOf url: URL) throws -> NPYArray {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.bytes(atPath: url.path)
        } catch {
            throw NPYError.unreadable(path: url.path, reason: error.description)
        }
        return try parse(bytes, path: url.path)
    }

    public static func parse(_ bytes: [UInt8], path: String = "<memory>") throws -> NPYArray {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw NPYError.malformed(path: path, reason: "not a NumPy .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError.malformed(path: path, reason: "truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw NPYError.malformed(path: path, reason: "unsupported .npy version \(major)")
        }
        guard bytes.count >= headerStart + headerLength else {
            throw NPYError.malformed(path: path, reason: "truncated header")
        }
        guard let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8) else {
            throw NPYError.malformed(path: path, reason: "header is not text")
        }
        let descr = try field("descr", in: header, path: path)
        guard let dtype = DType(rawValue: descr.trimmingScalars { $0 == "'" || $0 == "\"" }) else {
            throw NPYError.malformed(path: path, reason: "unsupported dtype \(descr); expected float32 '<f4' or uint8 '|u1'")
        }
        let fortran = try field("fortran_order", in: header, path: path)
        guard fortran == "False" else {
            throw NPYError.malformed(path: path, reason: "Fortran-ordered arrays are not supported")
        }
        let shapeText = try field("shape", in: header, path: path)
        let shape = try shapeText
            .trimmingScalars { $0 == "(" || $0 == ")" }
            .split(separator: ",")
            .map { String($0).trimmingSpacesAndTabs() }
            .filter { !$0.isEmpty }
            .map { (text: String) -> Int in
                guard let v = Int(text), v >= 0 else {
                    throw NPYError.malformed(path: path, reason: "bad shape \(shapeText)")
                }
                return v
            }
        let elementSize = dtype == .float32 ? 4 : 1
        // Checked: a hostile shape's byte count can overflow Int.
        let (bytesNeeded, overflow) = shape.reduce((elementSize, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        let dataStart = headerStart + headerLength
        guard !overflow, bytes.count - dataStart == bytesNeeded else {
            throw NPYError.malformed(
                path: path,
                reason: "data holds \(bytes.count - dataStart) bytes, shape \(shape) needs "
                    + (overflow ? "more than the largest possible file" : "\(bytesNeeded)"))
        }
        return NPYArray(shape: shape, dtype: dtype, data: Array(bytes[dataStart...]))
    }

    /// The file's bytes: version 1.0, header padded so the data starts on a 64-byte boundary.
    public func encoded() -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
        let length = header.utf8.count
        out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(header.utf8)
        out += data
        return out
    }

    /// Writes through `OutputFile`: a reader never sees half a file; an existing regular file
    /// (or link) at `url` is replaced.
    public func write(to url: URL, overwrite: Bool = true) throws {
        try OutputFile.write(encoded(), to: url.path, overwrite: overwrite)
    }

    private static func field(_ name: String, in header: String, path: String) throws -> String {
        guard let keyRange = header.firstRange(of: "'\(name)'") else {
            throw NPYError.malformed(path: path, reason: "header has no '\(name)'")
        }
        var rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else {
                throw NPYError.malformed(path: path, reason: "unterminated '\(name)'")
            }
            return String(rest[...close])
        }
        if let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) { rest = rest[..<end] }
        return String(rest).trimmingSpacesAndTabs()
    }
}

public enum NPYError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case wrongDType(expected: NPYArray.DType, found: NPYArray.DType)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .malformed(let path, let reason): return "\(path): \(reason)"
        case .wrongDType(let expected, let found): return "expected a \(expected) array, found \(found)"
        }
    }
}
