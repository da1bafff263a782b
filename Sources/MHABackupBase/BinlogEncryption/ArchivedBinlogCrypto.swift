import FoundationEssentials
import Glibc

/// Encryption at rest for archived binlogs (`[encryption] key_file`): a binlog is encrypted when
/// it is committed (the same chunked AES-256-GCM format as backups). The `.sha256` and the index's
/// `sha256`/`size` stay those of the STORED bytes (tier sync checks remote copies by them); the
/// index entry also keeps the binlog's own size and sha256 (`plainSize`, `plainSha256`), which
/// the archiver, the stream and salvage compare with the server's files, and the key id.
public enum ArchivedBinlogCrypto {
    /// Whether the file at `path` starts with the encrypted-file header.
    public static func isEncrypted(_ path: String) -> Bool { EncryptedFormat.keyId(ofFile: path) != nil }

    /// Encrypts the fsynced plaintext temp file `plain` with `key` into a new temp file beside it
    /// (fsynced) and returns its path and the stored bytes' digest. The caller removes `plain`.
    static func seal(_ plain: String, sealedPath: String, key: EncryptionKey) throws -> (sha256: String, size: Int64) {
        let out = try BinlogPartialFile(path: sealedPath)
        do {
            let hasher = SHA256Hasher()
            var size: Int64 = 0
            let enc = try ChunkEncryptor(key: key) { buf in
                if let b = buf.baseAddress { hasher.update(b, count: buf.count) }
                size += Int64(buf.count)
                try out.write(buf)
            }
            try BinlogFileIO.readAll(plain) { try enc.write($0) }
            try enc.finish()
            try out.sync()
            return (hasher.finalizeHex(), size)
        } catch {
            out.discard()
            throw error
        }
    }

    /// Authenticates every chunk of the encrypted archived binlog `path` and writes its plaintext
    /// to `dest` (created, mode 0600). A wrong key, a truncation or a changed byte is one
    /// `dataError` line naming `path`; `dest` is removed then. Returns the plaintext size.
    @discardableResult
    public static func decrypt(_ path: String, to dest: String, keys: KeyRing?) throws -> Int64 {
        unlink(dest)
        let out = try BinlogPartialFile(path: dest, mode: 0o600)
        do {
            let n = try ChunkDecryptor.decrypt(path: path, keys: keys) { try out.write($0) }
            try out.sync()
            return n
        } catch {
            out.discard()
            throw error
        }
    }

    /// Only authenticates every chunk of `path` (verify).
    public static func authenticate(_ path: String, keys: KeyRing?) throws {
        try ChunkDecryptor.decrypt(path: path, keys: keys, output: nil)
    }
}

extension BinlogArchive {
    /// This archive with the configured keys (reads and checks the key files now): its commits
    /// encrypt. Unchanged when `[encryption] key_file` is not set.
    public func encrypting(_ config: BackupConfig) throws -> BinlogArchive {
        var a = self
        a.keys = try config.encryption.keyRing()
        return a
    }
}
