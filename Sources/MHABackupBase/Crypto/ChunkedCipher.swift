import FoundationEssentials
import Glibc

/// The encrypted file format (version 1). A 56-byte header, then chunks:
///
///     0  8  magic "MHABKENC"          12  4  chunk size (plaintext bytes a chunk, big endian)
///     8  1  version 1                 16  8  key id (EncryptionKey.id, binary)
///     9  1  algorithm 1 = AES-256-GCM 24 32  salt (random for each file)
///    10  2  reserved, 0
///
/// Chunk i is AES-256-GCM of the next `chunk size` plaintext bytes (the last chunk 0...chunk size,
/// empty only when the whole file is) followed by its 16-byte tag. The file key is
/// HMAC-SHA-256(key, "mha-backup file key v1" || salt), so no two files share a key and the nonce
/// can be the chunk counter: nonce_i = 4 zero bytes || i (64-bit big endian), never reused under
/// one file key. Authenticated data of chunk i = the whole header || i || last (1 byte, 1 for the
/// last chunk): a changed byte, a swapped or dropped chunk, a truncation at any point (the chunk
/// that ends the file was not sealed as the last one), appended bytes and another key all fail.
public enum EncryptedFormat {
    public static let magic: [UInt8] = Array("MHABKENC".utf8)
    public static let version: UInt8 = 1
    public static let headerSize = 56
    public static let defaultChunkSize = 1 << 20
    public static let chunkSizes: ClosedRange<Int> = 4096...(16 << 20)
    /// `Manifest.encryption.format` and the binlog index's.
    public static let formatName = "aes-256-gcm-chunked-v1"

    static func header(keyIdBytes: [UInt8], chunkSize: Int, salt: [UInt8]) -> [UInt8] {
        var h = magic
        h += [version, 1, 0, 0]
        h += withUnsafeBytes(of: UInt32(chunkSize).bigEndian, Array.init)
        h += keyIdBytes
        h += salt
        return h
    }

    static func fileKey(_ key: [UInt8], salt: [UInt8]) -> [UInt8] {
        AES256GCM.hmacSHA256(key: key, Array("mha-backup file key v1".utf8) + salt)
    }

    static func nonce(_ i: UInt64) -> [UInt8] { [0, 0, 0, 0] + withUnsafeBytes(of: i.bigEndian, Array.init) }

    static func aad(_ header: [UInt8], _ i: UInt64, last: Bool) -> [UInt8] {
        header + withUnsafeBytes(of: i.bigEndian, Array.init) + [last ? 1 : 0]
    }

    /// Whether the bytes start like an encrypted file (the magic).
    public static func looksEncrypted(_ prefix: [UInt8]) -> Bool { prefix.starts(with: magic) }

    /// The key id in a header, or nil when these bytes are not one.
    public static func keyId(ofHeader h: [UInt8]) -> String? {
        guard h.count >= headerSize, looksEncrypted(h) else { return nil }
        return hex(h[16..<24])
    }

    /// The key id of an encrypted file, nil when the file does not start with the magic.
    public static func keyId(ofFile path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var h = [UInt8](repeating: 0, count: headerSize)
        guard (try? readFully(fd, &h, path: path)) == headerSize else { return nil }
        return keyId(ofHeader: h)
    }

    /// Reads until `buf` is full or end of file; returns the count read.
    static func readFully(_ fd: Int32, _ buf: UnsafeMutableRawPointer, count: Int, path: String) throws -> Int {
        var n = 0
        while n < count {
            let r = read(fd, buf + n, count - n)
            if r < 0 {
                if errno == EINTR { continue }
                throw MBError(.failed, "cannot read \(q(path)): \(String(cString: strerror(errno)))")
            }
            if r == 0 { break }
            n += r
        }
        return n
    }

    static func readFully(_ fd: Int32, _ buf: inout [UInt8], path: String) throws -> Int {
        let c = buf.count
        return try buf.withUnsafeMutableBytes { try readFully(fd, $0.baseAddress!, count: c, path: path) }
    }
}

/// Encrypts a stream: `write` any amount, `finish` seals the last chunk. Ciphertext goes to `sink`
/// in pieces of one chunk and its tag (the header first).
public final class ChunkEncryptor: @unchecked Sendable {
    public let keyId: String
    public let chunkSize: Int
    private let header: [UInt8]
    private let cipher: AES256GCM
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    private let plain: UnsafeMutableRawPointer
    private let sealed: UnsafeMutableRawPointer
    private var fill = 0
    private var index: UInt64 = 0
    private var started = false
    private var finished = false
    /// Plaintext bytes taken so far.
    public private(set) var plaintextBytes: Int64 = 0

    public init(key: EncryptionKey, chunkSize: Int = EncryptedFormat.defaultChunkSize,
                sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(EncryptedFormat.chunkSizes.contains(chunkSize))
        let salt = try AES256GCM.randomBytes(32)
        header = EncryptedFormat.header(keyIdBytes: EncryptionKey.idBytes(key.bytes), chunkSize: chunkSize, salt: salt)
        cipher = try AES256GCM(key: EncryptedFormat.fileKey(key.bytes, salt: salt), encrypting: true)
        keyId = key.id
        self.chunkSize = chunkSize
        self.sink = sink
        plain = .allocate(byteCount: chunkSize, alignment: 64)
        sealed = .allocate(byteCount: chunkSize + AES256GCM.tagSize, alignment: 64)
    }

    deinit {
        memset(plain, 0, chunkSize)
        plain.deallocate()
        sealed.deallocate()
    }

