import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

/// `mha-backup drill --new-master HOST [--dead-master-ssh yes|no]`: the full sequence a failover of
/// today's master would run — each hook call with the argv MHA would build from the app.cnf, and
/// what our hook would do with it (the hook itself, run with --dry-run: it changes nothing).
enum DrillCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        guard let newName = args["new-master"] else { throw MBError.usage("drill needs --new-master HOST") }
        let sshAlive: Bool
        switch args["dead-master-ssh"] ?? "yes" {
        case "yes": sshAlive = true
        case "no": sshAlive = false
        case let v: throw MBError.usage("option '--dead-master-ssh' must be yes or no, got \(q(v))")
        }
        let topo = Topology.discover(ctx.mha, config: ctx.config)
        guard let dead = topo.master?.server else { throw MBError(.unavailable, "no live master to rehearse a failover of") }
        guard let new = ctx.mha.server(named: newName) else {
            throw MBError.usage("--new-master \(q(newName)) is not a server in \(q(ctx.mha.path))")
        }
        guard new.hostname != dead.hostname else { throw MBError.usage("--new-master is the current master") }
        let d = ctx.mha.defaults
        let sshUser = dead.sshUser
        let binDir = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map { ($0 as NSString).deletingLastPathComponent } ?? "."
        let phase = sshAlive ? "stopssh" : "stop"
        let sshOpts = dead.sshOptions.map { ["--ssh_options=\($0)"] } ?? []
        let orig = ["--orig_master_host=\(dead.hostname)", "--orig_master_ip=\(dead.ip)", "--orig_master_port=\(dead.port)"]
            + (dead.sshPort != 22 ? ["--orig_master_ssh_port=\(dead.sshPort)"] : [])
        let slaves = ctx.mha.servers.filter { $0.hostname != dead.hostname && $0.hostname != new.hostname }.map(\.hostname)
        let calls: [(HookKind, String?, [String])] = [
            (.masterIPFailover, d["master_ip_failover_script"],
             orig + ["--command=\(phase)"] + (sshAlive ? ["--ssh_user=\(sshUser)"] : []) + sshOpts),
            (.shutdown, d["shutdown_script"],
             ["--command=\(phase)"] + (sshAlive ? ["--ssh_user=\(sshUser)"] : []) + ["--host=\(dead.hostname)", "--ip=\(dead.ip)", "--port=\(dead.port)"]
                + (dead.sshPort != 22 ? ["--ssh_port=\(dead.sshPort)"] : []) + sshOpts),
            (.masterIPFailover, d["master_ip_failover_script"],
             ["--command=start", "--ssh_user=\(new.sshUser)"] + orig
                + ["--new_master_host=\(new.hostname)", "--new_master_ip=\(new.ip)", "--new_master_port=\(new.port)",
                   "--new_master_user=\(d["user"] ?? "root")"] + sshOpts
                + (new.sshPort != 22 ? ["--new_master_ssh_port=\(new.sshPort)"] : []) + ["--new_master_password=xxx"]),
            (.report, d["report_script"],
             ["--orig_master_host=\(dead.hostname)", "--new_master_host=\(new.hostname)", "--new_slave_hosts=\(slaves.joined(separator: ","))",
              "--conf=\(ctx.mha.path)",
              "--subject=app: MySQL Master failover \(dead.hostname)(\(dead.ip):\(dead.port)) to \(new.hostname)(\(new.ip):\(new.port)) succeeded",
              "--body=(rehearsal: the body MHA writes)"]),
        ]
        let jobs = JobRegistry(dir: ctx.config.jobsDir).active()
        print("drill: failover of \(dead.key) to \(new.key), dead master's ssh \(sshAlive ? "reachable" : "unreachable")")
        print("today: \(jobs.count) running job(s); fence \(Fence.load(ctx.config.fencePath) == nil ? "down" : "UP"); catalog follows \((try? Timeline.load(ctx.config.timelinePath))?.current?.masterHost ?? "nobody yet")")
        for (i, (kind, configured, argv)) in calls.enumerated() {
            let exe = "\(binDir)/mha-backup-\(kind == .masterIPFailover ? "master-ip-failover" : kind == .shutdown ? "shutdown" : "report")"
            print("\n\(i + 1). MHA runs \(kind.rawValue): \(configured ?? "(not set in \(ctx.mha.path): MHA skips it)")")
            print("   argv: \(argv.map(ShellQuote.quote).joined(separator: " "))")
            if let configured, !configured.contains("mha-backup") && !configured.contains("/hooks/") {
                print("   (that is not an mha-backup hook: backups are not protected in this phase)")
            }
            guard FileManager.default.isExecutableFile(atPath: exe) else {
                print("   our hook \(q(exe)) is not installed")
                continue
            }
            var env = ProcessInfo.processInfo.environment
            env["MHA_BACKUP_DRY_RUN"] = "1"
            let r = try ProcessRunner().run(Command([exe, "--config=\(ctx.config.path)"] + argv, environment: env), timeout: 30)
            for line in r.stages[0].stderr.split(separator: "\n") { print("   \(line)") }
            print("   -> exit \(r.stages[0].exitCode.map(String.init) ?? "?") in a real run: the chained script's (or our default)")
        }
        print("\nNothing was changed. A real failover also: salvages the dead master's binlogs (stopssh), records the promotion point, archives MHA's saved binlogs and starts a full backup on the new timeline.")
    }
}
