import Foundation
import MHABackupBase
import MHABackupFailover

/// The detached half of report_script (`Phases/Report.swift`): MHA's saved binlogs archived, the
/// promotion checked, the stream re-pointed, jobs resumed or aborted, the fence lifted, a full backup.
extension HookWorker {
    public func afterReport(conf: String?, success: Bool) {
        if let conf { archiveSavedBinlogs(conf: conf) }
        finishFailover(success: success, fullBackup: success && ctx.config.hooks.fullBackupAfterFailover)
    }

    func finishFailover(success: Bool, fullBackup: Bool) {
        var rec = store.load(record.id) ?? record
        if success { ensurePromotion(rec) }
        if rec.kind == .failover { finishSalvage(rec) }
        rec = store.load(record.id) ?? rec
        resumeOrAbortJobs()
        if rec.streamWasRunning { restartStream() }
        if let f = Fence.lift(at: ctx.config.fencePath) {
            log("fence down", outcome: .ok, message: "was up \(Int(f.age(now: ctx.clock.now()))) s")
        }
        // The kept ssh connection served the old master's fencing; the manager's next start opens
        // one to the new master.
        let closed = SSHMux(stateDir: ctx.config.stateDir).closeAll(runner: runner)
        if closed > 0 { log("close ssh connections", outcome: .ok, message: "\(closed) kept for shutdown_script's kill") }
        if fullBackup {
            let id = "\(Catalog.newId(type: .full, at: ctx.clock.now()))-after-\(rec.kind == .switchover ? "switch" : "failover")"
            let bin = CommandLine.arguments[0]
            do {
                let pid = try ProcessRunner.spawnDetached(Command([bin, "--config", ctx.config.path, "backup", "full", "--job-id", id,
                                                                   "--wait", String(Int(ctx.config.backupTimeout)), "--no-wait-fence"]),
                                                          logFile: ctx.config.stateDir + "/backup-\(id).log")
                try? store.update(rec.id) { $0.fullBackupJob = id }
                log("start full backup", outcome: .ok, message: "job \(id), pid \(pid), on the new timeline")
            } catch {
                log("start full backup", outcome: .failed, message: "\(error)")
            }
        }
        rec = (try? store.update(rec.id) {
            $0.status = success ? .succeeded : .failed
            $0.closedAt = ctx.clock.now()
        }) ?? rec
        log(success ? "failover closed" : "failover closed as failed", outcome: success ? .ok : .failed,
            message: success ? "new master \(rec.newMaster?.host ?? "?")" : "MHA did not promote a new master")
        audit.sync()
        let report = FailoverReportFile.write(ctx: ctx, failoverId: rec.id, now: ctx.clock.now())
        log("incident report", outcome: report == nil ? .failed : .ok,
            message: report ?? "could not write \(FailoverReportFile.path(stateDir: ctx.config.stateDir, id: rec.id))")
        audit.sync()
    }

