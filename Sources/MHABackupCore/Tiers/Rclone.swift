import Foundation
import MHABackupBase

/// rclone for one tier, always with a clean environment (`TierSettings.rcloneEnvironment`): the
/// remote's definition and secrets travel in `RCLONE_CONFIG_<TIER>_<KEY>`, never on argv. Every
/// call is bounded; a failure is one line naming the tier and the object.
public struct Rclone: Sendable {
    public var tier: TierSettings
    /// A private HOME (0700) under state_dir: rclone reads nothing of root's.
    public var home: String
    public var timeout: TimeInterval
    public var runner = ProcessRunner()
    /// Also the tiers another copy may come from (warm -> cold): their remotes join the environment.
    public var peers: [TierSettings] = []

    public init(tier: TierSettings, home: String, timeout: TimeInterval = 3600) {
        self.tier = tier
        self.home = home
        self.timeout = timeout
    }

    /// Bounded retries: a remote that is down fails in seconds, not after rclone's default minutes.
    static let commonFlags = ["--retries", "1", "--low-level-retries", "2", "--contimeout", "5s", "--timeout", "60s",
                              "--ask-password=false", "--use-json-log", "-q"]

    package func command(_ args: [String]) throws -> Command {
        guard let bin = ProcessRunner.which("rclone") else {
            throw MBError(.unavailable, "tier \(q(tier.name)): rclone is not installed", hint: "install the Debian package 'rclone' (apt-get install rclone)")
        }
        try AtomicFile.makeDirectory(home, mode: 0o700)
        var env = tier.rcloneEnvironment(home: home)
        for p in peers { env.merge(p.rcloneEnvironment(home: home)) { a, _ in a } }
        var c = Command([bin] + args + Self.commonFlags, environment: env)
        c.clearEnvironment = true
        return c
    }

    /// The last line rclone wrote to stderr (its JSON log's `msg` when it is JSON).
    static func reason(_ r: PipelineResult) -> String {
        if r.timedOut { return "timed out" }
        let lines = (r.stages.last?.stderr ?? "").split(separator: "\n").map(String.init)
        for l in lines.reversed() {
            if let d = l.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
               let msg = o["msg"] as? String, (o["level"] as? String) == "error" || lines.count == 1 {
                return msg.replacingOccurrences(of: "\n", with: " ")
            }
        }
        return lines.last ?? r.stages.last?.statusText ?? "failed"
    }

    func run(_ args: [String], what: String, stdout: StdoutSink = .capture(limit: 16 << 20)) throws -> PipelineResult {
        var o = RunOptions(timeout: timeout)
        o.stdout = stdout
        let r = try runner.runPipeline([try command(args)], options: o)
        guard r.succeeded else {
            throw MBError(.unavailable, "tier \(q(tier.name)): \(what) failed: \(Self.reason(r))",
                          hint: "the hot copy is kept; fix the remote and run 'mha-backup tier sync' again")
        }
        return r
    }

    /// Uploads one local file to `rel` (a plain copy: `--immutable` would not stop an overwrite anyway).
    public func upload(_ local: String, to rel: String) throws {
        _ = try run(["copyto", local, tier.remote(rel)], what: "upload of \(q(local)) to \(q(tier.remote(rel)))")
    }

    /// Copies an object from another tier's remote straight to this one.
    public func copy(from other: TierSettings, _ otherRel: String, to rel: String) throws {
        _ = try run(["copyto", other.remote(otherRel), tier.remote(rel)], what: "copy of \(q(other.remote(otherRel))) to \(q(tier.remote(rel)))")
    }

    /// Streams the remote object back through SHA-256 (nothing stored): what a copy is verified by.
    public func hash(_ rel: String) throws -> (sha256: String, size: Int64) {
        let h = SHA256Hasher()
        var size: Int64 = 0
        _ = try run(["cat", tier.remote(rel)], what: "read back of \(q(tier.remote(rel)))", stdout: .handler { buf in
            if let b = buf.baseAddress { h.update(b, count: buf.count) }
            size += Int64(buf.count)
        })
        return (h.finalizeHex(), size)
    }

    /// Fetches an object into `local` (temp file, fsync, rename) and returns its SHA-256 and size.
    public func fetch(_ rel: String, to local: String) throws -> (sha256: String, size: Int64) {
        let tmp = "\(local).\(getpid()).fetch"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw MBError(.cantCreate, "cannot create \(q(tmp)): \(String(cString: strerror(errno)))") }
        var closed = false
        defer { if !closed { close(fd) }; unlink(tmp) }
        let h = SHA256Hasher()
        var size: Int64 = 0
        _ = try run(["cat", tier.remote(rel)], what: "fetch of \(q(tier.remote(rel)))", stdout: .handler { buf in
            guard let b = buf.baseAddress else { return }
            var off = 0
            while off < buf.count {
                let n = write(fd, b + off, buf.count - off)
                if n < 0 { if errno == EINTR { continue }; throw MBError(.cantCreate, "cannot write \(q(tmp)): \(String(cString: strerror(errno)))") }
                off += n
            }
            h.update(b, count: buf.count)
            size += Int64(buf.count)
        })
        guard fsync(fd) == 0 else { throw MBError(.cantCreate, "cannot fsync \(q(tmp)): \(String(cString: strerror(errno)))") }
        close(fd); closed = true
        guard rename(tmp, local) == 0 else { throw MBError(.cantCreate, "cannot rename \(q(tmp)): \(String(cString: strerror(errno)))") }
        return (h.finalizeHex(), size)
    }

    /// One small object's bytes (manifests, markers, indexes), at most 16 MiB.
    public func read(_ rel: String) throws -> Data {
        try run(["cat", tier.remote(rel)], what: "read of \(q(tier.remote(rel)))").stdout
    }

    public struct Entry: Decodable, Sendable {
        public var Path: String
        public var Size: Int64
        public var IsDir: Bool
    }

    /// The files under `rel`, recursively. Whether something is there is read from lsjson's
    /// entries; a folder that does not exist is an empty list (rclone's exit code says neither).
    public func list(_ rel: String) throws -> [Entry] {
        let r = try runner.runPipeline([try command(["lsjson", "-R", "--files-only", tier.remote(rel)])], options: RunOptions(timeout: timeout))
        if !r.succeeded {
            let why = Self.reason(r)
            if why.contains("directory not found") || why.contains("not found") { return [] }
            throw MBError(.unavailable, "tier \(q(tier.name)): listing \(q(tier.remote(rel))) failed: \(why)")
        }
        return try JSONDecoder().decode([Entry].self, from: r.stdout)
    }

    /// Removes one object (deletefile); an object that is already gone is fine. Whether it is gone
    /// is read from lsjson's entries of its folder, not from deletefile's exit code or text.
    public func delete(_ rel: String) throws {
        let r = try runner.runPipeline([try command(["deletefile", tier.remote(rel)])], options: RunOptions(timeout: timeout))
        guard !r.succeeded else { return }
        let parts = rel.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let parent = parts.dropLast().joined(separator: "/")
        let name = parts.last ?? rel
        if try list(parent).contains(where: { $0.Path == name }) {
            throw MBError(.unavailable, "tier \(q(tier.name)): removing \(q(tier.remote(rel))) failed: \(Self.reason(r))")
        }
    }
}
