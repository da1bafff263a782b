import FoundationEssentials

/// What a hook asks of its detached worker, `mha-backup hook-worker TASK --failover ID …`: one
/// value rendered to argv by the hook and parsed back by the CLI, so the names on both sides of
/// the process boundary are the same code.
public struct WorkerRequest: Equatable, Sendable {
    public enum Task: String, CaseIterable, Sendable {
        /// After master_ip_failover stop/stopssh (or shutdown_script starting the salvage).
        case afterStop = "after-stop"
        /// After report_script: finish the failover.
        case afterReport = "after-report"
        /// After master_ip_online_change start.
        case afterSwitch = "after-switch"
        /// A salvage attempt only, as `mha-backup salvage` runs it (a person's re-run).
        case salvage
    }

    public var task: Task
    public var failoverId: String
    /// after-stop: run the salvage; `attempt` is the one the hook began (nil: begin a new one).
    public var salvage = false
    public var attempt: Int?
    /// after-stop: the salvage and nothing else (shutdown_script started it).
    public var salvageOnly = false
    /// after-report: MHA's app.cnf (its saved binlogs), and whether the failover succeeded.
    public var conf: String?
    public var success = false

    public init(_ task: Task, failoverId: String, salvage: Bool = false, attempt: Int? = nil, salvageOnly: Bool = false,
                conf: String? = nil, success: Bool = false) {
        self.task = task
        self.failoverId = failoverId
        self.salvage = salvage
        self.attempt = attempt
        self.salvageOnly = salvageOnly
        self.conf = conf
        self.success = success
    }

    /// The options' names, for the CLI's parser.
    public static let valuedOptions: Set<String> = ["failover", "conf", "attempt"]
    public static let flagOptions: Set<String> = ["salvage", "success", "salvage-only"]

    /// The worker's argv after `hook-worker`.
    public var argv: [String] {
        var a = [task.rawValue, "--failover", failoverId]
        if salvage { a.append("--salvage") }
        if let attempt { a += ["--attempt", String(attempt)] }
        if salvageOnly { a.append("--salvage-only") }
        if let conf { a += ["--conf", conf] }
        if success { a.append("--success") }
        return a
    }

    /// Parses what `argv` printed (the task, then options already split by the CLI).
    public static func parse(task: String?, options: [String: String], flags: Set<String>) throws -> WorkerRequest {
        guard let name = task, let id = options["failover"] else {
            throw MBError.usage("hook-worker needs a task (\(Task.allCases.map(\.rawValue).joined(separator: ", "))) and --failover ID")
        }
        guard let t = Task(rawValue: name) else { throw MBError.usage("unknown hook-worker task \(q(name))") }
        let attempt = try options["attempt"].map { a in
            guard let n = Int(a), n > 0 else { throw MBError.usage("option '--attempt' must be a positive number, got \(q(a))") }
            return n
        }
        return WorkerRequest(t, failoverId: id, salvage: flags.contains("salvage"), attempt: attempt,
                             salvageOnly: flags.contains("salvage-only"), conf: options["conf"], success: flags.contains("success"))
    }
}
