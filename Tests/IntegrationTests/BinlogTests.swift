import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// A scratch copy of the sandbox's config for one test: own state and store folders (nothing is
/// written into the sandbox's), own MHA config (so master_binlog_dir can be bent), and a stream
/// server id of its own. SQL goes only into the `binlogtest` database.
private struct BinlogTestBed: Sendable {
    static var sandboxRoot: String { Harness.sandboxRoot }

    let scratch: String
    let config: String
    let ctx: Context
    let master: MHAServer
    let hostIndex: Int
    let streamServerId: Int

    /// `binlogDirs`: the master_binlog_dir every server gets, `{data}` standing for its datadir.
    init(binlogDirs: String = "/nonexistent-binlogtest,{data}", sshPort: Int? = nil) throws {
        // The shared harness brings the sandbox up when it is not (and down at exit if it did).
        _ = try requireSandbox()
        let root = Self.sandboxRoot
        let cnf = "\(root)/mha-backup/mha-backup.cnf"
        try #require(FileManager.default.fileExists(atPath: cnf), "the sandbox is not up: \(cnf) does not exist")
        scratch = NSTemporaryDirectory() + "mha-backup-binlogtest-\(getpid())-\(UUID().uuidString.prefix(8))"
        try AtomicFile.makeDirectory(scratch, mode: 0o700)
        streamServerId = 4_243_000 + Int(getpid() % 1000)

        let sandboxCfg = try BackupConfig.load(cnf)
        var app = ""
        for line in try String(contentsOfFile: sandboxCfg.mhaConf, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("master_binlog_dir=") {
                let data = String(line.dropFirst("master_binlog_dir=".count))
                app += "master_binlog_dir=\(binlogDirs.replacingOccurrences(of: "{data}", with: data))\n"
                if let p = sshPort { app += "ssh_port=\(p)\n" }
            } else {
                app += line + "\n"
            }
        }
        try AtomicFile.write(app, to: "\(scratch)/app.cnf", mode: 0o600)
        var text = ""
        for line in try String(contentsOfFile: cnf, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
            let key = line.split(separator: "=").first?.trimmingCharacters(in: .whitespaces) ?? ""
            switch key {
            case "mha_conf": text += "mha_conf = \(scratch)/app.cnf\n"
            case "state_dir": text += "state_dir = \(scratch)/state\n"
            case "store_dir": text += "store_dir = \(scratch)/store\n"
            case "stream_server_id": text += "stream_server_id = \(streamServerId)\n"
            default: text += line + "\n"
            }
        }
        config = "\(scratch)/mha-backup.cnf"
        try AtomicFile.write(text, to: config, mode: 0o600)
        ctx = try Context.load(configPath: config)
        master = try ctx.catalogMaster().0
        guard let last = master.address.split(separator: ".").last.flatMap({ Int($0) }), ((Harness.base + 1)...(Harness.base + 3)).contains(last) else {
            throw MBError(.failed, "the master \(master.address) is not a sandbox host")
        }
        hostIndex = last - Harness.base
    }

    var hostDir: String { "\(Self.sandboxRoot)/h\(hostIndex)" }
    func serverPath(_ name: String) -> String { "\(hostDir)/data/\(name)" }
    var archive: BinlogArchive { get throws { try BinlogArchive(config: ctx.config, host: master.hostname, port: master.port) } }
    var streamDir: String { "\(ctx.config.stateDir)/stream/\(master.hostname)_\(master.port)" }
    var pidFile: String { "\(ctx.config.stateDir)/binlog-stream.pid" }

    /// Root SQL on the master through its socket.
    @discardableResult
    func sql(_ sql: String) throws -> String {
        let r = try ProcessRunner().run(Command(["mariadb", "--no-defaults", "-uroot", "--socket=\(hostDir)/mysqld.sock", "--batch"]),
                                        timeout: 30, stdin: .data(Data(sql.utf8)))
        guard r.succeeded else { throw MBError(.failed, "SQL on the master failed: \(r.failureSummary)") }
        return r.stdoutString
    }

    func serverList() throws -> ServerBinlogList {
        try ServerBinlogList.fetch(MySQLClient(server: master, config: ctx.config))
    }

