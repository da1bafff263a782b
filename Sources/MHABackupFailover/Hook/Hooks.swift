import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// The entry of every hook executable: MHA's argv in, an exit code MHA understands out.
public enum Hooks {
    public static func main(kind: HookKind, argv: [String]) -> Int32 {
        wipeSecretsInArgv()
        closeInheritedDescriptors()
        signal(SIGPIPE, SIG_IGN)
        let h = HookContext(kind: kind, argv: argv)
        let sources = HookInterrupt.install(h)
        let code = HookRunner(h).run()
        for s in sources { s.cancel() }
        h.audit?.sync()
        return code
    }
}

/// SIGTERM/SIGINT to a hook (an operator's Ctrl-C, a killed manager's process group): the chained
/// script's process group is stopped (staged: TERM, then KILL) and the interruption recorded; the
/// hook then exits 1 (it did not finish), at the latest 5 s later.
enum HookInterrupt {
    static let flag = CancellationFlag()

    static func install(_ h: HookContext) -> [DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { sig in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                guard !flag.isCancelled else { return }
                flag.cancel()
                h.record("interrupted", outcome: "failed", exitCode: 1,
                         message: "\(sig == SIGTERM ? "SIGTERM" : "SIGINT") received: the chained script's process group is stopped; the hook exits 1")
                DispatchQueue.global().asyncAfter(deadline: .now() + 5) {
                    h.audit?.sync()
                    _exit(1)
                }
            }
            s.resume()
            return s
        }
    }
}

/// The site's own script, run with MHA's argv (less our own options) and environment; its
/// output goes straight to MHA's log. Runs beside our work; `wait()` gives its exit code.
final class ChainRun: @unchecked Sendable {
    let path: String
    let argv: [String]
    private let done = DispatchSemaphore(value: 0)
    private(set) var code: Int32 = 1
    private(set) var summary = ""
    let started = Date()

    init(path: String, argv: [String], timeout: TimeInterval) {
        self.path = path
        self.argv = argv
        Threads.start { [self] in
            var o = RunOptions(timeout: timeout)
            o.stdout = .fd(1)
            o.stderrFd = 2
            o.grace = 2
            o.cancellation = HookInterrupt.flag
            do {
                let r = try ProcessRunner().runPipeline([Command([path] + argv)], options: o)
                let s = r.stages[0]
                code = r.timedOut || r.cancelled ? 1 : (s.exitCode ?? 1)
                summary = r.timedOut ? "killed after \(Int(timeout)) s (chain_timeout)"
                    : r.cancelled ? "its process group stopped: the hook was interrupted" : s.statusText
            } catch {
                code = 1
                summary = "\(error)"
            }
            done.signal()
        }
    }

    func wait() -> Int32 {
        done.wait()
        return code
    }
}

/// What each hook phase does. Our own trouble is audited and alerted and never changes the exit
/// code MHA sees (that is the chained script's, or our documented default), unless
/// `abort_failover_on_error = yes`.
final class HookRunner {
    let h: HookContext
    var ownTrouble: [String] = []

    init(_ h: HookContext) { self.h = h }

    var args: HookArguments { h.args }
    var config: BackupConfig? { h.ctx?.config }

    /// Our own options, never passed on to the site's script.
    static let ownOptions: Set<String> = ["chain", "config", "dry-run", "dry_run"]

    var chainArgv: [String] {
        args.raw.filter { a in
            guard a.hasPrefix("--") else { return true }
            let k = a.dropFirst(2).split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            return !Self.ownOptions.contains(k)
        }
    }

    /// `--chain=PATH` on the app.cnf line wins over `[chain]` in our config (and works even when
    /// our config cannot be read).
    var chainPath: String? {
        // Absolute only: a bare name would be looked up in the manager's PATH.
        if let c = args["chain"], !c.isEmpty { return c.hasPrefix("/") ? c : nil }
        return config?.chain[h.kind]
    }

    func startChain() -> ChainRun? {
        guard let p = chainPath else { return nil }
        if h.dryRun { return nil }  // said by dryRunChain
        return ChainRun(path: p, argv: chainArgv, timeout: config?.hooks.chainTimeout ?? 600)
    }

    func finishChain(_ c: ChainRun?, default d: Int32) -> Int32 {
        guard let c else {
            if h.dryRun {
                let code = chainPath.map(dryRunChain) ?? 0
                h.record("dry run", outcome: "planned", exitCode: code, message: "nothing was changed")
                return code
            }
            return ownExit(d)
        }
        let code = c.wait()
        h.record("chained \(c.path)", outcome: code == 0 || code == 10 ? "ok" : "failed", started: c.started, exitCode: code,
                 message: c.summary)
        return ownExit(code)
    }

