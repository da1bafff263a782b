import FoundationEssentials
import Glibc

/// One long-lived ssh connection to a host (OpenSSH's ControlMaster), so a hook on MHA's path runs
/// its remote command over a connection that already exists: milliseconds instead of a whole
/// key exchange (~0.4 s here). Sockets live in `state_dir/ssh-mux` (0700: a socket is a root shell
/// on the host). A client that finds no live master connects on its own, as without a mux.
public struct SSHMux: Sendable {
    public let dir: String
    /// How long the master waits for a dead peer: ServerAliveInterval × CountMax seconds.
    public static let aliveInterval = 2, aliveCount = 3

    public init(stateDir: String) { dir = stateDir + "/ssh-mux" }

    /// A short name per user, host and port (sun_path holds 108 bytes, and ssh appends a
    /// 17-byte temporary suffix while it creates the socket).
    public func socket(for t: SSHTarget, purpose: String = "") -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in "\(t.user)@\(t.host):\(t.port)\(purpose.isEmpty ? "" : "/" + purpose)".utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return "\(dir)/\(padded(h, width: 16, radix: 16))"
    }

    /// For one run of many sessions to one host (a binlog copy: a listing, then a `cat` per file):
    /// the first session becomes the master (`ControlMaster=auto`), the others ride on it, and the
    /// master goes `persist` seconds after the last one even if the run dies. The socket is this
    /// process's own (`purpose`), so closing it never cuts another run's copy. Returns the target
    /// to use and the socket to close with `close(socketPath:)`.
    public func forRun(_ t: SSHTarget, purpose: String, persist: Int = 60) -> (target: SSHTarget, socket: String) {
        let sock = socket(for: t, purpose: purpose)
        guard (try? AtomicFile.makeDirectory(dir, mode: 0o700)) != nil else { return (t, sock) }
        chmod(dir, 0o700)
        var m = t
        m.options = ["-o", "ControlMaster=auto", "-o", "ControlPath=\(sock)", "-o", "ControlPersist=\(persist)"] + t.options
        return (m, sock)
    }

    /// Options for a client: use the master connection when it is there, never become one.
    public func clientOptions(for t: SSHTarget) -> [String] {
        ["-o", "ControlPath=\(socket(for: t))", "-o", "ControlMaster=no"]
    }

    /// `ssh -O check`: is a master connection alive for this target? Bounded by `timeout`.
    public func isLive(_ t: SSHTarget, runner: ProcessRunner = ProcessRunner(), timeout: TimeInterval = 2) -> Bool {
        guard access(socket(for: t), F_OK) == 0 else { return false }
        let argv = ["ssh", "-o", "ControlPath=\(socket(for: t))", "-O", "check", "-p", String(t.port), "\(t.user)@\(t.host)"]
        return (try? runner.run(Command(argv), timeout: timeout))?.succeeded == true
    }

    /// The master's argv: no command, in the background for as long as the peer answers
    /// (ServerAlive), our keep-alive options before the site's (ssh takes the first value).
    public func masterArgv(for t: SSHTarget) -> [String] {
        ["ssh", "-N", "-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-o", "ControlPath=\(socket(for: t))",
         "-o", "ServerAliveInterval=\(Self.aliveInterval)", "-o", "ServerAliveCountMax=\(Self.aliveCount)"]
            + t.options + ["-p", String(t.port), "\(t.user)@\(t.host)"]
    }

    public enum Opened: Equatable, Sendable { case alreadyLive, started(pid_t), failed(String) }

    /// Starts the master connection detached (its own session) unless one is live; returns at
    /// once: the connection is made in the background.
    public func ensure(_ t: SSHTarget, runner: ProcessRunner = ProcessRunner()) -> Opened {
        if isLive(t, runner: runner) { return .alreadyLive }
        let sock = socket(for: t)
        // One still authenticating (the other status call a moment ago): a second master would
        // find the socket taken and stay as a plain connection for good.
        if let s = try? String(contentsOfFile: sock + ".pid", encoding: .utf8), let p = pid_t(s.trimmed()),
           ProcessRunner.isAlive(p), (try? String(contentsOfFile: "/proc/\(p)/cmdline", encoding: .utf8))?.contains(sock) == true {
            return .alreadyLive
        }
        do {
            try AtomicFile.makeDirectory(dir, mode: 0o700)
            chmod(dir, 0o700)
            // A socket left by a master that died is in the way of a new one.
            unlink(sock)
            let pid = try ProcessRunner.spawnDetached(Command(masterArgv(for: t)))
            try? AtomicFile.write(Data(String(pid).utf8), to: sock + ".pid", mode: 0o600)
            return .started(pid)
        } catch {
            return .failed("\(error)")
        }
    }

    /// `ssh -O exit`: closes the master connection (after a failover: the old master's is done).
    @discardableResult
    public func close(_ t: SSHTarget, runner: ProcessRunner = ProcessRunner()) -> Bool {
        close(socketPath: socket(for: t), runner: runner)
    }

    /// Closes every master connection in the folder (the failover is over: the manager's next
    /// start opens one to the new master). Returns how many were closed.
    @discardableResult
    public func closeAll(runner: ProcessRunner = ProcessRunner()) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        // Only the kept ones (`ensure` leaves a .pid beside them): a run's own copy connection
        // belongs to that run.
        let kept = names.filter { !$0.contains(".") && names.contains($0 + ".pid") }
        return kept.filter { close(socketPath: "\(dir)/\($0)", runner: runner) }.count
    }

    @discardableResult
    public func close(socketPath sock: String, runner: ProcessRunner = ProcessRunner()) -> Bool {
        defer { unlink(sock + ".pid") }
        guard access(sock, F_OK) == 0 else { return false }
        // The host argument is only a name here: the socket says where the connection goes.
        let argv = ["ssh", "-o", "ControlPath=\(sock)", "-O", "exit", "mux"]
        return (try? runner.run(Command(argv), timeout: 3))?.succeeded == true
    }
}
