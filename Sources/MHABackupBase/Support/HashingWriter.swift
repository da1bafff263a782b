import FoundationEssentials
import Glibc
import Dispatch

/// Writes a stream to a `.partial` file while SHA-256 is computed on a second thread, so the
/// reader (ssh, a pipeline) never waits for the hash. `finish()` fsyncs and renames into place.
public final class HashingWriter: @unchecked Sendable {
    public let finalPath: String
    public let partialPath: String
    private let fd: Int32
    private let hasher = SHA256Hasher()
    private let queue = DispatchQueue(label: "mha-backup.hashing-writer")
    private let slots = DispatchSemaphore(value: 8)
    private let lock = Lock()
    private var writeError: Error?
    private var _bytes: Int64 = 0

    public init(path: String) throws {
        finalPath = path
        let dir = Path.dir(path)
        partialPath = "\(dir)/.\(Path.base(path)).partial"
        unlink(partialPath)
        fd = open(partialPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw MBError(.cantCreate, "cannot create \(q(partialPath)): \(String(cString: strerror(errno)))")
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Bytes handed to the writer so far.
    public var bytes: Int64 { lock.lock(); defer { lock.unlock() }; return _bytes }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        if let e = currentError() { throw e }
        let data = Data(chunk)
        lock.lock(); _bytes += Int64(data.count); lock.unlock()
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            if currentError() != nil { return }
            data.withUnsafeBytes { raw in
                hasher.update(raw.baseAddress!, count: raw.count)
                var off = 0
                while off < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                    if n < 0 {
                        if errno == EINTR { continue }
                        setError(MBError(.cantCreate, "cannot write \(q(partialPath)): \(String(cString: strerror(errno)))"))
                        return
                    }
                    off += n
                }
            }
        }
    }

    private func currentError() -> Error? { lock.lock(); defer { lock.unlock() }; return writeError }
    private func setError(_ e: Error) { lock.lock(); if writeError == nil { writeError = e }; lock.unlock() }

    /// Waits for the writes, fsyncs, renames the file into place; returns size and SHA-256.
    public func finish() throws -> ManifestFile {
        queue.sync {}
        if let e = currentError() { abandon(); throw e }
        guard fsync(fd) == 0 else {
            let e = MBError(.cantCreate, "cannot fsync \(q(partialPath)): \(String(cString: strerror(errno)))")
            abandon()
            throw e
        }
        guard rename(partialPath, finalPath) == 0 else {
            throw MBError(.cantCreate, "cannot rename \(q(partialPath)): \(String(cString: strerror(errno)))")
        }
        AtomicFile.syncDirectory(Path.dir(finalPath))
        return ManifestFile(name: Path.base(finalPath), size: bytes, sha256: hasher.finalizeHex())
    }

    /// Drops the partial file (failed or aborted run).
    public func abandon() {
        queue.sync {}
        unlink(partialPath)
    }
}
