import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// A temp folder removed when the test ends.
private final class BinlogScratch {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "mha-backup-binlog-unit-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ data: Data) { precondition(FileManager.default.createFile(atPath: "\(path)/\(name)", contents: data)) }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: "\(path)/\(name)") }
    func read(_ name: String) -> Data? { FileManager.default.contents(atPath: "\(path)/\(name)") }
}

/// Binlog-shaped bytes: magic, a format description event with the in-use flag, MariaDB GTID
/// events for 0-11-seq, and filler events of a given size.
private func syntheticBinlog(gtids: [UInt64], inUse: Bool = false, filler: Int = 100) -> Data {
    func header(type: UInt8, size: Int, serverId: UInt32 = 11, flags: UInt16 = 0) -> [UInt8] {
        var h: [UInt8] = [0, 0, 0, 0, type]
        h += withUnsafeBytes(of: serverId.littleEndian, Array.init)
        h += withUnsafeBytes(of: UInt32(size).littleEndian, Array.init)
        h += [0, 0, 0, 0]
        h += withUnsafeBytes(of: flags.littleEndian, Array.init)
        return h
    }
    var d: [UInt8] = BinlogEventScanner.magic
    d += header(type: 15, size: 19 + 60, flags: inUse ? 1 : 0) + [UInt8](repeating: 7, count: 60)
    for g in gtids {
        var body = withUnsafeBytes(of: g.littleEndian, Array.init)          // seq_no
        body += withUnsafeBytes(of: UInt32(0).littleEndian, Array.init)     // domain
        body += [0] + [0, 0, 0, 0]                                          // flags2, crc
        d += header(type: 162, size: 19 + body.count) + body
        d += header(type: 2, size: 19 + filler) + [UInt8](repeating: UInt8(g & 0xff), count: filler)
    }
    return Data(d)
}

private func digest(of data: Data) throws -> BinlogDigest {
    let h = BackgroundHasher(bufferSize: 64, buffers: 2)
    try data.withUnsafeBytes { try h.consume($0) }
    return try h.finish()
}

/// Writes `data` to a fresh temp file of the archive, fsynced, as the archiver does.
func partial(_ a: BinlogArchive, _ name: String, _ data: Data) throws -> (String, BinlogDigest) {
    try AtomicFile.makeDirectory(a.dir)
    let p = a.partialPath(for: name)
    let f = try BinlogPartialFile(path: p)
    let h = BackgroundHasher { try f.write($0) }
    try data.withUnsafeBytes { try h.consume($0) }
    let d = try h.finish()
    try f.sync()
    return (p, d)
}

private func list(_ files: [(String, Int64)]) -> ServerBinlogList {
    ServerBinlogList(files: files.map { ServerBinlog(name: $0.0, size: $0.1) })
}

@Suite("binlog names and the server's list")
struct BinlogNameUnitTests {
    @Test("plain names parse and sort by number; anything path-like is refused")
    func names() throws {
        let n = try #require(BinlogName("mysql-bin.000012"))
        #expect(n.base == "mysql-bin" && n.number == 12)
        #expect(BinlogName("mysql-bin.000009")! < BinlogName("mysql-bin.000010")!)
        #expect(BinlogName("mysql-bin.1000000")! > BinlogName("mysql-bin.999999")!)
        for bad in ["mysql-bin.index", "../x.000001", "a/b.000001", ".x.000001", "-x.000001", "x.", "x.00a1", "", "mysql bin.000001"] {
            #expect(BinlogName(bad) == nil, "\(bad) must be refused")
        }
    }

