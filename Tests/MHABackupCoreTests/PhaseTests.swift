import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover

/// A recording fake of the hooks' effects: every signal, spawn, ssh call and lock release is
/// recorded; ssh, the port, SQL and the promotion read answer what the test sets.
final class RecordingEffects: HookEffects, @unchecked Sendable {
    enum Event: Equatable {
        case group(pid_t, Int32), process(pid_t, Int32), spawn([String]), ssh(String, String), release(String)
    }
    private let lock = NSLock()
    private var log: [Event] = []
    var events: [Event] { lock.lock(); defer { lock.unlock() }; return log }
    func add(_ e: Event) { lock.lock(); log.append(e); lock.unlock() }

    /// ssh's exit code (nil: ssh could not run); whether the port and SQL answer after it.
    var sshExit: Int32? = 0
    var portOpen = false
    var sqlAnswers = false
    var promotion = Promotion.Read(coordinates: Coordinates(file: "mysql-bin.000007", position: 1234, gtid: "0-2-99"), readOnly: "1")

    func signalGroup(_ pgid: pid_t, _ sig: Int32) { add(.group(pgid, sig)) }
    func signalProcess(_ pid: pid_t, _ sig: Int32) { add(.process(pid, sig)) }
    func spawnDetached(_ argv: [String], logFile: String) throws -> pid_t { add(.spawn(argv)); return 4242 }
    func ssh(_ target: SSHTarget, _ command: RemoteCommand, timeout: TimeInterval) -> PipelineResult? {
        add(.ssh(target.host, command.script))
        guard let code = sshExit else { return nil }
        return PipelineResult(stages: [StageResult(program: "ssh", pid: 1, exitCode: code, signal: nil, stderr: code == 255 ? "ssh: connect: refused" : "", stderrTruncated: false)],
                              stdout: Data(), stdoutTruncated: false, timedOut: false, cancelled: false, duration: 0.01)
    }
    func portAnswers(host: String, port: Int, timeout: TimeInterval) -> Bool { portOpen }
    func sqlAnswers(host: String, port: Int, credentials: String) -> Bool { sqlAnswers }
    func readPromotion(server: MHAServer, config: BackupConfig, timeout: TimeInterval) -> Promotion.Read { promotion }
    func releaseServerLocks(source: MHAServer, job: JobRecord, config: BackupConfig) { add(.release(job.id)) }

    var spawned: [WorkerRequest] {
        events.compactMap { e in
            guard case .spawn(let argv) = e, let i = argv.firstIndex(of: "hook-worker") else { return nil }
            let a = Array(argv[(i + 1)...])
            var opts: [String: String] = [:], flags: Set<String> = []
            var k = 1
            while k < a.count {
                let name = String(a[k].dropFirst(2))
                if WorkerRequest.valuedOptions.contains(name) { opts[name] = a[k + 1]; k += 2 } else { flags.insert(name); k += 1 }
            }
            return try? WorkerRequest.parse(task: a.first, options: opts, flags: flags)
        }
    }
}

/// One temp store: app.cnf with three servers (.250 the master), our config and credentials
/// (0600), the state folder; jobs registered as the backup engine registers them.
struct TempStore {
    let dir: String
    var config: String { dir + "/mha-backup.cnf" }
    var state: String { dir + "/state" }
    static let master = "127.0.0.250", replica = "127.0.0.251", other = "127.0.0.252"

