import Foundation
import MHABackupBase

/// `[backup] method = auto`: the seed's rule by data size. Below 10 GB of data (InnoDB and other
/// tables, data and indexes, as information_schema counts them on the source) a logical dump, else
/// physical. An incremental is always physical (a dump has no incremental), and so is a full whose
/// size cannot be read (physical backs up everything whatever the count says).
public enum AutoMethod {
    public static let dumpBelowBytes: Int64 = 10 * 1_000_000_000

    public static let sizeQuery = "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema NOT IN ('information_schema', 'performance_schema', 'sys')"

    /// The choice for a backup of `type` with `bytes` of data (nil: unknown).
    public static func choose(type: BackupType, bytes: Int64?) -> BackupMethod {
        guard type == .full, let bytes, bytes < dumpBelowBytes else { return .mariabackup }
        return .dump
    }

    /// Reads the data size of `source` (bounded by `[client] timeout`); nil when it cannot.
    public static func dataBytes(_ source: ServerState, config: BackupConfig) -> Int64? {
        guard let v = try? MySQLClient(server: source.server, config: config).scalar(sizeQuery) else { return nil }
        return Int64(v) ?? Double(v).map { Int64($0) }
    }
}
