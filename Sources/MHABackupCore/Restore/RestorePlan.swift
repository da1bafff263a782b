import Foundation
import MHABackupBase
import MHABackupFailover

/// Where a restore stops.
public enum RestoreTarget: Sendable, Equatable, CustomStringConvertible {
    /// As far as the archive goes: the newest backup and every binlog after it.
    case latest
    /// The backup's own consistent point, no binlogs (`--backup ID` alone).
    case backupPoint
    /// Up to (not including) the first event at or after this second.
    case time(Date)
    /// Up to this position of one server's binlog (`[HOST:]FILE:POS`).
    case position(host: String?, file: String, position: Int64)
    /// Up to and including this GTID (MariaDB `domain-server-seq`).
    case gtid(String)

    public var description: String {
        switch self {
        case .latest: return "the newest archived binlog event"
        case .backupPoint: return "the backup's own point"
        case .time(let d): return RestoreTarget.format(d) + " UTC"
        case .position(let h, let f, let p): return (h.map { "\($0):" } ?? "") + "\(f):\(p)"
        case .gtid(let g): return "gtid \(g)"
        }
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC, the form `mariadb-binlog --stop-datetime` reads (with TZ=UTC).
    public static func format(_ d: Date) -> String { Formatters.shared.formatUTC(d, "yyyy-MM-dd HH:mm:ss") }

    /// `--to-time`: ISO 8601 (`2026-11-25T17:20:00Z`, with or without zone: UTC) or `YYYY-MM-DD HH:MM:SS` (UTC).
    public static func parseTime(_ s: String) throws -> Date {
        let t = s.trimmingCharacters(in: .whitespaces)
        for fmt in ["yyyy-MM-dd'T'HH:mm:ssXXXXX", "yyyy-MM-dd'T'HH:mm:ss.SSSXXXXX", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm:ss"] {
            if let d = Formatters.shared.parseUTC(t, fmt) { return d }
        }
        throw MBError.usage("option '--to-time' must be a UTC time like '2026-11-25 17:20:00' or '2026-11-25T17:20:00Z', got \(q(s))")
    }

    /// `--to-position`: `FILE:POS` or `HOST:FILE:POS` (HOST may carry `:PORT` before the file? no: a host name only).
    public static func parsePosition(_ s: String) throws -> RestoreTarget {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, let pos = Int64(parts.last!), pos >= 4,
              BinlogName(parts[parts.count - 2]) != nil else {
            throw MBError.usage("option '--to-position' must be FILE:POS or HOST:FILE:POS (e.g. 'mysql-bin.000012:4711'), got \(q(s))")
        }
        if parts.count == 3 {
            guard HostName.isValid(parts[0]) else {
                throw MBError.usage("option '--to-position' names an invalid host \(q(parts[0]))")
            }
        }
        return .position(host: parts.count == 3 ? parts[0] : nil, file: parts[parts.count - 2], position: pos)
    }

    /// `--to-gtid`: one MariaDB GTID `domain-server-seq`.
    public static func parseGtid(_ s: String) throws -> RestoreTarget {
        guard Gtid(s) != nil else {
            throw MBError.usage("option '--to-gtid' must be one MariaDB GTID 'domain-server-seq' (e.g. '0-11-1234'), got \(q(s))")
        }
        return .gtid(s)
    }
}

/// A MariaDB GTID `domain-server-seq`.
public struct Gtid: Sendable, Equatable, CustomStringConvertible {
    public var domain: UInt32
    public var server: UInt32
    public var seq: UInt64

    public init?(_ s: String) {
        let p = s.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 3, let d = UInt32(p[0]), let sv = UInt32(p[1]), let n = UInt64(p[2]) else { return nil }
        domain = d
        server = sv
        seq = n
    }

    public var description: String { "\(domain)-\(server)-\(seq)" }

    /// The GTIDs of a position list (`0-11-5,1-12-9`); malformed entries are left out.
    public static func list(_ s: String?) -> [Gtid] {
        (s ?? "").split(separator: ",").compactMap { Gtid(String($0)) }
    }

