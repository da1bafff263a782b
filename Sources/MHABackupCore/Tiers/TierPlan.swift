import Foundation
import MHABackupBase

/// One catalog item as the planner sees it: where its copies are now.
public struct TierItem: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case backup(id: String)
        /// A binlog in the archive folder `folder` (HOST_PORT).
        case binlog(folder: String, name: String)
    }
    public var kind: Kind
    /// When it was committed (a backup's end, a binlog's archiving): its age is measured from here.
    public var committedAt: Date
    /// Every file of it is in the hot store.
    public var hot: Bool
    public var copies: [TierCopy]

    public init(kind: Kind, committedAt: Date, hot: Bool, copies: [TierCopy]) {
        self.kind = kind
        self.committedAt = committedAt
        self.hot = hot
        self.copies = copies
    }

    public var label: String {
        switch kind {
        case .backup(let id): return "backup \(id)"
        case .binlog(let folder, let name): return "binlog \(folder)/\(name)"
        }
    }

    /// The item's folder (backups) or object (binlogs) relative to a tier's `path`.
    public var remoteRel: String {
        switch kind {
        case .backup(let id): return "backups/\(id)"
        case .binlog(let folder, let name): return "binlogs/\(folder)/\(name)"
        }
    }
}

/// What `tier sync` does to one item: copy it to `target` (unless it is there), verify, record,
/// then drop the copies before it (hot and earlier tiers).
public struct TierMove: Sendable, Equatable {
    public enum Source: Sendable, Equatable { case hot, tier(String), alreadyThere }
    public var item: TierItem
    public var target: String
    public var source: Source
    public var removeHot: Bool
    public var removeTiers: [String]

    public var summary: String {
        var s: String
        switch source {
        case .hot: s = "copy \(item.label) from hot to \(target)"
        case .tier(let t): s = "copy \(item.label) from \(t) to \(target)"
        case .alreadyThere: s = "\(item.label) is on \(target)"
        }
        let drops = (removeHot ? ["hot"] : []) + removeTiers
        if !drops.isEmpty { s += "; then remove its copy on \(drops.joined(separator: ", "))" }
        return s
    }
}

/// Pure planning from the local catalog (never from a listing of the remote).
public enum TierPlanner {
    /// The deepest tier (up to `limit`) whose `after` the item's age has reached, and how to get there.
    public static func plan(_ items: [TierItem], tiers: [TierSettings], now: Date, limit: String? = nil) -> (moves: [TierMove], notes: [String]) {
        var usable = tiers
        if let l = limit, let i = tiers.firstIndex(where: { $0.name == l }) { usable = Array(tiers[...i]) }
        var moves: [TierMove] = []
        var notes: [String] = []
        for item in items {
            let age = now.timeIntervalSince(item.committedAt)
            guard let target = usable.last(where: { age >= $0.after }) else { continue }
            let before = tiers.prefix { $0.name != target.name }.map(\.name)
            let removeTiers = before.filter { item.copies.copy(on: $0) != nil }
            let source: TierMove.Source
            if item.copies.copy(on: target.name) != nil {
                source = .alreadyThere
                if !item.hot && removeTiers.isEmpty { continue }
            } else if item.hot {
                source = .hot
            } else if let from = item.copies.last(where: { c in tiers.contains { $0.name == c.tier } }) {
                source = .tier(from.tier)
            } else {
                notes.append("\(item.label): no hot copy and no recorded tier copy: nothing to sync")
                continue
            }
            moves.append(TierMove(item: item, target: target.name, source: source, removeHot: item.hot, removeTiers: removeTiers))
        }
        return (moves, notes)
    }
}
