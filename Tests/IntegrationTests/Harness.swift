import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// The sandbox every integration test runs on. The first test that needs it brings it up; if this
/// process brought it up, it takes it down when the process exits (pass or fail). A sandbox that
/// was already up (a developer's, or `.ci/run`'s) is left as it was.
final class Harness: @unchecked Sendable {
    static let shared = Harness()

    let sandbox: Sandbox
    let repo: String
    let binary: String
    private let lock = NSLock()
    private var ready = false
    private var failure: String?

    private init() {
        let file = URL(fileURLWithPath: #filePath)
        repo = file.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        var sb = Sandbox(root: Harness.sandboxRoot, repo: repo, base: Harness.base)
        sb.log = { _ in }
        sandbox = sb
        let env = ProcessInfo.processInfo.environment
        let nextToTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mha-backup").path
        binary = env["MHA_BACKUP_BIN"] ?? (FileManager.default.isExecutableFile(atPath: nextToTests) ? nextToTests : "\(repo)/.build/debug/mha-backup")
    }

    var config: String { sandbox.backupCnf }

    /// `MHA_BACKUP_SANDBOX_BASE=N` runs these suites on 127.0.0.(N+1)-(N+3) (default 10), beside
    /// a sandbox someone else uses.
    static var base: Int { ProcessInfo.processInfo.environment["MHA_BACKUP_SANDBOX_BASE"].flatMap { Int($0) } ?? 10 }
    static var sandboxRoot: String {
        ProcessInfo.processInfo.environment["MHA_BACKUP_SANDBOX"] ?? (base == 10 ? Sandbox.defaultRoot : "\(Sandbox.defaultRoot)-\(base)")
    }
    /// The two replicas of the fresh sandbox (host 1 is the master).
    var replica1: String { "127.0.0.\(Harness.base + 2)" }
    var replica2: String { "127.0.0.\(Harness.base + 3)" }

    /// Brings the sandbox up once; a missing program is a failure naming its package.
    func ensureUp() throws {
        lock.lock(); defer { lock.unlock() }
        if let failure { throw MBError(.failed, failure) }
        if ready { return }
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            failure = "the mha-backup executable is not built at \(binary); run 'swift build --build-tests' first"
            throw MBError(.failed, failure!)
        }
        do {
            if !sandbox.isUp || sandbox.status().contains(where: { !$0.mysqld || !$0.sshd }) {
                let weStarted = !sandbox.isUp
                try sandbox.up()
                if weStarted {
                    atexit { try? Harness.shared.sandbox.down() }
                }
            }
            ready = true
        } catch {
            failure = "sandbox up failed: \(error)"
            throw error
        }
    }

    struct Run {
        var code: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the built mha-backup with the sandbox config.
    @discardableResult
    func run(_ args: [String], timeout: TimeInterval = 300, env: [String: String] = [:]) throws -> Run {
        var e = env
        e["MHA_BACKUP_CONFIG"] = e["MHA_BACKUP_CONFIG"] ?? config
        let r = try ProcessRunner().run(Command([binary] + args, environment: e), timeout: timeout)
        return Run(code: r.stages[0].exitCode ?? -1, stdout: r.stdoutString, stderr: r.stages[0].stderr)
    }

    /// Starts mha-backup in the background; returns its pid.
    func start(_ args: [String], log: String) throws -> pid_t {
        try ProcessRunner.spawnDetached(Command([binary] + args, environment: ["MHA_BACKUP_CONFIG": config]), logFile: log)
    }

    func sql(_ host: String, _ sql: String) throws -> [Row] {
        ResultText.parseBatch(try sandbox.sql(host: host, sql))
    }

    func context() throws -> Context { try Context.load(configPath: config) }

    /// The current master per the sandbox.
    func master() throws -> String {
        guard let m = sandbox.status().first(where: { $0.role == "master" }) else { throw MBError(.failed, "no master in the sandbox") }
        return m.host
    }

    /// Waits for a condition, polling; false on timeout.
    func wait(_ timeout: TimeInterval, every: TimeInterval = 0.02, _ cond: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if try cond() { return true }
            usleep(useconds_t(every * 1_000_000))
        }
        return try cond()
    }

    /// Makes `lab.big` about `mb` MiB of random-ish rows on the master (idempotent) and waits for
    /// the replicas to have it.
    func ensureBigTable(mb: Int) throws {
        let m = try master()
        let exists = try sql(m, "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema='lab' AND table_name='big'").first?.first("n") == "1"
        if exists, (try sql(m, "SELECT COUNT(*)*400/1048576 AS mb FROM lab.big").first?.first("mb").flatMap { Double($0) } ?? 0) >= Double(mb) {
            return
        }
        _ = try sandbox.sql(host: m, """
        CREATE TABLE IF NOT EXISTS lab.big (id BIGINT AUTO_INCREMENT PRIMARY KEY, a CHAR(64), b VARCHAR(255), c INT) ENGINE=InnoDB;
        INSERT INTO lab.big (a, b, c) SELECT MD5(RAND()), CONCAT(SHA2(RAND(), 256), REPEAT(CHAR(65 + FLOOR(RAND()*26)), 40)), FLOOR(RAND()*1000000) FROM lab.seq_1_to_20000;
        """, timeout: 120)
        // Doubling until the size is reached.
        for _ in 0..<16 {
            let size = try sql(m, "SELECT COUNT(*)*400/1048576 AS mb FROM lab.big").first?.first("mb").flatMap { Double($0) } ?? 0
            if size >= Double(mb) { break }
            _ = try sandbox.sql(host: m, "INSERT INTO lab.big (a, b, c) SELECT MD5(RAND()), CONCAT(SHA2(RAND(), 256), REPEAT(CHAR(65 + FLOOR(RAND()*26)), 40)), FLOOR(RAND()*1000000) FROM lab.big", timeout: 300)
        }
        try waitReplicasCaughtUp()
    }

    func waitReplicasCaughtUp(timeout: TimeInterval = 120) throws {
        let m = try master()
        let gtid = try sql(m, "SELECT @@gtid_binlog_pos AS g").first?.first("g") ?? ""
        for h in sandbox.status() where h.role == "replica" {
            _ = try sandbox.sql(host: h.host, "SELECT MASTER_GTID_WAIT('\(gtid)', \(Int(timeout)))", timeout: timeout + 5)
        }
    }
}

/// Integration tests fail, never skip, when the sandbox cannot come up.
func requireSandbox() throws -> Harness {
    let h = Harness.shared
    try h.ensureUp()
    return h
}
