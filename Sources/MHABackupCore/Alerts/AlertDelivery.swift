import Foundation
import MHABackupBase
import MHABackupFailover

/// Where an alert goes besides `alerts.jsonl`.
public enum AlertChannel: String, Codable, Sendable, CaseIterable {
    case webhook, mail
}

/// `state_dir/alerts-delivery.json`: per alert and channel, what delivery did. One writer at a
/// time, under `alerts-delivery.json.lock`; an item being sent is claimed (`sending`, with the
/// deliverer's pid and start time), so two deliverers never send one alert twice, and a claim
/// whose deliverer died is taken over.
public struct AlertDeliveryState: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case sending, sent, failed, collapsed
        case belowSeverity = "below-severity"
        case expired
    }

    public struct Entry: Codable, Sendable, Equatable {
        public var status: Status
        public var attempts = 0
        public var lastAttempt: Date?
        public var nextAttempt: Date?
        public var sentAt: Date?
        public var error: String?
        public var ownerPid: Int32?
        public var ownerStart: UInt64?
        /// For `collapsed`: the alert that was delivered for this kind and summary.
        public var collapsedInto: String?

        public init(status: Status) { self.status = status }
    }

    public var entries: [String: Entry] = [:]

    public init() {}

    public static func key(_ id: String, _ ch: AlertChannel) -> String { "\(id)/\(ch.rawValue)" }
    public subscript(_ id: String, _ ch: AlertChannel) -> Entry? {
        get { entries[Self.key(id, ch)] }
        set { entries[Self.key(id, ch)] = newValue }
    }
}

/// The decisions of delivery, without I/O (unit-tested): what to claim now, what to give up,
/// what is collapsed, and when the next retry is due.
public enum AlertDeliveryPlan {
    public struct Claim: Sendable, Equatable {
        public var alert: Alerts.Line
        public var channel: AlertChannel
    }

    /// Seconds before retry number `attempts + 1` (after `attempts` failures): 5, 20, 80, 320, … at most an hour.
    public static func backoff(afterAttempts n: Int) -> TimeInterval {
        var s: TimeInterval = 5
        for _ in 1..<max(1, n) { s *= 4 }
        return min(s, 3600)
    }

    public static func channels(_ s: AlertSettings) -> [AlertChannel] {
        (s.webhookURL != nil ? [AlertChannel.webhook] : []) + (!s.mailTo.isEmpty ? [AlertChannel.mail] : [])
    }

    /// Walks the alerts in file order and updates `state`; returns the items claimed for `owner`
    /// and the earliest time a failed item is due again. `force`: failed items are due now (by hand).
    public static func plan(alerts: [Alerts.Line], state: inout AlertDeliveryState, settings: AlertSettings, now: Date,
                            force: Bool, owner: (pid: Int32, start: UInt64?),
                            isAlive: (Int32, UInt64?) -> Bool) -> (claims: [Claim], nextDue: Date?) {
        var claims: [Claim] = []
        var nextDue: Date?
        // kind + summary + channel → the time of the last alert delivered (or being delivered).
        var last: [String: (time: Date, id: String)] = [:]
        for a in alerts {
            guard let id = a.id else { continue }
            for ch in channels(settings) {
                let min = ch == .webhook ? settings.webhookMinSeverity : settings.mailMinSeverity
                let k = "\(a.kind ?? "")\u{1}\(a.summary)\u{1}\(ch.rawValue)"
                func claim(_ e: inout AlertDeliveryState.Entry) {
                    e.status = .sending
                    e.ownerPid = owner.pid
                    e.ownerStart = owner.start
                    claims.append(Claim(alert: a, channel: ch))
                }
                guard var e = state[id, ch] else {
                    if a.alertSeverity < min {
                        state[id, ch] = .init(status: .belowSeverity)
                    } else if now.timeIntervalSince(a.time) > settings.maxAge {
                        var x = AlertDeliveryState.Entry(status: .expired)
                        x.error = "older than \(Int(settings.maxAge)) s when first seen by a deliverer"
                        state[id, ch] = x
                    } else if let l = last[k], a.time.timeIntervalSince(l.time) < settings.repeatInterval {
                        var x = AlertDeliveryState.Entry(status: .collapsed)
                        x.collapsedInto = l.id
                        state[id, ch] = x
                    } else {
                        var x = AlertDeliveryState.Entry(status: .sending)
                        claim(&x)
                        state[id, ch] = x
                        last[k] = (a.time, id)
                    }
                    continue
                }
                switch e.status {
                case .sent:
                    last[k] = (a.time, id)
                case .collapsed, .belowSeverity, .expired:
                    break
                case .sending:
                    last[k] = (a.time, id)
                    if isAlive(e.ownerPid ?? 0, e.ownerStart) { break }
                    // Its deliverer died mid-send: it may or may not have arrived; sent again.
                    e.error = "deliverer \(e.ownerPid.map(String.init) ?? "-") died while sending"
                    e.attempts += 1
                    fallthrough
                case .failed:
                    last[k] = (a.time, id)
                    if now.timeIntervalSince(a.time) > settings.maxAge {
                        e.status = .expired
                        e.nextAttempt = nil
                    } else if force || (e.nextAttempt ?? now) <= now {
                        claim(&e)
                    } else {
                        e.status = .failed
                        nextDue = Swift.min(nextDue ?? e.nextAttempt!, e.nextAttempt!)
                    }
                    state[id, ch] = e
                }
            }
        }
        return (claims, nextDue)
    }

