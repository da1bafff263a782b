// swift-tools-version:6.0
import PackageDescription

// Toolchain only: no .package(...) dependencies. The field's own programs
// (mariadb, mariabackup, mariadb-binlog, ssh, zstd) are the dependencies.
let package = Package(
    name: "mha-backup",
    products: [
        .executable(name: "mha-backup", targets: ["mha-backup"]),
        .library(name: "MHABackupCore", targets: ["MHABackupCore"]),
    ],
    targets: [
        // SHA-256 from OpenSSL's libcrypto (SHA-NI here); Debian package libssl-dev.
        .systemLibrary(
            name: "CCrypto",
            path: "Sources/CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // Three glibc calls Swift's Glibc module does not show (they need _GNU_SOURCE).
        .target(name: "CSupport", path: "Sources/CSupport"),
        .target(
            name: "MHABackupCore",
            dependencies: ["CCrypto", "CSupport"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "mha-backup",
            dependencies: ["MHABackupCore"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "MHABackupCoreTests",
            dependencies: ["MHABackupCore"],
            resources: [.copy("Fixtures")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["MHABackupCore"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
