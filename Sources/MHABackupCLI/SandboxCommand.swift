import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

enum SandboxCommand {
    static func run(args: Arguments) throws {
        guard let sub = args.positional.first else {
            throw MBError.usage("sandbox needs one of: up, down, status, env, kill-master")
        }
        let env = ProcessInfo.processInfo.environment
        let base = try args.int("base", 1...240) ?? env["MHA_BACKUP_SANDBOX_BASE"].flatMap { Int($0) } ?? 10
        var sb = Sandbox(root: args["root"] ?? env["MHA_BACKUP_SANDBOX"] ?? (base == 10 ? Sandbox.defaultRoot : "\(Sandbox.defaultRoot)-\(base)"),
                         repo: repoRoot(), base: base)
        sb.log = { print($0) }
        sb.hooksDir = args["hooks-dir"] ?? env["MHA_BACKUP_SANDBOX_HOOKS"]
        switch sub {
        case "up":
            try sb.up()
        case "down":
            try sb.down()
        case "env":
            print("export MHA_BACKUP_CONFIG=\(ShellQuote.quote(sb.backupCnf))")
        case "status":
            let st = sb.status()
            if args.has("json") { print(JSON.string(st)) } else {
                if !sb.isUp { print("sandbox is not up (\(sb.root))") }
                for s in st { print("\(s.host)  mysqld=\(s.mysqld ? "up" : "down")  sshd=\(s.sshd ? "up" : "down")  role=\(s.role)") }
            }
        case "kill-master":
            guard args.has("host") != args.has("mysqld") else {
                throw MBError.usage("kill-master needs exactly one of --host (mysqld and sshd) or --mysqld")
            }
            try sb.killMaster(wholeHost: args.has("host"))
        case "failover":
            guard args.has("host") != args.has("mysqld") else {
                throw MBError.usage("failover needs exactly one of --host (mysqld and sshd die) or --mysqld")
            }
            let r = try sb.failover(wholeHost: args.has("host"))
            if r.new == nil { throw MBError(.failed, "MHA did not complete the failover of \(r.dead); see \(sb.managerLog)") }
        case "switch":
            guard let to = args["new-master"] else { throw MBError.usage("switch needs --new-master HOST") }
            let r = try sb.onlineSwitch(to: to)
            print(r.stdoutString.split(separator: "\n").suffix(3).joined(separator: "\n"))
            if !r.succeeded { throw MBError(.failed, "masterha_master_switch failed: \(r.failureSummary)") }
        default:
            throw MBError.usage("unknown sandbox command \(q(sub))")
        }
    }

    /// The repository the binary was built from (…/.build/debug/mha-backup → …), for hooks/.
    static func repoRoot() -> String? {
        if let r = ProcessInfo.processInfo.environment["MHA_BACKUP_REPO"] { return r }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<5 {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return nil
    }
}
