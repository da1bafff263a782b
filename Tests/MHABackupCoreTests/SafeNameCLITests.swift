import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// The built `mha-backup` refuses a hostile name before it reads a config or reaches a host.
@Suite("SafeName end to end: the built mha-backup", .serialized)
struct SafeNameCLITests {
    static var binary: String? {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        return [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/mha-backup",
                repo + "/.build/debug/mha-backup"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A private folder with a config whose servers are 127.0.0.250/251 (nothing listens there).
    static func lab() throws -> (root: String, config: String) {
        let root = "/tmp/mhab-safename-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try AtomicFile.write("[server default]\nuser=mha\nssh_user=root\nmaster_binlog_dir=\(root)/binlogs\n\n[server1]\nhostname=127.0.0.250\n\n[server2]\nhostname=127.0.0.251\n",
                             to: root + "/app.cnf", mode: 0o600)
        try AtomicFile.write("[client]\nuser=backup\npassword=x\n", to: root + "/client.cnf", mode: 0o600)
        try AtomicFile.write("""
            [mha-backup]
            mha_conf = \(root)/app.cnf
            credentials = \(root)/client.cnf
            state_dir = \(root)/state
            store_dir = \(root)/store

            [backup]
            remote_tmpdir = \(root)/remote-tmp

            [ssh]
            connect_timeout = 1

            [client]
            timeout = 2

            """, to: root + "/mha-backup.cnf", mode: 0o600)
        return (root, root + "/mha-backup.cnf")
    }

    static func run(_ args: [String], config: String) throws -> (code: Int32?, stdout: String, stderr: String) {
        let bin = try #require(binary, "mha-backup is not built: run `swift build --build-tests` first")
        var cmd = Command([bin] + args)
        cmd.environment["MHA_BACKUP_CONFIG"] = config
        let r = try ProcessRunner().run(cmd, timeout: 60)
        return (r.stages[0].exitCode, r.stdoutString, r.stages[0].stderr)
    }

    @Test("backup full --job-id 'x/../../../etc' exits 64 naming the option, and creates nothing",
          arguments: [["backup", "full", "--job-id", "x/../../../etc"], ["backup", "full", "--job-id=x/../../../etc", "--source", "127.0.0.250"],
                      ["backup", "full", "--job-id", "-rf"], ["backup", "incremental", "--job-id", "a\nb"]])
    func hostileJobId(args: [String]) throws {
        let (root, config) = try Self.lab()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Self.run(args, config: config)
        #expect(r.code == 64, "exit \(r.code.map(String.init) ?? "-"): \(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("'--job-id'"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        // Nothing ran: no state, no store, no remote scratch folder.
        let made = (try? FileManager.default.contentsOfDirectory(atPath: root))?.sorted() ?? []
        #expect(made == ["app.cnf", "client.cnf", "mha-backup.cnf"], "\(made)")
    }

    @Test("the check comes before the config: a missing config is not what is reported")
    func beforeConfig() throws {
        let r = try Self.run(["backup", "full", "--job-id", "x/../../../etc"], config: "/nonexistent/mha-backup.cnf")
        #expect(r.code == 64, "exit \(r.code.map(String.init) ?? "-"): \(r.stderr)")
        #expect(r.stderr.contains("'--job-id'"), "\(r.stderr)")
    }

    @Test("every other name: restore --backup, verify ID, jobs abort ID, hook-worker/audit --failover, --source, drill --new-master",
          arguments: [["restore", "--backup", "../../etc", "--plan"], ["verify", "../x"], ["verify", "a/b"],
                      ["jobs", "abort", "../../x"], ["hook-worker", "after-stop", "--failover", "../../../tmp/x", "--salvage"],
                      ["audit", "--failover", "x/../y"], ["binlog", "archive", "--source", "../../etc"],
                      ["backup", "full", "--source", "-oProxyCommand=x"], ["drill", "--new-master", "a;b"]])
    func otherNames(args: [String]) throws {
        let (root, config) = try Self.lab()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Self.run(args, config: config)
        #expect(r.code == 64, "exit \(r.code.map(String.init) ?? "-"): \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        let named = args.first { $0.hasPrefix("--") && $0 != "--plan" && $0 != "--salvage" } ?? (args[0] == "verify" ? "backup id" : "job id")
        #expect(r.stderr.contains(named), "\(r.stderr)")
        let made = (try? FileManager.default.contentsOfDirectory(atPath: root))?.sorted() ?? []
        #expect(made == ["app.cnf", "client.cnf", "mha-backup.cnf"], "\(made)")
    }
}
