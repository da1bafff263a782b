import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// Real encrypted backups in a store of their own: the sandbox's config with its own state and
/// store folders and `[encryption] key_file`; a full and an incremental of replica 2 (zstd, as
/// configured) and an uncompressed dump of the master (where a marker row would be plain text).
/// Made once. The shared sandbox may hold other suites' data (lab.big, 300 MB): nothing here
/// restores a dump of it.
private final class EncryptedBed: @unchecked Sendable {
    static let shared = Result { try EncryptedBed() }

    let scratch: String
    let config: String
    let store: String
    let key: String
    let keyId: String
    /// Unique strings inserted before the full, before the incremental and before the dump.
    let markers: [String]
    let full: Manifest
    let inc: Manifest
    let dump: Manifest
    /// CHECKSUM TABLE of `enctest.t` on the source at the incremental's point.
    let sumAtInc: String

    private init() throws {
        let h = try requireSandbox()
        scratch = NSTemporaryDirectory() + "mha-backup-enctest-\(getpid())-\(UUID().uuidString.prefix(8))"
        try AtomicFile.makeDirectory(scratch, mode: 0o700)
        atexit { if case .success(let b) = EncryptedBed.shared { try? FileManager.default.removeItem(atPath: b.scratch) } }
        key = "\(scratch)/backup.key"
        let k = try AES256GCM.randomBytes(32)
        try AtomicFile.write(Data(k), to: key, mode: 0o600)
        keyId = try EncryptionKey.load(key).id
        (config, store) = try Self.config(from: h.config, in: "\(scratch)/main", keyFile: key)

        let tag = UUID().uuidString.prefix(12)
        markers = ["ENC-MARKER-FULL-\(tag)", "ENC-MARKER-INC-\(tag)", "ENC-MARKER-DUMP-\(tag)"]
        let master = try h.master()
        let cfg = config
        func backup(_ args: [String]) throws -> Manifest {
            let r = try h.run(["backup"] + args + ["--wait", "60", "--json"], timeout: 600, env: ["MHA_BACKUP_CONFIG": cfg])
            guard r.code == 0 else { throw MBError(.failed, "backup \(args) failed (\(r.code)): \(r.stderr)") }
            return try JSON.decode(Manifest.self, from: Data(r.stdout.utf8), file: "stdout")
        }
        func insert(_ marker: String) throws {
            _ = try h.sandbox.sql(host: master, "INSERT INTO enctest.t (v) SELECT CONCAT('\(marker)-', seq) FROM lab.seq_1_to_200")
            try h.waitReplicasCaughtUp()
        }
        func checksum() throws -> String {
            try h.sql(master, "CHECKSUM TABLE enctest.t").first?.first("Checksum") ?? "none"
        }
        _ = try h.sandbox.sql(host: master, "DROP DATABASE IF EXISTS enctest; CREATE DATABASE enctest; CREATE TABLE enctest.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(80)) ENGINE=InnoDB")
        try insert(markers[0])
        full = try backup(["full", "--source", h.replica2])
        try insert(markers[1])
        inc = try backup(["incremental", "--source", h.replica2])
        sumAtInc = try checksum()
        try insert(markers[2])
        dump = try backup(["full", "--method", "dump", "--source", "master", "--compression", "none"])
    }

