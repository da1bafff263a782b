import Foundation
import MHABackupBase
import MHABackupFailover

/// What is sent for one alert: the webhook's JSON body and curl config, the mail message.
/// Pure functions of the alert and the settings (unit-tested).
public enum AlertMessage {
    /// The webhook's JSON body (snake_case keys; `failover_id` and `host` null when unknown).
    public struct Payload: Codable, Sendable, Equatable {
        public var id: String
        public var time: Date
        public var severity: String
        public var kind: String
        public var summary: String
        public var details: String
        public var cluster: String
        public var failover_id: String?
        public var host: String?

        /// Every key always present: an unknown failover id or host is `null`, not missing.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(time, forKey: .time)
            try c.encode(severity, forKey: .severity)
            try c.encode(kind, forKey: .kind)
            try c.encode(summary, forKey: .summary)
            try c.encode(details, forKey: .details)
            try c.encode(cluster, forKey: .cluster)
            try c.encode(failover_id, forKey: .failover_id)
            try c.encode(host, forKey: .host)
        }
    }

    public static func payload(_ a: Alerts.Line, cluster: String) -> Payload {
        Payload(id: a.id ?? "", time: a.time, severity: a.severity, kind: a.kind ?? AlertKind.manual.rawValue,
                summary: a.summary, details: a.details, cluster: a.cluster ?? cluster, failover_id: a.failoverId, host: a.host)
    }

    /// A quoted string of a curl config file (`curl -K`): backslash and double quote escaped,
    /// line breaks written as `\n` (curl's config syntax), never raw.
    static func curlQuoted(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }

    /// The curl config read from stdin (`curl -K -`): the URL, the headers and the body never reach argv.
    public static func curlConfig(url: String, headers: [String], body: Data, timeout: TimeInterval) -> String {
        var lines = [
            "url = \(curlQuoted(url))",
            "proto = \"=http,https\"",
            "request = \"POST\"",
            "header = \"Content-Type: application/json\"",
            "header = \"User-Agent: mha-backup\"",
        ]
        for h in headers { lines.append("header = \(curlQuoted(h))") }
        lines += [
            "data-binary = \(curlQuoted(String(decoding: body, as: UTF8.self)))",
            "silent", "show-error", "fail",
            "max-time = \(Int(timeout))",
            "connect-timeout = \(max(1, min(Int(timeout), 5)))",
            "output = \"/dev/null\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// `Name: value` lines of a headers file; blank and `#` lines skipped. Throws on a line without a colon.
    public static func parseHeaders(_ text: String) throws -> [String] {
        var out: [String] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let l = raw.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            if l.isEmpty || l.hasPrefix("#") { continue }
            guard let c = l.firstIndex(of: ":"), c != l.startIndex else {
                throw MBError(.config, "headers file line \(i + 1) is not 'Name: value'")
            }
            out.append(l)
        }
        return out
    }

    /// One line, printable: header values never carry a line break (no header injection).
    static func oneLine(_ s: String, limit: Int = 200) -> String {
        let flat = String(s.map { $0.isNewline || $0 == "\t" ? " " : $0 })
        return flat.count > limit ? String(flat.prefix(limit - 1)) + "…" : flat
    }

    /// A header value: ASCII as is, else RFC 2047 base64 UTF-8.
    static func encodedWord(_ s: String) -> String {
        if s.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 }) { return s }
        return "=?utf-8?b?\(Data(s.utf8).base64EncodedString())?="
    }

    /// RFC 5322 date, in UTC (`Tue, 01 Dec 2026 10:15:00 +0000`), without DateFormatter.
    static func mailDate(_ d: Date) -> String {
        var t = time_t(d.timeIntervalSince1970.rounded(.down))
        var tmv = tm()
        gmtime_r(&t, &tmv)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(days[Int(tmv.tm_wday)]), \(padded(tmv.tm_mday, width: 2)) \(months[Int(tmv.tm_mon)]) \(tmv.tm_year + 1900) "
            + "\(padded(tmv.tm_hour, width: 2)):\(padded(tmv.tm_min, width: 2)):\(padded(tmv.tm_sec, width: 2)) +0000"
    }

    /// The message given to `sendmail -t -i` on stdin (CRLF is the MTA's business: LF here).
    public static func mail(_ a: Alerts.Line, to: [String], from: String, cluster: String, hostname: String) -> String {
        let sev = a.severity.uppercased()
        let cl = a.cluster ?? cluster
        var h = [
            "From: \(from)",
            "To: \(to.joined(separator: ", "))",
            "Subject: \(encodedWord(oneLine("[mha-backup] \(sev) \(cl): \(a.summary)")))",
            "Date: \(mailDate(a.time))",
            "Message-ID: <\(a.id ?? "alert")@\(oneLine(hostname, limit: 100).filter { $0 != " " })>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "X-MHA-Backup-Kind: \(a.kind ?? AlertKind.manual.rawValue)",
            "X-MHA-Backup-Severity: \(a.severity)",
        ]
        if let f = a.failoverId { h.append("X-MHA-Backup-Failover: \(oneLine(f))") }
        var body = [
            a.summary, "",
            "severity: \(a.severity)",
            "kind:     \(a.kind ?? AlertKind.manual.rawValue)",
            "cluster:  \(cl)",
            "host:     \(a.host ?? "-")",
            "failover: \(a.failoverId ?? "-")",
            "time:     \(a.time.formatted(Date.ISO8601FormatStyle()))",
            "id:       \(a.id ?? "-")",
        ]
        if !a.details.isEmpty { body += ["", a.details] }
        return h.joined(separator: "\n") + "\n\n" + body.joined(separator: "\n") + "\n"
    }
}
