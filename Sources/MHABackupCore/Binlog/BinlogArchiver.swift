import Foundation
#if canImport(Glibc)
import Glibc
import MHABackupBase
import MHABackupFailover
#endif

/// What `binlog archive` does with one of the server's files.
public enum BinlogArchiveAction: String, Sendable, Codable {
    /// Not in the archive yet: copy it.
    case fetch
    /// In the archive, but not trustworthy (no checksum, or the wrong size): copy it again.
    case refetch
    /// Archived with the server's size.
    case skip
    /// The server still writes it (the last file): left for the stream.
    case active
}

public struct BinlogArchivePlanItem: Sendable, Equatable {
    public var file: ServerBinlog
    public var action: BinlogArchiveAction
    public var reason: String
}

/// The pure decision: which of the server's files to copy.
public enum BinlogArchivePlan {
    public static func make(server: ServerBinlogList, state: (String) -> ArchivedBinlogState) -> [BinlogArchivePlanItem] {
        server.files.enumerated().map { i, f in
            if i == server.files.count - 1 {
                return BinlogArchivePlanItem(file: f, action: .active, reason: "the server writes it now")
            }
            switch state(f.name) {
            case .absent:
                return BinlogArchivePlanItem(file: f, action: .fetch, reason: "not archived")
            case .unverified(let size):
                return BinlogArchivePlanItem(file: f, action: .refetch, reason: "archived copy (\(size) bytes) has no .sha256")
            case .damaged(let size, let recorded):
                return BinlogArchivePlanItem(file: f, action: .refetch, reason: "archived size \(size) != recorded \(recorded)")
            case .complete(_, let size) where size != f.size:
                return BinlogArchivePlanItem(file: f, action: .refetch, reason: "archived size \(size) != server size \(f.size)")
            case .complete:
                return BinlogArchivePlanItem(file: f, action: .skip, reason: "archived")
            }
        }
    }
}

/// The outcome for one file, as printed and as `--json` reports it.
public struct BinlogFileResult: Sendable, Codable, Equatable {
    public var name: String
    /// fetch/refetch/skip/active, then `copied`, `already-archived`, `failed`.
    public var action: String
    public var size: Int64?
    public var sha256: String?
    public var seconds: Double?
    public var detail: String?
}

public struct BinlogArchiveReport: Sendable, Codable {
    public var host: String
    public var port: Int
    public var archiveDir: String
    public var files: [BinlogFileResult] = []
    public var removedPartials: [String] = []
    public var copied: Int { files.filter { $0.action == "copied" }.count }
    public var failed: Int { files.filter { $0.action == "failed" }.count }

    enum CodingKeys: String, CodingKey { case host, port, archiveDir, files, removedPartials, copied, failed }

    public init(host: String, port: Int, archiveDir: String) {
        self.host = host
        self.port = port
        self.archiveDir = archiveDir
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        host = try c.decode(String.self, forKey: .host)
        port = try c.decode(Int.self, forKey: .port)
        archiveDir = try c.decode(String.self, forKey: .archiveDir)
        files = try c.decode([BinlogFileResult].self, forKey: .files)
        removedPartials = try c.decodeIfPresent([String].self, forKey: .removedPartials) ?? []
    }

    public func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode(host, forKey: .host)
        try c.encode(port, forKey: .port)
        try c.encode(archiveDir, forKey: .archiveDir)
        try c.encode(files, forKey: .files)
        try c.encode(removedPartials, forKey: .removedPartials)
        try c.encode(copied, forKey: .copied)
        try c.encode(failed, forKey: .failed)
    }
}

/// `binlog archive`: copies the master's closed binlogs over `ssh cat`, hashing in the same pass.
public struct BinlogArchiver {
    public var ctx: Context
    public var runner = ProcessRunner()
    /// Called with each result line as it is decided (the CLI prints them).
    public var onResult: (BinlogFileResult) -> Void = { _ in }

    public init(ctx: Context) { self.ctx = ctx }

    /// The master the catalog follows, or the server `--source` names.
    public static func sourceServer(_ ctx: Context, source: String?) throws -> MHAServer {
        if let s = source {
            guard let srv = ctx.mha.server(named: s) else {
                throw MBError.usage("--source \(q(s)) is not a server in \(q(ctx.mha.path))",
                                    hint: "use a hostname, ip or block name from the MHA config")
            }
            return srv
        }
        return try ctx.catalogMaster().0
    }

    public func run(source: String? = nil) throws -> BinlogArchiveReport {
        let server = try Self.sourceServer(ctx, source: source)
        return try run(server: server)
    }

