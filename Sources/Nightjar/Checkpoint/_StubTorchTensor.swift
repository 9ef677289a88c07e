// TEMPORARY (not committed): stands in for the checkpoint reader until it merges.
public struct TorchTensor: Sendable, Equatable { public var shape: [Int]; public var values: [Float]
  public init(shape: [Int], values: [Float]) { self.shape = shape; self.values = values } }
