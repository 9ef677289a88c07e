/// Why a PyTorch checkpoint could not be read. Every case names the file; pickle errors name the
/// stream (`archive/data.pkl`, or the byte range of a legacy file) and the byte offset, tensor
/// errors the state_dict key.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be read from disk.
    case unreadable(path: String, reason: String)
    /// Neither a zip (`PK\u{3}\u{4}`) nor a legacy (pickle protocol 2 magic number) checkpoint.
    case notACheckpoint(path: String, reason: String)
    /// The file ends before a structure that should be there. `what` says what is cut short;
    /// `offset` is the file offset where it starts (or where the file ends).
    case truncated(path: String, what: String, offset: Int)
    /// The zip container is damaged or uses a feature this reader refuses.
    case malformedArchive(path: String, reason: String)
    /// A zip entry is compressed; torch writes its archives STORED, so this file was repacked.
    case compressedEntry(path: String, entry: String, method: Int)
    /// A zip entry's bytes do not match the CRC-32 recorded in the central directory.
    case checksumMismatch(path: String, entry: String, expected: UInt32, actual: UInt32)
    /// A zip entry the checkpoint needs is missing.
    case missingEntry(path: String, entry: String)
    /// The pickle stream is damaged (bad argument, stack underflow, wrong types...).
    case malformedPickle(path: String, stream: String, offset: Int, reason: String)
    /// An opcode this reader does not implement.
    case unsupportedOpcode(path: String, stream: String, offset: Int, opcode: UInt8)
    /// A global outside the whitelist (OrderedDict, _rebuild_tensor_v2, FloatStorage). Nothing
    /// named in a checkpoint is ever imported or executed.
    case forbiddenGlobal(path: String, stream: String, offset: Int, module: String, name: String)
    /// A resource limit protecting against hostile input was reached.
    case limitExceeded(path: String, stream: String, offset: Int, what: String, limit: Int)
    /// A format version or variant (byte order, storage views...) this reader does not support.
    case unsupportedFormat(path: String, reason: String)
    /// The unpickled object is not a state_dict of float tensors.
    case notAStateDict(path: String, reason: String)
    /// A tensor's size, stride or storage offset is invalid.
    case malformedTensor(path: String, tensor: String, reason: String)
    /// A tensor reaches outside its storage.
    case storageOutOfBounds(path: String, tensor: String, storage: String, needed: Int, available: Int)
    /// A storage is referenced but its bytes are missing or have the wrong size.
    case badStorage(path: String, storage: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read the checkpoint: \(reason)"
        case .notACheckpoint(let path, let reason):
            return "\(path): not a PyTorch checkpoint: \(reason)"
        case .truncated(let path, let what, let offset):
            return "\(path): file is truncated or damaged at byte \(offset): \(what); re-download or "
                + "re-save the checkpoint"
        case .malformedArchive(let path, let reason):
            return "\(path): damaged or unsupported zip container: \(reason)"
        case .compressedEntry(let path, let entry, let method):
            return "\(path): zip entry '\(entry)' is compressed (method \(method)); PyTorch writes "
                + "entries uncompressed (STORED): re-save it with torch.save, or re-zip with `zip -0`"
        case .checksumMismatch(let path, let entry, let expected, let actual):
            return "\(path): zip entry '\(entry)' is corrupt: CRC-32 is "
                + "\(hex32(actual)) but the archive records \(hex32(expected))"
        case .missingEntry(let path, let entry):
            return "\(path): the archive has no entry '\(entry)'"
        case .malformedPickle(let path, let stream, let offset, let reason):
            return "\(path): malformed pickle in \(stream) at byte \(offset): \(reason)"
        case .unsupportedOpcode(let path, let stream, let offset, let opcode):
            let shown = opcode >= 0x20 && opcode < 0x7f
                ? "'\(String(UnicodeScalar(opcode)))' (0x\(hex8(opcode)))" : "0x\(hex8(opcode))"
            return "\(path): unsupported pickle opcode \(shown) in \(stream) at byte \(offset)"
        case .forbiddenGlobal(let path, let stream, let offset, let module, let name):
            return "\(path): refusing pickle global '\(module).\(name)' in \(stream) at byte \(offset): "
                + "only collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch.FloatStorage "
                + "are allowed (nothing was executed)"
        case .limitExceeded(let path, let stream, let offset, let what, let limit):
            return "\(path): \(what) exceeds the limit of \(limit) in \(stream) at byte \(offset); "
                + "the file is hostile or not a model checkpoint"
        case .unsupportedFormat(let path, let reason):
            return "\(path): unsupported checkpoint format: \(reason)"
        case .notAStateDict(let path, let reason):
            return "\(path): not a state_dict of float32 tensors: \(reason)"
        case .malformedTensor(let path, let tensor, let reason):
            return "\(path): tensor '\(tensor)': \(reason)"
        case .storageOutOfBounds(let path, let tensor, let storage, let needed, let available):
            return "\(path): tensor '\(tensor)' needs \(needed) elements of storage '\(storage)', "
                + "which holds only \(available)"
        case .badStorage(let path, let storage, let reason):
            return "\(path): storage '\(storage)': \(reason)"
        }
    }
}

private func hex8(_ value: UInt8) -> String {
    let text = String(value, radix: 16)
    return text.count == 1 ? "0" + text : text
}

private func hex32(_ value: UInt32) -> String {
    let text = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - text.count)) + text
}
