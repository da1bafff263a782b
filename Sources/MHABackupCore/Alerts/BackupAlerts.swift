import Foundation
import MHABackupBase
import MHABackupFailover

/// The alerts of backups and verification, raised by the commands when they end.
package enum BackupAlerts {
    /// A backup that ended in an error: `backup-failed`, or `fence-stale` when a fence past its
    /// TTL refused it (an ordinary fence, a busy slot or an abort is no alert: it is the design working).
    package static func failed(_ ctx: Context, type: BackupType, error e: MBError) {
        let now = ctx.clock.now()
        switch e.code {
        case .usage, .busy:
            return
        case .fenced:
            guard let f = Fence.load(ctx.config.fencePath), f.isStale(now: now) else { return }
            Alerts.raise(config: ctx.config, severity: .critical, kind: .fenceStale,
                         summary: "backup \(type.rawValue) refused: \(f.describe(path: ctx.config.fencePath, now: now))",
                         details: e.hint ?? "", failoverId: f.failoverId, now: now)
        default:
            // A backup aborted on purpose (by a failover's hooks, or 'jobs abort') is no failure:
            // the failover's record and report list it (BackupEngine's two "aborted" messages).
            if e.code == .failed && e.message.contains(" aborted") { return }
            Alerts.raise(config: ctx.config, severity: .critical, kind: .backupFailed,
                         summary: "backup \(type.rawValue) failed: \(e.message)", details: e.hint ?? "", failoverId: nil, now: now)
        }
    }

    /// Damage to the data itself (a file missing, a size or SHA-256 that differs, a stream that does not unpack).
    static func isCorruption(_ p: VerifyProblem) -> Bool {
        ["sha256 ", "size ", "file is missing", "does not unpack", "does not decompress", "checksum file"].contains { p.reason.hasPrefix($0) }
    }

    /// One alert per failed record: `backup-corrupt` when its data is damaged, else `verify-failed`.
    package static func verifyFailed(_ ctx: Context, report: VerifyReport, level: VerifyLevel) {
        for r in report.records where !r.ok {
            let corrupt = r.problems.contains(where: isCorruption)
            let first = r.problems.first?.line ?? "failed"
            Alerts.raise(config: ctx.config, severity: .critical, kind: corrupt ? .backupCorrupt : .verifyFailed,
                         summary: "verify \(level.rawValue) of \(r.id): \(corrupt ? "corrupt" : "failed"): \(first)",
                         details: r.problems.map(\.line).joined(separator: "\n"), failoverId: nil, now: ctx.clock.now())
        }
    }
}
