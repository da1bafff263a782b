import Foundation
#if canImport(Glibc)
import Glibc
import MHABackupBase
import MHABackupFailover
#endif

/// A mariadbd we start on a restored datadir: loopback only (or no TCP at all), no binlog, no
/// replica threads, and a one-off account made by `--init-file` whose password lives only in a
/// 0600 defaults file in a private run folder. The account is dropped before we leave.
public final class ScratchServer: @unchecked Sendable {
    public let datadir: String
    /// Private folder (0700) for the socket, pid file, init file and the defaults file.
    public let runDir: String
    public let port: Int?
    public var runner = ProcessRunner()
    public private(set) var pid: pid_t = 0

    static let user = "mha_backup_restore"
    public var socket: String { "\(runDir)/mysqld.sock" }
    public var pidFile: String { "\(runDir)/mysqld.pid" }
    public var errorLog: String { "\(runDir)/mysqld.err" }
    public var defaultsFile: String { "\(runDir)/client.cnf" }
    var initFile: String { "\(runDir)/init.sql" }

    /// `port` nil: no TCP listener (`--skip-networking`), the socket only.
    public init(datadir: String, runDir: String, port: Int?) {
        self.datadir = datadir
        self.runDir = runDir
        self.port = port
    }

    /// A fresh private run folder under the system temp dir (short, so the socket path fits).
    public static func makeRunDir() throws -> String { try makePrivateDir(in: "/tmp", prefix: "mha-restore") }

    /// A new folder `DIR/PREFIX-XXXXXX`, mode 0700 (mkdtemp).
    public static func makePrivateDir(in dir: String, prefix: String) throws -> String {
        var template = Array("\(dir)/\(prefix)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else {
            throw MBError(.cantCreate, "cannot create a folder in \(q(dir)): \(String(cString: strerror(errno)))")
        }
        return String(cString: p)
    }

