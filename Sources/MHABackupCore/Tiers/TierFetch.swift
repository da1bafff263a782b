import Foundation
import MHABackupBase

/// The seam verify and restore call: "make backup ID / binlog NAME present in the hot store".
/// A file missing from the hot store is fetched from the first tier that records a copy (warm
/// before cold) into its hot place (temp name, fsync, rename), and kept only when its SHA-256 and
/// size are the manifest's (backups) or the `.sha256`'s and index's (binlogs). The next
/// `tier sync` removes the hot copy again (its remote copy is already recorded).
public enum TierFetch {
    static func rclone(_ ctx: Context, _ tier: String) throws -> Rclone {
        guard let t = ctx.config.tiers.first(where: { $0.name == tier }) else {
            throw MBError(.config, "the catalog records a copy on tier \(q(tier)), but \(q(ctx.config.path)) has no [tier \(tier)]")
        }
        return Rclone(tier: t, home: "\(ctx.config.stateDir)/rclone-home")
    }

    static func ordered(_ copies: [TierCopy]) -> [TierCopy] {
        copies.sorted { (TierSettings.order.firstIndex(of: $0.tier) ?? 9) < (TierSettings.order.firstIndex(of: $1.tier) ?? 9) }
    }

    /// Fetches the missing files of backup `id` and of every parent in its chain. Returns the
    /// files fetched (empty when everything was hot).
    @discardableResult
    public static func backup(_ ctx: Context, _ id: String, log: (String) -> Void = { eprint($0) }) throws -> [String] {
        let catalog = Catalog(dir: ctx.config.backupsDir)
        var fetched: [String] = []
        var next: String? = id
        var seen = Set<String>()
        while let cur = next, !seen.contains(cur) {
            seen.insert(cur)
            guard FileManager.default.fileExists(atPath: "\(catalog.folder(cur))/manifest.json") else { break }
            let m = try catalog.load(cur)
            let folder = catalog.folder(cur)
            let missing = m.files.filter { !FileManager.default.fileExists(atPath: "\(folder)/\($0.name)") }
            // No tier copy: nothing to fetch; verify and restore report the missing files themselves.
            let copies = ordered(m.tiers ?? [])
            if !missing.isEmpty && !copies.isEmpty {
                var lastError: Error?
                for c in copies {
                    do {
                        let r = try rclone(ctx, c.tier)
                        for f in missing where !FileManager.default.fileExists(atPath: "\(folder)/\(f.name)") {
                            try fetchChecked(r, "\(c.remotePath)/\(f.name)", to: "\(folder)/\(f.name)", sha256: f.sha256, size: f.size)
                            fetched.append("\(folder)/\(f.name)")
                        }
                        log("backup \(cur): fetched \(missing.count) file(s) from tier \(c.tier) into \(folder) (sha256 checked)")
                        lastError = nil
                        break
                    } catch { lastError = error }
                }
                if let e = lastError { throw e }
            }
            next = m.parent
        }
        return fetched
    }

    /// Fetches an archived binlog back into its archive folder when only a tier holds it.
    /// `path` is the archive path (`<binlogs>/HOST_PORT/NAME`). False when it was already hot.
    @discardableResult
    public static func binlog(_ ctx: Context, path: String, log: (String) -> Void = { eprint($0) }) throws -> Bool {
        if FileManager.default.fileExists(atPath: path) { return false }
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let archive = BinlogArchive(dir: dir, host: "", port: 0)
        guard let e = try archive.loadIndex().entry(name), let sha = archive.recordedChecksum(name), sha == e.sha256 else {
            throw MBError(.noInput, "binlog \(q(path)) is missing and index.json / \(name).sha256 record no copy of it")
        }
        let copies = ordered(e.tiers ?? [])
        guard !copies.isEmpty else { throw MBError(.noInput, "binlog \(q(path)) is missing and no tier records a copy") }
        var lastError: Error?
        for c in copies {
            do {
                try fetchChecked(try rclone(ctx, c.tier), c.remotePath, to: path, sha256: sha, size: e.size)
                log("binlog \(name): fetched from tier \(c.tier) into \(dir) (sha256 checked)")
                return true
            } catch { lastError = error }
        }
        throw lastError!
    }

    static func fetchChecked(_ r: Rclone, _ rel: String, to local: String, sha256: String, size: Int64) throws {
        let tmp = "\(local).tier"
        let got = try r.fetch(rel, to: tmp)
        guard got.sha256 == sha256, got.size == size else {
            unlink(tmp)
            throw MBError(.dataError, "tier \(q(r.tier.name)): \(q(r.tier.remote(rel))) does not match the catalog (sha256 \(got.sha256), \(got.size) bytes; recorded \(sha256), \(size) bytes): not used")
        }
        guard rename(tmp, local) == 0 else {
            unlink(tmp)
            throw MBError(.cantCreate, "cannot rename \(q(tmp)) to \(q(local)): \(String(cString: strerror(errno)))")
        }
        AtomicFile.syncDirectory((local as NSString).deletingLastPathComponent)
    }
}
