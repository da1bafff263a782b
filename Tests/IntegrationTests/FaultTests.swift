import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// A store on its own small tmpfs, beside the sandbox: a copy of the sandbox config whose
/// store_dir is the tmpfs and whose state_dir is a folder of its own (or a folder on the same
/// tmpfs, as the default /var/lib/mha-backup/{state,store} share a file system). `leaveFree` shrinks the
/// file system to what it holds plus a given number of bytes, so the next write runs out of space
/// wherever it lands. Unmounted and removed by `close()` (call it in a defer).
final class SmallStore {
    let root: String
    let store: String
    let state: String
    let config: String
    private var mounted = false

    init(_ h: Harness, stateOnStore: Bool = false) throws {
        root = "/tmp/mhab-fault-\(UUID().uuidString.prefix(8))"
        store = root + "/store"
        state = stateOnStore ? store + "/state" : root + "/state"
        config = root + "/mha-backup.cnf"
        for d in [store, root + "/state"] { try AtomicFile.makeDirectory(d, mode: 0o700) }
        // Room to start with; tmpfs takes memory only for what is written.
        try Self.sh(["mount", "-t", "tmpfs", "-o", "size=4g,mode=0750", "tmpfs", store])
        mounted = true
        try AtomicFile.makeDirectory(state, mode: 0o700)
        var text = try String(contentsOfFile: h.config, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("store_dir") { return "store_dir = \(store)" }
            if t.hasPrefix("state_dir") { return "state_dir = \(state)" }
            // The salvage worker also looks for other tools' backup locks: leave the sandbox's alone.
            if t.hasPrefix("kill_foreign_backup_locks") { return "kill_foreign_backup_locks = no" }
            return String(line)
        }
        text = lines.joined(separator: "\n")
        try AtomicFile.write(text, to: config, mode: 0o600)
    }

