import FoundationEssentials
import Glibc
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Atomic writes: temp file in the same folder, fsync, rename, fsync of the folder.
public enum AtomicFile {
    /// `durable: false` keeps the write atomic (temp, rename) but skips the fsyncs: for state that
    /// is only meaningful while its owner process lives (job records).
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644, durable: Bool = true) throws {
        let dir = Path.dir(path)
        let tmp = "\(dir)/.\(Path.base(path)).tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw MBError(.cantCreate, "cannot create \(q(tmp)): \(String(cString: strerror(errno)))")
        }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        try data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    let e = errno
                    close(fd)
                    throw MBError(.cantCreate, "cannot write \(q(tmp)): \(String(cString: strerror(e)))")
                }
                off += n
            }
        }
        fchmod(fd, mode)
        guard !durable || fsync(fd) == 0 else {
            let e = errno
            close(fd)
            throw MBError(.cantCreate, "cannot fsync \(q(tmp)): \(String(cString: strerror(e)))")
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            throw MBError(.cantCreate, "cannot rename \(q(tmp)) to \(q(path)): \(String(cString: strerror(errno)))")
        }
        ok = true
        if durable { syncDirectory(dir) }
    }

    public static func write(_ string: String, to path: String, mode: mode_t = 0o644, durable: Bool = true) throws {
        try write(Data(string.utf8), to: path, mode: mode, durable: durable)
    }

    public static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// Creates a folder and its parents with the given mode.
    public static func makeDirectory(_ path: String, mode: Int = 0o750) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true,
                attributes: [.posixPermissions: mode])
        } catch {
            throw MBError(.cantCreate, "cannot create folder \(q(path)): \("\(error)")")
        }
    }
}

/// Appends one line to a file with O_APPEND and fsync: the audit and event logs.
public func appendLine(_ line: String, to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
    guard fd >= 0 else { throw MBError(.cantCreate, "cannot open \(q(path)) for append: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let bytes = Array((line.hasSuffix("\n") ? line : line + "\n").utf8)
    let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
    guard n == bytes.count else { throw MBError(.cantCreate, "short write to \(q(path))") }
    fsync(fd)
}
