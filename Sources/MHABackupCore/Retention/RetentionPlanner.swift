import Foundation
import MHABackupBase
import MHABackupFailover

/// One server's binlog archive as its `index.json` lists it.
public struct ArchiveListing: Sendable {
    public var folder: String
    public var host: String
    public var port: Int
    public var files: [ArchivedBinlog]

    public init(folder: String, host: String, port: Int, files: [ArchivedBinlog]) {
        self.folder = folder
        self.host = host
        self.port = port
        self.files = files
    }
}

/// Decides what retention keeps and deletes. Pure: the catalog, the timeline and the archive
/// indexes are passed in, and nothing is ordered by a file or object name (binlog names restart
/// on a new master); backups go by their consistent point, binlogs by the restore planner's
/// timeline walk and their archive time.
///
/// The rules, in order:
/// 1. a running backup and a partial one are kept ("running", "partial: left for verify");
///    failed and aborted ones go after `incremental_days`;
/// 2. complete fulls: GFS, the newest full of each of the last `full_daily` days, `full_weekly`
///    ISO weeks and `full_monthly` months that have one; complete incrementals: `incremental_days`;
///    the newest complete backup always;
/// 3. the maximum age (the last tier's keep), when given, ends every age rule of 2;
/// 4. chains: every ancestor of a kept incremental is kept ("parent of ID");
/// 5. point-in-time recovery: the newest kept backup at or before now - `binlog_days` (else the
///    oldest kept one) and every kept backup after it keep the binlogs that `restore --latest`
///    from them replays, as the restore planner selects them ("binlogs for PITR of ID");
///    older kept backups stay restorable to their own point; binlogs younger than `binlog_days`
///    and the newest one of each server are kept too; the rest is deleted.
public struct RetentionPlanner: Sendable {
    public var backups: [Manifest]
    public var timeline: Timeline
    public var archives: [ArchiveListing]
    public var policy: RetentionPolicy

    public init(backups: [Manifest], timeline: Timeline, archives: [ArchiveListing], policy: RetentionPolicy) {
        self.backups = backups
        self.timeline = timeline
        self.archives = archives
        self.policy = policy
    }

    /// Files archived this long before a backup's point cannot hold events after it (a file is
    /// closed, then archived); the restore planner is first asked with the files from there on,
    /// then, when that fails, with every file.
    static let archiveMargin: TimeInterval = 86_400

