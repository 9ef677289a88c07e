// swift-tools-version:6.0
import PackageDescription

// Data flow, one folder each: checkpoint -> model file -> plan (arena) -> executor (kernels)
// -> capture pipeline (RAW in, PNG out) -> CLI and daemon.
let package = Package(
    name: "Nightjar",
    products: [
        .executable(name: "nightjar", targets: ["nightjar"]),
        .library(name: "Nightjar", targets: ["Nightjar"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Hand-written C kernels: scalar references and SIMD variants, chosen at run time.
        // Kernels are always optimised: a -O0 convolution is too slow even for tests.
        .target(
            name: "NightjarKernels",
            path: "CSupport/NightjarKernels",
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        // System libraries, found through pkg-config.
        .systemLibrary(
            name: "CLibRaw",
            path: "CSupport/CLibRaw",
            pkgConfig: "libraw",
            providers: [.apt(["libraw-dev"])]
        ),
        .systemLibrary(
            name: "CLibPNG",
            path: "CSupport/CLibPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        // Tiny C shims over LibRaw and libpng (libpng's setjmp/longjmp error handling stays in C).
        .target(
            name: "NightjarIOShims",
            dependencies: ["NightjarKernels", "CLibRaw", "CLibPNG"],
            path: "CSupport/NightjarIOShims",
            // zlib itself (libpng's own dependency): the PNG's pieces are deflated directly.
            linkerSettings: [.linkedLibrary("z")]
        ),
        .target(
            name: "Nightjar",
            dependencies: ["NightjarKernels", "CLibRaw", "CLibPNG", "NightjarIOShims"],
            path: "Sources/Nightjar"
        ),
        .executableTarget(
            name: "nightjar",
            dependencies: [
                "Nightjar",
                "NightjarKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/nightjar"
        ),
        // Counts heap allocations in tests (interposes malloc in the test binary only).
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
        .testTarget(
            name: "NightjarTests",
            dependencies: ["Nightjar", "NightjarKernels", "MallocCounter"],
            path: "Tests/NightjarTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
