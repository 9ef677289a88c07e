import Foundation
import XCTest

@testable import Nightjar

/// Reference values below were produced with Python 3.11 + numpy (no torch), reading the
/// checkpoints with a whitelisting Unpickler and reading the storage bytes directly:
///
///     import io, pickle, struct, zipfile, numpy as np
///     class Storage:
///         def __init__(self, key, numel): self.key, self.numel = key, numel
///     class U(pickle.Unpickler):
///         def find_class(self, mod, name):
///             if (mod, name) == ('collections', 'OrderedDict'):
///                 import collections; return collections.OrderedDict
///             if (mod, name) == ('torch._utils', '_rebuild_tensor_v2'):
///                 return lambda st, off, size, stride, rg, hooks, *rest: ('T', st, off, size, stride)
///             if (mod, name) == ('torch', 'FloatStorage'): return 'FloatStorage'
///             raise pickle.UnpicklingError(f'{mod}.{name}')
///         def persistent_load(self, pid): return Storage(pid[2], pid[4])
///     def materialise(t, data):
///         _, st, off, size, stride = t
///         return np.lib.stride_tricks.as_strided(data[st.key][off:], shape=size,
///                                                strides=[s*4 for s in stride]).copy()
///     def load(path):
///         b = open(path, 'rb').read()
///         if b[:2] == b'PK':
///             z = zipfile.ZipFile(path)
///             pkl = [n for n in z.namelist() if n.endswith('/data.pkl')][0]
///             pre = pkl[:-len('data.pkl')]
///             obj = U(io.BytesIO(z.read(pkl))).load()
///             data = {k: np.frombuffer(z.read(pre + 'data/' + k), '<f4')
///                     for k in {t[1].key for t in obj.get('model', obj).values()}}
///         else:
///             f = io.BytesIO(b)
///             for _ in range(3): pickle.load(f)
///             obj = U(f).load(); keys = pickle.load(f); data = {}
///             for k in keys:
///                 n, = struct.unpack('<q', f.read(8))
///                 data[k] = np.frombuffer(f.read(4*n), '<f4')
///         sd = obj['model'] if 'model' in obj else obj
///         return {k: materialise(t, data) for k, t in sd.items()}
///     sd = load(PATH); v = sd[KEY].ravel()
///     print(len(sd), list(sd)[0], list(sd)[-1], sum(x.size for x in sd.values()))
///     print(list(sd[KEY].shape), [repr(float(x)) for x in v[:3]],
///           [repr(float(x)) for x in v[-3:]], repr(float(v.astype(np.float64).sum())))
final class CheckpointTests: XCTestCase {

    // MARK: The five real checkpoints

    struct Expected {
        var key: String
        var shape: [Int]
        var first: [Float]
        var last: [Float]
        var sum: Double
    }

    private func check(
        _ relative: String, container: TorchContainer, count: Int, firstKey: String, lastKey: String,
        elements: Int, tensors expected: [Expected], file: StaticString = #filePath, line: UInt = #line
    ) throws -> TorchCheckpoint {
        let url = try SharedReference.url(relative)
        let checkpoint = try TorchCheckpoint.load(contentsOf: url)
        XCTAssertEqual(checkpoint.container, container, file: file, line: line)
        XCTAssertEqual(checkpoint.tensors.count, count, file: file, line: line)
        XCTAssertEqual(checkpoint.keyOrder.count, count, file: file, line: line)
        XCTAssertEqual(Set(checkpoint.keyOrder), Set(checkpoint.tensors.keys), file: file, line: line)
        XCTAssertEqual(checkpoint.keyOrder.first, firstKey, file: file, line: line)
        XCTAssertEqual(checkpoint.keyOrder.last, lastKey, file: file, line: line)
        XCTAssertEqual(
            checkpoint.tensors.values.reduce(0) { $0 + $1.values.count }, elements, file: file, line: line)
        for tensor in checkpoint.tensors.values {
            XCTAssertEqual(tensor.shape.reduce(1, *), tensor.values.count, file: file, line: line)
        }
        for e in expected {
            guard let tensor = checkpoint.tensors[e.key] else {
                XCTFail("\(relative): missing \(e.key)", file: file, line: line)
                continue
            }
            XCTAssertEqual(tensor.shape, e.shape, e.key, file: file, line: line)
            XCTAssertEqual(Array(tensor.values.prefix(3)), e.first, e.key, file: file, line: line)
            XCTAssertEqual(Array(tensor.values.suffix(3)), e.last, e.key, file: file, line: line)
            let sum = tensor.values.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(sum, e.sum, accuracy: 1e-9 * max(1, abs(e.sum)), e.key, file: file, line: line)
        }
        return checkpoint
    }

    func testOfficialLegacyCheckpoint() throws {
        let checkpoint = try check(
            "models/official-sid-sony.pth", container: .legacy, count: 63,
            firstKey: "conv32x.0.0.bias", lastKey: "conv_2_8_32.0.weight_v", elements: 784_768,
            tensors: [
                Expected(
                    key: "conv32x.0.0.weight_v", shape: [128, 8, 3, 3],
                    first: [-0.08291876316070557, -0.03767883777618408, -0.051206789910793304],
                    last: [0.00016064764349721372, 0.01464467216283083, 0.011140736751258373],
                    sum: 9.725682985220828),
                Expected(
                    key: "conv32x.0.0.bias", shape: [128],
                    first: [-0.0055765314027667046, -0.03911410644650459, 0.0010512256994843483],
                    last: [0.01459970511496067, -0.04812201112508774, -0.0018850913038477302],
                    sum: -0.484902911237441),
                Expected(
                    key: "RDB3.dense_layers.4.conv.1.weight_v", shape: [32, 192, 3, 3],
                    first: [0.0851617380976677, -0.011846001259982586, 0.03488297387957573],
                    last: [-0.130931556224823, -0.021739397197961807, -0.08445502072572708],
                    sum: 16.22026265846489),
                Expected(
                    key: "conv_2_8_32.0.weight_g", shape: [12, 1, 1, 1],
                    first: [0.6420742273330688, 0.6625152230262756, 0.6326170563697815],
                    last: [0.5037974119186401, 0.4816668629646301, 0.5002672672271729],
                    sum: 6.691660851240158),
            ])
        XCTAssertEqual(
            Array(checkpoint.keyOrder.prefix(4)),
            ["conv32x.0.0.bias", "conv32x.0.0.weight_g", "conv32x.0.0.weight_v", "conv32x.1.0.bias"])
        // `sha256sum ../shared/models/official-sid-sony.pth`
        XCTAssertEqual(checkpoint.sha256, "e7a4f76cf12b9f69ae35b2c2bab3356a36669660ab3128a0e65d6f4c82517163")
    }

