import Foundation
import Testing
@testable import MHABackupBase

/// The encrypted file format (Crypto/ChunkedCipher.swift), its primitive and the key files.
@Suite("Encryption at rest")
struct EncryptionTests {
    static let chunk = 4096
    static let key = EncryptionKey(bytes: (0..<32).map { UInt8($0) }, path: "/k1")
    static let otherKey = EncryptionKey(bytes: (0..<32).map { UInt8(255 - $0) }, path: "/k2")

    static func bytes(_ hexText: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hexText.startIndex
        while i < hexText.endIndex {
            let j = hexText.index(i, offsetBy: 2)
            out.append(UInt8(hexText[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static func plaintext(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) } }

    /// Encrypts `plain` in uneven pieces (as pipe reads arrive).
    static func encrypt(_ plain: [UInt8], key: EncryptionKey = key) throws -> [UInt8] {
        var out: [UInt8] = []
        let e = try ChunkEncryptor(key: key, chunkSize: chunk) { out += $0 }
        var off = 0
        var step = 1
        while off < plain.count {
            let n = min(step, plain.count - off)
            try e.write(Array(plain[off..<off + n]))
            off += n
            step = step * 3 + 1
        }
        try e.finish()
        return out
    }

    static func decrypt(_ stored: [UInt8], keys: KeyRing? = KeyRing(current: key)) throws -> [UInt8] {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.path + "/backup.xbstream.zst"
        try Data(stored).write(to: URL(fileURLWithPath: path))
        var out: [UInt8] = []
        try ChunkDecryptor.decrypt(path: path, keys: keys) { out += $0 }
        return out
    }

    /// The error decrypting `stored` gives: a data error naming the file.
    static func failure(_ stored: [UInt8], keys: KeyRing? = KeyRing(current: key), sourceLocation: SourceLocation = #_sourceLocation) -> MBError? {
        let e = mbError({ _ = try decrypt(stored, keys: keys) }, sourceLocation: sourceLocation)
        #expect(e?.message.contains("backup.xbstream.zst") == true, sourceLocation: sourceLocation)
        #expect(e?.message.contains("\n") == false, sourceLocation: sourceLocation)
        return e
    }

    @Test("AES-256-GCM known answers (GCM spec / NIST test cases 13, 14, 16)")
    func knownAnswer() throws {
        let cases: [(key: String, iv: String, pt: String, aad: String, ct: String, tag: String)] = [
            (String(repeating: "0", count: 64), String(repeating: "0", count: 24), "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
            (String(repeating: "0", count: 64), String(repeating: "0", count: 24), String(repeating: "0", count: 32), "",
             "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
            ("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
             "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
             "feedfacedeadbeeffeedfacedeadbeefabaddad2",
             "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
             "76fc6ece0f4e1768cddf8853bb2d551b"),
        ]
        for c in cases {
            let pt = Self.bytes(c.pt)
            var ct = [UInt8](repeating: 0, count: max(pt.count, 1))
            var tag = [UInt8](repeating: 0, count: 16)
            let enc = try AES256GCM(key: Self.bytes(c.key), encrypting: true)
            try pt.withUnsafeBytes { p in
                try ct.withUnsafeMutableBytes { o in
                    try tag.withUnsafeMutableBytes { t in
                        try enc.seal(nonce: Self.bytes(c.iv), aad: Self.bytes(c.aad), input: p, output: o.baseAddress!, tag: t.baseAddress!)
                    }
                }
            }
            #expect(hex(ct.prefix(pt.count)) == c.ct)
            #expect(hex(tag) == c.tag)
            let dec = try AES256GCM(key: Self.bytes(c.key), encrypting: false)
            var back = [UInt8](repeating: 0, count: max(pt.count, 1))
            var badTag = tag
            badTag[0] ^= 1
            for (t, expectOK) in [(tag, true), (badTag, false)] {
                let ok = Self.bytes(c.ct).withUnsafeBytes { i in
                    back.withUnsafeMutableBytes { o in
                        t.withUnsafeBytes { dec.open(nonce: Self.bytes(c.iv), aad: Self.bytes(c.aad), input: i, output: o.baseAddress!, tag: $0.baseAddress!) }
                    }
                }
                #expect(ok == expectOK)
            }
        }
    }

    @Test("round trip of 0, 1, chunk-1, chunk, chunk+1 and many chunks")
    func roundTrip() throws {
        for n in [0, 1, Self.chunk - 1, Self.chunk, Self.chunk + 1, 2 * Self.chunk, 7 * Self.chunk + 13] {
            let plain = Self.plaintext(n)
            let stored = try Self.encrypt(plain)
            let chunks = max(1, (n + Self.chunk - 1) / Self.chunk)
            #expect(stored.count == EncryptedFormat.headerSize + n + 16 * chunks, "size \(n)")
            #expect(try Self.decrypt(stored) == plain, "size \(n)")
            #expect(EncryptedFormat.keyId(ofHeader: stored) == Self.key.id)
        }
    }

    @Test("two encryptions of the same bytes differ (a salt, so a key, of their own)")
    func freshSalt() throws {
        let a = try Self.encrypt(Self.plaintext(100)), b = try Self.encrypt(Self.plaintext(100))
        #expect(a != b)
        #expect(a[0..<24] == b[0..<24])
    }

    @Test("a flipped byte anywhere fails: header fields, salt, ciphertext, tag")
    func tamper() throws {
        let stored = try Self.encrypt(Self.plaintext(3 * Self.chunk + 100))
        let h = EncryptedFormat.headerSize
        let positions = [0, 8, 9, 11, 13, 16, 30, h, h + 5, h + Self.chunk, h + Self.chunk + 15, h + Self.chunk + 16,
                         stored.count - 17, stored.count - 1]
        for p in positions {
            var t = stored
            t[p] ^= 0x40
            let e = Self.failure(t)
            #expect(e?.code == .dataError, "byte \(p)")
        }
        var wrongId = stored
        wrongId[16] ^= 1
        #expect(Self.failure(wrongId)?.message.contains("wrong key") == true)
    }

    @Test("truncation at every chunk boundary and inside chunks fails")
    func truncation() throws {
        let stored = try Self.encrypt(Self.plaintext(3 * Self.chunk))
        let h = EncryptedFormat.headerSize
        let sealed = Self.chunk + 16
        var cuts = [0, 5, h - 1, h, h + 1, stored.count - 1, stored.count - 16]
        for i in 1...2 { cuts += [h + i * sealed, h + i * sealed - 1, h + i * sealed + 1] }
        for c in cuts {
            let e = Self.failure(Array(stored.prefix(c)))
            #expect(e?.code == .dataError, "cut at \(c)")
        }
        var appended = stored
        appended.append(0)
        #expect(Self.failure(appended)?.code == .dataError)
    }

    @Test("swapped, dropped and duplicated chunks fail")
    func reorder() throws {
        let stored = try Self.encrypt(Self.plaintext(3 * Self.chunk + 10))
        let h = EncryptedFormat.headerSize, s = Self.chunk + 16
        let header = Array(stored[0..<h])
        let c = (0..<3).map { Array(stored[h + $0 * s..<h + ($0 + 1) * s]) }
        let last = Array(stored[(h + 3 * s)...])
        for variant in [header + c[1] + c[0] + c[2] + last, header + c[0] + c[2] + last, header + c[0] + c[0] + c[1] + c[2] + last,
                        header + c[0] + c[1] + c[2], header + last] {
            #expect(Self.failure(variant)?.code == .dataError)
        }
        // Chunks of another file with the same key and header fields do not fit either (own salt).
        let other = try Self.encrypt(Self.plaintext(3 * Self.chunk + 10))
        #expect(Self.failure(header + Array(other[h...]))?.code == .dataError)
    }

    @Test("a wrong key, or none, is a one-line error; an old key in the ring reads old files")
    func keys() throws {
        let stored = try Self.encrypt(Self.plaintext(5000))
        let wrong = Self.failure(stored, keys: KeyRing(current: Self.otherKey))
        #expect(wrong?.code == .dataError)
        #expect(wrong?.message.contains(Self.key.id) == true)
        let none = mbError { _ = try Self.decrypt(stored, keys: nil) }
        #expect(none?.code == .config)
        #expect(try Self.decrypt(stored, keys: KeyRing(current: Self.otherKey, old: [Self.key])) == Self.plaintext(5000))
        #expect(Self.key.id.count == 16 && Self.key.id != Self.otherKey.id)
        #expect(!hex(Self.key.bytes).contains(Self.key.id))
        #expect(Self.failure(Array("plain text, not encrypted".utf8))?.message.contains("MHABKENC") == true)
    }

    @Test("key files: 32 bytes or 64 hex, mode 0600 and owner checked")
    func keyFiles() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let raw = dir.path + "/raw.key"
        try Data(Self.key.bytes).write(to: URL(fileURLWithPath: raw))
        chmod(raw, 0o600)
        #expect(try EncryptionKey.load(raw).id == Self.key.id)
        let hexFile = try dir.write("hex.key", hex(Self.key.bytes) + "\n")
        #expect(try EncryptionKey.load(hexFile).id == Self.key.id)
        chmod(raw, 0o640)
        let loose = mbError { _ = try EncryptionKey.load(raw) }
        #expect(loose?.code == .insecureFile)
        #expect(loose?.message.contains(raw) == true)
        let short = try dir.write("short.key", "0123456789")
        #expect(mbError { _ = try EncryptionKey.load(short) }?.code == .config)
        #expect(mbError { _ = try EncryptionKey.load(dir.path + "/missing.key") }?.code == .config)
        let ini = try INIFile.parse("[encryption]\nkey_file = relative.key\n", path: "t.cnf", inlineComments: true)
        #expect(mbError { _ = try EncryptionSettings.parse(ini) }?.code == .config)
        let ok = try EncryptionSettings.parse(try INIFile.parse("[encryption]\nkey_file = \(hexFile)\nold_key_files = \(raw), \(hexFile)\n", path: "t.cnf", inlineComments: true))
        #expect(ok.keyFile == hexFile && ok.oldKeyFiles == [raw, hexFile])
    }

    @Test("DecryptedInput feeds a child the plaintext; a changed chunk is reported over the child's success")
    func decryptedInputPipe() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let plain = Self.plaintext(3 * Self.chunk + 5)
        var stored = try Self.encrypt(plain)
        let path = dir.path + "/dump.sql"
        try Data(stored).write(to: URL(fileURLWithPath: path))
        let keys = KeyRing(current: Self.key)
        func cat() throws -> (PipelineResult, DecryptedInput) {
            let input = try DecryptedInput(path: path, encrypted: true, keys: keys)
            var o = RunOptions(timeout: 60)
            o.stdin = .fd(input.fd)
            return (try ProcessRunner().runPipeline([Command(["cat"])], options: o), input)
        }
        let (ok, input) = try cat()
        try input.check(pipelineSucceeded: ok.succeeded)
        #expect(ok.succeeded && [UInt8](ok.stdout) == plain)

        stored[stored.count - 10] ^= 1
        try Data(stored).write(to: URL(fileURLWithPath: path))
        let (cut, bad) = try cat()
        #expect(cut.succeeded, "cat read a stream that stopped early and exited 0")
        let e = mbError { try bad.check(pipelineSucceeded: cut.succeeded) }
        #expect(e?.code == .dataError && e?.message.contains(path) == true && e?.message.contains("chunk 3") == true)
        #expect([UInt8](cut.stdout) == Array(plain.prefix(3 * Self.chunk)))
    }
}
