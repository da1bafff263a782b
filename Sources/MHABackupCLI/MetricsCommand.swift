import Foundation
import MHABackupBase
import MHABackupCore

/// `mha-backup metrics [--stdout]`: writes `[metrics] metrics_file` from local state (no server is
/// contacted); `--stdout` prints the same text instead of writing it.
enum MetricsCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        guard args.positional.isEmpty else {
            throw MBError.usage("metrics takes no arguments, got \(args.positional.map(q).joined(separator: " "))")
        }
        let now = ctx.clock.now()
        if args.has("stdout") {
            print(MetricsWriter.render(config: ctx.config, now: now), terminator: "")
            return
        }
        guard let file = try MetricsWriter.write(config: ctx.config, now: now) else {
            throw MBError(.config, "no metrics_file in \(q(ctx.config.path))",
                          hint: "add '[metrics]' 'metrics_file = /var/lib/prometheus/node-exporter/mha_backup.prom', or pass --stdout")
        }
        print("metrics written to \(file)")
    }
}