    /// Records the end of one attempt.
    public static func record(_ state: inout AlertDeliveryState, id: String, channel: AlertChannel, error: String?, now: Date) {
        var e = state[id, channel] ?? .init(status: .sending)
        e.attempts += 1
        e.lastAttempt = now
        e.ownerPid = nil
        e.ownerStart = nil
        if let error {
            e.status = .failed
            e.error = error
            e.nextAttempt = now.addingTimeInterval(backoff(afterAttempts: e.attempts))
        } else {
            e.status = .sent
            e.sentAt = now
            e.error = nil
            e.nextAttempt = nil
        }
        state[id, channel] = e
    }
}

/// `mha-backup alerts deliver`: sends every undelivered alert of `alerts.jsonl` to the webhook
/// and by mail, each call bounded, retried with backoff; spawned detached by every raise
/// (`--background`: waits out short backoffs, at most `backgroundHorizon`), and by hand or from
/// a timer to retry what failed.
public final class AlertDeliverer {
    public let config: BackupConfig
    public var settings: AlertSettings { config.alertDelivery }
    public let runner = ProcessRunner()
    public var clock: Clock
    /// A background deliverer sleeps for a retry due within this many seconds; later ones are left to the next run.
    public var backgroundHorizon: TimeInterval = 90
    public var say: (String) -> Void = { print($0) }

    public init(config: BackupConfig, clock: Clock = .system) {
        self.config = config
        self.clock = clock
    }

    public var statePath: String { config.stateDir + "/alerts-delivery.json" }
    var lockPath: String { statePath + ".lock" }