    @Test("SHOW BINARY LOGS rows: the last one is active; a path-like name is a data error")
    func serverList() throws {
        let rows = ResultText.parseBatch("Log_name\tFile_size\nmysql-bin.000001\t2627\nmysql-bin.000002\t385\n")
        let l = try ServerBinlogList.parse(rows, endpoint: "h:3306")
        #expect(l.files == [ServerBinlog(name: "mysql-bin.000001", size: 2627), ServerBinlog(name: "mysql-bin.000002", size: 385)])
        #expect(l.active?.name == "mysql-bin.000002")
        #expect(l.closed.map(\.name) == ["mysql-bin.000001"])
        let bad = ResultText.parseBatch("Log_name\tFile_size\n../../etc/passwd.1\t5\n")
        #expect(throws: MBError.self) { try ServerBinlogList.parse(bad, endpoint: "h:3306") }
        do { _ = try ServerBinlogList.parse(bad, endpoint: "h:3306") } catch let e as MBError { #expect(e.code == .dataError) }
    }
}

@Suite("binlog closed-file decision")
struct BinlogClosedRuleUnitTests {
    @Test("a newer file in the stream folder closes the older one; the newest stays active")
    func newerFile() {
        let d = BinlogClosedRule.decide(local: ["mysql-bin.000001": 100, "mysql-bin.000002": 50], server: nil)
        #expect(d["mysql-bin.000001"]?.isClosed == true)
        #expect(d["mysql-bin.000002"] == .active)
    }

    @Test("the active file is never closed, even when its size equals the server's (in-use flag trap)")
    func activeSameSize() {
        let d = BinlogClosedRule.decide(local: ["mysql-bin.000003": 700],
                                        server: list([("mysql-bin.000002", 9), ("mysql-bin.000003", 700)]))
        #expect(d["mysql-bin.000003"] == .active)
    }

    @Test("the server moved on: closed when the sizes match, incomplete when the copy is short")
    func serverMovedOn() {
        let server = list([("mysql-bin.000003", 700), ("mysql-bin.000004", 300)])
        #expect(BinlogClosedRule.decide(local: ["mysql-bin.000003": 700], server: server)["mysql-bin.000003"]?.isClosed == true)
        #expect(BinlogClosedRule.decide(local: ["mysql-bin.000003": 500], server: server)["mysql-bin.000003"]
                == .incomplete(local: 500, server: 700))
    }

    @Test("a newer local file but another size on the server is a mismatch, not closed")
    func mismatch() {
        let d = BinlogClosedRule.decide(local: ["mysql-bin.000003": 700, "mysql-bin.000004": 10],
                                        server: list([("mysql-bin.000003", 650), ("mysql-bin.000004", 10)]))
        #expect(d["mysql-bin.000003"] == .mismatch(local: 700, server: 650))
        #expect(d["mysql-bin.000004"] == .active)
    }

    @Test("a purged file with nothing newer is an orphan; a closed purged file is still closed")
    func orphan() {
        let server = list([("mysql-bin.000007", 10), ("mysql-bin.000008", 10)])
        #expect(BinlogClosedRule.decide(local: ["mysql-bin.000002": 10], server: server)["mysql-bin.000002"] == .orphan)
        let d = BinlogClosedRule.decide(local: ["mysql-bin.000002": 10, "mysql-bin.000003": 10], server: server)
        #expect(d["mysql-bin.000002"]?.isClosed == true)
        #expect(d["mysql-bin.000003"] == .orphan)
    }

    @Test("the stream starts at the first file the archive lacks or holds with another size, else the active one")
    func startFile() {
        let server = list([("b.000001", 10), ("b.000002", 20), ("b.000003", 30), ("b.000004", 5)])
        let all: (String) -> ArchivedBinlogState = { n in .complete(sha256: "x", size: server.entry(n)!.size) }
        #expect(BinlogClosedRule.startFile(server: server, archived: all) == "b.000004")
        #expect(BinlogClosedRule.startFile(server: server, archived: { $0 == "b.000001" ? .complete(sha256: "x", size: 10) : .absent }) == "b.000002")
        #expect(BinlogClosedRule.startFile(server: server, archived: { $0 == "b.000002" ? .complete(sha256: "x", size: 19) : all($0) }) == "b.000002")
        #expect(BinlogClosedRule.startFile(server: server, archived: { $0 == "b.000003" ? .unverified(size: 30) : all($0) }) == "b.000003")
    }

