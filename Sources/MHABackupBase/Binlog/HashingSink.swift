import FoundationEssentials
import Glibc
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// What one pass over a file's bytes found: SHA-256, size and the binlog scan.
public struct BinlogDigest: Sendable {
    public var sha256: String
    public var size: Int64
    public var scan: BinlogEventScanner
}

/// Copy and checksum in one pass: the reader fills 1 MiB buffers and hands each full buffer to a
/// worker thread that writes it (`onBuffer`), runs SHA-256 and the event scan; the reader never
/// waits for the disk (P3: writing on the reader's thread stalled ssh on a full pipe). A small pool of buffers bounds memory and pushes back on the reader when
/// hashing falls behind (PERF-FACTS: hash on another thread than the reader).
public final class BackgroundHasher: @unchecked Sendable {
    public let bufferSize: Int
    private let cond = Condition()
    private var free: [UnsafeMutableRawPointer] = []
    private var all: [UnsafeMutableRawPointer] = []
    private var queue: [(UnsafeMutableRawPointer, Int)] = []
    private var closing = false
    private var workerDone = false
    private let hasher = SHA256Hasher()
    private var scanner = BinlogEventScanner()
    private var hashed: Int64 = 0
    private var writeError: Error?
    // Reader-side state (only the reader's thread touches these).
    private var current: UnsafeMutableRawPointer?
    private var fill = 0
    private var finished = false
    private let onBuffer: ((UnsafeRawBufferPointer) throws -> Void)?

    public init(bufferSize: Int = 1 << 20, buffers: Int = 16, onBuffer: ((UnsafeRawBufferPointer) throws -> Void)? = nil) {
        self.bufferSize = bufferSize
        self.onBuffer = onBuffer
        for _ in 0..<max(2, buffers) {
            let b = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 64)
            all.append(b)
            free.append(b)
        }
        Threads.start { [self] in work() }
    }

    deinit {
        // The worker holds `self` until it returns, so no buffer is in use here.
        for b in all { b.deallocate() }
    }

    /// Takes bytes in any chunk size (the runner's reads are often 64 KiB pipe-fulls).
    public func consume(_ data: UnsafeRawBufferPointer) throws {
        precondition(!finished, "consume after finish")
        if let e = pendingError() { throw e }
        guard let base = data.baseAddress else { return }
        var off = 0
        while off < data.count {
            if current == nil {
                current = takeFree()
                fill = 0
            }
            let n = min(bufferSize - fill, data.count - off)
            memcpy(current! + fill, base + off, n)
            fill += n
            off += n
            if fill == bufferSize { try flush() }
        }
    }

    /// Flushes the last buffer, waits for the worker and returns the digest.
    public func finish() throws -> BinlogDigest {
        precondition(!finished, "finish called twice")
        try flush()
        stop()
        cond.lock()
        defer { cond.unlock() }
        if let e = writeError { throw e }
        return BinlogDigest(sha256: hasher.finalizeHex(), size: hashed, scan: scanner)
    }

    /// Stops the worker without a result (a failed copy). Safe to call more than once.
    public func cancel() {
        stop()
    }

    private func stop() {
        guard !finished else { return }
        finished = true
        if let c = current {
            cond.lock(); free.append(c); cond.unlock()
            current = nil
        }
        cond.lock()
        closing = true
        cond.broadcast()
        while !workerDone { cond.wait() }
        cond.unlock()
    }

    private func pendingError() -> Error? {
        cond.lock(); defer { cond.unlock() }
        return writeError
    }

    private func flush() throws {
        guard let c = current, fill > 0 else { return }
        let n = fill
        if let e = pendingError() { throw e }
        cond.lock()
        queue.append((c, n))
        cond.broadcast()
        cond.unlock()
        current = nil
        fill = 0
    }

    private func takeFree() -> UnsafeMutableRawPointer {
        cond.lock()
        defer { cond.unlock() }
        while free.isEmpty { cond.wait() }
        return free.removeLast()
    }

    private func work() {
        while true {
            cond.lock()
            while queue.isEmpty && !closing { cond.wait() }
            if queue.isEmpty {
                workerDone = true
                cond.broadcast()
                cond.unlock()
                return
            }
            let (buf, n) = queue.removeFirst()
            let failed = writeError != nil
            cond.unlock()
            if !failed, let onBuffer {
                do { try onBuffer(UnsafeRawBufferPointer(start: buf, count: n)) } catch {
                    cond.lock(); writeError = error; cond.unlock()
                }
            }
            hasher.update(buf, count: n)
            scanner.feed(UnsafeRawBufferPointer(start: buf, count: n))
            cond.lock()
            hashed += Int64(n)
            free.append(buf)
            cond.broadcast()
            cond.unlock()
        }
    }
}

/// A temp file being filled: created exclusively, written fully, fsynced before it counts.
package final class BinlogPartialFile {
    let path: String
    private(set) var fd: Int32
    private(set) var written: Int64 = 0

    package init(path: String, mode: mode_t = 0o640) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw MBError(.cantCreate, "cannot create \(q(path)): \(String(cString: strerror(errno)))")
        }
        fchmod(fd, mode)
    }

    deinit { if fd >= 0 { close(fd) } }

    package func write(_ data: UnsafeRawBufferPointer) throws {
        guard let base = data.baseAddress else { return }
        var off = 0
        while off < data.count {
            let n = Glibc.write(fd, base + off, data.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw MBError(.cantCreate, "cannot write \(q(path)): \(String(cString: strerror(errno)))")
            }
            off += n
        }
        written += Int64(data.count)
    }

    /// fsync and close: after this the bytes are on disk.
    package func sync() throws {
        guard fsync(fd) == 0 else {
            throw MBError(.cantCreate, "cannot fsync \(q(path)): \(String(cString: strerror(errno)))")
        }
        close(fd)
        fd = -1
    }

    /// Closes and removes the file (a failed or abandoned copy).
    package func discard() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(path)
    }
}

package enum BinlogFileIO {
    /// Reads a local file through `consume` in 1 MiB reads.
    package static func readAll(_ path: String, into consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MBError(.noInput, "cannot open \(q(path)): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let size = 1 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { buf.deallocate() }
        while true {
            let n = read(fd, buf, size)
            if n < 0 {
                if errno == EINTR { continue }
                throw MBError(.failed, "cannot read \(q(path)): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return }
            try consume(UnsafeRawBufferPointer(start: buf, count: n))
        }
    }

    package static func size(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(st.st_size)
    }

    package static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func mtime(_ path: String) -> Date? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec) + TimeInterval(st.st_mtim.tv_nsec) / 1e9)
    }

    package static func list(_ dir: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    }

    package static func errnoText() -> String { String(cString: strerror(errno)) }

    /// A line to stdout or stderr with plain write(2): a reader that went away (EPIPE) costs the
    /// line, never the process. A long-running stream must outlive the terminal that started it.
    package static func writeLine(_ s: String, fd: Int32) {
        let bytes = Array((s + "\n").utf8)
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                off += n
            }
        }
    }
}
