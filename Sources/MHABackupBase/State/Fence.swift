import FoundationEssentials
import Glibc
import Dispatch

/// The failover fence: while it stands, backups refuse to start. The hooks raise it at
/// stop/stopssh and lift it at report; a fence older than its TTL means a failover died half-way.
public struct Fence: Codable, Sendable {
    public var createdAt: Date
    public var ttlSeconds: Double
    public var failoverId: String?
    public var reason: String
    public var pid: Int32

    public func age(now: Date) -> TimeInterval { now.timeIntervalSince(createdAt) }
    public func isStale(now: Date) -> Bool { age(now: now) > ttlSeconds }

    public static func load(_ path: String) -> Fence? {
        try? JSON.load(Fence.self, path: path)
    }

    /// Raises the fence. Idempotent: an existing fence of the same failover is kept as it is.
    @discardableResult
    public static func raise(at path: String, failoverId: String?, reason: String, ttl: TimeInterval, now: Date) throws -> Fence {
        if let f = load(path), f.failoverId == failoverId { return f }
        let f = Fence(createdAt: now, ttlSeconds: ttl, failoverId: failoverId, reason: reason, pid: getpid())
        try AtomicFile.makeDirectory(Path.dir(path))
        try AtomicFile.write(JSON.encode(f), to: path, mode: 0o640)
        return f
    }

    /// Lifts the fence (no-op when none). Returns the fence that stood.
    @discardableResult
    public static func lift(at path: String) -> Fence? {
        let f = load(path)
        try? FileManager.default.removeItem(atPath: path)
        return f
    }

    /// One line for people: id, reason, age, and whether it is stale.
    public func describe(path: String, now: Date) -> String {
        let age = Int(self.age(now: now))
        let id = failoverId.map { " of failover \(q($0))" } ?? ""
        let stale = isStale(now: now) ? " — STALE: older than its TTL of \(Int(ttlSeconds)) s; a failover may have died half-way" : ""
        return "failover fence\(id) at \(q(path)) is up since \(age) s (\(reason))\(stale)"
    }

    /// Throws `.fenced` when a fence stands.
    public static func check(path: String, now: Date) throws {
        guard let f = load(path) else { return }
        throw MBError(.fenced, "backup refused: \(f.describe(path: path, now: now))",
                      hint: f.isStale(now: now) ? "check the cluster, then 'mha-backup fence down', or pass --ignore-fence"
                                                : "wait for the failover to finish, or pass --ignore-fence")
    }
}
