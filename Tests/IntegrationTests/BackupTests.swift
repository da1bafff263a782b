import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// Unpacks a physical backup's stream (decompress, mbstream -x) into a temp folder.
func unpack(_ m: Manifest, store: String) throws -> String {
    let dir = NSTemporaryDirectory() + "mha-backup-unpack-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let file = "\(store)/backups/\(m.id)/\(m.files.first { $0.name.hasPrefix("backup.xbstream") }!.name)"
    let fd = open(file, O_RDONLY)
    defer { close(fd) }
    var o = RunOptions(timeout: 300)
    o.stdin = .fd(fd)
    o.stdout = .discard
    let r = try ProcessRunner().runPipeline([Command(m.compression.decompressArgv ?? ["cat"]), Command(["mbstream", "-x", "-C", dir])], options: o)
    #expect(r.succeeded, "unpack failed: \(r.failureSummary)")
    return dir
}

func lastManifest(_ h: Harness, _ out: String) throws -> Manifest {
    try JSON.decode(Manifest.self, from: Data(out.utf8), file: "stdout")
}

@Suite("backup engine on the sandbox", .serialized)
struct BackupIntegrationTests {
    @Test("full physical backup from a replica: manifest matches what mariabackup wrote")
    func fullPhysical() throws {
        let h = try requireSandbox()
        let r = try h.run(["backup", "full", "--json"])
        #expect(r.code == 0, "stderr: \(r.stderr)")
        let m = try lastManifest(h, r.stdout)
        let ctx = try h.context()
        #expect(m.status == .complete)
        #expect(m.type == .full && m.method == .mariabackup)
        #expect(m.sourceRole == "replica")
        #expect(m.sourceHost != (try h.master()))

        // The catalog's view agrees with the marker.
        let loaded = try Catalog(dir: ctx.config.backupsDir).load(m.id)
        #expect(loaded.status == .complete)

        // Every file's checksum matches the bytes on disk.
        for f in m.files {
            let hsh = try SHA256Hasher.hashFile("\(ctx.config.backupsDir)/\(m.id)/\(f.name)")
            #expect(hsh.sha256 == f.sha256, "\(f.name)")
            #expect(hsh.size == f.size, "\(f.name)")
        }
        // What is inside the stream is what the manifest says.
        let dir = try unpack(m, store: ctx.config.storeDir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cp = ToolOutput.keyValues(try String(contentsOfFile: "\(dir)/xtrabackup_checkpoints", encoding: .utf8))
        #expect(cp["backup_type"] == "full-backuped")
        #expect(Int64(cp["to_lsn"] ?? "") == m.toLSN)
        #expect(Int64(cp["last_lsn"] ?? "") == m.lastLSN)
        #expect(m.fromLSN == 0)
        let bi = ToolOutput.binlogInfo(try String(contentsOfFile: "\(dir)/xtrabackup_binlog_info", encoding: .utf8))
        #expect(bi == m.binlog, "xtrabackup_binlog_info \(String(describing: bi)) vs manifest \(String(describing: m.binlog))")
        // From a replica, --slave-info records the master's coordinates.
        let si = ToolOutput.slaveInfo(try String(contentsOfFile: "\(dir)/xtrabackup_slave_info", encoding: .utf8))
        #expect(si?.file == m.replicaOf?.coordinates.file)
        #expect(si?.position == m.replicaOf?.coordinates.position)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/ibdata1"))
    }

    @Test("incremental backup records its parent and starts at the parent's to_lsn")
    func incremental() throws {
        let h = try requireSandbox()
        let ctx = try h.context()
        let full = try lastManifest(h, try h.run(["backup", "full", "--source", h.replica2, "--json"]).stdout)
        _ = try h.sandbox.sql(host: try h.master(), "INSERT INTO lab.t (v) VALUES ('incr-1'), ('incr-2')")
        try h.waitReplicasCaughtUp()
        let r = try h.run(["backup", "incremental", "--source", h.replica2, "--json"])
        #expect(r.code == 0, "stderr: \(r.stderr)")
        let inc = try lastManifest(h, r.stdout)
        #expect(inc.parent == full.id)
        #expect(inc.fromLSN == full.toLSN)
        #expect((inc.toLSN ?? 0) >= (full.toLSN ?? 0))
        let dir = try unpack(inc, store: ctx.config.storeDir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cp = ToolOutput.keyValues(try String(contentsOfFile: "\(dir)/xtrabackup_checkpoints", encoding: .utf8))
        #expect(cp["backup_type"] == "incremental")
        #expect(Int64(cp["from_lsn"] ?? "") == full.toLSN)
        #expect(Int64(cp["to_lsn"] ?? "") == inc.toLSN)
        let deltas = try FileManager.default.subpathsOfDirectory(atPath: dir).filter { $0.hasSuffix(".delta") }
        #expect(!deltas.isEmpty)
    }

    @Test("an incremental with no full of that source is refused with exit 66")
    func incrementalWithoutParent() throws {
        let h = try requireSandbox()
        // The master never had a physical backup in these tests.
        let r = try h.run(["backup", "incremental", "--source", "master"])
        let hasParent = Catalog(dir: try h.context().config.backupsDir).latestParent(host: try h.master(), port: 3306, serverId: nil) != nil
        if !hasParent {
            #expect(r.code == 66, "stderr: \(r.stderr)")
            #expect(r.stderr.contains("no complete physical backup"))
        }
    }

    @Test("logical backup: coordinates in the manifest are the dump header's")
    func logical() throws {
        let h = try requireSandbox()
        let ctx = try h.context()
        let r = try h.run(["backup", "full", "--method", "dump", "--source", "master", "--json"])
        #expect(r.code == 0, "stderr: \(r.stderr)")
        let m = try lastManifest(h, r.stdout)
        #expect(m.method == .dump && m.status == .complete)
        let path = "\(ctx.config.backupsDir)/\(m.id)/dump.sql.zst"
        let text = try ProcessRunner().run(Command(["zstd", "-q", "-d", "-c", path]), timeout: 60, outputLimit: 256 << 20).stdoutString
        #expect(text.contains("-- Dump completed"))
        let c = ToolOutput.dumpCoordinates(text)
        #expect(c != nil && c == m.binlog)
        // The master's own binlog position at dump time is at or before its position now.
        let now = try h.sql(try h.master(), "SHOW MASTER STATUS").first.flatMap(BinlogStatus.init(row:))
        #expect(now != nil && (now!.file > m.binlog!.file || (now!.file == m.binlog!.file && now!.position >= m.binlog!.position)))
        #expect(text.contains("CREATE TABLE `t`"))
    }

    @Test("a job paused and resumed completes")
    func pauseResume() throws {
        let h = try requireSandbox()
        try h.ensureBigTable(mb: 300)
        let ctx = try h.context()
        let log = NSTemporaryDirectory() + "pause-\(UUID().uuidString).log"
        let id = "test-pause-\(UInt32.random(in: 0...999999))"
        let pid = try h.start(["backup", "full", "--source", h.replica1, "--job-id", id, "--compression", "gzip"], log: log)
        let reg = JobRegistry(dir: ctx.config.jobsDir)
        let started = h.wait(30) { (try? reg.load(id)).map { $0.pgid > 0 && $0.remotePid != nil } ?? false }
        #expect(started, "job never started: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let p = try h.run(["jobs", "pause", id])
        #expect(p.code == 0, "\(p.stderr)")
        let paused = try reg.load(id)
        #expect(paused.state == .paused)
        let b1 = try reg.load(id).bytes
        sleep(2)
        let b2 = try reg.load(id).bytes
        #expect(b1 == b2, "bytes grew while paused: \(b1) -> \(b2)")
        // The tool on the source is stopped too (state T).
        let tool = processStates(program: "mariabackup")
        #expect(!tool.isEmpty && tool.allSatisfy { $0 == "T" }, "mariabackup states: \(tool)")
        let r = try h.run(["jobs", "resume", id])
        #expect(r.code == 0, "\(r.stderr)")
        let done = h.wait(180, every: 0.2) { !ProcessRunner.isAlive(pid) }
        ProcessRunner.reap(pid)
        #expect(done)
        let m = try Catalog(dir: ctx.config.backupsDir).load(id)
        #expect(m.status == .complete, "log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect((try? reg.load(id)) == nil, "job record left behind")
    }

    @Test("an aborted job leaves no lock, no process, and an entry marked aborted")
    func abort() throws {
        let h = try requireSandbox()
        try h.ensureBigTable(mb: 300)
        let ctx = try h.context()
        let log = NSTemporaryDirectory() + "abort-\(UUID().uuidString).log"
        let id = "test-abort-\(UInt32.random(in: 0...999999))"
        let pid = try h.start(["backup", "full", "--source", h.replica1, "--job-id", id, "--compression", "gzip"], log: log)
        let reg = JobRegistry(dir: ctx.config.jobsDir)
        #expect(h.wait(30) { (try? reg.load(id)).map { $0.pgid > 0 && $0.remotePid != nil } ?? false })
        let a = try h.run(["jobs", "abort", id])
        #expect(a.code == 0, "\(a.stderr)")
        #expect(h.wait(20) { !ProcessRunner.isAlive(pid) })
        ProcessRunner.reap(pid)
        let m = try Catalog(dir: ctx.config.backupsDir).load(id)
        #expect(m.status == .aborted)
        #expect(!FileManager.default.fileExists(atPath: "\(ctx.config.backupsDir)/\(id)/COMMITTED"))
        // No connection of the backup user is left on the source, and no backup lock.
        let conns = try h.sql(h.replica1, "SELECT ID, COMMAND, STATE, INFO FROM information_schema.PROCESSLIST WHERE USER='backup'")
        #expect(conns.isEmpty, "left: \(conns)")
        // Taking every backup stage ourselves within 2 s proves nobody else holds one.
        let stages = try h.sandbox.sql(host: h.replica1, "SET SESSION lock_wait_timeout = 2; BACKUP STAGE START; BACKUP STAGE FLUSH; BACKUP STAGE BLOCK_DDL; BACKUP STAGE BLOCK_COMMIT; BACKUP STAGE END; SELECT 'stages-ok' AS r")
        #expect(stages.contains("stages-ok"))
        #expect(h.wait(5) { processStates(program: "mariabackup").isEmpty }, "mariabackup still runs")
        // The replica replicates again (the tool may have stopped its SQL thread).
        let st = try h.sql(h.replica1, "SHOW SLAVE STATUS").first.flatMap(ReplicaStatus.init(row:))
        #expect(st?.sqlRunning == true && st?.ioYes == true)
        // An aborted backup is never a parent.
        #expect(Catalog(dir: ctx.config.backupsDir).latestParent(host: h.replica1, port: 3306, serverId: nil)?.id != id)
        #expect((try? reg.load(id)) == nil)
    }

    @Test("the failover fence blocks a backup with exit 75, and --ignore-fence passes it")
    func fence() throws {
        let h = try requireSandbox()
        let up = try h.run(["fence", "up", "--reason", "test failover", "--ttl", "600"])
        #expect(up.code == 0)
        defer { _ = try? h.run(["fence", "down"]) }
        let r = try h.run(["backup", "full", "--method", "dump"])
        #expect(r.code == 75)
        #expect(r.stderr.contains("failover fence"))
        #expect(r.stderr.contains("test failover"))
        let ok = try h.run(["backup", "full", "--method", "dump", "--ignore-fence"])
        #expect(ok.code == 0, "\(ok.stderr)")
        _ = try h.run(["fence", "down"])
        // A fence past its TTL is reported as stale.
        let ctx = try h.context()
        try Fence.raise(at: ctx.config.fencePath, failoverId: "old", reason: "manager died", ttl: 1,
                        now: Date().addingTimeInterval(-100))
        let st = try h.run(["backup", "full", "--method", "dump"])
        #expect(st.code == 75)
        #expect(st.stderr.contains("STALE"))
        let chk = try h.run(["check"])
        #expect(chk.code == 2)
        #expect(chk.stdout.contains("STALE"))
    }

    @Test("check --json reports the live topology")
    func check() throws {
        let h = try requireSandbox()
        let r = try h.run(["check", "--json"])
        #expect(r.code == 0, "\(r.stdout)\(r.stderr)")
        let rep = try JSON.decode(CheckReport.self, from: Data(r.stdout.utf8), file: "stdout")
        #expect(rep.master == "\(try h.master()):3306")
        #expect(rep.hosts.count == 3)
        #expect(rep.hosts.allSatisfy { $0.ssh == "ok" && $0.mysql == "ok" && $0.missingTools.isEmpty })
        #expect(rep.hosts.filter { $0.role == "replica" }.count == 2)
    }

    @Test("a config readable by others is refused with exit 77 naming the file")
    func insecureConfig() throws {
        let h = try requireSandbox()
        let copy = NSTemporaryDirectory() + "insecure-\(UUID().uuidString).cnf"
        try FileManager.default.copyItem(atPath: h.config, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        chmod(copy, 0o644)
        let r = try h.run(["--config", copy, "list"])
        #expect(r.code == 77)
        #expect(r.stderr.contains(copy))
        #expect(r.stderr.contains("0644"))
    }
}

/// The process states (R, S, T, ...) of live processes whose program (argv[0]'s last part) is `program`.
func processStates(program: String) -> [String] {
    var out: [String] = []
    for e in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard Int32(e) != nil, let raw = FileManager.default.contents(atPath: "/proc/\(e)/cmdline") else { continue }
        let argv0 = String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        guard argv0.split(separator: "/").last.map(String.init) == program else { continue }
        if let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            let rest = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces)
            if let s = rest.first, s != "Z" { out.append(String(s)) }
        }
    }
    return out
}