    /// Our own failure changes the exit only when the operator asked for it.
    func ownExit(_ code: Int32) -> Int32 {
        if code == 0, !ownTrouble.isEmpty, config?.hooks.abortFailoverOnError == true,
           [.stop, .stopssh, .start].contains(args.command) {
            h.say("abort_failover_on_error = yes and our own steps failed: \(ownTrouble.joined(separator: "; "))")
            return 1
        }
        return code
    }

    /// Our own trouble: audited, and alerted (once per failover and action).
    func trouble(_ action: String, host: String? = nil, _ message: String, severity: String = "warning") {
        ownTrouble.append("\(action): \(message)")
        h.record(action, host: host, outcome: "failed", message: message)
        h.alert(severity, "\(h.kind.rawValue) \(phaseName)\(host.map { " on \($0)" } ?? ""): \(action) failed: \(message)", kind: action)
    }

    func run() -> Int32 {
        if !args.unknown.isEmpty {
            h.say("ignoring unknown option(s): \(args.unknown.map { "--\($0)" }.joined(separator: " "))")
        }
        if !args.positional.isEmpty {
            h.say("ignoring stray argument(s): \(Redaction.redact(args.positional).joined(separator: " "))")
        }
        if let e = h.loadError {
            // Without our config we cannot do our part; the site's script still runs.
            if args.command == .status || h.kind == .masterIPOnlineChange && args.command == nil {
                eprint("mha-backup \(h.kind.rawValue): \(e.message)")
                return 1
            }
            h.say("config not loaded (\(e.message)); running only the chained script")
            if h.kind == .shutdown, [.stop, .stopssh].contains(args.command), chainPath == nil {
                return fenceOldMaster(ssh: args.command == .stopssh)
            }
            if h.dryRun, let p = chainPath { return dryRunChain(p) }
            return startChain()?.wait() ?? 0
        }
        // report_script has no status call: `--command=status` on it must not skip the check.
        if args.command != .status || h.kind == .report, let refused = hostsNotInMHAConfig() {
            return refuseUnknownHosts(refused)
        }
        switch (h.kind, args.command) {
        case (.masterIPFailover, .status?), (.shutdown, .status?):
            return status()
        case (.masterIPFailover, .stop?), (.masterIPFailover, .stopssh?):
            return failoverStop(ssh: args.command == .stopssh)
        case (.masterIPFailover, .start?):
            return failoverStart()
        case (.shutdown, .stopssh?), (.shutdown, .stop?):
            return shutdown(ssh: args.command == .stopssh)
        case (.report, _):
            return report()
        case (.masterIPOnlineChange, .stop?):
            return switchStop()
        case (.masterIPOnlineChange, .start?):
            return switchStart()
        case (.masterIPOnlineChange, .status?):
            return status()
        default:
            h.say("unknown --command \(q(args["command"] ?? "")); running only the chained script")
            h.record("called", outcome: "skipped", message: "unknown --command", withArgs: true)
            let c = startChain()
            return c?.wait() ?? 0
        }
    }

    /// Hosts MHA (or a person) passed that are not servers of our mha_conf: nil when all are.
    func hostsNotInMHAConfig() -> [String]? {
        guard let ctx = h.ctx else { return nil }
        let bad = [args.origMaster, args.newMaster].compactMap { $0 }
            .filter { ctx.mha.server(named: $0.host) == nil && ctx.mha.server(named: $0.address) == nil }.map(\.host)
        return bad.isEmpty ? nil : bad
    }

    /// Our part is refused (no record, no fence, no timeline change); the site's script still runs
    /// and its exit code is MHA's. Without one, shutdown_script cannot claim anything stopped: 1.
    func refuseUnknownHosts(_ hosts: [String]) -> Int32 {
        let msg = "\(hosts.map(q).joined(separator: ", ")) \(hosts.count == 1 ? "is not a server" : "are not servers") in \(q(h.ctx?.mha.path ?? "?")) (mha_conf of \(q(config?.path ?? "?"))): our part is skipped"
        h.record("refused", outcome: "failed", message: msg, withArgs: true)
        h.alert("critical", "\(h.kind.rawValue) \(phaseName): \(msg)", kind: "unknown-host")
        if let p = chainPath {
            if h.dryRun { return dryRunChain(p) }
            return finishChain(startChain(), default: 0)
        }
        return h.kind == .shutdown && [.stop, .stopssh].contains(args.command) ? 1 : 0
    }

    // MARK: status

