import FoundationEssentials
import Glibc
import Dispatch

/// Every exit code mha-backup uses, in one table (INSTALL.md repeats it).
/// MHA's own contract for hooks: 0 ok, 10 "failed but proceed", anything else aborts.
public enum ExitCode: Int32, Sendable, CaseIterable {
    case ok = 0
    /// An external tool or a step failed (backup, archive, ssh, client).
    case failed = 1
    /// `check`: it ran, and found problems it lists.
    case checkProblems = 2
    /// MHA's "failed, but proceed with the failover".
    case proceed = 10
    /// Bad command line (sysexits EX_USAGE).
    case usage = 64
    /// Corrupt or unparsable data: a manifest, a checksum mismatch, a tool output we cannot read.
    case dataError = 65
    /// A file or backup that was named does not exist.
    case noInput = 66
    /// A server or host could not be reached.
    case unavailable = 69
    /// A bug in mha-backup.
    case software = 70
    /// Could not write output (store, state folder).
    case cantCreate = 73
    /// A failover fence is up; backups refuse to start.
    case fenced = 75
    /// Busy: `max_parallel` reached or the source already has a backup running.
    case busy = 76
    /// A config or credentials file is readable by group or others.
    case insecureFile = 77
    /// Missing or malformed configuration.
    case config = 78

    public var meaning: String {
        switch self {
        case .ok: return "success"
        case .failed: return "a step or external tool failed"
        case .checkProblems: return "check ran and found problems"
        case .proceed: return "MHA: failed, but proceed with the failover"
        case .usage: return "bad command line"
        case .dataError: return "corrupt or unreadable data"
        case .noInput: return "named file or backup does not exist"
        case .unavailable: return "server or host unreachable"
        case .software: return "internal error"
        case .cantCreate: return "cannot write output"
        case .fenced: return "failover fence is up"
        case .busy: return "max_parallel reached or source busy"
        case .insecureFile: return "config or credentials readable by others"
        case .config: return "missing or malformed configuration"
        }
    }
}

/// The one error type. Messages are lowercase, values quoted, and say what to do next.
public struct MBError: Error, CustomStringConvertible, Sendable, Equatable {
    public var code: ExitCode
    public var message: String
    public var hint: String?

    public init(_ code: ExitCode, _ message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }

    public var description: String {
        if let hint { return "\(message)\nHINT: \(hint)" }
        return message
    }

    public static func usage(_ m: String, hint: String? = nil) -> MBError { MBError(.usage, m, hint: hint) }
    public static func config(_ m: String, hint: String? = nil) -> MBError { MBError(.config, m, hint: hint) }
    public static func failed(_ m: String, hint: String? = nil) -> MBError { MBError(.failed, m, hint: hint) }
}

/// Quotes a value for a message: `'value'`.
@inline(__always) public func q(_ s: String) -> String { "'\(s)'" }
