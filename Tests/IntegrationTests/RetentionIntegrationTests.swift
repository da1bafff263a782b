import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// Retention on the failover lab: a history of fulls, incrementals and archived binlogs before a
/// real MHA failover and a full and binlogs after it, pruned with a small `[retention]` as of a
/// later time; killed in the middle, finished by a re-run; the kept window restores.
@Suite("retention across a failover", .serialized)
struct RetentionIntegrationTests {
    let lab = FailoverLab.shared
    let restores = RestoreIntegrationTests()

    /// Writes on the master, closes its binlog and archives it (each step's files get their own archive time).
    func writeAndArchive(_ host: String, _ sql: String) throws {
        _ = try lab.sb.sql(host: host, sql + "; FLUSH BINARY LOGS;")
        let a = try lab.run(["binlog", "archive"])
        #expect(a.code == 0, "binlog archive: \(a.stdout)\(a.stderr)")
        sleep(1)
    }

    func backup(_ type: String, source: String) throws -> Manifest {
        let r = try lab.run(["backup", type, "--source", source, "--wait", "60", "--json"])
        #expect(r.code == 0, "backup \(type): \(r.stderr)")
        guard r.code == 0 else { throw MBError(.failed, "backup \(type) failed: \(r.stderr)") }
        sleep(1)
        return try JSON.decode(Manifest.self, from: Data(r.stdout.utf8), file: "backup output")
    }

    func plan(_ now: String, extra: [String] = [], env: [String: String] = [:]) throws -> (Harness.Run, RetentionPlan?) {
        let r = try lab.run(["retention", "--json", "--now", now] + extra)
        return (r, r.code == 0 ? try JSON.decode(RetentionPlan.self, from: Data(r.stdout.utf8), file: "retention output") : nil)
    }