    /// A copy of `cnf` with its own state and store under `dir` and `[encryption] key_file`.
    static func config(from cnf: String, in dir: String, keyFile: String?) throws -> (String, String) {
        try AtomicFile.makeDirectory(dir, mode: 0o700)
        var text = try String(contentsOfFile: cnf, encoding: .utf8)
        text = text.replacingOccurrences(of: #"(?m)^state_dir\s*=.*$"#, with: "state_dir = \(dir)/state", options: .regularExpression)
        text = text.replacingOccurrences(of: #"(?m)^store_dir\s*=.*$"#, with: "store_dir = \(dir)/store", options: .regularExpression)
        if let keyFile { text += "\n[encryption]\nkey_file = \(keyFile)\n" }
        try AtomicFile.write(text, to: "\(dir)/mha-backup.cnf", mode: 0o600)
        return ("\(dir)/mha-backup.cnf", "\(dir)/store")
    }

    func dataFile(_ m: Manifest, store: String? = nil) throws -> String {
        let f = try #require(m.files.first { $0.name.hasPrefix("backup.xbstream") || $0.name.hasPrefix("dump.sql") })
        return "\(store ?? self.store)/backups/\(m.id)/\(f.name)"
    }

    /// A private store holding a copy of `backup`'s folder only, with a config using the key.
    func copy(_ backup: Manifest) throws -> (config: String, store: String) {
        let dir = "\(scratch)/copy-\(UUID().uuidString.prefix(8))"
        let (cfg, st) = try Self.config(from: Harness.shared.config, in: dir, keyFile: key)
        try AtomicFile.makeDirectory("\(st)/backups")
        try FileManager.default.copyItem(atPath: "\(store)/backups/\(backup.id)", toPath: "\(st)/backups/\(backup.id)")
        return (cfg, st)
    }

    /// A config reading this store (its own state folder) with `keyFile` (nil: no [encryption]).
    func config(keyFile: String?) throws -> String {
        let dir = "\(scratch)/cfg-\(UUID().uuidString.prefix(8))"
        let (cfg, _) = try Self.config(from: Harness.shared.config, in: dir, keyFile: keyFile)
        let text = try String(contentsOfFile: cfg, encoding: .utf8)
            .replacingOccurrences(of: #"(?m)^store_dir\s*=.*$"#, with: "store_dir = \(store)", options: .regularExpression)
        try AtomicFile.write(text, to: cfg, mode: 0o600)
        return cfg
    }
}

private func bed() throws -> EncryptedBed { try EncryptedBed.shared.get() }

@Suite("encryption at rest on real backups", .serialized)
struct EncryptionIntegrationTests {
    func run(_ args: [String], config: String, timeout: TimeInterval = 300) throws -> Harness.Run {
        try Harness.shared.run(args, timeout: timeout, env: ["MHA_BACKUP_CONFIG": config])
    }

    /// The markers `grep -a -F -o` finds in `path`'s bytes, decrypted (and decompressed) first or as stored.
    static func markersIn(_ path: String, _ m: Manifest, markers: [String], keys: KeyRing?) throws -> Set<String> {
        let input = try DecryptedInput(path: path, encrypted: keys != nil, keys: keys)
        var stages: [Command] = []
        if keys != nil, let d = m.compression.decompressArgv { stages.append(Command(d)) }
        stages.append(Command(["grep", "-a", "-F", "-o"] + markers.flatMap { ["-e", $0] }))
        var o = RunOptions(timeout: 300)
        o.stdin = .fd(input.fd)
        let r = try ProcessRunner().runPipeline(stages, options: o)
        try input.check(pipelineSucceeded: true)
        #expect(r.stages.dropLast().allSatisfy(\.succeeded) && (r.stages.last?.exitCode ?? 2) <= 1, "\(path): \(r.failureSummary)")
        return Set(r.stdoutString.split(separator: "\n").map(String.init))
    }

    @Test("a full, an incremental and a dump are stored encrypted: no marker row in the stored bytes, every marker in the decrypted ones; the manifest names the key id, never the key")
    func encryptedOnDisk() throws {
        let b = try bed()
        let keys = KeyRing(current: try EncryptionKey.load(b.key))
        // The markers each must hold, and may hold (an incremental's changed pages keep older rows).
        for (m, required, allowed) in [(b.full, [0], [0]), (b.inc, [1], [0, 1]), (b.dump, [0, 1, 2], [0, 1, 2])] {
            #expect(m.encryption?.keyId == b.keyId && m.encryption?.format == EncryptedFormat.formatName, "\(m.id)")
            let path = try b.dataFile(m)
            let head = try #require(FileHandle(forReadingAtPath: path)?.readData(ofLength: 8))
            #expect(head == Data("MHABKENC".utf8), "\(path) has no encryption header")
            #expect(try Self.markersIn(path, m, markers: b.markers, keys: nil).isEmpty, "a marker is readable in \(path)")
            // The same search finds them once decrypted: it can fail.
            let plain = try Self.markersIn(path, m, markers: b.markers, keys: keys)
            #expect(plain.isSuperset(of: required.map { b.markers[$0] }) && plain.isSubset(of: allowed.map { b.markers[$0] }),
                    "\(path) decrypted holds \(plain)")
            // The manifest's sha256 is of the stored (encrypted) bytes: a tier can check it without a key.
            let h = try SHA256Hasher.hashFile(path)
            #expect(m.files.contains { $0.name == (path as NSString).lastPathComponent && $0.sha256 == h.sha256 && $0.size == h.size })
            let manifest = try String(contentsOfFile: "\(b.store)/backups/\(m.id)/manifest.json", encoding: .utf8)
            let keyBytes = try #require(FileManager.default.contents(atPath: b.key))
            #expect(!manifest.contains(hex([UInt8](keyBytes))))
        }
    }

    @Test("verify --all --level structure passes with the key")
    func verifies() throws {
        let b = try bed()
        let r = try run(["verify", "--all", "--level", "structure"], config: b.config, timeout: 600)
        #expect(r.code == 0, "\(r.stdout)\(r.stderr)")
        for m in [b.full, b.inc, b.dump] { #expect(r.stdout.contains("ok  \(m.id)  structure"), "\(r.stdout)") }
    }

    /// `restore --backup ID --start`, the restored table's checksum, then the server stopped and removed.
    func restoredChecksum(_ m: Manifest, config: String, extra: [String] = []) throws -> String? {
        let dir = "\(Harness.shared.sandbox.root)/tmp/enc-restore-\(m.id)"
        try? FileManager.default.removeItem(atPath: dir)
        let r = try run(["restore", "--backup", m.id] + extra + ["--target-dir", dir, "--start", "--json"], config: config, timeout: 600)
        #expect(r.code == 0, "restore \(m.id): \(r.stderr)")
        guard r.code == 0 else { return nil }
        let res = try JSON.decode(RestoreResult.self, from: Data(r.stdout.utf8), file: "restore output")
        let server = try #require(res.server)
        defer {
            kill(server.pid, SIGTERM)
            _ = Harness.shared.wait(60, every: 0.1) { !ProcessRunner.isAlive(server.pid) }
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: (server.socket as NSString).deletingLastPathComponent)
        }
        let q = try ProcessRunner().run(Command(["mariadb", "--no-defaults", "-uroot", "--socket=\(server.socket)", "--batch", "--skip-column-names",
                                                 "-e", "CHECKSUM TABLE enctest.t"]), timeout: 120)
        #expect(q.succeeded, "\(q.failureSummary)")
        return q.stdoutString.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    @Test("the incremental chain restores, decrypted on the fly, equal to the source (CHECKSUM TABLE)")
    func restores() throws {
        let b = try bed()
        #expect(try restoredChecksum(b.inc, config: b.config) == b.sumAtInc)
    }

    @Test("binlog archive with a key: archived binlogs stored encrypted (no marker readable), verify passes, a point-in-time restore through them equals the source; a flipped byte: verify 65 naming the file")
    func encryptedBinlogs() throws {
        let b = try bed()
        let h = Harness.shared
        let master = try h.master()
        let marker = "ENC-MARKER-BINLOG-\(UUID().uuidString.prefix(12))"
        _ = try h.sandbox.sql(host: master, "INSERT INTO enctest.t (v) SELECT CONCAT('\(marker)-', seq) FROM lab.seq_1_to_200")
        let sum = try #require(try h.sql(master, "CHECKSUM TABLE enctest.t").first?.first("Checksum"))
        let gtid = try #require(try h.sql(master, "SELECT @@gtid_binlog_pos AS g").first?.first("g"))
        _ = try h.sandbox.sql(host: master, "INSERT INTO enctest.t (v) VALUES ('after the target'); FLUSH BINARY LOGS")
        let a = try run(["binlog", "archive", "--source", master], config: b.config, timeout: 600)
        #expect(a.code == 0, "\(a.stdout)\(a.stderr)")

        let ctx = try Context.load(configPath: b.config)
        let archive = try BinlogArchive(config: ctx.config, host: master, port: 3306)
        let idx = try archive.loadIndex()
        try #require(!idx.files.isEmpty, "nothing archived in \(archive.dir)")
        let keys = KeyRing(current: try EncryptionKey.load(b.key))
        var plainHits = 0
        let recent = Set(idx.files.suffix(2).map(\.name))  // the marker is in the file FLUSH closed
        for e in idx.files {
            let path = archive.path(e.name)
            #expect(e.keyId == b.keyId && ArchivedBinlogCrypto.isEncrypted(path), "\(path) is not stored encrypted")
            let g = try ProcessRunner().run(Command(["grep", "-a", "-c", "-F", marker, path]), timeout: 120)
            #expect(g.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(marker) is readable in \(path)")
            // The same search on the decrypted bytes finds it: the check can fail.
            guard recent.contains(e.name) else { continue }
            let plain = "\(b.scratch)/plain-\(e.name)"
            defer { unlink(plain) }
            #expect(try ArchivedBinlogCrypto.decrypt(path, to: plain, keys: keys) == e.plainSize)
            let gp = try ProcessRunner().run(Command(["grep", "-a", "-c", "-F", marker, plain]), timeout: 120)
            if gp.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines) != "0" { plainHits += 1 }
        }
        #expect(plainHits > 0, "no decrypted archived binlog holds \(marker)")

        let v = try run(["verify", "--all", "--level", "structure"], config: b.config, timeout: 600)
        #expect(v.code == 0, "\(v.stdout)\(v.stderr)")
        #expect(try restoredChecksum(b.inc, config: b.config, extra: ["--to-gtid", gtid]) == sum)

        // A flipped byte in the newest archived binlog holding data: verify exits 65 naming it.
        let e = try #require(idx.files.last { $0.size > Int64(EncryptedFormat.headerSize + 200) })
        let path = archive.path(e.name)
        let fh = try #require(FileHandle(forUpdatingAtPath: path))
        let at = UInt64(e.size / 2)
        try fh.seek(toOffset: at)
        let byte = try #require(fh.readData(ofLength: 1).first)
        try fh.seek(toOffset: at)
        fh.write(Data([byte ^ 0x01]))
        defer { try? fh.seek(toOffset: at); fh.write(Data([byte])); try? fh.close() }
        let bad = try run(["verify", "--all", "--level", "files"], config: b.config, timeout: 600)
        #expect(bad.code == 65, "verify exit \(bad.code): \(bad.stdout)\(bad.stderr)")
        let line = bad.stdout.split(separator: "\n").first { $0.contains("FAILED") && $0.contains("'\(path)'") }
        #expect(line != nil, "verify named no \(path): \(bad.stdout)\(bad.stderr)")
    }

    /// verify exits 65 naming the file (one line with it), restore exits 65 and never creates its target.
    func refused(config: String, _ m: Manifest, file: String, words: String, what: String) throws {
        let v = try run(["verify", m.id, "--level", "files"], config: config)
        #expect(v.code == 65, "\(what): verify exit \(v.code): \(v.stdout)\(v.stderr)")
        let line = v.stdout.split(separator: "\n").first { $0.contains("FAILED  \(m.id)") }.map(String.init) ?? ""
        #expect(line.contains("'\(file)'") && line.contains(words), "\(what): verify said: \(v.stdout)\(v.stderr)")
        let dir = "\(Harness.shared.sandbox.root)/tmp/enc-refused"
        try? FileManager.default.removeItem(atPath: dir)
        let r = try run(["restore", "--backup", m.id, "--target-dir", dir], config: config)
        #expect(r.code == 65, "\(what): restore exit \(r.code): \(r.stderr)")
        #expect(r.stderr.contains(file) && r.stderr.contains(words), "\(what): restore said: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir), "\(what): the refused restore created its target")
    }

    @Test("a flipped byte, a truncated file, a wrong key and no key: verify and restore refuse with 65 naming the file, nothing restored")
    func refusals() throws {
        let b = try bed()
        // A flipped byte in the full, then the full cut at its first chunk boundary.
        let copy = try b.copy(b.full)
        let fullFile = try b.dataFile(b.full, store: copy.store)
        let fh = try #require(FileHandle(forUpdatingAtPath: fullFile))
        let middle = UInt64(try #require(BinlogFileIO.size(fullFile)) / 2)
        try fh.seek(toOffset: middle)
        let byte = try #require(fh.readData(ofLength: 1).first)
        try fh.seek(toOffset: middle)
        fh.write(Data([byte ^ 0x01]))
        try fh.close()
        try refused(config: copy.config, b.full, file: fullFile, words: "sha256", what: "flipped byte")
        // At the end of its first chunk when it has more than one (a sandbox with other suites'
        // data), else inside its only chunk.
        let boundary = Int64(EncryptedFormat.headerSize + EncryptedFormat.defaultChunkSize + AES256GCM.tagSize)
        let size = try #require(BinlogFileIO.size(fullFile))
        #expect(truncate(fullFile, off_t(size > boundary ? boundary : size / 2)) == 0)
        try refused(config: copy.config, b.full, file: fullFile, words: "size", what: "truncated")

        // Another key: the files are intact (sha256 passes), the key is not theirs.
        let otherKey = "\(b.scratch)/other.key"
        try AtomicFile.write(Data(try AES256GCM.randomBytes(32)), to: otherKey, mode: 0o600)
        let wrong = try b.config(keyFile: otherKey)
        try refused(config: wrong, b.inc, file: try b.dataFile(b.full), words: "wrong key", what: "wrong key, via the parent")
        try refused(config: wrong, b.dump, file: try b.dataFile(b.dump), words: "wrong key", what: "wrong key")

        // No key configured: a clear error, not garbage.
        try refused(config: try b.config(keyFile: nil), b.dump, file: try b.dataFile(b.dump), words: "no [encryption] key_file", what: "no key")

        // A key file others can read is refused before anything (77), naming the file.
        chmod(otherKey, 0o644)
        let l = try run(["verify", b.dump.id], config: wrong)
        #expect(l.code == 77 && l.stderr.contains(otherKey), "\(l.code): \(l.stderr)")
        let lb = try run(["backup", "full", "--method", "dump", "--source", "master"], config: wrong)
        #expect(lb.code == 77 && lb.stderr.contains(otherKey), "\(lb.code): \(lb.stderr)")
        let ck = try run(["check"], config: wrong)
        #expect(ck.code == 2 && (ck.stdout + ck.stderr).contains(otherKey), "check: \(ck.code): \(ck.stdout)\(ck.stderr)")
    }
}
