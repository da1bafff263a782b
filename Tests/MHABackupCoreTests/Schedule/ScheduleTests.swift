import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupCore
@testable import MHABackupCLI

/// A gate probe that answers from a script and records what it was asked.
final class ScriptedProbe: GateProbe, @unchecked Sendable {
    private let lock = NSLock()
    private var answers: [[GateResult]]
    private(set) var calls: [[GateKind]] = []
    init(_ answers: [[GateResult]]) { self.answers = answers }
    func check(_ gates: [GateKind], for kind: RunKind) -> [GateResult] {
        lock.lock(); defer { lock.unlock() }
        calls.append(gates)
        return answers.count > 1 ? answers.removeFirst() : answers[0]
    }
    var count: Int { lock.lock(); defer { lock.unlock() }; return calls.count }
}

/// A clock that only moves when the run sleeps.
final class FakeTime: @unchecked Sendable {
    private let lock = NSLock()
    private var t = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.lock(); defer { lock.unlock() }; return t }
    func advance(_ s: TimeInterval) { lock.lock(); t += s; lock.unlock() }
}

@Suite("scheduled runs: settings, gates, history, method auto")
struct ScheduleTests {
    func context(_ d: TempDir, _ schedule: String = "") throws -> (Context, FakeTime) {
        let ini = try INIFile.parse("[mha-backup]\nmha_conf = /etc/mha/app1.cnf\ncredentials = /y\nstate_dir = \(d.path)/state\nstore_dir = \(d.path)/store\n" + schedule,
                                    path: d.path + "/c.cnf", inlineComments: true)
        let c = try BackupConfig.parse(ini)
        let mha = try MHAAppConfig.parse(try INIFile.parse("[server1]\nhostname=db1\n", path: "/etc/mha/app1.cnf", inlineComments: false))
        let time = FakeTime()
        var ctx = Context(config: c, mha: mha)
        ctx.clock = Clock(now: { time.now })
        return (ctx, time)
    }

    func run(_ ctx: Context, _ time: FakeTime, _ probe: ScriptedProbe, child: @escaping @Sendable ([String]) throws -> Int32 = { _ in 0 }) -> ScheduledRun {
        var r = ScheduledRun(ctx: ctx, probe: probe, sleep: { s in time.advance(s); return true }, runChild: child)
        r.log = { _ in }
        return r
    }

    func alerts(_ ctx: Context) -> [Alerts.Line] { AlertDeliverer.readAlerts(ctx.config.alertsPath) }