    /// Writes random-ish rows into binlogtest.rows and rotates; returns the file that was closed.
    @discardableResult
    func rotate(rows: Int) throws -> String {
        let out = try sql("""
        CREATE DATABASE IF NOT EXISTS binlogtest;
        CREATE TABLE IF NOT EXISTS binlogtest.rows (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(128), n INT) ENGINE=InnoDB;
        INSERT INTO binlogtest.rows (v, n) SELECT SHA2(RAND(), 256), FLOOR(RAND() * 1000000) FROM binlogtest.seq_1_to_\(rows);
        SHOW MASTER STATUS;
        """)
        let file = try #require(ResultText.parseBatch(out).first?.first("File"), "no SHOW MASTER STATUS on the master")
        try sql("FLUSH BINARY LOGS")
        return file
    }

    /// Live processes streaming with this test's server id.
    func streamProcesses() -> [pid_t] {
        let needle = "--stop-never-slave-server-id=\(streamServerId)"
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { e in
            guard let pid = pid_t(e), let raw = FileManager.default.contents(atPath: "/proc/\(e)/cmdline"),
                  String(decoding: raw, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(needle),
                  ProcessRunner.isAlive(pid) else { return nil }
            return pid
        }
    }

    /// Kills anything a failed test left (after the assertions saw it) and removes the scratch folder.
    func cleanup() {
        for p in streamProcesses() { kill(p, SIGKILL) }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    static var executable: String {
        let env = ProcessInfo.processInfo.environment
        if let b = env["MHA_BACKUP_BIN"] { return b }
        let next = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mha-backup").path
        if FileManager.default.isExecutableFile(atPath: next) { return next }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        return "\(repo)/.build/debug/mha-backup"
    }

    struct Run: Sendable {
        var code: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
    }

    func run(_ args: [String], timeout: TimeInterval = 120) throws -> Run {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable), "mha-backup is not built at \(Self.executable)")
        let r = try ProcessRunner().run(Command([Self.executable, "--config", config] + args), timeout: timeout)
        return Run(code: r.stages[0].exitCode ?? -1, stdout: r.stdoutString, stderr: r.stages[0].stderr, seconds: r.duration)
    }

    /// Runs the executable on a thread; `join` waits for it, `stop` ends it (a failed test's cleanup).
    func start(_ args: [String], timeout: TimeInterval) -> BinlogBackgroundRun {
        let bg = BinlogBackgroundRun()
        let argv = [Self.executable, "--config", config] + args
        Thread {
            var o = RunOptions(timeout: timeout)
            o.onStart = { _, pids in bg.started(pids[0]) }
            bg.finish(Result {
                let r = try ProcessRunner().runPipeline([Command(argv)], options: o)
                return Run(code: r.stages[0].exitCode ?? -1, stdout: r.stdoutString, stderr: r.stages[0].stderr, seconds: r.duration)
            })
        }.start()
        return bg
    }
}

private final class BinlogBackgroundRun: @unchecked Sendable {
    private let cond = NSCondition()
    private var result: Result<BinlogTestBed.Run, Error>?
    private var pid: pid_t = 0

    func started(_ p: pid_t) { cond.lock(); pid = p; cond.unlock() }

    func finish(_ r: Result<BinlogTestBed.Run, Error>) {
        cond.lock(); result = r; cond.broadcast(); cond.unlock()
    }

    func join(timeout: TimeInterval) throws -> BinlogTestBed.Run {
        cond.lock()
        defer { cond.unlock() }
        let end = Date().addingTimeInterval(timeout)
        while result == nil { if !cond.wait(until: end) { break } }
        guard let r = result else { throw MBError(.failed, "the background mha-backup did not finish within \(Int(timeout)) s") }
        return try r.get()
    }

    /// SIGTERM to a run that is still going, then waits for it (bounded).
    func stop() {
        cond.lock()
        let running = result == nil ? pid : 0
        cond.unlock()
        if running > 0 { kill(running, SIGTERM) }
        _ = try? join(timeout: 15)
    }
}

private func waitFor(_ timeout: TimeInterval, _ cond: () throws -> Bool) rethrows -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if try cond() { return true }
        usleep(50_000)
    }
    return try cond()
}

