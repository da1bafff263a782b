import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// A store built by hand in a temp folder: dumps compressed with the real `zstd`, physical backups
/// whose stream is made with the real `mbstream -c`, manifests committed with `Catalog.commit`.
private final class VerifyStore {
    let dir: TempDir
    let ctx: Context
    let catalog: Catalog

    init() throws {
        dir = try TempDir()
        let c = BackupConfig(path: dir.path + "/mha-backup.cnf", mhaConf: dir.path + "/app.cnf", credentials: dir.path + "/client.cnf",
                             stateDir: dir.path + "/state", storeDir: dir.path + "/store")
        let mha = MHAAppConfig(path: c.mhaConf, servers: [], binlogServers: [], managerWorkdir: dir.path + "/work", managerLog: nil,
                               defaults: [:], user: nil)
        ctx = Context(config: c, mha: mha)
        catalog = Catalog(dir: c.backupsDir)
    }

    deinit { dir.cleanup() }

    var binlogsDir: String { ctx.config.binlogsDir }

    func verifier() -> Verifier {
        let v = Verifier(ctx: ctx)
        v.log = { _ in }
        return v
    }

    func verify(_ s: VerifySelection, _ level: VerifyLevel = .structure) throws -> VerifyReport {
        try verifier().run(s, level: level)
    }

    /// Runs a tool and returns its stdout; the test fails when it fails.
    static func tool(_ stages: [[String]], stdin: Data? = nil, cwd: String? = nil) throws -> Data {
        var o = RunOptions(timeout: 60)
        o.stdin = stdin.map { .data($0) } ?? .null
        o.stdout = .capture(limit: 64 << 20)
        o.workingDirectory = cwd
        let r = try ProcessRunner().runPipeline(stages.map { Command($0) }, options: o)
        try #require(r.succeeded, "\(stages): \(r.failureSummary)")
        return r.stdout
    }

    func manifest(_ id: String, type: BackupType, method: BackupMethod, parent: Manifest? = nil,
                  from: Int64? = nil, to: Int64? = nil) -> Manifest {
        Manifest(id: id, type: type, method: method, status: .running, sourceHost: "db2", sourcePort: 3306, sourceServerId: 2,
                 sourceVersion: "10.11.6-MariaDB", sourceRole: "replica", timeline: 1, startedAt: Date(), finishedAt: Date(),
                 fromLSN: from, toLSN: to, lastLSN: to, binlog: nil, replicaOf: nil, parent: parent?.id, compression: .zstd)
    }

    /// Writes `data` as `name` in the backup's folder and lists it in the manifest with its hash.
    func add(_ name: String, _ data: Data, to m: inout Manifest) throws {
        let path = "\(catalog.folder(m.id))/\(name)"
        try AtomicFile.makeDirectory(catalog.folder(m.id))
        try AtomicFile.write(data, to: path, mode: 0o640)
        let h = try SHA256Hasher.hashFile(path)
        m.files.removeAll { $0.name == name }
        m.files.append(ManifestFile(name: name, size: h.size, sha256: h.sha256))
    }

    /// The manifest re-hashed from the bytes on disk and committed again: a backup that recorded
    /// bad bytes as good, which only the structure check can catch.
    func recommit(_ m: Manifest) throws {
        var m = m
        for (i, f) in m.files.enumerated() {
            let h = try SHA256Hasher.hashFile("\(catalog.folder(m.id))/\(f.name)")
            m.files[i] = ManifestFile(name: f.name, size: h.size, sha256: h.sha256)
        }
        try catalog.commit(m)
    }

    static let dumpText = """
    -- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)
    --
    -- Host: 127.0.0.11    Database:
    -- ------------------------------------------------------
    -- Server version\t10.11.6-MariaDB-0+deb12u1-log

    --
    -- Position to start replication or point-in-time recovery from
    --

    -- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000003', MASTER_LOG_POS=385;

    --
    -- GTID to start replication from
    --

    -- SET GLOBAL gtid_slave_pos='0-11-15';

    CREATE TABLE `t` (`id` int NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB;
    INSERT INTO `t` VALUES (1),(2),(3);

    -- Dump completed on 2026-11-25 17:19:08

    """

