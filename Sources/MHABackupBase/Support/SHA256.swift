import CCrypto
import FoundationEssentials
import Glibc
import Dispatch

/// Streaming SHA-256 through libcrypto's EVP API (it uses SHA-NI where the CPU has it).
public final class SHA256Hasher: @unchecked Sendable {
    private let ctx: OpaquePointer

    public init() {
        ctx = EVP_MD_CTX_new()
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ ptr: UnsafeRawPointer, count: Int) {
        EVP_DigestUpdate(ctx, ptr, count)
    }

    public func update(_ data: Data) {
        data.withUnsafeBytes { raw in
            if let base = raw.baseAddress { EVP_DigestUpdate(ctx, base, raw.count) }
        }
    }

    /// Returns the lowercase hex digest; the hasher must not be used afterwards.
    public func finalizeHex() -> String {
        var md = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &md, &len)
        return MHABackupBase.hex(md.prefix(Int(len)))
    }

    public static func hex(of data: Data) -> String {
        let h = SHA256Hasher()
        h.update(data)
        return h.finalizeHex()
    }

    /// Hashes a file with 1 MiB reads. Returns digest and size.
    public static func hashFile(_ path: String) throws -> (sha256: String, size: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MBError(.noInput, "cannot open \(q(path)): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let h = SHA256Hasher()
        let bufSize = 1 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: bufSize, alignment: 16)
        defer { buf.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(fd, buf, bufSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw MBError(.failed, "cannot read \(q(path)): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            h.update(buf, count: n)
            total += Int64(n)
        }
        return (h.finalizeHex(), total)
    }
}