    @Test("archive plan: fetch new, refetch unverified or wrong-size copies, skip good ones, never the active file")
    func plan() {
        let server = list([("b.000001", 10), ("b.000002", 20), ("b.000003", 30), ("b.000004", 40), ("b.000005", 50), ("b.000006", 5)])
        let states: [String: ArchivedBinlogState] = [
            "b.000001": .complete(sha256: "x", size: 10),
            "b.000002": .unverified(size: 20),
            "b.000003": .complete(sha256: "x", size: 29),
            "b.000004": .damaged(size: 39, recorded: 40),
        ]
        let p = BinlogArchivePlan.make(server: server) { states[$0] ?? .absent }
        #expect(p.map(\.action) == [.skip, .refetch, .refetch, .refetch, .fetch, .active])
        #expect(p[2].reason == "archived size 29 != server size 30")
    }
}

@Suite("binlog archive folder: checksums, index, partial files")
struct BinlogArchiveUnitTests {
    @Test("checksum file is sha256sum format; malformed or foreign lines are refused")
    func checksumFormat() {
        let hex = String(repeating: "ab", count: 32)
        #expect(BinlogChecksumFile.format(sha256: hex, name: "mysql-bin.000001") == "\(hex)  mysql-bin.000001\n")
        #expect(BinlogChecksumFile.parse("\(hex)  mysql-bin.000001\n", name: "mysql-bin.000001") == hex)
        #expect(BinlogChecksumFile.parse("\(hex) *mysql-bin.000001\n", name: "mysql-bin.000001") == hex)
        #expect(BinlogChecksumFile.parse("\(hex)  mysql-bin.000002\n", name: "mysql-bin.000001") == nil)
        #expect(BinlogChecksumFile.parse("\(hex.uppercased())  mysql-bin.000001\n", name: "mysql-bin.000001") == nil)
        #expect(BinlogChecksumFile.parse("\(hex.dropLast())  mysql-bin.000001\n", name: "mysql-bin.000001") == nil)
        #expect(BinlogChecksumFile.parse("", name: "mysql-bin.000001") == nil)
    }

