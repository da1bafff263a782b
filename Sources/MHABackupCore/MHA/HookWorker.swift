import Foundation

/// The detached half of the hooks: what takes longer than MHA's critical path may wait for.
/// Started by a hook as `mha-backup hook-worker TASK --failover ID`, in its own session, with no
/// descriptor of MHA's. Every step goes to the audit trail under the failover's id.
public final class HookWorker: @unchecked Sendable {
    let ctx: Context
    let record: FailoverRecord
    let store: FailoverStore
    let audit: AuditLog
    let task: String
    let runner = ProcessRunner()

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

    public func afterStop(salvage: Bool) {
        let reg = JobRegistry(dir: ctx.config.jobsDir, clock: ctx.clock)
        // Salvage first: it is what shutdown_script waits for.
        if salvage {
            try? store.update(record.id) {
                var s = $0.salvage ?? .init(state: "running", startedAt: ctx.clock.now())
                s.workerPid = getpid()
                $0.salvage = s
            }
            runSalvage()
        }
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
        foreignLocks()
    }

    /// Sessions of other tools that hold backup locks on a surviving server make MHA wait with no
    /// bound: named in the audit, and killed with `kill_foreign_backup_locks = yes`.
    func foreignLocks() {
        let ours = credentialsUser(ctx.config.credentials)
        let survivors = ctx.mha.servers.filter { !isDead($0.hostname) }
        let results = LockedArray<[String]?>(count: survivors.count)
        DispatchQueue.concurrentPerform(iterations: survivors.count) { i in
            let s = survivors[i]
            let client = MySQLClient(server: s, config: ctx.config)
            let holders = (try? ForeignLocks.holders(client: client, excludingUser: ours)) ?? []
            var notes: [String] = []
            for hld in holders {
                var killed = false
                if ctx.config.hooks.killForeignBackupLocks {
                    killed = (try? client.execute("KILL \(hld.id)")) != nil
                }
                notes.append("\(hld.description)\(killed ? " — killed" : "")")
            }
            results.set(i, notes)
        }
        for (i, s) in survivors.enumerated() {
            for n in results.values[i] ?? [] {
                log("foreign backup lock", host: s.hostname, outcome: ctx.config.hooks.killForeignBackupLocks ? "ok" : "warning",
                    message: n + (ctx.config.hooks.killForeignBackupLocks ? "" : " (kill_foreign_backup_locks = no: left alone; MHA may wait for it)"))
            }
        }
    }

    // MARK: salvage

