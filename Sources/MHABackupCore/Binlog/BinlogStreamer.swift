import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
import MHABackupBase
import MHABackupFailover
#endif

/// What the stream does with one file in its folder.
public enum BinlogStreamFileDecision: Sendable, Equatable {
    /// Complete: archive it.
    case closed(String)
    /// The file mariadb-binlog writes now (or may still write): never archived.
    case active
    /// The server closed it, but the local copy is shorter: the stream stopped before its end.
    case incomplete(local: Int64, server: Int64)
    /// A newer local file exists, yet the server lists this one with another size.
    case mismatch(local: Int64, server: Int64)
    /// The server no longer lists it and nothing newer arrived: kept, never archived as closed.
    case orphan

    public var isClosed: Bool { if case .closed = self { return true }; return false }
}

/// The closed-file rule of the stream. The active file mariadb-binlog writes differs from the
/// server's only in the in-use flag byte (the dump thread clears it), so the flag says nothing;
/// a file is closed only when
///   - a newer file of the same base exists in the stream folder (mariadb-binlog closes a file
///     before it opens the next), and the server, when asked, does not list it with another size; or
///   - the server lists it, not as its last file, with exactly the local size.
public enum BinlogClosedRule {
    public static func decide(local: [String: Int64], server: ServerBinlogList?) -> [String: BinlogStreamFileDecision] {
        let names = local.keys.compactMap(BinlogName.init)
        var out: [String: BinlogStreamFileDecision] = [:]
        for n in names {
            let size = local[n.name]!
            let newer = names.contains { $0.base == n.base && $0.number > n.number }
            let s = server?.entry(n.name)
            if newer {
                if let s, s.size != size {
                    out[n.name] = .mismatch(local: size, server: s.size)
                } else {
                    out[n.name] = .closed("a newer file exists in the stream folder")
                }
            } else if let server, let s, !server.isActive(n.name) {
                out[n.name] = s.size == size
                    ? .closed("the server moved on to \(server.active?.name ?? "?")")
                    : .incomplete(local: size, server: s.size)
            } else if let server, s == nil, server.active.flatMap({ BinlogName($0.name) }).map({ $0.base == n.base && $0.number > n.number }) == true {
                out[n.name] = .orphan
            } else {
                out[n.name] = .active
            }
        }
        return out
    }

    /// Where a (re)started mariadb-binlog begins: the first server file the archive lacks (or holds
    /// with another size), else the active file.
    public static func startFile(server: ServerBinlogList, archived: (String) -> ArchivedBinlogState) -> String? {
        for f in server.closed {
            if case .complete(_, let size) = archived(f.name), size == f.size { continue }
            return f.name
        }
        return server.active?.name
    }
}

/// One event of a stream run, for the CLI's lines and the `--json` summary.
public struct BinlogStreamReport: Sendable, Codable {
    public var archived: [BinlogFileResult] = []
    public var starts: [String] = []
    public var exits: [String] = []
    public var warnings: [String] = []
}

/// `binlog stream`: a live `mariadb-binlog --raw --stop-never` copy of the catalog's master, closed
/// files moved into the archive with their checksums, restarts with backoff, a pid file, and a
/// clean stop on SIGTERM/SIGINT or after `onceSeconds`.
public final class BinlogStreamer: @unchecked Sendable {
    public struct Options: Sendable {
        public var onceSeconds: TimeInterval?
        public var source: String?
        /// Install SIGTERM/SIGINT handlers (the CLI does; tests that call the API do not).
        public var handleSignals = false
        /// How often closed files are looked for while the child runs.
        public var passInterval: TimeInterval = 1
        public var maxBackoff: TimeInterval = 60

        public init(onceSeconds: TimeInterval? = nil, source: String? = nil, handleSignals: Bool = false) {
            self.onceSeconds = onceSeconds
            self.source = source
            self.handleSignals = handleSignals
        }
    }

