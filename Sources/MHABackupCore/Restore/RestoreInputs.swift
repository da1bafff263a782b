import Foundation
import MHABackupBase
import MHABackupFailover

extension RestorePlanner {
    /// A planner over this installation's catalog, timeline, binlog archive and stream folders.
    public static func forStore(_ ctx: Context) throws -> RestorePlanner {
        let catalog = Catalog(dir: ctx.config.backupsDir)
        let active = Set(JobRegistry(dir: ctx.config.jobsDir).active().map(\.id))
        let backups = catalog.all(activeJobs: active)
        let tl = try Timeline.load(ctx.config.timelinePath)
        let config = ctx.config
        return RestorePlanner(backups: backups, timeline: tl) { host, port in
            RestorePlanner.availableBinlogs(config: config, host: host, port: port)
        }
    }

    /// The committed files of one server's archive (a binlog counts only with its `.sha256`), then
    /// files the live stream holds that the archive lacks and that are newer than its newest: the
    /// copy of the file its master had open (the live one's current file, or the one a dead master died with).
    public static func availableBinlogs(config: BackupConfig, host: String, port: Int) -> [AvailableBinlog] {
        guard let archive = try? BinlogArchive(config: config, host: host, port: port) else { return [] }
        let index = (try? archive.loadIndex()) ?? BinlogIndex(host: host, port: port)
        var out: [AvailableBinlog] = []
        for e in index.files {
            // Committed (a .sha256 on disk), whatever its state: restore's check re-hashes it and
            // refuses a damaged one with verify's words rather than skip it.
            guard let sha = archive.recordedChecksum(e.name) else { continue }
            out.append(AvailableBinlog(name: e.name, path: archive.path(e.name), size: e.size, origin: .archive, sha256: sha,
                                       firstGtid: e.firstGtid, lastGtid: e.lastGtid, plainSize: e.plainSize))
        }
        let newest = out.compactMap { BinlogName($0.name) }.max()
        if let folder = try? HostName.folderName(host: host, port: port) {
            let dir = "\(config.stateDir)/stream/\(folder)"
            for f in BinlogFileIO.list(dir) {
                guard let n = BinlogName(f), newest.map({ n.base == $0.base && n.number > $0.number }) ?? true,
                      let size = BinlogFileIO.size("\(dir)/\(f)") else { continue }
                // No index entry: its GTIDs are read here (the plan needs the last one it holds).
                var scan = BinlogEventScanner()
                try? BinlogFileIO.readAll("\(dir)/\(f)") { scan.feed($0) }
                out.append(AvailableBinlog(name: f, path: "\(dir)/\(f)", size: size, origin: .streamUnclosed,
                                           firstGtid: scan.firstGTID, lastGtid: scan.lastGTID))
            }
        }
        return out.sorted { BinlogName.precedes($0.name, $1.name) }
    }
}

/// What a restore checks before it touches anything: the base and its chain at verify's `files`
/// level, and every archived binlog it will replay against its `.sha256` and `index.json`. A
/// problem refuses the restore with the line `verify` prints for it.
public enum RestoreGate {
    public static func checkBackup(ctx: Context, _ m: Manifest) throws {
        let v = Verifier(ctx: ctx)
        v.saveRecords = false
        v.log = { _ in }
        let r = try v.verifyBackup(m.id, level: .files)
        if let p = r.problems.first {
            throw MBError(.dataError, "backup \(q(m.id)): \(p.line)", hint: "'mha-backup verify \(m.id)' lists every problem; nothing was restored")
        }
    }

    public static func checkBinlogs(_ plan: RestorePlan) throws {
        for f in plan.segments.flatMap(\.files) where f.origin == .archive {
            let name = (f.path as NSString).lastPathComponent
            if let p = Verifier.compare(f.path, size: f.size, sha256: f.sha256 ?? "", recordedIn: "\(name).sha256", sizeRecordedIn: "index.json") {
                throw MBError(.dataError, "binlog archive: \(p.line)", hint: "'mha-backup verify --all' lists every problem; nothing was restored")
            }
        }
    }
}
