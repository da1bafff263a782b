// swift-tools-version:6.0
import PackageDescription

// Toolchain only: no .package(...) dependencies. The field's own programs
// (mariadb, mariabackup, mariadb-binlog, ssh, zstd) are the dependencies.
let package = Package(
    name: "mha-backup",
    products: [
        .executable(name: "mha-backup", targets: ["mha-backup"]),
        .executable(name: "mha-backup-master-ip-failover", targets: ["mha-backup-master-ip-failover"]),
        .executable(name: "mha-backup-shutdown", targets: ["mha-backup-shutdown"]),
        .executable(name: "mha-backup-report", targets: ["mha-backup-report"]),
        .executable(name: "mha-backup-master-ip-online-change", targets: ["mha-backup-master-ip-online-change"]),
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
        // The four MHA hooks: each a main of one line.
        .executableTarget(name: "mha-backup-master-ip-failover", dependencies: ["MHABackupCore"],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "mha-backup-shutdown", dependencies: ["MHABackupCore"],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "mha-backup-report", dependencies: ["MHABackupCore"],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "mha-backup-master-ip-online-change", dependencies: ["MHABackupCore"],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
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