    /// The GTID of `domain` in a position list.
    public static func inList(_ list: String?, domain: UInt32) -> Gtid? {
        Self.list(list).first { $0.domain == domain }
    }
}

/// One binlog file the restore can read.
public struct AvailableBinlog: Sendable, Equatable, Codable {
    public enum Origin: String, Sendable, Codable {
        /// In the archive with its checksum.
        case archive
        /// The binlog stream's copy of a file its master had open (the live master's current file, or
        /// the one a dead master died with): no checksum, its tail may end mid-event; used only
        /// for files newer than the archive's newest.
        case streamUnclosed = "stream-unclosed"
    }
    public var name: String
    public var path: String
    public var size: Int64
    public var origin: Origin
    public var sha256: String? = nil
    public var firstGtid: String? = nil
    public var lastGtid: String? = nil
    /// The binlog's own size when the archived file is encrypted (`size` is the stored bytes').
    public var plainSize: Int64? = nil
}

/// Where replay of one file or segment stops.
public enum ReplayStop: Sendable, Equatable, Codable {
    case end
    case position(Int64)
    case datetime(Date)
    case gtid(String)
}

/// The binlogs of one timeline's master applied in one `mariadb-binlog | mariadb` run.
public struct ReplaySegment: Sendable, Codable {
    public var timeline: Int
    public var host: String
    public var port: Int
    public var files: [AvailableBinlog]
    /// Position in the first file where replay starts (exclusive of what the base already has).
    public var startPosition: Int64
    /// When set, replay starts after this GTID position instead (`mariadb-binlog --start-position=GTID`):
    /// a backup that knows only its GTID in the master's history (a dump taken on a replica).
    public var startGtid: String? = nil
    public var stop: ReplayStop
    /// Why this segment starts and ends where it does.
    public var why: String
}

/// What a restore uses: the base chain (full first), then binlog segments in order.
public struct RestorePlan: Sendable, Codable {
    public var target: String
    public var chain: [Manifest]
    public var anchor: BackupAnchor?
    public var segments: [ReplaySegment]
    public var notes: [String]

    public var base: Manifest { chain.last! }

    /// The plan as lines for a human (`restore --plan`).
    public func render() -> [String] {
        var out = ["restore plan: to \(target)"]
        for (i, m) in chain.enumerated() {
            let what = "\(m.type.rawValue) \(m.method.rawValue) of \(m.sourceHost):\(m.sourcePort), finished \(m.finishedAt.map(RestoreTarget.format) ?? "?") UTC"
            out.append("  \(i == 0 ? "base" : "then")  \(m.id)  \(what)")
        }
        if let a = anchor {
            out.append("  point: \(a.host):\(a.port) " + (a.byGtid ? "" : "\(a.coordinates.file):\(a.coordinates.position) ")
                + (a.coordinates.gtid.map { "gtid \($0)" } ?? "") + " (timeline \(a.timeline))")
        }
        if segments.isEmpty { out.append("  binlogs: none") }
        for s in segments {
            out.append("  binlogs of \(s.host):\(s.port), timeline \(s.timeline): \(s.why)")
            for (i, f) in s.files.enumerated() {
                let from = i == 0 ? (s.startGtid.map { "after gtid \($0)" } ?? "from \(s.startPosition)") : "from start"
                var to = "to end"
                if i == s.files.count - 1 {
                    switch s.stop {
                    case .end: to = "to end"
                    case .position(let p): to = "to \(p)"
                    case .datetime(let d): to = "until \(RestoreTarget.format(d)) UTC"
                    case .gtid(let g): to = "through gtid \(g)"
                    }
                }
                let origin = f.origin == .archive ? "" : " [\(f.origin.rawValue): the stream's copy of a file the master had open; its last event may be cut]"
                out.append("    \(f.name)  \(from) \(to)  (\(f.size) bytes)\(origin)")
            }
        }
        for n in notes { out.append("  note: \(n)") }
        return out
    }
}

/// A backup's consistent point in its timeline master's binlog.
public struct BackupAnchor: Sendable, Codable, Equatable {
    public var timeline: Int
    public var host: String
    public var port: Int
    public var coordinates: Coordinates
    /// When the point was reached (a physical backup's end, a dump's start).
    public var at: Date
    /// Only the GTID is known in the master's history (its file is found in the archive).
    public var byGtid = false
}

/// Chooses the base chain and the binlog segments from the catalog, the timeline and the archives.
/// Pure: every input is passed in, so planning is tested without servers.
public struct RestorePlanner: Sendable {
    public var backups: [Manifest]
    public var timeline: Timeline
    /// Binlogs we hold of one server, oldest first.
    public var binlogs: @Sendable (_ host: String, _ port: Int) -> [AvailableBinlog]
    /// Runs on the chosen base before its chain is walked (restore: verify's files check, so a
    /// restore refuses with verify's own words).
    public var checkBase: (@Sendable (Manifest) throws -> Void)?

