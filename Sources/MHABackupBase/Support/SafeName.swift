import FoundationEssentials
import Glibc
import Dispatch

/// Names that become a path component or reach a remote command line (job, backup and failover
/// ids; host names): one rule per kind, so a value is never climbing (`..`), a path (`/`), an
/// option (`-x`), or invisible (NUL, newline, spaces, look-alike Unicode).
public enum SafeName {
    public enum Kind: Sendable {
        /// Job, backup, failover and catalog ids, and file names inside a backup folder:
        /// ASCII letters, digits, `.`, `_`, `-`; starts with a letter or digit; no `..`.
        case id
        /// A host name or address from MHA or the command line (`HostName`'s rule).
        case host
    }

    /// Longest id: a file name with our suffixes (`.json.tmp.PID.N`) stays far below NAME_MAX.
    public static let maxLength = 100

    public static func isValid(_ s: String, _ kind: Kind) -> Bool {
        switch kind {
        case .host:
            return HostName.isValid(s)
        case .id:
            guard let first = s.unicodeScalars.first, s.unicodeScalars.count <= maxLength, !s.contains("..") else { return false }
            return alnum.contains(first) && s.unicodeScalars.allSatisfy { idAllowed.contains($0) }
        }
    }

    /// Throws a usage error (exit 64) in one line: `what` names the option or the argument.
    public static func check(_ s: String, _ kind: Kind, what: String) throws {
        guard !isValid(s, kind) else { return }
        switch kind {
        case .id:
            throw MBError.usage("\(what) must be letters, digits, '.', '_' or '-' (starting with a letter or digit, no '..', at most \(maxLength)), got \(shown(s))")
        case .host:
            throw MBError.usage("\(what) must be a host name or address (letters, digits, '.', '-', '_', ':', not starting with '-' or '.'), got \(shown(s))")
        }
    }

    /// An absolute path for the far side of ssh (`remote_tmpdir`): no `..` component, no control
    /// character, no component that starts with `-`.
    public static func isValidRemotePath(_ s: String) -> Bool {
        guard s.hasPrefix("/"), s.count <= 1024 else { return false }
        guard !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return false }
        return !s.split(separator: "/").contains { $0 == ".." || $0.hasPrefix("-") }
    }

    /// A value as a message shows it: quoted, control characters escaped, long values shortened,
    /// so the message stays one line.
    public static func shown(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars.prefix(60) {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\0": out += "\\0"
            case "\\": out += "\\\\"
            default:
                if u.value < 0x20 || u.value == 0x7F || (0x80..<0xA0).contains(u.value) || u.properties.generalCategory == .format
                    || u.properties.generalCategory == .lineSeparator || u.properties.generalCategory == .paragraphSeparator {
                    out += "\\u{\(String(u.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        let n = s.unicodeScalars.count
        return q(out) + (n > 60 ? "…(\(n) characters)" : "")
    }

    private static let alnum = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".unicodeScalars)
    private static let idAllowed = alnum.union("._-".unicodeScalars)
}
