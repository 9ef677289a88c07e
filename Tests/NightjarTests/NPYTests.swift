import Foundation
import Nightjar
import XCTest

final class NPYTests: XCTestCase {
    func testRoundTripFloat32() throws {
        let array = NPYArray(shape: [3, 2, 5], floats: (0..<30).map { Float($0) * 0.5 - 3 })
        let parsed = try NPYArray.parse(array.encoded())
        XCTAssertEqual(parsed, array)
        XCTAssertEqual(parsed.encoded().count % 64, 30 * 4 % 64)  // data starts 64-byte aligned
    }

    func testReadsGoldenTensorHeader() throws {
        let array = try NPYArray.read(contentsOf: try SharedReference.url("golden/tensors/official_256x256_out.npy"))
        XCTAssertEqual(array.shape, [3, 256, 256])
        XCTAssertEqual(array.dtype, .float32)
        let mean = try array.floats().reduce(0.0) { $0 + Double($1) } / Double(array.elementCount)
        XCTAssertEqual(mean, 0.27064356207847595, accuracy: 1e-6)  // manifest's output_mean
    }

    func testRejectsTruncatedData() throws {
        let bytes = NPYArray(shape: [4, 4], floats: [Float](repeating: 1, count: 16)).encoded()
        XCTAssertThrowsError(try NPYArray.parse(Array(bytes.dropLast(3)))) { error in
            XCTAssertTrue("\(error)".contains("needs 64"), "\(error)")
        }
        XCTAssertThrowsError(try NPYArray.parse(Array(bytes.prefix(9))))
    }
}