    public init(backups: [Manifest], timeline: Timeline, binlogs: @escaping @Sendable (String, Int) -> [AvailableBinlog]) {
        self.backups = backups
        self.timeline = timeline
        self.binlogs = binlogs
    }

    /// The point of a backup in the binlog of its timeline's master: its own coordinates when it
    /// ran on the master, the master's coordinates it had executed when it ran on a replica.
    public func anchor(of m: Manifest) -> BackupAnchor? {
        let at = pointTime(m)
        guard let entry = entry(forBackup: m) else { return nil }
        if m.sourceHost == entry.masterHost, m.sourcePort == entry.masterPort, let c = m.binlog, !c.file.isEmpty {
            return BackupAnchor(timeline: entry.id, host: entry.masterHost, port: entry.masterPort, coordinates: c, at: at)
        }
        if let r = m.replicaOf, r.masterHost == nil || r.masterHost == entry.masterHost, !r.coordinates.file.isEmpty {
            // `--slave-info` gives a file and position; the backup's own GTID position
            // (gtid_current_pos, taken under the same lock) is the same point by GTID.
            var c = r.coordinates
            if c.gtid == nil { c.gtid = m.binlog?.gtid }
            return BackupAnchor(timeline: entry.id, host: entry.masterHost, port: entry.masterPort, coordinates: c, at: at)
        }
        // On a replica without the master's coordinates (a dump): MariaDB GTIDs are the same on
        // every server, so the backup's GTID position is a point in the master's binlog too.
        if let g = m.binlog?.gtid, !g.isEmpty, Gtid.list(g).count == g.split(separator: ",").count {
            return BackupAnchor(timeline: entry.id, host: entry.masterHost, port: entry.masterPort,
                                coordinates: Coordinates(file: "", position: 4, gtid: g), at: at, byGtid: true)
        }
        return nil
    }

    func entry(forBackup m: Manifest) -> TimelineEntry? {
        if let id = m.timeline, let e = timeline.entries.first(where: { $0.id == id }) { return e }
        let at = m.startedAt
        return timeline.entries.last { $0.since <= at } ?? timeline.entries.first
    }

    /// The chain ending in `m`, full first; throws naming the first missing or unusable link.
    public func chain(ending m: Manifest) throws -> [Manifest] {
        var out = [m]
        var cur = m
        var seen: Set<String> = [m.id]
        while cur.type == .incremental {
            guard let pid = cur.parent else {
                throw MBError(.dataError, "broken chain: incremental \(q(cur.id)) names no parent")
            }
            guard let p = backups.first(where: { $0.id == pid }) else {
                throw MBError(.dataError, "broken chain: parent \(q(pid)) of \(q(cur.id)) is not in the catalog")
            }
            guard p.status == .complete else {
                throw MBError(.dataError, "broken chain: parent \(q(pid)) of \(q(cur.id)) is \(p.status.rawValue)"
                    + (p.message.map { " (\($0))" } ?? ""))
            }
            if let to = p.toLSN, let from = cur.fromLSN, to != from {
                throw MBError(.dataError, "broken chain: \(q(cur.id)) starts at LSN \(from) but its parent \(q(pid)) ends at \(to)")
            }
            guard seen.insert(pid).inserted else { throw MBError(.dataError, "broken chain: \(q(pid)) is its own ancestor") }
            out.insert(p, at: 0)
            cur = p
        }
        return out
    }

