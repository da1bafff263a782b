import Foundation
import MHABackupBase

/// The detached half of the hooks: what takes longer than MHA's critical path may wait for.
/// Started by a hook as `mha-backup hook-worker TASK --failover ID`, in its own session, with no
/// descriptor of MHA's. Every step goes to the audit trail under the failover's id.
public final class HookWorker: @unchecked Sendable {
    let ctx: Context
    let record: FailoverRecord
    package let store: FailoverStore
    package let audit: AuditLog
    let task: String
    let runner = ProcessRunner()
    /// A salvage result that could not be written to the failover record (a full state folder).
    public private(set) var unrecorded: String?

    public init(ctx: Context, failoverId: String, task: String) throws {
        self.ctx = ctx
        self.task = task
        store = FailoverStore(stateDir: ctx.config.stateDir, clock: ctx.clock)
        guard let r = store.load(failoverId) else {
            throw MBError(.noInput, "no failover record \(q(failoverId)) in \(q(store.dir))")
        }
        record = r
        audit = AuditLog(path: ctx.config.auditPath)
    }

    func log(_ action: String, host: String? = nil, outcome: String, started: Date? = nil, message: String? = nil) {
        let now = ctx.clock.now()
        audit.append(AuditEvent(time: now, failoverId: record.id, hook: "worker", phase: task, action: action, host: host,
                                outcome: outcome, durationMs: started.map { Int(now.timeIntervalSince($0) * 1000) }, message: message))
        print("\(iso8601(now)) \(record.id) \(task): \(action)\(host.map { " \($0)" } ?? ""): \(outcome)\(message.map { " — \($0)" } ?? "")")
    }

    /// An alert from the worker: audited, `alerts.jsonl`, the alert command; once per failover and kind.
    func alert(_ severity: String, _ summary: String, kind: String) {
        let sent = Alerts.raise(config: ctx.config, severity: severity, summary: summary, failoverId: record.id, kind: kind,
                                now: ctx.clock.now())
        log("alert", outcome: sent ? "warning" : "skipped", message: "\(severity): \(summary)\(sent ? "" : " (already raised for this failover)")")
    }

    func isDead(_ host: String) -> Bool {
        let d = record.deadMaster
        return host == d.host || host == d.address || ctx.mha.server(named: host).map { $0.hostname == d.host || $0.ip == d.address } == true
    }

    func remoteSignal(_ job: JobRecord, _ sig: String) -> Bool {
        guard let rp = job.remotePid, let s = ctx.mha.server(named: job.sourceHost),
              let ssh = try? SSHTarget(server: s, config: ctx.config) else { return false }
        let r = try? runner.run(ssh.command(RemoteCommand(["kill", "-\(sig)", "--", "-\(rp)"])),
                                timeout: TimeInterval(ctx.config.sshConnectTimeout + 5))
        return r?.succeeded == true
    }

    // MARK: after stop / stopssh

    public func afterStop(salvageAttempt: Int?, salvageOnly: Bool = false) {
        let reg = JobRegistry(dir: ctx.config.jobsDir, clock: ctx.clock)
        // Foreign lock holders make MHA wait with no bound: watched from the first moment, beside
        // the salvage (which may take minutes).
        let watch = salvageOnly ? nil : startForeignLockWatch()
        defer { watch?.wait() }
        // Salvage first: it is what shutdown_script waits for.
        if let a = salvageAttempt { runSalvage(attempt: a) }
        if salvageOnly { return }
        for id in record.pausedJobs {
            guard let j = try? reg.load(id), j.state == .paused else { continue }
            let t0 = Date()
            let ok = remoteSignal(j, "STOP")
            log("pause job \(id) on its source", host: j.sourceHost, outcome: ok ? "ok" : "skipped", started: t0,
                message: ok ? "remote process group \(j.remotePid ?? 0) stopped" : "no remote process to stop")
        }
        for id in (store.load(record.id) ?? record).abortedJobs {
            guard let j = try? reg.load(id) ?? nil else { continue }
            let t0 = Date()
            let ok = remoteSignal(j, "KILL")
            log("kill job \(id)'s tool on its host", host: j.sourceHost, outcome: ok ? "ok" : "skipped", started: t0,
                message: ok ? nil : "host unreachable or tool gone")
        }
    }

