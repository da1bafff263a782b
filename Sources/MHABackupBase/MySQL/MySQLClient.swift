import FoundationEssentials
import Glibc
import Dispatch

/// Runs SQL through the `mariadb` (or `mysql`) client with `--defaults-extra-file` (0600): no
/// password ever reaches argv. Every call is bounded by the connect timeout and a run timeout.
public struct MySQLClient: Sendable {
    public var host: String
    public var port: Int
    public var credentials: String
    public var connectTimeout: Int
    public var timeout: TimeInterval
    public var runner: ProcessRunner

    public init(host: String, port: Int, credentials: String, connectTimeout: Int = 5,
                timeout: TimeInterval = 10, runner: ProcessRunner = ProcessRunner()) {
        self.host = host
        self.port = port
        self.credentials = credentials
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.runner = runner
    }

    public init(server: MHAServer, config: BackupConfig) {
        self.init(host: server.address, port: server.port, credentials: config.credentials,
                  connectTimeout: min(config.sshConnectTimeout, Int(config.clientTimeout)), timeout: config.clientTimeout)
    }

    public static var clientProgram: String {
        ProcessRunner.which("mariadb") != nil ? "mariadb" : "mysql"
    }

    /// The client's argv up to the connection options (for callers that add their own).
    public var connectionArgs: [String] {
        ["--defaults-extra-file=\(credentials)", "--protocol=TCP", "--host=\(host)", "--port=\(port)",
         "--connect-timeout=\(connectTimeout)"]
    }

    public var endpoint: String { "\(host):\(port)" }

    /// Runs statements and returns the rows of the last result set.
    public func query(_ sql: String) throws -> [Row] {
        let out = try execute(sql, extra: ["--batch"])
        return ResultText.parseBatch(out)
    }

    /// Runs statements, returns raw stdout; a failing client is an error naming the server.
    @discardableResult
    public func execute(_ sql: String, extra: [String] = []) throws -> String {
        // SQL goes on stdin, not argv: argv is visible in /proc to every user.
        let cmd = Command([Self.clientProgram] + connectionArgs + extra)
        let r = try runner.run(cmd, timeout: timeout, stdin: .data(Data(sql.utf8)))
        guard r.succeeded else {
            let err = r.stages.first?.stderr.trimmed() ?? ""
            let code: ExitCode = err.contains("Can't connect") || err.contains("Lost connection") || r.timedOut ? .unavailable : .failed
            throw MBError(code, "mysql \(endpoint): \(r.timedOut ? "timed out after \(Int(timeout)) s" : err.split(separator: "\n").last.map(String.init) ?? r.failureSummary)")
        }
        return r.stdoutString
    }

    public func scalar(_ sql: String) throws -> String? {
        let rows = try query(sql)
        return rows.first?.values.first ?? nil
    }
}
