import Foundation
import MHABackupBase

/// `mha-backup tier sync`: moves committed backups and archived binlogs down the tiers. Every
/// remote copy is read back and hashed against the manifest / `.sha256` before the catalog
/// records it, and a copy is removed (hot or remote) only after the copy below it is recorded.
/// Stops at the first failure with one line naming the tier; a re-run resumes from the catalog.
public final class TierSync {
    public let ctx: Context
    public var log: (String) -> Void = { print($0) }
    public let audit: AuditLog
    public var timeout: TimeInterval = 3600

    public init(ctx: Context) {
        self.ctx = ctx
        audit = AuditLog(path: ctx.config.auditPath)
    }

    var tiers: [TierSettings] { ctx.config.tiers }
    var home: String { "\(ctx.config.stateDir)/rclone-home" }
    func rclone(_ name: String) throws -> Rclone {
        guard let t = tiers.first(where: { $0.name == name }) else {
            throw MBError(.config, "no [tier \(name)] in \(q(ctx.config.path))")
        }
        var r = Rclone(tier: t, home: home, timeout: timeout)
        r.peers = tiers.filter { $0.name != name }
        return r
    }

    /// The catalog's items: committed backups and every archived binlog.
    public func items() -> [TierItem] {
        var out: [TierItem] = []
        let active = Set(JobRegistry(dir: ctx.config.jobsDir).active().compactMap(\.backupId))
        let catalog = Catalog(dir: ctx.config.backupsDir)
        for m in catalog.all(activeJobs: active) where m.status == .complete {
            let folder = catalog.folder(m.id)
            let hot = m.files.allSatisfy { FileManager.default.fileExists(atPath: "\(folder)/\($0.name)") }
            out.append(TierItem(kind: .backup(id: m.id), committedAt: m.finishedAt ?? m.startedAt, hot: hot, copies: m.tiers ?? []))
        }
        for folder in Verifier.folders(in: ctx.config.binlogsDir) {
            let archive = BinlogArchive(dir: "\(ctx.config.binlogsDir)/\(folder)", host: folder, port: 0)
            guard let idx = try? archive.loadIndex() else { continue }
            // One listing of the folder, not a read of each `.sha256` (100,000 opens at P6's
            // scale): a binlog counts when its checksum file is there; the move itself checks
            // that the checksum and the index agree before anything is copied.
            let names = Set(BinlogFileIO.list(archive.dir))
            for e in idx.files where names.contains("\(e.name).sha256") {
                out.append(TierItem(kind: .binlog(folder: folder, name: e.name), committedAt: e.archivedAt,
                                    hot: names.contains(e.name), copies: e.tiers ?? []))
            }
        }
        return out
    }

    public struct Report: Sendable, Codable {
        public var moves: [String] = []
        public var notes: [String] = []
        public var copiedBytes: Int64 = 0
    }

    public func run(limit: String?, dryRun: Bool, now: Date) throws -> Report {
        guard !tiers.isEmpty else {
            throw MBError(.config, "no [tier warm] or [tier cold] in \(q(ctx.config.path))", hint: "INSTALL.md, section Tiers, shows both")
        }
        if let l = limit, !tiers.contains(where: { $0.name == l }) {
            throw MBError.usage("option '--tier': no [tier \(l)] in \(q(ctx.config.path)) (configured: \(tiers.map(\.name).joined(separator: ", ")))")
        }
        var report = Report()
        try AtomicFile.makeDirectory(ctx.config.stateDir)
        return try FileLock.withLock("\(ctx.config.stateDir)/tier-sync.lock", timeout: 5) {
            let (moves, notes) = TierPlanner.plan(items(), tiers: tiers, now: now, limit: limit)
            report.notes = notes
            if dryRun {
                report.moves = moves.map(\.summary)
                if !moves.isEmpty { log(moves.map { "would \($0.summary)" }.joined(separator: "\n")) }
                if moves.isEmpty { log("nothing to sync") }
                return report
            }
            var touched = Set<String>()
            var binlogFolders: [String: Set<String>] = [:]
            for move in moves {
                let started = Date()
                do {
                    switch move.item.kind {
                    case .backup(let id): report.copiedBytes += try moveBackup(id, move, now: now)
                    case .binlog(let folder, let name):
                        report.copiedBytes += try moveBinlog(folder: folder, name: name, move, now: now)
                        binlogFolders[move.target, default: []].insert(folder)
                    }
                } catch {
                    record(move, outcome: .failed, started: started, message: "\(error)")
                    throw error
                }
                touched.insert(move.target)
                record(move, outcome: .ok, started: started, message: nil)
                report.moves.append(move.summary)
                log(move.summary)
            }
            // What a rebuilt manager host needs besides the items: the archive indexes, the
            // timeline (which master was where) and the failover records.
            for t in tiers where touched.contains(t.name) {
                let r = try rclone(t.name)
                for folder in binlogFolders[t.name] ?? [] {
                    try put(r, "\(ctx.config.binlogsDir)/\(folder)/index.json", "binlogs/\(folder)/index.json")
                }
                if FileManager.default.fileExists(atPath: ctx.config.timelinePath) { try put(r, ctx.config.timelinePath, "timeline.json") }
                let fdir = "\(ctx.config.stateDir)/failovers"
                for f in ((try? FileManager.default.contentsOfDirectory(atPath: fdir)) ?? []).sorted() where f.hasSuffix(".json") {
                    try put(r, "\(fdir)/\(f)", "failovers/\(f)")
                }
            }
            if moves.isEmpty { log("nothing to sync") }
            return report
        }
    }