    @discardableResult
    func dump(_ id: String, text: String = VerifyStore.dumpText) throws -> Manifest {
        var m = manifest(id, type: .full, method: .dump)
        m.binlog = Coordinates(file: "mysql-bin.000003", position: 385, gtid: "0-11-15")
        try add("dump.sql.zst", try Self.tool([["zstd", "-q", "-c"]], stdin: Data(text.utf8)), to: &m)
        try catalog.commit(m)
        return m
    }

    /// A physical backup: a stream of `xtrabackup_checkpoints` and a data file made by `mbstream -c`,
    /// compressed with zstd, plus the catalog's copy of the checkpoints.
    @discardableResult
    func physical(_ id: String, parent: Manifest? = nil, from: Int64, to: Int64, streamFrom: Int64? = nil) throws -> Manifest {
        let type: BackupType = parent == nil ? .full : .incremental
        var m = manifest(id, type: type, method: .mariabackup, parent: parent, from: from, to: to)
        let cp = "backup_type = \(type == .full ? "full-backuped" : "incremental")\nfrom_lsn = \(streamFrom ?? from)\nto_lsn = \(to)\nlast_lsn = \(to)\n"
        let src = "\(dir.path)/src-\(id)"
        try AtomicFile.makeDirectory(src)
        try AtomicFile.write(cp, to: "\(src)/xtrabackup_checkpoints")
        var filler = Data()
        for i in 0..<(256 << 10) { filler.append(UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13)) }
        try AtomicFile.write(filler, to: "\(src)/ibdata1")
        let stream = try Self.tool([["mbstream", "-c", "ibdata1", "xtrabackup_checkpoints"], ["zstd", "-q", "-c"]], cwd: src)
        try add("backup.xbstream.zst", stream, to: &m)
        try add("xtrabackup_checkpoints", Data(cp.utf8), to: &m)
        try add("xtrabackup_info", Data("tool_name = mariabackup\n".utf8), to: &m)
        try catalog.commit(m)
        return m
    }

    func path(_ m: Manifest, _ name: String) -> String { "\(catalog.folder(m.id))/\(name)" }

    /// Flips a byte of `name`, records the damaged bytes as good (`recommit`) and verifies the
    /// backup at structure: only the structure check can catch it now.
    func recordedDamaged(_ m: Manifest, _ name: String, at fraction: Double) throws -> VerifyRecord? {
        try Self.flip(path(m, name), at: fraction)
        try recommit(m)
        #expect(try verify(.backup(m.id), .files).ok)
        return try verify(.backup(m.id)).records.last
    }

    /// XORs one byte at `fraction` of the file's length.
    static func flip(_ path: String, at fraction: Double = 0.5) throws {
        var d = try #require(FileManager.default.contents(atPath: path))
        let i = min(d.count - 1, Int(Double(d.count) * fraction))
        d[i] ^= 0xFF
        try d.write(to: URL(fileURLWithPath: path))
    }

    static func truncate(_ path: String, to n: Int) throws {
        let d = try #require(FileManager.default.contents(atPath: path))
        try Data(d.prefix(n)).write(to: URL(fileURLWithPath: path))
    }

    /// An archive folder holding `files` as committed binlogs (`.sha256` and index.json entries
    /// from the bytes given).
    @discardableResult
    func archive(_ folder: String, _ files: [(String, Data)]) throws -> String {
        let dir = "\(binlogsDir)/\(folder)"
        try AtomicFile.makeDirectory(dir)
        var idx = BinlogIndex(host: "127.0.0.11", port: 3306)
        for (name, data) in files {
            try AtomicFile.write(data, to: "\(dir)/\(name)")
            let sha = SHA256Hasher.hex(of: data)
            try AtomicFile.write(BinlogChecksumFile.format(sha256: sha, name: name), to: "\(dir)/\(name).sha256")
            idx.upsert(ArchivedBinlog(name: name, size: Int64(data.count), sha256: sha, archivedAt: Date(), sourceHost: "127.0.0.11",
                                      sourcePort: 3306, via: "ssh"))
        }
        try AtomicFile.write(JSON.encode(idx), to: "\(dir)/index.json")
        return dir
    }
}

