import FoundationEssentials
import Glibc

/// A 256-bit key read from `[encryption] key_file`: 32 raw bytes (`head -c 32 /dev/urandom`) or
/// 64 hex characters (`openssl rand -hex 32`), a trailing newline allowed. The file must be a
/// regular file owned by the running user with no group or other permission bits (0600 or 0400).
public struct EncryptionKey: Sendable {
    package let bytes: [UInt8]
    /// 16 hex characters: the first 8 bytes of HMAC-SHA-256(key, "mha-backup key id v1"). Recorded in
    /// manifests, the binlog index and every encrypted file's header; it does not reveal the key.
    public let id: String
    public let path: String

    package init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
        id = hex(Self.idBytes(bytes))
    }

    static func idBytes(_ key: [UInt8]) -> [UInt8] {
        Array(AES256GCM.hmacSHA256(key: key, Array("mha-backup key id v1".utf8)).prefix(8))
    }

    public static func load(_ path: String) throws -> EncryptionKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw MBError.config("cannot read the encryption key file \(q(path)): \(String(cString: strerror(errno)))",
                                 hint: "create it with 'head -c 32 /dev/urandom > \(path) && chmod 600 \(path)'")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw MBError.config("the encryption key file \(q(path)) is not a regular file")
        }
        guard st.st_uid == geteuid(), st.st_mode & 0o077 == 0 else {
            throw MBError(.insecureFile, "the encryption key file \(q(path)) has mode \(String(st.st_mode & 0o7777, radix: 8)) and owner uid \(st.st_uid); it must be mode 0600 and owned by uid \(geteuid())",
                          hint: "chmod 600 \(path); chown the user mha-backup runs as")
        }
        // At most 130 bytes are read: a longer file is not a key (64 hex characters and a CR LF).
        var raw = [UInt8](repeating: 0, count: 130)
        defer { for i in raw.indices { raw[i] = 0 } }
        let n = try EncryptedFormat.readFully(fd, &raw, path: path)
        if let k = parse(Array(raw.prefix(n))) { return EncryptionKey(bytes: k, path: path) }
        throw MBError.config("the encryption key file \(q(path)) must hold 32 random bytes or 64 hex characters, it holds \(n)\(n == raw.count ? "+" : "") bytes",
                             hint: "create it with 'head -c 32 /dev/urandom > \(path)' or 'openssl rand -hex 32 > \(path)'")
    }

    /// 32 raw bytes, or 64 hex characters with an optional trailing newline.
    static func parse(_ content: [UInt8]) -> [UInt8]? {
        if content.count == 32 { return content }
        var text = content
        if text.last == 0x0a { text.removeLast() }
        if text.last == 0x0d { text.removeLast() }
        guard text.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var i = 0
        while i < 64 {
            guard let h = nibble(text[i]), let l = nibble(text[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }
}

/// The key new files are encrypted with and the older keys still accepted for reading (rotation).
public struct KeyRing: Sendable {
    public let current: EncryptionKey
    public let old: [EncryptionKey]

    public init(current: EncryptionKey, old: [EncryptionKey] = []) {
        self.current = current
        self.old = old
    }

    public func key(id: String) -> EncryptionKey? {
        if current.id == id { return current }
        return old.first { $0.id == id }
    }

    public var ids: [String] { [current.id] + old.map(\.id) }
}
