import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

/// `--key value`, `--key=value` and bare `--flag` for the mha-backup CLI (hooks use MHA's own
/// parser). Each option is declared, so a typo is a usage error naming it; an option that names a
/// job, backup, failover or host is checked here, before a config is read or anything runs.
public struct Arguments {
    /// Options whose value becomes a path component or a remote argument, by kind.
    public static let names: [String: SafeName.Kind] = [
        "job-id": .id, "backup": .id, "failover": .id, "source": .host, "new-master": .host,
    ]

    public var positional: [String] = []
    public var options: [String: String] = [:]
    public var flags: Set<String> = []

    public init(_ argv: [String], valued: Set<String>, flags allowedFlags: Set<String>) throws {
        var i = 0
        while i < argv.count {
            let a = argv[i]
            if a == "--" {
                positional += argv[(i + 1)...]
                break
            }
            if a.hasPrefix("--") {
                let body = String(a.dropFirst(2))
                if let eq = body.firstIndex(of: "=") {
                    let k = String(body[..<eq])
                    guard valued.contains(k) else { throw MBError.usage("unknown option \(q("--" + k))") }
                    options[k] = String(body[body.index(after: eq)...])
                } else if valued.contains(body) {
                    guard i + 1 < argv.count else { throw MBError.usage("option \(q(a)) needs a value") }
                    options[body] = argv[i + 1]
                    i += 1
                } else if allowedFlags.contains(body) {
                    flags.insert(body)
                } else {
                    throw MBError.usage("unknown option \(q(a))")
                }
            } else {
                positional.append(a)
            }
            i += 1
        }
        for (k, v) in options.sorted(by: { $0.key < $1.key }) {
            if let kind = Self.names[k] { try SafeName.check(v, kind, what: "option \(q("--" + k))") }
        }
    }

    public func has(_ f: String) -> Bool { flags.contains(f) }
    public subscript(_ k: String) -> String? { options[k] }

    public func int(_ k: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let v = options[k] else { return nil }
        guard let n = Int(v), range.contains(n) else {
            throw MBError.usage("option '--\(k)' must be a whole number in \(range.lowerBound)...\(range.upperBound), got \(q(v))")
        }
        return n
    }
}
