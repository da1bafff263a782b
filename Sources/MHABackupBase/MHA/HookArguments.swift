import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// The four MHA settings we serve.
public enum HookKind: String, Sendable, Codable, CaseIterable {
    case masterIPFailover = "master_ip_failover"
    case shutdown = "shutdown_script"
    case report = "report_script"
    case masterIPOnlineChange = "master_ip_online_change"
}

public enum HookCommand: String, Sendable, Codable {
    case status, stop, stopssh, start
}

/// One server as MHA names it in a hook's argv.
public struct HookServer: Sendable, Codable, Equatable {
    public var host: String
    public var ip: String?
    public var port: Int?
    public var sshHost: String?
    public var sshIP: String?
    /// Only passed when not 22.
    public var sshPort: Int?
    public var user: String?
    public var sshUser: String?

    public init(host: String, ip: String? = nil, port: Int? = nil, sshHost: String? = nil, sshIP: String? = nil,
                sshPort: Int? = nil, user: String? = nil, sshUser: String? = nil) {
        self.host = host
        self.ip = ip
        self.port = port
        self.sshHost = sshHost
        self.sshIP = sshIP
        self.sshPort = sshPort
        self.user = user
        self.sshUser = sshUser
    }

    /// The address to connect to: ip when MHA gave one (host may be a name).
    public var address: String { ip ?? host }
}

/// MHA's argv parsed by name, in any order: `--key=value`, bare `--flag`, empty values, values
/// with spaces and newlines (one argv element each). Unknown options are kept and logged.
public struct HookArguments: Sendable {
    public var kind: HookKind
    public var raw: [String]
    public var values: [String: String] = [:]
    public var flags: Set<String> = []
    public var unknown: [String] = []
    public var positional: [String] = []

    public static let known: [HookKind: Set<String>] = [
        .masterIPFailover: ["command", "ssh_user", "orig_master_host", "orig_master_ip", "orig_master_port",
                            "orig_master_ssh_host", "orig_master_ssh_ip", "orig_master_ssh_port",
                            "new_master_host", "new_master_ip", "new_master_port", "new_master_user",
                            "new_master_password", "new_master_ssh_host", "new_master_ssh_ip", "new_master_ssh_port",
                            "orig_master_user", "orig_master_password", "ssh_options", "dry-run", "dry_run"],
        .shutdown: ["command", "ssh_user", "host", "ip", "port", "pid_file", "ssh_host", "ssh_ip", "ssh_port",
                    "ssh_options", "dry-run", "dry_run"],
        .report: ["orig_master_host", "new_master_host", "new_slave_hosts", "conf", "subject", "body", "dry-run", "dry_run"],
        .masterIPOnlineChange: ["command", "orig_master_host", "orig_master_ip", "orig_master_port", "orig_master_user",
                                "orig_master_password", "new_master_host", "new_master_ip", "new_master_port",
                                "new_master_user", "new_master_password", "orig_master_ssh_user", "new_master_ssh_user",
                                "orig_master_ssh_host", "orig_master_ssh_ip", "orig_master_ssh_port",
                                "new_master_ssh_host", "new_master_ssh_ip", "new_master_ssh_port",
                                "ssh_options", "orig_master_is_new_slave", "ssh_user", "dry-run", "dry_run"],
    ]

    public init(kind: HookKind, argv: [String]) {
        self.kind = kind
        raw = argv
        let known = (Self.known[kind] ?? []).union(["chain", "config"])
        var i = 0
        while i < argv.count {
            let a = argv[i]
            i += 1
            guard let (key, value) = Self.option(a) else {
                positional.append(a)
                continue
            }
            if let value {
                values[key] = value
            } else if Redaction.isSecretKey(key), i < argv.count, Self.option(argv[i]) == nil {
                // `--password VALUE` (Getopt::Long's other spelling): the value is a secret, not a
                // stray argument to be echoed into MHA's log.
                values[key] = argv[i]
                i += 1
            } else {
                flags.insert(key)
            }
            if !known.contains(key) { unknown.append(key) }
        }
    }

    /// `--key=value` or `--flag`, split at the first `=` code point as MHA (bytes) means it: a value
    /// that starts with a combining mark must not hide its `=` inside one Character.
    static func option(_ a: String) -> (key: String, value: String?)? {
        let u = a.unicodeScalars
        guard u.starts(with: "--".unicodeScalars), u.count > 2 else { return nil }
        let body = u.dropFirst(2)
        guard let eq = body.firstIndex(of: "=") else { return (String(body), nil) }
        return (String(body[..<eq]), String(body[body.index(after: eq)...]))
    }

    public subscript(_ k: String) -> String? { values[k] }
    public func has(_ flag: String) -> Bool { flags.contains(flag) || values[flag] != nil }

    public var dryRun: Bool { has("dry-run") || has("dry_run") }

    public var command: HookCommand? { values["command"].flatMap(HookCommand.init(rawValue:)) }

    func int(_ k: String) -> Int? { values[k].flatMap { Int($0) } }

