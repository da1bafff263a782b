import FoundationEssentials
import Glibc
import Dispatch

public enum BackupType: String, Codable, Sendable { case full, incremental }

public enum BackupStatus: String, Codable, Sendable {
    /// Being written; not usable.
    case running
    /// Committed: the marker is on disk and the manifest's checksum matches it.
    case complete
    case failed
    case aborted
    /// A manifest without a marker whose job is gone: the process died mid-way.
    case partial
}

public struct ManifestFile: Codable, Sendable, Equatable {

    package init(name: String, size: Int64, sha256: String) {

        self.name = name

        self.size = size

        self.sha256 = sha256

    }

    public var name: String
    public var size: Int64
    public var sha256: String
}

/// How a backup's data files are encrypted: the format and the key's id, never the key.
public struct EncryptionInfo: Codable, Sendable, Equatable {
    public var format: String
    public var keyId: String
    public var chunkSize: Int

    public init(format: String = EncryptedFormat.formatName, keyId: String, chunkSize: Int) {
        self.format = format
        self.keyId = keyId
        self.chunkSize = chunkSize
    }
}

/// Everything the catalog knows of one backup (`backups/ID/manifest.json`).
public struct Manifest: Codable, Sendable {
    package init(id: String, type: BackupType, method: BackupMethod, status: BackupStatus, sourceHost: String, sourcePort: Int, sourceServerId: Int? = nil, sourceVersion: String? = nil, sourceRole: String, timeline: Int? = nil, startedAt: Date, finishedAt: Date? = nil, fromLSN: Int64? = nil, toLSN: Int64? = nil, lastLSN: Int64? = nil, binlog: Coordinates? = nil, replicaOf: ReplicaOf? = nil, parent: String? = nil, compression: Compression, compressedBytes: Int64 = 0, files: [ManifestFile] = [], toolCommand: [String] = [], message: String? = nil, durationSeconds: Double? = nil) {
        self.id = id
        self.type = type
        self.method = method
        self.status = status
        self.sourceHost = sourceHost
        self.sourcePort = sourcePort
        self.sourceServerId = sourceServerId
        self.sourceVersion = sourceVersion
        self.sourceRole = sourceRole
        self.timeline = timeline
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.fromLSN = fromLSN
        self.toLSN = toLSN
        self.lastLSN = lastLSN
        self.binlog = binlog
        self.replicaOf = replicaOf
        self.parent = parent
        self.compression = compression
        self.compressedBytes = compressedBytes
        self.files = files
        self.toolCommand = toolCommand
        self.message = message
        self.durationSeconds = durationSeconds
    }

    public var formatVersion = 1
    public var id: String
    public var type: BackupType
    public var method: BackupMethod
    public var status: BackupStatus
    public var sourceHost: String
    public var sourcePort: Int
    public var sourceServerId: Int?
    public var sourceVersion: String?
    public var sourceRole: String
    public var timeline: Int?
    public var startedAt: Date
    public var finishedAt: Date?
    /// InnoDB LSNs (physical): from_lsn is the parent's to_lsn for an incremental.
    public var fromLSN: Int64?
    public var toLSN: Int64?
    public var lastLSN: Int64?
    /// The source's own binlog coordinates and GTID at the backup's consistent point.
    public var binlog: Coordinates?
    /// On a replica: the master's coordinates the replica had executed (`--slave-info` / `--dump-slave`).
    public var replicaOf: ReplicaOf?
    public var parent: String?
    public var compression: Compression
    public var compressedBytes: Int64 = 0
    public var files: [ManifestFile] = []
    public var toolCommand: [String] = []
    public var message: String?
    public var durationSeconds: Double?
    /// Verified copies on remote tiers (`tier sync`); nil: only in the hot store.
    public var tiers: [TierCopy]?
    /// Set when the data files are encrypted (Crypto/ChunkedCipher.swift); `files[].sha256` is
    /// the hash of the stored, encrypted bytes.
    public var encryption: EncryptionInfo?