    func testMITZipCheckpoint() throws {
        let checkpoint = try check(
            "models/red-mit-sid-sony.pth", container: .zip, count: 63,
            firstKey: "conv32x.0.conv.bias", lastKey: "conv_2_8_32.conv.weight_v", elements: 784_768,
            tensors: [
                Expected(
                    key: "conv2x.conv.weight_v", shape: [12, 4, 5, 5],
                    first: [-0.023914963006973267, 0.044345177710056305, 0.04308754578232765],
                    last: [-0.12391723692417145, -0.0794205293059349, -0.0025556236505508423],
                    sum: 5.3645175693091005),
                Expected(
                    key: "conv32x.0.conv.bias", shape: [128],
                    first: [-0.023270588368177414, 0.036934949457645416, -0.02868720516562462],
                    last: [-0.04582996293902397, -0.09932289272546768, 0.07842686772346497],
                    sum: -1.354120479663834),
                Expected(
                    key: "rdball.conv.weight_v", shape: [64, 192, 1, 1],
                    first: [-0.16055995225906372, 0.0021562837064266205, -0.03894808515906334],
                    last: [0.056117743253707886, -0.15977980196475983, -0.09405755251646042],
                    sum: -53.01306414286228),
            ])
        XCTAssertEqual(checkpoint.keyOrder[1], "conv32x.0.conv.weight_g")
        // `sha256sum ../shared/models/red-mit-sid-sony.pth`
        XCTAssertEqual(checkpoint.sha256, "de477baed9f37fc222419d4fb00833bed16bca1827f964152afc8cd1cc923df5")
    }

    func testCanonical3ZipCheckpoint() throws {
        let checkpoint = try check(
            "models/variants/canonical-3.pth", container: .zip, count: 63,
            firstKey: "conv32x.0.0.bias", lastKey: "conv_2_8_32.0.weight_v", elements: 784_768,
            tensors: [
                Expected(
                    key: "conv32x.1.0.weight_v", shape: [64, 128, 3, 3],
                    first: [0.01844804361462593, -0.002264623995870352, 0.02217256836593151],
                    last: [0.007936086505651474, -0.0052572255954146385, 0.0038102436810731888],
                    sum: 0.06735922817316009),
                Expected(
                    key: "RDB1.dense_layers.1.conv.0.weight_v", shape: [32, 96, 3, 3],
                    first: [0.02276882342994213, 0.03169505298137665, 0.006710176356136799],
                    last: [-0.011522992514073849, 0.006967669352889061, -0.013024073094129562],
                    sum: -0.17324727369054926),
            ])
        XCTAssertEqual(checkpoint.sha256, "1b55da68a2c2559b723d11513f268587ff1fa4d5a22c0ca8d745f2c4dcf21f6b")
    }

    func testStar2LegacyCheckpoint() throws {
        let checkpoint = try check(
            "models/variants/star-2.pth", container: .legacy, count: 51,
            firstKey: "conv32x.0.0.bias", lastKey: "conv_2_8_32.0.weight_v", elements: 581_792,
            tensors: [
                Expected(
                    key: "conv32x.0.0.weight_v", shape: [128, 8, 3, 3],
                    first: [-0.07117041945457458, -0.01171734370291233, -0.09642545878887177],
                    last: [-0.03579293191432953, 0.10003747045993805, 0.024319784715771675],
                    sum: -6.411934997662684),
                Expected(
                    key: "rdball.0.weight_v", shape: [64, 128, 1, 1],
                    first: [-0.005687000695616007, -0.056260403245687485, -0.06971423327922821],
                    last: [0.0788285955786705, -0.07789212465286255, -0.08303670585155487],
                    sum: -4.176104006442074),
            ])
        XCTAssertNil(checkpoint.tensors["RDB3.conv_1x1.0.weight_v"])
        XCTAssertEqual(checkpoint.sha256, "7da2c727242c8aee43e7380d7bd77066775396563b7ff651fb311ba74d627444")
    }

    func testStar4ZipCheckpoint() throws {
        let checkpoint = try check(
            "models/variants/star-4.pth", container: .zip, count: 75,
            firstKey: "conv32x.0.0.bias", lastKey: "conv_2_8_32.0.weight_v", elements: 987_744,
            tensors: [
                Expected(
                    key: "RDB4.conv_1x1.0.weight_v", shape: [64, 224, 1, 1],
                    first: [-0.0031583078671246767, -0.04597129672765732, -0.011899957433342934],
                    last: [0.002462022937834263, -0.04940607771277428, -0.01490109134465456],
                    sum: 2.2854405159068847),
                Expected(
                    key: "rdball.0.weight_v", shape: [64, 256, 1, 1],
                    first: [0.01942060887813568, -0.05983502417802811, -0.0004353523254394531],
                    last: [-0.06001536548137665, -0.01158827543258667, -0.0056916698813438416],
                    sum: 3.4080211594700813),
            ])
        XCTAssertEqual(checkpoint.sha256, "411158d5b61a62ab00e51730a7ed614eacf84e8eb4b5c48a9eebaa7d0df00ea2")
    }

    func testUnreadableFile() throws {
        let dir = try makeTemporaryDirectory(self)
        let missing = dir.appendingPathComponent("absent.pth")
        XCTAssertThrowsError(try TorchCheckpoint.load(contentsOf: missing)) { error in
            guard case CheckpointError.unreadable(let path, _) = error else {
                return XCTFail("expected .unreadable, got \(error)")
            }
            XCTAssertEqual(path, missing.path)
        }
    }

    // MARK: Truncation and corruption of the real files

