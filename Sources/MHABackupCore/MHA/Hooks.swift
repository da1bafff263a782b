import Foundation

/// The entry of every hook executable: MHA's argv in, an exit code MHA understands out.
public enum Hooks {
    public static func main(kind: HookKind, argv: [String]) -> Int32 {
        wipeSecretsInArgv()
        closeInheritedDescriptors()
        signal(SIGPIPE, SIG_IGN)
        let h = HookContext(kind: kind, argv: argv)
        let code = HookRunner(h).run()
        h.audit?.sync()
        return code
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
        let t = Thread { [self] in
            var o = RunOptions(timeout: timeout)
            o.stdout = .fd(1)
            o.stderrFd = 2
            o.grace = 2
            do {
                let r = try ProcessRunner().runPipeline([Command([path] + argv)], options: o)
                let s = r.stages[0]
                code = r.timedOut ? 1 : (s.exitCode ?? 1)
                summary = r.timedOut ? "killed after \(Int(timeout)) s (chain_timeout)" : s.statusText
            } catch {
                code = 1
                summary = "\(error)"
            }
            done.signal()
        }
        t.start()
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
        if h.dryRun {
            h.say("plan: run chained \(q(p)) with MHA's argv: \(Redaction.redact(chainArgv).joined(separator: " "))")
            return nil
        }
        return ChainRun(path: p, argv: chainArgv, timeout: config?.hooks.chainTimeout ?? 600)
    }

