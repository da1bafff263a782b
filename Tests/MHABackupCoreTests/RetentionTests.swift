import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI

/// Retention planning over synthetic histories, in memory.
@Suite("retention planning")
struct RetentionTests {
    /// 2026-11-01 00:00:00 UTC, a Sunday.
    static let day0 = Date(timeIntervalSince1970: 1_793_491_200)
    static func day(_ d: Double) -> Date { day0.addingTimeInterval(d * 86_400) }

    static func full(_ id: String, _ d: Double, source: String = "db2", master: String = "db1", timeline: Int = 1,
                     file: String = "mysql-bin.000001", status: BackupStatus = .complete) -> Manifest {
        Manifest(id: id, type: .full, method: .mariabackup, status: status, sourceHost: source, sourcePort: 3306,
                 sourceRole: source == master ? "master" : "replica", timeline: timeline,
                 startedAt: day(d).addingTimeInterval(-600), finishedAt: day(d), fromLSN: 0, toLSN: Int64(d * 1000),
                 binlog: Coordinates(file: source == master ? file : "own-bin.000001", position: 4),
                 replicaOf: source == master ? nil : .init(masterHost: master, coordinates: Coordinates(file: file, position: 4)),
                 compression: .zstd, compressedBytes: 1000)
    }

    static func incr(_ id: String, _ d: Double, parent: Manifest, file: String = "mysql-bin.000001") -> Manifest {
        var m = full(id, d, file: file)
        m.type = .incremental
        m.parent = parent.id
        m.fromLSN = parent.toLSN
        return m
    }

    static func ids(_ p: RetentionPlan, _ a: RetentionAction) -> [String] { p.backups.filter { $0.action == a }.map(\.id) }
    static func reasons(_ p: RetentionPlan, _ id: String) -> [String] { p.backups.first { $0.id == id }?.reasons ?? [] }

    @Test("UTC day, ISO week and month keys, across a year end")
    func periods() {
        func at(_ y: Int, _ m: Int, _ d: Int, _ s: Double = 0) -> Date {
            Date(timeIntervalSince1970: Double(UTCPeriod.daysFromCivil(y, m, d)) * 86_400 + s)
        }
        #expect(UTCPeriod.day(at(2026, 11, 28, 86_399)) == "2026-11-28")
        #expect(UTCPeriod.day(at(2026, 11, 29)) == "2026-11-29")
        #expect(UTCPeriod.week(at(2026, 11, 28)) == "2026-W48")
        #expect(UTCPeriod.week(at(2026, 12, 28)) == "2026-W53")
        #expect(UTCPeriod.week(at(2027, 1, 3, 86_399)) == "2026-W53")
        #expect(UTCPeriod.week(at(2027, 1, 4)) == "2027-W01")
        #expect(UTCPeriod.week(at(2025, 12, 29)) == "2026-W01")
        #expect(UTCPeriod.month(at(2026, 10, 31, 86_399)) == "2026-10")
        #expect(UTCPeriod.month(at(2026, 11, 1)) == "2026-11")
    }

    @Test("GFS: one full a day for 90 days keeps 7 daily, 4 weekly and 12 monthly (the newest of each), the rest goes")
    func gfsDaily() {
        let fulls = (0..<90).map { Self.full("f\($0)", Double($0) + 0.1) }
        let p = RetentionPlanner(backups: fulls, timeline: Timeline(), archives: [], policy: RetentionPolicy()).plan(now: Self.day(89.5))
        let kept = Set(Self.ids(p, .keep))
        // Days 83-89 daily; weeks: the newest full of the 4 newest ISO weeks (day 89 itself, then the
        // Sundays 84, 77 and 70); months: Jan, Dec, Nov (the newest of each: days 89, 60, 29).
        #expect(kept == Set((83...89).map { "f\($0)" } + ["f77", "f70", "f60", "f29"]))
        #expect(Self.reasons(p, "f89").contains("daily 2027-01-29") && Self.reasons(p, "f89").contains("newest"))
        #expect(Self.reasons(p, "f77") == ["weekly 2027-W02"])
        #expect(Self.reasons(p, "f84") == ["daily 2027-01-24", "weekly 2027-W03"])
        #expect(Self.reasons(p, "f60") == ["monthly 2026-12"])
        #expect(Self.reasons(p, "f29") == ["monthly 2026-11"])
        #expect(Self.reasons(p, "f10") == ["older than the newest 7 daily, 4 weekly and 12 monthly fulls"])
        #expect(p.summary.backupsDeleted == 90 - kept.count)
    }

