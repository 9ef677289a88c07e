import ArgumentParser
import FoundationEssentials
import Nightjar

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a PyTorch checkpoint (official or MIT layout) into a Nightjar model file.",
        discussion: """
            Reads both torch containers (legacy and zip) without executing anything: a checkpoint \
            that names any global other than the few tensor-building ones is refused. Weight \
            normalisation is folded and the variant is inferred from the keys.
            """
    )

    @Argument(help: "The PyTorch checkpoint (.pth).")
    var checkpoint: String

    @Option(name: .shortAndLong, help: "The model file to write (.safetensors).")
    var output: String

    @Flag(help: "Replace the output file if it exists.")
    var overwrite = false

    func run() throws {
        try reportingErrors {
            let source = URL(fileURLWithPath: checkpoint)
            let target = URL(fileURLWithPath: output)
            if !overwrite, FileManager.default.fileExists(atPath: target.path) {
                throw fail("\(target.path) exists; pass --overwrite to replace it")
            }
            let loaded = try TorchCheckpoint.load(contentsOf: source)
            let model = try CheckpointConversion.convert(
                stateDict: loaded.tensors,
                provenance: (source.lastPathComponent, loaded.sha256),
                path: source.path)
            try model.write(to: target, overwrite: overwrite)
            standardOutput(
                "\(displayable(target.path)): \(model.architecture), \(model.architecture.parameterCount) parameters, "
                    + "from \(displayable(source.lastPathComponent)) (\(loaded.container.rawValue) container, "
                    + "\(model.provenance.keyLayout) layout, sha256 \(loaded.sha256.prefix(16))...)")
        }
    }
}