    init(extra: String = "") throws {
        dir = NSTemporaryDirectory() + "phase-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/state/jobs", withIntermediateDirectories: true)
        try "[server default]\nuser=mha\nssh_user=root\nmanager_workdir=\(dir)\n[server1]\nhostname=\(Self.master)\n[server2]\nhostname=\(Self.replica)\n[server3]\nhostname=\(Self.other)\n"
            .write(toFile: dir + "/app.cnf", atomically: true, encoding: .utf8)
        try AtomicFile.write("[client]\nuser=backup\npassword=x\n", to: dir + "/client.cnf", mode: 0o600)
        try AtomicFile.write("""
            [mha-backup]
            mha_conf = \(dir)/app.cnf
            credentials = \(dir)/client.cnf
            state_dir = \(dir)/state
            store_dir = \(dir)/store
            [ssh]
            connect_timeout = 1
            control_master = no
            [client]
            timeout = 1
            \(extra)
            """, to: config, mode: 0o600)
    }

    func addJob(_ id: String, host: String, phase: JobPhase, jobState: JobState = .running, pgid: pid_t) throws {
        let j = JobRecord(id: id, kind: .full, method: .mariabackup, sourceHost: host, sourcePort: 3306, pid: getpid(), pgid: pgid,
                          phase: phase, state: jobState, startedAt: Date(), updatedAt: Date(), bytes: 1 << 20)
        try AtomicFile.write(try JSON.encode(j), to: "\(state)/jobs/\(id).json", mode: 0o640)
    }

    /// Runs one hook phase as MHA would call it, with the fake's effects.
    func run(_ kind: HookKind, _ argv: [String], _ fx: RecordingEffects) -> Int32 {
        let h = HookContext(kind: kind, argv: ["--config=\(config)"] + argv, environment: ["MHA_BACKUP_BIN_DIR": "/opt/mb"],
                            clock: .system, effects: fx)
        return Hooks.run(h)
    }

    var audit: [AuditEvent] { AuditLog(path: state + "/audit.jsonl").read() }
    var open: FailoverRecord? { FailoverStore(stateDir: state).open }
    func job(_ id: String) throws -> JobRecord { try JobRegistry(dir: state + "/jobs").load(id) }
    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

@Suite("phases through a recording fake: what each MHA phase does to our jobs, the worker and the old master")
struct PhaseTests {
    let stop = ["--orig_master_host=\(TempStore.master)", "--orig_master_ip=\(TempStore.master)", "--orig_master_port=3306"]

    @Test("master_ip_failover stop: the dead master's job and a locking job are aborted (group CONT+KILL), the rest paused (STOP); the worker starts; exit 0")
    func failoverStop() throws {
        let s = try TempStore(); defer { s.remove() }
        try s.addJob("on-dead", host: TempStore.master, phase: .copying, pgid: 101)
        try s.addJob("copying", host: TempStore.replica, phase: .copying, pgid: 102)
        try s.addJob("locking", host: TempStore.other, phase: .locking, pgid: 103)
        let fx = RecordingEffects()
        #expect(s.run(.masterIPFailover, stop + ["--command=stop"], fx) == 0)
        let ev = fx.events
        #expect(ev.contains(.group(101, SIGKILL)) && ev.contains(.group(103, SIGKILL)))
        #expect(ev.contains(.group(102, SIGSTOP)) && !ev.contains(.group(102, SIGKILL)))
        #expect(ev.contains(.release("locking")) && !ev.contains(.release("on-dead")), "locks are released on survivors only")
        #expect(try s.job("copying").state == .paused)
        #expect(try s.job("locking").state == .aborting)
        let rec = try #require(s.open)
        #expect(rec.pausedJobs == ["copying"] && Set(rec.abortedJobs) == ["on-dead", "locking"])
        #expect(fx.spawned == [WorkerRequest(.afterStop, failoverId: rec.id)], "no salvage without ssh")
        #expect(FileManager.default.fileExists(atPath: s.state + "/fence.json"))
        #expect(s.audit.last?.action == Hooks.exitAction && s.audit.last?.exitCode == 0)
    }

    @Test("stopssh: the worker also salvages (attempt 1); a second call joins that attempt and starts no second salvage")
    func stopsshSalvage() throws {
        let s = try TempStore(); defer { s.remove() }
        let fx = RecordingEffects()
        #expect(s.run(.masterIPFailover, stop + ["--command=stopssh", "--ssh_user=root"], fx) == 0)
        let id = try #require(s.open?.id)
        #expect(fx.spawned == [WorkerRequest(.afterStop, failoverId: id, salvage: true, attempt: 1)])
    }

