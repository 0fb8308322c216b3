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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
            dependencies: ["SenteiEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "SenteiEngineTests", dependencies: ["SenteiEngine"]),
        .testTarget(name: "SenteiVisionTests", dependencies: ["SenteiVision"]),
        // Capture: V4L2 + replay sources; knows nothing of models.
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2", providers: [.apt(["libv4l-dev"])]),
        .target(name: "SenteiCapture", dependencies: ["CV4L2"]),
        .testTarget(name: "SenteiCaptureTests", dependencies: ["SenteiCapture", "CV4L2"]),
        .testTarget(
            name: "SenteiKernelsTests",
            dependencies: ["SenteiEngine", "SenteiKernelsAVX512", "SenteiKernelsAVX2", "SenteiKernelsBase"]),
    ],
    swiftLanguageModes: [.v6]
)