    @Test("GFS counts the days that have a backup: an old history keeps its 7 newest, however old")
    func gfsSparse() {
        let fulls = (0..<10).map { Self.full("f\($0)", Double($0 * 10)) }
        let policy = RetentionPolicy(fullDaily: 7, fullWeekly: 0, fullMonthly: 0)
        let p = RetentionPlanner(backups: fulls, timeline: Timeline(), archives: [], policy: policy).plan(now: Self.day(400))
        #expect(Self.ids(p, .keep) == (3..<10).map { "f\($0)" })
    }

    @Test("two fulls one minute apart across UTC midnight are two days; two on one day keep the newer")
    func dayBoundary() {
        let a = Self.full("a", 4.9995), b = Self.full("b", 5.0005), c = Self.full("c", 5.5)
        let policy = RetentionPolicy(fullDaily: 2, fullWeekly: 0, fullMonthly: 0)
        let p = RetentionPlanner(backups: [a, b, c], timeline: Timeline(), archives: [], policy: policy).plan(now: Self.day(6))
        #expect(Self.ids(p, .keep) == ["a", "c"])
        #expect(Self.reasons(p, "a") == ["daily 2026-11-05"] && Self.reasons(p, "c").first == "daily 2026-11-06")
    }

    @Test("a kept incremental keeps its whole chain; running and partial backups are never deleted")
    func chains() {
        let f = Self.full("f", 1)
        let i1 = Self.incr("i1", 2, parent: f), i2 = Self.incr("i2", 9, parent: i1)
        let running = Self.full("r", 3, status: .running), partial = Self.full("p", 3.5, status: .partial)
        let f2 = Self.full("f2", 8)
        let policy = RetentionPolicy(fullDaily: 1, fullWeekly: 0, fullMonthly: 0, incrementalKeep: 2 * 86_400)
        let p = RetentionPlanner(backups: [f, i1, i2, running, partial, f2], timeline: Timeline(), archives: [], policy: policy)
            .plan(now: Self.day(10))
        #expect(Self.ids(p, .delete).isEmpty)
        #expect(Self.reasons(p, "i2") == ["incremental within 2d", "newest"])
        #expect(Self.reasons(p, "i1") == ["parent of i2"])
        #expect(Self.reasons(p, "f") == ["parent of i1"])
        #expect(Self.reasons(p, "r") == ["running"] && Self.reasons(p, "p") == ["partial: left for verify"])
        // Once i2 is older than incremental_days and no longer the newest, the chain goes with it.
        let f3 = Self.full("f3", 11)
        let later = RetentionPlanner(backups: [f, i1, i2, f2, f3], timeline: Timeline(), archives: [], policy: policy).plan(now: Self.day(12))
        #expect(Self.ids(later, .delete) == ["f", "i1", "f2", "i2"])
        #expect(Self.reasons(later, "i2") == ["older than 2d (incremental_days)"])
    }

    @Test("the maximum age (last tier) overrides GFS but not the chain")
    func maxAge() {
        let f = Self.full("f", 1), i = Self.incr("i", 40, parent: f), g = Self.full("g", 20)
        let policy = RetentionPolicy(fullDaily: 7, fullWeekly: 4, fullMonthly: 12, incrementalKeep: 7 * 86_400,
                                     maxAge: .init(tier: "cold", seconds: 30 * 86_400))
        let p = RetentionPlanner(backups: [f, g, i], timeline: Timeline(), archives: [], policy: policy).plan(now: Self.day(55))
        #expect(Self.reasons(p, "g") == ["older than cold keep 30d"])
        #expect(Self.reasons(p, "f") == ["parent of i"])
        #expect(Self.ids(p, .delete) == ["g"])
    }

    // MARK: binlogs across a failover