    public static func readAlerts(_ path: String) -> [Alerts.Line] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let d = JSON.decoder
        return data.split(separator: 0x0A).compactMap { try? d.decode(Alerts.Line.self, from: Data($0)) }
    }

    /// The state, or empty when there is none yet; a file that cannot be read is an error, never replaced.
    public static func loadState(_ path: String) throws -> AlertDeliveryState {
        guard FileManager.default.fileExists(atPath: path) else { return AlertDeliveryState() }
        return try JSON.load(AlertDeliveryState.self, path: path)
    }

    func withState<T>(_ body: (inout AlertDeliveryState) throws -> T) throws -> T {
        try FileLock.withLock(lockPath, timeout: 10) {
            var s = try Self.loadState(statePath)
            let r = try body(&s)
            try AtomicFile.write(try JSON.encode(s), to: statePath, mode: 0o640)
            return r
        }
    }

    /// Returns the number of items that failed in this run (and are still failed at its end).
    @discardableResult
    public func run(background: Bool) throws -> Int {
        guard settings.hasChannel else {
            say("no webhook_url or mail_to in [alerts]: nothing to deliver")
            return 0
        }
        let me = (pid: getpid(), start: ProcessRunner.startTime(getpid()))
        var force = !background
        var failed = Set<String>()
        while true {
            let alerts = Self.readAlerts(config.alertsPath)
            let (claims, nextDue) = try withState { s in
                AlertDeliveryPlan.plan(alerts: alerts, state: &s, settings: settings, now: clock.now(), force: force,
                                       owner: me, isAlive: { ProcessRunner.isAlive($0, startedAt: $1) })
            }
            force = false
            for c in claims {
                let id = c.alert.id ?? ""
                let err = send(c.alert, c.channel)
                let attempts = try withState { s -> Int in
                    AlertDeliveryPlan.record(&s, id: id, channel: c.channel, error: err, now: clock.now())
                    return s[id, c.channel]?.attempts ?? 0
                }
                let key = AlertDeliveryState.key(id, c.channel)
                if err == nil { failed.remove(key) } else { failed.insert(key) }
                say("\(clock.now().formatted(Date.ISO8601FormatStyle())) \(id) \(c.channel.rawValue): \(err == nil ? "sent" : "failed") (attempt \(attempts))\(err.map { ": \($0)" } ?? "")")
            }
            if !claims.isEmpty { continue }
            guard background, let due = nextDue else { break }
            let wait = due.timeIntervalSince(clock.now())
            guard wait <= backgroundHorizon else { break }
            if wait > 0 { usleep(useconds_t(min(wait, 3600) * 1_000_000)) }
        }
        return failed.count
    }

    /// One attempt on one channel; nil when delivered, else why not (no secret in it).
    func send(_ a: Alerts.Line, _ ch: AlertChannel) -> String? {
        switch ch {
        case .webhook: return sendWebhook(a)
        case .mail: return sendMail(a)
        }
    }

    func sendWebhook(_ a: Alerts.Line) -> String? {
        guard let url = settings.webhookURL else { return "no webhook_url" }
        var headers: [String] = []
        if let hf = settings.webhookHeadersFile {
            do {
                try requirePrivate(hf, what: "webhook_headers_file")
                guard let d = FileManager.default.contents(atPath: hf) else { return "cannot read webhook_headers_file \(q(hf))" }
                headers = try AlertMessage.parseHeaders(String(decoding: d, as: UTF8.self))
            } catch let e as MBError {
                return "webhook_headers_file \(q(hf)) refused: \(e.message)"
            } catch {
                return "webhook_headers_file \(q(hf)): \(error)"
            }
        }
        let body: Data
        do { body = try JSON.encode(AlertMessage.payload(a, cluster: config.clusterName), pretty: false) } catch { return "cannot encode the alert: \(error)" }
        let conf = AlertMessage.curlConfig(url: url, headers: headers, body: body, timeout: settings.webhookTimeout)
        do {
            let r = try runner.run(Command(["curl", "-K", "-"]), timeout: settings.webhookTimeout + 5, stdin: .data(Data(conf.utf8)),
                                   outputLimit: 64 << 10)
            if r.succeeded { return nil }
            return redact(r.failureSummary, headers: headers)
        } catch {
            return redact("\(error)", headers: headers)
        }
    }

    /// Never a secret in the state file or a log: the URL (and its parts) and header values.
    func redact(_ s: String, headers: [String]) -> String {
        var out = s
        var secrets = [settings.webhookURL ?? ""]
        secrets += headers.compactMap { h in h.firstIndex(of: ":").map { String(h[h.index(after: $0)...]).trimmingCharacters(in: .whitespaces) } }
        if let u = settings.webhookURL, let qm = u.firstIndex(of: "?") { secrets.append(String(u[u.index(after: qm)...])) }
        for s in secrets where s.count >= 4 { out = out.replacing(s, with: "<redacted>") }
        return out
    }

    func sendmailArgv() -> [String]? {
        if !settings.mailSendmail.isEmpty { return settings.mailSendmail }
        if access("/usr/sbin/sendmail", X_OK) == 0 { return ["/usr/sbin/sendmail"] }
        return ProcessRunner.which("msmtp").map { [$0] }
    }

    func sendMail(_ a: Alerts.Line) -> String? {
        guard let base = sendmailArgv() else {
            return "no sendmail: install an MTA, or msmtp (Debian 'msmtp-mta'), or set [alerts] mail_sendmail"
        }
        let host = Alerts.hostName()
        let from = settings.mailFrom ?? "mha-backup@\(host)"
        let msg = AlertMessage.mail(a, to: settings.mailTo, from: from, cluster: config.clusterName, hostname: host)
        do {
            let r = try runner.run(Command(base + ["-t", "-i", "-f", from]), timeout: 60, stdin: .data(Data(msg.utf8)),
                                   outputLimit: 64 << 10)
            return r.succeeded ? nil : r.failureSummary
        } catch {
            return "\(error)"
        }
    }
}
