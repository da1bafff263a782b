import Foundation
import MHABackupBase
import MHABackupFailover

public struct BackupRequest: Sendable {
    public var type: BackupType
    public var method: BackupMethod?
    public var source: String?
    public var compression: Compression?
    public var ignoreFence = false
    /// With `--wait`: wait for a slot only; a raised fence refuses at once (the hooks' own full
    /// backup: a fence up again means a new failover, whose report starts its own).
    public var waitForFence = true
    /// Set by a caller that registered the job id in advance (the hooks' detached full backup).
    public var id: String?
    /// When busy (max_parallel, or the source has a backup), wait this long for a slot instead of refusing.
    public var waitForSlot: TimeInterval = 0

    public init(type: BackupType, method: BackupMethod? = nil, source: String? = nil) {
        self.type = type
        self.method = method
        self.source = source
    }
}

/// Reads mariabackup / xtrabackup / mariadb-dump progress lines into phases and facts.
public struct ToolProgress: Sendable {
    public var phase: JobPhase = .connecting
    public var remotePid: Int?
    public var toolRC: Int32?
    public var completedOK = false
    public var binlogLine: Coordinates?
    public var replicaLine: Coordinates?
    /// Files the remote command printed after the tool (`@@MHA-BACKUP-FILE name` then its lines).
    public var files: [String: String] = [:]
    private var currentFile: String?

    public init() {}

    /// Feeds one stderr line; returns true when the phase changed.
    @discardableResult
    public mutating func feed(_ line: String) -> Bool {
        if line.hasPrefix("@@MHA-BACKUP-FILE ") {
            let name = String(line.dropFirst("@@MHA-BACKUP-FILE ".count))
            currentFile = name
            files[name] = ""
            return false
        }
        if let f = currentFile {
            files[f, default: ""] += line + "\n"
            return false
        }
        let before = phase
        if let r = line.range(of: "MHA_BACKUP_REMOTE_PID=") { remotePid = Int(line[r.upperBound...].trimmingCharacters(in: .whitespaces)) }
        if let r = line.range(of: "MHA_BACKUP_RC=") { toolRC = Int32(line[r.upperBound...].trimmingCharacters(in: .whitespaces)) }
        if line.contains("completed OK!") { completedOK = true; phase = .finishing }
        if line.contains("MySQL slave binlog position:") || line.contains("MySQL replica binlog position:") {
            // `master '' filename 'f' position 'p'` (the first quoted value names the master connection).
            let quoted = ToolOutput.matches(#"'([^']*)'"#, in: line)
            if quoted.count >= 3, let pos = Int64(quoted[2]) {
                replicaLine = Coordinates(file: quoted[1], position: pos)
            } else if quoted.count == 2, let pos = Int64(quoted[1]) {
                replicaLine = Coordinates(file: quoted[0], position: pos)
            }
        } else if line.contains("MySQL binlog position:") {
            binlogLine = ToolOutput.binlogPosFromInfo(line)
        }
        if phase == .connecting && (line.contains("Copying ") || line.contains("Streaming ") || line.contains("Retrieving table structure")
                                    || line.contains("Sending SELECT query")) {
            phase = .copying
        }
        if line.contains("Starting BACKUP STAGE FLUSH") || line.contains("Starting BACKUP STAGE BLOCK_DDL")
            || line.contains("Starting BACKUP STAGE BLOCK_COMMIT") || line.contains("Executing FLUSH TABLES WITH READ LOCK")
            || line.contains("Executing LOCK TABLES FOR BACKUP") || line.contains("Executing FLUSH NO_WRITE_TO_BINLOG TABLES") {
            phase = .locking
        }
        if line.contains("Starting BACKUP STAGE END") || line.contains("All tables unlocked") || line.contains("Executing UNLOCK TABLES") {
            phase = .finishing
        }
        if phase == .connecting && line.contains("-- Starting transaction") { phase = .copying }
        return phase != before
    }
}

/// Takes full and incremental backups: physical (mariabackup/xtrabackup run on the source host over
/// ssh, compressed there, hashed here in the same pass) or logical (mariadb-dump/mysqldump).
public final class BackupEngine: @unchecked Sendable {
    public let ctx: Context
    public let runner = ProcessRunner()
    /// Progress lines: stderr, so stdout stays the result (and valid JSON with --json).
    public var out: (String) -> Void = { eprint($0) }
    public var cancellation = CancellationFlag()
    let registry: JobRegistry
    let catalog: Catalog
    /// `[encryption]`'s keys, read when a run starts; data files are encrypted with `current`.
    var keys: KeyRing?

