import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// Planning a restore from a catalog, a timeline and archives given in memory.
@Suite("restore planning")
struct RestorePlanTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18
    static func at(_ s: TimeInterval) -> Date { t0.addingTimeInterval(s) }

    static func backup(_ id: String, type: BackupType = .full, method: BackupMethod = .mariabackup, source: String = "db2",
                       started: TimeInterval, finished: TimeInterval, timeline: Int = 1, master: String = "db1",
                       file: String, pos: Int64, parent: String? = nil, from: Int64? = nil, to: Int64? = nil,
                       status: BackupStatus = .complete) -> Manifest {
        Manifest(id: id, type: type, method: method, status: status, sourceHost: source, sourcePort: 3306,
                 sourceServerId: nil, sourceVersion: nil, sourceRole: source == master ? "master" : "replica", timeline: timeline,
                 startedAt: at(started), finishedAt: at(finished), fromLSN: from, toLSN: to, lastLSN: nil,
                 binlog: Coordinates(file: "own-bin.000001", position: 4),
                 replicaOf: source == master ? nil : .init(masterHost: master, coordinates: Coordinates(file: file, position: pos)),
                 parent: parent, compression: .zstd)
    }

    /// db1 is master on timeline 1; it fails over to db2 at t0+1000 (promotion at db2's bin.000007:500).
    static let timeline = Timeline(entries: [
        TimelineEntry(id: 1, masterHost: "db1", masterPort: 3306, since: at(0), reason: "initial"),
        TimelineEntry(id: 2, masterHost: "db2", masterPort: 3306, since: at(1000),
                      promotion: Coordinates(file: "bin.000007", position: 500, gtid: "0-1-69"),
                      previousMasterEnd: nil, failoverId: "f1", reason: "failover"),
    ])

    static func files(_ host: String, _ numbers: ClosedRange<Int>, unclosed: Int? = nil) -> [AvailableBinlog] {
        var out = numbers.map { n in
            AvailableBinlog(name: String(format: "bin.%06d", n), path: "/a/\(host)/" + String(format: "bin.%06d", n), size: 10_000,
                            origin: .archive, sha256: "x", firstGtid: "0-1-\(n * 10)", lastGtid: "0-1-\(n * 10 + 9)")
        }
        if let u = unclosed {
            out.append(AvailableBinlog(name: String(format: "bin.%06d", u), path: "/s/\(host)/" + String(format: "bin.%06d", u), size: 777, origin: .streamUnclosed))
        }
        return out
    }

    static func planner(_ backups: [Manifest], db1: [AvailableBinlog] = files("db1", 3...6), db2: [AvailableBinlog] = files("db2", 7...8),
                        timeline: Timeline = timeline) -> RestorePlanner {
        RestorePlanner(backups: backups, timeline: timeline) { host, _ in host == "db1" ? db1 : host == "db2" ? db2 : [] }
    }

    @Test("a time after the failover: the old master's binlogs from the backup's point, then the new master's from its promotion")
    func acrossFailover() throws {
        let p = try Self.planner([Self.backup("b1", started: 100, finished: 110, file: "bin.000003", pos: 1234)])
            .plan(target: .time(Self.at(1500)))
        #expect(p.chain.map(\.id) == ["b1"])
        #expect(p.segments.count == 2)
        let (s1, s2) = (p.segments[0], p.segments[1])
        #expect(s1.host == "db1" && s1.startPosition == 1234 && s1.files.map(\.name) == ["bin.000003", "bin.000004", "bin.000005", "bin.000006"])
        #expect(s1.stop == .end)
        #expect(s2.host == "db2" && s2.startPosition == 500 && s2.files.map(\.name) == ["bin.000007", "bin.000008"])
        #expect(s2.stop == .datetime(Self.at(1500)))
        let argv = RestoreExecutor.binlogArgv(s2)
        #expect(argv.contains("--start-position=500") && argv.contains("--stop-datetime=\(RestoreTarget.format(Self.at(1500)))"))
    }

    @Test("a time before the failover: the old master only, until that time; the newest backup before it is the base")
    func beforeFailover() throws {
        let p = try Self.planner([
            Self.backup("b1", started: 100, finished: 110, file: "bin.000003", pos: 1234),
            Self.backup("b2", started: 600, finished: 650, file: "bin.000005", pos: 99),
            Self.backup("b3", started: 1100, finished: 1200, timeline: 2, master: "db2", file: "bin.000007", pos: 900),
        ]).plan(target: .time(Self.at(700)))
        #expect(p.chain.map(\.id) == ["b2"])
        #expect(p.segments.count == 1)
        #expect(p.segments[0].files.map(\.name) == ["bin.000005", "bin.000006"])
        #expect(p.segments[0].startPosition == 99 && p.segments[0].stop == .datetime(Self.at(700)))
    }

    @Test("the old master's recorded end bounds its segment")
    func previousMasterEnd() throws {
        var tl = Self.timeline
        tl.entries[1].previousMasterEnd = Coordinates(file: "bin.000005", position: 4321)
        let p = try Self.planner([Self.backup("b1", started: 100, finished: 110, file: "bin.000003", pos: 1234)], timeline: tl)
            .plan(target: .latest)
        #expect(p.segments[0].files.map(\.name) == ["bin.000003", "bin.000004", "bin.000005"])
        #expect(p.segments[0].stop == .position(4321))
        #expect(p.segments[1].stop == .end)
    }

    @Test("a file missing from the archive: the plan refuses, naming it")
    func gap() throws {
        var db1 = Self.files("db1", 3...6)
        db1.removeAll { $0.name == "bin.000005" }
        let e = #expect(throws: MBError.self) {
            try Self.planner([Self.backup("b1", started: 100, finished: 110, file: "bin.000003", pos: 1234)], db1: db1).plan(target: .latest)
        }
        #expect(e?.message.contains("'bin.000005' of db1:3306 is missing from the archive") == true, "\(e?.message ?? "")")
    }

    @Test("the stream's copy of a file the dead master never closed ends the old master's segment")
    func streamUnclosed() throws {
        let p = try Self.planner([Self.backup("b1", started: 100, finished: 110, file: "bin.000003", pos: 1234)],
                                 db1: Self.files("db1", 3...5, unclosed: 6)).plan(target: .latest)
        #expect(p.segments[0].files.last?.origin == .streamUnclosed)
        #expect(p.notes.contains { $0.contains("never closed") })
        #expect(p.render().contains { $0.contains("stream-unclosed") })
    }

    @Test("--latest with nothing archived after the point yet: the restore ends there and says why; a time target refuses")
    func nothingArchivedYet() throws {
        let b = [Self.backup("b1", source: "db3", started: 100, finished: 110, timeline: 2, master: "db2", file: "bin.000009", pos: 44)]
        let p = try Self.planner(b).plan(target: .latest)
        #expect(p.segments.isEmpty)
        #expect(p.notes.contains { $0.contains("from bin.000009 on is archived yet") }, "\(p.notes)")
        #expect(throws: MBError.self) { try Self.planner(b).plan(target: .time(Self.at(2000))) }
    }

    @Test("a dump taken on a replica: its GTID locates it in the master's archive; replay starts after that GTID")
    func dumpOnReplica() throws {
        var d = Self.backup("d1", method: .dump, source: "db3", started: 100, finished: 130, file: "x", pos: 0)
        d.replicaOf = nil
        d.binlog = Coordinates(file: "db3-bin.000002", position: 999, gtid: "0-1-47")
        let p = try Self.planner([d]).plan(target: .time(Self.at(1500)))
        #expect(p.anchor?.byGtid == true)
        // bin.000004 holds 0-1-40..49: the first file with a transaction after 0-1-47.
        #expect(p.segments[0].files.map(\.name) == ["bin.000004", "bin.000005", "bin.000006"])
        #expect(p.segments[0].startGtid == "0-1-47")
        #expect(RestoreExecutor.binlogArgv(p.segments[0]).contains("--start-position=0-1-47"))
        #expect(p.segments[1].startGtid == nil && p.segments[1].startPosition == 500)
        #expect(p.render().contains { $0.contains("after gtid 0-1-47") })
    }

    @Test("the gap where the replicas were behind: the old master's archive ends before the promotion GTID; the new master's own binlog bridges it")
    func bridge() throws {
        var tl = Self.timeline
        tl.entries[1].promotion = Coordinates(file: "bin.000008", position: 500, gtid: "0-1-85")
        let b = [Self.backup("b1", started: 100, finished: 110, file: "bin.000003", pos: 1234)]
        let p = try Self.planner(b, db1: Self.files("db1", 3...5), timeline: tl).plan(target: .latest)
        #expect(p.segments.map(\.host) == ["db1", "db2", "db2"])
        let br = p.segments[1]
        // db1 ends at 0-1-59 (bin.000005); db2's bin.000006 is not archived, bin.000007 holds 70-79.
        #expect(br.startGtid == "0-1-59" && br.stop == .gtid("0-1-85"))
        #expect(br.files.map(\.name) == ["bin.000007", "bin.000008"])
        #expect(RestoreExecutor.binlogArgv(br).contains("--stop-position=0-1-85"))
        #expect(p.segments[2].startPosition == 500 && p.segments[2].files.first?.name == "bin.000008")
        // No gap: no bridge.
        tl.entries[1].promotion?.gtid = "0-1-59"
        #expect(try Self.planner(b, db1: Self.files("db1", 3...5), timeline: tl).plan(target: .latest).segments.count == 2)
    }

    @Test("host dead, no stream, nothing of the old master archived: the new master's own binlog bridges from the backup's GTID, through its promotion (--latest) or until a time before the failover")
    func bridgeWithoutOldMasterArchive() throws {
        // db1 died on its first binlog, never archived. db2 replicated it (log_slave_updates):
        // its bin.000001 holds 0-1-1..69, then its own writes as master from 0-2-70.
        var tl = Self.timeline
        tl.entries[1].promotion = Coordinates(file: "bin.000001", position: 9000, gtid: "0-1-69")
        var b1 = Self.backup("b1", source: "db3", started: 100, finished: 110, file: "bin.000001", pos: 1234)
        b1.binlog = Coordinates(file: "db3-bin.000001", position: 4, gtid: "0-1-40")
        let db2 = [
            AvailableBinlog(name: "bin.000001", path: "/a/db2/bin.000001", size: 20_000, origin: .archive, sha256: "x", firstGtid: "0-1-1", lastGtid: "0-2-75"),
            AvailableBinlog(name: "bin.000002", path: "/a/db2/bin.000002", size: 10_000, origin: .archive, sha256: "x", firstGtid: "0-2-76", lastGtid: "0-2-80"),
        ]
        let planner = Self.planner([b1], db1: [], db2: db2, timeline: tl)

        let latest = try planner.plan(target: .latest, backupId: "b1")
        #expect(latest.segments.map(\.host) == ["db2", "db2"], "\(latest.render())")
        let br = try #require(latest.segments.first)
        #expect(br.startGtid == "0-1-40" && br.stop == .gtid("0-1-69") && br.files.map(\.name) == ["bin.000001"])
        #expect(RestoreExecutor.binlogArgv(br).contains("--start-position=0-1-40"))
        #expect(latest.segments[1].startPosition == 9000 && latest.segments[1].files.map(\.name) == ["bin.000001", "bin.000002"])
        #expect(latest.segments[1].stop == .end)

        let before = try planner.plan(target: .time(Self.at(700)), backupId: "b1")
        #expect(before.segments.count == 1, "\(before.render())")
        let s = try #require(before.segments.first)
        #expect(s.host == "db2" && s.startGtid == "0-1-40" && s.stop == .datetime(Self.at(700)) && s.files.map(\.name) == ["bin.000001"])
        #expect(RestoreExecutor.binlogArgv(s).contains("--stop-datetime=\(RestoreTarget.format(Self.at(700)))"))

        // A GTID before the failover is on the old master's timeline, though the new master's binlog holds it.
        let toGtid = try planner.plan(target: .gtid("0-1-55"), backupId: "b1")
        #expect(toGtid.segments.count == 1 && toGtid.segments[0].host == "db2" && toGtid.segments[0].stop == .gtid("0-1-55"), "\(toGtid.render())")

        // Neither the old master's archive nor the new master's holds what follows the backup: refused, naming both.
        for target in [RestoreTarget.latest, .time(Self.at(700))] {
            let e = #expect(throws: MBError.self) { try Self.planner([b1], db1: [], db2: [db2[1]], timeline: tl).plan(target: target, backupId: "b1") }
            #expect(e?.code == .noInput)
            #expect(e?.message.contains("'bin.000001' of db1:3306 is not in the archive") == true, "\(e?.message ?? "")")
            #expect(e?.message.contains("db2:3306") == true && e?.message.contains("0-1-40") == true, "\(e?.message ?? "")")
        }
    }

    @Test("a time before the failover past the end of the old master's archive (it ends before the promotion GTID): the new master's binlog goes on from its last GTID until that time")
    func bridgeToTimeBeforeFailover() throws {
        var tl = Self.timeline
        tl.entries[1].promotion = Coordinates(file: "bin.000008", position: 500, gtid: "0-1-85")
        let b = [Self.backup("b1", started: 100, finished: 110, file: "bin.000003", pos: 1234)]
        let p = try Self.planner(b, db1: Self.files("db1", 3...5), timeline: tl).plan(target: .time(Self.at(900)))
        #expect(p.segments.map(\.host) == ["db1", "db2"], "\(p.render())")
        #expect(p.segments[0].stop == .datetime(Self.at(900)) && p.segments[0].files.last?.name == "bin.000005")
        #expect(p.segments[1].startGtid == "0-1-59" && p.segments[1].stop == .datetime(Self.at(900)))
        #expect(p.segments[1].files.map(\.name) == ["bin.000007", "bin.000008"])
        // The archive reaches the promotion: the old master alone.
        tl.entries[1].promotion?.gtid = "0-1-59"
        #expect(try Self.planner(b, db1: Self.files("db1", 3...5), timeline: tl).plan(target: .time(Self.at(900))).segments.count == 1)
    }

    @Test("a broken chain: missing parent, failed parent, LSNs that do not line up")
    func brokenChain() throws {
        let full = Self.backup("f", started: 100, finished: 110, file: "bin.000003", pos: 10, to: 5000)
        let incr = Self.backup("i", type: .incremental, started: 200, finished: 210, file: "bin.000003", pos: 20, parent: "f", from: 5000, to: 6000)
        #expect(try Self.planner([full, incr]).plan(target: .latest).chain.map(\.id) == ["f", "i"])
        let e1 = #expect(throws: MBError.self) { try Self.planner([incr]).plan(target: .latest) }
        #expect(e1?.message == "broken chain: parent 'f' of 'i' is not in the catalog")
        var failed = full
        failed.status = .partial
        failed.message = "no commit marker"
        let e2 = #expect(throws: MBError.self) { try Self.planner([failed, incr]).plan(target: .latest) }
        #expect(e2?.message == "broken chain: parent 'f' of 'i' is partial (no commit marker)")
        var off = incr
        off.fromLSN = 4999
        let e3 = #expect(throws: MBError.self) { try Self.planner([full, off]).plan(target: .latest) }
        #expect(e3?.message.contains("starts at LSN 4999 but its parent 'f' ends at 5000") == true)
    }

    @Test("position and gtid targets pick their timeline")
    func positionAndGtid() throws {
        let b = [Self.backup("b1", started: 100, finished: 110, file: "bin.000003", pos: 1234)]
        let p1 = try Self.planner(b).plan(target: .position(host: nil, file: "bin.000008", position: 300))
        #expect(p1.segments.count == 2 && p1.segments[1].stop == .position(300) && p1.segments[1].files.last?.name == "bin.000008")
        let p2 = try Self.planner(b).plan(target: .position(host: "db1", file: "bin.000004", position: 300))
        #expect(p2.segments.count == 1 && p2.segments[0].files.map(\.name) == ["bin.000003", "bin.000004"])
        let p3 = try Self.planner(b).plan(target: .gtid("0-1-52"))
        #expect(p3.segments.count == 1 && p3.segments[0].stop == .gtid("0-1-52"))
        #expect(throws: MBError.self) { try Self.planner(b).plan(target: .position(host: nil, file: "bin.000099", position: 4)) }
    }

    @Test("targets parse, and bad ones name their option")
    func parsing() throws {
        #expect(try RestoreTarget.parseTime("2026-11-25 17:20:00") == RestoreTarget.parseTime("2026-11-25T17:20:00Z"))
        #expect(RestoreTarget.format(try RestoreTarget.parseTime("2026-11-25T18:20:00+01:00")) == "2026-11-25 17:20:00")
        #expect(try RestoreTarget.parsePosition("mysql-bin.000012:4711") == .position(host: nil, file: "mysql-bin.000012", position: 4711))
        #expect(try RestoreTarget.parsePosition("db-2:mysql-bin.000012:4711") == .position(host: "db-2", file: "mysql-bin.000012", position: 4711))
        for bad in ["x", "mysql-bin.000012", "mysql-bin:12", "h;rm:mysql-bin.000001:5", "mysql-bin.000001:-3"] {
            let e = #expect(throws: MBError.self) { try RestoreTarget.parsePosition(bad) }
            #expect(e?.message.contains("--to-position") == true && e?.code == .usage)
        }
        #expect((try? RestoreTarget.parseTime("yesterday")) == nil)
        #expect(Gtid("0-11-1234")?.seq == 1234 && Gtid("0-11") == nil)
        #expect(throws: MBError.self) { try RestoreTarget.parseGtid("0-1-x") }
    }

    @Test("no backup before the target, or a backup id that is not complete")
    func noBase() throws {
        let b = [Self.backup("b1", started: 100, finished: 110, file: "bin.000003", pos: 1234),
                 Self.backup("b0", started: 10, finished: 20, file: "bin.000003", pos: 4, status: .failed)]
        let e = #expect(throws: MBError.self) { try Self.planner(b).plan(target: .time(Self.at(50))) }
        #expect(e?.code == .noInput)
        let e2 = #expect(throws: MBError.self) { try Self.planner(b).plan(target: .latest, backupId: "b0") }
        #expect(e2?.message.contains("'b0' is failed") == true)
        let p = try Self.planner(b).plan(target: .backupPoint, backupId: "b1")
        #expect(p.segments.isEmpty)
    }
}

