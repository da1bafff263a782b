import FoundationEssentials
import Glibc

/// How bad an alert is. Ordered: a channel's minimum severity lets through that one and above.
public enum AlertSeverity: String, Codable, Sendable, CaseIterable, Comparable {
    case info, warning, critical

    var rank: Int {
        switch self {
        case .info: return 0
        case .warning: return 1
        case .critical: return 2
        }
    }

    public static func < (a: AlertSeverity, b: AlertSeverity) -> Bool { a.rank < b.rank }
}

/// Every kind of alert, a stable name that crosses into `alerts.jsonl`, the webhook's JSON and the
/// mail's `X-MHA-Backup-Kind` header. Receivers route on it; never rename a case's raw value.
public enum AlertKind: String, Codable, Sendable, CaseIterable {
    // Raised by mha-backup itself.
    case backupFailed = "backup-failed"
    case backupCorrupt = "backup-corrupt"
    case verifyFailed = "verify-failed"
    case streamDown = "stream-down"
    case salvageFailed = "salvage-failed"
    case salvageIncomplete = "salvage-incomplete"
    case failoverFailed = "failover-failed"
    case fenceStale = "fence-stale"
    case jobNotPaused = "job-not-paused"
    case foreignBackupLock = "foreign-backup-lock"
    case oldMasterNotStopped = "old-master-not-stopped"
    case rePoint = "re-point"
    case promotionMissing = "promotion-missing"
    case unknownHost = "unknown-host"
    case hookStepFailed = "hook-step-failed"
    /// `mha-backup run`: a closed gate made it give up; still running past its window; much slower than usual.
    case runSkipped = "run-skipped"
    case runPastWindow = "run-past-window"
    case runSlow = "run-slow"
    /// `mha-backup alerts raise` by hand (a test of the channels, a site script).
    case manual = "manual"
    // Raised by the Prometheus rules (mha-samples/prometheus/alerts.yml) from the metrics file:
    // listed so that a receiver knows every name; mha-backup never raises them itself.
    case backupPastWindow = "backup-past-window"
    case backupSlow = "backup-slow"
    case backupSizeAnomaly = "backup-size-anomaly"
    case storageThreshold = "storage-threshold"
    case binlogLag = "binlog-lag"
    case successRatio = "success-ratio"

    /// The kinds only the Prometheus rules raise.
    public static let prometheusOnly: Set<AlertKind> = [.backupPastWindow, .backupSlow, .backupSizeAnomaly,
                                                        .storageThreshold, .binlogLag, .successRatio]
}