    public let ctx: Context
    public let options: Options
    /// Set it to stop the stream (what SIGTERM does).
    public let stop = CancellationFlag()
    public var runner = ProcessRunner()
    /// Diagnostics (stderr in the CLI).
    public var log: (String) -> Void = { BinlogFileIO.writeLine("mha-backup: binlog stream: \($0)", fd: 2) }
    /// Each file moved into the archive (stdout in the CLI).
    public var onArchived: (BinlogFileResult) -> Void = { _ in }

    private var report = BinlogStreamReport()
    private var warned = Set<String>()
    private var deadline: Date?

    public init(ctx: Context, options: Options) {
        self.ctx = ctx
        self.options = options
    }

    public var pidFile: String { ctx.config.streamPidPath }
    var childFile: String { "\(ctx.config.stateDir)/binlog-stream.child" }
    public var streamRoot: String { "\(ctx.config.stateDir)/stream" }

    public func folder(host: String, port: Int) throws -> String {
        "\(streamRoot)/\(try HostName.folderName(host: host, port: port))"
    }

    var shouldStop: Bool {
        stop.isCancelled || (deadline.map { Date() >= $0 } ?? false)
    }

    // MARK: run

    public func run() throws -> BinlogStreamReport {
        try AtomicFile.makeDirectory(ctx.config.stateDir)
        try claimPidFile()
        defer { releasePidFile() }
        var sources: [DispatchSourceSignal] = []
        if options.handleSignals {
            for s in [SIGTERM, SIGINT] {
                signal(s, SIG_IGN)
                let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
                let flag = stop
                src.setEventHandler { flag.cancel() }
                src.resume()
                sources.append(src)
            }
        }
        defer {
            for s in sources { s.cancel() }
            if options.handleSignals { signal(SIGTERM, SIG_DFL); signal(SIGINT, SIG_DFL) }
        }
        deadline = options.onceSeconds.map { Date().addingTimeInterval($0) }
        stopOrphanedChild()

        var backoff: TimeInterval = 1
        // Failed starts in a row; past `stream_max_restarts` the stream gives up with an alert
        // (a supervisor, e.g. the systemd unit, decides what next) instead of retrying for ever.
        var failures = 0
        func failed(_ what: String) throws {
            failures += 1
            let limit = ctx.config.streamMaxRestarts
            if limit > 0 && failures > limit {
                let msg = "binlog stream gave up after \(limit) failed restarts in a row: \(what)"
                Alerts.raise(config: ctx.config, severity: .critical, kind: .streamDown, summary: msg, failoverId: nil, now: ctx.clock.now())
                throw MBError(.unavailable, msg, hint: "check the master and the timeline ('mha-backup status'), then start the stream again")
            }
            warn("\(what); retrying in \(Int(backoff)) s (\(failures)\(limit > 0 ? "/\(limit)" : ""))")
        }
        while !shouldStop {
            let server: MHAServer
            let entry: TimelineEntry?
            do {
                (server, entry) = try resolveServer()
            } catch {
                try failed("cannot find the master to stream from: \(message(error))")
                pause(backoff)
                backoff = min(backoff * 2, options.maxBackoff)
                continue
            }
            do {
                let outcome = try runOnce(server: server, entry: entry)
                if shouldStop { break }
                switch outcome {
                case .timelineMoved:
                    backoff = 1
                    failures = 0
                    continue
                case .exited(let ranFor, let status):
                    if ranFor >= options.maxBackoff { backoff = 1; failures = 0 }
                    try failed("mariadb-binlog from \(q(server.key)) ended (\(status))")
                }
            } catch let e as MBError where e.message.hasPrefix("binlog stream gave up") {
                throw e
            } catch {
                try failed("stream from \(q(server.key)): \(message(error))")
            }
            pause(backoff)
            backoff = min(backoff * 2, options.maxBackoff)
        }
        // Folders of earlier masters: whatever a newer file proves closed.
        passOtherFolders(except: nil)
        log("stopped; \(report.archived.filter { $0.action == "archived" }.count) file(s) archived in this run")
        return report
    }