/// A closed MariaDB 10.11 binlog (binlog_checksum=CRC32) from the sandbox: format description,
/// GTID list, checkpoints, a CREATE DATABASE, a CREATE TABLE, two row-based transactions and the
/// rotate event at 1276 that closes it (1323 bytes). Events end at 1000 (a GTID event) and at 1276.
private let realBinlog = Data(base64Encoded: """
/mJpbsYXB2sPKQAAAPwAAAAAAQAAAAAEADEwLjExLjE5LU1hcmlhREItMCtkZWIxMnUxLWxvZwAAAAAAAAAAAAAAAAAAAAAAAAAA\
AAAAABM4DQAIABIABAQEBBIAAOQABBoIAAAACAgIAgAAAAoKCgAAAAAAAAoKCgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
AAAAAAAAAAAAAAAAAAAABBMEAA0ICAgKCgoB4/kzGcYXB2ujKQAAACsAAAArAQAAAAABAAAAAAAAACkAAAALAAAAAAAAAHH1dubG\
FwdroSkAAAArAAAAVgEAAAAAEAAAAG15c3FsLWJpbi4wMDAwMDERdT7XxhcHa6EpAAAAKwAAAIEBAAAAABAAAABteXNxbC1iaW4u\
MDAwMDAy0au5qsYXB2uiKQAAACoAAACrAQAACAAMAAAAAAAAAAAAAAApAAAAAAAAZrlGR8YXB2sCKQAAAGUAAAAQAgAACAAJAAAA\
AAAAAAQAABoAAAAAAAEBAAAgVAAAAAAGA3N0ZAQhACEACAB2ZXhwAENSRUFURSBEQVRBQkFTRSBJRiBOT1QgRVhJU1RTIHZleHAA\
rIaSxhcHa6IpAAAAKgAAADoCAAAIAA0AAAAAAAAAAAAAACkAAAAAAADFFgyYxhcHawIpAAAAnQAAANcCAAAAAAkAAAAAAAAAAAAA\
IwAAAAAAAQEAACBUAAAAAAYDc3RkBCEAIQAIAIEmAAAAAAAAAABDUkVBVEUgVEFCTEUgSUYgTk9UIEVYSVNUUyB2ZXhwLnQgKGlk\
IGludCBwcmltYXJ5IGtleSBhdXRvX2luY3JlbWVudCwgdiB2YXJjaGFyKDEwMCkpa4qnjsYXB2uiKQAAACoAAAABAwAACAAOAAAA\
AAAAAAAAAAAMAAAAAAAAJq8l1sYXB2ugKQAAAEAAAABBAwAAAABJTlNFUlQgSU5UTyB2ZXhwLnQgKHYpIFZBTFVFUyAoJ2EnKSwo\
J2InKaBVGbHGFwdrEykAAAAvAAAAcAMAAAAAFgAAAAAAAQAEdmV4cAABdAACAw8CZAACht2L38YXB2sXKQAAAC8AAACfAwAAAAAW\
AAAAAAABAAID/AEAAAABYfwCAAAAAWIPRWLKxhcHaxApAAAAHwAAAL4DAAAAACcAAAAAAAAAze5zJsYXB2uiKQAAACoAAADoAwAA\
CAAPAAAAAAAAAAAAAAAMAAAAAAAAUchuLsYXB2ugKQAAAEUAAAAtBAAAAABJTlNFUlQgSU5UTyB2ZXhwLnQgKHYpIFZBTFVFUyAo\
cmVwZWF0KCd4Jyw5MCkp1ofEDMYXB2sTKQAAAC8AAABcBAAAAAAWAAAAAAABAAR2ZXhwAAF0AAIDDwJkAAIePsAFxhcHaxcpAAAA\
gQAAAN0EAAAAABYAAAAAAAEAAgP8AwAAAFp4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\
eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHi7GUxCxhcHaxApAAAAHwAAAPwEAAAAACgAAAAAAAAAZcn3\
IsYXB2sEKQAAAC8AAAArBQAAAAAEAAAAAAAAAG15c3FsLWJpbi4wMDAwMDMiHJRL
""".replacingOccurrences(of: "\n", with: ""))!

