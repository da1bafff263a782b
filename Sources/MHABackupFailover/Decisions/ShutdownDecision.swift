import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// What shutdown_script may tell MHA, decided from what was observed. Exit 10 means "mysqld is
/// stopped and ssh works"; 0 means "powered off, ssh unreachable" (MHA then skips saving the dead
/// master's binlog); anything else aborts the failover. Pure: unit-tested without servers.
public enum ShutdownDecision {
    /// What the kill over ssh did.
    public enum Kill: Error, Equatable, Sendable {
        /// pkill ran: 0 killed, 1 nothing matched (already stopped).
        case done
        /// ssh connected, the remote command failed (pkill's own error, a wrong pid file).
        case failed(String)
        /// ssh itself failed (exit 255, timeout, refused, bad key, ProxyCommand failing).
        case sshFailed(String)
        /// Not attempted: `--command=stop` (MHA found ssh unreachable), or invalid host/user from MHA.
        case notAttempted(String)
    }

    /// The old master's port and SQL, probed after the kill.
    public struct Probe: Equatable, Sendable {
        public var portAnswers: Bool
        public var sqlAnswers: Bool
        public init(portAnswers: Bool, sqlAnswers: Bool) {
            self.portAnswers = portAnswers
            self.sqlAnswers = sqlAnswers
        }
    }

    public enum State: String, Sendable {
        /// The kill worked and nothing answers on the port any more.
        case stopped
        /// It still answers SQL: a live old master that may take writes.
        case live
        /// The port is open but SQL does not answer (hung): not known to be stopped.
        case unknown
        /// Nothing answers and ssh does not reach it: a dead host (or a partition).
        case unreachable
    }

    public struct Result: Equatable, Sendable {
        public var state: State
        public var exitCode: Int32
        /// One line for the audit trail and MHA's log.
        public var message: String
        /// A critical alert is due (anything but a clean stop).
        public var alert: Bool
    }

    public static func decide(kill: Kill, probe: Probe, policy: BackupConfig.HookSettings.OnFenceFailure) -> Result {
        let sshWorks: Bool
        let killText: String
        switch kill {
        case .done: sshWorks = true; killText = "mysqld killed over ssh"
        case .failed(let m): sshWorks = true; killText = "the kill failed: \(m)"
        case .sshFailed(let m): sshWorks = false; killText = "ssh failed: \(m)"
        case .notAttempted(let m): sshWorks = false; killText = m
        }
        let state: State
        if probe.sqlAnswers {
            state = .live
        } else if probe.portAnswers {
            state = .unknown
        } else if kill == .done {
            state = .stopped
        } else if sshWorks {
            // ssh works, the kill failed, yet nothing answers: mysqld was not running.
            state = .stopped
        } else {
            state = .unreachable
        }
        switch state {
        case .stopped:
            return Result(state: state, exitCode: HookExit.stoppedSSHWorks.rawValue, message: "\(killText); nothing answers on its port: mysqld is stopped, ssh works (exit 10)",
                          alert: kill != .done)
        case .unreachable:
            // The truthful code: the host does not answer SQL and ssh does not reach it. MHA then
            // skips its own binlog save (it could not ssh there anyway).
            return Result(state: state, exitCode: HookExit.ok.rawValue,
                          message: "\(killText); mysqld does not answer and ssh does not reach the host: reported as unreachable (exit 0); MHA will not save its binlog",
                          alert: true)
        case .live, .unknown:
            let what = state == .live ? "it still answers SQL: a live old master that may take writes"
                                      : "its port is open but SQL does not answer: not known to be stopped"
            switch policy {
            case .abort:
                return Result(state: state, exitCode: HookExit.abort.rawValue,
                              message: "\(killText); \(what); on_fence_failure = abort: the failover is aborted (exit 1)", alert: true)
            case .proceed:
                let code = (sshWorks ? HookExit.stoppedSSHWorks : HookExit.ok).rawValue
                return Result(state: state, exitCode: code,
                              message: "\(killText); \(what); on_fence_failure = proceed: MHA goes on (exit \(code))", alert: true)
            }
        }
    }
}

/// Splits an option string the way `/bin/sh` splits words (quotes and backslashes; no expansion):
/// MHA puts `ssh_options` into its ssh command lines unquoted, so a shell splits them there.
public enum ShellWords {
    public static func split(_ s: String) -> [String]? {
        var words: [String] = []
        var cur = ""
        var inWord = false
        var quote: Character? = nil
        var it = s.makeIterator()
        while let c = it.next() {
            if let qc = quote {
                if c == qc { quote = nil; continue }
                if qc == "\"", c == "\\" {
                    guard let n = it.next() else { return nil }
                    if !["\"", "\\", "$", "`"].contains(n) { cur.append(c) }
                    cur.append(n)
                    continue
                }
                cur.append(c)
                continue
            }
            switch c {
            case " ", "\t", "\n":
                if inWord { words.append(cur); cur = ""; inWord = false }
            case "'", "\"":
                quote = c; inWord = true
            case "\\":
                guard let n = it.next() else { return nil }
                if n != "\n" { cur.append(n); inWord = true }
            default:
                cur.append(c); inWord = true
            }
        }
        if quote != nil { return nil }
        if inWord { words.append(cur) }
        return words
    }
}

/// Does anything accept a TCP connection on host:port within the timeout?
public enum TCPProbe {
    public static func answers(host: String, port: Int, timeout: TimeInterval) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else { return false }
        defer { freeaddrinfo(res) }
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            if connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return true }
            guard errno == EINPROGRESS else { continue }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&p, 1, Int32(max(1, timeout * 1000))) == 1 else { continue }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err == 0 { return true }
        }
        return false
    }
}
