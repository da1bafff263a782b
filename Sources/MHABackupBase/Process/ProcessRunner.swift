import CSupport
import FoundationEssentials
import Glibc
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One program to run: an argv array, never a shell string built from values.
public struct Command: Sendable, CustomStringConvertible {
    public var argv: [String]
    /// Extra environment on top of the inherited one (or replacing it, with `clearEnvironment`).
    public var environment: [String: String] = [:]
    public var clearEnvironment = false

    public init(_ argv: [String], environment: [String: String] = [:]) {
        precondition(!argv.isEmpty, "empty argv")
        self.argv = argv
        self.environment = environment
    }

    public var description: String { argv.map(ShellQuote.quote).joined(separator: " ") }
}

/// Where the stdin of the first stage comes from.
public enum StdinSource {
    case null
    case data(Data)
    case fd(Int32)
}

/// Where the stdout of the last stage goes.
public enum StdoutSink {
    /// Captured in memory, at most `limit` bytes kept (the rest counted and dropped).
    case capture(limit: Int)
    /// Every chunk handed to the closure as it is read (on the runner's thread).
    case handler((UnsafeRawBufferPointer) throws -> Void)
    /// Straight into a file descriptor we own (no copy through us).
    case fd(Int32)
    case discard
}

/// What one stage of a pipeline did. A non-zero exit is a result, not a thrown error.
public struct StageResult: Sendable {
    public var program: String
    public var pid: pid_t
    public var exitCode: Int32?
    public var signal: Int32?
    public var stderr: String
    public var stderrTruncated: Bool

    public var succeeded: Bool { exitCode == 0 }
    public var statusText: String {
        if let s = signal { return "killed by signal \(s)" }
        if let c = exitCode { return "exit \(c)" }
        return "unknown"
    }
}

public struct PipelineResult: Sendable {
    public var stages: [StageResult]
    public var stdout: Data
    public var stdoutTruncated: Bool
    public var timedOut: Bool
    public var cancelled: Bool
    public var duration: TimeInterval

    public var succeeded: Bool { !timedOut && !cancelled && stages.allSatisfy(\.succeeded) }
    public var stdoutString: String { String(decoding: stdout, as: UTF8.self) }
    /// The first failing stage, as a one-line reason.
    public var failureSummary: String {
        if timedOut { return "timed out" }
        if cancelled { return "cancelled" }
        if let bad = stages.first(where: { !$0.succeeded }) {
            let last = bad.stderr.split(separator: "\n").last.map(String.init) ?? ""
            return "\(q(bad.program)) \(bad.statusText)\(last.isEmpty ? "" : ": \(last)")"
        }
        return "ok"
    }
}

/// A flag a signal handler or another thread sets to stop a running pipeline.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = Lock()
    private var value = false
    public init() {}
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return value }
    public func cancel() { lock.lock(); value = true; lock.unlock() }
}

public struct RunOptions {
    /// Required: every child has a bound.
    public var timeout: TimeInterval
    public var stdin: StdinSource = .null
    public var stdout: StdoutSink = .capture(limit: 4 << 20)
    /// Bytes of each stage's stderr kept (the tail).
    public var stderrLimit = 64 << 10
    /// Called with each complete stderr line of a stage as it arrives.
    public var onStderrLine: ((Int, String) -> Void)?
    /// Called once every stage has started: the process group and the pids.
    public var onStart: ((pid_t, [pid_t]) -> Void)?
    public var cancellation: CancellationFlag?
    /// Time between SIGTERM and SIGKILL at teardown.
    public var grace: TimeInterval = 3
    public var workingDirectory: String?
    /// When set, every stage's stderr goes to this descriptor (e.g. 2: a chained hook writes
    /// straight into MHA's log) instead of being captured.
    public var stderrFd: Int32?

    public init(timeout: TimeInterval) { self.timeout = timeout }
}

/// Runs programs: argv arrays, a required timeout, capped output, stdout and stderr drained while
/// the children run, and teardown of the whole process group (SIGCONT, SIGTERM, grace, SIGKILL).
public struct ProcessRunner: Sendable {
    public init() {}