private func reasons(_ r: VerifyRecord?) -> [String] { r?.problems.map(\.reason) ?? [] }

@Suite("verify: files and structure of a hand-made store")
struct VerifyTests {
    @Test("a dump and a full+incremental chain pass at structure; verify.json is written, the manifest is not touched")
    func goodStore() throws {
        let s = try VerifyStore()
        let d = try s.dump("20261125T100000Z-full-dump01")
        let full = try s.physical("20261125T100100Z-full-aaaaaa", from: 0, to: 1000)
        let inc = try s.physical("20261125T100200Z-incr-bbbbbb", parent: full, from: 1000, to: 2000)
        let before = try #require(FileManager.default.contents(atPath: s.path(inc, "manifest.json")))
        let rep = try s.verify(.all)
        #expect(rep.ok, "\(rep.records.flatMap(\.problems))")
        #expect(rep.records.map(\.id) == [d.id, full.id, inc.id])
        #expect(rep.records.allSatisfy { $0.level == .structure && $0.kind == .backup })
        #expect(rep.records.first { $0.id == inc.id }?.files == 3)
        let saved = try JSON.load(VerifyRecord.self, path: s.path(inc, "verify.json"))
        #expect(saved.ok && saved.id == inc.id && saved.level == .structure)
        #expect(FileManager.default.contents(atPath: s.path(inc, "manifest.json")) == before)
        #expect(try s.catalog.load(inc.id).status == .complete)
        // No unpack folder is left behind.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(s.ctx.config.storeDir)/.verify-tmp")) ?? []).isEmpty)
    }

    @Test("--latest picks the newest complete backup and walks its chain, parent first")
    func latest() throws {
        let s = try VerifyStore()
        let full = try s.physical("20261125T100100Z-full-aaaaaa", from: 0, to: 1000)
        let inc = try s.physical("20261125T100200Z-incr-bbbbbb", parent: full, from: 1000, to: 2000)
        var broken = s.manifest("20261125T100300Z-full-cccccc", type: .full, method: .dump)
        broken.status = .failed
        try s.catalog.write(broken)
        let rep = try s.verify(.latest, .files)
        #expect(rep.ok && !rep.binlogsChecked)
        #expect(rep.records.map(\.id) == [full.id, inc.id])
    }

    @Test("a flipped byte fails the files level naming the file and both digests")
    func flippedByte() throws {
        let s = try VerifyStore()
        let d = try s.dump("20261125T100000Z-full-dump01")
        try VerifyStore.flip(s.path(d, "dump.sql.zst"))
        let r = try s.verify(.backup(d.id), .files).records.last
        #expect(r?.ok == false)
        #expect(r?.problems.first?.file == s.path(d, "dump.sql.zst"))
        #expect(reasons(r).first?.hasPrefix("sha256 ") == true)
        #expect(reasons(r).first?.contains("the manifest records \(d.files[0].sha256)") == true)
    }

    @Test("a truncated file fails on its size; a missing one as missing")
    func truncatedAndMissing() throws {
        let s = try VerifyStore()
        let full = try s.physical("20261125T100100Z-full-aaaaaa", from: 0, to: 1000)
        let stream = s.path(full, "backup.xbstream.zst")
        let cut = Int(full.files[0].size / 2)
        try VerifyStore.truncate(stream, to: cut)
        try FileManager.default.removeItem(atPath: s.path(full, "xtrabackup_info"))
        let r = try s.verify(.backup(full.id)).records.last
        #expect(r?.problems.contains(VerifyProblem(file: stream, reason: "size \(cut) bytes, the manifest records \(full.files[0].size)")) == true, "\(reasons(r))")
        #expect(r?.problems.contains(VerifyProblem(file: s.path(full, "xtrabackup_info"), reason: "file is missing")) == true)
        #expect(r?.notes.contains("structure not checked: the files check failed") == true)
    }