    @Test("commit writes checksum, binlog and index; the index round-trips through JSON")
    func commitAndIndex() throws {
        let t = try BinlogScratch()
        let fixed = Date(timeIntervalSince1970: 1_800_000_000)
        let a = BinlogArchive(dir: "\(t.path)/h_3306", host: "h", port: 3306, clock: Clock(now: { fixed }))
        try a.prepare()
        let data = syntheticBinlog(gtids: [5, 6, 7])
        for name in ["mysql-bin.000010", "mysql-bin.000009"] {
            let (p, d) = try partial(a, name, data)
            #expect(try a.commit(partial: p, name: name, digest: d, via: "ssh", policy: .refuse) == .archived)
            #expect(!FileManager.default.fileExists(atPath: p))
        }
        let sha = SHA256Hasher.hex(of: data)
        #expect(String(decoding: t.read("h_3306/mysql-bin.000009.sha256")!, as: UTF8.self) == "\(sha)  mysql-bin.000009\n")
        #expect(t.read("h_3306/mysql-bin.000009") == data)
        let idx = try a.loadIndex()
        #expect(idx.files.map(\.name) == ["mysql-bin.000009", "mysql-bin.000010"])
        #expect(idx.entry("mysql-bin.000009") == ArchivedBinlog(
            name: "mysql-bin.000009", size: Int64(data.count), sha256: sha, archivedAt: fixed, sourceHost: "h", sourcePort: 3306,
            via: "ssh", firstGtid: "0-11-5", lastGtid: "0-11-7"))
        let round = try JSON.decode(BinlogIndex.self, from: try JSON.encode(idx), file: "mem")
        #expect(round == idx)
        #expect(a.state(of: "mysql-bin.000009", index: idx) == .complete(sha256: sha, size: Int64(data.count)))
    }

    @Test("the same bytes twice: the second copy is dropped; other bytes: refused, or replaced on request")
    func commitTwice() throws {
        let t = try BinlogScratch()
        let a = BinlogArchive(dir: "\(t.path)/h_3306", host: "h", port: 3306)
        try a.prepare()
        let one = syntheticBinlog(gtids: [1])
        let (p1, d1) = try partial(a, "b.000001", one)
        try a.commit(partial: p1, name: "b.000001", digest: d1, via: "ssh", policy: .refuse)
        let (p2, d2) = try partial(a, "b.000001", one)
        #expect(try a.commit(partial: p2, name: "b.000001", digest: d2, via: "stream", policy: .refuse) == .alreadyArchived)
        #expect(!FileManager.default.fileExists(atPath: p2))
        #expect(try a.loadIndex().entry("b.000001")?.via == "ssh")

        let other = syntheticBinlog(gtids: [2])
        let (p3, d3) = try partial(a, "b.000001", other)
        #expect(throws: MBError.self) { try a.commit(partial: p3, name: "b.000001", digest: d3, via: "ssh", policy: .refuse) }
        #expect(t.read("h_3306/b.000001") == one)
        let (p4, d4) = try partial(a, "b.000001", other)
        #expect(try a.commit(partial: p4, name: "b.000001", digest: d4, via: "ssh", policy: .replace) == .replaced)
        #expect(t.read("h_3306/b.000001") == other)
        #expect(a.recordedChecksum("b.000001") == SHA256Hasher.hex(of: other))
        #expect(try a.loadIndex().entry("b.000001")?.sha256 == SHA256Hasher.hex(of: other))
    }

    @Test("a binlog without .sha256 is unverified, a .sha256 alone is absent, a partial never counts")
    func states() throws {
        let t = try BinlogScratch()
        let a = BinlogArchive(dir: t.path, host: "h", port: 3306)
        t.write("b.000001", Data([1, 2, 3]))
        #expect(a.state(of: "b.000001") == .unverified(size: 3))
        t.write("b.000002.sha256", Data((String(repeating: "0", count: 64) + "  b.000002\n").utf8))
        #expect(a.state(of: "b.000002") == .absent)
        t.write(".b.000003.\(getpid())-1.partial", Data([1]))
        #expect(a.state(of: "b.000003") == .absent)
        // A committed file whose size differs from the index's record is damaged.
        let (p, d) = try partial(a, "b.000004", syntheticBinlog(gtids: [1]))
        try a.commit(partial: p, name: "b.000004", digest: d, via: "ssh", policy: .refuse)
        let fh = try #require(FileHandle(forWritingAtPath: "\(t.path)/b.000004"))
        try fh.truncate(atOffset: 10)
        try fh.close()
        #expect(a.state(of: "b.000004", index: try a.loadIndex()) == .damaged(size: 10, recorded: d.size))
        // prepare() never indexes the unverified file, the lone checksum or the partial.
        try a.prepare()
        #expect(try a.loadIndex().files.map(\.name) == ["b.000004"])
    }

    @Test("prepare removes temp files of dead or unknown owners, keeps live ones, and re-indexes committed files")
    func stalePartials() throws {
        let t = try BinlogScratch()
        let a = BinlogArchive(dir: t.path, host: "h", port: 3306)
        let dead = ".b.000001.999999999-5.partial"      // above pid_max: never alive
        let unknown = ".b.000002.partial"
        let mine = ".b.000003.\(getpid())-7.partial"
        let live = ".b.000004.1-9.partial"               // pid 1 is always alive
        for f in [dead, unknown, mine, live] { t.write(f, Data([0])) }
        #expect(BinlogArchive.partialOwner(dead) == 999_999_999)
        #expect(BinlogArchive.partialOwner(unknown) == nil)
        // A crash after the rename, before the index: the file is committed, only the index lacks it.
        let data = syntheticBinlog(gtids: [3])
        t.write("b.000005", data)
        t.write("b.000005.sha256", Data(BinlogChecksumFile.format(sha256: SHA256Hasher.hex(of: data), name: "b.000005").utf8))
        let removed = try a.prepare()
        #expect(Set(removed) == [dead, unknown])
        #expect(!t.exists(dead) && !t.exists(unknown) && t.exists(mine) && t.exists(live))
        let e = try #require(try a.loadIndex().entry("b.000005"))
        #expect(e.via == "recovered" && e.size == Int64(data.count) && e.sha256 == SHA256Hasher.hex(of: data))
    }

    @Test("verify rehashes: a flipped byte is found")
    func verify() throws {
        let t = try BinlogScratch()
        let a = BinlogArchive(dir: t.path, host: "h", port: 3306)
        let (p, d) = try partial(a, "b.000001", syntheticBinlog(gtids: [1, 2]))
        try a.commit(partial: p, name: "b.000001", digest: d, via: "ssh", policy: .refuse)
        #expect(try a.verify("b.000001").ok)
        var bytes = t.read("b.000001")!
        bytes[30] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: "\(t.path)/b.000001"))
        let r = try a.verify("b.000001")
        #expect(!r.ok)
        #expect(r.problem?.hasPrefix("sha256 \(SHA256Hasher.hex(of: bytes)) differs") == true)
    }

    @Test("ingest of a stream copy: archived and removed; identical again: only removed; different: left as a conflict")
    func ingest() throws {
        let t = try BinlogScratch()
        let a = BinlogArchive(dir: "\(t.path)/archive", host: "h", port: 3306)
        try FileManager.default.createDirectory(atPath: "\(t.path)/stream", withIntermediateDirectories: true)
        let data = syntheticBinlog(gtids: [8, 9])
        let sha = SHA256Hasher.hex(of: data)
        t.write("stream/b.000001", data)
        #expect(try a.ingest(localPath: "\(t.path)/stream/b.000001", name: "b.000001", serverSize: nil)
                == .committed(.archived, sha256: sha, size: Int64(data.count)))
        #expect(!t.exists("stream/b.000001"))
        #expect(t.read("archive/b.000001") == data)
        #expect(try a.loadIndex().entry("b.000001")?.via == "stream")
        #expect(try a.loadIndex().entry("b.000001")?.lastGtid == "0-11-9")

        t.write("stream/b.000001", data)
        #expect(try a.ingest(localPath: "\(t.path)/stream/b.000001", name: "b.000001", serverSize: nil)
                == .committed(.alreadyArchived, sha256: sha, size: Int64(data.count)))
        #expect(!t.exists("stream/b.000001"))

        let other = syntheticBinlog(gtids: [8, 10])
        t.write("stream/b.000001", other)
        #expect(try a.ingest(localPath: "\(t.path)/stream/b.000001", name: "b.000001", serverSize: Int64(other.count))
                == .conflict(archived: sha, local: SHA256Hasher.hex(of: other)))
        #expect(t.read("stream/b.000001") == other)
        #expect(t.read("archive/b.000001") == data)
        #expect(BinlogFileIO.list("\(t.path)/archive").filter(BinlogArchive.isPartialName).isEmpty)
    }

    @Test("ingest refuses bytes that are not a binlog")
    func ingestNotBinlog() throws {
        let t = try BinlogScratch()
        let a = BinlogArchive(dir: "\(t.path)/archive", host: "h", port: 3306)
        t.write("b.000001", Data("hello world".utf8))
        #expect(throws: MBError.self) { try a.ingest(localPath: "\(t.path)/b.000001", name: "b.000001", serverSize: nil) }
        #expect(t.exists("b.000001"))
        #expect(a.state(of: "b.000001") == .absent)
    }
}