    // MARK: salvage

    /// Copies every binlog of the failed master that the archive lacks, the open one included,
    /// over ssh with a connect timeout, checksummed; records the last file and position. Runs as
    /// attempt `attempt` (begun by a hook or `mha-backup salvage`); files of earlier attempts stay.
    @discardableResult
    public func runSalvage(attempt: Int) -> FailoverRecord.SalvageState.State {
        let t0 = Date()
        let dead = record.deadMaster
        let me = getpid()
        let myStart = ProcessRunner.startTime(me)
        var superseded = false
        try? store.update(record.id) {
            guard var s = $0.salvage, s.attempt == attempt else { superseded = true; return }
            s.workerPid = me
            s.workerStart = myStart
            $0.salvage = s
        }
        if superseded {
            log("salvage binlogs", host: dead.host, outcome: "skipped", message: "attempt \(attempt) was superseded by a newer one")
            return .failed
        }
        func finish(_ state: FailoverRecord.SalvageState.State, files: [String] = [], last: (String, Int64)? = nil, message: String? = nil) {
            do {
                try store.update(record.id) {
                    guard var s = $0.salvage, s.attempt == attempt else { return }
                    s.state = state
                    s.finishedAt = ctx.clock.now()
                    for f in files where !s.files.contains(f) { s.files.append(f) }
                    if let last { s.lastFile = last.0; s.lastPosition = last.1 }
                    s.message = message
                    $0.salvage = s
                }
            } catch {
                unrecorded = "\(error)"
                eprint("mha-backup hook-worker: cannot record the salvage result (\(state.rawValue)\(message.map { ": \($0)" } ?? "")) in \(q(store.dir)): \(error)")
            }
            log("salvage binlogs", host: dead.host, outcome: state == .done ? "ok" : "failed", started: t0,
                message: "attempt \(attempt): " + (message ?? "\(files.count) file(s) copied; last \(last.map { "\($0.0):\($0.1)" } ?? "-")"))
            if state != .done {
                alert("critical", "binlog salvage of \(dead.host) failed (attempt \(attempt)): \(message ?? "-"); redo with 'mha-backup salvage --failover \(record.id)' while ssh still reaches it",
                      kind: "salvage-failed")
            }
        }
        guard let server = ctx.mha.server(named: dead.host) ?? ctx.mha.server(named: dead.address) else {
            finish(.failed, message: "failed master \(q(dead.host)) is not a server in \(q(ctx.mha.path))")
            return .failed
        }
        do {
            let r = try Salvage(ctx: ctx, server: server, base: knownBinlogBase(server)).run()
            finish(.done, files: r.copied, last: r.last)
            return .done
        } catch let e as MBError {
            finish(.failed, message: e.message)
        } catch {
            finish(.failed, message: "\(error)")
        }
        return .failed
    }

    /// The failed master's binlog base name, from what the catalog already knows of it.
    func knownBinlogBase(_ server: MHAServer) -> String? {
        if let a = try? BinlogArchive(config: ctx.config, host: server.hostname, port: server.port),
           let idx = try? a.loadIndex(), let f = idx.files.last, let n = BinlogName(f.name) { return n.base }
        if let tl = try? Timeline.load(ctx.config.timelinePath) {
            for e in tl.entries.reversed() where e.masterHost == server.hostname {
                if let f = e.promotion?.file, let n = BinlogName(f) { return n.base }
            }
        }
        for m in Catalog(dir: ctx.config.backupsDir).all().reversed() where m.sourceHost == server.hostname {
            if let f = m.binlog?.file, let n = BinlogName(f) { return n.base }
        }
        return nil
    }