    public init(ctx: Context) {
        self.ctx = ctx
        registry = JobRegistry(dir: ctx.config.jobsDir, clock: ctx.clock)
        catalog = Catalog(dir: ctx.config.backupsDir)
    }

    var config: BackupConfig { ctx.config }

    /// Chooses the source: `--source`, else the configured policy (a healthy replica by default).
    public func chooseSource(_ req: BackupRequest, topology: Topology, busy: Set<String>) throws -> ServerState {
        let wanted: SourcePolicy = req.source.map { SourcePolicy.parse($0) } ?? config.source
        switch wanted {
        case .host(let name):
            guard let s = topology.state(of: name) else {
                throw MBError.usage("--source \(q(name)) is not a server in \(q(ctx.mha.path))",
                                    hint: "servers: \(ctx.mha.servers.map(\.hostname).joined(separator: ", "))")
            }
            guard s.reachable else { throw MBError(.unavailable, "source \(q(name)) is unreachable: \(s.error ?? "no answer")") }
            return s
        case .master:
            guard let m = topology.master else { throw MBError(.unavailable, "no master found to back up") }
            return m
        case .replica:
            if let r = topology.healthyReplicas.first(where: { !busy.contains($0.server.key) }) { return r }
            if let r = topology.healthyReplicas.first { return r }
            throw MBError(.unavailable, "no healthy replica to back up (IO and SQL threads running, lag under 300 s)",
                          hint: "pass --source master or --source HOST")
        }
    }

