import Foundation
import MHABackupBase

/// How a scheduled run ended. Crosses into `state_dir/runs.jsonl`: never rename a raw value.
public enum RunOutcome: String, Sendable, Codable {
    case ok, failed, skipped
}

/// One line of `state_dir/runs.jsonl`: every `mha-backup run`, appended when it ends.
public struct RunRecord: Sendable, Codable, Equatable {
    public var kind: RunKind
    public var outcome: RunOutcome
    /// When the run was started by its timer (gates included).
    public var startedAt: Date
    /// When the command itself started (nil: it never did).
    public var commandStartedAt: Date?
    public var finishedAt: Date
    /// The command's own duration, seconds (nil when skipped).
    public var durationSeconds: Double?
    public var exitCode: Int32?
    /// The closed gate of a skipped run.
    public var gate: GateKind?
    /// "skipped: load", or the closed gate's reason, or the command's exit.
    public var message: String
    public var gatesIgnored: Bool
    public var pid: Int32
}

/// The run history of one cluster (its state_dir): append-only JSON lines, one per run.
public struct RunHistory: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    public func append(_ r: RunRecord) throws {
        let d = try JSON.encode(r, pretty: false)
        try appendLine(String(decoding: d, as: UTF8.self), to: path)
    }

    /// Every record, oldest first. A line that does not parse (a torn last write) is passed over;
    /// a file that exists but cannot be read is an error.
    public func all() throws -> [RunRecord] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw MBError(.dataError, "cannot read the run history \(q(path)): \(error)")
        }
        return text.split(separator: "\n").compactMap { try? JSON.decode(RunRecord.self, from: Data($0.utf8), file: path) }
    }

    /// The durations of the last `n` successful runs of `kind`, oldest first.
    public func lastDurations(_ kind: RunKind, _ n: Int) throws -> [Double] {
        Array(try all().filter { $0.kind == kind && $0.outcome == .ok }.compactMap(\.durationSeconds).suffix(n))
    }

    /// A run is slow when it took more than `factor` times the average of the previous ones
    /// (at least one needed; a run of under 1 s is never slow: a millisecond run doubling is noise).
    public static func isSlow(_ seconds: Double, previous: [Double], factor: Double) -> Bool {
        guard !previous.isEmpty, seconds >= 1 else { return false }
        let avg = previous.reduce(0, +) / Double(previous.count)
        return seconds > factor * avg
    }
}
