import Foundation
import MHABackupBase
import MHABackupCore
import MHABackupSandbox
import Testing

/// `mha-backup run` on the shared sandbox with real gates: the fence, a manager that does not run,
/// a load above max_load (measured over ssh), then a run that passes every gate and one that ignores
/// them. The gates retry every 1 s and give up after 3 s here (the seed's 5 min and 1 h otherwise).
@Suite("scheduled runs through real gates", .serialized)
struct ScheduleIntegrationTests {
    /// A copy of the sandbox config with short gate times (same cluster, same folders).
    func config(_ h: Harness, _ schedule: [String], method: String? = nil) throws -> String {
        var text = try String(contentsOfFile: h.config, encoding: .utf8)
        if let method {
            #expect(text.contains("\nmethod = mariabackup\n"))
            text = text.replacingOccurrences(of: "\nmethod = mariabackup\n", with: "\nmethod = \(method)\n")
        }
        text += "\n[schedule]\ngate_retry = 1\ngate_give_up = 3\nio_sample = 1\ngate_timeout = 20\n" + schedule.joined(separator: "\n") + "\n"
        let path = "\(h.sandbox.root)/mha-backup/schedule-test.cnf"
        try AtomicFile.write(text, to: path, mode: 0o600)
        return path
    }

    func run(_ h: Harness, _ cnf: String, _ args: [String]) throws -> Harness.Run {
        try h.run(["run"] + args, timeout: 300, env: h.sandbox.mhaEnvironment.merging(["MHA_BACKUP_CONFIG": cnf]) { $1 })
    }

    /// The datadir of the host a backup would use (a replica: the sandbox puts every host's datadir
    /// on one file system).
    func replicaDatadir(_ h: Harness) -> String? { h.sandbox.datadirPath(host: h.replica1) }