    /// Runs one backup to the end and returns its manifest (complete, or throws with it recorded).
    @discardableResult
    public func run(_ req: BackupRequest) throws -> Manifest {
        // The id names the backup folder and the remote scratch folder that `rm -rf` removes.
        if let id = req.id { try SafeName.check(id, .id, what: "job id") }
        let now = ctx.clock.now()
        // From the start: a failover hook tells a job that has not started its tool to stop (SIGTERM).
        let signals = SignalForwarder.install(cancellation)
        defer { signals.cancel() }
        // Checked first (a clear refusal without a slow probe), and again under the registry's lock.
        if !req.ignoreFence, req.waitForSlot <= 0 || !req.waitForFence { try Fence.check(path: config.fencePath, now: now) }
        // A missing or loose key file refuses the backup before anything starts.
        keys = try config.encryption.keyRing()
        try AtomicFile.makeDirectory(config.backupsDir)
        var topology = Topology.discover(ctx.mha, config: config)
        let id = req.id ?? Catalog.newId(type: req.type, at: now)
        try AtomicFile.makeDirectory(config.stateDir)

        // Admission: max_parallel and one backup a source, decided under the registry lock.
        var source: ServerState!
        var job: JobRecord!
        let admitBy = Date().addingTimeInterval(req.waitForSlot)
        var said = false
        while true {
            do {
                try registry.withLock {
                    // The hooks raise the fence and then quiesce under this lock: a backup admitted
                    // here either is in their list or sees the fence.
                    if !req.ignoreFence { try Fence.check(path: config.fencePath, now: ctx.clock.now()) }
                    let active = registry.active().filter { $0.id != id }
                    let busy = Set(active.map { "\($0.sourceHost):\($0.sourcePort)" })
                    source = try chooseSource(req, topology: topology, busy: busy)
                    if active.count >= config.maxParallel {
                        throw MBError(.busy, "backup refused: \(active.count) backups already run (max_parallel = \(config.maxParallel)): \(active.map { q($0.id) }.joined(separator: ", "))")
                    }
                    if let other = active.first(where: { $0.sourceHost == source.server.hostname && $0.sourcePort == source.server.port }) {
                        throw MBError(.busy, "backup refused: job \(q(other.id)) already backs up \(source.server.key)")
                    }
                    let method = try resolveMethod(req, source: source)
                    job = JobRecord(id: id, kind: req.type, method: method, sourceHost: source.server.hostname,
                                    sourcePort: source.server.port, pid: getpid(), pgid: 0, remotePid: nil, phase: .queued,
                                    state: .running, startedAt: now, updatedAt: now, bytes: 0, backupId: id, message: nil,
                                    restartReplicaSQLOnAbort: method.isPhysical && source.replica?.sqlRunning == true
                                        && usesSafeSlaveBackup(source))
                    try registry.save(job)
                }
                break
            } catch let e as MBError where (e.code == .busy || e.code == .fenced && req.waitForFence) && Date() < admitBy && !cancellation.isCancelled {
                // --wait waits for a slot and for a failover to end; the topology is probed anew
                // afterwards (the source may be the new master's replica now).
                if !said { out("backup \(id): \(e.message); waiting up to \(Int(req.waitForSlot)) s"); said = true }
                sleep(2)
                topology = Topology.discover(ctx.mha, config: config)
            }
        }
        defer { registry.remove(id) }
        if cancellation.isCancelled || (try? registry.load(id))?.state == .aborting {
            throw MBError(.failed, "backup \(q(id)) aborted before it started (a failover began)")
        }
        let method = job.method

        var parent: Manifest? = nil
        if req.type == .incremental {
            guard method.isPhysical else {
                throw MBError.usage("incremental backups need a physical method (mariabackup or xtrabackup), not \(q(method.rawValue))")
            }
            guard let p = catalog.latestParent(host: source.server.hostname, port: source.server.port, serverId: source.serverId),
                  p.toLSN != nil else {
                throw MBError(.noInput, "no complete physical backup of \(source.server.key) to base an incremental on",
                              hint: "take 'mha-backup backup full --source \(source.server.hostname)' first")
            }
            parent = p
        }
        let timeline = (try? ctx.catalogMaster(topology: topology))?.1.id
        var m = Manifest(id: id, type: req.type, method: method, status: .running, sourceHost: source.server.hostname,
                         sourcePort: source.server.port, sourceServerId: source.serverId, sourceVersion: source.version,
                         sourceRole: source.role.rawValue, timeline: timeline, startedAt: now, finishedAt: nil,
                         fromLSN: parent?.toLSN ?? (method.isPhysical ? 0 : nil), toLSN: nil, lastLSN: nil,
                         binlog: nil, replicaOf: nil, parent: parent?.id,
                         compression: req.compression ?? config.compression)
        try catalog.write(m)

        do {
            // Last look before the tool starts: a failover that began since admission stops us here.
            let stillWanted = try registry.withLock { () -> Bool in
                (try? registry.load(id))?.state == .running && (req.ignoreFence || Fence.load(config.fencePath) == nil)
            }
            guard stillWanted, !cancellation.isCancelled else {
                throw MBError(.failed, "cancelled before the tool started (a failover began)")
            }
            if method.isPhysical {
                try runPhysical(&m, source: source, parent: parent, job: &job)
            } else {
                try runLogical(&m, source: source, job: &job)
            }
            m.finishedAt = ctx.clock.now()
            m.durationSeconds = m.finishedAt!.timeIntervalSince(m.startedAt)
            try catalog.commit(m)
            m.status = .complete
            return m
        } catch {
            let aborted = cancellation.isCancelled || (try? registry.load(id))?.state == .aborting
            if aborted {
                // Whatever the tool held on the server goes with it.
                cleanupAfterAbort(source: source.server, job: (try? registry.load(id)) ?? job)
            }
            m.status = aborted ? .aborted : .failed
            m.finishedAt = ctx.clock.now()
            m.message = aborted ? "aborted" : "\(error is MBError ? (error as! MBError).message : "\(error)")"
            try? catalog.write(m)
            if aborted { throw MBError(.failed, "backup \(q(id)) aborted; recorded as aborted in the catalog") }
            throw error
        }
    }

    func resolveMethod(_ req: BackupRequest, source: ServerState) throws -> BackupMethod {
        var m = req.method ?? config.method
        if req.method == nil, config.methodAuto {
            let bytes = AutoMethod.dataBytes(source, config: config)
            m = AutoMethod.choose(type: req.type, bytes: bytes)
            out("method auto: \(bytes.map(formatBytes) ?? "data size unknown") of data on \(source.server.key): \(m == .dump ? "dump" : "physical")")
        }
        if m == .dump { return .dump }
        // The physical tool must match the server: mariabackup for MariaDB, xtrabackup for MySQL.
        if source.flavor == .mysql { return .xtrabackup }
        if source.flavor == .mariadb { return .mariabackup }
        return m
    }

    // MARK: physical

