import Foundation
import XCTest

import Nightjar

final class SHA256Tests: XCTestCase {
    /// The FIPS 180-4 example messages (NIST CSRC "SHA256.pdf" / "SHA2_Additional" examples).
    func testNISTVectors() {
        XCTAssertEqual(
            SHA256.hex(Array("".utf8)),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(
            SHA256.hex(Array("abc".utf8)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(
            SHA256.hex(Array(
                ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                    + "klmnopqrlmnopqrsmnopqrstnopqrstu").utf8)),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testMillionA() {
        XCTAssertEqual(
            SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Lengths around the padding boundaries (55/56 bytes: one or two final blocks).
    /// Expected values from Python:
    ///   hashlib.sha256(bytes((i*7+3)&255 for i in range(n))).hexdigest()
    func testPaddingBoundaries() {
        let expected: [Int: String] = [
            55: "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b",
            56: "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27",
            63: "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055",
            64: "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241",
            65: "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e",
            119: "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e",
            120: "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5",
            128: "d2742f1f4ac6bb7ca2b239ee18402ba8b3f9f8e652d2a72973c2b9ba11c08cf6",
        ]
        for (n, hex) in expected.sorted(by: { $0.key < $1.key }) {
            let message = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
            XCTAssertEqual(SHA256.hex(message), hex, "length \(n)")
        }
    }

    func testDigestIsThe32BytesOfHex() {
        let digest = SHA256.digest(Array("abc".utf8))
        XCTAssertEqual(digest.count, 32)
        XCTAssertEqual(Array(digest.prefix(4)), [0xba, 0x78, 0x16, 0xbf])
        XCTAssertEqual(Array(digest.suffix(4)), [0xf2, 0x00, 0x15, 0xad])
    }

    /// `sha256sum ../shared/models/official-sid-sony.pth` prints
    /// e7a4f76cf12b9f69ae35b2c2bab3356a36669660ab3128a0e65d6f4c82517163
    func testOfficialCheckpointFile() throws {
        let url = try SharedReference.url("models/official-sid-sony.pth")
        let bytes = Array(try Data(contentsOf: url))
        XCTAssertEqual(
            SHA256.hex(bytes), "e7a4f76cf12b9f69ae35b2c2bab3356a36669660ab3128a0e65d6f4c82517163")
    }
}