    /// Misconfiguration is caught here, before any failover: exit 1 with a one-line reason.
    /// Changes nothing.
    func status() -> Int32 {
        guard let ctx = h.ctx else { return 1 }
        var problems: [String] = []
        if let c = args["chain"], !c.isEmpty, !c.hasPrefix("/") {
            problems.append("--chain=\(q(c)) must be an absolute path")
        }
        if let p = chainPath, !FileManager.default.isExecutableFile(atPath: p) {
            problems.append("chained \(h.kind.rawValue) script \(q(p)) is not executable")
        }
        if let m = args.origMaster, ctx.mha.server(named: m.host) == nil && ctx.mha.server(named: m.address) == nil {
            problems.append("master \(q(m.host)) is not a server in \(q(ctx.mha.path)) (mha_conf of \(q(ctx.config.path)))")
        }
        if !FileManager.default.isExecutableFile(atPath: "\(h.binDir)/mha-backup") {
            problems.append("the worker \(q(h.binDir + "/mha-backup")) is missing")
        }
        for dir in [ctx.config.stateDir, ctx.config.storeDir] {
            if !FileManager.default.fileExists(atPath: dir) {
                if (try? AtomicFile.makeDirectory(dir, mode: 0o750)) == nil {
                    problems.append("cannot create \(q(dir))")
                }
            } else if access(dir, W_OK) != 0 {
                problems.append("\(q(dir)) is not writable")
            }
        }
        if let p = problems.first {
            eprint("mha-backup \(h.kind.rawValue) status: \(p)\(problems.count > 1 ? " (and \(problems.count - 1) more)" : "")")
            return 1
        }
        if h.dryRun { h.say("plan: status check only (changes nothing)") }
        guard let c = chainPath, !h.dryRun else { return 0 }
        let r = ChainRun(path: c, argv: chainArgv, timeout: 60).wait()
        return r
    }

    // MARK: master_ip_failover stop / stopssh

    func origMasterServer() -> MHAServer? {
        guard let m = args.origMaster, let ctx = h.ctx else { return nil }
        return ctx.mha.server(named: m.host) ?? ctx.mha.server(named: m.address)
    }

    func matches(_ host: String, _ s: HookServer) -> Bool {
        host == s.host || host == s.address || h.ctx?.mha.server(named: host).map { $0.hostname == s.host || $0.ip == s.address } == true
    }

    func openRecord(kind: FailoverRecord.Kind) -> FailoverRecord? {
        guard let ctx = h.ctx, let dead = args.origMaster else { return nil }
        let store = FailoverStore(stateDir: ctx.config.stateDir, clock: h.clock)
        if h.dryRun {
            let existing = store.open
            h.failoverId = existing?.id ?? "(new)"
            h.say("plan: \(existing == nil ? "open a new" : "reuse the open") failover record; raise the fence")
            return existing
        }
        do {
            let (r, created) = try store.openOrCreate(kind: kind, deadMaster: dead, newMaster: args.newMaster,
                                                      step: "\(h.kind.rawValue).\(phaseName)")
            h.failoverId = r.id
            h.record(created ? "failover opened" : "failover record reused", host: dead.host, outcome: "ok",
                     message: "\(kind.rawValue) of \(dead.host)\(args.newMaster.map { " to \($0.host)" } ?? "")", withArgs: true)
            let f = try Fence.raise(at: ctx.config.fencePath, failoverId: r.id, reason: "\(kind.rawValue) of \(dead.host)",
                                    ttl: ctx.config.hooks.failoverTTL, now: h.clock.now())
            h.record("fence up", outcome: "ok", message: "since \(iso8601(f.createdAt))", quiet: true)
            return r
        } catch {
            trouble("open failover record", "\(error)")
            return nil
        }
    }

    var phaseName: String { args.command?.rawValue ?? "report" }

