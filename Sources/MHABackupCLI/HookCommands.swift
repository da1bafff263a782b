import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

enum HookWorkerCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        let r = try WorkerRequest.parse(task: args.positional.first, options: args.options, flags: args.flags)
        signal(SIGHUP, SIG_IGN)
        let w = try HookWorker(ctx: ctx, failoverId: r.failoverId, task: r.task)
        // The detached worker, never the hook on MHA's path, refreshes the metrics.
        defer { MetricsWriter.refresh(ctx.config, after: "hook-worker \(r.task.rawValue)") }
        switch r.task {
        case .afterStop, .salvage:
            var attempt: Int? = nil
            if r.salvage || r.task == .salvage {
                // Begun by the hook (--attempt N), or a new attempt for a direct call.
                attempt = try r.attempt ?? FailoverStore(stateDir: ctx.config.stateDir, clock: ctx.clock).beginSalvage(r.failoverId).attempt
            }
            w.afterStop(salvageAttempt: attempt, salvageOnly: r.salvageOnly || r.task == .salvage)
            if let e = w.unrecorded {
                w.audit.sync()
                throw MBError(.cantCreate, "cannot record the salvage result in \(q(w.store.dir)): \(e)")
            }
        case .afterReport: w.afterReport(conf: r.conf, success: r.success)
        case .afterSwitch: w.afterSwitch()
        }
        w.audit.sync()
    }
}

/// `mha-backup salvage [--failover ID]`: a new salvage attempt of that failover's dead master, in
/// the foreground (the files of earlier attempts are kept; what is complete is not copied again).
/// Exit 0 when done, 69 when the host cannot be reached, 1 on other failures.
enum SalvageCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        let store = FailoverStore(stateDir: ctx.config.stateDir, clock: ctx.clock)
        let id: String
        if let f = args["failover"] {
            try SafeName.check(f, .id, what: "option '--failover'")
            id = f
        } else {
            guard let last = store.all().last(where: { $0.kind == .failover }) else {
                throw MBError(.noInput, "no failover on record in \(q(store.dir))")
            }
            id = last.id
        }
        guard store.load(id) != nil else { throw MBError(.noInput, "no failover record \(q(id)) in \(q(store.dir))") }
        let a = try store.beginSalvage(id)
        guard a.start else {
            throw MBError(.busy, "salvage attempt \(a.attempt) of \(q(id)) is running (its worker is alive); wait for it")
        }
        let w = try HookWorker(ctx: ctx, failoverId: id, task: .salvage)
        let state = w.runSalvage(attempt: a.attempt)
        w.audit.sync()
        let s = store.load(id)?.salvage
        if state == .done {
            print("salvage of \(id): done (attempt \(a.attempt)), \(s?.files.count ?? 0) file(s) in all, last \(s?.lastFile ?? "-"):\(s?.lastPosition.map(String.init) ?? "-")")
            return
        }
        let msg = s?.message ?? "failed"
        throw MBError(msg.contains("ssh") || msg.contains("connect") ? .unavailable : .failed, "salvage of \(q(id)) failed: \(msg)")
    }
}

enum AuditCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        let events = AuditLog(path: ctx.config.auditPath).read()
        var id = args["failover"]
        if id == nil && (args.has("last") || args.positional.isEmpty) {
            id = events.last(where: { $0.failoverId != nil })?.failoverId
        }
        guard let id else { throw MBError(.noInput, "no failover in the audit trail \(q(ctx.config.auditPath))") }
        if args.has("report") {
            print(try FailoverReportFile.render(ctx: ctx, failoverId: id, now: ctx.clock.now()), terminator: "")
            return
        }
        let story = events.filter { $0.failoverId == id }.sorted { $0.time < $1.time }
        guard !story.isEmpty else { throw MBError(.noInput, "no audit events for failover \(q(id))") }
        if args.has("json") {
            print(JSON.string(story))
            return
        }
        let rec = FailoverStore(stateDir: ctx.config.stateDir).load(id)
        print("failover \(id)" + (rec.map { ": \($0.kind.rawValue) of \($0.deadMaster.host)\($0.newMaster.map { " to \($0.host)" } ?? ""), \($0.status.rawValue)" } ?? ""))
        let t0 = story[0].time
        for e in story {
            let rel = String(format: "+%7.3fs", e.time.timeIntervalSince(t0))
            let dur = e.durationMs.map { " (\($0) ms)" } ?? ""
            let code = e.exitCode.map { " exit=\($0)" } ?? ""
            print("\(rel)  \(e.hook) \(e.phase)  \(e.action)\(e.host.map { " [\($0)]" } ?? ""): \(e.outcome.rawValue)\(dur)\(code)\(e.message.map { " — \($0)" } ?? "")")
        }
        if let held = HeldMHA(story) { print(held.line) }
    }
}