    public func write(_ data: UnsafeRawBufferPointer) throws {
        precondition(!finished, "write after finish")
        try start()
        guard let base = data.baseAddress else { return }
        var off = 0
        while off < data.count {
            // A full chunk is sealed only once more bytes come: the last chunk may be a full one.
            if fill == chunkSize { try seal(last: false) }
            let n = min(chunkSize - fill, data.count - off)
            memcpy(plain + fill, base + off, n)
            fill += n
            off += n
        }
        plaintextBytes += Int64(data.count)
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Seals what is left as the last chunk (an empty one for an empty stream).
    public func finish() throws {
        precondition(!finished, "finish called twice")
        try start()
        try seal(last: true)
        finished = true
    }

    private func start() throws {
        guard !started else { return }
        started = true
        try header.withUnsafeBytes { try sink($0) }
    }

    private func seal(last: Bool) throws {
        try cipher.seal(nonce: EncryptedFormat.nonce(index), aad: EncryptedFormat.aad(header, index, last: last),
                        input: UnsafeRawBufferPointer(start: plain, count: fill), output: sealed, tag: sealed + fill)
        try sink(UnsafeRawBufferPointer(start: sealed, count: fill + AES256GCM.tagSize))
        index += 1
        fill = 0
    }
}

/// Decrypts and authenticates an encrypted file chunk by chunk. Plaintext reaches `output` only
/// after its chunk's tag checked; a failure is one `dataError` line naming the file.
public enum ChunkDecryptor {
    /// Reads `fd` to its end; `name` is the file's path for messages. Returns the plaintext size.
    /// `stored` sees every byte read from the file, in order (verify hashes them in the same pass).
    @discardableResult
    public static func decrypt(fd: Int32, name: String, keys: KeyRing?,
                               stored: ((UnsafeRawBufferPointer) -> Void)? = nil,
                               output: ((UnsafeRawBufferPointer) throws -> Void)?) throws -> Int64 {
        func bad(_ why: String) -> MBError { MBError(.dataError, "\(q(name)): \(why)") }
        var header = [UInt8](repeating: 0, count: EncryptedFormat.headerSize)
        let hn = try EncryptedFormat.readFully(fd, &header, path: name)
        if let stored { header.withUnsafeBytes { stored(UnsafeRawBufferPointer(rebasing: $0.prefix(hn))) } }
        guard hn >= EncryptedFormat.magic.count, EncryptedFormat.looksEncrypted(header) else {
            throw bad("not an mha-backup encrypted file (no 'MHABKENC' header)")
        }
        guard hn == EncryptedFormat.headerSize else { throw bad("truncated: the file ends inside its header") }
        guard header[8] == EncryptedFormat.version, header[9] == 1 else {
            throw bad("encrypted file version \(header[8]) algorithm \(header[9]) is not one this mha-backup reads")
        }
        let chunkSize = Int(header[12]) << 24 | Int(header[13]) << 16 | Int(header[14]) << 8 | Int(header[15])
        guard EncryptedFormat.chunkSizes.contains(chunkSize) else { throw bad("chunk size \(chunkSize) in its header is out of range") }
        let keyId = EncryptedFormat.keyId(ofHeader: header)!
        guard let keys else {
            throw MBError.config("\(q(name)) is encrypted (key id \(keyId)) and no [encryption] key_file is configured",
                                 hint: "configure the key file the backup was taken with")
        }
        guard let key = keys.key(id: keyId) else {
            throw bad("encrypted with key id \(keyId); the configured key\(keys.ids.count > 1 ? "s have ids" : " has id") \(keys.ids.joined(separator: ", ")) (wrong key)")
        }
        let salt = Array(header[24..<56])
        let cipher = try AES256GCM(key: EncryptedFormat.fileKey(key.bytes, salt: salt), encrypting: false)
        let sealedSize = chunkSize + AES256GCM.tagSize
        // One byte more than a chunk: a full chunk is the last one only when nothing follows it.
        let buf = UnsafeMutableRawPointer.allocate(byteCount: sealedSize + 1, alignment: 64)
        let plain = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { memset(plain, 0, chunkSize); plain.deallocate(); buf.deallocate() }
        var carried = 0
        var index: UInt64 = 0
        var total: Int64 = 0
        while true {
            let fresh = try EncryptedFormat.readFully(fd, buf + carried, count: sealedSize + 1 - carried, path: name)
            stored?(UnsafeRawBufferPointer(start: buf + carried, count: fresh))
            let n = carried + fresh
            let last = n <= sealedSize
            let size = min(n, sealedSize)
            if size < AES256GCM.tagSize {
                throw bad(index == 0 ? "truncated: no chunk after the header" : "truncated: the file ends after chunk \(index - 1), which is not its last")
            }
            let count = size - AES256GCM.tagSize
            guard cipher.open(nonce: EncryptedFormat.nonce(index), aad: EncryptedFormat.aad(header, index, last: last),
                              input: UnsafeRawBufferPointer(start: buf, count: count), output: plain, tag: buf + count) else {
                throw bad("chunk \(index) fails authentication: the file was changed, truncated or reordered")
            }
            if let output { try output(UnsafeRawBufferPointer(start: plain, count: count)) }
            total += Int64(count)
            if last { return total }
            // The extra byte read is the first of the next chunk.
            (buf).storeBytes(of: buf.load(fromByteOffset: sealedSize, as: UInt8.self), as: UInt8.self)
            carried = 1
            index += 1
        }
    }

    /// Decrypts (or with a nil `output`, only authenticates) a whole file.
    @discardableResult
    public static func decrypt(path: String, keys: KeyRing?, output: ((UnsafeRawBufferPointer) throws -> Void)?) throws -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MBError(.noInput, "cannot open \(q(path)): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        return try decrypt(fd: fd, name: path, keys: keys, output: output)
    }
}
