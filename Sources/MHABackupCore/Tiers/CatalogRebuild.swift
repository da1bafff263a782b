import Foundation
import MHABackupBase

/// `mha-backup catalog rebuild --from TIER`: a new manager host gets its catalog back from a
/// tier: each backup's manifest and COMMITTED (kept only when the marker matches the manifest),
/// each archive folder's index.json and `.sha256` files (the binlogs stay remote until a
/// restore fetches them), timeline.json and the failover records. Items already in the local
/// catalog are left alone. The data stays on the tier; the catalog records it there.
public struct CatalogRebuild {
    public let ctx: Context
    public var log: (String) -> Void = { print($0) }

    public init(ctx: Context) { self.ctx = ctx }

    public struct Report: Sendable, Codable {
        public var backups: [String] = []
        public var rejected: [String] = []
        public var binlogs = 0
        public var timeline = false
        public var failovers = 0
    }

    public func run(from tierName: String, now: Date) throws -> Report {
        guard let tier = ctx.config.tiers.first(where: { $0.name == tierName }) else {
            throw MBError.usage("option '--from': no [tier \(tierName)] in \(q(ctx.config.path))")
        }
        let r = Rclone(tier: tier, home: "\(ctx.config.stateDir)/rclone-home")
        var report = Report()
        let catalog = Catalog(dir: ctx.config.backupsDir)
        try AtomicFile.makeDirectory(ctx.config.backupsDir)
        // A rebuild is the one place a listing of the remote is read: the catalog is what it restores.
        let backupFiles = try r.list("backups")
        let ids = Set(backupFiles.compactMap { e -> String? in
            let parts = e.Path.split(separator: "/")
            return parts.count == 2 && parts[1] == "COMMITTED" ? String(parts[0]) : nil
        })
        for id in ids.sorted() {
            guard SafeName.isValid(id, .id) else { report.rejected.append("\(id): not a safe name"); continue }
            if FileManager.default.fileExists(atPath: "\(catalog.folder(id))/manifest.json") { continue }
            let manifest = try r.read("backups/\(id)/manifest.json")
            let marker = try r.read("backups/\(id)/COMMITTED")
            guard String(decoding: marker, as: UTF8.self).trimmed() == "sha256 \(SHA256Hasher.hex(of: manifest))",
                  var m = try? JSON.decode(Manifest.self, from: manifest, file: "\(id)/manifest.json"), m.status == .complete, m.id == id, m.files.allSatisfy({ SafeName.isValid($0.name, .id) }) else {
                report.rejected.append("\(id): COMMITTED does not match manifest.json")
                log("backup \(id): rejected: its COMMITTED marker does not match its manifest on tier \(tierName)")
                continue
            }
            let old = m.tiers?.copy(on: tierName)
            m.tiers = [TierCopy(tier: tierName, remotePath: "backups/\(id)", verifiedAt: old?.verifiedAt ?? now)]
            try catalog.commit(m)
            report.backups.append(id)
            log("backup \(id): catalog rebuilt from tier \(tierName)")
        }
        let binlogFiles = try r.list("binlogs")
        var byFolder: [String: Set<String>] = [:]
        for e in binlogFiles {
            let parts = e.Path.split(separator: "/")
            if parts.count == 2 { byFolder[String(parts[0]), default: []].insert(String(parts[1])) }
        }
        for (folder, names) in byFolder.sorted(by: { $0.key < $1.key }) where names.contains("index.json") {
            guard SafeName.isValid(folder, .id) else { continue }
            let dir = "\(ctx.config.binlogsDir)/\(folder)"
            try AtomicFile.makeDirectory(dir)
            let archive = BinlogArchive(dir: dir, host: folder, port: 0)
            var remoteIndex = try JSON.decode(BinlogIndex.self, from: try r.read("binlogs/\(folder)/index.json"), file: "\(folder)/index.json")
            var local = try archive.loadIndex()
            if local.files.isEmpty { local = BinlogIndex(host: remoteIndex.host, port: remoteIndex.port) }
            for var e in remoteIndex.files where BinlogName(e.name) != nil && names.contains(e.name) && names.contains("\(e.name).sha256") && local.entry(e.name) == nil {
                let text = String(decoding: try r.read("binlogs/\(folder)/\(e.name).sha256"), as: UTF8.self)
                guard BinlogChecksumFile.parse(text, name: e.name) == e.sha256 else { continue }
                try AtomicFile.write(text, to: archive.checksumPath(e.name), mode: 0o640)
                e.tiers = [TierCopy(tier: tierName, remotePath: "binlogs/\(folder)/\(e.name)", verifiedAt: e.tiers?.copy(on: tierName)?.verifiedAt ?? now)]
                local.upsert(e)
                report.binlogs += 1
            }
            remoteIndex.files = local.files
            try AtomicFile.write(JSON.encode(remoteIndex), to: archive.indexPath, mode: 0o640)
        }
        let top = try r.list("")
        if top.contains(where: { $0.Path == "timeline.json" }), !FileManager.default.fileExists(atPath: ctx.config.timelinePath) {
            try AtomicFile.write(try r.read("timeline.json"), to: ctx.config.timelinePath, mode: 0o640)
            report.timeline = true
        }
        let fdir = "\(ctx.config.stateDir)/failovers"
        for e in top where e.Path.hasPrefix("failovers/") && e.Path.hasSuffix(".json") {
            let name = String(e.Path.dropFirst("failovers/".count))
            guard !name.contains("/"), !FileManager.default.fileExists(atPath: "\(fdir)/\(name)") else { continue }
            try AtomicFile.makeDirectory(fdir)
            try AtomicFile.write(try r.read(e.Path), to: "\(fdir)/\(name)", mode: 0o640)
            report.failovers += 1
        }
        log("catalog rebuilt from tier \(tierName): \(report.backups.count) backup(s), \(report.binlogs) binlog(s), timeline \(report.timeline ? "restored" : "kept"), \(report.failovers) failover record(s)")
        return report
    }
}
