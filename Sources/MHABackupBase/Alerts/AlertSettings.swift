import FoundationEssentials
import Glibc

/// `[alerts]`: where alerts are delivered besides `alerts.jsonl` (and `command`).
public struct AlertSettings: Sendable, Equatable {
    /// JSON POST target. May carry a token: it reaches curl only through its config on stdin.
    public var webhookURL: String?
    public var webhookMinSeverity: AlertSeverity = .warning
    /// `Name: value` lines added as headers (tokens); must be mode 0600 or stricter.
    public var webhookHeadersFile: String?
    public var webhookTimeout: TimeInterval = 10
    public var mailTo: [String] = []
    public var mailFrom: String?
    public var mailMinSeverity: AlertSeverity = .warning
    /// The sendmail-compatible program and its own options (e.g. `/usr/bin/msmtp -C /etc/mha-backup/msmtprc`);
    /// `-t -i` (and `-f FROM`) are added. Default: `/usr/sbin/sendmail`, else `msmtp`.
    public var mailSendmail: [String] = []
    /// The same kind and summary within this many seconds is delivered once (the rest: `collapsed`).
    public var repeatInterval: TimeInterval = 3600
    /// Alerts older than this when a deliverer first sees them, or still failing this long after
    /// they were raised, are given up (`expired`; they stay in alerts.jsonl).
    public var maxAge: TimeInterval = 86_400

    public init() {}

    public var hasChannel: Bool { webhookURL != nil || !mailTo.isEmpty }

    public static let keys: Set<String> = ["webhook_url", "webhook_min_severity", "webhook_headers_file", "webhook_timeout",
                                           "mail_to", "mail_from", "mail_min_severity", "mail_sendmail", "repeat_interval"]

    /// Reads the delivery keys of `[alerts]` (the section's `command` is BackupConfig's).
    public static func parse(_ ini: INIFile) throws -> AlertSettings {
        var s = AlertSettings()
        guard let sec = ini.section("alerts") else { return s }
        let p = ini.path
        func severity(_ key: String) throws -> AlertSeverity? {
            guard let e = sec.entry(key) else { return nil }
            guard let v = AlertSeverity(rawValue: e.value) else {
                throw MBError.config("\(p):\(e.line): \(q(key)) must be info, warning or critical, got \(q(e.value))")
            }
            return v
        }
        func seconds(_ key: String, _ range: ClosedRange<Int>) throws -> TimeInterval? {
            guard let e = sec.entry(key) else { return nil }
            guard let n = Int(e.value), range.contains(n) else {
                throw MBError.config("\(p):\(e.line): \(q(key)) must be a whole number in \(range.lowerBound)...\(range.upperBound), got \(q(e.value))")
            }
            return TimeInterval(n)
        }
        func bad(_ v: String) -> Bool { v.contains(where: { $0.isNewline || $0 == "\0" }) }
        if let e = sec.entry("webhook_url"), !e.value.isEmpty {
            // The value is never echoed back: it may hold a token.
            guard e.value.hasPrefix("http://") || e.value.hasPrefix("https://"), !bad(e.value), !e.value.contains(" ") else {
                throw MBError.config("\(p):\(e.line): 'webhook_url' must be an http:// or https:// URL without spaces")
            }
            s.webhookURL = e.value
        }
        if let v = try severity("webhook_min_severity") { s.webhookMinSeverity = v }
        if let e = sec.entry("webhook_headers_file"), !e.value.isEmpty {
            guard e.value.hasPrefix("/") else {
                throw MBError.config("\(p):\(e.line): 'webhook_headers_file' must be an absolute path, got \(q(e.value))")
            }
            s.webhookHeadersFile = e.value
        }
        if let t = try seconds("webhook_timeout", 1...300) { s.webhookTimeout = t }
        if let e = sec.entry("mail_to"), !e.value.isEmpty {
            let to = e.value.split(separator: ",").map { $0.trimmedBlanks() }.filter { !$0.isEmpty }
            if let x = to.first(where: { !$0.contains("@") || $0.contains(" ") || bad($0) || $0.hasPrefix("-") }) {
                throw MBError.config("\(p):\(e.line): 'mail_to' takes addresses separated by commas, got \(q(x))")
            }
            s.mailTo = to
        }
        if let e = sec.entry("mail_from"), !e.value.isEmpty {
            guard e.value.contains("@"), !e.value.contains(" "), !bad(e.value), !e.value.hasPrefix("-") else {
                throw MBError.config("\(p):\(e.line): 'mail_from' must be one address, got \(q(e.value))")
            }
            s.mailFrom = e.value
        }
        if let v = try severity("mail_min_severity") { s.mailMinSeverity = v }
        if let e = sec.entry("mail_sendmail"), !e.value.isEmpty {
            let argv = e.value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = argv.first, first.hasPrefix("/") else {
                throw MBError.config("\(p):\(e.line): 'mail_sendmail' must start with an absolute path, got \(q(e.value))")
            }
            s.mailSendmail = argv
        }
        if let t = try seconds("repeat_interval", 0...604_800) { s.repeatInterval = t }
        return s
    }
}

extension BackupConfig {
    /// The cluster's name in alerts: MHA's app.cnf base name (`/etc/mha/app1.cnf` → `app1`).
    public var clusterName: String {
        let base = mhaConf.split(separator: "/").last.map(String.init) ?? mhaConf
        return base.hasSuffix(".cnf") ? String(base.dropLast(4)) : base
    }
}
