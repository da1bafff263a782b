import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// A second sandbox (127.0.0.31-33) that the failover scenarios may break and rebuild at will,
/// beside the one the backup and binlog tests share. Brought down when the test process exits.
final class FailoverLab: @unchecked Sendable {
    static let shared = FailoverLab()
    let sb: Sandbox
    let binary: String
    let mhaPassword = Sandbox.mhaPassword
    private var registered = false

    private init() {
        let h = Harness.shared
        let base = ProcessInfo.processInfo.environment["MHA_BACKUP_FAILOVER_BASE"].flatMap { Int($0) } ?? 30
        var s = Sandbox(root: "\(Sandbox.defaultRoot)-\(base)", repo: h.repo, base: base)
        s.log = { _ in }
        sb = s
        binary = h.binary
    }

    var config: String { sb.backupCnf }
    var h1: String { "127.0.0.\(sb.base + 1)" }
    var h2: String { "127.0.0.\(sb.base + 2)" }
    var h3: String { "127.0.0.\(sb.base + 3)" }

    /// A new sandbox: down (whatever was there), up, and config lines added under their sections.
    /// `bigMB`: an InnoDB table of about that size, so a throttled backup stays in its copying phase
    /// for a while (the failover lands on a running job, not a finished one).
    func fresh(_ extra: [String: [String]] = [:], bigMB: Int = 0) throws {
        try sb.down()
        try sb.up()
        if bigMB > 0 {
            _ = try sb.sql(host: h1, """
            CREATE TABLE lab.big (id BIGINT AUTO_INCREMENT PRIMARY KEY, a CHAR(64), b VARCHAR(255)) ENGINE=InnoDB;
            INSERT INTO lab.big (a, b) SELECT MD5(RAND()), SHA2(RAND(), 256) FROM lab.seq_1_to_\(bigMB * 2600);
            """, timeout: 300)
            let gtid = try sql(h1, "SELECT @@gtid_binlog_pos AS g").first?.first("g") ?? ""
            for r in [h2, h3] { _ = try sb.sql(host: r, "SELECT MASTER_GTID_WAIT('\(gtid)', 120)", timeout: 130) }
        }
        if !registered {
            registered = true
            atexit { try? FailoverLab.shared.sb.down() }
        }
        var text = try String(contentsOfFile: config, encoding: .utf8)
        for (section, lines) in extra {
            if text.contains("[\(section)]\n") {
                text = text.replacingOccurrences(of: "[\(section)]\n", with: "[\(section)]\n" + lines.joined(separator: "\n") + "\n")
            } else {
                text += "\n[\(section)]\n" + lines.joined(separator: "\n") + "\n"
            }
        }
        try AtomicFile.write(text, to: config, mode: 0o600)
        // Timeline 1 and a first look at the cluster.
        let c = try run(["check"])
        #expect(c.code == 0, "check: \(c.stdout)\(c.stderr)")
    }

    func context() throws -> Context { try Context.load(configPath: config) }

    /// A failover whose jobs start once the manager monitors (its start-up checks take seconds;
    /// a job started before would have left its copying phase when MHA's hooks run).
    /// MHA's hooks run the binaries of this build (hooks/ would otherwise pick the newest build).
    var hookEnv: [String: String] { ["MHA_BACKUP_BIN_DIR": (binary as NSString).deletingLastPathComponent] }

    func failover(wholeHost: Bool, prepare: () throws -> Void) throws -> String? {
        try sb.startManager(extraEnv: hookEnv)
        try prepare()
        _ = try sb.killMaster(wholeHost: wholeHost)
        return try sb.waitManager()
    }

    @discardableResult
    func run(_ args: [String], timeout: TimeInterval = 300) throws -> Harness.Run {
        let r = try ProcessRunner().run(Command([binary] + args, environment: ["MHA_BACKUP_CONFIG": config]), timeout: timeout)
        return Harness.Run(code: r.stages[0].exitCode ?? -1, stdout: r.stdoutString, stderr: r.stages[0].stderr)
    }