    /// Runs one program and captures its output.
    public func run(_ cmd: Command, timeout: TimeInterval, stdin: StdinSource = .null, outputLimit: Int = 4 << 20) throws -> PipelineResult {
        var o = RunOptions(timeout: timeout)
        o.stdin = stdin
        o.stdout = .capture(limit: outputLimit)
        return try runPipeline([cmd], options: o)
    }

    /// Runs `stage0 | stage1 | ...` in one new process group and reports each stage's status.
    public func runPipeline(_ stages: [Command], options: RunOptions) throws -> PipelineResult {
        precondition(!stages.isEmpty)
        let start = Date()
        var pids: [pid_t] = []
        var pgid: pid_t = 0
        var errFds: [Int32] = []
        var stdinWriteFd: Int32 = -1
        var stdoutReadFd: Int32 = -1

        // Resolve every program before starting any.
        let paths = try stages.map { try Self.resolve($0.argv[0]) }

        // stdin of stage 0; `prevOwned` says whether the parent must close it after the spawn.
        var prevRead: Int32
        var prevOwned = false
        switch options.stdin {
        case .null:
            prevRead = open("/dev/null", O_RDONLY | O_CLOEXEC)
            prevOwned = true
        case .fd(let fd):
            prevRead = fd
        case .data:
            let p = try Self.pipe()
            prevRead = p.0
            prevOwned = true
            stdinWriteFd = p.1
        }

        func abandon() {
            if pgid > 0 { Self.teardown(pgid: pgid, pids: pids, grace: 0.5); for p in pids { var st: Int32 = 0; waitpid(p, &st, 0) } }
            for fd in errFds { close(fd) }
            if stdoutReadFd >= 0 { close(stdoutReadFd) }
            if stdinWriteFd >= 0 { close(stdinWriteFd) }
            if prevOwned { close(prevRead) }
        }

        for (i, cmd) in stages.enumerated() {
            let last = i == stages.count - 1
            var outFd: Int32
            var outOwned = true
            var nextRead: Int32 = -1
            if !last {
                let p = try Self.pipe()
                outFd = p.1
                nextRead = p.0
            } else {
                switch options.stdout {
                case .capture, .handler:
                    let p = try Self.pipe()
                    outFd = p.1
                    stdoutReadFd = p.0
                    // A 1 MiB pipe (best effort): fewer wake-ups when we stream gigabytes.
                    _ = fcntl(p.0, 1031 /* F_SETPIPE_SZ */, Int32(1 << 20))
                case .fd(let fd):
                    outFd = fd
                    outOwned = false
                case .discard:
                    outFd = open("/dev/null", O_WRONLY | O_CLOEXEC)
                }
            }
            var ep: (Int32, Int32)
            if let fixed = options.stderrFd {
                // A pipe whose write end is closed at once: EOF for the reader, the child writes to `fixed`.
                ep = (-1, fixed)
            } else {
                do { ep = try Self.pipe() } catch { if outOwned { close(outFd) }; if nextRead >= 0 { close(nextRead) }; abandon(); throw error }
            }
            if ep.0 >= 0 { errFds.append(ep.0) }

            let pid: pid_t
            do {
                pid = try Self.spawn(path: paths[i], cmd: cmd, stdin: prevRead, stdout: outFd, stderr: ep.1,
                                     pgid: pgid, cwd: options.workingDirectory)
            } catch {
                if options.stderrFd == nil { close(ep.1) }
                if outOwned { close(outFd) }
                if nextRead >= 0 { close(nextRead) }
                abandon()
                throw error
            }
            if pgid == 0 { pgid = pid }
            pids.append(pid)
            // The child owns its ends now; the parent drops its copies.
            if options.stderrFd == nil { close(ep.1) }
            if outOwned { close(outFd) }
            if prevOwned { close(prevRead) }
            prevRead = nextRead
            prevOwned = true
        }
        options.onStart?(pgid, pids)

        // Feed stdin data from a helper thread so a child that writes before it reads can't deadlock us.
        if case .data(let d) = options.stdin, stdinWriteFd >= 0 {
            let fd = stdinWriteFd
            Threads.start {
                writeAll(fd, Array(d))
                close(fd)
            }
        }

        var captured = Data()
        var captureLimit = 0
        var stdoutTruncated = false
        if case .capture(let limit) = options.stdout { captureLimit = limit }
        var errBufs = [Data](repeating: Data(), count: stages.count)
        var errPartial = [Data](repeating: Data(), count: stages.count)
        var errTrunc = [Bool](repeating: false, count: stages.count)
        var openErr = Set(errFds.indices)
        var stdoutOpen = stdoutReadFd >= 0
        let deadline = start.addingTimeInterval(options.timeout)
        var timedOut = false
        var cancelled = false
        var handlerError: Error?
        let bufSize = 1 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: bufSize, alignment: 16)
        defer { buf.deallocate() }

