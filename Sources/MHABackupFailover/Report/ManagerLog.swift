import FoundationEssentials
import Glibc
import MHABackupBase

/// MHA's manager log (`manager_log` of the app.cnf), read for the incident report: lines of the
/// form `Tue Dec  1 21:19:47 2026 - [info] message`, in the manager's local time; lines without a
/// stamp (a command's own output) take the time of the stamped line before them.
public struct ManagerLogLine: Sendable, Equatable {
    public var time: Date
    public var level: String
    public var message: String
    public var stamped: Bool
}

public enum ManagerLog {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Tue Dec  1 21:19:47 2026` in `timeZone` (MHA writes local time without a zone).
    static func parseStamp(_ s: Substring, timeZone: TimeZone) -> Date? {
        let f = s.split(separator: " ", omittingEmptySubsequences: true)
        guard f.count == 5, let mon = months.firstIndex(of: String(f[1])), let day = Int32(f[2]), let year = Int32(f[4]) else { return nil }
        let hms = f[3].split(separator: ":").compactMap { Int32($0) }
        guard hms.count == 3 else { return nil }
        var t = tm()
        t.tm_year = year - 1900
        t.tm_mon = Int32(mon)
        t.tm_mday = day
        t.tm_hour = hms[0]
        t.tm_min = hms[1]
        t.tm_sec = hms[2]
        let asUTC = Date(timeIntervalSince1970: TimeInterval(timegm(&t)))
        return asUTC.addingTimeInterval(-TimeInterval(timeZone.secondsFromGMT(for: asUTC)))
    }

    public static func parse(_ text: String, timeZone: TimeZone) -> [ManagerLogLine] {
        var out: [ManagerLogLine] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            // "Www Mmm dd HH:MM:SS YYYY - [level] message"
            if raw.count > 30, let dash = raw.firstRange(of: " - ["), raw.distance(from: raw.startIndex, to: dash.lowerBound) == 24,
               let time = parseStamp(raw[raw.startIndex..<dash.lowerBound], timeZone: timeZone),
               let close = raw[dash.upperBound...].firstIndex(of: "]") {
                let level = String(raw[dash.upperBound..<close])
                let msg = raw[raw.index(after: close)...].trimmedBlanks()
                out.append(ManagerLogLine(time: time, level: level, message: msg, stamped: true))
            } else if let last = out.last {
                out.append(ManagerLogLine(time: last.time, level: "output", message: raw.trimmedBlanks(), stamped: false))
            }
        }
        return out
    }
}
