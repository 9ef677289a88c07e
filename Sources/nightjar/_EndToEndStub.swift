import Foundation
import Nightjar
enum EndToEndBench {
    static func measure(model: NightjarModel, modelName: String, size: FrameSize, threads: Int, runs: Int, input: URL?) throws -> ProcessMetrics.Summary? { nil }
}
