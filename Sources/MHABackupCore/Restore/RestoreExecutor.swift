import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
import MHABackupBase
import MHABackupFailover
#endif

/// What a restore did, step by step, with the time of each (RTO).
public struct RestoreResult: Codable, Sendable {
    public var targetDir: String
    public var target: String
    public var chain: [String]
    public var steps: [Step] = []
    public var seconds: Double = 0
    /// One line per replayed segment: `host:port timeline N: K file(s)`.
    public var replayed: [String] = []
    public var warnings: [String] = []
    /// Set when the server was left running (`--start`).
    public var server: LeftRunning?

    public struct Step: Codable, Sendable {
        public var name: String
        public var seconds: Double
    }
    public struct LeftRunning: Codable, Sendable {
        public var pid: Int32
        public var port: Int?
        public var socket: String
        public var pidFile: String
    }
}

/// Carries out a `RestorePlan`: check the binlogs it needs against their checksums (the base was
/// checked when it was planned, RestoreGate), unpack each backup of the chain, prepare (full, then
/// each incremental), move it into the target, start a private mariadbd, replay the binlog
/// segments with `mariadb-binlog | mariadb`, then stop it (or leave it running with `start`).
/// Every program runs through the ProcessRunner with a bound.
public final class RestoreExecutor: @unchecked Sendable {
    public struct Options: Sendable {
        public var targetDir: String
        public var port: Int?
        /// Leave the server running on 127.0.0.1:port at the end.
        public var start = false
        public var keepWork = false
        /// Keep the server running after replay for a caller that checks it (verify); it stops it.
        public var keepServerForCaller = false
        public var useMemory: String?
        public var bufferPool: String?

        public init(targetDir: String, port: Int? = nil, start: Bool = false) {
            self.targetDir = targetDir
            self.port = port
            self.start = start
        }
    }

    public let ctx: Context
    public let plan: RestorePlan
    public let options: Options
    public var runner = ProcessRunner()
    /// Set it (SIGINT/SIGTERM in the CLI) to stop the running tool and undo the restore.
    public let cancellation = CancellationFlag()
    /// One line per step (stderr in the CLI).
    public var log: (String) -> Void = { eprint("mha-backup: restore: \($0)") }
    /// The server, while one runs (verify reads it, then calls `finish`).
    public private(set) var server: ScratchServer?
    private var runDir: String?
    private var workDir: String?
    private var result: RestoreResult

    public init(ctx: Context, plan: RestorePlan, options: Options) {
        self.ctx = ctx
        self.plan = plan
        self.options = options
        result = RestoreResult(targetDir: options.targetDir, target: plan.target, chain: plan.chain.map(\.id))
    }

    var timeout: TimeInterval { ctx.config.backupTimeout }

    /// Runs the whole restore. The target must be new or empty (a non-empty one is refused before
    /// anything is written). On failure everything it started is stopped, its work folder removed,
    /// and the target emptied (removed when this restore created it).
    public func run() throws -> RestoreResult {
        signal(SIGPIPE, SIG_IGN)
        let t0 = Date()
        let target = options.targetDir
        let existed = FileManager.default.fileExists(atPath: target)
        let needServer = !plan.base.method.isPhysical || !plan.segments.isEmpty || options.start || options.keepServerForCaller
        if needServer, let blocked = ScratchServer.blockedAncestor(of: target) {
            throw MBError(.usage, "option '--target-dir': user 'mysql' cannot reach \(q(target)): \(q(blocked)) is closed to it",
                          hint: "choose a folder mariadbd (running as mysql) can reach, e.g. under /var/lib or /var/tmp")
        }
        try step("check binlog checksums") { try RestoreGate.checkBinlogs(plan) }
        try step("authenticate encrypted binlogs") { try RestoreGate.checkEncryptedBinlogs(plan) { try ctx.config.encryption.keyRing() } }
        // Only a folder this restore made (or found empty) is ever cleaned up after a failure.
        try prepareTarget(target)
        do {
            let parent = (target as NSString).deletingLastPathComponent
            let work = "\(parent.isEmpty ? "." : parent)/.mha-restore-\((target as NSString).lastPathComponent)-\(getpid())"
            try? FileManager.default.removeItem(atPath: work)
            try AtomicFile.makeDirectory(work, mode: 0o700)
            workDir = work

            if plan.base.method.isPhysical {
                try restorePhysical(work: work, target: target)
            }
            try ScratchServer.chownToMysql([target], runner: runner)

            if needServer {
                let rd = try ScratchServer.makeRunDir()
                runDir = rd
                var port = options.port
                if options.start, port == nil { port = try ScratchServer.freePort() }
                if let p = port, ScratchServer.portInUse(p) {
                    throw MBError(.unavailable, "port \(p) on 127.0.0.1 is in use; choose another with --port")
                }
                if !plan.base.method.isPhysical {
                    try step("initialize datadir") { try initializeDatadir(target) }
                }
                let s = ScratchServer(datadir: target, runDir: rd, port: port)
                s.runner = runner
                try step("start mariadbd") {
                    try s.start(timeout: 600, bufferPool: options.bufferPool ?? ctx.config.restoreBufferPool, cancellation: cancellation)
                }
                server = s
                if !plan.base.method.isPhysical {
                    try step("load dump \(plan.base.id)") { try loadDump(plan.base, into: s) }
                }
                for seg in plan.segments {
                    try step("replay \(seg.host):\(seg.port) timeline \(seg.timeline)") { try replay(seg, into: s) }
                }
            }
            result.seconds = Date().timeIntervalSince(t0)
            if !options.keepServerForCaller { try finish() }
            return result
        } catch {
            stopAndClean(keepWork: options.keepWork)
            if !existed { try? FileManager.default.removeItem(atPath: target) } else { emptyFolder(target) }
            throw error
        }
    }