/// `mha-backup status`: the short answer to "is everything all right after that failover?".
public struct StatusReport: Codable, Sendable {
    public var master: String?
    public var timeline: String?
    public var fence: String?
    public var openFailover: String?
    public var lastFailover: String?
    public var activeJobs: [String]
    public var lastBackup: String?
    public var problems: [String]
}

enum StatusCommand {
    static func run(_ ctx: Context, json: Bool) throws {
        let topo = Topology.discover(ctx.mha, config: ctx.config)
        let now = ctx.clock.now()
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        let last = store.all().last
        let backups = Catalog(dir: ctx.config.backupsDir).all()
        var problems = FailoverHealth.problems(ctx, topology: topo)
        if topo.master == nil { problems.append("no master found") }
        if let f = Fence.load(ctx.config.fencePath), f.isStale(now: now) { problems.append(f.describe(path: ctx.config.fencePath, now: now)) }
        if let tl = try? Timeline.load(ctx.config.timelinePath), let c = tl.current, let m = topo.master, c.masterHost != m.server.hostname {
            problems.append("the catalog follows \(q(c.masterHost)) but the live master is \(q(m.server.hostname))")
        }
        let r = StatusReport(
            master: topo.master?.server.key,
            timeline: (try? Timeline.load(ctx.config.timelinePath))?.current.map { "\($0.id) on \($0.masterHost):\($0.masterPort) since \(iso8601($0.since))" },
            fence: Fence.load(ctx.config.fencePath).map { $0.describe(path: ctx.config.fencePath, now: now) },
            openFailover: store.open.map { "\($0.id) (\($0.kind.rawValue) of \($0.deadMaster.host), opened \(Int(now.timeIntervalSince($0.openedAt))) s ago)" },
            lastFailover: last.map { "\($0.id): \($0.kind.rawValue) of \($0.deadMaster.host)\($0.newMaster.map { " to \($0.host)" } ?? ""), \($0.status.rawValue)" },
            activeJobs: JobRegistry(dir: ctx.config.jobsDir).active().map { "\($0.id) \($0.state.rawValue) \($0.phase.rawValue) on \($0.sourceHost)" },
            lastBackup: backups.last(where: { $0.status == .complete }).map { "\($0.id) \($0.type.rawValue) \($0.method.rawValue) of \($0.sourceHost), timeline \($0.timeline.map(String.init) ?? "-")" },
            problems: problems)
        if json {
            print(JSON.string(r))
        } else {
            print("master:        \(r.master ?? "NONE")")
            print("timeline:      \(r.timeline ?? "none yet")")
            print("fence:         \(r.fence ?? "down")")
            print("open failover: \(r.openFailover ?? "none")")
            print("last failover: \(r.lastFailover ?? "none")")
            print("jobs:          \(r.activeJobs.isEmpty ? "none" : r.activeJobs.joined(separator: "; "))")
            print("last backup:   \(r.lastBackup ?? "none")")
            if r.problems.isEmpty { print("OK") } else { for p in r.problems { print("PROBLEM: \(p)") } }
        }
        if !problems.isEmpty { throw CLI.CommandExit(code: ExitCode.checkProblems.rawValue) }
    }
}

/// How long our hooks held MHA in one failover: each hook call's own wall time (its `hook exit`
/// event), per phase and in total. The chained site scripts run inside those calls.
struct HeldMHA {
    var calls: [(hook: String, phase: String, ms: Int)]
    var totalMs: Int { calls.reduce(0) { $0 + $1.ms } }

    init?(_ story: [AuditEvent]) {
        calls = story.filter { $0.action == Hooks.exitAction && $0.hook != "worker" }
            .compactMap { e in e.durationMs.map { (e.hook, e.phase, $0) } }
        if calls.isEmpty { return nil }
    }

    var line: String {
        "our hooks held MHA \(totalMs) ms: " + calls.map { "\($0.hook) \($0.phase) \($0.ms) ms" }.joined(separator: ", ")
    }
}
