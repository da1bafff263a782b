import FoundationEssentials
import Glibc
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One archived binlog as `index.json` records it.
public struct ArchivedBinlog: Codable, Sendable, Equatable {
    public var name: String
    public var size: Int64
    public var sha256: String
    public var archivedAt: Date
    public var sourceHost: String
    public var sourcePort: Int
    /// How the bytes came: `ssh` (archive), `stream` (mariadb-binlog copy) or `recovered`
    /// (found complete on disk without an index entry, e.g. after a crash before the index write).
    public var via: String
    public var firstGtid: String?
    public var lastGtid: String?
    /// Verified copies on remote tiers (`tier sync`); with one, the hot file may be gone while
    /// its `.sha256` stays: the binlog still counts as archived.
    public var tiers: [TierCopy]?
    /// Encrypted at rest (`[encryption] key_file`): the key id, and the binlog's own size and
    /// sha256 (`size` and `sha256` above are the stored bytes'). Nil for a plaintext copy.
    public var keyId: String?
    public var plainSize: Int64?
    public var plainSha256: String?

    public init(name: String, size: Int64, sha256: String, archivedAt: Date, sourceHost: String, sourcePort: Int,
                via: String, firstGtid: String? = nil, lastGtid: String? = nil) {
        self.name = name
        self.size = size
        self.sha256 = sha256
        self.archivedAt = archivedAt
        self.sourceHost = sourceHost
        self.sourcePort = sourcePort
        self.via = via
        self.firstGtid = firstGtid
        self.lastGtid = lastGtid
    }
}

/// `index.json` of one server's archive folder. It is a summary written last; the `.sha256`
/// files beside the binlogs are what commits a file.
public struct BinlogIndex: Codable, Sendable, Equatable {
    public var version = 1
    public var host: String
    public var port: Int
    public var files: [ArchivedBinlog] = []

    public init(host: String, port: Int, files: [ArchivedBinlog] = []) {
        self.host = host
        self.port = port
        self.files = files
    }

    public func entry(_ name: String) -> ArchivedBinlog? { files.first { $0.name == name } }

    public mutating func upsert(_ e: ArchivedBinlog) {
        files.removeAll { $0.name == e.name }
        files.append(e)
        files.sort { BinlogName.precedes($0.name, $1.name) }
    }

    public mutating func remove(_ name: String) { files.removeAll { $0.name == name } }
}

/// What the archive holds for one name.
public enum ArchivedBinlogState: Sendable, Equatable {
    /// Nothing, or a checksum without its binlog (a crash between the two renames).
    case absent
    /// A binlog without its `.sha256`: never taken for a good copy.
    case unverified(size: Int64)
    /// Binlog and checksum are both on disk.
    case complete(sha256: String, size: Int64)
    /// Both are on disk but the binlog's size is not the one the index recorded.
    case damaged(size: Int64, recorded: Int64)

    public var isComplete: Bool { if case .complete = self { return true }; return false }
}

/// The checksum file: `sha256sum` format, `<hex>  <name>` and a newline.
public enum BinlogChecksumFile {
    public static func format(sha256: String, name: String) -> String { "\(sha256)  \(name)\n" }

    /// The hex digest, when the content is one well-formed line for `name`.
    public static func parse(_ text: String, name: String) -> String? {
        let line = text.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        guard let sp = line.firstIndex(of: " ") else { return nil }
        let hex = String(line[..<sp])
        var rest = line[line.index(after: sp)...]
        if rest.first == " " || rest.first == "*" { rest = rest.dropFirst() }
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }), rest == name else { return nil }
        return hex
    }
}

/// How a commit treats an existing complete copy whose checksum differs.
public enum BinlogReplacePolicy: Sendable { case replace, refuse }

public enum BinlogCommitOutcome: String, Sendable, Codable {
    /// New in the archive.
    case archived
    /// The archive already had these exact bytes; the new copy was dropped.
    case alreadyArchived = "already-archived"
    /// An unverified, damaged or different copy was replaced.
    case replaced
}

/// One server's binlog archive folder: `<binlogs>/<host_port>/` with `NAME`, `NAME.sha256` and
/// `index.json`. Rules: a binlog counts only when its checksum is on disk (checksum written and
/// fsynced before the binlog is renamed into place); temp files are `.NAME.PID-N.partial` and
/// never count; every change happens under `flock` on `.lock`, so `archive` and `stream` can run
/// side by side.
public struct BinlogArchive: Sendable {
    public var dir: String
    public var host: String
    public var port: Int
    public var clock: Clock
    /// Set by the writers when `[encryption] key_file` is configured: commits encrypt with its current key.
    public var keys: KeyRing?

    public init(dir: String, host: String, port: Int, clock: Clock = .system) {
        self.dir = dir
        self.host = host
        self.port = port
        self.clock = clock
    }