    /// Stops the server (or leaves it for the DBA with `start`) and removes the work folders.
    @discardableResult
    public func finish() throws -> RestoreResult {
        if let s = server {
            if options.start {
                s.dropAccount()
                result.server = .init(pid: s.pid, port: s.port, socket: s.socket, pidFile: s.pidFile)
            } else {
                s.stop()
                if let rd = runDir { try? FileManager.default.removeItem(atPath: rd) }
            }
            server = nil
        }
        if let w = workDir, !options.keepWork { try? FileManager.default.removeItem(atPath: w) }
        workDir = nil
        return result
    }

    /// Stops everything and removes the target too (verify's scratch restore).
    public func discard() {
        stopAndClean(keepWork: false)
        try? FileManager.default.removeItem(atPath: options.targetDir)
    }

    /// Stops the server (if one runs) and removes the run folder and, unless kept, the work folder.
    private func stopAndClean(keepWork: Bool) {
        server?.stop()
        server = nil
        if let rd = runDir { try? FileManager.default.removeItem(atPath: rd) }
        runDir = nil
        if let w = workDir, !keepWork { try? FileManager.default.removeItem(atPath: w) }
        workDir = nil
    }

    func step<T>(_ name: String, _ body: () throws -> T) throws -> T {
        try checkCancelled()
        let t = Date()
        log("\(name) ...")
        let v = try body()
        try checkCancelled()
        let s = Date().timeIntervalSince(t)
        result.steps.append(.init(name: name, seconds: (s * 1000).rounded() / 1000))
        log("\(name): done in \(String(format: "%.1f", s)) s")
        return v
    }

    func checkCancelled() throws {
        if cancellation.isCancelled { throw MBError(.failed, "restore interrupted; what it had started was stopped and its files removed") }
    }

