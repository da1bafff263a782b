import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupCore

/// Archived binlogs encrypted at commit (BinlogEncryption/): what is stored, what the index
/// records, the comparisons in plaintext terms, and the readers' decryption.
@Suite("Archived binlog encryption")
struct BinlogEncryptionTests {
    static let key = EncryptionKey(bytes: (0..<32).map { UInt8($0) }, path: "/k1")
    static let otherKey = EncryptionKey(bytes: (0..<32).map { UInt8(255 - $0) }, path: "/k2")
    static let marker = Array("PLAINTEXT-MARKER-4711".utf8)

    /// Binlog-shaped bytes: the magic, then one event carrying the marker, repeated past one chunk.
    static func binlog(_ events: Int = 9000) -> Data {
        var d: [UInt8] = BinlogEventScanner.magic
        for i in 0..<events {
            let body = marker + [UInt8(truncatingIfNeeded: i)]
            d += [0, 0, 0, 0, 2, 11, 0, 0, 0] + withUnsafeBytes(of: UInt32(19 + body.count).littleEndian, Array.init)
            d += [0, 0, 0, 0, 0, 0] + body
        }
        return Data(d)
    }

    final class Scratch {
        let path = NSTemporaryDirectory() + "mha-backup-binenc-unit-\(getpid())-\(UUID().uuidString.prefix(8))"
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    func archive(_ t: Scratch, keys: KeyRing? = KeyRing(current: key)) -> BinlogArchive {
        var a = BinlogArchive(dir: "\(t.path)/h_3306", host: "h", port: 3306)
        a.keys = keys
        return a
    }

    func commit(_ a: BinlogArchive, _ name: String, _ data: Data) throws -> BinlogCommitOutcome {
        let (p, d) = try partial(a, name, data)  // BinlogUnitTests.swift
        defer { #expect(!FileManager.default.fileExists(atPath: p)) }
        return try a.commit(partial: p, name: name, digest: d, via: "ssh", policy: .refuse)
    }

    static func contains(_ hay: Data, _ needle: [UInt8]) -> Bool {
        hay.withUnsafeBytes { b in
            guard b.count >= needle.count else { return false }
            return (0...(b.count - needle.count)).contains { i in needle.indices.allSatisfy { b[i + $0] == needle[$0] } }
        }
    }

    @Test("with a key: stored encrypted, .sha256 and index of the stored bytes, plain size and sha256 and key id beside them")
    func commitEncrypted() throws {
        let t = try Scratch()
        let a = archive(t)
        try a.prepare()
        let data = Self.binlog()
        #expect(try commit(a, "mysql-bin.000001", data) == .archived)
        let stored = try #require(FileManager.default.contents(atPath: a.path("mysql-bin.000001")))
        #expect(ArchivedBinlogCrypto.isEncrypted(a.path("mysql-bin.000001")))
        #expect(!Self.contains(stored, Self.marker))
        #expect(Self.contains(data, Self.marker))
        let storedSha = SHA256Hasher.hex(of: stored)
        #expect(a.recordedChecksum("mysql-bin.000001") == storedSha)
        let idx = try a.loadIndex()
        let e = try #require(idx.entry("mysql-bin.000001"))
        #expect(e.sha256 == storedSha && e.size == Int64(stored.count))
        #expect(e.plainSha256 == SHA256Hasher.hex(of: data) && e.plainSize == Int64(data.count) && e.keyId == Self.key.id)
        #expect(a.state(of: "mysql-bin.000001", index: idx) == .complete(sha256: SHA256Hasher.hex(of: data), size: Int64(data.count)))
        #expect(try a.verify("mysql-bin.000001").ok)
        // The same binlog again (new salt, other stored bytes): recognised by its plaintext.
        #expect(try commit(a, "mysql-bin.000001", data) == .alreadyArchived)
        #expect(FileManager.default.contents(atPath: a.path("mysql-bin.000001")) == stored)
        // Decrypted: the binlog itself.
        let out = "\(t.path)/plain"
        #expect(try ArchivedBinlogCrypto.decrypt(a.path("mysql-bin.000001"), to: out, keys: KeyRing(current: Self.key)) == Int64(data.count))
        #expect(FileManager.default.contents(atPath: out) == data)
        // A rebuilt index (crash before its write) still knows the key id.
        try FileManager.default.removeItem(atPath: a.indexPath)
        try a.prepare()
        #expect(try a.loadIndex().entry("mysql-bin.000001")?.keyId == Self.key.id)
        #expect(BinlogFileIO.list(a.dir).filter(BinlogArchive.isPartialName).isEmpty)
    }

    @Test("without a key nothing changes: plaintext stored, no key id")
    func commitPlain() throws {
        let t = try Scratch()
        let a = archive(t, keys: nil)
        let data = Self.binlog(10)
        #expect(try commit(a, "mysql-bin.000002", data) == .archived)
        #expect(FileManager.default.contents(atPath: a.path("mysql-bin.000002")) == data)
        let e = try #require(try a.loadIndex().entry("mysql-bin.000002"))
        #expect(e.keyId == nil && e.plainSize == nil && e.sha256 == SHA256Hasher.hex(of: data))
    }

    @Test("ingest of a stream copy with a key: encrypted; the same copy again is already archived, not a conflict")
    func ingestEncrypted() throws {
        let t = try Scratch()
        let a = archive(t)
        let data = Self.binlog(100)
        let sha = SHA256Hasher.hex(of: data)
        for expected in [BinlogCommitOutcome.archived, .alreadyArchived] {
            FileManager.default.createFile(atPath: "\(t.path)/b.000001", contents: data)
            #expect(try a.ingest(localPath: "\(t.path)/b.000001", name: "b.000001", serverSize: nil)
                    == .committed(expected, sha256: sha, size: Int64(data.count)))
            #expect(!FileManager.default.fileExists(atPath: "\(t.path)/b.000001"))
        }
        #expect(ArchivedBinlogCrypto.isEncrypted(a.path("b.000001")))
    }

