import ArgumentParser
import FoundationEssentials
import Nightjar

struct RunTensorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-tensor",
        abstract: "Run the network on one amplified mosaic stored as .npy.",
        discussion: """
            IN.npy is a float32 HxW array (black-subtracted, normalised, amplified, RGGB at (0,0); \
            H and W multiples of 32). OUT.npy receives the float32 3xHxW output in [0, 1].
            """
    )

    @Argument(help: "The Nightjar model file.")
    var model: String

    @Argument(help: "Input: float32 HxW .npy.")
    var input: String

    @Argument(help: "Output: float32 3xHxW .npy.")
    var output: String

    @Option(help: PrecisionOption.help)
    var precision: PrecisionOption?

    func run() throws {
        try reportingErrors {
            let network = try NightjarModel.load(contentsOf: URL(fileURLWithPath: model))
            let array = try NPYArray.read(contentsOf: URL(fileURLWithPath: input))
            guard array.shape.count == 2, array.dtype == .float32 else {
                throw fail("\(input): expected a float32 HxW array, found \(array.dtype.rawValue) of shape \(array.shape)")
            }
            let (height, width) = (array.shape[0], array.shape[1])
            let values = try array.floats()
            var result = [Float](repeating: 0, count: 3 * height * width)
            if (precision?.precision ?? network.defaultPrecision) == .fp32 {
                // The reference executor.
                try Engine(model: network, maxHeight: height, maxWidth: width).run(input: values, output: &result, height: height, width: width)
            } else {
                try StreamingEngine(model: network, maxHeight: height, maxWidth: width, precision: precision?.precision, modelPath: model)
                    .run(input: values, output: &result, height: height, width: width)
            }
            try NPYArray(shape: [3, height, width], floats: result).write(to: URL(fileURLWithPath: output))
        }
    }
}
