import Foundation
import MHABackupBase

/// What retention keeps: the `[retention]` settings plus an optional maximum age (the last
/// storage tier's keep), which overrides the age rules but never the chain rules.
public struct RetentionPolicy: Sendable, Equatable {
    public var fullDaily: Int
    public var fullWeekly: Int
    public var fullMonthly: Int
    public var incrementalKeep: TimeInterval
    public var binlogKeep: TimeInterval
    public var maxAge: MaxAge?

    /// Nothing older than `seconds` stays for the age rules (GFS, incremental and binlog days);
    /// the reason names the tier: "older than cold keep 365d".
    public struct MaxAge: Sendable, Equatable {
        public var tier: String
        public var seconds: TimeInterval
        public init(tier: String, seconds: TimeInterval) {
            self.tier = tier
            self.seconds = seconds
        }
    }

    public init(_ s: RetentionSettings, maxAge: MaxAge? = nil) {
        fullDaily = s.fullDaily
        fullWeekly = s.fullWeekly
        fullMonthly = s.fullMonthly
        incrementalKeep = s.incrementalKeep
        binlogKeep = s.binlogKeep
        self.maxAge = maxAge
    }

    public init(fullDaily: Int = 7, fullWeekly: Int = 4, fullMonthly: Int = 12, incrementalKeep: TimeInterval = 7 * 86_400,
                binlogKeep: TimeInterval = 7 * 86_400, maxAge: MaxAge? = nil) {
        self.fullDaily = fullDaily
        self.fullWeekly = fullWeekly
        self.fullMonthly = fullMonthly
        self.incrementalKeep = incrementalKeep
        self.binlogKeep = binlogKeep
        self.maxAge = maxAge
    }
}

public enum RetentionAction: String, Codable, Sendable { case keep, delete }
public enum RetentionItemKind: String, Codable, Sendable { case backup, binlog }

/// One backup or one archived binlog, what retention does with it and why.
public struct RetentionItem: Codable, Sendable, Equatable {
    public var kind: RetentionItemKind
    /// The backup id, or the binlog's file name.
    public var id: String
    /// A backup's source, or the server whose archive holds the binlog.
    public var host: String
    public var port: Int
    /// The binlog archive's folder name under `binlogs/` (binlogs only).
    public var folder: String?
    /// `full` or `incremental` (backups only).
    public var type: String?
    /// The backup's catalog status (backups only).
    public var status: String?
    /// A backup's consistent point, a binlog's archive time: what retention orders by.
    public var time: Date
    public var bytes: Int64
    public var action: RetentionAction
    /// Every rule that keeps it, or the one that lets it go.
    public var reasons: [String]
}

/// The whole plan, every item with its reason; `--json` prints it as is.
public struct RetentionPlan: Codable, Sendable {
    public struct Summary: Codable, Sendable, Equatable {
        public var backupsKept = 0
        public var backupsDeleted = 0
        public var binlogsKept = 0
        public var binlogsDeleted = 0
        public var bytesDeleted: Int64 = 0
    }
    public struct PolicyView: Codable, Sendable, Equatable {
        public var fullDaily: Int
        public var fullWeekly: Int
        public var fullMonthly: Int
        public var incrementalDays: String
        public var binlogDays: String
        public var maxAge: String?
    }

    public var now: Date
    public var policy: PolicyView
    /// The backup the point-in-time window starts from (its binlogs onwards are kept).
    public var pitrFrom: String?
    public var backups: [RetentionItem]
    public var binlogs: [RetentionItem]
    public var notes: [String]
    public var summary: Summary

    public var deletions: [RetentionItem] { backups.filter { $0.action == .delete } + binlogs.filter { $0.action == .delete } }
    public var nothingToDelete: Bool { summary.backupsDeleted == 0 && summary.binlogsDeleted == 0 }
}

/// UTC calendar keys for the GFS buckets, from days since 1970 (no Calendar, no time zone: DST
/// cannot move a backup into another day).
public enum UTCPeriod {
    /// (year, month, day) of a day number (Howard Hinnant's civil_from_days).
    static func civil(_ days: Int) -> (y: Int, m: Int, d: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func days(_ d: Date) -> Int { Int((d.timeIntervalSince1970 / 86_400).rounded(.down)) }

    static func daysFromCivil(_ y: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// `2026-11-28`
    public static func day(_ d: Date) -> String {
        let c = civil(days(d))
        return "\(padded(c.y, width: 4))-\(padded(c.m, width: 2))-\(padded(c.d, width: 2))"
    }

    /// `2026-10`
    public static func month(_ d: Date) -> String {
        let c = civil(days(d))
        return "\(padded(c.y, width: 4))-\(padded(c.m, width: 2))"
    }

    /// ISO 8601 week: `2026-W48` (weeks start on Monday; week 1 holds the year's first Thursday).
    public static func week(_ d: Date) -> String {
        let n = days(d)
        let weekday = ((n + 3) % 7 + 7) % 7  // Monday 0: 1970-01-01 was a Thursday
        let thursday = n - weekday + 3
        let y = civil(thursday).y
        let week = (thursday - daysFromCivil(y, 1, 1)) / 7 + 1
        return "\(padded(y, width: 4))-W\(padded(week, width: 2))"
    }
}