        func killAll() {
            Self.teardown(pgid: pgid, pids: pids, grace: options.grace)
        }

        while stdoutOpen || !openErr.isEmpty {
            if Date() >= deadline { timedOut = true; break }
            if options.cancellation?.isCancelled == true { cancelled = true; break }
            var pfds: [pollfd] = []
            var map: [Int] = []  // -1 stdout, else stage index
            if stdoutOpen { pfds.append(pollfd(fd: stdoutReadFd, events: Int16(POLLIN), revents: 0)); map.append(-1) }
            for i in openErr.sorted() { pfds.append(pollfd(fd: errFds[i], events: Int16(POLLIN), revents: 0)); map.append(i) }
            let remaining = deadline.timeIntervalSinceNow
            let wait = Int32(max(0, min(200, remaining * 1000)))
            let r = poll(&pfds, nfds_t(pfds.count), wait)
            if r < 0 { if errno == EINTR { continue }; break }
            if r == 0 { continue }
            for (k, p) in pfds.enumerated() where p.revents != 0 {
                let n = read(p.fd, buf, bufSize)
                if n < 0 { if errno == EINTR || errno == EAGAIN { continue } }
                if n <= 0 {
                    if map[k] == -1 { stdoutOpen = false } else { openErr.remove(map[k]) }
                    continue
                }
                if map[k] == -1 {
                    switch options.stdout {
                    case .capture:
                        let room = captureLimit - captured.count
                        if room > 0 { captured.append(buf.assumingMemoryBound(to: UInt8.self), count: min(room, n)) }
                        if n > room { stdoutTruncated = true }
                    case .handler(let h):
                        if handlerError == nil {
                            do { try h(UnsafeRawBufferPointer(start: buf, count: n)) } catch {
                                handlerError = error
                                killAll()
                            }
                        }
                    default: break
                    }
                } else {
                    let i = map[k]
                    let chunk = Data(bytes: buf, count: n)
                    errPartial[i].append(chunk)
                    // Split into lines for the callback; keep the tail of stderr.
                    while let nl = errPartial[i].firstIndex(of: 0x0A) {
                        let lineData = errPartial[i][errPartial[i].startIndex..<nl]
                        let line = String(decoding: lineData, as: UTF8.self)
                        errPartial[i] = Data(errPartial[i][(nl + 1)...])
                        options.onStderrLine?(i, line)
                        errBufs[i].append(lineData)
                        errBufs[i].append(0x0A)
                    }
                    if errPartial[i].count > options.stderrLimit {
                        errBufs[i].append(errPartial[i]); errPartial[i] = Data()
                    }
                    if errBufs[i].count > options.stderrLimit {
                        errBufs[i] = Data(errBufs[i].suffix(options.stderrLimit))
                        errTrunc[i] = true
                    }
                }
            }
        }
        if timedOut || cancelled { killAll() }
        if stdoutReadFd >= 0 { close(stdoutReadFd) }
        for fd in errFds { close(fd) }

