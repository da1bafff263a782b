import Foundation
import MHABackupBase
import MHABackupFailover

/// The failed master's binlogs copied over ssh while it is reachable: one attempt at a time,
/// recorded in the failover record (the shutdown hook waits for it before a power manager).
extension HookWorker {
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
            log("salvage binlogs", host: dead.host, outcome: .skipped, message: "attempt \(attempt) was superseded by a newer one")
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
            log("salvage binlogs", host: dead.host, outcome: state == .done ? .ok : .failed, started: t0,
                message: "attempt \(attempt): " + (message ?? "\(files.count) file(s) copied; last \(last.map { "\($0.0):\($0.1)" } ?? "-")"))
            if state != .done {
                alert(.critical, "binlog salvage of \(dead.host) failed (attempt \(attempt)): \(message ?? "-"); redo with 'mha-backup salvage --failover \(record.id)' while ssh still reaches it",
                      kind: .salvageFailed)
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
        let archive = try BinlogArchive(config: ctx.config, host: server.hostname, port: server.port, clock: ctx.clock).encrypting(ctx.config)
        try archive.prepare()
        let (ssh, sock) = try BinlogArchiver.copyTarget(server: server, config: ctx.config)
        defer { if let sock { SSHMux(stateDir: ctx.config.stateDir).close(socketPath: sock) } }
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
            _ = try archiver.fetch(remote: rb, expected: ServerBinlog(name: name, size: rb.size), ssh: ssh,
                                   archive: archive, replace: replace)
            result.copied.append(name)
        }
        if let last = ordered.last { result.last = (last.0.description, last.1.size) }
        return result
    }
}