    func failoverStop(ssh: Bool) -> Int32 {
        let chain = startChain()
        let rec = openRecord(kind: .failover)
        if let ctx = h.ctx, let dead = args.origMaster {
            quiesceJobs(ctx: ctx, dead: dead, abortLockingOnly: false)
            stopStream(ctx: ctx)
            if h.dryRun {
                h.say("plan: detached worker: pause jobs on their hosts, \(ctx.config.hooks.killForeignBackupLocks ? "kill" : "name") foreign backup locks\(ssh ? ", salvage \(dead.host)'s binlogs over ssh" : "")")
            } else if let rec {
                var wargs = ["after-stop", "--failover", rec.id]
                // Marked before the spawn (a new attempt unless one runs); the worker records its pid.
                if ssh, let a = beginSalvage(ctx: ctx, id: rec.id), a.start {
                    wargs += ["--salvage", "--attempt", String(a.attempt)]
                }
                if let pid = h.spawnWorker(wargs) {
                    h.record("worker started", outcome: "ok", message: "pid \(pid): \(wargs.joined(separator: " "))", quiet: true)
                }
            }
        }
        return finishChain(chain, default: 0)
    }

    /// Pauses or aborts our running jobs. Aborted: those whose source is the failed master, those
    /// holding locks (locking phase, anywhere: a lock on a surviving server makes MHA wait with no
    /// bound), and all with `on_failover = abort`. The rest are paused. All within the critical path.
    func quiesceJobs(ctx: Context, dead: HookServer, abortLockingOnly: Bool) {
        let reg = JobRegistry(dir: ctx.config.jobsDir, clock: h.clock)
        let deadline = h.started.addingTimeInterval(ctx.config.hooks.criticalPath)
        typealias Decided = (job: JobRecord, decision: QuiesceDecision, onDead: Bool)
        func decide(_ jobs: [JobRecord]) -> [Decided] {
            jobs.map { j in
                let onDead = matches(j.sourceHost, dead)
                return (j, QuiesceDecision.decide(j, onDeadMaster: onDead, switchover: abortLockingOnly,
                                                  onFailover: ctx.config.hooks.onFailover), onDead)
            }
        }
        if h.dryRun {
            for d in decide(reg.active()) {
                let j = d.job
                switch d.decision {
                case .abort(let why): h.say("plan: abort job \(j.id) (\(j.kind) \(j.method) from \(j.sourceHost), \(j.phase.rawValue)): \(why)")
                case .pause, .alreadyPaused: h.say("plan: pause job \(j.id) (\(j.kind) \(j.method) from \(j.sourceHost), \(j.phase.rawValue))")
                }
            }
            return
        }
        // Under the registry's lock: the fence is already up, so a backup admitted after this sees
        // it, and one admitted before is in this list. Decided, marked and signalled in one hold.
        var decided: [Decided] = []
        var releases: [(JobRecord, MHAServer)] = []
        var aborted: [String] = []
        var paused: [String] = []
        do {
            try reg.withLock(timeout: max(0.2, deadline.timeIntervalSinceNow)) {
                decided = decide(reg.active())
                for d in decided {
                    let j = d.job
                    let t0 = Date()
                    switch d.decision {
                    case .abort(let why):
                        // "aborting" before the kill, so the owner records an abort, not a failure.
                        try? reg.update(j.id, locked: true) { $0.state = .aborting }
                        if j.pgid > 0 { kill(-j.pgid, SIGCONT); kill(-j.pgid, SIGKILL) } else { kill(j.pid, SIGTERM) }
                        if !d.onDead, j.pgid > 0, let s = ctx.mha.server(named: j.sourceHost) { releases.append((j, s)) }
                        aborted.append(j.id)
                        h.record("abort job \(j.id)", host: j.sourceHost, outcome: "ok", started: t0,
                                 message: why + (j.pgid > 0 ? "" : "; its owner (pid \(j.pid)) told to stop"))
                    case .alreadyPaused:
                        paused.append(j.id)
                        h.record("pause job \(j.id)", host: j.sourceHost, outcome: "skipped", message: "already paused")
                    case .pause:
                        kill(-j.pgid, SIGSTOP)
                        try? reg.update(j.id, locked: true) { if $0.state == .running { $0.state = .paused } }
                        paused.append(j.id)
                        h.record("pause job \(j.id)", host: j.sourceHost, outcome: "ok", started: t0, message: "\(j.phase.rawValue), \(formatBytes(j.bytes))")
                    }
                }
            }
        } catch {
            trouble("pause jobs", "the job registry stayed locked: \(error)")
            return
        }
        if decided.isEmpty { return }
        if let id = h.failoverId {
            try? FailoverStore(stateDir: ctx.config.stateDir).update(id) { r in
                for j in paused where !r.pausedJobs.contains(j) { r.pausedJobs.append(j) }
                for j in aborted where !r.abortedJobs.contains(j) { r.abortedJobs.append(j) }
            }
        }
        // Locks on surviving servers go now: kill the tool there and its server connections, in parallel, bounded.
        if !releases.isEmpty {
            let group = DispatchGroup()
            for (j, s) in releases {
                DispatchQueue.global().async(group: group) { [h] in
                    let t0 = Date()
                    var c = ctx.config
                    c.clientTimeout = max(0.5, min(c.clientTimeout, deadline.timeIntervalSinceNow))
                    c.sshConnectTimeout = max(1, min(c.sshConnectTimeout, Int(deadline.timeIntervalSinceNow.rounded(.up))))
                    // Only what frees the lock, on MHA's path; the worker kills the tool on its host.
                    JobRelease.releaseServerLocks(source: s, job: j, config: c)
                    h.record("release locks of job \(j.id)", host: s.hostname, outcome: "ok", started: t0,
                             message: "its server connections killed")
                }
            }
            if group.wait(timeout: .now() + max(0.1, deadline.timeIntervalSinceNow)) == .timedOut {
                trouble("release locks", "not finished within critical_path_seconds = \(Int(ctx.config.hooks.criticalPath)); continuing in the background")
            }
        }
    }

    func streamPid(_ ctx: Context) -> pid_t? {
        (try? String(contentsOfFile: ctx.config.streamPidPath, encoding: .utf8))
            .flatMap { pid_t($0.trimmed()) }
            .flatMap { ProcessRunner.isAlive($0) ? $0 : nil }
    }

    /// Stops the live binlog stream (it archives what it has and exits on SIGTERM).
    func stopStream(ctx: Context) {
        guard let pid = streamPid(ctx) else { return }
        if h.dryRun {
            h.say("plan: stop the binlog stream (pid \(pid)), keeping what it received")
            return
        }
        kill(pid, SIGTERM)
        if let id = h.failoverId {
            try? FailoverStore(stateDir: ctx.config.stateDir).update(id) { $0.streamWasRunning = true }
        }
        h.record("stop binlog stream", outcome: "ok", message: "pid \(pid) asked to archive what it received and stop")
    }

    // MARK: master_ip_failover start

    func failoverStart() -> Int32 {
        let chain = startChain()
        guard let ctx = h.ctx, let new = args.newMaster else {
            if args.newMaster == nil { h.say("no --new_master_host; nothing to record") }
            return finishChain(chain, default: 0)
        }
        let rec = openRecord(kind: .failover)
        recordPromotion(ctx: ctx, new: new, record: rec, reason: "failover")
        return finishChain(chain, default: 0)
    }

    /// Records the new master's own coordinates (taken before MHA lifts read_only) and opens the
    /// next timeline, so the stream and the backups follow the new master. Idempotent.
    func recordPromotion(ctx: Context, new: HookServer, record rec: FailoverRecord?, reason: String) {
        guard let server = ctx.mha.server(named: new.host) ?? ctx.mha.server(named: new.address) else {
            trouble("record promotion", host: new.host, "new master \(q(new.host)) is not a server in \(q(ctx.mha.path))")
            return
        }
        if h.dryRun {
            h.say("plan: record \(server.hostname)'s binlog position and GTID as the promotion point; open the next timeline")
            return
        }
        let t0 = Date()
        let read = Promotion.read(server: server, config: ctx.config, timeout: ctx.config.hooks.criticalPath)
        if let e = read.error { trouble("record promotion", host: server.hostname, e) }
        let coords = read.coordinates
        do {
            let (e, prev) = try Promotion.open(ctx: ctx, server: server, coordinates: coords, oldMaster: rec?.deadMaster,
                                               oldSince: rec?.openedAt, previousEnd: previousMasterEnd(ctx: ctx, record: rec),
                                               failoverId: rec?.id, reason: reason, now: h.clock.now())
            if let id = rec?.id {
                try FailoverStore(stateDir: ctx.config.stateDir).update(id) {
                    $0.newMaster = new
                    if $0.promotion == nil { $0.promotion = coords }
                }
            }
            h.record("promotion recorded", host: server.hostname, outcome: "ok", started: t0,
                     message: "timeline \(e.id) (was \(prev.map { "\($0.id) on \($0.masterHost)" } ?? "none")), "
                        + (coords.map { "\($0.file):\($0.position) gtid \($0.gtid ?? "-")" } ?? "position unknown") + ", read_only=\(read.readOnly)")
        } catch {
            trouble("record promotion", host: server.hostname, "\(error)")
        }
    }

    /// The old master's last coordinates: its own position when it is alive (a switch), else the
    /// salvage's last file and size when the salvage is done.
    func previousMasterEnd(ctx: Context, record rec: FailoverRecord?) -> Coordinates? {
        guard let rec else { return nil }
        if rec.kind == .switchover, let s = ctx.mha.server(named: rec.deadMaster.host) ?? ctx.mha.server(named: rec.deadMaster.address),
           let c = Promotion.read(server: s, config: ctx.config, timeout: 1).coordinates {
            return c
        }
        if let s = FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.salvage, s.state == .done,
           let f = s.lastFile, let p = s.lastPosition {
            return Coordinates(file: f, position: p)
        }
        return nil
    }

    // MARK: shutdown_script

    func shutdown(ssh: Bool) -> Int32 {
        guard let ctx = h.ctx else { return 0 }
        let rec = openRecord(kind: .failover)
        if ssh {
            if chainPath != nil {
                // A power manager may switch the host off: the salvage must be done first.
                waitForSalvage(ctx: ctx, record: rec)
            } else {
                // We only stop mysqld: the host stays up and the salvage goes on beside MHA.
                ensureSalvageStarted(ctx: ctx, record: rec)
            }
        }
        if let p = chainPath {
            if h.dryRun { return dryRunChain(p) }
            return finishChain(startChain(), default: 0)
        }
        return fenceOldMaster(ssh: ssh)
    }

    /// A rehearsal never runs the site's script (a power manager would switch the host off). It
    /// returns what the real run returns when the script does its job: 10 for shutdown_script
    /// stopssh (a power manager's "mysqld stopped, ssh works"), 0 otherwise; a script that is
    /// missing or not executable: 1, as the real run.
    func dryRunChain(_ path: String) -> Int32 {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            h.say("plan: chained \(q(path)) is not executable: the real run fails and MHA aborts (exit 1)")
            return 1
        }
        let success: Int32 = h.kind == .shutdown && args.command == .stopssh ? 10 : 0
        h.say("plan: run chained \(q(path)) with MHA's argv: \(Redaction.redact(chainArgv).joined(separator: " ")); MHA gets its exit code: \(success) when it does its job"
              + (h.kind == .shutdown ? (success == 10 ? " (mysqld stopped, ssh works; 0 would mean powered off and make MHA skip the dead master's binlog)"
                                                      : " (0: powered off)") : ""))
        return success
    }