    /// Every prefix of a real file must be refused with a CheckpointError (never a crash):
    /// the first 64 lengths, ~150 spread over the file, and the bytes around the end.
    private func assertTruncationsRefused(_ relative: String) throws {
        let bytes = Array(try Data(contentsOf: try SharedReference.url(relative)))
        var lengths = Set(0..<64)
        for i in 0..<150 { lengths.insert(bytes.count * i / 150) }
        for back in 1...40 { lengths.insert(bytes.count - back) }
        for length in lengths.sorted() {
            let cut = Array(bytes[0..<length])
            XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: cut, path: "cut.pth")) { error in
                XCTAssertTrue(error is CheckpointError, "length \(length): \(error)")
                XCTAssertTrue("\(error)".hasPrefix("cut.pth: "), "length \(length): \(error)")
                // Past the 4-byte signature, a cut file is reported as cut, not as something else.
                if length >= 4, case CheckpointError.truncated = error {} else if length >= 4 {
                    XCTFail("length \(length): expected .truncated, got \(error)")
                }
            }
        }
    }

    func testTruncatedLegacyFilesAreRefused() throws {
        try assertTruncationsRefused("models/official-sid-sony.pth")
    }

    func testTruncatedZipFilesAreRefused() throws {
        try assertTruncationsRefused("models/red-mit-sid-sony.pth")
    }

    func testCorruptedZipStorageFailsItsChecksum() throws {
        var bytes = Array(try Data(contentsOf: try SharedReference.url("models/red-mit-sid-sony.pth")))
        let entry = try XCTUnwrap(ZipArchive(bytes: bytes, path: "flip.pth").entry(named: "archive/data/0"))
        XCTAssertEqual(entry.size, 512)
        bytes[entry.dataOffset + 40] ^= 0x01
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: bytes, path: "flip.pth")) { error in
            guard case CheckpointError.checksumMismatch(_, let entry, _, _) = error else {
                return XCTFail("expected .checksumMismatch, got \(error)")
            }
            XCTAssertEqual(entry, "archive/data/0")
        }
    }

    // MARK: Hostile pickles

    func testRefusesOsSystemWithoutRunningIt() throws {
        let dir = try makeTemporaryDirectory(self)
        let marker = dir.appendingPathComponent("pwned")
        var p = PickleWriter()
        p.global("os", "system")
        p.string("touch \(marker.path)")
        p.op(0x85)  // TUPLE1
        p.op("R")
        p.op(".")
        XCTAssertThrowsError(try runPickle(p.bytes)) { error in
            assertForbidden(error, "os", "system")
            XCTAssertTrue("\(error)".contains("os.system"), "\(error)")
        }
        // Through both containers as well.
        for (name, file) in [("legacy", legacyFile(mainPickle: p.bytes, storages: [])),
                             ("zip", zipFile(dataPickle: p.bytes, storages: []))] {
            XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: file, path: "\(name).pth")) { error in
                assertForbidden(error, "os", "system")
                XCTAssertTrue("\(error)".hasPrefix("\(name).pth: refusing pickle global 'os.system'"), "\(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker.path))
    }

    func testRefusesOtherGlobals() throws {
        for (module, name) in [("builtins", "eval"), ("__builtin__", "eval"), ("torch", "HalfStorage"),
                               ("torch", "load"), ("collections", "defaultdict"), ("subprocess", "Popen")] {
            var p = PickleWriter()
            p.global(module, name)
            p.string("1+1")
            p.op(0x85)
            p.op("R")
            p.op(".")
            XCTAssertThrowsError(try runPickle(p.bytes)) { assertForbidden($0, module, name) }
            // STACK_GLOBAL (protocol 4) goes through the same whitelist.
            var q = PickleWriter(protocol: 4)
            q.string(module)
            q.string(name)
            q.op(0x93)
            q.op(".")
            XCTAssertThrowsError(try runPickle(q.bytes)) { assertForbidden($0, module, name) }
        }
    }

    func testZipWithBadGlobalInDataPickle() throws {
        // A valid-looking state dict whose tensor rebuild function is swapped for builtins.eval.
        var p = PickleWriter()
        p.global("collections", "OrderedDict")
        p.op(")")
        p.op("R")
        p.op("(")
        p.string("w")
        p.global("builtins", "eval")
        p.string("__import__('os').system('true')")
        p.op(0x85)
        p.op("R")
        p.op("u")
        p.op(".")
        let file = zipFile(dataPickle: p.bytes, storages: [])
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: file, path: "evil.pth")) { error in
            assertForbidden(error, "builtins", "eval")
            guard case CheckpointError.forbiddenGlobal(_, let stream, let offset, _, _) = error else { return }
            XCTAssertEqual(stream, "archive/data.pkl")
            XCTAssertEqual(offset, 36)  // PROTO(2) + GLOBAL(25) + ')' 'R' '(' + BINUNICODE 'w' (6)
        }
    }

    func testRefusesUnsupportedOpcodes() throws {
        // INST ('i') and OBJ ('o') can instantiate classes; BINSTRING etc. are simply unsupported.
        for opcode in [UInt8(ascii: "i"), UInt8(ascii: "o"), UInt8(ascii: "T"), 0x81, 0xff] {
            var p = PickleWriter()
            p.op("N")
            p.op(opcode)
            p.op(".")
            XCTAssertThrowsError(try runPickle(p.bytes)) { error in
                guard case CheckpointError.unsupportedOpcode(_, _, let offset, let found) = error else {
                    return XCTFail("expected .unsupportedOpcode, got \(error)")
                }
                XCTAssertEqual(found, opcode)
                XCTAssertEqual(offset, 3)
            }
        }
    }

    func testMalformedPicklesAreRefused() throws {
        let cases: [(String, [UInt8])] = [
            ("stack underflow", [0x80, 2, UInt8(ascii: "s"), UInt8(ascii: ".")]),
            ("pop below mark", [0x80, 2, UInt8(ascii: "N"), UInt8(ascii: "("), UInt8(ascii: "0"), UInt8(ascii: ".")]),
            ("missing memo", [0x80, 2, UInt8(ascii: "j"), 0xff, 0xff, 0xff, 0x7f, UInt8(ascii: ".")]),
            ("huge string", [0x80, 2, UInt8(ascii: "X"), 0xff, 0xff, 0xff, 0xff, 0x41]),
            ("no STOP", [0x80, 2, UInt8(ascii: "N")]),
            ("empty", []),
            ("bad protocol", [0x80, 9, UInt8(ascii: "N"), UInt8(ascii: ".")]),
            ("invalid UTF-8", [0x80, 2, UInt8(ascii: "X"), 2, 0, 0, 0, 0xc3, 0x28, UInt8(ascii: ".")]),
            ("REDUCE on str", [0x80, 2, UInt8(ascii: "X"), 0, 0, 0, 0, UInt8(ascii: ")"), UInt8(ascii: "R"), UInt8(ascii: ".")]),
            ("SETITEM on list", [0x80, 2, UInt8(ascii: "]"), UInt8(ascii: "N"), UInt8(ascii: "N"), UInt8(ascii: "s"), UInt8(ascii: ".")]),
            ("leftover stack", [0x80, 2, UInt8(ascii: "N"), UInt8(ascii: "N"), UInt8(ascii: ".")]),
            ("GLOBAL without newline", [0x80, 2, UInt8(ascii: "c")] + Array("collections OrderedDict".utf8)),
            ("long GLOBAL line", [0x80, 2, UInt8(ascii: "c")] + [UInt8](repeating: 0x41, count: 100_000) + [0x0a]),
            ("tensor from a non-storage", tensorPickle(storageArgument: { $0.op("N") })),
            ("BUILD on a list", [0x80, 2, UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "b"), UInt8(ascii: ".")]),
        ]
        for (label, bytes) in cases {
            XCTAssertThrowsError(try runPickle(bytes), label) { error in
                XCTAssertTrue(error is CheckpointError, "\(label): \(error)")
            }
        }
    }

    func testDeepNestingAndLongStreamsHitLimitsNotTheStack() throws {
        // 200,000 nested 1-tuples: the heap is flat, so nothing recurses; it is just not a dict.
        var nested = PickleWriter()
        nested.op(")")
        for _ in 0..<200_000 { nested.op(0x85) }
        nested.op(".")
        let result = try runPickle(nested.bytes)
        XCTAssertEqual(result.heap.count, 200_001)
        let wrapped = legacyFile(mainPickle: nested.bytes, storages: [])
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: wrapped, path: "deep.pth")) { error in
            guard case CheckpointError.notAStateDict = error else { return XCTFail("\(error)") }
        }
        // Marks are capped.
        var marks = PickleWriter()
        for _ in 0..<10_000 { marks.op("(") }
        XCTAssertThrowsError(try runPickle(marks.bytes)) { error in
            guard case CheckpointError.limitExceeded(_, _, _, let what, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(what, "MARK nesting")
        }
        // The value stack is capped.
        var limits = PickleMachine.Limits()
        limits.stack = 1000
        var wide = PickleWriter()
        for _ in 0..<1001 { wide.op("N") }
        XCTAssertThrowsError(try runPickle(wide.bytes, limits: limits)) { error in
            guard case CheckpointError.limitExceeded(_, _, let offset, let what, 1000) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(what, "pickle stack depth")
            XCTAssertEqual(offset, 1002)
        }
        // So is the memo.
        limits = PickleMachine.Limits()
        limits.memo = 10
        var memo = PickleWriter()
        memo.op("N")
        for i in 0..<11 { memo.op("r"); memo.uint32(UInt32(i)) }
        XCTAssertThrowsError(try runPickle(memo.bytes, limits: limits)) { error in
            guard case CheckpointError.limitExceeded(_, _, _, "memo size", 10) = error else { return XCTFail("\(error)") }
        }
    }

    // MARK: Synthetic checkpoints: strides, offsets, bounds, containers

    /// Storage "s" holds 0, 1, ..., 11.
    private let storage12: (key: String, values: [Float]) = ("s", (0..<12).map(Float.init))

    private func stridedTensors() -> [TensorSpec] {
        [
            TensorSpec(name: "plain", storage: "s", numel: 12, offset: 0, size: [3, 4], stride: [4, 1]),
            TensorSpec(name: "transposed", storage: "s", numel: 12, offset: 0, size: [3, 4], stride: [1, 3]),
            TensorSpec(name: "window", storage: "s", numel: 12, offset: 5, size: [2, 2], stride: [4, 1]),
            TensorSpec(name: "odd", storage: "s", numel: 12, offset: 1, size: [2, 1, 3], stride: [6, 100, 2]),
            TensorSpec(name: "broadcast", storage: "s", numel: 12, offset: 2, size: [2, 3], stride: [0, 1]),
            TensorSpec(name: "tail", storage: "s", numel: 12, offset: 9, size: [3], stride: [1]),
            TensorSpec(name: "scalar", storage: "s", numel: 12, offset: 7, size: [], stride: []),
            TensorSpec(name: "empty", storage: "s", numel: 12, offset: 12, size: [0, 5], stride: [5, 1]),
        ]
    }

    private func assertStridedValues(_ checkpoint: TorchCheckpoint, file: StaticString = #filePath, line: UInt = #line) {
        let expected: [(String, [Int], [Float])] = [
            ("plain", [3, 4], (0..<12).map(Float.init)),
            ("transposed", [3, 4], [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]),
            ("window", [2, 2], [5, 6, 9, 10]),
            ("odd", [2, 1, 3], [1, 3, 5, 7, 9, 11]),
            ("broadcast", [2, 3], [2, 3, 4, 2, 3, 4]),
            ("tail", [3], [9, 10, 11]),
            ("scalar", [], [7]),
            ("empty", [0, 5], []),
        ]
        XCTAssertEqual(checkpoint.keyOrder, expected.map(\.0), file: file, line: line)
        for (name, shape, values) in expected {
            XCTAssertEqual(checkpoint.tensors[name], TorchTensor(shape: shape, values: values), name, file: file, line: line)
        }
    }

    func testStridesAndOffsetsAreMaterialisedCContiguousInBothContainers() throws {
        for wrapped in [false, true] {
            let legacy = legacyFile(
                mainPickle: stateDictPickle(stridedTensors(), legacy: true, wrapped: wrapped),
                storages: [storage12])
            let checkpoint = try TorchCheckpoint.parse(bytes: legacy, path: "strided.pth")
            XCTAssertEqual(checkpoint.container, .legacy)
            assertStridedValues(checkpoint)
            XCTAssertEqual(checkpoint.sha256, SHA256.hex(legacy))

            let zip = zipFile(
                dataPickle: stateDictPickle(stridedTensors(), legacy: false, wrapped: wrapped),
                storages: [storage12])
            let zipped = try TorchCheckpoint.parse(bytes: zip, path: "strided.pth")
            XCTAssertEqual(zipped.container, .zip)
            assertStridedValues(zipped)
        }
    }

    func testOutOfBoundsViewsAreRefused() throws {
        let cases: [(TensorSpec, Int)] = [
            (TensorSpec(name: "big", storage: "s", numel: 12, offset: 0, size: [4, 4], stride: [4, 1]), 16),
            (TensorSpec(name: "shifted", storage: "s", numel: 12, offset: 10, size: [3], stride: [1]), 13),
            (TensorSpec(name: "strided", storage: "s", numel: 12, offset: 0, size: [2, 2], stride: [12, 1]), 14),
            (TensorSpec(name: "far", storage: "s", numel: 12, offset: 1 << 40, size: [1], stride: [1]), (1 << 40) + 1),
        ]
        for (spec, needed) in cases {
            for legacy in [true, false] {
                let pickle = stateDictPickle([spec], legacy: legacy, wrapped: legacy)
                let file = legacy ? legacyFile(mainPickle: pickle, storages: [storage12])
                    : zipFile(dataPickle: pickle, storages: [storage12])
                XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: file, path: "oob.pth")) { error in
                    guard case CheckpointError.storageOutOfBounds(let path, let tensor, let storage, let n, let available) = error else {
                        return XCTFail("\(spec.name): expected .storageOutOfBounds, got \(error)")
                    }
                    XCTAssertEqual(path, "oob.pth")
                    XCTAssertEqual(tensor, spec.name)
                    XCTAssertEqual(storage, "s")
                    XCTAssertEqual(n, needed, spec.name)
                    XCTAssertEqual(available, 12)
                    XCTAssertTrue("\(error)".contains("'\(spec.name)'"), "\(error)")
                }
            }
        }
    }

    func testMalformedTensorGeometryIsRefused() throws {
        let cases: [TensorSpec] = [
            TensorSpec(name: "negative-size", storage: "s", numel: 12, offset: 0, size: [-1, 2], stride: [2, 1]),
            TensorSpec(name: "negative-stride", storage: "s", numel: 12, offset: 11, size: [2], stride: [-1]),
            TensorSpec(name: "negative-offset", storage: "s", numel: 12, offset: -1, size: [1], stride: [1]),
            TensorSpec(name: "overflow", storage: "s", numel: 12, offset: 0, size: [1 << 31, 1 << 31, 1 << 31], stride: [0, 0, 0]),
            TensorSpec(name: "too-many-elements", storage: "s", numel: 12, offset: 0, size: [1 << 30], stride: [0]),
            TensorSpec(name: "stride-overflow", storage: "s", numel: 12, offset: 0, size: [3], stride: [Int64.max / 2 + 1]),
            TensorSpec(name: "rank-mismatch", storage: "s", numel: 12, offset: 0, size: [3, 4], stride: [4]),
        ]
        for spec in cases {
            let file = legacyFile(mainPickle: stateDictPickle([spec], legacy: true, wrapped: true), storages: [storage12])
            XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: file, path: "geometry.pth")) { error in
                guard case CheckpointError.malformedTensor(_, let tensor, _) = error else {
                    return XCTFail("\(spec.name): expected .malformedTensor, got \(error)")
                }
                XCTAssertEqual(tensor, spec.name)
            }
        }
    }

    func testStorageSizeMismatchesAreRefused() throws {
        // The persistent id claims 100 elements; the file holds 12.
        let spec = TensorSpec(name: "w", storage: "s", numel: 100, offset: 0, size: [12], stride: [1])
        let legacy = legacyFile(mainPickle: stateDictPickle([spec], legacy: true, wrapped: true), storages: [storage12])
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: legacy, path: "a.pth")) { error in
            guard case CheckpointError.badStorage(_, "s", _) = error else { return XCTFail("\(error)") }
        }
        let zip = zipFile(dataPickle: stateDictPickle([spec], legacy: false, wrapped: false), storages: [storage12])
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: zip, path: "a.pth")) { error in
            guard case CheckpointError.badStorage(_, "s", _) = error else { return XCTFail("\(error)") }
        }
        // A storage missing from the archive / from the legacy key list.
        let missing = TensorSpec(name: "w", storage: "t", numel: 12, offset: 0, size: [12], stride: [1])
        XCTAssertThrowsError(try TorchCheckpoint.parse(
            bytes: zipFile(dataPickle: stateDictPickle([missing], legacy: false, wrapped: false), storages: [storage12]),
            path: "a.pth")
        ) { error in
            XCTAssertEqual(error as? CheckpointError, .missingEntry(path: "a.pth", entry: "archive/data/t"))
        }
        XCTAssertThrowsError(try TorchCheckpoint.parse(
            bytes: legacyFile(mainPickle: stateDictPickle([missing], legacy: true, wrapped: true), storages: [storage12]),
            path: "a.pth")
        ) { error in
            guard case CheckpointError.badStorage(_, "t", _) = error else { return XCTFail("\(error)") }
        }
    }

    func testOtherStorageTypesAreRefusedByName() throws {
        for type in ["HalfStorage", "DoubleStorage", "LongStorage", "BFloat16Storage"] {
            var spec = TensorSpec(name: "w", storage: "s", numel: 12, offset: 0, size: [12], stride: [1])
            spec.storageType = type
            let file = zipFile(dataPickle: stateDictPickle([spec], legacy: false, wrapped: false), storages: [storage12])
            XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: file, path: "h.pth")) { error in
                assertForbidden(error, "torch", type)
                XCTAssertTrue("\(error)".contains("'torch.\(type)'"), "\(error)")
            }
        }
    }

    func testLegacyStorageViewsAreRefused() throws {
        var spec = TensorSpec(name: "w", storage: "s", numel: 12, offset: 0, size: [12], stride: [1])
        spec.legacyView = true
        let file = legacyFile(mainPickle: stateDictPickle([spec], legacy: true, wrapped: true), storages: [storage12])
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: file, path: "v.pth")) { error in
            guard case CheckpointError.unsupportedFormat(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("'s'"), reason)
        }
    }

    func testHugeLegacyStorageCountsAreRefused() throws {
        let spec = TensorSpec(name: "w", storage: "s", numel: 12, offset: 0, size: [12], stride: [1])
        let good = legacyFile(mainPickle: stateDictPickle([spec], legacy: true, wrapped: true), storages: [storage12])
        let countOffset = good.count - 48 - 8
        for count in [Int64.max, Int64(13), Int64(1) << 62, -1, Int64.min] {
            var bytes = good
            for i in 0..<8 { bytes[countOffset + i] = UInt8(truncatingIfNeeded: count >> Int64(8 * i)) }
            XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: bytes, path: "count.pth"), "\(count)") { error in
                XCTAssertTrue(error is CheckpointError, "\(error)")
            }
        }
        // Trailing garbage after the last storage.
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: good + [0], path: "tail.pth")) { error in
            guard case CheckpointError.unsupportedFormat = error else { return XCTFail("\(error)") }
        }
    }

    func testStateDictShapeErrors() throws {
        // A top-level list.
        var list = PickleWriter()
        list.op("]")
        list.op(".")
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: legacyFile(mainPickle: list.bytes, storages: []), path: "x.pth")) {
            guard case CheckpointError.notAStateDict = $0 else { return XCTFail("\($0)") }
        }
        // A value that is not a tensor.
        var dict = PickleWriter()
        dict.op("}")
        dict.string("epoch")
        dict.int(3)
        dict.op("s")
        dict.op(".")
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: zipFile(dataPickle: dict.bytes, storages: []), path: "x.pth")) {
            XCTAssertEqual($0 as? CheckpointError, .notAStateDict(path: "x.pth", reason: "'epoch' is a int, not a tensor"))
        }
        // An empty state dict.
        var empty = PickleWriter()
        empty.op("}")
        empty.op(".")
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: zipFile(dataPickle: empty.bytes, storages: []), path: "x.pth")) {
            guard case CheckpointError.notAStateDict = $0 else { return XCTFail("\($0)") }
        }
    }

    func testNotACheckpoint() throws {
        for bytes: [UInt8] in [[], [0x00], Array("hello world".utf8), [0x80, 0x02, 0x4e, 0x2e]] {
            XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: bytes, path: "n.pth")) {
                guard case CheckpointError.notACheckpoint(let path, _) = $0 else { return XCTFail("\($0)") }
                XCTAssertEqual(path, "n.pth")
            }
        }
        // A legacy stream whose first pickle is the wrong number.
        var wrong = legacyFile(mainPickle: [0x80, 2, UInt8(ascii: "}"), UInt8(ascii: ".")], storages: [])
        wrong[4] ^= 0x01
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: wrong, path: "n.pth")) {
            guard case CheckpointError.notACheckpoint = $0 else { return XCTFail("\($0)") }
        }
    }

    // MARK: Zip container details

    private func stridedZip() -> [UInt8] {
        zipFile(dataPickle: stateDictPickle(stridedTensors(), legacy: false, wrapped: false), storages: [storage12])
    }

    func testCompressedZipEntriesAreRefused() throws {
        var bytes = stridedZip()
        // Mark the first central-directory entry (archive/data.pkl) as deflated (method 8).
        let central = findSignature([0x50, 0x4b, 0x01, 0x02], in: bytes)
        bytes[central + 10] = 8
        XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: bytes, path: "z.pth")) { error in
            XCTAssertEqual(error as? CheckpointError, .compressedEntry(path: "z.pth", entry: "archive/data.pkl", method: 8))
            XCTAssertTrue("\(error)".contains("compressed"))
        }
    }

    func testZipStructuralDamageIsRefused() throws {
        let good = stridedZip()
        XCTAssertNoThrow(try TorchCheckpoint.parse(bytes: good, path: "z.pth"))
        let eocd = findSignature([0x50, 0x4b, 0x05, 0x06], in: good)
        let central = findSignature([0x50, 0x4b, 0x01, 0x02], in: good)
        var mutations: [(String, (inout [UInt8]) -> Void)] = [
            ("directory offset past the end", { put32(&$0, eocd + 16, 0x7fff_ffff) }),
            ("directory size past the end", { put32(&$0, eocd + 12, 0x7fff_ffff) }),
            ("too many entries", { put16(&$0, eocd + 10, 500); put16(&$0, eocd + 8, 500) }),
            ("local header offset past the end", { put32(&$0, central + 42, 0x7fff_fff0) }),
            ("entry size past the end", { put32(&$0, central + 24, 0x7fff_fff0); put32(&$0, central + 20, 0x7fff_fff0) }),
            ("encrypted", { $0[central + 8] |= 1 }),
            ("zip64 without locator", { put32(&$0, eocd + 16, 0xffff_ffff) }),
            ("zip64 entry without extra", { put32(&$0, central + 24, 0xffff_ffff) }),
            ("split archive", { put16(&$0, eocd + 4, 1) }),
            ("name too long", { put16(&$0, central + 28, 0xffff) }),
            ("trailing bytes (no EOCD at the end)", { $0.append(contentsOf: [0, 0, 0]) }),
        ]
        // Every single-byte change to the central directory and EOCD.
        for offset in central..<good.count {
            mutations.append(("byte \(offset) + 0x55", { $0[offset] = $0[offset] &+ 0x55 }))
        }
        for (label, mutate) in mutations {
            var bytes = good
            mutate(&bytes)
            do {
                _ = try TorchCheckpoint.parse(bytes: bytes, path: "z.pth")
            } catch let error as CheckpointError {
                XCTAssertTrue("\(error)".hasPrefix("z.pth: "), "\(label): \(error)")
            } catch {
                XCTFail("\(label): not a CheckpointError: \(error)")
            }
        }
        // The named mutations must all fail.
        for (label, mutate) in mutations.prefix(11) {
            var bytes = good
            mutate(&bytes)
            XCTAssertThrowsError(try TorchCheckpoint.parse(bytes: bytes, path: "z.pth"), label)
        }
    }

    func testZip64RecordsAreRead() throws {
        // The real torch files carry a zip64 end record; here the classic record is saturated so
        // that the zip64 one must be used.
        var bytes = zipFile(
            dataPickle: stateDictPickle(stridedTensors(), legacy: false, wrapped: false), storages: [storage12],
            zip64: true)
        let eocd = findSignature([0x50, 0x4b, 0x05, 0x06], in: bytes)
        put16(&bytes, eocd + 8, 0xffff)
        put16(&bytes, eocd + 10, 0xffff)
        put32(&bytes, eocd + 12, 0xffff_ffff)
        put32(&bytes, eocd + 16, 0xffff_ffff)
        assertStridedValues(try TorchCheckpoint.parse(bytes: bytes, path: "z64.pth"))
    }

    /// Fuzz iterations per input; NIGHTJAR_FUZZ_ITERATIONS raises it for a longer soak.
    func fuzzIterations(default count: Int) -> Int {
        ProcessInfo.processInfo.environment["NIGHTJAR_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? count
    }

    /// Random byte corruption (and truncation) of small synthetic checkpoints, through the whole
    /// reader: always a value or a CheckpointError, never a crash.
    func testRandomCorruptionNeverCrashes() throws {
        var rng = SplitMix64(seed: 0x6e69_6768_746a_6172)
        let files = [
            legacyFile(mainPickle: stateDictPickle(stridedTensors(), legacy: true, wrapped: true), storages: [storage12]),
            stridedZip(),
        ]
        for file in files {
            for _ in 0..<fuzzIterations(default: 3000) {
                var bytes = file
                let flips = 1 + Int(rng.next() % 3)
                for _ in 0..<flips {
                    let at = Int(rng.next() % UInt64(bytes.count))
                    bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                }
                if rng.next() % 4 == 0 { bytes.removeLast(Int(rng.next() % UInt64(bytes.count))) }
                do {
                    let checkpoint = try TorchCheckpoint.parse(bytes: bytes, path: "fuzz.pth")
                    for tensor in checkpoint.tensors.values {
                        XCTAssertEqual(tensor.shape.reduce(1, *), tensor.values.count)
                    }
                } catch {
                    XCTAssertTrue(error is CheckpointError, "\(error)")
                }
            }
        }
    }
}

