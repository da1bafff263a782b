import FoundationEssentials
import Glibc
import Dispatch

public enum JobPhase: String, Codable, Sendable {
    case queued, connecting, copying, locking, finishing, done, failed, aborted
}

public enum JobState: String, Codable, Sendable {
    case running, paused, aborting, done, failed, aborted
}

/// One running backup (or other long job) as the registry records it in `state/jobs/ID.json`.
public struct JobRecord: Codable, Sendable {
    package init(id: String, kind: BackupType, method: BackupMethod, sourceHost: String, sourcePort: Int, pid: pid_t, pgid: pid_t, remotePid: Int? = nil, phase: JobPhase, state: JobState, startedAt: Date, updatedAt: Date, bytes: Int64, backupId: String? = nil, message: String? = nil, restartReplicaSQLOnAbort: Bool? = nil) {
        self.id = id
        self.kind = kind
        self.method = method
        self.sourceHost = sourceHost
        self.sourcePort = sourcePort
        self.pid = pid
        self.pgid = pgid
        self.remotePid = remotePid
        self.phase = phase
        self.state = state
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.bytes = bytes
        self.backupId = backupId
        self.message = message
        self.restartReplicaSQLOnAbort = restartReplicaSQLOnAbort
    }

    public var id: String
    public var kind: BackupType
    public var method: BackupMethod
    public var sourceHost: String
    public var sourcePort: Int
    /// The mha-backup process that owns the job.
    public var pid: pid_t
    /// The process group of the tool pipeline (pause/resume/abort signal it).
    public var pgid: pid_t
    /// The remote shell's pid on the source host (its process group there), when the tool runs over ssh.
    public var remotePid: Int?
    public var phase: JobPhase
    public var state: JobState
    public var startedAt: Date
    public var updatedAt: Date
    public var bytes: Int64
    public var backupId: String?
    public var message: String?
    /// The source is a replica whose SQL thread ran when the job started, and the tool may stop it
    /// (`--safe-slave-backup`): an abort restarts it if it is found stopped without an error.
    public var restartReplicaSQLOnAbort: Bool?
}

/// The job registry: one JSON file a job, written atomically, in the state folder.
public struct JobRegistry: Sendable {
    public var dir: String
    public var clock: Clock

    public init(dir: String, clock: Clock = .system) {
        self.dir = dir
        self.clock = clock
    }

    func path(_ id: String) -> String { "\(dir)/\(id).json" }

    public func save(_ j: JobRecord) throws {
        try AtomicFile.makeDirectory(dir)
        var j = j
        j.updatedAt = clock.now()
        // Atomic, not fsynced: a job record means something only while its owner process lives.
        try AtomicFile.write(JSON.encode(j), to: path(j.id), mode: 0o640, durable: false)
    }

    public func load(_ id: String) throws -> JobRecord {
        try SafeName.check(id, .id, what: "job id")
        guard FileManager.default.fileExists(atPath: path(id)) else {
            throw MBError(.noInput, "no job \(q(id))", hint: "mha-backup jobs lists the jobs")
        }
        return try JSON.load(JobRecord.self, path: path(id))
    }

    public func remove(_ id: String) { try? FileManager.default.removeItem(atPath: path(id)) }

    /// Every job on record; a job whose owner died without finishing is reported as failed.
    public func all() -> [JobRecord] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return files.filter { $0.hasSuffix(".json") }.compactMap { f -> JobRecord? in
            guard var j = try? JSON.load(JobRecord.self, path: "\(dir)/\(f)") else { return nil }
            if [.running, .paused, .aborting].contains(j.state) && !ProcessRunner.isAlive(j.pid) {
                j.state = .failed
                j.message = "owner process \(j.pid) is gone"
            }
            return j
        }.sorted { $0.startedAt < $1.startedAt }
    }

    /// Jobs that still run (owner alive, not finished).
    public func active() -> [JobRecord] {
        all().filter { [.running, .paused, .aborting].contains($0.state) }
    }

    /// Updates a record under the registry's file lock (`locked`: the caller holds it already).
    public func update(_ id: String, locked: Bool = false, _ change: (inout JobRecord) -> Void) throws {
        func apply() throws {
            var j = try load(id)
            change(&j)
            try save(j)
        }
        if locked { try apply() } else { try withLock(apply) }
    }

    /// Updates several records under one lock (a failover pauses every job at once).
    public func updateAll(_ ids: [String], _ change: (inout JobRecord) -> Void) throws {
        guard !ids.isEmpty else { return }
        try withLock {
            for id in ids {
                guard var j = try? load(id) else { continue }
                change(&j)
                try save(j)
            }
        }
    }

    /// An exclusive flock on `jobs/.lock`: admission (max_parallel, one per source) is decided under it.
    public func withLock<T>(timeout: TimeInterval = 60, _ body: () throws -> T) throws -> T {
        try FileLock.withLock("\(dir)/.lock", timeout: timeout, body)
    }
}