    /// Without a power manager: kill mysqld over ssh, then prove it stopped before telling MHA so.
    /// Exit 10 only when the kill worked and nothing answers on the port any more (MHA then saves
    /// and applies the dead master's binlog; exit 0 would make it skip that and lose rows).
    /// A master that still answers SQL aborts the failover unless `on_fence_failure = proceed`.
    func fenceOldMaster(ssh: Bool) -> Int32 {
        guard let m = args.origMaster else {
            h.record("stop mysqld", outcome: "failed", exitCode: 1, message: "no --host from MHA: nothing to stop")
            return 1
        }
        let policy = config?.hooks.onFenceFailure ?? .abort
        let t0 = Date()
        let kill: ShutdownDecision.Kill
        if h.dryRun {
            let reach = ssh ? sshReachable(m) : .notAttempted("MHA found the host unreachable over ssh (--command=stop)")
            let predicted = ShutdownDecision.decide(kill: reach, probe: reach == .done ? .init(portAnswers: false, sqlAnswers: false) : probeOldMaster(m, wait: 0),
                                                    policy: policy)
            h.say("plan: \(ssh ? "kill mysqld on \(m.host) over ssh, then check that nothing answers on its port" : "nothing to kill (no ssh); check its port"): "
                  + predicted.message.replacing("mysqld killed over ssh", with: "ssh reaches it"))
            h.record("dry run", outcome: "planned", exitCode: predicted.exitCode)
            return predicted.exitCode
        }
        kill = ssh ? killOverSSH(m) : .notAttempted("MHA found the host unreachable over ssh (--command=stop)")
        let probe = probeOldMaster(m, wait: kill == .done ? 3 : 0)
        let r = ShutdownDecision.decide(kill: kill, probe: probe, policy: policy)
        h.record("stop mysqld", host: m.host, outcome: r.state == .stopped ? "ok" : "failed", started: t0, exitCode: r.exitCode,
                 message: r.message)
        if r.alert {
            h.alert("critical", "shutdown_script on \(m.host): \(r.message)", kind: "fence-\(r.state.rawValue)")
        }
        return r.exitCode
    }