    enum RunOutcome { case timelineMoved, exited(TimeInterval, String) }

    func resolveServer() throws -> (MHAServer, TimelineEntry?) {
        if let s = options.source {
            return (try BinlogArchiver.sourceServer(ctx, source: s), nil)
        }
        let (s, e) = try ctx.catalogMaster()
        return (s, e)
    }

    /// One life of the child: pass, start, watch (passes, timeline), stop, final pass.
    func runOnce(server: MHAServer, entry: TimelineEntry?) throws -> RunOutcome {
        let archive = try BinlogArchive(config: ctx.config, host: server.hostname, port: server.port, clock: ctx.clock).encrypting(ctx.config)
        let dir = try folder(host: server.hostname, port: server.port)
        try AtomicFile.makeDirectory(dir)
        try AtomicFile.write(JSON.encode(BinlogStreamSource(host: server.hostname, port: server.port)), to: "\(dir)/source.json", mode: 0o640)
        try archive.prepare()
        passOtherFolders(except: dir)
        let client = MySQLClient(server: server, config: ctx.config)
        let list = try ServerBinlogList.fetch(client)
        pass(dir: dir, archive: archive, server: list)
        let idx = try archive.loadIndex()
        guard let start = BinlogClosedRule.startFile(server: list, archived: { archive.state(of: $0, index: idx) }),
              let startName = BinlogName(start) else {
            throw MBError(.dataError, "\(q(server.key)) lists no binlog to start from")
        }
        // mariadb-binlog rewrites every file from `start` on; older copies there would also make a
        // file look closed by the newer-file rule before its end arrives.
        for (name, _) in localFiles(dir) {
            if let n = BinlogName(name), n.base == startName.base, n.number >= startName.number { unlink("\(dir)/\(name)") }
        }
        if shouldStop { return .exited(0, "not started") }

        let argv = streamArgv(server: server, dir: dir, start: start)
        let child = BinlogChildProcess(runner: runner, command: Command(argv), cwd: dir,
                                 timeout: deadline.map { max(1, $0.timeIntervalSinceNow) + 30 } ?? 10 * 365 * 86_400,
                                 log: { [log] in log("mariadb-binlog: \($0)") },
                                 onStart: { [childFile] pgid in try? AtomicFile.write("\(pgid)\n", to: childFile, mode: 0o640) })
        let started = Date()
        report.starts.append("\(server.key) from \(start)")
        log("streaming \(q(server.key)) from \(q(start)) into \(q(dir))")
        child.start()
        var outcome: RunOutcome?
        while !child.isDone {
            if shouldStop { break }
            if options.source == nil, let entry, let now = try? Timeline.load(ctx.config.timelinePath).current,
               now.id != entry.id || now.masterHost != entry.masterHost || now.masterPort != entry.masterPort {
                log("the timeline moved to \(q("\(now.masterHost):\(now.masterPort)")); restarting the stream")
                outcome = .timelineMoved
                break
            }
            pause(options.passInterval, until: { child.isDone })
            pass(dir: dir, archive: archive, server: nil)
        }
        child.stopAndWait()
        unlink(childFile)
        let status = child.statusText
        report.exits.append("\(server.key): \(status)")
        // The final pass asks the server: a file it closed, complete here, is archived too.
        pass(dir: dir, archive: archive, server: try? ServerBinlogList.fetch(client))
        return outcome ?? .exited(Date().timeIntervalSince(started), status)
    }