    func finishChain(_ c: ChainRun?, default d: Int32) -> Int32 {
        guard let c else {
            if h.dryRun { h.record("dry run", outcome: "planned", exitCode: 0, message: "nothing was changed") ; return 0 }
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

    func trouble(_ action: String, host: String? = nil, _ message: String) {
        ownTrouble.append("\(action): \(message)")
        h.record(action, host: host, outcome: "failed", message: message)
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
            if h.kind == .shutdown, args.command == .stopssh, chainPath == nil {
                if h.dryRun { h.say("plan: kill mysqld on \(args.origMaster?.host ?? "?") over ssh, then exit 10"); return 10 }
                return stopMysqldOverSSH()
            }
            let c = startChain()
            guard let c else { return h.kind == .shutdown && args.command == .stopssh ? 10 : 0 }
            return c.wait()
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
                if ssh { wargs.append("--salvage") }
                if ssh {
                    // Marked before the spawn; the worker records its own pid when it starts.
                    try? FailoverStore(stateDir: ctx.config.stateDir).update(rec.id) {
                        $0.salvage = $0.salvage ?? .init(state: "running", startedAt: h.clock.now())
                    }
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
        let jobs = reg.active()
        if jobs.isEmpty { return }
        let deadline = h.started.addingTimeInterval(ctx.config.hooks.criticalPath)
        // Decide first: abort or pause each job.
        var decisions: [(job: JobRecord, abort: Bool, onDead: Bool, why: String)] = []
        for j in jobs {
            let onDead = matches(j.sourceHost, dead)
            let abort = (onDead && !abortLockingOnly) || j.phase == .locking || ctx.config.hooks.onFailover == .abort
            let why = onDead ? "its source is the failed master" : j.phase == .locking ? "it holds backup locks" : "on_failover = abort"
            decisions.append((j, abort, onDead, why))
        }
        if h.dryRun {
            for d in decisions {
                h.say("plan: \(d.abort ? "abort" : "pause") job \(d.job.id) (\(d.job.kind) \(d.job.method) from \(d.job.sourceHost), \(d.job.phase.rawValue))\(d.abort ? ": \(d.why)" : "")")
            }
            return
        }
        let aborted = decisions.filter(\.abort).map(\.job.id)
        let paused = decisions.filter { !$0.abort }.map(\.job.id)
        // The registry says "aborting" before the kill, so each owner records an abort, not a failure.
        try? reg.updateAll(aborted) { $0.state = .aborting }
        var releases: [(JobRecord, MHAServer)] = []
        for d in decisions {
            let j = d.job
            let t0 = Date()
            if d.abort {
                if j.pgid > 0 { kill(-j.pgid, SIGCONT); kill(-j.pgid, SIGKILL) }
                if !d.onDead, let s = ctx.mha.server(named: j.sourceHost) { releases.append((j, s)) }
                h.record("abort job \(j.id)", host: j.sourceHost, outcome: "ok", started: t0, message: d.why)
            } else if j.state == .paused {
                h.record("pause job \(j.id)", host: j.sourceHost, outcome: "skipped", message: "already paused")
            } else {
                if j.pgid > 0 { kill(-j.pgid, SIGSTOP) }
                h.record("pause job \(j.id)", host: j.sourceHost, outcome: "ok", started: t0, message: "\(j.phase.rawValue), \(formatBytes(j.bytes))")
            }
        }
        // One pass over the registry and one update of the failover record for all jobs.
        try? reg.updateAll(paused) { if $0.state == .running { $0.state = .paused } }
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
                    BackupEngine.releaseServerLocks(source: s, job: j, config: c)
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
            .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
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
        var c = ctx.config
        c.clientTimeout = max(0.5, min(c.clientTimeout, ctx.config.hooks.criticalPath))
        let client = MySQLClient(server: server, config: c)
        var coords: Coordinates? = nil
        var readOnly = "?"
        do {
            let rows = try client.query("SELECT @@gtid_binlog_pos AS g, @@read_only AS ro")
            let bl = try client.query("SHOW MASTER STATUS").first.flatMap(BinlogStatus.init(row:))
            readOnly = rows.first?.first("ro") ?? "?"
            if let bl { coords = Coordinates(file: bl.file, position: bl.position, gtid: rows.first?.first("g")) }
        } catch {
            // MySQL 8 spelling, or the server is slow: record what we can.
            if let rows = try? client.query("SHOW BINARY LOG STATUS"), let bl = rows.first.flatMap(BinlogStatus.init(row:)) {
                coords = Coordinates(file: bl.file, position: bl.position, gtid: bl.executedGtidSet.isEmpty ? nil : bl.executedGtidSet)
            } else {
                trouble("record promotion", host: server.hostname, "cannot read the new master's position: \(error)")
            }
        }
        do {
            var tl = try Timeline.load(ctx.config.timelinePath)
            if tl.entries.isEmpty, let old = rec?.deadMaster,
               let oldServer = ctx.mha.server(named: old.host) ?? ctx.mha.server(named: old.address) {
                // No catalog yet: the old master's period is timeline 1, ending here.
                tl.promote(host: oldServer.hostname, port: oldServer.port, at: rec?.openedAt ?? h.clock.now(), promotion: nil,
                           failoverId: nil, reason: "initial: the master before this \(reason)")
            }
            let prev = tl.current
            let e = tl.promote(host: server.hostname, port: server.port, at: h.clock.now(), promotion: coords,
                               previousMasterEnd: previousMasterEnd(ctx: ctx, record: rec), failoverId: rec?.id, reason: reason)
            try tl.save(ctx.config.timelinePath)
            if let id = rec?.id {
                try FailoverStore(stateDir: ctx.config.stateDir).update(id) {
                    $0.newMaster = new
                    if $0.promotion == nil { $0.promotion = coords }
                }
            }
            h.record("promotion recorded", host: server.hostname, outcome: "ok", started: t0,
                     message: "timeline \(e.id) (was \(prev.map { "\($0.id) on \($0.masterHost)" } ?? "none")), "
                        + (coords.map { "\($0.file):\($0.position) gtid \($0.gtid ?? "-")" } ?? "position unknown") + ", read_only=\(readOnly)")
        } catch {
            trouble("record promotion", host: server.hostname, "\(error)")
        }
    }

    /// The old master's last coordinates: its own position when it is alive (a switch), else the
    /// salvage's last file and size when the salvage is done.
    func previousMasterEnd(ctx: Context, record rec: FailoverRecord?) -> Coordinates? {
        guard let rec else { return nil }
        if rec.kind == .switchover, let s = ctx.mha.server(named: rec.deadMaster.host) ?? ctx.mha.server(named: rec.deadMaster.address) {
            var c = ctx.config
            c.clientTimeout = max(0.5, min(c.clientTimeout, 1))
            let client = MySQLClient(server: s, config: c)
            if let bl = (try? client.query("SHOW MASTER STATUS"))?.first.flatMap(BinlogStatus.init(row:)) {
                let g = (try? client.query("SELECT @@gtid_binlog_pos AS g"))?.first?.first("g")
                return Coordinates(file: bl.file, position: bl.position, gtid: g)
            }
        }
        if let s = FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.salvage, s.state == "done",
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
        if let c = startChain() {
            return finishChain(c, default: 0)
        }
        if h.dryRun {
            h.say(ssh ? "plan: no chained power manager: stop mysqld on \(args.origMaster?.host ?? "?") over ssh and exit 10 (MHA then saves the dead master's binlog)"
                      : "plan: no chained power manager and no ssh: exit 0")
            h.record("dry run", outcome: "planned", exitCode: ssh ? 10 : 0)
            return ssh ? 10 : 0
        }
        if ssh { return stopMysqldOverSSH() }
        h.record("no power manager", outcome: "skipped", exitCode: 0, message: "host unreachable; nothing to stop")
        return 0
    }

    /// Starts the salvage when master_ip_failover (not ours, or not configured) did not.
    func ensureSalvageStarted(ctx: Context, record rec: FailoverRecord?) {
        guard let id = rec?.id, !h.dryRun else { return }
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        if store.load(id)?.salvage == nil {
            try? store.update(id) { $0.salvage = $0.salvage ?? .init(state: "running", startedAt: h.clock.now()) }
            _ = h.spawnWorker(["after-stop", "--failover", id, "--salvage"])
        }
    }

    /// Waits (bounded by `salvage_wait`) for the detached salvage of the dead master's binlogs.
    func waitForSalvage(ctx: Context, record rec: FailoverRecord?) {
        guard let id = rec?.id else { return }
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        if h.dryRun {
            h.say("plan: wait up to \(Int(ctx.config.hooks.salvageWait)) s for the binlog salvage to finish")
            return
        }
        ensureSalvageStarted(ctx: ctx, record: rec)
        let t0 = Date()
        let end = t0.addingTimeInterval(ctx.config.hooks.salvageWait)
        var state = store.load(id)?.salvage
        let started = Date()
        while Date() < end, state?.state == "running" {
            usleep(50_000)
            state = store.load(id)?.salvage
            if let p = state?.workerPid, !ProcessRunner.isAlive(p), state?.state == "running" {
                state?.state = "failed"
                state?.message = "worker \(p) died"
            } else if state?.workerPid == nil, Date().timeIntervalSince(started) > 10 {
                state?.state = "failed"
                state?.message = "the salvage worker never started"
            }
        }
        switch state?.state {
        case "done"?:
            h.record("wait for salvage", host: args.origMaster?.host, outcome: "ok", started: t0,
                     message: "\(state?.files.count ?? 0) file(s), last \(state?.lastFile ?? "-"):\(state?.lastPosition.map(String.init) ?? "-")")
        case "running"?:
            trouble("wait for salvage", host: args.origMaster?.host, "still running after salvage_wait = \(Int(ctx.config.hooks.salvageWait)) s; continuing")
            h.alert("warning", "binlog salvage of \(args.origMaster?.host ?? "?") did not finish within \(Int(ctx.config.hooks.salvageWait)) s")
        default:
            trouble("wait for salvage", host: args.origMaster?.host, state?.message ?? "salvage failed")
            h.alert("critical", "binlog salvage of \(args.origMaster?.host ?? "?") failed: \(state?.message ?? "unknown")")
        }
    }

    /// Without a power manager: kill mysqld over ssh and exit 10, so MHA still saves and applies
    /// the dead master's binlog (exit 0 would make MHA skip it and lose rows).
    func stopMysqldOverSSH() -> Int32 {
        guard let m = args.origMaster else { return 10 }
        let host = m.sshIP ?? m.sshHost ?? m.address
        let user = args["ssh_user"] ?? "root"
        guard HostName.isValid(host), (try? HostName.validateUser(user, what: "ssh_user")) != nil else {
            h.record("stop mysqld", host: host, outcome: "failed", exitCode: 10, message: "invalid host or user from MHA")
            return 10
        }
        var opts = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=\(config?.sshConnectTimeout ?? 5)"]
        let mhaOpts = (args["ssh_options"] ?? "").split(whereSeparator: { $0 == " " }).map(String.init)
        // Options that run a local command have no place in a hook's ssh call.
        if let bad = mhaOpts.first(where: { o in ["proxycommand", "localcommand", "permitlocalcommand", "knownhostscommand"].contains { o.lowercased().contains($0) } }) {
            h.record("stop mysqld", host: host, outcome: "failed", exitCode: 10, message: "refusing --ssh_options element \(q(bad))")
            return 10
        }
        opts += mhaOpts
        let ssh = SSHTarget(user: user, host: host, port: m.sshPort ?? 22, options: opts)
        // The pid file MHA knows (master_pid_file), else every mysqld/mariadbd on that host.
        let remote: RemoteCommand
        if let pf = args["pid_file"], !pf.isEmpty {
            remote = RemoteCommand(["pkill", "-9", "-F", pf])
        } else {
            remote = RemoteCommand(["pkill", "-9", "-x", "mariadbd|mysqld|mysqld_safe|mariadbd-safe"])
        }
        let t0 = Date()
        let r = try? h.runner.run(ssh.command(remote), timeout: TimeInterval((config?.sshConnectTimeout ?? 5) + 10))
        let rc = r?.stages.first?.exitCode
        // pkill: 0 killed, 1 nothing matched (already dead): both leave mysqld stopped.
        let ok = rc == 0 || rc == 1
        h.record("stop mysqld", host: host, outcome: ok ? "ok" : "failed", started: t0, exitCode: 10,
                 message: ok ? (rc == 0 ? "killed" : "was not running") : "ssh: \(r?.failureSummary ?? "did not run")")
        return 10
    }

    // MARK: report_script

    func report() -> Int32 {
        let success = args.newMaster != nil
        let rec = openRecord(kind: .failover)
        if h.ctx != nil {
            if h.dryRun {
                h.say(success
                      ? "plan: archive MHA's saved binlogs, re-point backups and the stream to \(args.newMaster!.host), resume or abort paused jobs, lift the fence, start a full backup"
                      : "plan: failover failed: lift the fence, resume what is still valid, alert")
            } else if let rec {
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
