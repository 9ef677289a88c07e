import FoundationEssentials

/// A float32 tensor from a checkpoint, materialised C-contiguous (row-major) whatever its
/// strides and storage offset were in the file.
public struct TorchTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// How the checkpoint was serialised: `torch.save` before 1.6 (or with
/// `_use_new_zipfile_serialization=False`) writes `legacy`, later versions `zip`.
public enum TorchContainer: String, Sendable {
    case legacy
    case zip
}

/// A PyTorch state_dict read without Python and without executing anything: the pickle is
/// interpreted by a whitelisting virtual machine (`PickleMachine`) and the storages are read
/// from the zip entries or from the legacy stream.
public struct TorchCheckpoint: Sendable {
    public let container: TorchContainer
    /// The state_dict; a top-level `{"model": state_dict}` wrapper is unwrapped.
    public let tensors: [String: TorchTensor]
    /// The state_dict's keys in file order.
    public let keyOrder: [String]
    /// Lowercase hex SHA-256 of the whole file.
    public let sha256: String

    /// Caps the float32 elements materialised from a file of `byteCount` bytes: one element per
    /// byte of file (a real state_dict needs about one per 4 bytes), at least 2^20. Stride-0
    /// views in a hostile file thus fail cleanly instead of exhausting memory.
    static func maxMaterialisedElements(byteCount: Int) -> Int { max(1 << 20, byteCount) }

    /// The largest checkpoint read: 512 MiB. The published ones are 3–10 MB; the limit is
    /// checked against the file's size before anything is read or allocated.
    public static let maximumFileBytes = 512 << 20

    public static func load(contentsOf url: URL) throws -> TorchCheckpoint {
        let bytes: [UInt8]
        do {
            // The container is recognised from the first bytes before the file is read.
            bytes = try FileContents.bytes(atPath: url.path, maximumBytes: maximumFileBytes) { leading in
                leading.isEmpty || containerMagics.contains(where: leading.starts(with:)) ? nil : notACheckpointReason
            }
        } catch {
            if error.explanation == notACheckpointReason { throw CheckpointError.notACheckpoint(path: url.path, reason: notACheckpointReason) }
            throw CheckpointError.unreadable(path: url.path, reason: error.description)
        }
        return try parse(bytes: bytes, path: url.path)
    }

    /// How the two containers start: a zip local header or an empty archive's end record, and
    /// the legacy stream's pickle protocol 2 magic number.
    static let containerMagics: [[UInt8]] = [[0x50, 0x4B, 0x03, 0x04], [0x50, 0x4B, 0x05, 0x06], [0x80, 0x02, 0x8A]]
    static let notACheckpointReason = "it starts with neither a zip header (PK\\3\\4) nor a pickle protocol 2 magic number (80 02 8a)"

    public static func parse(bytes: [UInt8], path: String) throws -> TorchCheckpoint {
        let container: TorchContainer
        let stateDict: StateDictReader
        if bytes.starts(with: containerMagics[0]) || bytes.starts(with: containerMagics[1]) {
            container = .zip
            stateDict = try readZip(bytes, path: path)
        } else if bytes.starts(with: containerMagics[2]) {
            container = .legacy
            stateDict = try readLegacy(bytes, path: path)
        } else if bytes.isEmpty {
            throw CheckpointError.notACheckpoint(path: path, reason: "the file is empty")
        } else {
            throw CheckpointError.notACheckpoint(path: path, reason: notACheckpointReason)
        }
        let (tensors, order) = try stateDict.materialise(
            maxElements: maxMaterialisedElements(byteCount: bytes.count))
        return TorchCheckpoint(
            container: container, tensors: tensors, keyOrder: order, sha256: SHA256.hex(bytes))
    }

    // MARK: Zip container