    func runPhysical(_ m: inout Manifest, source: ServerState, parent: Manifest?, job: inout JobRecord) throws {
        let server = source.server
        let ssh = try SSHTarget(server: server, config: config)
        let host = config.hosts[server.hostname] ?? config.hosts[server.ip] ?? HostSettings()
        let creds = host.remoteCredentials ?? config.remoteCredentials ?? config.credentials
        let tool = m.method == .xtrabackup ? "xtrabackup" : "mariabackup"
        let tmp = JobRelease.remoteScratch(m.id, config: config)
        var toolArgv = [tool, "--defaults-extra-file=\(creds)", "--backup", "--stream=xbstream",
                        "--extra-lsndir=\(tmp)", "--target-dir=\(tmp)"]
        if let d = host.datadir ?? source.datadir { toolArgv.append("--datadir=\(d)") }
        if let s = host.socket { toolArgv.append("--socket=\(s)") } else {
            toolArgv += ["--host=\(server.address)", "--port=\(server.port)"]
        }
        if source.role == .replica {
            toolArgv.append("--slave-info")
            if usesSafeSlaveBackup(source) { toolArgv.append("--safe-slave-backup") }
        }
        if let p = parent, let lsn = p.toLSN { toolArgv.append("--incremental-lsn=\(lsn)") }
        if let t = config.throttle { toolArgv.append("--throttle=\(t)") }
        toolArgv += config.toolOptions
        let niced = niceArgv() + toolArgv
        var stages = [niced]
        if let c = m.compression.compressArgv(level: config.compressionLevel) { stages.append(c) }
        // The tool's own record of LSNs and coordinates comes back on stderr in the same session.
        let remote = RemoteCommand.and(
            RemoteCommand(["mkdir", "-p", "-m", "700", tmp]),
            RemoteCommand.pipelineReportingFirst(stages, thenFiles: [("xtrabackup_checkpoints", "\(tmp)/xtrabackup_checkpoints"),
                                                                     ("xtrabackup_info", "\(tmp)/xtrabackup_info")],
                                                 cleanup: ["rm", "-rf", tmp])).reportingPid()
        m.toolCommand = niced
        let dataName = "backup.xbstream\(m.compression.fileSuffix)"
        let progress: ToolProgress
        do {
            progress = try stream(ssh.command(remote), into: dataName, manifest: &m, job: &job, sourceIsReplica: source.role == .replica)
        } catch {
            // The remote script removes its scratch folder only when it gets to its end; a local
            // failure (a full store, a timeout) cuts the session before. An abort cleans up later.
            if !cancellation.isCancelled {
                _ = try? runner.run(ssh.command(RemoteCommand(["rm", "-rf", "--", tmp])), timeout: TimeInterval(config.sshConnectTimeout + 5))
            }
            throw error
        }

        guard progress.toolRC == 0, progress.completedOK else {
            throw MBError(.failed, "\(tool) on \(server.sshHost) failed (exit \(progress.toolRC.map(String.init) ?? "unknown")); see \(catalog.folder(m.id))/backup.log")
        }
        guard let checkpoints = progress.files["xtrabackup_checkpoints"], let infoText = progress.files["xtrabackup_info"],
              !checkpoints.isEmpty else {
            throw MBError(.dataError, "\(tool) on \(server.sshHost) wrote no xtrabackup_checkpoints in \(q(tmp))")
        }
        let parts = [checkpoints, infoText]
        try AtomicFile.write(parts[0], to: "\(catalog.folder(m.id))/xtrabackup_checkpoints", mode: 0o640)
        try AtomicFile.write(parts[1], to: "\(catalog.folder(m.id))/xtrabackup_info", mode: 0o640)
        let cp = ToolOutput.keyValues(parts[0])
        let info = ToolOutput.keyValues(parts[1])
        m.fromLSN = cp["from_lsn"].flatMap { Int64($0) }
        m.toLSN = cp["to_lsn"].flatMap { Int64($0) }
        m.lastLSN = cp["last_lsn"].flatMap { Int64($0) }
        let expectType = m.type == .full ? "full-backuped" : "incremental"
        guard cp["backup_type"] == expectType else {
            throw MBError(.dataError, "xtrabackup_checkpoints says backup_type \(q(cp["backup_type"] ?? "?")), expected \(q(expectType))")
        }
        if let p = parent, m.fromLSN != p.toLSN {
            throw MBError(.dataError, "incremental from_lsn \(m.fromLSN ?? -1) does not match parent \(q(p.id)) to_lsn \(p.toLSN ?? -1)")
        }
        m.binlog = info["binlog_pos"].flatMap(ToolOutput.binlogPosFromInfo) ?? progress.binlogLine
        if let c = progress.replicaLine {
            m.replicaOf = .init(masterHost: source.replica?.sourceHost, coordinates: c)
        }
        for f in ["xtrabackup_checkpoints", "xtrabackup_info"] {
            let h = try SHA256Hasher.hashFile("\(catalog.folder(m.id))/\(f)")
            m.files.append(ManifestFile(name: f, size: h.size, sha256: h.sha256))
        }
    }