    func streamArgv(server: MHAServer, dir: String, start: String) -> [String] {
        let program = ProcessRunner.which("mariadb-binlog") != nil ? "mariadb-binlog" : "mysqlbinlog"
        let idOption = ctx.config.mysqlFlavor == .mysql ? "--connection-server-id" : "--stop-never-slave-server-id"
        // --defaults-extra-file must come first; the password stays in the 0600 file.
        return [program, "--defaults-extra-file=\(ctx.config.credentials)", "--read-from-remote-server", "--raw",
                "--stop-never", "\(idOption)=\(ctx.config.streamServerId)", "--result-file=\(dir)/",
                "--protocol=TCP", "--host=\(server.address)", "--port=\(server.port)", start]
    }

    // MARK: passes

    func localFiles(_ dir: String) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for f in BinlogFileIO.list(dir) where BinlogName(f) != nil {
            if let s = BinlogFileIO.size("\(dir)/\(f)") { out[f] = s }
        }
        return out
    }

    /// Moves every closed file of `dir` into the archive.
    func pass(dir: String, archive: BinlogArchive, server: ServerBinlogList?) {
        let decisions = BinlogClosedRule.decide(local: localFiles(dir), server: server)
        for name in decisions.keys.sorted(by: { BinlogName($0)! < BinlogName($1)! }) {
            switch decisions[name]! {
            case .closed:
                ingest(dir: dir, name: name, archive: archive, serverSize: server?.entry(name)?.size)
            case .incomplete(let l, let s):
                warnOnce("\(dir)/\(name)", "\(q(name)) in \(q(dir)) has \(l) bytes, the server closed it at \(s); left for `binlog archive` to copy")
            case .mismatch(let l, let s):
                warnOnce("\(dir)/\(name)", "\(q(name)) in \(q(dir)) has \(l) bytes but the server lists \(s); not archived")
            case .orphan:
                warnOnce("\(dir)/\(name)", "\(q(name)) in \(q(dir)) is no longer on the server and was never closed; kept")
            case .active:
                break
            }
        }
    }

    func ingest(dir: String, name: String, archive: BinlogArchive, serverSize: Int64?) {
        let local = "\(dir)/\(name)"
        var r = BinlogFileResult(name: name, action: "archived", size: nil, sha256: nil, seconds: nil, detail: "stream")
        let t0 = Date()
        do {
            switch try archive.ingest(localPath: local, name: name, serverSize: serverSize) {
            case .committed(let outcome, let sha, let size):
                r.action = outcome == .alreadyArchived ? "already-archived" : "archived"
                r.sha256 = sha
                r.size = size
                r.seconds = (Date().timeIntervalSince(t0) * 1000).rounded() / 1000
            case .conflict(let archived, let mine):
                let aside = "\(dir)/conflict"
                try AtomicFile.makeDirectory(aside)
                let dest = "\(aside)/\(name).\(Int(Date().timeIntervalSince1970))"
                rename(local, dest)
                r.action = "conflict"
                r.detail = "archive has sha256 \(archived), the stream copy \(mine); the copy was moved to \(q(dest))"
                warn("\(q(name)): \(r.detail!)")
            }
        } catch {
            r.action = "failed"
            r.detail = message(error)
            warnOnce("ingest \(local)", "cannot archive \(q(local)): \(message(error))")
        }
        report.archived.append(r)
        onArchived(r)
    }

    /// Rule-1 passes over the folders of other (earlier) masters, named by their `source.json`.
    func passOtherFolders(except: String?) {
        for f in BinlogFileIO.list(streamRoot) {
            let dir = "\(streamRoot)/\(f)"
            guard dir != except, let src = try? JSON.load(BinlogStreamSource.self, path: "\(dir)/source.json"),
                  let archive = try? BinlogArchive(config: ctx.config, host: src.host, port: src.port, clock: ctx.clock).encrypting(ctx.config)
            else { continue }
            pass(dir: dir, archive: archive, server: nil)
        }
    }

    // MARK: pid file, orphans

    func claimPidFile() throws {
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
           let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid != getpid(), ProcessRunner.isAlive(pid) {
            throw MBError(.busy, "a binlog stream already runs as pid \(pid) (\(q(pidFile)))",
                          hint: "stop it first (kill \(pid)); it archives what is closed and exits")
        }
        try AtomicFile.write("\(getpid())\n", to: pidFile, mode: 0o644)
    }

    func releasePidFile() {
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
           pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) == getpid() {
            unlink(pidFile)
        }
    }

    /// A stream killed with SIGKILL leaves its mariadb-binlog running (own process group); the
    /// next start stops it, after checking that the pid still is a `--stop-never` binlog reader.
    func stopOrphanedChild() {
        guard let text = try? String(contentsOfFile: childFile, encoding: .utf8),
              let pgid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pgid > 1 else { return }
        let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pgid)/cmdline")))
            .map { String(decoding: $0, as: UTF8.self) } ?? ""
        if ProcessRunner.isAlive(pgid), cmdline.contains("--stop-never"), cmdline.contains("binlog") {
            log("stopping mariadb-binlog pid \(pgid) left by an earlier stream")
            ProcessRunner.teardown(pgid: pgid, pids: [pgid], grace: 3)
        }
        unlink(childFile)
    }

    // MARK: helpers

    func pause(_ seconds: TimeInterval, until done: () -> Bool = { false }) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && !shouldStop && !done() { usleep(50_000) }
    }

    func warn(_ s: String) {
        report.warnings.append(s)
        log(s)
    }

    func warnOnce(_ key: String, _ s: String) {
        guard warned.insert(key + "|" + s).inserted else { return }
        warn(s)
    }

    func message(_ e: Error) -> String { (e as? MBError)?.message ?? "\(e)" }
}