    // MARK: after report / switch

    public func afterReport(conf: String?, success: Bool) {
        if let conf { archiveSavedBinlogs(conf: conf) }
        finishFailover(success: success, fullBackup: success && ctx.config.hooks.fullBackupAfterFailover)
    }

    public func afterSwitch() {
        finishFailover(success: true, fullBackup: ctx.config.hooks.fullBackupAfterSwitch)
    }

    func finishFailover(success: Bool, fullBackup: Bool) {
        var rec = store.load(record.id) ?? record
        if success { ensurePromotion(rec) }
        if rec.kind == .failover { finishSalvage(rec) }
        rec = store.load(record.id) ?? rec
        resumeOrAbortJobs()
        if rec.streamWasRunning { restartStream() }
        if let f = Fence.lift(at: ctx.config.fencePath) {
            log("fence down", outcome: "ok", message: "was up \(Int(f.age(now: ctx.clock.now()))) s")
        }
        if fullBackup {
            let id = "\(Catalog.newId(type: .full, at: ctx.clock.now()))-after-\(rec.kind == .switchover ? "switch" : "failover")"
            let bin = CommandLine.arguments[0]
            do {
                let pid = try ProcessRunner.spawnDetached(Command([bin, "--config", ctx.config.path, "backup", "full", "--job-id", id,
                                                                   "--wait", String(Int(ctx.config.backupTimeout)), "--no-wait-fence"]),
                                                          logFile: ctx.config.stateDir + "/backup-\(id).log")
                try? store.update(rec.id) { $0.fullBackupJob = id }
                log("start full backup", outcome: "ok", message: "job \(id), pid \(pid), on the new timeline")
            } catch {
                log("start full backup", outcome: "failed", message: "\(error)")
            }
        }
        rec = (try? store.update(rec.id) {
            $0.status = success ? .succeeded : .failed
            $0.closedAt = ctx.clock.now()
        }) ?? rec
        log(success ? "failover closed" : "failover closed as failed", outcome: success ? "ok" : "failed",
            message: success ? "new master \(rec.newMaster?.host ?? "?")" : "MHA did not promote a new master")
        audit.sync()
    }

    /// The timeline must follow the new master whoever ran `start`: when master_ip_failover is not
    /// ours (or failed before recording), the promotion point is taken now, later than ideal, and
    /// the audit says so; a point that cannot be read is reported missing, never "ok".
    func ensurePromotion(_ rec: FailoverRecord) {
        guard let new = rec.newMaster else {
            log("re-point", outcome: "failed", message: "MHA named no new master: the catalog still follows the old one")
            alert("critical", "failover \(rec.id): no new master known; backups and the stream were not re-pointed", kind: "re-point")
            return
        }
        guard let s = ctx.mha.server(named: new.host) ?? ctx.mha.server(named: new.address) else {
            log("re-point", host: new.host, outcome: "failed", message: "new master \(q(new.host)) is not a server in \(q(ctx.mha.path))")
            alert("critical", "failover \(rec.id): new master \(new.host) is not in \(ctx.mha.path); nothing re-pointed", kind: "re-point")
            return
        }
        let t0 = Date()
        let current = try? Timeline.load(ctx.config.timelinePath).current
        if !(current?.masterHost == s.hostname && current?.masterPort == s.port) || rec.promotion == nil && current?.failoverId != rec.id {
            let read = Promotion.read(server: s, config: ctx.config, timeout: ctx.config.clientTimeout)
            do {
                let (e, _) = try Promotion.open(ctx: ctx, server: s, coordinates: read.coordinates, oldMaster: rec.deadMaster,
                                                oldSince: rec.openedAt, previousEnd: nil, failoverId: rec.id,
                                                reason: "recorded at report (master_ip_failover start did not record it)", now: ctx.clock.now())
                try? store.update(rec.id) { if $0.promotion == nil { $0.promotion = read.coordinates } }
                if let c = read.coordinates {
                    log("promotion recorded", host: s.hostname, outcome: "ok", started: t0,
                        message: "timeline \(e.id) at \(c.file):\(c.position) gtid \(c.gtid ?? "-"), taken at report time (later than MHA's promotion: writes since then are in this timeline's binlog)")
                } else {
                    log("promotion recorded", host: s.hostname, outcome: "failed", started: t0,
                        message: "timeline \(e.id) opened without a promotion point: \(read.error ?? "unknown")")
                    alert("warning", "failover \(rec.id): promotion point of \(s.hostname) is missing (\(read.error ?? "-")); PITR across this failover needs the GTID bridge", kind: "promotion-missing")
                }
            } catch {
                log("promotion recorded", host: s.hostname, outcome: "failed", started: t0, message: "\(error)")
                alert("critical", "failover \(rec.id): timeline not moved to \(s.hostname): \(error)", kind: "re-point")
            }
        }
        let now = try? Timeline.load(ctx.config.timelinePath).current
        if now?.masterHost == s.hostname && now?.masterPort == s.port {
            log("re-point", outcome: "ok", message: "backups and the binlog stream follow \(s.hostname):\(s.port), timeline \(now!.id)")
        } else {
            log("re-point", outcome: "failed", message: "the timeline follows \(now.map { "\($0.masterHost):\($0.masterPort)" } ?? "nobody"), not \(s.hostname):\(s.port)")
            alert("critical", "failover \(rec.id): backups still follow \(now?.masterHost ?? "nobody"), not the new master \(s.hostname)", kind: "re-point")
        }
    }