    /// Plans a restore to `target`, from backup `backupId` when given, else from the newest backup
    /// whose point lies before the target.
    public func plan(target: RestoreTarget, backupId: String? = nil) throws -> RestorePlan {
        let complete = backups.filter { $0.status == .complete }
        let base: Manifest
        if let backupId {
            guard let m = backups.first(where: { $0.id == backupId }) else {
                throw MBError(.noInput, "backup \(q(backupId)) is not in the catalog", hint: "mha-backup list shows the catalog")
            }
            guard m.status == .complete else {
                throw MBError(.dataError, "backup \(q(backupId)) is \(m.status.rawValue)" + (m.message.map { " (\($0))" } ?? "") + "; it cannot be restored")
            }
            base = m
        } else {
            guard !complete.isEmpty else { throw MBError(.noInput, "the catalog has no complete backup to restore from") }
            let eligible = complete.filter { isBefore($0, target) }
            guard let m = eligible.max(by: { pointTime($0) < pointTime($1) }) else {
                throw MBError(.noInput, "no complete backup has its point before \(target)",
                              hint: "the oldest is \(complete.map(\.id).min() ?? "?"); mha-backup list shows them")
            }
            base = m
        }
        try checkBase?(base)
        let chain = try chain(ending: base)
        var notes: [String] = []
        if case .backupPoint = target {
            return RestorePlan(target: "the point of \(base.id)", chain: chain, anchor: anchor(of: base), segments: [], notes: notes)
        }
        guard let a = anchor(of: base) else {
            throw MBError(.dataError, "backup \(q(base.id)) has no binlog coordinates of its timeline's master; binlogs cannot be replayed from it",
                          hint: "restore it alone with --backup \(base.id) and no --to-* option")
        }
        if case .time(let t) = target, a.at > t {
            throw MBError(.usage, "backup \(q(base.id)) reached its point at \(RestoreTarget.format(a.at)) UTC, after the target \(target)")
        }

        let entries = timeline.entries.isEmpty
            ? [TimelineEntry(id: a.timeline, masterHost: a.host, masterPort: a.port, since: .distantPast, reason: "no timeline recorded")]
            : timeline.entries
        guard let bIndex = entries.firstIndex(where: { $0.id == a.timeline }) else {
            throw MBError(.dataError, "backup \(q(base.id)) names timeline \(a.timeline), which timeline.json does not hold")
        }
        let tIndex = try targetTimelineIndex(target, entries: entries, from: bIndex, anchor: a)

        var segments: [ReplaySegment] = []
        for k in bIndex...tIndex {
            let e = entries[k]
            let successor = k + 1 < entries.count ? entries[k + 1] : nil
            let start: Coordinates
            var why: String
            var startGtid: String? = nil
            if k == bIndex, a.byGtid, let g = a.coordinates.gtid {
                // The first file holding a transaction after the backup's GTID position (a file
                // without GTIDs, e.g. a stream copy not yet read, may hold one).
                guard let first = firstFile(of: e, after: g, withoutGtids: true) else {
                    let missing = "no archived binlog of \(e.masterHost):\(e.masterPort) holds a transaction after gtid \(g) (the backup's point)"
                    if let over = try bridgeOverOldMaster(missing, anchor: a, successor: successor, target: k == tIndex ? target : nil) {
                        segments += over
                        continue
                    }
                    if target == .latest {
                        notes.append("no archived binlog of \(e.masterHost):\(e.masterPort) holds a transaction after gtid \(g); the restore ends at the backup's point")
                        continue
                    }
                    throw MBError(.noInput, "no archived binlog of \(e.masterHost):\(e.masterPort) holds a transaction after gtid \(g) (the backup's point)")
                }
                start = Coordinates(file: first.name, position: 4, gtid: g)
                startGtid = g
                why = "from the backup's gtid \(g)"
            } else if k == bIndex {
                start = a.coordinates
                why = "from the backup's point"
                if !binlogs(e.masterHost, e.masterPort).contains(where: { $0.name == start.file }),
                   let over = try bridgeOverOldMaster("binlog \(q(start.file)) of \(e.masterHost):\(e.masterPort) is not in the archive",
                                                      anchor: a, successor: successor, target: k == tIndex ? target : nil) {
                    segments += over
                    continue
                }
            } else {
                guard let p = e.promotion, !p.file.isEmpty else {
                    throw MBError(.dataError, "timeline \(e.id) (\(e.masterHost)) has no recorded promotion point; binlogs cannot be replayed across it")
                }
                start = p
                why = "from its promotion point (\(e.reason))"
                if let bridge = try bridge(after: segments.last, anchor: a, into: e, promotion: p) { segments.append(bridge) }
            }
            var stop = ReplayStop.end
            var lastFile: String? = nil
            if k == tIndex {
                switch target {
                case .latest, .backupPoint: why += ", to the newest event held"
                case .time(let t): stop = .datetime(t); why += ", until \(RestoreTarget.format(t)) UTC"
                case .position(_, let f, let p): stop = .position(p); lastFile = f; why += ", to \(f):\(p)"
                case .gtid(let g): stop = .gtid(g); why += ", through gtid \(g)"
                }
            } else if let end = entries[k + 1].previousMasterEnd, !end.file.isEmpty {
                stop = .position(end.position)
                lastFile = end.file
                why += ", to its last position before the \(entries[k + 1].failoverId == nil ? "switch" : "failover") (\(end.file):\(end.position))"
            } else {
                why += ", to the newest event held of it (its end at the failover was not recorded)"
            }
            if target == .latest, k == tIndex, !hasFile(host: e.masterHost, port: e.masterPort, atOrAfter: start.file) {
                // Nothing archived yet from there (the master still writes that file): the newest
                // point held is where this segment would start.
                notes.append("no binlog of \(e.masterHost):\(e.masterPort) from \(start.file) on is archived yet; the restore ends at "
                    + (k == bIndex ? "the backup's point" : "the promotion point of timeline \(e.id)")
                    + " (FLUSH BINARY LOGS and `binlog archive`, or a running `binlog stream`, bring it further)")
                continue
            }
            let files = try select(host: e.masterHost, port: e.masterPort, from: start.file, through: lastFile, timeline: e.id)
            if files.contains(where: { $0.origin == .streamUnclosed }) {
                notes.append("\(e.masterHost): the newest file is the live stream's copy of a file the master had open (not archived yet, or never closed when it died); a transaction cut at its end is rolled back")
            }
            let seg = ReplaySegment(timeline: e.id, host: e.masterHost, port: e.masterPort, files: files,
                                    startPosition: start.position, startGtid: startGtid, stop: stop, why: why)
            segments.append(seg)
            if k == tIndex, let rest = try bridgeToTarget(target, after: seg, successor: successor) { segments.append(rest) }
        }
        if case .position(_, let f, let p) = target, let last = segments.last?.files.last, last.name == f, p > last.plainSize ?? last.size {
            throw MBError(.noInput, "\(f) holds \(last.plainSize ?? last.size) bytes in the archive; position \(p) is past its end")
        }
        return RestorePlan(target: target.description, chain: chain, anchor: a, segments: segments, notes: notes)
    }