/// `source.json` in a stream folder: the server the copies came from.
struct BinlogStreamSource: Codable {
    var host: String
    var port: Int
}

/// A child run on its own thread through `ProcessRunner`, so the caller can watch it and stop it
/// (teardown of its process group).
final class BinlogChildProcess: @unchecked Sendable {
    private let runner: ProcessRunner
    private let command: Command
    private let cwd: String
    private let timeout: TimeInterval
    private let log: (String) -> Void
    private let onStart: (pid_t) -> Void
    private let cancel = CancellationFlag()
    private let cond = NSCondition()
    private var done = false
    private var result: PipelineResult?
    private var error: Error?

    init(runner: ProcessRunner, command: Command, cwd: String, timeout: TimeInterval,
         log: @escaping (String) -> Void, onStart: @escaping (pid_t) -> Void) {
        self.runner = runner
        self.command = command
        self.cwd = cwd
        self.timeout = timeout
        self.log = log
        self.onStart = onStart
    }

    func start() {
        let t = Thread { [self] in
            var o = RunOptions(timeout: timeout)
            o.stdout = .discard
            o.workingDirectory = cwd
            o.cancellation = cancel
            o.onStderrLine = { [log] _, line in if !line.isEmpty { log(line) } }
            o.onStart = { [onStart] pgid, _ in onStart(pgid) }
            var r: PipelineResult?
            var e: Error?
            do { r = try runner.runPipeline([command], options: o) } catch { e = error }
            cond.lock()
            result = r
            self.error = e
            done = true
            cond.broadcast()
            cond.unlock()
        }
        t.name = "mha-backup binlog stream child"
        t.start()
    }

    var isDone: Bool { cond.lock(); defer { cond.unlock() }; return done }

    func stopAndWait() {
        cancel.cancel()
        cond.lock()
        while !done { cond.wait() }
        cond.unlock()
    }

    var statusText: String {
        cond.lock()
        defer { cond.unlock() }
        if let error { return (error as? MBError)?.message ?? "\(error)" }
        guard let r = result else { return "running" }
        if r.cancelled { return "stopped" }
        if r.timedOut { return "timed out" }
        return r.failureSummary == "ok" ? "exit 0" : r.failureSummary
    }
}