    func lastRun(_ ctx: Context) throws -> RunRecord { try #require(try RunHistory(path: ctx.config.runHistoryPath).all().last) }

    func skippedAlerts(_ ctx: Context) -> [Alerts.Line] {
        AlertDeliverer.readAlerts(ctx.config.alertsPath).filter { $0.kind == AlertKind.runSkipped.rawValue }
    }

    /// Skipped at `gate`: the exit code, the message, the history, the alert, and more than one check.
    func expectSkipped(_ h: Harness, _ cnf: String, _ gate: GateKind, code: Int32, reason: String) throws {
        let ctx = try h.context()
        let alertsBefore = skippedAlerts(ctx).count
        let auditBefore = AuditLog(path: ctx.config.auditPath).read().count
        let t0 = Date()
        let r = try run(h, cnf, ["full"])
        let took = Date().timeIntervalSince(t0)
        #expect(r.code == code, "exit \(r.code): \(r.stderr)")
        #expect(r.stderr.contains("skipped: \(gate.rawValue)"), "\(r.stderr)")
        #expect(r.stderr.contains(reason), "\(r.stderr)")
        #expect(took >= 3, "gave up after \(took) s, before gate_give_up")
        let rec = try lastRun(ctx)
        #expect(rec.kind == .full && rec.outcome == .skipped && rec.gate == gate && rec.commandStartedAt == nil)
        let alerts = skippedAlerts(ctx)
        #expect(alerts.count == alertsBefore + 1)
        #expect(alerts.last?.summary == "full skipped: \(gate.rawValue)")
        let checks = AuditLog(path: ctx.config.auditPath).read().dropFirst(auditBefore).filter { $0.hook == "run" && $0.action == "gate \(gate.rawValue)" }
        #expect(checks.count >= 2, "the gate was checked \(checks.count) times (retry 1 s, give up 3 s)")
    }

    @Test("a raised fence: run full waits, retries, then records skipped: fence with an alert (exit 75)")
    func fence() throws {
        let h = try requireSandbox()
        let cnf = try config(h, [])
        #expect(try h.run(["fence", "up", "--reason", "schedule test"]).code == 0)
        defer { _ = try? h.run(["fence", "down"]) }
        try expectSkipped(h, cnf, .fence, code: 75, reason: "schedule test")
    }

    @Test("no masterha_manager running: masterha_check_status says so, run full records skipped: manager (exit 69)")
    func managerStopped() throws {
        let h = try requireSandbox()
        h.sandbox.stopManager()
        let cnf = try config(h, [])
        try expectSkipped(h, cnf, .manager, code: 69, reason: "does not monitor")
    }

    @Test("a source host ssh cannot reach: the load gate is closed with ssh's reason, each check bounded, skipped: load (exit 76)")
    func unreachable() throws {
        let h = try requireSandbox()
        // Every ssh of this config goes to a blackhole address (the SQL side still works, so the
        // source is chosen as usual); the check is bounded by gate_timeout, whatever ssh does.
        var cnf = try config(h, ["require_manager = no", "gate_timeout = 3", "gate_give_up = 6"])
        var text = try String(contentsOfFile: cnf, encoding: .utf8)
        text = text.replacingOccurrences(of: "[ssh]\n", with: "[ssh]\noptions = -o HostName=10.255.255.1\n")
        cnf = "\(h.sandbox.root)/mha-backup/schedule-unreachable.cnf"
        try AtomicFile.write(text, to: cnf, mode: 0o600)
        let t0 = Date()
        try expectSkipped(h, cnf, .load, code: 76, reason: "127.0.0.")
        #expect(Date().timeIntervalSince(t0) < 30)
    }

    @Test("with the manager monitoring: a load above max_load, then a busy data disk skip (exit 76); then every gate passes, a full backup (method auto: a dump) completes and run verify checks it; --ignore-gates runs despite closed gates, past a 1 s window")
    func loadThenPass() throws {
        let h = try requireSandbox()
        try h.sandbox.startManager(extraEnv: ["MHA_BACKUP_BIN_DIR": (h.binary as NSString).deletingLastPathComponent])
        defer { h.sandbox.stopManager() }
        let ctx = try h.context()

        // The load: the sandbox's hosts are this machine, so its /proc/loadavg is what the gate reads
        // over ssh (each check takes seconds: topology, ssh, the IO sample, so it gives up after 8 s).
        // Two busy loops keep it up; max_load is set below the load measured now (on an idle
        // machine the loops alone would need a minute to lift the 1-minute average over 2.0).
        // Each is spawned in its own session: killing its process group ends timeout and its child
        // (a SIGKILL to timeout alone leaves the child running).
        var loops: [pid_t] = []
        for _ in 0..<2 { loops.append(try ProcessRunner.spawnDetached(Command(["timeout", "60", "sha256sum", "/dev/zero"]), logFile: "/dev/null")) }
        defer { for p in loops { kill(-p, SIGKILL); ProcessRunner.reap(p) } }
        let measured = try #require(HostStats.load(try String(contentsOfFile: "/proc/loadavg", encoding: .utf8)))
        let maxLoad = (measured / 4 * 100).rounded(.down) / 100
        #expect(measured > 0.05, "load \(measured): too idle to test the gate")
        let busy = try config(h, ["max_load = \(maxLoad)", "max_io_util = 100", "gate_give_up = 8"])
        try expectSkipped(h, busy, .load, code: 76, reason: "> max_load \(maxLoad)")
        for p in loops { kill(-p, SIGKILL); ProcessRunner.reap(p) }
        loops = []

        // The IO gate: synchronous direct writes beside the source's datadir (at most 5 GB in 30 s,
        // stopped after the skip, removed; they must outlast the 8 s of checks) keep its block device busy (found as the gate finds it: stat's device number in
        // /proc/diskstats); max_io_util = 1 (this disk idles at about 2 % with the other builds here,
        // and measured some 7 % under this writer).
        let datadir = try #require(replicaDatadir(h))
        var st = stat()
        #expect(stat(datadir, &st) == 0)
        let dev = HostStats.majorMinor(dev: UInt64(st.st_dev))
        let disk = try #require(HostStats.diskstats(try String(contentsOfFile: "/proc/diskstats", encoding: .utf8))[dev]?.name,
                                "the sandbox datadir \(datadir) is on no block device (\(dev)) of /proc/diskstats")
        let ballast = "\((datadir as NSString).deletingLastPathComponent)/io-gate-test.bin"
        let writer = try ProcessRunner.spawnDetached(Command(["timeout", "30", "dd", "if=/dev/zero", "of=\(ballast)", "bs=64k", "count=80000",
                                                              "oflag=direct,dsync"]), logFile: "/dev/null")
        defer { kill(-writer, SIGKILL); ProcessRunner.reap(writer); unlink(ballast) }
        let io = try config(h, ["max_load = 1000", "max_io_util = 1", "gate_give_up = 8"])
        try expectSkipped(h, io, .ioUtil, code: 76, reason: "\(disk) ")
        kill(-writer, SIGKILL)
        unlink(ballast)

        // Every gate open: fence down, manager monitoring, load and IO under generous limits.
        let open = try config(h, ["max_load = 1000", "max_io_util = 100"], method: "auto")
        let r = try run(h, open, ["full", "--json"])
        #expect(r.code == 0, "exit \(r.code): \(r.stderr)")
        #expect(r.stderr.contains("method auto:"), "\(r.stderr)")
        let rec = try lastRun(ctx)
        #expect(rec.outcome == .ok && rec.exitCode == 0 && rec.commandStartedAt != nil && !rec.gatesIgnored)
        let id = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("backup ") && $0.contains(" complete:") }
            .map { String($0.split(separator: " ")[1]) }, "\(r.stdout)")
        let m = try Catalog(dir: ctx.config.backupsDir).load(id)
        #expect(m.status == .complete && m.method == .dump, "the sandbox holds far under 10 GB: \(m.method)")
        let gates = AuditLog(path: ctx.config.auditPath).read().last { $0.hook == "run" && $0.action == "gates" }
        #expect(gates?.outcome == .ok && gates?.message?.contains("manager:") == true && gates?.message?.contains("io-util:") == true,
                "\(String(describing: gates?.message))")

        // run verify: the newest backup (that dump) checked through the fence and local-load gates.
        let v = try run(h, open, ["verify"])
        #expect(v.code == 0, "exit \(v.code): \(v.stdout)\(v.stderr)")
        #expect(v.stdout.contains("ok  \(id)"), "\(v.stdout)")

        // --ignore-gates: the manager stopped and max_load 0, yet the backup runs; a physical one
        // throttled to 40 IO operations a second (a dump of this small sandbox can take 0.4 s, an
        // unthrottled mariabackup 1.2 s) outlasts a window of 1 s: a critical alert while it runs.
        h.sandbox.stopManager()
        let closed = try config(h, ["max_load = 0", "window_full = 1"], method: "mariabackup\nthrottle = 40")
        let pastBefore = AlertDeliverer.readAlerts(ctx.config.alertsPath).filter { $0.kind == AlertKind.runPastWindow.rawValue }.count
        let g = try run(h, closed, ["full", "--ignore-gates"])
        #expect(g.code == 0, "exit \(g.code): \(g.stderr)")
        let last = try lastRun(ctx)
        #expect(last.outcome == .ok && last.gatesIgnored)
        #expect((last.durationSeconds ?? 0) > 1.5, "the backup took \(last.durationSeconds ?? 0) s")
        let past = AlertDeliverer.readAlerts(ctx.config.alertsPath).filter { $0.kind == AlertKind.runPastWindow.rawValue }
        #expect(past.count == pastBefore + 1 && past.last?.severity == "critical", "\(past.map(\.summary))")
    }
}
