import Foundation
@testable import Nightjar
import XCTest

/// The whole product path on the golden captures: DNG → LibRaw → amplifier → streaming FP32
/// engine → 8-bit PNG, against the PyTorch pipeline's expected images (REFERENCE.md §4):
/// amplification within 1e-5 relative, offset and size exact, ≥ 99.9 % of 8-bit values equal
/// and none off by more than 1.
final class GoldenCaptureTests: XCTestCase {
    private static let cache = ModelCache()

    func testGoldenCapturesWithTheStreamingEngine() throws {
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let engine = try StreamingEngine(model: model, maxHeight: 512, maxWidth: 768)
        try checkGoldenCaptures(self, modelName: "official-sid-sony", network: engine)
        let directory = try makeTemporaryDirectory(self)
        for (name, entry) in try goldenCaptures() {
            let result = try runGoldenCapture(entry, network: engine, modelName: "official-sid-sony", directory: directory)
            print("golden capture \(name): \(String(format: "%.4f", result.equalFraction * 100)) % equal, max off \(result.maxDifference), amplification \(result.report.amplification)")
        }
    }
}