@Suite("binlog hashing and event scan")
struct BinlogHashingUnitTests {
    @Test("the background hasher equals a one-shot SHA-256 for any chunking, and passes every byte to the writer")
    func hasher() throws {
        var rng = SystemRandomNumberGenerator()
        let data = Data((0..<100_003).map { _ in UInt8.random(in: 0...255, using: &rng) })
        for chunk in [1, 7, 1000, 4096, 100_003] {
            var written = Data()
            let h = BackgroundHasher(bufferSize: 1000, buffers: 2) { written.append(contentsOf: $0) }
            var off = 0
            try data.withUnsafeBytes { raw in
                while off < raw.count {
                    let n = min(chunk, raw.count - off)
                    try h.consume(UnsafeRawBufferPointer(rebasing: raw[off..<(off + n)]))
                    off += n
                }
            }
            let d = try h.finish()
            #expect(d.sha256 == SHA256Hasher.hex(of: data), "chunk \(chunk)")
            #expect(d.size == 100_003)
            #expect(written == data)
        }
    }

    @Test("a writer error stops the copy and the hasher can be cancelled")
    func writerError() throws {
        let h = BackgroundHasher(bufferSize: 10, buffers: 2) { _ in throw MBError(.cantCreate, "disk full") }
        // The write runs on the worker: its error surfaces on a later consume or at finish, never lost.
        #expect(throws: MBError.self) {
            try Data(count: 25).withUnsafeBytes { try h.consume($0) }
            _ = try h.finish()
        }
        h.cancel()
        h.cancel()
    }

    @Test("the scanner finds the first and last GTID and the in-use flag, byte by byte as well as at once")
    func scanner() throws {
        let data = syntheticBinlog(gtids: [5, 6, 7], inUse: true)
        var whole = BinlogEventScanner()
        data.withUnsafeBytes { whole.feed($0) }
        var bytewise = BinlogEventScanner()
        data.withUnsafeBytes { raw in for i in 0..<raw.count { bytewise.feed(UnsafeRawBufferPointer(rebasing: raw[i..<(i + 1)])) } }
        for s in [whole, bytewise] {
            #expect(s.magicValid == true)
            #expect(s.firstGTID == "0-11-5")
            #expect(s.lastGTID == "0-11-7")
            #expect(s.inUseFlag == true)
            #expect(s.events == 7)
            #expect(s.stoppedReason == nil)
            #expect(s.bytes == Int64(data.count))
        }
        var bad = BinlogEventScanner()
        Data("not a binlog".utf8).withUnsafeBytes { bad.feed($0) }
        #expect(bad.magicValid == false)
        #expect(bad.firstGTID == nil)
    }
}

