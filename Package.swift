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
        // The layers, each importing only the ones before it (the compiler enforces the direction):
        // Base ← Failover ← Core ← CLI; Sandbox beside CLI. The four hooks link Failover only.
        .target(
            name: "MHABackupBase",
            dependencies: ["CCrypto", "CSupport"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "MHABackupFailover",
            dependencies: ["MHABackupBase", "CSupport"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "MHABackupCore",
            dependencies: ["MHABackupBase", "MHABackupFailover", "CSupport"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "MHABackupSandbox",
            dependencies: ["MHABackupBase"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "MHABackupCLI",
            dependencies: ["MHABackupBase", "MHABackupFailover", "MHABackupCore", "MHABackupSandbox"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "mha-backup",
            dependencies: ["MHABackupCLI"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The four MHA hooks: each a main of one line, linking the failover layer only.
        .executableTarget(name: "mha-backup-master-ip-failover", dependencies: ["MHABackupFailover"],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "mha-backup-shutdown", dependencies: ["MHABackupFailover"],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "mha-backup-report", dependencies: ["MHABackupFailover"],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "mha-backup-master-ip-online-change", dependencies: ["MHABackupFailover"],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(
            name: "MHABackupCoreTests",
            dependencies: ["MHABackupBase", "MHABackupFailover", "MHABackupCore", "MHABackupCLI", "MHABackupSandbox"],
            resources: [.copy("Fixtures")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["MHABackupBase", "MHABackupFailover", "MHABackupCore", "MHABackupCLI", "MHABackupSandbox"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
