import FoundationEssentials

/// `[encryption]` of mha-backup.cnf. Without `key_file` nothing is encrypted (and an encrypted
/// file met on reading is a clear error). The key files are read when a command needs them.
public struct EncryptionSettings: Sendable, Equatable {
    /// The key new backups are encrypted with (absolute path; 32 bytes or 64 hex characters, 0600).
    public var keyFile: String?
    /// Keys still accepted for reading files written before a rotation (never used to write).
    public var oldKeyFiles: [String] = []

    public init() {}

    public static let keys: Set<String> = ["key_file", "old_key_files"]

    public static func parse(_ ini: INIFile) throws -> EncryptionSettings {
        var e = EncryptionSettings()
        guard let s = ini.section("encryption") else { return e }
        let p = ini.path
        if let k = s.entry("key_file"), !k.value.isEmpty {
            guard k.value.hasPrefix("/") else {
                throw MBError.config("\(p):\(k.line): 'key_file' must be an absolute path, got \(q(k.value))")
            }
            e.keyFile = k.value
        }
        if let k = s.entry("old_key_files"), !k.value.isEmpty {
            let files = k.value.split(separator: ",").map { String($0).trimmedBlanks() }.filter { !$0.isEmpty }
            for f in files where !f.hasPrefix("/") {
                throw MBError.config("\(p):\(k.line): 'old_key_files' must list absolute paths separated by commas, got \(q(f))")
            }
            guard e.keyFile != nil else {
                throw MBError.config("\(p):\(k.line): 'old_key_files' needs 'key_file' (the key new backups are written with)")
            }
            e.oldKeyFiles = files
        }
        return e
    }

    /// The keys, read and checked now (mode 0600, owner); nil when encryption is off.
    public func keyRing() throws -> KeyRing? {
        guard let keyFile else { return nil }
        return KeyRing(current: try EncryptionKey.load(keyFile), old: try oldKeyFiles.map { try EncryptionKey.load($0) })
    }
}