    public struct ReplicaOf: Codable, Sendable, Equatable {

        package init(masterHost: String? = nil, coordinates: Coordinates) {

            self.masterHost = masterHost

            self.coordinates = coordinates

        }

        public var masterHost: String?
        public var coordinates: Coordinates
    }

    public var isUsableParent: Bool { status == .complete && method.isPhysical }
}

/// The catalog: one folder a backup in the store, committed by a marker written last.
public struct Catalog: Sendable {
    public var dir: String

    public init(dir: String) { self.dir = dir }

    public func folder(_ id: String) -> String { "\(dir)/\(id)" }
    func manifestPath(_ id: String) -> String { "\(folder(id))/manifest.json" }
    func markerPath(_ id: String) -> String { "\(folder(id))/COMMITTED" }

    /// Writes the manifest atomically (temp, fsync, rename). Not a commit.
    public func write(_ m: Manifest) throws {
        try AtomicFile.makeDirectory(folder(m.id))
        try AtomicFile.write(JSON.encode(m), to: manifestPath(m.id), mode: 0o640)
    }

    /// Commits a complete backup: manifest first, then the marker holding the manifest's SHA-256.
    public func commit(_ m: Manifest) throws {
        var m = m
        m.status = .complete
        let data = try JSON.encode(m)
        try AtomicFile.makeDirectory(folder(m.id))
        try AtomicFile.write(data, to: manifestPath(m.id), mode: 0o640)
        try AtomicFile.write("sha256 \(SHA256Hasher.hex(of: data))\n", to: markerPath(m.id), mode: 0o640)
    }

    /// Loads one backup and decides its real status: `complete` only with a marker that matches.
    public func load(_ id: String, activeJobs: Set<String> = []) throws -> Manifest {
        guard let data = FileManager.default.contents(atPath: manifestPath(id)) else {
            throw MBError(.noInput, "backup \(q(id)) has no manifest in \(q(folder(id)))")
        }
        var m = try JSON.decode(Manifest.self, from: data, file: manifestPath(id))
        var marker = (try? String(contentsOfFile: markerPath(id), encoding: .utf8))?.trimmed()
        if m.status == .complete {
            // A tier record interrupted between its manifest and its marker (Catalog.recordTiers).
            let next = (try? String(contentsOfFile: markerPath(id) + ".next", encoding: .utf8))?.trimmed()
            if marker != nil, next == "sha256 \(SHA256Hasher.hex(of: data))" { marker = next }
            if marker != "sha256 \(SHA256Hasher.hex(of: data))" {
                m.status = .partial
                m.message = marker == nil ? "no commit marker" : "commit marker does not match the manifest"
            }
        } else if m.status == .running && !activeJobs.contains(id) {
            m.status = .partial
            m.message = m.message ?? "the backup's process is gone and it never committed"
        }
        return m
    }

    /// Every backup, oldest first by its start time (an id given with `--id` does not sort by time:
    /// "newest" never goes by names), the id breaking ties.
    public func all(activeJobs: Set<String> = []) -> [Manifest] {
        let ids = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return parallelMap(ids) { try? load($0, activeJobs: activeJobs) }.compactMap { $0 }
            .sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
    }

    /// The newest usable parent for an incremental from this source.
    public func latestParent(host: String, port: Int, serverId: Int?) -> Manifest? {
        all().filter {
            $0.isUsableParent && $0.sourceHost == host && $0.sourcePort == port
                && (serverId == nil || $0.sourceServerId == nil || $0.sourceServerId == serverId)
        }.last
    }

    /// A new sortable id: `20261125T143553Z-full-a1b2c3`.
    public static func newId(type: BackupType, at date: Date) -> String {
        let rand = padded(UInt32.random(in: 0..<0xFFFFFF), width: 6, radix: 16)
        return "\(compactUTC(date))-\(type == .full ? "full" : "incr")-\(rand)"
    }
}
