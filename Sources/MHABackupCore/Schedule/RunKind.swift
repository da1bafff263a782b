import Foundation
import MHABackupBase

/// What `mha-backup run KIND` starts, and which gates it must pass first. The command is the
/// existing one, run as a child of the same binary, so a run does exactly what a person typing it
/// would; `retention` and `tier` work as soon as those commands exist.
public enum RunKind: String, Sendable, Codable, CaseIterable {
    case full, incremental, binlog, verify, retention, tier

    /// The arguments after `mha-backup --config FILE`.
    public var childArguments: [String] {
        switch self {
        case .full: return ["backup", "full"]
        case .incremental: return ["backup", "incremental"]
        case .binlog: return ["binlog", "archive"]
        // The newest complete backup: checksums, mbstream unpack, prepare, binlogs readable.
        case .verify: return ["verify", "--latest", "--level", "structure"]
        case .retention: return ["retention", "--confirm"]
        case .tier: return ["tier", "sync"]
        }
    }

    /// Backups load the source host (load, its data disk) and must not race MHA (manager, fence).
    /// Verify works on the manager host: its own load and the fence. Binlog archiving, retention and
    /// tier sync are light on the servers but must not run into a failover: the fence only.
    public var gates: [GateKind] {
        switch self {
        case .full, .incremental: return [.fence, .manager, .load, .ioUtil]
        case .verify: return [.fence, .localLoad]
        case .binlog, .retention, .tier: return [.fence]
        }
    }
}

/// A gate a scheduled run must pass. The raw value is what "skipped: <gate>" names.
public enum GateKind: String, Sendable, Codable, CaseIterable {
    /// The failover fence is up (State/Fence.swift).
    case fence
    /// `masterha_check_status` does not say the manager monitors the app.
    case manager
    /// The source host's 1-minute load average is above `max_load`.
    case load
    /// The source host's data disk is busier than `max_io_util` percent.
    case ioUtil = "io-util"
    /// This (the manager) host's load average is above `max_load`.
    case localLoad = "local-load"
}

/// One gate's answer: open, or closed with the reason (a value measured, or why it could not be).
public struct GateResult: Sendable, Equatable, Codable {
    public var gate: GateKind
    public var open: Bool
    public var reason: String

    public init(gate: GateKind, open: Bool, reason: String) {
        self.gate = gate
        self.open = open
        self.reason = reason
    }
}