    /// The gap where the replicas were behind: the old master's archive ends before the new
    /// master's promotion GTID (our salvage did not get its last file: no ssh, no stream), yet the
    /// new master holds those transactions (replicated, or recovered by MHA from the dead master's
    /// saved binlog and the relay logs) in its own binlog before its promotion point. Replayed
    /// from there by GTID: after the last one the old master's segment applied, through the
    /// promotion GTID. Nil when there is no gap or it cannot be told (no GTIDs).
    func bridge(after prev: ReplaySegment?, anchor a: BackupAnchor, into e: TimelineEntry, promotion p: Coordinates) throws -> ReplaySegment? {
        guard let promoted = p.gtid, prev?.stop ?? .end == .end else { return nil }
        let reached = prev.map { $0.files.last?.lastGtid } ?? (a.coordinates.gtid)
        guard let reachedList = reached ?? nil, !reachedList.isEmpty else { return nil }
        let behind = ahead(promoted, of: reachedList)
        guard !behind.isEmpty else { return nil }
        return try bridge(from: reachedList, into: e, through: p.file, stop: .gtid(behind.map(\.description).joined(separator: ",")),
                          short: "the old master's archive ends at gtid \(reachedList) but \(e.masterHost) was promoted at \(promoted)",
                          why: "the gap where the replicas were behind: the old master's archive ends at gtid \(reachedList), "
                              + "the new master was promoted at \(promoted); its own binlog before the promotion holds the rest")
    }