    func startBackup(id: String, source: String, extra: [String] = []) throws -> pid_t {
        try ProcessRunner.spawnDetached(Command([binary, "backup", "full", "--source", source, "--job-id", id] + extra,
                                                environment: ["MHA_BACKUP_CONFIG": config]),
                                        logFile: "\(sb.root)/tmp/\(id).out")
    }

    /// Waits until the job's tool runs on its source (process group and remote pid known).
    func waitStarted(_ id: String) throws -> JobRecord {
        let reg = JobRegistry(dir: try context().config.jobsDir)
        let ok = Harness.shared.wait(30) { (try? reg.load(id)).map { $0.pgid > 0 && $0.remotePid != nil } ?? false }
        #expect(ok, "job \(id) did not start: \((try? String(contentsOfFile: "\(sb.root)/tmp/\(id).out", encoding: .utf8)) ?? "")")
        return try reg.load(id)
    }

    func waitFinished(_ pid: pid_t, timeout: TimeInterval = 240) -> Bool {
        let ok = Harness.shared.wait(timeout, every: 0.2) { !ProcessRunner.isAlive(pid) }
        ProcessRunner.reap(pid)
        return ok
    }

    func manifest(_ id: String) throws -> Manifest { try Catalog(dir: try context().config.backupsDir).load(id) }

    func sql(_ host: String, _ q: String) throws -> [Row] { ResultText.parseBatch(try sb.sql(host: host, q)) }

    func audit(_ id: String) throws -> [AuditEvent] {
        let r = try run(["audit", "--failover", id, "--json"])
        #expect(r.code == 0, "\(r.stderr)")
        return try JSON.decode([AuditEvent].self, from: Data(r.stdout.utf8), file: "audit")
    }

    func lastFailover() throws -> FailoverRecord {
        let store = FailoverStore(stateDir: try context().config.stateDir)
        return try #require(store.all().last)
    }

    /// Watches /proc while a failover runs: any process of ours whose cmdline still shows the
    /// password 50 ms after it was first seen (MHA puts it on argv; a hook wipes it as it starts).
    final class PasswordWatch: @unchecked Sendable {
        private let lock = NSLock()
        private var hits: [String] = []
        private var firstSeen: [String: Date] = [:]
        private var seenOurs = 0
        private var stop = false
        let secret: String

        init(secret: String) {
            self.secret = secret
            Thread { [self] in
                while !isStopped {
                    for e in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(e) != nil {
                        guard let raw = FileManager.default.contents(atPath: "/proc/\(e)/cmdline"), !raw.isEmpty else { continue }
                        let argv0 = String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                        guard argv0.contains("mha-backup") else { continue }
                        let cmd = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
                        lock.lock()
                        seenOurs += 1
                        let first = firstSeen[e] ?? Date()
                        firstSeen[e] = first
                        if cmd.contains(secret) && Date().timeIntervalSince(first) > 0.05 { hits.append(cmd) }
                        lock.unlock()
                    }
                    usleep(5_000)
                }
            }.start()
        }

        var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stop }
        func finish() -> (hits: [String], seen: Int) {
            lock.lock(); defer { lock.unlock() }
            stop = true
            return (hits, seenOurs)
        }
    }
}

@Suite("MHA failovers with our hooks, on real MHA", .serialized)
struct FailoverScenarioTests {
    let lab = FailoverLab.shared