    /// The timeline must follow the new master whoever ran `start`: when master_ip_failover is not
    /// ours (or failed before recording), the promotion point is taken now, later than ideal, and
    /// the audit says so; a point that cannot be read is reported missing, never "ok".
    func ensurePromotion(_ rec: FailoverRecord) {
        guard let new = rec.newMaster else {
            log("re-point", outcome: .failed, message: "MHA named no new master: the catalog still follows the old one")
            alert(.critical, "failover \(rec.id): no new master known; backups and the stream were not re-pointed", kind: .rePoint)
            return
        }
        guard let s = ctx.mha.server(named: new.host) ?? ctx.mha.server(named: new.address) else {
            log("re-point", host: new.host, outcome: .failed, message: "new master \(q(new.host)) is not a server in \(q(ctx.mha.path))")
            alert(.critical, "failover \(rec.id): new master \(new.host) is not in \(ctx.mha.path); nothing re-pointed", kind: .rePoint)
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
                    log("promotion recorded", host: s.hostname, outcome: .ok, started: t0,
                        message: "timeline \(e.id) at \(c.file):\(c.position) gtid \(c.gtid ?? "-"), taken at report time (later than MHA's promotion: writes since then are in this timeline's binlog)")
                } else {
                    log("promotion recorded", host: s.hostname, outcome: .failed, started: t0,
                        message: "timeline \(e.id) opened without a promotion point: \(read.error ?? "unknown")")
                    alert(.warning, "failover \(rec.id): promotion point of \(s.hostname) is missing (\(read.error ?? "-")); PITR across this failover needs the GTID bridge", kind: .promotionMissing)
                }
            } catch {
                log("promotion recorded", host: s.hostname, outcome: .failed, started: t0, message: "\(error)")
                alert(.critical, "failover \(rec.id): timeline not moved to \(s.hostname): \(error)", kind: .rePoint)
            }
        }
        let now = try? Timeline.load(ctx.config.timelinePath).current
        if now?.masterHost == s.hostname && now?.masterPort == s.port {
            log("re-point", outcome: .ok, message: "backups and the binlog stream follow \(s.hostname):\(s.port), timeline \(now!.id)")
        } else {
            log("re-point", outcome: .failed, message: "the timeline follows \(now.map { "\($0.masterHost):\($0.masterPort)" } ?? "nobody"), not \(s.hostname):\(s.port)")
            alert(.critical, "failover \(rec.id): backups still follow \(now?.masterHost ?? "nobody"), not the new master \(s.hostname)", kind: .rePoint)
        }
    }

    /// A salvage whose worker died (killed, crashed) is resumed here while ssh may still reach the
    /// dead host; one that failed or cannot finish is alerted and stays a problem in `status`.
    func finishSalvage(_ rec: FailoverRecord) {
        guard let s = rec.salvage else { return }
        if s.state == .running, !s.isLive(now: ctx.clock.now()) {
            log("salvage binlogs", host: rec.deadMaster.host, outcome: .warning,
                message: "attempt \(s.attempt) did not finish (worker \(s.workerPid.map(String.init) ?? "never started") is gone): resuming")
            if let a = try? store.beginSalvage(rec.id), a.start { runSalvage(attempt: a.attempt) }
        } else if s.state == .running {
            log("salvage binlogs", host: rec.deadMaster.host, outcome: .warning,
                message: "attempt \(s.attempt) still running (worker \(s.workerPid.map(String.init) ?? "-")); it records its own end")
        } else if s.state == .failed {
            alert(.critical, "binlog salvage of \(rec.deadMaster.host) did not finish: \(s.message ?? "-"); redo with 'mha-backup salvage --failover \(rec.id)' while ssh still reaches it",
                  kind: .salvageIncomplete)
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
            log("restart binlog stream", outcome: .failed, message: "could not spawn \(q(exe))")
            alert(.critical, "binlog stream not restarted after failover \(record.id)", kind: .streamDown)
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
            log("restart binlog stream", outcome: .ok, started: t0, message: "pid \(pid), following the catalog's master")
        } else {
            let tail = (try? String(contentsOfFile: ctx.config.stateDir + "/binlog-stream.log", encoding: .utf8))?
                .split(separator: "\n").last.map(String.init) ?? "-"
            log("restart binlog stream", outcome: .failed, started: t0, message: "pid \(pid) exited at once: \(tail)")
            alert(.critical, "binlog stream did not stay up after failover \(record.id): \(tail)", kind: .streamDown)
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
                // Running first, under the lock the stop worker's STOP takes (see afterStop).
                _ = try? reg.withLock(timeout: 30) { try? reg.update(id, locked: true) { $0.state = .running } }
                _ = remoteSignal(j, "CONT")
                if j.pgid > 0 { kill(-j.pgid, SIGCONT) }
                log("resume job \(id)", host: j.sourceHost, outcome: .ok)
            } else {
                try? control.abort(id)
                log("abort job \(id)", host: j.sourceHost, outcome: .ok, message: "its source is gone")
            }
        }
    }

    /// MHA's `saved_master_binlog_from_*` files (the dead master's binlog events MHA saved and
    /// applied) go into the dead master's archive folder under `mha-saved/`, checksummed.
    func archiveSavedBinlogs(conf: String) {
        guard let app = try? MHAAppConfig.load(conf, warn: { _ in }) else {
            log("archive MHA saved binlogs", outcome: .failed, message: "cannot read --conf \(q(conf))")
            return
        }
        let dead = record.deadMaster
        let server = ctx.mha.server(named: dead.host) ?? ctx.mha.server(named: dead.address)
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: app.managerWorkdir)) ?? [])
            .filter { $0.hasPrefix("saved_master_binlog_from_") || $0.hasPrefix("saved_binlog_") }.sorted()
        guard !files.isEmpty else {
            log("archive MHA saved binlogs", outcome: .skipped, message: "none in \(q(app.managerWorkdir))")
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
                    log("archive MHA saved binlog \(f)", outcome: .skipped, message: "already archived")
                    continue
                }
                guard let data = FileManager.default.contents(atPath: src) else { continue }
                try AtomicFile.write(BinlogChecksumFile.format(sha256: h.sha256, name: f), to: dst + ".sha256", mode: 0o640)
                try AtomicFile.write(data, to: dst, mode: 0o640)
                log("archive MHA saved binlog \(f)", outcome: .ok, started: t0, message: "\(h.size) bytes, sha256 \(h.sha256)")
            }
        } catch {
            log("archive MHA saved binlogs", outcome: .failed, message: "\(error)")
        }
    }
}