    /// A salvage whose worker died (killed, crashed) is resumed here while ssh may still reach the
    /// dead host; one that failed or cannot finish is alerted and stays a problem in `status`.
    func finishSalvage(_ rec: FailoverRecord) {
        guard let s = rec.salvage else { return }
        if s.state == .running, !s.isLive(now: ctx.clock.now()) {
            log("salvage binlogs", host: rec.deadMaster.host, outcome: "warning",
                message: "attempt \(s.attempt) did not finish (worker \(s.workerPid.map(String.init) ?? "never started") is gone): resuming")
            if let a = try? store.beginSalvage(rec.id), a.start { runSalvage(attempt: a.attempt) }
        } else if s.state == .running {
            log("salvage binlogs", host: rec.deadMaster.host, outcome: "warning",
                message: "attempt \(s.attempt) still running (worker \(s.workerPid.map(String.init) ?? "-")); it records its own end")
        } else if s.state == .failed {
            alert("critical", "binlog salvage of \(rec.deadMaster.host) did not finish: \(s.message ?? "-"); redo with 'mha-backup salvage --failover \(rec.id)' while ssh still reaches it",
                  kind: "salvage-failed")
        }
    }

    /// Restarts the live stream and checks that it stays up: a stream that cannot follow the new
    /// master yet (a host-dead failover, the promotion not visible) is reported, not assumed.
    func restartStream() {
        let bin = (CommandLine.arguments[0] as NSString).deletingLastPathComponent + "/mha-backup"
        let exe = FileManager.default.isExecutableFile(atPath: bin) ? bin : CommandLine.arguments[0]
        let t0 = Date()
        guard let pid = try? ProcessRunner.spawnDetached(Command([exe, "--config", ctx.config.path, "binlog", "stream"]),
                                                         logFile: ctx.config.stateDir + "/binlog-stream.log") else {
            log("restart binlog stream", outcome: "failed", message: "could not spawn \(q(exe))")
            alert("critical", "binlog stream not restarted after failover \(record.id)", kind: "stream-down")
            return
        }
        // Up means: still alive after a few seconds (a stream that cannot connect retries, logged).
        var alive = true
        for _ in 0..<30 {
            usleep(100_000)
            ProcessRunner.reap(pid)
            if !ProcessRunner.isAlive(pid) { alive = false; break }
        }
        if alive {
            log("restart binlog stream", outcome: "ok", started: t0, message: "pid \(pid), following the catalog's master")
        } else {
            let tail = (try? String(contentsOfFile: ctx.config.stateDir + "/binlog-stream.log", encoding: .utf8))?
                .split(separator: "\n").last.map(String.init) ?? "-"
            log("restart binlog stream", outcome: "failed", started: t0, message: "pid \(pid) exited at once: \(tail)")
            alert("critical", "binlog stream did not stay up after failover \(record.id): \(tail)", kind: "stream-down")
        }
    }