    @Test("structure: a dump recorded truncated has no '-- Dump completed'; one without coordinates or header fails too")
    func dumpStructure() throws {
        let s = try VerifyStore()
        let text = VerifyStore.dumpText
        let cut = try s.dump("20261125T100000Z-full-dump01", text: String(text.prefix(text.count - 60)))
        #expect(try s.verify(.backup(cut.id), .files).ok)
        let r = try s.verify(.backup(cut.id)).records.last
        #expect(r?.problems == [VerifyProblem(file: s.path(cut, "dump.sql.zst"), reason: "no '-- Dump completed' line at its end: truncated")])

        let bare = try s.dump("20261125T100001Z-full-dump02", text: "CREATE TABLE t (id int);\n-- Dump completed on 2026-11-25\n")
        let r2 = try s.verify(.backup(bare.id)).records.last
        #expect(reasons(r2) == ["no '-- MariaDB dump' or '-- MySQL dump' header",
                                "no 'CHANGE MASTER TO MASTER_LOG_FILE=...' coordinates line in its head"])

        let moved = try s.dump("20261125T100002Z-full-dump03", text: text.replacingOccurrences(of: "MASTER_LOG_POS=385", with: "MASTER_LOG_POS=999"))
        #expect(reasons(try s.verify(.backup(moved.id)).records.last)
                == ["coordinates mysql-bin.000003:999 in the dump, the manifest records mysql-bin.000003:385"])
    }

    @Test("structure: damaged bytes recorded as good: a dump does not decompress, a stream does not unpack (zstd, the stage that failed first, is named)")
    func recordedDamage() throws {
        let s = try VerifyStore()
        let d = try s.dump("20261125T100000Z-full-dump01")
        let full = try s.physical("20261125T100100Z-full-aaaaaa", from: 0, to: 1000)
        for (m, name, prefix) in [(d, "dump.sql.zst", "does not decompress: "),
                                  (full, "backup.xbstream.zst", "the stream does not unpack: 'zstd' exit 1")] {
            let r = try s.recordedDamaged(m, name, at: 0.6)
            #expect(r?.problems.first?.file == s.path(m, name))
            #expect(reasons(r).first?.hasPrefix(prefix) == true, "\(reasons(r))")
        }
    }

    @Test("structure: an uncompressed stream with a flipped byte fails in mbstream's chunk checksum")
    func rawStreamCorrupt() throws {
        let s = try VerifyStore()
        var m = s.manifest("20261125T100100Z-full-aaaaaa", type: .full, method: .mariabackup, from: 0, to: 1000)
        m.compression = Compression.none
        let src = "\(s.dir.path)/raw"
        try AtomicFile.makeDirectory(src)
        let cp = "backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 1000\n"
        try AtomicFile.write(cp, to: "\(src)/xtrabackup_checkpoints")
        try AtomicFile.write(Data(repeating: 7, count: 100_000), to: "\(src)/ibdata1")
        var stream = try VerifyStore.tool([["mbstream", "-c", "ibdata1", "xtrabackup_checkpoints"]], cwd: src)
        stream[50_000] ^= 0xFF
        try s.add("backup.xbstream", stream, to: &m)
        try s.add("xtrabackup_checkpoints", Data(cp.utf8), to: &m)
        try s.catalog.commit(m)
        let r = try s.verify(.backup(m.id)).records.last
        #expect(reasons(r).first?.hasPrefix("the stream does not unpack: 'mbstream' exit 1") == true, "\(reasons(r))")
        #expect(reasons(r).first?.contains("checksum") == true, "\(reasons(r))")
    }

    @Test("structure: the stream's LSNs must be the manifest's and the catalog copy's; an incremental starts at its parent's to_lsn")
    func lsns() throws {
        let s = try VerifyStore()
        let full = try s.physical("20261125T100100Z-full-aaaaaa", from: 0, to: 1000)
        let inc = try s.physical("20261125T100200Z-incr-bbbbbb", parent: full, from: 1000, to: 2000, streamFrom: 900)
        let r = try s.verify(.backup(inc.id)).records.last
        let stream = s.path(inc, "backup.xbstream.zst")
        #expect(r?.problems.contains(VerifyProblem(file: stream, reason: "xtrabackup_checkpoints in the stream has from_lsn '900', the manifest records 1000")) == true)
        #expect(r?.problems.contains(VerifyProblem(file: stream, reason: "broken chain: from_lsn 900 is not parent '\(full.id)''s to_lsn 1000")) == true)
        // The catalog copy was written from the same text: it agrees with the stream.
        #expect(r?.problems.count == 2, "\(reasons(r))")
    }

    @Test("broken chain: a deleted parent or a corrupt parent fails the child, naming the parent")
    func brokenChain() throws {
        let s = try VerifyStore()
        let full = try s.physical("20261125T100100Z-full-aaaaaa", from: 0, to: 1000)
        let inc = try s.physical("20261125T100200Z-incr-bbbbbb", parent: full, from: 1000, to: 2000)
        let inc2 = try s.physical("20261125T100300Z-incr-cccccc", parent: inc, from: 2000, to: 3000)

        try VerifyStore.flip(s.path(full, "backup.xbstream.zst"))
        var rep = try s.verify(.backup(inc2.id), .files)
        #expect(!rep.ok)
        #expect(rep.records.map(\.id) == [full.id, inc.id, inc2.id])
        let child = rep.records.last
        #expect(child?.problems.first?.file == s.path(full, "backup.xbstream.zst"))
        #expect(reasons(child).first?.hasPrefix("broken chain: parent '\(full.id)': sha256 ") == true, "\(reasons(child))")

        try FileManager.default.removeItem(atPath: s.catalog.folder(full.id))
        rep = try s.verify(.backup(inc.id), .files)
        #expect(rep.records.last?.problems == [VerifyProblem(file: s.catalog.folder(full.id), reason: "broken chain: parent '\(full.id)': backup folder is missing")])
    }

    @Test("a parent that never committed breaks the chain; --all skips backups that never claimed to be complete")
    func uncommittedParent() throws {
        let s = try VerifyStore()
        let full = try s.physical("20261125T100100Z-full-aaaaaa", from: 0, to: 1000)
        let inc = try s.physical("20261125T100200Z-incr-bbbbbb", parent: full, from: 1000, to: 2000)
        try FileManager.default.removeItem(atPath: s.path(full, "COMMITTED"))
        var failed = s.manifest("20261125T100300Z-full-dddddd", type: .full, method: .dump)
        failed.status = .failed
        failed.message = "backup pipeline failed"
        try s.catalog.write(failed)
        let rep = try s.verify(.all, .files)
        #expect(rep.skipped.map(\.id) == [failed.id])
        #expect(rep.skipped.first?.reason == "status 'failed' (backup pipeline failed)")
        #expect(rep.records.first { $0.id == full.id }?.problems == [VerifyProblem(file: s.path(full, "COMMITTED"), reason: "backup is partial: no commit marker")])
        #expect(reasons(rep.records.first { $0.id == inc.id }) == ["broken chain: parent '\(full.id)': backup is partial: no commit marker"])
    }

    @Test("an unknown id and an empty catalog are 'no input' (66); a path is not an id (64)")
    func selectionErrors() throws {
        let s = try VerifyStore()
        #expect(mbError { _ = try s.verify(.latest) }?.code == .noInput)
        #expect(mbError { _ = try s.verify(.all) }?.code == .noInput)
        #expect(mbError { _ = try s.verify(.backup("nosuch")) }?.code == .noInput)
        #expect(mbError { _ = try s.verify(.backup("../etc")) }?.code == .usage)
    }

    @Test("binlog archive: good files pass at structure, each re-hashed and parsed; a flipped byte fails on its .sha256")
    func binlogsGoodAndFlipped() throws {
        let s = try VerifyStore()
        let dir = try s.archive("127.0.0.11_3306", [("mysql-bin.000002", realBinlog)])
        var rep = try s.verify(.all)
        #expect(rep.ok, "\(rep.records.flatMap(\.problems))")
        #expect(rep.records.map(\.id) == ["binlogs/127.0.0.11_3306"])
        #expect(rep.records.first?.files == 1 && rep.binlogsChecked)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/verify.json"))

        try VerifyStore.flip("\(dir)/mysql-bin.000002")
        rep = try s.verify(.all, .files)
        #expect(rep.records.first?.problems.first?.file == "\(dir)/mysql-bin.000002")
        #expect(reasons(rep.records.first).first?.contains("mysql-bin.000002.sha256 records") == true)
    }

    @Test("binlog archive: a binlog archived cut (checksum of the cut bytes) fails structure: mid-event, at an event boundary, or with a flipped byte")
    func binlogStructure() throws {
        let s = try VerifyStore()
        var flipped = realBinlog
        flipped[600] ^= 0xFF
        let dir = try s.archive("127.0.0.11_3306", [("mysql-bin.000002", realBinlog.prefix(700)),
                                                     ("mysql-bin.000003", realBinlog.prefix(1000)),
                                                     ("mysql-bin.000004", flipped)])
        #expect(try s.verify(.all, .files).ok)
        let rep = try s.verify(.all)
        let p = rep.records.first?.problems ?? []
        #expect(p.count == 3, "\(p)")
        #expect(p.first { $0.file == "\(dir)/mysql-bin.000002" }?.reason == "event at offset 570 (type 2) needs 157 bytes, the file ends after 130: truncated")
        #expect(p.first { $0.file == "\(dir)/mysql-bin.000003" }?.reason
                == "ends after event 14 (type 162) at offset 1000 without a rotate or stop event: truncated at an event boundary")
        let crc = p.first { $0.file == "\(dir)/mysql-bin.000004" }?.reason ?? ""
        #expect(crc.hasPrefix("does not parse: 'mariadb-binlog' exit 1: ") && crc.contains("crc check failed"), "\(crc)")
    }

    @Test("binlog archive: index.json and the .sha256 must agree; a missing file, a missing checksum; mha-saved files")
    func binlogIndexAndSaved() throws {
        let s = try VerifyStore()
        let dir = try s.archive("127.0.0.11_3306", [("mysql-bin.000002", realBinlog), ("mysql-bin.000003", realBinlog),
                                                     ("mysql-bin.000004", realBinlog)])
        var idx = try JSON.load(BinlogIndex.self, path: "\(dir)/index.json")
        idx.files[0].sha256 = String(repeating: "0", count: 64)
        try AtomicFile.write(JSON.encode(idx), to: "\(dir)/index.json")
        try FileManager.default.removeItem(atPath: "\(dir)/mysql-bin.000003")
        try FileManager.default.removeItem(atPath: "\(dir)/mysql-bin.000004.sha256")
        // An uncommitted binlog (no .sha256, not in the index) is noted, not failed.
        try AtomicFile.write(realBinlog, to: "\(dir)/mysql-bin.000005")
        try AtomicFile.makeDirectory("\(dir)/mha-saved")
        let saved = "\(dir)/mha-saved/saved_master_binlog_from_127.0.0.11_3306_20261125"
        try AtomicFile.write(realBinlog, to: saved)
        try AtomicFile.write(BinlogChecksumFile.format(sha256: SHA256Hasher.hex(of: realBinlog), name: (saved as NSString).lastPathComponent),
                             to: saved + ".sha256")
        try AtomicFile.write("0000  saved_master_binlog_other\n", to: "\(dir)/mha-saved/saved_master_binlog_other.sha256")

        var r = try s.verify(.all, .files).records.first
        #expect(r?.problems == [
            VerifyProblem(file: "\(dir)/mysql-bin.000002", reason: "index.json records sha256 \(String(repeating: "0", count: 64)), mysql-bin.000002.sha256 holds \(SHA256Hasher.hex(of: realBinlog))"),
            VerifyProblem(file: "\(dir)/mysql-bin.000003", reason: "file is missing"),
            VerifyProblem(file: "\(dir)/mysql-bin.000004.sha256", reason: "checksum file is missing or malformed"),
            VerifyProblem(file: "\(dir)/mha-saved/saved_master_binlog_other.sha256", reason: "checksum file without its binlog"),
        ])
        #expect(r?.notes.contains("mysql-bin.000005 has no .sha256: not committed, not checked") == true)

        try FileManager.default.removeItem(atPath: "\(dir)/mha-saved/saved_master_binlog_other.sha256")
        try VerifyStore.flip(saved)
        r = try s.verify(.all, .files).records.first
        #expect(r?.problems.last?.file == saved)
        #expect(r?.problems.last?.reason.contains("\((saved as NSString).lastPathComponent).sha256 records") == true)
    }

    @Test("the event walk: a closed binlog ends with its rotate event; an open one (in-use flag) cannot tell its end")
    func layout() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let p = t.path + "/b"
        try realBinlog.write(to: URL(fileURLWithPath: p))
        let l = try BinlogLayout.read(p)
        #expect(l.events == 19 && l.end == 1323 && l.lastEventType == 4 && l.inUse == false && l.endProblem == nil)
        var open = Data(realBinlog.prefix(1000))
        open[4 + 17] |= 1
        try open.write(to: URL(fileURLWithPath: p))
        #expect(try BinlogLayout.read(p).endProblem == nil)
        try Data("not a binlog".utf8).write(to: URL(fileURLWithPath: p))
        #expect(try BinlogLayout.read(p).endProblem == "not a binlog: no magic bytes at its start")
    }

    @Test("the command: usage errors are 64, unknown id 66, a failed check 65, all good 0; --json prints the records")
    func command() throws {
        let s = try VerifyStore()
        try s.dir.write("client.cnf", "[client]\nuser=backup\n")
        try s.dir.write("app.cnf", "[server default]\nmanager_workdir=\(s.dir.path)/work\n[server1]\nhostname=127.0.0.1\n", mode: 0o644)
        try s.dir.write("mha-backup.cnf", """
        [mha-backup]
        mha_conf = \(s.dir.path)/app.cnf
        credentials = \(s.dir.path)/client.cnf
        state_dir = \(s.dir.path)/state
        store_dir = \(s.dir.path)/store

        """)
        let cfg = ["--config", s.dir.path + "/mha-backup.cnf", "verify"]
        #expect(CLI.main(cfg + ["--level", "bogus"]) == 64)
        #expect(CLI.main(cfg + ["x", "--all"]) == 64)
        #expect(CLI.main(cfg + ["--all", "--latest"]) == 64)
        #expect(CLI.main(cfg + ["a", "b"]) == 64)
        #expect(CLI.main(cfg) == 66)
        let d = try s.dump("20261125T100000Z-full-dump01")
        #expect(CLI.main(cfg + ["nosuch"]) == 66)
        #expect(CLI.main(cfg + ["--json"]) == 0)
        #expect(CLI.main(cfg + [d.id, "--level", "files"]) == 0)
        try VerifyStore.flip(s.path(d, "dump.sql.zst"))
        #expect(CLI.main(cfg + ["--all"]) == 65)
        let saved = try JSON.load(VerifyRecord.self, path: s.path(d, "verify.json"))
        #expect(!saved.ok && saved.problems.first?.file == s.path(d, "dump.sql.zst"))
    }
}
