import FoundationEssentials

/// `[retention]` of mha-backup.cnf: what `mha-backup retention` keeps. Fulls are kept
/// grandfather-father-son (one per day, ISO week and month, the newest of each, counted over the
/// periods that have a backup); incrementals and archived binlogs by age; the chain and
/// point-in-time rules come on top (Core/Retention/RetentionPlanner.swift).
public struct RetentionSettings: Sendable, Equatable {
    public var fullDaily = 7
    public var fullWeekly = 4
    public var fullMonthly = 12
    /// Incrementals younger than this are kept (seconds).
    public var incrementalKeep: TimeInterval = 7 * 86_400
    /// Archived binlogs younger than this are kept; it is also the point-in-time window (seconds).
    public var binlogKeep: TimeInterval = 7 * 86_400

    public init() {}

    public static let keys: Set<String> = ["full_daily", "full_weekly", "full_monthly", "incremental_days", "binlog_days"]

    public static func parse(_ ini: INIFile) throws -> RetentionSettings {
        var r = RetentionSettings()
        guard let s = ini.section("retention") else { return r }
        let p = ini.path
        func count(_ key: String) throws -> Int? {
            guard let e = s.entry(key) else { return nil }
            guard let n = Int(e.value), (0...10_000).contains(n) else {
                throw MBError.config("\(p):\(e.line): \(q(key)) must be a whole number in 0...10000, got \(q(e.value))")
            }
            return n
        }
        func duration(_ key: String) throws -> TimeInterval? {
            guard let e = s.entry(key) else { return nil }
            guard let d = Self.duration(e.value), d >= 1, d <= 100 * 365 * 86_400 else {
                throw MBError.config("\(p):\(e.line): \(q(key)) must be days (e.g. '7' or '7d') or a duration with h, m or s (e.g. '36h'), got \(q(e.value))")
            }
            return d
        }
        if let n = try count("full_daily") { r.fullDaily = n }
        if let n = try count("full_weekly") { r.fullWeekly = n }
        if let n = try count("full_monthly") { r.fullMonthly = n }
        if let d = try duration("incremental_days") { r.incrementalKeep = d }
        if let d = try duration("binlog_days") { r.binlogKeep = d }
        return r
    }

    /// `7` and `7d` are days, `36h` hours, `90m` minutes, `45s` seconds; nil for anything else.
    public static func duration(_ text: String) -> TimeInterval? {
        var t = Substring(text.trimmedBlanks())
        var unit: TimeInterval = 86_400
        switch t.last {
        case "d": unit = 86_400; t = t.dropLast()
        case "h": unit = 3_600; t = t.dropLast()
        case "m": unit = 60; t = t.dropLast()
        case "s": unit = 1; t = t.dropLast()
        default: break
        }
        guard !t.isEmpty, t.allSatisfy(\.isASCII), t.allSatisfy(\.isNumber), let n = Int(t), n <= 10_000_000 else { return nil }
        return TimeInterval(n) * unit
    }

    /// `7d`, `36h`, `90m`: the shortest exact form, as plans and reasons print it.
    public static func format(_ seconds: TimeInterval) -> String {
        let s = Int(seconds)
        if s % 86_400 == 0 { return "\(s / 86_400)d" }
        if s % 3_600 == 0 { return "\(s / 3_600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
