import FoundationEssentials
import Glibc

/// One verified copy of a catalog item on a remote tier: recorded only after the remote bytes
/// were read back and their SHA-256 matched the manifest (backups) or the `.sha256` (binlogs).
public struct TierCopy: Codable, Sendable, Equatable {
    /// `warm` or `cold`.
    public var tier: String
    /// The folder (backups) or object (binlogs) on the tier, relative to the rclone remote's root.
    public var remotePath: String
    public var verifiedAt: Date

    public init(tier: String, remotePath: String, verifiedAt: Date) {
        self.tier = tier
        self.remotePath = remotePath
        self.verifiedAt = verifiedAt
    }
}

extension Array where Element == TierCopy {
    public func copy(on tier: String) -> TierCopy? { first { $0.tier == tier } }
    public mutating func record(_ c: TierCopy) { removeAll { $0.tier == c.tier }; append(c) }
}

extension Catalog {
    /// Records where a committed backup's remote copies live: a new manifest and its marker. The
    /// new marker is written first beside the old one (`COMMITTED.next`), then the manifest, then
    /// the marker renamed into place: at every instant one of the two markers matches the
    /// manifest, so a crash never leaves a committed backup looking partial. Data files untouched.
    public func recordTiers(_ id: String, _ copies: [TierCopy]) throws -> Manifest {
        var m = try load(id)
        guard m.status == .complete else { throw MBError(.dataError, "backup \(q(id)) is \(m.status.rawValue), not complete: no tier is recorded") }
        m.tiers = copies.isEmpty ? nil : copies
        let data = try JSON.encode(m)
        let next = markerPath(id) + ".next"
        try AtomicFile.write("sha256 \(SHA256Hasher.hex(of: data))\n", to: next, mode: 0o640)
        try AtomicFile.write(data, to: manifestPath(id), mode: 0o640)
        guard rename(next, markerPath(id)) == 0 else {
            throw MBError(.cantCreate, "cannot rename \(q(next)): \(String(cString: strerror(errno)))")
        }
        AtomicFile.syncDirectory(folder(id))
        return m
    }
}

extension BinlogArchive {
    /// Records a binlog's verified remote copies in `index.json` (under the archive's lock).
    public func recordTiers(_ name: String, _ copies: [TierCopy]) throws {
        try withLock {
            var idx = try loadIndex()
            guard var e = idx.entry(name) else { throw MBError(.dataError, "binlog \(q(name)) is not in \(q(indexPath))") }
            e.tiers = copies.isEmpty ? nil : copies
            idx.upsert(e)
            try saveIndex(idx)
        }
    }

    /// Removes the hot copy of a binlog whose remote copy is recorded; its `.sha256` stays (it
    /// still commits the name, and a fetch back is checked against it).
    public func removeHotCopy(_ name: String) throws {
        try withLock {
            let idx = try loadIndex()
            guard let e = idx.entry(name), e.tiers?.isEmpty == false else {
                throw MBError(.software, "binlog \(q(name)) has no verified remote copy: its hot copy stays")
            }
            if unlink(path(name)) != 0 && errno != ENOENT {
                throw MBError(.cantCreate, "cannot remove \(q(path(name))): \(String(cString: strerror(errno)))")
            }
            AtomicFile.syncDirectory(dir)
        }
    }
}
