import FoundationEssentials
import Glibc

/// A stored file as a child's stdin: plaintext when the file is encrypted (a thread decrypts it
/// into a pipe, each chunk authenticated before it is written), the file itself otherwise.
/// Call `finish()` after the pipeline: it waits for the thread and returns its error, which names
/// the file and comes before whatever the reading tool said about a stream cut short.
public final class DecryptedInput: @unchecked Sendable {
    /// The descriptor to hand the child as stdin.
    public let fd: Int32
    /// Shared with the thread, which must not keep `self` alive: dropping an input nobody read
    /// (a pipeline that never started) closes the read end in `deinit`, so the thread's next write
    /// fails and it ends.
    private final class State: @unchecked Sendable {
        let done = Condition()
        var finished = false
        var error: Error?
    }
    private let state = State()
    private var closedRead = false

    /// Opens `path`; `keys == nil` with `encrypted` is the "no key configured" error.
    public init(path: String, encrypted: Bool, keys: KeyRing?) throws {
        let fileFd = open(path, O_RDONLY | O_CLOEXEC)
        guard fileFd >= 0 else { throw MBError(.noInput, "cannot open \(q(path)): \(String(cString: strerror(errno)))") }
        guard encrypted else {
            fd = fileFd
            state.finished = true
            return
        }
        let p: (Int32, Int32)
        do { p = try ProcessRunner.pipe() } catch { close(fileFd); throw error }
        signal(SIGPIPE, SIG_IGN)
        fd = p.0
        let w = p.1
        let state = self.state
        Threads.start {
            var failure: Error?
            do {
                try ChunkDecryptor.decrypt(fd: fileFd, name: path, keys: keys) { chunk in
                    var off = 0
                    while off < chunk.count {
                        let n = write(w, chunk.baseAddress! + off, chunk.count - off)
                        if n < 0 {
                            if errno == EINTR { continue }
                            throw MBError(.failed, "the reader of \(q(path)) went away: \(String(cString: strerror(errno)))")
                        }
                        off += n
                    }
                }
            } catch { failure = error }
            close(fileFd)
            close(w)
            state.done.lock()
            state.error = failure
            state.finished = true
            state.done.broadcast()
            state.done.unlock()
        }
    }

    deinit {
        _ = finish()
    }

    /// Closes our end of the input and waits for the decrypting thread; its error, if any.
    @discardableResult
    public func finish() -> Error? {
        if !closedRead { close(fd); closedRead = true }
        state.done.lock()
        defer { state.done.unlock() }
        while !state.finished { state.done.wait() }
        return state.error
    }

    /// The error to report after a pipeline that read this input: an authentication failure of the
    /// file first (the tool only saw a stream that stopped), else the pipeline's own.
    public func check(pipelineSucceeded: Bool) throws {
        let e = finish()
        if let m = e as? MBError, m.code != .failed { throw m }
        if pipelineSucceeded, let e { throw e }
    }
}