    /// `--safe-slave-backup` on this source? (`auto`: only when its binlog_format is not ROW.)
    func usesSafeSlaveBackup(_ source: ServerState) -> Bool {
        guard source.role == .replica else { return false }
        switch config.safeSlaveBackup {
        case .yes: return true
        case .no: return false
        case .auto: return (source.binlogFormat ?? "MIXED").uppercased() != "ROW"
        }
    }

    func niceArgv() -> [String] {
        var a = ["nice", "-n", String(config.nice)]
        if let c = config.ioniceClass { a += ["ionice", "-c", String(c)] + (c == 2 ? ["-n", String(config.ioniceLevel)] : []) }
        return a
    }

    // MARK: logical

    func runLogical(_ m: inout Manifest, source: ServerState, job: inout JobRecord) throws {
        let server = source.server
        let v = source.parsedVersion
        let dumpTool = source.flavor == .mysql ? "mysqldump" : (ProcessRunner.which("mariadb-dump") != nil ? "mariadb-dump" : "mysqldump")
        var argv = [dumpTool, "--defaults-extra-file=\(config.credentials)", "--protocol=TCP", "--host=\(server.address)",
                    "--port=\(server.port)", "--single-transaction", v?.dumpCoordinatesOption ?? "--master-data=2",
                    "--routines", "--triggers", "--events", "--all-databases", "--hex-blob", "--verbose"]
        if source.flavor != .mysql { argv.append("--gtid") }
        let dump = niceArgv() + argv
        m.toolCommand = dump
        var stages = [dump]
        if let c = m.compression.compressArgv(level: config.compressionLevel) { stages.append(niceArgv() + c) }
        let dataName = "dump.sql\(m.compression.fileSuffix)"
        _ = try stream(stages.map { Command($0) }, into: dataName, manifest: &m, job: &job, sourceIsReplica: false)

        // Read the dump back once: its coordinates (head) and its `-- Dump completed` line (tail).
        let path = "\(catalog.folder(m.id))/\(dataName)"
        let (head, tail) = try headAndTail(path, compression: m.compression, encrypted: m.encryption != nil, keys: keys)
        guard tail.contains("-- Dump completed") else {
            throw MBError(.dataError, "dump \(q(path)) has no '-- Dump completed' line: it is truncated")
        }
        m.binlog = ToolOutput.dumpCoordinates(head + "\n" + tail)
    }

    /// First and last 256 KiB of a (compressed) file's content.
    func headAndTail(_ path: String, compression: Compression, encrypted: Bool = false, keys: KeyRing? = nil) throws -> (String, String) {
        var head = Data()
        var tail = Data()
        let limit = 256 << 10
        var o = RunOptions(timeout: config.backupTimeout)
        o.stdout = .handler { chunk in
            if head.count < limit { head.append(contentsOf: chunk.prefix(limit - head.count)) }
            tail.append(contentsOf: chunk)
            if tail.count > 2 * limit { tail = Data(tail.suffix(limit)) }
        }
        let input = try DecryptedInput(path: path, encrypted: encrypted, keys: keys)
        o.stdin = .fd(input.fd)
        let r = try runner.runPipeline([Command(compression.decompressArgv ?? ["cat"])], options: o)
        try input.check(pipelineSucceeded: r.succeeded)
        guard r.succeeded else { throw MBError(.dataError, "cannot read back \(q(path)): \(r.failureSummary)") }
        return (String(decoding: head, as: UTF8.self), String(decoding: tail.suffix(limit), as: UTF8.self))
    }

    // MARK: the pass that moves the bytes

    /// Runs the pipeline, writes its stdout to `name` in the backup folder while hashing it, logs the
    /// tool's stderr to backup.log, and keeps the job record's phase, bytes and pids current.
    func stream(_ command: Command, into name: String, manifest m: inout Manifest, job: inout JobRecord, sourceIsReplica: Bool) throws -> ToolProgress {
        try stream([command], into: name, manifest: &m, job: &job, sourceIsReplica: sourceIsReplica)
    }