    func prepareTarget(_ target: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDir) {
            guard isDir.boolValue else { throw MBError(.usage, "option '--target-dir': \(q(target)) exists and is not a folder") }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
            guard entries.isEmpty else {
                throw MBError(.usage, "option '--target-dir': \(q(target)) is not empty", hint: "restore into a new or empty folder; nothing was changed")
            }
        } else {
            let parent = (target as NSString).deletingLastPathComponent
            guard parent.isEmpty || FileManager.default.fileExists(atPath: parent) else {
                throw MBError(.noInput, "option '--target-dir': the parent folder \(q(parent)) does not exist")
            }
            try AtomicFile.makeDirectory(target, mode: 0o750)
        }
    }

    func emptyFolder(_ dir: String) {
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            try? FileManager.default.removeItem(atPath: "\(dir)/\(f)")
        }
    }

    // MARK: physical

    func restorePhysical(work: String, target: String) throws {
        var dirs: [String] = []
        for (i, m) in plan.chain.enumerated() {
            let dir = "\(work)/\(i)-\(m.type.rawValue)"
            try AtomicFile.makeDirectory(dir, mode: 0o700)
            try step("unpack \(m.id)") { try unpack(m, into: dir) }
            dirs.append(dir)
        }
        let tool = plan.base.method == .xtrabackup ? "xtrabackup" : "mariabackup"
        let prepare = [tool, "--prepare", "--use-memory=\(options.useMemory ?? ctx.config.restoreUseMemory)", "--target-dir=\(dirs[0])"]
        try step("prepare \(plan.chain[0].id)") {
            try runTool(prepare, what: "prepare of \(q(plan.chain[0].id))")
        }
        for (i, m) in plan.chain.enumerated().dropFirst() {
            try step("apply incremental \(m.id)") {
                try runTool(prepare + ["--incremental-dir=\(dirs[i])"], what: "prepare of incremental \(q(m.id))")
            }
        }
        try step("move into \(target)") {
            try runTool([tool, "--move-back", "--target-dir=\(dirs[0])", "--datadir=\(target)"], what: "move-back into \(q(target))")
        }
    }

    func runTool(_ argv: [String], what: String) throws {
        var opts = RunOptions(timeout: timeout)
        opts.cancellation = cancellation
        opts.stdout = .discard
        let r = try runner.runPipeline([Command(argv)], options: opts)
        guard r.succeeded else {
            let tail = r.stages[0].stderr.split(separator: "\n").suffix(3).joined(separator: " | ")
            throw MBError(.failed, "\(what) failed (\(r.stages[0].statusText)): \(tail)")
        }
    }

    /// The stream of one backup through decompress | mbstream -x.
    func unpack(_ m: Manifest, into dir: String) throws {
        guard let f = m.files.first(where: { $0.name.hasPrefix("backup.xbstream") }) else {
            throw MBError(.dataError, "backup \(q(m.id)) has no backup.xbstream file in its manifest")
        }
        var stages: [Command] = []
        if let d = m.compression.decompressArgv { stages.append(Command(d)) }
        stages.append(Command(["mbstream", "-x", "-C", dir]))
        try feed(file: "\(Catalog(dir: ctx.config.backupsDir).folder(m.id))/\(f.name)", into: stages, what: "unpack of \(q(m.id))",
                 encrypted: m.encryption != nil)
        guard FileManager.default.fileExists(atPath: "\(dir)/xtrabackup_checkpoints") else {
            throw MBError(.dataError, "unpack of \(q(m.id)): the stream held no xtrabackup_checkpoints")
        }
    }

    /// Runs `stages` with the file on stdin. The file was checked against the manifest before
    /// the restore began (RestoreGate: an encrypted file had every tag checked there); the tools
    /// check their own framing (zstd, mbstream), and an encrypted file is decrypted on the way in.
    func feed(file path: String, into stages: [Command], what: String, encrypted: Bool = false) throws {
        let input = try DecryptedInput(path: path, encrypted: encrypted, keys: encrypted ? try ctx.config.encryption.keyRing() : nil)
        let fd = input.fd
        var opts = RunOptions(timeout: timeout)
        opts.stdin = .fd(fd)
        opts.stdout = .discard
        opts.cancellation = cancellation
        let progress = isatty(2) == 1 ? Progress(fd: fd, total: BinlogFileIO.size(path) ?? 0, what: what) : nil
        progress?.start()
        defer { progress?.stop() }
        let r = try runner.runPipeline(stages, options: opts)
        try input.check(pipelineSucceeded: r.succeeded)
        guard r.succeeded else { throw MBError(.dataError, "\(what) failed: \(r.failureSummary)") }
    }

    /// A percentage on a TTY while a child reads: `position` says how far it is.
    final class Progress: @unchecked Sendable {
        let total: Int64, what: String
        let position: @Sendable () -> Int64?
        private let done = CancellationFlag()
        private let finished = DispatchSemaphore(value: 0)
        init(total: Int64, what: String, position: @escaping @Sendable () -> Int64?) {
            (self.total, self.what, self.position) = (total, what, position)
        }
        /// For a file we opened and handed to the child: the offset is shared with it.
        convenience init(fd: Int32, total: Int64, what: String) {
            self.init(total: total, what: what) { Int64(lseek(fd, 0, SEEK_CUR)) }
        }
        func start() {
            Thread { [self] in
                defer { finished.signal() }
                while !done.isCancelled {
                    if total > 0, let at = position(), at >= 0 {
                        eprintRaw("\r\(what): \(min(100, at * 100 / total))% of \(total >> 20) MiB   ")
                    }
                    usleep(250_000)
                }
                eprintRaw("\r\u{1b}[K")
            }.start()
        }
        func stop() { done.cancel(); finished.wait() }

        /// How far a process has read through `files` (in order): the file it has open and its
        /// offset there, from /proc.
        static func readPosition(pid: pid_t, files: [AvailableBinlog]) -> Int64? {
            let fdDir = "/proc/\(pid)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: fdDir)) ?? [] {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDir)/\(fd)"),
                      let i = files.firstIndex(where: { $0.path == target }),
                      let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8),
                      let line = info.split(separator: "\n").first(where: { $0.hasPrefix("pos:") }),
                      let pos = Int64(line.dropFirst(4).trimmingCharacters(in: .whitespaces)) else { continue }
                return files[..<i].reduce(0) { $0 + $1.size } + pos
            }
            return nil
        }
    }

    // MARK: logical

    func initializeDatadir(_ target: String) throws {
        var argv = ["mariadb-install-db", "--no-defaults", "--datadir=\(target)", "--skip-test-db"]
        if geteuid() == 0 { argv.append("--user=mysql") }
        let r = try runner.run(Command(argv), timeout: 600)
        guard r.succeeded else { throw MBError(.failed, "mariadb-install-db into \(q(target)) failed: \(r.failureSummary)") }
    }

    func loadDump(_ m: Manifest, into s: ScratchServer) throws {
        guard let f = m.files.first(where: { $0.name.hasPrefix("dump.sql") }) else {
            throw MBError(.dataError, "backup \(q(m.id)) has no dump.sql file in its manifest")
        }
        var stages: [Command] = []
        if let d = m.compression.decompressArgv { stages.append(Command(d)) }
        stages.append(s.sqlStreamClient())
        try feed(file: "\(Catalog(dir: ctx.config.backupsDir).folder(m.id))/\(f.name)", into: stages, what: "load of dump \(q(m.id))",
                 encrypted: m.encryption != nil)
    }

    // MARK: binlogs

    /// mariadb-binlog's argv for one segment.
    public static func binlogArgv(_ seg: ReplaySegment) -> [String] {
        var argv = ["mariadb-binlog", "--no-defaults", "--verify-binlog-checksum", "--skip-gtid-strict-mode", "--start-position=\(seg.startGtid ?? String(seg.startPosition))"]
        switch seg.stop {
        case .end: break
        case .position(let p): argv.append("--stop-position=\(p)")
        case .datetime(let d): argv.append("--stop-datetime=\(RestoreTarget.format(d))")
        case .gtid(let g): argv.append("--stop-position=\(g)")
        }
        return argv + seg.files.map(\.path)
    }

    func replay(_ seg: ReplaySegment, into s: ScratchServer) throws {
        let seg = try Self.decryptedSegment(seg, work: workDir ?? ".", keys: { try ctx.config.encryption.keyRing() })
        let binlog = Command(Self.binlogArgv(seg), environment: ["TZ": "UTC"])
        var opts = RunOptions(timeout: timeout)
        opts.stdout = .discard
        opts.cancellation = cancellation
        var progress: Progress?
        if isatty(2) == 1 {
            let files = seg.files
            opts.onStart = { _, pids in
                guard let pid = pids.first else { return }
                progress = Progress(total: files.reduce(0) { $0 + $1.size }, what: "replay \(seg.host)") {
                    Progress.readPosition(pid: pid, files: files)
                }
                progress?.start()
            }
        }
        defer { progress?.stop() }
        let r = try runner.runPipeline([binlog, s.sqlStreamClient()], options: opts)
        let err = r.stages[0].stderr
        let truncated = err.contains("Event truncated") || err.contains("Error in log format") || err.contains("crc check failed")
        let lastIsUnclosed = seg.files.last?.origin == .streamUnclosed
        if truncated && lastIsUnclosed && r.stages[1].succeeded && r.stages[0].exitCode == 0 {
            result.warnings.append("\(seg.files.last!.name) of \(seg.host): the stream's copy ends mid-event; the transaction cut there was rolled back")
        } else if truncated {
            throw MBError(.dataError, "replay of \(seg.host):\(seg.port) timeline \(seg.timeline): mariadb-binlog read a truncated event in \(seg.files.map { q($0.path) }.joined(separator: ", "))")
        }
        guard r.stages.allSatisfy(\.succeeded), !r.timedOut else {
            throw MBError(.failed, "replay of \(seg.host):\(seg.port) timeline \(seg.timeline) failed: \(r.failureSummary)")
        }
        result.replayed.append("\(seg.host):\(seg.port) timeline \(seg.timeline): \(seg.files.count) file(s)")
    }
}