    @Test("wrong key, no key, a flipped byte, a truncation: one dataError line naming the file, nothing left behind")
    func failures() throws {
        let t = try Scratch()
        let a = archive(t)
        #expect(try commit(a, "mysql-bin.000003", Self.binlog()) == .archived)
        let path = a.path("mysql-bin.000003")
        let out = "\(t.path)/plain"
        func failure(_ keys: KeyRing?) -> MBError? {
            do { try ArchivedBinlogCrypto.decrypt(path, to: out, keys: keys); return nil } catch { return error as? MBError }
        }
        let wrong = try #require(failure(KeyRing(current: Self.otherKey)))
        #expect(wrong.code == .dataError && wrong.message.contains(path) && wrong.message.contains("wrong key"))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(failure(nil) != nil)
        #expect(failure(KeyRing(current: Self.otherKey, old: [Self.key])) == nil)
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        let flipped = try #require(failure(KeyRing(current: Self.key)))
        #expect(flipped.code == .dataError && flipped.message.contains(path) && flipped.message.contains("authentication"))
        #expect(try !a.verify("mysql-bin.000003").ok)
        try Data(bytes.prefix(EncryptedFormat.headerSize + 5000)).write(to: URL(fileURLWithPath: path))
        let cut = try #require(failure(KeyRing(current: Self.key)))
        #expect(cut.code == .dataError && cut.message.contains(path))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("restore: encrypted archived binlogs of a segment are replaced by their plaintext in the work folder")
    func restoreSegment() throws {
        let t = try Scratch()
        let a = archive(t)
        let data = Self.binlog(50)
        #expect(try commit(a, "mysql-bin.000004", data) == .archived)
        let e = try #require(try a.loadIndex().entry("mysql-bin.000004"))
        let seg = ReplaySegment(timeline: 1, host: "h", port: 3306,
                                files: [AvailableBinlog(name: e.name, path: a.path(e.name), size: e.size, origin: .archive, sha256: e.sha256)],
                                startPosition: 4, stop: .end, why: "test")
        let work = "\(t.path)/work"
        try AtomicFile.makeDirectory(work)
        let out = try RestoreExecutor.decryptedSegment(seg, work: work, keys: { KeyRing(current: Self.key) })
        #expect(out.files[0].path == "\(work)/binlogs/mysql-bin.000004")
        #expect(out.files[0].size == Int64(data.count))
        #expect(FileManager.default.contents(atPath: out.files[0].path) == data)
        #expect(RestoreExecutor.binlogArgv(out).last == "\(work)/binlogs/mysql-bin.000004")
        // The gate before anything is written: authenticates with the right key, refuses another.
        let plan = RestorePlan(target: "latest", chain: [], anchor: nil, segments: [seg], notes: [])
        try RestoreGate.checkEncryptedBinlogs(plan) { KeyRing(current: Self.key) }
        do {
            try RestoreGate.checkEncryptedBinlogs(plan) { KeyRing(current: Self.otherKey) }
            Issue.record("a wrong key passed the gate")
        } catch let e as MBError {
            #expect(e.code == .dataError && e.message.contains(a.path("mysql-bin.000004")) && e.message.contains("wrong key"))
        }
    }
}
