import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("the systemd units in mha-samples/systemd")
struct SampleUnitTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test("systemd-analyze verify says nothing about any unit (the binary path pointed at this build)")
    func verifyUnits() throws {
        let analyze = try #require(ProcessRunner.which("systemd-analyze"), "systemd-analyze is missing: install Debian package 'systemd'")
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let bin = [exe.path, "\(Self.repo)/.build/debug"].first { FileManager.default.isExecutableFile(atPath: "\($0)/mha-backup") }
        try #require(bin != nil, "the built executables are missing: swift build --build-tests")
        let dir = try TempDir(); defer { dir.cleanup() }
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(Self.repo)/mha-samples/systemd").filter { $0.hasSuffix(".service") || $0.hasSuffix(".timer") }
        #expect(!files.isEmpty)
        // A template (NAME@.service) is checked as its instance for cluster app1 (%i = app1).
        let units = files.map { $0.replacingOccurrences(of: "@.", with: "@app1.") }
        for (f, u) in zip(files, units) {
            let text = try String(contentsOfFile: "\(Self.repo)/mha-samples/systemd/\(f)", encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/mha-backup", with: "\(bin!)/mha-backup")
            try dir.write(u, text, mode: 0o644)
        }
        for u in units {
            let r = try ProcessRunner().run(Command([analyze, "verify", "\(dir.path)/\(u)"]), timeout: 60)
            let said = (r.stdoutString + r.stages[0].stderr).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(r.succeeded && said.isEmpty, "\(u): \(said)")
        }
    }
}