        // Reap every stage, bounded: after the deadline, tear down.
        var results: [StageResult] = []
        var teardownDone = timedOut || cancelled
        for (i, pid) in pids.enumerated() {
            var status: Int32 = 0
            while true {
                let w = waitpid(pid, &status, WNOHANG)
                if w == pid { break }
                if w < 0 && errno != EINTR { status = -1; break }
                if !teardownDone && (Date() >= deadline || options.cancellation?.isCancelled == true) {
                    if Date() >= deadline { timedOut = true } else { cancelled = true }
                    killAll(); teardownDone = true
                }
                usleep(2000)
            }
            var r = StageResult(program: stages[i].argv[0], pid: pid, exitCode: nil, signal: nil,
                                stderr: String(decoding: errBufs[i] + errPartial[i], as: UTF8.self),
                                stderrTruncated: errTrunc[i])
            if !errPartial[i].isEmpty { options.onStderrLine?(i, String(decoding: errPartial[i], as: UTF8.self)) }
            if status == -1 {
                r.exitCode = nil
            } else if (status & 0x7f) == 0 {
                r.exitCode = (status >> 8) & 0xff
            } else {
                r.signal = status & 0x7f
            }
            results.append(r)
        }
        if let handlerError { throw handlerError }
        return PipelineResult(stages: results, stdout: captured, stdoutTruncated: stdoutTruncated,
                              timedOut: timedOut, cancelled: cancelled, duration: Date().timeIntervalSince(start))
    }

    /// SIGCONT (a paused group would never see SIGTERM), SIGTERM, a grace period, then SIGKILL.
    public static func teardown(pgid: pid_t, pids: [pid_t], grace: TimeInterval) {
        guard pgid > 0 else { return }
        kill(-pgid, SIGCONT)
        kill(-pgid, SIGTERM)
        let end = Date().addingTimeInterval(grace)
        while Date() < end {
            if kill(-pgid, 0) != 0 { return }
            // A child that exited but was not reaped still counts; stop early when all are zombies.
            if pids.allSatisfy({ Self.isZombieOrGone($0) }) { return }
            usleep(20_000)
        }
        kill(-pgid, SIGKILL)
    }

    static func isZombieOrGone(_ pid: pid_t) -> Bool {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        guard let close = s.lastIndex(of: ")") else { return true }
        let rest = s[s.index(after: close)...].trimmedBlanks()
        return rest.hasPrefix("Z") || rest.hasPrefix("X")
    }

    /// The process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid,
    /// it names one process for good (a pid alone may be reused after a crash).
    public static func startTime(_ pid: pid_t) -> UInt64? {
        guard pid > 0, let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = s.lastIndex(of: ")") else { return nil }
        let fields = s[s.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); field 22 is fields[19].
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    /// Is this exact process (pid and start time) alive?
    public static func isAlive(_ pid: pid_t, startedAt: UInt64?) -> Bool {
        guard isAlive(pid) else { return false }
        guard let startedAt else { return true }
        return startTime(pid) == startedAt
    }

    /// PATH lookup that never searches the current folder (empty or relative PATH entries are skipped).
    public static func resolve(_ program: String) throws -> String {
        if program.contains("/") {
            guard access(program, X_OK) == 0 else {
                throw MBError(.unavailable, "program \(q(program)) is not executable")
            }
            return program
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") where dir.hasPrefix("/") {
            let candidate = "\(dir)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw MBError(.unavailable, "program \(q(program)) not found in PATH",
                      hint: ToolPackages.hint(for: program))
    }

    public static func which(_ program: String) -> String? { try? resolve(program) }

    static func pipe() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard mb_pipe_cloexec(&fds) == 0 else {
            throw MBError(.software, "pipe2 failed: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }

    /// Where a child goes: into a process group (0: a new one it leads), or a new session.
    enum Placement { case group(pid_t), session }

    static func spawn(path: String, cmd: Command, stdin: Int32, stdout: Int32, stderr: Int32,
                      pgid: pid_t, cwd: String?) throws -> pid_t {
        try spawn(path: path, cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr, placement: .group(pgid), cwd: cwd)
    }

    /// posix_spawn with default signal handling and an empty mask in the child (we ignore SIGPIPE).
    static func spawn(path: String, cmd: Command, stdin: Int32, stdout: Int32, stderr: Int32,
                      placement: Placement, cwd: String?) throws -> pid_t {
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_adddup2(&fa, stdin, 0)
        posix_spawn_file_actions_adddup2(&fa, stdout, 1)
        posix_spawn_file_actions_adddup2(&fa, stderr, 2)
        if let cwd { mb_spawn_addchdir(&fa, cwd) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        switch placement {
        case .group(let pgid):
            posix_spawnattr_setpgroup(&attr, pgid)
            posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        case .session:
            posix_spawnattr_setflags(&attr, Int16(0x80 /* POSIX_SPAWN_SETSID */ | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        }

        var env = cmd.clearEnvironment ? [:] : ProcessInfo.processInfo.environment
        for (k, v) in cmd.environment { env[k] = v }
        let envStrings = env.map { "\($0.key)=\($0.value)" }

        let argvC = cmd.argv.map { strdup($0) } + [nil]
        let envC = envStrings.map { strdup($0) } + [nil]
        defer {
            argvC.forEach { free($0) }
            envC.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &fa, &attr, argvC, envC)
        guard rc == 0 else {
            throw MBError(.unavailable, "cannot start \(q(cmd.argv[0])): \(String(cString: strerror(rc)))")
        }
        return pid
    }
}

extension StdoutSink {
    var isFd: Bool { if case .fd = self { return true }; return false }
}

/// The Debian package that provides each external program, for error messages.
public enum ToolPackages {
    public static let map: [String: String] = [
        "mariadb": "mariadb-client", "mysql": "mariadb-client", "mariadb-dump": "mariadb-client",
        "mysqldump": "mariadb-client", "mariadb-binlog": "mariadb-client", "mysqlbinlog": "mariadb-client",
        "mariadb-admin": "mariadb-client", "mariabackup": "mariadb-backup", "mbstream": "mariadb-backup",
        "mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server",
        "ssh": "openssh-client", "ssh-keygen": "openssh-client", "sshd": "openssh-server",
        "zstd": "zstd", "lz4": "lz4", "gzip": "gzip", "rclone": "rclone",
        "masterha_manager": "mha4mysql-manager", "masterha_check_repl": "mha4mysql-manager",
        "masterha_master_switch": "mha4mysql-manager", "save_binary_logs": "mha4mysql-node",
        "ionice": "util-linux", "nice": "coreutils",
    ]
    public static func hint(for program: String) -> String? {
        map[program].map { "install the Debian package \(q($0)) (apt-get install \($0))" }
    }
}

extension ProcessRunner {
    /// Starts a daemon in its own session, stdio on /dev/null (stdout/stderr appended to `logFile`),
    /// and does not wait for it. Used for servers the sandbox owns and for detached workers.
    @discardableResult
    public static func spawnDetached(_ cmd: Command, logFile: String? = nil, cwd: String? = nil) throws -> pid_t {
        let path = try resolve(cmd.argv[0])
        let inFd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let outFd = logFile.map { open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640) } ?? open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(inFd); close(outFd) }
        guard outFd >= 0 else { throw MBError(.cantCreate, "cannot open log \(q(logFile ?? "/dev/null"))") }
        return try spawn(path: path, cmd: cmd, stdin: inFd, stdout: outFd, stderr: outFd, placement: .session, cwd: cwd)
    }

    /// `spawnDetached` through util-linux's small `setsid -f` when there is one: posix_spawn waits
    /// until the child has exec'd, and exec of a big program (the 60 MB `mha-backup`) costs
    /// milliseconds on a hook's path; setsid's does not. The pid returned is then setsid's.
    @discardableResult
    public static func spawnDetachedThroughSetsid(_ cmd: Command, logFile: String? = nil) throws -> pid_t {
        let setsid = (["/usr/bin/setsid", "/bin/setsid"] as [String]).first { (p: String) in access(p, X_OK) == 0 }
        return try spawnDetached(Command(setsid.map { [$0, "-f"] + cmd.argv } ?? cmd.argv), logFile: logFile)
    }

    /// True while a process with this pid exists and is not a zombie.
    public static func isAlive(_ pid: pid_t) -> Bool {
        pid > 0 && kill(pid, 0) == 0 && !isZombieOrGone(pid)
    }

    /// Reaps a child if it is ours and has exited (no-op otherwise).
    public static func reap(_ pid: pid_t) {
        var st: Int32 = 0
        _ = waitpid(pid, &st, WNOHANG)
    }
}
