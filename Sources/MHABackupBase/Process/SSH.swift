import FoundationEssentials
import Glibc
import Dispatch

/// A remote command for ssh: argv elements quoted by `ShellQuote`, joined only by the fixed
/// operators below. Values never become shell syntax on the other side.
public struct RemoteCommand: Sendable, Equatable, CustomStringConvertible {
    public private(set) var script: String

    public init(_ argv: [String]) { script = ShellQuote.join(argv) }
    private init(raw: String) { script = raw }

    /// `a | b | c`
    public static func pipeline(_ stages: [[String]]) -> RemoteCommand {
        RemoteCommand(raw: stages.map(ShellQuote.join).joined(separator: " | "))
    }

    /// `{ a; echo MHA_BACKUP_RC=$? >&2; } | b ...`: the first stage's exit status reaches us on
    /// stderr, since a POSIX shell reports only the last stage of a pipeline.
    public static func pipelineReportingFirst(_ stages: [[String]], marker: String = "MHA_BACKUP_RC") -> RemoteCommand {
        precondition(!stages.isEmpty)
        let first = "{ \(ShellQuote.join(stages[0])); echo \(marker)=$? >&2; }"
        return RemoteCommand(raw: ([first] + stages.dropFirst().map(ShellQuote.join)).joined(separator: " | "))
    }

    /// Like `pipelineReportingFirst`, and after the first stage each of `files` is printed on stderr
    /// behind a `@@MHA-BACKUP-FILE name` line, then `cleanup` runs: small files the tool wrote on
    /// the source come back in the same ssh session.
    public static func pipelineReportingFirst(_ stages: [[String]], thenFiles files: [(name: String, path: String)],
                                              cleanup: [String]?, marker: String = "MHA_BACKUP_RC") -> RemoteCommand {
        precondition(!stages.isEmpty)
        var first = "{ \(ShellQuote.join(stages[0])); echo \(marker)=$? >&2;"
        for f in files {
            first += " echo \(ShellQuote.join(["@@MHA-BACKUP-FILE", f.name])) >&2; cat \(ShellQuote.quote(f.path)) >&2;"
        }
        if let cleanup { first += " \(ShellQuote.join(cleanup));" }
        first += " }"
        return RemoteCommand(raw: ([first] + stages.dropFirst().map(ShellQuote.join)).joined(separator: " | "))
    }

    /// `a; b; c`: each runs whatever the one before returned (a probe that reads several files).
    public static func sequence(_ commands: [[String]]) -> RemoteCommand {
        RemoteCommand(raw: commands.map(ShellQuote.join).joined(separator: "; "))
    }

    /// `a && b`
    public static func and(_ a: RemoteCommand, _ b: RemoteCommand) -> RemoteCommand {
        RemoteCommand(raw: "\(a.script) && \(b.script)")
    }

    /// Reports the remote shell's pid (the process group of what follows) on stderr first, then
    /// runs the command in that shell, so an abort can signal the whole remote group.
    public func reportingPid(marker: String = "MHA_BACKUP_REMOTE_PID") -> RemoteCommand {
        RemoteCommand(raw: "echo \(marker)=$$ >&2; \(script)")
    }

    public var description: String { script }
}

/// Builds ssh invocations with a connect timeout, batch mode and the site's options.
public struct SSHTarget: Sendable, Equatable {
    public var user: String
    public var host: String
    public var port: Int
    public var options: [String]

    public init(user: String, host: String, port: Int, options: [String]) {
        self.user = user
        self.host = host
        self.port = port
        self.options = options
    }

    public init(server: MHAServer, config: BackupConfig) throws {
        try HostName.validate(server.sshHost, what: "ssh host of [\(server.block)]")
        try HostName.validateUser(server.sshUser, what: "ssh_user of [\(server.block)]")
        var opts = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=\(config.sshConnectTimeout)",
                    "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3"]
        if let id = config.sshIdentity { opts += ["-i", id] }
        if let kh = config.sshKnownHosts { opts += ["-o", "UserKnownHostsFile=\(kh)", "-o", "StrictHostKeyChecking=accept-new"] }
        if let mo = server.sshOptions {
            opts += mo.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
        opts += config.sshOptions
        self.init(user: server.sshUser, host: server.sshHost, port: server.sshPort, options: opts)
    }

    /// argv for `ssh ... user@host -- <remote script>`.
    public func argv(_ remote: RemoteCommand) -> [String] {
        ["ssh"] + options + ["-p", String(port), "-T", "\(user)@\(host)", "--", remote.script]
    }

    public func command(_ remote: RemoteCommand) -> Command { Command(argv(remote)) }
}

/// Host names and users from MHA or config: they name files and reach ssh, so only a
/// conservative alphabet passes, and nothing that starts with `-` or climbs with `..`.
public enum HostName {
    public static func isValid(_ s: String) -> Bool {
        guard !s.isEmpty, s.count <= 253, !s.hasPrefix("-"), !s.hasPrefix("."), !s.contains("..") else { return false }
        return s.unicodeScalars.allSatisfy { allowed.contains($0) }
    }

    public static func validate(_ s: String, what: String) throws {
        guard isValid(s) else {
            throw MBError(.usage, "\(what) \(q(s)) is not a valid host name or address")
        }
    }

    public static func validateUser(_ s: String, what: String) throws {
        guard !s.isEmpty, !s.hasPrefix("-"),
              s.unicodeScalars.allSatisfy({ userAllowed.contains($0) }) else {
            throw MBError(.usage, "\(what) \(q(s)) is not a valid user name")
        }
    }

    /// A folder name for a server inside the archive: never escapes its parent.
    public static func folderName(host: String, port: Int) throws -> String {
        try validate(host, what: "host")
        return "\(host.replacing(":", with: "_"))_\(port)"
    }

    private static let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:".unicodeScalars)
    private static let userAllowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_".unicodeScalars)
}
