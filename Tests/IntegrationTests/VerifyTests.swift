import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// Real backups in a store of their own (a copy of the sandbox's config with its own state and
/// store folders): a dump of the master, a full and an incremental of replica 2, and the master's
/// closed binlogs archived. Made once; each test that damages something works on a copy.
private final class VerifyBed: @unchecked Sendable {
    static let shared = Result { try VerifyBed() }

    let scratch: String
    let config: String
    let store: String
    let dump: Manifest
    let full: Manifest
    let inc: Manifest
    /// The archive folder of the master and the newest binlog archived there.
    let archiveFolder: String
    let binlog: String

    private init() throws {
        let h = try requireSandbox()
        scratch = NSTemporaryDirectory() + "mha-backup-verifytest-\(getpid())-\(UUID().uuidString.prefix(8))"
        try AtomicFile.makeDirectory(scratch, mode: 0o700)
        atexit { if case .success(let b) = VerifyBed.shared { try? FileManager.default.removeItem(atPath: b.scratch) } }
        (config, store) = try Self.configCopy(of: h.config, into: scratch)

        let cfg = config
        func backup(_ args: [String]) throws -> Manifest {
            let r = try h.run(["backup"] + args + ["--wait", "60", "--json"], env: ["MHA_BACKUP_CONFIG": cfg])
            guard r.code == 0 else { throw MBError(.failed, "backup \(args) failed (\(r.code)): \(r.stderr)") }
            return try JSON.decode(Manifest.self, from: Data(r.stdout.utf8), file: "stdout")
        }
        dump = try backup(["full", "--method", "dump", "--source", "master"])
        full = try backup(["full", "--source", h.replica2])
        _ = try h.sandbox.sql(host: try h.master(), "CREATE DATABASE IF NOT EXISTS verifytest; CREATE TABLE IF NOT EXISTS verifytest.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64)); INSERT INTO verifytest.t (v) VALUES ('after-full-1'), ('after-full-2'); FLUSH BINARY LOGS")
        try h.waitReplicasCaughtUp()
        inc = try backup(["incremental", "--source", h.replica2])
        let a = try h.run(["binlog", "archive"], env: ["MHA_BACKUP_CONFIG": cfg])
        guard a.code == 0 else { throw MBError(.failed, "binlog archive failed (\(a.code)): \(a.stderr)") }
        let ctx = try Context.load(configPath: cfg)
        let folders = try FileManager.default.contentsOfDirectory(atPath: ctx.config.binlogsDir).filter { !$0.hasPrefix(".") }
        guard folders.count == 1 else { throw MBError(.failed, "expected one archive folder, found \(folders)") }
        archiveFolder = "\(ctx.config.binlogsDir)/\(folders[0])"
        let idx = try JSON.load(BinlogIndex.self, path: "\(archiveFolder)/index.json")
        guard let last = idx.files.last else { throw MBError(.failed, "nothing archived in \(archiveFolder)") }
        binlog = "\(archiveFolder)/\(last.name)"
    }