    /// ssh to the old master as MHA does: its `--ssh_options` split as its shell splits them
    /// (ProxyCommand and jump hosts included), batch mode, a connect timeout.
    func sshTarget(_ m: HookServer) -> Result<SSHTarget, ShutdownDecision.Kill> {
        let host = m.sshIP ?? m.sshHost ?? m.address
        let user = args["ssh_user"] ?? m.sshUser ?? "root"
        guard HostName.isValid(host) else { return .failure(.notAttempted("invalid host \(q(host)) from MHA: no ssh")) }
        guard (try? HostName.validateUser(user, what: "ssh_user")) != nil else {
            return .failure(.notAttempted("invalid --ssh_user \(q(user)) from MHA: no ssh"))
        }
        guard let mhaOpts = ShellWords.split(args["ssh_options"] ?? "") else {
            return .failure(.notAttempted("--ssh_options has an unbalanced quote: no ssh"))
        }
        let opts = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=\(config?.sshConnectTimeout ?? 5)"] + mhaOpts
        return .success(SSHTarget(user: user, host: host, port: m.sshPort ?? 22, options: opts))
    }

    func killOverSSH(_ m: HookServer) -> ShutdownDecision.Kill {
        let ssh: SSHTarget
        switch sshTarget(m) {
        case .failure(let k): return k
        case .success(let s): ssh = s
        }
        // The pid file MHA knows (master_pid_file), else every mysqld/mariadbd on that host.
        let remote: RemoteCommand
        if let pf = args["pid_file"], !pf.isEmpty {
            remote = RemoteCommand(["pkill", "-9", "-F", pf])
        } else {
            remote = RemoteCommand(["pkill", "-9", "-x", "mariadbd|mysqld|mysqld_safe|mariadbd-safe"])
        }
        guard let r = try? h.runner.run(ssh.command(remote), timeout: TimeInterval((config?.sshConnectTimeout ?? 5) + 10)) else {
            return .sshFailed("ssh could not be started")
        }
        let rc = r.stages.first?.exitCode
        if r.timedOut || rc == nil || rc == 255 { return .sshFailed(r.failureSummary) }
        // pkill: 0 killed, 1 nothing matched (already dead): both leave mysqld stopped.
        if rc == 0 || rc == 1 { return .done }
        return .failed(r.failureSummary)
    }