    /// db1 master until day 20 (mysql-bin.000001-20, file n archived on day n, 5 GTIDs each);
    /// db2 promoted on day 20 at its own mysql-bin.000001:500, the names starting again
    /// (db2's mysql-bin.000001-10 archived on days 21-30).
    static let timeline = Timeline(entries: [
        TimelineEntry(id: 1, masterHost: "db1", masterPort: 3306, since: day(0), reason: "initial"),
        TimelineEntry(id: 2, masterHost: "db2", masterPort: 3306, since: day(20),
                      promotion: Coordinates(file: "mysql-bin.000001", position: 500, gtid: "0-1-100"), failoverId: "f1", reason: "failover"),
    ])

    static func archive(_ host: String, _ n: ClosedRange<Int>, dayOffset: Double, gtid: (Int) -> (String, String)) -> ArchiveListing {
        ArchiveListing(folder: "\(host)_3306", host: host, port: 3306, files: n.map { i in
            ArchivedBinlog(name: "mysql-bin." + padded(i, width: 6), size: 100, sha256: String(repeating: "a", count: 64),
                           archivedAt: day(Double(i) + dayOffset), sourceHost: host, sourcePort: 3306, via: "ssh",
                           firstGtid: gtid(i).0, lastGtid: gtid(i).1)
        })
    }
    static let db1 = archive("db1", 1...20, dayOffset: 0) { ("0-1-\($0 * 5 - 4)", "0-1-\($0 * 5)") }
    static let db2 = archive("db2", 1...10, dayOffset: 20) { ("0-2-\(100 + $0 * 5 - 4)", "0-2-\(100 + $0 * 5)") }

    static func failoverHistory() -> [Manifest] {
        [Self.full("F05", 5.5, file: "mysql-bin.000006"), Self.full("F12", 12.5, file: "mysql-bin.000013"),
         Self.full("F18", 18.5, file: "mysql-bin.000019"),
         Self.full("F22", 22.5, source: "db2", master: "db2", timeline: 2, file: "mysql-bin.000003"),
         Self.full("F25", 25.5, source: "db2", master: "db2", timeline: 2, file: "mysql-bin.000006"),
         Self.full("F28", 28.5, source: "db2", master: "db2", timeline: 2, file: "mysql-bin.000009")]
    }

    static func binlog(_ p: RetentionPlan, _ host: String, _ n: Int) -> RetentionItem? {
        p.binlogs.first { $0.host == host && $0.id == "mysql-bin." + padded(n, width: 6) }
    }