extension CheckpointTests {
    /// Random corruption of the real pickles (the official main pickle, the MIT data.pkl), run
    /// through the pickle machine and the state_dict reader with zero-filled storages of the
    /// declared sizes: always a value or a CheckpointError, never a crash.
    func testRandomCorruptionOfRealPicklesNeverCrashes() throws {
        let official = Array(try Data(contentsOf: try SharedReference.url("models/official-sid-sony.pth")))
        let mit = Array(try Data(contentsOf: try SharedReference.url("models/red-mit-sid-sony.pth")))
        // The official main pickle spans bytes 137..<12880 (see pickletools.dis); the MIT data.pkl
        // is the archive's first entry.
        let mainPickle = Array(official[137..<12880])
        XCTAssertNoThrow(try runPickle(mainPickle))
        let entry = try XCTUnwrap(ZipArchive(bytes: mit, path: "mit").entry(named: "archive/data.pkl"))
        let dataPickle = Array(mit[entry.range])
        var rng = SplitMix64(seed: 0x7069_636b_6c65)
        var loaded = 0
        for pickle in [mainPickle, dataPickle] {
            for _ in 0..<fuzzIterations(default: 400) {
                var bytes = pickle
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
                do {
                    let result = try runPickle(bytes)
                    let reader = StateDictReader(path: "fuzz", result: result) { storage in
                        guard storage.elementCount <= 1 << 20 else {
                            throw CheckpointError.badStorage(path: "fuzz", storage: storage.key, reason: "too big")
                        }
                        return [Float](repeating: 0, count: storage.elementCount)
                    }
                    _ = try reader.materialise(maxElements: 1 << 21)
                    loaded += 1
                } catch {
                    XCTAssertTrue(error is CheckpointError, "\(error)")
                }
            }
        }
        // Most corruptions of names and numbers still load; the fuzz does reach materialisation.
        XCTAssertGreaterThan(loaded, 0)
    }
}