    /// What every scenario checks of the audit trail.
    func checkAudit(_ id: String, expectPhases: [String]) throws -> [AuditEvent] {
        let events = try lab.audit(id)
        #expect(!events.isEmpty)
        #expect(events.allSatisfy { $0.failoverId == id })
        let raw = try String(contentsOfFile: try lab.context().config.auditPath, encoding: .utf8)
        #expect(!raw.contains(lab.mhaPassword), "the audit trail holds the MHA password")
        let phases = Set(events.map { "\($0.hook).\($0.phase)" })
        for p in expectPhases { #expect(phases.contains(p), "audit lacks \(p): \(phases.sorted())") }
        let log = (try? String(contentsOfFile: lab.sb.managerLog, encoding: .utf8)) ?? ""
        #expect(!log.contains(lab.mhaPassword), "the manager log holds the MHA password")
        return events
    }

    @Test("2. mysqld dead, ssh alive: binlogs salvaged, job paused and resumed, stream and backups follow the new master")
    func mysqldDead() throws {
        try lab.fresh(["backup": ["throttle = 10"]], bigMB: 150)
        let ctx = try lab.context()
        // A live stream that follows the catalog's master.
        let stream = try ProcessRunner.spawnDetached(Command([lab.binary, "binlog", "stream"], environment: ["MHA_BACKUP_CONFIG": lab.config]),
                                                     logFile: "\(lab.sb.root)/tmp/stream.out")
        defer { kill(stream, SIGTERM); _ = lab.waitFinished(stream, timeout: 20) }
        #expect(Harness.shared.wait(20) { FileManager.default.fileExists(atPath: ctx.config.streamPidPath) })

        let jobId = "s2-job-\(UInt32.random(in: 0...999999))"
        var job: pid_t = 0
        var values: [String] = []
        var watch: FailoverLab.PasswordWatch?
        let new = try lab.failover(wholeHost: false) {
            // A slow backup on the replica that stays a replica.
            job = try lab.startBackup(id: jobId, source: lab.h3)
            _ = try lab.waitStarted(jobId)
            // Rows committed on the master: our salvage must have them whatever MHA recovers.
            for i in 1...5 {
                let v = "only-on-master-\(i)-\(UInt32.random(in: 0...999999))"
                values.append(v)
                _ = try lab.sb.sql(host: lab.h1, "INSERT INTO lab.t (v) VALUES ('\(v)')")
            }
            watch = FailoverLab.PasswordWatch(secret: lab.mhaPassword)
        }
        let w = try #require(watch).finish()
        #expect(new == lab.h2, "MHA did not promote \(lab.h2): \(String(describing: new))")
        #expect(w.hits.isEmpty, "password in the cmdline of our processes: \(w.hits.prefix(2))")
        #expect(w.seen > 0, "the watcher never saw a process of ours")

        let rec = try lab.lastFailover()
        #expect(Harness.shared.wait(30) { (FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.status ?? .open) != .open })
        let done = try #require(FailoverStore(stateDir: ctx.config.stateDir).load(rec.id))
        #expect(done.status == .succeeded)
        #expect(done.salvage?.state == .done, "salvage: \(String(describing: done.salvage))")
        #expect(done.pausedJobs.contains(jobId))
        #expect(Fence.load(ctx.config.fencePath) == nil, "the fence is still up")
        _ = try checkAudit(rec.id, expectPhases: ["master_ip_failover.stopssh", "shutdown_script.stopssh", "master_ip_failover.start",
                                                  "report_script.report", "worker.after-stop", "worker.after-report"])

        // Every transaction committed on the dead master is in the archive, with checksums.
        let archive = try BinlogArchive(config: ctx.config, host: lab.h1, port: 3306)
        let idx = try archive.loadIndex()
        #expect(!idx.files.isEmpty)
        // Decoded with mariadb-binlog, searched as it streams (the bulk load makes the text large).
        var found = Set<String>()
        for f in idx.files {
            let v = try archive.verify(f.name)
            #expect(v.ok, "\(f.name): \(v)")
            var carry = ""
            var o = RunOptions(timeout: 300)
            o.stdout = .handler { chunk in
                let text = carry + String(decoding: chunk, as: UTF8.self)
                for v in values where text.contains(v) { found.insert(v) }
                carry = String(text.suffix(256))
            }
            let out = try ProcessRunner().runPipeline([Command(["mariadb-binlog", "--base64-output=decode-rows", "-v", archive.path(f.name)])], options: o)
            #expect(out.succeeded, "mariadb-binlog cannot read \(f.name): \(out.failureSummary)")
        }
        for v in values { #expect(found.contains(v), "\(v) is not in the salvaged binlogs") }
        // MHA itself recovered them too (all rows on the new master).
        let onNew = try lab.sql(lab.h2, "SELECT COUNT(*) AS n FROM lab.t WHERE v LIKE 'only-on-master-%'").first?.first("n")
        #expect(onNew == "5")

        // The catalog and the stream follow the new master.
        let tl = try Timeline.load(ctx.config.timelinePath)
        #expect(tl.current?.masterHost == lab.h2)
        #expect(tl.current?.failoverId == rec.id)
        #expect(tl.current?.promotion != nil)
        #expect(done.streamWasRunning)
        _ = try lab.sb.sql(host: lab.h2, "INSERT INTO lab.t (v) VALUES ('after-failover'); FLUSH BINARY LOGS;")
        let newArchive = try BinlogArchive(config: ctx.config, host: lab.h2, port: 3306)
        #expect(Harness.shared.wait(40, every: 0.5) { ((try? newArchive.loadIndex())?.files.count ?? 0) > 0 },
                "the stream did not archive a closed binlog of the new master")

        // The paused job resumed and completed; the new full backup is on the new timeline.
        #expect(lab.waitFinished(job))
        #expect(try lab.manifest(jobId).status == .complete)
        let fullId = try #require(done.fullBackupJob)
        #expect(Harness.shared.wait(240, every: 0.5) { (try? lab.manifest(fullId))?.status == .complete })
        let full = try lab.manifest(fullId)
        #expect(full.timeline == tl.current?.id)
        #expect(full.sourceHost == lab.h3 || full.sourceHost == lab.h2)
    }

    @Test("1. host dead: a backup of the dead master is aborted, a replica's is paused and resumed")
    func hostDead() throws {
        try lab.fresh(["backup": ["throttle = 10"]], bigMB: 150)
        let ctx = try lab.context()
        let onMaster = "s1-master-\(UInt32.random(in: 0...999999))"
        let onReplica = "s1-replica-\(UInt32.random(in: 0...999999))"
        var pm: pid_t = 0
        var pr: pid_t = 0
        let new = try lab.failover(wholeHost: true) {
            pm = try lab.startBackup(id: onMaster, source: lab.h1)
            _ = try lab.waitStarted(onMaster)
            // Held still, so the tool cannot fail on its own before the hooks act.
            #expect(try lab.run(["jobs", "pause", onMaster]).code == 0)
            pr = try lab.startBackup(id: onReplica, source: lab.h3)
            _ = try lab.waitStarted(onReplica)
        }
        #expect(new == lab.h2)
        let rec = try lab.lastFailover()
        #expect(Harness.shared.wait(30) { (FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.status ?? .open) != .open })
        let done = try #require(FailoverStore(stateDir: ctx.config.stateDir).load(rec.id))
        #expect(done.status == .succeeded)
        #expect(done.steps["master_ip_failover.stop"] != nil, "steps: \(done.steps.keys.sorted())")
        #expect(done.salvage == nil, "no salvage without ssh")
        #expect(done.abortedJobs.contains(onMaster))
        #expect(done.pausedJobs.contains(onReplica))
        _ = try checkAudit(rec.id, expectPhases: ["master_ip_failover.stop", "shutdown_script.stop", "master_ip_failover.start", "report_script.report"])

        #expect(lab.waitFinished(pm, timeout: 60))
        #expect(try lab.manifest(onMaster).status == .aborted)
        #expect(lab.waitFinished(pr))
        #expect(try lab.manifest(onReplica).status == .complete)
        #expect(try Timeline.load(ctx.config.timelinePath).current?.masterHost == lab.h2)
        #expect(Fence.load(ctx.config.fencePath) == nil)
    }

    @Test("3. planned online switch: fence and pause at stop; promotion, resume and a full backup at start")
    func onlineSwitch() throws {
        try lab.fresh(["backup": ["throttle = 10"]], bigMB: 150)
        let ctx = try lab.context()
        let jobId = "s3-job-\(UInt32.random(in: 0...999999))"
        let job = try lab.startBackup(id: jobId, source: lab.h3)
        _ = try lab.waitStarted(jobId)
        let r = try lab.sb.onlineSwitch(to: lab.h2, extraEnv: lab.hookEnv)
        #expect(r.succeeded, "masterha_master_switch: \(r.stdoutString.suffix(2000))")
        let rec = try lab.lastFailover()
        #expect(rec.kind == .switchover)
        #expect(Harness.shared.wait(30) { (FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.status ?? .open) != .open })
        let done = try #require(FailoverStore(stateDir: ctx.config.stateDir).load(rec.id))
        #expect(done.status == .succeeded)
        #expect(done.pausedJobs.contains(jobId))
        _ = try checkAudit(rec.id, expectPhases: ["master_ip_online_change.stop", "master_ip_online_change.start", "worker.after-switch"])
        let tl = try Timeline.load(ctx.config.timelinePath)
        #expect(tl.current?.masterHost == lab.h2)
        #expect(tl.current?.reason == "online switch")
        #expect(Fence.load(ctx.config.fencePath) == nil)
        #expect(lab.waitFinished(job))
        #expect(try lab.manifest(jobId).status == .complete)
        let fullId = try #require(done.fullBackupJob)
        #expect(Harness.shared.wait(240, every: 0.5) { (try? lab.manifest(fullId))?.status == .complete })
    }

    @Test("4. the chained stop script exits 1: MHA aborts, and our state stays coherent")
    func chainedStopFails() throws {
        let script = "\(NSTemporaryDirectory())mha-backup-chain-\(UUID().uuidString).sh"
        try AtomicFile.write("#!/bin/sh\ncase \"$*\" in *--command=stop*) echo 'site VIP script: cannot remove VIP' >&2; exit 1;; esac\nexit 0\n",
                             to: script, mode: 0o755)
        defer { unlink(script) }
        try lab.fresh(["backup": ["throttle = 10"], "chain": ["master_ip_failover = \(script)"]], bigMB: 150)
        let ctx = try lab.context()
        let jobId = "s4-job-\(UInt32.random(in: 0...999999))"
        var job: pid_t = 0
        let new = try lab.failover(wholeHost: false) {
            job = try lab.startBackup(id: jobId, source: lab.h3)
            _ = try lab.waitStarted(jobId)
        }
        #expect(new == nil, "MHA should have aborted")
        let log = try String(contentsOfFile: lab.sb.managerLog, encoding: .utf8)
        #expect(log.contains("return code 1"), "manager log does not show the chained script's exit code")
        let rec = try lab.lastFailover()
        #expect(Harness.shared.wait(30) { (FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.status ?? .open) != .open })
        let done = try #require(FailoverStore(stateDir: ctx.config.stateDir).load(rec.id))
        #expect(done.status == .failed)
        #expect(Fence.load(ctx.config.fencePath) == nil, "the fence must not outlive an aborted failover")
        let events = try checkAudit(rec.id, expectPhases: ["master_ip_failover.stopssh", "report_script.report"])
        #expect(events.contains { $0.action.hasPrefix("chained") && $0.exitCode == 1 })
        #expect(events.contains { $0.action == "failover closed as failed" })
        #expect(try Timeline.load(ctx.config.timelinePath).current?.masterHost == lab.h1, "the timeline must not move")
        let alerts = try String(contentsOfFile: ctx.config.alertsPath, encoding: .utf8)
        #expect(alerts.contains("failed"))
        // The paused job was resumed and completes (its source, h3, is fine).
        #expect(lab.waitFinished(job))
        #expect(try lab.manifest(jobId).status == .complete)
    }

    /// A failover's own duration, for scenario 5's comparison: from MHA's first hook call (stop,
    /// right after it declared the master dead) to its report call, from our audit trail; MHA's
    /// detection (about 4-5 s of pings, with a second of jitter) is left out. `prepare` runs once
    /// the manager monitors (MHA's start-up checks would wait on a held lock themselves).
    func timedFailover(prepare: () throws -> Void = {}) throws -> (TimeInterval, String?, String) {
        try lab.sb.startManager(extraEnv: lab.hookEnv)
        try prepare()
        _ = try lab.sb.killMaster(wholeHost: false)
        let new = try lab.sb.waitManager()
        let rec = try lab.lastFailover()
        let events = try lab.audit(rec.id)
        let story = try lab.run(["audit", "--failover", rec.id]).stdout
        guard let first = events.first?.time, let report = events.first(where: { $0.hook == "report_script" })?.time else {
            return (.infinity, new, story)
        }
        return (report.timeIntervalSince(first), new, story)
    }

    @Test("5. a backup of ours holding BACKUP STAGE BLOCK_COMMIT on the replica MHA promotes: released at stop")
    func lockingPhaseOnPromotedReplica() throws {
        // Baseline: the same failover with no backup.
        try lab.fresh()
        _ = try lab.sb.sql(host: lab.h1, "INSERT INTO lab.t (v) VALUES ('baseline')")
        let (base, baseNew, _) = try timedFailover()
        #expect(baseNew == lab.h2)

        // The log copy thread polls every 3 s (mariabackup waits at most 5 s for it), so the backup
        // sits in BLOCK_COMMIT long enough to catch it there.
        try lab.fresh(["backup": ["tool_options = --log-copy-interval=3000"]])
        let ctx = try lab.context()
        let jobId = "s5-job-\(UInt32.random(in: 0...999999))"
        var job: pid_t = 0
        var tools: [Int32] = []
        let (withLock, new, story) = try timedFailover {
            job = try lab.startBackup(id: jobId, source: lab.h2)
            _ = try lab.waitStarted(jobId)
            let logPath = "\(ctx.config.backupsDir)/\(jobId)/backup.log"
            let locked = Harness.shared.wait(60, every: 0.005) {
                ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains("Acquired locks for BACKUP STAGE BLOCK_COMMIT")
            }
            #expect(locked, "the backup never reached BLOCK_COMMIT")
            // Hold it there, as a slow disk would.
            tools = pids(withCmdlineContaining: "--datadir=\(lab.sb.root)/h2/data").filter { p in
                (FileManager.default.contents(atPath: "/proc/\(p)/cmdline").map { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) } ?? "")
                    .hasSuffix("mariabackup")
            }
            #expect(!tools.isEmpty)
            for p in tools { kill(p, SIGSTOP) }
            let reg = JobRegistry(dir: ctx.config.jobsDir)
            #expect(try reg.load(jobId).phase == .locking)
            let held = try lab.sql(lab.h2, "SELECT m.LOCK_MODE AS mode FROM information_schema.METADATA_LOCK_INFO m JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID WHERE p.USER = 'backup' AND m.LOCK_TYPE = 'Backup lock'")
            #expect(held.contains { $0.first("mode") == "MDL_BACKUP_WAIT_COMMIT" }, "backup locks held: \(held)")
            // The replica's SQL thread now waits for the backup lock on the next commit.
            _ = try lab.sb.sql(host: lab.h1, "INSERT INTO lab.t (v) VALUES ('blocked-on-h2')")
            #expect(Harness.shared.wait(10) {
                ((try? lab.sql(lab.h2, "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE LIKE '%backup lock%' OR STATE LIKE '%commit lock%'"))?.first?.first("n") ?? "0") != "0"
            }, "h2's SQL thread is not blocked by the backup lock")

        }
        #expect(new == lab.h2)
        #expect(withLock - base < 2.0, "failover took \(withLock) s with the locked backup, \(base) s without:\n\(story)")
        // The new master accepts writes at once.
        let t0 = Date()
        _ = try lab.sb.sql(host: lab.h2, "SET SESSION lock_wait_timeout = 5; INSERT INTO lab.t (v) VALUES ('write-after-failover')", timeout: 10)
        #expect(Date().timeIntervalSince(t0) < 1.0)
        #expect(lab.waitFinished(job, timeout: 60))
        #expect(try lab.manifest(jobId).status == .aborted)
        let rec = try lab.lastFailover()
        #expect(rec.abortedJobs.contains(jobId))
        for p in tools { #expect(!ProcessRunner.isAlive(p), "mariabackup \(p) survived:\n\(story)") }
    }
}

/// Live processes whose command line contains `needle`.
func pids(withCmdlineContaining needle: String) -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { e -> Int32? in
        guard let p = Int32(e), let raw = FileManager.default.contents(atPath: "/proc/\(e)/cmdline") else { return nil }
        let s = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        guard s.contains(needle), ProcessRunner.isAlive(p) else { return nil }
        return p
    }
}