    /// Paused jobs whose source still answers are resumed (here and on the source); the others
    /// are aborted and recorded as such.
    func resumeOrAbortJobs() {
        let reg = JobRegistry(dir: ctx.config.jobsDir, clock: ctx.clock)
        let control = JobControl(ctx: ctx)
        let rec = store.load(record.id) ?? record
        for id in rec.pausedJobs {
            guard let j = try? reg.load(id), [.paused, .running].contains(j.state), ProcessRunner.isAlive(j.pid) else { continue }
            let reachable = ctx.mha.server(named: j.sourceHost).map { s in
                (try? MySQLClient(server: s, config: ctx.config).scalar("SELECT 1")) != nil
            } ?? false
            if reachable && !isDead(j.sourceHost) {
                _ = remoteSignal(j, "CONT")
                if j.pgid > 0 { kill(-j.pgid, SIGCONT) }
                try? reg.update(id) { $0.state = .running }
                log("resume job \(id)", host: j.sourceHost, outcome: "ok")
            } else {
                try? control.abort(id)
                log("abort job \(id)", host: j.sourceHost, outcome: "ok", message: "its source is gone")
            }
        }
    }

    /// MHA's `saved_master_binlog_from_*` files (the dead master's binlog events MHA saved and
    /// applied) go into the dead master's archive folder under `mha-saved/`, checksummed.
    func archiveSavedBinlogs(conf: String) {
        guard let app = try? MHAAppConfig.load(conf, warn: { _ in }) else {
            log("archive MHA saved binlogs", outcome: "failed", message: "cannot read --conf \(q(conf))")
            return
        }
        let dead = record.deadMaster
        let server = ctx.mha.server(named: dead.host) ?? ctx.mha.server(named: dead.address)
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: app.managerWorkdir)) ?? [])
            .filter { $0.hasPrefix("saved_master_binlog_from_") || $0.hasPrefix("saved_binlog_") }.sorted()
        guard !files.isEmpty else {
            log("archive MHA saved binlogs", outcome: "skipped", message: "none in \(q(app.managerWorkdir))")
            return
        }
        do {
            let folder = try HostName.folderName(host: server?.hostname ?? dead.host, port: server?.port ?? dead.port ?? 3306)
            let dir = "\(ctx.config.binlogsDir)/\(folder)/mha-saved"
            try AtomicFile.makeDirectory(dir)
            for f in files {
                let t0 = Date()
                let src = "\(app.managerWorkdir)/\(f)"
                let h = try SHA256Hasher.hashFile(src)
                let dst = "\(dir)/\(f)"
                if let existing = try? String(contentsOfFile: dst + ".sha256", encoding: .utf8), existing.hasPrefix(h.sha256) {
                    log("archive MHA saved binlog \(f)", outcome: "skipped", message: "already archived")
                    continue
                }
                guard let data = FileManager.default.contents(atPath: src) else { continue }
                try AtomicFile.write(BinlogChecksumFile.format(sha256: h.sha256, name: f), to: dst + ".sha256", mode: 0o640)
                try AtomicFile.write(data, to: dst, mode: 0o640)
                log("archive MHA saved binlog \(f)", outcome: "ok", started: t0, message: "\(h.size) bytes, sha256 \(h.sha256)")
            }
        } catch {
            log("archive MHA saved binlogs", outcome: "failed", message: "\(error)")
        }
    }
}

/// Copies a failed master's binlogs over ssh: every file the archive lacks (or holds shorter),
/// the open one included.
struct Salvage {
    let ctx: Context
    let server: MHAServer
    let base: String?