    /// The sandbox config with `state_dir` and `store_dir` moved into `dir`; returns it and the store.
    static func configCopy(of cnf: String, into dir: String) throws -> (String, String) {
        let text = try String(contentsOfFile: cnf, encoding: .utf8)
            .replacingOccurrences(of: #"(?m)^state_dir\s*=.*$"#, with: "state_dir = \(dir)/state", options: .regularExpression)
            .replacingOccurrences(of: #"(?m)^store_dir\s*=.*$"#, with: "store_dir = \(dir)/store", options: .regularExpression)
        let path = "\(dir)/mha-backup.cnf"
        try AtomicFile.write(text, to: path, mode: 0o600)
        return (path, "\(dir)/store")
    }

    /// A private copy of the whole store (backups and archive) with a config pointing at it.
    struct Copy {
        let dir: String
        let config: String
        let store: String
        func folder(_ m: Manifest) -> String { "\(store)/backups/\(m.id)" }
        /// The same path inside the copy.
        func path(_ original: String, bed: VerifyBed) -> String { store + original.dropFirst(bed.store.count) }
        func run(_ args: [String]) throws -> Harness.Run { try Harness.shared.run(args, env: ["MHA_BACKUP_CONFIG": config]) }
        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    func copy() throws -> Copy {
        let dir = "\(scratch)/copy-\(UUID().uuidString.prefix(8))"
        try AtomicFile.makeDirectory(dir, mode: 0o700)
        let (cfg, st) = try Self.configCopy(of: Harness.shared.config, into: dir)
        try FileManager.default.copyItem(atPath: store, toPath: st)
        return Copy(dir: dir, config: cfg, store: st)
    }

    func run(_ args: [String]) throws -> Harness.Run { try Harness.shared.run(args, env: ["MHA_BACKUP_CONFIG": config]) }
}

private func bed() throws -> VerifyBed { try VerifyBed.shared.get() }

/// The bed and a private copy of its store to damage (the caller removes the copy).
private func bedCopy() throws -> (VerifyBed, VerifyBed.Copy) {
    let b = try bed()
    return (b, try b.copy())
}

/// XORs the byte in the middle of a file.
private func flipMiddle(_ path: String) throws {
    var d = try #require(FileManager.default.contents(atPath: path))
    d[d.count / 2] ^= 0xFF
    try d.write(to: URL(fileURLWithPath: path))
}

@Suite("verify on real backups", .serialized)
struct VerifyIntegrationTests {
    @Test("verify --all --level structure passes on a real dump, full, incremental and binlog archive, and records verify.json")
    func allGood() throws {
        let b = try bed()
        let r = try b.run(["verify", "--all", "--level", "structure", "--json"])
        #expect(r.code == 0, "\(r.stdout)\(r.stderr)")
        let recs = try JSON.decode([VerifyRecord].self, from: Data(r.stdout.utf8), file: "stdout")
        #expect(Set(recs.map(\.id)).isSuperset(of: [b.dump.id, b.full.id, b.inc.id, "binlogs/\((b.archiveFolder as NSString).lastPathComponent)"]))
        #expect(recs.allSatisfy { $0.ok && $0.level == .structure })
        let saved = try JSON.load(VerifyRecord.self, path: "\(b.store)/backups/\(b.inc.id)/verify.json")
        #expect(saved.ok && saved.level == .structure)
        // The stream really was unpacked: the record says how many entries it held.
        #expect(saved.notes.contains { $0.hasPrefix("stream: ") })
        #expect(try Catalog(dir: "\(b.store)/backups").load(b.inc.id).status == .complete)

        // The default is --latest at structure: the incremental and its parent, not the archive.
        let latest = try b.run(["verify"])
        #expect(latest.code == 0, "\(latest.stdout)\(latest.stderr)")
        #expect(latest.stdout.contains("ok  \(b.full.id)  structure  3 files"))
        #expect(latest.stdout.contains("ok  \(b.inc.id)  structure  3 files"))
        #expect(latest.stdout.contains("binlog archive not checked"))
        #expect(!latest.stdout.contains(b.dump.id))
    }

    @Test("a flipped byte in the middle of the incremental's stream fails verify of it with 65, naming the file")
    func flippedIncremental() throws {
        let (b, c) = try bedCopy()
        defer { c.remove() }
        let stream = "\(c.folder(b.inc))/backup.xbstream.zst"
        try flipMiddle(stream)
        let r = try c.run(["verify", b.inc.id])
        #expect(r.code == 65, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("FAILED  \(b.inc.id): file '\(stream)': sha256 "), "\(r.stdout)")
        #expect(r.stdout.contains("ok  \(b.full.id)"))

        // Recorded as is (the manifest re-hashed and re-committed): the structure check still
        // catches it, because the stream does not decompress and unpack.
        let cat = Catalog(dir: "\(c.store)/backups")
        var m = try cat.load(b.inc.id)
        let h = try SHA256Hasher.hashFile(stream)
        let i = try #require(m.files.firstIndex { $0.name == "backup.xbstream.zst" })
        m.files[i].size = h.size
        m.files[i].sha256 = h.sha256
        try cat.commit(m)
        #expect(try c.run(["verify", b.inc.id, "--level", "files"]).code == 0)
        let s = try c.run(["verify", b.inc.id, "--level", "structure", "--json"])
        #expect(s.code == 65, "\(s.stdout)\(s.stderr)")
        let rec = try JSON.decode([VerifyRecord].self, from: Data(s.stdout.utf8), file: "stdout").last
        #expect(rec?.id == b.inc.id && rec?.problems.first?.file == stream)
        #expect(rec?.problems.first?.reason.hasPrefix("the stream does not unpack: ") == true, "\(String(describing: rec))")
    }

    @Test("deleting the parent's stream fails the incremental with 'broken chain' naming the parent")
    func brokenChain() throws {
        let (b, c) = try bedCopy()
        defer { c.remove() }
        let parentStream = "\(c.folder(b.full))/backup.xbstream.zst"
        try FileManager.default.removeItem(atPath: parentStream)
        let r = try c.run(["verify", b.inc.id])
        #expect(r.code == 65, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("FAILED  \(b.full.id): file '\(parentStream)': file is missing"), "\(r.stdout)")
        #expect(r.stdout.contains("FAILED  \(b.inc.id): file '\(parentStream)': broken chain: parent '\(b.full.id)': file is missing"), "\(r.stdout)")
        let saved = try JSON.load(VerifyRecord.self, path: "\(c.folder(b.inc))/verify.json")
        #expect(!saved.ok)

        // The whole parent folder gone: the same, naming the folder.
        try FileManager.default.removeItem(atPath: c.folder(b.full))
        let r2 = try c.run(["verify", b.inc.id, "--level", "files"])
        #expect(r2.code == 65)
        #expect(r2.stdout.contains("broken chain: parent '\(b.full.id)': backup folder is missing"), "\(r2.stdout)")
    }

    @Test("a truncated archived binlog fails verify --all naming it; archived cut (checksum of the cut bytes), the structure check names it")
    func truncatedBinlog() throws {
        let (b, c) = try bedCopy()
        defer { c.remove() }
        let file = c.path(b.binlog, bed: b)
        let name = (file as NSString).lastPathComponent
        let whole = try #require(FileManager.default.contents(atPath: file))
        try Data(whole.prefix(whole.count / 2)).write(to: URL(fileURLWithPath: file))
        let r = try c.run(["verify", "--all"])
        #expect(r.code == 65, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("file '\(file)': size \(whole.count / 2) bytes, index.json records \(whole.count)"), "\(r.stdout)")
        // The backups themselves are still fine.
        #expect(r.stdout.contains("ok  \(b.inc.id)"))

        // Cut inside its last event (the rotate) and committed with a checksum of the cut bytes.
        let cut = whole.prefix(whole.count - 10)
        try cut.write(to: URL(fileURLWithPath: file))
        let sha = SHA256Hasher.hex(of: Data(cut))
        try AtomicFile.write(BinlogChecksumFile.format(sha256: sha, name: name), to: file + ".sha256", mode: 0o640)
        let idxPath = (file as NSString).deletingLastPathComponent + "/index.json"
        var idx = try JSON.load(BinlogIndex.self, path: idxPath)
        var e = try #require(idx.entry(name))
        e.sha256 = sha
        e.size = Int64(cut.count)
        idx.upsert(e)
        try AtomicFile.write(JSON.encode(idx), to: idxPath, mode: 0o640)
        #expect(try c.run(["verify", "--all", "--level", "files"]).code == 0)
        let s = try c.run(["verify", "--all"])
        #expect(s.code == 65)
        #expect(s.stdout.contains("file '\(file)': event at offset "), "\(s.stdout)")
        #expect(s.stdout.contains("(type 4) needs 47 bytes"), "\(s.stdout)")
    }
}