    private static func readZip(_ bytes: [UInt8], path: String) throws -> StateDictReader {
        let archive = try ZipArchive(bytes: bytes, path: path)
        let pickles = archive.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard let pickleEntry = pickles.first else {
            throw CheckpointError.missingEntry(path: path, entry: "<prefix>/data.pkl")
        }
        guard pickles.count == 1 else {
            throw CheckpointError.malformedArchive(
                path: path, reason: "several data.pkl entries: "
                    + pickles.map(\.name).joined(separator: ", "))
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        if let byteOrder = archive.entry(named: prefix + "byteorder") {
            let range = try ZipArchive.verifiedRange(of: byteOrder, in: bytes, path: path)
            let text = String(decoding: bytes[range], as: UTF8.self)
            guard text == "little" else {
                throw CheckpointError.unsupportedFormat(
                    path: path, reason: "storages are stored in '\(text)' byte order; only little-endian is supported")
            }
        }
        let pickleRange = try ZipArchive.verifiedRange(of: pickleEntry, in: bytes, path: path)
        let result = try PickleMachine.run(
            bytes, range: pickleRange, path: path, stream: pickleEntry.name,
            reportBase: pickleRange.lowerBound)
        guard result.end == pickleRange.upperBound else {
            throw CheckpointError.malformedPickle(
                path: path, stream: pickleEntry.name, offset: result.end - pickleRange.lowerBound,
                reason: "\(pickleRange.upperBound - result.end) bytes after the STOP opcode")
        }
        return StateDictReader(path: path, result: result) { reference in
            let name = prefix + "data/" + reference.key
            guard let entry = archive.entry(named: name) else {
                throw CheckpointError.missingEntry(path: path, entry: name)
            }
            let (bytesNeeded, overflow) = reference.elementCount.multipliedReportingOverflow(by: 4)
            guard !overflow, entry.size == bytesNeeded else {
                throw CheckpointError.badStorage(
                    path: path, storage: reference.key,
                    reason: "the pickle declares \(reference.elementCount) float32 elements but entry "
                        + "'\(name)' holds \(entry.size) bytes")
            }
            let range = try ZipArchive.verifiedRange(of: entry, in: bytes, path: path)
            return floats(bytes, range)
        }
    }

    // MARK: Legacy container

    /// LONG1 payload of the legacy magic number 0x1950a86a20f9469cfc6c, little-endian.
    private static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
    private static let legacyProtocolVersion: Int64 = 1001

    private static func readLegacy(_ bytes: [UInt8], path: String) throws -> StateDictReader {
        let whole = 0..<bytes.count
        let magic = try PickleMachine.run(bytes, range: whole, path: path, stream: "the magic-number pickle")
        guard magic.root == .bigInt(legacyMagic) else {
            throw CheckpointError.notACheckpoint(
                path: path, reason: "the first pickle is not torch's magic number 0x1950a86a20f9469cfc6c")
        }
        let version = try PickleMachine.run(
            bytes, range: magic.end..<bytes.count, path: path, stream: "the protocol-version pickle")
        guard version.root == .int(legacyProtocolVersion) else {
            throw CheckpointError.unsupportedFormat(
                path: path, reason: "legacy protocol version is not \(legacyProtocolVersion)")
        }
        let system = try PickleMachine.run(
            bytes, range: version.end..<bytes.count, path: path, stream: "the sys-info pickle")
        if case .dict(let info, _)? = system.object(system.root),
            let littleEndian = info[.string("little_endian")], littleEndian != .bool(true)
        {
            throw CheckpointError.unsupportedFormat(
                path: path, reason: "the checkpoint was written on a big-endian machine")
        }
        let main = try PickleMachine.run(
            bytes, range: system.end..<bytes.count, path: path, stream: "the main pickle")
        let keyList = try PickleMachine.run(
            bytes, range: main.end..<bytes.count, path: path, stream: "the storage-key pickle")
        guard case .list(let keyValues)? = keyList.object(keyList.root) else {
            throw CheckpointError.malformedPickle(
                path: path, stream: "the storage-key pickle", offset: main.end,
                reason: "expected a list of storage keys, found a \(keyList.describe(keyList.root))")
        }

        // Storages follow in the order of the key list: int64 element count, then the elements.
        var storages: [String: Range<Int>] = [:]
        var position = keyList.end
        for value in keyValues {
            guard case .string(let key) = value else {
                throw CheckpointError.malformedPickle(
                    path: path, stream: "the storage-key pickle", offset: main.end,
                    reason: "a storage key is a \(keyList.describe(value)), not a str")
            }
            guard storages[key] == nil else {
                throw CheckpointError.badStorage(path: path, storage: key, reason: "listed twice")
            }
            guard let raw = LittleEndian.read(bytes, at: position, width: 8) else {
                throw CheckpointError.truncated(
                    path: path, what: "the element count of storage '\(key)' runs past the end of the file",
                    offset: position)
            }
            let count = Int64(bitPattern: raw)
            let available = (bytes.count - position - 8) / 4
            guard count >= 0, count <= available else {
                if count < 0 {
                    throw CheckpointError.badStorage(
                        path: path, storage: key, reason: "negative element count \(count) at byte \(position)")
                }
                throw CheckpointError.truncated(
                    path: path,
                    what: "storage '\(key)' (\(count) float32 elements) runs past the end of the file",
                    offset: position + 8)
            }
            let start = position + 8
            storages[key] = start..<(start + Int(count) * 4)
            position = start + Int(count) * 4
        }
        guard position == bytes.count else {
            throw CheckpointError.unsupportedFormat(
                path: path, reason: "\(bytes.count - position) unexpected bytes after the last storage "
                    + "(byte \(position))")
        }
        return StateDictReader(path: path, result: main) { reference in
            guard let range = storages[reference.key] else {
                throw CheckpointError.badStorage(
                    path: path, storage: reference.key, reason: "not in the file's list of storages")
            }
            guard range.count / 4 == reference.elementCount else {
                throw CheckpointError.badStorage(
                    path: path, storage: reference.key,
                    reason: "the pickle declares \(reference.elementCount) elements but the file holds "
                        + "\(range.count / 4)")
            }
            return floats(bytes, range)
        }
    }

    /// Little-endian float32 bytes as Floats.
    static func floats(_ bytes: [UInt8], _ range: Range<Int>) -> [Float] {
        let count = range.count / 4
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialised in
            bytes.withUnsafeBytes { raw in
                for i in 0..<count {
                    let bits = raw.loadUnaligned(fromByteOffset: range.lowerBound + 4 * i, as: UInt32.self)
                    buffer[i] = Float(bitPattern: UInt32(littleEndian: bits))
                }
            }
            initialised = count
        }
    }
}

