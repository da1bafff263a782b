import Foundation
import MHABackupBase

/// Retention's remover when remote tiers are configured: an item's remote copies go first, then
/// its local data. Both are found from what the hidden item still holds, so a re-run after a
/// crash finishes the remote side too:
/// - a backup: the hidden folder's `manifest.json` lists its tier copies;
/// - a binlog: the executor wrote its index entry (with the tier copies) to
///   `.NAME.retention-tiers` before taking it out of `index.json`.
public struct TieredDataRemover: RetentionDataRemover {
    public let ctx: Context
    let local = LocalDataRemover()

    public init(ctx: Context) { self.ctx = ctx }

    /// The side file of a binlog being deleted that holds its tier copies.
    public static func binlogTiersPath(dir: String, name: String) -> String { "\(dir)/.\(name)\(RetentionExecutor.binlogTiersSuffix)" }

    public func removeData(of item: RetentionItem, localPath: String) throws {
        switch item.kind {
        case .backup:
            let manifest = "\(localPath)/manifest.json"
            if let data = FileManager.default.contents(atPath: manifest),
               let m = try? JSON.decode(Manifest.self, from: data, file: manifest), m.tiers?.isEmpty == false {
                try TierRemoval.removeRemoteCopies(ctx, backup: m)
            }
            try local.removeData(of: item, localPath: localPath)
        case .binlog:
            try local.removeData(of: item, localPath: localPath)
            let dir = (localPath as NSString).deletingLastPathComponent
            let side = Self.binlogTiersPath(dir: dir, name: item.id)
            guard let data = FileManager.default.contents(atPath: side) else { return }
            let e = try JSON.decode(ArchivedBinlog.self, from: data, file: side)
            try TierRemoval.removeRemoteCopies(ctx, binlog: e)
            unlink(side)
        }
    }
}

extension RetentionExecutor {
    /// The executor as `mha-backup retention` runs it: with tiers configured, remote copies are
    /// deleted with the local ones, and the last tier's `keep` is the maximum age.
    public static func configured(_ ctx: Context) -> RetentionExecutor {
        let e = RetentionExecutor(ctx: ctx)
        if let last = ctx.config.tiers.last {
            e.remover = TieredDataRemover(ctx: ctx)
            e.maxAge = RetentionPolicy.MaxAge(tier: last.name, seconds: last.keep)
        }
        return e
    }
}