    /// `--orig_master_*` (failover, online change) or `--host/--ip/--port` (shutdown_script).
    public var origMaster: HookServer? {
        if kind == .shutdown {
            guard let h = values["host"], !h.isEmpty else { return nil }
            return HookServer(host: h, ip: values["ip"], port: int("port"), sshHost: values["ssh_host"],
                              sshIP: values["ssh_ip"], sshPort: int("ssh_port"), user: nil, sshUser: values["ssh_user"])
        }
        guard let h = values["orig_master_host"], !h.isEmpty else { return nil }
        return HookServer(host: h, ip: values["orig_master_ip"], port: int("orig_master_port"),
                          sshHost: values["orig_master_ssh_host"], sshIP: values["orig_master_ssh_ip"],
                          sshPort: int("orig_master_ssh_port"), user: values["orig_master_user"],
                          sshUser: values["orig_master_ssh_user"] ?? values["ssh_user"])
    }

    public var newMaster: HookServer? {
        guard let h = values["new_master_host"], !h.isEmpty else { return nil }
        return HookServer(host: h, ip: values["new_master_ip"], port: int("new_master_port"),
                          sshHost: values["new_master_ssh_host"], sshIP: values["new_master_ssh_ip"],
                          sshPort: int("new_master_ssh_port"), user: values["new_master_user"],
                          sshUser: values["new_master_ssh_user"] ?? values["ssh_user"])
    }

    /// report_script: comma separated, possibly empty (`--new_slave_hosts=`).
    public var newSlaveHosts: [String] {
        (values["new_slave_hosts"] ?? "").split(separator: ",").map { $0.trimmedBlanks() }.filter { !$0.isEmpty }
    }

    /// The argv with every password value replaced: safe for logs and the audit trail.
    public var redacted: [String] { Redaction.redact(raw) }
}

/// Removes secrets from argv-like lists and free text.
public enum Redaction {
    public static let mask = "xxx"

    public static func isSecretKey(_ k: String) -> Bool {
        let l = k.lowercased()
        return l.contains("password") || l.contains("passwd") || l == "pass" || l.hasSuffix("_pass") || l.contains("secret")
    }

    public static func redact(_ argv: [String]) -> [String] {
        var out: [String] = []
        var maskNext = false
        for a in argv {
            if maskNext { out.append(mask); maskNext = false; continue }
            // By code point, as HookArguments splits: `=` followed by a combining mark is still `=`.
            let u = a.unicodeScalars
            if u.first == "-" {
                let body = u.drop(while: { $0 == "-" })
                if let eq = body.firstIndex(of: "=") {
                    if isSecretKey(String(body[..<eq])) {
                        out.append(String(u[..<u.index(after: eq)]) + mask)
                        continue
                    }
                } else if isSecretKey(String(body)) {
                    out.append(a)
                    maskNext = true
                    continue
                }
            }
            out.append(a)
        }
        return out
    }

    /// Masks `password=...`-like fragments and the given secret values inside a text: what the
    /// regular expression `((?:password|passwd)[A-Za-z_]*\s*[=:]\s*)('[^']*'|"[^"]*"|\S+)`
    /// (case-insensitive) replaced by `$1xxx` would give, by a hand scan: a hook on MHA's path
    /// redacts every line it prints and audits, and building the Regex cost milliseconds there.
    public static func redact(text: String, secrets: [String] = []) -> String {
        var s = text
        for v in secrets where v.count >= 3 { s = s.replacing(v, with: mask) }
        guard s.lowercased().contains("passw") else { return s }
        return maskPasswordValues(s)
    }

    static func maskPasswordValues(_ s: String) -> String {
        let b = Array(s.utf8)
        let n = b.count
        func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }
        func isSpace(_ c: UInt8) -> Bool { c == 32 || (c >= 9 && c <= 13) }
        func isWordish(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
        func has(_ word: String, at i: Int) -> Bool {
            let w = Array(word.utf8)
            guard i + w.count <= n else { return false }
            for k in 0..<w.count where lower(b[i + k]) != w[k] { return false }
            return true
        }
        /// The end of `key[A-Za-z_]*\s*[=:]\s*` at i, or nil.
        func keyEnd(_ i: Int) -> Int? {
            for key in ["password", "passwd"] where has(key, at: i) {
                var j = i + key.utf8.count
                while j < n, isWordish(b[j]) { j += 1 }
                while j < n, isSpace(b[j]) { j += 1 }
                guard j < n, b[j] == 61 || b[j] == 58 else { continue }
                j += 1
                while j < n, isSpace(b[j]) { j += 1 }
                return j
            }
            return nil
        }
        /// The end of `'[^']*'|"[^"]*"|\S+` at j, or nil.
        func valueEnd(_ j: Int) -> Int? {
            guard j < n else { return nil }
            if b[j] == 39 || b[j] == 34, let close = b[(j + 1)...].firstIndex(of: b[j]) { return close + 1 }
            var k = j
            while k < n, !isSpace(b[k]) { k += 1 }
            return k > j ? k : nil
        }
        var out: [UInt8] = []
        out.reserveCapacity(n)
        var i = 0
        while i < n {
            if lower(b[i]) == 112, let k = keyEnd(i), let v = valueEnd(k) {
                out += b[i..<k]
                out += Array(mask.utf8)
                i = v
                continue
            }
            out.append(b[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
