import Foundation
#if canImport(Glibc)
import Glibc
import MHABackupBase
import MHABackupFailover
#endif

/// How deep `verify` looks. Each level includes the ones below it.
public enum VerifyLevel: String, Codable, Sendable, CaseIterable, Comparable {
    /// Every file re-hashed against the manifest (backups) or its `.sha256` and `index.json` (binlogs).
    case files
    /// Files, then the content: a physical stream unpacks with `mbstream` and holds the LSNs the
    /// catalog records; a dump has its header, coordinates and `-- Dump completed`; a binlog parses.
    case structure
    /// Files and structure, then a restore into a scratch server (`RestoreCheck`).
    case restore

    public static func < (a: VerifyLevel, b: VerifyLevel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Which backups `verify` checks.
public enum VerifySelection: Sendable, Equatable {
    /// The newest complete backup (and its chain).
    case latest
    /// Every backup in the catalog and every binlog archive folder.
    case all
    /// One backup (and its chain).
    case backup(String)
}

/// One thing wrong: the file (absolute path) and why.
public struct VerifyProblem: Codable, Sendable, Equatable {
    public var file: String
    public var reason: String

    /// The problem as `verify` prints it and `restore` refuses with it.
    public var line: String { "file \(q(file)): \(reason)" }
}

/// The result for one backup or one binlog archive folder; `verify.json` holds the last one.
public struct VerifyRecord: Codable, Sendable {
    public enum Kind: String, Codable, Sendable { case backup, binlogs }

    public var kind: Kind
    /// The backup id, or `binlogs/HOST_PORT` for an archive folder.
    public var id: String
    /// The level this record was checked at (binlog folders stop at `structure`).
    public var level: VerifyLevel
    public var ok: Bool
    public var problems: [VerifyProblem]
    /// Files checked at the files level.
    public var files: Int
    public var seconds: Double
    public var checkedAt: Date
    /// What was not checked and why, and facts worth keeping (e.g. the stream's file count).
    public var notes: [String]
    /// The restore check's own result (`--level restore`).
    public var restore: RestoreCheckResult?
}

/// What one `verify` run checked. `skipped` are backups `--all` left alone (running, failed or
/// aborted: they never claimed to be complete).
public struct VerifyReport: Sendable {
    public var records: [VerifyRecord] = []
    public var skipped: [(id: String, reason: String)] = []
    /// False when the selection was one backup or `--latest`: the binlog archive was not looked at.
    public var binlogsChecked = false

    public var ok: Bool { records.allSatisfy(\.ok) }
}

/// `mha-backup verify`: re-checks backups (and, with `--all`, the binlog archive) against what the
/// catalog recorded, records each result in `verify.json` beside the data, and never changes a
/// manifest (its commit marker holds the manifest's hash).
public final class Verifier {
    public let ctx: Context
    public var runner = ProcessRunner()
    /// Progress lines (stderr by default, so stdout stays the result).
    public var log: (String) -> Void = { eprint($0) }
    public var cancellation = CancellationFlag()
    /// Write each result to `verify.json` (restore's pre-check does not).
    public var saveRecords = true
    /// Where physical streams are unpacked for the structure check (needs the unpacked size free;
    /// emptied afterwards). Default: `store_dir/.verify-tmp`, the file system that holds the backups.
    public var scratchRoot: String
    let catalog: Catalog

    private var memo: [String: VerifyRecord] = [:]
    /// `[encryption]`'s keys, read once the first encrypted backup is met.
    private var loadedKeys: KeyRing??

    /// The configured keys (nil: none configured); a missing or loose key file throws its error.
    func keys() throws -> KeyRing? {
        if let k = loadedKeys { return k }
        let k = try ctx.config.encryption.keyRing()
        loadedKeys = .some(k)
        return k
    }
    private var order: [VerifyRecord] = []

    public init(ctx: Context) {
        self.ctx = ctx
        catalog = Catalog(dir: ctx.config.backupsDir)
        scratchRoot = "\(ctx.config.storeDir)/.verify-tmp"
    }

    // MARK: selection

    /// Runs the selection at `level`. Throws `noInput` for an unknown id or an empty catalog.
    public func run(_ selection: VerifySelection, level: VerifyLevel) throws -> VerifyReport {
        memo = [:]
        order = []
        var report = VerifyReport()
        if case .backup(let id) = selection { try SafeName.check(id, .id, what: "backup id") }
        cleanStaleScratch()
        switch selection {
        case .backup(let id):
            guard FileManager.default.fileExists(atPath: catalog.folder(id)) else {
                throw MBError(.noInput, "no backup \(q(id)) in \(q(catalog.dir))", hint: "'mha-backup list' shows the catalog")
            }
            _ = try verifyBackup(id, level: level, visiting: [])
        case .latest:
            let active = Set(JobRegistry(dir: ctx.config.jobsDir).active().compactMap(\.backupId))
            guard let m = catalog.all(activeJobs: active).last(where: { $0.status == .complete }) else {
                throw MBError(.noInput, "no complete backup in \(q(catalog.dir)) to verify",
                              hint: "take one with 'mha-backup backup full'")
            }
            _ = try verifyBackup(m.id, level: level, visiting: [])
        case .all:
            let ids = Self.folders(in: catalog.dir)
            let archives = Self.folders(in: ctx.config.binlogsDir)
            guard !ids.isEmpty || !archives.isEmpty else {
                throw MBError(.noInput, "the catalog \(q(catalog.dir)) is empty and there is no binlog archive")
            }
            let active = Set(JobRegistry(dir: ctx.config.jobsDir).active().compactMap(\.backupId))
            for id in ids {
                if let why = skipReason(id, activeJobs: active) {
                    report.skipped.append((id, why))
                    continue
                }
                _ = try verifyBackup(id, level: level, visiting: [])
            }
            for folder in archives {
                try checkCancelled()
                record(verifyBinlogFolder(folder, level: min(level, .structure)))
            }
            report.binlogsChecked = true
        }
        report.records = order
        return report
    }

    /// Why `--all` leaves a backup alone: only those that never claimed to be complete.
    func skipReason(_ id: String, activeJobs: Set<String>) -> String? {
        guard let raw = try? JSON.load(Manifest.self, path: "\(catalog.folder(id))/manifest.json"), raw.status != .complete else {
            return nil
        }
        if raw.status == .running && activeJobs.contains(id) { return "running" }
        return "status \(q(raw.status.rawValue))\(raw.message.map { " (\($0))" } ?? "")"
    }

    static func folders(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { name in
            var isDir: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(dir)/\(name)", isDirectory: &isDir) && isDir.boolValue
        }.sorted()
    }

    func checkCancelled() throws {
        if cancellation.isCancelled { throw MBError(.failed, "verify cancelled") }
    }

    private func record(_ r: VerifyRecord) {
        order.append(r)
    }

    // MARK: one backup and its chain

    /// Verifies one backup: its parent chain first (a broken parent fails the child), then its files,
    /// its structure and, at `restore`, a restore check. Each backup is checked once a run.
    public func verifyBackup(_ id: String, level: VerifyLevel) throws -> VerifyRecord {
        try verifyBackup(id, level: level, visiting: [])
    }

    func verifyBackup(_ id: String, level: VerifyLevel, visiting: Set<String>) throws -> VerifyRecord {
        if let done = memo[id], done.level >= level { return done }
        try checkCancelled()
        let folder = catalog.folder(id)
        var problems: [VerifyProblem] = []
        var notes: [String] = []
        var files = 0
        var restore: RestoreCheckResult?
        var ownSeconds: TimeInterval = 0
        func finish() -> VerifyRecord {
            let r = VerifyRecord(kind: .backup, id: id, level: level, ok: problems.isEmpty, problems: problems, files: files,
                                 seconds: ownSeconds, checkedAt: ctx.clock.now(), notes: notes, restore: restore)
            memo[id] = r
            record(r)
            return r
        }

        guard FileManager.default.fileExists(atPath: folder) else {
            problems.append(VerifyProblem(file: folder, reason: "backup folder is missing"))
            return finish()
        }
        // On a remote tier only: fetched back into the hot store and checked by SHA-256 first.
        do {
            let fetched = try TierFetch.backup(ctx, id, log: log)
            if !fetched.isEmpty { notes.append("\(fetched.count) file(s) fetched back from a remote tier into \(folder)") }
        } catch {
            problems.append(VerifyProblem(file: folder, reason: Self.text(error)))
            return finish()
        }
        let m: Manifest
        do {
            m = try catalog.load(id)
        } catch {
            problems.append(VerifyProblem(file: "\(folder)/manifest.json", reason: Self.text(error)))
            let r = finish()
            saveRecord(r, in: folder)
            return r
        }
        if m.status != .complete {
            let file = m.status == .partial ? "\(folder)/COMMITTED" : "\(folder)/manifest.json"
            problems.append(VerifyProblem(file: file, reason: "backup is \(m.status.rawValue)\(m.message.map { ": \($0)" } ?? "")"))
        }

        // The chain: the parent passes the same level (restore: structure; the child's restore
        // check restores the whole chain).
        var parent: Manifest?
        if let pid = m.parent {
            if visiting.contains(pid) || pid == id {
                problems.append(VerifyProblem(file: "\(folder)/manifest.json", reason: "broken chain: parent \(q(pid)) leads back to \(q(id))"))
            } else {
                if memo[pid] == nil { log("verify \(id): parent \(pid) first") }
                let pr = try verifyBackup(pid, level: level == .restore ? .structure : level, visiting: visiting.union([id]))
                if let first = pr.problems.first {
                    let reason = first.reason.hasPrefix("broken chain:") ? first.reason : "broken chain: parent \(q(pid)): \(first.reason)"
                    problems.append(VerifyProblem(file: first.file, reason: reason))
                }
                parent = try? catalog.load(pid)
                if let p = parent, !p.method.isPhysical {
                    problems.append(VerifyProblem(file: "\(folder)/manifest.json", reason: "broken chain: parent \(q(pid)) is a \(p.method.rawValue), not a physical backup"))
                }
            }
        } else if m.type == .incremental {
            problems.append(VerifyProblem(file: "\(folder)/manifest.json", reason: "broken chain: incremental without a parent"))
        }

        let start = Date()
        log("verify \(id): files")
        if m.encryption != nil { _ = try keys() }
        var own = checkFiles(m, folder: folder)
        files = m.files.count
        if level >= .structure {
            if own.isEmpty {
                log("verify \(id): structure")
                own += m.method.isPhysical ? try checkStream(m, folder: folder, parent: parent, notes: &notes)
                                          : checkDump(m, folder: folder)
            } else {
                notes.append("structure not checked: the files check failed")
            }
        }
        problems += own
        if level == .restore {
            if problems.isEmpty {
                log("verify \(id): restore")
                do {
                    let r = try RestoreCheck.run(ctx: ctx, backupId: id, log: log)
                    restore = r
                    if !r.ok {
                        problems += (r.problems.isEmpty ? ["the restore check failed"] : r.problems)
                            .map { VerifyProblem(file: folder, reason: "restore: \($0)") }
                    }
                } catch {
                    problems.append(VerifyProblem(file: folder, reason: "restore: \(Self.text(error))"))
                }
            } else {
                notes.append("restore not checked: the files or structure check failed")
            }
        }
        ownSeconds = Date().timeIntervalSince(start)
        let r = finish()
        saveRecord(r, in: folder)
        return r
    }

    /// `verify.json` beside the data: written atomically, never the manifest.
    /// `verify.json` is the last result; `verify-LEVEL.json` the last at each level, so a later
    /// `files` run does not hide when the backup was last restored.
    func saveRecord(_ r: VerifyRecord, in folder: String) {
        guard saveRecords else { return }
        do {
            let data = try JSON.encode(r)
            try AtomicFile.write(data, to: "\(folder)/verify-\(r.level.rawValue).json", mode: 0o640)
            try AtomicFile.write(data, to: "\(folder)/verify.json", mode: 0o640)
        } catch {
            log("mha-backup: warning: cannot record the result: \(Self.text(error))")
        }
    }

    /// The most telling result recorded for a backup folder: the last one when it failed, else the
    /// last passing check of the highest level (a restore test outranks a later `files` pass).
    public static func lastRecord(in folder: String) -> VerifyRecord? {
        let latest = try? JSON.load(VerifyRecord.self, path: "\(folder)/verify.json")
        if let latest, !latest.ok { return latest }
        for l in VerifyLevel.allCases.reversed() {
            if let r = try? JSON.load(VerifyRecord.self, path: "\(folder)/verify-\(l.rawValue).json"), r.ok { return r }
        }
        return latest
    }

    /// A name that is one plain entry of a folder: no `/`, not `.` or `..`, not hidden.
    static func text(_ error: Error) -> String { (error as? MBError)?.message ?? "\(error)" }

    // MARK: files

    /// Every manifest file re-hashed: missing, wrong size and wrong hash each name the file.
    func checkFiles(_ m: Manifest, folder: String) -> [VerifyProblem] {
        var problems: [VerifyProblem] = []
        let dataPrefix = m.method.isPhysical ? "backup.xbstream" : "dump.sql"
        if !m.files.contains(where: { $0.name.hasPrefix(dataPrefix) }) {
            problems.append(VerifyProblem(file: "\(folder)/manifest.json", reason: "the manifest lists no \(dataPrefix) file"))
        }
        for f in m.files {
            let path = "\(folder)/\(f.name)"
            guard SafeName.isValid(f.name, .id) else {
                problems.append(VerifyProblem(file: "\(folder)/manifest.json", reason: "the manifest names \(q(f.name)), not a file of the backup folder"))
                continue
            }
            if m.encryption != nil, f.name.hasPrefix(dataPrefix) {
                // Every tag checked here, in the pass that hashes, so a restore (whose gate is this
                // level) refuses a file with a wrong key before it writes anything.
                if let p = compareEncrypted(path, size: f.size, sha256: f.sha256) { problems.append(p) }
            } else if let p = Self.compare(path, size: f.size, sha256: f.sha256, recordedIn: "the manifest") {
                problems.append(p)
            }
        }
        return problems
    }

    /// `compare` for an encrypted file, in one read: the stored bytes hashed while every chunk is
    /// authenticated. A size or hash that differs from the manifest is reported as for a plain file
    /// (the rest of the file is still hashed after a chunk fails); else the decryption's problem.
    func compareEncrypted(_ path: String, size: Int64, sha256: String) -> VerifyProblem? {
        guard BinlogFileIO.size(path) != nil else { return VerifyProblem(file: path, reason: "file is missing") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return VerifyProblem(file: path, reason: "cannot open: \(BinlogFileIO.errnoText())") }
        defer { close(fd) }
        let hasher = SHA256Hasher()
        var read: Int64 = 0
        func hash(_ b: UnsafeRawBufferPointer) {
            if let base = b.baseAddress, b.count > 0 { hasher.update(base, count: b.count); read += Int64(b.count) }
        }
        var failure: Error?
        do { try ChunkDecryptor.decrypt(fd: fd, name: path, keys: try keys(), stored: hash, output: nil) } catch {
            failure = error
            do {
                let buf = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
                defer { buf.deallocate() }
                while true {
                    let n = Glibc.read(fd, buf, 1 << 20)
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { throw MBError(.failed, "cannot read \(q(path)): \(BinlogFileIO.errnoText())") }
                    if n == 0 { break }
                    hash(UnsafeRawBufferPointer(start: buf, count: n))
                }
            } catch { return VerifyProblem(file: path, reason: Self.text(error)) }
        }
        if read != size { return VerifyProblem(file: path, reason: "size \(read) bytes, the manifest records \(size)") }
        let sha = hasher.finalizeHex()
        if sha != sha256 { return VerifyProblem(file: path, reason: "sha256 \(sha), the manifest records \(sha256)") }
        return failure.map { VerifyProblem(file: path, reason: Self.reason($0, path: path)) }
    }

    /// An error's message without the leading quoted path a VerifyProblem already names.
    static func reason(_ error: Error, path: String) -> String {
        let t = text(error)
        return t.hasPrefix("\(q(path)): ") ? String(t.dropFirst(q(path).count + 2)) : t
    }

    /// Re-hashes one file against a recorded size and digest (`what` names where they are
    /// recorded); nil when they match.
    static func compare(_ path: String, size: Int64?, sha256: String, recordedIn what: String, sizeRecordedIn sizeWhat: String? = nil) -> VerifyProblem? {
        guard BinlogFileIO.size(path) != nil else { return VerifyProblem(file: path, reason: "file is missing") }
        do {
            let h = try SHA256Hasher.hashFile(path)
            if let size, h.size != size {
                return VerifyProblem(file: path, reason: "size \(h.size) bytes, \(sizeWhat ?? what) records \(size)")
            }
            if h.sha256 != sha256 {
                return VerifyProblem(file: path, reason: "sha256 \(h.sha256), \(what) records \(sha256)")
            }
            return nil
        } catch {
            return VerifyProblem(file: path, reason: text(error))
        }
    }

    // MARK: structure: physical

    /// Decompresses and unpacks the whole stream with `mbstream -x` into a scratch folder, then
    /// compares its `xtrabackup_checkpoints` with the catalog copy, the manifest and the parent.
    func checkStream(_ m: Manifest, folder: String, parent: Manifest?, notes: inout [String]) throws -> [VerifyProblem] {
        guard let data = m.files.first(where: { $0.name.hasPrefix("backup.xbstream") }) else { return [] }
        let path = "\(folder)/\(data.name)"
        let scratch = "\(scratchRoot)/\(m.id).\(getpid())"
        try? FileManager.default.removeItem(atPath: scratch)
        try AtomicFile.makeDirectory(scratch, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let input: DecryptedInput
        do { input = try DecryptedInput(path: path, encrypted: m.encryption != nil, keys: try keys()) } catch {
            return [VerifyProblem(file: path, reason: Self.reason(error, path: path))]
        }
        var o = RunOptions(timeout: ctx.config.backupTimeout)
        o.stdin = .fd(input.fd)
        o.stdout = .discard
        o.cancellation = cancellation
        let stages = (m.compression.decompressArgv.map { [$0] } ?? []) + [["mbstream", "-x", "-C", scratch]]
        let r = try runner.runPipeline(stages.map { Command($0) }, options: o)
        do { try input.check(pipelineSucceeded: r.succeeded) } catch {
            return [VerifyProblem(file: path, reason: Self.reason(error, path: path))]
        }
        try checkCancelled()
        guard r.succeeded else {
            return [VerifyProblem(file: path, reason: "the stream does not unpack: \(Self.pipelineReason(r))")]
        }
        let unpacked = FileManager.default.enumerator(atPath: scratch)?.allObjects.count ?? 0
        notes.append("stream: \(unpacked) entries unpacked")

        guard let inStream = try? String(contentsOfFile: "\(scratch)/xtrabackup_checkpoints", encoding: .utf8) else {
            return [VerifyProblem(file: path, reason: "the stream holds no xtrabackup_checkpoints")]
        }
        var problems: [VerifyProblem] = []
        let cp = ToolOutput.keyValues(inStream)
        let expectType = m.type == .full ? "full-backuped" : "incremental"
        if cp["backup_type"] != expectType {
            problems.append(VerifyProblem(file: path, reason: "xtrabackup_checkpoints in the stream says backup_type \(q(cp["backup_type"] ?? "none")), expected \(q(expectType))"))
        }
        for (key, recorded) in [("from_lsn", m.fromLSN), ("to_lsn", m.toLSN)] {
            let v = cp[key].flatMap { Int64($0) }
            if v == nil || v != recorded {
                problems.append(VerifyProblem(file: path, reason: "xtrabackup_checkpoints in the stream has \(key) \(q(cp[key] ?? "none")), the manifest records \(recorded.map(String.init) ?? "none")"))
            }
        }
        let copyPath = "\(folder)/xtrabackup_checkpoints"
        if let copy = try? String(contentsOfFile: copyPath, encoding: .utf8) {
            let c = ToolOutput.keyValues(copy)
            for key in ["backup_type", "from_lsn", "to_lsn"] where c[key] != cp[key] {
                problems.append(VerifyProblem(file: copyPath, reason: "\(key) \(q(c[key] ?? "none")) differs from the stream's \(q(cp[key] ?? "none"))"))
            }
        } else {
            problems.append(VerifyProblem(file: copyPath, reason: "file is missing"))
        }
        if m.type == .incremental, let p = parent, let from = cp["from_lsn"].flatMap({ Int64($0) }), from != p.toLSN {
            problems.append(VerifyProblem(file: path, reason: "broken chain: from_lsn \(from) is not parent \(q(p.id))'s to_lsn \(p.toLSN.map(String.init) ?? "none")"))
        }
        return problems
    }

    /// The stage that really failed: a stage that only lost its reader (SIGPIPE, "Broken pipe")
    /// is not the cause when a later stage failed.
    static func pipelineReason(_ r: PipelineResult) -> String {
        if r.timedOut || r.cancelled { return r.failureSummary }
        let failed = r.stages.filter { !$0.succeeded }
        let cause = failed.first { !($0.signal == SIGPIPE || $0.stderr.contains("Broken pipe")) } ?? failed.first
        guard let s = cause else { return r.failureSummary }
        let lines = s.stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let last = lines.last { $0.lowercased().contains("error") || $0.contains("failed") || $0.contains("invalid") } ?? lines.last
        return "\(q(s.program)) \(s.statusText)\(last.map { ": \($0)" } ?? "")"
    }

    // MARK: structure: dump

    /// The decompressed dump's head has the dump header and the coordinates the manifest records;
    /// its tail has `-- Dump completed`.
    func checkDump(_ m: Manifest, folder: String) -> [VerifyProblem] {
        guard let data = m.files.first(where: { $0.name.hasPrefix("dump.sql") }) else { return [] }
        let path = "\(folder)/\(data.name)"
        let head: String, tail: String
        do {
            (head, tail) = try BackupEngine(ctx: ctx).headAndTail(path, compression: m.compression,
                                                                  encrypted: m.encryption != nil, keys: try keys())
        } catch let e as MBError where e.message.hasPrefix(q(path)) {
            return [VerifyProblem(file: path, reason: Self.reason(e, path: path))]
        } catch {
            return [VerifyProblem(file: path, reason: "does not decompress: \(Self.text(error))")]
        }
        var problems: [VerifyProblem] = []
        let top = head.prefix(4096)
        if !top.contains("-- MariaDB dump") && !top.contains("-- MySQL dump") {
            problems.append(VerifyProblem(file: path, reason: "no '-- MariaDB dump' or '-- MySQL dump' header"))
        }
        if let c = ToolOutput.dumpCoordinates(head) {
            if let b = m.binlog, b.file != c.file || b.position != c.position {
                problems.append(VerifyProblem(file: path, reason: "coordinates \(c.file):\(c.position) in the dump, the manifest records \(b.file):\(b.position)"))
            }
        } else {
            problems.append(VerifyProblem(file: path, reason: "no 'CHANGE MASTER TO MASTER_LOG_FILE=...' coordinates line in its head"))
        }
        if !tail.contains("-- Dump completed") {
            problems.append(VerifyProblem(file: path, reason: "no '-- Dump completed' line at its end: truncated"))
        }
        return problems
    }

    // MARK: scratch

    /// Removes unpack folders (`ID.PID`) of verify runs that are gone.
    func cleanStaleScratch() {
        for f in (try? FileManager.default.contentsOfDirectory(atPath: scratchRoot)) ?? [] {
            guard let dot = f.lastIndex(of: "."), let pid = pid_t(f[f.index(after: dot)...]) else { continue }
            if pid != getpid() && !ProcessRunner.isAlive(pid) { try? FileManager.default.removeItem(atPath: "\(scratchRoot)/\(f)") }
        }
    }
}
