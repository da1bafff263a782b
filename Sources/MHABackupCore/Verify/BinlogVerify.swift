import Foundation
#if canImport(Glibc)
import Glibc
import MHABackupBase
import MHABackupFailover
#endif

/// The chain of event headers of a binlog file (v4: 4-byte magic, then events whose 19-byte header
/// carries the event's size), read header by header. A file that ends inside an event is cut; a
/// closed binlog (in-use flag clear) that does not end with a rotate or stop event was cut at an
/// event boundary, which `mariadb-binlog` does not notice (it exits 0).
public struct BinlogLayout: Sendable, Equatable {
    public var size: Int64
    public var events: Int
    /// Where the last complete event ends.
    public var end: Int64
    public var lastEventType: UInt8?
    /// LOG_EVENT_BINLOG_IN_USE_F of the format description event: the server still had the file
    /// open when it was copied (a salvaged or streamed active binlog).
    public var inUse: Bool?
    /// Why the walk stopped early (bad magic, an event cut or of nonsense size); nil when the
    /// events end exactly at the file's end.
    public var problem: String?

    static let rotateEvent: UInt8 = 4
    static let stopEvent: UInt8 = 3
    static let formatDescriptionEvent: UInt8 = 15
    static let startEncryptionEvent: UInt8 = 164

    /// Nil when the file ends as a closed binlog must (or when it was open and cannot tell), else why not.
    public var endProblem: String? {
        if let problem { return problem }
        if let t = lastEventType, t == Self.rotateEvent || t == Self.stopEvent { return nil }
        if inUse == true { return nil }
        return "ends after event \(events) (type \(lastEventType.map(String.init) ?? "none")) at offset \(end) without a rotate or stop event: truncated at an event boundary"
    }

    public static func read(_ path: String) throws -> BinlogLayout {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MBError(.noInput, "cannot open \(q(path)): \(BinlogFileIO.errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw MBError(.failed, "cannot stat \(q(path)): \(BinlogFileIO.errnoText())") }
        var l = BinlogLayout(size: Int64(st.st_size), events: 0, end: 4)
        var h = [UInt8](repeating: 0, count: 19)
        func readAt(_ off: Int64, _ n: Int) -> Bool {
            h.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, n, off_t(off)) } == n
        }
        guard readAt(0, 4), Array(h.prefix(4)) == BinlogEventScanner.magic else {
            l.end = 0
            l.problem = "not a binlog: no magic bytes at its start"
            return l
        }
        var pos: Int64 = 4
        while pos < l.size {
            guard readAt(pos, 19) else {
                l.problem = "cut inside the header of the event at offset \(pos) (file size \(l.size))"
                return l
            }
            let type = h[4]
            let size = Int64((0..<4).reduce(UInt32(0)) { $0 | UInt32(h[9 + $1]) << (8 * UInt32($1)) })
            guard size >= 19 else {
                l.problem = "event at offset \(pos) has size \(size)"
                return l
            }
            guard pos + size <= l.size else {
                l.problem = "event at offset \(pos) (type \(type)) needs \(size) bytes, the file ends after \(l.size - pos): truncated"
                return l
            }
            if l.events == 0 && type == Self.formatDescriptionEvent { l.inUse = (h[17] & 0x1) != 0 }
            l.events += 1
            l.lastEventType = type
            pos += size
            l.end = pos
            // After this event the headers are encrypted: nothing more to walk.
            if type == Self.startEncryptionEvent { l.inUse = true; return l }
        }
        return l
    }
}