    /// Copies every binlog of the failed master that the archive lacks, the open one included,
    /// over ssh with a connect timeout, checksummed; records the last file and position.
    public func runSalvage() {
        let t0 = Date()
        let dead = record.deadMaster
        func finish(_ state: String, files: [String] = [], last: (String, Int64)? = nil, message: String? = nil) {
            try? store.update(record.id) {
                var s = $0.salvage ?? .init(state: state, startedAt: t0)
                s.state = state
                s.finishedAt = ctx.clock.now()
                s.files = files
                s.lastFile = last?.0
                s.lastPosition = last?.1
                s.message = message
                $0.salvage = s
            }
            log("salvage binlogs", host: dead.host, outcome: state == "done" ? "ok" : "failed", started: t0,
                message: message ?? "\(files.count) file(s) copied; last \(last.map { "\($0.0):\($0.1)" } ?? "-")")
        }
        guard let server = ctx.mha.server(named: dead.host) ?? ctx.mha.server(named: dead.address) else {
            finish("failed", message: "failed master \(q(dead.host)) is not a server in \(q(ctx.mha.path))")
            return
        }
        do {
            let r = try Salvage(ctx: ctx, server: server, base: knownBinlogBase(server)).run()
            finish("done", files: r.copied, last: r.last)
        } catch let e as MBError {
            finish("failed", message: e.message)
        } catch {
            finish("failed", message: "\(error)")
        }
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
        if success, rec.promotion == nil, let new = rec.newMaster ?? rec.deadMaster as HookServer?, rec.newMaster != nil {
            // master_ip_failover is not ours: take the new master's position now (later than ideal).
            if let s = ctx.mha.server(named: new.host) ?? ctx.mha.server(named: new.address) {
                let client = MySQLClient(server: s, config: ctx.config)
                let bl = (try? client.query("SHOW MASTER STATUS"))?.first.flatMap(BinlogStatus.init(row:))
                let g = (try? client.query("SELECT @@gtid_binlog_pos AS g"))?.first?.first("g")
                var tl = (try? Timeline.load(ctx.config.timelinePath)) ?? Timeline()
                let coords = bl.map { Coordinates(file: $0.file, position: $0.position, gtid: g) }
                let e = tl.promote(host: s.hostname, port: s.port, at: ctx.clock.now(), promotion: coords, failoverId: rec.id,
                                   reason: "recorded at report (no promotion point from master_ip_failover start)")
                try? tl.save(ctx.config.timelinePath)
                log("promotion recorded", host: s.hostname, outcome: "ok", message: "timeline \(e.id), taken at report time")
            }
        }
        if success {
            log("re-point", outcome: "ok", message: "backups and the binlog stream follow \((try? Timeline.load(ctx.config.timelinePath))?.current.map { "\($0.masterHost):\($0.masterPort), timeline \($0.id)" } ?? "?")")
        }
        resumeOrAbortJobs()
        if rec.streamWasRunning {
            let bin = (CommandLine.arguments[0] as NSString).deletingLastPathComponent + "/mha-backup"
            let exe = FileManager.default.isExecutableFile(atPath: bin) ? bin : CommandLine.arguments[0]
            if let pid = try? ProcessRunner.spawnDetached(Command([exe, "--config", ctx.config.path, "binlog", "stream"]),
                                                          logFile: ctx.config.stateDir + "/binlog-stream.log") {
                log("restart binlog stream", outcome: "ok", message: "pid \(pid), following the catalog's master")
            }
        }
        if let f = Fence.lift(at: ctx.config.fencePath) {
            log("fence down", outcome: "ok", message: "was up \(Int(f.age(now: ctx.clock.now()))) s")
        }
        if fullBackup {
            let id = "\(Catalog.newId(type: .full, at: ctx.clock.now()))-after-\(rec.kind == .switchover ? "switch" : "failover")"
            let bin = CommandLine.arguments[0]
            do {
                let pid = try ProcessRunner.spawnDetached(Command([bin, "--config", ctx.config.path, "backup", "full", "--job-id", id,
                                                                   "--wait", String(Int(ctx.config.backupTimeout))]),
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

/// Who holds a backup lock (FTWRL, BACKUP STAGE) on a server. Exact with MariaDB's
/// `information_schema.METADATA_LOCK_INFO` (plugin metadata_lock_info) or MySQL's
/// `performance_schema.metadata_locks`; otherwise by the statement a session runs.
public enum ForeignLocks {
    public struct Holder: Sendable, CustomStringConvertible {
        public var id: Int
        public var user: String
        public var host: String
        public var mode: String
        public var info: String
        public var description: String { "session \(id) of \(q(user))@\(host) holds \(mode)\(info.isEmpty ? "" : " (\(info))")" }
    }

    static let modes = ["MDL_BACKUP_FTWRL1", "MDL_BACKUP_FTWRL2", "MDL_BACKUP_START", "MDL_BACKUP_FLUSH", "MDL_BACKUP_WAIT_FLUSH",
                        "MDL_BACKUP_WAIT_DDL", "MDL_BACKUP_WAIT_COMMIT", "MDL_BACKUP_BLOCK_DDL"]

    public static func holders(client: MySQLClient, excludingUser ours: String?) throws -> [Holder] {
        let modeList = modes.map { "'\($0)'" }.joined(separator: ",")
        let exact = """
            SELECT p.ID AS id, p.USER AS user, p.HOST AS host, m.LOCK_MODE AS mode, COALESCE(p.INFO, '') AS info
            FROM information_schema.METADATA_LOCK_INFO m JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
            WHERE m.LOCK_TYPE = 'Backup lock' AND m.LOCK_MODE IN (\(modeList)) AND p.ID <> CONNECTION_ID()
            """
        let rows: [Row]
        if let r = try? client.query(exact) {
            rows = r
        } else {
            rows = try client.query("""
                SELECT ID AS id, USER AS user, HOST AS host, 'statement' AS mode, COALESCE(INFO, '') AS info
                FROM information_schema.PROCESSLIST
                WHERE ID <> CONNECTION_ID() AND (INFO LIKE 'FLUSH TABLES%WITH READ LOCK%' OR INFO LIKE 'BACKUP STAGE%'
                      OR INFO LIKE 'LOCK TABLES%FOR BACKUP%' OR INFO LIKE 'LOCK INSTANCE FOR BACKUP%')
                """)
        }
        var seen = Set<Int>()
        return rows.compactMap { r -> Holder? in
            guard let id = r.first("id").flatMap({ Int($0) }), !seen.contains(id) else { return nil }
            let user = r.first("user") ?? ""
            if let ours, user == ours { return nil }
            seen.insert(id)
            return Holder(id: id, user: user, host: r.first("host") ?? "", mode: r.first("mode") ?? "", info: r.first("info") ?? "")
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

    func run() throws -> Result {
        let archive = try BinlogArchive(config: ctx.config, host: server.hostname, port: server.port, clock: ctx.clock)
        try archive.prepare()
        let ssh = try SSHTarget.forBinlogs(server: server, config: ctx.config)
        let dirs = server.masterBinlogDir.filter { $0.hasPrefix("/") }
        guard !dirs.isEmpty else { throw MBError.config("master_binlog_dir of [\(server.block)] has no absolute path") }
        let listing = RemoteCommand(["find", "-H"] + dirs + ["-maxdepth", "1", "-type", "f", "-name", "*.[0-9][0-9][0-9][0-9][0-9][0-9]*",
                                                            "-printf", "%s\\t%p\\n"])
        let r = try ProcessRunner().run(ssh.command(listing), timeout: TimeInterval(ctx.config.sshConnectTimeout + 30))
        guard !r.timedOut, let code = r.stages.first?.exitCode, code == 0 || code == 1 else {
            throw MBError(.unavailable, "cannot list binlogs on \(q(server.sshHost)): \(r.failureSummary)")
        }
        var found: [(BinlogName, RemoteBinlog)] = []
        for line in r.stdoutString.split(separator: "\n") {
            guard let tab = line.firstIndex(of: "\t"), let size = Int64(line[..<tab]) else { continue }
            let path = String(line[line.index(after: tab)...])
            guard let n = BinlogName((path as NSString).lastPathComponent) else { continue }
            found.append((n, RemoteBinlog(path: path, size: size)))
        }
        // The master's own binlogs: the base the catalog knows, else the commonest that is not a relay log.
        let chosenBase = base ?? Dictionary(grouping: found.filter { !$0.0.base.contains("relay") }, by: { $0.0.base })
            .max { $0.value.count < $1.value.count }?.key
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
