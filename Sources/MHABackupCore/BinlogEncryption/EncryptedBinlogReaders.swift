import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MHABackupBase

extension Verifier {
    /// An encrypted archived binlog (its stored bytes already matched its `.sha256`): every chunk
    /// authenticated with the configured keys; at `structure` its plaintext is written to a temp
    /// file in the archive folder (a `.partial` name, removed after; `prepare` removes one a crash
    /// left) and walked and parsed like a plaintext binlog.
    func checkEncryptedBinlog(_ archive: BinlogArchive, _ name: String, level: VerifyLevel) -> VerifyProblem? {
        let path = archive.path(name)
        do {
            let keys = try keys()
            guard level >= .structure else {
                try ArchivedBinlogCrypto.authenticate(path, keys: keys)
                return nil
            }
            let tmp = archive.partialPath(for: name)
            defer { unlink(tmp) }
            try ArchivedBinlogCrypto.decrypt(path, to: tmp, keys: keys)
            if var p = checkBinlogStructure(tmp) {
                p.file = path
                return p
            }
            return nil
        } catch {
            return VerifyProblem(file: path, reason: Self.text(error))
        }
    }
}

extension RestoreExecutor {
    /// The segment with every encrypted archived binlog replaced by its plaintext in the restore's
    /// work folder (each chunk authenticated first; the folder goes with the restore).
    static func decryptedSegment(_ seg: ReplaySegment, work: String, keys: () throws -> KeyRing?) throws -> ReplaySegment {
        var seg = seg
        for i in seg.files.indices where seg.files[i].origin == .archive && ArchivedBinlogCrypto.isEncrypted(seg.files[i].path) {
            let dir = "\(work)/binlogs"
            try AtomicFile.makeDirectory(dir, mode: 0o700)
            let dest = "\(dir)/\(seg.files[i].name)"
            seg.files[i].size = try ArchivedBinlogCrypto.decrypt(seg.files[i].path, to: dest, keys: try keys())
            seg.files[i].path = dest
        }
        return seg
    }
}

extension RestoreGate {
    /// Every encrypted archived binlog the plan replays, authenticated chunk by chunk with the
    /// configured keys before the restore writes anything (a wrong or missing key, a truncation,
    /// a changed byte: one line naming the file, exit 65 or 78, nothing restored).
    public static func checkEncryptedBinlogs(_ plan: RestorePlan, keys: () throws -> KeyRing?) throws {
        for f in plan.segments.flatMap(\.files) where f.origin == .archive && ArchivedBinlogCrypto.isEncrypted(f.path) {
            do { try ArchivedBinlogCrypto.authenticate(f.path, keys: try keys()) } catch let e as MBError {
                throw MBError(e.code, "binlog archive: \(e.message)", hint: e.hint ?? "'mha-backup verify --all' lists every problem; nothing was restored")
            }
        }
    }
}