    public init(config: BackupConfig, host: String, port: Int, clock: Clock = .system) throws {
        self.init(dir: "\(config.binlogsDir)/\(try HostName.folderName(host: host, port: port))",
                  host: host, port: port, clock: clock)
    }

    public var indexPath: String { "\(dir)/index.json" }
    var lockPath: String { "\(dir)/.lock" }
    public func path(_ name: String) -> String { "\(dir)/\(name)" }
    public func checksumPath(_ name: String) -> String { "\(dir)/\(name).sha256" }

    public static func isPartialName(_ f: String) -> Bool { f.hasPrefix(".") && f.hasSuffix(".partial") }

    /// A fresh temp name for `name`, owned by this process.
    public func partialPath(for name: String) -> String {
        "\(dir)/.\(name).\(getpid())-\(UInt32.random(in: 0...UInt32.max)).partial"
    }

    /// The pid that owns a temp file (`.NAME.PID-N.partial`), nil when the name does not say.
    static func partialOwner(_ f: String) -> pid_t? {
        guard isPartialName(f) else { return nil }
        let core = f.dropFirst().dropLast(".partial".count)
        guard let dot = core.lastIndex(of: "."), BinlogName(String(core[..<dot])) != nil else { return nil }
        let tag = core[core.index(after: dot)...].split(separator: "-", omittingEmptySubsequences: false)
        guard tag.count == 2, tag[1].allSatisfy(\.isNumber), !tag[1].isEmpty else { return nil }
        return pid_t(tag[0])
    }

    // MARK: start

    /// Creates the folder, removes temp files of processes that are gone, and brings the index in
    /// line with the committed files. Returns the removed temp files.
    @discardableResult
    public func prepare() throws -> [String] {
        try AtomicFile.makeDirectory(dir)
        return try withLock {
            var removed: [String] = []
            for f in BinlogFileIO.list(dir) where Self.isPartialName(f) {
                if let pid = Self.partialOwner(f), pid != getpid(), ProcessRunner.isAlive(pid) { continue }
                if let pid = Self.partialOwner(f), pid == getpid() { continue }
                if unlink(path(f)) == 0 { removed.append(f) }
            }
            if !removed.isEmpty { AtomicFile.syncDirectory(dir) }
            try reconcileIndexLocked()
            return removed
        }
    }

    // MARK: state

    /// The committed checksum of `name`, when its `.sha256` is on disk and well formed.
    public func recordedChecksum(_ name: String) -> String? {
        guard let text = try? String(contentsOfFile: checksumPath(name), encoding: .utf8) else { return nil }
        return BinlogChecksumFile.parse(text, name: name)
    }

    public func state(of name: String, index: BinlogIndex? = nil) -> ArchivedBinlogState {
        guard let size = BinlogFileIO.size(path(name)) else {
            if let e = index?.entry(name), e.tiers?.isEmpty == false, recordedChecksum(name) == e.sha256 {
                return .complete(sha256: e.plainSha256 ?? e.sha256, size: e.plainSize ?? e.size)  // on a remote tier only
            }
            return .absent
        }
        guard let sha = recordedChecksum(name) else { return .unverified(size: size) }
        if let e = index?.entry(name), e.sha256 == sha, e.size != size {
            return .damaged(size: size, recorded: e.size)
        }
        // Encrypted: the binlog's own digest, which is what the callers compare with the server's.
        if let e = index?.entry(name), e.sha256 == sha, let ps = e.plainSha256, let pz = e.plainSize {
            return .complete(sha256: ps, size: pz)
        }
        return .complete(sha256: sha, size: size)
    }

    /// The index; a missing file is an empty index, an unreadable one is rebuilt from the folder.
    public func loadIndex() throws -> BinlogIndex {
        guard BinlogFileIO.exists(indexPath) else { return BinlogIndex(host: host, port: port) }
        do {
            return try JSON.load(BinlogIndex.self, path: indexPath)
        } catch {
            eprint("mha-backup: warning: \(q(indexPath)) is unreadable; rebuilding it from the .sha256 files")
            return BinlogIndex(host: host, port: port)
        }
    }

    func saveIndex(_ idx: BinlogIndex) throws {
        try AtomicFile.write(JSON.encode(idx), to: indexPath, mode: 0o640)
    }