    /// Host dead before any binlog of the old master was archived, and no stream ran: its binlog
    /// from the backup's point is not held at all. Its successor replicated it (GTIDs,
    /// log_slave_updates), so the successor's own binlog replays from the backup's GTID, through
    /// the promotion, or until `target` when the target lies before the failover. `short` says
    /// what the old master's archive lacks; it starts the refusal when the successor's archive
    /// lacks it too. Nil when there is nothing to bridge from (no successor, no GTIDs, a position
    /// in the old master's file as target); empty when nothing after the backup precedes the promotion.
    func bridgeOverOldMaster(_ short: String, anchor a: BackupAnchor, successor next: TimelineEntry?, target: RestoreTarget?) throws -> [ReplaySegment]? {
        guard let next, let p = next.promotion, !p.file.isEmpty, let promoted = p.gtid,
              let g = a.coordinates.gtid, !Gtid.list(g).isEmpty else { return nil }
        let behind = ahead(promoted, of: g)
        var end = (ReplayStop.gtid(behind.map(\.description).joined(separator: ",")), "through its promotion at gtid \(promoted)")
        if let target {
            guard let s = Self.stop(at: target) else { return nil }
            end = s
        }
        guard !behind.isEmpty else { return [] }
        return [try bridge(from: g, into: next, through: p.file, stop: end.0, short: short,
                           why: "\(a.host)'s binlog from the backup's point is not archived; \(next.masterHost) replicated it: its own binlog from the backup's gtid \(g), \(end.1)")]
    }

    /// A target before a failover that the old master's archive may not reach: it ends before
    /// the successor's promotion GTID (no stream, no salvage), so the rest up to the target is
    /// replayed from the successor's own binlog, after the last GTID held. Nil when the archive
    /// reaches the promotion, or holds the target GTID.
    func bridgeToTarget(_ target: RestoreTarget, after seg: ReplaySegment, successor next: TimelineEntry?) throws -> ReplaySegment? {
        guard let next, let p = next.promotion, !p.file.isEmpty, let promoted = p.gtid,
              let reached = seg.files.last?.lastGtid, !ahead(promoted, of: reached).isEmpty,
              let (stop, until) = Self.stop(at: target) else { return nil }
        if case .gtid(let x) = target, let want = Gtid(x), Gtid.inList(reached, domain: want.domain).map({ $0.seq >= want.seq }) ?? false {
            return nil
        }
        return try bridge(from: reached, into: next, through: p.file, stop: stop,
                          short: "the archive of \(seg.host):\(seg.port) ends at gtid \(reached), before \(next.masterHost) was promoted at \(promoted)",
                          why: "the archive of \(seg.host) ends at gtid \(reached), before the failover; \(next.masterHost) replicated it: its own binlog from there, \(until)")
    }