    func stream(_ stages: [Command], into name: String, manifest m: inout Manifest, job: inout JobRecord, sourceIsReplica: Bool) throws -> ToolProgress {
        let folder = catalog.folder(m.id)
        let writer = try HashingWriter(path: "\(folder)/\(name)")
        // Encrypted before it is stored: the writer hashes (and the manifest records) the stored bytes.
        let encryptor = try keys.map { try ChunkEncryptor(key: $0.current) { try writer.write($0) } }
        if let encryptor { m.encryption = EncryptionInfo(keyId: encryptor.keyId, chunkSize: encryptor.chunkSize) }
        let logFd = open("\(folder)/backup.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        defer { if logFd >= 0 { close(logFd) } }
        var progress = ToolProgress()
        var jobCopy = job
        let reg = registry
        let tty = isatty(2) == 1
        let start = Date()
        var lastShown = Date.distantPast
        var lastSaved = Date()
        let id = m.id
        let out = self.out

        func save() {
            jobCopy.bytes = writer.bytes
            jobCopy.phase = progress.phase
            jobCopy.remotePid = progress.remotePid ?? jobCopy.remotePid
            try? reg.update(id) { r in
                r.bytes = jobCopy.bytes; r.phase = jobCopy.phase; r.pgid = jobCopy.pgid
                r.remotePid = jobCopy.remotePid
            }
        }
        func show(force: Bool = false) {
            guard tty else { return }
            let now = Date()
            guard force || now.timeIntervalSince(lastShown) >= 0.5 else { return }
            lastShown = now
            let el = now.timeIntervalSince(start)
            let rate = el > 0 ? Double(writer.bytes) / el : 0
            FileHandle.standardError.write(Data(String(format: "\r%@ %-9@ %10@  %9@/s  %02d:%02d ", id, progress.phase.rawValue,
                                                       formatBytes(writer.bytes), formatBytes(Int64(rate)), Int(el) / 60, Int(el) % 60).utf8))
        }

        var o = RunOptions(timeout: config.backupTimeout)
        o.cancellation = cancellation
        o.stdout = .handler { chunk in
            if let encryptor { try encryptor.write(chunk) } else { try writer.write(chunk) }
            show()
            if Date().timeIntervalSince(lastSaved) > 1 { lastSaved = Date(); save() }
        }
        o.onStart = { pgid, _ in
            jobCopy.pgid = pgid
            jobCopy.phase = .connecting
            save()
        }
        o.onStderrLine = { _, line in
            if logFd >= 0 { _ = line.withCString { Glibc.write(logFd, $0, strlen($0)) }; _ = Glibc.write(logFd, "\n", 1) }
            let hadPid = progress.remotePid != nil
            let changed = progress.feed(line)
            if changed || (!hadPid && progress.remotePid != nil) { save() }
            if changed {
                if tty { show(force: true) } else {
                    out("backup \(id): \(progress.phase.rawValue) (\(Int(Date().timeIntervalSince(start))) s, \(formatBytes(writer.bytes)))")
                }
            }
        }
        let result: PipelineResult
        do {
            result = try runner.runPipeline(stages, options: o)
        } catch {
            writer.abandon()
            throw error
        }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
        guard result.succeeded else {
            writer.abandon()
            if result.cancelled { throw MBError(.failed, "cancelled") }
            throw MBError(.failed, "backup pipeline failed: \(result.failureSummary)")
        }
        do { try encryptor?.finish() } catch { writer.abandon(); throw error }
        let file = try writer.finish()
        m.files.append(file)
        m.compressedBytes = file.size
        job = jobCopy
        return progress
    }

    // MARK: abort

    /// After an abort: kill the tool's remote process group, kill its server connections so no
    /// lock outlives it, and restart a replica's SQL thread the tool had stopped.
    public func cleanupAfterAbort(source: MHAServer, job: JobRecord) {
        JobRelease.releaseSource(source: source, job: job, config: config, runner: runner)
    }

}

/// SIGTERM/SIGINT set a cancellation flag (the runner tears the children down); restored on cancel().
public final class SignalForwarder: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    public static func install(_ flag: CancellationFlag) -> SignalForwarder {
        let f = SignalForwarder()
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { flag.cancel() }
            s.resume()
            f.sources.append(s)
        }
        return f
    }

    public func cancel() {
        for s in sources { s.cancel() }
        for sig in [SIGTERM, SIGINT, SIGHUP] { signal(sig, SIG_DFL) }
    }
}