/// Turns an unpickled object into tensors: finds the state_dict, checks every tensor against its
/// storage and copies its elements out in C order.
struct StateDictReader {
    let path: String
    let result: PickleResult
    /// The elements of a storage (checked against the persistent id's element count).
    let storage: (StorageReference) throws -> [Float]

    func materialise(maxElements: Int) throws -> ([String: TorchTensor], [String]) {
        guard case .dict(var dict, _)? = result.object(result.root) else {
            throw CheckpointError.notAStateDict(
                path: path, reason: "the checkpoint holds a \(result.describe(result.root)), not a dict")
        }
        if let wrapped = dict[.string("model")] {
            guard case .dict(let inner, _)? = result.object(wrapped) else {
                throw CheckpointError.notAStateDict(
                    path: path, reason: "checkpoint['model'] is a \(result.describe(wrapped)), not a dict")
            }
            dict = inner
        }
        guard dict.count > 0 else {
            throw CheckpointError.notAStateDict(path: path, reason: "the state_dict is empty")
        }
        var cache: [String: [Float]] = [:]
        var tensors: [String: TorchTensor] = [:]
        var order: [String] = []
        var budget = maxElements
        for (key, value) in zip(dict.keys, dict.values) {
            guard case .string(let name) = key else {
                throw CheckpointError.notAStateDict(
                    path: path, reason: "a key is a \(result.describe(key)), not a str")
            }
            guard case .tensor(let reference)? = result.object(value) else {
                throw CheckpointError.notAStateDict(
                    path: path, reason: "'\(name)' is a \(result.describe(value)), not a tensor")
            }
            let elements: [Float]
            if let cached = cache[reference.storage.key] {
                elements = cached
            } else {
                elements = try storage(reference.storage)
                cache[reference.storage.key] = elements
            }
            let tensor = try Self.gather(reference, from: elements, name: name, path: path, budget: &budget)
            tensors[name] = tensor
            order.append(name)
        }
        return (tensors, order)
    }

