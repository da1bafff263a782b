import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// Point-in-time restores across real failovers (on the failover lab, 127.0.0.31-33): what a
/// restore to a time gives equals, table by table (`CHECKSUM TABLE`), what the master of that
/// time held then.
@Suite("restore across failovers", .serialized)
struct RestoreIntegrationTests {
    let lab = FailoverLab.shared

    /// Every base table of `lab` with its checksum, on a sandbox host or a restored server's socket.
    static func checksums(socket: String) throws -> [String: String] {
        let list = try rootSQL(socket: socket, "SELECT GROUP_CONCAT(CONCAT('lab.`', table_name, '`') ORDER BY table_name) FROM information_schema.tables "
            + "WHERE table_schema = 'lab' AND table_type = 'BASE TABLE' AND engine <> 'SEQUENCE'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard !list.isEmpty, list != "NULL" else { return [:] }
        var out: [String: String] = [:]
        for line in try rootSQL(socket: socket, "CHECKSUM TABLE \(list)").split(separator: "\n") {
            let f = line.split(separator: "\t").map(String.init)
            if f.count == 2 { out[f[0]] = f[1] }
        }
        return out
    }

    static func rootSQL(socket: String, _ sql: String) throws -> String {
        let r = try ProcessRunner().run(Command(["mariadb", "--no-defaults", "-uroot", "--socket=\(socket)", "--batch", "--skip-column-names", "-e", sql]), timeout: 120)
        guard r.succeeded else { throw MBError(.failed, "sql on \(socket): \(r.failureSummary)") }
        return r.stdoutString
    }

    func checksums(_ host: String) throws -> [String: String] { try Self.checksums(socket: lab.sb.socketPath(host: host)!) }

    /// Waits for a fresh second with no write in flight and returns it: binlog events before it are
    /// stamped earlier, and the next writes (after `resume`) are stamped later.
    static func quietSecond() -> Date {
        let now = Date().timeIntervalSince1970
        usleep(useconds_t((floor(now) + 1.2 - now) * 1_000_000))
        return Date(timeIntervalSince1970: floor(Date().timeIntervalSince1970))
    }
    static func resume() { usleep(1_300_000) }

    struct Restored {
        var result: RestoreResult
        var socket: String { result.server!.socket }
        func stop() {
            if let p = result.server?.pid {
                kill(p, SIGTERM)
                _ = Harness.shared.wait(60, every: 0.1) { !ProcessRunner.isAlive(p) }
            }
            try? FileManager.default.removeItem(atPath: result.targetDir)
            try? FileManager.default.removeItem(atPath: (result.server!.socket as NSString).deletingLastPathComponent)
        }
    }

    /// `mha-backup restore ... --start --json` into a fresh folder of the lab.
    func restore(_ args: [String], name: String) throws -> Restored {
        let dir = "\(lab.sb.root)/tmp/restore-\(name)"
        try? FileManager.default.removeItem(atPath: dir)
        let r = try lab.run(["restore"] + args + ["--target-dir", dir, "--start", "--json"], timeout: 600)
        #expect(r.code == 0, "restore \(args): \(r.stderr)")
        guard r.code == 0 else { throw MBError(.failed, "restore \(args) failed: \(r.stderr)") }
        return Restored(result: try JSON.decode(RestoreResult.self, from: Data(r.stdout.utf8), file: "restore output"))
    }

    static func time(_ d: Date) -> String { RestoreTarget.format(d) }

    /// Runs `first` on the lab's master, takes a quiet second and the master's checksums then,
    /// runs `then`, and waits until the replicas have it all.
    func quietPoint(between first: String, and then: String) throws -> (Date, [String: String]) {
        _ = try lab.sb.sql(host: lab.h1, first)
        let t = Self.quietSecond()
        let sums = try checksums(lab.h1)
        Self.resume()
        _ = try lab.sb.sql(host: lab.h1, then)
        try Harness.sharedWaitCaughtUp(lab)
        return (t, sums)
    }

    /// MHA fails the master over; then the hooks' worker closes the failover record and the full
    /// backup the report started on the new timeline completes. The new master and that record.
    func settledFailover(wholeHost: Bool, ctx: Context) throws -> (String, FailoverRecord) {
        let new = try lab.failover(wholeHost: wholeHost) {}
        let newMaster = try #require(new, "MHA did not complete the failover (see \(lab.sb.managerLog))")
        let id = try lab.lastFailover().id
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        #expect(Harness.shared.wait(90) { (store.load(id)?.status ?? .open) != .open })
        let done = try #require(store.load(id))
        if let full = done.fullBackupJob {
            #expect(Harness.shared.wait(240, every: 0.5) { (try? lab.manifest(full))?.status == .complete })
        }
        return (newMaster, done)
    }

    /// A fresh lab, table `lab.T` with `rows` rows on every host, and a full backup of it.
    func freshLabWithBackup(table: String, rows: Int) throws -> Context {
        try lab.fresh()
        _ = try lab.sb.sql(host: lab.h1, "CREATE TABLE lab.\(table) (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB; INSERT INTO lab.\(table) SELECT seq, MD5(seq) FROM lab.seq_1_to_\(rows);")
        try Harness.sharedWaitCaughtUp(lab)
        let b = try lab.run(["backup", "full", "--wait", "60"])
        #expect(b.code == 0, "\(b.stderr)")
        return try lab.context()
    }

    @Test("1. mysqld dead, writes go on on the new master: a restore to a time (or position, or GTID) after the failover equals the new master then, one before it equals the old master then")
    func acrossMysqldDeadFailover() throws {
        try lab.fresh()
        let ctx = try lab.context()
        _ = try lab.sb.sql(host: lab.h1, """
            CREATE TABLE lab.r (id INT PRIMARY KEY, v VARCHAR(64), n INT) ENGINE=InnoDB;
            INSERT INTO lab.r SELECT seq, MD5(seq), seq FROM lab.seq_1_to_300;
            """)
        try Harness.sharedWaitCaughtUp(lab)
        let b1 = try lab.run(["backup", "full", "--wait", "60"])
        #expect(b1.code == 0, "\(b1.stderr)")
        let base1 = try #require(Catalog(dir: ctx.config.backupsDir).all().last { $0.status == .complete }).id
        // A logical dump on a replica too: it knows only its GTID in the master's history.
        let d = try lab.run(["backup", "full", "--method", "dump", "--wait", "60"])
        #expect(d.code == 0, "\(d.stderr)")
        let dump = try #require(Catalog(dir: ctx.config.backupsDir).all().last { $0.status == .complete && $0.method == .dump })
        #expect(dump.sourceRole == "replica")

        let (t1, before) = try quietPoint(between: "INSERT INTO lab.r SELECT seq, SHA1(seq), seq FROM lab.seq_1001_to_1100; UPDATE lab.r SET n = n + 1 WHERE id <= 50;",
                                          and: "INSERT INTO lab.r SELECT seq, 'late', seq FROM lab.seq_2001_to_2050; DELETE FROM lab.r WHERE id <= 20;")

        let (newMaster, done) = try settledFailover(wholeHost: false, ctx: ctx)
        #expect(done.salvage?.state == .done, "salvage: \(String(describing: done.salvage))")

        _ = try lab.sb.sql(host: newMaster, "INSERT INTO lab.r SELECT seq, 'new-master', seq FROM lab.seq_3001_to_3100; UPDATE lab.r SET v = 'x' WHERE id BETWEEN 100 AND 120;")
        let t2 = Self.quietSecond()
        let after = try checksums(newMaster)
        let ms = try #require(try lab.sql(newMaster, "SHOW MASTER STATUS").first)
        let atT2 = "\(newMaster):\(try #require(ms.first("File"))):\(try #require(ms.first("Position")))"
        let gtidT2 = try #require(try lab.sql(newMaster, "SELECT @@gtid_binlog_pos AS g").first?.first("g"))
        Self.resume()
        _ = try lab.sb.sql(host: newMaster, "INSERT INTO lab.r SELECT seq, 'after-t2', seq FROM lab.seq_4001_to_4010; FLUSH BINARY LOGS;")
        let a = try lab.run(["binlog", "archive"])
        #expect(a.code == 0, "\(a.stdout)\(a.stderr)")

        // From the backup of the old timeline, across the failover.
        let plan = try lab.run(["restore", "--to-time", Self.time(t2), "--backup", base1, "--plan", "--json"])
        #expect(plan.code == 0, "\(plan.stderr)")
        let p = try JSON.decode(RestorePlan.self, from: Data(plan.stdout.utf8), file: "plan")
        #expect(p.segments.map(\.host) == [lab.h1, newMaster], "segments: \(p.segments.map { "\($0.host) \($0.why)" })")
        let r1 = try restore(["--to-time", Self.time(t2), "--backup", base1], name: "t2-old-base")
        defer { r1.stop() }
        #expect(try Self.checksums(socket: r1.socket) == after)

        // The planner's own choice (the newest backup before t2: the one of the new timeline).
        let r2 = try restore(["--to-time", Self.time(t2)], name: "t2-auto")
        defer { r2.stop() }
        #expect(try Self.checksums(socket: r2.socket) == after)

        // From the dump taken on a replica: located by its GTID in the old master's binlog.
        let r6 = try restore(["--to-time", Self.time(t2), "--backup", dump.id], name: "t2-dump")
        defer { r6.stop() }
        #expect(try Self.checksums(socket: r6.socket) == after, "restore from the replica's dump \(dump.id)")

        // The same point named by the new master's binlog position, and by its GTID.
        let r4 = try restore(["--to-position", atT2, "--backup", base1], name: "t2-position")
        defer { r4.stop() }
        #expect(try Self.checksums(socket: r4.socket) == after, "restore --to-position \(atT2)")
        let r5 = try restore(["--to-gtid", gtidT2, "--backup", base1], name: "t2-gtid")
        defer { r5.stop() }
        #expect(try Self.checksums(socket: r5.socket) == after, "restore --to-gtid \(gtidT2)")

        // Before the failover: the old master's state then.
        let r3 = try restore(["--to-time", Self.time(t1)], name: "t1")
        defer { r3.stop() }
        #expect(r3.result.chain == [dump.id], "the newest backup before t1 is the dump")
        #expect(try Self.checksums(socket: r3.socket) == before)
        #expect(before != after)
    }

    @Test("2. host dead with the live stream running and the replicas' IO threads stopped: the restore holds what only the master and the stream had")
    func hostDeadStreamOnly() throws {
        try lab.fresh()
        let ctx = try lab.context()
        let stream = try ProcessRunner.spawnDetached(Command([lab.binary, "binlog", "stream"], environment: ["MHA_BACKUP_CONFIG": lab.config]),
                                                     logFile: "\(lab.sb.root)/tmp/stream.out")
        defer {
            // The report restarts the stream detached; stop every stream of this lab.
            kill(stream, SIGTERM)
            _ = lab.waitFinished(stream, timeout: 20)
            if let p = (try? String(contentsOfFile: ctx.config.streamPidPath, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                kill(p, SIGTERM)
                _ = Harness.shared.wait(20) { !ProcessRunner.isAlive(p) }
            }
        }
        #expect(Harness.shared.wait(20) { FileManager.default.fileExists(atPath: ctx.config.streamPidPath) })
        _ = try lab.sb.sql(host: lab.h1, """
            CREATE TABLE lab.r (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB;
            INSERT INTO lab.r SELECT seq, MD5(seq) FROM lab.seq_1_to_200;
            """)
        try Harness.sharedWaitCaughtUp(lab)
        let b = try lab.run(["backup", "full", "--wait", "60"])
        #expect(b.code == 0, "\(b.stderr)")

        try lab.sb.startManager(extraEnv: lab.hookEnv)
        for r in [lab.h2, lab.h3] { _ = try lab.sb.sql(host: r, "STOP SLAVE IO_THREAD") }
        let onlyOnMaster = 10
        for i in 1...onlyOnMaster { _ = try lab.sb.sql(host: lab.h1, "INSERT INTO lab.r VALUES (\(5000 + i), 'only-master-\(i)')") }
        // The stream has every byte the master wrote before the host dies.
        let ms = try lab.sql(lab.h1, "SHOW MASTER STATUS").first
        let file = try #require(ms?.first("File"))
        let pos = Int64(try #require(ms?.first("Position"))) ?? 0
        let streamFile = "\(ctx.config.stateDir)/stream/\(try HostName.folderName(host: lab.h1, port: 3306))/\(file)"
        #expect(Harness.shared.wait(20, every: 0.1) { (((try? FileManager.default.attributesOfItem(atPath: streamFile))?[.size] as? Int64) ?? 0) >= pos }, "the stream did not reach \(file):\(pos)")

        _ = try lab.sb.killMaster(wholeHost: true)
        let newMaster = try #require(try lab.sb.waitManager(), "MHA did not complete the failover (see \(lab.sb.managerLog))")
        let rec = try lab.lastFailover()
        #expect(Harness.shared.wait(90) { (FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.status ?? .open) != .open })
        let mhaRecovered = Int(try lab.sql(newMaster, "SELECT COUNT(*) AS n FROM lab.r WHERE id > 5000").first?.first("n") ?? "") ?? -1

        _ = try lab.sb.sql(host: newMaster, "INSERT INTO lab.r SELECT seq, 'new-master' FROM lab.seq_6001_to_6050; FLUSH BINARY LOGS;")
        let a = try lab.run(["binlog", "archive"])
        #expect(a.code == 0, "\(a.stdout)\(a.stderr)")
        let plan = try lab.run(["restore", "--latest", "--plan"])
        #expect(plan.stdout.contains("stream-unclosed") || mhaRecovered == onlyOnMaster, "plan:\n\(plan.stdout)\(plan.stderr)")

        let r = try restore(["--latest"], name: "latest-host-dead")
        defer { r.stop() }
        let inRestore = Int(try Self.rootSQL(socket: r.socket, "SELECT COUNT(*) FROM lab.r WHERE id > 5000 AND id < 6000").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let newRows = Int(try Self.rootSQL(socket: r.socket, "SELECT COUNT(*) FROM lab.r WHERE id > 6000").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let oldRows = Int(try Self.rootSQL(socket: r.socket, "SELECT COUNT(*) FROM lab.r WHERE id <= 200").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        // What MHA recovered vs what only the archive had, in the test's record.
        print("host dead: \(onlyOnMaster) transactions only on the master; MHA recovered \(mhaRecovered), the restore holds \(inRestore) (\(inRestore - mhaRecovered) only from the archive)")
        #expect(inRestore == onlyOnMaster, "the restore lacks transactions the stream had")
        #expect(newRows == 50 && oldRows == 200)
        #expect(mhaRecovered < onlyOnMaster, "MHA recovered every transaction: the scenario did not leave any only in the archive")
    }

    /// The problem line `verify` printed for a backup (`FAILED  ID: file '...': reason`).
    static func verifyLine(_ out: String, id: String) -> String? {
        out.split(separator: "\n").first { $0.hasPrefix("FAILED  \(id): ") }.map { String($0.dropFirst("FAILED  \(id): ".count)) }
    }

    @Test("3. full + incremental + binlogs restore to the master; then corruption: a flipped byte, a missing parent, a truncated binlog: verify fails naming the file, restore refuses with the same words; a sound backup passes verify --level restore")
    func corruption() throws {
        let ctx = try freshLabWithBackup(table: "c", rows: 2000)
        _ = try lab.sb.sql(host: lab.h1, "UPDATE lab.c SET v = 'changed' WHERE id <= 500")
        try Harness.sharedWaitCaughtUp(lab)
        let inc = try lab.run(["backup", "incremental", "--wait", "60"])
        #expect(inc.code == 0, "\(inc.stderr)")
        let catalog = Catalog(dir: ctx.config.backupsDir)
        let incr = try #require(catalog.all().last { $0.type == .incremental && $0.status == .complete })
        let full = try #require(incr.parent)

        // Sound: the chain restores into a scratch server and matches the quiet source table by table.
        let ok = try lab.run(["verify", "--latest", "--level", "restore"], timeout: 600)
        #expect(ok.code == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("ok  \(incr.id)  restore") && ok.stdout.contains("compared with the source"), "\(ok.stdout)")
        #expect(!ok.stdout.contains(" 0 compared"), "no table was compared: \(ok.stdout)")
        let rec = try JSON.load(VerifyRecord.self, path: "\(catalog.folder(incr.id))/verify.json")
        #expect(rec.ok && rec.level == .restore && (rec.restore?.compared ?? 0) >= 1 && (rec.restore?.seconds ?? 0) > 0)
        // A later files check does not hide the restore test in the catalog listing.
        #expect(try lab.run(["verify", incr.id, "--level", "files"]).code == 0)
        let listed = try lab.run(["list"]).stdout.split(separator: "\n").first { $0.hasPrefix(incr.id) }.map(String.init) ?? ""
        #expect(listed.contains("restore ok"), "list: \(listed)")

        let dir = "\(lab.sb.root)/tmp/restore-corrupt"
        func refuses(_ line: String, _ what: String) throws {
            try? FileManager.default.removeItem(atPath: dir)
            let r = try lab.run(["restore", "--latest", "--target-dir", dir])
            #expect(r.code == 65, "\(what): restore exit \(r.code): \(r.stderr)")
            #expect(r.stderr.contains(line), "\(what): restore did not refuse with verify's words '\(line)':\n\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir), "\(what): the refused restore created its target")
        }

        // A target that is not empty is refused and left exactly as it was.
        #expect(try lab.run(["binlog", "archive"]).code == 0)
        let busy = "\(lab.sb.root)/tmp/restore-busy"
        try? FileManager.default.removeItem(atPath: busy)
        try FileManager.default.createDirectory(atPath: busy, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: "\(busy)/precious"))
        let nb = try lab.run(["restore", "--latest", "--target-dir", busy])
        #expect(nb.code == 64 && nb.stderr.contains("is not empty"), "\(nb.code): \(nb.stderr)")
        #expect(FileManager.default.contents(atPath: "\(busy)/precious") == Data("keep me".utf8))

        // Sound, with binlogs: the full, then the incremental, then the replay equal the master.
        _ = try lab.sb.sql(host: lab.h1, "UPDATE lab.c SET v = 'after-incremental' WHERE id > 1900; FLUSH BINARY LOGS;")
        #expect(try lab.run(["binlog", "archive"]).code == 0)
        let whole = try restore(["--latest"], name: "latest-chain")
        #expect(whole.result.chain == [full, incr.id])
        #expect(try Self.checksums(socket: whole.socket) == checksums(lab.h1), "full + incremental + binlogs differ from the master")
        whole.stop()

        // A flipped byte in the incremental's stream.
        let stream = "\(catalog.folder(incr.id))/backup.xbstream.zst"
        let original = try #require(FileManager.default.contents(atPath: stream))
        var bytes = [UInt8](original)
        bytes[bytes.count / 2] ^= 0x5a
        try Data(bytes).write(to: URL(fileURLWithPath: stream))
        let v1 = try lab.run(["verify", incr.id])
        #expect(v1.code == 65)
        let l1 = try #require(Self.verifyLine(v1.stdout, id: incr.id), "\(v1.stdout)")
        #expect(l1.contains(stream) && l1.contains("sha256"))
        try refuses(l1, "flipped byte")
        let listedBad = try lab.run(["list"]).stdout.split(separator: "\n").first { $0.hasPrefix(incr.id) }.map(String.init) ?? ""
        #expect(listedBad.contains("structure FAILED"), "a failed check must show in the listing: \(listedBad)")
        try original.write(to: URL(fileURLWithPath: stream))

        // The parent's stream gone: a broken chain.
        let parentStream = "\(catalog.folder(full))/backup.xbstream.zst"
        try FileManager.default.moveItem(atPath: parentStream, toPath: parentStream + ".aside")
        let v2 = try lab.run(["verify", incr.id])
        #expect(v2.code == 65)
        let l2 = try #require(Self.verifyLine(v2.stdout, id: incr.id), "\(v2.stdout)")
        #expect(l2.contains("broken chain") && l2.contains(full), "\(l2)")
        try refuses(l2, "missing parent")
        try FileManager.default.moveItem(atPath: parentStream + ".aside", toPath: parentStream)

        // A truncated archived binlog.
        _ = try lab.sb.sql(host: lab.h1, "INSERT INTO lab.c VALUES (90001, 'x'); FLUSH BINARY LOGS;")
        #expect(try lab.run(["binlog", "archive"]).code == 0)
        let archive = try BinlogArchive(config: ctx.config, host: lab.h1, port: 3306)
        let victim = try #require(try archive.loadIndex().files.last)
        let path = archive.path(victim.name)
        let fh = try #require(FileHandle(forUpdatingAtPath: path))
        try fh.truncate(atOffset: UInt64(victim.size - 7))
        try fh.close()
        let v3 = try lab.run(["verify", "--all"])
        #expect(v3.code == 65)
        let l3 = try #require(v3.stdout.split(separator: "\n").first { $0.contains(path) }.map { String($0[$0.range(of: "file '")!.lowerBound...]) }, "\(v3.stdout)")
        try refuses(l3, "truncated binlog")
    }

    @Test("4. our salvage cannot reach the dead master (mysqld dead) and the replicas were behind: MHA recovers the rest, and the restore bridges the gap from the new master's own binlog")
    func gapBridgedFromNewMaster() throws {
        let ctx = try freshLabWithBackup(table: "g", rows: 100)
        _ = try lab.sb.sql(host: lab.h1, "INSERT INTO lab.g SELECT seq, 'archived' FROM lab.seq_101_to_150; FLUSH BINARY LOGS;")
        #expect(try lab.run(["binlog", "archive"]).code == 0)
        _ = try lab.sb.sql(host: lab.h1, "INSERT INTO lab.g SELECT seq, 'replicated' FROM lab.seq_201_to_250;")
        try Harness.sharedWaitCaughtUp(lab)

        // Our ssh cannot connect from now on (MHA's own ssh still works): no salvage, no archive.
        let original = try String(contentsOfFile: lab.config, encoding: .utf8)
        #expect(original.contains("[ssh]\n"))
        try AtomicFile.write(original.replacingOccurrences(of: "[ssh]\n", with: "[ssh]\noptions = -o ProxyCommand=/bin/false\n"), to: lab.config, mode: 0o600)
        var restored = false
        defer { if !restored { try? AtomicFile.write(original, to: lab.config, mode: 0o600) } }

        try lab.sb.startManager(extraEnv: lab.hookEnv)
        for r in [lab.h2, lab.h3] { _ = try lab.sb.sql(host: r, "STOP SLAVE IO_THREAD") }
        for i in 1...8 { _ = try lab.sb.sql(host: lab.h1, "INSERT INTO lab.g VALUES (\(300 + i), 'behind-\(i)')") }
        _ = try lab.sb.killMaster(wholeHost: false)
        let newMaster = try #require(try lab.sb.waitManager(), "MHA did not complete the failover (see \(lab.sb.managerLog))")
        let rec = try lab.lastFailover()
        #expect(Harness.shared.wait(90) { (FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.status ?? .open) != .open })
        let salvage = FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.salvage
        #expect(salvage?.state != .done, "our salvage got through; the scenario needs it to fail: \(String(describing: salvage))")
        try AtomicFile.write(original, to: lab.config, mode: 0o600)
        restored = true
        let recovered = Int(try lab.sql(newMaster, "SELECT COUNT(*) AS n FROM lab.g WHERE id > 300").first?.first("n") ?? "") ?? -1
        #expect(recovered == 8, "MHA recovered \(recovered) of the 8 transactions the replicas lacked")

        _ = try lab.sb.sql(host: newMaster, "INSERT INTO lab.g SELECT seq, 'new-master' FROM lab.seq_401_to_420; FLUSH BINARY LOGS;")
        #expect(try lab.run(["binlog", "archive"]).code == 0)
        let want = try checksums(newMaster)
        let plan = try lab.run(["restore", "--latest", "--plan"])
        #expect(plan.stdout.contains("the replicas were behind"), "no bridge in the plan:\n\(plan.stdout)\(plan.stderr)")
        let r = try restore(["--latest"], name: "latest-bridged")
        defer { r.stop() }
        #expect(try Self.checksums(socket: r.socket) == want, "the restore differs from the new master")
        let rows = try Self.rootSQL(socket: r.socket, "SELECT COUNT(*) FROM lab.g WHERE id BETWEEN 201 AND 308").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(rows == "58", "replicated and recovered rows in the restore: \(rows)")
    }

    @Test("5. host dead, no stream, no binlog of the old master ever archived: from a backup before the failover, --latest and --to-time before it replay the new master's own binlog")
    func hostDeadNothingArchived() throws {
        let ctx = try freshLabWithBackup(table: "n", rows: 300)
        let base = try #require(Catalog(dir: ctx.config.backupsDir).all().last { $0.status == .complete }).id
        let (t1, before) = try quietPoint(between: "INSERT INTO lab.n SELECT seq, 'after-backup' FROM lab.seq_1001_to_1100; UPDATE lab.n SET v = 'u1' WHERE id <= 40;",
                                          and: "INSERT INTO lab.n SELECT seq, 'after-t1' FROM lab.seq_2001_to_2050; DELETE FROM lab.n WHERE id BETWEEN 50 AND 60;")

        let (newMaster, _) = try settledFailover(wholeHost: true, ctx: ctx)
        let oldArchive = try BinlogArchive(config: ctx.config, host: lab.h1, port: 3306)
        #expect(((try? oldArchive.loadIndex())?.files ?? []).isEmpty, "the scenario needs no archived binlog of the old master")

        _ = try lab.sb.sql(host: newMaster, "INSERT INTO lab.n SELECT seq, 'new-master' FROM lab.seq_3001_to_3020; FLUSH BINARY LOGS;")
        #expect(try lab.run(["binlog", "archive"]).code == 0)
        let after = try checksums(newMaster)

        let plan = try lab.run(["restore", "--latest", "--backup", base, "--plan", "--json"])
        #expect(plan.code == 0, "\(plan.stderr)")
        let p = try JSON.decode(RestorePlan.self, from: Data(plan.stdout.utf8), file: "plan")
        #expect(p.segments.map(\.host) == [newMaster, newMaster], "segments: \(p.segments.map { "\($0.host) \($0.why)" })")
        print("host dead, nothing archived: " + p.segments.map { "\($0.host) \($0.files.map(\.name)): \($0.why)" }.joined(separator: "; "))
        let r1 = try restore(["--latest", "--backup", base], name: "latest-nothing-archived")
        defer { r1.stop() }
        #expect(try Self.checksums(socket: r1.socket) == after, "--latest differs from the new master")

        let r2 = try restore(["--to-time", Self.time(t1), "--backup", base], name: "t1-nothing-archived")
        defer { r2.stop() }
        #expect(try Self.checksums(socket: r2.socket) == before, "--to-time before the failover differs from the old master then")
        #expect(before != after)
    }
}

extension Harness {
    /// The lab's replicas have applied everything its master wrote.
    static func sharedWaitCaughtUp(_ lab: FailoverLab) throws {
        let g = try lab.sql(lab.h1, "SELECT @@gtid_binlog_pos AS g").first?.first("g") ?? ""
        for r in [lab.h2, lab.h3] { _ = try lab.sb.sql(host: r, "SELECT MASTER_GTID_WAIT('\(g)', 60)", timeout: 70) }
    }
}
