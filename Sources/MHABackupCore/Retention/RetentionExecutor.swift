import Foundation
import MHABackupBase
import MHABackupFailover

/// Removes the data of one item the catalog no longer uses: the seam for storage tiers (the
/// local copy now; a tier adds its remote copies). `localPath` is the hidden name the item was
/// moved to; it may already be gone (a re-run finishing an interrupted deletion).
public protocol RetentionDataRemover: Sendable {
    func removeData(of item: RetentionItem, localPath: String) throws
}

/// The local store: removes the hidden folder or file.
public struct LocalDataRemover: RetentionDataRemover {
    public init() {}
    public func removeData(of item: RetentionItem, localPath: String) throws {
        guard FileManager.default.fileExists(atPath: localPath) else { return }
        do { try FileManager.default.removeItem(atPath: localPath) } catch {
            throw MBError(.cantCreate, "cannot remove \(q(localPath)): \(error)", hint: "fix its permissions; the next 'mha-backup retention --confirm' finishes it")
        }
    }
}

/// Plans from the local catalog and, with `confirm`, deletes. A deletion first makes the catalog
/// stop using the item, atomically, then removes its data:
/// - a backup: its folder is renamed to `backups/.deleting-ID` (the catalog, `list`, `verify` and
///   restore skip hidden folders), then removed;
/// - a binlog, under the archive's lock (archive and stream wait): its `index.json` entry goes
///   (one atomic index write for the folder), the file is renamed to `.NAME.retention-deleting`
///   (no longer a binlog name: reconcile never recovers it), its `.sha256` is removed, then the file.
/// A re-run first finishes what an interrupted one left (hidden folders and files). One retention
/// at a time (`store/.retention.lock`).
public final class RetentionExecutor: @unchecked Sendable {
    public let ctx: Context
    public var remover: any RetentionDataRemover = LocalDataRemover()
    public var maxAge: RetentionPolicy.MaxAge?
    public var log: (String) -> Void = { eprint($0) }
    /// Test seam, documented in INSTALL.md: seconds to pause after the first item was hidden and
    /// before its data is removed (`MHA_BACKUP_RETENTION_TEST_PAUSE`), so a test can kill -9 there.
    public var testPause: TimeInterval?
    let audit: AuditLog

    public static let deletingPrefix = ".deleting-"
    public static let binlogDeletingSuffix = ".retention-deleting"
    static let binlogTiersSuffix = ".retention-tiers"

    public init(ctx: Context) {
        self.ctx = ctx
        audit = AuditLog(path: ctx.config.auditPath)
        if let s = ProcessInfo.processInfo.environment["MHA_BACKUP_RETENTION_TEST_PAUSE"], let n = Double(s) { testPause = n }
    }

    var lockPath: String { "\(ctx.config.storeDir)/.retention.lock" }

    /// The archive folders under `binlogs/` with their index entries.
    public static func archives(_ config: BackupConfig) throws -> [ArchiveListing] {
        let dir = config.binlogsDir
        let loaded = parallelMap(Verifier.folders(in: dir), minimum: 2) { folder -> Result<ArchiveListing?, MBError> in
            let path = "\(dir)/\(folder)/index.json"
            guard BinlogFileIO.exists(path) else { return .success(nil) }
            do {
                let idx = try JSON.load(BinlogIndex.self, path: path)
                return .success(ArchiveListing(folder: folder, host: idx.host, port: idx.port, files: idx.files))
            } catch {
                return .failure(MBError(.dataError, "binlog index \(q(path)) cannot be read: \(error)",
                                        hint: "'mha-backup binlog archive' rebuilds it from the .sha256 files; retention decides nothing without it"))
            }
        }
        return try loaded.compactMap { try $0.get() }
    }

    /// The plan as of `now` from the catalog, the timeline and the archive indexes.
    public func plan(now: Date) throws -> RetentionPlan {
        let active = Set(JobRegistry(dir: ctx.config.jobsDir).active().compactMap(\.backupId))
        let backups = Catalog(dir: ctx.config.backupsDir).all(activeJobs: active)
        let timeline = try Timeline.load(ctx.config.timelinePath)
        let planner = RetentionPlanner(backups: backups, timeline: timeline, archives: try Self.archives(ctx.config),
                                       policy: RetentionPolicy(ctx.config.retention, maxAge: maxAge))
        return planner.plan(now: now)
    }

    /// Plans; with `confirm`, finishes leftovers and deletes what the plan says, under the lock.
    public func run(now: Date, confirm: Bool) throws -> RetentionPlan {
        guard confirm else { return try plan(now: now) }
        return try FileLock.withLock(lockPath, timeout: 600) {
            try finishLeftovers()
            let plan = try plan(now: now)
            defer { audit.sync() }
            try execute(plan)
            return plan
        }
    }

    // MARK: deletion