    /// Replays new master `e`'s own binlog, no further than its file `last`, after the GTID
    /// position `reached`: what the old master's archive lacks, as `e` replicated it (or MHA
    /// recovered it). Refuses with `short` and what `e`'s archive lacks when it holds none of it.
    func bridge(from reached: String, into e: TimelineEntry, through last: String, stop: ReplayStop, short: String, why: String) throws -> ReplaySegment {
        guard let first = firstFile(of: e, after: reached, withoutGtids: false, through: last) else {
            throw MBError(.noInput, "\(short), and no archived binlog of \(e.masterHost):\(e.masterPort) up to \(q(last)) holds the transactions after gtid \(reached)",
                          hint: "mha-backup binlog archive copies the binlogs the new master still has")
        }
        let files = try select(host: e.masterHost, port: e.masterPort, from: first.name, through: last, timeline: e.id)
        return ReplaySegment(timeline: e.id, host: e.masterHost, port: e.masterPort, files: files, startPosition: 4,
                             startGtid: reached, stop: stop, why: why)
    }

    /// The GTIDs of `promoted` beyond the position `reached`, in the domains `reached` holds.
    func ahead(_ promoted: String, of reached: String) -> [Gtid] {
        Gtid.list(promoted).filter { t in Gtid.inList(reached, domain: t.domain).map { $0.seq < t.seq } ?? false }
    }

    /// Where a bridge stops for a target before the failover, and how the plan says it.
    static func stop(at target: RestoreTarget) -> (ReplayStop, String)? {
        switch target {
        case .time(let t): return (.datetime(t), "until \(RestoreTarget.format(t)) UTC")
        case .gtid(let g): return (.gtid(g), "through gtid \(g)")
        case .latest, .backupPoint, .position: return nil
        }
    }

    /// The first file of a timeline's master (no later than `last`) holding a transaction after
    /// the GTID position `list`; `withoutGtids` says whether a file with no GTID recorded counts as holding one.
    func firstFile(of e: TimelineEntry, after list: String, withoutGtids: Bool, through last: String? = nil) -> AvailableBinlog? {
        let have = Gtid.list(list)
        let bound = last.flatMap { BinlogName($0) }
        return binlogs(e.masterHost, e.masterPort).first { f in
            if let bound, let n = BinlogName(f.name), n.base == bound.base, n.number > bound.number { return false }
            guard let last = f.lastGtid else { return withoutGtids }
            return have.contains { h in Gtid.inList(last, domain: h.domain).map { $0.seq > h.seq } ?? false }
        }
    }

    /// When a backup reached its point: a physical backup's end, a dump's start.
    func pointTime(_ m: Manifest) -> Date { (m.method.isPhysical ? m.finishedAt : m.startedAt) ?? m.startedAt }

    /// Whether a backup's point lies at or before the target.
    func isBefore(_ m: Manifest, _ target: RestoreTarget) -> Bool {
        let a = anchor(of: m)
        switch target {
        case .latest, .backupPoint:
            return true
        case .time(let t):
            return pointTime(m) <= t
        case .position(let host, let f, let p):
            guard let a else { return false }
            if let host, host != a.host { return timelineOrder(of: host, after: a.timeline) }
            if a.byGtid { return true }
            guard let x = BinlogName(a.coordinates.file), let y = BinlogName(f), x.base == y.base else {
                return timelineOrder(of: host ?? "", after: a.timeline)
            }
            return x < y || (x == y && a.coordinates.position <= p)
        case .gtid(let g):
            guard let a, let want = Gtid(g) else { return false }
            guard let have = Gtid.inList(a.coordinates.gtid ?? m.binlog?.gtid, domain: want.domain) else { return true }
            return have.seq < want.seq
        }
    }

    /// A host that becomes master on a later timeline than `after` counts as after the backup.
    func timelineOrder(of host: String, after: Int) -> Bool {
        timeline.entries.contains { $0.masterHost == host && $0.id > after }
    }

