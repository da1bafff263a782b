import FoundationEssentials

/// One remote tier: `[tier warm]` or `[tier cold]` of mha-backup.cnf. Every key besides
/// `path`, `after` and `keep` belongs to the rclone backend (`type = s3|sftp|…` and that
/// backend's own keys) and reaches rclone only through its environment, never its argv.
public struct TierSettings: Sendable, Equatable {
    /// `warm` or `cold`; the order is hot (`store_dir`) -> warm -> cold.
    public var name: String
    /// `bucket/folder` (s3) or `folder` (sftp) on the remote.
    public var path: String
    /// An item moves here once it is this old (seconds; 0 = at the next sync).
    public var after: TimeInterval
    /// How long the item is kept on this tier (retention reads it; the last tier's is the maximum age).
    public var keep: TimeInterval
    /// The rclone backend's keys, lowercase, `type` among them.
    public var backend: [String: String]

    public init(name: String, path: String, after: TimeInterval, keep: TimeInterval, backend: [String: String]) {
        self.name = name
        self.path = path
        self.after = after
        self.keep = keep
        self.backend = backend
    }

    /// The tier names, in order after hot.
    public static let order = ["warm", "cold"]
    public static let defaults: [String: (after: TimeInterval, keep: TimeInterval)] = [
        "warm": (7 * 86_400, 30 * 86_400), "cold": (30 * 86_400, 365 * 86_400),
    ]
    /// Our own keys; the rest of a `[tier NAME]` section is the backend's.
    public static let keys: Set<String> = ["path", "after", "keep"]
    /// Backends tested on real servers here; another rclone type is accepted but untested.
    public static let testedTypes: Set<String> = ["s3", "sftp"]

    /// The tiers of the config in order (warm before cold); none when no `[tier …]` section.
    public static func parse(_ ini: INIFile) throws -> [TierSettings] {
        var out: [TierSettings] = []
        let p = ini.path
        for s in ini.sections where s.name.hasPrefix("tier ") {
            let name = String(s.name.dropFirst(5)).trimmedBlanks()
            guard order.contains(name) else {
                throw MBError.config("\(p):\(s.line): unknown tier \(q(name)) in [\(s.name)]: the tiers are 'warm' and 'cold'")
            }
            guard !out.contains(where: { $0.name == name }) else {
                throw MBError.config("\(p):\(s.line): [tier \(name)] appears twice")
            }
            var backend: [String: String] = [:]
            for e in s.entries where !keys.contains(e.key) {
                guard !e.key.isEmpty, e.key.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" }) else {
                    throw MBError.config("\(p):\(e.line): key \(q(e.key)) in [\(s.name)] must be a lowercase rclone option name (letters, digits, '_')")
                }
                backend[e.key] = e.value
            }
            guard let type = backend["type"], !type.isEmpty else {
                throw MBError.config("\(p):\(s.line): [\(s.name)] needs 'type' (the rclone backend: s3, sftp, …)")
            }
            guard let path = s.value("path"), !path.isEmpty, !path.hasPrefix("/") || type == "sftp" || type == "local",
                  !path.split(separator: "/").contains("..") else {
                throw MBError.config("\(p):\(s.line): [\(s.name)] needs 'path' (bucket/folder for s3, a folder for sftp), without '..'")
            }
            let d = defaults[name]!
            func duration(_ key: String, _ def: TimeInterval) throws -> TimeInterval {
                guard let e = s.entry(key) else { return def }
                guard let v = parseDuration(e.value) else {
                    throw MBError.config("\(p):\(e.line): \(q(key)) in [\(s.name)] must be a duration like 7d, 12h, 30m or seconds, got \(q(e.value))")
                }
                return v
            }
            out.append(TierSettings(name: name, path: path.hasSuffix("/") ? String(path.dropLast()) : path,
                                    after: try duration("after", d.after), keep: try duration("keep", d.keep), backend: backend))
        }
        out.sort { order.firstIndex(of: $0.name)! < order.firstIndex(of: $1.name)! }
        for (a, b) in zip(out, out.dropFirst()) where b.after < a.after {
            throw MBError.config("\(p): [tier \(b.name)] 'after' must not be shorter than [tier \(a.name)]'s")
        }
        return out
    }

    /// `7d`, `12h`, `30m`, `45s` or a bare number of seconds.
    public static func parseDuration(_ s: String) -> TimeInterval? {
        guard let last = s.last else { return nil }
        let unit: Double
        var digits = Substring(s)
        switch last {
        case "d": unit = 86_400; digits = digits.dropLast()
        case "h": unit = 3_600; digits = digits.dropLast()
        case "m": unit = 60; digits = digits.dropLast()
        case "s": unit = 1; digits = digits.dropLast()
        default: unit = 1
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber), let n = Int(digits), n <= 100 * 365 * 86_400 else { return nil }
        return Double(n) * unit
    }

    /// rclone's name for this remote (`WARM`): the environment variables are `RCLONE_CONFIG_WARM_…`.
    public var remoteName: String { name.uppercased() }

    /// The whole environment rclone runs with: nothing inherited (an inherited `AWS_CA_BUNDLE`
    /// breaks every S3 call of rclone 1.60), the config file off, this remote from the section.
    public func rcloneEnvironment(home: String, path: String = "/usr/sbin:/usr/bin:/sbin:/bin") -> [String: String] {
        var env = ["PATH": path, "HOME": home, "RCLONE_CONFIG": "/dev/null", "LC_ALL": "C"]
        for (k, v) in backend { env["RCLONE_CONFIG_\(remoteName)_\(k.uppercased())"] = v }
        return env
    }

    /// `WARM:path/rel` as rclone's argv names a remote object (no secret in it).
    public func remote(_ rel: String) -> String { rel.isEmpty ? "\(name):\(path)" : "\(name):\(path)/\(rel)" }
}