    public func run(server: MHAServer) throws -> BinlogArchiveReport {
        let archive = try BinlogArchive(config: ctx.config, host: server.hostname, port: server.port, clock: ctx.clock).encrypting(ctx.config)
        var report = BinlogArchiveReport(host: server.hostname, port: server.port, archiveDir: archive.dir)
        report.removedPartials = try archive.prepare()
        let list = try ServerBinlogList.fetch(MySQLClient(server: server, config: ctx.config))
        let idx = try archive.loadIndex()
        let plan = BinlogArchivePlan.make(server: list) { archive.state(of: $0, index: idx) }
        let wanted = plan.filter { $0.action == .fetch || $0.action == .refetch }

        var located: [String: RemoteBinlog] = [:]
        // One ssh connection for the listing and every file (a key exchange each was ~0.4 s here).
        let (ssh, sock) = try Self.copyTarget(server: server, config: ctx.config)
        defer { if let sock { SSHMux(stateDir: ctx.config.stateDir).close(socketPath: sock, runner: runner) } }
        if !wanted.isEmpty {
            located = try RemoteBinlogLocator(runner: runner, ssh: ssh, timeout: remoteListTimeout)
                .locate(names: wanted.map(\.file.name), dirs: server.masterBinlogDir)
        }
        var firstError: MBError?
        for item in plan {
            var r = BinlogFileResult(name: item.file.name, action: item.action.rawValue, size: item.file.size)
            switch item.action {
            case .skip, .active:
                if item.action == .skip, case .complete(let sha, _) = archive.state(of: item.file.name, index: idx) { r.sha256 = sha }
                r.detail = item.reason
            case .fetch, .refetch:
                do {
                    guard let remote = located[item.file.name] else {
                        throw MBError(.noInput, "\(q(item.file.name)) is not in master_binlog_dir \(server.masterBinlogDir.map(q).joined(separator: ", ")) on \(q(server.sshHost))",
                                      hint: "set master_binlog_dir of [\(server.block)] in \(q(ctx.mha.path)) to the folder that holds the binlogs")
                    }
                    if remote.size != item.file.size {
                        throw MBError(.dataError, "\(q(remote.path)) on \(q(server.sshHost)) has \(remote.size) bytes, the server lists \(item.file.size)",
                                      hint: "master_binlog_dir may point at another server's binlogs")
                    }
                    let start = Date()
                    let (outcome, digest) = try fetch(remote: remote, expected: item.file, ssh: ssh, archive: archive,
                                                      replace: item.action == .refetch)
                    r.action = outcome == .alreadyArchived ? "already-archived" : "copied"
                    r.sha256 = digest.sha256
                    r.size = digest.size
                    r.seconds = (Date().timeIntervalSince(start) * 1000).rounded() / 1000
                    r.detail = item.action == .refetch ? "refetched: \(item.reason)" : nil
                } catch let e as MBError {
                    r.action = "failed"
                    r.detail = e.message
                    if firstError == nil { firstError = e }
                }
            }
            report.files.append(r)
            onResult(r)
            // An unreachable host fails every following copy the same way: stop early.
            if firstError?.code == .unavailable { break }
        }
        if let e = firstError {
            throw BinlogArchiveFailure(report: report, error: MBError(e.code, "binlog archive of \(q("\(server.hostname):\(server.port)")): \(report.failed) file(s) failed; first: \(e.message)", hint: e.hint))
        }
        return report
    }

    /// The binlog target, over one connection for the whole run when `[ssh] control_master = yes`
    /// (this process's own socket: closed by the caller, gone 60 s after its last use anyway).
    public static func copyTarget(server: MHAServer, config: BackupConfig) throws -> (SSHTarget, String?) {
        let t = try SSHTarget.forBinlogs(server: server, config: config)
        guard config.sshControlMaster else { return (t, nil) }
        let (m, sock) = SSHMux(stateDir: config.stateDir).forRun(t, purpose: "copy-\(getpid())")
        return (m, sock)
    }

    var remoteListTimeout: TimeInterval { TimeInterval(ctx.config.sshConnectTimeout) + max(ctx.config.clientTimeout, 30) }