    /// For a rehearsal: does ssh reach the old master (`true` over ssh)?
    func sshReachable(_ m: HookServer) -> ShutdownDecision.Kill {
        switch sshTarget(m) {
        case .failure(let k): return k
        case .success(let ssh):
            let r = try? h.runner.run(ssh.command(RemoteCommand(["true"])), timeout: TimeInterval((config?.sshConnectTimeout ?? 5) + 5))
            return r?.succeeded == true ? .done : .sshFailed(r?.failureSummary ?? "ssh could not be started")
        }
    }

    /// Waits up to `wait` seconds for the port to stop answering, then asks SQL if it is open.
    func probeOldMaster(_ m: HookServer, wait: TimeInterval) -> ShutdownDecision.Probe {
        let server = h.ctx?.mha.server(named: m.host) ?? h.ctx?.mha.server(named: m.address)
        let port = m.port ?? server?.port ?? 3306
        let addr = server?.address ?? m.address
        let end = Date().addingTimeInterval(wait)
        var open = TCPProbe.answers(host: addr, port: port, timeout: 1)
        while open, Date() < end {
            usleep(100_000)
            open = TCPProbe.answers(host: addr, port: port, timeout: 1)
        }
        guard open else { return .init(portAnswers: false, sqlAnswers: false) }
        guard let c = config else { return .init(portAnswers: true, sqlAnswers: true) }
        let client = MySQLClient(host: addr, port: port, credentials: c.credentials, connectTimeout: 2, timeout: 3)
        return .init(portAnswers: true, sqlAnswers: (try? client.scalar("SELECT 1")) != nil)
    }

    /// A new salvage attempt, unless one runs with a live worker (then that one is joined).
    func beginSalvage(ctx: Context, id: String) -> (attempt: Int, start: Bool)? {
        do {
            let a = try FailoverStore(stateDir: ctx.config.stateDir, clock: h.clock).beginSalvage(id)
            h.record(a.start ? "salvage attempt \(a.attempt)" : "salvage attempt \(a.attempt) joined", host: args.origMaster?.host,
                     outcome: "ok", message: a.start ? "worker to start" : "its worker is running", quiet: true)
            return a
        } catch {
            trouble("start salvage", host: args.origMaster?.host, "\(error)", severity: "critical")
            return nil
        }
    }

    /// Starts the salvage when master_ip_failover (not ours, or not configured) did not.
    @discardableResult
    func ensureSalvageStarted(ctx: Context, record rec: FailoverRecord?) -> Int? {
        guard let id = rec?.id, !h.dryRun, let a = beginSalvage(ctx: ctx, id: id) else { return nil }
        if a.start { _ = h.spawnWorker(["after-stop", "--failover", id, "--salvage", "--attempt", String(a.attempt), "--salvage-only"]) }
        return a.attempt
    }

