import Foundation
import MHABackupBase
import MHABackupCore

/// `mha-backup alerts deliver [--background] | raise --severity S --kind K --summary TEXT [--details TEXT] [--failover ID] | list [--json]`.
enum AlertsCommand {
    static let usage = "alerts deliver | alerts raise --severity info|warning|critical --kind KIND --summary TEXT [--details TEXT] [--failover ID] | alerts list [--json]"

    static func run(_ ctx: Context, args: Arguments) throws {
        guard let sub = args.positional.first, args.positional.count == 1 else { throw MBError.usage(usage) }
        let c = ctx.config
        switch sub {
        case "deliver":
            let d = AlertDeliverer(config: c, clock: ctx.clock)
            let failed = try d.run(background: args.has("background"))
            if failed > 0 {
                eprint("mha-backup: \(failed) alert delivery(ies) failed; they stay in \(q(c.alertsPath)) and are retried by the next 'mha-backup alerts deliver'")
                throw CLI.CommandExit(code: ExitCode.failed.rawValue)
            }
        case "raise":
            guard let sv = args["severity"], let severity = AlertSeverity(rawValue: sv) else {
                throw MBError.usage("option '--severity' must be info, warning or critical")
            }
            guard let k = args["kind"], let kind = AlertKind(rawValue: k) else {
                throw MBError.usage("option '--kind' must be one of: \(AlertKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let summary = args["summary"], !summary.isEmpty else { throw MBError.usage("option '--summary' is required") }
            let sent = Alerts.raise(config: c, severity: severity, kind: kind, summary: summary, details: args["details"] ?? "",
                                    failoverId: args["failover"], now: ctx.clock.now())
            print(sent ? "raised" : "already raised for failover \(q(args["failover"] ?? ""))")
        case "list":
            let alerts = AlertDeliverer.readAlerts(c.alertsPath)
            let state = try AlertDeliverer.loadState(AlertDeliverer(config: c).statePath)
            let chans = AlertDeliveryPlan.channels(c.alertDelivery)
            if args.has("json") {
                struct Row: Codable { var alert: Alerts.Line; var delivery: [String: AlertDeliveryState.Entry] }
                let rows = alerts.map { a in
                    Row(alert: a, delivery: Dictionary(uniqueKeysWithValues: chans.compactMap { ch in
                        a.id.flatMap { state[$0, ch] }.map { (ch.rawValue, $0) } }))
                }
                print(JSON.string(rows))
                return
            }
            for a in alerts {
                let d = chans.map { ch -> String in
                    guard let id = a.id, let e = state[id, ch] else { return "\(ch.rawValue)=\(a.id == nil ? "-" : "pending")" }
                    return "\(ch.rawValue)=\(e.status.rawValue)\(e.attempts > 1 ? "(\(e.attempts))" : "")"
                }
                print("\(iso8601(a.time))  \(a.severity.padding(toLength: 8, withPad: " ", startingAt: 0)) \(a.kind ?? "-")  \(a.summary)\(d.isEmpty ? "" : "  [\(d.joined(separator: " "))]")")
            }
        default:
            throw MBError.usage(usage)
        }
    }
}