@Suite("binlog remote commands")
struct BinlogRemoteUnitTests {
    @Test("the remote find is argv quoted by ShellQuote; the first master_binlog_dir that has a file wins")
    func locator() {
        let cmd = RemoteBinlogLocator.command(dirs: ["/var/lib/mysql", "/var/log/my sql"], base: "mysql-bin")
        #expect(cmd.script == #"find -H /var/lib/mysql '/var/log/my sql' -maxdepth 1 -type f -name 'mysql-bin.*' -printf '%s\t%p\n'"#)
        let out = "10\t/var/log/my sql/mysql-bin.000001\n20\t/var/lib/mysql/mysql-bin.000001\n19\t/var/lib/mysql/mysql-bin.index\n30\t/var/log/my sql/mysql-bin.000002\n"
        let found = RemoteBinlogLocator.parse(out, names: ["mysql-bin.000001", "mysql-bin.000002"], dirs: ["/var/lib/mysql", "/var/log/my sql"])
        #expect(found == ["mysql-bin.000001": RemoteBinlog(path: "/var/lib/mysql/mysql-bin.000001", size: 20),
                          "mysql-bin.000002": RemoteBinlog(path: "/var/log/my sql/mysql-bin.000002", size: 30)])
    }

    @Test("mariadb-binlog argv: credentials file first, raw, stop-never with our server id, result folder, start file")
    func streamArgv() throws {
        var c = BackupConfig(path: "/x.cnf", mhaConf: "/app.cnf", credentials: "/etc/mha-backup/client.cnf",
                             stateDir: "/s", storeDir: "/t")
        c.streamServerId = 4_242_042
        let srv = MHAServer(block: "server1", hostname: "db1", ip: "10.0.0.1", port: 3307, sshUser: "root", sshHost: "db1",
                            sshPort: 22, sshOptions: nil, masterBinlogDir: ["/var/lib/mysql"], candidateMaster: true,
                            noMaster: false, remoteWorkdir: "/var/tmp")
        let mha = MHAAppConfig(path: "/app.cnf", servers: [srv], binlogServers: [], managerWorkdir: "/w", managerLog: nil,
                               defaults: [:], user: nil)
        let s = BinlogStreamer(ctx: Context(config: c, mha: mha), options: .init())
        let argv = s.streamArgv(server: srv, dir: "/s/stream/db1_3307", start: "mysql-bin.000003")
        #expect(Array(argv.dropFirst()) == ["--defaults-extra-file=/etc/mha-backup/client.cnf", "--read-from-remote-server", "--raw",
                                            "--stop-never", "--stop-never-slave-server-id=4242042", "--result-file=/s/stream/db1_3307/",
                                            "--protocol=TCP", "--host=10.0.0.1", "--port=3307", "mysql-bin.000003"])
        #expect(try s.folder(host: "db1", port: 3307) == "/s/stream/db1_3307")
        #expect(!argv.joined(separator: " ").contains("password"))
    }
}