    func execute(_ plan: RetentionPlan) throws {
        var paused = false
        func pauseOnce() {
            guard let p = testPause, !paused else { return }
            paused = true
            log("retention: test pause \(p) s (MHA_BACKUP_RETENTION_TEST_PAUSE)")
            Thread.sleep(forTimeInterval: p)
        }
        let catalog = Catalog(dir: ctx.config.backupsDir)
        let registry = JobRegistry(dir: ctx.config.jobsDir)
        // Newest first: an incremental goes before its parent, so no moment leaves a catalog
        // entry whose chain is broken (verify --all would fail it).
        for item in plan.backups.reversed() where item.action == .delete {
            let hidden = "\(ctx.config.backupsDir)/\(Self.deletingPrefix)\(item.id)"
            // Under the jobs lock: a backup that started meanwhile is never taken away.
            let moved = try registry.withLock { () -> Bool in
                if registry.active().contains(where: { $0.backupId == item.id }) { return false }
                guard FileManager.default.fileExists(atPath: catalog.folder(item.id)) else { return false }
                guard rename(catalog.folder(item.id), hidden) == 0 else {
                    throw MBError(.cantCreate, "cannot rename \(q(catalog.folder(item.id))) to \(q(hidden)): \(BinlogFileIO.errnoText())")
                }
                AtomicFile.syncDirectory(ctx.config.backupsDir)
                return true
            }
            guard moved else { continue }
            pauseOnce()
            try remover.removeData(of: item, localPath: hidden)
            record("delete backup", item)
        }
        let byFolder = Dictionary(grouping: plan.binlogs.filter { $0.action == .delete }, by: { $0.folder ?? "" })
        for (folder, items) in byFolder.sorted(by: { $0.key < $1.key }) where !folder.isEmpty {
            let dir = "\(ctx.config.binlogsDir)/\(folder)"
            let archive = BinlogArchive(dir: dir, host: items[0].host, port: items[0].port)
            let hidden: [(RetentionItem, String)] = try archive.withLock(timeout: 600) {
                var idx = try archive.loadIndex()
                let names = Set(items.map(\.id))
                let planned = Dictionary(items.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                // Only what the index still lists as planned (an entry replaced meanwhile stays).
                let going = idx.files.filter { names.contains($0.name) && planned[$0.name]?.bytes == $0.size }
                guard !going.isEmpty else { return [] }
                let goingNames = Set(going.map(\.name))
                // A binlog with tier copies: its entry is kept beside it until those are deleted.
                for e in going where e.tiers?.isEmpty == false && remover is TieredDataRemover {
                    try AtomicFile.write(JSON.encode(e), to: TieredDataRemover.binlogTiersPath(dir: dir, name: e.name), mode: 0o640)
                }
                idx.files.removeAll { goingNames.contains($0.name) }
                try AtomicFile.write(JSON.encode(idx), to: archive.indexPath, mode: 0o640)
                var out: [(RetentionItem, String)] = []
                for e in going {
                    let h = "\(dir)/.\(e.name)\(Self.binlogDeletingSuffix)"
                    if rename(archive.path(e.name), h) != 0 && errno != ENOENT {
                        throw MBError(.cantCreate, "cannot rename \(q(archive.path(e.name))) to \(q(h)): \(BinlogFileIO.errnoText())")
                    }
                    unlink(archive.checksumPath(e.name))
                    out.append((planned[e.name]!, h))
                }
                AtomicFile.syncDirectory(dir)
                return out
            }
            for (item, h) in hidden {
                pauseOnce()
                try remover.removeData(of: item, localPath: h)
                record("delete binlog", item)
            }
        }
    }

    /// What an interrupted run left: hidden backup folders and hidden binlogs (with a `.sha256`
    /// whose binlog is gone), removed now.
    public func finishLeftovers() throws {
        let bdir = ctx.config.backupsDir
        for f in ((try? FileManager.default.contentsOfDirectory(atPath: bdir)) ?? []) where f.hasPrefix(Self.deletingPrefix) {
            let id = String(f.dropFirst(Self.deletingPrefix.count))
            let item = RetentionItem(kind: .backup, id: id, host: "", port: 0, folder: nil, type: nil, status: nil, time: Date(),
                                     bytes: 0, action: .delete, reasons: ["finishing an interrupted deletion"])
            try remover.removeData(of: item, localPath: "\(bdir)/\(f)")
            record("delete backup", item)
        }
        for folder in Verifier.folders(in: ctx.config.binlogsDir) {
            let dir = "\(ctx.config.binlogsDir)/\(folder)"
            // Hidden binlogs, and side files of binlogs whose only copies were remote.
            let files = BinlogFileIO.list(dir)
            let hiddenNames = Set(files.filter { $0.hasPrefix(".") && $0.hasSuffix(Self.binlogDeletingSuffix) })
            let left = hiddenNames.sorted() + files.filter { $0.hasPrefix(".") && $0.hasSuffix(Self.binlogTiersSuffix) }
                .map { String($0.dropLast(Self.binlogTiersSuffix.count)) + Self.binlogDeletingSuffix }
                .filter { !hiddenNames.contains($0) }.sorted()
            guard !left.isEmpty else { continue }
            let archive = BinlogArchive(dir: dir, host: folder, port: 0)
            try archive.withLock(timeout: 600) {
                for f in left {
                    let name = String(f.dropFirst().dropLast(Self.binlogDeletingSuffix.count))
                    // The binlog may have been archived again since: its checksum is its own then.
                    if !BinlogFileIO.exists(archive.path(name)) { unlink(archive.checksumPath(name)) }
                    let item = RetentionItem(kind: .binlog, id: name, host: folder, port: 0, folder: folder, type: nil, status: nil,
                                             time: Date(), bytes: 0, action: .delete, reasons: ["finishing an interrupted deletion"])
                    try remover.removeData(of: item, localPath: "\(dir)/\(f)")
                    record("delete binlog", item)
                }
                AtomicFile.syncDirectory(dir)
            }
        }
    }

    func record(_ action: String, _ item: RetentionItem) {
        let what = item.kind == .backup ? item.id : "\(item.folder ?? item.host)/\(item.id)"
        log("deleted \(item.kind.rawValue) \(what): \(item.reasons.joined(separator: "; "))")
        audit.append(AuditEvent(time: ctx.clock.now(), failoverId: nil, hook: "retention", phase: "delete", action: "\(action) \(what)",
                                host: item.host.isEmpty ? nil : item.host, outcome: .ok, message: item.reasons.joined(separator: "; ")))
    }
}