    @Test("online switch stop: only the locking job is aborted, a job on the old master is paused; start records the promotion and starts the switch worker")
    func onlineSwitch() throws {
        let s = try TempStore(); defer { s.remove() }
        try s.addJob("on-old", host: TempStore.master, phase: .copying, pgid: 201)
        try s.addJob("locking", host: TempStore.replica, phase: .locking, pgid: 202)
        let fx = RecordingEffects()
        let argv = stop + ["--new_master_host=\(TempStore.replica)", "--new_master_ip=\(TempStore.replica)", "--new_master_port=3306"]
        #expect(s.run(.masterIPOnlineChange, argv + ["--command=stop"], fx) == 0)
        #expect(fx.events.contains(.group(201, SIGSTOP)) && !fx.events.contains(.group(201, SIGKILL)))
        #expect(fx.events.contains(.group(202, SIGKILL)))
        #expect(s.run(.masterIPOnlineChange, argv + ["--command=start"], fx) == 0)
        let rec = try #require(s.open)
        #expect(rec.promotion?.file == "mysql-bin.000007" && rec.promotion?.position == 1234)
        #expect(fx.spawned.last == WorkerRequest(.afterSwitch, failoverId: rec.id))
        let tl = try Timeline.load(s.dir + "/store/timeline.json")
        #expect(tl.current?.masterHost == TempStore.replica)
    }

    @Test("shutdown_script stopssh, no chain: 10 only when the ssh kill worked and the port is closed; a live master aborts (1) or, with proceed, 10")
    func shutdownTable() throws {
        let argv = ["--command=stopssh", "--ssh_user=root", "--host=\(TempStore.master)", "--ip=\(TempStore.master)", "--port=3306"]
        do {
            let s = try TempStore(); defer { s.remove() }
            let fx = RecordingEffects()
            #expect(s.run(.shutdown, argv, fx) == 10)
            #expect(fx.events.contains { if case .ssh(TempStore.master, let cmd) = $0 { return cmd.contains("pkill") }; return false })
        }
        do {
            let s = try TempStore(); defer { s.remove() }
            let fx = RecordingEffects()
            fx.sshExit = 255; fx.portOpen = true; fx.sqlAnswers = true
            #expect(s.run(.shutdown, argv, fx) == 1, "ssh failed and mysqld answers: abort")
        }
        do {
            let s = try TempStore(extra: "[hooks]\non_fence_failure = proceed"); defer { s.remove() }
            let fx = RecordingEffects()
            fx.sshExit = 0; fx.portOpen = true; fx.sqlAnswers = true
            #expect(s.run(.shutdown, argv, fx) == 10, "proceed, ssh worked")
        }
        do {
            let s = try TempStore(); defer { s.remove() }
            let fx = RecordingEffects()
            fx.sshExit = 255
            #expect(s.run(.shutdown, argv, fx) == 0, "ssh failed and nothing answers: unreachable, never 10")
        }
    }

    @Test("a dry run signals nothing, spawns nothing, records nothing, and returns what the real run would")
    func dryRun() throws {
        let s = try TempStore(); defer { s.remove() }
        try s.addJob("copying", host: TempStore.replica, phase: .copying, pgid: 301)
        let fx = RecordingEffects()
        #expect(s.run(.masterIPFailover, stop + ["--command=stop", "--dry-run"], fx) == 0)
        #expect(s.run(.shutdown, ["--command=stopssh", "--ssh_user=root", "--host=\(TempStore.master)", "--ip=\(TempStore.master)", "--dry-run"], fx) == 10)
        #expect(!fx.events.contains { if case .ssh(_, let c) = $0 { return c.contains("pkill") }; return false })
        #expect(fx.events.allSatisfy { if case .ssh = $0 { return true }; return false }, "\(fx.events)")
        let st = try s.job("copying").state
        #expect(s.open == nil && s.audit.isEmpty && st == .running)
    }

    @Test("report_script alone (the only hook wired): opens the record, names the new master, starts the report worker with MHA's conf")
    func reportOnly() throws {
        let s = try TempStore(); defer { s.remove() }
        let fx = RecordingEffects()
        #expect(s.run(.report, ["--orig_master_host=\(TempStore.master)", "--new_master_host=\(TempStore.replica)", "--conf=\(s.dir)/app.cnf",
                                "--subject=x", "--body=y"], fx) == 0)
        let rec = try #require(s.open)
        #expect(rec.newMaster?.host == TempStore.replica)
        #expect(fx.spawned == [WorkerRequest(.afterReport, failoverId: rec.id, conf: "\(s.dir)/app.cnf", success: true)])
    }
}