    /// Waits (bounded by `salvage_wait`) for this run's salvage attempt: never for an old result,
    /// and a worker that died (pid and start time) ends the wait at once.
    func waitForSalvage(ctx: Context, record rec: FailoverRecord?) {
        guard let id = rec?.id else { return }
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        if h.dryRun {
            h.say("plan: wait up to \(Int(ctx.config.hooks.salvageWait)) s for the binlog salvage to finish")
            return
        }
        guard var mine = ensureSalvageStarted(ctx: ctx, record: rec) else { return }
        let t0 = Date()
        let end = t0.addingTimeInterval(ctx.config.hooks.salvageWait)
        var state = store.load(id)?.salvage
        while let s = state, s.state == .running, Date() < end {
            // A newer attempt (an operator's re-run) supersedes ours: follow it.
            if s.attempt > mine { mine = s.attempt }
            if !s.isLive(now: h.clock.now()) {
                state?.state = .failed
                state?.message = s.workerPid.map { "worker \($0) died" } ?? "the salvage worker never started"
                break
            }
            usleep(50_000)
            state = store.load(id)?.salvage
        }
        switch state?.state {
        case .done?:
            h.record("wait for salvage", host: args.origMaster?.host, outcome: "ok", started: t0,
                     message: "attempt \(mine): \(state?.files.count ?? 0) file(s), last \(state?.lastFile ?? "-"):\(state?.lastPosition.map(String.init) ?? "-")")
        case .running?:
            trouble("wait for salvage", host: args.origMaster?.host, "still running after salvage_wait = \(Int(ctx.config.hooks.salvageWait)) s; continuing")
        default:
            trouble("wait for salvage", host: args.origMaster?.host, state?.message ?? "salvage failed", severity: "critical")
        }
    }

    // MARK: report_script

    /// A report for a failover already reported (an operator's or MHA's re-run): the closed record
    /// of the same dead and new master, closed within `failover_ttl`.
    func alreadyReported() -> FailoverRecord? {
        guard let ctx = h.ctx, let dead = args.origMaster else { return nil }
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        if store.open != nil { return nil }
        guard let last = store.all().last, last.status != .open, let closed = last.closedAt,
              h.clock.now().timeIntervalSince(closed) < ctx.config.hooks.failoverTTL,
              last.deadMaster.host == dead.host || last.deadMaster.address == dead.address,
              last.newMaster?.host == args.newMaster?.host else { return nil }
        return last
    }

    func report() -> Int32 {
        let success = args.newMaster != nil
        if let done = alreadyReported() {
            // A second call of the same phase does no harm: no new record, fence or full backup.
            h.failoverId = done.id
            h.record("report again", host: done.deadMaster.host, outcome: "skipped",
                     message: "failover \(done.id) was reported and closed (\(done.status.rawValue)) \(Int(h.clock.now().timeIntervalSince(done.closedAt ?? done.openedAt))) s ago; nothing to do",
                     withArgs: true)
            return finishChain(startChain(), default: 0)
        }
        let rec = openRecord(kind: .failover)
        if h.ctx != nil {
            if h.dryRun {
                h.say(success
                      ? "plan: archive MHA's saved binlogs, re-point backups and the stream to \(args.newMaster!.host), resume or abort paused jobs, lift the fence, start a full backup"
                      : "plan: failover failed: lift the fence, resume what is still valid, alert")
            } else if let rec {
                if let n = args.newMaster, rec.newMaster == nil, let ctx = h.ctx {
                    // The record may have been opened by shutdown_script only: name the new master now.
                    try? FailoverStore(stateDir: ctx.config.stateDir).update(rec.id) { if $0.newMaster == nil { $0.newMaster = n } }
                }
                var w = ["after-report", "--failover", rec.id]
                if let conf = args["conf"] { w += ["--conf", conf] }
                if success { w.append("--success") }
                if let pid = h.spawnWorker(w) {
                    h.record("worker started", outcome: "ok", message: "pid \(pid): \(w.joined(separator: " "))", quiet: true)
                }
            }
            if !success && !h.dryRun {
                h.alert("critical", "MHA failover of \(args.origMaster?.host ?? "?") failed", details: args["body"] ?? "")
            }
        }
        return finishChain(startChain(), default: 0)
    }

    // MARK: master_ip_online_change

    func switchStop() -> Int32 {
        let chain = startChain()
        _ = openRecord(kind: .switchover)
        if let ctx = h.ctx, let orig = args.origMaster {
            // The old master stays alive: pause everything, abort only jobs holding locks
            // (MHA runs FLUSH TABLES WITH READ LOCK on it right after this).
            quiesceJobs(ctx: ctx, dead: orig, abortLockingOnly: true)
            stopStream(ctx: ctx)
        }
        return finishChain(chain, default: 0)
    }

    func switchStart() -> Int32 {
        let chain = startChain()
        let rec = openRecord(kind: .switchover)
        if let ctx = h.ctx, let new = args.newMaster {
            recordPromotion(ctx: ctx, new: new, record: rec, reason: "online switch")
            if h.dryRun {
                h.say("plan: resume paused jobs, restart the stream on \(new.host), lift the fence\(ctx.config.hooks.fullBackupAfterSwitch ? ", start a full backup" : "")")
            } else if let rec, let pid = h.spawnWorker(["after-switch", "--failover", rec.id]) {
                h.record("worker started", outcome: "ok", message: "pid \(pid)", quiet: true)
            }
        }
        return finishChain(chain, default: 0)
    }
}