    func close() {
        if mounted {
            // A process of a failed test may still sit in it: lazy, so the folder goes anyway.
            if (try? Self.sh(["umount", store])) == nil { _ = try? Self.sh(["umount", "-l", store]) }
            mounted = false
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    static func sh(_ argv: [String]) throws {
        let r = try ProcessRunner().run(Command(argv), timeout: 30)
        guard r.succeeded else { throw MBError(.failed, "\(argv.joined(separator: " ")): \(r.failureSummary)") }
    }

    var used: Int64 {
        var st = statvfs()
        guard statvfs(store, &st) == 0 else { return 0 }
        return Int64(st.f_blocks - st.f_bfree) * Int64(st.f_frsize)
    }

    var free: Int64 {
        var st = statvfs()
        guard statvfs(store, &st) == 0 else { return 0 }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }

    /// Resizes the tmpfs to what it holds now plus `bytes` (page-rounded).
    func leaveFree(_ bytes: Int64) throws {
        let page: Int64 = 4096
        let size = (used + bytes + page - 1) / page * page
        try Self.sh(["mount", "-o", "remount,size=\(size)", store])
    }

    func run(_ h: Harness, _ args: [String], timeout: TimeInterval = 300) throws -> Harness.Run {
        try h.run(args, timeout: timeout, env: ["MHA_BACKUP_CONFIG": config])
    }

    func context() throws -> Context { try Context.load(configPath: config) }

    /// Every file below the store whose name marks a temp or partial copy.
    func leftovers() -> [String] {
        (FileManager.default.enumerator(atPath: store)?.allObjects as? [String] ?? [])
            .filter { ($0 as NSString).lastPathComponent.hasSuffix(".partial") || ($0 as NSString).lastPathComponent.contains(".tmp.") }
    }
}

/// The lines of a command's stderr that are its error (progress lines are stderr too).
func errorLines(_ r: Harness.Run) -> [String] {
    r.stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("mha-backup:") || $0.hasPrefix("HINT:") }
}

/// Checks one server's archive folder: every index entry has its binlog and a `.sha256` that
/// matches the bytes; no temp file; the files of `before` are unchanged.
func checkArchive(_ a: BinlogArchive, before: [String: String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let idx = try a.loadIndex()
    for e in idx.files {
        let recorded = a.recordedChecksum(e.name)
        #expect(recorded != nil, "\(e.name) is in the index without its .sha256", sourceLocation: sourceLocation)
        let v = try a.verify(e.name)
        #expect(v.ok, "\(e.name): \(v.problem ?? "")", sourceLocation: sourceLocation)
    }
    // A binlog without its checksum never counts; a checksum without its binlog neither.
    let files = (try? FileManager.default.contentsOfDirectory(atPath: a.dir)) ?? []
    for f in files where BinlogName(f) != nil {
        #expect(a.state(of: f, index: idx).isComplete || idx.entry(f) == nil, "\(f) is indexed but not complete", sourceLocation: sourceLocation)
    }
    #expect(files.filter { BinlogArchive.isPartialName($0) }.isEmpty, "temp files left: \(files)", sourceLocation: sourceLocation)
    for (name, sha) in before {
        let v = try a.verify(name)
        #expect(v.ok, "earlier \(name): \(v.problem ?? "")", sourceLocation: sourceLocation)
        #expect(a.recordedChecksum(name) == sha, "earlier \(name) has another checksum now", sourceLocation: sourceLocation)
        #expect(try SHA256Hasher.hashFile(a.path(name)).sha256 == sha, "earlier \(name) changed", sourceLocation: sourceLocation)
    }
}

@Suite("faults: the store runs out of space (ENOSPC) on a small tmpfs", .serialized)
struct FaultIntegrationTests {
    /// Writes about `mb` MiB of incompressible rows on the master (the binlog grows by as much).
    static func fill(_ h: Harness, mb: Int) throws {
        let m = try h.master()
        _ = try h.sandbox.sql(host: m, """
            CREATE TABLE IF NOT EXISTS lab.fault_fill (id INT AUTO_INCREMENT PRIMARY KEY, b BLOB) ENGINE=InnoDB;
            INSERT INTO lab.fault_fill (b) SELECT RANDOM_BYTES(1024) FROM lab.seq_1_to_\(mb * 1024);
            """, timeout: 120)
        try h.waitReplicasCaughtUp()
    }

    static func dropFill(_ h: Harness) {
        if let m = try? h.master() { _ = try? h.sandbox.sql(host: m, "DROP TABLE IF EXISTS lab.fault_fill") }
    }

    @Test("a full backup that runs out of space: one clear error, nothing recorded as good, the earlier backup still verifies")
    func backupENOSPC() throws {
        let h = try requireSandbox()
        let s = try SmallStore(h)
        defer { s.close(); Self.dropFill(h) }
        // Incompressible rows: the stream outlasts ssh's buffers, so the tool still runs on the
        // source when the store fills up.
        try Self.fill(h, mb: 16)
        let first = try s.run(h, ["backup", "full", "--json"])
        try #require(first.code == 0, "first backup: \(first.stderr)")
        let good = try lastManifest(h, first.stdout)
        let ctx = try s.context()

        try s.leaveFree(good.compressedBytes / 2)
        let r = try s.run(h, ["backup", "full"])
        #expect(r.code != 0, "a backup into a full store succeeded: \(r.stdout)")
        #expect(r.code == 73, "exit \(r.code), expected 73 (cannot write output): \(r.stderr)")
        let errs = errorLines(r)
        #expect(errs.count == 1, "expected one error line: \(r.stderr)")
        #expect(errs.first?.contains("No space left on device") == true, "\(r.stderr)")
        #expect(errs.first?.contains(ctx.config.backupsDir) == true, "the error does not name the path: \(r.stderr)")

        // Nothing recorded as good.
        let catalog = Catalog(dir: ctx.config.backupsDir)
        let ids = try FileManager.default.contentsOfDirectory(atPath: ctx.config.backupsDir).filter { !$0.hasPrefix(".") && $0 != good.id }
        #expect(ids.count == 1, "\(ids)")
        for id in ids {
            let folder = catalog.folder(id)
            #expect(!FileManager.default.fileExists(atPath: folder + "/COMMITTED"), "\(id) has a commit marker")
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            #expect(!files.contains { $0.hasPrefix("backup.xbstream") }, "\(id) holds a data file: \(files)")
            if let m = try? catalog.load(id) { #expect(m.status != .complete, "\(id) is \(m.status)") }
        }
        #expect(s.leftovers().isEmpty, "partial files left: \(s.leftovers())")
        let list = try s.run(h, ["list", "--json"])
        #expect(list.code == 0, "\(list.stderr)")
        let all = try JSON.decode([Manifest].self, from: Data(list.stdout.utf8), file: "list")
        #expect(all.filter { $0.status == .complete }.map(\.id) == [good.id], "\(all.map { "\($0.id) \($0.status)" })")
        // No job left registered, no tool left on the source, no remote scratch folder.
        #expect(JobRegistry(dir: ctx.config.jobsDir).active().isEmpty)
        for id in ids {
            let gone = h.wait(20, every: 0.2) {
                pids(withCmdlineContaining: "mha-backup-\(id)").isEmpty
                    && !FileManager.default.fileExists(atPath: "\(ctx.config.remoteTmpdir)/mha-backup-\(id)")
            }
            let folder = FileManager.default.fileExists(atPath: "\(ctx.config.remoteTmpdir)/mha-backup-\(id)") ? "still there" : "gone"
            #expect(gone, "the failed backup left on its source: tool pids \(pids(withCmdlineContaining: "mha-backup-\(id)")), scratch folder \(folder)")
        }

        // The earlier backup is intact: its files while the store is still full, everything with room.
        let files = try s.run(h, ["verify", good.id, "--level", "files"])
        #expect(files.code == 0, "\(files.stdout)\(files.stderr)")
        // Room to unpack (verify's scratch folder is in the store; other suites grow the sandbox to
        // hundreds of MiB). Too little here makes verify report the good backup as damaged.
        try s.leaveFree(4 << 30)
        let v = try s.run(h, ["verify", good.id])
        #expect(v.code == 0, "\(v.stdout)\(v.stderr)")
    }

    /// Where a binlog copy runs out of space: in its bytes, at its `.sha256` (the bytes fit to the
    /// page), or at the index (bytes and checksum fit, not one page more).
    enum Landing: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case data, checksum, index
        var testDescription: String { rawValue }

        func free(for size: Int64) -> Int64 {
            let pages = (size + 4095) / 4096 * 4096
            switch self {
            case .data: return size / 2
            case .checksum: return pages
            case .index: return pages + 4096
            }
        }
    }

    /// A store whose archive of the master holds its closed binlogs, then a closed binlog of about
    /// 3 MiB that is not archived yet, and a store left with `landing.free(for:)` that file.
    static func archiveThenFill(_ h: Harness, _ s: SmallStore, landing: Landing)
        throws -> (master: String, archive: BinlogArchive, before: [String: String], big: ServerBinlog) {
        let master = try h.master()
        _ = try h.sandbox.sql(host: master, "INSERT INTO lab.t (v) VALUES ('fault'); FLUSH BINARY LOGS")
        let first = try s.run(h, ["binlog", "archive", "--source", master])
        try #require(first.code == 0, "first archive: \(first.stdout)\(first.stderr)")
        let ctx = try s.context()
        let archive = try BinlogArchive(config: ctx.config, host: master, port: 3306)
        let before = Dictionary(uniqueKeysWithValues: try archive.loadIndex().files.map { ($0.name, $0.sha256) })
        try #require(!before.isEmpty)
        try fill(h, mb: 3)
        _ = try h.sandbox.sql(host: master, "FLUSH BINARY LOGS")
        let list = try ServerBinlogList.parse(try h.sql(master, "SHOW BINARY LOGS"), endpoint: master)
        let big = try #require(list.closed.last)
        try #require(big.size > 3 << 20 && before[big.name] == nil, "\(big)")
        try s.leaveFree(landing.free(for: big.size))
        return (master, archive, before, big)
    }

    /// What every landing leaves: one clear error, the earlier files intact, nothing half-done;
    /// the big file either absent or committed with its checksum (index: the index could not say so).
    static func checkAfter(_ landing: Landing, error: String?, archive: BinlogArchive, before: [String: String], big: ServerBinlog,
                           store: SmallStore, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(error?.contains("No space left on device") == true, "\(error ?? "no error")", sourceLocation: sourceLocation)
        #expect(error?.contains(archive.dir) == true, "the error does not name the path: \(error ?? "")", sourceLocation: sourceLocation)
        try checkArchive(archive, before: before, sourceLocation: sourceLocation)
        #expect(store.leftovers().isEmpty, "partial files left: \(store.leftovers())", sourceLocation: sourceLocation)
        let state = archive.state(of: big.name)
        switch landing {
        case .data, .checksum:
            #expect(state == .absent, "\(big.name): \(state)", sourceLocation: sourceLocation)
        case .index:
            #expect(state == .absent || state.isComplete, "\(big.name): \(state)", sourceLocation: sourceLocation)
        }
    }

    @Test("binlog archive that runs out of space: one clear error, no file indexed without its .sha256, the earlier files intact",
          arguments: Landing.allCases)
    func archiveENOSPC(landing: Landing) throws {
        let h = try requireSandbox()
        let s = try SmallStore(h)
        defer { s.close(); Self.dropFill(h) }
        let (master, archive, before, big) = try Self.archiveThenFill(h, s, landing: landing)
        let r = try s.run(h, ["binlog", "archive", "--source", master])
        #expect(r.code != 0, "an archive into a full store succeeded: \(r.stdout)")
        #expect(r.code == 73, "exit \(r.code), expected 73 (cannot write output): \(r.stderr)")
        let errs = errorLines(r)
        #expect(errs.count == 1, "expected one error line: \(r.stderr)")
        #expect(r.stdout.contains("failed \(big.name)"), "\(r.stdout)")
        try Self.checkAfter(landing, error: errs.first, archive: archive, before: before, big: big, store: s)

        // With room again, the same command completes what failed.
        try s.leaveFree(256 << 20)
        let again = try s.run(h, ["binlog", "archive", "--source", master])
        #expect(again.code == 0, "\(again.stdout)\(again.stderr)")
        try checkArchive(archive, before: before)
        #expect(archive.state(of: big.name).isComplete)
        #expect(try archive.loadIndex().entry(big.name) != nil)
    }

    @Test("a salvage that runs out of space: state 'failed' naming no space, no file indexed without its .sha256, the earlier files intact",
          arguments: Landing.allCases)
    func salvageENOSPC(landing: Landing) throws {
        let h = try requireSandbox()
        let s = try SmallStore(h)
        defer { s.close(); Self.dropFill(h) }
        let (master, archive, before, big) = try Self.archiveThenFill(h, s, landing: landing)
        let ctx = try s.context()
        let dead = try #require(HookArguments(kind: .masterIPFailover, argv: [
            "--orig_master_host=\(master)", "--orig_master_ip=\(master)", "--orig_master_port=3306"]).origMaster)
        let (rec, _) = try FailoverStore(stateDir: ctx.config.stateDir).openOrCreate(kind: .failover, deadMaster: dead, newMaster: nil)
        let r = try s.run(h, ["hook-worker", "after-stop", "--failover", rec.id, "--salvage", "--salvage-only"])
        #expect(r.code == 0, "\(r.stdout)\(r.stderr)")
        let after = try #require(FailoverStore(stateDir: ctx.config.stateDir).load(rec.id))
        let salvage = try #require(after.salvage, "no salvage state: \(r.stdout)")
        #expect(salvage.state == .failed, "salvage \(salvage.state): \(salvage.message ?? "")")
        #expect(salvage.finishedAt != nil)
        #expect(!(salvage.message ?? "").contains("\n"), "\(salvage.message ?? "")")
        let audit = AuditLog(path: ctx.config.auditPath).read().filter { $0.failoverId == rec.id && $0.action == "salvage binlogs" }
        #expect(audit.last?.outcome == .failed, "\(audit)")
        try Self.checkAfter(landing, error: salvage.message, archive: archive, before: before, big: big, store: s)
    }

    @Test("a salvage with state and store on one full file system still records that it failed")
    func salvageENOSPCSharedState() throws {
        let h = try requireSandbox()
        let s = try SmallStore(h, stateOnStore: true)
        defer { s.close() }
        let master = try h.master()
        let first = try s.run(h, ["binlog", "archive", "--source", master])
        try #require(first.code == 0, "first archive: \(first.stdout)\(first.stderr)")
        _ = try h.sandbox.sql(host: master, "INSERT INTO lab.t (v) VALUES ('fault-shared')")
        let ctx = try s.context()
        let dead = try #require(HookArguments(kind: .masterIPFailover, argv: [
            "--orig_master_host=\(master)", "--orig_master_ip=\(master)", "--orig_master_port=3306"]).origMaster)
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        let (rec, _) = try store.openOrCreate(kind: .failover, deadMaster: dead, newMaster: nil)
        // As in a failover: the hook begins the attempt (the record is written), then space runs out.
        let attempt = try store.beginSalvage(rec.id).attempt
        try s.leaveFree(0)
        let r = try s.run(h, ["hook-worker", "after-stop", "--failover", rec.id, "--salvage", "--attempt", String(attempt), "--salvage-only"])
        #expect(r.stdout.contains("No space left on device"), "\(r.stdout)\(r.stderr)")
        // The result cannot be written (the state folder is full too): the worker says so and exits
        // non-zero, and the record never claims a done salvage; a waiting hook stops within its
        // start grace (10 s: no worker pid could be recorded either), not after salvage_wait.
        #expect(r.code == 73, "the worker exits \(r.code) after a salvage whose result it could not record")
        #expect(r.stderr.contains("cannot record"), "\(r.stderr)")
        let salvage = store.load(rec.id)?.salvage
        #expect(salvage?.state != .done)
        #expect(salvage.map { !$0.isLive(now: Date().addingTimeInterval(11)) } ?? true, "a hook would wait for \(String(describing: salvage))")
    }
}