    @Test("binlogs for PITR are kept on both sides of a promotion point where the names restart; older ones go")
    func binlogsAcrossFailover() throws {
        let policy = RetentionPolicy(fullDaily: 5, fullWeekly: 0, fullMonthly: 0, binlogKeep: 10 * 86_400)
        let p = RetentionPlanner(backups: Self.failoverHistory(), timeline: Self.timeline, archives: [Self.db1, Self.db2], policy: policy)
            .plan(now: Self.day(30.5))
        #expect(Self.ids(p, .delete) == ["F05"])
        // The window starts at day 20.5: F18 (day 18.5) is the newest kept backup before it.
        #expect(p.pitrFrom == "F18")
        for n in 1...18 { #expect(Self.binlog(p, "db1", n)?.action == .delete, "db1 \(n)") }
        #expect(Self.binlog(p, "db1", 5)?.reasons == ["older than 10d (binlog_days) and not needed for PITR from F18"])
        for n in 19...20 { #expect(Self.binlog(p, "db1", n)?.reasons.first == "binlogs for PITR of F18") }
        // The new master's mysql-bin.000001 is the oldest name but among the newest files: kept.
        for n in 1...10 { #expect(Self.binlog(p, "db2", n)?.reasons.first == "binlogs for PITR of F18", "db2 \(n)") }
        #expect(Self.binlog(p, "db2", 10)?.reasons.contains("newest of db2:3306") == true)
        #expect(p.summary.binlogsDeleted == 18)
    }

    @Test("a window base after the failover lets the old master's binlogs go, but for its newest")
    func windowAfterFailover() throws {
        let policy = RetentionPolicy(fullDaily: 3, fullWeekly: 0, fullMonthly: 0, binlogKeep: 7 * 86_400)
        let p = RetentionPlanner(backups: Self.failoverHistory(), timeline: Self.timeline, archives: [Self.db1, Self.db2], policy: policy)
            .plan(now: Self.day(30.5))
        #expect(p.pitrFrom == "F22")
        #expect(Self.ids(p, .keep) == ["F22", "F25", "F28"])
        #expect(Self.binlog(p, "db1", 20)?.reasons == ["newest of db1:3306"])
        #expect(Self.binlog(p, "db1", 19)?.action == .delete)
        #expect(Self.binlog(p, "db2", 1)?.action == .delete)
        #expect(Self.binlog(p, "db2", 3)?.reasons.first == "binlogs for PITR of F22")
    }

    @Test("a binlog missing from the window keeps everything archived after the base, with a note")
    func brokenArchive() throws {
        var db1 = Self.db1
        db1.files.removeAll { $0.name == "mysql-bin.000019" }
        let policy = RetentionPolicy(fullDaily: 5, fullWeekly: 0, fullMonthly: 0, binlogKeep: 10 * 86_400)
        let p = RetentionPlanner(backups: Self.failoverHistory(), timeline: Self.timeline, archives: [db1, Self.db2], policy: policy)
            .plan(now: Self.day(30.5))
        #expect(p.notes.contains { $0.contains("F18") && $0.contains("cannot be planned") })
        #expect(Self.binlog(p, "db1", 20)?.reasons.first == "archived after F18, whose PITR plan fails")
        #expect(Self.binlog(p, "db1", 18)?.action == .delete)
    }

    @Test("nothing to delete; the JSON shape")
    func nothingAndJSON() throws {
        let p = RetentionPlanner(backups: [Self.full("f", 1)], timeline: Timeline(), archives: [], policy: RetentionPolicy())
            .plan(now: Self.day(2))
        #expect(p.nothingToDelete)
        let obj = try #require(try JSONSerialization.jsonObject(with: JSON.encode(p)) as? [String: Any])
        #expect(Set(obj.keys) == ["now", "policy", "pitrFrom", "backups", "binlogs", "notes", "summary"])
        let item = try #require((obj["backups"] as? [[String: Any]])?.first)
        #expect(Set(item.keys) == ["kind", "id", "host", "port", "type", "status", "time", "bytes", "action", "reasons"])
        #expect(item["action"] as? String == "keep" && item["kind"] as? String == "backup")
        // The streamed --json is the Codable document, item for item.
        var streamed = ""
        let wide = RetentionPlanner(backups: Self.failoverHistory(), timeline: Self.timeline, archives: [Self.db1, Self.db2],
                                    policy: RetentionPolicy(fullDaily: 5, fullWeekly: 0, fullMonthly: 0, binlogKeep: 10 * 86_400)).plan(now: Self.day(30.5))
        try wide.writeJSON { streamed += $0 }
        let a = try JSONSerialization.jsonObject(with: Data(streamed.utf8)) as? NSDictionary
        let b = try JSONSerialization.jsonObject(with: JSON.encode(wide)) as? NSDictionary
        #expect(a != nil && a == b)
        #expect(RetentionPlan.quoted("a\"b\\c\n\u{1}") == "\"a\\\"b\\\\c\\n\\u0001\"")
        let text = RetentionCommand.render(p, confirmed: false)
        #expect(text.first?.contains("dry run") == true && text.last?.hasPrefix("nothing to delete") == true)
    }

    @Test("[retention] settings: defaults, day/hour/minute durations, bad values named")
    func settings() throws {
        #expect(RetentionSettings.duration("7") == 7 * 86_400 && RetentionSettings.duration("7d") == 7 * 86_400)
        #expect(RetentionSettings.duration("36h") == 36 * 3_600 && RetentionSettings.duration("90m") == 5_400)
        #expect(RetentionSettings.duration("7w") == nil && RetentionSettings.duration("-1") == nil && RetentionSettings.duration("d") == nil)
        #expect(RetentionSettings.format(7 * 86_400) == "7d" && RetentionSettings.format(36 * 3_600) == "36h")
        let ini = try INIFile.parse("[retention]\nfull_daily = 3\nbinlog_days = 36h\n", path: "x.cnf", inlineComments: true)
        let s = try RetentionSettings.parse(ini)
        #expect(s.fullDaily == 3 && s.fullWeekly == 4 && s.binlogKeep == 36 * 3_600 && s.incrementalKeep == 7 * 86_400)
        let bad = try INIFile.parse("[retention]\nincremental_days = soon\n", path: "x.cnf", inlineComments: true)
        #expect(throws: MBError.self) { try RetentionSettings.parse(bad) }
    }
}