    /// Copies a strided view of `storage` into a C-contiguous tensor, after checking that every
    /// element it reaches lies inside the storage.
    static func gather(
        _ reference: TensorReference, from storage: [Float], name: String, path: String, budget: inout Int
    ) throws -> TorchTensor {
        func bad(_ reason: String) -> CheckpointError {
            .malformedTensor(path: path, tensor: name, reason: reason)
        }
        guard reference.size.count == reference.stride.count else {
            throw bad("size has \(reference.size.count) dimensions but stride has \(reference.stride.count)")
        }
        guard reference.storageOffset >= 0, let offset = Int(exactly: reference.storageOffset) else {
            throw bad("negative storage offset \(reference.storageOffset)")
        }
        var shape: [Int] = []
        var strides: [Int] = []
        var count = 1
        for (size, stride) in zip(reference.size, reference.stride) {
            guard size >= 0, let size = Int(exactly: size) else { throw bad("negative size \(size)") }
            guard stride >= 0, let stride = Int(exactly: stride) else {
                throw bad("negative stride \(stride)")
            }
            shape.append(size)
            strides.append(stride)
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw bad("shape \(reference.size) has too many elements") }
            count = product
        }
        guard count <= budget else {
            throw bad("shape \(shape) has \(count) elements, more than the \(budget) still allowed "
                + "(at most one element per byte of checkpoint file, or 2^20)")
        }
        budget -= count
        let key = reference.storage.key
        if count == 0 {
            guard offset <= storage.count else {
                throw CheckpointError.storageOutOfBounds(
                    path: path, tensor: name, storage: key, needed: offset, available: storage.count)
            }
            return TorchTensor(shape: shape, values: [])
        }
        // The furthest element the view reaches: offset + Σ (size − 1) · stride.
        var last = offset
        for (size, stride) in zip(shape, strides) {
            let (span, overflow1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, overflow2) = last.addingReportingOverflow(span)
            guard !overflow1, !overflow2 else { throw bad("strides \(strides) overflow") }
            last = sum
        }
        guard last < storage.count else {
            throw CheckpointError.storageOutOfBounds(
                path: path, tensor: name, storage: key, needed: last + 1, available: storage.count)
        }

        // C-contiguous (dimensions of size 1 may have any stride): one slice copy.
        var expected = 1
        var contiguous = true
        for (size, stride) in zip(shape, strides).reversed() where size != 1 {
            if stride != expected { contiguous = false }
            expected *= size
        }
        if contiguous {
            if offset == 0, count == storage.count {
                return TorchTensor(shape: shape, values: storage)
            }
            return TorchTensor(shape: shape, values: Array(storage[offset..<(offset + count)]))
        }
        // General strides: walk a multi-index in C order, odometer style.
        var values: [Float] = []
        values.reserveCapacity(count)
        var index = [Int](repeating: 0, count: shape.count)
        var source = offset
        for _ in 0..<count {
            values.append(storage[source])
            var dimension = shape.count - 1
            while dimension >= 0 {
                // Wrapping arithmetic: a size-1 dimension may carry any stride; every index
                // that is actually read was bounds-checked above.
                index[dimension] += 1
                source = source &+ strides[dimension]
                if index[dimension] < shape[dimension] { break }
                source = source &- strides[dimension] &* shape[dimension]
                index[dimension] = 0
                dimension -= 1
            }
        }
        return TorchTensor(shape: shape, values: values)
    }
}