@Suite("restore progress")
struct RestoreProgressTests {
    @Test("the replay's position is read from /proc: the file the reader has open and its offset, after the files before it")
    func readPosition() throws {
        let dir = NSTemporaryDirectory() + "mha-backup-progress-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(repeating: 1, count: 1000).write(to: URL(fileURLWithPath: "\(dir)/a.000001"))
        try Data(repeating: 2, count: 500).write(to: URL(fileURLWithPath: "\(dir)/a.000002"))
        let files = [AvailableBinlog(name: "a.000001", path: "\(dir)/a.000001", size: 1000, origin: .archive),
                     AvailableBinlog(name: "a.000002", path: "\(dir)/a.000002", size: 500, origin: .archive)]
        // tail -f reads the second file to its end and keeps it open.
        let pid = try ProcessRunner.spawnDetached(Command(["tail", "-f", "\(dir)/a.000002"]))
        defer { kill(pid, SIGKILL); usleep(50_000); ProcessRunner.reap(pid) }
        var at: Int64? = nil
        for _ in 0..<50 where at != 1500 {
            usleep(20_000)
            at = RestoreExecutor.Progress.readPosition(pid: pid, files: files)
        }
        #expect(at == 1500)
        #expect(RestoreExecutor.Progress.readPosition(pid: pid, files: [files[0]]) == nil)
    }
}