// MARK: - Builders for synthetic pickles and checkpoints

private func assertForbidden(_ error: Error, _ module: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
    guard case CheckpointError.forbiddenGlobal(_, _, _, let m, let n) = error else {
        return XCTFail("expected .forbiddenGlobal(\(module).\(name)), got \(error)", file: file, line: line)
    }
    XCTAssertEqual(m, module, file: file, line: line)
    XCTAssertEqual(n, name, file: file, line: line)
}

private func runPickle(_ bytes: [UInt8], limits: PickleMachine.Limits = PickleMachine.Limits()) throws -> PickleResult {
    try PickleMachine.run(bytes, range: 0..<bytes.count, path: "test.pkl", stream: "test", limits: limits)
}

private func put16(_ bytes: inout [UInt8], _ at: Int, _ value: Int) {
    bytes[at] = UInt8(value & 0xff)
    bytes[at + 1] = UInt8((value >> 8) & 0xff)
}

private func put32(_ bytes: inout [UInt8], _ at: Int, _ value: Int) {
    for i in 0..<4 { bytes[at + i] = UInt8((value >> (8 * i)) & 0xff) }
}

private func findSignature(_ signature: [UInt8], in bytes: [UInt8]) -> Int {
    var i = 0
    while i + 4 <= bytes.count {
        if Array(bytes[i..<(i + 4)]) == signature { return i }
        i += 1
    }
    return -1
}