/// `PREFIX 0.123 s SUFFIX`: a result line with its timing in the middle.
private func resultLine(_ line: String, _ prefix: String, _ suffix: String) -> Bool {
    guard line.hasPrefix(prefix + " "), line.hasSuffix(" " + suffix) else { return false }
    let mid = line.dropFirst(prefix.count + 1).dropLast(suffix.count + 1).split(separator: " ")
    guard mid.count == 2, mid[1] == "s", let dot = mid[0].firstIndex(of: ".") else { return false }
    return Double(mid[0]) != nil && mid[0][mid[0].index(after: dot)...].count == 3
}

private func sha(_ path: String) throws -> String { try SHA256Hasher.hashFile(path).sha256 }

@Suite("binlog archive and stream on the sandbox", .serialized)
struct BinlogIntegrationTests {
    @Test("binlog archive: every closed binlog copied byte-identical with its .sha256 and index entry; a second run copies nothing")
    func archiveCopiesClosedFiles() throws {
        let s = try BinlogTestBed()
        defer { s.cleanup() }
        var mine: [String] = []
        for i in 0..<3 { mine.append(try s.rotate(rows: 40 + i)) }

        let r1 = try BinlogArchiver(ctx: s.ctx).run()
        #expect(r1.failed == 0)
        #expect(r1.host == s.master.hostname && r1.port == s.master.port)
        let closed = r1.files.filter { $0.action != "active" }
        #expect(r1.files.filter { $0.action == "active" }.count == 1)
        #expect(r1.files.last?.action == "active")
        // A fresh archive: every closed file is copied, none skipped.
        #expect(closed.map(\.action) == Array(repeating: "copied", count: closed.count))
        for n in mine { #expect(closed.contains { $0.name == n }, "\(n) was closed by this test but not archived") }

        let a = try s.archive
        let idx = try a.loadIndex()
        #expect(idx.files.map(\.name) == closed.map(\.name))
        for f in closed {
            let server = try SHA256Hasher.hashFile(s.serverPath(f.name))
            let archived = try SHA256Hasher.hashFile(a.path(f.name))
            #expect(archived.sha256 == server.sha256, "\(f.name) differs from the server's")
            #expect(archived.size == server.size)
            #expect(f.sha256 == server.sha256 && f.size == server.size)
            #expect(try String(contentsOfFile: a.checksumPath(f.name), encoding: .utf8) == "\(server.sha256)  \(f.name)\n")
            let e = try #require(idx.entry(f.name))
            #expect(e.sha256 == server.sha256 && e.size == server.size && e.via == "ssh")
            #expect(e.sourceHost == s.master.hostname && e.sourcePort == s.master.port)
        }
        for n in mine {
            // Each file this test closed holds its INSERT: a GTID of the master's server id.
            #expect(idx.entry(n)?.lastGtid?.hasPrefix("0-\(Harness.base + s.hostIndex)-") == true, "\(n): \(String(describing: idx.entry(n)))")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: a.dir).filter { $0.hasSuffix(".partial") } == [])

        // Second run, through the executable: nothing of the first run is copied again.
        let run2 = try s.run(["binlog", "archive", "--json"])
        #expect(run2.code == 0, "stderr: \(run2.stderr)")
        let r2 = try JSON.decode(BinlogArchiveReport.self, from: Data(run2.stdout.utf8), file: "stdout")
        let again = r2.files.filter { f in closed.contains { $0.name == f.name } }
        #expect(again.count == closed.count)
        #expect(again.map(\.action) == Array(repeating: "skip", count: closed.count))
        #expect(again.map(\.sha256) == closed.map(\.sha256))
    }

    @Test("binlog archive repairs: a truncated copy and a copy without .sha256 are fetched again, a stale partial is removed")
    func archiveRepairs() throws {
        let s = try BinlogTestBed()
        defer { s.cleanup() }
        let first = try s.rotate(rows: 30)
        let second = try s.rotate(rows: 30)
        #expect(try BinlogArchiver(ctx: s.ctx).run().failed == 0)
        let a = try s.archive
        let good1 = try SHA256Hasher.hashFile(a.path(first))
        let good2 = try SHA256Hasher.hashFile(a.path(second))

        // Truncate one copy.
        #expect(truncate(a.path(first), off_t(good1.size - 7)) == 0)
        // Flip a byte of the other: same size, so only a rehash sees it; then lose its checksum.
        let fh = try #require(FileHandle(forUpdatingAtPath: a.path(second)))
        try fh.seek(toOffset: 200)
        let byte = try #require(try fh.read(upToCount: 1)).first!
        try fh.seek(toOffset: 200)
        try fh.write(contentsOf: Data([byte ^ 0xFF]))
        try fh.close()
        let v = try a.verify(second)
        #expect(!v.ok)
        #expect(v.problem?.contains("differs from the recorded \(good2.sha256)") == true)
        #expect(unlink(a.checksumPath(second)) == 0)
        // A temp file of a process that is gone.
        let stale = ".\(first).999999999-1.partial"
        #expect(FileManager.default.createFile(atPath: "\(a.dir)/\(stale)", contents: Data("junk".utf8)))

        let run = try s.run(["binlog", "archive"])
        #expect(run.code == 0, "stderr: \(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { resultLine($0, "copied \(first) \(good1.size) bytes sha256 \(good1.sha256)",
                                            "(refetched: archived size \(good1.size - 7) != recorded \(good1.size))") },
                "stdout: \(run.stdout)")
        #expect(lines.contains { resultLine($0, "copied \(second) \(good2.size) bytes sha256 \(good2.sha256)",
                                            "(refetched: archived copy (\(good2.size) bytes) has no .sha256)") },
                "stdout: \(run.stdout)")
        // One line a file, each file once.
        let names = lines.map { $0.split(separator: " ")[1] }
        #expect(Set(names).count == lines.count)
        #expect(lines.allSatisfy { ["copied", "skip", "active"].contains(String($0.split(separator: " ")[0])) })
        #expect(!FileManager.default.fileExists(atPath: "\(a.dir)/\(stale)"))
        for (n, good) in [(first, good1), (second, good2)] {
            #expect(try sha(a.path(n)) == good.sha256)
            #expect(try sha(s.serverPath(n)) == good.sha256)
            #expect(try a.verify(n).ok)
            #expect(try a.loadIndex().entry(n)?.size == good.size)
        }
    }

    @Test("binlog archive fails clearly: binlogs not in master_binlog_dir exit 66, an unreachable ssh exits 69; nothing is archived")
    func archiveFailures() throws {
        let wrongDir = try BinlogTestBed(binlogDirs: "/nonexistent-binlogtest")
        defer { wrongDir.cleanup() }
        try wrongDir.rotate(rows: 5)
        let r = try wrongDir.run(["binlog", "archive"])
        #expect(r.code == 66, "stdout: \(r.stdout) stderr: \(r.stderr)")
        #expect(r.stderr.contains("is not in master_binlog_dir '/nonexistent-binlogtest'"), "stderr: \(r.stderr)")
        #expect(r.stderr.contains("HINT: set master_binlog_dir of ["))
        #expect(r.stdout.split(separator: "\n").contains { $0.hasPrefix("failed mysql-bin.") })
        let a1 = try wrongDir.archive
        #expect(try FileManager.default.contentsOfDirectory(atPath: a1.dir).filter { !$0.hasPrefix(".lock") && $0 != "index.json" } == [])

        let noSSH = try BinlogTestBed(sshPort: 2)
        defer { noSSH.cleanup() }
        let r2 = try noSSH.run(["binlog", "archive", "--json"])
        #expect(r2.code == 69, "stdout: \(r2.stdout) stderr: \(r2.stderr)")
        #expect(r2.stderr.contains("HINT: check ssh to 'root@"), "stderr: \(r2.stderr)")
        let a2 = try noSSH.archive
        #expect(try FileManager.default.contentsOfDirectory(atPath: a2.dir).filter { !$0.hasPrefix(".lock") && $0 != "index.json" } == [])
    }

    @Test("binlog stream --once-seconds 8: files closed meanwhile are archived byte-identical, the active one is not, no process is left")
    func streamOnce() throws {
        let s = try BinlogTestBed()
        defer { s.cleanup() }
        // Archive first, so the stream starts near the end however large the early binlogs are.
        #expect(try BinlogArchiver(ctx: s.ctx).run().failed == 0)
        let t0 = Date()
        let bg = s.start(["binlog", "stream", "--once-seconds", "8"], timeout: 60)
        defer { bg.stop() }
        let up = waitFor(6) {
            FileManager.default.fileExists(atPath: s.pidFile)
                && ((try? FileManager.default.contentsOfDirectory(atPath: s.streamDir)) ?? []).contains { $0.hasPrefix("mysql-bin.") }
        }
        #expect(up, "the stream did not start writing into \(s.streamDir) within 6 s")
        let streamPid = try String(contentsOfFile: s.pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(s.streamProcesses().count == 1)
        let c1 = try s.rotate(rows: 50)
        usleep(500_000)
        let c2 = try s.rotate(rows: 50)
        try s.sql("INSERT INTO binlogtest.rows (v, n) VALUES ('after-the-last-flush', 1)")

        let run = try bg.join(timeout: 40)
        let took = Date().timeIntervalSince(t0)
        #expect(run.code == 0, "stderr: \(run.stderr)")
        #expect(took >= 8 && took < 25, "took \(took) s")
        let a = try s.archive
        let idx = try a.loadIndex()
        for n in [c1, c2] {
            let server = try SHA256Hasher.hashFile(s.serverPath(n))
            #expect(try sha(a.path(n)) == server.sha256, "\(n) differs from the server's")
            #expect(try String(contentsOfFile: a.checksumPath(n), encoding: .utf8) == "\(server.sha256)  \(n)\n")
            #expect(idx.entry(n)?.via == "stream")
            #expect(idx.entry(n)?.size == server.size)
            #expect(run.stdout.split(separator: "\n").contains { resultLine(String($0), "archived \(n) \(server.size) bytes sha256 \(server.sha256)", "(stream)") },
                    "stdout: \(run.stdout)")
            #expect(!FileManager.default.fileExists(atPath: "\(s.streamDir)/\(n)"), "the stream copy of \(n) was not removed")
        }
        // Everything in the archive is a closed server file with the server's bytes; the active file is not there.
        let list = try s.serverList()
        for e in idx.files {
            #expect(!list.isActive(e.name), "the active file \(e.name) was archived")
            #expect(try sha(s.serverPath(e.name)) == e.sha256, "\(e.name)")
        }
        #expect(!FileManager.default.fileExists(atPath: a.path(list.active!.name)))
        // No process left behind, pid file removed.
        #expect(s.streamProcesses() == [])
        #expect(pid_t(streamPid).map { !ProcessRunner.isAlive($0) } == true)
        #expect(!FileManager.default.fileExists(atPath: s.pidFile))
        #expect(run.stderr.contains("stopped; "), "stderr: \(run.stderr)")
    }

    @Test("binlog stream on SIGTERM: archives what is closed, tears down mariadb-binlog, removes its pid file, exits 0")
    func streamSigterm() throws {
        let s = try BinlogTestBed()
        defer { s.cleanup() }
        #expect(try BinlogArchiver(ctx: s.ctx).run().failed == 0)
        let bg = s.start(["binlog", "stream"], timeout: 60)
        defer { bg.stop() }
        let up = waitFor(6) {
            FileManager.default.fileExists(atPath: s.pidFile)
                && ((try? FileManager.default.contentsOfDirectory(atPath: s.streamDir)) ?? []).contains { $0.hasPrefix("mysql-bin.") }
        }
        #expect(up, "the stream did not start within 6 s")
        let pid = try #require(pid_t(try String(contentsOfFile: s.pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // A second stream on the same state folder refuses to start.
        let dup = try s.run(["binlog", "stream", "--once-seconds", "1"], timeout: 20)
        #expect(dup.code == 76, "stderr: \(dup.stderr)")
        #expect(dup.stderr.contains("a binlog stream already runs as pid \(pid)"))

        let closed = try s.rotate(rows: 20)
        let a = try s.archive
        #expect(waitFor(8) { a.state(of: closed).isComplete }, "\(closed) was not archived by the running stream")
        #expect(kill(pid, SIGTERM) == 0)
        let run = try bg.join(timeout: 20)
        #expect(run.code == 0, "stderr: \(run.stderr)")
        #expect(try sha(a.path(closed)) == (try sha(s.serverPath(closed))))
        #expect(s.streamProcesses() == [])
        #expect(!FileManager.default.fileExists(atPath: s.pidFile))
        #expect(run.stdout.split(separator: "\n").contains { $0.hasPrefix("archived \(closed) ") })
    }
}