    public func plan(now: Date) -> RetentionPlan {
        var notes: [String] = []
        let point = { (m: Manifest) -> Date in (m.method.isPhysical ? m.finishedAt : m.startedAt) ?? m.startedAt }
        // Keep reasons by backup id; an id missing here is deleted with `deleteWhy`.
        var keep: [String: [String]] = [:]
        var deleteWhy: [String: String] = [:]
        func add(_ id: String, _ r: String) { keep[id, default: []].append(r) }

        let maxAgeCut = policy.maxAge.map { now.addingTimeInterval(-$0.seconds) }
        let maxAgeWhy = policy.maxAge.map { "older than \($0.tier) keep \(RetentionSettings.format($0.seconds))" }
        let incrCut = now.addingTimeInterval(-policy.incrementalKeep)
        let incrDays = RetentionSettings.format(policy.incrementalKeep)

        let complete = backups.filter { $0.status == .complete }
            .sorted { (point($0), $0.startedAt, $0.id) > (point($1), $1.startedAt, $1.id) }  // newest first
        for m in backups where m.status != .complete {
            switch m.status {
            case .running: add(m.id, "running")
            case .partial: add(m.id, "partial: left for verify")
            case .failed, .aborted:
                if m.startedAt >= incrCut { add(m.id, "\(m.status.rawValue): kept \(incrDays) for inspection") }
                else { deleteWhy[m.id] = "\(m.status.rawValue), older than \(incrDays) (incremental_days)" }
            case .complete: break
            }
        }
        // A backup newer than the plan's time (a what-if with --now in the past) is not judged.
        for m in complete where point(m) > now { add(m.id, "newer than the plan's time") }
        let judged = complete.filter { point($0) <= now }

        // GFS over the fulls, newest first; a bucket counts only when a full falls in it.
        let fulls = judged.filter { $0.type == .full }
        for (count, name, key) in [(policy.fullDaily, "daily", UTCPeriod.day), (policy.fullWeekly, "weekly", UTCPeriod.week),
                                   (policy.fullMonthly, "monthly", UTCPeriod.month)] as [(Int, String, (Date) -> String)] {
            var last: String? = nil
            var kept = 0
            for m in fulls where kept < count {
                let k = key(point(m))
                if k == last { continue }
                last = k
                kept += 1
                if let cut = maxAgeCut, point(m) < cut { deleteWhy[m.id] = maxAgeWhy; continue }
                add(m.id, "\(name) \(k)")
            }
        }
        for m in fulls where keep[m.id] == nil && deleteWhy[m.id] == nil {
            deleteWhy[m.id] = "older than the newest \(policy.fullDaily) daily, \(policy.fullWeekly) weekly and \(policy.fullMonthly) monthly fulls"
        }
        for m in judged where m.type == .incremental {
            if point(m) >= incrCut {
                if let cut = maxAgeCut, point(m) < cut { deleteWhy[m.id] = maxAgeWhy } else { add(m.id, "incremental within \(incrDays)") }
            } else {
                deleteWhy[m.id] = "older than \(incrDays) (incremental_days)"
            }
        }
        if let newest = judged.first { add(newest.id, "newest") }

        // Chains: a kept incremental keeps every ancestor it has in the catalog.
        let byId = Dictionary(backups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for m in judged.reversed() where m.type == .incremental && keep[m.id] != nil {
            var cur = m
            var seen: Set<String> = [m.id]
            while cur.type == .incremental {
                guard let pid = cur.parent, let p = byId[pid], seen.insert(pid).inserted else {
                    notes.append("incremental \(m.id) has a broken chain at \(cur.id) (parent \(cur.parent.map(q) ?? "none") not in the catalog); kept, but it cannot be restored")
                    break
                }
                if !(keep[pid] ?? []).contains(where: { $0.hasPrefix("parent of ") }) { add(pid, "parent of \(cur.id)") }
                cur = p
            }
        }

        var backupItems: [RetentionItem] = []
        for m in backups.sorted(by: { (point($0), $0.startedAt, $0.id) < (point($1), $1.startedAt, $1.id) }) {
            let reasons = keep[m.id] ?? [deleteWhy[m.id] ?? "older than every rule keeps"]
            backupItems.append(RetentionItem(kind: .backup, id: m.id, host: m.sourceHost, port: m.sourcePort, folder: nil,
                                             type: m.type.rawValue, status: m.status.rawValue, time: point(m),
                                             bytes: m.compressedBytes, action: keep[m.id] == nil ? .delete : .keep, reasons: reasons))
        }

        // Point-in-time recovery over the kept, complete backups.
        let keptComplete = complete.filter { keep[$0.id] != nil }.reversed() as [Manifest]  // oldest first
        let windowStart = now.addingTimeInterval(-policy.binlogKeep)
        let binlogDays = RetentionSettings.format(policy.binlogKeep)
        var needed: [String: [String: String]] = [:]  // folder -> name -> reason
        var pitrFrom: String? = nil
        if let base = keptComplete.last(where: { point($0) <= windowStart }) ?? keptComplete.first {
            pitrFrom = base.id
            let keptBackups = backups.filter { keep[$0.id] != nil }
            let folderOf = Dictionary(archives.map { ("\($0.host):\($0.port)", $0.folder) }, uniquingKeysWith: { a, _ in a })
            // Every file only when the recent ones do not plan (sorting 100,000 names costs).
            var allFiles: [String: [AvailableBinlog]]? = nil
            func all() -> [String: [AvailableBinlog]] {
                if let a = allFiles { return a }
                let a = Dictionary(archives.map { ("\($0.host):\($0.port)", Self.available($0.files)) }, uniquingKeysWith: { a, _ in a })
                allFiles = a
                return a
            }
            let since = point(base).addingTimeInterval(-Self.archiveMargin)
            let recent = Dictionary(archives.map { ("\($0.host):\($0.port)", Self.available($0.files.filter { $0.archivedAt >= since })) },
                                    uniquingKeysWith: { a, _ in a })
            for m in keptComplete where point(m) >= point(base) {
                let why = "binlogs for PITR of \(m.id)"
                var files: [(host: String, port: Int, name: String)] = []
                do {
                    files = try pitrFiles(m, backups: keptBackups, binlogs: recent)
                } catch {
                    do {
                        files = try pitrFiles(m, backups: keptBackups, binlogs: all())
                    } catch {
                        // Not restorable past its point as the archive stands: keep, not judge,
                        // every binlog archived since its point.
                        let msg = (error as? MBError)?.message ?? "\(error)"
                        notes.append("point-in-time restore from \(m.id) cannot be planned (\(msg)); every binlog archived since its point is kept")
                        let why = "archived after \(m.id), whose PITR plan fails"
                        for a in archives {
                            for f in a.files where f.archivedAt >= point(m) && needed[a.folder]?[f.name] == nil {
                                needed[a.folder, default: [:]][f.name] = why
                            }
                        }
                        continue
                    }
                }
                for f in files {
                    guard let folder = folderOf["\(f.host):\(f.port)"] else { continue }
                    if needed[folder]?[f.name] == nil { needed[folder, default: [:]][f.name] = why }
                }
            }
        } else if !archives.isEmpty {
            notes.append("no complete backup is kept: binlogs are kept by age only")
        }

        // Reason texts made once and shared (copy on write): 100,000 items, a handful of texts.
        let newer = "newer than the plan's time", within = "within \(binlogDays) (binlog_days)"
        let tooOldWhy = [maxAgeWhy ?? ""], oldWhy = ["older than \(binlogDays) (binlog_days)" + (pitrFrom.map { " and not needed for PITR from \($0)" } ?? "")]
        var shared: [Int: [String: [String]]] = [:]
        var binlogItems: [RetentionItem] = []
        binlogItems.reserveCapacity(archives.reduce(0) { $0 + $1.files.count })
        for a in archives {
            let neededHere = needed[a.folder] ?? [:]
            let newestWhy = "newest of \(a.host):\(a.port)"
            // One server's names do not restart within its own folder: a tie in time goes by name.
            let newest = a.files.max { $0.archivedAt != $1.archivedAt ? $0.archivedAt < $1.archivedAt : BinlogName.precedes($0.name, $1.name) }
            for f in a.files {
                let n = neededHere[f.name]
                let tooOld = maxAgeCut.map { f.archivedAt < $0 } ?? false
                let flags = (n == nil ? 0 : 1) | (f.archivedAt > now ? 2 : (f.archivedAt >= windowStart && !tooOld ? 4 : 0))
                    | (f.name == newest?.name ? 8 : 0)
                let reasons: [String]
                if flags == 0 {
                    reasons = tooOld ? tooOldWhy : oldWhy
                } else if let r = shared[flags]?[n ?? ""] {
                    reasons = r
                } else {
                    var r: [String] = []
                    if let n { r.append(n) }
                    if flags & 2 != 0 { r.append(newer) }
                    if flags & 4 != 0 { r.append(within) }
                    if flags & 8 != 0 { r.append(newestWhy) }
                    if flags & 8 == 0 { shared[flags, default: [:]][n ?? ""] = r }
                    reasons = r
                }
                let action: RetentionAction = flags == 0 ? .delete : .keep
                binlogItems.append(RetentionItem(kind: .binlog, id: f.name, host: a.host, port: a.port, folder: a.folder, type: nil,
                                                 status: nil, time: f.archivedAt, bytes: f.size, action: action, reasons: reasons))
            }
        }

        var s = RetentionPlan.Summary()
        for i in backupItems { if i.action == .keep { s.backupsKept += 1 } else { s.backupsDeleted += 1; s.bytesDeleted += i.bytes } }
        for i in binlogItems { if i.action == .keep { s.binlogsKept += 1 } else { s.binlogsDeleted += 1; s.bytesDeleted += i.bytes } }
        let view = RetentionPlan.PolicyView(fullDaily: policy.fullDaily, fullWeekly: policy.fullWeekly, fullMonthly: policy.fullMonthly,
                                            incrementalDays: incrDays, binlogDays: binlogDays,
                                            maxAge: policy.maxAge.map { "\($0.tier) \(RetentionSettings.format($0.seconds))" })
        return RetentionPlan(now: now, policy: view, pitrFrom: pitrFrom, backups: backupItems, binlogs: binlogItems, notes: notes, summary: s)
    }

    /// The archived files `restore --latest` from `m` would replay: the restore planner's own choice.
    func pitrFiles(_ m: Manifest, backups: [Manifest], binlogs: [String: [AvailableBinlog]]) throws -> [(host: String, port: Int, name: String)] {
        let planner = RestorePlanner(backups: backups, timeline: timeline) { host, port in binlogs["\(host):\(port)"] ?? [] }
        let plan = try planner.plan(target: .latest, backupId: m.id)
        return plan.segments.flatMap { s in s.files.filter { $0.origin == .archive }.map { (s.host, s.port, $0.name) } }
    }

    /// Index entries as the restore planner sees archived files, in its order.
    static func available(_ files: [ArchivedBinlog]) -> [AvailableBinlog] {
        files.map {
            AvailableBinlog(name: $0.name, path: $0.name, size: $0.size, origin: .archive, sha256: $0.sha256,
                            firstGtid: $0.firstGtid, lastGtid: $0.lastGtid)
        }.sorted { BinlogName.precedes($0.name, $1.name) }
    }
}
