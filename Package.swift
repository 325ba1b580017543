// swift-tools-version:6.0
import PackageDescription

// Joey: an application kernel for Linux/x86-64. Targets follow DESIGN.md:
// CJoey (host shim) <- JoeyABI (Linux ABI) <- JoeyPlatform (systrap, ptrace) <- JoeyKernel (the sentry) <- joey (CLI);
// JoeyOCI (bundles and container state) <- JoeySandbox (OCI config -> SandboxSpec) <- joey.
let package = Package(
    name: "Joey",
    products: [
        .executable(name: "joey", targets: ["joey"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // libseccomp and libcap build the sentry's confinement (confine.c).
        .target(name: "CJoey", linkerSettings: [.linkedLibrary("seccomp"), .linkedLibrary("cap")]),
        .target(name: "JoeyABI"),
        .target(name: "JoeyPlatform", dependencies: ["CJoey", "JoeyABI"]),
        // Deque: the MM's sorted mappings, where top-down mmaps insert near the front.
        .target(name: "JoeyKernel", dependencies: ["CJoey", "JoeyABI", "JoeyPlatform",
                                                   .product(name: "DequeModule", package: "swift-collections")]),
        .target(name: "JoeyOCI"),
        // OCI config -> SandboxSpec (and, later, the sentry's confinement).
        .target(name: "JoeySandbox", dependencies: ["CJoey", "JoeyABI", "JoeyKernel", "JoeyOCI", "JoeyPlatform"]),
        .executableTarget(
            name: "joey",
            dependencies: [
                "CJoey", "JoeyABI", "JoeyKernel", "JoeyPlatform", "JoeyOCI", "JoeySandbox",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "JoeyKernelTests", dependencies: ["JoeyKernel", "JoeyABI"]),
        .testTarget(name: "JoeySandboxTests", dependencies: ["JoeySandbox", "JoeyKernel", "JoeyOCI"]),
        // Runs the built `joey` binary on real programs; depends on it so `swift test` builds it.
        .testTarget(name: "IntegrationTests", dependencies: ["joey"]),
    ]
)