    /// `ssh host cat -- FILE` into `.NAME.PID-N.partial`, SHA-256 on the hasher's thread, fsync, then
    /// the commit (checksum, rename, index).
    func fetch(remote: RemoteBinlog, expected: ServerBinlog, ssh: SSHTarget, archive: BinlogArchive,
               replace: Bool) throws -> (BinlogCommitOutcome, BinlogDigest) {
        let tmp = archive.partialPath(for: expected.name)
        let out = try BinlogPartialFile(path: tmp)
        let digest: BinlogDigest
        do {
            let hasher = BackgroundHasher { try out.write($0) }
            var o = RunOptions(timeout: ctx.config.binlogTimeout)
            o.stdout = .handler { try hasher.consume($0) }
            let r: PipelineResult
            do { r = try runner.runPipeline([ssh.command(RemoteCommand(["cat", "--", remote.path]))], options: o) } catch {
                hasher.cancel()
                throw error
            }
            guard r.succeeded else {
                hasher.cancel()
                let code: ExitCode = r.stages.first?.exitCode == 255 ? .unavailable : .failed
                throw MBError(code, "copy of \(q(remote.path)) from \(q(ssh.host)) failed: \(r.timedOut ? "timed out after \(Int(ctx.config.binlogTimeout)) s" : r.failureSummary)",
                              hint: code == .unavailable ? "check ssh to \(q("\(ssh.user)@\(ssh.host)")) (mha-backup check)" : nil)
            }
            digest = try hasher.finish()
            try out.sync()
        } catch {
            out.discard()
            throw error
        }
        guard digest.size == expected.size else {
            out.discard()
            throw MBError(.dataError, "copy of \(q(remote.path)) has \(digest.size) bytes, the server lists \(expected.size); not archived")
        }
        guard digest.scan.magicValid == true else {
            out.discard()
            throw MBError(.dataError, "\(q(remote.path)) does not start with the binlog magic bytes; not archived")
        }
        let outcome = try archive.commit(partial: tmp, name: expected.name, digest: digest, via: "ssh",
                                         policy: replace ? .replace : .refuse)
        return (outcome, digest)
    }
}

/// Thrown by a run in which some files failed: the report of all of them, and the error to exit with.
public struct BinlogArchiveFailure: Error {
    public var report: BinlogArchiveReport
    public var error: MBError
}

public struct RemoteBinlog: Sendable, Equatable {
    public var path: String
    public var size: Int64
}

/// Finds binlogs in the server's `master_binlog_dir` entries with one remote `find`; a name is
/// taken from the first folder (in config order) that has it.
public struct RemoteBinlogLocator {
    public var runner: ProcessRunner
    public var ssh: SSHTarget
    public var timeout: TimeInterval

    public static func command(dirs: [String], base: String) -> RemoteCommand {
        RemoteCommand(["find", "-H"] + dirs + ["-maxdepth", "1", "-type", "f", "-name", "\(base).*", "-printf", "%s\\t%p\\n"])
    }

    /// `SIZE<TAB>PATH` lines to the first path per name, in the order of `dirs`.
    public static func parse(_ out: String, names: Set<String>, dirs: [String]) -> [String: RemoteBinlog] {
        var found: [String: [(Int, RemoteBinlog)]] = [:]
        for line in out.split(separator: "\n") {
            guard let tab = line.firstIndex(of: "\t"), let size = Int64(line[..<tab]) else { continue }
            let path = String(line[line.index(after: tab)...])
            let dir = (path as NSString).deletingLastPathComponent
            let name = (path as NSString).lastPathComponent
            guard names.contains(name) else { continue }
            let rank = dirs.firstIndex { ($0.hasSuffix("/") ? String($0.dropLast()) : $0) == dir } ?? dirs.count
            found[name, default: []].append((rank, RemoteBinlog(path: path, size: size)))
        }
        return found.mapValues { $0.min { $0.0 < $1.0 }!.1 }
    }

    public func locate(names: [String], dirs: [String]) throws -> [String: RemoteBinlog] {
        guard let base = names.first.flatMap(BinlogName.init)?.base else { return [:] }
        let cleanDirs = dirs.filter { !$0.isEmpty }
        for d in cleanDirs where !d.hasPrefix("/") {
            throw MBError.config("master_binlog_dir entry \(q(d)) is not an absolute path")
        }
        guard !cleanDirs.isEmpty else { throw MBError.config("master_binlog_dir is empty") }
        let r = try runner.run(ssh.command(Self.command(dirs: cleanDirs, base: base)), timeout: timeout, outputLimit: 16 << 20)
        let code = r.stages.first?.exitCode
        // find exits 1 when one of several folders is missing; what it printed still counts.
        guard !r.timedOut, code == 0 || code == 1 else {
            let unreachable = code == 255 || r.timedOut
            throw MBError(unreachable ? .unavailable : .failed,
                          "cannot list \(cleanDirs.map(q).joined(separator: ", ")) on \(q(ssh.host)): \(r.failureSummary)",
                          hint: unreachable ? "check ssh to \(q("\(ssh.user)@\(ssh.host)")) (mha-backup check)" : nil)
        }
        return Self.parse(r.stdoutString, names: Set(names), dirs: cleanDirs)
    }
}

extension SSHTarget {
    /// The server's ssh target, preferring a fast AEAD cipher for bulk copies (PERF-FACTS:
    /// aes128-gcm moves binlogs ~1.7x faster than the default chacha20). It goes last, so a
    /// `Ciphers` the site set in its own options wins (ssh keeps the first value it sees).
    public static func forBinlogs(server: MHAServer, config: BackupConfig) throws -> SSHTarget {
        var t = try SSHTarget(server: server, config: config)
        t.options += ["-o", "Ciphers=aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com"]
        return t
    }
}
