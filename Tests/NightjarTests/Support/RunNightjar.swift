import Foundation

/// The built `nightjar` executable, beside the test bundle in the build directory.
let nightjarExecutable: URL = {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("nightjar").path), dir.path != "/" {
        dir.deleteLastPathComponent()
    }
    return dir.appendingPathComponent("nightjar")
}()

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `nightjar` with arguments and collects its exit status and output. `prelude`: shell
/// commands run first in the process that then becomes `nightjar` (a limit to set, a cgroup to
/// join); it must succeed.
func runNightjar(_ arguments: [String], environment: [String: String]? = nil, prelude: String? = nil) throws -> ProcessResult {
    let process = Process()
    if let prelude {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(prelude) && exec \"$0\" \"$@\"", nightjarExecutable.path] + arguments
    } else {
        process.executableURL = nightjarExecutable
        process.arguments = arguments
    }
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read before waiting so a chatty process cannot fill the pipe and stall.
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}
