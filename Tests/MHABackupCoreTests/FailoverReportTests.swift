import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("the incident report of a failover: MHA's log and our audit, told on one page")
struct FailoverReportTests {
    static let utc = TimeZone(identifier: "UTC")!

    func fixtures() throws -> (FailoverRecord, [AuditEvent], String) {
        let rec = try JSON.decoder.decode(FailoverRecord.self, from: Data(contentsOf: Fixture.url("failover-record.json")))
        let audit = try String(contentsOf: Fixture.url("failover-audit.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try JSON.decoder.decode(AuditEvent.self, from: Data($0.utf8)) }
        let log = try String(contentsOf: Fixture.url("mha-manager-failover.log"), encoding: .utf8)
        return (rec, audit, log)
    }

    func at(_ s: String) -> Date { Date(timeIntervalSince1970: TimeInterval(timegm_(s))) }
    func timegm_(_ s: String) -> Int {
        // "2026-12-01T21:23:56Z"
        let p = s.split(whereSeparator: { "-T:Z".contains($0) }).compactMap { Int32($0) }
        var t = tm()
        t.tm_year = p[0] - 1900; t.tm_mon = p[1] - 1; t.tm_mday = p[2]; t.tm_hour = p[3]; t.tm_min = p[4]; t.tm_sec = p[5]
        return Int(timegm(&t))
    }

    @Test("MHA's stamps are read in the manager's time zone; unstamped lines take the time before them")
    func stamps() {
        let text = "Tue Dec  1 21:19:47 2026 - [info] Master is down!\n  raw output line\nTue Dec  1 21:19:48 2026 - [error][/usr/share/perl5/MHA/X.pm, ln1] boom\n"
        let l = ManagerLog.parse(text, timeZone: Self.utc)
        #expect(l.count == 3)
        #expect(l[0].time == at("2026-12-01T21:19:47Z") && l[0].level == "info" && l[0].message == "Master is down!")
        #expect(!l[1].stamped && l[1].time == l[0].time)
        #expect(l[2].level == "error")
        let berlin = ManagerLog.parse(text, timeZone: TimeZone(secondsFromGMT: 3600)!)
        #expect(berlin[0].time == at("2026-12-01T20:19:47Z"))
    }

    @Test("the facts of a real failover's manager log")
    func facts() throws {
        let (rec, _, log) = try fixtures()
        let f = FailoverReport.mhaFacts(ManagerLog.parse(log, timeZone: Self.utc), openedAt: rec.openedAt, end: rec.closedAt!)
        #expect(f.masterDown?.time == at("2026-12-01T21:23:56Z"))
        #expect(f.firstError?.time == at("2026-12-01T21:23:52Z"))
        #expect(f.writable?.time == at("2026-12-01T21:24:01Z"))
        #expect(f.writable?.message == "Setting read_only=0 on 127.0.0.52(127.0.0.52:3306)..")
        #expect(f.replicasLatest?.file == "mysql-bin.000001" && f.replicasLatest?.position == 2677)
        #expect(f.deadMasterSave == .nothingMore)
        #expect(f.newMaster == "127.0.0.52(127.0.0.52:3306)")
        #expect(f.completed?.message == "Master failover to 127.0.0.52(127.0.0.52:3306) completed successfully.")
        #expect(f.errors.isEmpty)
        #expect(!f.timeline.contains { $0.message.hasPrefix("* Phase 3.1") }, "only the five top phases")
    }

    @Test("the report of a real failover: detection to writable, no loss, every audit line interleaved in time order")
    func report() throws {
        let (rec, audit, log) = try fixtures()
        let md = FailoverReport.render(.init(record: rec, audit: audit, managerLog: log, managerLogPath: "/m.log", cluster: "app",
                                             now: rec.closedAt!, logTimeZone: Self.utc))
        #expect(md.hasPrefix("# Failover 127.0.0.51 → 127.0.0.52: succeeded\n"))
        #expect(md.contains("- **Detected:** 21:23:56 (MHA: \"Master is down!\"); MHA's first failed check at 21:23:52"))
        #expect(md.contains("- **Detection to writable new master:** 5 s"))
        #expect(md.contains("| Latest position any replica held (MHA) | `mysql-bin.000001:2677` |"))
        #expect(md.contains("| New master promoted at | `mysql-bin.000001:2677`, GTID `0-51-11` |"))
        #expect(md.contains("| Our salvage of the dead master's binlogs | done (attempt 1), 1 file(s), ends at `mysql-bin.000001:2677` |"))
        #expect(md.contains("| Provably lost | **none**"))
        #expect(md.contains("## Problems and what to do next\n\nNone."))
        #expect(!md.contains("Preliminary"))
        let rows = md.split(separator: "\n").filter { $0.hasPrefix("| 2") }
        #expect(rows.filter { $0.contains("| mha-backup |") }.count == audit.count)
        let times = rows.map { String($0.dropFirst(2).prefix(8)) }
        #expect(times == times.sorted(), "rows out of time order")
        let down = try #require(rows.firstIndex { $0.contains("Master is down!") })
        let opened = try #require(rows.firstIndex { $0.contains("failover opened") })
        #expect(down < opened)
    }

    @Test("preliminary while open; without MHA's log, detection is the first hook call and the log is said missing")
    func noLog() throws {
        var (rec, audit, _) = try fixtures()
        rec.status = .open
        rec.closedAt = nil
        let md = FailoverReport.render(.init(record: rec, audit: audit, managerLog: nil, managerLogPath: "/var/log/masterha/app1.log",
                                             cluster: "app", now: rec.openedAt.addingTimeInterval(6), logTimeZone: Self.utc))
        #expect(md.contains("**Preliminary**"))
        #expect(md.contains("- **Detected:** 21:23:57 (first hook call (master_ip_failover stopssh)"))
        #expect(md.contains("`/var/log/masterha/app1.log` could not be read"))
        #expect(md.contains("| Provably lost | unknown: MHA's log not available |"))
    }

    @Test("ssh down for MHA, our salvage got more than the replicas: that range is named, kept in the archive, and a problem")
    func lostRange() throws {
        var (rec, audit, log) = try fixtures()
        log = log.replacingOccurrences(of: "Additional events were not found from the orig master. No need to save.",
                                       with: "Skipping trying to save dead master's binary log.")
        rec.salvage?.lastPosition = 9_000
        let md = FailoverReport.render(.init(record: rec, audit: audit, managerLog: log, managerLogPath: nil, cluster: "app",
                                             now: rec.closedAt!, logTimeZone: Self.utc))
        #expect(md.contains("| MHA saved from the dead master | **not attempted**"))
        #expect(md.contains("**`mysql-bin.000001:2677` to `mysql-bin.000001:9000` of the dead master is not on the new master**"))
        #expect(md.contains("- transactions of the dead master from mysql-bin.000001:2677 to mysql-bin.000001:9000 are not on the new master. **Next:**"))
        // And when the salvage failed too: unknown, with the command that redoes it.
        rec.salvage?.state = .failed
        rec.salvage?.message = "ssh: connect timed out"
        let md2 = FailoverReport.render(.init(record: rec, audit: audit, managerLog: log, managerLogPath: nil, cluster: "app",
                                              now: rec.closedAt!, logTimeZone: Self.utc))
        #expect(md2.contains("| Provably lost | **unknown**"))
        #expect(md2.contains("the binlog salvage is failed: ssh: connect timed out. **Next:** redo the salvage while ssh still reaches the dead master: `mha-backup salvage --failover \(rec.id)`"))
    }

    @Test("an earlier failover in the same log is not taken for this one; MHA's errors become problems")
    func earlierFailover() throws {
        let (rec, audit, log) = try fixtures()
        let old = """
            Tue Dec  1 20:10:00 2026 - [info] Master is down!
            Tue Dec  1 20:10:01 2026 - [info] Setting read_only=0 on 127.0.0.53(127.0.0.53:3306)..
            Tue Dec  1 20:10:02 2026 - [error][/usr/share/perl5/MHA/MasterFailover.pm, ln1] an old error
            """
        let err = "\nTue Dec  1 21:24:02 2026 - [error][/usr/share/perl5/MHA/MasterFailover.pm, ln2] Slave recovery failed\n"
        let md = FailoverReport.render(.init(record: rec, audit: audit, managerLog: old + "\n" + log + err, managerLogPath: "/m.log",
                                             cluster: "app", now: rec.closedAt!, logTimeZone: Self.utc))
        #expect(md.contains("- **Detection to writable new master:** 5 s"))
        #expect(!md.contains("an old error"))
        #expect(md.contains("- MHA: [/usr/share/perl5/MHA/MasterFailover.pm, ln2] Slave recovery failed. **Next:** read MHA's log `/m.log` around 21:24:02"))
    }
}