/// Emits pickle opcodes (protocol 2 unless told otherwise).
private struct PickleWriter {
    var bytes: [UInt8]

    init(protocol version: UInt8 = 2) { bytes = [0x80, version] }

    mutating func op(_ opcode: UInt8) { bytes.append(opcode) }
    mutating func op(_ opcode: Character) { bytes.append(opcode.asciiValue!) }
    mutating func uint32(_ value: UInt32) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(8 * i))) }
    }
    mutating func global(_ module: String, _ name: String) {
        op("c")
        bytes += Array("\(module)\n\(name)\n".utf8)
    }
    mutating func string(_ text: String) {
        op("X")
        uint32(UInt32(text.utf8.count))
        bytes += Array(text.utf8)
    }
    /// BININT for 32-bit values, LONG1 otherwise.
    mutating func int(_ value: Int64) {
        if let small = Int32(exactly: value) {
            op("J")
            uint32(UInt32(bitPattern: small))
        } else {
            op(0x8a)
            op(8)
            for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> Int64(8 * i))) }
        }
    }
}

private struct TensorSpec {
    var name: String
    var storage: String
    var numel: Int64
    var offset: Int64
    var size: [Int64]
    var stride: [Int64]
    var storageType = "FloatStorage"
    /// The legacy persistent id's sixth element (view metadata); None when false.
    var legacyView = false
}