    func targetTimelineIndex(_ target: RestoreTarget, entries: [TimelineEntry], from b: Int, anchor a: BackupAnchor) throws -> Int {
        switch target {
        case .latest, .backupPoint:
            return entries.count - 1
        case .time(let t):
            return max(b, entries.lastIndex { $0.since <= t } ?? b)
        case .position(let host, let file, _):
            for k in stride(from: entries.count - 1, through: b, by: -1) {
                let e = entries[k]
                if let host, host != e.masterHost { continue }
                if binlogs(e.masterHost, e.masterPort).contains(where: { $0.name == file }) { return k }
            }
            throw MBError(.noInput, "no archived binlog \(q(file))" + (host.map { " of \(q($0))" } ?? "")
                + " on the timelines from \(entries[b].id) on", hint: "mha-backup restore --latest --plan lists the files held")
        case .gtid(let g):
            let want = Gtid(g)!
            func holds(_ e: TimelineEntry) -> Bool {
                binlogs(e.masterHost, e.masterPort).contains { f in
                    guard let lo = Gtid.inList(f.firstGtid, domain: want.domain), let hi = Gtid.inList(f.lastGtid, domain: want.domain) else { return false }
                    return lo.seq <= want.seq && want.seq <= hi.seq
                }
            }
            for k in stride(from: entries.count - 1, through: b, by: -1) {
                // A new master's binlog also holds what it replicated before its promotion: a
                // GTID up to the promotion belongs to an earlier timeline (bridged from there).
                if k > b, let p = Gtid.inList(entries[k].promotion?.gtid, domain: want.domain), want.seq <= p.seq { continue }
                if holds(entries[k]) || (k + 1 < entries.count && holds(entries[k + 1])) { return k }
            }
            throw MBError(.noInput, "no archived binlog holds gtid \(q(g)) on the timelines from \(entries[b].id) on")
        }
    }

    func hasFile(host: String, port: Int, atOrAfter first: String) -> Bool {
        guard let f = BinlogName(first) else { return false }
        return binlogs(host, port).contains { BinlogName($0.name).map { $0.base == f.base && $0.number >= f.number } ?? false }
    }

    /// The files of one server from `first` through `last` (or its newest), consecutive.
    func select(host: String, port: Int, from first: String, through last: String?, timeline: Int) throws -> [AvailableBinlog] {
        let all = binlogs(host, port)
        guard let startName = BinlogName(first) else {
            throw MBError(.dataError, "timeline \(timeline): \(q(first)) is not a binlog file name")
        }
        let candidates = all.filter { BinlogName($0.name).map { $0.base == startName.base && $0.number >= startName.number } ?? false }
            .sorted { BinlogName($0.name)! < BinlogName($1.name)! }
        guard let head = candidates.first, head.name == first else {
            throw MBError(.noInput, "binlog \(q(first)) of \(host):\(port) is not in the archive; replay of timeline \(timeline) cannot start",
                          hint: "mha-backup binlog archive copies what the server still has")
        }
        var out = [head]
        for f in candidates.dropFirst() {
            if let last, BinlogName(out.last!.name)!.number >= BinlogName(last)!.number { break }
            let prev = BinlogName(out.last!.name)!.number
            let n = BinlogName(f.name)!.number
            if n != prev + 1 {
                let width = first.count - startName.base.count - 1
                let missing = "\(startName.base).\(String(format: "%0\(width)d", prev + 1))"
                throw MBError(.noInput, "binlog \(q(missing)) of \(host):\(port) is missing from the archive: replay of timeline \(timeline) cannot go past \(q(out.last!.name))")
            }
            out.append(f)
        }
        if let last, out.last!.name != last {
            throw MBError(.noInput, "binlog \(q(last)) of \(host):\(port) is not in the archive: replay of timeline \(timeline) cannot reach it")
        }
        return out
    }
}