    @Test("[schedule] defaults are the seed's; values and errors name the key")
    func settings() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let (def, _) = try context(d)
        #expect(def.config.schedule == ScheduleSettings())
        #expect(def.config.schedule.maxLoad == 2.0 && def.config.schedule.maxIOUtil == 80)
        #expect(def.config.schedule.gateRetry == 300 && def.config.schedule.gateGiveUp == 3600)
        #expect(def.config.schedule.windows["full"] == 14_400)
        let (c, _) = try context(d, "[schedule]\nmax_load = 0.5\ngate_retry = 2\ngate_give_up = 0\nwindow_full = 0\nrequire_manager = no\n")
        #expect(c.config.schedule.maxLoad == 0.5 && c.config.schedule.gateRetry == 2 && c.config.schedule.gateGiveUp == 0)
        #expect(c.config.schedule.windows["full"] == nil && !c.config.schedule.requireManager)
        let e = mbError { _ = try context(d, "[schedule]\nmax_io_util = 120\n") }
        #expect(e?.code == .config && e?.message.contains("max_io_util") == true)
        let e2 = mbError { _ = try context(d, "[schedule]\nrequire_manager = maybe\n") }
        #expect(e2?.message.contains("require_manager") == true)
    }

    @Test("which command and which gates each kind has")
    func kinds() {
        #expect(RunKind.full.childArguments == ["backup", "full"])
        #expect(RunKind.binlog.childArguments == ["binlog", "archive"])
        #expect(RunKind.retention.childArguments == ["retention", "--confirm"])
        #expect(RunKind.tier.childArguments == ["tier", "sync"])
        #expect(RunKind.verify.childArguments.starts(with: ["verify", "--latest"]))
        #expect(RunKind.full.gates == [.fence, .manager, .load, .ioUtil])
        #expect(RunKind.allCases.allSatisfy { $0.gates.first == .fence })
        #expect(RunKind.binlog.gates == [.fence] && RunKind.retention.gates == [.fence])
        #expect(ScheduledRun.exitCode(skippedAt: .fence) == .fenced && ScheduledRun.exitCode(skippedAt: .load) == .busy
                && ScheduledRun.exitCode(skippedAt: .manager) == .unavailable)
    }

    @Test("/proc/loadavg and two /proc/diskstats samples: load, the datadir's device, its utilisation")
    func hostStats() {
        #expect(HostStats.load("2.51 1.20 0.90 3/412 12345\n") == 2.51)
        #expect(HostStats.load("") == nil)
        #expect(HostStats.majorMinor(dev: 65024) == "254:0")
        #expect(HostStats.majorMinor(dev: 2049) == "8:1")
        #expect(HostStats.utilisation(before: 1000, after: 2600, seconds: 2) == 80)
        #expect(HostStats.utilisation(before: 0, after: 9000, seconds: 2) == 100)
        let out = """
        @@DEV 2049
        @@LOAD
        0.42 0.30 0.20 1/100 99
        @@DISK1
           8       0 sda 10 0 0 0 0 0 0 0 0 500 0 0 0 0 0 0 0
           8       1 sda1 10 0 0 0 0 0 0 0 0 1000 0 0 0 0 0 0 0
           7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
        @@DISK2
           8       0 sda 10 0 0 0 0 0 0 0 0 900 0 0 0 0 0 0 0
           8       1 sda1 10 0 0 0 0 0 0 0 0 2800 0 0 0 0 0 0 0
           7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
        """
        let p = HostStats.parseProbe(out, seconds: 2)
        #expect(p.load == 0.42 && p.device == "sda1" && p.ioUtil == 90 && p.note == nil)
        // An overlay datadir (major 0): the busiest real disk, loop devices left out.
        let q = HostStats.parseProbe(out.replacingOccurrences(of: "@@DEV 2049", with: "@@DEV 52"), seconds: 2)
        #expect(q.device == "sda1" && q.ioUtil == 90 && q.note != nil)
        // The device number on its own line (as the probe prints it); a stat that failed leaves it empty.
        #expect(HostStats.parseProbe(out.replacingOccurrences(of: "@@DEV 2049", with: "@@DEV\n2049"), seconds: 2) == p)
        #expect(HostStats.parseProbe(out.replacingOccurrences(of: "@@DEV 2049", with: "@@DEV"), seconds: 2).note != nil)
        // No answer at all: no load, which the probe reports as an unreachable host.
        #expect(HostStats.parseProbe("", seconds: 2).load == nil)
    }

    @Test("method auto: a dump below 10 GB of data, physical at or above, for an incremental, or when unknown")
    func autoMethod() {
        #expect(AutoMethod.choose(type: .full, bytes: 0) == .dump)
        #expect(AutoMethod.choose(type: .full, bytes: 9_999_999_999) == .dump)
        #expect(AutoMethod.choose(type: .full, bytes: 10_000_000_000) == .mariabackup)
        #expect(AutoMethod.choose(type: .full, bytes: nil) == .mariabackup)
        #expect(AutoMethod.choose(type: .incremental, bytes: 1_000) == .mariabackup)
    }

    @Test("method = auto parses; other values still must be a method")
    func autoConfig() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let (c, _) = try context(d, "[backup]\nmethod = auto\n")
        #expect(c.config.methodAuto)
        let (p, _) = try context(d, "[backup]\nmethod = dump\n")
        #expect(!p.config.methodAuto && p.config.method == .dump)
        #expect(mbError { _ = try context(d, "[backup]\nmethod = automatic\n") }?.code == .config)
    }

    @Test("a gate that stays closed: checked every gate_retry until gate_give_up, then skipped: <gate>, alert, history, exit 76")
    func skipped() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let (ctx, time) = try context(d, "[schedule]\ngate_retry = 300\ngate_give_up = 3600\n")
        let probe = ScriptedProbe([[GateResult(gate: .fence, open: true, reason: "no fence"), GateResult(gate: .manager, open: true, reason: "ok"),
                                    GateResult(gate: .load, open: false, reason: "load 5.00 > max_load 2.0 on db1")]])
        let ran = ScheduleCounter()
        let r = try run(ctx, time, probe, child: { _ in ran.bump(); return 0 }).run(.full, ignoreGates: false)
        #expect(r.outcome == .skipped && r.gate == .load && r.message.hasPrefix("skipped: load"))
        #expect(r.exitCode == 76)
        #expect(probe.count == 13, "checks at 0, 5, ..., 60 min")
        #expect(ran.value == 0)
        #expect(r.finishedAt.timeIntervalSince(r.startedAt) == 3600)
        let a = alerts(ctx)
        #expect(a.count == 1 && a[0].kind == "run-skipped" && a[0].summary == "full skipped: load" && a[0].severity == "warning")
        let h = try RunHistory(path: ctx.config.runHistoryPath).all()
        #expect(h == [r])
        let audit = AuditLog(path: ctx.config.auditPath).read().filter { $0.hook == "run" }
        #expect(audit.contains { $0.outcome == .skipped && $0.message?.contains("skipped: load") == true })
    }

    @Test("a gate that opens on the third check: the command runs then, its exit code is the run's")
    func opensLater() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let (ctx, time) = try context(d, "[schedule]\ngate_retry = 60\ngate_give_up = 600\n")
        let closed = [GateResult(gate: .fence, open: false, reason: "failover fence up")]
        let probe = ScriptedProbe([closed, closed, [GateResult(gate: .fence, open: true, reason: "no fence")]])
        let args = ScheduleBox<[String]>([])
        let r = try run(ctx, time, probe, child: { a in args.set(a); return 3 }).run(.binlog, ignoreGates: false)
        #expect(probe.count == 3 && probe.calls[0] == [.fence])
        #expect(args.get() == ["binlog", "archive"])
        #expect(r.outcome == .failed && r.exitCode == 3 && r.gate == nil)
        #expect(r.commandStartedAt!.timeIntervalSince(r.startedAt) == 120)
        #expect(alerts(ctx).isEmpty)
    }

    @Test("--ignore-gates asks no gate; gate_give_up = 0 checks once")
    func ignoreAndOnce() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let (ctx, time) = try context(d, "[schedule]\ngate_give_up = 0\n")
        let probe = ScriptedProbe([[GateResult(gate: .fence, open: false, reason: "up")]])
        let r = try run(ctx, time, probe).run(.full, ignoreGates: true)
        #expect(probe.count == 0 && r.outcome == .ok && r.gatesIgnored)
        let s = try run(ctx, time, probe).run(.retention, ignoreGates: false)
        #expect(probe.count == 1 && s.outcome == .skipped && s.exitCode == 75)
    }

    @Test("past its window: a critical alert while the command still runs; slower than 2x the average: a warning")
    func windowAndSlow() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let (ctx0, time) = try context(d)
        var ctx = ctx0
        ctx.config.schedule.windows["incremental"] = 0.05
        let open = ScriptedProbe([[GateResult(gate: .fence, open: true, reason: "no fence")]])
        // Three earlier runs of 10 s each, then one of 25 s: slow.
        let h = RunHistory(path: ctx.config.runHistoryPath)
        try AtomicFile.makeDirectory(ctx.config.stateDir)
        for _ in 0..<3 {
            try h.append(RunRecord(kind: .incremental, outcome: .ok, startedAt: time.now, commandStartedAt: time.now, finishedAt: time.now,
                                   durationSeconds: 10, exitCode: 0, gate: nil, message: "ok", gatesIgnored: false, pid: 1))
        }
        // The child runs until the window's alert is there (at most 20 s: the watcher is a timer on
        // a global queue, late under load but never skipped while the command runs).
        let watched = ctx
        let r = try run(ctx, time, open, child: { _ in
            let until = Date().addingTimeInterval(20)
            while Date() < until && !alerts(watched).contains(where: { $0.kind == "run-past-window" }) { usleep(20_000) }
            time.advance(25)
            return 0
        }).run(.incremental, ignoreGates: false)
        #expect(r.outcome == .ok && r.durationSeconds == 25)
        let a = alerts(ctx)
        #expect(a.contains { $0.kind == "run-past-window" && $0.severity == "critical" && $0.summary.contains("incremental still running") })
        #expect(a.contains { $0.kind == "run-slow" && $0.severity == "warning" })
        #expect(!RunHistory.isSlow(19, previous: [10, 10], factor: 2) && RunHistory.isSlow(21, previous: [10, 10], factor: 2))
        #expect(!RunHistory.isSlow(100, previous: [], factor: 2))
        #expect(try h.lastDurations(.incremental, 5) == [10, 10, 10, 25])
    }

    @Test("a run that finishes inside its window raises nothing")
    func quiet() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let (ctx, time) = try context(d)
        let open = ScriptedProbe([[GateResult(gate: .fence, open: true, reason: "no fence")]])
        let r = try run(ctx, time, open).run(.verify, ignoreGates: false)
        #expect(r.outcome == .ok)
        #expect(alerts(ctx).isEmpty)
    }
}

final class ScheduleCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func bump() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

final class ScheduleBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    func set(_ n: T) { lock.lock(); v = n; lock.unlock() }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return v }
}
