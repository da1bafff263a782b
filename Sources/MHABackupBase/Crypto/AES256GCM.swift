import CCrypto
import FoundationEssentials
import Glibc

/// AES-256-GCM through libcrypto's EVP API (AES-NI where the CPU has it): one context per stream,
/// the key set once, a new 96-bit nonce per message. No cryptography of our own beyond the framing.
public final class AES256GCM: @unchecked Sendable {
    public static let keySize = 32
    public static let nonceSize = 12
    public static let tagSize = 16

    private let ctx: OpaquePointer
    private let encrypting: Bool

    public init(key: [UInt8], encrypting: Bool) throws {
        guard key.count == Self.keySize else { throw MBError(.software, "an AES-256 key has 32 bytes, got \(key.count)") }
        guard let c = EVP_CIPHER_CTX_new() else { throw MBError(.software, "libcrypto: EVP_CIPHER_CTX_new failed") }
        ctx = c
        self.encrypting = encrypting
        let ok = encrypting
            ? EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nil, nil, nil) == 1
                && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, Int32(Self.nonceSize), nil) == 1
                && EVP_EncryptInit_ex(c, nil, nil, key, nil) == 1
            : EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nil, nil, nil) == 1
                && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, Int32(Self.nonceSize), nil) == 1
                && EVP_DecryptInit_ex(c, nil, nil, key, nil) == 1
        guard ok else {
            EVP_CIPHER_CTX_free(c)
            throw MBError(.software, "libcrypto: cannot set up AES-256-GCM")
        }
    }

    deinit { EVP_CIPHER_CTX_free(ctx) }

    /// Encrypts `input` into `output` (same length) and writes the 16-byte tag to `tag`.
    public func seal(nonce: [UInt8], aad: [UInt8], input: UnsafeRawBufferPointer,
                     output: UnsafeMutableRawPointer, tag: UnsafeMutableRawPointer) throws {
        precondition(encrypting && nonce.count == Self.nonceSize && input.count <= Int(Int32.max))
        var outl: Int32 = 0
        var ok = EVP_EncryptInit_ex(ctx, nil, nil, nil, nonce) == 1
        if ok, !aad.isEmpty { ok = EVP_EncryptUpdate(ctx, nil, &outl, aad, Int32(aad.count)) == 1 }
        if ok, input.count > 0 {
            ok = EVP_EncryptUpdate(ctx, output.assumingMemoryBound(to: UInt8.self), &outl,
                                   input.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(input.count)) == 1
        }
        if ok { ok = EVP_EncryptFinal_ex(ctx, output.assumingMemoryBound(to: UInt8.self) + input.count, &outl) == 1 }
        if ok { ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagSize), tag) == 1 }
        guard ok else { throw MBError(.software, "libcrypto: AES-256-GCM encryption failed") }
    }

    /// Decrypts `input` into `output` and checks `tag`; false when authentication fails (a changed
    /// byte, another key, other authenticated data). `output` must not be used after a false.
    public func open(nonce: [UInt8], aad: [UInt8], input: UnsafeRawBufferPointer,
                     output: UnsafeMutableRawPointer, tag: UnsafeRawPointer) -> Bool {
        precondition(!encrypting && nonce.count == Self.nonceSize && input.count <= Int(Int32.max))
        var outl: Int32 = 0
        guard EVP_DecryptInit_ex(ctx, nil, nil, nil, nonce) == 1 else { return false }
        if !aad.isEmpty, EVP_DecryptUpdate(ctx, nil, &outl, aad, Int32(aad.count)) != 1 { return false }
        if input.count > 0, EVP_DecryptUpdate(ctx, output.assumingMemoryBound(to: UInt8.self), &outl,
                                              input.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(input.count)) != 1 {
            return false
        }
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagSize), UnsafeMutableRawPointer(mutating: tag)) == 1 else {
            return false
        }
        return EVP_DecryptFinal_ex(ctx, output.assumingMemoryBound(to: UInt8.self) + input.count, &outl) == 1
    }

    /// HMAC-SHA-256 (libcrypto): the key id and the per-file keys are derived with it.
    public static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        _ = HMAC(EVP_sha256(), key, Int32(key.count), message, message.count, &out, &len)
        return out
    }

    /// Bytes from libcrypto's CSPRNG.
    public static func randomBytes(_ n: Int) throws -> [UInt8] {
        var b = [UInt8](repeating: 0, count: n)
        guard RAND_bytes(&b, Int32(n)) == 1 else { throw MBError(.software, "libcrypto: RAND_bytes failed") }
        return b
    }
}