    /// Adds committed files the index lacks (a crash after the rename), drops entries whose files
    /// are gone, and takes the `.sha256` as the truth where the two disagree.
    func reconcileIndexLocked() throws {
        var idx = try loadIndex()
        let before = idx
        for e in idx.files where (!BinlogFileIO.exists(path(e.name)) && e.tiers?.isEmpty != false) || recordedChecksum(e.name) == nil {
            idx.remove(e.name)
        }
        for f in BinlogFileIO.list(dir) where BinlogName(f) != nil {
            guard let sha = recordedChecksum(f), let size = BinlogFileIO.size(path(f)) else { continue }
            if var e = idx.entry(f) {
                if e.sha256 != sha {
                    e.sha256 = sha
                    e.size = size
                    e.via = "recovered"
                    e.keyId = EncryptedFormat.keyId(ofFile: path(f))
                    e.plainSize = nil
                    e.plainSha256 = nil
                    idx.upsert(e)
                }
            } else {
                var e = ArchivedBinlog(name: f, size: size, sha256: sha, archivedAt: BinlogFileIO.mtime(path(f)) ?? clock.now(),
                                       sourceHost: host, sourcePort: port, via: "recovered")
                e.keyId = EncryptedFormat.keyId(ofFile: path(f))
                idx.upsert(e)
            }
        }
        if idx != before || !BinlogFileIO.exists(indexPath) { try saveIndex(idx) }
    }

    // MARK: commit

    /// Commits a fully written, fsynced temp file as `name`: checksum file (atomic, fsynced) first,
    /// then the rename, then the index. Rechecks the folder under the lock, so a copy that another
    /// process committed meanwhile is not written twice. On any error the temp file is gone (a full
    /// store must not keep a copy that never counts). With `keys`, `partial` (plaintext, `digest`
    /// its digest) is first encrypted into a new temp file, which is what gets committed.
    @discardableResult
    public func commit(partial: String, name: String, digest: BinlogDigest, via: String,
                       policy: BinlogReplacePolicy) throws -> BinlogCommitOutcome {
        var sealedPath: String?
        do {
            var stored: (sha256: String, size: Int64)?
            var file = partial
            if let key = keys?.current {
                let sp = partialPath(for: name)
                sealedPath = sp
                stored = try ArchivedBinlogCrypto.seal(partial, sealedPath: sp, key: key)
                unlink(partial)
                file = sp
            }
            return try commitLocked(partial: file, name: name, digest: digest, stored: stored, via: via, policy: policy)
        } catch {
            unlink(partial)
            if let sealedPath { unlink(sealedPath) }
            throw error
        }
    }

    private func commitLocked(partial: String, name: String, digest: BinlogDigest, stored: (sha256: String, size: Int64)?,
                              via: String, policy: BinlogReplacePolicy) throws -> BinlogCommitOutcome {
        guard BinlogName(name) != nil else { throw MBError(.dataError, "\(q(name)) is not a binlog file name") }
        return try withLock {
            var idx = try loadIndex()
            let existing = state(of: name, index: idx)
            var outcome = BinlogCommitOutcome.archived
            switch existing {
            case .complete(let sha, let size) where sha == digest.sha256 && size == digest.size:
                unlink(partial)
                if idx.entry(name) == nil {
                    idx.upsert(entry(name, digest, stored: stored, via: via))
                    try saveIndex(idx)
                }
                return .alreadyArchived
            case .complete(let sha, _):
                guard policy == .replace else {
                    unlink(partial)
                    throw MBError(.dataError, "archive \(q(path(name))) has sha256 \(sha), the new copy \(digest.sha256)",
                                  hint: "compare both with the server's file; remove the wrong one with its .sha256")
                }
                outcome = .replaced
            case .unverified, .damaged:
                outcome = .replaced
            case .absent:
                break
            }
            if outcome == .replaced {
                // Old checksum first, then the old binlog: no crash can pair a binlog with a
                // checksum that is not its own.
                unlink(checksumPath(name))
                unlink(path(name))
                AtomicFile.syncDirectory(dir)
            }
            try AtomicFile.write(BinlogChecksumFile.format(sha256: stored?.sha256 ?? digest.sha256, name: name), to: checksumPath(name), mode: 0o640)
            guard rename(partial, path(name)) == 0 else {
                let err = BinlogFileIO.errnoText()
                unlink(checksumPath(name))
                throw MBError(.cantCreate, "cannot rename \(q(partial)) to \(q(path(name))): \(err)")
            }
            AtomicFile.syncDirectory(dir)
            idx.upsert(entry(name, digest, stored: stored, via: via))
            do { try saveIndex(idx) } catch let e as MBError {
                // The .sha256 commits the file; the index is the summary the next run repairs.
                throw MBError(e.code, "\(q(name)) is archived with its .sha256 but \(q(indexPath)) was not updated (the next run adds it): \(e.message)")
            }
            return outcome
        }
    }

    func entry(_ name: String, _ d: BinlogDigest, stored: (sha256: String, size: Int64)? = nil, via: String) -> ArchivedBinlog {
        var e = ArchivedBinlog(name: name, size: stored?.size ?? d.size, sha256: stored?.sha256 ?? d.sha256, archivedAt: clock.now(),
                               sourceHost: host, sourcePort: port, via: via, firstGtid: d.scan.firstGTID, lastGtid: d.scan.lastGTID)
        if stored != nil {
            e.keyId = keys?.current.id
            e.plainSize = d.size
            e.plainSha256 = d.sha256
        }
        return e
    }