    @Test("fulls, incrementals and binlogs before and after a failover: --confirm as of later deletes the old ones, kill -9 mid-prune is finished by a re-run, verify --all passes, and the kept window restores across the failover")
    func pruneAcrossFailover() throws {
        try lab.fresh()
        let ctx = try lab.context()
        let src = lab.h3
        _ = try lab.sb.sql(host: lab.h1, "CREATE TABLE lab.k (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB; INSERT INTO lab.k SELECT seq, MD5(seq) FROM lab.seq_1_to_200;")
        try Harness.sharedWaitCaughtUp(lab)
        let b1 = try backup("full", source: src)
        try writeAndArchive(lab.h1, "INSERT INTO lab.k SELECT seq, 'a' FROM lab.seq_1001_to_1100")
        try Harness.sharedWaitCaughtUp(lab)
        let i1 = try backup("incremental", source: src)
        try writeAndArchive(lab.h1, "UPDATE lab.k SET v = 'b' WHERE id <= 50")
        try Harness.sharedWaitCaughtUp(lab)
        let b2 = try backup("full", source: src)
        try writeAndArchive(lab.h1, "DELETE FROM lab.k WHERE id BETWEEN 60 AND 70")
        try Harness.sharedWaitCaughtUp(lab)
        let i2 = try backup("incremental", source: src)
        #expect(i1.parent == b1.id && i2.parent == b2.id)
        try writeAndArchive(lab.h1, "INSERT INTO lab.k SELECT seq, 'c' FROM lab.seq_2001_to_2100")
        try Harness.sharedWaitCaughtUp(lab)

        let (newMaster, done) = try restores.settledFailover(wholeHost: false, ctx: ctx)
        let b3 = try #require(done.fullBackupJob.flatMap { try? lab.manifest($0) }, "the report's full backup on the new timeline")
        _ = try lab.sb.sql(host: newMaster, "INSERT INTO lab.k SELECT seq, 'new-master' FROM lab.seq_3001_to_3050; UPDATE lab.k SET v = 'x' WHERE id BETWEEN 100 AND 120;")
        let t = RestoreIntegrationTests.quietSecond()
        let atT = try restores.checksums(newMaster)
        RestoreIntegrationTests.resume()
        try writeAndArchive(newMaster, "INSERT INTO lab.k SELECT seq, 'after-t' FROM lab.seq_4001_to_4010")

        // As of a minute later: one full a day (b3), incrementals younger than i2 (so i1 goes),
        // and a PITR window starting between i2 and b3 (so i2 is its base, across the failover).
        let point = { (m: Manifest) in m.finishedAt ?? m.startedAt }
        let now = Date().addingTimeInterval(60)
        let incr = Int(now.timeIntervalSince(point(i2))) + 1
        let window = Int(now.timeIntervalSince(point(i2).addingTimeInterval(point(b3).timeIntervalSince(point(i2)) / 2)))
        #expect(now.timeIntervalSince(point(i1)) > Double(incr))
        var cnf = try String(contentsOfFile: lab.config, encoding: .utf8)
        cnf += "\n[retention]\nfull_daily = 1\nfull_weekly = 0\nfull_monthly = 0\nincremental_days = \(incr)s\nbinlog_days = \(window)s\n"
        try AtomicFile.write(cnf, to: lab.config, mode: 0o600)
        let nowText = RestoreTarget.format(now)

        // The dry run: the plan and its reasons, nothing deleted.
        let (dry, p0) = try plan(nowText)
        #expect(dry.code == 0, "\(dry.stderr)")
        let p = try #require(p0)
        let action = Dictionary(p.backups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(action[b1.id]?.action == .delete && action[i1.id]?.action == .delete, "\(p.backups.map { "\($0.id) \($0.reasons)" })")
        #expect(action[b2.id]?.reasons == ["parent of \(i2.id)"])
        #expect(action[i2.id]?.reasons.first == "incremental within \(incr)s")
        #expect(action[b3.id]?.reasons.contains("newest") == true)
        #expect(p.pitrFrom == i2.id)
        let oldMaster = p.binlogs.filter { $0.host == lab.h1 }
        let newOnes = p.binlogs.filter { $0.host == newMaster }
        #expect(oldMaster.contains { $0.action == .delete }, "old master's binlogs before i2's point go")
        #expect(oldMaster.contains { $0.reasons.contains("binlogs for PITR of \(i2.id)") }, "the file holding i2's point stays")
        #expect(!newOnes.isEmpty && newOnes.allSatisfy { $0.action == .keep }, "\(newOnes.map { "\($0.id) \($0.reasons)" })")
        #expect(FileManager.default.fileExists(atPath: "\(ctx.config.backupsDir)/\(b1.id)"), "the dry run deleted nothing")

        // --confirm, killed while the first item is hidden and not yet removed.
        let log = "\(lab.sb.root)/tmp/retention-killed.out"
        let pid = try ProcessRunner.spawnDetached(Command([lab.binary, "retention", "--confirm", "--now", nowText],
                                                          environment: ["MHA_BACKUP_CONFIG": lab.config, "MHA_BACKUP_RETENTION_TEST_PAUSE": "60"]),
                                                  logFile: log)
        // Newest first: the incremental i1 goes before its parent b1.
        let hidden = "\(ctx.config.backupsDir)/\(RetentionExecutor.deletingPrefix)\(i1.id)"
        let paused = Harness.shared.wait(30, every: 0.1) { FileManager.default.fileExists(atPath: hidden) }
        kill(pid, SIGKILL)
        _ = Harness.shared.wait(10) { !ProcessRunner.isAlive(pid) }
        ProcessRunner.reap(pid)
        #expect(paused, "retention did not hide \(i1.id): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(FileManager.default.fileExists(atPath: hidden), "killed before removing the hidden folder")
        let v1 = try lab.run(["verify", "--all", "--level", "files"])
        #expect(v1.code == 0, "verify --all after kill -9: \(v1.stdout.split(separator: "\n").filter { !$0.hasPrefix("ok") })\(v1.stderr)")
        let listed = try JSON.decode([Manifest].self, from: Data(try lab.run(["list", "--json"]).stdout.utf8), file: "list").map(\.id)
        #expect(!listed.contains(i1.id) && listed.contains(b1.id), "\(listed)")

        // The re-run finishes the hidden one and the rest; a third run has nothing to delete.
        let again = try lab.run(["retention", "--confirm", "--now", nowText])
        #expect(again.code == 0, "\(again.stdout)\(again.stderr)")
        #expect(again.stderr.contains("deleted backup \(i1.id): finishing an interrupted deletion"), "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: hidden) && !FileManager.default.fileExists(atPath: "\(ctx.config.backupsDir)/\(b1.id)"))
        let (third, p3) = try plan(nowText)
        #expect(third.code == 0 && p3?.nothingToDelete == true, "\(third.stdout)")
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: ctx.config.storeDir).filter { $0.contains(".deleting-") || $0.hasSuffix(RetentionExecutor.binlogDeletingSuffix) }
        #expect(leftovers.isEmpty, "\(leftovers)")
        #expect(AuditLog(path: ctx.config.auditPath).read().contains { $0.hook == "retention" && $0.action == "delete backup \(b1.id)" })
        let v2 = try lab.run(["verify", "--all"])
        #expect(v2.code == 0, "verify --all after retention: \(v2.stdout)\(v2.stderr)")

        // The oldest point of the kept window plans, and a restore inside it equals the new master then.
        let oldest = try lab.run(["restore", "--backup", i2.id, "--latest", "--plan", "--json"])
        #expect(oldest.code == 0, "restore --plan from \(i2.id): \(oldest.stderr)")
        let rp = try JSON.decode(RestorePlan.self, from: Data(oldest.stdout.utf8), file: "plan")
        #expect(rp.chain.map(\.id) == [b2.id, i2.id] && rp.segments.map(\.host) == [lab.h1, newMaster], "\(rp.render())")
        let r = try restores.restore(["--to-time", RestoreIntegrationTests.time(t), "--backup", i2.id], name: "retention-t")
        defer { r.stop() }
        #expect(try RestoreIntegrationTests.checksums(socket: r.socket) == atT)
    }
}
