// swift-tools-version:6.0
import PackageDescription

// Per-ISA kernel modules compile the same sources with different -march flags; the engine picks one at start-up
// by CPUID (see Sources/SenteiEngine/Runtime/KernelTable.swift). x86-64 only.
func isa(_ march: String?) -> [SwiftSetting] {
    var flags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
    if let march { flags.append(.unsafeFlags(["-Xcc", "-march=\(march)"])) }
    return flags
}

let package = Package(
    name: "Sentei",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sentei", targets: ["sentei"]),
        .executable(name: "senteid", targets: ["senteid"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C: CPUID, futex, atomics on raw words — only what Swift cannot express.
        .target(name: "CSenteiKernels"),
        .target(name: "SenteiKernelsAVX512", dependencies: ["CSenteiKernels"], swiftSettings: isa("x86-64-v4")),
        .target(name: "SenteiKernelsAVX2", dependencies: ["CSenteiKernels"], swiftSettings: isa("x86-64-v3")),
        .target(name: "SenteiKernelsBase", dependencies: ["CSenteiKernels"], swiftSettings: isa(nil)),
        .target(
            name: "SenteiEngine",
            dependencies: ["CSenteiKernels", "SenteiKernelsAVX512", "SenteiKernelsAVX2", "SenteiKernelsBase"],
            swiftSettings: [
                .unsafeFlags(["-enforce-exclusivity=unchecked"]),
                .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
            ]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .target(
            name: "SenteiVision",
            dependencies: ["SenteiEngine", "CTurboJPEG"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .executableTarget(
            name: "sentei",
            dependencies: [
                "SenteiEngine", "SenteiVision", "SenteiCapture", "SenteiDaemon", "SenteiPrune",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "SenteiEngineTests", dependencies: ["SenteiEngine"]),
        // Training mode: gradient checks per op, optimiser, checkpoints, distillation on tiny graphs.
        .testTarget(name: "SenteiTrainingTests", dependencies: ["SenteiEngine"]),
        .testTarget(name: "SenteiVisionTests", dependencies: ["SenteiVision"]),
        // Structured pruning: coupled channel groups, calibration, allocation, ONNX writer.
        .target(name: "SenteiPrune", dependencies: ["SenteiEngine", "SenteiVision"]),
        .testTarget(name: "SenteiPruneTests", dependencies: ["SenteiPrune", "SenteiVision"]),
        // Capture: V4L2 + replay sources; knows nothing of models.
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2", providers: [.apt(["libv4l-dev"])]),
        .target(name: "SenteiCapture", dependencies: ["CV4L2"]),
        // Probe run inside the QEMU guest by Tests/vm/run (and by hand against a real camera).
        .executableTarget(name: "sentei-capture-check", dependencies: ["SenteiCapture", "CV4L2"]),
        .testTarget(name: "SenteiCaptureTests", dependencies: ["SenteiCapture", "CV4L2"]),
        // The daemon room: pipeline, tracker, controller, power meters, config, socket, journal, sd_notify.
        .target(
            name: "SenteiDaemon",
            dependencies: [
                "SenteiEngine", "SenteiVision", "SenteiCapture", "SenteiPrune", "CSenteiKernels",
                // Interfaces: TOML config, journald + sd_notify, logging, signals.
                "CSystemd", .product(name: "TOMLKit", package: "TOMLKit"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // The daemon executable: config → pipeline → socket/journal sinks → sd_notify. Wiring only.
        .executableTarget(
            name: "senteid",
            dependencies: [
                "SenteiDaemon", "SenteiVision", "SenteiCapture",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        .testTarget(name: "SenteiDaemonTests", dependencies: ["SenteiDaemon", "SenteiPrune"]),
        .testTarget(
            name: "SenteiKernelsTests",
            dependencies: ["SenteiEngine", "SenteiKernelsAVX512", "SenteiKernelsAVX2", "SenteiKernelsBase"]),
        // GFLOP/s of the fp32 GEMM/conv kernels per ISA on YOLO shapes, 1 and 2 threads.
        .executableTarget(
            name: "kernel-bench", dependencies: ["SenteiEngine"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
    ],
    swiftLanguageModes: [.v6]
)