    // MARK: local files (the stream's closed copies)

    public enum IngestOutcome: Sendable, Equatable {
        case committed(BinlogCommitOutcome, sha256: String, size: Int64)
        /// The archive holds different bytes under this name; the local copy was left in place.
        case conflict(archived: String, local: String)
    }

    /// Moves a closed local binlog (the stream's copy) into the archive with its checksum: hard
    /// link (or copy across file systems) to a temp name, hash, fsync, commit, then remove the
    /// source. Identical bytes already archived: only the source is removed. `serverSize` (the
    /// server's size for the file, when known) decides whether a different archived copy is bad.
    public func ingest(localPath: String, name: String, serverSize: Int64?) throws -> IngestOutcome {
        try AtomicFile.makeDirectory(dir)
        let tmp = partialPath(for: name)
        let digest: BinlogDigest
        if link(localPath, tmp) == 0 {
            do {
                let hasher = BackgroundHasher()
                do {
                    try BinlogFileIO.readAll(tmp) { try hasher.consume($0) }
                } catch { hasher.cancel(); throw error }
                digest = try hasher.finish()
                chmod(tmp, 0o640)
                let fd = open(tmp, O_RDONLY | O_CLOEXEC)
                guard fd >= 0, fsync(fd) == 0 else {
                    if fd >= 0 { close(fd) }
                    throw MBError(.cantCreate, "cannot fsync \(q(tmp)): \(BinlogFileIO.errnoText())")
                }
                close(fd)
            } catch { unlink(tmp); throw error }
        } else if errno == EXDEV || errno == EPERM || errno == EMLINK {
            let out = try BinlogPartialFile(path: tmp)
            do {
                let hasher = BackgroundHasher { try out.write($0) }
                do {
                    try BinlogFileIO.readAll(localPath) { try hasher.consume($0) }
                } catch { hasher.cancel(); throw error }
                digest = try hasher.finish()
                try out.sync()
            } catch { out.discard(); throw error }
        } else {
            throw MBError(.cantCreate, "cannot link \(q(localPath)) to \(q(tmp)): \(BinlogFileIO.errnoText())")
        }
        guard digest.scan.magicValid == true else {
            unlink(tmp)
            throw MBError(.dataError, "\(q(localPath)) does not start with the binlog magic bytes; not archived")
        }
        let existing = state(of: name, index: try? loadIndex())
        var policy = BinlogReplacePolicy.refuse
        if case .complete(let sha, let size) = existing, sha != digest.sha256 {
            // Replace only a copy that is provably the wrong length.
            if let s = serverSize, s == digest.size, size != s { policy = .replace }
            if policy == .refuse {
                unlink(tmp)
                return .conflict(archived: sha, local: digest.sha256)
            }
        }
        let outcome = try commit(partial: tmp, name: name, digest: digest, via: "stream", policy: policy)
        unlink(localPath)
        AtomicFile.syncDirectory(Path.dir(localPath))
        return .committed(outcome, sha256: digest.sha256, size: digest.size)
    }

    // MARK: verify

    public struct VerifyResult: Sendable, Equatable {
        public var name: String
        public var ok: Bool
        public var problem: String?
    }

    /// Rehashes one archived file and compares it with its `.sha256` (and the index's size).
    public func verify(_ name: String) throws -> VerifyResult {
        guard let recorded = recordedChecksum(name) else {
            return VerifyResult(name: name, ok: false, problem: "no valid \(q(name + ".sha256"))")
        }
        guard BinlogFileIO.exists(path(name)) else { return VerifyResult(name: name, ok: false, problem: "file missing") }
        let (sha, size) = try SHA256Hasher.hashFile(path(name))
        if sha != recorded {
            return VerifyResult(name: name, ok: false, problem: "sha256 \(sha) differs from the recorded \(recorded)")
        }
        if let e = try loadIndex().entry(name), e.size != size {
            return VerifyResult(name: name, ok: false, problem: "size \(size) differs from the recorded \(e.size)")
        }
        return VerifyResult(name: name, ok: true, problem: nil)
    }

    // MARK: lock

    /// Runs `body` holding `flock` on `.lock` (waits at most `timeout`).
    public func withLock<T>(timeout: TimeInterval = 60, _ body: () throws -> T) throws -> T {
        do {
            return try FileLock.withLock(lockPath, timeout: timeout, body)
        } catch let e as MBError where FileLock.isHeld(e) {
            throw MBError(.busy, "archive folder \(q(dir)) stayed locked for \(Int(timeout)) s",
                          hint: "another mha-backup binlog process holds it; see \(q(lockPath))")
        }
    }
}