extension Verifier {
    /// One archive folder `<binlogs>/HOST_PORT`: every committed binlog (listed in `index.json` or
    /// with its `.sha256`) re-hashed against its `.sha256` and the index; at `structure` each one
    /// also walks event by event and parses with `mariadb-binlog --verify-binlog-checksum`. Files
    /// under `mha-saved/` are checked against their `.sha256`.
    public func verifyBinlogFolder(_ name: String, level: VerifyLevel) -> VerifyRecord {
        let start = Date()
        let dir = "\(ctx.config.binlogsDir)/\(name)"
        let archive = BinlogArchive(dir: dir, host: name, port: 0)
        var problems: [VerifyProblem] = []
        var notes: [String] = []
        var files = 0

        var index = BinlogIndex(host: name, port: 0)
        if BinlogFileIO.exists(archive.indexPath) {
            do { index = try JSON.load(BinlogIndex.self, path: archive.indexPath) } catch {
                problems.append(VerifyProblem(file: archive.indexPath, reason: Self.text(error)))
            }
        }
        let listing = BinlogFileIO.list(dir)
        var names = Set(index.files.map(\.name))
        for f in listing where BinlogName(f) != nil {
            if BinlogFileIO.exists(archive.checksumPath(f)) { names.insert(f) } else {
                notes.append("\(f) has no .sha256: not committed, not checked")
            }
        }
        let sorted = names.sorted(by: BinlogName.precedes)
        for n in sorted {
            files += 1
            let entry = index.entry(n)
            if entry == nil { notes.append("\(n) is committed but not yet in index.json") }
            guard let recorded = archive.recordedChecksum(n) else {
                problems.append(VerifyProblem(file: archive.checksumPath(n), reason: "checksum file is missing or malformed"))
                continue
            }
            if let e = entry, e.tiers?.isEmpty == false, !BinlogFileIO.exists(archive.path(n)) {
                notes.append("\(n) is on tier \(e.tiers!.map(\.tier).joined(separator: ", ")) only (verified there by sha256 when it was copied; a restore fetches and checks it)")
                continue
            }
            if let e = entry, e.sha256 != recorded {
                problems.append(VerifyProblem(file: archive.path(n), reason: "index.json records sha256 \(e.sha256), \(n).sha256 holds \(recorded)"))
                continue
            }
            if let p = Self.compare(archive.path(n), size: entry?.size, sha256: recorded, recordedIn: "\(n).sha256", sizeRecordedIn: "index.json") {
                problems.append(p)
                continue
            }
            if ArchivedBinlogCrypto.isEncrypted(archive.path(n)) {
                if let p = checkEncryptedBinlog(archive, n, level: level) { problems.append(p) }
                continue
            }
            if level >= .structure, let p = checkBinlogStructure(archive.path(n)) { problems.append(p) }
        }

        let saved = "\(dir)/mha-saved"
        let savedFiles = BinlogFileIO.list(saved)
        for f in savedFiles.sorted() where !f.hasPrefix(".") {
            let path = "\(saved)/\(f)"
            if f.hasSuffix(".sha256") {
                if !savedFiles.contains(String(f.dropLast(".sha256".count))) {
                    problems.append(VerifyProblem(file: path, reason: "checksum file without its binlog"))
                }
                continue
            }
            files += 1
            guard let text = try? String(contentsOfFile: path + ".sha256", encoding: .utf8),
                  let recorded = BinlogChecksumFile.parse(text, name: f) else {
                problems.append(VerifyProblem(file: path + ".sha256", reason: "checksum file is missing or malformed"))
                continue
            }
            if let p = Self.compare(path, size: nil, sha256: recorded, recordedIn: "\(f).sha256") { problems.append(p) }
        }

        let r = VerifyRecord(kind: .binlogs, id: "binlogs/\(name)", level: level, ok: problems.isEmpty, problems: problems,
                             files: files, seconds: Date().timeIntervalSince(start), checkedAt: ctx.clock.now(),
                             notes: notes, restore: nil)
        saveRecord(r, in: dir)
        return r
    }

    /// One binlog's structure: its events end where the file ends (and a closed one ends with a
    /// rotate or stop event), and `mariadb-binlog --verify-binlog-checksum` reads it without error
    /// (without that option it exits 0 on a flipped byte; on a cut event it exits 1).
    func checkBinlogStructure(_ path: String) -> VerifyProblem? {
        do {
            if let p = try BinlogLayout.read(path).endProblem { return VerifyProblem(file: path, reason: p) }
        } catch {
            return VerifyProblem(file: path, reason: Self.text(error))
        }
        let tool = ctx.config.mysqlFlavor == .mysql && ProcessRunner.which("mysqlbinlog") != nil ? "mysqlbinlog" : "mariadb-binlog"
        var o = RunOptions(timeout: ctx.config.binlogTimeout)
        o.stdout = .discard
        o.cancellation = cancellation
        do {
            let r = try runner.runPipeline([Command([tool, "--no-defaults", "--verify-binlog-checksum", path])], options: o)
            let errors = r.stages[0].stderr.split(separator: "\n").filter { $0.contains("ERROR") }.map(String.init)
            if !r.succeeded || !errors.isEmpty {
                let why = errors.isEmpty ? r.failureSummary : "\(q(tool)) \(r.stages[0].statusText): \(errors.prefix(2).joined(separator: " "))"
                return VerifyProblem(file: path, reason: "does not parse: \(why)")
            }
        } catch {
            return VerifyProblem(file: path, reason: Self.text(error))
        }
        return nil
    }
}