/// A state_dict pickle as torch writes it: OrderedDict() then SETITEMS of _rebuild_tensor_v2
/// calls on persistent storages, then BUILD with a `_metadata` dict.
private func stateDictPickle(_ tensors: [TensorSpec], legacy: Bool, wrapped: Bool) -> [UInt8] {
    var p = PickleWriter()
    if wrapped {
        p.op("}")
        p.string("model")
    }
    p.global("collections", "OrderedDict")
    p.op("q"); p.op(0)
    p.op(")")
    p.op("R")
    p.op("(")
    for tensor in tensors {
        p.string(tensor.name)
        p.global("torch._utils", "_rebuild_tensor_v2")
        p.op("(")
        p.op("(")
        p.string("storage")
        p.global("torch", tensor.storageType)
        p.string(tensor.storage)
        p.string("cpu")
        p.int(tensor.numel)
        if legacy {
            if tensor.legacyView {
                p.string("other")
                p.int(0)
                p.int(tensor.numel)
                p.op(0x87)
            } else {
                p.op("N")
            }
        }
        p.op("t")
        p.op("Q")
        p.int(tensor.offset)
        p.op("(")
        for s in tensor.size { p.int(s) }
        p.op("t")
        p.op("(")
        for s in tensor.stride { p.int(s) }
        p.op("t")
        p.op(0x89)
        p.op("h"); p.op(0)
        p.op(")")
        p.op("R")
        p.op("t")
        p.op("R")
    }
    p.op("u")
    p.op("}")
    p.string("_metadata")
    p.op("h"); p.op(0)
    p.op(")")
    p.op("R")
    p.op("s")
    p.op("b")
    if wrapped { p.op("s") }
    p.op(".")
    return p.bytes
}

