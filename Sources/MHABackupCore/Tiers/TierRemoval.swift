import Foundation
import MHABackupBase

/// What retention calls to delete an item's remote copies, after it made the catalog stop using
/// the item (marker removed): every recorded tier copy's objects are deleted. The catalog is not
/// touched here. An object already gone is fine, so a re-run after a crash finishes the job.
public enum TierRemoval {
    /// Deletes the remote copies of backup `m` (its data files, manifest.json and COMMITTED).
    public static func removeRemoteCopies(_ ctx: Context, backup m: Manifest) throws {
        for c in m.tiers ?? [] {
            let r = try TierFetch.rclone(ctx, c.tier)
            // The marker first: a remote folder without COMMITTED is never rebuilt into a catalog.
            for name in ["COMMITTED", "manifest.json"] + m.files.map(\.name) { try r.delete("\(c.remotePath)/\(name)") }
        }
    }

    /// Deletes the remote copies of an archived binlog (the binlog and its `.sha256`).
    public static func removeRemoteCopies(_ ctx: Context, binlog e: ArchivedBinlog) throws {
        for c in e.tiers ?? [] {
            let r = try TierFetch.rclone(ctx, c.tier)
            try r.delete("\(c.remotePath).sha256")
            try r.delete(c.remotePath)
        }
    }
}