    /// A free TCP port on 127.0.0.1 (bind to 0, read it back).
    public static func freePort() throws -> Int {
        let port = try withLoopbackSocket(port: 0) { fd, addr, len -> Int? in
            guard bind(fd, addr, len.pointee) == 0, getsockname(fd, addr, len) == 0 else { return nil }
            return addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
        guard let port else { throw MBError(.failed, "cannot bind 127.0.0.1 to find a free port") }
        return port
    }

    /// Whether something already listens on 127.0.0.1:port.
    public static func portInUse(_ port: Int) -> Bool {
        (try? withLoopbackSocket(port: port) { fd, addr, len in connect(fd, addr, len.pointee) == 0 }) ?? false
    }

    /// A TCP socket and the address 127.0.0.1:port for `body`, closed afterwards.
    static func withLoopbackSocket<T>(port: Int, _ body: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> T) throws -> T {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MBError(.failed, "cannot open a TCP socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(fd, $0, &len) }
        }
    }

    var asRoot: Bool { geteuid() == 0 }

    /// The first folder above `path` that user `mysql` cannot pass through (mariadbd drops to
    /// mysql when started as root); nil when every one is passable or we are not root.
    public static func blockedAncestor(of path: String) -> String? {
        guard geteuid() == 0, let pw = getpwnam("mysql") else { return nil }
        let uid = pw.pointee.pw_uid, gid = pw.pointee.pw_gid
        var dir = (path as NSString).deletingLastPathComponent
        while !dir.isEmpty && dir != "/" {
            var st = stat()
            if stat(dir, &st) == 0 {
                let m = st.st_mode
                let ok = st.st_uid == uid ? m & S_IXUSR != 0 : st.st_gid == gid ? m & S_IXGRP != 0 : m & S_IXOTH != 0
                if !ok { return dir }
            }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return nil
    }

    /// Gives the datadir and the run folder to `mysql` when we are root (mariadbd drops to it).
    public static func chownToMysql(_ paths: [String], runner: ProcessRunner) throws {
        guard geteuid() == 0 else { return }
        let r = try runner.run(Command(["chown", "-R", "mysql:mysql"] + paths), timeout: 3600)
        guard r.succeeded else { throw MBError(.failed, "chown of \(paths.map(q).joined(separator: ", ")) to mysql failed: \(r.failureSummary)") }
    }

    /// Starts mariadbd and waits until our account can log in (at most `timeout`).
    public func start(timeout: TimeInterval = 600, bufferPool: String = "256M", cancellation: CancellationFlag? = nil) throws {
        let password = (0..<4).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }.joined()
        try AtomicFile.write("""
            CREATE OR REPLACE USER '\(Self.user)'@'localhost' IDENTIFIED BY '\(password)';
            GRANT ALL PRIVILEGES ON *.* TO '\(Self.user)'@'localhost' WITH GRANT OPTION;

            """, to: initFile, mode: 0o600)
        try AtomicFile.write("[client]\nuser=\(Self.user)\npassword=\(password)\nsocket=\(socket)\n", to: defaultsFile, mode: 0o600)
        try Self.chownToMysql([runDir], runner: runner)
        var argv = ["mariadbd", "--no-defaults", "--datadir=\(datadir)", "--socket=\(socket)", "--pid-file=\(pidFile)",
                    "--log-error=\(errorLog)", "--skip-log-bin", "--skip-slave-start", "--server-id=1",
                    "--init-file=\(initFile)", "--innodb-buffer-pool-size=\(bufferPool)", "--max-allowed-packet=1G",
                    "--gtid-strict-mode=0", "--read-only=0"]
        if let port { argv += ["--port=\(port)", "--bind-address=127.0.0.1"] } else { argv += ["--skip-networking"] }
        if asRoot { argv.append("--user=mysql") }
        pid = try ProcessRunner.spawnDetached(Command(argv), logFile: "\(runDir)/mysqld.out")
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline && !(cancellation?.isCancelled ?? false) {
            if !ProcessRunner.isAlive(pid) {
                ProcessRunner.reap(pid)
                throw MBError(.failed, "mariadbd on the restored datadir \(q(datadir)) exited at start: \(errorTail())")
            }
            if let r = try? runner.run(Command(["mariadb-admin", "--defaults-extra-file=\(defaultsFile)", "--connect-timeout=2", "ping"]), timeout: 10) {
                if r.succeeded { unlink(initFile); return }
                last = r.stages[0].stderr
            }
            usleep(200_000)
        }
        stop()
        if cancellation?.isCancelled == true { throw MBError(.failed, "restore interrupted while mariadbd started") }
        throw MBError(.failed, "mariadbd on the restored datadir did not answer within \(Int(timeout)) s: \(last.trimmingCharacters(in: .whitespacesAndNewlines)); \(errorTail())")
    }

    /// The last lines of the error log, for messages.
    public func errorTail(_ n: Int = 5) -> String {
        let text = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").suffix(n).joined(separator: " | ")
        return lines.isEmpty ? "no error log at \(q(errorLog))" : "error log: \(lines)"
    }

    /// A client command for SQL on this server (the defaults file first, as the client requires).
    public func client(_ extra: [String] = []) -> Command {
        Command(["mariadb", "--defaults-extra-file=\(defaultsFile)", "--batch", "--skip-column-names"] + extra)
    }

    /// The client a restore pipes SQL into (a dump, mariadb-binlog's output): binary-safe, large packets.
    public func sqlStreamClient() -> Command { client(["--binary-mode", "--max-allowed-packet=1G"]) }

    /// Runs SQL, returns its tab-separated rows.
    public func query(_ sql: String, timeout: TimeInterval = 600) throws -> [[String]] {
        let r = try runner.run(client(["-e", sql]), timeout: timeout, outputLimit: 64 << 20)
        guard r.succeeded else { throw MBError(.failed, "query on the restored server failed: \(r.failureSummary)") }
        return r.stdoutString.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    /// Drops our account (when the server is left running for the DBA).
    public func dropAccount() {
        _ = try? runner.run(client(["-e", "DROP USER IF EXISTS '\(Self.user)'@'localhost'"]), timeout: 30)
        unlink(defaultsFile)
    }

    /// Stops the server (SIGTERM, then SIGKILL after `grace`) and waits for it.
    public func stop(grace: TimeInterval = 120) {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while ProcessRunner.isAlive(pid) && Date() < deadline { usleep(100_000) }
        if ProcessRunner.isAlive(pid) { kill(pid, SIGKILL); usleep(200_000) }
        ProcessRunner.reap(pid)
        pid = 0
    }
}
