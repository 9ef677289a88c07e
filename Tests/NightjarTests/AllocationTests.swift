import Foundation
import MallocCounter
@testable import Nightjar
import XCTest

/// After warm-up, running a frame makes no heap allocation at all. Counted in optimised
/// builds only: unoptimised Swift boxes values in unspecialised generic code, which the shipped
/// binary never does. `scripts/test.sh` runs these tests again with `-c release`.
final class AllocationTests: XCTestCase {
    private static let cache = ModelCache()

    private func requireOptimisedBuild() throws {
        #if DEBUG
        throw XCTSkip("SKIPPED: allocation counts need an optimised build (scripts/test.sh runs `swift test -c release --filter AllocationTests`)")
        #endif
    }

    func testCounterSeesAllocations() {
        nj_malloc_counter_start()
        let array = [Int](repeating: 7, count: Int.random(in: 1000...2000))
        let counted = nj_malloc_counter_stop()
        XCTAssertGreaterThan(counted, 0)
        XCTAssertEqual(array[0], 7)
    }

    func testStreamingFrameMakesNoHeapAllocation() throws {
        try requireOptimisedBuild()
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let (height, width) = (192, 256)
        let engine = try StreamingEngine(model: model, maxHeight: height, maxWidth: width, threads: 2)
        let input = StreamingTests.input(height: height, width: width, seed: 5)
        var output = [Float](repeating: 0, count: 3 * height * width)
        try input.withUnsafeBufferPointer { inputs in
            try output.withUnsafeMutableBufferPointer { outputs in
                let (i, o) = (inputs.baseAddress!, outputs.baseAddress!)
                try engine.run(input: i, output: o, height: height, width: width)  // warm-up
                nj_malloc_counter_start()
                try engine.run(input: i, output: o, height: height, width: width)
                let counted = nj_malloc_counter_stop()
                XCTAssertEqual(counted, 0, "heap allocations while running a frame")
            }
        }
        XCTAssertGreaterThan(output.max()!, 0)
    }

    func testWholeFrameEngineMakesNoHeapAllocation() throws {
        try requireOptimisedBuild()
        let model = try Self.cache.model(try SharedReference.url("models/official-sid-sony.pth"))
        let engine = try Engine(model: model, maxHeight: 64, maxWidth: 96, threads: 2)
        let input = StreamingTests.input(height: 64, width: 96, seed: 6)
        var output = [Float](repeating: 0, count: 3 * 64 * 96)
        try input.withUnsafeBufferPointer { inputs in
            try output.withUnsafeMutableBufferPointer { outputs in
                try engine.run(input: inputs.baseAddress!, output: outputs.baseAddress!, height: 64, width: 96)
                nj_malloc_counter_start()
                try engine.run(input: inputs.baseAddress!, output: outputs.baseAddress!, height: 64, width: 96)
                XCTAssertEqual(nj_malloc_counter_stop(), 0)
            }
        }
    }
}