    func record(_ move: TierMove, outcome: AuditOutcome, started: Date, message: String?) {
        audit.append(AuditEvent(time: ctx.clock.now(), failoverId: nil, hook: "mha-backup", phase: "tier",
                                action: move.summary, outcome: outcome, durationMs: Int(Date().timeIntervalSince(started) * 1000),
                                message: message))
    }

    /// Uploads a small file and reads it back: its hash must be the local one.
    func put(_ r: Rclone, _ local: String, _ rel: String) throws {
        let want = try SHA256Hasher.hashFile(local)
        try r.upload(local, to: rel)
        let got = try r.hash(rel)
        guard got.sha256 == want.sha256 else {
            throw MBError(.dataError, "tier \(q(r.tier.name)): \(q(r.tier.remote(rel))) read back with sha256 \(got.sha256), \(q(local)) has \(want.sha256)")
        }
    }

    /// Copies one object to the target and checks it against the recorded hash and size.
    func transfer(_ dst: Rclone, source: TierMove.Source, local: String, rel: String, sha256: String, size: Int64) throws {
        switch source {
        case .alreadyThere: return
        case .hot: try dst.upload(local, to: rel)
        case .tier(let from): try dst.copy(from: try rclone(from).tier, rel, to: rel)
        }
        let got = try dst.hash(rel)
        guard got.sha256 == sha256, got.size == size else {
            throw MBError(.dataError, "tier \(q(dst.tier.name)): remote copy \(q(dst.tier.remote(rel))) does not match the catalog (sha256 \(got.sha256), \(got.size) bytes; recorded \(sha256), \(size) bytes)",
                          hint: "the hot copy is kept; run 'mha-backup tier sync' again")
        }
    }

    func moveBackup(_ id: String, _ move: TierMove, now: Date) throws -> Int64 {
        let catalog = Catalog(dir: ctx.config.backupsDir)
        var m = try catalog.load(id)
        guard m.status == .complete else { throw MBError(.dataError, "backup \(q(id)) is \(m.status.rawValue): not synced") }
        let dst = try rclone(move.target)
        let folder = catalog.folder(id)
        let rel = move.item.remoteRel
        var bytes: Int64 = 0
        for f in m.files {
            try transfer(dst, source: move.source, local: "\(folder)/\(f.name)", rel: "\(rel)/\(f.name)", sha256: f.sha256, size: f.size)
            if move.source != .alreadyThere { bytes += f.size }
        }
        if move.source != .alreadyThere {
            var copies = m.tiers ?? []
            copies.record(TierCopy(tier: move.target, remotePath: rel, verifiedAt: now))
            m = try catalog.recordTiers(id, copies)
            // The manifest and its marker go last: a remote folder with COMMITTED is complete.
            try put(dst, "\(folder)/manifest.json", "\(rel)/manifest.json")
            try put(dst, "\(folder)/COMMITTED", "\(rel)/COMMITTED")
        }
        if move.removeHot {
            for f in m.files { unlink("\(folder)/\(f.name)") }
            AtomicFile.syncDirectory(folder)
        }
        for t in move.removeTiers {
            var copies = m.tiers ?? []
            copies.removeAll { $0.tier == t }
            m = try catalog.recordTiers(id, copies)
            let r = try rclone(t)
            for name in ["COMMITTED", "manifest.json"] + m.files.map(\.name) { try r.delete("\(rel)/\(name)") }
        }
        return bytes
    }

    func moveBinlog(folder: String, name: String, _ move: TierMove, now: Date) throws -> Int64 {
        let archive = BinlogArchive(dir: "\(ctx.config.binlogsDir)/\(folder)", host: folder, port: 0)
        guard let e = try archive.loadIndex().entry(name), let sha = archive.recordedChecksum(name), sha == e.sha256 else {
            throw MBError(.dataError, "binlog \(q(folder))/\(q(name)): index.json and \(name).sha256 disagree: not synced", hint: "run 'mha-backup verify --all'")
        }
        let dst = try rclone(move.target)
        let rel = move.item.remoteRel
        try transfer(dst, source: move.source, local: archive.path(name), rel: rel, sha256: e.sha256, size: e.size)
        var copies = e.tiers ?? []
        if move.source != .alreadyThere {
            try put(dst, archive.checksumPath(name), "\(rel).sha256")
            copies.record(TierCopy(tier: move.target, remotePath: rel, verifiedAt: now))
            try archive.recordTiers(name, copies)
        }
        if move.removeHot { try archive.removeHotCopy(name) }
        for t in move.removeTiers {
            copies.removeAll { $0.tier == t }
            try archive.recordTiers(name, copies)
            let r = try rclone(t)
            try r.delete(rel)
            try r.delete("\(rel).sha256")
        }
        return move.source == .alreadyThere ? 0 : e.size
    }
}
