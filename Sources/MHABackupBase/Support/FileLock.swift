import FoundationEssentials
import Glibc
import Dispatch

/// The one file lock of the state stores: an exclusive `flock` on a lock file beside the state,
/// waited for at most `timeout` (a hook must never wait without bound, even on itself).
public enum FileLock {
    public static func withLock<T>(_ path: String, timeout: TimeInterval = 30, _ body: () throws -> T) throws -> T {
        try AtomicFile.makeDirectory(Path.dir(path))
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw MBError(.cantCreate, "cannot open lock file \(q(path)): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let end = Date().addingTimeInterval(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw MBError(.cantCreate, "cannot lock \(q(path)): \(String(cString: strerror(errno)))")
            }
            guard Date() < end else { throw MBError(.busy, "\(q(path)) stayed locked for \(Int(timeout)) s", hint: heldHint) }
            usleep(5_000)
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    static let heldHint = "another process holds the lock"

    /// The lock stayed held past the timeout (not a `busy` thrown by the body).
    static func isHeld(_ e: MBError) -> Bool { e.hint == heldHint }
}