/// A legacy torch file: magic, protocol version, sys info, the main pickle, the storage keys,
/// then each storage as an int64 count and float32 data.
private func legacyFile(mainPickle: [UInt8], storages: [(key: String, values: [Float])]) -> [UInt8] {
    var bytes: [UInt8] = [0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]
    bytes += [0x80, 2, UInt8(ascii: "M"), 0xe9, 0x03, 0x2e]
    var info = PickleWriter()
    info.op("}")
    info.string("little_endian")
    info.op(0x88)
    info.op("s")
    info.op(".")
    bytes += info.bytes
    bytes += mainPickle
    var keys = PickleWriter()
    keys.op("]")
    keys.op("(")
    for storage in storages { keys.string(storage.key) }
    keys.op("e")
    keys.op(".")
    bytes += keys.bytes
    for storage in storages {
        let count = UInt64(storage.values.count)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: count >> UInt64(8 * i))) }
        for value in storage.values {
            let bits = value.bitPattern
            for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(8 * i))) }
        }
    }
    return bytes
}

/// A STORED zip like torch writes: archive/data.pkl, archive/data/<key>, archive/version.
private func zipFile(dataPickle: [UInt8], storages: [(key: String, values: [Float])], zip64: Bool = false) -> [UInt8] {
    var entries: [(String, [UInt8])] = [("archive/data.pkl", dataPickle)]
    for storage in storages {
        var data: [UInt8] = []
        for value in storage.values {
            for i in 0..<4 { data.append(UInt8(truncatingIfNeeded: value.bitPattern >> UInt32(8 * i))) }
        }
        entries.append(("archive/data/\(storage.key)", data))
    }
    entries.append(("archive/version", Array("3\n".utf8)))

    func le(_ value: Int, _ width: Int) -> [UInt8] {
        (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
    var bytes: [UInt8] = []
    var central: [UInt8] = []
    for (name, data) in entries {
        let offset = bytes.count
        let crc = Int(CRC32.checksum(data, range: 0..<data.count))
        let nameBytes = Array(name.utf8)
        // Local header: sizes and CRC here too (torch leaves them in a data descriptor instead;
        // the reader uses the central directory either way). A 4-byte padding extra field.
        bytes += le(0x0403_4b50, 4) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4)
        bytes += le(crc, 4) + le(data.count, 4) + le(data.count, 4)
        bytes += le(nameBytes.count, 2) + le(4, 2) + nameBytes + [0x46, 0x42, 0, 0]
        bytes += data
        central += le(0x0201_4b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4)
        central += le(crc, 4) + le(data.count, 4) + le(data.count, 4)
        central += le(nameBytes.count, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4)
        central += le(offset, 4) + nameBytes
    }
    let centralOffset = bytes.count
    bytes += central
    if zip64 {
        let recordOffset = bytes.count
        bytes += le(0x0606_4b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4)
        bytes += le(entries.count, 8) + le(entries.count, 8) + le(central.count, 8) + le(centralOffset, 8)
        bytes += le(0x0706_4b50, 4) + le(0, 4) + le(recordOffset, 8) + le(1, 4)
    }
    bytes += le(0x0605_4b50, 4) + le(0, 2) + le(0, 2) + le(entries.count, 2) + le(entries.count, 2)
    bytes += le(central.count, 4) + le(centralOffset, 4) + le(0, 2)
    return bytes
}

/// A deterministic generator for the fuzz test.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// A tensor pickle whose storage argument is written by `storageArgument`.
private func tensorPickle(storageArgument: (inout PickleWriter) -> Void) -> [UInt8] {
    var p = PickleWriter()
    p.global("torch._utils", "_rebuild_tensor_v2")
    p.op("(")
    storageArgument(&p)
    p.int(0)
    p.op(")")
    p.op(")")
    p.op(0x89)
    p.op("}")
    p.op("t")
    p.op("R")
    p.op(".")
    return p.bytes
}