    struct Result {
        var copied: [String] = []
        var last: (String, Int64)?
    }

    /// Without a base the catalog knows: the bases that have an index file, not relay logs, the
    /// commonest of them (ties broken by name, never by chance); else the commonest of the rest.
    static func guessBase(_ bases: [String], indexed: Set<String>) -> String? {
        let candidates = bases.filter { !$0.contains("relay") && !$0.hasPrefix("aria_log") && !$0.hasPrefix("ib_") }
        let withIndex = candidates.filter(indexed.contains)
        let pool = withIndex.isEmpty ? candidates : withIndex
        let counts = Dictionary(grouping: pool, by: { $0 }).mapValues(\.count)
        return counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key
    }

    func run() throws -> Result {
        let archive = try BinlogArchive(config: ctx.config, host: server.hostname, port: server.port, clock: ctx.clock)
        try archive.prepare()
        let ssh = try SSHTarget.forBinlogs(server: server, config: ctx.config)
        let dirs = server.masterBinlogDir.filter { $0.hasPrefix("/") }
        guard !dirs.isEmpty else { throw MBError.config("master_binlog_dir of [\(server.block)] has no absolute path") }
        // The numbered files and the `.index` files: a binlog base has an index (mysql-bin.index);
        // other numbered files in a datadir (aria_log.00000001) have none.
        let listing = RemoteCommand(["find", "-H"] + dirs + ["-maxdepth", "1", "-type", "f",
                                                            "(", "-name", "*.[0-9][0-9][0-9][0-9][0-9][0-9]*", "-o", "-name", "*.index", ")",
                                                            "-printf", "%s\\t%p\\n"])
        let r = try ProcessRunner().run(ssh.command(listing), timeout: TimeInterval(ctx.config.sshConnectTimeout + 30))
        guard !r.timedOut, let code = r.stages.first?.exitCode, code == 0 || code == 1 else {
            throw MBError(.unavailable, "cannot list binlogs on \(q(server.sshHost)): \(r.failureSummary)")
        }
        var found: [(BinlogName, RemoteBinlog)] = []
        var indexed = Set<String>()
        for line in r.stdoutString.split(separator: "\n") {
            guard let tab = line.firstIndex(of: "\t"), let size = Int64(line[..<tab]) else { continue }
            let path = String(line[line.index(after: tab)...])
            let name = (path as NSString).lastPathComponent
            if name.hasSuffix(".index") { indexed.insert(String(name.dropLast(".index".count))); continue }
            guard let n = BinlogName(name) else { continue }
            found.append((n, RemoteBinlog(path: path, size: size)))
        }
        let chosenBase = base ?? Salvage.guessBase(found.map(\.0.base), indexed: indexed)
        guard let chosenBase else { throw MBError(.noInput, "no binlogs found in \(dirs.map(q).joined(separator: ", ")) on \(q(server.sshHost))") }
        var files: [String: (BinlogName, RemoteBinlog)] = [:]
        for (n, rb) in found where n.base == chosenBase && files[n.description] == nil { files[n.description] = (n, rb) }
        let ordered = files.values.sorted { $0.0 < $1.0 }
        let archiver = BinlogArchiver(ctx: ctx)
        var result = Result()
        let idx = try archive.loadIndex()
        for (n, rb) in ordered {
            let name = n.description
            if case .complete(_, let size) = archive.state(of: name, index: idx), size == rb.size { continue }
            let replace: Bool
            switch archive.state(of: name, index: idx) {
            case .absent: replace = false
            default: replace = true  // shorter (an earlier copy of the open file), unverified or damaged
            }
            _ = try archiver.fetch(remote: rb, expected: ServerBinlog(name: name, size: rb.size), server: server,
                                   archive: archive, replace: replace)
            result.copied.append(name)
        }
        if let last = ordered.last { result.last = (last.0.description, last.1.size) }
        return result
    }
}
